/* pki.h: the fake cluster's certificate authority, credentials and kubeconfig output.
 *
 * At start the fake generates (in memory, EC P-256) its own CA, an API server certificate for
 * 127.0.0.1, ::1, localhost and --tls-san, a client certificate (CN=kubetun-dev, O=system:masters),
 * a bearer token, and a separate admin token for /fake/v1. Pod certificates for TLS ports are
 * issued on demand from the same CA and cached. Secrets are wiped when freed. */
#ifndef FC_PKI_H
#define FC_PKI_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct fc_options;
struct fc_pki;

struct fc_pki *fc_pki_new(const struct fc_options *opt, char *err, size_t errcap);
void fc_pki_free(struct fc_pki *pki);

/* TLS context of the API listener: asks for (does not require) a client certificate. */
SSL_CTX *fc_pki_api_ctx(struct fc_pki *pki);

/* Authenticates a request from its TLS peer certificate or Authorization header. Returns the
 * user name (static or pki-owned) or NULL; *admin is set for the fault-injection credential. */
const char *fc_pki_authenticate(struct fc_pki *pki, SSL *ssl, const char *authorization,
				bool *admin);

/* Server context for a pod's TLS port, certificate with the given DNS names (and the pod IP as
 * an IP SAN when ip is non-NULL). Cached by key (e.g. pod uid + port + names); pki-owned. */
SSL_CTX *fc_pki_pod_ctx(struct fc_pki *pki, const char *key, const char *const *dns_names,
			size_t n_names, const char *ip);

/* Writes the kubeconfig (--kubeconfig-out), the CA (--ca-out), the admin token next to the
 * kubeconfig (<kubeconfig>.admin-token, mode 0600) and, for --auth exec, the exec plugin script
 * (<kubeconfig>.exec-plugin). Returns 0 or -errno with a message in err. */
int fc_pki_write_outputs(struct fc_pki *pki, const struct fc_options *opt, char *err,
			 size_t errcap);

#endif
