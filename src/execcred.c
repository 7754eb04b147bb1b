/* execcred.c: running exec credential plugins and caching their credentials (execcred.h).
 *
 * Everything the child needs (the program path, argv, envp, the group list) is prepared before
 * fork(), so the child only makes async-signal-safe system calls between fork and execve. A
 * CLOEXEC pipe tells the parent why the child could not exec (a failed privilege drop or
 * execve): it reads EOF when execve succeeded. The parent then reads stdout with poll() under
 * one deadline (CLOCK_MONOTONIC) that also bounds the wait for the exit status; past it, the
 * plugin's process group gets SIGKILL, which also ends helpers it started that still hold the
 * pipe.
 *
 * Ownership: struct kt_execcred owns copies of the exec config and the KUBERNETES_EXEC_INFO
 * string, and the cached credential. Every buffer that held plugin output or exec.env values is
 * wiped before it is freed. */
#include "execcred.h"

#include "base64.h"
#include "kubeconfig.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define EXEC_INFO_VAR "KUBERNETES_EXEC_INFO"
#define MAX_GROUPS 1024
#define MSG_MAX 512

struct kt_execcred {
	char *api_version; /* owned */
	char *command;	   /* owned; as configured (bare name or absolute path) */
	char **argv;	   /* owned; command + args, NULL-terminated */
	char **env;	   /* owned "NAME=value" strings (secrets), nenv of them */
	size_t nenv;
	char *exec_info;    /* owned; "KUBERNETES_EXEC_INFO=..." */
	char *install_hint; /* owned, may be NULL */
	bool always_interactive;
	struct kt_execcred_opts opts; /* strings below are owned copies */
	char *user, *home, *path;
	struct kt_execcred_cred cred; /* owned cache */
	bool cached;
	unsigned long runs;
};

static void wipe_str(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n decimal digits at s into *v. */
static bool digits(const char *s, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return true;
}

int kt_execcred_parse_time(const char *s, time_t *out)
{
	/* RFC 3339 section 5.6: full-date "T" full-time; Go's time.RFC3339 layout also takes an
	 * optional fraction and, as RFC 3339 allows, lower-case t and z. */
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return -EINVAL;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	int sign = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	/* Go rejects second 60 (leap seconds), so do we. */
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 ||
	    mi > 59 || sec > 59 || oh > 23 || om > 59)
		return -EINVAL;
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (int64_t)(oh * 3600 + om * 60);
	if (sizeof(time_t) < 8 && (t > INT32_MAX || t < INT32_MIN))
		return -EINVAL;
	*out = (time_t)t;
	return 0;
}

/* ---- ExecCredential ---- */

void kt_execcred_cred_fini(struct kt_execcred_cred *c)
{
	if (!c)
		return;
	wipe_str(c->token);
	wipe_str(c->client_cert_pem);
	wipe_str(c->client_key_pem);
	*c = (struct kt_execcred_cred){0};
}

/* Zeroes every string of a tree we own (the plugin's credential lives in them). */
static void wipe_json(cJSON *n)
{
	for (; n; n = n->next) {
		if (n->valuestring)
			OPENSSL_cleanse(n->valuestring, strlen(n->valuestring));
		wipe_json(n->child);
	}
}

static bool token_ok(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x21 || (unsigned char)*t > 0x7e)
			return false;
	return true;
}

/* A string field of status: NULL when absent, null or empty (Go's zero value); -EINVAL when
 * of another type. */
static int status_str(const cJSON *st, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -EINVAL;
	if (v->valuestring[0])
		*out = v->valuestring;
	return 0;
}

int kt_execcred_parse(const char *api_version, const void *buf, size_t len,
		      struct kt_execcred_cred *out, char *err, size_t errcap)
{
	struct kt_execcred_cred c = {0};
	int r = -EINVAL;
	const char *why = NULL;
	char msg[MSG_MAX];
	msg[0] = '\0';
	*out = c;

