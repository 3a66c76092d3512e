#!/usr/bin/env bash
# One answer whatever the path and the order (issue 15, deliverable 7), on the service
# path: a `mdm synth` population (MDM_ORDER_PEOPLE, default 2000) is loaded into a fresh
# database once in bulk (`mdm load --no-resolve` of the five sources, then `mdm resolve`
# on the bulk path) and three times incrementally (bulk off: every record resolved on
# its own as it arrives), each time with the sources in another random order and the
# rows of each source shuffled. Prints, per incremental order, the share of records
# whose cluster (the set of records in its golden record) differs from the bulk
# partition, pairwise precision/recall of every run against the truth, and open review
# items per 1,000 records, with the time of the bulk `mdm resolve` (resolve_s) and of the
# record-by-record loads (load_s). A report
# (exit 0) unless MDM_ORDER_MAX_SHARE is set: then it fails when a share exceeds it.
# Database: MDM_DATABASE_URL when set (it is wiped), else one of the private cluster
# (scripts/pg.sh), dropped afterwards.
set -uo pipefail
root=${MDM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MDM_BIN:-$root/build/rel/mdm}
people=${MDM_ORDER_PEOPLE:-2000}
model=${MDM_ORDER_MODEL:-$root/demo/model.json} # the model both paths score with
runs=${MDM_ORDER_RUNS:-3}                        # incremental runs (random orders)
tmp=$(mktemp -d)
own_db=
cleanup() {
    # without MDM_DATABASE_URL, which names the database itself (it cannot drop itself)
    [ -n "$own_db" ] && env -u MDM_DATABASE_URL "$root/scripts/pg.sh" dropdb "$own_db" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "${MDM_DATABASE_URL:-}" ]; then
    "$root/scripts/pg.sh" start >/dev/null || exit 1
    own_db=mdm_order_$$
    "$root/scripts/pg.sh" createdb "$own_db" >/dev/null || exit 1
    MDM_DATABASE_URL=$("$root/scripts/pg.sh" url-for "$own_db")
    export MDM_DATABASE_URL
fi
db=$MDM_DATABASE_URL
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$db" -c "$1"; }

# bulk_min 1: the bulk path whatever the size; 0: incremental only
for b in 1 0; do
    python3 - "$root/demo/mdm.json" "$model" "$b" >"$tmp/mdm$b.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d.setdefault("model", {})["path"] = sys.argv[2]
d.setdefault("resolve", {})["bulk_min"] = int(sys.argv[3])
print(json.dumps(d))
PY
done
"$bin" synth --people "$people" --seed 13 --out "$tmp/data" >/dev/null 2>&1 || exit 1
MDM_CONFIG=$tmp/mdm1.json "$bin" migrate >/dev/null || exit 1
sources=(crm loyalty commerce erp pos)

wipe() {
    sql "TRUNCATE source_record, source_record_history, record_reject, entity, entity_version,
         membership, link_event, blocking_key, record_pending, golden_value, golden_pin,
         review_item, outbox, consent_event, consent_state CASCADE" >/dev/null
}

# per record "source:key<TAB>sorted members of its golden record"
partition() {
    sql "SELECT sr.source || ':' || sr.source_key || E'\t' || (SELECT string_agg(o.source || ':' ||
           o.source_key, '|' ORDER BY o.source, o.source_key) FROM membership m2 JOIN source_record o
           ON o.id = m2.record_id WHERE m2.entity_id = m.entity_id AND m2.active)
         FROM source_record sr JOIN membership m ON m.record_id = sr.id AND m.active
         ORDER BY 1" >"$1"
}

# pairwise precision and recall of a partition file against truth.csv
score() {
    python3 - "$1" "$tmp/data/truth.csv" <<'PY'
import csv, sys, collections
truth = {r["source"] + ":" + r["record_id"]: r["person_id"] for r in csv.DictReader(open(sys.argv[2]))}
cl = {}
for line in open(sys.argv[1]):
    rec, members = line.rstrip("\n").split("\t")
    cl[rec] = members
def pairs(key):
    g = collections.Counter(key(r) for r in cl)
    return sum(n * (n - 1) // 2 for n in g.values())
pp, tp_, ap = pairs(lambda r: cl[r]), pairs(lambda r: (cl[r], truth[r])), pairs(lambda r: truth[r])
print("precision=%.4f recall=%.4f" % (tp_ / pp if pp else 1, tp_ / ap if ap else 1))
PY
}

wipe
for s in "${sources[@]}"; do
    MDM_CONFIG=$tmp/mdm1.json "$bin" load --quiet --no-resolve --source "$s" "$tmp/data/$s.csv" \
        >/dev/null || exit 1
done
t0=$(date +%s.%N)
MDM_CONFIG=$tmp/mdm1.json "$bin" resolve >/dev/null 2>&1 || exit 1
t_bulk=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
partition "$tmp/bulk.txt"
records=$(wc -l <"$tmp/bulk.txt")
rows=$(($(cat "$tmp"/data/{crm,loyalty,commerce,erp,pos}.csv | wc -l) - 5))
[ "$records" -eq "$rows" ] || echo "order: bulk: $records of $rows records in a golden record"
review() { # open review items per 1,000 records
    sql "SELECT round(1000.0 * (SELECT count(*) FROM review_item WHERE status = 'open') /
         greatest(1, (SELECT count(*) FROM source_record)), 1)"
}
echo "order people=$people records=$records run=bulk $(score "$tmp/bulk.txt") review_per_1000=$(review) resolve_s=$t_bulk"
fail=0
for k in $(seq 1 "$runs"); do
    wipe
    order=$(printf '%s\n' "${sources[@]}" | shuf --random-source=<(yes "$k"))
    t_load=0
    for s in $order; do
        { head -1 "$tmp/data/$s.csv"; tail -n +2 "$tmp/data/$s.csv" |
            shuf --random-source=<(yes "$k$s"); } >"$tmp/$s.$k.csv"
        t0=$(date +%s.%N)
        MDM_CONFIG=$tmp/mdm0.json "$bin" load --quiet --threads 1 --source "$s" "$tmp/$s.$k.csv" \
            >/dev/null || exit 1
        t_load=$(awk -v s="$t_load" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", s + b - a }')
    done
    partition "$tmp/inc$k.txt"
    differ=$(join -t $'\t' "$tmp/bulk.txt" "$tmp/inc$k.txt" | awk -F'\t' '$2 != $3' | wc -l)
    share=$(awk -v d="$differ" -v n="$records" 'BEGIN { printf "%.4f", n ? d / n : 0 }')
    echo "order people=$people records=$(wc -l <"$tmp/inc$k.txt") run=incremental$k sources=$(echo $order | tr ' ' ,) differ=$differ share=$share $(score "$tmp/inc$k.txt") review_per_1000=$(review) load_s=$t_load"
    if [ -n "${MDM_ORDER_MAX_SHARE:-}" ] &&
        awk -v s="$share" -v m="$MDM_ORDER_MAX_SHARE" 'BEGIN { exit !(s > m) }'; then
        fail=1
    fi
done
exit $fail
