/* test_sysdns.c: src/sysdns.c's domain list, method bodies (byte for byte), resolv.conf and
 * nsswitch.conf classification, and the exact sequence of resolved calls register and revert
 * make, against a scripted org.freedesktop.resolve1 (fake_dbus.h). The same calls against the
 * real systemd-resolved are in tests/e2e/test_sysdns_resolved.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_test.h"
#include "sysdns.h"
#include "unit/fake_dbus.h"

/* SetLinkDNS(7, [(AF_INET, 198.19.0.53)]): "ia(iay)". */
static const char dns_body[] = "\x07\x00\x00\x00"  /* i 7 */
			       "\x0c\x00\x00\x00"  /* array of 12 bytes, 8..20 */
			       "\x02\x00\x00\x00"  /* 8: struct (i AF_INET */
			       "\x04\x00\x00\x00"  /* 12: ay of 4 */
			       "\xc6\x13\x00\x35"; /* 16: 198.19.0.53) */

/* SetLinkDomains(7, [("shop.svc.cluster.local", false), ("svc.cluster.local", false),
 * ("cluster.local", false)]): "ia(sb)". */
static const char domains_body[] = "\x07\x00\x00\x00" /* i 7 */
				   "\x58\x00\x00\x00" /* 88 bytes, 8..96 */
				   "\x16\x00\x00\x00shop.svc.cluster.local\x00" /* 8, to 35 */
				   "\x00"					/* pad to 36 */
				   "\x00\x00\x00\x00"				/* 36: false */
				   "\x11\x00\x00\x00svc.cluster.local\x00"	/* 40, to 62 */
				   "\x00\x00"					/* pad to 64 */
				   "\x00\x00\x00\x00"				/* 64: false */
				   "\x00\x00\x00\x00"				/* pad to 72 */
				   "\x0d\x00\x00\x00"
				   "cluster.local\x00" /* 72, to 90 */
				   "\x00\x00"	       /* pad to 92 */
				   "\x00\x00\x00\x00"; /* 92: false */

/* SetLinkDomains(7, [("cluster.local", true)]): the routing-only form, without a namespace. */
static const char route_body[] = "\x07\x00\x00\x00"
				 "\x18\x00\x00\x00" /* 24 bytes, 8..32 */
				 "\x0d\x00\x00\x00"
				 "cluster.local\x00" /* 8, to 26 */
				 "\x00\x00"	     /* pad to 28 */
				 "\x01\x00\x00\x00"; /* 28: true */

static struct in_addr vip(void)
{
	struct in_addr a;
	inet_pton(AF_INET, "198.19.0.53", &a);
	return a;
}

/* Lower-case hex of n bytes, or "-" for none. */
static void hex(char *out, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	if (n == 0)
		*out++ = '-';
	for (size_t i = 0; i < n; i++) {
		*out++ = digits[b[i] >> 4];
		*out++ = digits[b[i] & 15];
	}
	*out = '\0';
}

KT_TEST(domain_lists)
{
	struct kt_sysdns_domain d[3];
	KT_CHECK_INT_EQ(kt_sysdns_domains("cluster.local", "shop", d), 3);
	KT_CHECK_STR_EQ(d[0].name, "shop.svc.cluster.local");
	KT_CHECK_STR_EQ(d[1].name, "svc.cluster.local");
	KT_CHECK_STR_EQ(d[2].name, "cluster.local");
	KT_CHECK(!d[0].route_only && !d[1].route_only && !d[2].route_only);
	KT_CHECK_INT_EQ(kt_sysdns_domains("corp.example.", "default", d), 3);
	KT_CHECK_STR_EQ(d[0].name, "default.svc.corp.example");
	KT_CHECK_STR_EQ(d[2].name, "corp.example");
	KT_CHECK_INT_EQ(kt_sysdns_domains("cluster.local", NULL, d), 1);
	KT_CHECK_STR_EQ(d[0].name, "cluster.local");
	KT_CHECK(d[0].route_only);
	KT_CHECK_INT_EQ(kt_sysdns_domains("cluster.local", "", d), 1);

	static const char *const bad_domains[] = {"",	  ".",	   "a..b",  "-a.b",
						  "a-.b", "a_b.c", "a.b..", "a b"};
	for (size_t i = 0; i < sizeof(bad_domains) / sizeof(bad_domains[0]); i++)
		KT_CHECK_INT_EQ(kt_sysdns_domains(bad_domains[i], "shop", d), -EINVAL);
	KT_CHECK_INT_EQ(kt_sysdns_domains(NULL, "shop", d), -EINVAL);
	static const char *const bad_ns[] = {"Shop", "-a", "a-", "a.b", "a_b"};
	for (size_t i = 0; i < sizeof(bad_ns) / sizeof(bad_ns[0]); i++)
		KT_CHECK_INT_EQ(kt_sysdns_domains("cluster.local", bad_ns[i], d), -EINVAL);
	/* Labels of 63 are fine, 64 are not; the longest derived name must stay <= 253. */
	char label[80];
	memset(label, 'a', 64);
	label[64] = 0;
	KT_CHECK_INT_EQ(kt_sysdns_domains("cluster.local", label, d), -EINVAL);
	label[63] = 0;
	KT_CHECK_INT_EQ(kt_sysdns_domains("cluster.local", label, d), 3);
	char dom[260];
	snprintf(dom, sizeof(dom), "%s.%s.%s.b", label, label, label); /* 193 */
	KT_CHECK_INT_EQ(kt_sysdns_domains(dom, "x", d), 3);	       /* 199 */
	KT_CHECK_INT_EQ(kt_sysdns_domains(dom, label, d), -EINVAL);    /* 261 */
}

