/* The audit log: an append-only, hash-chained record of every write made by a person or
 * a system (table audit_log).
 *
 * It lives in the lowest layer with a database because every layer writes: the core
 * (erasure, subscriptions, consent events), stewardship (decisions, merge, split, pins)
 * and api/ (API keys; one summary row per ingest batch, load file and resolve run). A
 * writer calls mdm_audit_append() inside the same transaction as the write it records,
 * so the write and its audit row commit or roll back together; summaries of work done
 * in many transactions use mdm_audit_record() afterwards.
 *
 * Personal data. Rows can never be edited or removed, so erasure cannot scrub them:
 * before/after hold ids, versions, counts, statuses and content hashes, never a
 * customer's values, and the target names an id ("entity:42"), never a name or e-mail.
 * A value that must be recorded although it may be personal (a pinned value) is wrapped
 * with mdm_audit_personal(), and a reason given by anyone but the system (role
 * "system") is free text that may name the customer: both are stored in the erasable
 * table audit_personal, linked to the entities and records the target names, and the
 * chained row holds a reference with the salted SHA-256 of the value instead
 * ({"$personal": ID, "sha256": HEX}; reason "[personal ID sha256:HEX]"). Erasure deletes
 * them (mdm/subject.c); the chain still verifies, and mdm_audit_verify() also checks
 * that every stored personal value still hashes to what its chained row holds.
 * mdm_audit_list() shows the values in place of the references, "[erased]" once erased.
 *
 * Chain. Each row stores prev_hash (the hash of the row before it; 64 zeros for the
 * first row) and hash = lower-case hex SHA-256 of the canonical text
 *
 *     "mdm-audit-v1" LF id LF at LF actor LF role LF action LF target LF reason LF
 *     before LF after LF prev_hash
 *
 * where every field is written as "<byte length>:<bytes>" and SQL NULL as "-"; at is the
 * row's time in UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ and before/after are the canonical text
 * of the stored jsonb values (jsonb::text). The insert computes the hash in SQL;
 * mdm_audit_verify() recomputes it independently in C. Appends are serialized by a
 * transaction-level advisory lock, and the one-row table audit_head names the last row
 * and its hash, so an edited row (its hash no longer matches), a deleted row (the next
 * row's prev_hash no longer matches) and rows deleted at the end (the head no longer
 * matches) are all detected. A trigger refuses UPDATE, DELETE and TRUNCATE; tampering
 * therefore needs a superuser who disables it, and verification still catches it. An
 * attacker able to rewrite the whole chain and the head is not detected by the chain
 * alone: keep the head hash printed by `mdm audit verify` somewhere else and compare.
 *
 * Thread safety: functions use the caller's connection; one connection per thread. */
#ifndef MDM_MDM_AUDIT_H
#define MDM_MDM_AUDIT_H

#include "common/err.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Who makes a write, for its audit row: name ("api:KEY NAME", "cli:USER", "system") and
 * the role it acted in (steward, compliance, admin, source, system). */
typedef struct mdm_audit_actor {
    const char *name;
    const char *role;
} mdm_audit_actor;

/* Limits on the text fields (bytes). */
#define MDM_AUDIT_MAX_NAME   200  /* actor, role, action */
#define MDM_AUDIT_MAX_TARGET 400  /* target */
#define MDM_AUDIT_MAX_REASON 2000 /* reason */

/* Appending */

/* Appends one row inside the caller's open transaction (call it from an
 * mdm_db_run_tx callback, after the write it records). actor is who (an API key name,
 * "system", a user), role the role it acted in (steward, admin, source, system, ...),
 * action a dotted verb ("review.decide", "entity.merge"), target what was changed
 * ("entity:42", "review_item:7"), reason the free-text justification (may be NULL);
 * before and after are the states around the change (either may be NULL; borrowed).
 * Returns MDM_OK; MDM_EINVAL naming the field when a required text is empty or too
 * long; MDM_ERETRY or MDM_EDB from the database (the caller's transaction then rolls
 * back). */
mdm_status mdm_audit_append(mdm_db *db, const char *actor, const char *role, const char *action,
                            const char *target, const char *reason, const json_t *before,
                            const json_t *after, mdm_err *err) __attribute__((warn_unused_result));

/* Marks value (stolen; NULL gives NULL) as personal for before/after: the chained row
 * will hold a reference instead (see "Personal data" above). */
json_t *mdm_audit_personal(json_t *value);

/* Like mdm_audit_append, in a transaction of its own (for events that write nothing
 * else, such as an export: "consent.export"). db must not be inside a transaction. */
mdm_status mdm_audit_record(mdm_db *db, const char *actor, const char *role, const char *action,
                            const char *target, const char *reason, const json_t *before,
                            const json_t *after, mdm_err *err) __attribute__((warn_unused_result));

/* Lower-case hex SHA-256 of data[0..len) into out (64 digits and a NUL): the content
 * hash summary rows carry (for example of an ingest batch's results). */
void mdm_audit_sha256_hex(const void *data, size_t len, char out[65]);

/* Reading */

typedef struct mdm_audit_filter {
    const char *actor;  /* exact, or NULL */
    const char *role;   /* exact, or NULL */
    const char *action; /* exact, or a prefix when it ends with '.' ("entity."), or NULL */
    const char *target; /* exact, or NULL */
    const char *from;   /* at >= from (timestamptz text), or NULL */
    const char *to;     /* at < to, or NULL */
    int64_t before_id;  /* cursor: only rows with id < before_id; 0 = from the newest */
    int limit;          /* 1..1000; 0 means 100 */
} mdm_audit_filter;

/* Lists rows newest first as a new JSON array of {id, at, actor, role, action, target,
 * reason, before, after, prev_hash, hash}. *next (when not NULL) receives the cursor for
 * the following page (the last id returned) or 0 when this page is the last. Returns
 * MDM_OK, MDM_EINVAL (a bad limit or timestamp) or a database error. */
mdm_status mdm_audit_list(mdm_db *db, const mdm_audit_filter *f, json_t **rows, int64_t *next,
                          mdm_err *err) __attribute__((warn_unused_result));

/* Verification */

typedef struct mdm_audit_check {
    bool intact;         /* no problem found */
    long long rows;      /* rows read */
    long long problems;  /* problems found (each edited or missing place counts once) */
    long long first_bad; /* id of the first row at fault, 0 when intact or at the end */
    char first[256];     /* the first problem in words, "" when intact */
    char head_hash[65];  /* hash of the last row (64 zeros when empty) */
} mdm_audit_check;

/* Reads the whole chain in one consistent snapshot and checks every row's hash, every
 * prev_hash link and the head. *out is always filled. When problems is not NULL it
 * receives a new JSON array of up to 100 {id, problem} objects. Returns MDM_OK when the
 * check ran (intact or not: see out->intact) or a database error. */
mdm_status mdm_audit_verify(mdm_db *db, mdm_audit_check *out, json_t **problems, mdm_err *err)
    __attribute__((warn_unused_result));

/* Computes the hash of one row from its ten fields as text, in the order id, at, actor,
 * role, action, target, reason, before, after, prev_hash (NULL for SQL NULL), following the
 * canonical text above; out receives 64 hex digits and a NUL. Exposed for tests. */
void mdm_audit_row_hash(const char *const fields[10], char out[65]);

/* Erasure (mdm/subject.h), inside its transaction: deletes the personal values
 * (audit_personal) linked to the entities or the records (PostgreSQL bigint[] literals);
 * the chained rows keep their reference and salted hash, and still verify. */
mdm_status mdm_audit_erase(mdm_db *db, const char *entities, const char *records, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
