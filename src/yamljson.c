/* yamljson.c: YAML → cJSON conversion with source positions (see yamljson.h for the rules).
 *
 * The loader drives libyaml's event parser and builds the cJSON tree directly, with an explicit
 * stack of open collections (never deeper than the depth limit, so no recursion on input
 * nesting). Every node is counted against the node limit as it is created, and every node's
 * position goes into a pointer-keyed hash table owned by struct kt_yaml.
 *
 * Ownership while loading: the current document's root belongs to the loader until the
 * document ends, then to y->docs (or, for a null document, to y->grave). A collection belongs
 * to its parent as soon as it starts. Merge-key values and the resolved nodes of anchored keys
 * are not part of any document; they go to y->grave, which lives as long as y, so that an
 * anchor pointing into them stays valid for later aliases. A frame owns its pending key string,
 * its duplicate-key index and its list of merge values. Anchor names and the raw text of
 * anchored scalars are copies owned by the loader and dropped at each document end (anchors
 * are document-scoped in YAML). */
#include "yamljson.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"
#define DEPTH_CLAMP 1024u
/* Every integer of magnitude up to 2^53 is exactly representable in an IEEE double. */
#define INT_EXACT_MAX 9007199254740992ull
#define SNIP_MAX 48
#define SNIP_BUF (SNIP_MAX + 8) /* room for a cut marker and a "!!" prefix */

/* ---- position table: cJSON node pointer -> (line, col, key line, key col) ---- */

struct pos_ent {
	const cJSON *node; /* NULL marks an empty slot */
	int line, col;
	int kline, kcol; /* 0 when the node is not a mapping value */
};

struct pos_tab {
	struct pos_ent *e; /* cap slots, cap a power of two, at most half full */
	size_t cap, n;
};

/* MurmurHash3's 64-bit finalizer: spreads every input bit over the low bits that index a
 * power-of-two table (heap pointers differ mostly in their middle bits). */
static size_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (size_t)x;
}

static size_t ptr_hash(const void *p)
{
	return mix64((uint64_t)(uintptr_t)p);
}

static const struct pos_ent *pos_get(const struct pos_tab *t, const cJSON *node)
{
	if (!t->cap || !node)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = ptr_hash(node) & mask;; i = (i + 1) & mask) {
		if (t->e[i].node == node)
			return &t->e[i];
		if (!t->e[i].node)
			return NULL;
	}
}

static int pos_grow(struct pos_tab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 256;
	struct pos_ent *ne = calloc(ncap, sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->e[i].node)
			continue;
		size_t j = ptr_hash(t->e[i].node) & (ncap - 1);
		while (ne[j].node)
			j = (j + 1) & (ncap - 1);
		ne[j] = t->e[i];
	}
	free(t->e);
	t->e = ne;
	t->cap = ncap;
	return 0;
}

static int pos_put(struct pos_tab *t, const cJSON *node, int line, int col, int kline, int kcol)
{
	if ((t->n + 1) * 2 > t->cap && pos_grow(t) != 0)
		return -ENOMEM;
	size_t mask = t->cap - 1, i = ptr_hash(node) & mask;
	while (t->e[i].node && t->e[i].node != node)
		i = (i + 1) & mask;
	if (!t->e[i].node)
		t->n++;
	t->e[i] = (struct pos_ent){node, line, col, kline, kcol};
	return 0;
}

/* ---- string map: borrowed NUL-terminated key -> pointer (duplicate keys, anchor names) ---- */

struct smap_ent {
	const char *k; /* NULL marks an empty slot; the string is owned elsewhere */
	void *v;
};

struct smap {
	struct smap_ent *e; /* cap slots, a power of two, at most half full */
	size_t cap, n;
};

static size_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return mix64(h);
}

static struct smap_ent *smap_slot(struct smap_ent *e, size_t cap, const char *k)
{
	size_t mask = cap - 1;
	for (size_t i = str_hash(k) & mask;; i = (i + 1) & mask) {
		if (!e[i].k || strcmp(e[i].k, k) == 0)
			return &e[i];
	}
}

static void *smap_get(const struct smap *m, const char *k)
{
	if (!m->cap)
		return NULL;
	struct smap_ent *e = smap_slot(m->e, m->cap, k);
	return e->k ? e->v : NULL;
}

static int smap_put(struct smap *m, const char *k, void *v)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;
		struct smap_ent *ne = calloc(ncap, sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->e[i].k)
				*smap_slot(ne, ncap, m->e[i].k) = m->e[i];
		free(m->e);
		m->e = ne;
		m->cap = ncap;
	}
	struct smap_ent *e = smap_slot(m->e, m->cap, k);
	if (!e->k)
		m->n++;
	e->k = k;
	e->v = v;
	return 0;
}

static void smap_clear(struct smap *m)
{
	if (m->cap)
		memset(m->e, 0, m->cap * sizeof(*m->e));
	m->n = 0;
}

static void smap_fini(struct smap *m)
{
	free(m->e);
	*m = (struct smap){0};
}

/* ---- the loaded set ---- */

struct kt_yaml {
	char *file;   /* owned */
	cJSON **docs; /* owned, ndocs entries */
	size_t ndocs, cap;
	cJSON *grave;	    /* owned array of nodes outside any document (see top comment) */
	struct pos_tab pos; /* owned */
};

