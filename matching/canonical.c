/* The one canonicalization (see canonical.h): mapping, validation and normalization of a
 * source record into the canonical record, for every path. */
#include "matching/canonical.h"

#include "common/mem.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "matching/phonetic.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME(f) #f,
const char *const mdm_canon_scalars[] = {MDM_CANON_SCALAR_LIST(NAME) NULL};
#undef NAME

const char *const mdm_canon_address_fields[] = {"line1",       "line2",   "city", "region",
                                                "postal_code", "country", "type", NULL};

char *mdm_canon_clean(const char *s)
{
    size_t n = strlen(s);
    char *o = mdm_xmalloc(n + 1);
    size_t j = 0;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            space = j > 0;
            continue;
        }
        if (space)
            o[j++] = ' ';
        space = false;
        o[j++] = (char)c;
    }
    o[j] = '\0';
    return o;
}

char *mdm_canon_text_key(mdm_norm *n, const char *s)
{
    mdm_buf key = {0};
    mdm_err ignored;
    if (mdm_norm_text(n, s, NULL, &key, &ignored) != MDM_OK) {
        mdm_buf_free(&key);
        return NULL;
    }
    return key.data ? mdm_buf_steal(&key) : mdm_xstrdup("");
}

const char *mdm_canon_first_class(mdm_norm *n, const char *first, char buf[64])
{
    snprintf(buf, 64, "%.*s", (int)strcspn(first, " "), first);
    return mdm_norm_nickname_canon(n, buf);
}

/* Identifier key: the text key without spaces ("AB-12 34" -> "ab1234"). */
static char *id_key(mdm_norm *n, const char *s)
{
    char *k = mdm_canon_text_key(n, s);
    if (!k)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; k[i]; i++)
        if (k[i] != ' ')
            k[o++] = k[i];
    k[o] = '\0';
    return k;
}

static bool date_ok(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Accepts an ISO 8601 date or date-time (what PostgreSQL's timestamptz reads). */
static bool timestamp_ok(const char *s)
{
    int y, m, d, hh = 0, mm = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || !date_ok(y, m, d))
        return false;
    const char *p = s + 10;
    if (!*p)
        return true;
    if (*p != 'T' && *p != ' ')
        return false;
    p++;
    if (sscanf(p, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
        return false;
    p += 5;
    if (*p == ':') {
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[1] > '6')
            return false;
        p += 3;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p))
                return false;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (*p == 'Z' && p[1] == '\0')
        return true;
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2])) {
        p += 3;
        if (*p == ':')
            p++;
        if (*p == '\0')
            return true;
        return isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && p[2] == '\0';
    }
    return *p == '\0';
}

/* ---- mapping and validation ---- */

typedef struct canon_build {
    json_t *rec;    /* canonical record being built */
    json_t *errors; /* [{"pointer", "field", "reason"}]: the record is rejected */
    json_t *issues; /* same shape: kept, flagged (invalid e-mail or phone, bad postcode) */
    const char *country;
    json_t *ptrs; /* canonical scalar field -> JSON pointer of the input column */
    mdm_norm *n;
    mdm_arena *a;
    const mdm_limits *lim;
    bool family_first; /* the source's full names are family name first */
    bool month_first;  /* the source's ambiguous dates are month first */
} canon_build;

/* Pointer of the input column that filled canonical field f, else "/f". */
static const char *ptr_for(canon_build *b, const char *f)
{
    const char *p = json_string_value(json_object_get(b->ptrs, f));
    if (p)
        return p;
    static _Thread_local char def[64];
    snprintf(def, sizeof def, "/%s", f);
    return def;
}

static void add_error(canon_build *b, const char *pointer, const char *field, const char *reason)
{
    json_array_append_new(b->errors, json_pack("{s:s, s:s, s:s}", "pointer", pointer, "field",
                                               field, "reason", reason));
}

static void add_issue(canon_build *b, const char *pointer, const char *field, const char *reason)
{
    json_array_append_new(b->issues, json_pack("{s:s, s:s, s:s}", "pointer", pointer, "field",
                                               field, "reason", reason));
}

/* An optional value that is invalid is not a reason to refuse its record: the value is
 * left out of the record and of matching, and kept (with what was sent) as a flagged
 * issue, so the record's e-mail, phone and consent still count. */
static void add_dropped(canon_build *b, const char *pointer, const char *field, const char *reason,
                        const char *value)
{
    json_array_append_new(b->issues,
                          json_pack("{s:s, s:s, s:s, s:s, s:b}", "pointer", pointer, "field", field,
                                    "reason", reason, "value", value ? value : "", "dropped", 1));
}

/* JSON pointer of a (dotted) column. */
static void pointer_of(const char *column, char *out, size_t cap)
{
    size_t j = 0;
    if (cap < 2)
        return;
    out[j++] = '/';
    for (const char *p = column; *p && j + 3 < cap; p++) {
        if (*p == '.')
            out[j++] = '/';
        else if (*p == '~') {
            out[j++] = '~';
            out[j++] = '0';
        } else if (*p == '/') {
            out[j++] = '~';
            out[j++] = '1';
        } else
            out[j++] = *p;
    }
    out[j] = '\0';
}

const json_t *mdm_canon_lookup(const json_t *in, const char *column)
{
    const json_t *v = json_object_get(in, column);
    if (v || !strchr(column, '.'))
        return v;
    char *copy = mdm_xstrdup(column);
    const json_t *cur = in;
    for (char *tok = strtok(copy, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
    free(copy);
    return cur;
}

char *mdm_canon_scalar_text(const json_t *v, bool *bad)
{
    *bad = false;
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v)) {
        if (!mdm_norm_utf8_valid(json_string_value(v), json_string_length(v))) {
            *bad = true;
            return NULL;
        }
        char *c = mdm_canon_clean(json_string_value(v));
        if (!*c) {
            free(c);
            return NULL;
        }
        return c;
    }
    if (json_is_integer(v))
        return mdm_xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return mdm_xasprintf("%.15g", json_real_value(v));
    if (json_is_boolean(v))
        return mdm_xstrdup(json_is_true(v) ? "true" : "false");
    *bad = true;
    return NULL;
}

static json_t *address_slot(json_t *rec, int idx)
{
    json_t *list = json_object_get(rec, "addresses");
    while ((int)json_array_size(list) <= idx)
        json_array_append_new(list, json_object());
    return json_array_get(list, (size_t)idx);
}

/* Limit name of a canonical target ("email:home" -> "email", "address2.city" ->
 * "address.city", "attributes.x" -> "attribute"). */
static const char *limit_name(const char *target, char *buf, size_t cap)
{
    if (!strncmp(target, "email", 5) && (!target[5] || target[5] == ':'))
        return "email";
    if (!strncmp(target, "phone", 5) && (!target[5] || target[5] == ':'))
        return "phone";
    if (!strncmp(target, "attributes.", 11))
        return "attribute";
    if (!strncmp(target, "address", 7)) {
        /* "address2.city" -> "address.city" (snprintf cost more than the rest of the
         * check: this runs for every mapped value) */
        const char *dot = strchr(target, '.');
        size_t n = dot ? strlen(dot) : 0;
        if (n > cap - 8)
            n = cap - 8;
        memcpy(buf, "address", 7);
        memcpy(buf + 7, dot ? dot : "", n);
        buf[7 + n] = 0;
        return buf;
    }
    return target;
}

/* True (and an error added) when text, or what it makes joined to the value already
 * there, is longer than the field's limit. */
