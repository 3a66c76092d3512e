/* `mdm serve` (the HTTP server until SIGTERM/SIGINT) and `mdm apikey create|list|revoke`. */
#include "api/auth.h"
#include "api/cli.h"
#include "api/http.h"
#include "common/log.h"
#include "mdm/config.h"
#include "mdm/consent.h"
#include "mdm/db.h"
#include "mdm/household.h"
#include "mdm/publish.h"
#include "mdm/quality.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_routes(void)
{
    for (size_t i = 0; i < mdm_http_nroutes; i++) {
        const mdm_http_route *r = &mdm_http_routes[i];
        printf("%-7s %-45s ", r->method, r->pattern);
        if (r->roles == MDM_ROLES_PUBLIC) {
            printf("public");
        } else {
            const char *sep = "";
            for (int b = 1; b <= MDM_ROLE_ADMIN; b <<= 1)
                if ((r->roles & (unsigned)b) || b == MDM_ROLE_ADMIN) {
                    printf("%s%s%s", sep, mdm_auth_role_name((mdm_role)b),
                           b == MDM_ROLE_SOURCE && (r->flags & MDM_HTTP_OWN_SOURCE) ? "(own)" : "");
                    sep = ",";
                }
        }
        putchar('\n');
    }
}

int mdm_cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"routes", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *listen = NULL;
    int routes = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:l:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'r':
            routes = 1;
            break;
        default:
            return mdm_cli_usage_error("serve", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mdm_cli_usage_error("serve", "unexpected argument \"%s\"", argv[optind]);
    if (routes) {
        print_routes();
        return 0;
    }
    mdm_err err = {0};
    mdm_config *cfg = mdm_config_load(config_path, &err);
    if (!cfg)
        return mdm_cli_fail("serve", &err);
    mdm_cli_log_level("serve", cfg);
    if (mdm_consent_configure(mdm_config_section(cfg, "consent"), &err) != MDM_OK ||
        mdm_household_configure(mdm_config_section(cfg, "households"), &err) != MDM_OK) {
        mdm_config_free(cfg);
        return mdm_cli_fail("serve", &err);
    }
    if (!cfg->database_url[0]) {
        mdm_config_free(cfg);
        mdm_err_set(&err, MDM_EINVAL,
                    "no database configured: set MDM_DATABASE_URL or database_url in mdm.json");
        return mdm_cli_fail("serve", &err);
    }
    /* Signals are taken synchronously by this thread; the worker threads inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    mdm_http_server *srv = mdm_http_start(cfg, listen ? listen : cfg->listen, &err);
    if (!srv) {
        mdm_config_free(cfg);
        return mdm_cli_fail("serve", &err);
    }
    /* push delivery workers (publish.workers threads; nothing when publish.enabled is false) */
    if (mdm_publish_start(cfg, 0, &err) != MDM_OK) {
        mdm_http_stop(srv);
        mdm_config_free(cfg);
        return mdm_cli_fail("serve", &err);
    }
    /* households follow the golden records (mdm/household.h) */
    if (mdm_household_start(cfg->database_url, 1000, &err) != MDM_OK) {
        mdm_publish_stop();
        mdm_http_stop(srv);
        mdm_config_free(cfg);
        return mdm_cli_fail("serve", &err);
    }
    /* the data-quality histograms of /metrics, computed in the background (mdm/quality.h) */
    mdm_http_limits lim;
    if (mdm_http_limits_load(cfg, &lim, &err) != MDM_OK ||
        (lim.quality_metrics_seconds > 0 &&
         mdm_quality_snapshot_start(cfg->database_url, lim.quality_metrics_seconds, &err) !=
             MDM_OK)) {
        mdm_household_stop();
        mdm_publish_stop();
        mdm_http_stop(srv);
        mdm_config_free(cfg);
        return mdm_cli_fail("serve", &err);
    }
    const char *l = listen ? listen : cfg->listen;
    const char *colon = strrchr(l, ':');
    printf("mdm serve: listening on %s://%.*s:%d/ (OpenAPI at /v1/openapi.json)\n",
           mdm_http_tls(srv) ? "https" : "http", (int)(colon - l), l, mdm_http_port(srv));
    /* The key command must reach the same database: name it when that is safe to print. */
    const char *url = cfg->database_url;
    bool secret = strchr(url, '@') || strstr(url, "password") || strchr(url, '\'');
    if (secret)
        printf("mdm serve: create an API key (same MDM_DATABASE_URL): "
               "mdm apikey create --role reader --name me\n");
    else
        printf("mdm serve: create an API key: MDM_DATABASE_URL='%s' mdm apikey create --role "
               "reader --name me\n",
               url);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    mdm_log(MDM_LOG_INFO, "event=signal sig=%s", sig == SIGTERM ? "TERM" : "INT");
    mdm_quality_snapshot_stop();
    mdm_household_stop();
    mdm_publish_stop(); /* in-flight deliveries finish first */
    mdm_http_stop(srv);
    mdm_config_free(cfg);
    return 0;
}

