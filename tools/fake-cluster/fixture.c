/* fixture.c: fixture file → fake cluster objects (see fixture.h).
 *
 * Two passes over the loaded YAML: the first checks every object (kind, apiVersion, the
 * fields the controller reads, duplicates, explicit clusterIP clashes) against the nodes the
 * YAML loader owns, so errors carry positions; the second hands copies to the controller,
 * Namespaces first, in batch mode so EndpointSlices are computed once at the end. */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller.h"
#include "yamljson.h"

struct item {
	const cJSON *obj; /* owned by the kt_yaml */
	enum fc_kind kind;
	const char *ns; /* "" for cluster scope */
	const char *name;
};

struct items {
	struct item *v;
	size_t n, cap;
};

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *kind_name(enum fc_kind k)
{
	static const char *const n[FC_KIND_COUNT] = {
	    [FC_KIND_NAMESPACE] = "Namespace",	 [FC_KIND_POD] = "Pod",
	    [FC_KIND_SERVICE] = "Service",	 [FC_KIND_ENDPOINTSLICE] = "EndpointSlice",
	    [FC_KIND_DEPLOYMENT] = "Deployment", [FC_KIND_STATEFULSET] = "StatefulSet",
	    [FC_KIND_DAEMONSET] = "DaemonSet",
	};
	return (unsigned)k < FC_KIND_COUNT ? n[k] : "?";
}

static bool is_missing(const char *msg)
{
	static const char tail[] = "required field is missing";
	size_t n = strlen(msg);

	return n >= sizeof(tail) - 1 && !strcmp(msg + n - (sizeof(tail) - 1), tail);
}

/* Checks one object and appends it to items. */
static int check_object(const struct kt_yaml *y, const cJSON *obj, struct items *items, char *err,
			size_t errcap)
{
	const cJSON *av, *k, *where, *md;
	enum fc_kind kind;
	char msg[512];
	int e;

	if (!cJSON_IsObject(obj))
		return kt_yaml_errorf(
		    y, obj, err, errcap,
		    "expected a Kubernetes object (a mapping with apiVersion and kind)");
	av = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
	k = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	if (!av || cJSON_IsNull(av))
		return kt_yaml_errorf(y, obj, err, errcap, "apiVersion: required field is missing");
	if (!cJSON_IsString(av))
		return kt_yaml_errorf(y, av, err, errcap, "apiVersion: expected a string");
	if (!k || cJSON_IsNull(k))
		return kt_yaml_errorf(y, obj, err, errcap, "kind: required field is missing");
	if (!cJSON_IsString(k))
		return kt_yaml_errorf(y, k, err, errcap, "kind: expected a string");
	e = fc_controller_kind(av->valuestring, k->valuestring, &kind);
	if (e == -ENOENT)
		return kt_yaml_errorf(
		    y, k, err, errcap,
		    "kind: unsupported kind \"%s\" (the fake cluster takes Namespace, "
		    "Service, Pod, Deployment, StatefulSet and DaemonSet)",
		    k->valuestring);
	if (e == -EPROTO) {
		static const char *const want[FC_KIND_COUNT] = {
		    [FC_KIND_NAMESPACE] = "v1",
		    [FC_KIND_POD] = "v1",
		    [FC_KIND_SERVICE] = "v1",
		    [FC_KIND_ENDPOINTSLICE] = "discovery.k8s.io/v1",
		    [FC_KIND_DEPLOYMENT] = "apps/v1",
		    [FC_KIND_STATEFULSET] = "apps/v1",
		    [FC_KIND_DAEMONSET] = "apps/v1",
		};
		return kt_yaml_errorf(y, av, err, errcap,
				      "apiVersion: \"%s\" does not serve kind %s (use %s)",
				      av->valuestring, k->valuestring, want[kind]);
	}
	if (e == -EPERM)
		return kt_yaml_errorf(
		    y, k, err, errcap,
		    "kind: %s objects are made by the fake cluster's controllers, not "
		    "declared",
		    k->valuestring);
	if (fc_controller_check(kind, obj, &where, msg, sizeof(msg))) {
		if (is_missing(msg))
			return kt_yaml_key_errorf(y, where, err, errcap, "%s", msg);
		return kt_yaml_errorf(y, where, err, errcap, "%s", msg);
	}
	md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (items->n == items->cap) {
		size_t cap = items->cap ? items->cap * 2 : 32;
		struct item *v = realloc(items->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		items->v = v;
		items->cap = cap;
	}
	items->v[items->n++] = (struct item){obj, kind,
					     kind == FC_KIND_NAMESPACE ? ""
					     : jstr(md, "namespace")   ? jstr(md, "namespace")
								       : "default",
					     jstr(md, "name")};
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;
	int c = (int)x->kind - (int)y->kind;

	if (!c)
		c = strcmp(x->ns, y->ns);
	if (!c)
		c = strcmp(x->name, y->name);
	/* Equal keys stay in file order, so the later one is reported. */
	return c ? c : (x < y ? -1 : x > y);
}

static const cJSON *meta_node(const cJSON *obj, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
						k);
}

