/* sysdns_probe.c: the command-line face of src/sysdns.c for test_sysdns_resolved.sh.
 *
 *   sysdns_probe detect [RESOLV_CONF [NSSWITCH]]   prints "bus=B resolved=B resolv=MODE
 *                                                  nss_resolve=B" and then the status line
 *   sysdns_probe register IFINDEX DNS_IP DOMAIN [NAMESPACE]
 *   sysdns_probe revert IFINDEX
 *   sysdns_probe link IFINDEX                      reads the link back from resolved with our
 *                                                  own D-Bus client: "dns=... domains=...
 *                                                  default_route=B"
 *   sysdns_probe hint DNS_IP DOMAIN                prints the manual-setup line
 *
 * Exit status 0 on success, 1 with the module's one-line error on stderr, 2 on bad usage. The bus
 * is DBUS_SYSTEM_BUS_ADDRESS or the system default, as for the daemon. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbus.h"
#include "log.h"
#include "sysdns.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: sysdns_probe detect [RESOLV_CONF [NSSWITCH]] | register IFINDEX "
		"DNS_IP DOMAIN [NS] | revert IFINDEX | link IFINDEX | hint DNS_IP DOMAIN\n");
	return 2;
}

static int parse_ifindex(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* Properties.Get(RESOLVE1 Link interface, name) on the link's object. */
static int get_prop(struct kt_dbus *c, const char *path, const char *name, struct kt_dbus_reply *r,
		    char *err, size_t errlen)
{
	uint8_t body[256];
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_str(&w, "org.freedesktop.resolve1.Link");
	kt_dbus_w_str(&w, name);
	int rc =
	    kt_dbus_call(c, "org.freedesktop.resolve1", path, "org.freedesktop.DBus.Properties",
			 "Get", "ss", body, w.off, r, err, errlen);
	if (rc == 0 && strcmp(r->msg.sig, "v") != 0) {
		snprintf(err, errlen, "Get %s returned \"%s\"", name, r->msg.sig);
		rc = -EBADMSG;
	}
	return rc;
}

