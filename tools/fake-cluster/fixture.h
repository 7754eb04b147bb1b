/* fixture.h: loads a fixture (Kubernetes manifests, multi-document YAML as `kubectl apply -f`
 * takes, `kind: List` too) into the fake cluster through its controller.
 *
 * Everything is parsed and checked before anything is created, so a bad fixture reports its
 * first problem as one line `FILE:LINE:COL: what is wrong` (positions from yamljson.h) and
 * leaves the store as it was, except for creation errors found only while applying (none are
 * expected once checking passed). Namespaces that objects use without declaring them are
 * created, as kube-system and default always exist. Objects start Running/Ready at once. */
#ifndef FC_FIXTURE_H
#define FC_FIXTURE_H

#include <stddef.h>

struct fc_controller;

/* buf[0..len) named fname in messages. 0, or -EINVAL (message in err), -ENOMEM, -ENOSPC. */
int fc_fixture_load_buf(struct fc_controller *ctl, const char *fname, const void *buf, size_t len,
			char *err, size_t errcap);
/* Reads path (at most 16 MiB). An unreadable file gives -errno and "PATH: reason". */
int fc_fixture_load_file(struct fc_controller *ctl, const char *path, char *err, size_t errcap);

#endif
