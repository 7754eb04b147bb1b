/* test_server.c: the fake API server's listener, TLS conns and HTTP layer, end to end over
 * real TLS on 127.0.0.1: 401 Status bytes, keep-alive and pipelining, client-certificate and
 * token authentication, the fault endpoints' admin check and answers, Expect: 100-continue,
 * Connection: close, malformed requests, and an outage (conns dropped, connects refused,
 * listening again afterwards).
 *
 * The parent runs the server loop; a forked child is the client and does the checks with
 * blocking OpenSSL calls. The child holds the write end of a pipe the loop watches, so the loop
 * stops when the child exits; the child's exit status is its failure flag. Only paths served by
 * the HTTP layer itself and by faults.c are used, so no fixture is needed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "base64.h"
#include "cluster.h"
#include "kt_test.h"
#include "loop.h"
#include "pki.h"
#include "server.h"

static int g_port;
static char g_dir[64], g_kcfg[128];
static char g_token[80], g_admin[80];
static X509 *g_cli_cert;
static EVP_PKEY *g_cli_key;

/* --- client helpers (child process) --- */

static SSL_CTX *client_ctx(bool with_cert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char ca[160];
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	SSL_CTX_load_verify_locations(ctx, ca, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (with_cert) {
		SSL_CTX_use_certificate(ctx, g_cli_cert);
		SSL_CTX_use_PrivateKey(ctx, g_cli_key);
	}
	return ctx;
}

static int tcp_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

struct cli {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

static bool cli_open(struct cli *c, bool with_cert)
{
	c->fd = tcp_connect();
	if (c->fd < 0)
		return false;
	c->ctx = client_ctx(with_cert);
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set1_host(c->ssl, "127.0.0.1");
	return SSL_connect(c->ssl) == 1;
}

static void cli_close(struct cli *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
	*c = (struct cli){0};
}

static bool cli_send(struct cli *c, const char *s)
{
	return SSL_write(c->ssl, s, (int)strlen(s)) == (int)strlen(s);
}

/* Reads one response (head + Content-Length body) into buf; returns its status or -1. */
static char pending[65536];
static size_t npending;

static int cli_response(struct cli *c, char *buf, size_t cap)
{
	for (;;) {
		pending[npending] = '\0';
		char *end = strstr(pending, "\r\n\r\n");
		if (end) {
			size_t head = (size_t)(end + 4 - pending);
			const char *cl = strcasestr(pending, "\r\nContent-Length: ");
			size_t body = cl && cl < end ? strtoul(cl + 18, NULL, 10) : 0;
			if (strncmp(pending, "HTTP/1.1 100 ", 13) == 0)
				body = 0;
			if (npending >= head + body) {
				size_t n = head + body < cap ? head + body : cap - 1;
				memcpy(buf, pending, n);
				buf[n] = '\0';
				memmove(pending, pending + head + body, npending - head - body);
				npending -= head + body;
				int status = 0;
				return strncmp(buf, "HTTP/1.1 ", 9) == 0
					   ? (status = (int)strtol(buf + 9, NULL, 10))
					   : -1;
			}
		}
		if (npending >= sizeof(pending) - 1)
			return -1;
		int r = SSL_read(c->ssl, pending + npending, (int)(sizeof(pending) - 1 - npending));
		if (r <= 0)
			return -1;
		npending += (size_t)r;
	}
}

/* True when the server closed the conn (TLS close or EOF) with nothing more to read. */
static bool cli_eof(struct cli *c)
{
	char b[64];
	npending = 0;
	int r = SSL_read(c->ssl, b, sizeof(b));
	return r <= 0;
}

static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");
	return p ? p + 4 : "";
}

static void req(char *out, size_t cap, const char *method, const char *path, const char *token,
		const char *extra)
{
	char auth[128] = "";
	if (token)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n", method, path, auth,
		 extra ? extra : "");
}

