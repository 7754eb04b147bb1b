/* server.h: the fake API server's listening socket and its set of conns.
 *
 * Accepts TCP on --listen, runs the TLS handshake without blocking the loop, and hands each
 * established conn to the HTTP layer. It can drop every conn at once and stop accepting for a
 * while (the API outage fault): the listening socket is closed, so new connections are refused,
 * and reopened when the outage ends. */
#ifndef FC_SERVER_H
#define FC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct fc_cluster;
struct fc_server;

struct fc_server *fc_server_new(struct fc_cluster *cl, char *err, size_t errcap);
/* Parses a listen address, HOST:PORT or [IPV6]:PORT (an empty HOST means every address unless
 * numeric), into ss/len for bind(). numeric: HOST must be an IP literal. 0, -EINVAL for a bad
 * form, or -ENOENT when HOST does not resolve (*gai: the getaddrinfo error). */
int fc_server_parse_addr(const char *spec, bool numeric, struct sockaddr_storage *ss,
			 socklen_t *len, int *gai);
void fc_server_free(struct fc_server *srv);
/* Drop every conn now and refuse new ones for duration_ms (0: just drop). */
void fc_server_outage(struct fc_server *srv, uint64_t duration_ms);

/* --- Additions used by main.c, conn.c, http.c and faults.c. --- */

/* Counters for GET /fake/v1/stats. */
struct fc_server_stats {
	uint64_t accepted;     /* TCP connections accepted */
	uint64_t active;       /* conns open now */
	uint64_t tls_failures; /* handshakes that failed or timed out */
	uint64_t requests;     /* HTTP requests parsed */
	uint64_t bytes_in;     /* TLS payload bytes received */
	uint64_t bytes_out;    /* TLS payload bytes sent */
	uint64_t outages;      /* fc_server_outage() calls */
};
/* The server's counters (modules bump them). */
struct fc_server_stats *fc_server_stats(struct fc_server *srv);
/* The bound address as "host:port" ("[::1]:port" for IPv6), with the real port when --listen
 * asked for port 0. */
const char *fc_server_addr(const struct fc_server *srv);

#endif
