/* loop.c: the fake cluster's event loop: poll(2) over watched fds, one-shot timers in a binary
 * min-heap, and a FIFO of deferred calls.
 *
 * Invariants: watches[i] and pfds[i] describe the same fd; fd_slot[fd] is the index of the live
 * watch of fd or -1. Callbacks may watch, unwatch and re-watch fds and add or cancel timers
 * while the loop dispatches: an unwatched slot is only marked dead (fd -1) during a dispatch
 * round and compacted afterwards, and a re-watch of the same fd number takes a new slot, so
 * stale poll results never reach a new watcher. A timer is freed only after its callback has
 * returned, so cancelling it from inside its own callback is a harmless no-op. fc_loop_run()
 * drains the defer queue before it returns; fc_loop_free() runs calls queued after that (during
 * teardown) before freeing. The loop owns its timers and its arrays, never the fds. */
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMER_FIRING SIZE_MAX

struct fc_timer {
	uint64_t due;
	uint64_t seq; /* insertion order: equal deadlines fire first-in first-out */
	size_t idx;   /* position in the heap, or TIMER_FIRING while its callback runs */
	bool cancelled;
	fc_loop_fn fn;
	void *arg;
};

struct watch {
	int fd; /* -1: dead slot awaiting compaction */
	fc_loop_io_fn fn;
	void *arg;
};

struct deferred {
	fc_loop_fn fn;
	void *arg;
};

struct fc_loop {
	struct pollfd *pfds;
	struct watch *watches;
	size_t nwatch, capwatch;
	int *fd_slot; /* indexed by fd */
	size_t fd_slot_cap;
	bool dispatching;
	bool need_compact;

	struct fc_timer **heap;
	size_t nheap, capheap;
	uint64_t timer_seq;

	struct deferred *defq;
	size_t defhead, deflen, defcap; /* ring buffer */

