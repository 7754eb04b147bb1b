/* ctl_stub.c: a stand-in for kubetund that serves only the control socket, for the CLI's tests
 * (tests/e2e/test_cli_basic.sh). It takes kubetund's options, so `kubetun up` can start it
 * (KUBETUND=ctl_stub), and answers:
 *   status       $CTL_STUB_STATUS (a JSON file) or a built-in sample of the documented schema,
 *                plus "stub": {"pid", "argv": [...], "kubeconfig_env"} telling how it was started
 *   forward.add / forward.rm / forward.ls
 *                against an in-memory list of forwards, seeded from --profile
 *   shutdown     stops it (so does SIGTERM)
 * With CTL_STUB_FAIL=1 it prints a kubetund-like error and exits 1 at once (up's failure path).
 * Exit status: 0 after shutdown, 1 on failure, 2 on usage. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "evloop.h"
#include "log.h"
#include "profile.h"

static const char help_text[] =
    "usage: ctl_stub [--socket PATH] [--profile FILE] [--kubeconfig FILE] [--context NAME]\n"
    "       [--state-dir DIR] [--exec-as-uid UID] [--exec-as-gid GID] [-v]\n"
    "\n"
    "A control-socket-only stand-in for kubetund (tests).\n";

struct stub {
	struct kt_evloop *loop;
	cJSON *forwards; /* owned: [{"target","namespace","ports"}] */
	cJSON *argv;	 /* owned */
	const char *context, *ns;
};

static struct kt_evloop *g_loop;

static void on_signal(int sig)
{
	(void)sig;
	if (g_loop)
		kt_evloop_stop(g_loop);
}

static cJSON *sample_status(void)
{
	static const char sample[] =
	    "{\"daemon\":{\"pid\":1,\"version\":\"0.1.0\",\"started_at\":\"2024-01-01T00:00:00Z\"},"
	    "\"tunnel\":{\"device\":\"kt0\",\"subnet\":\"198.19.0.0/16\",\"mtu\":16384,"
	    "\"up_since\":\"2024-01-01T00:00:00Z\"},"
	    "\"dns\":{\"vip\":\"198.19.0.53\",\"cluster_domain\":\"cluster.local\","
	    "\"system_dns\":{\"mode\":\"manual\",\"detail\":\"point cluster.local at "
	    "198.19.0.53\"},\"queries_answered\":42,\"last_query\":{\"name\":"
	    "\"web.shop.svc.cluster.local\",\"type\":\"A\",\"at\":\"2024-01-01T00:00:05Z\"}},"
	    "\"cluster\":{\"context\":\"dev\",\"server\":\"https://127.0.0.1:6443\",\"user\":"
	    "\"alice\"},"
	    "\"api\":{\"watches\":4,\"watches_synced\":4,\"last_error\":null,\"last_error_at\":"
	    "null},"
	    "\"mappings\":["
	    "{\"hostname\":\"web.shop.svc.cluster.local\",\"port\":80,\"vip\":\"198.19.12.7\","
	    "\"target\":\"svc/web\",\"namespace\":\"shop\",\"pods\":[\"web-1\",\"web-2\"],"
	    "\"state\":\"ok\",\"active\":1,\"total\":20,\"bytes_in\":1024,\"bytes_out\":5242880,"
	    "\"last_error\":null,\"last_error_at\":null},"
	    "{\"hostname\":\"web.shop.svc.cluster.local\",\"port\":443,\"vip\":\"198.19.12.7\","
	    "\"target\":\"svc/web\",\"namespace\":\"shop\",\"pods\":[\"web-1\",\"web-2\"],"
	    "\"state\":\"ok\",\"active\":0,\"total\":3,\"bytes_in\":10,\"bytes_out\":20,"
	    "\"last_error\":null,\"last_error_at\":null},"
	    "{\"hostname\":\"db.data.svc.cluster.local\",\"port\":5432,\"vip\":\"198.19.200.1\","
	    "\"target\":\"svc/db\",\"namespace\":\"data\",\"pods\":[],"
	    "\"state\":\"no ready pod\",\"active\":0,\"total\":2,\"bytes_in\":0,\"bytes_out\":0,"
	    "\"last_error\":\"pod db-0 refused port 5432\",\"last_error_at\":"
	    "\"2024-01-01T00:00:09Z\"}],"
	    "\"forwards\":["
	    "{\"target\":\"svc/web\",\"namespace\":\"shop\",\"ports\":[80,443],\"error\":null,"
	    "\"error_at\":null},"
	    "{\"target\":\"svc/db\",\"namespace\":\"data\",\"ports\":[],\"error\":null,"
	    "\"error_at\":null},"
	    "{\"target\":\"svc/gone\",\"namespace\":\"shop\",\"ports\":[],\"error\":"
	    "\"services \\\"gone\\\" not found\",\"error_at\":\"2024-01-01T00:00:01Z\"}]}";
	return cJSON_Parse(sample);
}

