/* updown.c: `kubetun up` and `kubetun down`.
 *
 * up starts kubetund detached (fork, setsid, fork again so it is no child of ours and has no
 * controlling terminal; stdin /dev/null, stdout and stderr appended to <state dir>/kubetund.log)
 * or through systemd, then waits until the control socket answers `status`. With --systemd, as
 * root it starts kubetund.service (the daemon as root with CAP_NET_ADMIN only); under sudo
 * kubetund@USER.service (the daemon as the invoking user, plus CAP_NET_ADMIN); the options go
 * to an environment file the unit reads (tools/kubetun/kubetund*.service). Under sudo the daemon
 * gets the invoking user's kubeconfig and, when kubetund offers it, runs exec credential plugins as
 * that user. Options of kubetund that this CLI passes only when `kubetund --help` lists them:
 * --socket, --state-dir, --exec-as-uid/--exec-as-gid. down asks the daemon to shut down and waits
 * for its socket to go away.
 *
 * Every string in the daemon's argv is owned by struct argv_list and freed with it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "profile.h"

#define LOG_NAME "kubetund.log"
#define LOG_TAIL_LINES 20
#define HELP_MAX (64 * 1024)
#define SYSTEMD_ENV_DIR "/etc/kubetun"
#define SYSTEMD_UNIT "kubetund.service"
#define SYSTEMD_UNITS_GLOB "kubetund@*.service"

struct argv_list {
	char **v; /* owned, NULL-terminated */
	size_t n, cap;
};

static int argv_add(struct argv_list *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		char **nv = realloc(a->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	if (!(a->v[a->n] = strdup(s)))
		return -ENOMEM;
	a->v[++a->n] = NULL;
	return 0;
}

static void argv_free(struct argv_list *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* 0 if a daemon answers status at the socket, -ENOENT/-ECONNREFUSED if none listens, another
 * -errno (e.g. -EACCES, printed) otherwise. */
static int daemon_probe(const struct kt_cli *cli, int timeout_ms, bool quiet)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	char err[512] = "";
	int rc = -ENOMEM;
	if (req && cJSON_AddNumberToObject(req, "version", KT_CONTROL_VERSION) &&
	    cJSON_AddStringToObject(req, "command", "status"))
		rc = kt_control_request(cli->socket, req, timeout_ms, &res, err, sizeof(err));
	cJSON_Delete(req);
	cJSON_Delete(res);
	if (rc == -EREMOTE)
		rc = 0; /* it answered, if with an error: it is up */
	if (rc < 0 && rc != -ENOENT && rc != -ECONNREFUSED && !quiet) {
		char safe[512];
		kt_cli_err("%s", kt_cli_safe(err, safe, sizeof(safe)));
	}
	return rc;
}

static bool executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* kubetund: $KUBETUND, next to this binary, then PATH. */
static int find_daemon(char *out, size_t cap)
{
	const char *e = getenv("KUBETUND");
	if (e && *e) {
		if (!executable(e)) {
			kt_cli_err("KUBETUND=%s is not an executable file", e);
			return -ENOENT;
		}
		snprintf(out, cap, "%s", e);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			int k = snprintf(out, cap, "%s/kubetund", self);
			if (k > 0 && (size_t)k < cap && executable(out))
				return 0;
		}
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		if (len > 0) {
			int k = snprintf(out, cap, "%.*s/kubetund", (int)len, path);
			if (k > 0 && (size_t)k < cap && out[0] == '/' && executable(out))
				return 0;
		}
		path += len + (colon ? 1 : 0);
	}
	kt_cli_err("cannot find kubetund (looked next to kubetun and in PATH; or set KUBETUND)");
	return -ENOENT;
}

