/* test_kubeconfig.c: unit tests for src/kubeconfig.c (loading, merging, resolution).
 *
 * Real files in a fresh temporary directory: KUBECONFIG lists, relative references, token files.
 * Client certificates are generated here with OpenSSL; the fake cluster's own kubeconfig output
 * (tools/fake-cluster/pki.c) is loaded too, for cert, token and exec credentials. */
#include "base64.h"
#include "cluster.h"
#include "kt_test.h"
#include "kubeconfig.h"
#include "pki.h"

#include <errno.h>
#include <ftw.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

/* A secret that must never show up in an error message. */
#define SECRET "kt-secret-TOKEN-7f3a9c21e5"

static char dir[64];
static char err[1024];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void tmp_begin(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kt_kcfg.XXXXXX");
	if (!mkdtemp(dir))
		abort();
}

static void tmp_end(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/<name>, built into a static rotating buffer. */
static const char *path(const char *name)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, 512, "%s/%s", dir, name);
	return b;
}

static void mkdirs(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	for (char *s = p + strlen(dir) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

__attribute__((format(printf, 2, 3))) static void write_file(const char *name, const char *fmt, ...)
{
	FILE *f = fopen(path(name), "w");
	if (!f)
		abort();
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

static char *b64(const char *s)
{
	size_t n = kt_base64_encoded_len(strlen(s));
	char *o = malloc(n + 1);
	if (!o || kt_base64_encode(s, strlen(s), o, n + 1) != 0)
		abort();
	return o;
}

/* A self-signed EC P-256 certificate and its key as PEM (caller frees both). */
static void gen_pem(char **cert, char **key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (!k || !x)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"kt-test", -1, -1,
				   0);
	X509_set_issuer_name(x, nm);
	X509_set_pubkey(x, k);
	if (!X509_sign(x, k, EVP_sha256()))
		abort();
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	char *p;
	long n = BIO_get_mem_data(b, &p);
	*cert = strndup(p, (size_t)n);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &p);
	*key = strndup(p, (size_t)n);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static struct kt_kubeconfig *parse(const char *yaml, const char *context)
{
	err[0] = '\0';
	struct kt_kubeconfig *kc =
	    kt_kubeconfig_parse(yaml, strlen(yaml), "k.yaml", context, 0, err, sizeof(err));
	if (!kc) {
		KT_CHECK(err[0] != '\0');
		KT_CHECK(strchr(err, '\n') == NULL);
	}
	return kc;
}

/* Parses expecting an error; returns it (never containing SECRET). */
static const char *parse_err(const char *yaml, const char *context)
{
	struct kt_kubeconfig *kc = parse(yaml, context);
	if (kc) {
		kt_kubeconfig_free(kc);
		return "(parsed fine)";
	}
	KT_CHECK(strstr(err, SECRET) == NULL);
	return err;
}

static struct kt_kubeconfig *load(const char *explicit_path, const char *env, const char *home,
				  const char *context)
{
	struct kt_kubeconfig_opts o = {explicit_path, env, home, context, 0};
	err[0] = '\0';
	struct kt_kubeconfig *kc = kt_kubeconfig_load(&o, err, sizeof(err));
	if (!kc) {
		KT_CHECK(err[0] != '\0');
		KT_CHECK(strchr(err, '\n') == NULL);
		KT_CHECK(strstr(err, SECRET) == NULL);
	}
	return kc;
}

#define MINIMAL                                           \
	"apiVersion: v1\n"                                \
	"kind: Config\n"                                  \
	"current-context: dev\n"                          \
	"clusters:\n"                                     \
	"- name: c\n"                                     \
	"  cluster:\n"                                    \
	"    server: https://api.example.com:6443/k8s/\n" \
	"    insecure-skip-tls-verify: true\n"            \
	"contexts:\n"                                     \
	"- name: dev\n"                                   \
	"  context: {cluster: c, user: u}\n"              \
	"users:\n"                                        \
	"- name: u\n"                                     \
	"  user:\n"                                       \
	"    token: " SECRET "\n"

KT_TEST(minimal_token_config)
{
	struct kt_kubeconfig *kc = parse(MINIMAL, NULL);
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->context_name, "dev");
	KT_CHECK_STR_EQ(kc->cluster_name, "c");
	KT_CHECK_STR_EQ(kc->user_name, "u");
	KT_CHECK_STR_EQ(kc->namespace, "default");
	KT_CHECK_STR_EQ(kc->server.url, "https://api.example.com:6443/k8s/");
	KT_CHECK_STR_EQ(kc->server.host, "api.example.com");
	KT_CHECK_INT_EQ(kc->server.port, 6443);
	KT_CHECK_STR_EQ(kc->server.path_prefix, "/k8s");
	KT_CHECK(!kc->server.host_is_ipv6);
	KT_CHECK(kc->insecure_skip_tls_verify);
	KT_CHECK(kc->ca_pem == NULL);
	KT_CHECK_STR_EQ(kc->token, SECRET);
	KT_CHECK(kc->exec == NULL);
	KT_CHECK(kc->client_cert_pem == NULL && kc->client_key_pem == NULL);
	KT_CHECK_INT_EQ(kc->nfiles, 1);
	KT_CHECK_STR_EQ(kc->files[0], "k.yaml");
	KT_CHECK_INT_EQ(kc->nwarnings, 0);
	kt_kubeconfig_free(kc);
	kt_kubeconfig_free(NULL);
}

KT_TEST(json_kubeconfig)
{
	const char *j =
	    "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"current-context\":\"x\","
	    "\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"https://10.0.0.1\"}}],"
	    "\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
	    "\"namespace\":\"shop\"}}],\"users\":[]}";
	struct kt_kubeconfig *kc = parse(j, NULL);
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->server.host, "10.0.0.1");
	KT_CHECK_INT_EQ(kc->server.port, 443);
	KT_CHECK_STR_EQ(kc->server.path_prefix, "");
	KT_CHECK_STR_EQ(kc->namespace, "shop");
	KT_CHECK_STR_EQ(kc->user_name, "");
	KT_CHECK(kc->token == NULL);
	kt_kubeconfig_free(kc);
}

