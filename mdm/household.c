/* Households derived from golden records, following the outbox (see household.h).
 *
 * One refresh window runs in one transaction: the entity events of the window name the
 * golden records that changed; their current address and evidence are read (one
 * statement), with the households they belong to; every golden record at an address
 * involved (now or before) is read as well, until the set of addresses stops growing.
 * The groups are rebuilt in C (union-find over shared evidence inside each address),
 * matched to the old households by overlap (stable ids), and only the differences are
 * written, with one outbox event per household that changed. */
#include "mdm/household.h"

#include "common/jsonin.h"
#include "common/log.h"
#include "common/mem.h"
#include "matching/normalize.h"
#include "mdm/audit.h"
#include "mdm/ingest.h"
#include "mdm/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Seqs per refresh transaction. */
#define WINDOW 5000

/* The household address of a key object {line1, postal, country} (ingest's
 * normalized.keys.addresses[i]); the search computes it from the same three keys. */
#define ADDR_HASH(a)                                                                               \
    "encode(sha256(convert_to(concat_ws(chr(31), " a "->>'line1', " a "->>'postal', " a            \
    "->>'country'), 'UTF8')), 'hex')"

/* Rules --------------------------------------------------------------------------------- */

static struct {
    bool enabled;
    bool last_name, phone, email;
    char role_attribute[65]; /* the golden attribute a source asserts a role in */
} rules = {true, true, true, true, "household_role"};

/* Roles of a member. head and member are derived; a source asserts any of them through
 * the role attribute (attributes.<role_attribute> of the golden record: the most recent
 * member record's value, by survivorship). */
static const char *const role_names[] = {"head",   "member",  "spouse",   "partner", "child",
                                         "parent", "sibling", "relative", "lodger"};
#define ROLE_HEAD   0
#define ROLE_MEMBER 1
#define NROLES      (sizeof role_names / sizeof role_names[0])

/* The role named s (case and surrounding blanks aside), or -1. */
static int role_parse(const char *s)
{
    if (!s)
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    for (size_t r = 0; r < NROLES; r++)
        if (strlen(role_names[r]) == n && strncasecmp(s, role_names[r], n) == 0)
            return (int)r;
    return -1;
}

mdm_status mdm_household_configure(const json_t *section, mdm_err *err)
{
    rules.enabled = true;
    rules.last_name = rules.phone = rules.email = true;
    snprintf(rules.role_attribute, sizeof rules.role_attribute, "household_role");
    static const char *const known[] = {"enabled", "evidence", "role_attribute", NULL};
    static const char *const kinds[] = {"last_name", "phone", "email", NULL};
    mdm_jin in;
    bool enabled = true;
    const json_t *ev = NULL;
    const char *ras = NULL;
    if (!mdm_jin_open(&in, section, "households", MDM_EINVAL, err) || !mdm_jin_known(&in, known) ||
        !mdm_jin_bool(&in, "enabled", &enabled) || !mdm_jin_array(&in, "evidence", 1, 3, &ev) ||
        !mdm_jin_string(&in, "role_attribute", sizeof rules.role_attribute - 1, &ras))
        return MDM_EINVAL;
    if (ras) {
        bool ok = *ras;
        for (const char *c = ras; ok && *c; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
        if (!ok)
            return mdm_jin_fail(&in, "role_attribute",
                                "an attribute name: 1 to 64 of a-z, 0-9 and _");
    }
    bool l = !ev, p = !ev, e = !ev;
    size_t i;
    const json_t *k;
    json_array_foreach(ev, i, k)
    {
        const char *s = json_string_value(k);
        if (s && !strcmp(s, kinds[0]))
            l = true;
        else if (s && !strcmp(s, kinds[1]))
            p = true;
        else if (s && !strcmp(s, kinds[2]))
            e = true;
        else
            return mdm_jin_fail_item(&in, "evidence", i, "one of: last_name, phone, email");
    }
    if (ras)
        snprintf(rules.role_attribute, sizeof rules.role_attribute, "%s", ras);
    rules.enabled = enabled;
    rules.last_name = l;
    rules.phone = p;
    rules.email = e;
    return MDM_OK;
}

/* Statements ------------------------------------------------------------------------------ */

static const mdm_db_stmt st_cursor_get = {"household_cursor_get",
                                          "SELECT last_seq FROM household_cursor WHERE id = 1", 0};
static const mdm_db_stmt st_cursor_lock = {
    "household_cursor_lock", "SELECT last_seq FROM household_cursor WHERE id = 1 FOR UPDATE", 0};
static const mdm_db_stmt st_cursor_set = {
    "household_cursor_set",
    "UPDATE household_cursor SET last_seq = $1, updated_at = now() WHERE id = 1", 1};

/* The golden records an event window names: the entity of every entity event, and the
 * retired side of a merge (its own row gets no event). */
static const mdm_db_stmt st_touched = {
    "household_touched",
    "SELECT DISTINCT id FROM (SELECT entity_id AS id FROM outbox WHERE seq > $1 AND seq <= $2 "
    "AND entity_id IS NOT NULL AND type <> 'consent_changed' "
    "UNION ALL SELECT (payload->>'retired')::bigint FROM outbox WHERE seq > $1 AND seq <= $2 "
    "AND type = 'merged' AND jsonb_typeof(payload->'retired') = 'number') t "
    "WHERE id IS NOT NULL ORDER BY id",
    2};

/* Address and evidence of golden records, and the household a steward placed each in
 * (household_assertion; only while that household is active). The address is that of the record
 * giving the golden address (lineage), else of the member record changed last, among those with a
 * street line; evidence is every surname key (and its Soundex, "l:~", so that a typo in
 * one source still counts), phone and e-mail key of the members, prefixed l: p: e: and
 * joined by chr(31). */
static const mdm_db_stmt st_profile = {
    "household_profile",
    "SELECT e.id, e.status = 'active' AS active, e.golden->>'birth_date' AS birth_date, "
    "e.golden->'attributes'->>$2::text AS asserted_role, "
    "CASE WHEN e.status = 'active' THEN (SELECT " ADDR_HASH(
        "x.a") " FROM membership m "
               " JOIN source_record r ON r.id = m.record_id "
               " CROSS JOIN LATERAL (SELECT r.normalized->'keys'->'addresses'->0 AS a) x "
               " WHERE m.entity_id = e.id AND m.active AND NOT r.deleted "
               " AND coalesce(x.a->>'line1', '') <> '' "
               " ORDER BY r.id IS NOT DISTINCT FROM (SELECT g.source_record_id FROM golden_value g "
               " WHERE g.entity_id = e.id AND g.attr = 'addresses') DESC, "
               " COALESCE(r.source_updated_at, r.received_at) DESC, r.id DESC LIMIT 1) END AS "
               "addr, "
               "(SELECT string_agg(DISTINCT v, chr(31)) FROM membership m "
               " JOIN source_record r ON r.id = m.record_id CROSS JOIN LATERAL ("
               " SELECT 'l:' || (r.normalized->'keys'->>'last') AS v "
               " WHERE coalesce(r.normalized->'keys'->>'last', '') <> '' "
               " UNION ALL SELECT 'l:~' || (r.normalized->'keys'->>'last_sx') "
               " WHERE coalesce(r.normalized->'keys'->>'last_sx', '') <> '' "
               " UNION ALL SELECT 'p:' || p FROM jsonb_array_elements_text("
               " CASE WHEN jsonb_typeof(r.normalized->'keys'->'phones') = 'array' "
               " THEN r.normalized->'keys'->'phones' ELSE '[]' END) p "
               " UNION ALL SELECT 'e:' || m2 FROM jsonb_array_elements_text("
               " CASE WHEN jsonb_typeof(r.normalized->'keys'->'emails') = 'array' "
               " THEN r.normalized->'keys'->'emails' ELSE '[]' END) m2) ev "
               " WHERE m.entity_id = e.id AND m.active AND NOT r.deleted) AS evidence, "
               "pa.household_id AS pin_hh, ph.addr_hash AS pin_addr "
               "FROM entity e LEFT JOIN (household_assertion pa JOIN household ph "
               "ON ph.id = pa.household_id AND ph.status = 'active') ON pa.entity_id = e.id "
               "WHERE e.id = ANY($1::bigint[])",
    2};

static const mdm_db_stmt st_member_of = {
    "household_member_of",
    "SELECT hm.entity_id, hm.household_id, hm.role, h.addr_hash FROM household_member hm "
    "JOIN household h ON h.id = hm.household_id WHERE hm.entity_id = ANY($1::bigint[])",
    1};
static const mdm_db_stmt st_members_at = {
    "household_members_at",
    "SELECT hm.entity_id, hm.household_id, hm.role, h.addr_hash FROM household h "
    "JOIN household_member hm ON hm.household_id = h.id "
    "WHERE h.status = 'active' AND h.addr_hash = ANY($1::text[])",
    1};
static const mdm_db_stmt st_new_ids = {
    "household_new_ids",
    "SELECT nextval(pg_get_serial_sequence('household', 'id')) AS id "
    "FROM generate_series(1, $1::int)",
    1};
static const mdm_db_stmt st_create = {
    "household_create",
    "INSERT INTO household (id, addr_hash) SELECT * FROM unnest($1::bigint[], $2::text[])", 2};
static const mdm_db_stmt st_member_set = {
    "household_member_set",
    "INSERT INTO household_member AS hm (entity_id, household_id, role) "
    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) "
    "ON CONFLICT (entity_id) DO UPDATE SET household_id = EXCLUDED.household_id, "
    "role = EXCLUDED.role, joined_at = CASE WHEN hm.household_id = EXCLUDED.household_id "
    "THEN hm.joined_at ELSE now() END "
    "WHERE (hm.household_id, hm.role) IS DISTINCT FROM (EXCLUDED.household_id, EXCLUDED.role)",
    3};
