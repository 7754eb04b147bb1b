/* test_loop.c: the fake cluster's event loop: timer order and cancellation (also from inside
 * callbacks and with thousands of timers), the defer queue, and fd events on pipes including
 * unwatching and re-watching while the loop dispatches. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_test.h"
#include "loop.h"

struct rec {
	struct fc_loop *loop;
	int order[64];
	int n;
};

struct tctx {
	struct rec *rec;
	int id;
};

static void record(void *arg)
{
	struct tctx *t = arg;
	if (t->rec->n < 64)
		t->rec->order[t->rec->n++] = t->id;
}

static void stop_loop(void *arg)
{
	fc_loop_stop(arg);
}

KT_TEST(timers_fire_in_deadline_then_insertion_order)
{
	struct fc_loop *loop = fc_loop_new();
	KT_REQUIRE(loop);
	struct rec rec = {.loop = loop};
	struct tctx t[5] = {{&rec, 1}, {&rec, 2}, {&rec, 3}, {&rec, 4}, {&rec, 5}};
	KT_CHECK(fc_loop_timer(loop, 30, record, &t[0]));
	KT_CHECK(fc_loop_timer(loop, 10, record, &t[1]));
	KT_CHECK(fc_loop_timer(loop, 20, record, &t[2]));
	KT_CHECK(fc_loop_timer(loop, 10, record, &t[3]));
	KT_CHECK(fc_loop_timer(loop, 0, record, &t[4]));
	KT_CHECK(fc_loop_timer(loop, 40, stop_loop, loop));
	uint64_t t0 = fc_loop_now(loop);
	KT_CHECK_INT_EQ(fc_loop_run(loop), 0);
	KT_CHECK(fc_loop_now(loop) - t0 >= 40);
	KT_CHECK_INT_EQ(rec.n, 5);
	KT_CHECK_INT_EQ(rec.order[0], 5);
	KT_CHECK_INT_EQ(rec.order[1], 2);
	KT_CHECK_INT_EQ(rec.order[2], 4);
	KT_CHECK_INT_EQ(rec.order[3], 3);
	KT_CHECK_INT_EQ(rec.order[4], 1);
	fc_loop_free(loop);
}

struct canceller {
	struct fc_loop *loop;
	struct fc_timer *victim;
	struct fc_timer *self;
	int fired;
};

static void cancel_other(void *arg)
{
	struct canceller *c = arg;
	c->fired++;
	fc_loop_timer_cancel(c->loop, c->victim);
	/* Cancelling the timer that is firing must be harmless. */
	fc_loop_timer_cancel(c->loop, c->self);
}

KT_TEST(timer_cancel_before_and_during_dispatch)
{
	struct fc_loop *loop = fc_loop_new();
	KT_REQUIRE(loop);
	struct rec rec = {.loop = loop};
	struct tctx t[3] = {{&rec, 1}, {&rec, 2}, {&rec, 3}};
	struct fc_timer *a = fc_loop_timer(loop, 5, record, &t[0]);
	struct fc_timer *b = fc_loop_timer(loop, 15, record, &t[1]);
	KT_CHECK(fc_loop_timer(loop, 15, record, &t[2]));
	fc_loop_timer_cancel(loop, a);
	fc_loop_timer_cancel(loop, NULL);
	/* Same deadline as b but earlier in the heap order: cancels b before it fires. */
	struct canceller c = {.loop = loop, .victim = b};
	c.self = fc_loop_timer(loop, 10, cancel_other, &c);
	KT_CHECK(fc_loop_timer(loop, 30, stop_loop, loop));
	KT_CHECK_INT_EQ(fc_loop_run(loop), 0);
	KT_CHECK_INT_EQ(c.fired, 1);
	KT_CHECK_INT_EQ(rec.n, 1);
	KT_CHECK_INT_EQ(rec.order[0], 3);
	fc_loop_free(loop);
}

struct many {
	struct fc_loop *loop;
	uint64_t max_lo;
	uint64_t lo[4096], hi[4096]; /* bounds of each timer's absolute deadline */
	int fired;
	bool out_of_order;
};

struct many_t {
	struct many *m;
	int idx;
};

