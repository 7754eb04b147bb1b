/* k8s_lws.h: the private interface between the Kubernetes REST client (k8s.c) and the
 * port-forward streams (pf.c). Only these two files (and evloop.c) see libwebsockets types.
 *
 * A struct kt_k8s owns one lws vhost per cluster with two protocols: index 0 is a dispatcher
 * that only receives vhost-wide reasons, and "kt-k8s-http" serves REST requests and watches
 * (k8s.c). Port-forward streams do not use lws: they make their own TLS connections (pf.c)
 * from the TLS setup exposed below. Every client wsi carries its
 * owning object as lws user data; an owner that gives up a connection first detaches itself
 * (lws_set_wsi_user(wsi, NULL)) so later callbacks for that wsi find no owner and are ignored.
 *
 * Connections that outlive their owner's interest are "children" of the kt_k8s: kt_k8s_free()
 * abandons each remaining child in creation order (closes its wsi synchronously, frees it, no
 * user callbacks) before it destroys the vhost, so the vhost never waits for lws's deferred
 * sweep. Creation order matters: a child that made another child (a stream's status request)
 * is abandoned first and takes its dependant with it. */
#ifndef KT_K8S_LWS_H
#define KT_K8S_LWS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "k8s.h"

struct kt_k8s_child {
	struct kt_k8s_child *prev, *next;
	/* Closes the child's wsi synchronously and frees the child; no user callbacks. */
	void (*abandon)(struct kt_k8s_child *c);
};
void kt_k8s_child_add(struct kt_k8s *k, struct kt_k8s_child *c);
void kt_k8s_child_del(struct kt_k8s *k, struct kt_k8s_child *c);

struct lws_context *kt_k8s_lws_context(struct kt_k8s *k);
struct kt_evloop *kt_k8s_loop(struct kt_k8s *k);

/* Makes sure a credential is at hand before a connection starts: runs the exec plugin when its
 * credential is not cached (this blocks, see execcred.h) and installs an exec-provided client
 * certificate in the TLS context. 0, or -errno with one line in err. */
int kt_k8s_prepare_auth(struct kt_k8s *k, char *err, size_t errcap);
/* True when a 401 may be cured by running the exec plugin again (then invalidates it). */
bool kt_k8s_auth_refresh(struct kt_k8s *k);

/* Starts a client connection to the API server: path is the API path with its query (the
 * kubeconfig's server path prefix is added here); method is "GET"/"POST"/... for a plain HTTP
 * request or NULL for a WebSocket upgrade offering ws_protocol; local_protocol is the vhost
 * protocol that serves the wsi; user becomes its lws user data. *pwsi is set as soon as the
 * wsi exists (lws may call back into the protocol before this returns, e.g. with
 * CLIENT_CONNECTION_ERROR). Returns the wsi or NULL (then a CLIENT_CONNECTION_ERROR may or may
 * not have been delivered; err has a line either way). */
struct lws *kt_k8s_lws_connect(struct kt_k8s *k, const char *path, const char *method,
			       const char *ws_protocol, const char *local_protocol, void *user,
			       struct lws **pwsi, char *err, size_t errcap);

/* LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: appends Authorization (when the kubeconfig
 * gives a token or the exec plugin one), Accept and User-Agent. 0 or -1 with a line in err. */
int kt_k8s_lws_append_headers(struct kt_k8s *k, struct lws *wsi, char **p, size_t room, char *err,
			      size_t errcap);

/* LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: applies insecure-skip-tls-verify
 * and records the first verification failure in tls_err (for kt_k8s_conn_error). Returns the
 * lws callback result. */
int kt_k8s_lws_tls_verify(struct kt_k8s *k, void *x509_store_ctx, int preverify_ok, char *tls_err,
			  size_t tls_errcap);

/* One line for a connection that failed before any HTTP answer: lws_reason is the text lws
 * gave with CLIENT_CONNECTION_ERROR (may be NULL), conn_errno the errno seen then (0 if
 * unknown), tls_err what kt_k8s_lws_tls_verify recorded (may be ""). E.g.
 * "connect to https://127.0.0.1:6443: connection refused". */
void kt_k8s_conn_error(struct kt_k8s *k, const char *lws_reason, int conn_errno,
		       const char *tls_err, char *out, size_t outcap);

/* lws 4.1 reads a failed connect's SO_ERROR itself and reports only "Unable to connect". To
 * say why (refused, unreachable, timed out), such a failure is followed by one probe: a plain
 * non-blocking TCP connect to the same address, watched on the loop for at most 3 s, whose
 * errno then goes to kt_k8s_conn_error(). */
struct kt_k8s_probe;
/* err: the probe's errno, 0 when it connected, -1 when the host name did not resolve. */
typedef void (*kt_k8s_probe_fn)(void *arg, int err);
/* True when lws_reason and conn_errno leave the cause of a failed connect open. */
bool kt_k8s_conn_error_needs_probe(const char *lws_reason, int conn_errno);
/* Never calls fn before it returns. NULL (and fn is never called) when no probe could start. */
struct kt_k8s_probe *kt_k8s_probe_start(struct kt_k8s *k, kt_k8s_probe_fn fn, void *arg);
void kt_k8s_probe_cancel(struct kt_k8s_probe *p); /* fn is not called; NULL is a no-op */

/* pf.c makes its own TLS connections (no lws) for the data path; these give it the same
 * TLS context (CA, client certificate, verification name), Host header, SNI name and
 * credentials that lws connections use. */
#define KT_K8S_USER_AGENT "kubetun/0.1"
SSL_CTX *kt_k8s_ssl_ctx(struct kt_k8s *k);
/* Offers the latest session the server gave this client for resumption (before the
 * handshake); the server may decline, and the handshake is then a full one. */
void kt_k8s_tls_resume(struct kt_k8s *k, SSL *ssl);
const char *kt_k8s_host_header(const struct kt_k8s *k);
/* tls-server-name, else the server host unless it is an address literal (then NULL). */
const char *kt_k8s_sni(const struct kt_k8s *k);
const char *kt_k8s_path_prefix(const struct kt_k8s *k);
/* The API server's address: resolved (blocking) on first use and cached in the client until
 * kt_k8s_server_addr_forget(). 0, or -1 when the host does not resolve. */
int kt_k8s_server_addr(struct kt_k8s *k, struct sockaddr_storage *sa, socklen_t *salen);
void kt_k8s_server_addr_forget(struct kt_k8s *k);
/* *out: "Bearer <token>" (malloc'd; the caller wipes and frees it) or NULL when the client has
 * no token. 0, or -1 with a line in err (the exec plugin failed). */
int kt_k8s_bearer(struct kt_k8s *k, char **out, char *err, size_t errcap);

/* Health bookkeeping shared by REST requests and streams. */
void kt_k8s_note_ok(struct kt_k8s *k);
void kt_k8s_note_error(struct kt_k8s *k, const char *msg);

#endif
