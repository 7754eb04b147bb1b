/* test_k8s.c: the Kubernetes REST client and informers (k8s.h) against the real peer, the
 * project's fake API server run as a child process (fake_cluster.h): GET /version with
 * certificate, token and exec-plugin kubeconfigs; 401; TLS verification (wrong CA, wrong and
 * right tls-server-name, insecure-skip-tls-verify); a dead server's one-line error; an
 * informer that lists, sees DELETED/ADDED after a pod is deleted through the API, survives an
 * API outage and recovers. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evloop.h"
#include "fake_cluster.h"
#include "k8s.h"
#include "kt_test.h"
#include "kubeconfig.h"

struct resp {
	bool done;
	int status;
	char body[8192];
	size_t len;
	char err[512];
};

static void on_resp(void *arg, int status, const char *body, size_t len, const char *err)
{
	struct resp *r = arg;

	r->done = true;
	r->status = status;
	r->len = len;
	snprintf(r->body, sizeof(r->body), "%.*s", (int)(len < sizeof(r->body) ? len : 0),
		 body ? body : "");
	if (len >= sizeof(r->body) && body)
		memcpy(r->body, body, sizeof(r->body) - 1);
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

static bool resp_done(void *arg)
{
	return ((struct resp *)arg)->done;
}

/* One request on a fresh client for kc; fills *r. */
static bool request(struct kt_kubeconfig *kc, const char *method, const char *path,
		    const char *body, struct resp *r)
{
	char err[512] = "";
	struct kt_evloop *l = kt_evloop_new(err, sizeof(err));
	struct kt_k8s *k = l ? kt_k8s_new(l, kc, err, sizeof(err)) : NULL;
	bool ok = false;

	memset(r, 0, sizeof(*r));
	if (!k) {
		fprintf(stderr, "client: %s\n", err);
		goto out;
	}
	struct kt_k8s_req *q =
	    kt_k8s_request(k, method, path, body, body ? strlen(body) : 0, on_resp, r);
	if (!q)
		goto out;
	/* The callback never runs inside the call. */
	if (r->done)
		goto out;
	ok = fc_run_until(l, resp_done, r, 15000);
	if (!ok)
		kt_k8s_req_cancel(q);
out:
	kt_k8s_free(k);
	kt_evloop_free(l);
	return ok;
}

