/* Matching models in the store (see models.h). */
#include "mdm/models.h"

#include "common/log.h"
#include "common/mem.h"
#include "matching/link.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "mdm/audit.h"
#include "mdm/resolve.h"
#include "mdm/review.h"
#include "mdm/score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_PAGE 5000

static const mdm_db_stmt stmt_records = {
    "models_records",
    "SELECT id, normalized::text AS n FROM source_record WHERE NOT deleted AND id > $1::bigint "
    "ORDER BY id LIMIT $2::int",
    2};

static const mdm_db_stmt stmt_insert = {
    "models_insert",
    "INSERT INTO match_model (model, note, trained_on, trained_by) "
    "VALUES ($1::jsonb, $2, $3::jsonb, $4) RETURNING version",
    4};

static const mdm_db_stmt stmt_list = {
    "models_list",
    "SELECT version, mdm_ts(trained_at) AS trained_at, "
    "active, note, trained_on::text AS trained_on, trained_by, "
    "mdm_ts(activated_at) AS activated_at, activated_by, "
    "model->'thresholds'->'link' AS link, model->'thresholds'->'review' AS review, "
    "model->'trained'->'prior' AS prior FROM match_model ORDER BY version DESC",
    0};

static const mdm_db_stmt stmt_get = {
    "models_get",
    "SELECT version, mdm_ts(trained_at) AS trained_at, "
    "active, note, trained_on::text AS trained_on, trained_by, "
    "mdm_ts(activated_at) AS activated_at, activated_by, "
    "model::text AS model FROM match_model WHERE version = $1::int",
    1};

static const mdm_db_stmt stmt_deactivate = {
    "models_deactivate",
    "UPDATE match_model SET active = false WHERE active AND version <> $1::int", 1};

static const mdm_db_stmt stmt_activate = {
    "models_activate",
    "UPDATE match_model SET active = true, activated_at = now(), activated_by = $2 "
    "WHERE version = $1::int",
    2};

/* ---- training ---------------------------------------------------------------------- */

/* The stored text of record i (mdm_score_features_all). */
static const char *json_at(void *arg, size_t i)
{
    return ((char **)arg)[i];
}

typedef struct record_list {
    char **json;
    size_t n, cap;
} record_list;

static mdm_status add_records(void *arg, PGresult *page, mdm_err *err)
{
    (void)err;
    record_list *l = arg;
    for (int i = 0; i < PQntuples(page); i++) {
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 1024;
            l->json = mdm_xrealloc(l->json, l->cap * sizeof *l->json);
        }
        l->json[l->n++] = mdm_xstrdup(mdm_db_get(page, i, "n", "{}"));
    }
    return MDM_OK;
}

/* Every live record's normalized form, in id order. */
static mdm_status read_records(mdm_db *db, char ***out, size_t *n, mdm_err *err)
{
    record_list l = {0};
    mdm_status st = mdm_db_exec_paged(db, &stmt_records, READ_PAGE, add_records, &l, err);
    *out = l.json;
    *n = l.n;
    return st;
}

