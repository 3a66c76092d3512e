/* `mdm normalize --field F [--country CC] VALUE`: prints one normalizer's result as JSON.
 * A probe for stewards debugging configurations, and for tests. */
#include "api/cli.h"
#include "matching/normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *const cmd = "normalize";

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* The street line of an address VALUE given on one line: "line1[, line2], city[, region
 * postal][, country]" is split at commas from the right: a trailing country, then
 * "region postal" or a postal code, then the city; what is left after line1 is line2. */
typedef struct addr_parts {
    char *line1, *line2, *city, *region, *postal, *country;
} addr_parts;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
        s[--l] = '\0';
    return s;
}

static bool has_digit(const char *s)
{
    for (; *s; s++)
        if (*s >= '0' && *s <= '9')
            return true;
    return false;
}

static bool is_upper_word(const char *w)
{
    size_t l = strlen(w);
    if (l < 2 || l > 3)
        return false;
    for (; *w; w++)
        if (!(*w >= 'A' && *w <= 'Z'))
            return false;
    return true;
}

/* The part holding the postcode: "CA 94043", "Sydney NSW 2000", "SW1A 1AA",
 * "Ontario K1A 0B1", "75001 Paris", "1015 CJ Amsterdam". Words are split in place. */
static void split_postal(char *r, addr_parts *p)
{
    char *w[16];
    size_t n = 0;
    char *save = NULL;
    for (char *s = strtok_r(r, " ", &save); s && n < 16; s = strtok_r(NULL, " ", &save))
        w[n++] = s;
    if (n == 0)
        return;
    static char buf[3][128];
    if (w[0][0] >= '0' && w[0][0] <= '9') { /* postcode first, then the city */
        size_t pc = 1;
        if (n > 1 && strlen(w[1]) == 2 && is_upper_word(w[1]))
            pc = 2; /* Dutch "1015 CJ" */
        buf[0][0] = buf[1][0] = '\0';
        for (size_t i = 0; i < pc; i++)
            snprintf(buf[0] + strlen(buf[0]), sizeof buf[0] - strlen(buf[0]), "%s%s", i ? " " : "",
                     w[i]);
        p->postal = buf[0];
        for (size_t i = pc; i < n; i++)
            snprintf(buf[1] + strlen(buf[1]), sizeof buf[1] - strlen(buf[1]), "%s%s",
                     i > pc ? " " : "", w[i]);
        if (buf[1][0])
            p->city = buf[1];
        return;
    }
    size_t j = 0; /* the first word with a digit starts the postcode */
    while (j < n && !has_digit(w[j]))
        j++;
    buf[0][0] = buf[1][0] = buf[2][0] = '\0';
    for (size_t i = j; i < n; i++)
        snprintf(buf[0] + strlen(buf[0]), sizeof buf[0] - strlen(buf[0]), "%s%s", i > j ? " " : "",
                 w[i]);
    p->postal = buf[0];
    if (j == 0)
        return;
    size_t city_end = j;
    if (is_upper_word(w[j - 1]) || j == 1) { /* "NSW", "CA"; or a lone region word */
        snprintf(buf[1], sizeof buf[1], "%s", w[j - 1]);
        p->region = buf[1];
        city_end = j - 1;
    }
    for (size_t i = 0; i < city_end; i++)
        snprintf(buf[2] + strlen(buf[2]), sizeof buf[2] - strlen(buf[2]), "%s%s", i ? " " : "",
                 w[i]);
    if (buf[2][0])
        p->city = buf[2];
}

static void split_address(char *v, addr_parts *p)
{
    char *parts[16];
    size_t n = 0;
    char *s = v;
    while (n < 16) {
        parts[n++] = s;
        char *c = strchr(s, ',');
        if (!c)
            break;
        *c = '\0';
        s = c + 1;
    }
    for (size_t i = 0; i < n; i++)
        parts[i] = trim(parts[i]);
    memset(p, 0, sizeof *p);
    p->line1 = parts[0];
    size_t end = n;
    if (end > 1 && mdm_norm_country(parts[end - 1]) && !has_digit(parts[end - 1]))
        p->country = parts[--end];
    if (end > 1 && has_digit(parts[end - 1]))
        split_postal(parts[--end], p);
    if (!p->city && end > 1)
        p->city = parts[--end];
    if (end > 1)
        p->line2 = parts[1];
}

static const char *const fields[] = {"name",        "email",   "phone", "address", "date",
                                     "postal_code", "country", "text",  NULL};

/* Runs the normalizer of field on value and adds its result to o. n may be NULL for the
 * fields that need no handle (date, postal_code, country). */
