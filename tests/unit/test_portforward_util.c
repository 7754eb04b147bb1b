/* Unit tests for pf_util.c: the kubelet's `ports` parsing and wording, Go-style quoting and
 * header dumps, the runtime identities and error-stream texts. */
#include "kt_test.h"

#include <errno.h>

#include "http.h"
#include "pf_util.h"

static int parse(const char *const *v, size_t nv, uint16_t *ports, size_t *n, char *err)
{
	return pf_parse_ports(v, nv, ports, n, err, 512);
}

KT_TEST(go_parse_u16)
{
	uint16_t v = 1;
	KT_CHECK_INT_EQ(pf_go_parse_u16("8080", 4, &v), 0);
	KT_CHECK_INT_EQ(v, 8080);
	KT_CHECK_INT_EQ(pf_go_parse_u16("0", 1, &v), 0);
	KT_CHECK_INT_EQ(v, 0);
	KT_CHECK_INT_EQ(pf_go_parse_u16("00080", 5, &v), 0); /* leading zeros are fine in Go */
	KT_CHECK_INT_EQ(v, 80);
	KT_CHECK_INT_EQ(pf_go_parse_u16("65535", 5, &v), 0);
	KT_CHECK_INT_EQ(v, 65535);
	KT_CHECK_INT_EQ(pf_go_parse_u16("65536", 5, &v), -ERANGE);
	KT_CHECK_INT_EQ(pf_go_parse_u16("", 0, &v), -EINVAL);
	KT_CHECK_INT_EQ(pf_go_parse_u16("+80", 3, &v), -EINVAL);
	KT_CHECK_INT_EQ(pf_go_parse_u16("-1", 2, &v), -EINVAL);
	KT_CHECK_INT_EQ(pf_go_parse_u16("8_0", 3, &v), -EINVAL);
	/* Go reports whichever problem it meets first, character by character. */
	KT_CHECK_INT_EQ(pf_go_parse_u16("99999x", 6, &v), -ERANGE);
	KT_CHECK_INT_EQ(pf_go_parse_u16("x99999", 6, &v), -EINVAL);
	KT_CHECK_INT_EQ(pf_go_parse_u16("80 ", 3, &v), -EINVAL);
}

KT_TEST(go_quote)
{
	char out[64];
	KT_CHECK_INT_EQ(pf_go_quote("abc", 3, out, sizeof(out)), 5);
	KT_CHECK_STR_EQ(out, "\"abc\"");
	pf_go_quote("a\"b\\c\n\x01", 7, out, sizeof(out));
	KT_CHECK_STR_EQ(out, "\"a\\\"b\\\\c\\n\\x01\"");
	pf_go_quote("", 0, out, sizeof(out));
	KT_CHECK_STR_EQ(out, "\"\"");
	/* Truncation keeps the string terminated. */
	pf_go_quote("abcdefgh", 8, out, 5);
	KT_CHECK_INT_EQ(strlen(out), 4);
}

KT_TEST(ports_ok)
{
	uint16_t ports[PF_MAX_PORTS];
	size_t n = 0;
	char err[512];
	const char *v1[] = {"8080", "9090"};
	KT_REQUIRE(parse(v1, 2, ports, &n, err) == 0);
	KT_CHECK_INT_EQ(n, 2);
	KT_CHECK_INT_EQ(ports[0], 8080);
	KT_CHECK_INT_EQ(ports[1], 9090);

	/* Comma lists and repeats mix; order is kept; duplicates are kept (protocol.md 0.1). */
	const char *v2[] = {"80,443", "80"};
	KT_REQUIRE(parse(v2, 2, ports, &n, err) == 0);
	KT_CHECK_INT_EQ(n, 3);
	KT_CHECK_INT_EQ(ports[0], 80);
	KT_CHECK_INT_EQ(ports[1], 443);
	KT_CHECK_INT_EQ(ports[2], 80);
}

