/* main.c: kubetun-fake-cluster, a fake Kubernetes API server for tests, benchmarks and demos.
 *
 * Order of start: parse the command line, load the fixture (fc_api_init), make the PKI, open
 * the listening socket, write the kubeconfig and friends, print "ready", run the loop. SIGTERM
 * and SIGINT reach the loop through a self-pipe and stop it; everything is then freed in the
 * reverse order of construction. Exit status: 0 after a signal, 1 on a runtime failure (e.g.
 * the port is taken), 2 on a usage error or a bad fixture. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cluster.h"
#include "log.h"
#include "loop.h"
#include "pki.h"
#include "podserver.h"
#include "portforward.h"
#include "server.h"
#include "store.h"

#define PROG "kubetun-fake-cluster"

static const char help_text[] =
    "usage: " PROG " --fixture FILE [--listen ADDR:PORT] --kubeconfig-out FILE\n"
    "       [--auth cert|token|exec] [--ca-out FILE] [--nodes N] [--tls-san NAME]\n"
    "       [--grace-ms N] [--replace-delay-ms N] [--bookmark-ms N] [--history N] [--pod-listen "
    "ADDR:PORT] [-v]\n"
    "\n"
    "A fake Kubernetes API server that real kubectl accepts. It serves the objects of FILE\n"
    "(multi-document Kubernetes YAML) over HTTPS with its own CA, simulates their pods, and\n"
    "writes a kubeconfig for them. Prints \"ready\" once it serves; stops on SIGTERM/SIGINT.\n"
    "\n"
    "  --fixture FILE          manifests to serve (Namespace, Service, Pod, Deployment,\n"
    "                          StatefulSet, DaemonSet)\n"
    "  --listen ADDR:PORT      address to listen on (default 127.0.0.1:6443; [::1]:PORT for\n"
    "                          IPv6; port 0 picks a free port)\n"
    "  --kubeconfig-out FILE   kubeconfig to write; the admin token for /fake/v1 goes to\n"
    "                          FILE.admin-token\n"
    "  --auth cert|token|exec  credential in the kubeconfig (default cert); exec writes an\n"
    "                          exec plugin script to FILE.exec-plugin\n"
    "  --ca-out FILE           also write the CA certificate (PEM) here\n"
    "  --nodes N               fake nodes, i.e. pods per DaemonSet (default 1)\n"
    "  --tls-san NAME          extra DNS name or IP in the server certificate\n"
    "  --grace-ms N            a deleted pod stays Terminating this long (default 1000)\n"
    "  --replace-delay-ms N    a controller replaces a deleted pod after this (default 500)\n"
    "  --bookmark-ms N         BOOKMARK interval of idle watches (default 60000, about what\n"
    "                          a real API server sends; the first one comes after 200 ms)\n"
    "  --history N             watch events kept for resuming (1..4096, default 4096); a\n"
    "                          watch from an older resourceVersion gets 410 Expired\n"
    "  --pod-listen ADDR:PORT  also serve the simulated pod backend directly on this TCP\n"
    "                          address (plain HTTP, pod \"direct\" in namespace \"bench\", port =\n"
    "                          the bound port; port 0 picks one and prints \"pod-listen ADDR\"):\n"
    "                          the no-tunnel baseline of the benchmarks\n"
    "  -v                      log every request (repeat for more)\n"
    "  --help                  this text\n";

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t w = write(sig_pipe[1], &b, 1);
	(void)w; /* a full pipe already holds a wake-up */
	errno = saved;
}

static void signal_readable(void *arg, short revents)
{
	struct fc_loop *loop = arg;
	unsigned char buf[64];
	(void)revents;
	while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
		;
	fc_loop_stop(loop);
}

static int setup_signals(struct fc_loop *loop)
{
	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	return fc_loop_watch(loop, sig_pipe[0], POLLIN, signal_readable, loop);
}

static void close_signals(struct fc_loop *loop)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (sig_pipe[0] >= 0) {
		fc_loop_unwatch(loop, sig_pipe[0]);
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		sig_pipe[0] = sig_pipe[1] = -1;
	}
}

static noreturn void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Usage errors are one line on stderr and exit status 2. */
static noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", PROG);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see --help)\n");
	va_end(ap);
	exit(2);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *s == '-' || *s == '+' || *s == ' ' || errno || *end || v < min || v > max)
		usage_error("%s needs a number from %llu to %llu, not \"%s\"", opt,
			    (unsigned long long)min, (unsigned long long)max, s);
	return v;
}

