/* fuzz_yamljson.c: libFuzzer target for src/yamljson.c.
 *
 * Besides "no crash, no leak", it checks the module's promises on every input: a failed load
 * writes exactly one line starting with the file name, and every node of every loaded document
 * has a 1-based position (so any later validation error can point at it). */
#include "yamljson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_positions(const struct kt_yaml *y, const cJSON *n, unsigned depth)
{
	int line = 0, col = 0;
	if (kt_yaml_node_pos(y, n, &line, &col) != 0 || line < 1 || col < 1)
		abort();
	if (depth > KT_YAML_MAX_DEPTH + 1)
		abort();
	const cJSON *c;
	cJSON_ArrayForEach(c, n)
	{
		if (cJSON_IsObject(n) && (kt_yaml_key_pos(y, c, &line, &col) != 0 || line < 1))
			abort();
		check_positions(y, c, depth + (cJSON_IsObject(c) || cJSON_IsArray(c)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct kt_yaml *y = kt_yaml_load(data, size, "fuzz.yaml", err, sizeof(err));
	if (!y) {
		if (strncmp(err, "fuzz.yaml:", 10) != 0 || strchr(err, '\n'))
			abort();
		return 0;
	}
	for (size_t i = 0; i < kt_yaml_doc_count(y); i++) {
		const cJSON *d = kt_yaml_doc(y, i);
		if (!d || cJSON_IsNull(d))
			abort();
		check_positions(y, d, cJSON_IsObject(d) || cJSON_IsArray(d));
		char msg[128];
		kt_yaml_errorf(y, d, msg, sizeof(msg), "doc %zu", i);
		if (strchr(msg, '\n'))
			abort();
	}
	kt_yaml_free(y);
	return 0;
}
