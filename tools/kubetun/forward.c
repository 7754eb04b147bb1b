/* forward.c: `kubetun forward add|rm|ls`: live edits of the running daemon's forwards through
 * the control commands forward.add, forward.rm and forward.ls (docs/CONTROL.md). Targets are
 * checked here with the profile parser's rules first, so a typo is a usage error that never
 * reaches the daemon. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "profile.h"
#include "table.h"

static int cmd_add(struct kt_cli *cli, int argc, char **argv);
static int cmd_rm(struct kt_cli *cli, int argc, char **argv);
static int cmd_ls(struct kt_cli *cli, int argc, char **argv);

static const struct kt_cli_cmd forward_cmds[] = {
    {"add", cmd_add, "forward a service, pod or workload: forward add TARGET [-n NS] [--port P]"},
    {"rm", cmd_rm, "stop forwarding: forward rm HOSTNAME[:PORT] | TARGET [-n NS]"},
    {"ls", cmd_ls, "list the forwards of the running daemon"},
};

int kt_cli_forward(struct kt_cli *cli, int argc, char **argv)
{
	return kt_cli_dispatch(cli, "forward", forward_cmds,
			       sizeof(forward_cmds) / sizeof(forward_cmds[0]), argc, argv);
}

static const char add_usage[] =
    "usage: kubetun forward add TARGET [-n NAMESPACE] [--port PORT]...\n"
    "\n"
    "Adds a forward to the running daemon: its names resolve and its ports connect at once.\n"
    "TARGET is kubectl's TYPE/NAME: svc/NAME, pod/NAME, deploy/NAME, sts/NAME, ds/NAME (a\n"
    "bare NAME is a pod). Adding a forward that exists changes nothing and says so.\n"
    "\n"
    "  -n, --namespace NS  namespace of the target (default: the profile's namespace)\n"
    "  -p, --port PORT     forward only this port (repeat, or PORT,PORT...; default: every\n"
    "                      TCP port of the target); Service port numbers for svc/\n"
    "  -h, --help          this text\n";

/* Adds every port of "80,443" to arr. 0 or -EINVAL. */
static int add_ports(cJSON *arr, const char *s)
{
	char buf[256];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long p;
		if (kt_cli_parse_uint(tok, 1, 65535, &p) < 0)
			return -1;
		const cJSON *e;
		cJSON_ArrayForEach(e, arr)
		{
			if (e->valuedouble == (double)p)
				return -1;
		}
		if (!cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)p)))
			return -1;
	}
	return 0;
}

static void print_message(const cJSON *res, const char *fallback, const char *what)
{
	char safe[1024];
	const char *m = kt_cli_jstr(res, "message");
	if (m)
		printf("%s\n", kt_cli_safe(m, safe, sizeof(safe)));
	else
		printf("%s %s\n", fallback, kt_cli_safe(what, safe, sizeof(safe)));
}

