/* server.c: the listening socket of the fake API server and the set of its conns (server.h).
 *
 * The server owns the listening fd and one list node per live conn; each conn owns itself and
 * tells the server through its gone callback when it is finished (conn.c frees it later). An
 * outage closes the listening socket (so connects are refused, as with a stopped API server),
 * aborts every conn that is not already closing, and reopens the socket when it ends. A conn
 * that is already closing is left to flush: that is how the admin request that asked for the
 * outage still gets its answer. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "pki.h"

#define MAX_CONNS 4096
#define REOPEN_RETRY_MS 100
#define ACCEPT_BACKOFF_MS 100

struct node {
	struct node *prev, *next;
	struct fc_conn *conn;
	struct fc_server *srv;
};

struct fc_server {
	struct fc_cluster *cl;
	int lfd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_str[80];
	struct node head; /* circular list of live conns */
	uint64_t next_id;
	struct fc_timer *outage_timer;
	struct fc_timer *backoff_timer;
	struct fc_server_stats stats;
};

static void accept_cb(void *arg, short revents);

int fc_server_parse_addr(const char *spec, bool numeric, struct sockaddr_storage *ss,
			 socklen_t *len, int *gai)
{
	char host[256];
	const char *port;
	size_t hlen;

	*gai = 0;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - spec - 1);
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, hlen);
		port = close + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - spec);
		if (hlen >= sizeof(host) || memchr(spec, ':', hlen))
			return -EINVAL;
		memcpy(host, spec, hlen);
		port = colon + 1;
	}
	host[hlen] = '\0';
	if (numeric && hlen == 0)
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || end == port || *end || p > 65535 || port[0] == '-' || port[0] == '+')
		return -EINVAL;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags =
				     AI_PASSIVE | AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0)};
	struct addrinfo *res = NULL;
	int r = getaddrinfo(hlen ? host : NULL, port, &hints, &res);
	if (r != 0 || !res) {
		*gai = r ? r : EAI_NONAME;
		return -ENOENT;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(out, cap, "[%s]:%u", ip, port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(out, cap, "%s:%u", ip, port);
	}
}

/* Opens, binds and watches the listening socket at srv->addr. */
static int open_listener(struct fc_server *srv, char *err, size_t errcap)
{
	int fd = socket(srv->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errcap, "socket: %s", strerror(e));
		return -e;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (srv->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&srv->addr, srv->addrlen) < 0 ||
	    listen(fd, 512) < 0) {
		int e = errno;
		snprintf(err, errcap, "cannot listen on %s: %s", srv->addr_str, strerror(e));
		close(fd);
		return -e;
	}
	int r = fc_loop_watch(srv->cl->loop, fd, POLLIN, accept_cb, srv);
	if (r < 0) {
		snprintf(err, errcap, "cannot watch the listening socket");
		close(fd);
		return r;
	}
	srv->lfd = fd;
	return 0;
}

static void close_listener(struct fc_server *srv)
{
	if (srv->lfd < 0)
		return;
	fc_loop_unwatch(srv->cl->loop, srv->lfd);
	close(srv->lfd);
	srv->lfd = -1;
}

static void conn_gone(void *arg, struct fc_conn *c)
{
	struct node *n = arg;
	(void)c;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->srv->stats.active--;
	free(n);
}

static void backoff_done(void *arg)
{
	struct fc_server *srv = arg;
	srv->backoff_timer = NULL;
	if (srv->lfd >= 0)
		fc_loop_set_events(srv->cl->loop, srv->lfd, POLLIN);
}

