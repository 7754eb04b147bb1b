/* tun_echo.c: test peer for tests/e2e/test_netstack_tun.sh: a TUN device with the netstack
 * behind it, serving every VIP of the subnet, without Kubernetes.
 *
 *   tun_echo [--name kt%d] [--subnet 198.19.0.0/16] [--local 198.19.0.1] [--dns 198.19.0.53]
 *            [--mtu 16384] [--no-offload]
 *
 * Services, on every VIP:
 *   port 80   tiny HTTP/1.0 server: "GET /bytes/N" answers N bytes of the pattern i % 251,
 *             anything else answers "kt-tun-echo VIP:PORT\n"; then closes.
 *   port 443  echo: every byte comes back; our FIN follows the client's FIN.
 *   port 9    discard: takes everything; after the client's FIN answers the byte count and
 *             closes (upload measurements).
 *   port 8080 echo, but the SYN is answered only after a 30 ms delay (PENDING, then accept).
 *   port 8081 PENDING, then refused after 30 ms (RST: the client sees ECONNREFUSED).
 *   other     refused at once (RST).
 *   UDP dns:53 answers every datagram with "kt-tun-echo dns\n"; UDP elsewhere: ICMP unreachable.
 * Prints "ready IFNAME" on stdout once the device is up; SIGTERM/SIGINT end it cleanly (device and
 * route removed). Single-threaded poll loop, the same shape the daemon's loop will have. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netstack.h"
#include "tun.h"

enum mode { M_HTTP, M_ECHO, M_DISCARD };

struct conn {
	struct conn *prev, *next; /* every live conn, so exit can free them */
	struct kt_tcp *h;
	enum mode mode;
	/* Echo: bytes received and not yet accepted by kt_tcp_send (<= the TCP window). */
	uint8_t *buf;
	size_t len;
	bool fin;
	uint64_t discarded;
	/* HTTP: the request head, then the response still to send. */
	char req[2048];
	size_t reqlen;
	bool responding;
	char head[256];
	size_t headlen, headoff;
	uint64_t body_left, body_pos;
	const char *small;
	size_t smalllen, smalloff;
	char smallbuf[64];
};

struct delayed {
	struct kt_tcp *h;
	struct conn *c;
	int ok;
	uint64_t due;
};

static struct kt_netstack *g_ns;
static struct kt_tun *g_tun;
static volatile sig_atomic_t g_stop;
static bool g_offload = true; /* --no-offload: plain packets even where the device has offloads */
static struct delayed g_delayed[4096];
static size_t g_ndelayed;
static struct conn *g_conns;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int out_cb(void *user, const struct iovec *iov, int iovcnt, size_t total,
		  const struct kt_tun_offload *off)
{
	(void)user;
	(void)total;
	return kt_tun_write(g_tun, iov, iovcnt, off);
}

static void conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		g_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->buf);
	free(c);
}

static void echo_pump(struct conn *c)
{
	if (c->len) {
		ssize_t n = kt_tcp_send(c->h, c->buf, c->len);

		if (n > 0) {
			memmove(c->buf, c->buf + n, c->len - (size_t)n);
			c->len -= (size_t)n;
			kt_tcp_recved(c->h, (size_t)n);
		}
	}
	if (c->fin && c->len == 0) {
		kt_tcp_close(c->h);
		conn_free(c);
	}
}

/* The download pattern i % 251, precomputed so serving it costs a memcpy per chunk. */
#define CHUNK 16384
static uint8_t g_pattern[CHUNK + 251];

static void http_pump(struct conn *c)
{

	for (;;) {
		size_t room = kt_tcp_send_room(c->h);
		ssize_t n;

		if (room == 0)
			return;
		if (c->headoff < c->headlen) {
			n = kt_tcp_send(c->h, c->head + c->headoff, c->headlen - c->headoff);
			if (n <= 0)
				return;
			c->headoff += (size_t)n;
		} else if (c->small && c->smalloff < c->smalllen) {
			n = kt_tcp_send(c->h, c->small + c->smalloff, c->smalllen - c->smalloff);
			if (n <= 0)
				return;
			c->smalloff += (size_t)n;
		} else if (c->body_left) {
			size_t k = CHUNK;

			if (k > room)
				k = room;
			if (k > c->body_left)
				k = (size_t)c->body_left;
			n = kt_tcp_send(c->h, g_pattern + c->body_pos % 251, k);
			if (n <= 0)
				return;
			c->body_pos += (uint64_t)n;
			c->body_left -= (uint64_t)n;
		} else {
			kt_tcp_close(c->h);
			conn_free(c);
			return;
		}
	}
}

