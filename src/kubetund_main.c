/* kubetund_main.c: the kubetun daemon.
 *
 *   kubetund [--profile FILE] [--kubeconfig F] [--context C] [--tun NAME] [--subnet CIDR]
 *            [--dns-ip IP] [--mtu N] [--cluster-domain D] [--state-dir DIR] [--socket PATH]
 *            [--no-system-dns] [--probe-interval S] [--exec-as-uid UID --exec-as-gid GID]
 *            [-v]
 *
 * Runs in the foreground on one thread: the event loop (evloop.h, libwebsockets underneath)
 * serves the TUN fd, the netstack's timer, the informers and every port-forward stream.
 * Wiring: TUN packets → netstack (netstack.h) → SYNs to forward.c (or dnssrv.c on the DNS VIP),
 * UDP to the DNS VIP → dnssrv.c; informers (targets.c) → coalesced rebuild of the mapping
 * snapshot (mapping.c), which DNS and forwarding read. SIGTERM/SIGINT end the loop; teardown
 * resets open connections and removes the TUN device and its route.
 *
 * Operation (daemon_ctl.c, docs/CONTROL.md): the control socket is bound first, before the API
 * check, and serves status, live forward edits (a new profile swapped in through
 * kt_targets_set_profile and one mapping rebuild, so DNS and forwarding change together) and
 * shutdown. The active set is persisted in the state directory after every change (state.h)
 * and restored when no --profile is given. After the TUN is up the daemon registers its DNS
 * with systemd-resolved when that runs (sysdns.h; reverted at exit), then drops every
 * capability but CAP_NET_ADMIN (privs.h).
 *
 * Startup refusals are one line on stderr and exit status 1: an invalid profile or kubeconfig
 * (FILE:LINE:COL: ...), a TUN that cannot be created or a subnet overlapping a route, and an
 * API server whose certificate does not verify against the kubeconfig's CA or that rejects the
 * credentials. An API server that is merely unreachable is not fatal: the informers retry. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/capability.h>
#include <net/if.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "daemon_ctl.h"
#include "dnssrv.h"
#include "evloop.h"
#include "execcred.h"
#include "forward.h"
#include "k8s.h"
#include "kubeconfig.h"
#include "log.h"
#include "mapping.h"
#include "netstack.h"
#include "privs.h"
#include "profile.h"
#include "state.h"
#include "sysdns.h"
#include "targets.h"
#include "tun.h"

#define PROG "kubetund"
/* How long the startup API check may take before we go on without its verdict. */
#define STARTUP_CHECK_MS 10000u
/* How long DNS answers SERVFAIL while waiting for the first complete mapping table. */
#define STARTUP_DNS_WAIT_MS 10000u

struct opts {
	const char *profile, *kubeconfig, *context, *tun, *domain, *state_dir, *socket;
	uint32_t subnet, dns_ip;
	uint8_t prefix;
	uint32_t mtu;
	uint32_t probe_ms; /* --probe-interval; 0: the netstack's default */
	int verbose;
	bool no_sysdns;
	bool exec_as; /* --exec-as-uid and --exec-as-gid given */
	uid_t exec_uid;
	gid_t exec_gid;
};

struct daemon {
	struct opts o;
	struct kt_profile *profile;
	struct kt_kubeconfig *kc;
	struct kt_evloop *loop;
	struct kt_k8s *k8s;
	struct kt_mapping *mapping;
	struct kt_tun *tun;
	struct kt_netstack *ns;
	struct kt_forward *fw;
	struct kt_dnssrv *dns;
	struct kt_targets *targets;
	struct kt_timer *ns_timer, *rebuild, *dns_wait;
	struct kt_k8s_req *check;
	struct kt_dctl *ctl;
	struct kt_dctl_view view; /* what status shows; kept current as set-up goes */
	const char *default_ns;
	char *exec_user, *exec_home; /* --exec-as-uid's passwd entry */
	int ifindex;		     /* the TUN's, for systemd-resolved */
	bool sysdns_registered;
	char sysdns_detail[1024];
	bool stopping;	      /* shutdown requested over the control socket */
	uint64_t ns_deadline; /* when ns_timer fires, if armed */
	bool fd_watched;
	bool announced; /* "resolved" line printed */
	int exit_code;
	uint64_t tun_write_drops;
};

static struct kt_evloop *g_loop;

static void on_signal(int sig)
{
	(void)sig;
	if (g_loop)
		kt_evloop_stop(g_loop);
}

