/* fuzz_selector.c: libFuzzer target for tools/fake-cluster/selector.c.
 *
 * The input is tried as a label selector, as a field selector, and (when it is JSON) as a
 * metav1.LabelSelector and a Service selector map. Besides memory safety it checks that the
 * canonical string of a parsed selector parses again to the same string and the same matches,
 * and that a LabelSelector's query string is always accepted by the parser (the fake cluster
 * hands such strings to clients, who send them back). */
#include "selector.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const label_sets[] = {
    "{}",
    "{\"app\":\"web\",\"tier\":\"frontend\",\"n\":\"7\",\"e\":\"\"}",
    "{\"a\":\"b\",\"in\":\"notin\",\"x\":\"-3\",\"k\":\"v\"}",
};

static void check_roundtrip(const struct fc_selector *sel, cJSON *const *labels, size_t nl)
{
	char err[256];
	/* "Match nothing" has no query-string form (its text is "", which matches everything). */
	if (fc_selector_is_nothing(sel))
		return;
	char *s = fc_selector_string(sel);
	if (!s)
		return;
	struct fc_selector *again = fc_selector_parse(s, err, sizeof(err));
	if (!again)
		abort();
	char *s2 = fc_selector_string(again);
	if (s2 && strcmp(s, s2) != 0)
		abort();
	for (size_t i = 0; i < nl; i++)
		if (fc_selector_matches(sel, labels[i]) != fc_selector_matches(again, labels[i]))
			abort();
	free(s2);
	fc_selector_free(again);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	cJSON *labels[sizeof(label_sets) / sizeof(label_sets[0])];
	size_t nl = sizeof(labels) / sizeof(labels[0]);
	for (size_t i = 0; i < nl; i++)
		labels[i] = cJSON_Parse(label_sets[i]);

	struct fc_selector *sel = fc_selector_parse(s, err, sizeof(err));
	if (sel) {
		check_roundtrip(sel, labels, nl);
		fc_selector_free(sel);
	} else if (strchr(err, '\n') || err[0] == '\0') {
		abort();
	}

	struct fc_selector_fields *fs = fc_selector_fields_parse(s, err, sizeof(err));
	if (fs) {
		cJSON *obj =
		    cJSON_Parse("{\"metadata\":{\"name\":\"web-0\",\"namespace\":\"shop\"}}");
		(void)fc_selector_fields_matches(fs, obj);
		(void)fc_selector_fields_exact(fs, "metadata.name");
		cJSON_Delete(obj);
		fc_selector_fields_free(fs);
	} else if (strchr(err, '\n') || err[0] == '\0') {
		abort();
	}

	cJSON *json = cJSON_Parse(s);
	if (json) {
		sel = fc_selector_from_label_selector(json, err, sizeof(err));
		if (sel) {
			check_roundtrip(sel, labels, nl);
			fc_selector_free(sel);
		}
		sel = fc_selector_from_map(json, err, sizeof(err));
		if (sel) {
			check_roundtrip(sel, labels, nl);
			fc_selector_free(sel);
		}
		cJSON_Delete(json);
	}
	for (size_t i = 0; i < nl; i++)
		cJSON_Delete(labels[i]);
	free(s);
	return 0;
}
