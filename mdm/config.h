/* Configuration: one JSON file (mdm.json) plus MDM_* environment variables.
 *
 * Precedence: built-in defaults < the file < environment variables. The file is the
 * path given to mdm_config_load, else $MDM_CONFIG, else ./mdm.json when it exists (no
 * file at all is fine). Every top-level key is known and typed: an unknown key or a
 * value of the wrong type or range is MDM_EINVAL with the key named (err->field is its
 * JSON pointer). Sections (objects such as "sources", "http", "model") are validated
 * by the modules that own them, which read them with mdm_config_section().
 *
 * Paths: a relative path written in the file (sql_dir, ui_dir, model.path,
 * http.tls_cert, http.tls_key) names a file relative to the configuration file's folder,
 * so a configuration works from any current folder; it is rewritten when loading, so
 * the sections hold paths that open from the current folder. A path from an environment
 * variable resolves against the current folder, like any path typed in a shell. Without
 * sql_dir (ui_dir), ./sql (./api/ui) is used when it exists, else the installed copy in
 * ../share/mdm/sql (ui) beside the executable's folder (`make install`).
 *
 * An mdm_config is immutable after loading and may be shared between threads. */
#ifndef MDM_MDM_CONFIG_H
#define MDM_MDM_CONFIG_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct mdm_config {
    char *database_url;    /* libpq connection string or URI; "" = unset */
    char *listen;          /* ADDR:PORT for mdm serve, default 127.0.0.1:8080 */
    char *default_country; /* ISO 3166-1 alpha-2 for phones and addresses, default US */
    char *sql_dir;         /* migrations folder, default "sql" */
    char *ui_dir;          /* steward UI files, default "api/ui" */
    int log_level;         /* mdm_log_level */
    bool log_level_set;    /* log_level came from the file or MDM_LOG_LEVEL */
    int threads;           /* worker threads; 0 = number of cores */
    char *path;            /* file the configuration came from, "" if none */
    json_t *root;          /* the whole file (an object, possibly empty); owned */
} mdm_config;

/* Loads and validates. path may be NULL (see above). Returns NULL with err set
 * (MDM_EINVAL for bad content, MDM_EIO when an explicitly named file is unreadable). */
mdm_config *mdm_config_load(const char *path, mdm_err *err);

/* The path that `value`, read from the configuration file `file`, names: value itself
 * when it is absolute or file has no folder part, else file's folder joined with value.
 * The caller frees the result. */
char *mdm_config_resolve_path(const char *file, const char *value);

/* Free; NULL is a no-op. */
void mdm_config_free(mdm_config *cfg);

/* Borrowed reference to the top-level section `name`, or NULL when absent. */
json_t *mdm_config_section(const mdm_config *cfg, const char *name);

/* The effective configuration as a new JSON object (secrets in the database URL
 * masked); the caller owns the reference. */
json_t *mdm_config_to_json(const mdm_config *cfg);

#endif
