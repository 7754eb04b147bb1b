/* profile.c: strict profile parsing, validation and the round-tripping writer (profile.h).
 *
 * The parser walks the cJSON tree that yamljson builds and reports every problem at the node
 * (or, for an unknown key, at the key) with kt_yaml_errorf. Forwards are checked one by one as
 * they are read; the duplicate check runs once at the end over a sorted index, because the
 * profile's namespace (which decides what "the same namespace" means) may follow the forwards
 * in the file. The writer emits the canonical form and then parses its own output back and
 * compares, so it can never hand out a file that does not load to the same profile. */
#include "profile.h"

#include "buf.h"
#include "yamljson.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_LIMIT (64u << 20) /* the writer's output; far above 4096 forwards */

/* ---- names (k8s.io/apimachinery/pkg/util/validation/validation.go) ---- */

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? of n characters. */
static bool label_ok(const char *s, size_t n)
{
	if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* IsDNS1123Label: at most 63 characters. */
static bool dns1123_label(const char *s)
{
	size_t n = strlen(s);
	return n <= 63 && label_ok(s, n);
}

/* IsDNS1123Subdomain: labels joined by '.', at most 253 characters in all. */
static bool dns1123_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (const char *p = s;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (!label_ok(p, l))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

/* IsDNS1035Label ([a-z]([-a-z0-9]*[a-z0-9])?, at most 63): Service names (ValidateServiceName). */
static bool dns1035_label(const char *s)
{
	return s[0] >= 'a' && s[0] <= 'z' && dns1123_label(s);
}

bool kt_profile_valid_namespace(const char *s)
{
	return s && dns1123_label(s);
}

bool kt_profile_valid_name(enum kt_profile_kind kind, const char *s)
{
	if (!s)
		return false;
	return kind == KT_PROFILE_SERVICE ? dns1035_label(s) : dns1123_subdomain(s);
}

/* Context names are free text in a kubeconfig (EKS uses ARNs); refuse only what cannot be
 * written back safely: control characters and invalid UTF-8. */
static bool context_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KT_PROFILE_MAX_CONTEXT)
		return false;
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		size_t len;
		unsigned cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) < len)
			return false;
		for (size_t i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF; C1 controls (U+0085 is a YAML
		 * line break), the line and paragraph separators (YAML 1.1 line breaks, which
		 * would fold in a quoted scalar), the BOM and the non-characters U+FFFE/FFFF
		 * (which YAML readers refuse). */
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029 || cp == 0xfeff || cp == 0xfffe || cp == 0xffff)
			return false;
		p += len;
	}
	return true;
}

/* ---- kinds (kubectl's resource names and short names, protocol.md section 4 step 0) ---- */

static const struct {
	const char *word;
	enum kt_profile_kind kind;
} kinds[] = {
    {"po", KT_PROFILE_POD},
    {"pod", KT_PROFILE_POD},
    {"pods", KT_PROFILE_POD},
    {"svc", KT_PROFILE_SERVICE},
    {"service", KT_PROFILE_SERVICE},
    {"services", KT_PROFILE_SERVICE},
    {"deploy", KT_PROFILE_DEPLOYMENT},
    {"deployment", KT_PROFILE_DEPLOYMENT},
    {"deployments", KT_PROFILE_DEPLOYMENT},
    {"deployment.apps", KT_PROFILE_DEPLOYMENT},
    {"deployments.apps", KT_PROFILE_DEPLOYMENT},
    {"sts", KT_PROFILE_STATEFULSET},
    {"statefulset", KT_PROFILE_STATEFULSET},
    {"statefulsets", KT_PROFILE_STATEFULSET},
    {"statefulset.apps", KT_PROFILE_STATEFULSET},
    {"statefulsets.apps", KT_PROFILE_STATEFULSET},
    {"ds", KT_PROFILE_DAEMONSET},
    {"daemonset", KT_PROFILE_DAEMONSET},
    {"daemonsets", KT_PROFILE_DAEMONSET},
    {"daemonset.apps", KT_PROFILE_DAEMONSET},
    {"daemonsets.apps", KT_PROFILE_DAEMONSET},
};

const char *kt_profile_kind_name(enum kt_profile_kind kind)
{
	switch (kind) {
	case KT_PROFILE_POD:
		return "pod";
	case KT_PROFILE_SERVICE:
		return "svc";
	case KT_PROFILE_DEPLOYMENT:
		return "deploy";
	case KT_PROFILE_STATEFULSET:
		return "sts";
	case KT_PROFILE_DAEMONSET:
		return "ds";
	}
	return "?";
}

