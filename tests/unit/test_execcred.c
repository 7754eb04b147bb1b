/* test_execcred.c: unit tests for src/execcred.c (exec credential plugins).
 *
 * The plugins are real shell scripts written to a fresh temporary directory. Each one appends a
 * line to a "runs" file when it starts, so the tests count real executions (caching,
 * invalidate), and may record its arguments, environment or uid for the test to check. */
#include "cluster.h"
#include "execcred.h"
#include "kt_test.h"
#include "kubeconfig.h"
#include "pki.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET "kt-exec-SECRET-5d1e0b7a"
#define V1 "client.authentication.k8s.io/v1"
#define V1B "client.authentication.k8s.io/v1beta1"

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
	snprintf(dir, sizeof(dir), "/tmp/kt_exec.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	chmod(dir, 0755); /* the run-as test's plugin runs as nobody */
}

static void tmp_end(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path(const char *name)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, 512, "%s/%s", dir, name);
	return b;
}

/* A plugin script: records a run, then runs body. */
__attribute__((format(printf, 2, 3))) static void script(const char *name, const char *fmt, ...)
{
	FILE *f = fopen(path(name), "w");
	if (!f)
		abort();
	fprintf(f, "#!/bin/sh\necho run >> '%s/runs'\n", dir);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	chmod(path(name), 0755);
}

