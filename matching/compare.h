/* String, date, number and email comparators used by the matching engine.
 *
 * Every string comparator works on Unicode code points decoded from UTF-8, never on
 * bytes: "Müller" has six characters. Invalid UTF-8 (stray continuation bytes, overlong
 * or truncated sequences, surrogates, values above U+10FFFF) never crashes: each bad
 * byte reads as U+FFFD. A NULL string reads as "". Comparators are case- and
 * accent-sensitive on purpose: fold values first with the normalizer (matching/normalize.h)
 * and compare its comparison forms.
 *
 * Memory: no heap allocation for inputs of up to MDM_CMP_MAX_STACK code points each
 * (the working arrays live on the stack, the unrestricted Damerau-Levenshtein matrix in a
 * per-thread buffer); longer inputs are compared exactly with heap scratch space.
 * Every function is pure and thread-safe.
 *
 * Similarities are in 0..1 where 1 means identical; every similarity is symmetric and
 * gives 1 for two equal strings (including two empty strings) and 0 when exactly one
 * side is empty. Distances are edit counts in code points. */
#ifndef MDM_MATCHING_COMPARE_H
#define MDM_MATCHING_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Inputs up to this many code points are compared without touching the heap. */
#define MDM_CMP_MAX_STACK 256

/* ---- Edit-based similarities and distances ---- */

/* Jaro similarity (Jaro 1989): m matching characters within a window of
 * max(|a|,|b|)/2 - 1 positions, t half the number of matched characters out of order;
 * (m/|a| + m/|b| + (m-t)/m) / 3, 0 when m = 0. */
double mdm_cmp_jaro(const char *a, const char *b);

/* Jaro-Winkler (Winkler 1990): jaro + l * 0.1 * (1 - jaro) where l is the length of
 * the common prefix, at most 4 characters. The prefix bonus is applied only when the Jaro
 * similarity is above 0.7 (Winkler's boost threshold). MARTHA/MARHTA 0.961,
 * DWAYNE/DUANE 0.84, DIXON/DICKSONX 0.813. */
double mdm_cmp_jaro_winkler(const char *a, const char *b);

/* Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
int mdm_cmp_levenshtein(const char *a, const char *b);

/* Unrestricted Damerau-Levenshtein distance (Lowrance-Wagner): Levenshtein plus
 * transposition of two adjacent characters, where substrings may be edited again after
 * a transposition ("CA" -> "ABC" is 2). A true metric. */
int mdm_cmp_damerau_levenshtein(const char *a, const char *b);

/* Optimal string alignment distance (restricted Damerau-Levenshtein): like the above
 * but no substring is edited more than once ("CA" -> "ABC" is 3). Not a metric. */
int mdm_cmp_osa(const char *a, const char *b);

/* Levenshtein similarity: 1 - levenshtein(a, b) / max(|a|, |b|); 1 for two empty
 * strings. */
double mdm_cmp_lev_sim(const char *a, const char *b);

/* ---- Set-based similarities ---- */

/* Jaccard similarity |A n B| / |A u B| of the sets of q-grams (runs of q consecutive code
 * points, no padding) of a and b. A string shorter than q counts as one gram (itself),
 * so "a" and "a" are 1. q < 1 means the default, 2. */
double mdm_cmp_jaccard(const char *a, const char *b, int q);

/* Word-order-insensitive similarity of two token sets, for multi-word names and
 * addresses ("Maria Garcia Lopez" vs "Garcia Lopez Maria" is 1). Tokens are separated by
 * white space and ASCII punctuation, and duplicates are dropped. Each token of either
 * side is scored by its best Jaro-Winkler similarity against the tokens of the other
 * side, and the result is the mean over all tokens of both sides (symmetric
 * Monge-Elkan). "Maria Garcia" vs "Maria Garcia Lopez" is 0.8: a missing token
 * costs, a misspelt one costs little. At most 128 tokens per side are considered. */