static const char *kind_long(enum kt_profile_kind kind)
{
	switch (kind) {
	case KT_PROFILE_POD:
		return "pod";
	case KT_PROFILE_SERVICE:
		return "service";
	case KT_PROFILE_DEPLOYMENT:
		return "deployment";
	case KT_PROFILE_STATEFULSET:
		return "statefulset";
	case KT_PROFILE_DAEMONSET:
		return "daemonset";
	}
	return "?";
}

static const char *name_rule(enum kt_profile_kind kind)
{
	return kind == KT_PROFILE_SERVICE
		   ? "a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting "
		     "with a letter and ending with a letter or digit"
		   : "a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' and '.', "
		     "each part starting and ending with a letter or digit";
}

int kt_profile_target_parse(const char *target, enum kt_profile_kind *kind, const char **name,
			    char *err, size_t errcap)
{
	const char *slash = strchr(target, '/');
	enum kt_profile_kind k = KT_PROFILE_POD; /* kubectl: a bare NAME is a pod */
	const char *n = target;
	if (slash) {
		size_t wl = (size_t)(slash - target);
		bool found = false;
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !found; i++)
			if (strlen(kinds[i].word) == wl &&
			    strncasecmp(kinds[i].word, target, wl) == 0) {
				k = kinds[i].kind;
				found = true;
			}
		if (!found) {
			snprintf(
			    err, errcap,
			    "invalid target \"%.300s\": unknown kind \"%.*s\" (use svc/, pod/, "
			    "deploy/, sts/ or ds/)",
			    target, (int)(wl > 64 ? 64 : wl), target);
			return -EINVAL;
		}
		n = slash + 1;
	}
	if (!kt_profile_valid_name(k, n)) {
		snprintf(err, errcap,
			 "invalid target \"%.300s\": \"%.260s\" is not a valid %s name (%s)",
			 target, n, kind_long(k), name_rule(k));
		return -EINVAL;
	}
	*kind = k;
	*name = n;
	return 0;
}

/* ---- the profile value ---- */

struct kt_profile *kt_profile_new(void)
{
	return calloc(1, sizeof(struct kt_profile));
}

static void forward_fini(struct kt_profile_forward *f)
{
	free(f->name);
	free(f->namespace);
	free(f->ports);
}

void kt_profile_free(struct kt_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nforwards; i++)
		forward_fini(&p->forwards[i]);
	free(p->forwards);
	free(p->context);
	free(p->namespace);
	free(p);
}

static int set_str(char **slot, const char *v)
{
	char *c = NULL;
	if (v && !(c = strdup(v)))
		return -ENOMEM;
	free(*slot);
	*slot = c;
	return 0;
}

int kt_profile_set_context(struct kt_profile *p, const char *context)
{
	if (context && !context_ok(context))
		return -EINVAL;
	return set_str(&p->context, context);
}

int kt_profile_set_namespace(struct kt_profile *p, const char *ns)
{
	if (ns && !kt_profile_valid_namespace(ns))
		return -EINVAL;
	return set_str(&p->namespace, ns);
}

/* The namespace a forward lands in, "" when neither it nor the profile names one (then the
 * kubeconfig context decides, the same for every such forward). */
static const char *eff_ns(const struct kt_profile *p, const char *ns)
{
	return ns ? ns : p->namespace ? p->namespace : "";
}

long kt_profile_find(const struct kt_profile *p, enum kt_profile_kind kind, const char *name,
		     const char *ns)
{
	const char *want = eff_ns(p, ns);
	for (size_t i = 0; i < p->nforwards; i++) {
		const struct kt_profile_forward *f = &p->forwards[i];
		if (f->kind == kind && strcmp(f->name, name) == 0 &&
		    strcmp(eff_ns(p, f->namespace), want) == 0)
			return (long)i;
	}
	return -1;
}

/* Checks a port list: each 1..65535 (uint16_t excludes the rest but 0), no repeats. Returns
 * the index of the first bad entry or -1. */
