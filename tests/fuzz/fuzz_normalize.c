/* libFuzzer target for every normalizer and the UTF-8 path.
 *
 * The first byte selects the normalizer; the rest is its input (NUL bytes end it, as a C
 * string would). For addresses, '|' separates line1|line2|city|region|postal|country.
 * Invariants checked besides "no crash, no leak, no UB": invalid UTF-8 is always
 * MDM_EINVAL; keys are ASCII [a-z0-9 ] with single inner spaces; normalizing a key again
 * gives the key; dates that parse are real calendar dates. */
#include "matching/normalize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mdm_norm *norm;

static void check_key(const char *k)
{
    size_t l = strlen(k);
    if (l && (k[0] == ' ' || k[l - 1] == ' '))
        abort();
    for (size_t i = 0; i < l; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' '))
            abort();
        if (c == ' ' && k[i + 1] == ' ')
            abort();
    }
}

static char *field(char **p)
{
    char *s = *p;
    if (!s)
        return NULL;
    char *bar = strchr(s, '|');
    if (bar) {
        *bar = '\0';
        *p = bar + 1;
    } else {
        *p = NULL;
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    if (!norm) {
        norm = mdm_norm_new(NULL);
        if (!norm)
            abort();
    }
    char *in = mdm_xstrndup((const char *)data + 1, size - 1);
    size_t len = strlen(in);
    bool valid = mdm_norm_utf8_valid(in, len);
    mdm_arena *a = mdm_arena_new(4096);
    mdm_buf d = {0}, k = {0}, k2 = {0};
    mdm_status st;
    switch (data[0] % 9) {
    case 0:
        st = mdm_norm_text(norm, in, &d, &k, NULL);
        if ((st == MDM_EINVAL) != !valid)
            abort();
        if (st == MDM_OK) {
            check_key(k.data);
            if (mdm_norm_text(norm, k.data, NULL, &k2, NULL) != MDM_OK || strcmp(k.data, k2.data))
                abort();
        }
        break;
    case 1: {
        mdm_name_parts p;
        st = mdm_norm_name(norm, in, a, &p, NULL);
        if ((st == MDM_EINVAL) != !valid)
            abort();
        if (st == MDM_OK) {
            check_key(p.prefix);
            check_key(p.first);
            check_key(p.middle);
            check_key(p.last);
            check_key(p.suffix);
            (void)mdm_norm_nickname_canon(norm, p.first);
            (void)mdm_norm_nickname_equiv(norm, p.first, p.last);
        }
        break;
    }
    case 2: {
        mdm_email_norm e;
        st = mdm_norm_email(norm, in, a, &e, NULL);
        if ((st == MDM_EINVAL) != !valid)
            abort();
        break;
    }
    case 3: {
        mdm_phone_norm p;
        st = mdm_norm_phone(norm, in, len % 2 ? "DE" : "US", &p, NULL);
        if ((st == MDM_EINVAL) != !valid)
            abort();
        if (st == MDM_OK && p.valid && p.e164[0] != '+')
            abort();
        break;
    }
    case 4: {
        char *p = in;
        char *f[6];
        for (int i = 0; i < 6; i++)
            f[i] = field(&p);
        mdm_address_norm o;
        st = mdm_norm_address(norm, f[0], f[1], f[2], f[3], f[4], f[5], "US", a, &o, NULL);
        if (st == MDM_OK) {
            check_key(o.street);
            check_key(o.city);
            check_key(o.region);
        }
        break;
    }
    case 5:
        (void)mdm_norm_postal_code(in, len % 3 == 0 ? "GB" : len % 3 == 1 ? "CA" : "US", &d, NULL);
        break;
    case 6:
        if (mdm_norm_country(in) && !valid)
            abort();
        break;
    case 7: {
        mdm_date dt;
        st = mdm_norm_date(in, 2026, &dt, NULL);
        if (st == MDM_OK && (dt.m < 1 || dt.m > 12 || dt.d < 1 || dt.d > 31 || dt.y < 1000))
            abort();
        break;
    }
    default:
        (void)mdm_norm_nickname_equiv(norm, in, in + len / 2);
        (void)mdm_norm_nickname_canon(norm, in);
        break;
    }
    mdm_buf_free(&d);
    mdm_buf_free(&k);
    mdm_buf_free(&k2);
    mdm_arena_free(a);
    free(in);
    return 0;
}