KT_TEST(bodies_are_byte_exact)
{
	uint8_t b[256];
	struct kt_wr w = kt_wr_make(b, sizeof(b));
	KT_CHECK_INT_EQ(kt_sysdns_body_set_dns(&w, 7, vip()), 0);
	KT_CHECK_INT_EQ(w.off, sizeof(dns_body) - 1);
	KT_CHECK_MEM_EQ(b, dns_body, sizeof(dns_body) - 1);

	struct kt_sysdns_domain d[3];
	KT_REQUIRE(kt_sysdns_domains("cluster.local", "shop", d) == 3);
	w = kt_wr_make(b, sizeof(b));
	KT_CHECK_INT_EQ(kt_sysdns_body_set_domains(&w, 7, d, 3), 0);
	KT_CHECK_INT_EQ(w.off, sizeof(domains_body) - 1);
	KT_CHECK_MEM_EQ(b, domains_body, sizeof(domains_body) - 1);

	KT_REQUIRE(kt_sysdns_domains("cluster.local", NULL, d) == 1);
	w = kt_wr_make(b, sizeof(b));
	KT_CHECK_INT_EQ(kt_sysdns_body_set_domains(&w, 7, d, 1), 0);
	KT_CHECK_INT_EQ(w.off, sizeof(route_body) - 1);
	KT_CHECK_MEM_EQ(b, route_body, sizeof(route_body) - 1);

	w = kt_wr_make(b, 50);
	KT_CHECK_INT_EQ(kt_sysdns_body_set_domains(&w, 7, d, 3), -ENOBUFS);
}

/* What systemd-resolved 252 (sd-bus) sent for Properties.Get(Link, "DNS") and ("Domains") after
 * a register like the ones above, captured from the e2e setup: a second implementation's
 * marshalling of the same a(iay) and a(sb) values. */
static const char sdbus_dns_reply[] =
    "\x6c\x02\x01\x01\x1c\x00\x00\x00\x15\x00\x00\x00\x2d\x00\x00\x00"
    "\x05\x01\x75\x00\x03\x00\x00\x00\x06\x01\x73\x00\x04\x00\x00\x00"
    "\x3a\x31\x2e\x32\x00\x00\x00\x00\x08\x01\x67\x00\x01\x76\x00\x00"
    "\x07\x01\x73\x00\x04\x00\x00\x00\x3a\x31\x2e\x30\x00\x00\x00\x00"
    "\x06\x61\x28\x69\x61\x79\x29\x00\x0c\x00\x00\x00\x00\x00\x00\x00"
    "\x02\x00\x00\x00\x04\x00\x00\x00\xc6\x13\x00\x35";
