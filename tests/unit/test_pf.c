/* test_pf.c: port-forward streams (pf.h) over WebSocket v4.channel.k8s.io against the real
 * peer, the project's fake API server run as a child process (fake_cluster.h), whose pods
 * serve HTTP: GET / through certificate, token and exec-plugin kubeconfigs; a 10 MiB download
 * with rx paused and resumed every MiB; a 10 MiB upload through send_room/on_writable whose
 * SHA-256 the pod returns; a refused pod port; a rejected port-forward (Status message); a
 * pod that does not exist; a dead API server; kt_pf_close and the drop fault. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "evloop.h"
#include "fake_cluster.h"
#include "k8s.h"
#include "kt_test.h"
#include "pf.h"

#define MiB (1024u * 1024u)

struct st {
	struct kt_evloop *l;
	struct kt_pf_stream *s;
	int opens, closes, errors;
	bool error_before_close;
	char error[1024];
	struct kt_buf in; /* small responses */
	bool keep_in;
	/* download */
	size_t body_seen; /* body bytes checked so far */
	bool in_body;	  /* past the response head */
	bool pattern_ok;
	size_t head_len;
	char head[1024];
	size_t next_pause; /* pause when body_seen passes this */
	bool paused;
	int pauses, data_while_paused;
	struct kt_timer *resume;
	/* upload */
	const uint8_t *tx;
	size_t tx_len, tx_off;
	int writables;
	bool free_in_close;
	bool close_on_open;
};

static void st_init(struct st *t, struct kt_evloop *l)
{
	memset(t, 0, sizeof(*t));
	t->l = l;
	t->pattern_ok = true;
	t->keep_in = true;
	kt_buf_init(&t->in, 1 << 16);
}

static void st_fini(struct st *t)
{
	kt_buf_fini(&t->in);
	kt_timer_free(t->resume);
}

static void pump(struct st *t)
{
	while (t->tx_off < t->tx_len) {
		size_t room = kt_pf_send_room(t->s), n = t->tx_len - t->tx_off;

		if (room == 0)
			return; /* on_writable follows */
		if (n > room)
			n = room;
		if (kt_pf_send(t->s, t->tx + t->tx_off, n) < 0)
			return;
		t->tx_off += n;
	}
}

static void on_open(void *arg)
{
	struct st *t = arg;

	t->opens++;
	if (t->close_on_open)
		kt_pf_close(t->s);
	else
		pump(t);
}

static void do_resume(void *arg)
{
	struct st *t = arg;

	t->paused = false;
	kt_pf_pause_rx(t->s, false);
}

/* Response bytes: the head is kept, the body checked against /bytes' pattern (i % 251). */
static void on_data(void *arg, const uint8_t *p, size_t n)
{
	struct st *t = arg;

	if (t->paused)
		t->data_while_paused++;
	if (t->keep_in)
		kt_buf_append(&t->in, p, n);
	for (size_t i = 0; i < n; i++) {
		if (!t->in_body) {
			if (t->head_len < sizeof(t->head) - 1)
				t->head[t->head_len++] = (char)p[i];
			t->head[t->head_len] = '\0';
			if (t->head_len >= 4 && !memcmp(t->head + t->head_len - 4, "\r\n\r\n", 4))
				t->in_body = true;
			continue;
		}
		if (p[i] != (uint8_t)(t->body_seen % 251))
			t->pattern_ok = false;
		t->body_seen++;
	}
	if (t->next_pause && t->body_seen >= t->next_pause) {
		/* Stop the pod's bytes for a moment, as a full TCP window would. */
		t->next_pause += MiB;
		t->paused = true;
		t->pauses++;
		kt_pf_pause_rx(t->s, true);
		kt_timer_arm(t->resume, 5);
	}
}

static void on_writable(void *arg)
{
	struct st *t = arg;

	t->writables++;
	pump(t);
}

static void on_error(void *arg, const char *text)
{
	struct st *t = arg;

	t->errors++;
	t->error_before_close = t->closes == 0;
	snprintf(t->error, sizeof(t->error), "%s", text);
}

static void on_close(void *arg)
{
	struct st *t = arg;

	t->closes++;
	if (t->free_in_close) {
		kt_pf_stream_free(t->s); /* pf.h: allowed inside on_close */
		t->s = NULL;
	}
	kt_evloop_stop(t->l);
}

static const struct kt_pf_ops ops = {on_open, on_data, on_writable, on_error, on_close};

static bool closed(void *arg)
{
	return ((struct st *)arg)->closes > 0;
}

static bool opened(void *arg)
{
	return ((struct st *)arg)->opens > 0;
}

