#!/usr/bin/env bash
# test_sysdns_resolved.sh: src/sysdns.c against the real systemd-resolved and dbus-daemon.
#
# systemd-resolved comes from Debian's package, downloaded with `apt-get download` and unpacked
# with `dpkg-deb -x` into the build directory (cached there; never installed: its postinst
# would take over the machine's /etc/resolv.conf). It runs without systemd as PID 1, as uid
# 65534 with CAP_NET_BIND_SERVICE, CAP_NET_RAW and CAP_SETPCAP (it refuses to start as root
# without a systemd-resolve user, and drops the caps it does not need), inside:
#   - a network namespace kt-$$ with a veth link kt0 (198.19.0.1/32, 198.19.0.0/16 routed onto
#     it, as the daemon sets up its TUN; this kernel has no dummy
#     links, and a veth has the carrier resolved wants before it uses a link's servers) whose
#     peer kt1 (198.19.0.53) sits in a second namespace kt-$$-d with a small DNS server for
#     cluster.local, standing in for the daemon's DNS VIP;
#   - a private mount namespace with a tmpfs on /run (so /run/dbus/system_bus_socket and
#     /run/systemd/resolve are ours) and a file of ours bind-mounted on /etc/resolv.conf;
#   - a private dbus-daemon (system bus type, our own policy) listening on
#     /run/dbus/system_bus_socket and on an abstract socket.
# Nothing on the host changes. tests/e2e/sysdns_probe drives kt_sysdns_*; resolvectl from the
# same package, busctl (when the host has it) and glibc's getent check what resolved did.
source "$(dirname "$0")/lib.sh"

NS=kt-$$
NSD=kt-$$-d
PROBE=$KT_BUILD_DIR/tests/sysdns_probe
CACHE=$KT_BUILD_DIR/sysdns-resolved
[ -x "$PROBE" ] || fail "missing $PROBE (build the sysdns_probe target)"
for t in dbus-daemon unshare nsenter setpriv apt-get dpkg-deb python3; do
	command -v "$t" >/dev/null || fail "$t missing (scripts/bootstrap.sh installs the test tools)"
done

# ---- systemd-resolved, unpacked from Debian's packages (not installed).
source "$(dirname "$0")/resolved.sh"
missing=$(LD_LIBRARY_PATH=$LIBDIR ldd "$RESOLVED" | awk '/not found/ {print $1}')
[ -z "$missing" ] || fail "systemd-resolved needs libraries this machine lacks: $missing"
pass "systemd-resolved $(cat "$CACHE/version") unpacked from Debian's package (not installed)"

# ---- Namespaces, links, the stand-in cluster DNS server.
HOLD_PID=
cleanup_ns() {
	local rc=$?
	for n in "$NS" "$NSD"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	[ -z "$HOLD_PID" ] || kill "$HOLD_PID" 2>/dev/null || true
	sleep 0.1
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$NSD" 2>/dev/null || true
	return $rc # not exit: that would end the trap before lib.sh's kt_cleanup removes $T
}
trap 'cleanup_ns; kt_cleanup' EXIT
trap 'exit 1' INT TERM

ip netns add "$NS"
ip netns add "$NSD"
ip -n "$NS" link set lo up
ip -n "$NS" link add kt0 type veth peer name kt1 netns "$NSD"
# Like the daemon's TUN: a /32 host address and the subnet routed onto the link.
ip -n "$NS" addr add 198.19.0.1/32 dev kt0
ip -n "$NS" link set kt0 up
ip -n "$NS" route add 198.19.0.0/16 dev kt0
ip -n "$NSD" addr add 198.19.0.53/16 dev kt1
ip -n "$NSD" link set kt1 up
IDX=$(ip netns exec "$NS" cat /sys/class/net/kt0/ifindex)