/* What kubectl writes (and the fake cluster): certificate-authority-data and client cert/key
 * data, base64 of PEM. */
KT_TEST(cert_data_decoded)
{
	char *cert, *key, *cert2, *key2;
	gen_pem(&cert, &key);
	gen_pem(&cert2, &key2);
	char *cb = b64(cert), *kb = b64(key), *kb2 = b64(key2);
	char y[16384];
	snprintf(y, sizeof(y),
		 "apiVersion: v1\nkind: Config\npreferences: {}\nclusters:\n- name: fake\n"
		 "  cluster:\n    server: https://127.0.0.1:6443\n"
		 "    certificate-authority-data: %s\n"
		 "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: admin\n"
		 "    namespace: default\ncurrent-context: fake\nusers:\n- name: admin\n  user:\n"
		 "    client-certificate-data: %s\n    client-key-data: %s\n",
		 cb, cb, kb);
	struct kt_kubeconfig *kc = parse(y, NULL);
	KT_REQUIRE(kc);
	KT_CHECK_INT_EQ(kc->ca_pem_len, strlen(cert));
	KT_CHECK_MEM_EQ(kc->ca_pem, cert, strlen(cert));
	KT_CHECK(kc->ca_file == NULL);
	KT_CHECK_INT_EQ(kc->client_cert_pem_len, strlen(cert));
	KT_CHECK_MEM_EQ(kc->client_cert_pem, cert, strlen(cert));
	KT_CHECK_INT_EQ(kc->client_key_pem_len, strlen(key));
	KT_CHECK_MEM_EQ(kc->client_key_pem, key, strlen(key));
	KT_CHECK(kc->token == NULL);
	kt_kubeconfig_free(kc);

	/* A key that does not belong to the certificate is caught at load time, and the error
	 * names the field, never the key. */
	snprintf(y, sizeof(y),
		 "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		 "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
		 "    client-key-data: %s\n",
		 cb, kb2);
	KT_CHECK_STR_EQ(parse_err(y, "x"),
			"k.yaml:12:22: user \"u\": client-key-data does not match "
			"client-certificate-data");
	KT_CHECK(strstr(err, kb2) == NULL);
	/* Garbage in place of a CA. */
	char *junk = b64("not a certificate");
	snprintf(y, sizeof(y),
		 "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
		 "    certificate-authority-data: %s\n"
		 "contexts:\n- name: x\n  context: {cluster: c}\n",
		 junk);
	KT_CHECK_STR_EQ(parse_err(y, "x"), "k.yaml:5:33: cluster \"c\": certificate-authority-data "
					   "does not hold a PEM certificate");
	/* Half a client certificate. */
	snprintf(y, sizeof(y),
		 "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		 "users:\n- name: u\n  user:\n    client-certificate-data: %s\n",
		 cb);
	KT_CHECK_STR_EQ(parse_err(y, "x"), "k.yaml:10:3: user \"u\": client-certificate is set but "
					   "client-key is not; a client certificate needs both");
	/* Not base64. */
	KT_CHECK_STR_EQ(parse_err("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
				  "    certificate-authority-data: '%%%'\n"
				  "contexts:\n- name: x\n  context: {cluster: c}\n",
				  "x"),
			"k.yaml:5:33: certificate-authority-data is not valid base64");
	free(junk);
	free(cb);
	free(kb);
	free(kb2);
	free(cert);
	free(key);
	free(cert2);
	free(key2);
}

/* protocol.md 6.5: first file defining a name wins completely; first non-empty
 * current-context wins. */
