/* mdm-test-receiver: a webhook receiver for the publishing tests and benchmark
 * (libmicrohttpd). It stands in for a source system that mdm pushes golden updates to.
 *
 * It verifies each request's signature on its own (HMAC-SHA256 over "TIMESTAMP." + body
 * with the shared secret, as documented in README.md; this file does not use mdm's code),
 * tracks Idempotency-Keys (how often each arrived, whether one arrived while the same key
 * was still being handled: a concurrent duplicate), can misbehave on demand, and writes
 * one JSON line per request to --log. On SIGTERM/SIGINT it prints a summary JSON line.
 *
 *   mdm-test-receiver [--port N] [--secret S] [--log FILE] [--fail-first N]
 *                     [--fail-status S] [--always S] [--delay-ms D] [--delay-count N]
 *                     [--answer-hex HEX] [--retry-after SECONDS]
 *
 *   --port N         listen on 127.0.0.1:N (0, the default, picks a free port)
 *   --fail-first N   answer the first N arrivals of every key with --fail-status (500)
 *   --always S       answer every request with status S
 *   --delay-ms D     wait D ms before answering (--delay-count N: only the first N
 *                    requests; default all)
 *   --answer-hex HEX the body of every non-200 answer, as raw bytes (any bytes at all)
 *   --retry-after S  add Retry-After: S to every non-200 answer
 *
 * Prints "ready PORT" on stdout once it accepts connections. A request with a bad or
 * missing signature gets 401. */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY  (1 << 20)
#define KEY_SLOTS (1 << 20)

typedef struct options {
    unsigned port;
    const char *secret, *log;
    int fail_first, fail_status, always, delay_ms;
    long delay_count;
    unsigned char *answer; /* --answer-hex bytes, or NULL */
    size_t answer_len;
    int retry_after;
} options;

typedef struct key_slot {
    char *key;
    int count;
    int inflight;
} key_slot;

static options opt = {0, NULL, NULL, 0, 500, 0, 0, -1, NULL, 0, 0};
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static key_slot *slots;
static FILE *log_file;
static atomic_long delayed;
static long n_requests, n_unique, n_duplicates, n_concurrent, n_bad_sig, n_ok;
static double *lags;
static size_t nlags, caplags;

