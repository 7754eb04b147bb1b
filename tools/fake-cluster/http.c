/* http.c: HTTP/1.1 requests and responses of the fake API server (see http.h).
 *
 * Parsing (fc_http_parse) is a pure function: it copies the head into its own storage,
 * NUL-terminates the pieces there and percent-decodes path and query into a second area, so
 * the conn's input buffer is never modified and the request stays valid while a dispatch is
 * delayed by the API-latency fault. The per-conn handler state (struct http) lives while the
 * HTTP layer is the conn's handler: it is freed in on_close, or right after a dispatch that
 * handed the conn to another handler; fc_http_resume() makes a fresh one. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "cluster.h"
#include "conn.h"
#include "faults.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "portforward.h"
#include "server.h"

/* ------------------------------------------------------------------------------------------ */
/* Parser                                                                                      */

/* RFC 9110 section 5.6.2: token characters. */
static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Bump allocator over the decoded-strings area of the store. */
struct arena {
	char *p;
	size_t cap, off;
};

/* Percent-decodes src[0..n) into the arena as a NUL-terminated string; '+' becomes a space
 * when plus_space (query strings, as Go's url.ParseQuery does). NULL on a bad escape, a
 * decoded NUL, or no room. */
static const char *decode(struct arena *a, const char *src, size_t n, bool plus_space)
{
	if (n + 1 > a->cap - a->off)
		return NULL;
	char *out = a->p + a->off, *w = out;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return NULL;
			int hi = hexval((unsigned char)src[i + 1]),
			    lo = hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return NULL;
			*w++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (ch == '+' && plus_space) {
			*w++ = ' ';
		} else {
			*w++ = (char)ch;
		}
	}
	*w++ = '\0';
	a->off += (size_t)(w - out);
	return out;
}

static int fail(struct fc_http_parsed *out, int status, const char *why, int err)
{
	out->error_status = status;
	out->error = why;
	return err;
}

/* Finds the end of the head: the byte after the empty line. 0 if not in p[0..n). */
static size_t find_head_end(const uint8_t *p, size_t n)
{
	const uint8_t *s = p, *end = p + n;
	while (s < end) {
		const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl || nl + 1 >= end)
			return 0;
		if (nl[1] == '\n')
			return (size_t)(nl + 2 - p);
		if (nl[1] == '\r') {
			if (nl + 2 >= end)
				return 0;
			if (nl[2] == '\n')
				return (size_t)(nl + 3 - p);
		}
		s = nl + 1;
	}
	return 0;
}

/* Splits the next line off [*pos, end) (without its CRLF or LF) and NUL-terminates it. */
static char *next_line(char **pos, char *end)
{
	char *s = *pos;
	char *nl = memchr(s, '\n', (size_t)(end - s));
	if (!nl)
		return NULL;
	*pos = nl + 1;
	if (nl > s && nl[-1] == '\r')
		nl--;
	*nl = '\0';
	return s;
}

static int parse_request_line(char *line, struct fc_http_parsed *out)
{
	struct fc_http_req *req = &out->req;
	char *sp1 = strchr(line, ' ');
	if (!sp1 || sp1 == line)
		return fail(out, 400, "malformed request line", -EINVAL);
	*sp1 = '\0';
	for (const char *m = line; *m; m++)
		if (!is_tchar((unsigned char)*m))
			return fail(out, 400, "malformed method", -EINVAL);
	char *target = sp1 + 1;
	char *sp2 = strchr(target, ' ');
	if (!sp2 || sp2 == target)
		return fail(out, 400, "malformed request line", -EINVAL);
	*sp2 = '\0';
	const char *ver = sp2 + 1;
	if (strncmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
	    ver[7] < '0' || ver[7] > '9' || ver[8] != '\0')
		return fail(out, 400, "malformed HTTP version", -EINVAL);
	if (ver[5] != '1')
		return fail(out, 505, "only HTTP/1.x is served", -EINVAL);
	for (const unsigned char *t = (const unsigned char *)target; *t; t++)
		if (*t <= ' ' || *t == 0x7f)
			return fail(out, 400, "malformed request target", -EINVAL);
	req->method = line;
	req->target = target;
	req->minor_version = ver[7] - '0';
	return 0;
}

