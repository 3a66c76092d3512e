/* mdm/publish_message without a database: the message of an entity's event (mapping,
 * withheld attributes, keys, quality scores, details), the events that send nothing
 * (erased, all held, unchanged since the last delivery, unless replayed), the content
 * hash (the record and keys, not the envelope), household messages and unreadable
 * stored data. */
#include "mdm/publish_message.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

/* An entity's "created" event to system crm, which holds the email. */
static mdm_publish_event entity_event(void)
{
    return (mdm_publish_event){
        .delivery_id = "41",
        .event_id = "0b6c6e2e-0000-4000-8000-000000000001",
        .type = "created",
        .occurred_at = "2026-12-07T20:00:00.000000Z",
        .source = "crm",
        .seq = 7,
        .entity_id = 12,
        .version = 3,
        .payload = "{\"golden\": {\"given_name\": \"Ada\", \"family_name\": \"Lovelace\", "
                   "\"email\": \"ada@example.org\"}, \"reason\": \"new record\"}",
        .source_keys = "[\"C-1\"]",
        .held = "[\"email\"]",
        .mapping = NULL,
    };
}

/* The message of ev parsed, or NULL (err, hash and unchanged as given). */
static json_t *message(const mdm_publish_event *ev, char hash[65], bool *unchanged, mdm_err *err)
{
    char *body = mdm_publish_message(ev, hash, unchanged, err);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    CHECK(!body || j != NULL);
    free(body);
    return j;
}

static void test_entity_message(void)
{
    mdm_publish_event ev = entity_event();
    char hash[65];
    bool unchanged = true;
    mdm_err err = {0};
    json_t *m = message(&ev, hash, &unchanged, &err);
    CHECK(m != NULL);
    CHECK(!unchanged);
    CHECK_INT((int)strlen(hash), 64);
    CHECK_STR(json_string_value(json_object_get(m, "type")), "created");
    CHECK_INT((int)json_integer_value(json_object_get(m, "seq")), 7);
    CHECK_INT((int)json_integer_value(json_object_get(m, "entity_id")), 12);
    CHECK_INT((int)json_integer_value(json_object_get(m, "entity_version")), 3);
    CHECK_STR(json_string_value(json_object_get(m, "source")), "crm");
    CHECK_STR(json_string_value(json_array_get(json_object_get(m, "source_keys"), 0)), "C-1");
    json_t *rec = json_object_get(m, "record");
    CHECK_STR(json_string_value(json_object_get(rec, "given_name")), "Ada");
    CHECK(json_object_get(rec, "email") == NULL); /* held by crm: withheld */
    CHECK_STR(json_string_value(json_array_get(json_object_get(m, "withheld"), 0)), "email");
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "details"), "reason")),
              "new record");
    CHECK(json_object_get(m, "quality") == NULL);
    json_decref(m);

    /* a mapping sends the receiver's layout */
    ev.mapping = "{\"Name.Last\": \"family_name\", \"Id\": \"$source_key\"}";
    m = message(&ev, hash, &unchanged, &err);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_object_get(m, "record"), "Name"), "Last")),
              "Lovelace");
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "record"), "Id")), "C-1");
    json_decref(m);
}

static void test_quality_scores(void)
{
    mdm_publish_event ev = entity_event();
    ev.payload = "{\"golden\": {\"given_name\": \"Ada\"}, \"quality\": {\"completeness\": 0.833}}";
    char hash[65];
    bool unchanged;
    char *body = mdm_publish_message(&ev, hash, &unchanged, NULL);
    CHECK(body != NULL);
    /* printed as PostgreSQL wrote it, at the end of the message */
    CHECK(body && strstr(body, ",\"quality\":{\"completeness\":0.833}}") != NULL);
    CHECK(body && strstr(body, "\"details\"") == NULL);
    free(body);
}

static void test_nothing_to_send(void)
{
    char hash[65];
    bool unchanged;
    mdm_err err = {0};

    /* an update of nothing but what the receiver holds */
    mdm_publish_event ev = entity_event();
    ev.type = "updated";
    ev.payload = "{\"golden\": {\"email\": \"ada@example.org\"}}";
    CHECK(mdm_publish_message(&ev, hash, &unchanged, &err) == NULL);
    CHECK(!unchanged);
    CHECK_INT(err.code, MDM_OK);

    /* an event an erasure scrubbed; its deleted event is sent */
    ev = entity_event();
    ev.payload = "{\"erased\": true}";
    CHECK(mdm_publish_message(&ev, hash, &unchanged, &err) == NULL);
    CHECK_INT(err.code, MDM_OK);
    ev.type = "deleted";
    char *body = mdm_publish_message(&ev, hash, &unchanged, &err);
    CHECK(body != NULL);
    free(body);
}