/* Runs `kubetund --help` and keeps its output (stdout and stderr), to learn its options. */
static int daemon_help(const char *exe, char *out, size_t cap)
{
	int p[2];
	out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(exe, exe, "--help", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	size_t off = 0;
	int64_t deadline = now_ms() + 3000;
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		if (left <= 0 || poll(&pf, 1, (int)left) == 0)
			break;
		if (off + 1 >= cap) {
			char sink[512];
			if (read(p[0], sink, sizeof(sink)) <= 0)
				break;
			continue;
		}
		ssize_t n = read(p[0], out + off, cap - off - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	out[off] = '\0';
	close(p[0]);
	kill(pid, SIGKILL); /* in case it hangs; harmless once it exited */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static bool has_option(const char *help, const char *opt)
{
	size_t n = strlen(opt);
	for (const char *p = help; (p = strstr(p, opt)) != NULL; p += n) {
		char after = p[n];
		bool start = p == help || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '[' ||
			     p[-1] == '\n' || p[-1] == ',';
		/* "--socket" must not match "--socket-mode". */
		if (start && (after == '\0' || after == ' ' || after == '=' || after == ']' ||
			      after == '\n' || after == '\t' || after == ','))
			return true;
	}
	return false;
}

/* Absolute path without touching the file system (the daemon runs in "/"). */
static int absolute(const char *p, char *out, size_t cap)
{
	int n;
	if (p[0] == '/') {
		n = snprintf(out, cap, "%s", p);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		n = snprintf(out, cap, "%s/%s", cwd, p);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* KUBECONFIG with each entry made absolute; empty entries dropped. */
static int absolute_list(const char *list, char *out, size_t cap)
{
	size_t off = 0;
	out[0] = '\0';
	while (*list) {
		const char *colon = strchr(list, ':');
		size_t len = colon ? (size_t)(colon - list) : strlen(list);
		if (len > 0 && len < PATH_MAX) {
			char one[PATH_MAX], abs[PATH_MAX];
			memcpy(one, list, len);
			one[len] = '\0';
			if (absolute(one, abs, sizeof(abs)) < 0)
				return -ENAMETOOLONG;
			int n = snprintf(out + off, cap - off, "%s%s", off ? ":" : "", abs);
			if (n < 0 || (size_t)n >= cap - off)
				return -ENAMETOOLONG;
			off += (size_t)n;
		}
		list += len + (colon ? 1 : 0);
	}
	return 0;
}

/* "dead" once the process is gone or a zombie nobody reaped yet. */
static bool process_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kill(pid, 0) == 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')'); /* the command name may contain anything */
	return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* Prints the last lines of the log written since offset. */
static void print_log_tail(const char *log, off_t offset)
{
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= offset) {
		close(fd);
		return;
	}
	size_t want = (size_t)(st.st_size - offset);
	if (want > 16384) {
		offset = st.st_size - 16384;
		want = 16384;
	}
	char *buf = malloc(want + 1);
	ssize_t n = buf ? pread(fd, buf, want, offset) : -1;
	close(fd);
	if (n <= 0) {
		free(buf);
		return;
	}
	buf[n] = '\0';
	const char *start = buf;
	int lines = 0;
	for (const char *p = buf + n - 1; p > buf; p--)
		if (p[-1] == '\n' && ++lines >= LOG_TAIL_LINES) {
			start = p;
			break;
		}
	fprintf(stderr, "--- last lines of %s ---\n", log);
	char safe[1024];
	for (const char *p = start; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(len < 1000 ? len : 1000), p);
		fprintf(stderr, "%s\n", kt_cli_safe(line, safe, sizeof(safe)));
		p += len + (nl ? 1 : 0);
	}
	free(buf);
}

struct spawn_msg {
	int kind; /* 0: the daemon's pid; 1: errno of a failed step */
	int value;
};

static void report(int fd, int kind, int value)
{
	struct spawn_msg m = {kind, value};
	ssize_t n = write(fd, &m, sizeof(m));
	(void)n;
}

/* Starts the daemon detached. Returns its pid or -errno (printed). */
static pid_t spawn_detached(const char *exe, char *const argv[], const char *log)
{
	int logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (logfd < 0) {
		int e = errno;
		kt_cli_err("cannot open %s: %s", log, strerror(e));
		return -e;
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int p[2] = {-1, -1};
	if (null < 0 || pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;
		kt_cli_err("cannot start kubetund: %s", strerror(e));
		close(logfd);
		if (null >= 0)
			close(null);
		return -e;
	}
	fflush(NULL);
	pid_t child = fork();
	if (child == 0) {
		close(p[0]);
		/* A new session: no controlling terminal, not killed by the shell's SIGHUP. */
		if (setsid() < 0) {
			report(p[1], 1, errno);
			_exit(127);
		}
		pid_t g = fork();
		if (g < 0) {
			report(p[1], 1, errno);
			_exit(127);
		}
		if (g > 0)
			_exit(0); /* the grandchild is adopted by init (or a subreaper) */
		report(p[1], 0, (int)getpid());
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		umask(022);
		if (chdir("/") < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0) {
			report(p[1], 1, errno);
			_exit(127);
		}
		execv(exe, argv);
		report(p[1], 1, errno);
		_exit(127);
	}
	int e = errno;
	close(p[1]);
	close(logfd);
	close(null);
	if (child < 0) {
		close(p[0]);
		kt_cli_err("fork: %s", strerror(e));
		return -e;
	}
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	pid_t pid = -ECHILD;
	struct spawn_msg m;
	ssize_t n;
	/* The write end closes at exec (O_CLOEXEC): EOF after the pid means exec worked. */
	while ((n = read(p[0], &m, sizeof(m))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m))
			break;
		if (m.kind == 0) {
			pid = (pid_t)m.value;
		} else {
			kt_cli_err("cannot start %s: %s", exe, strerror(m.value));
			pid = -m.value;
			break;
		}
	}
	close(p[0]);
	if (pid == -ECHILD)
		kt_cli_err("cannot start %s", exe);
	return pid;
}

/* Runs argv (PATH lookup) in the foreground; its exit status or -errno. */
static int run_wait(char *const argv[])
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", KT_CLI_PROG, argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits until the daemon answers status; stops early when pid (if > 0) died. */
static int wait_up(const struct kt_cli *cli, pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		int rc = daemon_probe(cli, 1000, true);
		if (rc == 0)
			return 0;
		if (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ETIMEDOUT) {
			daemon_probe(cli, 1000, false); /* print why */
			return rc;
		}
		if (pid > 0 && !process_alive(pid))
			return -ESRCH;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		sleep_ms(100);
	}
}

/* The systemd unit reads KUBETUND_ARGS (split on blanks) from this file. */
static int write_systemd_env(const char *path, const char *unit, const struct argv_list *a,
			     const char *kubeconfig)
{
	for (size_t i = 1; i < a->n; i++)
		if (strpbrk(a->v[i], " \t\n\"'\\$")) {
			kt_cli_err(
			    "--systemd: '%s' cannot be passed through the unit's environment "
			    "file (blank, quote, '$' or backslash)",
			    a->v[i]);
			return -EINVAL;
		}
	if (kubeconfig && strpbrk(kubeconfig, " \t\n\"'\\$")) {
		kt_cli_err("--systemd: KUBECONFIG cannot contain blanks or quotes");
		return -EINVAL;
	}
	char dir[PATH_MAX], tmp[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		kt_cli_mkdirs(dir, 0755);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f) {
		int e = errno;
		kt_cli_err("cannot write %s: %s", tmp, strerror(e));
		return -e;
	}
	fprintf(f, "# Written by `kubetun up --systemd`; read by %s.\nKUBETUND_ARGS=", unit);
	for (size_t i = 1; i < a->n; i++)
		fprintf(f, "%s%s", i > 1 ? " " : "", a->v[i]);
	fputc('\n', f);
	if (kubeconfig)
		fprintf(f, "KUBECONFIG=%s\n", kubeconfig);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;
		kt_cli_err("cannot write %s: %s", path, strerror(e));
		unlink(tmp);
		return -e;
	}
	return 0;
}