	cJSON *root = cJSON_ParseWithLength(buf, len);
	if (!root || !cJSON_IsObject(root)) {
		why = "exec plugin did not write an ExecCredential JSON object to stdout";
		goto out;
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(root, "apiVersion");
	const char *got = cJSON_IsString(av) ? av->valuestring : "";
	if (strcmp(got, api_version) != 0) {
		/* Plugins print only an apiVersion string here, never a secret; still bounded. */
		snprintf(msg, sizeof(msg),
			 "exec plugin is configured to use API version %s, plugin returned version "
			 "%.100s",
			 api_version, got);
		goto out;
	}
	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0) {
		why = "exec plugin did not return kind ExecCredential";
		goto out;
	}
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
	if (!st || cJSON_IsNull(st)) {
		why = "exec plugin didn't return a status field";
		goto out;
	}
	const char *tok, *cert, *key, *exp;
	if (!cJSON_IsObject(st) || status_str(st, "token", &tok) ||
	    status_str(st, "clientCertificateData", &cert) ||
	    status_str(st, "clientKeyData", &key) || status_str(st, "expirationTimestamp", &exp)) {
		why = "exec plugin returned a malformed status field";
		goto out;
	}
	if (!tok && !cert && !key) {
		why = "exec plugin didn't return a token or cert/key pair";
		goto out;
	}
	if (!cert != !key) {
		why = "exec plugin returned only certificate or key, not both";
		goto out;
	}
	if (tok && !token_ok(tok)) {
		why = "exec plugin returned a token that cannot be sent in an HTTP header";
		goto out;
	}
	if (exp) {
		if (kt_execcred_parse_time(exp, &c.expiry) != 0) {
			why = "exec plugin returned an expirationTimestamp that is not RFC 3339";
			goto out;
		}
		c.has_expiry = true;
	}
	/* protocol.md 6.4 / gotcha 20: clientCertificateData and clientKeyData are PEM text,
	 * not base64, and are used as given. */
	if ((tok && !(c.token = strdup(tok))) || (cert && !(c.client_cert_pem = strdup(cert))) ||
	    (key && !(c.client_key_pem = strdup(key)))) {
		why = "out of memory";
		r = -ENOMEM;
		goto out;
	}
	*out = c;
	r = 0;
out:
	if (root) {
		wipe_json(root);
		cJSON_Delete(root);
	}
	if (r) {
		kt_execcred_cred_fini(&c);
		if (err && errcap)
			snprintf(err, errcap, "%s", why ? why : msg);
		if (err && errcap)
			one_line(err);
	}
	return r;
}

/* ---- KUBERNETES_EXEC_INFO ---- */

char *kt_execcred_exec_info(const struct kt_kubeconfig *kc)
{
	const struct kt_kubeconfig_exec *x = kc->exec;
	char *out = NULL, *b64 = NULL;
	cJSON *root = cJSON_CreateObject(), *spec = NULL, *cl = NULL;
	if (!root || !cJSON_AddStringToObject(root, "kind", "ExecCredential") ||
	    !cJSON_AddStringToObject(root, "apiVersion",
				     x ? x->api_version : KT_KUBECONFIG_EXEC_V1) ||
	    !(spec = cJSON_AddObjectToObject(root, "spec")))
		goto out;
	if (x && x->provide_cluster_info) {
		/* Field names and omitempty rules of clientauthentication v1 Cluster. */
		if (!(cl = cJSON_AddObjectToObject(spec, "cluster")) ||
		    !cJSON_AddStringToObject(cl, "server", kc->server.url ? kc->server.url : ""))
			goto out;
		if (kc->tls_server_name &&
		    !cJSON_AddStringToObject(cl, "tls-server-name", kc->tls_server_name))
			goto out;
		if (kc->insecure_skip_tls_verify &&
		    !cJSON_AddTrueToObject(cl, "insecure-skip-tls-verify"))
			goto out;
		if (kc->ca_pem && kc->ca_pem_len) {
			size_t n = kt_base64_encoded_len(kc->ca_pem_len);
			if (n == SIZE_MAX || !(b64 = malloc(n + 1)) ||
			    kt_base64_encode(kc->ca_pem, kc->ca_pem_len, b64, n + 1) != 0 ||
			    !cJSON_AddStringToObject(cl, "certificate-authority-data", b64))
				goto out;
		}
		if (kc->disable_compression && !cJSON_AddTrueToObject(cl, "disable-compression"))
			goto out;
		if (x->cluster_config_json) {
			cJSON *cfg = cJSON_Parse(x->cluster_config_json);
			if (!cfg || !cJSON_AddItemToObject(cl, "config", cfg)) {
				cJSON_Delete(cfg);
				goto out;
			}
		}
	}
	/* We never run a plugin interactively: no terminal, stdin is /dev/null. */
	if (!cJSON_AddFalseToObject(spec, "interactive"))
		goto out;
	out = cJSON_PrintUnformatted(root);
out:
	free(b64);
	cJSON_Delete(root);
	return out;
}

