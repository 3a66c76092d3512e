/* The consent audit export: every consent event received in a time range, streamed as
 * CSV or NDJSON (see mdm/consent_audit.h). A plain index-ordered scan through a
 * server-side cursor in a read-only repeatable-read snapshot: the state before and after
 * each event was stored with it at receipt (mdm/consent.c), so no row needs a
 * derivation, and memory stays constant whatever the range holds. */
#include "mdm/consent_audit.h"

#include "common/csvout.h"
#include "mdm/consent.h"
#include "mdm/consent_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Audit export ---------------------------------------------------------------------------- */

#define AUDIT_BATCH "2000"

static const char *const audit_columns[] = {
    "event_id",      "golden_id",    "source",      "source_key",  "purpose",      "channel",
    "contact_point", "status",       "captured_at", "expires_at",  "received_at",  "lawful_basis",
    "evidence",      "state_before", "state_after", "captured_by", "captured_role"};
#define AUDIT_NCOLS (sizeof audit_columns / sizeof *audit_columns)
/* Rows are fetched in binary: columns 0-1 are int8, 8-10 timestamptz (int8 microseconds
 * since 2000-01-01 UTC), the others text (NUL-terminated by libpq). Binary avoids
 * to_char() on the server and number parsing here: it doubles the export's speed. */
#define AUDIT_INT8(i) ((i) <= 1)
#define AUDIT_TIME(i) ((i) >= 8 && (i) <= 10)
#define PG_EPOCH_USEC INT64_C(946684800000000)

struct mdm_consent_audit {
    mdm_db *db;
    mdm_consent_format format;
    bool header_done, done, in_tx;
    long long rows;
};

bool mdm_consent_format_parse(const char *s, mdm_consent_format *out)
{
    if (s && !strcmp(s, "csv"))
        *out = MDM_CONSENT_CSV;
    else if (s && !strcmp(s, "ndjson"))
        *out = MDM_CONSENT_NDJSON;
    else
        return false;
    return true;
}

/* The golden id comes through the record's active membership: by record_id when the
 * event knew its record, else by (source, source_key) for events that came first. */
static const char audit_sql[] =
    "DECLARE mdm_consent_audit NO SCROLL CURSOR FOR "
    "SELECT e.id, m.entity_id, e.source, e.source_key, e.purpose, e.channel, e.contact_point, "
    "e.status, e.captured_at, e.expires_at, e.received_at, e.lawful_basis, e.evidence, "
    "e.state_before, e.state_after, e.captured_by, e.captured_role "
    "FROM consent_event e "
    "LEFT JOIN membership m ON m.active AND m.record_id = "
    "coalesce(e.record_id, (SELECT r.id FROM source_record r WHERE "
    "r.source = e.source AND r.source_key = e.source_key)) "
    "WHERE e.received_at >= $1::timestamptz AND e.received_at < "
    "$2::timestamptz "
    "ORDER BY e.received_at, e.id";