mdm_status mdm_models_train(mdm_db *db, const mdm_engine *ctx, const mdm_models_train_opts *o,
                            int *version, json_t **summary, mdm_err *err)
{
    *version = 0;
    if (summary)
        *summary = NULL;
    const mdm_model *base = mdm_engine_model(ctx);
    if (!base)
        return mdm_err_set(err, MDM_EINVAL,
                           "no matching model to train: configure model.path (a model document "
                           "of mdm train) or activate a stored version");
    /* a copy of the engine's configuration, trained afresh */
    json_t *doc = mdm_model_json(base);
    mdm_model *m = doc ? mdm_model_from_json(doc, err) : NULL;
    json_decref(doc);
    if (!m)
        return err && err->code ? err->code : MDM_EINTERNAL;
    char **json = NULL;
    size_t n = 0;
    mdm_status st = read_records(db, &json, &n, err);
    int threads = mdm_link_threads(o->threads);
    mdm_score_feats feats = {0};
    if (st == MDM_OK)
        st = mdm_score_features_all(ctx, n, json_at, json, threads, &feats, err);
    for (size_t i = 0; i < n; i++)
        free(json[i]);
    free(json);
    mdm_link_stats ls;
    if (st == MDM_OK)
        st = mdm_link_train_feats(m, feats.v, n, threads, &ls, err);
    mdm_score_feats_free(&feats);
    if (st != MDM_OK) {
        mdm_model_free(m);
        return st;
    }
    json_t *trained = mdm_model_json(m);
    json_t *on = json_pack("{s:s, s:I, s:I, s:i, s:f, s:i}", "from", "store", "records",
                           (json_int_t)ls.records, "candidate_pairs", (json_int_t)ls.block.pairs,
                           "em_iterations", ls.em_iterations, "lambda", ls.lambda, "base_version",
                           mdm_engine_model_version(ctx));
    char *model_s = json_dumps(trained, JSON_COMPACT);
    char *on_s = json_dumps(on, JSON_COMPACT);
    const char *p[4] = {model_s, o->note, on_s, o->actor ? o->actor : "system"};
    PGresult *res = NULL;
    st = mdm_db_exec(db, &stmt_insert, p, &res, err);
    free(model_s);
    free(on_s);
    json_decref(trained);
    if (st == MDM_OK) {
        *version = (int)mdm_db_get_ll(res, 0, "version", 0);
        PQclear(res);
        mdm_log(MDM_LOG_INFO, "event=model_trained version=%d records=%zu pairs=%zu", *version,
                ls.records, ls.block.pairs);
        if (summary) {
            *summary = json_pack("{s:i, s:I, s:I, s:i, s:f, s:f, s:f}", "version", *version,
                                 "records", (json_int_t)ls.records, "candidate_pairs",
                                 (json_int_t)ls.block.pairs, "em_iterations", ls.em_iterations,
                                 "lambda", ls.lambda, "prior", m->prior, "seconds", ls.t_total);
        }
    }
    json_decref(on);
    mdm_model_free(m);
    return st;
}

/* ---- reading ----------------------------------------------------------------------- */

static json_t *opt_text(const PGresult *res, int i, const char *col)
{
    const char *v = mdm_db_get(res, i, col, NULL);
    return v ? json_string(v) : json_null();
}

static json_t *opt_json(const PGresult *res, int i, const char *col)
{
    const char *v = mdm_db_get(res, i, col, NULL);
    json_t *j = v ? json_loads(v, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_null();
}

static json_t *head_json(const PGresult *res, int i)
{
    return json_pack(
        "{s:I, s:o, s:b, s:o, s:o, s:o, s:o, s:o}", "version",
        (json_int_t)mdm_db_get_ll(res, i, "version", 0), "trained_at",
        opt_text(res, i, "trained_at"), "active", !strcmp(mdm_db_get(res, i, "active", "f"), "t"),
        "note", opt_text(res, i, "note"), "trained_on", opt_json(res, i, "trained_on"),
        "trained_by", opt_text(res, i, "trained_by"), "activated_at",
        opt_text(res, i, "activated_at"), "activated_by", opt_text(res, i, "activated_by"));
}

mdm_status mdm_models_list(mdm_db *db, json_t **rows, mdm_err *err)
{
    *rows = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_list, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = head_json(res, i);
        json_object_set_new(o, "link_threshold", opt_json(res, i, "link"));
        json_object_set_new(o, "review_threshold", opt_json(res, i, "review"));
        json_object_set_new(o, "prior", opt_json(res, i, "prior"));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    *rows = arr;
    return MDM_OK;
}

mdm_status mdm_models_get(mdm_db *db, int version, json_t **doc, mdm_err *err)
{
    *doc = NULL;
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *p[1] = {v};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_get, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no model version %d", version);
    }
    json_t *o = head_json(res, 0);
    json_object_set_new(o, "model", opt_json(res, 0, "model"));
    PQclear(res);
    *doc = o;
    return MDM_OK;
}

/* The engine model of a stored version (trained documents only). */
static mdm_model *load_version(mdm_db *db, int version, mdm_err *err)
{
    json_t *doc = NULL;
    if (mdm_models_get(db, version, &doc, err) != MDM_OK)
        return NULL;
    json_t *model = json_object_get(doc, "model");
    mdm_model *m = json_object_get(model, "comparisons") ? mdm_model_from_json(model, err) : NULL;
    json_decref(doc);
    if (m && !m->trained) {
        mdm_model_free(m);
        m = NULL;
    }
    if (!m)
        mdm_err_set(err, MDM_EINVAL, "model version %d is not a trained model document", version);
    return m;
}

