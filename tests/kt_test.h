/* kt_test.h: kubetun's in-tree unit-test framework.
 *
 * A test file defines functions with KT_TEST(name) and ends with KT_TEST_MAIN(). Each check
 * that fails prints file:line and the failing expression and marks the current test failed;
 * the test keeps running so one run shows every failure. The executable exits 1 if any test
 * failed, so CTest sees it. Run one test with `./test_x name`. */
#ifndef KT_TEST_H
#define KT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kt_test_case {
	const char *name;
	void (*fn)(void);
};

extern int kt_test_failed_;
#define KT_TEST_MAX 256
extern struct kt_test_case kt_test_cases_[KT_TEST_MAX];
extern int kt_test_count_;

#define KT_TEST(name)                                                          \
	static void kt_test_##name(void);                                      \
	__attribute__((constructor)) static void kt_test_register_##name(void) \
	{                                                                      \
		if (kt_test_count_ < KT_TEST_MAX)                              \
			kt_test_cases_[kt_test_count_++] =                     \
			    (struct kt_test_case){#name, kt_test_##name};      \
	}                                                                      \
	static void kt_test_##name(void)

#define KT_FAIL_(...)                                                 \
	do {                                                          \
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                         \
		fputc('\n', stderr);                                  \
		kt_test_failed_ = 1;                                  \
	} while (0)

#define KT_CHECK(cond)                         \
	do {                                   \
		if (!(cond))                   \
			KT_FAIL_("%s", #cond); \
	} while (0)

#define KT_CHECK_INT_EQ(a, b)                                                      \
	do {                                                                       \
		long long kt_a_ = (long long)(a), kt_b_ = (long long)(b);          \
		if (kt_a_ != kt_b_)                                                \
			KT_FAIL_("%s == %s (%lld != %lld)", #a, #b, kt_a_, kt_b_); \
	} while (0)

#define KT_CHECK_STR_EQ(a, b)                                                                     \
	do {                                                                                      \
		const char *kt_a_ = (a), *kt_b_ = (b);                                            \
		if (!kt_a_ || !kt_b_ || strcmp(kt_a_, kt_b_) != 0)                                \
			KT_FAIL_("%s == %s (\"%s\" != \"%s\")", #a, #b, kt_a_ ? kt_a_ : "(null)", \
				 kt_b_ ? kt_b_ : "(null)");                                       \
	} while (0)

#define KT_CHECK_MEM_EQ(a, b, n)                                         \
	do {                                                             \
		if (memcmp((a), (b), (n)) != 0)                          \
			KT_FAIL_("memcmp(%s, %s, %s) != 0", #a, #b, #n); \
	} while (0)

/* Stops the current test: for preconditions whose failure makes the rest meaningless. */
#define KT_REQUIRE(cond)                                 \
	do {                                             \
		if (!(cond)) {                           \
			KT_FAIL_("required: %s", #cond); \
			return;                          \
		}                                        \
	} while (0)

#define KT_TEST_MAIN()                                                                \
	int kt_test_failed_;                                                          \
	struct kt_test_case kt_test_cases_[KT_TEST_MAX];                              \
	int kt_test_count_;                                                           \
	int main(int argc, char **argv)                                               \
	{                                                                             \
		int failures = 0, ran = 0;                                            \
		for (int i = 0; i < kt_test_count_; i++) {                            \
			if (argc > 1 && strcmp(argv[1], kt_test_cases_[i].name) != 0) \
				continue;                                             \
			kt_test_failed_ = 0;                                          \
			kt_test_cases_[i].fn();                                       \
			ran++;                                                        \
			printf("%s %s\n", kt_test_failed_ ? "FAIL" : "ok  ",          \
			       kt_test_cases_[i].name);                               \
			failures += kt_test_failed_;                                  \
		}                                                                     \
		printf("%d passed, %d failed\n", ran - failures, failures);           \
		return failures || ran == 0 ? 1 : 0;                                  \
	}

#endif
