/* pf.c: Kubernetes port-forward streams over WebSocket v4.channel.k8s.io (pf.h).
 *
 * One stream = one lws WebSocket client connection on the cluster's vhost (k8s_lws.h) to
 *   GET {prefix}/api/v1/namespaces/{ns}/pods/{pod}/portforward?ports={port}
 * offering Sec-WebSocket-Protocol v4.channel.k8s.io, with the client's credentials.
 * Wire format (protocol.md section 1): every binary message is [channel][payload]; the
 * server sends, once per channel, a first message whose payload starts with the port as
 * 2 bytes little-endian (data channel 0, then error channel 1), then pod bytes on channel 0
 * and "error forwarding port ..." text on channel 1. The client sends [0x00][payload]. A
 * stream is open once both prefixes arrived and named our port.
 *
 * Flow control: kt_pf_send() queues at most PF_SEND_QUEUE bytes; LWS_CALLBACK_CLIENT_WRITEABLE
 * sends them as messages of at most PF_MSG_MAX payload bytes (LWS_PRE headroom in a stack
 * buffer) and on_writable fires when the queue had filled up and has room again. Pod bytes
 * stop with lws_rx_flow_control(): lws then keeps the rest of what it already read and reads
 * nothing more from the socket.
 *
 * A non-101 answer to the upgrade is reported with the Status message of the answer. lws 4.1
 * drops the body of a failed WebSocket upgrade, so the stream repeats the request once as a
 * plain GET (which never opens a pod connection) and takes the Status from that answer when it
 * carries the same code. A 401 with an exec credential first re-runs the plugin and retries.
 *
 * Memory per stream (bounded): this struct (~300 bytes), the lws wsi with its WebSocket rx
 * buffer (16 KiB, rx_buffer_size in k8s.c) and OpenSSL's per-connection state always; while
 * data flows also the send queue (<= 64 KiB, freed when empty), one partially written message
 * inside lws (<= 32 KiB), the rx bytes lws holds back while paused (<= 16 KiB), OpenSSL's
 * record buffers (~34 KiB, released when idle: SSL_MODE_RELEASE_BUFFERS) and error-channel
 * text (<= 4 KiB). Worst case about 200 KiB; an idle open stream measured about 62 KiB of RSS
 * (300 idle streams to the fake cluster, TLS included; 49 KiB with a 4 KiB rx buffer).
 *
 * Callbacks and lifetime follow the rules of k8s.c: a stream detaches from its wsi before it
 * reports its end, user callbacks are bracketed by pf_enter/pf_leave so kt_pf_stream_free()
 * inside any of them only marks the stream and the outermost frame frees it, and nothing runs
 * inside kt_pf_open() (the connection starts from a zero-delay sul). */
#include "pf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "k8s_lws.h"

#define PF_MSG_MAX (32u * 1024)
#define PF_SEND_QUEUE (64u * 1024)
#define PF_ERR_MAX 4096u
#define PF_WS_PROTOCOL "v4.channel.k8s.io"
#define NAME_MAX_LEN 253

enum pf_state {
	PF_CONNECTING, /* waiting for the start sul or the WebSocket handshake */
	PF_OPENING,    /* WebSocket up, port prefixes not complete */
	PF_OPEN,
	PF_PROBING, /* upgrade refused; fetching the Status with a plain GET */
	PF_DONE,    /* on_close delivered or scheduled */
};

