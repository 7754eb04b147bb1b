/* test_control.c: the control socket (src/control.c): the pure request/reply functions, and a
 * real server on a real event loop in a temporary directory, attacked with raw sockets from the
 * test thread while the loop runs on a second thread (the loop itself stays single-threaded:
 * only its own thread touches it; the handlers below run there). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "evloop.h"
#include "kt_test.h"

/* ---- Pure functions ---- */

static const char *parse_err(const char *line)
{
	static char err[256];
	const char *cmd = NULL;
	err[0] = '\0';
	cJSON *r = kt_control_parse_request(line, strlen(line), &cmd, err, sizeof(err));
	if (r) {
		cJSON_Delete(r);
		return "(ok)";
	}
	return err;
}

KT_TEST(parse_request_valid)
{
	const char *line = "{\"version\":1,\"command\":\"forward.add\",\"target\":\"svc/web\"}\r";
	const char *cmd = NULL;
	char err[128] = "";
	cJSON *r = kt_control_parse_request(line, strlen(line), &cmd, err, sizeof(err));
	KT_REQUIRE(r != NULL);
	KT_CHECK_STR_EQ(cmd, "forward.add");
	KT_CHECK_STR_EQ(cJSON_GetObjectItem(r, "target")->valuestring, "svc/web");
	cJSON_Delete(r);
	/* Whitespace around the object is fine. */
	KT_CHECK_STR_EQ(parse_err("  {\"version\": 1.0, \"command\": \"status\"}  "), "(ok)");
}

KT_TEST(parse_request_errors)
{
	KT_CHECK_STR_EQ(parse_err("garbage"), "malformed JSON at byte 0");
	KT_CHECK_STR_EQ(parse_err("{\"version\":1,\"command\":}"), "malformed JSON at byte 23");
	KT_CHECK_STR_EQ(parse_err("{\"version\":1,\"command\":\"status\"} x"),
			"malformed JSON at byte 33: data after the request");
	KT_CHECK_STR_EQ(parse_err("[1,2]"), "request is not a JSON object");
	KT_CHECK_STR_EQ(parse_err("{\"command\":\"status\"}"), "request has no version");
	KT_CHECK_STR_EQ(parse_err("{\"version\":\"1\",\"command\":\"status\"}"),
			"request version is not a number");
	KT_CHECK_STR_EQ(parse_err("{\"version\":2,\"command\":\"status\"}"),
			"unsupported version 2 (this daemon speaks 1)");
	KT_CHECK_STR_EQ(parse_err("{\"version\":1}"), "request has no command");
	KT_CHECK_STR_EQ(parse_err("{\"version\":1,\"command\":7}"), "request has no command");
	KT_CHECK_STR_EQ(parse_err(""), "malformed JSON at byte 0");
	/* A NUL inside the line is reported where it is. */
	const char nul[] = "{\"version\":1,\"co\0mmand\":\"status\"}";
	char err[64];
	KT_CHECK(kt_control_parse_request(nul, sizeof(nul) - 1, NULL, err, sizeof(err)) == NULL);
	KT_CHECK_STR_EQ(err, "malformed JSON at byte 16");
	/* Deep nesting is refused by cJSON's nesting limit, not by the stack. */
	static char deep[70000];
	memset(deep, '[', sizeof(deep) - 1);
	KT_CHECK(kt_control_parse_request(deep, sizeof(deep) - 1, NULL, err, sizeof(err)) == NULL);
}

KT_TEST(reply_line_bytes)
{
	size_t n = 0;
	cJSON *res = cJSON_CreateObject();
	cJSON_AddNumberToObject(res, "a", 1);
	cJSON_AddStringToObject(res, "s", "x\ny");
	char *line = kt_control_reply_line(res, NULL, &n);
	KT_REQUIRE(line != NULL);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":true,\"result\":{\"a\":1,\"s\":\"x\\ny\"}}\n");
	KT_CHECK_INT_EQ(n, strlen(line));
	free(line);
	line = kt_control_reply_line(NULL, NULL, &n);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":true,\"result\":{}}\n");
	free(line);
	line = kt_control_reply_line(res, "bad \"thing\"", &n);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":false,\"error\":\"bad \\\"thing\\\"\"}\n");
	free(line);
	cJSON_Delete(res);
}