KT_TEST(merge_first_wins)
{
	tmp_begin();
	write_file("a", "current-context: \"\"\n"
			"clusters:\n- name: shared\n  cluster:\n    server: https://a.example\n"
			"users:\n- name: shared\n  user:\n    token: from-a\n");
	write_file("b",
		   "current-context: ctx-b\n"
		   "clusters:\n- name: shared\n  cluster:\n    server: https://b.example\n"
		   "    tls-server-name: only-in-b\n"
		   "- name: bonly\n  cluster:\n    server: https://bonly.example:8443\n"
		   "users:\n- name: shared\n  user:\n    token: from-b\n"
		   "contexts:\n- name: ctx-b\n  context: {cluster: shared, user: shared}\n"
		   "- name: other\n  context: {cluster: bonly, user: shared, namespace: ns1}\n");
	write_file("c", "current-context: ctx-c\n"
			"contexts:\n- name: ctx-b\n  context: {cluster: bonly}\n");
	char env[1024];
	snprintf(env, sizeof(env), "%s:%s:%s", path("a"), path("b"), path("c"));
	struct kt_kubeconfig *kc = load(NULL, env, NULL, NULL);
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->context_name, "ctx-b"); /* a's is empty, b's is the first set */
	KT_CHECK_STR_EQ(kc->server.host, "a.example");
	KT_CHECK(kc->tls_server_name == NULL); /* no field-level merge from b */
	KT_CHECK_STR_EQ(kc->token, "from-a");
	KT_CHECK_INT_EQ(kc->nfiles, 3);
	KT_CHECK_STR_EQ(kc->files[2], path("c"));
	kt_kubeconfig_free(kc);

	/* --context picks another context; its cluster comes from the only file defining it. */
	kc = load(NULL, env, NULL, "other");
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->server.host, "bonly.example");
	KT_CHECK_INT_EQ(kc->server.port, 8443);
	KT_CHECK_STR_EQ(kc->namespace, "ns1");
	KT_CHECK_STR_EQ(kc->token, "from-a");
	kt_kubeconfig_free(kc);

	/* Reversed order: c's current-context and c's ctx-b win. */
	snprintf(env, sizeof(env), "%s:%s:%s", path("c"), path("b"), path("a"));
	kc = load(NULL, env, NULL, "ctx-b");
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->server.host, "bonly.example");
	KT_CHECK_STR_EQ(kc->user_name, "");
	kt_kubeconfig_free(kc);
	kc = load(NULL, env, NULL, NULL);
	KT_CHECK(kc == NULL);
	KT_CHECK(strstr(err, "context \"ctx-c\" not found") != NULL);
	KT_CHECK(strstr(err, path("c")) != NULL);
	tmp_end();
}

KT_TEST(kubeconfig_list_rules)
{
	tmp_begin();
	write_file("a", "clusters:\n- name: c\n  cluster: {server: 'https://a'}\n"
			"contexts:\n- name: x\n  context: {cluster: c}\n");
	write_file("b", "current-context: x\n");
	write_file("empty", "%s", "");
	char env[2048];
	/* Empty entries skipped, duplicates dropped (first kept), missing files skipped. */
	snprintf(env, sizeof(env), "::%s:%s:%s:%s:%s::%s", path("missing1"), path("a"), path("a"),
		 path("empty"), path("b"), path("a"));
	struct kt_kubeconfig *kc = load(NULL, env, "/nonexistent-home", NULL);
	KT_REQUIRE(kc);
	KT_CHECK_INT_EQ(kc->nfiles, 3);
	KT_CHECK_STR_EQ(kc->files[0], path("a"));
	KT_CHECK_STR_EQ(kc->files[1], path("empty"));
	KT_CHECK_STR_EQ(kc->files[2], path("b"));
	KT_CHECK_STR_EQ(kc->context_name, "x");
	kt_kubeconfig_free(kc);

	/* All missing: an error naming them. */
	snprintf(env, sizeof(env), "%s:%s", path("m1"), path("m2"));
	KT_CHECK(load(NULL, env, NULL, NULL) == NULL);
	char want[1024];
	snprintf(want, sizeof(want), "KUBECONFIG: none of its files exist (%s, %s)", path("m1"),
		 path("m2"));
	KT_CHECK_STR_EQ(err, want);

	/* An unreadable entry (a directory) is an error, not skipped. */
	mkdirs("adir");
	snprintf(env, sizeof(env), "%s:%s", path("adir"), path("a"));
	KT_CHECK(load(NULL, env, NULL, "x") == NULL);
	snprintf(want, sizeof(want), "%s: cannot read kubeconfig: not a regular file",
		 path("adir"));
	KT_CHECK_STR_EQ(err, want);

	/* An invalid file in the list is an error too. */
	write_file("bad", "clusters: {}\n");
	snprintf(env, sizeof(env), "%s:%s", path("a"), path("bad"));
	KT_CHECK(load(NULL, env, NULL, "x") == NULL);
	snprintf(want, sizeof(want), "%s:1:11: clusters must be a list", path("bad"));
	KT_CHECK_STR_EQ(err, want);

	/* --kubeconfig is loaded alone (b's current-context is not seen) and must exist. */
	snprintf(env, sizeof(env), "%s:%s", path("a"), path("b"));
	kc = load(path("a"), env, NULL, NULL);
	KT_CHECK(kc == NULL);
	snprintf(want, sizeof(want),
		 "%s: no current-context is set; choose a context with --context or the "
		 "profile's context",
		 path("a"));
	KT_CHECK_STR_EQ(err, want);
	kc = load(path("a"), env, NULL, "x");
	KT_REQUIRE(kc);
	KT_CHECK_INT_EQ(kc->nfiles, 1);
	kt_kubeconfig_free(kc);
	KT_CHECK(load(path("nope"), NULL, NULL, NULL) == NULL);
	snprintf(want, sizeof(want), "%s: cannot read kubeconfig: No such file or directory",
		 path("nope"));
	KT_CHECK_STR_EQ(err, want);

	/* Neither: $HOME/.kube/config (the caller's home, e.g. the sudo user's). An empty
	 * KUBECONFIG counts as unset. */
	mkdirs("home/.kube");
	write_file("home/.kube/config",
		   "current-context: x\n"
		   "clusters:\n- name: c\n  cluster: {server: 'https://home'}\n"
		   "contexts:\n- name: x\n  context: {cluster: c}\n");
	kc = load(NULL, "", path("home"), NULL);
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->server.host, "home");
	KT_CHECK_STR_EQ(kc->files[0], path("home/.kube/config"));
	kt_kubeconfig_free(kc);
	KT_CHECK(load(NULL, NULL, path("nohome"), NULL) == NULL);
	KT_CHECK(strstr(err, "nohome/.kube/config: cannot read kubeconfig") != NULL);
	KT_CHECK(load(NULL, NULL, NULL, NULL) == NULL);
	tmp_end();
}