/* Splits target into path and query, percent-decoded into the arena. */
static int parse_target(struct arena *a, struct fc_http_parsed *out)
{
	struct fc_http_req *req = &out->req;
	const char *t = req->target;
	/* RFC 9112 section 3.2.2: a server must accept the absolute form too. */
	if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
		const char *auth = strstr(t, "://") + 3;
		const char *slash = strpbrk(auth, "/?");
		t = slash ? slash : "/";
	}
	if (t[0] != '/')
		return fail(out, 400, "request target must be a path", -EINVAL);
	size_t tlen = strcspn(t, "#");
	size_t plen = strcspn(t, "?#");
	req->path = decode(a, t, plen, false);
	if (!req->path)
		return fail(out, 400, "malformed path escape", -EINVAL);
	if (plen >= tlen)
		return 0;
	const char *q = t + plen + 1, *qend = t + tlen;
	while (q < qend) {
		const char *amp = memchr(q, '&', (size_t)(qend - q));
		const char *seg_end = amp ? amp : qend;
		if (seg_end > q) {
			if (req->nquery == FC_HTTP_MAX_QUERY)
				return fail(out, 400, "too many query parameters", -EINVAL);
			const char *eq = memchr(q, '=', (size_t)(seg_end - q));
			const char *kend = eq ? eq : seg_end;
			struct fc_http_kv *kv = &req->query[req->nquery];
			kv->name = decode(a, q, (size_t)(kend - q), true);
			kv->value = eq ? decode(a, eq + 1, (size_t)(seg_end - eq - 1), true) : "";
			if (!kv->name || !kv->value)
				return fail(out, 400, "malformed query escape", -EINVAL);
			req->nquery++;
		}
		q = seg_end + (amp ? 1 : 0);
	}
	return 0;
}

static int parse_content_length(const char *v, size_t *len, struct fc_http_parsed *out)
{
	if (!*v)
		return fail(out, 400, "malformed Content-Length", -EINVAL);
	size_t n = 0;
	for (const char *s = v; *s; s++) {
		if (*s < '0' || *s > '9')
			return fail(out, 400, "malformed Content-Length", -EINVAL);
		if (n > FC_HTTP_MAX_BODY)
			return fail(out, 413, "request body too large", -EMSGSIZE);
		n = n * 10 + (size_t)(*s - '0');
	}
	if (n > FC_HTTP_MAX_BODY)
		return fail(out, 413, "request body too large", -EMSGSIZE);
	*len = n;
	return 0;
}

static int parse_headers(char **pos, char *end, size_t *clen, struct fc_http_parsed *out)
{
	struct fc_http_req *req = &out->req;
	bool have_cl = false, have_te = false, chunked = false;
	char *line;
	while ((line = next_line(pos, end)) != NULL && *line) {
		if (*line == ' ' || *line == '\t')
			return fail(out, 400, "obsolete header line folding", -EINVAL);
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			return fail(out, 400, "malformed header line", -EINVAL);
		*colon = '\0';
		for (const char *s = line; *s; s++)
			if (!is_tchar((unsigned char)*s))
				return fail(out, 400, "malformed header name", -EINVAL);
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *ve = v + strlen(v);
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		*ve = '\0';
		for (const unsigned char *s = (const unsigned char *)v; *s; s++)
			if ((*s < ' ' && *s != '\t') || *s == 0x7f)
				return fail(out, 400, "control character in a header value",
					    -EINVAL);
		if (req->nheaders == FC_HTTP_MAX_HEADERS)
			return fail(out, 431, "too many header fields", -EMSGSIZE);
		req->headers[req->nheaders++] = (struct fc_http_kv){line, v};
		if (strcasecmp(line, "Content-Length") == 0) {
			size_t n;
			int r = parse_content_length(v, &n, out);
			if (r < 0)
				return r;
			if (have_cl && n != *clen)
				return fail(out, 400, "conflicting Content-Length", -EINVAL);
			have_cl = true;
			*clen = n;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			have_te = true;
			if (fc_http_header_has_token(req, "Transfer-Encoding", "chunked"))
				chunked = true;
		} else if (strcasecmp(line, "Expect") == 0 && strcasecmp(v, "100-continue") == 0) {
			out->expect_continue = true;
		}
	}
	if (have_te && have_cl)
		return fail(out, 400, "both Transfer-Encoding and Content-Length", -EINVAL);
	/* A chunked request body is legal HTTP/1.1, but no client of this server sends one. */
	if (chunked)
		return fail(out, 411, "chunked request bodies are not supported", -EINVAL);
	if (have_te)
		return fail(out, 501, "unsupported transfer coding", -EINVAL);
	return 0;
}

