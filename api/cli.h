/* Command-line commands. Each takes the arguments after its name (argv[0] is the
 * command name) and returns a process exit code from the status table (common/err.h).
 * Commands are grouped in api/cli_*.c by topic; api/main.c dispatches and answers
 * `--help` from the table below. */
#ifndef MDM_API_CLI_H
#define MDM_API_CLI_H

#include "common/err.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/ingest.h"

#include <stdbool.h>

typedef int (*mdm_cli_fn)(int argc, char **argv);

typedef struct mdm_cli_command {
    const char *name;
    mdm_cli_fn fn;
    const char *summary; /* one line for `mdm --help` */
    const char *usage;   /* full text for `mdm NAME --help` */
} mdm_cli_command;

/* The command table, terminated by a {NULL} row. */
extern const mdm_cli_command mdm_cli_commands[];

/* Prints "mdm NAME: message" (and the detail) on stderr and returns the exit code of
 * err->code. */
int mdm_cli_fail(const char *command, const mdm_err *err);

/* Prints a usage error for command on stderr and returns exit code 2. */
int mdm_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Loads the configuration (config_path, else MDM_CONFIG or ./mdm.json), applies its log
 * level and connects to its database. Returns 0 with *db set, and *cfg set when cfg is not
 * NULL (the caller frees both), or, after printing the error, its exit code with nothing
 * left to free. */
int mdm_cli_open(const char *command, const char *config_path, mdm_config **cfg, mdm_db **db);

/* What the commands that resolve need: configuration, connection and the ingest context
 * using the active stored model. */
typedef struct mdm_cli_env {
    mdm_config *cfg;
    mdm_db *db;
    mdm_engine *ctx;
} mdm_cli_env;

/* Opens e (sync_sources: also writes the configured sources to the store, as load and
 * resolve do). Returns 0, or, after printing the error, its exit code with nothing left
 * to close. */
int mdm_cli_env_open(const char *command, const char *config_path, bool sync_sources,
                     mdm_cli_env *e);
void mdm_cli_env_close(mdm_cli_env *e);

/* Sets the log threshold for `command`. Log lines always go to stderr; so that they do
 * not interleave with what a command prints for a person, every command logs at warn
 * unless log_level (or MDM_LOG_LEVEL) is set explicitly, except the services `serve`
 * and `publish`, whose log is their output (info by default). */
void mdm_cli_log_level(const char *command, const mdm_config *cfg);

/* The actor of the audit rows this command writes: "cli:" and the login name ($USER, else
 * the effective user's name, else "unknown"). Commands run with direct database access,
 * so they act in role "admin" unless a command says otherwise. The text is static. */
const char *mdm_cli_actor(void);

/* Audit summaries of the bulk commands (api/cli_steward.c). Bulk work commits in many
 * transactions, so it is audited once it is over, by one row in a transaction of its own,
 * by mdm_cli_actor() in role admin; the per-record trail stays in link_event and
 * source_record_history. failure (may be NULL) is the error that stopped the work: the
 * row then says complete false and names its status (never its message, which may quote
 * input). Each returns 0 or, after printing the error, its exit code. */

/* "records.load", target "source:CODE": the file's name (not its folder), SHA-256 of its
 * bytes, and the load statistics. */
int mdm_cli_audit_load(mdm_db *db, const char *source, const char *path, const mdm_load_stats *s,
                       const mdm_err *failure);

/* The id of the last link_event row now (0 when none), taken before a resolve run. */
long long mdm_cli_audit_mark(mdm_db *db);

/* "records.resolve", target "records:pending": records resolved and the range of
 * link_event ids written since mark (other writers may have added some in between). */
int mdm_cli_audit_resolve(mdm_db *db, long long mark, long resolved, const mdm_err *failure);

/* True when argv holds -h or --help before any "--". */
int mdm_cli_wants_help(int argc, char **argv);

/* True when argv holds --version before any "--": every command answers it like
 * `mdm version` (options are read before positional arguments, so `apikey revoke
 * --version` never takes it for a key prefix). */
int mdm_cli_wants_version(int argc, char **argv);

/* Commands (api/cli_*.c) */
int mdm_cli_version(int argc, char **argv);
int mdm_cli_migrate(int argc, char **argv);
int mdm_cli_config(int argc, char **argv);
int mdm_cli_synth(int argc, char **argv); /* api/cli_link.c */
int mdm_cli_eval(int argc, char **argv);
int mdm_cli_link(int argc, char **argv);
int mdm_cli_blocking(int argc, char **argv);
int mdm_cli_train(int argc, char **argv);
int mdm_cli_explain(int argc, char **argv);
int mdm_cli_audit(int argc, char **argv);       /* api/cli_steward.c */
int mdm_cli_eval_labels(int argc, char **argv); /* `mdm eval --labels`, api/cli_steward.c */
int mdm_cli_normalize(int argc, char **argv);
int mdm_cli_compare(int argc, char **argv); /* api/cli_text.c */
int mdm_cli_phonetic(int argc, char **argv);
int mdm_cli_export(int argc, char **argv); /* api/cli_consent.c */
int mdm_cli_subject(int argc, char **argv);
int mdm_cli_load(int argc, char **argv);          /* api/cli_core.c */
int mdm_cli_resolve(int argc, char **argv);       /* api/cli_core.c */
int mdm_cli_export_golden(int argc, char **argv); /* api/cli_core.c: `export golden` */
int mdm_cli_rejects(int argc, char **argv);       /* api/cli_core.c */
int mdm_cli_quality(int argc, char **argv);       /* api/cli_core.c */
int mdm_cli_model(int argc, char **argv);         /* api/cli_model.c */
/* `mdm train --from-store` (api/cli_model.c; mdm_cli_train hands over to it). */
int mdm_cli_train_store(int argc, char **argv);
/* The active model measured on the decided review items (mdm/models.h
 * mdm_models_label_eval), for `mdm eval --labels`; NULL with err on failure. */
json_t *mdm_cli_model_label_eval(const char *config_path, mdm_err *err);
int mdm_cli_serve(int argc, char **argv);
int mdm_cli_apikey(int argc, char **argv);
int mdm_cli_publish(int argc, char **argv);       /* api/cli_publish.c */
int mdm_cli_deliveries(int argc, char **argv);    /* api/cli_publish.c */
int mdm_cli_subscriptions(int argc, char **argv); /* api/cli_publish.c */

#endif