static void accept_cb(void *arg, short revents)
{
	struct fc_server *srv = arg;
	(void)revents;
	for (int i = 0; i < 64 && srv->lfd >= 0; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd =
		    accept4(srv->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and friends: stop accepting for a moment instead of spinning. */
			kt_log_warn("accept");
			fc_loop_set_events(srv->cl->loop, srv->lfd, 0);
			if (!srv->backoff_timer)
				srv->backoff_timer = fc_loop_timer(srv->cl->loop, ACCEPT_BACKOFF_MS,
								   backoff_done, srv);
			return;
		}
		srv->stats.accepted++;
		if (srv->stats.active >= MAX_CONNS) {
			kt_log_warnx("too many connections; refusing one");
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		char peer[80];
		format_addr(&ss, peer, sizeof(peer));
		struct node *n = calloc(1, sizeof(*n));
		if (!n) {
			close(fd);
			continue;
		}
		n->srv = srv;
		n->conn = fc_conn_new(srv->cl, fd, fc_pki_api_ctx(srv->cl->pki), peer,
				      ++srv->next_id, &srv->stats, conn_gone, n);
		if (!n->conn) {
			free(n);
			continue;
		}
		n->next = &srv->head;
		n->prev = srv->head.prev;
		srv->head.prev->next = n;
		srv->head.prev = n;
		srv->stats.active++;
		kt_log_debug("conn %llu from %s", (unsigned long long)srv->next_id, peer);
	}
}

struct fc_server *fc_server_new(struct fc_cluster *cl, char *err, size_t errcap)
{
	struct fc_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	srv->cl = cl;
	srv->lfd = -1;
	srv->head.next = srv->head.prev = &srv->head;
	const char *listen_at = cl->opt.listen ? cl->opt.listen : "127.0.0.1:6443";
	int gai, r = fc_server_parse_addr(listen_at, false, &srv->addr, &srv->addrlen, &gai);
	if (r == -ENOENT) {
		snprintf(err, errcap, "--listen %s: %s", listen_at, gai_strerror(gai));
		goto fail;
	}
	if (r < 0) {
		snprintf(err, errcap, "--listen %s: expected HOST:PORT or [IPV6]:PORT", listen_at);
		goto fail;
	}
	format_addr(&srv->addr, srv->addr_str, sizeof(srv->addr_str));
	if (open_listener(srv, err, errcap) < 0)
		goto fail;
	/* Port 0 asks the kernel for a port; report the one it picked. */
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	if (getsockname(srv->lfd, (struct sockaddr *)&bound, &bl) == 0) {
		memcpy(&srv->addr, &bound, bl);
		srv->addrlen = bl;
		format_addr(&srv->addr, srv->addr_str, sizeof(srv->addr_str));
	}
	kt_log_debug("listening on %s", srv->addr_str);
	return srv;
fail:
	free(srv);
	return NULL;
}

void fc_server_free(struct fc_server *srv)
{
	if (!srv)
		return;
	fc_loop_timer_cancel(srv->cl->loop, srv->outage_timer);
	fc_loop_timer_cancel(srv->cl->loop, srv->backoff_timer);
	close_listener(srv);
	while (srv->head.next != &srv->head)
		fc_conn_drop(srv->head.next->conn); /* its gone callback unlinks the node */
	free(srv);
}

static void outage_end(void *arg)
{
	struct fc_server *srv = arg;
	srv->outage_timer = NULL;
	char err[256];
	if (open_listener(srv, err, sizeof(err)) < 0) {
		/* Someone took the port meanwhile; keep trying, the outage is over for us. */
		kt_log_warnx("outage end: %s; retrying", err);
		srv->outage_timer = fc_loop_timer(srv->cl->loop, REOPEN_RETRY_MS, outage_end, srv);
		return;
	}
	srv->cl->faults.outage_until_ms = 0;
	kt_log_info("API outage over; listening on %s again", srv->addr_str);
}

void fc_server_outage(struct fc_server *srv, uint64_t duration_ms)
{
	srv->stats.outages++;
	for (struct node *n = srv->head.next; n != &srv->head; n = n->next)
		if (!fc_conn_closing(n->conn))
			fc_conn_abort(n->conn); /* unlinked later, from its deferred finish */
	if (duration_ms == 0) {
		kt_log_info("API fault: dropped every connection");
		return;
	}
	close_listener(srv);
	fc_loop_timer_cancel(srv->cl->loop, srv->outage_timer);
	srv->outage_timer = fc_loop_timer(srv->cl->loop, duration_ms, outage_end, srv);
	srv->cl->faults.outage_until_ms = fc_loop_now(srv->cl->loop) + duration_ms;
	kt_log_info("API outage for %llu ms", (unsigned long long)duration_ms);
}

struct fc_server_stats *fc_server_stats(struct fc_server *srv)
{
	return &srv->stats;
}

const char *fc_server_addr(const struct fc_server *srv)
{
	return srv->addr_str;
}
