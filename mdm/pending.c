/* The queue of pending records (record_pending), its one writer: loads and deletes put
 * records on it, resolution and erasure take them off. See pending.h. */
#include "mdm/pending.h"

static const mdm_db_stmt stmt_add = {
    "pending_add",
    "INSERT INTO record_pending (record_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING", 1};

static const mdm_db_stmt stmt_remove = {"pending_remove",
                                        "DELETE FROM record_pending WHERE record_id = $1", 1};

/* an index lookup per id; a join with a temporary table (no statistics) was planned as a
 * scan of the whole table per bulk chunk */
static const mdm_db_stmt stmt_remove_ids = {
    "pending_remove_ids", "DELETE FROM record_pending WHERE record_id = ANY($1::bigint[])", 1};

static const mdm_db_stmt stmt_resolved = {
    "pending_resolved",
    "WITH done AS (DELETE FROM record_pending WHERE record_id = $1) "
    "SELECT version FROM entity WHERE id = $2::bigint",
    2};

mdm_status mdm_pending_add(mdm_db *db, const char *ids, mdm_err *err)
{
    const char *p[1] = {ids};
    return mdm_db_exec(db, &stmt_add, p, NULL, err);
}

mdm_status mdm_pending_remove(mdm_db *db, int64_t record_id, mdm_err *err)
{
    char rid[MDM_DB_ID_LEN];
    const char *p[1] = {mdm_db_id(rid, record_id)};
    return mdm_db_exec(db, &stmt_remove, p, NULL, err);
}

mdm_status mdm_pending_remove_ids(mdm_db *db, const char *ids, mdm_err *err)
{
    const char *p[1] = {ids};
    return mdm_db_exec(db, &stmt_remove_ids, p, NULL, err);
}

mdm_status mdm_pending_resolved(mdm_db *db, int64_t record_id, int64_t entity_id,
                                int *entity_version, mdm_err *err)
{
    char rid[MDM_DB_ID_LEN], eid[MDM_DB_ID_LEN];
    const char *p[2] = {mdm_db_id(rid, record_id), mdm_db_id(eid, entity_id)};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_resolved, p, &res, err);
    if (st != MDM_OK)
        return st;
    *entity_version = (int)mdm_db_get_ll(res, 0, "version", 0);
    PQclear(res);
    return MDM_OK;
}
