/* The one JSON input reader (issue 19 item 5): one message form, the JSON pointer of the
 * value at fault, the reader's status, and "not given" leaving defaults alone. */
#include "common/jsonin.h"
#include "tests/test.h"

#include <limits.h>
#include <string.h>

static json_t *doc(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    CHECK(j != NULL);
    return j;
}

static void test_values(void)
{
    json_t *j = doc("{\"n\": 7, \"p\": 0.5, \"b\": true, \"s\": \"hi\", \"a\": [1, 2], "
                    "\"c\": \"far\", \"z\": null}");
    mdm_err err = {0};
    mdm_jin in;
    CHECK(mdm_jin_open(&in, j, "resolve", MDM_EINVAL, &err));
    long long n = -1;
    double p = 0, x = 42;
    bool b = false;
    const char *s = NULL;
    const json_t *a = NULL;
    int c = -1;
    CHECK(mdm_jin_int(&in, "n", 0, 10, &n));
    CHECK_INT(n, 7);
    CHECK(mdm_jin_probability(&in, "p", &p));
    CHECK_NEAR(p, 0.5, 1e-12);
    CHECK(mdm_jin_number(&in, "n", 0, 10, &x)); /* an integer is a number */
    CHECK_NEAR(x, 7, 1e-12);
    CHECK(mdm_jin_bool(&in, "b", &b) && b);
    CHECK(mdm_jin_string(&in, "s", 2, &s));
    CHECK_STR(s, "hi");
    CHECK(mdm_jin_array(&in, "a", 1, 2, &a) && json_array_size(a) == 2);
    static const char *const levels[] = {"exact", "close", "far", NULL};
    CHECK(mdm_jin_choice(&in, "c", levels, &c));
    CHECK_INT(c, 2);
    /* absent and null are "not given": outputs keep their defaults */
    long long d = 99;
    CHECK(mdm_jin_int(&in, "missing", 0, 1, &d) && mdm_jin_int(&in, "z", 0, 1, &d));
    CHECK_INT(d, 99);
    CHECK(!mdm_jin_has(&in, "z") && mdm_jin_has(&in, "n"));
    CHECK(mdm_jin_need(&in, "n", "a count"));
    CHECK(!mdm_jin_need(&in, "z", "a count"));
    CHECK_STR(err.msg, "resolve.z must be given: a count");
    CHECK_STR(err.field, "/resolve/z");
    mdm_err_clear(&err);
    static const char *const known[] = {"n", "p", "b", "s", "a", "c", "z", NULL};
    CHECK(mdm_jin_known(&in, known));
    CHECK_INT(err.code, MDM_OK);
    json_decref(j);
}