struct kt_pf_stream {
	struct kt_k8s_child child;
	struct kt_k8s *k;
	struct lws *wsi; /* NULL when no connection is attached */
	char *path;	 /* API path with query, without the server prefix */
	uint16_t port;
	struct kt_pf_ops ops;
	void *arg;
	enum pf_state st;
	int cur_ch;	     /* channel of the message being received; -2 at a message start,
			      * -1 for a message that is ignored */
	uint8_t pfx_have[2]; /* bytes of the 2-byte port prefix seen per channel */
	uint8_t pfx[2][2];
	struct kt_buf txq;     /* [payload] bytes to send on channel 0 */
	struct kt_buf errtext; /* error-channel text, reported at the end */
	int http_status;       /* the upgrade answer's status (101 when it worked) */
	bool ws_up;	       /* CLIENT_ESTABLISHED seen */
	bool rx_paused;
	bool tx_blocked;      /* the send queue filled up: on_writable is owed */
	bool close_requested; /* kt_pf_close(): flush, then close frame 1000 */
	bool auth_retried;
	bool connecting, conn_failed;
	bool need_probe; /* the connect failed for a reason lws did not say */
	struct kt_k8s_probe *tcp_probe;
	bool freed;		  /* kt_pf_stream_free() ran inside a user callback */
	unsigned in_user;	  /* user callbacks on the stack */
	unsigned in_lws;	  /* our lws callbacks on the stack */
	struct kt_k8s_req *probe; /* the plain GET after a refused upgrade */
	lws_sorted_usec_list_t sul_start, sul_end;
	char tls_err[192];
	char err[400];
};

/* ---- lifetime ---- */

static void pf_detach(struct kt_pf_stream *s)
{
	struct lws *wsi = s->wsi;

	s->wsi = NULL;
	if (!wsi)
		return;
	lws_set_wsi_user(wsi, NULL);
	/* Closing now is only allowed outside this wsi's own callbacks; inside them the callback
	 * returns -1 and lws closes it. */
	if (!s->in_lws && !s->connecting)
		lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
}

static void pf_destroy(struct kt_pf_stream *s)
{
	kt_k8s_child_del(s->k, &s->child);
	lws_sul_cancel(&s->sul_start);
	lws_sul_cancel(&s->sul_end);
	if (s->probe)
		kt_k8s_req_cancel(s->probe);
	kt_k8s_probe_cancel(s->tcp_probe);
	pf_detach(s);
	kt_buf_fini(&s->txq);
	kt_buf_fini(&s->errtext);
	free(s->path);
	free(s);
}

static void pf_abandon(struct kt_k8s_child *ch)
{
	struct kt_pf_stream *s = lws_container_of(ch, struct kt_pf_stream, child);

	s->in_lws = 0;
	pf_destroy(s);
}

static void pf_enter(struct kt_pf_stream *s)
{
	s->in_user++;
}

/* False when the user freed the stream meanwhile (it is gone once the outermost frame
 * leaves): the caller must not touch it again and, inside an lws callback, returns -1. */
static bool pf_leave(struct kt_pf_stream *s)
{
	s->in_user--;
	if (!s->freed)
		return true;
	if (s->in_user == 0)
		pf_destroy(s);
	return false;
}

/* Reports the end: the error text (if any), then on_close. Returns pf_leave's verdict. */
static bool pf_finish(struct kt_pf_stream *s)
{
	lws_sul_cancel(&s->sul_end);
	s->st = PF_DONE;
	kt_buf_fini(&s->txq);
	if (kt_buf_len(&s->errtext) && s->ops.on_error) {
		char *t = malloc(kt_buf_len(&s->errtext) + 1);

		if (t) {
			memcpy(t, kt_buf_peek(&s->errtext), kt_buf_len(&s->errtext));
			t[kt_buf_len(&s->errtext)] = '\0';
		}
		kt_buf_fini(&s->errtext);
		pf_enter(s);
		s->ops.on_error(s->arg, t ? t : "port-forward error (out of memory)");
		free(t);
		if (!pf_leave(s))
			return false;
	}
	pf_enter(s);
	s->ops.on_close(s->arg);
	return pf_leave(s);
}

static void pf_end_fire(lws_sorted_usec_list_t *sul)
{
	pf_finish(lws_container_of(sul, struct kt_pf_stream, sul_end));
}

