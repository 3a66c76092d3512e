/* `mdm model list|show|activate|diff`, `mdm train --from-store` and the model part of
 * `mdm eval --labels`: matching models in the store (mdm/models.h). */
#include "api/cli.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/ingest.h"
#include "mdm/models.h"
#include "mdm/source.h"
#include "stewardship/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json(const json_t *j, bool pretty)
{
    char *s = json_dumps(j, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER : JSON_COMPACT);
    if (s)
        puts(s);
    free(s);
}

static bool parse_version(const char *cmd, const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < 1 || v > 2147483647) {
        mdm_cli_usage_error(cmd, "a model version is a positive integer, got \"%s\"", s ? s : "");
        return false;
    }
    *out = (int)v;
    return true;
}

/* Re-scores every review item activation marked, under the context's model. */
static mdm_status rescore_all(mdm_db *db, const mdm_engine *ctx, long *total, mdm_err *err)
{
    *total = 0;
    for (;;) {
        long n = 0;
        mdm_status st = mdm_queue_rescore(db, ctx, &n, err);
        if (st != MDM_OK)
            return st;
        *total += n;
        if (n == 0)
            return MDM_OK;
    }
}

int mdm_cli_model(int argc, char **argv)
{
    const char *cmd = "model";
    if (argc < 2 || argv[1][0] == '-')
        return mdm_cli_usage_error(cmd, "missing subcommand: list, show, activate or diff");
    const char *sub = argv[1], *config_path = NULL;
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[++i];
        else if (argv[i][0] != '-' && npos < 2)
            pos[npos++] = argv[i];
        else
            return mdm_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[i]);
    }
    int want = !strcmp(sub, "list") ? 0 : !strcmp(sub, "diff") ? 2 : 1;
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "activate") &&
        strcmp(sub, "diff"))
        return mdm_cli_usage_error(
            cmd, "unknown subcommand \"%s\": use list, show, activate or diff", sub);
    if (npos != want)
        return mdm_cli_usage_error(cmd, "%s takes %d version number%s", sub, want,
                                   want == 1 ? "" : "s");
    int va = 0, vb = 0;
    if ((want >= 1 && !parse_version(cmd, pos[0], &va)) ||
        (want == 2 && !parse_version(cmd, pos[1], &vb)))
        return mdm_status_exit(MDM_EINVAL);
    mdm_cli_env e;
    int rc = mdm_cli_env_open(cmd, config_path, false, &e);
    if (rc)
        return rc;
    mdm_err err = {0};
    json_t *out = NULL;
    mdm_status st = MDM_OK;
    if (!strcmp(sub, "list")) {
        st = mdm_models_list(e.db, &out, &err);
        size_t i;
        json_t *row;
        json_array_foreach(out, i, row) print_json(row, false);
    } else if (!strcmp(sub, "show")) {
        if ((st = mdm_models_get(e.db, va, &out, &err)) == MDM_OK)
            print_json(out, true);
    } else if (!strcmp(sub, "diff")) {
        if ((st = mdm_models_diff(e.db, va, vb, &out, &err)) == MDM_OK)
            print_json(out, true);
    } else {
        long marked = 0, rescored = 0;
        st = mdm_models_activate(e.db, va, mdm_cli_actor(), &marked, &err);
        /* the open review items are scored again under the model just activated */
        if (st == MDM_OK)
            st = mdm_engine_use_db_model(e.ctx, e.db, NULL, &err);
        if (st == MDM_OK)
            st = rescore_all(e.db, e.ctx, &rescored, &err);
        if (st == MDM_OK) {
            printf("{\"active\":%d,\"review_items\":%ld,\"rescored\":%ld}\n", va, marked, rescored);
            fprintf(stderr,
                    "model: version %d is active; restart running servers (mdm serve) so that "
                    "they score with it\n",
                    va);
        }
    }
    if (st != MDM_OK)
        rc = mdm_cli_fail(cmd, &err);
    json_decref(out);
    mdm_cli_env_close(&e);
    return rc;
}

int mdm_cli_train_store(int argc, char **argv)
{
    const char *cmd = "train", *config_path = NULL;
    mdm_models_train_opts o = {0};
    bool activate = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--from-store"))
            continue;
        if (!strcmp(a, "--activate")) {
            activate = true;
        } else if (!strcmp(a, "--config") && v) {
            config_path = v;
            i++;
        } else if (!strcmp(a, "--note") && v) {
            o.note = v;
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            char *end = NULL;
            long t = strtol(v, &end, 10);
            if (!*v || *end || t < 1 || t > 256)
                return mdm_cli_usage_error(cmd, "--threads takes 1..256, got \"%s\"", v);
            o.threads = (int)t;
            i++;
        } else {
            return mdm_cli_usage_error(cmd, "unexpected argument \"%s\" with --from-store", a);
        }
    }
    mdm_cli_env e;
    int rc = mdm_cli_env_open(cmd, config_path, false, &e);
    if (rc)
        return rc;
    o.actor = mdm_cli_actor();
    mdm_err err = {0};
    int version = 0;
    json_t *summary = NULL;
    mdm_status st = mdm_models_train(e.db, e.ctx, &o, &version, &summary, &err);
    long marked = 0, rescored = 0;
    if (st == MDM_OK && activate) {
        st = mdm_models_activate(e.db, version, o.actor, &marked, &err);
        if (st == MDM_OK)
            st = mdm_engine_use_db_model(e.ctx, e.db, NULL, &err);
        if (st == MDM_OK)
            st = rescore_all(e.db, e.ctx, &rescored, &err);
        if (st == MDM_OK) {
            json_object_set_new(summary, "active", json_true());
            json_object_set_new(summary, "rescored", json_integer(rescored));
        }
    }
    if (st == MDM_OK)
        print_json(summary, false);
    else
        rc = mdm_cli_fail(cmd, &err);
    json_decref(summary);
    mdm_cli_env_close(&e);
    return rc;
}

json_t *mdm_cli_model_label_eval(const char *config_path, mdm_err *err)
{
    mdm_cli_env e;
    memset(&e, 0, sizeof e);
    e.cfg = mdm_config_load(config_path, err);
    if (!e.cfg)
        return NULL;
    json_t *out = NULL;
    e.ctx = mdm_engine_new(e.cfg, err);
    if (e.ctx)
        e.db = mdm_db_connect(e.cfg->database_url, err);
    if (e.db && mdm_engine_use_db_model(e.ctx, e.db, NULL, err) == MDM_OK &&
        mdm_models_label_eval(e.db, e.ctx, &out, err) != MDM_OK) {
        json_decref(out);
        out = NULL;
    }
    mdm_cli_env_close(&e);
    return out;
}