/* Whole file as a string (static buffer), "" when missing. */
static const char *slurp(const char *name)
{
	static char buf[65536];
	buf[0] = '\0';
	FILE *f = fopen(path(name), "r");
	if (!f)
		return buf;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int runs(void)
{
	int n = 0;
	for (const char *p = slurp("runs"); (p = strstr(p, "run\n")); p += 4)
		n++;
	return n;
}

/* A kubeconfig whose user runs the given exec block (YAML lines at 4-space indent). */
static struct kt_kubeconfig *kc_with_flags(const char *exec_yaml, const char *cluster_extra,
					   unsigned flags)
{
	char y[8192];
	snprintf(y, sizeof(y),
		 "current-context: x\nclusters:\n- name: c\n  cluster:\n"
		 "    server: https://k8s.example:6443\n%s"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		 "users:\n- name: u\n  user:\n    exec:\n%s",
		 cluster_extra ? cluster_extra : "", exec_yaml);
	err[0] = '\0';
	struct kt_kubeconfig *kc =
	    kt_kubeconfig_parse(y, strlen(y), path("kubeconfig"), NULL, flags, err, sizeof(err));
	if (!kc)
		fprintf(stderr, "kubeconfig: %s\n", err);
	return kc;
}

static struct kt_kubeconfig *kc_with(const char *exec_yaml, const char *cluster_extra)
{
	return kc_with_flags(exec_yaml, cluster_extra, 0);
}

/* An exec block for dir/<name> with the given apiVersion. */
static const char *exec_of(const char *name, const char *api)
{
	static char b[1024];
	snprintf(b, sizeof(b),
		 "      apiVersion: %s\n      command: %s\n      interactiveMode: Never\n", api,
		 path(name));
	return b;
}

static struct kt_execcred *ec_for(const char *exec_yaml, const struct kt_execcred_opts *o)
{
	struct kt_kubeconfig *kc = kc_with(exec_yaml, NULL);
	if (!kc)
		return NULL;
	struct kt_execcred *ec = kt_execcred_new(kc, o);
	kt_kubeconfig_free(kc);
	return ec;
}

/* Runs the plugin expecting an error; returns it (checked free of SECRET, one line). */
static const char *get_err(struct kt_execcred *ec)
{
	const struct kt_execcred_cred *c = NULL;
	err[0] = '\0';
	if (kt_execcred_get(ec, &c, err, sizeof(err)) == 0)
		return "(succeeded)";
	KT_CHECK(strstr(err, SECRET) == NULL);
	KT_CHECK(strchr(err, '\n') == NULL);
	return err;
}

static void fmt_time(time_t t, char *out, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

KT_TEST(v1_token_args_env_and_exec_info)
{
	tmp_begin();
	script("plugin",
	       "printf '%%s\\n' \"$@\" > '%s/args'\n"
	       "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > '%s/info'\n"
	       "printf '%%s|%%s|%%s' \"$KT_A\" \"$KT_B\" \"$KT_PARENT\" > '%s/env'\n"
	       "readlink /proc/self/fd/0 > '%s/stdin'\n"
	       "echo 'plugin talks on stderr' >&2\n"
	       "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
	       "\"status\":{\"token\":\"%s\"}}'\n",
	       dir, dir, dir, dir, V1, SECRET);
	char ex[2048];
	snprintf(ex, sizeof(ex),
		 "%s      args: [one, 'two words', '--x=$HOME']\n"
		 "      env:\n      - {name: KT_A, value: a1}\n      - {name: KT_B, value: b1}\n"
		 "      - {name: KT_A, value: a2}\n      - {name: KT_PARENT, value: from-exec}\n",
		 exec_of("plugin", V1));
	setenv("KT_PARENT", "from-parent", 1);
	setenv("KUBERNETES_EXEC_INFO", "stale", 1);
	struct kt_execcred *ec = ec_for(ex, NULL);
	KT_REQUIRE(ec);
	const struct kt_execcred_cred *c = NULL;
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_REQUIRE(c);
	KT_CHECK_STR_EQ(c->token, SECRET);
	KT_CHECK(c->client_cert_pem == NULL && c->client_key_pem == NULL);
	KT_CHECK(!c->has_expiry);
	KT_CHECK_STR_EQ(slurp("args"), "one\ntwo words\n--x=$HOME\n");
	/* exec.env is added to our environment; a later entry wins (Go's os/exec rule). */
	KT_CHECK_STR_EQ(slurp("env"), "a2|b1|from-exec");
	KT_CHECK_STR_EQ(slurp("stdin"), "/dev/null\n");
	/* protocol.md 6.4: spec.cluster only with provideClusterInfo; never interactive. */
	KT_CHECK_STR_EQ(slurp("info"), "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1
				       "\",\"spec\":{\"interactive\":false}}");
	KT_CHECK_INT_EQ(runs(), 1);
	KT_CHECK_INT_EQ(kt_execcred_runs(ec), 1);
	/* No expiry: cached until invalidated. */
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_INT_EQ(runs(), 1);
	kt_execcred_invalidate(ec);
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_INT_EQ(runs(), 2);
	KT_CHECK_STR_EQ(c->token, SECRET);
	kt_execcred_free(ec);
	kt_execcred_free(NULL);
	unsetenv("KT_PARENT");
	unsetenv("KUBERNETES_EXEC_INFO");
	tmp_end();
}

KT_TEST(provide_cluster_info)
{
	tmp_begin();
	script("plugin",
	       "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > '%s/info'\n"
	       "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
	       "\"status\":{\"token\":\"t\"}}'\n",
	       dir, V1B);
	char ex[2048];
	snprintf(ex, sizeof(ex), "%s      provideClusterInfo: true\n", exec_of("plugin", V1B));
	struct kt_kubeconfig *kc = kc_with(ex, "    tls-server-name: api.internal\n"
					       "    insecure-skip-tls-verify: true\n"
					       "    extensions:\n"
					       "    - name: client.authentication.k8s.io/exec\n"
					       "      extension: {audience: kubetun}\n");
	KT_REQUIRE(kc);
	struct kt_execcred *ec = kt_execcred_new(kc, NULL);
	KT_REQUIRE(ec);
	const struct kt_execcred_cred *c = NULL;
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_STR_EQ(slurp("info"),
			"{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1B "\",\"spec\":{"
			"\"cluster\":{\"server\":\"https://k8s.example:6443\",\"tls-server-name\":"
			"\"api.internal\",\"insecure-skip-tls-verify\":true,\"config\":"
			"{\"audience\":\"kubetun\"}},\"interactive\":false}}");
	kt_execcred_free(ec);
	kt_kubeconfig_free(kc);
	/* The CA goes in as certificate-authority-data: base64 of the PEM bytes (the PEM check
	 * is off so that "foo" can stand in for a CA). */
	kc = kc_with_flags(ex,
			   "    certificate-authority-data: Zm9v\n    disable-compression: true\n",
			   KT_KUBECONFIG_NO_PEM_CHECK);
	KT_REQUIRE(kc);
	ec = kt_execcred_new(kc, NULL);
	KT_REQUIRE(ec);
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_STR_EQ(slurp("info"),
			"{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1B "\",\"spec\":{"
			"\"cluster\":{\"server\":\"https://k8s.example:6443\","
			"\"certificate-authority-data\":\"Zm9v\",\"disable-compression\":true},"
			"\"interactive\":false}}");
	kt_execcred_free(ec);
	kt_kubeconfig_free(kc);
	tmp_end();
}

KT_TEST(v1beta1_cert_and_key)
{
	tmp_begin();
	/* PEM strings, not base64 (protocol.md gotcha 20), with JSON-escaped newlines. */
	script("plugin",
	       "printf '%%s' '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
	       "\"status\":{\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n"
	       "-----END CERTIFICATE-----\\n\",\"clientKeyData\":\"-----BEGIN PRIVATE "
	       "KEY-----\\n%s\\n-----END PRIVATE KEY-----\\n\","
	       "\"expirationTimestamp\":\"2999-01-02T03:04:05Z\"}}'\n",
	       V1B, SECRET);
	struct kt_execcred *ec = ec_for(exec_of("plugin", V1B), NULL);
	KT_REQUIRE(ec);
	const struct kt_execcred_cred *c = NULL;
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_REQUIRE(c);
	KT_CHECK(c->token == NULL);
	KT_CHECK_STR_EQ(c->client_cert_pem,
			"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	KT_CHECK_STR_EQ(c->client_key_pem,
			"-----BEGIN PRIVATE KEY-----\n" SECRET "\n-----END PRIVATE KEY-----\n");
	KT_CHECK(c->has_expiry);
	KT_CHECK_INT_EQ(c->expiry, 32472241445LL);
	kt_execcred_free(ec);
	tmp_end();
}

KT_TEST(plugin_output_errors)
{
	static const struct {
		const char *out, *want;
	} cases[] = {
	    {"{\"apiVersion\":\"" V1B
	     "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" SECRET "\"}}",
	     "exec plugin is configured to use API version " V1 ", plugin returned version " V1B},
	    {"{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" SECRET "\"}}",
	     "exec plugin is configured to use API version " V1 ", plugin returned version "},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\"}",
	     "exec plugin didn't return a status field"},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":null}",
	     "exec plugin didn't return a status field"},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"\"}}",
	     "exec plugin didn't return a token or cert/key pair"},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{"
	     "\"clientKeyData\":\"" SECRET "\"}}",
	     "exec plugin returned only certificate or key, not both"},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{"
	     "\"clientCertificateData\":\"x\",\"token\":\"t\"}}",
	     "exec plugin returned only certificate or key, not both"},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"Secret\",\"status\":{\"token\":\"t\"}}",
	     "exec plugin did not return kind ExecCredential"},
	    {"token: " SECRET, "exec plugin did not write an ExecCredential JSON object to stdout"},
	    {"", "exec plugin did not write an ExecCredential JSON object to stdout"},
	    {"{\"apiVersion\":\"" V1
	     "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" SECRET " x\"}}",
	     "exec plugin returned a token that cannot be sent in an HTTP header"},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":7}}",
	     "exec plugin returned a malformed status field"},
	    {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
	     "\"expirationTimestamp\":\"tomorrow\"}}",
	     "exec plugin returned an expirationTimestamp that is not RFC 3339"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_execcred_cred c;
		err[0] = '\0';
		KT_CHECK(kt_execcred_parse(V1, cases[i].out, strlen(cases[i].out), &c, err,
					   sizeof(err)) < 0);
		KT_CHECK_STR_EQ(err, cases[i].want);
		KT_CHECK(c.token == NULL);
	}
	/* The same through a real plugin run. */
	tmp_begin();
	script("plugin", "printf '%%s' '%s'\n", cases[0].out);
	struct kt_execcred *ec = ec_for(exec_of("plugin", V1), NULL);
	KT_REQUIRE(ec);
	KT_CHECK_STR_EQ(get_err(ec), cases[0].want);
	kt_execcred_free(ec);
	tmp_end();
}

