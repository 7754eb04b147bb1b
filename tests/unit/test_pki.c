/* test_pki.c: the fake cluster's PKI: certificates chain to the CA (X509_verify_cert) with the
 * right purposes and SANs, pod certificates are cached, authentication accepts the client
 * certificate (over a real TLS handshake), the token and the admin token and rejects others,
 * and the output files (kubeconfig for each --auth, CA, admin token, exec plugin) are right. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base64.h"
#include "cluster.h"
#include "kt_test.h"
#include "pki.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

/* The base64 value of "key: VALUE" in a kubeconfig, decoded. */
static char *kcfg_b64(const char *kcfg, const char *key)
{
	const char *p = strstr(kcfg, key);
	if (!p)
		return NULL;
	p += strlen(key);
	while (*p == ' ' || *p == ':')
		p++;
	size_t n = strcspn(p, "\n");
	char *out = calloc(1, n + 1);
	size_t len;
	if (!out || kt_base64_decode(p, n, (uint8_t *)out, n, &len, 0) != 0) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

static X509 *pem_to_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return x;
}

static EVP_PKEY *pem_to_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return k;
}

/* X509_verify_cert of x against ca alone, for a purpose (X509_PURPOSE_SSL_SERVER/CLIENT). */
static int verify(X509 *ca, X509 *x, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = -1;
	if (st && ctx && X509_STORE_add_cert(st, ca) && X509_STORE_CTX_init(ctx, st, x, NULL)) {
		X509_STORE_CTX_set_purpose(ctx, purpose);
		ok = X509_verify_cert(ctx);
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static char *subject_field(X509 *x, int nid)
{
	static char buf[256];
	buf[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), nid, buf, sizeof(buf));
	return buf;
}

struct env {
	char dir[64];
	char kcfg[128];
	char ca[128];
	struct fc_options opt;
	struct fc_pki *pki;
	X509 *ca_cert;
};

static bool env_init(struct env *e, const char *auth, const char *san)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/kt-test-pki.XXXXXX");
	if (!mkdtemp(e->dir))
		return false;
	snprintf(e->kcfg, sizeof(e->kcfg), "%s/kc.yaml", e->dir);
	snprintf(e->ca, sizeof(e->ca), "%s/ca.pem", e->dir);
	e->opt = (struct fc_options){.listen = "127.0.0.1:16443",
				     .kubeconfig_out = e->kcfg,
				     .ca_out = e->ca,
				     .auth = auth,
				     .tls_san = san};
	char err[256];
	e->pki = fc_pki_new(&e->opt, err, sizeof(err));
	if (!e->pki) {
		fprintf(stderr, "fc_pki_new: %s\n", err);
		return false;
	}
	if (fc_pki_write_outputs(e->pki, &e->opt, err, sizeof(err)) != 0) {
		fprintf(stderr, "write_outputs: %s\n", err);
		return false;
	}
	char *pem = read_file(e->ca);
	e->ca_cert = pem ? pem_to_cert(pem) : NULL;
	free(pem);
	return e->ca_cert != NULL;
}

static void env_fini(struct env *e)
{
	X509_free(e->ca_cert);
	fc_pki_free(e->pki);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", e->dir);
}