KT_TEST(ports_errors_kubelet_wording)
{
	uint16_t ports[PF_MAX_PORTS];
	size_t n = 0;
	char err[512];

	KT_CHECK_INT_EQ(parse(NULL, 0, ports, &n, err), -EINVAL);
	KT_CHECK_STR_EQ(err, "query parameter \"port\" is required");

	const char *empty[] = {"80", ""};
	KT_CHECK_INT_EQ(parse(empty, 2, ports, &n, err), -EINVAL);
	KT_CHECK_STR_EQ(err, "query parameter \"port\" cannot be empty");

	const char *bad[] = {"80,abc"};
	KT_CHECK_INT_EQ(parse(bad, 1, ports, &n, err), -EINVAL);
	KT_CHECK_STR_EQ(err, "unable to parse \"80,abc\" as a port: strconv.ParseUint: parsing "
			     "\"abc\": invalid syntax");

	const char *trailing[] = {"80,"};
	KT_CHECK_INT_EQ(parse(trailing, 1, ports, &n, err), -EINVAL);
	KT_CHECK_STR_EQ(err, "unable to parse \"80,\" as a port: strconv.ParseUint: parsing \"\": "
			     "invalid syntax");

	const char *big[] = {"70000"};
	KT_CHECK_INT_EQ(parse(big, 1, ports, &n, err), -EINVAL);
	KT_CHECK_STR_EQ(err, "unable to parse \"70000\" as a port: strconv.ParseUint: parsing "
			     "\"70000\": value out of range");

	const char *zero[] = {"1,0"};
	KT_CHECK_INT_EQ(parse(zero, 1, ports, &n, err), -EINVAL);
	KT_CHECK_STR_EQ(err, "port \"1,0\" must be > 0");

	const char *neg[] = {"-5"};
	KT_CHECK_INT_EQ(parse(neg, 1, ports, &n, err), -EINVAL);
	KT_CHECK_STR_EQ(err, "unable to parse \"-5\" as a port: strconv.ParseUint: parsing \"-5\": "
			     "invalid syntax");
}

KT_TEST(ports_limit)
{
	uint16_t ports[PF_MAX_PORTS];
	size_t n = 0;
	char err[512], list[1024];
	size_t off = 0;
	const char *v[1];

	for (int i = 1; i <= PF_MAX_PORTS; i++)
		off +=
		    (size_t)snprintf(list + off, sizeof(list) - off, "%s%d", i > 1 ? "," : "", i);
	v[0] = list;
	KT_CHECK_INT_EQ(parse(v, 1, ports, &n, err), 0);
	KT_CHECK_INT_EQ(n, PF_MAX_PORTS);
	KT_CHECK_INT_EQ(ports[PF_MAX_PORTS - 1], PF_MAX_PORTS);
	snprintf(list + off, sizeof(list) - off, ",999");
	KT_CHECK_INT_EQ(parse(v, 1, ports, &n, err), -EINVAL);
	KT_CHECK(strstr(err, "too many ports") != NULL);
}

KT_TEST(header_dump)
{
	struct fc_http_req req;
	char out[1024];

	memset(&req, 0, sizeof(req));
	req.headers[0] = (struct fc_http_kv){"host", "127.0.0.1:6443"};
	req.headers[1] = (struct fc_http_kv){"x-stream-protocol-version", "portforward.k8s.io"};
	req.headers[2] = (struct fc_http_kv){"Authorization", "Bearer secret"};
	req.headers[3] = (struct fc_http_kv){"user-agent", "kubectl/v1.27"};
	req.headers[4] = (struct fc_http_kv){"X-Stream-Protocol-Version", "v2 \"x\""};
	req.headers[5] = (struct fc_http_kv){"content-length", "0"};
	req.nheaders = 6;
	pf_go_header_dump(&req, out, sizeof(out));
	/* Sorted canonical names, values in order, Host and Authorization left out. */
	KT_CHECK_STR_EQ(out, "http.Header{\"Content-Length\":[]string{\"0\"}, "
			     "\"User-Agent\":[]string{\"kubectl/v1.27\"}, "
			     "\"X-Stream-Protocol-Version\":[]string{\"portforward.k8s.io\", "
			     "\"v2 \\\"x\\\"\"}}");
	KT_CHECK(strstr(out, "secret") == NULL);

	req.nheaders = 0;
	pf_go_header_dump(&req, out, sizeof(out));
	KT_CHECK_STR_EQ(out, "http.Header{}");
}

