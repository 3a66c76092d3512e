/* Outgoing HTTP requests to addresses an administrator configured (subscription URLs):
 * the guard against server-side request forgery (SSRF).
 *
 * A subscription URL must be http:// or https://, without user:password@ (credentials
 * belong in the secret, and a URL is shown to every admin) and without control
 * characters or spaces. Before each delivery the host is resolved once, and the first
 * address that the policy admits is pinned (CURLOPT_RESOLVE) so the connection goes to
 * the address that was checked, not to a second DNS answer; every socket libcurl opens
 * is checked again (CURLOPT_OPENSOCKETFUNCTION), which also covers a proxy.
 *
 * Refused by default: loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16,
 * fc00::/7), link-local (169.254/16, fe80::/10, which holds the cloud metadata service
 * 169.254.169.254), carrier-grade NAT (100.64/10), "this network" (0/8, ::), multicast
 * and reserved ranges (224/4 and above, ff00::/8), and the IPv4-mapped forms of all of
 * these. An address inside one of the networks of publish.allowed_networks (CIDR
 * strings such as "10.20.0.0/16" or "127.0.0.1/32") is admitted whatever its class.
 *
 * An mdm_egress is plain data: copy it, share it read-only between threads. */
#ifndef MDM_MDM_EGRESS_H
#define MDM_MDM_EGRESS_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define MDM_EGRESS_MAX_NETS 32

typedef struct mdm_egress_net {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network address (4 bytes used for AF_INET) */
    int prefix;             /* prefix length in bits */
} mdm_egress_net;

typedef struct mdm_egress {
    mdm_egress_net nets[MDM_EGRESS_MAX_NETS]; /* publish.allowed_networks */
    int n;
} mdm_egress;

/* Parses one network "ADDRESS/PREFIX" (IPv4 or IPv6) into n; false when s is not one. */
bool mdm_egress_parse_net(const char *s, mdm_egress_net *n);

/* Parses allowed (NULL = none: the default policy; else an array of CIDR strings, at
 * most MDM_EGRESS_MAX_NETS). MDM_EINVAL naming ptr/INDEX on a bad entry. */
mdm_status mdm_egress_load(const json_t *allowed, const char *ptr, mdm_egress *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* True when url is an http:// or https:// URL with a host, no userinfo, no control
 * characters or spaces and at most 2048 bytes; otherwise false with the reason in why. */
bool mdm_egress_url_ok(const char *url, char *why, size_t cap);

/* The class of a refused address ("loopback", "private", "link-local", ...) or NULL when
 * the default policy admits it, ignoring the allowlist. */
const char *mdm_egress_class(const struct sockaddr *sa);

/* True when the policy admits sa: a public address, or one inside an allowed network.
 * Otherwise false with the reason in why ("127.0.0.1 is loopback"). */
bool mdm_egress_allowed(const mdm_egress *e, const struct sockaddr *sa, char *why, size_t cap);

/* Resolves url's host and picks the first address the policy admits. resolve (cap
 * bytes) receives the CURLOPT_RESOLVE entry "HOST:PORT:ADDRESS" that pins it ("" when
 * the host is an IP literal, which needs no pinning). False with the reason in why when
 * the URL is refused, the host does not resolve or no address is admitted. */
bool mdm_egress_pin(const mdm_egress *e, const char *url, char *resolve, size_t cap, char *why,
                    size_t whycap);

#endif