KT_TEST(ca_and_server_certificate)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "cert", "api.example.test"));
	KT_CHECK_INT_EQ(X509_check_ca(e.ca_cert), 1);
	KT_CHECK_STR_EQ(subject_field(e.ca_cert, NID_commonName), "kubetun-fake-ca");
	KT_CHECK(X509_get_key_usage(e.ca_cert) & KU_KEY_CERT_SIGN);
	KT_CHECK_INT_EQ(verify(e.ca_cert, e.ca_cert, X509_PURPOSE_ANY), 1);

	X509 *srv = SSL_CTX_get0_certificate(fc_pki_api_ctx(e.pki));
	KT_REQUIRE(srv);
	KT_CHECK_INT_EQ(verify(e.ca_cert, srv, X509_PURPOSE_SSL_SERVER), 1);
	KT_CHECK_INT_EQ(X509_check_ca(srv), 0);
	KT_CHECK_INT_EQ(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
	KT_CHECK_INT_EQ(X509_check_host(srv, "api.example.test", 0, 0, NULL), 1);
	KT_CHECK_INT_EQ(X509_check_host(srv, "other.example.test", 0, 0, NULL), 0);
	KT_CHECK_INT_EQ(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
	KT_CHECK_INT_EQ(X509_check_ip_asc(srv, "::1", 0), 1);
	KT_CHECK_INT_EQ(X509_check_ip_asc(srv, "127.0.0.2", 0), 0);
	/* The EC P-256 key the brief asks for. */
	EVP_PKEY *pub = X509_get0_pubkey(srv);
	KT_CHECK(pub && EVP_PKEY_is_a(pub, "EC"));
	char group[64] = "";
	KT_CHECK(EVP_PKEY_get_utf8_string_param(pub, "group", group, sizeof(group), NULL));
	KT_CHECK_STR_EQ(group, "prime256v1");
	env_fini(&e);
}

KT_TEST(tls_san_ip_address)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "cert", "192.0.2.7"));
	X509 *srv = SSL_CTX_get0_certificate(fc_pki_api_ctx(e.pki));
	KT_CHECK_INT_EQ(X509_check_ip_asc(srv, "192.0.2.7", 0), 1);
	KT_CHECK_INT_EQ(X509_check_host(srv, "192.0.2.7", 0, 0, NULL), 0);
	env_fini(&e);
}

KT_TEST(cert_kubeconfig_and_client_certificate)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "cert", NULL));
	struct stat st;
	KT_REQUIRE(stat(e.kcfg, &st) == 0);
	KT_CHECK_INT_EQ(st.st_mode & 0777, 0600);
	char *kcfg = read_file(e.kcfg);
	KT_REQUIRE(kcfg);
	KT_CHECK(strstr(kcfg, "    server: https://127.0.0.1:16443\n"));
	KT_CHECK(strstr(kcfg, "current-context: kubetun-fake\n"));
	KT_CHECK(strstr(kcfg, "    namespace: default\n"));
	KT_CHECK(!strstr(kcfg, "token:"));
	char *ca_pem = kcfg_b64(kcfg, "certificate-authority-data");
	char *ca_file = read_file(e.ca);
	KT_REQUIRE(ca_pem && ca_file);
	KT_CHECK_STR_EQ(ca_pem, ca_file);
	char *cert_pem = kcfg_b64(kcfg, "client-certificate-data");
	char *key_pem = kcfg_b64(kcfg, "client-key-data");
	KT_REQUIRE(cert_pem && key_pem);
	X509 *cli = pem_to_cert(cert_pem);
	EVP_PKEY *key = pem_to_key(key_pem);
	KT_REQUIRE(cli && key);
	KT_CHECK_INT_EQ(X509_check_private_key(cli, key), 1);
	KT_CHECK_INT_EQ(verify(e.ca_cert, cli, X509_PURPOSE_SSL_CLIENT), 1);
	KT_CHECK(verify(e.ca_cert, cli, X509_PURPOSE_SSL_SERVER) != 1); /* clientAuth only */
	KT_CHECK_STR_EQ(subject_field(cli, NID_commonName), "kubetun-dev");
	KT_CHECK_STR_EQ(subject_field(cli, NID_organizationName), "system:masters");

	char path[192];
	snprintf(path, sizeof(path), "%s.admin-token", e.kcfg);
	KT_REQUIRE(stat(path, &st) == 0);
	KT_CHECK_INT_EQ(st.st_mode & 0777, 0600);
	X509_free(cli);
	EVP_PKEY_free(key);
	free(kcfg);
	free(ca_pem);
	free(ca_file);
	free(cert_pem);
	free(key_pem);
	env_fini(&e);
}

