/* Phone numbers: libphonenumber (behind matching/phone.h) with a per-handle cache. Its
 * own file so that the normalizer's core (normalize.c) does not call the country table of
 * normalize_address.c, which builds its name index with a normalizer. */
#include "matching/normalize_int.h"

#include "matching/phone.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

mdm_status mdm_norm_phone(mdm_norm *n, const char *in, const char *default_country,
                          mdm_phone_norm *out, mdm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!in)
        in = "";
    size_t len = strlen(in);
    if (!mdm_norm_utf8_valid(in, len))
        return mdm_err_set(err, MDM_EINVAL, "phone is not valid UTF-8");
    /* libphonenumber's parse time grows with the square of the length: longer input is
     * no phone number and never reaches it (a stored value is parsed again for each
     * comparison, so the bound holds here, not only at the service's entry) */
    if (len > MDM_NORM_PHONE_MAX)
        return MDM_OK;
    const char *region = "US";
    if (default_country && *default_country) {
        region = mdm_norm_country(default_country);
        if (!region)
            return mdm_err_set(err, MDM_EINVAL, "unknown default country \"%.40s\"",
                               default_country);
    }
    char ck[48];
    mdm_norm_phone_slot *slot = NULL;
    if (len + 4 <= sizeof ck) {
        snprintf(ck, sizeof ck, "%s|%s", region, in);
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (const char *p = ck; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        slot = &mdm_norm_phone_cache_internal(n)[h % MDM_NORM_PHONE_CACHE_SLOTS];
        if (strcmp(slot->key, ck) == 0) {
            *out = slot->val;
            return MDM_OK;
        }
    }
    /* digits as given */
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < sizeof out->digits; p++) {
        if ((*p >= '0' && *p <= '9') || (*p == '+' && o == 0))
            out->digits[o++] = *p;
    }
    out->digits[o] = '\0';
    mdm_status rc = mdm_phone_parse(in, region, out, err);
    if (rc == MDM_OK && slot) {
        memcpy(slot->key, ck, sizeof ck);
        slot->val = *out;
    }
    return rc;
}