static bool over_limit(canon_build *b, const char *target, size_t len, const char *pointer)
{
    char buf[64];
    const char *name = limit_name(target, buf, sizeof buf);
    size_t cap = mdm_limits_of(b->lim, name);
    if (len <= cap)
        return false;
    char reason[64];
    snprintf(reason, sizeof reason, "is longer than %zu bytes", cap);
    add_error(b, pointer, !strcmp(name, "attribute") ? target : name, reason);
    return true;
}

/* Sets canonical target from text (owned by the caller). */
static void set_target(canon_build *b, const char *target, const char *text, const char *pointer)
{
    json_t *rec = b->rec;
    if (over_limit(b, target, strlen(text), pointer))
        return;
    if (!strcmp(target, "email") || !strncmp(target, "email:", 6) || !strcmp(target, "phone") ||
        !strncmp(target, "phone:", 6)) {
        bool email = target[0] == 'e';
        const char *type = strchr(target, ':') ? strchr(target, ':') + 1 : NULL;
        json_t *item = json_pack("{s:s}", "value", text);
        if (type)
            json_object_set_new(item, "type", json_string(type));
        json_object_set_new(item, "_ptr", json_string(pointer));
        json_array_append_new(json_object_get(rec, email ? "emails" : "phones"), item);
        return;
    }
    if (!strncmp(target, "attributes.", 11)) {
        json_object_set_new(json_object_get(rec, "attributes"), target + 11, json_string(text));
        return;
    }
    if (!strncmp(target, "address", 7)) {
        int idx = 0;
        const char *p = target + 7;
        if (*p >= '2' && *p <= '4')
            idx = *p++ - '1';
        json_t *a = address_slot(rec, idx);
        const char *field = p + 1;
        const json_t *old = json_object_get(a, field);
        if (old && over_limit(b, target, json_string_length(old) + 1 + strlen(text), pointer))
            return;
        if (old) {
            char *joined = mdm_xasprintf("%s %s", json_string_value(old), text);
            json_object_set_new(a, field, json_string(joined));
            free(joined);
        } else {
            json_object_set_new(a, field, json_string(text));
        }
        return;
    }
    if (!json_object_get(b->ptrs, target))
        json_object_set_new(b->ptrs, target, json_string(pointer));
    const json_t *old = json_object_get(rec, target);
    if (old && json_is_string(old) &&
        over_limit(b, target, json_string_length(old) + 1 + strlen(text), pointer))
        return;
    if (old && json_is_string(old)) {
        char *joined = mdm_xasprintf("%s %s", json_string_value(old), text);
        json_object_set_new(rec, target, json_string(joined));
        free(joined);
    } else {
        json_object_set_new(rec, target, json_string(text));
    }
}

/* True (and an error added) when the array or object v has more items than limit. */
static bool too_many(canon_build *b, const json_t *v, const char *limit, const char *ptr,
                     const char *field)
{
    size_t n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
    size_t cap = mdm_limits_of(b->lim, limit);
    if (n <= cap)
        return false;
    char reason[64];
    snprintf(reason, sizeof reason, "has more than %zu items", cap);
    add_error(b, ptr, field, reason);
    return true;
}

/* Copies a record that is already canonical into b->rec. */
static void from_canonical(canon_build *b, const json_t *in)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        char ptr[160];
        pointer_of(k, ptr, sizeof ptr);
        bool known = false;
        for (size_t i = 0; mdm_canon_scalars[i]; i++)
            if (!strcmp(k, mdm_canon_scalars[i]))
                known = true;
        if (known) {
            bool bad;
            char *t = mdm_canon_scalar_text(v, &bad);
            if (bad)
                add_error(b, ptr, k, "must be a string or number in UTF-8");
            else if (t)
                set_target(b, k, t, ptr);
            free(t);
        } else if (!strcmp(k, "emails") || !strcmp(k, "phones")) {
            if (!json_is_array(v)) {
                add_error(b, ptr, k, "must be an array");
                continue;
            }
            if (too_many(b, v, "emails_phones_count", ptr, k))
                continue;
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                char ip[192];
                snprintf(ip, sizeof ip, "%s/%zu", ptr, i);
                const json_t *val = json_is_object(item) ? json_object_get(item, "value") : item;
                bool bad;
                char *t = mdm_canon_scalar_text(val, &bad);
                if (bad || !t) {
                    if (bad)
                        add_error(b, ip, k, "must be a string or {\"value\", \"type\"}");
                    free(t);
                    continue;
                }
                const json_t *type = json_is_object(item) ? json_object_get(item, "type") : NULL;
                char target[48];
                if (json_is_string(type) && json_string_length(type) > 0 &&
                    json_string_length(type) <= 32)
                    snprintf(target, sizeof target, "%s:%s", k[0] == 'e' ? "email" : "phone",
                             json_string_value(type));
                else
                    snprintf(target, sizeof target, "%s", k[0] == 'e' ? "email" : "phone");
                set_target(b, target, t, ip);
                free(t);
            }
        } else if (!strcmp(k, "addresses")) {
            if (!json_is_array(v)) {
                add_error(b, ptr, k, "must be an array");
                continue;
            }
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                char ip[192];
                snprintf(ip, sizeof ip, "%s/%zu", ptr, i);
                if (!json_is_object(item) || i >= 4) {
                    add_error(b, ip, k, i >= 4 ? "at most 4 addresses" : "must be an object");
                    continue;
                }
                const char *f;
                json_t *fv;
                json_object_foreach(item, f, fv)
                {
                    bool ok = false;
                    for (size_t x = 0; mdm_canon_address_fields[x]; x++)
                        if (!strcmp(mdm_canon_address_fields[x], f))
                            ok = true;
                    char fp[224];
                    snprintf(fp, sizeof fp, "%s/%s", ip, f);
                    if (!ok) {
                        add_error(b, fp, "addresses", "unknown address field");
                        continue;
                    }
                    bool bad;
                    char *t = mdm_canon_scalar_text(fv, &bad);
                    if (bad)
                        add_error(b, fp, "addresses", "must be a string");
                    if (t) {
                        char target[32];
                        if (i == 0)
                            snprintf(target, sizeof target, "address.%s", f);
                        else
                            snprintf(target, sizeof target, "address%zu.%s", i + 1, f);
                        set_target(b, target, t, fp);
                    }
                    free(t);
                }
            }
        } else if (!strcmp(k, "attributes")) {
            if (!json_is_object(v)) {
                add_error(b, ptr, k, "must be an object");
                continue;
            }
            if (too_many(b, v, "attributes_count", ptr, k))
                continue;
            const char *ak;
            json_t *av;
            json_object_foreach(v, ak, av)
            {
                char ap[352];
                snprintf(ap, sizeof ap, "%s/%.160s", ptr, ak);
                if (strlen(ak) > mdm_limits_of(b->lim, "attribute_name")) {
                    add_error(b, ap, "attribute_name", "is longer than the limit");
                    continue;
                }
                bool bad;
                char *t = mdm_canon_scalar_text(av, &bad);
                if (bad)
                    add_error(b, ap, "attribute", "must be a string or number in UTF-8");
                if (t) {
                    char *target = mdm_xasprintf("attributes.%s", ak);
                    set_target(b, target, t, ap);
                    free(target);
                }
                free(t);
            }
        } else if (!strcmp(k, "consents")) {
            if (!json_is_array(v))
                add_error(b, ptr, k, "must be an array");
            else if (!too_many(b, v, "consents_count", ptr, k))
                json_object_set(b->rec, "consents", v);
        } else if (!strcmp(k, "source") || !strcmp(k, "keys")) {
            /* the source comes from the call; keys are derived */
        } else {
            add_error(b, ptr, k, "unknown canonical field");
        }
    }
}

