/* sysdns.c: per-link DNS for the cluster domain through systemd-resolved (see sysdns.h).
 *
 * Method names and signatures are those of org.freedesktop.resolve1.Manager as documented in
 * org.freedesktop.resolve1(5) (systemd 252): SetLinkDNS(ia(iay)), SetLinkDomains(ia(sb)),
 * SetLinkDefaultRoute(ib) (since 240), SetLinkLLMNR(is), SetLinkMulticastDNS(is),
 * SetLinkDNSSEC(is), SetLinkDNSOverTLS(is), RevertLink(i), FlushCaches(). Each call opens its
 * own short-lived bus connection, owned and closed within the call. */
#include "sysdns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dbus.h"
#include "log.h"

#define RESOLVE1 "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"
#define ERR_UNKNOWN_METHOD "org.freedesktop.DBus.Error.UnknownMethod"
#define ERR_NO_SUCH_LINK "org.freedesktop.resolve1.NoSuchLink"

/* ---- Names. */

/* RFC 1035 2.3.1 / RFC 1123 2.1: labels of 1-63 letters, digits and hyphens, not starting or
 * ending with a hyphen; 253 characters in all without the trailing dot. */
static bool domain_valid(const char *s, size_t n)
{
	if (n == 0 || n > KT_SYSDNS_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (c != '-' || label == 0))
			return false;
		label++;
	}
	return true;
}

/* Kubernetes namespaces are DNS-1123 labels: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool namespace_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

int kt_sysdns_domains(const char *cluster_domain, const char *ns,
		      struct kt_sysdns_domain out[static 3])
{
	if (!cluster_domain)
		return -EINVAL;
	size_t n = strlen(cluster_domain);
	if (n > 0 && cluster_domain[n - 1] == '.')
		n--;
	if (!domain_valid(cluster_domain, n))
		return -EINVAL;
	int d = (int)n;
	if (!ns || !ns[0]) {
		snprintf(out[0].name, sizeof(out[0].name), "%.*s", d, cluster_domain);
		out[0].route_only = true;
		return 1;
	}
	/* The longest name, "<ns>.svc.<domain>", must still be a valid name. */
	if (!namespace_valid(ns) || strlen(ns) + 5 + n > KT_SYSDNS_NAME_MAX)
		return -EINVAL;
	snprintf(out[0].name, sizeof(out[0].name), "%s.svc.%.*s", ns, d, cluster_domain);
	snprintf(out[1].name, sizeof(out[1].name), "svc.%.*s", d, cluster_domain);
	snprintf(out[2].name, sizeof(out[2].name), "%.*s", d, cluster_domain);
	out[0].route_only = out[1].route_only = out[2].route_only = false;
	return 3;
}

/* ---- Bodies. */

int kt_sysdns_body_set_dns(struct kt_wr *w, int ifindex, struct in_addr dns)
{
	kt_dbus_w_i32(w, ifindex);
	struct kt_dbus_arr a = kt_dbus_w_array_open(w, 8);
	kt_dbus_w_struct(w);
	kt_dbus_w_i32(w, AF_INET);
	struct kt_dbus_arr b = kt_dbus_w_array_open(w, 1);
	kt_wr_bytes(w, &dns.s_addr, 4); /* network byte order, as resolved expects */
	kt_dbus_w_array_close(w, b);
	kt_dbus_w_array_close(w, a);
	return w->err ? -ENOBUFS : 0;
}

int kt_sysdns_body_set_domains(struct kt_wr *w, int ifindex, const struct kt_sysdns_domain *d,
			       size_t n)
{
	kt_dbus_w_i32(w, ifindex);
	struct kt_dbus_arr a = kt_dbus_w_array_open(w, 8);
	for (size_t i = 0; i < n; i++) {
		kt_dbus_w_struct(w);
		kt_dbus_w_str(w, d[i].name);
		kt_dbus_w_bool(w, d[i].route_only);
	}
	kt_dbus_w_array_close(w, a);
	return w->err ? -ENOBUFS : 0;
}

/* ---- Calls. */

/* One Manager method. 0; -EOPNOTSUPP when this resolved does not have the method; -ENODEV when
 * it does not know the link; -EREMOTEIO for any other D-Bus error; else a transport error. err
 * gets one line in every failing case. */
