/* Canonical records, the CSV reader and source column mappings (see record.h). */
#include "matching/record.h"

#include "common/io.h"
#include "common/jsonin.h"
#include "common/mem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- canonical record ---- */

void mdm_record_init(mdm_record *r)
{
    memset(r, 0, sizeof *r);
}

static void free_address(mdm_address *a)
{
    free(a->type);
    free(a->line1);
    free(a->line2);
    free(a->city);
    free(a->region);
    free(a->postal_code);
    free(a->country);
}

void mdm_record_clear(mdm_record *r)
{
    char **scalars[] = {&r->source,      &r->source_key,      &r->source_updated_at,
                        &r->op,          &r->first_name,      &r->middle_name,
                        &r->last_name,   &r->full_name,       &r->prefix,
                        &r->suffix,      &r->birth_date,      &r->gender,
                        &r->loyalty_id,  &r->customer_number, &r->tax_id,
                        &r->national_id, &r->account_status,  &r->segment};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        free(*scalars[i]);
    for (size_t i = 0; i < r->n_emails; i++) {
        free(r->emails[i].value);
        free(r->emails[i].type);
    }
    free(r->emails);
    for (size_t i = 0; i < r->n_phones; i++) {
        free(r->phones[i].value);
        free(r->phones[i].type);
    }
    free(r->phones);
    for (size_t i = 0; i < MDM_RECORD_MAX_ADDRESSES; i++)
        free_address(&r->addresses[i]);
    for (size_t i = 0; i < r->n_attributes; i++) {
        free(r->attributes[i].key);
        free(r->attributes[i].value);
    }
    free(r->attributes);
    for (size_t i = 0; i < r->n_consents; i++) {
        mdm_consent *c = &r->consents[i];
        free(c->purpose);
        free(c->channel);
        free(c->status);
        free(c->captured_at);
        free(c->expires_at);
        free(c->lawful_basis);
        free(c->evidence);
    }
    free(r->consents);
    memset(r, 0, sizeof *r);
}

static char **scalar_slot(mdm_record *r, const char *f)
{
    static const struct {
        const char *name;
        size_t off;
    } tab[] = {
#define S(n) {#n, offsetof(mdm_record, n)}
        S(source),      S(source_key),      S(source_updated_at),
        S(op),          S(first_name),      S(middle_name),
        S(last_name),   S(full_name),       S(prefix),
        S(suffix),      S(birth_date),      S(gender),
        S(loyalty_id),  S(customer_number), S(tax_id),
        S(national_id), S(account_status),  S(segment),
#undef S
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(tab[i].name, f) == 0)
            return (char **)((char *)r + tab[i].off);
    return NULL;
}

static char **address_slot(mdm_address *a, const char *f)
{
    if (strcmp(f, "line1") == 0)
        return &a->line1;
    if (strcmp(f, "line2") == 0)
        return &a->line2;
    if (strcmp(f, "city") == 0)
        return &a->city;
    if (strcmp(f, "region") == 0)
        return &a->region;
    if (strcmp(f, "postal_code") == 0)
        return &a->postal_code;
    if (strcmp(f, "country") == 0)
        return &a->country;
    if (strcmp(f, "type") == 0)
        return &a->type;
    return NULL;
}

/* Parses "address.X" / "addressN.X"; returns the address index or -1, *rest = X. */
static int address_index(const char *f, const char **rest)
{
    if (strncmp(f, "address", 7) != 0)
        return -1;
    const char *p = f + 7;
    int idx = 0;
    if (*p >= '2' && *p <= '0' + MDM_RECORD_MAX_ADDRESSES) {
        idx = *p - '1';
        p++;
    }
    if (*p != '.')
        return -1;
    *rest = p + 1;
    return idx;
}

static void join_into(char **slot, const char *v, size_t n)
{
    if (!*slot) {
        *slot = mdm_xstrndup(v, n);
        return;
    }
    size_t old = strlen(*slot);
    *slot = mdm_xrealloc(*slot, old + n + 2);
    (*slot)[old] = ' ';
    memcpy(*slot + old + 1, v, n);
    (*slot)[old + 1 + n] = 0;
}