cat >"$T/dns.py" <<'EOF'
# A minimal authoritative server for a few cluster.local names (A records only), logging every
# question "name type" so the test can see which names reached it.
import socket, struct, sys
RECORDS = {"web.shop.svc.cluster.local": "198.19.1.10", "api.default.svc.cluster.local": "198.19.1.11"}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
log = open(sys.argv[2], "a")
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", q[:12])
    off, labels = 12, []
    try:
        while q[off]:
            n = q[off]
            labels.append(q[off + 1:off + 1 + n].decode("ascii"))
            off += 1 + n
        off += 1
        qtype, qclass = struct.unpack(">HH", q[off:off + 4])
    except (IndexError, struct.error, UnicodeDecodeError):
        continue
    qend = off + 4
    name = ".".join(labels).lower()
    log.write("%s %d\n" % (name, qtype)); log.flush()
    ip = RECORDS.get(name)
    rcode = 0 if ip else 3
    answers = b""
    if ip and qtype == 1:
        answers = struct.pack(">HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(ip)
    opt = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0) if ar else b""
    hdr = struct.pack(">HHHHHH", qid, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1,
                      1 if answers else 0, 0, 1 if opt else 0)
    s.sendto(hdr + q[12:qend] + answers + opt, peer)
EOF
QLOG=$T/queries.log
: >"$QLOG"
ip netns exec "$NSD" python3 "$T/dns.py" 198.19.0.53 "$QLOG" >"$T/dns.out" 2>"$T/dns.log" &
KT_PIDS+=($!)
wait_until 5 grep -qx ready "$T/dns.out" || fail "DNS server did not start: $(cat "$T/dns.log")"

# ---- The private mount namespace with its own bus (resolved.sh). No fallback or foreign
# servers: resolved must only ever use what we register. Global DNSSEC and DNS-over-TLS are on,
# so the link's "no" shows that we set it.
resolved_sandbox 'DNS=\nFallbackDNS=\nLLMNR=no\nMulticastDNS=no\nDNSSEC=allow-downgrade\nDNSOverTLS=opportunistic\n'
probe() { inns "$PROBE" "$@"; }
pass "private dbus-daemon in netns $NS, link kt0 is ifindex $IDX"

# ---- Without resolved.
out=$(probe detect "$T/resolv.conf") || fail "detect failed"
[ "$(head -n 1 <<<"$out")" = "bus=1 resolved=0 resolv=other nss_resolve=0" ] || fail "detect without resolved: $out"
[ "$(tail -n 1 <<<"$out")" = "systemd-resolved is not running: cluster names need manual DNS setup" ] || fail "desc: $out"
if probe register "$IDX" 198.19.0.53 cluster.local shop 2>"$T/err"; then fail "register worked without resolved"; fi
[ "$(wc -l <"$T/err")" = 1 ] || fail "not one line: $(cat "$T/err")"
grep -q '^systemd-resolved: SetLinkDefaultRoute failed: org.freedesktop.DBus.Error.ServiceUnknown: ' "$T/err" ||
	fail "error line: $(cat "$T/err")"
hint=$(probe hint 198.19.0.53 cluster.local)
[[ $hint == *"server=/cluster.local/198.19.0.53"* && $hint == *"leaves /etc/resolv.conf alone"* ]] || fail "hint: $hint"
out=$(DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent inns "$PROBE" detect "$T/resolv.conf")
[[ $(head -n 1 <<<"$out") == "bus=0 resolved=0 "* ]] || fail "detect without a bus: $out"
pass "no resolved: detect says so, register fails with $(cut -d: -f3 <"$T/err" | cut -c2-), the hint is one line"

# ---- Start resolved.
start_resolved SYSTEMD_LOG_LEVEL=debug
wait_until 10 bash -c "nsenter --target $HOLD_PID --mount --net -- $PROBE detect | grep -q ' resolved=1 '" ||
	fail "systemd-resolved did not come up on the bus"
