/* Fellegi-Sunter record-pair model: configuration, features, scoring, training.
 *
 * A model is built from a JSON configuration (see docs/ARCHITECTURE.md, "Model
 * configuration") holding: input sources and their column mappings, comparisons,
 * blocking rules, decision thresholds, clustering guards; and optionally the trained
 * parameters. mdm_model_json() writes the same document back with the parameters, so a
 * trained model file is also a configuration.
 *
 * Features. A canonical record (record.h) is normalized once into an mdm_feat: comparison
 * keys of the name parts, nickname class, phonetic keys, birth date parts, e-mail keys,
 * E.164 phones, address parts and identifiers. Strings live in a caller-supplied arena
 * (or, in batch linkage, in shared intern tables so equal values share one pointer).
 *
 * Comparisons. Each comparison reads one feature and yields a level: 0 is the strongest
 * agreement, then weaker ones, and the last level is "different"; -1 is null (a side
 * is missing, or the value is known to be shared by many people), which weighs 0. The
 * comparison types and their levels:
 *   name     exact | nickname | jaro-winkler >= t0 | jw >= t1 or same phonetic key | different
 *   string   exact | jaro-winkler >= t0 | jw >= t1 | different
 *   tokens   exact | token-set >= t0 | token-set >= t1 | different
 *   date     exact | transposed or one field off | different
 *   email    exact key | one edit | different
 *   phone    exact E.164 | same last 7 digits or one digit off | different
 *   id       exact | one edit | different
 *   postal   exact | same first 3 characters | different
 *   exact    exact | different
 *   custom   exact | one level per configured {comparator, min} in order | different
 *            ("levels": [{"comparator": "jaro_winkler", "min": 0.95},
 *                        {"comparator": "levenshtein", "min": 0.8}], comparators of
 *            mdm_cmp_by_name; at most 4)
 * The match weight of a pair is the prior weight plus, for each non-null comparison,
 * log2(m/u) of its level; with term-frequency adjustment on a comparison, an exact
 * agreement on a value of relative frequency f weighs log2(m0 / max(f, u_floor))
 * instead, so agreeing on "smith" counts less than agreeing on "zbigniew".
 * probability = 2^w / (1 + 2^w).
 *
 * Training (no labels): u from at least a million random record pairs (seeded), m and the
 * prior by expectation-maximisation over the blocked candidate pairs (mdm_em_run works on
 * a histogram of comparison patterns, so it is fast whatever the number of pairs).
 *
 * Thread safety: a trained model is read-only and may be shared by any number of threads;
 * scoring allocates nothing. */
#ifndef MDM_MATCHING_MODEL_H
#define MDM_MATCHING_MODEL_H

#include "common/err.h"
#include "common/mem.h"
#include "matching/record.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- features ---- */

/* Fields of the normalized record a comparison or blocking key can read. */
#define MDM_FIELD_LIST(X)                                                                          \
    X(FIRST_NAME, "first_name")                                                                    \
    X(MIDDLE_NAME, "middle_name")                                                                  \
    X(LAST_NAME, "last_name")                                                                      \
    X(BIRTH_DATE, "birth_date")                                                                    \
    X(GENDER, "gender")                                                                            \
    X(EMAIL, "email")                                                                              \
    X(PHONE, "phone")                                                                              \
    X(ADDRESS, "address")                                                                          \
    X(HOUSE_NUMBER, "house_number")                                                                \
    X(STREET, "street")                                                                            \
    X(CITY, "city")                                                                                \
    X(REGION, "region")                                                                            \
    X(POSTAL_CODE, "postal_code")                                                                  \
    X(COUNTRY, "country")                                                                          \
    X(LOYALTY_ID, "loyalty_id")                                                                    \
    X(CUSTOMER_NUMBER, "customer_number")                                                          \
    X(TAX_ID, "tax_id")                                                                            \
    X(NATIONAL_ID, "national_id")

/* Mapped attributes a model compares or blocks on ("attributes.occupation"): each takes
 * one of these slots after the built-in fields, in the order the configuration names
 * them (mdm_model.attr_names). */
