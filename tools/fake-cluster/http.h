/* http.h: HTTP/1.1 request parsing and response writing for the fake API server.
 *
 * The HTTP layer is the first handler of every conn. It parses one request at a time (request line
 * and headers capped at 64 KiB, body by Content-Length capped at 8 MiB), authenticates it (client
 * certificate or bearer token, see pki.h), and dispatches it:
 *   /fake/v1/...                       → fc_faults_handle()   (admin credential only)
 *   .../namespaces/NS/pods/NAME/portforward → fc_portforward_handle()
 *   anything else                      → fc_api_handle()
 * A handler either responds (fc_http_respond*; the conn then reads the next request, keep-alive)
 * or takes the conn over with fc_conn_set_ops() (watch streams, upgrades). A request with no
 * valid credential gets a 401 Status before any dispatch.
 *
 * The request and all its strings are owned by the HTTP layer and valid only during dispatch. */
#ifndef FC_HTTP_H
#define FC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct fc_conn;
struct fc_cluster;

#define FC_HTTP_MAX_HEADERS 64
#define FC_HTTP_MAX_QUERY 32

struct fc_http_kv {
	const char *name;
	const char *value;
};

struct fc_http_req {
	const char *method;			    /* "GET", "POST", ... */
	const char *target;			    /* raw request target */
	const char *path;			    /* percent-decoded path, no query */
	struct fc_http_kv query[FC_HTTP_MAX_QUERY]; /* percent-decoded, in order */
	size_t nquery;
	struct fc_http_kv headers[FC_HTTP_MAX_HEADERS];
	size_t nheaders;
	const char *body; /* NUL-terminated copy of the body, "" if none */
	size_t body_len;
	int minor_version; /* HTTP/1.x */
	const char *user;  /* authenticated user name */
	bool admin;	   /* authenticated with the fault-injection admin credential */
};

/* Case-insensitive header lookup; first occurrence or NULL. */
const char *fc_http_header(const struct fc_http_req *req, const char *name);
/* True when a comma-separated header contains token (case-insensitive),
 * e.g. Connection: upgrade. */
bool fc_http_header_has_token(const struct fc_http_req *req, const char *name, const char *token);
/* First value of a query parameter, or NULL. */
const char *fc_http_query(const struct fc_http_req *req, const char *key);
/* Matches PREFIX{ns}/pods/{name}SUFFIX (e.g. "/api/v1/namespaces/", "/portforward") and copies
 * ns and name out; false when the path differs or a part is empty or does not fit. */
bool fc_http_match_pod_path(const char *path, const char *prefix, const char *suffix, char *ns,
			    size_t nscap, char *pod, size_t podcap);

/* Complete responses. extra_headers: NULL or "Name: value\r\n..." lines. Return 0 or -errno. */
int fc_http_respond(struct fc_conn *c, int status, const char *content_type,
		    const char *extra_headers, const void *body, size_t len);
int fc_http_respond_json(struct fc_conn *c, int status, const cJSON *body);
/* A Kubernetes metav1.Status failure object (protocol.md §5.7). details_kind/name may be NULL. */
int fc_http_respond_status(struct fc_conn *c, int code, const char *reason, const char *message,
			   const char *details_kind, const char *details_name);

/* Chunked streaming responses (watch). */
int fc_http_chunked_begin(struct fc_conn *c, int status, const char *content_type);
int fc_http_chunk(struct fc_conn *c, const void *p, size_t len);
int fc_http_chunked_end(struct fc_conn *c);

/* Install the HTTP handler on a new conn (used by the server). */
void fc_http_attach(struct fc_conn *c);
/* Give a conn back to the HTTP layer after a handler that took it over is done (keep-alive). */
void fc_http_resume(struct fc_conn *c);

/* --- Additions: the request parser on its own, for http.c, tests and the fuzzer. --- */

#define FC_HTTP_MAX_HEAD (64u * 1024)
#define FC_HTTP_MAX_BODY (8u * 1024 * 1024)

/* One parsed request and the storage its strings live in. */
struct fc_http_parsed {
	struct fc_http_req req; /* user and admin are left NULL/false */
	char *store;		/* owned: the head's strings */
	char *body_store;	/* owned: the body, NUL-terminated */
	size_t head_len;	/* once the head is complete: its length, else 0 */
	size_t total_len;	/* once the head is complete: head plus body */
	bool expect_continue;	/* the head asked for "Expect: 100-continue" */
	int error_status;	/* after a failure: the HTTP status to answer with */
	const char *error;	/* after a failure: why (static text) */
};

/* Parses the request at the start of p/n (request line, headers, Content-Length body; leading
 * empty lines are skipped, as RFC 9112 section 2.2 allows). Returns its length in bytes when it
 * is complete, 0 when more bytes are needed (head_len/total_len tell how many once the head is
 * there), or -EINVAL / -EMSGSIZE / -ENOMEM with error_status set: 400 malformed, 411 chunked
 * body, 413 body over FC_HTTP_MAX_BODY, 431 head over FC_HTTP_MAX_HEAD or too many headers,
 * 501 other transfer codings, 505 not HTTP/1.x. Call fc_http_parsed_fini() after any return. */
int fc_http_parse(const uint8_t *p, size_t n, struct fc_http_parsed *out);
void fc_http_parsed_fini(struct fc_http_parsed *out);
/* Reason phrase of a status code ("Not Found"), "Unknown" for codes it does not know. */
const char *fc_http_reason(int status);

#endif