wait_until 5 inns test -f /run/systemd/resolve/stub-resolv.conf || fail "no stub-resolv.conf"
# What a symlink /etc/resolv.conf -> stub-resolv.conf would show (copied, keeping our inode).
sync_resolv() { inns cat /run/systemd/resolve/stub-resolv.conf >"$T/resolv.conf"; }
sync_resolv
out=$(probe detect)
[ "$(head -n 1 <<<"$out")" = "bus=1 resolved=1 resolv=stub-nameserver nss_resolve=0" ] || fail "detect: $out"
[ "$(tail -n 1 <<<"$out")" = "systemd-resolved, /etc/resolv.conf uses its stub 127.0.0.53: cluster names resolve in every program" ] ||
	fail "desc: $out"
pass "systemd-resolved (pid $RESOLVED_PID) on the bus; detect: $(tail -n 1 <<<"$out")"

# ---- Register.
probe register "$IDX" 198.19.0.53 cluster.local shop 2>"$T/err" || fail "register: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "register printed: $(cat "$T/err")"
want_dns="Link $IDX (kt0): 198.19.0.53"
want_dom="Link $IDX (kt0): shop.svc.cluster.local svc.cluster.local cluster.local"
[ "$(rctl dns kt0)" = "$want_dns" ] || fail "resolvectl dns: $(rctl dns kt0)"
[ "$(rctl domain kt0)" = "$want_dom" ] || fail "resolvectl domain: $(rctl domain kt0)"
for setting in default-route llmnr mdns dnssec dnsovertls; do
	[ "$(rctl "$setting" kt0)" = "Link $IDX (kt0): no" ] || fail "resolvectl $setting: $(rctl "$setting" kt0)"
done
got=$(probe link "$IDX") || fail "probe link"
[ "$got" = "dns=198.19.0.53 domains=shop.svc.cluster.local,svc.cluster.local,cluster.local default_route=0" ] ||
	fail "our own read-back: $got"
if command -v busctl >/dev/null; then
	LPATH=$(inns busctl call org.freedesktop.resolve1 /org/freedesktop/resolve1 \
		org.freedesktop.resolve1.Manager GetLink i "$IDX" | awk '{print $2}' | tr -d '"')
	bprop() { inns busctl get-property org.freedesktop.resolve1 "$LPATH" org.freedesktop.resolve1.Link "$1"; }
	[ "$(bprop DNS)" = "a(iay) 1 2 4 198 19 0 53" ] || fail "busctl DNS: $(bprop DNS)"
	[ "$(bprop Domains)" = 'a(sb) 3 "shop.svc.cluster.local" false "svc.cluster.local" false "cluster.local" false' ] ||
		fail "busctl Domains: $(bprop Domains)"
	[ "$(bprop DefaultRoute)" = "b false" ] || fail "busctl DefaultRoute: $(bprop DefaultRoute)"
	busctl_note=", busctl"
fi
inns grep -qx 'search shop.svc.cluster.local svc.cluster.local cluster.local' /run/systemd/resolve/stub-resolv.conf ||
	fail "stub-resolv.conf: $(inns cat /run/systemd/resolve/stub-resolv.conf)"
# resolved's uplink file never offers our server to programs that bypass its routing.
if inns grep -q 198.19.0.53 /run/systemd/resolve/resolv.conf; then fail "our server in the uplink resolv.conf"; fi
pass "registered: link DNS, search domains, default-route/LLMNR/mDNS/DNSSEC/DoT off (resolvectl, our reader${busctl_note:-})"

# ---- Names resolve for glibc programs (through the stub) and for resolved's own API.
sync_resolv
ahost() { inns getent ahostsv4 "$1" | awk 'NR == 1 {print $1}'; }
for name in web web.shop web.shop.svc.cluster.local; do
	[ "$(ahost "$name")" = 198.19.1.10 ] || fail "getent $name: '$(ahost "$name")'"
