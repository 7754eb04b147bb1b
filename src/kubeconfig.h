/* kubeconfig.h: load the user's kubeconfig and resolve the context kubetund talks through.
 *
 * Follows protocol.md section 6 (client-go's clientcmd loader.go and api/v1/types.go):
 *   - an explicit path (--kubeconfig) is loaded alone and must exist;
 *   - else KUBECONFIG, a ':'-separated list: duplicates dropped (first kept), empty entries
 *     skipped, missing files skipped, all of them missing is an error;
 *   - else $HOME/.kube/config.
 * Merging is first-wins per named cluster/user/context (no field-level merge) and first
 * non-empty current-context. Relative file references resolve against the directory of the
 * file that defined the entry. The caller passes every input (path, KUBECONFIG value, home
 * directory) explicitly, so tests and the sudo case (the invoking user's files, not root's)
 * control them; nothing here reads the environment.
 *
 * The result, struct kt_kubeconfig, is a plain value: every pointer in it is owned by it and
 * freed by kt_kubeconfig_free(), which wipes the secrets (token, key, cert, exec env values)
 * first. Error messages are one line, name the file (FILE:LINE:COL when a node is at fault)
 * and never quote a token, key or certificate. Only the selected context, its cluster and its
 * user are validated field by field; other entries only need the right shape. */
#ifndef KT_KUBECONFIG_H
#define KT_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size limits: referenced files (CA bundles, certs, keys, token files); exec args and env. */
#define KT_KUBECONFIG_MAX_REF_BYTES (4u << 20)
#define KT_KUBECONFIG_MAX_FILES 64u
#define KT_KUBECONFIG_MAX_EXEC_ARGS 256u
#define KT_KUBECONFIG_MAX_EXEC_ENV 256u
#define KT_KUBECONFIG_MAX_WARNINGS 16u

#define KT_KUBECONFIG_EXEC_V1 "client.authentication.k8s.io/v1"
#define KT_KUBECONFIG_EXEC_V1BETA1 "client.authentication.k8s.io/v1beta1"

enum kt_kubeconfig_interactive {
	KT_KUBECONFIG_INTERACTIVE_NEVER,
	KT_KUBECONFIG_INTERACTIVE_IF_AVAILABLE,
	KT_KUBECONFIG_INTERACTIVE_ALWAYS,
};

struct kt_kubeconfig_env {
	char *name;
	char *value; /* may be a secret: wiped on free */
};

/* users[].user.exec (protocol.md section 6.4). */
struct kt_kubeconfig_exec {
	char *api_version; /* KT_KUBECONFIG_EXEC_V1 or KT_KUBECONFIG_EXEC_V1BETA1 */
	char *command;	   /* absolute when written with a '/', else a bare name for PATH */
	char **args;
	size_t nargs;
	struct kt_kubeconfig_env *env;
	size_t nenv;
	enum kt_kubeconfig_interactive interactive_mode; /* v1beta1 default: IF_AVAILABLE */
	bool provide_cluster_info;
	char *install_hint; /* NULL when unset */
	/* The cluster's extensions[name=client.authentication.k8s.io/exec].extension as compact
	 * JSON, fed to the plugin as spec.cluster.config; NULL when absent. */
	char *cluster_config_json;
};

/* The cluster's server URL, split. Only https is accepted. */
struct kt_kubeconfig_server {
	char *url;	   /* as written in the kubeconfig */
	char *host;	   /* IPv6 literals without their brackets */
	bool host_is_ipv6; /* then URLs and Host headers need "[host]" */
	uint16_t port;	   /* 443 when the URL names none */
	char *path_prefix; /* "" or "/prefix" (no trailing '/'), prepended to API paths */
};

struct kt_kubeconfig {
	/* Names for status displays and messages (never secrets). */
	char *context_name;
	char *cluster_name;
	char *user_name; /* "" when the context names no user (anonymous) */
	char *namespace; /* the context's namespace, "default" when unset */
	char **files;	 /* the kubeconfig files loaded, in precedence order */
	size_t nfiles;

	struct kt_kubeconfig_server server;
	char *tls_server_name; /* NULL: verify against server.host */
	bool insecure_skip_tls_verify;
	bool disable_compression;
	uint8_t *ca_pem; /* NULL: the system trust store */
	size_t ca_pem_len;
	char *ca_file; /* absolute path the CA came from, NULL when from -data or absent */

	/* Credentials. The client sends the token (if any) as a bearer token and then never runs
	 * the exec plugin (an Authorization header already set skips it, protocol.md 6.4). */
	uint8_t *client_cert_pem; /* with client_key_pem, or both NULL */
	size_t client_cert_pem_len;
	uint8_t *client_key_pem; /* secret */
	size_t client_key_pem_len;
	char *client_cert_file; /* absolute paths when read from files, for messages */
	char *client_key_file;
	char *token;			 /* secret; NULL when none (token wins over tokenFile) */
	char *token_file;		 /* absolute path, when the token came from tokenFile */
	struct kt_kubeconfig_exec *exec; /* NULL when none */

	/* Things that were ignored but deserve a line in the log, e.g. "client-certificate-data
	 * and client-certificate are both set; client-certificate-data is used" or basic-auth
	 * fields next to a usable credential. One line each, FILE:LINE:COL: prefixed. */
	char **warnings;
	size_t nwarnings;
};

/* Inputs of kt_kubeconfig_load(). */
struct kt_kubeconfig_opts {
	const char *explicit_path; /* --kubeconfig: loaded alone, must exist; NULL or "" if unset */
	const char *env_kubeconfig; /* the KUBECONFIG value; NULL when the variable is unset */
	const char *home;    /* home directory for ~/.kube/config; needed when both are unset */
	const char *context; /* --context or the profile's context; NULL: current-context */
	unsigned flags;
};

/* Do not read referenced files (CA, cert, key, tokenFile): their resolved paths are still
 * recorded and checked, but their contents are left NULL. For fuzzing the parser. */
#define KT_KUBECONFIG_NO_FILE_IO 0x1u
/* Skip the OpenSSL check that the CA, client certificate and key are well-formed PEM and that
 * the key matches the certificate. */
#define KT_KUBECONFIG_NO_PEM_CHECK 0x2u

/* Loads and resolves per the rules at the top. NULL on failure with one line in err. */
struct kt_kubeconfig *kt_kubeconfig_load(const struct kt_kubeconfig_opts *opts, char *err,
					 size_t errcap);
/* Parses one kubeconfig held in buf[0..len) as if it had been read from fname (used in
 * messages and as the base for relative paths; NULL gives "<input>" and the working directory)
 * and resolves context (NULL: current-context). For tests and fuzzing. */
struct kt_kubeconfig *kt_kubeconfig_parse(const void *buf, size_t len, const char *fname,
					  const char *context, unsigned flags, char *err,
					  size_t errcap);
/* Wipes secrets and frees; NULL is a no-op. */
void kt_kubeconfig_free(struct kt_kubeconfig *kc);

/* Splits an https server URL (no userinfo, query or fragment; IPv6 literal in brackets; port
 * 1..65535, default 443). A URL without "scheme://" is taken as https, as client-go does.
 * Fills *out (caller frees with kt_kubeconfig_server_fini). 0, -EINVAL with a message
 * (without the FILE: prefix) in err, or -ENOMEM. */
int kt_kubeconfig_server_parse(const char *url, struct kt_kubeconfig_server *out, char *err,
			       size_t errcap);
void kt_kubeconfig_server_fini(struct kt_kubeconfig_server *s);

#endif