static void many_fire(void *arg)
{
	struct many_t *t = arg;
	struct many *m = t->m;
	/* A timer must not fire after one whose deadline is surely later than its own. */
	if (m->hi[t->idx] < m->max_lo)
		m->out_of_order = true;
	if (m->lo[t->idx] > m->max_lo)
		m->max_lo = m->lo[t->idx];
	m->fired++;
}

KT_TEST(thousands_of_timers_fire_sorted_and_cancel_cheaply)
{
	struct fc_loop *loop = fc_loop_new();
	KT_REQUIRE(loop);
	static struct many m;
	static struct many_t ts[4096];
	static struct fc_timer *handles[4096];
	memset(&m, 0, sizeof(m));
	m.loop = loop;
	srand(7);
	for (int i = 0; i < 4096; i++) {
		uint64_t delay = (uint64_t)(rand() % 60);
		ts[i] = (struct many_t){&m, i};
		m.lo[i] = fc_loop_now(loop) + delay;
		handles[i] = fc_loop_timer(loop, delay, many_fire, &ts[i]);
		m.hi[i] = fc_loop_now(loop) + delay;
		KT_REQUIRE(handles[i]);
	}
	/* Cancel every third one, in an order unrelated to their deadlines. */
	int cancelled = 0;
	for (int i = 0; i < 4096; i += 3) {
		fc_loop_timer_cancel(loop, handles[i]);
		cancelled++;
	}
	KT_CHECK(fc_loop_timer(loop, 200, stop_loop, loop));
	KT_CHECK_INT_EQ(fc_loop_run(loop), 0);
	KT_CHECK_INT_EQ(m.fired, 4096 - cancelled);
	KT_CHECK(!m.out_of_order);
	fc_loop_free(loop);
}

struct deflog {
	struct fc_loop *loop;
	char log[32];
	int n;
};

struct dctx {
	struct deflog *d;
	char tag;
	bool chain;
};

static void deferred(void *arg)
{
	struct dctx *x = arg;
	x->d->log[x->d->n++] = x->tag;
	if (x->chain) {
		static struct dctx chained;
		chained = (struct dctx){x->d, 'z', false};
		fc_loop_defer(x->d->loop, deferred, &chained);
	}
}

static void timer_defers(void *arg)
{
	struct dctx *x = arg;
	x->d->log[x->d->n++] = 'T';
	fc_loop_defer(x->d->loop, deferred, x);
	fc_loop_stop(x->d->loop);
}

KT_TEST(defer_queue_is_fifo_and_drained)
{
	struct fc_loop *loop = fc_loop_new();
	KT_REQUIRE(loop);
	struct deflog d = {.loop = loop};
	struct dctx a = {&d, 'a', true}, b = {&d, 'b', false}, c = {&d, 'c', false};
	KT_CHECK_INT_EQ(fc_loop_defer(loop, deferred, &a), 0);
	KT_CHECK_INT_EQ(fc_loop_defer(loop, deferred, &b), 0);
	KT_CHECK(fc_loop_timer(loop, 5, timer_defers, &c));
	KT_CHECK_INT_EQ(fc_loop_run(loop), 0);
	/* a's chained call runs after b; the call deferred by the stopping timer still runs. */
	d.log[d.n] = '\0';
	KT_CHECK_STR_EQ(d.log, "abzTc");
	/* Calls queued after the loop stopped (teardown) run in fc_loop_free. */
	struct dctx e = {&d, 'e', false};
	fc_loop_defer(loop, deferred, &e);
	fc_loop_free(loop);
	d.log[d.n] = '\0';
	KT_CHECK_STR_EQ(d.log, "abzTce");
}

struct pipes {
	struct fc_loop *loop;
	int a[2], b[2];
	int a_calls, b_calls, rewatch_calls;
	short a_rev;
};

static void on_b(void *arg, short rev)
{
	struct pipes *p = arg;
	(void)rev;
	p->b_calls++;
}

static void on_rewatched(void *arg, short rev)
{
	struct pipes *p = arg;
	(void)rev;
	p->rewatch_calls++;
	fc_loop_stop(p->loop);
}

