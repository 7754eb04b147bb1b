/* targets.c: watch-fed caches of Pods, Services and workloads, and the resolution of profile
 * forwards into mapping entries (see targets.h for the rules).
 *
 * Ownership: struct kt_targets owns one struct nscache per namespace the profile touches; each
 * owns, per resource, a strmap name → struct obj (the parsed object, owned) and the informer
 * (struct kt_k8s_watch) feeding it. Objects are parsed from the API's JSON once, when they
 * arrive, into the few fields resolution needs; the JSON is not kept. Per-forward status
 * strings are owned by struct fwd. Single-threaded: informer callbacks run on the loop. */
#include "targets.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "log.h"
#include "mapping.h"
#include "profile.h"
#include "strmap.h"

struct kv {
	char *k, *v;
};

struct cport {
	char *name; /* NULL if unnamed */
	uint16_t port;
	bool tcp;
};

struct sport {
	char *name;
	uint16_t port;
	bool tcp;
	uint16_t tp_num; /* numeric targetPort; 0 = same as port */
	char *tp_name;	 /* named targetPort, or NULL */
};

enum lop { OP_IN, OP_NOTIN, OP_EXISTS, OP_DOESNOTEXIST };

struct lexpr {
	char *key;
	enum lop op;
	char **vals;
	size_t nvals;
};

/* One parsed object. Which fields are filled depends on the resource. */
struct obj {
	char *name;
	struct kv *labels; /* pods: metadata.labels; workloads: spec.template labels */
	size_t nlabels;
	struct cport *cports; /* pods: containers' ports; workloads: the template's */
	size_t ncports;
	/* pods */
	char *hostname, *subdomain;
	bool ready, terminating, running;
	/* services */
	bool headless, external, pna;
	char *external_name;
	bool has_selector;
	struct kv *sel; /* services: spec.selector; workloads: matchLabels */
	size_t nsel;
	struct sport *sports;
	size_t nsports;
	/* workloads */
	struct lexpr *ex;
	size_t nex;
	bool bad_selector; /* an operator we do not know: matches nothing */
	char *service_name;
};

struct nscache;

struct watchctx {
	struct kt_targets *t;
	struct nscache *nc;
	enum kt_targets_res res;
	struct kt_k8s_watch *w;
	char last_error[256];
};

struct nscache {
	char *ns;
	bool needed[KT_TARGETS_NRES];
	bool synced[KT_TARGETS_NRES];
	struct kt_strmap *objs[KT_TARGETS_NRES];
	struct watchctx wctx[KT_TARGETS_NRES];
	/* During an emit only: "key=value" → struct podlist of the pods carrying that label,
	 * so a selector looks at the pods of its rarest pair instead of every pod. */
	struct kt_strmap *label_idx;
};

struct fwd {
	const struct kt_profile_forward *pf;
	const char *ns;
	struct nscache *nc;
	char desc[300];
	char *error; /* "" or malloc'd text */
	size_t mappings, ready_pods;
};

struct kt_targets {
	struct kt_targets_config cfg;
	char *domain;
	struct nscache **ns;
	size_t nns;
	struct fwd *fwds;
	size_t nfwds;
};

/* Collection paths: <group prefix>/namespaces/<ns>/<resource>. */
static const char *const res_group[KT_TARGETS_NRES] = {
    "/api/v1", "/api/v1", "/apis/apps/v1", "/apis/apps/v1", "/apis/apps/v1",
};
static const char *const res_name[KT_TARGETS_NRES] = {
    "pods", "services", "deployments", "statefulsets", "daemonsets",
};

/* kubectl's NotFound wording: `<resource>[.<group>] "<name>" not found` (protocol.md 5.7). */
/* The status of a forward whose caches have not listed yet. */
#define WAITING "waiting for the API server"

static const char *const res_notfound[KT_TARGETS_NRES] = {
    "pods", "services", "deployments.apps", "statefulsets.apps", "daemonsets.apps",
};

/* ---- object parsing ---- */

static void free_kvs(struct kv *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].k);
		free(v[i].v);
	}
	free(v);
}

