/* Minimal test harness shared by unit and integration tests.
 *
 * A test is a function; RUN(fn) runs it and counts it as passed when none of its
 * CHECKs failed. Table-driven suites call mdm_test_case() once per data row. TEST_END()
 * prints the suite summary "N passed, N failed" as the last line (tests/run.sh sums
 * those lines) and returns the exit status. Failures print file:line and the values. */
#ifndef MDM_TESTS_TEST_H
#define MDM_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            test_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (g_ != w_) {                                                                            \
            fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_);    \
            test_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (!g_ || !w_ || strcmp(g_, w_) != 0) {                                                   \
            fprintf(stderr, "%s:%d: %s = \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got,         \
                    g_ ? g_ : "(null)", w_ ? w_ : "(null)");                                       \
            test_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(got, want, eps)                                                                 \
    do {                                                                                           \
        double g_ = (double)(got), w_ = (double)(want);                                            \
        if (!(fabs(g_ - w_) <= (eps))) {                                                           \
            fprintf(stderr, "%s:%d: %s = %.6f, want %.6f\n", __FILE__, __LINE__, #got, g_, w_);    \
            test_cur_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        test_cur_failed = 0;                                                                       \
        fn();                                                                                      \
        if (test_cur_failed) {                                                                     \
            test_failed++;                                                                         \
            fprintf(stderr, "FAIL %s\n", #fn);                                                     \
        } else {                                                                                   \
            test_passed++;                                                                         \
        }                                                                                          \
    } while (0)

/* Counts one table row as a test case; returns ok so callers can log context. */
static inline int mdm_test_case(int ok, const char *what)
{
    if (ok)
        test_passed++;
    else {
        test_failed++;
        fprintf(stderr, "FAIL %s\n", what);
    }
    return ok;
}

#define TEST_END()                                                                                 \
    do {                                                                                           \
        printf("%d passed, %d failed\n", test_passed, test_failed);                                \
        return test_failed ? 1 : 0;                                                                \
    } while (0)

#endif
