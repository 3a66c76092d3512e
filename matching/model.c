/* Fellegi-Sunter model: configuration, features, comparison levels, scoring,
 * explanations and EM (see model.h). */
#include "matching/model.h"

#include "common/io.h"
#include "common/jsonin.h"
#include "matching/compare.h"
#include "matching/normalize.h"
#include "matching/phonetic.h"
#include "matching/strsim.h"

#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fields ---- */

static const char *const field_names[] = {
#define MDM_X_FIELD(id, name) name,
    MDM_FIELD_LIST(MDM_X_FIELD)
#undef MDM_X_FIELD
};

const char *mdm_field_name(mdm_field f)
{
    return (unsigned)f < MDM_FIELD_ATTR0   ? field_names[f]
           : (unsigned)f < MDM_FIELD_COUNT ? "attribute"
                                           : "?";
}

int mdm_field_parse(const char *name)
{
    for (int i = 0; i < MDM_FIELD_ATTR0; i++)
        if (strcmp(field_names[i], name) == 0)
            return i;
    return -1;
}

/* ---- features ---- */

static const char *norm_key(mdm_norm *n, const char *in, mdm_arena *a, mdm_buf *tmp)
{
    if (!in || !*in)
        return NULL;
    if (mdm_norm_text(n, in, NULL, tmp, NULL) != MDM_OK || !tmp->data || !tmp->data[0])
        return NULL;
    return mdm_arena_strdup(a, tmp->data);
}

/* Identifier key: letters and digits only, lower case. */
static const char *id_key(const char *in, mdm_arena *a)
{
    if (!in)
        return NULL;
    size_t n = 0, len = strlen(in);
    char *out = mdm_arena_alloc(a, len + 1);
    for (const char *p = in; *p; p++)
        if (isalnum((unsigned char)*p))
            out[n++] = (char)tolower((unsigned char)*p);
    out[n] = 0;
    return n ? out : NULL;
}

static const char *nonempty(mdm_arena *a, const char *s)
{
    return s && *s ? mdm_arena_strdup(a, s) : NULL;
}

static const char *phon_key(const char *s, mdm_arena *a)
{
    if (!s)
        return NULL;
    char p[8], alt[8];
    mdm_phon_double_metaphone(s, p, alt, 5);
    return p[0] ? mdm_arena_strdup(a, p) : NULL;
}

const char *mdm_feat_phone_key(struct mdm_norm *norm, const char *raw, const char *country,
                               mdm_arena *a)
{
    mdm_phone_norm p;
    if (!raw || mdm_norm_phone(norm, raw, country, &p, NULL) != MDM_OK)
        return NULL;
    if (p.valid && p.e164[0])
        return mdm_arena_strdup(a, p.e164);
    const char *d = id_key(p.digits[0] ? p.digits : raw, a);
    return d && strlen(d) >= 7 ? d : NULL;
}

/* Drops leading prefixes ("mr john") and trailing suffixes ("crumwell jr") of a name
 * key, keeping at least one token; a generational suffix sets *gen. A key made only of
 * affixes is kept whole (a suffix alone: *gen still set). */
static const char *strip_affixes(mdm_arena *a, const char *s, int *gen)
{
    if (!s)
        return NULL;
    const char *tok[16] = {0};
    size_t len[16] = {0}, n = 0;
    for (const char *p = s; *p && n < 16;) {
        tok[n] = p;
        len[n] = strcspn(p, " ");
        p += len[n];
        p += *p == ' ';
        n++;
    }
    size_t from = 0, to = n;
    char w[16];
#define TOKEN(i) (len[i] < sizeof w ? (memcpy(w, tok[i], len[i]), w[len[i]] = 0, w) : "")
    while (to > from && (mdm_norm_name_affix(TOKEN(to - 1)) & MDM_AFFIX_SUFFIX)) {
        int g = mdm_norm_generation(w);
        if (g)
            *gen = g;
        to--;
    }
    while (from < to && (mdm_norm_name_affix(TOKEN(from)) & MDM_AFFIX_PREFIX))
        from++;
#undef TOKEN
    if (from >= to) /* nothing but affixes: keep as given */
        return s;
    if (from == 0 && to == n)
        return s;
    size_t start = (size_t)(tok[from] - s), end = (size_t)(tok[to - 1] - s) + len[to - 1];
    return mdm_arena_strndup(a, s + start, end - start);
}

typedef struct name_keys {
    const char *first, *middle, *last;
    int gen;
} name_keys;

/* The name keys of a record from its name fields (the full name parsed when first or
 * last is absent), prefixes and suffixes left out of every part, the generation a suffix
 * names in out->gen. */
static void build_names(struct mdm_norm *norm, const mdm_record *r, const char *first_name,
                        const char *middle_name, const char *last_name, const char *full_name,
                        mdm_arena *a, mdm_buf *tmp, name_keys *out)
{
    const char *first = norm_key(norm, first_name, a, tmp);
    const char *middle = norm_key(norm, middle_name, a, tmp);
    const char *last = norm_key(norm, last_name, a, tmp);
    const char *last_suffix = NULL; /* parsed from the full name */
    if ((!first || !last) && full_name) {
        mdm_name_parts np;
        if (mdm_norm_name(norm, full_name, a, &np, NULL) == MDM_OK) {
            if (np.suffix[0] && !r->suffix)
                last_suffix = np.suffix;
            if (!first && np.first[0])
                first = np.first;
            if (!middle && np.middle[0])
                middle = np.middle;
            if (!last && np.last[0])
                last = np.last;
        }
    }
    /* prefixes and suffixes in any name field ("Mr John", "Crumwell Jr"); a suffix
     * naming a generation (Sr, Jr, III) tells a father from his son */
    int gen = 0;
    (void)strip_affixes(a, last_suffix, &gen);
    first = strip_affixes(a, first, &gen);
    middle = strip_affixes(a, middle, &gen);
    last = strip_affixes(a, last, &gen);
    if (r->suffix) {
        const char *sk = norm_key(norm, r->suffix, a, tmp);
        for (const char *p = sk; p && *p;) {
            size_t len = strcspn(p, " ");
            char tok[8];
            if (len < sizeof tok) {
                memcpy(tok, p, len);
                tok[len] = 0;
                if (mdm_norm_generation(tok))
                    gen = mdm_norm_generation(tok);
            }
            p += len;
            p += *p == ' ';
        }
    }
    out->gen = gen;
    if (first) { /* "robert james" in a first-name column: first token only */
        const char *sp = strchr(first, ' ');
        if (sp) {
            if (!middle)
                middle = sp + 1;
            first = mdm_arena_strndup(a, first, (size_t)(sp - first));
        }
    }
    out->first = first;
    out->middle = middle;
    out->last = last;
}

/* The second spelling of a name key with the digraphs of mdm_norm_translit_digraphs
 * (mueller for Müller), NULL when it has none or it equals key. */
static const char *alt_key(const char *key, const char *alt)
{
    return key && alt && strcmp(key, alt) != 0 ? alt : NULL;
}

const char *mdm_feat_value(const mdm_feat *f, mdm_field field, int i)
{
    if (field == MDM_FIELD_EMAIL)
        return i < f->n_emails ? f->emails[i] : NULL;
    if (field == MDM_FIELD_PHONE)
        return i < f->n_phones ? f->phones[i] : NULL;
    return i == 0 ? f->v[field] : NULL;
}

void mdm_feat_drop_value(mdm_feat *f, mdm_field field, const char *v)
{
    if (field == MDM_FIELD_EMAIL || field == MDM_FIELD_PHONE) {
        const char **arr = field == MDM_FIELD_EMAIL ? f->emails : f->phones;
        uint8_t *n = field == MDM_FIELD_EMAIL ? &f->n_emails : &f->n_phones;
        int o = 0;
        for (int i = 0; i < *n; i++)
            if (strcmp(arr[i], v) != 0)
                arr[o++] = arr[i];
        *n = (uint8_t)o;
        f->v[field] = o ? arr[0] : NULL;
    } else if (f->v[field] && strcmp(f->v[field], v) == 0) {
        f->v[field] = NULL;
    }
}

void mdm_feat_build(struct mdm_norm *norm, const mdm_record *r, const char *default_country,
                    mdm_arena *a, mdm_feat *f)
{
    mdm_feat_build_with(norm, r, default_country, a, f, NULL, NULL);
}

void mdm_feat_build_with(struct mdm_norm *norm, const mdm_record *r, const char *default_country,
                         mdm_arena *a, mdm_feat *f, mdm_phone_key_fn phone_fn, void *phone_ctx)
{
    mdm_feat_build_addr(norm, r, default_country, a, f, phone_fn, phone_ctx, NULL);
}

void mdm_feat_build_addr(struct mdm_norm *norm, const mdm_record *r, const char *default_country,
                         mdm_arena *a, mdm_feat *f, mdm_phone_key_fn phone_fn, void *phone_ctx,
                         const mdm_address_norm *addr0)
{
    memset(f, 0, sizeof *f);
    mdm_buf tmp = {0};
    const char *cc = default_country && *default_country ? default_country : "US";

    /* names, and their second spelling with transliteration digraphs (Müller: muller
     * and mueller) */
    name_keys nk;
    build_names(norm, r, r->first_name, r->middle_name, r->last_name, r->full_name, a, &tmp, &nk);
    const char *first = nk.first, *middle = nk.middle, *last = nk.last;
    f->gen = (int8_t)nk.gen;
    {
        char *d[4] = {
            mdm_norm_translit_digraphs(r->first_name), mdm_norm_translit_digraphs(r->middle_name),
            mdm_norm_translit_digraphs(r->last_name), mdm_norm_translit_digraphs(r->full_name)};
        if (d[0] || d[1] || d[2] || d[3]) {
            name_keys ak;
            build_names(norm, r, d[0] ? d[0] : r->first_name, d[1] ? d[1] : r->middle_name,
                        d[2] ? d[2] : r->last_name, d[3] ? d[3] : r->full_name, a, &tmp, &ak);
            f->first_alt = alt_key(first, ak.first);
            f->last_alt = alt_key(last, ak.last);
        }
        for (int i = 0; i < 4; i++)
            free(d[i]);
    }
    f->v[MDM_FIELD_FIRST_NAME] = first;
    f->v[MDM_FIELD_MIDDLE_NAME] = middle;
    f->v[MDM_FIELD_LAST_NAME] = last;
    if (first) {
        const char *canon = mdm_norm_nickname_canon(norm, first);
        f->first_canon = canon ? mdm_arena_strdup(a, canon) : first;
        f->first_phon = phon_key(first, a);
    }
    f->last_phon = phon_key(last, a);

    /* birth date and gender */
    if (r->birth_date) {
        mdm_date d;
        if (mdm_norm_date(r->birth_date, 0, &d, NULL) == MDM_OK) {
            f->by = (int16_t)d.y;
            f->bm = (int8_t)d.m;
            f->bd = (int8_t)d.d;
            /* source order hint stored by the caller in r->op? no: see mdm_feat_month_first */
            char ymd[16];
            snprintf(ymd, sizeof ymd, "%04d-%02d-%02d", d.y, d.m, d.d);
            f->v[MDM_FIELD_BIRTH_DATE] = mdm_arena_strdup(a, ymd);
        }
    }
    if (r->gender) {
        char g = (char)tolower((unsigned char)r->gender[0]);
        if (g == 'm' || g == 'f') {
            char gs[2] = {g, 0};
            f->v[MDM_FIELD_GENDER] = mdm_arena_strdup(a, gs);
        }
    }

    /* e-mails */
    for (size_t i = 0; i < r->n_emails && f->n_emails < MDM_FEAT_MULTI; i++) {
        mdm_email_norm e;
        if (mdm_norm_email(norm, r->emails[i].value, a, &e, NULL) == MDM_OK && e.key && e.key[0] &&
            strchr(e.key, '@'))
            f->emails[f->n_emails++] = e.key;
    }
    if (f->n_emails)
        f->v[MDM_FIELD_EMAIL] = f->emails[0];

    /* address (first one) and its country */
    const char *country = cc;
    if (r->n_addresses) {
        const mdm_address *ad = &r->addresses[0];
        mdm_address_norm an;
        if (addr0)
            an = *addr0;
        if (addr0 || mdm_norm_address(norm, ad->line1, ad->line2, ad->city, ad->region,
                                      ad->postal_code, ad->country, cc, a, &an, NULL) == MDM_OK) {
            f->v[MDM_FIELD_ADDRESS] = nonempty(a, an.line);
            f->v[MDM_FIELD_HOUSE_NUMBER] = nonempty(a, an.number);
            f->v[MDM_FIELD_STREET] = nonempty(a, an.street);
            f->v[MDM_FIELD_CITY] = nonempty(a, an.city);
            f->v[MDM_FIELD_REGION] = nonempty(a, an.region);
            f->v[MDM_FIELD_POSTAL_CODE] = id_key(an.postal_code, a);
            f->v[MDM_FIELD_COUNTRY] = nonempty(a, an.country);
            if (an.country[0])
                country = f->v[MDM_FIELD_COUNTRY];
        }
    }

    /* phones */
    for (size_t i = 0; i < r->n_phones && f->n_phones < MDM_FEAT_MULTI; i++) {
        const char *v = phone_fn ? phone_fn(phone_ctx, norm, r->phones[i].value, country, a)
                                 : mdm_feat_phone_key(norm, r->phones[i].value, country, a);
        if (!v)
            continue;
        bool dup = false;
        for (int k = 0; k < f->n_phones; k++)
            dup |= strcmp(f->phones[k], v) == 0;
        if (!dup)
            f->phones[f->n_phones++] = v;
    }
    if (f->n_phones)
        f->v[MDM_FIELD_PHONE] = f->phones[0];

    /* identifiers */
    f->v[MDM_FIELD_LOYALTY_ID] = id_key(r->loyalty_id, a);
    f->v[MDM_FIELD_CUSTOMER_NUMBER] = id_key(r->customer_number, a);
    f->v[MDM_FIELD_TAX_ID] = id_key(r->tax_id, a);
    f->v[MDM_FIELD_NATIONAL_ID] = id_key(r->national_id, a);
    mdm_buf_free(&tmp);
}

