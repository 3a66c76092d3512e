/* Push delivery workers: a round claims due deliveries (mdm/publish_delivery.h), builds
 * each message (mdm/publish_message.h), signs it (mdm/publish_sign.h), sends it with
 * libcurl under the egress policy, and records the outcomes with their backoff; the
 * runners of `mdm publish` and the background workers of mdm serve; the metrics. The
 * invariants are stated in publish.h; the comments here explain the how. */
#include "mdm/publish.h"

#include "common/log.h"
#include "mdm/egress.h"
#include "mdm/publish_delivery.h"
#include "mdm/publish_int.h"
#include "mdm/publish_message.h"
#include "mdm/publish_sign.h"
#include "mdm/publish_sub.h"
#include "mdm/trace.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_KEEP                                                                              \
    200                          /* bytes of the receiver's answer kept in last_response: an       \
                                  * excerpt, since the receiver may be anything */
#define FANOUT_MIN_INTERVAL 50   /* ms between two fan-outs by one process */
#define FANOUT_LIMIT        1000 /* outbox events read per fan-out */

/* Process-wide counters for metrics. */
static atomic_long n_attempts, n_failures, n_acknowledged, n_rejected, n_dead, n_skipped;

long mdm_publish_backoff_ms(const mdm_publish_opts *o, int attempts, double r)
{
    double d = o->backoff_base_ms;
    for (int i = 1; i < attempts && d < o->backoff_max_ms; i++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    if (r < 0)
        r = 0;
    if (r >= 1)
        r = 0.999999;
    return (long)(d / 2 + r * (d / 2));
}

/* ---------------------------------------------------------------------------------- */
/* Delivery worker                                                                     */

struct mdm_publisher {
    mdm_db *db;
    CURL *curl;
    mdm_publish_opts o;
    uint64_t rng;
    mdm_buf response;
    long retry_after_ms;
    long long last_fanout_ms;
    const atomic_bool *stop; /* set: leave the rest of a round pending (mdm serve shutdown) */
    char refused[192];       /* why the socket callback refused an address, "" = none */
};

/* CURLOPT_OPENSOCKETFUNCTION: every address libcurl connects to (the pinned one, or a
 * proxy's) is checked against the egress policy again. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    mdm_publisher *p = clientp;
    if (!mdm_egress_allowed(&p->o.egress, &a->addr, p->refused, sizeof p->refused))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double rng_next(mdm_publisher *p)
{
    /* xorshift64*: jitter only, no need for cryptographic quality */
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return (double)((p->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    mdm_publisher *p = arg;
    size_t len = size * n;
    if (p->response.len < RESPONSE_KEEP) {
        size_t keep = RESPONSE_KEEP - p->response.len;
        mdm_buf_append(&p->response, data, len < keep ? len : keep);
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    mdm_publisher *p = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char *end = NULL;
        long secs = strtol(data + 12, &end, 10);
        if (end != data + 12 && secs > 0 && secs < 86400)
            p->retry_after_ms = secs * 1000;
    }
    return len;
}

mdm_publisher *mdm_publisher_new(const char *url, const mdm_publish_opts *o, mdm_err *err)
{
    mdm_db *db = mdm_db_connect(url, err);
    if (!db)
        return NULL;
    CURL *curl = curl_easy_init();
    if (!curl) {
        mdm_db_close(db);
        mdm_err_set(err, MDM_EINTERNAL, "cannot create a curl handle");
        return NULL;
    }
    mdm_publisher *p = mdm_xcalloc(1, sizeof *p);
    p->db = db;
    p->curl = curl;
    p->o = *o;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    p->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)p ^ 1;
    p->last_fanout_ms = -FANOUT_MIN_INTERVAL;
    return p;
}

void mdm_publisher_free(mdm_publisher *p)
{
    if (!p)
        return;
    curl_easy_cleanup(p->curl);
    mdm_db_close(p->db);
    mdm_buf_free(&p->response);
    free(p);
}

typedef struct outcome {
    const char *state;     /* acknowledged, rejected, skipped, pending (retry), dead */
    long status;           /* HTTP status, 0 = none */
    char *response;        /* owned */
    long delay_ms;         /* next attempt, for pending */
    bool attempted;        /* counts as an attempt */
    bool unreachable;      /* transport failure: defer the subscription's other rows */
    char trace_id[33];     /* the trace the attempt belongs to (its traceparent header) */
    char content_hash[65]; /* of what the receiver was sent or already has; "" = none */
} outcome;

/* A copy of s[0..n) that PostgreSQL, JSON and a terminal accept: valid UTF-8 kept, any
 * other byte (and NUL) replaced by '?', control characters by a space. Receivers answer
 * whatever they like. */
static char *clean_text(const char *s, size_t n)
{
    char *out = mdm_xmalloc(n + 1);
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = u[i] < 0x80         ? 1
                     : (u[i] >> 5) == 6  ? 2
                     : (u[i] >> 4) == 14 ? 3
                     : (u[i] >> 3) == 30 ? 4
                                         : 0;
        bool ok = len > 0 && i + len <= n && u[i] != 0;
        for (size_t k = 1; ok && k < len; k++)
            ok = (u[i + k] & 0xC0) == 0x80;
        if (ok && len == 2 && u[i] < 0xC2)
            ok = false; /* overlong */
        if (ok && len == 3 &&
            ((u[i] == 0xE0 && u[i + 1] < 0xA0) || (u[i] == 0xED && u[i + 1] >= 0xA0)))
            ok = false; /* overlong, surrogate */
        if (ok && len == 4 &&
            ((u[i] == 0xF0 && u[i + 1] < 0x90) || u[i] > 0xF4 ||
             (u[i] == 0xF4 && u[i + 1] >= 0x90)))
            ok = false;
        if (!ok) {
            out[o++] = '?';
            i++;
            continue;
        }
        if (len == 1 && (u[i] < 0x20 || u[i] == 0x7f)) {
            out[o++] = ' '; /* control characters (escape sequences) never reach a terminal */
            i++;
            continue;
        }
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
    return out;
}

/* Sends one message; fills the outcome (not the final state for retries). */
static void send_one(mdm_publisher *p, const PGresult *res, int r, const char *body, outcome *out)
{
    const char *secret = mdm_db_get(res, r, "secret", "");
    long long ts = (long long)time(NULL);
    char sig[68];
    mdm_publish_sign(secret, ts, body, strlen(body), sig);
    /* Standard Webhooks: the event id, the time, and one signature per valid secret (two
     * while a rotated secret's window lasts) */
    const char *event_id = mdm_db_get(res, r, "event_id", "");
    const char *previous = mdm_db_get(res, r, "previous_secret", NULL);
    char std_sig[48], std_prev[48] = "";
    mdm_publish_sign_standard(secret, event_id, ts, body, strlen(body), std_sig);
    if (previous && *previous)
        mdm_publish_sign_standard(previous, event_id, ts, body, strlen(body), std_prev);
    /* the attempt is a span of the trace of the request that caused the event, or starts
     * a trace when no request did (mdm/trace.h) */
    mdm_trace cause, span;
    if (mdm_trace_parse(mdm_db_get(res, r, "traceparent", NULL), &cause))
        mdm_trace_child(&cause, &span);
    else
        mdm_trace_start(&span);
    char traceparent[MDM_TRACEPARENT_LEN + 1];
    mdm_trace_format(&span, traceparent);
    snprintf(out->trace_id, sizeof out->trace_id, "%s", span.trace_id);
    char *own[] = {
        mdm_xasprintf("traceparent: %s", traceparent),
        mdm_xasprintf("Idempotency-Key: %s", event_id),
        mdm_xasprintf("X-MDM-Event: %s", mdm_db_get(res, r, "type", "")),
        mdm_xasprintf("X-MDM-Seq: %s", mdm_db_get(res, r, "seq", "")),
        mdm_xasprintf("X-MDM-Delivery: %s", mdm_db_get(res, r, "id", "")),
        mdm_xasprintf("X-MDM-Attempt: %lld", mdm_db_get_ll(res, r, "attempts", 0) + 1),
        mdm_xasprintf("X-MDM-Timestamp: %lld", ts),
        mdm_xasprintf("X-MDM-Signature: %s", sig),
        mdm_xasprintf("webhook-id: %s", event_id),
        mdm_xasprintf("webhook-timestamp: %lld", ts),
        mdm_xasprintf("webhook-signature: %s%s%s", std_sig, *std_prev ? " " : "", std_prev),
    };
    const char *fixed[] = {"Content-Type: application/json",
                           "Expect:", "User-Agent: mdm-publish/1"};
    struct curl_slist *hdr = NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        hdr = curl_slist_append(hdr, fixed[i]);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) { /* curl keeps its own copies */
        hdr = curl_slist_append(hdr, own[i]);
        free(own[i]);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = p->curl;
    mdm_buf_reset(&p->response);
    p->retry_after_ms = 0;
    const char *url = mdm_db_get(res, r, "url", "");
    /* SSRF guard (mdm/egress.h): resolved once here, checked, and the connection pinned
     * to the checked address */
    char pin[400], why[256];
    if (!mdm_egress_pin(&p->o.egress, url, pin, sizeof pin, why, sizeof why)) {
        curl_slist_free_all(hdr);
        out->attempted = true;
        atomic_fetch_add(&n_attempts, 1);
        out->state = "pending";
        out->status = 0;
        out->response = mdm_xasprintf("refused: %s", why);
        out->unreachable = true;
        return;
    }
    struct curl_slist *resolve = NULL;
    if (pin[0]) {
        /* drop what an earlier delivery pinned for this host:port, then pin this one */
        char *drop = mdm_xasprintf("-%.*s", (int)(strrchr(pin, ':') - pin), pin);
        if (pin[strlen(pin) - 1] == ']') /* IPv6: the address holds colons */
            drop[strcspn(drop, "[") - 1] = '\0';
        resolve = curl_slist_append(resolve, drop);
        resolve = curl_slist_append(resolve, pin);
        free(drop);
    }
    p->refused[0] = '\0';
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, p);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)p->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_RESOLVE, NULL);
    curl_slist_free_all(resolve);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdr);
    out->attempted = true;
    atomic_fetch_add(&n_attempts, 1);
    if (rc != CURLE_OK) {
        out->state = "pending";
        out->status = 0;
        out->response = p->refused[0] ? mdm_xasprintf("refused: %s", p->refused)
                                      : mdm_xasprintf("transport error: %s",
                                                      errbuf[0] ? errbuf : curl_easy_strerror(rc));
        out->unreachable = true;
        return;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    out->status = code;
    out->response = clean_text(p->response.data ? p->response.data : "", p->response.len);
    if (code >= 200 && code < 300)
        out->state = "acknowledged";
    else if (code == 422)
        out->state = "rejected";
    else
        out->state = "pending";
}

