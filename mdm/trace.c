/* W3C Trace Context; see mdm/trace.h. */
#include "mdm/trace.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local const mdm_trace *current;

static bool lower_hex(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        nonzero |= c != '0';
    }
    return nonzero;
}

bool mdm_trace_parse(const char *h, mdm_trace *out)
{
    if (!h)
        return false;
    size_t n = strlen(h);
    if (n < MDM_TRACEPARENT_LEN || h[2] != '-' || h[35] != '-' || h[52] != '-')
        return false;
    /* the version: two hex digits, ff forbidden; 00 has exactly four fields */
    if (!((h[0] >= '0' && h[0] <= '9') || (h[0] >= 'a' && h[0] <= 'f')) ||
        !((h[1] >= '0' && h[1] <= '9') || (h[1] >= 'a' && h[1] <= 'f')) ||
        (h[0] == 'f' && h[1] == 'f'))
        return false;
    bool v00 = h[0] == '0' && h[1] == '0';
    if (v00 ? n != MDM_TRACEPARENT_LEN : (n > MDM_TRACEPARENT_LEN && h[55] != '-'))
        return false;
    if (!lower_hex(h + 3, 32) || !lower_hex(h + 36, 16))
        return false;
    /* flags may be 00 (lower_hex wants a non-zero digit, so check them by hand) */
    for (int i = 53; i < 55; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    memcpy(out->trace_id, h + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, h + 36, 16);
    out->span_id[16] = '\0';
    memcpy(out->flags, h + 53, 2);
    out->flags[2] = '\0';
    return true;
}

/* n random bytes as 2n lowercase hex digits, never all zero. */
static void random_hex(char *out, size_t n)
{
    unsigned char raw[16];
    bool nonzero;
    do {
        if (RAND_bytes(raw, (int)n) != 1) /* no entropy: still an id, unique enough */
            for (size_t i = 0; i < n; i++)
                raw[i] = (unsigned char)(rand() | 1);
        nonzero = false;
        for (size_t i = 0; i < n; i++)
            nonzero |= raw[i] != 0;
    } while (!nonzero);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

void mdm_trace_start(mdm_trace *out)
{
    random_hex(out->trace_id, 16);
    random_hex(out->span_id, 8);
    memcpy(out->flags, "00", 3);
}

void mdm_trace_child(const mdm_trace *parent, mdm_trace *out)
{
    memcpy(out->trace_id, parent->trace_id, sizeof out->trace_id);
    memcpy(out->flags, parent->flags, sizeof out->flags);
    random_hex(out->span_id, 8);
}

void mdm_trace_format(const mdm_trace *t, char out[MDM_TRACEPARENT_LEN + 1])
{
    snprintf(out, MDM_TRACEPARENT_LEN + 1, "00-%s-%s-%s", t->trace_id, t->span_id, t->flags);
}

void mdm_trace_set_current(const mdm_trace *t)
{
    current = t;
}

const mdm_trace *mdm_trace_current(void)
{
    return current;
}