/* Every complaint: "NAME must be WHAT", the pointer, the reader's status. */
static void test_messages(void)
{
    json_t *j = doc("{\"n\": 11, \"f\": 1.5, \"p\": 1, \"b\": \"yes\", \"s\": 3, \"t\": \"long\", "
                    "\"a\": [], \"c\": \"near\", \"o\": 1, \"a/b~c\": 1}");
    mdm_jin in;
    mdm_err err = {0};
    CHECK(mdm_jin_open(&in, j, "resolve.deep", MDM_EINVAL, &err));
    long long n;
    double f;
    bool b;
    const char *s;
    const json_t *a;
    int c;
    mdm_jin child;
    static const char *const levels[] = {"exact", "close", NULL};
    CHECK(!mdm_jin_int(&in, "n", 0, 10, &n));
    CHECK_STR(err.msg, "resolve.deep.n must be an integer from 0 to 10");
    CHECK_STR(err.field, "/resolve/deep/n");
    CHECK_INT(err.code, MDM_EINVAL);
    CHECK(!mdm_jin_int(&in, "f", 1, LLONG_MAX, &n));
    CHECK_STR(err.msg, "resolve.deep.f must be an integer of at least 1");
    CHECK(!mdm_jin_int(&in, "f", 0, 10, &n));
    CHECK_STR(err.msg, "resolve.deep.f must be an integer from 0 to 10");
    CHECK(!mdm_jin_number(&in, "f", 0, 1, &f));
    CHECK_STR(err.msg, "resolve.deep.f must be a number from 0 to 1");
    CHECK(!mdm_jin_probability(&in, "p", &f));
    CHECK_STR(err.msg, "resolve.deep.p must be a probability above 0 and below 1");
    CHECK(!mdm_jin_bool(&in, "b", &b));
    CHECK_STR(err.msg, "resolve.deep.b must be true or false");
    CHECK(!mdm_jin_string(&in, "s", 0, &s));
    CHECK_STR(err.msg, "resolve.deep.s must be a string");
    CHECK(!mdm_jin_string(&in, "t", 3, &s));
    CHECK_STR(err.msg, "resolve.deep.t must be a string of at most 3 bytes");
    CHECK(!mdm_jin_array(&in, "a", 1, 5, &a));
    CHECK_STR(err.msg, "resolve.deep.a must be an array of 1 to 5 items");
    CHECK(!mdm_jin_array(&in, "s", 0, (size_t)-1, &a));
    CHECK_STR(err.msg, "resolve.deep.s must be an array");
    CHECK(!mdm_jin_choice(&in, "c", levels, &c));
    CHECK_STR(err.msg, "resolve.deep.c must be one of: exact, close");
    CHECK(!mdm_jin_member(&child, &in, "o"));
    CHECK_STR(err.msg, "resolve.deep.o must be an object");
    CHECK_STR(err.field, "/resolve/deep/o");
    /* RFC 6901: "~" and "/" in a key are escaped in the pointer */
    CHECK(!mdm_jin_int(&in, "a/b~c", 5, 6, &n));
    CHECK_STR(err.field, "/resolve/deep/a~1b~0c");
    static const char *const known[] = {"n", "f", NULL};
    CHECK(!mdm_jin_known(&in, known));
    CHECK(strncmp(err.msg, "unknown key \"resolve.deep.", 26) == 0);
    CHECK(strstr(err.msg, "(known: n, f)") != NULL);
    static const char *const many[] = {
        "aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccc",
        "dddddddddddddddddddd", "eeeeeeeeeeeeeeeeeeee", "ffffffffffffffffffff",
        "gggggggggggggggggggg", "hhhhhhhhhhhhhhhhhhhh", NULL};
    CHECK(!mdm_jin_choice(&in, "c", many, &c)); /* a long list ends with "..." */
    CHECK(strstr(err.msg, "must be one of: aaaaaaaaaaaaaaaaaaaa, ") != NULL);
    CHECK(strcmp(err.msg + strlen(err.msg) - 5, ", ...") == 0);
    CHECK_INT(mdm_jin_fail(&in, NULL, "complete"), MDM_EINVAL);
    CHECK_STR(err.msg, "resolve.deep must be complete");
    CHECK_INT(mdm_jin_fail_item(&in, "a", 2, "a kind"), MDM_EINVAL);
    CHECK_STR(err.msg, "resolve.deep.a[2] must be a kind");
    CHECK_STR(err.field, "/resolve/deep/a/2");
    json_decref(j);
}

/* A request body: members are named bare, the status is 422, and the body itself is
 * "the body". Nested objects name their path. */
static void test_body(void)
{
    json_t *j = doc("{\"reason\": 5, \"inner\": {\"x\": \"1\"}}");
    mdm_jin in, inner;
    mdm_err err = {0};
    CHECK(mdm_jin_open(&in, j, "", MDM_EUNPROCESSABLE, &err));
    const char *s;
    CHECK(!mdm_jin_string(&in, "reason", 0, &s));
    CHECK_STR(err.msg, "reason must be a string");
    CHECK_STR(err.field, "/reason");
    CHECK_INT(err.code, MDM_EUNPROCESSABLE);
    CHECK(mdm_jin_member(&inner, &in, "inner"));
    long long n;
    CHECK(!mdm_jin_int(&inner, "x", 0, 9, &n));
    CHECK_STR(err.msg, "inner.x must be an integer from 0 to 9");
    CHECK_STR(err.field, "/inner/x");
    json_t *arr = doc("[1]");
    CHECK(!mdm_jin_open(&in, arr, "", MDM_EUNPROCESSABLE, &err));
    CHECK_STR(err.msg, "the body must be an object");
    CHECK_STR(err.field, "");
    /* an array item as the object read: its pointer counts the index */
    json_t *item = doc("{\"k\": 1}");
    CHECK(mdm_jin_open(&in, item, "sources[2]", MDM_EINVAL, &err));
    CHECK(!mdm_jin_string(&in, "k", 0, &s));
    CHECK_STR(err.msg, "sources[2].k must be a string");
    CHECK_STR(err.field, "/sources/2/k");
    json_decref(item);
    /* an object not given reads as empty */
    CHECK(mdm_jin_open(&in, NULL, "limits", MDM_EINVAL, &err) && in.obj == NULL);
    n = 3;
    CHECK(mdm_jin_int(&in, "x", 0, 1, &n));
    CHECK_INT(n, 3);
    json_decref(arr);
    json_decref(j);
}

int main(void)
{
    RUN(test_values);
    RUN(test_messages);
    RUN(test_body);
    TEST_END();
}