const char *mdm_model_field_name(const mdm_model *m, mdm_field f)
{
    if (f >= MDM_FIELD_ATTR0 && f < MDM_FIELD_COUNT) {
        const char *p = m->attr_paths[f - MDM_FIELD_ATTR0];
        return p ? p : "attribute";
    }
    return mdm_field_name(f);
}

void mdm_feat_build_attrs(const mdm_model *m, struct mdm_norm *norm, const mdm_record *r,
                          mdm_arena *a, mdm_feat *f)
{
    if (!m->nattrs)
        return;
    mdm_buf tmp = {0};
    for (int i = 0; i < m->nattrs; i++)
        for (size_t k = 0; k < r->n_attributes; k++)
            if (strcmp(r->attributes[k].key, m->attr_names[i]) == 0) {
                f->v[MDM_FIELD_ATTR0 + i] = norm_key(norm, r->attributes[k].value, a, &tmp);
                break;
            }
    mdm_buf_free(&tmp);
}

/* ---- configuration ---- */

static const struct {
    const char *name;
    mdm_cmp_type type;
    int nlevels;
} cmp_types[] = {
    {"name", MDM_CT_NAME, 5},     {"string", MDM_CT_STRING, 4}, {"tokens", MDM_CT_TOKENS, 4},
    {"date", MDM_CT_DATE, 3},     {"email", MDM_CT_EMAIL, 3},   {"phone", MDM_CT_PHONE, 3},
    {"id", MDM_CT_ID, 3},         {"postal", MDM_CT_POSTAL, 3}, {"exact", MDM_CT_EXACT, 2},
    {"custom", MDM_CT_CUSTOM, 2},
};
#define N_CMP_TYPES (sizeof cmp_types / sizeof cmp_types[0])

static const char *const key_fn_names[] = {"value", "phonetic", "soundex", "initial", "prefix3",
                                           "year",  "monthday", "last4",   "canon"};

static const char *type_name(mdm_cmp_type t)
{
    for (size_t i = 0; i < N_CMP_TYPES; i++)
        if (cmp_types[i].type == t)
            return cmp_types[i].name;
    return "?";
}

const char *mdm_model_level_name(const mdm_comparison *c, int l)
{
    if (l < 0)
        return "null";
    if (l == c->nlevels - 1)
        return "different";
    if (l == 0)
        return "exact";
    switch (c->type) {
    case MDM_CT_NAME:
        return l == 1 ? "nickname" : l == 2 ? "close" : "far";
    case MDM_CT_STRING:
    case MDM_CT_TOKENS:
        return l == 1 ? "close" : "far";
    case MDM_CT_DATE:
    case MDM_CT_EMAIL:
    case MDM_CT_PHONE:
    case MDM_CT_ID:
        return "close";
    case MDM_CT_POSTAL:
        return "same_area";
    case MDM_CT_CUSTOM: {
        static const char *const names[] = {"exact", "level1", "level2", "level3", "level4"};
        return l < 5 ? names[l] : "?";
    }
    default:
        return "?";
    }
}

/* The model document's sections through the one JSON reader (common/jsonin.h): where is
 * the section's dotted name ("" for the document itself); "comment" is allowed everywhere. */
static bool check_keys(json_t *obj, const char *where, const char *const *allowed, mdm_err *err)
{
    const char *known[64];
    size_t n = 0;
    while (n < 62 && allowed[n]) {
        known[n] = allowed[n];
        n++;
    }
    known[n++] = "comment";
    known[n] = NULL;
    mdm_jin in;
    return mdm_jin_open(&in, obj, where, MDM_EINVAL, err) && mdm_jin_known(&in, known);
}

static bool get_num(json_t *obj, const char *key, double *out, double lo, double hi,
                    const char *where, mdm_err *err)
{
    mdm_jin in;
    return mdm_jin_open(&in, obj, where, MDM_EINVAL, err) && mdm_jin_number(&in, key, lo, hi, out);
}

static bool get_bool(json_t *obj, const char *key, bool *out, const char *where, mdm_err *err)
{
    mdm_jin in;
    return mdm_jin_open(&in, obj, where, MDM_EINVAL, err) && mdm_jin_bool(&in, key, out);
}

/* clustering.group_margin: a number of bits, or "auto" (learnt in training; the default);
 * clustering.group_margin_auto says a stored number was learnt (so retraining relearns it). */
static bool parse_margin(json_t *cl, mdm_model *m, mdm_err *err)
{
    json_t *v = json_object_get(cl, "group_margin");
    json_t *a = json_object_get(cl, "group_margin_auto");
    if (a && !json_is_boolean(a)) {
        mdm_err_set(err, MDM_EINVAL, "clustering.group_margin_auto: expected true or false");
        return false;
    }
    if (!v || (json_is_string(v) && strcmp(json_string_value(v), "auto") == 0)) {
        m->group_margin_auto = true;
        return true;
    }
    if (!json_is_number(v) || fabs(json_number_value(v)) > 100) {
        mdm_err_set(err, MDM_EINVAL,
                    "clustering.group_margin: expected \"auto\" or bits in "
                    "[-100, 100]");
        return false;
    }
    m->group_margin = json_number_value(v);
    m->group_margin_auto = a && json_is_true(a);
    return true;
}

/* A field path: a built-in field, or "attributes.KEY" (a slot of m, taken on first use). */
static int model_field(mdm_model *m, const char *name)
{
    int f = mdm_field_parse(name);
    if (f >= 0 || strncmp(name, "attributes.", 11) != 0 || !name[11])
        return f;
    for (int i = 0; i < m->nattrs; i++)
        if (strcmp(m->attr_names[i], name + 11) == 0)
            return MDM_FIELD_ATTR0 + i;
    if (m->nattrs == MDM_MAX_ATTR_FIELDS)
        return -1;
    m->attr_paths[m->nattrs] = mdm_xstrdup(name);
    m->attr_names[m->nattrs] = m->attr_paths[m->nattrs] + 11;
    return MDM_FIELD_ATTR0 + m->nattrs++;
}

static bool parse_field(mdm_model *m, json_t *v, mdm_field *out, const char *where, mdm_err *err)
{
    int f = json_is_string(v) ? model_field(m, json_string_value(v)) : -1;
    if (f < 0) {
        mdm_err_set(err, MDM_EINVAL, "%s: unknown field \"%s\" (at most %d attributes)", where,
                    json_is_string(v) ? json_string_value(v) : "?", MDM_MAX_ATTR_FIELDS);
        return false;
    }
    *out = (mdm_field)f;
    return true;
}

static bool parse_rule(mdm_model *m, mdm_block_rule *r, const char *text, const char *where,
                       mdm_err *err)
{
    r->text = mdm_xstrdup(text);
    r->nparts = 0;
    char *copy = mdm_xstrdup(text), *save = NULL;
    bool ok = true;
    for (char *tok = strtok_r(copy, "+", &save); tok && ok; tok = strtok_r(NULL, "+", &save)) {
        if (r->nparts == MDM_MAX_KEY_PARTS) {
            mdm_err_set(err, MDM_EINVAL, "%s: at most %d parts per rule", where, MDM_MAX_KEY_PARTS);
            ok = false;
            break;
        }
        char *colon = strchr(tok, ':');
        const char *fn = "value";
        if (colon) {
            *colon = 0;
            fn = colon + 1;
        }
        int f = model_field(m, tok);
        if (f < 0) {
            mdm_err_set(err, MDM_EINVAL, "%s: unknown field \"%s\" in rule \"%s\"", where, tok,
                        text);
            ok = false;
            break;
        }
        int k = -1;
        for (size_t i = 0; i < sizeof key_fn_names / sizeof key_fn_names[0]; i++)
            if (strcmp(key_fn_names[i], fn) == 0)
                k = (int)i;
        if (k < 0) {
            mdm_err_set(err, MDM_EINVAL, "%s: unknown key function \"%s\" in rule \"%s\"", where,
                        fn, text);
            ok = false;
            break;
        }
        r->parts[r->nparts].field = (mdm_field)f;
        r->parts[r->nparts].fn = (mdm_key_fn)k;
        r->nparts++;
    }
    if (ok && r->nparts == 0) {
        mdm_err_set(err, MDM_EINVAL, "%s: empty blocking rule", where);
        ok = false;
    }
    free(copy);
    return ok;
}

/* The groups of mdm_groups: a contact point (e-mail, phone, address) outside every group
 * counts in "household" when the first names are apart (models without that group keep
 * their fixed groups). */
