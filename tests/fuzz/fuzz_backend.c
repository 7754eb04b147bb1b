/* fuzz_backend.c: arbitrary client bytes into the fake cluster's pod backend (plain HTTP).
 *
 * The input is fed twice, to two backends: once in a single input() call and once in pieces of
 * varying size with pumps (small rooms) in between; both are then half-closed and pumped until
 * nothing is pending (bounded: /bytes/N can be huge), firing the timer whenever one is asked
 * for. Besides memory errors, this checks invariants: pump() never exceeds its room and reports
 * exactly what it output, closed() comes at most once, nothing is output after it, and the
 * output does not depend on how the input was split. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP (4u << 20) /* compare at most this much output */

struct run {
	uint8_t *out;
	size_t len;
	size_t pumped;
	int closed_calls;
	bool reset;
	bool timer;
};

static void fz_output(void *arg, const uint8_t *p, size_t n)
{
	struct run *r = arg;
	if (r->closed_calls)
		abort(); /* output after closed() */
	size_t k = n < OUT_CAP - r->len ? n : OUT_CAP - r->len;
	memcpy(r->out + r->len, p, k);
	r->len += k;
	r->pumped += n;
}

static void fz_closed(void *arg, bool reset)
{
	struct run *r = arg;
	if (r->closed_calls++)
		abort(); /* closed() twice */
	r->reset = reset;
}

static void fz_timer(void *arg, uint64_t ms)
{
	struct run *r = arg;
	r->timer = ms != 0;
}

static const struct fc_backend_io fz_io = {fz_output, fz_closed, fz_timer};

/* Pumps and fires timers until idle, closed, or OUT_CAP output. */
static void settle(struct fc_backend *b, struct run *r, size_t room)
{
	for (int guard = 0; guard < 100000 && !r->closed_calls && r->len < OUT_CAP; guard++) {
		if (fc_backend_has_pending(b)) {
			size_t before = r->pumped;
			size_t n = fc_backend_pump(b, room);
			if (n > room || r->pumped - before != n)
				abort();
			continue;
		}
		if (!r->timer)
			break;
		r->timer = false;
		fc_backend_on_timer(b);
	}
}

static void run(struct run *r, const uint8_t *data, size_t size, bool split)
{
	struct fc_backend_info info = {.pod_name = "fuzz-0", .pod_namespace = "ns", .port = 80};
	struct fc_backend *b = fc_backend_new(&info, &fz_io, r);
	if (!b)
		abort();
	if (!split) {
		fc_backend_input(b, data, size);
		settle(b, r, 65536);
	} else {
		size_t step = 1;
		for (size_t off = 0; off < size && r->len < OUT_CAP; off += step) {
			step = (step * 7 + 3) % 97 + 1;
			size_t k = size - off < step ? size - off : step;
			fc_backend_input(b, data + off, k);
			settle(b, r, 1 + (step * 31) % 4000);
		}
	}
	fc_backend_input_eof(b);
	settle(b, r, split ? 333 : 65536);
	fc_backend_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out_a[OUT_CAP], out_b[OUT_CAP];
	struct run a = {.out = out_a}, b = {.out = out_b};

	run(&a, data, size, false);
	run(&b, data, size, true);
	/* Splitting can only change the outcome when pipelined input overflows the inbound
	 * bound (one-shot feeding cannot pump in between) or output was cut at OUT_CAP. */
	if (size < FC_BACKEND_IN_MAX && a.len < OUT_CAP && b.len < OUT_CAP) {
		if (a.len != b.len || memcmp(a.out, b.out, a.len) != 0)
			abort();
		if (a.closed_calls != b.closed_calls || a.reset != b.reset)
			abort();
	}
	return 0;
}
