/* cli.c: helpers shared by the CLI's commands (see cli.h): dispatch, control calls, number and
 * time formatting, paths of profiles and state, the sudo identity. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

void kt_cli_err(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", KT_CLI_PROG, line);
}

int kt_cli_usage(const char *usage, bool help)
{
	if (help) {
		fputs(usage, stdout);
		return KT_CLI_OK;
	}
	fputs(usage, stderr);
	return KT_CLI_USAGE;
}

cJSON *kt_cli_query(struct kt_cli *cli, char *prog, int argc, char **argv, const char *usage,
		    const char *command, int *rc)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false;
	int c;

	argv[0] = prog;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			*rc = kt_cli_usage(usage, true);
			return NULL;
		default:
			*rc = kt_cli_usage(usage, false);
			return NULL;
		}
	}
	if (optind != argc) {
		*rc = kt_cli_usage(usage, false);
		return NULL;
	}
	cJSON *res = kt_cli_call(cli, command, NULL, KT_CLI_CALL_TIMEOUT_MS, NULL);
	*rc = res ? KT_CLI_OK : KT_CLI_FAILED;
	if (!res || !json)
		return res;
	char *text = cJSON_Print(res);
	if (text)
		printf("%s\n", text);
	else
		*rc = KT_CLI_FAILED;
	free(text);
	cJSON_Delete(res);
	if (fflush(stdout) != 0)
		*rc = KT_CLI_FAILED;
	return NULL;
}

void kt_cli_list(FILE *f, const struct kt_cli_cmd *cmds, size_t ncmds)
{
	size_t w = 0;
	for (size_t i = 0; i < ncmds; i++)
		if (strlen(cmds[i].name) > w)
			w = strlen(cmds[i].name);
	for (size_t i = 0; i < ncmds; i++)
		fprintf(f, "  %-*s  %s\n", (int)w, cmds[i].name, cmds[i].help);
}

int kt_cli_dispatch(struct kt_cli *cli, const char *parent, const struct kt_cli_cmd *cmds,
		    size_t ncmds, int argc, char **argv)
{
	bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
				  strcmp(argv[1], "help") == 0);
	if (argc < 2 || help) {
		FILE *f = help ? stdout : stderr;
		fprintf(f, "usage: %s %s COMMAND [ARGS]\n\ncommands:\n", KT_CLI_PROG, parent);
		kt_cli_list(f, cmds, ncmds);
		fprintf(f, "\nRun '%s %s COMMAND --help' for a command's options.\n", KT_CLI_PROG,
			parent);
		return help ? KT_CLI_OK : KT_CLI_USAGE;
	}
	for (size_t i = 0; i < ncmds; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(cli, argc - 1, argv + 1);
	kt_cli_err("unknown command '%s %s' (see '%s %s --help')", parent, argv[1], KT_CLI_PROG,
		   parent);
	return KT_CLI_USAGE;
}

cJSON *kt_cli_call(const struct kt_cli *cli, const char *command, cJSON *fields, int timeout_ms,
		   int *rc)
{
	char err[1024] = "";
	cJSON *req = fields ? fields : cJSON_CreateObject();
	cJSON *result = NULL;
	int r = -ENOMEM;
	if (req && cJSON_AddNumberToObject(req, "version", KT_CONTROL_VERSION) &&
	    cJSON_AddStringToObject(req, "command", command)) {
		r = kt_control_request(cli->socket, req, timeout_ms, &result, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "out of memory");
	}
	cJSON_Delete(req);
	if (rc)
		*rc = r;
	if (r < 0) {
		char safe[1024];
		kt_cli_err("%s", kt_cli_safe(err, safe, sizeof(safe)));
	}
	return result;
}

int kt_cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !end || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

const char *kt_cli_jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool kt_cli_jnum(const cJSON *o, const char *key, double *v)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(n))
		return false;
	*v = n->valuedouble;
	return true;
}

const char *kt_cli_safe(const char *s, char *out, size_t cap)
{
	if (cap == 0)
		return "";
	if (!s)
		s = "-";
	size_t i = 0;
	/* Control characters (ESC above all) are replaced; UTF-8 passes through. */
	for (; s[i] && i + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[i] = '\0';
	return out;
}

