/* Han by table (matching/han.c) gives ICU's keys: every ideograph of the table alone, the
 * two-character words, and random text mixing ideographs with Latin letters, digits,
 * spaces, punctuation (ASCII and CJK), brackets, kana, hangul and marks, compared with
 * ICU's "Any-Latin; Latin-ASCII" on the same text (mdm_norm_key_icu_internal). */
#include "matching/han.h"
#include "matching/normalize_int.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>
#include <unicode/utf8.h>

static mdm_norm *N;

/* key by the normal path (Han by table) and by ICU alone; false when they differ */
static bool same_key(const char *s, mdm_buf *k1, mdm_buf *k2)
{
    bool a = mdm_norm_key_internal(N, s, strlen(s), k1);
    bool b = mdm_norm_key_icu_internal(N, s, strlen(s), k2);
    return a == b && (!a || strcmp(k1->data, k2->data) == 0);
}

static void append_cp(mdm_buf *b, UChar32 c)
{
    char u8[4];
    int32_t o = 0;
    U8_APPEND_UNSAFE((uint8_t *)u8, o, c);
    mdm_buf_append(b, u8, (size_t)o);
}

static void test_table_read(void)
{
    CHECK(mdm_han_table_size() > 40000); /* ICU 72 has 44,090 */
}

static void test_every_ideograph_alone(void)
{
    mdm_buf in = {0}, k1 = {0}, k2 = {0};
    int bad = 0, n = 0;
    static const UChar32 ranges[][2] = {
        {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0x20000, 0x2A6DF}, /* ideographs (astral: 1 in 7) */
        {0x2E80, 0x2FDF}, {0x3005, 0x3007}, {0x3021, 0x3029},   /* radicals, marks, numerals */
        {0x3038, 0x303B}, {0xF900, 0xFAFF},                     /* compatibility ideographs */
    };
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
        for (UChar32 c = ranges[r][0]; c <= ranges[r][1]; c += (ranges[r][0] == 0x20000 ? 7 : 1)) {
            mdm_buf_reset(&in);
            append_cp(&in, c);
            n++;
            if (!same_key(in.data, &k1, &k2) && bad++ < 5)
                fprintf(stderr, "U+%04X: table [%s] ICU [%s]\n", (unsigned)c, k1.data, k2.data);
        }
    CHECK(n > 30000);
    CHECK_INT(bad, 0);
    mdm_buf_free(&in);
    mdm_buf_free(&k1);
    mdm_buf_free(&k2);
}

static void test_words_and_spacing(void)
{
    static const char *const cases[] = {
        "重庆",   "重 庆",  "重",     "藏文",         "沈阳",   "秘鲁",   "北京市朝阳区建国路88号",
        "王A",    "A王",    "王 A",   "1王",          "王1",    "王(小)", "A(王",
        "王,小",  "王、小", "王。小", "王「小」",     "「王」", "王.小",  "王-小",
        "王'小",  "!王",    "王ー小", "王々",         "々王",   "é王",    "王é",
        "王とう", "서울王", "王〇",   "Zhang 王 Wei",
    };
    mdm_buf k1 = {0}, k2 = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool same = same_key(cases[i], &k1, &k2);
        if (!same)
            fprintf(stderr, "[%s]: table [%s] ICU [%s]\n", cases[i], k1.data, k2.data);
        CHECK(same);
    }
    mdm_buf_free(&k1);
    mdm_buf_free(&k2);
}

static void test_random_mixed_text(void)
{
    static const char *const other[] = {
        " ",         "a",  "Q",  "7",  ",",  ".",  "-",
        "'",         "(",  ")",  "「", "」", "、", "。",
        "，",        "！", "ー", "か", "カ", "한", "é",
        "e\xcc\x81", "々", "〆", "“",  "”",  "重", "庆",
        "文",        "阳", "鲁", "藏", "沈", "秘", "\xe3\x80\x80" /* ideographic space */,
    };
    size_t nother = sizeof other / sizeof other[0];
    mdm_buf in = {0}, k1 = {0}, k2 = {0};
    unsigned seed = 20261207;
    int bad = 0;
    for (int r = 0; r < 6000; r++) {
        mdm_buf_reset(&in);
        seed = seed * 1103515245u + 12345u;
        int len = 1 + (int)((seed >> 16) % 14);
        for (int k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 8) % 2)
                append_cp(&in, 0x4E00 + (UChar32)((seed >> 12) % 0x5000));
            else
                mdm_buf_puts(&in, other[(seed >> 12) % nother]);
        }
        if (!same_key(in.data, &k1, &k2) && bad++ < 8)
            fprintf(stderr, "[%s]: table [%s] ICU [%s]\n", in.data, k1.data, k2.data);
    }
    CHECK_INT(bad, 0);
    mdm_buf_free(&in);
    mdm_buf_free(&k1);
    mdm_buf_free(&k2);
}

int main(void)
{
    mdm_err err = {0};
    N = mdm_norm_new(&err);
    if (!N) {
        fprintf(stderr, "mdm_norm_new: %s\n", err.msg);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_table_read);
    RUN(test_words_and_spacing);
    RUN(test_every_ideograph_alone);
    RUN(test_random_mixed_text);
    mdm_norm_free(N);
    TEST_END();
}