KT_TEST(relative_paths)
{
	char *cert, *key;
	gen_pem(&cert, &key);
	tmp_begin();
	mkdirs("one/certs");
	mkdirs("two");
	write_file("one/ca.pem", "%s", cert);
	write_file("one/certs/c.pem", "%s", cert);
	write_file("two/k.pem", "%s", key);
	write_file("two/tok", "  " SECRET "\n\n");
	/* Cluster and context in one/, user in two/: each entry's paths resolve against the
	 * directory of the file that defined it. */
	write_file("one/config", "current-context: x\n"
				 "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
				 "    certificate-authority: ca.pem\n"
				 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
				 "- name: y\n  context: {cluster: c, user: v}\n"
				 "- name: z\n  context: {cluster: c, user: w}\n");
	write_file(
	    "two/config",
	    "users:\n- name: u\n  user:\n    client-certificate: ../one/certs/c.pem\n"
	    "    client-key: k.pem\n    tokenFile: tok\n"
	    "- name: v\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
	    "      interactiveMode: Never\n      command: ./bin/plugin\n"
	    "- name: w\n  user:\n    exec:\n"
	    "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
	    "      args: [eks, get-token]\n");
	char env[1024];
	snprintf(env, sizeof(env), "%s:%s", path("one/config"), path("two/config"));
	struct kt_kubeconfig *kc = load(NULL, env, NULL, NULL);
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->ca_file, path("one/ca.pem"));
	KT_CHECK_STR_EQ((const char *)kc->ca_pem, cert);
	KT_CHECK_STR_EQ(kc->client_cert_file, path("two/../one/certs/c.pem"));
	KT_CHECK_STR_EQ((const char *)kc->client_cert_pem, cert);
	KT_CHECK_STR_EQ(kc->client_key_file, path("two/k.pem"));
	KT_CHECK_STR_EQ((const char *)kc->client_key_pem, key);
	KT_CHECK_STR_EQ(kc->token_file, path("two/tok"));
	KT_CHECK_STR_EQ(kc->token, SECRET); /* whitespace trimmed */
	kt_kubeconfig_free(kc);

	kc = load(NULL, env, NULL, "y");
	KT_REQUIRE(kc && kc->exec);
	KT_CHECK_STR_EQ(kc->exec->command, path("two/./bin/plugin"));
	KT_CHECK_INT_EQ(kc->exec->interactive_mode, KT_KUBECONFIG_INTERACTIVE_NEVER);
	kt_kubeconfig_free(kc);
	kc = load(NULL, env, NULL, "z");
	KT_REQUIRE(kc && kc->exec);
	KT_CHECK_STR_EQ(kc->exec->command, "aws"); /* bare: looked up in PATH later */
	KT_CHECK_INT_EQ(kc->exec->nargs, 2);
	KT_CHECK_STR_EQ(kc->exec->args[1], "get-token");
	KT_CHECK_INT_EQ(kc->exec->interactive_mode, KT_KUBECONFIG_INTERACTIVE_IF_AVAILABLE);
	kt_kubeconfig_free(kc);

	/* A missing referenced file: FILE:LINE:COL, the field and the resolved path. */
	write_file("three", "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
			    "    certificate-authority: sub/none.pem\n"
			    "contexts:\n- name: x\n  context: {cluster: c}\n");
	kc = load(path("three"), NULL, NULL, "x");
	KT_CHECK(kc == NULL);
	char want[1024];
	snprintf(want, sizeof(want),
		 "%s:5:28: certificate-authority \"%s\": No such file or directory", path("three"),
		 path("sub/none.pem"));
	KT_CHECK_STR_EQ(err, want);
	tmp_end();
	free(cert);
	free(key);
}