static const mdm_db_stmt st_member_drop = {
    "household_member_drop", "DELETE FROM household_member WHERE entity_id = ANY($1::bigint[])", 1};
static const mdm_db_stmt st_bump = {
    "household_bump",
    "UPDATE household h SET version = h.version + 1, updated_at = now(), addr_hash = u.addr "
    "FROM unnest($1::bigint[], $2::text[]) AS u(id, addr) WHERE h.id = u.id "
    "RETURNING h.id, h.version",
    2};
static const mdm_db_stmt st_retire = {
    "household_retire",
    "UPDATE household SET status = 'retired', addr_hash = NULL, retired_at = now(), "
    "updated_at = now(), version = version + 1 WHERE id = ANY($1::bigint[]) "
    "RETURNING id, version",
    1};

/* Working set ------------------------------------------------------------------------------ */

typedef struct ent {
    int64_t id;
    bool active, profiled;
    char *addr;  /* hash, NULL without a household address */
    char *birth; /* golden birth date, NULL when none */
    char **ev;   /* evidence tokens of the allowed kinds, sorted */
    size_t nev;
    int64_t old_hh; /* household before this window, 0 none */
    char *old_addr; /* its address hash */
    int old_role;   /* index into role_names */
    int64_t new_hh;
    int new_role;
    int asserted;   /* the role its golden record asserts (role_parse), -1 none */
    int group;      /* index into the groups, -1 none */
    int64_t pin_hh; /* the household a steward placed it in (active only), 0 none */
    char *pin_addr; /* that household's address hash */
} ent;

typedef struct work {
    ent *e;
    size_t n, cap;
    mdm_household_stats *stats;
} work;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entity positions sorted by id, for lookups (built after the set grew). */
typedef struct idx {
    int64_t *id;
    size_t *at;
    size_t n;
} idx;

static const work *idx_ctx;
static int cmp_pos_id(const void *a, const void *b)
{
    int64_t x = idx_ctx->e[*(const size_t *)a].id, y = idx_ctx->e[*(const size_t *)b].id;
    return (x > y) - (x < y);
}

static idx index_build(const work *w)
{
    idx x = {mdm_xmalloc((w->n + 1) * sizeof(int64_t)), mdm_xmalloc((w->n + 1) * sizeof(size_t)),
             w->n};
    for (size_t i = 0; i < w->n; i++)
        x.at[i] = i;
    idx_ctx = w;
    qsort(x.at, w->n, sizeof *x.at, cmp_pos_id);
    idx_ctx = NULL;
    for (size_t i = 0; i < w->n; i++)
        x.id[i] = w->e[x.at[i]].id;
    return x;
}

static ent *index_find(work *w, const idx *x, int64_t id)
{
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x->id[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && x->id[lo] == id ? &w->e[x->at[lo]] : NULL;
}

static void index_free(idx *x)
{
    free(x->id);
    free(x->at);
}

static ent *add_ent(work *w, int64_t id)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->e = mdm_xrealloc(w->e, w->cap * sizeof *w->e);
    }
    ent *e = &w->e[w->n++];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->group = -1;
    e->asserted = -1;
    e->old_role = e->new_role = ROLE_MEMBER;
    return e;
}

static void work_free(work *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->e[i].addr);
        free(w->e[i].old_addr);
        free(w->e[i].pin_addr);
        free(w->e[i].birth);
        for (size_t k = 0; k < w->e[i].nev; k++)
            free(w->e[i].ev[k]);
        free(w->e[i].ev);
    }
    free(w->e);
}

/* A PostgreSQL array literal of hex hashes (no quoting needed). */
static void text_array(mdm_buf *b, char *const *s, size_t n)
{
    mdm_buf_reset(b);
    mdm_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        mdm_buf_printf(b, "%s%s", i ? "," : "", s[i]);
    mdm_buf_putc(b, '}');
}

static bool kind_allowed(const char *tok)
{
    return (tok[0] == 'l' && rules.last_name) || (tok[0] == 'p' && rules.phone) ||
           (tok[0] == 'e' && rules.email);
}

/* Reads the profile of ids[0..n) into their entities (added when missing). */
static mdm_status profile(mdm_db *db, work *w, const int64_t *ids, size_t n, mdm_err *err)
{
    if (n == 0)
        return MDM_OK;
    mdm_buf b = {0};
    mdm_db_id_array(&b, ids, n);
    const char *params[] = {b.data, rules.role_attribute};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_profile, params, &res, err);
    mdm_buf_free(&b);
    if (st != MDM_OK)
        return st;
    idx x = index_build(w);
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t id = mdm_db_get_ll(res, r, "id", 0);
        ent *e = index_find(w, &x, id);
        if (!e)
            e = add_ent(w, id); /* not expected: every id asked for is in the set */
        e->profiled = true;
        e->active = !strcmp(mdm_db_get(res, r, "active", "f"), "t");
        const char *a = mdm_db_get(res, r, "addr", NULL);
        e->addr = a && rules.enabled ? mdm_xstrdup(a) : NULL;
        free(e->pin_addr);
        e->pin_addr = NULL;
        e->pin_hh = 0;
        if (e->active && rules.enabled && mdm_db_get(res, r, "pin_hh", NULL)) {
            e->pin_hh = mdm_db_get_ll(res, r, "pin_hh", 0);
            e->pin_addr = mdm_xstrdup(mdm_db_get(res, r, "pin_addr", ""));
        }
        const char *bd = mdm_db_get(res, r, "birth_date", NULL);
        e->birth = bd && *bd ? mdm_xstrdup(bd) : NULL;
        e->asserted = role_parse(mdm_db_get(res, r, "asserted_role", NULL));
        const char *ev = mdm_db_get(res, r, "evidence", NULL);
        if (ev) {
            size_t cap = 1;
            for (const char *p = ev; *p; p++)
                cap += *p == '\x1f';
            e->ev = mdm_xmalloc(cap * sizeof *e->ev);
            const char *s = ev;
            for (;;) {
                const char *t = strchr(s, '\x1f');
                size_t len = t ? (size_t)(t - s) : strlen(s);
                if (len > 2 && kind_allowed(s))
                    e->ev[e->nev++] = mdm_xstrndup(s, len);
                if (!t)
                    break;
                s = t + 1;
            }
            qsort(e->ev, e->nev, sizeof *e->ev, cmp_str);
        }
    }
    index_free(&x);
    PQclear(res);
    return MDM_OK;
}

