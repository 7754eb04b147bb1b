/* pf_ws.c: server-side WebSocket framing for port-forward sessions (see pf_ws.h).
 *
 * State is only the small struct pf_ws_rx the session owns; payload bytes are unmasked into
 * one process-wide scratch buffer (the loop is single-threaded and the data callback must not
 * keep the pointer). A control frame is handled only once it is complete in the conn's buffer:
 * it is at most 2 + 4 + 125 bytes (RFC 6455 5.5), so waiting for it never needs more memory. */
#include "pf_ws.h"

#include <errno.h>
#include <string.h>

#include "conn.h"
#include "log.h"

static uint8_t scratch[PF_WS_CHUNK];

size_t pf_ws_hdr_len(size_t len)
{
	return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}

int pf_ws_send(struct fc_conn *c, uint8_t opcode, const struct pf_iov *iov, size_t n)
{
	uint8_t hdr[KT_WS_MAX_HDR];
	uint64_t total = 0;
	int hl, r;

	for (size_t i = 0; i < n; i++)
		total += iov[i].len;
	hl = kt_ws_build_header(hdr, true, 0, opcode, total, NULL);
	if (hl < 0)
		return hl;
	r = fc_conn_send(c, hdr, (size_t)hl);
	for (size_t i = 0; i < n && r == 0; i++)
		r = fc_conn_send(c, iov[i].p, iov[i].len);
	return r;
}

int pf_ws_send_close(struct fc_conn *c, uint16_t code)
{
	uint8_t payload[KT_WS_MAX_CONTROL];
	int len = kt_ws_close_build(payload, code, "", 0);
	struct pf_iov iov;

	if (len < 0)
		return len;
	iov.p = payload;
	iov.len = (size_t)len;
	return pf_ws_send(c, KT_WS_OP_CLOSE, &iov, 1);
}

/* Handles one complete control frame; false when input must stop (close or error). */
static bool control(struct pf_ws_rx *rx, struct fc_conn *c, const struct kt_ws_hdr *hdr,
		    const uint8_t *payload, const struct pf_ws_handler *h, void *arg)
{
	uint8_t buf[KT_WS_MAX_CONTROL];
	size_t len = (size_t)hdr->payload_len;
	struct pf_iov iov = {buf, len};
	uint16_t code;
	const char *reason;
	size_t rlen;

	kt_ws_mask_copy(buf, payload, len, hdr->mask, 0);
	switch (hdr->opcode) {
	case KT_WS_OP_PING:
		/* RFC 6455 5.5.3: a pong echoes the ping's application data. */
		pf_ws_send(c, KT_WS_OP_PONG, &iov, 1);
		return true;
	case KT_WS_OP_PONG:
		return true;
	case KT_WS_OP_CLOSE:
		rx->closed = true;
		if (kt_ws_close_parse(buf, len, &code, &reason, &rlen) < 0) {
			h->error(arg, "malformed close frame");
			return false;
		}
		h->close(arg, code);
		return false;
	default:
		rx->closed = true;
		h->error(arg, "unknown control opcode");
		return false;
	}
}

size_t pf_ws_input(struct pf_ws_rx *rx, struct fc_conn *c, const uint8_t *p, size_t n,
		   const struct pf_ws_handler *h, void *arg)
{
	const struct kt_ws_parse_opts opts = {KT_WS_ROLE_SERVER, 0, 0};
	size_t off = 0;

	while (off < n) {
		if (rx->closed || !h->active(arg))
			return n;
		if (!rx->in_frame) {
			struct kt_ws_hdr hdr;
			uint8_t mop;
			int r = kt_ws_parse_header(p + off, n - off, &opts, &hdr);

			if (r == 0)
				break;
			if (r < 0 || kt_ws_frag_check(&rx->frag, &hdr, &mop) < 0) {
				rx->closed = true;
				h->error(arg,
					 r < 0 ? "malformed frame header" : "bad fragmentation");
				return n;
			}
			if (hdr.opcode & 0x8) {
				if (n - off < hdr.hdr_len + hdr.payload_len)
					break;
				off += hdr.hdr_len + (size_t)hdr.payload_len;
				if (!control(rx, c, &hdr, p + off - (size_t)hdr.payload_len, h,
					     arg))
					return n;
				continue;
			}
			rx->hdr = hdr;
			rx->in_frame = true;
			rx->off = 0;
			if (hdr.opcode != KT_WS_OP_CONT) {
				rx->msg_opcode = hdr.opcode;
				rx->msg_started = false;
			}
			off += hdr.hdr_len;
		}

		uint64_t left = rx->hdr.payload_len - rx->off;
		size_t take = n - off;
		if (take > left)
			take = (size_t)left;
		if (take > PF_WS_CHUNK)
			take = PF_WS_CHUNK;
		bool ends_frame = take == left;
		bool last = ends_frame && rx->hdr.fin;

		if (take > 0 || last) {
			kt_ws_mask_copy(scratch, p + off, take, rx->hdr.mask, rx->off);
			size_t used =
			    h->data(arg, rx->msg_opcode, !rx->msg_started, last, scratch, take);
			if (used > take)
				used = take;
			if (used > 0)
				rx->msg_started = true;
			rx->off += used;
			off += used;
			if (used < take)
				return off; /* blocked: the rest is offered again */
		}
		if (rx->off == rx->hdr.payload_len) {
			rx->in_frame = false;
			if (rx->hdr.fin)
				rx->msg_started = false;
		} else if (take == 0) {
			break; /* need more payload bytes */
		}
	}
	return off;
}
