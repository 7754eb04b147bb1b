/* daemon_ctl.c: the control commands of kubetund (see daemon_ctl.h and docs/CONTROL.md).
 *
 * Ownership: struct kt_dctl owns the control server (control.h) and a small table of the
 * forwards' current errors with the time each appeared (struct ferr, keyed by "ns/kind/name").
 * Everything else is the daemon's, read through the view. Every result object is built fresh
 * per request and handed to the control module. No credential is ever read here: the cluster
 * block shows the kubeconfig's names and the server URL only. */
#include "daemon_ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "dnssrv.h"
#include "evloop.h"
#include "k8s.h"
#include "kubeconfig.h"
#include "log.h"
#include "mapping.h"
#include "profile.h"
#include "targets.h"

struct ferr {
	char *key;   /* "ns/kind/name" */
	char *error; /* "" when none */
	time_t since;
};

struct kt_dctl {
	struct kt_dctl_config cfg;
	struct kt_control *ctl;
	struct ferr *errs;
	size_t nerrs;
};

/* ---- small helpers ---- */

static void fmt_ip(uint32_t ip, char *buf, size_t cap)
{
	struct in_addr a = {.s_addr = htonl(ip)};

	if (!inet_ntop(AF_INET, &a, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
}

/* name: value, or name: null for NULL/"" (the schema's "absent"). */
static cJSON *add_str_or_null(cJSON *o, const char *name, const char *v)
{
	return v && *v ? cJSON_AddStringToObject(o, name, v) : cJSON_AddNullToObject(o, name);
}

static const char *eff_ns(const struct kt_profile *p, const char *ns, const char *default_ns)
{
	if (ns)
		return ns;
	if (p->namespace)
		return p->namespace;
	return default_ns ? default_ns : "default";
}

/* RFC 1035 / 3596 / 2782 mnemonics for the types people query; TYPEnnn (RFC 3597) else. */
static void qtype_name(uint16_t t, char *buf, size_t cap)
{
	static const struct {
		uint16_t t;
		const char *n;
	} names[] = {{1, "A"},	   {2, "NS"},	  {5, "CNAME"}, {6, "SOA"},  {12, "PTR"},
		     {15, "MX"},   {16, "TXT"},	  {28, "AAAA"}, {33, "SRV"}, {41, "OPT"},
		     {64, "SVCB"}, {65, "HTTPS"}, {255, "ANY"}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == t) {
			snprintf(buf, cap, "%s", names[i].n);
			return;
		}
	snprintf(buf, cap, "TYPE%u", t);
}

static cJSON *ports_json(const uint16_t *ports, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(ports[i]))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

/* ---- forward.ls ---- */

cJSON *kt_dctl_forward_ls(const struct kt_profile *p)
{
	cJSON *r = cJSON_CreateObject(), *fw;

	if (!r || !add_str_or_null(r, "context", p->context) ||
	    !add_str_or_null(r, "namespace", p->namespace) ||
	    !(fw = cJSON_AddArrayToObject(r, "forwards")))
		goto fail;
	for (size_t i = 0; i < p->nforwards; i++) {
		const struct kt_profile_forward *f = &p->forwards[i];
		cJSON *o = cJSON_CreateObject(), *ports;
		char target[512];

		snprintf(target, sizeof(target), "%s/%s", kt_profile_kind_name(f->kind), f->name);
		if (!o || !cJSON_AddItemToArray(fw, o)) {
			cJSON_Delete(o);
			goto fail;
		}
		if (!cJSON_AddStringToObject(o, "target", target) ||
		    !add_str_or_null(o, "namespace", f->namespace) ||
		    !(ports = ports_json(f->ports, f->nports)) ||
		    !cJSON_AddItemToObject(o, "ports", ports))
			goto fail;
	}
	return r;
fail:
	cJSON_Delete(r);
	return NULL;
}

/* ---- edits ---- */

/* What happens to forward i of the current set. */
struct fedit {
	bool drop;	 /* remove the forward */
	bool set_ports;	 /* replace its ports by ports/nports */
	uint16_t *ports; /* owned */
	size_t nports;
};

/* A copy of cur with the edits applied (edits may be NULL: a plain copy). NULL with the error
 * in msg. */
static struct kt_profile *rebuild(const struct kt_profile *cur, const struct fedit *edits,
				  char *msg, size_t msgcap)
{
	struct kt_profile *p = kt_profile_new();
	int r;

	if (!p || kt_profile_set_context(p, cur->context) ||
	    kt_profile_set_namespace(p, cur->namespace)) {
		snprintf(msg, msgcap, "out of memory");
		kt_profile_free(p);
		return NULL;
	}
	for (size_t i = 0; i < cur->nforwards; i++) {
		const struct kt_profile_forward *f = &cur->forwards[i];
		const struct fedit *e = edits ? &edits[i] : NULL;

		if (e && e->drop)
			continue;
		r = kt_profile_add(p, f->kind, f->name, f->namespace,
				   e && e->set_ports ? e->ports : f->ports,
				   e && e->set_ports ? e->nports : f->nports, msg, msgcap);
		if (r) {
			if (r == -ENOMEM)
				snprintf(msg, msgcap, "out of memory");
			kt_profile_free(p);
			return NULL;
		}
	}
	return p;
}

static long find_fwd(const struct kt_profile *p, const char *default_ns, enum kt_profile_kind kind,
		     const char *name, const char *ns)
{
	const char *want = eff_ns(p, ns, default_ns);

	for (size_t i = 0; i < p->nforwards; i++) {
		const struct kt_profile_forward *f = &p->forwards[i];

		if (f->kind == kind && strcmp(f->name, name) == 0 &&
		    strcmp(eff_ns(p, f->namespace, default_ns), want) == 0)
			return (long)i;
	}
	return -1;
}

/* The optional "namespace" of a request: NULL when absent or null; -EINVAL when invalid. */
static int req_namespace(const cJSON *req, const char **ns, char *msg, size_t msgcap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "namespace");

	*ns = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || !kt_profile_valid_namespace(v->valuestring)) {
		snprintf(msg, msgcap, "namespace must be a DNS-1123 label (a-z, 0-9, '-')");
		return -EINVAL;
	}
	*ns = v->valuestring;
	return 0;
}

