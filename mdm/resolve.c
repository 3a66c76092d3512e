/* Incremental resolution: blocking keys, advisory locks, candidates, Fellegi-Sunter
 * scoring, decisions (link / merge / review / new entity) and the pending-record
 * worker. See resolve.h for the protocol and the invariants. */
#include "mdm/resolve.h"

#include "common/log.h"
#include "common/mem.h"
#include "matching/block.h"
#include "matching/canonical.h"
#include "matching/compare.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "matching/record.h"
#include "mdm/bulk.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/locks.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const mdm_resolve_field_names[MDM_RF_COUNT] = {
    "first_name", "last_name",  "birth_date", "email",       "phone",
    "address",    "loyalty_id", "tax_id",     "national_id", "gender"};
static const char *const level_names[MDM_RL_COUNT] = {"exact", "close", "far"};

/* ---- settings and model ---------------------------------------------------------- */

mdm_status mdm_resolve_settings_parse(const json_t *section, mdm_resolve_settings *out,
                                      mdm_err *err)
{
    out->auto_link = 0.95;
    out->review = 0.60;
    out->key_cap = 1000;
    out->max_candidates = 50;
    out->bulk_min = 1000;
    out->thresholds_set = false;
    if (!section)
        return MDM_OK;
    if (!json_is_object(section))
        return mdm_err_set_field(err, MDM_EINVAL, "/resolve", "resolve must be an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)section, k, v)
    {
        char ptr[96];
        snprintf(ptr, sizeof ptr, "/resolve/%s", k);
        if (!strcmp(k, "auto_link") || !strcmp(k, "review")) {
            double d = json_number_value(v);
            if (!json_is_number(v) || d <= 0 || d >= 1)
                return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                         "resolve.%s must be a probability in (0, 1)", k);
            if (k[0] == 'a')
                out->auto_link = d;
            else
                out->review = d;
            out->thresholds_set = true;
        } else if (!strcmp(k, "bulk_min")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 1000000000)
                return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                         "resolve.bulk_min must be an integer 0..1000000000");
            out->bulk_min = (long)json_integer_value(v);
        } else if (!strcmp(k, "key_cap") || !strcmp(k, "max_candidates")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
                return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                         "resolve.%s must be an integer 1..1000000", k);
            if (k[0] == 'k')
                out->key_cap = (int)json_integer_value(v);
            else
                out->max_candidates = (int)json_integer_value(v);
        } else {
            return mdm_err_set_field(err, MDM_EINVAL, ptr, "unknown key resolve.%s", k);
        }
    }
    if (out->review >= out->auto_link)
        return mdm_err_set_field(err, MDM_EINVAL, "/resolve/review",
                                 "resolve.review must be below resolve.auto_link");
    return MDM_OK;
}

void mdm_resolve_model_default(mdm_resolve_model *m)
{
    static const double w[MDM_RF_COUNT][MDM_RL_COUNT] = {
        [MDM_RF_FIRST] = {3.0, 2.0, -2.5},    [MDM_RF_LAST] = {4.0, 2.5, -3.5},
        [MDM_RF_DOB] = {5.0, 1.0, -5.0},      [MDM_RF_EMAIL] = {8.0, 0, -0.5},
        [MDM_RF_PHONE] = {6.0, 0, -0.5},      [MDM_RF_ADDRESS] = {3.5, 1.0, -0.5},
        [MDM_RF_LOYALTY] = {12.0, 0, -10.0},  [MDM_RF_TAX] = {14.0, 0, -12.0},
        [MDM_RF_NATIONAL] = {14.0, 0, -12.0}, [MDM_RF_GENDER] = {0.3, 0, -2.0},
    };
    m->prior = -10.0;
    memcpy(m->w, w, sizeof w);
}

mdm_status mdm_resolve_model_parse(const json_t *j, const char *where, mdm_resolve_model *m,
                                   mdm_err *err)
{
    if (!json_is_object(j))
        return mdm_err_set_field(err, MDM_EINVAL, where, "%s must be an object", where);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        char ptr[160];
        snprintf(ptr, sizeof ptr, "%s/%s", where, k);
        if (!strcmp(k, "prior")) {
            if (!json_is_number(v))
                return mdm_err_set_field(err, MDM_EINVAL, ptr, "%s must be a number", ptr);
            m->prior = json_number_value(v);
        } else if (!strcmp(k, "weights")) {
            if (!json_is_object(v))
                return mdm_err_set_field(err, MDM_EINVAL, ptr, "%s must be an object", ptr);
            const char *f;
            json_t *fv;
            json_object_foreach(v, f, fv)
            {
                int fi = -1;
                for (int i = 0; i < MDM_RF_COUNT; i++)
                    if (!strcmp(f, mdm_resolve_field_names[i]))
                        fi = i;
                char fp[224];
                snprintf(fp, sizeof fp, "%s/%s", ptr, f);
                if (fi < 0 || !json_is_object(fv))
                    return mdm_err_set_field(err, MDM_EINVAL, fp,
                                             "%s: unknown field or not an object", fp);
                const char *l;
                json_t *lv;
                json_object_foreach(fv, l, lv)
                {
                    int li = -1;
                    for (int i = 0; i < MDM_RL_COUNT; i++)
                        if (!strcmp(l, level_names[i]))
                            li = i;
                    if (li < 0 || !json_is_number(lv))
                        return mdm_err_set_field(err, MDM_EINVAL, fp,
                                                 "%s.%s: unknown level or not a number", fp, l);
                    m->w[fi][li] = json_number_value(lv);
                }
            }
        } else if (!strcmp(k, "note") || !strcmp(k, "thresholds") || !strcmp(k, "version")) {
            /* informational */
        } else {
            return mdm_err_set_field(err, MDM_EINVAL, ptr, "unknown key %s", ptr);
        }
    }
    return MDM_OK;
}

/* ---- blocking keys --------------------------------------------------------------- */

static void add_key(json_t *arr, const char *prefix, const char *a, const char *b)
{
    if (!a || !*a)
        return;
    char *k = b ? mdm_xasprintf("%s%s:%s", prefix, a, b) : mdm_xasprintf("%s%s", prefix, a);
    json_array_append_new(arr, json_string(k));
    free(k);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *builtin_keys(const json_t *canonical)
{
    const json_t *k = json_object_get(canonical, "keys");
    json_t *arr = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(k, "emails"), i, v)
    {
        add_key(arr, "em:", json_string_value(v), NULL);
    }
    json_array_foreach(json_object_get(k, "phones"), i, v)
    {
        add_key(arr, "ph:", json_string_value(v), NULL);
    }
    add_key(arr, "ly:", json_string_value(json_object_get(k, "loyalty_id")), NULL);
    add_key(arr, "tx:", json_string_value(json_object_get(k, "tax_id")), NULL);
    add_key(arr, "ni:", json_string_value(json_object_get(k, "national_id")), NULL);
    const char *sx = json_string_value(json_object_get(k, "last_sx"));
    const char *fc = json_string_value(json_object_get(k, "first_canon"));
    const char *last = json_string_value(json_object_get(k, "last"));
    const char *dob = json_string_value(json_object_get(k, "dob"));
    if (sx && fc) {
        char init[2] = {fc[0], 0};
        add_key(arr, "nm:", sx, init);
    }
    if (dob && last) {
        char pre[3] = {last[0], last[1], 0};
        add_key(arr, "db:", dob, pre);
    }
    if (fc) {
        /* postal code + first-name initial: finds movers' neighbours cheaply */
        json_array_foreach(json_object_get(k, "addresses"), i, v)
        {
            const char *pc = json_string_value(json_object_get(v, "postal"));
            if (pc && *pc) {
                char init[2] = {fc[0], 0};
                char *pk =
                    mdm_xasprintf("%s%s", json_string_value(json_object_get(v, "country")), pc);
                add_key(arr, "pc:", pk, init);
                free(pk);
            }
        }
    }
    /* sort, unique */
    size_t n = json_array_size(arr);
    const char **s = mdm_xcalloc(n ? n : 1, sizeof *s);
    for (i = 0; i < n; i++)
        s[i] = json_string_value(json_array_get(arr, i));
    qsort(s, n, sizeof *s, cmp_str);
    json_t *out = json_array();
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(s[i], s[i - 1]) != 0)
            json_array_append_new(out, json_string(s[i]));
    free(s);
    json_decref(arr);
    return out;
}