/* Parses "N", "N/s" into requests per second. */
static bool parse_rate(const char *s, double *rate)
{
    char *end = NULL;
    double r = strtod(s, &end);
    if (end == s)
        return false;
    if (strcmp(end, "/s") != 0 && *end)
        return false;
    *rate = r;
    return r > 0 && r <= 1e6;
}

static int apikey_create(int argc, char **argv, mdm_db *db)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},
        {"source", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *role = NULL, *source = NULL, *name = NULL;
    double rate = 100;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            role = optarg;
            break;
        case 's':
            source = optarg;
            break;
        case 't':
            if (!parse_rate(optarg, &rate))
                return mdm_cli_usage_error("apikey",
                                           "--rate must be N/s with N above 0, got \"%s\"", optarg);
            break;
        case 'n':
            name = optarg;
            break;
        default:
            return mdm_cli_usage_error("apikey", "unknown or incomplete option \"%s\"",
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mdm_cli_usage_error("apikey", "unexpected argument \"%s\"", argv[optind]);
    if (!role)
        return mdm_cli_usage_error("apikey", "create needs --role ROLE");
    mdm_role r = mdm_auth_role_parse(role);
    if (!r)
        return mdm_cli_usage_error(
            "apikey", "--role must be source, reader, steward, compliance or admin, got \"%s\"",
            role);
    mdm_err err = {0};
    char *key = NULL;
    int64_t id = 0;
    const mdm_audit_actor who = {mdm_cli_actor(), "admin"};
    if (mdm_auth_key_create(db, r, source, rate, name, &who, &key, &id, &err) != MDM_OK)
        return mdm_cli_fail("apikey", &err);
    puts(key);
    fprintf(stderr,
            "mdm apikey: created key %lld (role %s%s%s); it is shown only once, store it now.\n"
            "Use it as: Authorization: Bearer <key>\n",
            (long long)id, role, source ? ", source " : "", source ? source : "");
    free(key);
    return 0;
}

static int apikey_list(int argc, char **argv, mdm_db *db)
{
    bool as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > (as_json ? 2 : 1))
        return mdm_cli_usage_error("apikey", "unexpected argument \"%s\"", argv[as_json ? 2 : 1]);
    mdm_err err = {0};
    json_t *keys = NULL;
    if (mdm_auth_key_list(db, &keys, &err) != MDM_OK)
        return mdm_cli_fail("apikey", &err);
    if (as_json) {
        char *s = json_dumps(keys, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    } else {
        printf("%-6s %-14s %-11s %-12s %-8s %-27s %-27s %s\n", "id", "prefix", "role", "source",
               "rate/s", "created", "revoked", "name");
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k)
        {
            const char *src = json_string_value(json_object_get(k, "source"));
            const char *rev = json_string_value(json_object_get(k, "revoked_at"));
            const char *nm = json_string_value(json_object_get(k, "name"));
            printf("%-6lld %-14s %-11s %-12s %-8g %-27s %-27s %s\n",
                   (long long)json_integer_value(json_object_get(k, "id")),
                   json_string_value(json_object_get(k, "prefix")),
                   json_string_value(json_object_get(k, "role")), src ? src : "-",
                   json_real_value(json_object_get(k, "rate_per_sec")),
                   json_string_value(json_object_get(k, "created_at")), rev ? rev : "-",
                   nm ? nm : "");
        }
    }
    json_decref(keys);
    return 0;
}

static int apikey_revoke(int argc, char **argv, mdm_db *db)
{
    if (argc != 2)
        return mdm_cli_usage_error("apikey", "revoke needs exactly one key id or prefix");
    mdm_err err = {0};
    const mdm_audit_actor who = {mdm_cli_actor(), "admin"};
    if (mdm_auth_key_revoke(db, argv[1], &who, &err) != MDM_OK)
        return mdm_cli_fail("apikey", &err);
    fprintf(stderr, "mdm apikey: revoked %s\n", argv[1]);
    return 0;
}

int mdm_cli_apikey(int argc, char **argv)
{
    if (argc < 2)
        return mdm_cli_usage_error("apikey", "expected create, list or revoke");
    const char *sub = argv[1];
    int (*fn)(int, char **, mdm_db *) = NULL;
    if (strcmp(sub, "create") == 0)
        fn = apikey_create;
    else if (strcmp(sub, "list") == 0)
        fn = apikey_list;
    else if (strcmp(sub, "revoke") == 0)
        fn = apikey_revoke;
    else
        return mdm_cli_usage_error("apikey", "unknown subcommand \"%s\" (create, list, revoke)",
                                   sub);
    mdm_err err = {0};
    mdm_config *cfg = mdm_config_load(NULL, &err);
    if (!cfg)
        return mdm_cli_fail("apikey", &err);
    mdm_cli_log_level("apikey", cfg);
    mdm_db *db = mdm_db_connect(cfg->database_url, &err);
    int rc;
    if (!db)
        rc = mdm_cli_fail("apikey", &err);
    else
        rc = fn(argc - 1, argv + 1, db);
    mdm_db_close(db);
    mdm_config_free(cfg);
    return rc;
}
