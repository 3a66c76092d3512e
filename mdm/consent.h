/* Consent: append-only consent events -> derived state per (purpose, channel[, contact
 * point]) of each golden record and the consent_changed outbox event. The streamed
 * compliance audit export of the events is mdm/consent_audit.h.
 *
 * Events. A consent event (from the consents[] of a canonical record, or posted on its
 * own) has a purpose and a channel from the configured vocabulary, a status (granted |
 * denied | withdrawn), captured_at, optional expires_at, lawful_basis, evidence and
 * contact_point (the email or phone it covers; NULL = the whole channel). It belongs to
 * the source record with the same (source, source_key), so an event may arrive before
 * its record. Events are never edited; an identical event (same source, key, purpose,
 * channel, contact point, status, instants, basis and evidence) is stored once
 * (consent_event.event_hash).
 *
 * Derivation, for one golden record, over the events of all its active member records:
 *   - the events that count for (purpose P, channel C, contact point X) are those of
 *     purpose P whose channel is C or the wildcard channel "all", and whose contact
 *     point is X or NULL (a channel-wide event covers every address; an address-level
 *     event covers only its address); for the channel-wide state (X NULL) only
 *     channel-wide events count;
 *   - only events captured at or before as_of count; the latest captured_at wins; on a
 *     tie withdrawn beats denied beats granted (then the later event id);
 *   - a winning grant whose expires_at is at or before as_of gives "expired";
 *   - no event gives "none", and `granted` is then the purpose's configured default
 *     (false unless configured otherwise).
 * Membership is the current one: "as of" moves the clock of the events, not of merges.
 *
 * Vocabulary (the "consent" section of mdm.json), validated by mdm_consent_configure:
 *   {"purposes": ["marketing", "profiling", "third_party"],
 *    "channels": ["email", "sms", "phone", "post", "all"],
 *    "defaults": {"marketing": "not_granted"}}        (granted | not_granted)
 * Without the section the built-in vocabulary above applies. The vocabulary is process
 * wide: set it once at start-up, before threads start; the readers are thread-safe. */
#ifndef MDM_MDM_CONSENT_H
#define MDM_MDM_CONSENT_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/audit.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Vocabulary */

/* Validates the "consent" section (NULL = built-in vocabulary) and installs it. Errors
 * are MDM_EINVAL with err->field the JSON pointer ("/consent/purposes/2") and a message
 * naming the rule. On error the previous vocabulary stays. */
mdm_status mdm_consent_configure(const json_t *section, mdm_err *err)
    __attribute__((warn_unused_result));

/* The installed vocabulary as a new JSON object {purposes, channels, defaults}. */
json_t *mdm_consent_vocabulary(void);

/* Events and state */

/* Checks the consents[] of a canonical record against the vocabulary and the rules of
 * mdm_consent_ingest, without a database: the COPY loader refuses a record whose consents
 * resolution would refuse (its record_reject row names the field). consents may be NULL
 * or JSON null. MDM_EUNPROCESSABLE with err->field the JSON pointer
 * ("/consents/0/channel") and the allowed values in the message. Thread-safe. */
mdm_status mdm_consent_validate(const json_t *consents, mdm_err *err)
    __attribute__((warn_unused_result));

/* Stores the consents[] of one canonical record (called by ingest inside its
 * transaction, after the record's membership is settled). record_id is the stored
 * source record; each new event names who captured it: the sender of the record's latest
 * received version (source_record_history.actor and actor_role: an API key, a command). consents
 * may be NULL or JSON null (nothing to do). An unknown purpose or channel, a bad status or
 * timestamp is MDM_EUNPROCESSABLE with err->field a JSON pointer ("/consents/1/purpose") and the
 * allowed values in the message; nothing is stored then (the caller's transaction rolls back).
 * Identical events are stored once. When the record belongs to a golden record, its state is
 * recomputed (mdm_consent_recompute). */
mdm_status mdm_consent_ingest(mdm_db *db, int64_t record_id, const char *source,
                              const char *source_key, const json_t *consents, mdm_err *err)
    __attribute__((warn_unused_result));

/* Like mdm_consent_ingest for events posted on their own (POST /v1/consent-events):
 * the record is looked up by (source, source_key) and need not exist yet. A record of
 * an erased subject is MDM_ECONFLICT. who (may be NULL) captured the events: stored with
 * each (captured_by, captured_role). *result (when not NULL) receives a new object
 * {"source", "source_key", "record_id" (or null), "entity_id" (or null), "stored": n,
 * "duplicates": n, "events": [{"id" | "duplicate": true, "state_before",
 * "state_after"}]}. Runs inside the caller's transaction. */
