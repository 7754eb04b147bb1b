/* Unit tests for pf_target.c: how pod ports are resolved, the in-cluster names a pod's TLS
 * certificate carries, and the runtime of a target (in-process backend and real loopback TCP)
 * with its flow control. */
#include "kt_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cluster.h"
#include "loop.h"
#include "pf_target.h"
#include "store.h"

static cJSON *pod_json(const char *extra_annotations)
{
	char text[2048];
	snprintf(
	    text, sizeof(text),
	    "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-0\","
	    "\"namespace\":\"shop\",\"uid\":\"u-1\",\"labels\":{\"app\":\"web\",\"tier\":"
	    "\"fe\"},\"annotations\":{%s}},\"spec\":{\"hostname\":\"web-0\",\"subdomain\":"
	    "\"web-hl\",\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80,"
	    "\"name\":\"http\"},{\"containerPort\":9443,\"name\":\"https\"},{\"containerPort\":"
	    "443},{\"containerPort\":53,\"protocol\":\"UDP\"}]},{\"name\":\"b\",\"ports\":[{"
	    "\"containerPort\":8443,\"protocol\":\"TCP\"},{\"containerPort\":81}]}]},"
	    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.0.7\"}}",
	    extra_annotations ? extra_annotations : "");
	return cJSON_Parse(text);
}

KT_TEST(resolve)
{
	cJSON *pod = pod_json("\"fake.kubetun.dev/refuse-81\":\"true\","
			      "\"fake.kubetun.dev/backend-7000\":\"127.0.0.1:5201\","
			      "\"fake.kubetun.dev/backend-7001\":\"[::1]:6379\","
			      "\"fake.kubetun.dev/backend-7002\":\"10.0.0.1:80\","
			      "\"fake.kubetun.dev/backend-7003\":\"localhost:x\","
			      "\"fake.kubetun.dev/refuse-443\":\"false\"");
	struct pf_target_spec sp;
	KT_REQUIRE(pod);

	pf_target_resolve(pod, 80, &sp);
	KT_CHECK(sp.kind == PF_TARGET_BACKEND && !sp.tls && sp.port == 80);
	pf_target_resolve(pod, 9443, &sp); /* named https */
	KT_CHECK(sp.kind == PF_TARGET_BACKEND && sp.tls);
	pf_target_resolve(pod, 443, &sp); /* numbered 443; "refuse": "false" does not refuse */
	KT_CHECK(sp.kind == PF_TARGET_BACKEND && sp.tls);
	pf_target_resolve(pod, 8443, &sp); /* second container */
	KT_CHECK(sp.kind == PF_TARGET_BACKEND && sp.tls);
	pf_target_resolve(pod, 81, &sp);
	KT_CHECK(sp.kind == PF_TARGET_REFUSED);
	pf_target_resolve(pod, 53, &sp); /* UDP only: closed for TCP port-forward */
	KT_CHECK(sp.kind == PF_TARGET_REFUSED);
	pf_target_resolve(pod, 8080, &sp); /* not declared */
	KT_CHECK(sp.kind == PF_TARGET_REFUSED);
	pf_target_resolve(pod, 7000, &sp);
	KT_CHECK(sp.kind == PF_TARGET_TCP);
	KT_CHECK_STR_EQ(sp.addr, "127.0.0.1:5201");
	pf_target_resolve(pod, 7001, &sp);
	KT_CHECK(sp.kind == PF_TARGET_TCP);
	pf_target_resolve(pod, 7002, &sp); /* not loopback: the fake dials nothing else */
	KT_CHECK(sp.kind == PF_TARGET_REFUSED);
	pf_target_resolve(pod, 7003, &sp);
	KT_CHECK(sp.kind == PF_TARGET_REFUSED);
	cJSON_Delete(pod);
}

static void put(struct fc_store *st, enum fc_kind kind, const char *json)
{
	cJSON *o = cJSON_Parse(json);
	if (!o || fc_store_put(st, kind, o) < 0)
		fprintf(stderr, "cannot store %s\n", json);
}

