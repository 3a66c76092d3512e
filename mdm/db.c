/* libpq wrapper: lazy per-connection statement preparation, SQLSTATE mapping,
 * the transaction runner and the fault-injection hook. */
#include "mdm/db.h"

#include "common/log.h"
#include "common/mem.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mdm_db {
    PGconn *conn;
    /* mdm_db_run_tx's BEGIN, not sent yet: it goes out with the transaction's first
     * statement, in the same round trip */
    bool begin_pending;
    bool in_tx; /* inside mdm_db_run_tx's fn */
    /* mdm_db_at_commit's statement and its copied parameters, sent with the COMMIT */
    const mdm_db_stmt *commit_stmt;
    char *commit_params[MDM_DB_AT_COMMIT_PARAMS];
    char **prepared; /* names prepared on this connection */
    size_t nprepared, capprepared;
};

static atomic_long fail_countdown;

void mdm_db_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

/* True when the fault hook says this statement must fail. */
static bool injected_failure(mdm_err *err)
{
    long n = atomic_load(&fail_countdown);
    if (n <= 0)
        return false;
    if (atomic_fetch_sub(&fail_countdown, 1) == 1) {
        mdm_err_set(err, MDM_EDB, "injected database failure");
        return true;
    }
    return false;
}

mdm_db *mdm_db_connect(const char *url, mdm_err *err)
{
    if (!url || !*url) {
        mdm_err_set(err, MDM_EINVAL,
                    "no database configured: set MDM_DATABASE_URL or "
                    "database_url in mdm.json");
        return NULL;
    }
    PGconn *conn = PQconnectdb(url);
    if (!conn) {
        mdm_err_set(err, MDM_EDB, "cannot connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *m = PQerrorMessage(conn);
        mdm_err_set(err, MDM_EDB, "cannot connect to the database: %.*s", (int)strcspn(m, "\n"), m);
        PQfinish(conn);
        return NULL;
    }
    PGresult *r = PQexec(conn, "SET client_min_messages = warning");
    PQclear(r);
    mdm_db *db = mdm_xcalloc(1, sizeof *db);
    db->conn = conn;
    return db;
}

static void forget_prepared(mdm_db *db)
{
    for (size_t i = 0; i < db->nprepared; i++)
        free(db->prepared[i]);
    db->nprepared = 0;
}

static void clear_at_commit(mdm_db *db);

void mdm_db_close(mdm_db *db)
{
    if (!db)
        return;
    clear_at_commit(db);
    forget_prepared(db);
    free(db->prepared);
    PQfinish(db->conn);
    free(db);
}

/* Sends a deferred BEGIN on its own (before a statement that cannot carry it). */
mdm_status mdm_db_exec_paged(mdm_db *db, const mdm_db_stmt *stmt, int page_rows,
                             mdm_db_page_fn on_page, void *arg, mdm_err *err)
{
    long long after = 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", page_rows);
    for (;;) {
        char a[MDM_DB_ID_LEN];
        const char *params[2] = {mdm_db_id(a, after), lim};
        PGresult *res = NULL;
        mdm_status st = mdm_db_exec(db, stmt, params, &res, err);
        if (st != MDM_OK)
            return st;
        int rows = PQntuples(res);
        st = on_page(arg, res, err);
        if (rows)
            after = mdm_db_get_ll(res, rows - 1, "id", after);
        PQclear(res);
        if (st != MDM_OK || rows < page_rows)
            return st;
    }
}

static mdm_status flush_begin(mdm_db *db, mdm_err *err);

PGconn *mdm_db_conn(mdm_db *db)
{
    if (db->begin_pending) {
        mdm_err ignored = {0};
        (void)flush_begin(db, &ignored); /* a failure shows in the caller's next statement */
    }
    return db->conn;
}

bool mdm_db_ok(mdm_db *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        return true;
    PQreset(db->conn);
    forget_prepared(db);
    return PQstatus(db->conn) == CONNECTION_OK;
}

bool mdm_db_alive(mdm_db *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        PQconsumeInput(db->conn);
    return PQstatus(db->conn) == CONNECTION_OK;
}

bool mdm_db_url_is_local(const char *url)
{
    if (!url || !*url)
        return false;
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    if (!opts)
        return false;
    const char *host = NULL, *hostaddr = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val && *o->val && strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (o->val && *o->val && strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
    }
    if (!host && !hostaddr)
        host = getenv("PGHOST");
    bool local;
    if (hostaddr)
        local = strcmp(hostaddr, "127.0.0.1") == 0 || strcmp(hostaddr, "::1") == 0;
    else
        local = !host || !*host || host[0] == '/' || host[0] == '@' ||
                strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
                strcmp(host, "::1") == 0;
    PQconninfoFree(opts);
    return local;
}

mdm_status mdm_db_error(mdm_db *db, const PGresult *res, const char *what, mdm_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = PQerrorMessage(db->conn);
    mdm_status code = MDM_EDB;
    if (state) {
        if (!strcmp(state, "23505") || !strcmp(state, "23503") || !strcmp(state, "23P01"))
            code = MDM_ECONFLICT;
        else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
                 !strcmp(state, "57P01") || !strncmp(state, "08", 2))
            code = MDM_ERETRY;
        else if (!strncmp(state, "22", 2))
            code = MDM_EINVAL;
    } else {
        /* libpq's own error, no SQLSTATE: the server may have ended the session (its FATAL
         * at shutdown arrives before the socket closes); reading the input lets libpq see
         * the closed socket. A gone connection: the caller may reconnect and retry. */
        if (PQstatus(db->conn) == CONNECTION_OK)
            PQconsumeInput(db->conn);
        if (PQstatus(db->conn) != CONNECTION_OK)
            code = MDM_ERETRY;
    }
    mdm_err_set(err, code, "%s: %.*s", what, (int)strcspn(msg ? msg : "", "\n"), msg ? msg : "");
    if (err && state)
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state);
    mdm_log(code == MDM_ERETRY ? MDM_LOG_WARN : MDM_LOG_DEBUG, "event=db_error what=%s sqlstate=%s",
            what, state ? state : "-");
    return code;
}

