/* Consent events, derived state and consent_changed (the audit export is
 * mdm/consent_audit.c).
 *
 * The derivation runs in C over the events of one golden record (a few to a few
 * hundred), loaded with one query; the same function gives the state answered by
 * mdm_consent_state, the state compared by mdm_consent_recompute and the
 * state_before/state_after stored with each new event (the audit trail of what the
 * service believed when the event arrived), which the audit export then reads as
 * stored. */
#include "mdm/consent.h"

#include "common/jsonin.h"
#include "common/log.h"
#include "mdm/consent_int.h"
#include "mdm/outbox.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Vocabulary ------------------------------------------------------------------------ */

#define VOCAB_MAX    64
#define NAME_MAX_LEN 32

typedef struct vocab {
    int npurposes, nchannels;
    char purposes[VOCAB_MAX][NAME_MAX_LEN + 1];
    bool granted_default[VOCAB_MAX];
    char channels[VOCAB_MAX][NAME_MAX_LEN + 1];
} vocab;

static vocab vocabulary = {
    3,
    5,
    {"marketing", "profiling", "third_party"},
    {false, false, false},
    {"email", "sms", "phone", "post", "all"},
};

static const char *const statuses[] = {"granted", "denied", "withdrawn", NULL};

static int purpose_index(const char *p)
{
    for (int i = 0; i < vocabulary.npurposes; i++)
        if (strcmp(vocabulary.purposes[i], p) == 0)
            return i;
    return -1;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN || !islower((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

/* Reads one name list (purposes or channels) of the section into names. */
static mdm_status read_names(const mdm_jin *in, const char *key,
                             char names[VOCAB_MAX][NAME_MAX_LEN + 1], int *count)
{
    const json_t *arr = NULL;
    if (!mdm_jin_array(in, key, 1, VOCAB_MAX, &arr))
        return in->code;
    if (!arr)
        return MDM_OK; /* keep the built-in list */
    int n = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || !valid_name(json_string_value(v)))
            return mdm_jin_fail_item(in, key, i,
                                     "a name of 1 to %d characters a-z, 0-9, _ starting with a "
                                     "letter",
                                     NAME_MAX_LEN);
        for (int j = 0; j < n; j++)
            if (strcmp(names[j], json_string_value(v)) == 0)
                return mdm_jin_fail_item(
                    in, key, i, "a name not listed before (\"%s\" is listed twice)", names[j]);
        snprintf(names[n++], NAME_MAX_LEN + 1, "%s", json_string_value(v));
    }
    *count = n;
    return MDM_OK;
}

mdm_status mdm_consent_configure(const json_t *section, mdm_err *err)
{
    vocab v = {
        3,
        5,
        {"marketing", "profiling", "third_party"},
        {false, false, false},
        {"email", "sms", "phone", "post", "all"},
    };
    static const char *const known[] = {"purposes", "channels", "defaults", NULL};
    static const char *const grants[] = {"granted", "not_granted", NULL};
    mdm_jin in, defaults;
    if (!mdm_jin_open(&in, section, "consent", MDM_EINVAL, err) || !mdm_jin_known(&in, known))
        return MDM_EINVAL;
    mdm_status st = read_names(&in, "purposes", v.purposes, &v.npurposes);
    if (st == MDM_OK)
        st = read_names(&in, "channels", v.channels, &v.nchannels);
    if (st != MDM_OK)
        return st;
    if (!mdm_jin_member(&defaults, &in, "defaults"))
        return MDM_EINVAL;
    for (int i = 0; i < v.npurposes; i++)
        v.granted_default[i] = false;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)defaults.obj, key, val)
    {
        int idx = -1, grant = 1;
        for (int i = 0; i < v.npurposes; i++)
            if (strcmp(v.purposes[i], key) == 0)
                idx = i;
        if (idx < 0)
            return mdm_jin_fail(&defaults, key, "named after one of consent.purposes");
        if (!mdm_jin_choice(&defaults, key, grants, &grant))
            return MDM_EINVAL;
        v.granted_default[idx] = grant == 0;
    }
    vocabulary = v;
    return MDM_OK;
}

json_t *mdm_consent_vocabulary(void)
{
    json_t *p = json_array(), *c = json_array(), *d = json_object();
    for (int i = 0; i < vocabulary.npurposes; i++) {
        json_array_append_new(p, json_string(vocabulary.purposes[i]));
        json_object_set_new(d, vocabulary.purposes[i],
                            json_string(vocabulary.granted_default[i] ? "granted" : "not_granted"));
    }
    for (int i = 0; i < vocabulary.nchannels; i++)
        json_array_append_new(c, json_string(vocabulary.channels[i]));
    return json_pack("{s:o,s:o,s:o}", "purposes", p, "channels", c, "defaults", d);
}

static void list_names(char *out, size_t cap, char names[][NAME_MAX_LEN + 1], int n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", names[i]);
}

/* Time ---------------------------------------------------------------------------------- */

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = (int)(z - era * 146097);
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

void mdm_consent_format_time(int64_t usec, char canon[32])
{
    int64_t secs = usec >= 0 ? usec / 1000000 : -((-usec + 999999) / 1000000);
    int frac = (int)(usec - secs * 1000000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int sod = (int)(secs - days * 86400);
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    char *p = canon;
    p = put_digits(p, (unsigned)y % 10000u, 4);
    *p++ = '-';
    p = put_digits(p, (unsigned)m, 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)d, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)sod / 3600u, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)sod / 60u % 60u, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)sod % 60u, 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)frac, 6);
    *p++ = 'Z';
    *p = '\0';
}