KT_TEST(data_overrides_file)
{
	char *cert, *key;
	gen_pem(&cert, &key);
	char *cb = b64(cert), *kb = b64(key);
	char y[16384];
	/* The files do not exist: with -data present they are never read. */
	snprintf(y, sizeof(y),
		 "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
		 "    certificate-authority: /nonexistent/ca.pem\n"
		 "    certificate-authority-data: %s\n"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		 "users:\n- name: u\n  user:\n"
		 "    client-certificate: /nonexistent/c.pem\n    client-certificate-data: %s\n"
		 "    client-key: /nonexistent/k.pem\n    client-key-data: %s\n",
		 cb, cb, kb);
	struct kt_kubeconfig *kc = parse(y, "x");
	KT_REQUIRE(kc);
	KT_CHECK_MEM_EQ(kc->ca_pem, cert, strlen(cert));
	KT_CHECK(kc->ca_file == NULL && kc->client_cert_file == NULL &&
		 kc->client_key_file == NULL);
	KT_CHECK_MEM_EQ(kc->client_key_pem, key, strlen(key));
	KT_CHECK_INT_EQ(kc->nwarnings, 3);
	if (kc->nwarnings == 3) {
		KT_CHECK_STR_EQ(kc->warnings[0], "k.yaml:5:5: certificate-authority-data and "
						 "certificate-authority are both set; "
						 "certificate-authority-data is used");
		KT_CHECK(strstr(kc->warnings[2], "client-key-data is used") != NULL);
	}
	kt_kubeconfig_free(kc);
	free(cb);
	free(kb);
	free(cert);
	free(key);
}

KT_TEST(token_and_token_file)
{
	tmp_begin();
	write_file("tok", "file-token\n");
	write_file("empty-tok", " \n");
	write_file("spacey", "two words\n");
	char y[4096];
	/* token wins; the tokenFile is not even read (it does not exist here). */
	snprintf(y, sizeof(y),
		 "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		 "users:\n- name: u\n  user:\n    token: %s\n    tokenFile: %s\n",
		 SECRET, path("none"));
	struct kt_kubeconfig *kc = parse(y, "x");
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->token, SECRET);
	KT_CHECK(kc->token_file == NULL);
	kt_kubeconfig_free(kc);
	/* An empty token counts as unset, so the file is used. */
	snprintf(y, sizeof(y),
		 "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		 "users:\n- name: u\n  user:\n    token: ''\n    tokenFile: %s\n",
		 path("tok"));
	kc = parse(y, "x");
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->token, "file-token");
	KT_CHECK_STR_EQ(kc->token_file, path("tok"));
	kt_kubeconfig_free(kc);
	const char *files[] = {"empty-tok", "spacey", "none"};
	const char *why[] = {"is empty", "holds a character that cannot be sent in an HTTP header",
			     "No such file or directory"};
	for (int i = 0; i < 3; i++) {
		snprintf(y, sizeof(y),
			 "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
			 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
			 "users:\n- name: u\n  user:\n    tokenFile: %s\n",
			 path(files[i]));
		char want[1024];
		if (i < 2)
			snprintf(want, sizeof(want),
				 "k.yaml:10:16: user \"u\": tokenFile \"%s\" %s", path(files[i]),
				 why[i]);
		else
			snprintf(want, sizeof(want), "k.yaml:10:16: tokenFile \"%s\": %s",
				 path(files[i]), why[i]);
		KT_CHECK_STR_EQ(parse_err(y, "x"), want);
		KT_CHECK(strstr(err, "two words") == NULL);
	}
	tmp_end();
}

KT_TEST(context_selection_errors)
{
	const char *base = "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
			   "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
			   "- name: nocluster\n  context: {user: u}\n"
			   "- name: badcluster\n  context: {cluster: zz}\n"
			   "- name: baduser\n  context: {cluster: c, user: nobody}\n"
			   "- name: badns\n  context: {cluster: c, namespace: Shop_1}\n"
			   "users:\n- name: u\n  user: {token: " SECRET "}\n";
	KT_CHECK_STR_EQ(parse_err(base, NULL),
			"k.yaml: no current-context is set; choose a context with --context or "
			"the profile's context");
	KT_CHECK_STR_EQ(parse_err(base, "prod"), "k.yaml: context \"prod\" not found");
	KT_CHECK_STR_EQ(parse_err(base, "nocluster"), "k.yaml:8:12: context \"nocluster\" names "
						      "no cluster");
	KT_CHECK_STR_EQ(parse_err(base, "badcluster"),
			"k.yaml:10:22: context \"badcluster\": cluster \"zz\" not found in k.yaml");
	KT_CHECK_STR_EQ(parse_err(base, "baduser"),
			"k.yaml:12:31: context \"baduser\": user \"nobody\" not found in k.yaml");
	KT_CHECK_STR_EQ(parse_err(base, "badns"),
			"k.yaml:14:36: context \"badns\": namespace \"Shop_1\" is not a valid "
			"namespace name");
	struct kt_kubeconfig *kc = parse(base, "x");
	KT_REQUIRE(kc);
	KT_CHECK_STR_EQ(kc->token, SECRET);
	kt_kubeconfig_free(kc);
	KT_CHECK_STR_EQ(parse_err("clusters:\n- name: c\n  cluster: {}\n"
				  "contexts:\n- name: x\n  context: {cluster: c}\n",
				  "x"),
			"k.yaml:3:12: cluster \"c\" has no server");
}

