/* `mdm <command>`: dispatch, --help and exit codes.
 *
 * Exit codes come from the status table in common/err.h:
 *   0 ok, 1 internal error, 2 invalid input or usage, 3 unauthorized/forbidden,
 *   4 not found, 5 conflict, 6 retry later, 7 database error, 8 i/o error. */
#include "api/cli.h"
#include "common/err.h"
#include "common/log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(FILE *out)
{
    fputs("usage: mdm <command> [options]   (mdm <command> --help for details)\n\n"
          "Customer master-data management and identity resolution.\n\ncommands:\n",
          out);
    for (const mdm_cli_command *c = mdm_cli_commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fputs("\nexit codes: 0 ok, 1 internal error, 2 invalid input or usage, 3 unauthorized,\n"
          "4 not found, 5 conflict, 6 retry later, 7 database error, 8 i/o error\n"
          "\nenvironment: MDM_CONFIG (path of mdm.json), MDM_DATABASE_URL, MDM_LOG_LEVEL,\n"
          "MDM_LISTEN, MDM_DEFAULT_COUNTRY, MDM_SQL_DIR, MDM_UI_DIR, MDM_THREADS\n",
          out);
}

int main(int argc, char **argv)
{
    /* once, before any thread exists: libcurl's global state (push delivery) */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("mdm: cannot initialise libcurl\n", stderr);
        return mdm_status_exit(MDM_EINTERNAL);
    }
    /* commands that read no configuration: warn, unless MDM_LOG_LEVEL says otherwise
     * (mdm_cli_log_level sets the level of those that do) */
    int level = mdm_log_level_parse(getenv("MDM_LOG_LEVEL"));
    mdm_log_threshold = level >= 0 ? (mdm_log_level)level : MDM_LOG_WARN;
    if (argc < 2) {
        print_help(stderr);
        return mdm_status_exit(MDM_EINVAL);
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    for (const mdm_cli_command *c = mdm_cli_commands; c->name; c++) {
        if (strcmp(c->name, name) != 0)
            continue;
        if (mdm_cli_wants_help(argc - 1, argv + 1)) {
            fputs(c->usage, stdout);
            return 0;
        }
        if (mdm_cli_wants_version(argc - 1, argv + 1))
            return mdm_cli_version(1, argv + 1);
        return c->fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "mdm: unknown command \"%s\"\n\n", name);
    print_help(stderr);
    return mdm_status_exit(MDM_EINVAL);
}
