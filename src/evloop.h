/* evloop.h: kubetund's one event loop; libwebsockets owns it.
 *
 * The daemon is single-threaded: the TUN fd, lwIP's timers, the control socket and every
 * Kubernetes API connection are served from one lws_context. This header hides libwebsockets
 * from the rest of the daemon: foreign fds are adopted into the loop (raw file descriptors) and
 * timers are lws_sul timers. The Kubernetes client (k8s.c, pf.c) reaches the lws_context through
 * the private header evloop_lws.h. Callbacks run on the loop thread only; kt_evloop_stop() is
 * async-signal-safe so SIGTERM handlers can use it. */
#ifndef KT_EVLOOP_H
#define KT_EVLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_evloop;
struct kt_timer;

enum { KT_EV_READ = 1, KT_EV_WRITE = 2, KT_EV_ERROR = 4 };

typedef void (*kt_evloop_fd_fn)(void *arg, int fd, unsigned events);
typedef void (*kt_evloop_fn)(void *arg);

struct kt_evloop *kt_evloop_new(char *err, size_t errcap);
void kt_evloop_free(struct kt_evloop *l);

/* Watch fd (not owned; the caller closes it after kt_evloop_unwatch). events: KT_EV_READ|WRITE. */
int kt_evloop_watch(struct kt_evloop *l, int fd, unsigned events, kt_evloop_fd_fn fn, void *arg);
int kt_evloop_set_events(struct kt_evloop *l, int fd, unsigned events);
void kt_evloop_unwatch(struct kt_evloop *l, int fd);

/* Timers are caller-allocated through these functions and re-armable; arming an armed timer
 * moves it. A disarmed timer costs no wakeups. */
struct kt_timer *kt_timer_new(struct kt_evloop *l, kt_evloop_fn fn, void *arg);
void kt_timer_arm(struct kt_timer *t, uint64_t delay_ms);
void kt_timer_disarm(struct kt_timer *t);
bool kt_timer_armed(const struct kt_timer *t);
void kt_timer_free(struct kt_timer *t); /* disarms; NULL is a no-op */

uint64_t kt_evloop_now_ms(const struct kt_evloop *l); /* monotonic */
/* fn(arg) runs after every round of events and timers, before the loop waits again: for work
 * batched during the round (the netstack's output). One hook; NULL removes it. */
void kt_evloop_set_round_end(struct kt_evloop *l, kt_evloop_fn fn, void *arg);
int kt_evloop_run(struct kt_evloop *l);	  /* until kt_evloop_stop() */
void kt_evloop_stop(struct kt_evloop *l); /* async-signal-safe */

#endif
