/* Shared CLI helpers and the command table. */
#include "api/cli.h"
#include "common/log.h"
#include "mdm/consent.h"
#include "mdm/household.h"
#include "mdm/source.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const mdm_cli_command mdm_cli_commands[] = {
    {"version", mdm_cli_version, "print the version and library versions",
     "usage: mdm version\n\nPrints the mdm version and the versions of the libraries it was built "
     "with.\n"},
    {"migrate", mdm_cli_migrate, "apply database migrations (sql/NNN_*.sql)",
     "usage: mdm migrate [--config FILE] [--status]\n\n"
     "Applies the numbered migrations in sql/ (or MDM_SQL_DIR / sql_dir) that are not yet\n"
     "applied, each in its own transaction recorded with its SHA-256 checksum in\n"
     "schema_migrations. Running it again is a no-op. It refuses to run (exit 5) when an\n"
     "applied file has changed since. Concurrent runs are serialized by an advisory lock.\n\n"
     "  --status   list the migrations and whether each is applied; change nothing\n"},
    {"config", mdm_cli_config, "validate and print the effective configuration",
     "usage: mdm config [--config FILE]\n\n"
     "Loads mdm.json (or FILE, or MDM_CONFIG) and the MDM_* environment variables,\n"
     "validates them and prints the effective configuration as JSON (secrets masked).\n"
     "An unknown key or a bad value is an error naming it (exit 2).\n"},
    {"link", mdm_cli_link, "batch record linkage of CSV files (no database)",
     "usage: mdm link --config CFG.json [--model MODEL.json] INPUT.csv [INPUT2.csv ...]\n"
     "                --out clusters.csv [--pairs pairs.csv] [--threads N] [--progress]\n"
     "                [--save-model MODEL.json] [--retrain] [--canonical FILE]\n"
     "                [--misses FILE (--truth FILE --truth-column COL | --febrl-ids)]\n\n"
     "CFG is the service's configuration (mdm.json: its sources and the model of its\n"
     "model.path) or a model document holding its own sources (demo/synth.json).\n"
     "Reads the inputs (each bound to a source of the configuration by its \"match\" glob\n"
     "or code), canonicalizes each record as mdm load does, blocks, scores every candidate pair "
     "with the Fellegi-Sunter\n"
     "model and clusters with guards against over-merging. One input deduplicates;\n"
     "several are linked (and deduplicated inside each source unless declared\n"
     "deduplicated). Without a trained model (--model, or a config holding \"trained\")\n"
     "it trains first: u from random pairs, m and the prior by EM, no labels.\n\n"
     "  --out FILE         clusters: source,record_id,cluster_id (every record once)\n"
     "  --pairs FILE       pairs at or above the review threshold: source_a,record_id_a,\n"
     "                     source_b,record_id_b,match_weight,probability,guard\n"
     "  --threads N        worker threads (default MDM_THREADS or all CPUs)\n"
     "  --progress         phase lines on stderr (default when stderr is a terminal)\n"
     "  --save-model FILE  write the (trained) model used\n"
     "  --canonical FILE   each record's canonical form, one JSON line in input order\n"
     "                     (a refused record: {source, source_key, rejected})\n"
     "  --misses FILE      every true pair left apart, with its cause: not_allowed,\n"
     "                     never_compared, block_windowed, vetoed, below_review,\n"
     "                     review_band, refused_GUARD; then each pair placed together\n"
     "                     that the truth keeps apart: wrong_link (linked directly),\n"
     "                     wrong_cluster (through others). Columns class,source_a,\n"
     "                     record_id_a,source_b,record_id_b,probability,match_weight,\n"
     "                     levels; counts per class and examples on stderr. The truth comes\n"
     "                     from --truth FILE (record_id, optional source, and the\n"
     "                     --truth-column) or --febrl-ids, and is used for the report only\n\n"
     "exit: 0 ok, 2 bad input (message names file, line or JSON key), 8 i/o error\n"},
    {"blocking", mdm_cli_blocking, "blocking analysis before scoring: candidate pairs per rule",
     "usage: mdm blocking --config CFG.json [--model MODEL.json] INPUT.csv [INPUT2.csv ...]\n"
     "                [--top N] [--sample N] [--json] [--threads N]\n\n"
     "Reads, canonicalizes and blocks the inputs exactly as mdm link does (same sources,\n"
     "shared values dropped, same pair filter) and compares nothing: per blocking rule the\n"
     "blocks, the largest, the oversized (windowed) ones, the distinct candidate pairs the\n"
     "rule proposes and how many of them no earlier rule proposed, with the cumulative\n"
     "total (its last value is the candidate_pairs of mdm link); the largest blocks of all\n"
     "rules with their keys (record values: customer data); and an estimate of the\n"
     "comparison time: candidate pairs x the cost per pair measured on a sample / threads.\n\n"
     "  --top N      largest blocks to list (default 10)\n"
     "  --sample N   candidate pairs compared to measure the cost (default 20000; 0: none)\n"
     "  --json       one JSON document instead of the table\n"
     "  --threads N  worker threads (default MDM_THREADS or all CPUs)\n\n"
     "exit: 0 ok, 2 bad input (message names file, line or JSON key), 8 i/o error\n"},
    {"train", mdm_cli_train, "train a linkage model by EM (no labels), from CSV files or the store",
     "usage: mdm train --config CFG.json INPUT.csv [INPUT2.csv ...] --out MODEL.json\n"
     "                 [--threads N] [--progress]\n"
     "       mdm train --from-store [--note TEXT] [--activate] [--threads N] [--config FILE]\n\n"
     "Estimates u from random record pairs (training.u_samples, seeded) and m and the\n"
     "prior by expectation-maximisation over the blocked candidate pairs, then writes the\n"
     "configuration with the trained parameters; `mdm link --model` reuses it.\n\n"
     "--from-store trains on every record already loaded (no export): the comparisons,\n"
     "blocking and thresholds of the model in use (the active stored version, else\n"
     "model.path) with new parameters, stored as a new version of match_model (inactive\n"
     "unless --activate; see mdm model). Steward decisions are not used for training;\n"
     "mdm eval --labels measures a model against them. Prints {version, records,\n"
     "candidate_pairs, em_iterations, lambda, prior, seconds}.\n"},
    {"explain", mdm_cli_explain, "field-by-field match weights of one record pair",
     "usage: mdm explain (--model MODEL.json | --config CFG.json) INPUT.csv [...]\n"
     "                   --a [SOURCE:]ID --b [SOURCE:]ID\n\n"
     "Prints JSON: for each comparison its level, weight (log2 Bayes factor, with the\n"
     "term-frequency adjustment shown apart) and both values, then the prior, the total\n"
     "match weight and the probability. With --config the model is trained first.\n"},
    {"synth", mdm_cli_synth, "write deterministic synthetic customers over five sources",
     "usage: mdm synth --people N --out DIR [--seed S] [--error-rate X] [--dup-rate P]\n\n"
     "Writes DIR/crm.csv, loyalty.csv, commerce.csv, erp.csv, pos.csv (each with its own\n"
     "column layout and formatting habits), DIR/truth.csv (source,record_id,person_id) and\n"
     "DIR/households.csv (person_id,household_id).\n"
     "People live in households sharing address and home phone; records carry typos,\n"
     "nicknames, dropped accents, swapped names, married names, old addresses, missing\n"
     "fields, phone/e-mail variants, shared placeholder values and in-source duplicates.\n"
     "The same N and S always give the same files.\n\n"
     "  --people N       distinct people (required)\n"
     "  --seed S         random seed (default 1)\n"
     "  --error-rate X   scales every error probability (default 1.0)\n"
     "  --dup-rate P     chance of one more record of a person in a source (default 0.2)\n"},
    {"eval", mdm_cli_eval, "pairwise precision, recall and F1 of a clusters file",
     "usage: mdm eval CLUSTERS.csv (--febrl-ids | [--truth FILE] --truth-column COL)\n"
     "                [--all-pairs] [--json]\n"
     "       mdm eval --labels [--config FILE] [--json]\n\n"
     "With --labels, measures automatic linking against steward decisions in the database:\n"
     "precision of automatic links that stewards confirmed or split apart, links they had to\n"
     "make by hand (missed), and the precision automation would have had at thresholds\n"
     "0.5..0.95 on the decided review items. It also scores every decided review item (its\n"
     "best labelled record pair) with the active model (mdm model) and gives that model's\n"
     "precision and recall on them at its link and review thresholds (model_version,\n"
     "at_link, at_review).\n\n"
     "Compares CLUSTERS.csv (source,record_id,cluster_id, as written by mdm link) with the\n"
     "truth and prints records, clusters, true entities, the largest cluster and pairwise\n"
     "precision, recall and F1. With several sources only cross-source pairs count\n"
     "(linkage) unless --all-pairs.\n\n"
     "  --febrl-ids         truth is the entity number in FEBRL ids (rec-12-dup-0)\n"
     "  --truth FILE        truth file with columns record_id, [source,] and COL\n"
     "                      (default: COL is a column of CLUSTERS.csv itself)\n"
     "  --truth-column COL  the entity column of the truth file (person_id for mdm synth)\n"
     "  --json              one JSON object instead of key=value text\n"},
    {"audit", mdm_cli_audit, "verify or list the hash-chained audit log",
     "usage: mdm audit verify [--config FILE] [--json] [--expect-head HASH]\n"
     "       mdm audit list [--config FILE] [--actor A] [--role R] [--action X|PREFIX.]\n"
     "                      [--target T] [--from TIME] [--to TIME] [--limit N]\n\n"
     "verify reads the whole audit log in one snapshot and recomputes every row's SHA-256\n"
     "hash, every link to the previous row and the chain head, so an edited row, a deleted\n"
     "row and rows cut from the end are all reported. It prints the head hash; keep it\n"
     "elsewhere and pass it back with --expect-head to detect a chain rewritten whole.\n"
     "Exit 0 when intact, 1 when tampered (each problem on stderr), 7 on a database error.\n\n"
     "list prints the newest rows first, one JSON object per line (default 100).\n"},
    {"normalize", mdm_cli_normalize, "print how one value normalizes (JSON)",
     "usage: mdm normalize --field FIELD [--country CC] [--pivot YEAR] [--month-first] [VALUE]\n\n"
     "Runs one normalizer on VALUE and prints the result as JSON: display and comparison\n"
     "forms, parsed parts and validity. FIELD is one of:\n"
     "  name         prefix/first/middle/last/suffix keys and the nickname canonical first name\n"
     "  email        display, canonical match key (+tags, gmail dots), local, domain\n"
     "  phone        E.164 and extension (libphonenumber); --country is the default region\n"
     "  address      \"line1[, line2], city, [region] postal[, country]\" -> number, street,\n"
     "               unit, line, city, region, postal_code, ISO country\n"
     "  date         ISO date; ambiguous day/month gives both readings (day first unless\n"
     "               --month-first); --pivot YEAR is the last year a 2-digit year may mean\n"
     "  postal_code  national layout for --country (US, GB, CA, AU, DE, FR, NL ...)\n"
     "  country      ISO 3166-1 alpha-2 code of a name or code\n"
     "  text         the base text pipeline: display and ASCII key\n"
     "--country takes a code or a name (\"DE\", \"Deutschland\"). Invalid UTF-8, an unknown\n"
     "field or an empty VALUE is an error (exit 2); an invalid value is reported with\n"
     "\"valid\": false (dates: exit 2).\n"
     "Without VALUE, each stdin line is one value and each result one compact JSON line;\n"
     "the first bad line (\"stdin line N: ...\") stops with exit 2.\n"},
    {"compare", mdm_cli_compare, "score two strings with a comparator (debug probe)",
     "usage: mdm compare --comparator NAME [A B]\n\n"
     "Prints the similarity (0..1, 1 = identical) of A and B under comparator NAME:\n"
     "jaro, jaro_winkler, levenshtein, damerau_levenshtein, osa, jaccard (2-grams) or\n"
     "token_set. Edit distances are shown as 1 - distance / longer length. Strings are\n"
     "compared as given, by Unicode code point (case and accents count). Without A B,\n"
     "reads A<TAB>B lines from stdin and writes A<TAB>B<TAB>score lines.\n"
     "Invalid UTF-8 or a line without exactly one tab is an error (exit 2).\n"},
    {"phonetic", mdm_cli_phonetic, "print phonetic keys of names (debug probe)",
     "usage: mdm phonetic --algorithm soundex|nysiis|metaphone|double_metaphone [VALUE...]\n\n"
     "Prints the phonetic key of each VALUE, one per line (double_metaphone prints\n"
     "PRIMARY<TAB>ALTERNATE). Without VALUEs, reads one value per line from stdin and\n"
     "writes VALUE<TAB>key lines. Values are keyed in the normalizer's ASCII comparison\n"
     "form (Müller as muller, Иванов as ivanov), whose letters count; keys are full\n"
     "length (classic Metaphone keys are their first 4 characters).\n"
     "An empty value or invalid UTF-8 is an error (exit 2).\n"},
    {"export", mdm_cli_export, "export data: golden records, the consent audit (CSV or NDJSON)",
     "usage: mdm export golden [--format ndjson|csv] [--output FILE] [--config FILE]\n"
     "       mdm export consent [--from TIME] [--to TIME] [--format csv|ndjson]\n"
     "                          [--output FILE] [--config FILE]\n\n"
     "golden streams every active golden record with its cross-references (source,\n"
     "source_key) and data-quality scores from one consistent snapshot: NDJSON (the\n"
     "default) lines {id, version, golden, xrefs, quality}, or CSV holding the same: id,\n"
     "version, one column per golden scalar, then emails, phones, addresses, attributes\n"
     "and xrefs as JSON text, then completeness, validity, consistency, freshness and\n"
     "freshness_days (CRLF lines).\n\n"
     "consent:\n"
     "Streams every consent event received in [--from, --to) (ISO 8601; open ends when\n"
     "omitted) in stable order (received_at, id), with columns event_id, golden_id,\n"
     "source, source_key, purpose, channel, contact_point, status, captured_at,\n"
     "expires_at, received_at, lawful_basis, evidence, state_before, state_after.\n"
     "CSV (the default) follows RFC 4180: a header line, CRLF line ends, fields quoted\n"
     "when they hold a comma, quote or line break. NDJSON writes one object per line.\n"
     "Memory stays constant whatever the number of rows (a server-side cursor).\n"
     "Exit 2 for a bad option or time, 7 for a database error, 8 when the output\n"
     "cannot be written.\n"},
    {"subject", mdm_cli_subject, "subject access export or erasure of one person",
     "usage: mdm subject export ID [--config FILE]\n"
     "       mdm subject erase ID --requester WHO [--reason TEXT] [--config FILE]\n\n"
     "export prints everything held on the person of golden record ID (a retired id\n"
     "answers for its survivor) as one JSON document: golden record, member records raw\n"
     "and normalized with history, consent events and state, link history, review\n"
     "items, outbox events and deliveries. After an erasure it holds only the tombstone.\n"
     "erase removes the person's personal data from golden and source records and their\n"
     "history, keeps a tombstone (ids, source keys and their hashes, requester, reason,\n"
     "time) and the audit trail without personal data, and emits a `deleted` event\n"
     "naming every source record so that every source system is told. Erasing twice\n"
     "changes nothing. Exit 4 for an unknown id.\n"},
    {"load", mdm_cli_load, "bulk-load a source's CSV or NDJSON file, then resolve",
     "usage: mdm load --source CODE [--format csv|ndjson] [--no-resolve] [--threads N]\n"
     "                [--chunk N] [--quiet] [--config FILE] FILE...\n\n"
     "Maps each row through the source's field mapping (sources in mdm.json), validates and\n"
     "normalizes it, streams the rows with COPY into a staging table and applies them with\n"
     "set-based SQL, one transaction per chunk (default 5000 rows). The same content again\n"
     "changes nothing; older rows (source_updated_at) are recorded as stale; rows with\n"
     "op=delete retire the record; invalid rows go to record_reject with field-level reasons.\n"
     "Then resolves every record not yet resolved (unless --no-resolve). Killed at any point,\n"
     "running the same command again ends in the same state as an uninterrupted run.\n"
     "The format comes from the extension (.csv, .ndjson/.jsonl/.json) unless --format.\n"
     "Exit codes: 0 done, 2 bad usage or configuration, 4 unknown source, 7 database error,\n"
     "8 unreadable file.\n"},
    {"resolve", mdm_cli_resolve, "resolve every loaded record that is not resolved yet",
     "usage: mdm resolve [--threads N] [--batch N] [--quiet] [--config FILE]\n"
     "       mdm resolve --all [--dry-run] [--threads N] [--config FILE]\n\n"
     "Runs incremental resolution (blocking keys, scoring, link/review/new entity, golden\n"
     "records) for every source record waiting in record_pending, oldest first, BATCH records\n"
     "per transaction (default 200). Safe to interrupt and run again.\n\n"
     "--all re-evaluates every golden record under the active model: all resolved records\n"
     "are matched again by the batch engine and golden records are split and merged to the\n"
     "clusters found. Ids stay stable (a golden record keeps its id for its largest part;\n"
     "merges keep the oldest id); golden records holding a record a steward decided on are\n"
     "held together and never merged with one another, never_link assertions are kept;\n"
     "changes are ordinary split and merged events. --dry-run reports the same plan and\n"
     "writes nothing. Prints {records, entities, clusters, held, splits, merges,\n"
     "records_moved, kept_apart, entities_after, changes: [first 20 operations]}.\n"},
    {"quality", mdm_cli_quality, "per-source data-quality report (CSV or NDJSON)",
     "usage: mdm quality report [--format csv|ndjson] [--output FILE] [--config FILE]\n\n"
     "One row per source system: records, average completeness, validity and freshness\n"
     "(0..1, see docs/QUALITY.md), invalid e-mails and phones, values dropped as invalid,\n"
     "stale records (no update for a year) and records whose birth date or last name\n"
     "disagrees with their golden record. CSV (the default) has a header line.\n"},
    {"rejects", mdm_cli_rejects, "list refused records, or retry them after a configuration fix",
     "usage: mdm rejects list [--source CODE] [--key KEY] [--field FIELD]\n"
     "                        [--status open|retried|all] [--from TIME] [--to TIME]\n"
     "                        [--after ID] [--limit N] [--config FILE]\n"
     "       mdm rejects retry [--source CODE] [--key KEY] [--field FIELD] [--from TIME]\n"
     "                         [--to TIME] [--limit N] [--config FILE]\n\n"
     "A record is refused only when it has no key, nothing to match on (no name, e-mail,\n"
     "phone or identifier), or is malformed; an invalid optional value (a birth date in\n"
     "2030) is left out and flagged in the record's issues instead.\n\n"
     "list prints one JSON object per refused record, in id order: source, source_key,\n"
     "status, reasons [{pointer, field, reason}], payload (the record as sent), file and\n"
     "line (mdm load), received_at, first_received_at, retries, record_id. --status is\n"
     "open (default), retried or all; --field keeps rejects with a reason on that field;\n"
     "--from/--to bound received_at (ISO 8601); at most --limit (default 100) after --after.\n\n"
     "retry ingests every open reject matching the filters again with the current\n"
     "configuration, one transaction each: accepted ones become retried (record_id names\n"
     "the source record), refused ones stay open with the new reasons. A record without a\n"
     "source time of its own keeps the time it was first refused, so a newer version sent\n"
     "since is not overwritten. Prints {\"tried\", \"accepted\", \"refused\", \"skipped\"}\n"
     "(skipped: payload withheld for an erased subject, or source no longer configured).\n"},
    {"model", mdm_cli_model, "list, show, activate or compare the matching models in the store",
     "usage: mdm model list [--config FILE]\n"
     "       mdm model show VERSION\n"
     "       mdm model activate VERSION\n"
     "       mdm model diff VERSION_A VERSION_B\n\n"
     "Versions come from mdm train --from-store (or are inserted by an operator). list\n"
     "prints one JSON object per version, newest first (trained_at, active, note,\n"
     "trained_on, thresholds, prior); show prints one with its model document.\n"
     "activate makes VERSION the active model (one at a time; audited) and re-scores every\n"
     "open review item under it; running servers read the active model at start-up, so\n"
     "restart them. Prints {\"active\", \"review_items\", \"rescored\"}.\n"
     "diff prints, per comparison level, the match weight (bits) in both versions and the\n"
     "change, the prior and thresholds of both, and the largest change.\n"
     "Exit 4 for an unknown version, 2 for one that is not a trained model.\n"},
    {"serve", mdm_cli_serve, "run the HTTP API server until SIGTERM/SIGINT",
     "usage: mdm serve [--listen ADDR:PORT] [--config FILE] [--routes]\n\n"
     "Serves the HTTP API (/v1/..., /healthz, /readyz, /metrics, /v1/openapi.json) on\n"
     "ADDR:PORT (default: listen in mdm.json, MDM_LISTEN, else 127.0.0.1:8080; port 0 picks a\n"
     "free port, printed on stdout). A worker-thread pool sized from the cores (threads,\n"
     "MDM_THREADS) holds one PostgreSQL connection per thread. Limits and rates come from the\n"
     "http section of mdm.json (see README). SIGTERM or SIGINT stops accepting connections,\n"
     "finishes the requests in flight and exits 0.\n\n"
     "  --routes   print the route table (method, path, roles) and exit\n"},
    {"apikey", mdm_cli_apikey, "create, list or revoke API keys",
     "usage: mdm apikey create --role ROLE [--source CODE] [--rate N/s] [--name TEXT]\n"
     "       mdm apikey list [--json]\n"
     "       mdm apikey revoke ID|PREFIX\n\n"
     "create prints a new key on stdout, once: only its salted SHA-256 is stored. ROLE is\n"
     "source (needs --source, the system the key belongs to), reader, steward, compliance\n"
     "or admin. --rate is the key's request rate limit (default 100/s). list shows every key\n"
     "(never the secret); revoke disables one at once (servers notice within\n"
     "http.auth_cache_seconds).\n"},
    {"publish", mdm_cli_publish, "push golden changes to subscribed systems (delivery workers)",
     "usage: mdm publish [--config FILE] [--once | --drain [--timeout SECONDS]] [--workers N]\n\n"
     "Syncs the subscriptions of mdm.json into the database, fans outbox events out into\n"
     "deliveries and sends them (signed HTTP POSTs, retried with backoff; see README.md).\n"
     "Without --once or --drain it runs until SIGINT/SIGTERM (mdm serve runs the same\n"
     "workers itself).\n\n"
     "  --once         deliver what is due now, then exit\n"
     "  --drain        keep going, waiting out backoffs, until nothing is pending (or\n"
     "                 --timeout SECONDS passed: exit 6)\n"
     "  --workers N    delivery threads (default publish.workers, 2)\n"
     "Prints {\"processed\": N} with --once/--drain.\n"},
    {"deliveries", mdm_cli_deliveries, "list or replay push deliveries",
     "usage: mdm deliveries list [--state STATE] [--subscription ID] [--after ID] [--limit N]\n"
     "       mdm deliveries replay --dead [--subscription ID]\n"
     "       mdm deliveries replay --subscription ID --from-seq SEQ\n\n"
     "list prints one JSON object per delivery (id order, after ID, at most N, default 100);\n"
     "STATE is pending, acknowledged, rejected, dead or skipped.\n"
     "replay --dead requeues dead and rejected deliveries (of one subscription or all);\n"
     "replay --from-seq requeues every event from SEQ on for one subscription, including\n"
     "acknowledged ones. Prints {\"replayed\": N}.\n"},
    {"subscriptions", mdm_cli_subscriptions, "list, add, update or remove push subscriptions",
     "usage: mdm subscriptions list\n"
     "       mdm subscriptions add "
     "'{\"source\":\"crm\",\"url\":\"https://...\",\"secret\":\"...\"}'\n"
     "       mdm subscriptions update ID '{\"active\":false}'\n"
     "       mdm subscriptions remove ID\n\n"
     "Fields: source, url, secret (>= 16 characters), event_types, mapping, active,\n"
     "max_attempts (README.md, Publishing). Secrets are never printed; remove deactivates.\n"},
    {NULL, NULL, NULL, NULL},
};