static void set_groups(mdm_model *m)
{
    mdm_groups *g = &m->grp;
    int household = -1;
    for (int i = 0; i < m->ngroups; i++)
        if (strcmp(m->groups[i], "household") == 0)
            household = i;
    m->names_k = -1;
    for (int k = 0; k < m->ncmp; k++) {
        const mdm_comparison *c = &m->cmp[k];
        g->of[k] = c->group;
        g->apart[k] = -1;
        if (c->field == MDM_FIELD_FIRST_NAME && c->type == MDM_CT_NAME && m->names_k < 0 &&
            household >= 0)
            m->names_k = k;
        switch (c->field) {
        case MDM_FIELD_EMAIL:
        case MDM_FIELD_PHONE:
        case MDM_FIELD_ADDRESS:
        case MDM_FIELD_HOUSE_NUMBER:
        case MDM_FIELD_STREET:
        case MDM_FIELD_CITY:
        case MDM_FIELD_POSTAL_CODE:
            g->apart[k] = household;
            break;
        default:
            break;
        }
    }
}

static void default_levels(mdm_comparison *c)
{
    /* start values for EM: strong agreement likely for matches, rare for non-matches */
    for (int l = 0; l < c->nlevels; l++) {
        c->m[l] = l == 0 ? 0.8 : l == c->nlevels - 1 ? 0.05 : 0.15 / (c->nlevels - 2);
        c->u[l] = l == 0 ? 0.01 : l == c->nlevels - 1 ? 0.9 : 0.09 / (c->nlevels - 2);
    }
}

static bool parse_comparison(mdm_model *mdl, mdm_comparison *c, json_t *o, const char *where,
                             mdm_err *err)
{
    static const char *const keys[] = {"name",  "field",  "type", "thresholds", "tf", "shared_null",
                                       "group", "levels", "m",    "u",          NULL};
    if (!json_is_object(o)) {
        mdm_err_set(err, MDM_EINVAL, "%s: expected an object", where);
        return false;
    }
    if (!check_keys(o, where, keys, err))
        return false;
    char w[160];
    snprintf(w, sizeof w, "%.120s.field", where);
    if (!parse_field(mdl, json_object_get(o, "field"), &c->field, w, err))
        return false;
    json_t *name = json_object_get(o, "name");
    c->name = mdm_xstrdup(json_is_string(name) ? json_string_value(name)
                                               : json_string_value(json_object_get(o, "field")));
    json_t *t = json_object_get(o, "type");
    int ti = -1;
    for (size_t i = 0; t && json_is_string(t) && i < N_CMP_TYPES; i++)
        if (strcmp(cmp_types[i].name, json_string_value(t)) == 0)
            ti = (int)i;
    if (ti < 0) {
        mdm_err_set(err, MDM_EINVAL,
                    "%s.type: expected one of name string tokens date email phone "
                    "id postal exact custom",
                    where);
        return false;
    }
    c->type = cmp_types[ti].type;
    c->nlevels = cmp_types[ti].nlevels;
    c->t0 = 0.92;
    c->t1 = 0.80;
    json_t *th = json_object_get(o, "thresholds");
    if (th) {
        if (!json_is_array(th) || json_array_size(th) != 2 ||
            !json_is_number(json_array_get(th, 0)) || !json_is_number(json_array_get(th, 1))) {
            mdm_err_set(err, MDM_EINVAL, "%s.thresholds: expected [close, far] similarities",
                        where);
            return false;
        }
        c->t0 = json_number_value(json_array_get(th, 0));
        c->t1 = json_number_value(json_array_get(th, 1));
        if (!(c->t1 >= 0 && c->t0 <= 1 && c->t1 <= c->t0)) {
            mdm_err_set(err, MDM_EINVAL,
                        "%s.thresholds: expected [close, far] similarities with 0 <= far <= "
                        "close <= 1",
                        where);
            return false;
        }
    }
    json_t *lv = json_object_get(o, "levels");
    if (c->type == MDM_CT_CUSTOM) {
        if (!json_is_array(lv) || json_array_size(lv) < 1 ||
            json_array_size(lv) > MDM_MAX_LEVELS - 2) {
            mdm_err_set(err, MDM_EINVAL, "%s.levels: expected 1 to %d {\"comparator\", \"min\"}",
                        where, MDM_MAX_LEVELS - 2);
            return false;
        }
        for (size_t i = 0; i < json_array_size(lv); i++) {
            json_t *e = json_array_get(lv, i);
            json_t *cn = json_object_get(e, "comparator"), *mn = json_object_get(e, "min");
            mdm_cmp_sim_fn fn = json_is_string(cn) ? mdm_cmp_by_name(json_string_value(cn)) : NULL;
            if (!fn || !json_is_number(mn)) {
                mdm_err_set(err, MDM_EINVAL,
                            "%s.levels[%zu]: expected {\"comparator\": jaro_winkler|jaro|"
                            "levenshtein|damerau_levenshtein|osa|jaccard|token_set, \"min\": "
                            "similarity}",
                            where, i);
                return false;
            }
            c->sim_fn[c->ncustom] = fn;
            c->sim_name[c->ncustom] = mdm_xstrdup(json_string_value(cn));
            c->sim_min[c->ncustom] = json_number_value(mn);
            c->ncustom++;
        }
        c->nlevels = 2 + c->ncustom;
    } else if (lv) {
        mdm_err_set(err, MDM_EINVAL, "%s.levels: only for type \"custom\"", where);
        return false;
    }
    c->group = -1;
    json_t *grp = json_object_get(o, "group");
    const char *gname = NULL;
    if (!grp) {
        /* what a household shares: surname, address, home phone */
        switch (c->field) {
        case MDM_FIELD_LAST_NAME:
        case MDM_FIELD_PHONE:
        case MDM_FIELD_ADDRESS:
        case MDM_FIELD_HOUSE_NUMBER:
        case MDM_FIELD_STREET:
        case MDM_FIELD_CITY:
        case MDM_FIELD_REGION:
        case MDM_FIELD_POSTAL_CODE:
        case MDM_FIELD_COUNTRY:
            gname = "household";
            break;
        default:
            break;
        }
    } else if (!json_is_null(grp)) {
        if (!json_is_string(grp) || !json_string_value(grp)[0]) {
            mdm_err_set(err, MDM_EINVAL, "%s.group: expected a group name or null", where);
            return false;
        }
        gname = json_string_value(grp);
    }
    if (gname) {
        for (int g = 0; g < mdl->ngroups; g++)
            if (strcmp(mdl->groups[g], gname) == 0)
                c->group = g;
        if (c->group < 0) {
            c->group = mdl->ngroups;
            mdl->groups[mdl->ngroups++] = mdm_xstrdup(gname);
        }
    }
    c->shared_null = c->type == MDM_CT_EMAIL || c->type == MDM_CT_PHONE || c->type == MDM_CT_ID;
    if (!get_bool(o, "tf", &c->tf, where, err) ||
        !get_bool(o, "shared_null", &c->shared_null, where, err))
        return false;
    if (c->tf && (c->field == MDM_FIELD_EMAIL || c->field == MDM_FIELD_PHONE)) {
        mdm_err_set(err, MDM_EINVAL, "%s.tf: not available on multi-valued fields", where);
        return false;
    }
    default_levels(c);
    json_t *m = json_object_get(o, "m"), *u = json_object_get(o, "u");
    if (m || u) {
        for (int pass = 0; pass < 2; pass++) {
            json_t *arr = pass ? u : m;
            double *dst = pass ? c->u : c->m;
            if (!json_is_array(arr) || (int)json_array_size(arr) != c->nlevels) {
                mdm_err_set(err, MDM_EINVAL, "%s.%s: expected %d probabilities", where,
                            pass ? "u" : "m", c->nlevels);
                return false;
            }
            for (int l = 0; l < c->nlevels; l++) {
                json_t *x = json_array_get(arr, (size_t)l);
                if (!json_is_number(x) || json_number_value(x) <= 0 || json_number_value(x) > 1) {
                    mdm_err_set(err, MDM_EINVAL, "%s.%s[%d]: expected a probability in (0, 1]",
                                where, pass ? "u" : "m", l);
                    return false;
                }
                dst[l] = json_number_value(x);
            }
        }
    }
    return true;
}

void mdm_model_free(mdm_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nsources; i++)
        mdm_source_map_clear(&m->sources[i]);
    for (int i = 0; i < m->ncmp; i++) {
        free(m->cmp[i].name);
        for (int k = 0; k < m->cmp[i].ncustom; k++)
            free(m->cmp[i].sim_name[k]);
    }
    for (int i = 0; i < m->nrules; i++)
        free(m->rules[i].text);
    for (int i = 0; i < m->ntrain_rules; i++)
        free(m->train_rules[i].text);
    for (int i = 0; i < m->ngroups; i++)
        free(m->groups[i]);
    for (int i = 0; i < m->nattrs; i++)
        free(m->attr_paths[i]);
    free(m->default_country);
    free(m);
}

