/* selector.h: Kubernetes label and field selectors for the fake cluster.
 *
 * Label selectors follow k8s.io/apimachinery/pkg/labels/selector.go: the query-string form
 * (`labelSelector=` on list and watch) is a comma-separated AND of requirements
 *   k=v  k==v  k!=v  k in (a,b)  k notin (a)  k  !k  k>1  k<1
 * with whitespace allowed around tokens, keys that are qualified names (optional DNS-subdomain
 * prefix and '/'), and values that are label values (possibly empty: `k=`, `k in ()`). `!=`
 * and `notin` also match when the key is absent. An empty selector matches everything.
 * Requirements are kept sorted by key (stable), and `in`/`notin` values sorted, so
 * fc_selector_string() gives the same canonical text as the Go String() methods.
 *
 * Selectors can also be built from a metav1.LabelSelector JSON object (matchLabels +
 * matchExpressions, as metav1.LabelSelectorAsSelector does) and from a Service's spec.selector
 * map (as labels.ValidatedSelectorFromSet does).
 *
 * Field selectors follow k8s.io/apimachinery/pkg/fields/selector.go: comma-separated
 * `field=value`, `field==value` or `field!=value`, where a value may escape `\`, `,` and `=`
 * with a backslash. Only metadata.name and metadata.namespace are supported (the fields every
 * resource supports); any other field is an error, which the API server reports as 400.
 *
 * Errors: constructors return NULL and write a one-line message (no trailing newline) into
 * err when errcap > 0. A selector is immutable after construction; its owner frees it. */
#ifndef FC_SELECTOR_H
#define FC_SELECTOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Longest selector text accepted; query strings beyond this are refused, not truncated. */
#define FC_SELECTOR_MAX_LEN 65536

struct fc_selector;

/* Parses the query-string form. s must be NUL-terminated (an embedded NUL ends it, as the Go
 * lexer treats a zero byte as the end). */
struct fc_selector *fc_selector_parse(const char *s, char *err, size_t errcap);
/* From a metav1.LabelSelector object. NULL or JSON null gives a selector that matches nothing
 * (labels.Nothing(), what Kubernetes uses for a nil selector); {} matches everything. */
struct fc_selector *fc_selector_from_label_selector(const cJSON *ls, char *err, size_t errcap);
/* From a map of label key to string value (a Service's spec.selector). NULL, null and {} give
 * an empty selector, which matches everything: a caller serving Services must treat an empty
 * spec.selector as "no selector" itself (kubectl refuses such a Service). */
struct fc_selector *fc_selector_from_map(const cJSON *map, char *err, size_t errcap);
void fc_selector_free(struct fc_selector *sel);

/* Whether labels (a JSON object of string values; NULL or anything else counts as no labels;
 * a non-string value counts as absent) satisfy every requirement. */
bool fc_selector_matches(const struct fc_selector *sel, const cJSON *labels);
/* True when the selector has no requirements (matches everything). */
bool fc_selector_is_empty(const struct fc_selector *sel);
/* True for the match-nothing selector built from a nil LabelSelector. */
bool fc_selector_is_nothing(const struct fc_selector *sel);
/* Canonical query-string form, malloc'd (caller frees), or NULL on allocation failure.
 * "" for an empty selector and for the match-nothing selector (Kubernetes has no text for
 * "nothing" either; check fc_selector_is_nothing first). */
char *fc_selector_string(const struct fc_selector *sel);
/* Shorthand: the query string for a metav1.LabelSelector, or NULL with err set. */
char *fc_selector_label_selector_string(const cJSON *ls, char *err, size_t errcap);

struct fc_selector_fields;

struct fc_selector_fields *fc_selector_fields_parse(const char *s, char *err, size_t errcap);
void fc_selector_fields_free(struct fc_selector_fields *fs);
/* Matches obj's metadata.name / metadata.namespace (absent counts as ""). */
bool fc_selector_fields_matches(const struct fc_selector_fields *fs, const cJSON *obj);
/* The value field is required to equal (like fields.Selector.RequiresExactMatch), or NULL.
 * Lets a server answer `fieldSelector=metadata.name=x` with a single lookup. */
const char *fc_selector_fields_exact(const struct fc_selector_fields *fs, const char *field);

#endif
