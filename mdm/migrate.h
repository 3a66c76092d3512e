/* Forward-only schema migrations.
 *
 * A migration is a file sql/NNN_topic.sql (NNN = version, three or more digits). Each
 * runs in its own transaction that also records (version, name, SHA-256 checksum) in
 * schema_migrations, so a file is applied completely or not at all. A session-level
 * advisory lock serializes concurrent runs. An applied file whose checksum changed
 * stops the run with MDM_ECONFLICT before anything is applied: migrations are never
 * edited once applied. */
#ifndef MDM_MDM_MIGRATE_H
#define MDM_MDM_MIGRATE_H

#include "common/err.h"
#include "mdm/db.h"

#include <stddef.h>
#include <stdio.h>

/* Applies the pending migrations of dir. Writes one line per migration to report
 * (when not NULL): "applied 001_schema.sql" or, with status_only, "applied|pending NAME"
 * without changing anything. *napplied (when not NULL) receives the number applied.
 * Returns MDM_OK, MDM_EIO (folder unreadable), MDM_EINVAL (badly named file),
 * MDM_ECONFLICT (changed or missing applied file) or a database error. */
mdm_status mdm_migrate_run(mdm_db *db, const char *dir, bool status_only, FILE *report,
                           int *napplied, mdm_err *err) __attribute__((warn_unused_result));

/* The number of applied migrations into *n (the readiness probe's answer). A database
 * never migrated fails as mdm_db_exec does, with SQLSTATE 42P01 in err. */
mdm_status mdm_migrate_count(mdm_db *db, long long *n, mdm_err *err)
    __attribute__((warn_unused_result));

/* The latest applied migration: *version and its name (into name, cap bytes). */
mdm_status mdm_migrate_head(mdm_db *db, long long *version, char *name, size_t cap, mdm_err *err)
    __attribute__((warn_unused_result));

/* Lower-case hex SHA-256 of data into out (65 bytes). */
void mdm_migrate_sha256_hex(const void *data, size_t len, char out[65]);

#endif
