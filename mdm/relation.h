/* Typed relationships between golden records, beside identity.
 *
 * Three types, read together by mdm_relation_list:
 *   same_household  members of the golden record's household (mdm/household.h);
 *   same_address    members of the other households at the same address (roommates);
 *   related         asserted by a steward, with a reason (entity_relation, migration
 *                   029; the only table this module writes).
 * A relationship is never evidence that two records are one person: nothing in matching
 * or resolution reads these tables. Assertions name golden ids as they were when made;
 * reads follow merged ids to their survivors, and erasure deletes the subject's rows
 * (mdm_relation_erase, called by mdm/subject.c in the erasure's transaction). */
#ifndef MDM_MDM_RELATION_H
#define MDM_MDM_RELATION_H

#include "common/err.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Asserts that golden records a and b (followed to their survivors, which must be active
 * and different) are related, with reason (required, at most 500 bytes); an existing
 * assertion of the pair gets the new reason. One transaction with its audit row
 * ("relation.assert", target "entity:A", after {"entity_a", "entity_b", "kind"}).
 * *created (may be NULL) tells whether the pair is new. MDM_EINVAL (a == b, no reason),
 * MDM_ENOTFOUND (unknown or inactive golden record). */
mdm_status mdm_relation_assert(mdm_db *db, int64_t a, int64_t b, const char *reason,
                               const char *actor, const char *role, bool *created, mdm_err *err)
    __attribute__((warn_unused_result));

/* Removes the assertion between a and b (as their survivors), audited as
 * "relation.remove". MDM_ENOTFOUND when there is none. */
mdm_status mdm_relation_remove(mdm_db *db, int64_t a, int64_t b, const char *actor,
                               const char *role, mdm_err *err) __attribute__((warn_unused_result));

/* The relationships of golden record id (a merged id is followed to its survivor):
 * {"id": live id, "items": [{"entity_id", "type", "status", "name", "birth_date",
 * "household_id" (derived types), "reason", "asserted_by", "asserted_at" (related)}]} by
 * type, then id. Call mdm_household_refresh first for derived types that are current.
 * MDM_ENOTFOUND when the id does not exist. */
mdm_status mdm_relation_list(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Deletes every assertion naming one of entities (a PostgreSQL bigint[] literal) inside
 * the caller's transaction (erasure). */
mdm_status mdm_relation_erase(mdm_db *db, const char *entities, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