static void from_mapping(canon_build *b, const mdm_source_map *src, const json_t *in)
{
    struct {
        const char *column, *target;
    } special[] = {{src->key ? src->key : "source_key", "source_key"},
                   {src->updated_at ? src->updated_at : "source_updated_at", "source_updated_at"},
                   {src->op ? src->op : "op", "op"}};
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = mdm_canon_lookup(in, special[i].column);
        char ptr[160];
        pointer_of(special[i].column, ptr, sizeof ptr);
        bool bad;
        char *t = mdm_canon_scalar_text(v, &bad);
        if (bad)
            add_error(b, ptr, special[i].target, "must be a string or number in UTF-8");
        else if (t)
            set_target(b, special[i].target, t, ptr);
        free(t);
    }
    for (size_t i = 0; i < src->ncols; i++) {
        const mdm_colmap *f = &src->cols[i];
        const json_t *v = mdm_canon_lookup(in, f->column);
        char ptr[160];
        pointer_of(f->column, ptr, sizeof ptr);
        bool bad;
        char *t = mdm_canon_scalar_text(v, &bad);
        if (bad)
            add_error(b, ptr, f->field, "must be a string or number in UTF-8");
        else if (t)
            set_target(b, f->field, t, ptr);
        free(t);
    }
    /* consents are passed through in canonical form when present */
    const json_t *c = json_object_get(in, "consents");
    if (json_is_array(c) && !too_many(b, c, "consents_count", "/consents", "consents"))
        json_object_set(b->rec, "consents", (json_t *)c);
}

/* A name token's affix class (matching/normalize.h mdm_norm_name_affix): its letters
 * and digits, lower-cased ("Jr." -> "jr"). */
static int token_affix(const char *tok, size_t len)
{
    char w[16];
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < sizeof w; i++)
        if (isalnum((unsigned char)tok[i]))
            w[n++] = (char)tolower((unsigned char)tok[i]);
    w[n] = '\0';
    return n && n + 1 < sizeof w ? mdm_norm_name_affix(w) : MDM_AFFIX_NONE;
}

/* Where the display parts of a split full name go: the canonical document (the JSON
 * path) or the record being filled directly (mdm_canon_record). has() tells whether a
 * field is already given; set() copies value. */
typedef struct name_sink {
    bool (*has)(void *ctx, const char *field);
    void (*set)(void *ctx, const char *field, const char *value);
    void *ctx;
} name_sink;

static bool json_has(void *ctx, const char *field)
{
    return json_object_get(ctx, field) != NULL;
}

static void json_set(void *ctx, const char *field, const char *value)
{
    json_object_set_new(ctx, field, json_string(value));
}

/* Moves leading prefixes ("Dr.", "Mrs") of rec's full_name to "prefix" and trailing
 * suffixes ("Jr.", "III", "PhD", also before a comma: "Crumwell Jr., Thaddeus") to
 * "suffix", unless those are given; returns the rest (allocated), keeping at least
 * one token. */
static char *strip_full_affixes(const name_sink *rec, const char *full, bool *had_prefix)
{
    /* tokens: [start, end) byte ranges of full, and where the comma is */
    size_t st[64] = {0}, en[64] = {0}, n = 0, comma_at = SIZE_MAX;
    for (size_t i = 0; full[i] && n < 64;) {
        if (full[i] == ' ' || full[i] == ',') {
            if (full[i] == ',' && comma_at == SIZE_MAX)
                comma_at = n;
            i++;
            continue;
        }
        st[n] = i;
        while (full[i] && full[i] != ' ' && full[i] != ',')
            i++;
        en[n++] = i;
    }
    bool drop[64] = {false};
    mdm_buf pre = {0}, suf = {0};
    /* the family part ends at the comma (or is the whole name): trailing suffixes */
    size_t fam_end = comma_at == SIZE_MAX ? n : comma_at;
    size_t k = fam_end;
    while (k > 1 && (token_affix(full + st[k - 1], en[k - 1] - st[k - 1]) & MDM_AFFIX_SUFFIX))
        k--;
    size_t given0 = comma_at == SIZE_MAX ? 0 : comma_at, g = n;
    if (comma_at != SIZE_MAX) /* "Smith, John, Jr.": suffixes after the given names too */
        while (g > given0 + 1 &&
               (token_affix(full + st[g - 1], en[g - 1] - st[g - 1]) & MDM_AFFIX_SUFFIX))
            g--;
    for (size_t i = k; i < fam_end; i++)
        drop[i] = true;
    for (size_t i = g; i < n; i++)
        drop[i] = true;
    size_t p0 = comma_at == SIZE_MAX ? 0 : comma_at; /* leading prefixes of the given names */
    size_t last_kept = comma_at == SIZE_MAX ? k : g;
    while (p0 + 1 < last_kept && (token_affix(full + st[p0], en[p0] - st[p0]) & MDM_AFFIX_PREFIX)) {
        drop[p0] = true;
        mdm_buf_printf(&pre, "%s%.*s", pre.len ? " " : "", (int)(en[p0] - st[p0]), full + st[p0]);
        p0++;
    }
    for (size_t i = 0; i < n; i++)
        if (drop[i] && !(i < p0 && i >= (comma_at == SIZE_MAX ? 0 : comma_at)))
            mdm_buf_printf(&suf, "%s%.*s", suf.len ? " " : "", (int)(en[i] - st[i]), full + st[i]);
    mdm_buf out = {0};
    for (size_t i = 0; i < n; i++) {
        if (drop[i])
            continue;
        if (i == comma_at && out.len)
            mdm_buf_putc(&out, ',');
        mdm_buf_printf(&out, "%s%.*s", out.len ? " " : "", (int)(en[i] - st[i]), full + st[i]);
    }
    if (comma_at == n && out.len) /* "SMITH,": the family name alone, as mdm_norm_name reads it */
        mdm_buf_putc(&out, ',');
    if (suf.len && !rec->has(rec->ctx, "suffix"))
        rec->set(rec->ctx, "suffix", suf.data);
    *had_prefix = pre.len > 0;
    if (pre.len && !rec->has(rec->ctx, "prefix"))
        rec->set(rec->ctx, "prefix", pre.data);
    char *res = mdm_xstrdup(out.len ? out.data : full);
    mdm_buf_free(&pre);
    mdm_buf_free(&suf);
    mdm_buf_free(&out);
    return res;
}

static void split_parts(const name_sink *rec, const char *full, bool had_prefix);

static void split_full_name(const name_sink *rec, const char *full0)
{
    if (!full0 || rec->has(rec->ctx, "last_name") || rec->has(rec->ctx, "first_name"))
        return;
    bool had_prefix = false;
    char *full = strip_full_affixes(rec, full0, &had_prefix);
    split_parts(rec, full, had_prefix);
    free(full);
}

/* The display parts of a full name, split as mdm_norm_name splits its comparison form
 * (one parser's rules, so the stored parts and the keys agree): a comma puts the family
 * name first; otherwise a lone name is the first name (the last name after a prefix:
 * "Dr. Smith"), and the family name is the last token extended to the left from the
 * first particle among the inner tokens ("Anna van der Berg"). */