/* ---- scoring --------------------------------------------------------------------- */

static const char *kstr(const json_t *keys, const char *name)
{
    return json_string_value(json_object_get(keys, name));
}

static bool any_equal(const json_t *a, const json_t *b)
{
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(a, i, x)
    {
        json_array_foreach(b, j, y)
        {
            if (json_equal(x, y))
                return true;
        }
    }
    return false;
}

static int cmp_first(const json_t *a, const json_t *b)
{
    const char *fa = kstr(a, "first"), *fb = kstr(b, "first");
    if (!fa || !fb)
        return -1;
    if (!strcmp(fa, fb))
        return MDM_RL_EXACT;
    const char *ca = kstr(a, "first_canon"), *cb = kstr(b, "first_canon");
    if (ca && cb && !strcmp(ca, cb))
        return MDM_RL_CLOSE;
    if ((strlen(fa) == 1 || strlen(fb) == 1) && fa[0] == fb[0])
        return MDM_RL_CLOSE;
    return mdm_cmp_jaro_winkler(fa, fb) >= 0.90 ? MDM_RL_CLOSE : MDM_RL_FAR;
}

static int cmp_last(const json_t *a, const json_t *b)
{
    const char *la = kstr(a, "last"), *lb = kstr(b, "last");
    if (!la || !lb)
        return -1;
    if (!strcmp(la, lb))
        return MDM_RL_EXACT;
    const char *sa = kstr(a, "last_sx"), *sb = kstr(b, "last_sx");
    if ((sa && sb && !strcmp(sa, sb) && mdm_cmp_jaro_winkler(la, lb) >= 0.80) ||
        mdm_cmp_jaro_winkler(la, lb) >= 0.92)
        return MDM_RL_CLOSE;
    return MDM_RL_FAR;
}

static int cmp_dob(const json_t *a, const json_t *b)
{
    const char *da = kstr(a, "dob"), *db = kstr(b, "dob");
    if (!da || !db)
        return -1;
    if (!strcmp(da, db))
        return MDM_RL_EXACT;
    int y1, m1, d1, y2, m2, d2;
    if (sscanf(da, "%d-%d-%d", &y1, &m1, &d1) != 3 || sscanf(db, "%d-%d-%d", &y2, &m2, &d2) != 3)
        return MDM_RL_FAR;
    int same = (y1 == y2) + (m1 == m2) + (d1 == d2);
    if (same == 2 || (y1 == y2 && m1 == d2 && d1 == m2))
        return MDM_RL_CLOSE;
    return MDM_RL_FAR;
}

static int cmp_list(const json_t *a, const json_t *b, const char *name)
{
    const json_t *la = json_object_get(a, name), *lb = json_object_get(b, name);
    if (json_array_size(la) == 0 || json_array_size(lb) == 0)
        return -1;
    return any_equal(la, lb) ? MDM_RL_EXACT : MDM_RL_FAR;
}

static int cmp_address(const json_t *a, const json_t *b)
{
    const json_t *la = json_object_get(a, "addresses"), *lb = json_object_get(b, "addresses");
    if (json_array_size(la) == 0 || json_array_size(lb) == 0)
        return -1;
    int best = MDM_RL_FAR;
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(la, i, x)
    {
        json_array_foreach(lb, j, y)
        {
            const char *px = kstr(x, "postal"), *py = kstr(y, "postal");
            const char *lx = kstr(x, "line1"), *ly = kstr(y, "line1");
            bool same_pc = px && py && *px && !strcmp(px, py);
            bool same_line = lx && ly && *lx && mdm_cmp_jaro_winkler(lx, ly) >= 0.90;
            if (same_pc && same_line)
                return MDM_RL_EXACT;
            if (same_pc || same_line)
                best = MDM_RL_CLOSE;
        }
    }
    return best;
}

static int cmp_id(const json_t *a, const json_t *b, const char *name)
{
    const char *x = kstr(a, name), *y = kstr(b, name);
    if (!x || !y)
        return -1;
    return strcmp(x, y) ? MDM_RL_FAR : MDM_RL_EXACT;
}

static double builtin_score(const mdm_ingest_ctx *ctx, const json_t *a, const json_t *b,
                            double *probability, json_t **explanation, int *strong_conflict)
{
    const mdm_resolve_model *m = mdm_ingest_model(ctx);
    const json_t *ka = json_object_get(a, "keys"), *kb = json_object_get(b, "keys");
    int level[MDM_RF_COUNT];
    level[MDM_RF_FIRST] = cmp_first(ka, kb);
    level[MDM_RF_LAST] = cmp_last(ka, kb);
    level[MDM_RF_DOB] = cmp_dob(ka, kb);
    level[MDM_RF_EMAIL] = cmp_list(ka, kb, "emails");
    level[MDM_RF_PHONE] = cmp_list(ka, kb, "phones");
    level[MDM_RF_ADDRESS] = cmp_address(ka, kb);
    level[MDM_RF_LOYALTY] = cmp_id(ka, kb, "loyalty_id");
    level[MDM_RF_TAX] = cmp_id(ka, kb, "tax_id");
    level[MDM_RF_NATIONAL] = cmp_id(ka, kb, "national_id");
    level[MDM_RF_GENDER] = cmp_id(ka, kb, "gender");
    double w = m->prior;
    json_t *ex = explanation ? json_array() : NULL;
    int conflict = 0;
    for (int f = 0; f < MDM_RF_COUNT; f++) {
        double fw = level[f] < 0 ? 0 : m->w[f][level[f]];
        w += fw;
        if (level[f] == MDM_RL_FAR &&
            (f == MDM_RF_LOYALTY || f == MDM_RF_TAX || f == MDM_RF_NATIONAL))
            conflict = 1;
        if (ex)
            json_array_append_new(
                ex, json_pack("{s:s, s:s, s:f}", "field", mdm_resolve_field_names[f], "level",
                              level[f] < 0 ? "null" : level_names[level[f]], "weight", fw));
    }
    if (probability)
        *probability = 1.0 / (1.0 + exp2(-w));
    if (explanation)
        *explanation = ex;
    if (strong_conflict)
        *strong_conflict = conflict;
    return w;
}

/* ---- the trained engine model (matching/model.h, matching/block.h) ------------------ */

/* A canonical record with its engine features, built once and compared many times. */
typedef struct prepared {
    const json_t *canon;
    mdm_feat feat;
    bool has_feat;
} prepared;

bool mdm_resolve_features(const mdm_ingest_ctx *ctx, mdm_norm *norm, mdm_arena *a,
                          const json_t *canonical, mdm_phone_key_fn phone_fn, void *phone_ctx,
                          mdm_feat *f)
{
    const mdm_model *m = mdm_ingest_engine(ctx);
    if (!m || !norm)
        return false;
    mdm_canon_features(m, norm, a, canonical, phone_fn, phone_ctx, f);
    return true;
}

