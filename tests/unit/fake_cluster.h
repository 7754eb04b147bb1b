/* fake_cluster.h: runs kubetun-fake-cluster as a child process for the unit tests of the
 * Kubernetes client (test_k8s.c, test_pf.c), and drives the event loop until a condition.
 *
 * fc_child_start() makes a fresh temporary directory, starts the fake on 127.0.0.1 port 0 (the
 * kernel picks a free port; the fake writes the real one into its kubeconfig) with the
 * repository's tests/fixtures/basic.yaml, waits for its "ready" line and loads the kubeconfig
 * it wrote. The binary is $KT_BUILD_DIR/kubetun-fake-cluster, or next to the test's own build
 * directory when KT_BUILD_DIR is unset. fc_child_stop() sends SIGTERM, reaps the child and
 * removes the directory. Header-only with static inline functions so each test executable
 * takes what it uses. */
#ifndef KT_FAKE_CLUSTER_H
#define KT_FAKE_CLUSTER_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "kubeconfig.h"

struct fc_child {
	pid_t pid;
	char dir[64];
	char kc_path[128]; /* the kubeconfig the fake wrote */
	char ca_path[128]; /* its CA (--ca-out) */
	char url[128];	   /* https://127.0.0.1:PORT */
	char admin_token[128];
	struct kt_kubeconfig *kc; /* loaded kc_path */
};

static inline bool fc_read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n > 0;
}

static inline struct kt_kubeconfig *fc_load_kubeconfig(const char *path)
{
	struct kt_kubeconfig_opts o = {.explicit_path = path};
	char err[512];
	struct kt_kubeconfig *kc = kt_kubeconfig_load(&o, err, sizeof(err));

	if (!kc)
		fprintf(stderr, "kubeconfig %s: %s\n", path, err);
	return kc;
}

static inline void fc_binary(char *out, size_t cap)
{
	const char *bd = getenv("KT_BUILD_DIR");
	char self[PATH_MAX];
	ssize_t n;

	if (bd && bd[0]) {
		snprintf(out, cap, "%s/kubetun-fake-cluster", bd);
		return;
	}
	/* Unit tests live in <build>/tests/. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(out, cap, "%s/../kubetun-fake-cluster", self) >= (int)cap)
		out[0] = '\0'; /* too long: the start fails with a clear message */
}

static inline void fc_child_stop(struct fc_child *f);

/* auth: "cert", "token" or "exec". extra: more arguments (NULL-terminated) or NULL. On failure
 * nothing is left behind (no child, no directory). */
static inline bool fc_child_start_(struct fc_child *f, const char *auth, const char *const *extra);
static inline bool fc_child_start(struct fc_child *f, const char *auth, const char *const *extra)
{
	if (fc_child_start_(f, auth, extra))
		return true;
	fc_child_stop(f);
	return false;
}

