/* test_store.c: the fake cluster's object store: resourceVersions, uid/timestamps, sorted
 * iteration, the watch history (replay, -ESTALE) and watcher callbacks that unwatch or change
 * the store from inside a callback. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_test.h"
#include "store.h"

static cJSON *mkobj(const char *ns, const char *name, const char *label)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");

	cJSON_AddStringToObject(md, "name", name);
	if (ns)
		cJSON_AddStringToObject(md, "namespace", ns);
	if (label)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"), "l", label);
	return o;
}

static const char *md_str(const cJSON *o, const char *k)
{
	const cJSON *v =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *label(const cJSON *o)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	const cJSON *v =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(md, "labels"), "l");

	return cJSON_IsString(v) ? v->valuestring : "";
}

static bool is_uuid4(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return false;
	}
	return s[14] == '4' && strchr("89ab", s[19]);
}

/* Records events as "TYPE ns/name rv label" lines. */
struct rec {
	char log[64][96];
	int n;
};

static void rec_fn(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct rec *r = arg;
	static const char *const t[] = {"ADDED", "MODIFIED", "DELETED"};
	const char *ns = md_str(obj, "namespace");

	if (r->n < 64)
		snprintf(r->log[r->n++], sizeof(r->log[0]), "%s %s/%s %llu %s", t[type],
			 ns ? ns : "", md_str(obj, "name"), (unsigned long long)rv, label(obj));
}

KT_TEST(put_get_fills_metadata)
{
	struct fc_store *s = fc_store_new();
	const cJSON *o;
	char uid[40];

	KT_REQUIRE(s);
	KT_CHECK_INT_EQ(fc_store_rv(s), 0);
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_POD, mkobj("shop", "a", "1")), 0);
	KT_CHECK_INT_EQ(fc_store_rv(s), 1);
	o = fc_store_get(s, FC_KIND_POD, "shop", "a");
	KT_REQUIRE(o);
	KT_CHECK_STR_EQ(cJSON_GetObjectItem(o, "kind")->valuestring, "Pod");
	KT_CHECK_STR_EQ(cJSON_GetObjectItem(o, "apiVersion")->valuestring, "v1");
	KT_CHECK_STR_EQ(md_str(o, "resourceVersion"), "1");
	KT_CHECK(is_uuid4(md_str(o, "uid")));
	const char *ts = md_str(o, "creationTimestamp");
	KT_REQUIRE(ts);
	KT_CHECK_INT_EQ(strlen(ts), 20);
	KT_CHECK(ts[4] == '-' && ts[10] == 'T' && ts[19] == 'Z');
	snprintf(uid, sizeof(uid), "%s", md_str(o, "uid"));

	/* Replacing keeps uid and creationTimestamp, bumps the resourceVersion. */
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_POD, mkobj("shop", "a", "2")), 0);
	o = fc_store_get(s, FC_KIND_POD, "shop", "a");
	KT_CHECK_STR_EQ(md_str(o, "uid"), uid);
	KT_CHECK_STR_EQ(md_str(o, "resourceVersion"), "2");
	KT_CHECK_STR_EQ(label(o), "2");

	/* Same name in another namespace or kind is another object. */
	KT_CHECK(!fc_store_get(s, FC_KIND_POD, "data", "a"));
	KT_CHECK(!fc_store_get(s, FC_KIND_SERVICE, "shop", "a"));
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_SERVICE, mkobj("shop", "a", NULL)), 0);
	KT_CHECK(strcmp(md_str(fc_store_get(s, FC_KIND_SERVICE, "shop", "a"), "uid"), uid) != 0);
	KT_CHECK_STR_EQ(
	    cJSON_GetObjectItem(fc_store_get(s, FC_KIND_SERVICE, "shop", "a"), "kind")->valuestring,
	    "Service");

	/* Cluster-scoped kinds ignore the namespace. */
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_NAMESPACE, mkobj("x", "shop", NULL)), 0);
	KT_CHECK(fc_store_get(s, FC_KIND_NAMESPACE, NULL, "shop"));
	KT_CHECK(fc_store_get(s, FC_KIND_NAMESPACE, "whatever", "shop"));
	KT_CHECK(!md_str(fc_store_get(s, FC_KIND_NAMESPACE, NULL, "shop"), "namespace"));

	/* Invalid objects are refused (and freed: ASan/LSan would see a leak). */
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_POD, mkobj(NULL, "nons", NULL)), -EINVAL);
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_POD, mkobj("shop", "", NULL)), -EINVAL);
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_POD, cJSON_CreateArray()), -EINVAL);
	KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_COUNT, mkobj("shop", "x", NULL)), -EINVAL);
	KT_CHECK_INT_EQ(fc_store_rv(s), 4);
	fc_store_free(s);
	fc_store_free(NULL);
}

