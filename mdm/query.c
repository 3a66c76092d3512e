/* The read side of golden records: get (whole or pipelined as text), source records,
 * search (criteria and free text), member records, merge preview, history, the read-only
 * match and the export. Reads only: every write to entities, memberships and golden values
 * is mdm/golden.h's. See query.h. */
#include "mdm/query.h"

#include "common/csvout.h"
#include "common/log.h"
#include "common/mem.h"
#include "matching/normalize.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/resolve.h"
#include "mdm/survive.h"

#include <stdlib.h>
#include <string.h>

/* ---- reads ----------------------------------------------------------------------- */

static const mdm_db_stmt stmt_get = {
    "golden_get",
    "SELECT id, status, survivor_id, version, golden, mdm_ts(created_at) AS created_at, "
    "mdm_ts(updated_at) AS updated_at FROM entity WHERE id = $1",
    1};

static const mdm_db_stmt stmt_get_lineage = {
    "golden_get_lineage",
    "SELECT gv.attr, gv.rule, gv.source_record_id, mdm_ts(gv.chosen_at) AS chosen_at, gv.sources, "
    "sr.source, sr.source_key, (gp.entity_id IS NOT NULL) AS pinned FROM golden_value gv "
    "LEFT JOIN source_record sr ON sr.id = gv.source_record_id "
    "LEFT JOIN golden_pin gp ON gp.entity_id = gv.entity_id AND gp.attr = gv.attr "
    "WHERE gv.entity_id = $1 ORDER BY gv.attr",
    1};

static const mdm_db_stmt stmt_get_members = {
    "golden_get_members",
    "SELECT sr.id AS record_id, sr.source, sr.source_key, mdm_ts(m.linked_at) AS linked_at, "
    "mdm_ts(sr.source_updated_at) AS source_updated_at "
    "FROM membership m JOIN source_record sr ON sr.id = m.record_id "
    "WHERE m.entity_id = $1 AND m.active ORDER BY sr.id",
    1};

static json_t *json_or_null(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

mdm_status mdm_query_get(mdm_db *db, int64_t id, json_t **out, int64_t *survivor_id, mdm_err *err)
{
    *out = NULL;
    if (survivor_id)
        *survivor_id = 0;
    char eid[32];
    mdm_db_id(eid, id);
    const char *p[1] = {eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_get, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)id);
    }
    const char *status = mdm_db_get(res, 0, "status", "");
    json_t *e = json_pack("{s:I, s:s, s:i, s:s, s:s}", "id", (json_int_t)id, "status", status,
                          "version", (int)mdm_db_get_ll(res, 0, "version", 0), "created_at",
                          mdm_db_get(res, 0, "created_at", ""), "updated_at",
                          mdm_db_get(res, 0, "updated_at", ""));
    int64_t surv = mdm_db_get_ll(res, 0, "survivor_id", 0);
    if (strcmp(status, "active") != 0) {
        json_object_set_new(e, "survivor_id", surv ? json_integer(surv) : json_null());
        if (survivor_id)
            *survivor_id = surv;
        PQclear(res);
        *out = e;
        return MDM_OK;
    }
    json_object_set_new(e, "golden", json_or_null(mdm_db_get(res, 0, "golden", "{}")));
    PQclear(res);
    if ((st = mdm_db_exec(db, &stmt_get_lineage, p, &res, err)) != MDM_OK)
        goto out_fail;
    json_t *lin = json_object();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *sid = mdm_db_get(res, i, "source_record_id", NULL);
        json_t *l = json_pack("{s:s, s:s, s:b}", "rule", mdm_db_get(res, i, "rule", ""),
                              "chosen_at", mdm_db_get(res, i, "chosen_at", ""), "pinned",
                              !strcmp(mdm_db_get(res, i, "pinned", "f"), "t"));
        json_object_set_new(l, "source_record_id",
                            sid ? json_integer(strtoll(sid, NULL, 10)) : json_null());
        json_object_set_new(l, "source", str_or_null(mdm_db_get(res, i, "source", NULL)));
        json_object_set_new(l, "source_key", str_or_null(mdm_db_get(res, i, "source_key", NULL)));
        const char *srcs = mdm_db_get(res, i, "sources", NULL);
        if (srcs)
            json_object_set_new(l, "sources", json_or_null(srcs));
        json_object_set_new(lin, mdm_db_get(res, i, "attr", ""), l);
    }
    PQclear(res);
    json_object_set_new(e, "lineage", lin);
    if ((st = mdm_db_exec(db, &stmt_get_members, p, &res, err)) != MDM_OK)
        goto out_fail;
    json_t *members = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *m = json_pack(
            "{s:I, s:s, s:s, s:s}", "record_id", (json_int_t)mdm_db_get_ll(res, i, "record_id", 0),
            "source", mdm_db_get(res, i, "source", ""), "source_key",
            mdm_db_get(res, i, "source_key", ""), "linked_at", mdm_db_get(res, i, "linked_at", ""));
        json_object_set_new(m, "source_updated_at",
                            str_or_null(mdm_db_get(res, i, "source_updated_at", NULL)));
        json_array_append_new(members, m);
    }
    PQclear(res);
    json_object_set_new(e, "members", members);
    *out = e;
    return MDM_OK;
out_fail:
    json_decref(e);
    return st;
}

/* The read of the HTTP path: the same three statements, sent in one round trip by the
 * caller, and their rows written as JSON text. Building the lineage and members as JSON
 * inside PostgreSQL (json_build_object, aggregates with ORDER BY) cost the server more
 * than the rows themselves, and PostgreSQL is the tier that does not scale out. */
void mdm_query_get_call(int64_t id, mdm_db_call calls[MDM_QUERY_GET_CALLS])
{
    mdm_db_call_id(&calls[0], &stmt_get, id);
    mdm_db_call_id(&calls[1], &stmt_get_lineage, id);
    mdm_db_call_id(&calls[2], &stmt_get_members, id);
}

