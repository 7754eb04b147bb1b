/* state.c: the active set on disk (see state.h). */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile.h"

/* mkdir -p with mode 0755 for the components it creates. */
static int mkdirs(const char *dir)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (i < n)
			tmp[i] = '/';
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kt_state_write_file(const char *dir, const char *name, const void *buf, size_t len, mode_t mode,
			char *err, size_t errcap)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd = -1, r, n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errcap, "%s/%s: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errcap, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	r = mkdirs(dir);
	if (r) {
		snprintf(err, errcap, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(-r));
		return r;
	}
	/* The umask may have narrowed the mode; the file's readers expect exactly mode. */
	if ((r = write_all(fd, buf, len)) || (fchmod(fd, mode) < 0 && (r = -errno)) ||
	    (fsync(fd) < 0 && (r = -errno))) {
		snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(-r));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(-r));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		snprintf(err, errcap, "cannot rename %s to %s: %s", tmp, path, strerror(-r));
		goto fail;
	}
	/* The rename is durable only once the directory entry is. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int kt_state_save_active(const char *dir, const struct kt_profile *p, char *err, size_t errcap)
{
	static const char head[] =
	    "# kubetund's active set of forwards, rewritten on every change and restored when\n"
	    "# kubetund starts without --profile. A profile (kubetun profile save NAME keeps "
	    "one).\n";
	char *yaml = kt_profile_to_yaml(p), *all;
	size_t hl = sizeof(head) - 1, yl;
	int r;

	if (!yaml) {
		snprintf(err, errcap, "cannot serialize the active set");
		return errno == EINVAL ? -EINVAL : -ENOMEM;
	}
	yl = strlen(yaml);
	all = malloc(hl + yl + 1);
	if (!all) {
		free(yaml);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	memcpy(all, head, hl);
	memcpy(all + hl, yaml, yl + 1);
	free(yaml);
	r = kt_state_write_file(dir, KT_STATE_ACTIVE_FILE, all, hl + yl, 0644, err, errcap);
	free(all);
	return r;
}

struct kt_profile *kt_state_load_active(const char *dir, bool *missing, char *err, size_t errcap)
{
	char path[PATH_MAX];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, KT_STATE_ACTIVE_FILE);

	*missing = false;
	err[0] = '\0';
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errcap, "%s: path too long", dir);
		return NULL;
	}
	if (stat(path, &st) < 0 && errno == ENOENT) {
		*missing = true;
		return NULL;
	}
	return kt_profile_load(path, err, errcap);
}
