/* Unit tests: the canonical-text reader (matching/canon_text.h) against the document path
 * it replaces (json_loads + mdm_canon_to_record): the same record, first address country
 * and consent flag on every text, and a refusal exactly where json_loads refuses. Texts:
 * canonical records of random inputs (names with quotes, backslashes, control characters,
 * non-ASCII and astral letters; valid and invalid e-mails and phones; up to five
 * addresses; attributes; consents) written the ways jansson and PostgreSQL's jsonb write
 * them (compact, spaced, ASCII-escaped, indented), the random inputs themselves, and
 * hand-written edge cases. And the writer of that text (mdm/engine.h
 * mdm_engine_canonical_text): byte for byte the whole compact sorted dump, and the content
 * hash of mdm_engine_content_hash, from one serialization. */
#include "common/mem.h"
#include "matching/canon_text.h"
#include "matching/canonical.h"
#include "matching/normalize.h"
#include "mdm/engine.h"
#include "tests/test.h"

#include <stdlib.h>

static mdm_norm *norm;
static mdm_limits lim;

static void put_field(mdm_buf *b, const char *name, const char *v)
{
    mdm_buf_printf(b, "%s=[%s];", name, v ? v : "(null)");
}

/* Every field of r that mdm_canon_to_record sets, as one text. */
static char *record_text(const mdm_record *r)
{
    mdm_buf b = {0};
    put_field(&b, "first", r->first_name);
    put_field(&b, "middle", r->middle_name);
    put_field(&b, "last", r->last_name);
    put_field(&b, "full", r->full_name);
    put_field(&b, "prefix", r->prefix);
    put_field(&b, "suffix", r->suffix);
    put_field(&b, "dob", r->birth_date);
    put_field(&b, "gender", r->gender);
    put_field(&b, "loyalty", r->loyalty_id);
    put_field(&b, "customer", r->customer_number);
    put_field(&b, "tax", r->tax_id);
    put_field(&b, "national", r->national_id);
    for (size_t i = 0; i < r->n_emails; i++)
        put_field(&b, "email", r->emails[i].value);
    for (size_t i = 0; i < r->n_phones; i++)
        put_field(&b, "phone", r->phones[i].value);
    mdm_buf_printf(&b, "addresses=%zu;", r->n_addresses);
    for (size_t i = 0; i < r->n_addresses; i++) {
        const mdm_address *a = &r->addresses[i];
        put_field(&b, "line1", a->line1);
        put_field(&b, "line2", a->line2);
        put_field(&b, "city", a->city);
        put_field(&b, "region", a->region);
        put_field(&b, "postal", a->postal_code);
        put_field(&b, "country", a->country);
        put_field(&b, "type", a->type);
    }
    for (size_t i = 0; i < r->n_attributes; i++) {
        put_field(&b, "attr", r->attributes[i].key);
        put_field(&b, "value", r->attributes[i].value);
    }
    mdm_buf_printf(&b, "consents=%zu", r->n_consents);
    return mdm_buf_steal(&b);
}

static int cases, mismatches;

/* The reader and the document path agree on text. */
static void same(const char *text, const char *what)
{
    cases++;
    json_t *j = json_loads(text, 0, NULL);
    mdm_canon_text t;
    bool ok = mdm_canon_text_record(text, &t);
    bool agree = (j != NULL) == ok;
    if (agree && j) {
        mdm_record r;
        mdm_canon_to_record(j, &r);
        char *want = record_text(&r), *got = record_text(&t.rec);
        const json_t *a0 = json_array_get(json_object_get(j, "addresses"), 0);
        const char *cc = json_string_value(json_object_get(a0, "country"));
        bool consents = json_array_size(json_object_get(j, "consents")) > 0;
        agree = !strcmp(want, got) && consents == t.consents &&
                ((!cc && !t.country) || (cc && t.country && !strcmp(cc, t.country)));
        if (!agree)
            fprintf(stderr,
                    "%s: record\n  want %s (country %s, consents %d)\n  got  %s (country %s, "
                    "consents %d)\n",
                    what, want, cc ? cc : "(null)", consents, got, t.country ? t.country : "(null)",
                    t.consents);
        free(want);
        free(got);
        mdm_record_clear(&r);
    } else if (!agree) {
        fprintf(stderr, "%s: json_loads %s, reader %s\n", what, j ? "loads" : "refuses",
                ok ? "reads" : "refuses");
    }
    if (!agree) {
        mismatches++;
        fprintf(stderr, "  text: %.300s\n", text);
    }
    mdm_canon_text_clear(&t);
    json_decref(j);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd((unsigned)n)];
}
#define PICK(v) pick(v, sizeof v / sizeof v[0])

