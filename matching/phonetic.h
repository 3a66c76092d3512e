/* Phonetic name keys: Soundex, NYSIIS, Metaphone and Double Metaphone.
 *
 * Input is the ASCII comparison form of a name (matching/normalize.h transliterates
 * "Müller" to "muller" and "Иванов" to "ivanov" first): letters A-Z in either case count,
 * everything else (digits, spaces, punctuation, any non-ASCII byte) is ignored, so
 * "O'Brien" keys like "OBrien" and "Mary Ann" like "Maryann". NULL reads as "".
 *
 * Keys are upper case, written into out as NUL-terminated strings of at most outlen - 1
 * bytes (truncated, never overflowing); outlen 0 writes nothing. Keys are not cut to a
 * fixed length except Soundex (always 4 characters): pass outlen 5 to get the classic
 * 4-character Metaphone and Double Metaphone keys, or 7 for 6-character NYSIIS. A name
 * without letters gives "". Functions are pure and thread-safe; names of up to 256
 * letters use no heap memory. */
#ifndef MDM_MATCHING_PHONETIC_H
#define MDM_MATCHING_PHONETIC_H

#include <stddef.h>

/* American Soundex (US National Archives rules): the first letter, then the digits of
 * the following consonants (BFPV 1, CGJKQSXZ 2, DT 3, L 4, MN 5, R 6); letters with the
 * same digit side by side, or separated only by H or W, count once (the first letter
 * included); vowels and Y separate; padded with zeros to 4 characters. Robert and Rupert
 * R163, Tymczak T522, Pfister P236, Ashcraft A261. */
void mdm_phon_soundex(const char *in, char *out, size_t outlen);

/* NYSIIS (Taft 1970, New York State Identification and Intelligence System), the
 * original rules without the 6-character cut: prefix MAC, KN, K, PH/PF, SCH and suffix
 * EE/IE, DT/RT/RD/NT/ND translations, then letter-by-letter translation, then the
 * final S, AY and A rules. */
void mdm_phon_nysiis(const char *in, char *out, size_t outlen);

/* Metaphone (Philips 1990), the original rule table: initial KN GN PN AE WR drop the
 * first letter, initial X is S, WH is W; duplicate letters except C count once; vowels
 * only at the start; "0" (zero) stands for TH. */
void mdm_phon_metaphone(const char *in, char *out, size_t outlen);

/* Double Metaphone (Philips 2000): a primary key and an alternate key for names whose
 * pronunciation varies by origin (Schmidt: XMT and SMT; Jankelowicz: JNKLTS and
 * ANKLFX). Both buffers have outlen bytes. When the name has a single reading, the
 * alternate equals the primary. Rules that look for a following space ("VAN ", "SAN ")
 * see the end of the name as one, as the reference implementation does. */
void mdm_phon_double_metaphone(const char *in, char *primary, char *alternate, size_t outlen);

/* Algorithm lookup for the CLI and model configurations: "soundex", "nysiis",
 * "metaphone" (single-key functions). Returns NULL for other names; double metaphone has
 * two outputs and is called directly. */
typedef void (*mdm_phon_fn)(const char *in, char *out, size_t outlen);
mdm_phon_fn mdm_phon_by_name(const char *name);

#endif