KT_TEST(dns_names)
{
	struct fc_store *st = fc_store_new();
	cJSON *pod = pod_json(NULL);
	struct pf_names names = {0};
	KT_REQUIRE(st && pod);

	put(st, FC_KIND_SERVICE,
	    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{\"clusterIP\":"
	    "\"10.96.0.10\",\"selector\":{\"app\":\"web\"}}}");
	put(st, FC_KIND_SERVICE,
	    "{\"metadata\":{\"name\":\"web-hl\",\"namespace\":\"shop\"},\"spec\":{\"clusterIP\":"
	    "\"None\",\"selector\":{\"app\":\"web\",\"tier\":\"fe\"}}}");
	put(st, FC_KIND_SERVICE, /* selector does not match */
	    "{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},\"spec\":{\"selector\":{"
	    "\"app\":\"db\"}}}");
	put(st, FC_KIND_SERVICE, /* no selector: endpoints managed by hand */
	    "{\"metadata\":{\"name\":\"ext\",\"namespace\":\"shop\"},\"spec\":{}}");
	put(st, FC_KIND_SERVICE, /* other namespace */
	    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"other\"},\"spec\":{\"selector\":{"
	    "\"app\":\"web\"}}}");

	KT_REQUIRE(pf_pod_dns_names(st, pod, &names) == 0);
	const char *want[] = {
	    "web",
	    "web.shop",
	    "web.shop.svc",
	    "web.shop.svc.cluster.local",
	    "web-hl",
	    "web-hl.shop",
	    "web-hl.shop.svc",
	    "web-hl.shop.svc.cluster.local",
	    "web-0.web-hl.shop.svc.cluster.local",
	    "web-0.web-hl.shop.svc",
	};
	KT_CHECK_INT_EQ(names.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < names.n && i < sizeof(want) / sizeof(want[0]); i++)
		KT_CHECK_STR_EQ(names.v[i], want[i]);
	pf_names_fini(&names);

	/* Without a hostname the pod name stands in; a subdomain without a Service still
	 * names the pod. */
	cJSON *spec = cJSON_GetObjectItem(pod, "spec");
	cJSON_DeleteItemFromObject(spec, "hostname");
	cJSON_ReplaceItemInObject(spec, "subdomain", cJSON_CreateString("nosvc"));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(pod, "metadata"), "name",
				  cJSON_CreateString("web-7d9"));
	KT_REQUIRE(pf_pod_dns_names(st, pod, &names) == 0);
	KT_CHECK_INT_EQ(names.n, 12);
	if (names.n == 12) {
		KT_CHECK_STR_EQ(names.v[8], "web-7d9.web-hl.shop.svc.cluster.local");
		KT_CHECK_STR_EQ(names.v[10], "web-7d9.nosvc.shop.svc.cluster.local");
		KT_CHECK_STR_EQ(names.v[11], "web-7d9.nosvc.shop.svc");
	}
	pf_names_fini(&names);

	/* Duplicates collapse (case-insensitively). */
	KT_CHECK(pf_names_add(&names, "A.b") == 0 && pf_names_add(&names, "a.B") == 0);
	KT_CHECK_INT_EQ(names.n, 1);
	pf_names_fini(&names);

	cJSON_Delete(pod);
	fc_store_free(st);
}

/* --- runtime --- */

struct sink_state {
	struct kt_buf got;
	size_t room;
	int notified;
	struct fc_loop *loop;
	bool (*until)(struct sink_state *);
	struct pf_target *t;
};

static size_t s_room(void *arg)
{
	struct sink_state *s = arg;
	return s->room;
}

static void s_emit(void *arg, const uint8_t *p, size_t n)
{
	struct sink_state *s = arg;
	if (n > s->room)
		fprintf(stderr, "emit of %zu bytes over room %zu\n", n, s->room);
	s->room -= n < s->room ? n : s->room;
	kt_buf_append(&s->got, p, n);
}

static void s_notify(void *arg)
{
	struct sink_state *s = arg;
	s->notified++;
	if (s->until && s->until(s))
		fc_loop_stop(s->loop);
}

static void stop_cb(void *arg)
{
	fc_loop_stop(arg);
}

/* Runs the loop until s->until() holds or 3 s pass. */
static bool run_until(struct sink_state *s, bool (*until)(struct sink_state *))
{
	struct fc_timer *tm;
	if (until(s))
		return true;
	s->until = until;
	tm = fc_loop_timer(s->loop, 3000, stop_cb, s->loop);
	fc_loop_run(s->loop);
	fc_loop_timer_cancel(s->loop, tm);
	s->until = NULL;
	return until(s);
}

static bool got_text(struct sink_state *s, const char *text)
{
	size_t n = strlen(text), len = kt_buf_len(&s->got);
	return len >= n && memmem(kt_buf_peek(&s->got), len, text, n) != NULL;
}

