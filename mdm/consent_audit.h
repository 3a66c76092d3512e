/* The consent audit export (mdm/consent_audit.c): for a compliance officer, every
 * consent event received in a time range with the golden record it now belongs to, the
 * derived state before and after it (stored with the event at receipt, mdm/consent.h)
 * and who captured it, as CSV or NDJSON. Streamed: `mdm export consent`
 * (api/cli_consent.c) writes it to a file, GET /v1/consent/audit (api/h_consent.c) to a
 * chunked response. An export owns its database connection until it is closed; one
 * export is used by one thread at a time. */
#ifndef MDM_MDM_CONSENT_AUDIT_H
#define MDM_MDM_CONSENT_AUDIT_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"

#include <stdbool.h>

typedef enum mdm_consent_format { MDM_CONSENT_CSV, MDM_CONSENT_NDJSON } mdm_consent_format;

/* Parses "csv" or "ndjson"; false for anything else. */
bool mdm_consent_format_parse(const char *s, mdm_consent_format *out);

typedef struct mdm_consent_audit mdm_consent_audit;

/* Opens a streamed export of every consent event received in [from, to) (NULL = open
 * end), in stable order (received_at, id). Each row: event_id, golden_id (current),
 * source, source_key, purpose, channel, contact_point, status, captured_at, expires_at,
 * received_at, lawful_basis, evidence, state_before, state_after, captured_by,
 * captured_role. CSV is RFC 4180 with a header line and CRLF line ends; NDJSON is one
 * object per line. Memory is constant: the rows come through a server-side cursor in a
 * read-only snapshot transaction, so db is busy (and must not be used otherwise) until
 * mdm_consent_audit_close. MDM_EINVAL (field "/from" or "/to") for a bad time. */
mdm_status mdm_consent_audit_open(mdm_db *db, const char *from, const char *to,
                                  mdm_consent_format format, mdm_consent_audit **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Appends the next chunk (the CSV header first, then a batch of rows) to buf; *done
 * becomes true (with nothing appended) once every row was produced. */
mdm_status mdm_consent_audit_next(mdm_consent_audit *a, mdm_buf *buf, bool *done, mdm_err *err)
    __attribute__((warn_unused_result));

/* Rows produced so far. */
long long mdm_consent_audit_rows(const mdm_consent_audit *a);

/* Ends the snapshot transaction and frees a; NULL is a no-op. */
void mdm_consent_audit_close(mdm_consent_audit *a);

#endif
