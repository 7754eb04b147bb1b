/* pf_util.c: pure helpers of the port-forward module (see pf_util.h).
 *
 * Every function writes into caller-owned memory with explicit bounds and never allocates,
 * except pf_go_header_dump(), which sorts a small index array on the stack. Texts follow the
 * Go sources named at each function; where we had to choose a wording the comment says so. */
#include "pf_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "http.h"

int pf_go_parse_u16(const char *s, size_t len, uint16_t *out)
{
	/* strconv.ParseUint: empty is a syntax error; each character must be a digit (checked
	 * first), then the value must stay within the bit size (checked after each digit). */
	uint32_t n = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		n = n * 10 + (uint32_t)(c - '0');
		if (n > 0xffff)
			return -ERANGE;
	}
	*out = (uint16_t)n;
	return 0;
}

/* Appends formatted text at *off, keeping out NUL-terminated and never past cap. */
static void put(char *out, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *out, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (cap == 0 || *off >= cap - 1)
		return;
	va_start(ap, fmt);
	r = vsnprintf(out + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	*off += (size_t)r < cap - *off ? (size_t)r : cap - *off - 1;
}

size_t pf_go_quote(const char *s, size_t len, char *out, size_t cap)
{
	size_t off = 0;

	put(out, cap, &off, "\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			put(out, cap, &off, "\\\"");
			break;
		case '\\':
			put(out, cap, &off, "\\\\");
			break;
		case '\a':
			put(out, cap, &off, "\\a");
			break;
		case '\b':
			put(out, cap, &off, "\\b");
			break;
		case '\f':
			put(out, cap, &off, "\\f");
			break;
		case '\n':
			put(out, cap, &off, "\\n");
			break;
		case '\r':
			put(out, cap, &off, "\\r");
			break;
		case '\t':
			put(out, cap, &off, "\\t");
			break;
		case '\v':
			put(out, cap, &off, "\\v");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				put(out, cap, &off, "\\x%02x", c);
			else
				put(out, cap, &off, "%c", c);
		}
	}
	put(out, cap, &off, "\"");
	return off;
}

int pf_parse_ports(const char *const *values, size_t nvalues, uint16_t ports[PF_MAX_PORTS],
		   size_t *n, char *err, size_t errcap)
{
	char qv[160], qi[160];
	size_t count = 0;

	if (nvalues == 0) {
		snprintf(err, errcap, "query parameter \"port\" is required");
		return -EINVAL;
	}
	for (size_t v = 0; v < nvalues; v++) {
		const char *val = values[v];
		size_t vlen = strlen(val);

		if (vlen == 0) {
			snprintf(err, errcap, "query parameter \"port\" cannot be empty");
			return -EINVAL;
		}
		/* strings.Split(value, ","): n commas give n+1 items, empty items included. */
		const char *item = val;
		for (;;) {
			const char *comma = memchr(item, ',', vlen - (size_t)(item - val));
			size_t ilen = comma ? (size_t)(comma - item) : vlen - (size_t)(item - val);
			uint16_t port;
			int r = pf_go_parse_u16(item, ilen, &port);

			if (r < 0) {
				pf_go_quote(val, vlen, qv, sizeof(qv));
				pf_go_quote(item, ilen, qi, sizeof(qi));
				snprintf(err, errcap,
					 "unable to parse %s as a port: strconv.ParseUint: parsing "
					 "%s: %s",
					 qv, qi,
					 r == -ERANGE ? "value out of range" : "invalid syntax");
				return -EINVAL;
			}
			if (port < 1) {
				pf_go_quote(val, vlen, qv, sizeof(qv));
				snprintf(err, errcap, "port %s must be > 0", qv);
				return -EINVAL;
			}
			if (count == PF_MAX_PORTS) {
				snprintf(
				    err, errcap,
				    "too many ports: at most %d ports fit the channel numbering",
				    PF_MAX_PORTS);
				return -EINVAL;
			}
			ports[count++] = port;
			if (!comma)
				break;
			item = comma + 1;
		}
	}
	*n = count;
	return 0;
}

/* textproto.CanonicalMIMEHeaderKey: upper-case the first letter and every letter after '-',
 * lower-case the rest. (Go leaves keys with spaces or other invalid bytes unchanged; the HTTP
 * layer has already rejected those.) */
static void canonical_name(const char *in, char *out, size_t cap)
{
	bool upper = true;
	size_t i = 0;

	for (; in[i] && i + 1 < cap; i++) {
		char c = in[i];
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] = c;
		upper = c == '-';
	}
	out[i] = '\0';
}

