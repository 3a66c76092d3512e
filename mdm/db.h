/* PostgreSQL access through libpq: connections, named prepared statements,
 * transactions with retry, and the SQLSTATE -> mdm_status map.
 *
 * Each module declares its DML as a static table of mdm_db_stmt; a statement is
 * prepared on a connection the first time it runs there. Values are always $n
 * parameters, never formatted into SQL text. An mdm_db (one PGconn) belongs to one
 * thread at a time.
 *
 * Test hook: mdm_db_fail_after(n) makes the n-th following statement fail with
 * MDM_EDB (a simulated error), so tests can prove that every transaction rolls back
 * completely. */
#ifndef MDM_MDM_DB_H
#define MDM_MDM_DB_H

#include "common/err.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mdm_db mdm_db;

typedef struct mdm_db_stmt {
    const char *name; /* unique across the program, e.g. "ingest_upsert" */
    const char *sql;
    int nparams;
} mdm_db_stmt;

/* Connection */

/* Connects to url (a libpq URI or key=value string). Returns NULL with err set to
 * MDM_EDB ("cannot connect to the database: ...") when the server is unreachable. */
mdm_db *mdm_db_connect(const char *url, mdm_err *err);
void mdm_db_close(mdm_db *db); /* NULL is a no-op */
PGconn *mdm_db_conn(mdm_db *db);
/* True when the connection is usable; tries one reset when it is not. */
bool mdm_db_ok(mdm_db *db);
/* True while the connection is up, without reconnecting: pending input is read first, so
 * a connection the server has closed (restart, terminate) is noticed before a statement
 * fails on it. */
bool mdm_db_alive(mdm_db *db);
/* True when url names a PostgreSQL server on this machine: a Unix socket (no host, a
 * host that is a directory path, or PGHOST as one), localhost or a loopback address. */
bool mdm_db_url_is_local(const char *url);

/* Statements */

/* Runs a prepared statement with text parameters (NULL entries are SQL NULL).
 * On success *out (when not NULL) receives the result, which the caller PQclears;
 * PGRES_COMMAND_OK and PGRES_TUPLES_OK are success. Errors map through
 * mdm_db_error(). */
mdm_status mdm_db_exec(mdm_db *db, const mdm_db_stmt *stmt, const char *const *params,
                       PGresult **out, mdm_err *err) __attribute__((warn_unused_result));

/* Runs stmts[0..n) in order, each with params (a statement reads its first nparams),
 * results discarded; stops at the first error, which it returns as mdm_db_exec does. */
mdm_status mdm_db_exec_each(mdm_db *db, const mdm_db_stmt *stmts, size_t n,
                            const char *const *params, mdm_err *err)
    __attribute__((warn_unused_result));

/* Writes id in decimal into buf (MDM_DB_ID_LEN bytes hold any int64_t) and returns buf:
 * the text of an id for a statement's parameter list, as in
 *     char rid[MDM_DB_ID_LEN];
 *     const char *params[] = {mdm_db_id(rid, record_id), source};
 * Thread-safe. */
#define MDM_DB_ID_LEN 24
const char *mdm_db_id(char buf[MDM_DB_ID_LEN], int64_t id);

/* One statement of a pipelined batch: stmt and params (as for mdm_db_exec) are set by
 * the caller, or by mdm_db_call_id; res receives the result. */
typedef struct mdm_db_call {
    const mdm_db_stmt *stmt;
    const char *const *params;
    PGresult *res;
    char id_text[MDM_DB_ID_LEN]; /* storage of mdm_db_call_id's parameter */
    const char *id_params[1];
} mdm_db_call;

/* Sets call to run stmt with the integer id as its one parameter (kept inside call, so
 * call must stay where it is until it has run). */
void mdm_db_call_id(mdm_db_call *call, const mdm_db_stmt *stmt, long long id);

/* Reads a keyset-paged statement page by page: $1 is the last "id" read (0 first), $2 the
 * page size, rows in "id" order. Each page goes to on_page (which must not clear it) until
 * a page comes back short or on_page fails. */
typedef mdm_status (*mdm_db_page_fn)(void *arg, PGresult *page, mdm_err *err);
mdm_status mdm_db_exec_paged(mdm_db *db, const mdm_db_stmt *stmt, int page_rows,
                             mdm_db_page_fn on_page, void *arg, mdm_err *err)
    __attribute__((warn_unused_result));

