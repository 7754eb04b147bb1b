/* store.c: the fake cluster's object store (see store.h).
 *
 * Layout: one sorted array per kind, keyed by (namespace, name), each entry pointing at an
 * immutable, reference-counted snapshot of the object. A snapshot never changes once stored:
 * a put replaces the entry's snapshot with a new one. The event history is a ring of the last
 * FC_STORE_HISTORY events, each holding a reference to the snapshot it announced, so the
 * history costs no deep copies except for deletions (the DELETED object carries the deletion's
 * resourceVersion, as the API server's watch cache does).
 *
 * Invariants: every change bumps s->rv by exactly one and appends exactly one event, so the
 * history holds the contiguous resourceVersions (evicted_rv, rv]. Watchers are called in event
 * order: a change made from inside a watcher callback is queued and delivered after the current
 * event has reached every watcher. fc_store_unwatch() from inside a callback only marks the
 * watcher dead; dead watchers are freed once no dispatch is running. fc_store_free() must not
 * be called from inside a callback. */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define FC_STORE_HISTORY 4096

struct snap {
	unsigned refs;
	cJSON *obj;
};

struct entry {
	const char *ns;	  /* points into snap->obj (metadata.namespace, or "" for cluster scope) */
	const char *name; /* points into snap->obj */
	struct snap *snap;
};

struct table {
	struct entry *v;
	size_t n, cap;
};

struct event {
	enum fc_kind kind;
	enum fc_event_type type;
	uint64_t rv;
	struct snap *snap;
};

struct fc_watch {
	struct fc_watch *next;
	enum fc_kind kind;
	char *ns; /* NULL: all namespaces */
	fc_watch_fn fn;
	void *arg;
	uint64_t start_rv; /* events up to here were delivered by the replay */
	bool dead;
};

struct fc_store {
	struct table t[FC_KIND_COUNT];
	uint64_t rv;
	struct event hist[FC_STORE_HISTORY];
	size_t hist_head, hist_len; /* oldest event at hist_head */
	size_t hist_max;     /* at most this many events kept (--history), <= FC_STORE_HISTORY */
	uint64_t evicted_rv; /* newest resourceVersion no longer in the history */
	struct fc_watch *watches;
	int dispatching;
	struct event *pend; /* events waiting for delivery (each holds a snapshot reference) */
	size_t npend, pend_cap;
};

static const struct {
	const char *kind;
	const char *api_version;
	bool namespaced;
} kinds[FC_KIND_COUNT] = {
    [FC_KIND_NAMESPACE] = {"Namespace", "v1", false},
    [FC_KIND_POD] = {"Pod", "v1", true},
    [FC_KIND_SERVICE] = {"Service", "v1", true},
    [FC_KIND_ENDPOINTSLICE] = {"EndpointSlice", "discovery.k8s.io/v1", true},
    [FC_KIND_DEPLOYMENT] = {"Deployment", "apps/v1", true},
    [FC_KIND_STATEFULSET] = {"StatefulSet", "apps/v1", true},
    [FC_KIND_DAEMONSET] = {"DaemonSet", "apps/v1", true},
};

static struct snap *snap_new(cJSON *obj)
{
	struct snap *sn = malloc(sizeof(*sn));

	if (!sn)
		return NULL;
	sn->refs = 1;
	sn->obj = obj;
	return sn;
}

static struct snap *snap_ref(struct snap *sn)
{
	sn->refs++;
	return sn;
}

static void snap_unref(struct snap *sn)
{
	if (sn && --sn->refs == 0) {
		cJSON_Delete(sn->obj);
		free(sn);
	}
}

static const char *meta_str(const cJSON *obj, const char *field)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, field);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int key_cmp(const char *ns_a, const char *name_a, const char *ns_b, const char *name_b)
{
	int c = strcmp(ns_a, ns_b);

	return c ? c : strcmp(name_a, name_b);
}