static void free_cports(struct cport *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

static void obj_free(struct obj *o)
{
	if (!o)
		return;
	free(o->name);
	free_kvs(o->labels, o->nlabels);
	free_cports(o->cports, o->ncports);
	free(o->hostname);
	free(o->subdomain);
	free(o->external_name);
	free_kvs(o->sel, o->nsel);
	for (size_t i = 0; i < o->nsports; i++) {
		free(o->sports[i].name);
		free(o->sports[i].tp_name);
	}
	free(o->sports);
	for (size_t i = 0; i < o->nex; i++) {
		free(o->ex[i].key);
		for (size_t j = 0; j < o->ex[i].nvals; j++)
			free(o->ex[i].vals[j]);
		free(o->ex[i].vals);
	}
	free(o->ex);
	free(o->service_name);
	free(o);
}

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* strdup that tolerates NULL (returns NULL, *ok untouched) and records failures in *ok. */
static char *dup_or_null(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

/* A JSON number that is a whole port number 1..65535, else 0. */
static uint16_t jport(const cJSON *v)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 65535 ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return 0;
	return (uint16_t)v->valueint;
}

/* A string map (labels, selector) into a kv array. */
static int parse_kvs(const cJSON *m, struct kv **out, size_t *n)
{
	const cJSON *it;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsObject(m))
		return 0;
	cJSON_ArrayForEach(it, m) cnt++;
	if (!cnt)
		return 0;
	*out = calloc(cnt, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	cJSON_ArrayForEach(it, m)
	{
		if (!cJSON_IsString(it) || !it->string)
			continue;
		(*out)[*n].k = strdup(it->string);
		(*out)[*n].v = strdup(it->valuestring);
		if (!(*out)[*n].k || !(*out)[*n].v) {
			(*n)++;
			return -ENOMEM;
		}
		(*n)++;
	}
	return 0;
}

/* spec.containers[].ports[] (regular containers only, as kubectl looks them up). */
static int parse_cports(const cJSON *spec, struct cport **out, size_t *n)
{
	const cJSON *c, *p, *containers = jget(spec, "containers");
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	cJSON_ArrayForEach(c, containers) cJSON_ArrayForEach(p, jget(c, "ports")) cnt++;
	if (!cnt)
		return 0;
	*out = calloc(cnt, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	cJSON_ArrayForEach(c, containers)
	{
		cJSON_ArrayForEach(p, jget(c, "ports"))
		{
			uint16_t port = jport(jget(p, "containerPort"));
			const char *proto = jstr(p, "protocol"), *name = jstr(p, "name");
			bool ok = true;

			if (!port)
				continue;
			(*out)[*n].port = port;
			(*out)[*n].tcp = !proto || strcmp(proto, "TCP") == 0;
			(*out)[*n].name = dup_or_null(name && *name ? name : NULL, &ok);
			(*n)++;
			if (!ok)
				return -ENOMEM;
		}
	}
	return 0;
}

static bool cond_true(const cJSON *status, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, jget(status, "conditions"))
	{
		const char *t = jstr(c, "type"), *s = jstr(c, "status");

		if (t && s && strcmp(t, type) == 0)
			return strcmp(s, "True") == 0;
	}
	return false;
}

static int parse_pod(const cJSON *j, struct obj *o)
{
	const cJSON *md = jget(j, "metadata"), *spec = jget(j, "spec"), *st = jget(j, "status");
	const cJSON *del = jget(md, "deletionTimestamp");
	const char *phase = jstr(st, "phase");
	bool ok = true;

	o->terminating = del && !cJSON_IsNull(del);
	o->ready = cond_true(st, "Ready");
	o->running = phase && strcmp(phase, "Running") == 0;
	o->hostname = dup_or_null(jstr(spec, "hostname"), &ok);
	o->subdomain = dup_or_null(jstr(spec, "subdomain"), &ok);
	if (!ok || parse_kvs(jget(md, "labels"), &o->labels, &o->nlabels) ||
	    parse_cports(spec, &o->cports, &o->ncports))
		return -ENOMEM;
	return 0;
}

static int parse_service(const cJSON *j, struct obj *o)
{
	const cJSON *spec = jget(j, "spec"), *sel = jget(spec, "selector"), *p;
	const char *type = jstr(spec, "type"), *cip = jstr(spec, "clusterIP");
	const cJSON *pna = jget(spec, "publishNotReadyAddresses");
	size_t cnt = 0;
	bool ok = true;

	o->external = type && strcmp(type, "ExternalName") == 0;
	o->headless = cip && strcmp(cip, "None") == 0;
	o->pna = cJSON_IsTrue(pna);
	o->external_name = dup_or_null(jstr(spec, "externalName"), &ok);
	if (!ok || parse_kvs(sel, &o->sel, &o->nsel))
		return -ENOMEM;
	o->has_selector = o->nsel > 0;
	cJSON_ArrayForEach(p, jget(spec, "ports")) cnt++;
	if (!cnt)
		return 0;
	o->sports = calloc(cnt, sizeof(*o->sports));
	if (!o->sports)
		return -ENOMEM;
	cJSON_ArrayForEach(p, jget(spec, "ports"))
	{
		struct sport *sp = &o->sports[o->nsports];
		const cJSON *tp = jget(p, "targetPort");
		const char *proto = jstr(p, "protocol"), *name = jstr(p, "name");

		sp->port = jport(jget(p, "port"));
		if (!sp->port)
			continue;
		sp->tcp = !proto || strcmp(proto, "TCP") == 0;
		sp->name = dup_or_null(name && *name ? name : NULL, &ok);
		/* IntOrString: a JSON string is a port name even when it looks numeric
		 * (protocol.md 5.1). */
		if (cJSON_IsString(tp))
			sp->tp_name = dup_or_null(tp->valuestring, &ok);
		else
			sp->tp_num = jport(tp);
		o->nsports++;
		if (!ok)
			return -ENOMEM;
	}
	return 0;
}

static int parse_workload(const cJSON *j, struct obj *o)
{
	const cJSON *spec = jget(j, "spec"), *sel = jget(spec, "selector"), *e;
	const cJSON *tmpl = jget(spec, "template");
	size_t cnt = 0;
	bool ok = true;

	o->service_name = dup_or_null(jstr(spec, "serviceName"), &ok);
	if (!ok || parse_kvs(jget(sel, "matchLabels"), &o->sel, &o->nsel) ||
	    parse_kvs(jget(jget(tmpl, "metadata"), "labels"), &o->labels, &o->nlabels) ||
	    parse_cports(jget(tmpl, "spec"), &o->cports, &o->ncports))
		return -ENOMEM;
	cJSON_ArrayForEach(e, jget(sel, "matchExpressions")) cnt++;
	if (!cnt)
		return 0;
	o->ex = calloc(cnt, sizeof(*o->ex));
	if (!o->ex)
		return -ENOMEM;
	cJSON_ArrayForEach(e, jget(sel, "matchExpressions"))
	{
		struct lexpr *x = &o->ex[o->nex];
		const char *key = jstr(e, "key"), *op = jstr(e, "operator");
		const cJSON *v, *vals = jget(e, "values");
		size_t nv = 0;

		if (!key || !op) {
			o->bad_selector = true;
			continue;
		}
		if (strcmp(op, "In") == 0)
			x->op = OP_IN;
		else if (strcmp(op, "NotIn") == 0)
			x->op = OP_NOTIN;
		else if (strcmp(op, "Exists") == 0)
			x->op = OP_EXISTS;
		else if (strcmp(op, "DoesNotExist") == 0)
			x->op = OP_DOESNOTEXIST;
		else {
			o->bad_selector = true;
			continue;
		}
		x->key = strdup(key);
		o->nex++;
		if (!x->key)
			return -ENOMEM;
		cJSON_ArrayForEach(v, vals) nv++;
		if (!nv)
			continue;
		x->vals = calloc(nv, sizeof(*x->vals));
		if (!x->vals)
			return -ENOMEM;
		cJSON_ArrayForEach(v, vals)
		{
			if (!cJSON_IsString(v))
				continue;
			x->vals[x->nvals] = strdup(v->valuestring);
			if (!x->vals[x->nvals++])
				return -ENOMEM;
		}
	}
	return 0;
}

/* Parses an API object of resource res. NULL with *nomem set on allocation failure, NULL
 * without it when the object has no name. */
static struct obj *obj_parse(enum kt_targets_res res, const cJSON *j, bool *nomem)
{
	const char *name = jstr(jget(j, "metadata"), "name");
	struct obj *o;
	int r;

	*nomem = false;
	if (!name || !*name)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->name = strdup(name))) {
		free(o);
		*nomem = true;
		return NULL;
	}
	if (res == KT_TARGETS_PODS)
		r = parse_pod(j, o);
	else if (res == KT_TARGETS_SERVICES)
		r = parse_service(j, o);
	else
		r = parse_workload(j, o);
	if (r) {
		obj_free(o);
		*nomem = true;
		return NULL;
	}
	return o;
}