KT_TEST(exit_code_and_missing_binary)
{
	tmp_begin();
	script("fails", "echo 'plugin fails on purpose' >&2\nexit 3\n");
	struct kt_execcred *ec = ec_for(exec_of("fails", V1), NULL);
	KT_REQUIRE(ec);
	char want[1024];
	snprintf(want, sizeof(want), "exec: executable %s failed with exit code 3", path("fails"));
	KT_CHECK_STR_EQ(get_err(ec), want);
	kt_execcred_free(ec);

	char ex[2048];
	snprintf(ex, sizeof(ex),
		 "%s      installHint: |\n        Install it with:\n          "
		 "apt install kt-plugin\n",
		 exec_of("absent", V1));
	ec = ec_for(ex, NULL);
	KT_REQUIRE(ec);
	snprintf(want, sizeof(want),
		 "exec: executable %s not found; Install it with:   apt install kt-plugin ",
		 path("absent"));
	KT_CHECK_STR_EQ(get_err(ec), want);
	kt_execcred_free(ec);

	/* A bare name is looked up in PATH. */
	ec = ec_for("      apiVersion: " V1 "\n      command: kt-no-such-plugin-4711\n"
		    "      interactiveMode: Never\n",
		    NULL);
	KT_REQUIRE(ec);
	KT_CHECK_STR_EQ(get_err(ec), "exec: executable kt-no-such-plugin-4711 not found");
	kt_execcred_free(ec);
	script("kt-on-path",
	       "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
	       "\"status\":{\"token\":\"found\"}}'\n",
	       V1);
	struct kt_execcred_opts o = {.path = dir};
	ec = ec_for("      apiVersion: " V1 "\n      command: kt-on-path\n"
		    "      interactiveMode: Never\n",
		    &o);
	KT_REQUIRE(ec);
	const struct kt_execcred_cred *c = NULL;
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK(c && strcmp(c->token, "found") == 0);
	kt_execcred_free(ec);

	/* Not executable: found by path, but execve fails. */
	script("noexec", "exit 0\n");
	chmod(path("noexec"), 0644);
	ec = ec_for(exec_of("noexec", V1), NULL);
	KT_REQUIRE(ec);
	snprintf(want, sizeof(want), "exec: executable %s could not be started: execve: %s",
		 path("noexec"), strerror(EACCES));
	/* Even root: execve needs an execute bit. */
	KT_CHECK_STR_EQ(get_err(ec), want);
	kt_execcred_free(ec);

	/* interactiveMode Always can never be satisfied by a daemon. */
	ec = ec_for("      apiVersion: " V1 "\n      command: /bin/true\n"
		    "      interactiveMode: Always\n",
		    NULL);
	KT_REQUIRE(ec);
	KT_CHECK_STR_EQ(get_err(ec), "exec: executable /bin/true needs interactiveMode Always, but "
				     "kubetund never runs credential plugins interactively");
	kt_execcred_free(ec);
	tmp_end();
}

