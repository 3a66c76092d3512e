/* The message push delivery sends for one claimed delivery (mdm/publish_message.h): the
 * golden record mapped to the receiver's layout, the attributes it owns or holds
 * withheld, its own keys, the content hash that tells an unchanged update. No SQL. */
#include "mdm/publish_message.h"

#include "common/mem.h"
#include "mdm/db.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s, or def where the column was NULL. */
static const char *or_text(const char *s, const char *def)
{
    return s ? s : def;
}

/* Borrowed value at a dotted path ("addresses.0.postal_code"), or NULL. */
static json_t *path_get(const json_t *root, const char *path)
{
    const json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        size_t n = strcspn(p, ".");
        char seg[128];
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end = NULL;
            long idx = strtol(seg, &end, 10);
            cur = (*seg && !*end && idx >= 0) ? json_array_get(cur, (size_t)idx) : NULL;
        } else {
            return NULL;
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return (json_t *)cur;
}

/* Sets value at a dotted target ("Address.Zip"), creating objects on the way. */
static void path_set(json_t *root, const char *target, json_t *value)
{
    json_t *cur = root;
    const char *p = target;
    for (;;) {
        size_t n = strcspn(p, ".");
        char *seg = mdm_xstrndup(p, n);
        if (p[n] == '\0') {
            json_object_set(cur, seg, value);
            free(seg);
            return;
        }
        json_t *next = json_object_get(cur, seg);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(cur, seg, next);
        }
        free(seg);
        cur = next;
        p += n + 1;
    }
}

json_t *mdm_publish_map(const json_t *mapping, const json_t *record, const json_t *source_keys,
                        int64_t entity_id)
{
    if (!json_is_object(mapping) || json_object_size(mapping) == 0)
        return json_is_object(record) ? json_deep_copy(record) : json_object();
    json_t *out = json_object();
    const char *target;
    json_t *v;
    json_object_foreach((json_t *)mapping, target, v)
    {
        const char *src = json_string_value(v);
        if (!src)
            continue;
        if (strcmp(src, "$source_key") == 0) {
            json_t *k = json_array_get(source_keys, 0);
            if (k)
                path_set(out, target, k);
        } else if (strcmp(src, "$source_keys") == 0) {
            json_t *keys = source_keys ? json_deep_copy(source_keys) : json_array();
            path_set(out, target, keys);
            json_decref(keys);
        } else if (strcmp(src, "$entity_id") == 0) {
            json_t *id = json_integer((json_int_t)entity_id);
            path_set(out, target, id);
            json_decref(id);
        } else {
            json_t *val = path_get(record, src);
            if (val && !json_is_null(val)) {
                json_t *copy = json_deep_copy(val);
                path_set(out, target, copy);
                json_decref(copy);
            }
        }
    }
    return out;
}

/* body (a JSON object's text, consumed) with "quality": scores appended. The scores are
 * three-decimal numbers: printed with 15 significant digits they read as PostgreSQL wrote
 * them (0.833, not jansson's default 0.83299999999999996), without touching how the rest of
 * the message prints its numbers. */
static char *with_scores(char *body, const json_t *scores)
{
    char *q = json_dumps(scores, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    size_t n = strlen(body);
    if (!q || n < 2 || body[n - 1] != '}') {
        free(q);
        return body;
    }
    mdm_buf b = {0};
    mdm_buf_printf(&b, "%.*s%s\"quality\":%s}", (int)(n - 1), body, n > 2 ? "," : "", q);
    free(q);
    free(body);
    return mdm_buf_steal(&b);
}

/* The canonical record in an outbox payload: payload.golden, payload.record or the
 * payload itself. */
static const json_t *payload_record(const json_t *payload)
{
    const json_t *g = json_object_get(payload, "golden");
    if (json_is_object(g))
        return g;
    g = json_object_get(payload, "record");
    if (json_is_object(g))
        return g;
    return payload;
}

/* SHA-256 (hex) of what a subscriber learns about the golden record: the record as its
 * mapping sends it and its own keys. Not the envelope's ids, seq or times, and not the
 * withheld names: an attribute its mapping sends that it comes to hold leaves the mapped
 * record, and one it does not map does not concern it. */
static void content_hash(const json_t *mapped, const json_t *keys, char out[65])
{
    json_t *c = json_pack("{s:O, s:O}", "record", mapped, "source_keys", keys);
    char *text = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = '\0';
    if (text && EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) && n == 32)
        for (int i = 0; i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(text);
}

/* The golden ids of a household payload's list (members: objects with entity_id; joined
 * and left: numbers) with the receiving system's keys of each from keys ({"ID": [..]}). */
static json_t *household_list(const json_t *list, const json_t *keys, bool with_role)
{
    json_t *out = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const json_t *id = json_is_object(v) ? json_object_get(v, "entity_id") : v;
        if (!json_is_integer(id))
            continue;
        char k[MDM_DB_ID_LEN];
        const json_t *own = json_object_get(keys, mdm_db_id(k, json_integer_value(id)));
        json_t *item =
            json_pack("{s:I, s:o}", "entity_id", (json_int_t)json_integer_value(id), "source_keys",
                      json_is_array(own) ? json_incref((json_t *)own) : json_array());
        if (!item)
            continue;
        const json_t *role = json_object_get(v, "role");
        if (with_role && json_is_string(role))
            json_object_set(item, "role", (json_t *)role);
        json_array_append_new(out, item);
    }
    return out;
}