bool mdm_consent_parse_time(const char *s, int64_t *usec, char canon[32])
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s)
        return false;
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t frac = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return false;
    if (y < 1 || mo < 1 || mo > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    int offset_min = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return false;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return false;
            if (*p == '.' || *p == ',') {
                p++;
                int n = 0;
                int64_t scale = 100000;
                int round = 0;
                while (isdigit((unsigned char)*p)) {
                    if (n < 6) {
                        frac += (*p - '0') * scale;
                        scale /= 10;
                    } else if (n == 6) {
                        round = *p >= '5';
                    }
                    n++, p++;
                }
                if (n == 0 || n > 9)
                    return false;
                frac += round;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return false;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (!digits(&p, 2, &oh))
                return false;
            if (*p == ':')
                p++;
            if (isdigit((unsigned char)*p) && !digits(&p, 2, &om))
                return false;
            if (oh > 15 || om > 59)
                return false;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p)
        return false;
    int64_t secs =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    int64_t v = secs * 1000000 + frac;
    /* keep the result within years 0001..9999 after the offset */
    if (v < days_from_civil(1, 1, 1) * 86400 * INT64_C(1000000) ||
        v >= days_from_civil(10000, 1, 1) * 86400 * INT64_C(1000000))
        return false;
    *usec = v;
    if (canon)
        mdm_consent_format_time(v, canon);
    return true;
}

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Events and derivation -------------------------------------------------------------- */

typedef struct cev {
    int64_t id;
    const char *purpose, *channel, *contact_point, *status;
    int64_t captured, expires; /* microseconds; expires valid when has_expiry */
    bool has_expiry;
    const char *captured_txt, *expires_txt, *source, *source_key, *lawful_basis;
} cev;

typedef struct cevs {
    cev *v;
    size_t n, cap;
} cevs;

