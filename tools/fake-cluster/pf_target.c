/* pf_target.c: the pod end of one forwarded connection (see pf_target.h).
 *
 * A target owns its backend (and that backend's timer) or its socket (and its loop watch),
 * and its stash of client bytes the pod has not taken yet. It never owns the sink. Invariants:
 *  - state only moves forward: CONNECTING → OPEN → EOF | RESET, or → REFUSED;
 *  - the stash is non-empty only while the pod cannot take more (that is what "blocked" means),
 *    and it is flushed before a pending client EOF is passed on;
 *  - pod output is pulled only when sink.room() > 0, so nothing is buffered on the way out;
 *  - sink.notify() is called only at the end of our own loop callbacks (the owner may free the
 *    target inside it). */
#include "pf_target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backend.h"
#include "buf.h"
#include "cluster.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "store.h"

#define ANNOTATION_PREFIX "fake.kubetun.dev/"
/* The cluster domain the fake's DNS names use (protocol.md section 7). */
#define CLUSTER_DOMAIN "cluster.local"
/* Largest single emit: big DATA frames / WebSocket messages keep per-frame costs low. */
#define EMIT_MAX (32u * 1024)

/* --- resolution --- */

static const char *str_at(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, a);
	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

static const char *annotation(const cJSON *pod, const char *what, uint16_t port)
{
	char key[96];
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "annotations");
	const cJSON *v;

	snprintf(key, sizeof(key), ANNOTATION_PREFIX "%s-%u", what, port);
	v = cJSON_GetObjectItemCaseSensitive(ann, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Finds the TCP container port `port` among the regular containers; *name gets its name. */
static bool declared_port(const cJSON *pod, uint16_t port, const char **name)
{
	const cJSON *containers = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pod, "spec"), "containers");
	const cJSON *c, *p;

	cJSON_ArrayForEach(c, containers)
	{
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports"))
		{
			const cJSON *num = cJSON_GetObjectItemCaseSensitive(p, "containerPort");
			const char *proto = str_at(p, "protocol", NULL);
			if (!cJSON_IsNumber(num) || num->valuedouble != (double)port)
				continue;
			/* Port-forward is TCP only; a UDP/SCTP port is closed for it. */
			if (proto && strcmp(proto, "TCP") != 0)
				continue;
			*name = str_at(p, "name", NULL);
			return true;
		}
	}
	return false;
}

/* Parses "HOST:PORT" (HOST an IPv4 address, [IPv6], or localhost) into a loopback socket
 * address. 0 or -EINVAL (malformed or not loopback: the fake dials nothing else). */
static int parse_backend_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	uint16_t port = 0;
	size_t hlen;

	if (!colon || colon == s)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			return -EINVAL;
		s++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	{
		const char *ps = colon + 1;
		uint32_t v = 0;
		if (!*ps)
			return -EINVAL;
		for (; *ps; ps++) {
			if (*ps < '0' || *ps > '9')
				return -EINVAL;
			v = v * 10 + (uint32_t)(*ps - '0');
			if (v > 0xffff)
				return -EINVAL;
		}
		if (v == 0)
			return -EINVAL;
		port = (uint16_t)v;
	}
	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

void pf_target_resolve(const cJSON *pod, uint16_t port, struct pf_target_spec *spec)
{
	const char *v, *name = NULL;

	memset(spec, 0, sizeof(*spec));
	spec->port = port;
	spec->kind = PF_TARGET_REFUSED;
	v = annotation(pod, "refuse", port);
	if (v && strcmp(v, "true") == 0) {
		spec->why = "refuse annotation";
		return;
	}
	v = annotation(pod, "backend", port);
	if (v) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (strlen(v) >= sizeof(spec->addr) || parse_backend_addr(v, &ss, &len) < 0) {
			spec->why = "backend annotation is not a loopback HOST:PORT";
			return;
		}
		snprintf(spec->addr, sizeof(spec->addr), "%s", v);
		spec->kind = PF_TARGET_TCP;
		return;
	}
	if (!declared_port(pod, port, &name)) {
		spec->why = "no container declares the port";
		return;
	}
	spec->kind = PF_TARGET_BACKEND;
	spec->tls = port == 443 || port == 8443 || (name && strcmp(name, "https") == 0);
}