static int cmd_link(int ifindex)
{
	char err[512], path[256], out[1024];
	struct kt_dbus_reply r = {0};
	struct kt_dbus_rd d;
	int rc = 1;
	struct kt_dbus *c = kt_dbus_connect(NULL, 5000, err, sizeof(err));
	if (!c)
		goto done;
	uint8_t body[8];
	struct kt_wr w = kt_wr_make(body, sizeof(body));
	kt_dbus_w_i32(&w, ifindex);
	if (kt_dbus_call(c, "org.freedesktop.resolve1", "/org/freedesktop/resolve1",
			 "org.freedesktop.resolve1.Manager", "GetLink", "i", body, w.off, &r, err,
			 sizeof(err)))
		goto done;
	kt_dbus_rd_init(&d, &r.msg);
	snprintf(path, sizeof(path), "%s", kt_dbus_rd_str(&d));
	kt_dbus_reply_fini(&r);

	/* DNS: v containing a(iay). */
	struct kt_wr o = kt_wr_make(out, sizeof(out) - 1);
	kt_wr_bytes(&o, "dns=", 4);
	if (get_prop(c, path, "DNS", &r, err, sizeof(err)))
		goto done;
	kt_dbus_rd_init(&d, &r.msg);
	if (strcmp(kt_dbus_rd_sig(&d), "a(iay)") != 0)
		goto bad;
	size_t end = kt_dbus_rd_array(&d, 8);
	for (int i = 0; !d.r.err && d.r.off < end; i++) {
		kt_dbus_rd_struct(&d);
		int32_t family = kt_dbus_rd_i32(&d);
		size_t aend = kt_dbus_rd_array(&d, 1);
		size_t alen = aend - d.r.off;
		const uint8_t *a = kt_rd_bytes(&d.r, alen);
		char ip[INET6_ADDRSTRLEN] = "?";
		if (a && ((family == AF_INET && alen == 4) || (family == AF_INET6 && alen == 16)))
			inet_ntop(family, a, ip, sizeof(ip));
		if (i)
			kt_wr_u8(&o, ',');
		kt_wr_bytes(&o, ip, strlen(ip));
	}
	if (d.r.err)
		goto bad;
	kt_dbus_reply_fini(&r);

	/* Domains: v containing a(sb); routing-only ones shown with resolvectl's "~". */
	kt_wr_bytes(&o, " domains=", 9);
	if (get_prop(c, path, "Domains", &r, err, sizeof(err)))
		goto done;
	kt_dbus_rd_init(&d, &r.msg);
	if (strcmp(kt_dbus_rd_sig(&d), "a(sb)") != 0)
		goto bad;
	end = kt_dbus_rd_array(&d, 8);
	for (int i = 0; !d.r.err && d.r.off < end; i++) {
		kt_dbus_rd_struct(&d);
		const char *name = kt_dbus_rd_str(&d);
		bool route_only = kt_dbus_rd_bool(&d);
		if (i)
			kt_wr_u8(&o, ',');
		if (route_only)
			kt_wr_u8(&o, '~');
		kt_wr_bytes(&o, name, strlen(name));
	}
	if (d.r.err)
		goto bad;
	kt_dbus_reply_fini(&r);

	kt_wr_bytes(&o, " default_route=", 15);
	if (get_prop(c, path, "DefaultRoute", &r, err, sizeof(err)))
		goto done;
	kt_dbus_rd_init(&d, &r.msg);
	if (strcmp(kt_dbus_rd_sig(&d), "b") != 0)
		goto bad;
	kt_wr_u8(&o, kt_dbus_rd_bool(&d) ? '1' : '0');
	if (d.r.err || o.err)
		goto bad;
	out[o.off] = '\0';
	printf("%s\n", out);
	rc = 0;
	goto done;
bad:
	snprintf(err, sizeof(err), "unexpected property value from resolved");
done:
	if (rc)
		fprintf(stderr, "%s\n", err);
	kt_dbus_reply_fini(&r);
	kt_dbus_free(c);
	return rc;
}

int main(int argc, char **argv)
{
	char err[512];
	int ifindex;
	struct in_addr ip;
	kt_log_init("sysdns_probe", getenv("KT_PROBE_DEBUG") ? 1 : 0);
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "detect") == 0 && argc <= 4) {
		struct kt_sysdns_state st;
		kt_sysdns_detect_at(NULL, argc > 2 ? argv[2] : "/etc/resolv.conf",
				    argc > 3 ? argv[3] : "/etc/nsswitch.conf", &st);
		printf("bus=%d resolved=%d resolv=%s nss_resolve=%d\n%s\n", st.bus, st.resolved,
		       kt_sysdns_resolv_name(st.resolv_conf), st.nss_resolve, st.desc);
		return 0;
	}
	if (strcmp(cmd, "register") == 0 && (argc == 5 || argc == 6)) {
		if (parse_ifindex(argv[2], &ifindex) || inet_pton(AF_INET, argv[3], &ip) != 1)
			return usage();
		if (kt_sysdns_register(ifindex, ip, argv[4], argc == 6 ? argv[5] : NULL, err,
				       sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		return 0;
	}
	if (strcmp(cmd, "revert") == 0 && argc == 3) {
		if (parse_ifindex(argv[2], &ifindex))
			return usage();
		if (kt_sysdns_revert(ifindex, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		return 0;
	}
	if (strcmp(cmd, "link") == 0 && argc == 3) {
		if (parse_ifindex(argv[2], &ifindex))
			return usage();
		return cmd_link(ifindex);
	}
	if (strcmp(cmd, "hint") == 0 && argc == 4) {
		if (inet_pton(AF_INET, argv[2], &ip) != 1)
			return usage();
		kt_sysdns_manual_hint(err, sizeof(err), ip, argv[3]);
		printf("%s\n", err);
		return 0;
	}
	return usage();
}
