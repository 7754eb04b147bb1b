/* main.c: `kubetun`, the command-line client of kubetund.
 *
 * Global options come before the command; the command is looked up in a table of
 * {name, fn, help} (WireGuard wg.c's pattern) and runs with its own argv. Every command takes
 * --help. Exit status: 0 ok, 1 failed, 2 usage. The CLI talks to the daemon only through the
 * control socket (docs/CONTROL.md), except `up`, which starts it. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"

static int cmd_help(struct kt_cli *cli, int argc, char **argv);
static int cmd_demo(struct kt_cli *cli, int argc, char **argv);

static const struct kt_cli_cmd commands[] = {
    {"status", kt_cli_status, "show the tunnel, DNS, cluster and every mapping"},
    {"forward", kt_cli_forward, "add, remove or list forwards of the running daemon"},
    {"up", kt_cli_up, "start kubetund (detached, or through systemd)"},
    {"down", kt_cli_down, "stop kubetund"},
    {"profile", kt_cli_profile, "save, list, show or remove named profiles"},
    {"demo", cmd_demo, "run the demo: a fake cluster, the tunnel, a tour (needs root)"},
    {"help", cmd_help, "show this help, or a command's"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: %s [--socket PATH] COMMAND [ARGS]\n"
	    "\n"
	    "kubetun maps Kubernetes services to their real hostnames and ports on this machine.\n"
	    "\n"
	    "commands:\n",
	    KT_CLI_PROG);
	kt_cli_list(f, commands, NCOMMANDS);
	fprintf(f,
		"\n"
		"options:\n"
		"  --socket PATH  kubetund's control socket (default $KUBETUN_SOCKET, else %s)\n"
		"  -h, --help     this text\n"
		"\n"
		"Run '%s COMMAND --help' for a command's options.\n"
		"Exit status: 0 ok, 1 failed, 2 usage error.\n",
		KT_CONTROL_DEFAULT_PATH, KT_CLI_PROG);
}

static const struct kt_cli_cmd *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_help(struct kt_cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return KT_CLI_OK;
	}
	const struct kt_cli_cmd *c = find(argv[1]);
	if (!c || c->fn == cmd_help) {
		kt_cli_err("unknown command '%s' (see '%s --help')", argv[1], KT_CLI_PROG);
		return KT_CLI_USAGE;
	}
	char help[] = "--help";
	char *av[] = {argv[1], help, NULL};
	return c->fn(cli, 2, av);
}

/* `kubetun demo` is tools/kubetun/demo.sh: installed beside the binary, or in the source tree
 * when kubetun runs from a build directory of it (<src>/build/kubetun: <src>/tools/kubetun). */
static int find_demo(char *out, size_t cap, char *self, size_t selfcap)
{
	static const char *const rel[] = {"demo.sh", "../tools/kubetun/demo.sh",
					  "../share/kubetun/demo.sh"};
	ssize_t n = readlink("/proc/self/exe", self, selfcap - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		int k = snprintf(out, cap, "%.*s/%s", (int)(slash - self), self, rel[i]);

		if (k > 0 && (size_t)k < cap && access(out, R_OK) == 0)
			return 0;
	}
#ifdef KT_CLI_SOURCE_DIR
	/* A build directory outside the source tree. */
	int k = snprintf(out, cap, "%s/tools/kubetun/demo.sh", KT_CLI_SOURCE_DIR);
	if (k > 0 && (size_t)k < cap && access(out, R_OK) == 0)
		return 0;
#endif
	return -1;
}

static int cmd_demo(struct kt_cli *cli, int argc, char **argv)
{
	static char bash[] = "bash";
	char script[PATH_MAX], self[PATH_MAX];
	char **av;

	(void)cli;
	if (find_demo(script, sizeof(script), self, sizeof(self)) < 0) {
		kt_cli_err("demo: cannot find demo.sh (looked beside kubetun and in the source "
			   "tree's tools/kubetun)");
		return KT_CLI_FAILED;
	}
	/* The script finds kubetund and the fake cluster next to this binary. */
	if (setenv("KT_CLI_EXE", self, 1) < 0) {
		kt_cli_err("demo: out of memory");
		return KT_CLI_FAILED;
	}
	av = calloc((size_t)argc + 2, sizeof(*av));
	if (!av) {
		kt_cli_err("demo: out of memory");
		return KT_CLI_FAILED;
	}
	av[0] = bash;
	av[1] = script;
	for (int i = 1; i < argc; i++)
		av[i + 1] = argv[i];
	fflush(NULL);
	execvp("bash", av);
	kt_cli_err("demo: cannot run bash %s: %s", script, strerror(errno));
	free(av);
	return KT_CLI_FAILED;
}

int main(int argc, char **argv)
{
	struct kt_cli cli = {0};
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
	/* no-color.org: NO_COLOR present and not empty disables colour; so does a dumb tty. */
	cli.colour = isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
	cli.socket = getenv("KUBETUN_SOCKET");
	if (!cli.socket || !*cli.socket)
		cli.socket = KT_CONTROL_DEFAULT_PATH;
	/* A reader that goes away (kubetun status | head) ends us quietly. */
	signal(SIGPIPE, SIG_DFL);

	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	/* "+": stop at the command, whose options are its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cli.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return KT_CLI_OK;
		default:
			fprintf(stderr, "Run '%s --help' for usage.\n", KT_CLI_PROG);
			return KT_CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return KT_CLI_USAGE;
	}
	const struct kt_cli_cmd *cmd = find(argv[optind]);
	if (!cmd) {
		kt_cli_err("unknown command '%s' (see '%s --help')", argv[optind], KT_CLI_PROG);
		return KT_CLI_USAGE;
	}
	int first = optind;
	/* Each command parses its own argv with getopt from scratch (GNU: optind 0 resets). */
	optind = 0;
	return cmd->fn(&cli, argc - first, argv + first);
}
