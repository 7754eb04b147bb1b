/* fuzz_wsframe.c: arbitrary bytes as a WebSocket byte stream.
 *
 * The first input byte picks the parser options (role, allowed RSV bits, a payload limit); the
 * rest is read as frames back to back. Checked on the way: prefixes of a complete header ask
 * for more, a rebuilt header parses to the same fields, unmasking in two chunks equals
 * unmasking at once, and a close payload that parses rebuilds to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct kt_ws_parse_opts o = {
	    .role = data[0] & 1 ? KT_WS_ROLE_CLIENT : KT_WS_ROLE_SERVER,
	    .allowed_rsv = (uint8_t)((data[0] << 3) & 0x70),
	    .max_payload = data[0] & 0x10 ? 1000 : 0,
	};
	data++;
	size--;

	static uint8_t once[1 << 16], twice[1 << 16];
	struct kt_ws_frag st = {0};
	size_t off = 0;
	while (off < size) {
		struct kt_ws_hdr h;
		int rc = kt_ws_parse_header(data + off, size - off, &o, &h);
		if (rc <= 0)
			break;
		check(h.hdr_len >= 2 && h.hdr_len <= KT_WS_MAX_HDR && h.hdr_len <= size - off);
		struct kt_ws_hdr t;
		check(kt_ws_parse_header(data + off, h.hdr_len - 1, &o, &t) == 0);
		check(!(h.opcode & 8) || (h.fin && h.payload_len <= KT_WS_MAX_CONTROL));

		/* Rebuild the header (shortest length form) and parse it again. */
		uint8_t hb[KT_WS_MAX_HDR];
		int hn = kt_ws_build_header(hb, h.fin, h.rsv, h.opcode, h.payload_len,
					    h.masked ? h.mask : NULL);
		check(hn >= 2 && (size_t)hn <= h.hdr_len);
		check(kt_ws_parse_header(hb, (size_t)hn, &o, &t) == 1);
		check(t.fin == h.fin && t.rsv == h.rsv && t.opcode == h.opcode &&
		      t.masked == h.masked && t.payload_len == h.payload_len &&
		      memcmp(t.mask, h.mask, 4) == 0);

		uint8_t msg_op = 0;
		if (kt_ws_frag_check(&st, &h, &msg_op) != 0)
			break;

		off += h.hdr_len;
		size_t avail = size - off;
		size_t n = h.payload_len < avail ? (size_t)h.payload_len : avail;
		if (n > sizeof(once))
			n = sizeof(once);
		memcpy(once, data + off, n);
		memcpy(twice, data + off, n);
		kt_ws_unmask(once, n, h.mask, 0);
		size_t split = n ? data[off] % (n + 1) : 0;
		kt_ws_unmask(twice, split, h.mask, 0);
		kt_ws_mask_copy(twice + split, twice + split, n - split, h.mask, split);
		check(memcmp(once, twice, n) == 0);

		if (h.opcode == KT_WS_OP_CLOSE && n == h.payload_len) {
			uint16_t code;
			const char *reason;
			size_t rl;
			if (kt_ws_close_parse(once, n, &code, &reason, &rl) == 0 && n >= 2) {
				uint8_t cb[KT_WS_MAX_CONTROL];
				check(kt_ws_close_build(cb, code, reason, rl) == (int)n);
				check(memcmp(cb, once, n) == 0);
			}
		}
		if (msg_op == KT_WS_OP_TEXT)
			(void)kt_ws_utf8_valid(once, n);
		if (n < h.payload_len)
			break;
		off += n;
	}
	return 0;
}
