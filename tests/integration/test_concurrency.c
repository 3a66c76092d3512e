/* Concurrency: 8 threads, each with its own connection, ingest 1,000 records of 100
 * people (10 records each, spread over the threads in shuffled order) at the same time.
 * Whatever the interleaving, the result must be exactly 100 entities, each holding the
 * 10 records of one person, no review items, and every record linked once. Repeated
 * several rounds (fresh people each round) to shake out unlucky interleavings. */
#include "tests/integration/core_fixture.h"

#include <pthread.h>
#include <stdatomic.h>

#define THREADS    8
#define PEOPLE     100
#define PER_PERSON 10
#define ROUNDS     4

static const char *const firsts[] = {"Robert",    "Margaret", "William",  "Elizabeth", "James",
                                     "Katherine", "Michael",  "Jennifer", "Thomas",    "Patricia"};
static const char *const nicks[] = {"Bob",  "Peggy", "Bill",  "Liz", "Jim",
                                    "Kate", "Mike",  "Jenny", "Tom", "Pat"};

typedef struct job {
    int round;
    int thread;
    int *order; /* record numbers 0..999, shuffled */
    atomic_int *failures;
} job;

/* Last name of person p of a round: distinct letters, so people never match. */
static void last_name(int round, int p, char out[16])
{
    int v = round * PEOPLE + p;
    out[0] = 'Q';
    out[1] = (char)('a' + v % 26);
    out[2] = (char)('a' + (v / 26) % 26);
    out[3] = (char)('a' + (v / 676) % 26);
    snprintf(out + 4, 12, "son");
}

static char *record_json(int round, int n)
{
    int p = n / PER_PERSON, k = n % PER_PERSON;
    char last[16];
    last_name(round, p, last);
    int f = (round * PEOPLE + p) % 10;
    /* people who share a first name (v % 10) differ in at least two date fields */
    int v = round * PEOPLE + p;
    int day = v % 28 + 1, month = v % 12 + 1, year = 1930 + v / 10;
    json_t *rec = json_pack("{s:s, s:s, s:s}", "first_name", k % 3 == 1 ? nicks[f] : firsts[f],
                            "last_name", last, "source_updated_at", "2024-01-01T00:00:00Z");
    char key[64], dob[32], email[64], phone[32];
    snprintf(key, sizeof key, "r%d-%d-%d", round, p, k);
    snprintf(dob, sizeof dob, "%04d-%02d-%02d", year, month, day);
    snprintf(email, sizeof email, "%s.%d.%d@people.example", last, round, p);
    snprintf(phone, sizeof phone, "+1415%03d%04d", 200 + round, p * 10 + 1);
    json_object_set_new(rec, "source_key", json_string(key));
    json_object_set_new(rec, "birth_date", json_string(dob));
    json_object_set_new(rec, "emails", json_pack("[s]", email));
    if (k % 2 == 0)
        json_object_set_new(rec, "phones", json_pack("[s]", phone));
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return s;
}

static void *worker(void *arg)
{
    job *j = arg;
    mdm_db *db = fx_connect();
    for (int i = j->thread; i < PEOPLE * PER_PERSON; i += THREADS) {
        char *rec = record_json(j->round, j->order[i]);
        mdm_ingest_result r = fx_ingest(db, "web", rec);
        if ((int)r.decision < 0 || r.decision == MDM_DECISION_REJECTED ||
            r.decision == MDM_DECISION_REVIEW) {
            fprintf(stderr, "record %d: decision %d\n", j->order[i], (int)r.decision);
            atomic_fetch_add(j->failures, 1);
        }
        mdm_ingest_result_clear(&r);
        free(rec);
    }
    mdm_db_close(db);
    return NULL;
}

static void run_round(int round)
{
    int order[PEOPLE * PER_PERSON];
    for (int i = 0; i < PEOPLE * PER_PERSON; i++)
        order[i] = i;
    unsigned seed = 12345u + (unsigned)round;
    for (int i = PEOPLE * PER_PERSON - 1; i > 0; i--) {
        int k = (int)(rand_r(&seed) % (unsigned)(i + 1));
        int t = order[i];
        order[i] = order[k];
        order[k] = t;
    }
    atomic_int failures = 0;
    job jobs[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job){round, i, order, &failures};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(atomic_load(&failures), 0);

    mdm_db *db = fx_connect();
    char like[16];
    snprintf(like, sizeof like, "r%d-%%", round);
    const char *p[1] = {like};
    /* exactly 100 entities for the round's 1,000 records */
    const char *n = fx_text_p(db,
                              "SELECT count(DISTINCT m.entity_id) FROM membership m JOIN "
                              "source_record r ON r.id = m.record_id WHERE m.active AND "
                              "r.source_key LIKE $1",
                              1, p);
    CHECK_STR(n, "100");
    /* each person in exactly one entity, each entity one person */
    CHECK_STR(fx_text_p(db,
                        "SELECT count(*) FROM (SELECT split_part(r.source_key, '-', 2) AS person, "
                        "count(DISTINCT m.entity_id) AS e, count(*) AS recs FROM membership m "
                        "JOIN source_record r ON r.id = m.record_id WHERE m.active AND "
                        "r.source_key LIKE $1 GROUP BY 1) x WHERE e = 1 AND recs = 10",
                        1, p),
              "100");
    CHECK_STR(fx_text_p(db,
                        "SELECT count(*) FROM (SELECT m.entity_id FROM membership m JOIN "
                        "source_record r ON r.id = m.record_id WHERE m.active AND r.source_key "
                        "LIKE $1 GROUP BY 1 HAVING count(DISTINCT split_part(r.source_key, '-', "
                        "2)) > 1) x",
                        1, p),
              "0");
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM review_item"), 0);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity WHERE status = 'active'"),
              (round + 1) * PEOPLE);
    /* no record without an entity, none with two */
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record r WHERE NOT EXISTS (SELECT 1 "
                            "FROM membership m WHERE m.record_id = r.id AND m.active)"),
              0);
    /* every active entity has a golden record with its version history and events */
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity e WHERE e.status = 'active' AND "
                            "(e.golden->>'last_name' IS NULL OR NOT EXISTS (SELECT 1 FROM "
                            "entity_version v WHERE v.entity_id = e.id AND v.version = "
                            "e.version) OR NOT EXISTS (SELECT 1 FROM outbox o WHERE "
                            "o.entity_id = e.id AND o.entity_version = e.version))"),
              0);
    /* a retired entity (merged while racing) always points to a live survivor */
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity e WHERE e.status = 'retired' AND "
                            "e.survivor_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entity s "
                            "WHERE s.id = e.survivor_id AND s.status = 'active')"),
              0);
    mdm_db_close(db);
}

static void test_rounds(void)
{
    for (int round = 0; round < ROUNDS; round++)
        run_round(round);
}

/* The fixture's sources, scored with the trained model shipped in demo/model.json. */
static const char *const engine_config =
    "{\"sources\": [{\"code\": \"web\", \"kind\": \"commerce\"}],"
    " \"model\": {\"path\": \"demo/model.json\"}}";

int main(void)
{
    fx_setup(engine_config);
    RUN(test_rounds);
    fx_teardown();
    TEST_END();
}
