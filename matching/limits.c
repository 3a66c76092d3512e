/* Field limits of the canonical contract; see matching/limits.h. */
#include "matching/limits.h"

#include "common/jsonin.h"

#include <stdio.h>
#include <string.h>

#define LIMIT_MAX 1048576

#define NAME(f) #f,
const char *const mdm_limits_fields[MDM_LIMITS_NFIELDS] = {
    MDM_CANON_SCALAR_LIST(NAME) "email",
    "phone",
    "type",
    "address.line1",
    "address.line2",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
    "address.type",
    "attribute",
    "attribute_name",
    "attributes_count",
    "consents_count",
    "emails_phones_count",
};
#undef NAME

/* In table order. Names: 256 bytes holds the longest real names with room; e-mail:
 * RFC 5321's 254; phone: E.164 has at most 15 digits, 64 leaves room for formatting and
 * an extension. */
static const size_t defaults[MDM_LIMITS_NFIELDS] = {
    256, 64,  16, 256, 256, 256, 256, 64,  64, 64, 32, 128,  128, 128, 128, 64,
    128, 254, 64, 32,  256, 256, 128, 128, 32, 64, 32, 1024, 128, 100, 100, 20,
};

void mdm_limits_default(mdm_limits *out)
{
    memcpy(out->cap, defaults, sizeof defaults);
    out->other = 256;
}

static int field_index(const char *field)
{
    /* the first byte before the call: every canonicalized value looks its field up */
    for (int i = 0; i < MDM_LIMITS_NFIELDS; i++)
        if (mdm_limits_fields[i][0] == field[0] && strcmp(mdm_limits_fields[i], field) == 0)
            return i;
    return -1;
}

mdm_status mdm_limits_load(const json_t *section, mdm_limits *out, mdm_err *err)
{
    mdm_limits_default(out);
    const char *known[MDM_LIMITS_NFIELDS + 2] = {"default"};
    for (int i = 0; i < MDM_LIMITS_NFIELDS; i++)
        known[i + 1] = mdm_limits_fields[i];
    mdm_jin in;
    if (!mdm_jin_open(&in, section, "limits", MDM_EINVAL, err) || !mdm_jin_known(&in, known))
        return MDM_EINVAL;
    for (int i = -1; i < MDM_LIMITS_NFIELDS; i++) {
        long long n = i < 0 ? (long long)out->other : (long long)out->cap[i];
        if (!mdm_jin_int(&in, i < 0 ? "default" : mdm_limits_fields[i], 1, LIMIT_MAX, &n))
            return MDM_EINVAL;
        if (i < 0)
            out->other = (size_t)n;
        else
            out->cap[i] = (size_t)n;
    }
    return MDM_OK;
}

size_t mdm_limits_of(const mdm_limits *l, const char *field)
{
    int i = field_index(field);
    return i >= 0 ? l->cap[i] : l->other;
}