static int call(struct kt_dbus *c, const char *member, const char *sig, const struct kt_wr *w,
		char *err, size_t errlen)
{
	struct kt_dbus_reply r;
	char e[512];
	int rc = kt_dbus_call(c, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER, member, sig,
			      w ? w->p : NULL, w ? w->off : 0, &r, e, sizeof(e));
	if (rc == -EREMOTEIO) {
		const char *name = r.msg.error_name;
		if (strcmp(name, ERR_UNKNOWN_METHOD) == 0)
			rc = -EOPNOTSUPP;
		else if (strcmp(name, ERR_NO_SUCH_LINK) == 0)
			rc = -ENODEV;
	}
	kt_dbus_reply_fini(&r);
	if (rc)
		snprintf(err, errlen, "systemd-resolved: %s failed: %s", member, e);
	return rc;
}

static int call_link_str(struct kt_dbus *c, const char *member, int ifindex, const char *v,
			 char *err, size_t errlen)
{
	uint8_t body[64];
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_i32(&w, ifindex);
	kt_dbus_w_str(&w, v);
	return call(c, member, "is", &w, err, errlen);
}

static struct kt_dbus *bus(char *err, size_t errlen)
{
	char e[400];
	struct kt_dbus *c = kt_dbus_connect(NULL, KT_SYSDNS_TIMEOUT_MS, e, sizeof(e));
	if (!c)
		snprintf(err, errlen, "systemd-resolved: %s", e);
	return c;
}

/* Drops cached answers so names start (or stop) resolving at once rather than after their TTL.
 * Best effort: FlushCaches appeared in systemd 239, and a stale cache is no reason to fail. */
static void flush(struct kt_dbus *c)
{
	char e[512];
	if (call(c, "FlushCaches", "", NULL, e, sizeof(e)))
		kt_log_debug("%s", e);
}

static int revert_on(struct kt_dbus *c, int ifindex, char *err, size_t errlen)
{
	uint8_t body[8];
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_i32(&w, ifindex);
	int rc = call(c, "RevertLink", "i", &w, err, errlen);
	if (rc == -ENODEV)
		return 0; /* resolved forgets a link's settings when the link goes away */
	return rc == -EOPNOTSUPP ? -EREMOTEIO : rc;
}

int kt_sysdns_register(int ifindex, struct in_addr dns, const char *cluster_domain,
		       const char *search_namespace, char *err, size_t errlen)
{
	struct kt_sysdns_domain d[3];
	int nd = kt_sysdns_domains(cluster_domain, search_namespace, d);
	if (ifindex <= 0 || nd < 0 || dns.s_addr == htonl(INADDR_ANY)) {
		snprintf(err, errlen,
			 "systemd-resolved: invalid link %d, DNS server, cluster domain \"%s\" or "
			 "namespace \"%s\"",
			 ifindex, cluster_domain ? cluster_domain : "",
			 search_namespace ? search_namespace : "");
		return -EINVAL;
	}
	struct kt_dbus *c = bus(err, errlen);
	if (!c)
		return -ENOTCONN;

	uint8_t body[1024];
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	bool touched = false;
	int rc;

	/* Default route off first, then the domains, and the server last: the link never has a
	 * server while it could still take names that are not the cluster's. */
	kt_dbus_w_i32(&w, ifindex);
	kt_dbus_w_bool(&w, false);
	rc = call(c, "SetLinkDefaultRoute", "ib", &w, err, errlen);
	if (rc == -EOPNOTSUPP) {
		kt_log_warnx("systemd-resolved has no SetLinkDefaultRoute (systemd < 240): other "
			     "names may reach the cluster DNS server too");
		rc = 0;
	}
	if (rc)
		goto fail;
	touched = true;

	w = kt_wr_make(body, sizeof(body));
	if ((rc = kt_sysdns_body_set_domains(&w, ifindex, d, (size_t)nd)) != 0 ||
	    (rc = call(c, "SetLinkDomains", "ia(sb)", &w, err, errlen)) != 0)
		goto fail;
	w = kt_wr_make(body, sizeof(body));
	if ((rc = kt_sysdns_body_set_dns(&w, ifindex, dns)) != 0 ||
	    (rc = call(c, "SetLinkDNS", "ia(iay)", &w, err, errlen)) != 0)
		goto fail;

	/* Our server speaks plain DNS on port 53 and answers unsigned private names; multicast
	 * protocols have nothing to find on a point-to-point tunnel. */
	static const char *const off[] = {"SetLinkLLMNR", "SetLinkMulticastDNS", "SetLinkDNSSEC",
					  "SetLinkDNSOverTLS"};
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		rc = call_link_str(c, off[i], ifindex, "no", err, errlen);
		if (rc == -EOPNOTSUPP) {
			kt_log_debug("systemd-resolved has no %s; skipped", off[i]);
			rc = 0;
		}
		if (rc)
			goto fail;
	}
	flush(c);
	kt_dbus_free(c);
	return 0;