#define MDM_MAX_ATTR_FIELDS 4

typedef enum mdm_field {
#define MDM_X_FIELD(id, name) MDM_FIELD_##id,
    MDM_FIELD_LIST(MDM_X_FIELD)
#undef MDM_X_FIELD
        MDM_FIELD_ATTR0,
    MDM_FIELD_COUNT = MDM_FIELD_ATTR0 + MDM_MAX_ATTR_FIELDS
} mdm_field;

/* Name of a built-in field ("first_name"), "attribute" for an attribute slot; the
 * built-in field of a name, or -1 (attributes: mdm_model_field_name and the model's
 * configuration). */
const char *mdm_field_name(mdm_field f);
int mdm_field_parse(const char *name);

#define MDM_FEAT_MULTI 3 /* e-mails and phones kept per record */

typedef struct mdm_feat {
    /* one value per field, NULL when absent; EMAIL and PHONE use the lists below */
    const char *v[MDM_FIELD_COUNT];
    const char *emails[MDM_FEAT_MULTI];
    const char *phones[MDM_FEAT_MULTI];
    uint8_t n_emails, n_phones;
    const char *first_canon; /* nickname class of the first name (bob -> robert) */
    /* second spelling of the first and last name with transliteration digraphs
     * (mdm_norm_translit_digraphs: mueller for Müller, whose key is muller); NULL when the
     * name has no such letter. Equal to the other record's name or second spelling:
     * "exact"; blocking keys are made from both spellings. */
    const char *first_alt, *last_alt;
    const char *first_phon, *last_phon; /* double metaphone primary keys */
    int16_t by;                         /* birth year, 0 unknown */
    int8_t gen;      /* generation named by a suffix (mdm_norm_generation: 1 sr, 2 jr/ii, 3 iii
                      * ...), 0 none; from the suffix field or a suffix token of any name field */
    int8_t bm, bd;   /* birth month and day, 0 unknown */
    uint32_t source; /* index of the record's source */
    bool interned;   /* every string is interned: equal values share one pointer */
} mdm_feat;

/* Builds the features of r. Strings are allocated in a (which must outlive f).
 * default_country is used for phones and addresses without a country (NULL: "US").
 * norm is the calling thread's normalizer (matching/normalize.h). Never fails on bad
 * values: a value that cannot be normalized is left out (NULL). */
struct mdm_norm;
void mdm_feat_build(struct mdm_norm *norm, const mdm_record *r, const char *default_country,
                    mdm_arena *a, mdm_feat *f);

/* Value i of field in f: the i-th e-mail or phone (i < MDM_FEAT_MULTI), or for any other
 * field its one value at i == 0; NULL past the last. */
const char *mdm_feat_value(const mdm_feat *f, mdm_field field, int i);

/* Removes the value equal to v (by content) from field in f: from the e-mail or phone list
 * (v[field] then names the first one left), or the field's one value. Used to drop a value
 * shared by many people, in mdm link (matching/link.c) and the service's neighbourhoods
 * (mdm/recluster.c) alike. */
void mdm_feat_drop_value(mdm_feat *f, mdm_field field, const char *v);

/* The comparison key of one phone number: E.164 when valid for country (ISO alpha-2),
 * else its digits when there are at least 7, else NULL. In a. */
const char *mdm_feat_phone_key(struct mdm_norm *norm, const char *raw, const char *country,
                               mdm_arena *a);

/* mdm_feat_build with the phone keys taken from phone_fn (a memo of
 * mdm_feat_phone_key: libphonenumber is by far the slowest normalizer, so batch linkage
 * parses each distinct number once). */
typedef const char *(*mdm_phone_key_fn)(void *ctx, struct mdm_norm *norm, const char *raw,
                                        const char *country, mdm_arena *a);
void mdm_feat_build_with(struct mdm_norm *norm, const mdm_record *r, const char *default_country,
                         mdm_arena *a, mdm_feat *f, mdm_phone_key_fn phone_fn, void *phone_ctx);

/* mdm_feat_build_with with r's first address already normalized (addr0, NULL: not):
 * what mdm_norm_address gives for it under the default country. */
