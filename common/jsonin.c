/* One reader for JSON input; see jsonin.h. */
#include "common/jsonin.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The dotted name of key in in ("key" at the root, "in.key" below it). */
static void member_name(const mdm_jin *in, const char *key, char *out, size_t cap)
{
    if (!key)
        snprintf(out, cap, "%s", in->name[0] ? in->name : "the body");
    else if (in->name[0])
        snprintf(out, cap, "%.100s.%.58s", in->name, key); /* fits a name of mdm_jin */
    else
        snprintf(out, cap, "%s", key);
}

/* The JSON pointer of key in in: "/" then the key with "~" and "/" escaped (RFC 6901). */
static void member_pointer(const mdm_jin *in, const char *key, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "%s", in->pointer);
    if (!key || n + 1 >= cap)
        return;
    out[n++] = '/';
    for (const char *k = key; *k && n + 2 < cap; k++) {
        if (*k == '~' || *k == '/') {
            out[n++] = '~';
            out[n++] = *k == '~' ? '0' : '1';
        } else {
            out[n++] = *k;
        }
    }
    out[n] = '\0';
}

/* names (NULL-terminated) as "a, b, c"; a list too long for out ends with ", ..." */
static void join_names(const char *const names[], char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        size_t need = strlen(names[i]) + (i ? 2 : 0);
        if (n + need + 5 >= cap) { /* room for ", ..." and the NUL */
            snprintf(out + n, cap - n, "%s...", i ? ", " : "");
            return;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", names[i]);
    }
}

/* A reader for the member key of in (key NULL: in itself): its status, err, dotted name
 * and pointer; obj is left NULL. */
static void member_scope(const mdm_jin *in, const char *key, mdm_jin *out)
{
    *out = (mdm_jin){.code = in->code, .err = in->err};
    member_name(in, key, out->name, sizeof out->name);
    member_pointer(in, key, out->pointer, sizeof out->pointer);
}

static bool complain(const mdm_jin *in, const char *key, const char *text)
{
    mdm_jin m;
    member_scope(in, key, &m);
    mdm_err_set_field(in->err, in->code, m.pointer, "%s must be %s", m.name, text);
    return false;
}

static bool vcomplain(const mdm_jin *in, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static bool vcomplain(const mdm_jin *in, const char *key, const char *fmt, va_list ap)
{
    char text[200];
    vsnprintf(text, sizeof text, fmt, ap);
    return complain(in, key, text);
}

static bool complainf(const mdm_jin *in, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool complainf(const mdm_jin *in, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vcomplain(in, key, fmt, ap);
    va_end(ap);
    return false;
}

mdm_status mdm_jin_fail(const mdm_jin *in, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vcomplain(in, key, fmt, ap);
    va_end(ap);
    return in->code;
}

mdm_status mdm_jin_fail_item(const mdm_jin *in, const char *key, size_t i, const char *fmt, ...)
{
    mdm_jin array, item = {.code = in->code, .err = in->err};
    member_scope(in, key, &array);
    snprintf(item.name, sizeof item.name, "%.140s[%zu]", array.name, i);
    snprintf(item.pointer, sizeof item.pointer, "%.140s/%zu", array.pointer, i);
    va_list ap;
    va_start(ap, fmt);
    vcomplain(&item, NULL, fmt, ap);
    va_end(ap);
    return in->code;
}

bool mdm_jin_open(mdm_jin *in, const json_t *v, const char *name, mdm_status code, mdm_err *err)
{
    memset(in, 0, sizeof *in);
    in->code = code;
    in->err = err;
    snprintf(in->name, sizeof in->name, "%s", name ? name : "");
    /* the pointer of a dotted name: "a.b" -> "/a/b", "a[2]" -> "/a/2" */
    size_t n = 0;
    for (const char *p = in->name; *p && n + 2 < sizeof in->pointer; p++) {
        if (p == in->name || *p == '.' || *p == '[')
            in->pointer[n++] = '/';
        if (*p != '.' && *p != '[' && *p != ']')
            in->pointer[n++] = *p;
    }
    in->pointer[n] = '\0';
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return complain(in, NULL, "an object");
    in->obj = v;
    return true;
}

bool mdm_jin_member(mdm_jin *child, const mdm_jin *in, const char *key)
{
    member_scope(in, key, child);
    const json_t *v = in->obj ? json_object_get(in->obj, key) : NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return complain(in, key, "an object");
    child->obj = v;
    return true;
}

bool mdm_jin_known(const mdm_jin *in, const char *const known[])
{
    if (!in->obj)
        return true;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)in->obj, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (ok)
            continue;
        mdm_jin m;
        char list[160];
        member_scope(in, k, &m);
        join_names(known, list, sizeof list);
        mdm_err_set_field(in->err, in->code, m.pointer, "unknown key \"%.120s\" (known: %s)",
                          m.name, list);
        return false;
    }
    return true;
}