KT_TEST(reply_line_too_large)
{
	size_t big = KT_CONTROL_MAX_REPLY;
	char *s = malloc(big + 1);
	KT_REQUIRE(s != NULL);
	memset(s, 'a', big);
	s[big] = '\0';
	cJSON *res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "s", s);
	free(s);
	size_t n = 0;
	char *line = kt_control_reply_line(res, NULL, &n);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":false,\"error\":\"reply too large\"}\n");
	free(line);
	cJSON_Delete(res);
}

KT_TEST(parse_reply)
{
	cJSON *r = NULL;
	char err[128];
	const char *ok = "{\"version\":1,\"ok\":true,\"result\":{\"x\":[1]}}";
	KT_CHECK_INT_EQ(kt_control_parse_reply(ok, strlen(ok), &r, err, sizeof(err)), 0);
	KT_REQUIRE(r != NULL);
	KT_CHECK(cJSON_IsArray(cJSON_GetObjectItem(r, "x")));
	cJSON_Delete(r);
	const char *noresult = "{\"version\":1,\"ok\":true}";
	KT_CHECK_INT_EQ(kt_control_parse_reply(noresult, strlen(noresult), &r, err, sizeof(err)),
			0);
	KT_CHECK(cJSON_IsObject(r));
	cJSON_Delete(r);
	const char *bad = "{\"version\":1,\"ok\":false,\"error\":\"no forward matches x\"}";
	KT_CHECK_INT_EQ(kt_control_parse_reply(bad, strlen(bad), &r, err, sizeof(err)), -EREMOTE);
	KT_CHECK(r == NULL);
	KT_CHECK_STR_EQ(err, "no forward matches x");
	KT_CHECK_INT_EQ(kt_control_parse_reply("nope", 4, &r, err, sizeof(err)), -EPROTO);
	const char *v2 = "{\"version\":2,\"ok\":true}";
	KT_CHECK_INT_EQ(kt_control_parse_reply(v2, strlen(v2), &r, err, sizeof(err)), -EPROTO);
	KT_CHECK_STR_EQ(err, "the daemon speaks control version 2, not 1");
	const char *nook = "{\"version\":1}";
	KT_CHECK_INT_EQ(kt_control_parse_reply(nook, strlen(nook), &r, err, sizeof(err)), -EPROTO);
}

KT_TEST(time_format)
{
	cJSON *o = cJSON_CreateObject();
	KT_CHECK(kt_control_add_time(o, "at", 1700000000) != NULL);
	KT_CHECK(kt_control_add_time(o, "never", 0) != NULL);
	KT_CHECK_STR_EQ(cJSON_GetObjectItem(o, "at")->valuestring, "2023-11-14T22:13:20Z");
	KT_CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "never")));
	time_t t = 0;
	KT_CHECK_INT_EQ(kt_control_parse_time("2023-11-14T22:13:20Z", &t), 0);
	KT_CHECK_INT_EQ(t, 1700000000);
	KT_CHECK_INT_EQ(kt_control_parse_time("2023-02-31T00:00:00Z", &t), -EINVAL);
	KT_CHECK_INT_EQ(kt_control_parse_time("2023-11-14T22:13:20", &t), -EINVAL);
	KT_CHECK_INT_EQ(kt_control_parse_time("2023-11-14 22:13:20Z", &t), -EINVAL);
	KT_CHECK_INT_EQ(kt_control_parse_time("2023-1a-14T22:13:20Z", &t), -EINVAL);
	KT_CHECK_INT_EQ(kt_control_parse_time(NULL, &t), -EINVAL);
	cJSON_Delete(o);
}

/* ---- A real server ---- */

struct srv {
	char dir[64];
	char path[128];
	struct kt_evloop *loop;
	struct kt_control *ctl;
	pthread_t th;
	atomic_int status_calls;
	int run_rc;
};

