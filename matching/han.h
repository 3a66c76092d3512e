/* Han romanization by table: ICU's own Han-Latin readings, applied without ICU's rule
 * engine.
 *
 * ICU's "Any-Latin" romanizes Han text by rules tried at every position (Han-Spacedhan's
 * letter sets, Han-Latin's 1,400 set rules): 10-40 us per character, so a 256-byte
 * address line of Han took about 4 ms (issue 17). The readings themselves are a plain
 * table (one reading per ideograph, four two-character words such as 重庆 chóng qìng),
 * so this module reads that table once from ICU (utrans_toRules of "Han-Latin") and
 * rewrites each ideograph to its reading with the spaces Han-Spacedhan would put around
 * it; the transliterator then finds no Han left and is fast. tests/unit/test_han.c checks
 * the result against ICU on every ideograph of the table and on random mixed text. */
#ifndef MDM_MATCHING_HAN_H
#define MDM_MATCHING_HAN_H

#include <stdbool.h>
#include <stdint.h>
#include <unicode/utypes.h>

/* Rewrites the Han ideographs of in[0..len) (text already NFKC-casefolded) into their
 * readings (tone marks kept: "wáng"), copying every other character. Returns the length
 * written to out (at most cap units); 0 with *changed false when in holds no ideograph of
 * the table (out untouched); -1 when cap is too small or the table cannot be read from
 * ICU (the caller then transliterates with ICU alone). */
int32_t mdm_han_romanize(const UChar *in, int32_t len, UChar *out, int32_t cap, bool *changed);

/* Number of ideographs in the table (0 when ICU's rules could not be read). */
size_t mdm_han_table_size(void);

#endif