KT_TEST(identities_stable_and_distinct)
{
	char a[PF_SANDBOX_ID_LEN + 1], b[PF_SANDBOX_ID_LEN + 1], u[PF_NETNS_UUID_LEN + 1];

	pf_sandbox_id("1b4e28ba-2fa1-11d2-883f-0016d3cca427", a);
	pf_sandbox_id("1b4e28ba-2fa1-11d2-883f-0016d3cca427", b);
	KT_CHECK_STR_EQ(a, b);
	KT_CHECK_INT_EQ(strlen(a), 64);
	KT_CHECK(strspn(a, "0123456789abcdef") == 64);
	pf_sandbox_id("1b4e28ba-2fa1-11d2-883f-0016d3cca428", b);
	KT_CHECK(strcmp(a, b) != 0);
	pf_netns_uuid("1b4e28ba-2fa1-11d2-883f-0016d3cca427", u);
	KT_CHECK_INT_EQ(strlen(u), 36);
	KT_CHECK(u[8] == '-' && u[13] == '-' && u[14] == '4' && u[18] == '-' && u[23] == '-');
}

KT_TEST(error_texts)
{
	const char *uid = "0f0e0d0c-0b0a-4908-8706-050403020100";
	char sb[PF_SANDBOX_ID_LEN + 1], ns[PF_NETNS_UUID_LEN + 1], want[1024], got[1024];

	pf_sandbox_id(uid, sb);
	pf_netns_uuid(uid, ns);

	pf_text_refused(got, sizeof(got), 5432, uid);
	snprintf(want, sizeof(want),
		 "error forwarding port 5432 to pod %s, uid : failed to execute portforward in "
		 "network namespace \"/var/run/netns/cni-%s\": failed to connect to "
		 "localhost:5432 inside namespace \"%s\", IPv4: dial tcp4 127.0.0.1:5432: "
		 "connect: connection refused IPv6 dial tcp6 [::1]:5432: connect: connection "
		 "refused",
		 sb, ns, sb);
	KT_CHECK_STR_EQ(got, want);

	pf_text_gone(got, sizeof(got), 80, uid);
	snprintf(want, sizeof(want),
		 "error forwarding port 80 to pod %s, uid : failed to find sandbox \"%s\" in "
		 "store: not found",
		 sb, sb);
	KT_CHECK_STR_EQ(got, want);

	pf_text_reset(got, sizeof(got), 80, uid, 41234);
	KT_CHECK(strstr(got, "read tcp4 127.0.0.1:41234->127.0.0.1:80: read: connection reset by "
			     "peer") != NULL);
	KT_CHECK(strncmp(got, "error forwarding port 80 to pod ", 32) == 0);

	pf_text_pair_timeout(got, sizeof(got), 7, "3");
	KT_CHECK(strstr(got, ", request=3) timed out waiting for streams") != NULL);
	pf_text_duplicate(got, sizeof(got), "12", true);
	KT_CHECK_STR_EQ(got,
			"error processing stream for request 12: data stream already assigned");
	pf_text_duplicate(got, sizeof(got), "12", false);
	KT_CHECK_STR_EQ(got,
			"error processing stream for request 12: error stream already assigned");

	/* A small buffer truncates but stays terminated. */
	KT_CHECK(pf_text_refused(got, 16, 80, uid) == 15);
	KT_CHECK_INT_EQ(strlen(got), 15);
}

KT_TEST_MAIN()