static const char usage_text[] =
    "usage: " PROG " [--profile FILE] [--kubeconfig FILE] [--context NAME] [--tun NAME]\n"
    "       [--subnet CIDR] [--dns-ip IP] [--mtu N] [--cluster-domain DOMAIN]\n"
    "       [--state-dir DIR] [--socket PATH] [--no-system-dns] [--probe-interval S]\n"
    "       [--exec-as-uid UID --exec-as-gid GID] [-v]\n"
    "\n"
    "Routes a VIP subnet into a TUN device and forwards every connection to a VIP to a ready\n"
    "pod through the Kubernetes API (port-forward); answers DNS for the cluster domain.\n"
    "\n"
    "  --profile FILE          forwards to bring up (YAML, see docs); default: the last\n"
    "                          active set, kept in the state directory\n"
    "  --kubeconfig FILE       kubeconfig (default: $KUBECONFIG, else ~/.kube/config)\n"
    "  --context NAME          kubeconfig context (default: the profile's, else current)\n"
    "  --tun NAME              TUN device name (default kt%d)\n"
    "  --subnet CIDR           VIP subnet (default 198.19.0.0/16)\n"
    "  --dns-ip IP             DNS VIP inside the subnet (default 198.19.0.53)\n"
    "  --mtu N                 TUN MTU, 576..16384 (default 16384)\n"
    "  --cluster-domain DOMAIN cluster DNS domain (default cluster.local)\n"
    "  --state-dir DIR         where VIP allocations and the active set persist\n"
    "                          (default /var/lib/kubetun)\n"
    "  --socket PATH           control socket (default " KT_CONTROL_DEFAULT_PATH ")\n"
    "  --no-system-dns         do not register the DNS VIP with systemd-resolved\n"
    "  --probe-interval S      probe idle app connections every S seconds, 1..3600, so\n"
    "                          those of apps that vanished end (default 60)\n"
    "  --exec-as-uid UID       run exec credential plugins as this user (with\n"
    "  --exec-as-gid GID       --exec-as-gid; what `sudo kubetun up` passes)\n"
    "  -v                      verbose (repeat for more)\n";

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_cidr(const char *s, uint32_t *net, uint8_t *prefix)
{
	const char *slash = strchr(s, '/');
	char ip[INET_ADDRSTRLEN], *end;
	size_t n;
	long p;

	if (!slash || (n = (size_t)(slash - s)) == 0 || n >= sizeof(ip))
		return -1;
	memcpy(ip, s, n);
	ip[n] = '\0';
	errno = 0;
	p = strtol(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || p < 8 || p > 30)
		return -1;
	if (parse_ip(ip, net))
		return -1;
	*prefix = (uint8_t)p;
	return 0;
}

