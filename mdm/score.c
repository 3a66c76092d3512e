/* Scoring of canonical records, without SQL: blocking keys and their stored ids, the
 * trained model's features, and match weights (the trained model of matching/model.h or
 * the built-in weights of mdm/engine.h), with the shared-value rule of the batch linker.
 * Incremental resolution (mdm/resolve.c), bulk resolution (mdm/bulk.c), the queue's
 * rescoring and the read-only match all score through here. See score.h. */
#include "mdm/score.h"

#include "common/mem.h"
#include "matching/block.h"
#include "matching/canon_text.h"
#include "matching/canonical.h"
#include "matching/compare.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "matching/record.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

static double builtin_score(const mdm_engine *ctx, const json_t *a, const json_t *b,
                            double *probability, json_t **explanation, int *strong_conflict)
{
    const mdm_resolve_model *m = mdm_engine_weights(ctx);
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
                ex,
                json_pack("{s:s, s:s, s:f}", "field", mdm_resolve_field_names[f], "level",
                          level[f] < 0 ? "null" : mdm_resolve_level_names[level[f]], "weight", fw));
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

bool mdm_score_features(const mdm_engine *ctx, mdm_norm *norm, mdm_arena *a,
                        const json_t *canonical, mdm_phone_key_fn phone_fn, void *phone_ctx,
                        mdm_feat *f)
{
    const mdm_model *m = mdm_engine_model(ctx);
    if (!m || !norm)
        return false;
    mdm_canon_features(m, norm, a, canonical, phone_fn, phone_ctx, f);
    return true;
}

bool mdm_score_features_text(const mdm_engine *ctx, mdm_norm *norm, mdm_arena *a, const char *text,
                             mdm_phone_key_fn phone_fn, void *phone_ctx, mdm_feat *f,
                             bool *consents)
{
    const mdm_model *m = norm ? mdm_engine_model(ctx) : NULL;
    return mdm_canon_text_features(m, norm, a, text, phone_fn, phone_ctx, f, consents);
}

const char *mdm_score_phone_key(void *ctx, mdm_norm *norm, const char *raw, const char *country,
                                mdm_arena *a)
{
    return mdm_canon_phone_key(ctx, norm, raw, country, a);
}

void mdm_score_prepare(const mdm_engine *ctx, mdm_norm *norm, mdm_arena *a, const json_t *canon,
                       mdm_score_rec *p)
{
    memset(p, 0, sizeof *p);
    p->canon = canon;
    p->has_feat = mdm_score_features(ctx, norm, a, canon, mdm_score_phone_key, NULL, &p->feat);
}

void mdm_score_unprepare(mdm_score_rec *p)
{
    p->has_feat = false;
}

typedef struct feat_job {
    const mdm_engine *ctx;
    const char *(*text)(void *arg, size_t i);
    void *arg;
    mdm_score_feats *out;
    atomic_int failed;
} feat_job;

static void feat_worker(void *arg, int t, size_t lo, size_t hi)
{
    feat_job *j = arg;
    mdm_err err = {0};
    mdm_norm *norm = mdm_engine_norm_acquire(&err);
    if (!norm) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (size_t i = lo; i < hi; i++) {
        memset(&j->out->v[i], 0, sizeof j->out->v[i]);
        (void)mdm_score_features_text(j->ctx, norm, j->out->arenas[t], j->text(j->arg, i),
                                      mdm_score_phone_key, NULL, &j->out->v[i], NULL);
    }
    mdm_engine_norm_release(norm);
}

mdm_status mdm_score_features_all(const mdm_engine *ctx, size_t n,
                                  const char *(*text)(void *arg, size_t i), void *arg, int threads,
                                  mdm_score_feats *feats, mdm_err *err)
{
    if (threads < 1)
        threads = 1;
    feats->v = mdm_xcalloc(n ? n : 1, sizeof *feats->v);
    feats->n = n;
    feats->threads = threads;
    feats->arenas = mdm_xcalloc((size_t)threads, sizeof(mdm_arena *));
    for (int t = 0; t < threads; t++)
        feats->arenas[t] = mdm_arena_new(1 << 16);
    feat_job job = {ctx, text, arg, feats, 0};
    mdm_parallel_for(threads, n, feat_worker, &job);
    if (atomic_load(&job.failed))
        return mdm_err_set(err, MDM_EINTERNAL, "the normalizer could not be initialised");
    return MDM_OK;
}

