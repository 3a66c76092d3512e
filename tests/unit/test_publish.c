/* mdm/publish without a database: configuration validation (tests/data/publish_config.tsv),
 * the signature against an independent reference (openssl dgst -hmac), backoff growth and
 * bounds, and the outbound field mapping. */
#include "common/mem.h"
#include "mdm/config.h"
#include "mdm/publish.h"
#include "tests/test.h"

#include <stdlib.h>
#include <unistd.h>

static char cfg_path[64];

static void test_config_table(void)
{
    const char *root = getenv("MDM_ROOT");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/publish_config.tsv", root ? root : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    unsetenv("MDM_CONFIG");
    char line[4096];
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *cols[4] = {0};
        char *p = line;
        for (int c = 0; c < 4; c++) {
            cols[c] = p;
            char *tab = p ? strchr(p, '\t') : NULL;
            if (tab) {
                *tab = '\0';
                p = tab + 1;
            } else {
                p = NULL;
            }
        }
        FILE *out = fopen(cfg_path, "w");
        if (!out)
            break;
        fputs(cols[0], out);
        fclose(out);
        mdm_err err = {0};
        mdm_config *cfg = mdm_config_load(cfg_path, &err);
        mdm_status st = cfg ? mdm_publish_validate_config(cfg, &err) : err.code;
        bool want_ok = strcmp(cols[1], "ok") == 0;
        bool ok = want_ok ? st == MDM_OK
                          : st == MDM_EINVAL && strcmp(err.field, cols[2] ? cols[2] : "") == 0 &&
                                strstr(err.msg, cols[3] ? cols[3] : "") != NULL;
        char label[128];
        snprintf(label, sizeof label, "publish_config.tsv:%d", lineno);
        if (!mdm_test_case(ok, label))
            fprintf(stderr, "  got status %s field \"%s\" msg \"%s\"\n", mdm_status_name(st),
                    err.field, err.msg);
        mdm_config_free(cfg);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 20);
}

static void test_opts_defaults_and_values(void)
{
    mdm_publish_opts o;
    mdm_err err;
    CHECK_INT(mdm_publish_opts_load(NULL, &o, &err), MDM_OK);
    CHECK(o.enabled);
    CHECK_INT(o.workers, 2);
    CHECK_INT(o.batch, 32);
    CHECK_INT(o.backoff_base_ms, 1000);
    CHECK_INT(o.max_attempts, 8);
    FILE *out = fopen(cfg_path, "w");
    if (!out)
        return;
    fputs("{\"publish\": {\"batch\": 7, \"enabled\": false, \"backoff_base_ms\": 50}}", out);
    fclose(out);
    mdm_config *cfg = mdm_config_load(cfg_path, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_INT(mdm_publish_opts_load(cfg, &o, &err), MDM_OK);
    CHECK_INT(o.batch, 7);
    CHECK(!o.enabled);
    CHECK_INT(o.backoff_base_ms, 50);
    CHECK_INT(o.timeout_ms, 10000);
    mdm_config_free(cfg);
}

static void test_signature(void)
{
    /* printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'test-secret-0123456789' */
    char sig[68];
    const char *body = "{\"a\":1}";
    mdm_publish_sign("test-secret-0123456789", 1700000000LL, body, strlen(body), sig);
    CHECK_STR(sig, "v1=6e873f59dc6002f6de5f578e9bf3f90a7906473a2924651d6f4cc33d61aff598");
    mdm_publish_sign("test-secret-0123456789", 1700000001LL, body, strlen(body), sig);
    CHECK(strcmp(sig, "v1=6e873f59dc6002f6de5f578e9bf3f90a7906473a2924651d6f4cc33d61aff598") != 0);
    /* Standard Webhooks: the specification's example (a whsec_ secret), and a raw secret
     * as the npm standardwebhooks library signs it with {format: "raw"} */
    char std[48];
    const char *ex = "{\"test\": 2432232314}";
    mdm_publish_sign_standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330LL, ex, strlen(ex), std);
    CHECK_STR(std, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    mdm_publish_sign_standard("a raw secret of 24 chars", "evt_1", 1700000000LL, body, strlen(body),
                              std);
    CHECK_STR(std, "v1,ZvF997a2qHJFtUKYaKZk7MsfH3SyHjV5nhm64Phaa8k=");
}

static void test_backoff(void)
{
    mdm_publish_opts o;
    mdm_err err;
    CHECK_INT(mdm_publish_opts_load(NULL, &o, &err), MDM_OK);
    o.backoff_base_ms = 100;
    o.backoff_max_ms = 1000;
    /* equal jitter: attempt k waits within [d/2, d], d = base * 2^(k-1) capped */
    CHECK_INT(mdm_publish_backoff_ms(&o, 1, 0.0), 50);
    CHECK_INT(mdm_publish_backoff_ms(&o, 1, 0.999999), 99);
    CHECK_INT(mdm_publish_backoff_ms(&o, 2, 0.0), 100);
    CHECK_INT(mdm_publish_backoff_ms(&o, 3, 0.5), 300);
    CHECK_INT(mdm_publish_backoff_ms(&o, 10, 0.0), 500);
    CHECK_INT(mdm_publish_backoff_ms(&o, 60, 0.999999), 999);
    /* below the cap, whatever the draws, a later delay is never shorter than an earlier one */
    int monotone = 1;
    for (int k = 1; k < 4; k++)
        if (mdm_publish_backoff_ms(&o, k + 1, 0.0) < mdm_publish_backoff_ms(&o, k, 0.999999))
            monotone = 0;
    CHECK(monotone);
}

static void test_mapping(void)
{
    json_t *rec = json_loads("{\"first_name\":\"Ann\",\"last_name\":\"Lee\",\"emails\":"
                             "[{\"address\":\"ann@example.com\",\"type\":\"home\"}],"
                             "\"addresses\":[{\"postal_code\":\"10115\",\"country\":\"DE\"}]}",
                             0, NULL);
    json_t *keys = json_pack("[s,s]", "C-1", "C-2");
    json_t *mapping =
        json_loads("{\"Name.First\":\"first_name\",\"Name.Last\":\"last_name\","
                   "\"Mail\":\"emails.0.address\",\"Zip\":\"addresses.0.postal_code\","
                   "\"Phone\":\"phones.0.number\",\"CustomerId\":\"$source_key\","
                   "\"AllIds\":\"$source_keys\",\"Golden\":\"$entity_id\"}",
                   0, NULL);
    json_t *out = mdm_publish_map(mapping, rec, keys, 42);
    char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(s, "{\"AllIds\":[\"C-1\",\"C-2\"],\"CustomerId\":\"C-1\",\"Golden\":42,\"Mail\":"
                 "\"ann@example.com\",\"Name\":{\"First\":\"Ann\",\"Last\":\"Lee\"},\"Zip\":"
                 "\"10115\"}");
    free(s);
    json_decref(out);
    /* an empty mapping sends the canonical record as is */
    json_t *empty = json_object();
    out = mdm_publish_map(empty, rec, keys, 42);
    CHECK(json_equal(out, rec));
    json_decref(out);
    json_decref(empty);
    json_decref(mapping);
    json_decref(keys);
    json_decref(rec);
}

int main(void)
{
    snprintf(cfg_path, sizeof cfg_path, "/tmp/mdm_test_publish_%d.json", (int)getpid());
    RUN(test_config_table);
    RUN(test_opts_defaults_and_values);
    RUN(test_signature);
    RUN(test_backoff);
    RUN(test_mapping);
    unlink(cfg_path);
    TEST_END();
}