struct client {
	struct kt_evloop *l;
	struct kt_k8s *k;
};

static bool client_new(struct client *c, const struct kt_kubeconfig *kc)
{
	char err[512] = "";

	c->l = kt_evloop_new(err, sizeof(err));
	c->k = c->l ? kt_k8s_new(c->l, kc, err, sizeof(err)) : NULL;
	if (!c->k)
		fprintf(stderr, "client: %s\n", err);
	return c->k != NULL;
}

static void client_free(struct client *c)
{
	kt_k8s_free(c->k);
	kt_evloop_free(c->l);
}

static const char get_root[] = "GET / HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n";

/* GET / on debug:8080 twice; the request is queued before the stream is even connected. The
 * second stream resumes the TLS session of the first (no certificate exchange) and is
 * authenticated all the same, also with a client certificate. */
static void get_root_with(const char *auth)
{
	struct fc_child f;
	struct client c;
	struct st t;

	KT_REQUIRE(fc_child_start(&f, auth, NULL));
	KT_REQUIRE(client_new(&c, f.kc));
	for (int i = 0; i < 2; i++) {
		st_init(&t, c.l);
		t.s = kt_pf_open(c.k, "default", "debug", 8080, &ops, &t);
		KT_REQUIRE(t.s);
		KT_CHECK_INT_EQ(kt_pf_send(t.s, (const uint8_t *)get_root, sizeof(get_root) - 1),
				0);
		KT_CHECK(fc_run_until(c.l, closed, &t, 10000));
		KT_CHECK_INT_EQ(t.opens, 1);
		KT_CHECK_INT_EQ(t.errors, 0);
		kt_buf_append(&t.in, "", 1);
		const char *resp = (const char *)kt_buf_peek(&t.in);
		KT_CHECK(strncmp(resp, "HTTP/1.1 200", 12) == 0);
		KT_CHECK(strstr(resp, "\r\n\r\npod=debug namespace=default port=8080\n") != NULL);
		/* Closed by the pod: no more sending. */
		KT_CHECK_INT_EQ(kt_pf_send(t.s, (const uint8_t *)"x", 1), -EPIPE);
		KT_CHECK_INT_EQ(kt_pf_send_room(t.s), 0);
		KT_CHECK_INT_EQ(kt_pf_tls_resumed(t.s), i == 1);
		kt_pf_stream_free(t.s);
		st_fini(&t);
	}
	client_free(&c);
	fc_child_stop(&f);
}

KT_TEST(get_root_with_client_certificate)
{
	get_root_with("cert");
}

KT_TEST(get_root_with_token)
{
	get_root_with("token");
}

KT_TEST(get_root_with_exec_plugin)
{
	get_root_with("exec");
}

