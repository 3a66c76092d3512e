/* The SSRF guard of outgoing requests; see mdm/egress.h. */
#include "mdm/egress.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 2048

bool mdm_egress_parse_net(const char *s, mdm_egress_net *n)
{
    char buf[64];
    if (strlen(s) >= sizeof buf)
        return false;
    memcpy(buf, s, strlen(s) + 1);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    int max;
    if (inet_pton(AF_INET, buf, n->addr) == 1) {
        n->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
        n->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    n->prefix = max;
    if (slash) {
        char *end = NULL;
        long v = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || v < 0 || v > max)
            return false;
        n->prefix = (int)v;
    }
    return true;
}

mdm_status mdm_egress_load(const json_t *allowed, const char *ptr, mdm_egress *out, mdm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!allowed)
        return MDM_OK;
    if (!json_is_array(allowed) || json_array_size(allowed) > MDM_EGRESS_MAX_NETS)
        return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                 "%s must be an array of at most %d CIDR networks such as "
                                 "\"10.20.0.0/16\"",
                                 ptr, MDM_EGRESS_MAX_NETS);
    size_t i;
    const json_t *v;
    json_array_foreach(allowed, i, v)
    {
        if (!json_is_string(v) || !mdm_egress_parse_net(json_string_value(v), &out->nets[out->n])) {
            char p[160];
            snprintf(p, sizeof p, "%s/%zu", ptr, i);
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: expected a network such as \"10.20.0.0/16\" or "
                                     "\"127.0.0.1/32\"",
                                     p);
        }
        out->n++;
    }
    return MDM_OK;
}

/* The authority of url (after "scheme://", up to the path, query or fragment). */
static void authority(const char *url, const char **start, size_t *len)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    *start = p;
    *len = strcspn(p, "/?#");
}

bool mdm_egress_url_ok(const char *url, char *why, size_t cap)
{
    size_t n = strlen(url);
    if (n > URL_MAX) {
        snprintf(why, cap, "url is longer than %d bytes", URL_MAX);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f) {
            snprintf(why, cap, "url must not hold spaces or control characters (CR, LF, ...)");
            return false;
        }
    }
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (!skip) {
        snprintf(why, cap, "url must be an http:// or https:// URL");
        return false;
    }
    const char *a;
    size_t alen;
    authority(url, &a, &alen);
    if (memchr(a, '@', alen)) {
        snprintf(why, cap,
                 "url must not hold user:password@ (put credentials in the subscription's "
                 "secret)");
        return false;
    }
    if (alen == 0 || a[0] == ':') {
        snprintf(why, cap, "url has no host");
        return false;
    }
    return true;
}

static const char *class4(uint32_t a)
{
    if ((a >> 24) == 127)
        return "loopback";
    if ((a >> 24) == 0)
        return "unspecified";
    if ((a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8)
        return "private";
    if (a == 0xA9FEA9FE)
        return "the metadata service";
    if ((a >> 16) == 0xA9FE)
        return "link-local";
    if ((a >> 22) == (100u << 2 | 1)) /* 100.64.0.0/10 */
        return "shared (carrier-grade NAT)";
    if ((a >> 8) == 0xC00000 || (a >> 8) == 0xC00002 || (a >> 8) == 0xC63364 ||
        (a >> 8) == 0xCB0071 || (a >> 17) == (0xC612 >> 1))
        return "reserved";
    if ((a >> 28) >= 0xE)
        return "multicast or reserved";
    return NULL;
}

static const char *class6(const unsigned char *b)
{
    static const unsigned char zero[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(b, zero, 15) == 0)
        return b[15] == 1 ? "loopback" : b[15] == 0 ? "unspecified" : "reserved";
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0) {
        uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return class4(a);
    }
    if (b[0] == 0x20 && b[1] == 0x02) { /* 6to4: the IPv4 address follows */
        uint32_t a = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5];
        return class4(a);
    }
    if ((b[0] & 0xfe) == 0xfc)
        return "private";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link-local";
    if (b[0] == 0xff)
        return "multicast";
    return NULL;
}

