/* pki.c: the fake cluster's CA, credentials, TLS contexts and kubeconfig output (pki.h).
 *
 * Everything is generated in memory at start with OpenSSL 3's EVP API: EC P-256 keys, a CA
 * (CN=kubetun-fake-ca), the API server certificate, a client certificate (CN=kubetun-dev,
 * O=system:masters, clientAuth) and two random bearer tokens (user and admin). Pod serving
 * certificates are issued on demand and cached by key together with their SSL_CTX. The pki owns
 * all of it; tokens are wiped on free and never logged. Output files are written to a temporary
 * name in the same directory and renamed, so a reader never sees half a kubeconfig. */
#include "pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base64.h"
#include "buf.h"
#include "cluster.h"
#include "log.h"
#include "yamljson.h"

#define CA_CN "kubetun-fake-ca"
#define CLIENT_CN "kubetun-dev"
#define CLIENT_O "system:masters"
#define ADMIN_USER "kubetun-admin"
#define TOKEN_BYTES 32
#define CLUSTER_NAME "kubetun-fake"
#define USER_NAME "kubetun-dev"
#define MAX_POD_CTX 4096

struct pod_ctx {
	struct pod_ctx *next;
	char *key;
	SSL_CTX *ctx;
};

struct fc_pki {
	EVP_PKEY *ca_key, *server_key, *client_key;
	X509 *ca, *server, *client;
	SSL_CTX *api_ctx;
	char token[TOKEN_BYTES * 2 + 1];
	char admin_token[TOKEN_BYTES * 2 + 1];
	struct pod_ctx *pods;
	size_t npods;
};

/* --- certificates --- */

static EVP_PKEY *gen_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

static int add_dns(GENERAL_NAMES *gens, const char *name)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	if (!g || !s || !ASN1_STRING_set(s, name, (int)strlen(name))) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(s);
		return -ENOMEM;
	}
	GENERAL_NAME_set0_value(g, GEN_DNS, s);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return -ENOMEM;
	}
	return 0;
}

/* Adds name as an IP SAN if it is an IPv4 or IPv6 literal; 1 if it was one, 0 if not. */
static int add_ip(GENERAL_NAMES *gens, const char *name)
{
	unsigned char addr[16];
	int len;
	if (inet_pton(AF_INET, name, addr) == 1)
		len = 4;
	else if (inet_pton(AF_INET6, name, addr) == 1)
		len = 16;
	else
		return 0;
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();
	if (!g || !s || !ASN1_OCTET_STRING_set(s, addr, len)) {
		GENERAL_NAME_free(g);
		ASN1_OCTET_STRING_free(s);
		return -ENOMEM;
	}
	GENERAL_NAME_set0_value(g, GEN_IPADD, s);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return -ENOMEM;
	}
	return 1;
}

static int add_name(GENERAL_NAMES *gens, const char *name)
{
	int r = add_ip(gens, name);
	if (r != 0)
		return r < 0 ? r : 0;
	return add_dns(gens, name);
}

enum cert_kind { CERT_CA, CERT_SERVER, CERT_CLIENT };

/* Issues a certificate for key, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *make_cert(enum cert_kind kind, const char *cn, const char *org, EVP_PKEY *key,
		       X509 *issuer, EVP_PKEY *issuer_key, GENERAL_NAMES *sans, long days)
{
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	if (!x || !serial)
		goto fail;
	if (!X509_set_version(x, 2))
		goto fail;
	/* RFC 5280 section 4.1.2.2: positive, at most 20 octets; 127 random bits. */
	if (!BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), days * 24 * 3600))
		goto fail;
	X509_NAME *name = X509_get_subject_name(x);
	if (org && !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org,
					       -1, -1, 0))
		goto fail;
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0))
		goto fail;
	if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
		goto fail;
	if (!X509_set_pubkey(x, key))
		goto fail;
	X509 *iss = issuer ? issuer : x;
	if (add_ext(x, iss, NID_subject_key_identifier, "hash") < 0)
		goto fail;
	if (kind == CERT_CA) {
		if (add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
		    add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign") < 0)
			goto fail;
	} else {
		if (add_ext(x, iss, NID_authority_key_identifier, "keyid:always") < 0 ||
		    add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
		    add_ext(x, iss, NID_key_usage, "critical,digitalSignature") < 0 ||
		    add_ext(x, iss, NID_ext_key_usage,
			    kind == CERT_SERVER ? "serverAuth" : "clientAuth") < 0)
			goto fail;
	}
	if (sans && sk_GENERAL_NAME_num(sans) > 0 &&
	    !X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT))
		goto fail;
	if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()))
		goto fail;
	BN_free(serial);
	return x;
