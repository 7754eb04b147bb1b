/* controller.c: the fake cluster's minimal controllers (see controller.h).
 *
 * Objects in the store are immutable snapshots: every change here duplicates the stored
 * object, edits the copy and puts it back, so watchers see one MODIFIED per change. The
 * controller keeps only allocation state (pod and service IP bitmaps) and its pending timers;
 * everything else (which pods a workload owns, which slices a Service has) is read back from
 * the store, so the store stays the single source of truth.
 *
 * Shapes follow the Kubernetes types (protocol.md §5; k/k:staging/src/k8s.io/api/core/v1,
 * apps/v1, discovery/v1) and the defaults the API server fills in. Names follow the
 * controllers: Deployment pods `<deploy>-<pod-template-hash>-<5>` (ReplicaSet naming, pkg
 * controller/deployment), StatefulSet pods `<sts>-<ordinal>`, generated suffixes from
 * k8s.io/apimachinery/pkg/util/rand's alphabet without vowels ("bcdfghjklmnpqrstvwxz2456789"). */
#include "controller.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>

#include "loop.h"
#include "selector.h"

#define MAX_NODES 250
#define MAX_REPLICAS 1000
#define MAX_PODS 10000
#define POD_NET 0x0af40000u /* 10.244.0.0/16 */
#define SVC_NET 0x0a600000u /* 10.96.0.0/12 */
#define SVC_NET_SIZE (1u << 20)
#define KUBERNETES_SVC_IP (SVC_NET + 1)
#define KUBE_DNS_IP (SVC_NET + 10)

static const char alnum_novowel[] = "bcdfghjklmnpqrstvwxz2456789";

enum task_what { T_POD_START, T_POD_REMOVE, T_RECONCILE };

struct task {
	struct task *prev, *next;
	struct fc_controller *ctl;
	struct fc_timer *timer;
	enum task_what what;
	enum fc_kind kind;
	char ns[64];
	char name[256];
	char uid[40];
};

struct fc_controller {
	struct fc_loop *loop;
	struct fc_store *store;
	struct fc_controller_opts opt;
	uint8_t pod_ips[65536 / 8];
	uint8_t *svc_ips; /* SVC_NET_SIZE bits */
	uint8_t node_cursor[MAX_NODES];
	unsigned next_node;
	size_t npods; /* pods in the store, bounded by MAX_PODS */
	bool batch;   /* fixture load: slices are computed once at the end */
	struct task *tasks;
};