/* pod_listen: --pod-listen's value or NULL (kept out of struct fc_options: only main uses it). */
static void parse_args(int argc, char **argv, struct fc_options *opt, const char **pod_listen)
{
	enum {
		O_FIXTURE = 256,
		O_LISTEN,
		O_KCFG,
		O_AUTH,
		O_CA,
		O_NODES,
		O_SAN,
		O_GRACE,
		O_REPL,
		O_BOOKMARK,
		O_HISTORY,
		O_PODLISTEN
	};
	static const struct option longopts[] = {
	    {"fixture", required_argument, NULL, O_FIXTURE},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"kubeconfig-out", required_argument, NULL, O_KCFG},
	    {"auth", required_argument, NULL, O_AUTH},
	    {"ca-out", required_argument, NULL, O_CA},
	    {"nodes", required_argument, NULL, O_NODES},
	    {"tls-san", required_argument, NULL, O_SAN},
	    {"grace-ms", required_argument, NULL, O_GRACE},
	    {"replace-delay-ms", required_argument, NULL, O_REPL},
	    {"bookmark-ms", required_argument, NULL, O_BOOKMARK},
	    {"history", required_argument, NULL, O_HISTORY},
	    {"pod-listen", required_argument, NULL, O_PODLISTEN},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	*opt = (struct fc_options){
	    .listen = "127.0.0.1:6443",
	    .auth = "cert",
	    .nodes = 1,
	    .grace_ms = 1000,
	    .replace_delay_ms = 500,
	    .bookmark_ms = 60000,
	};
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		switch (ch) {
		case O_FIXTURE:
			opt->fixture_path = optarg;
			break;
		case O_LISTEN:
			opt->listen = optarg;
			break;
		case O_KCFG:
			opt->kubeconfig_out = optarg;
			break;
		case O_AUTH:
			if (strcmp(optarg, "cert") != 0 && strcmp(optarg, "token") != 0 &&
			    strcmp(optarg, "exec") != 0)
				usage_error("--auth takes cert, token or exec, not \"%s\"", optarg);
			opt->auth = optarg;
			break;
		case O_CA:
			opt->ca_out = optarg;
			break;
		case O_NODES:
			opt->nodes = (int)parse_num("--nodes", optarg, 1, 1000);
			break;
		case O_SAN:
			if (!*optarg || strlen(optarg) > 253)
				usage_error(
				    "--tls-san takes a DNS name or an IP address, not \"%s\"",
				    optarg);
			opt->tls_san = optarg;
			break;
		case O_GRACE:
			opt->grace_ms = parse_num("--grace-ms", optarg, 0, 3600000);
			break;
		case O_REPL:
			opt->replace_delay_ms = parse_num("--replace-delay-ms", optarg, 0, 3600000);
			break;
		case O_BOOKMARK:
			opt->bookmark_ms = parse_num("--bookmark-ms", optarg, 100, 3600000);
			break;
		case O_HISTORY:
			opt->history = (size_t)parse_num("--history", optarg, 1, 4096);
			break;
		case O_PODLISTEN:
			*pod_listen = optarg;
			break;
		case 'v':
			opt->verbosity++;
			break;
		case 'h':
			fputs(help_text, stdout);
			exit(0);
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
	if (!opt->fixture_path)
		usage_error("--fixture FILE is required");
	if (!opt->kubeconfig_out)
		usage_error("--kubeconfig-out FILE is required");
}

int main(int argc, char **argv)
{
	struct fc_cluster cl = {0};
	struct fc_podserver *pods = NULL;
	const char *pod_listen = NULL;
	char err[1024] = "";
	int status = 1;
	bool api_up = false;

	parse_args(argc, argv, &cl.opt, &pod_listen);
	kt_log_init(PROG, cl.opt.verbosity);
	signal(SIGPIPE, SIG_IGN);

	cl.loop = fc_loop_new();
	cl.store = cl.loop ? fc_store_new() : NULL;
	if (!cl.store) {
		kt_log_warnx("out of memory");
		goto out;
	}
	if (cl.opt.history)
		fc_store_set_history(cl.store, cl.opt.history);
	if (fc_api_init(&cl, err, sizeof(err)) < 0) {
		/* The fixture's own one-line FILE:LINE:COL message, as is. */
		fprintf(stderr, "%s\n", err[0] ? err : "cannot load the fixture");
		status = 2;
		goto out;
	}
	api_up = true;
	cl.pki = fc_pki_new(&cl.opt, err, sizeof(err));
	if (!cl.pki) {
		kt_log_warnx("%s", err);
		goto out;
	}
	cl.pf = fc_portforward_new(&cl);
	if (!cl.pf) {
		kt_log_warnx("cannot set up port-forwarding");
		goto out;
	}
	cl.server = fc_server_new(&cl, err, sizeof(err));
	if (!cl.server) {
		kt_log_warnx("%s", err);
		goto out;
	}
	/* The kubeconfig names the address actually bound (port 0 → the port picked). */
	cl.opt.listen = fc_server_addr(cl.server);
	if (fc_pki_write_outputs(cl.pki, &cl.opt, err, sizeof(err)) < 0) {
		kt_log_warnx("%s", err);
		goto out;
	}
	if (pod_listen) {
		pods = fc_podserver_new(cl.loop, pod_listen, err, sizeof(err));
		if (!pods) {
			kt_log_warnx("%s", err);
			goto out;
		}
		printf("pod-listen %s\n", fc_podserver_addr(pods));
	}
	if (setup_signals(cl.loop) < 0) {
		kt_log_warn("signals");
		goto out;
	}
	fputs("ready\n", stdout);
	fflush(stdout);
	int r = fc_loop_run(cl.loop);
	if (r < 0) {
		errno = -r;
		kt_log_warn("event loop");
		goto out;
	}
	status = 0;
out:
	close_signals(cl.loop);
	fc_podserver_free(pods);
	fc_server_free(cl.server);
	fc_portforward_free(cl.pf);
	fc_pki_free(cl.pki);
	if (api_up)
		fc_api_fini(&cl);
	fc_store_free(cl.store);
	fc_loop_free(cl.loop);
	return status;
}
