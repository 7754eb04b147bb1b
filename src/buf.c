/* buf.c: growable bounded byte queue and bounded reader/writer (see buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kt_buf_init(struct kt_buf *b, size_t limit)
{
	*b = (struct kt_buf){.limit = limit};
}

void kt_buf_fini(struct kt_buf *b)
{
	free(b->data);
	*b = (struct kt_buf){.limit = b->limit};
}

uint8_t *kt_buf_reserve(struct kt_buf *b, size_t n)
{
	if (n > b->limit - b->len)
		return NULL;
	if (b->head + b->len + n <= b->cap)
		return b->data + b->head + b->len;
	/* Compact first: moving the live bytes down is cheaper than growing when the head has
	 * advanced far, and it keeps cap near the high-water mark. */
	if (b->head > 0 && b->len + n <= b->cap) {
		memmove(b->data, b->data + b->head, b->len);
		b->head = 0;
		return b->data + b->len;
	}
	size_t need = b->len + n, ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->limit && need <= b->limit)
		ncap = b->limit;
	uint8_t *nd = malloc(ncap);
	if (!nd)
		return NULL;
	if (b->len)
		memcpy(nd, b->data + b->head, b->len);
	free(b->data);
	b->data = nd;
	b->cap = ncap;
	b->head = 0;
	return b->data + b->len;
}

void kt_buf_commit(struct kt_buf *b, size_t n)
{
	b->len += n;
}

int kt_buf_append(struct kt_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > b->limit - b->len)
		return -ENOBUFS;
	uint8_t *dst = kt_buf_reserve(b, n);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, p, n);
	b->len += n;
	return 0;
}

int kt_buf_printf(struct kt_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	uint8_t *dst;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	dst = kt_buf_reserve(b, (size_t)n + 1); /* vsnprintf writes a NUL too */
	if (!dst)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	kt_buf_commit(b, (size_t)n);
	return 0;
}

void kt_buf_consume(struct kt_buf *b, size_t n)
{
	if (n >= b->len) {
		b->head = 0;
		b->len = 0;
		return;
	}
	b->head += n;
	b->len -= n;
}

void kt_buf_clear(struct kt_buf *b)
{
	b->head = 0;
	b->len = 0;
}

const uint8_t *kt_rd_bytes(struct kt_rd *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

void kt_rd_skip(struct kt_rd *r, size_t n)
{
	(void)kt_rd_bytes(r, n);
}

uint8_t kt_rd_u8(struct kt_rd *r)
{
	const uint8_t *p = kt_rd_bytes(r, 1);
	return p ? p[0] : 0;
}

uint16_t kt_rd_u16be(struct kt_rd *r)
{
	const uint8_t *p = kt_rd_bytes(r, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t kt_rd_u32be(struct kt_rd *r)
{
	const uint8_t *p = kt_rd_bytes(r, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

void kt_wr_bytes(struct kt_wr *w, const void *p, size_t n)
{
	if (w->err || n > w->cap - w->off) {
		w->err = true;
		return;
	}
	if (n)
		memcpy(w->p + w->off, p, n);
	w->off += n;
}

void kt_wr_u8(struct kt_wr *w, uint8_t v)
{
	kt_wr_bytes(w, &v, 1);
}

void kt_wr_u16be(struct kt_wr *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	kt_wr_bytes(w, b, 2);
}

void kt_wr_u32be(struct kt_wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	kt_wr_bytes(w, b, 4);
}
