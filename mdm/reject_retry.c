/* Retry of open rejects through the one-record ingest transaction (see reject.h). It sits
 * above mdm/ingest.c, which stores refusals through reject.c: the retry driver and the
 * table are two files so that neither depends on the other in a circle. */
#include "common/log.h"
#include "mdm/ingest.h"
#include "mdm/reject.h"
#include "mdm/reject_int.h"

#include <stdlib.h>
#include <string.h>

/* Retries one reject (row i of res). */
static mdm_status retry_one(mdm_db *db, const mdm_engine *ctx, const PGresult *res, int i,
                            const char *actor, mdm_reject_retry_stats *stats, mdm_err *err)
{
    const char *id = mdm_db_get(res, i, "id", "0");
    const char *source = mdm_db_get(res, i, "source", "");
    json_t *rec = mdm_reject_payload_record(mdm_db_get(res, i, "payload", ""), NULL, NULL);
    if (!rec || !json_is_object(rec)) {
        json_decref(rec);
        stats->skipped++;
        return MDM_OK;
    }
    mdm_ingest_result r = {0};
    mdm_err ierr = {0};
    mdm_status st = mdm_ingest_retry(
        db, ctx, source, rec, mdm_db_get(res, i, "first_received_at", NULL), actor, &r, &ierr);
    json_decref(rec);
    if (st == MDM_ENOTFOUND) {
        /* the source is no longer configured */
        stats->skipped++;
        mdm_ingest_result_clear(&r);
        return MDM_OK;
    }
    if (st != MDM_OK) {
        if (err)
            *err = ierr;
        mdm_ingest_result_clear(&r);
        return st;
    }
    if (r.decision == MDM_DECISION_REJECTED) {
        json_t *none = r.errors ? NULL : json_array();
        st = mdm_reject_mark_refused(db, id, r.errors ? r.errors : none, err);
        json_decref(none);
        stats->refused++;
    } else {
        st = mdm_reject_mark_accepted(db, id, r.record_id, err);
        stats->accepted++;
        mdm_log(MDM_LOG_INFO, "event=reject_retried reject_id=%s record_id=%lld decision=%s", id,
                (long long)r.record_id, mdm_decision_name(r.decision));
    }
    mdm_ingest_result_clear(&r);
    return st;
}

mdm_status mdm_reject_retry(mdm_db *db, const mdm_engine *ctx, const mdm_reject_filter *f,
                            const char *actor, mdm_reject_retry_stats *stats, mdm_err *err)
{
    memset(stats, 0, sizeof *stats);
    mdm_reject_filter page = *f;
    page.status = "open";
    page.after = 0;
    long max = f->limit > 0 ? f->limit : -1;
    for (;;) {
        int want = 200;
        if (max >= 0 && max - stats->tried < want)
            want = (int)(max - stats->tried);
        if (want <= 0)
            break;
        PGresult *res = NULL;
        mdm_status st = mdm_reject_page(db, &page, want, &res, err);
        if (st != MDM_OK)
            return st;
        int n = PQntuples(res);
        for (int i = 0; i < n && st == MDM_OK; i++) {
            stats->tried++;
            page.after = mdm_db_get_ll(res, i, "id", 0);
            st = retry_one(db, ctx, res, i, actor, stats, err);
        }
        PQclear(res);
        if (st != MDM_OK)
            return st;
        if (n < want)
            break;
    }
    return MDM_OK;
}
