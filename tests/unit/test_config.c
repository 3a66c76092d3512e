/* Configuration: defaults, file values, environment overrides, and clear errors. */
#include "common/mem.h"
#include "mdm/config.h"
#include "tests/test.h"

#include <stdlib.h>
#include <unistd.h>

static char path[64];

static void write_config(const char *json)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(json, f);
        fclose(f);
    }
}

static void clear_env(void)
{
    unsetenv("MDM_CONFIG");
    unsetenv("MDM_DATABASE_URL");
    unsetenv("MDM_LISTEN");
    unsetenv("MDM_LOG_LEVEL");
    unsetenv("MDM_DEFAULT_COUNTRY");
    unsetenv("MDM_THREADS");
    unsetenv("MDM_SQL_DIR");
    unsetenv("MDM_UI_DIR");
}

static void test_defaults(void)
{
    clear_env();
    write_config("{}");
    mdm_err err;
    mdm_config *cfg = mdm_config_load(path, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_STR(cfg->listen, "127.0.0.1:8080");
    CHECK_STR(cfg->default_country, "US");
    CHECK_STR(cfg->database_url, "");
    CHECK_INT(cfg->log_level, 1);
    mdm_config_free(cfg);
}

static void test_file_values_and_env_override(void)
{
    clear_env();
    write_config("{\"listen\": \"0.0.0.0:9000\", \"default_country\": \"DE\", \"threads\": 3,"
                 " \"log_level\": \"debug\", \"http\": {\"max_body_bytes\": 10}}");
    setenv("MDM_LISTEN", "127.0.0.1:7000", 1);
    mdm_err err;
    mdm_config *cfg = mdm_config_load(path, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_STR(cfg->listen, "127.0.0.1:7000");
    CHECK_STR(cfg->default_country, "DE");
    CHECK_INT(cfg->threads, 3);
    CHECK_INT(cfg->log_level, 0);
    CHECK(json_is_object(mdm_config_section(cfg, "http")));
    CHECK(mdm_config_section(cfg, "consent") == NULL);
    mdm_config_free(cfg);
    clear_env();
}

static void test_env_path(void)
{
    clear_env();
    write_config("{\"default_country\": \"FR\"}");
    setenv("MDM_CONFIG", path, 1);
    mdm_err err;
    mdm_config *cfg = mdm_config_load(NULL, &err);
    CHECK(cfg != NULL);
    if (cfg)
        CHECK_STR(cfg->default_country, "FR");
    mdm_config_free(cfg);
    clear_env();
}

/* Each row: file content, environment variable (or NULL), its value, expected pointer,
 * a fragment the message must contain. */
static void test_errors(void)
{
    static const struct {
        const char *json, *env, *val, *field, *fragment;
    } cases[] = {
        {"{\"lissten\": \"x\"}", NULL, NULL, "/lissten", "unknown key \"lissten\""},
        {"{\"threads\": \"four\"}", NULL, NULL, "/threads", "must be an integer"},
        {"{\"threads\": -1}", NULL, NULL, "/threads", "0 to 1024"},
        {"{\"listen\": \"8080\"}", NULL, NULL, "/listen", "ADDR:PORT"},
        {"{\"listen\": \"x:99999\"}", NULL, NULL, "/listen", "ADDR:PORT"},
        {"{\"default_country\": \"usa\"}", NULL, NULL, "/default_country", "alpha-2"},
        {"{\"log_level\": \"loud\"}", NULL, NULL, "/log_level", "log_level must be"},
        {"{\"http\": 3}", NULL, NULL, "/http", "must be an object"},
        {"{}", "MDM_LOG_LEVEL", "verbose", "/log_level", "MDM_LOG_LEVEL"},
        {"{}", "MDM_THREADS", "2x", "/threads", "MDM_THREADS"},
        {"[1,2]", NULL, NULL, "", "must be a JSON object"},
        {"{\"listen\": ", NULL, NULL, "", "invalid JSON"},
        {"{\"a\": 1, \"a\": 2}", NULL, NULL, "", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env();
        write_config(cases[i].json);
        if (cases[i].env)
            setenv(cases[i].env, cases[i].val, 1);
        mdm_err err;
        mdm_config *cfg = mdm_config_load(path, &err);
        int ok = cfg == NULL && err.code == MDM_EINVAL && strcmp(err.field, cases[i].field) == 0 &&
                 strstr(err.msg, cases[i].fragment) != NULL;
        if (!ok)
            fprintf(stderr, "case %zu: %s -> field \"%s\" msg \"%s\"\n", i, cases[i].json,
                    cfg ? "" : err.field, cfg ? "(loaded)" : err.msg);
        CHECK(ok);
        mdm_config_free(cfg);
    }
    clear_env();
}

static void test_missing_explicit_file(void)
{
    clear_env();
    mdm_err err;
    mdm_config *cfg = mdm_config_load("/nonexistent/mdm.json", &err);
    CHECK(cfg == NULL);
    CHECK_INT(err.code, MDM_EIO);
    CHECK(strstr(err.msg, "/nonexistent/mdm.json") != NULL);
}

static void test_masked_url(void)
{
    clear_env();
    write_config("{\"database_url\": \"postgresql://app:s3cret@db:5432/mdm\"}");
    mdm_err err;
    mdm_config *cfg = mdm_config_load(path, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    json_t *j = mdm_config_to_json(cfg);
    const char *u = json_string_value(json_object_get(j, "database_url"));
    CHECK(u && strstr(u, "s3cret") == NULL && strstr(u, "@db:5432/mdm") != NULL);
    json_decref(j);
    mdm_config_free(cfg);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/mdm-config-test-%d.json", (int)getpid());
    RUN(test_defaults);
    RUN(test_file_values_and_env_override);
    RUN(test_env_path);
    RUN(test_errors);
    RUN(test_missing_explicit_file);
    RUN(test_masked_url);
    unlink(path);
    TEST_END();
}