static long bad_port(const uint16_t *ports, size_t n, bool *dup)
{
	uint64_t seen[65536 / 64] = {0};
	for (size_t i = 0; i < n; i++) {
		uint16_t v = ports[i];
		*dup = v != 0;
		if (v == 0 || seen[v / 64] & (1ull << (v % 64)))
			return (long)i;
		seen[v / 64] |= 1ull << (v % 64);
	}
	return -1;
}

/* Appends without the duplicate-forward check. */
static int append(struct kt_profile *p, enum kt_profile_kind kind, const char *name, const char *ns,
		  const uint16_t *ports, size_t nports)
{
	struct kt_profile_forward f = {.kind = kind};
	f.name = strdup(name);
	f.namespace = ns ? strdup(ns) : NULL;
	f.ports = nports ? malloc(nports * sizeof(*ports)) : NULL;
	struct kt_profile_forward *nf = realloc(p->forwards, (p->nforwards + 1) * sizeof(*nf));
	if (nf)
		p->forwards = nf;
	if (!f.name || (ns && !f.namespace) || (nports && !f.ports) || !nf) {
		forward_fini(&f);
		return -ENOMEM;
	}
	if (nports)
		memcpy(f.ports, ports, nports * sizeof(*ports));
	f.nports = nports;
	p->forwards[p->nforwards++] = f;
	return 0;
}

int kt_profile_add(struct kt_profile *p, enum kt_profile_kind kind, const char *name,
		   const char *ns, const uint16_t *ports, size_t nports, char *err, size_t errcap)
{
	bool dup = false;
	long bad;
	if (err && errcap)
		err[0] = '\0';
	if ((unsigned)kind > KT_PROFILE_DAEMONSET || !kt_profile_valid_name(kind, name)) {
		snprintf(err, errcap, "\"%.260s\" is not a valid %s name (%s)", name ? name : "",
			 kind_long(kind), name_rule(kind));
		return -EINVAL;
	}
	if (ns && !kt_profile_valid_namespace(ns)) {
		snprintf(err, errcap, "\"%.100s\" is not a valid namespace name", ns);
		return -EINVAL;
	}
	if ((bad = bad_port(ports, nports, &dup)) >= 0) {
		snprintf(err, errcap,
			 dup ? "port %u is listed twice" : "port %u is not in 1..65535",
			 ports[bad]);
		return -EINVAL;
	}
	if (kt_profile_find(p, kind, name, ns) >= 0) {
		snprintf(err, errcap, "%s/%s in namespace \"%s\" is already forwarded",
			 kt_profile_kind_name(kind), name, eff_ns(p, ns));
		return -EEXIST;
	}
	if (p->nforwards >= KT_PROFILE_MAX_FORWARDS) {
		snprintf(err, errcap, "a profile holds at most %u forwards",
			 KT_PROFILE_MAX_FORWARDS);
		return -E2BIG;
	}
	return append(p, kind, name, ns, ports, nports);
}

/* ---- parser ---- */

struct parser {
	const struct kt_yaml *y;
	struct kt_profile *p;
	const cJSON **fnodes; /* the mapping node of each forward, for messages */
	char *err;
	size_t errcap;
};

static int oom(struct parser *ps)
{
	snprintf(ps->err, ps->errcap, "%s: out of memory", kt_yaml_file(ps->y));
	return -ENOMEM;
}

static int parse_ports(struct parser *ps, const cJSON *v, uint16_t **out, size_t *nout)
{
	if (!cJSON_IsArray(v))
		return kt_yaml_errorf(ps->y, v, ps->err, ps->errcap,
				      "ports must be a list of port numbers, e.g. [80, 443]");
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n == 0)
		return kt_yaml_errorf(ps->y, v, ps->err, ps->errcap,
				      "ports is empty; leave it out to forward every TCP port");
	if (n > 65535)
		return kt_yaml_errorf(ps->y, v, ps->err, ps->errcap, "too many ports");
	uint16_t *ports = malloc(n * sizeof(*ports));
	if (!ports)
		return oom(ps);
	uint64_t seen[65536 / 64] = {0};
	size_t i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		double d = cJSON_IsNumber(e) ? e->valuedouble : 0;
		/* Range first, so the conversion below is defined; then integral (no libm). */
		if (!cJSON_IsNumber(e) || !(d >= 1 && d <= 65535) || d != (double)(uint16_t)d) {
			free(ports);
			return kt_yaml_errorf(ps->y, e, ps->err, ps->errcap,
					      "a port must be an integer from 1 to 65535");
		}
		uint16_t port = (uint16_t)d;
		if (seen[port / 64] & (1ull << (port % 64))) {
			free(ports);
			return kt_yaml_errorf(ps->y, e, ps->err, ps->errcap,
					      "port %u is listed twice", port);
		}
		seen[port / 64] |= 1ull << (port % 64);
		ports[i++] = port;
	}
	*out = ports;
	*nout = n;
	return 0;
}

