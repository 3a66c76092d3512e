/* Survivorship rules: table cases from tests/data/survive.tsv (each rule, ties, union,
 * pins), order independence, and configuration validation. */
#include "mdm/survive.h"
#include "tests/test.h"

#include <stdlib.h>

/* Builds members from the case JSON; canonical records are owned by *canons. */
static size_t build(const json_t *spec, const char *attr, mdm_survive_member *m, json_t **canons,
                    json_t **trusts)
{
    size_t i;
    json_t *s;
    json_array_foreach(spec, i, s)
    {
        json_t *c = json_object();
        json_t *v = json_object_get(s, "v");
        if (v && !json_is_null(v)) {
            if (!strncmp(attr, "attributes.", 11))
                json_object_set_new(c, "attributes", json_pack("{s:O}", attr + 11, v));
            else
                json_object_set(c, attr, v);
        }
        json_t *extra = json_object_get(s, "extra");
        if (extra)
            json_object_update(c, extra);
        canons[i] = c;
        trusts[i] = json_pack("{s:I}", "*", json_integer_value(json_object_get(s, "trust")));
        m[i] = (mdm_survive_member){
            (int64_t)json_integer_value(json_object_get(s, "id")), "src", "k", c, 50, trusts[i],
            json_string_value(json_object_get(s, "upd"))};
    }
    return json_array_size(spec);
}

static const json_t *golden_value(const json_t *g, const char *attr)
{
    if (!strncmp(attr, "attributes.", 11))
        return json_object_get(json_object_get(g, "attributes"), attr + 11);
    return json_object_get(g, attr);
}

static void run_case(char **f, int line)
{
    const char *name = f[0], *attr = f[1], *rule = f[2];
    char what[256];
    snprintf(what, sizeof what, "survive.tsv:%d %s", line, name);
    json_t *spec = json_loads(f[3], 0, NULL), *want = json_loads(f[4], JSON_DECODE_ANY, NULL);
    long want_id = strtol(f[5], NULL, 10);
    if (!spec || !want) {
        mdm_test_case(0, what);
        json_decref(spec);
        json_decref(want);
        return;
    }
    json_t *section = json_object(), *pins = NULL;
    if (!strncmp(rule, "pin:", 4))
        pins = json_pack("{s:o}", attr, json_loads(rule + 4, JSON_DECODE_ANY, NULL));
    else if (strcmp(rule, "-"))
        json_object_set_new(section, "attributes", json_pack("{s:s}", attr, rule));
    mdm_err err = {0};
    mdm_survive_config *cfg = mdm_survive_config_parse(section, &err);
    int ok = cfg != NULL;
    if (!cfg)
        fprintf(stderr, "%s: config: %s\n", what, err.msg);
    mdm_survive_member m[8];
    json_t *canons[8] = {0}, *trusts[8] = {0};
    size_t n = build(spec, attr, m, canons, trusts);
    for (int pass = 0; ok && pass < 2; pass++) {
        if (pass == 1) /* the same members in reverse order give the same answer */
            for (size_t i = 0; i < n / 2; i++) {
                mdm_survive_member t = m[i];
                m[i] = m[n - 1 - i];
                m[n - 1 - i] = t;
            }
        json_t *g = NULL, *lin = NULL;
        mdm_survive_compute(cfg, m, n, pins, &g, &lin);
        const json_t *got = golden_value(g, attr);
        if (!(json_is_null(want) ? got == NULL : got && json_equal(got, want))) {
            char *gs = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            fprintf(stderr, "%s (pass %d): got %s, want %s\n", what, pass, gs ? gs : "(none)",
                    f[4]);
            free(gs);
            ok = 0;
        }
        const json_t *l = json_object_get(lin, attr);
        long got_id = (long)json_integer_value(json_object_get(l, "source_record_id"));
        if (got_id != want_id) {
            fprintf(stderr, "%s: lineage record %ld, want %ld\n", what, got_id, want_id);
            ok = 0;
        }
        if (got && !json_string_length(json_object_get(l, "rule"))) {
            fprintf(stderr, "%s: lineage without rule\n", what);
            ok = 0;
        }
        json_decref(g);
        json_decref(lin);
    }
    mdm_test_case(ok, what);
    for (size_t i = 0; i < n; i++) {
        json_decref(canons[i]);
        json_decref(trusts[i]);
    }
    mdm_survive_config_free(cfg);
    json_decref(section);
    json_decref(pins);
    json_decref(spec);
    json_decref(want);
}

static void test_table(void)
{
    const char *root = getenv("MDM_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/survive.tsv", root ? root : ".");
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    char buf[8192];
    int line = 0, cases = 0;
    while (fgets(buf, sizeof buf, fp)) {
        line++;
        buf[strcspn(buf, "\n")] = '\0';
        if (buf[0] == '#' || !buf[0])
            continue;
        char *f[6] = {0};
        char *p = buf;
        int nf = 0;
        for (; nf < 6 && p; nf++) {
            f[nf] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (nf != 6) {
            fprintf(stderr, "survive.tsv:%d: %d fields\n", line, nf);
            CHECK(0);
            continue;
        }
        run_case(f, line);
        cases++;
    }
    fclose(fp);
    CHECK(cases >= 15);
}

static void test_config_errors(void)
{
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"default\": \"union\"}", "/survivorship/default"},
        {"{\"default\": \"loudest\"}", "/survivorship/default"},
        {"{\"attributes\": {\"shoe_size\": \"longest\"}}", "/survivorship/attributes/shoe_size"},
        {"{\"attributes\": {\"first_name\": \"union\"}}", "/survivorship/attributes/first_name"},
        {"{\"attributes\": {\"emails\": 3}}", "/survivorship/attributes/emails"},
        {"{\"rules\": {}}", "/survivorship/rules"},
        {"[]", "/survivorship"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i].json, 0, NULL);
        mdm_err err = {0};
        mdm_survive_config *c = mdm_survive_config_parse(j, &err);
        CHECK(c == NULL);
        CHECK_INT(err.code, MDM_EINVAL);
        CHECK_STR(err.field, bad[i].field);
        mdm_survive_config_free(c);
        json_decref(j);
    }
    json_t *ok = json_loads("{\"default\": \"most_recent\", \"attributes\": {\"phones\": "
                            "\"source_trust\", \"attributes.tier\": \"longest\"}}",
                            0, NULL);
    mdm_err err = {0};
    mdm_survive_config *c = mdm_survive_config_parse(ok, &err);
    CHECK(c != NULL);
    if (c) {
        CHECK_INT(mdm_survive_rule_for(c, "first_name"), MDM_SURVIVE_MOST_RECENT);
        CHECK_INT(mdm_survive_rule_for(c, "phones"), MDM_SURVIVE_SOURCE_TRUST);
        CHECK_INT(mdm_survive_rule_for(c, "emails"), MDM_SURVIVE_UNION);
        CHECK_INT(mdm_survive_rule_for(c, "attributes.tier"), MDM_SURVIVE_LONGEST);
        CHECK_INT(mdm_survive_rule_for(c, "birth_date"), MDM_SURVIVE_MOST_FREQUENT);
    }
    mdm_survive_config_free(c);
    json_decref(ok);
}

int main(void)
{
    RUN(test_table);
    RUN(test_config_errors);
    TEST_END();
}
