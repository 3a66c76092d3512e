/* Shared CLI helpers and the command table. */
#include "api/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const mdm_cli_command mdm_cli_commands[] = {
    {"version", mdm_cli_version, "print the version and library versions",
     "usage: mdm version\n\nPrints the mdm version and the versions of the libraries it was built "
     "with.\n"},
    {"migrate", mdm_cli_migrate, "apply database migrations (sql/NNN_*.sql)",
     "usage: mdm migrate [--config FILE] [--status]\n\n"
     "Applies the numbered migrations in sql/ (or MDM_SQL_DIR / sql_dir) that are not yet\n"
     "applied, each in its own transaction recorded with its SHA-256 checksum in\n"
     "schema_migrations. Running it again is a no-op. It refuses to run (exit 5) when an\n"
     "applied file has changed since. Concurrent runs are serialized by an advisory lock.\n\n"
     "  --status   list the migrations and whether each is applied; change nothing\n"},
    {"config", mdm_cli_config, "validate and print the effective configuration",
     "usage: mdm config [--config FILE]\n\n"
     "Loads mdm.json (or FILE, or MDM_CONFIG) and the MDM_* environment variables,\n"
     "validates them and prints the effective configuration as JSON (secrets masked).\n"
     "An unknown key or a bad value is an error naming it (exit 2).\n"},
    {NULL, NULL, NULL, NULL},
};

int mdm_cli_fail(const char *command, const mdm_err *err)
{
    fprintf(stderr, "mdm %s: %s", command, err->msg[0] ? err->msg : mdm_status_title(err->code));
    if (err->field[0])
        fprintf(stderr, " (at %s)", err->field);
    if (err->detail[0])
        fprintf(stderr, ": %s", err->detail);
    fputc('\n', stderr);
    return mdm_status_exit(err->code);
}

int mdm_cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mdm %s: ", command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mdm %s --help'.\n", command);
    return mdm_status_exit(MDM_EINVAL);
}

int mdm_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}
