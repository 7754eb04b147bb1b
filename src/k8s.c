/* k8s.c: the Kubernetes REST client and list+watch informers over libwebsockets (k8s.h).
 *
 * Transport: one HTTPS/1.1 connection per request or watch ("connection: close"), made on the
 * cluster's own lws vhost (k8s_lws.h). TLS uses an OpenSSL client context built here from the
 * kubeconfig, handed to lws as provided_client_ssl_ctx: lws 4.1's client_ssl_ca_mem takes only
 * the first certificate of a bundle, and an exec plugin may hand out a new client certificate
 * at any time, which a context we own can simply be given. The server certificate is checked
 * against the CA (or the system store), and its name against tls-server-name or the server
 * host (X509_VERIFY_PARAM on our context, so IPv6 literals work too; lws's own check, which
 * reads the Host header, is switched off). SNI and the Host header carry tls-server-name when
 * set (lws 4.1 takes SNI from the Host header). insecure-skip-tls-verify clears every
 * verification error in the verify callback, and only when the kubeconfig says so.
 *
 * A struct hconn is one HTTP exchange on one wsi; the request (kt_k8s_req) and the informer
 * (kt_k8s_watch) embed one each and reuse it for their successive connections. Starting a
 * connection is always deferred to a zero-delay sul, so no user callback ever runs inside
 * kt_k8s_get() or kt_k8s_watch_start() (libuv's callback rule, k8s.h), and the exec plugin
 * (which blocks) runs from the loop rather than inside an lws callback.
 *
 * Callback discipline: an hconn gives its wsi up by detaching (wsi user data set to NULL)
 * before it reports to its owner, and an lws callback that called into the owner checks only
 * lws_wsi_user(wsi) afterwards, never the hconn, because the owner may have freed or restarted
 * it. The owner's own objects use the same "in callback" counting before they free themselves.
 *
 * Errors are one line each and name the server: "connect to URL: connection refused" (lws
 * 4.1 hides the connect errno, so a probe finds it, see k8s_lws.h), "TLS handshake with URL
 * failed: certificate verify failed: ...", or the HTTP status with the Status message. A 401
 * re-runs the exec plugin and repeats the request once.
 *
 * Limits: a response body is at most KT_K8S_MAX_BODY (64 MiB); one watch event line at most
 * 16 MiB; a request gets no more than 120 s; a watch asks the server for ~300 s
 * (timeoutSeconds 240..360, jittered so informers do not reconnect in step) and is dropped when
 * nothing arrives for 30 s beyond that. Failed informers retry with lws_retry_bo_t backoff from
 * 250 ms to 30 s (25 s + up to 20 % jitter). */
#include "k8s.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "evloop.h"
#include "evloop_lws.h"
#include "execcred.h"
#include "k8s_lws.h"
#include "kubeconfig.h"
#include "log.h"

#define MAX_EVENT_LINE (16u << 20)
#define MAX_ERROR_BODY (64u << 10)
#define REQ_TIMEOUT_MS 120000u
#define WATCH_TIMEOUT_MIN_S 240u
#define WATCH_TIMEOUT_JITTER_S 120u
#define WATCH_IDLE_GRACE_MS 30000u
/* A watch that ends normally after at least this long is re-opened at once. */
#define WATCH_HEALTHY_MS 5000u
#define RV_MAX 128
#define PROBE_TIMEOUT_MS 3000u
#define HTTP_PROTOCOL "kt-k8s-http"
#define USER_AGENT "kubetun/0.1"

static const uint32_t backoff_ms[] = {250, 500, 1000, 2000, 4000, 8000, 16000, 25000};
static const lws_retry_bo_t backoff = {
    .retry_ms_table = backoff_ms,
    .retry_ms_table_count = sizeof(backoff_ms) / sizeof(backoff_ms[0]),
    .conceal_count = LWS_RETRY_CONCEAL_ALWAYS,
    .jitter_percent = 20,
};

struct kt_k8s {
	struct kt_evloop *loop;
	struct lws_context *ctx;
	const struct kt_kubeconfig *kc; /* borrowed */
	struct lws_vhost *vh;
	SSL_CTX *ssl;		  /* ours; lws borrows it */
	struct kt_execcred *exec; /* NULL unless the user has exec and no token */
	char *exec_cert;	  /* PEM of the exec-provided client certificate in ssl */
	/* The latest TLS session the server gave us (pf.c resumes it; see on_new_session). */
	SSL_SESSION *tls_session;
	char vhname[32];
	char hosthdr[300];	      /* Host header, and (lws 4.1) the SNI name */
	char verifyname[256];	      /* the name the server certificate must carry */
	struct sockaddr_storage addr; /* the server's address for pf.c's own connections */
	socklen_t addr_len;	      /* 0: not resolved (yet, or again after a failure) */
	/* In creation order: a stream is abandoned before the status request it made. */
	struct kt_k8s_child *children, *children_tail;
	unsigned watches, watches_synced;
	struct kt_k8s_health health;
};

/* ---- small helpers ---- */

static uint64_t now_ms(struct kt_k8s *k)
{
	return kt_evloop_now_ms(k->loop);
}

static void wipe_free(char *s, size_t n)
{
	if (s) {
		OPENSSL_cleanse(s, n);
		free(s);
	}
}

/* Percent-encodes s for a query value (RFC 3986 unreserved characters stay). */
static int url_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (o + 1 >= cap)
				return -ENAMETOOLONG;
			out[o++] = (char)ch;
		} else {
			if (o + 3 >= cap)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (o >= cap)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

/* The message of a Status body, or NULL. */
static char *status_message(const uint8_t *body, size_t len)
{
	cJSON *j = cJSON_ParseWithLength((const char *)body, len);
	char *m = NULL;

	if (j) {
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");

		if (cJSON_IsString(msg) && msg->valuestring[0])
			m = strdup(msg->valuestring);
		cJSON_Delete(j);
	}
	return m;
}

/* "403 Forbidden: <Status message>" for an HTTP answer that is not a success. */
static void http_error(char *out, size_t cap, const char *what, int status, const uint8_t *body,
		       size_t len)
{
	char *m = status_message(body, len);

	if (m)
		snprintf(out, cap, "%s: HTTP %d: %s", what, status, m);
	else
		snprintf(out, cap, "%s: HTTP %d", what, status);
	free(m);
}

/* ---- health ---- */

void kt_k8s_note_ok(struct kt_k8s *k)
{
	k->health.last_ok_ms = now_ms(k);
}

void kt_k8s_note_error(struct kt_k8s *k, const char *msg)
{
	/* Truncation is intended: the last error is a one-line summary. */
	size_t n = strnlen(msg, sizeof(k->health.last_error) - 1);
	memcpy(k->health.last_error, msg, n);
	k->health.last_error[n] = '\0';
	k->health.last_error_ms = now_ms(k);
}

void kt_k8s_health(const struct kt_k8s *k, struct kt_k8s_health *out)
{
	*out = k->health;
	out->watches = k->watches;
	out->watches_synced = k->watches_synced;
}

const char *kt_k8s_server(const struct kt_k8s *k)
{
	return k->kc->server.url;
}

/* ---- children ---- */

void kt_k8s_child_add(struct kt_k8s *k, struct kt_k8s_child *c)
{
	c->next = NULL;
	c->prev = k->children_tail;
	if (k->children_tail)
		k->children_tail->next = c;
	else
		k->children = c;
	k->children_tail = c;
}

void kt_k8s_child_del(struct kt_k8s *k, struct kt_k8s_child *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (k->children == c)
		k->children = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (k->children_tail == c)
		k->children_tail = c->prev;
	c->prev = c->next = NULL;
}

struct lws_context *kt_k8s_lws_context(struct kt_k8s *k)
{
	return k->ctx;
}

struct kt_evloop *kt_k8s_loop(struct kt_k8s *k)
{
	return k->loop;
}

SSL_CTX *kt_k8s_ssl_ctx(struct kt_k8s *k)
{
	return k->ssl;
}

/* TLS session resumption for the port-forward streams. Each stream is a new TLS connection to
 * the same API server; resuming the latest session (TLS 1.3 ticket or TLS 1.2 session) skips
 * the certificate exchange and its verification on both sides, which is most of a stream's
 * setup cost. The server's certificate was verified, against the same context, when the
 * session was made. Sessions come from every connection on our context (lws's too) through
 * OpenSSL's new-session callback; only the latest is kept. */
static int k8s_ctx_idx = -1;

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct kt_k8s *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), k8s_ctx_idx);
	SSL_SESSION *copy;

	if (!k)
		return 0;
	/* A copy: OpenSSL marks the connection's own session object not resumable when that
	 * connection ends without a TLS close_notify, as port-forward streams usually do. */
	copy = SSL_SESSION_dup(sess);
	if (!copy)
		return 0;
	SSL_SESSION_free(k->tls_session);
	k->tls_session = copy;
	return 0; /* OpenSSL keeps (and frees) its own reference */
}