static const cJSON *cluster_ip_node(const cJSON *obj)
{
	const cJSON *ip = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "spec"), "clusterIP");
	const char *type = jstr(cJSON_GetObjectItemCaseSensitive(obj, "spec"), "type");

	if (!cJSON_IsString(ip) || !*ip->valuestring || !strcmp(ip->valuestring, "None") ||
	    (type && !strcmp(type, "ExternalName")))
		return NULL;
	return ip;
}

static int cmp_ip(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;
	int c = strcmp(cluster_ip_node(x->obj)->valuestring, cluster_ip_node(y->obj)->valuestring);

	return c ? c : (x < y ? -1 : x > y);
}

/* Same object declared twice, or two Services asking for one clusterIP. */
static int check_duplicates(const struct kt_yaml *y, const struct items *items, char *err,
			    size_t errcap)
{
	const struct item **v = malloc((items->n + 1) * sizeof(*v));
	size_t nip = 0;
	int line = 0, col = 0, e = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < items->n; i++)
		v[i] = &items->v[i];
	qsort(v, items->n, sizeof(*v), cmp_item);
	for (size_t i = 1; i < items->n && !e; i++) {
		if (v[i - 1]->kind == v[i]->kind && !strcmp(v[i - 1]->ns, v[i]->ns) &&
		    !strcmp(v[i - 1]->name, v[i]->name)) {
			const struct item *first = v[i - 1] < v[i] ? v[i - 1] : v[i];
			const struct item *second = v[i - 1] < v[i] ? v[i] : v[i - 1];

			kt_yaml_node_pos(y, meta_node(first->obj, "name"), &line, &col);
			e = kt_yaml_errorf(y, meta_node(second->obj, "name"), err, errcap,
					   "%s \"%s%s%s\" is declared twice (first at line %d)",
					   kind_name(second->kind), second->ns,
					   *second->ns ? "/" : "", second->name, line);
		}
	}
	for (size_t i = 0; i < items->n && !e; i++) {
		const cJSON *ip =
		    items->v[i].kind == FC_KIND_SERVICE ? cluster_ip_node(items->v[i].obj) : NULL;

		if (!ip)
			continue;
		if (!strcmp(ip->valuestring, "10.96.0.1"))
			e = kt_yaml_errorf(
			    y, ip, err, errcap,
			    "spec.clusterIP: 10.96.0.1 belongs to default/kubernetes");
		v[nip++] = &items->v[i];
	}
	if (!e && nip > 1) {
		qsort(v, nip, sizeof(*v), cmp_ip);
		for (size_t i = 1; i < nip && !e; i++) {
			const cJSON *a = cluster_ip_node(v[i - 1]->obj),
				    *b = cluster_ip_node(v[i]->obj);

			if (strcmp(a->valuestring, b->valuestring))
				continue;
			kt_yaml_node_pos(y, a, &line, &col);
			e = kt_yaml_errorf(
			    y, b, err, errcap,
			    "spec.clusterIP: %s is already taken by Service \"%s/%s\" "
			    "(line %d)",
			    b->valuestring, v[i - 1]->ns, v[i - 1]->name, line);
		}
	}
	free(v);
	return e;
}