static json_t *random_input(void)
{
    static const char *const names[] = {"John",
                                        "  Mary Ann ",
                                        "O'Brien",
                                        "Jo\"hn",
                                        "back\\slash",
                                        "Zoë",
                                        "Ångström",
                                        "Müller",
                                        "MUELLER HANS",
                                        "Dr. Smith Jr.",
                                        "van der Berg",
                                        "Nguyễn",
                                        "李小龍",
                                        "Σωκράτης",
                                        "tab\there",
                                        "new\nline",
                                        "\x01"
                                        "ctl",
                                        "😀 Emoji",
                                        "",
                                        " ",
                                        "Crumwell Jr., Thaddeus",
                                        "José María",
                                        "a/b",
                                        "Ŀlewellyn"};
    static const char *const emails[] = {"john@example.com",
                                         "JOHN.SMITH@Example.COM",
                                         "not-an-email",
                                         "zoë@exämple.de",
                                         "a@b",
                                         "",
                                         "mary+tag@gmail.com",
                                         "x\"y@z.org"};
    static const char *const phones[] = {"+1 415 555 0100", "(415) 555-0101", "12", "+49 30 123456",
                                         "phone",           "+442071838750",  ""};
    static const char *const lines[] = {"1 Main St", "Hauptstraße 5",     "Apt 4\\B", "  ",
                                        "PO Box 12", "Rue de l'Église 3", "😀 Way 1"};
    static const char *const countries[] = {"US", "DE", "fr", "Germany", "Narnia", "", "GB"};
    static const char *const dates[] = {"1980-02-29", "12/31/1975", "2030-01-01",
                                        "bad",        "1899-12-31", "03/04/1990"};
    json_t *o = json_object();
    json_object_set_new(o, "source_key", json_sprintf("K-%u", rnd(100000)));
    if (rnd(4))
        json_object_set_new(o, "first_name", json_string(PICK(names)));
    if (rnd(3) == 0)
        json_object_set_new(o, "middle_name", json_string(PICK(names)));
    if (rnd(4))
        json_object_set_new(o, "last_name", json_string(PICK(names)));
    if (rnd(4) == 0)
        json_object_set_new(o, "full_name", json_string(PICK(names)));
    if (rnd(5) == 0)
        json_object_set_new(o, "suffix", json_string(rnd(2) ? "Jr." : "III"));
    if (rnd(2))
        json_object_set_new(o, "birth_date", json_string(PICK(dates)));
    if (rnd(3) == 0)
        json_object_set_new(o, "gender", json_string(rnd(2) ? "F" : "unknown"));
    if (rnd(3) == 0)
        json_object_set_new(o, "loyalty_id", rnd(2) ? json_string("L-12 34") : json_integer(1234));
    if (rnd(4) == 0)
        json_object_set_new(o, "tax_id", json_string(PICK(names)));
    json_t *e = json_array();
    for (unsigned i = rnd(4); i > 0; i--)
        json_array_append_new(e, rnd(2) ? json_string(PICK(emails))
                                        : json_pack("{s:s, s:s}", "value", PICK(emails), "type",
                                                    rnd(2) ? "home" : "work"));
    json_object_set_new(o, "emails", e);
    json_t *p = json_array();
    for (unsigned i = rnd(4); i > 0; i--)
        json_array_append_new(p, json_string(PICK(phones)));
    json_object_set_new(o, "phones", p);
    json_t *ad = json_array();
    for (unsigned i = rnd(6); i > 0; i--) {
        json_t *a = json_object();
        if (rnd(4))
            json_object_set_new(a, "line1", json_string(PICK(lines)));
        if (rnd(3) == 0)
            json_object_set_new(a, "line2", json_string(PICK(lines)));
        if (rnd(2))
            json_object_set_new(a, "city", json_string(PICK(names)));
        if (rnd(2))
            json_object_set_new(a, "postal_code", json_string(rnd(2) ? "10115" : "94107-1234"));
        if (rnd(3))
            json_object_set_new(a, "country", json_string(PICK(countries)));
        if (rnd(4) == 0)
            json_object_set_new(a, "type", json_string("home"));
        json_array_append_new(ad, a);
    }
    json_object_set_new(o, "addresses", ad);
    if (rnd(3) == 0)
        json_object_set_new(o, "attributes",
                            json_pack("{s:s, s:s, s:s}", "occupation", PICK(names), "ÿ key",
                                      PICK(names), "tier", "gold"));
    if (rnd(3) == 0)
        json_object_set_new(o, "consents",
                            rnd(3) ? json_pack("[{s:s, s:s, s:s, s:s}]", "purpose", "marketing",
                                               "channel", "email", "status", "granted",
                                               "captured_at", "2026-01-02T10:00:00Z")
                                   : json_array());
    return o;
}