mdm_model *mdm_model_from_json(json_t *doc, mdm_err *err)
{
    static const char *const top[] = {"sources",  "default_country", "comparisons",
                                      "blocking", "thresholds",      "clustering",
                                      "training", "trained",         NULL};
    if (!json_is_object(doc)) {
        mdm_err_set(err, MDM_EINVAL, "model: expected a JSON object");
        return NULL;
    }
    mdm_model *m = mdm_xcalloc(1, sizeof *m);
    m->max_block_size = 500;
    m->link_threshold = 0.9;
    m->review_threshold = 0.5;
    m->max_cluster_size = 100;
    m->min_cohesion = 0.4;
    m->min_pair_evidence = 0;
    m->group_margin_auto = true;
    m->shared_min_people = 4;
    m->hard_negatives = true;
    m->entity_merge = true;
    m->named_cohesion = true;
    m->min_person_probability = 0.01;
    m->bridge_margin = 10;
    m->u_samples = 1000000;
    m->seed = 42;
    m->em_iterations = 100;
    m->u_floor = 1e-7;
    m->prior = 1e-4;
    char w[96];
    if (!check_keys(doc, "", top, err))
        goto out_fail;

    json_t *v = json_object_get(doc, "default_country");
    if (v) {
        if (!json_is_string(v)) {
            mdm_err_set(err, MDM_EINVAL, "default_country: expected a string");
            goto out_fail;
        }
        m->default_country = mdm_xstrdup(json_string_value(v));
    }
    json_t *srcs = json_object_get(doc, "sources");
    if (srcs && mdm_model_use_sources(m, srcs, NULL, err) != MDM_OK)
        goto out_fail;

    json_t *cmps = json_object_get(doc, "comparisons");
    if (!json_is_array(cmps) || json_array_size(cmps) == 0 ||
        json_array_size(cmps) > MDM_MAX_COMPARISONS) {
        mdm_err_set(err, MDM_EINVAL, "comparisons: expected an array of 1 to %d comparisons",
                    MDM_MAX_COMPARISONS);
        goto out_fail;
    }
    for (size_t i = 0; i < json_array_size(cmps); i++) {
        snprintf(w, sizeof w, "comparisons[%zu]", i);
        m->ncmp++;
        if (!parse_comparison(m, &m->cmp[i], json_array_get(cmps, i), w, err))
            goto out_fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->cmp[j].name, m->cmp[i].name) == 0) {
                mdm_err_set(err, MDM_EINVAL, "%s.name: \"%s\" is used twice", w, m->cmp[i].name);
                goto out_fail;
            }
    }
    set_groups(m);

    json_t *blk = json_object_get(doc, "blocking");
    static const char *const blk_keys[] = {"rules", "max_block_size", NULL};
    if (!json_is_object(blk) || !check_keys(blk, "blocking", blk_keys, err)) {
        if (!json_is_object(blk))
            mdm_err_set(err, MDM_EINVAL, "blocking: expected an object with \"rules\"");
        goto out_fail;
    }
    json_t *rules = json_object_get(blk, "rules");
    if (!json_is_array(rules) || json_array_size(rules) == 0 ||
        json_array_size(rules) > MDM_MAX_BLOCK_RULES) {
        mdm_err_set(err, MDM_EINVAL, "blocking.rules: expected an array of 1 to %d rules",
                    MDM_MAX_BLOCK_RULES);
        goto out_fail;
    }
    for (size_t i = 0; i < json_array_size(rules); i++) {
        snprintf(w, sizeof w, "blocking.rules[%zu]", i);
        json_t *r = json_array_get(rules, i);
        if (!json_is_string(r)) {
            mdm_err_set(err, MDM_EINVAL, "%s: expected a string like \"last_name:phonetic\"", w);
            goto out_fail;
        }
        m->nrules++;
        if (!parse_rule(m, &m->rules[i], json_string_value(r), w, err))
            goto out_fail;
    }
    double d = (double)m->max_block_size;
    if (!get_num(blk, "max_block_size", &d, 2, 1e7, "blocking", err))
        goto out_fail;
    m->max_block_size = (long)d;

    json_t *th = json_object_get(doc, "thresholds");
    if (th) {
        static const char *const th_keys[] = {"link", "review", NULL};
        if (!json_is_object(th) || !check_keys(th, "thresholds", th_keys, err) ||
            !get_num(th, "link", &m->link_threshold, 0, 1, "thresholds", err) ||
            !get_num(th, "review", &m->review_threshold, 0, 1, "thresholds", err))
            goto out_fail;
        if (m->review_threshold > m->link_threshold) {
            mdm_err_set(err, MDM_EINVAL, "thresholds.review: must not exceed thresholds.link");
            goto out_fail;
        }
    }

    json_t *cl = json_object_get(doc, "clustering");
    if (cl) {
        static const char *const cl_keys[] = {
            "max_cluster_size",  "min_cohesion",      "strong_ids",
            "shared_min_people", "conflicts",         "one_to_one",
            "group_margin",      "min_pair_evidence", "group_margin_auto",
            "hard_negatives",    "entity_merge",      "min_person_probability",
            "bridge_margin",     "named_cohesion",    NULL};
        if (!json_is_object(cl) || !check_keys(cl, "clustering", cl_keys, err))
            goto out_fail;
        d = (double)m->max_cluster_size;
        double smp = m->shared_min_people;
        if (!get_num(cl, "max_cluster_size", &d, 2, 1e6, "clustering", err) ||
            !get_num(cl, "min_cohesion", &m->min_cohesion, 0, 1, "clustering", err) ||
            !get_num(cl, "shared_min_people", &smp, 2, 1e6, "clustering", err) ||
            !get_bool(cl, "one_to_one", &m->one_to_one, "clustering", err) ||
            !get_bool(cl, "hard_negatives", &m->hard_negatives, "clustering", err) ||
            !get_bool(cl, "entity_merge", &m->entity_merge, "clustering", err) ||
            !get_bool(cl, "named_cohesion", &m->named_cohesion, "clustering", err) ||
            !get_num(cl, "min_person_probability", &m->min_person_probability, 0, 0.5, "clustering",
                     err) ||
            !get_num(cl, "bridge_margin", &m->bridge_margin, 0, 1000, "clustering", err) ||
            !parse_margin(cl, m, err) ||
            !get_num(cl, "min_pair_evidence", &m->min_pair_evidence, -1000, 1000, "clustering",
                     err))
            goto out_fail;
        m->max_cluster_size = (long)d;
        m->shared_min_people = (int)smp;
        json_t *ids = json_object_get(cl, "strong_ids");
        if (ids) {
            if (!json_is_array(ids) || json_array_size(ids) > MDM_MAX_STRONG_IDS) {
                mdm_err_set(err, MDM_EINVAL, "clustering.strong_ids: expected up to %d fields",
                            MDM_MAX_STRONG_IDS);
                goto out_fail;
            }
            for (size_t i = 0; i < json_array_size(ids); i++) {
                snprintf(w, sizeof w, "clustering.strong_ids[%zu]", i);
                if (!parse_field(m, json_array_get(ids, i), &m->strong_ids[i], w, err))
                    goto out_fail;
                m->nstrong++;
            }
        }
        json_t *cf = json_object_get(cl, "conflicts");
        if (cf) {
            if (!json_is_array(cf)) {
                mdm_err_set(err, MDM_EINVAL, "clustering.conflicts: expected comparison names");
                goto out_fail;
            }
            for (size_t i = 0; i < json_array_size(cf) && i < MDM_MAX_COMPARISONS; i++) {
                json_t *x = json_array_get(cf, i);
                int k = -1;
                for (int j = 0; j < m->ncmp && json_is_string(x); j++)
                    if (strcmp(m->cmp[j].name, json_string_value(x)) == 0)
                        k = j;
                if (k < 0) {
                    mdm_err_set(err, MDM_EINVAL, "clustering.conflicts[%zu]: unknown comparison",
                                i);
                    goto out_fail;
                }
                m->conflict_cmp[m->nconflict++] = k;
            }
        }
    }

    json_t *tr = json_object_get(doc, "training");
    if (tr) {
        static const char *const tr_keys[] = {"u_samples", "seed",     "em_iterations",
                                              "u_floor",   "blocking", NULL};
        double us = (double)m->u_samples, seed = (double)m->seed, it = m->em_iterations;
        if (!json_is_object(tr) || !check_keys(tr, "training", tr_keys, err) ||
            !get_num(tr, "u_samples", &us, 1000, 1e9, "training", err) ||
            !get_num(tr, "seed", &seed, 0, 9e15, "training", err) ||
            !get_num(tr, "em_iterations", &it, 1, 10000, "training", err) ||
            !get_num(tr, "u_floor", &m->u_floor, 1e-12, 0.1, "training", err))
            goto out_fail;
        m->u_samples = (long)us;
        m->seed = (uint64_t)seed;
        m->em_iterations = (int)it;
        json_t *tb = json_object_get(tr, "blocking");
        if (tb && (!json_is_array(tb) || json_array_size(tb) == 0 ||
                   json_array_size(tb) > MDM_MAX_BLOCK_RULES)) {
            mdm_err_set(err, MDM_EINVAL, "training.blocking: expected an array of 1 to %d rules",
                        MDM_MAX_BLOCK_RULES);
            goto out_fail;
        }
        for (size_t i = 0; tb && i < json_array_size(tb); i++) {
            snprintf(w, sizeof w, "training.blocking[%zu]", i);
            json_t *r = json_array_get(tb, i);
            if (!json_is_string(r)) {
                mdm_err_set(err, MDM_EINVAL, "%s: expected a string", w);
                goto out_fail;
            }
            m->ntrain_rules++;
            if (!parse_rule(m, &m->train_rules[i], json_string_value(r), w, err))
                goto out_fail;
        }
    }

    json_t *tp = json_object_get(doc, "trained");
    if (tp) {
        static const char *const tp_keys[] = {"prior", "lambda_candidates", NULL};
        if (!json_is_object(tp) || !check_keys(tp, "trained", tp_keys, err) ||
            !get_num(tp, "prior", &m->prior, 1e-300, 1, "trained", err) ||
            !get_num(tp, "lambda_candidates", &m->lambda_candidates, 0, 1, "trained", err))
            goto out_fail;
        if (!json_object_get(tp, "prior")) {
            mdm_err_set(err, MDM_EINVAL, "trained.prior: missing");
            goto out_fail;
        }
        for (int k = 0; k < m->ncmp; k++) {
            json_t *c = json_array_get(cmps, (size_t)k);
            if (!json_object_get(c, "m") || !json_object_get(c, "u")) {
                mdm_err_set(err, MDM_EINVAL, "comparisons[%d]: a trained model needs m and u", k);
                goto out_fail;
            }
        }
        m->trained = true;
    }
    return m;
out_fail:
    mdm_model_free(m);
    return NULL;
}

mdm_model *mdm_model_load(const char *path, mdm_err *err)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        FILE *f = fopen(path, "r");
        if (!f) {
            mdm_err_set(err, MDM_EIO, "cannot open %s", path);
            return NULL;
        }
        fclose(f);
        mdm_err_set(err, MDM_EINVAL, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column,
                    je.text);
        return NULL;
    }
    mdm_err e2 = {0};
    mdm_model *m = mdm_model_from_json(doc, &e2);
    json_decref(doc);
    if (!m) {
        mdm_err_set(err, e2.code, "%s: %s", path, e2.msg);
        return NULL;
    }
    return m;
}

static json_t *num_array(const double *x, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(x[i]));
    return a;
}

json_t *mdm_model_json(const mdm_model *m)
{
    json_t *doc = json_object();
    json_t *srcs = json_array();
    for (int i = 0; i < m->nsources; i++)
        json_array_append_new(srcs, mdm_source_map_json(&m->sources[i]));
    json_object_set_new(doc, "sources", srcs);
    if (m->default_country)
        json_object_set_new(doc, "default_country", json_string(m->default_country));
    json_t *cmps = json_array();
    for (int k = 0; k < m->ncmp; k++) {
        const mdm_comparison *c = &m->cmp[k];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(c->name));
        json_object_set_new(o, "field", json_string(mdm_model_field_name(m, c->field)));
        json_object_set_new(o, "type", json_string(type_name(c->type)));
        if (c->type == MDM_CT_CUSTOM) {
            json_t *lvs = json_array();
            for (int q = 0; q < c->ncustom; q++)
                json_array_append_new(lvs, json_pack("{s:s,s:f}", "comparator", c->sim_name[q],
                                                     "min", c->sim_min[q]));
            json_object_set_new(o, "levels", lvs);
        }
        if (c->type == MDM_CT_NAME || c->type == MDM_CT_STRING || c->type == MDM_CT_TOKENS)
            json_object_set_new(o, "thresholds", json_pack("[f,f]", c->t0, c->t1));
        json_object_set_new(o, "tf", json_boolean(c->tf));
        json_object_set_new(o, "shared_null", json_boolean(c->shared_null));
        json_object_set_new(o, "group",
                            c->group >= 0 ? json_string(m->groups[c->group]) : json_null());
        if (m->trained) {
            json_object_set_new(o, "m", num_array(c->m, c->nlevels));
            json_object_set_new(o, "u", num_array(c->u, c->nlevels));
        }
        json_array_append_new(cmps, o);
    }
    json_object_set_new(doc, "comparisons", cmps);
    json_t *rules = json_array();
    for (int r = 0; r < m->nrules; r++)
        json_array_append_new(rules, json_string(m->rules[r].text));
    json_object_set_new(
        doc, "blocking",
        json_pack("{s:o,s:I}", "rules", rules, "max_block_size", (json_int_t)m->max_block_size));
    json_object_set_new(
        doc, "thresholds",
        json_pack("{s:f,s:f}", "link", m->link_threshold, "review", m->review_threshold));
    json_t *ids = json_array();
    for (int i = 0; i < m->nstrong; i++)
        json_array_append_new(ids, json_string(mdm_model_field_name(m, m->strong_ids[i])));
    json_t *cf = json_array();
    for (int i = 0; i < m->nconflict; i++)
        json_array_append_new(cf, json_string(m->cmp[m->conflict_cmp[i]].name));
    json_object_set_new(doc, "clustering",
                        json_pack("{s:I,s:f,s:f,s:o,s:i,s:o,s:b,s:f}", "max_cluster_size",
                                  (json_int_t)m->max_cluster_size, "min_cohesion", m->min_cohesion,
                                  "min_pair_evidence", m->min_pair_evidence, "strong_ids", ids,
                                  "shared_min_people", m->shared_min_people, "conflicts", cf,
                                  "one_to_one", m->one_to_one, "group_margin", m->group_margin));
    if (m->group_margin_auto)
        json_object_set_new(json_object_get(doc, "clustering"), "group_margin",
                            m->trained ? json_real(m->group_margin) : json_string("auto"));
    json_object_set_new(json_object_get(doc, "clustering"), "group_margin_auto",
                        json_boolean(m->group_margin_auto));
    json_object_set_new(json_object_get(doc, "clustering"), "hard_negatives",
                        json_boolean(m->hard_negatives));
    json_object_set_new(json_object_get(doc, "clustering"), "entity_merge",
                        json_boolean(m->entity_merge));
    json_object_set_new(json_object_get(doc, "clustering"), "named_cohesion",
                        json_boolean(m->named_cohesion));
    json_object_set_new(json_object_get(doc, "clustering"), "min_person_probability",
                        json_real(m->min_person_probability));
    json_object_set_new(json_object_get(doc, "clustering"), "bridge_margin",
                        json_real(m->bridge_margin));
    json_object_set_new(doc, "training",
                        json_pack("{s:I,s:I,s:i,s:f}", "u_samples", (json_int_t)m->u_samples,
                                  "seed", (json_int_t)m->seed, "em_iterations", m->em_iterations,
                                  "u_floor", m->u_floor));
    if (m->ntrain_rules) {
        json_t *tb = json_array();
        for (int r = 0; r < m->ntrain_rules; r++)
            json_array_append_new(tb, json_string(m->train_rules[r].text));
        json_object_set_new(json_object_get(doc, "training"), "blocking", tb);
    }
    if (m->trained)
        json_object_set_new(
            doc, "trained",
            json_pack("{s:f,s:f}", "prior", m->prior, "lambda_candidates", m->lambda_candidates));
    return doc;
}

