/* libphonenumber behind a C header (the implementation, phone.cc, is C++).
 *
 * Only mdm_norm_phone (normalize.h) calls this; other code should use that. The
 * PhoneNumberUtil singleton is created on first use and is thread-safe, so these
 * functions are too. No C++ exception crosses this boundary. */
#ifndef MDM_MATCHING_PHONE_H
#define MDM_MATCHING_PHONE_H

#include "matching/normalize.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parses in with region (ISO 3166 alpha-2, upper case) as the default for national
 * layouts and fills e164, ext, country_code and valid of out (digits is left alone).
 * When the number does not parse or is not valid as given and starts with the "00"
 * international prefix, it is retried as "+...". Unparseable or invalid numbers give
 * MDM_OK with valid false; MDM_EINVAL when region is not a region libphonenumber knows. */
mdm_status mdm_phone_parse(const char *in, const char *region, mdm_phone_norm *out, mdm_err *err);

/* Like mdm_phone_parse; fast false skips the direct path for plain layouts and always
 * calls libphonenumber's Parse (tests compare the two). */
mdm_status mdm_phone_parse_ex(const char *in, const char *region, bool fast, mdm_phone_norm *out,
                              mdm_err *err);

/* True when libphonenumber has metadata for the region code. */
bool mdm_phone_region_known(const char *region);

#ifdef __cplusplus
}
#endif

#endif