int fc_http_parse(const uint8_t *p, size_t n, struct fc_http_parsed *out)
{
	*out = (struct fc_http_parsed){0};
	out->req.body = "";
	size_t skip = 0;
	while (skip < n && (p[skip] == '\r' || p[skip] == '\n'))
		skip++;
	if (skip > 8)
		return fail(out, 400, "empty lines before the request", -EINVAL);
	const uint8_t *h = p + skip;
	size_t avail = n - skip;
	size_t hl = find_head_end(h, avail < FC_HTTP_MAX_HEAD ? avail : FC_HTTP_MAX_HEAD);
	if (hl == 0)
		return avail >= FC_HTTP_MAX_HEAD
			   ? fail(out, 431, "request head too large", -EMSGSIZE)
			   : 0;
	if (memchr(h, '\0', hl))
		return fail(out, 400, "NUL byte in the request head", -EINVAL);
	/* Area 1: the head, split in place. Area 2: decoded path and query (never longer than
	 * the target plus one NUL per string). */
	size_t area2 = hl + 2 * FC_HTTP_MAX_QUERY + 8;
	out->store = malloc(hl + 1 + area2);
	if (!out->store)
		return fail(out, 500, "out of memory", -ENOMEM);
	memcpy(out->store, h, hl);
	out->store[hl] = '\0';
	struct arena a = {out->store + hl + 1, area2, 0};

	char *pos = out->store, *end = out->store + hl;
	char *line = next_line(&pos, end);
	if (!line)
		return fail(out, 400, "malformed request line", -EINVAL);
	int r = parse_request_line(line, out);
	if (r < 0)
		return r;
	size_t clen = 0;
	r = parse_headers(&pos, end, &clen, out);
	if (r < 0)
		return r;
	r = parse_target(&a, out);
	if (r < 0)
		return r;

	out->head_len = skip + hl;
	out->total_len = skip + hl + clen;
	if (n < out->total_len)
		return 0;
	if (clen > 0) {
		out->body_store = malloc(clen + 1);
		if (!out->body_store)
			return fail(out, 500, "out of memory", -ENOMEM);
		memcpy(out->body_store, h + hl, clen);
		out->body_store[clen] = '\0';
		out->req.body = out->body_store;
		out->req.body_len = clen;
	}
	return (int)out->total_len;
}

void fc_http_parsed_fini(struct fc_http_parsed *out)
{
	if (!out)
		return;
	free(out->store);
	free(out->body_store);
	out->store = NULL;
	out->body_store = NULL;
}

const char *fc_http_header(const struct fc_http_req *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

bool fc_http_header_has_token(const struct fc_http_req *req, const char *name, const char *token)
{
	size_t tl = strlen(token);
	for (size_t i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, name) != 0)
			continue;
		const char *s = req->headers[i].value;
		while (*s) {
			while (*s == ' ' || *s == '\t' || *s == ',')
				s++;
			const char *e = s + strcspn(s, ",");
			const char *te = e;
			while (te > s && (te[-1] == ' ' || te[-1] == '\t'))
				te--;
			if ((size_t)(te - s) == tl && strncasecmp(s, token, tl) == 0)
				return true;
			s = e;
		}
	}
	return false;
}

