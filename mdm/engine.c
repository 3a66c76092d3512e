/* The engine context: sources, resolution settings, built-in weights or trained model,
 * survivorship rules, default country and limits; the normalizer pool; the service's
 * canonicalization and comparison keys. See engine.h. */
#include "mdm/engine.h"

#include "common/jsonin.h"
#include "common/log.h"
#include "common/mem.h"
#include "matching/canonical.h"
#include "matching/limits.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "mdm/survive.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mdm_engine {
    mdm_sources *sources;
    mdm_resolve_settings rs;
    mdm_resolve_model model; /* built-in weights, used when engine is NULL */
    mdm_model *engine;       /* the trained Fellegi-Sunter model of matching/model.h */
    int engine_version;      /* match_model.version it came from, 0 = configuration */
    mdm_survive_config *sv;
    char default_country[3];
    mdm_limits limits; /* field length caps of the canonical contract */
};

const char *const mdm_resolve_field_names[MDM_RF_COUNT + 1] = {
    "first_name", "last_name", "birth_date",  "email",  "phone", "address",
    "loyalty_id", "tax_id",    "national_id", "gender", NULL};
const char *const mdm_resolve_level_names[MDM_RL_COUNT + 1] = {"exact", "close", "far", NULL};

/* ---- settings and model ---------------------------------------------------------- */

mdm_status mdm_engine_settings_parse(const json_t *section, mdm_resolve_settings *out, mdm_err *err)
{
    out->auto_link = 0.95;
    out->review = 0.60;
    out->key_cap = 1000;
    out->max_candidates = 50;
    out->bulk_min = 1000;
    out->thresholds_set = false;
    mdm_jin in;
    static const char *const known[] = {"auto_link", "review",         "bulk_min",
                                        "key_cap",   "max_candidates", NULL};
    long long bulk_min = out->bulk_min, key_cap = out->key_cap, max_cand = out->max_candidates;
    if (!mdm_jin_open(&in, section, "resolve", MDM_EINVAL, err) || !mdm_jin_known(&in, known) ||
        !mdm_jin_probability(&in, "auto_link", &out->auto_link) ||
        !mdm_jin_probability(&in, "review", &out->review) ||
        !mdm_jin_int(&in, "bulk_min", 0, 1000000000, &bulk_min) ||
        !mdm_jin_int(&in, "key_cap", 1, 1000000, &key_cap) ||
        !mdm_jin_int(&in, "max_candidates", 1, 1000000, &max_cand))
        return MDM_EINVAL;
    out->bulk_min = (long)bulk_min;
    out->key_cap = (int)key_cap;
    out->max_candidates = (int)max_cand;
    out->thresholds_set = mdm_jin_has(&in, "auto_link") || mdm_jin_has(&in, "review");
    if (out->review >= out->auto_link)
        return mdm_jin_fail(&in, "review", "below resolve.auto_link");
    return MDM_OK;
}

void mdm_engine_weights_default(mdm_resolve_model *m)
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

mdm_status mdm_engine_weights_parse(const json_t *j, const char *name, mdm_resolve_model *m,
                                    mdm_err *err)
{
    /* note, thresholds and version are informational */
    static const char *const known[] = {"prior", "weights", "note", "thresholds", "version", NULL};
    mdm_jin in, weights;
    if (!mdm_jin_open(&in, j, name, MDM_EINVAL, err) || !mdm_jin_known(&in, known) ||
        !mdm_jin_number(&in, "prior", -1e6, 1e6, &m->prior) ||
        !mdm_jin_member(&weights, &in, "weights") ||
        !mdm_jin_known(&weights, mdm_resolve_field_names))
        return MDM_EINVAL;
    for (int f = 0; f < MDM_RF_COUNT; f++) {
        mdm_jin levels;
        if (!mdm_jin_member(&levels, &weights, mdm_resolve_field_names[f]) ||
            !mdm_jin_known(&levels, mdm_resolve_level_names))
            return MDM_EINVAL;
        for (int l = 0; l < MDM_RL_COUNT; l++)
            if (!mdm_jin_number(&levels, mdm_resolve_level_names[l], -1e6, 1e6, &m->w[f][l]))
                return MDM_EINVAL;
    }
    return MDM_OK;
}

/* ---- context ------------------------------------------------------------------- */

