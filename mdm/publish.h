/* Push delivery of golden changes to subscribed source systems: the delivery workers
 * (mdm/publish.c), and the module's other parts, whose headers this one includes:
 *   mdm/publish_config.h    the "publish" section and the subscription checks
 *   mdm/publish_sub.h       subscriptions (owner of subscription)
 *   mdm/publish_delivery.h  fan-out, the delivery queue, list, replay, erasure (owner of
 *                           delivery and publish_cursor)
 *   mdm/publish_message.h   the message sent: mapping, withheld attributes, content hash
 *   mdm/publish_sign.h      HMAC signatures
 * (they share mdm/publish_int.h, which nothing outside the module includes).
 *
 * Pipeline: outbox event -> (fan-out) one delivery row per active subscription whose
 * event_types include the event's type -> (delivery worker) one signed HTTP POST per
 * delivery, retried with backoff until acknowledged, rejected or dead.
 *
 * Invariants
 * - A worker claims deliveries (mdm_publish_claim) and keeps the row locks until it
 *   records the outcomes in the same transaction. A worker that dies mid-delivery
 *   loses its transaction: the rows are still pending and another worker sends them
 *   again (at-least-once; the Idempotency-Key header lets the receiver drop repeats).
 *   Two workers never send the same delivery at the same time.
 * - Per-entity order: event n+1 of an entity to a subscription waits until event n is
 *   acknowledged, rejected, dead or skipped (mdm/publish_delivery.h).
 * - Outcomes: 2xx -> acknowledged; 422 -> rejected (the receiver understood and refuses;
 *   its reason is recorded, not retried); anything else (other 4xx, 5xx, timeout,
 *   connection refused) -> retried after base * 2^(attempts-1) ms (capped; equal jitter:
 *   half fixed, half random, so below the cap a delay is never shorter than the one
 *   before; a Retry-After header lengthens it),
 *   and dead once max_attempts attempts failed. Dead and rejected deliveries can be
 *   replayed. A receiver found unreachable in a round defers its other rows of the round.
 * - The message (see docs/ARCHITECTURE.md "Publishing", mdm/publish_message.h) carries
 *   the receiving system's own source keys for the entity and the golden record mapped
 *   to its layout, without the attributes it owns or holds.
 *
 * Headers: X-MDM-Timestamp, X-MDM-Signature (mdm/publish_sign.h), the Standard Webhooks
 * webhook-id, -timestamp and -signature (one per valid secret while a rotated secret's
 * window lasts), Idempotency-Key: the outbox event id, traceparent: a span of the trace
 * of the request that caused the event.
 *
 * Threads: an mdm_publisher (one PostgreSQL connection, one curl easy handle) belongs to
 * one thread. curl_global_init must have run once (api/main.c) before any is created.
 * The other functions take the caller's mdm_db and are as thread-safe as it is. */
#ifndef MDM_MDM_PUBLISH_H
#define MDM_MDM_PUBLISH_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/publish_config.h"
#include "mdm/publish_delivery.h"
#include "mdm/publish_message.h"
#include "mdm/publish_sign.h"
#include "mdm/publish_sub.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Delivery workers */

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

/* Retry delay in ms before attempt attempts+1, after attempts failed ones (>= 1): equal
 * jitter around min(max, base * 2^(attempts-1)); r in [0,1) is the random draw. */
long mdm_publish_backoff_ms(const mdm_publish_opts *o, int attempts, double r);

#endif