/* ---- loader state (lives for one kt_yaml_load call) ---- */

struct anchor {
	char *name;	   /* owned copy */
	const cJSON *node; /* owned by y (a document, the current root or y->grave) */
	char *text;	   /* owned raw scalar text, NULL for a collection */
	bool done;	   /* false while the anchored collection is still open */
};

struct frame {
	cJSON *node; /* the open collection, owned by its parent or the loader's root */
	bool is_map;
	bool have_key;	   /* a key was read, its value is next */
	bool key_is_merge; /* the pending key is the merge key `<<` */
	bool merge_seen;
	char *key; /* owned pending key */
	int kline, kcol;
	int mline, mcol;  /* where `<<` was seen, for the duplicate message */
	struct smap keys; /* keys present: borrowed from the items' own key strings */
	cJSON *merges;	  /* owned array of `<<` values, buried at the end */
	size_t anchor;	  /* 1 + index of this collection's anchor, 0 if none */
};

struct loader {
	struct kt_yaml *y;
	struct kt_yaml_limits lim;
	const unsigned char *buf;
	size_t len;
	char *err;
	size_t errcap;
	bool failed;
	struct frame *stack; /* lim.max_depth frames */
	size_t depth;
	cJSON *root; /* the current document's root, owned until the document ends */
	struct anchor *anchors;
	size_t nanchors, anchors_cap;
	struct smap anchor_idx; /* name -> (void *)(1 + index), latest definition wins */
	size_t nodes, alias_nodes, alias_bytes;
};

/* Replaces line breaks and other control characters so a message stays on one line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* Copies at most SNIP_MAX bytes of user text into out (cutting on a UTF-8 character
 * boundary and marking the cut with "..."), for quoting in a message. Writes at most
 * SNIP_MAX + 4 bytes. */
static const char *snip(char *out, const char *s, size_t n)
{
	size_t take = n;
	if (take > SNIP_MAX) {
		take = SNIP_MAX;
		while (take > 0 && ((unsigned char)s[take] & 0xc0) == 0x80)
			take--;
	}
	memcpy(out, s, take);
	if (take < n)
		memcpy(out + take, "...", 4);
	else
		out[take] = '\0';
	return out;
}

/* "tag:yaml.org,2002:int" is shown as the user wrote it, "!!int". */
static const char *tag_name(char out[SNIP_BUF], const char *tag)
{
	size_t plen = strlen(TAG_PREFIX);
	if (strncmp(tag, TAG_PREFIX, plen) == 0) {
		memcpy(out, "!!", 2);
		snip(out + 2, tag + plen, strlen(tag + plen));
		return out;
	}
	return snip(out, tag, strlen(tag));
}

static int line_of(yaml_mark_t m)
{
	return m.line >= (size_t)INT_MAX ? INT_MAX : (int)m.line + 1;
}

static int col_of(yaml_mark_t m)
{
	return m.column >= (size_t)INT_MAX ? INT_MAX : (int)m.column + 1;
}

/* Records the first error only; later calls (from unwinding code) keep it. */
__attribute__((format(printf, 4, 5))) static int fail_at(struct loader *ld, int line, int col,
							 const char *fmt, ...)
{
	if (ld->failed)
		return -EINVAL;
	ld->failed = true;
	if (!ld->err || !ld->errcap)
		return -EINVAL;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ld->err, ld->errcap, "%s:%d:%d: %s", ld->y->file, line, col, msg);
	one_line(ld->err);
	return -EINVAL;
}

static int fail_oom(struct loader *ld, int line, int col)
{
	fail_at(ld, line, col, "out of memory");
	return -ENOMEM;
}

