/* /metrics: Prometheus text format. The server's own series (requests, latency, database
 * connections, counters that handlers add, such as ingest results) come from api/http.c;
 * the work-queue gauges (review-queue depth, outbox head and delivery lag, dead
 * deliveries) are read from the database at scrape time with one read-only statement. */
#include "api/handlers.h"
#include "common/log.h"
#include "mdm/propagation.h"
#include "mdm/publish.h"

#include <microhttpd.h>
#include <stdlib.h>

const char mdm_h_metrics_doc[] =
    "{\"summary\": \"Prometheus metrics\", \"tags\": [\"operations\"], \"description\":"
    " \"Requests by route and status, latency histograms, ingest results, review-queue depth,"
    " outbox lag, dead deliveries and database connections, in the Prometheus text format.\","
    " \"responses\": {\"200\": {\"description\": \"metrics\", \"content\": {\"text/plain\":"
    " {\"schema\": {\"type\": \"string\"}}}}}}";

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
    "          WHERE action = 'consent.export') AS consent_export_ts",
    0};

/* Newest record of every registered source (index source_record_received). */
static const mdm_db_stmt stmt_sources = {
    "http_metrics_sources",
    "SELECT s.code, coalesce(extract(epoch FROM (SELECT max(r.received_at) FROM source_record r"
    "        WHERE r.source = s.code)), 0) AS ts FROM source_system s ORDER BY s.code",
    0};

void mdm_h_metrics(mdm_http_req *req)
{
    mdm_buf out = {0};
    mdm_http_metrics_write(req, &out);
    mdm_db *db = mdm_http_db(req);
    PGresult *res = NULL;
    mdm_err err;
    bool up = db && mdm_db_exec(db, &stmt_gauges, NULL, &res, &err) == MDM_OK;
    mdm_buf_printf(&out,
                   "# HELP mdm_db_up Whether the database answered this scrape.\n"
                   "# TYPE mdm_db_up gauge\nmdm_db_up %d\n",
                   up ? 1 : 0);
    if (up) {
        mdm_buf_printf(&out,
                       "# HELP mdm_review_queue_depth Open, claimed and deferred review items.\n"
                       "# TYPE mdm_review_queue_depth gauge\nmdm_review_queue_depth %lld\n"
                       "# HELP mdm_outbox_head_seq Highest outbox sequence number.\n"
                       "# TYPE mdm_outbox_head_seq gauge\nmdm_outbox_head_seq %lld\n"
                       "# HELP mdm_deliveries_pending Push deliveries waiting to be sent.\n"
                       "# TYPE mdm_deliveries_pending gauge\nmdm_deliveries_pending %lld\n"
                       "# HELP mdm_outbox_lag_seconds Age of the oldest pending delivery's event.\n"
                       "# TYPE mdm_outbox_lag_seconds gauge\nmdm_outbox_lag_seconds %s\n"
                       "# HELP mdm_deliveries_dead Deliveries in the dead-letter state.\n"
                       "# TYPE mdm_deliveries_dead gauge\nmdm_deliveries_dead %lld\n",
                       mdm_db_get_ll(res, 0, "review_open", 0),
                       mdm_db_get_ll(res, 0, "outbox_head", 0),
                       mdm_db_get_ll(res, 0, "deliveries_pending", 0),
                       mdm_db_get(res, 0, "outbox_lag_seconds", "0"),
                       mdm_db_get_ll(res, 0, "deliveries_dead", 0));
        mdm_buf_printf(&out,
                       "# HELP mdm_consent_export_last_timestamp_seconds When the consent audit"
                       " was last exported completely (0: never).\n"
                       "# TYPE mdm_consent_export_last_timestamp_seconds gauge\n"
                       "mdm_consent_export_last_timestamp_seconds %s\n",
                       mdm_db_get(res, 0, "consent_export_ts", "0"));
        PQclear(res);
        res = NULL;
        if (mdm_db_exec(db, &stmt_sources, NULL, &res, &err) == MDM_OK) {
            mdm_buf_puts(&out, "# HELP mdm_source_last_received_timestamp_seconds When each source"
                               " system last sent a record (0: never).\n"
                               "# TYPE mdm_source_last_received_timestamp_seconds gauge\n");
            for (int i = 0; i < PQntuples(res); i++)
                mdm_buf_printf(&out,
                               "mdm_source_last_received_timestamp_seconds{source=\"%s\"} %s\n",
                               mdm_db_get(res, i, "code", ""), mdm_db_get(res, i, "ts", "0"));
            PQclear(res);
        }
        /* push delivery: per-subscription gauges and this process's counters */
        if (mdm_publish_metrics_text(db, &out, &err) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=publish_metrics_failed msg=\"%s\"", err.msg);
        if (mdm_propagation_metrics_text(db, &out, &err) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=propagation_metrics_failed msg=\"%s\"", err.msg);
    }
    size_t len = out.len;
    mdm_http_reply_raw(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                       mdm_buf_steal(&out), len);
}