struct mdm_address_norm;
void mdm_feat_build_addr(struct mdm_norm *norm, const mdm_record *r, const char *default_country,
                         mdm_arena *a, mdm_feat *f, mdm_phone_key_fn phone_fn, void *phone_ctx,
                         const struct mdm_address_norm *addr0);

/* The field path of f in m's configuration: "first_name", "attributes.occupation". */
struct mdm_model;
const char *mdm_model_field_name(const struct mdm_model *m, mdm_field f);

/* Fills the attribute slots of f (MDM_FIELD_ATTR0...) from r's attributes that m compares
 * or blocks on, in comparison form (lower case, accents folded, blanks collapsed).
 * After mdm_feat_build*: both paths (mdm link, the service) call it. */
void mdm_feat_build_attrs(const struct mdm_model *m, struct mdm_norm *norm, const mdm_record *r,
                          mdm_arena *a, mdm_feat *f);

/* ---- configuration and model ---- */

typedef enum mdm_cmp_type {
    MDM_CT_NAME,
    MDM_CT_STRING,
    MDM_CT_TOKENS,
    MDM_CT_DATE,
    MDM_CT_EMAIL,
    MDM_CT_PHONE,
    MDM_CT_ID,
    MDM_CT_POSTAL,
    MDM_CT_EXACT,
    MDM_CT_CUSTOM, /* exact | the configured levels in order | different */
} mdm_cmp_type;

#define MDM_MAX_COMPARISONS 14
#define MDM_MAX_LEVELS      6
#define MDM_MAX_BLOCK_RULES 16
#define MDM_MAX_KEY_PARTS   4
#define MDM_MAX_SOURCES     32
#define MDM_GROUP_CAP_BELOW 1.0 /* bits under even odds + margin where a group's sum stops */
#define MDM_MAX_STRONG_IDS  4

/* Evidence groups of one pair (see mdm_model.groups). A contact point a household
 * shares (e-mail, phone, address) is evidence of one person only while the first names
 * can be one person's: when they are apart (mdm_model_names_apart) a contact comparison
 * outside every group counts in the "household" group instead, capped with the rest of
 * what a household shares. */
typedef struct mdm_groups {
    int of[MDM_MAX_COMPARISONS];    /* evidence group of comparison k, -1 none */
    int apart[MDM_MAX_COMPARISONS]; /* its group when the first names are apart, -1 none */
} mdm_groups;

/* Group of comparison k in a pair whose first names are apart or not. */
static inline int mdm_group_of(const mdm_groups *g, int k, bool apart)
{
    return g->of[k] >= 0 || !apart ? g->of[k] : g->apart[k];
}

typedef struct mdm_comparison {
    char *name;
    mdm_field field;
    mdm_cmp_type type;
    double t0, t1;    /* similarity thresholds of the close and far levels */
    bool tf;          /* term-frequency adjustment of exact agreement */
    bool shared_null; /* values held by many different people count as null */
    int group;        /* index into mdm_model.groups, -1 when in none */
    int nlevels;
    /* custom levels (type "custom"): level i+1 when sim_fn[i](a, b) >= sim_min[i] */
    int ncustom;
    double (*sim_fn[MDM_MAX_LEVELS])(const char *, const char *);
    char *sim_name[MDM_MAX_LEVELS]; /* comparator names, for the JSON document */
    double sim_min[MDM_MAX_LEVELS];
    double m[MDM_MAX_LEVELS], u[MDM_MAX_LEVELS]; /* trained probabilities */
} mdm_comparison;

/* Transformations of a field value for a blocking key. */
typedef enum mdm_key_fn {
    MDM_KEY_VALUE,    /* the comparison key itself */
    MDM_KEY_PHONETIC, /* double metaphone primary (names) or the value */
    MDM_KEY_SOUNDEX,
    MDM_KEY_INITIAL,  /* first character */
    MDM_KEY_PREFIX3,  /* first three characters */
    MDM_KEY_YEAR,     /* birth year (birth_date only) */
    MDM_KEY_MONTHDAY, /* birth month and day */
    MDM_KEY_LAST4,    /* last four characters (phones, ids) */
    MDM_KEY_CANON,    /* nickname class (first_name only) */
} mdm_key_fn;

