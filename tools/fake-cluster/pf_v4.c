/* pf_v4.c: v4 channel WebSocket port-forward (see pf_v4.h).
 *
 * Ownership: the engine owns one struct port per listed port and, through it, the target. A
 * port is `done` once its forwarded connection ended; its target is freed then. When every
 * port is done the engine asks the session to close (which sends the close frame). */
#include "pf_v4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "cluster.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "pf_session.h"
#include "pf_util.h"
#include "wsframe.h"

#define DRAIN_QUANTUM (64u * 1024)
/* Largest pod output per message: big messages keep per-message costs low. */
#define MSG_MAX (32u * 1024)

struct port {
	struct pf_v4 *v;
	unsigned idx;
	uint16_t port;
	struct pf_target *t;
	struct fc_timer *linger;
	bool done;
};

struct pf_v4 {
	struct pf_session *s;
	bool b64;
	size_t nports, ndone;
	struct port *ports;
	/* the client message being read */
	int cur;       /* its channel, or -1 before the channel byte */
	bool skip;     /* the rest of the message is ignored */
	char carry[4]; /* base64 characters waiting for a full group */
	size_t ncarry;
	bool pad_seen; /* a padded group ended the base64 text */
};

/* base64 scratch: decoded input, encoded output (one process, one thread). */
static uint8_t dec_buf[PF_WS_CHUNK];
static char enc_buf[2 + (MSG_MAX + 2) / 3 * 4 + 1];

static bool port_check(struct port *pt);

/* --- output --- */

/* One message on channel ch with payload p[0..n). */
static void send_channel(struct pf_v4 *v, unsigned ch, const uint8_t *p, size_t n)
{
	struct pf_iov iov[2];
	uint8_t chb = (uint8_t)ch;

	if (v->s->closing)
		return;
	if (!v->b64) {
		iov[0].p = &chb;
		iov[0].len = 1;
		iov[1].p = p;
		iov[1].len = n;
		pf_session_send(v->s, iov, n ? 2 : 1);
		return;
	}
	/* Base64: the channel as an ASCII digit, then the standard encoding with padding. */
	enc_buf[0] = (char)('0' + ch);
	if (kt_base64_encode(p, n, enc_buf + 1, sizeof(enc_buf) - 1) < 0)
		return;
	iov[0].p = enc_buf;
	iov[0].len = strlen(enc_buf);
	pf_session_send(v->s, iov, 1);
}

static void all_done(struct pf_v4 *v)
{
	if (v->ndone == v->nports && !v->s->closing)
		pf_session_close(v->s, false);
}

static void port_finish(struct port *pt, const char *text, enum pf_target_state how)
{
	struct pf_v4 *v = pt->v;

	if (pt->done)
		return;
	if (text)
		send_channel(v, 2 * pt->idx + 1, (const uint8_t *)text, strlen(text));
	if (pt->t)
		pf_stats_stream_closed(v->s, how);
	fc_loop_timer_cancel(v->s->cl->loop, pt->linger);
	pt->linger = NULL;
	pf_target_free(pt->t);
	pt->t = NULL;
	pt->done = true;
	v->ndone++;
}

static void port_linger(void *arg)
{
	struct port *pt = arg;
	struct pf_v4 *v = pt->v;

	pt->linger = NULL;
	port_finish(pt, NULL, PF_TS_EOF);
	all_done(v);
	pf_session_sync_pause(v->s);
}

static size_t port_room(void *arg)
{
	struct port *pt = arg;
	size_t room = pf_session_room(pt->v->s);

	if (room <= 1)
		return 0;
	room -= 1;
	if (room > MSG_MAX)
		room = MSG_MAX;
	return pt->v->b64 ? room / 4 * 3 : room;
}

static void port_emit(void *arg, const uint8_t *p, size_t n)
{
	struct port *pt = arg;

	send_channel(pt->v, 2 * pt->idx, p, n);
	pf_stats_bytes(pt->v->s, 0, n);
}