static int k8s_enable_resumption(struct kt_k8s *k)
{
	if (k8s_ctx_idx < 0)
		k8s_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (k8s_ctx_idx < 0 || SSL_CTX_set_ex_data(k->ssl, k8s_ctx_idx, k) != 1)
		return -1;
	/* Client side only, and no internal cache: on_new_session is the cache. */
	SSL_CTX_set_session_cache_mode(k->ssl,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(k->ssl, on_new_session);
	return 0;
}

void kt_k8s_tls_resume(struct kt_k8s *k, SSL *ssl)
{
	if (k->tls_session && SSL_SESSION_is_resumable(k->tls_session))
		SSL_set_session(ssl, k->tls_session);
}

const char *kt_k8s_host_header(const struct kt_k8s *k)
{
	return k->hosthdr;
}

const char *kt_k8s_sni(const struct kt_k8s *k)
{
	const struct kt_kubeconfig *kc = k->kc;
	struct in6_addr a6;
	struct in_addr a4;

	if (kc->tls_server_name && kc->tls_server_name[0])
		return kc->tls_server_name;
	/* RFC 6066 section 3: SNI carries host names only, never address literals. */
	if (kc->server.host_is_ipv6 || inet_pton(AF_INET, kc->server.host, &a4) == 1 ||
	    inet_pton(AF_INET6, kc->server.host, &a6) == 1)
		return NULL;
	return kc->server.host;
}

const char *kt_k8s_path_prefix(const struct kt_k8s *k)
{
	return k->kc->server.path_prefix;
}

int kt_k8s_server_addr(struct kt_k8s *k, struct sockaddr_storage *sa, socklen_t *salen)
{
	if (!k->addr_len) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
		struct addrinfo *ai = NULL;
		char port[8];

		snprintf(port, sizeof(port), "%u", k->kc->server.port);
		/* Blocking, once per client until a connect fails (lws looks up every connection
		 * the same way; there is no asynchronous resolver here). */
		if (getaddrinfo(k->kc->server.host, port, &hints, &ai) != 0 || !ai)
			return -1;
		if (ai->ai_addrlen > sizeof(k->addr)) {
			freeaddrinfo(ai);
			return -1;
		}
		memcpy(&k->addr, ai->ai_addr, ai->ai_addrlen);
		k->addr_len = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	memcpy(sa, &k->addr, k->addr_len);
	*salen = k->addr_len;
	return 0;
}

void kt_k8s_server_addr_forget(struct kt_k8s *k)
{
	k->addr_len = 0;
}

int kt_k8s_bearer(struct kt_k8s *k, char **out, char *err, size_t errcap)
{
	const char *token = k->kc->token;
	size_t tl;

	*out = NULL;
	if (!token && k->exec) {
		const struct kt_execcred_cred *cred;

		if (kt_execcred_get(k->exec, &cred, err, errcap) < 0)
			return -1;
		token = cred->token;
	}
	if (!token)
		return 0;
	tl = strlen(token);
	*out = malloc(tl + 8);
	if (!*out) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	memcpy(*out, "Bearer ", 7);
	memcpy(*out + 7, token, tl + 1);
	return 0;
}

/* ---- TLS ---- */

static void ssl_err(char *err, size_t errcap, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errcap, "%s: %s", what, buf);
	} else {
		snprintf(err, errcap, "%s", what);
	}
	ERR_clear_error();
}

/* Installs a PEM certificate chain and its key as the client credential of ctx. */
static int ssl_use_cert(SSL_CTX *ctx, const void *cert, size_t cert_len, const void *key,
			size_t key_len, char *err, size_t errcap)
{
	BIO *b = BIO_new_mem_buf(cert, (int)cert_len);
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int r = -EINVAL;

	if (!b || cert_len > INT32_MAX || key_len > INT32_MAX)
		goto out;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
		ssl_err(err, errcap, "client certificate");
		goto out;
	}
	SSL_CTX_clear_chain_certs(ctx);
	for (;;) {
		X509 *c = PEM_read_bio_X509(b, NULL, NULL, NULL);

		if (!c)
			break;
		if (SSL_CTX_add0_chain_cert(ctx, c) != 1) {
			X509_free(c);
			ssl_err(err, errcap, "client certificate chain");
			goto out;
		}
	}
	ERR_clear_error(); /* the end of the PEM stream */
	BIO_free(b);
	b = BIO_new_mem_buf(key, (int)key_len);
	if (!b)
		goto out;
	pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	if (!pk || SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		/* Never quote the key: say only what failed. */
		ERR_clear_error();
		snprintf(err, errcap, "client key: unusable or does not match the certificate");
		goto out;
	}
	r = 0;
out:
	if (r && !err[0])
		snprintf(err, errcap, "client certificate: out of memory");
	EVP_PKEY_free(pk);
	X509_free(x);
	BIO_free(b);
	return r;
}

