/* status.c: `kubetun status [--json]`: the daemon's status (docs/CONTROL.md, "status") as a
 * summary plus an aligned table of mappings, or the result object as JSON. Every field may be
 * absent (an older or newer daemon): the human output prints "-" for what it lacks. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"

static const char usage_text[] =
    "usage: kubetun status [--json]\n"
    "\n"
    "Shows the tunnel, DNS (and whether the system resolver uses it), the cluster, the API\n"
    "watches and every mapping: hostname:port, VIP, target, namespace, pods, state,\n"
    "active/total connections, bytes in (app to pod) and out (pod to app), last error.\n"
    "\n"
    "  --json     print the daemon's status object (stable schema, docs/CONTROL.md)\n"
    "  -h, --help this text\n";

/* Daemon text made terminal-safe, in rotating buffers so one printf can hold several. */
struct safebuf {
	char b[8][512];
	int i;
};

static const char *safe_text(struct safebuf *s, const char *x)
{
	s->i = (s->i + 1) % 8;
	return kt_cli_safe(x, s->b[s->i], sizeof(s->b[0]));
}
#define S(x) safe_text(&sb, (x))

static void label(const struct kt_cli *cli, const char *name)
{
	printf("%s%-13s%s", KT_SGR(cli, KT_SGR_BOLD), name, KT_SGR(cli, KT_SGR_RESET));
}

static void print_summary(const struct kt_cli *cli, const cJSON *st)
{
	struct safebuf sb = {.i = 0};
	char a[64], b[64];
	double v;
	const cJSON *tun = cJSON_GetObjectItemCaseSensitive(st, "tunnel");
	const cJSON *dns = cJSON_GetObjectItemCaseSensitive(st, "dns");
	const cJSON *clu = cJSON_GetObjectItemCaseSensitive(st, "cluster");
	const cJSON *api = cJSON_GetObjectItemCaseSensitive(st, "api");

	label(cli, "tunnel");
	printf("%s  %s", S(kt_cli_jstr(tun, "device")), S(kt_cli_jstr(tun, "subnet")));
	if (kt_cli_jnum(tun, "mtu", &v))
		printf("  MTU %.0f", v);
	const char *since = kt_cli_jstr(tun, "up_since");
	if (since) {
		kt_cli_ago(since, a, sizeof(a));
		printf("  up since %s (%s)", S(since), a);
	}
	putchar('\n');

	label(cli, "dns");
	printf("%s  domain %s\n", S(kt_cli_jstr(dns, "vip")),
	       S(kt_cli_jstr(dns, "cluster_domain")));
	const cJSON *sys = cJSON_GetObjectItemCaseSensitive(dns, "system_dns");
	const char *mode = kt_cli_jstr(sys, "mode");
	label(cli, "system dns");
	if (mode && strcmp(mode, "resolved") == 0)
		printf("%sresolved%s", KT_SGR(cli, KT_SGR_GREEN), KT_SGR(cli, KT_SGR_RESET));
	else if (mode)
		printf("%s%s%s", KT_SGR(cli, KT_SGR_YELLOW), S(mode), KT_SGR(cli, KT_SGR_RESET));
	else
		printf("-");
	const char *detail = kt_cli_jstr(sys, "detail");
	if (detail)
		printf(": %s", S(detail));
	putchar('\n');
	label(cli, "dns queries");
	if (kt_cli_jnum(dns, "queries_answered", &v))
		printf("%.0f answered", v);
	else
		printf("-");
	const cJSON *lq = cJSON_GetObjectItemCaseSensitive(dns, "last_query");
	if (cJSON_IsObject(lq)) {
		kt_cli_ago(kt_cli_jstr(lq, "at"), a, sizeof(a));
		printf("; last %s %s, %s", S(kt_cli_jstr(lq, "name")), S(kt_cli_jstr(lq, "type")),
		       a);
	}
	putchar('\n');

	label(cli, "cluster");
	printf("context %s  user %s  server %s\n", S(kt_cli_jstr(clu, "context")),
	       S(kt_cli_jstr(clu, "user")), S(kt_cli_jstr(clu, "server")));

	label(cli, "api");
	double w = 0, ws = 0;
	bool hw = kt_cli_jnum(api, "watches", &w), hs = kt_cli_jnum(api, "watches_synced", &ws);
	if (hw && hs)
		printf("%s%.0f/%.0f watches synced%s", ws < w ? KT_SGR(cli, KT_SGR_YELLOW) : "", ws,
		       w, ws < w ? KT_SGR(cli, KT_SGR_RESET) : "");
	else
		printf("-");
	const char *le = kt_cli_jstr(api, "last_error");
	if (le) {
		kt_cli_ago(kt_cli_jstr(api, "last_error_at"), b, sizeof(b));
		printf("; last error %s(%s)%s: %s%s%s", KT_SGR(cli, KT_SGR_DIM), b,
		       KT_SGR(cli, KT_SGR_RESET), KT_SGR(cli, KT_SGR_RED), S(le),
		       KT_SGR(cli, KT_SGR_RESET));
	} else {
		printf("; no error");
	}
	putchar('\n');
}

static const char *state_sgr(const char *state)
{
	if (!state)
		return NULL;
	if (strcmp(state, "ok") == 0)
		return KT_SGR_GREEN;
	if (strcmp(state, "no ready pod") == 0)
		return KT_SGR_YELLOW;
	return KT_SGR_RED;
}