static void split_parts(const name_sink *rec, const char *full, bool had_prefix)
{
    const char *comma = strchr(full, ',');
    if (comma) {
        char *tmp = mdm_xstrndup(full, (size_t)(comma - full));
        char *last = mdm_canon_clean(tmp);
        free(tmp);
        char *rest = mdm_canon_clean(comma + 1);
        char *sp = strchr(rest, ' ');
        if (sp) {
            *sp = '\0';
            rec->set(rec->ctx, "middle_name", sp + 1);
        }
        if (*rest)
            rec->set(rec->ctx, "first_name", rest);
        if (*last)
            rec->set(rec->ctx, "last_name", last);
        free(rest);
        free(last);
        return;
    }
    const char *sp1 = strchr(full, ' ');
    if (!sp1) {
        rec->set(rec->ctx, had_prefix ? "last_name" : "first_name", full);
        return;
    }
    /* the family name starts at the last token, or at the first inner particle */
    const char *fam = strrchr(full, ' ') + 1;
    for (const char *t = sp1 + 1; t < fam;) {
        size_t len = strcspn(t, " ");
        char w[16];
        size_t k = 0;
        for (size_t i = 0; i < len && k + 1 < sizeof w; i++)
            w[k++] = (char)tolower((unsigned char)t[i]);
        w[k] = '\0';
        if (len < sizeof w && mdm_norm_name_particle(w)) {
            fam = t;
            break;
        }
        t += len + 1;
    }
    char *first = mdm_xstrndup(full, (size_t)(sp1 - full));
    rec->set(rec->ctx, "first_name", first);
    rec->set(rec->ctx, "last_name", fam);
    if (fam > sp1 + 1) {
        char *mid = mdm_xstrndup(sp1 + 1, (size_t)(fam - 1 - (sp1 + 1)));
        rec->set(rec->ctx, "middle_name", mid);
        free(mid);
    }
    free(first);
}

/* Display-form string member of rec, or NULL. */
static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void normalize_names(canon_build *b, json_t *keys)
{
    json_t *rec = b->rec;
    mdm_err err;
    const char *full = sget(rec, "full_name");
    if (full && !sget(rec, "first_name") && !sget(rec, "last_name")) {
        /* a source whose full names are family name first: read as "FAMILY, GIVEN" */
        char *ff = b->family_first ? mdm_norm_family_first(full) : NULL;
        if (ff)
            full = mdm_arena_strdup(b->a, ff);
        free(ff);
        mdm_name_parts np;
        if (mdm_norm_name(b->n, full, b->a, &np, &err) != MDM_OK) {
            add_error(b, "/full_name", "full_name", "is not valid UTF-8");
            return;
        }
        split_full_name(&(name_sink){json_has, json_set, rec}, full);
        if (*np.first)
            json_object_set_new(keys, "first", json_string(np.first));
        if (*np.middle)
            json_object_set_new(keys, "middle", json_string(np.middle));
        if (*np.last)
            json_object_set_new(keys, "last", json_string(np.last));
    } else {
        static const struct {
            const char *field, *key;
        } names[] = {{"first_name", "first"}, {"middle_name", "middle"}, {"last_name", "last"}};
        for (size_t i = 0; i < 3; i++) {
            const char *v = sget(rec, names[i].field);
            if (!v)
                continue;
            char *k = mdm_canon_text_key(b->n, v);
            if (!k) {
                char ptr[32];
                snprintf(ptr, sizeof ptr, "/%s", names[i].field);
                add_error(b, ptr, names[i].field, "is not valid UTF-8");
                continue;
            }
            if (*k)
                json_object_set_new(keys, names[i].key, json_string(k));
            free(k);
        }
    }
    const char *first = sget(keys, "first");
    if (first) {
        char tok[64];
        json_object_set_new(keys, "first_canon",
                            json_string(mdm_canon_first_class(b->n, first, tok)));
    }
    const char *last = sget(keys, "last");
    if (last) {
        /* compound surnames: the phonetic key of the joined key */
        char *joined = mdm_xstrdup(last);
        size_t o = 0;
        for (size_t i = 0; joined[i]; i++)
            if (joined[i] != ' ')
                joined[o++] = joined[i];
        joined[o] = '\0';
        char sx[16] = "";
        mdm_phon_soundex(joined, sx, sizeof sx);
        free(joined);
        if (sx[0])
            json_object_set_new(keys, "last_sx", json_string(sx));
    }
}

/* The canonical form of a birth date (ISO, into iso): 0, or 1 when it is not a date,
 * 2 when it is outside 1900-01-01..today (both paths drop such a value). */
static int canon_birth_date(const char *dob, bool month_first, char iso[32])
{
    mdm_date d;
    mdm_err err;
    if (mdm_norm_date(dob, 0, &d, &err) != MDM_OK)
        return 1;
    /* an ambiguous day/month reads month first when the source says so (its date_order,
     * by default in the United States) */
    int m = d.m, day = d.d;
    if (d.ambiguous && month_first) {
        m = d.alt_m;
        day = d.alt_d;
    }
    snprintf(iso, 32, "%04d-%02d-%02d", d.y, m, day);
    /* today's UTC date, formatted again only when the day changes */
    static _Thread_local time_t day0 = -1;
    static _Thread_local char today[32];
    time_t now = time(NULL);
    if (now / 86400 != day0) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(today, sizeof today, "%Y-%m-%d", &tm);
        day0 = now / 86400;
    }
    if (strcmp(iso, today) > 0 || strcmp(iso, "1900-01-01") < 0)
        return 2;
    return 0;
}

static void normalize_dates(canon_build *b, json_t *keys)
{
    json_t *rec = b->rec;
    const char *dob = sget(rec, "birth_date");
    if (!dob)
        return;
    char iso[32];
    int rc = canon_birth_date(dob, b->month_first, iso);
    if (rc) {
        add_dropped(b, ptr_for(b, "birth_date"), "birth_date",
                    rc == 1 ? "is not a valid date" : "is outside 1900-01-01..today", dob);
        json_object_del(rec, "birth_date");
        return;
    }
    json_object_set_new(rec, "birth_date", json_string(iso));
    json_object_set_new(keys, "dob", json_string(iso));
}

/* The canonical gender of a value (static string), NULL when unknown. */
static const char *canon_gender(mdm_norm *n, const char *gender)
{
    char *g = mdm_canon_text_key(n, gender);
    const char *canon = !g                                                                ? NULL
                        : !strcmp(g, "m") || !strcmp(g, "male") || !strcmp(g, "man")      ? "male"
                        : !strcmp(g, "f") || !strcmp(g, "female") || !strcmp(g, "woman")  ? "female"
                        : !strcmp(g, "x") || !strcmp(g, "other") || !strcmp(g, "diverse") ? "other"
                                                                                          : NULL;
    free(g);
    return canon;
}