KT_TEST(malformed_yaml_positions)
{
	/* yamljson's syntax errors pass through with their position. */
	const char *e = parse_err("clusters:\n- name: a\n  cluster: [\n", NULL);
	KT_CHECK(strncmp(e, "k.yaml:4:1: ", 12) == 0);
	KT_CHECK_STR_EQ(parse_err("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
				  "    insecure-skip-tls-verify: yes\n"
				  "contexts:\n- name: x\n  context: {cluster: c}\n",
				  "x"),
			"k.yaml:5:31: insecure-skip-tls-verify must be true or false");
	KT_CHECK_STR_EQ(parse_err("- just a list\n", NULL),
			"k.yaml:1:1: a kubeconfig must be a mapping");
	KT_CHECK_STR_EQ(parse_err("kind: Pod\n", NULL), "k.yaml:1:7: kind is \"Pod\", not Config");
	KT_CHECK_STR_EQ(parse_err("apiVersion: v2\n", NULL),
			"k.yaml:1:13: apiVersion is \"v2\", not v1");
	KT_CHECK_STR_EQ(parse_err("users:\n- user: {}\n", NULL),
			"k.yaml:2:3: user entry needs a string name");
	KT_CHECK_STR_EQ(parse_err("contexts:\n- name: a\n  context: 7\n", NULL),
			"k.yaml:3:12: context must be a mapping");
	/* A duplicate name within one file, reported at the second one. */
	KT_CHECK_STR_EQ(parse_err("users:\n- name: b\n- name: a\n- name: b\n- name: a\n", NULL),
			"k.yaml:4:9: duplicate user name \"b\"");
	/* Wrong types for the selected entries. */
	KT_CHECK_STR_EQ(parse_err("clusters:\n- name: c\n  cluster: {server: 443}\n"
				  "contexts:\n- name: x\n  context: {cluster: c}\n",
				  "x"),
			"k.yaml:3:21: server must be a string");
	/* An empty file is an empty config. */
	KT_CHECK_STR_EQ(parse_err("", "x"), "k.yaml: context \"x\" not found");
}