static bool is_prepared(mdm_db *db, const char *name)
{
    for (size_t i = 0; i < db->nprepared; i++)
        if (strcmp(db->prepared[i], name) == 0)
            return true;
    return false;
}

static mdm_status check_result(mdm_db *db, PGresult *res, const char *what, PGresult **out,
                               mdm_err *err)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        mdm_status code = mdm_db_error(db, res, what, err);
        PQclear(res);
        return code;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return MDM_OK;
}

static void remember_prepared(mdm_db *db, const char *name)
{
    if (db->nprepared == db->capprepared) {
        db->capprepared = db->capprepared ? db->capprepared * 2 : 32;
        db->prepared = mdm_xrealloc(db->prepared, db->capprepared * sizeof *db->prepared);
    }
    db->prepared[db->nprepared++] = mdm_xstrdup(name);
}

mdm_status mdm_db_exec(mdm_db *db, const mdm_db_stmt *stmt, const char *const *params,
                       PGresult **out, mdm_err *err)
{
    if (out)
        *out = NULL;
    if (db->begin_pending) {
        /* the transaction's first statement: BEGIN goes with it, in one round trip */
        mdm_db_call call = {.stmt = stmt, .params = params};
        mdm_status st = mdm_db_exec_pipeline(db, &call, 1, err);
        if (st == MDM_OK && out)
            *out = call.res;
        else
            PQclear(call.res);
        return st;
    }
    if (injected_failure(err))
        return MDM_EDB;
    if (!is_prepared(db, stmt->name)) {
        PGresult *res = PQprepare(db->conn, stmt->name, stmt->sql, stmt->nparams, NULL);
        mdm_status st = check_result(db, res, stmt->name, NULL, err);
        if (st != MDM_OK)
            return st;
        remember_prepared(db, stmt->name);
    }
    PGresult *res = PQexecPrepared(db->conn, stmt->name, stmt->nparams, params, NULL, NULL, 0);
    return check_result(db, res, stmt->name, out, err);
}