/* Notes the current household of each row (entity_id, household_id, role, addr_hash);
 * adds the entities not in the set yet. *added receives how many were added. */
static void note_members(work *w, const PGresult *res, size_t *added)
{
    idx x = index_build(w);
    *added = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t id = mdm_db_get_ll(res, r, "entity_id", 0);
        ent *e = index_find(w, &x, id); /* ids are unique in a result */
        if (!e) {
            e = add_ent(w, id);
            (*added)++;
        }
        e->old_hh = mdm_db_get_ll(res, r, "household_id", 0);
        free(e->old_addr);
        e->old_addr = mdm_xstrdup(mdm_db_get(res, r, "addr_hash", ""));
        int role = role_parse(mdm_db_get(res, r, "role", ""));
        e->old_role = role >= 0 ? role : ROLE_MEMBER;
    }
    index_free(&x);
}

static bool share_evidence(const ent *a, const ent *b)
{
    size_t i = 0, j = 0;
    while (i < a->nev && j < b->nev) {
        int c = strcmp(a->ev[i], b->ev[j]);
        if (c == 0)
            return true;
        if (c < 0)
            i++;
        else
            j++;
    }
    return false;
}

static int uf_find(int *parent, int i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* Sorts entity positions by (address, id). */
static work *sort_ctx;
static int cmp_pos_addr(const void *a, const void *b)
{
    const ent *x = &sort_ctx->e[*(const size_t *)a], *y = &sort_ctx->e[*(const size_t *)b];
    int c = strcmp(x->addr, y->addr);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* How a member ranks as head: one whose record asserts head first, then one asserting no
 * role, then one asserting another role (a spouse, a child). */
static int head_rank(const ent *e)
{
    return e->asserted == ROLE_HEAD ? 0 : e->asserted < 0 ? 1 : 2;
}

/* Who comes first as the head: by head_rank, then the member born first (a birth date
 * before none), then the smallest id. */
static bool before_as_head(const ent *a, const ent *b)
{
    if (head_rank(a) != head_rank(b))
        return head_rank(a) < head_rank(b);
    if (a->birth && b->birth) {
        int c = strcmp(a->birth, b->birth);
        if (c)
            return c < 0;
    } else if (a->birth || b->birth) {
        return a->birth != NULL;
    }
    return a->id < b->id;
}

typedef struct group {
    size_t *pos; /* entity positions */
    size_t n;
    const char *addr;
    int64_t hh; /* assigned household, 0 new */
    bool fresh; /* a household a steward's split just made: created by this derivation */
} group;

typedef struct cand {
    size_t g;
    int64_t hh;
    size_t overlap;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->overlap != y->overlap)
        return x->overlap < y->overlap ? 1 : -1;
    if (x->hh != y->hh)
        return x->hh < y->hh ? -1 : 1;
    return (x->g > y->g) - (x->g < y->g);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static size_t find_i64(const int64_t *a, size_t n, int64_t v)
{
    const int64_t *p = bsearch(&v, a, n, sizeof *a, cmp_i64);
    return p ? (size_t)(p - a) : n;
}

/* Entity positions by old household, for the "left" list of an event. */
static const work *old_ctx;
static int cmp_pos_old(const void *a, const void *b)
{
    const ent *x = &old_ctx->e[*(const size_t *)a], *y = &old_ctx->e[*(const size_t *)b];
    if (x->old_hh != y->old_hh)
        return (x->old_hh > y->old_hh) - (x->old_hh < y->old_hh);
    return (x->id > y->id) - (x->id < y->id);
}

/* The payload {"household_id", "version", "members", "joined", "left"}: g is the
 * household's group (NULL when retired), by_old[0..nold) the positions of the entities
 * that were in it before. */
static json_t *event_payload(const work *w, int64_t hh, int version, const group *g,
                             const size_t *by_old, size_t nold)
{
    json_t *members = json_array(), *joined = json_array(), *left = json_array();
    if (g) {
        for (int pass = 0; pass < 2; pass++) /* head first, then by id */
            for (size_t k = 0; k < g->n; k++) {
                const ent *e = &w->e[g->pos[k]];
                if ((e->new_role == ROLE_HEAD) == (pass == 0))
                    json_array_append_new(members,
                                          json_pack("{s:I, s:s}", "entity_id", (json_int_t)e->id,
                                                    "role", role_names[e->new_role]));
            }
        for (size_t k = 0; k < g->n; k++) {
            const ent *e = &w->e[g->pos[k]];
            if (e->old_hh != hh)
                json_array_append_new(joined, json_integer(e->id));
        }
    }
    for (size_t k = 0; k < nold; k++) {
        const ent *e = &w->e[by_old[k]];
        if (e->new_hh != hh)
            json_array_append_new(left, json_integer(e->id));
    }
    return json_pack("{s:I, s:i, s:o, s:o, s:o}", "household_id", (json_int_t)hh, "version",
                     version, "members", members, "joined", joined, "left", left);
}

/* The old households of a window: sorted ids, for each its group now (NULL: gone) and
 * the positions of its old members (a range of by_old). */
typedef struct olds {
    int64_t *hh;
    size_t n;
    const group **now;
    size_t *by_old, *start; /* start[k]..start[k+1]: members of hh[k] in by_old */
    bool *changed;
} olds;

static void olds_build(const work *w, olds *o)
{
    o->by_old = mdm_xmalloc((w->n + 1) * sizeof *o->by_old);
    size_t m = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->e[i].old_hh)
            o->by_old[m++] = i;
    old_ctx = w;
    qsort(o->by_old, m, sizeof *o->by_old, cmp_pos_old);
    old_ctx = NULL;
    o->hh = mdm_xmalloc((m + 1) * sizeof *o->hh);
    o->start = mdm_xmalloc((m + 2) * sizeof *o->start);
    o->n = 0;
    for (size_t i = 0; i < m; i++) {
        int64_t hh = w->e[o->by_old[i]].old_hh;
        if (o->n == 0 || o->hh[o->n - 1] != hh) {
            o->hh[o->n] = hh;
            o->start[o->n++] = i;
        }
    }
    o->start[o->n] = m;
    o->now = mdm_xcalloc(o->n + 1, sizeof(const group *));
    o->changed = mdm_xcalloc(o->n + 1, sizeof *o->changed);
}

static void olds_free(olds *o)
{
    free(o->hh);
    free(o->by_old);
    free(o->start);
    free(o->now);
    free(o->changed);
}

/* Emits one event of type for every row (id, version) of res. */
static mdm_status emit_rows(mdm_db *db, const work *w, const olds *o, PGresult *res,
                            const char *type, mdm_err *err)
{
    mdm_status st = MDM_OK;
    for (int r = 0; st == MDM_OK && r < PQntuples(res); r++) {
        int64_t hh = mdm_db_get_ll(res, r, "id", 0);
        int version = (int)mdm_db_get_ll(res, r, "version", 0);
        size_t k = find_i64(o->hh, o->n, hh);
        const group *g = k < o->n ? o->now[k] : NULL;
        const size_t *members = k < o->n ? o->by_old + o->start[k] : NULL;
        size_t nm = k < o->n ? o->start[k + 1] - o->start[k] : 0;
        json_t *p = event_payload(w, hh, version, g, members, nm);
        st = mdm_outbox_emit_household(db, type, hh, version, p, NULL, err);
        json_decref(p);
    }
    return st;
}

/* Re-derives the households of the entities in w (all profiled, with their old
 * households noted) and writes the differences with their events. */
static mdm_status rederive(mdm_db *db, work *w, mdm_err *err)
{
    mdm_status st = MDM_OK;
    mdm_buf b1 = {0}, b2 = {0}, b3 = {0};
    PGresult *res = NULL;
    olds o;
    olds_build(w, &o);
    /* positions of active entities with an address, by (address, id); those a steward
     * placed are not derived (they join their household below) */
    size_t *pos = mdm_xmalloc((w->n + 1) * sizeof *pos), np = 0, npin = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->e[i].pin_hh)
            npin++;
        else if (w->e[i].active && w->e[i].addr)
            pos[np++] = i;
    }
    sort_ctx = w;
    qsort(pos, np, sizeof *pos, cmp_pos_addr);
    sort_ctx = NULL;
    int *parent = mdm_xmalloc((np + 1) * sizeof *parent);
    group *groups = mdm_xcalloc(np + npin + 1, sizeof *groups);
    size_t ng = 0;
    /* union-find over shared evidence inside each address */
    for (size_t s = 0; s < np;) {
        size_t t = s;
        while (t < np && !strcmp(w->e[pos[t]].addr, w->e[pos[s]].addr))
            t++;
        for (size_t i = s; i < t; i++)
            parent[i] = (int)i;
        for (size_t i = s; i < t; i++)
            for (size_t j = i + 1; j < t; j++)
                if (share_evidence(&w->e[pos[i]], &w->e[pos[j]])) {
                    int a = uf_find(parent, (int)i), c = uf_find(parent, (int)j);
                    if (a != c)
                        parent[a > c ? a : c] = a < c ? a : c;
                }
        /* a root is the smallest position of its set, so it comes first */
        for (size_t i = s; i < t; i++) {
            int root = uf_find(parent, (int)i);
            ent *e = &w->e[pos[i]];
            if ((size_t)root == i) {
                groups[ng].pos = mdm_xmalloc((t - s) * sizeof(size_t));
                groups[ng].addr = e->addr;
                e->group = (int)ng++;
            } else {
                e->group = w->e[pos[root]].group;
            }
            group *g = &groups[e->group];
            g->pos[g->n++] = pos[i];
        }
        s = t;
    }
    /* stable ids: each group keeps the old household it shares most members with (then
     * the older id), each old household goes to one group at most */
    cand *cands = mdm_xmalloc((np + 1) * sizeof *cands);
    size_t nc = 0;
    for (size_t g = 0; g < ng; g++) {
        size_t first = nc;
        for (size_t k = 0; k < groups[g].n; k++) {
            const ent *e = &w->e[groups[g].pos[k]];
            if (!e->old_hh)
                continue;
            size_t c = first;
            while (c < nc && cands[c].hh != e->old_hh)
                c++;
            if (c == nc)
                cands[nc++] = (cand){g, e->old_hh, 0};
            cands[c].overlap++;
        }
    }
    qsort(cands, nc, sizeof *cands, cmp_cand);
    for (size_t c = 0; c < nc; c++) {
        group *g = &groups[cands[c].g];
        size_t k = find_i64(o.hh, o.n, cands[c].hh);
        if (g->hh || k == o.n || o.now[k])
            continue;
        g->hh = cands[c].hh;
        o.now[k] = g;
    }
    /* a steward's placements: each joins the group that kept its household, or one of
     * its own (the household keeps its address; a household made by a split that has no
     * member yet is created now) */
    for (size_t i = 0; i < w->n; i++) {
        ent *e = &w->e[i];
        if (!e->pin_hh)
            continue;
        size_t g = 0;
        while (g < ng && groups[g].hh != e->pin_hh)
            g++;
        if (g == ng) {
            groups[ng].hh = e->pin_hh;
            groups[ng].addr = e->pin_addr;
            size_t k = find_i64(o.hh, o.n, e->pin_hh);
            if (k < o.n)
                o.now[k] = &groups[ng];
            else
                groups[ng].fresh = true;
            ng++;
        }
        groups[g].pos = mdm_xrealloc(groups[g].pos, (groups[g].n + 1) * sizeof(size_t));
        groups[g].pos[groups[g].n++] = i;
        e->group = (int)g;
    }
    /* new households for the groups left without one */
    size_t nnew = 0;
    for (size_t g = 0; g < ng; g++)
        nnew += groups[g].hh == 0;
    int64_t *new_ids = mdm_xmalloc((nnew + 1) * sizeof *new_ids);
    char **new_addr = mdm_xmalloc((nnew + 1) * sizeof *new_addr);
    const group **new_group = mdm_xmalloc((nnew + 1) * sizeof(const group *));
    if (nnew > 0) {
        char n[24];
        snprintf(n, sizeof n, "%zu", nnew);
        const char *params[] = {n};
        st = mdm_db_exec(db, &st_new_ids, params, &res, err);
        if (st != MDM_OK)
            goto out_free;
        size_t k = 0;
        for (size_t g = 0; g < ng; g++)
            if (!groups[g].hh) {
                groups[g].hh = mdm_db_get_ll(res, (int)k, "id", 0);
                new_ids[k] = groups[g].hh;
                new_group[k] = &groups[g];
                new_addr[k++] = (char *)groups[g].addr;
            }
        PQclear(res);
        res = NULL;
        mdm_db_id_array(&b1, new_ids, nnew);
        text_array(&b2, new_addr, nnew);
        const char *cp[] = {b1.data, b2.data};
        st = mdm_db_exec(db, &st_create, cp, NULL, err);
        if (st != MDM_OK)
            goto out_free;
    }
    /* roles */
    for (size_t g = 0; g < ng; g++) {
        size_t head = groups[g].pos[0];
        for (size_t k = 1; k < groups[g].n; k++)
            if (before_as_head(&w->e[groups[g].pos[k]], &w->e[head]))
                head = groups[g].pos[k];
        for (size_t k = 0; k < groups[g].n; k++) {
            ent *e = &w->e[groups[g].pos[k]];
            e->new_hh = groups[g].hh;
            /* the head; the others their asserted role (head asserted twice: member) */
            e->new_role = groups[g].pos[k] == head                       ? ROLE_HEAD
                          : e->asserted >= 0 && e->asserted != ROLE_HEAD ? e->asserted
                                                                         : ROLE_MEMBER;
        }
    }
    /* an old household changed when a member joined, left or changed role */
    for (size_t i = 0; i < w->n; i++) {
        const ent *e = &w->e[i];
        if (e->old_hh && (e->old_hh != e->new_hh || e->old_role != e->new_role ||
                          (!e->pin_hh && e->addr && strcmp(e->addr, e->old_addr) != 0)))
            o.changed[find_i64(o.hh, o.n, e->old_hh)] = true;
        if (e->new_hh && e->new_hh != e->old_hh) {
            size_t k = find_i64(o.hh, o.n, e->new_hh);
            if (k < o.n)
                o.changed[k] = true;
        }
    }
    /* memberships: set for every member, dropped for the others that had one */
    {
        mdm_buf_reset(&b1);
        mdm_buf_reset(&b2);
        mdm_buf_reset(&b3);
        mdm_buf_putc(&b1, '{');
        mdm_buf_putc(&b2, '{');
        mdm_buf_putc(&b3, '{');
        size_t nset = 0, nd = 0;
        int64_t *drop = mdm_xmalloc((w->n + 1) * sizeof *drop);
        for (size_t i = 0; i < w->n; i++) {
            const ent *e = &w->e[i];
            if (!e->new_hh) {
                if (e->old_hh)
                    drop[nd++] = e->id;
                continue;
            }
            if (e->new_hh == e->old_hh && e->new_role == e->old_role)
                continue;
            const char *sep = nset++ ? "," : "";
            mdm_buf_printf(&b1, "%s%lld", sep, (long long)e->id);
            mdm_buf_printf(&b2, "%s%lld", sep, (long long)e->new_hh);
            mdm_buf_printf(&b3, "%s%s", sep, role_names[e->new_role]);
        }
        mdm_buf_putc(&b1, '}');
        mdm_buf_putc(&b2, '}');
        mdm_buf_putc(&b3, '}');
        if (nset > 0) {
            const char *mp[] = {b1.data, b2.data, b3.data};
            st = mdm_db_exec(db, &st_member_set, mp, NULL, err);
        }
        if (st == MDM_OK && nd > 0) {
            mdm_db_id_array(&b1, drop, nd);
            const char *dp[] = {b1.data};
            st = mdm_db_exec(db, &st_member_drop, dp, NULL, err);
        }
        free(drop);
        if (st != MDM_OK)
            goto out_free;
    }
    /* versions and events: changed, retired, created */
    {
        int64_t *chg = mdm_xmalloc((o.n + 1) * sizeof *chg);
        int64_t *gone = mdm_xmalloc((o.n + 1) * sizeof *gone);
        char **chg_addr = mdm_xmalloc((o.n + 1) * sizeof *chg_addr);
        size_t nchg = 0, ngone = 0;
        for (size_t k = 0; k < o.n; k++) {
            if (!o.now[k]) {
                gone[ngone++] = o.hh[k];
            } else if (o.changed[k]) {
                chg[nchg] = o.hh[k];
                chg_addr[nchg++] = (char *)o.now[k]->addr; /* a household that moved */
            }
        }
        if (nchg > 0) {
            mdm_db_id_array(&b1, chg, nchg);
            text_array(&b2, chg_addr, nchg);
            const char *bp[] = {b1.data, b2.data};
            st = mdm_db_exec(db, &st_bump, bp, &res, err);
            if (st == MDM_OK)
                st = emit_rows(db, w, &o, res, "household.changed", err);
            PQclear(res);
            res = NULL;
        }
        if (st == MDM_OK && ngone > 0) {
            mdm_db_id_array(&b1, gone, ngone);
            const char *rp[] = {b1.data};
            st = mdm_db_exec(db, &st_retire, rp, &res, err);
            if (st == MDM_OK)
                st = emit_rows(db, w, &o, res, "household.retired", err);
            PQclear(res);
            res = NULL;
        }
        if (w->stats) {
            w->stats->changed += (long)nchg;
            w->stats->retired += (long)ngone;
        }
        free(chg);
        free(gone);
        free(chg_addr);
        if (st != MDM_OK)
            goto out_free;
    }
    for (size_t k = 0; k < nnew && st == MDM_OK; k++) {
        json_t *p = event_payload(w, new_ids[k], 1, new_group[k], NULL, 0);
        st = mdm_outbox_emit_household(db, "household.created", new_ids[k], 1, p, NULL, err);
        json_decref(p);
    }
    for (size_t g = 0; g < ng && st == MDM_OK; g++) {
        if (!groups[g].fresh)
            continue;
        json_t *p = event_payload(w, groups[g].hh, 1, &groups[g], NULL, 0);
        st = mdm_outbox_emit_household(db, "household.created", groups[g].hh, 1, p, NULL, err);
        json_decref(p);
        if (w->stats)
            w->stats->created++;
    }
    if (w->stats)
        w->stats->created += (long)nnew;
