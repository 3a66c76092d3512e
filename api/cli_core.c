/* Service-core commands: load (bulk CSV/NDJSON), resolve (pending records), export
 * (golden records), rejects (list, retry). */
#include "api/cli.h"
#include "common/io.h"
#include "common/log.h"
#include "mdm/audit.h"
#include "mdm/config.h"
#include "mdm/consent.h"
#include "mdm/db.h"
#include "mdm/golden.h"
#include "mdm/household.h"
#include "mdm/ingest.h"
#include "mdm/pending.h"
#include "mdm/quality.h"
#include "mdm/query.h"
#include "mdm/reject.h"
#include "mdm/reresolve.h"
#include "mdm/resolve.h"
#include "mdm/source.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        mdm_cli_usage_error(cmd, "%s must be an integer %d..%d", opt, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Brings the households up to date with the golden records (mdm/household.h) and prints
 * what changed. */
static int households_refresh(mdm_cli_env *e, const char *cmd, bool print)
{
    mdm_household_stats hs;
    mdm_err err = {0};
    if (mdm_household_refresh(e->db, &hs, &err) != MDM_OK)
        return mdm_cli_fail(cmd, &err);
    if (print)
        printf("households: %ld created, %ld changed, %ld retired\n", hs.created, hs.changed,
               hs.retired);
    return 0;
}

