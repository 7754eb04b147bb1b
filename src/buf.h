/* buf.h: bounded byte handling shared by every wire format in kubetun.
 *
 * struct kt_buf is a growable byte queue (append at the tail, consume at the head) with a hard
 * capacity limit set at init, so no peer can make us buffer without bound. struct kt_rd is a
 * bounded reader over a byte range: every read checks the remaining length first and a short
 * read sets `err` (sticky) instead of touching memory past the end; callers check err once at
 * the end of a parse. struct kt_wr is the matching bounded writer into a fixed array. */
#ifndef KT_BUF_H
#define KT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_buf {
	uint8_t *data; /* owned; NULL until the first append */
	size_t head;   /* first unconsumed byte */
	size_t len;    /* bytes from head */
	size_t cap;    /* allocated size */
	size_t limit;  /* maximum len; appends beyond it fail with -ENOBUFS */
};

void kt_buf_init(struct kt_buf *b, size_t limit);
void kt_buf_fini(struct kt_buf *b);
/* 0, -ENOBUFS (would exceed limit) or -ENOMEM. */
int kt_buf_append(struct kt_buf *b, const void *p, size_t n);
/* printf onto the tail. 0, -EINVAL (bad format) or -ENOMEM (also beyond the limit). */
int kt_buf_printf(struct kt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reserve n writable bytes at the tail; commit with kt_buf_commit(). NULL on failure. */
uint8_t *kt_buf_reserve(struct kt_buf *b, size_t n);
void kt_buf_commit(struct kt_buf *b, size_t n);
static inline const uint8_t *kt_buf_peek(const struct kt_buf *b)
{
	return b->data ? b->data + b->head : (const uint8_t *)"";
}
static inline size_t kt_buf_len(const struct kt_buf *b)
{
	return b->len;
}
static inline size_t kt_buf_room(const struct kt_buf *b)
{
	return b->limit - b->len;
}
void kt_buf_consume(struct kt_buf *b, size_t n);
void kt_buf_clear(struct kt_buf *b);

struct kt_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool err;
};

static inline struct kt_rd kt_rd_make(const void *p, size_t len)
{
	return (struct kt_rd){(const uint8_t *)p, len, 0, false};
}
static inline size_t kt_rd_left(const struct kt_rd *r)
{
	return r->err ? 0 : r->len - r->off;
}
uint8_t kt_rd_u8(struct kt_rd *r);
uint16_t kt_rd_u16be(struct kt_rd *r);
uint32_t kt_rd_u32be(struct kt_rd *r);
/* Pointer to the next n bytes and advance, or NULL (and err) if fewer remain. */
const uint8_t *kt_rd_bytes(struct kt_rd *r, size_t n);
void kt_rd_skip(struct kt_rd *r, size_t n);

struct kt_wr {
	uint8_t *p;
	size_t cap;
	size_t off;
	bool err;
};

static inline struct kt_wr kt_wr_make(void *p, size_t cap)
{
	return (struct kt_wr){(uint8_t *)p, cap, 0, false};
}
void kt_wr_u8(struct kt_wr *w, uint8_t v);
void kt_wr_u16be(struct kt_wr *w, uint16_t v);
void kt_wr_u32be(struct kt_wr *w, uint32_t v);
void kt_wr_bytes(struct kt_wr *w, const void *p, size_t n);

#endif