/* Records a failure text (reported before on_close) unless one is there already. */
static void pf_set_error(struct kt_pf_stream *s, const char *text)
{
	if (kt_buf_len(&s->errtext) == 0)
		kt_buf_append(&s->errtext, text, strnlen(text, PF_ERR_MAX));
}

/* Ends the stream from outside an lws callback of its own, at the next turn of the loop. */
static void pf_end_async(struct kt_pf_stream *s)
{
	s->st = PF_DONE;
	kt_k8s_probe_cancel(s->tcp_probe);
	s->tcp_probe = NULL;
	pf_detach(s);
	lws_sul_schedule(kt_k8s_lws_context(s->k), 0, &s->sul_end, pf_end_fire, 0);
}

/* ---- connecting ---- */

static void pf_probed(void *arg, int err)
{
	struct kt_pf_stream *s = arg;

	s->tcp_probe = NULL;
	kt_k8s_conn_error(s->k, "Unable to connect", err, NULL, s->err, sizeof(s->err));
	kt_k8s_note_error(s->k, s->err);
	pf_set_error(s, s->err);
	pf_finish(s);
}

/* The connection failed before any HTTP answer; s->err says why, unless a probe must. Returns
 * pf_finish's verdict (false: s is gone). */
static bool pf_conn_failed(struct kt_pf_stream *s)
{
	if (s->need_probe) {
		s->need_probe = false;
		s->tcp_probe = kt_k8s_probe_start(s->k, pf_probed, s);
		if (s->tcp_probe)
			return true;
	}
	kt_k8s_note_error(s->k, s->err);
	pf_set_error(s, s->err);
	return pf_finish(s);
}

static void pf_connect(lws_sorted_usec_list_t *sul)
{
	struct kt_pf_stream *s = lws_container_of(sul, struct kt_pf_stream, sul_start);
	struct lws *wsi;

	s->err[0] = s->tls_err[0] = '\0';
	s->in_lws = 0; /* from a sul: none of our lws callbacks is on the stack */
	s->http_status = 0;
	s->ws_up = false;
	s->cur_ch = -2;
	s->pfx_have[0] = s->pfx_have[1] = 0;
	if (kt_k8s_prepare_auth(s->k, s->err, sizeof(s->err)) < 0) {
		kt_k8s_note_error(s->k, s->err);
		pf_set_error(s, s->err);
		pf_finish(s);
		return;
	}
	s->connecting = true;
	s->conn_failed = false;
	s->need_probe = false;
	wsi = kt_k8s_lws_connect(s->k, s->path, NULL, PF_WS_PROTOCOL, KT_K8S_PF_PROTOCOL, s,
				 &s->wsi, s->err, sizeof(s->err));
	s->connecting = false;
	if (!wsi || s->conn_failed) {
		if (s->wsi && !s->conn_failed)
			lws_set_wsi_user(s->wsi, NULL);
		s->wsi = NULL;
		pf_conn_failed(s);
		return;
	}
	s->wsi = wsi;
}

static void probe_done(void *arg, int status, const char *body, size_t len, const char *err)
{
	struct kt_pf_stream *s = arg;
	char *m = NULL;
	cJSON *j;

	(void)err;
	s->probe = NULL; /* the request frees itself */
	if (status == s->http_status && body && (j = cJSON_ParseWithLength(body, len))) {
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");

		if (cJSON_IsString(msg) && msg->valuestring[0])
			m = strdup(msg->valuestring);
		cJSON_Delete(j);
	}
	if (m)
		snprintf(s->err, sizeof(s->err), "HTTP %d: %s", s->http_status, m);
	else
		snprintf(s->err, sizeof(s->err), "HTTP %d from the port-forward upgrade",
			 s->http_status);
	free(m);
	kt_k8s_note_error(s->k, s->err);
	pf_set_error(s, s->err);
	pf_finish(s);
}

/* The upgrade was answered with something other than 101. Called from CONNECTION_ERROR,
 * with the wsi already given up. */