static void port_notify(void *arg)
{
	struct port *pt = arg;
	struct pf_v4 *v = pt->v;

	if (port_check(pt))
		all_done(v);
	pf_session_sync_pause(v->s);
}

/* Looks at the target after an event. True when the port finished. */
static bool port_check(struct port *pt)
{
	struct pf_session *s = pt->v->s;
	char text[1024];

	if (pt->done || !pt->t)
		return pt->done;
	switch (pf_target_state(pt->t)) {
	case PF_TS_REFUSED:
		pf_text_refused(text, sizeof(text), pt->port, s->uid);
		port_finish(pt, text, PF_TS_REFUSED);
		return true;
	case PF_TS_RESET:
		/* The WebSocket path writes every PortForward error, resets included
		 * (kubelet websocket.go portForward). */
		pf_text_reset(text, sizeof(text), pt->port, s->uid, pf_target_local_port(pt->t));
		port_finish(pt, text, PF_TS_RESET);
		return true;
	case PF_TS_EOF:
		/* The client cannot half-close a v4 channel, so containerd's second copy runs
		 * until its 1 s grace ends. */
		if (!pt->linger)
			pt->linger = fc_loop_timer(s->cl->loop, PF_LINGER_MS, port_linger, pt);
		return false;
	default:
		return false;
	}
}

void pf_v4_start(struct pf_v4 *v)
{
	struct pf_session *s = v->s;
	char text[512];

	/* kubelet websocket.go handleWebSocketStreams: every port's prefix before any dial. */
	for (size_t i = 0; i < v->nports; i++) {
		uint8_t le[2] = {(uint8_t)(v->ports[i].port & 0xff),
				 (uint8_t)(v->ports[i].port >> 8)};
		send_channel(v, 2 * (unsigned)i, le, 2);
		send_channel(v, 2 * (unsigned)i + 1, le, 2);
	}
	for (size_t i = 0; i < v->nports && !s->closing; i++) {
		struct port *pt = &v->ports[i];
		struct pf_sink sink = {port_room, port_emit, port_notify, pt};
		bool gone = false;

		pt->t = pf_session_open_target(s, pt->port, &sink, &gone);
		if (!pt->t) {
			if (gone)
				pf_text_gone(text, sizeof(text), pt->port, s->uid);
			port_finish(pt, gone ? text : NULL, PF_TS_RESET);
			continue;
		}
		pf_stats_stream_opened(s);
		port_check(pt);
	}
	all_done(v);
}

/* --- input --- */

static void deliver(struct pf_v4 *v, const uint8_t *p, size_t n)
{
	struct port *pt;

	if (n == 0 || v->cur < 0 || (v->cur & 1) || (size_t)v->cur / 2 >= v->nports)
		return;
	pt = &v->ports[v->cur / 2];
	if (pt->done || !pt->t || !pf_target_open_for_output(pt->t))
		return;
	pf_stats_bytes(v->s, n, 0);
	pf_target_write(pt->t, p, n);
	if (port_check(pt))
		all_done(v);
}

static void b64_bad(struct pf_v4 *v)
{
	kt_log_info("port-forward %s/%s: invalid base64 on channel %d, message dropped", v->s->ns,
		    v->s->pod, v->cur);
	v->skip = true;
}

/* Decodes whole base64 groups of p[0..n) (with the carry) and delivers them. */
static void b64_feed(struct pf_v4 *v, const uint8_t *p, size_t n, bool last)
{
	size_t out = 0, dl;

	if (v->pad_seen && n > 0) {
		b64_bad(v);
		return;
	}
	if (v->ncarry > 0) {
		size_t take = 4 - v->ncarry < n ? 4 - v->ncarry : n;
		memcpy(v->carry + v->ncarry, p, take);
		v->ncarry += take;
		p += take;
		n -= take;
		if (v->ncarry < 4)
			goto tail;
		if (kt_base64_decode(v->carry, 4, dec_buf, sizeof(dec_buf), &dl,
				     KT_BASE64_LAX_BITS) < 0) {
			b64_bad(v);
			return;
		}
		out = dl;
		v->pad_seen = v->carry[3] == '=';
		v->ncarry = 0;
	}
	{
		size_t whole = n / 4 * 4;
		if (whole > 0) {
			if (v->pad_seen ||
			    kt_base64_decode((const char *)p, whole, dec_buf + out,
					     sizeof(dec_buf) - out, &dl, KT_BASE64_LAX_BITS) < 0) {
				b64_bad(v);
				return;
			}
			out += dl;
			v->pad_seen = p[whole - 1] == '=';
		}
		memcpy(v->carry, p + whole, n - whole);
		v->ncarry = n - whole;
	}
tail:
	if (last && v->ncarry > 0) {
		/* Go's DecodeString rejects a length that is not a multiple of 4. */
		b64_bad(v);
		return;
	}
	deliver(v, dec_buf, out);
}

