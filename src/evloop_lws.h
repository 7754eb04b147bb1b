/* evloop_lws.h: the private bridge from the event loop (evloop.c) to the Kubernetes client
 * (k8s.c, pf.c), the only other files that may see libwebsockets types.
 *
 * The loop owns one lws_context (poll-based, single service thread). Each cluster gets its own
 * client-only vhost on that context, created here so that every vhost is made the same way:
 * no listener, the caller's own OpenSSL client context (kept alive by the caller until the
 * vhost is gone), no proxy picked up from the environment.
 *
 * Dispatch rule: libwebsockets delivers LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION
 * to protocol 0 of the context's first vhost, which is the loop's own vhost. The loop forwards
 * that reason to the callback of the protocol the connection is bound to, with the arguments
 * unchanged (user = X509_STORE_CTX *, in = SSL *, len = preverify_ok). */
#ifndef KT_EVLOOP_LWS_H
#define KT_EVLOOP_LWS_H

#include <libwebsockets.h>

#include "evloop.h"

struct lws_context *kt_evloop_lws_context(struct kt_evloop *l);

/* A client-only vhost named name (lws keeps the pointer: it must outlive the vhost) with the
 * given NULL-terminated protocols (must outlive the vhost; static tables are expected),
 * ssl_ctx as the TLS client context (borrowed, must outlive the vhost) and user as
 * lws_vhost_user(). NULL with a message in err on failure. */
struct lws_vhost *kt_evloop_lws_vhost_new(struct kt_evloop *l, const char *name,
					  const struct lws_protocols *protocols, SSL_CTX *ssl_ctx,
					  void *user, char *err, size_t errcap);
/* Destroys a vhost made above. Every connection on it must already be closed (the caller
 * closes them synchronously first), so the vhost goes away at once rather than on lws's
 * deferred 30-second sweep. NULL is a no-op. */
void kt_evloop_lws_vhost_free(struct lws_vhost *vh);

#endif