/* ,"name":"value" or ,"name":null for a column that may be NULL */
static void put_member_str(mdm_buf *out, const char *name, const char *value)
{
    mdm_buf_printf(out, ",\"%s\":", name);
    if (value)
        mdm_buf_json_str(out, value);
    else
        mdm_buf_puts(out, "null");
}

static void put_lineage(mdm_buf *out, const PGresult *res)
{
    int c_attr = PQfnumber(res, "attr"), c_rule = PQfnumber(res, "rule"),
        c_sid = PQfnumber(res, "source_record_id"), c_at = PQfnumber(res, "chosen_at"),
        c_srcs = PQfnumber(res, "sources"), c_src = PQfnumber(res, "source"),
        c_key = PQfnumber(res, "source_key"), c_pin = PQfnumber(res, "pinned");
    mdm_buf_putc(out, '{');
    for (int i = 0; i < PQntuples(res); i++) {
        if (i)
            mdm_buf_putc(out, ',');
        mdm_buf_json_str(out, PQgetvalue(res, i, c_attr));
        mdm_buf_puts(out, ":{\"rule\":");
        mdm_buf_json_str(out, PQgetvalue(res, i, c_rule));
        mdm_buf_puts(out, ",\"chosen_at\":");
        mdm_buf_json_str(out, PQgetvalue(res, i, c_at));
        mdm_buf_printf(out, ",\"pinned\":%s,\"source_record_id\":",
                       strcmp(PQgetvalue(res, i, c_pin), "t") == 0 ? "true" : "false");
        if (PQgetisnull(res, i, c_sid))
            mdm_buf_puts(out, "null");
        else
            mdm_buf_printf(out, "%lld", strtoll(PQgetvalue(res, i, c_sid), NULL, 10));
        put_member_str(out, "source",
                       PQgetisnull(res, i, c_src) ? NULL : PQgetvalue(res, i, c_src));
        put_member_str(out, "source_key",
                       PQgetisnull(res, i, c_key) ? NULL : PQgetvalue(res, i, c_key));
        if (!PQgetisnull(res, i, c_srcs)) { /* jsonb as the server printed it */
            mdm_buf_puts(out, ",\"sources\":");
            mdm_buf_puts(out, PQgetvalue(res, i, c_srcs));
        }
        mdm_buf_putc(out, '}');
    }
    mdm_buf_putc(out, '}');
}

static void put_members(mdm_buf *out, const PGresult *res)
{
    int c_id = PQfnumber(res, "record_id"), c_src = PQfnumber(res, "source"),
        c_key = PQfnumber(res, "source_key"), c_at = PQfnumber(res, "linked_at"),
        c_upd = PQfnumber(res, "source_updated_at");
    mdm_buf_putc(out, '[');
    for (int i = 0; i < PQntuples(res); i++) {
        mdm_buf_printf(out, "%s{\"record_id\":%lld", i ? "," : "",
                       strtoll(PQgetvalue(res, i, c_id), NULL, 10));
        put_member_str(out, "source", PQgetvalue(res, i, c_src));
        put_member_str(out, "source_key", PQgetvalue(res, i, c_key));
        put_member_str(out, "linked_at", PQgetvalue(res, i, c_at));
        put_member_str(out, "source_updated_at",
                       PQgetisnull(res, i, c_upd) ? NULL : PQgetvalue(res, i, c_upd));
        mdm_buf_putc(out, '}');
    }
    mdm_buf_putc(out, ']');
}

mdm_status mdm_query_get_text(PGresult *res[MDM_QUERY_GET_CALLS], int64_t id, mdm_buf *out,
                              mdm_query_head *head, mdm_err *err)
{
    *head = (mdm_query_head){0};
    mdm_status st = MDM_OK;
    PGresult *e = res[0];
    if (PQntuples(e) != 1) {
        st = mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)id);
        goto out_clear;
    }
    const char *status = mdm_db_get(e, 0, "status", "");
    head->active = strcmp(status, "active") == 0;
    head->version = (int)mdm_db_get_ll(e, 0, "version", 0);
    head->survivor_id = head->active ? 0 : mdm_db_get_ll(e, 0, "survivor_id", 0);
    mdm_buf_printf(out, "{\"id\":%lld,\"status\":", (long long)id);
    mdm_buf_json_str(out, status);
    mdm_buf_printf(out, ",\"version\":%d", head->version);
    put_member_str(out, "created_at", mdm_db_get(e, 0, "created_at", ""));
    put_member_str(out, "updated_at", mdm_db_get(e, 0, "updated_at", ""));
    if (!head->active) {
        if (head->survivor_id)
            mdm_buf_printf(out, ",\"survivor_id\":%lld", (long long)head->survivor_id);
        else
            mdm_buf_puts(out, ",\"survivor_id\":null");
        goto out_clear;
    }
    mdm_buf_puts(out, ",\"golden\":"); /* jsonb as the server printed it */
    mdm_buf_puts(out, mdm_db_get(e, 0, "golden", "{}"));
    mdm_buf_puts(out, ",\"lineage\":");
    put_lineage(out, res[1]);
    mdm_buf_puts(out, ",\"members\":");
    put_members(out, res[2]);
out_clear:
    for (int i = 0; i < MDM_QUERY_GET_CALLS; i++)
        PQclear(res[i]);
    return st;
}

static const mdm_db_stmt stmt_of_record = {
    "golden_of_record",
    "SELECT sr.id, m.entity_id FROM source_record sr LEFT JOIN membership m "
    "ON m.record_id = sr.id AND m.active WHERE sr.source = $1 AND sr.source_key = $2",
    2};

mdm_status mdm_query_of_record(mdm_db *db, const char *source, const char *source_key,
                               int64_t *record_id, int64_t *entity_id, mdm_err *err)
{
    const char *p[2] = {source, source_key};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_of_record, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no record %s/%s", source, source_key);
    }
    if (record_id)
        *record_id = mdm_db_get_ll(res, 0, "id", 0);
    if (entity_id)
        *entity_id = mdm_db_get_ll(res, 0, "entity_id", 0);
    PQclear(res);
    return MDM_OK;
}