/* User names that are safe as a unit instance and a file name part. */
static bool unit_instance_ok(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > 64 || !((u[0] >= 'a' && u[0] <= 'z') || u[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9') || u[i] == '_' ||
		      u[i] == '-' || u[i] == '.'))
			return false;
	return true;
}

static int up_systemd(const struct kt_cli *cli, const struct argv_list *a,
		      const char *env_kubeconfig, const struct kt_cli_sudo *sudo)
{
	char unit[320], envfile[PATH_MAX];
	if (sudo->active) {
		if (!unit_instance_ok(sudo->user)) {
			kt_cli_err("--systemd: user name '%s' cannot name a unit instance",
				   sudo->user);
			return KT_CLI_FAILED;
		}
		snprintf(unit, sizeof(unit), "kubetund@%s.service", sudo->user);
		snprintf(envfile, sizeof(envfile), SYSTEMD_ENV_DIR "/kubetund-%s.env", sudo->user);
	} else {
		snprintf(unit, sizeof(unit), "%s", SYSTEMD_UNIT);
		snprintf(envfile, sizeof(envfile), SYSTEMD_ENV_DIR "/kubetund.env");
	}
	const char *e = getenv("KUBETUN_SYSTEMD_ENV");
	if (e && *e)
		snprintf(envfile, sizeof(envfile), "%s", e);
	if (write_systemd_env(envfile, unit, a, env_kubeconfig) < 0)
		return KT_CLI_FAILED;
	char sc[] = "systemctl", start[] = "start";
	char *sv[] = {sc, start, unit, NULL};
	if (run_wait(sv) != 0) {
		kt_cli_err("systemctl start %s failed (see: journalctl -u %s)", unit, unit);
		return KT_CLI_FAILED;
	}
	if (wait_up(cli, 0, KT_CLI_UP_TIMEOUT_MS) < 0) {
		kt_cli_err("kubetund did not answer on %s within %d s (see: journalctl -u %s)",
			   cli->socket, KT_CLI_UP_TIMEOUT_MS / 1000, unit);
		return KT_CLI_FAILED;
	}
	printf("kubetund is up (%s, socket %s)\n", unit, cli->socket);
	return KT_CLI_OK;
}