KT_TEST(timeout_kills_the_process_group)
{
	tmp_begin();
	/* The plugin starts a helper that keeps stdout open, then hangs. */
	script("slow", "sleep 30 &\necho $! > '%s/helper'\nsleep 30\n", dir);
	struct kt_execcred_opts o = {.timeout_ms = 300};
	struct kt_execcred *ec = ec_for(exec_of("slow", V1), &o);
	KT_REQUIRE(ec);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char want[1024];
	snprintf(want, sizeof(want),
		 "exec: executable %s did not finish within 300 ms and was killed", path("slow"));
	KT_CHECK_STR_EQ(get_err(ec), want);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	KT_CHECK(ms >= 290 && ms < 2000);
	/* The helper was in the plugin's process group and got SIGKILL too. */
	int helper = (int)strtol(slurp("helper"), NULL, 10);
	KT_CHECK(helper > 0);
	bool gone = false;
	for (int i = 0; i < 200 && helper > 0 && !gone; i++) {
		gone = kill(helper, 0) != 0 && errno == ESRCH;
		if (!gone)
			usleep(10000);
	}
	KT_CHECK(gone);
	kt_execcred_free(ec);

	/* A plugin that exits but leaves a helper holding stdout also hits the deadline (Go's
	 * cmd.Output waits for the pipe too); the helper is killed. */
	script("leaky", "sleep 30 &\nprintf '{}'\n");
	ec = ec_for(exec_of("leaky", V1), &o);
	KT_REQUIRE(ec);
	snprintf(want, sizeof(want),
		 "exec: executable %s did not finish within 300 ms and was killed", path("leaky"));
	KT_CHECK_STR_EQ(get_err(ec), want);
	kt_execcred_free(ec);

	/* Too much output. */
	script("chatty", "head -c 5000 /dev/zero\n");
	struct kt_execcred_opts o2 = {.max_output = 4096};
	ec = ec_for(exec_of("chatty", V1), &o2);
	KT_REQUIRE(ec);
	snprintf(want, sizeof(want), "exec: executable %s wrote more than 4096 bytes to stdout",
		 path("chatty"));
	KT_CHECK_STR_EQ(get_err(ec), want);
	kt_execcred_free(ec);
	tmp_end();
}