static int cmd_add(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun forward add";
	static const struct option opts[] = {
	    {"namespace", required_argument, NULL, 'n'},
	    {"port", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *ns = NULL;
	cJSON *req = cJSON_CreateObject(), *ports = cJSON_CreateArray();
	int rc = KT_CLI_USAGE, c;
	if (!req || !ports) {
		rc = KT_CLI_FAILED;
		goto out;
	}
	argv[0] = prog;
	while ((c = getopt_long(argc, argv, "n:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!kt_profile_valid_namespace(optarg)) {
				kt_cli_err("invalid namespace '%s'", optarg);
				goto out;
			}
			ns = optarg;
			break;
		case 'p':
			if (add_ports(ports, optarg) < 0) {
				kt_cli_err("invalid or repeated port '%s' (1-65535)", optarg);
				goto out;
			}
			break;
		case 'h':
			rc = kt_cli_usage(add_usage, true);
			goto out;
		default:
			rc = kt_cli_usage(add_usage, false);
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = kt_cli_usage(add_usage, false);
		goto out;
	}
	const char *target = argv[optind];
	enum kt_profile_kind kind;
	const char *name;
	char err[256];
	if (kt_profile_target_parse(target, &kind, &name, err, sizeof(err)) < 0) {
		kt_cli_err("%s", err);
		goto out;
	}
	if (!kt_profile_valid_name(kind, name)) {
		kt_cli_err("invalid %s name '%s'", kt_profile_kind_name(kind), name);
		goto out;
	}
	rc = KT_CLI_FAILED;
	if (!cJSON_AddStringToObject(req, "target", target) ||
	    (ns && !cJSON_AddStringToObject(req, "namespace", ns)))
		goto out;
	if (cJSON_GetArraySize(ports) > 0) {
		cJSON_AddItemToObject(req, "ports", ports);
		ports = NULL;
	}
	cJSON *res = kt_cli_call(cli, "forward.add", req, KT_CLI_EDIT_TIMEOUT_MS, NULL);
	req = NULL;
	if (res) {
		print_message(res, "added", target);
		rc = KT_CLI_OK;
		cJSON_Delete(res);
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(ports);
	return rc;
}

static const char rm_usage[] =
    "usage: kubetun forward rm HOSTNAME[:PORT] | TARGET [-n NAMESPACE]\n"
    "\n"
    "Removes mappings from the running daemon: one port of a hostname (HOSTNAME:PORT), every\n"
    "port of a hostname (HOSTNAME), or a whole forward (TARGET, e.g. svc/web -n shop). Its\n"
    "names stop resolving and its open connections are closed.\n"
    "\n"
    "  -n, --namespace NS  namespace of TARGET (default: the profile's namespace)\n"
    "  -h, --help          this text\n";

static int cmd_rm(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun forward rm";
	static const struct option opts[] = {
	    {"namespace", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *ns = NULL;
	int c;
	argv[0] = prog;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!kt_profile_valid_namespace(optarg)) {
				kt_cli_err("invalid namespace '%s'", optarg);
				return KT_CLI_USAGE;
			}
			ns = optarg;
			break;
		case 'h':
			return kt_cli_usage(rm_usage, true);
		default:
			return kt_cli_usage(rm_usage, false);
		}
	}
	if (optind + 1 != argc || !argv[optind][0])
		return kt_cli_usage(rm_usage, false);
	const char *what = argv[optind];
	cJSON *req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "name", what) ||
	    (ns && !cJSON_AddStringToObject(req, "namespace", ns))) {
		cJSON_Delete(req);
		return KT_CLI_FAILED;
	}
	cJSON *res = kt_cli_call(cli, "forward.rm", req, KT_CLI_EDIT_TIMEOUT_MS, NULL);
	if (!res)
		return KT_CLI_FAILED;
	print_message(res, "removed", what);
	cJSON_Delete(res);
	return KT_CLI_OK;
}

static const char ls_usage[] = "usage: kubetun forward ls [--json]\n"
			       "\n"
			       "Lists the forwards of the running daemon (what 'kubetun profile "
			       "save' would save).\n"
			       "\n"
			       "  --json      print the daemon's forward.ls result as JSON\n"
			       "  -h, --help  this text\n";

/* "80,443" or "all". */
static void ports_text(const cJSON *ports, char *out, size_t cap)
{
	size_t off = 0;
	const cJSON *p;
	out[0] = '\0';
	cJSON_ArrayForEach(p, ports)
	{
		if (!cJSON_IsNumber(p))
			continue;
		int n = snprintf(out + off, cap - off, "%s%.0f", off ? "," : "", p->valuedouble);
		if (n < 0 || (size_t)n >= cap - off)
			break;
		off += (size_t)n;
	}
	if (!out[0])
		snprintf(out, cap, "all");
}

static int cmd_ls(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun forward ls";
	int rc;
	cJSON *res = kt_cli_query(cli, prog, argc, argv, ls_usage, "forward.ls", &rc);
	if (!res)
		return rc;
	const cJSON *fw = cJSON_GetObjectItemCaseSensitive(res, "forwards");
	if (!cJSON_IsArray(fw) || cJSON_GetArraySize(fw) == 0) {
		printf("no forwards\n");
		goto out;
	}
	char dflt[300], safe[3][512], ports[512];
	const char *pns = kt_cli_jstr(res, "namespace");
	if (pns)
		snprintf(dflt, sizeof(dflt), "%s (default)",
			 kt_cli_safe(pns, safe[0], sizeof(safe[0])));
	else
		snprintf(dflt, sizeof(dflt), "(default)");
	struct kt_table *t = kt_table_new(3);
	int e = !t || kt_table_row(t) || kt_table_cell(t, "TARGET", NULL) ||
		kt_table_cell(t, "NAMESPACE", NULL) || kt_table_cell(t, "PORTS", NULL);
	const cJSON *f;
	cJSON_ArrayForEach(f, fw)
	{
		if (e)
			break;
		const char *ns = kt_cli_jstr(f, "namespace");
		ports_text(cJSON_GetObjectItemCaseSensitive(f, "ports"), ports, sizeof(ports));
		e = kt_table_row(t) ||
		    kt_table_cell(t, kt_cli_safe(kt_cli_jstr(f, "target"), safe[1], 512), NULL) ||
		    kt_table_cell(t, ns ? kt_cli_safe(ns, safe[2], 512) : dflt, NULL) ||
		    kt_table_cell(t, ports, NULL);
	}
	if (!e)
		kt_table_print(t, stdout, cli->colour);
	else
		rc = KT_CLI_FAILED;
	kt_table_free(t);
out:
	cJSON_Delete(res);
	if (fflush(stdout) != 0)
		rc = KT_CLI_FAILED;
	return rc;
}