fail:
	BN_free(serial);
	X509_free(x);
	return NULL;
}

/* --- TLS contexts --- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	/* Only HTTP/1.1: Go would switch to HTTP/2 if we picked h2, and upgrades need 1.1. */
	for (unsigned i = 0; i < inlen;) {
		unsigned l = in[i];
		if (i + 1 + l > inlen)
			break;
		if (l == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* The client certificate is optional: verification problems are recorded (and checked by
 * fc_pki_authenticate) instead of failing the handshake, so a token can still authenticate. */
static int verify_accept(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

static SSL_CTX *server_ctx(X509 *cert, EVP_PKEY *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* No read-ahead: with it, OpenSSL 3.0 moves the unread rest of its read buffer to the front
	 * after every record, which cost ~25% of the fake's CPU on 1 GiB uploads (perf). Without
	 * it, two read(2) calls per 16 KiB record are cheaper. */
	SSL_CTX_set_read_ahead(ctx, 0);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

SSL_CTX *fc_pki_api_ctx(struct fc_pki *pki)
{
	return pki->api_ctx;
}

/* --- lifecycle --- */

static void random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];
	static const char hex[] = "0123456789abcdef";
	if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
		kt_fatalx("cannot get random bytes for a token");
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
}

struct fc_pki *fc_pki_new(const struct fc_options *opt, char *err, size_t errcap)
{
	struct fc_pki *pki = calloc(1, sizeof(*pki));
	GENERAL_NAMES *sans = NULL;
	if (!pki) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	pki->ca_key = gen_key();
	pki->server_key = gen_key();
	pki->client_key = gen_key();
	if (!pki->ca_key || !pki->server_key || !pki->client_key)
		goto fail;
	pki->ca = make_cert(CERT_CA, CA_CN, NULL, pki->ca_key, NULL, NULL, NULL, 3650);
	if (!pki->ca)
		goto fail;
	sans = sk_GENERAL_NAME_new_null();
	if (!sans || add_dns(sans, "localhost") < 0 || add_ip(sans, "127.0.0.1") < 0 ||
	    add_ip(sans, "::1") < 0)
		goto fail;
	if (opt && opt->tls_san && *opt->tls_san && add_name(sans, opt->tls_san) < 0)
		goto fail;
	pki->server = make_cert(CERT_SERVER, "kubetun-fake-apiserver", NULL, pki->server_key,
				pki->ca, pki->ca_key, sans, 365);
	pki->client = make_cert(CERT_CLIENT, CLIENT_CN, CLIENT_O, pki->client_key, pki->ca,
				pki->ca_key, NULL, 365);
	if (!pki->server || !pki->client)
		goto fail;
	GENERAL_NAMES_free(sans);
	sans = NULL;

	pki->api_ctx = server_ctx(pki->server, pki->server_key);
	if (!pki->api_ctx)
		goto fail;
	X509_STORE *store = SSL_CTX_get_cert_store(pki->api_ctx);
	if (!X509_STORE_add_cert(store, pki->ca) || !SSL_CTX_add_client_CA(pki->api_ctx, pki->ca))
		goto fail;
	SSL_CTX_set_verify(pki->api_ctx, SSL_VERIFY_PEER, verify_accept);
	/* Needed for session resumption once client certificates are requested. */
	static const unsigned char sid[] = "kubetun-fake-api";
	SSL_CTX_set_session_id_context(pki->api_ctx, sid, sizeof(sid) - 1);

	random_hex(pki->token, TOKEN_BYTES);
	random_hex(pki->admin_token, TOKEN_BYTES);
	return pki;
fail:
	snprintf(err, errcap, "cannot create the certificates: %s",
		 ERR_peek_last_error() ? ERR_reason_error_string(ERR_peek_last_error())
				       : "unknown error");
	GENERAL_NAMES_free(sans);
	fc_pki_free(pki);
	return NULL;
}

void fc_pki_free(struct fc_pki *pki)
{
	if (!pki)
		return;
	for (struct pod_ctx *p = pki->pods, *next; p; p = next) {
		next = p->next;
		SSL_CTX_free(p->ctx);
		free(p->key);
		free(p);
	}
	SSL_CTX_free(pki->api_ctx);
	X509_free(pki->ca);
	X509_free(pki->server);
	X509_free(pki->client);
	EVP_PKEY_free(pki->ca_key);
	EVP_PKEY_free(pki->server_key);
	EVP_PKEY_free(pki->client_key);
	OPENSSL_cleanse(pki, sizeof(*pki));
	free(pki);
}

/* --- authentication --- */

static bool token_eq(const char *a, const char *secret)
{
	size_t la = strlen(a), ls = strlen(secret);
	if (la != ls)
		return false;
	return CRYPTO_memcmp(a, secret, ls) == 0;
}

const char *fc_pki_authenticate(struct fc_pki *pki, SSL *ssl, const char *authorization,
				bool *admin)
{
	*admin = false;
	/* A valid bearer token decides first, so the admin token works even on a conn that also
	 * carries the client certificate (curl with both, say); then the certificate. */
	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *tok = authorization + 7;
		while (*tok == ' ')
			tok++;
		if (token_eq(tok, pki->admin_token)) {
			*admin = true;
			return ADMIN_USER;
		}
		if (token_eq(tok, pki->token))
			return USER_NAME;
	}
	if (ssl) {
		X509 *peer = SSL_get0_peer_certificate(ssl);
		if (peer && SSL_get_verify_result(ssl) == X509_V_OK) {
			X509_NAME *name = X509_get_subject_name(peer);
			int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
			const ASN1_STRING *cn =
			    i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)) : NULL;
			if (cn && ASN1_STRING_length(cn) == (int)strlen(CLIENT_CN) &&
			    memcmp(ASN1_STRING_get0_data(cn), CLIENT_CN, strlen(CLIENT_CN)) == 0)
				return CLIENT_CN;
		}
	}
	return NULL;
}

