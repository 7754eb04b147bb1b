/* pf_spdy.c: the kubelet's SPDY/3.1 port-forward server role (see pf_spdy.h).
 *
 * Ownership: the engine owns its zlib streams, its pairs and, through them, the targets. A
 * stream exists only as a member of a pair (error or data half); a duplicate stream is
 * accepted (SYN_REPLY, as the kubelet does) but not recorded, so frames for it are dropped
 * like frames for unknown streams (spdystream drops those too).
 *
 * Invariants:
 *  - every header block the client sends goes through the inflater in wire order, also for
 *    streams we reject, or zlib would lose sync;
 *  - a pair has a target only once both streams exist (`connected`); before that, data for
 *    the data stream is kept in `early` (bounded);
 *  - pair_end() sends the pair's last frames and frees it; nothing touches a pair after
 *    pair_check() returned true;
 *  - we write to the conn only through pf_session_send(), which closes the session on error,
 *    and write nothing once the session is closing. */
#include "pf_spdy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cluster.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "pf_session.h"
#include "pf_util.h"
#include "spdy.h"

/* Pod output handed out per pair per drain round, so concurrent pairs share the conn. */
#define DRAIN_QUANTUM (64u * 1024)

struct stream {
	uint32_t id;
	bool remote_fin; /* the client finished sending on it */
	bool reset;	 /* RST_STREAM received or sent */
	bool local_fin;	 /* we sent FIN */
};

struct pair {
	struct pair *next, *prev;
	struct pf_spdy *sp;
	char reqid[64];
	uint16_t port; /* from the data stream's headers, as the kubelet takes it */
	bool has_err, has_data;
	struct stream err, data;
	struct kt_buf early; /* data that arrived before the pair was complete */
	struct pf_target *t;
	struct fc_timer *timer; /* creation timeout while incomplete, then the linger */
	bool linger;
	bool connected; /* both streams arrived and the pod end was opened */
	bool c2p_done, p2c_done;
	enum pf_target_state end_how; /* for the counters */
};

struct pf_spdy {
	struct pf_session *s;
	struct kt_spdy_inflater *inf;
	struct kt_spdy_deflater *def;
	struct kt_buf out; /* control frames being built */
	struct kt_buf acc; /* a frame header or control frame arriving in pieces */
	bool in_data;	   /* consuming the payload of a DATA frame */
	uint32_t data_sid;
	uint8_t data_flags;
	uint32_t data_left;
	uint32_t last_id; /* highest client stream id seen */
	bool goaway;	  /* the client sent GOAWAY: no new streams */
	bool dead;	  /* protocol error: input is discarded */
	struct pair *pairs, *tail;
	size_t npairs;
};

static bool pair_check(struct pair *pr);

/* --- output --- */

static void flush_out(struct pf_spdy *sp)
{
	struct pf_iov iov;

	if (kt_buf_len(&sp->out) == 0)
		return;
	iov.p = kt_buf_peek(&sp->out);
	iov.len = kt_buf_len(&sp->out);
	if (!sp->s->closing)
		pf_session_send(sp->s, &iov, 1);
	kt_buf_clear(&sp->out);
}

static void send_rst(struct pf_spdy *sp, uint32_t id, uint32_t status)
{
	if (kt_spdy_build_rst_stream(&sp->out, id, status) == 0)
		flush_out(sp);
}

static void send_data(struct pf_spdy *sp, uint32_t id, uint8_t flags, const void *p, size_t n)
{
	uint8_t hdr[KT_SPDY_HDR_LEN];
	struct pf_iov iov[2];

	if (sp->s->closing || kt_spdy_data_header(hdr, id, flags, n) < 0)
		return;
	iov[0].p = hdr;
	iov[0].len = sizeof(hdr);
	iov[1].p = p;
	iov[1].len = n;
	pf_session_send(sp->s, iov, n ? 2 : 1);
}

/* A protocol violation that spdystream would tear the connection down for. */
static void fatal(struct pf_spdy *sp, const char *why)
{
	kt_log_info("port-forward %s/%s conn %llu: SPDY protocol error: %s", sp->s->ns, sp->s->pod,
		    (unsigned long long)fc_conn_id(sp->s->c), why);
	sp->dead = true;
	if (kt_spdy_build_goaway(&sp->out, sp->last_id, KT_SPDY_GOAWAY_PROTOCOL_ERROR) == 0)
		flush_out(sp);
	pf_session_close(sp->s, false);
}