KT_TEST(server_urls)
{
	struct kt_kubeconfig_server s;
	char e[256];
	KT_CHECK_INT_EQ(kt_kubeconfig_server_parse("https://[fd00::1]:6443", &s, e, sizeof(e)), 0);
	KT_CHECK_STR_EQ(s.host, "fd00::1");
	KT_CHECK(s.host_is_ipv6);
	KT_CHECK_INT_EQ(s.port, 6443);
	kt_kubeconfig_server_fini(&s);
	KT_CHECK_INT_EQ(kt_kubeconfig_server_parse("HTTPS://[::1]/", &s, e, sizeof(e)), 0);
	KT_CHECK_STR_EQ(s.host, "::1");
	KT_CHECK_INT_EQ(s.port, 443);
	KT_CHECK_STR_EQ(s.path_prefix, "");
	kt_kubeconfig_server_fini(&s);
	/* No scheme: https, as client-go's DefaultServerURL does. */
	KT_CHECK_INT_EQ(kt_kubeconfig_server_parse("10.1.2.3:6443/a/b//", &s, e, sizeof(e)), 0);
	KT_CHECK_STR_EQ(s.host, "10.1.2.3");
	KT_CHECK_STR_EQ(s.path_prefix, "/a/b");
	kt_kubeconfig_server_fini(&s);
	static const struct {
		const char *url, *why;
	} bad[] = {
	    {"http://h", "http:// is not supported; the API server must be reached over https"},
	    {"ftp://h", "unsupported scheme \"ftp\" (only https)"},
	    {"https://", "no host"},
	    {"https://u:p@h", "user information in the URL is not supported"},
	    {"https://fd00::1:443", "an IPv6 address must be written in brackets"},
	    {"https://[fd00::1", "unterminated IPv6 literal"},
	    {"https://[zz::1]", "invalid IPv6 literal"},
	    {"https://[fe80::1%25eth0]", "IPv6 zone identifiers are not supported"},
	    {"https://[::1]x", "junk after the IPv6 literal"},
	    {"https://h:0", "port out of range"},
	    {"https://h:65536", "port out of range"},
	    {"https://h:", "invalid port"},
	    {"https://h:12a", "invalid port"},
	    {"https://h/x?y=1", "a query or fragment is not supported"},
	    {"https://h h", "contains a space or control character"},
	    {"https://h!", "invalid character in the host"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e[0] = '\0';
		KT_CHECK_INT_EQ(kt_kubeconfig_server_parse(bad[i].url, &s, e, sizeof(e)), -EINVAL);
		KT_CHECK_STR_EQ(e, bad[i].why);
	}
	KT_CHECK_STR_EQ(parse_err("clusters:\n- name: c\n  cluster: {server: 'http://h:80'}\n"
				  "contexts:\n- name: x\n  context: {cluster: c}\n",
				  "x"),
			"k.yaml:3:21: cluster \"c\": server: http:// is not supported; the API "
			"server must be reached over https");
}

KT_TEST(unsupported_auth)
{
#define CTX                                                        \
	"clusters:\n- name: c\n  cluster: {server: 'https://h'}\n" \
	"contexts:\n- name: x\n  context: {cluster: c, user: u}\n" \
	"users:\n- name: u\n  user:\n"
	KT_CHECK_STR_EQ(parse_err(CTX "    auth-provider:\n      name: gcp\n"
				      "      config: {access-token: " SECRET "}\n",
				  "x"),
			"k.yaml:10:5: user \"u\": auth-provider \"gcp\" is not supported; use an "
			"exec credential plugin");
	KT_CHECK_STR_EQ(parse_err(CTX "    username: admin\n    password: " SECRET "\n", "x"),
			"k.yaml:10:5: user \"u\": basic authentication (username/password) is not "
			"supported");
	KT_CHECK_STR_EQ(parse_err(CTX "    as: someone\n    token: " SECRET "\n", "x"),
			"k.yaml:10:5: user \"u\": impersonation (as) is not supported");
	KT_CHECK_STR_EQ(parse_err(CTX "    as-groups: [a]\n", "x"),
			"k.yaml:10:5: user \"u\": impersonation (as-groups) is not supported");
	KT_CHECK_STR_EQ(
	    parse_err("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
		      "    proxy-url: http://proxy:3128\n"
		      "contexts:\n- name: x\n  context: {cluster: c}\n",
		      "x"),
	    "k.yaml:5:5: cluster \"c\": proxy-url is not supported (kubetun connects to "
	    "the server directly)");
	KT_CHECK_STR_EQ(parse_err("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
				  "    insecure-skip-tls-verify: true\n"
				  "    certificate-authority: /x.pem\n"
				  "contexts:\n- name: x\n  context: {cluster: c}\n",
				  "x"),
			"k.yaml:5:5: cluster \"c\": insecure-skip-tls-verify cannot be combined "
			"with a certificate authority");
	/* Basic auth next to a usable token: ignored with a warning. */
	struct kt_kubeconfig *kc = parse(CTX "    token: " SECRET "\n    username: admin\n", "x");
	KT_REQUIRE(kc);
	KT_CHECK_INT_EQ(kc->nwarnings, 1);
	if (kc->nwarnings)
		KT_CHECK_STR_EQ(kc->warnings[0], "k.yaml:11:5: user \"u\": basic authentication "
						 "(username/password) is not supported and is "
						 "ignored");
	kt_kubeconfig_free(kc);
	/* Unknown keys are ignored, as client-go's decoder does. */
	kc = parse(CTX "    token: t\n    shiny-new-field: 1\n", "x");
	KT_CHECK(kc != NULL);
	kt_kubeconfig_free(kc);
}

KT_TEST(exec_config)
{
	struct kt_kubeconfig *kc =
	    parse("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
		  "    extensions:\n    - name: other\n      extension: {a: 1}\n"
		  "    - name: client.authentication.k8s.io/exec\n"
		  "      extension: {audience: kt, n: [1, 2]}\n"
		  "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "users:\n- name: u\n  user:\n    exec:\n"
		  "      apiVersion: client.authentication.k8s.io/v1\n"
		  "      command: /usr/bin/plugin\n      args: [a, '--b=c']\n"
		  "      env:\n      - {name: A, value: '1'}\n      - name: B\n"
		  "      installHint: install it\n      provideClusterInfo: true\n"
		  "      interactiveMode: Always\n",
		  "x");
	KT_REQUIRE(kc && kc->exec);
	const struct kt_kubeconfig_exec *x = kc->exec;
	KT_CHECK_STR_EQ(x->api_version, KT_KUBECONFIG_EXEC_V1);
	KT_CHECK_STR_EQ(x->command, "/usr/bin/plugin");
	KT_CHECK_INT_EQ(x->nargs, 2);
	KT_CHECK_STR_EQ(x->args[0], "a");
	KT_CHECK_STR_EQ(x->args[1], "--b=c");
	KT_CHECK_INT_EQ(x->nenv, 2);
	KT_CHECK_STR_EQ(x->env[0].name, "A");
	KT_CHECK_STR_EQ(x->env[0].value, "1");
	KT_CHECK_STR_EQ(x->env[1].name, "B");
	KT_CHECK_STR_EQ(x->env[1].value, "");
	KT_CHECK_STR_EQ(x->install_hint, "install it");
	KT_CHECK(x->provide_cluster_info);
	KT_CHECK_INT_EQ(x->interactive_mode, KT_KUBECONFIG_INTERACTIVE_ALWAYS);
	KT_CHECK_STR_EQ(x->cluster_config_json, "{\"audience\":\"kt\",\"n\":[1,2]}");
	kt_kubeconfig_free(kc);

	KT_CHECK_STR_EQ(parse_err(CTX
				  "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
				  "      command: p\n",
				  "x"),
			"k.yaml:11:7: user \"u\": exec interactiveMode must be specified for "
			"client.authentication.k8s.io/v1");
	KT_CHECK_STR_EQ(
	    parse_err(CTX "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n"
			  "      command: p\n",
		      "x"),
	    "k.yaml:11:19: user \"u\": exec apiVersion \"client.authentication.k8s.io/v1alpha1\" "
	    "is "
	    "not supported (use client.authentication.k8s.io/v1 or "
	    "client.authentication.k8s.io/v1beta1)");
	KT_CHECK_STR_EQ(
	    parse_err(CTX "    exec: {apiVersion: client.authentication.k8s.io/v1beta1}\n", "x"),
	    "k.yaml:10:11: user \"u\": exec needs a command");
	KT_CHECK_STR_EQ(
	    parse_err(CTX "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
			  "      command: p\n      interactiveMode: Sometimes\n",
		      "x"),
	    "k.yaml:13:24: exec interactiveMode \"Sometimes\" is not Never, IfAvailable or Always");
	KT_CHECK_STR_EQ(
	    parse_err(CTX "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
			  "      command: p\n      env: [{value: " SECRET "}]\n",
		      "x"),
	    "k.yaml:13:13: exec env entry needs a name without '='");
}

/* Whatever is wrong, the message never quotes a secret value. */
KT_TEST(secrets_never_in_errors)
{
	char *kb = b64(SECRET "-not-a-key");
	char keyline[512];
	snprintf(keyline, sizeof(keyline),
		 "    client-key-data: %s\n    client-certificate-data: %s\n", kb, kb);
	const char *users[] = {
	    "    token: 12345678901234567890123456789\n", /* a number yamljson would quote */
	    "    token: !!int " SECRET "\n",
	    "    token: 1234567890123456789e99999\n",
	    "    token: [" SECRET "]\n",
	    "    token: \"" SECRET " with space\"\n",
	    "    token: \"" SECRET "\\n\"\n",
	    "    token: " SECRET "\n    auth-provider: {name: oidc, config: {id-token: " SECRET
	    "}}\n",
	    "    token: " SECRET "\n    as: " SECRET "\n",
	    "    password: " SECRET "\n",
	    "    client-key-data: " SECRET "\n",
	    keyline,
	    "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n"
	    "      env: [{name: " SECRET "=, value: " SECRET "}]\n",
	    "    token: " SECRET "\n   bad-indent: again\n",
	    "    token: '" SECRET "\n",
	    "    token: " SECRET "\n    token: dup\n",
	    "    token: &a " SECRET "\n    tokenFile: *b\n",
	};
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		char y[4096];
		snprintf(y, sizeof(y), "%s%s", CTX, users[i]);
		const char *e = parse_err(y, "x");
		if (getenv("KT_TEST_VERBOSE") || strstr(e, SECRET) ||
		    strcmp(e, "(parsed fine)") == 0)
			fprintf(stderr, "case %zu: %s\n", i, e);
		KT_CHECK(strcmp(e, "(parsed fine)") != 0);
		KT_CHECK(strstr(e, SECRET) == NULL);
		KT_CHECK(strstr(e, "1234567890123456789") == NULL);
		KT_CHECK(strstr(e, kb) == NULL);
	}
	free(kb);
}

