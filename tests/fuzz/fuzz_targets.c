/* fuzz_targets.c: the Kubernetes object decoding and target resolution of src/targets.c on
 * arbitrary API data, through to a published mapping snapshot.
 *
 * Input: lines "<R><OP> <JSON>": R is a resource digit (0 pods, 1 services, 2 deployments,
 * 3 statefulsets, 4 daemonsets), OP is S (a full list: JSON is the items array) or A, M, D (a
 * watch event: JSON is the object); the first byte of a line after R picks the namespace too
 * (upper case OP: namespace "a", lower case: "b"). A fixed profile names every kind of target.
 * Properties: no crash, no leak; emitting and committing succeed; every published entry is
 * found again by (VIP, port), lies in the subnet, has a non-zero port and non-zero pod ports. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "mapping.h"
#include "profile.h"
#include "targets.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static const char profile_yaml[] = "namespace: a\n"
				   "forwards:\n"
				   "  - target: svc/web\n"
				   "  - target: svc/kafka\n"
				   "  - target: deploy/web\n"
				   "  - target: sts/kafka\n"
				   "  - target: ds/agent\n"
				   "  - target: pod/debug\n"
				   "  - target: svc/web\n"
				   "    namespace: b\n"
				   "    ports: [80, 443]\n"
				   "  - target: pod/x\n"
				   "    namespace: b\n"
				   "    ports: [1, 65535]\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct kt_profile *p;
	struct kt_targets *t;
	struct kt_mapping *m;
	struct kt_mapping_builder *b;
	struct kt_mapping_config mc = {.cluster_domain = "cluster.local",
				       .subnet = 0xC6130000u,
				       .prefix_len = 16,
				       .dns_ip = 0xC6130035u,
				       .host_ip = 0xC6130001u};
	struct kt_targets_config tc = {.default_ns = "default", .cluster_domain = "cluster.local"};
	char *buf;

	if (size > 1 << 16)
		return 0;
	kt_log_init("fuzz", -1);
	p = kt_profile_parse(profile_yaml, sizeof(profile_yaml) - 1, "p", err, sizeof(err));
	check(p != NULL);
	tc.profile = p;
	t = kt_targets_new(&tc);
	m = kt_mapping_new(&mc, err, sizeof(err));
	check(t && m);
	buf = malloc(size + 1);
	check(buf != NULL);
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strlen(line) < 3 || line[0] < '0' || line[0] > '4')
			continue;
		enum kt_targets_res res = (enum kt_targets_res)(line[0] - '0');
		const char *ns = isupper((unsigned char)line[1]) ? "a" : "b";
		char op = (char)toupper((unsigned char)line[1]);
		cJSON *j = cJSON_Parse(line + 2);

		if (!j)
			continue;
		if (op == 'S')
			kt_targets_feed_sync(t, ns, res, j);
		else if (op == 'A')
			kt_targets_feed_event(t, ns, res, "ADDED", j);
		else if (op == 'M')
			kt_targets_feed_event(t, ns, res, "MODIFIED", j);
		else if (op == 'D')
			kt_targets_feed_event(t, ns, res, "DELETED", j);
		cJSON_Delete(j);
	}
	free(buf);
	b = kt_mapping_begin(m);
	check(b != NULL);
	check(kt_targets_emit(t, b) == 0);
	check(kt_mapping_commit(m, b, err, sizeof(err)) == 0);
	const struct kt_snapshot *s = kt_mapping_current(m);
	for (size_t i = 0; i < kt_snapshot_count(s); i++) {
		const struct kt_mapping_entry *e = kt_snapshot_entry(s, i);

		check(e->port != 0);
		check((e->vip & 0xffff0000u) == 0xC6130000u);
		check(kt_snapshot_lookup(s, e->vip, e->port) == e);
		for (size_t k = 0; k < e->npods; k++)
			check(e->pods[k].port != 0 && e->pods[k].name[0]);
	}
	for (size_t i = 0; i < kt_targets_count(t); i++) {
		struct kt_targets_status st;

		kt_targets_status(t, i, &st);
		check(st.error != NULL && strchr(st.error, '\n') == NULL);
	}
	kt_targets_free(t);
	kt_mapping_free(m);
	kt_profile_free(p);
	return 0;
}
