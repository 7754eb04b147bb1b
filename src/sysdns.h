/* sysdns.h: system-wide DNS for the cluster domain through systemd-resolved (netstack.md
 * section 5).
 *
 * The daemon serves the cluster domain on a DNS VIP inside its TUN. When systemd-resolved runs,
 * kt_sysdns_register gives the TUN link that server and the cluster's search domains over D-Bus
 * (org.freedesktop.resolve1.Manager), so every program on the machine resolves "web",
 * "web.shop" and "web.shop.svc.cluster.local" as a pod in the profile's namespace would, while
 * every other name keeps going where it went before. kt_sysdns_revert undoes it. Nothing here
 * ever writes /etc/resolv.conf: without resolved, kt_sysdns_manual_hint says what the user can
 * do instead.
 *
 * The link's domain list (kt_sysdns_domains), for cluster domain D and namespace NS:
 *   NS.svc.D, svc.D, D    search domains, in this order (a pod's resolv.conf search list)
 * and, with no namespace, just ~D (routing-only). Why: resolved keeps each domain once per link
 * (a name given twice keeps its last routing-only flag), and a search domain also routes, so
 * "~D" beside "D" would add nothing. Routing: a name under D goes to our server only (the
 * longest matching domain of any link wins); a single-label name ("web") goes to links with
 * search domains, where resolved tries web.NS.svc.D, web.svc.D, web.D in turn; "web.shop" is
 * expanded by glibc through the search line resolved writes into stub-resolv.conf (resolved
 * itself only expands single labels). SetLinkDefaultRoute(false) (systemd >= 240) keeps every
 * other name away from our server: without it a link with search domains and no routing-only
 * domain would become a default route. LLMNR, mDNS, DNSSEC and DNS-over-TLS are turned off on
 * the link: our server is plain DNS on port 53 and answers unsigned private names.
 *
 * What resolved needs, verified against systemd 252 (tests/e2e/test_sysdns_resolved.sh): the
 * caller is root (resolved lets only root and its own uid change links without polkit; uid 1
 * with CAP_NET_ADMIN gets org.freedesktop.DBus.Error.AccessDenied), so register and revert
 * before giving up uid 0; the link is up with an IPv4 address (the TUN's /32), or resolved
 * accepts the settings but never sends to the server; the server listens on port 53. When the
 * link disappears resolved drops its settings, so a daemon that dies still leaves nothing.
 * Programs that use nss-resolve instead of the stub get "web" (resolved expands single labels)
 * but not "web.shop": resolved applies search domains to single-label names only.
 *
 * Every call talks to the system bus (DBUS_SYSTEM_BUS_ADDRESS, else
 * unix:path=/run/dbus/system_bus_socket) synchronously, each step bounded by
 * KT_SYSDNS_TIMEOUT_MS; errors come back as one line in err naming the D-Bus error. */
#ifndef KT_SYSDNS_H
#define KT_SYSDNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define KT_SYSDNS_TIMEOUT_MS 5000
/* A domain name without its trailing dot is at most 253 characters (RFC 1035 2.3.4). */
#define KT_SYSDNS_NAME_MAX 253

/* What /etc/resolv.conf says about who resolves names for glibc programs. */
enum kt_sysdns_resolv {
	KT_SYSDNS_RESOLV_MISSING,   /* absent or unreadable */
	KT_SYSDNS_RESOLV_STUB,	    /* symlink to resolved's stub-resolv.conf (or its static
				       /usr/lib/systemd/resolv.conf): nameserver 127.0.0.53 */
	KT_SYSDNS_RESOLV_STUB_LINE, /* some other file whose first nameserver is 127.0.0.53 */
	KT_SYSDNS_RESOLV_UPLINK,    /* symlink to /run/systemd/resolve/resolv.conf: glibc asks the
				       uplink servers directly and bypasses resolved's routing */
	KT_SYSDNS_RESOLV_OTHER,	    /* anything else */
};

struct kt_sysdns_state {
	bool bus;	  /* the system bus answered */
	bool resolved;	  /* org.freedesktop.resolve1 is on it (ListNames) */
	bool nss_resolve; /* /etc/nsswitch.conf's hosts line uses nss-resolve */
	enum kt_sysdns_resolv resolv_conf;
	char desc[256]; /* one line for `kubetun status` */
};

/* Looks at the system bus, /etc/resolv.conf and /etc/nsswitch.conf. Never fails: what cannot be
 * found is reported as absent, and desc says why. */
void kt_sysdns_detect(struct kt_sysdns_state *st);
/* The same with explicit places (tests); a NULL bus_address means the system bus. */
void kt_sysdns_detect_at(const char *bus_address, const char *resolv_conf, const char *nsswitch,
			 struct kt_sysdns_state *st);
/* How the file at path (normally /etc/resolv.conf) relates to resolved. */
enum kt_sysdns_resolv kt_sysdns_resolv_conf_mode(const char *path);
/* Whether the nsswitch.conf at path has "resolve" on its hosts line. */
bool kt_sysdns_nss_resolve(const char *path);
const char *kt_sysdns_resolv_name(enum kt_sysdns_resolv m);

struct kt_sysdns_domain {
	char name[KT_SYSDNS_NAME_MAX + 1];
	bool route_only;
};

/* The link's domain list (see the top of this file). cluster_domain may end in one dot; ns may
 * be NULL or "" for none. Returns the number of entries (at most 3) or -EINVAL for a domain that
 * is not a valid DNS name or a namespace that is not a DNS-1123 label. */
int kt_sysdns_domains(const char *cluster_domain, const char *ns,
		      struct kt_sysdns_domain out[static 3]);

/* Method bodies, exposed so the tests can compare them byte for byte. 0 or -ENOBUFS.
 * SetLinkDNS(i ifindex, a(iay) [(AF_INET, 4 address bytes)]). */
int kt_sysdns_body_set_dns(struct kt_wr *w, int ifindex, struct in_addr dns);
/* SetLinkDomains(i ifindex, a(sb) [(name, routing-only)...]). */
int kt_sysdns_body_set_domains(struct kt_wr *w, int ifindex, const struct kt_sysdns_domain *d,
			       size_t n);

/* Registers dns (port 53) and the domains on link ifindex with systemd-resolved, turns its
 * default route, LLMNR, mDNS, DNSSEC and DNS-over-TLS off (each skipped when this resolved
 * lacks the method), and flushes resolved's caches. On failure after SetLinkDNS it reverts the
 * link. 0, or -errno with one line in err: -EINVAL (bad arguments), -ENOTCONN (no system bus),
 * -EREMOTEIO (resolved or the bus answered with an error, whose D-Bus name is in the line; for
 * example org.freedesktop.DBus.Error.ServiceUnknown when resolved is not running), or a
 * transport error (-ETIMEDOUT, ...). */
int kt_sysdns_register(int ifindex, struct in_addr dns, const char *cluster_domain,
		       const char *search_namespace, char *err, size_t errlen);
/* RevertLink(ifindex) and a cache flush. A link resolved no longer knows (the TUN is already
 * gone, which drops its settings) counts as reverted. */
int kt_sysdns_revert(int ifindex, char *err, size_t errlen);

/* The one line telling the user how to send the cluster domain to dns without resolved. */
void kt_sysdns_manual_hint(char *buf, size_t len, struct in_addr dns, const char *cluster_domain);

#endif