static mdm_status flush_begin(mdm_db *db, mdm_err *err)
{
    db->begin_pending = false;
    return check_result(db, PQexec(db->conn, "BEGIN"), "begin", NULL, err);
}

/* Reads the results of one pipelined command up to its terminating NULL; returns the
 * last non-NULL one (the caller clears it). */
static PGresult *pipeline_result(PGconn *conn)
{
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(conn)) != NULL) {
        PQclear(last);
        last = r;
    }
    return last;
}

mdm_status mdm_db_exec_each(mdm_db *db, const mdm_db_stmt *stmts, size_t n,
                            const char *const *params, mdm_err *err)
{
    mdm_status st = MDM_OK;
    for (size_t i = 0; i < n && st == MDM_OK; i++)
        st = mdm_db_exec(db, &stmts[i], params, NULL, err);
    return st;
}

const char *mdm_db_id(char buf[MDM_DB_ID_LEN], int64_t id)
{
    snprintf(buf, MDM_DB_ID_LEN, "%lld", (long long)id);
    return buf;
}

void mdm_db_call_id(mdm_db_call *call, const mdm_db_stmt *stmt, long long id)
{
    call->id_params[0] = mdm_db_id(call->id_text, id);
    call->stmt = stmt;
    call->params = call->id_params;
    call->res = NULL;
}

/* A command libpq could not send, or a pipeline it could not enter or leave: the
 * connection is unusable whatever PQstatus says yet (a session the server ended, with
 * its FATAL read before the socket's end). MDM_ERETRY: mdm_db_run_tx rolls back, which
 * notices the end, and reconnects. */
static mdm_status connection_error(mdm_db *db, const char *what, mdm_err *err)
{
    mdm_db_error(db, NULL, what, err);
    if (err)
        err->code = MDM_ERETRY;
    return MDM_ERETRY;
}

/* mdm_db_exec_pipeline; with commit, the transaction's COMMIT follows the calls in the
 * same round trip (and counts as one more statement for the fault hook). */