KT_TEST(backend_request_and_flow_control)
{
	struct fc_cluster cl;
	struct sink_state s;
	struct pf_target_spec spec;
	cJSON *pod = pod_json(NULL);
	static const char req[] = "GET /bytes/100000 HTTP/1.1\r\nHost: x\r\n\r\n";

	memset(&cl, 0, sizeof(cl));
	memset(&s, 0, sizeof(s));
	cl.loop = s.loop = fc_loop_new();
	kt_buf_init(&s.got, 1 << 20);
	KT_REQUIRE(cl.loop && pod);
	pf_target_resolve(pod, 80, &spec);
	struct pf_sink sink = {s_room, s_emit, s_notify, &s};
	s.t = pf_target_open(&cl, pod, &spec, &sink);
	KT_REQUIRE(s.t);
	KT_CHECK_INT_EQ(pf_target_state(s.t), PF_TS_OPEN);

	/* With no room nothing is pulled; a kick with room pulls at most the quantum. */
	s.room = 0;
	pf_target_write(s.t, (const uint8_t *)req, sizeof(req) - 1);
	KT_CHECK_INT_EQ(kt_buf_len(&s.got), 0);
	KT_CHECK(!pf_target_blocked(s.t));
	s.room = 1 << 20;
	size_t n = pf_target_kick(s.t, 1000);
	KT_CHECK(n > 0 && n <= 1000);
	KT_CHECK_INT_EQ(kt_buf_len(&s.got), n);
	/* Each emit is at most 32 KiB and never beyond room. */
	s.room = 5000;
	pf_target_kick(s.t, SIZE_MAX);
	KT_CHECK_INT_EQ(kt_buf_len(&s.got), n + 5000);
	s.room = 1 << 20;
	pf_target_kick(s.t, SIZE_MAX);
	const char *all = (const char *)kt_buf_peek(&s.got);
	const char *body = memmem(all, kt_buf_len(&s.got), "\r\n\r\n", 4);
	KT_REQUIRE(body);
	body += 4;
	KT_CHECK(strncmp(all, "HTTP/1.1 200 ", 13) == 0);
	KT_CHECK(got_text(&s, "X-Pod-Name: web-0\r\n"));
	KT_REQUIRE((size_t)(all + kt_buf_len(&s.got) - body) == 100000);
	bool pattern_ok = true;
	for (size_t i = 0; i < 100000; i++)
		if ((uint8_t)body[i] != i % 251)
			pattern_ok = false;
	KT_CHECK(pattern_ok);

	/* Pipelined requests while the sink is full: the backend keeps what it can, the rest
	 * is stashed and the target reports blocked until output can flow again. */
	kt_buf_clear(&s.got);
	s.room = 0;
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	int sent = 0;
	while (!pf_target_blocked(s.t) && sent < 10000) {
		uint8_t chunk[4096];
		size_t k = 0;
		while (k + sizeof(get) - 1 <= sizeof(chunk)) {
			memcpy(chunk + k, get, sizeof(get) - 1);
			k += sizeof(get) - 1;
			sent++;
		}
		pf_target_write(s.t, chunk, k);
	}
	KT_CHECK(pf_target_blocked(s.t));
	KT_CHECK_INT_EQ(pf_target_state(s.t), PF_TS_OPEN);
	s.room = SIZE_MAX / 2;
	while (pf_target_kick(s.t, SIZE_MAX) > 0)
		;
	KT_CHECK(!pf_target_blocked(s.t));
	/* Every pipelined request was answered, in order. */
	size_t answers = 0;
	for (const char *q = (const char *)kt_buf_peek(&s.got), *end = q + kt_buf_len(&s.got);
	     (q = memmem(q, (size_t)(end - q), "HTTP/1.1 200", 12)) != NULL; q += 12)
		answers++;
	KT_CHECK_INT_EQ(answers, sent);

	/* The client's EOF: the backend finishes and closes cleanly. */
	pf_target_write_eof(s.t);
	pf_target_kick(s.t, SIZE_MAX);
	KT_CHECK_INT_EQ(pf_target_state(s.t), PF_TS_EOF);
	KT_CHECK(!pf_target_open_for_output(s.t));
	pf_target_free(s.t);

	/* GET /close resets. */
	s.t = pf_target_open(&cl, pod, &spec, &sink);
	KT_REQUIRE(s.t);
	static const char cl_req[] = "GET /close HTTP/1.1\r\nHost: x\r\n\r\n";
	pf_target_write(s.t, (const uint8_t *)cl_req, sizeof(cl_req) - 1);
	pf_target_kick(s.t, SIZE_MAX);
	KT_CHECK_INT_EQ(pf_target_state(s.t), PF_TS_RESET);
	pf_target_free(s.t);

	/* A refused spec gives a refused target at once. */
	pf_target_resolve(pod, 8080, &spec);
	s.t = pf_target_open(&cl, pod, &spec, &sink);
	KT_REQUIRE(s.t);
	KT_CHECK_INT_EQ(pf_target_state(s.t), PF_TS_REFUSED);
	pf_target_free(s.t);

	kt_buf_fini(&s.got);
	cJSON_Delete(pod);
	fc_loop_free(cl.loop);
}