KT_TEST(expiry_caching)
{
	tmp_begin();
	char past[64], future[64];
	fmt_time(time(NULL) - 10, past, sizeof(past));
	fmt_time(time(NULL) + 3600, future, sizeof(future));
	script("expired",
	       "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
	       "\"status\":{\"token\":\"t\",\"expirationTimestamp\":\"%s\"}}'\n",
	       V1, past);
	script("fresh",
	       "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
	       "\"status\":{\"token\":\"t\",\"expirationTimestamp\":\"%s\"}}'\n",
	       V1, future);
	/* Already expired: handed out once, then every get runs the plugin again. */
	struct kt_execcred *ec = ec_for(exec_of("expired", V1), NULL);
	KT_REQUIRE(ec);
	const struct kt_execcred_cred *c = NULL;
	for (int i = 1; i <= 3; i++) {
		KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
		KT_CHECK_INT_EQ(runs(), i);
	}
	KT_CHECK(c && c->has_expiry && c->expiry < time(NULL));
	kt_execcred_free(ec);
	/* Valid for an hour: cached; invalidate (a 401) forces a re-run. */
	remove(path("runs"));
	ec = ec_for(exec_of("fresh", V1), NULL);
	KT_REQUIRE(ec);
	for (int i = 0; i < 3; i++)
		KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_INT_EQ(runs(), 1);
	kt_execcred_invalidate(ec);
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_INT_EQ(runs(), 2);
	KT_CHECK_INT_EQ(kt_execcred_runs(ec), 2);
	kt_execcred_free(ec);
	tmp_end();
}