size_t pf_go_header_dump(const struct fc_http_req *req, char *out, size_t cap)
{
	char names[FC_HTTP_MAX_HEADERS][64];
	size_t order[FC_HTTP_MAX_HEADERS]; /* index of the first header of each distinct name */
	size_t nd = 0, off = 0;

	for (size_t i = 0; i < req->nheaders && i < FC_HTTP_MAX_HEADERS; i++) {
		const char *name = req->headers[i].name;
		bool seen = false;

		canonical_name(name, names[i], sizeof(names[i]));
		if (strcasecmp(name, "host") == 0 || strcasecmp(name, "authorization") == 0)
			continue;
		for (size_t j = 0; j < nd; j++)
			if (strcmp(names[order[j]], names[i]) == 0)
				seen = true;
		if (!seen)
			order[nd++] = i;
	}
	/* fmt prints map keys sorted (insertion sort: at most 64 names). */
	for (size_t a = 1; a < nd; a++) {
		size_t k = order[a], b = a;
		while (b > 0 && strcmp(names[order[b - 1]], names[k]) > 0) {
			order[b] = order[b - 1];
			b--;
		}
		order[b] = k;
	}
	put(out, cap, &off, "http.Header{");
	for (size_t a = 0; a < nd; a++) {
		const char *nm = names[order[a]];
		char q[512];
		bool first = true;

		pf_go_quote(nm, strlen(nm), q, sizeof(q));
		put(out, cap, &off, "%s%s:[]string{", a ? ", " : "", q);
		for (size_t i = order[a]; i < req->nheaders && i < FC_HTTP_MAX_HEADERS; i++) {
			const char *v = req->headers[i].value;
			if (strcmp(names[i], nm) != 0)
				continue;
			pf_go_quote(v, strlen(v), q, sizeof(q));
			put(out, cap, &off, "%s%s", first ? "" : ", ", q);
			first = false;
		}
		put(out, cap, &off, "}");
	}
	put(out, cap, &off, "}");
	if (cap && off == 0)
		out[0] = '\0';
	return off;
}

/* Hex of SHA-256(label || uid): stable per uid, different per label. */
static void uid_digest(const char *label, const char *uid, unsigned char md[SHA256_DIGEST_LENGTH])
{
	char in[320];
	int n = snprintf(in, sizeof(in), "%s%s", label, uid);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(in) ? (size_t)n : sizeof(in) - 1;

	if (!EVP_Digest(in, len, md, NULL, EVP_sha256(), NULL))
		memset(md, 0, SHA256_DIGEST_LENGTH);
}

void pf_sandbox_id(const char *uid, char out[PF_SANDBOX_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	uid_digest("kubetun-fake-sandbox:", uid, md);
	for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[PF_SANDBOX_ID_LEN] = '\0';
}

void pf_netns_uuid(const char *uid, char out[PF_NETNS_UUID_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	uid_digest("kubetun-fake-netns:", uid, md);
	/* Shape of a random (version 4) UUID, as the CNI plugins name network namespaces. */
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x40);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	snprintf(out, PF_NETNS_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
		 md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
		 md[12], md[13], md[14], md[15]);
}

size_t pf_text_refused(char *out, size_t cap, uint16_t port, const char *uid)
{
	char sb[PF_SANDBOX_ID_LEN + 1], ns[PF_NETNS_UUID_LEN + 1];
	size_t off = 0;

	pf_sandbox_id(uid, sb);
	pf_netns_uuid(uid, ns);
	/* containerd's wording (protocol.md 1.6, example from kubernetes/kubernetes#113568). */
	put(out, cap, &off,
	    "error forwarding port %u to pod %s, uid : failed to execute portforward in network "
	    "namespace \"/var/run/netns/cni-%s\": failed to connect to localhost:%u inside "
	    "namespace \"%s\", IPv4: dial tcp4 127.0.0.1:%u: connect: connection refused IPv6 "
	    "dial tcp6 [::1]:%u: connect: connection refused",
	    port, sb, ns, port, sb, port, port);
	return off;
}

size_t pf_text_gone(char *out, size_t cap, uint16_t port, const char *uid)
{
	char sb[PF_SANDBOX_ID_LEN + 1];
	size_t off = 0;

	pf_sandbox_id(uid, sb);
	put(out, cap, &off,
	    "error forwarding port %u to pod %s, uid : failed to find sandbox \"%s\" in store: "
	    "not found",
	    port, sb, sb);
	return off;
}

size_t pf_text_reset(char *out, size_t cap, uint16_t port, const char *uid, uint16_t local_port)
{
	char sb[PF_SANDBOX_ID_LEN + 1], ns[PF_NETNS_UUID_LEN + 1];
	size_t off = 0;

	pf_sandbox_id(uid, sb);
	pf_netns_uuid(uid, ns);
	/* Go's net error for a read on a reset TCP connection, wrapped by containerd. */
	put(out, cap, &off,
	    "error forwarding port %u to pod %s, uid : failed to execute portforward in network "
	    "namespace \"/var/run/netns/cni-%s\": read tcp4 127.0.0.1:%u->127.0.0.1:%u: read: "
	    "connection reset by peer",
	    port, sb, ns, local_port, port);
	return off;
}

size_t pf_text_pair_timeout(char *out, size_t cap, uint64_t conn_id, const char *request_id)
{
	size_t off = 0;

	/* The kubelet prints its connection object with %v; we print the conn's id instead. */
	put(out, cap, &off, "(conn=&{%llu}, request=%s) timed out waiting for streams",
	    (unsigned long long)conn_id, request_id);
	return off;
}

size_t pf_text_duplicate(char *out, size_t cap, const char *request_id, bool data)
{
	size_t off = 0;

	put(out, cap, &off, "error processing stream for request %s: %s stream already assigned",
	    request_id, data ? "data" : "error");
	return off;
}