static void pf_refused(struct kt_pf_stream *s)
{
	if (s->http_status == 401 && !s->auth_retried && kt_k8s_auth_refresh(s->k)) {
		s->auth_retried = true;
		lws_sul_schedule(kt_k8s_lws_context(s->k), 0, &s->sul_start, pf_connect, 0);
		return;
	}
	s->st = PF_PROBING;
	s->probe = kt_k8s_get(s->k, s->path, probe_done, s);
	if (!s->probe) {
		snprintf(s->err, sizeof(s->err), "HTTP %d from the port-forward upgrade",
			 s->http_status);
		pf_set_error(s, s->err);
		pf_end_async(s);
	}
}

/* ---- receiving ---- */

/* Takes prefix bytes for channel ch from *p; true when the prefix became complete. */
static bool take_prefix(struct kt_pf_stream *s, int ch, const uint8_t **p, size_t *n)
{
	while (s->pfx_have[ch] < 2 && *n > 0) {
		s->pfx[ch][s->pfx_have[ch]++] = **p;
		(*p)++;
		(*n)--;
	}
	return s->pfx_have[ch] == 2;
}

/* Handles one piece of a received message. Returns 0, or -1 when the stream ended or was
 * freed (the lws callback then returns -1 without touching s). */
static int pf_rx(struct kt_pf_stream *s, const uint8_t *p, size_t n)
{
	if (s->cur_ch == -2) {
		if (n == 0)
			return 0; /* an empty message is ignored (wsstream/conn.go) */
		s->cur_ch = p[0] <= 1 ? p[0] : -1; /* we asked for one port: channels 0 and 1 */
		p++;
		n--;
	}
	if (s->cur_ch < 0)
		return 0;
	if (s->pfx_have[s->cur_ch] < 2) {
		int ch = s->cur_ch;

		if (take_prefix(s, ch, &p, &n)) {
			uint16_t got = (uint16_t)(s->pfx[ch][0] | s->pfx[ch][1] << 8);

			/* protocol.md 1.5: unsigned 16-bit little-endian. */
			if (got != s->port) {
				snprintf(
				    s->err, sizeof(s->err),
				    "port-forward: the server announced port %u on channel %d, "
				    "expected %u",
				    got, ch, s->port);
				pf_set_error(s, s->err);
				return -1;
			}
			if (s->pfx_have[0] == 2 && s->pfx_have[1] == 2 && s->st == PF_OPENING) {
				s->st = PF_OPEN;
				pf_enter(s);
				s->ops.on_open(s->arg);
				if (!pf_leave(s))
					return -1;
			}
		}
	}
	if (n == 0)
		return 0;
	if (s->cur_ch == 1) {
		size_t room = PF_ERR_MAX - kt_buf_len(&s->errtext);

		kt_buf_append(&s->errtext, p, n < room ? n : room);
		return 0;
	}
	if (s->st != PF_OPEN) {
		snprintf(s->err, sizeof(s->err), "port-forward: data before the port prefixes");
		pf_set_error(s, s->err);
		return -1;
	}
	pf_enter(s);
	s->ops.on_data(s->arg, p, n);
	return pf_leave(s) ? 0 : -1;
}

/* ---- sending ---- */

