/* test_evloop.c: the libwebsockets-backed event loop (evloop.h): timers, adopted fds with
 * read/write interest, unwatching from inside callbacks, stop from a signal handler, and an
 * idle loop that burns no CPU. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "evloop.h"
#include "kt_test.h"

static struct kt_evloop *new_loop(void)
{
	char err[256] = "";
	struct kt_evloop *l = kt_evloop_new(err, sizeof(err));

	if (!l)
		fprintf(stderr, "kt_evloop_new: %s\n", err);
	return l;
}

struct order {
	struct kt_evloop *l;
	char seen[16];
	size_t n;
	int stop_after;
};

static void on_a(void *arg)
{
	struct order *o = arg;

	o->seen[o->n++] = 'a';
	if ((int)o->n == o->stop_after)
		kt_evloop_stop(o->l);
}

static void on_b(void *arg)
{
	struct order *o = arg;

	o->seen[o->n++] = 'b';
	if ((int)o->n == o->stop_after)
		kt_evloop_stop(o->l);
}

static void on_c(void *arg)
{
	struct order *o = arg;

	o->seen[o->n++] = 'c';
	if ((int)o->n == o->stop_after)
		kt_evloop_stop(o->l);
}

KT_TEST(timers_fire_in_order_rearm_moves_disarm_cancels)
{
	struct kt_evloop *l = new_loop();
	struct order o = {.stop_after = 2};

	KT_REQUIRE(l);
	o.l = l;
	struct kt_timer *a = kt_timer_new(l, on_a, &o), *b = kt_timer_new(l, on_b, &o),
			*c = kt_timer_new(l, on_c, &o);
	KT_REQUIRE(a && b && c);
	KT_CHECK(!kt_timer_armed(a));
	kt_timer_arm(a, 30);
	kt_timer_arm(b, 10);
	kt_timer_arm(c, 20);
	kt_timer_arm(a, 5); /* moves a in front */
	kt_timer_disarm(c);
	KT_CHECK(kt_timer_armed(a));
	KT_CHECK(!kt_timer_armed(c));
	uint64_t t0 = kt_evloop_now_ms(l);
	KT_CHECK_INT_EQ(kt_evloop_run(l), 0);
	uint64_t dt = kt_evloop_now_ms(l) - t0;
	KT_CHECK_INT_EQ(o.n, 2);
	KT_CHECK_MEM_EQ(o.seen, "ab", 2);
	KT_CHECK(dt >= 9 && dt < 1000);
	KT_CHECK(!kt_timer_armed(a) && !kt_timer_armed(b));
	kt_timer_free(a);
	kt_timer_free(b);
	kt_timer_free(c);
	kt_timer_free(NULL);
	kt_evloop_free(l);
	kt_evloop_free(NULL);
}

struct selfre {
	struct kt_evloop *l;
	struct kt_timer *t;
	int fired;
};

static void on_selfre(void *arg)
{
	struct selfre *s = arg;

	if (++s->fired < 3) {
		kt_timer_arm(s->t, 1);
		return;
	}
	kt_timer_free(s->t); /* freeing a timer from its own callback */
	s->t = NULL;
	kt_evloop_stop(s->l);
}

KT_TEST(timer_rearms_and_frees_itself_in_its_callback)
{
	struct kt_evloop *l = new_loop();
	struct selfre s = {0};

	KT_REQUIRE(l);
	s.l = l;
	s.t = kt_timer_new(l, on_selfre, &s);
	kt_timer_arm(s.t, 0);
	KT_CHECK_INT_EQ(kt_evloop_run(l), 0);
	KT_CHECK_INT_EQ(s.fired, 3);
	KT_CHECK(s.t == NULL);
	kt_evloop_free(l);
}

struct fdw {
	struct kt_evloop *l;
	int rd, wr;
	int reads, writes, errors;
	size_t bytes;
	bool unwatch_in_cb;
	int stop_at_writes;
};