size_t pf_v4_data(struct pf_v4 *v, uint8_t opcode, bool first, bool last, const uint8_t *p,
		  size_t n)
{
	size_t used = 0;

	(void)opcode; /* wsstream reads text and binary messages alike */
	if (first) {
		if (n == 0)
			return 0; /* an empty message is ignored */
		v->cur = v->b64 ? (int)(uint8_t)(p[0] - '0') : p[0];
		v->skip = false;
		v->ncarry = 0;
		v->pad_seen = false;
		used = 1;
	}
	if (used == n) {
		if (last && v->b64 && !v->skip && v->ncarry > 0)
			b64_bad(v);
		return n;
	}
	if (v->skip)
		return n;
	/* Take a chunk only while its target can: a blocked target gets nothing more, which
	 * bounds its stash to one chunk (pf_target.h). */
	if (v->cur >= 0 && !(v->cur & 1) && (size_t)v->cur / 2 < v->nports) {
		struct port *pt = &v->ports[v->cur / 2];
		if (pt->t && pf_target_blocked(pt->t))
			return used;
	}
	if (v->b64)
		b64_feed(v, p + used, n - used, last);
	else
		deliver(v, p + used, n - used);
	return n;
}

bool pf_v4_blocked(const struct pf_v4 *v)
{
	for (size_t i = 0; i < v->nports; i++)
		if (v->ports[i].t && pf_target_blocked(v->ports[i].t))
			return true;
	return false;
}

void pf_v4_drain(struct pf_v4 *v)
{
	bool progress = true;

	while (progress && !v->s->closing && pf_session_room(v->s) > 0) {
		progress = false;
		for (size_t i = 0; i < v->nports; i++) {
			struct port *pt = &v->ports[i];
			if (pt->done || !pt->t)
				continue;
			if (pf_target_kick(pt->t, DRAIN_QUANTUM) > 0)
				progress = true;
			port_check(pt);
		}
	}
	all_done(v);
}

void pf_v4_stop(struct pf_v4 *v, bool pod_gone)
{
	for (size_t i = 0; i < v->nports; i++)
		port_finish(&v->ports[i], NULL, pod_gone ? PF_TS_RESET : PF_TS_EOF);
	all_done(v);
}

struct pf_v4 *pf_v4_new(struct pf_session *s)
{
	struct pf_v4 *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->s = s;
	v->b64 = s->proto == PF_PROTO_WS_V4_B64;
	v->cur = -1;
	v->nports = s->nports;
	v->ports = calloc(s->nports ? s->nports : 1, sizeof(*v->ports));
	if (!v->ports) {
		free(v);
		return NULL;
	}
	for (size_t i = 0; i < s->nports; i++) {
		v->ports[i].v = v;
		v->ports[i].idx = (unsigned)i;
		v->ports[i].port = s->ports[i];
	}
	return v;
}

void pf_v4_free(struct pf_v4 *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nports; i++) {
		fc_loop_timer_cancel(v->s->cl->loop, v->ports[i].linger);
		if (v->ports[i].t && !v->ports[i].done)
			pf_stats_stream_closed(v->s, PF_TS_EOF);
		pf_target_free(v->ports[i].t);
	}
	free(v->ports);
	free(v);
}