static const mdm_db_stmt stmt_record_get = {
    "golden_record_get",
    "SELECT sr.id, sr.raw, sr.normalized, sr.version, sr.deleted, "
    "mdm_ts(sr.source_updated_at) AS source_updated_at, mdm_ts(sr.received_at) AS received_at, "
    "m.entity_id FROM source_record sr LEFT JOIN membership m "
    "ON m.record_id = sr.id AND m.active WHERE sr.source = $1 AND sr.source_key = $2",
    2};

mdm_status mdm_query_record(mdm_db *db, const char *source, const char *source_key, json_t **out,
                            mdm_err *err)
{
    *out = NULL;
    const char *p[2] = {source, source_key};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_record_get, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no record %s/%s", source, source_key);
    }
    json_t *normalized = json_or_null(mdm_db_get(res, 0, "normalized", NULL));
    json_object_del(normalized, "keys");
    json_t *r =
        json_pack("{s:I, s:s, s:s, s:o, s:o, s:i, s:b, s:o, s:s}", "id",
                  (json_int_t)mdm_db_get_ll(res, 0, "id", 0), "source", source, "source_key",
                  source_key, "raw", json_or_null(mdm_db_get(res, 0, "raw", NULL)), "normalized",
                  normalized, "version", (int)mdm_db_get_ll(res, 0, "version", 0), "deleted",
                  !strcmp(mdm_db_get(res, 0, "deleted", "f"), "t"), "source_updated_at",
                  str_or_null(mdm_db_get(res, 0, "source_updated_at", NULL)), "received_at",
                  mdm_db_get(res, 0, "received_at", ""));
    int64_t eid = mdm_db_get_ll(res, 0, "entity_id", 0);
    json_object_set_new(r, "entity_id", eid ? json_integer(eid) : json_null());
    PQclear(res);
    *out = r;
    return MDM_OK;
}

/* Criteria on contact points and identifiers are containment queries on the records'
 * comparison forms (GIN index source_record_keys), each satisfied by any active member. */
#define SEARCH_MEMBER(n)                                                                           \
    "AND ($" #n "::jsonb IS NULL OR e.id IN (SELECT m.entity_id FROM source_record sr "            \
    "JOIN membership m ON m.record_id = sr.id AND m.active "                                       \
    "WHERE sr.normalized->'keys' @> $" #n "::jsonb)) "

/* A search result: {"id", "version", "golden", "quality"} from row i (id, version, golden,
 * quality: the golden record's data-quality scores, mdm_quality_entity). */
static json_t *search_item(PGresult *res, int i)
{
    return json_pack("{s:I, s:i, s:o, s:o}", "id", (json_int_t)mdm_db_get_ll(res, i, "id", 0),
                     "version", (int)mdm_db_get_ll(res, i, "version", 0), "golden",
                     json_or_null(mdm_db_get(res, i, "golden", NULL)), "quality",
                     json_or_null(mdm_db_get(res, i, "quality", NULL)));
}

static const mdm_db_stmt stmt_search = {
    "golden_search",
    "SELECT e.id, e.version, e.golden, mdm_quality_entity(e.id) AS quality FROM entity e "
    "WHERE e.status = 'active' AND e.id > $1 " SEARCH_MEMBER(2) SEARCH_MEMBER(3) SEARCH_MEMBER(
        4) "AND ($5::text IS NULL OR lower(e.golden->>'last_name') = $5 "
           "  OR lower(concat_ws(' ', e.golden->>'first_name', e.golden->>'last_name')) = $5) "
           "AND ($6::text IS NULL OR e.golden->>'birth_date' = $6) "
           "AND ($8::jsonb IS NULL OR mdm_quality_within(mdm_quality_entity(e.id), $8::jsonb)) "
           "ORDER BY e.id LIMIT $7",
    8};

/* {"name": [value]} (list) or {"name": value}, as JSON text for a containment query. */
static char *contains(const char *name, const char *value, bool list)
{
    json_t *v = json_string(value);
    json_t *o = json_object();
    json_object_set_new(o, name, list ? json_pack("[o]", v) : v);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

mdm_status mdm_query_search(mdm_db *db, const mdm_query_filter *q, json_t **out, mdm_err *err)
{
    *out = NULL;
    if (!q->email && !q->phone && !q->loyalty_id && !q->name && !q->birth_date)
        return mdm_err_set(err, MDM_EINVAL,
                           "give at least one of email, phone, loyalty_id, name, birth_date");
    if (q->limit < 0 || q->limit > 1000)
        return mdm_err_set_field(err, MDM_EINVAL, "/limit", "limit must be 1..1000");
    char *em = NULL, *ly = NULL, *nm = NULL, *em_key = NULL, *ph_key = NULL, *ly_key = NULL;
    char ph[24] = "";
    mdm_status st = MDM_OK;
    if (q->email) {
        em = mdm_engine_email_key(q->email);
        if (!em) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/email", "email is not an e-mail address");
            goto out_free;
        }
        em_key = contains("emails", em, true);
    }
    if (q->phone) {
        if (!mdm_engine_phone_key(q->phone, NULL, ph)) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/phone", "phone is not a phone number");
            goto out_free;
        }
        ph_key = contains("phones", ph, true);
    }
    if (q->loyalty_id) {
        ly = mdm_engine_text_key(q->loyalty_id);
        size_t o = 0;
        for (size_t i = 0; ly[i]; i++)
            if (ly[i] != ' ')
                ly[o++] = ly[i];
        ly[o] = '\0';
        ly_key = contains("loyalty_id", ly, false);
    }
    if (q->name) {
        nm = mdm_xstrdup(q->name);
        for (char *p = nm; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    if (q->birth_date && (strlen(q->birth_date) != 10 || q->birth_date[4] != '-')) {
        st = mdm_err_set_field(err, MDM_EINVAL, "/birth_date", "birth_date must be yyyy-mm-dd");
        goto out_free;
    }
    int limit = q->limit ? q->limit : 50;
    char after[32], lim[16];
    mdm_db_id(after, q->after);
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *p[8] = {after, em_key, ph_key, ly_key, nm, q->birth_date, lim, q->quality};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_search, p, &res, err)) != MDM_OK)
        goto out_free;
    json_t *items = json_array();
    int n = PQntuples(res);
    int64_t last = 0;
    for (int i = 0; i < n && i < limit; i++) {
        last = mdm_db_get_ll(res, i, "id", 0);
        json_array_append_new(items, search_item(res, i));
    }
    PQclear(res);
    *out = json_pack("{s:o, s:o}", "items", items, "next",
                     n > limit ? json_integer(last) : json_null());