typedef struct request {
    char *body;
    size_t len;
    int too_big;
} request;

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* Slot of key (created when absent); caller holds mu. NULL when the table is full. */
static key_slot *slot_of(const char *key)
{
    uint64_t h = hash(key);
    for (size_t i = 0; i < KEY_SLOTS; i++) {
        key_slot *s = &slots[(h + i) & (KEY_SLOTS - 1)];
        if (!s->key) {
            s->key = strdup(key);
            return s->key ? s : NULL;
        }
        if (strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

static int verify(const char *ts, const char *sig, const char *body, size_t len)
{
    if (!opt.secret)
        return 1;
    if (!ts || !sig || strncmp(sig, "v1=", 3) != 0 || strlen(sig) != 67)
        return 0;
    long long t = strtoll(ts, NULL, 10);
    if (llabs(t - (long long)time(NULL)) > 300)
        return 0;
    size_t tslen = strlen(ts);
    unsigned char *msg = malloc(tslen + 1 + len);
    if (!msg)
        return 0;
    memcpy(msg, ts, tslen);
    msg[tslen] = '.';
    memcpy(msg + tslen + 1, body, len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), opt.secret, (int)strlen(opt.secret), msg, tslen + 1 + len, md, &mdlen);
    free(msg);
    char hex[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return CRYPTO_memcmp(hex, sig + 3, 64) == 0;
}

/* Milliseconds between an ISO timestamp "YYYY-MM-DDTHH:MM:SS.ffffffZ" and now. */
static double lag_ms(const char *iso)
{
    struct tm tm = {0};
    double frac = 0;
    if (!iso || sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                       &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *dot = strchr(iso, '.');
    if (dot)
        frac = strtod(dot, NULL);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    double t = (double)timegm(&tm) + frac;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ((double)now.tv_sec + now.tv_nsec / 1e9 - t) * 1000.0;
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *text)
{
    size_t len = strlen(text);
    const void *src = text;
    if (status != 200 && opt.answer) {
        src = opt.answer;
        len = opt.answer_len;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return MHD_NO;
    memcpy(copy, src, len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(copy);
        return MHD_NO;
    }
    if (status != 200 && opt.retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", opt.retry_after);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls;
    (void)url;
    (void)version;
    request *rq = *state;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *state = rq;
        return MHD_YES;
    }
    if (*size) {
        if (rq->len + *size > MAX_BODY) {
            rq->too_big = 1;
        } else {
            char *nb = realloc(rq->body, rq->len + *size + 1);
            if (!nb)
                return MHD_NO;
            rq->body = nb;
            memcpy(rq->body + rq->len, data, *size);
            rq->len += *size;
            rq->body[rq->len] = '\0';
        }
        *size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0)
        return reply(c, 405, "{\"error\":\"POST only\"}");
    if (rq->too_big)
        return reply(c, 413, "{\"error\":\"body too large\"}");
    const char *body = rq->body ? rq->body : "";
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-MDM-Timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-MDM-Signature");
    const char *attempt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-MDM-Attempt");
    const char *traceparent = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent");
    int sig_ok = verify(ts, sig, body, rq->len);
    json_t *msg = json_loadb(body, rq->len, 0, NULL);
    double lag = lag_ms(json_string_value(json_object_get(msg, "occurred_at")));

    pthread_mutex_lock(&mu);
    key_slot *s = slot_of(key ? key : "");
    int count = 0, concurrent = 0;
    if (s) {
        count = ++s->count;
        concurrent = s->inflight > 0;
        s->inflight++;
    }
    n_requests++;
    if (count == 1)
        n_unique++;
    else
        n_duplicates++;
    n_concurrent += concurrent;
    n_bad_sig += !sig_ok;
    pthread_mutex_unlock(&mu);

    int status = 200;
    if (!sig_ok)
        status = 401;
    else if (opt.always)
        status = opt.always;
    else if (count <= opt.fail_first)
        status = opt.fail_status;
    if (opt.delay_ms > 0 &&
        (opt.delay_count < 0 || atomic_fetch_add(&delayed, 1) < opt.delay_count))
        usleep((useconds_t)opt.delay_ms * 1000);

    pthread_mutex_lock(&mu);
    if (s)
        s->inflight--;
    if (status == 200) {
        n_ok++;
        if (lag >= 0 && count == 1) {
            if (nlags == caplags) {
                caplags = caplags ? caplags * 2 : 1024;
                double *nl = realloc(lags, caplags * sizeof *lags);
                if (nl)
                    lags = nl;
                else
                    caplags = nlags;
            }
            if (nlags < caplags)
                lags[nlags++] = lag;
        }
    }
    if (log_file) {
        json_t *line = json_pack(
            "{s:I, s:s, s:O?, s:O?, s:O?, s:O?, s:s?, s:s?, s:b, s:i, s:i, s:b, "
            "s:f, s:O?}",
            "t_ms", (json_int_t)wall_ms(), "key", key ? key : "", "seq",
            json_object_get(msg, "seq"), "entity_id", json_object_get(msg, "entity_id"), "type",
            json_object_get(msg, "type"), "entity_version", json_object_get(msg, "entity_version"),
            "attempt", attempt, "traceparent", traceparent, "sig_ok", sig_ok, "status", status, "n",
            count, "concurrent", concurrent, "lag_ms", lag, "body", msg);
        char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
        if (text) {
            fputs(text, log_file);
            fputc('\n', log_file);
            fflush(log_file);
        }
        free(text);
        json_decref(line);
    }
    pthread_mutex_unlock(&mu);
    json_decref(msg);

    char answer[96];
    if (status == 200)
        snprintf(answer, sizeof answer, "{\"ok\":true}");
    else if (status == 401)
        snprintf(answer, sizeof answer, "{\"error\":\"bad signature\"}");
    else
        snprintf(answer, sizeof answer, "{\"error\":\"simulated %d\"}", status);
    return reply(c, status, answer);
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *state;
    if (rq) {
        free(rq->body);
        free(rq);
    }
    *state = NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int arg_int(const char *v, const char *name)
{
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : -1;
    if (!v || *end || n < 0 || n > 1000000) {
        fprintf(stderr, "mdm-test-receiver: %s needs a number\n", name);
        exit(2);
    }
    return (int)n;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--port") == 0)
            opt.port = (unsigned)arg_int(v, a), i++;
        else if (strcmp(a, "--secret") == 0 && v)
            opt.secret = v, i++;
        else if (strcmp(a, "--log") == 0 && v)
            opt.log = v, i++;
        else if (strcmp(a, "--fail-first") == 0)
            opt.fail_first = arg_int(v, a), i++;
        else if (strcmp(a, "--fail-status") == 0)
            opt.fail_status = arg_int(v, a), i++;
        else if (strcmp(a, "--always") == 0)
            opt.always = arg_int(v, a), i++;
        else if (strcmp(a, "--delay-ms") == 0)
            opt.delay_ms = arg_int(v, a), i++;
        else if (strcmp(a, "--delay-count") == 0)
            opt.delay_count = arg_int(v, a), i++;
        else if (strcmp(a, "--retry-after") == 0)
            opt.retry_after = arg_int(v, a), i++;
        else if (strcmp(a, "--answer-hex") == 0 && v && strlen(v) % 2 == 0) {
            opt.answer_len = strlen(v) / 2;
            opt.answer = malloc(opt.answer_len + 1);
            if (!opt.answer)
                return 1;
            for (size_t k = 0; k < opt.answer_len; k++) {
                unsigned byte = 0;
                if (sscanf(v + 2 * k, "%2x", &byte) != 1) {
                    fprintf(stderr, "mdm-test-receiver: --answer-hex needs hex digits\n");
                    return 2;
                }
                opt.answer[k] = (unsigned char)byte;
            }
            i++;
        } else {
            fprintf(stderr, "mdm-test-receiver: unknown argument %s\n", a);
            return 2;
        }
    }
    slots = calloc(KEY_SLOTS, sizeof *slots);
    if (!slots)
        return 1;
    if (opt.log && !(log_file = fopen(opt.log, "a"))) {
        perror(opt.log);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD threads inherit the mask */
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        (uint16_t)opt.port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mdm-test-receiver: cannot listen on port %u\n", opt.port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("ready %u\n", info ? (unsigned)info->port : opt.port);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    double p50 = 0, p99 = 0, max = 0;
    if (nlags) {
        qsort(lags, nlags, sizeof *lags, cmp_double);
        p50 = lags[nlags / 2];
        p99 = lags[(size_t)((double)nlags * 0.99) < nlags ? (size_t)((double)nlags * 0.99)
                                                          : nlags - 1];
        max = lags[nlags - 1];
    }
    printf("{\"requests\":%ld,\"unique\":%ld,\"duplicates\":%ld,\"concurrent_duplicates\":%ld,"
           "\"bad_signatures\":%ld,\"ok\":%ld,\"lag_ms_p50\":%.1f,\"lag_ms_p99\":%.1f,"
           "\"lag_ms_max\":%.1f}\n",
           n_requests, n_unique, n_duplicates, n_concurrent, n_bad_sig, n_ok, p50, p99, max);
    fflush(stdout);
    for (size_t i = 0; i < KEY_SLOTS; i++)
        free(slots[i].key);
    free(slots);
    free(lags);
    free(opt.answer);
    if (log_file)
        fclose(log_file);
    return 0;
}
