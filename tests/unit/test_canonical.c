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
    mdm_norm_free(norm);
    TEST_END();
}
