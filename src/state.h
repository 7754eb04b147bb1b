/* state.h: kubetund's persisted active set, for auto-restore.
 *
 * The daemon writes its active set of forwards (the profile that `forward.ls` shows) to
 * <state_dir>/active.yaml, in the profile format (profile.h), after every change: at start
 * and after each forward.add / forward.rm. Started without --profile, it reads that file back,
 * so a restart (or a reboot, through the systemd unit) brings back the last active set; the
 * VIPs come back too, from the VIP allocation file mapping.c keeps beside it (<state_dir>/vips).
 *
 * Writes are atomic: a temporary file in the same directory is written, fsync'd and renamed
 * over the old one, then the directory is fsync'd, so a crash (or SIGKILL) at any point leaves
 * either the old set or the new one, never a torn file. The directory is created (mode 0755)
 * when missing. */
#ifndef KT_STATE_H
#define KT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct kt_profile;

#define KT_STATE_ACTIVE_FILE "active.yaml"

/* Writes buf[0..len) to dir/name atomically with the given mode (see the top). 0, or -errno
 * with one line in err. */
int kt_state_write_file(const char *dir, const char *name, const void *buf, size_t len, mode_t mode,
			char *err, size_t errcap);

/* Saves p as dir/active.yaml. 0, or -errno with one line in err. */
int kt_state_save_active(const char *dir, const struct kt_profile *p, char *err, size_t errcap);

/* Loads dir/active.yaml. NULL when there is none (*missing set, err empty) or when it cannot
 * be read or parsed (*missing clear, one line in err, FILE:LINE:COL: for a parse error). */
struct kt_profile *kt_state_load_active(const char *dir, bool *missing, char *err, size_t errcap);

#endif
