/* Unit tests: the one canonicalization (matching/canonical.h) that mdm link, mdm load and
 * the HTTP paths share: mapping through a source definition, full names split by the
 * rules that make their keys, per-source date order and country, dropped and flagged
 * values, refusals, and the engine features of the canonical record. */
#include "common/mem.h"
#include "matching/canonical.h"
#include "matching/normalize.h"
#include "tests/test.h"

#include <stdlib.h>

static mdm_norm *norm;
static mdm_limits lim;

/* Canonical form of record (JSON text) through source (JSON text, one schema). */
static json_t *canon(const char *source, const char *record, json_t **errors)
{
    json_t *sj = json_loads(source, 0, NULL);
    json_t *rj = json_loads(record, 0, NULL);
    mdm_source_map sm;
    mdm_err err = {0};
    json_t *out = NULL, *errs = NULL;
    CHECK_INT(mdm_source_map_parse(&sm, sj, 0, MDM_SOURCE_SERVICE, &err), MDM_OK);
    CHECK_INT(mdm_canonicalize(norm, &sm, "US", &lim, rj, &out, &errs, &err), MDM_OK);
    mdm_source_map_clear(&sm);
    json_decref(sj);
    json_decref(rj);
    if (errors)
        *errors = errs;
    else
        json_decref(errs);
    return out;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

#define LOYALTY                                                                                    \
    "{\"code\":\"loyalty\",\"key\":\"id\",\"date_order\":\"mdy\",\"mapping\":{\"name\":"           \
    "\"full_name\",\"mail\":\"email\",\"dob\":\"birth_date\",\"zip\":\"address.postal_code\","     \
    "\"country\":\"address.country\"}}"

static void test_full_names(void)
{
    static const struct {
        const char *name, *first, *middle, *last, *key_first, *key_last;
    } cases[] = {
        {"Sarah", "Sarah", NULL, NULL, "sarah", NULL}, /* a lone name is a first name */
        {"Dr. Smith", NULL, NULL, "Smith", NULL, "smith"},
        {"Anna van der Berg", "Anna", NULL, "van der Berg", "anna", "van der berg"},
        {"Anna Maria van Berg", "Anna", "Maria", "van Berg", "anna", "van berg"},
        {"Mary Ann Smith", "Mary", "Ann", "Smith", "mary", "smith"},
        {"KOWALSKI, Anna Maria", "Anna", "Maria", "KOWALSKI", "anna", "kowalski"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rec[256];
        snprintf(rec, sizeof rec, "{\"id\":\"L%zu\",\"name\":\"%s\"}", i, cases[i].name);
        json_t *c = canon(LOYALTY, rec, NULL);
        json_t *keys = json_object_get(c, "keys");
        bool ok = c && ((!cases[i].first && !str(c, "first_name")) ||
                        (cases[i].first && str(c, "first_name") &&
                         !strcmp(str(c, "first_name"), cases[i].first)));
        ok &= (!cases[i].middle && !str(c, "middle_name")) ||
              (cases[i].middle && str(c, "middle_name") &&
               !strcmp(str(c, "middle_name"), cases[i].middle));
        ok &= (!cases[i].last && !str(c, "last_name")) ||
              (cases[i].last && str(c, "last_name") && !strcmp(str(c, "last_name"), cases[i].last));
        ok &= (!cases[i].key_first && !str(keys, "first")) ||
              (cases[i].key_first && str(keys, "first") &&
               !strcmp(str(keys, "first"), cases[i].key_first));
        ok &= (!cases[i].key_last && !str(keys, "last")) ||
              (cases[i].key_last && str(keys, "last") &&
               !strcmp(str(keys, "last"), cases[i].key_last));
        if (!mdm_test_case(ok, cases[i].name)) {
            char *d = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(stderr, "  got %s\n", d ? d : "null");
            free(d);
        }
        json_decref(c);
    }
}

static void test_dates_and_countries(void)
{
    json_t *c = canon(LOYALTY, "{\"id\":\"L1\",\"name\":\"Ann Lee\",\"dob\":\"03/04/1980\"}", NULL);
    CHECK_STR(str(c, "birth_date"), "1980-03-04"); /* date_order mdy */
    json_decref(c);
    const char *uk = "{\"code\":\"shop\",\"default_country\":\"GB\",\"key\":\"id\",\"mapping\":"
                     "{\"n\":\"full_name\",\"dob\":\"birth_date\",\"tel\":\"phone\"}}";
    c = canon(uk,
              "{\"id\":\"S1\",\"n\":\"Ann Lee\",\"dob\":\"03/04/1980\",\"tel\":\"020 7946 0018\"}",
              NULL);
    CHECK_STR(str(c, "birth_date"), "1980-04-03"); /* by the source's country: GB */
    CHECK_STR(str(json_array_get(json_object_get(c, "phones"), 0), "value"), "+442079460018");
    json_decref(c);
    /* an impossible birth date and an unknown country are left out and flagged */
    c = canon(LOYALTY,
              "{\"id\":\"L2\",\"name\":\"Ann Lee\",\"dob\":\"2031-01-01\",\"zip\":\"10001\","
              "\"country\":\"Atlantis\"}",
              NULL);
    CHECK(c && !json_object_get(c, "birth_date") && !json_object_get(c, "addresses"));
    CHECK_INT(json_array_size(json_object_get(c, "issues")), 2);
    json_decref(c);
}

static void test_refusals_and_features(void)
{
    json_t *errors = NULL;
    json_t *c = canon(LOYALTY, "{\"id\":\"L3\",\"dob\":\"1980-01-02\"}", &errors);
    CHECK(c == NULL);
    char *why = json_dumps(errors, JSON_COMPACT);
    CHECK(why && strstr(why, "has no name") != NULL);
    free(why);
    json_decref(errors);
    c = canon(LOYALTY, "{\"name\":\"Ann Lee\"}", &errors);
    CHECK(c == NULL && errors != NULL);
    json_decref(errors);
    /* an e-mail without its dot is kept, flagged and not matched */
    c = canon(LOYALTY, "{\"id\":\"L4\",\"name\":\"Ann Lee\",\"mail\":\"ann@examplecom\"}", NULL);
    json_t *e = json_array_get(json_object_get(c, "emails"), 0);
    CHECK(json_is_false(json_object_get(e, "valid")));
    mdm_record r;
    mdm_canon_to_record(c, &r);
    CHECK_INT(r.n_emails, 0);
    CHECK_STR(r.first_name, "Ann");
    mdm_record_clear(&r);
    json_decref(c);
}

/* ---- the record without a document (mdm_canon_record) against the document path ---- */

static void put_field(mdm_buf *b, const char *name, const char *v)
{
    mdm_buf_printf(b, "%s=[%s];", name, v ? v : "(null)");
}

/* Every field of r, as one text. */
static char *record_text(const mdm_record *r)
{
    mdm_buf b = {0};
    const char *const sc[] = {r->source,      r->source_key,      r->source_updated_at,
                              r->op,          r->first_name,      r->middle_name,
                              r->last_name,   r->full_name,       r->prefix,
                              r->suffix,      r->birth_date,      r->gender,
                              r->loyalty_id,  r->customer_number, r->tax_id,
                              r->national_id, r->account_status,  r->segment};
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++)
        put_field(&b, "scalar", sc[i]);
    for (size_t i = 0; i < r->n_emails; i++) {
        put_field(&b, "email", r->emails[i].value);
        put_field(&b, "type", r->emails[i].type);
    }
    for (size_t i = 0; i < r->n_phones; i++) {
        put_field(&b, "phone", r->phones[i].value);
        put_field(&b, "type", r->phones[i].type);
    }
    mdm_buf_printf(&b, "addresses=%zu;", r->n_addresses);
    for (size_t i = 0; i < MDM_RECORD_MAX_ADDRESSES; i++) {
        const mdm_address *a = &r->addresses[i];
        const char *const af[] = {a->type,   a->line1,       a->line2,  a->city,
                                  a->region, a->postal_code, a->country};
        for (size_t k = 0; k < sizeof af / sizeof af[0]; k++)
            put_field(&b, "address", af[k]);
    }
    for (size_t i = 0; i < r->n_attributes; i++) {
        put_field(&b, "attr", r->attributes[i].key);
        put_field(&b, "value", r->attributes[i].value);
    }
    mdm_buf_printf(&b, "consents=%zu", r->n_consents);
    return mdm_buf_steal(&b);
}

/* Every member of f, as one text. */
static char *feat_text(const mdm_feat *f)
{
    mdm_buf b = {0};
    for (int k = 0; k < MDM_FIELD_COUNT; k++)
        put_field(&b, "v", f->v[k]);
    for (int k = 0; k < f->n_emails; k++)
        put_field(&b, "email", f->emails[k]);
    for (int k = 0; k < f->n_phones; k++)
        put_field(&b, "phone", f->phones[k]);
    const char *const more[] = {f->first_canon, f->first_alt, f->last_alt, f->first_phon,
                                f->last_phon};
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++)
        put_field(&b, "name", more[k]);
    mdm_buf_printf(&b, "by=%d gen=%d bm=%d bd=%d", f->by, f->gen, f->bm, f->bd);
    return mdm_buf_steal(&b);
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A random value for a column mapped to target: mostly values of its kind (names,
 * dates, e-mails, phones, address parts), with blanks, non-ASCII, invalid UTF-8, values
 * of another kind and values over their limits. */
static const char *random_value(const char *target, char *buf, size_t cap)
{
    static const char *const names[] = {"John",
                                        "  Mary   Ann ",
                                        "O'Brien",
                                        "Zoë",
                                        "Müller",
                                        "MUELLER HANS",
                                        "Dr. Smith Jr.",
                                        "Anna van der Berg",
                                        "Nguyễn",
                                        "李小龍",
                                        "Σωκράτης",
                                        "Crumwell Jr., Thaddeus",
                                        "KOWALSKI, Anna",
                                        "Mrs Jane Doe III",
                                        "José María",
                                        "x",
                                        "Sr",
                                        "Smith,",
                                        "Prof. Dr. Ann Lee PhD"};
    static const char *const dates[] = {"1980-02-29", "12/31/1975", "03/04/1990", "2030-01-01",
                                        "bad date",   "1899-12-31", "19850607",   "7 May 1961"};
    static const char *const genders[] = {"M", "female", "unknown", "W", "other"};
    static const char *const emails[] = {"john@example.com", "JOHN@Example.COM",  "ann@examplecom",
                                         "zoë@exämple.de",   "j.o.h.n@gmail.com", "john@gmail.com"};
    static const char *const phones[] = {
        "+1 415 555 0100", "(415) 555-0101", "415.555.0101", "+49 30 123456", "12",
        "+442071838750",   "0412 345 678",   "030 123456"};
    static const char *const places[] = {
        "1 Main St", "Apt 4B", "12 Hauptstraße", "PO Box 12", "Rue de l'Église 3",
        "Sydney",    "NSW",    "Berlin"};
    static const char *const postal[] = {"10115", "94107-1234", "SW1A 1AA", "2600", "ABC"};
    static const char *const countries[] = {"US", "DE", "Germany", "Narnia", "au", "GB"};
    static const char *const ids[] = {"AB-12 34", "1234", "--", "X 1"};
    static const char *const odd[] = {"", "   ", "\xff\xfe bad", "é", "\t"};
#define FROM(v) (v)[rnd(sizeof(v) / sizeof((v)[0]))]
    unsigned k = rnd(40);
    if (k == 0) {
        size_t n = rnd(2) ? 300 : cap - 1; /* over any field's limit */
        memset(buf, 'a' + (int)rnd(26), n);
        buf[n] = 0;
        return buf;
    }
    if (k == 1)
        return FROM(odd);
    if (k == 2)
        return FROM(names);
    if (strstr(target, "name") || strstr(target, "prefix") || strstr(target, "suffix") ||
        strstr(target, "attributes"))
        return FROM(names);
    if (strstr(target, "birth"))
        return FROM(dates);
    if (strstr(target, "gender"))
        return FROM(genders);
    if (strstr(target, "email"))
        return FROM(emails);
    if (strstr(target, "phone"))
        return FROM(phones);
    if (strstr(target, "postal"))
        return FROM(postal);
    if (strstr(target, "country"))
        return FROM(countries);
    if (strstr(target, "address"))
        return FROM(places);
    return FROM(ids);
#undef FROM
}

static int direct_cases, direct_filled, direct_mismatches;

/* One row both ways: the document path (the row as mdm link builds it, then
 * mdm_canonicalize and mdm_canon_to_record) and mdm_canon_record. */
static void direct_same(const mdm_model *m, const mdm_source_map *sm, const char *key,
                        const char *const *vals)
{
    json_t *row = json_object();
    json_object_set_new(row, sm->key, json_string(key));
    for (size_t k = 0; k < sm->ncols; k++)
        if (vals[k] && *vals[k])
            json_object_set_new(row, sm->cols[k].column, json_string(vals[k]));
    json_t *c = NULL, *errs = NULL;
    mdm_err err = {0};
    CHECK_INT(mdm_canonicalize(norm, sm, "US", &lim, row, &c, &errs, &err), MDM_OK);
    mdm_record want, got;
    char *country = NULL;
    bool filled = mdm_canon_record(norm, sm, "US", &lim, key, vals, &got, &country);
    direct_cases++;
    direct_filled += filled;
    if (filled && !c) {
        direct_mismatches++;
        fprintf(stderr, "direct: filled a record the document path refuses (%s)\n", key);
    } else if (filled) {
        mdm_canon_to_record(c, &want);
        const json_t *a0 = json_array_get(json_object_get(c, "addresses"), 0);
        const char *cc = json_string_value(json_object_get(a0, "country"));
        char *w = record_text(&want), *g = record_text(&got);
        if (strcmp(w, g) || (!cc) != (!country) || (cc && strcmp(cc, country))) {
            direct_mismatches++;
            fprintf(stderr, "direct: %s\n  want %s (country %s)\n  got  %s (country %s)\n", key, w,
                    cc ? cc : "(null)", g, country ? country : "(null)");
        }
        free(w);
        free(g);
        mdm_record_clear(&want);
        /* and the features: mdm_canon_features of the document against the row's */
        mdm_arena *a = mdm_arena_new(4096);
        mdm_feat fw, fg;
        mdm_canon_features(m, norm, a, c, NULL, NULL, &fw);
        CHECK(mdm_canon_row_features(m, norm, sm, "US", &lim, key, vals, a, &fg));
        w = feat_text(&fw);
        g = feat_text(&fg);
        if (strcmp(w, g)) {
            direct_mismatches++;
            fprintf(stderr, "direct features: %s\n  want %s\n  got  %s\n", key, w, g);
        }
        free(w);
        free(g);
        mdm_arena_free(a);
    }
    mdm_record_clear(&got);
    free(country);
    json_decref(c);
    json_decref(errs);
    json_decref(row);
}

static void test_direct_record(void)
{
    static const char *const sources[] = {
        /* every kind of target, two columns joined into one field, an address in a
         * later slot only */
        "{\"code\":\"a\",\"key\":\"id\",\"mapping\":{\"fn\":\"first_name\",\"fn2\":"
        "\"first_name\",\"mn\":\"middle_name\",\"ln\":\"last_name\",\"full\":\"full_name\","
        "\"pre\":\"prefix\",\"suf\":\"suffix\",\"dob\":\"birth_date\",\"sex\":\"gender\","
        "\"mail\":\"email\",\"mail2\":\"email:work\",\"tel\":\"phone\",\"mob\":\"phone:mobile\","
        "\"street\":\"address.line1\",\"street2\":\"address.line2\",\"town\":\"address.city\","
        "\"state\":\"address.region\",\"zip\":\"address.postal_code\",\"cc\":"
        "\"address.country\",\"kind\":\"address.type\",\"b_street\":\"address3.line1\","
        "\"b_zip\":\"address3.postal_code\",\"b_cc\":\"address3.country\",\"loy\":"
        "\"loyalty_id\",\"cust\":\"customer_number\",\"tax\":\"tax_id\",\"nat\":\"national_id\","
        "\"status\":\"account_status\",\"occ\":\"attributes.occupation\",\"occ2\":"
        "\"attributes.occupation\",\"tier\":\"attributes.tier\"}}",
        /* full names family name first, month-first dates, a country of its own */
        "{\"code\":\"b\",\"key\":\"id\",\"name_order\":\"family_first\",\"date_order\":\"mdy\","
        "\"default_country\":\"DE\",\"mapping\":{\"full\":\"full_name\",\"dob\":\"birth_date\","
        "\"mail\":\"email\",\"tel\":\"phone\",\"street\":\"address.line1\",\"zip\":"
        "\"address.postal_code\",\"cc\":\"address.country\",\"loy\":\"loyalty_id\"}}",
        /* the key column mapped too: always the document path */
        "{\"code\":\"c\",\"key\":\"id\",\"mapping\":{\"id\":\"customer_number\",\"ln\":"
        "\"last_name\"}}",
    };
    /* a model that compares two of the attributes, with a default country of its own */
    json_t *mj =
        json_loads("{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"default_country\":\"AU\","
                   "\"comparisons\":[{\"field\":\"first_name\",\"type\":\"name\"},{\"field\":"
                   "\"attributes.occupation\",\"type\":\"string\"},{\"field\":\"attributes.tier\","
                   "\"type\":\"exact\"}],\"blocking\":{\"rules\":[\"first_name\"]}}",
                   0, NULL);
    mdm_err merr = {0};
    mdm_model *m = mdm_model_from_json(mj, &merr);
    json_decref(mj);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "model: %s\n", merr.msg);
        return;
    }
    direct_cases = direct_filled = direct_mismatches = 0;
    for (size_t s = 0; s < sizeof sources / sizeof sources[0]; s++) {
        json_t *sj = json_loads(sources[s], 0, NULL);
        mdm_source_map sm;
        mdm_err err = {0};
        CHECK_INT(mdm_source_map_parse(&sm, sj, 0, MDM_SOURCE_SERVICE, &err), MDM_OK);
        static char bufs[64][400];
        const char *vals[64];
        for (int n = 0; n < 3000; n++) {
            for (size_t k = 0; k < sm.ncols; k++) {
                /* most columns empty, as in real rows */
                vals[k] = rnd(3) ? "" : random_value(sm.cols[k].field, bufs[k], sizeof bufs[k]);
                if (k == 0 && rnd(4) == 0)
                    vals[k] = "Peter";
            }
            char key[32];
            snprintf(key, sizeof key, rnd(50) ? "K-%d" : " ", n);
            direct_same(m, &sm, key, vals);
        }
        mdm_source_map_clear(&sm);
        json_decref(sj);
    }
    mdm_model_free(m);
    fprintf(stderr, "%d rows, %d filled directly, %d mismatches\n", direct_cases, direct_filled,
            direct_mismatches);
    CHECK(direct_filled > direct_cases / 3);
    CHECK(direct_filled < direct_cases);
    CHECK_INT(direct_mismatches, 0);
}

int main(void)
{
    mdm_err err = {0};
    norm = mdm_norm_new(&err);
    if (!norm) {
        fprintf(stderr, "no normalizer: %s\n", err.msg);
        return 1;
    }
    mdm_limits_default(&lim);
    RUN(test_full_names);
    RUN(test_dates_and_countries);
    RUN(test_refusals_and_features);
    RUN(test_direct_record);
    mdm_norm_free(norm);
    TEST_END();
}
