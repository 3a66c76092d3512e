/* Masking of sensitive identifiers in HTTP replies.
 *
 * Tax and national ids are shown in full only to the roles that may see them (admin and
 * compliance); every other role (reader, steward) gets them masked wherever a reply
 * carries them: golden values, member records, review sides, match explanations
 * (value_a / value_b of the tax_id and national_id comparisons) and history versions.
 * The mask keeps the last four characters ("*****4818") so a steward can still tell two
 * values apart. Stored data never changes. */
#ifndef MDM_API_MASK_H
#define MDM_API_MASK_H

#include <jansson.h>
#include <stdbool.h>

/* Whether role (admin, compliance, steward, reader, source) sees tax and national ids. */
bool mdm_mask_role_sees_ids(const char *role);

/* Masks, in place, every string under a "tax_id" or "national_id" member and the values
 * of comparisons named so, anywhere in v. NULL is a no-op. */
void mdm_mask_ids(json_t *v);

/* mdm_mask_ids(v) unless role sees ids. */
void mdm_mask_for_role(const char *role, json_t *v);

/* Whether JSON text s may hold a value mdm_mask_ids would mask (a cheap pre-check for
 * replies written as text). */
bool mdm_mask_text_may_hold_ids(const char *s);

#endif