mdm_status mdm_model_save(const mdm_model *m, const char *path, mdm_err *err)
{
    json_t *doc = mdm_model_json(m);
    FILE *f = mdm_io_open(path, "w"); /* "-": standard output */
    int rc =
        f ? json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : -1;
    if (f && (fputc('\n', f) == EOF || mdm_io_close(f) != 0))
        rc = -1;
    json_decref(doc);
    if (rc != 0)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    return MDM_OK;
}

mdm_status mdm_model_use_sources(mdm_model *m, json_t *sources, const char *default_country,
                                 mdm_err *err)
{
    if (!json_is_array(sources) || json_array_size(sources) > MDM_MAX_SOURCES)
        return mdm_err_set_field(err, MDM_EINVAL, "/sources",
                                 "sources: expected an array of up to %d sources", MDM_MAX_SOURCES);
    mdm_source_map parsed[MDM_MAX_SOURCES] = {0};
    size_t n = json_array_size(sources);
    for (size_t i = 0; i < n; i++) {
        mdm_status st =
            mdm_source_map_parse(&parsed[i], json_array_get(sources, i), i, MDM_SOURCE_LINK, err);
        if (st != MDM_OK) {
            while (i > 0)
                mdm_source_map_clear(&parsed[--i]);
            return st;
        }
    }
    for (int i = 0; i < m->nsources; i++)
        mdm_source_map_clear(&m->sources[i]);
    memcpy(m->sources, parsed, n * sizeof parsed[0]);
    m->nsources = (int)n;
    if (default_country) {
        free(m->default_country);
        m->default_country = mdm_xstrdup(default_country);
    }
    return MDM_OK;
}

const mdm_source_map *mdm_model_source_for(const mdm_model *m, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (int i = 0; i < m->nsources; i++) {
        const mdm_source_map *s = &m->sources[i];
        if (s->match) {
            if (fnmatch(s->match, base, 0) == 0)
                return s;
        } else if (s->code) {
            size_t n = strlen(s->code);
            if (strncmp(base, s->code, n) == 0 && (base[n] == '.' || base[n] == 0))
                return s;
        } else {
            return s;
        }
    }
    return NULL;
}

/* ---- comparison levels ---- */

/* Equality of two feature values; interned features compare pointers. Set per pair. */
static _Thread_local bool both_interned;

static bool eq(const char *a, const char *b)
{
    return a == b || (!both_interned && strcmp(a, b) == 0);
}

/* Whether the Jaro-Winkler similarity of x and y can reach t (a necessary condition,
 * cheap: the swap checks run on most pairs of different names). Jaro is at most
 * (m/|x| + m/|y| + 1) / 3 with m the matching characters, at most the letters the two
 * have in common; the Winkler boost (0.1 per common prefix letter, up to 4, above
 * Jaro 0.7) needs Jaro (t - 0.4) / 0.6. Not ASCII: no bound, true. */
static bool jw_may_reach(const char *x, const char *y, double t)
{
    double jmin = t > 0.7 ? fmax(0.7, (t - 0.4) / 0.6) : t;
    if (both_interned) {
        /* the letters from the intern table's summaries: a few instructions, where
         * counting them costs a few hundred */
        const mdm_intern_meta *mx = mdm_intern_meta_of(x), *my = mdm_intern_meta_of(y);
        if (!mx->ascii || !my->ascii)
            return true;
        if (!mx->len || !my->len)
            return false;
        double common = (double)__builtin_popcountll(mx->letters & my->letters) +
                        (double)(mx->extra < my->extra ? mx->extra : my->extra);
        return common / (double)mx->len + common / (double)my->len + 1 >= 3 * jmin - 1e-9;
    }
    unsigned short cnt[32] = {0};
    size_t lx = 0, ly = 0, common = 0;
    for (const unsigned char *p = (const unsigned char *)x; *p; p++, lx++) {
        if (*p >= 0x80)
            return true;
        cnt[*p & 31]++;
    }
    for (const unsigned char *p = (const unsigned char *)y; *p; p++, ly++) {
        if (*p >= 0x80)
            return true;
        if (cnt[*p & 31]) {
            cnt[*p & 31]--;
            common++;
        }
    }
    if (!lx || !ly)
        return false;
    return (double)common / (double)lx + (double)common / (double)ly + 1 >= 3 * jmin - 1e-9;
}

/* Whether the level of x and y needs their Jaro-Winkler similarity: false when it
 * cannot reach c's far threshold (so it is below both). Always true under
 * MDM_REFERENCE_KERNELS=1, for the differential test (tests/e2e/link_kernels.sh). */
static bool jw_needed(const mdm_comparison *c, const char *x, const char *y)
{
    return c->t1 <= 0 || jw_may_reach(x, y, c->t1) || !mdm_strsim_enabled();
}

/* Two name parts that can be one name written another way: equal, a typo (Jaro-Winkler
 * at the far threshold) or nicknames; initials never (too weak to pair a swap). */
static bool swap_compatible(const mdm_comparison *c, const char *x, const char *y)
{
    if (!x[1] || !y[1])
        return false;
    return eq(x, y) || (jw_may_reach(x, y, c->t1) && mdm_cmp_jaro_winkler(x, y) >= c->t1) ||
           mdm_norm_nickname_equiv(NULL, x, y);
}

/* x y (one record's name parts) and xo yo (the other parts of both records): the parts
 * swapped in one record with one part written another way (a typo, a nickname), or both
 * with a typo. Cheap first: most pairs fail the first Jaro-Winkler. */
static bool swapped_names(const mdm_comparison *c, const char *x, const char *y, const char *xo,
                          const char *yo)
{
    if (!x[1] || !y[1] || !xo[1] || !yo[1])
        return false;
    if (eq(x, yo))
        return swap_compatible(c, y, xo);
    if (eq(y, xo))
        return swap_compatible(c, x, yo);
    return jw_may_reach(x, yo, c->t1) && jw_may_reach(y, xo, c->t1) &&
           mdm_cmp_jaro_winkler(x, yo) >= c->t1 && mdm_cmp_jaro_winkler(y, xo) >= c->t1;
}

static int name_level(const mdm_comparison *c, const mdm_feat *a, const mdm_feat *b)
{
    const char *x = a->v[c->field], *y = b->v[c->field];
    if (!x || !y)
        return -1;
    if (eq(x, y))
        return 0;
    /* one written with transliteration digraphs (Mueller), the other with the letter
     * (Müller) */
    const char *xa = c->field == MDM_FIELD_FIRST_NAME  ? a->first_alt
                     : c->field == MDM_FIELD_LAST_NAME ? a->last_alt
                                                       : NULL;
    const char *ya = c->field == MDM_FIELD_FIRST_NAME  ? b->first_alt
                     : c->field == MDM_FIELD_LAST_NAME ? b->last_alt
                                                       : NULL;
    if ((xa && eq(xa, y)) || (ya && eq(x, ya)))
        return 0;
    if (c->field == MDM_FIELD_FIRST_NAME && a->first_canon && b->first_canon &&
        /* names of several classes (chris: christopher, christina) are short */
        (eq(a->first_canon, b->first_canon) || strlen(x) <= 5 || strlen(y) <= 5) &&
        mdm_norm_nickname_equiv(NULL, x, y))
        return 1;
    /* first and last swapped */
    mdm_field other = c->field == MDM_FIELD_FIRST_NAME  ? MDM_FIELD_LAST_NAME
                      : c->field == MDM_FIELD_LAST_NAME ? MDM_FIELD_FIRST_NAME
                                                        : c->field;
    if (other != c->field && b->v[other] && a->v[other] && eq(x, b->v[other]) && eq(y, a->v[other]))
        return 2;
    /* Jaro-Winkler only when it can reach t1 (most pairs of a birth-date block differ) */
    double s = jw_needed(c, x, y) ? mdm_cmp_jaro_winkler(x, y) : 0;
    if (s >= c->t0)
        return 2;
    if (s >= c->t1)
        return 3;
    /* an initial agreeing with the name, or the same phonetic key */
    if ((!x[1] || !y[1]) && x[0] == y[0])
        return 3;
    const char *px = c->field == MDM_FIELD_FIRST_NAME  ? a->first_phon
                     : c->field == MDM_FIELD_LAST_NAME ? a->last_phon
                                                       : NULL;
    const char *py = c->field == MDM_FIELD_FIRST_NAME  ? b->first_phon
                     : c->field == MDM_FIELD_LAST_NAME ? b->last_phon
                                                       : NULL;
    if (px && py && eq(px, py))
        return 3;
    /* a nickname with a typo (Ssie and Susan, Trsih and Patricia) */
    if (c->field == MDM_FIELD_FIRST_NAME && mdm_norm_nickname_typo(NULL, x, y))
        return 3;
    /* first and last swapped with a typo or a nickname in one of them ("Corham Jon" and
     * "Jon Crham", "Kirkano Sue" and "Susie Kirkano"), or a typo in both */
    if (other != c->field && a->v[other] && b->v[other] &&
        swapped_names(c, x, y, a->v[other], b->v[other]))
        return 3;
    return 4;
}

static int sim_level(const mdm_comparison *c, const char *x, const char *y, bool tokens)
{
    if (!x || !y)
        return -1;
    if (eq(x, y))
        return 0;
    if (!tokens && !jw_needed(c, x, y))
        return 3;
    double s = tokens ? mdm_cmp_token_set(x, y) : mdm_cmp_jaro_winkler(x, y);
    return s >= c->t0 ? 1 : s >= c->t1 ? 2 : 3;
}