static void normalize_contacts(canon_build *b, json_t *keys)
{
    json_t *rec = b->rec;
    mdm_err err;
    size_t i;
    json_t *item;
    /* emails: the display form survives, the canonical key is matched */
    json_t *ek = json_array(), *clean_list = json_array();
    json_array_foreach(json_object_get(rec, "emails"), i, item)
    {
        const char *v = sget(item, "value");
        const char *ptr = sget(item, "_ptr") ? sget(item, "_ptr") : "/emails";
        mdm_email_norm e;
        if (mdm_norm_email(b->n, v, b->a, &e, &err) != MDM_OK) {
            add_error(b, ptr, "email", "is not valid UTF-8");
            continue;
        }
        json_t *out = json_pack("{s:s}", "value", e.display);
        if (json_object_get(item, "type"))
            json_object_set(out, "type", json_object_get(item, "type"));
        if (!e.valid) {
            add_issue(b, ptr, "email", "is not an e-mail address (kept, not matched)");
            json_object_set_new(out, "valid", json_false());
            json_array_append_new(clean_list, out);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < json_array_size(ek); j++)
            if (!strcmp(json_string_value(json_array_get(ek, j)), e.key))
                dup = true;
        if (dup) {
            json_decref(out);
            continue;
        }
        json_array_append_new(clean_list, out);
        json_array_append_new(ek, json_string(e.key));
    }
    json_object_set_new(rec, "emails", clean_list);
    json_object_set_new(keys, "emails", ek);

    /* phones: E.164 when valid for the source's country */
    json_t *pk = json_array();
    clean_list = json_array();
    json_array_foreach(json_object_get(rec, "phones"), i, item)
    {
        const char *v = sget(item, "value");
        const char *ptr = sget(item, "_ptr") ? sget(item, "_ptr") : "/phones";
        mdm_phone_norm ph;
        if (mdm_norm_phone(b->n, v, b->country, &ph, &err) != MDM_OK) {
            add_error(b, ptr, "phone", "is not valid UTF-8");
            continue;
        }
        json_t *out;
        if (!ph.valid) {
            add_issue(b, ptr, "phone", "is not a valid phone number (kept, not matched)");
            out = json_pack("{s:s, s:b}", "value", v, "valid", 0);
        } else {
            bool dup = false;
            for (size_t j = 0; j < json_array_size(pk); j++)
                if (!strcmp(json_string_value(json_array_get(pk, j)), ph.e164))
                    dup = true;
            if (dup)
                continue;
            out = json_pack("{s:s}", "value", ph.e164);
            if (ph.ext[0])
                json_object_set_new(out, "extension", json_string(ph.ext));
            json_array_append_new(pk, json_string(ph.e164));
        }
        if (json_object_get(item, "type"))
            json_object_set(out, "type", json_object_get(item, "type"));
        json_array_append_new(clean_list, out);
    }
    json_object_set_new(rec, "phones", clean_list);
    json_object_set_new(keys, "phones", pk);
}

static void normalize_addresses(canon_build *b, json_t *keys)
{
    json_t *rec = b->rec;
    mdm_err err;
    json_t *ak = json_array(), *clean_list = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(rec, "addresses"), i, item)
    {
        if (json_object_size(item) == 0)
            continue;
        char ptr[32];
        snprintf(ptr, sizeof ptr, "/addresses/%zu", i);
        const char *c = sget(item, "country");
        const char *code = c ? mdm_norm_country(c) : NULL;
        if (c && !code) {
            /* left out of the record and of matching (a postcode means nothing without
             * its country); the issue keeps the whole address for the steward */
            add_dropped(b, ptr, "address.country", "is not a known country (address left out)", c);
            json_object_set(json_array_get(b->issues, json_array_size(b->issues) - 1), "address",
                            item);
            continue;
        }
        mdm_address_norm an;
        if (mdm_norm_address(b->n, sget(item, "line1"), sget(item, "line2"), sget(item, "city"),
                             sget(item, "region"), sget(item, "postal_code"), code, b->country,
                             b->a, &an, &err) != MDM_OK) {
            add_error(b, ptr, "address", "is not valid UTF-8");
            continue;
        }
        json_t *out = json_deep_copy(item);
        json_object_set_new(out, "country", json_string(*an.country ? an.country : b->country));
        if (sget(item, "postal_code") && *an.postal_code)
            json_object_set_new(out, "postal_code", json_string(an.postal_code));
        if (!an.valid) {
            add_issue(b, ptr, "address", "postal code not valid for the country (kept)");
            json_object_set_new(out, "valid", json_false());
        }
        char pc[16];
        snprintf(pc, sizeof pc, "%s", an.postal_code);
        if (!strcmp(an.country, "US") && strlen(pc) > 5)
            pc[5] = '\0'; /* ZIP+4 matches its ZIP */
        json_array_append_new(ak, json_pack("{s:s, s:s, s:s}", "line1", an.line, "postal", pc,
                                            "country", *an.country ? an.country : b->country));
        json_array_append_new(clean_list, out);
    }
    json_object_set_new(rec, "addresses", clean_list);
    json_object_set_new(keys, "addresses", ak);
}

/* Normalizes the built record in place and fills "keys"; adds field errors (reject)
 * and issues (kept). */
static void normalize(canon_build *b)
{
    json_t *rec = b->rec;
    json_t *keys = json_object();

    const char *op = sget(rec, "op");
    if (op) {
        char *k = mdm_canon_text_key(b->n, op);
        if (!k || (strcmp(k, "upsert") != 0 && strcmp(k, "delete") != 0))
            add_error(b, ptr_for(b, "op"), "op", "must be upsert or delete");
        else
            json_object_set_new(rec, "op", json_string(k));
        free(k);
    }
    const char *sk = sget(rec, "source_key");
    if (!sk)
        add_error(b, ptr_for(b, "source_key"), "source_key", "is required");
    const char *upd = sget(rec, "source_updated_at");
    if (upd && !timestamp_ok(upd))
        add_error(b, ptr_for(b, "source_updated_at"), "source_updated_at",
                  "is not an ISO 8601 date-time");

    normalize_names(b, keys);
    normalize_dates(b, keys);
    const char *gender = sget(rec, "gender");
    if (gender) {
        const char *canon = canon_gender(b->n, gender);
        if (canon) {
            json_object_set_new(rec, "gender", json_string(canon));
            json_object_set_new(keys, "gender", json_string(canon));
        } else {
            add_issue(b, ptr_for(b, "gender"), "gender", "unknown value (dropped)");
            json_object_del(rec, "gender");
        }
    }
    normalize_contacts(b, keys);
    normalize_addresses(b, keys);

    static const char *const ids[] = {"loyalty_id", "customer_number", "tax_id", "national_id",
                                      NULL};
    for (size_t x = 0; ids[x]; x++) {
        const char *v = sget(rec, ids[x]);
        if (!v)
            continue;
        char *k = id_key(b->n, v);
        if (k && *k)
            json_object_set_new(keys, ids[x], json_string(k));
        free(k);
    }

    op = sget(rec, "op");
    bool del = op && !strcmp(op, "delete");
    if (!del && !json_object_get(keys, "last") && !json_object_get(keys, "first") &&
        json_array_size(json_object_get(keys, "emails")) == 0 &&
        json_array_size(json_object_get(keys, "phones")) == 0 &&
        !json_object_get(keys, "loyalty_id") && !json_object_get(keys, "tax_id") &&
        !json_object_get(keys, "national_id") && !json_object_get(keys, "customer_number"))
        add_error(b, "", "record", "has no name, e-mail, phone or identifier");
    json_object_set_new(rec, "keys", keys);
    if (json_array_size(b->issues))
        json_object_set(rec, "issues", b->issues);
    static const char *const empty_lists[] = {"consents", "emails", "phones", "addresses", NULL};
    for (size_t x = 0; empty_lists[x]; x++)
        if (json_array_size(json_object_get(rec, empty_lists[x])) == 0)
            json_object_del(rec, empty_lists[x]);
    if (json_object_size(json_object_get(rec, "attributes")) == 0)
        json_object_del(rec, "attributes");
}

