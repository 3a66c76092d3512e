/* Administrative commands: version, migrate, config. */
#include "api/cli.h"
#include "api/http.h"
#include "common/log.h"
#include "mdm/audit.h"
#include "mdm/config.h"
#include "mdm/consent.h"
#include "mdm/db.h"
#include "mdm/ingest.h"
#include "mdm/migrate.h"
#include "mdm/publish_config.h"
#include "mdm/source.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unicode/uversion.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define MDM_VERSION "0.1.0"
#ifndef MDM_PHONENUMBER_VERSION /* the Debian package version, set by the Makefile */
#define MDM_PHONENUMBER_VERSION "(version unknown)"
#endif

int mdm_cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char pcre[64] = "";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    int pq = PQlibVersion();
    printf("mdm %s\n", MDM_VERSION);
    printf("libpq %d.%d\nicu %s\npcre2 %s\njansson %s\nlibmicrohttpd %s (TLS %s)\n%s\n%s\n"
           "libphonenumber %s\n",
           pq / 10000, pq % 10000, U_ICU_VERSION, pcre, jansson_version_str(), MHD_get_version(),
           MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES ? "yes" : "no", curl_version(),
           OpenSSL_version(OPENSSL_VERSION), MDM_PHONENUMBER_VERSION);
    return 0;
}

/* Parses the options every database command shares; returns the remaining index or -1
 * on a usage error (already reported). */
static int parse_common(int argc, char **argv, const char **config_path, int *status_only)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"status", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *config_path = optarg;
            break;
        case 's':
            if (!status_only)
                goto bad;
            *status_only = 1;
            break;
        default:
            goto bad;
        }
    }
    return optind;
bad:
    mdm_cli_usage_error(argv[0], "unknown or incomplete option \"%s\"", argv[optind - 1]);
    return -1;
}

/* One "schema.migrate" audit row for a run that applied migrations (the audit log
 * exists from migration 002 on, so the row comes after the run): how many were applied
 * and the schema version reached. */
static int audit_migrations(mdm_db *db, int applied)
{
    mdm_err err = {0};
    long long version = 0;
    char name[256];
    mdm_status st = mdm_migrate_head(db, &version, name, sizeof name, &err);
    if (st != MDM_OK)
        return mdm_cli_fail("migrate", &err);
    json_t *after = json_pack("{s:i,s:I,s:s}", "applied", applied, "version", (json_int_t)version,
                              "name", name);
    st = mdm_audit_record(db, mdm_cli_actor(), "admin", "schema.migrate", "schema", NULL, NULL,
                          after, &err);
    json_decref(after);
    return st == MDM_OK ? 0 : mdm_cli_fail("migrate", &err);
}

int mdm_cli_migrate(int argc, char **argv)
{
    const char *config_path = NULL;
    int status_only = 0;
    int rest = parse_common(argc, argv, &config_path, &status_only);
    if (rest < 0)
        return mdm_status_exit(MDM_EINVAL);
    if (rest < argc)
        return mdm_cli_usage_error("migrate", "unexpected argument \"%s\"", argv[rest]);
    mdm_config *cfg = NULL;
    mdm_db *db = NULL;
    int rc = mdm_cli_open("migrate", config_path, &cfg, &db);
    if (rc != 0)
        return rc;
    mdm_err err = {0};
    int applied = 0;
    if (mdm_migrate_run(db, cfg->sql_dir, status_only, stdout, &applied, &err) != MDM_OK)
        rc = mdm_cli_fail("migrate", &err);
    else if (!status_only && applied == 0)
        printf("up to date\n");
    else if (!status_only)
        rc = audit_migrations(db, applied);
    if (rc == 0 && !status_only) {
        /* source systems from the configuration (mdm/source.h) */
        mdm_sources *sources = mdm_sources_load(cfg, &err);
        int n = 0;
        if (!sources || mdm_sources_sync(db, sources, &n, &err) != MDM_OK)
            rc = mdm_cli_fail("migrate", &err);
        else if (n)
            printf("synchronized %d source systems\n", n);
        mdm_sources_free(sources);
    }
    mdm_db_close(db);
    mdm_config_free(cfg);
    return rc;
}

int mdm_cli_config(int argc, char **argv)
{
    const char *config_path = NULL;
    int rest = parse_common(argc, argv, &config_path, NULL);
    if (rest < 0)
        return mdm_status_exit(MDM_EINVAL);
    if (rest < argc)
        return mdm_cli_usage_error("config", "unexpected argument \"%s\"", argv[rest]);
    mdm_err err = {0};
    mdm_config *cfg = mdm_config_load(config_path, &err);
    if (!cfg)
        return mdm_cli_fail("config", &err);
    /* every section is validated by the same code serve and load run, without a
     * database: http limits, sources, resolve, survivorship, model and field limits (the
     * ingest context), publish and subscriptions, the consent vocabulary */
    mdm_http_limits lim;
    mdm_engine *ictx = NULL;
    if (mdm_http_limits_load(cfg, &lim, &err) != MDM_OK || !(ictx = mdm_engine_new(cfg, &err)) ||
        mdm_publish_validate_config(cfg, &err) != MDM_OK ||
        mdm_consent_configure(mdm_config_section(cfg, "consent"), &err) != MDM_OK) {
        mdm_engine_free(ictx);
        mdm_config_free(cfg);
        return mdm_cli_fail("config", &err);
    }
    mdm_engine_free(ictx);
    json_t *j = mdm_config_to_json(cfg);
    mdm_publish_mask_secrets(j);
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s)
        puts(s);
    free(s);
    json_decref(j);
    mdm_config_free(cfg);
    return 0;
}
