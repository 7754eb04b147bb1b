/* execcred.h: client-go exec credential plugins (protocol.md section 6.4).
 *
 * kt_execcred_get() runs the kubeconfig's exec plugin and returns the ExecCredential's token or
 * client certificate/key, cached until its expirationTimestamp passes (or forever when it has
 * none); kt_execcred_invalidate() drops the cache so the next get re-runs the plugin, which is
 * what the client does on a 401 answer.
 *
 * The plugin runs with argv = command + args, the environment of this process plus exec.env
 * plus KUBERNETES_EXEC_INFO (spec.cluster only with provideClusterInfo), stdin /dev/null (we
 * are never interactive), stdout captured (at most max_output bytes), stderr inherited, in its
 * own process group. Optionally it runs as another user (the sudo case): the child drops to
 * that user's groups, gid and uid before exec, and gets that user's HOME.
 *
 * Blocking: kt_execcred_get() is synchronous. It returns at the latest timeout_ms (default
 * KT_EXECCRED_DEFAULT_TIMEOUT_MS) after it started the plugin, having killed the plugin's whole
 * process group with SIGKILL when it ran over; a cached credential returns at once. The caller
 * must not set SIGCHLD to SIG_IGN (the exit status would be lost) and should call this from one
 * thread at a time.
 *
 * Secrets (the credential, the plugin's output, exec.env values) are wiped before they are
 * freed and never appear in error messages, which are one line each. */
#ifndef KT_EXECCRED_H
#define KT_EXECCRED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct kt_kubeconfig;

#define KT_EXECCRED_DEFAULT_TIMEOUT_MS 30000u
#define KT_EXECCRED_DEFAULT_MAX_OUTPUT (1u << 20)

struct kt_execcred_opts {
	unsigned timeout_ms; /* 0: KT_EXECCRED_DEFAULT_TIMEOUT_MS */
	size_t max_output;   /* stdout bytes; 0: KT_EXECCRED_DEFAULT_MAX_OUTPUT */
	/* Run the plugin as uid/gid (when run_as is set). user (may be NULL) gives the
	 * supplementary groups (getgrouplist) and USER/LOGNAME; home (may be NULL) gives HOME. */
	bool run_as;
	uid_t uid;
	gid_t gid;
	const char *user;
	const char *home;
	/* PATH used to find a bare command and passed to the plugin; NULL: this process's. */
	const char *path;
};

/* A credential from the plugin (strings NUL-terminated, owned by the struct). */
struct kt_execcred_cred {
	char *token;	       /* NULL when the plugin gave a certificate */
	char *client_cert_pem; /* PEM text, with client_key_pem, or both NULL */
	char *client_key_pem;
	bool has_expiry;
	time_t expiry; /* when has_expiry: UTC seconds */
};

struct kt_execcred;

/* Copies what it needs from kc (kc->exec must be set). NULL on out of memory or without exec
 * config. opts may be NULL (defaults, run as ourselves). */
struct kt_execcred *kt_execcred_new(const struct kt_kubeconfig *kc,
				    const struct kt_execcred_opts *opts);
void kt_execcred_free(struct kt_execcred *ec);

/* The cached credential, or a fresh one from running the plugin. *out stays valid until the
 * next get/invalidate/free. 0, or -errno with one line in err. */
int kt_execcred_get(struct kt_execcred *ec, const struct kt_execcred_cred **out, char *err,
		    size_t errcap);
/* Forget the cached credential (after a 401): the next get runs the plugin again. */
void kt_execcred_invalidate(struct kt_execcred *ec);
/* How many times the plugin has been started. */
unsigned long kt_execcred_runs(const struct kt_execcred *ec);

/* The KUBERNETES_EXEC_INFO value for kc (malloc'd JSON), NULL on out of memory. */
char *kt_execcred_exec_info(const struct kt_kubeconfig *kc);
/* Parses the plugin's stdout, which must be an ExecCredential of api_version. Fills *out
 * (release with kt_execcred_cred_fini). 0 or -EINVAL/-ENOMEM with one line in err (the
 * protocol.md 6.4 texts where client-go has one). */
int kt_execcred_parse(const char *api_version, const void *buf, size_t len,
		      struct kt_execcred_cred *out, char *err, size_t errcap);
void kt_execcred_cred_fini(struct kt_execcred_cred *c);
/* RFC 3339 date-time ("2006-01-02T15:04:05Z", optional fraction, Z or +hh:mm) to UTC
 * seconds (the fraction is dropped). 0 or -EINVAL. */
int kt_execcred_parse_time(const char *s, time_t *out);

#endif
