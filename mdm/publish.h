/* Push delivery of golden changes to subscribed source systems.
 *
 * Pipeline: outbox event -> (fan-out) one delivery row per active subscription whose
 * event_types include the event's type -> (delivery worker) one signed HTTP POST per
 * delivery, retried with backoff until acknowledged, rejected or dead.
 *
 * Invariants
 * - Fan-out reads the outbox through mdm_outbox_read (bounded by the writers' barrier),
 *   so every seq at or below publish_cursor.last_seq is final and no event is skipped.
 *   Only one process fans out at a time (a session advisory lock); delivery rows are
 *   unique per (subscription, seq), so a repeated fan-out changes nothing.
 * - A worker claims deliveries with FOR UPDATE SKIP LOCKED and keeps the row lock until
 *   it records the outcome in the same transaction. A worker that dies mid-delivery
 *   loses its transaction: the rows are still pending and another worker sends them
 *   again (at-least-once; the Idempotency-Key header lets the receiver drop repeats).
 *   Two workers never send the same delivery at the same time.
 * - Per-entity order: a delivery is claimable only when no earlier (lower seq) delivery
 *   of the same entity to the same subscription is still pending. Event n+1 waits until
 *   event n is acknowledged, rejected, dead or skipped.
 * - Outcomes: 2xx -> acknowledged; 422 -> rejected (the receiver understood and refuses;
 *   its reason is recorded, not retried); anything else (other 4xx, 5xx, timeout,
 *   connection refused) -> retried after base * 2^(attempts-1) ms (capped; equal jitter:
 *   half fixed, half random, so below the cap a delay is never shorter than the one
 *   before; a Retry-After header lengthens it),
 *   and dead once max_attempts attempts failed. Dead and rejected deliveries can be
 *   replayed.
 * - The message (see docs/ARCHITECTURE.md "Publishing") carries the receiving system's
 *   own source keys for the entity and the golden record mapped to its layout; an
 *   attribute whose surviving value comes from that system's own record, or that its
 *   record already holds with the same value, is withheld (listed in "withheld").
 *
 * Signature: X-MDM-Timestamp: UNIX seconds; X-MDM-Signature: "v1=" + lower-case hex of
 * HMAC-SHA256(secret, timestamp + "." + body). Idempotency-Key: the outbox event id.
 *
 * Threads: an mdm_publisher (one PostgreSQL connection, one curl easy handle) belongs to
 * one thread. curl_global_init must have run once (api/main.c) before any is created.
 * The other functions take the caller's mdm_db and are as thread-safe as it is. */
#ifndef MDM_MDM_PUBLISH_H
#define MDM_MDM_PUBLISH_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/audit.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/egress.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Configuration: the "publish" section of mdm.json (all optional). */
typedef struct mdm_publish_opts {
    bool enabled;           /* start delivery workers in mdm serve; default true */
    int workers;            /* delivery threads per mdm serve process; default 2 */
    int batch;              /* deliveries claimed per transaction; default 32 */
    int poll_ms;            /* idle wait between polls; default 200 */
    int timeout_ms;         /* whole HTTP exchange; default 10000 */
    int connect_timeout_ms; /* TCP/TLS connect; default 3000 */
    int backoff_base_ms;    /* first retry delay; default 1000 */
    int backoff_max_ms;     /* retry delay cap; default 3600000 (1 h) */
    int max_attempts;       /* default for subscriptions that set none; default 8 */
    mdm_egress egress;      /* allowed_networks: private addresses deliveries may reach */
} mdm_publish_opts;

/* Fills o with the defaults, then the "publish" section of cfg (cfg may be NULL).
 * MDM_EINVAL names the offending key (err->field = "/publish/KEY"). */
mdm_status mdm_publish_opts_load(const mdm_config *cfg, mdm_publish_opts *o, mdm_err *err)
    __attribute__((warn_unused_result));

/* Validates the "publish" and "subscriptions" sections without a database: every
 * subscription needs source, url (http/https), secret (>= 16 characters, or secret_env
 * naming a set environment variable); event_types, mapping, active, max_attempts are
 * optional and checked. MDM_EINVAL with err->field set, e.g. "/subscriptions/1/url". */
mdm_status mdm_publish_validate_config(const mdm_config *cfg, mdm_err *err)
    __attribute__((warn_unused_result));

/* Replaces every subscriptions[].secret of a configuration JSON (mdm_config_to_json's
 * output) with "***", for printing. */
void mdm_publish_mask_secrets(json_t *config_json);

/* Upserts the configured subscriptions (origin 'config', keyed by source and url) and
 * deactivates origin-'config' rows no longer configured; each row created, changed or
 * deactivated gets a "subscription.create" / ".update" / ".delete" audit row by actor
 * "config" (role system) in the same transaction, an unchanged one nothing. *count gets
 * the number configured. MDM_ECONFLICT when a subscription names an unknown source
 * system. */
mdm_status mdm_publish_sync_config(mdm_db *db, const mdm_config *cfg, int *count, mdm_err *err)
    __attribute__((warn_unused_result));

/* Fan-out and delivery */

/* Fans out up to limit outbox events past publish_cursor into delivery rows. Returns
 * MDM_OK with *created = 0 when another process holds the fan-out lock. */
mdm_status mdm_publish_fanout(mdm_db *db, int limit, int *created, mdm_err *err)
    __attribute__((warn_unused_result));

typedef struct mdm_publisher mdm_publisher;

