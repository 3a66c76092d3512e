/* W3C Trace Context: traceparent parsing, new traces and child spans (mdm/trace.h). */
#include "mdm/trace.h"
#include "tests/test.h"

#include <string.h>

static void test_parse(void)
{
    mdm_trace t;
    CHECK(mdm_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t));
    CHECK_STR(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(t.span_id, "00f067aa0ba902b7");
    CHECK_STR(t.flags, "01");
    CHECK(mdm_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &t));
    /* a later version may append fields after a dash */
    CHECK(mdm_trace_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz", &t));
    static const char *const bad[] = {
        NULL,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", /* 00 has 4 fields */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       /* zero span */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",        /* short trace */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",       /* flags */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",      /* no dash after */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!mdm_trace_parse(bad[i], &t));
}

static void test_new_and_child(void)
{
    mdm_trace a, b, c;
    mdm_trace_start(&a);
    mdm_trace_start(&b);
    CHECK(strcmp(a.trace_id, b.trace_id) != 0);
    CHECK_STR(a.flags, "00");
    char text[MDM_TRACEPARENT_LEN + 1];
    mdm_trace_format(&a, text);
    CHECK(strlen(text) == MDM_TRACEPARENT_LEN);
    mdm_trace back;
    CHECK(mdm_trace_parse(text, &back)); /* what we send, we can read */
    CHECK_STR(back.trace_id, a.trace_id);
    CHECK_STR(back.span_id, a.span_id);
    mdm_trace parent;
    CHECK(mdm_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent));
    mdm_trace_child(&parent, &c);
    CHECK_STR(c.trace_id, parent.trace_id);
    CHECK_STR(c.flags, "01");
    CHECK(strcmp(c.span_id, parent.span_id) != 0);
    CHECK(mdm_trace_current() == NULL);
    mdm_trace_set_current(&c);
    CHECK(mdm_trace_current() == &c);
    mdm_trace_set_current(NULL);
}

int main(void)
{
    RUN(test_parse);
    RUN(test_new_and_child);
    TEST_END();
}