/* ---- caches ---- */

static void cache_clear(struct kt_strmap *m)
{
	size_t pos = 0;
	const char *k;
	void *v;

	while (kt_strmap_next(m, &pos, &k, &v))
		obj_free(v);
	kt_strmap_clear(m);
}

static struct nscache *find_ns(const struct kt_targets *t, const char *ns)
{
	for (size_t i = 0; i < t->nns; i++)
		if (strcmp(t->ns[i]->ns, ns) == 0)
			return t->ns[i];
	return NULL;
}

static void notify(struct kt_targets *t)
{
	if (t->cfg.changed)
		t->cfg.changed(t->cfg.arg);
}

int kt_targets_feed_sync(struct kt_targets *t, const char *ns, enum kt_targets_res res,
			 const cJSON *items)
{
	struct nscache *nc = find_ns(t, ns);
	const cJSON *it;
	int rc = 0;

	if (!nc || res >= KT_TARGETS_NRES || !nc->needed[res])
		return 0;
	cache_clear(nc->objs[res]);
	cJSON_ArrayForEach(it, items)
	{
		bool nomem;
		struct obj *o = obj_parse(res, it, &nomem), *old;

		if (!o) {
			if (nomem)
				rc = -ENOMEM;
			continue;
		}
		if (kt_strmap_put(nc->objs[res], o->name, o, (void **)&old)) {
			obj_free(o);
			rc = -ENOMEM;
			continue;
		}
		obj_free(old);
	}
	nc->synced[res] = true;
	notify(t);
	return rc;
}

int kt_targets_feed_event(struct kt_targets *t, const char *ns, enum kt_targets_res res,
			  const char *type, const cJSON *obj)
{
	struct nscache *nc = find_ns(t, ns);
	const char *name = jstr(jget(obj, "metadata"), "name");
	bool nomem;
	struct obj *o, *old;

	if (!nc || res >= KT_TARGETS_NRES || !nc->needed[res] || !name || !type)
		return 0;
	if (strcmp(type, "DELETED") == 0) {
		obj_free(kt_strmap_del(nc->objs[res], name));
		notify(t);
		return 0;
	}
	if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0)
		return 0;
	o = obj_parse(res, obj, &nomem);
	if (!o)
		return nomem ? -ENOMEM : 0;
	if (kt_strmap_put(nc->objs[res], o->name, o, (void **)&old)) {
		obj_free(o);
		return -ENOMEM;
	}
	obj_free(old);
	notify(t);
	return 0;
}

static void w_sync(void *arg, const cJSON *items)
{
	struct watchctx *w = arg;

	if (kt_targets_feed_sync(w->t, w->nc->ns, w->res, items))
		kt_log_warnx("%s/%s: out of memory caching objects", w->nc->ns,
			     res_notfound[w->res]);
	w->last_error[0] = '\0';
}

static void w_event(void *arg, const char *type, const cJSON *obj)
{
	struct watchctx *w = arg;

	if (kt_targets_feed_event(w->t, w->nc->ns, w->res, type, obj))
		kt_log_warnx("%s/%s: out of memory caching objects", w->nc->ns,
			     res_notfound[w->res]);
}

static void w_error(void *arg, const char *msg)
{
	struct watchctx *w = arg;

	if (strncmp(w->last_error, msg, sizeof(w->last_error) - 1) == 0) {
		kt_log_debug("watch %s in %s: %s", res_notfound[w->res], w->nc->ns, msg);
		return;
	}
	snprintf(w->last_error, sizeof(w->last_error), "%s", msg);
	kt_log_warnx("watch %s in %s: %s (retrying)", res_notfound[w->res], w->nc->ns, msg);
}

static const struct kt_k8s_watch_ops watch_ops = {
    .on_sync = w_sync,
    .on_event = w_event,
    .on_error = w_error,
};

/* ---- construction ---- */

static enum kt_targets_res kind_res(enum kt_profile_kind k)
{
	switch (k) {
	case KT_PROFILE_DEPLOYMENT:
		return KT_TARGETS_DEPLOYMENTS;
	case KT_PROFILE_STATEFULSET:
		return KT_TARGETS_STATEFULSETS;
	case KT_PROFILE_DAEMONSET:
		return KT_TARGETS_DAEMONSETS;
	case KT_PROFILE_SERVICE:
		return KT_TARGETS_SERVICES;
	case KT_PROFILE_POD:
	default:
		return KT_TARGETS_PODS;
	}
}

static struct nscache *add_ns(struct kt_targets *t, const char *ns)
{
	struct nscache *nc = find_ns(t, ns), **v;