/* The member key when given (present and not null), else NULL. */
static const json_t *given(const mdm_jin *in, const char *key)
{
    const json_t *v = in->obj ? json_object_get(in->obj, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

bool mdm_jin_has(const mdm_jin *in, const char *key)
{
    return given(in, key) != NULL;
}

bool mdm_jin_need(const mdm_jin *in, const char *key, const char *what)
{
    return given(in, key) ? true : complainf(in, key, "given: %s", what);
}

bool mdm_jin_int(const mdm_jin *in, const char *key, long long min, long long max, long long *out)
{
    const json_t *v = given(in, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return max == LLONG_MAX ? complainf(in, key, "an integer of at least %lld", min)
                                : complainf(in, key, "an integer from %lld to %lld", min, max);
    *out = json_integer_value(v);
    return true;
}

bool mdm_jin_number(const mdm_jin *in, const char *key, double min, double max, double *out)
{
    const json_t *v = given(in, key);
    if (!v)
        return true;
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < min || d > max)
        return complainf(in, key, "a number from %g to %g", min, max);
    *out = d;
    return true;
}

bool mdm_jin_probability(const mdm_jin *in, const char *key, double *out)
{
    const json_t *v = given(in, key);
    if (!v)
        return true;
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d > 0 && d < 1))
        return complain(in, key, "a probability above 0 and below 1");
    *out = d;
    return true;
}

bool mdm_jin_bool(const mdm_jin *in, const char *key, bool *out)
{
    const json_t *v = given(in, key);
    if (!v)
        return true;
    if (!json_is_boolean(v))
        return complain(in, key, "true or false");
    *out = json_is_true(v);
    return true;
}

bool mdm_jin_string(const mdm_jin *in, const char *key, size_t maxlen, const char **out)
{
    const json_t *v = given(in, key);
    if (!v)
        return true;
    if (!json_is_string(v))
        return complain(in, key, "a string");
    if (maxlen && json_string_length(v) > maxlen)
        return complainf(in, key, "a string of at most %zu bytes", maxlen);
    *out = json_string_value(v);
    return true;
}

bool mdm_jin_choice(const mdm_jin *in, const char *key, const char *const choices[], int *out)
{
    const json_t *v = given(in, key);
    if (!v)
        return true;
    for (int i = 0; json_is_string(v) && choices[i]; i++)
        if (strcmp(json_string_value(v), choices[i]) == 0) {
            *out = i;
            return true;
        }
    char list[160];
    join_names(choices, list, sizeof list);
    return complainf(in, key, "one of: %s", list);
}

bool mdm_jin_array(const mdm_jin *in, const char *key, size_t min, size_t max, const json_t **out)
{
    const json_t *v = given(in, key);
    if (!v)
        return true;
    if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > max) {
        if (min == 0 && max == (size_t)-1)
            return complain(in, key, "an array");
        return complainf(in, key, "an array of %zu to %zu items", min, max);
    }
    *out = v;
    return true;
}
