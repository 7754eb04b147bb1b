/* daemon_ctl.h: kubetund's side of the control socket (docs/CONTROL.md): the commands status,
 * forward.add, forward.rm, forward.ls and shutdown over control.h's server.
 *
 * The daemon owns everything the commands look at and fills a struct kt_dctl_view as set-up
 * goes on (the socket is up before the API check, so early requests see nulls where the tunnel
 * or the cluster are not known yet). Edits never touch the daemon's state directly: forward.add
 * and forward.rm compute the next active set (a new profile) from the current one and hand it
 * to the daemon's apply callback, which swaps it in (targets, one mapping rebuild that
 * publishes DNS and forwarding together, closing the connections of removed mappings,
 * persisting the set); a failed apply leaves the old set in place.
 *
 * The edit rules are pure functions (kt_dctl_edit_add/rm) so they can be tested without a
 * daemon. Effective namespace of a forward: its own, else the set's, else the context's
 * (default_ns); two forwards are the same when kind, name and effective namespace are. */
#ifndef KT_DAEMON_CTL_H
#define KT_DAEMON_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

struct kt_dnssrv;
struct kt_evloop;
struct kt_k8s;
struct kt_kubeconfig;
struct kt_mapping;
struct kt_profile;
struct kt_snapshot;
struct kt_targets;
struct kt_dctl;

#define KT_DCTL_VERSION "0.1.0"

/* What status reports. Pointers are borrowed and may be NULL (not known yet); the daemon keeps
 * this struct current. */
struct kt_dctl_view {
	time_t started_at;
	/* tunnel */
	const char *tun_name;
	uint32_t mtu;
	time_t tun_up_since; /* 0: not up */
	uint32_t subnet;     /* host byte order */
	uint8_t prefix;
	/* DNS */
	uint32_t dns_ip;
	const char *cluster_domain;
	const char *sysdns_mode;   /* "resolved" or "manual"; NULL: not decided yet */
	const char *sysdns_detail; /* one line */
	struct kt_dnssrv *dns;
	/* cluster */
	const struct kt_kubeconfig *kc;
	struct kt_k8s *k8s;
	/* forwards */
	struct kt_mapping *mapping;
	struct kt_targets *targets;
	const struct kt_profile *profile; /* the active set */
	const char *default_ns;		  /* the context's namespace */
};

struct kt_dctl_config {
	const struct kt_dctl_view *view;
	/* Makes next the active set (ownership passes, also on failure). 0, or -errno with one
	 * line in err; the old set then stays. NULL: edits are refused ("starting"). */
	int (*apply)(void *arg, struct kt_profile *next, char *err, size_t errcap);
	/* Stops the daemon after this reply. */
	void (*shutdown)(void *arg);
	void *arg;
};

/* Binds the socket (control.h: permissions, stale sockets, another daemon). NULL with one line
 * in err. A NULL loop binds nothing (tests call the functions below directly). */
struct kt_dctl *kt_dctl_new(struct kt_evloop *loop, const char *path,
			    const struct kt_dctl_config *cfg, char *err, size_t errcap);
/* Flushes pending replies best-effort, closes every client, removes the socket. NULL: no-op. */
void kt_dctl_free(struct kt_dctl *c);

/* Call after every mapping rebuild: records when each forward's error appeared, for
 * forwards[].error_at. */
void kt_dctl_note_rebuild(struct kt_dctl *c);

/* ---- pure parts, for tests ---- */

/* The status result object for view (as the status command answers). NULL on out of memory. */
cJSON *kt_dctl_status(struct kt_dctl *c);

/* forward.ls's result for p. NULL on out of memory. */
cJSON *kt_dctl_forward_ls(const struct kt_profile *p);

/* forward.add's edit: req has "target", optional "namespace" and "ports" (docs/CONTROL.md).
 * Returns 1 with *next (a new profile, the caller owns it) and a message, 0 when the forward is
 * already there (message says so, *next NULL), or -EINVAL/-ENOMEM with the error in msg. */
int kt_dctl_edit_add(const struct kt_profile *cur, const char *default_ns, const cJSON *req,
		     struct kt_profile **next, char *msg, size_t msgcap);

/* forward.rm's edit: req has "name" (HOSTNAME:PORT, HOSTNAME or a TYPE/NAME target) and an
 * optional "namespace" (targets only). Hostnames are looked up in snap (a short name is tried
 * with ".svc.DOMAIN" and ".DOMAIN" appended); HOSTNAME:PORT drops that port from its forward
 * (a forward of every port becomes the list of its other mapped ports), HOSTNAME drops all of
 * that name's ports, a forward left without ports is removed. Returns 1 with *next and a
 * message, or -ENOENT ("no forward matches NAME"), -EINVAL or -ENOMEM with the error in msg. */
int kt_dctl_edit_rm(const struct kt_profile *cur, const char *default_ns,
		    const struct kt_snapshot *snap, const char *domain, const cJSON *req,
		    struct kt_profile **next, char *msg, size_t msgcap);

#endif