/* --- pod certificates --- */

SSL_CTX *fc_pki_pod_ctx(struct fc_pki *pki, const char *key, const char *const *dns_names,
			size_t n_names, const char *ip)
{
	for (struct pod_ctx *p = pki->pods; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p->ctx;
	if (pki->npods >= MAX_POD_CTX)
		return NULL;
	EVP_PKEY *k = gen_key();
	GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
	X509 *cert = NULL;
	SSL_CTX *ctx = NULL;
	struct pod_ctx *p = NULL;
	if (!k || !sans)
		goto fail;
	for (size_t i = 0; i < n_names; i++)
		if (dns_names[i] && *dns_names[i] && add_name(sans, dns_names[i]) < 0)
			goto fail;
	if (ip && *ip && add_ip(sans, ip) < 0)
		goto fail;
	const char *cn = n_names > 0 && dns_names[0] && strlen(dns_names[0]) <= 64 ? dns_names[0]
										   : "kubetun-pod";
	cert = make_cert(CERT_SERVER, cn, NULL, k, pki->ca, pki->ca_key, sans, 365);
	if (!cert)
		goto fail;
	ctx = server_ctx(cert, k);
	p = calloc(1, sizeof(*p));
	if (!ctx || !p || !(p->key = strdup(key)))
		goto fail;
	p->ctx = ctx;
	p->next = pki->pods;
	pki->pods = p;
	pki->npods++;
	X509_free(cert);
	EVP_PKEY_free(k);
	GENERAL_NAMES_free(sans);
	return ctx;
fail:
	kt_log_warnx("cannot issue a pod certificate for %s", key);
	free(p);
	SSL_CTX_free(ctx);
	X509_free(cert);
	EVP_PKEY_free(k);
	GENERAL_NAMES_free(sans);
	return NULL;
}

/* --- output files --- */

static char *pem_cert(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (bio && PEM_write_bio_X509(bio, x)) {
		char *data;
		long len = BIO_get_mem_data(bio, &data);
		out = malloc((size_t)len + 1);
		if (out) {
			memcpy(out, data, (size_t)len);
			out[len] = '\0';
		}
	}
	BIO_free(bio);
	return out;
}

/* The PEM of a private key; the caller wipes it (OPENSSL_clear_free). */
static char *pem_key(EVP_PKEY *k, size_t *outlen)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *out = NULL;
	if (bio && PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)) {
		char *data;
		long len = BIO_get_mem_data(bio, &data);
		out = OPENSSL_malloc((size_t)len + 1);
		if (out) {
			memcpy(out, data, (size_t)len);
			out[len] = '\0';
			*outlen = (size_t)len + 1;
		}
	}
	BIO_free(bio);
	return out;
}

