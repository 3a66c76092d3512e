/* Survivorship rules. Pure: members in, golden values and lineage out. Every choice has
 * a total order (rule criterion, then trust, recency, record id), so the same members
 * always give the same golden record whatever order they come in. */
#include "mdm/survive.h"

#include "common/jsonin.h"
#include "common/mem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char *const mdm_survive_scalars[] = {
    "first_name", "middle_name", "last_name",      "full_name",  "prefix",
    "suffix",     "birth_date",  "gender",         "loyalty_id", "customer_number",
    "tax_id",     "national_id", "account_status", "segment",    NULL};
const char *const mdm_survive_lists[] = {"emails", "phones", "addresses", NULL};

static const char *const rule_names[] = {
    "source_trust", "most_recent", "most_frequent", "most_complete", "longest", "union", NULL};

const char *mdm_survive_rule_name(mdm_survive_rule r)
{
    return (unsigned)r <= MDM_SURVIVE_UNION ? rule_names[r] : "?";
}

struct mdm_survive_config {
    mdm_survive_rule def;
    json_t *attrs; /* attr -> integer rule */
};

static bool known_attr(const char *a)
{
    for (size_t i = 0; mdm_survive_scalars[i]; i++)
        if (!strcmp(a, mdm_survive_scalars[i]))
            return true;
    for (size_t i = 0; mdm_survive_lists[i]; i++)
        if (!strcmp(a, mdm_survive_lists[i]))
            return true;
    return !strncmp(a, "attributes.", 11) && a[11];
}

static bool is_list(const char *a)
{
    for (size_t i = 0; mdm_survive_lists[i]; i++)
        if (!strcmp(a, mdm_survive_lists[i]))
            return true;
    return false;
}

mdm_survive_config *mdm_survive_config_parse(const json_t *section, mdm_err *err)
{
    mdm_survive_config *c = mdm_xcalloc(1, sizeof *c);
    c->def = MDM_SURVIVE_SOURCE_TRUST;
    c->attrs = json_object();
    /* defaults per attribute */
    json_object_set_new(c->attrs, "birth_date", json_integer(MDM_SURVIVE_MOST_FREQUENT));
    json_object_set_new(c->attrs, "gender", json_integer(MDM_SURVIVE_MOST_RECENT));
    json_object_set_new(c->attrs, "account_status", json_integer(MDM_SURVIVE_MOST_RECENT));
    json_object_set_new(c->attrs, "segment", json_integer(MDM_SURVIVE_MOST_RECENT));
    for (size_t i = 0; mdm_survive_lists[i]; i++)
        json_object_set_new(c->attrs, mdm_survive_lists[i], json_integer(MDM_SURVIVE_UNION));
    static const char *const known[] = {"default", "attributes", NULL};
    mdm_jin in, attrs;
    int def = (int)c->def;
    if (!mdm_jin_open(&in, section, "survivorship", MDM_EINVAL, err) ||
        !mdm_jin_known(&in, known) || !mdm_jin_choice(&in, "default", rule_names, &def) ||
        !mdm_jin_member(&attrs, &in, "attributes"))
        goto out_free;
    if (def == MDM_SURVIVE_UNION) {
        mdm_jin_fail(&in, "default", "a rule for one value (union applies to lists only)");
        goto out_free;
    }
    c->def = (mdm_survive_rule)def;
    const char *a;
    json_t *rv;
    json_object_foreach((json_t *)attrs.obj, a, rv)
    {
        int r = -1;
        if (!known_attr(a)) {
            mdm_jin_fail(&attrs, a, "named after a canonical attribute or attributes.NAME");
            goto out_free;
        }
        if (!mdm_jin_choice(&attrs, a, rule_names, &r))
            goto out_free;
        if (r == MDM_SURVIVE_UNION && !is_list(a)) {
            mdm_jin_fail(&attrs, a,
                         "a rule for one value (union applies to emails, phones and "
                         "addresses only)");
            goto out_free;
        }
        if (r >= 0)
            json_object_set_new(c->attrs, a, json_integer(r));
    }
    return c;
out_free:
    mdm_survive_config_free(c);
    return NULL;
}

void mdm_survive_config_free(mdm_survive_config *c)
{
    if (!c)
        return;
    json_decref(c->attrs);
    free(c);
}

mdm_survive_rule mdm_survive_rule_for(const mdm_survive_config *c, const char *attr)
{
    const json_t *v = json_object_get(c->attrs, attr);
    if (v)
        return (mdm_survive_rule)json_integer_value(v);
    if (!strncmp(attr, "attributes.", 11))
        return MDM_SURVIVE_MOST_RECENT;
    return c->def;
}