	bool stop;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t fc_loop_now(const struct fc_loop *loop)
{
	(void)loop;
	return mono_ms();
}

struct fc_loop *fc_loop_new(void)
{
	struct fc_loop *loop = calloc(1, sizeof(*loop));
	return loop;
}

static void run_deferred(struct fc_loop *loop)
{
	/* FIFO: a call deferred by a deferred call runs after everything queued before it. */
	while (loop->deflen > 0) {
		struct deferred d = loop->defq[loop->defhead];
		loop->defhead = (loop->defhead + 1) % loop->defcap;
		loop->deflen--;
		d.fn(d.arg);
	}
	loop->defhead = 0;
}

void fc_loop_free(struct fc_loop *loop)
{
	if (!loop)
		return;
	run_deferred(loop);
	for (size_t i = 0; i < loop->nheap; i++)
		free(loop->heap[i]);
	free(loop->heap);
	free(loop->defq);
	free(loop->pfds);
	free(loop->watches);
	free(loop->fd_slot);
	free(loop);
}

/* --- fds --- */

static int ensure_fd_slot(struct fc_loop *loop, int fd)
{
	if ((size_t)fd < loop->fd_slot_cap)
		return 0;
	size_t ncap = loop->fd_slot_cap ? loop->fd_slot_cap : 64;
	while (ncap <= (size_t)fd)
		ncap *= 2;
	int *n = realloc(loop->fd_slot, ncap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (size_t i = loop->fd_slot_cap; i < ncap; i++)
		n[i] = -1;
	loop->fd_slot = n;
	loop->fd_slot_cap = ncap;
	return 0;
}

int fc_loop_watch(struct fc_loop *loop, int fd, short events, fc_loop_io_fn fn, void *arg)
{
	if (fd < 0 || !fn)
		return -EINVAL;
	int r = ensure_fd_slot(loop, fd);
	if (r < 0)
		return r;
	int slot = loop->fd_slot[fd];
	if (slot >= 0) {
		loop->watches[slot].fn = fn;
		loop->watches[slot].arg = arg;
		loop->pfds[slot].events = events;
		return 0;
	}
	if (loop->nwatch == loop->capwatch) {
		size_t ncap = loop->capwatch ? loop->capwatch * 2 : 16;
		struct pollfd *np = realloc(loop->pfds, ncap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		loop->pfds = np;
		struct watch *nw = realloc(loop->watches, ncap * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		loop->watches = nw;
		loop->capwatch = ncap;
	}
	size_t i = loop->nwatch++;
	loop->pfds[i] = (struct pollfd){.fd = fd, .events = events, .revents = 0};
	loop->watches[i] = (struct watch){.fd = fd, .fn = fn, .arg = arg};
	loop->fd_slot[fd] = (int)i;
	return 0;
}

int fc_loop_set_events(struct fc_loop *loop, int fd, short events)
{
	if (fd < 0 || (size_t)fd >= loop->fd_slot_cap || loop->fd_slot[fd] < 0)
		return -ENOENT;
	loop->pfds[loop->fd_slot[fd]].events = events;
	return 0;
}

static void remove_slot(struct fc_loop *loop, size_t i)
{
	size_t last = loop->nwatch - 1;
	if (i != last) {
		loop->pfds[i] = loop->pfds[last];
		loop->watches[i] = loop->watches[last];
		loop->fd_slot[loop->watches[i].fd] = (int)i;
	}
	loop->nwatch--;
}

void fc_loop_unwatch(struct fc_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->fd_slot_cap || loop->fd_slot[fd] < 0)
		return;
	size_t i = (size_t)loop->fd_slot[fd];
	loop->fd_slot[fd] = -1;
	if (loop->dispatching) {
		/* Keep indices stable while the dispatch loop walks pfds. */
		loop->watches[i].fd = -1;
		loop->pfds[i].fd = -1;
		loop->pfds[i].events = 0;
		loop->need_compact = true;
		return;
	}
	remove_slot(loop, i);
}

static void compact(struct fc_loop *loop)
{
	size_t i = 0;
	while (i < loop->nwatch) {
		if (loop->watches[i].fd < 0) {
			size_t last = loop->nwatch - 1;
			if (i != last) {
				loop->pfds[i] = loop->pfds[last];
				loop->watches[i] = loop->watches[last];
				if (loop->watches[i].fd >= 0)
					loop->fd_slot[loop->watches[i].fd] = (int)i;
			}
			loop->nwatch--;
			continue; /* re-examine the slot we just filled */
		}
		i++;
	}
	loop->need_compact = false;
}

/* --- timers: binary min-heap on (due, seq) --- */

static bool timer_before(const struct fc_timer *a, const struct fc_timer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(struct fc_loop *loop, size_t i, struct fc_timer *t)
{
	loop->heap[i] = t;
	t->idx = i;
}

static void sift_up(struct fc_loop *loop, size_t i)
{
	struct fc_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void sift_down(struct fc_loop *loop, size_t i)
{
	struct fc_timer *t = loop->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct fc_timer *best = t;
		if (l < loop->nheap && timer_before(loop->heap[l], best)) {
			m = l;
			best = loop->heap[l];
		}
		if (r < loop->nheap && timer_before(loop->heap[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(loop, i, loop->heap[m]);
		i = m;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct fc_loop *loop, size_t i)
{
	size_t last = --loop->nheap;
	if (i == last)
		return;
	heap_set(loop, i, loop->heap[last]);
	if (i > 0 && timer_before(loop->heap[i], loop->heap[(i - 1) / 2]))
		sift_up(loop, i);
	else
		sift_down(loop, i);
}

struct fc_timer *fc_loop_timer(struct fc_loop *loop, uint64_t delay_ms, fc_loop_fn fn, void *arg)
{
	if (!fn)
		return NULL;
	if (loop->nheap == loop->capheap) {
		size_t ncap = loop->capheap ? loop->capheap * 2 : 16;
		struct fc_timer **nh = realloc(loop->heap, ncap * sizeof(*nh));
		if (!nh)
			return NULL;
		loop->heap = nh;
		loop->capheap = ncap;
	}
	struct fc_timer *t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	uint64_t now = mono_ms();
	*t = (struct fc_timer){
	    .due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms,
	    .seq = loop->timer_seq++,
	    .fn = fn,
	    .arg = arg,
	};
	heap_set(loop, loop->nheap++, t);
	sift_up(loop, t->idx);
	return t;
}

void fc_loop_timer_cancel(struct fc_loop *loop, struct fc_timer *t)
{
	if (!t)
		return;
	if (t->idx == TIMER_FIRING) {
		/* Its callback is on the stack; the dispatcher frees it afterwards. */
		t->cancelled = true;
		return;
	}
	heap_remove(loop, t->idx);
	free(t);
}

static void run_timers(struct fc_loop *loop)
{
	uint64_t now = mono_ms();
	/* Timers created by callbacks of this round wait for the next one, so a callback that
	 * re-arms itself with delay 0 cannot starve fd events. */
	uint64_t seq_limit = loop->timer_seq;
	while (loop->nheap > 0) {
		struct fc_timer *t = loop->heap[0];
		if (t->due > now || t->seq >= seq_limit)
			break;
		heap_remove(loop, 0);
		t->idx = TIMER_FIRING;
		t->fn(t->arg);
		free(t);
	}
}

static int next_timeout(const struct fc_loop *loop)
{
	if (loop->deflen > 0)
		return 0;
	if (loop->nheap == 0)
		return -1;
	uint64_t now = mono_ms(), due = loop->heap[0]->due;
	if (due <= now)
		return 0;
	uint64_t d = due - now;
	return d > INT_MAX ? INT_MAX : (int)d;
}

/* --- defer --- */

int fc_loop_defer(struct fc_loop *loop, fc_loop_fn fn, void *arg)
{
	if (!fn)
		return -EINVAL;
	if (loop->deflen == loop->defcap) {
		size_t ncap = loop->defcap ? loop->defcap * 2 : 64;
		struct deferred *nq = malloc(ncap * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		for (size_t i = 0; i < loop->deflen; i++)
			nq[i] = loop->defq[(loop->defhead + i) % loop->defcap];
		free(loop->defq);
		loop->defq = nq;
		loop->defcap = ncap;
		loop->defhead = 0;
	}
	loop->defq[(loop->defhead + loop->deflen) % loop->defcap] = (struct deferred){fn, arg};
	loop->deflen++;
	return 0;
}

/* --- run --- */

static void dispatch_fds(struct fc_loop *loop)
{
	loop->dispatching = true;
	size_t n = loop->nwatch; /* watches added by callbacks wait for the next poll */
	for (size_t i = 0; i < n; i++) {
		short rev = loop->pfds[i].revents;
		if (!rev)
			continue;
		loop->pfds[i].revents = 0;
		if (loop->watches[i].fd < 0)
			continue;
		/* A callback earlier in this round may have narrowed the interest set. */
		rev &= (short)(loop->pfds[i].events | POLLERR | POLLHUP | POLLNVAL);
		if (!rev)
			continue;
		struct watch w = loop->watches[i];
		w.fn(w.arg, rev);
	}
	loop->dispatching = false;
	if (loop->need_compact)
		compact(loop);
}

int fc_loop_run(struct fc_loop *loop)
{
	loop->stop = false;
	int ret = 0;
	while (!loop->stop) {
		int timeout = next_timeout(loop);
		for (size_t i = 0; i < loop->nwatch; i++)
			loop->pfds[i].revents = 0;
		int n = poll(loop->pfds, loop->nwatch, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n > 0)
			dispatch_fds(loop);
		run_timers(loop);
		run_deferred(loop);
	}
	run_deferred(loop);
	return ret;
}

void fc_loop_stop(struct fc_loop *loop)
{
	loop->stop = true;
}