/* --- names --- */

void pf_names_fini(struct pf_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int pf_names_add(struct pf_names *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Adds the printf-formatted name if it fits a DNS name (253 characters). */
static int add_name(struct pf_names *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_name(struct pf_names *l, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r < 0 || r > 253)
		return 0;
	return pf_names_add(l, buf);
}

struct names_ctx {
	const cJSON *pod;
	const char *ns, *host;
	struct pf_names *out;
	int err;
};

static bool selector_matches(const cJSON *selector, const cJSON *labels)
{
	const cJSON *kv;
	bool any = false;

	cJSON_ArrayForEach(kv, selector)
	{
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(labels, kv->string);
		if (!cJSON_IsString(kv) || !cJSON_IsString(l) ||
		    strcmp(kv->valuestring, l->valuestring))
			return false;
		any = true;
	}
	/* An empty selector selects nothing: the Service's endpoints are managed by hand. */
	return any;
}

static void names_for_service(void *arg, const cJSON *svc)
{
	struct names_ctx *x = arg;
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(svc, "spec");
	const char *name = str_at(svc, "metadata", "name");
	const char *cip = str_at(spec, "clusterIP", NULL);
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(x->pod, "metadata"), "labels");

	if (x->err || !name ||
	    !selector_matches(cJSON_GetObjectItemCaseSensitive(spec, "selector"), labels))
		return;
	x->err = add_name(x->out, "%s", name);
	if (!x->err)
		x->err = add_name(x->out, "%s.%s", name, x->ns);
	if (!x->err)
		x->err = add_name(x->out, "%s.%s.svc", name, x->ns);
	if (!x->err)
		x->err = add_name(x->out, "%s.%s.svc." CLUSTER_DOMAIN, name, x->ns);
	if (!x->err && cip && strcmp(cip, "None") == 0) {
		x->err = add_name(x->out, "%s.%s.%s.svc." CLUSTER_DOMAIN, x->host, name, x->ns);
		if (!x->err)
			x->err = add_name(x->out, "%s.%s.%s.svc", x->host, name, x->ns);
	}
}

int pf_pod_dns_names(const struct fc_store *store, const cJSON *pod, struct pf_names *out)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	const char *ns = str_at(pod, "metadata", "namespace");
	const char *pname = str_at(pod, "metadata", "name");
	const char *host = str_at(spec, "hostname", NULL);
	const char *sub = str_at(spec, "subdomain", NULL);
	struct names_ctx x;

	if (!ns || !pname)
		return 0;
	if (!host || !*host)
		host = pname;
	x = (struct names_ctx){pod, ns, host, out, 0};
	fc_store_foreach(store, FC_KIND_SERVICE, ns, names_for_service, &x);
	if (x.err)
		return x.err;
	if (sub && *sub) {
		int r = add_name(out, "%s.%s.%s.svc." CLUSTER_DOMAIN, host, sub, ns);
		if (!r)
			r = add_name(out, "%s.%s.%s.svc", host, sub, ns);
		return r;
	}
	return 0;
}

/* --- runtime --- */

struct pf_target {
	struct fc_cluster *cl;
	struct pf_sink sink;
	enum pf_target_kind kind;
	enum pf_target_state state;
	uint16_t port;
	uint16_t local_port;
	struct kt_buf stash; /* client → pod bytes the pod has not taken yet */
	bool eof_pending;    /* client EOF seen, not yet passed on */
	bool eof_sent;

	/* backend */
	struct fc_backend *be;
	struct fc_timer *timer;
	bool be_closed, be_reset;

