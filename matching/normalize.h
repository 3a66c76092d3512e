/* Normalizers: one per canonical field of the customer record.
 *
 * Every normalizer keeps two forms of a value: a display form (what a steward reads:
 * NFKC, trimmed, whitespace collapsed, case kept) and a comparison form or key (what
 * the matcher compares: ASCII, lower case, punctuation folded). The text pipeline for
 * keys is: validate UTF-8 (invalid input is MDM_EINVAL, never garbage), NFKC, full case
 * folding, ICU "Any-Latin" then "Latin-ASCII" transliteration (Müller -> muller,
 * Иванов -> ivanov, 王 -> wang), apostrophes dropped (O'Neil -> oneil), every other
 * character that is not [a-z0-9] becomes a separator, separators collapse to one space,
 * no leading or trailing space. Pure-ASCII input takes a fast path without ICU that
 * gives the same result.
 *
 * Latin and Cyrillic text skips ICU through tables of ICU's own per-character answers
 * (built once; checked equal to ICU by the unit tests).
 *
 * Thread safety: an mdm_norm holds an ICU transliterator, which is not shared across
 * threads, and small result caches (recent phones, recent ICU-path keys; about 200 KB,
 * allocated on first use), so each thread makes its own. mdm_norm_new takes ~0.3 ms
 * (the first one in a process ~30 ms); the expensive tables (Latin tables, nickname
 * index, country index, ~10-60 ms each) are built once per process on first use and
 * then only read. Functions that take no mdm_norm are thread-safe.
 *
 * Ownership: results written to an mdm_arena live as long as the arena; mdm_buf
 * results are reset and refilled (the caller keeps and frees the buffer); strings
 * returned as const char * are static or owned by the mdm_norm and must not be freed. */
#ifndef MDM_MATCHING_NORMALIZE_H
#define MDM_MATCHING_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/mem.h"

typedef struct mdm_norm mdm_norm;

/* ---- Lifetime ------------------------------------------------------------------ */

/* Opens the ICU transliterators and compiled patterns for one thread. Returns NULL with
 * err set (MDM_EINTERNAL) when ICU or PCRE2 cannot be initialised. */
mdm_norm *mdm_norm_new(mdm_err *err);
/* Frees n; NULL is a no-op. */
void mdm_norm_free(mdm_norm *n);

/* ---- Text ---------------------------------------------------------------------- */

/* True when the len bytes at s are well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF). NUL bytes inside the range are rejected too. */
bool mdm_norm_utf8_valid(const char *s, size_t len);

/* Text base. display (may be NULL) = NFKC with whitespace trimmed and collapsed;
 * key (may be NULL) = the ASCII comparison form described above (possibly ""). Both
 * buffers are reset first. MDM_EINVAL when in is not valid UTF-8. */
mdm_status mdm_norm_text(mdm_norm *n, const char *in, mdm_buf *display, mdm_buf *key, mdm_err *err)
    __attribute__((warn_unused_result));

/* ---- Names --------------------------------------------------------------------- */

/* Parts of a personal name in comparison form (text keys); "" when absent, never NULL. */
typedef struct mdm_name_parts {
    char *prefix; /* "dr", "mrs" ... (several joined by a space) */
    char *first;
    char *middle; /* every given name after the first, space separated */
    char *last;   /* with its particles: "van der berg", "garcia lopez" */
    char *suffix; /* "jr", "iii", "phd" ... */
} mdm_name_parts;

/* Splits a full name: "Dr. Mary-Jane O'Neil Jr." -> dr / mary jane / "" / oneil / jr;
 * "van der Berg, Anna" (family name before a comma) -> anna / van der berg;
 * "GARCIA LOPEZ, MARIA" -> maria / garcia lopez. Without a comma the last token is the
 * family name, extended to the left over particles (van, von, de, der, da, di, le ...).
 * A lone given token is the first name, unless a prefix (Dr., Mr.) names a surname.
 * An unspaced Chinese (2-3 Han) or Korean (2-4 Hangul) name is family name first:
 * "王小明" -> first "xiao ming", last "wang".
 * Strings are allocated in a. MDM_EINVAL on invalid UTF-8. */
mdm_status mdm_norm_name(mdm_norm *n, const char *full, mdm_arena *a, mdm_name_parts *out,
                         mdm_err *err) __attribute__((warn_unused_result));

/* One name token in comparison form: whether it is a prefix ("dr", "mr", "mrs" ...), a
 * suffix ("jr", "sr", "iii", "phd" ...), both ("sr": Spanish "Señor" before a name,
 * "Senior" after it) or neither. Thread-safe. */
enum { MDM_AFFIX_NONE = 0, MDM_AFFIX_PREFIX = 1, MDM_AFFIX_SUFFIX = 2 };
int mdm_norm_name_affix(const char *token);
/* True when a name token in comparison form is a particle of a family name ("van",
 * "der", "de", "bin" ...), which mdm_norm_name keeps with the family name. Thread-safe. */
