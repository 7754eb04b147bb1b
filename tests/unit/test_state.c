/* test_state.c: unit tests for src/state.c: the active set saved and restored, atomic writes. */
#include "kt_test.h"
#include "profile.h"
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];

static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			if (unlink(p) < 0)
				rm_rf(p);
		}
	closedir(d);
	rmdir(dir);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

KT_TEST(save_and_restore_round_trip)
{
	char tmpl[] = "/tmp/kt-state.XXXXXX", dir[600], path[700];
	static const char yaml[] = "context: dev\n"
				   "namespace: shop\n"
				   "forwards:\n"
				   "  - target: svc/web\n"
				   "    ports: [443, 80]\n"
				   "  - target: sts/kafka\n"
				   "    namespace: data\n";
	struct kt_profile *p, *back;
	struct stat st;
	bool missing = true;

	KT_REQUIRE(mkdtemp(tmpl));
	/* A directory that does not exist yet is created. */
	snprintf(dir, sizeof(dir), "%s/a/b", tmpl);
	p = kt_profile_parse(yaml, sizeof(yaml) - 1, NULL, err, sizeof(err));
	KT_REQUIRE(p);
	KT_CHECK_INT_EQ(kt_state_save_active(dir, p, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/" KT_STATE_ACTIVE_FILE, dir);
	KT_REQUIRE(stat(path, &st) == 0);
	KT_CHECK_INT_EQ(st.st_mode & 0777, 0644);
	/* Only the file itself: the temporary one was renamed over it. */
	KT_CHECK_INT_EQ(count_entries(dir), 1);
	back = kt_state_load_active(dir, &missing, err, sizeof(err));
	KT_REQUIRE(back);
	KT_CHECK(!missing);
	KT_CHECK(kt_profile_equal(p, back));
	kt_profile_free(back);
	/* Saving again replaces it (an empty set too). */
	kt_profile_free(p);
	p = kt_profile_new();
	KT_REQUIRE(p);
	KT_CHECK_INT_EQ(kt_state_save_active(dir, p, err, sizeof(err)), 0);
	back = kt_state_load_active(dir, &missing, err, sizeof(err));
	KT_REQUIRE(back);
	KT_CHECK_INT_EQ(back->nforwards, 0);
	KT_CHECK_INT_EQ(count_entries(dir), 1);
	kt_profile_free(back);
	kt_profile_free(p);
	rm_rf(tmpl);
}

KT_TEST(missing_and_broken_files)
{
	char tmpl[] = "/tmp/kt-state.XXXXXX", path[600];
	static const char bad[] = "forwards:\n  - target: svc/web\n    prots: [80]\n";
	bool missing = false;
	FILE *f;

	KT_REQUIRE(mkdtemp(tmpl));
	KT_CHECK(kt_state_load_active(tmpl, &missing, err, sizeof(err)) == NULL);
	KT_CHECK(missing);
	KT_CHECK_STR_EQ(err, "");
	snprintf(path, sizeof(path), "%s/" KT_STATE_ACTIVE_FILE, tmpl);
	f = fopen(path, "w");
	KT_REQUIRE(f);
	fputs(bad, f);
	fclose(f);
	KT_CHECK(kt_state_load_active(tmpl, &missing, err, sizeof(err)) == NULL);
	KT_CHECK(!missing);
	/* FILE:LINE:COL: of the profile parser. */
	KT_CHECK(strstr(err, "active.yaml:3:5:") != NULL);
	rm_rf(tmpl);
}

KT_TEST(write_file_errors)
{
	char tmpl[] = "/tmp/kt-state.XXXXXX", file[600];

	KT_REQUIRE(mkdtemp(tmpl));
	/* The directory is a file: nothing can be written under it. */
	snprintf(file, sizeof(file), "%s/plain", tmpl);
	KT_REQUIRE(kt_state_write_file(tmpl, "plain", "x", 1, 0600, err, sizeof(err)) == 0);
	KT_CHECK(kt_state_write_file(file, "x", "y", 1, 0600, err, sizeof(err)) < 0);
	KT_CHECK(strstr(err, file) != NULL);
	KT_CHECK_INT_EQ(count_entries(tmpl), 1);
	rm_rf(tmpl);
}

KT_TEST_MAIN()
