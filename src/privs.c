/* privs.c: capability drop through the raw syscalls (see privs.h for the order and why).
 *
 * glibc has no capset/capget wrappers, so they go through syscall(2) with the version-3
 * structures of linux/capability.h (two 32-bit words per set). */
#include "privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Names in linux/capability.h order (capabilities(7)). */
static const char *const cap_names[] = {
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
};

static int capget2(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};

	return syscall(SYS_capget, &h, data) < 0 ? -errno : 0;
}

int kt_privs_effective(uint64_t *out)
{
	struct __user_cap_data_struct d[2] = {{0}};
	int r = capget2(d);

	if (r)
		return r;
	*out = (uint64_t)d[0].effective | (uint64_t)d[1].effective << 32;
	return 0;
}

void kt_privs_describe(uint64_t caps, char *buf, size_t cap)
{
	size_t off = 0;

	if (!cap)
		return;
	buf[0] = '\0';
	if (!caps) {
		snprintf(buf, cap, "none");
		return;
	}
	for (unsigned i = 0; i < 64; i++) {
		char num[16];
		const char *name;
		int n;

		if (!(caps & KT_PRIVS_CAP(i)))
			continue;
		if (i < sizeof(cap_names) / sizeof(cap_names[0])) {
			name = cap_names[i];
		} else {
			snprintf(num, sizeof(num), "cap_%u", i);
			name = num;
		}
		n = snprintf(buf + off, cap - off, "%s%s", off ? "," : "", name);
		if (n < 0 || (size_t)n >= cap - off)
			return; /* truncated, still NUL-terminated */
		off += (size_t)n;
	}
}

int kt_privs_drop(uint64_t keep, char *err, size_t errcap)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {{0}};
	uint64_t have, eff;
	int bits, r;

	r = capget2(d);
	if (r) {
		snprintf(err, errcap, "capget: %s", strerror(-r));
		return r;
	}
	have = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
	eff = (uint64_t)d[0].effective | (uint64_t)d[1].effective << 32;
	if ((keep & have) != keep) {
		char miss[256];

		kt_privs_describe(keep & ~have, miss, sizeof(miss));
		snprintf(err, errcap, "missing capabilities: %s", miss);
		return -EPERM;
	}
	/* Steps 1 and 2 need CAP_SETPCAP. Without it (a daemon started as a user with nothing
	 * but CAP_NET_ADMIN, as kubetund@USER.service does) the bounding set is whatever the
	 * service manager left, and there is no root to defuse. */
	if (eff & KT_PRIVS_CAP(CAP_SETPCAP)) {
		/* 1. Root exec'ing a program no longer hands it the full set (capabilities(7),
		 * "Capabilities and execution of programs by root"). */
		bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
		if (bits < 0 || prctl(PR_SET_SECUREBITS,
				      (unsigned long)bits | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0,
				      0, 0) < 0) {
			r = -errno;
			snprintf(err, errcap, "cannot set the securebits: %s", strerror(-r));
			return r;
		}
		/* 2. The bounding set. The kernel may know fewer than 64 capabilities:
		 * PR_CAPBSET_READ fails (EINVAL) past its last one. */
		for (unsigned long c = 0; c < 64; c++) {
			if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
				break;
			if (keep & KT_PRIVS_CAP(c))
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
				r = -errno;
				snprintf(err, errcap,
					 "cannot drop capability %lu from the bounding set: %s", c,
					 strerror(-r));
				return r;
			}
		}
	}
	/* 3. Ambient capabilities would survive an execve. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		r = -errno;
		snprintf(err, errcap, "cannot clear the ambient capabilities: %s", strerror(-r));
		return r;
	}
	/* 4. Only what we keep. */
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) < 0) {
		r = -errno;
		snprintf(err, errcap, "capset: %s", strerror(-r));
		return r;
	}
	/* 5. Nothing exec'd later (exec credential plugins) can gain privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		snprintf(err, errcap, "cannot set no_new_privs: %s", strerror(-r));
		return r;
	}
	return 0;
}