static cJSON *h_status(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct stub *s = arg;
	(void)req;
	const char *file = getenv("CTL_STUB_STATUS");
	cJSON *st = NULL;
	if (file && *file) {
		FILE *f = fopen(file, "r");
		char *buf = malloc(1 << 20);
		size_t n = f && buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
		if (f)
			fclose(f);
		if (buf) {
			buf[n] = '\0';
			st = cJSON_Parse(buf);
		}
		free(buf);
		if (!st) {
			snprintf(err, errcap, "cannot read %s", file);
			return NULL;
		}
	} else {
		st = sample_status();
	}
	cJSON *stub = cJSON_AddObjectToObject(st, "stub");
	cJSON_AddNumberToObject(stub, "pid", (double)getpid());
	cJSON_AddItemToObject(stub, "argv", cJSON_Duplicate(s->argv, 1));
	const char *kc = getenv("KUBECONFIG");
	if (kc)
		cJSON_AddStringToObject(stub, "kubeconfig_env", kc);
	else
		cJSON_AddNullToObject(stub, "kubeconfig_env");
	return st;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool same_ns(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static cJSON *h_add(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct stub *s = arg;
	const char *target = jstr(req, "target"), *ns = jstr(req, "namespace");
	if (!target) {
		snprintf(err, errcap, "forward.add needs a target");
		return NULL;
	}
	cJSON *res = cJSON_CreateObject();
	const cJSON *f;
	cJSON_ArrayForEach(f, s->forwards)
	{
		if (strcmp(jstr(f, "target"), target) == 0 && same_ns(jstr(f, "namespace"), ns)) {
			cJSON_AddFalseToObject(res, "changed");
			cJSON_AddStringToObject(res, "message", "already forwarded");
			return res;
		}
	}
	cJSON *nf = cJSON_CreateObject();
	cJSON_AddStringToObject(nf, "target", target);
	if (ns)
		cJSON_AddStringToObject(nf, "namespace", ns);
	else
		cJSON_AddNullToObject(nf, "namespace");
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(req, "ports");
	cJSON_AddItemToObject(nf, "ports", ports ? cJSON_Duplicate(ports, 1) : cJSON_CreateArray());
	cJSON_AddItemToArray(s->forwards, nf);
	cJSON_AddTrueToObject(res, "changed");
	char msg[512];
	snprintf(msg, sizeof(msg), "added %s", target);
	cJSON_AddStringToObject(res, "message", msg);
	return res;
}

static cJSON *h_rm(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct stub *s = arg;
	const char *name = jstr(req, "name"), *ns = jstr(req, "namespace");
	int i = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, s->forwards)
	{
		if (name && strcmp(jstr(f, "target"), name) == 0 &&
		    (!ns || same_ns(jstr(f, "namespace"), ns))) {
			cJSON_DeleteItemFromArray(s->forwards, i);
			cJSON *res = cJSON_CreateObject();
			cJSON_AddTrueToObject(res, "changed");
			char msg[512];
			snprintf(msg, sizeof(msg), "removed %s", name);
			cJSON_AddStringToObject(res, "message", msg);
			return res;
		}
		i++;
	}
	snprintf(err, errcap, "no forward matches %s", name ? name : "(nothing)");
	return NULL;
}

static cJSON *h_ls(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct stub *s = arg;
	(void)req;
	(void)err;
	(void)errcap;
	cJSON *res = cJSON_CreateObject();
	if (s->context)
		cJSON_AddStringToObject(res, "context", s->context);
	else
		cJSON_AddNullToObject(res, "context");
	if (s->ns)
		cJSON_AddStringToObject(res, "namespace", s->ns);
	else
		cJSON_AddNullToObject(res, "namespace");
	cJSON_AddItemToObject(res, "forwards", cJSON_Duplicate(s->forwards, 1));
	return res;
}

static cJSON *h_shutdown(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct stub *s = arg;
	(void)req;
	(void)err;
	(void)errcap;
	kt_evloop_stop(s->loop);
	cJSON *res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "message", "shutting down");
	return res;
}