static void collect(void *arg, const cJSON *obj)
{
	char *out = arg;
	size_t n = strlen(out);
	const char *ns = md_str(obj, "namespace");

	snprintf(out + n, 512 - n, "%s/%s ", ns ? ns : "", md_str(obj, "name"));
}

KT_TEST(foreach_sorted_and_filtered)
{
	struct fc_store *s = fc_store_new();
	char out[512] = "";
	const char *objs[][2] = {{"shop", "web"},     {"data", "kafka-1"}, {"shop", "api"},
				 {"data", "kafka-0"}, {"default", "x"},	   {"data2", "a"}};

	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		KT_CHECK_INT_EQ(fc_store_put(s, FC_KIND_POD, mkobj(objs[i][0], objs[i][1], NULL)),
				0);
	fc_store_foreach(s, FC_KIND_POD, NULL, collect, out);
	KT_CHECK_STR_EQ(out, "data/kafka-0 data/kafka-1 data2/a default/x shop/api shop/web ");
	out[0] = '\0';
	fc_store_foreach(s, FC_KIND_POD, "data", collect, out);
	KT_CHECK_STR_EQ(out, "data/kafka-0 data/kafka-1 ");
	out[0] = '\0';
	fc_store_foreach(s, FC_KIND_POD, "nosuch", collect, out);
	KT_CHECK_STR_EQ(out, "");
	fc_store_foreach(s, FC_KIND_SERVICE, NULL, collect, out);
	KT_CHECK_STR_EQ(out, "");
	fc_store_free(s);
}

/* A foreach callback that changes the store does not disturb the iteration. */
struct mut {
	struct fc_store *s;
	int calls;
};

static void mutate(void *arg, const cJSON *obj)
{
	struct mut *m = arg;

	m->calls++;
	fc_store_delete(m->s, FC_KIND_POD, md_str(obj, "namespace"), md_str(obj, "name"));
	fc_store_put(m->s, FC_KIND_POD, mkobj("zz", md_str(obj, "name"), NULL));
}

KT_TEST(foreach_tolerates_changes)
{
	struct fc_store *s = fc_store_new();
	struct mut m = {s, 0};

	fc_store_put(s, FC_KIND_POD, mkobj("a", "p1", NULL));
	fc_store_put(s, FC_KIND_POD, mkobj("a", "p2", NULL));
	fc_store_foreach(s, FC_KIND_POD, NULL, mutate, &m);
	KT_CHECK_INT_EQ(m.calls, 2);
	KT_CHECK(fc_store_get(s, FC_KIND_POD, "zz", "p1") &&
		 fc_store_get(s, FC_KIND_POD, "zz", "p2"));
	KT_CHECK(!fc_store_get(s, FC_KIND_POD, "a", "p1"));
	fc_store_free(s);
}