static SSL_CTX *ssl_new(const struct kt_kubeconfig *kc, const char *verifyname, char *err,
			size_t errcap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		ssl_err(err, errcap, "TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Idle connections keep no read/write buffers: most port-forward streams are idle. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (!kc->insecure_skip_tls_verify) {
		if (kc->ca_pem) {
			/* client-go: certificate-authority replaces the system roots. */
			X509_STORE *st = X509_STORE_new();
			BIO *b = BIO_new_mem_buf(kc->ca_pem, (int)kc->ca_pem_len);
			STACK_OF(X509_INFO) *infos = NULL;
			int n = 0;

			if (st && b)
				infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
			for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
				X509_INFO *xi = sk_X509_INFO_value(infos, i);

				if (xi->x509 && X509_STORE_add_cert(st, xi->x509) == 1)
					n++;
			}
			sk_X509_INFO_pop_free(infos, X509_INFO_free);
			BIO_free(b);
			if (!st || n == 0) {
				X509_STORE_free(st);
				ssl_err(err, errcap,
					"certificate-authority: no usable certificate");
				goto fail;
			}
			SSL_CTX_set_cert_store(ctx, st);
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			ssl_err(err, errcap, "cannot load the system's trusted certificates");
			goto fail;
		}
		X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, verifyname) != 1 &&
		    X509_VERIFY_PARAM_set1_host(vp, verifyname, 0) != 1) {
			ssl_err(err, errcap, "TLS server name");
			goto fail;
		}
		ERR_clear_error();
	}
	if (kc->client_cert_pem && kc->client_key_pem &&
	    ssl_use_cert(ctx, kc->client_cert_pem, kc->client_cert_pem_len, kc->client_key_pem,
			 kc->client_key_pem_len, err, errcap) < 0)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int kt_k8s_lws_tls_verify(struct kt_k8s *k, void *x509_store_ctx, int preverify_ok, char *tls_err,
			  size_t tls_errcap)
{
	X509_STORE_CTX *x = x509_store_ctx;

	if (k->kc->insecure_skip_tls_verify) {
		/* The kubeconfig asked for it: accept whatever the server shows. */
		X509_STORE_CTX_set_error(x, X509_V_OK);
		return 0;
	}
	if (!preverify_ok && tls_err && !tls_err[0]) {
		int e = X509_STORE_CTX_get_error(x);

		if (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)
			snprintf(tls_err, tls_errcap,
				 "certificate verify failed: the server certificate is not valid "
				 "for %s",
				 k->verifyname);
		else
			snprintf(tls_err, tls_errcap, "certificate verify failed: %s",
				 X509_verify_cert_error_string(e));
	}
	/* With preverify_ok 0 and the error left in place, lws fails the handshake. */
	return 0;
}

/* ---- credentials ---- */

int kt_k8s_prepare_auth(struct kt_k8s *k, char *err, size_t errcap)
{
	const struct kt_execcred_cred *cred;
	int r;

	if (!k->exec)
		return 0;
	r = kt_execcred_get(k->exec, &cred, err, errcap);
	if (r < 0)
		return r;
	if (cred->client_cert_pem && cred->client_key_pem &&
	    (!k->exec_cert || strcmp(k->exec_cert, cred->client_cert_pem) != 0)) {
		char *copy = strdup(cred->client_cert_pem);

		if (!copy) {
			snprintf(err, errcap, "out of memory");
			return -ENOMEM;
		}
		r = ssl_use_cert(k->ssl, cred->client_cert_pem, strlen(cred->client_cert_pem),
				 cred->client_key_pem, strlen(cred->client_key_pem), err, errcap);
		if (r < 0) {
			free(copy);
			return r;
		}
		free(k->exec_cert);
		k->exec_cert = copy;
		/* A resumed session would keep presenting the old certificate's identity. */
		SSL_SESSION_free(k->tls_session);
		k->tls_session = NULL;
	}
	return 0;
}

bool kt_k8s_auth_refresh(struct kt_k8s *k)
{
	if (!k->exec)
		return false;
	kt_execcred_invalidate(k->exec);
	return true;
}

int kt_k8s_lws_append_headers(struct kt_k8s *k, struct lws *wsi, char **p, size_t room, char *err,
			      size_t errcap)
{
	unsigned char **pp = (unsigned char **)p, *end = (unsigned char *)*p + room;
	const char *token = k->kc->token;
	static const char accept[] = "application/json, */*";

	if (!token && k->exec) {
		const struct kt_execcred_cred *cred;

		if (kt_execcred_get(k->exec, &cred, err, errcap) < 0)
			return -1;
		token = cred->token;
	}
	if (token) {
		size_t tl = strlen(token), n = 7 + tl;
		char *v = malloc(n + 1);
		int r;

		if (!v) {
			snprintf(err, errcap, "out of memory");
			return -1;
		}
		memcpy(v, "Bearer ", 7);
		memcpy(v + 7, token, tl);
		v[n] = '\0';
		r = lws_add_http_header_by_name(wsi, (const unsigned char *)"authorization:",
						(const unsigned char *)v, (int)n, pp, end);
		wipe_free(v, n);
		if (r) {
			snprintf(err, errcap, "the bearer token does not fit in a request header");
			return -1;
		}
	}
	if (lws_add_http_header_by_name(
		wsi, (const unsigned char *)"accept:", (const unsigned char *)accept,
		(int)sizeof(accept) - 1, pp, end) ||
	    lws_add_http_header_by_name(
		wsi, (const unsigned char *)"user-agent:", (const unsigned char *)USER_AGENT,
		(int)sizeof(USER_AGENT) - 1, pp, end)) {
		snprintf(err, errcap, "request headers too long");
		return -1;
	}
	return 0;
}

/* ---- connections ---- */

struct lws *kt_k8s_lws_connect(struct kt_k8s *k, const char *path, const char *method,
			       const char *ws_protocol, const char *local_protocol, void *user,
			       struct lws **pwsi, char *err, size_t errcap)
{
	const struct kt_kubeconfig *kc = k->kc;
	struct lws_client_connect_info ci;
	size_t pl = strlen(kc->server.path_prefix), n = strlen(path);
	char *full = malloc(pl + n + 1);
	struct lws *wsi;

	if (!full) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	memcpy(full, kc->server.path_prefix, pl);
	memcpy(full + pl, path, n + 1);
	memset(&ci, 0, sizeof(ci));
	ci.context = k->ctx;
	ci.vhost = k->vh;
	ci.address = kc->server.host;
	ci.port = kc->server.port;
	ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
			    LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	if (kc->insecure_skip_tls_verify)
		ci.ssl_connection |=
		    LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED;
	ci.path = full;
	ci.host = k->hosthdr;
	ci.method = method;
	ci.protocol = ws_protocol;
	ci.local_protocol_name = local_protocol;
	ci.userdata = user;
	ci.pwsi = pwsi;
	ci.alpn = "http/1.1";
	err[0] = '\0';
	wsi = lws_client_connect_via_info(&ci);
	free(full);
	if (!wsi && !err[0])
		snprintf(err, errcap, "connect to %s: cannot start the connection", kc->server.url);
	return wsi;
}

static bool is_connect_errno(int e)
{
	switch (e) {
	case ECONNREFUSED:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ECONNRESET:
	case EADDRNOTAVAIL:
	case ENETDOWN:
	case EHOSTDOWN:
		return true;
	default:
		return false;
	}
}