static int parse_ns(struct parser *ps, const cJSON *v, const char **out)
{
	if (!cJSON_IsString(v))
		return kt_yaml_errorf(ps->y, v, ps->err, ps->errcap, "namespace must be a string");
	if (!kt_profile_valid_namespace(v->valuestring))
		return kt_yaml_errorf(ps->y, v, ps->err, ps->errcap,
				      "\"%.100s\" is not a valid namespace name (a DNS-1123 label: "
				      "at most 63 lower-case letters, digits and '-', starting and "
				      "ending with a letter or digit)",
				      v->valuestring);
	*out = v->valuestring;
	return 0;
}

static int parse_forward(struct parser *ps, const cJSON *fw)
{
	const cJSON *target = NULL, *k;
	const char *ns = NULL, *name = NULL;
	uint16_t *ports = NULL;
	size_t nports = 0;
	enum kt_profile_kind kind = KT_PROFILE_POD;
	char why[768];
	int r = 0;

	if (!cJSON_IsObject(fw))
		return kt_yaml_errorf(ps->y, fw, ps->err, ps->errcap,
				      "a forward must be a mapping with a target");
	cJSON_ArrayForEach(k, fw)
	{
		if (strcmp(k->string, "target") == 0) {
			if (!cJSON_IsString(k)) {
				r = kt_yaml_errorf(ps->y, k, ps->err, ps->errcap,
						   "target must be a string such as svc/web");
				break;
			}
			target = k;
			if (kt_profile_target_parse(k->valuestring, &kind, &name, why,
						    sizeof(why)) != 0) {
				r = kt_yaml_errorf(ps->y, k, ps->err, ps->errcap, "%s", why);
				break;
			}
		} else if (strcmp(k->string, "namespace") == 0) {
			if (!cJSON_IsNull(k) && (r = parse_ns(ps, k, &ns)))
				break;
		} else if (strcmp(k->string, "ports") == 0) {
			if (!cJSON_IsNull(k) && (r = parse_ports(ps, k, &ports, &nports)))
				break;
		} else {
			r = kt_yaml_key_errorf(ps->y, k, ps->err, ps->errcap,
					       "unknown key \"%.100s\" (a forward has target, "
					       "namespace and ports)",
					       k->string);
			break;
		}
	}
	if (r == 0 && !target)
		r = kt_yaml_errorf(ps->y, fw, ps->err, ps->errcap,
				   "a forward needs a target such as svc/web");
	if (r == 0) {
		r = append(ps->p, kind, name, ns, ports, nports);
		if (r)
			oom(ps);
		else
			ps->fnodes[ps->p->nforwards - 1] = fw;
	}
	free(ports);
	return r;
}

struct fwd_key {
	const struct kt_profile_forward *f;
	const char *ns;
	size_t idx;
};

static int cmp_fwd(const void *a, const void *b)
{
	const struct fwd_key *x = a, *y = b;
	if (x->f->kind != y->f->kind)
		return x->f->kind < y->f->kind ? -1 : 1;
	int r = strcmp(x->f->name, y->f->name);
	if (!r)
		r = strcmp(x->ns, y->ns);
	if (!r)
		r = (x->idx > y->idx) - (x->idx < y->idx);
	return r;
}