const char *mdm_egress_class(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return class4(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return class6(in6->sin6_addr.s6_addr);
    }
    return "not an IP address";
}

static bool in_net(const mdm_egress_net *n, int family, const unsigned char *addr)
{
    if (n->family != family)
        return false;
    int full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, addr, (size_t)full) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (n->addr[full] & mask) == (addr[full] & mask);
}

static void addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *a = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

bool mdm_egress_allowed(const mdm_egress *e, const struct sockaddr *sa, char *why, size_t cap)
{
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        snprintf(why, cap, "not an IP address");
        return false;
    }
    const char *cls = mdm_egress_class(sa);
    if (!cls)
        return true;
    const unsigned char *bytes =
        sa->sa_family == AF_INET
            ? (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
            : ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    for (int i = 0; e && i < e->n; i++)
        if (in_net(&e->nets[i], sa->sa_family, bytes))
            return true;
    char text[INET6_ADDRSTRLEN];
    addr_text(sa, text, sizeof text);
    snprintf(why, cap, "%s is %s (not in publish.allowed_networks)", text, cls);
    return false;
}

bool mdm_egress_pin(const mdm_egress *e, const char *url, char *resolve, size_t cap, char *why,
                    size_t whycap)
{
    resolve[0] = '\0';
    if (!mdm_egress_url_ok(url, why, whycap))
        return false;
    const char *a;
    size_t alen;
    authority(url, &a, &alen);
    char host[256], port[8];
    const char *hs = a, *he;
    const char *pp = NULL;
    if (a[0] == '[') { /* IPv6 literal */
        const char *close = memchr(a, ']', alen);
        if (!close) {
            snprintf(why, whycap, "url has a malformed host");
            return false;
        }
        hs = a + 1;
        he = close;
        if (close + 1 < a + alen && close[1] == ':')
            pp = close + 2;
    } else {
        const char *colon = memchr(a, ':', alen);
        he = colon ? colon : a + alen;
        pp = colon ? colon + 1 : NULL;
    }
    size_t hlen = (size_t)(he - hs);
    size_t plen = pp ? (size_t)(a + alen - pp) : 0;
    if (hlen == 0 || hlen >= sizeof host || plen >= sizeof port) {
        snprintf(why, whycap, "url has a malformed host");
        return false;
    }
    memcpy(host, hs, hlen);
    host[hlen] = '\0';
    if (plen) {
        memcpy(port, pp, plen);
        port[plen] = '\0';
    } else {
        snprintf(port, sizeof port, "%s", url[4] == 's' ? "443" : "80");
    }
    if (strspn(port, "0123456789") != strlen(port) || atoi(port) < 1 || atoi(port) > 65535) {
        snprintf(why, whycap, "url has a malformed port");
        return false;
    }
    unsigned char tmp[16];
    bool literal = inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = literal ? AI_NUMERICHOST : 0;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, whycap, "cannot resolve %s: %s", host, gai_strerror(rc));
        return false;
    }
    bool ok = false;
    char first_why[160] = "";
    for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
        char w[160];
        if (!mdm_egress_allowed(e, ai->ai_addr, w, sizeof w)) {
            if (!first_why[0])
                snprintf(first_why, sizeof first_why, "%s", w);
            continue;
        }
        ok = true;
        if (literal)
            break;
        char text[INET6_ADDRSTRLEN];
        addr_text(ai->ai_addr, text, sizeof text);
        if (ai->ai_family == AF_INET6)
            snprintf(resolve, cap, "%s:%s:[%s]", host, port, text);
        else
            snprintf(resolve, cap, "%s:%s:%s", host, port, text);
    }
    freeaddrinfo(res);
    if (!ok)
        snprintf(why, whycap, "refused: %s resolves to %s", host, first_why);
    return ok;
}