out_free:
    PQclear(res);
    for (size_t g = 0; g < ng; g++)
        free(groups[g].pos);
    free(groups);
    free(parent);
    free(pos);
    free(cands);
    free(new_ids);
    free(new_addr);
    free(new_group);
    olds_free(&o);
    mdm_buf_free(&b1);
    mdm_buf_free(&b2);
    mdm_buf_free(&b3);
    return st;
}

/* Collects the distinct addresses of the entities, old (households noted) and new, and
 * those of the households stewards placed them in. */
static size_t addresses(const work *w, const PGresult *old, char ***out)
{
    size_t cap = 2 * w->n + (size_t)PQntuples(old) + 1, n = 0;
    char **a = mdm_xmalloc(cap * sizeof *a);
    for (size_t i = 0; i < w->n; i++) {
        if (w->e[i].addr)
            a[n++] = w->e[i].addr;
        if (w->e[i].pin_addr && *w->e[i].pin_addr)
            a[n++] = w->e[i].pin_addr;
    }
    for (int r = 0; r < PQntuples(old); r++) {
        const char *h = mdm_db_get(old, r, "addr_hash", NULL);
        if (h)
            a[n++] = (char *)h;
    }
    qsort(a, n, sizeof *a, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(a[i], a[i - 1]))
            a[u++] = a[i];
    *out = a;
    return u;
}