static inline bool fc_child_start_(struct fc_child *f, const char *auth, const char *const *extra)
{
	const char *src = getenv("KT_SOURCE_DIR");
	char bin[PATH_MAX], fixture[PATH_MAX], admin_path[160], line[64];
	const char *argv[32];
	int out[2], n = 0;
	size_t got = 0;

	memset(f, 0, sizeof(*f));
	f->pid = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-fc-XXXXXX");
	if (!mkdtemp(f->dir)) {
		f->dir[0] = '\0';
		return false;
	}
	snprintf(f->kc_path, sizeof(f->kc_path), "%s/kubeconfig", f->dir);
	snprintf(f->ca_path, sizeof(f->ca_path), "%s/ca.pem", f->dir);
	fc_binary(bin, sizeof(bin));
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "%s: %s (build the kubetun-fake-cluster target first)\n", bin,
			strerror(errno));
		return false;
	}
	snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/basic.yaml", src ? src : ".");
	argv[n++] = bin;
	argv[n++] = "--fixture";
	argv[n++] = fixture;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--kubeconfig-out";
	argv[n++] = f->kc_path;
	argv[n++] = "--ca-out";
	argv[n++] = f->ca_path;
	argv[n++] = "--auth";
	argv[n++] = auth;
	argv[n++] = "--grace-ms";
	argv[n++] = "200";
	argv[n++] = "--replace-delay-ms";
	argv[n++] = "200";
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0)
		return false;
	/* execv wants char *const []: give it copies. */
	char *av[32];
	for (int i = 0; i <= n; i++)
		av[i] = argv[i] ? strdup(argv[i]) : NULL;
	f->pid = fork();
	if (f->pid == 0) {
		/* A test that stops early (KT_REQUIRE) must not leave the fake running. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(out[1], 1);
		execv(bin, av);
		_exit(127);
	}
	for (int i = 0; i < n; i++)
		free(av[i]);
	if (f->pid < 0) {
		close(out[0]);
		close(out[1]);
		return false;
	}
	close(out[1]);
	/* Wait for "ready" (at most 10 s). */
	for (int waited = 0; waited < 10000 && got < sizeof(line) - 1;) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 100) == 0) {
			waited += 100;
			continue;
		}
		r = read(out[0], line + got, sizeof(line) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		line[got] = '\0';
		if (strstr(line, "ready"))
			break;
	}
	close(out[0]);
	line[got] = '\0';
	if (!strstr(line, "ready")) {
		fprintf(stderr, "%s did not get ready\n", bin);
		return false;
	}
	snprintf(admin_path, sizeof(admin_path), "%s.admin-token", f->kc_path);
	if (!fc_read_file(admin_path, f->admin_token, sizeof(f->admin_token)))
		return false;
	f->kc = fc_load_kubeconfig(f->kc_path);
	if (!f->kc)
		return false;
	snprintf(f->url, sizeof(f->url), "%s", f->kc->server.url);
	return true;
}

static inline void fc_child_stop(struct fc_child *f)
{
	char cmd[128];

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
		f->pid = -1;
	}
	kt_kubeconfig_free(f->kc);
	f->kc = NULL;
	if (f->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", f->dir);
		f->dir[0] = '\0';
	}
}

/* Writes a token kubeconfig for the fake's server into the fake's directory and loads it.
 * cluster_extra: more YAML lines under "cluster:" (indented by 4), e.g.
 * "    tls-server-name: localhost\n"; with_ca: add certificate-authority (the fake's CA). */
static inline struct kt_kubeconfig *fc_token_kubeconfig(const struct fc_child *f, const char *name,
							const char *server, bool with_ca,
							const char *cluster_extra,
							const char *token)
{
	char path[192];
	FILE *o;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	o = fopen(path, "w");
	if (!o)
		return NULL;
	fprintf(o,
		"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n",
		server ? server : f->url);
	if (with_ca)
		fprintf(o, "    certificate-authority: %s\n", f->ca_path);
	if (cluster_extra)
		fputs(cluster_extra, o);
	fprintf(o,
		"contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
		"current-context: x\nusers:\n- name: u\n  user:\n    token: \"%s\"\n",
		token);
	fclose(o);
	return fc_load_kubeconfig(path);
}

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
static inline int fc_dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* ---- driving the loop ---- */

struct fc_wait {
	struct kt_evloop *loop;
	bool (*cond)(void *arg);
	void *arg;
};

static inline void fc_wait_tick(void *arg)
{
	struct fc_wait *w = arg;

	kt_evloop_stop(w->loop);
}

/* Runs the loop until cond(arg) holds (checked every 10 ms) or timeout_ms passes. */
static inline bool fc_run_until(struct kt_evloop *loop, bool (*cond)(void *), void *arg,
				unsigned timeout_ms)
{
	struct fc_wait w = {loop, cond, arg};
	struct kt_timer *t = kt_timer_new(loop, fc_wait_tick, &w);
	uint64_t end = kt_evloop_now_ms(loop) + timeout_ms;
	bool ok;

	while (!(ok = cond(arg)) && kt_evloop_now_ms(loop) < end) {
		kt_timer_arm(t, 10);
		kt_evloop_run(loop);
	}
	kt_timer_free(t);
	return ok;
}

static inline bool fc_flag(void *arg)
{
	return *(volatile bool *)arg;
}

/* Runs the loop for ms milliseconds. */
static inline bool fc_never(void *arg)
{
	(void)arg;
	return false;
}

static inline void fc_run_for(struct kt_evloop *loop, unsigned ms)
{
	fc_run_until(loop, fc_never, NULL, ms);
}

#endif
