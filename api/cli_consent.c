/* Compliance commands: `mdm export consent` (the streamed consent audit) and `mdm subject
 * export|erase` (subject access and erasure). Other export kinds (golden records) join
 * the export_kinds table below. */
#include "api/cli.h"
#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "mdm/audit.h"
#include "mdm/config.h"
#include "mdm/consent.h"
#include "mdm/consent_audit.h"
#include "mdm/db.h"
#include "mdm/subject.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads the configuration (and the consent vocabulary) and connects. Returns NULL with
 * the failure already reported and *rc set. */
static mdm_db *open_db(const char *command, const char *config_path, int *rc)
{
    mdm_config *cfg = NULL;
    mdm_db *db = NULL;
    *rc = mdm_cli_open(command, config_path, &cfg, &db);
    if (*rc != 0)
        return NULL;
    mdm_err err = {0};
    if (mdm_consent_configure(mdm_config_section(cfg, "consent"), &err) != MDM_OK) {
        *rc = mdm_cli_fail(command, &err);
        mdm_db_close(db);
        db = NULL;
    }
    mdm_config_free(cfg);
    return db;
}

static int export_consent(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},   {"to", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'F'}, {"output", required_argument, NULL, 'o'},
        {"config", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *to = NULL, *format = "csv", *output = NULL, *config_path = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:c:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'F':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        default:
            return mdm_cli_usage_error("export consent", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mdm_cli_usage_error("export consent", "unexpected argument \"%s\"", argv[optind]);
    mdm_consent_format fmt;
    if (!mdm_consent_format_parse(format, &fmt))
        return mdm_cli_usage_error("export consent", "--format must be csv or ndjson, got \"%s\"",
                                   format);
    int64_t us;
    if (from && !mdm_consent_parse_time(from, &us, NULL))
        return mdm_cli_usage_error("export consent",
                                   "--from must be an ISO 8601 time such as 2026-01-01 or "
                                   "2026-01-01T00:00:00Z, got \"%s\"",
                                   from);
    if (to && !mdm_consent_parse_time(to, &us, NULL))
        return mdm_cli_usage_error("export consent",
                                   "--to must be an ISO 8601 time such as 2026-02-01 or "
                                   "2026-02-01T00:00:00Z, got \"%s\"",
                                   to);
    int rc = 0;
    mdm_db *db = open_db("export consent", config_path, &rc);
    if (!db)
        return rc;
    mdm_err err = {0};
    FILE *out = stdout;
    if (output && !(out = mdm_io_open(output, "w"))) {
        mdm_err_set(&err, MDM_EIO, "cannot write %s: %s", output, strerror(errno));
        rc = mdm_cli_fail("export consent", &err);
        goto out_close_db;
    }
    mdm_consent_audit *a = NULL;
    if (mdm_consent_audit_open(db, from, to, fmt, &a, &err) != MDM_OK) {
        rc = mdm_cli_fail("export consent", &err);
        goto out_close_file;
    }
    mdm_buf buf = {0};
    bool done = false;
    while (!done) {
        mdm_buf_reset(&buf);
        if (mdm_consent_audit_next(a, &buf, &done, &err) != MDM_OK) {
            rc = mdm_cli_fail("export consent", &err);
            break;
        }
        if (buf.len && fwrite(buf.data, 1, buf.len, out) != buf.len) {
            mdm_err_set(&err, MDM_EIO, "cannot write the export: %s", strerror(errno));
            rc = mdm_cli_fail("export consent", &err);
            break;
        }
    }
    if (rc == 0 && fflush(out) != 0) {
        mdm_err_set(&err, MDM_EIO, "cannot write the export: %s", strerror(errno));
        rc = mdm_cli_fail("export consent", &err);
    }
    if (rc == 0)
        mdm_log(MDM_LOG_INFO, "event=consent_export rows=%lld", mdm_consent_audit_rows(a));
    long long rows = mdm_consent_audit_rows(a);
    mdm_buf_free(&buf);
    mdm_consent_audit_close(a);
    if (rc == 0) {
        /* the export is itself audited: /metrics reports the age of the last one */
        const char *actor = mdm_cli_actor();
        json_t *after =
            json_pack("{s:s?, s:s?, s:I}", "from", from, "to", to, "rows", (json_int_t)rows);
        if (mdm_audit_record(db, actor, "compliance", "consent.export", "consent_audit", NULL, NULL,
                             after, &err) != MDM_OK)
            rc = mdm_cli_fail("export consent", &err);
        json_decref(after);
    }
out_close_file:
    if (mdm_io_close(out) != 0 && rc == 0) {
        mdm_err_set(&err, MDM_EIO, "cannot write %s: %s", output, strerror(errno));
        rc = mdm_cli_fail("export consent", &err);
    }
out_close_db:
    mdm_db_close(db);
    return rc;
}

static const struct {
    const char *kind;
    mdm_cli_fn fn;
} export_kinds[] = {
    {"consent", export_consent},
    {"golden", mdm_cli_export_golden},
};

int mdm_cli_export(int argc, char **argv)
{
    if (argc < 2)
        return mdm_cli_usage_error("export", "missing what to export (golden or consent)");
    for (size_t i = 0; i < sizeof export_kinds / sizeof *export_kinds; i++)
        if (strcmp(argv[1], export_kinds[i].kind) == 0)
            return export_kinds[i].fn(argc - 1, argv + 1);
    return mdm_cli_usage_error("export", "unknown export \"%s\" (known: golden, consent)", argv[1]);
}

static bool parse_id(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v <= 0)
        return false;
    *out = v;
    return true;
}

int mdm_cli_subject(int argc, char **argv)
{
    static const struct option opts[] = {
        {"requester", required_argument, NULL, 'r'},
        {"reason", required_argument, NULL, 'R'},
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || (strcmp(argv[1], "export") && strcmp(argv[1], "erase")))
        return mdm_cli_usage_error("subject", "missing or unknown subcommand (export or erase)");
    bool erase = strcmp(argv[1], "erase") == 0;
    const char *requester = NULL, *reason = NULL, *config_path = NULL;
    argc--, argv++;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            requester = optarg;
            break;
        case 'R':
            reason = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        default:
            return mdm_cli_usage_error("subject", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    int64_t id;
    if (optind != argc - 1 || !parse_id(argv[optind], &id))
        return mdm_cli_usage_error("subject", "expected one golden record id (a positive "
                                              "integer)");
    if (!erase && (requester || reason))
        return mdm_cli_usage_error("subject", "--requester and --reason belong to erase");
    if (erase && (!requester || !*requester))
        return mdm_cli_usage_error("subject", "erase needs --requester (who asked for it)");
    int rc = 0;
    mdm_db *db = open_db("subject", config_path, &rc);
    if (!db)
        return rc;
    mdm_err err = {0};
    json_t *doc = NULL;
    const mdm_audit_actor who = {mdm_cli_actor(), "compliance"};
    mdm_status st = erase ? mdm_subject_erase(db, id, 0, requester, reason, &who, &doc, &err)
                          : mdm_subject_export(db, id, &doc, &err);
    if (st != MDM_OK) {
        rc = mdm_cli_fail("subject", &err);
    } else {
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (s)
            puts(s);
        free(s);
    }
    json_decref(doc);
    mdm_db_close(db);
    return rc;
}