int kt_dctl_edit_add(const struct kt_profile *cur, const char *default_ns, const cJSON *req,
		     struct kt_profile **next, char *msg, size_t msgcap)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "target");
	const cJSON *pv = cJSON_GetObjectItemCaseSensitive(req, "ports"), *e;
	enum kt_profile_kind kind;
	const char *name, *ns;
	uint16_t ports[64];
	size_t nports = 0;
	struct kt_profile *p;
	char perr[256];
	int r;

	*next = NULL;
	if (!cJSON_IsString(t) || !t->valuestring[0]) {
		snprintf(msg, msgcap, "forward.add needs a string \"target\" (e.g. svc/web)");
		return -EINVAL;
	}
	if (kt_profile_target_parse(t->valuestring, &kind, &name, perr, sizeof(perr))) {
		snprintf(msg, msgcap, "%s", perr);
		return -EINVAL;
	}
	if (!kt_profile_valid_name(kind, name)) {
		snprintf(msg, msgcap, "invalid %s name \"%.253s\"", kt_profile_kind_name(kind),
			 name);
		return -EINVAL;
	}
	if ((r = req_namespace(req, &ns, msg, msgcap)))
		return r;
	if (pv && !cJSON_IsNull(pv)) {
		if (!cJSON_IsArray(pv)) {
			snprintf(msg, msgcap, "ports must be an array of port numbers");
			return -EINVAL;
		}
		cJSON_ArrayForEach(e, pv)
		{
			if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 65535 ||
			    e->valuedouble != (double)(int)e->valuedouble) {
				snprintf(msg, msgcap, "ports must be numbers from 1 to 65535");
				return -EINVAL;
			}
			if (nports == sizeof(ports) / sizeof(ports[0])) {
				snprintf(msg, msgcap, "at most %zu ports per forward",
					 sizeof(ports) / sizeof(ports[0]));
				return -EINVAL;
			}
			ports[nports++] = (uint16_t)e->valueint;
		}
	}
	if (find_fwd(cur, default_ns, kind, name, ns) >= 0) {
		snprintf(msg, msgcap, "%s/%s in %s is already forwarded: nothing changed",
			 kt_profile_kind_name(kind), name, eff_ns(cur, ns, default_ns));
		return 0;
	}
	p = rebuild(cur, NULL, msg, msgcap);
	if (!p)
		return -ENOMEM;
	r = kt_profile_add(p, kind, name, ns, ports, nports, msg, msgcap);
	if (r == -EEXIST) {
		kt_profile_free(p);
		snprintf(msg, msgcap, "%s/%s in %s is already forwarded: nothing changed",
			 kt_profile_kind_name(kind), name, eff_ns(cur, ns, default_ns));
		return 0;
	}
	if (r) {
		if (r == -ENOMEM)
			snprintf(msg, msgcap, "out of memory");
		kt_profile_free(p);
		return r;
	}
	snprintf(msg, msgcap, "added %s/%s in %s", kt_profile_kind_name(kind), name,
		 eff_ns(cur, ns, default_ns));
	*next = p;
	return 1;
}