static const struct kt_control_command commands[] = {
    {"status", h_status}, {"forward.add", h_add},   {"forward.rm", h_rm},
    {"forward.ls", h_ls}, {"shutdown", h_shutdown},
};

static int seed(struct stub *s, const char *file)
{
	char err[512];
	struct kt_profile *p = kt_profile_load(file, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "ctl_stub: %s\n", err);
		return -1;
	}
	static char ctx[256], ns[256];
	if (p->context) {
		snprintf(ctx, sizeof(ctx), "%s", p->context);
		s->context = ctx;
	}
	if (p->namespace) {
		snprintf(ns, sizeof(ns), "%s", p->namespace);
		s->ns = ns;
	}
	for (size_t i = 0; i < p->nforwards; i++) {
		const struct kt_profile_forward *f = &p->forwards[i];
		char target[512];
		snprintf(target, sizeof(target), "%s/%s", kt_profile_kind_name(f->kind), f->name);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "target", target);
		if (f->namespace)
			cJSON_AddStringToObject(o, "namespace", f->namespace);
		else
			cJSON_AddNullToObject(o, "namespace");
		cJSON *ports = cJSON_AddArrayToObject(o, "ports");
		for (size_t j = 0; j < f->nports; j++)
			cJSON_AddItemToArray(ports, cJSON_CreateNumber(f->ports[j]));
		cJSON_AddItemToArray(s->forwards, o);
	}
	kt_profile_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"profile", required_argument, NULL, 'p'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"context", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"exec-as-uid", required_argument, NULL, 'u'},
	    {"exec-as-gid", required_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct stub s = {0};
	const char *sock = KT_CONTROL_DEFAULT_PATH, *profile = NULL;
	int c, verbose = 0;
	s.argv = cJSON_CreateArray();
	for (int i = 1; i < argc; i++)
		cJSON_AddItemToArray(s.argv, cJSON_CreateString(argv[i]));
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'c':
			s.context = optarg;
			break;
		case 'k':
		case 'd':
		case 'u':
		case 'g':
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(help_text, stdout);
			cJSON_Delete(s.argv);
			return 0;
		default:
			cJSON_Delete(s.argv);
			return 2;
		}
	}
	kt_log_init("ctl_stub", verbose);
	const char *fail = getenv("CTL_STUB_FAIL");
	if (fail && strcmp(fail, "1") == 0) {
		fprintf(stderr, "kubetund: cannot create a TUN device: Operation not permitted\n");
		cJSON_Delete(s.argv);
		return 1;
	}
	s.forwards = cJSON_CreateArray();
	int rc = 1;
	char err[512];
	if (profile && seed(&s, profile) < 0)
		goto out;
	s.loop = g_loop = kt_evloop_new(err, sizeof(err));
	if (!s.loop) {
		fprintf(stderr, "ctl_stub: %s\n", err);
		goto out;
	}
	struct kt_control *ctl = kt_control_new(
	    s.loop, sock, commands, sizeof(commands) / sizeof(commands[0]), &s, err, sizeof(err));
	if (!ctl) {
		fprintf(stderr, "ctl_stub: %s\n", err);
		goto out;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "ctl_stub: listening on %s\n", sock);
	rc = kt_evloop_run(s.loop) < 0 ? 1 : 0;
	kt_control_free(ctl);
out:
	kt_evloop_free(s.loop);
	cJSON_Delete(s.forwards);
	cJSON_Delete(s.argv);
	return rc;
}
