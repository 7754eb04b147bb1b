/* strmap.h: a string-keyed hash map (open addressing, linear probing) for the daemon's caches.
 *
 * The map owns copies of its keys; values are opaque pointers owned by the caller (the map
 * never frees them). Lookups, inserts and deletes are O(1) on average; the table grows at 70 %
 * load and deletions use backward-shift, so no tombstones build up. Iteration order is
 * unspecified and iterators are invalidated by any insert or delete. Not thread-safe. */
#ifndef KT_STRMAP_H
#define KT_STRMAP_H

#include <stddef.h>

struct kt_strmap;

struct kt_strmap *kt_strmap_new(void);
/* Frees the map and its key copies, not the values. NULL is a no-op. */
void kt_strmap_free(struct kt_strmap *m);
size_t kt_strmap_count(const struct kt_strmap *m);

/* The value stored under key, or NULL. */
void *kt_strmap_get(const struct kt_strmap *m, const char *key);
/* Stores value under key, replacing (and returning through *old, when old is not NULL) any
 * previous value. 0 or -ENOMEM. value must not be NULL. */
int kt_strmap_put(struct kt_strmap *m, const char *key, void *value, void **old);
/* Removes key and returns its value (NULL when absent). */
void *kt_strmap_del(struct kt_strmap *m, const char *key);
/* Removes every entry (values untouched). */
void kt_strmap_clear(struct kt_strmap *m);

/* Iteration: start with *pos = 0; returns 1 with *key and *value set and *pos advanced, or 0 at the
 * end. */
int kt_strmap_next(const struct kt_strmap *m, size_t *pos, const char **key, void **value);

#endif