void kt_cli_bytes(uint64_t n, char *out, size_t cap)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	if (n < 1024) {
		snprintf(out, cap, "%llu B", (unsigned long long)n);
		return;
	}
	double v = (double)n / 1024.0;
	size_t u = 0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(out, cap, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void kt_cli_duration(int64_t s, char *out, size_t cap)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, cap, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, cap, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, cap, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(out, cap, "%lldd%02lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
}

void kt_cli_ago(const char *rfc3339, char *out, size_t cap)
{
	time_t t;
	if (!rfc3339 || kt_control_parse_time(rfc3339, &t) < 0) {
		snprintf(out, cap, "-");
		return;
	}
	char d[32];
	kt_cli_duration((int64_t)(time(NULL) - t), d, sizeof(d));
	snprintf(out, cap, "%s ago", d);
}

static int home_dir(char *out, size_t cap)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || !*home)
		return -ENOENT;
	int n = snprintf(out, cap, "%s", home);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int xdg_dir(const char *env, const char *fallback, const char *sub, char *out, size_t cap)
{
	const char *x = getenv(env);
	int n;
	/* XDG base directory spec: a relative value is invalid and ignored. */
	if (x && x[0] == '/') {
		n = snprintf(out, cap, "%s/kubetun/%s", x, sub);
	} else {
		char home[PATH_MAX];
		int rc = home_dir(home, sizeof(home));
		if (rc < 0)
			return rc;
		n = snprintf(out, cap, "%s/%s/kubetun/%s", home, fallback, sub);
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	/* Strip a trailing "/" left by an empty sub. */
	size_t len = strlen(out);
	if (len > 1 && out[len - 1] == '/')
		out[len - 1] = '\0';
	return 0;
}

int kt_cli_profile_dir(char *out, size_t cap)
{
	const char *e = getenv("KUBETUN_PROFILE_DIR");
	int n;
	if (e && *e)
		n = snprintf(out, cap, "%s", e);
	else if (geteuid() == 0)
		n = snprintf(out, cap, "/etc/kubetun/profiles");
	else
		return xdg_dir("XDG_CONFIG_HOME", ".config", "profiles", out, cap);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int kt_cli_state_dir(char *out, size_t cap)
{
	const char *e = getenv("KUBETUN_STATE_DIR");
	int n;
	if (e && *e)
		n = snprintf(out, cap, "%s", e);
	else if (geteuid() == 0)
		n = snprintf(out, cap, "/var/lib/kubetun");
	else
		return xdg_dir("XDG_STATE_HOME", ".local/state", "", out, cap);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

bool kt_cli_profile_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int kt_cli_profile_resolve(const char *arg, char *out, size_t cap)
{
	char path[PATH_MAX];
	if (strchr(arg, '/') || is_file(arg)) {
		char *abs = realpath(arg, NULL);
		if (!abs) {
			int e = errno;
			kt_cli_err("profile %s: %s", arg, strerror(e));
			return -e;
		}
		int n = snprintf(out, cap, "%s", abs);
		free(abs);
		return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
	}
	if (!kt_cli_profile_name_ok(arg)) {
		kt_cli_err("invalid profile name '%s' (use a-z 0-9 . _ -, not starting with '.')",
			   arg);
		return -EINVAL;
	}
	char dir[PATH_MAX];
	int rc = kt_cli_profile_dir(dir, sizeof(dir));
	if (rc < 0) {
		kt_cli_err("cannot find the profile directory: %s", strerror(-rc));
		return rc;
	}
	int n = snprintf(path, sizeof(path), "%s/%s.yaml", dir, arg);
	if (n > 0 && (size_t)n < sizeof(path) && is_file(path))
		goto found;
	/* Under sudo the invoking user's own profiles are the natural next place: they saved
	 * them without sudo, and `sudo kubetun up --profile NAME` should find them. */
	struct kt_cli_sudo s;
	kt_cli_sudo_get(&s);
	if (s.active && s.home[0] && !getenv("KUBETUN_PROFILE_DIR")) {
		n = snprintf(path, sizeof(path), "%s/.config/kubetun/profiles/%s.yaml", s.home,
			     arg);
		if (n > 0 && (size_t)n < sizeof(path) && is_file(path))
			goto found;
	}
	kt_cli_err("no profile '%s' in %s (see '%s profile ls')", arg, dir, KT_CLI_PROG);
	return -ENOENT;
found:
	n = snprintf(out, cap, "%s", path);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int kt_cli_mkdirs(const char *dir, mode_t mode)
{
	char p[PATH_MAX];
	int n = snprintf(p, sizeof(p), "%s", dir);
	if (n < 0 || (size_t)n >= sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = saved;
		if (!saved)
			break;
	}
	return 0;
}

void kt_cli_sudo_get(struct kt_cli_sudo *s)
{
	memset(s, 0, sizeof(*s));
	const char *uid = getenv("SUDO_UID"), *gid = getenv("SUDO_GID");
	const char *user = getenv("SUDO_USER");
	unsigned long u, g;
	if (geteuid() != 0 || !uid || !gid || kt_cli_parse_uint(uid, 1, UINT32_MAX - 1, &u) < 0 ||
	    kt_cli_parse_uint(gid, 0, UINT32_MAX - 1, &g) < 0)
		return; /* not under sudo, or sudo for root itself */
	s->active = true;
	s->uid = (uid_t)u;
	s->gid = (gid_t)g;
	struct passwd *pw = getpwuid(s->uid);
	if (!pw && user)
		pw = getpwnam(user);
	snprintf(s->user, sizeof(s->user), "%s", user ? user : pw ? pw->pw_name : "");
	if (pw && pw->pw_dir)
		snprintf(s->home, sizeof(s->home), "%s", pw->pw_dir);
}