/* Same length and one position differs, or one adjacent transposition. */
static bool one_edit(const char *x, const char *y)
{
    size_t n = strlen(x), m = strlen(y);
    if (n < 5 || m < 5)
        return false;
    if (n == m) {
        size_t diff = 0, first = 0;
        for (size_t i = 0; i < n; i++)
            if (x[i] != y[i]) {
                if (!diff)
                    first = i;
                diff++;
            }
        if (diff == 1)
            return true;
        return diff == 2 && first + 1 < n && x[first] == y[first + 1] && x[first + 1] == y[first] &&
               (first + 2 >= n || strcmp(x + first + 2, y + first + 2) == 0);
    }
    if (n + 1 == m || m + 1 == n)
        return mdm_cmp_levenshtein(x, y) == 1;
    return false;
}

/* x and y (one_edit) differ only in digits: every position where they differ, or the
 * character inserted, is a digit. */
static bool digits_edit(const char *x, const char *y)
{
    size_t n = strlen(x), m = strlen(y);
    if (n != m) {
        const char *l = n > m ? x : y, *s = n > m ? y : x;
        size_t i = 0;
        while (s[i] && s[i] == l[i])
            i++;
        return isdigit((unsigned char)l[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i] && !(isdigit((unsigned char)x[i]) && isdigit((unsigned char)y[i])))
            return false;
    return true;
}

static int email_level(const mdm_feat *a, const mdm_feat *b)
{
    if (!a->n_emails || !b->n_emails)
        return -1;
    int best = 2;
    for (int i = 0; i < a->n_emails; i++)
        for (int j = 0; j < b->n_emails; j++) {
            const char *x = a->emails[i], *y = b->emails[j];
            if (eq(x, y))
                return 0;
            /* a typo only: the same local part at another domain is often another person
             * of the same name (john.smith@...), and it would count the name twice; and a
             * typo in letters: richard7574@ and richard7754@ are two numbered handles */
            if (one_edit(x, y) && !digits_edit(x, y))
                best = 1;
        }
    return best;
}

static const char *tail7(const char *p)
{
    size_t n = strlen(p);
    return n > 7 ? p + n - 7 : p;
}

static int phone_level(const mdm_feat *a, const mdm_feat *b)
{
    if (!a->n_phones || !b->n_phones)
        return -1;
    int best = 2;
    for (int i = 0; i < a->n_phones; i++)
        for (int j = 0; j < b->n_phones; j++) {
            const char *x = a->phones[i], *y = b->phones[j];
            if (eq(x, y))
                return 0;
            if ((strlen(x) >= 7 && strlen(y) >= 7 && strcmp(tail7(x), tail7(y)) == 0) ||
                one_edit(x, y))
                best = 1;
        }
    return best;
}

static int custom_level(const mdm_comparison *c, const char *x, const char *y)
{
    if (eq(x, y))
        return 0;
    for (int i = 0; i < c->ncustom; i++)
        if (c->sim_fn[i](x, y) >= c->sim_min[i])
            return i + 1;
    return c->nlevels - 1;
}

static int comparison_level(const mdm_comparison *c, const mdm_feat *a, const mdm_feat *b)
{
    const char *x = a->v[c->field], *y = b->v[c->field];
    if (c->type == MDM_CT_CUSTOM) {
        int na = c->field == MDM_FIELD_EMAIL   ? a->n_emails
                 : c->field == MDM_FIELD_PHONE ? a->n_phones
                                               : 1;
        int nb = c->field == MDM_FIELD_EMAIL   ? b->n_emails
                 : c->field == MDM_FIELD_PHONE ? b->n_phones
                                               : 1;
        int best = -1;
        for (int i = 0; i < na; i++)
            for (int j = 0; j < nb; j++) {
                const char *p = c->field == MDM_FIELD_EMAIL   ? a->emails[i]
                                : c->field == MDM_FIELD_PHONE ? a->phones[i]
                                                              : x;
                const char *q = c->field == MDM_FIELD_EMAIL   ? b->emails[j]
                                : c->field == MDM_FIELD_PHONE ? b->phones[j]
                                                              : y;
                if (!p || !q)
                    continue;
                int l = custom_level(c, p, q);
                if (best < 0 || l < best)
                    best = l;
            }
        return best;
    }
    switch (c->type) {
    case MDM_CT_NAME:
        return name_level(c, a, b);
    case MDM_CT_STRING:
        return sim_level(c, x, y, false);
    case MDM_CT_TOKENS:
        return sim_level(c, x, y, true);
    case MDM_CT_DATE: {
        if (c->field != MDM_FIELD_BIRTH_DATE) {
            if (!x || !y)
                return -1;
            return eq(x, y) ? 0 : 2;
        }
        if (!a->by || !b->by)
            return -1;
        mdm_date_level dl = mdm_cmp_date(a->by, a->bm, a->bd, b->by, b->bm, b->bd);
        switch (dl) {
        case MDM_DATE_EXACT:
            return 0;
        case MDM_DATE_TRANSPOSED:
        case MDM_DATE_ONE_FIELD_OFF:
            return 1;
        case MDM_DATE_NULL:
            return -1;
        default:
            return 2;
        }
    }
    case MDM_CT_EMAIL:
        if (c->field == MDM_FIELD_EMAIL)
            return email_level(a, b);
        break;
    case MDM_CT_PHONE:
        if (c->field == MDM_FIELD_PHONE)
            return phone_level(a, b);
        break;
    default:
        break;
    }
    if (c->field == MDM_FIELD_EMAIL || c->field == MDM_FIELD_PHONE) {
        /* other types on the multi-valued fields: any value pair */
        const mdm_feat *fa = a, *fb = b;
        int na = c->field == MDM_FIELD_EMAIL ? fa->n_emails : fa->n_phones;
        int nb = c->field == MDM_FIELD_EMAIL ? fb->n_emails : fb->n_phones;
        if (!na || !nb)
            return -1;
        for (int i = 0; i < na; i++)
            for (int j = 0; j < nb; j++) {
                const char *p = c->field == MDM_FIELD_EMAIL ? fa->emails[i] : fa->phones[i];
                const char *q = c->field == MDM_FIELD_EMAIL ? fb->emails[j] : fb->phones[j];
                if (eq(p, q))
                    return 0;
            }
        return c->nlevels - 1;
    }
    if (!x || !y)
        return -1;
    if (eq(x, y))
        return 0;
    switch (c->type) {
    case MDM_CT_ID:
    case MDM_CT_EMAIL:
    case MDM_CT_PHONE:
        return one_edit(x, y) ? 1 : 2;
    case MDM_CT_POSTAL:
        return strlen(x) >= 3 && strncmp(x, y, 3) == 0 ? 1 : 2;
    default:
        return c->nlevels - 1;
    }
}

void mdm_model_levels(const mdm_model *m, const mdm_feat *a, const mdm_feat *b, int8_t *out)
{
    both_interned = a->interned && b->interned;
    for (int k = 0; k < m->ncmp; k++)
        out[k] = (int8_t)comparison_level(&m->cmp[k], a, b);
}

int mdm_model_level(const mdm_model *m, int k, const mdm_feat *a, const mdm_feat *b)
{
    both_interned = a->interned && b->interned;
    return comparison_level(&m->cmp[k], a, b);
}

bool mdm_model_may_agree(const mdm_model *m, int k, const mdm_feat *a, const mdm_feat *b)
{
    const mdm_comparison *c = &m->cmp[k];
    if (!a->interned || !b->interned || c->field == MDM_FIELD_EMAIL || c->field == MDM_FIELD_PHONE)
        return true;
    const char *x = a->v[c->field], *y = b->v[c->field];
    switch (c->type) {
    case MDM_CT_NAME:
        if (c->field == MDM_FIELD_FIRST_NAME && (a->first_alt || b->first_alt))
            return true;
        if (c->field == MDM_FIELD_LAST_NAME && (a->last_alt || b->last_alt))
            return true;
        return x && x == y;
    case MDM_CT_STRING:
    case MDM_CT_TOKENS:
        return x && x == y;
    default:
        return true;
    }
}

bool mdm_model_vetoed(const mdm_model *m, const int8_t *levels)
{
    if (!m->nconflict)
        return false;
    for (int i = 0; i < m->nconflict; i++) {
        int k = m->conflict_cmp[i];
        if (levels[k] != m->cmp[k].nlevels - 1)
            return false;
    }
    return true;
}

/* ---- hard negatives ---- */

/* token is one of the space-separated tokens of list */
static bool has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, " ");
        if (len == n && strncmp(p, token, n) == 0)
            return true;
        p += len;
        p += *p == ' ';
    }
    return false;
}

/* A word of the space-separated list starts with c. */
static bool has_initial(const char *list, char c)
{
    for (const char *p = list; p && *p; p++)
        if (*p == c && (p == list || p[-1] == ' '))
            return true;
    return false;
}

/* Two first names that cannot be one person's: not equal, not nicknames of each other,
 * no typo (Jaro-Winkler 0.8, same phonetic key), no initial, not the other's middle name
 * or surname (swapped parts). */
static bool first_names_differ(const mdm_feat *a, const mdm_feat *b)
{
    const char *x = a->v[MDM_FIELD_FIRST_NAME], *y = b->v[MDM_FIELD_FIRST_NAME];
    if (!x || !y || eq(x, y) || !x[1] || !y[1])
        return false;
    if (a->first_canon && b->first_canon && eq(a->first_canon, b->first_canon))
        return false;
    if (a->first_phon && b->first_phon && eq(a->first_phon, b->first_phon))
        return false;
    const char *lx = a->v[MDM_FIELD_LAST_NAME], *ly = b->v[MDM_FIELD_LAST_NAME];
    if ((ly && eq(x, ly)) || (lx && eq(y, lx)) || has_token(b->v[MDM_FIELD_MIDDLE_NAME], x) ||
        has_token(a->v[MDM_FIELD_MIDDLE_NAME], y))
        return false;
    if (mdm_cmp_jaro_winkler(x, y) >= 0.8)
        return false;
    return !mdm_norm_nickname_equiv(NULL, x, y) && !mdm_norm_nickname_typo(NULL, x, y);
}

/* x and y can name one person: equal, an initial of the other, a typo (Jaro-Winkler
 * t1 of the first-name comparison) or nicknames. */
static bool name_compatible(const mdm_comparison *c, const char *x, const char *y)
{
    if (eq(x, y))
        return true;
    if (!x[1] || !y[1])
        return x[0] == y[0];
    if (mdm_cmp_jaro_winkler(x, y) >= c->t1)
        return true;
    return mdm_norm_nickname_equiv(NULL, x, y);
}

/* The local part of e (before '@') holds name (3 letters or more). */
static bool mail_names(const char *e, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 3)
        return false;
    const char *at = strchr(e, '@');
    size_t len = at ? (size_t)(at - e) : strlen(e);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(e + i, name, n) == 0)
            return true;
    return false;
}

/* An e-mail address both records hold whose local part names one of them (first name or
 * its nickname class: robert.cruz@, verski_michael67@): a person's own address, so a
 * first name that disagrees is garbled, not another person's (a household's address,
 * thelopezes@ or lopezhome958@, names nobody). A first name that is either record's
 * surname (the parts swapped: "Yarmore Michelle") names the family, not a person
 * (yarmorefamily32@). */
