/* Bit-parallel string similarity kernels for short ASCII strings.
 *
 * The comparators of compare.h decode UTF-8 into code point arrays and run the textbook
 * loops; on the short names, streets and ids of record linkage most of their time is the
 * decoding and the inner loops. These kernels work on the bytes of ASCII strings of at
 * most MDM_STRSIM_MAX bytes, with one machine word per string:
 *   - Jaro-Winkler: the greedy matching of compare.c (the shorter string, then the
 *     lexicographically smaller, scans the other within the window and takes the first
 *     unmatched equal character) done with a position mask per character: one AND and one
 *     count-trailing-zeros per character instead of a scan of the window;
 *   - Levenshtein: Myers' bit-vector algorithm in Hyyrö's formulation.
 * Invariant: for every input they accept, the result is bit for bit the one of
 * mdm_cmp_jaro_winkler / mdm_cmp_levenshtein (same matching, same floating-point
 * expressions); they return false for any other input (a byte >= 0x80, longer strings),
 * and the caller uses compare.h. No allocation; thread-safe.
 *
 * MDM_REFERENCE_KERNELS=1 in the environment turns the fast paths off (these functions
 * then refuse every input, and the nickname lookup of normalize.c takes its binary
 * search), so a differential test can run the same linkage both ways and compare the
 * outputs byte for byte (tests/e2e/link_kernels.sh). */
#ifndef MDM_MATCHING_STRSIM_H
#define MDM_MATCHING_STRSIM_H

#include <stdbool.h>

#define MDM_STRSIM_MAX 64

/* False when MDM_REFERENCE_KERNELS is set to a value other than "" or "0" (read once). */
bool mdm_strsim_enabled(void);

/* Jaro-Winkler similarity of a and b into *out (0..1), as mdm_cmp_jaro_winkler; false
 * (nothing written) when a or b is NULL, not ASCII or longer than MDM_STRSIM_MAX bytes. */
bool mdm_strsim_jaro_winkler(const char *a, const char *b, double *out);

/* Levenshtein distance of a and b into *out, as mdm_cmp_levenshtein; false (nothing
 * written) when a or b is NULL, not ASCII or longer than MDM_STRSIM_MAX bytes. */
bool mdm_strsim_levenshtein(const char *a, const char *b, int *out);

#endif