	if (nc)
		return nc;
	v = realloc(t->ns, (t->nns + 1) * sizeof(*v));
	if (!v)
		return NULL;
	t->ns = v;
	nc = calloc(1, sizeof(*nc));
	if (!nc || !(nc->ns = strdup(ns))) {
		free(nc);
		return NULL;
	}
	t->ns[t->nns++] = nc;
	for (int r = 0; r < KT_TARGETS_NRES; r++) {
		nc->objs[r] = kt_strmap_new();
		nc->wctx[r] = (struct watchctx){.t = t, .nc = nc, .res = (enum kt_targets_res)r};
		if (!nc->objs[r])
			return NULL;
	}
	/* Every forward needs the namespace's pods and services (services to publish the names
	 * of those selecting a workload's pods). */
	nc->needed[KT_TARGETS_PODS] = nc->needed[KT_TARGETS_SERVICES] = true;
	return nc;
}

void kt_targets_free(struct kt_targets *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nns; i++) {
		struct nscache *nc = t->ns[i];

		if (!nc)
			continue;
		for (int r = 0; r < KT_TARGETS_NRES; r++) {
			kt_k8s_watch_stop(nc->wctx[r].w);
			if (nc->objs[r]) {
				cache_clear(nc->objs[r]);
				kt_strmap_free(nc->objs[r]);
			}
		}
		free(nc->ns);
		free(nc);
	}
	free(t->ns);
	for (size_t i = 0; i < t->nfwds; i++)
		free(t->fwds[i].error);
	free(t->fwds);
	free(t->domain);
	free(t);
}

struct kt_targets *kt_targets_new(const struct kt_targets_config *cfg)
{
	struct kt_targets *t = calloc(1, sizeof(*t));
	const struct kt_profile *p = cfg->profile;

	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->domain = strdup(cfg->cluster_domain ? cfg->cluster_domain : "cluster.local");
	if (!t->domain)
		goto fail;
	if (p->nforwards) {
		t->fwds = calloc(p->nforwards, sizeof(*t->fwds));
		if (!t->fwds)
			goto fail;
	}
	t->nfwds = p->nforwards;
	for (size_t i = 0; i < p->nforwards; i++) {
		struct fwd *f = &t->fwds[i];

		f->pf = &p->forwards[i];
		/* A forward's namespace, else the profile's, else the context's. */
		const char *ns = f->pf->namespace ? f->pf->namespace : p->namespace;

		if (!ns)
			ns = cfg->default_ns ? cfg->default_ns : "default";
		f->nc = add_ns(t, ns);
		if (!f->nc)
			goto fail;
		f->ns = f->nc->ns;
		f->nc->needed[kind_res(f->pf->kind)] = true;
		snprintf(f->desc, sizeof(f->desc), "%s/%s", kt_profile_kind_name(f->pf->kind),
			 f->pf->name);
	}
	if (cfg->k8s) {
		for (size_t i = 0; i < t->nns; i++) {
			struct nscache *nc = t->ns[i];

			for (int r = 0; r < KT_TARGETS_NRES; r++) {
				char path[512];

				if (!nc->needed[r])
					continue;
				snprintf(path, sizeof(path), "%s/namespaces/%s/%s", res_group[r],
					 nc->ns, res_name[r]);
				nc->wctx[r].w = kt_k8s_watch_start(cfg->k8s, path, NULL, &watch_ops,
								   &nc->wctx[r]);
				if (!nc->wctx[r].w)
					goto fail;
			}
		}
	}
	return t;
fail:
	kt_targets_free(t);
	return NULL;
}

/* Starts the informers a namespace needs and does not run yet, stops those it no longer
 * needs (dropping their cache). -ENOMEM when one cannot be started (it is retried on the next
 * reconcile; its forwards stay "waiting"). */
static int reconcile_watches(struct kt_targets *t, struct nscache *nc)
{
	int rc = 0;

	for (int r = 0; r < KT_TARGETS_NRES; r++) {
		char path[512];

		if (!nc->needed[r]) {
			if (nc->wctx[r].w) {
				kt_k8s_watch_stop(nc->wctx[r].w);
				nc->wctx[r].w = NULL;
			}
			if (nc->objs[r])
				cache_clear(nc->objs[r]);
			nc->synced[r] = false;
			continue;
		}
		if (!nc->objs[r]) {
			rc = -ENOMEM; /* left by an add_ns that ran out of memory */
			continue;
		}
		if (nc->wctx[r].w || !t->cfg.k8s)
			continue;
		snprintf(path, sizeof(path), "%s/namespaces/%s/%s", res_group[r], nc->ns,
			 res_name[r]);
		nc->wctx[r].w =
		    kt_k8s_watch_start(t->cfg.k8s, path, NULL, &watch_ops, &nc->wctx[r]);
		if (!nc->wctx[r].w)
			rc = -ENOMEM;
	}
	return rc;
}