mdm_status mdm_canonicalize(mdm_norm *n, const mdm_source_map *src, const char *default_country,
                            const mdm_limits *lim, const json_t *record, json_t **canonical,
                            json_t **errors, mdm_err *err)
{
    *canonical = NULL;
    *errors = NULL;
    if (!json_is_object(record))
        return mdm_err_set_field(err, MDM_EINVAL, "", "a record must be a JSON object");
    canon_build b = {0};
    b.n = n;
    b.a = mdm_arena_new(4096);
    b.rec = json_pack("{s:[], s:[], s:[], s:{}}", "emails", "phones", "addresses", "attributes");
    b.errors = json_array();
    b.issues = json_array();
    b.ptrs = json_object();
    b.country = src && src->default_country ? src->default_country
                : default_country           ? default_country
                                            : "US";
    b.lim = lim;
    b.family_first = src && src->family_first;
    b.month_first = mdm_source_month_first(src, b.country);
    const char *key = src && src->key ? src->key : "source_key";
    bool canonical_input =
        !src || src->ncols == 0 ||
        (json_object_get(record, "source_key") && !mdm_canon_lookup(record, key));
    if (src && src->key && !strcmp(src->key, "source_key") && src->ncols)
        canonical_input = false;
    if (canonical_input)
        from_canonical(&b, record);
    else
        from_mapping(&b, src, record);
    if (src && src->code)
        json_object_set_new(b.rec, "source", json_string(src->code));
    normalize(&b);
    mdm_arena_free(b.a);
    json_decref(b.issues);
    json_decref(b.ptrs);
    if (json_array_size(b.errors)) {
        *errors = b.errors;
        json_decref(b.rec);
        return MDM_OK;
    }
    json_decref(b.errors);
    *canonical = b.rec;
    return MDM_OK;
}

/* ---- the record without a document ---- */

#define DIRECT_MULTI 16
#define NSCALARS     (sizeof mdm_canon_scalars / sizeof mdm_canon_scalars[0] - 1)
enum { SC_SOURCE_KEY = 0, SC_FIRST = 3, SC_MIDDLE, SC_LAST, SC_FULL, SC_BIRTH = 9, SC_GENDER };
enum { AF_LINE1, AF_LINE2, AF_CITY, AF_REGION, AF_POSTAL, AF_COUNTRY, AF_TYPE, AF_COUNT };

/* What the mapping of one record gives, as set_target puts it into the document. */
typedef struct direct {
    char *sc[NSCALARS]; /* values of mdm_canon_scalars */
    char *emails[DIRECT_MULTI], *phones[DIRECT_MULTI];
    size_t n_emails, n_phones;
    char *addr[4][AF_COUNT]; /* values of mdm_canon_address_fields per address slot */
    char *attr_key[DIRECT_MULTI], *attr_val[DIRECT_MULTI];
    size_t n_attrs;
} direct;

static void direct_free(direct *d)
{
    for (size_t i = 0; i < NSCALARS; i++)
        free(d->sc[i]);
    for (size_t i = 0; i < d->n_emails; i++)
        free(d->emails[i]);
    for (size_t i = 0; i < d->n_phones; i++)
        free(d->phones[i]);
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < AF_COUNT; k++)
            free(d->addr[i][k]);
    for (size_t i = 0; i < d->n_attrs; i++)
        free(d->attr_val[i]);
}

static bool direct_over(const mdm_limits *lim, const char *target, size_t len)
{
    char buf[64];
    return len > mdm_limits_of(lim, limit_name(target, buf, sizeof buf));
}

/* Joins text (consumed) to *slot as set_target joins it; false (text freed) where
 * set_target would add an error. */
static bool direct_join(const mdm_limits *lim, const char *target, char **slot, char *text)
{
    if (!*slot) {
        if (direct_over(lim, target, strlen(text))) {
            free(text);
            return false;
        }
        *slot = text;
        return true;
    }
    size_t ls = strlen(*slot), lt = strlen(text);
    bool over = direct_over(lim, target, ls + 1 + lt);
    if (!over) { /* "%s %s" */
        *slot = mdm_xrealloc(*slot, ls + lt + 2);
        (*slot)[ls] = ' ';
        memcpy(*slot + ls + 1, text, lt + 1);
    }
    free(text);
    return !over;
}

/* set_target for the record filled directly: text is consumed. False where set_target
 * would add an error (or where the record cannot be filled directly). */
static bool direct_set(direct *d, const mdm_limits *lim, const char *target, char *text)
{
    if ((!strncmp(target, "email", 5) || !strncmp(target, "phone", 5)) &&
        (!target[5] || target[5] == ':')) {
        bool email = target[0] == 'e';
        size_t *n = email ? &d->n_emails : &d->n_phones;
        if (direct_over(lim, target, strlen(text)) || *n == DIRECT_MULTI) {
            free(text);
            return false;
        }
        (email ? d->emails : d->phones)[(*n)++] = text;
        return true;
    }
    if (!strncmp(target, "attributes.", 11)) {
        const char *key = target + 11;
        if (direct_over(lim, target, strlen(text))) {
            free(text);
            return false;
        }
        for (size_t i = 0; i < d->n_attrs; i++)
            if (!strcmp(d->attr_key[i], key)) { /* a second value replaces the first */
                free(d->attr_val[i]);
                d->attr_val[i] = text;
                return true;
            }
        if (d->n_attrs == DIRECT_MULTI) {
            free(text);
            return false;
        }
        d->attr_key[d->n_attrs] = (char *)key;
        d->attr_val[d->n_attrs++] = text;
        return true;
    }
    if (!strncmp(target, "address", 7)) {
        int idx = 0;
        const char *p = target + 7;
        if (*p >= '2' && *p <= '4')
            idx = *p++ - '1';
        for (size_t k = 0; k < AF_COUNT && *p == '.'; k++)
            if (!strcmp(p + 1, mdm_canon_address_fields[k]))
                return direct_join(lim, target, &d->addr[idx][k], text);
        free(text);
        return false;
    }
    for (size_t i = 0; i < NSCALARS; i++)
        if (target[0] == mdm_canon_scalars[i][0] && !strcmp(target, mdm_canon_scalars[i])) {
            if (i < 3) /* source_key, source_updated_at, op: only from their columns */
                break;
            return direct_join(lim, target, &d->sc[i], text);
        }
    free(text);
    return false;
}

static bool direct_has(void *ctx, const char *field)
{
    direct *d = ctx;
    for (size_t i = 0; i < NSCALARS; i++)
        if (!strcmp(field, mdm_canon_scalars[i]))
            return d->sc[i] != NULL;
    return false;
}

static void direct_put(void *ctx, const char *field, const char *value)
{
    direct *d = ctx;
    for (size_t i = 0; i < NSCALARS; i++)
        if (!strcmp(field, mdm_canon_scalars[i])) {
            free(d->sc[i]);
            d->sc[i] = mdm_xstrdup(value);
        }
}

/* A value as mdm_record_set stores it (trimmed; nothing when empty) into *slot, which is
 * empty: what mdm_canon_to_record does with each member. */
