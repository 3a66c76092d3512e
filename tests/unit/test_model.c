/* Unit tests: model configuration, features, comparison levels, scoring with term
 * frequencies, explanations, JSON round trip, and EM on simulated data. */
#include "common/mem.h"
#include "matching/block.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *cfg_text =
    "{\"sources\":[{\"key\":\"id\",\"mapping\":{\"fn\":\"first_name\",\"ln\":\"last_name\","
    "\"dob\":\"birth_date\",\"mail\":\"email\",\"tel\":\"phone\",\"zip\":\"address.postal_code\"}}]"
    ","
    "\"comparisons\":["
    "{\"name\":\"first_name\",\"field\":\"first_name\",\"type\":\"name\",\"tf\":true},"
    "{\"name\":\"last_name\",\"field\":\"last_name\",\"type\":\"name\",\"tf\":true,"
    "\"group\":null},"
    "{\"name\":\"dob\",\"field\":\"birth_date\",\"type\":\"date\"},"
    "{\"name\":\"email\",\"field\":\"email\",\"type\":\"email\"},"
    "{\"name\":\"phone\",\"field\":\"phone\",\"type\":\"phone\"},"
    "{\"name\":\"zip\",\"field\":\"postal_code\",\"type\":\"postal\"}],"
    "\"blocking\":{\"rules\":[\"last_name:soundex+first_name:initial\",\"email\"]},"
    "\"clustering\":{\"conflicts\":[\"first_name\",\"dob\"]}}";

static mdm_model *load_cfg(const char *text, mdm_err *err)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    if (!doc) {
        fprintf(stderr, "bad test JSON: %s\n", je.text);
        return NULL;
    }
    mdm_model *m = mdm_model_from_json(doc, err);
    json_decref(doc);
    return m;
}

static void feat_of(mdm_norm *n, mdm_arena *a, mdm_feat *f, const char *fn, const char *ln,
                    const char *dob, const char *mail, const char *tel)
{
    mdm_record r;
    mdm_record_init(&r);
    mdm_record_set(&r, "first_name", fn, NULL);
    mdm_record_set(&r, "last_name", ln, NULL);
    mdm_record_set(&r, "birth_date", dob, NULL);
    mdm_record_set(&r, "email", mail, NULL);
    mdm_record_set(&r, "phone", tel, NULL);
    mdm_feat_build(n, &r, "US", a, f);
    mdm_record_clear(&r);
}