const char *fc_http_query(const struct fc_http_req *req, const char *key)
{
	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].name, key) == 0)
			return req->query[i].value;
	return NULL;
}

const char *fc_http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Per-conn HTTP handler                                                                       */

enum route { ROUTE_API, ROUTE_PORTFORWARD, ROUTE_FAULTS };

struct http {
	struct fc_conn *c;
	struct fc_cluster *cl;
	struct fc_http_parsed msg; /* the request being dispatched (or delayed) */
	bool have_msg;
	size_t need;	    /* re-parse only once this many bytes are buffered */
	bool sent_continue; /* "100 Continue" already sent for the request in flight */
	bool responded;
	bool close_after; /* the client asked to close after this response */
	bool head_only;	  /* HEAD: headers without the body */
	enum route route;
	char pf_ns[256], pf_pod[256];
	struct fc_timer *delay; /* API-latency fault */
};

static size_t http_on_data(void *hv, struct fc_conn *c, const uint8_t *p, size_t n);
static void http_on_close(void *hv, struct fc_conn *c);

static const struct fc_conn_ops http_ops = {
    .on_data = http_on_data,
    .on_drain = NULL,
    .on_close = http_on_close,
};

static void http_free(struct http *h)
{
	if (!h)
		return;
	fc_loop_timer_cancel(h->cl->loop, h->delay);
	fc_http_parsed_fini(&h->msg);
	free(h);
}

static struct http *http_new(struct fc_conn *c)
{
	struct http *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->c = c;
	h->cl = fc_conn_cluster(c);
	return h;
}

static void install(struct fc_conn *c)
{
	struct http *h = http_new(c);
	if (!h) {
		kt_log_warnx("conn %llu: out of memory", (unsigned long long)fc_conn_id(c));
		fc_conn_abort(c);
		return;
	}
	fc_conn_set_ops(c, &http_ops, h);
}

void fc_http_attach(struct fc_conn *c)
{
	install(c);
}

void fc_http_resume(struct fc_conn *c)
{
	install(c);
}

static void http_on_close(void *hv, struct fc_conn *c)
{
	(void)c;
	http_free(hv);
}

/* --- responses --- */

static void audit(const struct http *h, int status)
{
	if (!h || !h->have_msg || kt_log_verbosity() < 1)
		return;
	const struct fc_http_req *req = &h->msg.req;
	kt_log_debug("%s %s %s %d user=%s", fc_conn_peer(h->c), req->method, req->path, status,
		     req->user ? req->user : "-");
}

/* Status line and the headers every response carries. */
static int send_head(struct fc_conn *c, struct http *h, int status, const char *content_type,
		     const char *extra)
{
	char date[64] = "";
	time_t now = time(NULL);
	struct tm tm;
	if (gmtime_r(&now, &tm))
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	char head[512];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nDate: %s\r\n%s",
			 status, fc_http_reason(status), content_type ? content_type : "text/plain",
			 date, h && h->close_after ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	int r = fc_conn_send(c, head, (size_t)n);
	if (r == 0 && extra && *extra)
		r = fc_conn_send(c, extra, strlen(extra));
	return r;
}

int fc_http_respond(struct fc_conn *c, int status, const char *content_type,
		    const char *extra_headers, const void *body, size_t len)
{
	struct http *h = fc_conn_handler(c, &http_ops);
	if (h) {
		h->responded = true;
		audit(h, status);
	}
	int r = send_head(c, h, status, content_type, extra_headers);
	if (r < 0)
		return r;
	char cl[64];
	int n = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", len);
	r = fc_conn_send(c, cl, (size_t)n);
	if (r == 0 && len > 0 && !(h && h->head_only))
		r = fc_conn_send(c, body, len);
	return r;
}

int fc_http_respond_json(struct fc_conn *c, int status, const cJSON *body)
{
	char *s = cJSON_PrintUnformatted(body);
	if (!s)
		return -ENOMEM;
	int r = fc_http_respond(c, status, "application/json", NULL, s, strlen(s));
	cJSON_free(s);
	return r;
}