/* The claimed row r as the message builder reads it. */
static void event_of(const PGresult *res, int r, mdm_publish_event *ev)
{
    *ev = (mdm_publish_event){
        .delivery_id = mdm_db_get(res, r, "id", NULL),
        .event_id = mdm_db_get(res, r, "event_id", NULL),
        .type = mdm_db_get(res, r, "type", NULL),
        .occurred_at = mdm_db_get(res, r, "occurred_at", NULL),
        .source = mdm_db_get(res, r, "source", NULL),
        .seq = mdm_db_get_ll(res, r, "seq", 0),
        .entity_id = mdm_db_get_ll(res, r, "entity_id", 0),
        .household_id = mdm_db_get_ll(res, r, "household_id", 0),
        .version = (int)mdm_db_get_ll(res, r, "entity_version", 0),
        .payload = mdm_db_get(res, r, "payload", NULL),
        .source_keys = mdm_db_get(res, r, "source_keys", NULL),
        .member_keys = mdm_db_get(res, r, "member_keys", NULL),
        .held = mdm_db_get(res, r, "held", NULL),
        .mapping = mdm_db_get(res, r, "mapping", NULL),
        .sent_hash = mdm_db_get(res, r, "sent_hash", NULL),
        .replayed = strcmp(mdm_db_get(res, r, "replayed", "f"), "t") == 0,
    };
}