KT_TEST(watch_live_and_delete)
{
	struct fc_store *s = fc_store_new();
	struct rec all = {0}, shop = {0}, svc = {0};
	int err = 1;
	struct fc_watch *w1 = fc_store_watch(s, FC_KIND_POD, NULL, 0, rec_fn, &all, &err);
	struct fc_watch *w2 = fc_store_watch(s, FC_KIND_POD, "shop", 0, rec_fn, &shop, NULL);
	struct fc_watch *w3 = fc_store_watch(s, FC_KIND_SERVICE, NULL, 0, rec_fn, &svc, NULL);

	KT_CHECK_INT_EQ(err, 0);
	KT_REQUIRE(w1 && w2 && w3);
	fc_store_put(s, FC_KIND_POD, mkobj("shop", "a", "x"));
	fc_store_put(s, FC_KIND_POD, mkobj("data", "b", "x"));
	fc_store_put(s, FC_KIND_POD, mkobj("shop", "a", "y"));
	KT_CHECK_INT_EQ(fc_store_delete(s, FC_KIND_POD, "shop", "a"), 0);
	KT_CHECK_INT_EQ(fc_store_delete(s, FC_KIND_POD, "shop", "a"), -ENOENT);
	KT_CHECK_INT_EQ(fc_store_rv(s), 4);
	KT_REQUIRE(all.n == 4);
	KT_CHECK_STR_EQ(all.log[0], "ADDED shop/a 1 x");
	KT_CHECK_STR_EQ(all.log[1], "ADDED data/b 2 x");
	KT_CHECK_STR_EQ(all.log[2], "MODIFIED shop/a 3 y");
	KT_CHECK_STR_EQ(all.log[3], "DELETED shop/a 4 y");
	KT_REQUIRE(shop.n == 3);
	KT_CHECK_STR_EQ(shop.log[2], "DELETED shop/a 4 y");
	KT_CHECK_INT_EQ(svc.n, 0);
	fc_store_unwatch(s, w2);
	fc_store_put(s, FC_KIND_POD, mkobj("shop", "c", NULL));
	KT_CHECK_INT_EQ(shop.n, 3);
	KT_CHECK_INT_EQ(all.n, 5);
	/* Watches still registered at free time are freed with the store. */
	fc_store_free(s);
}

/* The DELETED object carries the deletion's resourceVersion. */
static void check_deleted_rv(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	char want[24];

	snprintf(want, sizeof(want), "%llu", (unsigned long long)rv);
	if (type == FC_EVENT_DELETED && strcmp(md_str(obj, "resourceVersion"), want) == 0)
		(*(int *)arg)++;
}

KT_TEST(deleted_object_has_new_rv)
{
	struct fc_store *s = fc_store_new();
	int ok = 0;

	fc_store_put(s, FC_KIND_SERVICE, mkobj("a", "s", NULL));
	fc_store_watch(s, FC_KIND_SERVICE, NULL, 0, check_deleted_rv, &ok, NULL);
	fc_store_delete(s, FC_KIND_SERVICE, "a", "s");
	KT_CHECK_INT_EQ(ok, 1);
	fc_store_free(s);
}

KT_TEST(watch_replays_history)
{
	struct fc_store *s = fc_store_new();
	struct rec r = {0}, none = {0};
	int err = 1;

	fc_store_put(s, FC_KIND_POD, mkobj("shop", "a", "1"));	    /* rv 1 */
	fc_store_put(s, FC_KIND_SERVICE, mkobj("shop", "a", NULL)); /* rv 2 */
	fc_store_put(s, FC_KIND_POD, mkobj("data", "b", "1"));	    /* rv 3 */
	fc_store_put(s, FC_KIND_POD, mkobj("shop", "a", "2"));	    /* rv 4 */
	fc_store_delete(s, FC_KIND_POD, "shop", "a");		    /* rv 5 */
	struct fc_watch *w = fc_store_watch(s, FC_KIND_POD, "shop", 1, rec_fn, &r, &err);
	KT_CHECK_INT_EQ(err, 0);
	KT_REQUIRE(w);
	KT_REQUIRE(r.n == 2);
	KT_CHECK_STR_EQ(r.log[0], "MODIFIED shop/a 4 2");
	KT_CHECK_STR_EQ(r.log[1], "DELETED shop/a 5 2");
	fc_store_put(s, FC_KIND_POD, mkobj("shop", "z", NULL)); /* live after replay: rv 6 */
	KT_REQUIRE(r.n == 3);
	KT_CHECK_STR_EQ(r.log[2], "ADDED shop/z 6 ");
	/* Watching from the current rv (or 0) replays nothing. */
	fc_store_watch(s, FC_KIND_POD, NULL, fc_store_rv(s), rec_fn, &none, NULL);
	fc_store_watch(s, FC_KIND_POD, NULL, 0, rec_fn, &none, NULL);
	KT_CHECK_INT_EQ(none.n, 0);
	/* A future rv is not an error. */
	KT_CHECK(fc_store_watch(s, FC_KIND_POD, NULL, 1000, rec_fn, &none, &err));
	KT_CHECK_INT_EQ(err, 0);
	KT_CHECK_INT_EQ(none.n, 0);
	fc_store_free(s);
}

static void count_fn(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	(void)type;
	(void)obj;
	(void)rv;
	(*(int *)arg)++;
}