int fc_http_respond_status(struct fc_conn *c, int code, const char *reason, const char *message,
			   const char *details_kind, const char *details_name)
{
	/* protocol.md section 5.7: a metav1.Status; code repeats the HTTP status. */
	cJSON *st = cJSON_CreateObject();
	if (!st)
		return -ENOMEM;
	cJSON_AddStringToObject(st, "kind", "Status");
	cJSON_AddStringToObject(st, "apiVersion", "v1");
	cJSON_AddItemToObject(st, "metadata", cJSON_CreateObject());
	cJSON_AddStringToObject(st, "status", code >= 200 && code < 300 ? "Success" : "Failure");
	if (message)
		cJSON_AddStringToObject(st, "message", message);
	if (reason)
		cJSON_AddStringToObject(st, "reason", reason);
	if (details_kind || details_name) {
		cJSON *d = cJSON_AddObjectToObject(st, "details");
		if (d && details_name)
			cJSON_AddStringToObject(d, "name", details_name);
		if (d && details_kind)
			cJSON_AddStringToObject(d, "kind", details_kind);
	}
	cJSON_AddNumberToObject(st, "code", code);
	int r = fc_http_respond_json(c, code, st);
	cJSON_Delete(st);
	return r;
}

int fc_http_chunked_begin(struct fc_conn *c, int status, const char *content_type)
{
	struct http *h = fc_conn_handler(c, &http_ops);
	if (h) {
		h->responded = true;
		audit(h, status);
	}
	int r = send_head(c, h, status, content_type, NULL);
	static const char te[] = "Transfer-Encoding: chunked\r\n\r\n";
	if (r == 0)
		r = fc_conn_send(c, te, sizeof(te) - 1);
	return r;
}

int fc_http_chunk(struct fc_conn *c, const void *p, size_t len)
{
	if (len == 0)
		return 0; /* a zero-length chunk would end the stream */
	char size[32];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	int r = fc_conn_send(c, size, (size_t)n);
	if (r == 0)
		r = fc_conn_send(c, p, len);
	if (r == 0)
		r = fc_conn_send(c, "\r\n", 2);
	return r;
}

int fc_http_chunked_end(struct fc_conn *c)
{
	return fc_conn_send(c, "0\r\n\r\n", 5);
}

/* --- dispatch --- */

bool fc_http_match_pod_path(const char *path, const char *prefix, const char *suffix, char *ns,
			    size_t nscap, char *pod, size_t podcap)
{
	size_t plen = strlen(prefix);

	if (strncmp(path, prefix, plen) != 0)
		return false;
	const char *s = path + plen;
	const char *e = strchr(s, '/');
	if (!e || e == s || (size_t)(e - s) >= nscap || strncmp(e, "/pods/", 6) != 0)
		return false;
	const char *p = e + 6;
	const char *pe = strchr(p, '/');
	if (!pe || pe == p || (size_t)(pe - p) >= podcap || strcmp(pe, suffix) != 0)
		return false;
	memcpy(ns, s, (size_t)(e - s));
	ns[e - s] = '\0';
	memcpy(pod, p, (size_t)(pe - p));
	pod[pe - p] = '\0';
	return true;
}

/* Runs the handler of the current request; afterwards h may have been handed over (freed). */
static void dispatch(struct http *h)
{
	struct fc_conn *c = h->c;
	struct fc_cluster *cl = h->cl;
	const struct fc_http_req *req = &h->msg.req;
	h->responded = false;
	switch (h->route) {
	case ROUTE_FAULTS:
		fc_faults_handle(cl, c, req);
		break;
	case ROUTE_PORTFORWARD:
		fc_portforward_handle(cl, c, req, h->pf_ns, h->pf_pod);
		break;
	case ROUTE_API:
		fc_api_handle(cl, c, req);
		break;
	}
	if (fc_conn_handler(c, &http_ops) != h) {
		/* Another handler took the conn (watch, upgrade), or took it and gave it back to a
		 * fresh HTTP state already. This request is done either way. */
		if (!h->responded)
			audit(h, 101);
		http_free(h);
		return;
	}
	if (!h->responded && !fc_conn_closing(c)) {
		kt_log_warnx("%s %s: handler neither answered nor took the connection", req->method,
			     req->path);
		h->close_after = true;
		fc_http_respond_status(c, 500, "InternalError", "internal error: no response", NULL,
				       NULL);
	}
	bool close_after = h->close_after;
	fc_http_parsed_fini(&h->msg);
	h->have_msg = false;
	h->close_after = false;
	h->head_only = false;
	if (close_after)
		fc_conn_close(c);
}