out_free:
    free(em);
    free(ly);
    free(nm);
    free(em_key);
    free(ph_key);
    free(ly_key);
    return st;
}

/* Free-text search (mdm_query_find). $1 name tokens and $2 their nickname classes (in
 * the comparison form ingest stores in normalized.keys), $3 initials, $4 exact key probes
 * (containment documents for normalized.keys: e-mail, phone, loyalty id, postal code,
 * street line), $5 how many name tokens must match, $6 offset, $7 limit + 1, $8 bounds on
 * the golden record's data-quality scores (mdm_quality_within; NULL: none), tested on each
 * match before ranking. A name token
 * matches a golden record's last name (4), first name (3), nickname class (2), middle
 * name (1) or, from three letters, the start of a longer first or last name (1); a golden
 * record ranks by the tokens it matches, then initials, key probes and those weights.
 * Names are read from entity_name (migration 046, kept by mdm/golden.c): one row per
 * active golden record and name key of its members and pinned names, so a token is an
 * index-only range of entity_name_key whatever the number of source records behind it
 * (per source record, a first name alone took 11 s on 950,000 golden records), and the
 * initials are ranked from its primary key.
 * The statement runs under a generic plan, so its shape must leave PostgreSQL no choice
 * but index lookups whatever it guesses about the parameters:
 * - every probe is a LATERAL subquery of its token or document, each kind of name match
 *   its own UNION ALL branch: written as joins, PostgreSQL drove them from a scan of the
 *   whole table even for a phone search with no token;
 * - a key probe's record's golden record is a scalar subquery (one probe of
 *   membership_one_active, then the entity's primary key for its status), computed once
 *   per record in a MATERIALIZED CTE: as joins, the planner hashed all of membership or
 *   every entity, and inlined, the subquery ran three times per record;
 * - only the page's rows read their golden record, each by its primary key. */
/* The active golden record holding source record X (NULL when none). */
#define ENTITY_OF(x)                                                                               \
    "(SELECT m.entity_id FROM membership m JOIN entity e ON e.id = m.entity_id"                    \
    " AND e.status = 'active' WHERE m.record_id = " x " AND m.active)"
/* clang-format off */
static const mdm_db_stmt stmt_find = {
    "golden_find",
    "WITH tok AS (SELECT t, c, i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, c, "
    "i)),"
    " name_hits AS (SELECT r.entity_id, tok.i, max(r.s) AS s FROM tok CROSS JOIN LATERAL ("
    "   SELECT n.entity_id, n.kind AS s FROM entity_name n"
    "     WHERE n.key = tok.t AND n.kind IN (4, 3, 1)"
    "   UNION ALL SELECT n.entity_id, 2 FROM entity_name n"
    "     WHERE n.key = tok.c AND n.kind = 2"
    "   UNION ALL SELECT n.entity_id, 1 FROM entity_name n"
    "     WHERE length(tok.t) >= 3 AND n.key >= tok.t AND n.key < (tok.t || chr(1114111))"
    "       AND n.kind IN (4, 3)) r"
    "   GROUP BY r.entity_id, tok.i),"
    " names AS (SELECT entity_id, count(*) AS n, sum(s) AS s FROM name_hits GROUP BY entity_id"
    "   HAVING count(*) >= $5),"
    " key_recs AS MATERIALIZED (SELECT d.i, " ENTITY_OF("s.id") " AS entity_id"
    "   FROM unnest($4::jsonb[]) WITH ORDINALITY AS d(doc, i) CROSS JOIN LATERAL ("
    "     SELECT s.id FROM source_record s WHERE s.normalized->'keys' @> d.doc OFFSET 0) s),"
    " key_hits AS (SELECT entity_id, count(DISTINCT i) AS n FROM key_recs"
    "   WHERE entity_id IS NOT NULL GROUP BY entity_id),"
    " hits AS (SELECT coalesce(n.entity_id, k.entity_id) AS entity_id, coalesce(n.n, 0) AS nn,"
    "   coalesce(n.s, 0) AS ns, coalesce(k.n, 0) AS nk"
    "   FROM names n FULL JOIN key_hits k ON k.entity_id = n.entity_id"
    "   WHERE (cardinality($1::text[]) = 0 OR n.entity_id IS NOT NULL)"
    "     AND ($8::jsonb IS NULL OR mdm_quality_within("
    "       mdm_quality_entity(coalesce(n.entity_id, k.entity_id)), $8::jsonb))),"
    " ranked AS (SELECT h.*, CASE WHEN cardinality($3::text[]) = 0 THEN 0 ELSE"
    "   (SELECT count(*) FROM unnest($3::text[]) ini WHERE EXISTS ("
    "     SELECT 1 FROM entity_name n WHERE n.entity_id = h.entity_id AND n.kind = 3"
    "       AND n.key >= ini AND n.key < (ini || chr(1114111)))) END AS ni FROM hits h),"
    " page AS (SELECT r.entity_id, r.nn + r.nk AS matched, r.ni, r.ns, count(*) OVER () AS total"
    "   FROM ranked r"
    "   ORDER BY r.nk + r.nn DESC, r.ni DESC, r.ns DESC, r.entity_id OFFSET $6 LIMIT $7)"
    " SELECT e.id, e.version, e.golden, mdm_quality_entity(e.id) AS quality, p.matched, p.total"
    " FROM page p CROSS JOIN LATERAL ("
    "   SELECT e.id, e.version, e.golden FROM entity e WHERE e.id = p.entity_id OFFSET 0) e"
    " ORDER BY p.matched DESC, p.ni DESC, p.ns DESC, p.entity_id",
    8};
