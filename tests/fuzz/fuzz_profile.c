/* fuzz_profile.c: the profile parser on arbitrary input, and the writer's round trip.
 *
 * Properties: no crash, no leak; an error is one non-empty line starting with the file name;
 * a profile that parses has at most KT_PROFILE_MAX_FORWARDS valid forwards, and writing it
 * gives YAML that parses back to an equal profile. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char err[512];
	struct kt_profile *p = kt_profile_parse(data, size, "fuzz.yaml", err, sizeof(err));
	if (!p) {
		check(strncmp(err, "fuzz.yaml", 9) == 0);
		check(strchr(err, '\n') == NULL);
		return 0;
	}
	check(p->nforwards <= KT_PROFILE_MAX_FORWARDS);
	check(!p->namespace || kt_profile_valid_namespace(p->namespace));
	for (size_t i = 0; i < p->nforwards; i++) {
		const struct kt_profile_forward *f = &p->forwards[i];
		check(kt_profile_valid_name(f->kind, f->name));
		check(!f->namespace || kt_profile_valid_namespace(f->namespace));
		for (size_t j = 0; j < f->nports; j++)
			check(f->ports[j] != 0);
		check(kt_profile_find(p, f->kind, f->name, f->namespace) == (long)i);
	}
	char *y = kt_profile_to_yaml(p);
	check(y != NULL);
	struct kt_profile *back = kt_profile_parse(y, strlen(y), "back.yaml", err, sizeof(err));
	check(back != NULL);
	check(kt_profile_equal(p, back));
	kt_profile_free(back);
	free(y);
	kt_profile_free(p);
	return 0;
}
