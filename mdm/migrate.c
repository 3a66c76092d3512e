/* Migration runner. The advisory lock key is a constant shared by every mdm process. */
#include "mdm/migrate.h"

#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "mdm/locks.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

typedef struct migration {
    int version;
    char *name; /* file name */
    char *sql;
    char checksum[65];
} migration;

void mdm_migrate_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < mdlen && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static int cmp_migration(const void *a, const void *b)
{
    const migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = mdm_io_read_all(f, 0, len);
    fclose(f);
    return data;
}

static void free_migrations(migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].sql);
    }
    free(m);
}

/* Reads dir into a version-sorted array. */
static mdm_status load_dir(const char *dir, migration **out, size_t *count, mdm_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return mdm_err_set(err, MDM_EIO, "cannot open migrations folder %s: %s", dir,
                           strerror(errno));
    migration *m = NULL;
    size_t n = 0, cap = 0;
    mdm_status st = MDM_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        if (len < 5 || strcmp(name + len - 4, ".sql") != 0)
            continue;
        size_t digits = 0;
        while (isdigit((unsigned char)name[digits]))
            digits++;
        if (digits < 3 || name[digits] != '_') {
            st = mdm_err_set(err, MDM_EINVAL, "migration file %s/%s is not named NNN_topic.sql",
                             dir, name);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            m = mdm_xrealloc(m, cap * sizeof *m);
        }
        char *path = mdm_xasprintf("%s/%s", dir, name);
        size_t sqllen = 0;
        char *sql = read_file(path, &sqllen);
        free(path);
        if (!sql) {
            st = mdm_err_set(err, MDM_EIO, "cannot read %s/%s", dir, name);
            break;
        }
        m[n].version = atoi(name);
        m[n].name = mdm_xstrdup(name);
        m[n].sql = sql;
        mdm_migrate_sha256_hex(sql, sqllen, m[n].checksum);
        n++;
    }
    closedir(d);
    if (st == MDM_OK) {
        if (n > 1)
            qsort(m, n, sizeof *m, cmp_migration);
        for (size_t i = 1; i < n; i++)
            if (m[i].version == m[i - 1].version)
                st = mdm_err_set(err, MDM_EINVAL, "migrations %s and %s share version %d",
                                 m[i - 1].name, m[i].name, m[i].version);
    }
    if (st != MDM_OK) {
        free_migrations(m, n);
        return st;
    }
    *out = m;
    *count = n;
    return MDM_OK;
}

static const mdm_db_stmt stmt_record = {
    "migrate_record", "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
    3};

typedef struct apply_ctx {
    const migration *m;
} apply_ctx;

static mdm_status apply_one(mdm_db *db, void *ctx, mdm_err *err)
{
    const migration *m = ((apply_ctx *)ctx)->m;
    mdm_status st = mdm_db_command(db, m->sql, err);
    if (st != MDM_OK) {
        mdm_err_detail(err, "in %s", m->name);
        return st;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[] = {version, m->name, m->checksum};
    return mdm_db_exec(db, &stmt_record, params, NULL, err);
}

static mdm_status run_locked(mdm_db *db, const migration *m, size_t n, bool status_only,
                             FILE *report, int *napplied, mdm_err *err)
{
    mdm_status st = mdm_db_command(db,
                                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version integer PRIMARY KEY,"
                                   " name text NOT NULL,"
                                   " checksum text NOT NULL,"
                                   " applied_at timestamptz NOT NULL DEFAULT now())",
                                   err);
    if (st != MDM_OK)
        return st;
    PGresult *res = NULL;
    st = mdm_db_exec_params(db, "SELECT version, name, checksum FROM schema_migrations", 0, NULL,
                            &res, err);
    if (st != MDM_OK)
        return st;
    int rows = PQntuples(res);
    bool *applied = mdm_xcalloc(n ? n : 1, sizeof *applied);
    /* Check every applied migration against the files before applying anything. */
    for (int r = 0; r < rows && st == MDM_OK; r++) {
        int version = (int)mdm_db_get_ll(res, r, "version", -1);
        const char *name = mdm_db_get(res, r, "name", "");
        const char *sum = mdm_db_get(res, r, "checksum", "");
        size_t i = 0;
        while (i < n && m[i].version != version)
            i++;
        if (i == n)
            st = mdm_err_set(err, MDM_ECONFLICT,
                             "applied migration %s is missing from the migrations folder", name);
        else if (strcmp(m[i].checksum, sum) != 0)
            st = mdm_err_set(err, MDM_ECONFLICT,
                             "applied migration %s has changed since it was applied "
                             "(migrations are never edited: add a new one)",
                             m[i].name);
        else
            applied[i] = true;
    }
    PQclear(res);
    for (size_t i = 0; i < n && st == MDM_OK; i++) {
        if (status_only) {
            if (report)
                fprintf(report, "%s %s\n", applied[i] ? "applied" : "pending", m[i].name);
            continue;
        }
        if (applied[i])
            continue;
        apply_ctx ctx = {&m[i]};
        st = mdm_db_run_tx(db, "migrate", apply_one, &ctx, err);
        if (st != MDM_OK)
            break;
        mdm_log(MDM_LOG_INFO, "event=migration_applied version=%d name=%s", m[i].version,
                m[i].name);
        if (report)
            fprintf(report, "applied %s\n", m[i].name);
        if (napplied)
            (*napplied)++;
    }
    free(applied);
    return st;
}

mdm_status mdm_migrate_run(mdm_db *db, const char *dir, bool status_only, FILE *report,
                           int *napplied, mdm_err *err)
{
    if (napplied)
        *napplied = 0;
    migration *m = NULL;
    size_t n = 0;
    mdm_status st = load_dir(dir, &m, &n, err);
    if (st != MDM_OK)
        return st;
    st = mdm_db_command(db, "SELECT pg_advisory_lock(" MDM_LOCK_MIGRATE ")", err);
    if (st == MDM_OK) {
        st = run_locked(db, m, n, status_only, report, napplied, err);
        mdm_err unlock_err;
        if (mdm_db_command(db, "SELECT pg_advisory_unlock(" MDM_LOCK_MIGRATE ")", &unlock_err) !=
            MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=migrate_unlock_failed");
    }
    free_migrations(m, n);
    return st;
}

static const mdm_db_stmt stmt_count = {"http_ready",
                                       "SELECT count(*) AS migrations FROM schema_migrations", 0};

mdm_status mdm_migrate_count(mdm_db *db, long long *n, mdm_err *err)
{
    PGresult *res = NULL;
    *n = 0;
    mdm_status st = mdm_db_exec(db, &stmt_count, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *n = mdm_db_get_ll(res, 0, "migrations", 0);
    PQclear(res);
    return MDM_OK;
}

static const mdm_db_stmt stmt_head = {
    "migrate_head", "SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1", 0};

mdm_status mdm_migrate_head(mdm_db *db, long long *version, char *name, size_t cap, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_head, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *version = mdm_db_get_ll(res, 0, "version", 0);
    snprintf(name, cap, "%s", mdm_db_get(res, 0, "name", ""));
    PQclear(res);
    return MDM_OK;
}