/* The fake cluster's kubeconfig output, for each of its credential kinds. */
KT_TEST(fake_cluster_kubeconfigs)
{
	static const char *const auths[] = {"cert", "token", "exec"};
	tmp_begin();
	char e[512];
	struct fc_options opt = {0};
	struct fc_pki *pki = fc_pki_new(&opt, e, sizeof(e));
	KT_REQUIRE(pki);
	for (int i = 0; i < 3; i++) {
		char out[512];
		snprintf(out, sizeof(out), "%s/kubeconfig-%s", dir, auths[i]);
		opt.kubeconfig_out = out;
		opt.listen = "127.0.0.1:16443";
		opt.auth = auths[i];
		KT_REQUIRE(fc_pki_write_outputs(pki, &opt, e, sizeof(e)) == 0);
		struct kt_kubeconfig *kc = load(out, NULL, NULL, NULL);
		KT_REQUIRE(kc);
		KT_CHECK_STR_EQ(kc->server.host, "127.0.0.1");
		KT_CHECK_INT_EQ(kc->server.port, 16443);
		KT_CHECK(kc->ca_pem && strstr((const char *)kc->ca_pem, "BEGIN CERTIFICATE"));
		KT_CHECK_STR_EQ(kc->namespace, "default");
		KT_CHECK(!kc->insecure_skip_tls_verify);
		if (i == 0)
			KT_CHECK(kc->client_cert_pem && kc->client_key_pem && !kc->token);
		if (i == 1)
			KT_CHECK(kc->token && strlen(kc->token) >= 16 && !kc->client_key_pem);
		if (i == 2) {
			KT_CHECK(kc->exec && !kc->token);
			if (kc->exec) {
				char want[600];
				snprintf(want, sizeof(want), "%s.exec-plugin", out);
				KT_CHECK_STR_EQ(kc->exec->command, want);
				KT_CHECK_INT_EQ(kc->exec->interactive_mode,
						KT_KUBECONFIG_INTERACTIVE_NEVER);
			}
		}
		kt_kubeconfig_free(kc);
	}
	fc_pki_free(pki);
	tmp_end();
}

KT_TEST_MAIN()