static void fmt_ip(uint32_t ip, char *buf, size_t cap)
{
	struct in_addr a = {.s_addr = htonl(ip)};

	if (!inet_ntop(AF_INET, &a, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
}

static noreturn void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum {
		O_PROFILE = 1,
		O_KCFG,
		O_CTX,
		O_TUN,
		O_SUBNET,
		O_DNS,
		O_MTU,
		O_DOMAIN,
		O_STATE,
		O_SOCKET,
		O_NOSYSDNS,
		O_PROBE,
		O_EXECUID,
		O_EXECGID,
		O_HELP
	};
	static const struct option lo[] = {
	    {"profile", required_argument, NULL, O_PROFILE},
	    {"kubeconfig", required_argument, NULL, O_KCFG},
	    {"context", required_argument, NULL, O_CTX},
	    {"tun", required_argument, NULL, O_TUN},
	    {"subnet", required_argument, NULL, O_SUBNET},
	    {"dns-ip", required_argument, NULL, O_DNS},
	    {"mtu", required_argument, NULL, O_MTU},
	    {"cluster-domain", required_argument, NULL, O_DOMAIN},
	    {"state-dir", required_argument, NULL, O_STATE},
	    {"socket", required_argument, NULL, O_SOCKET},
	    {"no-system-dns", no_argument, NULL, O_NOSYSDNS},
	    {"probe-interval", required_argument, NULL, O_PROBE},
	    {"exec-as-uid", required_argument, NULL, O_EXECUID},
	    {"exec-as-gid", required_argument, NULL, O_EXECGID},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *dns = NULL;
	uint32_t mask;
	int c;
	bool have_uid = false, have_gid = false;

	*o = (struct opts){
	    .tun = "kt%d",
	    .domain = "cluster.local",
	    .state_dir = "/var/lib/kubetun",
	    .socket = KT_CONTROL_DEFAULT_PATH,
	    .subnet = 0xC6130000u, /* 198.19.0.0/16 (RFC 2544 benchmarking range) */
	    .prefix = 16,
	    .mtu = KT_NETSTACK_MAX_MTU,
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":v", lo, NULL)) != -1) {
		char *end;
		long v;

		switch (c) {
		case O_PROFILE:
			o->profile = optarg;
			break;
		case O_KCFG:
			o->kubeconfig = optarg;
			break;
		case O_CTX:
			o->context = optarg;
			break;
		case O_TUN:
			o->tun = optarg;
			break;
		case O_SUBNET:
			if (parse_cidr(optarg, &o->subnet, &o->prefix))
				usage_error(
				    "--subnet takes an IPv4 CIDR with a prefix from 8 to 30, "
				    "not \"%s\"",
				    optarg);
			break;
		case O_DNS:
			dns = optarg;
			if (parse_ip(optarg, &o->dns_ip))
				usage_error("--dns-ip takes an IPv4 address, not \"%s\"", optarg);
			break;
		case O_MTU:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 576 ||
			    v > (long)KT_NETSTACK_MAX_MTU)
				usage_error("--mtu takes a number from 576 to %u, not \"%s\"",
					    KT_NETSTACK_MAX_MTU, optarg);
			o->mtu = (uint32_t)v;
			break;
		case O_DOMAIN:
			o->domain = optarg;
			break;
		case O_STATE:
			o->state_dir = optarg;
			break;
		case O_SOCKET:
			if (!*optarg)
				usage_error("--socket takes a path");
			o->socket = optarg;
			break;
		case O_NOSYSDNS:
			o->no_sysdns = true;
			break;
		case O_PROBE:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 3600)
				usage_error(
				    "--probe-interval takes seconds from 1 to 3600, not \"%s\"",
				    optarg);
			o->probe_ms = (uint32_t)v * 1000u;
			break;
		case O_EXECUID:
		case O_EXECGID:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 || v > 0x7fffffffL)
				usage_error("%s takes a numeric id, not \"%s\"",
					    c == O_EXECUID ? "--exec-as-uid" : "--exec-as-gid",
					    optarg);
			if (c == O_EXECUID) {
				o->exec_uid = (uid_t)v;
				have_uid = true;
			} else {
				o->exec_gid = (gid_t)v;
				have_gid = true;
			}
			break;
		case 'v':
			o->verbose++;
			break;
		case O_HELP:
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
	if (have_uid != have_gid)
		usage_error("--exec-as-uid and --exec-as-gid go together");
	o->exec_as = have_uid;
	mask = ~(uint32_t)0 << (32 - o->prefix);
	if (o->subnet & ~mask)
		usage_error("--subnet: host bits set (did you mean the network address?)");
	if (!dns)
		o->dns_ip = o->subnet | (o->prefix <= 24 ? 53u : 2u);
	if ((o->dns_ip & mask) != o->subnet || (o->dns_ip & ~mask) == 0 ||
	    (o->dns_ip & ~mask) == ~mask || o->dns_ip == (o->subnet | 1u))
		usage_error("--dns-ip must be an address inside the subnet other than its network, "
			    "broadcast and first address (the host's own)");
}

/* ---- netstack plumbing ---- */

/* Re-arms the netstack timer (ns_round_end, after every loop round, so after any call into the
 * netstack): lwIP needs its timer only while it has work, so an idle daemon sleeps. */
static void ns_kick(struct daemon *d)
{
	int64_t t;
	uint64_t deadline;

	if (!d->ns)
		return;
	t = kt_netstack_next_timeout_ms(d->ns);
	if (t < 0) {
		if (kt_timer_armed(d->ns_timer))
			kt_timer_disarm(d->ns_timer);
		return;
	}
	deadline = kt_evloop_now_ms(d->loop) + (uint64_t)t;
	if (kt_timer_armed(d->ns_timer) && deadline == d->ns_deadline)
		return;
	d->ns_deadline = deadline;
	kt_timer_arm(d->ns_timer, (uint64_t)t);
}

static void ns_timer_fire(void *arg)
{
	struct daemon *d = arg;

	kt_netstack_run_timers(d->ns);
}

/* The end of every loop round (whatever called into the netstack during it: packets, timers,
 * streams, DNS, control edits): the batched output goes to the TUN device and the netstack's
 * timer is re-armed. */
static void ns_round_end(void *arg)
{
	struct daemon *d = arg;

	if (!d->ns)
		return;
	kt_netstack_flush(d->ns);
	ns_kick(d);
}

static int ns_output(void *user, const struct iovec *iov, int iovcnt, size_t total_len,
		     const struct kt_tun_offload *off)
{
	struct daemon *d = user;
	int r;

	(void)total_len;
	if (!d->tun)
		return -ENODEV;
	r = kt_tun_write(d->tun, iov, iovcnt, off);
	if (r == -EAGAIN)
		d->tun_write_drops++; /* TCP retransmits; DNS clients retry */
	return r;
}

static enum kt_netstack_verdict ns_accept(void *user, struct kt_tcp *h,
					  const struct kt_netstack_flow *flow)
{
	struct daemon *d = user;

	if (flow->vip == d->o.dns_ip)
		return kt_dnssrv_accept(d->dns, h, flow);
	return kt_forward_accept(d->fw, h, flow);
}