static cJSON *h_status(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct srv *s = arg;
	(void)req;
	(void)err;
	(void)errcap;
	int n = atomic_fetch_add(&s->status_calls, 1) + 1;
	cJSON *r = cJSON_CreateObject();
	cJSON *tun = cJSON_AddObjectToObject(r, "tunnel");
	cJSON_AddStringToObject(tun, "device", "kt0");
	cJSON_AddNumberToObject(r, "calls", n);
	return r;
}

static cJSON *h_echo(void *arg, const cJSON *req, char *err, size_t errcap)
{
	(void)arg;
	(void)err;
	(void)errcap;
	return cJSON_Duplicate(req, 1);
}

static cJSON *h_fail(void *arg, const cJSON *req, char *err, size_t errcap)
{
	(void)arg;
	(void)req;
	snprintf(err, errcap, "it failed");
	return NULL;
}

static cJSON *h_silent(void *arg, const cJSON *req, char *err, size_t errcap)
{
	(void)arg;
	(void)req;
	(void)err;
	(void)errcap;
	return NULL;
}

/* {"size":N}: a result with a string of N bytes. */
static cJSON *h_big(void *arg, const cJSON *req, char *err, size_t errcap)
{
	(void)arg;
	const cJSON *sz = cJSON_GetObjectItem(req, "size");
	if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 64e6) {
		snprintf(err, errcap, "bad size");
		return NULL;
	}
	size_t n = (size_t)sz->valuedouble;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memset(s, 'b', n);
	s[n] = '\0';
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "data", s);
	free(s);
	return r;
}

static cJSON *h_shutdown(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct srv *s = arg;
	(void)req;
	(void)err;
	(void)errcap;
	kt_evloop_stop(s->loop);
	return cJSON_CreateObject();
}

