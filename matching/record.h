/* Canonical customer records, CSV input and source column mappings.
 *
 * mdm_record is the data contract of DESIGN.md: every source maps its columns onto it.
 * It is plain data: every string is owned by the record (heap), NULL when absent, and
 * freed by mdm_record_clear(). Values are kept as the source sent them (trimmed);
 * normalization happens later (matching/normalize.h, matching/model.h).
 *
 * mdm_csv reads RFC 4180 files (quoted fields, doubled quotes, embedded newlines, CRLF
 * or LF, optional final newline, optional UTF-8 BOM) and the FEBRL layout where fields
 * are separated by ", ": unquoted fields are trimmed of surrounding blanks. The first
 * row is the header. A row whose field count differs from the header's, or a quote
 * left open at end of file, is an error naming file and line.
 *
 * mdm_source_map is one source's definition (the one schema of the configuration
 * file's "sources"): its code, its columns mapped onto canonical field paths, and how
 * its dates and full names are read. */
#ifndef MDM_MATCHING_RECORD_H
#define MDM_MATCHING_RECORD_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- canonical record ---- */

typedef struct mdm_contact {
    char *value; /* email address or phone number as given */
    char *type;  /* "home", "mobile", "work", ... or NULL */
} mdm_contact;

typedef struct mdm_address {
    char *type; /* "home", "billing", "shipping", ... or NULL */
    char *line1, *line2, *city, *region, *postal_code, *country;
} mdm_address;

typedef struct mdm_attr {
    char *key, *value;
} mdm_attr;

typedef struct mdm_consent {
    char *purpose, *channel, *status, *captured_at, *expires_at, *lawful_basis, *evidence;
} mdm_consent;

#define MDM_RECORD_MAX_ADDRESSES 4

typedef struct mdm_record {
    char *source, *source_key, *source_updated_at, *op;
    char *first_name, *middle_name, *last_name, *full_name, *prefix, *suffix;
    char *birth_date, *gender;
    mdm_contact *emails;
    size_t n_emails;
    mdm_contact *phones;
    size_t n_phones;
    mdm_address addresses[MDM_RECORD_MAX_ADDRESSES];
    size_t n_addresses;
    char *loyalty_id, *customer_number, *tax_id, *national_id;
    char *account_status, *segment;
    mdm_attr *attributes;
    size_t n_attributes;
    mdm_consent *consents;
    size_t n_consents;
} mdm_record;

/* Zeroes r (an empty record). */
void mdm_record_init(mdm_record *r);

/* Frees every string and array of r and leaves it empty; the struct itself is the
 * caller's. Safe on an initialised or cleared record. */
void mdm_record_clear(mdm_record *r);

/* Sets one field from a value (copied, trimmed; empty values are ignored). Field paths:
 *   scalars   source source_key source_updated_at op first_name middle_name last_name
 *             full_name prefix suffix birth_date gender loyalty_id customer_number tax_id
 *             national_id account_status segment  (a second value is joined with a space)
 *   lists     email, email:TYPE, phone, phone:TYPE   (each call appends one entry)
 *   address   address.FIELD (first address), address2.FIELD ... address4.FIELD, where
 *             FIELD is line1 line2 city region postal_code country type
 *   free      attributes.KEY
 * Returns MDM_EINVAL for an unknown path. */
mdm_status mdm_record_set(mdm_record *r, const char *field, const char *value, mdm_err *err);

/* True when field is a path mdm_record_set accepts. */
bool mdm_record_field_valid(const char *field);

/* ---- CSV reader ---- */

typedef struct mdm_csv mdm_csv;

/* Opens path (read whole into memory) and reads the header row. NULL with err set
 * (MDM_EIO for a missing/unreadable file, MDM_EINVAL for an empty or bad header). */
mdm_csv *mdm_csv_open(const char *path, mdm_err *err);

/* Test hook: the n-th following read or buffer growth of mdm_csv_open fails (1 = the
 * next one; 0 disables), as a read error or an allocation failure would: the open
 * returns NULL with MDM_EIO naming the file and frees everything. Process-wide. */
void mdm_csv_fail_after(long n);