KT_TEST(token_and_admin_token_authenticate)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "token", NULL));
	char *kcfg = read_file(e.kcfg);
	KT_REQUIRE(kcfg);
	const char *t = strstr(kcfg, "    token: ");
	KT_REQUIRE(t);
	char token[128];
	size_t tl = strcspn(t + 11, "\n");
	KT_REQUIRE(tl == 64);
	memcpy(token, t + 11, tl);
	token[tl] = '\0';
	char path[192];
	snprintf(path, sizeof(path), "%s.admin-token", e.kcfg);
	char *admin = read_file(path);
	KT_REQUIRE(admin && strlen(admin) == 65 && admin[64] == '\n');
	admin[64] = '\0';
	KT_CHECK(strcmp(admin, token) != 0);

	char hdr[200];
	bool is_admin = true;
	snprintf(hdr, sizeof(hdr), "Bearer %s", token);
	KT_CHECK_STR_EQ(fc_pki_authenticate(e.pki, NULL, hdr, &is_admin), "kubetun-dev");
	KT_CHECK(!is_admin);
	snprintf(hdr, sizeof(hdr), "bearer %s", token); /* the scheme is case-insensitive */
	KT_CHECK_STR_EQ(fc_pki_authenticate(e.pki, NULL, hdr, &is_admin), "kubetun-dev");
	snprintf(hdr, sizeof(hdr), "Bearer %s", admin);
	KT_CHECK_STR_EQ(fc_pki_authenticate(e.pki, NULL, hdr, &is_admin), "kubetun-admin");
	KT_CHECK(is_admin);
	snprintf(hdr, sizeof(hdr), "Bearer %sx", token);
	KT_CHECK(fc_pki_authenticate(e.pki, NULL, hdr, &is_admin) == NULL);
	KT_CHECK(!is_admin);
	token[10] ^= 1;
	snprintf(hdr, sizeof(hdr), "Bearer %s", token);
	KT_CHECK(fc_pki_authenticate(e.pki, NULL, hdr, &is_admin) == NULL);
	token[10] ^= 1;
	snprintf(hdr, sizeof(hdr), "Basic %s", token);
	KT_CHECK(fc_pki_authenticate(e.pki, NULL, hdr, &is_admin) == NULL);
	KT_CHECK(fc_pki_authenticate(e.pki, NULL, "Bearer ", &is_admin) == NULL);
	KT_CHECK(fc_pki_authenticate(e.pki, NULL, "Bearer wrong", &is_admin) == NULL);
	KT_CHECK(fc_pki_authenticate(e.pki, NULL, NULL, &is_admin) == NULL);
	free(admin);
	free(kcfg);
	env_fini(&e);
}

KT_TEST(exec_plugin_prints_an_exec_credential)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "exec", NULL));
	char *kcfg = read_file(e.kcfg);
	KT_REQUIRE(kcfg);
	char script[192];
	snprintf(script, sizeof(script), "%s.exec-plugin", e.kcfg);
	char want[512];
	snprintf(want, sizeof(want),
		 "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
		 "      interactiveMode: Never\n      provideClusterInfo: false\n"
		 "      command: \"%s\"\n",
		 script);
	KT_CHECK(strstr(kcfg, want) != NULL);
	struct stat st;
	KT_REQUIRE(stat(script, &st) == 0);
	KT_CHECK_INT_EQ(st.st_mode & 0777, 0700);
	FILE *p = popen(script, "r");
	KT_REQUIRE(p);
	char out[512] = "";
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	KT_CHECK_INT_EQ(pclose(p), 0);
	static const char head[] = "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
				   "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"";
	KT_CHECK(strncmp(out, head, sizeof(head) - 1) == 0);
	const char *tok = strstr(out, "\"token\":\"");
	KT_REQUIRE(tok);
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "Bearer %.64s", tok + 9);
	bool is_admin;
	KT_CHECK_STR_EQ(fc_pki_authenticate(e.pki, NULL, hdr, &is_admin), "kubetun-dev");
	KT_CHECK(strstr(out, "\"expirationTimestamp\":\"20") != NULL);
	free(kcfg);
	env_fini(&e);
}

KT_TEST(pod_certificates_are_issued_and_cached)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "cert", NULL));
	const char *names[] = {"web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local"};
	SSL_CTX *a = fc_pki_pod_ctx(e.pki, "uid-1:443", names, 4, "10.244.0.5");
	SSL_CTX *b = fc_pki_pod_ctx(e.pki, "uid-1:443", names, 4, "10.244.0.5");
	SSL_CTX *c = fc_pki_pod_ctx(e.pki, "uid-2:443", names, 1, NULL);
	KT_REQUIRE(a && c);
	KT_CHECK(a == b);
	KT_CHECK(a != c);
	X509 *x = SSL_CTX_get0_certificate(a);
	KT_REQUIRE(x);
	KT_CHECK_INT_EQ(verify(e.ca_cert, x, X509_PURPOSE_SSL_SERVER), 1);
	KT_CHECK(verify(e.ca_cert, x, X509_PURPOSE_SSL_CLIENT) != 1);
	for (int i = 0; i < 4; i++)
		KT_CHECK_INT_EQ(X509_check_host(x, names[i], 0, 0, NULL), 1);
	KT_CHECK_INT_EQ(X509_check_ip_asc(x, "10.244.0.5", 0), 1);
	X509 *y = SSL_CTX_get0_certificate(c);
	KT_CHECK_INT_EQ(X509_check_host(y, "web", 0, 0, NULL), 1);
	KT_CHECK_INT_EQ(X509_check_host(y, "web.shop", 0, 0, NULL), 0);
	env_fini(&e);
}

