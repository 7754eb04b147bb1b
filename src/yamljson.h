/* yamljson.h: load YAML (Kubernetes manifests, kubeconfig files, kubetun profiles) into cJSON.
 *
 * kt_yaml_load() parses a buffer holding one or more YAML documents and converts each into a
 * cJSON value, the way Kubernetes' sigs.k8s.io/yaml turns YAML into JSON before decoding it.
 * Documents that convert to JSON null (an empty document, a trailing `---`, a bare `null`) are
 * skipped, as kubectl's resource builder skips them. The loaded set also keeps the source
 * position of every node, so later validation can report `FILE:LINE:COL: message` (1-based
 * line and column, counted in characters) with kt_yaml_errorf().
 *
 * Scalar typing (plain scalars only; quoted and block scalars are always strings):
 *   null:  `~`, `null`, `Null`, `NULL`, empty
 *   bool:  `true/True/TRUE/false/False/FALSE` (YAML 1.1 `yes/no/on/off` stay strings)
 *   int:   `[-+]?[0-9]+`, `0x..`, `0o..`, `0b..`, and `0[0-7]+` as octal (Kubernetes reads
 *          `defaultMode: 0644` as 420); magnitude above 2^53 is an error, since a JSON number
 *          held as a double would silently lose precision
 *   float: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`; `.inf` and `.nan` are errors
 *          (JSON cannot represent them)
 *   other: string, as written (timestamps too)
 * Tags `!!str !!int !!float !!bool !!null !!map !!seq` and the non-specific `!` are honoured;
 * any other tag is an error. Merge keys (`<<: *base`, YAML 1.1, used in the wild and accepted
 * by Kubernetes) are supported; explicit keys win over merged ones.
 *
 * Mapping keys must be scalars; a key is the scalar's text. A repeated key in one mapping is an
 * error at the second occurrence. Aliases are deep copies of their anchor's node; the copies
 * count against a node and byte budget, so an alias bomb fails instead of exhausting memory.
 *
 * Ownership: struct kt_yaml owns every document and the position table. Document pointers are
 * valid until kt_yaml_free(); callers that want to keep or edit a document duplicate it
 * (cJSON_Duplicate), but positions are only known for the nodes y owns. */
#ifndef KT_YAMLJSON_H
#define KT_YAMLJSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "buf.h"

#define KT_YAML_MAX_BYTES (16u << 20)	/* input size */
#define KT_YAML_MAX_NODES (1u << 20)	/* every node built, alias copies included */
#define KT_YAML_MAX_ALIAS_NODES 100000u /* nodes created by alias expansion */
#define KT_YAML_MAX_DEPTH 64u		/* nested mappings/sequences */

/* Limits for one load; kt_yaml_load() uses the KT_YAML_MAX_* values. A zero field means the
 * default. Alias expansion may also add at most max_bytes bytes of copied strings. */
struct kt_yaml_limits {
	size_t max_bytes;
	size_t max_nodes;
	size_t max_alias_nodes;
	unsigned max_depth; /* clamped to 1024 */
};

struct kt_yaml;

/* Parses buf[0..len) (need not be NUL-terminated). fname is only used in messages (NULL gives
 * "<input>"). On failure returns NULL and writes exactly one line, `FILE:LINE:COL: what is
 * wrong` without a trailing newline, to err (if errcap > 0). */
struct kt_yaml *kt_yaml_load(const void *buf, size_t len, const char *fname, char *err,
			     size_t errcap);
struct kt_yaml *kt_yaml_load_limits(const void *buf, size_t len, const char *fname,
				    const struct kt_yaml_limits *lim, char *err, size_t errcap);
void kt_yaml_free(struct kt_yaml *y);

/* Non-null documents in file order. */
size_t kt_yaml_doc_count(const struct kt_yaml *y);
const cJSON *kt_yaml_doc(const struct kt_yaml *y, size_t i); /* NULL if i is out of range */
const char *kt_yaml_file(const struct kt_yaml *y);

/* Position of a node of one of y's documents: where its text (or its anchor/tag) starts; for
 * an alias copy, the root of the copy is at the alias and its descendants at the anchored
 * text. 0, or -ENOENT for a node that is not part of y (then *line and *col are 0). */
int kt_yaml_node_pos(const struct kt_yaml *y, const cJSON *node, int *line, int *col);
/* Position of the key under which node sits in its parent mapping; -ENOENT for a sequence
 * item, a document root or a foreign node. */
int kt_yaml_key_pos(const struct kt_yaml *y, const cJSON *node, int *line, int *col);

/* Formats `FILE:LINE:COL: <message>` for node (its value position) into out, one line (line
 * breaks in the message become spaces). A node without a position gives `FILE: <message>`.
 * Always returns -EINVAL, so a validator can `return kt_yaml_errorf(...)`. */
int kt_yaml_errorf(const struct kt_yaml *y, const cJSON *node, char *out, size_t cap,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Same, at the position of node's key (falls back to the node's own position), for messages
 * about the key itself such as "unknown key". */
int kt_yaml_key_errorf(const struct kt_yaml *y, const cJSON *node, char *out, size_t cap,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writing YAML: s as a double-quoted scalar ("..." with '"', '\\' and control characters
 * escaped), or only its escaped contents. 0 or a kt_buf error. */
int kt_yaml_put_quoted(struct kt_buf *b, const char *s);
int kt_yaml_put_escaped(struct kt_buf *b, const char *s);

#endif
