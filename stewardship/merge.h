/* Manual stewardship of golden records: merge, split, unmerge, pins and never/always-link
 * assertions.
 *
 * The membership and golden-record writes themselves are the core's (mdm/golden.h:
 * mdm_golden_merge, mdm_golden_split, mdm_golden_link/unlink, mdm_golden_recompute);
 * this module adds what a steward action needs around them, in the same transaction:
 * the entity version check (optimistic concurrency), assertion checks, a snapshot of
 * both golden records before a merge (table merge_snapshot) so mdm_merge_unmerge()
 * restores them exactly, labelled pairs (steward_label), consent recomputation and one
 * audit row per action.
 *
 * Functions named *_locked run inside the caller's transaction (the queue uses them);
 * the others run their own. All return MDM_OK, MDM_EINVAL (naming the field),
 * MDM_ENOTFOUND, MDM_ESTALE (the caller's entity version is not the current one),
 * MDM_ECONFLICT (an assertion forbids it, already merged or undone), MDM_ERETRY or
 * MDM_EDB; on error nothing has changed. */
#ifndef MDM_STEWARDSHIP_MERGE_H
#define MDM_STEWARDSHIP_MERGE_H

#include "common/err.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mdm_engine mdm_engine;

typedef struct mdm_merge_actor {
    const char *name;   /* required */
    const char *role;   /* required */
    const char *reason; /* may be NULL */
} mdm_merge_actor;

/* Inside the caller's transaction */

/* Merges entities a and b (the older id survives, as in mdm_golden_merge) after a
 * snapshot of both; refuses (MDM_ECONFLICT) when a never_link assertion joins a member
 * of one to a member of the other. *survivor receives the surviving id. */
mdm_status mdm_merge_entities_locked(mdm_db *db, const mdm_engine *ctx, int64_t a, int64_t b,
                                     const mdm_merge_actor *who, double probability,
                                     int64_t *survivor, mdm_err *err)
    __attribute__((warn_unused_result));

/* Puts record_id into entity_id: when the record's current entity holds only it, the
 * two entities are merged (snapshot, undoable); otherwise the record alone moves. The
 * same never_link check. *entity receives the entity now holding the record. */
mdm_status mdm_merge_attach_record_locked(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                          int64_t entity_id, const mdm_merge_actor *who,
                                          double probability, int64_t *entity, mdm_err *err)
    __attribute__((warn_unused_result));

/* Steward actions (own transaction) */

/* Manual merge of `other` into `id` (POST /v1/entities/{id}/merge). version, when > 0,
 * must be id's current version. *result: {"survivor", "retired", "snapshot_id",
 * "version"} (the survivor's version after the merge). */
mdm_status mdm_merge_manual(mdm_db *db, const mdm_engine *ctx, int64_t id, int version,
                            int64_t other, const mdm_merge_actor *who, json_t **result,
                            mdm_err *err) __attribute__((warn_unused_result));

/* Moves record_ids[0..n) of entity id to entity `into` (0 = a new entity). version as
 * above. never_link assertions are written between the moved and the remaining records
 * (a split means "not the same person"). A snapshot of the golden record(s) before the
 * split is kept, so mdm_merge_unsplit can undo it. *result: {"entity_id", "moved_to",
 * "version", "split_id"}. */
mdm_status mdm_merge_split(mdm_db *db, const mdm_engine *ctx, int64_t id, int version,
                           const int64_t *record_ids, size_t n, int64_t into,
                           const mdm_merge_actor *who, json_t **result, mdm_err *err)
    __attribute__((warn_unused_result));