/* "shop/svc/web" style key of a forward (effective namespace). */
static void fwd_key(const struct kt_profile *p, const char *default_ns,
		    const struct kt_profile_forward *f, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s/%s", eff_ns(p, f->namespace, default_ns),
		 kt_profile_kind_name(f->kind), f->name);
}

/* The forward (index into p) an entry comes from: entries name it "kind/name" + namespace. */
static long entry_fwd(const struct kt_profile *p, const char *default_ns,
		      const struct kt_mapping_entry *e)
{
	char want[700], have[700];

	snprintf(want, sizeof(want), "%s/%s", e->ns, e->forward);
	for (size_t i = 0; i < p->nforwards; i++) {
		fwd_key(p, default_ns, &p->forwards[i], have, sizeof(have));
		if (strcmp(want, have) == 0)
			return (long)i;
	}
	return -1;
}

/* The port of forward f (in the profile's terms) that entry e publishes: Service ports for
 * svc/ forwards, pod ports for the others (a Service selecting a workload's pods publishes its
 * own port, which reaches the pod port its targetPort names). */
static uint16_t entry_port(const struct kt_profile_forward *f, const struct kt_mapping_entry *e)
{
	if (f->kind == KT_PROFILE_SERVICE || !e->npods)
		return e->port;
	return e->pods[0].port;
}

static bool has_port(const uint16_t *v, size_t n, uint16_t p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == p)
			return true;
	return false;
}

/* Lower-cases name into out without a trailing dot. */
static int norm_host(const char *name, size_t len, char *out, size_t cap)
{
	if (len && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= cap)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return 0;
}

static int rm_target(const struct kt_profile *cur, const char *default_ns, const char *arg,
		     const cJSON *req, struct kt_profile **next, char *msg, size_t msgcap)
{
	enum kt_profile_kind kind;
	const char *name, *ns;
	struct fedit *ed;
	char perr[256];
	long i;
	int r;

	if (kt_profile_target_parse(arg, &kind, &name, perr, sizeof(perr))) {
		snprintf(msg, msgcap, "%s", perr);
		return -EINVAL;
	}
	if ((r = req_namespace(req, &ns, msg, msgcap)))
		return r;
	i = find_fwd(cur, default_ns, kind, name, ns);
	if (i < 0) {
		snprintf(msg, msgcap, "no forward matches %.300s", arg);
		return -ENOENT;
	}
	ed = calloc(cur->nforwards, sizeof(*ed));
	if (!ed) {
		snprintf(msg, msgcap, "out of memory");
		return -ENOMEM;
	}
	ed[i].drop = true;
	*next = rebuild(cur, ed, msg, msgcap);
	free(ed);
	if (!*next)
		return -ENOMEM;
	snprintf(msg, msgcap, "removed %s/%s in %s", kt_profile_kind_name(kind), name,
		 eff_ns(cur, ns, default_ns));
	return 1;
}

int kt_dctl_edit_rm(const struct kt_profile *cur, const char *default_ns,
		    const struct kt_snapshot *snap, const char *domain, const cJSON *req,
		    struct kt_profile **next, char *msg, size_t msgcap)
{
	const cJSON *nv = cJSON_GetObjectItemCaseSensitive(req, "name");
	const char *arg, *colon;
	char host[300], cand[3][600], what[700];
	size_t n = snap ? kt_snapshot_count(snap) : 0, hl, ndropped = 0, nfw = 0;
	struct fedit *ed = NULL;
	const char *found = NULL;
	unsigned long port = 0;
	int rc = -ENOMEM;