static void on_fd(void *arg, int fd, unsigned ev)
{
	struct fdw *w = arg;
	char buf[64];
	ssize_t n;

	if (ev & KT_EV_READ) {
		w->reads++;
		n = read(fd, buf, sizeof(buf));
		if (n > 0)
			w->bytes += (size_t)n;
		if (w->unwatch_in_cb)
			kt_evloop_unwatch(w->l, fd);
		kt_evloop_stop(w->l);
	}
	if (ev & KT_EV_WRITE) {
		w->writes++;
		if (w->writes == w->stop_at_writes) {
			kt_evloop_set_events(w->l, fd, 0);
			kt_evloop_stop(w->l);
		}
	}
	if (ev & KT_EV_ERROR) {
		w->errors++;
		kt_evloop_stop(w->l);
	}
}

static void stop_cb(void *arg)
{
	kt_evloop_stop(arg);
}

/* Runs the loop at most ms milliseconds. */
static void run_max(struct kt_evloop *l, unsigned ms)
{
	struct kt_timer *t = kt_timer_new(l, stop_cb, l);

	kt_timer_arm(t, ms);
	kt_evloop_run(l);
	kt_timer_free(t);
}

KT_TEST(read_interest_follows_set_events)
{
	struct kt_evloop *l = new_loop();
	struct fdw w = {0};
	int p[2];

	KT_REQUIRE(l);
	KT_REQUIRE(pipe2(p, O_NONBLOCK) == 0);
	w.l = l;
	w.rd = p[0];
	KT_CHECK_INT_EQ(kt_evloop_watch(l, p[0], KT_EV_READ, on_fd, &w), 0);
	KT_CHECK_INT_EQ(kt_evloop_watch(l, p[0], KT_EV_READ, on_fd, &w), -EEXIST);
	KT_CHECK(write(p[1], "hello", 5) == 5);
	run_max(l, 2000);
	KT_CHECK_INT_EQ(w.reads, 1);
	KT_CHECK_INT_EQ(w.bytes, 5);

	/* No read interest: data waits, no callback. */
	KT_CHECK_INT_EQ(kt_evloop_set_events(l, p[0], 0), 0);
	KT_CHECK(write(p[1], "abc", 3) == 3);
	run_max(l, 100);
	KT_CHECK_INT_EQ(w.reads, 1);
	KT_CHECK_INT_EQ(kt_evloop_set_events(l, p[0], KT_EV_READ), 0);
	run_max(l, 2000);
	KT_CHECK_INT_EQ(w.reads, 2);
	KT_CHECK_INT_EQ(w.bytes, 8);

	/* Unwatch from inside the callback; the caller's fd stays open and usable. */
	w.unwatch_in_cb = true;
	KT_CHECK(write(p[1], "x", 1) == 1);
	run_max(l, 2000);
	KT_CHECK_INT_EQ(w.reads, 3);
	KT_CHECK(write(p[1], "y", 1) == 1);
	run_max(l, 100);
	KT_CHECK_INT_EQ(w.reads, 3);
	KT_CHECK(fcntl(p[0], F_GETFD) >= 0);
	char c;
	KT_CHECK(read(p[0], &c, 1) == 1 && c == 'y');
	KT_CHECK_INT_EQ(kt_evloop_set_events(l, p[0], KT_EV_READ), -ENOENT);
	kt_evloop_unwatch(l, p[0]); /* not watched any more: a no-op */
	close(p[0]);
	close(p[1]);
	kt_evloop_free(l);
}

KT_TEST(write_interest_is_level_triggered_until_dropped)
{
	struct kt_evloop *l = new_loop();
	struct fdw w = {.stop_at_writes = 5};
	int p[2];

	KT_REQUIRE(l);
	KT_REQUIRE(pipe2(p, O_NONBLOCK) == 0);
	w.l = l;
	KT_CHECK_INT_EQ(kt_evloop_watch(l, p[1], KT_EV_WRITE, on_fd, &w), 0);
	run_max(l, 2000);
	KT_CHECK_INT_EQ(w.writes, 5);
	run_max(l, 50);
	KT_CHECK_INT_EQ(w.writes, 5);
	/* Re-enabled from outside a callback. */
	w.stop_at_writes = 6;
	KT_CHECK_INT_EQ(kt_evloop_set_events(l, p[1], KT_EV_WRITE), 0);
	run_max(l, 2000);
	KT_CHECK_INT_EQ(w.writes, 6);
	kt_evloop_unwatch(l, p[1]);
	/* Unwatch outside callbacks: the fd is still ours. */
	KT_CHECK(write(p[1], "z", 1) == 1);
	close(p[0]);
	close(p[1]);
	kt_evloop_free(l);
}

