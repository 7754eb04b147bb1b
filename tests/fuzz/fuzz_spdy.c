/* fuzz_spdy.c: arbitrary bytes as one direction of a SPDY connection, read like a server does.
 *
 * Frames are parsed back to back and every header block goes through one inflater (one zlib
 * stream, as on a real connection). Beyond "no crash", it checks properties that must always
 * hold: a complete frame's every prefix asks for more bytes, pointers stay inside the input,
 * and a block that decoded survives a round trip through our deflater and a second inflater
 * unchanged (so whatever we accept we can also say). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "spdy.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void round_trip(struct kt_spdy_deflater *def, struct kt_spdy_inflater *inf2,
		       const struct kt_spdy_frame *f, const struct kt_spdy_headers *h)
{
	struct kt_buf out;
	kt_buf_init(&out, 1 << 20);
	int rc;
	if (f->type == KT_SPDY_SYN_STREAM)
		rc = kt_spdy_build_syn_stream(&out, def, f->stream_id, f->assoc_id, f->priority,
					      f->flags & 0x03, h->pairs, h->count);
	else if (f->type == KT_SPDY_SYN_REPLY)
		rc = kt_spdy_build_syn_reply(&out, def, f->stream_id, f->flags & 0x01, h->pairs,
					     h->count);
	else
		rc = kt_spdy_build_headers(&out, def, f->stream_id, f->flags & 0x01, h->pairs,
					   h->count);
	check(rc == 0);

	struct kt_spdy_frame g;
	size_t used = 0;
	check(kt_spdy_parse(kt_buf_peek(&out), kt_buf_len(&out), 0, &g, &used) == 1);
	check(used == kt_buf_len(&out));
	check(g.type == f->type && g.stream_id == f->stream_id);
	struct kt_spdy_headers h2;
	check(kt_spdy_inflater_decode(inf2, &g, &h2) == 0);
	check(h2.count == h->count);
	for (size_t i = 0; i < h->count; i++) {
		const struct kt_spdy_header *a = &h->pairs[i], *b = &h2.pairs[i];
		check(a->name_len == b->name_len && a->value_len == b->value_len);
		check(memcmp(a->name, b->name, a->name_len) == 0);
		check(memcmp(a->value, b->value, a->value_len) == 0);
		check(a->name[a->name_len] == '\0' && a->value[a->value_len] == '\0');
	}
	kt_buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_spdy_inflater *inf = kt_spdy_inflater_new(0, 0);
	struct kt_spdy_inflater *inf2 = kt_spdy_inflater_new(0, 0);
	struct kt_spdy_deflater *def = kt_spdy_deflater_new(1);
	check(inf && inf2 && def);

	size_t off = 0;
	while (off < size) {
		struct kt_spdy_frame f;
		size_t used = 0;
		int rc = kt_spdy_parse(data + off, size - off, 0, &f, &used);
		if (rc <= 0)
			break;
		check(used >= KT_SPDY_HDR_LEN && used <= size - off);
		check(used == KT_SPDY_HDR_LEN + f.length);
		/* Every prefix of a complete frame is "need more". */
		struct kt_spdy_frame t;
		size_t tu = 0;
		check(kt_spdy_parse(data + off, used - 1, 0, &t, &tu) == 0);
		check(kt_spdy_parse(data + off, KT_SPDY_HDR_LEN - 1, 0, &t, &tu) == 0);

		if (f.hb) {
			check(f.hb >= data + off && f.hb + f.hb_len == data + off + used);
			struct kt_spdy_headers h;
			if (kt_spdy_inflater_decode(inf, &f, &h) == 0)
				round_trip(def, inf2, &f, &h);
		} else if (f.control && f.type == KT_SPDY_SETTINGS) {
			struct kt_spdy_setting s;
			for (uint32_t i = 0; i < f.settings_count; i++)
				check(kt_spdy_settings_entry(&f, i, &s) == 0);
			check(kt_spdy_settings_entry(&f, f.settings_count, &s) != 0);
		} else if (!f.control) {
			check(f.payload + f.payload_len == data + off + used);
		}
		off += used;
	}
	kt_spdy_deflater_free(def);
	kt_spdy_inflater_free(inf2);
	kt_spdy_inflater_free(inf);
	return 0;
}
