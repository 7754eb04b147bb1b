/* control.h: kubetund's control socket: a UNIX stream socket speaking versioned JSON.
 *
 * Wire format (docs/CONTROL.md documents it for users of `kubetun status --json`): the client
 * sends one request, a JSON object terminated by "\n", at most KT_CONTROL_MAX_REQUEST bytes:
 *   {"version":1,"command":"status"}
 *   {"version":1,"command":"forward.add","target":"svc/web","namespace":"shop","ports":[80]}
 *   {"version":1,"command":"forward.rm","name":"web.shop.svc.cluster.local:80"}
 *   {"version":1,"command":"forward.ls"}      {"version":1,"command":"shutdown"}
 * and gets one reply line: {"version":1,"ok":true,"result":{...}} or
 * {"version":1,"ok":false,"error":"one line"}. Several requests may follow on one connection.
 * A malformed, oversized or half-sent request gets an error reply (or a timeout close) and the
 * daemon carries on. The socket is created with mode 0660 and group `kubetun` when that group
 * exists, else 0600; its directory is created 0755 if missing. */
#ifndef KT_CONTROL_H
#define KT_CONTROL_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#define KT_CONTROL_VERSION 1
#define KT_CONTROL_MAX_REQUEST (64 * 1024)
#define KT_CONTROL_DEFAULT_PATH "/run/kubetun/kubetund.sock"

struct kt_evloop;
struct kt_control;

/* The daemon's side. A handler returns the result object (ownership passes to the control
 * module) or NULL with a one-line message in err. req is the whole request object. */
typedef cJSON *(*kt_control_fn)(void *arg, const cJSON *req, char *err, size_t errcap);

struct kt_control_command {
	const char *name; /* "status", "forward.add", ... */
	kt_control_fn fn;
};

struct kt_control *kt_control_new(struct kt_evloop *loop, const char *path,
				  const struct kt_control_command *commands, size_t ncommands,
				  void *arg, char *err, size_t errcap);
void kt_control_free(struct kt_control *c); /* closes every client, unlinks the socket */

/* Client side (the CLI): one request, one reply. Returns the reply object or NULL with err. */
cJSON *kt_control_call(const char *path, const cJSON *request, int timeout_ms, char *err,
		       size_t errcap);

/* ---- Additions (control.c): limits, the server's behaviour, pure helpers. ---- */

/* A reply line (JSON + "\n") is at most this long; a larger result is replaced by the error
 * reply "reply too large". The client refuses longer replies the same way. */
#define KT_CONTROL_MAX_REPLY (16 * 1024 * 1024)
/* Connections served at once; the next one gets the error reply "too many clients" and is
 * closed. */
#define KT_CONTROL_MAX_CLIENTS 64
/* A request must be complete within this long of its first byte (or, when it came in behind
 * the previous request, of that one's end), and a pending reply must make progress within this
 * long, or the connection is closed (a half-sent request first gets "request timed out"). */
#define KT_CONTROL_REQUEST_TIMEOUT_MS 5000
/* A connection with nothing pending is closed after this long. */
#define KT_CONTROL_IDLE_TIMEOUT_MS 60000

/* Handlers must not call kt_control_free() (to shut down, stop the loop and free the control
 * object after kt_evloop_run returns: pending replies are flushed best-effort then). The
 * commands array and its names must outlive the control object. */

/* Parses one request line (without its "\n"; a trailing "\r" is tolerated): a JSON object with
 * "version" KT_CONTROL_VERSION and a string "command". Returns the object (the caller frees it)
 * and points *command into it, or NULL with one line in err: "malformed JSON at byte N",
 * "request is not a JSON object", "request has no version", "unsupported version N",
 * "request has no command". */
cJSON *kt_control_parse_request(const char *line, size_t len, const char **command, char *err,
				size_t errcap);

/* The reply line for a request: {"version":1,"ok":true,"result":RESULT} when error is NULL
 * (result NULL: an empty object), else {"version":1,"ok":false,"error":ERROR}; ends in "\n",
 * NUL-terminated, malloc'd (the caller frees), *len without the NUL. A line longer than
 * KT_CONTROL_MAX_REPLY becomes the "reply too large" error. NULL on out of memory. */
char *kt_control_reply_line(const cJSON *result, const char *error, size_t *len);

/* Parses a reply line. Returns 0 with *result (the caller frees; an empty object when the reply
 * has none), -EREMOTE with the daemon's error in err, or -EPROTO with a description in err. */
int kt_control_parse_reply(const char *line, size_t len, cJSON **result, char *err, size_t errcap);

/* The client call with its outcome: 0 (*result set), -EREMOTE (the daemon answered with an
 * error, in err), -ENOENT/-ECONNREFUSED (no daemon listens at path), -ETIMEDOUT, -EPROTO, or
 * another -errno; err always says what happened. kt_control_call() is this without the code. */
int kt_control_request(const char *path, const cJSON *request, int timeout_ms, cJSON **result,
		       char *err, size_t errcap);

/* Adds name: "2006-01-02T15:04:05Z" (RFC 3339, UTC) to obj, or name: null when t is 0; the
 * status schema's time format (docs/CONTROL.md). Returns the added item or NULL. */
cJSON *kt_control_add_time(cJSON *obj, const char *name, time_t t);
/* Parses that format back; 0 or -EINVAL. */
int kt_control_parse_time(const char *s, time_t *t);

#endif