/* The message of a household event: the household, its version, and every member (with
 * its role), every golden record that joined and every one that left, each with the
 * receiving system's own keys for it (empty when that system holds none). Ids, roles
 * and keys only: household payloads carry no personal data. */
static char *build_household_body(const mdm_publish_event *ev, mdm_err *err)
{
    json_t *payload = json_loads(or_text(ev->payload, "{}"), 0, NULL);
    json_t *keys = json_loads(or_text(ev->member_keys, "{}"), 0, NULL);
    char *body = NULL;
    if (!json_is_object(payload) || !json_is_object(keys)) {
        mdm_err_set(err, MDM_EINTERNAL, "delivery %s: unreadable stored JSON",
                    or_text(ev->delivery_id, "?"));
        goto out_free;
    }
    json_t *msg = json_pack(
        "{s:s, s:I, s:s, s:I, s:i, s:s, s:s, s:o, s:o, s:o}", "event_id", or_text(ev->event_id, ""),
        "seq", (json_int_t)ev->seq, "type", or_text(ev->type, ""), "household_id",
        (json_int_t)ev->household_id, "household_version", ev->version, "occurred_at",
        or_text(ev->occurred_at, ""), "source", or_text(ev->source, ""), "members",
        household_list(json_object_get(payload, "members"), keys, true), "joined",
        household_list(json_object_get(payload, "joined"), keys, false), "left",
        household_list(json_object_get(payload, "left"), keys, false));
    body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!body)
        mdm_err_set(err, MDM_EINTERNAL, "cannot build the delivery message");
out_free:
    json_decref(payload);
    json_decref(keys);
    return body;
}

char *mdm_publish_message(const mdm_publish_event *ev, char hash[65], bool *unchanged, mdm_err *err)
{
    hash[0] = '\0';
    *unchanged = false;
    if (ev->household_id)
        return build_household_body(ev, err);
    json_t *payload = json_loads(or_text(ev->payload, "{}"), JSON_DECODE_ANY, NULL);
    json_t *keys = json_loads(or_text(ev->source_keys, "[]"), 0, NULL);
    json_t *held = json_loads(or_text(ev->held, "[]"), 0, NULL);
    json_t *mapping = json_loads(or_text(ev->mapping, "{}"), 0, NULL);
    char *body = NULL;
    const char *type = or_text(ev->type, "");
    if (!payload || !keys || !held || !mapping) {
        mdm_err_set(err, MDM_EINTERNAL, "delivery %s: unreadable stored JSON",
                    or_text(ev->delivery_id, "?"));
        goto out_free;
    }
    /* an event scrubbed by a subject erasure (mdm/subject.c) carries nothing to send; the
     * erasure's own deleted event tells the systems */
    if (json_is_true(json_object_get(payload, "erased")) && strcmp(type, "deleted") != 0)
        goto out_free; /* NULL: skipped */
    const json_t *rec = payload_record(payload);
    json_t *record = json_is_object(rec) ? json_deep_copy(rec) : json_object();
    json_t *withheld = json_array();
    size_t i;
    json_t *attr;
    json_array_foreach(held, i, attr)
    {
        const char *a = json_string_value(attr);
        if (a && json_object_get(record, a)) {
            json_object_del(record, a);
            json_array_append(withheld, attr);
        }
    }
    int64_t entity_id = ev->entity_id;
    if (strcmp(type, "updated") == 0 && json_object_size(record) == 0 &&
        json_array_size(withheld) > 0) {
        json_decref(record);
        json_decref(withheld);
        goto out_free; /* NULL: skipped */
    }
    json_t *mapped = mdm_publish_map(mapping, record, keys, entity_id);
    json_decref(record);
    content_hash(mapped, keys, hash);
    const char *sent = ev->sent_hash;
    if (strcmp(type, "updated") == 0 && hash[0] && sent && strcmp(sent, hash) == 0 &&
        !ev->replayed) {
        json_decref(mapped);
        json_decref(withheld);
        *unchanged = true;
        goto out_free; /* NULL: skipped */
    }
    const json_t *quality = NULL; /* the golden record's data-quality scores, if it has them */
    json_t *msg = json_pack(
        "{s:s, s:I, s:s, s:I, s:i, s:s, s:s, s:O, s:o, s:o}", "event_id", or_text(ev->event_id, ""),
        "seq", (json_int_t)ev->seq, "type", type, "entity_id", (json_int_t)entity_id,
        "entity_version", ev->version, "occurred_at", or_text(ev->occurred_at, ""), "source",
        or_text(ev->source, ""), "source_keys", keys, "record", mapped, "withheld", withheld);
    if (rec != payload && json_is_object(payload)) {
        /* the golden record's data-quality scores (events that carry it) */
        quality = json_object_get(payload, "quality");
        json_t *details = json_deep_copy(payload);
        json_object_del(details, "golden");
        json_object_del(details, "record");
        json_object_del(details, "quality");
        if (json_object_size(details) > 0)
            json_object_set(msg, "details", details);
        json_decref(details);
    }
    body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (body && json_is_object(quality))
        body = with_scores(body, quality);
    if (!body)
        mdm_err_set(err, MDM_EINTERNAL, "cannot build the delivery message");
out_free:
    json_decref(payload);
    json_decref(keys);
    json_decref(held);
    json_decref(mapping);
    return body;
}
