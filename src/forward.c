/* forward.c: one port-forward stream per accepted TCP connection, spliced with flow control
 * (see forward.h for the contract).
 *
 * A struct conn lives from the accepted SYN until both of its halves are gone: the netstack
 * handle (h, NULL once closed, aborted, refused or reported closed) and the stream (s, NULL
 * once freed). Every callback into the engine increments conn->busy for its duration and the
 * conn is freed only when busy drops to 0 with both halves gone, so a nested callback (a stream
 * that reports on_close from inside kt_pf_close, say) never frees memory a caller still uses.
 * The engine owns every conn (list in struct kt_forward); each conn holds one reference on its
 * mapping's statistics. */
#include "forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "evloop.h"
#include "log.h"
#include "mapping.h"
#include "pf.h"

struct conn {
	struct conn *prev, *next;
	struct kt_forward *fw;
	struct kt_tcp *h;
	struct kt_pf_stream *s;
	struct kt_mapping_stats *st;
	struct kt_timer *linger; /* created on the app's FIN */
	struct kt_buf up;	 /* app → pod, not yet taken by the stream */
	struct kt_buf down;	 /* pod → app, not yet taken by lwIP */
	unsigned busy;
	bool syn_pending;   /* SYN held, waiting for the stream */
	bool tcp_connected; /* handshake done */
	bool stream_open;
	bool app_fin;
	bool pod_done; /* the stream ended cleanly: finish the app side after down drains */
	bool failed;   /* error recorded: reset the app */
	bool rx_paused;
	bool pod_spoke_last; /* the last bytes seen came from the pod */
	uint16_t port;	     /* pod port */
	char where[160];     /* "ns/pod:port" for logs */
};

struct kt_forward {
	struct kt_forward_config cfg;
	struct conn *conns;
	struct kt_forward_stats st;
};

static void conn_enter(struct conn *c)
{
	c->busy++;
}

static void conn_unlink_free(struct conn *c)
{
	struct kt_forward *fw = c->fw;

	if (c->prev)
		c->prev->next = c->next;
	else
		fw->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	kt_timer_free(c->linger);
	kt_buf_fini(&c->up);
	kt_buf_fini(&c->down);
	if (c->st && c->st->conns_active)
		c->st->conns_active--;
	kt_mapping_stats_unref(c->st);
	fw->st.active--;
	free(c);
}

/* Leaves a callback: frees the conn once nobody is inside it and both halves are gone. */
static void conn_leave(struct conn *c)
{
	if (--c->busy == 0 && !c->h && !c->s)
		conn_unlink_free(c);
}

static void record_error(struct conn *c, const char *text)
{
	if (c->failed)
		return;
	c->failed = true;
	c->st->conns_failed++;
	c->st->last_failed = true;
	if (kt_mapping_stats_error(c->st, text))
		kt_log_warnx("%s (%s): %s", c->st->key, c->where, text);
	else
		kt_log_debug("%s (%s): again: %s", c->st->key, c->where, text);
}

/* Ends the app side with RST (or refuses a held SYN). */
static void app_reset(struct conn *c)
{
	if (!c->h)
		return;
	if (c->syn_pending) {
		c->syn_pending = false;
		kt_netstack_syn_complete(c->h, 0);
	} else {
		kt_tcp_abort(c->h);
	}
	c->h = NULL;
}

static void stream_free(struct conn *c)
{
	if (c->s) {
		kt_pf_stream_free(c->s);
		c->s = NULL;
	}
}

/* Frees a drained buffer's memory: an idle connection should hold no buffer. */
static void buf_trim(struct kt_buf *b)
{
	if (kt_buf_len(b) == 0 && b->data)
		kt_buf_fini(b);
}

/* The app side is finished gracefully: queued bytes go out, then FIN (RST if app bytes were
 * never taken by the stream, as close() with unread data). */
static void app_finish(struct conn *c)
{
	if (!c->h)
		return;
	kt_tcp_close(c->h);
	c->h = NULL;
}

/* ---- pod → app ---- */

