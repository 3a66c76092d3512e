/* Stewardship commands: `mdm audit verify|list`, and the audit summaries of the bulk
 * commands (load, resolve). */
#include "api/cli.h"
#include "common/log.h"
#include "common/mem.h"
#include "mdm/audit.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/golden.h"
#include "stewardship/queue.h"

#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads the configuration and connects; returns NULL after reporting the error. */
static mdm_db *open_db(const char *command, const char *config_path, int *rc)
{
    mdm_db *db = NULL;
    *rc = mdm_cli_open(command, config_path, NULL, &db);
    return db;
}

static int audit_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"expect-head", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *expect = NULL;
    int as_json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (c == 'c')
            config_path = optarg;
        else if (c == 'j')
            as_json = 1;
        else if (c == 'e')
            expect = optarg;
        else
            return mdm_cli_usage_error("audit", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
    }
    if (optind < argc)
        return mdm_cli_usage_error("audit", "unexpected argument \"%s\"", argv[optind]);
    if (expect && strlen(expect) != 64)
        return mdm_cli_usage_error("audit", "--expect-head takes the 64 hex digits of a hash");
    int rc = 0;
    mdm_db *db = open_db("audit", config_path, &rc);
    if (!db)
        return rc;
    mdm_err err = {0};
    mdm_audit_check chk;
    json_t *problems = NULL;
    if (mdm_audit_verify(db, &chk, &problems, &err) != MDM_OK) {
        rc = mdm_cli_fail("audit", &err);
        goto out_close;
    }
    bool head_ok = !expect || strcmp(expect, chk.head_hash) == 0;
    if (as_json) {
        json_t *j = json_pack("{s:b,s:I,s:I,s:s,s:O}", "intact", chk.intact && head_ok, "rows",
                              (json_int_t)chk.rows, "problems", (json_int_t)chk.problems, "head",
                              chk.head_hash, "details", problems);
        if (!head_ok)
            json_object_set_new(j, "expected_head", json_string(expect));
        char *s = json_dumps(j, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
        json_decref(j);
    } else if (chk.intact && head_ok) {
        printf("audit log intact: %lld rows, head %s\n", chk.rows, chk.head_hash);
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(problems, i, p)
        {
            fprintf(stderr, "mdm audit: %s\n", json_string_value(json_object_get(p, "problem")));
        }
        if ((long long)json_array_size(problems) < chk.problems)
            fprintf(stderr, "mdm audit: ... %lld problems in all\n", chk.problems);
        if (!head_ok)
            fprintf(stderr, "mdm audit: the chain ends with hash %s, not the expected %s\n",
                    chk.head_hash, expect);
        printf("audit log TAMPERED: %lld rows, %lld problems\n", chk.rows,
               chk.problems + (head_ok ? 0 : 1));
    }
    if (!(chk.intact && head_ok))
        rc = 1;
    json_decref(problems);
out_close:
    mdm_db_close(db);
    return rc;
}

static int audit_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"actor", required_argument, NULL, 'a'},
        {"role", required_argument, NULL, 'r'},
        {"action", required_argument, NULL, 'x'},
        {"target", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'o'},
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    mdm_audit_filter f = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'a':
            f.actor = optarg;
            break;
        case 'r':
            f.role = optarg;
            break;
        case 'x':
            f.action = optarg;
            break;
        case 't':
            f.target = optarg;
            break;
        case 'f':
            f.from = optarg;
            break;
        case 'o':
            f.to = optarg;
            break;
        case 'l': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000)
                return mdm_cli_usage_error("audit", "--limit must be between 1 and 1000");
            f.limit = (int)v;
            break;
        }
        default:
            return mdm_cli_usage_error("audit", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mdm_cli_usage_error("audit", "unexpected argument \"%s\"", argv[optind]);
    int rc = 0;
    mdm_db *db = open_db("audit", config_path, &rc);
    if (!db)
        return rc;
    mdm_err err = {0};
    json_t *rows = NULL;
    if (mdm_audit_list(db, &f, &rows, NULL, &err) != MDM_OK) {
        rc = mdm_cli_fail("audit", &err);
    } else {
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r)
        {
            char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s)
                puts(s);
            free(s);
        }
        json_decref(rows);
    }
    mdm_db_close(db);
    return rc;
}

int mdm_cli_audit(int argc, char **argv)
{
    if (argc < 2)
        return mdm_cli_usage_error("audit", "missing subcommand (verify or list)");
    if (strcmp(argv[1], "verify") == 0)
        return audit_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return audit_list(argc - 1, argv + 1);
    return mdm_cli_usage_error("audit", "unknown subcommand \"%s\"", argv[1]);
}

static void print_ratio(const char *name, json_t *v)
{
    if (json_is_number(v))
        printf(" %s=%.4f", name, json_number_value(v));
    else
        printf(" %s=-", name);
}