static void check_version(struct kt_kubeconfig *kc)
{
	struct resp r;

	KT_REQUIRE(request(kc, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 200);
	KT_CHECK(strstr(r.body, "\"gitVersion\"") != NULL);
	KT_CHECK_STR_EQ(r.err, "");
}

KT_TEST(version_with_client_certificate)
{
	struct fc_child f;

	KT_REQUIRE(fc_child_start(&f, "cert", NULL));
	KT_CHECK(f.kc->client_cert_pem != NULL && f.kc->token == NULL);
	check_version(f.kc);
	fc_child_stop(&f);
}

KT_TEST(version_with_token_and_401_for_a_bad_one)
{
	struct fc_child f;
	struct resp r;

	KT_REQUIRE(fc_child_start(&f, "token", NULL));
	KT_CHECK(f.kc->token != NULL);
	check_version(f.kc);
	struct kt_kubeconfig *bad = fc_token_kubeconfig(&f, "bad", NULL, true, NULL, "nope");
	KT_REQUIRE(bad);
	KT_REQUIRE(request(bad, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 401);
	KT_CHECK(strstr(r.body, "\"Unauthorized\"") != NULL);
	kt_kubeconfig_free(bad);
	fc_child_stop(&f);
}

KT_TEST(version_with_exec_plugin)
{
	struct fc_child f;
	struct resp r;

	KT_REQUIRE(fc_child_start(&f, "exec", NULL));
	KT_CHECK(f.kc->exec != NULL && f.kc->token == NULL);
	check_version(f.kc);
	KT_REQUIRE(request(f.kc, "GET", "/api/v1/namespaces/data/pods", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 200);
	KT_CHECK(strstr(r.body, "\"PodList\"") != NULL);
	fc_child_stop(&f);
}

/* A self-signed CA that signed nothing the fake serves. */
static bool write_other_ca(const char *path)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	FILE *o;
	bool ok = false;

	if (!pk || !x)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"other-ca", -1, -1,
				   0);
	X509_set_issuer_name(x, n);
	if (!X509_sign(x, pk, EVP_sha256()))
		goto out;
	o = fopen(path, "w");
	if (!o)
		goto out;
	ok = PEM_write_X509(o, x) == 1;
	fclose(o);
out:
	X509_free(x);
	EVP_PKEY_free(pk);
	return ok;
}

KT_TEST(tls_verification_ca_and_server_name)
{
	struct fc_child f;
	struct resp r;
	char extra[512], ca[256], want[256];

	KT_REQUIRE(fc_child_start(&f, "token", NULL));
	const char *tok = f.kc->token;

	/* Wrong CA: a clear verification error, no HTTP status. */
	snprintf(ca, sizeof(ca), "%s/other-ca.pem", f.dir);
	KT_REQUIRE(write_other_ca(ca));
	snprintf(extra, sizeof(extra), "    certificate-authority: %s\n", ca);
	struct kt_kubeconfig *kc = fc_token_kubeconfig(&f, "wrongca", NULL, false, extra, tok);
	KT_REQUIRE(kc);
	KT_REQUIRE(request(kc, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 0);
	snprintf(want, sizeof(want),
		 "TLS handshake with %s failed: certificate verify failed: ", f.url);
	KT_CHECK(strncmp(r.err, want, strlen(want)) == 0);
	KT_CHECK(strstr(r.err, "issuer") != NULL || strstr(r.err, "self-signed") != NULL);
	kt_kubeconfig_free(kc);

	/* tls-server-name: "localhost" is in the server certificate, "wrong.example" is not. */
	kc = fc_token_kubeconfig(&f, "sni-ok", NULL, true, "    tls-server-name: localhost\n", tok);
	KT_REQUIRE(kc);
	KT_REQUIRE(request(kc, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 200);
	kt_kubeconfig_free(kc);
	kc = fc_token_kubeconfig(&f, "sni-bad", NULL, true, "    tls-server-name: wrong.example\n",
				 tok);
	KT_REQUIRE(kc);
	KT_REQUIRE(request(kc, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 0);
	KT_CHECK(strstr(r.err, "not valid for wrong.example") != NULL);
	kt_kubeconfig_free(kc);

	/* No CA at all: the system store does not know the fake's CA... */
	kc = fc_token_kubeconfig(&f, "noca", NULL, false, NULL, tok);
	KT_REQUIRE(kc);
	KT_REQUIRE(request(kc, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 0);
	KT_CHECK(strstr(r.err, "certificate verify failed") != NULL);
	kt_kubeconfig_free(kc);
	/* ...unless the kubeconfig itself says insecure-skip-tls-verify. */
	kc = fc_token_kubeconfig(&f, "insecure", NULL, false,
				 "    insecure-skip-tls-verify: true\n", tok);
	KT_REQUIRE(kc);
	KT_REQUIRE(request(kc, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 200);
	kt_kubeconfig_free(kc);
	fc_child_stop(&f);
}

KT_TEST(dead_server_gives_one_clear_line)
{
	struct fc_child f;
	struct resp r;
	char url[64], want[128];
	int port = fc_dead_port();

	KT_REQUIRE(port > 0);
	KT_REQUIRE(fc_child_start(&f, "token", NULL));
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	struct kt_kubeconfig *kc = fc_token_kubeconfig(&f, "dead", url, true, NULL, "t");
	KT_REQUIRE(kc);
	KT_REQUIRE(request(kc, "GET", "/version", NULL, &r));
	KT_CHECK_INT_EQ(r.status, 0);
	snprintf(want, sizeof(want), "connect to %s: connection refused", url);
	KT_CHECK_STR_EQ(r.err, want);
	kt_kubeconfig_free(kc);
	fc_child_stop(&f);
}

/* ---- informer ---- */

struct inf {
	int syncs;
	int nitems;
	char items[8][64];
	int deleted_kafka1, added_kafka1_after_delete, added, added_extra;
	int errors;
	char last_error[512];
	char want_error[256];
	bool saw_want_error;
	bool stop_in_event;
	struct kt_k8s_watch *w;
};

static void inf_sync(void *arg, const cJSON *items)
{
	struct inf *s = arg;
	const cJSON *it;

	s->syncs++;
	s->nitems = 0;
	cJSON_ArrayForEach(it, items)
	{
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(md, "name");

		if (s->nitems < 8 && cJSON_IsString(nm))
			snprintf(s->items[s->nitems], sizeof(s->items[0]), "%s", nm->valuestring);
		s->nitems++;
	}
}

static void inf_event(void *arg, const char *type, const cJSON *obj)
{
	struct inf *s = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(md, "name");
	bool k1 = cJSON_IsString(nm) && !strcmp(nm->valuestring, "kafka-1");

	if (!strcmp(type, "DELETED") && k1)
		s->deleted_kafka1++;
	if (!strcmp(type, "ADDED")) {
		s->added++;
		if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "extra"))
			s->added_extra++;
		if (k1 && s->deleted_kafka1)
			s->added_kafka1_after_delete++;
	}
	if (s->stop_in_event) {
		kt_k8s_watch_stop(s->w); /* stopping from inside its own callback */
		s->w = NULL;
	}
}

static void inf_error(void *arg, const char *msg)
{
	struct inf *s = arg;

	s->errors++;
	snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
	if (!strcmp(msg, s->want_error))
		s->saw_want_error = true;
}

static const struct kt_k8s_watch_ops inf_ops = {inf_sync, inf_event, inf_error};

static bool inf_synced(void *arg)
{
	return ((struct inf *)arg)->syncs > 0;
}

static bool inf_replaced(void *arg)
{
	struct inf *s = arg;

	return s->deleted_kafka1 && s->added_kafka1_after_delete;
}

static bool inf_added_extra(void *arg)
{
	return ((struct inf *)arg)->added_extra > 0;
}

static bool inf_saw_want_error(void *arg)
{
	return ((struct inf *)arg)->saw_want_error;
}

static bool inf_stopped(void *arg)
{
	return ((struct inf *)arg)->w == NULL;
}

struct admin {
	struct resp r;
};

/* Sends a request with the client k and waits for its answer. */
static int call_body(struct kt_evloop *l, struct kt_k8s *k, const char *method, const char *path,
		     const char *body, struct resp *r)
{
	memset(r, 0, sizeof(*r));
	if (!kt_k8s_request(k, method, path, body, body ? strlen(body) : 0, on_resp, r))
		return -1;
	if (!fc_run_until(l, resp_done, r, 15000))
		return -1;
	return r->status;
}

static int call(struct kt_evloop *l, struct kt_k8s *k, const char *method, const char *path,
		struct resp *r)
{
	return call_body(l, k, method, path, NULL, r);
}

/* A fake cluster, a loop, a client with the cluster's kubeconfig and one with its admin
 * token (for /fake/v1/ faults). */
struct two_clients {
	struct fc_child f;
	struct kt_kubeconfig *akc;
	struct kt_evloop *l;
	struct kt_k8s *k, *adm;
};

static bool two_clients_start(struct two_clients *t, const char *const *extra)
{
	char err[512];

	memset(t, 0, sizeof(*t));
	if (!fc_child_start(&t->f, "cert", extra))
		return false;
	t->akc = fc_token_kubeconfig(&t->f, "admin", NULL, true, NULL, t->f.admin_token);
	t->l = t->akc ? kt_evloop_new(err, sizeof(err)) : NULL;
	t->k = t->l ? kt_k8s_new(t->l, t->f.kc, err, sizeof(err)) : NULL;
	t->adm = t->k ? kt_k8s_new(t->l, t->akc, err, sizeof(err)) : NULL;
	return t->adm != NULL;
}

static void two_clients_stop(struct two_clients *t)
{
	kt_k8s_free(t->adm);
	kt_k8s_free(t->k);
	kt_evloop_free(t->l);
	kt_kubeconfig_free(t->akc);
	fc_child_stop(&t->f);
}

KT_TEST(informer_lists_watches_survives_an_outage)
{
	struct two_clients tc;
	struct inf s = {0};
	struct resp r;
	struct kt_k8s_health h;

	if (!two_clients_start(&tc, NULL)) {
		two_clients_stop(&tc);
		KT_REQUIRE(!"fake cluster and clients");
	}
	struct kt_evloop *l = tc.l;
	struct kt_k8s *k = tc.k, *adm = tc.adm;
	KT_CHECK_STR_EQ(kt_k8s_server(k), tc.f.url);

	s.w = kt_k8s_watch_start(k, "/api/v1/namespaces/data/pods", "app=kafka", &inf_ops, &s);
	KT_REQUIRE(s.w);
	KT_CHECK_INT_EQ(s.syncs, 0);
	KT_REQUIRE(fc_run_until(l, inf_synced, &s, 10000));
	KT_CHECK_INT_EQ(s.nitems, 3); /* kafka-0..2; the selector leaves out db-0, db-1 */
	KT_CHECK_STR_EQ(s.items[0], "kafka-0");
	kt_k8s_health(k, &h);
	KT_CHECK_INT_EQ(h.watches, 1);
	KT_CHECK_INT_EQ(h.watches_synced, 1);
	KT_CHECK(h.last_ok_ms > 0);

	/* Delete a StatefulSet pod through the API: the watch sees it go and come back. */
	KT_CHECK_INT_EQ(call(l, k, "DELETE", "/api/v1/namespaces/data/pods/kafka-1", &r), 200);
	KT_CHECK(fc_run_until(l, inf_replaced, &s, 10000));
	KT_CHECK_INT_EQ(s.syncs, 1); /* no re-list was needed */

	/* A POST with a JSON body creates a pod the selector matches. */
	static const char pod[] =
	    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"extra\","
	    "\"namespace\":\"data\",\"labels\":{\"app\":\"kafka\"}},\"spec\":{\"containers\":"
	    "[{\"name\":\"c\",\"image\":\"example/x\"}]}}";
	KT_CHECK_INT_EQ(call_body(l, k, "POST", "/api/v1/namespaces/data/pods", pod, &r), 201);
	KT_CHECK(strstr(r.body, "\"extra\"") != NULL);
	KT_CHECK(fc_run_until(l, inf_added_extra, &s, 10000));

	/* An API outage: the watch breaks, the informer reports it and keeps retrying... */
	KT_CHECK_INT_EQ(call(l, adm, "POST", "/fake/v1/outage?seconds=2", &r), 200);
	snprintf(s.want_error, sizeof(s.want_error), "connect to %s: connection refused", tc.f.url);
	KT_CHECK(fc_run_until(l, inf_saw_want_error, &s, 5000));
	kt_k8s_health(k, &h);
	KT_CHECK(h.last_error[0] != '\0');
	/* ...and is back once the server is: a deletion after the outage is seen. */
	s.deleted_kafka1 = s.added_kafka1_after_delete = 0;
	fc_run_for(l, 2500);
	for (int i = 0; i < 50; i++) {
		if (call(l, k, "DELETE", "/api/v1/namespaces/data/pods/kafka-1", &r) == 200)
			break;
		fc_run_for(l, 100);
	}
	KT_CHECK_INT_EQ(r.status, 200);
	KT_CHECK(fc_run_until(l, inf_replaced, &s, 15000));
	kt_k8s_health(k, &h);
	KT_CHECK_INT_EQ(h.watches_synced, 1);
	KT_CHECK(kt_evloop_now_ms(l) - h.last_ok_ms < 5000);

	/* Stopping from inside the watch's own callback. */
	s.stop_in_event = true;
	KT_CHECK_INT_EQ(call(l, k, "DELETE", "/api/v1/namespaces/data/pods/kafka-0", &r), 200);
	KT_CHECK(fc_run_until(l, inf_stopped, &s, 10000));
	kt_k8s_health(k, &h);
	KT_CHECK_INT_EQ(h.watches, 0);

	two_clients_stop(&tc);
}

static int g_syncs_before;

static bool inf_relisted(void *arg)
{
	return ((struct inf *)arg)->syncs > g_syncs_before;
}

/* 410 Expired, both ways an API server says it (protocol.md 5.6): an ERROR event inside the
 * watch stream (the fake's /fake/v1/watch/expire, as after an etcd compaction), and an HTTP
 * 410 when the informer resumes from a resourceVersion the server no longer keeps (--history 1
 * and several changes during an outage). Each time the informer lists again, completely, and
 * its watch then works. */
KT_TEST(informer_relists_after_410_expired)
{
	static const char *const extra[] = {"--history",	  "1",	 "--grace-ms", "500",
					    "--replace-delay-ms", "300", NULL};
	struct two_clients tc;
	struct inf s = {0};
	struct resp r;

	if (!two_clients_start(&tc, extra)) {
		two_clients_stop(&tc);
		KT_REQUIRE(!"fake cluster and clients");
	}
	struct kt_evloop *l = tc.l;
	struct kt_k8s *k = tc.k, *adm = tc.adm;
	s.w = kt_k8s_watch_start(k, "/api/v1/namespaces/data/pods", "app=kafka", &inf_ops, &s);
	KT_REQUIRE(s.w);
	KT_REQUIRE(fc_run_until(l, inf_synced, &s, 10000));
	KT_CHECK_INT_EQ(s.syncs, 1);

	/* In-stream ERROR 410: a second list, then events flow again. */
	g_syncs_before = s.syncs;
	KT_CHECK_INT_EQ(call(l, adm, "POST", "/fake/v1/watch/expire", &r), 200);
	KT_CHECK(fc_run_until(l, inf_relisted, &s, 10000));
	KT_CHECK_INT_EQ(s.nitems, 3);
	KT_CHECK_INT_EQ(s.errors, 0); /* a re-list is routine, not an error */
	KT_CHECK_INT_EQ(call(l, k, "DELETE", "/api/v1/namespaces/data/pods/kafka-1", &r), 200);
	KT_CHECK(fc_run_until(l, inf_replaced, &s, 10000));

	/* HTTP 410: kafka-0 and kafka-2 go (after 500 ms of Terminating) and come back while the
	 * API is out: several events, and with one event of history the informer's
	 * resourceVersion is gone when it reconnects. */
	fc_run_for(l, 1500);
	g_syncs_before = s.syncs;
	KT_CHECK_INT_EQ(call(l, k, "DELETE", "/api/v1/namespaces/data/pods/kafka-0", &r), 200);
	KT_CHECK_INT_EQ(call(l, k, "DELETE", "/api/v1/namespaces/data/pods/kafka-2", &r), 200);
	KT_CHECK_INT_EQ(call(l, adm, "POST", "/fake/v1/outage?seconds=2", &r), 200);
	KT_CHECK(fc_run_until(l, inf_relisted, &s, 15000));
	KT_CHECK_INT_EQ(s.nitems, 3);
	/* The replacements, listed. */
	KT_CHECK(!strcmp(s.items[0], "kafka-0") && !strcmp(s.items[2], "kafka-2"));

	kt_k8s_watch_stop(s.w);
	two_clients_stop(&tc);
}

KT_TEST(requests_are_cancelled_and_freed_with_the_client)
{
	struct fc_child f;
	struct resp r1, r2;
	char err[512];
	struct inf s = {0};

	KT_REQUIRE(fc_child_start(&f, "token", NULL));
	struct kt_evloop *l = kt_evloop_new(err, sizeof(err));
	KT_REQUIRE(l);
	struct kt_k8s *k = kt_k8s_new(l, f.kc, err, sizeof(err));
	KT_REQUIRE(k);
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	struct kt_k8s_req *q1 = kt_k8s_get(k, "/version", on_resp, &r1);
	KT_REQUIRE(q1);
	KT_CHECK(kt_k8s_get(k, "no-slash", on_resp, &r1) == NULL);
	kt_k8s_req_cancel(q1); /* before it even started */
	/* A watch never completes as a plain GET: it is surely in flight when cancelled. */
	struct kt_k8s_req *q2 = kt_k8s_get(k, "/api/v1/namespaces/shop/pods?watch=1", on_resp, &r2);
	KT_REQUIRE(q2);
	fc_run_for(l, 200);
	KT_REQUIRE(!r2.done);
	kt_k8s_req_cancel(q2);
	fc_run_for(l, 300);
	KT_CHECK(!r1.done && !r2.done);
	/* A request and a watch left open are closed by kt_k8s_free (no callbacks). */
	KT_REQUIRE(kt_k8s_get(k, "/api/v1/pods?watch=1", on_resp, &r1));
	KT_REQUIRE(kt_k8s_watch_start(k, "/api/v1/pods", NULL, &inf_ops, &s));
	fc_run_for(l, 30);
	kt_k8s_free(k);
	fc_run_for(l, 100);
	KT_CHECK(!r1.done);
	kt_evloop_free(l);
	fc_child_stop(&f);
}

KT_TEST_MAIN()