static const char up_usage[] =
    "usage: kubetun up [--profile NAME|FILE] [--kubeconfig FILE] [--context NAME]\n"
    "                  [--systemd] [-v]\n"
    "\n"
    "Starts kubetund and waits until it answers (at most 10 s). Without --profile the daemon\n"
    "restores the last active set of forwards. Detached, its output goes to\n"
    "<state dir>/kubetund.log ($KUBETUN_STATE_DIR, else /var/lib/kubetun as root, else\n"
    "$XDG_STATE_HOME/kubetun); kubetund is looked for in $KUBETUND, next to kubetun, then in\n"
    "PATH. Under sudo, the invoking user's kubeconfig ($KUBECONFIG if sudo kept it, else\n"
    "~USER/.kube/config) is used and exec credential plugins run as that user.\n"
    "\n"
    "  --profile NAME|FILE  a saved profile (see 'kubetun profile ls') or a profile file\n"
    "  --kubeconfig FILE    kubeconfig to use\n"
    "  --context NAME       kubeconfig context (default: the profile's, else current)\n"
    "  --systemd            start it through systemd instead: kubetund.service as root,\n"
    "                       kubetund@$SUDO_USER.service under sudo; the options go to\n"
    "                       $KUBETUN_SYSTEMD_ENV (default " SYSTEMD_ENV_DIR "/kubetund.env,\n"
    "                       or kubetund-$SUDO_USER.env)\n"
    "  -v, --verbose        daemon debug logging (repeat for more)\n"
    "  -h, --help           this text\n";