bool mdm_norm_name_particle(const char *token);
/* The generation a suffix token names, for telling a father from his son: 1 "sr" "snr"
 * "i", 2 "jr" "jnr" "ii" "2nd", 3 "iii" "3rd", 4 "iv" "4th", 5 "v" "5th"; 0 for anything
 * else. Thread-safe. */
int mdm_norm_generation(const char *token);

/* Transliteration equivalence (issue 15): ASCII-only systems write Müller as Mueller,
 * Jørgen as Joergen, Håkon as Haakon, while the comparison key (Latin-ASCII) drops the
 * marks (muller). Returns s with ä ö ü ø å (either case, precomposed or with a combining
 * diaeresis or ring) written ae oe ue oe aa (malloc'd), or NULL when s has none of them;
 * its key is the record's second spelling. ß and æ are already ss and ae in the key. */
char *mdm_norm_translit_digraphs(const char *s);

/* A full name kept family name first in one field ("MUELLER HANS", "VAN DER BERG ANNA
 * MARIA", "DR MUELLER HANS JR"): the same name with a comma after the family name
 * ("MUELLER, HANS"), which every name parser reads as family name first; the family name
 * is the first token after any prefixes, with the particles before it; a single token is
 * the family name ("MUELLER" -> "MUELLER,"). NULL (nothing to do) when full holds a
 * comma or nothing. malloc'd. */
char *mdm_norm_family_first(const char *full);

/* Nicknames, from the table shipped in data/nicknames/names.csv (embedded in the binary).
 * key is one given-name token in comparison form.
 * mdm_norm_nickname_canon: the canonical name of key's nickname class (bob -> robert,
 * peggy -> margaret, robert -> robert), or key itself when it is not in the table. When
 * a nickname belongs to several names (chris: christopher, christina ...) the name with
 * the most nicknames wins, ties alphabetical, so the answer is stable. The pointer is
 * static or key itself.
 * mdm_norm_nickname_equiv: true when a == b or when one is a nickname of the other (a row
 * of the table, in either direction). Symmetric, direct only: two nicknames of one name
 * are not equivalent through it (john and nathan, both under jonathan; christopher and
 * christina through chris). n may be NULL: the table is process-wide. */
const char *mdm_norm_nickname_canon(const mdm_norm *n, const char *key);
bool mdm_norm_nickname_equiv(const mdm_norm *n, const char *a, const char *b);
/* A nickname with a typo: true when a is one edit (a letter changed, added, dropped, or two
 * neighbours swapped) from a nickname-table neighbour of b (mdm_norm_nickname_equiv), or b
 * from one of a's: "ssie" and "trsih" for Susan and Patricia, "pezggy" for Margaret. The
 * misspelt name has four letters at least and is no name of the table itself (a real name
 * one letter from a nickname is another name: joan is not a typo of john), and so is the
 * nickname it is near. */
bool mdm_norm_nickname_typo(const mdm_norm *n, const char *a, const char *b);
/* Blocking keys for a given name: the name itself, then every name it is a nickname of
 * (bob -> bob, bert, bobby, robert; chris -> chris, christopher, christina, ...). Two
 * mdm_norm_nickname_equiv names always share an entry (the lists also meet for two
 * nicknames of one name), so blocking on every entry finds every nickname pair, which the
 * single canonical name cannot
 * (a nickname of several names can only have one canonical). Writes up to max entries
 * (static strings, or key itself) to out and returns how many there are (at least 1;
 * more than max means the list was cut). */
size_t mdm_norm_nickname_classes(const mdm_norm *n, const char *key, const char **out, size_t max);

/* ---- Email --------------------------------------------------------------------- */

typedef struct mdm_email_norm {
    char *display; /* trimmed, NFKC, case kept; "mailto:", a display name and angle
                    * brackets removed ("John <j@x.org>" -> "j@x.org") */
    char *key;     /* canonical match key: lower case, +tag dropped, gmail dots dropped,
                    * googlemail.com -> gmail.com; equals the lower-cased address when invalid */
    char *local;   /* lower-cased local part as given ("" when there is no '@') */
    char *domain;  /* lower-cased domain ("" when there is no '@') */
    bool valid;    /* shape check: one '@', dot-atom local part <= 64, domain of LDH labels
                    * with a dot and an alphabetic TLD */
} mdm_email_norm;

/* Normalizes an email address into a. A badly shaped address is not an error (valid is
 * false); MDM_EINVAL only for invalid UTF-8. */
mdm_status mdm_norm_email(mdm_norm *n, const char *in, mdm_arena *a, mdm_email_norm *out,
                          mdm_err *err) __attribute__((warn_unused_result));

/* ---- Phone --------------------------------------------------------------------- */