static void down_flush(struct conn *c)
{
	while (c->h && c->tcp_connected && kt_buf_len(&c->down)) {
		ssize_t n = kt_tcp_send(c->h, kt_buf_peek(&c->down), kt_buf_len(&c->down));

		if (n < 0) {
			record_error(c, "connection to the app failed while sending");
			app_reset(c);
			stream_free(c);
			return;
		}
		if (n == 0)
			break;
		kt_buf_consume(&c->down, (size_t)n);
	}
	buf_trim(&c->down);
	if (kt_buf_len(&c->down))
		return;
	if (c->pod_done) {
		/* Before the handshake completed there is nothing to finish yet: the
		 * connected callback flushes again. */
		if (c->tcp_connected)
			app_finish(c);
		return;
	}
	if (c->rx_paused && c->s) {
		c->rx_paused = false;
		kt_pf_pause_rx(c->s, false);
	}
}

/* ---- app → pod ---- */

static void up_flush(struct conn *c)
{
	while (c->s && c->stream_open && kt_buf_len(&c->up)) {
		size_t room = kt_pf_send_room(c->s), n = kt_buf_len(&c->up);
		int r;

		if (room == 0)
			break;
		if (n > room)
			n = room;
		r = kt_pf_send(c->s, kt_buf_peek(&c->up), n);
		if (r < 0) {
			record_error(c, "port-forward stream failed while sending");
			app_reset(c);
			stream_free(c);
			return;
		}
		kt_buf_consume(&c->up, n);
		if (c->h)
			kt_tcp_recved(c->h, n);
	}
	buf_trim(&c->up);
}

/* ---- half close ---- */

static void linger_fire(void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	/* The app sent FIN and the pod either answered already or has been silent since: v4
	 * cannot pass the FIN on, so end the stream; the app gets FIN once what we hold has been
	 * delivered. */
	kt_log_debug("%s (%s): app closed its side: closing the stream", c->st->key, c->where);
	stream_free(c);
	c->pod_done = true;
	down_flush(c);
	conn_leave(c);
}

static void linger_arm(struct conn *c)
{
	if (!c->app_fin || !c->s || kt_buf_len(&c->up))
		return;
	/* The pod answered after the app's last bytes: the exchange looks complete (curl and
	 * most clients close after reading the reply), so end now. Otherwise the app may have
	 * half-closed after a request and waits for the reply: give the pod time. */
	if (c->pod_spoke_last) {
		linger_fire(c);
		return;
	}
	if (!c->linger) {
		c->linger = kt_timer_new(c->fw->cfg.loop, linger_fire, c);
		if (!c->linger) {
			linger_fire(c);
			return;
		}
	}
	kt_timer_arm(c->linger, KT_FORWARD_HALF_CLOSE_MS);
}

/* ---- stream callbacks ---- */

static void pf_open(void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	c->stream_open = true;
	c->st->last_failed = false;
	if (c->h && c->syn_pending) {
		c->syn_pending = false;
		if (kt_netstack_syn_complete(c->h, 1)) {
			/* The netstack gave up on the SYN meanwhile (its closed callback
			 * follows or came): nothing to answer. */
			kt_log_debug("%s: SYN no longer pending", c->where);
		}
	}
	up_flush(c);
	conn_leave(c);
}

static void pf_data(void *arg, const uint8_t *p, size_t n)
{
	struct conn *c = arg;
	size_t off = 0;

	conn_enter(c);
	c->st->bytes_out += n;
	c->pod_spoke_last = true;
	if (!c->h) {
		/* The app is gone: drop. */
		conn_leave(c);
		return;
	}
	if (c->tcp_connected && kt_buf_len(&c->down) == 0) {
		ssize_t k = kt_tcp_send(c->h, p, n);

		if (k < 0) {
			record_error(c, "connection to the app failed while sending");
			app_reset(c);
			stream_free(c);
			conn_leave(c);
			return;
		}
		off = (size_t)k;
	}
	if (off < n) {
		if (kt_buf_append(&c->down, p + off, n - off)) {
			record_error(c, "pod data exceeded the per-connection buffer");
			app_reset(c);
			stream_free(c);
			conn_leave(c);
			return;
		}
		if (!c->rx_paused && c->s) {
			c->rx_paused = true;
			kt_pf_pause_rx(c->s, true);
		}
	}
	if (c->linger && kt_timer_armed(c->linger))
		kt_timer_arm(c->linger, KT_FORWARD_HALF_CLOSE_MS);
	conn_leave(c);
}

static void pf_writable(void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	up_flush(c);
	linger_arm(c);
	conn_leave(c);
}

