/* libFuzzer target for HTTP record bodies: the JSON text of POST
 * /v1/sources/{source}/records parsed as the server does (jansson, duplicate keys
 * refused), then mapped, validated and normalized by mdm_engine_canonicalize, the path
 * every write takes before touching the database. The first byte picks the source:
 * "crm" (its own layout through a column mapping, with key/updated_at/op columns) or
 * "web" (canonical). Invariants besides "no crash, no leak, no UB": exactly one of
 * canonical record and field errors comes back; every error has a JSON pointer ("" for
 * the whole record, else starting with '/'); a canonical record is an object that names its source
 * and key. */
#include "mdm/consent.h"
#include "mdm/ingest.h"
#include "mdm/source.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config[] =
    "{\"sources\": ["
    " {\"code\": \"crm\", \"kind\": \"crm\", \"trust\": {\"*\": 70, \"email\": 40},"
    "  \"key\": \"Id\", \"updated_at\": \"Modified\", \"op\": \"Action\","
    "  \"mapping\": {\"First\": \"first_name\", \"Last\": \"last_name\", \"Mail\": \"email\","
    "   \"Tel\": \"phone:mobile\", \"Street\": \"address.line1\", \"Zip\": \"address.postal_code\","
    "   \"City\": \"address.city\", \"Born\": \"birth_date\", \"Card\": \"loyalty_id\","
    "   \"Tier\": \"attributes.tier\"}},"
    " {\"code\": \"web\", \"kind\": \"commerce\", \"trust\": {\"*\": 50, \"email\": 90}}]}";

static mdm_engine *ctx;

static void setup(void)
{
    json_t *cfg = json_loads(config, 0, NULL);
    mdm_err err;
    ctx = mdm_engine_new_json(json_object_get(cfg, "sources"), NULL, NULL, NULL, "US", &err);
    json_decref(cfg);
    if (!ctx || mdm_consent_configure(NULL, &err) != MDM_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    if (!ctx)
        setup();
    const mdm_source *src = mdm_sources_find(mdm_engine_sources(ctx), data[0] & 1 ? "crm" : "web");
    if (!src)
        abort();
    json_error_t je;
    json_t *rec = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
    if (!rec || !json_is_object(rec)) {
        json_decref(rec);
        return 0;
    }
    json_t *canonical = NULL, *errors = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_engine_canonicalize(ctx, src, rec, &canonical, &errors, &err);
    if (st == MDM_OK) {
        if (!canonical == !errors)
            abort();
        if (canonical && (!json_is_object(canonical) ||
                          !json_is_string(json_object_get(canonical, "source_key"))))
            abort();
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
            const char *p = json_string_value(json_object_get(e, "pointer"));
            if (!p || (p[0] && p[0] != '/'))
                abort();
        }
    } else if (canonical) {
        abort();
    }
    json_decref(canonical);
    json_decref(errors);
    json_decref(rec);
    return 0;
}
