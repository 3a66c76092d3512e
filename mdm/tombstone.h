/* Erasure tombstones (erasure_tombstone): what remains of an erased subject, ids and the
 * SHA-256 of each source key (source || chr(31) || source_key). This module owns the table:
 * erasure (mdm/subject.h) inserts one per erased subject; ingest asks it whether a record's
 * key belongs to an erased subject and, when it does, flags the record in record_reject
 * (mdm/reject.h) instead of storing it. */
#ifndef MDM_MDM_TOMBSTONE_H
#define MDM_MDM_TOMBSTONE_H

#include "common/err.h"
#include "mdm/db.h"

#include <stdbool.h>
#include <stdint.h>

/* Inserts the tombstone of entity_id (source_keys a JSON array text, key_hashes a text[]
 * literal) inside the caller's transaction; *id receives its id. */
mdm_status mdm_tombstone_insert(mdm_db *db, int64_t entity_id, const char *source_keys,
                                const char *key_hashes, const char *requester, const char *reason,
                                int64_t *id, mdm_err *err) __attribute__((warn_unused_result));

/* Called by ingest (inside its transaction) before storing a record: when (source,
 * source_key) belongs to an erased subject, writes a record_reject row (reason
 * "erased_subject" with the tombstone id; the payload itself is withheld, it is
 * personal data) and sets *flagged; the caller then refuses the record (MDM_ECONFLICT,
 * 409) and still commits, so that the flag stays. *tombstone_id (when not NULL)
 * receives the tombstone id or 0. */
mdm_status mdm_tombstone_check_reingest(mdm_db *db, const char *source, const char *source_key,
                                        bool *flagged, int64_t *tombstone_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* The same check in two steps, so that its read can share a round trip with other
 * statements (mdm_db_exec_pipeline): mdm_tombstone_reingest_call sets call to look up
 * params = {source, source_key} (the array must outlive the call); with the call's
 * result, mdm_tombstone_reingest_finish does the rest of mdm_tombstone_check_reingest. */
void mdm_tombstone_reingest_call(const char *params[2], mdm_db_call *call);
/* *reject_id (when not NULL) receives the id of the record_reject row written, or 0. */
mdm_status mdm_tombstone_reingest_finish(mdm_db *db, const PGresult *res, const char *source,
                                         const char *source_key, bool *flagged,
                                         int64_t *tombstone_id, int64_t *reject_id, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
