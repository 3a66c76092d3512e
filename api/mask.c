/* Masking of tax and national ids in replies (see mask.h). */
#include "api/mask.h"

#include <string.h>

static const char *const sensitive[] = {"tax_id", "national_id", NULL};

static bool is_sensitive(const char *name)
{
    for (size_t i = 0; sensitive[i]; i++)
        if (name && !strcmp(name, sensitive[i]))
            return true;
    return false;
}

bool mdm_mask_role_sees_ids(const char *role)
{
    return role && (!strcmp(role, "admin") || !strcmp(role, "compliance"));
}

bool mdm_mask_text_may_hold_ids(const char *s)
{
    for (size_t i = 0; sensitive[i]; i++)
        if (s && strstr(s, sensitive[i]))
            return true;
    return false;
}

/* "*****4818": every character but the last four (bytes of a multi-byte character count
 * once each: the masked part is never shown, so its length is only a hint). */
static void mask_string(json_t *s)
{
    const char *v = json_string_value(s);
    size_t n = strlen(v);
    size_t keep = n > 6 ? 4 : (n > 2 ? 1 : 0);
    char out[64];
    size_t stars = n - keep < 8 ? n - keep : 8;
    memset(out, '*', stars);
    memcpy(out + stars, v + n - keep, keep);
    out[stars + keep] = '\0';
    json_string_set(s, out);
}

/* A sensitive member's value: a string, a list of them, or an object whose "value" holds
 * it (lineage keeps rule and source beside it, which stay readable). */
static void mask_all(json_t *v)
{
    size_t i;
    json_t *x;
    if (json_is_string(v))
        mask_string(v);
    else if (json_is_array(v))
        json_array_foreach(v, i, x) mask_all(x);
    else if (json_is_object(v) && json_object_get(v, "value"))
        mask_all(json_object_get(v, "value"));
}

void mdm_mask_ids(json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) mdm_mask_ids(x);
        return;
    }
    if (!json_is_object(v))
        return;
    bool comparison = is_sensitive(json_string_value(json_object_get(v, "comparison")));
    json_object_foreach(v, k, x)
    {
        if (is_sensitive(k) || (comparison && (!strcmp(k, "value_a") || !strcmp(k, "value_b"))))
            mask_all(x);
        else
            mdm_mask_ids(x);
    }
}

void mdm_mask_for_role(const char *role, json_t *v)
{
    if (!mdm_mask_role_sees_ids(role))
        mdm_mask_ids(v);
}
