/* `mdm publish`, `mdm deliveries` and `mdm subscriptions`: push delivery from the command
 * line. The work is done by mdm/publish.c; this file parses argv and prints JSON lines. */
#include "api/cli.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/publish.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a non-negative integer option value; false (usage message printed) when bad. */
static bool parse_ll(const char *cmd, const char *opt, const char *v, long long min, long long max,
                     long long *out)
{
    char *end = NULL;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || n < min || n > max) {
        mdm_cli_usage_error(cmd, "%s needs an integer from %lld to %lld, got \"%s\"", opt, min, max,
                            v ? v : "");
        return false;
    }
    *out = n;
    return true;
}

/* Loads the configuration and connects; prints the error and returns NULL on failure. */
static mdm_db *open_db(const char *cmd, const char *config_path, mdm_config **cfg_out, int *rc)
{
    mdm_config *cfg = NULL;
    mdm_db *db = NULL;
    *rc = mdm_cli_open(cmd, config_path, &cfg, &db);
    if (*rc != 0)
        return NULL;
    mdm_err err = {0};
    if (mdm_publish_validate_config(cfg, &err) != MDM_OK) {
        *rc = mdm_cli_fail(cmd, &err);
        mdm_db_close(db);
        mdm_config_free(cfg);
        return NULL;
    }
    *cfg_out = cfg;
    return db;
}

static void print_json_line(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (s) {
        puts(s);
        free(s);
    }
}

int mdm_cli_publish(int argc, char **argv)
{
    const char *cmd = "publish", *config_path = NULL;
    bool once = false, drain = false;
    long long workers = 0, timeout_s = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--once") == 0)
            once = true;
        else if (strcmp(a, "--drain") == 0)
            drain = true;
        else if (strcmp(a, "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(a, "--workers") == 0) {
            if (!parse_ll(cmd, a, i + 1 < argc ? argv[++i] : NULL, 1, 64, &workers))
                return mdm_status_exit(MDM_EINVAL);
        } else if (strcmp(a, "--timeout") == 0) {
            if (!parse_ll(cmd, a, i + 1 < argc ? argv[++i] : NULL, 1, 86400, &timeout_s))
                return mdm_status_exit(MDM_EINVAL);
        } else
            return mdm_cli_usage_error(cmd, "unknown argument \"%s\"", a);
    }
    if (once && drain)
        return mdm_cli_usage_error(cmd, "--once and --drain exclude each other");
    int rc = 0;
    mdm_config *cfg = NULL;
    mdm_db *db = open_db(cmd, config_path, &cfg, &rc);
    if (!db)
        return rc;
    mdm_err err = {0};
    mdm_publish_opts o;
    int configured = 0;
    if (mdm_publish_opts_load(cfg, &o, &err) != MDM_OK ||
        mdm_publish_sync_config(db, cfg, &configured, &err) != MDM_OK) {
        rc = mdm_cli_fail(cmd, &err);
        goto out_close;
    }
    if (once || drain) {
        long processed = 0;
        mdm_status st = mdm_publish_run(cfg->database_url, &o, workers ? (int)workers : o.workers,
                                        drain, (int)timeout_s * 1000, &processed, &err);
        printf("{\"processed\":%ld}\n", processed);
        rc = st == MDM_OK ? 0 : mdm_cli_fail(cmd, &err);
        goto out_close;
    }
    /* until SIGINT/SIGTERM */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (mdm_publish_start(cfg, (int)workers, &err) != MDM_OK) {
        rc = mdm_cli_fail(cmd, &err);
        goto out_close;
    }
    int sig = 0;
    sigwait(&set, &sig);
    mdm_publish_stop();
out_close:
    mdm_db_close(db);
    mdm_config_free(cfg);
    return rc;
}