/* One outcome row for mdm_publish_record. */
static void outcome_add(json_t *rows, const char *id, int attempts, const outcome *o)
{
    char *resp = clean_text(o->response ? o->response : "", strlen(o->response ? o->response : ""));
    json_t *row = json_pack("{s:I, s:s, s:i, s:I, s:o, s:s, s:b, s:o}", "id",
                            (json_int_t)strtoll(id, NULL, 10), "state", o->state, "attempts",
                            attempts, "delay_ms", (json_int_t)o->delay_ms, "status",
                            o->status ? json_integer(o->status) : json_null(), "response", resp,
                            "attempted", o->attempted, "content_hash",
                            o->content_hash[0] ? json_string(o->content_hash) : json_null());
    free(resp);
    if (row)
        json_array_append_new(rows, row);
}

typedef struct step_ctx {
    mdm_publisher *p;
    int processed;
} step_ctx;

static mdm_status step_tx(mdm_db *db, void *arg, mdm_err *err)
{
    step_ctx *c = arg;
    mdm_publisher *p = c->p;
    c->processed = 0;
    PGresult *res = NULL;
    mdm_status st = mdm_publish_claim(db, p->o.batch, &res, err);
    if (st != MDM_OK || !res)
        return st;
    /* subscriptions found unreachable in this round, with the delay chosen */
    long long down_sub[64];
    long down_delay[64];
    int ndown = 0;
    json_t *rows = json_array();
    for (int r = 0; r < PQntuples(res) && st == MDM_OK; r++) {
        /* shutting down: the rows not sent stay pending, untouched, for the next worker */
        if (p->stop && atomic_load(p->stop))
            break;
        const char *id = mdm_db_get(res, r, "id", "0");
        long long sub = mdm_db_get_ll(res, r, "sub_id", 0);
        int attempts = (int)mdm_db_get_ll(res, r, "attempts", 0);
        int max_attempts = (int)mdm_db_get_ll(res, r, "max_attempts", 8);
        outcome o = {0};
        int d;
        for (d = 0; d < ndown && down_sub[d] != sub; d++)
            ;
        if (d < ndown) {
            o.state = "pending";
            o.delay_ms = down_delay[d];
            o.response = mdm_xstrdup("deferred: the receiver was unreachable in this round");
            outcome_add(rows, id, attempts, &o);
            free(o.response);
            c->processed++;
            continue;
        }
        bool unchanged;
        mdm_publish_event ev;
        event_of(res, r, &ev);
        char *body = mdm_publish_message(&ev, o.content_hash, &unchanged, err);
        if (!body && unchanged) {
            o.state = "skipped";
            o.response = mdm_xstrdup("unchanged for this system: what its mapping sends is "
                                     "what it was last sent");
        } else if (!body && err && err->code != MDM_OK && err->msg[0]) {
            /* unreadable stored data: keep it pending with backoff, never lose it */
            o.state = "pending";
            o.response = mdm_xstrdup(err->msg);
            o.attempted = true;
        } else if (!body) {
            o.state = "skipped";
            o.response = mdm_xstrdup("nothing to send: the receiver owns or holds every "
                                     "attribute, or the event was erased");
        } else {
            send_one(p, res, r, body, &o);
            free(body);
            mdm_log(MDM_LOG_DEBUG,
                    "event=delivery_sent id=%s subscription=%lld seq=%s status=%ld trace_id=%s", id,
                    sub, mdm_db_get(res, r, "seq", "?"), o.status, o.trace_id);
        }
        if (err)
            mdm_err_clear(err);
        int new_attempts = attempts + (o.attempted ? 1 : 0);
        if (strcmp(o.state, "pending") == 0) {
            atomic_fetch_add(&n_failures, 1);
            if (new_attempts >= max_attempts) {
                o.state = "dead";
                atomic_fetch_add(&n_dead, 1);
                mdm_log(MDM_LOG_WARN,
                        "event=delivery_dead id=%s subscription=%lld seq=%s "
                        "attempts=%d status=%ld trace_id=%s",
                        id, sub, mdm_db_get(res, r, "seq", "?"), new_attempts, o.status,
                        o.trace_id[0] ? o.trace_id : "-");
            } else {
                o.delay_ms = mdm_publish_backoff_ms(&p->o, new_attempts, rng_next(p));
                if (p->retry_after_ms > o.delay_ms)
                    o.delay_ms = p->retry_after_ms;
                mdm_log(MDM_LOG_INFO,
                        "event=delivery_retry id=%s subscription=%lld seq=%s "
                        "attempt=%d status=%ld delay_ms=%ld trace_id=%s",
                        id, sub, mdm_db_get(res, r, "seq", "?"), new_attempts, o.status, o.delay_ms,
                        o.trace_id[0] ? o.trace_id : "-");
                if (o.unreachable && ndown < 64) {
                    down_sub[ndown] = sub;
                    down_delay[ndown++] = o.delay_ms;
                }
            }
        } else if (strcmp(o.state, "acknowledged") == 0) {
            atomic_fetch_add(&n_acknowledged, 1);
        } else if (strcmp(o.state, "rejected") == 0) {
            atomic_fetch_add(&n_rejected, 1);
            mdm_log(MDM_LOG_WARN,
                    "event=delivery_rejected id=%s subscription=%lld seq=%s status=%ld "
                    "trace_id=%s",
                    id, sub, mdm_db_get(res, r, "seq", "?"), o.status, o.trace_id);
        } else {
            atomic_fetch_add(&n_skipped, 1);
        }
        outcome_add(rows, id, new_attempts, &o);
        free(o.response);
        c->processed++;
    }
    if (st == MDM_OK)
        st = mdm_publish_record(db, rows, err);
    json_decref(rows);
    PQclear(res);
    return st;
}

