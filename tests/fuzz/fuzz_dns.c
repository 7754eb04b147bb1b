/* fuzz_dns.c: kt_dns_handle over arbitrary bytes, with a fixed table of a few names.
 *
 * Each input is answered over UDP and over TCP, with a full-size response buffer and with a few
 * small ones (each allocated to its exact size, so ASan sees any write past respcap). The checks
 * abort on failure: the length never exceeds respcap (nor 1232 over UDP), a non-empty answer has
 * the query's ID and QR set, and it is a well-formed message: every name's pointers go backwards
 * inside the message, every record fits, the counts match and no byte is left over. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static struct kt_dns_table *table(void)
{
	static struct kt_dns_table *t; /* built once, kept for the process's life */
	if (t)
		return t;
	t = kt_dns_table_new("cluster.local");
	if (!t)
		abort();
	int rc = 0;
	rc |= kt_dns_table_set_reverse_zone(t, IP(198, 19, 0, 0), 16);
	rc |= kt_dns_table_add_a(t, "web.shop.svc.cluster.local", IP(198, 19, 0, 1));
	rc |= kt_dns_table_add_ptr(t, IP(198, 19, 0, 1), "web.shop.svc.cluster.local");
	rc |= kt_dns_table_add_srv(t, "_http._tcp.web.shop.svc.cluster.local", 0, 100, 80,
				   "web.shop.svc.cluster.local");
	rc |=
	    kt_dns_table_add_cname(t, "alias.shop.svc.cluster.local", "web.shop.svc.cluster.local");
	rc |= kt_dns_table_add_cname(t, "ext.shop.svc.cluster.local", "api.example.com");
	rc |= kt_dns_table_add_a(t, "ns.dns.cluster.local", IP(198, 19, 0, 53));
	/* Big enough to truncate over UDP. */
	for (int i = 0; i < 100; i++) {
		char n[64];
		snprintf(n, sizeof(n), "kafka-%d.kafka.data.svc.cluster.local", i);
		rc |= kt_dns_table_add_a(t, "kafka.data.svc.cluster.local", IP(198, 19, 1, i));
		rc |= kt_dns_table_add_a(t, n, IP(198, 19, 1, i));
		rc |= kt_dns_table_add_srv(t, "_broker._tcp.kafka.data.svc.cluster.local", 0, 1,
					   9092, n);
	}
	if (rc || kt_dns_table_seal(t))
		abort();
	return t;
}

static size_t skip_name(const uint8_t *m, size_t n, size_t off)
{
	size_t start = off, len = 0;
	for (;;) {
		if (off >= n)
			abort();
		uint8_t c = m[off];
		if ((c & 0xc0) == 0xc0) {
			if (off + 1 >= n || ((size_t)(c & 0x3f) << 8 | m[off + 1]) >= start)
				abort(); /* our pointers always point back */
			return off + 2;
		}
		if (c & 0xc0)
			abort();
		len += 1u + c;
		if (len > 255)
			abort();
		off += 1u + c;
		if (c == 0)
			return off;
	}
}

static void check_wellformed(const uint8_t *m, size_t n)
{
	if (n < 12 || !(m[2] & 0x80))
		abort();
	size_t qd = (size_t)m[4] << 8 | m[5];
	size_t rrs =
	    ((size_t)m[6] << 8 | m[7]) + ((size_t)m[8] << 8 | m[9]) + ((size_t)m[10] << 8 | m[11]);
	size_t off = 12;
	if (qd > 1)
		abort();
	if (qd) {
		off = skip_name(m, n, off) + 4;
		if (off > n)
			abort();
	}
	for (size_t i = 0; i < rrs; i++) {
		off = skip_name(m, n, off);
		if (off + 10 > n)
			abort();
		off += 10 + ((size_t)m[off + 8] << 8 | m[off + 9]);
		if (off > n)
			abort();
	}
	if (off != n)
		abort();
}

static void one(const uint8_t *data, size_t size, size_t cap, unsigned flags)
{
	uint8_t *resp = malloc(cap ? cap : 1);
	if (!resp)
		abort();
	ssize_t n = kt_dns_handle(table(), data, size, resp, cap, flags);
	if (n < 0 || (size_t)n > cap || (!(flags & KT_DNS_TCP) && n > KT_DNS_EDNS_UDP_SIZE))
		abort();
	if (n > 0) {
		if (size < 2 || resp[0] != data[0] || resp[1] != data[1])
			abort();
		check_wellformed(resp, (size_t)n);
	}
	free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = {KT_DNS_MAX_MSG, 600, 64, 12, 11};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		one(data, size, caps[i], KT_DNS_UDP);
		one(data, size, caps[i], KT_DNS_TCP);
	}
	/* The TCP framing helpers, on the same bytes taken as a stream. */
	size_t fl = kt_dns_tcp_frame_len(data, size);
	if (fl > size || (fl && fl < 2))
		abort();
	if (fl) {
		uint8_t *resp = malloc(KT_DNS_MAX_MSG + 2);
		if (!resp)
			abort();
		ssize_t n = kt_dns_handle_tcp(table(), data + 2, fl - 2, resp, KT_DNS_MAX_MSG + 2);
		if (n < 0 || n > KT_DNS_MAX_MSG + 2 ||
		    (n > 0 && ((size_t)resp[0] << 8 | resp[1]) != (size_t)n - 2))
			abort();
		free(resp);
	}
	return 0;
}