/* Unwatches b (which is readable too) and re-watches it with a new callback: neither the old
 * nor the new callback may see b's events from this round. */
static void on_a(void *arg, short rev)
{
	struct pipes *p = arg;
	p->a_calls++;
	p->a_rev = rev;
	char buf[16];
	KT_CHECK(read(p->a[0], buf, sizeof(buf)) == 1);
	fc_loop_unwatch(p->loop, p->b[0]);
	KT_CHECK_INT_EQ(fc_loop_watch(p->loop, p->b[0], POLLIN, on_rewatched, p), 0);
	fc_loop_unwatch(p->loop, p->a[0]);
}

KT_TEST(fd_events_with_unwatch_and_rewatch_during_dispatch)
{
	struct pipes p = {0};
	p.loop = fc_loop_new();
	KT_REQUIRE(p.loop);
	KT_REQUIRE(pipe2(p.a, O_NONBLOCK) == 0 && pipe2(p.b, O_NONBLOCK) == 0);
	/* a is watched first, so it is dispatched before b in the same round. */
	KT_CHECK_INT_EQ(fc_loop_watch(p.loop, p.a[0], POLLIN, on_a, &p), 0);
	KT_CHECK_INT_EQ(fc_loop_watch(p.loop, p.b[0], POLLIN, on_b, &p), 0);
	KT_CHECK(write(p.a[1], "x", 1) == 1);
	KT_CHECK(write(p.b[1], "y", 1) == 1);
	KT_CHECK(fc_loop_timer(p.loop, 2000, stop_loop, p.loop)); /* safety net */
	KT_CHECK_INT_EQ(fc_loop_run(p.loop), 0);
	KT_CHECK_INT_EQ(p.a_calls, 1);
	KT_CHECK(p.a_rev & POLLIN);
	KT_CHECK_INT_EQ(p.b_calls, 0);
	KT_CHECK_INT_EQ(p.rewatch_calls, 1); /* in the next round, through a fresh poll */
	fc_loop_unwatch(p.loop, p.b[0]);
	fc_loop_free(p.loop);
	close(p.a[0]);
	close(p.a[1]);
	close(p.b[0]);
	close(p.b[1]);
}

struct wr {
	struct fc_loop *loop;
	int fd;
	int calls;
};

static void on_writable(void *arg, short rev)
{
	struct wr *w = arg;
	KT_CHECK(rev & POLLOUT);
	w->calls++;
	/* Narrow the interest set: no further callbacks until it is widened again. */
	KT_CHECK_INT_EQ(fc_loop_set_events(w->loop, w->fd, 0), 0);
}

KT_TEST(set_events_changes_interest)
{
	struct wr w = {0};
	int fds[2];
	w.loop = fc_loop_new();
	KT_REQUIRE(w.loop);
	KT_REQUIRE(pipe2(fds, O_NONBLOCK) == 0);
	w.fd = fds[1];
	KT_CHECK_INT_EQ(fc_loop_watch(w.loop, fds[1], POLLOUT, on_writable, &w), 0);
	KT_CHECK(fc_loop_timer(w.loop, 50, stop_loop, w.loop));
	KT_CHECK_INT_EQ(fc_loop_run(w.loop), 0);
	KT_CHECK_INT_EQ(w.calls, 1);
	KT_CHECK_INT_EQ(fc_loop_set_events(w.loop, 12345, POLLIN), -ENOENT);
	fc_loop_unwatch(w.loop, fds[1]);
	fc_loop_unwatch(w.loop, fds[1]); /* twice is harmless */
	fc_loop_free(w.loop);
	close(fds[0]);
	close(fds[1]);
}

KT_TEST(loop_free_null_and_idle_stop)
{
	fc_loop_free(NULL);
	struct fc_loop *loop = fc_loop_new();
	KT_REQUIRE(loop);
	/* A timer far in the future must not fire, and must be freed with the loop. */
	KT_CHECK(fc_loop_timer(loop, 3600 * 1000, stop_loop, loop));
	KT_CHECK(fc_loop_timer(loop, 1, stop_loop, loop));
	KT_CHECK_INT_EQ(fc_loop_run(loop), 0);
	fc_loop_free(loop);
}

KT_TEST_MAIN()