/* ---- activation -------------------------------------------------------------------- */

typedef struct activate_job {
    int version;
    const char *actor;
    long marked;
} activate_job;

static mdm_status activate_tx(mdm_db *db, void *arg, mdm_err *err)
{
    activate_job *j = arg;
    char v[16];
    snprintf(v, sizeof v, "%d", j->version);
    const char *p1[1] = {v};
    const char *p2[2] = {v, j->actor};
    mdm_status st = mdm_db_exec(db, &stmt_deactivate, p1, NULL, err);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_activate, p2, NULL, err);
    /* every open item is re-scored by the next mdm_queue_rescore (stewardship/queue.h) */
    if (st == MDM_OK)
        st = mdm_review_mark_unscored(db, &j->marked, err);
    if (st != MDM_OK)
        return st;
    char target[32];
    snprintf(target, sizeof target, "match_model:%d", j->version);
    json_t *after = json_pack("{s:i, s:I}", "active_version", j->version, "review_items_marked",
                              (json_int_t)j->marked);
    st = mdm_audit_append(db, j->actor, "admin", "model.activate", target, NULL, NULL, after, err);
    json_decref(after);
    return st;
}

mdm_status mdm_models_activate(mdm_db *db, int version, const char *actor, long *marked,
                               mdm_err *err)
{
    if (marked)
        *marked = 0;
    mdm_model *m = load_version(db, version, err);
    if (!m)
        return err ? err->code : MDM_EINVAL;
    mdm_model_free(m);
    activate_job j = {version, actor ? actor : "system", 0};
    mdm_status st = mdm_db_run_tx(db, "models_activate", activate_tx, &j, err);
    if (st == MDM_OK && marked)
        *marked = j.marked;
    return st;
}

/* ---- diff -------------------------------------------------------------------------- */

static json_t *pair(double a, double b)
{
    return json_pack("[f, f]", a, b);
}

mdm_status mdm_models_diff(mdm_db *db, int a, int b, json_t **out, mdm_err *err)
{
    *out = NULL;
    mdm_model *ma = load_version(db, a, err);
    if (!ma)
        return err ? err->code : MDM_EINVAL;
    mdm_model *mb = load_version(db, b, err);
    if (!mb) {
        mdm_model_free(ma);
        return err ? err->code : MDM_EINVAL;
    }
    json_t *cmps = json_array();
    double largest = -1;
    json_t *top = json_null();
    for (int k = 0; k < ma->ncmp; k++) {
        int kb = -1;
        for (int x = 0; x < mb->ncmp; x++)
            if (!strcmp(ma->cmp[k].name, mb->cmp[x].name))
                kb = x;
        json_t *levels = json_array();
        for (int l = 0; l < ma->cmp[k].nlevels; l++) {
            double wa = mdm_model_level_weight(ma, k, l);
            bool in_b = kb >= 0 && l < mb->cmp[kb].nlevels;
            double wb = in_b ? mdm_model_level_weight(mb, kb, l) : NAN;
            json_t *lv = json_pack("{s:s, s:f}", "level", mdm_model_level_name(&ma->cmp[k], l),
                                   "weight_a", wa);
            if (in_b) {
                json_object_set_new(lv, "weight_b", json_real(wb));
                json_object_set_new(lv, "delta", json_real(wb - wa));
                if (fabs(wb - wa) > largest) {
                    largest = fabs(wb - wa);
                    json_decref(top);
                    top = json_pack("{s:s, s:s, s:f}", "comparison", ma->cmp[k].name, "level",
                                    mdm_model_level_name(&ma->cmp[k], l), "delta", wb - wa);
                }
            } else {
                json_object_set_new(lv, "weight_b", json_null());
            }
            json_array_append_new(levels, lv);
        }
        json_array_append_new(cmps,
                              json_pack("{s:s, s:o}", "name", ma->cmp[k].name, "levels", levels));
    }
    for (int x = 0; x < mb->ncmp; x++) {
        bool in_a = false;
        for (int k = 0; k < ma->ncmp; k++)
            in_a = in_a || !strcmp(ma->cmp[k].name, mb->cmp[x].name);
        if (!in_a)
            json_array_append_new(cmps,
                                  json_pack("{s:s, s:s}", "name", mb->cmp[x].name, "only_in", "b"));
    }
    *out = json_pack(
        "{s:i, s:i, s:o, s:o, s:o, s:o, s:o}", "a", a, "b", b, "prior", pair(ma->prior, mb->prior),
        "link_threshold", pair(ma->link_threshold, mb->link_threshold), "review_threshold",
        pair(ma->review_threshold, mb->review_threshold), "comparisons", cmps, "largest", top);
    mdm_model_free(ma);
    mdm_model_free(mb);
    return MDM_OK;
}