void kt_k8s_conn_error(struct kt_k8s *k, const char *lws_reason, int conn_errno,
		       const char *tls_err, char *out, size_t outcap)
{
	const char *url = k->kc->server.url;
	const char *r = lws_reason ? lws_reason : "";

	if (tls_err && tls_err[0]) {
		snprintf(out, outcap, "TLS handshake with %s failed: %s", url, tls_err);
	} else if (conn_errno == -1) {
		snprintf(out, outcap, "connect to %s: cannot resolve %s", url, k->kc->server.host);
	} else if (is_connect_errno(conn_errno)) {
		char e[96];

		snprintf(e, sizeof(e), "%s", strerror(conn_errno));
		e[0] = (char)tolower((unsigned char)e[0]);
		snprintf(out, outcap, "connect to %s: %s", url, e);
	} else if (strstr(r, "getaddrinfo")) {
		snprintf(out, outcap, "connect to %s: cannot resolve %s", url, k->kc->server.host);
	} else if (!strncmp(r, "connect SSL", 11) || !strncmp(r, "Timed out waiting SSL", 21) ||
		   !strncmp(r, "connect SYSCALL", 15) || !strncmp(r, "tls", 3)) {
		unsigned long e = ERR_peek_last_error();
		char buf[160];

		if (e) {
			ERR_error_string_n(e, buf, sizeof(buf));
			snprintf(out, outcap, "TLS handshake with %s failed: %s", url, buf);
		} else {
			snprintf(out, outcap, "TLS handshake with %s failed", url);
		}
		ERR_clear_error();
	} else if (!strcmp(r, "Unable to connect")) {
		snprintf(out, outcap, "connect to %s: connection failed", url);
	} else if (strstr(r, "closed before") || strstr(r, "Closed before") ||
		   strstr(r, "hung up")) {
		snprintf(out, outcap, "%s: connection closed before the server answered", url);
	} else if (r[0]) {
		snprintf(out, outcap, "%s: %s", url, r);
	} else {
		snprintf(out, outcap, "%s: connection failed", url);
	}
}

bool kt_k8s_conn_error_needs_probe(const char *lws_reason, int conn_errno)
{
	return !is_connect_errno(conn_errno) && lws_reason &&
	       !strcmp(lws_reason, "Unable to connect");
}

struct kt_k8s_probe {
	struct kt_k8s *k;
	int fd;
	bool watched;
	int result;
	struct kt_timer *timer; /* the 3 s limit, or a zero delay to report a result we have */
	kt_k8s_probe_fn fn;
	void *arg;
};

void kt_k8s_probe_cancel(struct kt_k8s_probe *p)
{
	if (!p)
		return;
	if (p->watched)
		kt_evloop_unwatch(p->k->loop, p->fd);
	if (p->fd >= 0)
		close(p->fd);
	kt_timer_free(p->timer);
	free(p);
}

static void probe_end(struct kt_k8s_probe *p, int err)
{
	kt_k8s_probe_fn fn = p->fn;
	void *arg = p->arg;

	kt_k8s_probe_cancel(p);
	fn(arg, err);
}

static void probe_timer(void *arg)
{
	struct kt_k8s_probe *p = arg;

	probe_end(p, p->result >= 0 ? p->result : ETIMEDOUT);
}

static void probe_fd(void *arg, int fd, unsigned events)
{
	struct kt_k8s_probe *p = arg;
	int e = 0;
	socklen_t el = sizeof(e);

	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		e = errno;
	probe_end(p, e);
}

struct kt_k8s_probe *kt_k8s_probe_start(struct kt_k8s *k, kt_k8s_probe_fn fn, void *arg)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	struct kt_k8s_probe *p = calloc(1, sizeof(*p));
	char port[8];

	if (!p)
		return NULL;
	p->k = k;
	p->fd = -1;
	p->result = -2; /* none yet */
	p->fn = fn;
	p->arg = arg;
	p->timer = kt_timer_new(k->loop, probe_timer, p);
	if (!p->timer)
		goto fail;
	snprintf(port, sizeof(port), "%u", k->kc->server.port);
	/* Blocking like lws's own lookup for the connection (it has no async resolver here). */
	if (getaddrinfo(k->kc->server.host, port, &hints, &ai) != 0 || !ai) {
		p->result = -1;
		kt_timer_arm(p->timer, 0);
		return p;
	}
	p->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		freeaddrinfo(ai);
		goto fail;
	}
	if (connect(p->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		p->result = 0;
		kt_timer_arm(p->timer, 0);
	} else if (errno != EINPROGRESS) {
		p->result = errno;
		kt_timer_arm(p->timer, 0);
	} else if (kt_evloop_watch(k->loop, p->fd, KT_EV_WRITE, probe_fd, p) == 0) {
		p->watched = true;
		kt_timer_arm(p->timer, PROBE_TIMEOUT_MS);
	} else {
		freeaddrinfo(ai);
		goto fail;
	}
	freeaddrinfo(ai);
	return p;
fail:
	kt_k8s_probe_cancel(p);
	return NULL;
}

/* ---- one HTTP exchange ---- */

struct hconn;

struct hconn_ops {
	/* Body bytes (de-chunked). 0, or -1 with c->err set to fail the exchange. */
	int (*body)(struct hconn *c, const uint8_t *p, size_t n);
	/* The exchange is over: ok means a whole response was read (c->status has its code),
	 * else c->err says why. The wsi is already given up; the owner may free or restart c. */
	void (*done)(struct hconn *c, bool ok);
};

struct hconn {
	struct kt_k8s *k;
	const struct hconn_ops *ops;
	struct lws *wsi; /* NULL when no connection is attached */
	char *method;
	char *path;
	uint8_t *body; /* request body (owned), body_len bytes */
	size_t body_len, body_off;
	int status;
	int conn_errno;
	unsigned in_cb;	  /* lws callbacks of ours on the stack */
	bool connecting;  /* inside lws_client_connect_via_info() */
	bool conn_failed; /* CLIENT_CONNECTION_ERROR came while connecting */
	bool need_probe;  /* ... and its cause is to be found with a probe */
	struct kt_k8s_probe *probe;
	bool auth_retried;   /* a 401 already re-ran the exec plugin */
	bool retry_pending;  /* this 401 answer is read to its end, then retried */
	bool idle_timeout;   /* the timeout restarts with every body chunk */
	uint32_t timeout_ms; /* 0: none */
	lws_sorted_usec_list_t sul_start, sul_timeout;
	char tls_err[192];
	char err[320];
};

static void hconn_connect(lws_sorted_usec_list_t *sul);

static void hconn_init(struct hconn *c, struct kt_k8s *k, const struct hconn_ops *ops)
{
	memset(c, 0, sizeof(*c));
	c->k = k;
	c->ops = ops;
}

/* Gives the wsi up: later callbacks for it find no owner. kill closes it now, which is only
 * allowed outside this wsi's own callbacks. */
static void hconn_detach(struct hconn *c, bool kill)
{
	struct lws *wsi = c->wsi;

	c->wsi = NULL;
	if (!wsi)
		return;
	lws_set_wsi_user(wsi, NULL);
	if (kill && !c->in_cb && !c->connecting)
		lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
}

/* Stops whatever c is doing; no done callback. */
static void hconn_abort(struct hconn *c)
{
	kt_k8s_probe_cancel(c->probe);
	c->probe = NULL;
	lws_sul_cancel(&c->sul_start);
	lws_sul_cancel(&c->sul_timeout);
	hconn_detach(c, true);
	c->in_cb = 0;
	c->retry_pending = false;
}

