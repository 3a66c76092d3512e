/* Reading a stored canonical record's text into the engine's record (see canon_text.h). */
#include "matching/canon_text.h"

#include "matching/canonical.h"
#include "matching/normalize.h"
#include "matching/strsim.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* jansson's nesting limit (JSON_PARSER_MAX_DEPTH): deeper texts fail to load there */
#define MAX_DEPTH 2048

typedef struct reader {
    const char *p, *end;
    mdm_buf s; /* the string just read, unescaped, NUL-terminated */
    int depth;
} reader;

static void ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Consumes c after blanks; false (nothing consumed but blanks) when the next byte is not c. */
static bool eat(reader *r, char c)
{
    ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static bool peek(reader *r, char c)
{
    ws(r);
    return r->p < r->end && *r->p == c;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static void put_utf8(mdm_buf *b, int32_t cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    mdm_buf_append(b, o, n);
}

/* A string at r->p (after blanks) into r->s, unescaped, as jansson reads it: no raw
 * control character, no \u0000, surrogates only in pairs. */
static bool read_string(reader *r)
{
    if (!eat(r, '"'))
        return false;
    mdm_buf_reset(&r->s);
    for (;;) {
        const char *q = r->p;
        while (q < r->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
            q++;
        mdm_buf_append(&r->s, r->p, (size_t)(q - r->p));
        r->p = q;
        if (q >= r->end || (unsigned char)*q < 0x20)
            return false;
        if (*q == '"') {
            r->p++;
            break;
        }
        /* an escape */
        if (r->end - q < 2)
            return false;
        char e = q[1];
        r->p = q + 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            mdm_buf_putc(&r->s, e);
            break;
        case 'b':
            mdm_buf_putc(&r->s, '\b');
            break;
        case 'f':
            mdm_buf_putc(&r->s, '\f');
            break;
        case 'n':
            mdm_buf_putc(&r->s, '\n');
            break;
        case 'r':
            mdm_buf_putc(&r->s, '\r');
            break;
        case 't':
            mdm_buf_putc(&r->s, '\t');
            break;
        case 'u': {
            if (r->end - r->p < 4)
                return false;
            int32_t cp = hex4(r->p);
            if (cp < 0)
                return false;
            r->p += 4;
            if (cp == 0)
                return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
                    return false;
                int lo = hex4(r->p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                r->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&r->s, cp);
            break;
        }
        default:
            return false;
        }
    }
    if (!r->s.data)
        mdm_buf_puts(&r->s, ""); /* an empty string still reads as "" */
    return true;
}

/* A number as jansson reads it: its grammar, and an integer that fits in long long or a
 * real that does not overflow. */
static bool read_number(reader *r)
{
    const char *s = r->p, *q = s;
    bool real = false;
    if (q < r->end && *q == '-')
        q++;
    if (q < r->end && *q == '0') {
        q++;
        if (q < r->end && *q >= '0' && *q <= '9')
            return false;
    } else if (q < r->end && *q >= '1' && *q <= '9') {
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return false;
    }
    if (q < r->end && *q == '.') {
        real = true;
        q++;
        if (q >= r->end || *q < '0' || *q > '9')
            return false;
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < r->end && (*q == 'e' || *q == 'E')) {
        real = true;
        q++;
        if (q < r->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= r->end || *q < '0' || *q > '9')
            return false;
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    }
    char buf[64];
    char *heap = NULL, *t = buf;
    size_t n = (size_t)(q - s);
    if (n >= sizeof buf)
        t = heap = mdm_xmalloc(n + 1);
    memcpy(t, s, n);
    t[n] = '\0';
    bool ok = true;
    errno = 0;
    if (!real) {
        (void)strtoll(t, NULL, 10);
        ok = errno != ERANGE;
    } else {
        double v = strtod(t, NULL);
        ok = !(errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL));
    }
    free(heap);
    r->p = q;
    return ok;
}

static bool skip_value(reader *r);

static bool skip_word(reader *r, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
        return false;
    r->p += n;
    return true;
}

/* Members of an object or items of an array, skipped; r->p after the opening bracket. */
static bool skip_rest(reader *r, bool object)
{
    if (eat(r, object ? '}' : ']'))
        return true;
    for (;;) {
        if (object && !(read_string(r) && eat(r, ':')))
            return false;
        if (!skip_value(r))
            return false;
        if (eat(r, ','))
            continue;
        return eat(r, object ? '}' : ']');
    }
}

static bool skip_value(reader *r)
{
    ws(r);
    if (r->p >= r->end)
        return false;
    switch (*r->p) {
    case '"':
        return read_string(r);
    case '{':
    case '[': {
        bool object = *r->p == '{';
        if (++r->depth > MAX_DEPTH)
            return false;
        r->p++;
        bool ok = skip_rest(r, object);
        r->depth--;
        return ok;
    }
    case 't':
        return skip_word(r, "true");
    case 'f':
        return skip_word(r, "false");
    case 'n':
        return skip_word(r, "null");
    default:
        return read_number(r);
    }
}

/* A value that is read when it is a string (*str set, the text in r->s), else skipped. */
static bool string_or_skip(reader *r, bool *str)
{
    *str = peek(r, '"');
    return *str ? read_string(r) : skip_value(r);
}

/* Sets field path of rec from r->s when it is a non-empty string, as set_field of
 * canonical.c (json_string_length > 0; mdm_record_set trims). */
static void set_from(mdm_record *rec, const char *path, const reader *r)
{
    if (r->s.len)
        (void)mdm_record_set(rec, path, r->s.data, NULL);
}

static bool is_scalar(const char *k)
{
    static const char *const scalars[] = {
        "first_name", "middle_name", "last_name", "full_name",  "prefix",
        "suffix",     "birth_date",  "gender",    "loyalty_id", "customer_number",
        "tax_id",     "national_id", NULL};
    for (size_t i = 0; scalars[i]; i++)
        if (!strcmp(k, scalars[i]))
            return true;
    return false;
}

/* The items of "emails" or "phones" (r->p at the value): each object's "value" when it
 * is a non-empty string and, for e-mails, "valid" is not false. */
static bool read_contacts(reader *r, mdm_record *rec, bool email)
{
    if (!peek(r, '['))
        return skip_value(r);
    r->p++;
    if (eat(r, ']'))
        return true;
    char *value = NULL;
    bool ok = false;
    r->depth++;
    for (;;) {
        if (!peek(r, '{')) {
            if (!skip_value(r))
                goto out;
        } else {
            r->p++;
            r->depth++;
            bool invalid = false;
            free(value);
            value = NULL;
            if (!eat(r, '}'))
                for (;;) {
                    if (!(read_string(r) && eat(r, ':')))
                        goto out;
                    bool str;
                    if (!strcmp(r->s.data, "value")) {
                        if (!string_or_skip(r, &str))
                            goto out;
                        free(value);
                        value = str && r->s.len ? mdm_xstrdup(r->s.data) : NULL;
                    } else if (!strcmp(r->s.data, "valid")) {
                        ws(r);
                        invalid = r->p < r->end && *r->p == 'f';
                        if (!skip_value(r))
                            goto out;
                    } else if (!skip_value(r)) {
                        goto out;
                    }
                    if (eat(r, ','))
                        continue;
                    if (!eat(r, '}'))
                        goto out;
                    break;
                }
            r->depth--;
            if (value && !(email && invalid))
                (void)mdm_record_set(rec, email ? "email" : "phone", value, NULL);
        }
        if (eat(r, ','))
            continue;
        ok = eat(r, ']');
        break;
    }
out:
    r->depth--;
    free(value);
    return ok;
}

static bool read_attributes(reader *r, mdm_record *rec)
{
    if (!peek(r, '{'))
        return skip_value(r);
    r->p++;
    if (eat(r, '}'))
        return true;
    mdm_buf path = {0};
    bool ok = false;
    r->depth++;
    for (;;) {
        if (!(read_string(r) && eat(r, ':')))
            break;
        mdm_buf_reset(&path);
        mdm_buf_puts(&path, "attributes.");
        mdm_buf_append(&path, r->s.data, r->s.len);
        bool str;
        if (!string_or_skip(r, &str))
            break;
        if (str && path.len < 160) /* canonical.c's path buffer */
            set_from(rec, path.data, r);
        if (eat(r, ','))
            continue;
        ok = eat(r, '}');
        break;
    }
    r->depth--;
    mdm_buf_free(&path);
    return ok;
}

static bool read_addresses(reader *r, mdm_canon_text *out)
{
    static const char *const af[] = {"line1",       "line2",   "city", "region",
                                     "postal_code", "country", NULL};
    if (!peek(r, '['))
        return skip_value(r);
    r->p++;
    if (eat(r, ']'))
        return true;
    r->depth++;
    for (size_t i = 0;; i++) {
        if (i >= MDM_RECORD_MAX_ADDRESSES || !peek(r, '{')) {
            if (!skip_value(r))
                return false;
        } else {
            r->p++;
            r->depth++;
            if (!eat(r, '}'))
                for (;;) {
                    if (!(read_string(r) && eat(r, ':')))
                        return false;
                    int k = -1;
                    for (int x = 0; af[x]; x++)
                        if (!strcmp(r->s.data, af[x]))
                            k = x;
                    if (k < 0) {
                        if (!skip_value(r))
                            return false;
                    } else {
                        bool str;
                        if (!string_or_skip(r, &str))
                            return false;
                        if (str && i == 0 && !strcmp(af[k], "country")) {
                            free(out->country);
                            out->country = mdm_xstrdup(r->s.data);
                        }
                        if (str) {
                            char path[32];
                            if (i == 0)
                                snprintf(path, sizeof path, "address.%s", af[k]);
                            else
                                snprintf(path, sizeof path, "address%zu.%s", i + 1, af[k]);
                            set_from(&out->rec, path, r);
                        }
                    }
                    if (eat(r, ','))
                        continue;
                    if (!eat(r, '}'))
                        return false;
                    break;
                }
            r->depth--;
        }
        if (eat(r, ','))
            continue;
        r->depth--;
        return eat(r, ']');
    }
}

/* The top-level object's members; r->p after its '{'. */
static bool read_top(reader *r, mdm_canon_text *out)
{
    if (eat(r, '}'))
        return true;
    char key[32];
    for (;;) {
        if (!(read_string(r) && eat(r, ':')))
            return false;
        /* the members read here have short names; a longer one is skipped */
        if (r->s.len < sizeof key)
            memcpy(key, r->s.data, r->s.len + 1);
        else
            key[0] = '\0'; /* no member read here */
        bool ok;
        if (is_scalar(key)) {
            bool str;
            ok = string_or_skip(r, &str);
            if (ok && str)
                set_from(&out->rec, key, r);
        } else if (!strcmp(key, "emails") || !strcmp(key, "phones")) {
            ok = read_contacts(r, &out->rec, key[0] == 'e');
        } else if (!strcmp(key, "attributes")) {
            ok = read_attributes(r, &out->rec);
        } else if (!strcmp(key, "addresses")) {
            ok = read_addresses(r, out);
        } else if (!strcmp(key, "consents")) {
            out->consents = peek(r, '[');
            ok = skip_value(r);
            if (ok && out->consents) {
                /* non-empty: something between the brackets */
                const char *q = r->p - 2;
                while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                    q--;
                out->consents = *q != '[';
            }
        } else {
            ok = skip_value(r);
        }
        if (!ok)
            return false;
        if (eat(r, ','))
            continue;
        return eat(r, '}');
    }
}

void mdm_canon_text_clear(mdm_canon_text *t)
{
    mdm_record_clear(&t->rec);
    free(t->country);
    t->country = NULL;
    t->consents = false;
}

bool mdm_canon_text_record(const char *text, mdm_canon_text *out)
{
    memset(out, 0, sizeof *out);
    mdm_record_init(&out->rec);
    if (!text)
        return false;
    size_t len = strlen(text);
    reader r = {.p = text, .end = text + len};
    bool ok = mdm_norm_utf8_valid(text, len);
    if (ok) {
        ws(&r);
        if (peek(&r, '{')) {
            r.p++;
            r.depth = 1;
            ok = read_top(&r, out);
        } else {
            /* an array loads too, and gives an empty record; anything else does not */
            ok = peek(&r, '[') && skip_value(&r);
        }
        ws(&r);
        ok = ok && r.p == r.end;
    }
    mdm_buf_free(&r.s);
    if (!ok)
        mdm_canon_text_clear(out);
    return ok;
}

bool mdm_canon_text_features(const mdm_model *m, mdm_norm *norm, mdm_arena *a, const char *text,
                             mdm_phone_key_fn phone_fn, void *phone_ctx, mdm_feat *f,
                             bool *consents)
{
    if (consents)
        *consents = false;
    if (!mdm_strsim_enabled()) { /* the document path, for differential tests */
        json_t *canon = text ? json_loads(text, 0, NULL) : NULL;
        if (!canon)
            return false;
        if (consents)
            *consents = json_array_size(json_object_get(canon, "consents")) > 0;
        if (m)
            mdm_canon_features(m, norm, a, canon, phone_fn, phone_ctx, f);
        json_decref(canon);
        return true;
    }
    mdm_canon_text t;
    if (!mdm_canon_text_record(text, &t))
        return false;
    if (consents)
        *consents = t.consents;
    if (m)
        mdm_canon_record_features(m, norm, a, &t.rec, t.country, phone_fn, phone_ctx, f);
    mdm_canon_text_clear(&t);
    return true;
}