mdm_status mdm_publisher_step(mdm_publisher *p, int *processed, mdm_err *err)
{
    if (processed)
        *processed = 0;
    long long t = now_ms();
    if (t - p->last_fanout_ms >= FANOUT_MIN_INTERVAL) {
        p->last_fanout_ms = t;
        int created = 0;
        mdm_status st = mdm_publish_fanout(p->db, FANOUT_LIMIT, &created, err);
        if (st != MDM_OK)
            return st;
    }
    step_ctx c = {p, 0};
    mdm_status st = mdm_db_run_tx(p->db, "publish_deliver", step_tx, &c, err);
    if (st == MDM_OK && processed)
        *processed = c.processed;
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Runners                                                                             */

typedef struct run_shared {
    const char *url;
    const mdm_publish_opts *o;
    bool drain;
    long long deadline; /* monotonic ms, 0 = none */
    atomic_long processed;
    atomic_int failed; /* first error wins */
    mdm_err err;
    pthread_mutex_t mu;
} run_shared;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void run_fail(run_shared *s, const mdm_err *e)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->failed)) {
        s->err = *e;
        atomic_store(&s->failed, 1);
    }
    pthread_mutex_unlock(&s->mu);
}

static void *run_thread(void *arg)
{
    run_shared *s = arg;
    mdm_err err = {0};
    mdm_publisher *p = mdm_publisher_new(s->url, s->o, &err);
    if (!p) {
        run_fail(s, &err);
        return NULL;
    }
    int idle_rounds = 0;
    while (!atomic_load(&s->failed)) {
        int n = 0;
        mdm_status st = mdm_publisher_step(p, &n, &err);
        if (st != MDM_OK) {
            run_fail(s, &err);
            break;
        }
        atomic_fetch_add(&s->processed, n);
        if (n > 0) {
            idle_rounds = 0;
            continue;
        }
        if (!s->drain) {
            /* a second idle round makes sure the last fan-out was not throttled */
            if (++idle_rounds >= 2)
                break;
            sleep_ms(FANOUT_MIN_INTERVAL);
            continue;
        }
        bool done = false;
        if (mdm_publish_all_done(p->db, &done, &err) != MDM_OK) {
            run_fail(s, &err);
            break;
        }
        if (done)
            break;
        if (s->deadline && now_ms() > s->deadline)
            break;
        sleep_ms(p->o.poll_ms < 20 ? p->o.poll_ms : 20);
    }
    mdm_publisher_free(p);
    return NULL;
}

