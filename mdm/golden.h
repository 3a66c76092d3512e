/* Golden records: entities, membership (cross-references to source records), merge and
 * split, recomputation through survivorship, reads for the API, and export.
 *
 * Invariants kept here (the only module that writes entity, membership, golden_value,
 * entity_version, entity_name):
 *   - a source record has at most one active membership;
 *   - an active entity has at least one active member; when its last member leaves it is
 *     retired (status 'retired', survivor_id NULL) and a 'deleted' event is emitted;
 *   - a merge keeps the OLDER (smaller) id; the younger is retired with survivor_id
 *     pointing to the survivor (chains are compressed: whatever pointed to the retired
 *     id now points to the survivor);
 *   - every change of golden values bumps entity.version, writes entity_version and one
 *     outbox event (created, updated, merged, split, deleted) in the same transaction;
 *     recomputing with unchanged inputs changes nothing;
 *   - every membership change is a link_event (action, method, actor, score, rule);
 *   - entity_name, the search's name index, holds exactly the name keys of each active
 *     golden record's active members and pinned names (every recompute synchronizes
 *     it), and nothing of a golden record that is not active.
 * Writers lock the entity rows they change (SELECT ... FOR UPDATE, ascending id) and
 * follow survivor pointers after locking, so concurrent merges never lose a member.
 *
 * All write functions run inside the caller's transaction (from an mdm_db_run_tx
 * callback) and never commit. Read functions may run inside or outside one. */
#ifndef MDM_MDM_GOLDEN_H
#define MDM_MDM_GOLDEN_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"
#include "mdm/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* A member's change time as survivorship compares it (UTC text), over source_record sr;
 * the bulk path must read exactly what a recompute reads. */
#define MDM_GOLDEN_CHANGE_TIME                                                                     \
    "to_char(COALESCE(sr.source_updated_at, sr.received_at) AT TIME ZONE 'UTC', "                  \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US')"

/* ---- Writes (inside the caller's transaction) ------------------------------------ */

/* Creates an entity holding record_id (which must have no active membership), computes
 * its golden record and emits 'created'. *entity_id receives the new id. */