static void http_start(struct conn *c)
{
	struct kt_netstack_flow f;
	char vip[INET_ADDRSTRLEN];
	struct in_addr a;
	const char *p = strstr(c->req, "GET /bytes/");
	uint64_t len;

	kt_tcp_get_flow(c->h, &f);
	a.s_addr = htonl(f.vip);
	inet_ntop(AF_INET, &a, vip, sizeof(vip));
	if (p == c->req) {
		char *end;

		errno = 0;
		len = strtoull(p + 11, &end, 10);
		if (errno || end == p + 11)
			len = 0;
		c->body_left = len;
	} else {
		int k =
		    snprintf(c->smallbuf, sizeof(c->smallbuf), "kt-tun-echo %s:%u\n", vip, f.port);

		c->small = c->smallbuf;
		c->smalllen = (size_t)k;
		len = (uint64_t)k;
	}
	c->headlen =
	    (size_t)snprintf(c->head, sizeof(c->head),
			     "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
			     "Content-Length: %llu\r\nConnection: close\r\n\r\n",
			     (unsigned long long)len);
	c->responding = true;
	http_pump(c);
}

static void cb_recv(void *user, struct kt_tcp *h, const uint8_t *data, size_t n)
{
	struct conn *c = user;

	if (c->mode == M_ECHO) {
		if (n > KT_NETSTACK_RCV_WINDOW - c->len) {
			/* Cannot happen: the window bounds what lwIP delivers. */
			fprintf(stderr, "tun_echo: receive window exceeded\n");
			abort();
		}
		memcpy(c->buf + c->len, data, n);
		c->len += n;
		echo_pump(c);
		return;
	}
	if (c->mode == M_DISCARD) {
		c->discarded += n;
		kt_tcp_recved(h, n);
		return;
	}
	/* HTTP: take the request head; ignore anything after it. */
	kt_tcp_recved(h, n);
	if (c->responding)
		return;
	if (n > sizeof(c->req) - 1 - c->reqlen)
		n = sizeof(c->req) - 1 - c->reqlen;
	memcpy(c->req + c->reqlen, data, n);
	c->reqlen += n;
	c->req[c->reqlen] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") || c->reqlen == sizeof(c->req) - 1)
		http_start(c);
}

static void cb_fin(void *user, struct kt_tcp *h)
{
	struct conn *c = user;

	(void)h;
	c->fin = true;
	if (c->mode == M_ECHO) {
		echo_pump(c);
	} else if (c->mode == M_DISCARD) {
		char line[32];
		int k = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)c->discarded);

		kt_tcp_send(h, line, (size_t)k);
		kt_tcp_close(h);
		conn_free(c);
	}
}

static void cb_sent(void *user, struct kt_tcp *h, size_t acked)
{
	struct conn *c = user;

	(void)h;
	(void)acked;
	if (c->mode == M_ECHO)
		echo_pump(c);
	else if (c->responding)
		http_pump(c);
}

static void cb_closed(void *user, struct kt_tcp *h, int err)
{
	(void)h;
	(void)err;
	conn_free(user);
}

static const struct kt_tcp_callbacks g_cbs = {
    .recv = cb_recv,
    .fin = cb_fin,
    .sent = cb_sent,
    .closed = cb_closed,
};

static enum kt_netstack_verdict accept_cb(void *user, struct kt_tcp *h,
					  const struct kt_netstack_flow *f)
{
	struct conn *c;
	bool delayed = f->port == 8080 || f->port == 8081;

	(void)user;
	if (f->port != 9 && f->port != 80 && f->port != 443 && !delayed)
		return KT_NETSTACK_REFUSE;
	if (delayed && g_ndelayed == sizeof(g_delayed) / sizeof(g_delayed[0]))
		return KT_NETSTACK_REFUSE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return KT_NETSTACK_REFUSE;
	c->h = h;
	c->mode = f->port == 80 ? M_HTTP : f->port == 9 ? M_DISCARD : M_ECHO;
	if (c->mode == M_ECHO) {
		c->buf = malloc(KT_NETSTACK_RCV_WINDOW);
		if (!c->buf) {
			free(c);
			return KT_NETSTACK_REFUSE;
		}
	}
	kt_tcp_set_callbacks(h, &g_cbs, c);
	c->next = g_conns;
	if (g_conns)
		g_conns->prev = c;
	g_conns = c;
	if (!delayed)
		return KT_NETSTACK_ACCEPT;
	g_delayed[g_ndelayed].h = h;
	g_delayed[g_ndelayed].c = c;
	g_delayed[g_ndelayed].ok = f->port == 8080;
	g_delayed[g_ndelayed].due = now_ms() + 30;
	g_ndelayed++;
	return KT_NETSTACK_PENDING;
}

static void udp_cb(void *user, uint32_t src, uint16_t src_port, uint32_t dst, uint16_t dst_port,
		   const uint8_t *data, size_t len)
{
	static const char reply[] = "kt-tun-echo dns\n";

	(void)user;
	(void)data;
	(void)len;
	kt_netstack_udp_send(g_ns, dst, dst_port, src, src_port, (const uint8_t *)reply,
			     sizeof(reply) - 1);
}