static void record_put(char **slot, const char *v)
{
    if (!v)
        return;
    size_t n = strlen(v);
    while (n && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    if (n)
        *slot = mdm_xstrndup(v, n);
}

static void record_contact(mdm_contact **arr, size_t *n, const char *v)
{
    char *val = NULL;
    record_put(&val, v);
    if (!val)
        return;
    *arr = mdm_xrealloc(*arr, (*n + 1) * sizeof **arr);
    (*arr)[*n].value = val;
    (*arr)[*n].type = NULL;
    (*n)++;
}

/* normalize() of the mapped values in d, straight into r (which mdm_canon_to_record
 * would give from the canonical document), *first_country the first address's country
 * (new string) or NULL. False where normalize() adds an error or the record has nothing
 * to match on: the caller then takes the document path, which refuses it. */
static bool direct_normalize(direct *d, mdm_norm *n, mdm_arena *a, const mdm_source_map *src,
                             const char *country, bool month_first, mdm_record *r,
                             char **first_country, mdm_address_norm *an0)
{
    mdm_err err;
    bool has_key = false;
    /* names (normalize_names) */
    const char *full = d->sc[SC_FULL];
    if (full && !d->sc[SC_FIRST] && !d->sc[SC_LAST]) {
        char *ff = src->family_first ? mdm_norm_family_first(full) : NULL;
        if (ff)
            full = mdm_arena_strdup(a, ff);
        free(ff);
        mdm_name_parts np;
        if (mdm_norm_name(n, full, a, &np, &err) != MDM_OK)
            return false;
        split_full_name(&(name_sink){direct_has, direct_put, d}, full);
        has_key = *np.first || *np.last;
    } else {
        for (size_t i = SC_FIRST; i <= SC_LAST; i++) {
            if (!d->sc[i])
                continue;
            char *k = mdm_canon_text_key(n, d->sc[i]);
            if (!k)
                return false;
            has_key |= i != SC_MIDDLE && *k;
            free(k);
        }
    }
    /* birth date and gender (normalize_dates, normalize) */
    if (d->sc[SC_BIRTH]) {
        char iso[32];
        bool ok = canon_birth_date(d->sc[SC_BIRTH], month_first, iso) == 0;
        free(d->sc[SC_BIRTH]);
        d->sc[SC_BIRTH] = ok ? mdm_xstrdup(iso) : NULL;
    }
    if (d->sc[SC_GENDER]) {
        const char *g = canon_gender(n, d->sc[SC_GENDER]);
        free(d->sc[SC_GENDER]);
        d->sc[SC_GENDER] = g ? mdm_xstrdup(g) : NULL;
    }
    /* e-mails (normalize_contacts): valid ones, the first of each key */
    const char *ekeys[DIRECT_MULTI];
    size_t nek = 0;
    for (size_t i = 0; i < d->n_emails; i++) {
        mdm_email_norm e;
        if (mdm_norm_email(n, d->emails[i], a, &e, &err) != MDM_OK)
            return false;
        if (!e.valid)
            continue;
        bool dup = false;
        for (size_t j = 0; j < nek; j++)
            dup |= !strcmp(ekeys[j], e.key);
        if (dup)
            continue;
        ekeys[nek++] = e.key;
        record_contact(&r->emails, &r->n_emails, e.display);
    }
    has_key |= nek > 0;
    /* phones: E.164 when valid, else as given; the first of each number */
    char pkeys[DIRECT_MULTI][sizeof(((mdm_phone_norm *)0)->e164)];
    size_t npk = 0;
    for (size_t i = 0; i < d->n_phones; i++) {
        mdm_phone_norm ph;
        if (mdm_norm_phone(n, d->phones[i], country, &ph, &err) != MDM_OK)
            return false;
        if (!ph.valid) {
            record_contact(&r->phones, &r->n_phones, d->phones[i]);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < npk; j++)
            dup |= !strcmp(pkeys[j], ph.e164);
        if (dup)
            continue;
        memcpy(pkeys[npk++], ph.e164, sizeof ph.e164);
        record_contact(&r->phones, &r->n_phones, ph.e164);
    }
    has_key |= npk > 0;
    /* addresses (normalize_addresses): those with a known country, in order */
    size_t kept = 0;
    for (size_t i = 0; i < 4; i++) {
        char **f = d->addr[i];
        bool used = false;
        for (size_t k = 0; k < AF_COUNT; k++)
            used |= f[k] != NULL;
        if (!used)
            continue;
        const char *code = f[AF_COUNTRY] ? mdm_norm_country(f[AF_COUNTRY]) : NULL;
        if (f[AF_COUNTRY] && !code)
            continue;
        mdm_address_norm an;
        if (mdm_norm_address(n, f[AF_LINE1], f[AF_LINE2], f[AF_CITY], f[AF_REGION], f[AF_POSTAL],
                             code, country, a, &an, &err) != MDM_OK)
            return false;
        mdm_address *ra = &r->addresses[kept];
        const char *cc = *an.country ? an.country : country;
        const char *pc = f[AF_POSTAL] && *an.postal_code ? an.postal_code : f[AF_POSTAL];
        const char *vals[] = {f[AF_LINE1], f[AF_LINE2], f[AF_CITY], f[AF_REGION], pc, cc};
        char **slots[] = {&ra->line1,  &ra->line2,       &ra->city,
                          &ra->region, &ra->postal_code, &ra->country};
        for (size_t k = 0; k < 6; k++) {
            record_put(slots[k], vals[k]);
            if (*slots[k])
                r->n_addresses = kept + 1;
        }
        if (kept == 0) {
            *first_country = mdm_xstrdup(cc);
            *an0 = an;
        }
        kept++;
    }
    /* identifiers: only whether one has a key */
    static const size_t ids[] = {11, 12, 13, 14}; /* loyalty_id ... national_id */
    for (size_t x = 0; x < 4 && !has_key; x++)
        if (d->sc[ids[x]]) {
            char *k = id_key(n, d->sc[ids[x]]);
            has_key = k && *k;
            free(k);
        }
    return has_key;
}

/* mdm_canon_record with scratch space a (the caller's) and *an0, the normalized first
 * address of r (strings in a), valid when r has an address. */
static bool direct_record(mdm_norm *n, const mdm_source_map *src, const char *default_country,
                          const mdm_limits *lim, const char *key, const char *const *values,
                          mdm_arena *a, mdm_record *r, char **first_country, mdm_address_norm *an0)
{
    mdm_record_init(r);
    *first_country = NULL;
    if (!src || !src->ncols || !src->key || !key)
        return false;
    /* the source's key, time and op columns are read only from their own columns */
    const char *upd = src->updated_at ? src->updated_at : "source_updated_at";
    const char *op = src->op ? src->op : "op";
    if (!strcmp(src->key, upd) || !strcmp(src->key, op) || !strcmp(upd, op))
        return false;
    for (size_t k = 0; k < src->ncols; k++) {
        const char *c = src->cols[k].column;
        if (!strcmp(c, src->key) || !strcmp(c, upd) || !strcmp(c, op))
            return false;
    }
    direct d = {0};
    bool ok = false;
    if (!*key || !mdm_norm_utf8_valid(key, strlen(key)))
        goto out_free;
    d.sc[SC_SOURCE_KEY] = mdm_canon_clean(key);
    if (!*d.sc[SC_SOURCE_KEY] || direct_over(lim, "source_key", strlen(d.sc[SC_SOURCE_KEY])))
        goto out_free;
    for (size_t k = 0; k < src->ncols; k++) {
        const char *v = values[k];
        if (!v || !*v)
            continue;
        if (!mdm_norm_utf8_valid(v, strlen(v)))
            goto out_free;
        char *t = mdm_canon_clean(v);
        if (!*t) {
            free(t);
            continue;
        }
        if (!direct_set(&d, lim, src->cols[k].field, t))
            goto out_free;
    }
    const char *country = src->default_country ? src->default_country
                          : default_country    ? default_country
                                               : "US";
    if (!direct_normalize(&d, n, a, src, country, mdm_source_month_first(src, country), r,
                          first_country, an0))
        goto out_free;
    /* mdm_canon_to_record's members: scalars, attributes (e-mails, phones and addresses
     * are in r already) */
    static const struct {
        size_t sc, off;
    } fields[] = {
#define F(i, f) {i, offsetof(mdm_record, f)}
        F(3, first_name),  F(4, middle_name),      F(5, last_name),  F(6, full_name),
        F(7, prefix),      F(8, suffix),           F(9, birth_date), F(10, gender),
        F(11, loyalty_id), F(12, customer_number), F(13, tax_id),    F(14, national_id),
#undef F
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        record_put((char **)((char *)r + fields[i].off), d.sc[fields[i].sc]);
    for (size_t i = 0; i < d.n_attrs; i++) {
        char *v = NULL;
        record_put(&v, d.attr_val[i]);
        if (!v || strlen(d.attr_key[i]) + 11 >= 160) {
            free(v);
            continue;
        }
        r->attributes = mdm_xrealloc(r->attributes, (r->n_attributes + 1) * sizeof *r->attributes);
        r->attributes[r->n_attributes].key = mdm_xstrdup(d.attr_key[i]);
        r->attributes[r->n_attributes++].value = v;
    }
    ok = true;
out_free:
    if (!ok) {
        mdm_record_clear(r);
        free(*first_country);
        *first_country = NULL;
    }
    direct_free(&d);
    return ok;
}

bool mdm_canon_record(mdm_norm *n, const mdm_source_map *src, const char *default_country,
                      const mdm_limits *lim, const char *key, const char *const *values,
                      mdm_record *r, char **first_country)
{
    mdm_arena *a = mdm_arena_new(4096);
    mdm_address_norm an0;
    bool ok = direct_record(n, src, default_country, lim, key, values, a, r, first_country, &an0);
    mdm_arena_free(a);
    return ok;
}

bool mdm_canon_row_features(const mdm_model *m, mdm_norm *n, const mdm_source_map *src,
                            const char *default_country, const mdm_limits *lim, const char *key,
                            const char *const *values, mdm_arena *a, mdm_feat *f)
{
    mdm_arena *scratch = mdm_arena_new(4096);
    mdm_record r;
    char *country;
    mdm_address_norm an0;
    bool ok = direct_record(n, src, default_country, lim, key, values, scratch, &r, &country, &an0);
    if (ok) {
        /* The features normalize the record's first address once more
         * (mdm_feat_build_with): the same street lines, city and region as an0, under the
         * country its stored country and the default give, and the stored postal code.
         * When that country is an0's, only the postal code is normalized again. */
        const mdm_address_norm *pre = NULL;
        if (r.n_addresses) {
            const mdm_address *ad = &r.addresses[0];
            const char *fc = country ? country : m->default_country;
            const char *dc = fc && *fc ? fc : "US";
            const char *cc = ad->country && *ad->country ? mdm_norm_country(ad->country) : NULL;
            if (!cc && *dc)
                cc = mdm_norm_country(dc);
            if (!strcmp(cc ? cc : "", an0.country)) {
                an0.postal_code = mdm_arena_strdup(scratch, "");
                if (ad->postal_code) {
                    mdm_buf pc = {0};
                    mdm_err perr;
                    /* kept whether valid or not, as mdm_norm_address keeps it */
                    if (mdm_norm_postal_code(ad->postal_code, cc, &pc, &perr) != MDM_OK)
                        perr.code = MDM_OK;
                    an0.postal_code = mdm_arena_strdup(scratch, pc.data ? pc.data : "");
                    mdm_buf_free(&pc);
                }
                pre = &an0;
            }
        }
        mdm_feat_build_addr(n, &r, country ? country : m->default_country, a, f,
                            mdm_canon_phone_key, NULL, pre);
        mdm_feat_build_attrs(m, n, &r, a, f);
    }
    mdm_record_clear(&r);
    free(country);
    mdm_arena_free(scratch);
    return ok;
}

/* ---- the engine's record ---- */

static void set_field(mdm_record *r, const char *path, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v))
        (void)mdm_record_set(r, path, json_string_value(v), NULL);
}

