/* Consent helpers without a database: ISO 8601 parsing (tests/data/consent_time.tsv)
 * and validation of the "consent" configuration section. */
#include "common/mem.h"
#include "mdm/consent.h"
#include "tests/test.h"

#include <stdlib.h>

static void test_time_table(void)
{
    const char *root = getenv("MDM_ROOT");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/consent_time.tsv", root ? root : ".");
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    char line[512];
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || !line[0])
            continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            mdm_test_case(0, "consent_time.tsv: line without a tab");
            continue;
        }
        *tab = '\0';
        const char *in = strcmp(line, "(empty)") ? line : "", *want = tab + 1;
        int64_t us = 0;
        char canon[32] = "";
        bool ok = mdm_consent_parse_time(in, &us, canon);
        char label[600];
        snprintf(label, sizeof label, "consent_time.tsv:%d: \"%s\" -> ok=%d \"%s\", want %s",
                 lineno, in, ok, canon, want);
        if (!strcmp(want, "invalid")) {
            mdm_test_case(!ok, label);
        } else {
            /* the canonical form parses back to the same instant */
            int64_t again = -1;
            bool round = ok && mdm_consent_parse_time(canon, &again, NULL) && again == us;
            mdm_test_case(ok && !strcmp(canon, want) && round, label);
        }
        cases++;
    }
    fclose(fp);
    CHECK(cases >= 30);
}

static void test_epoch_values(void)
{
    int64_t us = 1;
    CHECK(mdm_consent_parse_time("1970-01-01T00:00:00Z", &us, NULL));
    CHECK_INT(us, 0);
    CHECK(mdm_consent_parse_time("2001-09-09T01:46:40.000001Z", &us, NULL));
    CHECK_INT(us, INT64_C(1000000000000001));
    CHECK(mdm_consent_parse_time("1969-12-31T23:59:59Z", &us, NULL));
    CHECK_INT(us, -1000000);
}

/* config JSON <TAB> expected field of the error ("" = accepted) */
static void test_configure(void)
{
    static const struct {
        const char *json, *field;
    } cases[] = {
        {"{}", ""},
        {"{\"purposes\": [\"marketing\", \"service\"], \"defaults\": {\"service\": \"granted\"}}",
         ""},
        {"{\"channels\": [\"email\", \"sms\", \"all\"]}", ""},
        {"{\"purposes\": []}", "/consent/purposes"},
        {"{\"purposes\": \"marketing\"}", "/consent/purposes"},
        {"{\"purposes\": [\"marketing\", \"Bad Name\"]}", "/consent/purposes/1"},
        {"{\"purposes\": [\"a\", \"a\"]}", "/consent/purposes/1"},
        {"{\"channels\": [1]}", "/consent/channels/0"},
        {"{\"defaults\": {\"nope\": \"granted\"}}", "/consent/defaults/nope"},
        {"{\"defaults\": {\"marketing\": \"yes\"}}", "/consent/defaults/marketing"},
        {"{\"defaults\": []}", "/consent/defaults"},
        {"{\"purpose\": [\"x\"]}", "/consent/purpose"},
        {"[]", "/consent"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        CHECK(j != NULL);
        mdm_err err = {0};
        mdm_status st = mdm_consent_configure(j, &err);
        if (!cases[i].field[0]) {
            CHECK_INT(st, MDM_OK);
        } else {
            CHECK_INT(st, MDM_EINVAL);
            CHECK_STR(err.field, cases[i].field);
            CHECK(err.msg[0] != '\0');
        }
        json_decref(j);
    }
    /* the last accepted one stays installed; a refused one changes nothing */
    json_t *j = json_loads("{\"purposes\": [\"marketing\", \"service\"], \"channels\": "
                           "[\"email\", \"all\"], \"defaults\": {\"service\": \"granted\"}}",
                           0, NULL);
    mdm_err err = {0};
    CHECK_INT(mdm_consent_configure(j, &err), MDM_OK);
    json_decref(j);
    j = json_loads("{\"purposes\": []}", 0, NULL);
    CHECK_INT(mdm_consent_configure(j, &err), MDM_EINVAL);
    json_decref(j);
    json_t *v = mdm_consent_vocabulary();
    CHECK_INT(json_array_size(json_object_get(v, "purposes")), 2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(v, "defaults"), "service")),
              "granted");
    CHECK_STR(json_string_value(json_object_get(json_object_get(v, "defaults"), "marketing")),
              "not_granted");
    json_decref(v);
    CHECK_INT(mdm_consent_configure(NULL, &err), MDM_OK);
    v = mdm_consent_vocabulary();
    CHECK_INT(json_array_size(json_object_get(v, "purposes")), 3);
    CHECK_INT(json_array_size(json_object_get(v, "channels")), 5);
    json_decref(v);
}

int main(void)
{
    RUN(test_time_table);
    RUN(test_epoch_values);
    RUN(test_configure);
    TEST_END();
}
