/* Outbox and change feed on a real PostgreSQL: events written in the writer's
 * transaction, rolled back with it, and a reader interleaved with concurrent writers
 * never skips or repeats an event. */
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "mdm/outbox.h"
#include "tests/integration/core_fixture.h"
#include "tests/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static const char *url;
static long long entity_id;

typedef struct emit_ctx {
    const char *type;
    int sleep_us;
    int fail; /* return an error after emitting: the event must vanish */
} emit_ctx;

static mdm_status emit_fn(mdm_db *db, void *arg, mdm_err *err)
{
    emit_ctx *c = arg;
    json_t *payload = json_pack("{s:s}", "note", "x");
    mdm_status st = mdm_outbox_emit(db, c->type, entity_id, 1, payload, NULL, err);
    json_decref(payload);
    if (st == MDM_OK && c->sleep_us)
        usleep((useconds_t)c->sleep_us);
    if (st == MDM_OK && c->fail)
        st = mdm_err_set(err, MDM_EINVAL, "deliberate failure");
    return st;
}

static void test_emit_and_read(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    emit_ctx ok = {"created", 0, 0}, bad = {"updated", 0, 1}, unknown = {"exploded", 0, 0};
    /* after the event of the fixture's golden record */
    int64_t head = fx_scalar(db, "SELECT max(seq) FROM outbox");
    CHECK(head > 0);
    CHECK_INT(mdm_db_run_tx(db, "t", emit_fn, &ok, &err), MDM_OK);
    CHECK_INT(mdm_db_run_tx(db, "t", emit_fn, &bad, &err), MDM_EINVAL);
    CHECK(mdm_db_run_tx(db, "t", emit_fn, &unknown, &err) != MDM_OK);
    json_t *events = NULL;
    int64_t next = 0;
    CHECK_INT(mdm_outbox_read(db, head, 100, &events, &next, &err), MDM_OK);
    CHECK_INT(json_array_size(events), 1);
    json_t *e = json_array_get(events, 0);
    CHECK_STR(json_string_value(json_object_get(e, "type")), "created");
    CHECK_INT(json_integer_value(json_object_get(e, "entity_id")), entity_id);
    CHECK_STR(json_string_value(json_object_get(json_object_get(e, "payload"), "note")), "x");
    CHECK_INT(next, json_integer_value(json_object_get(e, "seq")));
    json_decref(events);
    CHECK_INT(mdm_outbox_read(db, next, 100, &events, &next, &err), MDM_OK);
    CHECK_INT(json_array_size(events), 0);
    json_decref(events);
    mdm_db_close(db);
}

#define WRITERS    4
#define PER_WRITER 40
static atomic_int writers_done;

static void *writer(void *arg)
{
    int w = (int)(long)arg;
    mdm_db *db = fx_connect();
    for (int i = 0; i < PER_WRITER; i++) {
        /* varied transaction lengths make later seqs commit before earlier ones */
        emit_ctx c = {"updated", ((i * 7 + w * 13) % 5) * 2000, (i % 10) == 9};
        mdm_err err;
        mdm_status st = mdm_db_run_tx(db, "t", emit_fn, &c, &err);
        (void)st;
    }
    mdm_db_close(db);
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void test_reader_never_skips(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    json_t *events = NULL;
    int64_t cursor = 0;
    CHECK_INT(mdm_outbox_read(db, 0, 1000, &events, &cursor, &err), MDM_OK);
    json_decref(events);
    pthread_t t[WRITERS];
    for (long w = 0; w < WRITERS; w++)
        pthread_create(&t[w], NULL, writer, (void *)w);
    long long seen = 0, last = cursor;
    int order_ok = 1;
    for (;;) {
        int done = atomic_load(&writers_done) == WRITERS;
        CHECK_INT(mdm_outbox_read(db, cursor, 7, &events, &cursor, &err), MDM_OK);
        for (size_t i = 0; i < json_array_size(events); i++) {
            long long seq = json_integer_value(json_object_get(json_array_get(events, i), "seq"));
            if (seq <= last)
                order_ok = 0;
            last = seq;
            seen++;
        }
        size_t n = json_array_size(events);
        json_decref(events);
        if (done && n == 0)
            break;
    }
    for (int w = 0; w < WRITERS; w++)
        pthread_join(t[w], NULL);
    CHECK(order_ok);
    /* every committed event was read exactly once: 9 of every 10 transactions commit */
    CHECK_INT(seen, WRITERS * PER_WRITER * 9 / 10);
    mdm_db_close(db);
}

int main(void)
{
    fx_setup(NULL);
    url = fx_url;
    /* the events are about a golden record the pipeline made */
    mdm_db *db = fx_connect();
    entity_id = fx_ingest(db, "web",
                          "{\"source_key\": \"O1\", \"first_name\": \"Otto\","
                          " \"last_name\": \"Outbox\"}")
                    .entity_id;
    mdm_db_close(db);
    if (!entity_id)
        return 1;
    RUN(test_emit_and_read);
    RUN(test_reader_never_skips);
    fx_teardown();
    TEST_END();
}
