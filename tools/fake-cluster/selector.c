/* selector.c: Kubernetes label and field selectors (see selector.h).
 *
 * The label-selector parser mirrors the structure of apimachinery's labels/selector.go (a lexer
 * with one token of lookahead, where `in` and `notin` are ordinary identifiers wherever a key or
 * value is expected) so that edge cases such as `k=`, `k in ()`, `k in (a,,b)` and `in in (in)`
 * are read the same way kubectl and the API server read them. It lexes on demand from the input
 * string, so parsing allocates only the requirements it keeps.
 *
 * Ownership: a struct fc_selector owns its requirement array, and each requirement owns its key
 * and value strings. A struct fc_selector_fields owns its terms and their value strings. */
#include "selector.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNIP_MAX 64

/* selection.Operator values, in the order of selection.go. */
enum op { OP_IN, OP_NOTIN, OP_EQ, OP_DEQ, OP_NEQ, OP_EXISTS, OP_NEXISTS, OP_GT, OP_LT };

struct req {
	char *key; /* owned */
	enum op op;
	char **vals; /* owned array of owned strings, sorted */
	size_t nvals;
	size_t order; /* insertion index, to make the sort by key stable */
};

struct fc_selector {
	struct req *r; /* owned, n entries sorted by key */
	size_t n, cap;
	bool nothing;
};

/* A borrowed string slice (from the input or a cJSON string). */
struct slice {
	const char *p;
	size_t n;
};

struct slices {
	struct slice *v; /* owned array; the slices themselves are borrowed */
	size_t n, cap;
};