/* --- pairs --- */

static struct pair *find_pair(const struct pf_spdy *sp, const char *reqid)
{
	for (struct pair *pr = sp->pairs; pr; pr = pr->next)
		if (strcmp(pr->reqid, reqid) == 0)
			return pr;
	return NULL;
}

static struct pair *find_stream(const struct pf_spdy *sp, uint32_t id, struct stream **st)
{
	for (struct pair *pr = sp->pairs; pr; pr = pr->next) {
		if (pr->has_data && pr->data.id == id) {
			*st = &pr->data;
			return pr;
		}
		if (pr->has_err && pr->err.id == id) {
			*st = &pr->err;
			return pr;
		}
	}
	*st = NULL;
	return NULL;
}

static void maybe_finish(struct pf_spdy *sp)
{
	/* spdystream shuts the connection down once a GOAWAY was received and no stream is
	 * left (connection.go shutdown). */
	if (sp->goaway && !sp->pairs && !sp->s->closing)
		pf_session_close(sp->s, false);
}

static void pair_free(struct pair *pr)
{
	struct pf_spdy *sp = pr->sp;

	if (pr->prev)
		pr->prev->next = pr->next;
	else
		sp->pairs = pr->next;
	if (pr->next)
		pr->next->prev = pr->prev;
	else
		sp->tail = pr->prev;
	sp->npairs--;
	if (pr->connected)
		pf_stats_stream_closed(sp->s, pr->end_how);
	fc_loop_timer_cancel(sp->s->cl->loop, pr->timer);
	pf_target_free(pr->t);
	kt_buf_fini(&pr->early);
	free(pr);
}

enum end_mode { END_FIN, END_RST };

/* Sends the pair's last frames (the kubelet's deferred Close or Reset, data stream first) and
 * frees it. */
static void pair_end(struct pair *pr, enum end_mode mode, const char *text)
{
	struct pf_spdy *sp = pr->sp;

	if (text && pr->has_err && !pr->err.reset && !pr->err.local_fin)
		send_data(sp, pr->err.id, 0, text, strlen(text));
	if (mode == END_RST) {
		if (pr->has_data && !pr->data.reset)
			send_rst(sp, pr->data.id, KT_SPDY_CANCEL);
		if (pr->has_err && !pr->err.reset)
			send_rst(sp, pr->err.id, KT_SPDY_CANCEL);
	} else {
		if (pr->has_data && !pr->data.reset && !pr->data.local_fin)
			send_data(sp, pr->data.id, KT_SPDY_FLAG_FIN, NULL, 0);
		if (pr->has_err && !pr->err.reset && !pr->err.local_fin)
			send_data(sp, pr->err.id, KT_SPDY_FLAG_FIN, NULL, 0);
	}
	pr->end_how = mode == END_RST ? PF_TS_RESET : pr->t ? pf_target_state(pr->t) : PF_TS_EOF;
	pair_free(pr);
	maybe_finish(sp);
}

static void pair_timer(void *arg)
{
	struct pair *pr = arg;
	struct pf_session *s = pr->sp->s;
	char text[256];

	pr->timer = NULL;
	if (pr->linger) {
		pair_end(pr, END_FIN, NULL);
	} else {
		/* kubelet monitorStreamPair: the text goes to the error stream if there is one. */
		pf_text_pair_timeout(text, sizeof(text), fc_conn_id(s->c), pr->reqid);
		kt_log_info("port-forward %s/%s: %s", s->ns, s->pod, text);
		pair_end(pr, END_FIN, text);
	}
	pf_session_sync_pause(s);
}

static size_t pair_room(void *arg)
{
	struct pair *pr = arg;
	size_t room;

	if (pr->data.reset || pr->data.local_fin)
		return 0;
	room = pf_session_room(pr->sp->s);
	return room > KT_SPDY_HDR_LEN ? room - KT_SPDY_HDR_LEN : 0;
}