/* Same over a copy of an in-memory buffer; name is used in messages. */
mdm_csv *mdm_csv_open_mem(const char *data, size_t len, const char *name, mdm_err *err);

void mdm_csv_close(mdm_csv *c); /* NULL is a no-op */

size_t mdm_csv_ncols(const mdm_csv *c);
const char *mdm_csv_colname(const mdm_csv *c, size_t i);
/* Index of the header column named name (exact match after trimming), or -1. */
int mdm_csv_col(const mdm_csv *c, const char *name);

/* Reads the next data row. Returns 1 with a row, 0 at end of file, -1 on a malformed
 * row (err names file and line; the reader skips to the next line, so a caller may go
 * on). Blank lines are skipped. */
int mdm_csv_next(mdm_csv *c, mdm_err *err);

/* Field i of the current row, NUL-terminated, valid until the next mdm_csv_next. */
const char *mdm_csv_field(const mdm_csv *c, size_t i);
/* Line number (1-based) where the current row starts; the header is line 1. */
long mdm_csv_line(const mdm_csv *c);
const char *mdm_csv_name(const mdm_csv *c);

/* Appends value to b as one RFC 4180 field (quoted when it holds a comma, quote, CR or
 * LF, or leading/trailing blanks). */
struct mdm_buf;
void mdm_csv_quote(struct mdm_buf *b, const char *value);

/* ---- source definitions ---- */

/* One source-definition schema for every path (mdm link, train and explain, mdm load,
 * mdm serve): the "sources" array of the configuration file. Keys:
 *   code             the source's code, ^[a-z][a-z0-9_]{0,31}$ (the `source` of its
 *                    records); mdm link also matches input files by it (crm.csv)
 *   name             display name (default: the code)
 *   kind             crm, loyalty, commerce, erp, pos or other (default other)
 *   default_country  ISO 3166-1 alpha-2 for phones and addresses without a country
 *                    (default: the configuration's default_country)
 *   date_order       "mdy" or "dmy": how an ambiguous date (03/04/1980) is read
 *                    (default: "mdy" when the source's country is US, else "dmy")
 *   name_order       "given_first" (default) or "family_first": a full name without a
 *                    comma is family name first (ERP "MUELLER HANS")
 *   key              column of the source key (never matched on); default "source_key"
 *   updated_at, op   columns of the source's change time and of upsert|delete
 *   mapping          {"column": "canonical field path", ...} (see mdm_record_set); a
 *                    column is a CSV header or a top-level key of a JSON record, or a
 *                    dotted path into nested objects ("contact.email"). Several columns
 *                    mapped to the same scalar are joined with one space in mapping order
 *                    (street_number + address_1 -> address.line1)
 *   trust            {"*": 0..100, "attr": 0..100}: source-trust survivorship
 *   match            glob on an input file's base name (mdm link; default: by code)
 *   deduplicated     true: no duplicates inside this source (mdm link skips pairs
 *                    within it)
 *   comment          free text
 * Keys of the former link dialect are refused naming their new key: record_id (key),
 * columns (mapping), and name without code (code). */

/* Where a source definition is read: MDM_SOURCE_SERVICE requires a code (mdm load, mdm
 * serve); MDM_SOURCE_LINK requires a key column and a mapping, and a source without a
 * code takes each input file's name (mdm link, train, explain). */
typedef enum mdm_source_use { MDM_SOURCE_SERVICE, MDM_SOURCE_LINK } mdm_source_use;

typedef struct mdm_colmap {
    char *column; /* column name (CSV header, or dotted path into a JSON record) */
    char *field;  /* canonical field path */
} mdm_colmap;

typedef struct mdm_source_map {
    char *code;            /* NULL (link only): the file name without extension */
    char *name;            /* display name; NULL: the code */
    char *kind;            /* NULL: "other" */
    char *default_country; /* NULL: the configuration's */
    char *key;             /* column holding the source key; NULL: "source_key" */
    char *updated_at;      /* column holding the change time; NULL: "source_updated_at" */
    char *op;              /* column holding upsert|delete; NULL: "op" */
    char *match;           /* glob on the input file's base name; NULL: by code */
    char date_order;       /* 'm' ("mdy"), 'd' ("dmy") or 0 (by country) */
    bool deduplicated;     /* no duplicates inside this source: skip within-source pairs */
    bool family_first;     /* "name_order": "family_first" */
    json_t *trust;         /* the trust object as configured (owned) or NULL */
    mdm_colmap *cols;      /* the mapping, in configuration order */
    size_t ncols;
} mdm_source_map;