const char *mdm_resolve_phone_key(void *ctx, mdm_norm *norm, const char *raw, const char *country,
                                  mdm_arena *a)
{
    return mdm_canon_phone_key(ctx, norm, raw, country, a);
}

static void prepare(const mdm_ingest_ctx *ctx, mdm_norm *norm, mdm_arena *a, const json_t *canon,
                    prepared *p)
{
    memset(p, 0, sizeof *p);
    p->canon = canon;
    p->has_feat = mdm_resolve_features(ctx, norm, a, canon, mdm_resolve_phone_key, NULL, &p->feat);
}

static void unprepare(prepared *p)
{
    p->has_feat = false;
}

/* Scores prepared records: the engine when both have features, else built-in. */
static double score_prepared(const mdm_ingest_ctx *ctx, const prepared *a, const prepared *b,
                             double *probability, json_t **explanation, int *conflict)
{
    const mdm_model *m = mdm_ingest_engine(ctx);
    if (!m || !a->has_feat || !b->has_feat)
        return builtin_score(ctx, a->canon, b->canon, probability, explanation, conflict);
    mdm_explain ex;
    double w = mdm_model_score(m, &a->feat, &b->feat, NULL, &ex);
    if (probability)
        *probability = mdm_model_probability(w);
    if (explanation)
        *explanation = mdm_explain_json(&ex);
    if (conflict) {
        /* a hard negative (twins, generation, birth years) never links automatically: the
         * candidate goes to review with the guard named in its explanation */
        int c = ex.vetoed || ex.guard ? 1 : 0;
        for (int k = 0; k < m->nstrong; k++) {
            const char *va = a->feat.v[m->strong_ids[k]], *vb = b->feat.v[m->strong_ids[k]];
            if (va && vb && strcmp(va, vb) != 0)
                c = 1;
        }
        *conflict = c;
    }
    return w;
}

/* ---- shared values ------------------------------------------------------------------ */

/* Values of a record that many unrelated people hold (a store's phone typed at the till,
 * "noemail@..."), as the batch linker does (matching/link.c): a contact point or
 * identifier of the new record that candidates of at least the model's
 * shared_min_people different surnames (the record's own included, and one surname per
 * two holders at least) also hold stops counting as evidence: it is removed from the
 * record's features before scoring. */
static bool same_surname(const mdm_feat *a, const mdm_feat *b)
{
    const char *x = a->last_phon ? a->last_phon : a->v[MDM_FIELD_LAST_NAME];
    const char *y = b->last_phon ? b->last_phon : b->v[MDM_FIELD_LAST_NAME];
    return x && y && !strcmp(x, y);
}

static bool holds(const mdm_feat *f, int field, const char *v)
{
    if (field == MDM_FIELD_EMAIL || field == MDM_FIELD_PHONE) {
        const char *const *list = field == MDM_FIELD_EMAIL ? f->emails : f->phones;
        int n = field == MDM_FIELD_EMAIL ? f->n_emails : f->n_phones;
        for (int i = 0; i < n; i++)
            if (list[i] && !strcmp(list[i], v))
                return true;
        return false;
    }
    return f->v[field] && !strcmp(f->v[field], v);
}

/* Whether value v of field is shared: its holders (the record and its candidates) carry
 * at least kmin distinct surnames, and at least one per two holders (a person's
 * misspelt duplicates do not make their own e-mail "shared"), as in matching/link.c. */
static bool is_shared(const prepared *self, const prepared *ops, size_t n, int field, const char *v,
                      int kmin)
{
    const mdm_feat *who[64];
    int distinct = 0;
    size_t holders = 1;
    if (self->feat.v[MDM_FIELD_LAST_NAME] || self->feat.last_phon)
        who[distinct++] = &self->feat;
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].has_feat || !holds(&ops[i].feat, field, v))
            continue;
        holders++;
        if (!ops[i].feat.v[MDM_FIELD_LAST_NAME] && !ops[i].feat.last_phon)
            continue;
        bool seen = false;
        for (int k = 0; k < distinct && !seen; k++)
            seen = same_surname(who[k], &ops[i].feat);
        if (!seen && distinct < 64)
            who[distinct++] = &ops[i].feat;
    }
    return distinct >= kmin && 2 * (size_t)distinct >= holders;
}

static void drop_shared_values(const mdm_ingest_ctx *ctx, prepared *self, const prepared *ops,
                               size_t n)
{
    const mdm_model *m = mdm_ingest_engine(ctx);
    if (!m || !self->has_feat || m->shared_min_people < 2)
        return;
    static const int fields[] = {MDM_FIELD_EMAIL,      MDM_FIELD_PHONE,
                                 MDM_FIELD_LOYALTY_ID, MDM_FIELD_CUSTOMER_NUMBER,
                                 MDM_FIELD_TAX_ID,     MDM_FIELD_NATIONAL_ID};
    for (size_t fi = 0; fi < sizeof fields / sizeof fields[0]; fi++) {
        int field = fields[fi];
        bool applies = false;
        for (int k = 0; k < m->ncmp; k++)
            if ((int)m->cmp[k].field == field && m->cmp[k].shared_null)
                applies = true;
        if (!applies)
            continue;
        mdm_feat *f = &self->feat;
        if (field == MDM_FIELD_EMAIL || field == MDM_FIELD_PHONE) {
            const char **list = field == MDM_FIELD_EMAIL ? f->emails : f->phones;
            uint8_t *cnt = field == MDM_FIELD_EMAIL ? &f->n_emails : &f->n_phones;
            for (int i = 0; i < *cnt;) {
                if (list[i] && is_shared(self, ops, n, field, list[i], m->shared_min_people)) {
                    for (int j = i + 1; j < *cnt; j++)
                        list[j - 1] = list[j];
                    (*cnt)--;
                    continue;
                }
                i++;
            }
        } else if (f->v[field] &&
                   is_shared(self, ops, n, field, f->v[field], m->shared_min_people)) {
            f->v[field] = NULL;
        }
    }
}

double mdm_resolve_score(const mdm_ingest_ctx *ctx, const json_t *a, const json_t *b,
                         double *probability, json_t **explanation, int *strong_conflict)
{
    mdm_err err;
    mdm_norm *norm = mdm_ingest_engine(ctx) ? mdm_ingest_norm_acquire(&err) : NULL;
    mdm_arena *ar = mdm_arena_new(4096);
    prepared pa, pb;
    prepare(ctx, norm, ar, a, &pa);
    prepare(ctx, norm, ar, b, &pb);
    double w = score_prepared(ctx, &pa, &pb, probability, explanation, strong_conflict);
    unprepare(&pa);
    unprepare(&pb);
    mdm_arena_free(ar);
    mdm_ingest_norm_release(norm);
    return w;
}

json_t *mdm_resolve_keys(const mdm_ingest_ctx *ctx, const json_t *canonical)
{
    const mdm_model *m = mdm_ingest_engine(ctx);
    if (!m)
        return builtin_keys(canonical);
    mdm_err err;
    mdm_norm *norm = mdm_ingest_norm_acquire(&err);
    if (!norm)
        return builtin_keys(canonical);
    mdm_arena *ar = mdm_arena_new(4096);
    prepared p;
    prepare(ctx, norm, ar, canonical, &p);
    const char *keys[128];
    size_t n = mdm_block_keys(m, &p.feat, ar, keys, 128);
    if (n > 128)
        n = 128;
    qsort(keys, n, sizeof *keys, cmp_str);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(keys[i], keys[i - 1]) != 0)
            json_array_append_new(out, json_string(keys[i]));
    unprepare(&p);
    mdm_arena_free(ar);
    mdm_ingest_norm_release(norm);
    return out;
}

/* ---- statements ------------------------------------------------------------------ */