static void ns_udp(void *user, uint32_t src, uint16_t src_port, uint32_t dst, uint16_t dst_port,
		   const uint8_t *data, size_t len)
{
	struct daemon *d = user;

	(void)dst;
	(void)dst_port;
	kt_dnssrv_udp(d->dns, src, src_port, data, len);
}

static void tun_readable(void *arg, int fd, unsigned events)
{
	struct daemon *d = arg;
	static uint8_t pkt[KT_NETSTACK_MAX_MTU + 64];

	(void)fd;
	(void)events;
	/* A bounded batch per wakeup so the streams get their turn; the fd stays readable. */
	for (int i = 0; i < 256; i++) {
		ssize_t n = kt_tun_read(d->tun, pkt, sizeof(pkt));

		if (n == -EAGAIN)
			break;
		if (n == -EMSGSIZE || n == -EINTR)
			continue;
		if (n < 0) {
			/* The device is gone or broken (deleted by hand, say): a readable fd that
			 * keeps failing would spin, so stop instead. */
			kt_log_warnx("reading %s: %s; stopping", kt_tun_name(d->tun),
				     strerror((int)-n));
			d->exit_code = 1;
			kt_evloop_stop(d->loop);
			break;
		}
		kt_netstack_input(d->ns, pkt, (size_t)n);
	}
}

/* ---- mapping rebuilds ---- */

static void rebuild_fire(void *arg)
{
	struct daemon *d = arg;
	struct kt_mapping_builder *b = kt_mapping_begin(d->mapping);
	char err[256];
	const struct kt_snapshot *s;

	if (!b || kt_targets_emit(d->targets, b)) {
		kt_mapping_abort(b);
		kt_log_warnx("out of memory rebuilding the mapping table; retrying in 1 s");
		kt_timer_arm(d->rebuild, 1000);
		return;
	}
	if (kt_mapping_commit(d->mapping, b, err, sizeof(err))) {
		kt_log_warnx("mapping table not updated: %s", err);
		return;
	}
	s = kt_mapping_current(d->mapping);
	kt_dctl_note_rebuild(d->ctl);
	kt_log_debug("mapping table generation %llu: %zu mappings",
		     (unsigned long long)kt_snapshot_generation(s), kt_snapshot_count(s));
	if (!d->announced && kt_targets_synced(d->targets)) {
		d->announced = true;
		kt_dnssrv_set_serving(d->dns, true);
		kt_timer_disarm(d->dns_wait);
		kt_log_info("resolved %zu forwards: %zu mappings", kt_targets_count(d->targets),
			    kt_snapshot_count(s));
		if (kt_log_verbosity() > 0) {
			for (size_t i = 0; i < kt_snapshot_count(s); i++) {
				const struct kt_mapping_entry *e = kt_snapshot_entry(s, i);
				char ip[INET_ADDRSTRLEN];

				fmt_ip(e->vip, ip, sizeof(ip));
				kt_log_debug("  %s:%u (%s) → %s %s, %zu pods", e->hostname, e->port,
					     ip, e->ns, e->forward, e->npods);
			}
		}
	}
}

static void targets_changed(void *arg)
{
	struct daemon *d = arg;

	/* Coalesce: a list of 1,000 objects or a burst of events is one rebuild, on the next
	 * loop iteration. */
	if (!kt_timer_armed(d->rebuild))
		kt_timer_arm(d->rebuild, 0);
}

/* Some informer has not listed after STARTUP_DNS_WAIT_MS (RBAC, an outage): answer from what we
 * know rather than SERVFAIL forever. */
static void dns_wait_fire(void *arg)
{
	struct daemon *d = arg;

	kt_log_warnx("not every forward resolved after %u s; answering DNS with what is known",
		     STARTUP_DNS_WAIT_MS / 1000);
	kt_dnssrv_set_serving(d->dns, true);
}

/* ---- startup API check ---- */

static bool looks_like_tls_failure(const char *err)
{
	static const char *const words[] = {"certificate", "verify", "x509", "tls", "ssl"};

	for (size_t i = 0; err && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(err, words[i]))
			return true;
	return false;
}

/* The check runs in a loop of its own before the TUN exists: a refusal then leaves nothing
 * behind and prints exactly one line of ours. */
