# resolved.sh: systemd-resolved for the system-DNS tests, unpacked from Debian's packages and
# never installed (its postinst would take over this machine's /etc/resolv.conf). Sourced after
# lib.sh with CACHE set to a directory under the build dir; sets RESOLVED, RESOLVECTL, LIBDIR.
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
