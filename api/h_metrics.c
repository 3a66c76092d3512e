/* /metrics: Prometheus text format. The server's own series (requests, latency, database
 * connections, counters that handlers add, such as ingest results) come from api/http.c;
 * the work-queue gauges (review-queue depth and backlog by age, outbox head and delivery
 * lag, dead deliveries) are read from the database at scrape time with one read-only
 * statement, and so are the deployment's record counters (mdm_records_total, summed by
 * every process and command into the database: the same on every process).
 *
 * The data-quality histograms per source (mdm_quality_histograms_text) need a scan of every
 * live source record (about 11 s at a million records, beyond a scrape's timeout): a
 * thread of mdm serve computes them every http.quality_metrics_seconds (300) and a scrape
 * appends the last snapshot with its age (mdm_quality_snapshot_text), never scanning. */
#include "api/handlers.h"
#include "api/http_metrics.h"
#include "common/log.h"
#include "mdm/counters.h"
#include "mdm/gauges.h"
#include "mdm/propagation.h"
#include "mdm/publish.h"
#include "mdm/quality.h"

#include <microhttpd.h>
#include <stdlib.h>

const char mdm_h_metrics_doc[] =
    "{\"summary\": \"Prometheus metrics\", \"tags\": [\"operations\"], \"description\":"
    " \"Requests by route and status, latency histograms, ingest results, review-queue depth,"
    " outbox lag, dead deliveries, database connections and the data-quality histograms per"
    " source (computed in the background every http.quality_metrics_seconds, with the"
    " snapshot's age), in the Prometheus text format.\","
    " \"responses\": {\"200\": {\"description\": \"metrics\", \"content\": {\"text/plain\":"
    " {\"schema\": {\"type\": \"string\"}}}}}}";

/* One line of mdm_source_last_received_timestamp_seconds. */
static void put_source(void *arg, const char *code, const char *ts)
{
    mdm_buf_printf(arg, "mdm_source_last_received_timestamp_seconds{source=\"%s\"} %s\n", code, ts);
}

void mdm_h_metrics(mdm_http_req *req)
{
    mdm_buf out = {0};
    mdm_http_metrics_write(req, &out);
    mdm_db *db = mdm_http_db(req);
    mdm_gauges g;
    mdm_err err;
    bool up = db && mdm_gauges_read(db, &g, &err) == MDM_OK;
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
                       g.review_open, g.outbox_head, g.deliveries_pending, g.outbox_lag_seconds,
                       g.deliveries_dead);
        mdm_buf_printf(&out,
                       "# HELP mdm_consent_export_last_timestamp_seconds When the consent audit"
                       " was last exported completely (0: never).\n"
                       "# TYPE mdm_consent_export_last_timestamp_seconds gauge\n"
                       "mdm_consent_export_last_timestamp_seconds %s\n",
                       g.consent_export_ts);
        static const char *const ages[] = {"under_1d", "1d_to_7d", "7d_to_30d", "over_30d"};
        mdm_buf_puts(&out, "# HELP mdm_review_backlog Open, claimed and deferred review items"
                           " by age (since the item was created).\n"
                           "# TYPE mdm_review_backlog gauge\n");
        for (size_t i = 0; i < sizeof ages / sizeof *ages; i++)
            mdm_buf_printf(&out, "mdm_review_backlog{age=\"%s\"} %lld\n", ages[i],
                           g.review_by_age[i]);
        mdm_buf_printf(&out,
                       "# HELP mdm_review_oldest_open_age_seconds Age of the oldest open, claimed"
                       " or deferred review item (0: none).\n"
                       "# TYPE mdm_review_oldest_open_age_seconds gauge\n"
                       "mdm_review_oldest_open_age_seconds %s\n",
                       g.review_oldest_seconds);
        /* records received and resolved by every process and command (mdm/counters.h) */
        if (mdm_counters_text(db, &out, &err) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=counters_read_failed msg=\"%s\"", err.msg);
        mdm_buf rows = {0};
        if (mdm_gauges_sources(db, put_source, &rows, &err) == MDM_OK) {
            mdm_buf_puts(&out, "# HELP mdm_source_last_received_timestamp_seconds When each source"
                               " system last sent a record (0: never).\n"
                               "# TYPE mdm_source_last_received_timestamp_seconds gauge\n");
            if (rows.len)
                mdm_buf_puts(&out, rows.data);
        }
        mdm_buf_free(&rows);
        /* push delivery: per-subscription gauges and this process's counters */
        if (mdm_publish_metrics_text(db, &out, &err) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=publish_metrics_failed msg=\"%s\"", err.msg);
        if (mdm_propagation_metrics_text(db, &out, &err) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=propagation_metrics_failed msg=\"%s\"", err.msg);
    }
    /* the last background snapshot (mdm/quality.h): no database work in the scrape */
    mdm_quality_snapshot_text(&out);
    size_t len = out.len;
    mdm_http_reply_raw(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                       mdm_buf_steal(&out), len);
}
