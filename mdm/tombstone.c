/* The erasure tombstones: written by erasure (mdm/subject.c), read on every ingest to
 * refuse a record of an erased subject. See tombstone.h. */
#include "mdm/tombstone.h"

#include "common/log.h"
#include "mdm/reject.h"

#include <stdio.h>
#include <string.h>

static const mdm_db_stmt stmt_insert_tombstone = {
    "subject_insert_tombstone",
    "INSERT INTO erasure_tombstone (entity_id, source_keys, key_hashes, requester, reason) "
    "VALUES ($1::bigint, $2::jsonb, $3::text[], $4, $5) RETURNING id",
    5};

mdm_status mdm_tombstone_insert(mdm_db *db, int64_t entity_id, const char *source_keys,
                                const char *key_hashes, const char *requester, const char *reason,
                                int64_t *id, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, entity_id);
    const char *p_tomb[] = {ids, source_keys, key_hashes, requester, reason};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_insert_tombstone, p_tomb, &res, err);
    if (st != MDM_OK)
        return st;
    *id = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    return MDM_OK;
}

/* The newest tombstone holding the key's hash, through the GIN index on key_hashes.
 * "ORDER BY id + 0": with the bare id the planner walks the primary key backwards and
 * filters every tombstone (353 ms per ingest at 200,000 tombstones, 0.1 ms this way). */
static const mdm_db_stmt stmt_erased_key = {
    "subject_erased_key",
    "SELECT id FROM erasure_tombstone WHERE key_hashes @> ARRAY[encode(sha256(convert_to($1 || "
    "chr(31) || $2, 'UTF8')), 'hex')] ORDER BY id + 0 DESC LIMIT 1",
    2};

void mdm_tombstone_reingest_call(const char *params[2], mdm_db_call *call)
{
    memset(call, 0, sizeof *call);
    call->stmt = &stmt_erased_key;
    call->params = params;
}

mdm_status mdm_tombstone_reingest_finish(mdm_db *db, const PGresult *res, const char *source,
                                         const char *source_key, bool *flagged,
                                         int64_t *tombstone_id, int64_t *reject_id, mdm_err *err)
{
    *flagged = false;
    if (tombstone_id)
        *tombstone_id = 0;
    if (reject_id)
        *reject_id = 0;
    long long tomb = mdm_db_get_ll(res, 0, "id", 0);
    if (!tomb)
        return MDM_OK;
    mdm_status st = mdm_reject_flag_erased(db, source, source_key, tomb, reject_id, err);
    if (st != MDM_OK)
        return st;
    *flagged = true;
    if (tombstone_id)
        *tombstone_id = tomb;
    mdm_log(MDM_LOG_WARN, "event=erased_key_reingest source=%s tombstone=%lld", source, tomb);
    return MDM_OK;
}

mdm_status mdm_tombstone_check_reingest(mdm_db *db, const char *source, const char *source_key,
                                        bool *flagged, int64_t *tombstone_id, mdm_err *err)
{
    *flagged = false;
    if (tombstone_id)
        *tombstone_id = 0;
    const char *params[] = {source, source_key};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_erased_key, params, &res, err);
    if (st != MDM_OK)
        return st;
    st = mdm_tombstone_reingest_finish(db, res, source, source_key, flagged, tombstone_id, NULL,
                                       err);
    PQclear(res);
    return st;
}