/* ---- helpers ---- */

static int trust_of(const mdm_survive_member *m, const char *attr)
{
    if (m->trust) {
        const json_t *v = json_object_get(m->trust, attr);
        if (!v && is_list(attr)) {
            char single[32];
            snprintf(single, sizeof single, "%.*s", (int)strlen(attr) - 1, attr);
            if (!strcmp(single, "addresse"))
                single[7] = '\0';
            v = json_object_get(m->trust, single);
        }
        if (!v)
            v = json_object_get(m->trust, "*");
        if (json_is_integer(v))
            return (int)json_integer_value(v);
    }
    return m->trust_default;
}

/* Deterministic tie order: higher trust, then more recent, then smaller record id.
 * Negative when a comes first. */
static int tie_cmp(const mdm_survive_member *a, const mdm_survive_member *b, const char *attr)
{
    int ta = trust_of(a, attr), tb = trust_of(b, attr);
    if (ta != tb)
        return tb - ta;
    int c = strcmp(b->updated_at ? b->updated_at : "", a->updated_at ? a->updated_at : "");
    if (c)
        return c;
    return a->record_id < b->record_id ? -1 : a->record_id > b->record_id;
}

/* Value of attr in a canonical record (borrowed), NULL when absent or empty. */
static const json_t *value_of(const json_t *canon, const char *attr)
{
    const json_t *v;
    if (!strncmp(attr, "attributes.", 11))
        v = json_object_get(json_object_get(canon, "attributes"), attr + 11);
    else
        v = json_object_get(canon, attr);
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v) && json_string_length(v) == 0)
        return NULL;
    if (json_is_array(v) && json_array_size(v) == 0)
        return NULL;
    return v;
}

/* Comparison form of a scalar value: lower case, blanks collapsed. */
static char *fold(const json_t *v)
{
    char *s = json_is_string(v) ? mdm_xstrdup(json_string_value(v))
                                : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return mdm_xstrdup("");
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isspace(ch)) {
            space = o > 0;
            continue;
        }
        if (space)
            s[o++] = ' ';
        space = false;
        s[o++] = (char)tolower(ch);
    }
    s[o] = '\0';
    return s;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int filled_fields(const json_t *canon)
{
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)canon, k, v)
    {
        if (!strcmp(k, "keys") || !strcmp(k, "source") || !strcmp(k, "source_key") ||
            !strcmp(k, "source_updated_at"))
            continue;
        if ((json_is_string(v) && json_string_length(v)) ||
            (json_is_array(v) && json_array_size(v)) || (json_is_object(v) && json_object_size(v)))
            n++;
    }
    return n;
}

static int address_filled(const json_t *a)
{
    static const char *const f[] = {"line1",       "line2",   "city", "region",
                                    "postal_code", "country", NULL};
    int n = 0;
    for (size_t i = 0; f[i]; i++) {
        const json_t *v = json_object_get(a, f[i]);
        if (json_is_string(v) && json_string_length(v))
            n++;
    }
    return n;
}

/* Key identifying a list item for union. */
static char *item_key(const char *attr, const json_t *item)
{
    if (!strcmp(attr, "addresses")) {
        mdm_buf b = {0};
        static const char *const f[] = {"line1", "line2", "postal_code", "city", "country", NULL};
        for (size_t i = 0; f[i]; i++) {
            char *x = fold(json_object_get(item, f[i]) ? json_object_get(item, f[i]) : json_null());
            if (!json_object_get(item, f[i])) {
                free(x);
                x = mdm_xstrdup("");
            }
            mdm_buf_puts(&b, x);
            mdm_buf_putc(&b, '|');
            free(x);
        }
        return mdm_buf_steal(&b);
    }
    const json_t *v = json_object_get(item, "value");
    return v ? fold(v) : fold(item);
}

/* Members sorted by tie order for attr (indexes). */
typedef struct sort_ctx {
    const mdm_survive_member *m;
    const char *attr;
} sort_ctx;

