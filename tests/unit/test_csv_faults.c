/* The CSV reader's fault hook (mdm_csv_fail_after): for every n, the n-th read or buffer
 * growth of mdm_csv_open fails; the open must return NULL with MDM_EIO naming the file
 * and leak nothing (LeakSanitizer), and the open after it must read every row. */
#include "common/mem.h"
#include "matching/record.h"
#include "tests/test.h"

#include <stdlib.h>
#include <unistd.h>

#define ROWS 6000 /* ~330 kB: several 64 kB reads and buffer growths */

static char path[64];

static void write_file(void)
{
    snprintf(path, sizeof path, "/tmp/mdm_csv_faults_%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f, "rec_id,given_name,surname,street,postcode\n");
    for (int i = 0; i < ROWS; i++)
        fprintf(f, "rec-%d,\"Given, %d\",Surname%d,%d \"\"Long\"\" Street Name Here,%05d\n", i, i,
                i, i, i % 100000);
    fclose(f);
}

static void test_sweep(void)
{
    int failures = 0, n;
    for (n = 1; n < 100; n++) {
        mdm_err err = {0};
        mdm_csv_fail_after(n);
        mdm_csv *c = mdm_csv_open(path, &err);
        mdm_csv_fail_after(0);
        if (c) {
            long rows = 0;
            int rc;
            while ((rc = mdm_csv_next(c, &err)) == 1)
                rows++;
            CHECK_INT(rc, 0);
            CHECK_INT(rows, ROWS);
            CHECK_STR(mdm_csv_field(c, 1), "Given, 5999");
            mdm_csv_close(c);
            break;
        }
        failures++;
        CHECK_INT(err.code, MDM_EIO);
        CHECK(strstr(err.msg, path) != NULL);
        /* the next attempt, without a fault, reads the whole file */
        mdm_err e2 = {0};
        mdm_csv *ok = mdm_csv_open(path, &e2);
        CHECK(ok != NULL);
        mdm_csv_close(ok);
    }
    printf("csv reader: %d injected failures (reads and buffer growths), each clean\n", failures);
    CHECK(failures >= 8); /* 6 reads of 64 kB and 3 growths at least */
    CHECK(n < 100);
}

static void test_empty_file(void)
{
    char p[80];
    snprintf(p, sizeof p, "%s.empty", path);
    FILE *f = fopen(p, "w");
    fclose(f);
    mdm_err err = {0};
    CHECK(mdm_csv_open(p, &err) == NULL);
    CHECK_INT(err.code, MDM_EINVAL);
    CHECK(strstr(err.msg, "empty file") != NULL);
    unlink(p);
}

int main(void)
{
    write_file();
    RUN(test_sweep);
    RUN(test_empty_file);
    unlink(path);
    TEST_END();
}