typedef struct mdm_key_part {
    mdm_field field;
    mdm_key_fn fn;
} mdm_key_part;

typedef struct mdm_block_rule {
    char *text; /* as written in the configuration: "last_name:phonetic+first_name:initial" */
    mdm_key_part parts[MDM_MAX_KEY_PARTS];
    int nparts;
} mdm_block_rule;

typedef struct mdm_model {
    mdm_source_map sources[MDM_MAX_SOURCES];
    int nsources;
    char *default_country;
    mdm_comparison cmp[MDM_MAX_COMPARISONS];
    int ncmp;
    /* attribute slots MDM_FIELD_ATTR0 + i: the path ("attributes.occupation") and the
     * attribute key inside it ("occupation") */
    char *attr_paths[MDM_MAX_ATTR_FIELDS];
    const char *attr_names[MDM_MAX_ATTR_FIELDS];
    int nattrs;
    mdm_block_rule rules[MDM_MAX_BLOCK_RULES];
    int nrules;
    long max_block_size; /* larger blocks are windowed (sorted neighbourhood), reported */
    /* Evidence groups: comparisons whose values a whole household may share (surname,
     * address, home phone) agree together far more often than their separate u say.
     * Comparisons on those fields join the group "household" unless "group" says
     * otherwise (null: none). With group_margin "auto" (the default) training learns
     * the margin from the data: log2((1-h)/h), h the share of candidate pairs whose
     * group alone reaches even odds but whose other fields speak against a match (no
     * households in the data: a large margin, the cap rarely bites).
     * The summed weight of a group is capped at -prior_weight + group_margin, so that
     * group alone never takes a pair past even odds: person evidence (first name,
     * birth date, e-mail, ids) must decide. When the person evidence is 0 bits or less
     * the cap is MDM_GROUP_CAP_BELOW bits lower (fading out linearly as it grows to
     * that), so household evidence alone stays under the review threshold too. Symmetrically, a
     * move changes every address field at once, so a group's disagreement counts as its strongest
     * single one (the sum is floored at the most negative member weight). EM uses the same rule. */
    char *groups[MDM_MAX_COMPARISONS];
    int ngroups;
    mdm_groups grp; /* per comparison, with the contact-point rule (mdm_groups) */
    int names_k;    /* the first-name comparison of that rule, -1 none (no household) */
    double group_margin;
    bool group_margin_auto;  /* learn group_margin in training (see link.c) */
    double link_threshold;   /* probability at or above: link */
    double review_threshold; /* probability at or above (below link): review */
    /* clustering guards */
    long max_cluster_size;
    double min_cohesion;      /* mean probability over cross pairs to merge two clusters */
    double min_pair_evidence; /* no cross pair may have a log2 Bayes factor below this */
    mdm_field strong_ids[MDM_MAX_STRONG_IDS]; /* differing values forbid a merge */
    int nstrong;
    int shared_min_people; /* a value held by this many distinct surnames is shared */
    int conflict_cmp[MDM_MAX_COMPARISONS]; /* pair vetoed when all these are "different" */
    int nconflict;
    bool one_to_one;     /* every source deduplicated: at most one record each */
    bool hard_negatives; /* the pair guards (mdm_model_guard); default true */
    /* Entity-level merges after the clustering (matching/link.c merge_entities;
     * docs/MATCHING.md, "Collective evidence"), default true: two clusters left apart
     * merge when the best level of each comparison over their cross pairs, less
     * log2(cross pairs) bits, reaches link and weighs more than any single cross pair,
     * and no cross pair is one a guard forbids. */
    bool entity_merge;
    /* Cohesion by name (matching/cluster.h, named_cohesion), default true: two clusters
     * whose cross pairs all bear one person's first name (exact, nickname or typo) and
     * disagree on nothing outside the evidence groups (birth date, e-mail, gender,
     * identifiers) merge on a link without reaching min_cohesion (the other guards still
     * apply). Needs the household rule's first-name comparison (names_k). */
    bool named_cohesion;
    /* Two people of one household. Surname, address and phone say "one household", not
     * "one person"; what tells the members apart is the rest (first name, birth date,
     * e-mail, gender, identifiers). A pair whose evidence outside the evidence groups
     * leaves it, at the household's odds (2^group_margin), less than this probability of
     * being one person cannot share a cluster (as a vetoed pair; mdm_model_person_conflict).
     * Default 0.01; 0 turns it off. */
    double min_person_probability;
    /* Bridges (matching/cluster.h): a record whose link to another cluster was refused by a
     * hard conflict between other records is kept apart from both only when that link
     * weighs at least its best link into its own cluster less this many bits; a record
     * that agrees far better with one side (a birth date the other side lacks) tells them
     * apart and stays. Default 10 (a thousandfold likelihood); 0 turns the test off
     * (every such record is a bridge). */
    double bridge_margin;
    /* training: EM estimates m on the candidate pairs of these rules (training.blocking),
     * or of the blocking rules when there are none. A fixed training set lets blocking
     * rules be added for recall without moving the estimates: pairs found only by a recall
     * rule are mostly non-matches, and EM fitted on them shifts m towards them. */
    mdm_block_rule train_rules[MDM_MAX_BLOCK_RULES];
    int ntrain_rules;
    long u_samples;
    uint64_t seed;
    int em_iterations;
    double u_floor; /* smallest u used by term-frequency adjustment */
    /* trained parameters */
    bool trained;
    double prior;             /* prior probability that a random pair matches */
    double lambda_candidates; /* share of matches among candidate pairs (EM) */
} mdm_model;