static cev *cevs_push(cevs *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = mdm_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    cev *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static int status_rank(const char *s)
{
    return !strcmp(s, "withdrawn") ? 2 : !strcmp(s, "denied") ? 1 : 0;
}

/* True when a wins over b: later captured_at, then withdrawn > denied > granted, then id. */
static bool wins(const cev *a, const cev *b)
{
    if (a->captured != b->captured)
        return a->captured > b->captured;
    int ra = status_rank(a->status), rb = status_rank(b->status);
    if (ra != rb)
        return ra > rb;
    return a->id > b->id;
}

static bool counts_for(const cev *e, const char *purpose, const char *channel, const char *cp,
                       int64_t as_of)
{
    if (e->captured > as_of || strcmp(e->purpose, purpose) != 0)
        return false;
    if (strcmp(e->channel, channel) != 0 && strcmp(e->channel, "all") != 0)
        return false;
    if (e->contact_point && (!cp || strcmp(e->contact_point, cp) != 0))
        return false;
    return true;
}

static const cev *winner(const cevs *l, const char *purpose, const char *channel, const char *cp,
                         int64_t as_of)
{
    const cev *best = NULL;
    for (size_t i = 0; i < l->n; i++)
        if (counts_for(&l->v[i], purpose, channel, cp, as_of) && (!best || wins(&l->v[i], best)))
            best = &l->v[i];
    return best;
}

static const char *derived_status(const cev *w, int64_t as_of)
{
    if (!w)
        return "none";
    if (!strcmp(w->status, "granted") && w->has_expiry && w->expires <= as_of)
        return "expired";
    return w->status;
}

static const mdm_db_stmt stmt_entity_events = {
    "consent_entity_events",
    "SELECT e.id, e.purpose, e.channel, e.contact_point, e.status, "
    "(extract(epoch FROM e.captured_at) * 1000000)::bigint AS cap_us, "
    "(extract(epoch FROM e.expires_at) * 1000000)::bigint AS exp_us, "
    "mdm_ts(e.captured_at) AS captured, "
    "mdm_ts(e.expires_at) AS expires, "
    "e.source, e.source_key, e.lawful_basis "
    "FROM membership m JOIN source_record r ON r.id = m.record_id "
    "JOIN consent_event e ON e.source = r.source AND e.source_key = r.source_key "
    "WHERE m.entity_id = $1 AND m.active ORDER BY e.id",
    1};
static const mdm_db_stmt stmt_key_events = {
    "consent_key_events",
    "SELECT e.id, e.purpose, e.channel, e.contact_point, e.status, "
    "(extract(epoch FROM e.captured_at) * 1000000)::bigint AS cap_us, "
    "(extract(epoch FROM e.expires_at) * 1000000)::bigint AS exp_us, "
    "mdm_ts(e.captured_at) AS captured, "
    "mdm_ts(e.expires_at) AS expires, "
    "e.source, e.source_key, e.lawful_basis "
    "FROM consent_event e WHERE e.source = $1 AND e.source_key = $2 ORDER BY e.id",
    2};

/* Appends the rows of res (owned by the caller, who keeps it alive) to l. */
static void load_rows(const PGresult *res, cevs *l)
{
    int n = PQntuples(res);
    int c_id = PQfnumber(res, "id"), c_p = PQfnumber(res, "purpose"),
        c_ch = PQfnumber(res, "channel"), c_cp = PQfnumber(res, "contact_point"),
        c_st = PQfnumber(res, "status"), c_cap = PQfnumber(res, "cap_us"),
        c_exp = PQfnumber(res, "exp_us"), c_capt = PQfnumber(res, "captured"),
        c_expt = PQfnumber(res, "expires"), c_src = PQfnumber(res, "source"),
        c_key = PQfnumber(res, "source_key"), c_lb = PQfnumber(res, "lawful_basis");
    for (int i = 0; i < n; i++) {
        cev *e = cevs_push(l);
        e->id = strtoll(PQgetvalue(res, i, c_id), NULL, 10);
        e->purpose = PQgetvalue(res, i, c_p);
        e->channel = PQgetvalue(res, i, c_ch);
        e->contact_point = PQgetisnull(res, i, c_cp) ? NULL : PQgetvalue(res, i, c_cp);
        e->status = PQgetvalue(res, i, c_st);
        e->captured = strtoll(PQgetvalue(res, i, c_cap), NULL, 10);
        e->has_expiry = !PQgetisnull(res, i, c_exp);
        e->expires = e->has_expiry ? strtoll(PQgetvalue(res, i, c_exp), NULL, 10) : 0;
        e->captured_txt = PQgetvalue(res, i, c_capt);
        e->expires_txt = PQgetisnull(res, i, c_expt) ? NULL : PQgetvalue(res, i, c_expt);
        e->source = PQgetvalue(res, i, c_src);
        e->source_key = PQgetvalue(res, i, c_key);
        e->lawful_basis = PQgetisnull(res, i, c_lb) ? NULL : PQgetvalue(res, i, c_lb);
    }
}

static mdm_status load_entity_events(mdm_db *db, int64_t entity_id, PGresult **res, cevs *l,
                                     mdm_err *err)
{
    char id[MDM_DB_ID_LEN];
    mdm_db_id(id, entity_id);
    const char *params[] = {id};
    mdm_status st = mdm_db_exec(db, &stmt_entity_events, params, res, err);
    if (st == MDM_OK && l)
        load_rows(*res, l);
    return st;
}

/* One state key: purpose, channel and an optional contact point. */
typedef struct ckey {
    int p, c;
    const char *cp;
} ckey;

static int ckey_cmp(const void *a, const void *b)
{
    const ckey *x = a, *y = b;
    if (x->p != y->p)
        return x->p - y->p;
    if (x->c != y->c)
        return x->c - y->c;
    return strcmp(x->cp ? x->cp : "", y->cp ? y->cp : "");
}

/* Every key of the state: the configured purpose x channel grid (without "all"), then
 * one per (purpose, channel, contact point) named by a counted event. The caller frees. */
static ckey *state_keys(const cevs *l, int64_t as_of, size_t *count)
{
    size_t n = 0, cap = (size_t)(vocabulary.npurposes * vocabulary.nchannels) + l->n * 8 + 1;
    ckey *keys = mdm_xcalloc(cap, sizeof *keys);
    for (int p = 0; p < vocabulary.npurposes; p++)
        for (int c = 0; c < vocabulary.nchannels; c++)
            if (strcmp(vocabulary.channels[c], "all") != 0)
                keys[n++] = (ckey){p, c, NULL};
    size_t grid = n;
    for (size_t i = 0; i < l->n; i++) {
        const cev *e = &l->v[i];
        if (!e->contact_point || e->captured > as_of)
            continue;
        int p = purpose_index(e->purpose);
        if (p < 0)
            continue;
        bool all = strcmp(e->channel, "all") == 0;
        for (int c = 0; c < vocabulary.nchannels; c++) {
            if (strcmp(vocabulary.channels[c], "all") == 0 ||
                (!all && strcmp(vocabulary.channels[c], e->channel) != 0))
                continue;
            bool seen = false;
            for (size_t k = grid; k < n && !seen; k++)
                seen = keys[k].p == p && keys[k].c == c && !strcmp(keys[k].cp, e->contact_point);
            if (!seen) {
                if (n == cap) {
                    cap *= 2;
                    keys = mdm_xrealloc(keys, cap * sizeof *keys);
                }
                keys[n++] = (ckey){p, c, e->contact_point};
            }
        }
    }
    qsort(keys, n, sizeof *keys, ckey_cmp);
    *count = n;
    return keys;
}

static char *key_name(const char *purpose, const char *channel, const char *cp)
{
    return cp ? mdm_xasprintf("%s/%s/%s", purpose, channel, cp)
              : mdm_xasprintf("%s/%s", purpose, channel);
}

/* Derives the state of l as of as_of: *list (when not NULL) the full entries, *compact
 * (when not NULL) {"purpose/channel[/cp]": status} for every key whose status is not
 * "none". */
static void derive(const cevs *l, int64_t as_of, json_t **list, json_t **compact)
{
    size_t n;
    ckey *keys = state_keys(l, as_of, &n);
    if (list)
        *list = json_array();
    if (compact)
        *compact = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *p = vocabulary.purposes[keys[i].p], *c = vocabulary.channels[keys[i].c];
        const cev *w = winner(l, p, c, keys[i].cp, as_of);
        const char *status = derived_status(w, as_of);
        bool granted = w ? strcmp(status, "granted") == 0 : vocabulary.granted_default[keys[i].p];
        if (list) {
            json_t *e =
                json_pack("{s:s,s:s,s:s?,s:s,s:b}", "purpose", p, "channel", c, "contact_point",
                          keys[i].cp, "status", status, "granted", granted);
            json_object_set_new(e, "captured_at", w ? json_string(w->captured_txt) : json_null());
            json_object_set_new(e, "expires_at",
                                w && w->expires_txt ? json_string(w->expires_txt) : json_null());
            json_object_set_new(e, "source", w ? json_string(w->source) : json_null());
            json_object_set_new(e, "source_key", w ? json_string(w->source_key) : json_null());
            json_object_set_new(e, "lawful_basis",
                                w && w->lawful_basis ? json_string(w->lawful_basis) : json_null());
            json_object_set_new(e, "event_id", w ? json_integer(w->id) : json_null());
            json_array_append_new(*list, e);
        }
        if (compact && w) {
            char *k = key_name(p, c, keys[i].cp);
            json_object_set_new(*compact, k, json_string(status));
            free(k);
        }
    }
    free(keys);
}

/* Appends s as a JSON string, or null. */
static void put_json_str(mdm_buf *out, const char *s)
{
    if (s)
        mdm_buf_json_str(out, s);
    else
        mdm_buf_puts(out, "null");
}