int mdm_cli_deliveries(int argc, char **argv)
{
    const char *cmd = "deliveries";
    if (argc < 2)
        return mdm_cli_usage_error(cmd, "missing subcommand: list or replay");
    const char *sub = argv[1], *config_path = NULL, *state = NULL;
    long long sub_id = 0, after = 0, limit = 100, from_seq = -1;
    bool dead = false;
    for (int i = 2; i < argc && argv[i]; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--config") == 0 && v)
            config_path = v, i++;
        else if (strcmp(a, "--state") == 0 && v)
            state = v, i++;
        else if (strcmp(a, "--dead") == 0)
            dead = true;
        else if (strcmp(a, "--subscription") == 0) {
            if (!parse_ll(cmd, a, v, 1, INT64_MAX, &sub_id))
                return mdm_status_exit(MDM_EINVAL);
            i++;
        } else if (strcmp(a, "--after") == 0) {
            if (!parse_ll(cmd, a, v, 0, INT64_MAX, &after))
                return mdm_status_exit(MDM_EINVAL);
            i++;
        } else if (strcmp(a, "--limit") == 0) {
            if (!parse_ll(cmd, a, v, 1, 1000, &limit))
                return mdm_status_exit(MDM_EINVAL);
            i++;
        } else if (strcmp(a, "--from-seq") == 0) {
            if (!parse_ll(cmd, a, v, 0, INT64_MAX, &from_seq))
                return mdm_status_exit(MDM_EINVAL);
            i++;
        } else
            return mdm_cli_usage_error(cmd, "unknown argument \"%s\"", a);
    }
    bool list = strcmp(sub, "list") == 0, replay = strcmp(sub, "replay") == 0;
    if (!list && !replay)
        return mdm_cli_usage_error(cmd, "unknown subcommand \"%s\": use list or replay", sub);
    if (replay && dead == (from_seq >= 0))
        return mdm_cli_usage_error(cmd, "replay needs --dead or --subscription ID --from-seq N");
    if (replay && from_seq >= 0 && !sub_id)
        return mdm_cli_usage_error(cmd, "--from-seq needs --subscription ID");
    int rc = 0;
    mdm_config *cfg = NULL;
    mdm_db *db = open_db(cmd, config_path, &cfg, &rc);
    if (!db)
        return rc;
    mdm_err err = {0};
    if (list) {
        json_t *rows = NULL;
        if (mdm_publish_list(db, state, sub_id, after, (int)limit, &rows, &err) != MDM_OK) {
            rc = mdm_cli_fail(cmd, &err);
        } else {
            size_t i;
            json_t *row;
            json_array_foreach(rows, i, row) print_json_line(row);
            json_decref(rows);
        }
    } else {
        long count = 0;
        const mdm_audit_actor who = {mdm_cli_actor(), "admin"};
        mdm_status st = dead ? mdm_publish_replay_dead(db, sub_id, &who, &count, &err)
                             : mdm_publish_replay_from(db, sub_id, from_seq, &who, &count, &err);
        if (st == MDM_OK)
            printf("{\"replayed\":%ld}\n", count);
        else
            rc = mdm_cli_fail(cmd, &err);
    }
    mdm_db_close(db);
    mdm_config_free(cfg);
    return rc;
}

int mdm_cli_subscriptions(int argc, char **argv)
{
    const char *cmd = "subscriptions";
    if (argc < 2)
        return mdm_cli_usage_error(cmd, "missing subcommand: list, add, update or remove");
    const char *sub = argv[1], *config_path = NULL;
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            return mdm_cli_usage_error(cmd, "unknown argument \"%s\"", argv[i]);
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            return mdm_cli_usage_error(cmd, "too many arguments");
    }
    long long id = 0;
    json_t *body = NULL;
    const char *json_arg = NULL;
    if (strcmp(sub, "list") == 0) {
        if (npos)
            return mdm_cli_usage_error(cmd, "list takes no arguments");
    } else if (strcmp(sub, "add") == 0) {
        if (npos != 1)
            return mdm_cli_usage_error(cmd, "add needs one JSON object argument");
        json_arg = pos[0];
    } else if (strcmp(sub, "update") == 0 || strcmp(sub, "remove") == 0) {
        bool upd = strcmp(sub, "update") == 0;
        if (npos != (upd ? 2 : 1))
            return mdm_cli_usage_error(cmd, upd ? "update needs ID and a JSON object"
                                                : "remove needs ID");
        if (!parse_ll(cmd, "ID", pos[0], 1, INT64_MAX, &id))
            return mdm_status_exit(MDM_EINVAL);
        json_arg = upd ? pos[1] : NULL;
    } else {
        return mdm_cli_usage_error(cmd, "unknown subcommand \"%s\"", sub);
    }
    if (json_arg) {
        json_error_t jerr;
        body = json_loads(json_arg, 0, &jerr);
        if (!json_is_object(body)) {
            json_decref(body);
            return mdm_cli_usage_error(cmd, "the argument must be a JSON object (column %d: %s)",
                                       jerr.column, body ? "not an object" : jerr.text);
        }
    }
    int rc = 0;
    mdm_config *cfg = NULL;
    mdm_db *db = open_db(cmd, config_path, &cfg, &rc);
    if (!db) {
        json_decref(body);
        return rc;
    }
    mdm_err err = {0};
    json_t *out = NULL;
    mdm_status st;
    const mdm_audit_actor who = {mdm_cli_actor(), "admin"};
    if (strcmp(sub, "list") == 0)
        st = mdm_publish_sub_list(db, &out, &err);
    else if (strcmp(sub, "add") == 0)
        st = mdm_publish_sub_create(db, body, &who, &out, &err);
    else if (strcmp(sub, "update") == 0)
        st = mdm_publish_sub_update(db, id, body, &who, &out, &err);
    else
        st = mdm_publish_sub_delete(db, id, &who, &err);
    if (st != MDM_OK) {
        rc = mdm_cli_fail(cmd, &err);
    } else if (json_is_array(out)) {
        size_t i;
        json_t *row;
        json_array_foreach(out, i, row) print_json_line(row);
    } else if (out) {
        print_json_line(out);
    }
    json_decref(out);
    json_decref(body);
    mdm_db_close(db);
    mdm_config_free(cfg);
    return rc;
}
