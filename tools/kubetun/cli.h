/* cli.h: what the files of the `kubetun` CLI share: the global options, the subcommand table
 * type, the command entry points and small helpers (control calls, option parsing, output).
 *
 * Every command is `int fn(struct kt_cli *cli, int argc, char **argv)` with argv[0] the command
 * name and returns an exit status: KT_CLI_OK, KT_CLI_FAILED or KT_CLI_USAGE. Errors go to
 * stderr as "kubetun: message"; results go to stdout. Text that comes from the daemon is passed
 * through kt_cli_safe() before it reaches a terminal, so a hostile name cannot inject escape
 * sequences. */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#define KT_CLI_PROG "kubetun"

enum { KT_CLI_OK = 0, KT_CLI_FAILED = 1, KT_CLI_USAGE = 2 };

/* Timeouts of the control calls (milliseconds). */
#define KT_CLI_CALL_TIMEOUT_MS 5000
#define KT_CLI_EDIT_TIMEOUT_MS 15000 /* forward add/rm may wait for the API */
#define KT_CLI_UP_TIMEOUT_MS 10000   /* up: the daemon must answer status by then */
#define KT_CLI_DOWN_TIMEOUT_MS 10000 /* down: the socket must be gone by then */

struct kt_cli {
	const char *socket; /* --socket, $KUBETUN_SOCKET or KT_CONTROL_DEFAULT_PATH */
	bool colour;	    /* stdout is a terminal and NO_COLOR is unset or empty */
};

struct kt_cli_cmd {
	const char *name;
	int (*fn)(struct kt_cli *cli, int argc, char **argv);
	const char *help; /* one line */
};

/* Runs argv[1] from the table (argv[0] is the parent's name, e.g. "forward"); prints the
 * table for --help/-h or no subcommand. */
int kt_cli_dispatch(struct kt_cli *cli, const char *parent, const struct kt_cli_cmd *cmds,
		    size_t ncmds, int argc, char **argv);
void kt_cli_list(FILE *f, const struct kt_cli_cmd *cmds, size_t ncmds);

/* Commands (status.c, forward.c, updown.c, profiles.c). */
int kt_cli_status(struct kt_cli *cli, int argc, char **argv);
int kt_cli_forward(struct kt_cli *cli, int argc, char **argv);
int kt_cli_up(struct kt_cli *cli, int argc, char **argv);
int kt_cli_down(struct kt_cli *cli, int argc, char **argv);
int kt_cli_profile(struct kt_cli *cli, int argc, char **argv);

/* Messages: "kubetun: ..." on stderr. */
void kt_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Usage helpers: prints usage to stdout (help) and returns KT_CLI_OK, or to stderr with a
 * hint and returns KT_CLI_USAGE. */
int kt_cli_usage(const char *usage, bool help);

/* A read-only query command (`status`, `forward ls`): parses [--json] [--help] with argv[0] set
 * to prog, sends `command`, and with --json prints the reply as JSON. Returns the reply for the
 * caller to print as text (caller frees), or NULL with the exit status in *rc (help printed,
 * usage error, failed call, or the JSON already printed). */
cJSON *kt_cli_query(struct kt_cli *cli, char *prog, int argc, char **argv, const char *usage,
		    const char *command, int *rc);

/* One control request {"version":1,"command":command, ...fields} (fields may be NULL; it is
 * consumed). Returns the result, or NULL after printing the error. *rc gets the code of
 * kt_control_request. */
cJSON *kt_cli_call(const struct kt_cli *cli, const char *command, cJSON *fields, int timeout_ms,
		   int *rc);

/* strtoul with full checking into [min, max]. */
int kt_cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* JSON accessors that tolerate absent or mistyped fields. */
const char *kt_cli_jstr(const cJSON *o, const char *key); /* NULL unless a string */
bool kt_cli_jnum(const cJSON *o, const char *key, double *v);

/* Human output. */
const char *kt_cli_safe(const char *s, char *out, size_t cap); /* "-" for NULL */
void kt_cli_bytes(uint64_t n, char *out, size_t cap);	       /* 1.2 MiB */
void kt_cli_duration(int64_t secs, char *out, size_t cap);     /* 2h13m */
/* "3s ago" style for an RFC 3339 time of the status schema; "-" when absent or bad. */
void kt_cli_ago(const char *rfc3339, char *out, size_t cap);

/* SGR codes; KT_SGR(cli, code) is the escape sequence for a literal code, or "" without
 * colour. */
#define KT_SGR_RESET "0"
#define KT_SGR_BOLD "1"
#define KT_SGR_DIM "2"
#define KT_SGR_RED "31"
#define KT_SGR_GREEN "32"
#define KT_SGR_YELLOW "33"
#define KT_SGR(cli, code) ((cli)->colour ? "\033[" code "m" : "")

/* Paths. The profile directory: $KUBETUN_PROFILE_DIR, else /etc/kubetun/profiles as root,
 * else $XDG_CONFIG_HOME/kubetun/profiles ($HOME/.config/...). The state directory (up's log):
 * $KUBETUN_STATE_DIR, else /var/lib/kubetun as root, else $XDG_STATE_HOME/kubetun
 * ($HOME/.local/state/...). 0 or -errno (no HOME). */
int kt_cli_profile_dir(char *out, size_t cap);
int kt_cli_state_dir(char *out, size_t cap);
/* Profile names: 1..64 of [a-z0-9._-], not starting with '.'. */
bool kt_cli_profile_name_ok(const char *name);
/* Finds a profile by NAME (profile dir, then under sudo the invoking user's own directory) or
 * FILE (contains '/' or names an existing file). Absolute path in out; 0 or -errno after
 * printing why. */
int kt_cli_profile_resolve(const char *arg, char *out, size_t cap);
/* mkdir -p with mode for new components. 0 or -errno. */
int kt_cli_mkdirs(const char *dir, mode_t mode);

/* The user sudo ran us for (SUDO_UID/SUDO_GID/SUDO_USER) when we are root under sudo. */
struct kt_cli_sudo {
	bool active;
	uid_t uid;
	gid_t gid;
	char user[256];
	char home[4096];
};
void kt_cli_sudo_get(struct kt_cli_sudo *s);

#endif
