/* The match-review queue (table review_item): what a data steward works through.
 *
 * An item proposes that a source record belongs to an entity (kind record_entity:
 * record_id, entity_id) or that two entities are one person (entity_entity: entity_id,
 * other_entity_id), with the resolver's score, probability and field-by-field
 * explanation. Items are created by resolution (mdm/resolve.c); this module lists,
 * claims, assigns and decides them.
 *
 * Status: open -> claimed (a steward took it) -> decided, or deferred (put aside, still
 * listed with status=deferred, decidable later), or superseded (its evidence changed:
 * a side was merged away or retired, the record moved or was deleted, or the record is
 * already in the entity). Decided and superseded items are final.
 *
 * Decisions: "match" joins the two sides (stewardship/merge.h: the record's entity is
 * merged into the proposed one, or the record alone is moved when its entity holds
 * other records; two entities are merged); "no_match" stores never_link assertions
 * between the record (or every member of one entity) and every member of the other
 * entity, which resolution always obeys and never removes; "defer" puts the item aside.
 * Every decision writes steward_label rows (labelled record pairs for `mdm eval
 * --labels`) and one audit row, in the same transaction as the change.
 *
 * Optimistic concurrency: each item has a version, incremented by every steward-visible
 * change (claim, assign, decision, re-score). A write naming another version fails with
 * MDM_ECONFLICT and changes nothing. An item claimed by one steward can be decided by
 * that steward or by an admin; others get MDM_ECONFLICT.
 *
 * Priority (higher first) estimates the value of deciding the item now:
 *   100 * (0.6 * uncertainty + 0.25 * min(1, log2(cluster size) / 5)
 *          + 0.15 * min(1, age in days / 14))
 * where uncertainty = 1 - |2p - 1| (1 at p = 0.5) and cluster size is the number of
 * source records the decision moves or joins. mdm_queue_refresh() recomputes it and
 * closes stale items; mdm_queue_list() calls it first, so a steward never sees a stale
 * item.
 *
 * All functions take the caller's connection (one per thread). Functions that write run
 * their own transaction(s) unless their comment says otherwise. */
#ifndef MDM_STEWARDSHIP_QUEUE_H
#define MDM_STEWARDSHIP_QUEUE_H

#include "common/err.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mdm_engine mdm_engine;

/* Who acts: recorded in the audit log and on the item. */
typedef struct mdm_queue_actor {
    const char *name; /* API key name or user; required */
    const char *role; /* steward, admin, system, ... ; required */
} mdm_queue_actor;

/* Priority */

/* The priority formula above. probability in [0,1], cluster_size >= 1, age_days >= 0. */
double mdm_queue_priority(double probability, long cluster_size, double age_days);

/* Listing */

typedef struct mdm_queue_filter {
    const char *status;     /* comma-separated statuses; NULL or "" = "open,claimed" */
    const char *assignee;   /* exact; "-" = unassigned; NULL = anyone */
    const char *kind;       /* record_entity | entity_entity | NULL */
    int64_t entity_id;      /* items touching this entity on either side; 0 = any */
    double min_probability; /* inclusive; ignored unless has_min */
    double max_probability; /* inclusive; ignored unless has_max */
    int has_min, has_max;
    const char *source;  /* either side holds a record of this source system; NULL = any */
    double min_age_days; /* created at least this many days ago; ignored unless has_min_age */
    double max_age_days; /* created less than this many days ago; ignored unless has_max_age */
    int has_min_age, has_max_age;
    const char *quality; /* bounds on data-quality scores (mdm_quality_bounds): the item's
                          * record or a golden record on either side scores within them;
                          * NULL = any */
    const char *sort;    /* priority (default: highest first), created (oldest first),
                          * -created, probability (lowest first), -probability */
    const char *cursor;  /* from the previous page, or NULL; valid only with the same sort */
    int limit;           /* 1..500; 0 = 50 */
} mdm_queue_filter;

/* Refreshes the queue (mdm_queue_refresh), then lists one page. *items receives a new
 * array of item summaries {id, kind, record_id, entity_id, other_entity_id, score,
 * probability, priority, status, assignee, decision, reason, decided_by, decided_at,
 * version, created_at, updated_at, a_label, b_label} (a_label/b_label: a short display
 * name of each side); *next_cursor (may be NULL) a new string for the next page or NULL
 * on the last page (free it). MDM_EINVAL naming the bad filter field ("/status",
 * "/sort", "/cursor", ...). */
mdm_status mdm_queue_list(mdm_db *db, const mdm_queue_filter *f, json_t **items, char **next_cursor,
                          mdm_err *err) __attribute__((warn_unused_result));

/* Counts for the queue's header under filter f (its cursor, sort and limit are ignored):
 * *out receives {total (items passing every filter), mine (of those, assigned to me),
 * unclaimed (open or deferred, nobody's), by_status: {open, claimed, deferred, decided,
 * superseded} (every filter but the status one), sources: [{code, name}] (the values of
 * the source filter)}. MDM_EINVAL for a bad status list. */
mdm_status mdm_queue_counts(mdm_db *db, const mdm_queue_filter *f, const char *me, json_t **out,
                            mdm_err *err) __attribute__((warn_unused_result));

/* One item with both sides in full: the summary fields plus "explanation" (as stored by
 * resolution: {vetoed, probability, match_weight, comparisons: [{comparison, level, weight,
 * value_a, value_b, ...}], ...}), "competing" (other undecided items about the same record,
 * or the same entities: [{id, kind, status, probability, entity_id, other_entity_id,
 * version}]) and "a", "b". An entity side is {type: "entity", entity_id, version, status,
 * survivor_id, updated_at, fields (the golden record), members: [{record_id, source,
 * source_name, source_key, source_updated_at, received_at, linked_at, fields (the
 * canonical record)}], related: the items of mdm_relation_list (its household, the
 * same address, steward-asserted relations)}; a record side is {type: "record", record_id, source,
 * source_name, source_key, entity_id, deleted, source_updated_at, received_at, fields, entity (the
 * entity side of the golden record now holding it, or null)}. MDM_ENOTFOUND. */