static bool delay_answered(struct sink_state *s)
{
	return got_text(s, "delayed 50\n");
}

KT_TEST(backend_timer)
{
	struct fc_cluster cl;
	struct sink_state s;
	struct pf_target_spec spec;
	cJSON *pod = pod_json(NULL);
	static const char req[] = "GET /delay/50 HTTP/1.1\r\nHost: x\r\n\r\n";

	memset(&cl, 0, sizeof(cl));
	memset(&s, 0, sizeof(s));
	cl.loop = s.loop = fc_loop_new();
	kt_buf_init(&s.got, 1 << 20);
	pf_target_resolve(pod, 80, &spec);
	struct pf_sink sink = {s_room, s_emit, s_notify, &s};
	s.t = pf_target_open(&cl, pod, &spec, &sink);
	KT_REQUIRE(s.t);
	s.room = 1 << 20;
	pf_target_write(s.t, (const uint8_t *)req, sizeof(req) - 1);
	KT_CHECK(!delay_answered(&s));
	KT_CHECK(run_until(&s, delay_answered));
	KT_CHECK(s.notified > 0);
	pf_target_free(s.t);
	kt_buf_fini(&s.got);
	cJSON_Delete(pod);
	fc_loop_free(cl.loop);
}

static bool not_connecting(struct sink_state *s)
{
	return pf_target_state(s->t) != PF_TS_CONNECTING;
}

static bool got_pong(struct sink_state *s)
{
	return got_text(s, "pong");
}

static bool at_eof(struct sink_state *s)
{
	return pf_target_state(s->t) == PF_TS_EOF;
}

KT_TEST(tcp_target)
{
	struct fc_cluster cl;
	struct sink_state s;
	struct pf_target_spec spec;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	char ann[256], buf[64];
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd;

	memset(&cl, 0, sizeof(cl));
	memset(&s, 0, sizeof(s));
	cl.loop = s.loop = fc_loop_new();
	kt_buf_init(&s.got, 1 << 20);
	KT_REQUIRE(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		   listen(lfd, 4) == 0 && getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
	snprintf(ann, sizeof(ann), "\"fake.kubetun.dev/backend-7000\":\"127.0.0.1:%u\"",
		 ntohs(a.sin_port));
	cJSON *pod = pod_json(ann);
	pf_target_resolve(pod, 7000, &spec);
	KT_REQUIRE(spec.kind == PF_TARGET_TCP);
	struct pf_sink sink = {s_room, s_emit, s_notify, &s};
	s.room = 1 << 20;
	s.t = pf_target_open(&cl, pod, &spec, &sink);
	KT_REQUIRE(s.t);
	/* Bytes written while connecting are queued and sent once connected. */
	pf_target_write(s.t, (const uint8_t *)"ping", 4);
	KT_CHECK(run_until(&s, not_connecting));
	KT_CHECK_INT_EQ(pf_target_state(s.t), PF_TS_OPEN);
	cfd = accept(lfd, NULL, NULL);
	KT_REQUIRE(cfd >= 0);
	KT_CHECK(run_until(&s, not_connecting)); /* one more round flushes the queue */
	struct pollfd pfd = {cfd, POLLIN, 0};
	KT_CHECK(poll(&pfd, 1, 2000) == 1);
	KT_CHECK_INT_EQ(read(cfd, buf, sizeof(buf)), 4);
	KT_CHECK_MEM_EQ(buf, "ping", 4);
	KT_CHECK_INT_EQ(write(cfd, "pong", 4), 4);
	KT_CHECK(run_until(&s, got_pong));
	KT_CHECK(pf_target_local_port(s.t) != 0);
	/* Client EOF reaches the server as a FIN; the server's FIN is our EOF. */
	pf_target_write_eof(s.t);
	KT_CHECK(poll(&pfd, 1, 2000) == 1);
	KT_CHECK_INT_EQ(read(cfd, buf, sizeof(buf)), 0);
	close(cfd);
	KT_CHECK(run_until(&s, at_eof));
	pf_target_free(s.t);

	/* Nobody listens any more: refused. */
	close(lfd);
	s.t = pf_target_open(&cl, pod, &spec, &sink);
	KT_REQUIRE(s.t);
	KT_CHECK(run_until(&s, not_connecting));
	KT_CHECK_INT_EQ(pf_target_state(s.t), PF_TS_REFUSED);
	pf_target_free(s.t);

	kt_buf_fini(&s.got);
	cJSON_Delete(pod);
	fc_loop_free(cl.loop);
}

KT_TEST_MAIN()