	/* tcp */
	int fd;
	short events;
	bool rd_eof;
};

/* Emit scratch for socket reads: one per process (single-threaded loop). */
static uint8_t tcp_scratch[EMIT_MAX];

static size_t sink_room(const struct pf_target *t)
{
	size_t r = t->sink.room(t->sink.arg);
	return r < EMIT_MAX ? r : EMIT_MAX;
}

enum pf_target_state pf_target_state(const struct pf_target *t)
{
	return t->state;
}

bool pf_target_open_for_output(const struct pf_target *t)
{
	return t->state == PF_TS_OPEN || t->state == PF_TS_CONNECTING;
}

bool pf_target_blocked(const struct pf_target *t)
{
	if (!pf_target_open_for_output(t))
		return false;
	if (t->kind == PF_TARGET_TCP)
		return kt_buf_len(&t->stash) >= PF_TCP_QUEUE_SOFT;
	return kt_buf_len(&t->stash) > 0;
}

uint16_t pf_target_local_port(const struct pf_target *t)
{
	return t->local_port;
}

static void stash_drop(struct pf_target *t)
{
	kt_buf_fini(&t->stash);
	kt_buf_init(&t->stash, t->kind == PF_TARGET_TCP ? PF_TCP_QUEUE_MAX : 2 * PF_CHUNK_MAX);
}

/* --- backend --- */

static void be_output(void *arg, const uint8_t *p, size_t n)
{
	struct pf_target *t = arg;
	t->sink.emit(t->sink.arg, p, n);
}

static void be_closed(void *arg, bool reset)
{
	struct pf_target *t = arg;
	t->be_closed = true;
	t->be_reset = reset;
}

static void be_timer_fired(void *arg);

static void be_set_timer(void *arg, uint64_t ms)
{
	struct pf_target *t = arg;
	fc_loop_timer_cancel(t->cl->loop, t->timer);
	t->timer = NULL;
	if (ms > 0) {
		t->timer = fc_loop_timer(t->cl->loop, ms, be_timer_fired, t);
		if (!t->timer)
			kt_log_warnx("port-forward: cannot arm a pod timer");
	}
}

static const struct fc_backend_io be_io = {be_output, be_closed, be_set_timer};

/* Folds the backend's closed() into our state. */
static void be_settle(struct pf_target *t)
{
	if (!t->be_closed || !pf_target_open_for_output(t))
		return;
	t->state = t->be_reset ? PF_TS_RESET : PF_TS_EOF;
	fc_loop_timer_cancel(t->cl->loop, t->timer);
	t->timer = NULL;
	stash_drop(t);
}

static void be_feed(struct pf_target *t, const uint8_t *p, size_t n)
{
	while (n > 0 && t->state == PF_TS_OPEN) {
		size_t room = fc_backend_input_room(t->be);
		size_t k = n < room ? n : room;
		if (k == 0)
			break;
		int r = fc_backend_input(t->be, p, k);
		be_settle(t);
		if (r < 0)
			return;
		p += k;
		n -= k;
	}
	if (n > 0 && t->state == PF_TS_OPEN && kt_buf_append(&t->stash, p, n) < 0) {
		/* Cannot happen while the owner respects pf_target_blocked(); treat it as the
		 * pod's receive buffer overflowing: reset. */
		kt_log_warnx("port-forward: pod port %u: stash overflow, resetting", t->port);
		t->state = PF_TS_RESET;
		stash_drop(t);
	}
}

static void be_flush_stash(struct pf_target *t)
{
	while (kt_buf_len(&t->stash) > 0 && t->state == PF_TS_OPEN) {
		size_t room = fc_backend_input_room(t->be);
		size_t len = kt_buf_len(&t->stash);
		size_t k = len < room ? len : room;
		if (k == 0)
			break;
		int r = fc_backend_input(t->be, kt_buf_peek(&t->stash), k);
		kt_buf_consume(&t->stash, k);
		be_settle(t);
		if (r < 0)
			return;
	}
	if (t->state == PF_TS_OPEN && kt_buf_len(&t->stash) == 0 && t->eof_pending &&
	    !t->eof_sent) {
		t->eof_sent = true;
		fc_backend_input_eof(t->be);
		be_settle(t);
	}
}

