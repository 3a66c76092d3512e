/* The outbox: every golden change becomes an event in the same transaction as the change.
 *
 * Events carry a global, gap-tolerant sequence number (seq, from a bigserial), the entity
 * id and version, a type (created, updated, merged, split, consent_changed, deleted) and
 * a JSON payload (the golden record or the delta). Household events (household.created,
 * household.changed, household.retired; mdm/household.h) name a household instead of an
 * entity (entity_id NULL, household_id set) and share the same seq order. The change feed reads
 * them in seq order; push delivery (mdm/publish) fans them out to subscriptions.
 *
 * Because seq values are assigned before commit, a reader could see seq 11 committed
 * while seq 10 is still in flight. mdm_outbox_read therefore only returns events older
 * than every transaction still open that may write the outbox (see outbox.c), so a
 * consumer that keeps its cursor never skips an event. */
#ifndef MDM_MDM_OUTBOX_H
#define MDM_MDM_OUTBOX_H

#include "common/err.h"
#include "mdm/db.h"
#include "mdm/trace.h"

#include <jansson.h>
#include <stdint.h>

/* Writes one event inside the caller's open transaction (the caller runs it from an
 * mdm_db_run_tx callback). type must be one of the six types above. payload is
 * borrowed. *seq_out (when not NULL) receives the event's seq. */
mdm_status mdm_outbox_emit(mdm_db *db, const char *type, int64_t entity_id, int entity_version,
                           const json_t *payload, int64_t *seq_out, mdm_err *err)
    __attribute__((warn_unused_result));

/* mdm_outbox_emit as two statements for a pipeline (mdm_db_exec_pipeline) the caller
 * runs in its transaction: calls[0] takes the writers' shared lock, calls[1] inserts (its
 * result holds seq). o keeps the parameters: it must stay in place until the calls have
 * run, then mdm_outbox_call_free releases it. MDM_EINTERNAL for an unknown type. */
typedef struct mdm_outbox_call {
    char id[MDM_DB_ID_LEN], ver[16];
    char trace[MDM_TRACEPARENT_LEN + 1]; /* the current span's traceparent */
    char *body;
    const char *params[5];
} mdm_outbox_call;
mdm_status mdm_outbox_emit_calls(mdm_outbox_call *o, const char *type, int64_t entity_id,
                                 int entity_version, const json_t *payload, mdm_db_call calls[2],
                                 mdm_err *err) __attribute__((warn_unused_result));
void mdm_outbox_call_free(mdm_outbox_call *o);

/* Writes one household event (type household.created|changed|retired) inside the
 * caller's open transaction, like mdm_outbox_emit; version is the household's. */
mdm_status mdm_outbox_emit_household(mdm_db *db, const char *type, int64_t household_id,
                                     int version, const json_t *payload, int64_t *seq_out,
                                     mdm_err *err) __attribute__((warn_unused_result));

/* The highest seq below which every event is final (committed or never to be), taken
 * behind the writers' barrier in a transaction of its own (see outbox.c). A follower of
 * the outbox (mdm/household.c) reads up to it and never skips an event. */
mdm_status mdm_outbox_high_water(mdm_db *db, int64_t *seq, mdm_err *err)
    __attribute__((warn_unused_result));

/* Takes the writers' shared lock (as mdm_outbox_emit does) for a caller that inserts
 * outbox rows set-based in this transaction (mdm/bulk.c). */
mdm_status mdm_outbox_lock_writer(mdm_db *db, mdm_err *err) __attribute__((warn_unused_result));

/* One "created" event (version 1, the golden record and its data-quality scores) for each
 * golden record bulk resolution staged in this session's temporary tables bulk_entity and
 * bulk_member (mdm/bulk.c creates and fills them), in id order, after their golden
 * records are written; the caller holds the writers' lock (mdm_outbox_lock_writer). */
mdm_status mdm_outbox_emit_staged(mdm_db *db, mdm_err *err) __attribute__((warn_unused_result));

/* Reads up to limit events with seq > after, in seq order, as a new JSON array of
 * {seq, event_id, type, entity_id (household_id for a household event), entity_version,
 * payload, created_at}; *next receives
 * the cursor to pass next time (the last seq returned, or after when none). */
mdm_status mdm_outbox_read(mdm_db *db, int64_t after, int limit, json_t **events, int64_t *next,
                           mdm_err *err) __attribute__((warn_unused_result));

/* The highest committed outbox seq (0: none), a cheap index probe for long polls,
 * which only need to know that something beyond their cursor may have arrived. */
mdm_status mdm_outbox_head(mdm_db *db, int64_t *seq, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: the payloads of the events of the
 * entities (a PostgreSQL bigint[] literal) become {"erased": true}. */
mdm_status mdm_outbox_erase(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