/* Without thresholds in the "resolve" section, a trained model's own apply. */
static void use_engine_thresholds(mdm_engine *c)
{
    if (c->engine && !c->rs.thresholds_set && c->engine->link_threshold > 0 &&
        c->engine->review_threshold > 0 &&
        c->engine->review_threshold < c->engine->link_threshold) {
        c->rs.auto_link = c->engine->link_threshold;
        c->rs.review = c->engine->review_threshold;
    }
}

/* Reads a trained engine model from a file; a relative path that does not exist from
 * the current folder is tried under $MDM_ROOT. */
static mdm_model *engine_from_file(const char *path, mdm_err *err)
{
    char alt[4096];
    const char *root = getenv("MDM_ROOT");
    if (path[0] != '/' && access(path, R_OK) != 0 && root) {
        snprintf(alt, sizeof alt, "%s/%s", root, path);
        path = alt;
    }
    return mdm_model_load(path, err);
}

static mdm_status check_trained(mdm_model *m, const char *where, mdm_err *err)
{
    if (m->trained)
        return MDM_OK;
    mdm_model_free(m);
    return mdm_err_set_field(err, MDM_EINVAL, where, "%s: the model is not trained (run mdm train)",
                             where);
}

/* "model": {"path": FILE} (a trained model of `mdm train`), an inline trained model
 * document (has "comparisons"), or built-in weight overrides {"prior", "weights"}. */
static mdm_status load_model_section(mdm_engine *c, const json_t *model, mdm_err *err)
{
    if (!json_is_object(model))
        return mdm_err_set_field(err, MDM_EINVAL, "/model", "model must be an object");
    const json_t *path = json_object_get(model, "path");
    if (path) {
        if (!json_is_string(path) || json_object_size(model) != 1)
            return mdm_err_set_field(err, MDM_EINVAL, "/model/path",
                                     "model.path must be the only key, a file name");
        mdm_err lerr = {0};
        c->engine = engine_from_file(json_string_value(path), &lerr);
        if (!c->engine)
            return mdm_err_set_field(err, lerr.code, "/model/path", "model.path: %s", lerr.msg);
        mdm_status st = check_trained(c->engine, "/model/path", err);
        if (st != MDM_OK)
            c->engine = NULL;
        return st;
    }
    if (json_object_get(model, "comparisons")) {
        mdm_err lerr = {0};
        json_t *copy = json_deep_copy(model);
        c->engine = mdm_model_from_json(copy, &lerr);
        json_decref(copy);
        if (!c->engine)
            return mdm_err_set_field(err, MDM_EINVAL, "/model", "model: %s", lerr.msg);
        mdm_status st = check_trained(c->engine, "/model", err);
        if (st != MDM_OK)
            c->engine = NULL;
        return st;
    }
    return mdm_engine_weights_parse(model, "model", &c->model, err);
}

mdm_engine *mdm_engine_new_json(const json_t *sources, const json_t *resolve,
                                const json_t *survivorship, const json_t *model,
                                const char *default_country, mdm_err *err)
{
    mdm_engine *c = mdm_xcalloc(1, sizeof *c);
    mdm_limits_default(&c->limits);
    snprintf(c->default_country, sizeof c->default_country, "%s",
             default_country && strlen(default_country) == 2 ? default_country : "US");
    c->sources = mdm_sources_parse(sources, c->default_country, err);
    if (!c->sources)
        goto out_free;
    if (mdm_engine_settings_parse(resolve, &c->rs, err) != MDM_OK)
        goto out_free;
    mdm_engine_weights_default(&c->model);
    if (model && load_model_section(c, model, err) != MDM_OK)
        goto out_free;
    c->sv = mdm_survive_config_parse(survivorship, err);
    if (!c->sv)
        goto out_free;
    use_engine_thresholds(c);
    return c;
out_free:
    mdm_engine_free(c);
    return NULL;
}

mdm_engine *mdm_engine_new(const mdm_config *cfg, mdm_err *err)
{
    mdm_limits lim;
    if (mdm_limits_load(mdm_config_section(cfg, "limits"), &lim, err) != MDM_OK)
        return NULL;
    mdm_engine *c =
        mdm_engine_new_json(mdm_config_section(cfg, "sources"), mdm_config_section(cfg, "resolve"),
                            mdm_config_section(cfg, "survivorship"),
                            mdm_config_section(cfg, "model"), cfg->default_country, err);
    if (c)
        c->limits = lim;
    return c;
}

void mdm_engine_set_limits(mdm_engine *ctx, const mdm_limits *limits)
{
    ctx->limits = *limits;
}