mdm_status mdm_publish_run(const char *url, const mdm_publish_opts *o, int nthreads, bool drain,
                           int timeout_ms, long *processed, mdm_err *err)
{
    if (nthreads < 1)
        nthreads = 1;
    run_shared s = {.url = url, .o = o, .drain = drain};
    s.deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    atomic_init(&s.processed, 0);
    atomic_init(&s.failed, 0);
    pthread_mutex_init(&s.mu, NULL);
    pthread_t *t = mdm_xcalloc((size_t)nthreads, sizeof *t);
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&t[i], NULL, run_thread, &s) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    pthread_mutex_destroy(&s.mu);
    if (processed)
        *processed = atomic_load(&s.processed);
    if (started == 0)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot start delivery threads");
    if (atomic_load(&s.failed)) {
        if (err)
            *err = s.err;
        return s.err.code != MDM_OK ? s.err.code : MDM_EINTERNAL;
    }
    if (drain && s.deadline && now_ms() > s.deadline) {
        mdm_db *db = mdm_db_connect(url, err);
        if (!db)
            return err ? err->code : MDM_EDB;
        bool done = false;
        mdm_status st = mdm_publish_all_done(db, &done, err);
        mdm_db_close(db);
        if (st != MDM_OK)
            return st;
        if (!done)
            return mdm_err_set(err, MDM_ERETRY, "deliveries still pending after %d ms", timeout_ms);
    }
    return MDM_OK;
}

