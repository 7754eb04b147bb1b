/* privs.h: kubetund's privilege drop, with raw capset/prctl (no libcap).
 *
 * After set-up (TUN open, routes set, control socket bound, system DNS registered) the daemon
 * keeps only what it still needs: CAP_NET_ADMIN (the TUN's routes and link go away at exit, and
 * systemd-resolved accepts the RevertLink of a caller with that capability), plus
 * CAP_SETUID/CAP_SETGID when exec credential plugins must run as another user (each plugin run
 * switches its child to that user). It stays uid 0: the kubeconfig, the state directory and
 * systemd-resolved's uid check for root stay usable, while every other root power is gone.
 *
 * kt_privs_drop, in this order (the order matters: dropping from the bounding set needs
 * CAP_SETPCAP, which goes last):
 *   1. securebits NOROOT (+ its lock): an exec'd program running as uid 0 (an exec credential
 *      plugin without --exec-as-uid) gets no capabilities from being root;
 *   2. every capability but the kept ones is dropped from the bounding set (PR_CAPBSET_DROP);
 *   3. the ambient set is cleared (PR_CAP_AMBIENT_CLEAR_ALL);
 *   4. capset: permitted = effective = kept, inheritable = none;
 *   5. PR_SET_NO_NEW_PRIVS: no exec'd program can gain privileges (set-uid files, file caps).
 * Afterwards /proc/self/status reads CapEff = CapPrm = CapBnd = the kept mask, CapInh = CapAmb
 * = 0 and NoNewPrivs: 1. Steps 1 and 2 need CAP_SETPCAP; a process without it (kubetund as
 * a user with CAP_NET_ADMIN alone, as kubetund@USER.service runs it) skips them and keeps the
 * bounding set its service manager gave it. A process lacking a capability it should keep gets
 * -EPERM ("missing capabilities: ...") before anything changes; a later step's failure leaves
 * the earlier steps done (the caller treats any failure as fatal). */
#ifndef KT_PRIVS_H
#define KT_PRIVS_H

#include <stddef.h>
#include <stdint.h>

/* Bit n stands for capability n (linux/capability.h numbering). */
#define KT_PRIVS_CAP(n) ((uint64_t)1 << (n))

/* Drops every capability not in keep (see the top). 0, or -errno with one line in err. */
int kt_privs_drop(uint64_t keep, char *err, size_t errcap);

/* The calling thread's effective capability set (capget). 0 or -errno. */
int kt_privs_effective(uint64_t *out);

/* "cap_net_admin,cap_setuid" for a mask (names of the kernel's numbering up to 40, "cap_N"
 * beyond), "none" for 0. */
void kt_privs_describe(uint64_t caps, char *buf, size_t cap);

#endif
