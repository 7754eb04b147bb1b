/* fuzz_control.c: the control socket's request and reply parsers (src/control.h).
 *
 * Properties: parsing never crashes; an accepted request is an object with version 1 and a
 * string command that *command points into; a reply line built for any accepted request round
 * trips through kt_control_parse_reply to an equal result; a time the parser accepts is
 * written back identically by kt_control_add_time. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > KT_CONTROL_MAX_REQUEST)
		return 0;
	const char *line = (const char *)data;
	char err[256];
	const char *cmd = NULL;
	cJSON *req = kt_control_parse_request(line, size, &cmd, err, sizeof(err));
	if (req) {
		check(cJSON_IsObject(req) && cmd != NULL);
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "command");
		check(c && c->valuestring == cmd);
		check(cJSON_GetObjectItemCaseSensitive(req, "version")->valuedouble == 1.0);
		/* The request as a result: reply line → parse → the same JSON. */
		size_t n = 0;
		char *reply = kt_control_reply_line(req, NULL, &n);
		check(reply && n > 0 && reply[n - 1] == '\n' &&
		      memchr(reply, '\n', n) == reply + n - 1);
		cJSON *back = NULL;
		int rc = kt_control_parse_reply(reply, n - 1, &back, err, sizeof(err));
		check(rc == 0 && cJSON_Compare(back, req, 1));
		cJSON_Delete(back);
		free(reply);
		cJSON_Delete(req);
	} else {
		check(err[0] != '\0');
	}
	/* Replies from a hostile daemon. */
	cJSON *res = NULL;
	int rc = kt_control_parse_reply(line, size, &res, err, sizeof(err));
	check((rc == 0) == (res != NULL));
	check(rc == 0 || rc == -EREMOTE || rc == -EPROTO);
	cJSON_Delete(res);
	/* Times. */
	char t[32];
	if (size < sizeof(t)) {
		memcpy(t, data, size);
		t[size] = '\0';
		time_t v;
		if (kt_control_parse_time(t, &v) == 0) {
			cJSON *o = cJSON_CreateObject();
			const cJSON *s = kt_control_add_time(o, "t", v);
			check(s && strcmp(s->valuestring, t) == 0);
			cJSON_Delete(o);
		}
	}
	return 0;
}