/* "a,b,c,+2": up to three pod names. */
static void pods_cell(const cJSON *pods, char *out, size_t cap)
{
	size_t off = 0, n = 0, total = (size_t)cJSON_GetArraySize(pods);
	out[0] = '\0';
	const cJSON *p;
	cJSON_ArrayForEach(p, pods)
	{
		if (!cJSON_IsString(p))
			continue;
		if (n == 3) {
			snprintf(out + off, cap - off, ",+%zu", total - n);
			return;
		}
		int k = snprintf(out + off, cap - off, "%s%s", n ? "," : "", p->valuestring);
		if (k < 0 || (size_t)k >= cap - off)
			return;
		off += (size_t)k;
		n++;
	}
	if (n == 0)
		snprintf(out, cap, "-");
}

static int print_mappings(const struct kt_cli *cli, const cJSON *st)
{
	const cJSON *maps = cJSON_GetObjectItemCaseSensitive(st, "mappings");
	if (!cJSON_IsArray(maps) || cJSON_GetArraySize(maps) == 0) {
		printf("\nno mappings (add one: kubetun forward add svc/NAME -n NAMESPACE)\n");
		return 0;
	}
	struct kt_table *t = kt_table_new(10);
	if (!t)
		return -1;
	static const char *const head[] = {"HOSTNAME:PORT", "VIP",	 "TARGET", "NAMESPACE",
					   "PODS",	    "STATE",	 "CONNS",  "IN",
					   "OUT",	    "LAST ERROR"};
	int rc = kt_table_row(t);
	for (size_t i = 0; i < 10 && rc == 0; i++)
		rc = kt_table_cell(t, head[i], NULL);
	const cJSON *m;
	cJSON_ArrayForEach(m, maps)
	{
		struct safebuf sb = {.i = 0};
		char buf[512], b1[32], b2[32], ago[64];
		double port = 0, act = 0, tot = 0, bin = 0, bout = 0;
		bool hp = kt_cli_jnum(m, "port", &port);
		bool ha = kt_cli_jnum(m, "active", &act), ht = kt_cli_jnum(m, "total", &tot);
		bool hi = kt_cli_jnum(m, "bytes_in", &bin), ho = kt_cli_jnum(m, "bytes_out", &bout);
		const char *state = kt_cli_jstr(m, "state");
		const char *err = kt_cli_jstr(m, "last_error");
		rc |= kt_table_row(t);
		if (hp)
			rc |=
			    kt_table_cellf(t, NULL, "%s:%.0f", S(kt_cli_jstr(m, "hostname")), port);
		else
			rc |= kt_table_cell(t, S(kt_cli_jstr(m, "hostname")), NULL);
		rc |= kt_table_cell(t, S(kt_cli_jstr(m, "vip")), NULL);
		rc |= kt_table_cell(t, S(kt_cli_jstr(m, "target")), NULL);
		rc |= kt_table_cell(t, S(kt_cli_jstr(m, "namespace")), NULL);
		pods_cell(cJSON_GetObjectItemCaseSensitive(m, "pods"), buf, sizeof(buf));
		rc |= kt_table_cell(t, S(buf), NULL);
		rc |= kt_table_cell(t, S(state), state_sgr(state));
		if (ha && ht)
			rc |= kt_table_cellf(t, NULL, "%.0f/%.0f", act, tot);
		else
			rc |= kt_table_cell(t, "-", NULL);
		kt_cli_bytes(hi ? (uint64_t)bin : 0, b1, sizeof(b1));
		kt_cli_bytes(ho ? (uint64_t)bout : 0, b2, sizeof(b2));
		rc |= kt_table_cell(t, hi ? b1 : "-", NULL);
		rc |= kt_table_cell(t, ho ? b2 : "-", NULL);
		if (err) {
			kt_cli_ago(kt_cli_jstr(m, "last_error_at"), ago, sizeof(ago));
			rc |= kt_table_cellf(t, KT_SGR_RED, "%s (%s)", S(err), ago);
		} else {
			rc |= kt_table_cell(t, "-", NULL);
		}
	}
	if (rc == 0) {
		putchar('\n');
		kt_table_print(t, stdout, cli->colour);
	}
	kt_table_free(t);
	return rc ? -1 : 0;
}

/* Forwards whose target cannot be resolved have no mappings: they are listed with their
 * error below the table. */
static void print_forward_errors(const struct kt_cli *cli, const cJSON *st)
{
	const cJSON *fw = cJSON_GetObjectItemCaseSensitive(st, "forwards"), *f;
	bool first = true;
	cJSON_ArrayForEach(f, fw)
	{
		const char *err = kt_cli_jstr(f, "error");
		if (!err)
			continue;
		struct safebuf sb = {.i = 0};
		char ago[64];
		kt_cli_ago(kt_cli_jstr(f, "error_at"), ago, sizeof(ago));
		if (first)
			putchar('\n');
		first = false;
		const char *ns = kt_cli_jstr(f, "namespace");
		printf("%sforward %s%s%s%s: %s (%s)\n", KT_SGR(cli, KT_SGR_RED),
		       S(kt_cli_jstr(f, "target")), ns ? " in " : "", ns ? S(ns) : "",
		       KT_SGR(cli, KT_SGR_RESET), S(err), ago);
	}
}

int kt_cli_status(struct kt_cli *cli, int argc, char **argv)
{
	static char prog[] = "kubetun status";
	int rc;
	cJSON *st = kt_cli_query(cli, prog, argc, argv, usage_text, "status", &rc);
	if (!st)
		return rc;
	print_summary(cli, st);
	if (print_mappings(cli, st) < 0)
		rc = KT_CLI_FAILED;
	print_forward_errors(cli, st);
	cJSON_Delete(st);
	if (fflush(stdout) != 0)
		rc = KT_CLI_FAILED;
	return rc;
}