static const char sdbus_domains_reply[] =
    "\x6c\x02\x01\x01\x68\x00\x00\x00\x16\x00\x00\x00\x2d\x00\x00\x00"
    "\x05\x01\x75\x00\x04\x00\x00\x00\x06\x01\x73\x00\x04\x00\x00\x00"
    "\x3a\x31\x2e\x32\x00\x00\x00\x00\x08\x01\x67\x00\x01\x76\x00\x00"
    "\x07\x01\x73\x00\x04\x00\x00\x00\x3a\x31\x2e\x30\x00\x00\x00\x00"
    "\x05\x61\x28\x73\x62\x29\x00\x00\x58\x00\x00\x00\x00\x00\x00\x00"
    "\x16\x00\x00\x00\x73\x68\x6f\x70\x2e\x73\x76\x63\x2e\x63\x6c\x75"
    "\x73\x74\x65\x72\x2e\x6c\x6f\x63\x61\x6c\x00\x00\x00\x00\x00\x00"
    "\x11\x00\x00\x00\x73\x76\x63\x2e\x63\x6c\x75\x73\x74\x65\x72\x2e"
    "\x6c\x6f\x63\x61\x6c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x0d\x00\x00\x00\x63\x6c\x75\x73\x74\x65\x72\x2e\x6c\x6f\x63\x61"
    "\x6c\x00\x00\x00\x00\x00\x00\x00";

/* The array elements in a captured reply (a variant holding sig) against ours, which start at
 * body offset 8 after the ifindex and the array length. */
static void same_elements(const char *reply, size_t n, const char *sig, const char *ours,
			  size_t ours_len)
{
	struct kt_dbus_msg m;
	KT_REQUIRE(kt_dbus_msg_parse((const uint8_t *)reply, n, &m) == 0);
	KT_CHECK_STR_EQ(m.sig, "v");
	struct kt_dbus_rd d;
	kt_dbus_rd_init(&d, &m);
	KT_CHECK_STR_EQ(kt_dbus_rd_sig(&d), sig);
	size_t end = kt_dbus_rd_array(&d, 8);
	KT_REQUIRE(!d.r.err);
	KT_CHECK_INT_EQ(end - d.r.off, ours_len - 8);
	KT_CHECK_MEM_EQ(m.body + d.r.off, ours + 8, ours_len - 8);
}

KT_TEST(bodies_match_sd_bus)
{
	same_elements(sdbus_dns_reply, sizeof(sdbus_dns_reply) - 1, "a(iay)", dns_body,
		      sizeof(dns_body) - 1);
	same_elements(sdbus_domains_reply, sizeof(sdbus_domains_reply) - 1, "a(sb)", domains_body,
		      sizeof(domains_body) - 1);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

KT_TEST(resolv_conf_and_nsswitch)
{
	char dir[] = "/tmp/kt-sysdns.XXXXXX", p[128], q[128];
	KT_REQUIRE(mkdtemp(dir));
	static const struct {
		const char *target;
		enum kt_sysdns_resolv mode;
	} links[] = {
	    {"../run/systemd/resolve/stub-resolv.conf", KT_SYSDNS_RESOLV_STUB},
	    {"/run/systemd/resolve/stub-resolv.conf", KT_SYSDNS_RESOLV_STUB},
	    {"/var/run/systemd/resolve/stub-resolv.conf", KT_SYSDNS_RESOLV_STUB},
	    {"/usr/lib/systemd/resolv.conf", KT_SYSDNS_RESOLV_STUB},
	    {"../lib/systemd/resolv.conf", KT_SYSDNS_RESOLV_STUB},
	    {"/run/systemd/resolve/resolv.conf", KT_SYSDNS_RESOLV_UPLINK},
	    {"/run/resolvconf/resolv.conf.missing", KT_SYSDNS_RESOLV_MISSING},
	    {"/run/systemd/resolve/stub-resolv.conf.bak", KT_SYSDNS_RESOLV_MISSING},
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/l%zu", dir, i);
		KT_REQUIRE(symlink(links[i].target, p) == 0);
		KT_CHECK_INT_EQ(kt_sysdns_resolv_conf_mode(p), links[i].mode);
		unlink(p);
	}
	static const struct {
		const char *text;
		enum kt_sysdns_resolv mode;
	} files[] = {
	    {"# Generated\nnameserver 127.0.0.53\noptions edns0 trust-ad\n",
	     KT_SYSDNS_RESOLV_STUB_LINE},
	    {"  nameserver\t127.0.0.53 # stub\n", KT_SYSDNS_RESOLV_STUB_LINE},
	    {"nameserver 10.0.0.2\nnameserver 127.0.0.53\n", KT_SYSDNS_RESOLV_OTHER},
	    {"nameserver 127.0.0.530\n", KT_SYSDNS_RESOLV_OTHER},
	    {"nameservers 127.0.0.53\n", KT_SYSDNS_RESOLV_OTHER},
	    {"search x\n", KT_SYSDNS_RESOLV_OTHER},
	    {"", KT_SYSDNS_RESOLV_OTHER},
	};
	snprintf(p, sizeof(p), "%s/resolv.conf", dir);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		KT_REQUIRE(write_file(p, files[i].text) == 0);
		KT_CHECK_INT_EQ(kt_sysdns_resolv_conf_mode(p), files[i].mode);
	}
	/* A symlink to some other file is judged by that file's content. */
	KT_REQUIRE(write_file(p, "nameserver 127.0.0.53\n") == 0);
	snprintf(q, sizeof(q), "%s/link", dir);
	KT_REQUIRE(symlink(p, q) == 0);
	KT_CHECK_INT_EQ(kt_sysdns_resolv_conf_mode(q), KT_SYSDNS_RESOLV_STUB_LINE);
	unlink(q);
	unlink(p);
	KT_CHECK_INT_EQ(kt_sysdns_resolv_conf_mode(p), KT_SYSDNS_RESOLV_MISSING);
	KT_CHECK_STR_EQ(kt_sysdns_resolv_name(KT_SYSDNS_RESOLV_UPLINK), "uplink");

	static const struct {
		const char *text;
		bool resolve;
	} nss[] = {
	    {"passwd: files\nhosts: files resolve [!UNAVAIL=return] dns\n", true},
	    {"hosts:resolve\n", true},
	    {"hosts: files mdns4_minimal [NOTFOUND=return] dns # resolve\n", false},
	    {"hosts: files myhostname resolved\n", false},
	    {"#hosts: resolve\nhosts: files dns\n", false},
	    {"networks: resolve\n", false},
	};
	snprintf(p, sizeof(p), "%s/nsswitch.conf", dir);
	for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++) {
		KT_REQUIRE(write_file(p, nss[i].text) == 0);
		KT_CHECK(kt_sysdns_nss_resolve(p) == nss[i].resolve);
	}
	unlink(p);
	KT_CHECK(!kt_sysdns_nss_resolve(p));
	rmdir(dir);
}