static void order_members(const mdm_survive_member *m, size_t n, const char *attr, size_t *idx)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* insertion sort: member counts are small */
    for (size_t i = 1; i < n; i++) {
        size_t x = idx[i], j = i;
        while (j > 0 && tie_cmp(&m[x], &m[idx[j - 1]], attr) < 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
}

static void set_lineage(json_t *lineage, const char *attr, const char *rule, int64_t record_id,
                        const json_t *value)
{
    json_t *l = json_pack("{s:s, s:O}", "rule", rule, "value", value);
    json_object_set_new(l, "source_record_id", record_id ? json_integer(record_id) : json_null());
    json_object_set_new(lineage, attr, l);
}

static void put_golden(json_t *golden, const char *attr, json_t *value /* stolen */)
{
    if (!strncmp(attr, "attributes.", 11)) {
        json_t *a = json_object_get(golden, "attributes");
        if (!a) {
            a = json_object();
            json_object_set_new(golden, "attributes", a);
        }
        json_object_set_new(a, attr + 11, value);
    } else {
        json_object_set_new(golden, attr, value);
    }
}

static void survive_union(const char *attr, const mdm_survive_member *m, size_t n,
                          const size_t *idx, json_t *golden, json_t *lineage)
{
    json_t *items = json_array();
    json_t *keys = json_array();
    json_t *sources = json_array();
    for (size_t o = 0; o < n; o++) {
        const mdm_survive_member *mem = &m[idx[o]];
        const json_t *list = value_of(mem->canonical, attr);
        if (!json_is_array(list))
            continue;
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item)
        {
            char *k = item_key(attr, item);
            size_t found = (size_t)-1;
            for (size_t j = 0; j < json_array_size(keys); j++)
                if (!strcmp(json_string_value(json_array_get(keys, j)), k)) {
                    found = j;
                    break;
                }
            if (found == (size_t)-1) {
                json_array_append(items, item);
                json_array_append_new(keys, json_string(k));
                json_array_append_new(sources, json_pack("[I]", (json_int_t)mem->record_id));
            } else {
                json_t *s = json_array_get(sources, found);
                bool have = false;
                for (size_t j = 0; j < json_array_size(s); j++)
                    if (json_integer_value(json_array_get(s, j)) == mem->record_id)
                        have = true;
                if (!have)
                    json_array_append_new(s, json_integer(mem->record_id));
            }
            free(k);
        }
    }
    if (json_array_size(items)) {
        json_t *l = json_pack("{s:s, s:O, s:n, s:O}", "rule", "union", "value", items,
                              "source_record_id", "sources", sources);
        json_object_set_new(lineage, attr, l);
        put_golden(golden, attr, json_incref(items));
    }
    json_decref(items);
    json_decref(keys);
    json_decref(sources);
}

/* Picks the winning member for attr under rule; -1 when no member has a value. */
static long pick(mdm_survive_rule rule, const char *attr, const mdm_survive_member *m, size_t n,
                 const size_t *idx)
{
    long best = -1;
    double best_score = 0;
    for (size_t o = 0; o < n; o++) {
        const mdm_survive_member *mem = &m[idx[o]];
        const json_t *v = value_of(mem->canonical, attr);
        if (!v)
            continue;
        double score = 0;
        switch (rule) {
        case MDM_SURVIVE_SOURCE_TRUST:
            score = trust_of(mem, attr);
            break;
        case MDM_SURVIVE_MOST_RECENT:
            score = 0; /* idx is already in recency order within equal trust; see below */
            break;
        case MDM_SURVIVE_MOST_FREQUENT: {
            char *f = fold(v);
            for (size_t j = 0; j < n; j++) {
                const json_t *w = value_of(m[j].canonical, attr);
                if (!w)
                    continue;
                char *g = fold(w);
                if (!strcmp(f, g))
                    score += 1;
                free(g);
            }
            free(f);
            break;
        }
        case MDM_SURVIVE_MOST_COMPLETE:
            if (!strcmp(attr, "addresses")) {
                const json_t *a;
                size_t i;
                json_array_foreach(v, i, a)
                {
                    if (address_filled(a) > score)
                        score = address_filled(a);
                }
            } else {
                score = filled_fields(mem->canonical);
            }
            break;
        case MDM_SURVIVE_LONGEST:
            if (json_is_string(v))
                score = (double)utf8_len(json_string_value(v));
            else if (json_is_array(v))
                score = (double)json_array_size(v);
            break;
        case MDM_SURVIVE_UNION:
            break;
        }
        if (rule == MDM_SURVIVE_MOST_RECENT) {
            /* most recent first, then the tie order */
            if (best < 0) {
                best = (long)idx[o];
                continue;
            }
            const mdm_survive_member *b = &m[best];
            int c =
                strcmp(mem->updated_at ? mem->updated_at : "", b->updated_at ? b->updated_at : "");
            if (c > 0)
                best = (long)idx[o];
            continue;
        }
        if (best < 0 || score > best_score) {
            best = (long)idx[o];
            best_score = score;
        }
    }
    return best;
}

