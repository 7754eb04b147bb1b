/* profiles.c: `kubetun profile save|ls|show|rm`: named profiles, one YAML file per name
 * (NAME.yaml) in the profile directory (cli.h: $KUBETUN_PROFILE_DIR, /etc/kubetun/profiles as
 * root, else $XDG_CONFIG_HOME/kubetun/profiles). The file format is the daemon's profile format
 * (src/profile.h); save writes it with kt_profile_to_yaml from the running daemon's forward.ls,
 * atomically (temporary file, fsync, rename). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "profile.h"
#include "table.h"

static int cmd_save(struct kt_cli *cli, int argc, char **argv);
static int cmd_ls(struct kt_cli *cli, int argc, char **argv);
static int cmd_show(struct kt_cli *cli, int argc, char **argv);
static int cmd_rm(struct kt_cli *cli, int argc, char **argv);

static const struct kt_cli_cmd profile_cmds[] = {
    {"save", cmd_save, "save the running daemon's forwards as profile NAME"},
    {"ls", cmd_ls, "list saved profiles"},
    {"show", cmd_show, "print profile NAME"},
    {"rm", cmd_rm, "remove profile NAME"},
};

int kt_cli_profile(struct kt_cli *cli, int argc, char **argv)
{
	return kt_cli_dispatch(cli, "profile", profile_cmds,
			       sizeof(profile_cmds) / sizeof(profile_cmds[0]), argc, argv);
}

/* Parses the common "[-h] NAME" command line. 1: go on with *name; else an exit status. */
static int name_args(int argc, char **argv, char *prog, const char *usage, const char **name)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	argv[0] = prog;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return kt_cli_usage(usage, true);
		return kt_cli_usage(usage, false);
	}
	if (optind + 1 != argc)
		return kt_cli_usage(usage, false);
	*name = argv[optind];
	if (!kt_cli_profile_name_ok(*name)) {
		kt_cli_err("invalid profile name '%s' (1-64 of a-z 0-9 . _ -, not starting with "
			   "'.')",
			   *name);
		return KT_CLI_USAGE;
	}
	return 1;
}