/* ---- steward decisions as labels ----------------------------------------------------- */

/* The record pairs of every decided review item, labelled as decided (a reopened item's
 * older labels disagree with its decision and are left out). */
static const mdm_db_stmt stmt_labels = {
    "models_labels",
    "SELECT r.id, r.decision, a.normalized::text AS na, b.normalized::text AS nb "
    "FROM review_item r JOIN steward_label l ON l.review_id = r.id AND l.origin = 'review' "
    "AND l.label = r.decision "
    "JOIN source_record a ON a.id = l.record_a AND NOT a.deleted "
    "JOIN source_record b ON b.id = l.record_b AND NOT b.deleted "
    "WHERE r.status = 'decided' AND r.decision IN ('match', 'no_match') ORDER BY r.id, l.id",
    0};

typedef struct confusion {
    long tp, fp, fn, tn;
} confusion;

static json_t *confusion_json(const confusion *c, double threshold)
{
    long pred = c->tp + c->fp, pos = c->tp + c->fn;
    return json_pack("{s:f, s:I, s:I, s:I, s:I, s:o, s:o}", "threshold", threshold, "tp",
                     (json_int_t)c->tp, "fp", (json_int_t)c->fp, "fn", (json_int_t)c->fn, "tn",
                     (json_int_t)c->tn, "precision",
                     pred ? json_real((double)c->tp / (double)pred) : json_null(), "recall",
                     pos ? json_real((double)c->tp / (double)pos) : json_null());
}

static void count(confusion *c, bool predicted, bool match)
{
    if (predicted && match)
        c->tp++;
    else if (predicted)
        c->fp++;
    else if (match)
        c->fn++;
    else
        c->tn++;
}

mdm_status mdm_models_label_eval(mdm_db *db, const mdm_engine *ctx, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_labels, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    confusion at_link = {0}, at_review = {0};
    long items = 0, match = 0;
    int n = PQntuples(res);
    /* an item's probability is its best labelled pair's, as the queue scores items */
    for (int i = 0; i < n;) {
        long long id = mdm_db_get_ll(res, i, "id", 0);
        bool is_match = !strcmp(mdm_db_get(res, i, "decision", ""), "match");
        double best = 0;
        for (; i < n && mdm_db_get_ll(res, i, "id", 0) == id; i++) {
            json_t *a = json_loads(mdm_db_get(res, i, "na", "{}"), 0, NULL);
            json_t *b = json_loads(mdm_db_get(res, i, "nb", "{}"), 0, NULL);
            double p = 0;
            if (a && b)
                (void)mdm_score_pair(ctx, a, b, &p, NULL, NULL);
            json_decref(a);
            json_decref(b);
            if (p > best)
                best = p;
        }
        items++;
        match += is_match;
        count(&at_link, best >= rs->auto_link, is_match);
        count(&at_review, best >= rs->review, is_match);
    }
    PQclear(res);
    *out =
        json_pack("{s:i, s:I, s:I, s:I, s:o, s:o}", "model_version", mdm_engine_model_version(ctx),
                  "items", (json_int_t)items, "match", (json_int_t)match, "no_match",
                  (json_int_t)(items - match), "at_link", confusion_json(&at_link, rs->auto_link),
                  "at_review", confusion_json(&at_review, rs->review));
    return MDM_OK;
}