fail:
	if (rc == -EOPNOTSUPP || rc == -ENODEV)
		rc = -EREMOTEIO;
	if (touched && rc == -EREMOTEIO) {
		/* Leave no half-configured link behind; the connection still works after an
		 * error reply (not after a transport error, where this is skipped). */
		char e[256];
		if (revert_on(c, ifindex, e, sizeof(e)))
			kt_log_debug("%s", e);
	}
	kt_dbus_free(c);
	return rc;
}

int kt_sysdns_revert(int ifindex, char *err, size_t errlen)
{
	if (ifindex <= 0) {
		snprintf(err, errlen, "systemd-resolved: invalid link %d", ifindex);
		return -EINVAL;
	}
	struct kt_dbus *c = bus(err, errlen);
	if (!c)
		return -ENOTCONN;
	int rc = revert_on(c, ifindex, err, errlen);
	if (rc == 0)
		flush(c);
	kt_dbus_free(c);
	return rc;
}

/* ---- Detection. */

const char *kt_sysdns_resolv_name(enum kt_sysdns_resolv m)
{
	switch (m) {
	case KT_SYSDNS_RESOLV_STUB:
		return "stub";
	case KT_SYSDNS_RESOLV_STUB_LINE:
		return "stub-nameserver";
	case KT_SYSDNS_RESOLV_UPLINK:
		return "uplink";
	case KT_SYSDNS_RESOLV_OTHER:
		return "other";
	case KT_SYSDNS_RESOLV_MISSING:
	default:
		return "missing";
	}
}

enum kt_sysdns_resolv kt_sysdns_resolv_conf_mode(const char *path)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n >= 0) {
		target[n] = '\0';
		/* Debian links "../run/systemd/resolve/stub-resolv.conf"; others use absolute
		 * targets, sometimes through /var/run. Compare without those prefixes. */
		const char *t = target;
		for (;;) {
			if (*t == '/')
				t++;
			else if (strncmp(t, "./", 2) == 0)
				t += 2;
			else if (strncmp(t, "../", 3) == 0)
				t += 3;
			else
				break;
		}
		if (strncmp(t, "var/run/", 8) == 0)
			t += 4;
		if (strcmp(t, "run/systemd/resolve/stub-resolv.conf") == 0 ||
		    strcmp(t, "usr/lib/systemd/resolv.conf") == 0 ||
		    strcmp(t, "lib/systemd/resolv.conf") == 0)
			return KT_SYSDNS_RESOLV_STUB;
		if (strcmp(t, "run/systemd/resolve/resolv.conf") == 0)
			return KT_SYSDNS_RESOLV_UPLINK;
	}
	FILE *f = fopen(path, "re");
	if (!f)
		return KT_SYSDNS_RESOLV_MISSING;
	/* resolv.conf(5): glibc uses the nameserver lines in order; what matters is the first. */
	enum kt_sysdns_resolv mode = KT_SYSDNS_RESOLV_OTHER;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		const char *p = line + strspn(line, " \t");
		if (strncmp(p, "nameserver", 10) != 0 || !strchr(" \t", p[10]) || p[10] == '\0')
			continue;
		p += 10;
		p += strspn(p, " \t");
		size_t len = strcspn(p, " \t\r\n#;");
		if (len == 10 && memcmp(p, "127.0.0.53", 10) == 0)
			mode = KT_SYSDNS_RESOLV_STUB_LINE;
		break;
	}
	fclose(f);
	return mode;
}

