/* Survivorship: which value of which member record becomes the golden value of each
 * attribute, with lineage.
 *
 * Rules (names as in configuration):
 *   source_trust   highest trust of the member's source for the attribute
 *   most_recent    latest source_updated_at (received_at when absent)
 *   most_frequent  the value held by most members (compared in key form)
 *   most_complete  for addresses: most filled fields; for scalars: the member record
 *                  with the most filled attributes overall
 *   longest        longest value (in characters)
 *   union          every distinct value (emails, phones, addresses, identifiers lists),
 *                  each item with the records it came from
 *   pin            a steward pin (golden_pin) always wins, whatever the rule
 * full_name is derived ("derived" in lineage) from the surviving prefix, first, middle,
 * last name and suffix when any part survives; only a record set without parts keeps a
 * source's own full name.
 * Ties are broken deterministically: higher trust, then more recent, then the smaller
 * source record id.
 *
 * Configuration ("survivorship" section):
 *   {"default": "source_trust",
 *    "attributes": {"emails": "union", "birth_date": "most_frequent", ...}}
 * Defaults: names source_trust, birth_date most_frequent, gender most_recent, emails /
 * phones / addresses union, identifiers source_trust, account_status and segment
 * most_recent, attributes.* most_recent. Unknown rule or attribute is MDM_EINVAL naming
 * the key. Pure functions: no database. */
#ifndef MDM_MDM_SURVIVE_H
#define MDM_MDM_SURVIVE_H

#include "common/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mdm_survive_rule {
    MDM_SURVIVE_SOURCE_TRUST,
    MDM_SURVIVE_MOST_RECENT,
    MDM_SURVIVE_MOST_FREQUENT,
    MDM_SURVIVE_MOST_COMPLETE,
    MDM_SURVIVE_LONGEST,
    MDM_SURVIVE_UNION,
} mdm_survive_rule;

const char *mdm_survive_rule_name(mdm_survive_rule r);

/* The scalar attributes (canonical names) and the list attributes survivorship knows. */
extern const char *const mdm_survive_scalars[];
extern const char *const mdm_survive_lists[];

typedef struct mdm_survive_config mdm_survive_config;

/* Parses the section (may be NULL: defaults). NULL with err on a bad key or rule. */
mdm_survive_config *mdm_survive_config_parse(const json_t *section, mdm_err *err);
void mdm_survive_config_free(mdm_survive_config *c);
mdm_survive_rule mdm_survive_rule_for(const mdm_survive_config *c, const char *attr);

/* One member record as survivorship sees it. */
typedef struct mdm_survive_member {
    int64_t record_id;
    const char *source;
    const char *source_key;
    const json_t *canonical; /* borrowed canonical record */
    int trust_default;       /* unused when trust is set */
    const json_t *trust;     /* borrowed source trust object {attr: n, "*": n} or NULL */
    const char *updated_at;  /* source_updated_at or received_at, ISO, comparable as text
                              * (UTC, same layout) */
} mdm_survive_member;

/* Computes the golden record of members[0..n) with pins (object attr -> value, may be
 * NULL). *golden receives {attr: value} (new reference); *lineage receives {attr:
 * {"rule", "source_record_id" (null for union/pin), "value"}} (new reference). */
void mdm_survive_compute(const mdm_survive_config *c, const mdm_survive_member *members, size_t n,
                         const json_t *pins, json_t **golden, json_t **lineage);

#endif
