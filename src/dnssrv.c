/* dnssrv.c: DNS over UDP and TCP on the DNS VIP (see dnssrv.h).
 *
 * Ownership: struct kt_dnssrv owns its TCP connections (struct dconn, a list); each owns its
 * input bytes (a copy of what lwIP delivered, released to lwIP as queries are consumed), its
 * pending output and its idle timer. A dconn is freed when its netstack handle ends. */
#include "dnssrv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dns.h"
#include "evloop.h"
#include "log.h"
#include "mapping.h"

struct dconn {
	struct dconn *prev, *next;
	struct kt_dnssrv *d;
	struct kt_tcp *h;
	struct kt_timer *idle;
	struct kt_buf in;  /* received, not yet answered (not yet released to lwIP) */
	struct kt_buf out; /* answers lwIP has not taken yet */
	bool fin;
	unsigned busy;
	bool dead; /* h ended: free when busy drops to 0 */
};

struct kt_dnssrv {
	struct kt_dnssrv_config cfg;
	bool serving;
	struct dconn *conns;
	struct kt_dnssrv_stats st;
};

/* NULL (SERVFAIL for every query, dns.h) until the daemon knows its names. */
static const struct kt_dns_table *table(const struct kt_dnssrv *d)
{
	return d->serving ? kt_snapshot_dns(kt_mapping_current(d->cfg.mapping)) : NULL;
}

void kt_dnssrv_set_serving(struct kt_dnssrv *d, bool serving)
{
	d->serving = serving;
}

/* Counts an answer and remembers its question (for `kubetun status`): the name is read from
 * the response, whose question section the handler wrote itself, label by label with bounds
 * checks (RFC 1035 4.1.2; a question name is never compressed in our answers). */
static void note_answer(struct kt_dnssrv *d, const uint8_t *msg, size_t len)
{
	struct kt_rd r = kt_rd_make(msg, len);
	char name[sizeof(d->st.last_name)];
	size_t off = 0;
	uint16_t qd, type;

	d->st.answered++;
	kt_rd_skip(&r, 4);
	qd = kt_rd_u16be(&r);
	kt_rd_skip(&r, 6);
	if (r.err || qd == 0)
		return;
	for (;;) {
		uint8_t l = kt_rd_u8(&r);
		const uint8_t *p;

		if (r.err || l > 63)
			return;
		if (l == 0)
			break;
		p = kt_rd_bytes(&r, l);
		if (!p || off + l + 2 > sizeof(name))
			return;
		if (off)
			name[off++] = '.';
		for (size_t i = 0; i < l; i++) {
			char ch = (char)p[i];

			/* Printable, lower case: the name goes into JSON and onto terminals. */
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			name[off++] = ch >= 0x21 && ch < 0x7f ? ch : '?';
		}
	}
	type = kt_rd_u16be(&r);
	if (r.err)
		return;
	name[off] = '\0';
	memcpy(d->st.last_name, name, off + 1);
	d->st.last_type = type;
	d->st.last_at = time(NULL);
}

void kt_dnssrv_udp(struct kt_dnssrv *d, uint32_t src, uint16_t src_port, const uint8_t *data,
		   size_t len)
{
	uint8_t resp[KT_DNS_EDNS_UDP_SIZE];
	ssize_t n;

	d->st.udp_queries++;
	n = kt_dns_handle(table(d), data, len, resp, sizeof(resp), KT_DNS_UDP);
	if (n > 0) {
		note_answer(d, resp, (size_t)n);
		kt_netstack_udp_send(d->cfg.ns, d->cfg.dns_ip, 53, src, src_port, resp, (size_t)n);
	}
}

/* ---- TCP ---- */

static void dconn_free(struct dconn *c)
{
	struct kt_dnssrv *d = c->d;

	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	kt_timer_free(c->idle);
	kt_buf_fini(&c->in);
	kt_buf_fini(&c->out);
	free(c);
}

static void dconn_end(struct dconn *c, bool abort)
{
	if (c->h) {
		if (abort)
			kt_tcp_abort(c->h);
		else
			kt_tcp_close(c->h);
		c->h = NULL;
	}
	c->dead = true;
}

static void dconn_leave(struct dconn *c)
{
	if (--c->busy == 0 && c->dead)
		dconn_free(c);
}

static void flush_out(struct dconn *c)
{
	while (c->h && kt_buf_len(&c->out)) {
		ssize_t n = kt_tcp_send(c->h, kt_buf_peek(&c->out), kt_buf_len(&c->out));

		if (n <= 0) {
			if (n < 0)
				dconn_end(c, true);
			return;
		}
		kt_buf_consume(&c->out, (size_t)n);
	}
	if (kt_buf_len(&c->out) == 0 && c->out.data)
		kt_buf_fini(&c->out);
}