static void pair_emit(void *arg, const uint8_t *p, size_t n)
{
	struct pair *pr = arg;

	send_data(pr->sp, pr->data.id, 0, p, n);
	pf_stats_bytes(pr->sp->s, 0, n);
}

static void pair_notify(void *arg)
{
	struct pair *pr = arg;
	struct pf_session *s = pr->sp->s;

	pair_check(pr);
	pf_session_sync_pause(s);
}

/* Looks at the target after an event; ends the pair when it is done. True if it ended. */
static bool pair_check(struct pair *pr)
{
	struct pf_session *s = pr->sp->s;
	char text[1024];

	if (!pr->connected)
		return false;
	if (pr->data.reset) {
		/* The client reset the data stream: the copy into it ends, the kubelet closes
		 * both streams. */
		pair_end(pr, END_FIN, NULL);
		return true;
	}
	switch (pf_target_state(pr->t)) {
	case PF_TS_REFUSED:
		pf_text_refused(text, sizeof(text), pr->port, s->uid);
		pair_end(pr, END_FIN, text);
		return true;
	case PF_TS_RESET:
		/* Since kubelet 1.32 (PR #128318), ECONNRESET/EPIPE reset both streams. */
		pair_end(pr, END_RST, NULL);
		return true;
	case PF_TS_EOF:
		pr->p2c_done = true;
		break;
	default:
		break;
	}
	if (pr->c2p_done && pr->p2c_done) {
		pair_end(pr, END_FIN, NULL);
		return true;
	}
	if ((pr->c2p_done || pr->p2c_done) && !pr->linger) {
		fc_loop_timer_cancel(s->cl->loop, pr->timer);
		pr->linger = true;
		pr->timer = fc_loop_timer(s->cl->loop, PF_LINGER_MS, pair_timer, pr);
	}
	return false;
}

static void pair_connect(struct pair *pr)
{
	struct pf_spdy *sp = pr->sp;
	struct pf_sink sink = {pair_room, pair_emit, pair_notify, pr};
	char text[512];
	bool gone = false;

	fc_loop_timer_cancel(sp->s->cl->loop, pr->timer);
	pr->timer = NULL;
	pr->t = pf_session_open_target(sp->s, pr->port, &sink, &gone);
	if (!pr->t) {
		if (gone) {
			pf_text_gone(text, sizeof(text), pr->port, sp->s->uid);
			pair_end(pr, END_FIN, text);
		} else {
			pair_end(pr, END_RST, NULL);
		}
		return;
	}
	pr->connected = true;
	pr->end_how = PF_TS_EOF; /* the session ended under it */
	pf_stats_stream_opened(sp->s);
	if (kt_buf_len(&pr->early) > 0) {
		pf_stats_bytes(sp->s, kt_buf_len(&pr->early), 0);
		pf_target_write(pr->t, kt_buf_peek(&pr->early), kt_buf_len(&pr->early));
		kt_buf_fini(&pr->early);
	}
	if (pr->data.remote_fin) {
		pr->c2p_done = true;
		pf_target_write_eof(pr->t);
	}
	pair_check(pr);
}

/* --- frames from the client --- */

/* The first value of a header as a C string (spdystream splits NUL-joined values and Go's
 * Header.Get returns the first). "" when absent. */
static void header_first(const struct kt_spdy_headers *h, const char *name, char *dst, size_t cap)
{
	const struct kt_spdy_header *hv = kt_spdy_headers_find(h, name);
	size_t len = 0;

	if (hv) {
		const char *nul = memchr(hv->value, '\0', hv->value_len);
		len = nul ? (size_t)(nul - hv->value) : hv->value_len;
	}
	if (len >= cap)
		len = cap - 1;
	if (len)
		memcpy(dst, hv->value, len);
	dst[len] = '\0';
}

