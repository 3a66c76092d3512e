/* Record counters in the database. See counters.h. */
#include "mdm/counters.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const vias[] = {"http", "batch", "load", "resolve"};
static const char *const results[] = {"received", "rejected", "unchanged", "stale",
                                      "deleted",  "pending",  "created",   "linked",
                                      "review",   "merged",   "updated"};
#define NVIAS    (sizeof vias / sizeof *vias)
#define NRESULTS (sizeof results / sizeof *results)

/* The rows in result order, so two writers of one shard lock them in the same order. */
static const mdm_db_stmt stmt_add = {
    "counters_add",
    "INSERT INTO record_counter AS c (via, result, shard, n)"
    " SELECT $1, t.result, pg_backend_pid() % 16, t.n"
    " FROM unnest($2::text[], $3::bigint[]) AS t(result, n) WHERE t.n > 0 ORDER BY t.result"
    " ON CONFLICT (via, result, shard) DO UPDATE SET n = c.n + EXCLUDED.n",
    3};

static const mdm_db_stmt stmt_read = {
    "counters_read",
    "SELECT via, result, sum(n)::bigint AS n FROM record_counter GROUP BY via, result", 0};

static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return (int)i;
    return -1;
}

/* The statement's parameters for counts[0..n): result names and values as array
 * literals; false when nothing is to be counted. */
static bool counts_params(const mdm_count *counts, size_t n, mdm_buf *names, mdm_buf *values)
{
    size_t used = 0;
    mdm_buf_putc(names, '{');
    mdm_buf_putc(values, '{');
    for (size_t i = 0; i < n; i++) {
        bool known = index_of(results, NRESULTS, counts[i].result) >= 0;
        assert(known);
        if (!known || counts[i].n <= 0)
            continue;
        mdm_buf_printf(names, "%s%s", used ? "," : "", counts[i].result);
        mdm_buf_printf(values, "%s%lld", used ? "," : "", counts[i].n);
        used++;
    }
    mdm_buf_putc(names, '}');
    mdm_buf_putc(values, '}');
    return used > 0;
}

mdm_status mdm_counters_add(mdm_db *db, const char *via, const mdm_count *counts, size_t n,
                            mdm_err *err)
{
    assert(index_of(vias, NVIAS, via) >= 0);
    mdm_buf names = {0}, values = {0};
    mdm_status st = MDM_OK;
    if (counts_params(counts, n, &names, &values)) {
        const char *p[] = {via, names.data, values.data};
        st = mdm_db_exec(db, &stmt_add, p, NULL, err);
    }
    mdm_buf_free(&names);
    mdm_buf_free(&values);
    return st;
}

void mdm_counters_at_commit(mdm_db *db, const char *via, const mdm_count *counts, size_t n)
{
    assert(index_of(vias, NVIAS, via) >= 0);
    mdm_buf names = {0}, values = {0};
    if (counts_params(counts, n, &names, &values)) {
        const char *p[] = {via, names.data, values.data};
        mdm_db_at_commit(db, &stmt_add, p);
    }
    mdm_buf_free(&names);
    mdm_buf_free(&values);
}

mdm_status mdm_counters_text(mdm_db *db, mdm_buf *out, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_read, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    long long grid[NVIAS][NRESULTS];
    memset(grid, 0, sizeof grid);
    for (int i = 0; i < PQntuples(res); i++) {
        int v = index_of(vias, NVIAS, mdm_db_get(res, i, "via", ""));
        int r = index_of(results, NRESULTS, mdm_db_get(res, i, "result", ""));
        if (v >= 0 && r >= 0)
            grid[v][r] = mdm_db_get_ll(res, i, "n", 0);
    }
    PQclear(res);
    mdm_buf_puts(out, "# HELP mdm_records_total Source records received and what became of them,"
                      " by path (http, batch, load, resolve) and result; every process and"
                      " command counts into the database, so every process shows the same"
                      " totals.\n"
                      "# TYPE mdm_records_total counter\n");
    for (size_t v = 0; v < NVIAS; v++)
        for (size_t r = 0; r < NRESULTS; r++)
            mdm_buf_printf(out, "mdm_records_total{via=\"%s\",result=\"%s\"} %lld\n", vias[v],
                           results[r], grid[v][r]);
    return MDM_OK;
}
