/* profile.h: kubetun profiles, the named sets of forwards kubetund brings up (issue 3).
 *
 *   context: dev            # optional; default: the kubeconfig's current-context
 *   namespace: default      # optional; namespace of forwards that name none
 *   forwards:
 *     - target: svc/web     # kubectl's TYPE/NAME: svc/ pod/ deploy/ sts/ ds/ and their long
 *       namespace: shop     #   forms (service/, pods/, deployment.apps/, ...), any case; a
 *       ports: [80, 443]    #   bare NAME is a pod, as in kubectl. ports: optional subset,
 *                           #   default: every TCP port of the target
 *
 * Parsing is strict: an unknown key, a wrong type, an invalid name or port, a duplicate forward
 * (same kind, name and effective namespace) or a duplicate port is an error reported as
 * `FILE:LINE:COL: message`. Names follow the API server's rules: a Service name is a DNS-1035
 * label, every other target name a DNS-1123 subdomain, a namespace a DNS-1123 label.
 *
 * struct kt_profile is a plain value owned by its creator; kt_profile_free() frees it and every
 * string in it. kt_profile_to_yaml() writes a profile that kt_profile_parse() reads back to an
 * equal profile (kinds in their short form). */
#ifndef KT_PROFILE_H
#define KT_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KT_PROFILE_MAX_FORWARDS 4096u
#define KT_PROFILE_MAX_CONTEXT 1024u /* bytes in a context name */

enum kt_profile_kind {
	KT_PROFILE_POD,
	KT_PROFILE_SERVICE,
	KT_PROFILE_DEPLOYMENT,
	KT_PROFILE_STATEFULSET,
	KT_PROFILE_DAEMONSET,
};

struct kt_profile_forward {
	enum kt_profile_kind kind;
	char *name;	 /* owned */
	char *namespace; /* owned; NULL: the profile's namespace */
	uint16_t *ports; /* owned; in the order written, no duplicates */
	size_t nports;	 /* 0: every TCP port of the target */
};

struct kt_profile {
	char *context;			     /* owned; NULL: the kubeconfig's current-context */
	char *namespace;		     /* owned; NULL: the context's namespace */
	struct kt_profile_forward *forwards; /* owned */
	size_t nforwards;
};

/* An empty profile; NULL on out of memory. */
struct kt_profile *kt_profile_new(void);
/* NULL is a no-op. */
void kt_profile_free(struct kt_profile *p);

/* Parses buf[0..len) (one YAML document; an empty one is an empty profile). fname is used in
 * messages (NULL gives "<input>"). NULL on failure with one line in err. */
struct kt_profile *kt_profile_parse(const void *buf, size_t len, const char *fname, char *err,
				    size_t errcap);
/* Reads and parses a profile file (at most 16 MiB, a regular file). */
struct kt_profile *kt_profile_load(const char *path, char *err, size_t errcap);

/* Same context, namespace and forwards (in order, ports in order). */
bool kt_profile_equal(const struct kt_profile *a, const struct kt_profile *b);
/* The profile as YAML (NUL-terminated, malloc'd, the caller frees). NULL on out of memory or
 * (errno EINVAL) when p holds something kt_profile_parse would reject. */
char *kt_profile_to_yaml(const struct kt_profile *p);

/* Sets the context/namespace (a copy; NULL clears). 0, -EINVAL (invalid value) or -ENOMEM. */
int kt_profile_set_context(struct kt_profile *p, const char *context);
int kt_profile_set_namespace(struct kt_profile *p, const char *ns);
/* Appends a validated forward (ns NULL: the profile's namespace; ports copied; nports 0: every
 * port). 0, -EINVAL (bad name, namespace or port, duplicate port), -EEXIST (the same kind,
 * name and effective namespace is already there), -E2BIG (KT_PROFILE_MAX_FORWARDS reached) or
 * -ENOMEM; a message in err except for -ENOMEM. */
int kt_profile_add(struct kt_profile *p, enum kt_profile_kind kind, const char *name,
		   const char *ns, const uint16_t *ports, size_t nports, char *err, size_t errcap);
/* Index of the forward with this kind, name and effective namespace, or -1. */
long kt_profile_find(const struct kt_profile *p, enum kt_profile_kind kind, const char *name,
		     const char *ns);

/* Parses kubectl's TYPE/NAME (see the top). *name points into target. 0 or -EINVAL with a
 * message (without a position) in err. */
int kt_profile_target_parse(const char *target, enum kt_profile_kind *kind, const char **name,
			    char *err, size_t errcap);
/* "pod", "svc", "deploy", "sts", "ds". */
const char *kt_profile_kind_name(enum kt_profile_kind kind);

/* Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation). */
bool kt_profile_valid_namespace(const char *s); /* DNS-1123 label */
bool kt_profile_valid_name(enum kt_profile_kind kind, const char *s);

#endif