KT_TEST(manual_hint)
{
	char line[512];
	kt_sysdns_manual_hint(line, sizeof(line), vip(), "cluster.local");
	KT_CHECK_STR_EQ(line, "no systemd-resolved: to resolve *.cluster.local everywhere, send "
			      "cluster.local to 198.19.0.53 yourself, e.g. dnsmasq's "
			      "server=/cluster.local/198.19.0.53 (NetworkManager: a file in "
			      "/etc/NetworkManager/dnsmasq.d/); kubetun leaves /etc/resolv.conf "
			      "alone");
	KT_CHECK(strchr(line, '\n') == NULL);
}

/* ---- A scripted org.freedesktop.resolve1. */

struct script {
	const char *unknown[4];	 /* members answered with UnknownMethod */
	const char *fail_member; /* answered with fail_error */
	const char *fail_error;
	bool with_resolve1; /* ListNames includes org.freedesktop.resolve1 */
	char log[64];	    /* each call: "Member sig hexbody" */
};

static int serve_resolved(int fd, void *arg)
{
	struct script *s = arg;
	uint8_t buf[4096], body[512];
	char line[1200];
	size_t len;
	struct kt_dbus_msg m;
	int logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0 || fake_auth(fd, "OK 00\r\n") || fake_hello(fd))
		return 1;
	for (;;) {
		int rc = fake_read_msg(fd, buf, sizeof(buf), &len, &m);
		if (rc == 1)
			return 0;
		if (rc || m.type != KT_DBUS_METHOD_CALL)
			return 2;
		bool list = strcmp(m.member, "ListNames") == 0;
		/* Every resolved call goes to the Manager object and interface. */
		if (!list && (strcmp(m.dest, "org.freedesktop.resolve1") != 0 ||
			      strcmp(m.path, "/org/freedesktop/resolve1") != 0 ||
			      strcmp(m.iface, "org.freedesktop.resolve1.Manager") != 0))
			return 3;
		int o = snprintf(line, sizeof(line), "%s %s ", m.member, m.sig[0] ? m.sig : "-");
		hex(line + o, m.body, m.body_len);
		dprintf(logfd, "%s\n", line);

		struct kt_wr w = kt_wr_make(body, sizeof(body));
		struct fake_fields f = {.reply_serial = m.serial};
		const char *error = NULL;
		for (int i = 0; i < 4; i++)
			if (s->unknown[i] && strcmp(s->unknown[i], m.member) == 0)
				error = "org.freedesktop.DBus.Error.UnknownMethod";
		if (s->fail_member && strcmp(s->fail_member, m.member) == 0)
			error = s->fail_error;
		if (error) {
			kt_dbus_w_str(&w, "boom");
			f.error_name = error;
			f.sig = "s";
		} else if (list) {
			struct kt_dbus_arr a = kt_dbus_w_array_open(&w, 4);
			kt_dbus_w_str(&w, "org.freedesktop.DBus");
			kt_dbus_w_str(&w, ":1.7");
			if (s->with_resolve1)
				kt_dbus_w_str(&w, "org.freedesktop.resolve1");
			kt_dbus_w_array_close(&w, a);
			f.sig = "as";
		}
		if (fake_send(fd, error ? KT_DBUS_ERROR : KT_DBUS_METHOD_RETURN, 100, &f, body,
			      w.off))
			return 4;
	}
}

