/* The steward's word on record pairs, and what it teaches the model: every write to
 * steward_assertion and steward_label goes through these functions, whichever layer
 * decides it (stewardship/merge.c: assertions, splits, unmerges and their undo;
 * stewardship/queue.c: decisions and reopening; mdm/subject.c: erasure).
 *
 * An assertion (never_link or always_link) holds one row per record pair, record_a <
 * record_b; a later assertion on the pair replaces the earlier one. Labels (match,
 * no_match) are append-only: each decision, split, unmerge or assertion adds the pairs it
 * labelled, with whether the two records were linked at the time (auto_linked), for the
 * precision report and supervised training.
 *
 * Every function runs inside the caller's open transaction. Record sets are PostgreSQL
 * bigint[] literals ("{1,2}"); pairs are every record of a with every other of b. */
#ifndef MDM_MDM_ASSERTION_H
#define MDM_MDM_ASSERTION_H

#include "common/err.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Stores kind (never_link, always_link) for the pair record_a < record_b, replacing what
 * the pair had. *stored (when stored is not NULL) receives the row as JSON: id, kind,
 * record_a, record_b, actor, reason, created_at. */
mdm_status mdm_assertion_put(mdm_db *db, const char *kind, int64_t record_a, int64_t record_b,
                             const char *actor, const char *reason, json_t **stored, mdm_err *err)
    __attribute__((warn_unused_result));

/* Deletes assertion id; *removed receives its row as JSON (as mdm_assertion_put), or NULL
 * when there is no such assertion. */
mdm_status mdm_assertion_delete(mdm_db *db, int64_t id, json_t **removed, mdm_err *err)
    __attribute__((warn_unused_result));

/* Assertions with an id above `after` (naming record_id when non-zero), at most limit, in
 * id order: *out is {items: [...], next: the id to page from, or null}. */
mdm_status mdm_assertion_list(mdm_db *db, int64_t record_id, int64_t after, int limit, json_t **out,
                              mdm_err *err) __attribute__((warn_unused_result));

/* never_link between every pair across the sets a and b. */
mdm_status mdm_assertion_never_link_sets(mdm_db *db, const char *a, const char *b,
                                         const char *actor, const char *reason, mdm_err *err)
    __attribute__((warn_unused_result));

/* Deletes the never_link assertions between the sets (an undone split). */
mdm_status mdm_assertion_unlink_sets(mdm_db *db, const char *a, const char *b, mdm_err *err)
    __attribute__((warn_unused_result));

/* Stores again assertions kept as a JSON array of {kind, record_a, record_b, actor,
 * reason, created_at} (what a split replaced), over what the pairs hold now. */
mdm_status mdm_assertion_restore(mdm_db *db, const char *assertions, mdm_err *err)
    __attribute__((warn_unused_result));

/* Labels every pair across the sets; origin names the steward action (split, unmerge,
 * assertion). */
mdm_status mdm_assertion_label_sets(mdm_db *db, const char *a, const char *b, const char *label,
                                    bool auto_linked, const char *origin, const char *actor,
                                    mdm_err *err) __attribute__((warn_unused_result));

/* A decision of review item review_id, over the record pairs across its two sides (the
 * record or the first entity's members, and the other entity's members): never_link each
 * pair (*asserted, when not NULL, receives how many rows were written) ... */
mdm_status mdm_assertion_never_link_review(mdm_db *db, int64_t review_id, const char *actor,
                                           const char *reason, long *asserted, mdm_err *err)
    __attribute__((warn_unused_result));

/* ... label each pair (auto_linked: the two records share an entity now) ... */
mdm_status mdm_assertion_label_review(mdm_db *db, int64_t review_id, const char *label,
                                      const char *actor, mdm_err *err)
    __attribute__((warn_unused_result));

/* ... and, when the item is reopened, delete the never_link assertions its no_match
 * decision wrote (its labels stay: they are history). */
mdm_status mdm_assertion_unassert_review(mdm_db *db, int64_t review_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure: the steward's reasons of assertions naming the records go. */
mdm_status mdm_assertion_erase(mdm_db *db, const char *record_ids, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