void mdm_engine_free(mdm_engine *ctx)
{
    if (!ctx)
        return;
    mdm_sources_free(ctx->sources);
    mdm_survive_config_free(ctx->sv);
    mdm_model_free(ctx->engine);
    free(ctx);
}

const mdm_sources *mdm_engine_sources(const mdm_engine *ctx)
{
    return ctx->sources;
}
const mdm_resolve_settings *mdm_engine_settings(const mdm_engine *ctx)
{
    return &ctx->rs;
}
const mdm_resolve_model *mdm_engine_weights(const mdm_engine *ctx)
{
    return &ctx->model;
}
const mdm_survive_config *mdm_engine_survive(const mdm_engine *ctx)
{
    return ctx->sv;
}
int mdm_engine_model_version(const mdm_engine *ctx)
{
    return ctx->engine_version;
}

const mdm_model *mdm_engine_model(const mdm_engine *ctx)
{
    return ctx->engine;
}

static const mdm_db_stmt stmt_model = {"engine_model",
                                       "SELECT version, model FROM match_model WHERE active", 0};

mdm_status mdm_engine_use_db_model(mdm_engine *ctx, mdm_db *db, int *version, mdm_err *err)
{
    PGresult *res = NULL;
    if (version)
        *version = ctx->engine_version;
    mdm_status st = mdm_db_exec(db, &stmt_model, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 1) {
        json_t *j = json_loads(mdm_db_get(res, 0, "model", "{}"), 0, NULL);
        int v = (int)mdm_db_get_ll(res, 0, "version", 0);
        mdm_err lerr = {0};
        if (j && json_object_get(j, "comparisons")) {
            mdm_model *m = mdm_model_from_json(j, &lerr);
            if (m && m->trained) {
                mdm_model_free(ctx->engine);
                ctx->engine = m;
                ctx->engine_version = v;
                use_engine_thresholds(ctx);
            } else {
                mdm_model_free(m);
                mdm_log(MDM_LOG_WARN, "event=model_skipped version=%d reason=untrained_or_bad", v);
            }
        } else if (j && json_object_get(j, "weights")) {
            mdm_resolve_model m = ctx->model;
            if (mdm_engine_weights_parse(j, "match_model", &m, &lerr) == MDM_OK) {
                ctx->model = m;
                mdm_model_free(ctx->engine);
                ctx->engine = NULL;
                ctx->engine_version = v;
            }
        } else {
            mdm_log(MDM_LOG_WARN, "event=model_skipped version=%d reason=layout", v);
        }
        json_decref(j);
    }
    PQclear(res);
    if (version)
        *version = ctx->engine_version;
    return MDM_OK;
}

/* ---- normalizer handles ----------------------------------------------------------- */

/* matching/normalize.h handles are per thread; ingest runs on many threads (HTTP
 * workers, resolve workers), so handles come from a process-wide pool: taken for one
 * record, given back after. The pool only grows to the number of concurrent users. */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static mdm_norm **pool;
static size_t npool, cappool;

mdm_norm *mdm_engine_norm_acquire(mdm_err *err)
{
    mdm_norm *n = NULL;
    pthread_mutex_lock(&pool_mu);
    if (npool)
        n = pool[--npool];
    pthread_mutex_unlock(&pool_mu);
    return n ? n : mdm_norm_new(err);
}

void mdm_engine_norm_release(mdm_norm *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&pool_mu);
    if (npool == cappool) {
        cappool = cappool ? 2 * cappool : 8;
        pool = mdm_xrealloc(pool, cappool * sizeof(mdm_norm *));
    }
    pool[npool++] = n;
    pthread_mutex_unlock(&pool_mu);
}

char *mdm_engine_email_key(const char *email)
{
    mdm_err err;
    mdm_norm *n = mdm_engine_norm_acquire(&err);
    if (!n || !email)
        return mdm_engine_norm_release(n), NULL;
    mdm_arena *a = mdm_arena_new(1024);
    mdm_email_norm e;
    char *k = NULL;
    if (mdm_norm_email(n, email, a, &e, &err) == MDM_OK && e.valid)
        k = mdm_xstrdup(e.key);
    mdm_arena_free(a);
    mdm_engine_norm_release(n);
    return k;
}

