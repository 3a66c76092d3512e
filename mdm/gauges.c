/* Store gauges for /metrics. See gauges.h. */
#include "mdm/gauges.h"

#include <stdio.h>
#include <string.h>

static const mdm_db_stmt stmt_gauges = {
    "http_metrics_gauges",
    "SELECT (SELECT count(*) FROM review_item WHERE status IN ('open', 'claimed', 'deferred'))"
    "         AS review_open,"
    "       (SELECT coalesce(max(seq), 0) FROM outbox) AS outbox_head,"
    "       (SELECT count(*) FROM delivery WHERE state = 'pending') AS deliveries_pending,"
    "       (SELECT coalesce(extract(epoch FROM now() - min(o.created_at)), 0)"
    "          FROM delivery d JOIN outbox o ON o.seq = d.seq WHERE d.state = 'pending')"
    "         AS outbox_lag_seconds,"
    "       (SELECT count(*) FROM delivery WHERE state = 'dead') AS deliveries_dead,"
    "       (SELECT coalesce(extract(epoch FROM max(at)), 0) FROM audit_log"
    "          WHERE action = 'consent.export') AS consent_export_ts,"
    "       r.under_1d, r.days_1_7, r.days_7_30, r.over_30d, r.oldest"
    "  FROM (SELECT count(*) FILTER (WHERE age < interval '1 day') AS under_1d,"
    "          count(*) FILTER (WHERE age >= interval '1 day' AND age < interval '7 days')"
    "            AS days_1_7,"
    "          count(*) FILTER (WHERE age >= interval '7 days' AND age < interval '30 days')"
    "            AS days_7_30,"
    "          count(*) FILTER (WHERE age >= interval '30 days') AS over_30d,"
    "          coalesce(extract(epoch FROM max(age)), 0) AS oldest"
    "        FROM (SELECT now() - created_at AS age FROM review_item"
    "              WHERE status IN ('open', 'claimed', 'deferred')) a) r",
    0};

/* Newest record of every registered source (index source_record_received). */
static const mdm_db_stmt stmt_sources = {
    "http_metrics_sources",
    "SELECT s.code, coalesce(extract(epoch FROM (SELECT max(r.received_at) FROM source_record r"
    "        WHERE r.source = s.code)), 0) AS ts FROM source_system s ORDER BY s.code",
    0};

mdm_status mdm_gauges_read(mdm_db *db, mdm_gauges *g, mdm_err *err)
{
    PGresult *res = NULL;
    memset(g, 0, sizeof *g);
    mdm_status st = mdm_db_exec(db, &stmt_gauges, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    g->review_open = mdm_db_get_ll(res, 0, "review_open", 0);
    g->outbox_head = mdm_db_get_ll(res, 0, "outbox_head", 0);
    g->deliveries_pending = mdm_db_get_ll(res, 0, "deliveries_pending", 0);
    snprintf(g->outbox_lag_seconds, sizeof g->outbox_lag_seconds, "%s",
             mdm_db_get(res, 0, "outbox_lag_seconds", "0"));
    g->deliveries_dead = mdm_db_get_ll(res, 0, "deliveries_dead", 0);
    snprintf(g->consent_export_ts, sizeof g->consent_export_ts, "%s",
             mdm_db_get(res, 0, "consent_export_ts", "0"));
    g->review_by_age[0] = mdm_db_get_ll(res, 0, "under_1d", 0);
    g->review_by_age[1] = mdm_db_get_ll(res, 0, "days_1_7", 0);
    g->review_by_age[2] = mdm_db_get_ll(res, 0, "days_7_30", 0);
    g->review_by_age[3] = mdm_db_get_ll(res, 0, "over_30d", 0);
    snprintf(g->review_oldest_seconds, sizeof g->review_oldest_seconds, "%s",
             mdm_db_get(res, 0, "oldest", "0"));
    PQclear(res);
    return MDM_OK;
}

mdm_status mdm_gauges_sources(mdm_db *db, void (*fn)(void *arg, const char *code, const char *ts),
                              void *arg, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_sources, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    for (int i = 0; i < PQntuples(res); i++)
        fn(arg, mdm_db_get(res, i, "code", ""), mdm_db_get(res, i, "ts", "0"));
    PQclear(res);
    return MDM_OK;
}