static mdm_status normalize_one(mdm_norm *n, const char *field, const char *country, int pivot,
                                mdm_date_order order, const char *value, json_t *o, mdm_err *err)
{
    mdm_status st = MDM_OK;
    mdm_arena *a = mdm_arena_new(4096);
    mdm_buf b1 = {0}, b2 = {0};
    json_object_set_new(o, "field", json_string(field));
    json_object_set_new(o, "input", json_string(value));
    if (strcmp(field, "text") == 0) {
        st = mdm_norm_text(n, value, &b1, &b2, err);
        if (st == MDM_OK) {
            json_object_set_new(o, "display", json_string(b1.data));
            json_object_set_new(o, "key", json_string(b2.data));
        }
    } else if (strcmp(field, "name") == 0) {
        mdm_name_parts p;
        st = mdm_norm_text(n, value, &b1, &b2, err);
        if (st == MDM_OK)
            st = mdm_norm_name(n, value, a, &p, err);
        if (st == MDM_OK) {
            json_object_set_new(o, "display", json_string(b1.data));
            json_object_set_new(o, "key", json_string(b2.data));
            json_object_set_new(o, "prefix", json_string(p.prefix));
            json_object_set_new(o, "first", json_string(p.first));
            json_object_set_new(o, "middle", json_string(p.middle));
            json_object_set_new(o, "last", json_string(p.last));
            json_object_set_new(o, "suffix", json_string(p.suffix));
            json_object_set_new(o, "first_canonical",
                                json_string(mdm_norm_nickname_canon(n, p.first)));
            const char *cls[64];
            size_t nc = p.first[0] ? mdm_norm_nickname_classes(n, p.first, cls, 64) : 0;
            json_t *arr = json_array();
            for (size_t i = 0; i < nc && i < 64; i++)
                json_array_append_new(arr, json_string(cls[i]));
            json_object_set_new(o, "first_classes", arr);
            json_object_set_new(o, "valid", json_boolean(p.first[0] || p.last[0]));
        }
    } else if (strcmp(field, "email") == 0) {
        mdm_email_norm e;
        st = mdm_norm_email(n, value, a, &e, err);
        if (st == MDM_OK) {
            json_object_set_new(o, "display", json_string(e.display));
            json_object_set_new(o, "key", json_string(e.key));
            json_object_set_new(o, "local", json_string(e.local));
            json_object_set_new(o, "domain", json_string(e.domain));
            json_object_set_new(o, "valid", json_boolean(e.valid));
        }
    } else if (strcmp(field, "phone") == 0) {
        mdm_phone_norm p;
        st = mdm_norm_phone(n, value, country, &p, err);
        if (st == MDM_OK) {
            json_object_set_new(o, "e164", str_or_null(p.e164));
            json_object_set_new(o, "extension", str_or_null(p.ext));
            json_object_set_new(o, "country_code",
                                p.country_code ? json_integer(p.country_code) : json_null());
            json_object_set_new(o, "digits", json_string(p.digits));
            json_object_set_new(o, "valid", json_boolean(p.valid));
        }
    } else if (strcmp(field, "address") == 0) {
        addr_parts ap;
        char *copy = mdm_arena_strdup(a, value);
        split_address(copy, &ap);
        mdm_address_norm ad;
        st = mdm_norm_address(n, ap.line1, ap.line2, ap.city, ap.region, ap.postal, ap.country,
                              country, a, &ad, err);
        if (st == MDM_OK) {
            json_object_set_new(o, "number", json_string(ad.number));
            json_object_set_new(o, "street", json_string(ad.street));
            json_object_set_new(o, "unit", json_string(ad.unit));
            json_object_set_new(o, "line", json_string(ad.line));
            json_object_set_new(o, "city", json_string(ad.city));
            json_object_set_new(o, "region", json_string(ad.region));
            json_object_set_new(o, "postal_code", json_string(ad.postal_code));
            json_object_set_new(o, "country", str_or_null(ad.country));
            json_object_set_new(o, "valid", json_boolean(ad.valid));
        }
    } else if (strcmp(field, "postal_code") == 0) {
        mdm_err perr = {0};
        mdm_status ps = mdm_norm_postal_code(value, country, &b1, &perr);
        if (ps == MDM_EINTERNAL) {
            if (err)
                *err = perr;
            st = ps;
        } else {
            json_object_set_new(o, "postal_code", json_string(b1.data));
            json_object_set_new(o, "country",
                                str_or_null(country ? mdm_norm_country(country) : NULL));
            json_object_set_new(o, "valid", json_boolean(ps == MDM_OK));
            if (ps != MDM_OK)
                json_object_set_new(o, "error", json_string(perr.msg));
        }
    } else if (strcmp(field, "date") == 0) {
        mdm_date d;
        st = mdm_norm_date_ex(value, pivot, order, &d, err);
        if (st == MDM_OK) {
            char iso[16], alt[16];
            snprintf(iso, sizeof iso, "%04d-%02d-%02d", d.y, d.m, d.d);
            snprintf(alt, sizeof alt, "%04d-%02d-%02d", d.y, d.alt_m, d.alt_d);
            json_object_set_new(o, "iso", json_string(iso));
            json_object_set_new(o, "ambiguous", json_boolean(d.ambiguous));
            json_object_set_new(o, "alternative", d.ambiguous ? json_string(alt) : json_null());
            json_object_set_new(o, "valid", json_true());
        }
    } else if (strcmp(field, "country") == 0) {
        const char *c = mdm_norm_country(value);
        json_object_set_new(o, "country", str_or_null(c));
        json_object_set_new(o, "valid", json_boolean(c != NULL));
    }
    mdm_buf_free(&b1);
    mdm_buf_free(&b2);
    mdm_arena_free(a);
    return st;
}