static void test_generated(void)
{
    static const size_t flags[] = {JSON_COMPACT | JSON_SORT_KEYS, JSON_SORT_KEYS,
                                   JSON_ENSURE_ASCII | JSON_INDENT(2), JSON_COMPACT};
    cases = mismatches = 0;
    int canonical = 0;
    for (int n = 0; n < 2000; n++) {
        json_t *in = random_input(), *out = NULL, *errs = NULL;
        mdm_err err = {0};
        CHECK_INT(mdm_canonicalize(norm, NULL, "US", &lim, in, &out, &errs, &err), MDM_OK);
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            char *t = json_dumps(out ? out : in, flags[f]);
            same(t, out ? "canonical" : "refused input");
            free(t);
        }
        canonical += out != NULL;
        json_decref(in);
        json_decref(out);
        json_decref(errs);
    }
    CHECK(canonical > 1000);
    CHECK_INT(mismatches, 0);
    fprintf(stderr, "%d texts of %d canonical records: %d mismatches\n", cases, canonical,
            mismatches);
}

static void test_edge_cases(void)
{
    static const char *const texts[] = {
        "{}",
        "[]",
        "[1, {\"first_name\": \"x\"}]",
        "",
        "   ",
        "null",
        "\"s\"",
        "42",
        "{\"first_name\": \"Ann\"} x",
        "{\"first_name\": \"Ann\",}",
        "{\"first_name\" \"Ann\"}",
        "{\"first_name\": \"A\\u00e9\\u4e2d\\ud83d\\ude00\"}",
        "{\"first_name\": \"\\ud83d\"}",
        "{\"first_name\": \"\\ude00x\"}",
        "{\"first_name\": \"a\\u0000b\"}",
        "{\"first_name\": \"a\\x\"}",
        "{\"first_name\": \"tab\there\"}",
        "{\"first_name\": \"\\t \\n\\r\\b\\f\\/\\\\\\\"\"}",
        "{\"first_name\": \"\xff\"}",
        "{\"first_name\": \"\xc3\xa9\"}",
        "{\"first_name\": 12, \"last_name\": true, \"middle_name\": null, \"full_name\": [\"a\"]}",
        "{\"first_name\": \"\", \"last_name\": \"   \", \"suffix\": \" Jr \"}",
        "{\"consents\": []}",
        "{\"consents\": [ ]}",
        "{\"consents\": [0]}",
        "{\"consents\": {}}",
        "{\"consents\": \"[x]\"}",
        "{\"consents\": [[]]}",
        "{\"x\": 12345678901234567890}",
        "{\"x\": -9223372036854775808}",
        "{\"x\": 9223372036854775807}",
        "{\"x\": 1e400}",
        "{\"x\": -1e400}",
        "{\"x\": 1e-400}",
        "{\"x\": 01}",
        "{\"x\": -}",
        "{\"x\": 1.}",
        "{\"x\": .5}",
        "{\"x\": 1.5e+3}",
        "{\"x\": tru}",
        "{\"x\": nulll}",
        "{\"x\": [1, 2,]}",
        "{\"x\": {\"y\": [{}]}}",
        "{\"emails\": [{\"value\": \"a@b.c\", \"valid\": false}, {\"valid\": true, \"value\": "
        "\"d@e.f\"}, {\"value\": \"g@h.i\", \"valid\": null}, \"j@k.l\", {\"value\": 5}]}",
        "{\"emails\": {\"value\": \"a@b.c\"}, \"phones\": \"+14155550100\"}",
        "{\"phones\": [{\"value\": \"+14155550100\", \"valid\": false}, {\"type\": \"home\"}]}",
        "{\"addresses\": [{\"country\": \"\"}]}",
        "{\"addresses\": [{\"country\": 5}]}",
        "{\"addresses\": [\"x\", {\"city\": \"B\", \"country\": \"DE\"}]}",
        "{\"addresses\": [{}, {}, {\"city\": \"C\"}]}",
        "{\"addresses\": [{\"city\": \"1\"}, {\"city\": \"2\"}, {\"city\": \"3\"}, {\"city\": "
        "\"4\"}, {\"city\": \"5\", \"country\": \"US\"}]}",
        "{\"addresses\": [{\"city\": \"1\", \"type\": \"home\", \"valid\": false, \"zip\": "
        "\"x\"}]}",
        "{\"attributes\": {\"a\": \"1\", \"b\": 2, \"c\": {\"d\": \"e\"}, \"\": \"empty key\"}}",
        "{\"attributes\": [\"a\"]}",
        "{\"keys\": {\"first\": \"x\"}, \"issues\": [{\"pointer\": \"/a\"}], \"source\": \"crm\"}",
        "{\"first_name_and_a_member_name_longer_than_thirty_two_bytes\": \"x\"}",
        "\n{\n  \"first_name\" :\t\"Ann\" ,\r\n  \"last_name\":\"Lee\"\n}\n",
    };
    cases = mismatches = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        same(texts[i], "edge case");
    /* attribute names at the path limit of canonical.c (160 bytes with "attributes.") */
    for (int len = 146; len <= 150; len++) {
        char *t = mdm_xasprintf("{\"attributes\": {\"%0*d\": \"v\"}}", len, 7);
        same(t, "long attribute name");
        free(t);
    }
    /* nesting at and over jansson's limit (2048) */
    for (int depth = 2046; depth <= 2050; depth++) {
        mdm_buf b = {0};
        mdm_buf_puts(&b, "{\"x\": ");
        for (int d = 1; d < depth; d++)
            mdm_buf_putc(&b, '[');
        for (int d = 1; d < depth; d++)
            mdm_buf_putc(&b, ']');
        mdm_buf_puts(&b, "}");
        same(b.data, "deep nesting");
        mdm_buf_reset(&b);
        mdm_buf_puts(&b, "{\"emails\": [{\"x\": ");
        for (int d = 3; d < depth; d++)
            mdm_buf_putc(&b, '[');
        for (int d = 3; d < depth; d++)
            mdm_buf_putc(&b, ']');
        mdm_buf_puts(&b, "}]}");
        same(b.data, "deep nesting in e-mails");
        mdm_buf_free(&b);
    }
    CHECK_INT(mismatches, 0);
}