/* One delivery worker: its own connection to url and its own curl handle. NULL with err
 * set when the database is unreachable or curl cannot start. */
mdm_publisher *mdm_publisher_new(const char *url, const mdm_publish_opts *o, mdm_err *err);
void mdm_publisher_free(mdm_publisher *p); /* NULL is a no-op */

/* One round: fan out, then claim up to batch due deliveries and send them. *processed
 * (when not NULL) gets the number of deliveries attempted or skipped. */
mdm_status mdm_publisher_step(mdm_publisher *p, int *processed, mdm_err *err)
    __attribute__((warn_unused_result));

/* Runs rounds until nothing is due now (drain = false) or until no pending delivery of an
 * active subscription is left at all, waiting for backoffs (drain = true), or until
 * timeout_ms passed (0 = no limit). nthreads workers run in parallel. *processed gets
 * the total. MDM_ERETRY when the timeout expired with deliveries still pending. */
mdm_status mdm_publish_run(const char *url, const mdm_publish_opts *o, int nthreads, bool drain,
                           int timeout_ms, long *processed, mdm_err *err)
    __attribute__((warn_unused_result));

/* Background workers for mdm serve: nthreads threads (0 = o.workers) looping over
 * mdm_publisher_step until mdm_publish_stop. Validates the configuration (MDM_EINVAL)
 * and syncs the configured subscriptions first (an error such as an unknown source
 * stops the start); when the database is unreachable the workers keep trying and sync
 * once it answers. cfg is borrowed until mdm_publish_stop. Does nothing when
 * publish.enabled is false. MDM_ECONFLICT if already started. */
mdm_status mdm_publish_start(const mdm_config *cfg, int nthreads, mdm_err *err)
    __attribute__((warn_unused_result));
/* Stops and joins the workers: a request in flight finishes and its outcome is
 * recorded; the rest of that round's claimed deliveries stay pending for the next
 * worker (no attempt counted). Idempotent. */
void mdm_publish_stop(void);

/* Management (CLI and HTTP) */

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

/* Subscriptions as JSON objects {id, source, url, event_types, mapping, active,
 * max_attempts, origin, created_at, updated_at, secret_set}; the secret is never
 * returned. */
mdm_status mdm_publish_sub_list(mdm_db *db, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));
mdm_status mdm_publish_sub_get(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));
/* Creates from a JSON body {source, url, secret, event_types?, mapping?, active?,
 * max_attempts?}; MDM_EINVAL names the field, MDM_ECONFLICT for a duplicate (source,
 * url) or an unknown source. *out gets the created subscription. Each of these three
 * writes a "subscription.create" / ".update" / ".delete" audit row by who (target
 * "subscription:ID", before/after as mdm_publish_sub_get shows it: never the secret) in
 * the same transaction. */
mdm_status mdm_publish_sub_create(mdm_db *db, const json_t *body, const mdm_audit_actor *who,
                                  json_t **out, mdm_err *err) __attribute__((warn_unused_result));
/* Updates the given fields (same names; source cannot change). */
mdm_status mdm_publish_sub_update(mdm_db *db, int64_t id, const json_t *body,
                                  const mdm_audit_actor *who, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));
/* Deactivates it (rows are kept: deliveries refer to it). */
mdm_status mdm_publish_sub_delete(mdm_db *db, int64_t id, const mdm_audit_actor *who, mdm_err *err)
    __attribute__((warn_unused_result));

/* Metrics */

/* Per-subscription gauges from the database and this process's counters:
 * {"subscriptions": [{id, source, pending, dead, rejected, acknowledged,
 *   oldest_pending_age_seconds}], "fanout_lag_events": N, "attempts_total": N,
 *   "failures_total": N, "acknowledged_total": N, "dead_total": N}. */
mdm_status mdm_publish_metrics(mdm_db *db, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Appends the same figures in Prometheus text format (mdm_publish_* series) to out. */
mdm_status mdm_publish_metrics_text(mdm_db *db, mdm_buf *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Helpers, exported for tests and receivers */

/* Writes "v1=" + hex HMAC-SHA256(secret, timestamp "." body) into out (68 bytes). */
void mdm_publish_sign(const char *secret, long long timestamp, const char *body, size_t len,
                      char out[68]);

/* Standard Webhooks (www.standardwebhooks.com): writes "v1," + base64
 * HMAC-SHA256(key, msg_id "." timestamp "." body) into out (48 bytes). The key is the
 * bytes a "whsec_<base64>" secret encodes, else the secret's own bytes (a receiver
 * passes such a secret to its library as raw). */
void mdm_publish_sign_standard(const char *secret, const char *msg_id, long long timestamp,
                               const char *body, size_t len, char out[48]);

/* Retry delay in ms before attempt attempts+1, after attempts failed ones (>= 1): equal
 * jitter around min(max, base * 2^(attempts-1)); r in [0,1) is the random draw. */
long mdm_publish_backoff_ms(const mdm_publish_opts *o, int attempts, double r);

/* Applies an outbound mapping ({"Target": "path.to.field", ...}; special sources
 * "$source_key", "$source_keys", "$entity_id") to a canonical record. An empty mapping
 * returns a copy of the record. Missing paths are left out. New reference. */
json_t *mdm_publish_map(const json_t *mapping, const json_t *record, const json_t *source_keys,
                        int64_t entity_id);

/* Erasure (mdm/subject.h), inside its transaction: the receivers' last answers about the
 * entities (a PostgreSQL bigint[] literal) are removed from their deliveries. */
mdm_status mdm_publish_erase(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