/* Runs n statements in one round trip (libpq pipeline mode: every statement is sent,
 * then every result read), in order: outside a transaction each in its own implicit
 * transaction as with mdm_db_exec; inside mdm_db_run_tx in that transaction, each
 * seeing the effects of the ones before it (a statement after a failed one is not run).
 * For statements whose parameters do not depend on each other's results, that would
 * otherwise each wait for the server. On success every calls[i].res is set (the caller
 * PQclears each); on the first error none is (all cleared), and err is filled as
 * mdm_db_exec would. */
mdm_status mdm_db_exec_pipeline(mdm_db *db, mdm_db_call *calls, size_t n, mdm_err *err)
    __attribute__((warn_unused_result));

/* Runs a parameterized statement without preparing it (for one-off statements). */
mdm_status mdm_db_exec_params(mdm_db *db, const char *sql, int nparams, const char *const *params,
                              PGresult **out, mdm_err *err) __attribute__((warn_unused_result));

/* Runs a parameterless utility command (BEGIN, COMMIT, a migration file). */
mdm_status mdm_db_command(mdm_db *db, const char *sql, mdm_err *err)
    __attribute__((warn_unused_result));

/* Fills err from a failed result (or the connection error when res is NULL):
 * 23505/23503/23P01 -> MDM_ECONFLICT, 40001/40P01/55P03 -> MDM_ERETRY, a lost
 * connection (08xxx, 57P01, or libpq's own error once the socket is found closed) ->
 * MDM_ERETRY, 22xxx -> MDM_EINVAL, else MDM_EDB. Returns the status. */
mdm_status mdm_db_error(mdm_db *db, const PGresult *res, const char *what, mdm_err *err);

/* COPY ... FROM STDIN of data[0..len) (text format, built with mdm_db_copy_field) inside
 * the caller's transaction. */
mdm_status mdm_db_copy_in(mdm_db *db, const char *copy_sql, const char *data, size_t len,
                          mdm_err *err) __attribute__((warn_unused_result));

/* Appends one field in COPY text format (escaped; NULL as \N) to b, a common/mem.h
 * mdm_buf. */
struct mdm_buf;
void mdm_db_copy_field(struct mdm_buf *b, const char *s);
/* Appends v to the text-array literal in b ({"x","y"}; the buffer empty at first),
 * quoted, for a text[] parameter. */
void mdm_db_array_add(struct mdm_buf *b, const char *v);
/* Writes the bigint[] literal of the n ids v into b (reset first): "{1,-2,3}". */
void mdm_db_id_array(struct mdm_buf *b, const int64_t *v, size_t n);

/* Transactions */

typedef mdm_status (*mdm_db_tx_fn)(mdm_db *db, void *ctx, mdm_err *err);

/* BEGIN; fn; COMMIT. On MDM_ERETRY (from fn or COMMIT) rolls back and tries again, 3
 * tries in all; any other error rolls back and is returned. fn never commits. name is
 * used in logs. BEGIN is sent with fn's first statement (one round trip less); code
 * that uses the PGconn directly gets it through mdm_db_conn, which sends BEGIN first. */
mdm_status mdm_db_run_tx(mdm_db *db, const char *name, mdm_db_tx_fn fn, void *ctx, mdm_err *err)
    __attribute__((warn_unused_result));

/* Inside mdm_db_run_tx's fn only: stmt runs at the end of the transaction, sent with its
 * COMMIT in one round trip, so a write whose values are known only when fn ends (the
 * counts of what fn did: mdm/counters.h) costs no round trip of its own. params (at most
 * MDM_DB_AT_COMMIT_PARAMS; NULL entries are SQL NULL) are copied. An error of stmt fails
 * the transaction as one of fn's statements would (retried on MDM_ERETRY, when fn runs
 * again and calls this again). One per transaction: a second call replaces the first. */
#define MDM_DB_AT_COMMIT_PARAMS 8
void mdm_db_at_commit(mdm_db *db, const mdm_db_stmt *stmt, const char *const *params);

/* Result helpers: column by name; NULL or missing gives def. */
const char *mdm_db_get(const PGresult *res, int row, const char *col, const char *def);
long long mdm_db_get_ll(const PGresult *res, int row, const char *col, long long def);

/* Test hook: fail the n-th statement from now (1 = the next one); 0 disables. */
void mdm_db_fail_after(long n);

#endif