int kt_targets_set_profile(struct kt_targets *t, const struct kt_profile *p)
{
	struct fwd *nf = NULL;

	if (p->nforwards && !(nf = calloc(p->nforwards, sizeof(*nf))))
		return -ENOMEM;
	for (size_t i = 0; i < p->nforwards; i++) {
		struct fwd *f = &nf[i];
		const char *ns = p->forwards[i].namespace ? p->forwards[i].namespace : p->namespace;

		if (!ns)
			ns = t->cfg.default_ns ? t->cfg.default_ns : "default";
		f->pf = &p->forwards[i];
		f->nc = add_ns(t, ns);
		if (!f->nc) {
			for (size_t j = 0; j < i; j++)
				free(nf[j].error);
			free(nf);
			return -ENOMEM; /* unused namespaces added so far go at the next call */
		}
		f->ns = f->nc->ns;
		snprintf(f->desc, sizeof(f->desc), "%s/%s", kt_profile_kind_name(f->pf->kind),
			 f->pf->name);
		/* A forward that stays keeps its state, so its error is not logged again. */
		for (size_t j = 0; j < t->nfwds; j++) {
			struct fwd *o = &t->fwds[j];

			if (o->error && o->nc == f->nc && o->pf->kind == f->pf->kind &&
			    strcmp(o->pf->name, f->pf->name) == 0) {
				f->error = o->error;
				o->error = NULL;
				f->mappings = o->mappings;
				f->ready_pods = o->ready_pods;
				break;
			}
		}
	}
	for (size_t j = 0; j < t->nfwds; j++)
		free(t->fwds[j].error);
	free(t->fwds);
	t->fwds = nf;
	t->nfwds = p->nforwards;
	t->cfg.profile = p;
	/* What each namespace needs now. */
	for (size_t i = 0; i < t->nns; i++)
		memset(t->ns[i]->needed, 0, sizeof(t->ns[i]->needed));
	for (size_t i = 0; i < t->nfwds; i++) {
		struct nscache *nc = t->fwds[i].nc;

		nc->needed[KT_TARGETS_PODS] = nc->needed[KT_TARGETS_SERVICES] = true;
		nc->needed[kind_res(t->fwds[i].pf->kind)] = true;
	}
	for (size_t i = 0; i < t->nns;) {
		struct nscache *nc = t->ns[i];

		if (reconcile_watches(t, nc))
			kt_log_warnx("cannot start watching %s (out of memory); its forwards wait "
				     "for the next change",
				     nc->ns);
		if (nc->needed[KT_TARGETS_PODS]) {
			i++;
			continue;
		}
		/* No forward left in this namespace: its watches were stopped above. */
		for (int r = 0; r < KT_TARGETS_NRES; r++)
			kt_strmap_free(nc->objs[r]);
		free(nc->ns);
		free(nc);
		t->ns[i] = t->ns[--t->nns];
	}
	return 0;
}

bool kt_targets_synced(const struct kt_targets *t)
{
	for (size_t i = 0; i < t->nns; i++)
		for (int r = 0; r < KT_TARGETS_NRES; r++)
			if (t->ns[i]->needed[r] && !t->ns[i]->synced[r])
				return false;
	return true;
}

size_t kt_targets_count(const struct kt_targets *t)
{
	return t->nfwds;
}

static bool fwd_synced(const struct fwd *f)
{
	return f->nc->synced[KT_TARGETS_PODS] && f->nc->synced[KT_TARGETS_SERVICES] &&
	       f->nc->synced[kind_res(f->pf->kind)];
}

void kt_targets_status(const struct kt_targets *t, size_t i, struct kt_targets_status *out)
{
	const struct fwd *f = &t->fwds[i];

	*out = (struct kt_targets_status){
	    .target = f->desc,
	    .ns = f->ns,
	    .synced = fwd_synced(f),
	    .error = f->error ? f->error : "",
	    .mappings = f->mappings,
	    .ready_pods = f->ready_pods,
	};
}

/* ---- matching ---- */

static const char *label_get(const struct kv *l, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].k, k) == 0)
			return l[i].v;
	return NULL;
}

/* Equality selector (a Service's, or a workload's matchLabels) against labels. */
static bool kv_subset(const struct kv *sel, size_t nsel, const struct kv *l, size_t nl)
{
	for (size_t i = 0; i < nsel; i++) {
		const char *v = label_get(l, nl, sel[i].k);

		if (!v || strcmp(v, sel[i].v) != 0)
			return false;
	}
	return true;
}

static bool svc_selects(const struct obj *svc, const struct kv *l, size_t nl)
{
	return svc->has_selector && kv_subset(svc->sel, svc->nsel, l, nl);
}

/* metav1.LabelSelector semantics (LabelSelectorAsSelector): every matchLabels pair and every
 * expression must hold; an empty selector selects everything. */
static bool wl_selects(const struct obj *w, const struct kv *l, size_t nl)
{
	if (w->bad_selector || !kv_subset(w->sel, w->nsel, l, nl))
		return false;
	for (size_t i = 0; i < w->nex; i++) {
		const struct lexpr *x = &w->ex[i];
		const char *v = label_get(l, nl, x->key);
		bool in = false;

		for (size_t j = 0; v && j < x->nvals; j++)
			if (strcmp(x->vals[j], v) == 0)
				in = true;
		switch (x->op) {
		case OP_IN:
			if (!in)
				return false;
			break;
		case OP_NOTIN:
			if (in)
				return false;
			break;
		case OP_EXISTS:
			if (!v)
				return false;
			break;
		case OP_DOESNOTEXIST:
			if (v)
				return false;
			break;
		}
	}
	return true;
}

static bool eligible(const struct obj *pod, bool pna)
{
	return !pod->terminating && (pod->ready || (pna && pod->running));
}

/* The pod port a Service port reaches on a pod whose containers declare cports (protocol.md
 * 4.5): a numeric targetPort (0 = the Service port), or a named one looked up among the
 * container ports. 0 when the name is missing or names a non-TCP port. */
static uint16_t translate(const struct sport *sp, const struct cport *cp, size_t ncp)
{
	if (!sp->tp_name)
		return sp->tp_num ? sp->tp_num : sp->port;
	for (size_t i = 0; i < ncp; i++)
		if (cp[i].name && strcmp(cp[i].name, sp->tp_name) == 0)
			return cp[i].tcp ? cp[i].port : 0;
	return 0;
}

/* A DNS label we can publish (pod names are DNS-1123 subdomains and may contain dots). */
static bool dns_label_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* Formats a DNS name into buf; a name that does not fit becomes "" (which no builder call
 * accepts, so an over-long name is reported as invalid rather than published truncated). */
static void mkname(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void mkname(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		buf[0] = '\0';
}

/* ---- emission ---- */

struct podlist {
	const struct obj **v;
	size_t n, cap;
};

static int podlist_add(struct podlist *l, const struct obj *o)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		const struct obj **nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = o;
	return 0;
}