/* Read by workers between deliveries of a round, without the mutex. */
static atomic_bool bg_stop_flag;

/* Background workers of mdm serve. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop;
    pthread_t *threads;
    int n;
    char *url;
    mdm_publish_opts o;
    bool synced;           /* configured subscriptions written to the database */
    const mdm_config *cfg; /* borrowed from mdm_publish_start's caller */
} bg = {PTHREAD_MUTEX_INITIALIZER,
        PTHREAD_COND_INITIALIZER,
        false,
        false,
        NULL,
        0,
        NULL,
        {0},
        false,
        NULL};

/* Syncs the configured subscriptions once, when the start could not reach the database. */
static bool bg_sync(mdm_db *db)
{
    pthread_mutex_lock(&bg.mu);
    bool ok = bg.synced;
    if (!ok) {
        mdm_err err = {0};
        int count = 0;
        ok = mdm_publish_sync_config(db, bg.cfg, &count, &err) == MDM_OK;
        if (ok)
            mdm_log(MDM_LOG_INFO, "event=publish_subscriptions_synced configured=%d", count);
        else
            mdm_log(MDM_LOG_ERROR, "event=publish_sync_failed code=%s msg=\"%s\"",
                    mdm_status_name(err.code), err.msg);
        bg.synced = ok;
    }
    pthread_mutex_unlock(&bg.mu);
    return ok;
}

/* Waits up to ms or until mdm_publish_stop; true when stopping. */
static bool bg_wait(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&bg.mu);
    if (!bg.stop)
        pthread_cond_timedwait(&bg.cv, &bg.mu, &ts);
    bool stop = bg.stop;
    pthread_mutex_unlock(&bg.mu);
    return stop;
}

static bool bg_stopping(void)
{
    pthread_mutex_lock(&bg.mu);
    bool stop = bg.stop;
    pthread_mutex_unlock(&bg.mu);
    return stop;
}

static void *bg_thread(void *arg)
{
    (void)arg;
    mdm_publisher *p = NULL;
    while (!bg_stopping()) {
        mdm_err err = {0};
        if (!p) {
            p = mdm_publisher_new(bg.url, &bg.o, &err);
            if (p)
                p->stop = &bg_stop_flag;
            if (!p) {
                mdm_log(MDM_LOG_WARN, "event=publish_worker_connect_failed msg=\"%s\"", err.msg);
                bg_wait(bg.o.poll_ms * 10L);
                continue;
            }
        }
        if (!bg_sync(p->db)) {
            bg_wait(bg.o.poll_ms * 10L);
            continue;
        }
        int n = 0;
        mdm_status st = mdm_publisher_step(p, &n, &err);
        if (st != MDM_OK) {
            mdm_log(MDM_LOG_WARN, "event=publish_step_failed code=%s msg=\"%s\"",
                    mdm_status_name(st), err.msg);
            if (!mdm_db_ok(p->db)) {
                mdm_publisher_free(p);
                p = NULL;
            }
            bg_wait(bg.o.poll_ms);
        } else if (n == 0) {
            bg_wait(bg.o.poll_ms);
        }
    }
    mdm_publisher_free(p);
    return NULL;
}

