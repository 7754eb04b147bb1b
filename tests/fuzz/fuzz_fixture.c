/* fuzz_fixture.c: fixture bytes → YAML loader → checks → controllers, into a fresh store.
 *
 * After a fixture loads, every pod, Service and workload is deleted again (with a NULL loop the
 * controllers' delayed steps run at once: termination, removal, replacement), so the
 * controller paths see fuzzed objects too. Must never crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "fixture.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct names {
	char ns[16][64];
	char name[16][256];
	int n;
};

static void collect(void *arg, const cJSON *obj)
{
	struct names *n = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");

	if (n->n < 16 && cJSON_IsString(ns) && cJSON_IsString(name) &&
	    strlen(ns->valuestring) < 64 && strlen(name->valuestring) < 256) {
		memcpy(n->ns[n->n], ns->valuestring, strlen(ns->valuestring) + 1);
		memcpy(n->name[n->n], name->valuestring, strlen(name->valuestring) + 1);
		n->n++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fc_controller_opts o = {.nodes = 2, .grace_ms = 5, .replace_delay_ms = 5};
	struct fc_store *s;
	struct fc_controller *ctl;
	char err[512];
	static const enum fc_kind kinds[] = {FC_KIND_POD, FC_KIND_SERVICE, FC_KIND_DEPLOYMENT,
					     FC_KIND_STATEFULSET, FC_KIND_DAEMONSET};

	if (size > 65536)
		return 0;
	s = fc_store_new();
	ctl = s ? fc_controller_new(NULL, s, &o) : NULL;
	if (ctl && fc_fixture_load_buf(ctl, "fuzz.yaml", data, size, err, sizeof(err)) == 0) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			struct names n = {.n = 0};

			fc_store_foreach(s, kinds[k], NULL, collect, &n);
			for (int i = 0; i < n.n; i++) {
				if (kinds[k] == FC_KIND_POD)
					fc_controller_set_pod_ready(ctl, n.ns[i], n.name[i], false);
				fc_controller_delete(ctl, kinds[k], n.ns[i], n.name[i], -1);
			}
		}
	}
	fc_controller_free(ctl);
	fc_store_free(s);
	return 0;
}
