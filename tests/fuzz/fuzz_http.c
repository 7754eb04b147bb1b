/* fuzz_http.c: libFuzzer target for the fake API server's HTTP/1.1 request parser.
 *
 * Feeds the input to fc_http_parse() whole and in two pieces (as a conn would see it), checks
 * that a complete parse never claims more bytes than it was given and that both views agree,
 * and walks every string of the parsed request so the sanitizers see any bad pointer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t touch(const char *s)
{
	return s ? strlen(s) : 0;
}

static void walk(const struct fc_http_req *req)
{
	size_t sum = touch(req->method) + touch(req->target) + touch(req->path);
	for (size_t i = 0; i < req->nquery; i++)
		sum += touch(req->query[i].name) + touch(req->query[i].value);
	for (size_t i = 0; i < req->nheaders; i++)
		sum += touch(req->headers[i].name) + touch(req->headers[i].value);
	if (req->body_len && req->body[req->body_len] != '\0')
		abort();
	sum += touch(fc_http_header(req, "Connection"));
	sum += fc_http_header_has_token(req, "Connection", "upgrade");
	sum += touch(fc_http_query(req, "watch"));
	if (sum == (size_t)-1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fc_http_parsed m;
	int r = fc_http_parse(data, size, &m);
	if (r > 0) {
		if ((size_t)r > size || m.total_len != (size_t)r)
			abort();
		walk(&m.req);
	} else if (r < 0 && (m.error_status < 400 || m.error_status > 599 || !m.error)) {
		abort();
	}
	fc_http_parsed_fini(&m);

	/* Incremental delivery: a prefix is either incomplete or gives the same verdict. */
	if (size > 1) {
		size_t half = size / 2;
		struct fc_http_parsed p;
		int rp = fc_http_parse(data, half, &p);
		if (rp > 0 && r != rp)
			abort();
		if (rp == 0 && p.total_len && r > 0 && p.total_len != (size_t)r)
			abort();
		fc_http_parsed_fini(&p);
	}
	return 0;
}