mdm_status mdm_publish_start(const mdm_config *cfg, int nthreads, mdm_err *err)
{
    mdm_publish_opts o;
    mdm_status st = mdm_publish_opts_load(cfg, &o, err);
    if (st != MDM_OK)
        return st;
    if (!o.enabled) {
        mdm_log(MDM_LOG_INFO, "event=publish_disabled");
        return MDM_OK;
    }
    st = mdm_publish_validate_config(cfg, err);
    if (st != MDM_OK)
        return st;
    /* Sync the configured subscriptions now when the database answers (a bad one, such as
     * an unknown source, stops the start); otherwise the first worker that connects does. */
    int count = -1;
    mdm_err cerr = {0};
    mdm_db *db = mdm_db_connect(cfg->database_url, &cerr);
    if (db) {
        st = mdm_publish_sync_config(db, cfg, &count, err);
        mdm_db_close(db);
        if (st != MDM_OK)
            return st;
    } else {
        mdm_log(MDM_LOG_WARN, "event=publish_start_without_db msg=\"%s\"", cerr.msg);
    }
    pthread_mutex_lock(&bg.mu);
    if (bg.running) {
        pthread_mutex_unlock(&bg.mu);
        return mdm_err_set(err, MDM_ECONFLICT, "delivery workers already running");
    }
    bg.running = true;
    bg.stop = false;
    atomic_store(&bg_stop_flag, false);
    bg.synced = count >= 0;
    bg.cfg = cfg;
    bg.o = o;
    bg.url = mdm_xstrdup(cfg->database_url);
    bg.n = nthreads > 0 ? nthreads : o.workers;
    bg.threads = mdm_xcalloc((size_t)bg.n, sizeof *bg.threads);
    int started = 0;
    for (int i = 0; i < bg.n; i++)
        if (pthread_create(&bg.threads[started], NULL, bg_thread, NULL) == 0)
            started++;
    bg.n = started;
    pthread_mutex_unlock(&bg.mu);
    mdm_log(MDM_LOG_INFO, "event=publish_started workers=%d subscriptions_configured=%d", started,
            count);
    if (started == 0) {
        mdm_publish_stop();
        return mdm_err_set(err, MDM_EINTERNAL, "cannot start delivery threads");
    }
    return MDM_OK;
}

void mdm_publish_stop(void)
{
    pthread_mutex_lock(&bg.mu);
    if (!bg.running) {
        pthread_mutex_unlock(&bg.mu);
        return;
    }
    bg.stop = true;
    atomic_store(&bg_stop_flag, true);
    pthread_cond_broadcast(&bg.cv);
    pthread_mutex_unlock(&bg.mu);
    for (int i = 0; i < bg.n; i++)
        pthread_join(bg.threads[i], NULL);
    pthread_mutex_lock(&bg.mu);
    free(bg.threads);
    free(bg.url);
    bg.threads = NULL;
    bg.url = NULL;
    bg.n = 0;
    bg.running = false;
    pthread_mutex_unlock(&bg.mu);
    mdm_log(MDM_LOG_INFO, "event=publish_stopped");
}

/* ---------------------------------------------------------------------------------- */
/* Metrics                                                                             */

static const mdm_db_stmt st_metrics = {
    "publish_metrics",
    "SELECT s.id, s.source, "
    "count(d.id) FILTER (WHERE d.state = 'pending') AS pending, "
    "count(d.id) FILTER (WHERE d.state = 'dead') AS dead, "
    "count(d.id) FILTER (WHERE d.state = 'rejected') AS rejected, "
    "coalesce(extract(epoch FROM now() - min(o.created_at) FILTER (WHERE d.state = 'pending')), "
    "0)::double precision AS oldest_pending_age_seconds "
    "FROM subscription s LEFT JOIN delivery d ON d.subscription_id = s.id "
    "AND d.state IN ('pending', 'dead', 'rejected') LEFT JOIN outbox o ON o.seq = d.seq "
    "WHERE s.active GROUP BY s.id, s.source ORDER BY s.id",
    0};
static const mdm_db_stmt st_fanout_lag = {
    "publish_fanout_lag",
    "SELECT greatest((SELECT coalesce(max(seq), 0) FROM outbox) - "
    "(SELECT last_seq FROM publish_cursor), 0) AS lag",
    0};