/* derive()'s list, written as JSON text (the same members in the same order) without
 * building it: the HTTP entity read spent a third of its time building and printing
 * this grid. Vocabulary names, statuses and the timestamps are plain ASCII by
 * construction; every other string goes through put_json_str. */
static void derive_text(const cevs *l, int64_t as_of, mdm_buf *out)
{
    size_t n;
    ckey *keys = state_keys(l, as_of, &n);
    mdm_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        const char *p = vocabulary.purposes[keys[i].p], *c = vocabulary.channels[keys[i].c];
        const cev *w = winner(l, p, c, keys[i].cp, as_of);
        const char *status = derived_status(w, as_of);
        bool granted = w ? strcmp(status, "granted") == 0 : vocabulary.granted_default[keys[i].p];
        mdm_buf_printf(
            out, "%s{\"purpose\":\"%s\",\"channel\":\"%s\",\"contact_point\":", i ? "," : "", p, c);
        put_json_str(out, keys[i].cp);
        mdm_buf_printf(out, ",\"status\":\"%s\",\"granted\":%s,\"captured_at\":", status,
                       granted ? "true" : "false");
        put_json_str(out, w ? w->captured_txt : NULL);
        mdm_buf_puts(out, ",\"expires_at\":");
        put_json_str(out, w ? w->expires_txt : NULL);
        mdm_buf_puts(out, ",\"source\":");
        put_json_str(out, w ? w->source : NULL);
        mdm_buf_puts(out, ",\"source_key\":");
        put_json_str(out, w ? w->source_key : NULL);
        mdm_buf_puts(out, ",\"lawful_basis\":");
        put_json_str(out, w ? w->lawful_basis : NULL);
        if (w)
            mdm_buf_printf(out, ",\"event_id\":%lld}", (long long)w->id);
        else
            mdm_buf_puts(out, ",\"event_id\":null}");
    }
    mdm_buf_putc(out, ']');
    free(keys);
}

/* Entities ------------------------------------------------------------------------------ */

static const mdm_db_stmt stmt_entity = {
    "consent_entity", "SELECT status, survivor_id, version FROM entity WHERE id = $1", 1};

/* Follows survivor pointers from id to the entity that lives on (at most 64 hops).
 * *status receives its status ("active", "retired" without survivor, "erased"). */
static mdm_status live_entity(mdm_db *db, int64_t id, int64_t *live, char status[16], int *version,
                              mdm_err *err)
{
    for (int hop = 0; hop < 64; hop++) {
        char ids[MDM_DB_ID_LEN];
        mdm_db_id(ids, id);
        const char *params[] = {ids};
        PGresult *res = NULL;
        mdm_status st = mdm_db_exec(db, &stmt_entity, params, &res, err);
        if (st != MDM_OK)
            return st;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return mdm_err_set(err, MDM_ENOTFOUND, "no golden record %lld", (long long)id);
        }
        int64_t next = mdm_db_get_ll(res, 0, "survivor_id", 0);
        snprintf(status, 16, "%s", mdm_db_get(res, 0, "status", ""));
        if (version)
            *version = (int)mdm_db_get_ll(res, 0, "version", 1);
        PQclear(res);
        if (!next) {
            *live = id;
            return MDM_OK;
        }
        id = next;
    }
    return mdm_err_set(err, MDM_EINTERNAL, "survivor chain of golden record %lld is too long",
                       (long long)id);
}

/* The state at `at` (canon: `at` formatted) from the events of live in res (kept by
 * the caller). */
static json_t *state_from(const PGresult *res, int64_t live, int64_t at, const char *canon)
{
    cevs l = {0};
    load_rows(res, &l);
    json_t *list;
    derive(&l, at, &list, NULL);
    free(l.v);
    return json_pack("{s:I,s:s,s:o}", "entity_id", (json_int_t)live, "as_of", canon, "consents",
                     list);
}

void mdm_consent_state_call(int64_t entity_id, mdm_db_call *call)
{
    mdm_db_call_id(call, &stmt_entity_events, entity_id);
}

void mdm_consent_state_text(PGresult *res, int64_t entity_id, mdm_buf *out)
{
    int64_t at = now_usec();
    char canon[32];
    mdm_consent_format_time(at, canon);
    cevs l = {0};
    load_rows(res, &l);
    mdm_buf_printf(out, "{\"entity_id\":%lld,\"as_of\":\"%s\",\"consents\":", (long long)entity_id,
                   canon);
    derive_text(&l, at, out);
    mdm_buf_putc(out, '}');
    free(l.v);
    PQclear(res);
}

mdm_status mdm_consent_state(mdm_db *db, int64_t entity_id, const char *as_of, json_t **out,
                             mdm_err *err)
{
    *out = NULL;
    int64_t at = now_usec();
    char canon[32];
    if (as_of && !mdm_consent_parse_time(as_of, &at, canon))
        return mdm_err_set_field(err, MDM_EINVAL, "/as_of",
                                 "as_of must be an ISO 8601 time such as 2026-03-03 or "
                                 "2026-03-03T12:00:00Z");
    mdm_consent_format_time(at, canon);
    int64_t live = 0;
    char status[16];
    mdm_status st = live_entity(db, entity_id, &live, status, NULL, err);
    if (st != MDM_OK)
        return st;
    if (strcmp(status, "erased") == 0)
        return mdm_err_set(err, MDM_ENOTFOUND, "golden record %lld was erased",
                           (long long)entity_id);
    PGresult *res = NULL;
    st = load_entity_events(db, live, &res, NULL, err);
    if (st != MDM_OK)
        return st;
    *out = state_from(res, live, at, canon);
    PQclear(res);
    if (live != entity_id)
        json_object_set_new(*out, "requested_id", json_integer(entity_id));
    return MDM_OK;
}