static void child_checks(void)
{
	char rq[1024], resp[8192];
	struct cli c = {0}, idle = {0};
	npending = 0;

	/* 401 first, on a conn that then stays usable (keep-alive). */
	KT_REQUIRE(cli_open(&c, false));
	req(rq, sizeof(rq), "GET", "/api/v1/pods", NULL, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 401);
	KT_CHECK_STR_EQ(body_of(resp), "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
				       "\"status\":\"Failure\",\"message\":\"Unauthorized\","
				       "\"reason\":\"Unauthorized\",\"code\":401}");
	KT_CHECK(strstr(resp, "\r\nContent-Type: application/json\r\n") != NULL);
	req(rq, sizeof(rq), "GET", "/api/v1/pods", "wrong", NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 401);
	req(rq, sizeof(rq), "GET", "/fake/v1/stats", g_admin, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);
	KT_CHECK(strstr(body_of(resp), "\"connectionsActive\":1") != NULL);

	/* Two pipelined requests in one write: two answers, in order. */
	char two[2048];
	req(rq, sizeof(rq), "GET", "/fake/v1/nope", g_admin, NULL);
	snprintf(two, sizeof(two), "%s", rq);
	req(rq, sizeof(rq), "GET", "/fake/v1/outage", g_admin, NULL);
	snprintf(two + strlen(two), sizeof(two) - strlen(two), "%s", rq);
	KT_CHECK(cli_send(&c, two));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 404);
	KT_CHECK(strstr(resp, "\"reason\":\"NotFound\"") != NULL);
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 405);

	/* The user token and the client certificate are users, not admins. */
	req(rq, sizeof(rq), "GET", "/fake/v1/stats", g_token, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 403);
	KT_CHECK(strstr(resp, "\"reason\":\"Forbidden\"") != NULL);
	KT_CHECK(strstr(resp, "User \\\"kubetun-dev\\\"") != NULL);
	cli_close(&c);
	KT_REQUIRE(cli_open(&c, true));
	req(rq, sizeof(rq), "GET", "/fake/v1/stats", NULL, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 403);
	KT_CHECK(strstr(resp, "User \\\"kubetun-dev\\\"") != NULL);

	/* Fault settings answer with the resulting state. */
	req(rq, sizeof(rq), "POST", "/fake/v1/latency?api_ms=7&portforward_ms=9", g_admin, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);
	KT_CHECK(strstr(resp, "\"apiLatencyMs\":7,\"portForwardLatencyMs\":9") != NULL);
	req(rq, sizeof(rq), "POST", "/fake/v1/latency?api_ms=0", g_admin, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);
	KT_CHECK(strstr(resp, "\"apiLatencyMs\":0,\"portForwardLatencyMs\":9") != NULL);
	req(rq, sizeof(rq), "POST", "/fake/v1/latency?api_ms=x", g_admin, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 400);
	req(rq, sizeof(rq), "POST", "/fake/v1/portforward/reject?code=503&message=no+way", g_admin,
	    NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);
	KT_CHECK(strstr(resp, "\"portForwardRejectCode\":503,\"portForwardRejectMessage\":"
			      "\"no way\"") != NULL);
	req(rq, sizeof(rq), "POST", "/fake/v1/portforward/reject?code=200", g_admin, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 400);

	/* Expect: 100-continue gets an interim answer before the body is sent. */
	snprintf(rq, sizeof(rq),
		 "POST /fake/v1/latency?portforward_ms=0 HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
		 "Content-Length: 4\r\nExpect: 100-continue\r\n\r\n",
		 g_admin);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 100);
	KT_CHECK(cli_send(&c, "abcd"));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);

	/* Connection: close is honoured after the answer. */
	req(rq, sizeof(rq), "GET", "/fake/v1/stats", g_admin, "Connection: close\r\n");
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);
	KT_CHECK(strstr(resp, "\r\nConnection: close\r\n") != NULL);
	KT_CHECK(cli_eof(&c));
	cli_close(&c);

	/* A malformed request: 400 Status, then the conn is closed. */
	KT_REQUIRE(cli_open(&c, false));
	KT_CHECK(cli_send(&c, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 400);
	KT_CHECK(strstr(resp, "\"code\":400") != NULL);
	KT_CHECK(cli_eof(&c));
	cli_close(&c);

	/* Outage: the caller gets its answer, an idle conn is dropped, connects are refused,
	 * and the server listens again afterwards. */
	KT_REQUIRE(cli_open(&idle, false));
	KT_REQUIRE(cli_open(&c, false));
	req(rq, sizeof(rq), "POST", "/fake/v1/outage?seconds=1.2", g_admin, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);
	KT_CHECK(strstr(resp, "\r\nConnection: close\r\n") != NULL);
	const char *rem = strstr(resp, "\"outageRemainingMs\":");
	long rem_ms = rem ? strtol(rem + 20, NULL, 10) : -1;
	KT_CHECK(rem_ms > 1100 && rem_ms <= 1200);
	KT_CHECK(cli_eof(&c));
	KT_CHECK(cli_eof(&idle));
	cli_close(&c);
	cli_close(&idle);
	KT_CHECK_INT_EQ(tcp_connect(), -ECONNREFUSED);
	struct timespec ts = {.tv_sec = 1, .tv_nsec = 500 * 1000 * 1000};
	nanosleep(&ts, NULL);
	KT_REQUIRE(cli_open(&c, false));
	req(rq, sizeof(rq), "GET", "/fake/v1/stats", g_admin, NULL);
	KT_CHECK(cli_send(&c, rq));
	KT_CHECK_INT_EQ(cli_response(&c, resp, sizeof(resp)), 200);
	KT_CHECK(strstr(resp, "\"outages\":1") != NULL);
	KT_CHECK(strstr(resp, "\"outageRemainingMs\":0") != NULL);
	cli_close(&c);
}

