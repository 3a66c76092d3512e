/* Push delivery end to end on a real PostgreSQL against mdm-test-receiver (a separate
 * libmicrohttpd process that verifies signatures and logs every request):
 * content (mapping, the system's own keys, withheld owned fields), receiver down then up,
 * 500 three times with growing delays, always 400 -> dead -> replayed after a fix,
 * timeouts, signatures, a worker process killed mid-delivery, two worker processes at
 * once, change-feed fan-out interleaved with writers, replay from a seq, metrics and the
 * subscription API. */
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "mdm/outbox.h"
#include "mdm/publish.h"
#include "mdm/subject.h"
#include "tests/integration/core_fixture.h"
#include "tests/test.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET "it-is-a-test-secret-0123"

static const char *url;
static char receiver_bin[512], mdm_bin[512], tmpdir[400];
static mdm_publish_opts opts;
static const mdm_audit_actor tester = {"cli:tester", "admin"};

/* ------------------------------------------------------------------------------------ */
/* Fixture helpers                                                                       */

/* Runs SQL with text parameters; returns the first column of the first row as a number. */
static long long sql(mdm_db *db, const char *q, int n, const char *const *params)
{
    mdm_err err;
    PGresult *res = NULL;
    if (mdm_db_exec_params(db, q, n, params, &res, &err) != MDM_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", q, err.msg);
        exit(1);
    }
    long long v = PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0)
                      ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                      : 0;
    PQclear(res);
    return v;
}

/* Text of the first column of the first row, in a static buffer. */
static const char *sql_text(mdm_db *db, const char *q, int n, const char *const *params)
{
    static char buf[4096];
    mdm_err err;
    PGresult *res = NULL;
    buf[0] = '\0';
    if (mdm_db_exec_params(db, q, n, params, &res, &err) != MDM_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", q, err.msg);
        exit(1);
    }
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        snprintf(buf, sizeof buf, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return buf;
}

/* Every golden record and event of the suite is the pipeline's: a customer is one
 * record (source, key) with a name and e-mail of its own, ingested again for each new
 * version, which changes its segment. The tests of delivery take customers of the other
 * source than the subscriber's: a system is not sent back what it holds itself. */
static const char *const suite_config =
    "{\"sources\": [{\"code\": \"crm\", \"kind\": \"crm\"}, {\"code\": \"shop\", \"kind\":"
    " \"commerce\"}]}";

/* Ingests version `segment` of the customer (source, key); returns the seq of the event
 * it produced (created for the first version, updated after) and sets *entity (may be
 * NULL) to its golden record; exits when it produced none. */
static int64_t customer(mdm_db *db, const char *source, const char *key, const char *segment,
                        long long *entity)
{
    char *json = mdm_xasprintf("{\"source_key\": \"%s\", \"first_name\": \"Pat\", \"last_name\":"
                               " \"Pub %s\", \"emails\": [\"%s@publish.example\"], \"segment\":"
                               " \"%s\"}",
                               key, key, key, segment);
    mdm_ingest_result r = fx_ingest(db, source, json);
    free(json);
    char e[24];
    snprintf(e, sizeof e, "%lld", (long long)r.entity_id);
    const char *p[] = {e};
    int64_t seq = sql(db, "SELECT coalesce(max(seq), 0) FROM outbox WHERE entity_id = $1", 1, p);
    if ((r.decision != MDM_DECISION_CREATED && r.decision != MDM_DECISION_UPDATED) || seq <= 0) {
        fprintf(stderr, "customer %s:%s version %s: no event (decision %d)\n", source, key, segment,
                (int)r.decision);
        exit(1);
    }
    if (entity)
        *entity = r.entity_id;
    return seq;
}

/* Deactivates the previous test's subscription (through the API), then creates one for
 * source to the port; scope all: every customer, whichever systems hold it. */
static long long subscribe(mdm_db *db, const char *source, int port, const char *extra_json)
{
    static long long previous;
    if (previous) {
        json_t *off = json_pack("{s:b}", "active", 0), *was = NULL;
        mdm_err err;
        if (mdm_publish_sub_update(db, previous, off, &tester, &was, &err) != MDM_OK) {
            fprintf(stderr, "deactivate %lld: %s\n", previous, err.msg);
            exit(1);
        }
        json_decref(was);
        json_decref(off);
    }
    char *body_s = NULL;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "source", source, "url", "", "secret", SECRET,
                             "scope", "all");
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/hook", port);
    json_object_set_new(body, "url", json_string(u));
    if (extra_json) {
        json_t *extra = json_loads(extra_json, 0, NULL);
        json_object_update(body, extra);
        json_decref(extra);
    }
    json_t *out = NULL;
    mdm_err err;
    mdm_status st = mdm_publish_sub_create(db, body, &tester, &out, &err);
    if (st != MDM_OK) {
        body_s = json_dumps(body, 0);
        fprintf(stderr, "subscribe %s: %s\n", body_s, err.msg);
        exit(1);
    }
    long long id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    json_decref(body);
    free(body_s);
    previous = id;
    return id;
}

static const char *delivery_field(mdm_db *db, long long sub, int64_t seq, const char *col)
{
    char s[24], q[24];
    snprintf(s, sizeof s, "%lld", sub);
    snprintf(q, sizeof q, "%lld", (long long)seq);
    const char *p[] = {s, q, col};
    return sql_text(db,
                    "SELECT (to_jsonb(d) ->> $3) FROM delivery d WHERE subscription_id = $1 "
                    "AND seq = $2",
                    3, p);
}

static long long count_state(mdm_db *db, long long sub, const char *state)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", sub);
    const char *p[] = {s, state};
    return sql(db, "SELECT count(*) FROM delivery WHERE subscription_id = $1 AND state = $2", 2, p);
}