static mdm_contact *append_contact(mdm_contact **arr, size_t *n)
{
    *arr = mdm_xrealloc(*arr, (*n + 1) * sizeof **arr);
    mdm_contact *c = &(*arr)[(*n)++];
    c->value = c->type = NULL;
    return c;
}

static mdm_status record_set(mdm_record *r, const char *f, const char *v, size_t n, bool check_only)
{
    char **slot = NULL;
    const char *rest;
    int ai;
    if ((slot = scalar_slot(r, f))) {
        if (!check_only)
            join_into(slot, v, n);
        return MDM_OK;
    }
    if (strcmp(f, "email") == 0 || strncmp(f, "email:", 6) == 0 || strcmp(f, "phone") == 0 ||
        strncmp(f, "phone:", 6) == 0) {
        if (check_only)
            return MDM_OK;
        bool email = f[0] == 'e';
        mdm_contact *c = email ? append_contact(&r->emails, &r->n_emails)
                               : append_contact(&r->phones, &r->n_phones);
        c->value = mdm_xstrndup(v, n);
        const char *colon = strchr(f, ':');
        if (colon && colon[1])
            c->type = mdm_xstrdup(colon + 1);
        return MDM_OK;
    }
    if ((ai = address_index(f, &rest)) >= 0) {
        mdm_address *a = &r->addresses[ai];
        slot = address_slot(a, rest);
        if (!slot)
            return MDM_EINVAL;
        if (!check_only) {
            join_into(slot, v, n);
            if ((size_t)ai + 1 > r->n_addresses)
                r->n_addresses = (size_t)ai + 1;
        }
        return MDM_OK;
    }
    if (strncmp(f, "attributes.", 11) == 0 && f[11]) {
        if (check_only)
            return MDM_OK;
        for (size_t i = 0; i < r->n_attributes; i++)
            if (strcmp(r->attributes[i].key, f + 11) == 0) {
                join_into(&r->attributes[i].value, v, n);
                return MDM_OK;
            }
        r->attributes = mdm_xrealloc(r->attributes, (r->n_attributes + 1) * sizeof *r->attributes);
        r->attributes[r->n_attributes].key = mdm_xstrdup(f + 11);
        r->attributes[r->n_attributes].value = mdm_xstrndup(v, n);
        r->n_attributes++;
        return MDM_OK;
    }
    return MDM_EINVAL;
}

static void trim(const char **v, size_t *n)
{
    const char *s = *v;
    size_t len = *n;
    while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        len--;
    }
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    *v = s;
    *n = len;
}

mdm_status mdm_record_set(mdm_record *r, const char *field, const char *value, mdm_err *err)
{
    if (!field || record_set(r, field, "", 0, true) != MDM_OK)
        return mdm_err_set(err, MDM_EINVAL, "unknown record field \"%s\"", field ? field : "");
    if (!value)
        return MDM_OK;
    size_t n = strlen(value);
    trim(&value, &n);
    if (n == 0)
        return MDM_OK;
    return record_set(r, field, value, n, false);
}

bool mdm_record_field_valid(const char *field)
{
    mdm_record dummy;
    mdm_record_init(&dummy);
    return field && record_set(&dummy, field, "", 0, true) == MDM_OK;
}

/* ---- CSV reader ---- */

struct mdm_csv {
    char *name;
    char *data; /* whole file, NUL-terminated */
    size_t len, pos;
    long line;     /* line of pos */
    long row_line; /* line where the current row started */
    char **header;
    size_t ncols;
    mdm_buf field_buf; /* field texts of the current row, NUL-separated */
    size_t *field_off; /* offsets into field_buf */
    size_t nfields, cap_fields;
};

/* Parses one row starting at c->pos into field_buf/field_off. Returns 1 on a row, 0 at
 * EOF, -1 on an unterminated quote. */