static void run_delayed(void)
{
	uint64_t now = now_ms();
	size_t i = 0;

	while (i < g_ndelayed) {
		if (g_delayed[i].due <= now) {
			struct delayed d = g_delayed[i];

			g_delayed[i] = g_delayed[--g_ndelayed];
			kt_netstack_syn_complete(d.h, d.ok);
			/* Refusing ends the handle without a callback: free our state. */
			if (!d.ok)
				conn_free(d.c);
			continue;
		}
		i++;
	}
}

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno || end == s || *end || *out > max) ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct kt_tun_config tc = {.name = "kt%d", .prefix_len = 16, .mtu = 16384};
	struct kt_netstack_config nc = {0};
	uint32_t subnet = 0xC6130000u, local = 0xC6130001u, dns = 0xC6130035u;
	unsigned long prefix = 16, mtu = 16384;
	static uint8_t pkt[65536];
	char err[256];
	struct sigaction sa;
	int i;

	for (i = 0; i < (int)sizeof(g_pattern); i++)
		g_pattern[i] = (uint8_t)(i % 251);
	for (i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--no-offload")) {
			g_offload = false;
			i--; /* takes no value */
			continue;
		}
		if (!v)
			goto usage;
		if (!strcmp(argv[i], "--name")) {
			tc.name = v;
		} else if (!strcmp(argv[i], "--subnet")) {
			char tmp[32];
			const char *slash = strchr(v, '/');
			size_t n = slash ? (size_t)(slash - v) : 0;

			if (!slash || n >= sizeof(tmp))
				goto usage;
			memcpy(tmp, v, n);
			tmp[n] = '\0';
			if (parse_ip(tmp, &subnet) || parse_uint(slash + 1, 30, &prefix))
				goto usage;
		} else if (!strcmp(argv[i], "--local")) {
			if (parse_ip(v, &local))
				goto usage;
		} else if (!strcmp(argv[i], "--dns")) {
			if (parse_ip(v, &dns))
				goto usage;
		} else if (!strcmp(argv[i], "--mtu")) {
			if (parse_uint(v, 65535, &mtu))
				goto usage;
		} else {
			goto usage;
		}
	}
	tc.subnet = subnet;
	tc.prefix_len = (uint8_t)prefix;
	tc.local = local;
	tc.mtu = (uint32_t)mtu;
	g_tun = kt_tun_open(&tc, err, sizeof(err));
	if (!g_tun) {
		fprintf(stderr, "tun_echo: %s\n", err);
		return 1;
	}
	nc.subnet = subnet;
	nc.prefix_len = (uint8_t)prefix;
	nc.dns_ip = dns;
	nc.mtu = (uint32_t)mtu;
	nc.output = out_cb;
	nc.offload = g_offload ? kt_tun_caps(g_tun) : 0;
	nc.accept = accept_cb;
	nc.udp = udp_cb;
	g_ns = kt_netstack_new(&nc);
	if (!g_ns) {
		fprintf(stderr, "tun_echo: cannot create the netstack\n");
		kt_tun_close(g_tun);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("ready %s\n", kt_tun_name(g_tun));
	fflush(stdout);

	while (!g_stop) {
		struct pollfd pfd = {.fd = kt_tun_fd(g_tun), .events = POLLIN};
		int64_t t = kt_netstack_next_timeout_ms(g_ns);
		int n, k;

		if (g_ndelayed && (t < 0 || t > 5))
			t = 5;
		n = poll(&pfd, 1, t < 0 ? -1 : (int)t);
		if (n < 0 && errno != EINTR) {
			perror("tun_echo: poll");
			break;
		}
		for (k = 0; n > 0 && k < 1024; k++) {
			ssize_t len = kt_tun_read(g_tun, pkt, sizeof(pkt));

			if (len == -EAGAIN)
				break;
			if (len < 0)
				continue;
			kt_netstack_input(g_ns, pkt, (size_t)len);
		}
		run_delayed();
		if (kt_netstack_next_timeout_ms(g_ns) == 0)
			kt_netstack_run_timers(g_ns);
		kt_netstack_flush(g_ns);
	}
	{
		struct kt_netstack_stats st;

		kt_netstack_get_stats(g_ns, &st);
		fprintf(stderr,
			"tun_echo: rx %llu tx %llu malformed %llu refused %llu accepted %llu "
			"pending %llu\n",
			(unsigned long long)st.rx_packets, (unsigned long long)st.tx_packets,
			(unsigned long long)st.rx_malformed, (unsigned long long)st.syn_refused,
			(unsigned long long)st.syn_accepted, (unsigned long long)st.syn_pending);
	}
	kt_netstack_free(g_ns); /* resets every connection, no callbacks */
	while (g_conns)
		conn_free(g_conns);
	kt_tun_close(g_tun);
	return 0;
usage:
	fprintf(stderr, "usage: tun_echo [--name N] [--subnet A.B.C.D/P] [--local IP] [--dns IP] "
			"[--mtu N] [--no-offload]\n");
	return 2;
}