/* clang-format on */
#undef ENTITY_OF

/* One search in its own transaction with JIT compilation off: the generic plan's cost
 * estimate (every probe guessed at 1% of the records) is far above jit_above_cost, and
 * compiling the plan took 1.5-2 s of the search's 1.5-2.3 s on 263,000 records (10-110 ms
 * without). */
typedef struct find_call {
    const char *const *params;
    PGresult *res;
} find_call;

static mdm_status find_tx(mdm_db *db, void *ctx, mdm_err *err)
{
    find_call *fc = ctx;
    PQclear(fc->res); /* a retried transaction's earlier result */
    fc->res = NULL;
    mdm_status st = mdm_db_command(db, "SET LOCAL jit = off", err);
    if (st != MDM_OK)
        return st;
    return mdm_db_exec(db, &stmt_find, fc->params, &fc->res, err);
}

/* The containment document {"addresses": [{name: value}]} (JSON text). */
static char *address_probe(const char *name, const char *value)
{
    json_t *o = json_pack("{s:[{s:s}]}", "addresses", name, value);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static const char *array_end(mdm_buf *a)
{
    if (a->len == 0)
        mdm_buf_puts(a, "{}");
    else
        mdm_buf_putc(a, '}');
    return a->data;
}

static bool has_digit(const char *s)
{
    for (; *s; s++)
        if (*s >= '0' && *s <= '9')
            return true;
    return false;
}

mdm_status mdm_query_find(mdm_db *db, const char *q, const char *default_country,
                          const char *quality, int offset, int limit, json_t **out, mdm_err *err)
{
    *out = NULL;
    if (!q || !*q)
        return mdm_err_set_field(err, MDM_EINVAL, "/q", "q is empty");
    if (strlen(q) > 200)
        return mdm_err_set_field(err, MDM_EINVAL, "/q", "q is longer than 200 characters");
    if (!mdm_norm_utf8_valid(q, strlen(q)))
        return mdm_err_set_field(err, MDM_EINVAL, "/q", "q is not valid UTF-8");
    if (limit < 1 || limit > 1000 || offset < 0 || offset > 100000)
        return mdm_err_set_field(err, MDM_EINVAL, "/limit",
                                 "limit must be 1..1000, offset 0..100000");
    mdm_buf toks = {0}, canons = {0}, inits = {0}, probes = {0};
    char *probe_text[4] = {0};
    size_t np = 0;
    int ntok = 0; /* name tokens of two letters or more */
    mdm_status st = MDM_OK;
    const char *country = default_country ? default_country : "US";
    if (strchr(q, '@')) { /* an e-mail address */
        char *em = mdm_engine_email_key(q);
        if (em)
            probe_text[np++] = contains("emails", em, true);
        free(em);
    } else if (has_digit(q)) { /* phone, loyalty id, postal code or street address */
        char ph[24];
        if (mdm_engine_phone_key(q, country, ph))
            probe_text[np++] = contains("phones", ph, true);
        char *ly = mdm_engine_text_key(q);
        size_t o = 0;
        for (size_t i = 0; ly[i]; i++)
            if (ly[i] != ' ')
                ly[o++] = ly[i];
        ly[o] = '\0';
        if (*ly)
            probe_text[np++] = contains("loyalty_id", ly, false);
        free(ly);
        mdm_buf pc = {0};
        mdm_err ignored;
        if (strlen(q) <= 12 && mdm_norm_postal_code(q, NULL, &pc, &ignored) == MDM_OK && pc.data) {
            if (strlen(pc.data) == 10 && pc.data[5] == '-')
                pc.data[5] = '\0'; /* ZIP+4: the stored key is the ZIP */
            probe_text[np++] = address_probe("postal", pc.data);
        }
        mdm_buf_free(&pc);
        mdm_norm *n = mdm_engine_norm_acquire(err);
        if (!n) {
            st = err ? err->code : MDM_EINTERNAL;
            goto out;
        }
        mdm_arena *a = mdm_arena_new(1024);
        mdm_address_norm an;
        if (mdm_norm_address(n, q, NULL, NULL, NULL, NULL, NULL, country, a, &an, &ignored) ==
                MDM_OK &&
            *an.line)
            probe_text[np++] = address_probe("line1", an.line);
        mdm_arena_free(a);
        mdm_engine_norm_release(n);
    } else { /* a name, in any order, "Last, First", with initials or parts */
        char *key = mdm_engine_text_key(q);
        char *save = NULL;
        for (char *t = strtok_r(key, " ,", &save); t && ntok < 8; t = strtok_r(NULL, " ,", &save)) {
            if (!t[1]) {
                mdm_db_array_add(&inits, t);
                continue;
            }
            mdm_db_array_add(&toks, t);
            mdm_db_array_add(&canons, mdm_norm_nickname_canon(NULL, t));
            ntok++;
        }
        free(key);
        if (!ntok) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/q",
                                   "give a name of two letters or more (initials alone find "
                                   "too much)");
            goto out;
        }
    }
    for (size_t i = 0; i < np; i++)
        mdm_db_array_add(&probes, probe_text[i]);
    {
        char need[16], off[16], lim[16];
        snprintf(need, sizeof need, "%d", ntok >= 3 ? ntok - 1 : ntok);
        snprintf(off, sizeof off, "%d", offset);
        snprintf(lim, sizeof lim, "%d", limit + 1);
        const char *p[8] = {array_end(&toks),
                            array_end(&canons),
                            array_end(&inits),
                            array_end(&probes),
                            need,
                            off,
                            lim,
                            quality};
        find_call fc = {p, NULL};
        if ((st = mdm_db_run_tx(db, "golden_find", find_tx, &fc, err)) != MDM_OK) {
            PQclear(fc.res);
            goto out;
        }
        PGresult *res = fc.res;
        json_t *items = json_array();
        int n = PQntuples(res);
        for (int i = 0; i < n && i < limit; i++)
            json_array_append_new(items, search_item(res, i));
        long long total = n ? mdm_db_get_ll(res, 0, "total", 0) : 0;
        PQclear(res);
        *out = json_pack("{s:o, s:o, s:I}", "items", items, "next",
                         n > limit ? json_integer(offset + limit) : json_null(), "total",
                         (json_int_t)(n ? total : offset));
    }