	*next = NULL;
	if (!cJSON_IsString(nv) || !nv->valuestring[0]) {
		snprintf(msg, msgcap,
			 "forward.rm needs a string \"name\" (HOSTNAME[:PORT] or TYPE/NAME)");
		return -EINVAL;
	}
	arg = nv->valuestring;
	if (strchr(arg, '/'))
		return rm_target(cur, default_ns, arg, req, next, msg, msgcap);
	/* HOSTNAME[:PORT] */
	colon = strrchr(arg, ':');
	hl = colon ? (size_t)(colon - arg) : strlen(arg);
	if (colon) {
		char *end;

		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || port < 1 || port > 65535 ||
		    colon[1] == '+' || colon[1] == '-' || colon[1] == ' ') {
			snprintf(msg, msgcap, "invalid port in \"%.300s\"", arg);
			return -EINVAL;
		}
	}
	if (norm_host(arg, hl, host, sizeof(host))) {
		snprintf(msg, msgcap, "invalid host name \"%.300s\"", arg);
		return -EINVAL;
	}
	snprintf(cand[0], sizeof(cand[0]), "%s", host);
	snprintf(cand[1], sizeof(cand[1]), "%s.svc.%s", host, domain ? domain : "cluster.local");
	snprintf(cand[2], sizeof(cand[2]), "%s.%s", host, domain ? domain : "cluster.local");
	for (int c = 0; c < 3 && !found; c++)
		for (size_t i = 0; i < n && !found; i++) {
			const struct kt_mapping_entry *e = kt_snapshot_entry(snap, i);

			if (strcmp(e->hostname, cand[c]) == 0 && (!port || e->port == port))
				found = cand[c];
		}
	if (!found) {
		snprintf(msg, msgcap, "no forward matches %.300s", arg);
		return -ENOENT;
	}
	ed = calloc(cur->nforwards ? cur->nforwards : 1, sizeof(*ed));
	if (!ed)
		goto oom;
	/* The ports to drop, per forward. */
	for (size_t i = 0; i < n; i++) {
		const struct kt_mapping_entry *e = kt_snapshot_entry(snap, i);
		long f = entry_fwd(cur, default_ns, e);
		uint16_t pp;
		struct fedit *x;

		if (strcmp(e->hostname, found) != 0 || (port && e->port != port) || f < 0)
			continue;
		x = &ed[f];
		pp = entry_port(&cur->forwards[f], e);
		if (has_port(x->ports, x->nports, pp))
			continue;
		uint16_t *np = realloc(x->ports, (x->nports + 1) * sizeof(*np));
		if (!np)
			goto oom;
		x->ports = np;
		x->ports[x->nports++] = pp;
	}
	/* Turn "drop these" into "keep those", per forward. */
	what[0] = '\0';
	for (size_t f = 0; f < cur->nforwards; f++) {
		const struct kt_profile_forward *pf = &cur->forwards[f];
		struct fedit *x = &ed[f];
		uint16_t *keep;
		size_t nkeep = 0, cap;

		if (!x->nports)
			continue;
		nfw++;
		ndropped += x->nports;
		/* The ports the forward has now: its list, or every port it maps. */
		cap = pf->nports + n + 1;
		keep = calloc(cap, sizeof(*keep));
		if (!keep)
			goto oom;
		if (pf->nports) {
			for (size_t i = 0; i < pf->nports; i++)
				if (!has_port(x->ports, x->nports, pf->ports[i]))
					keep[nkeep++] = pf->ports[i];
		} else {
			for (size_t i = 0; i < n; i++) {
				const struct kt_mapping_entry *e = kt_snapshot_entry(snap, i);
				uint16_t pp;

				if (entry_fwd(cur, default_ns, e) != (long)f)
					continue;
				pp = entry_port(pf, e);
				if (!has_port(x->ports, x->nports, pp) &&
				    !has_port(keep, nkeep, pp))
					keep[nkeep++] = pp;
			}
		}
		if (!what[0])
			snprintf(what, sizeof(what), "%s/%s in %s", kt_profile_kind_name(pf->kind),
				 pf->name, eff_ns(cur, pf->namespace, default_ns));
		free(x->ports);
		x->ports = keep;
		x->nports = nkeep;
		if (nkeep)
			x->set_ports = true;
		else
			x->drop = true;
	}
	if (!nfw) {
		snprintf(msg, msgcap, "no forward matches %.300s", arg);
		rc = -ENOENT;
		goto out;
	}
	*next = rebuild(cur, ed, msg, msgcap);
	if (!*next)
		goto out;
	{
		bool whole = true;

		for (size_t f = 0; f < cur->nforwards; f++)
			if (ed[f].set_ports)
				whole = false;
		if (whole)
			snprintf(msg, msgcap, "removed %s%s (%s)", what,
				 nfw > 1 ? " and others" : "", found);
		else if (port)
			snprintf(msg, msgcap, "removed %s:%lu (port dropped from %s)", found, port,
				 what);
		else
			snprintf(msg, msgcap, "removed %s (%zu port%s dropped from %s%s)", found,
				 ndropped, ndropped == 1 ? "" : "s", what,
				 nfw > 1 ? " and others" : "");
	}
	rc = 1;
	goto out;