int mdm_cli_fail(const char *command, const mdm_err *err)
{
    fprintf(stderr, "mdm %s: %s", command, err->msg[0] ? err->msg : mdm_status_title(err->code));
    if (err->field[0])
        fprintf(stderr, " (at %s)", err->field);
    if (err->detail[0])
        fprintf(stderr, ": %s", err->detail);
    fputc('\n', stderr);
    return mdm_status_exit(err->code);
}

int mdm_cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mdm %s: ", command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mdm %s --help'.\n", command);
    return mdm_status_exit(MDM_EINVAL);
}

int mdm_cli_open(const char *command, const char *config_path, mdm_config **cfg_out, mdm_db **db)
{
    mdm_err err = {0};
    *db = NULL;
    mdm_config *cfg = mdm_config_load(config_path, &err);
    if (!cfg)
        return mdm_cli_fail(command, &err);
    mdm_cli_log_level(command, cfg);
    *db = mdm_db_connect(cfg->database_url, &err);
    if (!*db) {
        mdm_config_free(cfg);
        return mdm_cli_fail(command, &err);
    }
    if (cfg_out)
        *cfg_out = cfg;
    else
        mdm_config_free(cfg);
    return 0;
}

void mdm_cli_log_level(const char *command, const mdm_config *cfg)
{
    bool service = strcmp(command, "serve") == 0 || strcmp(command, "publish") == 0;
    mdm_log_threshold =
        cfg->log_level_set || service ? (mdm_log_level)cfg->log_level : MDM_LOG_WARN;
}

