/* podserver.h: the simulated pod backend served directly on a TCP socket (--pod-listen).
 *
 * This is the "backend directly on loopback" baseline of the tunnel benchmark: the same
 * struct fc_backend (backend.h) that answers port-forward streams, as pod "direct" in namespace
 * "bench" with port = the bound listen port, plain HTTP, but reached by an ordinary TCP connect
 * instead of through the API server. Each accepted connection owns one backend; bytes move with
 * the same flow control as a port-forward: the socket is read only while the backend can take
 * input (fc_backend_input_room), and fc_backend_pump() is called only when everything it produced
 * before has been written to the socket, with at most FC_PODSERVER_CHUNK bytes per pump. So per
 * connection we hold at most one chunk of output plus the backend's own bound (backend.h).
 *
 * Everything runs on the fake cluster's loop; the podserver owns its listening fd and every
 * connection (fd, backend, timer). */
#ifndef FC_PODSERVER_H
#define FC_PODSERVER_H

#include <stddef.h>

#define FC_PODSERVER_CHUNK (64u * 1024) /* output bytes per pump */
#define FC_PODSERVER_MAX_CONNS 8192

struct fc_loop;
struct fc_podserver;

/* Listens on listen_at ("HOST:PORT" or "[IPV6]:PORT", numeric host, port 0 picks one). NULL on
 * failure with a one-line reason in err. */
struct fc_podserver *fc_podserver_new(struct fc_loop *loop, const char *listen_at, char *err,
				      size_t errcap);
/* Closes the listening socket and every connection (abortively). NULL is a no-op. */
void fc_podserver_free(struct fc_podserver *ps);
/* The bound address as "host:port" ("[::1]:port" for IPv6), with the real port. */
const char *fc_podserver_addr(const struct fc_podserver *ps);
/* Connections open now. */
size_t fc_podserver_active(const struct fc_podserver *ps);

#endif
