/* server.h: the fake API server's listening socket and its set of conns.
 *
 * Accepts TCP on --listen, runs the TLS handshake without blocking the loop, and hands each
 * established conn to the HTTP layer. It can drop every conn at once and stop accepting for a
 * while (the API outage fault): the listening socket is closed, so new connections are refused,
 * and reopened when the outage ends. */
#ifndef FC_SERVER_H
#define FC_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct fc_cluster;
struct fc_server;

struct fc_server *fc_server_new(struct fc_cluster *cl, char *err, size_t errcap);
void fc_server_free(struct fc_server *srv);
/* Drop every conn now and refuse new ones for duration_ms (0: just drop). */
void fc_server_outage(struct fc_server *srv, uint64_t duration_ms);

#endif