static void on_syn_stream(struct pf_spdy *sp, const struct kt_spdy_frame *f)
{
	struct pf_session *s = sp->s;
	struct kt_spdy_headers h;
	char port_s[64], type[64], reqid[64], text[256];
	uint32_t id = f->stream_id;
	uint16_t port = 0;
	bool data;
	struct pair *pr;
	struct stream *st;

	if (kt_spdy_inflater_decode(sp->inf, f, &h) < 0) {
		fatal(sp, "bad SYN_STREAM header block");
		return;
	}
	/* spdystream validateStreamId: client ids are odd and increasing, else PROTOCOL_ERROR
	 * for that stream only. */
	if ((id & 1) == 0 || id <= sp->last_id) {
		send_rst(sp, id, KT_SPDY_PROTOCOL_ERROR);
		return;
	}
	sp->last_id = id;
	if (sp->goaway || sp->npairs >= PF_SPDY_MAX_PAIRS) {
		send_rst(sp, id, KT_SPDY_REFUSED_STREAM);
		return;
	}
	/* kubelet httpStreamReceived: a valid port and stream type, else the stream is reset
	 * (the reason is only logged). */
	header_first(&h, "port", port_s, sizeof(port_s));
	header_first(&h, "streamtype", type, sizeof(type));
	const char *why = NULL;
	if (!port_s[0])
		why = "\"port\" header is required";
	else if (pf_go_parse_u16(port_s, strlen(port_s), &port) < 0)
		why = "unable to parse port";
	else if (port < 1)
		why = "port must be > 0";
	else if (!type[0])
		why = "\"streamType\" header is required";
	else if (strcmp(type, "error") != 0 && strcmp(type, "data") != 0)
		why = "invalid stream type";
	if (why) {
		kt_log_debug("port-forward %s/%s: stream %u rejected: %s", s->ns, s->pod, id, why);
		send_rst(sp, id, KT_SPDY_CANCEL);
		return;
	}
	data = strcmp(type, "data") == 0;
	if (kt_spdy_build_syn_reply(&sp->out, sp->def, id, 0, NULL, 0) < 0) {
		fatal(sp, "cannot build SYN_REPLY");
		return;
	}
	flush_out(sp);

	header_first(&h, "requestid", reqid, sizeof(reqid));
	if (!reqid[0]) {
		/* kubelet httpstream.go requestID: old clients send none; error streams use
		 * their own id, data streams their id minus 2. */
		snprintf(reqid, sizeof(reqid), "%ld", (long)id - (data ? 2 : 0));
	}
	pr = find_pair(sp, reqid);
	if (!pr) {
		pr = calloc(1, sizeof(*pr));
		if (!pr) {
			send_rst(sp, id, KT_SPDY_INTERNAL_ERROR);
			return;
		}
		pr->sp = sp;
		snprintf(pr->reqid, sizeof(pr->reqid), "%s", reqid);
		kt_buf_init(&pr->early, PF_SPDY_EARLY_MAX);
		pr->prev = sp->tail;
		if (sp->tail)
			sp->tail->next = pr;
		else
			sp->pairs = pr;
		sp->tail = pr;
		sp->npairs++;
		pr->timer = fc_loop_timer(s->cl->loop, PF_SPDY_PAIR_TIMEOUT_MS, pair_timer, pr);
	}
	if ((data && pr->has_data) || (!data && pr->has_err)) {
		pf_text_duplicate(text, sizeof(text), reqid, data);
		kt_log_info("port-forward %s/%s: %s", s->ns, s->pod, text);
		if (pr->has_err && !pr->err.reset && !pr->err.local_fin)
			send_data(sp, pr->err.id, 0, text, strlen(text));
		return;
	}
	st = data ? &pr->data : &pr->err;
	*st = (struct stream){.id = id, .remote_fin = (f->flags & KT_SPDY_FLAG_FIN) != 0};
	if (data) {
		pr->has_data = true;
		pr->port = port;
	} else {
		pr->has_err = true;
	}
	if (pr->has_data && pr->has_err)
		pair_connect(pr);
}

static void remote_fin(struct pf_spdy *sp, uint32_t id)
{
	struct stream *st;
	struct pair *pr = find_stream(sp, id, &st);

	if (!pr || st->remote_fin)
		return;
	st->remote_fin = true;
	if (st == &pr->data && pr->connected) {
		pr->c2p_done = true;
		pf_target_write_eof(pr->t);
		pair_check(pr);
	}
}

static void on_rst(struct pf_spdy *sp, const struct kt_spdy_frame *f)
{
	struct stream *st;
	struct pair *pr = find_stream(sp, f->stream_id, &st);

	if (!pr)
		return;
	st->reset = true;
	if (!pr->connected)
		pair_end(pr, END_FIN, NULL); /* it can never complete usefully */
	else if (st == &pr->data)
		pair_check(pr);
}