/* Everything resolution reads about the record itself, in one round trip: its canonical
 * form, its current blocking keys and entity, and the steward assertions that name it
 * (with the entity the other record is in now). */
static const mdm_db_stmt stmt_record = {
    "resolve_record",
    "SELECT sr.source, sr.source_key, sr.normalized, sr.deleted, "
    "(SELECT coalesce(json_agg(key), '[]') FROM blocking_key WHERE record_id = sr.id) AS old_keys, "
    "(SELECT entity_id FROM membership WHERE record_id = sr.id AND active) AS current, "
    "(SELECT coalesce(json_agg(json_build_object('kind', a.kind, 'entity', m.entity_id)), '[]') "
    " FROM steward_assertion a LEFT JOIN membership m ON m.active AND m.record_id = "
    " CASE WHEN a.record_a = sr.id THEN a.record_b ELSE a.record_a END "
    " WHERE a.record_a = sr.id OR a.record_b = sr.id) AS assertions "
    "FROM source_record sr WHERE sr.id = $1",
    1};

/* Waits for a bulk resolution in progress (mdm/bulk.h) and keeps the next from starting
 * until this transaction ends. */
static const mdm_db_stmt stmt_gate = {"resolve_gate",
                                      "SELECT pg_advisory_xact_lock_shared(" MDM_LOCK_BULK ")", 0};

static const mdm_db_stmt stmt_old_keys = {"resolve_old_keys",
                                          "SELECT key FROM blocking_key WHERE record_id = $1", 1};

static const mdm_db_stmt stmt_lock = {
    "resolve_lock",
    "SELECT count(pg_advisory_xact_lock(h)) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(h, o)",
    1};

static const mdm_db_stmt stmt_set_keys = {
    "resolve_set_keys",
    "WITH del AS (DELETE FROM blocking_key WHERE record_id = $1 AND NOT (key = ANY($2::bigint[]))) "
    "INSERT INTO blocking_key (key, record_id) SELECT k, $1 FROM unnest($2::bigint[]) k "
    "ON CONFLICT DO NOTHING",
    2};

/* A key held by more than $3 records is no evidence: at most $3 + 1 entries of its index
 * range are read to tell. */
static const mdm_db_stmt stmt_candidates = {
    "resolve_candidates",
    "SELECT m.entity_id, c.record_id, sr.normalized FROM "
    "(SELECT r AS record_id, count(*) AS shared FROM "
    "  (SELECT array(SELECT bk.record_id FROM blocking_key bk WHERE bk.key = k "
    "   LIMIT $3 + 1) AS ids FROM unnest($2::bigint[]) k) h, unnest(h.ids) r "
    "  WHERE cardinality(h.ids) <= $3 AND r <> $1 "
    "  GROUP BY r ORDER BY count(*) DESC, r LIMIT $4) c "
    "JOIN membership m ON m.record_id = c.record_id AND m.active "
    "JOIN source_record sr ON sr.id = c.record_id "
    "ORDER BY m.entity_id, c.record_id",
    4};

/* the record is resolved: off the pending list if a bulk load put it there; the version
 * of its golden record */
static const mdm_db_stmt stmt_resolved = {
    "resolve_done",
    "WITH done AS (DELETE FROM record_pending WHERE record_id = $1) "
    "SELECT version FROM entity WHERE id = $2::bigint",
    2};

/* the same for a record inserted by this transaction, which no load can have listed */
static const mdm_db_stmt stmt_entity_version = {
    "resolve_entity_version", "SELECT version FROM entity WHERE id = $1::bigint", 1};

static const mdm_db_stmt stmt_forgotten = {"resolve_forgotten",
                                           "DELETE FROM record_pending WHERE record_id = $1", 1};

static const mdm_db_stmt stmt_review = {
    "resolve_review",
    "INSERT INTO review_item (kind, record_id, entity_id, other_entity_id, score, probability, "
    "explanation, priority) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $6) RETURNING id",
    7};

static const mdm_db_stmt stmt_supersede = {
    "resolve_supersede",
    "UPDATE review_item SET status = 'superseded', updated_at = now(), version = version + 1 "
    "WHERE record_id = $1 AND status IN ('open', 'deferred')",
    1};

static const mdm_db_stmt stmt_forget = {"resolve_forget",
                                        "DELETE FROM blocking_key WHERE record_id = $1", 1};

static const mdm_db_stmt stmt_members = {
    "resolve_members",
    "SELECT sr.id, sr.normalized FROM membership m JOIN source_record sr ON sr.id = m.record_id "
    "WHERE m.entity_id = $1 AND m.active ORDER BY sr.id LIMIT 100",
    1};

static const mdm_db_stmt stmt_never_between = {
    "resolve_never_between",
    "SELECT 1 FROM steward_assertion a "
    "JOIN membership ma ON ma.record_id = a.record_a AND ma.active "
    "JOIN membership mb ON mb.record_id = a.record_b AND mb.active "
    "WHERE a.kind = 'never_link' AND ((ma.entity_id = $1 AND mb.entity_id = $2) OR "
    "(ma.entity_id = $2 AND mb.entity_id = $1)) LIMIT 1",
    2};

/* MD5, fetched once: the implicit fetch of EVP_md5() doubles the cost per key. */
static EVP_MD *md5_md;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_fetch(void)
{
    md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
}

int64_t mdm_resolve_key_id(const char *key)
{
    pthread_once(&md5_once, md5_fetch);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!md5_md || !EVP_Digest(key, strlen(key), d, &len, md5_md, NULL) || len < 8)
        abort(); /* MD5 is in every OpenSSL build: a broken library, as out of memory */
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | d[i];
    return (int64_t)v;
}

static int cmp_ll(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts and removes duplicates; the new count. */
static size_t sort_unique(int64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_ll);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[k - 1])
            v[k++] = v[i];
    return k;
}

int64_t *mdm_resolve_key_ids(const json_t *keys, size_t *n)
{
    size_t k = json_array_size(keys);
    int64_t *ids = mdm_xcalloc(k ? k : 1, sizeof *ids);
    for (size_t i = 0; i < k; i++)
        ids[i] = mdm_resolve_key_id(json_string_value(json_array_get(keys, i)));
    *n = sort_unique(ids, k);
    return ids;
}

/* PostgreSQL array literal of ids: {1,-2,3}. */
static char *pg_id_array(const int64_t *v, size_t n)
{
    mdm_buf b = {0};
    mdm_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++)
        mdm_buf_printf(&b, "%s%lld", i ? "," : "", (long long)v[i]);
    mdm_buf_putc(&b, '}');
    return mdm_buf_steal(&b);
}

/* Takes the advisory locks of key ids (sorted, unique: every process locks in the same
 * order). */
static mdm_status lock_keys(mdm_db *db, const int64_t *ids, size_t n, mdm_err *err)
{
    if (n == 0)
        return MDM_OK;
    char *arr = pg_id_array(ids, n);
    const char *p[1] = {arr};
    mdm_status st = mdm_db_exec(db, &stmt_lock, p, NULL, err);
    free(arr);
    return st;
}

mdm_status mdm_resolve_gate(mdm_db *db, mdm_err *err)
{
    return mdm_db_exec(db, &stmt_gate, NULL, NULL, err);
}

mdm_status mdm_resolve_forget(mdm_db *db, int64_t record_id, mdm_err *err)
{
    char rid[32];
    snprintf(rid, sizeof rid, "%lld", (long long)record_id);
    const char *p[1] = {rid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_old_keys, p, &res, err);
    if (st != MDM_OK)
        return st;
    size_t n = (size_t)PQntuples(res);
    int64_t *ids = mdm_xcalloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = mdm_db_get_ll(res, (int)i, "key", 0);
    PQclear(res);
    st = lock_keys(db, ids, sort_unique(ids, n), err);
    free(ids);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_forget, p, NULL, err);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_supersede, p, NULL, err);
    return st;
}

