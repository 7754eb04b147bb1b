/* loop.h: the fake cluster's single-threaded event loop (poll(2) + one-shot timers).
 *
 * Every fd and timer of the process lives here; callbacks run on the loop thread only.
 * fc_loop_defer() queues a call for after the current dispatch round: the safe place to free an
 * object whose callback is still on the stack. Times are CLOCK_MONOTONIC milliseconds. */
#ifndef FC_LOOP_H
#define FC_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct fc_loop;
struct fc_timer;

typedef void (*fc_loop_io_fn)(void *arg, short revents);
typedef void (*fc_loop_fn)(void *arg);

struct fc_loop *fc_loop_new(void);
void fc_loop_free(struct fc_loop *loop);

/* Watch fd for events (POLLIN/POLLOUT); a second call for the same fd replaces events/fn/arg. */
int fc_loop_watch(struct fc_loop *loop, int fd, short events, fc_loop_io_fn fn, void *arg);
/* Change only the events of a watched fd. */
int fc_loop_set_events(struct fc_loop *loop, int fd, short events);
void fc_loop_unwatch(struct fc_loop *loop, int fd);

/* One-shot timer; the returned handle is valid until it fires or is cancelled. */
struct fc_timer *fc_loop_timer(struct fc_loop *loop, uint64_t delay_ms, fc_loop_fn fn, void *arg);
void fc_loop_timer_cancel(struct fc_loop *loop, struct fc_timer *t); /* NULL is a no-op */

int fc_loop_defer(struct fc_loop *loop, fc_loop_fn fn, void *arg);

uint64_t fc_loop_now(const struct fc_loop *loop);
/* Runs until fc_loop_stop(); returns 0, or -errno on a poll failure. */
int fc_loop_run(struct fc_loop *loop);
void fc_loop_stop(struct fc_loop *loop);

#endif