static void on_control(struct pf_spdy *sp, const struct kt_spdy_frame *f)
{
	struct kt_spdy_headers h;

	switch (f->type) {
	case KT_SPDY_SYN_STREAM:
		on_syn_stream(sp, f);
		break;
	case KT_SPDY_SYN_REPLY:
	case KT_SPDY_HEADERS:
		/* Decoded only to keep the zlib stream in sync. */
		if (kt_spdy_inflater_decode(sp->inf, f, &h) < 0) {
			fatal(sp, "bad header block");
			return;
		}
		if (f->type == KT_SPDY_HEADERS && (f->flags & KT_SPDY_FLAG_FIN))
			remote_fin(sp, f->stream_id);
		break;
	case KT_SPDY_RST_STREAM:
		on_rst(sp, f);
		break;
	case KT_SPDY_PING:
		/* spdystream handlePingFrame: a ping of the other side's parity is echoed. */
		if (f->ping_id & 1) {
			if (kt_spdy_build_ping(&sp->out, f->ping_id) == 0)
				flush_out(sp);
		}
		break;
	case KT_SPDY_GOAWAY:
		sp->goaway = true;
		maybe_finish(sp);
		break;
	case KT_SPDY_SETTINGS:
	case KT_SPDY_WINDOW_UPDATE:
	default:
		/* No flow control in Kubernetes' SPDY (protocol.md 2.4): ignored. */
		break;
	}
}

/* DATA payload for sp->data_sid. Returns the bytes taken: all of them, or 0 when the receiving
 * target was already blocked; *blocked tells whether to stop reading. */
static size_t on_payload(struct pf_spdy *sp, const uint8_t *p, size_t n, bool *blocked)
{
	struct stream *st;
	struct pair *pr = find_stream(sp, sp->data_sid, &st);
	bool full;

	*blocked = false;
	if (!pr || st != &pr->data || st->remote_fin || st->reset || n == 0)
		return n;
	if (!pr->connected) {
		if (kt_buf_append(&pr->early, p, n) < 0) {
			kt_log_info("port-forward %s/%s: stream %u: too much data before its pair "
				    "was complete",
				    sp->s->ns, sp->s->pod, st->id);
			send_rst(sp, st->id, KT_SPDY_CANCEL);
			st->reset = true;
			pair_end(pr, END_FIN, NULL);
		}
		return n;
	}
	if (!pf_target_open_for_output(pr->t))
		return n;
	if (pf_target_blocked(pr->t)) {
		*blocked = true;
		return 0;
	}
	pf_stats_bytes(sp->s, n, 0);
	pf_target_write(pr->t, p, n);
	full = pf_target_blocked(pr->t);
	if (!pair_check(pr))
		*blocked = full;
	return n;
}

/* Appends bytes of p from *off to acc until it holds need bytes; true when it does. */
static bool collect(struct kt_buf *acc, const uint8_t *p, size_t n, size_t *off, size_t need)
{
	size_t have = kt_buf_len(acc);
	size_t take = have < need ? need - have : 0;

	if (take > n - *off)
		take = n - *off;
	if (take && kt_buf_append(acc, p + *off, take) < 0)
		return false;
	*off += take;
	return kt_buf_len(acc) == need;
}

