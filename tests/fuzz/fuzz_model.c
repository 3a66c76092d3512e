/* libFuzzer target for the model configuration (matching/model.c: the "model" section
 * and trained model files): any JSON document is parsed; a document that parses must
 * print (mdm_model_json) and parse again to the same printed document (round trip). */
#include "matching/model.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return 0;
    mdm_err err = {0};
    mdm_model *m = mdm_model_from_json(doc, &err);
    json_decref(doc);
    if (!m)
        return 0;
    json_t *out = mdm_model_json(m);
    char *text = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
    mdm_model *m2 = mdm_model_from_json(out, &err);
    if (!m2)
        abort(); /* what we print must parse */
    json_t *out2 = mdm_model_json(m2);
    char *text2 = json_dumps(out2, JSON_SORT_KEYS | JSON_COMPACT);
    if (!text || !text2 || strcmp(text, text2) != 0)
        abort();
    free(text);
    free(text2);
    json_decref(out);
    json_decref(out2);
    mdm_model_free(m);
    mdm_model_free(m2);
    return 0;
}
