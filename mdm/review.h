/* The match-review queue's table (review_item): every write to it goes through these
 * functions, whichever layer decides it. Resolution (mdm/resolve.c, mdm/bulk.c) creates
 * items and supersedes those its new evidence answers, a merge (mdm/golden.c) supersedes
 * the items it settles, a new model (mdm/models.c) marks items for re-scoring, erasure
 * (mdm/subject.c) scrubs them, and the steward's queue (stewardship/queue.c: claims,
 * decisions, reopening, re-scoring, priorities) decides what to write and audits it.
 *
 * Every function runs inside the caller's open transaction (an mdm_db_run_tx callback);
 * a change of an item's state raises its version (optimistic concurrency of the queue).
 * Id lists are PostgreSQL array literals ("{1,2}"), as the other owners' erase
 * functions take them. */
#ifndef MDM_MDM_REVIEW_H
#define MDM_MDM_REVIEW_H

#include "common/err.h"
#include "mdm/db.h"

#include <stdint.h>

/* Creates an open item of kind "record_entity" (record_id into entity_id) or
 * "entity_entity" (entity_id with other_entity_id); a zero id is SQL NULL. explanation is
 * the JSON text of the scored comparison; the priority starts at the probability. *id_out
 * (when not NULL) receives the item's id. */
mdm_status mdm_review_create(mdm_db *db, const char *kind, int64_t record_id, int64_t entity_id,
                             int64_t other_entity_id, double score, double probability,
                             const char *explanation, int64_t *id_out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Creates the record_entity items that bulk resolution staged in this session's
 * temporary table bulk_review (mdm/bulk.c creates and fills it), in record order. */
mdm_status mdm_review_create_staged(mdm_db *db, mdm_err *err) __attribute__((warn_unused_result));

/* Supersedes the open and deferred items of a record whose evidence changed (resolution
 * asks again about it). */
mdm_status mdm_review_supersede_record(mdm_db *db, int64_t record_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* After entity `gone` merged into `keep`: supersedes the undecided items between the two
 * and the record items about a record now in keep. */
mdm_status mdm_review_supersede_merged(mdm_db *db, int64_t keep, int64_t gone, mdm_err *err)
    __attribute__((warn_unused_result));

/* Supersedes the undecided items (item `only` when non-zero) that no longer ask a
 * question: an entity no longer active, the record deleted, without an entity or already
 * in the entity. *out receives one row per item closed: id, why (the reason written into
 * the item), version. */
mdm_status mdm_review_supersede_stale(mdm_db *db, int64_t only, PGresult **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Marks every undecided item for the next re-scoring (a new model is active). *marked
 * (when not NULL) receives how many. */
mdm_status mdm_review_mark_unscored(mdm_db *db, long *marked, mdm_err *err)
    __attribute__((warn_unused_result));

/* Claims item id for assignee, or releases it when assignee is NULL. */
mdm_status mdm_review_set_assignee(mdm_db *db, int64_t id, const char *assignee, mdm_err *err)
    __attribute__((warn_unused_result));

/* Records a decision: status "decided" or "deferred", decision match/no_match/defer, the
 * steward's reason and name (a decided item stays assigned to its decider). *version_out
 * receives the item's new version. */
mdm_status mdm_review_set_decided(mdm_db *db, int64_t id, const char *status, const char *decision,
                                  const char *reason, const char *by, int *version_out,
                                  mdm_err *err) __attribute__((warn_unused_result));

/* Opens a decided item again, unassigned and without its decision. */
mdm_status mdm_review_reopen(mdm_db *db, int64_t id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Stores a new score of the item's best pair (explanation: JSON text) as of now.
 * *version_out receives the item's new version. */
mdm_status mdm_review_set_score(mdm_db *db, int64_t id, double score, double probability,
                                const char *explanation, int *version_out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Sets the priorities of items: ids a bigint[] literal, priorities a float8[] literal of
 * the same length. */
mdm_status mdm_review_set_priorities(mdm_db *db, const char *ids, const char *priorities,
                                     mdm_err *err) __attribute__((warn_unused_result));

/* Erasure: empties the explanation and reason of every item naming the entities or the
 * records (bigint[] literals) and supersedes those still undecided. */
mdm_status mdm_review_erase(mdm_db *db, const char *entity_ids, const char *record_ids,
                            mdm_err *err) __attribute__((warn_unused_result));

#endif