size_t pf_spdy_input(struct pf_spdy *sp, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		struct kt_spdy_frame f;
		const uint8_t *hp;
		int r;

		if (sp->dead || sp->s->closing)
			return n;
		if (sp->in_data) {
			size_t take = n - off;
			if (take > sp->data_left)
				take = sp->data_left;
			if (take > PF_CHUNK_MAX)
				take = PF_CHUNK_MAX;
			bool blocked;
			size_t used = on_payload(sp, p + off, take, &blocked);
			off += used;
			sp->data_left -= (uint32_t)used;
			if (sp->data_left == 0) {
				sp->in_data = false;
				if (sp->data_flags & KT_SPDY_FLAG_FIN)
					remote_fin(sp, sp->data_sid);
			}
			if (blocked)
				break;
			continue;
		}

		/* A frame header: straight from p when it is all there, else collected. */
		bool direct = kt_buf_len(&sp->acc) == 0 && n - off >= KT_SPDY_HDR_LEN;
		if (direct) {
			hp = p + off;
		} else {
			if (kt_buf_len(&sp->acc) < KT_SPDY_HDR_LEN &&
			    !collect(&sp->acc, p, n, &off, KT_SPDY_HDR_LEN))
				break;
			hp = kt_buf_peek(&sp->acc);
		}
		r = kt_spdy_parse_header(hp, KT_SPDY_HDR_LEN, 0, &f);
		if (r <= 0) {
			fatal(sp, f.error ? f.error : "bad frame header");
			return n;
		}
		if (!f.control) {
			if (direct)
				off += KT_SPDY_HDR_LEN;
			else
				kt_buf_clear(&sp->acc);
			sp->in_data = f.length > 0;
			sp->data_sid = f.stream_id;
			sp->data_flags = f.flags;
			sp->data_left = f.length;
			if (f.length == 0 && (f.flags & KT_SPDY_FLAG_FIN))
				remote_fin(sp, f.stream_id);
			continue;
		}
		if (f.length > PF_SPDY_MAX_CTL) {
			fatal(sp, "control frame too large");
			return n;
		}
		size_t total = KT_SPDY_HDR_LEN + f.length, used = 0;
		const uint8_t *fp;
		if (direct && n - off >= total) {
			fp = p + off;
			off += total;
		} else {
			if (!collect(&sp->acc, p, n, &off, total))
				break;
			fp = kt_buf_peek(&sp->acc);
		}
		r = kt_spdy_parse(fp, total, PF_SPDY_MAX_CTL, &f, &used);
		if (r <= 0) {
			fatal(sp, f.error ? f.error : "bad control frame");
			return n;
		}
		on_control(sp, &f);
		kt_buf_clear(&sp->acc);
	}
	return off;
}

bool pf_spdy_blocked(const struct pf_spdy *sp)
{
	for (const struct pair *pr = sp->pairs; pr; pr = pr->next)
		if (pr->t && pf_target_blocked(pr->t))
			return true;
	return false;
}

void pf_spdy_drain(struct pf_spdy *sp)
{
	bool progress = true;

	while (progress && !sp->s->closing && pf_session_room(sp->s) > 0) {
		struct pair *pr, *next;
		progress = false;
		for (pr = sp->pairs; pr; pr = next) {
			next = pr->next;
			if (!pr->t)
				continue;
			if (pf_target_kick(pr->t, DRAIN_QUANTUM) > 0)
				progress = true;
			pair_check(pr);
		}
	}
	/* Rotate, so the next drain starts with another pair. */
	if (sp->pairs && sp->pairs != sp->tail) {
		struct pair *first = sp->pairs;
		sp->pairs = first->next;
		sp->pairs->prev = NULL;
		first->prev = sp->tail;
		first->next = NULL;
		sp->tail->next = first;
		sp->tail = first;
	}
}

void pf_spdy_pod_gone(struct pf_spdy *sp)
{
	struct pair *pr, *next;

	for (pr = sp->pairs; pr; pr = next) {
		next = pr->next;
		if (pr->connected)
			pair_end(pr, END_RST, NULL);
	}
}

size_t pf_spdy_pairs(const struct pf_spdy *sp)
{
	return sp->npairs;
}

struct pf_spdy *pf_spdy_new(struct pf_session *s)
{
	struct pf_spdy *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	sp->s = s;
	kt_buf_init(&sp->out, PF_SPDY_MAX_CTL + 64);
	kt_buf_init(&sp->acc, KT_SPDY_HDR_LEN + PF_SPDY_MAX_CTL);
	sp->inf = kt_spdy_inflater_new(0, 0);
	sp->def = kt_spdy_deflater_new(0);
	if (!sp->inf || !sp->def) {
		pf_spdy_free(sp);
		return NULL;
	}
	return sp;
}

void pf_spdy_free(struct pf_spdy *sp)
{
	if (!sp)
		return;
	while (sp->pairs)
		pair_free(sp->pairs);
	kt_spdy_inflater_free(sp->inf);
	kt_spdy_deflater_free(sp->def);
	kt_buf_fini(&sp->out);
	kt_buf_fini(&sp->acc);
	free(sp);
}