/* ---- candidates ------------------------------------------------------------------ */

/* The scored candidate rows, kept so that the explanation of a candidate (costly: JSON
 * field by field) is built only when a decision uses it (cand_expl). */
typedef struct cand_rows {
    mdm_arena *ar;
    prepared self;
    json_t **others;
    prepared *ops;
    int n;
} cand_rows;

typedef struct cand {
    int64_t entity_id;
    double p, w;
    json_t *expl;
    int conflict, never, always;
    const cand_rows *rows; /* with row: where expl comes from while it is NULL */
    int row;
} cand;

typedef struct cand_set {
    cand *v;
    size_t n, cap;
    cand_rows *rows;
} cand_set;

static void cand_rows_free(cand_rows *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        if (r->others[i])
            unprepare(&r->ops[i]);
        json_decref(r->others[i]);
    }
    unprepare(&r->self);
    free(r->others);
    free(r->ops);
    mdm_arena_free(r->ar);
    free(r);
}

/* c's explanation (of its best row), built on first use; NULL when it has none. */
static const json_t *cand_expl(const mdm_ingest_ctx *ctx, cand *c)
{
    if (!c->expl && c->rows) {
        double prob;
        int conflict;
        score_prepared(ctx, &c->rows->self, &c->rows->ops[c->row], &prob, &c->expl, &conflict);
        c->rows = NULL;
    }
    return c->expl;
}

static cand *cand_get(cand_set *s, int64_t entity_id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].entity_id == entity_id)
            return &s->v[i];
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = mdm_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    cand *c = &s->v[s->n++];
    memset(c, 0, sizeof *c);
    c->entity_id = entity_id;
    c->p = -1;
    c->w = -1e9;
    return c;
}

static void cand_free(cand_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->v[i].expl);
    free(s->v);
    cand_rows_free(s->rows);
}

/* Best first: forced, then probability, then the older entity. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->always != y->always)
        return y->always - x->always;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return (x->entity_id > y->entity_id) - (x->entity_id < y->entity_id);
}

/* The candidate query of the key ids karr (an array literal, borrowed) as a pipelined
 * call; its parameter texts live in q, which must stay where it is until the call has
 * run. */
typedef struct cand_query {
    char rid[32], cap[16], lim[16];
    const char *p[4];
} cand_query;

static void cand_query_set(cand_query *q, const mdm_ingest_ctx *ctx, const char *karr, int64_t self,
                           mdm_db_call *call)
{
    const mdm_resolve_settings *rs = mdm_ingest_resolve_settings(ctx);
    snprintf(q->rid, sizeof q->rid, "%lld", (long long)self);
    snprintf(q->cap, sizeof q->cap, "%d", rs->key_cap);
    snprintf(q->lim, sizeof q->lim, "%d", rs->max_candidates);
    q->p[0] = q->rid;
    q->p[1] = karr;
    q->p[2] = q->cap;
    q->p[3] = q->lim;
    *call = (mdm_db_call){.stmt = &stmt_candidates, .params = q->p};
}

/* Scores the candidate rows of res (stmt_candidates for canon) into s. */
static void score_candidates(const mdm_ingest_ctx *ctx, const json_t *canon, const PGresult *res,
                             cand_set *s)
{
    int n = PQntuples(res);
    if (n == 0)
        return;
    if (s->rows) { /* rows of an earlier call: their explanations now */
        for (size_t k = 0; k < s->n; k++)
            cand_expl(ctx, &s->v[k]);
        cand_rows_free(s->rows);
    }
    mdm_err err = {0};
    mdm_norm *norm = mdm_ingest_engine(ctx) ? mdm_ingest_norm_acquire(&err) : NULL;
    cand_rows *r = mdm_xcalloc(1, sizeof *r);
    s->rows = r;
    r->ar = mdm_arena_new(16384);
    r->n = n;
    prepare(ctx, norm, r->ar, canon, &r->self);
    r->others = mdm_xcalloc((size_t)n, sizeof(json_t *));
    r->ops = mdm_xcalloc((size_t)n, sizeof *r->ops);
    for (int i = 0; i < n; i++) {
        r->others[i] = json_loads(mdm_db_get(res, i, "normalized", "{}"), 0, NULL);
        if (r->others[i])
            prepare(ctx, norm, r->ar, r->others[i], &r->ops[i]);
    }
    mdm_ingest_norm_release(norm);
    drop_shared_values(ctx, &r->self, r->ops, (size_t)n);
    for (int i = 0; i < n; i++) {
        if (!r->others[i])
            continue;
        int64_t eid = mdm_db_get_ll(res, i, "entity_id", 0);
        double prob;
        int conflict;
        double w = score_prepared(ctx, &r->self, &r->ops[i], &prob, NULL, &conflict);
        cand *c = cand_get(s, eid);
        c->conflict |= conflict;
        if (w > c->w) {
            c->w = w;
            c->p = prob;
            json_decref(c->expl);
            c->expl = NULL;
            c->rows = r;
            c->row = i;
        }
    }
}

/* Scores the candidates of canon (key ids given) into s. */
static mdm_status gather(mdm_db *db, const mdm_ingest_ctx *ctx, const json_t *canon,
                         const int64_t *kids, size_t nk, int64_t self, cand_set *s, mdm_err *err)
{
    char *karr = pg_id_array(kids, nk);
    cand_query q;
    mdm_db_call call;
    cand_query_set(&q, ctx, karr, self, &call);
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, call.stmt, call.params, &res, err);
    free(karr);
    if (st != MDM_OK)
        return st;
    score_candidates(ctx, canon, res, s);
    PQclear(res);
    return MDM_OK;
}

/* Entity-to-entity evidence: the best member pair and whether any pair conflicts or a
 * never_link assertion separates them. */
static mdm_status entity_evidence(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t a, int64_t b,
                                  double *best_p, int *blocked, mdm_err *err)
{
    *best_p = 0;
    *blocked = 0;
    char sa[32], sb[32];
    snprintf(sa, sizeof sa, "%lld", (long long)a);
    snprintf(sb, sizeof sb, "%lld", (long long)b);
    PGresult *ra = NULL, *rb = NULL, *rn = NULL;
    const char *pa[1] = {sa}, *pb[1] = {sb}, *pn[2] = {sa, sb};
    mdm_status st = mdm_db_exec(db, &stmt_never_between, pn, &rn, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(rn) > 0)
        *blocked = 1;
    PQclear(rn);
    if ((st = mdm_db_exec(db, &stmt_members, pa, &ra, err)) != MDM_OK)
        return st;
    if ((st = mdm_db_exec(db, &stmt_members, pb, &rb, err)) != MDM_OK) {
        PQclear(ra);
        return st;
    }
    int na = PQntuples(ra), nb = PQntuples(rb);
    mdm_norm *norm = mdm_ingest_engine(ctx) ? mdm_ingest_norm_acquire(err) : NULL;
    mdm_arena *ar = mdm_arena_new(16384);
    json_t **jb = mdm_xcalloc((size_t)nb + 1, sizeof(json_t *));
    prepared *pbs = mdm_xcalloc((size_t)nb + 1, sizeof *pbs);
    for (int j = 0; j < nb; j++) {
        jb[j] = json_loads(mdm_db_get(rb, j, "normalized", "{}"), 0, NULL);
        if (jb[j])
            prepare(ctx, norm, ar, jb[j], &pbs[j]);
    }
    for (int i = 0; i < na; i++) {
        json_t *x = json_loads(mdm_db_get(ra, i, "normalized", "{}"), 0, NULL);
        if (!x)
            continue;
        prepared px;
        prepare(ctx, norm, ar, x, &px);
        for (int j = 0; j < nb; j++) {
            if (!jb[j])
                continue;
            double p;
            int conflict;
            score_prepared(ctx, &px, &pbs[j], &p, NULL, &conflict);
            if (conflict)
                *blocked = 1;
            if (p > *best_p)
                *best_p = p;
        }
        unprepare(&px);
        json_decref(x);
    }
    for (int j = 0; j < nb; j++) {
        unprepare(&pbs[j]);
        json_decref(jb[j]);
    }
    free(pbs);
    free(jb);
    mdm_arena_free(ar);
    mdm_ingest_norm_release(norm);
    PQclear(ra);
    PQclear(rb);
    return MDM_OK;
}