/* Parses a configuration or trained model document. Unknown keys, unknown fields,
 * comparators and key functions are MDM_EINVAL naming the JSON path. The caller frees
 * with mdm_model_free. */
mdm_model *mdm_model_from_json(json_t *doc, mdm_err *err);
/* Reads and parses a file (MDM_EIO when missing, MDM_EINVAL with line:column for bad JSON). */
mdm_model *mdm_model_load(const char *path, mdm_err *err);
void mdm_model_free(mdm_model *m); /* NULL is a no-op */

/* The whole document, with trained parameters when m->trained (new reference). */
json_t *mdm_model_json(const mdm_model *m);
mdm_status mdm_model_save(const mdm_model *m, const char *path, mdm_err *err);

/* Replaces the sources of m with the "sources" array (borrowed; the one schema of
 * matching/record.h) of a configuration file, and sets m's default country to
 * default_country when not NULL: `mdm link --config mdm.json` runs the service's
 * configuration. MDM_EINVAL naming the source key on a bad source; m is unchanged then. */
mdm_status mdm_model_use_sources(mdm_model *m, json_t *sources, const char *default_country,
                                 mdm_err *err);

/* Source configuration for an input file: the first whose "match" glob accepts the base
 * name (a source without "match" accepts CODE.csv, any extension, when it has a code,
 * else any file). NULL when none. */
const mdm_source_map *mdm_model_source_for(const mdm_model *m, const char *path);

/* Name of level l of comparison c ("exact", "nickname", "close", "far", "different"). */
const char *mdm_model_level_name(const mdm_comparison *c, int l);

/* ---- scoring ---- */

/* Levels of every comparison for a pair (out[k] in -1..nlevels-1). Pure, no allocation. */
void mdm_model_levels(const mdm_model *m, const mdm_feat *a, const mdm_feat *b, int8_t *out);

/* The level of comparison k alone (out[k] of mdm_model_levels), for callers that take
 * the comparisons one at a time and stop early (batch linkage, link.c). Pure. */
int mdm_model_level(const mdm_model *m, int k, const mdm_feat *a, const mdm_feat *b);

/* False when comparison k of a and b certainly does not agree (level 0), decided
 * without comparing: two interned values of a string or name comparison that are not
 * one (and, for names, no transliteration form on either side); true otherwise. It lets
 * a bound on a pair's weight leave out term-frequency adjustments (which apply at
 * level 0 only) at the cost of a pointer comparison. */
