/* Households: golden records (persons) that live together, as entities of their own.
 *
 * A household is derived, never merged into a person: golden records at one normalized
 * address (the street line, postal code and country keys of the record that gives the
 * golden address; without a street line no household) form one household when they are
 * linked by shared evidence of the kinds the "households" section allows (same surname
 * key, a shared phone, a shared e-mail; transitively). People at one address without
 * shared evidence (roommates with different surnames and their own phones) are separate
 * households. Household is not identity: nothing here is read by matching.
 *
 * Invariants kept here (the only module that writes household, household_member,
 * household_cursor, household_assertion):
 *   - an active golden record with an address belongs to exactly one active household,
 *     any other golden record to none, except that a steward's placement (see "Steward
 *     actions" below) puts an active golden record in its active household regardless;
 *   - ids are stable: when the groups at an address change, each new group keeps the id
 *     of the old household it shares most members with (the older id on a tie); a group
 *     left without an id gets a new one, a household left without members is retired
 *     (its address hash cleared) and its id never reused;
 *   - roles: a source asserts a member's role through a mapped attribute (households.
 *     role_attribute, default "household_role": the golden record's attributes.<name>,
 *     case and blanks aside; one of head, member, spouse, partner, child, parent,
 *     sibling, relative, lodger; any other value is no role). The head is a member
 *     asserting head, else one asserting no role, else any, and among those the oldest by
 *     golden birth date (members without one after those with one), then the smallest
 *     golden id; every other member has the role it asserts (a second "head": member),
 *     else "member";
 *   - every creation, membership or role change and retirement bumps the household's
 *     version and writes one outbox event (household.created, household.changed,
 *     household.retired) in the same transaction, with ids and roles only (no personal
 *     data): {"household_id", "version", "members": [{"entity_id", "role"}], "joined",
 *     "left"}.
 *
 * Households follow the golden records through the outbox: mdm_household_refresh reads
 * the entity events after household_cursor (up to the writers' barrier, so none is
 * skipped), re-derives the households at every address a changed golden record is at or
 * was at, and advances the cursor, all in one transaction per window of events. Merges,
 * splits, moves (a new golden address), deletions and erasures all reach it as entity
 * events. Readers call it first, so a read is never behind the golden records. */
#ifndef MDM_MDM_HOUSEHOLD_H
#define MDM_MDM_HOUSEHOLD_H

#include "common/err.h"
#include "mdm/audit.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- Configuration (the "households" section of mdm.json) ------------------------ */

/* {"enabled": true, "evidence": ["last_name", "phone", "email"], "role_attribute":
 * "household_role"}: enabled false keeps
 * no households (refresh only advances the cursor and retires what there is); evidence
 * lists the kinds of shared values that put two people at one address in one household
 * (at least one kind); role_attribute names the golden attribute in which sources assert
 * roles (1-64 of a-z, 0-9, _). Installs the rules process-wide (section may be NULL: defaults).
 * MDM_EINVAL names the offending member (err->field "/households/evidence/1"). Call once
 * at start-up, before any refresh. */
mdm_status mdm_household_configure(const json_t *section, mdm_err *err)
    __attribute__((warn_unused_result));

/* ---- Derivation ------------------------------------------------------------------- */

typedef struct mdm_household_stats {
    long events;   /* entity events read */
    long entities; /* golden records re-examined (changed ones and their neighbours) */
    long created, changed, retired;
} mdm_household_stats;

/* Brings the households up to date with every entity event committed so far (see the top
 * of this file), in transactions of its own. stats (may be NULL) receives the counts.
 * Safe to call from several processes at once (the cursor row serializes them). */
mdm_status mdm_household_refresh(mdm_db *db, mdm_household_stats *stats, mdm_err *err)
    __attribute__((warn_unused_result));

/* Background follower for mdm serve: one thread with its own connection to url that
 * calls mdm_household_refresh every interval_ms (so household events reach the change
 * feed and subscribers without a read), until mdm_household_stop. Errors are logged and
 * retried. MDM_ECONFLICT if already started. */
mdm_status mdm_household_start(const char *url, int interval_ms, mdm_err *err)
    __attribute__((warn_unused_result));
void mdm_household_stop(void); /* joins the thread; idempotent */

/* ---- Reads (call mdm_household_refresh first for an answer that is not behind) ---- */

/* One household as a new JSON object:
 *   {"id", "status", "version", "created_at", "updated_at", "retired_at",
 *    "address": the head's golden address (null when retired),
 *    "members": [{"entity_id", "role", "joined_at", "name", "birth_date"}] (head first)}
 * MDM_ENOTFOUND when the id does not exist. */
mdm_status mdm_household_get(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* The household of golden record entity_id (a retired id is followed to its survivor),
 * as mdm_household_get. MDM_ENOTFOUND when the golden record does not exist or belongs
 * to no household (no street address). */
mdm_status mdm_household_of_entity(mdm_db *db, int64_t entity_id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Active households at an address: line1 (required) and postal_code (required) are
 * normalized as ingest normalizes a record's address (country: ISO code or name, NULL =
 * default_country, NULL = "US"). *out receives {"items": [households as above]}, by id.
 * MDM_EINVAL when line1 or postal_code is missing or not an address. */
mdm_status mdm_household_search(mdm_db *db, const char *line1, const char *postal_code,
                                const char *country, const char *default_country, json_t **out,
                                mdm_err *err) __attribute__((warn_unused_result));

/* ---- Steward actions (each in one transaction, after a refresh) -------------------- */

/* A steward's placement is an assertion (household_assertion) that the derivation
 * respects: the golden record stays in that household, whatever its address and evidence
 * say, while both are active, so a later refresh (mdm resolve, a load, the follower)
 * does not undo it. The household keeps its address; roles follow the usual rule (the
 * oldest member is head). Each writes the household events of every household that
 * changed (the one left, the one joined, a new one) and one audit row per golden record
 * placed (action household.move or household.split, target "entity:ID", the reason in
 * audit_personal), all in the same transaction.
 *
 * Errors: MDM_EINVAL (no reason, or one over 500 bytes; no members), MDM_ENOTFOUND (no
 * such household), MDM_ECONFLICT (the household is retired; the golden record is
 * already a member), MDM_ESTALE (expected_version, when not 0, is not the household's
 * version), MDM_EUNPROCESSABLE naming the field (an unknown or retired golden record; a
 * golden record that is not a member; a split that would leave nobody), MDM_ERETRY,
 * MDM_EDB. On error nothing has changed. */

/* Moves golden record entity_id into household household_id (out of its own household,
 * if any). *out: {"household": the household as mdm_household_get, "entity_id",
 * "from_household": the household it left or null}. */
mdm_status mdm_household_move(mdm_db *db, int64_t household_id, int64_t entity_id,
                              int expected_version, const mdm_audit_actor *who, const char *reason,
                              json_t **out, mdm_err *err) __attribute__((warn_unused_result));

/* Splits household household_id: the members leaving[0..n) (repeats ignored) leave it
 * together for a new household at the same address (household.created) and the rest
 * stay (household.changed). *out: {"household": what stays, "split_off": the new one}. */
mdm_status mdm_household_split(mdm_db *db, int64_t household_id, const int64_t *leaving, size_t n,
                               int expected_version, const mdm_audit_actor *who, const char *reason,
                               json_t **out, mdm_err *err) __attribute__((warn_unused_result));

/* Erasure (mdm/subject.c, in its transaction): deletes the steward placements of the
 * golden records in entities (a PostgreSQL array literal "{1,2}"). */
mdm_status mdm_household_erase(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