static int cmp_pod(const void *a, const void *b)
{
	const struct obj *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

struct emit {
	struct kt_targets *t;
	struct kt_mapping_builder *b;
	struct fwd *f;
	const char *ns;
	char err[256];
	size_t mappings;
	struct kt_mapping_pod *cand; /* scratch for candidate lists */
	size_t ncand, capcand;
	bool nomem;
};

static void set_err(struct emit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct emit *e, const char *fmt, ...)
{
	va_list ap;

	if (e->err[0])
		return; /* the first error of a forward is the one shown */
	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

static void cand_reset(struct emit *e)
{
	e->ncand = 0;
}

static void cand_add(struct emit *e, const char *pod, uint16_t port)
{
	if (e->ncand == e->capcand) {
		size_t ncap = e->capcand ? e->capcand * 2 : 16;
		struct kt_mapping_pod *nv = realloc(e->cand, ncap * sizeof(*nv));

		if (!nv) {
			e->nomem = true;
			return;
		}
		e->cand = nv;
		e->capcand = ncap;
	}
	e->cand[e->ncand++] = (struct kt_mapping_pod){pod, port};
}

static void add_port(struct emit *e, const char *host, uint16_t port, const char *pname)
{
	int r = kt_mapping_add_port(e->b, host, port, e->ns, e->f->desc, pname, e->cand, e->ncand);

	if (r == 0)
		e->mappings++;
	else if (r == -ENOMEM)
		e->nomem = true;
	else if (r == -EEXIST)
		kt_log_debug("%s: %s:%u already mapped by an earlier forward", e->f->desc, host,
			     port);
	else
		set_err(e, "cannot publish %s:%u (invalid DNS name)", host, port);
}

static void add_srv(struct emit *e, const char *pname, const char *owner, uint16_t port,
		    const char *target)
{
	char name[1024];

	if (!pname || !dns_label_ok(pname))
		return;
	mkname(name, sizeof(name), "_%s._tcp.%s", pname, owner);
	if (kt_mapping_add_srv(e->b, name, port, target) == -ENOMEM)
		e->nomem = true;
}

/* The pods of the namespace that sel (a Service or a workload) selects, sorted by name. */
static void label_idx_free(struct nscache *nc)
{
	size_t pos = 0;
	const char *k;
	void *v;

	if (!nc->label_idx)
		return;
	while (kt_strmap_next(nc->label_idx, &pos, &k, &v)) {
		free(((struct podlist *)v)->v);
		free(v);
	}
	kt_strmap_free(nc->label_idx);
	nc->label_idx = NULL;
}

static int label_idx_build(struct nscache *nc)
{
	struct kt_strmap *pods = nc->objs[KT_TARGETS_PODS];
	size_t pos = 0;
	const char *k;
	void *v;
	char key[1024];

	nc->label_idx = kt_strmap_new();
	if (!nc->label_idx)
		return -ENOMEM;
	while (kt_strmap_next(pods, &pos, &k, &v)) {
		const struct obj *p = v;

		for (size_t i = 0; i < p->nlabels; i++) {
			struct podlist *l;
			int n = snprintf(key, sizeof(key), "%s=%s", p->labels[i].k, p->labels[i].v);

			if (n < 0 || (size_t)n >= sizeof(key))
				continue; /* longer than any valid label: selectors fall back */
			l = kt_strmap_get(nc->label_idx, key);
			if (!l) {
				l = calloc(1, sizeof(*l));
				if (!l || kt_strmap_put(nc->label_idx, key, l, NULL)) {
					free(l);
					return -ENOMEM;
				}
			}
			if (podlist_add(l, p))
				return -ENOMEM;
		}
	}
	return 0;
}

/* The pods of the namespace that sel (a Service or a workload) selects, sorted by name. */
static int select_pods(struct emit *e, const struct obj *sel, bool is_service, struct podlist *out)
{
	struct nscache *nc = e->f->nc;
	const struct obj *const *cand = NULL;
	size_t ncand = 0, pos = 0;
	bool indexed = false;
	const char *k;
	void *v;

	out->n = 0;
	/* An equality pair narrows the candidates to the pods carrying it (the rarest pair). */
	if (sel->nsel && !nc->label_idx && label_idx_build(nc)) {
		label_idx_free(nc);
		return -ENOMEM;
	}
	if (sel->nsel) {
		char key[1024];

		indexed = true;
		for (size_t i = 0; i < sel->nsel; i++) {
			const struct podlist *l;
			int n = snprintf(key, sizeof(key), "%s=%s", sel->sel[i].k, sel->sel[i].v);

			if (n < 0 || (size_t)n >= sizeof(key)) {
				indexed = false;
				break;
			}
			l = kt_strmap_get(nc->label_idx, key);
			if (!l)
				return 0; /* no pod has this label: none selected */
			if (!cand || l->n < ncand) {
				cand = l->v;
				ncand = l->n;
			}
		}
	}
	if (indexed) {
		for (size_t i = 0; i < ncand; i++) {
			const struct obj *p = cand[i];
			bool m = is_service ? svc_selects(sel, p->labels, p->nlabels)
					    : wl_selects(sel, p->labels, p->nlabels);

			if (m && podlist_add(out, p))
				return -ENOMEM;
		}
	} else {
		while (kt_strmap_next(nc->objs[KT_TARGETS_PODS], &pos, &k, &v)) {
			const struct obj *p = v;
			bool m = is_service ? svc_selects(sel, p->labels, p->nlabels)
					    : wl_selects(sel, p->labels, p->nlabels);

			if (m && podlist_add(out, p))
				return -ENOMEM;
		}
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_pod);
	return 0;
}

static const char *pod_label(const struct obj *pod, const struct obj *svc)
{
	/* Per-pod DNS name: spec.hostname when spec.subdomain names this Service (the cluster DNS
	 * spec, protocol.md 7); otherwise we use the pod's name (our extension: a cluster would
	 * give such a pod no per-pod name at all, but a Deployment behind a headless Service
	 * still deserves addressable pods). */
	if (pod->hostname && pod->subdomain && strcmp(pod->subdomain, svc->name) == 0 &&
	    dns_label_ok(pod->hostname))
		return pod->hostname;
	return dns_label_ok(pod->name) ? pod->name : NULL;
}

static bool port_in(uint16_t p, const uint16_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == p)
			return true;
	return false;
}

/* A headless Service's names for pods: H.SVC.NS.svc.DOMAIN per eligible pod with every port of
 * ports (as given), the Service name answering for all of them, SRV for its named ports. */
static void emit_headless(struct emit *e, const struct obj *svc, const struct podlist *pods,
			  const uint16_t *ports, size_t nports, size_t *ready)
{
	char sname[1024], host[1100];

	mkname(sname, sizeof(sname), "%s.%s.svc.%s", svc->name, e->ns, e->t->domain);
	for (size_t i = 0; i < pods->n; i++) {
		const struct obj *p = pods->v[i];
		const char *label;

		if (!eligible(p, svc->pna) || !(label = pod_label(p, svc)))
			continue;
		(*ready)++;
		mkname(host, sizeof(host), "%s.%s", label, sname);
		for (size_t j = 0; j < nports; j++) {
			const char *pname = NULL;

			for (size_t k = 0; k < svc->nsports; k++)
				if (svc->sports[k].port == ports[j])
					pname = svc->sports[k].name;
			cand_reset(e);
			cand_add(e, p->name, ports[j]);
			add_port(e, host, ports[j], pname);
			add_srv(e, pname, sname, ports[j], host);
		}
		if (kt_mapping_add_alias(e->b, sname, host) == -ENOMEM)
			e->nomem = true;
	}
}

/* A ClusterIP Service's name: its port sp, served by the eligible pods of pods, each on the pod
 * port sp translates to there. only/nonly (may be NULL): pod ports allowed (a workload forward's
 * ports); the mapping is published only when the template (tmpl, may be NULL) or some pod
 * translates into that set. */
static void emit_cluster_port(struct emit *e, const struct obj *svc, const struct sport *sp,
			      const struct podlist *pods, const struct obj *tmpl,
			      const uint16_t *only, size_t nonly, size_t *ready)
{
	char sname[1024];
	bool publish = !only;
	size_t missing = 0;

	mkname(sname, sizeof(sname), "%s.%s.svc.%s", svc->name, e->ns, e->t->domain);
	if (only && tmpl) {
		uint16_t tp = translate(sp, tmpl->cports, tmpl->ncports);
		publish = tp && port_in(tp, only, nonly);
	}
	cand_reset(e);
	for (size_t i = 0; i < pods->n; i++) {
		const struct obj *p = pods->v[i];
		uint16_t tp = translate(sp, p->cports, p->ncports);

		if (!tp) {
			missing++;
			continue;
		}
		if (only && !port_in(tp, only, nonly))
			continue;
		publish = true;
		if (eligible(p, svc->pna))
			cand_add(e, p->name, tp);
	}
	if (!publish)
		return;
	if (missing && !e->ncand && sp->tp_name)
		set_err(e, "Pod '%s' does not have a named port '%s'", pods->v[0]->name,
			sp->tp_name);
	if (e->ncand > *ready)
		*ready = e->ncand;
	add_port(e, sname, sp->port, sp->name);
	add_srv(e, sp->name, sname, sp->port, sname);
}

static void emit_service(struct emit *e, struct podlist *pods, size_t *ready)
{
	const struct kt_profile_forward *pf = e->f->pf;
	const struct obj *svc = kt_strmap_get(e->f->nc->objs[KT_TARGETS_SERVICES], pf->name);
	char sname[1024];
	uint16_t *ports = NULL;
	size_t nports = 0;

	if (!svc) {
		set_err(e, "services \"%s\" not found", pf->name);
		return;
	}
	mkname(sname, sizeof(sname), "%s.%s.svc.%s", svc->name, e->ns, e->t->domain);
	if (svc->external || !svc->has_selector) {
		/* kubectl's own words (helpers.go, SelectorsForObject). */
		set_err(e, "invalid service '%s': Service is defined without a selector",
			svc->name);
		if (svc->external && svc->external_name &&
		    kt_mapping_add_cname(e->b, sname, svc->external_name) == -ENOMEM)
			e->nomem = true;
		if (svc->external)
			return;
	}
	if (select_pods(e, svc, true, pods)) {
		e->nomem = true;
		return;
	}
	ports = calloc(svc->nsports + pf->nports + 1, sizeof(*ports));
	if (!ports) {
		e->nomem = true;
		return;
	}
	/* The Service ports to forward: the profile's subset (each must exist, TCP), else every
	 * TCP port. */
	if (pf->nports) {
		for (size_t i = 0; i < pf->nports; i++) {
			const struct sport *sp = NULL;

			for (size_t k = 0; k < svc->nsports; k++)
				if (svc->sports[k].port == pf->ports[i] && (!sp || !sp->tcp))
					sp = &svc->sports[k];
			if (!sp)
				set_err(e, "Service %s does not have a service port %u", svc->name,
					pf->ports[i]);
			else if (!sp->tcp)
				set_err(e, "UDP protocol is not supported for %u", pf->ports[i]);
			else
				ports[nports++] = pf->ports[i];
		}
	} else {
		for (size_t k = 0; k < svc->nsports; k++)
			if (svc->sports[k].tcp && !port_in(svc->sports[k].port, ports, nports))
				ports[nports++] = svc->sports[k].port;
	}
	if (svc->headless) {
		emit_headless(e, svc, pods, ports, nports, ready);
	} else {
		for (size_t i = 0; i < nports; i++)
			for (size_t k = 0; k < svc->nsports; k++)
				if (svc->sports[k].port == ports[i] && svc->sports[k].tcp) {
					emit_cluster_port(e, svc, &svc->sports[k], pods, NULL, NULL,
							  0, ready);
					break;
				}
	}
	free(ports);
}

/* Pod and workload forwards: the documented name, then the Services selecting the pods. */
static void emit_pods_of(struct emit *e, const struct obj *tmpl, struct podlist *pods,
			 const struct cport *cp, size_t ncp, size_t *ready)
{
	const struct kt_profile_forward *pf = e->f->pf;
	uint16_t *ports = calloc(ncp + pf->nports + 1, sizeof(*ports));
	struct kt_strmap *svcs = e->f->nc->objs[KT_TARGETS_SERVICES];
	struct podlist sub = {0};
	char doc[1024];
	size_t nports = 0, pos = 0;
	const char *k;
	void *v;

	if (!ports) {
		e->nomem = true;
		return;
	}
	if (pf->nports) {
		memcpy(ports, pf->ports, pf->nports * sizeof(*ports));
		nports = pf->nports;
	} else {
		for (size_t i = 0; i < ncp; i++)
			if (cp[i].tcp && !port_in(cp[i].port, ports, nports))
				ports[nports++] = cp[i].port;
	}
	if (!nports)
		set_err(e, "%s has no TCP container port; list ports in the profile", e->f->desc);
	mkname(doc, sizeof(doc), "%s.%s.%s.%s", pf->name, e->ns, kt_profile_kind_name(pf->kind),
	       e->t->domain);
	if (!dns_label_ok(pf->name)) {
		set_err(e, "%s: name is not a DNS label, no %s name published", e->f->desc,
			kt_profile_kind_name(pf->kind));
	} else {
		for (size_t i = 0; i < nports; i++) {
			const char *pname = NULL;

			for (size_t j = 0; j < ncp; j++)
				if (cp[j].port == ports[i] && cp[j].tcp)
					pname = cp[j].name;
			cand_reset(e);
			for (size_t j = 0; j < pods->n; j++)
				if (eligible(pods->v[j], false))
					cand_add(e, pods->v[j]->name, ports[i]);
			if (e->ncand > *ready)
				*ready = e->ncand;
			add_port(e, doc, ports[i], pname);
			add_srv(e, pname, doc, ports[i], doc);
		}
	}
	/* Services of the namespace selecting these pods (or the workload's template). Sorted by
	 * name so that the first-wins rule is deterministic. */
	const struct obj **sv = NULL;
	size_t nsv = 0;
	if (kt_strmap_count(svcs)) {
		sv = calloc(kt_strmap_count(svcs), sizeof(*sv));
		if (!sv) {
			e->nomem = true;
			goto out;
		}
	}
	while (kt_strmap_next(svcs, &pos, &k, &v)) {
		const struct obj *svc = v;
		bool sel = !svc->external && tmpl && svc_selects(svc, tmpl->labels, tmpl->nlabels);

		for (size_t j = 0; !sel && !svc->external && j < pods->n; j++)
			sel = svc_selects(svc, pods->v[j]->labels, pods->v[j]->nlabels);
		if (sel)
			sv[nsv++] = svc;
	}
	if (nsv > 1)
		qsort(sv, nsv, sizeof(*sv), cmp_pod);
	for (size_t s = 0; s < nsv; s++) {
		const struct obj *svc = sv[s];
		size_t dummy = 0;

		sub.n = 0;
		for (size_t j = 0; j < pods->n; j++)
			if (svc_selects(svc, pods->v[j]->labels, pods->v[j]->nlabels) &&
			    podlist_add(&sub, pods->v[j]))
				e->nomem = true;
		if (svc->headless) {
			emit_headless(e, svc, &sub, ports, nports, &dummy);
			continue;
		}
		for (size_t i = 0; i < svc->nsports; i++)
			if (svc->sports[i].tcp)
				emit_cluster_port(e, svc, &svc->sports[i], &sub, tmpl, ports,
						  nports, &dummy);
	}
	free(sv);
out:
	free(sub.v);
	free(ports);
}

static void emit_forward(struct emit *e, struct podlist *pods, size_t *ready)
{
	const struct kt_profile_forward *pf = e->f->pf;
	enum kt_targets_res res = kind_res(pf->kind);
	const struct obj *o;

	if (pf->kind == KT_PROFILE_SERVICE) {
		emit_service(e, pods, ready);
		return;
	}
	o = kt_strmap_get(e->f->nc->objs[res], pf->name);
	if (!o) {
		set_err(e, "%s \"%s\" not found", res_notfound[res], pf->name);
		return;
	}
	if (pf->kind == KT_PROFILE_POD) {
		pods->n = 0;
		if (podlist_add(pods, o)) {
			e->nomem = true;
			return;
		}
		emit_pods_of(e, NULL, pods, o->cports, o->ncports, ready);
		return;
	}
	if (select_pods(e, o, false, pods)) {
		e->nomem = true;
		return;
	}
	emit_pods_of(e, o, pods, o->cports, o->ncports, ready);
}

int kt_targets_emit(struct kt_targets *t, struct kt_mapping_builder *b)
{
	struct podlist pods = {0};
	struct emit e = {.t = t, .b = b};
	int rc = 0;

	for (size_t i = 0; i < t->nfwds; i++) {
		struct fwd *f = &t->fwds[i];
		size_t ready = 0;

		e.f = f;
		e.ns = f->ns;
		e.err[0] = '\0';
		e.mappings = 0;
		if (!fwd_synced(f)) {
			snprintf(e.err, sizeof(e.err), "%s", WAITING);
		} else {
			emit_forward(&e, &pods, &ready);
		}
		if (e.nomem) {
			rc = -ENOMEM;
			break;
		}
		f->mappings = e.mappings;
		f->ready_pods = ready;
		if (strcmp(f->error ? f->error : "", e.err) != 0) {
			char *n = strdup(e.err);

			if (!n) {
				rc = -ENOMEM;
				break;
			}
			if (e.err[0] && fwd_synced(f))
				kt_log_warnx("%s in %s: %s", f->desc, f->ns, e.err);
			else if (!e.err[0] && f->error && f->error[0] &&
				 strcmp(f->error, WAITING) != 0)
				kt_log_info("%s in %s: resolved (%zu mappings)", f->desc, f->ns,
					    e.mappings);
			free(f->error);
			f->error = n;
		}
	}
	for (size_t i = 0; i < t->nns; i++)
		label_idx_free(t->ns[i]);
	free(pods.v);
	free(e.cand);
	return rc;
}