static int profile_path(const char *name, char *out, size_t cap, char *dir, size_t dircap)
{
	int rc = kt_cli_profile_dir(dir, dircap);
	if (rc < 0) {
		kt_cli_err("cannot find the profile directory: %s", strerror(-rc));
		return rc;
	}
	int n = snprintf(out, cap, "%s/%s.yaml", dir, name);
	if (n < 0 || (size_t)n >= cap) {
		kt_cli_err("profile path too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The daemon's forward.ls result as a profile. NULL after printing why. */
static struct kt_profile *profile_from_ls(const cJSON *res)
{
	char err[512];
	struct kt_profile *p = kt_profile_new();
	uint16_t *ports = NULL;
	if (!p)
		goto oom;
	const char *ctx = kt_cli_jstr(res, "context"), *ns = kt_cli_jstr(res, "namespace");
	if ((ctx && kt_profile_set_context(p, ctx) < 0) ||
	    (ns && kt_profile_set_namespace(p, ns) < 0)) {
		kt_cli_err("the daemon's context or namespace is invalid");
		goto fail;
	}
	const cJSON *fw = cJSON_GetObjectItemCaseSensitive(res, "forwards"), *f;
	if (!cJSON_IsArray(fw)) {
		kt_cli_err("the daemon's forward.ls reply has no forwards");
		goto fail;
	}
	cJSON_ArrayForEach(f, fw)
	{
		const char *target = kt_cli_jstr(f, "target"), *name;
		enum kt_profile_kind kind;
		if (!target ||
		    kt_profile_target_parse(target, &kind, &name, err, sizeof(err)) < 0) {
			kt_cli_err("the daemon listed an invalid target: %s",
				   target ? err : "(none)");
			goto fail;
		}
		const cJSON *pa = cJSON_GetObjectItemCaseSensitive(f, "ports"), *pe;
		size_t np = 0, cap = cJSON_IsArray(pa) ? (size_t)cJSON_GetArraySize(pa) : 0;
		free(ports);
		ports = cap ? calloc(cap, sizeof(*ports)) : NULL;
		if (cap && !ports)
			goto oom;
		cJSON_ArrayForEach(pe, pa)
		{
			if (!cJSON_IsNumber(pe) || pe->valuedouble < 1 || pe->valuedouble > 65535 ||
			    pe->valuedouble != (double)(uint16_t)pe->valuedouble || np >= cap) {
				kt_cli_err("the daemon listed an invalid port for %s", target);
				goto fail;
			}
			ports[np++] = (uint16_t)pe->valuedouble;
		}
		int rc = kt_profile_add(p, kind, name, kt_cli_jstr(f, "namespace"), ports, np, err,
					sizeof(err));
		if (rc == -ENOMEM)
			goto oom;
		if (rc < 0) {
			kt_cli_err("cannot save forward %s: %s", target, err);
			goto fail;
		}
	}
	free(ports);
	return p;
oom:
	kt_cli_err("out of memory");
fail:
	free(ports);
	kt_profile_free(p);
	return NULL;
}

static int write_atomic(const char *dir, const char *path, const char *name, const char *head,
			const char *body)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s/.%s.yaml.tmp-%ld", dir, name, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	int rc = 0;
	const char *parts[2] = {head, body};
	for (int i = 0; i < 2 && rc == 0; i++) {
		size_t len = strlen(parts[i]), off = 0;
		while (off < len) {
			ssize_t w = write(fd, parts[i] + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = w < 0 ? -errno : -EIO;
				break;
			}
			off += (size_t)w;
		}
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static const char save_usage[] =
    "usage: kubetun profile save NAME\n"
    "\n"
    "Saves the running daemon's forwards (and its context and default namespace) as profile\n"
    "NAME, replacing a profile of that name. Start it later with 'kubetun up --profile NAME'.\n"
    "NAME: 1-64 of a-z 0-9 . _ -, not starting with '.'.\n"
    "\n"
    "  -h, --help  this text\n";

static int cmd_save(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun profile save";
	const char *name;
	int rc = name_args(argc, argv, prog, save_usage, &name);
	if (rc != 1)
		return rc;
	char dir[PATH_MAX], path[PATH_MAX];
	if (profile_path(name, path, sizeof(path), dir, sizeof(dir)) < 0)
		return KT_CLI_FAILED;
	cJSON *res = kt_cli_call(cli, "forward.ls", NULL, KT_CLI_CALL_TIMEOUT_MS, NULL);
	if (!res)
		return KT_CLI_FAILED;
	struct kt_profile *p = profile_from_ls(res);
	cJSON_Delete(res);
	if (!p)
		return KT_CLI_FAILED;
	char *yaml = kt_profile_to_yaml(p);
	size_t nfw = p->nforwards;
	kt_profile_free(p);
	if (!yaml) {
		kt_cli_err("cannot write the profile as YAML: %s", strerror(errno));
		return KT_CLI_FAILED;
	}
	char head[256], when[32] = "";
	time_t t = time(NULL);
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(head, sizeof(head), "# kubetun profile %s, saved %s by 'kubetun profile save'\n",
		 name, when);
	struct stat st;
	bool existed = stat(path, &st) == 0;
	rc = kt_cli_mkdirs(dir, 0755);
	if (rc == 0)
		rc = write_atomic(dir, path, name, head, yaml);
	free(yaml);
	if (rc < 0) {
		kt_cli_err("cannot write %s: %s", path, strerror(-rc));
		return KT_CLI_FAILED;
	}
	printf("%s profile %s (%zu forward%s): %s\n", existed ? "replaced" : "saved", name, nfw,
	       nfw == 1 ? "" : "s", path);
	return KT_CLI_OK;
}

static const char ls_usage[] = "usage: kubetun profile ls\n"
			       "\n"
			       "Lists the saved profiles with their number of forwards, context "
			       "and namespace.\n"
			       "\n"
			       "  -h, --help  this text\n";

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_ls(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun profile ls";
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	argv[0] = prog;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return kt_cli_usage(ls_usage, c == 'h');
	if (optind != argc)
		return kt_cli_usage(ls_usage, false);
	char dir[PATH_MAX];
	int rc = kt_cli_profile_dir(dir, sizeof(dir));
	if (rc < 0) {
		kt_cli_err("cannot find the profile directory: %s", strerror(-rc));
		return KT_CLI_FAILED;
	}
	DIR *d = opendir(dir);
	if (!d && errno != ENOENT) {
		kt_cli_err("cannot read %s: %s", dir, strerror(errno));
		return KT_CLI_FAILED;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = KT_CLI_FAILED;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len <= 5 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(len - 5), e->d_name);
		if (!kt_cli_profile_name_ok(name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(*nn));
			if (!nn) {
				kt_cli_err("out of memory");
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		if (!(names[n] = strdup(name))) {
			kt_cli_err("out of memory");
			goto out;
		}
		n++;
	}
	if (n == 0) {
		printf("no profiles in %s\n", dir);
		ret = KT_CLI_OK;
		goto out;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	struct kt_table *t = kt_table_new(4);
	int err = !t || kt_table_row(t) || kt_table_cell(t, "NAME", NULL) ||
		  kt_table_cell(t, "FORWARDS", NULL) || kt_table_cell(t, "CONTEXT", NULL) ||
		  kt_table_cell(t, "NAMESPACE", NULL);
	for (size_t i = 0; i < n && !err; i++) {
		char path[PATH_MAX + 80], msg[512], safe[3][512];
		snprintf(path, sizeof(path), "%s/%s.yaml", dir, names[i]);
		struct kt_profile *p = kt_profile_load(path, msg, sizeof(msg));
		err = kt_table_row(t) || kt_table_cell(t, names[i], NULL);
		if (!p) {
			/* The row says so; the reason (FILE:LINE:COL: ...) goes to stderr. */
			kt_cli_err("%s", kt_cli_safe(msg, safe[0], sizeof(safe[0])));
			err = err || kt_table_cell(t, "invalid", KT_SGR_RED) ||
			      kt_table_cell(t, "-", NULL) || kt_table_cell(t, "-", NULL);
			continue;
		}
		err = err || kt_table_cellf(t, NULL, "%zu", p->nforwards) ||
		      kt_table_cell(
			  t, p->context ? kt_cli_safe(p->context, safe[1], 512) : "(current)",
			  NULL) ||
		      kt_table_cell(
			  t, p->namespace ? kt_cli_safe(p->namespace, safe[2], 512) : "(context's)",
			  NULL);
		kt_profile_free(p);
	}
	if (!err) {
		kt_table_print(t, stdout, cli->colour);
		ret = KT_CLI_OK;
	} else {
		kt_cli_err("out of memory");
	}
	kt_table_free(t);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (d)
		closedir(d);
	return ret;
}

static const char show_usage[] = "usage: kubetun profile show NAME\n"
				 "\n"
				 "Prints profile NAME (its YAML file) and checks it.\n"
				 "\n"
				 "  -h, --help  this text\n";

static int cmd_show(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun profile show";
	(void)cli;
	const char *name;
	int rc = name_args(argc, argv, prog, show_usage, &name);
	if (rc != 1)
		return rc;
	char dir[PATH_MAX], path[PATH_MAX];
	if (profile_path(name, path, sizeof(path), dir, sizeof(dir)) < 0)
		return KT_CLI_FAILED;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			kt_cli_err("no profile '%s' in %s", name, dir);
		else
			kt_cli_err("cannot read %s: %s", path, strerror(errno));
		return KT_CLI_FAILED;
	}
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	/* Profiles are small; kt_profile_load refuses more than 16 MiB too. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024 ||
	    !(buf = malloc((size_t)st.st_size + 1))) {
		kt_cli_err("cannot read %s", path);
		close(fd);
		return KT_CLI_FAILED;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	fwrite(buf, 1, len, stdout);
	if (len && buf[len - 1] != '\n')
		putchar('\n');
	char err[512];
	struct kt_profile *p = kt_profile_parse(buf, len, path, err, sizeof(err));
	free(buf);
	if (!p) {
		kt_cli_err("%s", err);
		return KT_CLI_FAILED;
	}
	kt_profile_free(p);
	return fflush(stdout) == 0 ? KT_CLI_OK : KT_CLI_FAILED;
}

static const char rm_usage[] = "usage: kubetun profile rm NAME\n"
			       "\n"
			       "Removes profile NAME.\n"
			       "\n"
			       "  -h, --help  this text\n";

static int cmd_rm(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun profile rm";
	(void)cli;
	const char *name;
	int rc = name_args(argc, argv, prog, rm_usage, &name);
	if (rc != 1)
		return rc;
	char dir[PATH_MAX], path[PATH_MAX];
	if (profile_path(name, path, sizeof(path), dir, sizeof(dir)) < 0)
		return KT_CLI_FAILED;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			kt_cli_err("no profile '%s' in %s", name, dir);
		else
			kt_cli_err("cannot remove %s: %s", path, strerror(errno));
		return KT_CLI_FAILED;
	}
	printf("removed profile %s\n", name);
	return KT_CLI_OK;
}