static const struct kt_control_command commands[] = {
    {"status", h_status}, {"echo", h_echo}, {"fail", h_fail},
    {"silent", h_silent}, {"big", h_big},   {"shutdown", h_shutdown},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void *srv_thread(void *arg)
{
	struct srv *s = arg;
	s->run_rc = kt_evloop_run(s->loop);
	return NULL;
}

static bool srv_start(struct srv *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/kt-control-XXXXXX");
	if (!mkdtemp(s->dir))
		return false;
	/* A sub-directory that does not exist yet: kt_control_new creates it. */
	snprintf(s->path, sizeof(s->path), "%s/run/ctl.sock", s->dir);
	char err[256] = "";
	s->loop = kt_evloop_new(err, sizeof(err));
	if (!s->loop)
		return false;
	s->ctl = kt_control_new(s->loop, s->path, commands, NCOMMANDS, s, err, sizeof(err));
	if (!s->ctl) {
		fprintf(stderr, "kt_control_new: %s\n", err);
		return false;
	}
	return pthread_create(&s->th, NULL, srv_thread, s) == 0;
}

/* Stops the loop thread (if running) and frees everything. */
static void srv_stop(struct srv *s, bool running)
{
	if (running) {
		kt_evloop_stop(s->loop);
		pthread_join(s->th, NULL);
	}
	kt_control_free(s->ctl);
	kt_evloop_free(s->loop);
	char p[160];
	snprintf(p, sizeof(p), "%s/run", s->dir);
	rmdir(p);
	rmdir(s->dir);
}

static cJSON *call(const char *path, const char *json, int *rc, char *err, size_t errcap)
{
	cJSON *req = cJSON_Parse(json), *res = NULL;
	int r = kt_control_request(path, req, 5000, &res, err, errcap);
	cJSON_Delete(req);
	if (rc)
		*rc = r;
	return res;
}

/* The server answers status, and counts it. */
static bool alive(const struct srv *s)
{
	char err[256];
	int rc;
	cJSON *r = call(s->path, "{\"version\":1,\"command\":\"status\"}", &rc, err, sizeof(err));
	bool ok = r && cJSON_IsObject(cJSON_GetObjectItem(r, "tunnel"));
	if (!ok)
		fprintf(stderr, "server not alive: %d %s\n", rc, err);
	cJSON_Delete(r);
	return ok;
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool raw_send(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one line (without "\n") into a malloc'd string; NULL on EOF, error or timeout. The
 * bytes after the line are kept in *rest for the next call. */
struct lines {
	char *buf;
	size_t len, cap;
};

static char *read_line(int fd, struct lines *l, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		char *nl = l->len ? memchr(l->buf, '\n', l->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - l->buf);
			char *line = malloc(n + 1);
			memcpy(line, l->buf, n);
			line[n] = '\0';
			memmove(l->buf, nl + 1, l->len - n - 1);
			l->len -= n + 1;
			return line;
		}
		int64_t left = deadline - mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return NULL;
		if (l->cap - l->len < 65536) {
			l->cap = l->cap ? l->cap * 2 : 131072;
			l->buf = realloc(l->buf, l->cap);
		}
		ssize_t n = recv(fd, l->buf + l->len, l->cap - l->len, 0);
		if (n <= 0)
			return NULL;
		l->len += (size_t)n;
	}
}

/* True when the peer closes (EOF or reset) within timeout_ms, with no more data. */
static bool closed_within(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	char b[16];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

KT_TEST(server_status_round_trip)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	char err[256];
	int rc;
	cJSON *r = call(s.path, "{\"version\":1,\"command\":\"status\"}", &rc, err, sizeof(err));
	KT_CHECK_INT_EQ(rc, 0);
	KT_REQUIRE(r != NULL);
	KT_CHECK_STR_EQ(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(r, "tunnel"), "device")->valuestring, "kt0");
	cJSON_Delete(r);
	/* kt_control_call is the same without the code. */
	cJSON *req = cJSON_Parse("{\"version\":1,\"command\":\"echo\",\"x\":[1,2,3]}");
	r = kt_control_call(s.path, req, 5000, err, sizeof(err));
	KT_REQUIRE(r != NULL);
	KT_CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(r, "x")), 3);
	cJSON_Delete(r);
	cJSON_Delete(req);
	/* Handler errors. */
	r = call(s.path, "{\"version\":1,\"command\":\"fail\"}", &rc, err, sizeof(err));
	KT_CHECK(r == NULL);
	KT_CHECK_INT_EQ(rc, -EREMOTE);
	KT_CHECK_STR_EQ(err, "it failed");
	r = call(s.path, "{\"version\":1,\"command\":\"silent\"}", &rc, err, sizeof(err));
	KT_CHECK_INT_EQ(rc, -EREMOTE);
	KT_CHECK_STR_EQ(err, "silent failed");
	r = call(s.path, "{\"version\":1,\"command\":\"nope\"}", &rc, err, sizeof(err));
	KT_CHECK_INT_EQ(rc, -EREMOTE);
	KT_CHECK_STR_EQ(
	    err, "unknown command 'nope' (known: status, echo, fail, silent, big, shutdown)");
	r = call(s.path, "{\"version\":7,\"command\":\"status\"}", &rc, err, sizeof(err));
	KT_CHECK_INT_EQ(rc, -EREMOTE);
	KT_CHECK_STR_EQ(err, "unsupported version 7 (this daemon speaks 1)");
	KT_CHECK(alive(&s));
	srv_stop(&s, true);
	/* The socket is gone with the server. */
	struct stat st;
	KT_CHECK(lstat(s.path, &st) < 0 && errno == ENOENT);
}