bool kt_sysdns_nss_resolve(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	char line[1024];
	while (!found && fgets(line, sizeof(line), f)) {
		const char *p = line + strspn(line, " \t");
		if (strncmp(p, "hosts:", 6) != 0)
			continue;
		p += 6;
		/* nsswitch.conf(5): services separated by blanks, actions in [brackets]. */
		for (;;) {
			p += strspn(p, " \t");
			size_t len = strcspn(p, " \t\r\n#");
			if (len == 0)
				break;
			if (len == 7 && memcmp(p, "resolve", 7) == 0)
				found = true;
			p += len;
		}
	}
	fclose(f);
	return found;
}

static bool resolved_on_bus(struct kt_dbus *c, char *err, size_t errlen)
{
	struct kt_dbus_reply r;
	bool found = false;
	int rc = kt_dbus_call(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			      "org.freedesktop.DBus", "ListNames", "", NULL, 0, &r, err, errlen);
	if (rc == 0 && strcmp(r.msg.sig, "as") == 0) {
		struct kt_dbus_rd d;
		kt_dbus_rd_init(&d, &r.msg);
		size_t end = kt_dbus_rd_array(&d, 4);
		while (!found && !d.r.err && d.r.off < end)
			found = strcmp(kt_dbus_rd_str(&d), RESOLVE1) == 0;
	}
	kt_dbus_reply_fini(&r);
	return found;
}

void kt_sysdns_detect_at(const char *bus_address, const char *resolv_conf, const char *nsswitch,
			 struct kt_sysdns_state *st)
{
	char err[400] = "";
	memset(st, 0, sizeof(*st));
	st->resolv_conf = kt_sysdns_resolv_conf_mode(resolv_conf);
	st->nss_resolve = kt_sysdns_nss_resolve(nsswitch);
	struct kt_dbus *c = kt_dbus_connect(bus_address, KT_SYSDNS_TIMEOUT_MS, err, sizeof(err));
	if (c) {
		st->bus = true;
		st->resolved = resolved_on_bus(c, err, sizeof(err));
		kt_dbus_free(c);
	}
	bool stub = st->resolv_conf == KT_SYSDNS_RESOLV_STUB ||
		    st->resolv_conf == KT_SYSDNS_RESOLV_STUB_LINE;
	if (!st->bus)
		snprintf(st->desc, sizeof(st->desc),
			 "no systemd-resolved (%.160s): cluster names need manual DNS setup", err);
	else if (!st->resolved)
		snprintf(st->desc, sizeof(st->desc),
			 "systemd-resolved is not running: cluster names need manual DNS setup");
	else if (stub)
		snprintf(st->desc, sizeof(st->desc),
			 "systemd-resolved, /etc/resolv.conf uses its stub 127.0.0.53: cluster "
			 "names resolve in every program");
	else if (st->nss_resolve)
		snprintf(st->desc, sizeof(st->desc),
			 "systemd-resolved through nss-resolve (/etc/resolv.conf: %s): cluster "
			 "names resolve in glibc programs, not in those reading resolv.conf",
			 kt_sysdns_resolv_name(st->resolv_conf));
	else
		snprintf(st->desc, sizeof(st->desc),
			 "systemd-resolved, but /etc/resolv.conf (%s) is not its stub 127.0.0.53: "
			 "only resolvectl sees cluster names",
			 kt_sysdns_resolv_name(st->resolv_conf));
}

void kt_sysdns_detect(struct kt_sysdns_state *st)
{
	kt_sysdns_detect_at(NULL, "/etc/resolv.conf", "/etc/nsswitch.conf", st);
}

void kt_sysdns_manual_hint(char *buf, size_t len, struct in_addr dns, const char *cluster_domain)
{
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &dns, ip, sizeof(ip));
	snprintf(buf, len,
		 "no systemd-resolved: to resolve *.%s everywhere, send %s to %s yourself, e.g. "
		 "dnsmasq's server=/%s/%s (NetworkManager: a file in "
		 "/etc/NetworkManager/dnsmasq.d/); kubetun leaves /etc/resolv.conf alone",
		 cluster_domain, cluster_domain, ip, cluster_domain, ip);
}