static const mdm_db_stmt stmt_state_init = {
    "consent_state_init",
    "INSERT INTO consent_state (entity_id, state) VALUES ($1, '{}') ON CONFLICT DO NOTHING", 1};
static const mdm_db_stmt stmt_state_lock = {
    "consent_state_lock",
    "SELECT state::text AS state FROM consent_state WHERE entity_id = $1 "
    "FOR UPDATE",
    1};
static const mdm_db_stmt stmt_state_set = {
    "consent_state_set",
    "UPDATE consent_state SET state = $2::jsonb, updated_at = now() WHERE entity_id = $1", 2};
static const mdm_db_stmt stmt_state_forget = {"consent_state_forget",
                                              "DELETE FROM consent_state WHERE entity_id = $1", 1};
static const mdm_db_stmt stmt_state_staged = {
    "consent_state_staged",
    "INSERT INTO consent_state (entity_id, state) SELECT id, '{}' FROM bulk_entity "
    "ON CONFLICT DO NOTHING",
    0};

mdm_status mdm_consent_state_staged(mdm_db *db, mdm_err *err)
{
    return mdm_db_exec(db, &stmt_state_staged, NULL, NULL, err);
}

/* The entity, its state row made sure of (as stmt_state_init), whether that state is
 * still empty and whether any member has a consent event, in one round trip: most golden
 * records have no consent events and an empty state, which a recompute leaves as it is. */
static const mdm_db_stmt stmt_state_quick = {
    "consent_state_quick",
    "WITH i AS (INSERT INTO consent_state (entity_id, state) SELECT id, '{}' FROM entity "
    "WHERE id = $1 AND status = 'active' ON CONFLICT DO NOTHING RETURNING entity_id) "
    "SELECT e.status, e.version, "
    "EXISTS (SELECT 1 FROM i) OR EXISTS (SELECT 1 FROM consent_state s "
    " WHERE s.entity_id = e.id AND s.state = '{}') AS empty_state, "
    "EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id "
    " JOIN consent_event ce ON ce.source = r.source AND ce.source_key = r.source_key "
    " WHERE m.entity_id = e.id AND m.active) AS has_events "
    "FROM entity e WHERE e.id = $1",
    1};

void mdm_consent_recompute_call(int64_t entity_id, mdm_db_call *call)
{
    mdm_db_call_id(call, &stmt_state_quick, entity_id);
}

mdm_status mdm_consent_recompute(mdm_db *db, int64_t entity_id, mdm_err *err)
{
    mdm_db_call call;
    mdm_consent_recompute_call(entity_id, &call);
    mdm_status st = mdm_db_exec(db, call.stmt, call.params, &call.res, err);
    if (st != MDM_OK)
        return st;
    return mdm_consent_recompute_finish(db, entity_id, call.res, err);
}

mdm_status mdm_consent_recompute_finish(mdm_db *db, int64_t entity_id, PGresult *res, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, entity_id);
    const char *params[] = {ids, NULL};
    mdm_status st = MDM_OK;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no golden record %lld", (long long)entity_id);
    }
    bool active = strcmp(mdm_db_get(res, 0, "status", ""), "active") == 0;
    int version = (int)mdm_db_get_ll(res, 0, "version", 1);
    bool unchanged = !strcmp(mdm_db_get(res, 0, "empty_state", "f"), "t") &&
                     !strcmp(mdm_db_get(res, 0, "has_events", "t"), "f");
    PQclear(res);
    if (!active)
        return mdm_db_exec(db, &stmt_state_forget, params, NULL, err);
    if (unchanged) /* no event, empty state: derive() of nothing is the empty state */
        return MDM_OK;

    if ((st = mdm_db_exec(db, &stmt_state_init, params, NULL, err)) != MDM_OK)
        return st;
    if ((st = mdm_db_exec(db, &stmt_state_lock, params, &res, err)) != MDM_OK)
        return st;
    json_t *previous = json_loads(mdm_db_get(res, 0, "state", "{}"), 0, NULL);
    PQclear(res);
    res = NULL;
    if (!previous)
        previous = json_object();

    cevs l = {0};
    json_t *list = NULL, *compact = NULL;
    st = load_entity_events(db, entity_id, &res, &l, err);
    if (st != MDM_OK)
        goto out_free;
    derive(&l, now_usec(), &list, &compact);
    if (json_equal(previous, compact))
        goto out_free;
    char *text = json_dumps(compact, JSON_COMPACT | JSON_SORT_KEYS);
    params[1] = text;
    st = mdm_db_exec(db, &stmt_state_set, params, NULL, err);
    free(text);
    if (st != MDM_OK)
        goto out_free;
    json_t *payload = json_pack("{s:I,s:O,s:O,s:O}", "entity_id", (json_int_t)entity_id, "consents",
                                list, "state", compact, "previous", previous);
    st = mdm_outbox_emit(db, "consent_changed", entity_id, version, payload, NULL, err);
    json_decref(payload);
    if (st == MDM_OK)
        mdm_log(MDM_LOG_INFO, "event=consent_changed entity=%lld", (long long)entity_id);
out_free:
    json_decref(list);
    json_decref(compact);
    json_decref(previous);
    PQclear(res);
    free(l.v);
    return st;
}

/* Ingest -------------------------------------------------------------------------------- */

/* One validated incoming event; strings are borrowed from the JSON or owned (canonical
 * forms, normalized contact point) in the fields below. */
typedef struct incoming {
    const char *purpose, *channel, *status, *lawful_basis, *evidence;
    char *contact_point;
    char captured[32], expires[32];
    int64_t captured_us, expires_us;
    bool has_expiry;
} incoming;

static const char *const consent_fields[] = {"purpose",     "channel",       "status",
                                             "captured_at", "expires_at",    "lawful_basis",
                                             "evidence",    "contact_point", NULL};