static int parse_row(mdm_csv *c)
{
    const char *d = c->data;
    size_t p = c->pos;
    /* skip blank lines */
    for (;;) {
        if (p >= c->len) {
            c->pos = p;
            return 0;
        }
        if (d[p] == '\n') {
            p++;
            c->line++;
        } else if (d[p] == '\r' && p + 1 < c->len && d[p + 1] == '\n') {
            p += 2;
            c->line++;
        } else {
            /* a line of only blanks is blank too */
            size_t q = p;
            while (q < c->len && (d[q] == ' ' || d[q] == '\t'))
                q++;
            if (q < c->len && d[q] != '\n' && d[q] != '\r')
                break;
            if (q >= c->len) {
                c->pos = q;
                return 0;
            }
            p = q;
            if (d[p] == '\r' && !(p + 1 < c->len && d[p + 1] == '\n'))
                break;
        }
    }
    c->row_line = c->line;
    mdm_buf_reset(&c->field_buf);
    c->nfields = 0;
    for (;;) {
        /* one field */
        if (c->nfields == c->cap_fields) {
            c->cap_fields = c->cap_fields ? 2 * c->cap_fields : 16;
            c->field_off = mdm_xrealloc(c->field_off, c->cap_fields * sizeof *c->field_off);
        }
        c->field_off[c->nfields++] = c->field_buf.len;
        while (p < c->len && (d[p] == ' ' || d[p] == '\t'))
            p++;
        if (p < c->len && d[p] == '"') {
            p++;
            for (;;) {
                if (p >= c->len)
                    return -1;
                if (d[p] == '"') {
                    if (p + 1 < c->len && d[p + 1] == '"') {
                        mdm_buf_putc(&c->field_buf, '"');
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (d[p] == '\n')
                    c->line++;
                mdm_buf_putc(&c->field_buf, d[p]);
                p++;
            }
            /* text after the closing quote up to the delimiter is kept (lenient) */
            size_t s = p;
            while (p < c->len && d[p] != ',' && d[p] != '\n' && d[p] != '\r')
                p++;
            const char *t = d + s;
            size_t n = p - s;
            trim(&t, &n);
            if (n)
                mdm_buf_append(&c->field_buf, t, n);
        } else {
            size_t s = p;
            while (p < c->len && d[p] != ',' && d[p] != '\n' && d[p] != '\r')
                p++;
            const char *t = d + s;
            size_t n = p - s;
            trim(&t, &n);
            mdm_buf_append(&c->field_buf, t, n);
        }
        mdm_buf_putc(&c->field_buf, 0);
        if (p < c->len && d[p] == ',') {
            p++;
            continue;
        }
        /* end of record */
        if (p < c->len && d[p] == '\r')
            p++;
        if (p < c->len && d[p] == '\n')
            p++;
        c->line++;
        break;
    }
    c->pos = p;
    return 1;
}

static void skip_line(mdm_csv *c)
{
    while (c->pos < c->len && c->data[c->pos] != '\n')
        c->pos++;
    if (c->pos < c->len) {
        c->pos++;
        c->line++;
    }
}

static mdm_csv *csv_start(char *data, size_t len, const char *name, mdm_err *err)
{
    mdm_csv *c = mdm_xcalloc(1, sizeof *c);
    c->name = mdm_xstrdup(name);
    c->data = data;
    c->len = len;
    c->line = 1;
    if (len >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
        (unsigned char)data[2] == 0xBF)
        c->pos = 3;
    int rc = parse_row(c);
    if (rc <= 0) {
        mdm_err_set(err, MDM_EINVAL, "%s: %s", name,
                    rc == 0 ? "empty file, no header row" : "unterminated quote in header");
        mdm_csv_close(c);
        return NULL;
    }
    c->ncols = c->nfields;
    c->header = mdm_xcalloc(c->ncols, sizeof *c->header);
    for (size_t i = 0; i < c->ncols; i++) {
        c->header[i] = mdm_xstrdup(c->field_buf.data + c->field_off[i]);
        if (!c->header[i][0]) {
            mdm_err_set(err, MDM_EINVAL, "%s:1: header column %zu is empty", name, i + 1);
            mdm_csv_close(c);
            return NULL;
        }
    }
    return c;
}

/* Fault hook (mdm_csv_fail_after): counts the reader's reads and buffer growths. */
static atomic_long csv_fail_countdown;

void mdm_csv_fail_after(long n)
{
    atomic_store(&csv_fail_countdown, n);
}

static bool csv_injected(void)
{
    return atomic_load(&csv_fail_countdown) > 0 && atomic_fetch_sub(&csv_fail_countdown, 1) == 1;
}

mdm_csv *mdm_csv_open(const char *path, mdm_err *err)
{
    FILE *f = mdm_io_open(path, "rb"); /* "-": standard input */
    if (!f) {
        mdm_err_set(err, MDM_EIO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    /* The file buffer is the one allocation that grows with the input: its failure is
     * an error for the caller, not an abort (unlike the small mdm_x* allocations). */
    char *data = NULL, tmp[65536];
    size_t len = 0, cap = 0, n;
    for (;;) {
        bool injected = csv_injected();
        n = injected ? 0 : fread(tmp, 1, sizeof tmp, f);
        if (n == 0) {
            if (injected || ferror(f)) {
                mdm_err_set(err, MDM_EIO, "cannot read %s: %s", path,
                            strerror(injected || !errno ? EIO : errno));
                goto fail;
            }
            break;
        }
        if (len + n + 1 > cap) {
            size_t ncap = cap ? cap : sizeof tmp;
            while (ncap < len + n + 1)
                ncap *= 2;
            char *p = csv_injected() ? NULL : realloc(data, ncap);
            if (!p) {
                mdm_err_set(err, MDM_EIO, "cannot read %s: out of memory after %zu bytes", path,
                            len);
                goto fail;
            }
            data = p;
            cap = ncap;
        }
        memcpy(data + len, tmp, n);
        len += n;
    }
    mdm_io_close(f);
    if (!data)
        data = mdm_xmalloc(1);
    data[len] = 0;
    return csv_start(data, len, path, err);
fail:
    mdm_io_close(f);
    free(data);
    return NULL;
}

mdm_csv *mdm_csv_open_mem(const char *data, size_t len, const char *name, mdm_err *err)
{
    char *copy = mdm_xmalloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = 0;
    return csv_start(copy, len, name, err);
}

void mdm_csv_close(mdm_csv *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->header && i < c->ncols; i++)
        free(c->header[i]);
    free(c->header);
    free(c->name);
    free(c->data);
    free(c->field_off);
    mdm_buf_free(&c->field_buf);
    free(c);
}

size_t mdm_csv_ncols(const mdm_csv *c)
{
    return c->ncols;
}

const char *mdm_csv_colname(const mdm_csv *c, size_t i)
{
    return i < c->ncols ? c->header[i] : NULL;
}

int mdm_csv_col(const mdm_csv *c, const char *name)
{
    for (size_t i = 0; i < c->ncols; i++)
        if (strcmp(c->header[i], name) == 0)
            return (int)i;
    return -1;
}

int mdm_csv_next(mdm_csv *c, mdm_err *err)
{
    size_t start = c->pos;
    long start_line = c->line;
    int rc = parse_row(c);
    if (rc == 0)
        return 0;
    if (rc < 0) {
        mdm_err_set(err, MDM_EINVAL, "%s:%ld: unterminated quoted field", c->name, c->row_line);
        /* resume after the line where the row started */
        c->pos = start;
        c->line = start_line;
        while (c->pos < c->len && (c->data[c->pos] == '\n' || c->data[c->pos] == '\r')) {
            if (c->data[c->pos] == '\n')
                c->line++;
            c->pos++;
        }
        skip_line(c);
        return -1;
    }
    if (c->nfields != c->ncols) {
        mdm_err_set(err, MDM_EINVAL, "%s:%ld: expected %zu fields, got %zu", c->name, c->row_line,
                    c->ncols, c->nfields);
        return -1;
    }
    return 1;
}

const char *mdm_csv_field(const mdm_csv *c, size_t i)
{
    return i < c->nfields ? c->field_buf.data + c->field_off[i] : "";
}

long mdm_csv_line(const mdm_csv *c)
{
    return c->row_line;
}

const char *mdm_csv_name(const mdm_csv *c)
{
    return c->name;
}

void mdm_csv_quote(mdm_buf *b, const char *v)
{
    if (!v)
        return;
    size_t n = strlen(v);
    bool q = n && (v[0] == ' ' || v[n - 1] == ' ' || v[0] == '\t' || v[n - 1] == '\t');
    if (!q && strpbrk(v, ",\"\r\n") == NULL) {
        mdm_buf_append(b, v, n);
        return;
    }
    mdm_buf_putc(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            mdm_buf_putc(b, '"');
        mdm_buf_putc(b, *p);
    }
    mdm_buf_putc(b, '"');
}

/* ---- source definitions ---- */

void mdm_source_map_clear(mdm_source_map *m)
{
    free(m->code);
    free(m->name);
    free(m->kind);
    free(m->default_country);
    free(m->key);
    free(m->updated_at);
    free(m->op);
    free(m->match);
    json_decref(m->trust);
    for (size_t i = 0; i < m->ncols; i++) {
        free(m->cols[i].column);
        free(m->cols[i].field);
    }
    free(m->cols);
    memset(m, 0, sizeof *m);
}

/* Optional non-empty string member, copied. */
static bool opt_string(const mdm_jin *in, const char *key, char **out)
{
    const char *v = NULL;
    if (!mdm_jin_string(in, key, 0, &v))
        return false;
    if (v && !*v) {
        mdm_jin_fail(in, key, "a non-empty string");
        return false;
    }
    if (v)
        *out = mdm_xstrdup(v);
    return true;
}

static bool code_valid(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n > 32 || !(c[0] >= 'a' && c[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_'))
            return false;
    return true;
}

bool mdm_source_target_valid(const char *t)
{
    if (!t || !strcmp(t, "source") || !mdm_record_field_valid(t))
        return false;
    if (!strncmp(t, "email:", 6) || !strncmp(t, "phone:", 6))
        return t[6] != '\0' && strlen(t + 6) <= 32;
    if (!strncmp(t, "attributes.", 11))
        return strlen(t + 11) <= 64;
    return true;
}

static mdm_status parse_source(mdm_source_map *m, json_t *obj, size_t i, mdm_source_use use,
                               mdm_err *err)
{
    static const char *const known[] = {"code",         "name",       "kind",  "default_country",
                                        "date_order",   "name_order", "key",   "updated_at",
                                        "op",           "mapping",    "trust", "match",
                                        "deduplicated", "comment",    NULL};
    /* the former link dialect: each key and the key that replaced it */
    static const char *const renamed[][2] = {{"record_id", "key"}, {"columns", "mapping"}};
    static const char *const kinds[] = {"crm", "loyalty", "commerce", "erp", "pos", "other", NULL};
    static const char *const date_orders[] = {"mdy", "dmy", NULL};
    static const char *const name_orders[] = {"given_first", "family_first", NULL};
    char name[32];
    snprintf(name, sizeof name, "sources[%zu]", i);
    mdm_jin in, trust, mapping;
    if (!mdm_jin_open(&in, obj, name, MDM_EINVAL, err))
        return MDM_EINVAL;
    if (!in.obj)
        return mdm_jin_fail(&in, NULL, "an object");
    for (size_t r = 0; r < sizeof renamed / sizeof renamed[0]; r++)
        if (json_object_get(in.obj, renamed[r][0]))
            return mdm_jin_fail(&in, renamed[r][0], "renamed to %s", renamed[r][1]);
    if (!mdm_jin_known(&in, known))
        return MDM_EINVAL;
    if (json_object_get(in.obj, "name") && !json_object_get(in.obj, "code"))
        return mdm_jin_fail(&in, "name",
                            "renamed to code (name is the display name beside a code)");
    if (!opt_string(&in, "code", &m->code) || !opt_string(&in, "name", &m->name) ||
        !opt_string(&in, "default_country", &m->default_country) ||
        !opt_string(&in, "key", &m->key) || !opt_string(&in, "updated_at", &m->updated_at) ||
        !opt_string(&in, "op", &m->op) || !opt_string(&in, "match", &m->match))
        return MDM_EINVAL;
    if (m->code ? !code_valid(m->code) : use == MDM_SOURCE_SERVICE)
        return mdm_jin_fail(&in, "code", "a code matching ^[a-z][a-z0-9_]{0,31}$");
    int kind = -1, date_order = -1, name_order = -1;
    if (!mdm_jin_choice(&in, "kind", kinds, &kind) ||
        !mdm_jin_choice(&in, "date_order", date_orders, &date_order) ||
        !mdm_jin_choice(&in, "name_order", name_orders, &name_order) ||
        !mdm_jin_bool(&in, "deduplicated", &m->deduplicated))
        return MDM_EINVAL;
    if (kind >= 0)
        m->kind = mdm_xstrdup(kinds[kind]);
    m->date_order = date_order >= 0 ? date_orders[date_order][0] : 0;
    m->family_first = name_order == 1;
    const char *dc = m->default_country;
    if (dc &&
        (strlen(dc) != 2 || !(dc[0] >= 'A' && dc[0] <= 'Z') || !(dc[1] >= 'A' && dc[1] <= 'Z')))
        return mdm_jin_fail(&in, "default_country", "an ISO 3166-1 alpha-2 code");
    if (!mdm_jin_member(&trust, &in, "trust"))
        return MDM_EINVAL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)trust.obj, key, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
            return mdm_jin_fail(&trust, key, "an integer from 0 to 100");
    }
    m->trust = trust.obj ? json_deep_copy(trust.obj) : NULL;
    if (use == MDM_SOURCE_LINK && !m->key)
        return mdm_jin_fail(&in, "key", "given (the column of the record key)");
    if (!mdm_jin_member(&mapping, &in, "mapping"))
        return MDM_EINVAL;
    if (!mapping.obj && use == MDM_SOURCE_LINK)
        return mdm_jin_fail(&in, "mapping", "an object {column: field}");
    m->cols = mdm_xcalloc(json_object_size(mapping.obj) + 1, sizeof *m->cols);
    json_object_foreach((json_t *)mapping.obj, key, v)
    {
        if (!*key)
            return mdm_jin_fail(&in, "mapping", "free of empty column names");
        if (!json_is_string(v) || !mdm_source_target_valid(json_string_value(v)))
            return mdm_jin_fail(&mapping, key, "a canonical field path");
        m->cols[m->ncols].column = mdm_xstrdup(key);
        m->cols[m->ncols].field = mdm_xstrdup(json_string_value(v));
        m->ncols++;
    }
    return MDM_OK;
}

mdm_status mdm_source_map_parse(mdm_source_map *m, json_t *obj, size_t index, mdm_source_use use,
                                mdm_err *err)
{
    memset(m, 0, sizeof *m);
    mdm_status st = parse_source(m, obj, index, use, err);
    if (st != MDM_OK)
        mdm_source_map_clear(m);
    return st;
}

json_t *mdm_source_map_json(const mdm_source_map *m)
{
    json_t *o = json_object();
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
#define S(k, f) {k, offsetof(mdm_source_map, f)}
        S("code", code),
        S("name", name),
        S("kind", kind),
        S("default_country", default_country),
        S("match", match),
        S("key", key),
        S("updated_at", updated_at),
        S("op", op),
#undef S
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *v = *(char *const *)((const char *)m + strs[i].off);
        if (v)
            json_object_set_new(o, strs[i].key, json_string(v));
    }
    json_object_set_new(o, "deduplicated", json_boolean(m->deduplicated));
    if (m->date_order)
        json_object_set_new(o, "date_order", json_string(m->date_order == 'm' ? "mdy" : "dmy"));
    if (m->family_first)
        json_object_set_new(o, "name_order", json_string("family_first"));
    if (m->trust)
        json_object_set_new(o, "trust", json_deep_copy(m->trust));
    json_t *cols = json_object();
    for (size_t i = 0; i < m->ncols; i++)
        json_object_set_new(cols, m->cols[i].column, json_string(m->cols[i].field));
    json_object_set_new(o, "mapping", cols);
    return o;
}

bool mdm_source_month_first(const mdm_source_map *m, const char *country)
{
    if (m && m->date_order)
        return m->date_order == 'm';
    const char *cc = m && m->default_country ? m->default_country : country;
    return cc && !strcmp(cc, "US");
}

mdm_status mdm_source_map_bind(const mdm_source_map *m, const mdm_csv *c, int *colidx, int *id_col,
                               mdm_err *err)
{
    *id_col = mdm_csv_col(c, m->key);
    if (*id_col < 0)
        return mdm_err_set(err, MDM_EINVAL, "%s: no key column \"%s\" in the header",
                           mdm_csv_name(c), m->key);
    /* a mapped column the file does not have reads as empty, as a JSON record without
     * that member does in mdm load */
    for (size_t i = 0; i < m->ncols; i++)
        colidx[i] = mdm_csv_col(c, m->cols[i].column);
    return MDM_OK;
}

void mdm_record_from_row(mdm_record *r, const mdm_source_map *m, const int *colidx, int id_col,
                         const char *source_name, const mdm_csv *c)
{
    mdm_record_clear(r);
    r->source = mdm_xstrdup(source_name);
    r->source_key = mdm_xstrdup(mdm_csv_field(c, (size_t)id_col));
    for (size_t i = 0; i < m->ncols; i++)
        if (colidx[i] >= 0)
            mdm_record_set(r, m->cols[i].field, mdm_csv_field(c, (size_t)colidx[i]), NULL);
}

/* ---- string interning ---- */

uint64_t mdm_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ (seed * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

struct mdm_intern {
    mdm_arena *arena;
    char **strs;
    uint32_t *lens;
    size_t n, cap;
    uint32_t *slots; /* id + 1, 0 empty */
    size_t nslots;
};

mdm_intern *mdm_intern_new(void)
{
    mdm_intern *t = mdm_xcalloc(1, sizeof *t);
    t->arena = mdm_arena_new(1 << 16);
    t->nslots = 1024;
    t->slots = mdm_xcalloc(t->nslots, sizeof *t->slots);
    return t;
}

void mdm_intern_free(mdm_intern *t)
{
    if (!t)
        return;
    mdm_arena_free(t->arena);
    free(t->strs);
    free(t->lens);
    free(t->slots);
    free(t);
}

static void intern_summary(mdm_intern_meta *meta, const char *s, size_t n)
{
    uint64_t bits = 0;
    size_t extra = 0;
    unsigned high = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        uint64_t once = (uint64_t)1 << (c & 31), twice = once << 32;
        high |= c;
        if (bits & twice)
            extra++;
        bits |= bits & once ? twice : once;
    }
    meta->letters = bits;
    meta->len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    meta->extra = extra > UINT16_MAX ? UINT16_MAX : (uint16_t)extra;
    meta->ascii = !(high & 0x80) && extra <= UINT16_MAX && n <= UINT32_MAX;
}

static size_t intern_slot(const mdm_intern *t, const char *s, size_t n)
{
    size_t mask = t->nslots - 1;
    size_t i = (size_t)mdm_hash64(s, n, 7) & mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (!v)
            return i;
        if (t->lens[v - 1] == n && memcmp(t->strs[v - 1], s, n) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

uint32_t mdm_intern_find(const mdm_intern *t, const char *s, size_t n)
{
    uint32_t v = t->slots[intern_slot(t, s, n)];
    return v ? v - 1 : UINT32_MAX;
}

uint32_t mdm_intern_id(mdm_intern *t, const char *s, size_t n)
{
    size_t i = intern_slot(t, s, n);
    if (t->slots[i])
        return t->slots[i] - 1;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->strs = mdm_xrealloc(t->strs, t->cap * sizeof *t->strs);
        t->lens = mdm_xrealloc(t->lens, t->cap * sizeof *t->lens);
    }
    uint32_t id = (uint32_t)t->n++;
    /* keys may hold NUL bytes; the arena aligns to 16, as the summary needs */
    mdm_intern_meta *meta = mdm_arena_alloc(t->arena, sizeof *meta + n + 1);
    intern_summary(meta, s, n);
    t->strs[id] = (char *)(meta + 1);
    memcpy(t->strs[id], s, n);
    t->lens[id] = (uint32_t)n;
    t->slots[i] = id + 1;
    if (2 * t->n > t->nslots) {
        free(t->slots);
        t->nslots *= 2;
        t->slots = mdm_xcalloc(t->nslots, sizeof *t->slots);
        for (uint32_t k = 0; k < t->n; k++)
            t->slots[intern_slot(t, t->strs[k], t->lens[k])] = k + 1;
    }
    return id;
}

const char *mdm_intern_str(const mdm_intern *t, uint32_t id)
{
    return id < t->n ? t->strs[id] : NULL;
}

size_t mdm_intern_count(const mdm_intern *t)
{
    return t->n;
}