static void test_stored_text(void)
{
    int mismatches_text = 0, mismatches_hash = 0, n = 0;
    for (int i = 0; i < 600; i++) {
        json_t *in = random_input(), *out = NULL, *errs = NULL;
        mdm_err err = {0};
        CHECK_INT(mdm_canonicalize(norm, NULL, "US", &lim, in, &out, &errs, &err), MDM_OK);
        json_t *c = out ? out : in;
        if (i % 7 == 0) /* members that are not the canonical record's, and source times */
            json_object_set_new(c, "source_updated_at", json_string("2026-01-02T03:04:05Z"));
        if (i % 5 == 0)
            json_object_set_new(c, "x_numbers",
                                json_pack("{s:[i, f, b, n, s]}", "z", 1, 0.1, 1, "/"));
        if (i % 11 == 0)
            json_object_set_new(c, "A \"q\"", json_pack("{s:[i, f, b, n]}", "z", 1, 0.5, 1));
        if (i % 13 == 0)
            json_object_set_new(c, "\xc3\xbf", json_string("non-ASCII member name"));
        char want_hash[65], got_hash[65];
        mdm_engine_content_hash(c, want_hash);
        char *want = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
        char *got = mdm_engine_canonical_text(c, got_hash);
        n++;
        if (strcmp(want, got) != 0) {
            if (!mismatches_text++)
                fprintf(stderr, "text\n  want %.300s\n  got  %.300s\n", want, got);
        }
        if (strcmp(want_hash, got_hash) != 0)
            mismatches_hash++;
        free(want);
        free(got);
        json_decref(in);
        json_decref(out);
        json_decref(errs);
    }
    json_t *empty = json_object();
    char h1[65], h2[65];
    mdm_engine_content_hash(empty, h1);
    char *t = mdm_engine_canonical_text(empty, h2);
    CHECK_STR(t, "{}");
    CHECK_STR(h2, h1);
    free(t);
    json_decref(empty);
    CHECK_INT(mismatches_text, 0);
    CHECK_INT(mismatches_hash, 0);
    CHECK_INT(n, 600);
}

int main(void)
{
    mdm_err err = {0};
    norm = mdm_norm_new(&err);
    if (!norm) {
        fprintf(stderr, "no normalizer: %s\n", err.msg);
        return 1;
    }
    mdm_limits_default(&lim);
    RUN(test_generated);
    RUN(test_edge_cases);
    RUN(test_stored_text);
    mdm_norm_free(norm);
    TEST_END();
}