/* ---- lifecycle ---- */

static char *env_pair(const char *name, const char *value)
{
	size_t n = strlen(name) + 1 + strlen(value) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s=%s", name, value);
	return s;
}

struct kt_execcred *kt_execcred_new(const struct kt_kubeconfig *kc,
				    const struct kt_execcred_opts *opts)
{
	const struct kt_kubeconfig_exec *x = kc ? kc->exec : NULL;
	if (!x)
		return NULL;
	struct kt_execcred *ec = calloc(1, sizeof(*ec));
	if (!ec)
		return NULL;
	if (opts)
		ec->opts = *opts;
	if (!ec->opts.timeout_ms)
		ec->opts.timeout_ms = KT_EXECCRED_DEFAULT_TIMEOUT_MS;
	if (!ec->opts.max_output)
		ec->opts.max_output = KT_EXECCRED_DEFAULT_MAX_OUTPUT;
	ec->always_interactive = x->interactive_mode == KT_KUBECONFIG_INTERACTIVE_ALWAYS;
	if ((ec->opts.user && !(ec->user = strdup(ec->opts.user))) ||
	    (ec->opts.home && !(ec->home = strdup(ec->opts.home))) ||
	    (ec->opts.path && !(ec->path = strdup(ec->opts.path))))
		goto fail;
	ec->opts.user = ec->user;
	ec->opts.home = ec->home;
	ec->opts.path = ec->path;
	if (!(ec->api_version = strdup(x->api_version)) || !(ec->command = strdup(x->command)) ||
	    (x->install_hint && !(ec->install_hint = strdup(x->install_hint))))
		goto fail;
	if (!(ec->argv = calloc(x->nargs + 2, sizeof(*ec->argv))))
		goto fail;
	if (!(ec->argv[0] = strdup(x->command)))
		goto fail;
	for (size_t i = 0; i < x->nargs; i++)
		if (!(ec->argv[i + 1] = strdup(x->args[i])))
			goto fail;
	if (x->nenv && !(ec->env = calloc(x->nenv, sizeof(*ec->env))))
		goto fail;
	for (size_t i = 0; i < x->nenv; i++) {
		if (!(ec->env[i] = env_pair(x->env[i].name, x->env[i].value)))
			goto fail;
		ec->nenv++;
	}
	char *info = kt_execcred_exec_info(kc);
	if (!info)
		goto fail;
	ec->exec_info = env_pair(EXEC_INFO_VAR, info);
	free(info);
	if (!ec->exec_info)
		goto fail;
	return ec;
fail:
	kt_execcred_free(ec);
	return NULL;
}

void kt_execcred_free(struct kt_execcred *ec)
{
	if (!ec)
		return;
	free(ec->api_version);
	free(ec->command);
	if (ec->argv)
		for (char **a = ec->argv; *a; a++)
			wipe_str(*a);
	free(ec->argv);
	for (size_t i = 0; i < ec->nenv; i++)
		wipe_str(ec->env[i]);
	free(ec->env);
	wipe_str(ec->exec_info);
	free(ec->install_hint);
	free(ec->user);
	free(ec->home);
	free(ec->path);
	kt_execcred_cred_fini(&ec->cred);
	free(ec);
}

void kt_execcred_invalidate(struct kt_execcred *ec)
{
	if (!ec)
		return;
	kt_execcred_cred_fini(&ec->cred);
	ec->cached = false;
}

unsigned long kt_execcred_runs(const struct kt_execcred *ec)
{
	return ec ? ec->runs : 0;
}

/* ---- running the plugin ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Finds a bare command in PATH the way execvp would (an empty entry is the working
 * directory); a command with a '/' is used as is. NULL when there is no such executable. */
static char *find_program(const char *cmd, const char *path)
{
	struct stat st;
	if (strchr(cmd, '/'))
		return stat(cmd, &st) == 0 && !S_ISDIR(st.st_mode) ? strdup(cmd) : NULL;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		size_t n = (dl ? dl : 1) + 1 + strlen(cmd) + 1;
		char *cand = malloc(n);
		if (!cand)
			return NULL;
		snprintf(cand, n, "%.*s/%s", (int)(dl ? dl : 1), dl ? p : ".", cmd);
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
			return cand;
		free(cand);
		if (!colon)
			return NULL;
		p = colon + 1;
	}
}

