/* The registry of PostgreSQL advisory lock keys: every key mdm takes, in one place, so
 * that no two modules pick the same number and a reader can see what waits on what.
 *
 * Two key spaces never collide (pg_locks tells them apart by objsubid):
 * - single bigint keys: the fixed keys below (7311420071...) and, per transaction, the ids
 *   of blocking keys (resolve.c locks the ids of the keys it reads and writes) and the
 *   hash of a record's source key (MDM_LOCK_RECORD_KEY); a block key id or a hash equal to
 *   a fixed key only makes two unrelated transactions wait for each other, never breaks an
 *   invariant;
 * - two-int4 keys in the class 'mdma' (1835299169), object 1, 2, ...
 * Each value is SQL text, spliced into the statement that takes the lock. */
#ifndef MDM_LOCKS_H
#define MDM_LOCKS_H

/* Session lock: one `mdm migrate` at a time. */
#define MDM_LOCK_MIGRATE "7311420071"
/* Transaction lock: outbox writers take it shared, the sequence gap check exclusive. */
#define MDM_LOCK_OUTBOX "7311420072"
/* The bulk gate: bulk resolution and `mdm resolve --all` hold it exclusively (session);
 * every incremental resolution takes it shared (transaction) before any row lock. */
#define MDM_LOCK_BULK "7311420073"
/* Session lock held by the one process that fans the outbox out to subscriptions. */
#define MDM_LOCK_FANOUT "7311420091"
/* Transaction lock serializing audit appends (the hash chain's order). */
#define MDM_LOCK_AUDIT "1835299169, 1"
/* Transaction lock (try): one process refreshes stale review items at a time. */
#define MDM_LOCK_QUEUE_REFRESH "1835299169, 2"
/* Transaction lock on one source record key ($1: "source\x1fkey"), bigint space. */
#define MDM_LOCK_RECORD_KEY(param) "hashtextextended(" param ", 7)"

#endif