/* Lower-cases an email, drops phone punctuation and surrounding blanks. */
static char *normalize_contact(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    char *out = mdm_xstrndup(s, n);
    if (strchr(out, '@')) {
        for (char *c = out; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    } else {
        char *w = out;
        for (const char *c = out; *c; c++)
            if (!strchr(" -().", *c))
                *w++ = *c;
        *w = '\0';
    }
    return out;
}

/* Optional non-empty string of at most maxlen bytes (*out NULL when not given). */
static bool optional_string(const mdm_jin *c, const char *key, size_t maxlen, const char **out)
{
    *out = NULL;
    if (!mdm_jin_string(c, key, maxlen, out))
        return false;
    if (*out && !**out) {
        mdm_jin_fail(c, key, "a non-empty string of at most %zu bytes", maxlen);
        return false;
    }
    return true;
}

/* The vocabulary word of key (purpose or channel): "consents[0].purpose must be one of:
 * marketing, ... (not \"spam\")", naming the word refused when there was one. */
static mdm_status vocabulary_word(const mdm_jin *c, const char *key, char names[][NAME_MAX_LEN + 1],
                                  int n, const char **out)
{
    const char *s = NULL;
    if (!mdm_jin_string(c, key, 0, &s))
        return c->code;
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0) {
            *out = s;
            return MDM_OK;
        }
    char allowed[VOCAB_MAX * (NAME_MAX_LEN + 2)];
    list_names(allowed, sizeof allowed, names, n);
    if (!s)
        return mdm_jin_fail(c, key, "given, one of: %s", allowed);
    return mdm_jin_fail(c, key, "one of: %s (not \"%.40s\")", allowed, s);
}

static mdm_status validate_one(const json_t *item, size_t i, int64_t now, incoming *in,
                               mdm_err *err)
{
    char name[32];
    snprintf(name, sizeof name, "consents[%zu]", i);
    mdm_jin c;
    if (!mdm_jin_open(&c, item, name, MDM_EUNPROCESSABLE, err) || !c.obj)
        return mdm_jin_fail(&c, NULL, "an object");
    if (!mdm_jin_known(&c, consent_fields))
        return c.code;
    mdm_status st =
        vocabulary_word(&c, "purpose", vocabulary.purposes, vocabulary.npurposes, &in->purpose);
    if (st == MDM_OK)
        st =
            vocabulary_word(&c, "channel", vocabulary.channels, vocabulary.nchannels, &in->channel);
    if (st != MDM_OK)
        return st;
    int status = -1;
    if (!mdm_jin_choice(&c, "status", statuses, &status))
        return c.code;
    if (status < 0)
        return mdm_jin_fail(&c, "status", "given, one of: granted, denied, withdrawn");
    in->status = statuses[status];
    const char *s = json_string_value(json_object_get(c.obj, "captured_at"));
    if (!s || !mdm_consent_parse_time(s, &in->captured_us, in->captured))
        return mdm_jin_fail(&c, "captured_at",
                            "given, an ISO 8601 time such as 2026-03-03T12:00:00Z");
    if (in->captured_us > now + INT64_C(86400000000))
        return mdm_jin_fail(&c, "captured_at", "at most a day in the future");
    in->has_expiry = mdm_jin_has(&c, "expires_at");
    if (in->has_expiry) {
        const json_t *ex = json_object_get(c.obj, "expires_at");
        if (!json_is_string(ex) ||
            !mdm_consent_parse_time(json_string_value(ex), &in->expires_us, in->expires))
            return mdm_jin_fail(&c, "expires_at", "an ISO 8601 time or null");
        if (in->expires_us <= in->captured_us)
            return mdm_jin_fail(&c, "expires_at", "after captured_at");
    }
    const char *cp = NULL;
    if (!optional_string(&c, "lawful_basis", 64, &in->lawful_basis) ||
        !optional_string(&c, "evidence", 4096, &in->evidence) ||
        !optional_string(&c, "contact_point", 320, &cp))
        return c.code;
    if (cp) {
        in->contact_point = normalize_contact(cp);
        if (!in->contact_point[0])
            return mdm_jin_fail(&c, "contact_point", "an e-mail address or a phone number");
    }
    return MDM_OK;
}

mdm_status mdm_consent_validate(const json_t *consents, mdm_err *err)
{
    if (!consents || json_is_null(consents))
        return MDM_OK;
    if (!json_is_array(consents))
        return mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/consents", "consents must be an array");
    int64_t now = now_usec();
    mdm_status st = MDM_OK;
    for (size_t i = 0; i < json_array_size(consents) && st == MDM_OK; i++) {
        incoming in;
        memset(&in, 0, sizeof in);
        st = validate_one(json_array_get(consents, i), i, now, &in, err);
        free(in.contact_point);
    }
    return st;
}

static const mdm_db_stmt stmt_insert = {
    "consent_insert",
    "INSERT INTO consent_event (record_id, source, source_key, purpose, channel, contact_point, "
    "status, captured_at, expires_at, lawful_basis, evidence, state_before, state_after, "
    "event_hash, captured_by, captured_role) VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, "
    "$8::timestamptz, $9::timestamptz, $10, $11, $12, $13, $14, $15, $16) "
    "ON CONFLICT (event_hash) DO NOTHING RETURNING id",
    16};

/* SHA-256 (hex) of the canonical JSON array of the event's identifying content. */
static void event_hash(const char *source, const char *source_key, const incoming *in, char out[65])
{
    json_t *a = json_pack("[s,s,s,s,s?,s,s,s?,s?,s?]", source, source_key, in->purpose, in->channel,
                          in->contact_point, in->status, in->captured,
                          in->has_expiry ? in->expires : NULL, in->lawful_basis, in->evidence);
    char *text = json_dumps(a, JSON_COMPACT);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(text);
    json_decref(a);
}