/* Checks one VALUE: UTF-8 and not blank. */
static bool value_ok(const char *value, mdm_err *err)
{
    if (!mdm_norm_utf8_valid(value, strlen(value))) {
        mdm_err_set(err, MDM_EINVAL, "not valid UTF-8");
        return false;
    }
    if (value[strspn(value, " \t\r\n")] == '\0') {
        mdm_err_set(err, MDM_EINVAL, "empty");
        return false;
    }
    return true;
}

int mdm_cli_normalize(int argc, char **argv)
{
    const char *field = NULL, *country = NULL, *value = NULL;
    int pivot = 0;
    mdm_date_order order = MDM_DATE_DMY;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--field") == 0 && i + 1 < argc)
            field = argv[++i];
        else if (strncmp(argv[i], "--field=", 8) == 0)
            field = argv[i] + 8;
        else if (strcmp(argv[i], "--country") == 0 && i + 1 < argc)
            country = argv[++i];
        else if (strncmp(argv[i], "--country=", 10) == 0)
            country = argv[i] + 10;
        else if (strcmp(argv[i], "--month-first") == 0)
            order = MDM_DATE_MDY;
        else if (strcmp(argv[i], "--pivot") == 0 && i + 1 < argc)
            pivot = atoi(argv[++i]);
        else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !value && i + 2 == argc)
            value = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            return mdm_cli_usage_error(cmd, "unknown option %s", argv[i]);
        else if (!value)
            value = argv[i];
        else
            return mdm_cli_usage_error(cmd, "one VALUE expected");
    }
    if (!field)
        return mdm_cli_usage_error(cmd, "--field is required");
    bool known = false;
    for (size_t i = 0; fields[i]; i++)
        if (strcmp(field, fields[i]) == 0)
            known = true;
    if (!known)
        return mdm_cli_usage_error(cmd,
                                   "unknown field \"%s\" (name, email, phone, address, date, "
                                   "postal_code, country, text)",
                                   field);
    if (country && !mdm_norm_country(country))
        return mdm_cli_usage_error(cmd, "unknown country \"%s\"", country);
    mdm_err err = {0};
    if (value && !value_ok(value, &err))
        return mdm_cli_usage_error(cmd, "VALUE is %s", err.msg);

    int rc = 0;
    mdm_norm *n = NULL;
    char *line = NULL;
    size_t cap = 0;
    if (strcmp(field, "date") != 0 && strcmp(field, "postal_code") != 0 &&
        strcmp(field, "country") != 0) {
        n = mdm_norm_new(&err);
        if (!n)
            return mdm_cli_fail(cmd, &err);
    }
    if (value) {
        json_t *o = json_object();
        if (normalize_one(n, field, country, pivot, order, value, o, &err) != MDM_OK) {
            rc = mdm_cli_fail(cmd, &err);
        } else {
            char *js = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (js)
                puts(js);
            free(js);
        }
        json_decref(o);
        goto out_free;
    }
    /* no VALUE: one value per stdin line, one compact JSON object per output line; the
     * first bad line stops with exit 2 */
    long lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if ((size_t)got != strlen(line)) {
            mdm_err_set(&err, MDM_EINVAL, "stdin line %ld: NUL byte", lineno);
            rc = mdm_cli_fail(cmd, &err);
            break;
        }
        json_t *o = json_object();
        mdm_err e2 = {0};
        mdm_status st = value_ok(line, &e2)
                            ? normalize_one(n, field, country, pivot, order, line, o, &e2)
                            : MDM_EINVAL;
        if (st != MDM_OK) {
            json_decref(o);
            mdm_err_set(&err, st, "stdin line %ld: %s", lineno, e2.msg);
            rc = mdm_cli_fail(cmd, &err);
            break;
        }
        char *js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (js)
            puts(js);
        free(js);
    }
out_free:
    free(line);
    mdm_norm_free(n);
    return rc;
}
