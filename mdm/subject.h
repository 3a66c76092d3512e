/* Data-subject rights: subject access export and erasure (GDPR articles 15 and 17).
 *
 * A subject is a golden record (a retired id answers for its survivor). Its data is the
 * golden record and the records retired into it, its active member records (raw,
 * normalized, history), consent events and state, membership and link history, review
 * items, steward assertions, refused copies, merge snapshots, outbox events and deliveries.
 *
 * Erasure removes the personal data of all of that and keeps:
 *   - every row that the audit trail needs, without personal data (ids, times, actions,
 *     statuses; consent events keep purpose, channel, status and times, their contact
 *     point and evidence become "[erased]");
 *   - one erasure_tombstone row: entity id, the records' (source, source_key, record_id)
 *     and SHA-256 hashes of "source<US>source_key", requester, reason, time;
 *   - the source keys: they are the source systems' own identifiers (not personal data
 *     in this design; a source that keys its records by an email should map a
 *     surrogate key), needed to tell each system to delete its copy and to recognize a
 *     stale copy sent again.
 * The golden record becomes status "erased", its member records erased and deleted,
 * and one `deleted` outbox event lists every (source, source_key) so that every source
 * system is told. The stewardship audit_log is append-only and hash-chained: erasure
 * cannot scrub it, so its before/after must never hold personal values.
 *
 * Re-ingest: a record whose (source, source_key) belongs to an erased subject must not
 * silently re-create the person from a stale copy; ingest calls
 * mdm_tombstone_check_reingest (mdm/tombstone.h) first and refuses (409) when it flags the record.
 */
#ifndef MDM_MDM_SUBJECT_H
#define MDM_MDM_SUBJECT_H

#include "common/err.h"
#include "mdm/audit.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Everything held on the subject as one new JSON object (see the file comment), read
 * in one repeatable-read snapshot: {subject_id, entity_id, status, generated_at, golden,
 * retired_ids, golden_values, pins, versions, records (each with its history),
 * memberships, consent {events, state}, link_history, review_items, assertions,
 * rejects, merge_snapshots, outbox, deliveries}. For an erased subject: only {subject_id,
 * entity_id, status: "erased", tombstone}. MDM_ENOTFOUND for an unknown id. Runs its own
 * transaction (db must not be inside one). */
mdm_status mdm_subject_export(mdm_db *db, int64_t subject_id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erases the subject (see the file comment) in one transaction of its own. requester
 * (required) and reason (optional) go to the tombstone and the link history; who (required)
 * is who performs it, recorded with one "subject.erase" audit row in the same transaction
 * (target "entity:ID", before/after: status, version, tombstone id, erased ids and the
 * number of records; neither requester nor reason, which may name the person). *result
 * (when not NULL) receives a new object {entity_id, tombstone_id, records, erased_ids,
 * already_erased, version}; erasing an erased subject again changes nothing and answers
 * its tombstone with already_erased true. version, when > 0, must be the live entity's
 * current version (the ETag of GET /v1/entities/{id}), else MDM_ESTALE and nothing
 * changes. MDM_ENOTFOUND for an unknown id, MDM_EINVAL for
 * a missing requester. */
mdm_status mdm_subject_erase(mdm_db *db, int64_t subject_id, int version, const char *requester,
                             const char *reason, const mdm_audit_actor *who, json_t **result,
                             mdm_err *err) __attribute__((warn_unused_result));

#endif
