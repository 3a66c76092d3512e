/* Source systems: the systems of record (CRM, loyalty, web shop, POS, ERP) that send
 * customer records, from the "sources" section of the configuration.
 *
 * The section has the one source-definition schema of every path (matching/record.h,
 * mdm_source_map_parse: mdm link reads the same file): a code (the `source` of its
 * records), a kind, a display name, a default country for phones and addresses, how
 * ambiguous dates and full names are read, per-attribute trust (0..100, "*" is the
 * default; the source-trust survivorship rule prefers the higher) and a mapping from its
 * own layout onto the canonical record:
 *
 *   {"code": "crm", "kind": "crm", "name": "Salesforce CRM", "default_country": "US",
 *    "date_order": "mdy", "trust": {"*": 60, "email": 80},
 *    "key": "ContactId", "updated_at": "LastModified", "op": "Action",
 *    "mapping": {"FirstName": "first_name", "Email": "email", "Mobile": "phone:mobile",
 *                "Street": "address.line1", "Zip": "address.postal_code",
 *                "Tier": "attributes.tier"}}
 *
 * A source column is a top-level key of the input object, or a dotted path into nested
 * objects ("contact.email"). A source without a mapping receives canonical records.
 *
 * Validation errors name the key as a JSON pointer ("/sources/2/mapping/Zip").
 * A mdm_sources set is immutable after loading and may be shared between threads. */
#ifndef MDM_MDM_SOURCE_H
#define MDM_MDM_SOURCE_H

#include "common/err.h"
#include "matching/record.h"
#include "mdm/config.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct mdm_source_field {
    char *column; /* source column (dotted path into nested objects) */
    char *target; /* canonical field path */
} mdm_source_field;

typedef struct mdm_source {
    char *code;
    char *name;
    char *kind;
    char *default_country; /* ISO 3166-1 alpha-2 */
    char *key_column;      /* column holding the source key; NULL: "source_key" */
    char *updated_column;  /* column holding the source change time; NULL: "source_updated_at" */
    char *op_column;       /* column holding upsert|delete; NULL: "op" */
    json_t *trust;         /* object attr -> integer (owned) */
    json_t *mapping;       /* the mapping object as configured (owned) */
    bool family_first;     /* "name_order": "family_first": a full name without a comma is
                            * family name first (ERP "MUELLER HANS") */
    bool month_first;      /* ambiguous dates read month first ("date_order", by default
                            * when the country is US) */
    mdm_source_field *fields;
    size_t nfields;
    mdm_source_map def; /* the definition as parsed (matching/canonical.h reads it), with
                         * default_country filled in */
} mdm_source;

typedef struct mdm_sources {
    mdm_source *items;
    size_t n;
} mdm_sources;

/* Parses and validates the "sources" section of cfg (absent: an empty set); a source
 * without a default_country takes cfg's. Returns NULL with err set to MDM_EINVAL naming
 * the key (err->field is its JSON pointer). */
mdm_sources *mdm_sources_load(const mdm_config *cfg, mdm_err *err);

/* Same from a JSON array (borrowed) and the configuration's default country (NULL:
 * "US"); used by mdm_sources_load and the ingest context. */
mdm_sources *mdm_sources_parse(const json_t *array, const char *default_country, mdm_err *err);

void mdm_sources_free(mdm_sources *s); /* NULL is a no-op */

/* The source with this code, or NULL. */
const mdm_source *mdm_sources_find(const mdm_sources *s, const char *code);

/* Trust of source src for attribute attr: trust[attr], else trust["*"], else 50. */
int mdm_source_trust(const mdm_source *src, const char *attr);

/* Upserts every source into source_system (code, name, kind, trust, mapping,
 * default_country) in one transaction; sources that are no longer configured are kept
 * (their records still exist). Each source created or changed gets a "source.create" /
 * "source.update" audit row by actor "config" (role system) in that transaction; an
 * unchanged configuration writes nothing. *nsynced (may be NULL) receives the count. */
mdm_status mdm_sources_sync(mdm_db *db, const mdm_sources *s, int *nsynced, mdm_err *err)
    __attribute__((warn_unused_result));

/* Whether source system code is registered in the database (source_system), which is
 * what keys and records are checked against; *exists receives the answer. */
mdm_status mdm_source_registered(mdm_db *db, const char *code, bool *exists, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