static mdm_status add_review(mdm_db *db, const char *kind, int64_t record_id, int64_t entity_id,
                             int64_t other, const cand *c, int64_t *id, mdm_err *err)
{
    char rid[32], eid[32], oid[32], score[32], prob[32];
    snprintf(rid, sizeof rid, "%lld", (long long)record_id);
    snprintf(eid, sizeof eid, "%lld", (long long)entity_id);
    snprintf(oid, sizeof oid, "%lld", (long long)other);
    snprintf(score, sizeof score, "%.6f", c->w);
    snprintf(prob, sizeof prob, "%.6f", c->p);
    char *ex = c->expl ? json_dumps(c->expl, JSON_COMPACT) : mdm_xstrdup("[]");
    const char *p[7] = {kind, record_id ? rid : NULL, eid, other ? oid : NULL, score, prob, ex};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_review, p, &res, err);
    free(ex);
    if (st == MDM_OK) {
        *id = mdm_db_get_ll(res, 0, "id", 0);
        PQclear(res);
    }
    return st;
}

/* Tries to merge entity `other` into the group of `*target` (bridge). Merges when the
 * entity-level evidence passes or the merge is forced; else queues a review item. */
static mdm_status bridge(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t *target, cand *other,
                         const char *actor, mdm_ingest_result *out, mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_ingest_resolve_settings(ctx);
    if (other->entity_id == *target)
        return MDM_OK;
    double ep = 0;
    int blocked = 0;
    mdm_status st = entity_evidence(db, ctx, *target, other->entity_id, &ep, &blocked, err);
    if (st != MDM_OK)
        return st;
    if (other->always || (!blocked && ep >= rs->review)) {
        int64_t survivor = 0;
        char reason[96];
        snprintf(reason, sizeof reason, "bridged by record %lld (entity evidence %.3f)",
                 (long long)out->record_id, ep);
        st = mdm_golden_merge(db, ctx, *target, other->entity_id, "auto", actor, reason, other->p,
                              &survivor, err);
        if (st == MDM_ECONFLICT) /* already one entity (a concurrent merge) */
            return mdm_golden_lock(db, target, err);
        if (st != MDM_OK)
            return st;
        *target = survivor;
        out->decision = MDM_DECISION_MERGED;
        return MDM_OK;
    }
    cand_expl(ctx, other);
    cand ec = *other;
    ec.p = ep;
    return add_review(db, "entity_entity", 0, *target, other->entity_id, &ec, &out->review_id, err);
}

/* What resolution reads about the record before it decides (stmt_record, or known to
 * the caller that has just inserted it); owned. */
typedef struct record_facts {
    json_t *canon;
    char *source, *source_key;
    json_t *old_keys, *assertions;
    int64_t current;
    bool inserted; /* by this transaction: not on record_pending */
} record_facts;

static mdm_status resolve_facts(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                                record_facts *f, const char *actor, mdm_ingest_result *out,
                                mdm_err *err);

void mdm_resolve_record_call(int64_t record_id, mdm_db_call *call)
{
    mdm_db_call_id(call, &stmt_record, record_id);
}

mdm_status mdm_resolve_record_read(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                                   const PGresult *res, const char *actor, mdm_ingest_result *out,
                                   mdm_err *err)
{
    out->record_id = record_id;
    if (PQntuples(res) != 1)
        return mdm_err_set(err, MDM_ENOTFOUND, "no source record %lld", (long long)record_id);
    record_facts f = {
        json_loads(mdm_db_get(res, 0, "normalized", "{}"), 0, NULL),
        mdm_xstrdup(mdm_db_get(res, 0, "source", "")),
        mdm_xstrdup(mdm_db_get(res, 0, "source_key", "")),
        json_loads(mdm_db_get(res, 0, "old_keys", "[]"), 0, NULL),
        json_loads(mdm_db_get(res, 0, "assertions", "[]"), 0, NULL),
        mdm_db_get_ll(res, 0, "current", 0),
        false,
    };
    return resolve_facts(db, ctx, record_id, &f, actor, out, err);
}

mdm_status mdm_resolve_record(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                              const char *actor, mdm_ingest_result *out, mdm_err *err)
{
    mdm_db_call call;
    mdm_resolve_record_call(record_id, &call);
    out->record_id = record_id;
    mdm_status st = mdm_db_exec(db, call.stmt, call.params, &call.res, err);
    if (st != MDM_OK)
        return st;
    st = mdm_resolve_record_read(db, ctx, record_id, call.res, actor, out, err);
    PQclear(call.res);
    return st;
}

mdm_status mdm_resolve_new_record(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                                  const json_t *canonical, const char *source,
                                  const char *source_key, const char *actor, mdm_ingest_result *out,
                                  mdm_err *err)
{
    out->record_id = record_id;
    record_facts f = {json_incref((json_t *)canonical),
                      mdm_xstrdup(source),
                      mdm_xstrdup(source_key),
                      json_array(),
                      json_array(),
                      0,
                      true};
    return resolve_facts(db, ctx, record_id, &f, actor, out, err);
}