KT_TEST(rfc3339)
{
	time_t t = 0;
	KT_CHECK_INT_EQ(kt_execcred_parse_time("1970-01-01T00:00:00Z", &t), 0);
	KT_CHECK_INT_EQ(t, 0);
	KT_CHECK_INT_EQ(kt_execcred_parse_time("2006-01-02T15:04:05Z", &t), 0);
	KT_CHECK_INT_EQ(t, 1136214245);
	KT_CHECK_INT_EQ(kt_execcred_parse_time("2006-01-02T15:04:05.999999999-07:00", &t), 0);
	KT_CHECK_INT_EQ(t, 1136239445);
	KT_CHECK_INT_EQ(kt_execcred_parse_time("2024-02-29t23:59:59+01:30", &t), 0);
	KT_CHECK_INT_EQ(t, 1709251199 - 5400);
	KT_CHECK_INT_EQ(kt_execcred_parse_time("1969-12-31T23:59:59z", &t), 0);
	KT_CHECK_INT_EQ(t, -1);
	static const char *const bad[] = {
	    "",
	    "2006-01-02",
	    "2006-01-02 15:04:05Z",
	    "2006-01-02T15:04:05",
	    "2006-01-02T15:04:05+0700",
	    "2006-13-02T15:04:05Z",
	    "2023-02-29T00:00:00Z",
	    "2006-01-32T15:04:05Z",
	    "2006-01-02T24:00:00Z",
	    "2006-01-02T23:60:00Z",
	    "2006-01-02T23:59:60Z",
	    "2006-01-02T15:04:05.Z",
	    "2006-01-02T15:04:05Zjunk",
	    "2006-01-02T15:04:05+24:00",
	    "20O6-01-02T15:04:05Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		KT_CHECK_INT_EQ(kt_execcred_parse_time(bad[i], &t), -EINVAL);
}

/* The sudo case: the child drops to the invoking user before exec. */
KT_TEST(run_as_another_user)
{
	if (geteuid() != 0) {
		printf("skip run_as_another_user: needs root\n");
		return;
	}
	tmp_begin();
	mkdir(path("out"), 0777);
	chmod(path("out"), 0777);
	script("whoami",
	       "printf '%%s %%s %%s %%s %%s' \"$(id -u)\" \"$(id -g)\" \"$(id -G)\" \"$HOME\" "
	       "\"$USER\" "
	       "> '%s/out/who'\n"
	       "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
	       "\"status\":{\"token\":\"t\"}}'\n",
	       dir, V1);
	/* The runs file must be writable by nobody too. */
	FILE *f = fopen(path("runs"), "w");
	if (f)
		fclose(f);
	chmod(path("runs"), 0666);
	struct kt_execcred_opts o = {
	    .run_as = true, .uid = 65534, .gid = 65534, .user = NULL, .home = "/nonexistent"};
	struct kt_execcred *ec = ec_for(exec_of("whoami", V1), &o);
	KT_REQUIRE(ec);
	const struct kt_execcred_cred *c = NULL;
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK_STR_EQ(slurp("out/who"), "65534 65534 65534 /nonexistent ");
	KT_CHECK_INT_EQ(runs(), 1);
	KT_CHECK(getuid() == 0); /* the parent is untouched */
	kt_execcred_free(ec);
	tmp_end();
}

/* The fake cluster's exec plugin gives the same token as its token kubeconfig. */
KT_TEST(fake_cluster_exec_plugin)
{
	tmp_begin();
	char e[512], out_tok[512], out_exec[512];
	struct fc_options opt = {0};
	struct fc_pki *pki = fc_pki_new(&opt, e, sizeof(e));
	KT_REQUIRE(pki);
	snprintf(out_tok, sizeof(out_tok), "%s/kc-token", dir);
	snprintf(out_exec, sizeof(out_exec), "%s/kc-exec", dir);
	opt.kubeconfig_out = out_tok;
	opt.auth = "token";
	KT_REQUIRE(fc_pki_write_outputs(pki, &opt, e, sizeof(e)) == 0);
	opt.kubeconfig_out = out_exec;
	opt.auth = "exec";
	KT_REQUIRE(fc_pki_write_outputs(pki, &opt, e, sizeof(e)) == 0);
	fc_pki_free(pki);
	struct kt_kubeconfig_opts ko = {.explicit_path = out_tok};
	struct kt_kubeconfig *kt = kt_kubeconfig_load(&ko, err, sizeof(err));
	ko.explicit_path = out_exec;
	struct kt_kubeconfig *kx = kt_kubeconfig_load(&ko, err, sizeof(err));
	KT_REQUIRE(kt && kx && kx->exec);
	struct kt_execcred *ec = kt_execcred_new(kx, NULL);
	KT_REQUIRE(ec);
	const struct kt_execcred_cred *c = NULL;
	KT_CHECK_INT_EQ(kt_execcred_get(ec, &c, err, sizeof(err)), 0);
	KT_CHECK(c && c->token && strcmp(c->token, kt->token) == 0);
	KT_CHECK(c && c->has_expiry && c->expiry > time(NULL) + 3000);
	kt_execcred_free(ec);
	kt_kubeconfig_free(kt);
	kt_kubeconfig_free(kx);
	tmp_end();
}

KT_TEST_MAIN()