/* Validates and stores consents for (source, source_key); record_id 0 = no record yet,
 * entity_id 0 = no golden record (the record's own events then make the state). by and
 * role (either may be NULL) name who captured them. */
static mdm_status store_events(mdm_db *db, int64_t record_id, int64_t entity_id, const char *source,
                               const char *source_key, const json_t *consents, const char *by,
                               const char *role, json_t *report, int *stored, int *dups,
                               mdm_err *err)
{
    *stored = *dups = 0;
    if (!consents || json_is_null(consents))
        return MDM_OK;
    if (!json_is_array(consents))
        return mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/consents", "consents must be an array");
    size_t n = json_array_size(consents);
    if (n == 0)
        return MDM_OK;
    int64_t now = now_usec();
    incoming *in = mdm_xcalloc(n, sizeof *in);
    mdm_status st = MDM_OK;
    PGresult *res = NULL;
    cevs l = {0};
    for (size_t i = 0; i < n && st == MDM_OK; i++)
        st = validate_one(json_array_get(consents, i), i, now, &in[i], err);
    if (st != MDM_OK)
        goto out_free;
    if (entity_id) {
        st = load_entity_events(db, entity_id, &res, &l, err);
    } else {
        const char *params[] = {source, source_key};
        st = mdm_db_exec(db, &stmt_key_events, params, &res, err);
        if (st == MDM_OK)
            load_rows(res, &l);
    }
    if (st != MDM_OK)
        goto out_free;
    char rid[MDM_DB_ID_LEN];
    mdm_db_id(rid, record_id);
    for (size_t i = 0; i < n; i++) {
        const incoming *e = &in[i];
        const char *before =
            derived_status(winner(&l, e->purpose, e->channel, e->contact_point, now), now);
        cev *ne = cevs_push(&l);
        *ne = (cev){.id = INT64_MAX / 2 + (int64_t)i,
                    .purpose = e->purpose,
                    .channel = e->channel,
                    .contact_point = e->contact_point,
                    .status = e->status,
                    .captured = e->captured_us,
                    .expires = e->expires_us,
                    .has_expiry = e->has_expiry,
                    .captured_txt = e->captured,
                    .expires_txt = e->has_expiry ? e->expires : NULL,
                    .source = source,
                    .source_key = source_key,
                    .lawful_basis = e->lawful_basis};
        const char *after =
            derived_status(winner(&l, e->purpose, e->channel, e->contact_point, now), now);
        char hash[65];
        event_hash(source, source_key, e, hash);
        const char *params[] = {record_id ? rid : NULL,
                                source,
                                source_key,
                                e->purpose,
                                e->channel,
                                e->contact_point,
                                e->status,
                                e->captured,
                                e->has_expiry ? e->expires : NULL,
                                e->lawful_basis,
                                e->evidence,
                                before,
                                after,
                                hash,
                                by,
                                role};
        PGresult *ins = NULL;
        st = mdm_db_exec(db, &stmt_insert, params, &ins, err);
        if (st != MDM_OK)
            goto out_free;
        json_t *line;
        if (PQntuples(ins) == 0) {
            l.n--; /* already stored: it does not count twice */
            (*dups)++;
            line = json_pack("{s:b}", "duplicate", 1);
        } else {
            ne->id = mdm_db_get_ll(ins, 0, "id", 0);
            (*stored)++;
            line = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)ne->id, "state_before", before,
                             "state_after", after);
        }
        PQclear(ins);
        if (report)
            json_array_append_new(report, line);
        else
            json_decref(line);
    }
out_free:
    for (size_t i = 0; i < n; i++)
        free(in[i].contact_point);
    free(in);
    free(l.v);
    PQclear(res);
    return st;
}

/* The record's golden record, and who sent the version of the record that carries the
 * events (its latest received version; the history names the API key or command). */
static const mdm_db_stmt stmt_membership = {
    "consent_membership",
    "SELECT (SELECT entity_id FROM membership WHERE record_id = $1 AND active) AS entity_id, "
    "h.actor, h.actor_role FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT actor, actor_role "
    "FROM source_record_history WHERE record_id = $1 AND change IN ('insert', 'update') "
    "ORDER BY id DESC LIMIT 1) h ON true",
    1};

mdm_status mdm_consent_ingest(mdm_db *db, int64_t record_id, const char *source,
                              const char *source_key, const json_t *consents, mdm_err *err)
{
    if (!consents || json_is_null(consents))
        return MDM_OK;
    char rid[MDM_DB_ID_LEN];
    mdm_db_id(rid, record_id);
    const char *params[] = {rid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_membership, params, &res, err);
    if (st != MDM_OK)
        return st;
    int64_t entity_id = mdm_db_get_ll(res, 0, "entity_id", 0);
    int c_by = PQfnumber(res, "actor"), c_role = PQfnumber(res, "actor_role");
    const char *by = PQgetisnull(res, 0, c_by) ? NULL : PQgetvalue(res, 0, c_by);
    const char *role = PQgetisnull(res, 0, c_role) ? NULL : PQgetvalue(res, 0, c_role);
    int stored, dups;
    st = store_events(db, record_id, entity_id, source, source_key, consents, by, role, NULL,
                      &stored, &dups, err);
    PQclear(res);
    if (st == MDM_OK && entity_id && stored)
        st = mdm_consent_recompute(db, entity_id, err);
    return st;
}

static const mdm_db_stmt stmt_source_exists = {"consent_source_exists",
                                               "SELECT 1 FROM source_system WHERE code = $1", 1};