static mdm_status drain(int timeout_ms)
{
    mdm_err err = {0};
    long n = 0;
    mdm_status st = mdm_publish_run(url, &opts, 2, true, timeout_ms, &n, &err);
    if (st != MDM_OK)
        fprintf(stderr, "drain: %s\n", err.msg);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* The receiver process                                                                  */

typedef struct receiver {
    pid_t pid;
    int port;
    int out_fd; /* its stdout */
    char log[512];
    json_t *summary; /* after stop */
} receiver;

/* Receivers still running, killed at exit so a failing test never leaves one behind. */
static pid_t live_receivers[8];

static void kill_live_receivers(void)
{
    for (int i = 0; i < 8; i++)
        if (live_receivers[i] > 0) {
            kill(live_receivers[i], SIGKILL);
            waitpid(live_receivers[i], NULL, 0);
        }
}

static void track_receiver(pid_t pid, pid_t replace)
{
    for (int i = 0; i < 8; i++)
        if (live_receivers[i] == replace) {
            live_receivers[i] = pid;
            return;
        }
}

/* Starts mdm-test-receiver with args (NULL-terminated, after --port/--secret/--log). */
static void receiver_start(receiver *r, int port, const char *log_name, const char *const *args)
{
    snprintf(r->log, sizeof r->log, "%s/%s.ndjson", tmpdir, log_name);
    int fds[2];
    if (pipe(fds) != 0)
        exit(1);
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    const char *argv[32] = {receiver_bin, "--port", portarg, "--secret", SECRET, "--log", r->log};
    int n = 7;
    for (int i = 0; args && args[i] && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(receiver_bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    track_receiver(pid, 0);
    r->pid = pid;
    r->out_fd = fds[0];
    r->summary = NULL;
    char line[64];
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t k = read(fds[0], line + len, 1);
        if (k <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    r->port = 0;
    if (sscanf(line, "ready %d", &r->port) != 1) {
        fprintf(stderr, "receiver did not start: \"%s\"\n", line);
        exit(1);
    }
}

static void receiver_stop(receiver *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    int status = 0;
    waitpid(r->pid, &status, 0);
    track_receiver(0, r->pid);
    r->pid = 0;
    char buf[1024];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = read(r->out_fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)k;
    buf[len] = '\0';
    close(r->out_fd);
    json_decref(r->summary);
    r->summary = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
}

static long long summary_int(const receiver *r, const char *key)
{
    return json_integer_value(json_object_get(r->summary, key));
}

/* The receiver's log as an array of request objects, in arrival order. */
static json_t *receiver_log(const receiver *r)
{
    json_t *arr = json_array();
    FILE *f = fopen(r->log, "r");
    if (!f)
        return arr;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (o)
            json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    return arr;
}

/* Requests of the log for one seq. */
static json_t *log_for_seq(const json_t *log, int64_t seq)
{
    json_t *arr = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(log, i, o) if (json_integer_value(json_object_get(o, "seq")) == seq)
        json_array_append(arr, o);
    return arr;
}

/* True when, for every entity, the seqs it received (in arrival order, repeats allowed)
 * never go backwards, and all requests verified their signature. */
static bool log_in_entity_order(const json_t *log)
{
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(log, i, a)
    {
        if (!json_is_true(json_object_get(a, "sig_ok")))
            return false;
        for (j = i + 1; j < json_array_size(log); j++) {
            b = json_array_get(log, j);
            if (json_integer_value(json_object_get(a, "entity_id")) ==
                    json_integer_value(json_object_get(b, "entity_id")) &&
                json_integer_value(json_object_get(b, "seq")) <
                    json_integer_value(json_object_get(a, "seq")) &&
                json_integer_value(json_object_get(a, "status")) == 200)
                return false;
        }
    }
    return true;
}

/* Number of distinct seqs acknowledged with 200. */
static size_t acked_seqs(const json_t *log)
{
    json_t *seen = json_object();
    size_t i;
    json_t *o;
    json_array_foreach(log, i, o)
    {
        if (json_integer_value(json_object_get(o, "status")) != 200)
            continue;
        char k[24];
        snprintf(k, sizeof k, "%lld", (long long)json_integer_value(json_object_get(o, "seq")));
        json_object_set_new(seen, k, json_true());
    }
    size_t n = json_object_size(seen);
    json_decref(seen);
    return n;
}

/* A port nobody listens on: start a receiver, note its port, stop it. */
static int free_port(void)
{
    receiver r;
    receiver_start(&r, 0, "probe", NULL);
    int port = r.port;
    receiver_stop(&r);
    json_decref(r.summary);
    return port;
}

/* ------------------------------------------------------------------------------------ */
/* Tests                                                                                 */

/* The message: mapping to the system's layout, its own keys, withheld owned fields; an
 * update with nothing left to send is skipped. Golden record and events from the
 * pipeline: Ann in two CRM records and the web shop. */
static void test_message_content(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    receiver_start(&r, 0, "content", NULL);
    long long sub = subscribe(db, "crm", r.port,
                              "{\"mapping\": {\"Name.First\": \"first_name\", \"Name.Last\": "
                              "\"last_name\", \"Mail\": \"emails.0.value\", \"CrmId\": "
                              "\"$source_key\"}}");
    /* Ann in two CRM records and the web shop: the CRM holds her names, only the shop her
     * e-mail */
    const char *ann = "\"first_name\": \"Ann\", \"last_name\": \"Lee\", \"birth_date\":"
                      " \"1980-01-01\", \"phones\": [\"+12065550142\"]";
    char *json = mdm_xasprintf("{\"source_key\": \"C-100\", %s}", ann);
    mdm_ingest_result r1 = fx_ingest(db, "crm", json);
    free(json);
    long long e = r1.entity_id;
    CHECK_INT(r1.decision, MDM_DECISION_CREATED);
    json = mdm_xasprintf("{\"source_key\": \"C-101\", %s}", ann);
    CHECK_INT(fx_ingest(db, "crm", json).entity_id, e);
    free(json);
    json = mdm_xasprintf("{\"source_key\": \"S-9\", %s, \"emails\": [\"ann@example.com\"]}", ann);
    CHECK_INT(fx_ingest(db, "shop", json).entity_id, e);
    free(json);
    char es[24];
    snprintf(es, sizeof es, "%lld", e);
    const char *ep[] = {es};
    int64_t s1 = sql(db, "SELECT min(seq) FROM outbox WHERE entity_id = $1::bigint", 1, ep);
    int64_t s2 = sql(db, "SELECT max(seq) FROM outbox WHERE entity_id = $1::bigint", 1, ep);
    /* a CRM record's new phone: the CRM holds it, nothing is left to send */
    json = mdm_xasprintf("{\"source_key\": \"C-101\", \"first_name\": \"Ann\", \"last_name\":"
                         " \"Lee\", \"birth_date\": \"1980-01-01\", \"phones\":"
                         " [\"+12065550143\"]}");
    CHECK_INT(fx_ingest(db, "crm", json).decision, MDM_DECISION_UPDATED);
    free(json);
    int64_t s3 = sql(db, "SELECT max(seq) FROM outbox WHERE entity_id = $1::bigint", 1, ep);
    CHECK(s3 > s2);
    CHECK_INT(drain(15000), MDM_OK);
    receiver_stop(&r);
    json_t *log = receiver_log(&r);
    CHECK_INT(json_array_size(log), 2);
    /* created: everything the CRM holds itself is withheld, its own key goes */
    json_t *req = json_array_get(log, 0);
    json_t *body = json_object_get(req, "body");
    CHECK(json_is_true(json_object_get(req, "sig_ok")));
    CHECK_INT(json_integer_value(json_object_get(req, "seq")), s1);
    CHECK_STR(json_string_value(json_object_get(body, "type")), "created");
    CHECK_STR(json_string_value(json_object_get(body, "source")), "crm");
    CHECK_INT(json_integer_value(json_object_get(body, "entity_id")), e);
    char *keys = json_dumps(json_object_get(body, "source_keys"), JSON_COMPACT);
    CHECK_STR(keys, "[\"C-100\",\"C-101\"]");
    free(keys);
    char *rec = json_dumps(json_object_get(body, "record"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(rec, "{\"CrmId\":\"C-100\"}");
    free(rec);
    /* the mapped names the CRM holds are withheld, the e-mail it lacks is not */
    int names = 0;
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(body, "withheld"), i, w)
    {
        names += !strcmp(json_string_value(w), "first_name") ||
                 !strcmp(json_string_value(w), "last_name");
        CHECK(strcmp(json_string_value(w), "emails") != 0);
    }
    CHECK_INT(names, 2);
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%lld", (long long)s1);
    const char *sp[] = {seqs};
    CHECK_STR(json_string_value(json_object_get(req, "key")),
              sql_text(db, "SELECT event_id::text FROM outbox WHERE seq = $1::bigint", 1, sp));
    /* the shop's e-mail reaches the CRM, mapped */
    req = json_array_get(log, 1);
    body = json_object_get(req, "body");
    CHECK_INT(json_integer_value(json_object_get(req, "seq")), s2);
    CHECK_STR(json_string_value(json_object_get(body, "type")), "updated");
    rec = json_dumps(json_object_get(body, "record"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(rec, "{\"CrmId\":\"C-100\",\"Mail\":\"ann@example.com\"}");
    free(rec);
    CHECK_STR(delivery_field(db, sub, s1, "state"), "acknowledged");
    CHECK_STR(delivery_field(db, sub, s1, "last_status"), "200");
    CHECK_STR(delivery_field(db, sub, s1, "last_response"), "{\"ok\":true}");
    CHECK_STR(delivery_field(db, sub, s1, "attempts"), "1");
    CHECK_STR(delivery_field(db, sub, s2, "state"), "acknowledged");
    CHECK_STR(delivery_field(db, sub, s3, "state"), "skipped");
    CHECK_STR(delivery_field(db, sub, s3, "attempts"), "0");
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* Receiver down, then up: everything delivered once in effect, in order per entity. */
static void test_down_then_up(void)
{
    mdm_db *db = fx_connect();
    int port = free_port();
    long long sub = subscribe(db, "shop", port, NULL);
    int64_t seqs[20];
    for (int v = 0; v < 4; v++)
        for (int i = 0; i < 5; i++) { /* each version changes the segment: none is a no-op */
            char key[16], segment[24];
            snprintf(key, sizeof key, "S-%d", i);
            snprintf(segment, sizeof segment, "gold %d", v);
            seqs[v * 5 + i] = customer(db, "crm", key, segment, NULL);
        }
    mdm_err err;
    long n = 0;
    CHECK_INT(mdm_publish_run(url, &opts, 1, false, 0, &n, &err), MDM_OK);
    CHECK(n >= 1);
    /* only the head of each entity's chain was tried; nothing got through */
    CHECK_INT(count_state(db, sub, "pending"), 20);
    CHECK(strstr(delivery_field(db, sub, seqs[0], "last_response"), "transport error") != NULL);
    CHECK_STR(delivery_field(db, sub, seqs[5], "attempts"), "0");
    receiver r;
    receiver_start(&r, port, "down_up", NULL);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    json_t *log = receiver_log(&r);
    CHECK_INT(acked_seqs(log), 20);
    CHECK_INT(summary_int(&r, "duplicates"), 0);
    CHECK_INT(summary_int(&r, "bad_signatures"), 0);
    CHECK(log_in_entity_order(log));
    CHECK_INT(count_state(db, sub, "acknowledged"), 20);
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* 500 three times: retried with growing delays, then acknowledged. */
static void test_retry_500(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    const char *args[] = {"--fail-first", "3", NULL};
    receiver_start(&r, 0, "retry500", args);
    long long sub = subscribe(db, "crm", r.port, NULL);
    int64_t s = customer(db, "shop", "R5-1", "a", NULL);
    mdm_publish_opts saved = opts;
    opts.backoff_base_ms = 100;
    opts.backoff_max_ms = 10000;
    CHECK_INT(drain(20000), MDM_OK);
    opts = saved;
    receiver_stop(&r);
    json_t *log = receiver_log(&r);
    json_t *reqs = log_for_seq(log, s);
    CHECK_INT(json_array_size(reqs), 4);
    long long t[4] = {0};
    for (size_t i = 0; i < 4 && i < json_array_size(reqs); i++) {
        json_t *q = json_array_get(reqs, i);
        t[i] = json_integer_value(json_object_get(q, "t_ms"));
        CHECK_INT(json_integer_value(json_object_get(q, "status")), i < 3 ? 500 : 200);
        char want[8];
        snprintf(want, sizeof want, "%zu", i + 1);
        CHECK_STR(json_string_value(json_object_get(q, "attempt")), want);
    }
    /* delays: [50,100], [100,200], [200,400] ms plus polling. Only the lower bounds are
     * checked: a retry never comes before its backoff, but a loaded machine can stretch
     * any gap, so comparing gaps with each other failed now and then. */
    long long g1 = t[1] - t[0], g2 = t[2] - t[1], g3 = t[3] - t[2];
    CHECK(g1 >= 45);
    CHECK(g2 >= 95);
    CHECK(g3 >= 195);
    CHECK_STR(delivery_field(db, sub, s, "attempts"), "4");
    CHECK_STR(delivery_field(db, sub, s, "state"), "acknowledged");
    json_decref(reqs);
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* Runs the mdm binary with args; returns its exit status; stdout into out (may be NULL). */
static int run_mdm(const char *const *args, char *out, size_t outlen)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    const char *argv[16] = {mdm_bin};
    int n = 1;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(mdm_bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    char buf[8192];
    ssize_t k;
    while ((k = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0 && len < sizeof buf - 1)
        len += (size_t)k;
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (out)
        snprintf(out, outlen, "%s", buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Always 400: dead after max_attempts; replayed through the CLI after the fix. */
static void test_dead_then_replay(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    const char *args[] = {"--always", "400", NULL};
    receiver_start(&r, 0, "dead", args);
    long long sub = subscribe(db, "crm", r.port, "{\"max_attempts\": 3}");
    int64_t s1 = customer(db, "shop", "D-1", "a", NULL);
    int64_t s2 = customer(db, "shop", "D-2", "b", NULL);
    int64_t s3 = customer(db, "shop", "D-1", "c", NULL);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    json_decref(r.summary);
    CHECK_INT(count_state(db, sub, "dead"), 3);
    CHECK_STR(delivery_field(db, sub, s1, "attempts"), "3");
    CHECK_STR(delivery_field(db, sub, s1, "last_status"), "400");
    CHECK_STR(delivery_field(db, sub, s1, "last_response"), "{\"error\":\"simulated 400\"}");
    /* metrics see them */
    json_t *m = NULL;
    mdm_err err;
    CHECK_INT(mdm_publish_metrics(db, &m, &err), MDM_OK);
    json_t *ms = json_array_get(json_object_get(m, "subscriptions"), 0);
    CHECK_INT(json_integer_value(json_object_get(ms, "id")), sub);
    CHECK_INT(json_integer_value(json_object_get(ms, "dead")), 3);
    CHECK(json_integer_value(json_object_get(m, "dead_total")) >= 3);
    CHECK(json_integer_value(json_object_get(m, "failures_total")) >= 9);
    json_decref(m);
    mdm_buf text = {0};
    CHECK_INT(mdm_publish_metrics_text(db, &text, &err), MDM_OK);
    char want[160];
    snprintf(want, sizeof want,
             "mdm_publish_deliveries{subscription=\"%lld\",source=\"crm\",state=\"dead\"} 3\n",
             sub);
    CHECK(text.data && strstr(text.data, want) != NULL);
    CHECK(text.data && strstr(text.data, "# TYPE mdm_publish_dead_total counter\n") != NULL);
    mdm_buf_free(&text);
    /* the CLI lists them */
    char out[8192], subarg[24];
    snprintf(subarg, sizeof subarg, "%lld", sub);
    const char *list[] = {"deliveries", "list", "--state", "dead", "--subscription", subarg, NULL};
    CHECK_INT(run_mdm(list, out, sizeof out), 0);
    int lines = 0;
    for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    CHECK_INT(lines, 3);
    CHECK(strstr(out, "\"state\":\"dead\"") != NULL);
    const char *bad[] = {"deliveries", "list", "--state", "lost", NULL};
    CHECK_INT(run_mdm(bad, NULL, 0), 2);
    const char *bad2[] = {"deliveries", "replay", NULL};
    CHECK_INT(run_mdm(bad2, NULL, 0), 2);
    /* fixed receiver, replay the dead ones */
    receiver_start(&r, r.port, "dead_fixed", NULL);
    const char *replay[] = {"deliveries", "replay", "--dead", "--subscription", subarg, NULL};
    CHECK_INT(run_mdm(replay, out, sizeof out), 0);
    CHECK_STR(out, "{\"replayed\":3}\n");
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    json_t *log = receiver_log(&r);
    CHECK_INT(acked_seqs(log), 3);
    CHECK(log_in_entity_order(log));
    CHECK_STR(delivery_field(db, sub, s2, "state"), "acknowledged");
    CHECK_STR(delivery_field(db, sub, s3, "attempts"), "1");
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* A receiver slower than the timeout: the attempt fails and is retried. */
static void test_timeout(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    const char *args[] = {"--delay-ms", "1500", "--delay-count", "1", NULL};
    receiver_start(&r, 0, "timeout", args);
    long long sub = subscribe(db, "crm", r.port, NULL);
    int64_t s = customer(db, "shop", "TO-1", "a", NULL);
    mdm_publish_opts saved = opts;
    opts.timeout_ms = 300;
    CHECK_INT(drain(20000), MDM_OK);
    opts = saved;
    CHECK_STR(delivery_field(db, sub, s, "state"), "acknowledged");
    CHECK_STR(delivery_field(db, sub, s, "attempts"), "2");
    receiver_stop(&r); /* waits for the abandoned request to finish */
    json_t *log = receiver_log(&r);
    CHECK_INT(json_array_size(log), 2);
    CHECK_INT(summary_int(&r, "unique"), 1);
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* 422 is a refusal: rejected at once with the receiver's reason (whatever its bytes:
 * invalid UTF-8 and NUL become '?'), the entity's next event goes on, and replay --dead
 * requeues rejected ones too. Retry-After lengthens the backoff. */
static void test_rejected_and_answers(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    /* "no\xff\x00ok" */
    const char *args[] = {"--always", "422", "--answer-hex", "6e6fff006f6b", NULL};
    receiver_start(&r, 0, "rejected", args);
    long long sub = subscribe(db, "crm", r.port, NULL);
    int64_t s1 = customer(db, "shop", "RJ-1", "a", NULL);
    int64_t s2 = customer(db, "shop", "RJ-1", "b", NULL);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    json_decref(r.summary);
    CHECK_STR(delivery_field(db, sub, s1, "state"), "rejected");
    CHECK_STR(delivery_field(db, sub, s1, "attempts"), "1");
    CHECK_STR(delivery_field(db, sub, s1, "last_status"), "422");
    CHECK_STR(delivery_field(db, sub, s1, "last_response"), "no??ok");
    CHECK_STR(delivery_field(db, sub, s2, "state"), "rejected");
    long count = 0;
    mdm_err err;
    CHECK_INT(mdm_publish_replay_dead(db, sub, &tester, &count, &err), MDM_OK);
    CHECK_INT(count, 2);
    char subs[24];
    snprintf(subs, sizeof subs, "%lld", (long long)sub);
    const char *ps[] = {subs};
    CHECK_INT(sql(db,
                  "SELECT count(*) FROM audit_log WHERE action = 'deliveries.replay' AND target ="
                  " 'subscription:' || $1 AND actor = 'cli:tester' AND after->>'replay' = 'dead'"
                  " AND (after->>'deliveries')::int = 2",
                  1, ps),
              1);
    /* 503 with Retry-After: 1 once per event, then fine: the retry waits >= 1 s */
    const char *args2[] = {"--fail-first", "1", "--fail-status", "503", "--retry-after", "1", NULL};
    receiver_start(&r, r.port, "retry_after", args2);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    json_t *log = receiver_log(&r);
    json_t *reqs = log_for_seq(log, s1);
    CHECK_INT(json_array_size(reqs), 2);
    long long gap = json_integer_value(json_object_get(json_array_get(reqs, 1), "t_ms")) -
                    json_integer_value(json_object_get(json_array_get(reqs, 0), "t_ms"));
    CHECK(gap >= 990);
    CHECK_STR(delivery_field(db, sub, s1, "state"), "acknowledged");
    CHECK_STR(delivery_field(db, sub, s2, "state"), "acknowledged");
    CHECK(log_in_entity_order(log));
    json_decref(reqs);
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* A wrong secret: the receiver refuses (401) until the subscription is corrected. */
static void test_signature(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    receiver_start(&r, 0, "signature", NULL);
    long long sub = subscribe(db, "crm", r.port,
                              "{\"secret\": \"not-the-receivers-secret\", \"max_attempts\": 2}");
    int64_t s = customer(db, "shop", "SG-1", "a", NULL);
    CHECK_INT(drain(20000), MDM_OK);
    CHECK_STR(delivery_field(db, sub, s, "state"), "dead");
    CHECK_STR(delivery_field(db, sub, s, "last_status"), "401");
    json_t *fix = json_pack("{s:s}", "secret", SECRET), *out = NULL;
    mdm_err err;
    CHECK_INT(mdm_publish_sub_update(db, sub, fix, &tester, &out, &err), MDM_OK);
    CHECK(json_object_get(out, "secret") == NULL);
    CHECK(json_is_true(json_object_get(out, "secret_set")));
    json_decref(out);
    json_decref(fix);
    long count = 0;
    CHECK_INT(mdm_publish_replay_dead(db, sub, &tester, &count, &err), MDM_OK);
    CHECK_INT(count, 1);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    CHECK_STR(delivery_field(db, sub, s, "state"), "acknowledged");
    CHECK_INT(summary_int(&r, "bad_signatures"), 2);
    CHECK_INT(summary_int(&r, "ok"), 1);
    json_decref(r.summary);
    mdm_db_close(db);
}

static void write_config(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "{\"publish\": {\"batch\": 16, \"poll_ms\": 20, \"timeout_ms\": 10000, "
               "\"backoff_base_ms\": 40, \"backoff_max_ms\": 400, "
               "\"allowed_networks\": [\"127.0.0.1/32\"]}}");
    fclose(f);
}

static pid_t spawn_mdm(const char *const *args)
{
    const char *argv[16] = {mdm_bin};
    int n = 1;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execv(mdm_bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* `mdm publish` killed (SIGKILL) while a request is in flight: nothing is lost. */
static void test_killed_mid_delivery(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    const char *args[] = {"--delay-ms", "4000", "--delay-count", "1", NULL};
    receiver_start(&r, 0, "killed", args);
    long long sub = subscribe(db, "crm", r.port, NULL);
    int64_t s1 = customer(db, "shop", "K-1", "a", NULL);
    int64_t s2 = customer(db, "shop", "K-1", "b", NULL);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/killed.json", tmpdir);
    write_config(cfg);
    const char *pargs[] = {"publish", "--config", cfg, "--once", "--workers", "1", NULL};
    pid_t pid = spawn_mdm(pargs);
    /* wait until it holds the claimed delivery (a row lock) mid-request */
    long long locked = 0;
    for (int i = 0; i < 100 && !locked; i++) {
        usleep(50 * 1000);
        locked = sql(db,
                     "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                     "WHERE c.relname = 'delivery' AND l.mode = 'RowShareLock'",
                     0, NULL);
    }
    CHECK(locked > 0);
    usleep(300 * 1000);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    /* the claim died with the process: still pending, no attempt recorded */
    usleep(200 * 1000);
    CHECK_STR(delivery_field(db, sub, s1, "state"), "pending");
    CHECK_STR(delivery_field(db, sub, s1, "attempts"), "0");
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r); /* waits for the abandoned request to finish */
    CHECK_STR(delivery_field(db, sub, s1, "state"), "acknowledged");
    CHECK_STR(delivery_field(db, sub, s2, "state"), "acknowledged");
    json_t *log = receiver_log(&r);
    json_t *first = log_for_seq(log, s1);
    CHECK_INT(json_array_size(first), 2); /* the same Idempotency-Key twice: once in effect */
    CHECK_INT(summary_int(&r, "duplicates"), 1);
    /* the receiver was still busy with the dead worker's request when the resend came */
    CHECK_INT(summary_int(&r, "concurrent_duplicates"), 1);
    CHECK_INT(acked_seqs(log), 2);
    json_decref(first);
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* Two `mdm publish` processes, two workers each: no event delivered twice concurrently
 * (nor twice at all, since nothing failed), per-entity order kept. */
static void test_two_processes(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    receiver_start(&r, 0, "two", NULL);
    long long sub = subscribe(db, "shop", r.port, NULL);
    enum { ENTITIES = 30, VERSIONS = 8 };
    for (int v = 0; v < VERSIONS; v++)
        for (int i = 0; i < ENTITIES; i++) { /* each version changes the segment */
            char key[16], segment[24];
            snprintf(key, sizeof key, "TWO-%d", i);
            snprintf(segment, sizeof segment, "x %d", v);
            customer(db, "crm", key, segment, NULL);
        }
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/two.json", tmpdir);
    write_config(cfg);
    const char *pargs[] = {"publish", "--config",  cfg, "--drain", "--timeout",
                           "60",      "--workers", "2", NULL};
    pid_t a = spawn_mdm(pargs), b = spawn_mdm(pargs);
    int sa = 0, sb = 0;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    CHECK(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    CHECK(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    receiver_stop(&r);
    json_t *log = receiver_log(&r);
    CHECK_INT(summary_int(&r, "concurrent_duplicates"), 0);
    CHECK_INT(summary_int(&r, "duplicates"), 0);
    CHECK_INT(summary_int(&r, "unique"), ENTITIES * VERSIONS);
    CHECK_INT(count_state(db, sub, "acknowledged"), ENTITIES * VERSIONS);
    CHECK(log_in_entity_order(log));
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* Four writers ingest new versions of their customers at once (their transactions
 * commit out of seq order) while a worker fans out and delivers: every committed event
 * is delivered exactly once, none skipped. */
#define WRITERS    4
#define PER_WRITER 30
static atomic_int writers_done;
static atomic_int committed;
static atomic_int feed_rounds; /* publisher rounds done while the writers write */

static void *writer(void *arg)
{
    int w = (int)(long)arg;
    mdm_db *db = fx_connect();
    for (int i = 0; i < PER_WRITER; i++) {
        /* paced by the publisher, so its rounds interleave with the writes however slow
         * the machine: the last writes wait for its fourth round */
        while (atomic_load(&feed_rounds) < i / 7)
            usleep(1000);
        char key[16], segment[24]; /* each version changes the segment: none is a no-op */
        snprintf(key, sizeof key, "FEED-%d", w);
        snprintf(segment, sizeof segment, "n %d", i + 1);
        customer(db, "shop", key, segment, NULL);
        atomic_fetch_add(&committed, 1);
    }
    mdm_db_close(db);
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void test_feed_interleaved(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    receiver_start(&r, 0, "feed", NULL);
    long long sub = subscribe(db, "crm", r.port, NULL);
    mdm_err err;
    mdm_publisher *p = mdm_publisher_new(url, &opts, &err);
    CHECK(p != NULL);
    if (!p)
        return;
    pthread_t t[WRITERS];
    for (long w = 0; w < WRITERS; w++)
        pthread_create(&t[w], NULL, writer, (void *)w);
    int rounds = 0;
    while (atomic_load(&writers_done) < WRITERS) {
        int n = 0;
        CHECK_INT(mdm_publisher_step(p, &n, &err), MDM_OK);
        rounds++;
        atomic_store(&feed_rounds, rounds);
        usleep(2000);
    }
    for (int w = 0; w < WRITERS; w++)
        pthread_join(t[w], NULL);
    mdm_publisher_free(p);
    CHECK(rounds > 3);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    CHECK_INT(atomic_load(&committed), WRITERS * PER_WRITER);
    CHECK_INT(summary_int(&r, "unique"), atomic_load(&committed));
    CHECK_INT(summary_int(&r, "duplicates"), 0);
    CHECK_INT(count_state(db, sub, "acknowledged"), atomic_load(&committed));
    json_t *log = receiver_log(&r);
    CHECK(log_in_entity_order(log));
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* Replay a subscription from a seq: acknowledged events are sent again, in order. */
static void test_replay_from_seq(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    receiver_start(&r, 0, "replay_from", NULL);
    long long sub = subscribe(db, "crm", r.port, "{\"event_types\": [\"updated\"]}");
    customer(db, "shop", "RF-1", "v 1", NULL); /* created: not taken by this subscription */
    int64_t s2 = customer(db, "shop", "RF-1", "v 2", NULL);
    int64_t s3 = customer(db, "shop", "RF-1", "v 3", NULL);
    int64_t s4 = customer(db, "shop", "RF-1", "v 4", NULL);
    CHECK_INT(drain(20000), MDM_OK);
    long count = 0;
    mdm_err err;
    CHECK_INT(mdm_publish_replay_from(db, sub, s3, &tester, &count, &err), MDM_OK);
    CHECK_INT(count, 2);
    char subs[24], froms[24];
    snprintf(subs, sizeof subs, "%lld", (long long)sub);
    snprintf(froms, sizeof froms, "%lld", (long long)s3);
    const char *ps[] = {subs, froms};
    CHECK_INT(sql(db,
                  "SELECT count(*) FROM audit_log WHERE action = 'deliveries.replay' AND target ="
                  " 'subscription:' || $1 AND after->>'from_seq' = $2"
                  " AND (after->>'deliveries')::int = 2",
                  2, ps),
              1);
    CHECK_INT(mdm_publish_replay_from(db, 999999, s3, &tester, &count, &err), MDM_ENOTFOUND);
    CHECK_INT(mdm_publish_replay_from(db, sub, s3, NULL, &count, &err), MDM_EINVAL);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    json_t *log = receiver_log(&r);
    CHECK_INT(json_array_size(log), 5);
    long long want[] = {s2, s3, s4, s3, s4};
    for (size_t i = 0; i < 5 && i < json_array_size(log); i++)
        CHECK_INT(json_integer_value(json_object_get(json_array_get(log, i), "seq")), want[i]);
    CHECK_INT(count_state(db, sub, "acknowledged"), 3);
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* The subscription API: validation, conflicts, secrets never returned, deactivation. */
static void test_subscription_api(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    json_t *out = NULL;
    json_t *bad =
        json_pack("{s:s, s:s, s:s}", "source", "crm", "url", "mailto:x", "secret", SECRET);
    CHECK_INT(mdm_publish_sub_create(db, bad, &tester, &out, &err), MDM_EUNPROCESSABLE);
    CHECK_STR(err.field, "/url");
    CHECK(strstr(err.msg, "url must be an http:// or https:// URL") != NULL);
    json_decref(bad);
    json_t *unknown =
        json_pack("{s:s, s:s, s:s}", "source", "erp", "url", "http://x.example/", "secret", SECRET);
    CHECK_INT(mdm_publish_sub_create(db, unknown, &tester, &out, &err), MDM_ECONFLICT);
    json_decref(unknown);
    json_t *ok = json_pack("{s:s, s:s, s:s, s:[s], s:{s:s}}", "source", "crm", "url",
                           "https://crm.example/hook", "secret", SECRET, "event_types", "merged",
                           "mapping", "Id", "$source_key");
    CHECK_INT(mdm_publish_sub_create(db, ok, &tester, &out, &err), MDM_OK);
    long long id = json_integer_value(json_object_get(out, "id"));
    CHECK(id > 0);
    CHECK(json_object_get(out, "secret") == NULL);
    CHECK_STR(json_string_value(json_array_get(json_object_get(out, "event_types"), 0)), "merged");
    CHECK_STR(json_string_value(json_object_get(out, "origin")), "api");
    json_decref(out);
    CHECK_INT(mdm_publish_sub_create(db, ok, &tester, &out, &err), MDM_ECONFLICT);
    json_decref(ok);
    json_t *upd = json_pack("{s:s}", "source", "shop");
    CHECK_INT(mdm_publish_sub_update(db, id, upd, &tester, &out, &err), MDM_EUNPROCESSABLE);
    CHECK_STR(err.field, "/source");
    json_decref(upd);
    CHECK_INT(mdm_publish_sub_delete(db, id, &tester, &err), MDM_OK);
    CHECK_INT(mdm_publish_sub_get(db, id, &out, &err), MDM_OK);
    CHECK(json_is_false(json_object_get(out, "active")));
    json_decref(out);
    CHECK_INT(mdm_publish_sub_get(db, 987654, &out, &err), MDM_ENOTFOUND);
    CHECK_INT(mdm_publish_sub_delete(db, 987654, &tester, &err), MDM_ENOTFOUND);
    CHECK_INT(mdm_publish_list(db, "gone", 0, 0, 10, &out, &err), MDM_EINVAL);
    mdm_db_close(db);
}

/* An event scrubbed by an erasure (mdm_subject_erase) before it went out is skipped; the
 * deleted event goes. */
static void test_erased_event(void)
{
    mdm_db *db = fx_connect();
    receiver r;
    receiver_start(&r, 0, "erased", NULL);
    long long sub = subscribe(db, "crm", r.port, NULL);
    long long e = 0;
    int64_t s1 = customer(db, "shop", "ER-1", "a", &e);
    json_t *res = NULL;
    mdm_err err;
    static const mdm_audit_actor dpo = {"cli:dpo", "compliance"};
    CHECK_INT(mdm_subject_erase(db, e, 0, "dpo@example.com", NULL, &dpo, &res, &err), MDM_OK);
    json_decref(res);
    char es[24];
    snprintf(es, sizeof es, "%lld", e);
    const char *p[] = {es};
    int64_t s2 = sql(db,
                     "SELECT max(seq) FROM outbox WHERE entity_id = $1::bigint AND type ="
                     " 'deleted'",
                     1, p);
    CHECK_INT(drain(20000), MDM_OK);
    receiver_stop(&r);
    CHECK_STR(delivery_field(db, sub, s1, "state"), "skipped");
    CHECK_STR(delivery_field(db, sub, s2, "state"), "acknowledged");
    json_t *log = receiver_log(&r);
    CHECK_INT(json_array_size(log), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(log, 0), "type")), "deleted");
    json_decref(log);
    json_decref(r.summary);
    mdm_db_close(db);
}

/* Subscriptions from mdm.json are synced (and retired when removed from it). */
static void test_config_sync(void)
{
    mdm_db *db = fx_connect();
    char path[512];
    snprintf(path, sizeof path, "%s/sync.json", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f,
            "{\"subscriptions\": [{\"source\": \"shop\", \"url\": \"https://shop.example/h\", "
            "\"secret\": \"%s\", \"max_attempts\": 5, \"mapping\": {\"Id\": \"$source_key\"}}]}",
            SECRET);
    fclose(f);
    mdm_err err;
    mdm_config *cfg = mdm_config_load(path, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    int n = 0;
    const char *audited = "SELECT count(*) FROM audit_log a JOIN subscription s ON a.target ="
                          " 'subscription:' || s.id WHERE s.url = 'https://shop.example/h'"
                          " AND a.actor = 'config' AND a.role = 'system' AND a.action = $1"
                          " AND a.after::text NOT LIKE '%' || $2 || '%'";
    const char *created[] = {"subscription.create", SECRET};
    CHECK_INT(mdm_publish_sync_config(db, cfg, &n, &err), MDM_OK);
    CHECK_INT(n, 1);
    CHECK_INT(sql(db, audited, 2, created), 1); /* audited, without its secret */
    CHECK_INT(mdm_publish_sync_config(db, cfg, &n, &err), MDM_OK);
    CHECK_INT(sql(db, audited, 2, created), 1); /* unchanged: no second row */
    CHECK_INT(sql(db,
                  "SELECT count(*) FROM audit_log WHERE action = 'subscription.update'"
                  " AND actor = 'config'",
                  0, NULL),
              0);
    CHECK_INT(sql(db,
                  "SELECT count(*) FROM subscription WHERE origin = 'config' AND active AND "
                  "max_attempts = 5 AND mapping = '{\"Id\": \"$source_key\"}'",
                  0, NULL),
              1);
    mdm_config_free(cfg);
    f = fopen(path, "w");
    if (f) {
        fputs("{\"subscriptions\": []}", f);
        fclose(f);
    }
    cfg = mdm_config_load(path, &err);
    CHECK_INT(mdm_publish_sync_config(db, cfg, &n, &err), MDM_OK);
    CHECK_INT(
        sql(db, "SELECT count(*) FROM subscription WHERE origin = 'config' AND active", 0, NULL),
        0);
    const char *deleted[] = {"subscription.delete", SECRET};
    CHECK_INT(sql(db, audited, 2, deleted), 1);
    mdm_config_free(cfg);
    mdm_db_close(db);
}

int main(void)
{
    url = getenv("MDM_DATABASE_URL");
    const char *root = getenv("MDM_ROOT");
    if (!url || !root)
        return 1;
    snprintf(receiver_bin, sizeof receiver_bin, "%s/build/san/mdm-test-receiver", root);
    const char *bin = getenv("MDM_BIN");
    snprintf(mdm_bin, sizeof mdm_bin, "%s", bin ? bin : "build/san/mdm");
    /* receiver logs and configurations, kept for debugging (build/ is ignored by git) */
    snprintf(tmpdir, sizeof tmpdir, "%s/build/test-logs/publish-%d", root, (int)getpid());
    char parent[300];
    snprintf(parent, sizeof parent, "%s/build/test-logs", root);
    mkdir(parent, 0755);
    if (mkdir(tmpdir, 0755) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    atexit(kill_live_receivers);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx_setup(suite_config);
    mdm_err e2;
    if (mdm_publish_opts_load(NULL, &opts, &e2) != MDM_OK)
        return 1;
    /* the receiver listens on loopback, which deliveries refuse by default */
    json_t *nets = json_pack("[s]", "127.0.0.1/32");
    if (mdm_egress_load(nets, "/publish/allowed_networks", &opts.egress, &e2) != MDM_OK)
        exit(1);
    json_decref(nets);
    opts.batch = 16;
    opts.poll_ms = 20;
    opts.timeout_ms = 5000;
    opts.connect_timeout_ms = 1000;
    opts.backoff_base_ms = 40;
    opts.backoff_max_ms = 400;
    RUN(test_subscription_api);
    RUN(test_config_sync);
    RUN(test_message_content);
    RUN(test_down_then_up);
    RUN(test_retry_500);
    RUN(test_dead_then_replay);
    RUN(test_timeout);
    RUN(test_signature);
    RUN(test_rejected_and_answers);
    RUN(test_killed_mid_delivery);
    RUN(test_two_processes);
    RUN(test_feed_interleaved);
    RUN(test_replay_from_seq);
    RUN(test_erased_event);
    curl_global_cleanup();
    fx_teardown();
    TEST_END();
}