const char *mdm_cli_actor(void)
{
    static char actor[128];
    const char *user = getenv("USER");
    if (!user || !*user) {
        const struct passwd *pw = getpwuid(geteuid());
        user = pw && pw->pw_name && *pw->pw_name ? pw->pw_name : "unknown";
    }
    snprintf(actor, sizeof actor, "cli:%s", user);
    return actor;
}

/* True when one of the two options appears in argv before any "--". */
static int has_option(int argc, char **argv, const char *a, const char *b)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], a) == 0 || (b && strcmp(argv[i], b) == 0))
            return 1;
    }
    return 0;
}

int mdm_cli_wants_help(int argc, char **argv)
{
    return has_option(argc, argv, "-h", "--help");
}

int mdm_cli_wants_version(int argc, char **argv)
{
    return has_option(argc, argv, "--version", NULL);
}

void mdm_cli_env_close(mdm_cli_env *e)
{
    mdm_db_close(e->db);
    mdm_engine_free(e->ctx);
    mdm_config_free(e->cfg);
    memset(e, 0, sizeof *e);
}

int mdm_cli_env_open(const char *command, const char *config_path, bool sync_sources,
                     mdm_cli_env *e)
{
    memset(e, 0, sizeof *e);
    mdm_err err = {0};
    e->cfg = mdm_config_load(config_path, &err);
    if (!e->cfg)
        return mdm_cli_fail(command, &err);
    mdm_cli_log_level(command, e->cfg);
    /* the consent vocabulary of the configuration, not the built-in one: a load refuses
     * and resolution stores consents by it, as `mdm serve` does */
    if (mdm_household_configure(mdm_config_section(e->cfg, "households"), &err) != MDM_OK ||
        mdm_consent_configure(mdm_config_section(e->cfg, "consent"), &err) != MDM_OK) {
        int rc = mdm_cli_fail(command, &err);
        mdm_cli_env_close(e);
        return rc;
    }
    e->ctx = mdm_engine_new(e->cfg, &err);
    if (e->ctx)
        e->db = mdm_db_connect(e->cfg->database_url, &err);
    if (e->db &&
        (!sync_sources ||
         mdm_sources_sync(e->db, mdm_engine_sources(e->ctx), NULL, &err) == MDM_OK) &&
        mdm_engine_use_db_model(e->ctx, e->db, NULL, &err) == MDM_OK)
        return 0;
    int rc = mdm_cli_fail(command, &err);
    mdm_cli_env_close(e);
    return rc;
}