static void pf_error(void *arg, const char *text)
{
	struct conn *c = arg;
	char line[KT_MAPPING_ERR_MAX];
	size_t n;

	conn_enter(c);
	/* One line: the kubelet's message may end with a newline. */
	snprintf(line, sizeof(line), "%s", text && *text ? text : "port-forward error");
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	record_error(c, line);
	app_reset(c);
	conn_leave(c);
}

static void pf_close(void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	stream_free(c);
	if (c->failed) {
		app_reset(c);
	} else if (!c->stream_open) {
		record_error(c, "port-forward stream closed before it opened");
		app_reset(c);
	} else {
		c->pod_done = true;
		down_flush(c);
	}
	conn_leave(c);
}

static const struct kt_pf_ops pf_ops = {
    .on_open = pf_open,
    .on_data = pf_data,
    .on_writable = pf_writable,
    .on_error = pf_error,
    .on_close = pf_close,
};

/* ---- netstack callbacks ---- */

static void tcp_connected(void *arg, struct kt_tcp *h)
{
	struct conn *c = arg;

	(void)h;
	conn_enter(c);
	c->tcp_connected = true;
	down_flush(c);
	conn_leave(c);
}

static void tcp_recv(void *arg, struct kt_tcp *h, const uint8_t *data, size_t len)
{
	struct conn *c = arg;
	size_t off = 0;

	conn_enter(c);
	c->st->bytes_in += len;
	if (len)
		c->pod_spoke_last = false;
	if (!c->s) {
		/* The stream is gone and the app is being finished: take and drop. */
		kt_tcp_recved(h, len);
		conn_leave(c);
		return;
	}
	if (kt_buf_len(&c->up) == 0 && c->stream_open) {
		size_t room = kt_pf_send_room(c->s);

		off = len < room ? len : room;
		if (off && kt_pf_send(c->s, data, off) < 0) {
			record_error(c, "port-forward stream failed while sending");
			app_reset(c);
			stream_free(c);
			conn_leave(c);
			return;
		}
		if (off)
			kt_tcp_recved(h, off);
	}
	if (off < len && kt_buf_append(&c->up, data + off, len - off)) {
		/* Cannot happen while the window is honoured: it bounds what lwIP delivers. */
		record_error(c, "app data exceeded the receive window");
		app_reset(c);
		stream_free(c);
	}
	conn_leave(c);
}

static void tcp_fin(void *arg, struct kt_tcp *h)
{
	struct conn *c = arg;

	(void)h;
	conn_enter(c);
	c->app_fin = true;
	if (!c->s) {
		c->pod_done = true;
		down_flush(c);
	} else {
		linger_arm(c);
	}
	conn_leave(c);
}

static void tcp_sent(void *arg, struct kt_tcp *h, size_t acked)
{
	struct conn *c = arg;

	(void)h;
	(void)acked;
	conn_enter(c);
	down_flush(c);
	conn_leave(c);
}

static void tcp_closed(void *arg, struct kt_tcp *h, int err)
{
	struct conn *c = arg;

	(void)h;
	conn_enter(c);
	c->h = NULL;
	if (err == -ETIMEDOUT && !c->stream_open)
		record_error(c, "timed out waiting for the port-forward stream to open");
	else if (err && err != -ECONNRESET)
		kt_log_debug("%s (%s): app connection ended: %s", c->st->key, c->where,
			     strerror(-err));
	stream_free(c);
	conn_leave(c);
}

static const struct kt_tcp_callbacks tcp_ops = {
    .connected = tcp_connected,
    .recv = tcp_recv,
    .fin = tcp_fin,
    .sent = tcp_sent,
    .closed = tcp_closed,
};

/* ---- engine ---- */

struct kt_forward *kt_forward_new(const struct kt_forward_config *cfg)
{
	struct kt_forward *fw = calloc(1, sizeof(*fw));

	if (fw)
		fw->cfg = *cfg;
	return fw;
}

void kt_forward_free(struct kt_forward *fw)
{
	if (!fw)
		return;
	while (fw->conns) {
		struct conn *c = fw->conns;

		c->busy++; /* no frees from nested callbacks while we tear down */
		stream_free(c);
		app_reset(c);
		c->busy = 0;
		conn_unlink_free(c);
	}
	free(fw);
}