int mdm_cli_load(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"source", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},  {"no-resolve", no_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'}, {"chunk", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},         {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *source = NULL, *format = NULL;
    int no_resolve = 0, threads = 1, chunk = 5000, quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:s:f:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 's':
            source = optarg;
            break;
        case 'f':
            format = optarg;
            if (strcmp(format, "csv") != 0 && strcmp(format, "ndjson") != 0)
                return mdm_cli_usage_error("load", "--format must be csv or ndjson");
            break;
        case 'n':
            no_resolve = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 't':
            if (parse_int("load", "--threads", optarg, 1, 32, &threads))
                return 2;
            break;
        case 'k':
            if (parse_int("load", "--chunk", optarg, 1, 1000000, &chunk))
                return 2;
            break;
        default:
            return mdm_cli_usage_error("load", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    if (!source)
        return mdm_cli_usage_error("load", "--source CODE is required");
    if (optind >= argc)
        return mdm_cli_usage_error("load", "no input file");
    for (int i = optind, seen = 0; i < argc; i++)
        if (mdm_io_is_std(argv[i]) && seen++)
            return mdm_cli_usage_error("load", "standard input (-) can be read only once");
    mdm_cli_env e;
    int rc = mdm_cli_env_open("load", config_path, true, &e);
    if (rc)
        return rc;
    mdm_err err = {0};
    FILE *progress = quiet ? NULL : stderr;
    for (int i = optind; i < argc; i++) {
        mdm_load_stats s = {0};
        mdm_status st = mdm_ingest_load(e.db, e.ctx, source, argv[i], format, chunk, progress,
                                        mdm_cli_actor(), "admin", &s, &err);
        int arc = mdm_cli_audit_load(e.db, source, argv[i], &s, st == MDM_OK ? NULL : &err);
        if (st != MDM_OK || arc) {
            rc = st != MDM_OK ? mdm_cli_fail("load", &err) : arc;
            goto out;
        }
        printf("loaded %s: %ld rows, %ld new, %ld changed, %ld unchanged, %ld stale, %ld deleted, "
               "%ld rejected, %ld flagged (key of an erased subject)\n",
               argv[i], s.rows, s.inserted, s.updated, s.unchanged, s.stale, s.deleted, s.rejected,
               s.erased);
    }
    if (!no_resolve) {
        long n = 0;
        long long mark = mdm_cli_audit_mark(e.db);
        mdm_status st =
            mdm_pending_resolve(e.cfg->database_url, e.ctx, 200, threads, progress, &n, &err);
        int arc = mdm_cli_audit_resolve(e.db, mark, n, st == MDM_OK ? NULL : &err);
        if (st != MDM_OK || arc) {
            rc = st != MDM_OK ? mdm_cli_fail("load", &err) : arc;
            goto out;
        }
        printf("resolved %ld records\n", n);
        rc = households_refresh(&e, "load", true);
    }
out:
    mdm_cli_env_close(&e);
    return rc;
}

/* `mdm resolve --all [--dry-run]`: every golden record under the active model
 * (mdm/reresolve.h); closes e. */
static int resolve_all(mdm_cli_env *e, int dry_run, int threads)
{
    mdm_err err = {0};
    mdm_reresolve_stats s;
    json_t *changes = NULL;
    int rc = 0;
    mdm_status st =
        mdm_reresolve_all(e->db, e->ctx, dry_run, threads, mdm_cli_actor(), &s, &changes, &err);
    if (st == MDM_OK && !dry_run) {
        /* one audit row for the run (the per-record trail is in link_event) */
        json_t *after = json_pack(
            "{s:i, s:I, s:I, s:I, s:I}", "model_version", mdm_engine_model_version(e->ctx),
            "records", (json_int_t)s.records, "splits", (json_int_t)s.splits, "merges",
            (json_int_t)s.merges, "records_moved", (json_int_t)s.records_moved);
        st = mdm_audit_record(e->db, mdm_cli_actor(), "admin", "records.reresolve", "entities:all",
                              NULL, NULL, after, &err);
        json_decref(after);
    }
    if (st != MDM_OK) {
        rc = mdm_cli_fail("resolve", &err);
    } else {
        json_t *o = json_pack(
            "{s:b, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O}", "dry_run", dry_run,
            "model_version", mdm_engine_model_version(e->ctx), "records", (json_int_t)s.records,
            "entities", (json_int_t)s.entities, "clusters", (json_int_t)s.clusters, "held",
            (json_int_t)s.held, "splits", (json_int_t)s.splits, "merges", (json_int_t)s.merges,
            "records_moved", (json_int_t)s.records_moved, "kept_apart", (json_int_t)s.kept_apart,
            "entities_after", (json_int_t)s.entities_after, "changes", changes);
        char *text = json_dumps(o, JSON_COMPACT);
        if (text)
            puts(text);
        free(text);
        json_decref(o);
    }
    json_decref(changes);
    if (rc == 0 && !dry_run)
        rc = households_refresh(e, "resolve", false); /* the JSON above is the whole output */
    mdm_cli_env_close(e);
    return rc;
}

int mdm_cli_resolve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},
        {"quiet", no_argument, NULL, 'q'},
        {"all", no_argument, NULL, 'a'},
        {"dry-run", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int threads = 1, batch = 200, quiet = 0, all = 0, dry_run = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:t:b:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            if (parse_int("resolve", "--threads", optarg, 1, 32, &threads))
                return 2;
            break;
        case 'b':
            if (parse_int("resolve", "--batch", optarg, 1, 100000, &batch))
                return 2;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'a':
            all = 1;
            break;
        case 'n':
            dry_run = 1;
            break;
        default:
            return mdm_cli_usage_error("resolve", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mdm_cli_usage_error("resolve", "unexpected argument \"%s\"", argv[optind]);
    if (dry_run && !all)
        return mdm_cli_usage_error("resolve", "--dry-run goes with --all");
    mdm_cli_env e;
    int rc = mdm_cli_env_open("resolve", config_path, true, &e);
    if (rc)
        return rc;
    mdm_err err = {0};
    if (all)
        return resolve_all(&e, dry_run, threads);
    long n = 0;
    long long mark = mdm_cli_audit_mark(e.db);
    mdm_status st = mdm_pending_resolve(e.cfg->database_url, e.ctx, batch, threads,
                                        quiet ? NULL : stderr, &n, &err);
    int arc = mdm_cli_audit_resolve(e.db, mark, n, st == MDM_OK ? NULL : &err);
    if (st != MDM_OK)
        rc = mdm_cli_fail("resolve", &err);
    else if (arc)
        rc = arc;
    else {
        printf("resolved %ld records\n", n);
        rc = households_refresh(&e, "resolve", true);
    }
    mdm_cli_env_close(&e);
    return rc;
}

int mdm_cli_export_golden(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *format = "ndjson", *output = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:f:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        default:
            return mdm_cli_usage_error("export", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mdm_cli_usage_error("export", "unexpected argument \"%s\"", argv[optind]);
    if (strcmp(format, "ndjson") != 0 && strcmp(format, "csv") != 0)
        return mdm_cli_usage_error("export", "--format must be ndjson or csv");
    mdm_err err = {0};
    mdm_config *cfg = mdm_config_load(config_path, &err);
    if (!cfg)
        return mdm_cli_fail("export", &err);
    mdm_cli_log_level("export", cfg);
    int rc = 0;
    FILE *f = stdout;
    mdm_db *db = mdm_db_connect(cfg->database_url, &err);
    if (!db) {
        rc = mdm_cli_fail("export", &err);
        goto out_free_cfg;
    }
    if (output && !(f = mdm_io_open(output, "w"))) {
        mdm_err_set(&err, MDM_EIO, "cannot write %s", output);
        rc = mdm_cli_fail("export", &err);
        goto out_close;
    }
    long n = 0;
    if (mdm_query_export(db, format, f, &n, &err) != MDM_OK)
        rc = mdm_cli_fail("export", &err);
    if (mdm_io_close(f) != 0 && rc == 0) {
        mdm_err_set(&err, MDM_EIO, "cannot write %s", output);
        rc = mdm_cli_fail("export", &err);
    }
    if (rc == 0)
        fprintf(stderr, "exported %ld golden records\n", n);
out_close:
    mdm_db_close(db);
out_free_cfg:
    mdm_config_free(cfg);
    return rc;
}

/* `mdm rejects list|retry`: refused records (mdm/reject.h). */
int mdm_cli_rejects(int argc, char **argv)
{
    const char *cmd = "rejects";
    if (argc < 2 || argv[1][0] == '-')
        return mdm_cli_usage_error(cmd, "missing subcommand: list or retry");
    const char *sub = argv[1], *config_path = NULL;
    bool list = strcmp(sub, "list") == 0, retry = strcmp(sub, "retry") == 0;
    if (!list && !retry)
        return mdm_cli_usage_error(cmd, "unknown subcommand \"%s\": use list or retry", sub);
    mdm_reject_filter f = {0};
    int limit = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **target = !strcmp(a, "--config")           ? &config_path
                              : !strcmp(a, "--source")         ? &f.source
                              : !strcmp(a, "--key")            ? &f.source_key
                              : !strcmp(a, "--field")          ? &f.field
                              : !strcmp(a, "--from")           ? &f.from
                              : !strcmp(a, "--to")             ? &f.to
                              : !strcmp(a, "--status") && list ? &f.status
                                                               : NULL;
        if (target && v) {
            *target = v;
            i++;
        } else if (!strcmp(a, "--limit") && v) {
            if (parse_int(cmd, a, v, 1, list ? 1000 : 100000000, &limit))
                return 2;
            i++;
        } else if (!strcmp(a, "--after") && v && list) {
            int after = 0;
            if (parse_int(cmd, a, v, 0, 2147483647, &after))
                return 2;
            f.after = after;
            i++;
        } else {
            return mdm_cli_usage_error(cmd, "unknown or incomplete option \"%s\"", a);
        }
    }
    f.limit = limit;
    int64_t us;
    if ((f.from && !mdm_consent_parse_time(f.from, &us, NULL)) ||
        (f.to && !mdm_consent_parse_time(f.to, &us, NULL)))
        return mdm_cli_usage_error(cmd, "--from and --to take an ISO 8601 time (2026-01-01)");
    mdm_cli_env e;
    int rc = mdm_cli_env_open(cmd, config_path, true, &e);
    if (rc)
        return rc;
    mdm_err err = {0};
    if (list) {
        json_t *rows = NULL;
        if (mdm_reject_list(e.db, &f, &rows, NULL, &err) != MDM_OK) {
            rc = mdm_cli_fail(cmd, &err);
        } else {
            size_t i;
            json_t *row;
            json_array_foreach(rows, i, row)
            {
                char *s = json_dumps(row, JSON_COMPACT);
                if (s)
                    puts(s);
                free(s);
            }
            json_decref(rows);
        }
    } else {
        mdm_reject_retry_stats s;
        mdm_status st = mdm_reject_retry(e.db, e.ctx, &f, mdm_cli_actor(), &s, &err);
        /* one audit row for the run, counts only (mdm/audit.h: no personal values) */
        json_t *after =
            json_pack("{s:I, s:I, s:I, s:I, s:b}", "tried", (json_int_t)s.tried, "accepted",
                      (json_int_t)s.accepted, "refused", (json_int_t)s.refused, "skipped",
                      (json_int_t)s.skipped, "complete", st == MDM_OK);
        mdm_err aerr = {0};
        char target[160];
        snprintf(target, sizeof target, "rejects:%.100s", f.source ? f.source : "*");
        mdm_status ast = mdm_audit_record(e.db, mdm_cli_actor(), "admin", "rejects.retry", target,
                                          NULL, NULL, after, &aerr);
        json_decref(after);
        if (st != MDM_OK)
            rc = mdm_cli_fail(cmd, &err);
        else if (ast != MDM_OK)
            rc = mdm_cli_fail(cmd, &aerr);
        else
            printf("{\"tried\":%ld,\"accepted\":%ld,\"refused\":%ld,\"skipped\":%ld}\n", s.tried,
                   s.accepted, s.refused, s.skipped);
    }
    mdm_cli_env_close(&e);
    return rc;
}

/* `mdm quality report [--format csv|ndjson] [--output FILE] [--config FILE]`: what each
 * source system sends badly (mdm/quality.h). */
int mdm_cli_quality(int argc, char **argv)
{
    const char *cmd = "quality";
    if (argc < 2 || strcmp(argv[1], "report") != 0)
        return mdm_cli_usage_error(cmd, "missing subcommand: report");
    const char *config_path = NULL, *format = "csv", *output = NULL;
    for (int i = 2; i < argc; i++) {
        const char **target = !strcmp(argv[i], "--config")   ? &config_path
                              : !strcmp(argv[i], "--format") ? &format
                              : !strcmp(argv[i], "--output") ? &output
                                                             : NULL;
        if (!target || i + 1 >= argc)
            return mdm_cli_usage_error(cmd, "unknown or incomplete option \"%s\"", argv[i]);
        *target = argv[++i];
    }
    if (strcmp(format, "csv") != 0 && strcmp(format, "ndjson") != 0)
        return mdm_cli_usage_error(cmd, "--format must be csv or ndjson");
    mdm_cli_env e;
    int rc = mdm_cli_env_open(cmd, config_path, false, &e);
    if (rc)
        return rc;
    mdm_err err = {0};
    json_t *report = NULL;
    FILE *f = stdout;
    if (mdm_quality_report(e.db, &report, &err) != MDM_OK) {
        rc = mdm_cli_fail(cmd, &err);
        goto out;
    }
    if (output && !(f = fopen(output, "w"))) {
        mdm_err_set(&err, MDM_EIO, "cannot write %s", output);
        rc = mdm_cli_fail(cmd, &err);
        goto out;
    }
    if (mdm_quality_report_write(report, format, f, &err) != MDM_OK)
        rc = mdm_cli_fail(cmd, &err);
    if (f != stdout && fclose(f) != 0 && !rc) {
        mdm_err_set(&err, MDM_EIO, "cannot write %s", output);
        rc = mdm_cli_fail(cmd, &err);
    }
out:
    json_decref(report);
    mdm_cli_env_close(&e);
    return rc;
}