/* Fails at the position recorded for node. */
__attribute__((format(printf, 3, 4))) static int fail_node(struct loader *ld, const cJSON *node,
							   const char *fmt, ...)
{
	const struct pos_ent *p = pos_get(&ld->y->pos, node);
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail_at(ld, p ? p->line : 1, p ? p->col : 1, "%s", msg);
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int count_node(struct loader *ld, int line, int col)
{
	if (ld->nodes >= ld->lim.max_nodes)
		return fail_at(ld, line, col, "document too large: more than %zu nodes",
			       ld->lim.max_nodes);
	ld->nodes++;
	return 0;
}

/* Keeps node alive, outside any document, until kt_yaml_free. */
static void bury(struct loader *ld, cJSON *node)
{
	cJSON_AddItemToArray(ld->y->grave, node);
}

static struct frame *top(struct loader *ld)
{
	return ld->depth ? &ld->stack[ld->depth - 1] : NULL;
}

/* ---- scalars ---- */

static bool is_null_text(const char *v, size_t n)
{
	return n == 0 || (n == 1 && v[0] == '~') ||
	       (n == 4 &&
		(!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

/* 1 true, 0 false, -1 not a YAML 1.2 core bool. */
static int bool_text(const char *v, size_t n)
{
	if (n == 4 && (!memcmp(v, "true", 4) || !memcmp(v, "True", 4) || !memcmp(v, "TRUE", 4)))
		return 1;
	if (n == 5 && (!memcmp(v, "false", 5) || !memcmp(v, "False", 5) || !memcmp(v, "FALSE", 5)))
		return 0;
	return -1;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Integer forms: [-+]? then decimal digits, 0x/0o/0b with digits, or 0 followed by octal
 * digits (the YAML 1.1 form Kubernetes' decoder reads, e.g. file modes). Returns 1 with *out
 * set, 0 if v is not an integer, -ERANGE if its magnitude is above 2^53. */
static int parse_int(const char *v, size_t n, double *out)
{
	size_t i = 0;
	bool neg = false;
	if (i < n && (v[i] == '+' || v[i] == '-')) {
		neg = v[i] == '-';
		i++;
	}
	unsigned base = 10;
	if (n - i >= 2 && v[i] == '0') {
		char p = v[i + 1];
		if (p == 'x' || p == 'X') {
			base = 16;
			i += 2;
		} else if (p == 'o' || p == 'O') {
			base = 8;
			i += 2;
		} else if (p == 'b' || p == 'B') {
			base = 2;
			i += 2;
		} else {
			base = 8;
			i += 1;
		}
	}
	if (i >= n)
		return 0;
	uint64_t acc = 0;
	bool big = false;
	for (; i < n; i++) {
		int d = digit_value(v[i]);
		if (d < 0 || (unsigned)d >= base)
			return 0;
		if (!big) {
			acc = acc * base + (unsigned)d; /* acc <= 2^53 here, so no overflow */
			big = acc > INT_EXACT_MAX;
		}
	}
	if (big)
		return -ERANGE;
	*out = acc == 0 ? 0.0 : neg ? -(double)acc : (double)acc;
	return 1;
}

static bool is_infnan_text(const char *v, size_t n)
{
	size_t i = (n > 0 && (v[0] == '+' || v[0] == '-')) ? 1 : 0;
	const char *r = v + i;
	size_t m = n - i;
	if (m == 4 && (!memcmp(r, ".inf", 4) || !memcmp(r, ".Inf", 4) || !memcmp(r, ".INF", 4)))
		return true;
	return i == 0 && m == 4 &&
	       (!memcmp(r, ".nan", 4) || !memcmp(r, ".NaN", 4) || !memcmp(r, ".NAN", 4));
}

/* YAML 1.2 core float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?. Returns 1 with
 * *out set, 0 if v does not have that form, -ERANGE if the value overflows a double, -ENOMEM. */
static int parse_float(const char *v, size_t n, double *out)
{
	size_t i = 0, ints = 0, fracs = 0;
	if (i < n && (v[i] == '+' || v[i] == '-'))
		i++;
	while (i < n && v[i] >= '0' && v[i] <= '9')
		i++, ints++;
	if (i < n && v[i] == '.') {
		i++;
		while (i < n && v[i] >= '0' && v[i] <= '9')
			i++, fracs++;
	}
	if (ints == 0 && fracs == 0)
		return 0;
	if (i < n && (v[i] == 'e' || v[i] == 'E')) {
		size_t exps = 0;
		i++;
		if (i < n && (v[i] == '+' || v[i] == '-'))
			i++;
		while (i < n && v[i] >= '0' && v[i] <= '9')
			i++, exps++;
		if (exps == 0)
			return 0;
	}
	if (i != n)
		return 0;
	char *copy = dup_n(v, n);
	if (!copy)
		return -ENOMEM;
	/* strtod follows LC_NUMERIC; the text was validated above, so swapping the one '.'
	 * for the locale's decimal point (as cJSON does) makes it locale-proof. */
	const char *dp = localeconv()->decimal_point;
	char *dot = strchr(copy, '.');
	if (dot && dp && dp[0] && !dp[1])
		*dot = dp[0];
	char *end = NULL;
	double d = strtod(copy, &end);
	bool whole = end == copy + n;
	free(copy);
	if (!whole)
		return 0;
	if (isinf(d))
		return -ERANGE;
	*out = d;
	return 1;
}

/* Resolves a non-key scalar into a new node (*out), following yamljson.h. */
static int resolve_scalar(struct loader *ld, const yaml_event_t *ev, int line, int col, cJSON **out)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	char s1[SNIP_BUF], s2[SNIP_BUF];
	const char *t = NULL; /* core schema type name when tagged !!type */
	double num = 0;
	int rc;

	if (tag && strcmp(tag, "!") != 0) {
		size_t plen = strlen(TAG_PREFIX);
		if (strncmp(tag, TAG_PREFIX, plen) != 0)
			return fail_at(ld, line, col, "unsupported tag %s", tag_name(s1, tag));
		t = tag + plen;
		if (strcmp(t, "str") && strcmp(t, "null") && strcmp(t, "bool") &&
		    strcmp(t, "int") && strcmp(t, "float"))
			return fail_at(ld, line, col, "unsupported tag %s on a scalar",
				       tag_name(s1, tag));
	}
	if ((tag && !t) || (!t && !plain) || (t && !strcmp(t, "str"))) {
		*out = cJSON_CreateString(v);
		goto done;
	}
	if ((!t || !strcmp(t, "null")) && is_null_text(v, n)) {
		*out = cJSON_CreateNull();
		goto done;
	}
	if (!t || !strcmp(t, "bool")) {
		int b = bool_text(v, n);
		if (b >= 0) {
			*out = cJSON_CreateBool(b);
			goto done;
		}
	}
	if (!t || !strcmp(t, "int") || !strcmp(t, "float")) {
		rc = parse_int(v, n, &num);
		if (rc == -ERANGE)
			return fail_at(ld, line, col,
				       "integer %s cannot be represented exactly (magnitude above "
				       "2^53); quote it to keep it as a string",
				       snip(s1, v, n));
		if (rc == 1) {
			*out = cJSON_CreateNumber(num);
			goto done;
		}
	}
	if (!t || !strcmp(t, "float")) {
		if (is_infnan_text(v, n))
			return fail_at(ld, line, col, "%s cannot be represented in JSON",
				       snip(s1, v, n));
		rc = parse_float(v, n, &num);
		if (rc == -ENOMEM)
			return fail_oom(ld, line, col);
		if (rc == -ERANGE)
			return fail_at(ld, line, col, "number %s is out of range", snip(s1, v, n));
		if (rc == 1) {
			*out = cJSON_CreateNumber(num);
			goto done;
		}
	}
	if (t)
		return fail_at(ld, line, col, "invalid %s value \"%s\"", tag_name(s2, tag),
			       snip(s1, v, n));
	*out = cJSON_CreateString(v);
done:
	if (!*out)
		return fail_oom(ld, line, col);
	return 0;
}

/* ---- anchors ---- */

static void anchors_reset(struct loader *ld)
{
	for (size_t i = 0; i < ld->nanchors; i++) {
		free(ld->anchors[i].name);
		free(ld->anchors[i].text);
	}
	ld->nanchors = 0;
	smap_clear(&ld->anchor_idx);
}

/* Registers an anchor; *idx gets 1 + its index. text/tlen: raw scalar text or NULL. */
static int anchor_add(struct loader *ld, const char *name, const cJSON *node, const char *text,
		      size_t tlen, bool done, size_t *idx, int line, int col)
{
	if (ld->nanchors == ld->anchors_cap) {
		size_t ncap = ld->anchors_cap ? ld->anchors_cap * 2 : 16;
		struct anchor *na = realloc(ld->anchors, ncap * sizeof(*na));
		if (!na)
			return fail_oom(ld, line, col);
		ld->anchors = na;
		ld->anchors_cap = ncap;
	}
	struct anchor *a = &ld->anchors[ld->nanchors];
	*a = (struct anchor){.node = node, .done = done};
	a->name = dup_n(name, strlen(name));
	a->text = text ? dup_n(text, tlen) : NULL;
	if (!a->name || (text && !a->text)) {
		free(a->name);
		free(a->text);
		return fail_oom(ld, line, col);
	}
	ld->nanchors++;
	if (smap_put(&ld->anchor_idx, a->name, (void *)(uintptr_t)ld->nanchors) != 0)
		return fail_oom(ld, line, col);
	if (idx)
		*idx = ld->nanchors;
	return 0;
}

static struct anchor *anchor_find(struct loader *ld, const char *name)
{
	uintptr_t i = (uintptr_t)smap_get(&ld->anchor_idx, name);
	return i ? &ld->anchors[i - 1] : NULL;
}

/* ---- tree building ---- */

/* Puts a new node into the document: as the root, a sequence item, or the value of the pending
 * key. Takes ownership of node (deleting it on failure). */
static int attach(struct loader *ld, cJSON *node, int line, int col)
{
	struct frame *f = top(ld);
	int kline = 0, kcol = 0;
	if (!f) {
		if (ld->root) {
			cJSON_Delete(node);
			return fail_at(ld, line, col, "internal error: second document root");
		}
		ld->root = node;
	} else if (!f->is_map) {
		cJSON_AddItemToArray(f->node, node);
	} else if (!f->have_key) {
		cJSON_Delete(node);
		return fail_at(ld, line, col, "internal error: mapping value without a key");
	} else if (f->key_is_merge) {
		if (!f->merges && !(f->merges = cJSON_CreateArray())) {
			cJSON_Delete(node);
			return fail_oom(ld, line, col);
		}
		cJSON_AddItemToArray(f->merges, node);
		kline = f->kline;
		kcol = f->kcol;
	} else {
		if (!cJSON_AddItemToObject(f->node, f->key, node)) {
			cJSON_Delete(node);
			return fail_oom(ld, line, col);
		}
		kline = f->kline;
		kcol = f->kcol;
		if (smap_put(&f->keys, node->string, node) != 0)
			return fail_oom(ld, line, col);
	}
	if (f && f->is_map) {
		free(f->key);
		f->key = NULL;
		f->have_key = false;
		f->key_is_merge = false;
	}
	if (pos_put(&ld->y->pos, node, line, col, kline, kcol) != 0)
		return fail_oom(ld, line, col);
	return 0;
}

/* Makes key (owned, taken) the pending key of mapping frame f after the duplicate check. */
static int take_key(struct loader *ld, struct frame *f, char *key, bool merge, int line, int col)
{
	char s[SNIP_BUF];
	if (merge) {
		if (f->merge_seen) {
			free(key);
			return fail_at(ld, line, col,
				       "duplicate key \"<<\" (first defined at line %d, column %d)",
				       f->mline, f->mcol);
		}
		f->merge_seen = true;
		f->mline = line;
		f->mcol = col;
	} else {
		const cJSON *first = smap_get(&f->keys, key);
		if (first) {
			const struct pos_ent *p = pos_get(&ld->y->pos, first);
			int rc =
			    fail_at(ld, line, col,
				    "duplicate key \"%s\" (first defined at line %d, column %d)",
				    snip(s, key, strlen(key)), p ? p->kline : 0, p ? p->kcol : 0);
			free(key);
			return rc;
		}
	}
	f->key = key;
	f->have_key = true;
	f->key_is_merge = merge;
	f->kline = line;
	f->kcol = col;
	return 0;
}

static int on_scalar(struct loader *ld, const yaml_event_t *ev)
{
	int line = line_of(ev->start_mark), col = col_of(ev->start_mark);
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *anchor = (const char *)ev->data.scalar.anchor;
	struct frame *f = top(ld);
	cJSON *node = NULL;
	int rc;

	/* cJSON strings end at the first NUL; refuse rather than truncate. */
	if (memchr(v, '\0', n))
		return fail_at(ld, line, col, "NUL character in a scalar is not supported");
	if (f && f->is_map && !f->have_key) {
		const char *tag = (const char *)ev->data.scalar.tag;
		bool merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n == 2 &&
			     !memcmp(v, "<<", 2) && (!tag || !strcmp(tag, TAG_PREFIX "merge"));
		if (anchor) {
			/* An anchored key can be aliased later as a value: keep its node. */
			if ((rc = count_node(ld, line, col)) != 0 ||
			    (rc = resolve_scalar(ld, ev, line, col, &node)) != 0)
				return rc;
			bury(ld, node);
			if (pos_put(&ld->y->pos, node, line, col, 0, 0) != 0)
				return fail_oom(ld, line, col);
			if ((rc = anchor_add(ld, anchor, node, v, n, true, NULL, line, col)) != 0)
				return rc;
		}
		char *key = dup_n(v, n);
		if (!key)
			return fail_oom(ld, line, col);
		return take_key(ld, f, key, merge, line, col);
	}
	if ((rc = count_node(ld, line, col)) != 0 ||
	    (rc = resolve_scalar(ld, ev, line, col, &node)) != 0 ||
	    (rc = attach(ld, node, line, col)) != 0)
		return rc;
	if (anchor)
		return anchor_add(ld, anchor, node, v, n, true, NULL, line, col);
	return 0;
}

static const char *kind_name(const cJSON *n)
{
	return cJSON_IsObject(n) ? "mapping" : cJSON_IsArray(n) ? "sequence" : "scalar";
}

static int on_collection_start(struct loader *ld, const yaml_event_t *ev, bool is_map)
{
	int line = line_of(ev->start_mark), col = col_of(ev->start_mark);
	const char *tag =
	    (const char *)(is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
	const char *anchor =
	    (const char *)(is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
	const char *kind = is_map ? "mapping" : "sequence";
	struct frame *f = top(ld);
	char s[SNIP_BUF];
	int rc;

	if (f && f->is_map && !f->have_key)
		return fail_at(ld, line, col, "mapping key must be a scalar, not a %s", kind);
	if (tag && strcmp(tag, "!") != 0 && strcmp(tag, is_map ? YAML_MAP_TAG : YAML_SEQ_TAG) != 0)
		return fail_at(ld, line, col, "unsupported tag %s on a %s", tag_name(s, tag), kind);
	if (ld->depth >= ld->lim.max_depth)
		return fail_at(ld, line, col, "nesting deeper than %u levels", ld->lim.max_depth);
	if ((rc = count_node(ld, line, col)) != 0)
		return rc;
	cJSON *node = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
	if (!node)
		return fail_oom(ld, line, col);
	if ((rc = attach(ld, node, line, col)) != 0)
		return rc;
	size_t aidx = 0;
	if (anchor && (rc = anchor_add(ld, anchor, node, NULL, 0, false, &aidx, line, col)) != 0)
		return rc;
	ld->stack[ld->depth++] = (struct frame){.node = node, .is_map = is_map, .anchor = aidx};
	return 0;
}

/* Moves the keys of src that target frame f does not have yet into f's mapping. */
static int merge_from(struct loader *ld, struct frame *f, cJSON *src)
{
	cJSON *c = src->child;
	while (c) {
		cJSON *next = c->next;
		if (!smap_get(&f->keys, c->string)) {
			cJSON_DetachItemViaPointer(src, c);
			char *k = c->string;
			c->string = NULL;
			bool ok = cJSON_AddItemToObject(f->node, k, c);
			cJSON_free(k);
			if (!ok) {
				cJSON_Delete(c);
				return fail_node(ld, f->node, "out of memory");
			}
			if (smap_put(&f->keys, c->string, c) != 0)
				return fail_node(ld, f->node, "out of memory");
		}
		c = next;
	}
	return 0;
}

/* YAML 1.1 merge keys: each `<<` value is a mapping or a sequence of mappings; explicit keys
 * win, and within a sequence the earlier mapping wins (https://yaml.org/type/merge.html). */
static int apply_merges(struct loader *ld, struct frame *f)
{
	static const char bad[] = "merge key (<<) needs a mapping or a sequence of mappings";
	cJSON *m, *e;
	int rc;
	cJSON_ArrayForEach(m, f->merges)
	{
		if (cJSON_IsObject(m)) {
			if ((rc = merge_from(ld, f, m)) != 0)
				return rc;
		} else if (cJSON_IsArray(m)) {
			cJSON_ArrayForEach(e, m)
			{
				if (!cJSON_IsObject(e))
					return fail_node(ld, e, "%s", bad);
				if ((rc = merge_from(ld, f, e)) != 0)
					return rc;
			}
		} else {
			return fail_node(ld, m, "%s", bad);
		}
	}
	return 0;
}

static void frame_fini(struct loader *ld, struct frame *f)
{
	free(f->key);
	smap_fini(&f->keys);
	if (f->merges)
		bury(ld, f->merges);
	*f = (struct frame){0};
}

static int on_collection_end(struct loader *ld, const yaml_event_t *ev)
{
	struct frame *f = top(ld);
	int rc = 0;
	if (!f)
		return fail_at(ld, line_of(ev->start_mark), col_of(ev->start_mark),
			       "internal error: unbalanced collection end");
	if (f->is_map && f->merges)
		rc = apply_merges(ld, f);
	if (f->anchor)
		ld->anchors[f->anchor - 1].done = true;
	frame_fini(ld, f);
	ld->depth--;
	return rc;
}

/* Deep-copies an alias target. depth: collections enclosing the copy. Descendants keep the
 * anchored text's positions; the caller records the root's. */
static cJSON *copy_tree(struct loader *ld, const cJSON *src, size_t depth, int line, int col,
			const char *alias)
{
	char s[SNIP_BUF];
	if (ld->alias_nodes >= ld->lim.max_alias_nodes) {
		fail_at(ld, line, col, "alias *%s expands to too many nodes (limit %zu)",
			snip(s, alias, strlen(alias)), ld->lim.max_alias_nodes);
		return NULL;
	}
	ld->alias_nodes++;
	if (count_node(ld, line, col) != 0)
		return NULL;
	cJSON *dst = NULL;
	if (cJSON_IsNull(src)) {
		dst = cJSON_CreateNull();
	} else if (cJSON_IsBool(src)) {
		dst = cJSON_CreateBool(cJSON_IsTrue(src));
	} else if (cJSON_IsNumber(src)) {
		dst = cJSON_CreateNumber(src->valuedouble);
	} else if (cJSON_IsString(src)) {
		size_t n = strlen(src->valuestring);
		if (n > ld->lim.max_bytes - ld->alias_bytes) {
			fail_at(ld, line, col, "alias *%s expands to too many bytes (limit %zu)",
				snip(s, alias, strlen(alias)), ld->lim.max_bytes);
			return NULL;
		}
		ld->alias_bytes += n;
		dst = cJSON_CreateString(src->valuestring);
	} else {
		bool is_map = cJSON_IsObject(src);
		if (depth >= ld->lim.max_depth) {
			fail_at(ld, line, col, "nesting deeper than %u levels (through alias *%s)",
				ld->lim.max_depth, snip(s, alias, strlen(alias)));
			return NULL;
		}
		dst = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
		if (!dst) {
			fail_oom(ld, line, col);
			return NULL;
		}
		const cJSON *c;
		cJSON_ArrayForEach(c, src)
		{
			cJSON *cc = copy_tree(ld, c, depth + 1, line, col, alias);
			if (!cc)
				goto fail;
			if (is_map) {
				size_t kn = strlen(c->string);
				if (kn > ld->lim.max_bytes - ld->alias_bytes) {
					cJSON_Delete(cc);
					fail_at(ld, line, col,
						"alias *%s expands to too many bytes (limit %zu)",
						snip(s, alias, strlen(alias)), ld->lim.max_bytes);
					goto fail;
				}
				ld->alias_bytes += kn;
				if (!cJSON_AddItemToObject(dst, c->string, cc)) {
					cJSON_Delete(cc);
					fail_oom(ld, line, col);
					goto fail;
				}
			} else {
				cJSON_AddItemToArray(dst, cc);
			}
			const struct pos_ent *p = pos_get(&ld->y->pos, c);
			if (pos_put(&ld->y->pos, cc, p ? p->line : line, p ? p->col : col,
				    p ? p->kline : 0, p ? p->kcol : 0) != 0) {
				fail_oom(ld, line, col);
				goto fail;
			}
		}
	}
	if (!dst)
		fail_oom(ld, line, col);
	return dst;
fail:
	cJSON_Delete(dst);
	return NULL;
}

static int on_alias(struct loader *ld, const yaml_event_t *ev)
{
	int line = line_of(ev->start_mark), col = col_of(ev->start_mark);
	const char *name = (const char *)ev->data.alias.anchor;
	struct frame *f = top(ld);
	char s[SNIP_BUF];
	const char *shown = snip(s, name, strlen(name));
	struct anchor *a = anchor_find(ld, name);

	if (!a)
		return fail_at(ld, line, col, "unknown alias *%s", shown);
	if (!a->done)
		return fail_at(ld, line, col, "alias *%s refers to a node that contains it", shown);
	if (f && f->is_map && !f->have_key) {
		if (!a->text)
			return fail_at(ld, line, col,
				       "mapping key must be a scalar, not a %s (alias *%s)",
				       kind_name(a->node), shown);
		char *key = dup_n(a->text, strlen(a->text));
		if (!key)
			return fail_oom(ld, line, col);
		return take_key(ld, f, key, false, line, col);
	}
	cJSON *copy = copy_tree(ld, a->node, ld->depth, line, col, name);
	if (!copy)
		return -EINVAL;
	return attach(ld, copy, line, col);
}

static int on_document_end(struct loader *ld)
{
	cJSON *root = ld->root;
	struct kt_yaml *y = ld->y;
	ld->root = NULL;
	anchors_reset(ld);
	if (!root)
		return 0;
	/* kubectl's resource builder skips documents that decode to null, and so do we. */
	if (cJSON_IsNull(root)) {
		bury(ld, root);
		return 0;
	}
	if (y->ndocs == y->cap) {
		size_t ncap = y->cap ? y->cap * 2 : 4;
		cJSON **nd = realloc(y->docs, ncap * sizeof(*nd));
		if (!nd) {
			cJSON_Delete(root);
			return fail_oom(ld, 1, 1);
		}
		y->docs = nd;
		y->cap = ncap;
	}
	y->docs[y->ndocs++] = root;
	return 0;
}

/* Converts a libyaml reader error's byte offset into a line and character column. */
static void offset_pos(const struct loader *ld, size_t off, int *line, int *col)
{
	int l = 1, c = 1;
	if (off > ld->len)
		off = ld->len;
	for (size_t i = 0; i < off; i++) {
		unsigned char b = ld->buf[i];
		if (b == '\n' || (b == '\r' && (i + 1 >= ld->len || ld->buf[i + 1] != '\n'))) {
			if (l < INT_MAX)
				l++;
			c = 1;
		} else if ((b & 0xc0) != 0x80 && b != '\r' && c < INT_MAX) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static void syntax_error(struct loader *ld, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "syntax error";
	int line, col;
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		fail_oom(ld, line_of(p->mark), col_of(p->mark));
		break;
	case YAML_READER_ERROR:
		offset_pos(ld, p->problem_offset, &line, &col);
		if (p->problem_value >= 0)
			fail_at(ld, line, col, "%s (byte 0x%02X)", problem,
				(unsigned)p->problem_value & 0xffu);
		else
			fail_at(ld, line, col, "%s", problem);
		break;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (p->context)
			fail_at(ld, line_of(p->problem_mark), col_of(p->problem_mark),
				"%s (%s at line %d, column %d)", problem, p->context,
				line_of(p->context_mark), col_of(p->context_mark));
		else
			fail_at(ld, line_of(p->problem_mark), col_of(p->problem_mark), "%s",
				problem);
		break;
	default:
		fail_at(ld, line_of(p->mark), col_of(p->mark), "%s", problem);
		break;
	}
}

static int handle_event(struct loader *ld, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		anchors_reset(ld);
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return on_document_end(ld);
	case YAML_SCALAR_EVENT:
		return on_scalar(ld, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(ld, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_collection_start(ld, ev, false);
	case YAML_MAPPING_START_EVENT:
		return on_collection_start(ld, ev, true);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_collection_end(ld, ev);
	default:
		return 0;
	}
}

static void limits_fill(struct kt_yaml_limits *l, const struct kt_yaml_limits *in)
{
	*l = in ? *in : (struct kt_yaml_limits){0};
	if (!l->max_bytes)
		l->max_bytes = KT_YAML_MAX_BYTES;
	if (!l->max_nodes)
		l->max_nodes = KT_YAML_MAX_NODES;
	if (!l->max_alias_nodes)
		l->max_alias_nodes = KT_YAML_MAX_ALIAS_NODES;
	if (!l->max_depth)
		l->max_depth = KT_YAML_MAX_DEPTH;
	if (l->max_depth > DEPTH_CLAMP)
		l->max_depth = DEPTH_CLAMP;
}

struct kt_yaml *kt_yaml_load_limits(const void *buf, size_t len, const char *fname,
				    const struct kt_yaml_limits *lim, char *err, size_t errcap)
{
	struct loader ld = {.buf = buf, .len = len, .err = err, .errcap = errcap};
	yaml_parser_t parser;
	bool parser_ok = false;
	const char *file = fname ? fname : "<input>";

	if (err && errcap)
		err[0] = '\0';
	limits_fill(&ld.lim, lim);
	ld.y = calloc(1, sizeof(*ld.y));
	if (!ld.y) {
		if (err && errcap) {
			snprintf(err, errcap, "%s:1:1: out of memory", file);
			one_line(err);
		}
		return NULL;
	}
	ld.y->file = dup_n(file, strlen(file));
	ld.y->grave = cJSON_CreateArray();
	ld.stack = calloc(ld.lim.max_depth, sizeof(*ld.stack));
	if (!ld.y->file || !ld.y->grave || !ld.stack) {
		if (err && errcap) {
			snprintf(err, errcap, "%s:1:1: out of memory", file);
			one_line(err);
		}
		ld.failed = true;
		goto fail;
	}
	if (len > ld.lim.max_bytes) {
		fail_at(&ld, 1, 1, "input is %zu bytes, more than the limit of %zu", len,
			ld.lim.max_bytes);
		goto fail;
	}
	if (!buf && len) {
		fail_at(&ld, 1, 1, "no input buffer");
		goto fail;
	}
	if (!yaml_parser_initialize(&parser)) {
		fail_oom(&ld, 1, 1);
		goto fail;
	}
	parser_ok = true;
	yaml_parser_set_input_string(
	    &parser, buf ? (const unsigned char *)buf : (const unsigned char *)"", len);
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&ld, &parser);
			goto fail;
		}
		int rc = handle_event(&ld, &ev);
		yaml_event_type_t type = ev.type;
		yaml_event_delete(&ev);
		if (rc != 0)
			goto fail;
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&parser);
	anchors_reset(&ld);
	free(ld.anchors);
	smap_fini(&ld.anchor_idx);
	free(ld.stack);
	return ld.y;

fail:
	if (parser_ok)
		yaml_parser_delete(&parser);
	while (ld.depth > 0)
		frame_fini(&ld, &ld.stack[--ld.depth]);
	cJSON_Delete(ld.root);
	anchors_reset(&ld);
	free(ld.anchors);
	smap_fini(&ld.anchor_idx);
	free(ld.stack);
	kt_yaml_free(ld.y);
	return NULL;
}

struct kt_yaml *kt_yaml_load(const void *buf, size_t len, const char *fname, char *err,
			     size_t errcap)
{
	return kt_yaml_load_limits(buf, len, fname, NULL, err, errcap);
}

void kt_yaml_free(struct kt_yaml *y)
{
	if (!y)
		return;
	for (size_t i = 0; i < y->ndocs; i++)
		cJSON_Delete(y->docs[i]);
	free(y->docs);
	cJSON_Delete(y->grave);
	free(y->pos.e);
	free(y->file);
	free(y);
}

size_t kt_yaml_doc_count(const struct kt_yaml *y)
{
	return y ? y->ndocs : 0;
}

const cJSON *kt_yaml_doc(const struct kt_yaml *y, size_t i)
{
	return y && i < y->ndocs ? y->docs[i] : NULL;
}

const char *kt_yaml_file(const struct kt_yaml *y)
{
	return y ? y->file : NULL;
}

int kt_yaml_node_pos(const struct kt_yaml *y, const cJSON *node, int *line, int *col)
{
	const struct pos_ent *p = y ? pos_get(&y->pos, node) : NULL;
	if (line)
		*line = p ? p->line : 0;
	if (col)
		*col = p ? p->col : 0;
	return p ? 0 : -ENOENT;
}

int kt_yaml_key_pos(const struct kt_yaml *y, const cJSON *node, int *line, int *col)
{
	const struct pos_ent *p = y ? pos_get(&y->pos, node) : NULL;
	if (p && !p->kline)
		p = NULL;
	if (line)
		*line = p ? p->kline : 0;
	if (col)
		*col = p ? p->kcol : 0;
	return p ? 0 : -ENOENT;
}

__attribute__((format(printf, 6, 0))) static int vformat(const struct kt_yaml *y, const cJSON *node,
							 bool at_key, char *out, size_t cap,
							 const char *fmt, va_list ap)
{
	int line = 0, col = 0, n;
	if (!out || !cap)
		return -EINVAL;
	bool have = at_key && kt_yaml_key_pos(y, node, &line, &col) == 0;
	if (!have)
		have = kt_yaml_node_pos(y, node, &line, &col) == 0;
	const char *file = y ? y->file : "<input>";
	if (have)
		n = snprintf(out, cap, "%s:%d:%d: ", file, line, col);
	else
		n = snprintf(out, cap, "%s: ", file);
	if (n >= 0 && (size_t)n < cap)
		vsnprintf(out + n, cap - (size_t)n, fmt, ap);
	one_line(out);
	return -EINVAL;
}

int kt_yaml_errorf(const struct kt_yaml *y, const cJSON *node, char *out, size_t cap,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vformat(y, node, false, out, cap, fmt, ap);
	va_end(ap);
	return rc;
}

int kt_yaml_key_errorf(const struct kt_yaml *y, const cJSON *node, char *out, size_t cap,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vformat(y, node, true, out, cap, fmt, ap);
	va_end(ap);
	return rc;
}

int kt_yaml_put_escaped(struct kt_buf *b, const char *s)
{
	int r = 0;

	for (; *s && r == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			r = kt_buf_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			r = kt_buf_printf(b, "\\x%02x", ch);
		else
			r = kt_buf_append(b, s, 1);
	}
	return r;
}

int kt_yaml_put_quoted(struct kt_buf *b, const char *s)
{
	int r = kt_buf_append(b, "\"", 1);

	r = r ? r : kt_yaml_put_escaped(b, s);
	return r ? r : kt_buf_append(b, "\"", 1);
}