done
[ "$(ahost api.default.svc.cluster.local)" = 198.19.1.11 ] || fail "getent api.default.svc.cluster.local"
q=$(rctl query web) || fail "resolvectl query web: $q"
[[ $q == *"198.19.1.10"* && $q == *"web.shop.svc.cluster.local"* ]] || fail "resolvectl query web: $q"
grep -q '^web.shop.svc.cluster.local 1$' "$QLOG" || fail "our server never asked: $(cat "$QLOG")"
# resolved's own API (and so nss-resolve) expands single labels only; "web.shop" needs glibc's
# search list from the stub file, which getent used above (documented in sysdns.h).
q=$(rctl query web.shop 2>&1) && fail "resolved expanded web.shop itself: $q"
[[ $q == *"No appropriate name servers"* ]] || fail "resolvectl query web.shop: $q"
# Other names never reach the cluster DNS server.
if inns getent ahostsv4 example.com >/dev/null; then fail "example.com resolved"; fi
if rctl query example.com >/dev/null 2>&1; then fail "resolvectl resolved example.com"; fi
# glibc tries example.com.<search domain> after example.com fails, as in a pod; those are
# cluster names. Every name our server saw must be one.
if grep -v '\.cluster\.local [0-9]*$' "$QLOG" | grep -q .; then fail "non-cluster names reached our server: $(cat "$QLOG")"; fi
grep -q '^example.com.shop.svc.cluster.local ' "$QLOG" || fail "glibc search expansion not seen: $(cat "$QLOG")"
pass "getent resolves web, web.shop, web.shop.svc.cluster.local, api.default.svc.cluster.local; example.com never reaches our server"

# ---- Errors from the real resolved: one line naming the D-Bus error.
if probe register 99999 198.19.0.53 cluster.local shop 2>"$T/err"; then fail "register on a missing link"; fi
[ "$(cat "$T/err")" = "systemd-resolved: SetLinkDefaultRoute failed: org.freedesktop.resolve1.NoSuchLink: Link 99999 not known" ] ||
	fail "missing link: $(cat "$T/err")"
if probe register 1 198.19.0.53 cluster.local shop 2>"$T/err2"; then fail "register on lo"; fi
grep -q '^systemd-resolved: SetLinkDefaultRoute failed: org.freedesktop.resolve1.LinkBusy: ' "$T/err2" ||
	fail "loopback: $(cat "$T/err2")"
if probe register "$IDX" 198.19.0.53 'bad..domain' shop 2>"$T/err3"; then fail "bad domain accepted"; fi
grep -q '^systemd-resolved: invalid ' "$T/err3" || fail "bad domain: $(cat "$T/err3")"
# resolved lets root (and its own uid) change links; anyone else, even with CAP_NET_ADMIN, is
# left to polkit, absent here, so refused: the daemon must register and revert as uid 0.
if inns setpriv --reuid=1 --regid=1 --clear-groups --inh-caps=+net_admin \
	--ambient-caps=+net_admin "$PROBE" register "$IDX" 198.19.0.53 cluster.local shop 2>"$T/err4"; then
	fail "a non-root caller changed kt0"
fi
grep -q '^systemd-resolved: SetLinkDefaultRoute failed: org.freedesktop.DBus.Error.AccessDenied: ' "$T/err4" ||
	fail "non-root caller: $(cat "$T/err4")"
[ "$(rctl domain kt0)" = "$want_dom" ] || fail "a failed register changed kt0: $(rctl domain kt0)"
pass "errors: $(cat "$T/err") / $(cut -d: -f3 "$T/err2" | cut -c2-) (lo) / $(cut -d: -f3 "$T/err4" | cut -c2-) (uid 1 with CAP_NET_ADMIN)"