static void test_unchanged(void)
{
    mdm_publish_event ev = entity_event();
    ev.type = "updated";
    char first[65], hash[65];
    bool unchanged;
    char *body = mdm_publish_message(&ev, first, &unchanged, NULL);
    CHECK(body != NULL);
    free(body);

    /* the same content under another envelope has the same hash: unchanged */
    ev.seq = 9;
    ev.event_id = "0b6c6e2e-0000-4000-8000-000000000002";
    ev.version = 4;
    ev.sent_hash = first;
    CHECK(mdm_publish_message(&ev, hash, &unchanged, NULL) == NULL);
    CHECK(unchanged);
    CHECK_STR(hash, first);

    /* a replay sends it anyway */
    ev.replayed = true;
    body = mdm_publish_message(&ev, hash, &unchanged, NULL);
    CHECK(body != NULL);
    CHECK(!unchanged);
    free(body);

    /* other content, or other keys, another hash */
    ev.replayed = false;
    ev.payload = "{\"golden\": {\"given_name\": \"Augusta\", \"family_name\": \"Lovelace\"}}";
    body = mdm_publish_message(&ev, hash, &unchanged, NULL);
    CHECK(body != NULL);
    CHECK(strcmp(hash, first) != 0);
    free(body);
    ev = entity_event();
    ev.type = "updated";
    ev.source_keys = "[\"C-1\", \"C-2\"]";
    body = mdm_publish_message(&ev, hash, &unchanged, NULL);
    CHECK(body != NULL);
    CHECK(strcmp(hash, first) != 0);
    free(body);
}

static void test_household(void)
{
    mdm_publish_event ev = {
        .delivery_id = "50",
        .event_id = "0b6c6e2e-0000-4000-8000-000000000003",
        .type = "household.changed",
        .source = "crm",
        .seq = 11,
        .household_id = 5,
        .version = 2,
        .payload = "{\"members\": [{\"entity_id\": 12, \"role\": \"head\"}, {\"entity_id\": 13}],"
                   " \"joined\": [13], \"left\": [14]}",
        .member_keys = "{\"12\": [\"C-1\"], \"14\": [\"C-9\"]}",
    };
    char hash[65];
    bool unchanged;
    mdm_err err = {0};
    json_t *m = message(&ev, hash, &unchanged, &err);
    CHECK(m != NULL);
    CHECK_INT((int)json_integer_value(json_object_get(m, "household_id")), 5);
    CHECK_INT((int)json_integer_value(json_object_get(m, "household_version")), 2);
    CHECK(json_object_get(m, "record") == NULL);
    json_t *members = json_object_get(m, "members");
    CHECK_INT((int)json_array_size(members), 2);
    json_t *head = json_array_get(members, 0);
    CHECK_STR(json_string_value(json_object_get(head, "role")), "head");
    CHECK_STR(json_string_value(json_array_get(json_object_get(head, "source_keys"), 0)), "C-1");
    CHECK_INT((int)json_array_size(json_object_get(json_array_get(members, 1), "source_keys")), 0);
    json_t *left = json_array_get(json_object_get(m, "left"), 0);
    CHECK_INT((int)json_integer_value(json_object_get(left, "entity_id")), 14);
    CHECK_STR(json_string_value(json_array_get(json_object_get(left, "source_keys"), 0)), "C-9");
    CHECK(json_object_get(left, "role") == NULL);
    json_decref(m);
}

static void test_unreadable(void)
{
    mdm_publish_event ev = entity_event();
    ev.held = "[not json";
    char hash[65];
    bool unchanged;
    mdm_err err = {0};
    CHECK(mdm_publish_message(&ev, hash, &unchanged, &err) == NULL);
    CHECK_INT(err.code, MDM_EINTERNAL);
    CHECK_STR(err.msg, "delivery 41: unreadable stored JSON");
}

int main(void)
{
    RUN(test_entity_message);
    RUN(test_quality_scores);
    RUN(test_nothing_to_send);
    RUN(test_unchanged);
    RUN(test_household);
    RUN(test_unreadable);
    TEST_END();
}