out:
    for (size_t i = 0; i < np; i++)
        free(probe_text[i]);
    mdm_buf_free(&toks);
    mdm_buf_free(&canons);
    mdm_buf_free(&inits);
    mdm_buf_free(&probes);
    return st;
}

/* What a merge of $1 and $2 would read: the members of both (as RECOMPUTE_READ reads
 * them) and the pins the survivor would have (its own, then the other's it lacks). */
static const mdm_db_stmt stmt_preview_read = {
    "golden_preview_read",
    "SELECT (SELECT coalesce(json_agg(json_build_object('id', sr.id, 'source', sr.source,"
    " 'source_key', sr.source_key, 'normalized', sr.normalized, 'trust', ss.trust,"
    " 'upd', " MDM_GOLDEN_CHANGE_TIME ") ORDER BY sr.id), '[]')"
    " FROM membership m JOIN source_record sr ON sr.id = m.record_id"
    " JOIN source_system ss ON ss.code = sr.source"
    " WHERE m.entity_id IN ($1, $2) AND m.active)::text AS members,"
    " (SELECT coalesce(json_object_agg(attr, value), '{}') FROM (SELECT DISTINCT ON (attr)"
    "   attr, value FROM golden_pin WHERE entity_id IN ($1, $2)"
    "   ORDER BY attr, entity_id = least($1::bigint, $2::bigint) DESC) p)::text AS pins,"
    " (SELECT count(*) FROM entity WHERE id IN ($1, $2) AND status = 'active') AS active",
    2};

mdm_status mdm_query_merge_preview(mdm_db *db, const mdm_engine *ctx, int64_t a, int64_t b,
                                   json_t **out, mdm_err *err)
{
    *out = NULL;
    if (a == b)
        return mdm_err_set_field(err, MDM_EINVAL, "/other", "an entity cannot merge with itself");
    char as[32], bs[32];
    mdm_db_id(as, a);
    mdm_db_id(bs, b);
    const char *p[2] = {as, bs};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_preview_read, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (mdm_db_get_ll(res, 0, "active", 0) != 2) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "entities %lld and %lld are not both active",
                           (long long)a, (long long)b);
    }
    json_t *members = json_loads(mdm_db_get(res, 0, "members", "[]"), 0, NULL);
    json_t *pins = json_loads(mdm_db_get(res, 0, "pins", "{}"), 0, NULL);
    PQclear(res);
    size_t n = json_array_size(members);
    mdm_survive_member *mem = mdm_xcalloc(n ? n : 1, sizeof *mem);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(members, i);
        mem[i].record_id = (int64_t)json_integer_value(json_object_get(m, "id"));
        mem[i].source = json_string_value(json_object_get(m, "source"));
        mem[i].source_key = json_string_value(json_object_get(m, "source_key"));
        mem[i].canonical = json_object_get(m, "normalized");
        mem[i].trust = json_object_get(m, "trust");
        mem[i].trust_default = 50;
        mem[i].updated_at = json_string_value(json_object_get(m, "upd"));
    }
    json_t *golden = NULL, *lineage = NULL;
    mdm_survive_compute(mdm_engine_survive(ctx), mem, n, pins, &golden, &lineage);
    free(mem);
    json_decref(members);
    json_decref(pins);
    *out = json_pack("{s:I, s:I, s:I, s:o, s:o}", "survivor", (json_int_t)(a < b ? a : b),
                     "retired", (json_int_t)(a < b ? b : a), "records", (json_int_t)n, "golden",
                     golden, "lineage", lineage);
    return MDM_OK;
}

static const mdm_db_stmt stmt_member_records = {
    "golden_member_records",
    "SELECT coalesce(json_agg(json_build_object('record_id', s.id, 'source', s.source,"
    " 'source_name', ss.name, 'source_key', s.source_key,"
    " 'source_updated_at', mdm_ts(s.source_updated_at), 'received_at', mdm_ts(s.received_at),"
    " 'linked_at', mdm_ts(m.linked_at),"
    " 'fields', s.normalized - 'keys' - 'source' - 'source_key' - 'issues') ORDER BY s.id),"
    " '[]'::json)::text AS j"
    " FROM membership m JOIN source_record s ON s.id = m.record_id"
    " LEFT JOIN source_system ss ON ss.code = s.source"
    " WHERE m.entity_id = $1 AND m.active",
    1};

mdm_status mdm_query_member_records(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char eid[32];
    mdm_db_id(eid, id);
    const char *p[1] = {eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_member_records, p, &res, err);
    if (st != MDM_OK)
        return st;
    *out = json_loads(mdm_db_get(res, 0, "j", "[]"), 0, NULL);
    PQclear(res);
    if (!*out)
        *out = json_array();
    return MDM_OK;
}

static const mdm_db_stmt stmt_hist_versions = {
    "golden_hist_versions",
    "SELECT version, golden, reason, mdm_ts(created_at) AS created_at FROM entity_version "
    "WHERE entity_id = $1 "
    "ORDER BY version DESC LIMIT 500",
    1};

static const mdm_db_stmt stmt_hist_events = {
    "golden_hist_events",
    "SELECT l.id, l.action, l.method, l.entity_id, l.record_id, l.other_entity_id, l.probability,"
    " l.rule, l.actor, l.reason, mdm_ts(l.created_at) AS created_at, s.id AS snapshot_id,"
    " t.id AS split_id, mdm_ts(coalesce(s.undone_at, t.undone_at)) AS undone_at"
    " FROM link_event l LEFT JOIN LATERAL (SELECT s.id, s.undone_at FROM merge_snapshot s"
    "   WHERE l.action = 'merge' AND s.survivor_id = l.entity_id"
    "     AND s.retired_id = l.other_entity_id AND s.created_at <= l.created_at"
    "   ORDER BY s.id DESC LIMIT 1) s ON true"
    " LEFT JOIN LATERAL (SELECT t.id, t.undone_at FROM split_snapshot t"
    "   WHERE l.action = 'split' AND t.entity_id = l.entity_id"
    "     AND t.other_id = l.other_entity_id AND t.created_at <= l.created_at"
    "   ORDER BY t.id DESC LIMIT 1) t ON true"
    " WHERE l.entity_id = $1 OR l.other_entity_id = $1 ORDER BY l.id DESC LIMIT 500",
    1};

