/* Field limits of the canonical contract; see matching/limits.h. */
#include "matching/limits.h"

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
    if (!section)
        return MDM_OK;
    if (!json_is_object(section))
        return mdm_err_set_field(err, MDM_EINVAL, "/limits", "limits must be an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)section, k, v)
    {
        char ptr[96];
        snprintf(ptr, sizeof ptr, "/limits/%.80s", k);
        int i = strcmp(k, "default") == 0 ? -2 : field_index(k);
        if (i == -1)
            return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                     "unknown key \"%.80s\" in section limits (see "
                                     "docs/SECURITY.md)",
                                     k);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > LIMIT_MAX)
            return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                     "limits.%.80s must be an integer from 1 to %d", k, LIMIT_MAX);
        size_t n = (size_t)json_integer_value(v);
        if (i == -2)
            out->other = n;
        else
            out->cap[i] = n;
    }
    return MDM_OK;
}

size_t mdm_limits_of(const mdm_limits *l, const char *field)
{
    int i = field_index(field);
    return i >= 0 ? l->cap[i] : l->other;
}