KT_TEST(server_garbage_and_pipelining)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	int fd = raw_connect(s.path);
	KT_REQUIRE(fd >= 0);
	struct lines l = {0};
	/* Garbage, a blank line (skipped), a control character soup (cJSON skips bytes up to
	 * 0x20 as blanks, so it stops at byte 2), then good requests: every bad line gets its
	 * error and the connection goes on. */
	const char *batch = "garbage\n"
			    "\n"
			    "\x01\x02\xff\xfe{{{\n"
			    "{\"version\":1,\"command\":\"echo\",\"n\":1}\n"
			    "{\"version\":1,\"command\":\"big\",\"size\":3000000}\n"
			    "{\"version\":1,\"command\":\"echo\",\"n\":2}\r\n";
	KT_REQUIRE(raw_send(fd, batch, strlen(batch)));
	char *line = read_line(fd, &l, 5000);
	KT_CHECK_STR_EQ(line,
			"{\"version\":1,\"ok\":false,\"error\":\"malformed JSON at byte 0\"}");
	free(line);
	line = read_line(fd, &l, 5000);
	KT_CHECK_STR_EQ(line,
			"{\"version\":1,\"ok\":false,\"error\":\"malformed JSON at byte 2\"}");
	free(line);
	line = read_line(fd, &l, 5000);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":true,\"result\":{\"version\":1,\"command\":"
			      "\"echo\",\"n\":1}}");
	free(line);
	/* A 3 MB reply does not fit the socket buffer: the server must keep the next request
	 * until it is flushed, and keep their order. */
	line = read_line(fd, &l, 10000);
	KT_REQUIRE(line != NULL);
	KT_CHECK(strlen(line) > 3000000);
	KT_CHECK(strncmp(line, "{\"version\":1,\"ok\":true,\"result\":{\"data\":\"bbbb", 44) == 0);
	free(line);
	line = read_line(fd, &l, 5000);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":true,\"result\":{\"version\":1,\"command\":"
			      "\"echo\",\"n\":2}}");
	free(line);
	/* Several requests, one after the other, on the same connection. */
	for (int i = 0; i < 20; i++) {
		const char *req = "{\"version\":1,\"command\":\"status\"}\n";
		KT_REQUIRE(raw_send(fd, req, strlen(req)));
		line = read_line(fd, &l, 5000);
		KT_CHECK(line && strstr(line, "\"ok\":true"));
		free(line);
	}
	close(fd);
	free(l.buf);
	KT_CHECK(alive(&s));
	srv_stop(&s, true);
}

KT_TEST(server_oversized_request)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	int fd = raw_connect(s.path);
	KT_REQUIRE(fd >= 0);
	/* 1 MiB without a newline, sent without blocking while the reply is read. */
	size_t total = 1024 * 1024, sent = 0;
	char *junk = malloc(total);
	memset(junk, 'x', total);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	struct lines l = {0};
	char *line = NULL;
	int64_t deadline = mono_ms() + 10000;
	bool closed = false;
	while (!line && mono_ms() < deadline) {
		if (sent < total) {
			ssize_t n = send(fd, junk + sent, total - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = total; /* the server closed: stop sending, read the reply */
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) > 0) {
			if (l.cap - l.len < 4096) {
				l.cap = l.cap ? l.cap * 2 : 8192;
				l.buf = realloc(l.buf, l.cap);
			}
			ssize_t n = recv(fd, l.buf + l.len, l.cap - l.len, 0);
			if (n > 0) {
				l.len += (size_t)n;
				char *nl = memchr(l.buf, '\n', l.len);
				if (nl) {
					*nl = '\0';
					line = strdup(l.buf);
				}
			} else if (n == 0 || errno != EAGAIN) {
				closed = true;
				break;
			}
		}
	}
	KT_CHECK(!closed || line);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":false,\"error\":\"request too large\"}");
	/* The server read at most the limit before answering: less than all of it. */
	KT_CHECK(sent >= KT_CONTROL_MAX_REQUEST);
	fcntl(fd, F_SETFL, 0);
	KT_CHECK(closed_within(fd, 3000));
	free(line);
	free(l.buf);
	free(junk);
	close(fd);
	/* A request of exactly the limit (with its "\n") is still served. */
	char *exact = malloc(KT_CONTROL_MAX_REQUEST + 1);
	const char *head = "{\"version\":1,\"command\":\"echo\",\"pad\":\"";
	size_t hl = strlen(head);
	memcpy(exact, head, hl);
	memset(exact + hl, 'p', KT_CONTROL_MAX_REQUEST - hl - 3);
	memcpy(exact + KT_CONTROL_MAX_REQUEST - 3, "\"}\n", 3);
	fd = raw_connect(s.path);
	KT_REQUIRE(fd >= 0);
	KT_REQUIRE(raw_send(fd, exact, KT_CONTROL_MAX_REQUEST));
	struct lines l2 = {0};
	line = read_line(fd, &l2, 5000);
	KT_CHECK(line && strncmp(line, "{\"version\":1,\"ok\":true", 22) == 0);
	free(line);
	free(l2.buf);
	close(fd);
	/* One byte more is too large. */
	exact = realloc(exact, KT_CONTROL_MAX_REQUEST + 2);
	memcpy(exact + KT_CONTROL_MAX_REQUEST - 3, "p\"}\n", 4);
	fd = raw_connect(s.path);
	KT_REQUIRE(fd >= 0);
	KT_REQUIRE(raw_send(fd, exact, KT_CONTROL_MAX_REQUEST + 1) || true);
	struct lines l3 = {0};
	line = read_line(fd, &l3, 5000);
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":false,\"error\":\"request too large\"}");
	free(line);
	free(l3.buf);
	close(fd);
	free(exact);
	/* The client refuses to send an oversized request at all. */
	cJSON *req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "version", 1);
	cJSON_AddStringToObject(req, "command", "echo");
	char *pad = malloc(KT_CONTROL_MAX_REQUEST + 1);
	memset(pad, 'q', KT_CONTROL_MAX_REQUEST);
	pad[KT_CONTROL_MAX_REQUEST] = '\0';
	cJSON_AddStringToObject(req, "pad", pad);
	free(pad);
	cJSON *res = NULL;
	char err[128];
	KT_CHECK_INT_EQ(kt_control_request(s.path, req, 5000, &res, err, sizeof(err)), -EMSGSIZE);
	cJSON_Delete(req);
	KT_CHECK(alive(&s));
	srv_stop(&s, true);
}