static const mdm_db_stmt stmt_record_by_key = {
    "consent_record_by_key",
    "SELECT r.id, r.erased, m.entity_id FROM source_record r "
    "LEFT JOIN membership m ON m.record_id = r.id AND m.active "
    "WHERE r.source = $1 AND r.source_key = $2",
    2};

mdm_status mdm_consent_record(mdm_db *db, const char *source, const char *source_key,
                              const json_t *consents, const mdm_audit_actor *who, json_t **result,
                              mdm_err *err)
{
    if (result)
        *result = NULL;
    if (!source || !*source)
        return mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/source", "source is required");
    if (!source_key || !*source_key)
        return mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/source_key", "source_key is required");
    if (!consents || !json_is_array(consents) || json_array_size(consents) == 0)
        return mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/consents",
                                 "consents must be a non-empty array of consent events");
    const char *params[] = {source, source_key};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_source_exists, params, &res, err);
    if (st != MDM_OK)
        return st;
    bool known = PQntuples(res) > 0;
    PQclear(res);
    if (!known)
        return mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/source", "unknown source \"%.40s\"",
                                 source);
    if ((st = mdm_db_exec(db, &stmt_record_by_key, params, &res, err)) != MDM_OK)
        return st;
    int64_t record_id = mdm_db_get_ll(res, 0, "id", 0);
    int64_t entity_id = mdm_db_get_ll(res, 0, "entity_id", 0);
    bool erased = PQntuples(res) > 0 && !strcmp(mdm_db_get(res, 0, "erased", "f"), "t");
    PQclear(res);
    if (erased)
        return mdm_err_set_field(err, MDM_ECONFLICT, "/source_key",
                                 "source key belongs to an erased subject; its consent events "
                                 "are no longer accepted");
    json_t *events = json_array();
    int stored, dups;
    st = store_events(db, record_id, entity_id, source, source_key, consents,
                      who ? who->name : NULL, who ? who->role : NULL, events, &stored, &dups, err);
    if (st == MDM_OK && entity_id && stored)
        st = mdm_consent_recompute(db, entity_id, err);
    if (st == MDM_OK && result) {
        *result =
            json_pack("{s:s,s:s,s:o,s:o,s:i,s:i,s:O}", "source", source, "source_key", source_key,
                      "record_id", record_id ? json_integer(record_id) : json_null(), "entity_id",
                      entity_id ? json_integer(entity_id) : json_null(), "stored", stored,
                      "duplicates", dups, "events", events);
    }
    json_decref(events);
    return st;
}

/* ---- events posted on their own, audited ------------------------------------------ */

typedef struct record_ctx {
    const char *source, *source_key;
    const json_t *consents;
    json_t *result;
    const mdm_audit_actor *who;
} record_ctx;

/* Stores the events and, when any was new, one "consent.record" audit row in the same
 * transaction: the ids of the stored events and of their record and golden record, never
 * the events' contents (contact points and evidence are personal data). */
static mdm_status record_fn(mdm_db *db, void *arg, mdm_err *err)
{
    record_ctx *c = arg;
    json_decref(c->result);
    c->result = NULL;
    mdm_status st =
        mdm_consent_record(db, c->source, c->source_key, c->consents, c->who, &c->result, err);
    if (st != MDM_OK || json_integer_value(json_object_get(c->result, "stored")) == 0)
        return st;
    json_t *ids = json_array(), *ev;
    size_t i;
    json_array_foreach(json_object_get(c->result, "events"), i, ev)
    {
        if (json_is_integer(json_object_get(ev, "id")))
            json_array_append(ids, json_object_get(ev, "id"));
    }
    json_int_t rec = json_integer_value(json_object_get(c->result, "record_id"));
    char target[160];
    if (rec)
        snprintf(target, sizeof target, "source_record:%lld", (long long)rec);
    else
        snprintf(target, sizeof target, "source:%.100s", c->source);
    json_t *after = json_pack("{s:s,s:O,s:O,s:O,s:O,s:o}", "source", c->source, "record_id",
                              json_object_get(c->result, "record_id"), "entity_id",
                              json_object_get(c->result, "entity_id"), "stored",
                              json_object_get(c->result, "stored"), "duplicates",
                              json_object_get(c->result, "duplicates"), "event_ids", ids);
    st = mdm_audit_append(db, c->who->name, c->who->role, "consent.record", target, NULL, NULL,
                          after, err);
    json_decref(after);
    return st;
}

mdm_status mdm_consent_record_audited(mdm_db *db, const char *source, const char *source_key,
                                      const json_t *consents, const mdm_audit_actor *who,
                                      json_t **result, mdm_err *err)
{
    record_ctx c = {source, source_key, consents, NULL, who};
    *result = NULL;
    mdm_status st = mdm_db_run_tx(db, "consent_events", record_fn, &c, err);
    if (st != MDM_OK) {
        json_decref(c.result);
        return st;
    }
    *result = c.result;
    return MDM_OK;
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_consent_erase_records = {
    "subject_erase_consent",
    "UPDATE consent_event c SET contact_point = CASE WHEN c.contact_point IS NULL THEN NULL "
    "ELSE '[erased]' END, evidence = CASE WHEN c.evidence IS NULL THEN NULL ELSE '[erased]' END "
    "FROM source_record r WHERE r.id = ANY($1::bigint[]) AND c.source = r.source "
    "AND c.source_key = r.source_key",
    1};

mdm_status mdm_consent_erase_records(mdm_db *db, const char *records, mdm_err *err)
{
    const char *params[] = {records};
    return mdm_db_exec(db, &stmt_consent_erase_records, params, NULL, err);
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_consent_erase_entities = {
    "subject_erase_consent_state", "DELETE FROM consent_state WHERE entity_id = ANY($1::bigint[])",
    1};

mdm_status mdm_consent_erase_entities(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    return mdm_db_exec(db, &stmt_consent_erase_entities, params, NULL, err);
}