static char *read_all(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Runs fn against a fresh scripted resolved and returns its call log. */
struct run {
	struct fake_bus b;
	struct script s;
};

static void run_start(struct run *r)
{
	if (fake_bus_listen(&r->b) != 0)
		abort();
	snprintf(r->s.log, sizeof(r->s.log), "%s/log", r->b.dir);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", r->b.addr, 1);
	if (fake_bus_run(&r->b, serve_resolved, &r->s) != 0)
		abort();
}

static const char *run_finish(struct run *r, int *status)
{
	*status = fake_bus_wait(&r->b); /* removes the socket; the log stays until read */
	const char *log = read_all(r->s.log);
	unlink(r->s.log);
	rmdir(r->b.dir);
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	return log;
}

/* The expected log line for a call. */
static const char *expect(const char *member, const char *sig, const void *body, size_t n)
{
	static char lines[16][1200];
	static int next;
	char *l = lines[next++ % 16];
	int o = snprintf(l, 1200, "%s %s ", member, sig);
	hex(l + o, body, n);
	size_t len = strlen(l);
	l[len] = '\n';
	l[len + 1] = '\0';
	return l;
}

KT_TEST(register_sequence)
{
	struct run r = {0};
	char err[512] = "";
	int st;
	run_start(&r);
	KT_CHECK_INT_EQ(kt_sysdns_register(7, vip(), "cluster.local", "shop", err, sizeof(err)), 0);
	KT_CHECK_STR_EQ(err, "");
	const char *log = run_finish(&r, &st);
	KT_CHECK_INT_EQ(st, 0);
	char want[4096];
	struct kt_wr w = kt_wr_make(want, sizeof(want) - 1);
	static const char is_no[] = "\x07\x00\x00\x00\x02\x00\x00\x00no";
	const char *lines[] = {
	    expect("SetLinkDefaultRoute", "ib", "\x07\x00\x00\x00\x00\x00\x00\x00", 8),
	    expect("SetLinkDomains", "ia(sb)", domains_body, sizeof(domains_body) - 1),
	    expect("SetLinkDNS", "ia(iay)", dns_body, sizeof(dns_body) - 1),
	    expect("SetLinkLLMNR", "is", is_no, sizeof(is_no)),
	    expect("SetLinkMulticastDNS", "is", is_no, sizeof(is_no)),
	    expect("SetLinkDNSSEC", "is", is_no, sizeof(is_no)),
	    expect("SetLinkDNSOverTLS", "is", is_no, sizeof(is_no)),
	    expect("FlushCaches", "-", NULL, 0),
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		kt_wr_bytes(&w, lines[i], strlen(lines[i]));
	want[w.off] = '\0';
	KT_CHECK_STR_EQ(log, want);
}

KT_TEST(register_on_older_resolved)
{
	/* systemd < 240 has no SetLinkDefaultRoute, < 239 no DNSOverTLS or FlushCaches. */
	struct run r = {
	    .s = {.unknown = {"SetLinkDefaultRoute", "SetLinkDNSOverTLS", "FlushCaches"}}};
	char err[512] = "";
	int st;
	run_start(&r);
	KT_CHECK_INT_EQ(kt_sysdns_register(7, vip(), "cluster.local", "shop", err, sizeof(err)), 0);
	const char *log = run_finish(&r, &st);
	KT_CHECK_INT_EQ(st, 0);
	/* Every step is still tried, in the same order. */
	const char *order[] = {"SetLinkDefaultRoute ", "SetLinkDomains ",      "SetLinkDNS ",
			       "SetLinkLLMNR ",	       "SetLinkMulticastDNS ", "SetLinkDNSSEC ",
			       "SetLinkDNSOverTLS ",   "FlushCaches "};
	const char *p = log;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		KT_CHECK(strncmp(p, order[i], strlen(order[i])) == 0);
		p = strchr(p, '\n');
		KT_REQUIRE(p);
		p++;
	}
	KT_CHECK_STR_EQ(p, "");
}

KT_TEST(register_failure_reverts)
{
	struct run r = {
	    .s = {.fail_member = "SetLinkDNS", .fail_error = "org.freedesktop.resolve1.LinkBusy"}};
	char err[512] = "";
	int st;
	run_start(&r);
	KT_CHECK_INT_EQ(kt_sysdns_register(7, vip(), "cluster.local", "shop", err, sizeof(err)),
			-EREMOTEIO);
	KT_CHECK_STR_EQ(err, "systemd-resolved: SetLinkDNS failed: "
			     "org.freedesktop.resolve1.LinkBusy: boom");
	const char *log = run_finish(&r, &st);
	KT_CHECK_INT_EQ(st, 0);
	const char *last = strstr(log, "SetLinkDNS ia(iay)");
	KT_REQUIRE(last && strchr(last, '\n'));
	last = strchr(last, '\n') + 1;
	KT_CHECK_STR_EQ(last, "RevertLink i 07000000\n");

	/* Failing on the first call touches nothing, so there is nothing to revert. */
	struct run r2 = {.s = {.fail_member = "SetLinkDefaultRoute",
			       .fail_error = "org.freedesktop.resolve1.NoSuchLink"}};
	run_start(&r2);
	KT_CHECK_INT_EQ(kt_sysdns_register(9, vip(), "cluster.local", "shop", err, sizeof(err)),
			-EREMOTEIO);
	KT_CHECK_STR_EQ(err, "systemd-resolved: SetLinkDefaultRoute failed: "
			     "org.freedesktop.resolve1.NoSuchLink: boom");
	log = run_finish(&r2, &st);
	KT_CHECK_INT_EQ(st, 0);
	KT_CHECK_STR_EQ(log, "SetLinkDefaultRoute ib 0900000000000000\n");
}

KT_TEST(revert)
{
	char err[512] = "";
	int st;
	struct run r = {0};
	run_start(&r);
	KT_CHECK_INT_EQ(kt_sysdns_revert(7, err, sizeof(err)), 0);
	KT_CHECK_STR_EQ(run_finish(&r, &st), "RevertLink i 07000000\nFlushCaches - -\n");
	KT_CHECK_INT_EQ(st, 0);

	/* The link is gone already: resolved dropped its settings with it. */
	struct run r2 = {.s = {.fail_member = "RevertLink",
			       .fail_error = "org.freedesktop.resolve1.NoSuchLink"}};
	run_start(&r2);
	KT_CHECK_INT_EQ(kt_sysdns_revert(7, err, sizeof(err)), 0);
	KT_CHECK_STR_EQ(run_finish(&r2, &st), "RevertLink i 07000000\nFlushCaches - -\n");

	struct run r3 = {.s = {.fail_member = "RevertLink",
			       .fail_error = "org.freedesktop.DBus.Error.AccessDenied"}};
	run_start(&r3);
	KT_CHECK_INT_EQ(kt_sysdns_revert(7, err, sizeof(err)), -EREMOTEIO);
	KT_CHECK_STR_EQ(err, "systemd-resolved: RevertLink failed: "
			     "org.freedesktop.DBus.Error.AccessDenied: boom");
	KT_CHECK_STR_EQ(run_finish(&r3, &st), "RevertLink i 07000000\n");
}

KT_TEST(bad_arguments_and_no_bus)
{
	char err[512];
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/kt-bus", 1);
	KT_CHECK_INT_EQ(kt_sysdns_register(0, vip(), "cluster.local", "shop", err, sizeof(err)),
			-EINVAL);
	KT_CHECK(strncmp(err, "systemd-resolved: invalid link 0", 32) == 0);
	KT_CHECK_INT_EQ(kt_sysdns_register(3, vip(), "bad..name", NULL, err, sizeof(err)), -EINVAL);
	struct in_addr any = {0};
	KT_CHECK_INT_EQ(kt_sysdns_register(3, any, "cluster.local", NULL, err, sizeof(err)),
			-EINVAL);
	KT_CHECK_INT_EQ(kt_sysdns_revert(-1, err, sizeof(err)), -EINVAL);
	KT_CHECK_INT_EQ(kt_sysdns_register(3, vip(), "cluster.local", NULL, err, sizeof(err)),
			-ENOTCONN);
	KT_CHECK_STR_EQ(err, "systemd-resolved: D-Bus: cannot connect to "
			     "unix:path=/nonexistent/kt-bus: No such file or directory");
	KT_CHECK_INT_EQ(kt_sysdns_revert(3, err, sizeof(err)), -ENOTCONN);
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
}

KT_TEST(detect)
{
	char dir[] = "/tmp/kt-sysdns.XXXXXX", rc[128], ns[128];
	KT_REQUIRE(mkdtemp(dir));
	snprintf(rc, sizeof(rc), "%s/resolv.conf", dir);
	snprintf(ns, sizeof(ns), "%s/nsswitch.conf", dir);
	KT_REQUIRE(symlink("../run/systemd/resolve/stub-resolv.conf", rc) == 0);
	KT_REQUIRE(write_file(ns, "hosts: files dns\n") == 0);
	struct kt_sysdns_state st;

	kt_sysdns_detect_at("unix:path=/nonexistent/kt-bus", rc, ns, &st);
	KT_CHECK(!st.bus && !st.resolved && !st.nss_resolve);
	KT_CHECK_INT_EQ(st.resolv_conf, KT_SYSDNS_RESOLV_STUB);
	KT_CHECK_STR_EQ(st.desc, "no systemd-resolved (D-Bus: cannot connect to "
				 "unix:path=/nonexistent/kt-bus: No such file or directory): "
				 "cluster names need manual DNS setup");

	int status;
	struct run r = {0};
	run_start(&r);
	kt_sysdns_detect_at(r.b.addr, rc, ns, &st);
	KT_CHECK_STR_EQ(run_finish(&r, &status), "ListNames - -\n");
	KT_CHECK(st.bus && !st.resolved);
	KT_CHECK_STR_EQ(st.desc,
			"systemd-resolved is not running: cluster names need manual DNS setup");

	struct run r2 = {.s = {.with_resolve1 = true}};
	run_start(&r2);
	kt_sysdns_detect_at(r2.b.addr, rc, ns, &st);
	run_finish(&r2, &status);
	KT_CHECK_INT_EQ(status, 0);
	KT_CHECK(st.bus && st.resolved);
	KT_CHECK_STR_EQ(st.desc, "systemd-resolved, /etc/resolv.conf uses its stub 127.0.0.53: "
				 "cluster names resolve in every program");

	/* resolv.conf lists the uplinks, but glibc asks resolved through nss-resolve. */
	unlink(rc);
	KT_REQUIRE(symlink("/run/systemd/resolve/resolv.conf", rc) == 0);
	KT_REQUIRE(write_file(ns, "hosts: files resolve [!UNAVAIL=return] dns\n") == 0);
	struct run r3 = {.s = {.with_resolve1 = true}};
	run_start(&r3);
	kt_sysdns_detect_at(r3.b.addr, rc, ns, &st);
	run_finish(&r3, &status);
	KT_CHECK(st.resolved && st.nss_resolve);
	KT_CHECK_STR_EQ(st.desc, "systemd-resolved through nss-resolve (/etc/resolv.conf: "
				 "uplink): cluster names resolve in glibc programs, not in those "
				 "reading resolv.conf");

	KT_REQUIRE(write_file(ns, "hosts: files dns\n") == 0);
	struct run r4 = {.s = {.with_resolve1 = true}};
	run_start(&r4);
	kt_sysdns_detect_at(r4.b.addr, rc, ns, &st);
	run_finish(&r4, &status);
	KT_CHECK_STR_EQ(st.desc, "systemd-resolved, but /etc/resolv.conf (uplink) is not its stub "
				 "127.0.0.53: only resolvectl sees cluster names");
	unlink(rc);
	unlink(ns);
	rmdir(dir);
}

KT_TEST_MAIN()