KT_TEST(server_half_sent_request_times_out)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	int fd = raw_connect(s.path);
	KT_REQUIRE(fd >= 0);
	int64_t t0 = mono_ms();
	KT_REQUIRE(raw_send(fd, "{\"version\":1,", 13));
	/* Meanwhile other clients are served. */
	KT_CHECK(alive(&s));
	/* Trickling bytes does not extend the deadline. */
	for (int i = 0; i < 3; i++) {
		struct timespec ts = {0, 500 * 1000 * 1000};
		nanosleep(&ts, NULL);
		KT_CHECK(raw_send(fd, " ", 1));
	}
	struct lines l = {0};
	char *line = read_line(fd, &l, KT_CONTROL_REQUEST_TIMEOUT_MS + 3000);
	int64_t dt = mono_ms() - t0;
	KT_CHECK_STR_EQ(line, "{\"version\":1,\"ok\":false,\"error\":\"request timed out\"}");
	KT_CHECK(dt >= KT_CONTROL_REQUEST_TIMEOUT_MS - 100);
	KT_CHECK(dt < KT_CONTROL_REQUEST_TIMEOUT_MS + 2000);
	KT_CHECK(closed_within(fd, 2000));
	free(line);
	free(l.buf);
	close(fd);
	KT_CHECK(alive(&s));
	srv_stop(&s, true);
}

KT_TEST(server_long_stream_of_split_requests)
{
	/* Requests that keep coming, each split across two writes so that a partial request is
	 * always buffered: the connection outlives the request timeout because every request
	 * completes in time. */
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	int fd = raw_connect(s.path);
	KT_REQUIRE(fd >= 0);
	struct lines l = {0};
	const char *req = "{\"version\":1,\"command\":\"echo\",\"n\":1}\n";
	size_t half = strlen(req) / 2;
	KT_REQUIRE(raw_send(fd, req, half));
	int64_t end = mono_ms() + KT_CONTROL_REQUEST_TIMEOUT_MS + 1500;
	int answered = 0;
	while (mono_ms() < end) {
		struct timespec ts = {0, 300 * 1000 * 1000};
		nanosleep(&ts, NULL);
		/* The rest of this request and the first half of the next, in one write. */
		char buf[128];
		int n = snprintf(buf, sizeof(buf), "%s%.*s", req + half, (int)half, req);
		KT_REQUIRE(raw_send(fd, buf, (size_t)n));
		char *line = read_line(fd, &l, 2000);
		KT_REQUIRE(line != NULL);
		KT_CHECK(strstr(line, "\"ok\":true") != NULL);
		free(line);
		answered++;
	}
	KT_CHECK(answered >= 20);
	close(fd);
	free(l.buf);
	KT_CHECK(alive(&s));
	srv_stop(&s, true);
}