static void test_config_errors(void)
{
    mdm_err err = {0};
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"[]", "expected a JSON object"},
        {"{\"sources\":{}}", "sources: expected an array"},
        {"{\"sources\":[{\"record_id\":\"id\",\"mapping\":{}}]}",
         "sources[0].record_id must be renamed to key"},
        {"{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":[{\"field\":"
         "\"shoe\",\"type\":\"name\"}]}",
         "comparisons[0].field: unknown field \"shoe\""},
        {"{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":[{\"field\":"
         "\"first_name\",\"type\":\"fuzzy\"}]}",
         "comparisons[0].type"},
        {"{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":[{\"field\":"
         "\"first_name\",\"type\":\"name\"}],\"blocking\":{\"rules\":[\"first_name:sparkle\"]}}",
         "unknown key function \"sparkle\""},
        {"{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":[{\"field\":"
         "\"first_name\",\"type\":\"name\"}],\"blocking\":{\"rules\":[\"x\"]},\"colour\":1}",
         "unknown key \"colour\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdm_model *m = load_cfg(bad[i].json, &err);
        CHECK(m == NULL);
        if (!mdm_test_case(m == NULL && strstr(err.msg, bad[i].want) != NULL, bad[i].want))
            fprintf(stderr, "  got: %s\n", err.msg);
        mdm_model_free(m);
    }
}

/* Transliteration equivalence (issue 15): Müller = Mueller = Muller, Jürgen = Juergen,
 * Jørgen = Joergen, Håkon = Haakon (as ASCII-only systems write them); Mueller and Muller
 * (neither with the letter) compare as before. */
static void test_translit_levels(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(cfg_text, &err);
    mdm_norm *n = mdm_norm_new(&err);
    CHECK(m != NULL && n != NULL);
    if (!m || !n)
        return;
    mdm_arena *a = mdm_arena_new(4096);
    mdm_feat x, y;
    int8_t lv[MDM_MAX_COMPARISONS];
    static const struct {
        const char *f1, *l1, *f2, *l2;
        int first, last;
    } cases[] = {
        {"Jürgen", "Müller", "JUERGEN", "MUELLER", 0, 0},
        {"Jürgen", "Müller", "Jurgen", "Muller", 0, 0},
        {"Jørgen", "Sørensen", "Joergen", "Soerensen", 0, 0},
        {"Håkon", "Ås", "Haakon", "Aas", 0, 0},
        {"Ännchen", "Schäfer", "Aennchen", "Schaefer", 0, 0},
        {"Ju\xcc\x88rgen", "Mu\xcc\x88ller", "Juergen", "Mueller", 0, 0}, /* combining */
        /* neither written with the letter: Jaro-Winkler 0.918, "far" as before */
        {"Hans", "Mueller", "Hans", "Muller", 0, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        feat_of(n, a, &x, cases[i].f1, cases[i].l1, "", "", "");
        feat_of(n, a, &y, cases[i].f2, cases[i].l2, "", "", "");
        mdm_model_levels(m, &x, &y, lv);
        if (!mdm_test_case(lv[0] == cases[i].first && lv[1] == cases[i].last, cases[i].l1))
            fprintf(stderr, "  %s %s ~ %s %s: levels %d %d\n", cases[i].f1, cases[i].l1,
                    cases[i].f2, cases[i].l2, lv[0], lv[1]);
        mdm_model_levels(m, &y, &x, lv); /* symmetric */
        CHECK(lv[0] == cases[i].first && lv[1] == cases[i].last);
    }
    mdm_arena_free(a);
    mdm_norm_free(n);
    mdm_model_free(m);
}

/* Comparisons and blocking on a mapped attribute (issue 15, item 5), any comparator
 * type; the model's JSON names the attribute path. */
static void test_attribute_comparison(void)
{
    static const char *text =
        "{\"sources\":[{\"key\":\"id\",\"mapping\":{\"job\":\"attributes.occupation\","
        "\"club\":\"attributes.club\"}}],\"comparisons\":["
        "{\"field\":\"attributes.occupation\",\"type\":\"string\",\"thresholds\":[0.9,0.7]},"
        "{\"name\":\"club\",\"field\":\"attributes.club\",\"type\":\"id\"}],"
        "\"blocking\":{\"rules\":[\"attributes.occupation\"]}}";
    mdm_err err = {0};
    mdm_model *m = load_cfg(text, &err);
    mdm_norm *n = mdm_norm_new(&err);
    CHECK(m != NULL && n != NULL);
    if (!m || !n) {
        fprintf(stderr, "  %s\n", err.msg);
        mdm_model_free(m);
        mdm_norm_free(n);
        return;
    }
    CHECK_INT(m->nattrs, 2);
    CHECK_STR(m->cmp[0].name, "attributes.occupation");
    mdm_arena *a = mdm_arena_new(4096);
    mdm_feat f[3];
    const char *vals[3][2] = {
        {"Software Engineer", "AB-1234"}, {"software  engineer", "ab1234"}, {"Plumber", "AB1235"}};
    for (int i = 0; i < 3; i++) {
        mdm_record r;
        mdm_record_init(&r);
        mdm_record_set(&r, "attributes.occupation", vals[i][0], NULL);
        mdm_record_set(&r, "attributes.club", vals[i][1], NULL);
        mdm_feat_build(n, &r, "US", a, &f[i]);
        mdm_feat_build_attrs(m, n, &r, a, &f[i]);
        mdm_record_clear(&r);
    }
    int8_t lv[MDM_MAX_COMPARISONS];
    mdm_model_levels(m, &f[0], &f[1], lv);
    CHECK_INT(lv[0], 0); /* folded: equal */
    mdm_model_levels(m, &f[0], &f[2], lv);
    CHECK_INT(lv[0], 3); /* different */
    const char *keys[4];
    CHECK_INT(mdm_block_keys(m, &f[0], a, keys, 4), 1);
    const char *keys2[4];
    CHECK_INT(mdm_block_keys(m, &f[1], a, keys2, 4), 1);
    CHECK_STR(keys[0], keys2[0]);
    json_t *doc = mdm_model_json(m);
    json_t *c0 = json_array_get(json_object_get(doc, "comparisons"), 1);
    CHECK_STR(json_string_value(json_object_get(c0, "field")), "attributes.club");
    mdm_model *back = mdm_model_from_json(doc, &err);
    CHECK(back != NULL);
    if (back)
        CHECK_INT(back->cmp[1].field, MDM_FIELD_ATTR0 + 1);
    mdm_model_free(back);
    json_decref(doc);
    /* more attributes than slots: refused, naming the limit */
    mdm_model *over = load_cfg(
        "{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":["
        "{\"field\":\"attributes.a\",\"type\":\"exact\"},{\"field\":\"attributes.b\",\"type\":"
        "\"exact\"},{\"field\":\"attributes.c\",\"type\":\"exact\"},{\"field\":\"attributes.d\","
        "\"type\":\"exact\"},{\"field\":\"attributes.e\",\"type\":\"exact\"}]}",
        &err);
    CHECK(over == NULL);
    CHECK(strstr(err.msg, "attributes.e") != NULL);
    mdm_model_free(over);
    mdm_arena_free(a);
    mdm_norm_free(n);
    mdm_model_free(m);
}

static void test_levels(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(cfg_text, &err);
    CHECK(m != NULL);
    mdm_norm *n = mdm_norm_new(&err);
    CHECK(n != NULL);
    if (!m || !n)
        return;
    mdm_arena *a = mdm_arena_new(4096);
    mdm_feat x, y;
    int8_t lv[MDM_MAX_COMPARISONS];
    feat_of(n, a, &x, "Robert", "Smith", "1980-02-03", "Bob.Smith@Gmail.com", "(415) 555-0132");
    feat_of(n, a, &y, "bob", "SMITH", "1980-03-02", "bobsmith+shop@gmail.com", "+1 415 555 0132");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], 1);  /* nickname */
    CHECK_INT(lv[1], 0);  /* exact after folding */
    CHECK_INT(lv[2], 1);  /* transposed day/month */
    CHECK_INT(lv[3], 0);  /* canonical gmail key */
    CHECK_INT(lv[4], 0);  /* same E.164 */
    CHECK_INT(lv[5], -1); /* no postal code: null */
    feat_of(n, a, &y, "Roberta", "Smyth", "", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], 2); /* jaro-winkler close */
    CHECK(lv[1] == 2 || lv[1] == 3);
    CHECK_INT(lv[2], -1);
    CHECK_INT(lv[3], -1);
    feat_of(n, a, &y, "Zoe", "Smith", "1999-12-30", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], 4); /* different */
    CHECK_INT(lv[2], 2);
    CHECK(mdm_model_vetoed(m, lv));                   /* first name and dob both different */
    feat_of(n, a, &y, "Smith", "Robert", "", "", ""); /* swapped */
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], 2);
    CHECK_INT(lv[1], 2);
    /* nicknames are direct: John and Nathan are both listed under Jonathan, not one name */
    feat_of(n, a, &x, "John", "Smith", "", "", "");
    feat_of(n, a, &y, "Nathan", "Smith", "", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], 4);
    feat_of(n, a, &y, "Jonathan", "Smith", "", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], 1);
    mdm_arena_free(a);
    mdm_norm_free(n);
    mdm_model_free(m);
}

static void test_tf_and_explain(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(cfg_text, &err);
    mdm_norm *n = mdm_norm_new(&err);
    if (!m || !n) {
        CHECK(0);
        return;
    }
    m->prior = 0.001;
    m->trained = true;
    mdm_arena *a = mdm_arena_new(4096);
    mdm_feat x, y;
    feat_of(n, a, &x, "Zbigniew", "Smith", "", "", "");
    feat_of(n, a, &y, "Zbigniew", "Smith", "", "", "");
    double freq_common[MDM_MAX_COMPARISONS], freq_rare[MDM_MAX_COMPARISONS];
    for (int k = 0; k < MDM_MAX_COMPARISONS; k++)
        freq_common[k] = freq_rare[k] = -1;
    freq_common[1] = 0.01;  /* "smith": 1 % of records */
    freq_rare[1] = 0.00001; /* a rare surname */
    mdm_value_stats sc = {freq_common, NULL}, sr = {freq_rare, NULL};
    mdm_explain ec, er;
    double wc = mdm_model_score(m, &x, &y, &sc, &ec);
    double wr = mdm_model_score(m, &x, &y, &sr, &er);
    CHECK(wr > wc);
    CHECK_NEAR(wr - wc, log2(0.01 / 0.00001), 1e-9);
    CHECK_NEAR(ec.items[1].tf_adjust, log2(m->cmp[1].u[0] / 0.01), 1e-9);
    CHECK_STR(ec.items[1].comparison, "last_name");
    CHECK_STR(ec.items[1].level_name, "exact");
    CHECK_STR(ec.items[2].level_name, "null");
    CHECK_NEAR(ec.items[2].weight, 0, 1e-12);
    double sum = ec.prior_weight;
    for (int k = 0; k < ec.n; k++)
        sum += ec.items[k].weight;
    CHECK_NEAR(sum, ec.weight, 1e-9);
    CHECK_NEAR(ec.probability, mdm_model_probability(wc), 1e-12);
    /* shared value: counts as null */
    bool shared[MDM_MAX_COMPARISONS] = {false, true};
    mdm_value_stats ss = {freq_common, shared};
    mdm_explain es;
    mdm_model_score(m, &x, &y, &ss, &es);
    CHECK_INT(es.items[1].level, -1);
    json_t *j = mdm_explain_json(&ec);
    CHECK(json_is_array(json_object_get(j, "comparisons")));
    CHECK_NEAR(json_real_value(json_object_get(j, "match_weight")), wc, 1e-9);
    json_decref(j);
    mdm_arena_free(a);
    mdm_norm_free(n);
    mdm_model_free(m);
}

static void test_default_groups(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(cfg_text, &err);
    if (!m) {
        CHECK(0);
        return;
    }
    /* surname opted out (null); phone and postal code join "household" by default */
    CHECK_INT(m->cmp[0].group, -1); /* first_name: person evidence */
    CHECK_INT(m->cmp[1].group, -1);
    CHECK_INT(m->ngroups, 1);
    CHECK_STR(m->groups[0], "household");
    CHECK_INT(m->cmp[4].group, 0);
    CHECK_INT(m->cmp[5].group, 0);
    CHECK(m->group_margin_auto);
    /* the cap: the group's sum never passes even odds plus the margin */
    m->prior = 0.001;
    m->group_margin = 2;
    double wk[MDM_MAX_COMPARISONS] = {5, 0, 0, 0, 20, 15};
    double adj;
    double w = mdm_model_combine(m, wk, false, &adj);
    double cap = -mdm_model_prior_weight(m) + 2;
    CHECK_NEAR(w, mdm_model_prior_weight(m) + 5 + cap, 1e-9);
    CHECK_NEAR(adj, cap - 35, 1e-9);
    /* and a disagreement on several group fields counts once (the strongest) */
    double wn[MDM_MAX_COMPARISONS] = {5, 0, 0, 0, -3, -2};
    w = mdm_model_combine(m, wn, false, &adj);
    CHECK_NEAR(w, mdm_model_prior_weight(m) + 5 - 3, 1e-9);
    /* household evidence alone (no person evidence: first name missing, or nothing
     * outside the group agreeing) is no reason to ask a steward: with margin 0 it stays
     * under the review threshold of 0.5, which it reached exactly before */
    m->group_margin = 0;
    double wh[MDM_MAX_COMPARISONS] = {0, 0, 0, 0, 20, 15};
    w = mdm_model_combine(m, wh, false, &adj);
    CHECK(mdm_model_probability(w) < 0.5);
    CHECK_NEAR(w, -MDM_GROUP_CAP_BELOW, 1e-9);
    double wd[MDM_MAX_COMPARISONS] = {-4, 0, 0, 0, 20, 15}; /* different first names */
    CHECK(mdm_model_probability(mdm_model_combine(m, wd, false, NULL)) < 0.1);
    /* person evidence of MDM_GROUP_CAP_BELOW bits or more gets the whole cap, and the
     * weight grows with it without a jump */
    double wp[MDM_MAX_COMPARISONS] = {MDM_GROUP_CAP_BELOW, 0, 0, 0, 20, 15};
    CHECK_NEAR(mdm_model_combine(m, wp, false, NULL), MDM_GROUP_CAP_BELOW, 1e-9);
    double w0[MDM_MAX_COMPARISONS] = {-2, 0, 0, 0, 20, 15};
    double prev = mdm_model_combine(m, w0, false, NULL);
    for (int i = 1; i <= 20; i++) {
        double we[MDM_MAX_COMPARISONS] = {-2 + 0.25 * i, 0, 0, 0, 20, 15};
        double v = mdm_model_combine(m, we, false, NULL);
        CHECK(v > prev && v - prev < 0.6);
        prev = v;
    }
    mdm_model_free(m);
}

/* Two people of one household: the evidence outside the household group decides whether
 * two records can be one person (clustering.min_person_probability, at the household odds
 * 2^group_margin), whatever the group adds; the setting round-trips through JSON. */
static void test_person_conflict(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(cfg_text, &err);
    if (!m) {
        CHECK(0);
        return;
    }
    CHECK_NEAR(m->min_person_probability, 0.01, 1e-12); /* the default */
    m->prior = 1e-5;
    m->group_margin = 0;
    /* first_name, last_name (no group here), dob, email, phone and zip (household) */
    double far_dob_mail[MDM_MAX_COMPARISONS] = {3.4, 0, -10, -3.2, 20, 15};
    CHECK(mdm_model_person_conflict(m, far_dob_mail, false));
    /* with the household fields the pair has evidence for a match all the same: the
     * conflict is what keeps the two apart */
    CHECK(mdm_model_combine(m, far_dob_mail, false, NULL) - mdm_model_prior_weight(m) > 0);
    double far_dob[MDM_MAX_COMPARISONS] = {3.4, 0, -9.9, 0, 20, 15}; /* 1.1% one person */
    CHECK(!mdm_model_person_conflict(m, far_dob, false));
    double dob_only[MDM_MAX_COMPARISONS] = {0, 0, -10, 0, 20, 15};
    CHECK(mdm_model_person_conflict(m, dob_only, false));
    /* surname outside the group counts as person evidence */
    double surname[MDM_MAX_COMPARISONS] = {0, 8, -10, 0, 20, 15};
    CHECK(!mdm_model_person_conflict(m, surname, false));
    /* names apart: the e-mail is the household's (mdm_groups), not person evidence */
    double apart[MDM_MAX_COMPARISONS] = {-5.7, 0, 0, -3.2, 20, 15};
    CHECK(!mdm_model_person_conflict(m, apart, true));
    CHECK(mdm_model_person_conflict(m, apart, false));
    /* nothing outside the group: no evidence either way */
    double none[MDM_MAX_COMPARISONS] = {0, 0, 0, 0, -20, -15};
    CHECK(!mdm_model_person_conflict(m, none, false));
    /* a household margin learnt from data without households lets more through */
    m->group_margin = 4;
    CHECK(!mdm_model_person_conflict(m, far_dob_mail, false));
    m->group_margin = 0;
    m->min_person_probability = 0;
    CHECK(!mdm_model_person_conflict(m, dob_only, false));
    mdm_model_free(m);

    const char *off = "{\"comparisons\":[{\"name\":\"first_name\",\"field\":\"first_name\","
                      "\"type\":\"name\"}],\"blocking\":{\"rules\":[\"first_name\"]},"
                      "\"clustering\":{\"min_person_probability\":0.05,"
                      "\"entity_merge\":false}}";
    m = load_cfg(off, &err);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_NEAR(m->min_person_probability, 0.05, 1e-12);
    CHECK(!m->entity_merge);
    json_t *j = mdm_model_json(m);
    json_t *cl = json_object_get(j, "clustering");
    CHECK_NEAR(json_real_value(json_object_get(cl, "min_person_probability")), 0.05, 1e-12);
    CHECK(json_is_false(json_object_get(cl, "entity_merge")));
    json_decref(j);
    mdm_model_free(m);
    const char *bad = "{\"comparisons\":[{\"name\":\"first_name\",\"field\":\"first_name\","
                      "\"type\":\"name\"}],\"blocking\":{\"rules\":[\"first_name\"]},"
                      "\"clustering\":{\"min_person_probability\":0.7}}";
    CHECK(load_cfg(bad, &err) == NULL);
    CHECK_INT(err.code, MDM_EINVAL);
}

/* A contact point shared by people whose first names cannot be one person's (a family
 * e-mail, a home phone) is household evidence: it joins the capped household group
 * instead of counting as person evidence. Records from the real normalizer. */
static void test_contact_points(void)
{
    mdm_err err = {0};
    /* the shipped default: the surname in the household group too */
    char text[2048];
    const char *cut = strstr(cfg_text, ",\"group\":null");
    CHECK(cut != NULL && strlen(cfg_text) < sizeof text);
    if (!cut)
        return;
    snprintf(text, sizeof text, "%.*s%s", (int)(cut - cfg_text), cfg_text,
             cut + strlen(",\"group\":null"));
    mdm_model *m = load_cfg(text, &err);
    CHECK(m != NULL);
    mdm_norm *n = mdm_norm_new(&err);
    CHECK(n != NULL);
    if (!m || !n)
        return;
    m->prior = 0.01;
    m->group_margin = 0;
    mdm_arena *a = mdm_arena_new(4096);
    mdm_feat x, y;
    int8_t lv[MDM_MAX_COMPARISONS];
    mdm_explain ex;
    feat_of(n, a, &x, "Frank", "Lopez", "", "LopezHome958@gmail.com", "(619) 581-7081");
    feat_of(n, a, &y, "Peter", "Lopez", "", "lopezhome958@gmail.com", "+1 619 581 7081");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(mdm_model_names_apart(m, &x, &y, lv));
    mdm_model_score(m, &x, &y, NULL, &ex);
    CHECK_STR(ex.items[3].level_name, "exact");
    CHECK(ex.probability < 0.5); /* about 0.8 when the e-mail counted as person evidence */
    CHECK(ex.group_adjust < 0);
    /* the explanation names the group each weight counted in for this pair, and the cap */
    CHECK_STR(ex.items[3].group, "household");
    CHECK(ex.items[0].group == NULL);
    CHECK(ex.group_cap < -mdm_model_prior_weight(m)); /* below even odds: no person evidence */
    json_t *doc = mdm_explain_json(&ex);
    json_t *email = json_array_get(json_object_get(doc, "comparisons"), 3);
    CHECK_STR(json_string_value(json_object_get(email, "group")), "household");
    CHECK_NEAR(json_real_value(json_object_get(doc, "group_cap")), ex.group_cap, 1e-12);
    json_decref(doc);
    /* the same e-mail under one first name is the same person */
    feat_of(n, a, &y, "frank", "LOPEZ", "", "lopezhome958@gmail.com", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    mdm_model_score(m, &x, &y, NULL, &ex);
    CHECK(ex.probability > 0.9);
    CHECK(ex.items[3].group == NULL); /* the same person's e-mail: person evidence */
    /* names that can be one person's are not apart: swapped into the other field with a
     * typo, an initial, a short form, the other's middle name */
    feat_of(n, a, &x, "Wei", "Rodriguez", "", "wei.rodriguez@proton.me", "");
    feat_of(n, a, &y, "Rodriugez", "Wei", "", "wei.rodriguez@proton.me", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], m->cmp[0].nlevels - 2); /* far: swapped with a typo, not different */
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    /* a nickname with a typo is one person's name (Ssie: Susie, Susan), so the shared
     * e-mail is hers, not the household's */
    feat_of(n, a, &x, "Ssie", "Ulard", "", "ulard_susan62@hotmail.com", "");
    feat_of(n, a, &y, "Susan", "Ulard", "", "ulard_susan62@hotmail.com", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], m->cmp[0].nlevels - 2);
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    feat_of(n, a, &x, "K", "Martinez", "", "", "");
    feat_of(n, a, &y, "Catherine", "Martinez", "", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    /* an initial of another letter and sound is another name (E and Brian) */
    feat_of(n, a, &x, "E", "Dvorak", "", "dvorak.home169@comcast.net", "");
    feat_of(n, a, &y, "Brian", "Dvořák", "", "dvorak.home169@comcast.net", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], m->cmp[0].nlevels - 1);
    CHECK(mdm_model_names_apart(m, &x, &y, lv));
    /* a family e-mail names the surname, which one record has as its first name (the
     * parts swapped): it names no person, the names stay apart */
    feat_of(n, a, &x, "Elizabeth", "Yarmore", "", "yarmorefamily32@outlook.com", "");
    feat_of(n, a, &y, "Yarmore", "Michelle", "", "yarmorefamily32@outlook.com", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(mdm_model_names_apart(m, &x, &y, lv));
    feat_of(n, a, &x, "F", "Dvorak", "", "", "");
    feat_of(n, a, &y, "Phillip", "Dvorak", "", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    mdm_record r; /* the initial of the other's middle name */
    mdm_record_init(&r);
    mdm_record_set(&r, "first_name", "Brian", NULL);
    mdm_record_set(&r, "middle_name", "Edward", NULL);
    mdm_record_set(&r, "last_name", "Dvorak", NULL);
    mdm_feat_build(n, &r, "US", a, &x);
    mdm_record_clear(&r);
    feat_of(n, a, &y, "E", "Dvorak", "", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    feat_of(n, a, &x, "Barbara", "Clark", "", "", "");
    feat_of(n, a, &y, "Linda", "Walow", "", "", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(mdm_model_names_apart(m, &x, &y, lv));
    /* an address naming one of them is a person's own: a garbled first name */
    feat_of(n, a, &x, "Robert", "Radby", "", "RobertRadby@outlook.com", "");
    feat_of(n, a, &y, "Bgb", "Radby", "", "robertradby@outlook.com", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK_INT(lv[0], m->cmp[0].nlevels - 1);
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    feat_of(n, a, &y, "Bgb", "Radby", "", "theradbys@outlook.com", "");
    feat_of(n, a, &x, "Robert", "Radby", "", "theradbys@outlook.com", "");
    mdm_model_levels(m, &x, &y, lv);
    CHECK(mdm_model_names_apart(m, &x, &y, lv));
    /* a model without a household group keeps the e-mail as person evidence */
    m->names_k = -1;
    CHECK(!mdm_model_names_apart(m, &x, &y, lv));
    mdm_arena_free(a);
    mdm_norm_free(n);
    mdm_model_free(m);
}

static void test_custom_levels(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(
        "{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":[{\"name\":"
        "\"surname\",\"field\":\"last_name\",\"type\":\"custom\",\"levels\":[{\"comparator\":"
        "\"jaro_winkler\",\"min\":0.95},{\"comparator\":\"levenshtein\",\"min\":0.5}]}],"
        "\"blocking\":{\"rules\":[\"last_name\"]}}",
        &err);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_INT(m->cmp[0].nlevels, 4);
    mdm_feat x = {0}, y = {0};
    int8_t lv[MDM_MAX_COMPARISONS];
    static const struct {
        const char *a, *b;
        int level;
    } cases[] = {{"smith", "smith", 0},
                 {"martha", "marhta", 1},
                 {"smith", "smyth", 2},
                 {"smith", "jones", 3},
                 {"smith", NULL, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        x.v[MDM_FIELD_LAST_NAME] = cases[i].a;
        y.v[MDM_FIELD_LAST_NAME] = cases[i].b;
        mdm_model_levels(m, &x, &y, lv);
        mdm_test_case(lv[0] == cases[i].level, cases[i].a);
    }
    json_t *doc = mdm_model_json(m);
    mdm_model *m2 = mdm_model_from_json(doc, &err);
    json_decref(doc);
    CHECK(m2 && m2->cmp[0].ncustom == 2 && m2->cmp[0].sim_min[1] == 0.5);
    mdm_model_free(m2);
    mdm_model_free(m);
    m = load_cfg("{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":[{"
                 "\"field\":\"last_name\",\"type\":\"custom\",\"levels\":[{\"comparator\":"
                 "\"soundish\",\"min\":1}]}],\"blocking\":{\"rules\":[\"last_name\"]}}",
                 &err);
    CHECK(m == NULL);
    CHECK(strstr(err.msg, "comparisons[0].levels[0]") != NULL);
    mdm_model_free(m);
}

static void test_json_roundtrip(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(cfg_text, &err);
    if (!m) {
        CHECK(0);
        return;
    }
    m->trained = true;
    m->prior = 0.00123;
    m->cmp[0].m[0] = 0.7;
    m->cmp[0].u[0] = 0.002;
    json_t *doc = mdm_model_json(m);
    mdm_model *m2 = mdm_model_from_json(doc, &err);
    json_decref(doc);
    CHECK(m2 != NULL);
    if (m2) {
        CHECK(m2->trained);
        CHECK_NEAR(m2->prior, 0.00123, 1e-12);
        CHECK_NEAR(m2->cmp[0].m[0], 0.7, 1e-12);
        CHECK_NEAR(m2->cmp[0].u[0], 0.002, 1e-12);
        CHECK_INT(m2->ncmp, m->ncmp);
        CHECK_INT(m2->nrules, 2);
        CHECK_STR(m2->rules[0].text, "last_name:soundex+first_name:initial");
        CHECK_INT(m2->nconflict, 2);
        CHECK_NEAR(mdm_model_level_weight(m2, 0, 0), log2(0.7 / 0.002), 1e-9);
        CHECK_INT(m2->cmp[1].group, -1); /* an explicit null group survives */
        CHECK_INT(m2->cmp[4].group, 0);
    }
    mdm_model_free(m2);
    mdm_model_free(m);
}

/* EM recovers m, u and lambda from pairs simulated with known parameters. */
static void test_em_recovers(void)
{
    enum { K = 4 };
    const int nl[K] = {3, 3, 2, 4};
    const double tm[K][MDM_MAX_LEVELS] = {
        {0.85, 0.1, 0.05}, {0.7, 0.2, 0.1}, {0.9, 0.1}, {0.6, 0.2, 0.15, 0.05}};
    const double tu[K][MDM_MAX_LEVELS] = {
        {0.02, 0.08, 0.9}, {0.05, 0.15, 0.8}, {0.3, 0.7}, {0.01, 0.04, 0.15, 0.8}};
    const double lambda = 0.2;
    /* histogram of all patterns with their exact expected counts (no sampling noise) */
    mdm_pattern pats[3 * 3 * 2 * 4];
    size_t np = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++)
                for (int d = 0; d < 4; d++) {
                    int l[K] = {a, b, c, d};
                    double pm = lambda, pu = 1 - lambda;
                    for (int k = 0; k < K; k++) {
                        pm *= tm[k][l[k]];
                        pu *= tu[k][l[k]];
                        pats[np].levels[k] = (int8_t)l[k];
                    }
                    pats[np].count = 1e6 * (pm + pu);
                    np++;
                }
    double m0[K][MDM_MAX_LEVELS], u0[K][MDM_MAX_LEVELS];
    for (int k = 0; k < K; k++)
        for (int l = 0; l < nl[k]; l++) {
            m0[k][l] = l == 0 ? 0.6 : 0.4 / (nl[k] - 1);
            u0[k][l] = l == nl[k] - 1 ? 0.6 : 0.4 / (nl[k] - 1);
        }
    mdm_em_result r;
    mdm_em_run(pats, np, K, nl, (const double(*)[MDM_MAX_LEVELS])m0,
               (const double(*)[MDM_MAX_LEVELS])u0, 0.5, 2000, false, NULL, 0, &r);
    CHECK_NEAR(r.lambda, lambda, 0.01);
    for (int k = 0; k < K; k++)
        for (int l = 0; l < nl[k]; l++) {
            CHECK_NEAR(r.m[k][l], tm[k][l], 0.02);
            CHECK_NEAR(r.u[k][l], tu[k][l], 0.02);
        }
    /* with u fixed at the truth, m and lambda still come back */
    mdm_em_run(pats, np, K, nl, (const double(*)[MDM_MAX_LEVELS])m0, tu, 0.5, 2000, true, NULL, 0,
               &r);
    CHECK_NEAR(r.lambda, lambda, 0.005);
    CHECK_NEAR(r.m[0][0], tm[0][0], 0.01);
    CHECK_NEAR(r.u[3][3], tu[3][3], 1e-12);
}

static void test_set_u(void)
{
    mdm_err err = {0};
    mdm_model *m = load_cfg(cfg_text, &err);
    if (!m) {
        CHECK(0);
        return;
    }
    double counts[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS] = {{0}};
    counts[0][0] = 100;
    counts[0][4] = 9900;
    mdm_model_set_u(m, (const double(*)[MDM_MAX_LEVELS])counts);
    CHECK_NEAR(m->cmp[0].u[0], 100.5 / 10002.5, 1e-12);
    CHECK(m->cmp[0].u[1] > 0); /* never zero */
    mdm_model_free(m);
}

int main(void)
{
    RUN(test_config_errors);
    RUN(test_levels);
    RUN(test_translit_levels);
    RUN(test_attribute_comparison);
    RUN(test_tf_and_explain);
    RUN(test_default_groups);
    RUN(test_person_conflict);
    RUN(test_contact_points);
    RUN(test_custom_levels);
    RUN(test_json_roundtrip);
    RUN(test_em_recovers);
    RUN(test_set_u);
    TEST_END();
}