/* Re-derives the households of golden records ids[0..nt) and of everyone at an address
 * involved (now, before, or the household a steward placed one in), inside the caller's
 * transaction; stats receives the counts. */
static mdm_status derive_ids(mdm_db *db, const int64_t *ids, size_t nt, mdm_household_stats *stats,
                             mdm_err *err)
{
    mdm_status st = MDM_OK;
    work w = {0};
    w.stats = stats;
    for (size_t i = 0; i < nt; i++)
        add_ent(&w, ids[i]);
    mdm_buf arr = {0};
    PGresult *old = NULL, *at = NULL;
    if (nt > 0) {
        st = profile(db, &w, ids, nt, err);
        if (st != MDM_OK)
            goto out_free;
        mdm_db_id_array(&arr, ids, nt);
        const char *p1[] = {arr.data};
        st = mdm_db_exec(db, &st_member_of, p1, &old, err);
        if (st != MDM_OK)
            goto out_free;
        size_t added;
        note_members(&w, old, &added);
        /* every golden record at an address involved, until no address is added */
        size_t prev_naddr = 0;
        for (int round = 0; round < 8; round++) {
            char **addrs = NULL;
            size_t na = addresses(&w, old, &addrs);
            if (na == prev_naddr || na == 0) {
                free(addrs);
                break;
            }
            prev_naddr = na;
            text_array(&arr, addrs, na);
            free(addrs);
            const char *p2[] = {arr.data};
            PQclear(at);
            at = NULL;
            st = mdm_db_exec(db, &st_members_at, p2, &at, err);
            if (st != MDM_OK)
                goto out_free;
            size_t before = w.n;
            note_members(&w, at, &added);
            if (added == 0)
                break;
            int64_t *more = mdm_xmalloc(added * sizeof *more);
            for (size_t i = 0; i < added; i++)
                more[i] = w.e[before + i].id;
            st = profile(db, &w, more, added, err);
            free(more);
            if (st != MDM_OK)
                goto out_free;
        }
        st = rederive(db, &w, err);
        if (st != MDM_OK)
            goto out_free;
    }
    stats->entities += (long)w.n;
out_free:
    PQclear(old);
    PQclear(at);
    mdm_buf_free(&arr);
    work_free(&w);
    return st;
}

typedef struct window {
    int64_t high_water;
    int64_t from, to;
    bool done;
    mdm_household_stats *stats;
} window;