KT_TEST(server_last_request_at_eof_and_early_close)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	/* A request without "\n" followed by shutdown(SHUT_WR) is answered. */
	int fd = raw_connect(s.path);
	KT_REQUIRE(fd >= 0);
	const char *req = "{\"version\":1,\"command\":\"echo\",\"eof\":true}";
	KT_REQUIRE(raw_send(fd, req, strlen(req)));
	shutdown(fd, SHUT_WR);
	struct lines l = {0};
	char *line = read_line(fd, &l, 5000);
	KT_CHECK(line && strstr(line, "\"eof\":true"));
	KT_CHECK(closed_within(fd, 2000));
	free(line);
	free(l.buf);
	close(fd);
	/* Clients that vanish mid-reply, or right after connecting, or mid-request. */
	for (int i = 0; i < 10; i++) {
		fd = raw_connect(s.path);
		KT_REQUIRE(fd >= 0);
		const char *big = "{\"version\":1,\"command\":\"big\",\"size\":8000000}\n";
		if (i % 3 == 0)
			raw_send(fd, big, strlen(big));
		else if (i % 3 == 1)
			raw_send(fd, big, 10);
		close(fd);
	}
	KT_CHECK(alive(&s));
	/* A reply beyond KT_CONTROL_MAX_REPLY becomes an error. */
	char err[128];
	int rc;
	cJSON *r = call(s.path, "{\"version\":1,\"command\":\"big\",\"size\":17000000}", &rc, err,
			sizeof(err));
	KT_CHECK(r == NULL);
	KT_CHECK_INT_EQ(rc, -EREMOTE);
	KT_CHECK_STR_EQ(err, "reply too large");
	KT_CHECK(alive(&s));
	srv_stop(&s, true);
}

KT_TEST(server_many_clients)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	enum { N = 100 };
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(s.path);
		KT_REQUIRE(fds[i] >= 0);
	}
	const char *req = "{\"version\":1,\"command\":\"status\"}\n";
	for (int i = 0; i < N; i++)
		raw_send(fds[i], req, strlen(req));
	int ok = 0, refused = 0;
	for (int i = 0; i < N; i++) {
		struct lines l = {0};
		char *line = read_line(fds[i], &l, 5000);
		if (line && strstr(line, "\"ok\":true"))
			ok++;
		else if (line && strcmp(line, "{\"version\":1,\"ok\":false,\"error\":\"too many "
					      "clients\"}") == 0)
			refused++;
		free(line);
		free(l.buf);
	}
	/* Connections are accepted in order: the first KT_CONTROL_MAX_CLIENTS are served. */
	KT_CHECK_INT_EQ(ok, KT_CONTROL_MAX_CLIENTS);
	KT_CHECK_INT_EQ(refused, N - KT_CONTROL_MAX_CLIENTS);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	/* Once they are gone, 100 clients in a row are all served: the server notices clients
	 * that hung up before refusing new ones. */
	int served = 0;
	for (int i = 0; i < N; i++)
		served += alive(&s);
	KT_CHECK_INT_EQ(served, N);
	srv_stop(&s, true);
	KT_CHECK(atomic_load(&s.status_calls) >= KT_CONTROL_MAX_CLIENTS + N);
}