bool mdm_model_may_agree(const mdm_model *m, int k, const mdm_feat *a, const mdm_feat *b);

/* Per-value statistics the caller may supply for term-frequency adjustment and shared
 * values: freq[k] is the relative frequency (0..1) of a's value for comparison k, or a
 * negative number when unknown; shared[k] says the value is held by many different
 * people (the comparison then counts as null). Either array may be NULL. */
typedef struct mdm_value_stats {
    const double *freq;
    const bool *shared;
} mdm_value_stats;

/* Match weight contribution of comparison k at level l (0 for null), before term
 * frequency adjustment. */
double mdm_model_level_weight(const mdm_model *m, int k, int l);
/* Total match weight from the per-comparison weights wk[0..ncmp) (tf included, 0 for
 * null): prior weight + sum, with each group's sum capped (see groups). names_apart
 * (mdm_model_names_apart) moves the contact points into the household group (mdm_groups).
 * *group_adjust (may be NULL) receives the (non-positive) change made by the caps. */
double mdm_model_combine(const mdm_model *m, const double *wk, bool names_apart,
                         double *group_adjust);

/* True when a pair's person evidence (the per-comparison weights wk outside every evidence
 * group, as mdm_groups places them for names_apart) leaves it, at the household odds
 * 2^group_margin, under min_person_probability of being one person: two members of one
 * household, whatever their shared surname, address and phone add. False without groups
 * or when no comparison outside them has a weight. */
bool mdm_model_person_conflict(const mdm_model *m, const double *wk, bool names_apart);

/* The first names of a and b cannot be one person's, so what they share is a
 * household's: the first-name comparison (levels) says "different" (an initial then has
 * another letter; it must not be the initial of the other's middle name), neither is the
 * other's middle name, a short form (pat, patricia) or,
 * read with first and last name swapped in one record, compatible with the other's, and
 * no e-mail address both hold names either of them (a person's own address: the first
 * name that disagrees is garbled). */
bool mdm_model_names_apart(const mdm_model *m, const mdm_feat *a, const mdm_feat *b,
                           const int8_t *levels);

/* Prior weight log2(prior / (1 - prior)). */
double mdm_model_prior_weight(const mdm_model *m);
double mdm_model_probability(double weight);

typedef struct mdm_explain_item {
    const char *comparison; /* borrowed from the model */
    int level;              /* -1 null */
    const char *level_name;
    double weight;    /* log2 Bayes factor of this comparison, including tf adjustment */
    double tf_adjust; /* the part of weight due to term frequency */
    const char *value_a, *value_b; /* borrowed from the features, may be NULL */
    const char *group;             /* evidence group the weight counted in for this pair, or NULL */
} mdm_explain_item;

/* ---- hard negatives ---- */

/* Pairs that must never link automatically whatever their score (issue 15): they become
 * review items naming the guard, and a cluster never holds both records of such a pair.
 *   twins        different first names (not a nickname, typo, initial, middle name or
 *                swap) with the same full birth date and one home (a phone in common, or
 *                the same street address, or postcode and surname, with genders that
 *                differ or a phone or e-mail each and none in common), and no e-mail or
 *                identifier in common;
 *   generation   generational suffixes that differ (Sr vs Jr, II vs III);
 *   birth_years  birth years MDM_GUARD_YEAR_GAP or more apart that no typo explains
 *                (not one digit off or two digits swapped with day and month equal),
 *                with a phone in common (a father and his son at one home; without a
 *                shared contact a replaced birth date is weighed by the model);
 *   household    one household (surname, address or phone) is all that speaks for the
 *                pair (no other comparison agrees with positive weight: birth date,
 *                e-mail, identifiers) and the first-name comparison says "far" or
 *                "different": Wilma and William at one address (household is not identity).
 * Only generation holds when an identifier comparison (loyalty_id, customer_number,
 * tax_id, national_id) agrees exactly or but for a typo: then a birth date or first name
 * was replaced by mistake. Checked on features and levels only (no allocation); off when
 * clustering.hard_negatives is false. */