static mdm_status window_tx(mdm_db *db, void *ctx, mdm_err *err)
{
    window *wd = ctx;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_cursor_lock, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    wd->from = mdm_db_get_ll(res, 0, "last_seq", 0);
    PQclear(res);
    res = NULL;
    if (wd->from >= wd->high_water) {
        wd->done = true;
        return MDM_OK;
    }
    wd->to = wd->from + WINDOW < wd->high_water ? wd->from + WINDOW : wd->high_water;
    char a[24], b[24];
    mdm_db_id(a, wd->from);
    mdm_db_id(b, wd->to);
    const char *range[] = {a, b};
    st = mdm_db_exec(db, &st_touched, range, &res, err);
    if (st != MDM_OK)
        return st;
    size_t nt = (size_t)PQntuples(res);
    int64_t *ids = mdm_xmalloc((nt + 1) * sizeof *ids);
    for (size_t i = 0; i < nt; i++)
        ids[i] = mdm_db_get_ll(res, (int)i, "id", 0);
    PQclear(res);
    res = NULL;
    mdm_household_stats local = {0};
    st = derive_ids(db, ids, nt, &local, err);
    free(ids);
    if (st != MDM_OK)
        return st;
    mdm_db_id(b, wd->to);
    const char *cur[] = {b};
    st = mdm_db_exec(db, &st_cursor_set, cur, NULL, err);
    if (st == MDM_OK && wd->stats) {
        wd->stats->entities += local.entities;
        wd->stats->created += local.created;
        wd->stats->changed += local.changed;
        wd->stats->retired += local.retired;
    }
    return st;
}

mdm_status mdm_household_refresh(mdm_db *db, mdm_household_stats *stats, mdm_err *err)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    window wd = {.stats = stats};
    mdm_status st = mdm_outbox_high_water(db, &wd.high_water, err);
    if (st == MDM_OK) {
        /* nothing new: answered without taking the cursor row's lock */
        PGresult *res = NULL;
        st = mdm_db_exec(db, &st_cursor_get, NULL, &res, err);
        bool current = st == MDM_OK && mdm_db_get_ll(res, 0, "last_seq", 0) >= wd.high_water;
        PQclear(res);
        if (current)
            return MDM_OK;
    }
    while (st == MDM_OK) {
        wd.done = false;
        st = mdm_db_run_tx(db, "household_refresh", window_tx, &wd, err);
        if (st != MDM_OK || wd.done)
            break;
        if (stats)
            stats->events += wd.to - wd.from;
    }
    if (st == MDM_OK && stats && (stats->created || stats->changed || stats->retired))
        mdm_log(MDM_LOG_INFO,
                "event=households.refresh seqs=%ld entities=%ld created=%ld "
                "changed=%ld retired=%ld",
                stats->events, stats->entities, stats->created, stats->changed, stats->retired);
    return st;
}

/* Background follower ------------------------------------------------------------------ */

static pthread_mutex_t follower_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t follower_wake = PTHREAD_COND_INITIALIZER;
static struct {
    pthread_t thread;
    bool running, stopping;
    char *url;
    int interval_ms;
} follower; /* under follower_lock */

static void *follow(void *arg)
{
    (void)arg;
    mdm_db *db = NULL;
    pthread_mutex_lock(&follower_lock);
    while (!follower.stopping) {
        pthread_mutex_unlock(&follower_lock);
        mdm_err err = {0};
        if (!db)
            db = mdm_db_connect(follower.url, &err);
        if (db && mdm_household_refresh(db, NULL, &err) != MDM_OK) {
            mdm_log(MDM_LOG_WARN, "event=households.refresh_failed code=%s msg=\"%s\"",
                    mdm_status_name(err.code), err.msg);
            if (!mdm_db_ok(db)) {
                mdm_db_close(db);
                db = NULL;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += follower.interval_ms / 1000;
        until.tv_nsec += (long)(follower.interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&follower_lock);
        while (!follower.stopping &&
               pthread_cond_timedwait(&follower_wake, &follower_lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&follower_lock);
    mdm_db_close(db);
    return NULL;
}

mdm_status mdm_household_start(const char *url, int interval_ms, mdm_err *err)
{
    pthread_mutex_lock(&follower_lock);
    if (follower.running) {
        pthread_mutex_unlock(&follower_lock);
        return mdm_err_set(err, MDM_ECONFLICT, "the household follower is already running");
    }
    follower.url = mdm_xstrdup(url);
    follower.interval_ms = interval_ms > 0 ? interval_ms : 1000;
    follower.stopping = false;
    if (pthread_create(&follower.thread, NULL, follow, NULL) != 0) {
        free(follower.url);
        follower.url = NULL;
        pthread_mutex_unlock(&follower_lock);
        return mdm_err_set(err, MDM_EINTERNAL, "cannot start the household follower");
    }
    follower.running = true;
    pthread_mutex_unlock(&follower_lock);
    return MDM_OK;
}

void mdm_household_stop(void)
{
    pthread_mutex_lock(&follower_lock);
    if (!follower.running) {
        pthread_mutex_unlock(&follower_lock);
        return;
    }
    follower.stopping = true;
    pthread_cond_broadcast(&follower_wake);
    pthread_mutex_unlock(&follower_lock);
    pthread_join(follower.thread, NULL);
    pthread_mutex_lock(&follower_lock);
    follower.running = false;
    free(follower.url);
    follower.url = NULL;
    pthread_mutex_unlock(&follower_lock);
}

/* Reads ---------------------------------------------------------------------------------- */

/* clang-format off */
#define HOUSEHOLD_DOC(h)                                                                           \
    "json_build_object('id', " h ".id, 'status', " h ".status, 'version', " h ".version, "         \
    "'created_at', mdm_ts(" h ".created_at), 'updated_at', mdm_ts(" h ".updated_at), "             \
    "'retired_at', mdm_ts(" h ".retired_at), "                                                     \
    "'address', (SELECT e.golden->'addresses'->0 FROM household_member hm "                        \
    "JOIN entity e ON e.id = hm.entity_id WHERE hm.household_id = " h ".id AND hm.role = 'head'), "\
    "'members', coalesce((SELECT json_agg(json_build_object('entity_id', hm.entity_id, "           \
    "'role', hm.role, 'joined_at', mdm_ts(hm.joined_at), 'name', "                                 \
    "nullif(concat_ws(' ', e.golden->>'first_name', e.golden->>'last_name'), ''), "                \
    "'birth_date', e.golden->>'birth_date') ORDER BY hm.role = 'head' DESC, hm.entity_id) "        \
    "FROM household_member hm JOIN entity e ON e.id = hm.entity_id "                               \
    "WHERE hm.household_id = " h ".id), '[]'::json))::text"
/* clang-format on */

static const mdm_db_stmt st_get = {"household_get",
                                   "SELECT " HOUSEHOLD_DOC("h") " AS doc FROM household h "
                                                                "WHERE h.id = $1",
                                   1};
static const mdm_db_stmt st_of_entity = {
    "household_of_entity",
    "WITH RECURSIVE s(id, survivor_id, depth) AS (SELECT id, survivor_id, 0 FROM entity "
    "WHERE id = $1 UNION ALL SELECT e.id, e.survivor_id, s.depth + 1 FROM entity e "
    "JOIN s ON e.id = s.survivor_id WHERE s.depth < 64) "
    "SELECT (SELECT count(*) FROM s) AS found, (SELECT " HOUSEHOLD_DOC(
        "h") " FROM household h "
             "JOIN household_member hm ON hm.household_id = h.id "
             "WHERE hm.entity_id = (SELECT id FROM s ORDER BY depth DESC LIMIT 1)) AS doc",
    1};
static const mdm_db_stmt st_search = {
    "household_search",
    "SELECT " HOUSEHOLD_DOC(
        "h") " AS doc FROM household h WHERE h.status = 'active' "
             "AND h.addr_hash = encode(sha256(convert_to(concat_ws(chr(31), $1::text, $2::text, "
             "$3::text), 'UTF8')), 'hex') ORDER BY h.id",
    3};

static mdm_status doc_of(PGresult *res, json_t **out, const char *what, mdm_err *err)
{
    const char *doc = PQntuples(res) > 0 ? mdm_db_get(res, 0, "doc", NULL) : NULL;
    if (!doc) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "%s", what);
    }
    *out = json_loads(doc, 0, NULL);
    PQclear(res);
    if (!*out)
        return mdm_err_set(err, MDM_EINTERNAL, "household document unreadable");
    return MDM_OK;
}

mdm_status mdm_household_get(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char s[24];
    mdm_db_id(s, id);
    const char *params[] = {s};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_get, params, &res, err);
    if (st != MDM_OK)
        return st;
    return doc_of(res, out, "no such household", err);
}

mdm_status mdm_household_of_entity(mdm_db *db, int64_t entity_id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char s[24];
    mdm_db_id(s, entity_id);
    const char *params[] = {s};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_of_entity, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (mdm_db_get_ll(res, 0, "found", 0) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no such golden record");
    }
    return doc_of(res, out, "the golden record belongs to no household (no street address)", err);
}

mdm_status mdm_household_search(mdm_db *db, const char *line1, const char *postal_code,
                                const char *country, const char *default_country, json_t **out,
                                mdm_err *err)
{
    *out = NULL;
    if (!line1 || !*line1)
        return mdm_err_set_field(err, MDM_EINVAL, "/query/line1", "line1 is required");
    if (!postal_code || !*postal_code)
        return mdm_err_set_field(err, MDM_EINVAL, "/query/postal_code", "postal_code is required");
    if (!mdm_norm_utf8_valid(line1, strlen(line1)) ||
        !mdm_norm_utf8_valid(postal_code, strlen(postal_code)) ||
        (country && !mdm_norm_utf8_valid(country, strlen(country))))
        return mdm_err_set(err, MDM_EINVAL, "the address is not valid UTF-8");
    const char *code = NULL;
    if (country && *country) {
        code = mdm_norm_country(country);
        if (!code)
            return mdm_err_set_field(err, MDM_EINVAL, "/query/country", "unknown country");
    }
    const char *dc = default_country ? default_country : "US";
    mdm_norm *n = mdm_engine_norm_acquire(err);
    if (!n)
        return err ? err->code : MDM_EINTERNAL;
    mdm_arena *a = mdm_arena_new(1024);
    mdm_address_norm an;
    mdm_err ignored;
    mdm_status st = MDM_OK;
    if (mdm_norm_address(n, line1, NULL, NULL, NULL, postal_code, code, dc, a, &an, &ignored) !=
            MDM_OK ||
        !*an.line) {
        st = mdm_err_set_field(err, MDM_EINVAL, "/query/line1", "line1 is not a street line");
        goto out_free;
    }
    /* the key ingest stores (mdm/ingest.c, normalize_addresses): a ZIP+4 keys as its ZIP */
    char pc[16];
    snprintf(pc, sizeof pc, "%s", an.postal_code);
    if (!strcmp(an.country, "US") && strlen(pc) > 5)
        pc[5] = '\0';
    const char *params[] = {an.line, pc, *an.country ? an.country : dc};
    PGresult *res = NULL;
    st = mdm_db_exec(db, &st_search, params, &res, err);
    if (st != MDM_OK)
        goto out_free;
    json_t *items = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *d = json_loads(mdm_db_get(res, r, "doc", "null"), 0, NULL);
        if (d)
            json_array_append_new(items, d);
    }
    PQclear(res);
    *out = json_pack("{s:o}", "items", items);
out_free:
    mdm_arena_free(a);
    mdm_engine_norm_release(n);
    return st;
}

