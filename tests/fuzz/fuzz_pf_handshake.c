/* fuzz_pf_handshake.c: libFuzzer target for the port-forward request handling that needs no
 * pod: protocol selection, the `ports` parameter and every upgrade or error answer.
 *
 * The input is parsed as an HTTP request (fc_http_parse) and handed to pf_handshake(); the
 * result must be one of the four actions with NUL-terminated texts, a 101 must end its head
 * with an empty line, and v4 ports must be within the channel limit and non-zero. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "pf_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fc_http_parsed m;
	static struct pf_handshake hs;

	if (fc_http_parse(data, size, &m) > 0) {
		pf_handshake(&m.req, &hs);
		if (memchr(hs.raw, '\0', sizeof(hs.raw)) == NULL ||
		    memchr(hs.body, '\0', sizeof(hs.body)) == NULL ||
		    memchr(hs.extra, '\0', sizeof(hs.extra)) == NULL)
			abort();
		switch (hs.action) {
		case PF_HS_UPGRADE: {
			size_t n = strlen(hs.raw);
			if (n < 4 || strncmp(hs.raw, "HTTP/1.1 101 ", 13) != 0 ||
			    strcmp(hs.raw + n - 4, "\r\n\r\n") != 0)
				abort();
			if (hs.proto == PF_PROTO_WS_V4 || hs.proto == PF_PROTO_WS_V4_B64) {
				if (hs.nports == 0 || hs.nports > PF_MAX_PORTS)
					abort();
				for (size_t i = 0; i < hs.nports; i++)
					if (hs.ports[i] == 0)
						abort();
			}
			break;
		}
		case PF_HS_RESPOND:
		case PF_HS_STATUS:
		case PF_HS_RAW_CLOSE:
			if (hs.status < 400 || hs.status > 599)
				abort();
			break;
		default:
			abort();
		}
	}
	fc_http_parsed_fini(&m);
	return 0;
}
