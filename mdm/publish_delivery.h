/* The delivery queue of push publishing (mdm/publish_delivery.c), owner of the tables
 * delivery and publish_cursor: fan-out of outbox events into delivery rows, the claim
 * and the outcomes of a delivery worker's round (mdm/publish.h sends), administration
 * (list, replay) and erasure.
 *
 * Invariants
 * - Fan-out reads the outbox through mdm_outbox_read (bounded by the writers' barrier),
 *   so every seq at or below publish_cursor.last_seq is final and no event is skipped.
 *   Only one process fans out at a time (a session advisory lock, MDM_LOCK_FANOUT);
 *   delivery rows are unique per (subscription, seq), so a repeated fan-out changes
 *   nothing. An event becomes a delivery for every active subscription whose
 *   event_types include its type and whose scope covers it (scope "source": the golden
 *   record has, or had, a record from the subscription's source).
 * - A claim locks its rows FOR UPDATE SKIP LOCKED; the worker keeps the lock until it
 *   records the outcomes in the same transaction, so two workers never send the same
 *   delivery at the same time.
 * - Per-entity (and per-household) order: a delivery is claimable only when no earlier
 *   (lower seq) delivery of the same entity to the same subscription is still pending.
 *
 * The functions take the caller's mdm_db and are as thread-safe as it is. */
#ifndef MDM_MDM_PUBLISH_DELIVERY_H
#define MDM_MDM_PUBLISH_DELIVERY_H

#include "common/err.h"
#include "mdm/audit.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Fan-out and the worker's round */

/* Fans out up to limit outbox events past publish_cursor into delivery rows. Returns
 * MDM_OK with *created = 0 when another process holds the fan-out lock. */
mdm_status mdm_publish_fanout(mdm_db *db, int limit, int *created, mdm_err *err)
    __attribute__((warn_unused_result));

/* Inside the worker's transaction: claims up to batch due deliveries and reads what
 * sending them needs, one row each in id order (delivery id, seq, entity_id,
 * household_id, attempts; sub_id, source, url, secret, previous_secret (while a rotated
 * secret is valid), mapping, max_attempts; the event's event_id, type, entity_version,
 * traceparent, payload, occurred_at; replayed, sent_hash, source_keys, member_keys,
 * held: see mdm/publish_message.h). *out is NULL when nothing is due, else the
 * caller's to PQclear. */
mdm_status mdm_publish_claim(mdm_db *db, int batch, PGresult **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* In the same transaction: records the outcomes of the claimed deliveries, a JSON array
 * of {id, state (pending|acknowledged|rejected|dead|skipped), attempts, delay_ms (of
 * the next attempt), status (HTTP, or null), response, attempted (the attempt time is
 * set), content_hash (or null: kept)}. An empty array writes nothing. */
mdm_status mdm_publish_record(mdm_db *db, const json_t *rows, mdm_err *err)
    __attribute__((warn_unused_result));

/* *done: nothing is pending for an active subscription and nothing waits for fan-out. */
mdm_status mdm_publish_all_done(mdm_db *db, bool *done, mdm_err *err)
    __attribute__((warn_unused_result));

/* Administration (CLI and HTTP) */

/* Deliveries in id order after after_id, at most limit (1..1001: a page of up to 1000
 * and one row more, which tells whether another page follows), optionally filtered by
 * state (NULL = any; else pending|acknowledged|rejected|dead|skipped) and subscription
 * (0 = any). *out: a new array of {id, subscription_id, seq, entity_id, state,
 * attempts, next_attempt_at, last_attempt_at, last_status, last_response, created_at}.
 * MDM_EINVAL for an unknown state or a bad limit. */
mdm_status mdm_publish_list(mdm_db *db, const char *state, int64_t subscription_id,
                            int64_t after_id, int limit, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Sets dead and rejected deliveries (of one subscription, or all when 0) back to pending
 * with zero attempts. *count gets the number replayed. A replay that requeued anything
 * writes a "deliveries.replay" audit row by who (target "subscription:ID" or
 * "subscription:all"; mode, from_seq and count) in the same transaction; so does the
 * replay below. */
mdm_status mdm_publish_replay_dead(mdm_db *db, int64_t subscription_id, const mdm_audit_actor *who,
                                   long *count, mdm_err *err) __attribute__((warn_unused_result));

/* Replays a subscription from an outbox seq: every fanned-out event with seq >= from_seq
 * and a type the subscription takes is (re)queued as pending with zero attempts,
 * including ones already acknowledged. MDM_ENOTFOUND for an unknown subscription. */
mdm_status mdm_publish_replay_from(mdm_db *db, int64_t subscription_id, int64_t from_seq,
                                   const mdm_audit_actor *who, long *count, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: the receivers' last answers about the
 * entities (a PostgreSQL bigint[] literal) are removed from their deliveries. */
mdm_status mdm_publish_erase(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