KT_TEST(download_10mib_with_rx_pauses_and_upload_10mib_sha256)
{
	struct fc_child f;
	struct client c;
	struct st t;
	char req[256];

	KT_REQUIRE(fc_child_start(&f, "token", NULL));
	KT_REQUIRE(client_new(&c, f.kc));

	/* Download: every byte checked, rx paused after each MiB. */
	st_init(&t, c.l);
	t.keep_in = false;
	t.next_pause = MiB;
	t.resume = kt_timer_new(c.l, do_resume, &t);
	snprintf(req, sizeof(req),
		 "GET /bytes/%u HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n", 10 * MiB);
	t.tx = (const uint8_t *)req;
	t.tx_len = strlen(req);
	t.s = kt_pf_open(c.k, "shop", "kafka-0-does-not-matter", 9092, &ops, &t);
	KT_REQUIRE(t.s);
	kt_pf_stream_free(t.s); /* freed before it ever connected: no callback */
	t.s = kt_pf_open(c.k, "data", "kafka-0", 9092, &ops, &t);
	KT_REQUIRE(t.s);
	KT_CHECK(fc_run_until(c.l, closed, &t, 20000));
	KT_CHECK_INT_EQ(t.errors, 0);
	KT_CHECK(strncmp(t.head, "HTTP/1.1 200", 12) == 0);
	KT_CHECK_INT_EQ(t.body_seen, 10 * MiB);
	KT_CHECK(t.pattern_ok);
	KT_CHECK_INT_EQ(t.pauses, 10);
	KT_CHECK_INT_EQ(t.data_while_paused, 0);
	kt_pf_stream_free(t.s);
	st_fini(&t);

	/* Upload: 10 MiB through send_room/on_writable; the pod answers with its SHA-256. */
	size_t n = 10 * MiB;
	uint8_t *body = malloc(n);
	KT_REQUIRE(body);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		body[i] = (uint8_t)x;
	}
	unsigned char md[32];
	char hex[65];
	EVP_Digest(body, n, md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(req, sizeof(req),
		 "POST /sha256 HTTP/1.1\r\nHost: pod\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 n);
	size_t hl = strlen(req);
	uint8_t *all = malloc(hl + n);
	KT_REQUIRE(all);
	memcpy(all, req, hl);
	memcpy(all + hl, body, n);
	free(body);
	st_init(&t, c.l);
	t.tx = all;
	t.tx_len = hl + n;
	t.s = kt_pf_open(c.k, "shop", "api-does-not-exist-yet", 8080, &ops, &t);
	KT_REQUIRE(t.s);
	kt_pf_stream_free(t.s);
	t.s = kt_pf_open(c.k, "default", "debug", 8080, &ops, &t);
	KT_REQUIRE(t.s);
	KT_CHECK(fc_run_until(c.l, closed, &t, 20000));
	KT_CHECK_INT_EQ(t.errors, 0);
	KT_CHECK_INT_EQ(t.tx_off, t.tx_len);
	KT_CHECK(t.writables > 10); /* the queue (64 KiB) filled up and drained many times */
	kt_buf_append(&t.in, "", 1);
	const char *resp = (const char *)kt_buf_peek(&t.in);
	KT_CHECK(strncmp(resp, "HTTP/1.1 200", 12) == 0);
	const char *b = strstr(resp, "\r\n\r\n");
	KT_REQUIRE(b);
	KT_CHECK(strncmp(b + 4, hex, 64) == 0);
	kt_pf_stream_free(t.s);
	st_fini(&t);
	free(all);
	client_free(&c);
	fc_child_stop(&f);
}

struct posted {
	bool done;
	int status;
};

static void on_posted(void *arg, int status, const char *body, size_t len, const char *err)
{
	struct posted *p = arg;

	(void)body;
	(void)len;
	(void)err;
	p->done = true;
	p->status = status;
}

static bool posted_done(void *arg)
{
	return ((struct posted *)arg)->done;
}

/* A POST to the fake's fault API with the admin client; the HTTP status or -1. */
static int admin_post(struct client *adm, const char *path)
{
	struct posted p = {0};

	if (!kt_k8s_request(adm->k, "POST", path, NULL, 0, on_posted, &p))
		return -1;
	return fc_run_until(adm->l, posted_done, &p, 10000) ? p.status : -1;
}

/* Opens a stream with fresh state and runs until on_close. */
static void run_stream(struct client *c, struct st *t, const char *ns, const char *pod,
		       uint16_t port)
{
	st_init(t, c->l);
	t->s = kt_pf_open(c->k, ns, pod, port, &ops, t);
	if (!t->s)
		return;
	fc_run_until(c->l, closed, t, 10000);
}

KT_TEST(refused_port_rejected_forward_missing_pod_dead_server)
{
	struct fc_child f;
	struct client c, adm, dead;
	struct st t;
	int port = fc_dead_port();
	char url[64], want[128];

	KT_REQUIRE(port > 0);
	KT_REQUIRE(fc_child_start(&f, "token", NULL));
	KT_REQUIRE(client_new(&c, f.kc));

	/* The pod's port refuses: the kubelet's error-channel text, then the close. */
	run_stream(&c, &t, "default", "refuser", 8080);
	KT_CHECK_INT_EQ(t.closes, 1);
	KT_CHECK_INT_EQ(t.errors, 1);
	KT_CHECK(t.error_before_close);
	KT_CHECK(strncmp(t.error, "error forwarding port 8080", 26) == 0);
	kt_pf_stream_free(t.s);
	st_fini(&t);

	/* A pod that does not exist: the API's 404 Status. */
	run_stream(&c, &t, "default", "nosuch", 8080);
	KT_CHECK_INT_EQ(t.opens, 0);
	KT_CHECK_INT_EQ(t.errors, 1);
	KT_CHECK(t.error_before_close);
	KT_CHECK(strncmp(t.error, "HTTP 404: ", 10) == 0);
	KT_CHECK(strstr(t.error, "nosuch") != NULL);
	kt_pf_stream_free(t.s);
	st_fini(&t);

	/* The reject fault: a 403 whose Status message reaches on_error. */
	struct kt_kubeconfig *akc =
	    fc_token_kubeconfig(&f, "admin", NULL, true, NULL, f.admin_token);
	KT_REQUIRE(akc);
	KT_REQUIRE(client_new(&adm, akc));
	KT_CHECK(kt_k8s_request(adm.k, "POST", "/fake/v1/portforward/reject?code=403", NULL, 0,
				NULL, NULL) == NULL); /* a callback is required */
	KT_CHECK_INT_EQ(admin_post(&adm, "/fake/v1/portforward/reject?code=403"), 200);
	run_stream(&c, &t, "default", "debug", 8080);
	KT_CHECK_INT_EQ(t.opens, 0);
	KT_CHECK_INT_EQ(t.closes, 1);
	KT_CHECK(t.error_before_close);
	KT_CHECK_STR_EQ(t.error, "HTTP 403: port-forward rejected by fault injection");
	kt_pf_stream_free(t.s);
	st_fini(&t);
	KT_CHECK_INT_EQ(admin_post(&adm, "/fake/v1/portforward/reject?code=0"), 200);

	/* The drop fault ends an open stream; kt_pf_close ends one gracefully (on_close
	 * follows, and the stream may be freed inside it). */
	st_init(&t, c.l);
	t.s = kt_pf_open(c.k, "default", "debug", 8080, &ops, &t);
	KT_REQUIRE(t.s);
	KT_CHECK(fc_run_until(c.l, opened, &t, 10000));
	KT_CHECK_INT_EQ(admin_post(&adm, "/fake/v1/portforward/drop"), 200);
	KT_CHECK(fc_run_until(c.l, closed, &t, 10000));
	KT_CHECK_INT_EQ(t.errors, 0);
	kt_pf_stream_free(t.s);
	st_fini(&t);
	st_init(&t, c.l);
	t.close_on_open = true;
	t.free_in_close = true;
	t.s = kt_pf_open(c.k, "default", "debug", 8080, &ops, &t);
	KT_REQUIRE(t.s);
	KT_CHECK(fc_run_until(c.l, closed, &t, 10000));
	KT_CHECK_INT_EQ(t.opens, 1);
	KT_CHECK_INT_EQ(t.errors, 0);
	KT_CHECK(t.s == NULL);
	st_fini(&t);
	/* kt_pf_close before the connection is up: on_close still follows, asynchronously. */
	st_init(&t, c.l);
	t.s = kt_pf_open(c.k, "default", "debug", 8080, &ops, &t);
	KT_REQUIRE(t.s);
	kt_pf_close(t.s);
	KT_CHECK_INT_EQ(t.closes, 0);
	KT_CHECK(fc_run_until(c.l, closed, &t, 10000));
	KT_CHECK_INT_EQ(t.opens, 0);
	kt_pf_stream_free(t.s);
	st_fini(&t);
	/* Bad arguments. */
	KT_CHECK(kt_pf_open(c.k, "default", "Bad_Name", 8080, &ops, &t) == NULL);
	KT_CHECK(kt_pf_open(c.k, "default", "debug", 0, &ops, &t) == NULL);
	kt_pf_stream_free(NULL);
	client_free(&adm);
	kt_kubeconfig_free(akc);

	/* A dead API server. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	struct kt_kubeconfig *dkc = fc_token_kubeconfig(&f, "dead", url, true, NULL, "t");
	KT_REQUIRE(dkc);
	KT_REQUIRE(client_new(&dead, dkc));
	run_stream(&dead, &t, "default", "debug", 8080);
	KT_CHECK_INT_EQ(t.opens, 0);
	KT_CHECK_INT_EQ(t.errors, 1);
	snprintf(want, sizeof(want), "connect to %s: connection refused", url);
	KT_CHECK_STR_EQ(t.error, want);
	kt_pf_stream_free(t.s);
	st_fini(&t);
	client_free(&dead);
	kt_kubeconfig_free(dkc);

	client_free(&c);
	fc_child_stop(&f);
}

KT_TEST(streams_left_open_are_closed_with_the_client)
{
	struct fc_child f;
	struct client c;
	struct st a, b;

	KT_REQUIRE(fc_child_start(&f, "token", NULL));
	KT_REQUIRE(client_new(&c, f.kc));
	st_init(&a, c.l);
	st_init(&b, c.l);
	a.s = kt_pf_open(c.k, "default", "debug", 8080, &ops, &a);
	KT_REQUIRE(a.s);
	KT_CHECK(fc_run_until(c.l, opened, &a, 10000));
	b.s = kt_pf_open(c.k, "default", "debug", 8080, &ops, &b); /* not connected yet */
	KT_REQUIRE(b.s);
	/* kt_k8s_free closes both without callbacks; their handles are gone with it. */
	kt_k8s_free(c.k);
	c.k = NULL;
	fc_run_for(c.l, 100);
	KT_CHECK_INT_EQ(a.closes + b.closes + a.errors + b.errors + b.opens, 0);
	st_fini(&a);
	st_fini(&b);
	client_free(&c);
	fc_child_stop(&f);
}

KT_TEST_MAIN()