static mdm_status pipeline(mdm_db *db, mdm_db_call *calls, size_t n, bool commit, mdm_err *err)
{
    for (size_t i = 0; i < n; i++)
        calls[i].res = NULL;
    for (size_t i = 0; i < n + (commit ? 1 : 0); i++)
        if (injected_failure(err))
            return MDM_EDB;
    PGconn *c = db->conn;
    if (PQstatus(c) != CONNECTION_OK || !PQenterPipelineMode(c))
        return connection_error(db, "pipeline", err);
    /* A deferred BEGIN goes first; a statement new to this connection is prepared in the
     * same round trip; a name twice in calls is prepared once. */
    bool begin = db->begin_pending;
    db->begin_pending = false;
    bool *prep = mdm_xcalloc(n ? n : 1, sizeof *prep);
    bool sent = !begin || PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    for (size_t i = 0; i < n && sent; i++) {
        const mdm_db_stmt *s = calls[i].stmt;
        bool earlier = false;
        for (size_t j = 0; j < i; j++)
            earlier = earlier || (prep[j] && strcmp(calls[j].stmt->name, s->name) == 0);
        prep[i] = !earlier && !is_prepared(db, s->name);
        if (prep[i])
            sent = PQsendPrepare(c, s->name, s->sql, s->nparams, NULL) == 1;
        sent = sent &&
               PQsendQueryPrepared(c, s->name, s->nparams, calls[i].params, NULL, NULL, 0) == 1;
    }
    if (commit)
        sent = sent && PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    sent = sent && PQpipelineSync(c) == 1;
    mdm_status st = MDM_OK;
    if (!sent)
        st = connection_error(db, "pipeline", err);
    if (begin && sent) {
        PGresult *r = pipeline_result(c);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            st = mdm_db_error(db, r, "begin", err);
        PQclear(r);
    }
    for (size_t i = 0; i < n && sent; i++) {
        const char *name = calls[i].stmt->name;
        if (prep[i]) {
            PGresult *r = pipeline_result(c);
            if (PQresultStatus(r) == PGRES_COMMAND_OK)
                remember_prepared(db, name);
            else if (st == MDM_OK)
                st = mdm_db_error(db, r, name, err);
            PQclear(r);
        }
        PGresult *r = pipeline_result(c);
        ExecStatusType rs = PQresultStatus(r);
        if (st == MDM_OK && (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK)) {
            calls[i].res = r;
            continue;
        }
        if (st == MDM_OK)
            st = mdm_db_error(db, r, name, err);
        PQclear(r);
    }
    if (commit && sent) { /* after a failed call: PGRES_PIPELINE_ABORTED, st is set */
        PGresult *r = pipeline_result(c);
        if (st == MDM_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
            st = mdm_db_error(db, r, "commit", err);
        PQclear(r);
    }
    /* the sync's own result, then back to normal mode */
    if (sent) {
        PGresult *r;
        while ((r = PQgetResult(c)) != NULL) {
            ExecStatusType rs = PQresultStatus(r);
            PQclear(r);
            if (rs == PGRES_PIPELINE_SYNC || rs == PGRES_FATAL_ERROR)
                break;
        }
    }
    if (!PQexitPipelineMode(c) && st == MDM_OK)
        st = connection_error(db, "pipeline", err);
    free(prep);
    if (st != MDM_OK)
        for (size_t i = 0; i < n; i++) {
            PQclear(calls[i].res);
            calls[i].res = NULL;
        }
    return st;
}

mdm_status mdm_db_exec_pipeline(mdm_db *db, mdm_db_call *calls, size_t n, mdm_err *err)
{
    return pipeline(db, calls, n, false, err);
}

static void clear_at_commit(mdm_db *db)
{
    for (size_t i = 0; i < MDM_DB_AT_COMMIT_PARAMS; i++) {
        free(db->commit_params[i]);
        db->commit_params[i] = NULL;
    }
    db->commit_stmt = NULL;
}

void mdm_db_at_commit(mdm_db *db, const mdm_db_stmt *stmt, const char *const *params)
{
    assert(db->in_tx && stmt->nparams <= MDM_DB_AT_COMMIT_PARAMS);
    clear_at_commit(db);
    for (int i = 0; i < stmt->nparams && i < MDM_DB_AT_COMMIT_PARAMS; i++)
        db->commit_params[i] = params[i] ? mdm_xstrdup(params[i]) : NULL;
    db->commit_stmt = stmt;
}

/* COMMIT of mdm_db_run_tx: with an mdm_db_at_commit statement, both in one round trip
 * (and the deferred BEGIN too when fn ran nothing else). */
static mdm_status commit(mdm_db *db, mdm_err *err)
{
    if (!db->commit_stmt)
        return mdm_db_command(db, "COMMIT", err);
    mdm_db_call call = {.stmt = db->commit_stmt, .params = (const char *const *)db->commit_params};
    mdm_status st = pipeline(db, &call, 1, true, err);
    PQclear(call.res);
    clear_at_commit(db);
    return st;
}

mdm_status mdm_db_exec_params(mdm_db *db, const char *sql, int nparams, const char *const *params,
                              PGresult **out, mdm_err *err)
{
    if (out)
        *out = NULL;
    if (injected_failure(err))
        return MDM_EDB;
    if (db->begin_pending) {
        mdm_status st = flush_begin(db, err);
        if (st != MDM_OK)
            return st;
    }
    PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    return check_result(db, res, "query", out, err);
}

mdm_status mdm_db_command(mdm_db *db, const char *sql, mdm_err *err)
{
    if (injected_failure(err))
        return MDM_EDB;
    if (db->begin_pending) {
        mdm_status st = flush_begin(db, err);
        if (st != MDM_OK)
            return st;
    }
    return check_result(db, PQexec(db->conn, sql), "command", NULL, err);
}

static void rollback(mdm_db *db)
{
    if (db->begin_pending) { /* nothing was sent */
        db->begin_pending = false;
        return;
    }
    PGresult *r = PQexec(db->conn, "ROLLBACK");
    PQclear(r);
}

mdm_status mdm_db_run_tx(mdm_db *db, const char *name, mdm_db_tx_fn fn, void *ctx, mdm_err *err)
{
    mdm_status st = MDM_ERETRY;
    for (int attempt = 1; attempt <= 3; attempt++) {
        if (PQstatus(db->conn) != CONNECTION_OK && !mdm_db_ok(db))
            return mdm_err_set(err, MDM_ERETRY, "the database is unreachable");
        /* BEGIN waits for the first statement (mdm_db_exec, mdm_db_exec_pipeline) and
         * goes out with it; a transaction that ran nothing sends neither it nor COMMIT */
        st = injected_failure(err) ? MDM_EDB : MDM_OK;
        db->begin_pending = st == MDM_OK;
        db->in_tx = true;
        if (st == MDM_OK)
            st = fn(db, ctx, err);
        db->in_tx = false;
        if (st == MDM_OK && db->begin_pending && !db->commit_stmt) {
            db->begin_pending = false; /* nothing was sent: nothing to commit or roll back */
            return injected_failure(err) ? MDM_EDB : MDM_OK;
        }
        if (st == MDM_OK) {
            st = commit(db, err);
            if (st == MDM_OK)
                return MDM_OK;
        }
        clear_at_commit(db);
        rollback(db);
        if (st != MDM_ERETRY)
            break;
        mdm_log(MDM_LOG_INFO, "event=tx_retry tx=%s attempt=%d", name, attempt);
    }
    return st;
}

const char *mdm_db_get(const PGresult *res, int row, const char *col, const char *def)
{
    int c = PQfnumber(res, col);
    if (c < 0 || row >= PQntuples(res) || PQgetisnull(res, row, c))
        return def;
    return PQgetvalue(res, row, c);
}

long long mdm_db_get_ll(const PGresult *res, int row, const char *col, long long def)
{
    const char *v = mdm_db_get(res, row, col, NULL);
    return v ? strtoll(v, NULL, 10) : def;
}

mdm_status mdm_db_copy_in(mdm_db *db, const char *copy_sql, const char *data, size_t len,
                          mdm_err *err)
{
    PGconn *conn = mdm_db_conn(db);
    PGresult *cr = PQexec(conn, copy_sql);
    if (!cr || PQresultStatus(cr) != PGRES_COPY_IN) {
        mdm_status st = mdm_db_error(db, cr, "copy", err);
        PQclear(cr);
        return st;
    }
    PQclear(cr);
    /* in pieces: PQputCopyData takes an int length */
    int ok = 1;
    for (size_t off = 0; ok == 1 && off < len; off += 1u << 30) {
        size_t n = len - off < (1u << 30) ? len - off : (1u << 30);
        ok = PQputCopyData(conn, data + off, (int)n);
    }
    if (ok != 1 || PQputCopyEnd(conn, NULL) != 1)
        return mdm_db_error(db, NULL, "copy", err);
    mdm_status st = MDM_OK;
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && st == MDM_OK)
            st = mdm_db_error(db, res, "copy", err);
        PQclear(res);
    }
    return st;
}

void mdm_db_copy_field(mdm_buf *b, const char *s)
{
    if (!s) {
        mdm_buf_puts(b, "\\N");
        return;
    }
    while (*s) {
        size_t n = strcspn(s, "\\\t\n\r");
        mdm_buf_append(b, s, n);
        s += n;
        if (!*s)
            break;
        mdm_buf_putc(b, '\\');
        mdm_buf_putc(b, *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : '\\');
        s++;
    }
}

void mdm_db_id_array(mdm_buf *b, const int64_t *v, size_t n)
{
    mdm_buf_reset(b);
    mdm_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        mdm_buf_printf(b, "%s%lld", i ? "," : "", (long long)v[i]);
    mdm_buf_putc(b, '}');
}

void mdm_db_array_add(mdm_buf *b, const char *v)
{
    mdm_buf_putc(b, b->len ? ',' : '{');
    mdm_buf_putc(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            mdm_buf_putc(b, '\\');
        mdm_buf_putc(b, *p);
    }
    mdm_buf_putc(b, '"');
}