/* ---- small helpers ---- */

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t cap, const char *fmt,
							 ...)
{
	if (!err || !cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	/* Selector text comes from URLs: keep the message on one line whatever it contains. */
	for (char *c = err; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

/* User text for a message: at most SNIP_MAX bytes, cut marked with "...". */
static const char *snip(char out[SNIP_MAX + 4], const char *s, size_t n)
{
	size_t take = n > SNIP_MAX ? SNIP_MAX : n;
	memcpy(out, s, take);
	if (take < n)
		memcpy(out + take, "...", 4);
	else
		out[take] = '\0';
	return out;
}

static int slices_add(struct slices *sl, const char *p, size_t n)
{
	if (sl->n == sl->cap) {
		size_t ncap = sl->cap ? sl->cap * 2 : 8;
		struct slice *nv = realloc(sl->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		sl->v = nv;
		sl->cap = ncap;
	}
	sl->v[sl->n++] = (struct slice){p, n};
	return 0;
}

static int slice_cmp(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	if (c)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ---- validation (k8s.io/apimachinery/pkg/util/validation) ---- */

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool qualified_name_chars(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* RFC 1123 subdomain: [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)* */
static bool dns1123_subdomain(const char *s, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		size_t len = i - start;
		if (len == 0)
			return false;
		for (size_t j = start; j < i; j++) {
			char c = s[j];
			bool lower_alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
			if (!lower_alnum && (c != '-' || j == start || j == i - 1))
				return false;
		}
		start = i + 1;
	}
	return true;
}

/* IsQualifiedName, which label keys must be. Writes the reason into err. */
static int check_key(const char *k, size_t n, char *err, size_t cap)
{
	static const char name_rule[] =
	    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
	    "with an alphanumeric character";
	char s[SNIP_MAX + 4];
	const char *slash = memchr(k, '/', n);
	const char *name = k;
	size_t nlen = n;
	snip(s, k, n);
	if (slash) {
		size_t plen = (size_t)(slash - k);
		name = slash + 1;
		nlen = n - plen - 1;
		if (memchr(name, '/', nlen)) {
			seterr(
			    err, cap,
			    "invalid label key \"%s\": a qualified name %s, with an optional DNS "
			    "subdomain prefix and '/' (e.g. 'example.com/MyName')",
			    s, name_rule);
			return -EINVAL;
		}
		if (plen == 0) {
			seterr(err, cap, "invalid label key \"%s\": prefix part must be non-empty",
			       s);
			return -EINVAL;
		}
		if (plen > 253) {
			seterr(err, cap,
			       "invalid label key \"%s\": prefix part must be no more than 253 "
			       "characters",
			       s);
			return -EINVAL;
		}
		if (!dns1123_subdomain(k, plen)) {
			seterr(
			    err, cap,
			    "invalid label key \"%s\": prefix part a lowercase RFC 1123 subdomain "
			    "must consist of lower case alphanumeric characters, '-' or '.', and "
			    "must start and end with an alphanumeric character",
			    s);
			return -EINVAL;
		}
	}
	if (nlen == 0) {
		seterr(err, cap, "invalid label key \"%s\": name part must be non-empty", s);
		return -EINVAL;
	}
	if (nlen > 63) {
		seterr(err, cap,
		       "invalid label key \"%s\": name part must be no more than 63 characters", s);
		return -EINVAL;
	}
	if (!qualified_name_chars(name, nlen)) {
		seterr(err, cap, "invalid label key \"%s\": name part %s", s, name_rule);
		return -EINVAL;
	}
	return 0;
}

/* IsValidLabelValue: empty, or at most 63 characters of the qualified-name pattern. */
static int check_value(const char *key, const char *v, size_t n, char *err, size_t cap)
{
	char s[SNIP_MAX + 4], ks[SNIP_MAX + 4];
	if (n > 63) {
		seterr(err, cap,
		       "invalid label value \"%s\" for key \"%s\": must be no more than 63 "
		       "characters",
		       snip(s, v, n), snip(ks, key, strlen(key)));
		return -EINVAL;
	}
	if (n > 0 && !qualified_name_chars(v, n)) {
		seterr(err, cap,
		       "invalid label value \"%s\" for key \"%s\": a valid label must be an empty "
		       "string or consist of alphanumeric characters, '-', '_' or '.', and must "
		       "start and end with an alphanumeric character",
		       snip(s, v, n), snip(ks, key, strlen(key)));
		return -EINVAL;
	}
	return 0;
}

/* strconv.ParseInt(s, 10, 64): optional sign, at least one digit, no overflow. */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (i < n && (s[i] == '+' || s[i] == '-')) {
		neg = s[i] == '-';
		i++;
	}
	if (i >= n)
		return false;
	uint64_t acc = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (acc > (limit - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	*out = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
	return true;
}

/* ---- requirements ---- */

static void req_fini(struct req *r)
{
	free(r->key);
	for (size_t i = 0; i < r->nvals; i++)
		free(r->vals[i]);
	free(r->vals);
}

/* labels.NewRequirement: validates and appends. vals are copied; dedupe drops repeated values
 * (the parser collects a set; LabelSelectorAsSelector keeps the list as given). */
static int sel_add(struct fc_selector *sel, const char *key, size_t klen, enum op op,
		   struct slices *vals, bool dedupe, char *err, size_t cap)
{
	size_t nv = vals ? vals->n : 0;
	int rc;
	if ((rc = check_key(key, klen, err, cap)) != 0)
		return rc;
	switch (op) {
	case OP_IN:
	case OP_NOTIN:
		if (nv == 0) {
			seterr(err, cap, "for 'in', 'notin' operators, values set can't be empty");
			return -EINVAL;
		}
		break;
	case OP_EQ:
	case OP_DEQ:
	case OP_NEQ:
		if (nv != 1) {
			seterr(err, cap, "exact-match compatibility requires one single value");
			return -EINVAL;
		}
		break;
	case OP_EXISTS:
	case OP_NEXISTS:
		if (nv != 0) {
			seterr(err, cap, "values set must be empty for exists and does not exist");
			return -EINVAL;
		}
		break;
	case OP_GT:
	case OP_LT: {
		int64_t dummy;
		if (nv != 1) {
			seterr(err, cap, "for 'Gt', 'Lt' operators, exactly one value is required");
			return -EINVAL;
		}
		if (!parse_i64(vals->v[0].p, vals->v[0].n, &dummy)) {
			seterr(err, cap, "for 'Gt', 'Lt' operators, the value must be an integer");
			return -EINVAL;
		}
		break;
	}
	}
	char *k = strndup(key, klen);
	if (!k)
		goto oom;
	for (size_t i = 0; i < nv; i++) {
		if ((rc = check_value(k, vals->v[i].p, vals->v[i].n, err, cap)) != 0) {
			free(k);
			return rc;
		}
	}
	if (nv > 1)
		qsort(vals->v, nv, sizeof(*vals->v), slice_cmp);
	if (sel->n == sel->cap) {
		size_t ncap = sel->cap ? sel->cap * 2 : 4;
		struct req *nr = realloc(sel->r, ncap * sizeof(*nr));
		if (!nr) {
			free(k);
			goto oom;
		}
		sel->r = nr;
		sel->cap = ncap;
	}
	struct req *r = &sel->r[sel->n];
	*r = (struct req){.key = k, .op = op, .order = sel->n};
	if (nv) {
		r->vals = calloc(nv, sizeof(*r->vals));
		if (!r->vals) {
			free(k);
			goto oom;
		}
	}
	for (size_t i = 0; i < nv; i++) {
		if (dedupe && r->nvals && slice_cmp(&vals->v[i], &vals->v[i - 1]) == 0)
			continue;
		if (!(r->vals[r->nvals] = strndup(vals->v[i].p, vals->v[i].n))) {
			req_fini(r);
			goto oom;
		}
		r->nvals++;
	}
	sel->n++;
	return 0;
oom:
	seterr(err, cap, "out of memory");
	return -ENOMEM;
}

static int req_cmp(const void *a, const void *b)
{
	const struct req *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* sort.Sort(ByKey(...)); stable here so equal keys keep their input order. */
static void sel_sort(struct fc_selector *sel)
{
	if (sel->n > 1)
		qsort(sel->r, sel->n, sizeof(*sel->r), req_cmp);
}

void fc_selector_free(struct fc_selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n; i++)
		req_fini(&sel->r[i]);
	free(sel->r);
	free(sel);
}

/* ---- lexer and parser for the query-string form ---- */

enum tok {
	T_EOS,
	T_CPAR,
	T_COMMA,
	T_NOT,
	T_DEQ,
	T_EQ,
	T_GT,
	T_ID,
	T_IN,
	T_LT,
	T_NEQ,
	T_NOTIN,
	T_OPAR
};

struct token {
	enum tok t;
	const char *s; /* literal, borrowed from the input */
	size_t n;
};

struct parser {
	const char *s;
	size_t len, pos;
	char *err;
	size_t errcap;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
	return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

/* Lexes one token at *pos and advances past it. The Go lexer takes the longest run of special
 * characters that is a token, which in practice means "==" and "!=" or a single character. */
static struct token lex(const struct parser *p, size_t *pos)
{
	const char *s = p->s;
	while (*pos < p->len && is_ws(s[*pos]))
		(*pos)++;
	if (*pos >= p->len)
		return (struct token){T_EOS, "", 0};
	size_t start = *pos;
	char c = s[start];
	if (is_special(c)) {
		if (start + 1 < p->len && s[start + 1] == '=' && (c == '=' || c == '!')) {
			*pos += 2;
			return (struct token){c == '=' ? T_DEQ : T_NEQ, s + start, 2};
		}
		(*pos)++;
		enum tok t = c == '='	? T_EQ
			     : c == '!' ? T_NOT
			     : c == '(' ? T_OPAR
			     : c == ')' ? T_CPAR
			     : c == ',' ? T_COMMA
			     : c == '>' ? T_GT
					: T_LT;
		return (struct token){t, s + start, 1};
	}
	while (*pos < p->len && !is_ws(s[*pos]) && !is_special(s[*pos]))
		(*pos)++;
	size_t n = *pos - start;
	enum tok t = T_ID;
	if (n == 2 && !memcmp(s + start, "in", 2))
		t = T_IN;
	else if (n == 5 && !memcmp(s + start, "notin", 5))
		t = T_NOTIN;
	return (struct token){t, s + start, n};
}

/* Where a key or value is expected, `in` and `notin` are identifiers (ParserContext Values). */
static struct token as_value(struct token t)
{
	if (t.t == T_IN || t.t == T_NOTIN)
		t.t = T_ID;
	return t;
}

static struct token peek_v(const struct parser *p)
{
	size_t pos = p->pos;
	return as_value(lex(p, &pos));
}

static struct token next_v(struct parser *p)
{
	return as_value(lex(p, &p->pos));
}

static struct token next_op(struct parser *p)
{
	return lex(p, &p->pos);
}

static int found(struct parser *p, struct token t, const char *expected)
{
	char s[SNIP_MAX + 4];
	seterr(p->err, p->errcap, "found '%s', expected: %s", snip(s, t.s, t.n), expected);
	return -EINVAL;
}

static int add_value(struct parser *p, struct slices *vals, const char *s, size_t n)
{
	if (slices_add(vals, s, n) != 0) {
		seterr(p->err, p->errcap, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* parseIdentifiersList: a possibly empty list of possibly empty values, up to (not including)
 * the closing parenthesis. "(,a)", "(a,)" and "(a,,b)" all contain the empty value. */
static int parse_identifiers(struct parser *p, struct slices *vals)
{
	for (;;) {
		struct token t = next_v(p), la;
		int rc;
		switch (t.t) {
		case T_ID:
			if ((rc = add_value(p, vals, t.s, t.n)) != 0)
				return rc;
			la = peek_v(p);
			if (la.t == T_COMMA)
				continue;
			if (la.t == T_CPAR)
				return 0;
			return found(p, la, "',' or ')'");
		case T_COMMA:
			if (vals->n == 0 && (rc = add_value(p, vals, "", 0)) != 0)
				return rc;
			la = peek_v(p);
			if (la.t == T_CPAR)
				return add_value(p, vals, "", 0);
			if (la.t == T_COMMA) {
				next_v(p);
				if ((rc = add_value(p, vals, "", 0)) != 0)
					return rc;
			}
			continue;
		default:
			return found(p, t, "',', or identifier");
		}
	}
}

static int parse_values(struct parser *p, struct slices *vals)
{
	char s[SNIP_MAX + 4];
	struct token t = next_v(p);
	int rc;
	if (t.t != T_OPAR) {
		seterr(p->err, p->errcap, "found '%s' expected: '('", snip(s, t.s, t.n));
		return -EINVAL;
	}
	t = peek_v(p);
	switch (t.t) {
	case T_ID:
	case T_COMMA:
		if ((rc = parse_identifiers(p, vals)) != 0)
			return rc;
		t = next_v(p);
		if (t.t != T_CPAR)
			return found(p, t, "')'");
		return 0;
	case T_CPAR:
		next_v(p);
		return add_value(p, vals, "", 0); /* "()" is the set holding the empty value */
	default:
		return found(p, t, "',', ')' or identifier");
	}
}

static int parse_exact_value(struct parser *p, struct slices *vals)
{
	struct token t = peek_v(p);
	if (t.t == T_EOS || t.t == T_COMMA)
		return add_value(p, vals, "", 0); /* "k=" and "k=,..." mean the empty value */
	t = next_v(p);
	if (t.t == T_ID)
		return add_value(p, vals, t.s, t.n);
	return found(p, t, "identifier");
}

static int parse_requirement(struct parser *p, struct fc_selector *sel)
{
	struct slices vals = {0};
	bool not = false;
	enum op op;
	int rc;
	struct token key = next_v(p);
	if (key.t == T_NOT) {
		not = true;
		key = next_v(p);
	}
	if (key.t != T_ID)
		return found(p, key, "identifier");
	if ((rc = check_key(key.s, key.n, p->err, p->errcap)) != 0)
		return rc;
	struct token la = peek_v(p);
	/* A bare key (or !key) ends at ',' or the end; "!k=v" leaves "=" for the caller to
	 * reject, as the Go parser does. */
	if (not )
		return sel_add(sel, key.s, key.n, OP_NEXISTS, NULL, true, p->err, p->errcap);
	if (la.t == T_EOS || la.t == T_COMMA)
		return sel_add(sel, key.s, key.n, OP_EXISTS, NULL, true, p->err, p->errcap);
	struct token o = next_op(p);
	switch (o.t) {
	case T_IN:
		op = OP_IN;
		break;
	case T_NOTIN:
		op = OP_NOTIN;
		break;
	case T_EQ:
		op = OP_EQ;
		break;
	case T_DEQ:
		op = OP_DEQ;
		break;
	case T_NEQ:
		op = OP_NEQ;
		break;
	case T_GT:
		op = OP_GT;
		break;
	case T_LT:
		op = OP_LT;
		break;
	default:
		return found(p, o, "in, notin, =, ==, !=, gt, lt");
	}
	rc = (op == OP_IN || op == OP_NOTIN) ? parse_values(p, &vals) : parse_exact_value(p, &vals);
	if (rc == 0)
		rc = sel_add(sel, key.s, key.n, op, &vals, true, p->err, p->errcap);
	free(vals.v);
	return rc;
}

static int parse_selector(struct parser *p, struct fc_selector *sel)
{
	for (;;) {
		struct token t = peek_v(p);
		if (t.t == T_EOS)
			return 0;
		if (t.t != T_ID && t.t != T_NOT)
			return found(p, t, "!, identifier, or 'end of string'");
		char why[512]; /* longest message is about 330 bytes */
		struct parser sub = *p;
		sub.err = why;
		sub.errcap = sizeof(why);
		why[0] = '\0';
		int rc = parse_requirement(&sub, sel);
		p->pos = sub.pos;
		if (rc != 0) {
			seterr(p->err, p->errcap, "unable to parse requirement: %s", why);
			return rc;
		}
		t = next_v(p);
		if (t.t == T_EOS)
			return 0;
		if (t.t != T_COMMA)
			return found(p, t, "',' or 'end of string'");
		t = peek_v(p);
		if (t.t != T_ID && t.t != T_NOT)
			return found(p, t, "identifier after ','");
	}
}

struct fc_selector *fc_selector_parse(const char *s, char *err, size_t errcap)
{
	if (err && errcap)
		err[0] = '\0';
	if (!s)
		s = "";
	size_t len = strnlen(s, (size_t)FC_SELECTOR_MAX_LEN + 1);
	if (len > FC_SELECTOR_MAX_LEN) {
		seterr(err, errcap, "label selector longer than %d bytes", FC_SELECTOR_MAX_LEN);
		return NULL;
	}
	struct fc_selector *sel = calloc(1, sizeof(*sel));
	if (!sel) {
		seterr(err, errcap, "out of memory");
		return NULL;
	}
	struct parser p = {.s = s, .len = len, .err = err, .errcap = errcap};
	if (parse_selector(&p, sel) != 0) {
		fc_selector_free(sel);
		return NULL;
	}
	sel_sort(sel);
	return sel;
}

/* ---- building from JSON ---- */

struct fc_selector *fc_selector_from_map(const cJSON *map, char *err, size_t errcap)
{
	char s[SNIP_MAX + 4];
	if (err && errcap)
		err[0] = '\0';
	struct fc_selector *sel = calloc(1, sizeof(*sel));
	if (!sel) {
		seterr(err, errcap, "out of memory");
		return NULL;
	}
	if (!map || cJSON_IsNull(map))
		return sel;
	if (!cJSON_IsObject(map)) {
		seterr(err, errcap, "selector must be a map of label keys to values");
		goto fail;
	}
	const cJSON *c;
	cJSON_ArrayForEach(c, map)
	{
		if (!cJSON_IsString(c)) {
			seterr(err, errcap, "value of label \"%s\" must be a string",
			       snip(s, c->string, strlen(c->string)));
			goto fail;
		}
		struct slice v = {c->valuestring, strlen(c->valuestring)};
		struct slices vals = {.v = &v, .n = 1, .cap = 1};
		if (sel_add(sel, c->string, strlen(c->string), OP_EQ, &vals, false, err, errcap))
			goto fail;
	}
	sel_sort(sel);
	return sel;
fail:
	fc_selector_free(sel);
	return NULL;
}

/* One matchExpressions entry: {key, operator, values}. */
static int add_expression(struct fc_selector *sel, const cJSON *e, size_t idx, char *err,
			  size_t cap)
{
	char s[SNIP_MAX + 4];
	struct slices vals = {0};
	int rc = -EINVAL;
	if (!cJSON_IsObject(e)) {
		seterr(err, cap, "matchExpressions[%zu] must be an object", idx);
		return -EINVAL;
	}
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "key");
	const cJSON *oper = cJSON_GetObjectItemCaseSensitive(e, "operator");
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values");
	/* Absent fields take Go's zero values: "" and an empty list. */
	if (key && !cJSON_IsNull(key) && !cJSON_IsString(key)) {
		seterr(err, cap, "matchExpressions[%zu].key must be a string", idx);
		return -EINVAL;
	}
	if (oper && !cJSON_IsNull(oper) && !cJSON_IsString(oper)) {
		seterr(err, cap, "matchExpressions[%zu].operator must be a string", idx);
		return -EINVAL;
	}
	const char *k = cJSON_IsString(key) ? key->valuestring : "";
	const char *o = cJSON_IsString(oper) ? oper->valuestring : "";
	enum op op;
	if (!strcmp(o, "In"))
		op = OP_IN;
	else if (!strcmp(o, "NotIn"))
		op = OP_NOTIN;
	else if (!strcmp(o, "Exists"))
		op = OP_EXISTS;
	else if (!strcmp(o, "DoesNotExist"))
		op = OP_NEXISTS;
	else {
		seterr(err, cap, "\"%s\" is not a valid label selector operator",
		       snip(s, o, strlen(o)));
		return -EINVAL;
	}
	if (values && !cJSON_IsNull(values)) {
		const cJSON *v;
		if (!cJSON_IsArray(values)) {
			seterr(err, cap, "matchExpressions[%zu].values must be a list", idx);
			return -EINVAL;
		}
		cJSON_ArrayForEach(v, values)
		{
			if (!cJSON_IsString(v)) {
				seterr(err, cap, "matchExpressions[%zu].values must hold strings",
				       idx);
				goto out;
			}
			if (slices_add(&vals, v->valuestring, strlen(v->valuestring)) != 0) {
				seterr(err, cap, "out of memory");
				rc = -ENOMEM;
				goto out;
			}
		}
	}
	rc = sel_add(sel, k, strlen(k), op, &vals, false, err, cap);
out:
	free(vals.v);
	return rc;
}

struct fc_selector *fc_selector_from_label_selector(const cJSON *ls, char *err, size_t errcap)
{
	if (err && errcap)
		err[0] = '\0';
	struct fc_selector *sel = calloc(1, sizeof(*sel));
	if (!sel) {
		seterr(err, errcap, "out of memory");
		return NULL;
	}
	if (!ls || cJSON_IsNull(ls)) {
		sel->nothing = true;
		return sel;
	}
	if (!cJSON_IsObject(ls)) {
		seterr(err, errcap, "label selector must be an object");
		goto fail;
	}
	const cJSON *ml = cJSON_GetObjectItemCaseSensitive(ls, "matchLabels");
	const cJSON *me = cJSON_GetObjectItemCaseSensitive(ls, "matchExpressions");
	if (ml && !cJSON_IsNull(ml)) {
		if (!cJSON_IsObject(ml)) {
			seterr(err, errcap, "matchLabels must be a map");
			goto fail;
		}
		struct fc_selector *m = fc_selector_from_map(ml, err, errcap);
		if (!m)
			goto fail;
		/* Hand the requirements over; order keeps matchLabels first among equal keys. */
		free(sel->r);
		sel->r = m->r;
		sel->n = m->n;
		sel->cap = m->cap;
		m->r = NULL;
		m->n = 0;
		fc_selector_free(m);
		for (size_t i = 0; i < sel->n; i++)
			sel->r[i].order = i;
	}
	if (me && !cJSON_IsNull(me)) {
		const cJSON *e;
		size_t i = 0;
		if (!cJSON_IsArray(me)) {
			seterr(err, errcap, "matchExpressions must be a list");
			goto fail;
		}
		cJSON_ArrayForEach(e, me)
		{
			if (add_expression(sel, e, i++, err, errcap) != 0)
				goto fail;
		}
	}
	sel_sort(sel);
	return sel;
fail:
	fc_selector_free(sel);
	return NULL;
}

/* ---- matching and printing ---- */

static const char *label_value(const cJSON *labels, const char *key)
{
	if (!cJSON_IsObject(labels))
		return NULL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool has_value(const struct req *r, const char *v)
{
	for (size_t i = 0; i < r->nvals; i++)
		if (!strcmp(r->vals[i], v))
			return true;
	return false;
}

/* Requirement.Matches in selector.go. */
static bool req_matches(const struct req *r, const cJSON *labels)
{
	const char *v = label_value(labels, r->key);
	int64_t have, want;
	switch (r->op) {
	case OP_IN:
	case OP_EQ:
	case OP_DEQ:
		return v && has_value(r, v);
	case OP_NOTIN:
	case OP_NEQ:
		return !v || !has_value(r, v);
	case OP_EXISTS:
		return v != NULL;
	case OP_NEXISTS:
		return v == NULL;
	case OP_GT:
	case OP_LT:
		if (!v || r->nvals != 1 || !parse_i64(v, strlen(v), &have) ||
		    !parse_i64(r->vals[0], strlen(r->vals[0]), &want))
			return false;
		return r->op == OP_GT ? have > want : have < want;
	}
	return false;
}

bool fc_selector_matches(const struct fc_selector *sel, const cJSON *labels)
{
	if (!sel || sel->nothing)
		return false;
	for (size_t i = 0; i < sel->n; i++)
		if (!req_matches(&sel->r[i], labels))
			return false;
	return true;
}

bool fc_selector_is_empty(const struct fc_selector *sel)
{
	return sel && !sel->nothing && sel->n == 0;
}

bool fc_selector_is_nothing(const struct fc_selector *sel)
{
	return sel && sel->nothing;
}

/* Appends to a malloc'd string; out == NULL measures only. */
static void put(char *out, size_t *off, const char *s)
{
	size_t n = strlen(s);
	if (out)
		memcpy(out + *off, s, n);
	*off += n;
}

static size_t render(const struct fc_selector *sel, char *out)
{
	static const char *const ops[] = {
	    [OP_IN] = " in ",  [OP_NOTIN] = " notin ", [OP_EQ] = "=",
	    [OP_DEQ] = "==",   [OP_NEQ] = "!=",	       [OP_EXISTS] = "",
	    [OP_NEXISTS] = "", [OP_GT] = ">",	       [OP_LT] = "<"};
	size_t off = 0;
	for (size_t i = 0; !sel->nothing && i < sel->n; i++) {
		const struct req *r = &sel->r[i];
		bool set = r->op == OP_IN || r->op == OP_NOTIN;
		if (i)
			put(out, &off, ",");
		if (r->op == OP_NEXISTS)
			put(out, &off, "!");
		put(out, &off, r->key);
		put(out, &off, ops[r->op]);
		if (set)
			put(out, &off, "(");
		for (size_t j = 0; j < r->nvals; j++) {
			if (j)
				put(out, &off, ",");
			put(out, &off, r->vals[j]);
		}
		if (set)
			put(out, &off, ")");
	}
	if (out)
		out[off] = '\0';
	return off;
}

char *fc_selector_string(const struct fc_selector *sel)
{
	if (!sel)
		return NULL;
	char *out = malloc(render(sel, NULL) + 1);
	if (out)
		render(sel, out);
	return out;
}

char *fc_selector_label_selector_string(const cJSON *ls, char *err, size_t errcap)
{
	struct fc_selector *sel = fc_selector_from_label_selector(ls, err, errcap);
	if (!sel)
		return NULL;
	char *s = fc_selector_string(sel);
	fc_selector_free(sel);
	if (!s)
		seterr(err, errcap, "out of memory");
	return s;
}

/* ---- field selectors (k8s.io/apimachinery/pkg/fields/selector.go) ---- */

enum field { F_NAME, F_NAMESPACE };

struct fterm {
	enum field field;
	bool negate; /* != */
	char *value; /* owned, unescaped */
};

struct fc_selector_fields {
	struct fterm *t; /* owned, n entries */
	size_t n;
};

void fc_selector_fields_free(struct fc_selector_fields *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->n; i++)
		free(fs->t[i].value);
	free(fs->t);
	free(fs);
}

/* UnescapeValue: `\\`, `\,` and `\=` are the only escapes, and `,` or `=` may not appear
 * unescaped in a value. Returns a malloc'd string or NULL with err set. */
static char *unescape_value(const char *s, size_t n, char *err, size_t cap)
{
	char *out = malloc(n + 1);
	size_t o = 0;
	if (!out) {
		seterr(err, cap, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\') {
			if (i + 1 >= n) {
				seterr(err, cap,
				       "invalid field selector: invalid escape sequence: \\");
				goto fail;
			}
			c = s[++i];
			if (c != '\\' && c != ',' && c != '=') {
				/* Show the whole escaped character, as Go shows the rune. */
				char seq[5];
				size_t cl = 1;
				while (cl < 4 && i + cl < n &&
				       ((unsigned char)s[i + cl] & 0xc0) == 0x80)
					cl++;
				memcpy(seq, s + i, cl);
				seq[cl] = '\0';
				seterr(err, cap,
				       "invalid field selector: invalid escape sequence: \\%s",
				       seq);
				goto fail;
			}
		} else if (c == ',' || c == '=') {
			seterr(err, cap, "invalid field selector: unescaped character in value: %c",
			       c);
			goto fail;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

/* One comma-separated term: the first "!=", "==" or "=" splits field from value. */
static int add_term(struct fc_selector_fields *fs, const char *sel, size_t sellen, const char *term,
		    size_t n, char *err, size_t cap)
{
	char s1[SNIP_MAX + 4], s2[SNIP_MAX + 4];
	size_t i, oplen = 0;
	bool negate = false;
	for (i = 0; i < n; i++) {
		if (term[i] == '!' && i + 1 < n && term[i + 1] == '=') {
			negate = true;
			oplen = 2;
			break;
		}
		if (term[i] == '=') {
			oplen = (i + 1 < n && term[i + 1] == '=') ? 2 : 1;
			break;
		}
	}
	if (!oplen) {
		seterr(err, cap, "invalid selector: '%s'; can't understand '%s'",
		       snip(s1, sel, sellen), snip(s2, term, n));
		return -EINVAL;
	}
	char *value = unescape_value(term + i + oplen, n - i - oplen, err, cap);
	if (!value)
		return -EINVAL;
	enum field f;
	/* The field is not trimmed: "metadata.name =x" names an unsupported field, as in Go. */
	if (i == 13 && !memcmp(term, "metadata.name", 13)) {
		f = F_NAME;
	} else if (i == 18 && !memcmp(term, "metadata.namespace", 18)) {
		f = F_NAMESPACE;
	} else {
		seterr(err, cap, "field label not supported: %s", snip(s1, term, i));
		free(value);
		return -EINVAL;
	}
	struct fterm *nt = realloc(fs->t, (fs->n + 1) * sizeof(*nt));
	if (!nt) {
		free(value);
		seterr(err, cap, "out of memory");
		return -ENOMEM;
	}
	fs->t = nt;
	fs->t[fs->n++] = (struct fterm){f, negate, value};
	return 0;
}

struct fc_selector_fields *fc_selector_fields_parse(const char *s, char *err, size_t errcap)
{
	if (err && errcap)
		err[0] = '\0';
	if (!s)
		s = "";
	size_t len = strnlen(s, (size_t)FC_SELECTOR_MAX_LEN + 1);
	if (len > FC_SELECTOR_MAX_LEN) {
		seterr(err, errcap, "field selector longer than %d bytes", FC_SELECTOR_MAX_LEN);
		return NULL;
	}
	struct fc_selector_fields *fs = calloc(1, sizeof(*fs));
	if (!fs) {
		seterr(err, errcap, "out of memory");
		return NULL;
	}
	/* splitTerms: commas split terms unless escaped; empty terms are skipped. */
	size_t start = 0;
	bool esc = false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len) {
			if (esc) {
				esc = false;
				continue;
			}
			if (s[i] == '\\') {
				esc = true;
				continue;
			}
			if (s[i] != ',')
				continue;
		}
		if (i > start && add_term(fs, s, len, s + start, i - start, err, errcap) != 0) {
			fc_selector_fields_free(fs);
			return NULL;
		}
		start = i + 1;
	}
	return fs;
}

static const char *meta_string(const cJSON *obj, const char *field)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = cJSON_IsObject(md) ? cJSON_GetObjectItemCaseSensitive(md, field) : NULL;
	return cJSON_IsString(v) ? v->valuestring : "";
}

bool fc_selector_fields_matches(const struct fc_selector_fields *fs, const cJSON *obj)
{
	if (!fs)
		return false;
	for (size_t i = 0; i < fs->n; i++) {
		const struct fterm *t = &fs->t[i];
		const char *have = meta_string(obj, t->field == F_NAME ? "name" : "namespace");
		if ((strcmp(have, t->value) == 0) == t->negate)
			return false;
	}
	return true;
}

const char *fc_selector_fields_exact(const struct fc_selector_fields *fs, const char *field)
{
	if (!fs || !field)
		return NULL;
	enum field f;
	if (!strcmp(field, "metadata.name"))
		f = F_NAME;
	else if (!strcmp(field, "metadata.namespace"))
		f = F_NAMESPACE;
	else
		return NULL;
	for (size_t i = 0; i < fs->n; i++)
		if (fs->t[i].field == f && !fs->t[i].negate)
			return fs->t[i].value;
	return NULL;
}