/* --- parent --- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	if (buf && fread(buf, 1, 65535, f) == 0)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static char *kcfg_b64(const char *kcfg, const char *key)
{
	const char *p = strstr(kcfg, key);
	if (!p)
		return NULL;
	p += strlen(key) + 2;
	size_t n = strcspn(p, "\n"), len;
	char *out = calloc(1, n + 1);
	if (out && kt_base64_decode(p, n, (uint8_t *)out, n, &len, 0) == 0)
		return out;
	free(out);
	return NULL;
}

/* Parent: writes a cert kubeconfig (with the CA) and a token kubeconfig for the child. */
static bool write_credentials(struct fc_cluster *cl, struct fc_pki *pki)
{
	char err[256], path[192], ca[160];
	snprintf(path, sizeof(path), "%s/kc-cert.yaml", g_dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	cl->opt.kubeconfig_out = path;
	cl->opt.ca_out = ca;
	cl->opt.auth = "cert";
	if (fc_pki_write_outputs(pki, &cl->opt, err, sizeof(err)) != 0)
		return false;
	cl->opt.kubeconfig_out = g_kcfg;
	cl->opt.ca_out = NULL;
	cl->opt.auth = "token";
	return fc_pki_write_outputs(pki, &cl->opt, err, sizeof(err)) == 0;
}

/* Child: reads them back. */
static bool load_credentials(void)
{
	char path[192];
	snprintf(path, sizeof(path), "%s/kc-cert.yaml", g_dir);
	char *kcfg = read_file(path);
	char *cert = kcfg ? kcfg_b64(kcfg, "client-certificate-data") : NULL;
	char *key = kcfg ? kcfg_b64(kcfg, "client-key-data") : NULL;
	BIO *b1 = cert ? BIO_new_mem_buf(cert, -1) : NULL,
	    *b2 = key ? BIO_new_mem_buf(key, -1) : NULL;
	g_cli_cert = b1 ? PEM_read_bio_X509(b1, NULL, NULL, NULL) : NULL;
	g_cli_key = b2 ? PEM_read_bio_PrivateKey(b2, NULL, NULL, NULL) : NULL;
	BIO_free(b1);
	BIO_free(b2);
	free(kcfg);
	free(cert);
	free(key);
	snprintf(path, sizeof(path), "%s.admin-token", g_kcfg);
	char *admin = read_file(path);
	if (admin) {
		snprintf(g_admin, sizeof(g_admin), "%.64s", admin);
		free(admin);
	}
	kcfg = read_file(g_kcfg);
	const char *t = kcfg ? strstr(kcfg, "    token: ") : NULL;
	if (t)
		snprintf(g_token, sizeof(g_token), "%.64s", t + 11);
	free(kcfg);
	return g_cli_cert && g_cli_key && strlen(g_admin) == 64 && strlen(g_token) == 64;
}

static void child_gone(void *arg, short revents)
{
	(void)revents;
	fc_loop_stop(arg);
}

KT_TEST(server_end_to_end_over_tls)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(g_dir, sizeof(g_dir), "/tmp/kt-test-server.XXXXXX");
	KT_REQUIRE(mkdtemp(g_dir));
	snprintf(g_kcfg, sizeof(g_kcfg), "%s/kc.yaml", g_dir);

	/* Fork before the listening socket exists: a child holding a copy of it would keep the
	 * port open through the outage. The child waits for the port on go[], and holds done[]
	 * open until it exits. */
	int go[2], done[2];
	KT_REQUIRE(pipe(go) == 0 && pipe(done) == 0);
	fflush(NULL);
	pid_t pid = fork();
	KT_REQUIRE(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(done[0]);
		int port = 0;
		if (read(go[0], &port, sizeof(port)) != sizeof(port) || port <= 0)
			_exit(2);
		g_port = port;
		if (!load_credentials())
			_exit(3);
		child_checks();
		X509_free(g_cli_cert);
		EVP_PKEY_free(g_cli_key);
		_exit(kt_test_failed_ ? 1 : 0);
	}
	close(go[0]);
	close(done[1]);

	struct fc_cluster cl = {0};
	cl.opt.listen = "127.0.0.1:0";
	char err[256];
	cl.loop = fc_loop_new();
	cl.pki = cl.loop ? fc_pki_new(&cl.opt, err, sizeof(err)) : NULL;
	bool ok = cl.pki && write_credentials(&cl, cl.pki);
	cl.server = ok ? fc_server_new(&cl, err, sizeof(err)) : NULL;
	const char *addr = cl.server ? fc_server_addr(cl.server) : "";
	int port = strncmp(addr, "127.0.0.1:", 10) == 0 ? (int)strtol(addr + 10, NULL, 10) : 0;
	KT_CHECK(port > 0);
	KT_CHECK(write(go[1], &port, sizeof(port)) == sizeof(port));
	close(go[1]);
	if (port > 0) {
		KT_CHECK_INT_EQ(fc_loop_watch(cl.loop, done[0], POLLIN, child_gone, cl.loop), 0);
		KT_CHECK_INT_EQ(fc_loop_run(cl.loop), 0);
		fc_loop_unwatch(cl.loop, done[0]);
	}
	close(done[0]);
	int status = 0;
	KT_CHECK(waitpid(pid, &status, 0) == pid);
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	fc_server_free(cl.server);
	fc_pki_free(cl.pki);
	fc_loop_free(cl.loop);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	KT_CHECK(system(cmd) == 0);
}

KT_TEST_MAIN()
