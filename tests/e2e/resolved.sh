# resolved.sh: systemd-resolved for the system-DNS tests, unpacked from Debian's packages and
# never installed (its postinst would take over this machine's /etc/resolv.conf). Sourced after
# lib.sh with CACHE set to a directory under the build dir and NS naming the test's network
# namespace; sets RESOLVED, RESOLVECTL, LIBDIR, and defines:
#   resolved_sandbox CONF   a private mount namespace inside $NS, held open by a sleeping
#                           process (HOLD_PID; the caller's EXIT trap kills it): a tmpfs on /run,
#                           the drop-in resolved.conf.d/kt.conf "[Resolve]\n" + CONF (printf
#                           escapes), $T/resolv.conf bind-mounted on /etc/resolv.conf, and a
#                           private system dbus-daemon on /run/dbus/system_bus_socket and on
#                           unix:abstract=kt-bus-$$. Defines inns CMD (run CMD there) and rctl.
#   start_resolved [VAR=VALUE...]   systemd-resolved there, as uid 65534 with the capabilities
#                           it keeps, environment VAR=VALUE added; log $T/resolved.log, pid
#                           RESOLVED_PID.
# The unpacked tree is cached by package version; a unique temp dir keeps parallel tests apart.

fetch_resolved() {
	local ver
	ver=$(apt-cache policy systemd-resolved 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		ver=$(apt-cache policy systemd-resolved 2>/dev/null | awk '/Candidate:/ {print $2}')
	fi
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || fail "apt knows no systemd-resolved package"
	[ -f "$CACHE/version" ] && [ "$(cat "$CACHE/version")" = "$ver" ] && return 0
	local tmp=$CACHE.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp/debs"
	# libsystemd-shared of the very same version: the binary links its private soname.
	(cd "$tmp/debs" && apt-get download -q "systemd-resolved=$ver" "libsystemd-shared=$ver") \
		>"$tmp/download.log" 2>&1 || fail "apt-get download failed: $(tail -n 3 "$tmp/download.log")"
	for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
	echo "$ver" >"$tmp/version"
	rm -rf "$CACHE"
	mv "$tmp" "$CACHE"
}

fetch_resolved
RESOLVED=$(find "$CACHE/root" -path '*/systemd/systemd-resolved' -type f | head -n 1)
RESOLVECTL=$CACHE/root/usr/bin/resolvectl
LIBDIR=$(dirname "$(find "$CACHE/root" -name 'libsystemd-shared-*.so' | head -n 1)")
[ -x "$RESOLVED" ] && [ -x "$RESOLVECTL" ] && [ -d "$LIBDIR" ] || fail "unpacked package incomplete in $CACHE"

resolved_sandbox() {
	: >"$T/resolv.conf"
	cat >"$T/hold.sh" <<EOF
set -e
mount -t tmpfs -o mode=0755 kt-run /run
mkdir -p /run/dbus /run/systemd/resolve /run/systemd/resolved.conf.d
chown 65534:65534 /run/systemd/resolve
printf '[Resolve]\n$1' >/run/systemd/resolved.conf.d/kt.conf
mount --bind "$T/resolv.conf" /etc/resolv.conf
touch "$T/hold.ready"
exec sleep 100000
EOF
	ip netns exec "$NS" unshare -m --propagation private bash "$T/hold.sh" 2>"$T/hold.log" &
	HOLD_PID=$!
	wait_until 5 test -f "$T/hold.ready" || fail "mount namespace setup failed: $(cat "$T/hold.log")"
	cat >"$T/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <listen>unix:abstract=kt-bus-$$</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- Any uid may connect (resolved runs as 65534); without this only root could. -->
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
EOF
	# nsenter itself, not inns: a backgrounded function would be a subshell and $! its pid.
	nsenter --target "$HOLD_PID" --mount --net -- dbus-daemon --config-file="$T/bus.conf" \
		--nofork --nopidfile >"$T/dbus.log" 2>&1 &
	KT_PIDS+=($!)
	wait_until 5 inns test -S /run/dbus/system_bus_socket ||
		fail "dbus-daemon did not start: $(cat "$T/dbus.log")"
}
inns() { nsenter --target "$HOLD_PID" --mount --net -- "$@"; }
rctl() { inns env LD_LIBRARY_PATH="$LIBDIR" "$RESOLVECTL" "$@"; }

start_resolved() {
	nsenter --target "$HOLD_PID" --mount --net -- env "$@" LD_LIBRARY_PATH="$LIBDIR" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=+net_bind_service,+net_raw,+setpcap \
		--ambient-caps=+net_bind_service,+net_raw,+setpcap \
		"$RESOLVED" >"$T/resolved.log" 2>&1 &
	RESOLVED_PID=$!
	KT_PIDS+=("$RESOLVED_PID")
}