oom:
	snprintf(msg, msgcap, "out of memory");
	rc = -ENOMEM;
out:
	for (size_t f = 0; ed && f < cur->nforwards; f++)
		free(ed[f].ports);
	free(ed);
	return rc;
}

/* ---- forward errors and their times ---- */

static struct ferr *ferr_find(struct kt_dctl *c, const char *key)
{
	for (size_t i = 0; i < c->nerrs; i++)
		if (strcmp(c->errs[i].key, key) == 0)
			return &c->errs[i];
	return NULL;
}

void kt_dctl_note_rebuild(struct kt_dctl *c)
{
	const struct kt_dctl_view *v = c->cfg.view;
	size_t n = v->targets ? kt_targets_count(v->targets) : 0;
	struct ferr *ne = n ? calloc(n, sizeof(*ne)) : NULL;
	time_t now = time(NULL);
	size_t k = 0;

	if (n && !ne)
		return; /* times stay as they were: out of memory is not worth more */
	for (size_t i = 0; i < n; i++) {
		struct kt_targets_status st;
		char key[700];
		struct ferr *old;

		kt_targets_status(v->targets, i, &st);
		snprintf(key, sizeof(key), "%s/%s", st.ns, st.target);
		old = ferr_find(c, key);
		ne[k].key = strdup(key);
		ne[k].error = strdup(st.error);
		if (!ne[k].key || !ne[k].error) {
			free(ne[k].key);
			free(ne[k].error);
			continue;
		}
		ne[k].since = old && strcmp(old->error, st.error) == 0 ? old->since : now;
		k++;
	}
	for (size_t i = 0; i < c->nerrs; i++) {
		free(c->errs[i].key);
		free(c->errs[i].error);
	}
	free(c->errs);
	c->errs = ne;
	c->nerrs = k;
}

/* ---- status ---- */