double mdm_cmp_token_set(const char *a, const char *b);

/* ---- Dates, numbers, emails ---- */

/* Agreement levels of two dates, strongest first. */
typedef enum mdm_date_level {
    MDM_DATE_EXACT,         /* every part known on both sides agrees */
    MDM_DATE_TRANSPOSED,    /* day and month swapped (3/2 vs 2/3), same year */
    MDM_DATE_ONE_FIELD_OFF, /* one part differs: day, month, or a year typo (one digit
                               changed, or two adjacent digits swapped: 1981/1918) */
    MDM_DATE_YEARS_APART,   /* same day and month, years differ by more than a typo */
    MDM_DATE_DIFFERENT,     /* anything else */
    MDM_DATE_NULL           /* a date is missing, or no part is known on both sides */
} mdm_date_level;

/* Compares two dates given as year, month, day; 0 marks a missing part (a date with
 * every part 0 is missing). Only the parts known on both sides are compared, so
 * 1981-00-00 vs 1981-02-03 is EXACT (the engine decides how much a partial date is
 * worth). YEARS_APART needs the day and month known on both sides. */
mdm_date_level mdm_cmp_date(int y1, int m1, int d1, int y2, int m2, int d2);

/* Short lower-case name of a level ("exact", "transposed", "one_field_off",
 * "years_apart", "different", "null"). */
const char *mdm_cmp_date_level_name(mdm_date_level level);

/* Relative difference |a - b| / max(|a|, |b|) in 0..1: 0 when equal (also for 0 and 0),
 * 1 when the signs differ or either value is NaN or infinite (unless both are the same
 * infinity). */
double mdm_cmp_numeric(double a, double b);

/* Agreement levels of two canonical email keys, strongest first. */
typedef enum mdm_email_level {
    MDM_EMAIL_SAME_KEY,    /* identical keys */
    MDM_EMAIL_SAME_LOCAL,  /* same local part, different domain */
    MDM_EMAIL_SAME_DOMAIN, /* same domain, different local part */
    MDM_EMAIL_DIFFERENT,
    MDM_EMAIL_NULL /* a key is NULL or empty */
} mdm_email_level;

/* Compares canonical email keys "local@domain" (see mdm_norm_email): the keys are
 * compared byte for byte, split at the last '@'. A key without '@' is all local part. */
mdm_email_level mdm_cmp_email(const char *key_a, const char *key_b);

/* Short lower-case name of a level ("same_key", "same_local", "same_domain",
 * "different", "null"). */
const char *mdm_cmp_email_level_name(mdm_email_level level);

/* ---- Lookup by name (CLI, model configuration) ---- */

/* A string similarity in 0..1. */
typedef double (*mdm_cmp_sim_fn)(const char *a, const char *b);

/* The similarity called name: "jaro", "jaro_winkler", "levenshtein",
 * "damerau_levenshtein", "osa", "jaccard" (q = 2), "token_set". Distances come converted
 * to similarities as 1 - d / max(|a|, |b|). Returns NULL for an unknown name. */
mdm_cmp_sim_fn mdm_cmp_by_name(const char *name);

/* The names accepted by mdm_cmp_by_name, NULL-terminated, for help texts. */
extern const char *const mdm_cmp_names[];

/* ---- UTF-8 ---- */

/* True when s is well-formed UTF-8 (no stray continuation bytes, overlong forms,
 * surrogates, values above U+10FFFF or truncated sequences). When it is not and bad is
 * not NULL, *bad receives the byte offset of the first bad byte. NULL is valid (""). */
bool mdm_cmp_utf8_valid(const char *s, size_t *bad);

/* Decodes at most max code points of s into out (invalid bytes become U+FFFD) and
 * returns the number of code points in the whole of s (which may exceed max); out may be
 * NULL when max is 0, to count. */
size_t mdm_cmp_decode(const char *s, uint32_t *out, size_t max);

#endif