static bool env_name_is(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static bool env_overridden(const struct kt_execcred *ec, const char *entry)
{
	if (env_name_is(entry, EXEC_INFO_VAR))
		return true;
	if (ec->path && env_name_is(entry, "PATH"))
		return true;
	if (ec->home && env_name_is(entry, "HOME"))
		return true;
	if (ec->user && (env_name_is(entry, "USER") || env_name_is(entry, "LOGNAME")))
		return true;
	for (size_t i = 0; i < ec->nenv; i++) {
		size_t nl = (size_t)(strchr(ec->env[i], '=') - ec->env[i]);
		if (strncmp(entry, ec->env[i], nl) == 0 && entry[nl] == '=')
			return true;
	}
	return false;
}

/* The child's environment: ours minus overridden names, then exec.env (a later entry with
 * the same name wins, as in Go's os/exec), then our own settings, then KUBERNETES_EXEC_INFO.
 * The array borrows every string except *owned (the NAME=value strings made here). */
static char **build_env(const struct kt_execcred *ec, char ***owned, size_t *nowned)
{
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **envp = calloc(n + ec->nenv + 6, sizeof(*envp));
	char **own = calloc(4, sizeof(*own));
	size_t k = 0, no = 0;
	if (!envp || !own)
		goto fail;
	for (char **e = environ; e && *e; e++)
		if (strchr(*e, '=') && !env_overridden(ec, *e))
			envp[k++] = *e;
	for (size_t i = 0; i < ec->nenv; i++) {
		size_t nl = (size_t)(strchr(ec->env[i], '=') - ec->env[i]);
		bool later = false;
		for (size_t j = i + 1; j < ec->nenv && !later; j++)
			later = strncmp(ec->env[j], ec->env[i], nl + 1) == 0;
		if (!later)
			envp[k++] = ec->env[i];
	}
	if (ec->path && !(own[no++] = env_pair("PATH", ec->path)))
		goto fail;
	if (ec->home && !(own[no++] = env_pair("HOME", ec->home)))
		goto fail;
	if (ec->user && (!(own[no++] = env_pair("USER", ec->user)) ||
			 !(own[no++] = env_pair("LOGNAME", ec->user))))
		goto fail;
	for (size_t i = 0; i < no; i++)
		envp[k++] = own[i];
	envp[k++] = ec->exec_info;
	*owned = own;
	*nowned = no;
	return envp;
fail:
	for (size_t i = 0; own && i < no; i++)
		free(own[i]);
	free(own);
	free(envp);
	return NULL;
}

enum stage { ST_SETGROUPS = 1, ST_SETGID, ST_SETUID, ST_EXEC };

struct child_report {
	int stage;
	int err;
};

struct child_args {
	const char *prog;
	char **argv;
	char **envp;
	int devnull, outw, repw;
	bool run_as;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
	int maxfd;
};

static void report(int fd, int stage)
{
	struct child_report rep = {stage, errno};
	ssize_t w = write(fd, &rep, sizeof(rep));
	(void)w;
	_exit(127);
}

/* In the child: only async-signal-safe calls from here to execve. */
__attribute__((noreturn)) static void child_exec(const struct child_args *a)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL); /* SIGKILL/SIGSTOP fail harmlessly */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	dup2(a->devnull, 0);
	dup2(a->outw, 1);
	/* The report pipe moves to fd 3 (close-on-exec), everything above it is closed. */
	if (a->repw != 3)
		dup3(a->repw, 3, O_CLOEXEC);
	else
		fcntl(3, F_SETFD, FD_CLOEXEC);
#ifdef __linux__
	if (close_range(4, ~0u, 0) != 0)
#endif
		for (int fd = 4; fd < a->maxfd; fd++)
			close(fd);
	if (a->run_as) {
		if (setgroups((size_t)a->ngroups, a->groups) != 0)
			report(3, ST_SETGROUPS);
		if (setgid(a->gid) != 0)
			report(3, ST_SETGID);
		if (setuid(a->uid) != 0)
			report(3, ST_SETUID);
		/* Paranoia: the drop must be irreversible. */
		if (a->uid != 0 && (getuid() != a->uid || geteuid() != a->uid || setuid(0) == 0)) {
			errno = EPERM;
			report(3, ST_SETUID);
		}
	}
	execve(a->prog, a->argv, a->envp);
	report(3, ST_EXEC);
	_exit(127);
}