mdm_status mdm_golden_create(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                             const char *method, const char *actor, double probability,
                             const char *rule, int64_t *entity_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Adds record_id (no active membership) to entity_id (locked and followed to its
 * survivor; *entity_id is updated) and recomputes it. */
mdm_status mdm_golden_link(mdm_db *db, const mdm_engine *ctx, int64_t record_id, int64_t *entity_id,
                           const char *method, const char *actor, double probability,
                           const char *rule, json_t *details, mdm_err *err)
    __attribute__((warn_unused_result));

/* Adds records[0..n) (no active membership) to entity_id (locked and followed to its
 * survivor; *entity_id is updated) with one link event each (probability[i], rule), then
 * recomputes the entity once (bulk resolution, mdm/bulk.h). */
mdm_status mdm_golden_link_many(mdm_db *db, const mdm_engine *ctx, int64_t *entity_id,
                                const int64_t *records, const double *probability, size_t n,
                                const char *rule, const char *actor, mdm_err *err)
    __attribute__((warn_unused_result));

/* Writes the new golden records bulk resolution staged in this session's temporary
 * tables (mdm/bulk.c creates and fills them): bulk_entity (id, golden: version 1 and its
 * version row), bulk_member (the records' memberships, their name keys and link events
 * by actor, method auto), bulk_value (the golden values with lineage). */
mdm_status mdm_golden_create_staged(mdm_db *db, const char *actor, mdm_err *err)
    __attribute__((warn_unused_result));

/* Removes record_id's active membership (if any) and recomputes the entity it left
 * (retiring it when empty). *left_entity (may be NULL) receives that entity, 0 if none. */
mdm_status mdm_golden_unlink(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                             const char *method, const char *actor, const char *reason,
                             int64_t *left_entity, mdm_err *err)
    __attribute__((warn_unused_result));

/* Merges entity `from` into `into`... except that the OLDER id always survives: the two
 * are swapped when from < into. Both are followed to their survivors first (same entity:
 * MDM_ECONFLICT "already merged"). First a merge_snapshot row keeps both golden records
 * as they were (version, status, golden, golden_value rows with lineage, pins, members;
 * actor and reason), so every merge, automatic or manual, can be undone exactly
 * (stewardship/merge.h: mdm_merge_unmerge). Members move, pins of the retired entity are kept
 * where the survivor has none, the survivor is recomputed, 'merged' is emitted for the
 * survivor (payload {"survivor", "retired", "golden"}) and the retired entity's version
 * is bumped. method is "auto" or "manual"; reason may be NULL. *survivor (may be NULL)
 * receives the surviving id. MDM_ENOTFOUND for an unknown or inactive entity. */
mdm_status mdm_golden_merge(mdm_db *db, const mdm_engine *ctx, int64_t into, int64_t from,
                            const char *method, const char *actor, const char *reason,
                            double probability, int64_t *survivor, mdm_err *err)
    __attribute__((warn_unused_result));

/* Moves the records record_ids[0..n) of entity_id into a new entity. The id stays with
 * the larger part (if the moved part is larger, the rest moves instead). Both parts are
 * recomputed, 'split' is emitted for both. *new_entity receives the new id.
 * MDM_EINVAL when the set is empty, not all members, or all members. */
mdm_status mdm_golden_split(mdm_db *db, const mdm_engine *ctx, int64_t entity_id,
                            const int64_t *record_ids, size_t n, const char *actor,
                            const char *reason, int64_t *new_entity, mdm_err *err)
    __attribute__((warn_unused_result));

/* Undoes a merge (stewardship/merge.c keeps what the merge changed): moves records[0..n)
 * — the members `retired` had before the merge — from `survivor` back to `retired`, which
 * becomes active again (no survivor pointer), writes an 'unmerge' link event and
 * recomputes both with 'split' events ({"split_from", "split_into", "unmerge": true}).
 * Records no longer in survivor are skipped. before (may be NULL) holds the pre-merge
 * golden_value rows, {"<entity id>": [{"attr", "value", "source_record_id", "rule",
 * "chosen_at"}]}: a recomputed value equal to its pre-merge one (value, source record and
 * rule) gets back its pre-merge chosen_at, so lineage reads exactly as before.
 * MDM_ECONFLICT when retired is not merged into survivor, when none of the records is
 * still in survivor, or when survivor would be left empty. */
mdm_status mdm_golden_unmerge(mdm_db *db, const mdm_engine *ctx, int64_t survivor, int64_t retired,
                              const int64_t *records, size_t n, const json_t *before,
                              const char *actor, const char *reason, mdm_err *err)
    __attribute__((warn_unused_result));

/* Recomputes the golden record of entity_id from its active members and pins (see
 * mdm/survive.h). When the result differs: golden_value rows replaced, entity.golden
 * and version updated, entity_version written, event `event` emitted ("updated" when
 * NULL). Retires the entity when it has no members. *changed (may be NULL) tells
 * whether anything changed. The entity must be locked by the caller (the write
 * functions above do it). */
mdm_status mdm_golden_recompute(mdm_db *db, const mdm_engine *ctx, int64_t entity_id,
                                const char *event, const char *reason, int *changed, mdm_err *err)
    __attribute__((warn_unused_result));

/* Locks entity id FOR UPDATE, following survivor pointers; *id receives the live id.
 * MDM_ENOTFOUND when it does not exist or is retired without survivor. */
mdm_status mdm_golden_lock(mdm_db *db, int64_t *id, mdm_err *err)
    __attribute__((warn_unused_result));

/* The id of the newest link event (0: none), so a bulk command can name the events it
 * wrote in its audit summary. */
mdm_status mdm_golden_last_event(mdm_db *db, long long *id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: details and reasons of the link events
 * naming the entities or the records (PostgreSQL bigint[] literals) are removed. */
mdm_status mdm_golden_erase_events(mdm_db *db, const char *entities, const char *records,
                                   mdm_err *err) __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: the golden values, pins and name keys
 * (entity_name) of the entities (a PostgreSQL bigint[] literal) are deleted, their golden
 * records and versions emptied. */
mdm_status mdm_golden_erase_values(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: the merge and split snapshots of the
 * entities (a PostgreSQL bigint[] literal) lose their contents and reasons. */
mdm_status mdm_golden_erase_snapshots(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: marks entity id erased (its version
 * goes up by one, *version receives it) and writes that version, empty. */
mdm_status mdm_golden_mark_erased(mdm_db *db, int64_t id, int *version, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure: the "erase" link event of entity id by actor, naming the tombstone. */
mdm_status mdm_golden_erase_event(mdm_db *db, int64_t id, const char *actor, int64_t tombstone_id,
                                  mdm_err *err) __attribute__((warn_unused_result));

/* Steward pins (golden_pin), inside the caller's transaction, which holds the entity's
 * lock (stewardship/merge.c): value is the pinned value as JSON text; reason may be NULL. */
mdm_status mdm_golden_pin_put(mdm_db *db, int64_t entity_id, const char *attr, const char *value,
                              const char *actor, const char *reason, mdm_err *err)
    __attribute__((warn_unused_result));
mdm_status mdm_golden_pin_del(mdm_db *db, int64_t entity_id, const char *attr, mdm_err *err)
    __attribute__((warn_unused_result));

/* Unmerge (stewardship/merge.c): gives entity_id (text) back the pins of a merge snapshot
 * (pins: a JSON array of {attr, value, actor, reason, created_at}), and drops from it the
 * retired entity's pre-merge pins (retired_pins) it inherited at the merge, those it did
 * not hold itself (own_pins, the same layout). */
mdm_status mdm_golden_pins_restore(mdm_db *db, const char *entity_id, const char *pins,
                                   mdm_err *err) __attribute__((warn_unused_result));
mdm_status mdm_golden_pins_drop_inherited(mdm_db *db, const char *entity_id,
                                          const char *retired_pins, const char *own_pins,
                                          mdm_err *err) __attribute__((warn_unused_result));

/* Split snapshots (stewardship/merge.c: mdm_merge_split, mdm_merge_unsplit), inside the
 * caller's transaction, which holds the entities' locks. mdm_golden_split_before gives
 * (*before, the caller frees) the golden records entity_id and other_id (0: none) as a
 * merge snapshot keeps them, as JSON text keyed by id; mdm_golden_split_record stores the
 * split (moved: a PostgreSQL bigint[] literal of the records that went to other_id;
 * assertions: a JSON array of the steward assertions between the parts the split
 * replaced; reason may be NULL) and gives its id; mdm_golden_split_undone marks it undone.
 * mdm_golden_restore_lineage gives the values of entity_id that equal a row of values
 * (a snapshot's [{attr, value, source_record_id, rule, chosen_at}]) that row's chosen_at
 * back, as an unmerge does. */
mdm_status mdm_golden_split_before(mdm_db *db, int64_t entity_id, int64_t other_id, char **before,
                                   mdm_err *err) __attribute__((warn_unused_result));
mdm_status mdm_golden_split_record(mdm_db *db, int64_t entity_id, int64_t other_id, bool created,
                                   const char *moved, const char *before, const char *assertions,
                                   const char *actor, const char *reason, int64_t *split_id,
                                   mdm_err *err) __attribute__((warn_unused_result));
mdm_status mdm_golden_split_undone(mdm_db *db, int64_t split_id, const char *actor, mdm_err *err)
    __attribute__((warn_unused_result));
mdm_status mdm_golden_restore_lineage(mdm_db *db, int64_t entity_id, const json_t *values,
                                      mdm_err *err) __attribute__((warn_unused_result));

/* Marks merge snapshot snapshot_id undone by actor (an unmerge restored it). */
mdm_status mdm_golden_snapshot_undone(mdm_db *db, int64_t snapshot_id, const char *actor,
                                      mdm_err *err) __attribute__((warn_unused_result));

#endif