int kt_cli_up(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun up";
	static const struct option opts[] = {
	    {"profile", required_argument, NULL, 'p'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"context", required_argument, NULL, 'c'},
	    {"systemd", no_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *profile = NULL, *kubeconfig = NULL, *context = NULL;
	bool systemd = false;
	int verbose = 0, c;
	argv[0] = prog;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			profile = optarg;
			break;
		case 'k':
			kubeconfig = optarg;
			break;
		case 'c':
			context = optarg;
			break;
		case 'S':
			systemd = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			return kt_cli_usage(up_usage, true);
		default:
			return kt_cli_usage(up_usage, false);
		}
	}
	if (optind != argc || (context && !*context) || (kubeconfig && !*kubeconfig))
		return kt_cli_usage(up_usage, false);

	int rc = daemon_probe(cli, 2000, false);
	if (rc == 0) {
		bool asked = profile || kubeconfig || context;
		printf("kubetund is already running (%s)%s\n", cli->socket,
		       asked ? "; run 'kubetun down' first to start it with other options" : "");
		return asked ? KT_CLI_FAILED : KT_CLI_OK;
	}
	if (rc != -ENOENT && rc != -ECONNREFUSED)
		return KT_CLI_FAILED;

	int ret = KT_CLI_FAILED;
	struct argv_list a = {0};
	char exe[PATH_MAX], path[PATH_MAX], kc[8192], state[PATH_MAX], log[PATH_MAX + 32];
	char *help = NULL;
	const char *env_kubeconfig = NULL; /* a KUBECONFIG list for the daemon's environment */
	if (find_daemon(exe, sizeof(exe)) < 0)
		goto out;
	help = malloc(HELP_MAX);
	if (!help || daemon_help(exe, help, HELP_MAX) < 0) {
		kt_cli_err("cannot run %s --help", exe);
		goto out;
	}
	if (argv_add(&a, exe) < 0)
		goto oom;

	if (profile) {
		if (kt_cli_profile_resolve(profile, path, sizeof(path)) < 0)
			goto out;
		/* A bad profile is reported here, with its FILE:LINE:COL, not in a log. */
		char err[512];
		struct kt_profile *p = kt_profile_load(path, err, sizeof(err));
		if (!p) {
			kt_cli_err("%s", err);
			goto out;
		}
		kt_profile_free(p);
		if (argv_add(&a, "--profile") < 0 || argv_add(&a, path) < 0)
			goto oom;
	}

	struct kt_cli_sudo sudo;
	kt_cli_sudo_get(&sudo);
	const char *envkc = getenv("KUBECONFIG");
	if (kubeconfig) {
		if (absolute(kubeconfig, kc, sizeof(kc)) < 0)
			goto oom;
		kubeconfig = kc;
	} else if (envkc && *envkc) {
		/* sudo kept KUBECONFIG (or we are not under sudo): the daemon runs in "/", so
		 * relative entries are made absolute; a single file goes on the command line. */
		if (absolute_list(envkc, kc, sizeof(kc)) < 0)
			goto oom;
		if (strchr(kc, ':'))
			env_kubeconfig = kc;
		else
			kubeconfig = kc;
	} else if (sudo.active) {
		if (!sudo.home[0]) {
			kt_cli_err(
			    "cannot find the home directory of %s (uid %lu); use --kubeconfig",
			    sudo.user, (unsigned long)sudo.uid);
			goto out;
		}
		snprintf(kc, sizeof(kc), "%s/.kube/config", sudo.home);
		kubeconfig = kc;
	}
	if (kubeconfig && (argv_add(&a, "--kubeconfig") < 0 || argv_add(&a, kubeconfig) < 0))
		goto oom;
	if (context && (argv_add(&a, "--context") < 0 || argv_add(&a, context) < 0))
		goto oom;
	for (int i = 0; i < verbose; i++)
		if (argv_add(&a, "-v") < 0)
			goto oom;
	if (has_option(help, "--socket")) {
		if (argv_add(&a, "--socket") < 0 || argv_add(&a, cli->socket) < 0)
			goto oom;
	} else if (strcmp(cli->socket, KT_CONTROL_DEFAULT_PATH) != 0) {
		kt_cli_err("this kubetund has no --socket option; it listens on %s only",
			   KT_CONTROL_DEFAULT_PATH);
		goto out;
	}
	/* The daemon's VIP state and our log live in one place. */
	rc = kt_cli_state_dir(state, sizeof(state));
	if (rc < 0) {
		kt_cli_err("cannot find the state directory: %s", strerror(-rc));
		goto out;
	}
	if (has_option(help, "--state-dir") &&
	    (argv_add(&a, "--state-dir") < 0 || argv_add(&a, state) < 0))
		goto oom;
	/* kubetund@USER.service runs as the user already: no switch needed there. */
	if (sudo.active && !systemd) {
		if (has_option(help, "--exec-as-uid") && has_option(help, "--exec-as-gid")) {
			char u[32], g[32];
			snprintf(u, sizeof(u), "%lu", (unsigned long)sudo.uid);
			snprintf(g, sizeof(g), "%lu", (unsigned long)sudo.gid);
			if (argv_add(&a, "--exec-as-uid") < 0 || argv_add(&a, u) < 0 ||
			    argv_add(&a, "--exec-as-gid") < 0 || argv_add(&a, g) < 0)
				goto oom;
		} else {
			kt_cli_err("warning: this kubetund has no --exec-as-uid: exec credential "
				   "plugins would run as root, not as %s",
				   sudo.user);
		}
	}

	if (systemd) {
		ret = up_systemd(cli, &a, env_kubeconfig, &sudo);
		goto out;
	}

	if (env_kubeconfig && setenv("KUBECONFIG", env_kubeconfig, 1) < 0)
		goto oom;
	rc = kt_cli_mkdirs(state, 0755);
	if (rc < 0) {
		kt_cli_err("cannot create the state directory %s: %s", state, strerror(-rc));
		goto out;
	}
	snprintf(log, sizeof(log), "%s/%s", state, LOG_NAME);
	/* A header in the log separates runs; its end is where this run's lines start. */
	off_t offset = 0;
	int lf = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (lf >= 0) {
		char head[PATH_MAX + 128];
		time_t t = time(NULL);
		struct tm tm;
		char when[32] = "";
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		int n = snprintf(head, sizeof(head), "--- kubetun up %s: %s ---\n", when, exe);
		if (n > 0 && (size_t)n < sizeof(head)) {
			ssize_t w = write(lf, head, (size_t)n);
			(void)w; /* the header is a courtesy */
		}
		offset = lseek(lf, 0, SEEK_END);
		close(lf);
	}
	pid_t pid = spawn_detached(exe, a.v, log);
	if (pid < 0)
		goto out;
	rc = wait_up(cli, pid, KT_CLI_UP_TIMEOUT_MS);
	if (rc < 0) {
		if (rc == -ESRCH)
			kt_cli_err("kubetund exited during start-up");
		else if (rc == -ETIMEDOUT)
			kt_cli_err("kubetund did not answer on %s within %d s", cli->socket,
				   KT_CLI_UP_TIMEOUT_MS / 1000);
		print_log_tail(log, offset);
		goto out;
	}
	printf("kubetund is up (pid %ld, socket %s, log %s)\n", (long)pid, cli->socket, log);
	ret = KT_CLI_OK;
	goto out;
oom:
	kt_cli_err("out of memory");
out:
	free(help);
	argv_free(&a);
	return ret;
}