/* Steward moves and splits ------------------------------------------------------------------ */

static const mdm_db_stmt st_hh_lock = {
    "household_lock", "SELECT status, version, addr_hash FROM household WHERE id = $1 FOR UPDATE",
    1};
static const mdm_db_stmt st_hh_members = {
    "household_members",
    "SELECT entity_id FROM household_member WHERE household_id = $1 ORDER BY entity_id", 1};
static const mdm_db_stmt st_entity_state = {
    "household_entity_state",
    "SELECT e.status, e.survivor_id, (SELECT hm.household_id FROM household_member hm "
    "WHERE hm.entity_id = e.id) AS household_id FROM entity e WHERE e.id = $1 FOR SHARE OF e",
    1};
static const mdm_db_stmt st_assert = {
    "household_assert",
    "INSERT INTO household_assertion AS a (entity_id, household_id, kind, actor, role) "
    "SELECT unnest($1::bigint[]), $2, $3, $4, $5 ON CONFLICT (entity_id) DO UPDATE SET "
    "household_id = EXCLUDED.household_id, kind = EXCLUDED.kind, actor = EXCLUDED.actor, "
    "role = EXCLUDED.role, created_at = now()",
    5};
static const mdm_db_stmt st_hh_version = {"household_version",
                                          "SELECT version FROM household WHERE id = $1", 1};
static const mdm_db_stmt st_assert_erase = {
    "household_assert_erase", "DELETE FROM household_assertion WHERE entity_id = ANY($1::bigint[])",
    1};

typedef struct steward_ctx {
    int64_t hh;         /* the household acted on */
    const int64_t *ids; /* move: the one golden record; split: those that leave */
    size_t n;           /* 1 for a move */
    bool split;         /* split, else move */
    int expected;       /* the household's version the steward saw, 0 = any */
    const mdm_audit_actor *who;
    const char *reason;
    int64_t split_off; /* split: the new household */
    int64_t from;      /* move: the household the golden record left, 0 none */
} steward_ctx;

static void id_param(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
}

/* The household's version now (after the derivation in this transaction). */
static int version_of(mdm_db *db, int64_t hh)
{
    char s[24];
    id_param(s, hh);
    const char *p[] = {s};
    PGresult *res = NULL;
    mdm_err e;
    if (mdm_db_exec(db, &st_hh_version, p, &res, &e) != MDM_OK)
        return 0;
    int v = (int)mdm_db_get_ll(res, 0, "version", 0);
    PQclear(res);
    return v;
}