mdm_status mdm_query_history(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char eid[32];
    mdm_db_id(eid, id);
    const char *p[1] = {eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_hist_versions, p, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *versions = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(versions,
                              json_pack("{s:i, s:o, s:s, s:s}", "version",
                                        (int)mdm_db_get_ll(res, i, "version", 0), "golden",
                                        json_or_null(mdm_db_get(res, i, "golden", NULL)), "reason",
                                        mdm_db_get(res, i, "reason", ""), "created_at",
                                        mdm_db_get(res, i, "created_at", "")));
    PQclear(res);
    if ((st = mdm_db_exec(db, &stmt_hist_events, p, &res, err)) != MDM_OK) {
        json_decref(versions);
        return st;
    }
    json_t *events = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *e = json_pack(
            "{s:I, s:s, s:s, s:I, s:s, s:s}", "id", (json_int_t)mdm_db_get_ll(res, i, "id", 0),
            "action", mdm_db_get(res, i, "action", ""), "method", mdm_db_get(res, i, "method", ""),
            "entity_id", (json_int_t)mdm_db_get_ll(res, i, "entity_id", 0), "actor",
            mdm_db_get(res, i, "actor", ""), "created_at", mdm_db_get(res, i, "created_at", ""));
        long long r = mdm_db_get_ll(res, i, "record_id", 0),
                  o = mdm_db_get_ll(res, i, "other_entity_id", 0);
        json_object_set_new(e, "record_id", r ? json_integer(r) : json_null());
        json_object_set_new(e, "other_entity_id", o ? json_integer(o) : json_null());
        const char *pr = mdm_db_get(res, i, "probability", NULL);
        json_object_set_new(e, "probability", pr ? json_real(strtod(pr, NULL)) : json_null());
        json_object_set_new(e, "rule", str_or_null(mdm_db_get(res, i, "rule", NULL)));
        json_object_set_new(e, "reason", str_or_null(mdm_db_get(res, i, "reason", NULL)));
        long long snap = mdm_db_get_ll(res, i, "snapshot_id", 0);
        if (snap) { /* a merge: the snapshot that undoes it, and whether it was undone */
            json_object_set_new(e, "snapshot_id", json_integer(snap));
            json_object_set_new(e, "undone_at", str_or_null(mdm_db_get(res, i, "undone_at", NULL)));
        }
        long long split = mdm_db_get_ll(res, i, "split_id", 0);
        if (split) { /* a steward's split: the snapshot that undoes it, and whether it was */
            json_object_set_new(e, "split_id", json_integer(split));
            json_object_set_new(e, "undone_at", str_or_null(mdm_db_get(res, i, "undone_at", NULL)));
        }
        json_array_append_new(events, e);
    }
    PQclear(res);
    if (json_array_size(versions) == 0 && json_array_size(events) == 0) {
        json_decref(versions);
        json_decref(events);
        return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)id);
    }
    *out =
        json_pack("{s:I, s:o, s:o}", "id", (json_int_t)id, "versions", versions, "events", events);
    return MDM_OK;
}

mdm_status mdm_query_match(mdm_db *db, const mdm_engine *ctx, const char *source,
                           const json_t *record, int limit, json_t **out, mdm_err *err)
{
    *out = NULL;
    const mdm_source *src = NULL;
    if (source) {
        src = mdm_sources_find(mdm_engine_sources(ctx), source);
        if (!src)
            return mdm_err_set(err, MDM_ENOTFOUND, "unknown source \"%s\"", source);
    }
    if (!json_is_object(record))
        return mdm_err_set_field(err, MDM_EINVAL, "", "a record must be a JSON object");
    json_t *copy = json_deep_copy(record);
    if (!src || src->nfields == 0) {
        if (!json_object_get(copy, "source_key"))
            json_object_set_new(copy, "source_key", json_string("match"));
    } else if (!json_object_get(copy, src->key_column ? src->key_column : "source_key")) {
        json_object_set_new(copy, src->key_column ? src->key_column : "source_key",
                            json_string("match"));
    }
    json_t *canon = NULL, *errors = NULL;
    mdm_status st = mdm_engine_canonicalize(ctx, src, copy, &canon, &errors, err);
    json_decref(copy);
    if (st != MDM_OK)
        return st;
    if (errors) {
        json_t *e0 = json_array_get(errors, 0);
        st = mdm_err_set_field(err, MDM_EINVAL, json_string_value(json_object_get(e0, "pointer")),
                               "%s %s", json_string_value(json_object_get(e0, "field")),
                               json_string_value(json_object_get(e0, "reason")));
        json_decref(errors);
        return st;
    }
    json_t *cands = NULL;
    st = mdm_resolve_candidates(db, ctx, canon, 0, limit, &cands, err);
    json_decref(canon);
    if (st != MDM_OK)
        return st;
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    size_t i;
    json_t *c;
    json_array_foreach(cands, i, c)
    {
        double p = json_real_value(json_object_get(c, "probability"));
        bool conflict = json_is_true(json_object_get(c, "strong_conflict"));
        json_object_set_new(c, "decision",
                            json_string(p >= rs->auto_link && !conflict ? "match"
                                        : p >= rs->review               ? "review"
                                                                        : "no_match"));
    }
    *out = json_pack("{s:o}", "candidates", cands);
    return MDM_OK;
}

/* ---- export ---------------------------------------------------------------------- */