static const char down_usage[] =
    "usage: kubetun down [--systemd]\n"
    "\n"
    "Stops kubetund: asks it to shut down (its mappings and DNS registration go away) and\n"
    "waits until its control socket is gone (at most 10 s). Not running is not an error.\n"
    "\n"
    "  --systemd   stop it through systemd instead (kubetund.service and every\n"
    "              kubetund@USER.service)\n"
    "  -h, --help  this text\n";

int kt_cli_down(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun down";
	static const struct option opts[] = {
	    {"systemd", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool systemd = false;
	int c;
	argv[0] = prog;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			systemd = true;
			break;
		case 'h':
			return kt_cli_usage(down_usage, true);
		default:
			return kt_cli_usage(down_usage, false);
		}
	}
	if (optind != argc)
		return kt_cli_usage(down_usage, false);
	if (systemd) {
		char sc[] = "systemctl", stop[] = "stop", unit[] = SYSTEMD_UNIT,
		     units[] = SYSTEMD_UNITS_GLOB;
		char *sv[] = {sc, stop, unit, units, NULL};
		if (run_wait(sv) != 0) {
			kt_cli_err("systemctl stop %s %s failed", SYSTEMD_UNIT, SYSTEMD_UNITS_GLOB);
			return KT_CLI_FAILED;
		}
		printf("kubetund stopped\n");
		return KT_CLI_OK;
	}
	int rc;
	cJSON *res = kt_cli_call(cli, "shutdown", NULL, KT_CLI_CALL_TIMEOUT_MS, &rc);
	if (!res) {
		if (rc == -ENOENT || rc == -ECONNREFUSED) {
			/* kt_cli_call said "not running" on stderr already. */
			return KT_CLI_OK;
		}
		return KT_CLI_FAILED;
	}
	cJSON_Delete(res);
	int64_t deadline = now_ms() + KT_CLI_DOWN_TIMEOUT_MS;
	for (;;) {
		rc = daemon_probe(cli, 500, true);
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			break;
		if (now_ms() >= deadline) {
			kt_cli_err("kubetund still answers on %s after %d s", cli->socket,
				   KT_CLI_DOWN_TIMEOUT_MS / 1000);
			return KT_CLI_FAILED;
		}
		sleep_ms(50);
	}
	printf("kubetund stopped\n");
	return KT_CLI_OK;
}