/* Parses sources[index] (obj, borrowed) for use. Errors are MDM_EINVAL with a message
 * "sources[I].KEY: ..." and err->field the JSON pointer "/sources/I/KEY". */
mdm_status mdm_source_map_parse(mdm_source_map *m, json_t *obj, size_t index, mdm_source_use use,
                                mdm_err *err);
void mdm_source_map_clear(mdm_source_map *m);
/* Serializes m as the JSON object mdm_source_map_parse reads (new reference). */
json_t *mdm_source_map_json(const mdm_source_map *m);

/* True when ambiguous dates of source m are read month first: its date_order, else
 * whether its country (its default_country, else country) is US. */
bool mdm_source_month_first(const mdm_source_map *m, const char *country);

/* True when target is a canonical field path a mapping may name: a path of
 * mdm_record_set other than "source", with list types up to 32 bytes and attribute
 * names up to 64. */
bool mdm_source_target_valid(const char *target);

/* Binds m to a CSV header: fills colidx[0..m->ncols) with header indexes (-1 for a mapped
 * column the header does not have: its values are empty, as a JSON record without the
 * member) and *id_col with the key column, whose absence is MDM_EINVAL naming it and
 * the file. */
mdm_status mdm_source_map_bind(const mdm_source_map *m, const mdm_csv *c, int *colidx, int *id_col,
                               mdm_err *err);

/* Fills r (which is cleared first) from the current row of c through the bound map;
 * source and source_key are set from source_name and the id column. */
void mdm_record_from_row(mdm_record *r, const mdm_source_map *m, const int *colidx, int id_col,
                         const char *source_name, const mdm_csv *c);

/* ---- string interning ---- */

/* Maps distinct strings to dense ids 0, 1, 2, ... (first come, first numbered). Not
 * thread-safe. Strings are copied into the table's own arena, each preceded by its
 * summary (mdm_intern_meta), so that per-pair comparisons of interned values read their
 * length and letters without scanning them. */
typedef struct mdm_intern mdm_intern;

/* What precedes every interned string. letters: bit c (0-31) when a byte of class c
 * (the byte & 31) occurs once or more, bit 32 + c when twice or more; extra: the bytes
 * beyond the second of their class. For two strings, popcount(x & y) + min(extra) is at
 * least the bytes they have in common (the multiset intersection of classes), equal to
 * it when no class occurs three times. ascii: no byte >= 0x80 (and len and extra not
 * cut to their types: otherwise the summary bounds nothing). */
typedef struct mdm_intern_meta {
    uint64_t letters;
    uint32_t len;
    uint16_t extra;
    uint8_t ascii;
    uint8_t pad;
} mdm_intern_meta;

/* The summary of s, which must come from mdm_intern_str. */
static inline const mdm_intern_meta *mdm_intern_meta_of(const char *s)
{
    return (const mdm_intern_meta *)(const void *)(s - sizeof(mdm_intern_meta));
}

mdm_intern *mdm_intern_new(void);
void mdm_intern_free(mdm_intern *t); /* NULL is a no-op */
/* Id of s[0..n), adding it when new. */
uint32_t mdm_intern_id(mdm_intern *t, const char *s, size_t n);
/* Id of s or UINT32_MAX when absent (never adds). */
uint32_t mdm_intern_find(const mdm_intern *t, const char *s, size_t n);
const char *mdm_intern_str(const mdm_intern *t, uint32_t id);
size_t mdm_intern_count(const mdm_intern *t);

/* 64-bit FNV-1a-style hash with a final mix; stable across runs and platforms. */
uint64_t mdm_hash64(const void *data, size_t n, uint64_t seed);

#endif