mdm_status mdm_consent_audit_open(mdm_db *db, const char *from, const char *to,
                                  mdm_consent_format format, mdm_consent_audit **out, mdm_err *err)
{
    *out = NULL;
    char f[32] = "-infinity", t[32] = "infinity";
    int64_t fu = 0, tu = 0;
    if (from && *from && !mdm_consent_parse_time(from, &fu, f))
        return mdm_err_set_field(err, MDM_EINVAL, "/from",
                                 "from must be an ISO 8601 time such as 2026-01-01 or "
                                 "2026-01-01T00:00:00Z");
    if (to && *to && !mdm_consent_parse_time(to, &tu, t))
        return mdm_err_set_field(err, MDM_EINVAL, "/to",
                                 "to must be an ISO 8601 time such as 2026-02-01 or "
                                 "2026-02-01T00:00:00Z");
    mdm_status st = mdm_db_command(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (st != MDM_OK)
        return st;
    const char *params[] = {f, t};
    st = mdm_db_exec_params(db, audit_sql, 2, params, NULL, err);
    if (st != MDM_OK) {
        PQclear(PQexec(mdm_db_conn(db), "ROLLBACK"));
        return st;
    }
    mdm_consent_audit *a = mdm_xcalloc(1, sizeof *a);
    a->db = db;
    a->format = format;
    a->in_tx = true;
    *out = a;
    return MDM_OK;
}

static void json_string_to(mdm_buf *buf, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    mdm_buf_reserve(buf, strlen(s) + 2);
    mdm_buf_putc(buf, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            mdm_buf_puts(buf, "\\\"");
            break;
        case '\\':
            mdm_buf_puts(buf, "\\\\");
            break;
        case '\n':
            mdm_buf_puts(buf, "\\n");
            break;
        case '\r':
            mdm_buf_puts(buf, "\\r");
            break;
        case '\t':
            mdm_buf_puts(buf, "\\t");
            break;
        default:
            if (*p < 0x20) {
                char esc[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
                mdm_buf_puts(buf, esc);
            } else {
                mdm_buf_putc(buf, (char)*p);
            }
        }
    }
    mdm_buf_putc(buf, '"');
}

static int64_t be64(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return (int64_t)v;
}

/* Writes v in decimal into out (at least 21 bytes); returns the length. */
static size_t put_ll(char *out, long long v)
{
    char tmp[24];
    size_t n = 0, len = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

/* One binary cell as text in out (at least 32 bytes). */
static const char *audit_cell(const PGresult *res, int r, int c, char out[32])
{
    const char *v = PQgetvalue(res, r, c);
    if (AUDIT_INT8(c)) {
        put_ll(out, be64(v));
        return out;
    }
    if (AUDIT_TIME(c)) {
        int64_t t = be64(v);
        if (t == INT64_MAX || t == INT64_MIN)
            return t == INT64_MAX ? "infinity" : "-infinity";
        mdm_consent_format_time(t + PG_EPOCH_USEC, out);
        return out;
    }
    return v;
}

mdm_status mdm_consent_audit_next(mdm_consent_audit *a, mdm_buf *buf, bool *done, mdm_err *err)
{
    *done = false;
    if (a->done) {
        *done = true;
        return MDM_OK;
    }
    if (a->format == MDM_CONSENT_CSV && !a->header_done) {
        for (size_t i = 0; i < AUDIT_NCOLS; i++) {
            if (i)
                mdm_buf_putc(buf, ',');
            mdm_buf_puts(buf, audit_columns[i]);
        }
        mdm_buf_puts(buf, "\r\n");
        a->header_done = true;
        return MDM_OK;
    }
    PGresult *res = PQexecParams(mdm_db_conn(a->db), "FETCH " AUDIT_BATCH " FROM mdm_consent_audit",
                                 0, NULL, NULL, NULL, NULL, 1);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        mdm_status st = mdm_db_error(a->db, res, "consent audit fetch", err);
        PQclear(res);
        return st;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        a->done = true;
        *done = true;
        return MDM_OK;
    }
    char cell[32];
    for (int r = 0; r < n; r++) {
        if (a->format == MDM_CONSENT_CSV) {
            for (int c = 0; c < (int)AUDIT_NCOLS; c++) {
                if (c)
                    mdm_buf_putc(buf, ',');
                if (!PQgetisnull(res, r, c))
                    mdm_csvout_field(buf, audit_cell(res, r, c, cell)); /* evidence is free text */
            }
            mdm_buf_puts(buf, "\r\n");
        } else {
            mdm_buf_putc(buf, '{');
            for (int c = 0; c < (int)AUDIT_NCOLS; c++) {
                if (c)
                    mdm_buf_putc(buf, ',');
                mdm_buf_putc(buf, '"');
                mdm_buf_puts(buf, audit_columns[c]);
                mdm_buf_puts(buf, "\":");
                if (PQgetisnull(res, r, c))
                    mdm_buf_puts(buf, "null");
                else if (AUDIT_INT8(c))
                    mdm_buf_puts(buf, audit_cell(res, r, c, cell));
                else
                    json_string_to(buf, audit_cell(res, r, c, cell));
            }
            mdm_buf_puts(buf, "}\n");
        }
    }
    a->rows += n;
    PQclear(res);
    return MDM_OK;
}

long long mdm_consent_audit_rows(const mdm_consent_audit *a)
{
    return a ? a->rows : 0;
}

void mdm_consent_audit_close(mdm_consent_audit *a)
{
    if (!a)
        return;
    if (a->in_tx)
        PQclear(PQexec(mdm_db_conn(a->db), "ROLLBACK")); /* read-only: nothing to keep */
    free(a);
}
