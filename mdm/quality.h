/* Data quality of golden records and source records: the issues flagged on records, and
 * scores between 0 and 1.
 *
 * Ingest keeps a record whose optional values are invalid and flags each one in the
 * record's "issues" ({pointer, field, reason[, value, dropped]}; mdm/ingest.h). Scores:
 *   completeness  share of six attributes present: first name, last name, birth date, an
 *                 e-mail, a phone, an address with a street line (the golden record's
 *                 values for a golden record, the record's own for a source record);
 *   validity      1 - flagged values / values sent (a dropped value counts as sent; a
 *                 golden record: over all its active member records);
 *   consistency   (golden records) share of first name, last name and birth date on which
 *                 the member records that hold one agree (comparison keys); 1 when no
 *                 member holds any;
 *   freshness     1 - days since the newest source update / 1095, floored at 0 (a record
 *                 three years old scores 0), with freshness_days beside it.
 * A source record also says whether it agrees with its golden record (birth date, and last
 * name ignoring case): "agrees_with_golden".
 *
 * Reads are split in two (mdm/db.h pipelining): mdm_quality_call fills the call,
 * mdm_quality_text consumes its result. Reads only; nothing is stored. */
#ifndef MDM_MDM_QUALITY_H
#define MDM_MDM_QUALITY_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

void mdm_quality_call(int64_t entity_id, mdm_db_call *call);

/* Appends {"issues": [{record_id, source, source_key, pointer, field, reason, ...}],
 * "scores": {completeness, validity, consistency, freshness, freshness_days},
 * "records": [{record_id, source, source_key, completeness, validity, freshness,
 * freshness_days, agrees_with_golden}]} to out and clears res. */
void mdm_quality_text(PGresult *res, mdm_buf *out);

/* The scores of source record record_id: a new {completeness, validity, freshness,
 * freshness_days, agrees_with_golden (null without a golden record)}. MDM_ENOTFOUND. */
mdm_status mdm_quality_record(mdm_db *db, int64_t record_id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* The per-source report: what each source system sends badly. One row per source with
 * records: {source, records, completeness, validity, freshness (averages),
 * invalid_emails, invalid_phones, dropped_values (values left out as invalid),
 * stale_records (no update for a year), disagreeing_records (birth date or last name
 * unlike the golden record's)}, by source. As a new JSON array (*out), or written to f
 * as "csv" (a header line) or "ndjson". MDM_EINVAL for another format. */
mdm_status mdm_quality_report(mdm_db *db, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));
mdm_status mdm_quality_report_write(const json_t *report, const char *format, FILE *f, mdm_err *err)
    __attribute__((warn_unused_result));

/* Filters on the scores (review queue, search): min_X and max_X, inclusive bounds on score
 * X of completeness, validity, consistency and freshness, in this order. */
#define MDM_QUALITY_NFILTERS 8
extern const char *const mdm_quality_filter_names[MDM_QUALITY_NFILTERS];

/* The bounds given as text (values[i] for mdm_quality_filter_names[i]; NULL or "" = not
 * given), as a new JSON object's text for mdm_quality_within (sql/056) in *out, or NULL
 * when none is given. MDM_EINVAL naming the parameter (err->field "/NAME") when one is
 * not a number between 0 and 1 or a min_X is above its max_X. The caller frees *out. */
mdm_status mdm_quality_bounds(const char *const values[MDM_QUALITY_NFILTERS], char **out,
                              mdm_err *err) __attribute__((warn_unused_result));

/* The Prometheus histograms of the live source records' scores (completeness, validity,
 * freshness) per source, appended to out in the text format: mdm_record_quality_bucket
 * {source, score, le} (upper bounds 0.1, 0.25, 0.5, 0.75, 0.9, 1), _sum, _count, and
 * mdm_record_quality_computed_timestamp_seconds. One scan of every live source record
 * (about a second per 100,000 records): too slow for a scrape, so mdm serve computes it
 * in the background (mdm_quality_snapshot_start) and /metrics serves the last text. */
mdm_status mdm_quality_histograms_text(mdm_db *db, mdm_buf *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* A thread of its own computes mdm_quality_histograms_text at once and then every
 * interval_s seconds (counted from the start of the previous scan; at once again when a
 * scan took longer) on its own connection to url, and keeps the last text that succeeded.
 * A failed scan is logged (event=quality_histograms_failed) and the previous snapshot
 * stays. MDM_EINVAL for an interval that is not positive, MDM_ECONFLICT if already
 * started. mdm_quality_snapshot_stop joins the thread and drops the snapshot (idempotent). */
mdm_status mdm_quality_snapshot_start(const char *url, int interval_s, mdm_err *err)
    __attribute__((warn_unused_result));
void mdm_quality_snapshot_stop(void);

/* Appends the last snapshot (nothing before the first one), then the gauge
 * mdm_record_quality_age_seconds (seconds since the snapshot's scan started; before the
 * first one, since the thread started) and the counter mdm_record_quality_snapshots_total.
 * Appends nothing when the thread is not running. Never touches the database: instant.
 * Thread-safe. */
void mdm_quality_snapshot_text(mdm_buf *out);

#endif