void kt_forward_get_stats(const struct kt_forward *fw, struct kt_forward_stats *out)
{
	*out = fw->st;
}

static void fmt_flow(const struct kt_netstack_flow *f, char *buf, size_t cap)
{
	struct in_addr a = {.s_addr = htonl(f->vip)};
	char ip[INET_ADDRSTRLEN];

	if (!inet_ntop(AF_INET, &a, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, cap, "%s:%u", ip, f->port);
}

enum kt_netstack_verdict kt_forward_accept(struct kt_forward *fw, struct kt_tcp *h,
					   const struct kt_netstack_flow *flow)
{
	const struct kt_snapshot *snap = kt_mapping_current(fw->cfg.mapping);
	const struct kt_mapping_entry *e = kt_snapshot_lookup(snap, flow->vip, flow->port);
	const struct kt_mapping_pod *pod;
	struct conn *c;
	char dst[64];

	if (!e) {
		if (kt_log_verbosity() > 0) {
			fmt_flow(flow, dst, sizeof(dst));
			kt_log_debug("refused %s: no mapping", dst);
		}
		fw->st.refused++;
		return KT_NETSTACK_REFUSE;
	}
	pod = kt_mapping_pick(e);
	if (!pod) {
		char text[KT_MAPPING_ERR_MAX];

		snprintf(text, sizeof(text), "no ready pod for %s in %s", e->forward, e->ns);
		e->stats->conns_total++;
		e->stats->conns_failed++;
		if (kt_mapping_stats_error(e->stats, text))
			kt_log_warnx("%s: %s", e->stats->key, text);
		fw->st.refused++;
		return KT_NETSTACK_REFUSE;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fw->st.refused++;
		return KT_NETSTACK_REFUSE;
	}
	c->fw = fw;
	c->h = h;
	c->st = kt_mapping_stats_ref(e->stats);
	c->port = pod->port;
	c->syn_pending = true;
	kt_buf_init(&c->up, KT_NETSTACK_RCV_WINDOW);
	kt_buf_init(&c->down, KT_FORWARD_DOWN_MAX);
	snprintf(c->where, sizeof(c->where), "%s/%s:%u", e->ns, pod->name, pod->port);
	c->next = fw->conns;
	if (fw->conns)
		fw->conns->prev = c;
	fw->conns = c;
	fw->st.active++;
	c->st->conns_active++;
	c->st->conns_total++;
	c->s = kt_pf_open(fw->cfg.k8s, e->ns, pod->name, pod->port, &pf_ops, c);
	if (!c->s) {
		record_error(c, "cannot start a port-forward stream");
		c->h = NULL; /* REFUSE frees the handle on return */
		conn_unlink_free(c);
		fw->st.refused++;
		return KT_NETSTACK_REFUSE;
	}
	kt_tcp_set_callbacks(h, &tcp_ops, c);
	fw->st.accepted++;
	kt_log_debug("%s → %s", c->st->key, c->where);
	return KT_NETSTACK_PENDING;
}

/* Connections whose mapping the current snapshot no longer has (their statistics object is
 * shared by consecutive snapshots, so "gone" means no entry holds it now) are ended the way a
 * pod that closes ends them: the stream is closed, what the pod sent is delivered, then FIN. */
size_t kt_forward_close_unmapped(struct kt_forward *fw)
{
	const struct kt_snapshot *snap = kt_mapping_current(fw->cfg.mapping);
	size_t n = kt_snapshot_count(snap), closed = 0;
	struct conn *c, *next;

	for (c = fw->conns; c; c = next) {
		bool mapped = false;

		for (size_t i = 0; i < n && !mapped; i++)
			mapped = kt_snapshot_entry(snap, i)->stats == c->st;
		next = c->next;
		if (mapped || (!c->h && !c->s))
			continue;
		conn_enter(c);
		kt_log_debug("%s (%s): mapping removed: closing", c->st->key, c->where);
		closed++;
		if (c->syn_pending || !c->tcp_connected) {
			app_reset(c);
			stream_free(c);
		} else {
			stream_free(c);
			c->pod_done = true;
			down_flush(c);
		}
		/* conn_leave may free c; next was read before. Freeing c cannot free next: only
		 * c's own callbacks run from here. */
		conn_leave(c);
	}
	return closed;
}