/* No two forwards with the same kind, name and effective namespace. */
static int check_dups(struct parser *ps)
{
	struct kt_profile *p = ps->p;
	if (p->nforwards < 2)
		return 0;
	struct fwd_key *v = malloc(p->nforwards * sizeof(*v));
	if (!v)
		return oom(ps);
	for (size_t i = 0; i < p->nforwards; i++)
		v[i] = (struct fwd_key){&p->forwards[i], eff_ns(p, p->forwards[i].namespace), i};
	qsort(v, p->nforwards, sizeof(*v), cmp_fwd);
	const struct fwd_key *dup = NULL, *first = NULL;
	for (size_t i = 1; i < p->nforwards; i++)
		if (v[i].f->kind == v[i - 1].f->kind &&
		    strcmp(v[i].f->name, v[i - 1].f->name) == 0 &&
		    strcmp(v[i].ns, v[i - 1].ns) == 0 && (!dup || v[i].idx < dup->idx)) {
			dup = &v[i];
			first = &v[i - 1];
		}
	int r = 0;
	if (dup) {
		int line = 0;
		kt_yaml_node_pos(ps->y, ps->fnodes[first->idx], &line, NULL);
		r = kt_yaml_errorf(ps->y, ps->fnodes[dup->idx], ps->err, ps->errcap,
				   "duplicate forward %s/%s%s%s%s (first at line %d)",
				   kt_profile_kind_name(dup->f->kind), dup->f->name,
				   dup->ns[0] ? " in namespace \"" : "", dup->ns,
				   dup->ns[0] ? "\"" : "", line);
	}
	free(v);
	return r;
}

static int parse_root(struct parser *ps, const cJSON *root)
{
	const cJSON *k, *forwards = NULL;
	const char *ns = NULL;
	int r;

	if (!cJSON_IsObject(root))
		return kt_yaml_errorf(ps->y, root, ps->err, ps->errcap,
				      "a profile must be a mapping (context, namespace, forwards)");
	cJSON_ArrayForEach(k, root)
	{
		if (strcmp(k->string, "context") == 0) {
			if (cJSON_IsNull(k))
				continue;
			if (!cJSON_IsString(k) || !context_ok(k->valuestring))
				return kt_yaml_errorf(ps->y, k, ps->err, ps->errcap,
						      "context must be a non-empty string without "
						      "control characters, at most %u bytes",
						      KT_PROFILE_MAX_CONTEXT);
			if (set_str(&ps->p->context, k->valuestring))
				return oom(ps);
		} else if (strcmp(k->string, "namespace") == 0) {
			if (cJSON_IsNull(k))
				continue;
			if ((r = parse_ns(ps, k, &ns)))
				return r;
			if (set_str(&ps->p->namespace, ns))
				return oom(ps);
		} else if (strcmp(k->string, "forwards") == 0) {
			forwards = k;
		} else {
			return kt_yaml_key_errorf(ps->y, k, ps->err, ps->errcap,
						  "unknown key \"%.100s\" (a profile has context, "
						  "namespace and forwards)",
						  k->string);
		}
	}
	if (!forwards || cJSON_IsNull(forwards))
		return 0;
	if (!cJSON_IsArray(forwards))
		return kt_yaml_errorf(ps->y, forwards, ps->err, ps->errcap,
				      "forwards must be a list");
	size_t n = (size_t)cJSON_GetArraySize(forwards);
	if (n > KT_PROFILE_MAX_FORWARDS)
		return kt_yaml_errorf(ps->y, forwards, ps->err, ps->errcap,
				      "%zu forwards; a profile holds at most %u", n,
				      KT_PROFILE_MAX_FORWARDS);
	if (n && !(ps->fnodes = calloc(n, sizeof(*ps->fnodes))))
		return oom(ps);
	const cJSON *fw;
	cJSON_ArrayForEach(fw, forwards)
	{
		if ((r = parse_forward(ps, fw)))
			return r;
	}
	return check_dups(ps);
}

struct kt_profile *kt_profile_parse(const void *buf, size_t len, const char *fname, char *err,
				    size_t errcap)
{
	char dummy[1];
	if (!err || !errcap) {
		err = dummy;
		errcap = sizeof(dummy);
	}
	err[0] = '\0';
	struct kt_yaml *y = kt_yaml_load(buf, len, fname, err, errcap);
	if (!y)
		return NULL;
	struct parser ps = {.y = y, .err = err, .errcap = errcap};
	int r = 0;
	if (!(ps.p = kt_profile_new())) {
		r = oom(&ps);
	} else if (kt_yaml_doc_count(y) > 1) {
		r = kt_yaml_errorf(y, kt_yaml_doc(y, 1), err, errcap,
				   "a profile is a single YAML document");
	} else if (kt_yaml_doc_count(y) == 1) {
		r = parse_root(&ps, kt_yaml_doc(y, 0));
	}
	free(ps.fnodes);
	kt_yaml_free(y);
	if (r) {
		kt_profile_free(ps.p);
		return NULL;
	}
	return ps.p;
}