static void check_done(void *arg, int status, const char *body, size_t len, const char *err)
{
	struct daemon *d = arg;

	(void)body;
	(void)len;
	d->check = NULL;
	if (status == 0 && looks_like_tls_failure(err)) {
		if (err && strstr(err, kt_k8s_server(d->k8s)))
			kt_log_warnx("%s (check the kubeconfig's certificate-authority)", err);
		else
			kt_log_warnx("%s: %s (check the kubeconfig's certificate-authority)",
				     kt_k8s_server(d->k8s), err ? err : "TLS verification failed");
		d->exit_code = 1;
	} else if (status == 401) {
		kt_log_warnx("%s: 401 Unauthorized: the kubeconfig's credentials were rejected",
			     kt_k8s_server(d->k8s));
		d->exit_code = 1;
	} else if (status == 0) {
		kt_log_warnx("%s: %s (will keep retrying)", kt_k8s_server(d->k8s),
			     err ? err : "unreachable");
	} else if (status >= 400) {
		kt_log_warnx("%s: HTTP %d on the first API request (will keep retrying)",
			     kt_k8s_server(d->k8s), status);
	} else {
		kt_log_debug("%s: API server reachable", kt_k8s_server(d->k8s));
	}
	kt_evloop_stop(d->loop);
}

static void check_timeout(void *arg)
{
	struct daemon *d = arg;

	if (d->check) {
		kt_k8s_req_cancel(d->check);
		d->check = NULL;
		kt_log_warnx("%s: no answer in %u s (will keep retrying)", kt_k8s_server(d->k8s),
			     STARTUP_CHECK_MS / 1000);
	}
	kt_evloop_stop(d->loop);
}

/* One authenticated request up front, so a CA or credential problem is a clear refusal at
 * start rather than an endless retry. 0, or -1 when the daemon must not start. */