static void hconn_fini(struct hconn *c)
{
	hconn_abort(c);
	free(c->method);
	free(c->path);
	free(c->body);
	c->method = c->path = NULL;
	c->body = NULL;
}

static void hconn_start(struct hconn *c, uint32_t delay_ms)
{
	lws_sul_schedule(c->k->ctx, 0, &c->sul_start, hconn_connect,
			 (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

static void hconn_finish(struct hconn *c, bool ok, bool kill)
{
	kt_k8s_probe_cancel(c->probe);
	c->probe = NULL;
	lws_sul_cancel(&c->sul_start);
	lws_sul_cancel(&c->sul_timeout);
	hconn_detach(c, kill);
	c->in_cb = 0;
	if (!ok)
		kt_k8s_note_error(c->k, c->err);
	c->ops->done(c, ok); /* may free c */
}

static void hconn_probed(void *arg, int err)
{
	struct hconn *c = arg;

	c->probe = NULL;
	kt_k8s_conn_error(c->k, "Unable to connect", err, NULL, c->err, sizeof(c->err));
	hconn_finish(c, false, false);
}

/* The connection failed before any answer: say why, with a probe when lws could not. */
static void hconn_conn_failed(struct hconn *c)
{
	if (c->need_probe) {
		c->need_probe = false;
		c->probe = kt_k8s_probe_start(c->k, hconn_probed, c);
		if (c->probe)
			return;
	}
	hconn_finish(c, false, false);
}

static void hconn_timeout(lws_sorted_usec_list_t *sul)
{
	struct hconn *c = lws_container_of(sul, struct hconn, sul_timeout);

	if (c->idle_timeout)
		snprintf(c->err, sizeof(c->err), "%s %s: nothing received for %u s", c->method,
			 c->path, c->timeout_ms / 1000);
	else
		snprintf(c->err, sizeof(c->err), "%s %s: no complete answer within %u s", c->method,
			 c->path, c->timeout_ms / 1000);
	hconn_finish(c, false, true);
}

static void hconn_arm_timeout(struct hconn *c)
{
	if (c->timeout_ms)
		lws_sul_schedule(c->k->ctx, 0, &c->sul_timeout, hconn_timeout,
				 (lws_usec_t)c->timeout_ms * LWS_US_PER_MS);
}

static void hconn_connect(lws_sorted_usec_list_t *sul)
{
	struct hconn *c = lws_container_of(sul, struct hconn, sul_start);
	struct lws *wsi;

	c->status = 0;
	c->conn_errno = 0;
	c->body_off = 0;
	c->retry_pending = false;
	c->err[0] = c->tls_err[0] = '\0';
	if (kt_k8s_prepare_auth(c->k, c->err, sizeof(c->err)) < 0) {
		hconn_finish(c, false, false);
		return;
	}
	c->connecting = true;
	c->conn_failed = false;
	c->need_probe = false;
	wsi = kt_k8s_lws_connect(c->k, c->path, c->method, NULL, HTTP_PROTOCOL, c, &c->wsi, c->err,
				 sizeof(c->err));
	c->connecting = false;
	if (!wsi || c->conn_failed) {
		/* A CLIENT_CONNECTION_ERROR during the call already detached the wsi and wrote
		 * c->err; a wsi still returned is one lws is closing. */
		if (c->wsi && !c->conn_failed)
			lws_set_wsi_user(c->wsi, NULL);
		c->wsi = NULL;
		hconn_conn_failed(c);
		return;
	}
	c->wsi = wsi;
	hconn_arm_timeout(c);
}

/* A 401 with an exec credential: run the plugin again and repeat the request, once. */
static void hconn_retry_401(struct hconn *c)
{
	hconn_detach(c, false);
	lws_sul_cancel(&c->sul_timeout);
	c->in_cb = 0;
	c->auth_retried = true;
	c->retry_pending = false;
	hconn_start(c, 0);
}

static int hconn_write_body(struct hconn *c, struct lws *wsi)
{
	uint8_t buf[LWS_PRE + 16384];
	size_t n = c->body_len - c->body_off;
	enum lws_write_protocol wp = LWS_WRITE_HTTP_FINAL;

	if (n > sizeof(buf) - LWS_PRE) {
		n = sizeof(buf) - LWS_PRE;
		wp = LWS_WRITE_HTTP;
	}
	if (n)
		memcpy(buf + LWS_PRE, c->body + c->body_off, n);
	if (lws_write(wsi, buf + LWS_PRE, n, wp) != (int)n) {
		snprintf(c->err, sizeof(c->err), "%s %s: cannot send the request body", c->method,
			 c->path);
		return -1;
	}
	c->body_off += n;
	if (wp == LWS_WRITE_HTTP_FINAL)
		lws_client_http_body_pending(wsi, 0);
	else
		lws_callback_on_writable(wsi);
	return 0;
}

static bool method_has_body(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	int saved_errno = errno; /* CLIENT_CONNECTION_ERROR: what the failed connect left */
	struct hconn *c = user;
	int r;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		c = lws_wsi_user(wsi);
		if (!c)
			return 0;
		return kt_k8s_lws_tls_verify(c->k, user, (int)len, c->tls_err, sizeof(c->tls_err));

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!c)
			return 0;
		c->conn_errno = saved_errno;
		if (!c->err[0])
			kt_k8s_conn_error(c->k, in, saved_errno, c->tls_err, c->err,
					  sizeof(c->err));
		c->need_probe = !c->tls_err[0] && kt_k8s_conn_error_needs_probe(in, saved_errno);
		lws_set_wsi_user(wsi, NULL);
		c->wsi = NULL;
		if (c->connecting) {
			/* hconn_connect() finishes once lws returns. */
			c->conn_failed = true;
			return 0;
		}
		hconn_conn_failed(c);
		return 0;

	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (!c)
			return -1;
		if (kt_k8s_lws_append_headers(c->k, wsi, (char **)in, len, c->err, sizeof(c->err)) <
		    0)
			return -1;
		if (method_has_body(c->method)) {
			unsigned char **pp = (unsigned char **)in, *end = *pp + len;
			char cl[24];
			int n = snprintf(cl, sizeof(cl), "%zu", c->body_len);

			if ((c->body_len &&
			     lws_add_http_header_by_name(
				 wsi, (const unsigned char *)"content-type:",
				 (const unsigned char *)"application/json", 16, pp, end)) ||
			    lws_add_http_header_by_name(wsi,
							(const unsigned char *)"content-length:",
							(const unsigned char *)cl, n, pp, end)) {
				snprintf(c->err, sizeof(c->err), "request headers too long");
				return -1;
			}
			if (c->body_len) {
				lws_client_http_body_pending(wsi, 1);
				lws_callback_on_writable(wsi);
			}
		}
		return 0;

	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		if (!c)
			return -1;
		if (c->body_off >= c->body_len)
			return 0;
		return hconn_write_body(c, wsi);

	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		if (!c)
			return -1;
		c->status = (int)lws_http_client_http_response(wsi);
		if (c->status >= 200 && c->status < 300)
			kt_k8s_note_ok(c->k);
		if (c->status == 401 && !c->auth_retried && kt_k8s_auth_refresh(c->k))
			c->retry_pending = true;
		if (c->idle_timeout)
			hconn_arm_timeout(c);
		return 0;

	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
		char buf[LWS_PRE + 16384], *px = buf + LWS_PRE;
		int lenx = (int)sizeof(buf) - LWS_PRE;

		if (!c)
			return -1;
		c->in_cb++;
		r = lws_http_client_read(wsi, &px, &lenx);
		if (lws_wsi_user(wsi) != c)
			return -1; /* given up inside; c may be gone */
		c->in_cb--;
		return r < 0 ? -1 : 0;
	}

	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (!c)
			return -1;
		if (c->retry_pending)
			return 0;
		if (c->idle_timeout)
			hconn_arm_timeout(c);
		c->in_cb++;
		r = c->ops->body(c, in, len);
		if (lws_wsi_user(wsi) != c)
			return -1;
		c->in_cb--;
		if (r < 0) {
			hconn_finish(c, false, false);
			return -1;
		}
		return 0;

	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		if (!c)
			return -1;
		if (c->retry_pending) {
			hconn_retry_401(c);
			return -1;
		}
		hconn_finish(c, true, false);
		return -1;

	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		if (!c)
			return 0;
		if (c->retry_pending) {
			hconn_retry_401(c);
			return 0;
		}
		if (!c->err[0])
			snprintf(c->err, sizeof(c->err),
				 "%s %s: connection closed before the answer was complete",
				 c->method, c->path);
		hconn_finish(c, false, false);
		return 0;

	default:
		return 0;
	}
}