/* Index of (ns, name) in t, or the insertion point with *found false. */
static size_t table_find(const struct table *t, const char *ns, const char *name, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(t->v[mid].ns, t->v[mid].name, ns, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct fc_store *fc_store_new(void)
{
	struct fc_store *s = calloc(1, sizeof(struct fc_store));

	if (s)
		s->hist_max = FC_STORE_HISTORY;
	return s;
}

/* Drops the oldest event of the history. */
static void evict_oldest(struct fc_store *s)
{
	struct event *old = &s->hist[s->hist_head];

	s->evicted_rv = old->rv;
	snap_unref(old->snap);
	s->hist_head = (s->hist_head + 1) % FC_STORE_HISTORY;
	s->hist_len--;
}

void fc_store_set_history(struct fc_store *s, size_t n)
{
	s->hist_max = n < 1 ? 1 : n > FC_STORE_HISTORY ? FC_STORE_HISTORY : n;
	while (s->hist_len > s->hist_max)
		evict_oldest(s);
}

void fc_store_compact(struct fc_store *s)
{
	while (s->hist_len)
		evict_oldest(s);
	s->evicted_rv = s->rv;
}

static void watch_free(struct fc_watch *w)
{
	free(w->ns);
	free(w);
}

void fc_store_free(struct fc_store *s)
{
	if (!s)
		return;
	for (int k = 0; k < FC_KIND_COUNT; k++) {
		for (size_t i = 0; i < s->t[k].n; i++)
			snap_unref(s->t[k].v[i].snap);
		free(s->t[k].v);
	}
	for (size_t i = 0; i < s->hist_len; i++)
		snap_unref(s->hist[(s->hist_head + i) % FC_STORE_HISTORY].snap);
	for (size_t i = 0; i < s->npend; i++)
		snap_unref(s->pend[i].snap);
	free(s->pend);
	while (s->watches) {
		struct fc_watch *w = s->watches;

		s->watches = w->next;
		watch_free(w);
	}
	free(s);
}

uint64_t fc_store_rv(const struct fc_store *s)
{
	return s->rv;
}

static const char *key_ns(enum fc_kind kind, const char *ns)
{
	return kinds[kind].namespaced && ns ? ns : "";
}

const cJSON *fc_store_get(const struct fc_store *s, enum fc_kind kind, const char *ns,
			  const char *name)
{
	bool found;
	size_t i;

	if ((unsigned)kind >= FC_KIND_COUNT || !name)
		return NULL;
	i = table_find(&s->t[kind], key_ns(kind, ns), name, &found);
	return found ? s->t[kind].v[i].snap->obj : NULL;
}

/* A random (version 4) UUID, as the API server assigns to metadata.uid. */
static void make_uid(char out[37])
{
	uint8_t b[16];
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* getrandom on Linux >= 3.17 does not fail for 16 bytes; keep a fallback anyway. */
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rand();
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

static void now_rfc3339(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* Sets obj[key] to a string, replacing any previous value; 0 or -ENOMEM. */
static int set_str(cJSON *obj, const char *key, const char *val)
{
	cJSON *v = cJSON_CreateString(val);

	if (!v)
		return -ENOMEM;
	if (cJSON_HasObjectItem(obj, key))
		return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v)
			   ? 0
			   : (cJSON_Delete(v), -ENOMEM);
	if (!cJSON_AddItemToObject(obj, key, v)) {
		cJSON_Delete(v);
		return -ENOMEM;
	}
	return 0;
}

/* Sets obj[key] and moves it to the front, where the API server prints kind and apiVersion. */
static int set_front(cJSON *obj, const char *key, const char *val)
{
	cJSON *v;

	if (set_str(obj, key, val))
		return -ENOMEM;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (v != obj->child) {
		cJSON_DetachItemViaPointer(obj, v);
		if (!cJSON_InsertItemInArray(obj, 0, v)) {
			cJSON_Delete(v);
			return -ENOMEM;
		}
	}
	return 0;
}

static int set_rv(cJSON *obj, uint64_t rv)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rv);
	return set_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion", buf);
}

static struct fc_watch **watch_link(struct fc_store *s, struct fc_watch *w)
{
	struct fc_watch **pp = &s->watches;

	while (*pp && *pp != w)
		pp = &(*pp)->next;
	return pp;
}

static void sweep_dead(struct fc_store *s)
{
	struct fc_watch **pp = &s->watches;

	while (*pp) {
		struct fc_watch *w = *pp;

		if (w->dead) {
			*pp = w->next;
			watch_free(w);
		} else {
			pp = &w->next;
		}
	}
}

static bool watch_wants(const struct fc_watch *w, const struct event *ev)
{
	const char *ns;

	if (w->dead || w->kind != ev->kind || ev->rv <= w->start_rv)
		return false;
	if (!w->ns)
		return true;
	ns = meta_str(ev->snap->obj, "namespace");
	return ns && strcmp(ns, w->ns) == 0;
}

/* Delivers queued events in order. Re-entrant calls (a callback changing the store) only
 * queue; the outermost call delivers everything. */
static void dispatch(struct fc_store *s)
{
	size_t next = 0;

	if (s->dispatching)
		return;
	s->dispatching++;
	while (next < s->npend) {
		struct event ev = s->pend[next++];

		for (struct fc_watch *w = s->watches; w; w = w->next) {
			if (watch_wants(w, &ev))
				w->fn(w->arg, ev.type, ev.snap->obj, ev.rv);
		}
		snap_unref(ev.snap);
	}
	s->npend = 0;
	s->dispatching--;
	sweep_dead(s);
}

/* Records an event (history + delivery queue) for a change that already bumped s->rv. The
 * caller's snapshot reference is not consumed; reserve_pending() made room in the queue. */
static void record(struct fc_store *s, enum fc_kind kind, enum fc_event_type type, struct snap *sn)
{
	struct event ev = {kind, type, s->rv, sn};

	if (s->hist_len == s->hist_max)
		evict_oldest(s);
	s->hist[(s->hist_head + s->hist_len) % FC_STORE_HISTORY] = ev;
	snap_ref(sn);
	s->hist_len++;
	ev.snap = snap_ref(sn);
	s->pend[s->npend++] = ev;
}

/* Makes sure the delivery queue can take one more event, so record() cannot fail after the
 * store has been changed. */
static int reserve_pending(struct fc_store *s)
{
	if (s->npend < s->pend_cap)
		return 0;
	size_t cap = s->pend_cap ? s->pend_cap * 2 : 16;
	struct event *p = realloc(s->pend, cap * sizeof(*p));

	if (!p)
		return -ENOMEM;
	s->pend = p;
	s->pend_cap = cap;
	return 0;
}

static int table_reserve(struct table *t)
{
	if (t->n < t->cap)
		return 0;
	size_t cap = t->cap ? t->cap * 2 : 32;
	struct entry *v = realloc(t->v, cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	t->v = v;
	t->cap = cap;
	return 0;
}

int fc_store_put(struct fc_store *s, enum fc_kind kind, cJSON *obj)
{
	cJSON *md;
	const char *name, *ns;
	struct table *t;
	struct snap *sn;
	bool found;
	size_t i;
	int err = -EINVAL;

	if ((unsigned)kind >= FC_KIND_COUNT || !cJSON_IsObject(obj))
		goto fail;
	md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	name = meta_str(obj, "name");
	ns = meta_str(obj, "namespace");
	if (!cJSON_IsObject(md) || !name || !*name)
		goto fail;
	if (kinds[kind].namespaced && (!ns || !*ns))
		goto fail;
	if (!kinds[kind].namespaced && ns)
		cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
	err = -ENOMEM;
	if (set_front(obj, "apiVersion", kinds[kind].api_version) ||
	    set_front(obj, "kind", kinds[kind].kind))
		goto fail;
	/* Entry keys point into the object; re-read them after any edit of metadata. */
	ns = kinds[kind].namespaced ? meta_str(obj, "namespace") : "";
	name = meta_str(obj, "name");
	t = &s->t[kind];
	i = table_find(t, ns, name, &found);
	if (found) {
		const cJSON *old = t->v[i].snap->obj;
		const char *keep[] = {"uid", "creationTimestamp"};

		for (size_t k = 0; k < 2; k++) {
			const char *v = meta_str(old, keep[k]);

			if (!meta_str(obj, keep[k]) && v && set_str(md, keep[k], v))
				goto fail;
		}
	} else {
		char uid[37], ts[32];

		if (!meta_str(obj, "uid")) {
			make_uid(uid);
			if (set_str(md, "uid", uid))
				goto fail;
		}
		if (!meta_str(obj, "creationTimestamp")) {
			now_rfc3339(ts);
			if (set_str(md, "creationTimestamp", ts))
				goto fail;
		}
		if (table_reserve(t))
			goto fail;
	}
	if (reserve_pending(s) || set_rv(obj, s->rv + 1))
		goto fail;
	sn = snap_new(obj);
	if (!sn)
		goto fail;
	/* From here on nothing can fail. */
	ns = kinds[kind].namespaced ? meta_str(obj, "namespace") : "";
	name = meta_str(obj, "name");
	if (found) {
		snap_unref(t->v[i].snap);
	} else {
		memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
		t->n++;
	}
	t->v[i] = (struct entry){ns, name, sn};
	s->rv++;
	record(s, kind, found ? FC_EVENT_MODIFIED : FC_EVENT_ADDED, sn);
	dispatch(s);
	return 0;
fail:
	cJSON_Delete(obj);
	return err;
}

int fc_store_delete(struct fc_store *s, enum fc_kind kind, const char *ns, const char *name)
{
	struct table *t;
	struct snap *sn;
	cJSON *copy;
	bool found;
	size_t i;

	if ((unsigned)kind >= FC_KIND_COUNT || !name)
		return -EINVAL;
	t = &s->t[kind];
	i = table_find(t, key_ns(kind, ns), name, &found);
	if (!found)
		return -ENOENT;
	copy = cJSON_Duplicate(t->v[i].snap->obj, true);
	if (!copy || reserve_pending(s) || set_rv(copy, s->rv + 1))
		goto nomem;
	sn = snap_new(copy);
	if (!sn)
		goto nomem;
	snap_unref(t->v[i].snap);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
	t->n--;
	s->rv++;
	record(s, kind, FC_EVENT_DELETED, sn);
	snap_unref(sn);
	dispatch(s);
	return 0;
nomem:
	cJSON_Delete(copy);
	return -ENOMEM;
}

void fc_store_foreach(const struct fc_store *s, enum fc_kind kind, const char *ns,
		      void (*fn)(void *arg, const cJSON *obj), void *arg)
{
	const struct table *t;
	struct snap **v;
	size_t n = 0, i = 0;
	bool found;

	if ((unsigned)kind >= FC_KIND_COUNT)
		return;
	t = &s->t[kind];
	if (ns && kinds[kind].namespaced)
		i = table_find(t, ns, "", &found);
	else
		ns = NULL;
	/* Take references first so fn may change the store while we iterate. */
	v = malloc((t->n - i + 1) * sizeof(*v));
	if (!v)
		return;
	for (; i < t->n; i++) {
		if (ns && strcmp(t->v[i].ns, ns) != 0)
			break;
		v[n++] = snap_ref(t->v[i].snap);
	}
	for (i = 0; i < n; i++) {
		fn(arg, v[i]->obj);
		snap_unref(v[i]);
	}
	free(v);
}

struct fc_watch *fc_store_watch(struct fc_store *s, enum fc_kind kind, const char *ns,
				uint64_t since_rv, fc_watch_fn fn, void *arg, int *err)
{
	struct fc_watch *w;
	int e = 0;

	if ((unsigned)kind >= FC_KIND_COUNT || !fn) {
		e = -EINVAL;
		goto out;
	}
	if (since_rv && since_rv < s->evicted_rv) {
		e = -ESTALE;
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (!w || (ns && kinds[kind].namespaced && !(w->ns = strdup(ns)))) {
		free(w);
		e = -ENOMEM;
		goto out;
	}
	w->kind = kind;
	w->fn = fn;
	w->arg = arg;
	w->start_rv = s->rv;
	w->next = s->watches;
	s->watches = w;
	if (since_rv && since_rv < s->rv) {
		/* Replay from the history. Take references first: a callback may change the store,
		 * which moves the ring; its new events are queued behind the replay, never
		 * interleaved with it. */
		struct event *ev = malloc(s->hist_len * sizeof(*ev));
		size_t n = 0;

		if (!ev) {
			*watch_link(s, w) = w->next;
			watch_free(w);
			e = -ENOMEM;
			goto out;
		}
		for (size_t k = 0; k < s->hist_len; k++) {
			const struct event *h = &s->hist[(s->hist_head + k) % FC_STORE_HISTORY];
			struct fc_watch probe = *w;

			probe.start_rv = since_rv;
			if (watch_wants(&probe, h)) {
				ev[n] = *h;
				ev[n++].snap = snap_ref(h->snap);
			}
		}
		s->dispatching++;
		for (size_t k = 0; k < n; k++) {
			if (!w->dead)
				fn(arg, ev[k].type, ev[k].snap->obj, ev[k].rv);
			snap_unref(ev[k].snap);
		}
		free(ev);
		s->dispatching--;
		/* Nobody holds the handle yet, so w cannot have been unwatched: deliver what the
		 * callbacks queued (a no-op when we run inside an outer dispatch). */
		dispatch(s);
	}
	if (err)
		*err = 0;
	return w;
out:
	if (err)
		*err = e;
	return NULL;
}

void fc_store_unwatch(struct fc_store *s, struct fc_watch *w)
{
	struct fc_watch **pp;

	if (!w)
		return;
	if (s->dispatching) {
		w->dead = true;
		return;
	}
	pp = watch_link(s, w);
	if (*pp) {
		*pp = w->next;
		watch_free(w);
	}
}