static bool personal_mail_shared(const mdm_feat *a, const mdm_feat *b)
{
    const char *names[] = {a->v[MDM_FIELD_FIRST_NAME], b->v[MDM_FIELD_FIRST_NAME], a->first_canon,
                           b->first_canon};
    const char *la = a->v[MDM_FIELD_LAST_NAME], *lb = b->v[MDM_FIELD_LAST_NAME];
    for (int i = 0; i < a->n_emails; i++)
        for (int j = 0; j < b->n_emails; j++) {
            if (!eq(a->emails[i], b->emails[j]))
                continue;
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
                if (names[k] && !(la && eq(names[k], la)) && !(lb && eq(names[k], lb)) &&
                    mail_names(a->emails[i], names[k]))
                    return true;
        }
    return false;
}

bool mdm_model_names_apart(const mdm_model *m, const mdm_feat *a, const mdm_feat *b,
                           const int8_t *levels)
{
    int k = m->names_k;
    if (k < 0 || levels[k] != m->cmp[k].nlevels - 1)
        return false;
    both_interned = a->interned && b->interned;
    const char *x = a->v[MDM_FIELD_FIRST_NAME], *y = b->v[MDM_FIELD_FIRST_NAME];
    if (!x || !y)
        return false;
    if (!x[1] || !y[1]) {
        /* an initial of another letter (the comparison said "different", so the letters
         * differ): another name, unless it is the sound the other begins with (K and
         * Catherine) or the initial of the other's middle name */
        char c = x[1] ? y[0] : x[0];
        const char *phon = x[1] ? a->first_phon : b->first_phon;
        if ((phon && tolower((unsigned char)phon[0]) == c) ||
            has_initial(x[1] ? a->v[MDM_FIELD_MIDDLE_NAME] : b->v[MDM_FIELD_MIDDLE_NAME], c))
            return false;
    } else {
        size_t lx = strlen(x), ly = strlen(y);
        /* a short form of the other (pat/patricia, kate/kathleen), the middle name used */
        if ((lx <= 4 || ly <= 4) && strncmp(x, y, 3) == 0)
            return false;
        if (has_token(b->v[MDM_FIELD_MIDDLE_NAME], x) || has_token(a->v[MDM_FIELD_MIDDLE_NAME], y))
            return false;
    }
    /* first and last name swapped in one record (family-first systems): both parts known
     * pair up, and one at least is known */
    const char *xl = a->v[MDM_FIELD_LAST_NAME], *yl = b->v[MDM_FIELD_LAST_NAME];
    if ((xl || yl) && (!yl || name_compatible(&m->cmp[k], x, yl)) &&
        (!xl || name_compatible(&m->cmp[k], xl, y)))
        return false;
    return !personal_mail_shared(a, b);
}

/* A phone in common: twins live in one home (a birth date and a surname alone are
 * shared by a record whose first name was replaced by mistake, as in FEBRL). */
static bool same_phone(const mdm_feat *a, const mdm_feat *b)
{
    for (int i = 0; i < a->n_phones; i++)
        for (int j = 0; j < b->n_phones; j++)
            if (eq(a->phones[i], b->phones[j]))
                return true;
    return false;
}

/* The same street address: house number and street equal (and the postal code, when both
 * have one). Apartment and line 2 are left out: one home written two ways. */
static bool same_address(const mdm_feat *a, const mdm_feat *b)
{
    const char *na = a->v[MDM_FIELD_HOUSE_NUMBER], *nb = b->v[MDM_FIELD_HOUSE_NUMBER];
    const char *sa = a->v[MDM_FIELD_STREET], *sb = b->v[MDM_FIELD_STREET];
    const char *pa = a->v[MDM_FIELD_POSTAL_CODE], *pb = b->v[MDM_FIELD_POSTAL_CODE];
    return na && nb && sa && sb && eq(na, nb) && eq(sa, sb) && (!pa || !pb || eq(pa, pb));
}

/* One home (the same street address, or the same postcode and surname) and something
 * else that tells two people apart: genders that differ, or phones (e-mails) on both
 * sides with none in common (twins have a phone and an address each). A record whose
 * first name was replaced by mistake (FEBRL) keeps the rest and has nothing of the kind. */
static bool twins_at_home(const mdm_feat *a, const mdm_feat *b)
{
    const char *pa = a->v[MDM_FIELD_POSTAL_CODE], *pb = b->v[MDM_FIELD_POSTAL_CODE];
    const char *la = a->v[MDM_FIELD_LAST_NAME], *lb = b->v[MDM_FIELD_LAST_NAME];
    if (!same_address(a, b) && !(pa && pb && la && lb && eq(pa, pb) && eq(la, lb)))
        return false;
    const char *ga = a->v[MDM_FIELD_GENDER], *gb = b->v[MDM_FIELD_GENDER];
    if (ga && gb && !eq(ga, gb))
        return true;
    if (a->n_phones && b->n_phones && !same_phone(a, b))
        return true;
    if (!a->n_emails || !b->n_emails)
        return false;
    for (int i = 0; i < a->n_emails; i++)
        for (int j = 0; j < b->n_emails; j++)
            if (eq(a->emails[i], b->emails[j]))
                return false;
    return true;
}

/* One household: the same surname (or its phonetic key), address line or a phone. */
static bool same_household(const mdm_feat *a, const mdm_feat *b)
{
    const char *lx = a->v[MDM_FIELD_LAST_NAME], *ly = b->v[MDM_FIELD_LAST_NAME];
    if ((lx && ly && eq(lx, ly)) ||
        (a->last_phon && b->last_phon && eq(a->last_phon, b->last_phon)))
        return true;
    const char *ax = a->v[MDM_FIELD_ADDRESS], *ay = b->v[MDM_FIELD_ADDRESS];
    return (ax && ay && eq(ax, ay)) || same_phone(a, b);
}

/* An e-mail address or identifier in common (loyalty card, customer number, tax or
 * national id): twins share a home and a phone, not an account. */
static bool same_identifier(const mdm_feat *a, const mdm_feat *b)
{
    for (int i = 0; i < a->n_emails; i++)
        for (int j = 0; j < b->n_emails; j++)
            if (eq(a->emails[i], b->emails[j]))
                return true;
    static const mdm_field ids[] = {MDM_FIELD_LOYALTY_ID, MDM_FIELD_CUSTOMER_NUMBER,
                                    MDM_FIELD_TAX_ID, MDM_FIELD_NATIONAL_ID};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (a->v[ids[i]] && b->v[ids[i]] && eq(a->v[ids[i]], b->v[ids[i]]))
            return true;
    return false;
}

/* Only household evidence speaks for the pair: no comparison outside the evidence
 * groups and the name parts agrees with positive weight (birth date, e-mail, identifiers,
 * gender), and the first names are not one name (the first-name comparison says "far"
 * or "different": no nickname, no close typo, not swapped): Wilma and William at one
 * address. */
static bool household_only(const mdm_model *m, const mdm_feat *a, const mdm_feat *b,
                           const int8_t *lv)
{
    /* more than a typo apart: two edits at least, and more than one per four letters
     * (wilma/william 3 of 7; eliuabeth/eilzabeth, 2 of 9, is a typo), no initial */
    const char *x = a->v[MDM_FIELD_FIRST_NAME], *y = b->v[MDM_FIELD_FIRST_NAME];
    if (!x || !y || !x[1] || !y[1])
        return false;
    size_t lx = strlen(x), ly = strlen(y);
    /* a short form of the other (pat/patrica, kate/kathleen) */
    if ((lx <= 4 || ly <= 4) && strncmp(x, y, 3) == 0)
        return false;
    int dl = mdm_cmp_damerau_levenshtein(x, y);
    if (dl < 2 || (size_t)dl * 4 <= (lx > ly ? lx : ly))
        return false;
    /* first and last name swapped in one record, perhaps with a typo: one name */
    const char *xl = a->v[MDM_FIELD_LAST_NAME], *yl = b->v[MDM_FIELD_LAST_NAME];
    if (m->names_k >= 0 && xl && yl && swapped_names(&m->cmp[m->names_k], x, y, xl, yl))
        return false;
    bool names_apart = false, apart = mdm_model_names_apart(m, a, b, lv);
    for (int k = 0; k < m->ncmp; k++) {
        const mdm_comparison *c = &m->cmp[k];
        if (c->field == MDM_FIELD_FIRST_NAME && c->type == MDM_CT_NAME) {
            names_apart |= lv[k] >= 3;
            continue;
        }
        if (mdm_group_of(&m->grp, k, apart) >= 0 || c->field == MDM_FIELD_MIDDLE_NAME ||
            c->field == MDM_FIELD_LAST_NAME || lv[k] < 0 || lv[k] == c->nlevels - 1)
            continue;
        if (mdm_model_level_weight(m, k, lv[k]) > 0)
            return false;
    }
    return names_apart;
}

mdm_pair_guard mdm_model_guard(const mdm_model *m, const mdm_feat *a, const mdm_feat *b,
                               const int8_t *levels)
{
    if (!m->hard_negatives)
        return MDM_PG_NONE;
    int8_t own[MDM_MAX_COMPARISONS];
    if (!levels) {
        mdm_model_levels(m, a, b, own);
        levels = own;
    }
    both_interned = a->interned && b->interned;
    if (a->gen && b->gen && a->gen != b->gen)
        return MDM_PG_GENERATION;
    /* an identifier that agrees (exactly or but for a typo) outweighs the others: a
     * birth date or first name replaced by mistake, not another person */
    for (int k = 0; k < m->ncmp; k++) {
        mdm_field f = m->cmp[k].field;
        if ((f == MDM_FIELD_LOYALTY_ID || f == MDM_FIELD_CUSTOMER_NUMBER || f == MDM_FIELD_TAX_ID ||
             f == MDM_FIELD_NATIONAL_ID) &&
            levels[k] >= 0 && levels[k] < m->cmp[k].nlevels - 1 &&
            mdm_model_level_weight(m, k, levels[k]) > 0)
            return MDM_PG_NONE;
    }
    if (a->by && b->by && abs(a->by - b->by) >= MDM_GUARD_YEAR_GAP) {
        mdm_date_level dl = mdm_cmp_date(a->by, a->bm, a->bd, b->by, b->bm, b->bd);
        if ((dl == MDM_DATE_DIFFERENT || dl == MDM_DATE_YEARS_APART) && same_phone(a, b))
            return MDM_PG_BIRTH_YEARS;
    }
    if (a->by && a->bm && a->bd && a->by == b->by && a->bm == b->bm && a->bd == b->bd &&
        first_names_differ(a, b) && (same_phone(a, b) || twins_at_home(a, b)) &&
        !same_identifier(a, b))
        return MDM_PG_TWINS;
    if (household_only(m, a, b, levels) && same_household(a, b))
        return MDM_PG_HOUSEHOLD;
    return MDM_PG_NONE;
}

const char *mdm_model_guard_name(mdm_pair_guard g)
{
    switch (g) {
    case MDM_PG_TWINS:
        return "twins";
    case MDM_PG_GENERATION:
        return "generation";
    case MDM_PG_BIRTH_YEARS:
        return "birth_years";
    case MDM_PG_HOUSEHOLD:
        return "household";
    default:
        return "none";
    }
}

/* ---- scoring ---- */

double mdm_model_level_weight(const mdm_model *m, int k, int l)
{
    if (l < 0)
        return 0;
    return log2(m->cmp[k].m[l] / m->cmp[k].u[l]);
}