/* Moves fd above 2 so the dup2 calls in the child cannot clobber it. */
static int high_fd(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return n;
}

static void kill_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

static int reap(pid_t pid, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, 0);
		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
	}
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errcap, const char *fmt,
						      ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
		one_line(err);
	}
	return -EINVAL;
}

/* Runs the plugin once; on success *out and *outlen hold its stdout (wipe and free it). */
static int run_plugin(struct kt_execcred *ec, char **out, size_t *outlen, char *err, size_t errcap)
{
	const char *cmd = ec->command;
	int r = 0, pout[2] = {-1, -1}, prep[2] = {-1, -1}, devnull = -1;
	char **envp = NULL, **owned = NULL, *prog = NULL, *buf = NULL;
	size_t nowned = 0, len = 0, cap = ec->opts.max_output;
	gid_t *groups = NULL;
	int ngroups = 0;
	pid_t pid = -1;

	prog = find_program(cmd, ec->path ? ec->path : getenv("PATH"));
	if (!prog) {
		if (ec->install_hint) {
			char hint[MSG_MAX];
			snprintf(hint, sizeof(hint), "%s", ec->install_hint);
			one_line(hint);
			fail(err, errcap, "exec: executable %s not found; %s", cmd, hint);
		} else {
			fail(err, errcap, "exec: executable %s not found", cmd);
		}
		return -ENOENT;
	}
	if (ec->opts.run_as) {
		groups = calloc(MAX_GROUPS, sizeof(*groups));
		if (!groups) {
			r = -ENOMEM;
			goto oom;
		}
		ngroups = MAX_GROUPS;
		if (!ec->user || getgrouplist(ec->user, ec->opts.gid, groups, &ngroups) < 0) {
			/* No name, or more groups than we take: the primary group alone. */
			groups[0] = ec->opts.gid;
			ngroups = 1;
		}
	}
	if (!(envp = build_env(ec, &owned, &nowned)) || !(buf = malloc(cap + 1))) {
		r = -ENOMEM;
		goto oom;
	}
	if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(prep, O_CLOEXEC) < 0 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		r = -errno;
		fail(err, errcap, "exec: executable %s: cannot set up pipes: %s", cmd,
		     strerror(-r));
		goto out;
	}
	pout[0] = high_fd(pout[0]);
	pout[1] = high_fd(pout[1]);
	prep[0] = high_fd(prep[0]);
	prep[1] = high_fd(prep[1]);
	devnull = high_fd(devnull);
	if (pout[0] < 0 || pout[1] < 0 || prep[0] < 0 || prep[1] < 0 || devnull < 0) {
		r = -EMFILE;
		fail(err, errcap, "exec: executable %s: cannot set up pipes", cmd);
		goto out;
	}
	long maxfd = sysconf(_SC_OPEN_MAX);
	struct child_args ca = {
	    .prog = prog,
	    .argv = ec->argv,
	    .envp = envp,
	    .devnull = devnull,
	    .outw = pout[1],
	    .repw = prep[1],
	    .run_as = ec->opts.run_as,
	    .uid = ec->opts.uid,
	    .gid = ec->opts.gid,
	    .groups = groups,
	    .ngroups = ngroups,
	    .maxfd = maxfd > 0 && maxfd < 65536 ? (int)maxfd : 65536,
	};
	int64_t deadline = now_ms() + ec->opts.timeout_ms;
	ec->runs++;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		fail(err, errcap, "exec: executable %s: fork: %s", cmd, strerror(-r));
		goto out;
	}
	if (pid == 0)
		child_exec(&ca);
	setpgid(pid, pid); /* also done by the child; whoever runs first wins the race */
	close(pout[1]);
	close(prep[1]);
	close(devnull);
	pout[1] = prep[1] = devnull = -1;

	/* EOF on the report pipe: execve succeeded (the pipe was close-on-exec). */
	struct child_report rep;
	size_t got = 0;
	while (got < sizeof(rep)) {
		ssize_t n = read(prep[0], (char *)&rep + got, sizeof(rep) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == sizeof(rep)) {
		int status;
		reap(pid, &status);
		pid = -1;
		static const char *const what[] = {"", "setgroups", "setgid", "setuid", "execve"};
		if (rep.stage == ST_EXEC && (rep.err == ENOENT || rep.err == ENOTDIR))
			r = fail(err, errcap, "exec: executable %s not found", cmd);
		else
			r = fail(err, errcap, "exec: executable %s could not be started: %s: %s",
				 cmd, rep.stage >= 1 && rep.stage <= 4 ? what[rep.stage] : "?",
				 strerror(rep.err));
		goto out;
	}

	/* Read stdout until EOF, the size cap or the deadline. */
	fcntl(pout[0], F_SETFL, fcntl(pout[0], F_GETFL) | O_NONBLOCK);
	bool eof = false, timed_out = false, too_big = false;
	while (!eof) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pfd = {.fd = pout[0], .events = POLLIN};
		int pr = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (pr < 0 && errno != EINTR) {
			r = -errno;
			fail(err, errcap, "exec: executable %s: poll: %s", cmd, strerror(-r));
			break;
		}
		if (pr <= 0)
			continue;
		ssize_t n = read(pout[0], buf + len, cap + 1 - len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r = -errno;
			fail(err, errcap, "exec: executable %s: read: %s", cmd, strerror(-r));
			break;
		}
		if (n == 0)
			eof = true;
		len += (size_t)n;
		if (len > cap) {
			too_big = true;
			break;
		}
	}
	/* Then the exit status, under the same deadline. */
	int status = 0;
	bool exited = false;
	while (!r && !timed_out && !too_big) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = true;
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = -errno;
			fail(err, errcap, "exec: executable %s: waitpid: %s", cmd, strerror(-r));
			break;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		poll(NULL, 0, left < 5 ? (int)left : 5);
	}
	if (!exited) {
		kill_group(pid);
		reap(pid, &status);
	}
	pid = -1;
	if (r)
		goto out;
	if (timed_out) {
		r = -ETIMEDOUT;
		fail(err, errcap, "exec: executable %s did not finish within %u ms and was killed",
		     cmd, ec->opts.timeout_ms);
		goto out;
	}
	if (too_big) {
		r = -EFBIG;
		fail(err, errcap, "exec: executable %s wrote more than %zu bytes to stdout", cmd,
		     cap);
		goto out;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		r = fail(err, errcap, "exec: executable %s failed with exit code %d", cmd,
			 WEXITSTATUS(status));
		goto out;
	}
	if (WIFSIGNALED(status)) {
		r = fail(err, errcap, "exec: executable %s was killed by signal %d", cmd,
			 WTERMSIG(status));
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	goto out;
oom:
	fail(err, errcap, "exec: executable %s: out of memory", cmd);
out:
	if (pid > 0) {
		kill_group(pid);
		reap(pid, &(int){0});
	}
	for (int i = 0; i < 2; i++) {
		if (pout[i] >= 0)
			close(pout[i]);
		if (prep[i] >= 0)
			close(prep[i]);
	}
	if (devnull >= 0)
		close(devnull);
	if (buf) {
		OPENSSL_cleanse(buf, cap + 1);
		free(buf);
	}
	for (size_t i = 0; i < nowned; i++)
		wipe_str(owned[i]);
	free(owned);
	free(envp);
	free(groups);
	free(prog);
	return r;
}

int kt_execcred_get(struct kt_execcred *ec, const struct kt_execcred_cred **out, char *err,
		    size_t errcap)
{
	if (err && errcap)
		err[0] = '\0';
	/* client-go reuses credentials until now is after expirationTimestamp. */
	if (ec->cached && (!ec->cred.has_expiry || time(NULL) <= ec->cred.expiry)) {
		*out = &ec->cred;
		return 0;
	}
	kt_execcred_invalidate(ec);
	if (ec->always_interactive)
		return fail(err, errcap,
			    "exec: executable %s needs interactiveMode Always, but kubetund never "
			    "runs credential plugins interactively",
			    ec->command);
	char *buf = NULL;
	size_t len = 0;
	int r = run_plugin(ec, &buf, &len, err, errcap);
	if (r)
		return r;
	r = kt_execcred_parse(ec->api_version, buf, len, &ec->cred, err, errcap);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (r)
		return r;
	ec->cached = true;
	*out = &ec->cred;
	return 0;
}