static int apply(struct fc_controller *ctl, const struct kt_yaml *y, const struct items *items,
		 char *err, size_t errcap)
{
	char msg[512];
	int e = 0;

	fc_controller_batch(ctl, true);
	/* Namespaces first, so their declared labels win over auto-created ones. */
	for (int pass = 0; pass < 2 && !e; pass++) {
		for (size_t i = 0; i < items->n && !e; i++) {
			const struct item *it = &items->v[i];
			cJSON *copy;

			if ((pass == 0) != (it->kind == FC_KIND_NAMESPACE))
				continue;
			copy = cJSON_Duplicate(it->obj, true);
			if (!copy) {
				e = -ENOMEM;
				break;
			}
			e = fc_controller_create(ctl, it->kind, copy, true, true, msg, sizeof(msg));
			if (e == -EEXIST && it->kind == FC_KIND_NAMESPACE)
				e = 0; /* default, kube-system, ...: always there */
			else if (e == -EEXIST)
				e = kt_yaml_errorf(
				    y, meta_node(it->obj, "name"), err, errcap,
				    "%s \"%s%s%s\" already exists in the fake cluster",
				    kind_name(it->kind), it->ns, *it->ns ? "/" : "", it->name);
			else if (e == -ENOSPC)
				e = kt_yaml_errorf(
				    y, it->obj, err, errcap,
				    "the fake cluster is full (at most 10000 pods and "
				    "the addresses of 10.244.0.0/16 and 10.96.0.0/12)");
			else if (e)
				e = kt_yaml_errorf(y, it->obj, err, errcap, "%s",
						   msg[0] ? msg : strerror(-e));
		}
	}
	fc_controller_batch(ctl, false);
	return e;
}

int fc_fixture_load_buf(struct fc_controller *ctl, const char *fname, const void *buf, size_t len,
			char *err, size_t errcap)
{
	struct kt_yaml *y = kt_yaml_load(buf, len, fname, err, errcap);
	struct items items = {NULL, 0, 0};
	int e = 0;

	if (!y)
		return -EINVAL;
	for (size_t d = 0; d < kt_yaml_doc_count(y) && !e; d++) {
		const cJSON *doc = kt_yaml_doc(y, d), *list, *it;
		const char *kind = cJSON_IsObject(doc) ? jstr(doc, "kind") : NULL;

		if (!kind || strcmp(kind, "List") != 0) {
			e = check_object(y, doc, &items, err, errcap);
			continue;
		}
		/* kind: List (v1), as `kubectl get -o yaml` writes: its items are the objects. */
		if (!jstr(doc, "apiVersion") || strcmp(jstr(doc, "apiVersion"), "v1")) {
			e = kt_yaml_errorf(y,
					   cJSON_GetObjectItemCaseSensitive(doc, "apiVersion")
					       ? cJSON_GetObjectItemCaseSensitive(doc, "apiVersion")
					       : doc,
					   err, errcap, "apiVersion: a List must be v1");
			continue;
		}
		list = cJSON_GetObjectItemCaseSensitive(doc, "items");
		if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list)) {
			e = kt_yaml_errorf(y, list, err, errcap, "items: expected a sequence");
			continue;
		}
		cJSON_ArrayForEach(it, list)
		{
			if (cJSON_IsObject(it) && jstr(it, "kind") &&
			    !strcmp(jstr(it, "kind"), "List"))
				e = kt_yaml_errorf(y, it, err, errcap,
						   "kind: a List cannot hold a List");
			else
				e = check_object(y, it, &items, err, errcap);
			if (e)
				break;
		}
	}
	if (!e)
		e = check_duplicates(y, &items, err, errcap);
	if (!e)
		e = apply(ctl, y, &items, err, errcap);
	free(items.v);
	kt_yaml_free(y);
	return e;
}

int fc_fixture_load_file(struct fc_controller *ctl, const char *path, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int e;

	if (fd < 0 || fstat(fd, &st) < 0)
		goto errno_fail;
	if (!S_ISREG(st.st_mode) || st.st_size > KT_YAML_MAX_BYTES) {
		snprintf(err, errcap, "%s: not a regular file of at most 16 MiB", path);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto errno_fail;
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto errno_fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	e = fc_fixture_load_buf(ctl, path, buf, len, err, errcap);
	free(buf);
	return e;
errno_fail:
	e = errno ? -errno : -EIO;
	snprintf(err, errcap, "%s: %s", path, strerror(-e));
	if (fd >= 0)
		close(fd);
	free(buf);
	return e;
}