void mdm_survive_compute(const mdm_survive_config *c, const mdm_survive_member *members, size_t n,
                         const json_t *pins, json_t **golden, json_t **lineage)
{
    json_t *g = json_object(), *lin = json_object();
    size_t *idx = mdm_xcalloc(n ? n : 1, sizeof *idx);

    /* the attribute list: scalars, lists, and every attributes.KEY seen */
    json_t *attrs = json_array();
    for (size_t i = 0; mdm_survive_scalars[i]; i++)
        json_array_append_new(attrs, json_string(mdm_survive_scalars[i]));
    for (size_t i = 0; mdm_survive_lists[i]; i++)
        json_array_append_new(attrs, json_string(mdm_survive_lists[i]));
    json_t *extra = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(members[i].canonical, "attributes"), k, v)
        {
            char name[160];
            snprintf(name, sizeof name, "attributes.%s", k);
            json_object_set_new(extra, name, json_true());
        }
    }
    const char *k;
    json_t *v;
    /* json objects iterate in insertion order; sort names for determinism */
    json_t *names = json_array();
    json_object_foreach(extra, k, v)
    {
        json_array_append_new(names, json_string(k));
    }
    size_t nn = json_array_size(names);
    for (size_t i = 1; i < nn; i++)
        for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(names, j)),
                                           json_string_value(json_array_get(names, j - 1))) < 0;
             j--) {
            json_t *a = json_incref(json_array_get(names, j));
            json_array_set(names, j, json_array_get(names, j - 1));
            json_array_set_new(names, j - 1, a);
        }
    json_array_extend(attrs, names);
    json_decref(names);
    json_decref(extra);

    size_t ai;
    json_t *an;
    json_array_foreach(attrs, ai, an)
    {
        const char *attr = json_string_value(an);
        const json_t *pin = pins ? json_object_get(pins, attr) : NULL;
        if (pin) {
            put_golden(g, attr, json_deep_copy(pin));
            json_t *l =
                json_pack("{s:s, s:O, s:n}", "rule", "pin", "value", pin, "source_record_id");
            json_object_set_new(lin, attr, l);
            continue;
        }
        order_members(members, n, attr, idx);
        mdm_survive_rule rule = mdm_survive_rule_for(c, attr);
        if (rule == MDM_SURVIVE_UNION) {
            survive_union(attr, members, n, idx, g, lin);
            continue;
        }
        long w = pick(rule, attr, members, n, idx);
        if (w < 0)
            continue;
        const json_t *val = value_of(members[w].canonical, attr);
        if (!strcmp(attr, "addresses") && rule == MDM_SURVIVE_MOST_COMPLETE) {
            /* the single most complete address */
            const json_t *best = NULL, *a;
            size_t i;
            json_array_foreach(val, i, a)
            {
                if (!best || address_filled(a) > address_filled(best))
                    best = a;
            }
            json_t *one = json_pack("[O]", best);
            put_golden(g, attr, json_incref(one));
            set_lineage(lin, attr, mdm_survive_rule_name(rule), members[w].record_id, one);
            json_decref(one);
            continue;
        }
        put_golden(g, attr, json_deep_copy(val));
        set_lineage(lin, attr, mdm_survive_rule_name(rule), members[w].record_id, val);
    }
    json_decref(attrs);
    free(idx);
    /* full_name is derived from the surviving parts when there are any (a source's own
     * full name would otherwise survive beside parts chosen from other records) */
    if (!(pins && json_object_get(pins, "full_name")) &&
        (json_object_get(g, "first_name") || json_object_get(g, "last_name"))) {
        mdm_buf b = {0};
        static const char *const parts[] = {"prefix",    "first_name", "middle_name",
                                            "last_name", "suffix",     NULL};
        for (size_t i = 0; parts[i]; i++) {
            const char *pv = json_string_value(json_object_get(g, parts[i]));
            if (pv && *pv)
                mdm_buf_printf(&b, "%s%s", b.len ? " " : "", pv);
        }
        json_t *full = json_string(b.data ? b.data : "");
        json_object_set(g, "full_name", full);
        json_object_set_new(
            lin, "full_name",
            json_pack("{s:s, s:o, s:n}", "rule", "derived", "value", full, "source_record_id"));
        mdm_buf_free(&b);
    }
    *golden = g;
    *lineage = lin;
}