/* Runs a TLS handshake between a client (with an optional certificate) and the API context
 * over a socketpair, then authenticates the server side without any Authorization header. */
static const char *handshake_and_auth(struct env *e, X509 *cert, EVP_PKEY *key)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return "socketpair";
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), e->ca_cert);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	if (cert) {
		SSL_CTX_use_certificate(cctx, cert);
		SSL_CTX_use_PrivateKey(cctx, key);
	}
	SSL *cli = SSL_new(cctx), *srv = SSL_new(fc_pki_api_ctx(e->pki));
	SSL_set_fd(cli, sv[0]);
	SSL_set_fd(srv, sv[1]);
	char sni[] = "localhost";
	SSL_set_tlsext_host_name(cli, sni);
	SSL_set1_host(cli, "localhost");
	SSL_set_connect_state(cli);
	SSL_set_accept_state(srv);
	int done_c = 0, done_s = 0;
	for (int i = 0; i < 100 && !(done_c && done_s); i++) {
		if (!done_c)
			done_c = SSL_do_handshake(cli) == 1;
		if (!done_s)
			done_s = SSL_do_handshake(srv) == 1;
	}
	/* TLS 1.3: the client certificate is processed once the server has read it. */
	char buf[8];
	SSL_write(cli, "x", 1);
	SSL_read(srv, buf, sizeof(buf));
	bool admin = true;
	const char *user =
	    done_c && done_s ? fc_pki_authenticate(e->pki, srv, NULL, &admin) : "handshake failed";
	if (admin)
		user = "admin?";
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	ERR_clear_error();
	return user;
}

KT_TEST(client_certificate_authenticates_over_tls)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "cert", NULL));
	char *kcfg = read_file(e.kcfg);
	KT_REQUIRE(kcfg);
	char *cert_pem = kcfg_b64(kcfg, "client-certificate-data");
	char *key_pem = kcfg_b64(kcfg, "client-key-data");
	KT_REQUIRE(cert_pem && key_pem);
	X509 *cli = pem_to_cert(cert_pem);
	EVP_PKEY *key = pem_to_key(key_pem);
	KT_REQUIRE(cli && key);
	KT_CHECK_STR_EQ(handshake_and_auth(&e, cli, key), "kubetun-dev");
	/* No certificate and no token: nobody. */
	KT_CHECK(handshake_and_auth(&e, NULL, NULL) == NULL);
	/* A certificate from the right CA but for serving (a pod's) is not a client credential. */
	const char *names[] = {"kubetun-dev"};
	SSL_CTX *pod = fc_pki_pod_ctx(e.pki, "k", names, 1, NULL);
	KT_REQUIRE(pod);
	KT_CHECK(handshake_and_auth(&e, SSL_CTX_get0_certificate(pod),
				    SSL_CTX_get0_privatekey(pod)) == NULL);
	X509_free(cli);
	EVP_PKEY_free(key);
	free(kcfg);
	free(cert_pem);
	free(key_pem);
	env_fini(&e);
}

KT_TEST(outputs_fail_cleanly_on_a_bad_path)
{
	struct env e;
	KT_REQUIRE(env_init(&e, "cert", NULL));
	struct fc_options bad = e.opt;
	bad.kubeconfig_out = "/nonexistent-dir-kt/kc.yaml";
	bad.ca_out = NULL;
	char err[256] = "";
	KT_CHECK(fc_pki_write_outputs(e.pki, &bad, err, sizeof(err)) < 0);
	KT_CHECK(strstr(err, "/nonexistent-dir-kt/kc.yaml") != NULL);
	fc_pki_free(NULL);
	env_fini(&e);
}

KT_TEST_MAIN()
