/* The consent audit export's helpers without a database: the format names (its CSV
 * fields are common/csvout.c's, tested in test_csvout.c). The export itself runs against PostgreSQL
 * in tests/integration/test_consent.c. */
#include "common/mem.h"
#include "mdm/consent_audit.h"
#include "tests/test.h"

static void test_format_parse(void)
{
    mdm_consent_format f;
    CHECK(mdm_consent_format_parse("csv", &f) && f == MDM_CONSENT_CSV);
    CHECK(mdm_consent_format_parse("ndjson", &f) && f == MDM_CONSENT_NDJSON);
    CHECK(!mdm_consent_format_parse("xml", &f));
    CHECK(!mdm_consent_format_parse(NULL, &f));
}

int main(void)
{
    RUN(test_format_parse);
    TEST_END();
}