/* Resolves the record of f (consumed). */
static mdm_status resolve_facts(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                                record_facts *f, const char *actor, mdm_ingest_result *out,
                                mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_ingest_resolve_settings(ctx);
    char rid[32];
    snprintf(rid, sizeof rid, "%lld", (long long)record_id);
    const char *p1[1] = {rid};
    json_t *canon = f->canon;
    int64_t *kids = NULL, *lockset = NULL;
    size_t nk = 0;
    char *source = f->source, *source_key = f->source_key;
    json_t *old_keys = f->old_keys, *assertions = f->assertions;
    int64_t current = f->current;
    bool inserted = f->inserted;
    cand_set cs = {0};
    mdm_status st = MDM_OK;
    if (!canon) {
        st = mdm_err_set(err, MDM_EINTERNAL, "source record %lld: bad normalized JSON",
                         (long long)record_id);
        goto out_free_ctx;
    }
    /* One round trip: the keys' locks (new and old keys, sorted), the record's keys
     * replaced, the candidates sharing them; the server runs them in this order. */
    json_t *keys = mdm_resolve_keys(ctx, canon);
    kids = mdm_resolve_key_ids(keys, &nk);
    json_decref(keys);
    size_t nold = json_array_size(old_keys), nlock = nk;
    lockset = mdm_xcalloc(nk + nold + 1, sizeof *lockset);
    memcpy(lockset, kids, nk * sizeof *kids);
    for (size_t i = 0; i < nold; i++)
        lockset[nlock++] = (int64_t)json_integer_value(json_array_get(old_keys, i));
    nlock = sort_unique(lockset, nlock);
    char *larr = nlock ? pg_id_array(lockset, nlock) : NULL;
    char *karr = pg_id_array(kids, nk);
    const char *pl[1] = {larr}, *pk[2] = {rid, karr};
    mdm_db_call calls[3];
    size_t nc = 0;
    if (larr)
        calls[nc++] = (mdm_db_call){.stmt = &stmt_lock, .params = pl};
    calls[nc++] = (mdm_db_call){.stmt = &stmt_set_keys, .params = pk};
    cand_query q;
    cand_query_set(&q, ctx, karr, record_id, &calls[nc++]);
    st = mdm_db_exec_pipeline(db, calls, nc, err);
    free(larr);
    free(karr);
    if (st != MDM_OK)
        goto out_free_ctx;
    score_candidates(ctx, canon, calls[nc - 1].res, &cs);
    for (size_t i = 0; i < nc; i++)
        PQclear(calls[i].res);

    /* steward assertions */
    size_t ai;
    json_t *a;
    json_array_foreach(assertions, ai, a)
    {
        int64_t eid = (int64_t)json_integer_value(json_object_get(a, "entity"));
        if (!eid)
            continue;
        cand *c = cand_get(&cs, eid);
        if (!strcmp(json_string_value(json_object_get(a, "kind")), "never_link"))
            c->never = 1;
        else {
            c->always = 1;
            if (c->p < 0)
                c->p = 1, c->w = 0;
        }
    }
out_free_ctx:
    json_decref(old_keys);
    json_decref(assertions);
    if (st != MDM_OK)
        goto out_free;

    if (cs.n)
        qsort(cs.v, cs.n, sizeof *cs.v, cand_cmp);
    for (size_t i = 0; i < cs.n; i++)
        if (cs.v[i].entity_id != current && cs.v[i].p > out->probability)
            out->probability = cs.v[i].p;
    const char *actor_s = actor ? actor : "system";

    if (current) {
        /* an update of a linked record: it stays; it may now bridge to other entities */
        if ((st = mdm_db_exec(db, &stmt_supersede, p1, NULL, err)) != MDM_OK)
            goto out_free;
        out->decision = MDM_DECISION_UPDATED;
        int64_t target = current;
        if ((st = mdm_golden_lock(db, &target, err)) != MDM_OK)
            goto out_free;
        for (size_t i = 0; i < cs.n; i++) {
            cand *c = &cs.v[i];
            if (c->entity_id == current || c->never)
                continue;
            if (c->always || (c->p >= rs->auto_link && !c->conflict))
                if ((st = bridge(db, ctx, &target, c, actor_s, out, err)) != MDM_OK)
                    goto out_free;
        }
        int changed = 0;
        if ((st = mdm_golden_recompute(db, ctx, target, NULL, "source update", &changed, err)) !=
            MDM_OK)
            goto out_free;
        out->entity_id = target;
    } else {
        cand *best = NULL;
        size_t bi = 0;
        for (size_t i = 0; i < cs.n; i++) {
            cand *c = &cs.v[i];
            if (!c->never && (c->always || (c->p >= rs->auto_link && !c->conflict))) {
                best = c;
                bi = i;
                break;
            }
        }
        if (!best) {
            /* new entity; a possible match goes to review */
            cand *rv = NULL;
            for (size_t i = 0; i < cs.n; i++)
                if (!cs.v[i].never && cs.v[i].p >= rs->review) {
                    rv = &cs.v[i];
                    break;
                }
            int64_t eid = 0;
            if ((st = mdm_golden_create(db, ctx, record_id, "auto", actor_s, rv ? rv->p : 0,
                                        rv ? "review" : "no_match", &eid, err)) != MDM_OK)
                goto out_free;
            out->entity_id = eid;
            out->decision = MDM_DECISION_CREATED;
            if (rv) {
                cand_expl(ctx, rv);
                if ((st = add_review(db, "record_entity", record_id, rv->entity_id, 0, rv,
                                     &out->review_id, err)) != MDM_OK)
                    goto out_free;
                out->decision = MDM_DECISION_REVIEW;
            }
        }
        /* A record that matches two golden records the guards keep apart (a hard negative
         * or a strong id between their members, a never-link assertion) cannot tell
         * them apart: it would join one at random. It becomes a golden record of its
         * own, and review items about both name the guard "bridge". */
        cand *apart = NULL;
        for (size_t i = bi + 1; best && !best->always && i < cs.n; i++) {
            cand *c = &cs.v[i];
            if (c->never || c->always || c->conflict || c->p < rs->auto_link)
                continue;
            double ep = 0;
            int blocked = 0;
            if ((st = entity_evidence(db, ctx, best->entity_id, c->entity_id, &ep, &blocked,
                                      err)) != MDM_OK)
                goto out_free;
            if (blocked) {
                apart = c;
                break;
            }
        }
        if (apart) {
            int64_t eid = 0;
            if ((st = mdm_golden_create(db, ctx, record_id, "auto", actor_s, best->p, "review",
                                        &eid, err)) != MDM_OK)
                goto out_free;
            out->entity_id = eid;
            out->decision = MDM_DECISION_REVIEW;
            cand *both[2] = {best, apart};
            for (int k = 0; k < 2; k++) {
                cand_expl(ctx, both[k]);
                if (!both[k]->expl)
                    both[k]->expl = json_object();
                if (json_is_object(both[k]->expl))
                    json_object_set_new(both[k]->expl, "guard", json_string("bridge"));
                int64_t item = 0;
                if ((st = add_review(db, "record_entity", record_id, both[k]->entity_id, 0, both[k],
                                     &item, err)) != MDM_OK)
                    goto out_free;
                if (!out->review_id)
                    out->review_id = item;
            }
        } else if (best) {
            int64_t target = best->entity_id;
            char rule[64];
            snprintf(rule, sizeof rule, best->always ? "always_link" : "auto_link p>=%.2f",
                     rs->auto_link);
            const json_t *ex = cand_expl(ctx, best);
            json_t *details = ex ? json_pack("{s:O}", "explanation", ex) : NULL;
            st = mdm_golden_link(db, ctx, record_id, &target, "auto", actor_s, best->p, rule,
                                 details, err);
            json_decref(details);
            if (st != MDM_OK)
                goto out_free;
            out->decision = MDM_DECISION_LINKED;
            for (size_t i = bi + 1; i < cs.n; i++) {
                cand *c = &cs.v[i];
                if (c->never || !(c->always || (c->p >= rs->auto_link && !c->conflict)))
                    continue;
                if ((st = bridge(db, ctx, &target, c, actor_s, out, err)) != MDM_OK)
                    goto out_free;
            }
            out->entity_id = target;
        }
    }
    char eid[32];
    snprintf(eid, sizeof eid, "%lld", (long long)out->entity_id);
    const char *pe[2] = {rid, eid};
    PGresult *vr = NULL;
    st = inserted ? mdm_db_exec(db, &stmt_entity_version, pe + 1, &vr, err)
                  : mdm_db_exec(db, &stmt_resolved, pe, &vr, err);
    if (st == MDM_OK) {
        out->entity_version = (int)mdm_db_get_ll(vr, 0, "version", 0);
        PQclear(vr);
    }
    /* the record's consent events, once its membership is settled (idempotent) */
    if (st == MDM_OK && json_array_size(json_object_get(canon, "consents")))
        st = mdm_consent_ingest(db, record_id, source, source_key,
                                json_object_get(canon, "consents"), err);
out_free:
    free(source);
    free(source_key);
    cand_free(&cs);
    json_decref(canon);
    free(kids);
    free(lockset);
    return st;
}