static const mdm_db_stmt stmt_export = {
    "golden_export",
    "SELECT e.id, e.version, e.golden, "
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('source', sr.source, 'source_key', "
    "sr.source_key) ORDER BY sr.source, sr.source_key), '[]'::jsonb) FROM membership m "
    "JOIN source_record sr ON sr.id = m.record_id WHERE m.entity_id = e.id AND m.active) AS xrefs, "
    "mdm_quality_entity(e.id) AS quality "
    "FROM entity e WHERE e.status = 'active' AND e.id > $1 ORDER BY e.id LIMIT 1000",
    1};

/* The golden CSV holds what the NDJSON holds (docs/CLI.md, Golden export): id, version,
 * one column per golden scalar (mdm_survive_scalars), then the lists (emails, phones, addresses),
 * attributes and xrefs as JSON text, one record per CRLF-ended line (RFC 4180, like the consent
 * audit). Scalars are customer data: formula cells neutralized, reversibly (common/csvout.h). */
static const char *const golden_json_columns[] = {"emails", "phones", "addresses", "attributes",
                                                  "xrefs"};
/* the data-quality scores (sql/056_quality_scores.sql), one column each after xrefs */
static const char *const golden_quality_columns[] = {"completeness", "validity", "consistency",
                                                     "freshness", "freshness_days"};

static void csv_header(FILE *f)
{
    fputs("id,version", f);
    for (size_t k = 0; mdm_survive_scalars[k]; k++)
        fprintf(f, ",%s", mdm_survive_scalars[k]);
    for (size_t k = 0; k < sizeof golden_json_columns / sizeof *golden_json_columns; k++)
        fprintf(f, ",%s", golden_json_columns[k]);
    for (size_t k = 0; k < sizeof golden_quality_columns / sizeof *golden_quality_columns; k++)
        fprintf(f, ",%s", golden_quality_columns[k]);
    fputs("\r\n", f);
}

/* A JSON cell: compact, keys sorted as in the NDJSON; empty when absent. It starts with
 * '[' or '{', so it is never a formula. */
static void csv_json(FILE *f, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    mdm_csvout_fput(f, s);
    free(s);
}

/* A score: a number as PostgreSQL printed it (three decimals; whole days), empty when null. */
static void csv_number(FILE *f, const json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        fprintf(f, "%.3f", json_real_value(v));
}

static void csv_row(FILE *f, int64_t id, int version, const json_t *golden, const json_t *xrefs,
                    const json_t *quality)
{
    fprintf(f, "%lld,%d", (long long)id, version);
    for (size_t k = 0; mdm_survive_scalars[k]; k++) {
        fputc(',', f);
        mdm_csvout_fput(f, json_string_value(json_object_get(golden, mdm_survive_scalars[k])));
    }
    for (size_t k = 0; k + 1 < sizeof golden_json_columns / sizeof *golden_json_columns; k++) {
        fputc(',', f);
        csv_json(f, json_object_get(golden, golden_json_columns[k]));
    }
    fputc(',', f);
    csv_json(f, xrefs);
    for (size_t k = 0; k < sizeof golden_quality_columns / sizeof *golden_quality_columns; k++) {
        fputc(',', f);
        csv_number(f, json_object_get(quality, golden_quality_columns[k]));
    }
    fputs("\r\n", f);
}

static mdm_status export_rows(mdm_db *db, const char *format, FILE *f, long *count, mdm_err *err)
{
    bool csv;
    if (format && !strcmp(format, "csv"))
        csv = true;
    else if (format && !strcmp(format, "ndjson"))
        csv = false;
    else
        return mdm_err_set_field(err, MDM_EINVAL, "/format", "format must be ndjson or csv");
    if (csv)
        csv_header(f);
    long n = 0;
    int64_t after = 0;
    for (;;) {
        char a[32];
        mdm_db_id(a, after);
        const char *p[1] = {a};
        PGresult *res = NULL;
        mdm_status st = mdm_db_exec(db, &stmt_export, p, &res, err);
        if (st != MDM_OK)
            return st;
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            after = mdm_db_get_ll(res, i, "id", 0);
            json_t *golden = json_or_null(mdm_db_get(res, i, "golden", NULL));
            json_t *xrefs = json_or_null(mdm_db_get(res, i, "xrefs", NULL));
            json_t *quality = json_or_null(mdm_db_get(res, i, "quality", NULL));
            int version = (int)mdm_db_get_ll(res, i, "version", 0);
            if (csv) {
                csv_row(f, after, version, golden, xrefs, quality);
            } else {
                json_t *line = json_pack("{s:I, s:i, s:O, s:O}", "id", (json_int_t)after, "version",
                                         version, "golden", golden, "xrefs", xrefs);
                char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
                /* the scores last, as three-decimal numbers read as PostgreSQL wrote
                 * them (0.833; jansson prints 17 significant digits by default) */
                char *q = json_dumps(quality, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                                                  JSON_REAL_PRECISION(15));
                size_t len = s ? strlen(s) : 0;
                if (len > 1 && q)
                    fprintf(f, "%.*s,\"quality\":%s}\n", (int)(len - 1), s, q);
                free(s);
                free(q);
                json_decref(line);
            }
            json_decref(golden);
            json_decref(xrefs);
            json_decref(quality);
            n++;
        }
        PQclear(res);
        if (rows < 1000)
            break;
    }
    if (count)
        *count = n;
    if (ferror(f))
        return mdm_err_set(err, MDM_EIO, "cannot write the export");
    return MDM_OK;
}

mdm_status mdm_query_export(mdm_db *db, const char *format, FILE *f, long *count, mdm_err *err)
{
    /* one snapshot for the whole export */
    mdm_status st = mdm_db_command(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (st == MDM_OK)
        st = export_rows(db, format, f, count, err);
    if (st == MDM_OK)
        return mdm_db_command(db, "COMMIT", err);
    mdm_err ignored;
    if (mdm_db_command(db, "ROLLBACK", &ignored) != MDM_OK)
        mdm_log(MDM_LOG_DEBUG, "event=export_rollback_failed msg=\"%s\"", ignored.msg);
    return st;
}
