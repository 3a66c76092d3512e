/* libFuzzer target for the CSV reader (matching/record.c: RFC 4180 and FEBRL files) and
 * the column mapping onto canonical records. Every row is read (malformed rows are
 * reported and skipped), bound through a mapping of the first columns and turned into a
 * record. Invariants: the reader always ends (each call consumes input or reports the
 * end), a row it returns has exactly the header's number of fields, and line numbers
 * never go backwards. */
#include "matching/record.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mdm_source_map map;
static int have_map;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    if (!have_map) {
        json_t *m = json_loads("{\"key\": \"rec_id\", \"mapping\": {\"given_name\": \"first_name\","
                               " \"surname\": \"last_name\", \"postcode\": \"address.postal_code\","
                               " \"phone\": \"phone\", \"dob\": \"birth_date\"}}",
                               0, NULL);
        mdm_err err;
        if (mdm_source_map_parse(&map, m, 0, MDM_SOURCE_LINK, &err) != MDM_OK)
            abort();
        json_decref(m);
        have_map = 1;
    }
    mdm_err err = {0};
    mdm_csv *c = mdm_csv_open_mem((const char *)data, size, "fuzz.csv", &err);
    if (!c)
        return 0;
    size_t ncols = mdm_csv_ncols(c);
    int *colidx = calloc(map.ncols + 1, sizeof *colidx);
    int id_col = -1;
    bool bound = mdm_source_map_bind(&map, c, colidx, &id_col, &err) == MDM_OK;
    long last_line = 0, rows = 0;
    int rc;
    while ((rc = mdm_csv_next(c, &err)) != 0) {
        if (++rows > (long)size + 2)
            abort(); /* no progress */
        if (mdm_csv_line(c) < last_line)
            abort();
        last_line = mdm_csv_line(c);
        if (rc < 0)
            continue;
        for (size_t i = 0; i < ncols; i++)
            if (!mdm_csv_field(c, i))
                abort();
        if (bound) {
            mdm_record r;
            mdm_record_init(&r);
            mdm_record_from_row(&r, &map, colidx, id_col, "fuzz", c);
            mdm_record_clear(&r);
        }
    }
    free(colidx);
    mdm_csv_close(c);
    return 0;
}