static int startup_check(struct daemon *d, const char *ns)
{
	struct kt_timer *t = kt_timer_new(d->loop, check_timeout, d);
	char path[512];
	int r;

	if (!t) {
		kt_log_warnx("out of memory");
		return -1;
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services?limit=1", ns);
	d->check = kt_k8s_get(d->k8s, path, check_done, d);
	if (!d->check) {
		kt_timer_free(t);
		kt_log_warnx("cannot start an API request");
		return -1;
	}
	kt_timer_arm(t, STARTUP_CHECK_MS);
	r = kt_evloop_run(d->loop);
	kt_timer_free(t);
	if (d->check) {
		/* Stopped by a signal. */
		kt_k8s_req_cancel(d->check);
		d->check = NULL;
	}
	return r < 0 || d->exit_code ? -1 : 0;
}

/* ---- control: live edits and shutdown ---- */

/* The control socket's apply: next becomes the active set. The informers are reconciled (new
 * namespaces and kinds start, unused ones stop), the mapping table is rebuilt at once, so DNS
 * and forwarding switch together in one snapshot swap, connections of mappings that are gone
 * are closed, and the set is persisted for auto-restore. */
static int apply_profile(void *arg, struct kt_profile *next, char *err, size_t errcap)
{
	struct daemon *d = arg;
	struct kt_profile *old = d->profile;
	char e[512];
	size_t closed;

	if (kt_targets_set_profile(d->targets, next)) {
		kt_profile_free(next);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	d->profile = next;
	d->view.profile = next;
	kt_profile_free(old);
	rebuild_fire(d);
	closed = kt_forward_close_unmapped(d->fw);
	if (closed)
		kt_log_info("closed %zu connection%s of removed mappings", closed,
			    closed == 1 ? "" : "s");
	if (kt_state_save_active(d->o.state_dir, d->profile, e, sizeof(e)))
		kt_log_warnx("active set not saved: %s", e);
	return 0;
}

static void shutdown_requested(void *arg)
{
	struct daemon *d = arg;

	d->stopping = true;
	kt_evloop_stop(d->loop);
}

/* ---- system DNS and privileges ---- */

/* systemd-resolved serves the network namespace of PID 1; link indexes of another namespace
 * mean nothing there (or name someone else's link). An explicit DBUS_SYSTEM_BUS_ADDRESS (a
 * private bus with its own resolved, as in the tests) is trusted as given. */
static bool foreign_netns(void)
{
	struct stat self, init;

	if (getenv("DBUS_SYSTEM_BUS_ADDRESS"))
		return false;
	if (stat("/proc/self/ns/net", &self) || stat("/proc/1/ns/net", &init))
		return false;
	return self.st_ino != init.st_ino || self.st_dev != init.st_dev;
}

static void system_dns_setup(struct daemon *d)
{
	struct in_addr dns = {.s_addr = htonl(d->o.dns_ip)};
	const char *ns = d->profile->namespace ? d->profile->namespace : d->default_ns;
	struct kt_sysdns_domain doms[3];
	struct kt_sysdns_state st;
	char ip[INET_ADDRSTRLEN], err[512];
	size_t off;
	int n;

	fmt_ip(d->o.dns_ip, ip, sizeof(ip));
	d->view.sysdns_mode = "manual";
	d->view.sysdns_detail = d->sysdns_detail;
	if (d->o.no_sysdns || foreign_netns()) {
		snprintf(d->sysdns_detail, sizeof(d->sysdns_detail),
			 "system resolver not changed (%s); send %s to %s to resolve it everywhere",
			 d->o.no_sysdns ? "--no-system-dns"
					: "kubetund runs in its own network namespace",
			 d->o.domain, ip);
		kt_log_info("%s", d->sysdns_detail);
		return;
	}
	kt_sysdns_detect(&st);
	if (!st.resolved) {
		kt_sysdns_manual_hint(d->sysdns_detail, sizeof(d->sysdns_detail), dns, d->o.domain);
		kt_log_info("%s", d->sysdns_detail);
		return;
	}
	d->ifindex = (int)if_nametoindex(kt_tun_name(d->tun));
	if (d->ifindex <= 0 ||
	    kt_sysdns_register(d->ifindex, dns, d->o.domain, ns, err, sizeof(err))) {
		if (d->ifindex <= 0)
			snprintf(err, sizeof(err), "%s has no interface index",
				 kt_tun_name(d->tun));
		kt_log_warnx("systemd-resolved: %s; the system resolver was not changed", err);
		snprintf(d->sysdns_detail, sizeof(d->sysdns_detail),
			 "registration with systemd-resolved failed (%s); send %s to %s yourself",
			 err, d->o.domain, ip);
		return;
	}
	d->sysdns_registered = true;
	d->view.sysdns_mode = "resolved";
	off = (size_t)snprintf(d->sysdns_detail, sizeof(d->sysdns_detail),
			       "per-link DNS %s on %s, domains", ip, kt_tun_name(d->tun));
	n = kt_sysdns_domains(d->o.domain, ns, doms);
	for (int i = 0; i < n && off < sizeof(d->sysdns_detail); i++) {
		int k = snprintf(d->sysdns_detail + off, sizeof(d->sysdns_detail) - off, " %s%s",
				 doms[i].route_only ? "~" : "", doms[i].name);

		off += k > 0 ? (size_t)k : 0;
	}
	kt_log_info("systemd-resolved: %s", d->sysdns_detail);
}

static void system_dns_revert(struct daemon *d)
{
	char err[512];

	if (!d->sysdns_registered)
		return;
	d->sysdns_registered = false;
	if (kt_sysdns_revert(d->ifindex, err, sizeof(err)))
		kt_log_warnx("systemd-resolved: %s (the link's settings go away with the device)",
			     err);
	else
		kt_log_debug("systemd-resolved: link %d reverted", d->ifindex);
}

/* Everything that needed root is done: keep CAP_NET_ADMIN (and CAP_SETUID/CAP_SETGID when
 * exec plugins run as another user), stay uid 0 (privs.h says why). */
static int drop_privileges(struct daemon *d)
{
	uint64_t keep = KT_PRIVS_CAP(CAP_NET_ADMIN), eff = 0;
	char err[256], desc[256];

	if (d->o.exec_as)
		keep |= KT_PRIVS_CAP(CAP_SETUID) | KT_PRIVS_CAP(CAP_SETGID);
	if (kt_privs_drop(keep, err, sizeof(err))) {
		kt_log_warnx("cannot drop privileges: %s", err);
		return -1;
	}
	kt_privs_effective(&eff);
	kt_privs_describe(eff, desc, sizeof(desc));
	kt_log_debug("privileges dropped: capabilities now %s", desc);
	return 0;
}

/* ---- setup and teardown ---- */

static const char *invoking_home(void)
{
	/* Under sudo the user's kubeconfig is the invoking user's, not root's. */
	const char *sudo_user = getenv("SUDO_USER");
	struct passwd *pw;

	if (sudo_user && *sudo_user && getuid() == 0 && (pw = getpwnam(sudo_user)) && pw->pw_dir)
		return pw->pw_dir;
	return getenv("HOME");
}

static int setup(struct daemon *d)
{
	struct kt_kubeconfig_opts ko = {0};
	struct kt_mapping_config mc = {0};
	struct kt_tun_config tc = {0};
	struct kt_netstack_config nc = {0};
	struct kt_targets_config tgc = {0};
	struct kt_forward_config fc = {0};
	struct kt_dnssrv_config dc = {0};
	const char *default_ns;
	char err[1024], ip[INET_ADDRSTRLEN], path[512];

	d->view.started_at = time(NULL);
	if (d->o.profile) {
		d->profile = kt_profile_load(d->o.profile, err, sizeof(err));
		if (!d->profile) {
			kt_log_warnx("%s", err);
			return -1;
		}
	} else {
		bool missing;

		/* Auto-restore: the set that was active when the daemon last ran. */
		d->profile = kt_state_load_active(d->o.state_dir, &missing, err, sizeof(err));
		if (!d->profile && !missing) {
			kt_log_warnx(
			    "%s (the saved active set; start with --profile to replace it)", err);
			return -1;
		}
		if (!d->profile && !(d->profile = kt_profile_new())) {
			kt_log_warnx("out of memory");
			return -1;
		}
		if (missing)
			kt_log_info("no --profile and no saved active set in %s: starting with no "
				    "forwards",
				    d->o.state_dir);
		else
			kt_log_info("restored the last active set (%zu forwards) from %s/%s",
				    d->profile->nforwards, d->o.state_dir, KT_STATE_ACTIVE_FILE);
	}
	if (d->o.exec_as) {
		struct passwd *pw = getpwuid(d->o.exec_uid);

		if (pw && (!(d->exec_user = strdup(pw->pw_name)) ||
			   !(d->exec_home = strdup(pw->pw_dir)))) {
			kt_log_warnx("out of memory");
			return -1;
		}
	}
	ko.explicit_path = d->o.kubeconfig;
	ko.env_kubeconfig = getenv("KUBECONFIG");
	/* The user exec plugins run as is the user whose ~/.kube/config applies. */
	ko.home = d->exec_home ? d->exec_home : invoking_home();
	ko.context = d->o.context ? d->o.context : d->profile->context;
	d->kc = kt_kubeconfig_load(&ko, err, sizeof(err));
	if (!d->kc) {
		kt_log_warnx("%s", err);
		return -1;
	}
	for (size_t i = 0; i < d->kc->nwarnings; i++)
		kt_log_warnx("%s", d->kc->warnings[i]);
	d->loop = kt_evloop_new(err, sizeof(err));
	if (!d->loop) {
		kt_log_warnx("event loop: %s", err);
		return -1;
	}
	g_loop = d->loop;
	d->default_ns = d->kc->namespace ? d->kc->namespace : "default";
	d->view.subnet = d->o.subnet;
	d->view.prefix = d->o.prefix;
	d->view.dns_ip = d->o.dns_ip;
	d->view.cluster_domain = d->o.domain;
	d->view.kc = d->kc;
	d->view.default_ns = d->default_ns;
	{
		/* Up before the API check, so `kubetun status` answers while we wait. */
		struct kt_dctl_config cc = {.view = &d->view,
					    .apply = apply_profile,
					    .shutdown = shutdown_requested,
					    .arg = d};

		d->ctl = kt_dctl_new(d->loop, d->o.socket, &cc, err, sizeof(err));
		if (!d->ctl) {
			kt_log_warnx("control socket: %s", err);
			return -1;
		}
	}
	d->k8s = kt_k8s_new(d->loop, d->kc, err, sizeof(err));
	if (!d->k8s) {
		kt_log_warnx("%s", err);
		return -1;
	}
	d->view.k8s = d->k8s;
	if (d->o.exec_as) {
		struct kt_execcred_opts eo = {
		    .run_as = true,
		    .uid = d->o.exec_uid,
		    .gid = d->o.exec_gid,
		    .user = d->exec_user,
		    .home = d->exec_home,
		};

		if (kt_k8s_set_exec_opts(d->k8s, &eo)) {
			kt_log_warnx("out of memory");
			return -1;
		}
	}
	default_ns = d->profile->namespace ? d->profile->namespace : d->kc->namespace;
	if (!default_ns)
		default_ns = "default";
	if (startup_check(d, default_ns) || d->stopping)
		return -1;
	d->ns_timer = kt_timer_new(d->loop, ns_timer_fire, d);
	d->rebuild = kt_timer_new(d->loop, rebuild_fire, d);
	d->dns_wait = kt_timer_new(d->loop, dns_wait_fire, d);
	if (!d->ns_timer || !d->rebuild || !d->dns_wait) {
		kt_log_warnx("out of memory");
		return -1;
	}
	tc.name = d->o.tun;
	tc.local = d->o.subnet | 1u;
	tc.subnet = d->o.subnet;
	tc.prefix_len = d->o.prefix;
	tc.mtu = d->o.mtu;
	d->tun = kt_tun_open(&tc, err, sizeof(err));
	if (!d->tun) {
		kt_log_warnx("%s", err);
		return -1;
	}
	d->view.tun_name = kt_tun_name(d->tun);
	d->view.mtu = kt_tun_mtu(d->tun);
	d->view.tun_up_since = time(NULL);
	mc.state_dir = d->o.state_dir;
	mc.cluster_domain = d->o.domain;
	mc.subnet = d->o.subnet;
	mc.prefix_len = d->o.prefix;
	mc.dns_ip = d->o.dns_ip;
	mc.host_ip = d->o.subnet | 1u;
	d->mapping = kt_mapping_new(&mc, err, sizeof(err));
	if (!d->mapping) {
		kt_log_warnx("%s", err);
		return -1;
	}
	d->view.mapping = d->mapping;
	nc.subnet = d->o.subnet;
	nc.prefix_len = d->o.prefix;
	nc.dns_ip = d->o.dns_ip;
	nc.mtu = kt_tun_mtu(d->tun);
	nc.probe_interval_ms = d->o.probe_ms;
	nc.user = d;
	nc.output = ns_output;
	nc.offload = kt_tun_caps(d->tun);
	nc.accept = ns_accept;
	nc.udp = ns_udp;
	d->ns = kt_netstack_new(&nc);
	if (!d->ns) {
		kt_log_warnx("cannot create the netstack");
		return -1;
	}
	kt_evloop_set_round_end(d->loop, ns_round_end, d);
	fc.loop = d->loop;
	fc.k8s = d->k8s;
	fc.mapping = d->mapping;
	dc.loop = d->loop;
	dc.ns = d->ns;
	dc.mapping = d->mapping;
	dc.dns_ip = d->o.dns_ip;
	d->fw = kt_forward_new(&fc);
	d->dns = kt_dnssrv_new(&dc);
	if (!d->fw || !d->dns) {
		kt_log_warnx("out of memory");
		return -1;
	}
	d->view.dns = d->dns;
	if (kt_evloop_watch(d->loop, kt_tun_fd(d->tun), KT_EV_READ, tun_readable, d)) {
		kt_log_warnx("cannot watch the TUN device");
		return -1;
	}
	d->fd_watched = true;
	tgc.k8s = d->k8s;
	tgc.profile = d->profile;
	tgc.default_ns = default_ns;
	tgc.cluster_domain = d->o.domain;
	tgc.changed = targets_changed;
	tgc.arg = d;
	d->targets = kt_targets_new(&tgc);
	if (!d->targets) {
		kt_log_warnx("cannot start watching the cluster");
		return -1;
	}
	d->view.targets = d->targets;
	d->view.profile = d->profile;
	if (kt_state_save_active(d->o.state_dir, d->profile, err, sizeof(err)))
		kt_log_warnx("active set not saved: %s", err);
	system_dns_setup(d);
	if (drop_privileges(d))
		return -1;
	fmt_ip(d->o.dns_ip, ip, sizeof(ip));
	fmt_ip(d->o.subnet, path, sizeof(path));
	kt_log_info("tunnel %s up: %s/%u, DNS %s, domain %s, context %s (%s)", kt_tun_name(d->tun),
		    path, d->o.prefix, ip, d->o.domain, d->kc->context_name, kt_k8s_server(d->k8s));
	/* An empty profile still publishes the DNS zone. */
	kt_timer_arm(d->dns_wait, STARTUP_DNS_WAIT_MS);
	targets_changed(d);
	return 0;
}

static void teardown(struct daemon *d)
{
	if (d->check)
		kt_k8s_req_cancel(d->check);
	kt_targets_free(d->targets);
	/* Connections first (RST to the apps through the netstack and the TUN), then the stack,
	 * then the device and its route. */
	kt_forward_free(d->fw);
	kt_dnssrv_free(d->dns);
	kt_netstack_free(d->ns);
	d->ns = NULL;
	/* While the link still exists: resolved forgets a link's settings when it goes, but an
	 * explicit revert also flushes its caches. */
	system_dns_revert(d);
	if (d->fd_watched)
		kt_evloop_unwatch(d->loop, kt_tun_fd(d->tun));
	kt_tun_close(d->tun);
	d->tun = NULL;
	kt_timer_free(d->ns_timer);
	kt_timer_free(d->rebuild);
	kt_timer_free(d->dns_wait);
	kt_mapping_free(d->mapping);
	kt_k8s_free(d->k8s);
	/* Last: the socket disappears once the daemon has stopped (docs/CONTROL.md), and a
	 * pending "shutdown" reply is flushed here. */
	kt_dctl_free(d->ctl);
	g_loop = NULL;
	kt_evloop_free(d->loop);
	kt_kubeconfig_free(d->kc);
	kt_profile_free(d->profile);
	free(d->exec_user);
	free(d->exec_home);
}

int main(int argc, char **argv)
{
	struct daemon d = {0};
	struct sigaction sa = {0};
	int rc = 1;

	parse_args(argc, argv, &d.o);
	kt_log_init(PROG, d.o.verbose);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (setup(&d) == 0) {
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		if (kt_evloop_run(d.loop) < 0) {
			kt_log_warnx("event loop failed");
		} else {
			rc = d.exit_code;
			if (rc == 0)
				kt_log_info("shutting down");
		}
	} else if (d.stopping) {
		rc = 0; /* asked to stop while starting */
		kt_log_info("shutting down");
	}
	teardown(&d);
	return rc;
}