/* Protocol 0 of the vhost: lws sends vhost-wide reasons and LWS_CALLBACK_WSI_DESTROY here;
 * the latter goes on to the protocol the wsi is bound to. */
static int vh_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		 size_t len)
{
	const struct lws_protocols *p;

	if (reason != LWS_CALLBACK_WSI_DESTROY || !wsi)
		return 0;
	p = lws_get_protocol(wsi);
	if (p && p->callback && p->callback != vh_cb)
		return p->callback(wsi, reason, user, in, len);
	return 0;
}

static const struct lws_protocols k8s_protocols[] = {
    {"kt-k8s-vh", vh_cb, 0, 0, 0, NULL, 0},
    {HTTP_PROTOCOL, http_cb, 0, 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- client ---- */

struct kt_k8s *kt_k8s_new(struct kt_evloop *loop, const struct kt_kubeconfig *kc, char *err,
			  size_t errcap)
{
	static unsigned serial;
	struct kt_k8s *k;
	const char *h = kc->server.host;

	if (!h || !h[0] || !kc->server.url) {
		snprintf(err, errcap, "the kubeconfig names no server");
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	k->loop = loop;
	k->ctx = kt_evloop_lws_context(loop);
	k->kc = kc;
	if (kc->tls_server_name && kc->tls_server_name[0])
		snprintf(k->hosthdr, sizeof(k->hosthdr), "%s", kc->tls_server_name);
	else if (kc->server.host_is_ipv6)
		snprintf(k->hosthdr, sizeof(k->hosthdr), "[%s]:%u", h, kc->server.port);
	else
		snprintf(k->hosthdr, sizeof(k->hosthdr), "%s:%u", h, kc->server.port);
	snprintf(k->verifyname, sizeof(k->verifyname), "%s",
		 kc->tls_server_name && kc->tls_server_name[0] ? kc->tls_server_name : h);
	snprintf(k->vhname, sizeof(k->vhname), "kt-k8s-%u", ++serial);

	k->ssl = ssl_new(kc, k->verifyname, err, errcap);
	if (!k->ssl)
		goto fail;
	if (k8s_enable_resumption(k) < 0) {
		snprintf(err, errcap, "TLS context: out of memory");
		goto fail;
	}
	if (kc->exec && !kc->token) {
		k->exec = kt_execcred_new(kc, NULL);
		if (!k->exec) {
			snprintf(err, errcap, "exec credential plugin: out of memory");
			goto fail;
		}
	}
	k->vh = kt_evloop_lws_vhost_new(loop, k->vhname, k8s_protocols, k->ssl, k, err, errcap);
	if (!k->vh)
		goto fail;
	return k;
fail:
	kt_k8s_free(k);
	return NULL;
}

int kt_k8s_set_exec_opts(struct kt_k8s *k, const struct kt_execcred_opts *opts)
{
	struct kt_execcred *ec;

	if (!k->exec)
		return 0; /* no plugin in this kubeconfig: nothing to run as anyone */
	ec = kt_execcred_new(k->kc, opts);
	if (!ec)
		return -ENOMEM;
	/* Nothing has been requested yet (see k8s.h), so no credential is lost. */
	kt_execcred_free(k->exec);
	k->exec = ec;
	return 0;
}

void kt_k8s_free(struct kt_k8s *k)
{
	if (!k)
		return;
	if (k->children)
		kt_log_warnx("%s: closing API requests or streams still open at shutdown",
			     k->kc->server.url);
	while (k->children)
		k->children->abandon(k->children);
	kt_evloop_lws_vhost_free(k->vh);
	SSL_SESSION_free(k->tls_session);
	SSL_CTX_free(k->ssl);
	kt_execcred_free(k->exec);
	free(k->exec_cert);
	free(k);
}

/* ---- one-shot requests ---- */

struct kt_k8s_req {
	struct kt_k8s_child child;
	struct hconn c;
	struct kt_buf resp;
	kt_k8s_done_fn fn;
	void *arg;
};

static void req_free(struct kt_k8s_req *r)
{
	kt_k8s_child_del(r->c.k, &r->child);
	hconn_fini(&r->c);
	kt_buf_fini(&r->resp);
	free(r);
}

static void req_abandon(struct kt_k8s_child *ch)
{
	req_free(lws_container_of(ch, struct kt_k8s_req, child));
}

static int req_body(struct hconn *c, const uint8_t *p, size_t n)
{
	struct kt_k8s_req *r = lws_container_of(c, struct kt_k8s_req, c);
	int e = kt_buf_append(&r->resp, p, n);

	if (e == -ENOBUFS)
		snprintf(c->err, sizeof(c->err), "%s %s: answer larger than %u MiB", c->method,
			 c->path, KT_K8S_MAX_BODY >> 20);
	else if (e)
		snprintf(c->err, sizeof(c->err), "%s %s: out of memory", c->method, c->path);
	return e ? -1 : 0;
}

static void req_done(struct hconn *c, bool ok)
{
	struct kt_k8s_req *r = lws_container_of(c, struct kt_k8s_req, c);

	if (ok && (c->status == 401 || c->status == 403 || c->status >= 500)) {
		char what[300], msg[400];

		snprintf(what, sizeof(what), "%s %s", c->method, c->path);
		http_error(msg, sizeof(msg), what, c->status, kt_buf_peek(&r->resp),
			   kt_buf_len(&r->resp));
		kt_k8s_note_error(c->k, msg);
	}
	if (ok && kt_buf_append(&r->resp, "", 1) == 0) /* a terminator; the limit has room */
		r->fn(r->arg, c->status, (const char *)kt_buf_peek(&r->resp),
		      kt_buf_len(&r->resp) - 1, NULL);
	else
		r->fn(r->arg, 0, NULL, 0, ok ? "out of memory" : c->err);
	req_free(r);
}

static const struct hconn_ops req_ops = {req_body, req_done};

struct kt_k8s_req *kt_k8s_request(struct kt_k8s *k, const char *method, const char *path,
				  const void *body, size_t len, kt_k8s_done_fn fn, void *arg)
{
	struct kt_k8s_req *r;

	if (!method || !path || path[0] != '/' || !fn || len > KT_K8S_MAX_BODY)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	hconn_init(&r->c, k, &req_ops);
	r->c.method = strdup(method);
	r->c.path = strdup(path);
	if (len) {
		r->c.body = malloc(len);
		if (r->c.body)
			memcpy(r->c.body, body, len);
		r->c.body_len = len;
	}
	if (!r->c.method || !r->c.path || (len && !r->c.body)) {
		hconn_fini(&r->c);
		free(r);
		return NULL;
	}
	r->c.timeout_ms = REQ_TIMEOUT_MS;
	kt_buf_init(&r->resp, KT_K8S_MAX_BODY + 1);
	r->fn = fn;
	r->arg = arg;
	r->child.abandon = req_abandon;
	kt_k8s_child_add(k, &r->child);
	hconn_start(&r->c, 0);
	return r;
}

struct kt_k8s_req *kt_k8s_get(struct kt_k8s *k, const char *path, kt_k8s_done_fn fn, void *arg)
{
	return kt_k8s_request(k, "GET", path, NULL, 0, fn, arg);
}

void kt_k8s_req_cancel(struct kt_k8s_req *r)
{
	if (r)
		req_free(r);
}

/* ---- informers ---- */

enum wphase { W_LIST, W_WATCH };

struct kt_k8s_watch {
	struct kt_k8s_child child;
	struct kt_k8s *k;
	struct hconn c;
	char *collection;
	char *selq; /* "labelSelector=..." or NULL */
	struct kt_k8s_watch_ops ops;
	void *arg;
	enum wphase phase;
	char rv[RV_MAX + 1];
	struct kt_buf body; /* the LIST answer, or a failed WATCH's Status */
	struct kt_buf line; /* the watch stream's unfinished line */
	uint16_t tries;
	bool synced;
	bool stopped;	  /* kt_k8s_watch_stop() ran inside a user callback */
	unsigned in_user; /* user callbacks on the stack */
	uint64_t watch_start_ms;
	lws_sorted_usec_list_t sul_retry;
};

static void watch_free(struct kt_k8s_watch *w)
{
	struct kt_k8s *k = w->k;

	kt_k8s_child_del(k, &w->child);
	lws_sul_cancel(&w->sul_retry);
	hconn_fini(&w->c);
	kt_buf_fini(&w->body);
	kt_buf_fini(&w->line);
	if (w->synced)
		k->watches_synced--;
	k->watches--;
	free(w->collection);
	free(w->selq);
	free(w);
}

static void watch_abandon(struct kt_k8s_child *ch)
{
	watch_free(lws_container_of(ch, struct kt_k8s_watch, child));
}

/* User callbacks go through these; they return false when the user stopped the watch (which
 * is then freed by the outermost caller, see watch_leave). */
static void watch_enter(struct kt_k8s_watch *w)
{
	w->in_user++;
}

static bool watch_leave(struct kt_k8s_watch *w)
{
	w->in_user--;
	if (!w->stopped)
		return true;
	if (w->in_user == 0)
		watch_free(w);
	return false;
}

static bool watch_report(struct kt_k8s_watch *w, const char *msg)
{
	kt_k8s_note_error(w->k, msg);
	if (!w->ops.on_error)
		return true;
	watch_enter(w);
	w->ops.on_error(w->arg, msg);
	return watch_leave(w);
}

static int watch_set_path(struct kt_k8s_watch *w)
{
	size_t cap = strlen(w->collection) + (w->selq ? strlen(w->selq) : 0) + RV_MAX + 128;
	char *p = malloc(cap);
	unsigned tsec;

	if (!p)
		return -ENOMEM;
	if (w->phase == W_LIST) {
		snprintf(p, cap, "%s%s%s", w->collection, w->selq ? "?" : "",
			 w->selq ? w->selq : "");
		w->c.timeout_ms = REQ_TIMEOUT_MS;
		w->c.idle_timeout = false;
	} else {
		uint32_t rnd = 0;

		if (lws_get_random(w->k->ctx, &rnd, sizeof(rnd)) != sizeof(rnd))
			rnd = (uint32_t)now_ms(w->k);
		tsec = WATCH_TIMEOUT_MIN_S + rnd % (WATCH_TIMEOUT_JITTER_S + 1);
		snprintf(p, cap,
			 "%s?%s%swatch=1&resourceVersion=%s&allowWatchBookmarks=true&"
			 "timeoutSeconds=%u",
			 w->collection, w->selq ? w->selq : "", w->selq ? "&" : "", w->rv, tsec);
		w->c.timeout_ms = tsec * 1000u + WATCH_IDLE_GRACE_MS;
		w->c.idle_timeout = true;
	}
	free(w->c.path);
	w->c.path = p;
	return 0;
}

static void watch_retry_fire(lws_sorted_usec_list_t *sul);

/* Starts phase ph after delay_ms (0: at the next turn of the loop). */
static void watch_go(struct kt_k8s_watch *w, enum wphase ph, uint32_t delay_ms)
{
	hconn_abort(&w->c);
	kt_buf_fini(&w->body);
	kt_buf_fini(&w->line);
	kt_buf_init(&w->body, ph == W_LIST ? KT_K8S_MAX_BODY : MAX_ERROR_BODY);
	kt_buf_init(&w->line, MAX_EVENT_LINE);
	w->phase = ph;
	lws_sul_schedule(w->k->ctx, 0, &w->sul_retry, watch_retry_fire,
			 (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

static void watch_backoff(struct kt_k8s_watch *w, enum wphase ph)
{
	watch_go(w, ph, lws_retry_get_delay_ms(w->k->ctx, &backoff, &w->tries, NULL));
}

static void watch_retry_fire(lws_sorted_usec_list_t *sul)
{
	struct kt_k8s_watch *w = lws_container_of(sul, struct kt_k8s_watch, sul_retry);

	if (watch_set_path(w) < 0) {
		if (watch_report(w, "out of memory"))
			watch_backoff(w, w->phase);
		return;
	}
	w->c.auth_retried = false;
	if (w->phase == W_WATCH)
		w->watch_start_ms = now_ms(w->k);
	/* hconn_connect() runs from its own zero-delay sul. */
	hconn_start(&w->c, 0);
}

static const char *meta_rv(const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");

	return cJSON_IsString(rv) && rv->valuestring[0] && strlen(rv->valuestring) <= RV_MAX
		   ? rv->valuestring
		   : NULL;
}

/* One watch event. Returns 0 to go on reading, 1 when the stream was given up (the watch
 * restarted, failed or was stopped). */
static int watch_event(struct kt_k8s_watch *w, const char *s, size_t n)
{
	cJSON *ev = cJSON_ParseWithLength(s, n);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	const char *t = cJSON_IsString(type) ? type->valuestring : NULL;
	const char *rv;
	char msg[320];
	int r = 0;

	if (!t || !cJSON_IsObject(obj)) {
		snprintf(msg, sizeof(msg), "watch %s: malformed event", w->collection);
		if (watch_report(w, msg))
			watch_backoff(w, W_WATCH);
		r = 1;
		goto out;
	}
	if (!strcmp(t, "ERROR")) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");

		/* protocol.md 5.6: 410 (Expired or Gone) means our resourceVersion is too old. */
		if (cJSON_IsNumber(code) && code->valueint == 410) {
			watch_go(w, W_LIST, 0);
		} else {
			snprintf(msg, sizeof(msg), "watch %s: %s", w->collection,
				 cJSON_IsString(m) ? m->valuestring : "error event");
			if (watch_report(w, msg))
				watch_backoff(w, W_WATCH);
		}
		r = 1;
		goto out;
	}
	rv = meta_rv(obj);
	if (rv)
		snprintf(w->rv, sizeof(w->rv), "%s", rv);
	if (!strcmp(t, "BOOKMARK"))
		goto out;
	if (strcmp(t, "ADDED") && strcmp(t, "MODIFIED") && strcmp(t, "DELETED"))
		goto out; /* an event type from the future: skip it */
	w->tries = 0;
	watch_enter(w);
	w->ops.on_event(w->arg, t, obj);
	if (!watch_leave(w))
		r = 1;
out:
	cJSON_Delete(ev);
	return r;
}

static int watch_body(struct hconn *c, const uint8_t *p, size_t n)
{
	struct kt_k8s_watch *w = lws_container_of(c, struct kt_k8s_watch, c);
	int e;

	if (w->phase == W_LIST || c->status != 200) {
		e = kt_buf_append(&w->body, p, n);
		if (e == -ENOBUFS && w->phase == W_WATCH)
			return 0; /* only the start of an error answer matters */
		if (e)
			snprintf(c->err, sizeof(c->err), "GET %s: %s", w->collection,
				 e == -ENOBUFS ? "answer too large" : "out of memory");
		return e ? -1 : 0;
	}
	e = kt_buf_append(&w->line, p, n);
	if (e) {
		snprintf(c->err, sizeof(c->err), "watch %s: %s", w->collection,
			 e == -ENOBUFS ? "event larger than 16 MiB" : "out of memory");
		return -1;
	}
	for (;;) {
		const uint8_t *s = kt_buf_peek(&w->line);
		const uint8_t *nl = memchr(s, '\n', kt_buf_len(&w->line));
		size_t ln;

		if (!nl)
			break;
		ln = (size_t)(nl - s);
		if (ln > 0 && watch_event(w, (const char *)s, ln))
			return 0; /* c was given up (and maybe freed with w) */
		kt_buf_consume(&w->line, ln + 1);
	}
	if (kt_buf_len(&w->line) == 0)
		kt_buf_fini(&w->line); /* an idle watch keeps no buffer */
	return 0;
}

static void watch_listed(struct kt_k8s_watch *w)
{
	cJSON *j = cJSON_ParseWithLength((const char *)kt_buf_peek(&w->body), kt_buf_len(&w->body));
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
	const char *rv = meta_rv(j);
	cJSON *empty = NULL;
	char msg[320];

	kt_buf_fini(&w->body);
	if (!j || !rv || (items && !cJSON_IsArray(items) && !cJSON_IsNull(items))) {
		cJSON_Delete(j);
		snprintf(msg, sizeof(msg), "list %s: malformed answer", w->collection);
		if (watch_report(w, msg))
			watch_backoff(w, W_LIST);
		return;
	}
	if (!cJSON_IsArray(items))
		items = empty = cJSON_CreateArray();
	if (!items) {
		cJSON_Delete(j);
		if (watch_report(w, "out of memory"))
			watch_backoff(w, W_LIST);
		return;
	}
	snprintf(w->rv, sizeof(w->rv), "%s", rv);
	if (!w->synced) {
		w->synced = true;
		w->k->watches_synced++;
	}
	w->tries = 0;
	watch_enter(w);
	w->ops.on_sync(w->arg, items);
	cJSON_Delete(empty);
	cJSON_Delete(j);
	if (watch_leave(w))
		watch_go(w, W_WATCH, 0);
}

static void watch_done(struct hconn *c, bool ok)
{
	struct kt_k8s_watch *w = lws_container_of(c, struct kt_k8s_watch, c);
	char msg[400];

	if (!ok) {
		if (watch_report(w, c->err))
			watch_backoff(w, w->phase);
		return;
	}
	if (c->status == 200 && w->phase == W_LIST) {
		watch_listed(w);
		return;
	}
	if (c->status == 200) {
		/* The server ended the watch (timeoutSeconds): carry on from w->rv. */
		if (now_ms(w->k) - w->watch_start_ms >= WATCH_HEALTHY_MS)
			watch_go(w, W_WATCH, 0);
		else
			watch_backoff(w, W_WATCH);
		return;
	}
	if (c->status == 410) {
		/* protocol.md 5.6: the resourceVersion is too old; re-list. */
		watch_go(w, W_LIST, 0);
		return;
	}
	http_error(msg, sizeof(msg), w->phase == W_LIST ? "list" : "watch", c->status,
		   kt_buf_peek(&w->body), kt_buf_len(&w->body));
	if (watch_report(w, msg))
		watch_backoff(w, w->phase);
}

static const struct hconn_ops watch_ops = {watch_body, watch_done};

struct kt_k8s_watch *kt_k8s_watch_start(struct kt_k8s *k, const char *collection,
					const char *label_selector,
					const struct kt_k8s_watch_ops *ops, void *arg)
{
	struct kt_k8s_watch *w;

	if (!collection || collection[0] != '/' || strchr(collection, '?') || !ops ||
	    !ops->on_sync || !ops->on_event)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->k = k;
	hconn_init(&w->c, k, &watch_ops);
	w->collection = strdup(collection);
	w->c.method = strdup("GET");
	if (!w->collection || !w->c.method)
		goto fail;
	if (label_selector && label_selector[0]) {
		size_t cap = 3 * strlen(label_selector) + 16;

		w->selq = malloc(cap);
		if (!w->selq)
			goto fail;
		memcpy(w->selq, "labelSelector=", 14);
		if (url_encode(label_selector, w->selq + 14, cap - 14) < 0)
			goto fail;
	}
	w->ops = *ops;
	w->arg = arg;
	w->child.abandon = watch_abandon;
	kt_k8s_child_add(k, &w->child);
	k->watches++;
	watch_go(w, W_LIST, 0);
	return w;
fail:
	hconn_fini(&w->c);
	free(w->collection);
	free(w->selq);
	free(w);
	return NULL;
}

void kt_k8s_watch_stop(struct kt_k8s_watch *w)
{
	if (!w)
		return;
	if (w->in_user) {
		/* Inside one of this watch's callbacks: stop everything now, free on the way out.
		 */
		w->stopped = true;
		lws_sul_cancel(&w->sul_retry);
		hconn_abort(&w->c);
		return;
	}
	watch_free(w);
}