KT_TEST(history_bounded_estale)
{
	struct fc_store *s = fc_store_new();
	int err = 0, n = 0;

	for (int i = 0; i < 5000; i++)
		KT_REQUIRE(
		    fc_store_put(s, FC_KIND_POD, mkobj("ns", i % 2 ? "odd" : "even", NULL)) == 0);
	KT_CHECK_INT_EQ(fc_store_rv(s), 5000);
	/* The last 4096 events (905..5000) are kept: replay from 904 works, 903 is too old. */
	KT_CHECK(!fc_store_watch(s, FC_KIND_POD, NULL, 903, count_fn, &n, &err));
	KT_CHECK_INT_EQ(err, -ESTALE);
	KT_CHECK_INT_EQ(n, 0);
	KT_CHECK(!fc_store_watch(s, FC_KIND_POD, NULL, 1, count_fn, &n, &err));
	KT_CHECK_INT_EQ(err, -ESTALE);
	KT_CHECK(fc_store_watch(s, FC_KIND_POD, NULL, 904, count_fn, &n, &err));
	KT_CHECK_INT_EQ(err, 0);
	KT_CHECK_INT_EQ(n, 4096);
	fc_store_free(s);
}

/* --history N and the compaction of /fake/v1/watch/expire. */
KT_TEST(history_limit_and_compaction)
{
	struct fc_store *s = fc_store_new();
	int err = 0, n = 0;

	for (int i = 0; i < 10; i++)
		KT_REQUIRE(fc_store_put(s, FC_KIND_POD, mkobj("ns", i % 2 ? "a" : "b", NULL)) == 0);
	fc_store_set_history(s, 3); /* keeps 8..10: replay from 7 works, 6 is too old */
	KT_CHECK(!fc_store_watch(s, FC_KIND_POD, NULL, 6, count_fn, &n, &err));
	KT_CHECK_INT_EQ(err, -ESTALE);
	KT_CHECK(fc_store_watch(s, FC_KIND_POD, NULL, 7, count_fn, &n, &err));
	KT_CHECK_INT_EQ(n, 3);
	KT_REQUIRE(fc_store_put(s, FC_KIND_POD, mkobj("ns", "a", NULL)) == 0); /* rv 11 */
	KT_CHECK(!fc_store_watch(s, FC_KIND_POD, NULL, 7, count_fn, &n, &err));
	KT_CHECK_INT_EQ(err, -ESTALE);
	/* Compaction: only the current resourceVersion can resume. */
	fc_store_compact(s);
	KT_CHECK(!fc_store_watch(s, FC_KIND_POD, NULL, 10, count_fn, &n, &err));
	KT_CHECK_INT_EQ(err, -ESTALE);
	n = 0;
	KT_CHECK(fc_store_watch(s, FC_KIND_POD, NULL, 11, count_fn, &n, &err));
	KT_CHECK_INT_EQ(n, 0);
	KT_REQUIRE(fc_store_put(s, FC_KIND_POD, mkobj("ns", "b", NULL)) == 0); /* rv 12, live */
	KT_CHECK_INT_EQ(n, 2); /* this watch and the one from 7 */
	fc_store_free(s);
}

/* Watchers that unwatch themselves or others from inside a callback. */
struct killer {
	struct fc_store *s;
	struct fc_watch *self, *victim;
	int calls;
};

static void kill_fn(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct killer *k = arg;

	(void)type;
	(void)obj;
	(void)rv;
	k->calls++;
	if (k->victim) {
		fc_store_unwatch(k->s, k->victim);
		k->victim = NULL;
	}
	if (k->self) {
		fc_store_unwatch(k->s, k->self);
		k->self = NULL;
	}
}