/* Answers every complete query in c->in while the output has room, releasing the consumed
 * bytes to lwIP; then finishes the connection if the client is done. */
static void process(struct dconn *c)
{
	static uint8_t resp[KT_DNS_MAX_MSG + 2];
	size_t released = 0;

	while (c->h && kt_buf_len(&c->in)) {
		size_t frame = kt_dns_tcp_frame_len(kt_buf_peek(&c->in), kt_buf_len(&c->in));
		ssize_t n;

		if (frame == 0) {
			/* A query that cannot fit the receive window can never complete. */
			if (kt_buf_len(&c->in) >= KT_NETSTACK_RCV_WINDOW)
				dconn_end(c, true);
			break;
		}
		if (kt_buf_room(&c->out) < sizeof(resp))
			break; /* the client is not reading: stop reading it */
		n = kt_dns_handle_tcp(table(c->d), kt_buf_peek(&c->in) + 2, frame - 2, resp,
				      sizeof(resp));
		c->d->st.tcp_queries++;
		if (n > 2)
			note_answer(c->d, resp + 2, (size_t)n - 2);
		kt_buf_consume(&c->in, frame);
		released += frame;
		if (n > 0 && kt_buf_append(&c->out, resp, (size_t)n)) {
			dconn_end(c, true);
			return;
		}
		flush_out(c);
	}
	if (c->h && released)
		kt_tcp_recved(c->h, released);
	if (kt_buf_len(&c->in) == 0 && c->in.data)
		kt_buf_fini(&c->in);
	if (c->h && c->fin && kt_buf_len(&c->out) == 0)
		dconn_end(c, false);
	else if (c->h && c->idle)
		kt_timer_arm(c->idle, KT_DNSSRV_TCP_IDLE_MS);
}

static void idle_fire(void *arg)
{
	struct dconn *c = arg;

	c->busy++;
	dconn_end(c, kt_buf_len(&c->out) != 0);
	dconn_leave(c);
}

static void t_recv(void *arg, struct kt_tcp *h, const uint8_t *data, size_t len)
{
	struct dconn *c = arg;

	(void)h;
	c->busy++;
	if (kt_buf_append(&c->in, data, len))
		dconn_end(c, true);
	else
		process(c);
	dconn_leave(c);
}

static void t_fin(void *arg, struct kt_tcp *h)
{
	struct dconn *c = arg;

	(void)h;
	c->busy++;
	c->fin = true;
	process(c);
	dconn_leave(c);
}

static void t_sent(void *arg, struct kt_tcp *h, size_t acked)
{
	struct dconn *c = arg;

	(void)h;
	(void)acked;
	c->busy++;
	flush_out(c);
	process(c);
	dconn_leave(c);
}

static void t_closed(void *arg, struct kt_tcp *h, int err)
{
	struct dconn *c = arg;

	(void)h;
	(void)err;
	c->busy++;
	c->h = NULL;
	c->dead = true;
	dconn_leave(c);
}

static const struct kt_tcp_callbacks tcp_ops = {
    .recv = t_recv,
    .fin = t_fin,
    .sent = t_sent,
    .closed = t_closed,
};

enum kt_netstack_verdict kt_dnssrv_accept(struct kt_dnssrv *d, struct kt_tcp *h,
					  const struct kt_netstack_flow *flow)
{
	struct dconn *c;

	if (flow->port != 53)
		return KT_NETSTACK_REFUSE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return KT_NETSTACK_REFUSE;
	c->idle = kt_timer_new(d->cfg.loop, idle_fire, c);
	if (!c->idle) {
		free(c);
		return KT_NETSTACK_REFUSE;
	}
	c->d = d;
	c->h = h;
	kt_buf_init(&c->in, KT_NETSTACK_RCV_WINDOW);
	kt_buf_init(&c->out, KT_DNSSRV_TCP_OUT_MAX);
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->st.tcp_conns++;
	kt_timer_arm(c->idle, KT_DNSSRV_TCP_IDLE_MS);
	kt_tcp_set_callbacks(h, &tcp_ops, c);
	return KT_NETSTACK_ACCEPT;
}

struct kt_dnssrv *kt_dnssrv_new(const struct kt_dnssrv_config *cfg)
{
	struct kt_dnssrv *d = calloc(1, sizeof(*d));

	if (d)
		d->cfg = *cfg;
	return d;
}

void kt_dnssrv_free(struct kt_dnssrv *d)
{
	if (!d)
		return;
	while (d->conns) {
		struct dconn *c = d->conns;

		if (c->h)
			kt_tcp_abort(c->h);
		dconn_free(c);
	}
	free(d);
}

void kt_dnssrv_get_stats(const struct kt_dnssrv *d, struct kt_dnssrv_stats *out)
{
	*out = d->st;
}