KT_TEST(server_shutdown_reply_is_flushed)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	char err[128];
	int rc;
	cJSON *r = call(s.path, "{\"version\":1,\"command\":\"shutdown\"}", &rc, err, sizeof(err));
	KT_CHECK_INT_EQ(rc, 0);
	cJSON_Delete(r);
	/* The handler stopped the loop: the thread ends by itself. */
	pthread_join(s.th, NULL);
	KT_CHECK_INT_EQ(s.run_rc, 0);
	srv_stop(&s, false);
}

KT_TEST(socket_path_rules)
{
	struct srv s;
	KT_REQUIRE(srv_start(&s));
	struct stat st;
	KT_REQUIRE(lstat(s.path, &st) == 0);
	KT_CHECK(S_ISSOCK(st.st_mode));
	struct group *g = getgrnam("kubetun");
	if (g) {
		KT_CHECK_INT_EQ(st.st_mode & 07777, 0660);
		KT_CHECK_INT_EQ(st.st_gid, g->gr_gid);
	} else {
		KT_CHECK_INT_EQ(st.st_mode & 07777, 0600);
	}
	/* A second daemon on the same path is refused while the first serves. */
	char err[256] = "";
	struct kt_evloop *loop2 = kt_evloop_new(err, sizeof(err));
	KT_REQUIRE(loop2 != NULL);
	struct kt_control *c2 =
	    kt_control_new(loop2, s.path, commands, NCOMMANDS, NULL, err, sizeof(err));
	KT_CHECK(c2 == NULL);
	char want[256];
	snprintf(want, sizeof(want), "another kubetund is running (%s)", s.path);
	KT_CHECK_STR_EQ(err, want);
	KT_CHECK(alive(&s));
	srv_stop(&s, true);

	/* A regular file at the path is refused and left alone. */
	char dir[] = "/tmp/kt-control-path-XXXXXX";
	KT_REQUIRE(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	KT_REQUIRE(fd >= 0);
	close(fd);
	c2 = kt_control_new(loop2, path, commands, NCOMMANDS, NULL, err, sizeof(err));
	KT_CHECK(c2 == NULL);
	snprintf(want, sizeof(want), "%s exists and is not a socket", path);
	KT_CHECK_STR_EQ(err, want);
	KT_CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	unlink(path);

	/* A stale socket (nobody listens) is replaced. */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	KT_REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
	c2 = kt_control_new(loop2, path, commands, NCOMMANDS, NULL, err, sizeof(err));
	KT_CHECK(c2 != NULL);
	/* A socket that another daemon put in our place is not ours to unlink. */
	KT_REQUIRE(unlink(path) == 0);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	close(fd);
	kt_control_free(c2);
	KT_CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	unlink(path);

	/* Too long for sun_path. */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	KT_CHECK(kt_control_new(loop2, longp, commands, NCOMMANDS, NULL, err, sizeof(err)) == NULL);
	KT_CHECK(strncmp(err, "control socket path too long", 28) == 0);
	kt_evloop_free(loop2);
	rmdir(dir);
}

KT_TEST(client_errors)
{
	char dir[] = "/tmp/kt-control-cli-XXXXXX";
	KT_REQUIRE(mkdtemp(dir) != NULL);
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	cJSON *req = cJSON_Parse("{\"version\":1,\"command\":\"status\"}"), *res = NULL;
	KT_CHECK_INT_EQ(kt_control_request(path, req, 1000, &res, err, sizeof(err)), -ENOENT);
	KT_CHECK(strncmp(err, "kubetund is not running", 23) == 0);
	/* A listener that never answers: the call times out. */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	KT_REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0);
	int64_t t0 = mono_ms();
	KT_CHECK_INT_EQ(kt_control_request(path, req, 300, &res, err, sizeof(err)), -ETIMEDOUT);
	int64_t dt = mono_ms() - t0;
	KT_CHECK(dt >= 290 && dt < 2000);
	close(fd);
	/* Bound but not listening any more: refused. */
	KT_CHECK_INT_EQ(kt_control_request(path, req, 1000, &res, err, sizeof(err)), -ECONNREFUSED);
	unlink(path);
	rmdir(dir);
	cJSON_Delete(req);
}

KT_TEST_MAIN()