static int pf_tx(struct kt_pf_stream *s, struct lws *wsi)
{
	uint8_t buf[LWS_PRE + 1 + PF_MSG_MAX];
	size_t n = kt_buf_len(&s->txq);

	if (n > PF_MSG_MAX)
		n = PF_MSG_MAX;
	if (n) {
		/* protocol.md 1.4: client data is [channel 0][payload], one binary message. */
		buf[LWS_PRE] = 0;
		memcpy(buf + LWS_PRE + 1, kt_buf_peek(&s->txq), n);
		if (lws_write(wsi, buf + LWS_PRE, n + 1, LWS_WRITE_BINARY) < (int)(n + 1)) {
			snprintf(s->err, sizeof(s->err), "port-forward: write failed");
			return -1;
		}
		kt_buf_consume(&s->txq, n);
		if (kt_buf_len(&s->txq))
			lws_callback_on_writable(wsi);
		else
			kt_buf_fini(&s->txq); /* an idle stream keeps no send buffer */
		if (s->tx_blocked && !s->close_requested) {
			s->tx_blocked = false;
			if (s->ops.on_writable) {
				pf_enter(s);
				s->ops.on_writable(s->arg);
				if (!pf_leave(s))
					return -1;
			}
		}
		if (kt_buf_len(&s->txq))
			return 0;
	}
	if (s->close_requested) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

/* ---- the lws protocol ---- */

static int pf_cb_inner(struct kt_pf_stream *s, struct lws *wsi, enum lws_callback_reasons reason,
		       void *in, size_t len, int saved_errno)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return kt_k8s_lws_append_headers(s->k, wsi, (char **)in, len, s->err,
						 sizeof(s->err)) < 0
			   ? -1
			   : 0;

	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		/* lws 4.1 calls this for a WebSocket client too, with the upgrade's status. */
		s->http_status = (int)lws_http_client_http_response(wsi);
		return 0;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		pf_detach(s);
		if (s->connecting)
			s->conn_failed = true;
		if (s->http_status && s->http_status != 101) {
			pf_refused(s);
			return 0;
		}
		if (!s->err[0])
			kt_k8s_conn_error(s->k, in, saved_errno, s->tls_err, s->err,
					  sizeof(s->err));
		s->need_probe = !s->tls_err[0] && kt_k8s_conn_error_needs_probe(in, saved_errno);
		if (s->connecting)
			return 0; /* pf_connect() finishes once lws returns */
		pf_conn_failed(s);
		return -1;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		kt_k8s_note_ok(s->k);
		s->ws_up = true;
		s->st = PF_OPENING;
		if (s->rx_paused)
			lws_rx_flow_control(wsi, 0);
		if (kt_buf_len(&s->txq) || s->close_requested)
			lws_callback_on_writable(wsi);
		return 0;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (pf_rx(s, in, len) < 0)
			return -1;
		if (lws_is_final_fragment(wsi))
			s->cur_ch = -2;
		return 0;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return pf_tx(s, wsi);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return 0; /* lws answers the close frame */

	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		pf_detach(s);
		if (s->st != PF_OPEN && !s->close_requested)
			pf_set_error(
			    s, "port-forward: the connection closed before the stream opened");
		pf_finish(s);
		return 0;

	default:
		return 0;
	}
}

int kt_pf_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	int saved_errno = errno;
	struct kt_pf_stream *s;
	int r;

	if (reason == LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION) {
		/* user is the X509_STORE_CTX here; the stream is the wsi's user data. */
		s = lws_wsi_user(wsi);
		return s ? kt_k8s_lws_tls_verify(s->k, user, (int)len, s->tls_err,
						 sizeof(s->tls_err))
			 : 0;
	}
	s = user;
	if (!s) {
		/* Given up by its stream: let it close. */
		switch (reason) {
		case LWS_CALLBACK_CLIENT_RECEIVE:
		case LWS_CALLBACK_CLIENT_WRITEABLE:
		case LWS_CALLBACK_CLIENT_ESTABLISHED:
		case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
			return -1;
		default:
			return 0;
		}
	}
	s->in_lws++;
	r = pf_cb_inner(s, wsi, reason, in, len, saved_errno);
	/* s may be gone: only while the wsi is still ours is s known to be alive. A wsi given
	 * up gets -1, which closes it (for the closing reasons lws ignores the value). */
	if (lws_wsi_user(wsi) != s)
		return -1;
	s->in_lws--;
	return r;
}

/* ---- API ---- */