static cJSON *status_tunnel(const struct kt_dctl_view *v)
{
	cJSON *o = cJSON_CreateObject();
	char ip[INET_ADDRSTRLEN], cidr[32];

	if (!o)
		return NULL;
	fmt_ip(v->subnet, ip, sizeof(ip));
	snprintf(cidr, sizeof(cidr), "%s/%u", ip, v->prefix);
	if (!add_str_or_null(o, "device", v->tun_name) ||
	    !cJSON_AddStringToObject(o, "subnet", cidr) ||
	    !(v->mtu ? cJSON_AddNumberToObject(o, "mtu", v->mtu)
		     : cJSON_AddNullToObject(o, "mtu")) ||
	    !kt_control_add_time(o, "up_since", v->tun_up_since)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *status_dns(const struct kt_dctl_view *v)
{
	cJSON *o = cJSON_CreateObject(), *sd, *lq;
	struct kt_dnssrv_stats st = {0};
	char ip[INET_ADDRSTRLEN], type[16];

	if (!o)
		return NULL;
	if (v->dns)
		kt_dnssrv_get_stats(v->dns, &st);
	fmt_ip(v->dns_ip, ip, sizeof(ip));
	if (!cJSON_AddStringToObject(o, "vip", ip) ||
	    !add_str_or_null(o, "cluster_domain", v->cluster_domain) ||
	    !(sd = cJSON_AddObjectToObject(o, "system_dns")) ||
	    !add_str_or_null(sd, "mode", v->sysdns_mode) ||
	    !add_str_or_null(sd, "detail", v->sysdns_detail) ||
	    !cJSON_AddNumberToObject(o, "queries_answered", (double)st.answered))
		goto fail;
	if (!st.last_at || !st.last_name[0]) {
		if (!cJSON_AddNullToObject(o, "last_query"))
			goto fail;
	} else {
		qtype_name(st.last_type, type, sizeof(type));
		if (!(lq = cJSON_AddObjectToObject(o, "last_query")) ||
		    !cJSON_AddStringToObject(lq, "name", st.last_name) ||
		    !cJSON_AddStringToObject(lq, "type", type) ||
		    !kt_control_add_time(lq, "at", st.last_at))
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static cJSON *status_cluster(const struct kt_dctl_view *v)
{
	cJSON *o = cJSON_CreateObject();
	const char *server = v->k8s ? kt_k8s_server(v->k8s) : v->kc ? v->kc->server.url : NULL;

	if (!o || !add_str_or_null(o, "context", v->kc ? v->kc->context_name : NULL) ||
	    !add_str_or_null(o, "server", server) ||
	    !add_str_or_null(o, "user", v->kc ? v->kc->user_name : NULL)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *status_api(const struct kt_dctl_view *v)
{
	cJSON *o = cJSON_CreateObject();
	struct kt_k8s_health h = {0};
	time_t at = 0;

	if (!o)
		return NULL;
	if (v->k8s) {
		kt_k8s_health(v->k8s, &h);
		if (h.last_error[0]) {
			struct timespec ts;
			uint64_t mono;

			/* The client keeps monotonic times; the schema wants wall-clock ones. */
			clock_gettime(CLOCK_MONOTONIC, &ts);
			mono = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
			at =
			    time(NULL) -
			    (time_t)((mono > h.last_error_ms ? mono - h.last_error_ms : 0) / 1000u);
		}
	}
	if (!cJSON_AddNumberToObject(o, "watches", h.watches) ||
	    !cJSON_AddNumberToObject(o, "watches_synced", h.watches_synced) ||
	    !add_str_or_null(o, "last_error", h.last_error) ||
	    !kt_control_add_time(o, "last_error_at", h.last_error[0] ? at : 0)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static const char *entry_state(const struct kt_mapping_entry *e)
{
	if (!e->npods)
		return "no ready pod";
	return e->stats && e->stats->last_failed ? "error" : "ok";
}

static cJSON *status_mappings(const struct kt_dctl_view *v)
{
	cJSON *a = cJSON_CreateArray();
	const struct kt_snapshot *s = v->mapping ? kt_mapping_current(v->mapping) : NULL;
	size_t n = s ? kt_snapshot_count(s) : 0;

	for (size_t i = 0; a && i < n; i++) {
		const struct kt_mapping_entry *e = kt_snapshot_entry(s, i);
		const struct kt_mapping_stats *st = e->stats;
		cJSON *o = cJSON_CreateObject(), *pods;
		char ip[INET_ADDRSTRLEN];

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			goto fail;
		}
		fmt_ip(e->vip, ip, sizeof(ip));
		if (!cJSON_AddStringToObject(o, "hostname", e->hostname) ||
		    !cJSON_AddNumberToObject(o, "port", e->port) ||
		    !cJSON_AddStringToObject(o, "vip", ip) ||
		    !cJSON_AddStringToObject(o, "target", e->forward) ||
		    !cJSON_AddStringToObject(o, "namespace", e->ns) ||
		    !(pods = cJSON_AddArrayToObject(o, "pods")))
			goto fail;
		for (size_t k = 0; k < e->npods; k++)
			if (!cJSON_AddItemToArray(pods, cJSON_CreateString(e->pods[k].name)))
				goto fail;
		if (!cJSON_AddStringToObject(o, "state", entry_state(e)) ||
		    !cJSON_AddNumberToObject(o, "active", st ? st->conns_active : 0) ||
		    !cJSON_AddNumberToObject(o, "total", st ? (double)st->conns_total : 0) ||
		    !cJSON_AddNumberToObject(o, "bytes_in", st ? (double)st->bytes_in : 0) ||
		    !cJSON_AddNumberToObject(o, "bytes_out", st ? (double)st->bytes_out : 0) ||
		    !add_str_or_null(o, "last_error", st ? st->last_error : NULL) ||
		    !kt_control_add_time(o, "last_error_at", st ? st->last_error_time : 0))
			goto fail;
	}
	return a;
fail:
	cJSON_Delete(a);
	return NULL;
}

static cJSON *status_forwards(struct kt_dctl *c)
{
	const struct kt_dctl_view *v = c->cfg.view;
	cJSON *a = cJSON_CreateArray();
	size_t n = v->targets ? kt_targets_count(v->targets) : 0;

	if (v->profile && n != v->profile->nforwards)
		n = 0; /* mid-swap: never pair a forward with another's status */
	for (size_t i = 0; a && i < n; i++) {
		const struct kt_profile_forward *f = &v->profile->forwards[i];
		struct kt_targets_status st;
		cJSON *o = cJSON_CreateObject(), *ports;
		char key[700];
		const struct ferr *fe;

		kt_targets_status(v->targets, i, &st);
		snprintf(key, sizeof(key), "%s/%s", st.ns, st.target);
		fe = ferr_find(c, key);
		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			goto fail;
		}
		if (!cJSON_AddStringToObject(o, "target", st.target) ||
		    !cJSON_AddStringToObject(o, "namespace", st.ns) ||
		    !(ports = ports_json(f->ports, f->nports)) ||
		    !cJSON_AddItemToObject(o, "ports", ports) ||
		    !add_str_or_null(o, "error", st.error) ||
		    !kt_control_add_time(
			o, "error_at",
			st.error[0] && fe && strcmp(fe->error, st.error) == 0 ? fe->since : 0))
			goto fail;
	}
	return a;
fail:
	cJSON_Delete(a);
	return NULL;
}

cJSON *kt_dctl_status(struct kt_dctl *c)
{
	const struct kt_dctl_view *v = c->cfg.view;
	cJSON *r = cJSON_CreateObject(), *d, *part;

	if (!r || !(d = cJSON_AddObjectToObject(r, "daemon")) ||
	    !cJSON_AddNumberToObject(d, "pid", (double)getpid()) ||
	    !cJSON_AddStringToObject(d, "version", KT_DCTL_VERSION) ||
	    !kt_control_add_time(d, "started_at", v->started_at))
		goto fail;
	if (!(part = status_tunnel(v)) || !cJSON_AddItemToObject(r, "tunnel", part))
		goto fail_part;
	if (!(part = status_dns(v)) || !cJSON_AddItemToObject(r, "dns", part))
		goto fail_part;
	if (!(part = status_cluster(v)) || !cJSON_AddItemToObject(r, "cluster", part))
		goto fail_part;
	if (!(part = status_api(v)) || !cJSON_AddItemToObject(r, "api", part))
		goto fail_part;
	if (!(part = status_mappings(v)) || !cJSON_AddItemToObject(r, "mappings", part))
		goto fail_part;
	if (!(part = status_forwards(c)) || !cJSON_AddItemToObject(r, "forwards", part))
		goto fail_part;
	return r;
fail_part:
	cJSON_Delete(part);
fail:
	cJSON_Delete(r);
	return NULL;
}

/* ---- command handlers ---- */

static cJSON *message_result(bool changed, const char *msg)
{
	cJSON *r = cJSON_CreateObject();

	if (r && (!cJSON_AddBoolToObject(r, "changed", changed) ||
		  !cJSON_AddStringToObject(r, "message", msg))) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

static cJSON *cmd_status(void *arg, const cJSON *req, char *err, size_t errcap)
{
	cJSON *r = kt_dctl_status(arg);

	(void)req;
	if (!r)
		snprintf(err, errcap, "out of memory");
	return r;
}

static cJSON *cmd_ls(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct kt_dctl *c = arg;
	cJSON *r;

	(void)req;
	if (!c->cfg.view->profile) {
		snprintf(err, errcap, "kubetund is starting; try again in a moment");
		return NULL;
	}
	r = kt_dctl_forward_ls(c->cfg.view->profile);
	if (!r)
		snprintf(err, errcap, "out of memory");
	return r;
}

/* Adds what the new forward maps now to msg ("→ web.shop.svc.cluster.local:80, :443"), or why
 * it maps nothing yet. */
static void describe_added(struct kt_dctl *c, char *msg, size_t cap)
{
	const struct kt_dctl_view *v = c->cfg.view;
	const struct kt_profile *p = v->profile;
	const struct kt_profile_forward *f;
	const struct kt_snapshot *s;
	struct kt_targets_status st;
	size_t off = strlen(msg), shown = 0, n;
	char desc[300];
	const char *last = NULL;

	if (!p || !p->nforwards || !v->targets || kt_targets_count(v->targets) != p->nforwards ||
	    !v->mapping)
		return;
	f = &p->forwards[p->nforwards - 1];
	kt_targets_status(v->targets, p->nforwards - 1, &st);
	snprintf(desc, sizeof(desc), "%s/%s", kt_profile_kind_name(f->kind), f->name);
	s = kt_mapping_current(v->mapping);
	n = kt_snapshot_count(s);
	for (size_t i = 0; i < n && off < cap; i++) {
		const struct kt_mapping_entry *e = kt_snapshot_entry(s, i);
		int k;

		if (strcmp(e->forward, desc) != 0 || strcmp(e->ns, st.ns) != 0)
			continue;
		if (shown == 4) {
			k = snprintf(msg + off, cap - off, ", ...");
			off += k > 0 ? (size_t)k : 0;
			break;
		}
		if (last && strcmp(last, e->hostname) == 0)
			k = snprintf(msg + off, cap - off, ", :%u", e->port);
		else
			k = snprintf(msg + off, cap - off, "%s%s:%u", shown ? ", " : ": ",
				     e->hostname, e->port);
		last = e->hostname;
		shown++;
		off += k > 0 ? (size_t)k : 0;
	}
	if (!st.error[0] || off >= cap)
		return;
	if (shown)
		snprintf(msg + off, cap - off, "; %s", st.error);
	else
		snprintf(msg + off, cap - off, " (not resolved yet: %s)", st.error);
}

static cJSON *edit_apply(struct kt_dctl *c, int r, struct kt_profile *next, char *msg, char *err,
			 size_t errcap, bool added)
{
	if (r < 0) {
		snprintf(err, errcap, "%s", msg);
		return NULL;
	}
	if (r == 0)
		return message_result(false, msg);
	r = c->cfg.apply(c->cfg.arg, next, err, errcap);
	if (r)
		return NULL;
	if (added)
		describe_added(c, msg, 1024);
	kt_log_info("control: %s", msg);
	return message_result(true, msg);
}

/* Forward edits need the profile, the apply hook and the mapping, which exist once start-up
 * has got that far. */
static bool ready_for_edits(const struct kt_dctl *c, char *err, size_t errcap)
{
	const struct kt_dctl_view *v = c->cfg.view;

	if (v->profile && c->cfg.apply && v->mapping)
		return true;
	snprintf(err, errcap, "kubetund is starting; try again in a moment");
	return false;
}

static cJSON *cmd_add(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct kt_dctl *c = arg;
	const struct kt_dctl_view *v = c->cfg.view;
	struct kt_profile *next = NULL;
	char msg[1024];
	int r;

	if (!ready_for_edits(c, err, errcap))
		return NULL;
	r = kt_dctl_edit_add(v->profile, v->default_ns, req, &next, msg, sizeof(msg));
	return edit_apply(c, r, next, msg, err, errcap, true);
}

static cJSON *cmd_rm(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct kt_dctl *c = arg;
	const struct kt_dctl_view *v = c->cfg.view;
	struct kt_profile *next = NULL;
	char msg[1024];
	int r;

	if (!ready_for_edits(c, err, errcap))
		return NULL;
	r = kt_dctl_edit_rm(v->profile, v->default_ns, kt_mapping_current(v->mapping),
			    v->cluster_domain, req, &next, msg, sizeof(msg));
	return edit_apply(c, r, next, msg, err, errcap, false);
}

static cJSON *cmd_shutdown(void *arg, const cJSON *req, char *err, size_t errcap)
{
	struct kt_dctl *c = arg;
	cJSON *r = cJSON_CreateObject();

	(void)req;
	if (!r || !cJSON_AddStringToObject(r, "message", "shutting down")) {
		cJSON_Delete(r);
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	kt_log_info("control: shutdown requested");
	if (c->cfg.shutdown)
		c->cfg.shutdown(c->cfg.arg);
	return r;
}

static const struct kt_control_command commands[] = {
    {"status", cmd_status}, {"forward.add", cmd_add},	{"forward.rm", cmd_rm},
    {"forward.ls", cmd_ls}, {"shutdown", cmd_shutdown},
};

struct kt_dctl *kt_dctl_new(struct kt_evloop *loop, const char *path,
			    const struct kt_dctl_config *cfg, char *err, size_t errcap)
{
	struct kt_dctl *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	if (loop) {
		c->ctl = kt_control_new(loop, path, commands,
					sizeof(commands) / sizeof(commands[0]), c, err, errcap);
		if (!c->ctl) {
			free(c);
			return NULL;
		}
	}
	return c;
}

void kt_dctl_free(struct kt_dctl *c)
{
	if (!c)
		return;
	kt_control_free(c->ctl);
	for (size_t i = 0; i < c->nerrs; i++) {
		free(c->errs[i].key);
		free(c->errs[i].error);
	}
	free(c->errs);
	free(c);
}