typedef enum mdm_pair_guard {
    MDM_PG_NONE = 0,
    MDM_PG_TWINS,
    MDM_PG_GENERATION,
    MDM_PG_BIRTH_YEARS,
    MDM_PG_HOUSEHOLD,
} mdm_pair_guard;

#define MDM_GUARD_YEAR_GAP 15

/* levels: the pair's comparison levels (mdm_model_levels), or NULL to compute them. */
mdm_pair_guard mdm_model_guard(const mdm_model *m, const mdm_feat *a, const mdm_feat *b,
                               const int8_t *levels);
/* "twins", "generation", "birth_years", "household" ("none" for MDM_PG_NONE). */
const char *mdm_model_guard_name(mdm_pair_guard g);

typedef struct mdm_explain {
    double prior_weight;
    double group_adjust; /* change made by the evidence-group caps (<= 0) */
    double group_cap;    /* most a group's summed weight counted for this pair (NAN: no groups) */
    double weight;       /* total */
    double probability;
    bool vetoed;          /* a configured conflict (e.g. first name and birth date differ) */
    mdm_pair_guard guard; /* a hard negative: never an automatic link */
    bool person_conflict; /* two people of one household (mdm_model_person_conflict): the
                           * two records never share a golden record or cluster */
    int n;
    mdm_explain_item items[MDM_MAX_COMPARISONS];
} mdm_explain;

/* Scores one pair with a trained model: returns the match weight; fills ex (may be NULL)
 * with the field-by-field explanation. stats (may be NULL) applies to a's values. */
double mdm_model_score(const mdm_model *m, const mdm_feat *a, const mdm_feat *b,
                       const mdm_value_stats *stats, mdm_explain *ex);

/* True when the levels hit a configured conflict (all of its comparisons "different"). */
bool mdm_model_vetoed(const mdm_model *m, const int8_t *levels);

/* Explanation as JSON (new reference). */
json_t *mdm_explain_json(const mdm_explain *ex);

/* ---- training ---- */

/* Histogram of comparison patterns: levels of each comparison, and how many pairs had
 * them. mdm_em_run estimates m, u and lambda (share of matches) from it. */
typedef struct mdm_pattern {
    int8_t levels[MDM_MAX_COMPARISONS];
    bool names_apart; /* mdm_model_names_apart of its pairs (mdm_groups) */
    double count;
} mdm_pattern;

typedef struct mdm_em_result {
    double lambda;
    double m[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
    double u[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
    int iterations;
    bool converged;
} mdm_em_result;

/* EM for a two-class mixture with conditionally independent comparisons. ncmp
 * comparisons with nlevels[k] levels; null levels (-1) are skipped. Starts from m0/u0/
 * lambda0 (u0 may be the random-pair estimate); stops after max_iter or when no
 * parameter moves by more than 1e-6. Adds a small pseudo-count so no probability is 0.
 * If fix_u, u stays at u0. groups (may be NULL) gives each comparison's evidence group
 * in each pattern (mdm_groups): in the E-step a group's log Bayes factor is capped at
 * -logit(lambda) + margin bits, as in scoring. */
void mdm_em_run(const mdm_pattern *pats, size_t npats, int ncmp, const int *nlevels,
                const double m0[][MDM_MAX_LEVELS], const double u0[][MDM_MAX_LEVELS],
                double lambda0, int max_iter, bool fix_u, const mdm_groups *groups, double margin,
                mdm_em_result *out);

/* u probabilities from level counts over random pairs: u[k][l] = (count + 0.5) /
 * (total + 0.5 * nlevels). counts is [ncmp][MDM_MAX_LEVELS]. */
void mdm_model_set_u(mdm_model *m, const double counts[][MDM_MAX_LEVELS]);

/* Caps the trained weights of every comparison at its exact level: a partial agreement
 * (a typo, a nickname, the same first three characters) weighs no more than agreeing
 * exactly (EM can give a level with little support an absurd weight: a typo in an e-mail
 * above the e-mail itself), by lowering its m (the others are renormalized). The last
 * level ("different") is left as it is. */
void mdm_model_monotonic(mdm_model *m);

#endif
