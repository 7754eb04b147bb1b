/* kubeconfig.c: kubeconfig loading, first-wins merging and context resolution (kubeconfig.h).
 *
 * Each file is parsed with yamljson into a cJSON tree that keeps source positions. Merging is
 * done by lookup instead of by building a merged map: files are kept in precedence order and a
 * named cluster/user/context is taken from the first file that defines the name, which is
 * exactly client-go's "first file wins completely" rule (protocol.md 6.5). Every file gets a
 * shape check (the right container types, names unique within the file); only the entries the
 * selected context reaches are validated field by field, read and decoded.
 *
 * Secrets: the token, the client key and certificate, exec env values and the raw text of every
 * loaded file pass through buffers owned here; each is wiped (OPENSSL_cleanse) before it is
 * freed, and so are the string values of the parsed YAML trees. (libyaml's scanner buffers and
 * yamljson's transient copies are freed by them unwiped; that is outside this module.) Messages
 * only ever contain names, paths, positions and field names; the few yamljson messages that
 * quote a scalar are cut down to their position (redact_yaml_error). */
#include "kubeconfig.h"

#include "base64.h"
#include "profile.h"
#include "yamljson.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXEC_EXTENSION_NAME "client.authentication.k8s.io/exec"
#define MSG_MAX 512

/* One kubeconfig file in precedence order. */
struct kfile {
	char *path;	   /* owned; as given, used in messages */
	char *dir;	   /* owned; absolute directory of path, base for relative references */
	struct kt_yaml *y; /* owned; NULL for an empty file */
	const cJSON *root; /* owned by y; the first document, a mapping, or NULL */
	const cJSON *clusters, *users, *contexts; /* arrays inside root, or NULL */
	const cJSON *current;			  /* current-context string node, or NULL */
};

struct ctx {
	struct kfile *f; /* owned array of n files */
	size_t n;
	unsigned flags;
	char *err;
	size_t errcap;
	struct kt_kubeconfig *kc; /* the result being built */
	char *exec_ext_json;	  /* owned; the cluster's exec extension, until moved to kc->exec */
};

/* ---- small helpers ---- */