void mdm_score_feats_free(mdm_score_feats *feats)
{
    if (!feats)
        return;
    for (int t = 0; feats->arenas && t < feats->threads; t++)
        mdm_arena_free(feats->arenas[t]);
    free(feats->arenas);
    free(feats->v);
    memset(feats, 0, sizeof *feats);
}

/* Scores prepared records: the engine when both have features, else built-in. */
double mdm_score_prepared(const mdm_engine *ctx, const mdm_score_rec *a, const mdm_score_rec *b,
                          double *probability, json_t **explanation, int *conflict)
{
    const mdm_model *m = mdm_engine_model(ctx);
    if (!m || !a->has_feat || !b->has_feat)
        return builtin_score(ctx, a->canon, b->canon, probability, explanation, conflict);
    mdm_explain ex;
    double w = mdm_model_score(m, &a->feat, &b->feat, NULL, &ex);
    if (probability)
        *probability = mdm_model_probability(w);
    if (explanation)
        *explanation = mdm_explain_json(&ex);
    if (conflict) {
        /* a hard negative (twins, generation, birth years) never links automatically,
         * and two people of one household (the evidence outside the household group says
         * so) never share a golden record, as in batch clustering; neither is a question
         * for a steward (mdm/resolve.c), whatever side of the link threshold it scores */
        int c = ex.vetoed || ex.guard || ex.person_conflict ? 1 : 0;
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
static bool is_shared(const mdm_score_rec *self, const mdm_score_rec *ops, size_t n, int field,
                      const char *v, int kmin)
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

void mdm_score_drop_shared(const mdm_engine *ctx, mdm_score_rec *self, const mdm_score_rec *ops,
                           size_t n)
{
    const mdm_model *m = mdm_engine_model(ctx);
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

double mdm_score_pair(const mdm_engine *ctx, const json_t *a, const json_t *b, double *probability,
                      json_t **explanation, int *strong_conflict)
{
    mdm_err err;
    mdm_norm *norm = mdm_engine_model(ctx) ? mdm_engine_norm_acquire(&err) : NULL;
    mdm_arena *ar = mdm_arena_new(4096);
    mdm_score_rec pa, pb;
    mdm_score_prepare(ctx, norm, ar, a, &pa);
    mdm_score_prepare(ctx, norm, ar, b, &pb);
    double w = mdm_score_prepared(ctx, &pa, &pb, probability, explanation, strong_conflict);
    mdm_score_unprepare(&pa);
    mdm_score_unprepare(&pb);
    mdm_arena_free(ar);
    mdm_engine_norm_release(norm);
    return w;
}

json_t *mdm_score_keys(const mdm_engine *ctx, const json_t *canonical)
{
    const mdm_model *m = mdm_engine_model(ctx);
    if (!m)
        return builtin_keys(canonical);
    mdm_err err;
    mdm_norm *norm = mdm_engine_norm_acquire(&err);
    if (!norm)
        return builtin_keys(canonical);
    mdm_arena *ar = mdm_arena_new(4096);
    mdm_score_rec p;
    mdm_score_prepare(ctx, norm, ar, canonical, &p);
    const char *keys[128];
    size_t n = mdm_block_keys(m, &p.feat, ar, keys, 128);
    if (n > 128)
        n = 128;
    qsort(keys, n, sizeof *keys, cmp_str);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(keys[i], keys[i - 1]) != 0)
            json_array_append_new(out, json_string(keys[i]));
    mdm_score_unprepare(&p);
    mdm_arena_free(ar);
    mdm_engine_norm_release(norm);
    return out;
}

/* MD5, fetched once: the implicit fetch of EVP_md5() doubles the cost per key. */
static EVP_MD *md5_md;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_fetch(void)
{
    md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
}

int64_t mdm_score_key_id(const char *key)
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
size_t mdm_score_sort_ids(int64_t *v, size_t n)
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

int64_t *mdm_score_key_ids(const json_t *keys, size_t *n)
{
    size_t k = json_array_size(keys);
    int64_t *ids = mdm_xcalloc(k ? k : 1, sizeof *ids);
    for (size_t i = 0; i < k; i++)
        ids[i] = mdm_score_key_id(json_string_value(json_array_get(keys, i)));
    *n = mdm_score_sort_ids(ids, k);
    return ids;
}