mdm_status mdm_resolve_candidates(mdm_db *db, const mdm_ingest_ctx *ctx, const json_t *canonical,
                                  int64_t self_record_id, int limit, json_t **out, mdm_err *err)
{
    *out = NULL;
    json_t *keys = mdm_resolve_keys(ctx, canonical);
    size_t nk = 0;
    int64_t *kids = mdm_resolve_key_ids(keys, &nk);
    json_decref(keys);
    cand_set cs = {0};
    mdm_status st = gather(db, ctx, canonical, kids, nk, self_record_id, &cs, err);
    free(kids);
    if (st != MDM_OK) {
        cand_free(&cs);
        return st;
    }
    if (cs.n)
        qsort(cs.v, cs.n, sizeof *cs.v, cand_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < cs.n && (int)i < (limit > 0 ? limit : 10); i++) {
        cand *c = &cs.v[i];
        const json_t *ex = cand_expl(ctx, c);
        json_array_append_new(arr, json_pack("{s:I, s:f, s:f, s:O, s:b}", "entity_id",
                                             (json_int_t)c->entity_id, "probability", c->p, "score",
                                             c->w, "explanation", ex ? ex : json_null(),
                                             "strong_conflict", c->conflict));
    }
    cand_free(&cs);
    *out = arr;
    return MDM_OK;
}

/* ---- pending records ------------------------------------------------------------- */

static const mdm_db_stmt stmt_pending = {
    "resolve_pending",
    "SELECT p.record_id AS id, sr.deleted FROM record_pending p "
    "JOIN source_record sr ON sr.id = p.record_id ORDER BY p.record_id LIMIT $1 "
    "FOR UPDATE OF p SKIP LOCKED",
    1};

typedef struct pending_job {
    const char *url;
    const mdm_ingest_ctx *ctx;
    int batch;
    FILE *progress;
    atomic_long done;
    atomic_int failed;
    mdm_err err;
    pthread_mutex_t mu;
} pending_job;

typedef struct batch_ctx {
    pending_job *job;
    int size; /* records per transaction this time */
    long n;
} batch_ctx;

static mdm_status batch_tx(mdm_db *db, void *arg, mdm_err *err)
{
    batch_ctx *b = arg;
    b->n = 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", b->size);
    const char *p[1] = {lim};
    PGresult *res = NULL;
    mdm_status st = mdm_resolve_gate(db, err);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_pending, p, &res, err);
    if (st != MDM_OK)
        return st;
    int n = PQntuples(res);
    for (int i = 0; i < n && st == MDM_OK; i++) {
        int64_t id = mdm_db_get_ll(res, i, "id", 0);
        bool deleted = !strcmp(mdm_db_get(res, i, "deleted", "f"), "t");
        mdm_ingest_result r = {0};
        if (deleted) {
            st = mdm_resolve_forget(db, id, err);
            if (st == MDM_OK)
                st = mdm_golden_unlink(db, b->job->ctx, id, "system", "resolve", "source delete",
                                       NULL, err);
            if (st == MDM_OK) {
                char rid[32];
                snprintf(rid, sizeof rid, "%lld", (long long)id);
                const char *pr[1] = {rid};
                st = mdm_db_exec(db, &stmt_forgotten, pr, NULL, err);
            }
        } else {
            st = mdm_resolve_record(db, b->job->ctx, id, "resolve", &r, err);
        }
        mdm_ingest_result_clear(&r);
    }
    PQclear(res);
    if (st == MDM_OK)
        b->n = n;
    return st;
}

/* One worker: batches of job->batch records per transaction. Parallel workers can
 * deadlock on each other's accumulated locks (PostgreSQL detects it and one batch rolls
 * back); the worker then goes on one record per transaction for a while, retrying a
 * record that still deadlocks after a short random pause. */
static void *pending_worker(void *arg)
{
    pending_job *job = arg;
    mdm_err err = {0};
    mdm_db *db = mdm_db_connect(job->url, &err);
    unsigned seed = (unsigned)(uintptr_t)&err;
    long small_until = 0; /* records to process one by one */
    int retries = 0;
    if (!db)
        goto out_fail;
    for (;;) {
        if (atomic_load(&job->failed))
            break;
        batch_ctx b = {job, small_until > 0 ? 1 : job->batch, 0};
        mdm_status st = mdm_db_run_tx(db, "resolve_batch", batch_tx, &b, &err);
        if (st == MDM_ERETRY && retries < 20) {
            retries++;
            small_until = 4L * job->batch;
            usleep((useconds_t)(1000 + rand_r(&seed) % 20000));
            continue;
        }
        if (st != MDM_OK) {
            mdm_db_close(db);
            goto out_fail;
        }
        retries = 0;
        if (b.n == 0)
            break;
        if (small_until > 0)
            small_until -= b.n;
        long total = atomic_fetch_add(&job->done, b.n) + b.n;
        if (job->progress && (total / 10000) != ((total - b.n) / 10000)) {
            fprintf(job->progress, "resolve: %ld records\n", total);
            fflush(job->progress);
        }
    }
    mdm_db_close(db);
    return NULL;
out_fail:
    pthread_mutex_lock(&job->mu);
    if (!atomic_load(&job->failed))
        job->err = err;
    atomic_store(&job->failed, 1);
    pthread_mutex_unlock(&job->mu);
    return NULL;
}

static const mdm_db_stmt stmt_pending_count = {
    "resolve_pending_count",
    "SELECT count(*) AS n FROM record_pending p JOIN source_record sr ON sr.id = p.record_id "
    "WHERE NOT sr.deleted",
    0};

/* The bulk path first when enough records wait (and a trained model is in use). */
static mdm_status bulk_first(const char *url, const mdm_ingest_ctx *ctx, FILE *progress, long *done,
                             mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_ingest_resolve_settings(ctx);
    *done = 0;
    if (rs->bulk_min <= 0 || !mdm_ingest_engine(ctx))
        return MDM_OK;
    mdm_db *db = mdm_db_connect(url, err);
    if (!db)
        return err ? err->code : MDM_EDB;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_pending_count, NULL, &res, err);
    if (st == MDM_OK) {
        long n = (long)mdm_db_get_ll(res, 0, "n", 0);
        PQclear(res);
        if (n >= rs->bulk_min) {
            mdm_bulk_stats bs;
            /* on all CPUs (MDM_THREADS): threads counts connections, and bulk uses one */
            st = mdm_bulk_resolve(db, ctx, 0, 0, progress, &bs, err);
            *done = bs.created + bs.linked;
        }
    }
    mdm_db_close(db);
    return st;
}

mdm_status mdm_resolve_pending(const char *url, const mdm_ingest_ctx *ctx, int batch, int threads,
                               FILE *progress, long *resolved, mdm_err *err)
{
    pending_job job;
    memset(&job, 0, sizeof job);
    job.url = url;
    job.ctx = ctx;
    job.batch = batch > 0 ? batch : 200;
    job.progress = progress;
    pthread_mutex_init(&job.mu, NULL);
    if (threads < 1)
        threads = 1;
    if (threads > 32)
        threads = 32;
    long bulk_done = 0;
    mdm_status bst = bulk_first(url, ctx, progress, &bulk_done, err);
    if (bst != MDM_OK) {
        pthread_mutex_destroy(&job.mu);
        return bst;
    }
    atomic_store(&job.done, bulk_done);
    pthread_t t[32];
    int started = 0;
    if (threads == 1) {
        pending_worker(&job);
    } else {
        for (int i = 0; i < threads; i++)
            if (pthread_create(&t[i], NULL, pending_worker, &job) == 0)
                started++;
        for (int i = 0; i < started; i++)
            pthread_join(t[i], NULL);
    }
    pthread_mutex_destroy(&job.mu);
    if (resolved)
        *resolved = atomic_load(&job.done);
    if (atomic_load(&job.failed)) {
        if (err)
            *err = job.err;
        return job.err.code ? job.err.code : MDM_EDB;
    }
    return MDM_OK;
}