struct kt_profile *kt_profile_load(const char *path, char *err, size_t errcap)
{
	char dummy[1];
	if (!err || !errcap) {
		err = dummy;
		errcap = sizeof(dummy);
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_size > (off_t)KT_YAML_MAX_BYTES)
		why = "larger than 16 MiB";
	if (why) {
		snprintf(err, errcap, "%s: %s", path, why);
		close(fd);
		return NULL;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		snprintf(err, errcap, "%s: out of memory", path);
		return NULL;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errcap, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) {
			/* The file grew after fstat: it is being rewritten; refuse a torn read. */
			snprintf(err, errcap, "%s: file changed while being read", path);
			free(buf);
			close(fd);
			return NULL;
		}
	}
	close(fd);
	struct kt_profile *p = kt_profile_parse(buf, len, path, err, errcap);
	free(buf);
	return p;
}

/* ---- writer ---- */

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool kt_profile_equal(const struct kt_profile *a, const struct kt_profile *b)
{
	if (!str_eq(a->context, b->context) || !str_eq(a->namespace, b->namespace) ||
	    a->nforwards != b->nforwards)
		return false;
	for (size_t i = 0; i < a->nforwards; i++) {
		const struct kt_profile_forward *x = &a->forwards[i], *y = &b->forwards[i];
		if (x->kind != y->kind || !str_eq(x->name, y->name) ||
		    !str_eq(x->namespace, y->namespace) || x->nports != y->nports ||
		    (x->nports && memcmp(x->ports, y->ports, x->nports * sizeof(*x->ports)) != 0))
			return false;
	}
	return true;
}

char *kt_profile_to_yaml(const struct kt_profile *p)
{
	struct kt_buf b;
	int r = 0;
	kt_buf_init(&b, OUT_LIMIT);
	r = kt_buf_printf(&b, "# kubetun profile\n");
	if (!r && p->context) {
		r = kt_buf_printf(&b, "context: ");
		r = r ? r : kt_yaml_put_quoted(&b, p->context);
		r = r ? r : kt_buf_printf(&b, "\n");
	}
	if (!r && p->namespace) {
		r = kt_buf_printf(&b, "namespace: ");
		r = r ? r : kt_yaml_put_quoted(&b, p->namespace);
		r = r ? r : kt_buf_printf(&b, "\n");
	}
	r = r ? r : kt_buf_printf(&b, p->nforwards ? "forwards:\n" : "forwards: []\n");
	for (size_t i = 0; !r && i < p->nforwards; i++) {
		const struct kt_profile_forward *f = &p->forwards[i];
		r = kt_buf_printf(&b, "  - target: \"%s/", kt_profile_kind_name(f->kind));
		/* The name is validated below (by parsing the output back); quoting keeps a
		 * bad one from changing the document's structure meanwhile. */
		if (!r && f->name)
			r = kt_yaml_put_escaped(&b, f->name);
		r = r ? r : kt_buf_printf(&b, "\"\n");
		if (!r && f->namespace) {
			r = kt_buf_printf(&b, "    namespace: ");
			r = r ? r : kt_yaml_put_quoted(&b, f->namespace);
			r = r ? r : kt_buf_printf(&b, "\n");
		}
		if (!r && f->nports) {
			r = kt_buf_printf(&b, "    ports: [");
			for (size_t j = 0; !r && j < f->nports; j++)
				r = kt_buf_printf(&b, "%s%u", j ? ", " : "", f->ports[j]);
			r = r ? r : kt_buf_printf(&b, "]\n");
		}
	}
	char *out = NULL;
	if (!r && (out = malloc(kt_buf_len(&b) + 1))) {
		memcpy(out, kt_buf_peek(&b), kt_buf_len(&b));
		out[kt_buf_len(&b)] = '\0';
	}
	size_t outlen = kt_buf_len(&b);
	kt_buf_fini(&b);
	if (!out) {
		errno = r == -EINVAL || r == -ENOBUFS ? EINVAL : ENOMEM;
		return NULL;
	}
	/* Guarantee the round trip: what we hand out must load back to p. */
	char err[256];
	struct kt_profile *back = kt_profile_parse(out, outlen, "<profile>", err, sizeof(err));
	bool same = back && kt_profile_equal(back, p);
	kt_profile_free(back);
	if (!same) {
		free(out);
		errno = EINVAL;
		return NULL;
	}
	return out;
}