void mdm_canon_to_record(const json_t *c, mdm_record *r)
{
    static const char *const scalars[] = {
        "first_name", "middle_name", "last_name", "full_name",  "prefix",
        "suffix",     "birth_date",  "gender",    "loyalty_id", "customer_number",
        "tax_id",     "national_id", NULL};
    mdm_record_init(r);
    for (size_t i = 0; scalars[i]; i++)
        set_field(r, scalars[i], json_object_get(c, scalars[i]));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(c, "emails"), i, it)
    {
        if (!json_is_false(json_object_get(it, "valid")))
            set_field(r, "email", json_object_get(it, "value"));
    }
    json_array_foreach(json_object_get(c, "phones"), i, it)
    {
        set_field(r, "phone", json_object_get(it, "value"));
    }
    const char *ak;
    json_t *av;
    json_object_foreach((json_t *)json_object_get(c, "attributes"), ak, av)
    {
        char path[160];
        if (json_is_string(av) &&
            snprintf(path, sizeof path, "attributes.%s", ak) < (int)sizeof path)
            set_field(r, path, av);
    }
    json_array_foreach(json_object_get(c, "addresses"), i, it)
    {
        if (i >= MDM_RECORD_MAX_ADDRESSES)
            break;
        static const char *const af[] = {"line1",       "line2",   "city", "region",
                                         "postal_code", "country", NULL};
        for (size_t k = 0; af[k]; k++) {
            char path[32];
            if (i == 0)
                snprintf(path, sizeof path, "address.%s", af[k]);
            else
                snprintf(path, sizeof path, "address%zu.%s", i + 1, af[k]);
            set_field(r, path, json_object_get(it, af[k]));
        }
    }
}

const char *mdm_canon_phone_key(void *ctx, mdm_norm *norm, const char *raw, const char *country,
                                mdm_arena *a)
{
    (void)ctx;
    size_t len = strlen(raw);
    bool e164 = raw[0] == '+' && len >= 8 && len <= 16;
    for (size_t i = 1; e164 && i < len; i++)
        e164 = raw[i] >= '0' && raw[i] <= '9';
    return e164 ? mdm_arena_strdup(a, raw) : mdm_feat_phone_key(norm, raw, country, a);
}

void mdm_canon_record_features(const mdm_model *m, mdm_norm *norm, mdm_arena *a,
                               const mdm_record *rec, const char *country,
                               mdm_phone_key_fn phone_fn, void *phone_ctx, mdm_feat *f)
{
    mdm_feat_build_with(norm, rec, country ? country : m->default_country, a, f,
                        phone_fn ? phone_fn : mdm_canon_phone_key, phone_ctx);
    mdm_feat_build_attrs(m, norm, rec, a, f);
}

void mdm_canon_features(const mdm_model *m, mdm_norm *norm, mdm_arena *a, const json_t *canonical,
                        mdm_phone_key_fn phone_fn, void *phone_ctx, mdm_feat *f)
{
    mdm_record rec;
    mdm_canon_to_record(canonical, &rec);
    const json_t *addr = json_array_get(json_object_get(canonical, "addresses"), 0);
    const char *country = json_string_value(json_object_get(addr, "country"));
    mdm_canon_record_features(m, norm, a, &rec, country, phone_fn, phone_ctx, f);
    mdm_record_clear(&rec);
}