bool mdm_engine_phone_key(const char *phone, const char *country, char out[24])
{
    mdm_err err;
    mdm_norm *n = mdm_engine_norm_acquire(&err);
    if (!n || !phone)
        return mdm_engine_norm_release(n), false;
    mdm_phone_norm p;
    bool ok = mdm_norm_phone(n, phone, country ? country : "US", &p, &err) == MDM_OK && p.valid &&
              strlen(p.e164) < 24;
    if (ok)
        memcpy(out, p.e164, strlen(p.e164) + 1);
    mdm_engine_norm_release(n);
    return ok;
}

char *mdm_engine_text_key(const char *s)
{
    mdm_err err;
    mdm_norm *n = mdm_engine_norm_acquire(&err);
    char *k = n ? mdm_canon_text_key(n, s ? s : "") : NULL;
    mdm_engine_norm_release(n);
    return k ? k : mdm_xstrdup("");
}

mdm_status mdm_engine_canonicalize(const mdm_engine *ctx, const mdm_source *src,
                                   const json_t *record, json_t **canonical, json_t **errors,
                                   mdm_err *err)
{
    *canonical = NULL;
    *errors = NULL;
    mdm_norm *n = mdm_engine_norm_acquire(err);
    if (!n)
        return err ? err->code : MDM_EINTERNAL;
    mdm_status st = mdm_canonicalize(n, src ? &src->def : NULL, ctx->default_country, &ctx->limits,
                                     record, canonical, errors, err);
    mdm_engine_norm_release(n);
    return st;
}

static void hex_digest(const char *s, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(s, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * (size_t)i, 3, "%02x", md[i]);
    out[64] = '\0';
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The compact, sorted dump of an object is "{" + "\"key\":value" joined by "," + "}", the
 * members in strcmp order of their keys (bytewise, as jansson sorts them): the hashed
 * text is the same members less three, so each member is dumped once and both texts are
 * joined from the pieces. A key that would need escaping (never one of the canonical
 * record's) takes the two whole dumps. */
char *mdm_engine_canonical_text(const json_t *canonical, char hash[65])
{
    size_t n = json_object_size(canonical);
    const char **keys = mdm_xmalloc((n ? n : 1) * sizeof *keys);
    size_t k = 0;
    const char *key;
    json_t *v;
    bool plain = json_is_object(canonical);
    json_object_foreach((json_t *)canonical, key, v)
    {
        for (const char *p = key; *p && plain; p++)
            plain = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
        keys[k++] = key;
    }
    if (!plain || k != n) {
        free(keys);
        mdm_engine_content_hash(canonical, hash);
        return json_dumps(canonical, JSON_COMPACT | JSON_SORT_KEYS);
    }
    qsort(keys, k, sizeof *keys, cmp_key);
    mdm_buf all = {0}, hashed = {0};
    mdm_buf_putc(&all, '{');
    mdm_buf_putc(&hashed, '{');
    for (size_t i = 0; i < k && plain; i++) {
        char *d = json_dumps(json_object_get(canonical, keys[i]),
                             JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        plain = d != NULL;
        bool h = strcmp(keys[i], "source_updated_at") != 0 && strcmp(keys[i], "op") != 0 &&
                 strcmp(keys[i], "keys") != 0;
        for (int t = 0; t < 2 && d; t++) {
            mdm_buf *b = t ? &hashed : &all;
            if (t && !h)
                continue;
            if (b->len > 1)
                mdm_buf_putc(b, ',');
            mdm_buf_putc(b, '"');
            mdm_buf_puts(b, keys[i]);
            mdm_buf_puts(b, "\":");
            mdm_buf_puts(b, d);
        }
        free(d);
    }
    if (!plain) { /* a value jansson cannot write: what the whole dumps do */
        mdm_buf_free(&all);
        mdm_buf_free(&hashed);
        free(keys);
        mdm_engine_content_hash(canonical, hash);
        return json_dumps(canonical, JSON_COMPACT | JSON_SORT_KEYS);
    }
    mdm_buf_putc(&all, '}');
    mdm_buf_putc(&hashed, '}');
    hex_digest(hashed.data, hashed.len, hash);
    mdm_buf_free(&hashed);
    free(keys);
    return mdm_buf_steal(&all);
}

void mdm_engine_content_hash(const json_t *canonical, char out[65])
{
    json_t *c = json_copy((json_t *)canonical);
    json_object_del(c, "source_updated_at");
    json_object_del(c, "op");
    json_object_del(c, "keys");
    char *s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * (size_t)i, 3, "%02x", md[i]);
    out[64] = '\0';
    free(s);
    json_decref(c);
}