typedef struct mdm_phone_norm {
    char e164[32];    /* "+14155550132"; "" unless valid */
    char ext[16];     /* extension digits, "" when none */
    int country_code; /* 1, 44, 49 ...; 0 when the number could not be parsed */
    bool valid;       /* libphonenumber IsValidNumber */
    char digits[32];  /* the digits as given (leading '+' kept), for comparing invalid
                       * numbers; truncated to fit */
} mdm_phone_norm;

/* Longest input mdm_norm_phone parses; longer input is an invalid number (parsing costs
 * time quadratic in the length, and no phone number is this long). */
#define MDM_NORM_PHONE_MAX 256

/* Parses a phone number with libphonenumber. default_country is an ISO 3166 alpha-2
 * code (or a name mdm_norm_country knows; NULL or "" means "US") used for national
 * layouts. "00" international prefixes are accepted for any default country. Invalid
 * numbers are flagged (valid false, e164 ""), never guessed; that is not an error.
 * MDM_EINVAL for invalid UTF-8 or an unknown default_country. */
mdm_status mdm_norm_phone(mdm_norm *n, const char *in, const char *default_country,
                          mdm_phone_norm *out, mdm_err *err) __attribute__((warn_unused_result));

/* ---- Address ------------------------------------------------------------------- */

typedef struct mdm_address_norm {
    char *number;      /* house number: "221b", "12-14" */
    char *street;      /* street name with types and directions expanded:
                        * "north main street", "hauptstrasse", "rue de la paix" */
    char *unit;        /* "apartment 4b", "suite 100" */
    char *line;        /* normalized street line: number + street + unit */
    char *city;        /* text key */
    char *region;      /* text key ("ca", "bavaria") */
    char *postal_code; /* per country (mdm_norm_postal_code), else upper-cased */
    char *country;     /* ISO 3166-1 alpha-2, "" when unknown */
    bool valid;        /* has a street line or a postal code, and the postal code (when
                        * present) is valid for the country */
} mdm_address_norm;

/* Normalizes an address; any argument may be NULL or "". country falls back to
 * default_country. All strings in a, "" when absent. MDM_EINVAL on invalid UTF-8. */
mdm_status mdm_norm_address(mdm_norm *n, const char *line1, const char *line2, const char *city,
                            const char *region, const char *postal_code, const char *country,
                            const char *default_country, mdm_arena *a, mdm_address_norm *out,
                            mdm_err *err) __attribute__((warn_unused_result));

/* Postal code in the national layout: US "94043" / "94043-1351", GB "SW1A 1AA",
 * CA "K1A 0B1", AU "2000", DE "10115", FR "75001" (NL, others: upper case, whitespace
 * collapsed). country is a code or name (NULL/"" = unknown). out is reset and always
 * receives the best form; MDM_EINVAL when the code is not valid for a known country. */
mdm_status mdm_norm_postal_code(const char *in, const char *country, mdm_buf *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* ISO 3166-1 alpha-2 code of a country code or name in many languages: "Deutschland",
 * "DE", "DEU", "germany", "Allemagne" -> "DE"; "UK", "Great Britain" -> "GB". NULL when
 * unknown. The result is static. Thread-safe. */
const char *mdm_norm_country(const char *in);

/* ---- Dates --------------------------------------------------------------------- */

typedef struct mdm_date {
    int y, m, d;
    bool ambiguous;   /* day and month could be swapped ("03/02/1981") */
    int alt_m, alt_d; /* the other reading when ambiguous, else equal to m, d */
} mdm_date;

/* Parses a calendar date: ISO "1981-02-03" (a time after 'T' or ' ' is ignored),
 * "1981/02/03", "19810203", "03/02/1981" and "03-02-1981" (day first; when both readings
 * are possible the date is ambiguous and alt_* holds the month-first reading),
 * "02/13/1981" (month first, since 13 is no month), "03.02.1981" (dots: day first, never
 * ambiguous), "3 Feb 1981", "3rd February 1981", "Feb 3, 1981", "03-FEB-81", English,
 * German, French and Spanish month names. Two-digit years fall in the hundred years
 * ending at pivot_year (pivot 2026: 26 -> 2026, 27 -> 1927); pivot_year <= 0 means the
 * current year. Impossible dates (1981-02-29, month 13, day 0) and years outside
 * 1000..9999 are MDM_EINVAL. */
mdm_status mdm_norm_date(const char *in, int pivot_year, mdm_date *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Which reading of an ambiguous "03/02/1981" comes first (the other is alt_*). */
typedef enum mdm_date_order {
    MDM_DATE_DMY = 0, /* day first (mdm_norm_date): most of the world */
    MDM_DATE_MDY = 1  /* month first: US sources */
} mdm_date_order;

/* mdm_norm_date with the preferred reading of ambiguous day/month layouts; unambiguous
 * inputs ("13/02", "02/13", dotted, ISO, month names) read the same either way. */
mdm_status mdm_norm_date_ex(const char *in, int pivot_year, mdm_date_order order, mdm_date *out,
                            mdm_err *err) __attribute__((warn_unused_result));

#endif
