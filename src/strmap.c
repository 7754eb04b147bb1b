/* strmap.c: string-keyed open-addressing hash map (see strmap.h).
 *
 * Invariants: cap is 0 or a power of two; count < cap * 0.7 after every insert; an empty slot is
 * one whose key is NULL; every stored key is a private copy. Deletion shifts later members of
 * the probe run back so that lookups can stop at the first empty slot. */
#include "strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *key;
	void *value;
	uint64_t hash;
};

struct kt_strmap {
	struct slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t count;
};

/* FNV-1a, 64 bit: short keys, no adversary with more control than a cluster's object names. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

struct kt_strmap *kt_strmap_new(void)
{
	return calloc(1, sizeof(struct kt_strmap));
}

void kt_strmap_clear(struct kt_strmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].key);
		m->slots[i] = (struct slot){0};
	}
	m->count = 0;
}

void kt_strmap_free(struct kt_strmap *m)
{
	if (!m)
		return;
	kt_strmap_clear(m);
	free(m->slots);
	free(m);
}

size_t kt_strmap_count(const struct kt_strmap *m)
{
	return m->count;
}

static struct slot *find(const struct kt_strmap *m, const char *key, uint64_t h)
{
	if (!m->cap)
		return NULL;
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
}

void *kt_strmap_get(const struct kt_strmap *m, const char *key)
{
	struct slot *s = find(m, key, hash_str(key));

	return s ? s->value : NULL;
}

static void place(struct slot *slots, size_t cap, struct slot v)
{
	size_t i = v.hash & (cap - 1);

	while (slots[i].key)
		i = (i + 1) & (cap - 1);
	slots[i] = v;
}

static int grow(struct kt_strmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct slot *ns;

	if (ncap > SIZE_MAX / sizeof(*ns))
		return -ENOMEM;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			place(ns, ncap, m->slots[i]);
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int kt_strmap_put(struct kt_strmap *m, const char *key, void *value, void **old)
{
	uint64_t h = hash_str(key);
	struct slot *s = find(m, key, h);
	char *copy;

	if (old)
		*old = NULL;
	if (s) {
		if (old)
			*old = s->value;
		s->value = value;
		return 0;
	}
	if ((m->count + 1) * 10 >= m->cap * 7 && grow(m))
		return -ENOMEM;
	copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	place(m->slots, m->cap, (struct slot){copy, value, h});
	m->count++;
	return 0;
}

void *kt_strmap_del(struct kt_strmap *m, const char *key)
{
	struct slot *s = find(m, key, hash_str(key));
	void *v;
	size_t i, j, mask;

	if (!s)
		return NULL;
	v = s->value;
	free(s->key);
	mask = m->cap - 1;
	i = (size_t)(s - m->slots);
	m->slots[i] = (struct slot){0};
	/* Backward shift: move each later member of the run into the hole when its home slot
	 * does not lie cyclically in (hole, its position]. */
	for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			m->slots[j] = (struct slot){0};
			i = j;
		}
	}
	m->count--;
	return v;
}

int kt_strmap_next(const struct kt_strmap *m, size_t *pos, const char **key, void **value)
{
	for (size_t i = *pos; i < m->cap; i++) {
		if (m->slots[i].key) {
			*key = m->slots[i].key;
			*value = m->slots[i].value;
			*pos = i + 1;
			return 1;
		}
	}
	*pos = m->cap;
	return 0;
}