/* Undoes the split split_id (0 = the latest split that split or fed entity id): the
 * records the split moved and that are still where it put them come back to the golden
 * record they left, with its pre-split golden values, lineage (chosen_at) and pins;
 * when the split had made a golden record that holds just those records, it is merged
 * back (retired into the split one, which as the older id survives). The never_link
 * assertions between the parts go and the assertions the split replaced come back; the
 * pairs across the parts are labelled match (origin unsplit). version, when > 0, must be
 * entity id's current version. *result: {"entity_id", "other_id", "split_id",
 * "moved_back", "other_retired", "version"} (the golden record's version afterwards).
 * MDM_ENOTFOUND without such a split; MDM_ECONFLICT when already undone, when either
 * golden record was merged away since, when none of the moved records is still there, or
 * when the snapshot was erased. Every steward split stores its snapshot (split_snapshot),
 * and mdm_merge_split answers its "split_id". */
mdm_status mdm_merge_unsplit(mdm_db *db, const mdm_engine *ctx, int64_t id, int64_t split_id,
                             int version, const mdm_merge_actor *who, json_t **result, mdm_err *err)
    __attribute__((warn_unused_result));

/* Undoes the merge recorded in snapshot snapshot_id (0 = the latest merge that retired
 * or kept entity id), manual or automatic (mdm_golden_merge snapshots every merge): the
 * retired entity comes back with its pre-merge golden values, lineage, pins and members;
 * the survivor gets back its own. Records that joined the survivor after the merge stay
 * with it. never_link assertions are written between the two parts (like a split), so
 * resolution cannot merge them again. version, when > 0, must be the survivor's current
 * version (what GET /v1/entities/{id} answers for either id), else MDM_ESTALE. *result:
 * {"survivor", "restored", "snapshot_id", "version"} (the survivor's version afterwards).
 * MDM_ECONFLICT when already undone or when a side changed so much that it cannot be
 * undone (a member was erased). */
mdm_status mdm_merge_unmerge(mdm_db *db, const mdm_engine *ctx, int64_t id, int64_t snapshot_id,
                             int version, const mdm_merge_actor *who, json_t **result, mdm_err *err)
    __attribute__((warn_unused_result));

/* Pins attribute attr of entity id to value (a JSON value, borrowed), or removes the pin
 * when value is NULL; survivorship reruns. *result: {"entity_id", "attr", "version",
 * "golden"}. */
mdm_status mdm_merge_pin(mdm_db *db, const mdm_engine *ctx, int64_t id, int version,
                         const char *attr, const json_t *value, const mdm_merge_actor *who,
                         json_t **result, mdm_err *err) __attribute__((warn_unused_result));

/* Records that records a and b are (always_link) or are not (never_link) the same
 * person; replaces an earlier assertion of the pair. kind is "always_link" or
 * "never_link". *result (when result is not NULL): the stored assertion {id, kind,
 * record_a, record_b, actor, reason, created_at}, as GET /v1/assertions lists it. */
mdm_status mdm_merge_assert(mdm_db *db, const char *kind, int64_t record_a, int64_t record_b,
                            const mdm_merge_actor *who, json_t **result, mdm_err *err)
    __attribute__((warn_unused_result));

/* Assertions in id order after `after` (a keyset cursor), of one record when record_id >
 * 0, at most limit: *out = {"items": [{id, kind, record_a, record_b, actor, reason,
 * created_at}], "next": last id or null}. Those an unmerge or split wrote are there too
 * (actor and reason say so). */
mdm_status mdm_merge_assertions(mdm_db *db, int64_t record_id, int64_t after, int limit,
                                json_t **out, mdm_err *err) __attribute__((warn_unused_result));

/* Removes assertion id (audited as assertion.remove with the assertion as it was): the
 * pair is free again for automatic matching from the next resolution on. The steward
 * labels the assertion gave stay, as the record of a past decision. MDM_ENOTFOUND for
 * an unknown id. *removed (may be NULL) receives the assertion as it was. */
mdm_status mdm_merge_unassert(mdm_db *db, int64_t id, const mdm_merge_actor *who, json_t **removed,
                              mdm_err *err) __attribute__((warn_unused_result));

#endif
