/* Internals shared by the consent modules (mdm/consent.c: events, derivation, state;
 * mdm/consent_audit.c: the audit export). Not for other modules. */
#ifndef MDM_MDM_CONSENT_INT_H
#define MDM_MDM_CONSENT_INT_H

#include <stdint.h>

/* Writes the instant usec (microseconds since 1970-01-01T00:00:00Z) in the canonical UTC
 * form "YYYY-MM-DDTHH:MM:SS.ffffffZ" (27 characters and a NUL) to canon; the form
 * mdm_consent_parse_time gives. Written by hand (no gmtime, no locale) because the
 * audit export formats three per row. Thread-safe. */
void mdm_consent_format_time(int64_t usec, char canon[32]);

#endif