mdm_status mdm_queue_get(mdm_db *db, int64_t id, json_t **item, mdm_err *err)
    __attribute__((warn_unused_result));

/* Claiming and assigning */

/* The actor claims item id at version: status claimed, assignee = actor. Claiming an
 * item one already holds is a no-op success (version unchanged). *item (may be NULL)
 * receives the updated summary. MDM_ENOTFOUND; MDM_ECONFLICT for a stale version, an
 * item claimed by someone else (admins may take it over) or a final item. */
mdm_status mdm_queue_claim(mdm_db *db, int64_t id, int version, const mdm_queue_actor *who,
                           json_t **item, mdm_err *err) __attribute__((warn_unused_result));

/* Assigns item id to assignee (NULL or "" releases it back to open). Same errors. */
mdm_status mdm_queue_assign(mdm_db *db, int64_t id, int version, const char *assignee,
                            const mdm_queue_actor *who, json_t **item, mdm_err *err)
    __attribute__((warn_unused_result));

/* Reopens a decided item at version: it is open again (no decision, unassigned, version
 * bumped) with one audit row "review.reopen" holding the decision it undoes. Reopening a
 * no_match removes the never_link assertions that decision wrote. A match cannot be
 * reopened (its sides are one entity: undo the merge or split instead): MDM_ECONFLICT, as
 * for a stale version or an item that is not decided. *item (may be NULL) receives the
 * summary. MDM_ENOTFOUND. */
mdm_status mdm_queue_reopen(mdm_db *db, int64_t id, int version, const char *reason,
                            const mdm_queue_actor *who, json_t **item, mdm_err *err)
    __attribute__((warn_unused_result));

/* Decisions */

typedef struct mdm_queue_decision {
    int64_t id;
    int version;
    const char *decision; /* match | no_match | defer */
    const char *reason;   /* free text, may be NULL */
} mdm_queue_decision;

/* Decides one item in one transaction. ctx (the ingest context: survivorship and
 * consent settings) is needed for match; it may be NULL for the other decisions.
 * *result (may be NULL) receives {id, version, status, decision, entity_id (the entity
 * the sides now form, for match), assertions (number written, for no_match)}.
 * MDM_EINVAL for an unknown decision; MDM_ENOTFOUND; MDM_ECONFLICT for
 * a stale version, a final (decided or superseded) item, an item claimed by someone
 * else, or a match that a never_link assertion forbids; a superseded item is closed
 * before the conflict is returned, and (with ctx) an item whose sides changed since it
 * was scored is re-scored first, so the version the steward holds no longer matches. */
mdm_status mdm_queue_decide(mdm_db *db, const mdm_engine *ctx, const mdm_queue_decision *d,
                            const mdm_queue_actor *who, json_t **result, mdm_err *err)
    __attribute__((warn_unused_result));

/* Decides n items, each in its own transaction (one failure does not undo the others).
 * *results receives an array of n objects: the result of mdm_queue_decide, or {id,
 * error: {status, code, title, detail}}. Returns MDM_OK when every item was decided,
 * else the first failure's status (err describes it). n must be 1..500. */
mdm_status mdm_queue_decide_bulk(mdm_db *db, const mdm_engine *ctx, const mdm_queue_decision *d,
                                 size_t n, const mdm_queue_actor *who, json_t **results,
                                 mdm_err *err) __attribute__((warn_unused_result));

/* Re-scores up to 200 open, claimed or deferred items whose evidence changed since they
 * were scored (a side's golden record changed, or the record was updated at its source):
 * score, probability and explanation become those of the best-matching record pair
 * across the two sides under the current model (mdm_score_pair), scored_at is reset
 * and the version bumped (a steward holding the old view gets 409). One audit row per
 * item (actor "system"). Items being decided right now are skipped (SKIP LOCKED). Own
 * transaction; *rescored (may be NULL) receives the number of items re-scored. */
mdm_status mdm_queue_rescore(mdm_db *db, const mdm_engine *ctx, long *rescored, mdm_err *err)
    __attribute__((warn_unused_result));

/* Labels */

/* What steward decisions say about automatic linking (for `mdm eval --labels`). Every
 * labelled record pair counts once, with its latest label. *out receives a new object
 * {"pairs", "match", "no_match",
 *  "auto": {"pairs", "confirmed", "rejected", "precision"}   pairs automation had linked
 *                                                            when the steward spoke;
 *                                                            precision = confirmed / pairs
 *  "missed", "recall",                 match pairs automation had not linked; recall =
 *                                      confirmed / (confirmed + missed)
 *  "review": {"decided", "match", "no_match",
 *             "thresholds": [{"threshold", "linked", "correct", "precision"}]}}
 * where thresholds answer "had automation linked every decided review item with
 * probability >= t, how often would it have been right"; precision and recall are null
 * when undefined. */
mdm_status mdm_queue_label_report(mdm_db *db, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Maintenance */

/* Closes as superseded every open, claimed or deferred item whose evidence no longer
 * holds (see the status paragraph above), each with an audit row (actor "system"), and
 * recomputes the priority of the rest. *closed (may be NULL) receives the number
 * closed. Runs its own transaction. */
mdm_status mdm_queue_refresh(mdm_db *db, long *closed, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