KT_TEST(unwatch_inside_callback)
{
	struct fc_store *s = fc_store_new();
	struct killer a = {s, NULL, NULL, 0}, b = {s, NULL, NULL, 0}, c = {s, NULL, NULL, 0};

	/* The list order is newest first: c runs, then b, then a. c unwatches a (not yet called
	 * for this event) and itself; b stays. */
	a.self = fc_store_watch(s, FC_KIND_POD, NULL, 0, kill_fn, &a, NULL);
	struct fc_watch *wb = fc_store_watch(s, FC_KIND_POD, NULL, 0, kill_fn, &b, NULL);
	c.self = fc_store_watch(s, FC_KIND_POD, NULL, 0, kill_fn, &c, NULL);
	c.victim = a.self;
	a.self = NULL;
	fc_store_put(s, FC_KIND_POD, mkobj("n", "x", NULL));
	KT_CHECK_INT_EQ(c.calls, 1);
	KT_CHECK_INT_EQ(b.calls, 1);
	KT_CHECK_INT_EQ(a.calls, 0);
	fc_store_put(s, FC_KIND_POD, mkobj("n", "y", NULL));
	KT_CHECK_INT_EQ(c.calls, 1);
	KT_CHECK_INT_EQ(b.calls, 2);
	KT_CHECK_INT_EQ(a.calls, 0);
	fc_store_unwatch(s, wb);
	fc_store_put(s, FC_KIND_POD, mkobj("n", "z", NULL));
	KT_CHECK_INT_EQ(b.calls, 2);
	fc_store_free(s);
}

/* A callback that changes the store: every watcher still sees events in resourceVersion
 * order (the nested change is delivered after the current event reached everyone). */
struct chain {
	struct fc_store *s;
	uint64_t last_rv;
	int out_of_order;
	int n;
};

static void chain_fn(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct chain *c = arg;

	if (rv <= c->last_rv)
		c->out_of_order++;
	c->last_rv = rv;
	c->n++;
	if (type == FC_EVENT_ADDED && strcmp(md_str(obj, "name"), "trigger") == 0) {
		fc_store_put(c->s, FC_KIND_POD, mkobj("n", "child1", NULL));
		fc_store_put(c->s, FC_KIND_POD, mkobj("n", "child2", NULL));
	}
}

static void order_fn(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct chain *c = arg;

	(void)type;
	(void)obj;
	if (rv <= c->last_rv)
		c->out_of_order++;
	c->last_rv = rv;
	c->n++;
}

KT_TEST(nested_changes_keep_order)
{
	struct fc_store *s = fc_store_new();
	struct chain first = {s, 0, 0, 0}, second = {s, 0, 0, 0};

	fc_store_watch(s, FC_KIND_POD, NULL, 0, order_fn, &second, NULL);
	fc_store_watch(s, FC_KIND_POD, NULL, 0, chain_fn, &first, NULL); /* called first */
	fc_store_put(s, FC_KIND_POD, mkobj("n", "trigger", NULL));
	KT_CHECK_INT_EQ(fc_store_rv(s), 3);
	KT_CHECK_INT_EQ(first.n, 3);
	KT_CHECK_INT_EQ(second.n, 3);
	KT_CHECK_INT_EQ(first.out_of_order, 0);
	KT_CHECK_INT_EQ(second.out_of_order, 0);
	fc_store_free(s);
}

/* A watch created from inside a callback sees neither the current event twice nor misses
 * events queued behind it. */
struct spawner {
	struct fc_store *s;
	struct rec *child;
	bool done;
};

static void spawn_fn(void *arg, enum fc_event_type type, const cJSON *obj, uint64_t rv)
{
	struct spawner *sp = arg;

	(void)type;
	(void)obj;
	if (sp->done)
		return;
	sp->done = true;
	fc_store_put(sp->s, FC_KIND_POD, mkobj("n", "queued", NULL)); /* rv+1, queued */
	fc_store_watch(sp->s, FC_KIND_POD, NULL, rv - 1, rec_fn, sp->child, NULL);
}

KT_TEST(watch_created_in_callback)
{
	struct fc_store *s = fc_store_new();
	struct rec child = {0};
	struct spawner sp = {s, &child, false};

	fc_store_put(s, FC_KIND_POD, mkobj("n", "zero", NULL)); /* rv 1, before the watch */
	fc_store_watch(s, FC_KIND_POD, NULL, 0, spawn_fn, &sp, NULL);
	fc_store_put(s, FC_KIND_POD, mkobj("n", "first", NULL)); /* rv 2 */
	if (child.n == 2) {
		KT_CHECK_STR_EQ(child.log[0], "ADDED n/first 2 ");
		KT_CHECK_STR_EQ(child.log[1], "ADDED n/queued 3 ");
	}
	fc_store_put(s, FC_KIND_POD, mkobj("n", "later", NULL));
	KT_CHECK_INT_EQ(child.n, 3);
	KT_CHECK_STR_EQ(child.log[2], "ADDED n/later 4 ");
	fc_store_free(s);
}

KT_TEST_MAIN()