mdm_status mdm_publish_metrics(mdm_db *db, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_metrics, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *subs = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = json_object();
        mdm_publish_set_int(o, "id", res, r);
        mdm_publish_set_str(o, "source", res, r);
        mdm_publish_set_int(o, "pending", res, r);
        mdm_publish_set_int(o, "dead", res, r);
        mdm_publish_set_int(o, "rejected", res, r);
        json_object_set_new(
            o, "oldest_pending_age_seconds",
            json_real(strtod(mdm_db_get(res, r, "oldest_pending_age_seconds", "0"), NULL)));
        json_array_append_new(subs, o);
    }
    PQclear(res);
    st = mdm_db_exec(db, &st_fanout_lag, NULL, &res, err);
    if (st != MDM_OK) {
        json_decref(subs);
        return st;
    }
    long long lag = mdm_db_get_ll(res, 0, "lag", 0);
    PQclear(res);
    *out = json_pack(
        "{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "subscriptions", subs, "fanout_lag_events",
        (json_int_t)lag, "attempts_total", (json_int_t)atomic_load(&n_attempts), "failures_total",
        (json_int_t)atomic_load(&n_failures), "acknowledged_total",
        (json_int_t)atomic_load(&n_acknowledged), "rejected_total",
        (json_int_t)atomic_load(&n_rejected), "dead_total", (json_int_t)atomic_load(&n_dead),
        "skipped_total", (json_int_t)atomic_load(&n_skipped));
    return MDM_OK;
}

mdm_status mdm_publish_metrics_text(mdm_db *db, mdm_buf *out, mdm_err *err)
{
    json_t *m = NULL;
    mdm_status st = mdm_publish_metrics(db, &m, err);
    if (st != MDM_OK)
        return st;
    static const struct {
        const char *key, *help;
    } counters[] = {
        {"attempts_total", "HTTP delivery attempts made by this process"},
        {"failures_total", "delivery attempts that failed (will be retried or went dead)"},
        {"acknowledged_total", "deliveries acknowledged by receivers"},
        {"rejected_total", "deliveries rejected by receivers (422)"},
        {"dead_total", "deliveries that went dead after max_attempts"},
        {"skipped_total", "deliveries skipped: nothing left to send"},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        mdm_buf_printf(out,
                       "# HELP mdm_publish_%s %s\n# TYPE mdm_publish_%s counter\n"
                       "mdm_publish_%s %lld\n",
                       counters[i].key, counters[i].help, counters[i].key, counters[i].key,
                       (long long)json_integer_value(json_object_get(m, counters[i].key)));
    mdm_buf_printf(out,
                   "# HELP mdm_publish_fanout_lag_events outbox events not yet fanned out\n"
                   "# TYPE mdm_publish_fanout_lag_events gauge\n"
                   "mdm_publish_fanout_lag_events %lld\n",
                   (long long)json_integer_value(json_object_get(m, "fanout_lag_events")));
    static const char *const gauges[] = {"pending", "dead", "rejected"};
    json_t *subs = json_object_get(m, "subscriptions");
    mdm_buf_puts(out, "# HELP mdm_publish_deliveries deliveries by state\n"
                      "# TYPE mdm_publish_deliveries gauge\n");
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        size_t i;
        json_t *s;
        json_array_foreach(subs, i, s) mdm_buf_printf(
            out, "mdm_publish_deliveries{subscription=\"%lld\",source=\"%s\",state=\"%s\"} %lld\n",
            (long long)json_integer_value(json_object_get(s, "id")),
            json_string_value(json_object_get(s, "source")), gauges[g],
            (long long)json_integer_value(json_object_get(s, gauges[g])));
    }
    mdm_buf_puts(out, "# HELP mdm_publish_lag_seconds age of the oldest pending delivery\n"
                      "# TYPE mdm_publish_lag_seconds gauge\n");
    size_t i;
    json_t *s;
    json_array_foreach(subs, i, s)
        mdm_buf_printf(out, "mdm_publish_lag_seconds{subscription=\"%lld\",source=\"%s\"} %.3f\n",
                       (long long)json_integer_value(json_object_get(s, "id")),
                       json_string_value(json_object_get(s, "source")),
                       json_real_value(json_object_get(s, "oldest_pending_age_seconds")));
    json_decref(m);
    return MDM_OK;
}
