/* API keys: creation, listing, revocation, verification with a small cache, and token
 * buckets. The cache and the buckets are arrays searched linearly under one mutex: a
 * deployment has tens of keys, not thousands.
 *
 * Unknown prefixes (issue 17 item 10): a prefix the database does not know is
 * remembered for NEG_SECONDS in a fixed table of NEG_SLOTS (a slot chosen by a keyed
 * hash, a newer prefix overwrites an older one), so guessing costs no database query
 * per request, and an unknown prefix goes through the same SHA-256 and constant-time
 * comparison as a known one with a wrong secret: the answer time does not tell whether
 * a prefix exists. */
#include "api/auth.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/apikey.h"
#include "mdm/audit.h"
#include "mdm/source.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PREFIX_HEX  12
#define SECRET_HEX  64
#define SALT_LEN    16
#define HASH_LEN    32
#define NEG_SLOTS   4096 /* a power of two */
#define NEG_SECONDS 60.0

static const char *const role_names[] = {"source", "reader", "steward", "compliance", "admin"};

const char *mdm_auth_role_name(mdm_role role)
{
    for (int i = 0; i < 5; i++)
        if ((int)role == 1 << i)
            return role_names[i];
    return NULL;
}

mdm_role mdm_auth_role_parse(const char *name)
{
    for (int i = 0; name && i < 5; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (mdm_role)(1 << i);
    return (mdm_role)0;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes exactly n bytes of lower-case hex; false on anything else. */
static bool from_hex(const char *in, unsigned char *out, size_t n)
{
    if (strlen(in) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(in[2 * i]), lo = hex_val(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* hash = SHA-256(salt || key) */
static bool key_hash(const unsigned char *salt, const char *key, unsigned char *hash)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return false;
    unsigned int len = 0;
    bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, salt, SALT_LEN) == 1 &&
              EVP_DigestUpdate(ctx, key, strlen(key)) == 1 &&
              EVP_DigestFinal_ex(ctx, hash, &len) == 1 && len == HASH_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static mdm_status check_actor(const mdm_audit_actor *who, mdm_err *err)
{
    if (!who || !who->name || !*who->name || !who->role || !*who->role)
        return mdm_err_set_field(err, MDM_EINVAL, "/actor",
                                 "key management needs the acting user and role for the audit log");
    return MDM_OK;
}

mdm_status mdm_auth_key_create(mdm_db *db, mdm_role role, const char *source, double rate,
                               const char *name, const mdm_audit_actor *who, char **key_out,
                               int64_t *id_out, mdm_err *err)
{
    *key_out = NULL;
    mdm_status st = check_actor(who, err);
    if (st != MDM_OK)
        return st;
    const char *rname = mdm_auth_role_name(role);
    if (!rname)
        return mdm_err_set_field(err, MDM_EINVAL, "/role",
                                 "role must be source, reader, steward, compliance or admin");
    if (role == MDM_ROLE_SOURCE && (!source || !*source))
        return mdm_err_set_field(err, MDM_EINVAL, "/source",
                                 "a source key needs --source CODE (the system it belongs to)");
    if (role != MDM_ROLE_SOURCE && source && *source)
        return mdm_err_set_field(err, MDM_EINVAL, "/source",
                                 "--source applies only to role source, not %s", rname);
    if (!(rate > 0) || !isfinite(rate) || rate > 1e6)
        return mdm_err_set_field(err, MDM_EINVAL, "/rate",
                                 "rate must be a number of requests per second above 0");
    if (role == MDM_ROLE_SOURCE) {
        bool found = false;
        st = mdm_source_registered(db, source, &found, err);
        if (st != MDM_OK)
            return st;
        if (!found)
            return mdm_err_set_field(err, MDM_EINVAL, "/source", "unknown source system \"%s\"",
                                     source);
    }
    unsigned char raw[PREFIX_HEX / 2 + SECRET_HEX / 2], salt[SALT_LEN], hash[HASH_LEN];
    if (RAND_bytes(raw, sizeof raw) != 1 || RAND_bytes(salt, sizeof salt) != 1)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot get random bytes for a key");
    char prefix[PREFIX_HEX + 1], secret[SECRET_HEX + 1];
    to_hex(raw, PREFIX_HEX / 2, prefix);
    to_hex(raw + PREFIX_HEX / 2, SECRET_HEX / 2, secret);
    char *key = mdm_xasprintf("mdm_%s_%s", prefix, secret);
    if (!key_hash(salt, key, hash)) {
        free(key);
        return mdm_err_set(err, MDM_EINTERNAL, "cannot compute SHA-256");
    }
    char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
    to_hex(salt, SALT_LEN, salt_hex);
    to_hex(hash, HASH_LEN, hash_hex);
    mdm_apikey_new k = {prefix, salt_hex, hash_hex, rname, role == MDM_ROLE_SOURCE ? source : NULL,
                        name,   rate};
    int64_t id = 0;
    st = mdm_apikey_insert(db, &k, who, &id, err);
    if (st != MDM_OK) {
        free(key);
        return st;
    }
    if (id_out)
        *id_out = id;
    *key_out = key;
    return MDM_OK;
}

mdm_status mdm_auth_key_list(mdm_db *db, json_t **out, mdm_err *err)
{
    return mdm_apikey_list(db, out, err);
}

mdm_status mdm_auth_key_revoke(mdm_db *db, const char *which, const mdm_audit_actor *who,
                               mdm_err *err)
{
    mdm_status st = check_actor(who, err);
    if (st != MDM_OK)
        return st;
    return mdm_apikey_revoke(db, which, who, err);
}

/* In-process cache and buckets */

typedef struct cached_key {
    mdm_auth_key key;
    unsigned char salt[SALT_LEN];
    unsigned char hash[HASH_LEN];
    double fetched_at;
} cached_key;

typedef struct bucket {
    int64_t key_id;
    double tokens;
    double at;
} bucket;

typedef struct neg_entry {
    char prefix[PREFIX_HEX + 1]; /* "" = free */
    double at;
} neg_entry;

struct mdm_auth {
    pthread_mutex_t lock;
    double cache_seconds, burst_seconds;
    cached_key *cache;
    size_t ncache, capcache;
    bucket *buckets;
    size_t nbuckets, capbuckets;
    neg_entry *neg;     /* NEG_SLOTS prefixes the database does not know */
    uint64_t neg_seed;  /* keys the slot hash: a client cannot aim at one slot */
    cached_key unknown; /* random salt and hash compared for an unknown prefix */
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

mdm_auth *mdm_auth_new(double cache_seconds, double burst_seconds)
{
    mdm_auth *a = mdm_xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->lock, NULL);
    a->cache_seconds = cache_seconds;
    a->burst_seconds = burst_seconds > 0 ? burst_seconds : 1;
    a->neg = mdm_xcalloc(NEG_SLOTS, sizeof *a->neg);
    if (RAND_bytes((unsigned char *)&a->neg_seed, sizeof a->neg_seed) != 1)
        a->neg_seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15u;
    if (RAND_bytes(a->unknown.salt, SALT_LEN) != 1 || RAND_bytes(a->unknown.hash, HASH_LEN) != 1)
        memset(a->unknown.hash, 0xa5, HASH_LEN); /* a SHA-256 never equals it in practice */
    return a;
}

void mdm_auth_free(mdm_auth *auth)
{
    if (!auth)
        return;
    pthread_mutex_destroy(&auth->lock);
    free(auth->cache);
    free(auth->buckets);
    free(auth->neg);
    free(auth);
}

/* Splits "mdm_<prefix>_<secret>" and checks its shape; copies the prefix. */
static bool parse_key(const char *key, char *prefix)
{
    if (strncmp(key, "mdm_", 4) != 0 || strlen(key) != 4 + PREFIX_HEX + 1 + SECRET_HEX ||
        key[4 + PREFIX_HEX] != '_')
        return false;
    for (size_t i = 4; key[i]; i++)
        if (i != 4 + PREFIX_HEX && hex_val(key[i]) < 0)
            return false;
    memcpy(prefix, key + 4, PREFIX_HEX);
    prefix[PREFIX_HEX] = '\0';
    return true;
}

static bool cache_get(mdm_auth *a, const char *prefix, double now, cached_key *out)
{
    bool hit = false;
    pthread_mutex_lock(&a->lock);
    /* every entry is compared in constant time: the time does not tell which matched */
    for (size_t i = 0; i < a->ncache; i++) {
        if (CRYPTO_memcmp(a->cache[i].key.prefix, prefix, PREFIX_HEX) == 0 &&
            now - a->cache[i].fetched_at < a->cache_seconds) {
            *out = a->cache[i];
            hit = true;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static size_t neg_slot(const mdm_auth *a, const char *prefix)
{
    uint64_t h = a->neg_seed ^ 0xcbf29ce484222325u; /* FNV-1a, keyed */
    for (size_t i = 0; i < PREFIX_HEX; i++)
        h = (h ^ (unsigned char)prefix[i]) * 0x100000001b3u;
    h ^= h >> 29;
    return (size_t)(h & (NEG_SLOTS - 1));
}

/* True when prefix is known not to exist (looked up less than NEG_SECONDS ago). */
static bool neg_get(mdm_auth *a, const char *prefix, double now)
{
    pthread_mutex_lock(&a->lock);
    const neg_entry *e = &a->neg[neg_slot(a, prefix)];
    bool hit = CRYPTO_memcmp(e->prefix, prefix, PREFIX_HEX) == 0 && now - e->at < NEG_SECONDS;
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static void neg_put(mdm_auth *a, const char *prefix, double now)
{
    pthread_mutex_lock(&a->lock);
    neg_entry *e = &a->neg[neg_slot(a, prefix)];
    memcpy(e->prefix, prefix, PREFIX_HEX + 1);
    e->at = now;
    pthread_mutex_unlock(&a->lock);
}

static void cache_put(mdm_auth *a, const cached_key *ck)
{
    if (a->cache_seconds <= 0)
        return;
    pthread_mutex_lock(&a->lock);
    size_t i = 0;
    while (i < a->ncache && strcmp(a->cache[i].key.prefix, ck->key.prefix) != 0)
        i++;
    if (i == a->ncache) {
        if (a->ncache == a->capcache) {
            a->capcache = a->capcache ? a->capcache * 2 : 16;
            a->cache = mdm_xrealloc(a->cache, a->capcache * sizeof *a->cache);
        }
        a->ncache++;
    }
    a->cache[i] = *ck;
    pthread_mutex_unlock(&a->lock);
}

static mdm_status fetch_key(mdm_db *db, const char *prefix, double now, cached_key *ck,
                            mdm_err *err)
{
    mdm_apikey_row row;
    bool found = false;
    mdm_status st = mdm_apikey_lookup(db, prefix, &row, &found, err);
    if (st != MDM_OK)
        return st;
    if (!found)
        return mdm_err_set(err, MDM_EAUTH, "unknown or revoked API key");
    memset(ck, 0, sizeof *ck);
    ck->key.id = row.id;
    ck->key.role = mdm_auth_role_parse(row.role);
    snprintf(ck->key.prefix, sizeof ck->key.prefix, "%s", prefix);
    snprintf(ck->key.source, sizeof ck->key.source, "%s", row.source);
    snprintf(ck->key.name, sizeof ck->key.name, "%s", row.name);
    ck->key.rate = row.rate;
    bool ok =
        from_hex(row.salt_hex, ck->salt, SALT_LEN) && from_hex(row.hash_hex, ck->hash, HASH_LEN);
    if (!ok || !ck->key.role)
        return mdm_err_set(err, MDM_EINTERNAL, "api_key row %s is malformed", prefix);
    ck->fetched_at = now;
    return MDM_OK;
}

mdm_status mdm_auth_verify(mdm_auth *auth, mdm_db *db, const char *authorization, mdm_auth_key *key,
                           mdm_err *err)
{
    if (!authorization || !*authorization)
        return mdm_err_set(err, MDM_EAUTH, "an API key is required (Authorization: Bearer KEY)");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return mdm_err_set(err, MDM_EAUTH, "the Authorization header must be \"Bearer KEY\"");
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    char prefix[PREFIX_HEX + 1];
    if (!parse_key(token, prefix))
        return mdm_err_set(err, MDM_EAUTH, "malformed API key");
    double now = now_mono();
    cached_key ck;
    if (!cache_get(auth, prefix, now, &ck)) {
        if (neg_get(auth, prefix, now)) {
            ck = auth->unknown; /* the same work as a wrong secret: hash and compare */
        } else {
            if (!db)
                return mdm_err_set(err, MDM_ERETRY, "the database is unreachable");
            mdm_status st = fetch_key(db, prefix, now, &ck, err);
            if (st == MDM_EAUTH) {
                neg_put(auth, prefix, now);
                ck = auth->unknown;
            } else if (st != MDM_OK) {
                return st;
            } else {
                cache_put(auth, &ck);
            }
        }
    }
    unsigned char hash[HASH_LEN];
    if (!key_hash(ck.salt, token, hash))
        return mdm_err_set(err, MDM_EINTERNAL, "cannot compute SHA-256");
    if (CRYPTO_memcmp(hash, ck.hash, HASH_LEN) != 0)
        return mdm_err_set(err, MDM_EAUTH, "unknown or revoked API key");
    *key = ck.key;
    return MDM_OK;
}

bool mdm_auth_rate_take(mdm_auth *auth, const mdm_auth_key *key, double now, mdm_rate_state *st)
{
    double cap = key->rate * auth->burst_seconds;
    if (cap < 1)
        cap = 1;
    bool ok;
    pthread_mutex_lock(&auth->lock);
    size_t i = 0;
    while (i < auth->nbuckets && auth->buckets[i].key_id != key->id)
        i++;
    if (i == auth->nbuckets) {
        if (auth->nbuckets == auth->capbuckets) {
            auth->capbuckets = auth->capbuckets ? auth->capbuckets * 2 : 16;
            auth->buckets = mdm_xrealloc(auth->buckets, auth->capbuckets * sizeof *auth->buckets);
        }
        auth->buckets[i] = (bucket){key->id, cap, now};
        auth->nbuckets++;
    }
    bucket *b = &auth->buckets[i];
    b->tokens += (now - b->at) * key->rate;
    if (b->tokens > cap)
        b->tokens = cap;
    b->at = now;
    st->limit = (int)cap;
    st->retry_after = 0;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        ok = true;
    } else {
        double wait = (1 - b->tokens) / key->rate;
        int secs = (int)ceil(wait);
        st->retry_after = secs < 1 ? 1 : secs;
        ok = false;
    }
    st->remaining = (int)floor(b->tokens);
    pthread_mutex_unlock(&auth->lock);
    return ok;
}