/* Pulls output while the sink has room (at most quantum bytes), and refeeds the stash as
 * the backend makes room (a finished response lets it parse the next pipelined request). */
static size_t be_pump(struct pf_target *t, size_t quantum)
{
	size_t total = 0;
	bool again = true;

	while (again && t->state == PF_TS_OPEN) {
		again = false;
		while (t->state == PF_TS_OPEN && fc_backend_has_pending(t->be) && total < quantum) {
			size_t room = sink_room(t);
			if (room > quantum - total)
				room = quantum - total;
			if (room == 0)
				break;
			size_t got = fc_backend_pump(t->be, room);
			be_settle(t);
			total += got;
			if (got == 0)
				break;
		}
		size_t stashed = kt_buf_len(&t->stash);
		bool eof_sent = t->eof_sent;
		be_flush_stash(t);
		/* New input may have produced new output: go round once more. */
		again = kt_buf_len(&t->stash) != stashed || t->eof_sent != eof_sent;
	}
	return total;
}

static void be_timer_fired(void *arg)
{
	struct pf_target *t = arg;
	t->timer = NULL;
	if (t->state != PF_TS_OPEN)
		return;
	fc_backend_on_timer(t->be);
	be_settle(t);
	be_pump(t, SIZE_MAX);
	t->sink.notify(t->sink.arg);
}

static int be_open(struct pf_target *t, const cJSON *pod, const struct pf_target_spec *spec)
{
	struct fc_backend_info info = {0};
	SSL_CTX *ctx = NULL;

	info.pod_name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "name"));
	info.pod_namespace = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "namespace"));
	info.port = spec->port;
	if (spec->tls) {
		struct pf_names names = {0};
		const char *uid = str_at(pod, "metadata", "uid");
		const char *ip = str_at(pod, "status", "podIP");
		char key[256];

		if (pf_pod_dns_names(t->cl->store, pod, &names) < 0) {
			pf_names_fini(&names);
			return -ENOMEM;
		}
		/* The cache key stands for everything the certificate depends on, so a Service
		 * added later gives the pod a new certificate: uid, port, IP and a digest of the
		 * names (any number of them fits the key that way). */
		{
			EVP_MD_CTX *md = EVP_MD_CTX_new();
			unsigned char dig[EVP_MAX_MD_SIZE];
			unsigned int dlen = 0;
			char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
			if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
				EVP_MD_CTX_free(md);
				pf_names_fini(&names);
				return -ENOMEM;
			}
			for (size_t i = 0; i < names.n; i++)
				EVP_DigestUpdate(md, names.v[i], strlen(names.v[i]) + 1);
			EVP_DigestFinal_ex(md, dig, &dlen);
			EVP_MD_CTX_free(md);
			for (unsigned int i = 0; i < dlen; i++)
				snprintf(hex + 2 * i, 3, "%02x", dig[i]);
			snprintf(key, sizeof(key), "%s:%u:%s:%s", uid ? uid : "", spec->port,
				 ip ? ip : "", hex);
		}
		ctx = fc_pki_pod_ctx(t->cl->pki, key, (const char *const *)names.v, names.n,
				     ip && *ip ? ip : NULL);
		pf_names_fini(&names);
		if (!ctx)
			return -ENOMEM;
	}
	info.tls = ctx;
	t->be = fc_backend_new(&info, &be_io, t);
	if (!t->be)
		return -ENOMEM;
	t->state = PF_TS_OPEN;
	/* Ephemeral port of the runtime's dial, for error texts. */
	t->local_port = (uint16_t)(32768 + ((uintptr_t)t >> 4) % 28000);
	return 0;
}

