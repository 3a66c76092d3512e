/* libFuzzer target for NDJSON batch bodies (POST /v1/sources/{source}/records:batch):
 * the body is split into lines exactly as api/h_records.c does (LF, an optional CR
 * before it, the last line without LF), each line parsed with duplicate keys refused and,
 * when it is an object, canonicalized for the canonical source "web". Invariants: the
 * number of lines seen equals the number of LF plus one for a trailing partial line;
 * every object line yields exactly one of canonical record and field errors. */
#include "mdm/consent.h"
#include "mdm/ingest.h"
#include "mdm/source.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mdm_engine *ctx;
static const mdm_source *web;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 262144)
        return 0;
    if (!ctx) {
        json_t *s = json_loads("[{\"code\": \"web\", \"kind\": \"commerce\"}]", 0, NULL);
        mdm_err err;
        ctx = mdm_engine_new_json(s, NULL, NULL, NULL, "GB", &err);
        json_decref(s);
        if (!ctx || mdm_consent_configure(NULL, &err) != MDM_OK)
            abort();
        web = mdm_sources_find(mdm_engine_sources(ctx), "web");
    }
    const char *p = (const char *)data, *end = p + size;
    size_t lines = 0, lfs = 0;
    for (size_t i = 0; i < size; i++)
        lfs += data[i] == '\n';
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lines++;
        if (n && p[n - 1] == '\r')
            n--;
        json_error_t je;
        json_t *rec = n ? json_loadb(p, n, JSON_REJECT_DUPLICATES, &je) : NULL;
        if (json_is_object(rec)) {
            json_t *canonical = NULL, *errors = NULL;
            mdm_err err = {0};
            if (mdm_engine_canonicalize(ctx, web, rec, &canonical, &errors, &err) == MDM_OK &&
                !canonical == !errors)
                abort();
            json_decref(canonical);
            json_decref(errors);
        }
        json_decref(rec);
        if (!nl)
            break;
        p = nl + 1;
    }
    if (lines != lfs + (size && data[size - 1] != '\n'))
        abort();
    return 0;
}
