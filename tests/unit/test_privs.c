/* test_privs.c: unit tests for src/privs.c. The drop runs in a forked child (it cannot be
 * undone), which reports what /proc/self/status says afterwards, and what a program it execs
 * as uid 0 gets. Needs root with a full capability set, as the suite runs; elsewhere the drop
 * tests say so and check only the refusal. */
#include "kt_test.h"
#include "privs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The hex value of "Field:" in a /proc/PID/status text. */
static unsigned long long field(const char *status, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\n%s:", name);
	p = strstr(status, key);
	if (!p)
		return ~0ull;
	return strtoull(p + strlen(key), NULL, 16);
}

static size_t read_fd(int fd, char *buf, size_t cap)
{
	size_t off = 0;
	ssize_t n;

	while (off + 1 < cap && (n = read(fd, buf + off, cap - off - 1)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	return off;
}

/* Runs the drop in a child; fills self (its own status after the drop) and child (the status
 * of `cat /proc/self/status` it execs as uid 0). Returns the child's exit status. */
static int drop_in_child(uint64_t keep, char *self, char *child, size_t cap)
{
	int p[2], q[2], st;
	pid_t pid;

	if (pipe(p) || pipe(q))
		return -1;
	pid = fork();
	if (pid == 0) {
		char err[256], buf[4096];
		int fd;
		size_t n;

		close(p[0]);
		close(q[0]);
		if (kt_privs_drop(keep, err, sizeof(err))) {
			fprintf(stderr, "drop: %s\n", err);
			_exit(3);
		}
		fd = open("/proc/self/status", O_RDONLY);
		n = fd >= 0 ? read_fd(fd, buf, sizeof(buf)) : 0;
		if (write(p[1], buf, n) != (ssize_t)n)
			_exit(4);
		close(p[1]);
		dup2(q[1], 1);
		execl("/bin/cat", "cat", "/proc/self/status", (char *)NULL);
		_exit(5);
	}
	close(p[1]);
	close(q[1]);
	read_fd(p[0], self, cap);
	read_fd(q[0], child, cap);
	close(p[0]);
	close(q[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int full_root(void)
{
	uint64_t eff = 0;

	return geteuid() == 0 && kt_privs_effective(&eff) == 0 &&
	       (eff & KT_PRIVS_CAP(CAP_SETPCAP)) && (eff & KT_PRIVS_CAP(CAP_NET_ADMIN));
}

KT_TEST(drop_keeps_net_admin_only)
{
	static char self[8192], child[8192];
	const unsigned long long na = 1ull << CAP_NET_ADMIN;

	if (!full_root()) {
		printf(
		    "drop_keeps_net_admin_only: not root with CAP_SETPCAP, drop not exercised\n");
		return;
	}
	KT_REQUIRE(drop_in_child(KT_PRIVS_CAP(CAP_NET_ADMIN), self, child, sizeof(self)) == 0);
	KT_CHECK_INT_EQ(field(self, "CapEff"), na);
	KT_CHECK_INT_EQ(field(self, "CapPrm"), na);
	KT_CHECK_INT_EQ(field(self, "CapBnd"), na);
	KT_CHECK_INT_EQ(field(self, "CapInh"), 0);
	KT_CHECK_INT_EQ(field(self, "CapAmb"), 0);
	KT_CHECK_INT_EQ(field(self, "NoNewPrivs"), 1);
	/* Still uid 0 (privs.h says why), but a program it runs as root gets nothing: NOROOT. */
	KT_CHECK(strstr(self, "\nUid:\t0\t0\t0\t0\n") != NULL);
	KT_CHECK_INT_EQ(field(child, "CapEff"), 0);
	KT_CHECK_INT_EQ(field(child, "CapPrm"), 0);
	KT_CHECK_INT_EQ(field(child, "CapBnd"), na);
	KT_CHECK_INT_EQ(field(child, "NoNewPrivs"), 1);
}

KT_TEST(drop_keeps_setuid_for_exec_as)
{
	static char self[8192], child[8192];
	const unsigned long long want =
	    (1ull << CAP_NET_ADMIN) | (1ull << CAP_SETUID) | (1ull << CAP_SETGID);

	if (!full_root()) {
		printf("drop_keeps_setuid_for_exec_as: not root, drop not exercised\n");
		return;
	}
	KT_REQUIRE(drop_in_child(KT_PRIVS_CAP(CAP_NET_ADMIN) | KT_PRIVS_CAP(CAP_SETUID) |
				     KT_PRIVS_CAP(CAP_SETGID),
				 self, child, sizeof(self)) == 0);
	KT_CHECK_INT_EQ(field(self, "CapEff"), want);
	KT_CHECK_INT_EQ(field(self, "CapBnd"), want);
}

KT_TEST(drop_refuses_what_it_does_not_have)
{
	static char self[8192], child[8192];

	if (!full_root()) {
		printf("drop_refuses_what_it_does_not_have: not root, not exercised\n");
		return;
	}
	/* Capability 63 exists in no kernel: the child must refuse and exit 3. */
	KT_CHECK_INT_EQ(drop_in_child(KT_PRIVS_CAP(63), self, child, sizeof(self)), 3);
}

KT_TEST(describe)
{
	char buf[256];

	kt_privs_describe(0, buf, sizeof(buf));
	KT_CHECK_STR_EQ(buf, "none");
	kt_privs_describe(KT_PRIVS_CAP(CAP_NET_ADMIN), buf, sizeof(buf));
	KT_CHECK_STR_EQ(buf, "cap_net_admin");
	kt_privs_describe(KT_PRIVS_CAP(CAP_SETGID) | KT_PRIVS_CAP(CAP_SETUID) | KT_PRIVS_CAP(60),
			  buf, sizeof(buf));
	KT_CHECK_STR_EQ(buf, "cap_setgid,cap_setuid,cap_60");
	kt_privs_describe(~(uint64_t)0, buf, 20);
	KT_CHECK(strlen(buf) < 20);
}

KT_TEST_MAIN()