static void wipe_free(void *p, size_t n)
{
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

static void wipe_str(char *s)
{
	if (s)
		wipe_free(s, strlen(s));
}

/* Zeroes every string value of a parsed tree before kt_yaml_free() releases it: a kubeconfig's
 * tokens and keys live in those strings. The tree is const for readers; this module is the last
 * user of its own load and the memory is about to be freed, hence the cast through uintptr_t. */
static void wipe_tree(const cJSON *n, unsigned depth)
{
	for (; n; n = n->next) {
		if (n->valuestring) {
			char *s = (char *)(uintptr_t)n->valuestring;
			OPENSSL_cleanse(s, strlen(s));
		}
		if (n->child && depth < 2 * KT_YAML_MAX_DEPTH)
			wipe_tree(n->child, depth + 1);
	}
}

static void yaml_free_wiped(struct kt_yaml *y)
{
	for (size_t i = 0; i < kt_yaml_doc_count(y); i++)
		wipe_tree(kt_yaml_doc(y, i), 0);
	kt_yaml_free(y);
}

static void fail_plain(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_plain(struct ctx *c, const char *fmt, ...)
{
	if (!c->err || !c->errcap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errcap, fmt, ap);
	va_end(ap);
	for (char *p = c->err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* Error at a node of file f: FILE:LINE:COL: message (or FILE: message without a position). */
static int fail_at(struct ctx *c, const struct kfile *f, const cJSON *node, bool at_key,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail_at(struct ctx *c, const struct kfile *f, const cJSON *node, bool at_key,
		   const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->err || !c->errcap)
		return -EINVAL;
	if (f->y && node) {
		if (at_key)
			kt_yaml_key_errorf(f->y, node, c->err, c->errcap, "%s", msg);
		else
			kt_yaml_errorf(f->y, node, c->err, c->errcap, "%s", msg);
	} else {
		fail_plain(c, "%s: %s", f->path, msg);
	}
	return -EINVAL;
}

static void add_warning(struct ctx *c, const struct kfile *f, const cJSON *node, const char *fmt,
			...) __attribute__((format(printf, 4, 5)));
static void add_warning(struct ctx *c, const struct kfile *f, const cJSON *node, const char *fmt,
			...)
{
	char msg[MSG_MAX], line[MSG_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f->y && node)
		kt_yaml_key_errorf(f->y, node, line, sizeof(line), "%s", msg);
	else
		snprintf(line, sizeof(line), "%s: %s", f->path, msg);
	struct kt_kubeconfig *kc = c->kc;
	if (kc->nwarnings >= KT_KUBECONFIG_MAX_WARNINGS)
		return;
	char **nw = realloc(kc->warnings, (kc->nwarnings + 1) * sizeof(*nw));
	if (!nw)
		return;
	kc->warnings = nw;
	kc->warnings[kc->nwarnings] = strdup(line);
	if (kc->warnings[kc->nwarnings])
		kc->nwarnings++;
}

static int oom(struct ctx *c)
{
	fail_plain(c, "kubeconfig: out of memory");
	return -ENOMEM;
}

/* Reads a whole regular file of at most max bytes into a fresh NUL-terminated buffer. The
 * buffer may hold secrets: intermediate copies are wiped. On failure writes the reason
 * (strerror or a short phrase) to why and returns -errno. */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *outlen, char *why,
		     size_t whycap)
{
	/* O_NONBLOCK: opening a FIFO must not hang the loader; a regular file ignores it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		snprintf(why, whycap, "%s", strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		snprintf(why, whycap, "%s", strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, whycap, "not a regular file");
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		snprintf(why, whycap, "larger than %zu bytes", max);
		return -EFBIG;
	}
	/* Room for the NUL and one more byte, so reading to EOF needs no second buffer (a copy
	 * would be one more place the secret was). */
	size_t cap = (size_t)st.st_size + 2, len = 0;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		close(fd);
		snprintf(why, whycap, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		if (len + 1 == cap) {
			/* The file grew since fstat: grow, but never past max. */
			if (len >= max) {
				wipe_free(buf, cap);
				close(fd);
				snprintf(why, whycap, "larger than %zu bytes", max);
				return -EFBIG;
			}
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			uint8_t *nb = malloc(ncap);
			if (!nb) {
				wipe_free(buf, cap);
				close(fd);
				snprintf(why, whycap, "out of memory");
				return -ENOMEM;
			}
			memcpy(nb, buf, len);
			wipe_free(buf, cap);
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			wipe_free(buf, cap);
			close(fd);
			snprintf(why, whycap, "%s", strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* Joins dir and a relative path; an absolute path or an empty one is kept as is (NULL for
 * empty), as client-go's ResolvePaths does. */
static char *resolve_path(const char *dir, const char *p)
{
	if (!p || !*p)
		return NULL;
	if (p[0] == '/')
		return strdup(p);
	size_t n = strlen(dir) + 1 + strlen(p) + 1;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", p);
	return out;
}

/* Absolute directory of path (relative paths are taken from the working directory). */
static char *dir_of(const char *path)
{
	char cwd[PATH_MAX];
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (path && path[0] == '/') {
		size_t n = (size_t)(slash - path);
		if (n == 0)
			return strdup("/");
		return strndup(path, n);
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return strdup("/");
	if (!slash)
		return strdup(cwd);
	size_t plen = (size_t)(slash - path);
	size_t n = strlen(cwd) + 1 + plen + 1;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "%s%s%.*s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", (int)plen,
			 path);
	return out;
}

/* yamljson quotes the offending scalar in a few of its messages (numbers it cannot represent,
 * values with a wrong explicit tag). In a kubeconfig that scalar may be a token, so those
 * messages keep their position and lose the text. */
static void redact_yaml_error(char *err, size_t errcap, const char *fname)
{
	size_t fl = strlen(fname);
	if (strncmp(err, fname, fl) != 0 || err[fl] != ':')
		return;
	char *p = err + fl + 1;
	for (int i = 0; i < 2; i++) {
		if (!isdigit((unsigned char)*p))
			return;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p != ':')
			return;
		p++;
	}
	if (*p == ' ')
		p++;
	static const char *const prefixes[] = {"integer ", "number ", "invalid !!"};
	bool quotes = strstr(p, "cannot be represented in JSON") != NULL;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0)
			quotes = true;
	if (quotes)
		snprintf(p, errcap - (size_t)(p - err), "%s",
			 "invalid scalar value (not shown: it may be a secret)");
}

/* ---- typed field access: absent and null are the same (Go leaves the zero value) ---- */

static const cJSON *field(const cJSON *obj, const char *key)
{
	const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
	return v && !cJSON_IsNull(v) ? v : NULL;
}

/* *out = the string value (borrowed), or NULL when absent, null or empty (Go's zero value). */
static int get_str(struct ctx *c, const struct kfile *f, const cJSON *obj, const char *key,
		   const char **out, const cJSON **node)
{
	const cJSON *v = field(obj, key);
	*out = NULL;
	if (node)
		*node = v;
	if (!v)
		return 0;
	if (!cJSON_IsString(v))
		return fail_at(c, f, v, false, "%s must be a string", key);
	if (v->valuestring[0])
		*out = v->valuestring;
	return 0;
}

static int get_bool(struct ctx *c, const struct kfile *f, const cJSON *obj, const char *key,
		    bool *out)
{
	const cJSON *v = field(obj, key);
	*out = false;
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return fail_at(c, f, v, false, "%s must be true or false", key);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* True when a field is present with a non-empty value (string, list or mapping). */
static bool is_set(const cJSON *obj, const char *key)
{
	const cJSON *v = field(obj, key);
	if (!v)
		return false;
	if (cJSON_IsString(v))
		return v->valuestring[0] != '\0';
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child != NULL;
	return !cJSON_IsFalse(v);
}

static const char *entry_name(const cJSON *e)
{
	return cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
}

/* ---- per-file shape check ---- */

struct named {
	const char *name;
	size_t idx; /* position in the list */
	const cJSON *e;
};

static int cmp_named(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* clusters/users/contexts: a list of {name: string, <inner>: mapping}, names unique within one
 * file (client-go's v1 conversion rejects a duplicate name in one list). */
static int check_list(struct ctx *c, const struct kfile *f, const cJSON *list, const char *what,
		      const char *inner)
{
	if (!list)
		return 0;
	if (!cJSON_IsArray(list))
		return fail_at(c, f, list, false, "%ss must be a list", what);
	size_t n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
	{
		if (!cJSON_IsObject(e))
			return fail_at(c, f, e, false, "%s entry must be a mapping", what);
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		if (!name || !cJSON_IsString(name))
			return fail_at(c, f, name ? name : e, false, "%s entry needs a string name",
				       what);
		const cJSON *in = field(e, inner);
		if (in && !cJSON_IsObject(in))
			return fail_at(c, f, in, false, "%s must be a mapping", inner);
		n++;
	}
	if (n < 2)
		return 0;
	/* Sorting (not pairwise comparison) keeps a file with many entries cheap. */
	struct named *v = malloc(n * sizeof(*v));
	if (!v)
		return oom(c);
	size_t i = 0;
	cJSON_ArrayForEach(e, list)
	{
		v[i] = (struct named){entry_name(e), i, e};
		i++;
	}
	qsort(v, n, sizeof(*v), cmp_named);
	/* Report the duplicate that comes first in the file (at its second occurrence). */
	const struct named *dup = NULL;
	for (i = 1; i < n; i++)
		if (strcmp(v[i - 1].name, v[i].name) == 0 && (!dup || v[i].idx < dup->idx))
			dup = &v[i];
	int r = 0;
	if (dup)
		r = fail_at(c, f, cJSON_GetObjectItemCaseSensitive(dup->e, "name"), false,
			    "duplicate %s name \"%s\"", what, dup->name);
	free(v);
	return r;
}

static int check_shape(struct ctx *c, struct kfile *f)
{
	if (!f->y || kt_yaml_doc_count(f->y) == 0)
		return 0; /* an empty file is an empty config (clientcmd.Load) */
	/* Only the first document counts, as with the YAML decoder client-go uses. */
	const cJSON *root = kt_yaml_doc(f->y, 0);
	if (!cJSON_IsObject(root))
		return fail_at(c, f, root, false, "a kubeconfig must be a mapping");
	const char *s;
	const cJSON *node;
	int r = get_str(c, f, root, "kind", &s, &node);
	if (r)
		return r;
	if (s && strcmp(s, "Config") != 0)
		return fail_at(c, f, node, false, "kind is \"%s\", not Config", s);
	r = get_str(c, f, root, "apiVersion", &s, &node);
	if (r)
		return r;
	if (s && strcmp(s, "v1") != 0)
		return fail_at(c, f, node, false, "apiVersion is \"%s\", not v1", s);
	r = get_str(c, f, root, "current-context", &s, &f->current);
	if (r)
		return r;
	if (!s)
		f->current = NULL;
	f->root = root;
	f->clusters = field(root, "clusters");
	f->users = field(root, "users");
	f->contexts = field(root, "contexts");
	if ((r = check_list(c, f, f->clusters, "cluster", "cluster")) ||
	    (r = check_list(c, f, f->users, "user", "user")) ||
	    (r = check_list(c, f, f->contexts, "context", "context")))
		return r;
	return 0;
}

static int add_file(struct ctx *c, const char *path)
{
	if (c->n >= KT_KUBECONFIG_MAX_FILES) {
		fail_plain(c, "kubeconfig: more than %u files", KT_KUBECONFIG_MAX_FILES);
		return -E2BIG;
	}
	struct kfile *nf = realloc(c->f, (c->n + 1) * sizeof(*nf));
	if (!nf)
		return oom(c);
	c->f = nf;
	struct kfile *f = &c->f[c->n];
	*f = (struct kfile){0};
	f->path = strdup(path);
	f->dir = dir_of(path);
	c->n++;
	if (!f->path || !f->dir)
		return oom(c);
	return 0;
}

/* Parses buf as a new file of c, named path (the path is used for messages and as the base of
 * relative references). Does not take buf. */
static int add_buf(struct ctx *c, const char *path, const void *buf, size_t len)
{
	char err[MSG_MAX + 256];
	int r = add_file(c, path);
	if (r)
		return r;
	struct kfile *f = &c->f[c->n - 1];
	if (len > 0) {
		f->y = kt_yaml_load(buf, len, f->path, err, sizeof(err));
		if (!f->y) {
			redact_yaml_error(err, sizeof(err), f->path);
			fail_plain(c, "%s", err);
			return -EINVAL;
		}
	}
	return check_shape(c, f);
}

/* Reads and parses one kubeconfig file; -ENOENT (with no message) when it does not exist and
 * missing_ok, so the KUBECONFIG list can skip it. */
static int add_path(struct ctx *c, const char *path, bool missing_ok)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[128];
	int r = read_file(path, KT_YAML_MAX_BYTES, &buf, &len, why, sizeof(why));
	if (r == -ENOENT && missing_ok)
		return r;
	if (r == -ENOMEM)
		return oom(c);
	if (r) {
		fail_plain(c, "%s: cannot read kubeconfig: %s", path, why);
		return r;
	}
	r = add_buf(c, path, buf, len);
	wipe_free(buf, len + 1);
	return r;
}

/* ---- lookups across files (the first file defining the name wins, protocol.md 6.5) ---- */

enum which { W_CLUSTER, W_USER, W_CONTEXT };

static const cJSON *find_named(const struct ctx *c, enum which w, const char *name, size_t *fi)
{
	for (size_t i = 0; i < c->n; i++) {
		const cJSON *list = w == W_CLUSTER ? c->f[i].clusters
				    : w == W_USER  ? c->f[i].users
						   : c->f[i].contexts;
		const cJSON *e;
		cJSON_ArrayForEach(e, list)
		{
			if (strcmp(entry_name(e), name) == 0) {
				*fi = i;
				return e;
			}
		}
	}
	return NULL;
}

/* "a, b, c" (bounded) for messages about the whole set of files. */
static const char *file_list(const struct ctx *c, char *out, size_t cap)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < c->n && off < cap; i++) {
		int w = snprintf(out + off, cap - off, "%s%s", i ? ", " : "", c->f[i].path);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return out;
}

/* ---- data fields ---- */

/* A base64 *-data field (Go's []byte JSON encoding, protocol.md 6.2). */
static int decode_data(struct ctx *c, const struct kfile *f, const cJSON *node, const char *key,
		       uint8_t **out, size_t *outlen)
{
	const char *s = node->valuestring;
	size_t n = strlen(s);
	size_t cap = kt_base64_decoded_max(n) + 1;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return oom(c);
	size_t len = 0;
	if (kt_base64_decode(s, n, buf, cap - 1, &len, KT_BASE64_SKIP_WS | KT_BASE64_LAX_BITS) !=
	    0) {
		wipe_free(buf, cap);
		return fail_at(c, f, node, false, "%s is not valid base64", key);
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* Reads a referenced file (already resolved to an absolute path) unless file I/O is off. */
static int read_ref(struct ctx *c, const struct kfile *f, const cJSON *node, const char *key,
		    const char *path, uint8_t **out, size_t *outlen)
{
	char why[128];
	*out = NULL;
	*outlen = 0;
	if (c->flags & KT_KUBECONFIG_NO_FILE_IO)
		return 0;
	int r = read_file(path, KT_KUBECONFIG_MAX_REF_BYTES, out, outlen, why, sizeof(why));
	if (r == -ENOMEM)
		return oom(c);
	if (r < 0)
		return fail_at(c, f, node, false, "%s \"%s\": %s", key, path, why);
	return 0;
}

/* -data wins over the file (protocol.md 6.2/6.3); both given earns a warning, as client-go's
 * validation reports it. *out_path gets the resolved path when the file was used. */
static int data_or_file(struct ctx *c, const struct kfile *f, const cJSON *obj,
			const char *file_key, const char *data_key, uint8_t **out, size_t *outlen,
			char **out_path)
{
	const char *file, *data;
	const cJSON *fnode, *dnode;
	int r;
	if ((r = get_str(c, f, obj, file_key, &file, &fnode)) ||
	    (r = get_str(c, f, obj, data_key, &data, &dnode)))
		return r;
	if (data) {
		if (file)
			add_warning(c, f, fnode, "%s and %s are both set; %s is used", data_key,
				    file_key, data_key);
		return decode_data(c, f, dnode, data_key, out, outlen);
	}
	if (!file)
		return 0;
	if (!(*out_path = resolve_path(f->dir, file)))
		return oom(c);
	return read_ref(c, f, fnode, file_key, *out_path, out, outlen);
}

/* ---- PEM checks (OpenSSL), so a bad credential fails at startup with a clear line ---- */

static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1; /* an encrypted key cannot be used unattended */
}

static int count_pem_certs(const uint8_t *p, size_t n)
{
	if (n > INT_MAX)
		return 0;
	BIO *b = BIO_new_mem_buf(p, (int)n);
	if (!b)
		return 0;
	STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(b, NULL, no_password, NULL);
	BIO_free(b);
	int certs = 0;
	if (infos) {
		for (int i = 0; i < sk_X509_INFO_num(infos); i++)
			if (sk_X509_INFO_value(infos, i)->x509)
				certs++;
		sk_X509_INFO_pop_free(infos, X509_INFO_free);
	}
	ERR_clear_error();
	return certs;
}

static int check_ca_pem(struct ctx *c, const struct kfile *f, const cJSON *cl)
{
	struct kt_kubeconfig *kc = c->kc;
	if (!kc->ca_pem || count_pem_certs(kc->ca_pem, kc->ca_pem_len) > 0)
		return 0;
	const char *key = kc->ca_file ? "certificate-authority" : "certificate-authority-data";
	return fail_at(c, f, field(cl, key), false,
		       "cluster \"%s\": %s does not hold a PEM certificate", kc->cluster_name, key);
}

static int check_client_pem(struct ctx *c, const struct kfile *f, const cJSON *u)
{
	struct kt_kubeconfig *kc = c->kc;
	if (!kc->client_cert_pem || !kc->client_key_pem)
		return 0;
	const char *cname = kc->client_cert_file ? "client-certificate" : "client-certificate-data";
	const char *kname = kc->client_key_file ? "client-key" : "client-key-data";
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	BIO *b;
	if (kc->client_cert_pem_len <= INT_MAX &&
	    (b = BIO_new_mem_buf(kc->client_cert_pem, (int)kc->client_cert_pem_len))) {
		x = PEM_read_bio_X509(b, NULL, no_password, NULL);
		BIO_free(b);
	}
	if (kc->client_key_pem_len <= INT_MAX &&
	    (b = BIO_new_mem_buf(kc->client_key_pem, (int)kc->client_key_pem_len))) {
		k = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
		BIO_free(b);
	}
	int r = 0;
	if (!x)
		r = fail_at(c, f, field(u, cname), false,
			    "user \"%s\": %s does not hold a PEM certificate", kc->user_name,
			    cname);
	else if (!k)
		r = fail_at(c, f, field(u, kname), false,
			    "user \"%s\": %s does not hold an unencrypted PEM private key",
			    kc->user_name, kname);
	else if (X509_check_private_key(x, k) != 1)
		r = fail_at(c, f, field(u, kname), false, "user \"%s\": %s does not match %s",
			    kc->user_name, kname, cname);
	X509_free(x);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return r;
}

/* ---- cluster ---- */

static int parse_cluster(struct ctx *c, const struct kfile *f, const cJSON *entry)
{
	struct kt_kubeconfig *kc = c->kc;
	const cJSON *cl = field(entry, "cluster");
	const char *name = kc->cluster_name;
	const char *s;
	const cJSON *node;
	char why[256];
	int r;

	if (!cl)
		return fail_at(c, f, entry, false, "cluster \"%s\" has no cluster mapping", name);
	if ((r = get_str(c, f, cl, "server", &s, &node)))
		return r;
	if (!s)
		return fail_at(c, f, node ? node : cl, false, "cluster \"%s\" has no server", name);
	r = kt_kubeconfig_server_parse(s, &kc->server, why, sizeof(why));
	if (r == -ENOMEM)
		return oom(c);
	if (r)
		return fail_at(c, f, node, false, "cluster \"%s\": server: %s", name, why);

	if ((r = get_str(c, f, cl, "proxy-url", &s, &node)))
		return r;
	if (s)
		return fail_at(
		    c, f, node, true,
		    "cluster \"%s\": proxy-url is not supported (kubetun connects to the "
		    "server directly)",
		    name);
	if ((r = get_bool(c, f, cl, "insecure-skip-tls-verify", &kc->insecure_skip_tls_verify)) ||
	    (r = get_bool(c, f, cl, "disable-compression", &kc->disable_compression)))
		return r;
	if ((r = get_str(c, f, cl, "tls-server-name", &s, &node)))
		return r;
	if (s && !(kc->tls_server_name = strdup(s)))
		return oom(c);
	if (kc->insecure_skip_tls_verify &&
	    (is_set(cl, "certificate-authority") || is_set(cl, "certificate-authority-data")))
		/* client-go's transport refuses the same combination (TLSConfigFor). */
		return fail_at(c, f, field(cl, "insecure-skip-tls-verify"), true,
			       "cluster \"%s\": insecure-skip-tls-verify cannot be combined with a "
			       "certificate authority",
			       name);
	if ((r = data_or_file(c, f, cl, "certificate-authority", "certificate-authority-data",
			      &kc->ca_pem, &kc->ca_pem_len, &kc->ca_file)))
		return r;
	if (!(c->flags & KT_KUBECONFIG_NO_PEM_CHECK) && (r = check_ca_pem(c, f, cl)))
		return r;

	/* extensions[name=client.authentication.k8s.io/exec].extension is the exec plugin's
	 * spec.cluster.config (protocol.md 6.2). */
	const cJSON *ext = field(cl, "extensions");
	if (ext && !cJSON_IsArray(ext))
		return fail_at(c, f, ext, false, "extensions must be a list");
	const cJSON *e;
	cJSON_ArrayForEach(e, ext)
	{
		const cJSON *en = cJSON_IsObject(e) ? field(e, "name") : NULL;
		if (!en || !cJSON_IsString(en) || strcmp(en->valuestring, EXEC_EXTENSION_NAME) != 0)
			continue;
		const cJSON *val = field(e, "extension");
		if (val && !(c->exec_ext_json = cJSON_PrintUnformatted(val)))
			return oom(c);
		break;
	}
	return 0;
}

/* ---- user ---- */

/* Bearer tokens go into an HTTP header: visible ASCII only, so a stray newline or space can
 * never split or extend the header. */
static bool token_ok(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x21 || (unsigned char)*t > 0x7e)
			return false;
	return true;
}

static int parse_exec(struct ctx *c, const struct kfile *f, const cJSON *ex)
{
	const char *uname = c->kc->user_name;
	const char *s;
	const cJSON *node;
	int r;

	if (!cJSON_IsObject(ex))
		return fail_at(c, f, ex, false, "exec must be a mapping");
	struct kt_kubeconfig_exec *x = calloc(1, sizeof(*x));
	if (!x)
		return oom(c);
	c->kc->exec = x;

	if ((r = get_str(c, f, ex, "apiVersion", &s, &node)))
		return r;
	if (!s)
		return fail_at(c, f, node ? node : ex, false,
			       "user \"%s\": exec needs an apiVersion", uname);
	if (strcmp(s, KT_KUBECONFIG_EXEC_V1) != 0 && strcmp(s, KT_KUBECONFIG_EXEC_V1BETA1) != 0)
		return fail_at(
		    c, f, node, false,
		    "user \"%s\": exec apiVersion \"%s\" is not supported (use %s or %s)", uname, s,
		    KT_KUBECONFIG_EXEC_V1, KT_KUBECONFIG_EXEC_V1BETA1);
	bool v1 = strcmp(s, KT_KUBECONFIG_EXEC_V1) == 0;
	if (!(x->api_version = strdup(s)))
		return oom(c);

	if ((r = get_str(c, f, ex, "command", &s, &node)))
		return r;
	if (!s)
		return fail_at(c, f, node ? node : ex, false, "user \"%s\": exec needs a command",
			       uname);
	/* A command with a '/' is a path relative to the kubeconfig; a bare name is looked up
	 * in PATH (protocol.md 6.5). */
	x->command = strchr(s, '/') ? resolve_path(f->dir, s) : strdup(s);
	if (!x->command)
		return oom(c);

	const cJSON *args = field(ex, "args");
	if (args && !cJSON_IsArray(args))
		return fail_at(c, f, args, false, "exec args must be a list of strings");
	size_t n = (size_t)cJSON_GetArraySize(args);
	if (n > KT_KUBECONFIG_MAX_EXEC_ARGS)
		return fail_at(c, f, args, false, "exec args: more than %u entries",
			       KT_KUBECONFIG_MAX_EXEC_ARGS);
	if (n && !(x->args = calloc(n, sizeof(*x->args))))
		return oom(c);
	const cJSON *e;
	cJSON_ArrayForEach(e, args)
	{
		if (!cJSON_IsString(e))
			return fail_at(c, f, e, false, "exec args must be strings");
		if (!(x->args[x->nargs] = strdup(e->valuestring)))
			return oom(c);
		x->nargs++;
	}

	const cJSON *env = field(ex, "env");
	if (env && !cJSON_IsArray(env))
		return fail_at(c, f, env, false, "exec env must be a list of {name, value}");
	n = (size_t)cJSON_GetArraySize(env);
	if (n > KT_KUBECONFIG_MAX_EXEC_ENV)
		return fail_at(c, f, env, false, "exec env: more than %u entries",
			       KT_KUBECONFIG_MAX_EXEC_ENV);
	if (n && !(x->env = calloc(n, sizeof(*x->env))))
		return oom(c);
	cJSON_ArrayForEach(e, env)
	{
		const char *nm, *val;
		const cJSON *nnode;
		if (!cJSON_IsObject(e))
			return fail_at(c, f, e, false, "exec env entries must be {name, value}");
		if ((r = get_str(c, f, e, "name", &nm, &nnode)) ||
		    (r = get_str(c, f, e, "value", &val, NULL)))
			return r;
		if (!nm || strchr(nm, '='))
			return fail_at(c, f, nnode ? nnode : e, false,
				       "exec env entry needs a name without '='");
		x->env[x->nenv].name = strdup(nm);
		x->env[x->nenv].value = strdup(val ? val : "");
		x->nenv++;
		if (!x->env[x->nenv - 1].name || !x->env[x->nenv - 1].value)
			return oom(c);
	}

	if ((r = get_str(c, f, ex, "installHint", &s, NULL)))
		return r;
	if (s && !(x->install_hint = strdup(s)))
		return oom(c);
	if ((r = get_bool(c, f, ex, "provideClusterInfo", &x->provide_cluster_info)))
		return r;
	if ((r = get_str(c, f, ex, "interactiveMode", &s, &node)))
		return r;
	if (!s && v1)
		/* client-go: interactiveMode must be specified for v1 (protocol.md 6.4). */
		return fail_at(c, f, ex, false,
			       "user \"%s\": exec interactiveMode must be specified for %s", uname,
			       KT_KUBECONFIG_EXEC_V1);
	if (!s || strcmp(s, "IfAvailable") == 0)
		x->interactive_mode = KT_KUBECONFIG_INTERACTIVE_IF_AVAILABLE;
	else if (strcmp(s, "Never") == 0)
		x->interactive_mode = KT_KUBECONFIG_INTERACTIVE_NEVER;
	else if (strcmp(s, "Always") == 0)
		x->interactive_mode = KT_KUBECONFIG_INTERACTIVE_ALWAYS;
	else
		return fail_at(c, f, node, false,
			       "exec interactiveMode \"%s\" is not Never, IfAvailable or Always",
			       s);
	return 0;
}

static int parse_user(struct ctx *c, const struct kfile *f, const cJSON *entry)
{
	struct kt_kubeconfig *kc = c->kc;
	const cJSON *u = field(entry, "user");
	const char *name = kc->user_name;
	const char *s;
	const cJSON *node;
	int r;

	if (!u)
		return 0; /* a user with no credentials: anonymous requests */

	/* Unsupported ways to authenticate: refusing beats silently talking as someone else or
	 * with no credentials at all. */
	if ((node = field(u, "auth-provider"))) {
		const cJSON *pn = cJSON_IsObject(node) ? field(node, "name") : NULL;
		return fail_at(c, f, node, true,
			       "user \"%s\": auth-provider%s%s%s is not supported; use an exec "
			       "credential plugin",
			       name, pn && cJSON_IsString(pn) ? " \"" : "",
			       pn && cJSON_IsString(pn) ? pn->valuestring : "",
			       pn && cJSON_IsString(pn) ? "\"" : "");
	}
	static const char *const imp[] = {"as", "as-uid", "as-groups", "as-user-extra"};
	for (size_t i = 0; i < sizeof(imp) / sizeof(imp[0]); i++)
		if (is_set(u, imp[i]))
			return fail_at(c, f, field(u, imp[i]), true,
				       "user \"%s\": impersonation (%s) is not supported", name,
				       imp[i]);

	if ((r = data_or_file(c, f, u, "client-certificate", "client-certificate-data",
			      &kc->client_cert_pem, &kc->client_cert_pem_len,
			      &kc->client_cert_file)) ||
	    (r = data_or_file(c, f, u, "client-key", "client-key-data", &kc->client_key_pem,
			      &kc->client_key_pem_len, &kc->client_key_file)))
		return r;
	bool have_cert = kc->client_cert_pem || kc->client_cert_file;
	bool have_key = kc->client_key_pem || kc->client_key_file;
	if (have_cert != have_key)
		return fail_at(c, f, u, true,
			       "user \"%s\": %s is set but %s is not; a client certificate needs "
			       "both",
			       name, have_cert ? "client-certificate" : "client-key",
			       have_cert ? "client-key" : "client-certificate");
	if (!(c->flags & KT_KUBECONFIG_NO_PEM_CHECK) && (r = check_client_pem(c, f, u)))
		return r;

	/* token wins over tokenFile; the file is then not read at all (protocol.md 6.3). */
	if ((r = get_str(c, f, u, "token", &s, &node)))
		return r;
	if (s) {
		if (!token_ok(s))
			return fail_at(c, f, node, false,
				       "user \"%s\": token holds a character that cannot be sent "
				       "in an HTTP header",
				       name);
		if (!(kc->token = strdup(s)))
			return oom(c);
	} else {
		if ((r = get_str(c, f, u, "tokenFile", &s, &node)))
			return r;
		if (s) {
			uint8_t *buf;
			size_t len;
			if (!(kc->token_file = resolve_path(f->dir, s)))
				return oom(c);
			if ((r = read_ref(c, f, node, "tokenFile", kc->token_file, &buf, &len)))
				return r;
			if (buf) {
				/* client-go trims the file's whitespace (cachingTokenSource). */
				size_t a = 0, b = len;
				while (a < b && isspace(buf[a]))
					a++;
				while (b > a && isspace(buf[b - 1]))
					b--;
				buf[b] = '\0';
				bool ok = a < b && token_ok((const char *)buf + a);
				if (ok)
					kc->token = strdup((const char *)buf + a);
				wipe_free(buf, len + 1);
				if (!ok)
					return fail_at(c, f, node, false,
						       "user \"%s\": tokenFile \"%s\" %s", name,
						       kc->token_file,
						       a == b ? "is empty"
							      : "holds a character that cannot be "
								"sent in an HTTP header");
				if (!kc->token)
					return oom(c);
			}
		}
	}

	const cJSON *ex = field(u, "exec");
	if (ex && (r = parse_exec(c, f, ex)))
		return r;

	if (is_set(u, "username") || is_set(u, "password")) {
		node = field(u, is_set(u, "username") ? "username" : "password");
		if (!have_cert && !kc->token && !kc->exec && !kc->token_file)
			return fail_at(c, f, node, true,
				       "user \"%s\": basic authentication (username/password) is "
				       "not supported",
				       name);
		add_warning(c, f, node,
			    "user \"%s\": basic authentication (username/password) is not "
			    "supported and is ignored",
			    name);
	}
	return 0;
}

/* ---- context ---- */

static int resolve(struct ctx *c, const char *override)
{
	struct kt_kubeconfig *kc = c->kc;
	char files[1024];
	const char *name = override && *override ? override : NULL;
	size_t fi = 0;
	int r;

	for (size_t i = 0; !name && i < c->n; i++)
		if (c->f[i].current)
			name = c->f[i].current->valuestring;
	if (!name) {
		fail_plain(c,
			   "%s: no current-context is set; choose a context with --context or the "
			   "profile's context",
			   file_list(c, files, sizeof(files)));
		return -ENOENT;
	}
	if (!(kc->context_name = strdup(name)))
		return oom(c);
	const cJSON *ce = find_named(c, W_CONTEXT, name, &fi);
	if (!ce) {
		fail_plain(c, "%s: context \"%s\" not found", file_list(c, files, sizeof(files)),
			   name);
		return -ENOENT;
	}
	const struct kfile *cf = &c->f[fi];
	const cJSON *cx = field(ce, "context");
	const char *cluster, *user, *ns;
	const cJSON *cnode, *unode, *nsnode;
	if ((r = get_str(c, cf, cx, "cluster", &cluster, &cnode)) ||
	    (r = get_str(c, cf, cx, "user", &user, &unode)) ||
	    (r = get_str(c, cf, cx, "namespace", &ns, &nsnode)))
		return r;
	if (!cluster)
		return fail_at(c, cf, cx ? cx : ce, false, "context \"%s\" names no cluster", name);
	if (ns && !kt_profile_valid_namespace(ns))
		return fail_at(c, cf, nsnode, false,
			       "context \"%s\": namespace \"%s\" is not a valid namespace name",
			       name, ns);
	if (!(kc->cluster_name = strdup(cluster)) || !(kc->user_name = strdup(user ? user : "")) ||
	    !(kc->namespace = strdup(ns ? ns : "default")))
		return oom(c);

	const cJSON *cle = find_named(c, W_CLUSTER, cluster, &fi);
	if (!cle)
		return fail_at(c, cf, cnode, false,
			       "context \"%s\": cluster \"%s\" not found in %s", name, cluster,
			       file_list(c, files, sizeof(files)));
	if ((r = parse_cluster(c, &c->f[fi], cle)))
		return r;
	if (user) {
		const cJSON *ue = find_named(c, W_USER, user, &fi);
		if (!ue)
			return fail_at(c, cf, unode, false,
				       "context \"%s\": user \"%s\" not found in %s", name, user,
				       file_list(c, files, sizeof(files)));
		if ((r = parse_user(c, &c->f[fi], ue)))
			return r;
	}
	if (kc->exec) {
		kc->exec->cluster_config_json = c->exec_ext_json;
		c->exec_ext_json = NULL;
	}
	kc->files = calloc(c->n, sizeof(*kc->files));
	if (!kc->files)
		return oom(c);
	for (size_t i = 0; i < c->n; i++) {
		if (!(kc->files[i] = strdup(c->f[i].path)))
			return oom(c);
		kc->nfiles++;
	}
	return 0;
}

static void ctx_fini(struct ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		yaml_free_wiped(c->f[i].y);
		free(c->f[i].path);
		free(c->f[i].dir);
	}
	free(c->f);
	wipe_str(c->exec_ext_json);
}

static struct kt_kubeconfig *finish(struct ctx *c, int r, const char *context)
{
	if (r == 0)
		r = resolve(c, context);
	ctx_fini(c);
	if (r) {
		kt_kubeconfig_free(c->kc);
		return NULL;
	}
	return c->kc;
}

struct kt_kubeconfig *kt_kubeconfig_parse(const void *buf, size_t len, const char *fname,
					  const char *context, unsigned flags, char *err,
					  size_t errcap)
{
	struct ctx c = {.flags = flags, .err = err, .errcap = errcap};
	if (err && errcap)
		err[0] = '\0';
	if (!(c.kc = calloc(1, sizeof(*c.kc)))) {
		oom(&c);
		return NULL;
	}
	int r = add_buf(&c, fname ? fname : "<input>", buf, len);
	return finish(&c, r, context);
}

/* KUBECONFIG: split on ':', drop empty entries and later duplicates, skip missing files
 * (protocol.md 6.5). */
static int load_list(struct ctx *c, const char *list)
{
	char *copy = strdup(list);
	const char **seen = NULL;
	size_t nseen = 0, missing = 0;
	char missing_list[1024] = "";
	size_t mlen = 0;
	int r = 0;
	if (!copy)
		return oom(c);
	for (char *p = copy, *next; p; p = next) {
		next = strchr(p, ':');
		if (next)
			*next++ = '\0';
		if (!*p)
			continue;
		bool dup = false;
		for (size_t i = 0; i < nseen && !dup; i++)
			dup = strcmp(seen[i], p) == 0;
		if (dup)
			continue;
		if (nseen >= KT_KUBECONFIG_MAX_FILES) {
			fail_plain(c, "KUBECONFIG lists more than %u files",
				   KT_KUBECONFIG_MAX_FILES);
			r = -E2BIG;
			break;
		}
		const char **ns = realloc(seen, (nseen + 1) * sizeof(*ns));
		if (!ns) {
			r = oom(c);
			break;
		}
		seen = ns;
		seen[nseen++] = p;
		r = add_path(c, p, true);
		if (r == -ENOENT) {
			missing++;
			if (mlen < sizeof(missing_list)) {
				int w = snprintf(missing_list + mlen, sizeof(missing_list) - mlen,
						 "%s%s", mlen ? ", " : "", p);
				mlen += w > 0 ? (size_t)w : 0;
			}
			r = 0;
			continue;
		}
		if (r)
			break;
	}
	if (r == 0 && c->n == 0) {
		if (missing)
			fail_plain(c, "KUBECONFIG: none of its files exist (%s)", missing_list);
		else
			fail_plain(c, "KUBECONFIG is set but names no file");
		r = -ENOENT;
	}
	free(seen);
	free(copy);
	return r;
}

struct kt_kubeconfig *kt_kubeconfig_load(const struct kt_kubeconfig_opts *o, char *err,
					 size_t errcap)
{
	struct ctx c = {.flags = o->flags, .err = err, .errcap = errcap};
	int r;
	if (err && errcap)
		err[0] = '\0';
	if (!(c.kc = calloc(1, sizeof(*c.kc)))) {
		oom(&c);
		return NULL;
	}
	if (o->explicit_path && *o->explicit_path) {
		r = add_path(&c, o->explicit_path, false);
	} else if (o->env_kubeconfig && *o->env_kubeconfig) {
		/* client-go treats an empty KUBECONFIG like an unset one. */
		r = load_list(&c, o->env_kubeconfig);
	} else if (o->home && *o->home) {
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s%s.kube/config", o->home,
				 o->home[strlen(o->home) - 1] == '/' ? "" : "/");
		if (n < 0 || (size_t)n >= sizeof(path)) {
			fail_plain(&c, "kubeconfig: home directory path too long");
			r = -ENAMETOOLONG;
		} else {
			r = add_path(&c, path, false);
		}
	} else {
		fail_plain(&c,
			   "no kubeconfig: no --kubeconfig, no KUBECONFIG and no home directory");
		r = -ENOENT;
	}
	return finish(&c, r, o->context);
}

static void exec_free(struct kt_kubeconfig_exec *x)
{
	if (!x)
		return;
	free(x->api_version);
	free(x->command);
	for (size_t i = 0; i < x->nargs; i++)
		wipe_str(x->args[i]); /* arguments sometimes carry secrets too */
	free(x->args);
	for (size_t i = 0; i < x->nenv; i++) {
		free(x->env[i].name);
		wipe_str(x->env[i].value);
	}
	free(x->env);
	free(x->install_hint);
	wipe_str(x->cluster_config_json);
	free(x);
}

void kt_kubeconfig_free(struct kt_kubeconfig *kc)
{
	if (!kc)
		return;
	free(kc->context_name);
	free(kc->cluster_name);
	free(kc->user_name);
	free(kc->namespace);
	for (size_t i = 0; i < kc->nfiles; i++)
		free(kc->files[i]);
	free(kc->files);
	kt_kubeconfig_server_fini(&kc->server);
	free(kc->tls_server_name);
	wipe_free(kc->ca_pem, kc->ca_pem_len);
	free(kc->ca_file);
	wipe_free(kc->client_cert_pem, kc->client_cert_pem_len);
	wipe_free(kc->client_key_pem, kc->client_key_pem_len);
	free(kc->client_cert_file);
	free(kc->client_key_file);
	wipe_str(kc->token);
	free(kc->token_file);
	exec_free(kc->exec);
	for (size_t i = 0; i < kc->nwarnings; i++)
		free(kc->warnings[i]);
	free(kc->warnings);
	OPENSSL_cleanse(kc, sizeof(*kc));
	free(kc);
}

/* ---- server URL ---- */

static bool host_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '-' || ch == '.' || ch == '_';
}

void kt_kubeconfig_server_fini(struct kt_kubeconfig_server *s)
{
	if (!s)
		return;
	free(s->url);
	free(s->host);
	free(s->path_prefix);
	*s = (struct kt_kubeconfig_server){0};
}

int kt_kubeconfig_server_parse(const char *url, struct kt_kubeconfig_server *out, char *err,
			       size_t errcap)
{
	struct kt_kubeconfig_server s = {0};
	const char *p = url, *why = NULL;
	char ip6[INET6_ADDRSTRLEN + 1];
	unsigned long port = 443;

	*out = s;
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
			why = "contains a space or control character";
			goto bad;
		}
	const char *sep = strstr(url, "://");
	if (sep) {
		size_t sl = (size_t)(sep - url);
		if (sl == 4 && strncasecmp(url, "http", 4) == 0) {
			why = "http:// is not supported; the API server must be reached over https";
			goto bad;
		}
		if (sl != 5 || strncasecmp(url, "https", 5) != 0) {
			snprintf(err, errcap, "unsupported scheme \"%.*s\" (only https)",
				 (int)(sl > 32 ? 32 : sl), url);
			return -EINVAL;
		}
		p = sep + 3;
	}
	size_t alen = strcspn(p, "/?#");
	const char *auth = p, *end = p + alen, *hp;
	size_t hl;
	if (alen == 0) {
		why = "no host";
		goto bad;
	}
	if (memchr(auth, '@', alen)) {
		why = "user information in the URL is not supported";
		goto bad;
	}
	const char *after;
	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (!close) {
			why = "unterminated IPv6 literal";
			goto bad;
		}
		hp = auth + 1;
		hl = (size_t)(close - hp);
		if (hl == 0 || hl >= sizeof(ip6)) {
			why = "invalid IPv6 literal";
			goto bad;
		}
		memcpy(ip6, hp, hl);
		ip6[hl] = '\0';
		struct in6_addr a6;
		if (memchr(hp, '%', hl)) {
			why = "IPv6 zone identifiers are not supported";
			goto bad;
		}
		if (inet_pton(AF_INET6, ip6, &a6) != 1) {
			why = "invalid IPv6 literal";
			goto bad;
		}
		s.host_is_ipv6 = true;
		after = close + 1;
		if (after < end && *after != ':') {
			why = "junk after the IPv6 literal";
			goto bad;
		}
	} else {
		const char *colon = memchr(auth, ':', alen);
		hp = auth;
		hl = colon ? (size_t)(colon - auth) : alen;
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			why = "an IPv6 address must be written in brackets";
			goto bad;
		}
		if (hl == 0 || hl > 253) {
			why = hl ? "host name too long" : "no host";
			goto bad;
		}
		for (size_t i = 0; i < hl; i++)
			if (!host_char(hp[i])) {
				why = "invalid character in the host";
				goto bad;
			}
		after = hp + hl;
	}
	if (after < end) {
		/* after points at ':' */
		const char *ps = after + 1;
		size_t pl = (size_t)(end - ps);
		port = 0;
		if (pl == 0 || pl > 5) {
			why = "invalid port";
			goto bad;
		}
		for (size_t i = 0; i < pl; i++) {
			if (!isdigit((unsigned char)ps[i])) {
				why = "invalid port";
				goto bad;
			}
			port = port * 10 + (unsigned long)(ps[i] - '0');
		}
		if (port < 1 || port > 65535) {
			why = "port out of range";
			goto bad;
		}
	}
	if (strpbrk(end, "?#")) {
		why = "a query or fragment is not supported";
		goto bad;
	}
	size_t plen = strlen(end);
	while (plen > 0 && end[plen - 1] == '/')
		plen--;
	s.port = (uint16_t)port;
	s.url = strdup(url);
	s.host = strndup(hp, hl);
	s.path_prefix = strndup(end, plen);
	if (!s.url || !s.host || !s.path_prefix) {
		kt_kubeconfig_server_fini(&s);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	*out = s;
	return 0;
bad:
	snprintf(err, errcap, "%s", why);
	return -EINVAL;
}