# ---- Revert.
probe revert "$IDX" 2>"$T/err" || fail "revert: $(cat "$T/err")"
[ "$(rctl dns kt0)" = "Link $IDX (kt0):" ] || fail "after revert, dns: $(rctl dns kt0)"
[ "$(rctl domain kt0)" = "Link $IDX (kt0):" ] || fail "after revert, domain: $(rctl domain kt0)"
got=$(probe link "$IDX")
[[ $got == "dns= domains= "* ]] || fail "after revert, read-back: $got"
if inns grep -q 'cluster.local' /run/systemd/resolve/stub-resolv.conf; then fail "search line left in the stub"; fi
sync_resolv
before=$(wc -l <"$QLOG")
if inns getent ahostsv4 web >/dev/null; then fail "web still resolves after revert"; fi
if inns getent ahostsv4 web.shop.svc.cluster.local >/dev/null; then fail "full name still resolves after revert"; fi
[ "$(wc -l <"$QLOG")" = "$before" ] || fail "queries reached our server after revert"
probe revert "$IDX" || fail "second revert"
probe revert 99999 || fail "revert of a link resolved does not know"
pass "reverted: no DNS, no domains, nothing reaches our server; revert twice and on a missing link succeed"

# resolved gives a link a DNS scope only while it has a routable address: registering a link
# without one is accepted but resolves nothing, so the daemon must give its TUN its /32 first.
ip -n "$NS" addr del 198.19.0.1/32 dev kt0
probe register "$IDX" 198.19.0.53 cluster.local shop || fail "register without an address"
rctl status kt0 | grep -q 'Current Scopes: none' || fail "kt0 has a scope without an address: $(rctl status kt0)"
q=$(rctl query --cache=no api.default.svc.cluster.local 2>&1) && fail "resolved without an address: $q"
[[ $q == *"No appropriate name servers"* ]] || fail "query without an address: $q"
ip -n "$NS" addr add 198.19.0.1/32 dev kt0
wait_until 5 rctl query --cache=no api.default.svc.cluster.local || fail "no answer once kt0 has its address"
probe revert "$IDX" || fail "revert"
pass "without an IPv4 address on kt0 resolved takes the settings but resolves nothing; with its /32 it does"

# ---- Other bus addresses: abstract socket, address lists.
DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/bus;unix:abstract=kt-bus-$$" inns "$PROBE" \
	register "$IDX" 198.19.0.53 cluster.local "" 2>"$T/err" || fail "register over abstract: $(cat "$T/err")"
[ "$(rctl domain kt0)" = "Link $IDX (kt0): ~cluster.local" ] || fail "no-namespace domains: $(rctl domain kt0)"
[ "$(rctl default-route kt0)" = "Link $IDX (kt0): no" ] || fail "default-route"
q=$(rctl query web.shop.svc.cluster.local) || fail "routing-only: $q"
DBUS_SYSTEM_BUS_ADDRESS="unix:abstract=kt-bus-$$" inns "$PROBE" revert "$IDX" || fail "revert over abstract"
pass "unix:abstract= and address lists; without a namespace only ~cluster.local (routing-only) is set"

# ---- The link disappears first (the daemon's TUN closes before revert runs).
probe register "$IDX" 198.19.0.53 cluster.local shop || fail "register again"
ip -n "$NS" link del kt0
wait_until 5 bash -c "! nsenter --target $HOLD_PID --mount --net -- env LD_LIBRARY_PATH=$LIBDIR $RESOLVECTL dns kt0" ||
	fail "resolved still lists kt0"
probe revert "$IDX" 2>"$T/err" || fail "revert after the link went away: $(cat "$T/err")"
pass "revert after the link is gone succeeds (resolved dropped its settings with it)"

kill "$RESOLVED_PID"
wait "$RESOLVED_PID" 2>/dev/null || true
out=$(probe detect)
[[ $(head -n 1 <<<"$out") == "bus=1 resolved=0 "* ]] || fail "detect after resolved stopped: $out"
pass "resolved stopped: detect reports it gone"
echo "all sysdns end-to-end checks passed against systemd-resolved $(cat "$CACHE/version")"