/* --- tcp --- */

static void tcp_io(void *arg, short revents);

static void tcp_update(struct pf_target *t)
{
	short ev = 0;

	if (t->fd < 0)
		return;
	if (t->state == PF_TS_CONNECTING) {
		ev = POLLOUT;
	} else if (t->state == PF_TS_OPEN) {
		if (!t->rd_eof && t->sink.room(t->sink.arg) > 0)
			ev |= POLLIN;
		if (kt_buf_len(&t->stash) > 0)
			ev |= POLLOUT;
	}
	if (ev != t->events) {
		t->events = ev;
		fc_loop_set_events(t->cl->loop, t->fd, ev);
	}
}

static void tcp_fail(struct pf_target *t, int err)
{
	if (!pf_target_open_for_output(t))
		return;
	t->state =
	    err == ECONNREFUSED && t->state == PF_TS_CONNECTING ? PF_TS_REFUSED : PF_TS_RESET;
	if (t->state == PF_TS_RESET && err != ECONNRESET && err != EPIPE)
		kt_log_debug("port-forward: pod port %u: %s", t->port, strerror(err));
	stash_drop(t);
}

static void tcp_flush(struct pf_target *t)
{
	while (t->state == PF_TS_OPEN && kt_buf_len(&t->stash) > 0) {
		ssize_t w = send(t->fd, kt_buf_peek(&t->stash), kt_buf_len(&t->stash),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			kt_buf_consume(&t->stash, (size_t)w);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		tcp_fail(t, w < 0 ? errno : EPIPE);
		return;
	}
	if (t->state == PF_TS_OPEN && kt_buf_len(&t->stash) == 0 && t->eof_pending &&
	    !t->eof_sent) {
		t->eof_sent = true;
		shutdown(t->fd, SHUT_WR);
	}
}

static size_t tcp_read(struct pf_target *t, size_t quantum)
{
	size_t total = 0;
	while (t->state == PF_TS_OPEN && !t->rd_eof && total < quantum) {
		size_t room = sink_room(t);
		if (room > quantum - total)
			room = quantum - total;
		if (room == 0)
			break;
		ssize_t n = recv(t->fd, tcp_scratch, room, MSG_DONTWAIT);
		if (n > 0) {
			t->sink.emit(t->sink.arg, tcp_scratch, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (n == 0) {
			t->rd_eof = true;
			t->state = PF_TS_EOF;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			tcp_fail(t, errno);
		break;
	}
	return total;
}

static void tcp_connected(struct pf_target *t)
{
	int err = 0;
	socklen_t len = sizeof(err);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err) {
		t->state = PF_TS_CONNECTING;
		tcp_fail(t, ECONNREFUSED);
		return;
	}
	t->state = PF_TS_OPEN;
	if (getsockname(t->fd, (struct sockaddr *)&ss, &sl) == 0)
		t->local_port =
		    ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
}

static void tcp_io(void *arg, short revents)
{
	struct pf_target *t = arg;

	if (t->state == PF_TS_CONNECTING)
		tcp_connected(t);
	if (t->state == PF_TS_OPEN && (revents & POLLOUT))
		tcp_flush(t);
	if (t->state == PF_TS_OPEN && (revents & (POLLIN | POLLHUP | POLLERR)))
		tcp_read(t, PF_TCP_QUEUE_MAX);
	if (t->state == PF_TS_OPEN && kt_buf_len(&t->stash) > 0)
		tcp_flush(t);
	tcp_update(t);
	t->sink.notify(t->sink.arg);
}

static int tcp_open(struct pf_target *t, const struct pf_target_spec *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (parse_backend_addr(spec->addr, &ss, &len) < 0) {
		t->state = PF_TS_REFUSED;
		return 0;
	}
	t->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return -errno;
	t->state = PF_TS_CONNECTING;
	if (connect(t->fd, (struct sockaddr *)&ss, len) == 0) {
		tcp_connected(t);
	} else if (errno != EINPROGRESS) {
		tcp_fail(t, ECONNREFUSED);
		return 0;
	}
	t->events = 0;
	if (fc_loop_watch(t->cl->loop, t->fd, 0, tcp_io, t) < 0)
		return -ENOMEM;
	tcp_update(t);
	return 0;
}

/* --- public --- */

struct pf_target *pf_target_open(struct fc_cluster *cl, const cJSON *pod,
				 const struct pf_target_spec *spec, const struct pf_sink *sink)
{
	struct pf_target *t = calloc(1, sizeof(*t));
	int r = 0;

	if (!t)
		return NULL;
	t->cl = cl;
	t->sink = *sink;
	t->kind = spec->kind;
	t->port = spec->port;
	t->fd = -1;
	kt_buf_init(&t->stash, t->kind == PF_TARGET_TCP ? PF_TCP_QUEUE_MAX : 2 * PF_CHUNK_MAX);
	switch (spec->kind) {
	case PF_TARGET_REFUSED:
		t->state = PF_TS_REFUSED;
		break;
	case PF_TARGET_BACKEND:
		r = be_open(t, pod, spec);
		break;
	case PF_TARGET_TCP:
		r = tcp_open(t, spec);
		break;
	}
	if (r < 0) {
		kt_log_warnx("port-forward: cannot open pod port %u: %s", spec->port, strerror(-r));
		pf_target_free(t);
		return NULL;
	}
	return t;
}

void pf_target_free(struct pf_target *t)
{
	if (!t)
		return;
	if (t->fd >= 0) {
		fc_loop_unwatch(t->cl->loop, t->fd);
		close(t->fd);
	}
	fc_loop_timer_cancel(t->cl->loop, t->timer);
	fc_backend_free(t->be);
	kt_buf_fini(&t->stash);
	free(t);
}

void pf_target_write(struct pf_target *t, const uint8_t *p, size_t n)
{
	if (n == 0 || !pf_target_open_for_output(t) || t->eof_pending)
		return;
	if (t->kind == PF_TARGET_BACKEND) {
		if (kt_buf_len(&t->stash) > 0) {
			if (kt_buf_append(&t->stash, p, n) < 0) {
				kt_log_warnx("port-forward: pod port %u: stash overflow, resetting",
					     t->port);
				t->state = PF_TS_RESET;
				stash_drop(t);
				return;
			}
			be_flush_stash(t);
		} else {
			be_feed(t, p, n);
		}
		be_pump(t, SIZE_MAX);
		return;
	}
	/* TCP: queue behind anything not yet written (also while connecting). */
	if (kt_buf_append(&t->stash, p, n) < 0) {
		kt_log_warnx("port-forward: pod port %u: queue overflow, resetting", t->port);
		t->state = PF_TS_RESET;
		stash_drop(t);
		return;
	}
	if (t->state == PF_TS_OPEN)
		tcp_flush(t);
	tcp_update(t);
}

void pf_target_write_eof(struct pf_target *t)
{
	if (!pf_target_open_for_output(t) || t->eof_pending)
		return;
	t->eof_pending = true;
	if (t->kind == PF_TARGET_BACKEND) {
		be_flush_stash(t);
		be_pump(t, SIZE_MAX);
	} else if (t->state == PF_TS_OPEN) {
		tcp_flush(t);
		tcp_update(t);
	}
}

size_t pf_target_kick(struct pf_target *t, size_t quantum)
{
	size_t n = 0;

	if (t->state != PF_TS_OPEN)
		return 0;
	if (t->kind == PF_TARGET_BACKEND)
		return be_pump(t, quantum);
	if (t->kind == PF_TARGET_TCP) {
		n = tcp_read(t, quantum);
		tcp_update(t);
	}
	return n;
}