/* ---- small JSON helpers ------------------------------------------------------------------ */

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static cJSON *jgetm(cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *jstr2(const cJSON *o, const char *k1, const char *k2)
{
	return jstr(jget(o, k1), k2);
}

/* Sets o[k] = v (replacing), clearing *ok when v is NULL or o is not an object. */
static cJSON *jset(cJSON *o, const char *k, cJSON *v, bool *ok)
{
	if (!v || !cJSON_IsObject(o)) {
		cJSON_Delete(v);
		*ok = false;
		return NULL;
	}
	if (cJSON_HasObjectItem(o, k)) {
		if (!cJSON_ReplaceItemInObjectCaseSensitive(o, k, v)) {
			cJSON_Delete(v);
			*ok = false;
			return NULL;
		}
	} else if (!cJSON_AddItemToObject(o, k, v)) {
		cJSON_Delete(v);
		*ok = false;
		return NULL;
	}
	return v;
}

static void jset_str(cJSON *o, const char *k, const char *s, bool *ok)
{
	jset(o, k, cJSON_CreateString(s), ok);
}

static void jset_num(cJSON *o, const char *k, double n, bool *ok)
{
	jset(o, k, cJSON_CreateNumber(n), ok);
}

static void jset_bool(cJSON *o, const char *k, bool b, bool *ok)
{
	jset(o, k, cJSON_CreateBool(b), ok);
}

/* o[k] if it is an object, else a new empty object stored there. */
static cJSON *jobj(cJSON *o, const char *k, bool *ok)
{
	cJSON *v = jgetm(o, k);

	return cJSON_IsObject(v) ? v : jset(o, k, cJSON_CreateObject(), ok);
}

static void jdefault_str(cJSON *o, const char *k, const char *s, bool *ok)
{
	if (!jget(o, k))
		jset_str(o, k, s, ok);
}

static void jdefault_num(cJSON *o, const char *k, double n, bool *ok)
{
	if (!jget(o, k))
		jset_num(o, k, n, ok);
}

static cJSON *str_array1(const char *s)
{
	cJSON *a = cJSON_CreateArray();
	cJSON *v = cJSON_CreateString(s);

	if (!a || !v || !cJSON_AddItemToArray(a, v)) {
		cJSON_Delete(a);
		cJSON_Delete(v);
		return NULL;
	}
	return a;
}

/* [{"ip": s}] as in podIPs and hostIPs. */
static cJSON *ip_list(const char *s)
{
	cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject();

	if (!a || !o || !cJSON_AddStringToObject(o, "ip", s) || !cJSON_AddItemToArray(a, o)) {
		cJSON_Delete(a);
		cJSON_Delete(o);
		return NULL;
	}
	return a;
}

static bool is_int(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
}

static long jint(const cJSON *o, const char *k, long def)
{
	const cJSON *v = jget(o, k);

	return is_int(v) ? (long)v->valuedouble : def;
}

/* ---- time and randomness ----------------------------------------------------------------- */

static void ts_at(char out[32], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

static void ts_now(char out[32])
{
	ts_at(out, time(NULL));
}

static void random_bytes(void *p, size_t n)
{
	if (getrandom(p, n, 0) != (ssize_t)n) {
		uint8_t *b = p;

		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)rand();
	}
}

/* n characters of the generated-name alphabet, NUL-terminated. */
static void rand_suffix(char *out, size_t n)
{
	uint8_t b[16];

	if (n > sizeof(b))
		n = sizeof(b);
	random_bytes(b, n);
	for (size_t i = 0; i < n; i++)
		out[i] = alnum_novowel[b[i] % (sizeof(alnum_novowel) - 1)];
	out[n] = '\0';
}

static uint64_t fnv64(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV64_INIT 0xcbf29ce484222325ULL

/* A stable 10-character hash of a JSON value (pod-template-hash style). */
static void json_hash10(const cJSON *v, char out[11])
{
	char *s = cJSON_PrintUnformatted(v);
	uint64_t h = fnv64(s ? s : "", s ? strlen(s) : 0, FNV64_INIT);

	free(s);
	for (int i = 0; i < 10; i++) {
		out[i] = alnum_novowel[h % (sizeof(alnum_novowel) - 1)];
		h /= sizeof(alnum_novowel) - 1;
		if (i == 5)
			h ^= h >> 29 ^ 0x9e3779b97f4a7c15ULL;
	}
	out[10] = '\0';
}

/* A UUID derived from a string (for objects the fake does not store, like ReplicaSets). */
static void uuid_from(const char *s, char out[37])
{
	uint8_t b[16];
	uint64_t h1 = fnv64(s, strlen(s), FNV64_INIT), h2 = fnv64(s, strlen(s), h1 ^ 0x5bd1e995);
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	memcpy(b, &h1, 8);
	memcpy(b + 8, &h2, 8);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";

	if (EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		memset(md, 0, sizeof(md));
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* ---- validation ---------------------------------------------------------------------------- */

struct vc {
	const cJSON **where;
	char *msg;
	size_t cap;
};

static int bad(struct vc *v, const cJSON *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct vc *v, const cJSON *node, const char *fmt, ...)
{
	va_list ap;

	*v->where = node;
	va_start(ap, fmt);
	vsnprintf(v->msg, v->cap, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *describe(const cJSON *n, char *buf, size_t cap)
{
	if (cJSON_IsString(n))
		snprintf(buf, cap, "string \"%.40s\"", n->valuestring);
	else if (cJSON_IsNumber(n))
		snprintf(buf, cap, "number %g", n->valuedouble);
	else if (cJSON_IsBool(n))
		snprintf(buf, cap, "%s", cJSON_IsTrue(n) ? "true" : "false");
	else if (cJSON_IsNull(n))
		snprintf(buf, cap, "null");
	else if (cJSON_IsArray(n))
		snprintf(buf, cap, "a sequence");
	else
		snprintf(buf, cap, "a mapping");
	return buf;
}

static int want(struct vc *v, const cJSON *n, const char *path, bool okay, const char *what)
{
	char d[64];

	return okay ? 0
		    : bad(v, n, "%s: expected %s, got %s", path, what, describe(n, d, sizeof(d)));
}

static int want_map(struct vc *v, const cJSON *n, const char *path)
{
	return want(v, n, path, cJSON_IsObject(n), "a mapping");
}

static int want_seq(struct vc *v, const cJSON *n, const char *path)
{
	return want(v, n, path, cJSON_IsArray(n), "a sequence");
}

static int want_str(struct vc *v, const cJSON *n, const char *path)
{
	return want(v, n, path, cJSON_IsString(n), "a string");
}

static int want_bool(struct vc *v, const cJSON *n, const char *path)
{
	return want(v, n, path, cJSON_IsBool(n), "a boolean");
}

static int want_int(struct vc *v, const cJSON *n, const char *path, long lo, long hi)
{
	int e = want(v, n, path, is_int(n), "an integer");

	if (e)
		return e;
	if (n->valuedouble < (double)lo || n->valuedouble > (double)hi)
		return bad(v, n, "%s: must be between %ld and %ld, got %.0f", path, lo, hi,
			   n->valuedouble);
	return 0;
}

/* Child k of map m is required; reports at m (its key's line) when missing. */
static const cJSON *need(struct vc *v, const cJSON *m, const char *k, const char *path, int *e)
{
	const cJSON *c = jget(m, k);

	if (!c || cJSON_IsNull(c)) {
		*e = bad(v, m, "%s%s%s: required field is missing", path, *path ? "." : "", k);
		return NULL;
	}
	return c;
}

/* RFC 1123 label (a DNS label): [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. rfc1035 also
 * requires a leading letter (Service names, k8s.io/apimachinery/pkg/util/validation). */
static bool is_dns_label(const char *s, bool rfc1035)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	if (rfc1035 && !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* RFC 1123 subdomain: dot-separated labels, at most 253. */
static bool is_dns_subdomain(const char *s)
{
	char label[64];
	size_t n = strlen(s), start = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (i - start == 0 || i - start > 63)
				return false;
			memcpy(label, s + start, i - start);
			label[i - start] = '\0';
			if (!is_dns_label(label, false))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* IANA_SVC_NAME (port names): 1-15 of [a-z0-9-], a letter somewhere, no leading, trailing or
 * doubled '-' (k8s.io/apimachinery/pkg/util/validation, IsValidPortName). */
static bool is_port_name(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

static bool is_protocol(const char *s)
{
	return !strcmp(s, "TCP") || !strcmp(s, "UDP") || !strcmp(s, "SCTP");
}

static int check_str_map(struct vc *v, const cJSON *m, const char *path)
{
	const cJSON *c;
	char p[320];
	int e = want_map(v, m, path);

	if (e)
		return e;
	cJSON_ArrayForEach(c, m)
	{
		snprintf(p, sizeof(p), "%s.%s", path, c->string);
		if ((e = want_str(v, c, p)))
			return e;
	}
	return 0;
}

static int check_meta(struct vc *v, const cJSON *obj, enum fc_kind kind)
{
	const cJSON *md = jget(obj, "metadata"), *name, *ns, *x;
	int e = 0;

	if (!md)
		return bad(v, obj, "metadata: required field is missing");
	if ((e = want_map(v, md, "metadata")))
		return e;
	if (!(name = need(v, md, "name", "metadata", &e)))
		return e;
	if ((e = want_str(v, name, "metadata.name")))
		return e;
	if (kind == FC_KIND_NAMESPACE || kind == FC_KIND_SERVICE) {
		if (!is_dns_label(name->valuestring, kind == FC_KIND_SERVICE))
			return bad(v, name,
				   "metadata.name: \"%.63s\" is not a valid %s name (a DNS label: "
				   "lower-case "
				   "letters, digits and '-'%s, at most 63 characters)",
				   name->valuestring,
				   kind == FC_KIND_SERVICE ? "Service" : "Namespace",
				   kind == FC_KIND_SERVICE ? ", starting with a letter" : "");
	} else if (!is_dns_subdomain(name->valuestring)) {
		return bad(
		    v, name,
		    "metadata.name: \"%.63s\" is not a valid name (lower-case letters, digits, '-' "
		    "and '.', starting and ending with a letter or digit)",
		    name->valuestring);
	}
	if (kind == FC_KIND_STATEFULSET && strlen(name->valuestring) > 52)
		return bad(v, name,
			   "metadata.name: a StatefulSet name must be at most 52 characters");
	if ((ns = jget(md, "namespace")) && !cJSON_IsNull(ns)) {
		if ((e = want_str(v, ns, "metadata.namespace")))
			return e;
		if (!is_dns_label(ns->valuestring, false))
			return bad(v, ns,
				   "metadata.namespace: \"%.63s\" is not a valid namespace name",
				   ns->valuestring);
	}
	if ((x = jget(md, "labels")) && !cJSON_IsNull(x) &&
	    (e = check_str_map(v, x, "metadata.labels")))
		return e;
	if ((x = jget(md, "annotations")) && !cJSON_IsNull(x) &&
	    (e = check_str_map(v, x, "metadata.annotations")))
		return e;
	return 0;
}

static int check_pod_spec(struct vc *v, const cJSON *spec, const char *path)
{
	const cJSON *cs, *c, *x;
	char p[256], pp[320];
	int e = 0, ci = 0;

	if ((e = want_map(v, spec, path)))
		return e;
	if (!(cs = need(v, spec, "containers", path, &e)))
		return e;
	snprintf(p, sizeof(p), "%s.containers", path);
	if ((e = want_seq(v, cs, p)))
		return e;
	if (cJSON_GetArraySize(cs) == 0)
		return bad(v, cs, "%s: at least one container is required", p);
	cJSON_ArrayForEach(c, cs)
	{
		const cJSON *ports, *port, *name;
		int pi = 0;

		snprintf(p, sizeof(p), "%s.containers[%d]", path, ci++);
		if ((e = want_map(v, c, p)))
			return e;
		if (!(name = need(v, c, "name", p, &e)))
			return e;
		snprintf(pp, sizeof(pp), "%s.name", p);
		if ((e = want_str(v, name, pp)))
			return e;
		if (!is_dns_label(name->valuestring, false))
			return bad(v, name, "%s: \"%.63s\" is not a valid container name", pp,
				   name->valuestring);
		if (!(x = need(v, c, "image", p, &e)))
			return e;
		snprintf(pp, sizeof(pp), "%s.image", p);
		if ((e = want_str(v, x, pp)))
			return e;
		if (!(ports = jget(c, "ports")) || cJSON_IsNull(ports))
			continue;
		snprintf(pp, sizeof(pp), "%s.ports", p);
		if ((e = want_seq(v, ports, pp)))
			return e;
		cJSON_ArrayForEach(port, ports)
		{
			char q[352], qq[384];

			snprintf(q, sizeof(q), "%s.ports[%d]", p, pi++);
			if ((e = want_map(v, port, q)))
				return e;
			if (!(x = need(v, port, "containerPort", q, &e)))
				return e;
			snprintf(qq, sizeof(qq), "%s.containerPort", q);
			if ((e = want_int(v, x, qq, 1, 65535)))
				return e;
			if ((x = jget(port, "name")) && !cJSON_IsNull(x)) {
				snprintf(qq, sizeof(qq), "%s.name", q);
				if ((e = want_str(v, x, qq)))
					return e;
				if (!is_port_name(x->valuestring))
					return bad(
					    v, x,
					    "%s: \"%.40s\" is not a valid port name (1-15 "
					    "lower-case "
					    "letters, digits and '-', with at least one letter)",
					    qq, x->valuestring);
			}
			if ((x = jget(port, "protocol")) && !cJSON_IsNull(x)) {
				snprintf(qq, sizeof(qq), "%s.protocol", q);
				if ((e = want_str(v, x, qq)))
					return e;
				if (!is_protocol(x->valuestring))
					return bad(v, x,
						   "%s: must be TCP, UDP or SCTP, got \"%.20s\"",
						   qq, x->valuestring);
			}
		}
	}
	const char *strs[] = {"hostname", "subdomain", "nodeName"};

	for (size_t i = 0; i < 3; i++) {
		if (!(x = jget(spec, strs[i])) || cJSON_IsNull(x))
			continue;
		snprintf(p, sizeof(p), "%s.%s", path, strs[i]);
		if ((e = want_str(v, x, p)))
			return e;
		if (i < 2 && !is_dns_label(x->valuestring, false))
			return bad(v, x, "%s: \"%.63s\" is not a valid DNS label", p,
				   x->valuestring);
	}
	return 0;
}

static int check_selector(struct vc *v, const cJSON *sel, const char *path)
{
	const cJSON *ml, *me, *x;
	char p[128], pp[160];
	int e = 0, i = 0;

	if ((e = want_map(v, sel, path)))
		return e;
	ml = jget(sel, "matchLabels");
	me = jget(sel, "matchExpressions");
	if (ml && !cJSON_IsNull(ml)) {
		snprintf(p, sizeof(p), "%s.matchLabels", path);
		if ((e = check_str_map(v, ml, p)))
			return e;
	}
	if (me && !cJSON_IsNull(me)) {
		snprintf(p, sizeof(p), "%s.matchExpressions", path);
		if ((e = want_seq(v, me, p)))
			return e;
		cJSON_ArrayForEach(x, me)
		{
			const cJSON *key, *op, *vals, *val;
			bool set_op;

			snprintf(p, sizeof(p), "%s.matchExpressions[%d]", path, i++);
			if ((e = want_map(v, x, p)))
				return e;
			if (!(key = need(v, x, "key", p, &e)) ||
			    !(op = need(v, x, "operator", p, &e)))
				return e;
			snprintf(pp, sizeof(pp), "%s.key", p);
			if ((e = want_str(v, key, pp)))
				return e;
			snprintf(pp, sizeof(pp), "%s.operator", p);
			if ((e = want_str(v, op, pp)))
				return e;
			set_op =
			    !strcmp(op->valuestring, "In") || !strcmp(op->valuestring, "NotIn");
			if (!set_op && strcmp(op->valuestring, "Exists") &&
			    strcmp(op->valuestring, "DoesNotExist"))
				return bad(
				    v, op,
				    "%s: must be In, NotIn, Exists or DoesNotExist, got \"%.20s\"",
				    pp, op->valuestring);
			vals = jget(x, "values");
			snprintf(pp, sizeof(pp), "%s.values", p);
			if (vals && !cJSON_IsNull(vals)) {
				if ((e = want_seq(v, vals, pp)))
					return e;
				cJSON_ArrayForEach(val, vals)
				{
					if ((e = want_str(v, val, pp)))
						return e;
				}
			}
			if (set_op && cJSON_GetArraySize(vals) == 0)
				return bad(v, vals ? vals : x, "%s: must be non-empty for %s", pp,
					   op->valuestring);
			if (!set_op && cJSON_GetArraySize(vals) != 0)
				return bad(v, vals, "%s: must be empty for %s", pp,
					   op->valuestring);
		}
	}
	if (cJSON_GetArraySize(ml) == 0 && cJSON_GetArraySize(me) == 0)
		return bad(v, sel, "%s: an empty selector is invalid", path);
	return 0;
}

/* metav1.LabelSelector semantics: selector.c implements LabelSelectorAsSelector exactly. */
static bool label_selector_matches(const cJSON *sel, const cJSON *labels)
{
	char err[160];
	struct fc_selector *s = fc_selector_from_label_selector(sel, err, sizeof(err));
	bool ok = s && fc_selector_matches(s, labels);

	fc_selector_free(s);
	return ok;
}

static int check_workload(struct vc *v, const cJSON *obj, enum fc_kind kind)
{
	const cJSON *spec, *sel, *tpl, *tmd, *x;
	int e = 0;

	if (!(spec = need(v, obj, "spec", "", &e)))
		return e;
	if ((e = want_map(v, spec, "spec")))
		return e;
	if (kind != FC_KIND_DAEMONSET && (x = jget(spec, "replicas")) && !cJSON_IsNull(x) &&
	    (e = want_int(v, x, "spec.replicas", 0, MAX_REPLICAS)))
		return e;
	if (kind == FC_KIND_STATEFULSET && (x = jget(spec, "serviceName")) && !cJSON_IsNull(x)) {
		if ((e = want_str(v, x, "spec.serviceName")))
			return e;
		if (*x->valuestring && !is_dns_label(x->valuestring, true))
			return bad(v, x, "spec.serviceName: \"%.63s\" is not a valid Service name",
				   x->valuestring);
	}
	if (!(sel = need(v, spec, "selector", "spec", &e)))
		return e;
	if ((e = check_selector(v, sel, "spec.selector")))
		return e;
	if (!(tpl = need(v, spec, "template", "spec", &e)))
		return e;
	if ((e = want_map(v, tpl, "spec.template")))
		return e;
	tmd = jget(tpl, "metadata");
	if (tmd && !cJSON_IsNull(tmd)) {
		if ((e = want_map(v, tmd, "spec.template.metadata")))
			return e;
		if ((x = jget(tmd, "labels")) && !cJSON_IsNull(x) &&
		    (e = check_str_map(v, x, "spec.template.metadata.labels")))
			return e;
		if ((x = jget(tmd, "annotations")) && !cJSON_IsNull(x) &&
		    (e = check_str_map(v, x, "spec.template.metadata.annotations")))
			return e;
	}
	if (!label_selector_matches(sel, jget(tmd, "labels")))
		return bad(
		    v, tmd ? (const cJSON *)tmd : tpl,
		    "spec.template.metadata.labels: `selector` does not match template `labels`");
	if (!(x = need(v, tpl, "spec", "spec.template", &e)))
		return e;
	return check_pod_spec(v, x, "spec.template.spec");
}

static int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static int check_service(struct vc *v, const cJSON *obj)
{
	const cJSON *spec, *ports, *port, *x;
	const char *type = "ClusterIP";
	bool headless = false;
	int e = 0, i = 0, n;

	if (!(spec = need(v, obj, "spec", "", &e)))
		return e;
	if ((e = want_map(v, spec, "spec")))
		return e;
	if ((x = jget(spec, "type")) && !cJSON_IsNull(x)) {
		if ((e = want_str(v, x, "spec.type")))
			return e;
		type = x->valuestring;
		if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") &&
		    strcmp(type, "LoadBalancer") && strcmp(type, "ExternalName"))
			return bad(v, x,
				   "spec.type: must be ClusterIP, NodePort, LoadBalancer or "
				   "ExternalName, got \"%.30s\"",
				   type);
	}
	if (!strcmp(type, "ExternalName")) {
		if (!(x = need(v, spec, "externalName", "spec", &e)))
			return e;
		if ((e = want_str(v, x, "spec.externalName")))
			return e;
		if (!is_dns_subdomain(x->valuestring))
			return bad(v, x, "spec.externalName: \"%.63s\" is not a valid DNS name",
				   x->valuestring);
	}
	if ((x = jget(spec, "clusterIP")) && !cJSON_IsNull(x)) {
		uint32_t ip;

		if ((e = want_str(v, x, "spec.clusterIP")))
			return e;
		headless = !strcmp(x->valuestring, "None");
		if (!headless && *x->valuestring && strcmp(type, "ExternalName")) {
			if (parse_ipv4(x->valuestring, &ip))
				return bad(v, x, "spec.clusterIP: \"%.40s\" is not an IPv4 address",
					   x->valuestring);
			if (ip - SVC_NET >= SVC_NET_SIZE)
				return bad(
				    v, x,
				    "spec.clusterIP: %s is not in the service range 10.96.0.0/12",
				    x->valuestring);
		}
		if (headless && strcmp(type, "ClusterIP"))
			return bad(v, x, "spec.clusterIP: None is only valid for type ClusterIP");
	}
	if ((x = jget(spec, "selector")) && !cJSON_IsNull(x) &&
	    (e = check_str_map(v, x, "spec.selector")))
		return e;
	if ((x = jget(spec, "publishNotReadyAddresses")) && !cJSON_IsNull(x) &&
	    (e = want_bool(v, x, "spec.publishNotReadyAddresses")))
		return e;
	ports = jget(spec, "ports");
	if (!ports || cJSON_IsNull(ports)) {
		if (headless || !strcmp(type, "ExternalName"))
			return 0;
		return bad(v, spec, "spec.ports: required field is missing");
	}
	if ((e = want_seq(v, ports, "spec.ports")))
		return e;
	n = cJSON_GetArraySize(ports);
	if (n == 0 && !headless && strcmp(type, "ExternalName"))
		return bad(v, ports, "spec.ports: at least one port is required");
	cJSON_ArrayForEach(port, ports)
	{
		char p[64], pp[96];
		const cJSON *name, *other;

		snprintf(p, sizeof(p), "spec.ports[%d]", i++);
		if ((e = want_map(v, port, p)))
			return e;
		if (!(x = need(v, port, "port", p, &e)))
			return e;
		snprintf(pp, sizeof(pp), "%s.port", p);
		if ((e = want_int(v, x, pp, 1, 65535)))
			return e;
		name = jget(port, "name");
		if (name && !cJSON_IsNull(name)) {
			snprintf(pp, sizeof(pp), "%s.name", p);
			if ((e = want_str(v, name, pp)))
				return e;
			if (*name->valuestring && !is_dns_label(name->valuestring, false))
				return bad(v, name, "%s: \"%.63s\" is not a valid port name", pp,
					   name->valuestring);
		}
		if (n > 1 && (!cJSON_IsString(name) || !*name->valuestring))
			return bad(v, port,
				   "%s.name: required when a Service has more than one port", p);
		/* Names must be unique; compare with the earlier ports. */
		cJSON_ArrayForEach(other, ports)
		{
			if (other == port)
				break;
			const char *on = jstr(other, "name");

			if (cJSON_IsString(name) && *name->valuestring && on &&
			    !strcmp(on, name->valuestring))
				return bad(v, name, "%s.name: duplicate port name \"%s\"", p, on);
		}
		if ((x = jget(port, "protocol")) && !cJSON_IsNull(x)) {
			snprintf(pp, sizeof(pp), "%s.protocol", p);
			if ((e = want_str(v, x, pp)))
				return e;
			if (!is_protocol(x->valuestring))
				return bad(v, x, "%s: must be TCP, UDP or SCTP, got \"%.20s\"", pp,
					   x->valuestring);
		}
		if ((x = jget(port, "targetPort")) && !cJSON_IsNull(x)) {
			snprintf(pp, sizeof(pp), "%s.targetPort", p);
			/* IntOrString: a JSON string is a port name even when it looks numeric. */
			if (cJSON_IsString(x)) {
				if (!is_port_name(x->valuestring))
					return bad(
					    v, x,
					    "%s: \"%.40s\" is not a valid port name (1-15 "
					    "lower-case "
					    "letters, digits and '-', with at least one letter)",
					    pp, x->valuestring);
			} else if ((e = want_int(v, x, pp, 1, 65535))) {
				return e;
			}
		}
		if ((x = jget(port, "nodePort")) && !cJSON_IsNull(x)) {
			snprintf(pp, sizeof(pp), "%s.nodePort", p);
			if ((e = want_int(v, x, pp, 0, 65535)))
				return e;
		}
	}
	return 0;
}

int fc_controller_check(enum fc_kind kind, const cJSON *obj, const cJSON **where, char *msg,
			size_t cap)
{
	struct vc v = {where, msg, cap};
	const cJSON *spec;
	int e;

	*where = obj;
	if (cap)
		msg[0] = '\0';
	if (!cJSON_IsObject(obj))
		return bad(&v, obj, "an object must be a mapping");
	if ((e = check_meta(&v, obj, kind)))
		return e;
	switch (kind) {
	case FC_KIND_NAMESPACE:
		return 0;
	case FC_KIND_POD:
		if (!(spec = need(&v, obj, "spec", "", &e)))
			return e;
		return check_pod_spec(&v, spec, "spec");
	case FC_KIND_SERVICE:
		return check_service(&v, obj);
	case FC_KIND_DEPLOYMENT:
	case FC_KIND_STATEFULSET:
	case FC_KIND_DAEMONSET:
		return check_workload(&v, obj, kind);
	default:
		return bad(&v, obj, "objects of this kind cannot be created");
	}
}

static const struct {
	const char *kind, *api_version;
	enum fc_kind k;
} kind_table[] = {
    {"Namespace", "v1", FC_KIND_NAMESPACE},
    {"Pod", "v1", FC_KIND_POD},
    {"Service", "v1", FC_KIND_SERVICE},
    {"Deployment", "apps/v1", FC_KIND_DEPLOYMENT},
    {"StatefulSet", "apps/v1", FC_KIND_STATEFULSET},
    {"DaemonSet", "apps/v1", FC_KIND_DAEMONSET},
    {"EndpointSlice", "discovery.k8s.io/v1", FC_KIND_ENDPOINTSLICE},
};

int fc_controller_kind(const char *api_version, const char *kind, enum fc_kind *out)
{
	for (size_t i = 0; i < sizeof(kind_table) / sizeof(kind_table[0]); i++) {
		if (strcmp(kind, kind_table[i].kind) != 0)
			continue;
		*out = kind_table[i].k;
		if (strcmp(api_version, kind_table[i].api_version) != 0)
			return -EPROTO;
		return kind_table[i].k == FC_KIND_ENDPOINTSLICE ? -EPERM : 0;
	}
	return -ENOENT;
}

/* ---- IP allocation ------------------------------------------------------------------------- */

static bool bit_get(const uint8_t *bm, uint32_t i)
{
	return bm[i / 8] & (1u << (i % 8));
}

static void bit_set(uint8_t *bm, uint32_t i, bool on)
{
	if (on)
		bm[i / 8] = (uint8_t)(bm[i / 8] | (1u << (i % 8)));
	else
		bm[i / 8] = (uint8_t)(bm[i / 8] & ~(1u << (i % 8)));
}

static void ip_str(uint32_t ip, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/* Like a node's pod CIDR (node i gets 10.244.i.0/24, .1 is the bridge): next free address
 * after the node's cursor, so a freed address is not handed out again at once. Falls back to
 * any free address of the /16 when the node's range is full. */
static int alloc_pod_ip(struct fc_controller *ctl, unsigned node, char out[16])
{
	unsigned base = (node % 256) << 8;

	for (unsigned k = 0; k < 253; k++) {
		unsigned host = 2 + (ctl->node_cursor[node % MAX_NODES] + k) % 253;

		if (!bit_get(ctl->pod_ips, base | host)) {
			bit_set(ctl->pod_ips, base | host, true);
			ctl->node_cursor[node % MAX_NODES] = (uint8_t)((host - 2 + 1) % 253);
			ip_str(POD_NET | base | host, out);
			return 0;
		}
	}
	for (unsigned i = 0; i < 65536; i++) {
		if ((i & 255) < 2 || (i & 255) == 255 || bit_get(ctl->pod_ips, i))
			continue;
		bit_set(ctl->pod_ips, i, true);
		ip_str(POD_NET | i, out);
		return 0;
	}
	return -ENOSPC;
}

static void release_pod_ip(struct fc_controller *ctl, const cJSON *pod)
{
	const char *s = jstr2(pod, "status", "podIP");
	uint32_t ip;

	if (s && !parse_ipv4(s, &ip) && (ip & 0xffff0000u) == POD_NET)
		bit_set(ctl->pod_ips, ip & 0xffff, false);
}

/* Service IPs look random, as the API server's allocator picks them, but are derived from
 * namespace/name so a fixture gives the same addresses on every run. */
static int alloc_svc_ip(struct fc_controller *ctl, const char *ns, const char *name, char out[16])
{
	uint64_t h = fnv64(ns, strlen(ns), FNV64_INIT);

	h = fnv64("/", 1, h);
	h = fnv64(name, strlen(name), h);
	for (uint32_t k = 0; k < SVC_NET_SIZE; k++) {
		uint32_t off = (uint32_t)((h + k) % SVC_NET_SIZE);

		if (off < 11 || off == SVC_NET_SIZE - 1 || bit_get(ctl->svc_ips, off))
			continue;
		bit_set(ctl->svc_ips, off, true);
		ip_str(SVC_NET + off, out);
		return 0;
	}
	return -ENOSPC;
}

static void release_svc_ip(struct fc_controller *ctl, const cJSON *svc)
{
	const char *s = jstr2(svc, "spec", "clusterIP");
	uint32_t ip;

	if (s && !parse_ipv4(s, &ip) && ip - SVC_NET < SVC_NET_SIZE && ip != KUBERNETES_SVC_IP)
		bit_set(ctl->svc_ips, ip - SVC_NET, false);
}

/* ---- nodes --------------------------------------------------------------------------------- */

static void node_name(unsigned i, char out[32])
{
	snprintf(out, 32, "fake-node-%u", i + 1);
}

static void node_ip(unsigned i, char out[16])
{
	ip_str(0xac120002u + i, out); /* 172.18.0.2 + i, like kind's docker network */
}

/* Index of a node name, or 0 for names that are not fake nodes. */
static unsigned node_index(const struct fc_controller *ctl, const char *name)
{
	char n[32];

	for (int i = 0; name && i < ctl->opt.nodes; i++) {
		node_name((unsigned)i, n);
		if (!strcmp(n, name))
			return (unsigned)i;
	}
	return 0;
}

/* ---- pods ---------------------------------------------------------------------------------- */

static bool pod_terminating(const cJSON *pod)
{
	const cJSON *d = jget(jget(pod, "metadata"), "deletionTimestamp");

	return d && !cJSON_IsNull(d);
}

static const cJSON *pod_cond(const cJSON *pod, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, jget(jget(pod, "status"), "conditions"))
	{
		const char *t = jstr(c, "type");

		if (t && !strcmp(t, type))
			return c;
	}
	return NULL;
}

static bool pod_ready(const cJSON *pod)
{
	const char *s = jstr(pod_cond(pod, "Ready"), "status");

	return s && !strcmp(s, "True");
}

/* "nginx:1.25" → "docker.io/library/nginx:1.25", as containerd reports images. */
static void normalize_image(const char *img, char *out, size_t cap)
{
	const char *slash = strchr(img, '/');
	const char *last = strrchr(img, '/');
	const char *tag = strchr(last ? last : img, ':');
	bool has_registry =
	    slash && (memchr(img, '.', (size_t)(slash - img)) ||
		      memchr(img, ':', (size_t)(slash - img)) || !strncmp(img, "localhost/", 10));
	const char *prefix = has_registry ? "" : slash ? "docker.io/" : "docker.io/library/";

	snprintf(out, cap, "%s%s%s", prefix, img, tag || strchr(img, '@') ? "" : ":latest");
}

static void set_cond(cJSON *conds, const char *type, bool status, const char *reason,
		     const char *message, const char *ts, bool *ok)
{
	cJSON *c = NULL, *it;

	cJSON_ArrayForEach(it, conds)
	{
		const char *t = jstr(it, "type");

		if (t && !strcmp(t, type))
			c = it;
	}
	if (!c) {
		c = cJSON_CreateObject();
		if (!c || !cJSON_AddItemToArray(conds, c)) {
			cJSON_Delete(c);
			*ok = false;
			return;
		}
		jset_str(c, "type", type, ok);
	}
	const char *old = jstr(c, "status");
	const char *want_s = status ? "True" : "False";

	if (!old || strcmp(old, want_s) != 0) {
		jset_str(c, "status", want_s, ok);
		jset(c, "lastProbeTime", cJSON_CreateNull(), ok);
		jset_str(c, "lastTransitionTime", ts, ok);
	}
	if (reason) {
		jset_str(c, "reason", reason, ok);
		jset_str(c, "message", message ? message : "", ok);
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(c, "reason");
		cJSON_DeleteItemFromObjectCaseSensitive(c, "message");
	}
}

/* "containers with unready status: [a b]" (kubelet status manager wording). */
static void unready_message(const cJSON *pod, char *out, size_t cap)
{
	const cJSON *c;
	size_t n = (size_t)snprintf(out, cap, "containers with unready status: [");
	bool first = true;

	cJSON_ArrayForEach(c, jget(jget(pod, "spec"), "containers"))
	{
		const char *name = jstr(c, "name");

		if (name && n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s", first ? "" : " ", name);
		first = false;
	}
	if (n < cap)
		snprintf(out + n, cap - n, "]");
}

/* Sets the readiness of every container and the Ready/ContainersReady conditions. */
static void pod_set_ready(cJSON *pod, bool ready, const char *ts, bool *ok)
{
	cJSON *st = jobj(pod, "status", ok), *conds, *cs;
	char msg[512];

	if (!st)
		return;
	conds = jgetm(st, "conditions");
	if (!cJSON_IsArray(conds))
		conds = jset(st, "conditions", cJSON_CreateArray(), ok);
	if (!conds)
		return;
	unready_message(pod, msg, sizeof(msg));
	set_cond(conds, "Ready", ready, ready ? NULL : "ContainersNotReady", msg, ts, ok);
	set_cond(conds, "ContainersReady", ready, ready ? NULL : "ContainersNotReady", msg, ts, ok);
	cJSON_ArrayForEach(cs, jgetm(st, "containerStatuses")) jset_bool(cs, "ready", ready, ok);
}

/* Builds the kubelet-reported status: Pending (ContainerCreating, no IP yet) or Running and
 * Ready with an IP. Allocates the pod IP for Running. */
static int pod_set_phase(struct fc_controller *ctl, cJSON *pod, bool running)
{
	bool ok = true;
	cJSON *st = jobj(pod, "status", &ok), *conds, *css, *c;
	const cJSON *spec = jget(pod, "spec");
	unsigned node = node_index(ctl, jstr(spec, "nodeName"));
	char ts[32], hip[16], pip[16], msg[512];
	const char *uid = jstr2(pod, "metadata", "uid");

	if (!st)
		return -ENOMEM;
	ts_now(ts);
	node_ip(node, hip);
	jset_str(st, "phase", running ? "Running" : "Pending", &ok);
	conds = jgetm(st, "conditions");
	if (!cJSON_IsArray(conds))
		conds = jset(st, "conditions", cJSON_CreateArray(), &ok);
	if (!conds)
		return -ENOMEM;
	unready_message(pod, msg, sizeof(msg));
	set_cond(conds, "PodReadyToStartContainers", running, NULL, NULL, ts, &ok);
	set_cond(conds, "Initialized", true, NULL, NULL, ts, &ok);
	set_cond(conds, "Ready", running, running ? NULL : "ContainersNotReady", msg, ts, &ok);
	set_cond(conds, "ContainersReady", running, running ? NULL : "ContainersNotReady", msg, ts,
		 &ok);
	set_cond(conds, "PodScheduled", true, NULL, NULL, ts, &ok);
	jset_str(st, "hostIP", hip, &ok);
	jset(st, "hostIPs", ip_list(hip), &ok);
	if (running && !jstr(st, "podIP")) {
		if (alloc_pod_ip(ctl, node, pip))
			return -ENOSPC;
		jset_str(st, "podIP", pip, &ok);
		jset(st, "podIPs", ip_list(pip), &ok);
	}
	if (!jstr(st, "startTime"))
		jset_str(st, "startTime", ts, &ok);
	css = jset(st, "containerStatuses", cJSON_CreateArray(), &ok);
	cJSON_ArrayForEach(c, jget(spec, "containers"))
	{
		cJSON *cst = cJSON_CreateObject(), *state;
		const char *cname = jstr(c, "name"), *img = jstr(c, "image");
		char image[512], seed[600], digest[65], repo[512], cid[80];
		char *at;

		if (!cst || !css || !cJSON_AddItemToArray(css, cst)) {
			cJSON_Delete(cst);
			return -ENOMEM;
		}
		normalize_image(img ? img : "unknown", image, sizeof(image));
		jset_str(cst, "name", cname ? cname : "", &ok);
		state = jobj(cst, "state", &ok);
		if (running) {
			jset_str(jobj(state, "running", &ok), "startedAt", ts, &ok);
		} else {
			jset_str(jobj(state, "waiting", &ok), "reason", "ContainerCreating", &ok);
		}
		jobj(cst, "lastState", &ok);
		jset_bool(cst, "ready", running, &ok);
		jset_num(cst, "restartCount", 0, &ok);
		jset_str(cst, "image", image, &ok);
		snprintf(repo, sizeof(repo), "%s", image);
		at = strrchr(repo, ':');
		if (at && !strchr(at, '/'))
			*at = '\0';
		sha256_hex(image, digest);
		snprintf(seed, sizeof(seed), "%s@sha256:%s", repo, digest);
		jset_str(cst, "imageID", running ? seed : "", &ok);
		if (running) {
			snprintf(seed, sizeof(seed), "%s/%s", uid ? uid : "", cname ? cname : "");
			sha256_hex(seed, digest);
			snprintf(cid, sizeof(cid), "containerd://%s", digest);
			jset_str(cst, "containerID", cid, &ok);
		}
		jset_bool(cst, "started", running, &ok);
	}
	jset_str(st, "qosClass", "BestEffort", &ok);
	return ok ? 0 : -ENOMEM;
}

/* API-server and admission defaults of a pod spec (k/k pkg/apis/core/v1/defaults.go). */
static void pod_spec_defaults(cJSON *spec, bool *ok)
{
	cJSON *c;

	jdefault_str(spec, "restartPolicy", "Always", ok);
	jdefault_num(spec, "terminationGracePeriodSeconds", 30, ok);
	jdefault_str(spec, "dnsPolicy", "ClusterFirst", ok);
	jdefault_str(spec, "serviceAccountName", "default", ok);
	jdefault_str(spec, "serviceAccount", jstr(spec, "serviceAccountName"), ok);
	if (!jget(spec, "securityContext"))
		jset(spec, "securityContext", cJSON_CreateObject(), ok);
	jdefault_str(spec, "schedulerName", "default-scheduler", ok);
	if (!jget(spec, "enableServiceLinks"))
		jset_bool(spec, "enableServiceLinks", true, ok);
	jdefault_str(spec, "preemptionPolicy", "PreemptLowerPriority", ok);
	jdefault_num(spec, "priority", 0, ok);
	if (!jget(spec, "tolerations")) {
		cJSON *t = jset(spec, "tolerations", cJSON_CreateArray(), ok);
		const char *keys[] = {"node.kubernetes.io/not-ready",
				      "node.kubernetes.io/unreachable"};

		for (int i = 0; t && i < 2; i++) {
			cJSON *o = cJSON_CreateObject();

			if (!o || !cJSON_AddItemToArray(t, o)) {
				cJSON_Delete(o);
				*ok = false;
				break;
			}
			jset_str(o, "key", keys[i], ok);
			jset_str(o, "operator", "Exists", ok);
			jset_str(o, "effect", "NoExecute", ok);
			jset_num(o, "tolerationSeconds", 300, ok);
		}
	}
	cJSON_ArrayForEach(c, jgetm(spec, "containers"))
	{
		const char *img = jstr(c, "image");
		const char *last = img ? strrchr(img, '/') : NULL;
		const char *tag = img ? strchr(last ? last : img, ':') : NULL;
		cJSON *p;

		if (!jget(c, "imagePullPolicy"))
			jset_str(c, "imagePullPolicy",
				 !tag || !strcmp(tag, ":latest") ? "Always" : "IfNotPresent", ok);
		if (!jget(c, "resources"))
			jset(c, "resources", cJSON_CreateObject(), ok);
		jdefault_str(c, "terminationMessagePath", "/dev/termination-log", ok);
		jdefault_str(c, "terminationMessagePolicy", "File", ok);
		cJSON_ArrayForEach(p, jgetm(c, "ports")) jdefault_str(p, "protocol", "TCP", ok);
	}
}

/* Drops what clients may not set (server-owned metadata, status). */
static void strip_server_fields(cJSON *obj)
{
	cJSON *md = jgetm(obj, "metadata");
	const char *drop[] = {
	    "uid",	  "resourceVersion", "creationTimestamp", "deletionTimestamp",
	    "generation", "managedFields",   "selfLink",	  "deletionGracePeriodSeconds"};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(md, drop[i]);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
}

/* ---- tasks (timers) ------------------------------------------------------------------------ */

static void run_task(struct fc_controller *ctl, const struct task *t);

static void task_fire(void *arg)
{
	struct task *t = arg;
	struct fc_controller *ctl = t->ctl;

	if (t->prev)
		t->prev->next = t->next;
	else
		ctl->tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	run_task(ctl, t);
	free(t);
}

static void schedule(struct fc_controller *ctl, enum task_what what, enum fc_kind kind,
		     const char *ns, const char *name, const char *uid, uint64_t delay_ms)
{
	struct task *t = calloc(1, sizeof(*t));

	if (!t)
		return;
	t->ctl = ctl;
	t->what = what;
	t->kind = kind;
	snprintf(t->ns, sizeof(t->ns), "%s", ns);
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->uid, sizeof(t->uid), "%s", uid ? uid : "");
	if (ctl->loop)
		t->timer = fc_loop_timer(ctl->loop, delay_ms, task_fire, t);
	if (!t->timer) {
		/* No loop (tests) or no timer: do it now. */
		run_task(ctl, t);
		free(t);
		return;
	}
	t->next = ctl->tasks;
	if (t->next)
		t->next->prev = t;
	ctl->tasks = t;
}

/* ---- EndpointSlices ------------------------------------------------------------------------ */

static bool selector_map_matches(const cJSON *sel, const cJSON *labels)
{
	const cJSON *x;

	if (cJSON_GetArraySize(sel) == 0)
		return false;
	cJSON_ArrayForEach(x, sel)
	{
		const char *have = jstr(labels, x->string);

		if (!cJSON_IsString(x) || !have || strcmp(have, x->valuestring))
			return false;
	}
	return true;
}

/* Target port of a Service port for one pod: targetPort as a number, the container port
 * named by a string targetPort (regular containers only), or port when targetPort is omitted;
 * 0 when the pod has no such named port (the slice controller then skips that port for the
 * pod, k/k pkg/controller/endpointslice, getEndpointPorts). */
static int resolve_target(const cJSON *sp, const cJSON *pod)
{
	const cJSON *tp = jget(sp, "targetPort"), *c, *p;

	if (cJSON_IsString(tp)) {
		cJSON_ArrayForEach(c, jget(jget(pod, "spec"), "containers"))
		{
			cJSON_ArrayForEach(p, jget(c, "ports"))
			{
				const char *n = jstr(p, "name");
				const char *proto = jstr(p, "protocol");
				const char *sproto = jstr(sp, "protocol");

				if (n && !strcmp(n, tp->valuestring) &&
				    !strcmp(proto ? proto : "TCP", sproto ? sproto : "TCP"))
					return (int)jint(p, "containerPort", 0);
			}
		}
		return 0;
	}
	if (is_int(tp) && tp->valuedouble > 0)
		return (int)tp->valuedouble;
	return (int)jint(sp, "port", 0);
}

struct slice_group {
	char *key;	    /* the ports array as JSON, groups pods with equal resolved ports */
	cJSON *ports;	    /* owned */
	cJSON *eps;	    /* owned */
	const cJSON *match; /* matched existing slice (borrowed from the store), or NULL */
	cJSON *existing;    /* our copy of it, taken before any put */
};

struct slice_sync {
	struct fc_controller *ctl;
	const cJSON *svc;
	struct slice_group *g;
	size_t ng, capg;
	const cJSON **have; /* existing managed slices of the Service */
	size_t nhave, caphave;
	bool ok;
};

static cJSON *make_endpoint(const cJSON *pod, const cJSON *svc, bool *ok)
{
	cJSON *ep = cJSON_CreateObject(), *cond, *ref;
	const cJSON *spec = jget(pod, "spec");
	const char *hostname = jstr(spec, "hostname"), *sub = jstr(spec, "subdomain");
	const char *node = jstr(spec, "nodeName");
	bool pnra = cJSON_IsTrue(jget(jget(svc, "spec"), "publishNotReadyAddresses"));
	bool ready = pod_ready(pod), term = pod_terminating(pod);

	if (!ep) {
		*ok = false;
		return NULL;
	}
	jset(ep, "addresses", str_array1(jstr2(pod, "status", "podIP")), ok);
	cond = jobj(ep, "conditions", ok);
	/* "ready" is never true for a terminating endpoint unless the Service publishes not
	 * ready addresses; "serving" follows the pod's readiness (discovery/v1 types.go). */
	jset_bool(cond, "ready", pnra || (ready && !term), ok);
	jset_bool(cond, "serving", pnra || ready, ok);
	jset_bool(cond, "terminating", term, ok);
	/* The slice controller sets hostname when the pod's subdomain names this Service
	 * (endpointslice util, ShouldSetHostname). */
	if (hostname && *hostname && sub && !strcmp(sub, jstr2(svc, "metadata", "name")))
		jset_str(ep, "hostname", hostname, ok);
	if (node)
		jset_str(ep, "nodeName", node, ok);
	ref = jobj(ep, "targetRef", ok);
	jset_str(ref, "kind", "Pod", ok);
	jset_str(ref, "namespace", jstr2(pod, "metadata", "namespace"), ok);
	jset_str(ref, "name", jstr2(pod, "metadata", "name"), ok);
	jset_str(ref, "uid", jstr2(pod, "metadata", "uid"), ok);
	return ep;
}

static void slice_add_pod(void *arg, const cJSON *pod)
{
	struct slice_sync *ss = arg;
	const cJSON *sspec = jget(ss->svc, "spec"), *sp;
	const char *phase = jstr2(pod, "status", "phase");
	cJSON *ports, *ep;
	char *key;
	size_t i;

	if (!selector_map_matches(jget(sspec, "selector"), jget(jget(pod, "metadata"), "labels")))
		return;
	if (!jstr2(pod, "status", "podIP") ||
	    (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))))
		return;
	ports = cJSON_CreateArray();
	if (!ports) {
		ss->ok = false;
		return;
	}
	cJSON_ArrayForEach(sp, jget(sspec, "ports"))
	{
		int port = resolve_target(sp, pod);
		const char *name = jstr(sp, "name"), *proto = jstr(sp, "protocol");
		const char *app = jstr(sp, "appProtocol");
		cJSON *p;

		if (!port)
			continue;
		p = cJSON_CreateObject();
		if (!p || !cJSON_AddItemToArray(ports, p)) {
			cJSON_Delete(p);
			ss->ok = false;
			continue;
		}
		jset_str(p, "name", name ? name : "", &ss->ok);
		jset_str(p, "protocol", proto ? proto : "TCP", &ss->ok);
		jset_num(p, "port", port, &ss->ok);
		if (app)
			jset_str(p, "appProtocol", app, &ss->ok);
	}
	key = cJSON_PrintUnformatted(ports);
	if (!key) {
		cJSON_Delete(ports);
		ss->ok = false;
		return;
	}
	for (i = 0; i < ss->ng; i++) {
		if (!strcmp(ss->g[i].key, key))
			break;
	}
	if (i == ss->ng) {
		if (ss->ng == ss->capg) {
			size_t cap = ss->capg ? ss->capg * 2 : 4;
			struct slice_group *g = realloc(ss->g, cap * sizeof(*g));

			if (!g) {
				free(key);
				cJSON_Delete(ports);
				ss->ok = false;
				return;
			}
			ss->g = g;
			ss->capg = cap;
		}
		ss->g[i] = (struct slice_group){key, ports, cJSON_CreateArray(), NULL, NULL};
		ss->ng++;
		if (!ss->g[i].eps)
			ss->ok = false;
	} else {
		free(key);
		cJSON_Delete(ports);
	}
	ep = make_endpoint(pod, ss->svc, &ss->ok);
	if (ep && ss->g[i].eps && !cJSON_AddItemToArray(ss->g[i].eps, ep)) {
		cJSON_Delete(ep);
		ss->ok = false;
	} else if (ep && !ss->g[i].eps) {
		cJSON_Delete(ep);
	}
}

static bool slice_is_managed_for(const cJSON *slice, const char *svc)
{
	const cJSON *labels = jget(jget(slice, "metadata"), "labels");
	const char *s = jstr(labels, "kubernetes.io/service-name");
	const char *m = jstr(labels, "endpointslice.kubernetes.io/managed-by");

	return s && m && !strcmp(s, svc) && !strcmp(m, "endpointslice-controller.k8s.io");
}

static void slice_collect(void *arg, const cJSON *slice)
{
	struct slice_sync *ss = arg;

	if (!slice_is_managed_for(slice, jstr2(ss->svc, "metadata", "name")))
		return;
	if (ss->nhave == ss->caphave) {
		size_t cap = ss->caphave ? ss->caphave * 2 : 4;
		const cJSON **h = realloc(ss->have, cap * sizeof(*h));

		if (!h) {
			ss->ok = false;
			return;
		}
		ss->have = h;
		ss->caphave = cap;
	}
	ss->have[ss->nhave++] = slice;
}

/* Builds (or updates) the slice for one group and puts it if it changed. */
static void put_slice(struct fc_controller *ctl, const cJSON *svc, struct slice_group *g)
{
	bool ok = true;
	const char *ns = jstr2(svc, "metadata", "namespace"),
		   *name = jstr2(svc, "metadata", "name");
	const cJSON *svc_labels = jget(jget(svc, "metadata"), "labels"), *x;
	cJSON *s, *md, *labels, *owners, *owner;
	char sname[320], suffix[6];

	if (g->existing) {
		s = cJSON_Duplicate(g->existing, true);
	} else {
		s = cJSON_CreateObject();
		do {
			rand_suffix(suffix, 5);
			snprintf(sname, sizeof(sname), "%s-%s", name, suffix);
		} while (fc_store_get(ctl->store, FC_KIND_ENDPOINTSLICE, ns, sname));
		md = jobj(s, "metadata", &ok);
		jset_str(md, "name", sname, &ok);
		snprintf(sname, sizeof(sname), "%s-", name);
		jset_str(md, "generateName", sname, &ok);
		jset_str(md, "namespace", ns, &ok);
		jset_num(md, "generation", 1, &ok);
	}
	if (!s)
		return;
	md = jobj(s, "metadata", &ok);
	labels = jset(md, "labels", cJSON_CreateObject(), &ok);
	cJSON_ArrayForEach(x, svc_labels)
	{
		if (cJSON_IsString(x))
			jset_str(labels, x->string, x->valuestring, &ok);
	}
	jset_str(labels, "endpointslice.kubernetes.io/managed-by",
		 "endpointslice-controller.k8s.io", &ok);
	jset_str(labels, "kubernetes.io/service-name", name, &ok);
	if (!strcmp(jstr2(svc, "spec", "clusterIP") ? jstr2(svc, "spec", "clusterIP") : "", "None"))
		jset_str(labels, "service.kubernetes.io/headless", "", &ok);
	owners = jset(md, "ownerReferences", cJSON_CreateArray(), &ok);
	owner = cJSON_CreateObject();
	if (owners && owner && cJSON_AddItemToArray(owners, owner)) {
		jset_str(owner, "apiVersion", "v1", &ok);
		jset_str(owner, "kind", "Service", &ok);
		jset_str(owner, "name", name, &ok);
		jset_str(owner, "uid", jstr2(svc, "metadata", "uid"), &ok);
		jset_bool(owner, "controller", true, &ok);
		jset_bool(owner, "blockOwnerDeletion", true, &ok);
	} else {
		cJSON_Delete(owner);
		ok = false;
	}
	jset_str(s, "addressType", "IPv4", &ok);
	/* A placeholder slice (no pods) has null endpoints and ports, as Go marshals nil. */
	jset(s, "endpoints", g->eps ? cJSON_Duplicate(g->eps, true) : cJSON_CreateNull(), &ok);
	jset(s, "ports", g->ports ? cJSON_Duplicate(g->ports, true) : cJSON_CreateNull(), &ok);
	if (!ok || (g->existing && cJSON_Compare(s, g->existing, true))) {
		cJSON_Delete(s);
		return;
	}
	if (g->existing) {
		cJSON *gen = jgetm(md, "generation");

		if (is_int(gen))
			cJSON_SetNumberValue(gen, gen->valuedouble + 1);
	}
	fc_store_put(ctl->store, FC_KIND_ENDPOINTSLICE, s);
}

static void sync_service_slices(struct fc_controller *ctl, const cJSON *stored_svc)
{
	/* Hold our own copy of the Service: putting slices must not free it under us. */
	cJSON *svc = cJSON_Duplicate(stored_svc, true);
	struct slice_sync ss = {ctl, svc, NULL, 0, 0, NULL, 0, 0, true};
	const cJSON *spec = jget(svc, "spec");
	const char *type = jstr(spec, "type"), *ns = jstr2(svc, "metadata", "namespace");
	bool managed = cJSON_GetArraySize(jget(spec, "selector")) > 0 &&
		       !(type && !strcmp(type, "ExternalName"));
	char **del = NULL;
	size_t ndel = 0;

	if (!svc || !ns)
		goto out;
	fc_store_foreach(ctl->store, FC_KIND_ENDPOINTSLICE, ns, slice_collect, &ss);
	if (managed) {
		fc_store_foreach(ctl->store, FC_KIND_POD, ns, slice_add_pod, &ss);
		if (ss.ng == 0 && ss.ok && (ss.g = calloc(1, sizeof(*ss.g)))) {
			/* No endpoints: one placeholder slice. */
			ss.g[0].key = strdup("null");
			ss.ng = ss.capg = 1;
		}
	}
	if (!ss.ok)
		goto out;
	/* Reuse slices whose ports match, then any other, then create; delete the rest. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ss.ng; i++) {
			for (size_t j = 0; j < ss.nhave && !ss.g[i].match; j++) {
				char *k;

				if (!ss.have[j])
					continue;
				k = cJSON_PrintUnformatted(jget(ss.have[j], "ports"));
				if (pass == 1 || (k && ss.g[i].key && !strcmp(k, ss.g[i].key))) {
					ss.g[i].match = ss.have[j];
					ss.have[j] = NULL;
				}
				free(k);
			}
		}
	}
	del = calloc(ss.nhave + 1, sizeof(*del));
	for (size_t j = 0; del && j < ss.nhave; j++) {
		if (ss.have[j])
			del[ndel++] = strdup(jstr2(ss.have[j], "metadata", "name"));
	}
	/* Put and delete only after all reads: a put frees the slice snapshots we matched. Keep
	 * our own copies of the matched slices for the comparison. */
	for (size_t i = 0; i < ss.ng; i++) {
		if (ss.g[i].match)
			ss.g[i].existing = cJSON_Duplicate(ss.g[i].match, true);
	}
	for (size_t i = 0; i < ss.ng; i++) {
		if (!ss.g[i].match || ss.g[i].existing)
			put_slice(ctl, svc, &ss.g[i]);
		cJSON_Delete(ss.g[i].existing);
		ss.g[i].existing = NULL;
		ss.g[i].match = NULL;
	}
	for (size_t j = 0; j < ndel; j++) {
		if (del[j])
			fc_store_delete(ctl->store, FC_KIND_ENDPOINTSLICE, ns, del[j]);
		free(del[j]);
	}
out:
	for (size_t i = 0; i < ss.ng; i++) {
		free(ss.g[i].key);
		cJSON_Delete(ss.g[i].ports);
		cJSON_Delete(ss.g[i].eps);
	}
	free(ss.g);
	free(ss.have);
	free(del);
	cJSON_Delete(svc);
}

static void sync_svc_cb(void *arg, const cJSON *svc)
{
	sync_service_slices(arg, svc);
}

struct pod_svcs {
	struct fc_controller *ctl;
	const cJSON *labels;
};

static void sync_if_selects(void *arg, const cJSON *svc)
{
	struct pod_svcs *ps = arg;

	if (selector_map_matches(jget(jget(svc, "spec"), "selector"), ps->labels))
		sync_service_slices(ps->ctl, svc);
}

/* After a pod changed: the slices of every Service selecting it. */
static void sync_slices_for_pod(struct fc_controller *ctl, const cJSON *pod)
{
	cJSON *labels = cJSON_Duplicate(jget(jget(pod, "metadata"), "labels"), true);
	const char *ns = jstr2(pod, "metadata", "namespace");
	char nsbuf[64];
	struct pod_svcs ps = {ctl, labels};

	if (!labels || !ns)
		goto out;
	snprintf(nsbuf, sizeof(nsbuf), "%s", ns);
	fc_store_foreach(ctl->store, FC_KIND_SERVICE, nsbuf, sync_if_selects, &ps);
out:
	cJSON_Delete(labels);
}

/* ---- workloads ----------------------------------------------------------------------------- */

/* The workload owning a pod: kind and name (a ReplicaSet `<deploy>-<hash>` maps to its
 * Deployment). False for bare pods. */
static bool pod_owner(const cJSON *pod, enum fc_kind *kind, char *name, size_t cap)
{
	const cJSON *ref = cJSON_GetArrayItem(jget(jget(pod, "metadata"), "ownerReferences"), 0);
	const char *k = jstr(ref, "kind"), *n = jstr(ref, "name");

	if (!k || !n)
		return false;
	if (!strcmp(k, "ReplicaSet")) {
		const char *dash = strrchr(n, '-');

		if (!dash)
			return false;
		*kind = FC_KIND_DEPLOYMENT;
		snprintf(name, cap, "%.*s", (int)(dash - n), n);
		return true;
	}
	if (!strcmp(k, "StatefulSet"))
		*kind = FC_KIND_STATEFULSET;
	else if (!strcmp(k, "DaemonSet"))
		*kind = FC_KIND_DAEMONSET;
	else
		return false;
	snprintf(name, cap, "%s", n);
	return true;
}

struct owned {
	struct fc_controller *ctl;
	enum fc_kind kind;
	const char *name;
	const char *ref_uid; /* the owner uid pods must reference; older same-name owners' pods
				don't count */
	int total, active, ready;
	bool node_has[MAX_NODES];
};

static void count_owned(void *arg, const cJSON *pod)
{
	struct owned *o = arg;
	const cJSON *ref = cJSON_GetArrayItem(jget(jget(pod, "metadata"), "ownerReferences"), 0);
	const char *ref_uid = jstr(ref, "uid");
	enum fc_kind k;
	char n[256];

	if (!pod_owner(pod, &k, n, sizeof(n)) || k != o->kind || strcmp(n, o->name))
		return;
	if (o->ref_uid && ref_uid && strcmp(ref_uid, o->ref_uid))
		return;
	o->total++;
	if (pod_terminating(pod))
		return;
	o->active++;
	if (pod_ready(pod))
		o->ready++;
	o->node_has[node_index(o->ctl, jstr2(pod, "spec", "nodeName")) % MAX_NODES] = true;
}

/* ReplicaSet name and uid of a Deployment's current template (not stored objects). */
static void replicaset_of(const cJSON *d, char *name, size_t cap, char uid[37], char hash[11])
{
	char seed[128];

	json_hash10(jget(jget(d, "spec"), "template"), hash);
	snprintf(name, cap, "%s-%s", jstr2(d, "metadata", "name"), hash);
	snprintf(seed, sizeof(seed), "ReplicaSet/%s/%s", jstr2(d, "metadata", "uid"), hash);
	uuid_from(seed, uid);
}

static void owned_init(struct fc_controller *ctl, struct owned *o, enum fc_kind kind,
		       const cJSON *w, char rs_uid[37])
{
	char rs[320], hash[11];

	memset(o, 0, sizeof(*o));
	o->ctl = ctl;
	o->kind = kind;
	o->name = jstr2(w, "metadata", "name");
	if (kind == FC_KIND_DEPLOYMENT) {
		replicaset_of(w, rs, sizeof(rs), rs_uid, hash);
		o->ref_uid = rs_uid;
	} else {
		o->ref_uid = jstr2(w, "metadata", "uid");
	}
	fc_store_foreach(ctl->store, FC_KIND_POD, jstr2(w, "metadata", "namespace"), count_owned,
			 o);
}

/* Sets a workload condition, keeping its timestamps while its status is unchanged. */
static void set_wcond(cJSON *conds, const char *type, bool status, const char *reason,
		      const char *message, const char *ts, bool *ok)
{
	cJSON *c;

	set_cond(conds, type, status, reason, message, ts, ok);
	cJSON_ArrayForEach(c, conds)
	{
		const char *t = jstr(c, "type");

		if (!t || strcmp(t, type))
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(c, "lastProbeTime");
		if (!jget(c, "lastUpdateTime"))
			jset_str(c, "lastUpdateTime", jstr(c, "lastTransitionTime"), ok);
	}
}

/* Go's omitempty drops zero counters from workload status. */
static void jset_count(cJSON *o, const char *k, int n, bool *ok)
{
	if (n)
		jset_num(o, k, n, ok);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(o, k);
}

static void update_workload_status(struct fc_controller *ctl, enum fc_kind kind, const char *ns,
				   const char *name)
{
	const cJSON *w = fc_store_get(ctl->store, kind, ns, name);
	struct owned o;
	char rs_uid[37], ts[32], rs[320], hash[11], msg[400];
	cJSON *copy, *st, *conds;
	bool ok = true;
	long gen, desired;

	if (!w)
		return;
	owned_init(ctl, &o, kind, w, rs_uid);
	copy = cJSON_Duplicate(w, true);
	if (!copy)
		return;
	ts_now(ts);
	gen = jint(jget(w, "metadata"), "generation", 1);
	desired = jint(jget(w, "spec"), "replicas", 1);
	st = jset(copy, "status", cJSON_Duplicate(jget(w, "status"), true), &ok);
	if (!cJSON_IsObject(st))
		st = jset(copy, "status", cJSON_CreateObject(), &ok);
	if (!st) {
		cJSON_Delete(copy);
		return;
	}
	jset_num(st, "observedGeneration", (double)gen, &ok);
	if (kind == FC_KIND_DEPLOYMENT) {
		jset_count(st, "replicas", o.active, &ok);
		jset_count(st, "updatedReplicas", o.active, &ok);
		jset_count(st, "readyReplicas", o.ready, &ok);
		jset_count(st, "availableReplicas", o.ready, &ok);
		jset_count(st, "unavailableReplicas",
			   desired > o.ready ? (int)desired - o.ready : 0, &ok);
		conds = jgetm(st, "conditions");
		if (!cJSON_IsArray(conds))
			conds = jset(st, "conditions", cJSON_CreateArray(), &ok);
		bool avail = o.ready >= desired;

		set_wcond(conds, "Available", avail,
			  avail ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
			  avail ? "Deployment has minimum availability."
				: "Deployment does not have minimum availability.",
			  ts, &ok);
		replicaset_of(w, rs, sizeof(rs), rs_uid, hash);
		snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has successfully progressed.", rs);
		set_wcond(conds, "Progressing", true, "NewReplicaSetAvailable", msg, ts, &ok);
	} else if (kind == FC_KIND_STATEFULSET) {
		char rev[340];

		json_hash10(jget(jget(w, "spec"), "template"), hash);
		snprintf(rev, sizeof(rev), "%s-%s", name, hash);
		jset_num(st, "replicas", o.active, &ok);
		jset_count(st, "readyReplicas", o.ready, &ok);
		jset_count(st, "currentReplicas", o.active, &ok);
		jset_count(st, "updatedReplicas", o.active, &ok);
		jset_num(st, "availableReplicas", o.ready, &ok);
		jset_str(st, "currentRevision", rev, &ok);
		jset_str(st, "updateRevision", rev, &ok);
		jset_num(st, "collisionCount", 0, &ok);
	} else {
		int nodes = ctl->opt.nodes, scheduled = 0;

		for (int i = 0; i < nodes; i++)
			scheduled += o.node_has[i];
		jset_num(st, "currentNumberScheduled", scheduled, &ok);
		jset_num(st, "desiredNumberScheduled", nodes, &ok);
		jset_count(st, "numberAvailable", o.ready, &ok);
		jset_num(st, "numberMisscheduled", 0, &ok);
		jset_num(st, "numberReady", o.ready, &ok);
		jset_count(st, "updatedNumberScheduled", scheduled, &ok);
		jset_count(st, "numberUnavailable", nodes > o.ready ? nodes - o.ready : 0, &ok);
	}
	if (!ok || cJSON_Compare(jget(w, "status"), st, true)) {
		cJSON_Delete(copy);
		return;
	}
	fc_store_put(ctl->store, kind, copy);
}

static void owner_status(struct fc_controller *ctl, const cJSON *pod)
{
	enum fc_kind k;
	char n[256], ns[64];

	if (!pod_owner(pod, &k, n, sizeof(n)))
		return;
	snprintf(ns, sizeof(ns), "%s", jstr2(pod, "metadata", "namespace"));
	update_workload_status(ctl, k, ns, n);
}

static void pod_changed(struct fc_controller *ctl, const cJSON *pod)
{
	cJSON *hold = cJSON_Duplicate(pod, true);

	if (!hold)
		return;
	if (!ctl->batch)
		sync_slices_for_pod(ctl, hold);
	owner_status(ctl, hold);
	cJSON_Delete(hold);
}

/* Stores a new pod (spec already defaulted, nodeName set): Running at once, or Pending with a
 * start task. */
static int start_pod(struct fc_controller *ctl, cJSON *pod, bool instant)
{
	char ns[64], name[256];
	const cJSON *stored;
	int e;

	if (ctl->npods >= MAX_PODS) {
		cJSON_Delete(pod);
		return -ENOSPC;
	}
	e = pod_set_phase(ctl, pod, instant);
	if (e) {
		release_pod_ip(ctl, pod);
		cJSON_Delete(pod);
		return e;
	}
	snprintf(ns, sizeof(ns), "%s", jstr2(pod, "metadata", "namespace"));
	snprintf(name, sizeof(name), "%s", jstr2(pod, "metadata", "name"));
	release_pod_ip(ctl, pod); /* re-marked below once stored */
	if ((e = fc_store_put(ctl->store, FC_KIND_POD, pod)))
		return e;
	stored = fc_store_get(ctl->store, FC_KIND_POD, ns, name);
	if (!stored)
		return -ENOMEM;
	{
		const char *ip = jstr2(stored, "status", "podIP");
		uint32_t a;

		if (ip && !parse_ipv4(ip, &a) && (a & 0xffff0000u) == POD_NET)
			bit_set(ctl->pod_ips, a & 0xffff, true);
	}
	ctl->npods++;
	if (!instant)
		schedule(ctl, T_POD_START, FC_KIND_POD, ns, name, jstr2(stored, "metadata", "uid"),
			 ctl->opt.start_delay_ms);
	stored = fc_store_get(ctl->store, FC_KIND_POD, ns, name);
	if (stored)
		pod_changed(ctl, stored);
	return 0;
}

static int make_pod(struct fc_controller *ctl, const cJSON *w, enum fc_kind kind,
		    const char *pod_name, int ordinal, unsigned node, bool instant)
{
	const cJSON *tpl = jget(jget(w, "spec"), "template"), *tmd = jget(tpl, "metadata"), *x;
	const char *ns = jstr2(w, "metadata", "namespace"), *wname = jstr2(w, "metadata", "name");
	cJSON *pod = cJSON_CreateObject(), *md, *labels, *owners, *owner, *spec;
	char rs[320], rs_uid[37], hash[11], buf[340], nn[32];
	bool ok = true;

	if (!pod)
		return -ENOMEM;
	jset_str(pod, "apiVersion", "v1", &ok);
	jset_str(pod, "kind", "Pod", &ok);
	md = jobj(pod, "metadata", &ok);
	jset_str(md, "name", pod_name, &ok);
	jset_str(md, "namespace", ns, &ok);
	labels = jset(md, "labels", cJSON_CreateObject(), &ok);
	cJSON_ArrayForEach(x, jget(tmd, "labels")) jset_str(labels, x->string, x->valuestring, &ok);
	if (cJSON_GetArraySize(jget(tmd, "annotations")) > 0)
		jset(md, "annotations", cJSON_Duplicate(jget(tmd, "annotations"), true), &ok);
	owners = jset(md, "ownerReferences", cJSON_CreateArray(), &ok);
	owner = cJSON_CreateObject();
	if (!owners || !owner || !cJSON_AddItemToArray(owners, owner)) {
		cJSON_Delete(owner);
		cJSON_Delete(pod);
		return -ENOMEM;
	}
	jset_str(owner, "apiVersion", "apps/v1", &ok);
	json_hash10(tpl, hash);
	if (kind == FC_KIND_DEPLOYMENT) {
		replicaset_of(w, rs, sizeof(rs), rs_uid, hash);
		snprintf(buf, sizeof(buf), "%s-", rs);
		jset_str(md, "generateName", buf, &ok);
		jset_str(labels, "pod-template-hash", hash, &ok);
		jset_str(owner, "kind", "ReplicaSet", &ok);
		jset_str(owner, "name", rs, &ok);
		jset_str(owner, "uid", rs_uid, &ok);
	} else {
		jset_str(owner, "kind", kind == FC_KIND_STATEFULSET ? "StatefulSet" : "DaemonSet",
			 &ok);
		jset_str(owner, "name", wname, &ok);
		jset_str(owner, "uid", jstr2(w, "metadata", "uid"), &ok);
		if (kind == FC_KIND_STATEFULSET) {
			snprintf(buf, sizeof(buf), "%s-%s", wname, hash);
			jset_str(labels, "controller-revision-hash", buf, &ok);
			jset_str(labels, "statefulset.kubernetes.io/pod-name", pod_name, &ok);
			snprintf(buf, sizeof(buf), "%d", ordinal);
			jset_str(labels, "apps.kubernetes.io/pod-index", buf, &ok);
		} else {
			snprintf(buf, sizeof(buf), "%s-", wname);
			jset_str(md, "generateName", buf, &ok);
			jset_str(labels, "controller-revision-hash", hash, &ok);
			jset_str(labels, "pod-template-generation", "1", &ok);
		}
	}
	jset_bool(owner, "controller", true, &ok);
	jset_bool(owner, "blockOwnerDeletion", true, &ok);
	spec = jset(pod, "spec", cJSON_Duplicate(jget(tpl, "spec"), true), &ok);
	if (!ok || !spec) {
		cJSON_Delete(pod);
		return -ENOMEM;
	}
	pod_spec_defaults(spec, &ok);
	node_name(node, nn);
	jset_str(spec, "nodeName", nn, &ok);
	if (kind == FC_KIND_STATEFULSET) {
		const char *svc = jstr2(w, "spec", "serviceName");

		jset_str(spec, "hostname", pod_name, &ok);
		if (svc && *svc)
			jset_str(spec, "subdomain", svc, &ok);
	} else if (kind == FC_KIND_DAEMONSET && !jget(spec, "affinity")) {
		/* The DaemonSet controller pins each pod to its node through node affinity. */
		cJSON *terms = cJSON_CreateArray(), *term = cJSON_CreateObject(),
		      *fields = cJSON_CreateArray();
		cJSON *req = cJSON_CreateObject();

		if (!terms || !term || !fields || !req || !cJSON_AddItemToArray(terms, term)) {
			cJSON_Delete(terms);
			cJSON_Delete(term);
			cJSON_Delete(fields);
			cJSON_Delete(req);
			cJSON_Delete(pod);
			return -ENOMEM;
		}
		jset(term, "matchFields", fields, &ok);
		if (ok && cJSON_AddItemToArray(fields, req)) {
			jset_str(req, "key", "metadata.name", &ok);
			jset_str(req, "operator", "In", &ok);
			jset(req, "values", str_array1(nn), &ok);
		} else {
			cJSON_Delete(req);
			ok = false;
		}
		jset(jobj(jobj(jobj(spec, "affinity", &ok), "nodeAffinity", &ok),
			  "requiredDuringSchedulingIgnoredDuringExecution", &ok),
		     "nodeSelectorTerms", terms, &ok);
	}
	if (!ok) {
		cJSON_Delete(pod);
		return -ENOMEM;
	}
	return start_pod(ctl, pod, instant);
}

static unsigned next_node(struct fc_controller *ctl)
{
	return ctl->next_node++ % (unsigned)ctl->opt.nodes;
}

/* Creates the pods a workload is missing. */
static int reconcile(struct fc_controller *ctl, enum fc_kind kind, const char *ns, const char *name,
		     bool instant)
{
	const cJSON *stored = fc_store_get(ctl->store, kind, ns, name);
	cJSON *w;
	struct owned o;
	char rs_uid[37], pname[400];
	int e = 0;

	if (!stored)
		return 0;
	w = cJSON_Duplicate(stored, true); /* our own copy: creating pods changes the store */
	if (!w)
		return -ENOMEM;
	owned_init(ctl, &o, kind, w, rs_uid);
	if (kind == FC_KIND_DEPLOYMENT) {
		char rs[320], hash[11];

		replicaset_of(w, rs, sizeof(rs), rs_uid, hash);
		for (long i = o.active; i < jint(jget(w, "spec"), "replicas", 1) && !e; i++) {
			char suffix[6];

			do {
				rand_suffix(suffix, 5);
				snprintf(pname, sizeof(pname), "%s-%s", rs, suffix);
			} while (fc_store_get(ctl->store, FC_KIND_POD, ns, pname));
			e = make_pod(ctl, w, kind, pname, 0, next_node(ctl), instant);
		}
	} else if (kind == FC_KIND_STATEFULSET) {
		for (long i = 0; i < jint(jget(w, "spec"), "replicas", 1) && !e; i++) {
			snprintf(pname, sizeof(pname), "%s-%ld", name, i);
			if (!fc_store_get(ctl->store, FC_KIND_POD, ns, pname))
				e = make_pod(ctl, w, kind, pname, (int)i, next_node(ctl), instant);
		}
	} else if (kind == FC_KIND_DAEMONSET) {
		for (int n = 0; n < ctl->opt.nodes && !e; n++) {
			char suffix[6];

			if (o.node_has[n])
				continue;
			do {
				rand_suffix(suffix, 5);
				snprintf(pname, sizeof(pname), "%s-%s", name, suffix);
			} while (fc_store_get(ctl->store, FC_KIND_POD, ns, pname));
			e = make_pod(ctl, w, kind, pname, 0, (unsigned)n, instant);
		}
	}
	cJSON_Delete(w);
	update_workload_status(ctl, kind, ns, name);
	return e;
}

/* Removes a pod for good (after its grace period): DELETED, IP freed, slices and owner
 * updated; a StatefulSet recreates the same name after replace_delay_ms. */
static void remove_pod(struct fc_controller *ctl, const char *ns, const char *name)
{
	const cJSON *pod = fc_store_get(ctl->store, FC_KIND_POD, ns, name);
	cJSON *hold;
	enum fc_kind k;
	char owner[256];

	if (!pod || !(hold = cJSON_Duplicate(pod, true)))
		return;
	release_pod_ip(ctl, hold);
	if (ctl->npods)
		ctl->npods--;
	fc_store_delete(ctl->store, FC_KIND_POD, ns, name);
	pod_changed(ctl, hold);
	if (pod_owner(hold, &k, owner, sizeof(owner)) && k == FC_KIND_STATEFULSET &&
	    fc_store_get(ctl->store, k, ns, owner))
		schedule(ctl, T_RECONCILE, k, ns, owner, NULL, ctl->opt.replace_delay_ms);
	cJSON_Delete(hold);
}

static void run_task(struct fc_controller *ctl, const struct task *t)
{
	const cJSON *pod;
	const char *uid;
	cJSON *copy;

	switch (t->what) {
	case T_RECONCILE:
		reconcile(ctl, t->kind, t->ns, t->name, false);
		return;
	case T_POD_START:
	case T_POD_REMOVE:
		pod = fc_store_get(ctl->store, FC_KIND_POD, t->ns, t->name);
		uid = jstr2(pod, "metadata", "uid");
		if (!pod || !uid || strcmp(uid, t->uid))
			return; /* gone or replaced meanwhile */
		if (t->what == T_POD_REMOVE) {
			remove_pod(ctl, t->ns, t->name);
			return;
		}
		if (pod_terminating(pod))
			return;
		copy = cJSON_Duplicate(pod, true);
		if (!copy)
			return;
		if (pod_set_phase(ctl, copy, true)) {
			release_pod_ip(ctl, copy);
			cJSON_Delete(copy);
			return;
		}
		if (fc_store_put(ctl->store, FC_KIND_POD, copy) == 0 &&
		    (pod = fc_store_get(ctl->store, FC_KIND_POD, t->ns, t->name)))
			pod_changed(ctl, pod);
		return;
	}
}

/* ---- create / delete ----------------------------------------------------------------------- */

static int ensure_namespace(struct fc_controller *ctl, const char *name)
{
	cJSON *ns, *md;
	bool ok = true;

	if (fc_store_get(ctl->store, FC_KIND_NAMESPACE, NULL, name))
		return 0;
	ns = cJSON_CreateObject();
	if (!ns)
		return -ENOMEM;
	md = jobj(ns, "metadata", &ok);
	jset_str(md, "name", name, &ok);
	jset_str(jobj(md, "labels", &ok), "kubernetes.io/metadata.name", name, &ok);
	jset(jobj(ns, "spec", &ok), "finalizers", str_array1("kubernetes"), &ok);
	jset_str(jobj(ns, "status", &ok), "phase", "Active", &ok);
	if (!ok) {
		cJSON_Delete(ns);
		return -ENOMEM;
	}
	return fc_store_put(ctl->store, FC_KIND_NAMESPACE, ns);
}

static int create_service(struct fc_controller *ctl, cJSON *svc, char *msg, size_t cap)
{
	bool ok = true;
	cJSON *spec = jobj(svc, "spec", &ok), *p;
	const char *type = jstr(spec, "type"), *cip = jstr(spec, "clusterIP");
	const char *ns = jstr2(svc, "metadata", "namespace"),
		   *name = jstr2(svc, "metadata", "name");
	bool external = type && !strcmp(type, "ExternalName");
	char ip[16], nsb[64], nameb[64];
	uint32_t a;
	int e;

	if (!type)
		jset_str(spec, "type", "ClusterIP", &ok);
	type = jstr(spec, "type");
	jdefault_str(spec, "sessionAffinity", "None", &ok);
	cJSON_ArrayForEach(p, jgetm(spec, "ports"))
	{
		jdefault_str(p, "protocol", "TCP", &ok);
		if (!external && (!jget(p, "targetPort") || cJSON_IsNull(jget(p, "targetPort"))))
			jset_num(p, "targetPort", (double)jint(p, "port", 0), &ok);
		if (type && strcmp(type, "ClusterIP") && !external && !jget(p, "nodePort")) {
			char seed[128];

			snprintf(seed, sizeof(seed), "%s/%s/%ld", ns, name, jint(p, "port", 0));
			jset_num(p, "nodePort",
				 30000 + (double)(fnv64(seed, strlen(seed), FNV64_INIT) % 2768),
				 &ok);
		}
	}
	if (!external) {
		if (cip && !strcmp(cip, "None")) {
			jset(spec, "clusterIPs", str_array1("None"), &ok);
		} else {
			if (cip && *cip) {
				if (parse_ipv4(cip, &a) || a - SVC_NET >= SVC_NET_SIZE ||
				    bit_get(ctl->svc_ips, a - SVC_NET)) {
					snprintf(
					    msg, cap,
					    "spec.clusterIP: Invalid value: \"%s\": provided IP is "
					    "already allocated",
					    cip);
					cJSON_Delete(svc);
					return -EINVAL;
				}
				bit_set(ctl->svc_ips, a - SVC_NET, true);
				snprintf(ip, sizeof(ip), "%s", cip);
			} else if (alloc_svc_ip(ctl, ns, name, ip)) {
				cJSON_Delete(svc);
				return -ENOSPC;
			}
			jset_str(spec, "clusterIP", ip, &ok);
			jset(spec, "clusterIPs", str_array1(ip), &ok);
		}
		jset(spec, "ipFamilies", str_array1("IPv4"), &ok);
		jdefault_str(spec, "ipFamilyPolicy", "SingleStack", &ok);
		jdefault_str(spec, "internalTrafficPolicy", "Cluster", &ok);
		if (strcmp(type, "ClusterIP"))
			jdefault_str(spec, "externalTrafficPolicy", "Cluster", &ok);
	}
	jobj(jobj(svc, "status", &ok), "loadBalancer", &ok);
	if (!ok) {
		release_svc_ip(ctl, svc);
		cJSON_Delete(svc);
		return -ENOMEM;
	}
	snprintf(nsb, sizeof(nsb), "%s", ns);
	snprintf(nameb, sizeof(nameb), "%s", name);
	{
		cJSON *hold = cJSON_Duplicate(svc, true);

		if ((e = fc_store_put(ctl->store, FC_KIND_SERVICE, svc))) {
			if (hold)
				release_svc_ip(ctl, hold);
			cJSON_Delete(hold);
			return e;
		}
		cJSON_Delete(hold);
	}
	if (!ctl->batch) {
		const cJSON *s = fc_store_get(ctl->store, FC_KIND_SERVICE, nsb, nameb);

		if (s)
			sync_service_slices(ctl, s);
	}
	return 0;
}

static int create_workload(struct fc_controller *ctl, enum fc_kind kind, cJSON *w, bool instant)
{
	bool ok = true;
	cJSON *md = jobj(w, "metadata", &ok), *spec = jobj(w, "spec", &ok);
	cJSON *tmd = jobj(jobj(spec, "template", &ok), "metadata", &ok);
	char ns[64], name[256];
	int e;

	jset_num(md, "generation", 1, &ok);
	if (!jget(tmd, "creationTimestamp"))
		jset(tmd, "creationTimestamp", cJSON_CreateNull(), &ok);
	if (kind != FC_KIND_DAEMONSET &&
	    (!jget(spec, "replicas") || cJSON_IsNull(jget(spec, "replicas"))))
		jset_num(spec, "replicas", 1, &ok);
	jdefault_num(spec, "revisionHistoryLimit", 10, &ok);
	if (kind == FC_KIND_DEPLOYMENT) {
		jset_str(jobj(md, "annotations", &ok), "deployment.kubernetes.io/revision", "1",
			 &ok);
		jdefault_num(spec, "progressDeadlineSeconds", 600, &ok);
		if (!jget(spec, "strategy")) {
			cJSON *s = jobj(spec, "strategy", &ok), *ru;

			jset_str(s, "type", "RollingUpdate", &ok);
			ru = jobj(s, "rollingUpdate", &ok);
			jset_str(ru, "maxUnavailable", "25%", &ok);
			jset_str(ru, "maxSurge", "25%", &ok);
		}
	} else if (kind == FC_KIND_STATEFULSET) {
		jdefault_str(spec, "podManagementPolicy", "OrderedReady", &ok);
		if (!jget(spec, "serviceName"))
			jset_str(spec, "serviceName", "", &ok);
		if (!jget(spec, "updateStrategy")) {
			cJSON *s = jobj(spec, "updateStrategy", &ok);

			jset_str(s, "type", "RollingUpdate", &ok);
			jset_num(jobj(s, "rollingUpdate", &ok), "partition", 0, &ok);
		}
	} else if (!jget(spec, "updateStrategy")) {
		cJSON *s = jobj(spec, "updateStrategy", &ok), *ru;

		jset_str(s, "type", "RollingUpdate", &ok);
		ru = jobj(s, "rollingUpdate", &ok);
		jset_num(ru, "maxUnavailable", 1, &ok);
		jset_num(ru, "maxSurge", 0, &ok);
	}
	pod_spec_defaults(jobj(jobj(spec, "template", &ok), "spec", &ok), &ok);
	jobj(w, "status", &ok);
	if (!ok) {
		cJSON_Delete(w);
		return -ENOMEM;
	}
	snprintf(ns, sizeof(ns), "%s", jstr(md, "namespace"));
	snprintf(name, sizeof(name), "%s", jstr(md, "name"));
	if ((e = fc_store_put(ctl->store, kind, w)))
		return e;
	return reconcile(ctl, kind, ns, name, instant);
}

int fc_controller_create(struct fc_controller *ctl, enum fc_kind kind, cJSON *obj, bool instant,
			 bool create_ns, char *msg, size_t cap)
{
	const cJSON *where;
	cJSON *md;
	const char *ns = NULL, *name;
	bool ok = true;
	int e;

	if (cap)
		msg[0] = '\0';
	if ((unsigned)kind >= FC_KIND_COUNT || kind == FC_KIND_ENDPOINTSLICE) {
		snprintf(msg, cap, "objects of this kind cannot be created");
		cJSON_Delete(obj);
		return -EINVAL;
	}
	if ((e = fc_controller_check(kind, obj, &where, msg, cap))) {
		cJSON_Delete(obj);
		return e;
	}
	strip_server_fields(obj);
	md = jgetm(obj, "metadata");
	name = jstr(md, "name");
	if (kind != FC_KIND_NAMESPACE) {
		ns = jstr(md, "namespace");
		if (!ns) {
			jset_str(md, "namespace", "default", &ok);
			ns = jstr(md, "namespace");
		}
		if (!ok || !ns) {
			cJSON_Delete(obj);
			return -ENOMEM;
		}
		if (!fc_store_get(ctl->store, FC_KIND_NAMESPACE, NULL, ns)) {
			if (!create_ns) {
				snprintf(msg, cap, "namespaces \"%s\" not found", ns);
				cJSON_Delete(obj);
				return -ENOENT;
			}
			if ((e = ensure_namespace(ctl, ns))) {
				cJSON_Delete(obj);
				return e;
			}
		}
	}
	if (fc_store_get(ctl->store, kind, ns, name)) {
		cJSON_Delete(obj);
		return -EEXIST;
	}
	switch (kind) {
	case FC_KIND_NAMESPACE:
		jset_str(jobj(md, "labels", &ok), "kubernetes.io/metadata.name", name, &ok);
		jset(jobj(obj, "spec", &ok), "finalizers", str_array1("kubernetes"), &ok);
		jset_str(jobj(obj, "status", &ok), "phase", "Active", &ok);
		if (!ok) {
			cJSON_Delete(obj);
			return -ENOMEM;
		}
		return fc_store_put(ctl->store, kind, obj);
	case FC_KIND_SERVICE:
		return create_service(ctl, obj, msg, cap);
	case FC_KIND_POD: {
		cJSON *spec = jgetm(obj, "spec");
		char nn[32];

		pod_spec_defaults(spec, &ok);
		if (!jstr(spec, "nodeName")) {
			node_name(next_node(ctl), nn);
			jset_str(spec, "nodeName", nn, &ok);
		}
		if (!ok) {
			cJSON_Delete(obj);
			return -ENOMEM;
		}
		return start_pod(ctl, obj, instant);
	}
	default:
		return create_workload(ctl, kind, obj, instant);
	}
}

static int delete_pod(struct fc_controller *ctl, const char *ns, const char *name,
		      int64_t grace_override, bool replace)
{
	const cJSON *pod = fc_store_get(ctl->store, FC_KIND_POD, ns, name);
	uint64_t grace = grace_override >= 0 ? (uint64_t)grace_override : ctl->opt.grace_ms;
	enum fc_kind k;
	char owner[256], ts[32], uid[40];
	cJSON *copy;
	bool ok = true;

	if (!pod)
		return -ENOENT;
	if (grace == 0 || pod_terminating(pod)) {
		if (grace == 0)
			remove_pod(ctl, ns, name);
		return 0;
	}
	copy = cJSON_Duplicate(pod, true);
	if (!copy)
		return -ENOMEM;
	/* deletionTimestamp is when the pod should be gone (request time + grace period). */
	long secs = (long)((grace + 999) / 1000);

	ts_at(ts, time(NULL) + secs);
	jset_str(jgetm(copy, "metadata"), "deletionTimestamp", ts, &ok);
	jset_num(jgetm(copy, "metadata"), "deletionGracePeriodSeconds", (double)secs, &ok);
	ts_now(ts);
	pod_set_ready(copy, false, ts, &ok);
	snprintf(uid, sizeof(uid), "%s", jstr2(copy, "metadata", "uid"));
	if (!ok) {
		cJSON_Delete(copy);
		return -ENOMEM;
	}
	if (fc_store_put(ctl->store, FC_KIND_POD, copy))
		return -ENOMEM;
	pod = fc_store_get(ctl->store, FC_KIND_POD, ns, name);
	if (!pod)
		return -ENOENT;
	copy = cJSON_Duplicate(pod, true);
	if (!copy)
		return -ENOMEM;
	pod_changed(ctl, copy);
	schedule(ctl, T_POD_REMOVE, FC_KIND_POD, ns, name, uid, grace);
	/* The ReplicaSet and DaemonSet controllers don't count terminating pods: they replace
	 * the pod while it is still terminating. StatefulSets wait for the name (remove_pod). */
	if (replace && pod_owner(copy, &k, owner, sizeof(owner)) && k != FC_KIND_STATEFULSET)
		schedule(ctl, T_RECONCILE, k, ns, owner, NULL, ctl->opt.replace_delay_ms);
	cJSON_Delete(copy);
	return 0;
}

struct name_list {
	char **v;
	size_t n, cap;
	enum fc_kind kind;
	const char *owner;
	bool ok;
};

static void collect_owned_pod(void *arg, const cJSON *pod)
{
	struct name_list *l = arg;
	enum fc_kind k;
	char n[256];

	if (!pod_owner(pod, &k, n, sizeof(n)) || k != l->kind || strcmp(n, l->owner))
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->ok = false;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(jstr2(pod, "metadata", "name"))))
		l->n++;
}

static void collect_slice(void *arg, const cJSON *slice)
{
	struct name_list *l = arg;

	if (!slice_is_managed_for(slice, l->owner) || l->n == l->cap)
		return;
	if ((l->v[l->n] = strdup(jstr2(slice, "metadata", "name"))))
		l->n++;
}

int fc_controller_delete(struct fc_controller *ctl, enum fc_kind kind, const char *ns,
			 const char *name, int64_t grace_ms_override)
{
	const cJSON *obj;
	cJSON *hold;
	struct name_list l = {NULL, 0, 0, kind, name, true};
	int e;

	if ((unsigned)kind >= FC_KIND_COUNT)
		return -EINVAL;
	if (kind == FC_KIND_NAMESPACE || kind == FC_KIND_ENDPOINTSLICE)
		return -EPERM;
	if (kind == FC_KIND_POD)
		return delete_pod(ctl, ns, name, grace_ms_override, true);
	obj = fc_store_get(ctl->store, kind, ns, name);
	if (!obj)
		return -ENOENT;
	hold = cJSON_Duplicate(obj, true);
	if (!hold)
		return -ENOMEM;
	if (kind == FC_KIND_SERVICE) {
		l.cap = 64;
		l.v = calloc(l.cap, sizeof(*l.v));
		if (l.v)
			fc_store_foreach(ctl->store, FC_KIND_ENDPOINTSLICE, ns, collect_slice, &l);
		for (size_t i = 0; i < l.n; i++)
			fc_store_delete(ctl->store, FC_KIND_ENDPOINTSLICE, ns, l.v[i]);
		release_svc_ip(ctl, hold);
		e = fc_store_delete(ctl->store, kind, ns, name);
	} else {
		/* Workloads: the garbage collector deletes the dependents (gracefully). */
		e = fc_store_delete(ctl->store, kind, ns, name);
		fc_store_foreach(ctl->store, FC_KIND_POD, ns, collect_owned_pod, &l);
		for (size_t i = 0; i < l.n; i++)
			delete_pod(ctl, ns, l.v[i], grace_ms_override, false);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	cJSON_Delete(hold);
	return e;
}

int fc_controller_set_pod_ready(struct fc_controller *ctl, const char *ns, const char *name,
				bool ready)
{
	const cJSON *pod = fc_store_get(ctl->store, FC_KIND_POD, ns, name);
	cJSON *copy;
	char ts[32];
	bool ok = true;

	if (!pod)
		return -ENOENT;
	if (pod_ready(pod) == ready)
		return 0;
	copy = cJSON_Duplicate(pod, true);
	if (!copy)
		return -ENOMEM;
	ts_now(ts);
	pod_set_ready(copy, ready, ts, &ok);
	if (!ok) {
		cJSON_Delete(copy);
		return -ENOMEM;
	}
	if (fc_store_put(ctl->store, FC_KIND_POD, copy))
		return -ENOMEM;
	pod = fc_store_get(ctl->store, FC_KIND_POD, ns, name);
	if (pod)
		pod_changed(ctl, pod);
	return 0;
}

static void status_cb(void *arg, const cJSON *w)
{
	struct fc_controller *ctl = arg;
	const char *kind = jstr(w, "kind");
	enum fc_kind k;

	if (kind && fc_controller_kind("apps/v1", kind, &k) == 0)
		update_workload_status(ctl, k, jstr2(w, "metadata", "namespace"),
				       jstr2(w, "metadata", "name"));
}

void fc_controller_batch(struct fc_controller *ctl, bool on)
{
	ctl->batch = on;
	if (on)
		return;
	fc_store_foreach(ctl->store, FC_KIND_SERVICE, NULL, sync_svc_cb, ctl);
	for (enum fc_kind k = FC_KIND_DEPLOYMENT; k <= FC_KIND_DAEMONSET; k++)
		fc_store_foreach(ctl->store, k, NULL, status_cb, ctl);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* default/kubernetes: the API server's own Service (10.96.0.1:443) and its EndpointSlice,
 * maintained by the API server rather than the slice controller. */
static int bootstrap_kubernetes_service(struct fc_controller *ctl)
{
	cJSON *svc = cJSON_CreateObject(), *slice = cJSON_CreateObject();
	cJSON *md, *spec, *ports, *p, *eps, *ep;
	bool ok = true;
	char ip[16];
	uint32_t a;
	const char *host = ctl->opt.api_host;
	int port = ctl->opt.api_port ? ctl->opt.api_port : 6443;

	if (!svc || !slice) {
		cJSON_Delete(svc);
		cJSON_Delete(slice);
		return -ENOMEM;
	}
	if (!host || parse_ipv4(host, &a))
		host = "127.0.0.1";
	ip_str(KUBERNETES_SVC_IP, ip);
	md = jobj(svc, "metadata", &ok);
	jset_str(md, "name", "kubernetes", &ok);
	jset_str(md, "namespace", "default", &ok);
	jset_str(jobj(md, "labels", &ok), "component", "apiserver", &ok);
	jset_str(jobj(md, "labels", &ok), "provider", "kubernetes", &ok);
	spec = jobj(svc, "spec", &ok);
	jset_str(spec, "clusterIP", ip, &ok);
	jset(spec, "clusterIPs", str_array1(ip), &ok);
	jset_str(spec, "internalTrafficPolicy", "Cluster", &ok);
	jset(spec, "ipFamilies", str_array1("IPv4"), &ok);
	jset_str(spec, "ipFamilyPolicy", "SingleStack", &ok);
	ports = jset(spec, "ports", cJSON_CreateArray(), &ok);
	p = cJSON_CreateObject();
	if (ports && p && cJSON_AddItemToArray(ports, p)) {
		jset_str(p, "name", "https", &ok);
		jset_num(p, "port", 443, &ok);
		jset_str(p, "protocol", "TCP", &ok);
		jset_num(p, "targetPort", port, &ok);
	} else {
		cJSON_Delete(p);
		ok = false;
	}
	jset_str(spec, "sessionAffinity", "None", &ok);
	jset_str(spec, "type", "ClusterIP", &ok);
	jobj(jobj(svc, "status", &ok), "loadBalancer", &ok);

	md = jobj(slice, "metadata", &ok);
	jset_str(md, "name", "kubernetes", &ok);
	jset_str(md, "namespace", "default", &ok);
	jset_num(md, "generation", 1, &ok);
	jset_str(jobj(md, "labels", &ok), "kubernetes.io/service-name", "kubernetes", &ok);
	jset_str(slice, "addressType", "IPv4", &ok);
	eps = jset(slice, "endpoints", cJSON_CreateArray(), &ok);
	ep = cJSON_CreateObject();
	if (eps && ep && cJSON_AddItemToArray(eps, ep)) {
		jset(ep, "addresses", str_array1(host), &ok);
		jset_bool(jobj(ep, "conditions", &ok), "ready", true, &ok);
	} else {
		cJSON_Delete(ep);
		ok = false;
	}
	ports = jset(slice, "ports", cJSON_CreateArray(), &ok);
	p = cJSON_CreateObject();
	if (ports && p && cJSON_AddItemToArray(ports, p)) {
		jset_str(p, "name", "https", &ok);
		jset_num(p, "port", port, &ok);
		jset_str(p, "protocol", "TCP", &ok);
	} else {
		cJSON_Delete(p);
		ok = false;
	}
	if (!ok) {
		cJSON_Delete(svc);
		cJSON_Delete(slice);
		return -ENOMEM;
	}
	bit_set(ctl->svc_ips, KUBERNETES_SVC_IP - SVC_NET, true);
	if (fc_store_put(ctl->store, FC_KIND_SERVICE, svc)) {
		cJSON_Delete(slice);
		return -ENOMEM;
	}
	return fc_store_put(ctl->store, FC_KIND_ENDPOINTSLICE, slice);
}

struct fc_controller *fc_controller_new(struct fc_loop *loop, struct fc_store *store,
					const struct fc_controller_opts *opts)
{
	struct fc_controller *ctl = calloc(1, sizeof(*ctl));
	const char *nss[] = {"default", "kube-node-lease", "kube-public", "kube-system"};

	if (!ctl)
		return NULL;
	ctl->loop = loop;
	ctl->store = store;
	if (opts)
		ctl->opt = *opts;
	if (ctl->opt.nodes < 1)
		ctl->opt.nodes = 1;
	if (ctl->opt.nodes > MAX_NODES)
		ctl->opt.nodes = MAX_NODES;
	ctl->svc_ips = calloc(SVC_NET_SIZE / 8, 1);
	if (!ctl->svc_ips)
		goto fail;
	for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++) {
		if (ensure_namespace(ctl, nss[i]))
			goto fail;
	}
	if (!fc_store_get(store, FC_KIND_SERVICE, "default", "kubernetes") &&
	    bootstrap_kubernetes_service(ctl))
		goto fail;
	return ctl;
fail:
	fc_controller_free(ctl);
	return NULL;
}

void fc_controller_free(struct fc_controller *ctl)
{
	if (!ctl)
		return;
	while (ctl->tasks) {
		struct task *t = ctl->tasks;

		ctl->tasks = t->next;
		fc_loop_timer_cancel(ctl->loop, t->timer);
		free(t);
	}
	free(ctl->svc_ips);
	free(ctl);
}