KT_TEST(hangup_reports_error_once)
{
	struct kt_evloop *l = new_loop();
	struct fdw w = {0};
	int p[2];

	KT_REQUIRE(l);
	KT_REQUIRE(pipe2(p, O_NONBLOCK) == 0);
	w.l = l;
	KT_CHECK_INT_EQ(kt_evloop_watch(l, p[0], KT_EV_READ, on_fd, &w), 0);
	close(p[1]);
	run_max(l, 2000);
	KT_CHECK_INT_EQ(w.errors, 1);
	run_max(l, 50);
	KT_CHECK_INT_EQ(w.errors, 1);
	kt_evloop_unwatch(l, p[0]);
	close(p[0]);
	kt_evloop_free(l);
}

static struct kt_evloop *sig_loop;

static void on_alarm(int sig)
{
	(void)sig;
	kt_evloop_stop(sig_loop);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

KT_TEST(idle_loop_sleeps_and_a_signal_handler_stops_it)
{
	struct kt_evloop *l = new_loop();
	struct sigaction sa;
	struct itimerval it = {.it_value = {.tv_sec = 1, .tv_usec = 200000}};
	int p[2];
	struct fdw w = {0};

	KT_REQUIRE(l);
	/* An idle daemon: one watched fd with nothing to read and no timer armed. */
	KT_REQUIRE(pipe2(p, O_NONBLOCK) == 0);
	w.l = l;
	KT_CHECK_INT_EQ(kt_evloop_watch(l, p[0], KT_EV_READ, on_fd, &w), 0);
	sig_loop = l;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	double c0 = cpu_seconds();
	uint64_t t0 = kt_evloop_now_ms(l);
	setitimer(ITIMER_REAL, &it, NULL);
	KT_CHECK_INT_EQ(kt_evloop_run(l), 0);
	uint64_t dt = kt_evloop_now_ms(l) - t0;
	double cpu = cpu_seconds() - c0;
	KT_CHECK(dt >= 1100 && dt < 5000);
	/* Sleeping in poll() for 1.2 s costs next to nothing; a spinning loop would burn ~1.2 s. */
	KT_CHECK(cpu < 0.05);
	KT_CHECK_INT_EQ(w.reads, 0);
	signal(SIGALRM, SIG_DFL);
	kt_evloop_unwatch(l, p[0]);
	close(p[0]);
	close(p[1]);
	kt_evloop_free(l);
}

KT_TEST(stop_before_run_returns_at_once)
{
	struct kt_evloop *l = new_loop();

	KT_REQUIRE(l);
	kt_evloop_stop(l);
	uint64_t t0 = kt_evloop_now_ms(l);
	KT_CHECK_INT_EQ(kt_evloop_run(l), 0);
	KT_CHECK(kt_evloop_now_ms(l) - t0 < 500);
	kt_evloop_free(l);
}

KT_TEST(timers_and_watches_outliving_the_loop_are_detached)
{
	struct kt_evloop *l = new_loop();
	struct order o = {0};
	int p[2];
	struct fdw w = {0};

	KT_REQUIRE(l);
	KT_REQUIRE(pipe2(p, O_NONBLOCK) == 0);
	struct kt_timer *t = kt_timer_new(l, on_a, &o);
	kt_timer_arm(t, 1000);
	w.l = l;
	KT_CHECK_INT_EQ(kt_evloop_watch(l, p[0], KT_EV_READ, on_fd, &w), 0);
	kt_evloop_free(l);
	/* The timer survives as a detached husk; arming it does nothing. */
	KT_CHECK(!kt_timer_armed(t));
	kt_timer_arm(t, 1);
	KT_CHECK(!kt_timer_armed(t));
	kt_timer_free(t);
	KT_CHECK(fcntl(p[0], F_GETFD) >= 0);
	close(p[0]);
	close(p[1]);
}

KT_TEST_MAIN()