/* Kubernetes object names are DNS-1123 subdomains: lower-case alphanumerics, '-' and '.'. */
static bool valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

struct kt_pf_stream *kt_pf_open(struct kt_k8s *k, const char *ns, const char *pod, uint16_t port,
				const struct kt_pf_ops *ops, void *arg)
{
	struct kt_pf_stream *s;
	size_t cap;

	if (!k || !valid_name(ns) || !valid_name(pod) || port == 0 || !ops || !ops->on_open ||
	    !ops->on_data || !ops->on_close)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	cap = strlen(ns) + strlen(pod) + 64;
	s->path = malloc(cap);
	if (!s->path) {
		free(s);
		return NULL;
	}
	snprintf(s->path, cap, "/api/v1/namespaces/%s/pods/%s/portforward?ports=%u", ns, pod, port);
	s->k = k;
	s->port = port;
	s->ops = *ops;
	s->arg = arg;
	s->st = PF_CONNECTING;
	s->cur_ch = -2;
	kt_buf_init(&s->txq, PF_SEND_QUEUE);
	kt_buf_init(&s->errtext, PF_ERR_MAX);
	s->child.abandon = pf_abandon;
	kt_k8s_child_add(k, &s->child);
	lws_sul_schedule(kt_k8s_lws_context(k), 0, &s->sul_start, pf_connect, 0);
	return s;
}

static bool pf_sendable(const struct kt_pf_stream *s)
{
	return (s->st == PF_CONNECTING || s->st == PF_OPENING || s->st == PF_OPEN) &&
	       !s->close_requested && !s->freed;
}

int kt_pf_send(struct kt_pf_stream *s, const uint8_t *p, size_t n)
{
	int r;

	if (!pf_sendable(s))
		return -EPIPE;
	if (n > kt_buf_room(&s->txq)) {
		s->tx_blocked = true;
		return -ENOBUFS;
	}
	r = kt_buf_append(&s->txq, p, n);
	if (r < 0)
		return r;
	if (kt_buf_room(&s->txq) == 0)
		s->tx_blocked = true;
	if (s->wsi && s->ws_up && n)
		lws_callback_on_writable(s->wsi);
	return 0;
}

size_t kt_pf_send_room(const struct kt_pf_stream *s)
{
	return pf_sendable(s) ? kt_buf_room(&s->txq) : 0;
}

void kt_pf_pause_rx(struct kt_pf_stream *s, bool paused)
{
	if (s->rx_paused == paused)
		return;
	s->rx_paused = paused;
	if (s->wsi && s->ws_up)
		lws_rx_flow_control(s->wsi, !paused);
}

void kt_pf_close(struct kt_pf_stream *s)
{
	if (s->st == PF_DONE || s->close_requested || s->freed)
		return;
	s->close_requested = true;
	if (s->wsi && s->ws_up) {
		/* pf_tx() flushes the queue, then sends the close frame (1000). */
		lws_callback_on_writable(s->wsi);
		return;
	}
	/* Not connected yet (or refused and probing): drop it; on_close follows. The tcp probe
	 * is cancelled by pf_end_async(). */
	lws_sul_cancel(&s->sul_start);
	if (s->probe) {
		kt_k8s_req_cancel(s->probe);
		s->probe = NULL;
	}
	pf_end_async(s);
}

void kt_pf_stream_free(struct kt_pf_stream *s)
{
	if (!s)
		return;
	if (s->in_user) {
		/* Inside one of its callbacks: stop everything now, free on the way out. */
		s->freed = true;
		lws_sul_cancel(&s->sul_start);
		lws_sul_cancel(&s->sul_end);
		if (s->probe) {
			kt_k8s_req_cancel(s->probe);
			s->probe = NULL;
		}
		kt_k8s_probe_cancel(s->tcp_probe);
		s->tcp_probe = NULL;
		pf_detach(s);
		return;
	}
	pf_destroy(s);
}
