/* The data-quality filters' parameters (mdm/quality.c: mdm_quality_bounds): which values
 * make bounds, the JSON they become, and the errors naming the parameter. The scores
 * themselves are SQL (sql/056_quality_scores.sql), checked end to end by
 * tests/e2e/quality.sh and tests/e2e/quality_events.sh. */
#include "mdm/quality.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

/* values for the eight parameters, by name=value pairs (NULL-terminated) */
static void fill(const char *v[MDM_QUALITY_NFILTERS], const char *const *pairs)
{
    for (size_t i = 0; i < MDM_QUALITY_NFILTERS; i++)
        v[i] = NULL;
    for (; pairs[0]; pairs += 2)
        for (size_t i = 0; i < MDM_QUALITY_NFILTERS; i++)
            if (!strcmp(mdm_quality_filter_names[i], pairs[0]))
                v[i] = pairs[1];
}

static void test_bounds(void)
{
    static const struct {
        const char *pairs[7];
        const char *json; /* NULL: no bounds */
    } cases[] = {
        {{NULL}, NULL},
        {{"min_completeness", "", NULL}, NULL},
        {{"max_completeness", "0.5", NULL}, "{\"max_completeness\":0.5}"},
        {{"min_validity", "1", "max_freshness", "0.25", NULL},
         "{\"min_validity\":1,\"max_freshness\":0.25}"},
        {{"min_consistency", "0", "max_consistency", "0", NULL},
         "{\"min_consistency\":0,\"max_consistency\":0}"},
        {{"max_freshness", "0.333", "min_completeness", "0.1", NULL},
         "{\"min_completeness\":0.1,\"max_freshness\":0.333}"},
        /* what strtod reads beyond a JSON number becomes one */
        {{"max_validity", "5e-1", "min_validity", "0x0.4", NULL},
         "{\"min_validity\":0.25,\"max_validity\":0.5}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *v[MDM_QUALITY_NFILTERS];
        fill(v, cases[i].pairs);
        char *out = (char *)"unset";
        mdm_err err = {0};
        CHECK_INT(mdm_quality_bounds(v, &out, &err), MDM_OK);
        if (cases[i].json)
            CHECK_STR(out, cases[i].json);
        else
            CHECK(out == NULL);
        free(out);
    }
}

static void test_errors(void)
{
    static const struct {
        const char *pairs[5];
        const char *field, *msg;
    } cases[] = {
        {{"min_completeness", "2", NULL},
         "/min_completeness",
         "min_completeness must be a number between 0 and 1"},
        {{"max_validity", "-0.1", NULL},
         "/max_validity",
         "max_validity must be a number between 0 and 1"},
        {{"max_freshness", "high", NULL},
         "/max_freshness",
         "max_freshness must be a number between 0 and 1"},
        {{"min_consistency", "0.5x", NULL},
         "/min_consistency",
         "min_consistency must be a number between 0 and 1"},
        {{"max_validity", "nan", NULL},
         "/max_validity",
         "max_validity must be a number between 0 and 1"},
        {{"min_freshness", "0.9", "max_freshness", "0.5", NULL},
         "/min_freshness",
         "min_freshness is above max_freshness"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *v[MDM_QUALITY_NFILTERS];
        fill(v, cases[i].pairs);
        char *out = NULL;
        mdm_err err = {0};
        CHECK_INT(mdm_quality_bounds(v, &out, &err), MDM_EINVAL);
        CHECK(out == NULL);
        CHECK_STR(err.field, cases[i].field);
        CHECK_STR(err.msg, cases[i].msg);
    }
}

int main(void)
{
    RUN(test_bounds);
    RUN(test_errors);
    TEST_END();
}