static int b64(struct kt_buf *b, const char *s)
{
	return kt_base64_encode_buf(b, s, strlen(s));
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
			size_t errcap)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errcap, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errcap, "%s: %s", path, strerror(e));
		return -e;
	}
	int e = 0;
	if (fchmod(fd, mode) < 0)
		e = errno;
	const char *p = data;
	size_t left = len;
	while (!e && left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errcap, "%s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

static int abs_path(const char *path, char *out, size_t cap)
{
	if (path[0] == '/') {
		int n = snprintf(out, cap, "%s", path);
		return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
	}
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	int n = snprintf(out, cap, "%s/%s", cwd, path);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int write_exec_plugin(struct fc_pki *pki, const char *script, char *err, size_t errcap)
{
	/* protocol.md section 6.4: an ExecCredential with the same apiVersion as the kubeconfig's
	 * exec entry, a token, and an expiry one hour ahead (GNU date, else BSD date). */
	struct kt_buf b;
	kt_buf_init(&b, 64 * 1024);
	int r =
	    kt_buf_printf(&b,
			  "#!/bin/sh\n"
			  "# Exec credential plugin written by kubetun-fake-cluster.\n"
			  "exp=$(date -u -d '+1 hour' '+%%Y-%%m-%%dT%%H:%%M:%%SZ' 2>/dev/null ||"
			  " date -u -v+1H '+%%Y-%%m-%%dT%%H:%%M:%%SZ')\n"
			  "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
			  "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%%s\","
			  "\"expirationTimestamp\":\"%%s\"}}\\n' '%s' \"$exp\"\n",
			  pki->token);
	if (r == 0)
		r = write_atomic(script, kt_buf_peek(&b), kt_buf_len(&b), 0700, err, errcap);
	else
		snprintf(err, errcap, "out of memory");
	OPENSSL_cleanse(b.data, b.cap);
	kt_buf_fini(&b);
	return r;
}

int fc_pki_write_outputs(struct fc_pki *pki, const struct fc_options *opt, char *err, size_t errcap)
{
	char path[4096];
	int r = 0;
	char *ca_pem = pem_cert(pki->ca);
	char *client_pem = NULL, *key_pem = NULL;
	size_t key_len = 0;
	struct kt_buf b;
	kt_buf_init(&b, 1024 * 1024);
	/* One allocation up front: growing would leave copies of the key in freed memory. */
	kt_buf_reserve(&b, 64 * 1024);
	if (!ca_pem) {
		snprintf(err, errcap, "cannot encode the CA certificate");
		r = -ENOMEM;
		goto out;
	}
	if (opt->ca_out) {
		/* The CA certificate is public. */
		r = write_atomic(opt->ca_out, ca_pem, strlen(ca_pem), 0644, err, errcap);
		if (r < 0)
			goto out;
	}
	if (!opt->kubeconfig_out)
		goto out;

	const char *auth = opt->auth ? opt->auth : "cert";
	r = kt_buf_printf(&b,
			  "apiVersion: v1\n"
			  "kind: Config\n"
			  "preferences: {}\n"
			  "clusters:\n"
			  "- name: " CLUSTER_NAME "\n"
			  "  cluster:\n"
			  "    server: https://%s\n"
			  "    certificate-authority-data: ",
			  opt->listen ? opt->listen : "127.0.0.1:6443");
	r = r ? r : b64(&b, ca_pem);
	r = r ? r
	      : kt_buf_printf(&b, "\n"
				  "contexts:\n"
				  "- name: " CLUSTER_NAME "\n"
				  "  context:\n"
				  "    cluster: " CLUSTER_NAME "\n"
				  "    user: " USER_NAME "\n"
				  "    namespace: default\n"
				  "current-context: " CLUSTER_NAME "\n"
				  "users:\n"
				  "- name: " USER_NAME "\n"
				  "  user:\n");
	if (r == 0 && strcmp(auth, "token") == 0) {
		r = kt_buf_printf(&b, "    token: %s\n", pki->token);
	} else if (r == 0 && strcmp(auth, "exec") == 0) {
		char script[4096];
		int n = snprintf(path, sizeof(path), "%s.exec-plugin", opt->kubeconfig_out);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    abs_path(path, script, sizeof(script)) < 0) {
			snprintf(err, errcap, "%s: path too long", opt->kubeconfig_out);
			r = -ENAMETOOLONG;
			goto out;
		}
		r = write_exec_plugin(pki, script, err, errcap);
		if (r < 0)
			goto out;
		r = kt_buf_printf(&b, "    exec:\n"
				      "      apiVersion: client.authentication.k8s.io/v1\n"
				      "      interactiveMode: Never\n"
				      "      provideClusterInfo: false\n"
				      "      command: ");
		r = r ? r : kt_yaml_put_quoted(&b, script);
		r = r ? r : kt_buf_printf(&b, "\n");
	} else if (r == 0) {
		client_pem = pem_cert(pki->client);
		key_pem = pem_key(pki->client_key, &key_len);
		if (!client_pem || !key_pem) {
			snprintf(err, errcap, "cannot encode the client credentials");
			r = -ENOMEM;
			goto out;
		}
		r = kt_buf_printf(&b, "    client-certificate-data: ");
		r = r ? r : b64(&b, client_pem);
		r = r ? r : kt_buf_printf(&b, "\n    client-key-data: ");
		r = r ? r : b64(&b, key_pem);
		r = r ? r : kt_buf_printf(&b, "\n");
	}
	if (r < 0) {
		snprintf(err, errcap, "out of memory");
		goto out;
	}
	r = write_atomic(opt->kubeconfig_out, kt_buf_peek(&b), kt_buf_len(&b), 0600, err, errcap);
	if (r < 0)
		goto out;

	int n = snprintf(path, sizeof(path), "%s.admin-token", opt->kubeconfig_out);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errcap, "%s: path too long", opt->kubeconfig_out);
		r = -ENAMETOOLONG;
		goto out;
	}
	char line[TOKEN_BYTES * 2 + 2];
	n = snprintf(line, sizeof(line), "%s\n", pki->admin_token);
	r = write_atomic(path, line, (size_t)n, 0600, err, errcap);
	OPENSSL_cleanse(line, sizeof(line));
out:
	free(ca_pem);
	free(client_pem);
	if (key_pem)
		OPENSSL_clear_free(key_pem, key_len);
	if (b.data)
		OPENSSL_cleanse(b.data, b.cap);
	kt_buf_fini(&b);
	return r;
}