int mdm_cli_eval_labels(int argc, char **argv)
{
    const char *config_path = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--labels") == 0)
            continue;
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else
            return mdm_cli_usage_error("eval", "unexpected argument \"%s\" with --labels", argv[i]);
    }
    int rc = 0;
    mdm_db *db = open_db("eval", config_path, &rc);
    if (!db)
        return rc;
    mdm_err err = {0};
    json_t *r = NULL;
    if (mdm_queue_label_report(db, &r, &err) != MDM_OK) {
        rc = mdm_cli_fail("eval", &err);
        goto out_close;
    }
    /* the active model on the decided review items (mdm/models.h) */
    json_t *model = mdm_cli_model_label_eval(config_path, &err);
    if (!model) {
        rc = mdm_cli_fail("eval", &err);
        json_decref(r);
        goto out_close;
    }
    json_object_set_new(r, "model", model);
    if (as_json) {
        char *s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
    } else {
        json_t *a = json_object_get(r, "auto"), *rv = json_object_get(r, "review");
        printf("labelled_pairs=%lld match=%lld no_match=%lld\n",
               (long long)json_integer_value(json_object_get(r, "pairs")),
               (long long)json_integer_value(json_object_get(r, "match")),
               (long long)json_integer_value(json_object_get(r, "no_match")));
        printf("auto_links=%lld confirmed=%lld rejected=%lld",
               (long long)json_integer_value(json_object_get(a, "pairs")),
               (long long)json_integer_value(json_object_get(a, "confirmed")),
               (long long)json_integer_value(json_object_get(a, "rejected")));
        print_ratio("precision", json_object_get(a, "precision"));
        printf("\nmissed_links=%lld", (long long)json_integer_value(json_object_get(r, "missed")));
        print_ratio("recall", json_object_get(r, "recall"));
        printf("\nreview_decided=%lld match=%lld no_match=%lld\n",
               (long long)json_integer_value(json_object_get(rv, "decided")),
               (long long)json_integer_value(json_object_get(rv, "match")),
               (long long)json_integer_value(json_object_get(rv, "no_match")));
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(rv, "thresholds"), i, t)
        {
            printf("threshold=%.2f would_link=%lld correct=%lld",
                   json_number_value(json_object_get(t, "threshold")),
                   (long long)json_integer_value(json_object_get(t, "linked")),
                   (long long)json_integer_value(json_object_get(t, "correct")));
            print_ratio("precision", json_object_get(t, "precision"));
            putchar('\n');
        }
        static const char *const at[] = {"at_link", "at_review"};
        for (size_t k = 0; k < 2; k++) {
            json_t *c = json_object_get(model, at[k]);
            printf("model_version=%d %s=%.2f items=%lld tp=%lld fp=%lld fn=%lld tn=%lld",
                   (int)json_integer_value(json_object_get(model, "model_version")), at[k],
                   json_number_value(json_object_get(c, "threshold")),
                   (long long)json_integer_value(json_object_get(model, "items")),
                   (long long)json_integer_value(json_object_get(c, "tp")),
                   (long long)json_integer_value(json_object_get(c, "fp")),
                   (long long)json_integer_value(json_object_get(c, "fn")),
                   (long long)json_integer_value(json_object_get(c, "tn")));
            print_ratio("precision", json_object_get(c, "precision"));
            print_ratio("recall", json_object_get(c, "recall"));
            putchar('\n');
        }
    }
    json_decref(r);
out_close:
    mdm_db_close(db);
    return rc;
}

/* ---- audit summaries of bulk commands ----------------------------------------------- */

static int record_summary(mdm_db *db, const char *command, const char *action, const char *target,
                          json_t *after, const mdm_err *failure)
{
    json_object_set_new(after, "complete", json_boolean(!failure));
    if (failure)
        json_object_set_new(after, "failed_with", json_string(mdm_status_name(failure->code)));
    mdm_err err = {0};
    int rc = 0;
    if (mdm_audit_record(db, mdm_cli_actor(), "admin", action, target, NULL, NULL, after, &err) !=
        MDM_OK)
        rc = mdm_cli_fail(command, &err);
    json_decref(after);
    return rc;
}

int mdm_cli_audit_load(mdm_db *db, const char *source, const char *path, const mdm_load_stats *s,
                       const mdm_err *failure)
{
    char target[160];
    const char *hash = s->file_sha256;
    char *copy = mdm_xstrdup(path);
    json_t *after = json_pack(
        "{s:s,s:s?,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "file", basename(copy), "file_sha256",
        hash[0] ? hash : NULL, "stats", "rows", (json_int_t)s->rows, "inserted",
        (json_int_t)s->inserted, "updated", (json_int_t)s->updated, "unchanged",
        (json_int_t)s->unchanged, "stale", (json_int_t)s->stale, "deleted", (json_int_t)s->deleted,
        "rejected", (json_int_t)s->rejected, "erased_keys", (json_int_t)s->erased);
    free(copy);
    snprintf(target, sizeof target, "source:%.100s", source);
    return record_summary(db, "load", "records.load", target, after, failure);
}

long long mdm_cli_audit_mark(mdm_db *db)
{
    mdm_err err;
    long long id = 0;
    if (mdm_golden_last_event(db, &id, &err) != MDM_OK)
        return 0;
    return id;
}

int mdm_cli_audit_resolve(mdm_db *db, long long mark, long resolved, const mdm_err *failure)
{
    long long last = mdm_cli_audit_mark(db);
    json_t *after = json_pack("{s:I,s:[I,I]}", "resolved", (json_int_t)resolved, "link_event_ids",
                              (json_int_t)(mark + 1), (json_int_t)last);
    return record_summary(db, "resolve", "records.resolve", "records:pending", after, failure);
}