double mdm_model_prior_weight(const mdm_model *m)
{
    return log2(m->prior / (1 - m->prior));
}

double mdm_model_probability(double w)
{
    if (w > 60)
        return 1.0;
    if (w < -60)
        return 0.0;
    double o = exp2(w);
    return o / (1 + o);
}

/* mdm_model_combine, also giving the cap that applied to each group's summed weight. */
static double combine(const mdm_model *m, const double *wk, bool names_apart, double *group_adjust,
                      double *group_cap)
{
    double w = mdm_model_prior_weight(m);
    double gsum[MDM_MAX_COMPARISONS] = {0}, gmin[MDM_MAX_COMPARISONS] = {0};
    for (int k = 0; k < m->ncmp; k++) {
        int g = mdm_group_of(&m->grp, k, names_apart);
        if (g >= 0) {
            gsum[g] += wk[k];
            if (wk[k] < gmin[g])
                gmin[g] = wk[k];
        } else {
            w += wk[k];
        }
    }
    /* Without person evidence (the comparisons outside groups sum to 0 or less) the
     * cap sits MDM_GROUP_CAP_BELOW bits lower, so a group alone (a household's shared
     * surname, address and phone) stays under even odds, the review threshold, when the
     * margin is 0: relatives are not a reason to ask a steward. The step fades out
     * linearly as person evidence grows to that many bits, so the weight stays
     * continuous and monotonic in every comparison. */
    double person = w - mdm_model_prior_weight(m);
    double below = person <= 0                     ? MDM_GROUP_CAP_BELOW
                   : person >= MDM_GROUP_CAP_BELOW ? 0
                                                   : MDM_GROUP_CAP_BELOW - person;
    double cap = -mdm_model_prior_weight(m) + m->group_margin - below, adj = 0;
    for (int g = 0; g < m->ngroups; g++) {
        double v = gsum[g] > cap ? cap : gsum[g] < gmin[g] ? gmin[g] : gsum[g];
        adj += v - gsum[g];
        w += v;
    }
    if (group_adjust)
        *group_adjust = adj;
    if (group_cap)
        *group_cap = cap;
    return w;
}

double mdm_model_combine(const mdm_model *m, const double *wk, bool names_apart,
                         double *group_adjust)
{
    return combine(m, wk, names_apart, group_adjust, NULL);
}

bool mdm_model_person_conflict(const mdm_model *m, const double *wk, bool names_apart)
{
    if (!m->ngroups || m->min_person_probability <= 0)
        return false;
    double pe = 0;
    bool any = false;
    for (int k = 0; k < m->ncmp; k++)
        if (mdm_group_of(&m->grp, k, names_apart) < 0 && wk[k] != 0) {
            pe += wk[k];
            any = true;
        }
    double p = m->min_person_probability;
    return any && m->group_margin + pe < log2(p / (1 - p));
}

double mdm_model_score(const mdm_model *m, const mdm_feat *a, const mdm_feat *b,
                       const mdm_value_stats *stats, mdm_explain *ex)
{
    int8_t lv[MDM_MAX_COMPARISONS];
    double wks[MDM_MAX_COMPARISONS] = {0};
    mdm_model_levels(m, a, b, lv);
    if (ex) {
        memset(ex, 0, sizeof *ex);
        ex->n = m->ncmp;
    }
    for (int k = 0; k < m->ncmp; k++) {
        const mdm_comparison *c = &m->cmp[k];
        int l = (int)lv[k];
        if (l >= 0 && stats && stats->shared && stats->shared[k])
            l = -1;
        double wk = mdm_model_level_weight(m, k, l), adj = 0;
        if (l == 0 && c->tf && stats && stats->freq && stats->freq[k] >= 0) {
            double f = stats->freq[k] > m->u_floor ? stats->freq[k] : m->u_floor;
            adj = log2(c->u[0] / f);
        }
        wks[k] = wk + adj;
        if (ex) {
            mdm_explain_item *it = &ex->items[k];
            it->comparison = c->name;
            it->level = l;
            it->level_name = mdm_model_level_name(c, l);
            it->weight = wk + adj;
            it->tf_adjust = adj;
            it->value_a = a->v[c->field];
            it->value_b = b->v[c->field];
        }
    }
    double gadj, gcap;
    bool apart = mdm_model_names_apart(m, a, b, lv);
    double w = combine(m, wks, apart, &gadj, &gcap);
    if (ex) {
        for (int k = 0; k < m->ncmp; k++) {
            int g = mdm_group_of(&m->grp, k, apart);
            ex->items[k].group = g >= 0 ? m->groups[g] : NULL;
        }
        ex->prior_weight = mdm_model_prior_weight(m);
        ex->group_adjust = gadj;
        ex->group_cap = m->ngroups > 0 ? gcap : NAN;
        ex->weight = w;
        ex->vetoed = mdm_model_vetoed(m, lv);
        ex->guard = mdm_model_guard(m, a, b, lv);
        ex->person_conflict = mdm_model_person_conflict(m, wks, apart);
        ex->probability = ex->vetoed ? 0 : mdm_model_probability(w);
    }
    return w;
}

json_t *mdm_explain_json(const mdm_explain *ex)
{
    json_t *items = json_array();
    for (int k = 0; k < ex->n; k++) {
        const mdm_explain_item *it = &ex->items[k];
        json_t *o = json_pack("{s:s,s:s,s:i,s:f,s:f}", "comparison", it->comparison, "level",
                              it->level_name, "level_index", it->level, "weight", it->weight,
                              "tf_adjustment", it->tf_adjust);
        json_object_set_new(o, "value_a", it->value_a ? json_string(it->value_a) : json_null());
        json_object_set_new(o, "value_b", it->value_b ? json_string(it->value_b) : json_null());
        json_object_set_new(o, "group", it->group ? json_string(it->group) : json_null());
        json_array_append_new(items, o);
    }
    json_t *doc =
        json_pack("{s:f,s:o,s:f,s:f,s:f,s:b}", "prior_weight", ex->prior_weight, "comparisons",
                  items, "group_cap_adjustment", ex->group_adjust, "match_weight", ex->weight,
                  "probability", ex->probability, "vetoed", ex->vetoed);
    if (!isnan(ex->group_cap)) /* the model has evidence groups */
        json_object_set_new(doc, "group_cap", json_real(ex->group_cap));
    if (ex->guard) /* a hard negative: never linked automatically, a steward decides */
        json_object_set_new(doc, "guard", json_string(mdm_model_guard_name(ex->guard)));
    return doc;
}

/* ---- training ---- */

void mdm_model_set_u(mdm_model *m, const double counts[][MDM_MAX_LEVELS])
{
    for (int k = 0; k < m->ncmp; k++) {
        mdm_comparison *c = &m->cmp[k];
        double total = 0;
        for (int l = 0; l < c->nlevels; l++)
            total += counts[k][l];
        for (int l = 0; l < c->nlevels; l++)
            c->u[l] = (counts[k][l] + 0.5) / (total + 0.5 * c->nlevels);
    }
}

void mdm_model_monotonic(mdm_model *m)
{
    for (int k = 0; k < m->ncmp; k++) {
        mdm_comparison *c = &m->cmp[k];
        bool changed = false;
        for (int l = 1; l < c->nlevels - 1; l++) {
            double cap = c->u[l] * c->m[0] / c->u[0];
            if (c->m[l] > cap) {
                c->m[l] = cap;
                changed = true;
            }
        }
        if (!changed)
            continue;
        double z = 0;
        for (int l = 0; l < c->nlevels; l++)
            z += c->m[l];
        for (int l = 0; l < c->nlevels; l++)
            c->m[l] /= z;
    }
}

void mdm_em_run(const mdm_pattern *pats, size_t npats, int ncmp, const int *nlevels,
                const double m0[][MDM_MAX_LEVELS], const double u0[][MDM_MAX_LEVELS],
                double lambda0, int max_iter, bool fix_u, const mdm_groups *groups, double margin,
                mdm_em_result *out)
{
    memset(out, 0, sizeof *out);
    double lambda = lambda0 > 0 && lambda0 < 1 ? lambda0 : 0.1;
    double m[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS], u[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
    memcpy(m, m0, sizeof m[0] * (size_t)ncmp);
    memcpy(u, u0, sizeof u[0] * (size_t)ncmp);
    double total = 0;
    for (size_t p = 0; p < npats; p++)
        total += pats[p].count;
    int it;
    bool converged = false;
    for (it = 0; it < max_iter && total > 0; it++) {
        double sm[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS] = {{0}};
        double su[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS] = {{0}};
        double lm_[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS], lu_[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
        for (int k = 0; k < ncmp; k++)
            for (int l = 0; l < nlevels[k]; l++) {
                lm_[k][l] = log(m[k][l]);
                lu_[k][l] = log(u[k][l]);
            }
        double tm = 0;
        double llam = log(lambda), l1lam = log(1 - lambda);
        double cap = -(llam - l1lam) + margin * M_LN2;
        for (size_t p = 0; p < npats; p++) {
            double d = l1lam - llam; /* log odds against a match */
            double gs[MDM_MAX_COMPARISONS] = {0}, gm[MDM_MAX_COMPARISONS] = {0};
            bool any_group = false;
            for (int k = 0; k < ncmp; k++) {
                int l = (int)pats[p].levels[k];
                if (l < 0)
                    continue;
                double bf = lm_[k][l] - lu_[k][l];
                int gk = groups ? mdm_group_of(groups, k, pats[p].names_apart) : -1;
                if (gk >= 0) {
                    gs[gk] += bf;
                    if (bf < gm[gk])
                        gm[gk] = bf;
                    any_group = true;
                } else {
                    d -= bf;
                }
            }
            if (any_group)
                for (int g = 0; g < ncmp; g++)
                    d -= gs[g] > cap ? cap : gs[g] < gm[g] ? gm[g] : gs[g];
            double g = d > 700 ? 0 : 1 / (1 + exp(d));
            double cm = pats[p].count * g, cu = pats[p].count - cm;
            tm += cm;
            for (int k = 0; k < ncmp; k++) {
                int l = (int)pats[p].levels[k];
                if (l < 0)
                    continue;
                sm[k][l] += cm;
                su[k][l] += cu;
            }
        }
        double delta = fabs(tm / total - lambda);
        lambda = tm / total;
        if (lambda < 1e-9)
            lambda = 1e-9;
        if (lambda > 1 - 1e-9)
            lambda = 1 - 1e-9;
        for (int k = 0; k < ncmp; k++) {
            double zm = 0, zu = 0;
            for (int l = 0; l < nlevels[k]; l++) {
                zm += sm[k][l];
                zu += su[k][l];
            }
            for (int l = 0; l < nlevels[k]; l++) {
                double nm = (sm[k][l] + 0.01) / (zm + 0.01 * nlevels[k]);
                double dm = fabs(nm - m[k][l]);
                if (dm > delta)
                    delta = dm;
                m[k][l] = nm;
                if (!fix_u) {
                    double nu = (su[k][l] + 0.01) / (zu + 0.01 * nlevels[k]);
                    double du = fabs(nu - u[k][l]);
                    if (du > delta)
                        delta = du;
                    u[k][l] = nu;
                }
            }
        }
        if (delta < 1e-6) {
            converged = true;
            it++;
            break;
        }
    }
    out->lambda = lambda;
    memcpy(out->m, m, sizeof m);
    memcpy(out->u, u, sizeof u);
    out->iterations = it;
    out->converged = converged;
}