static mdm_status steward_tx(mdm_db *db, void *arg, mdm_err *err)
{
    steward_ctx *c = arg;
    /* one derivation at a time: the refresh windows hold the same row */
    mdm_status st = mdm_db_exec(db, &st_cursor_lock, NULL, NULL, err);
    if (st != MDM_OK)
        return st;
    char hs[24];
    id_param(hs, c->hh);
    const char *ph[] = {hs};
    PGresult *res = NULL;
    st = mdm_db_exec(db, &st_hh_lock, ph, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no such household");
    }
    bool active = !strcmp(mdm_db_get(res, 0, "status", ""), "active");
    int version = (int)mdm_db_get_ll(res, 0, "version", 0);
    char *addr = mdm_xstrdup(mdm_db_get(res, 0, "addr_hash", ""));
    PQclear(res);
    res = NULL;
    int64_t *members = NULL, *touch = NULL;
    size_t nm = 0;
    if (!active) {
        st = mdm_err_set(err, MDM_ECONFLICT, "household %lld is retired", (long long)c->hh);
        goto out_free;
    }
    if (c->expected && c->expected != version) {
        st = mdm_err_set_field(err, MDM_ESTALE, "/version",
                               "household %lld is at version %d, not %d (reload it)",
                               (long long)c->hh, version, c->expected);
        goto out_free;
    }
    st = mdm_db_exec(db, &st_hh_members, ph, &res, err);
    if (st != MDM_OK)
        goto out_free;
    nm = (size_t)PQntuples(res);
    members = mdm_xmalloc((nm + 1) * sizeof *members);
    for (size_t i = 0; i < nm; i++)
        members[i] = mdm_db_get_ll(res, (int)i, "entity_id", 0);
    PQclear(res);
    res = NULL;
    int64_t target = c->hh;
    if (c->split) {
        /* every one that leaves is a member; at least one member stays */
        for (size_t i = 0; i < c->n; i++) {
            size_t k = 0;
            while (k < nm && members[k] != c->ids[i])
                k++;
            if (k == nm) {
                st = mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/members",
                                       "golden record %lld is not a member of household %lld",
                                       (long long)c->ids[i], (long long)c->hh);
                goto out_free;
            }
        }
        if (c->n >= nm) {
            st = mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/members",
                                   "at least one member must stay (%zu members, %zu leaving)", nm,
                                   c->n);
            goto out_free;
        }
        const char *one[] = {"1"};
        st = mdm_db_exec(db, &st_new_ids, one, &res, err);
        if (st != MDM_OK)
            goto out_free;
        c->split_off = mdm_db_get_ll(res, 0, "id", 0);
        PQclear(res);
        res = NULL;
        char ids[32], addrs[80];
        snprintf(ids, sizeof ids, "{%lld}", (long long)c->split_off);
        snprintf(addrs, sizeof addrs, "{%s}", addr);
        const char *cp[] = {ids, addrs};
        st = mdm_db_exec(db, &st_create, cp, NULL, err);
        if (st != MDM_OK)
            goto out_free;
        target = c->split_off;
    } else {
        char es[24];
        id_param(es, c->ids[0]);
        const char *pe[] = {es};
        st = mdm_db_exec(db, &st_entity_state, pe, &res, err);
        if (st != MDM_OK)
            goto out_free;
        if (PQntuples(res) == 0) {
            st = mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/entity_id", "no such golden record");
        } else if (strcmp(mdm_db_get(res, 0, "status", ""), "active") != 0) {
            const char *sv = mdm_db_get(res, 0, "survivor_id", NULL);
            st = mdm_err_set_field(err, MDM_EUNPROCESSABLE, "/entity_id",
                                   "golden record %lld is retired%s%s%s", (long long)c->ids[0],
                                   sv ? " (merged into " : "", sv ? sv : "", sv ? ")" : "");
        } else if (mdm_db_get_ll(res, 0, "household_id", 0) == c->hh) {
            st = mdm_err_set_field(err, MDM_ECONFLICT, "/entity_id",
                                   "golden record %lld is already a member of household %lld",
                                   (long long)c->ids[0], (long long)c->hh);
        } else {
            c->from = mdm_db_get_ll(res, 0, "household_id", 0);
        }
        PQclear(res);
        res = NULL;
        if (st != MDM_OK)
            goto out_free;
    }
    /* the assertion, then the derivation of everyone concerned, which respects it */
    mdm_buf b = {0};
    mdm_db_id_array(&b, c->ids, c->n);
    char ts[24];
    id_param(ts, target);
    const char *pa[] = {b.data, ts, c->split ? "split" : "move", c->who->name, c->who->role};
    st = mdm_db_exec(db, &st_assert, pa, NULL, err);
    mdm_buf_free(&b);
    if (st != MDM_OK)
        goto out_free;
    touch = mdm_xmalloc((nm + c->n + 1) * sizeof *touch);
    memcpy(touch, members, nm * sizeof *touch);
    memcpy(touch + nm, c->ids, c->n * sizeof *touch);
    qsort(touch, nm + c->n, sizeof *touch, cmp_i64);
    size_t nt = 0;
    for (size_t i = 0; i < nm + c->n; i++)
        if (nt == 0 || touch[nt - 1] != touch[i])
            touch[nt++] = touch[i];
    mdm_household_stats stats = {0};
    st = derive_ids(db, touch, nt, &stats, err);
    if (st != MDM_OK)
        goto out_free;
    /* one audit row per golden record placed, so erasure of any finds the reason */
    int v_after = version_of(db, c->hh);
    for (size_t i = 0; i < c->n && st == MDM_OK; i++) {
        char tgt[40];
        snprintf(tgt, sizeof tgt, "entity:%lld", (long long)c->ids[i]);
        json_t *before, *after;
        if (c->split) {
            json_t *all = json_array();
            for (size_t k = 0; k < c->n; k++)
                json_array_append_new(all, json_integer(c->ids[k]));
            before = json_pack("{s:I, s:i}", "household_id", (json_int_t)c->hh, "version", version);
            after = json_pack("{s:I, s:I, s:i, s:o}", "household_id", (json_int_t)target,
                              "from_household", (json_int_t)c->hh, "from_version", v_after,
                              "members", all);
        } else {
            before =
                json_pack("{s:o}", "household_id", c->from ? json_integer(c->from) : json_null());
            after = json_pack("{s:I, s:i}", "household_id", (json_int_t)target, "version", v_after);
        }
        st = mdm_audit_append(db, c->who->name, c->who->role,
                              c->split ? "household.split" : "household.move", tgt, c->reason,
                              before, after, err);
        json_decref(before);
        json_decref(after);
    }
out_free:
    PQclear(res);
    free(members);
    free(touch);
    free(addr);
    return st;
}

static mdm_status steward_run(mdm_db *db, steward_ctx *c, mdm_err *err)
{
    if (!c->who || !c->who->name || !c->who->role)
        return mdm_err_set(err, MDM_EINVAL, "the steward is not named");
    if (!c->reason || !*c->reason || strlen(c->reason) > 500)
        return mdm_err_set_field(err, MDM_EINVAL, "/reason",
                                 "a reason is required (at most 500 bytes)");
    /* up to date first, so the check and the derivation see the golden records as they are */
    mdm_status st = mdm_household_refresh(db, NULL, err);
    if (st != MDM_OK)
        return st;
    return mdm_db_run_tx(db, c->split ? "household_split" : "household_move", steward_tx, c, err);
}

mdm_status mdm_household_move(mdm_db *db, int64_t household_id, int64_t entity_id,
                              int expected_version, const mdm_audit_actor *who, const char *reason,
                              json_t **out, mdm_err *err)
{
    *out = NULL;
    steward_ctx c = {.hh = household_id,
                     .ids = &entity_id,
                     .n = 1,
                     .expected = expected_version,
                     .who = who,
                     .reason = reason};
    mdm_status st = steward_run(db, &c, err);
    if (st != MDM_OK)
        return st;
    json_t *h = NULL;
    st = mdm_household_get(db, household_id, &h, err);
    if (st != MDM_OK)
        return st;
    *out = json_pack("{s:o, s:I, s:o}", "household", h, "entity_id", (json_int_t)entity_id,
                     "from_household", c.from ? json_integer(c.from) : json_null());
    return MDM_OK;
}

mdm_status mdm_household_split(mdm_db *db, int64_t household_id, const int64_t *leaving, size_t n,
                               int expected_version, const mdm_audit_actor *who, const char *reason,
                               json_t **out, mdm_err *err)
{
    *out = NULL;
    if (n == 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/members",
                                 "members must list the golden records that leave");
    int64_t *ids = mdm_xmalloc(n * sizeof *ids);
    memcpy(ids, leaving, n * sizeof *ids);
    qsort(ids, n, sizeof *ids, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || ids[u - 1] != ids[i])
            ids[u++] = ids[i];
    steward_ctx c = {.hh = household_id,
                     .ids = ids,
                     .n = u,
                     .split = true,
                     .expected = expected_version,
                     .who = who,
                     .reason = reason};
    mdm_status st = steward_run(db, &c, err);
    free(ids);
    if (st != MDM_OK)
        return st;
    json_t *h = NULL, *h2 = NULL;
    st = mdm_household_get(db, household_id, &h, err);
    if (st == MDM_OK)
        st = mdm_household_get(db, c.split_off, &h2, err);
    if (st != MDM_OK) {
        json_decref(h);
        return st;
    }
    *out = json_pack("{s:o, s:o}", "household", h, "split_off", h2);
    return MDM_OK;
}

mdm_status mdm_household_erase(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    return mdm_db_exec(db, &st_assert_erase, params, NULL, err);
}