static void delay_done(void *arg)
{
	struct http *h = arg;
	h->delay = NULL;
	/* Resume first: whichever handler owns the conn after dispatch gets the buffered rest. */
	fc_conn_pause(h->c, false);
	dispatch(h);
}

static bool wants_close(const struct fc_http_req *req)
{
	if (fc_http_header_has_token(req, "Connection", "close"))
		return true;
	/* HTTP/1.0 closes unless the client asked for keep-alive (RFC 9112 section 9.3). */
	return req->minor_version == 0 &&
	       !fc_http_header_has_token(req, "Connection", "keep-alive");
}

static size_t http_on_data(void *hv, struct fc_conn *c, const uint8_t *p, size_t n)
{
	struct http *h = hv;
	if (h->delay || h->have_msg || n < h->need)
		return 0;
	struct fc_http_parsed m;
	int r = fc_http_parse(p, n, &m);
	if (r == 0) {
		h->need = m.total_len;
		if (m.expect_continue && m.head_len && !h->sent_continue) {
			h->sent_continue = true;
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			fc_conn_send(c, cont, sizeof(cont) - 1);
		}
		fc_http_parsed_fini(&m);
		return 0;
	}
	h->need = 0;
	h->sent_continue = false;
	if (r < 0) {
		kt_log_debug("%s: bad request: %s", fc_conn_peer(c), m.error ? m.error : "?");
		fc_http_parsed_fini(&m);
		h->close_after = true;
		fc_http_respond_status(c, m.error_status ? m.error_status : 400, "BadRequest",
				       m.error ? m.error : "bad request", NULL, NULL);
		fc_conn_close(c);
		return n;
	}
	h->msg = m;
	h->have_msg = true;
	struct fc_http_req *req = &h->msg.req;
	h->close_after = wants_close(req);
	h->head_only = strcmp(req->method, "HEAD") == 0;
	if (h->cl->server)
		fc_server_stats(h->cl->server)->requests++;

	bool admin = false;
	const char *user = fc_pki_authenticate(h->cl->pki, fc_conn_ssl(c),
					       fc_http_header(req, "Authorization"), &admin);
	if (!user) {
		fc_http_respond_status(c, 401, "Unauthorized", "Unauthorized", NULL, NULL);
		bool close_after = h->close_after;
		fc_http_parsed_fini(&h->msg);
		h->have_msg = false;
		h->close_after = false;
		if (close_after)
			fc_conn_close(c);
		return (size_t)r;
	}
	req->user = user;
	req->admin = admin;

	if (strcmp(req->path, "/fake/v1") == 0 || strncmp(req->path, "/fake/v1/", 9) == 0)
		h->route = ROUTE_FAULTS;
	else if (fc_http_match_pod_path(req->path, "/api/v1/namespaces/", "/portforward", h->pf_ns,
					sizeof(h->pf_ns), h->pf_pod, sizeof(h->pf_pod)))
		h->route = ROUTE_PORTFORWARD;
	else
		h->route = ROUTE_API;

	uint64_t lat = h->cl->faults.api_latency_ms;
	if (h->route == ROUTE_API && lat > 0) {
		h->delay = fc_loop_timer(h->cl->loop, lat, delay_done, h);
		if (h->delay) {
			fc_conn_pause(c, true);
			return (size_t)r;
		}
	}
	dispatch(h);
	return (size_t)r;
}