mdm_status mdm_consent_record(mdm_db *db, const char *source, const char *source_key,
                              const json_t *consents, const mdm_audit_actor *who, json_t **result,
                              mdm_err *err) __attribute__((warn_unused_result));

/* mdm_consent_record in a transaction of its own (POST /v1/consent-events) that also
 * appends, when any event was new, one "consent.record" audit row by who: the ids of the
 * stored events, their record and golden record, never the events' contents. *result
 * receives the object of mdm_consent_record (new reference) on success. */
mdm_status mdm_consent_record_audited(mdm_db *db, const char *source, const char *source_key,
                                      const json_t *consents, const mdm_audit_actor *who,
                                      json_t **result, mdm_err *err)
    __attribute__((warn_unused_result));

/* Recomputes the derived state of an entity (now) after its events or membership
 * changed (merge, split, link, unlink, delete) and, when it differs from the last
 * emitted state (consent_state; an entity never emitted counts as "no events"), stores
 * it and emits consent_changed {entity_id, consents, state, previous} in the caller's
 * transaction. A retired or erased entity forgets its state and emits nothing.
 * Concurrent recomputes of one entity are serialized (row lock on consent_state). */
mdm_status mdm_consent_recompute(mdm_db *db, int64_t entity_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* mdm_consent_recompute in two steps, so that its first read can share a round trip with
 * the caller's statements (mdm_db_exec_pipeline, after the ones that change the entity):
 * mdm_consent_recompute_call sets call; mdm_consent_recompute_finish does the rest with
 * the call's result, which it clears. Most golden records have no consent events and an
 * empty state: then the first read is all there is. */
void mdm_consent_recompute_call(int64_t entity_id, mdm_db_call *call);
mdm_status mdm_consent_recompute_finish(mdm_db *db, int64_t entity_id, PGresult *res, mdm_err *err)
    __attribute__((warn_unused_result));

/* Derived state as JSON, as of a time (NULL = now; ISO 8601, see mdm_consent_parse_time):
 * a new object {"entity_id", "as_of", "consents": [{purpose, channel, contact_point,
 * status (granted|denied|withdrawn|expired|none), granted (bool), captured_at,
 * expires_at, source, source_key, lawful_basis, event_id}]} with one entry per
 * configured purpose x channel (the wildcard "all" excluded) and one per contact point
 * named by an event. A retired id answers for its survivor ("entity_id" is the
 * survivor). MDM_ENOTFOUND for an unknown id, MDM_EINVAL (field "/as_of") for a bad
 * time. */
mdm_status mdm_consent_state(mdm_db *db, int64_t entity_id, const char *as_of, json_t **out,
                             mdm_err *err) __attribute__((warn_unused_result));

/* The same state now for an entity the caller reads as active, in two halves so the
 * read can share a round trip with others (mdm_db_exec_pipeline; GET /v1/entities/{id}):
 * mdm_consent_state_call sets call up, mdm_consent_state_text appends its result
 * (consumed) to out as JSON text: the object mdm_consent_state answers, member for
 * member, written without building it. No survivor walk: entity_id is taken as live. */
void mdm_consent_state_call(int64_t entity_id, mdm_db_call *call);
void mdm_consent_state_text(PGresult *res, int64_t entity_id, mdm_buf *out);

/* Helpers (exposed for tests and other modules) */

/* Parses an ISO 8601 instant: YYYY-MM-DD, or YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]] with an
 * optional Z or +HH[:MM] / -HH[:MM] offset (none = UTC). On success *usec receives the
 * microseconds since 1970-01-01T00:00:00Z and canon (when not NULL) the canonical UTC
 * form "YYYY-MM-DDTHH:MM:SS.ffffffZ". False on anything else. */
bool mdm_consent_parse_time(const char *s, int64_t *usec, char canon[32]);

/* Erasure (mdm/subject.h), inside its transaction: the contact points and evidence of
 * the consent events of the records (a PostgreSQL bigint[] literal) become "[erased]". */
mdm_status mdm_consent_erase_records(mdm_db *db, const char *records, mdm_err *err)
    __attribute__((warn_unused_result));

/* The empty consent state rows of the golden records bulk resolution staged in this
 * session's temporary table bulk_entity (mdm/bulk.c creates and fills it); a row that
 * exists already is kept. */
mdm_status mdm_consent_state_staged(mdm_db *db, mdm_err *err) __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: deletes the last emitted consent state
 * of the entities (a PostgreSQL bigint[] literal). */
mdm_status mdm_consent_erase_entities(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
