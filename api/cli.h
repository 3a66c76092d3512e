/* Command-line commands. Each takes the arguments after its name (argv[0] is the
 * command name) and returns a process exit code from the status table (common/err.h).
 * Commands are grouped in api/cli_*.c by topic; api/main.c dispatches and answers
 * `--help` from the table below. */
#ifndef MDM_API_CLI_H
#define MDM_API_CLI_H

#include "common/err.h"
#include "mdm/config.h"
#include "mdm/db.h"

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

/* True when argv holds -h or --help before any "--". */
int mdm_cli_wants_help(int argc, char **argv);

/* Commands (api/cli_*.c) */
int mdm_cli_version(int argc, char **argv);
int mdm_cli_migrate(int argc, char **argv);
int mdm_cli_config(int argc, char **argv);
int mdm_cli_synth(int argc, char **argv); /* api/cli_link.c */
int mdm_cli_eval(int argc, char **argv);
int mdm_cli_link(int argc, char **argv);
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
int mdm_cli_serve(int argc, char **argv);
int mdm_cli_apikey(int argc, char **argv);
int mdm_cli_publish(int argc, char **argv);       /* api/cli_publish.c */
int mdm_cli_deliveries(int argc, char **argv);    /* api/cli_publish.c */
int mdm_cli_subscriptions(int argc, char **argv); /* api/cli_publish.c */

#endif
