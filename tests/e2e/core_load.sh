# mdm load / resolve / export: bulk load of the five demo layouts, idempotent reload,
# stale and delete rows, rejects with line numbers, and kill -9 at random points during
# the load sequence followed by a rerun -> the same final state as an uninterrupted run
# (same golden records, same cross-references, nothing lost or duplicated).
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$MDM_DATABASE_URL
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$db" -c "$1"; }

sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" > "$tmp/mdm.json"
export MDM_CONFIG=$tmp/mdm.json
"$mdm" synth --people 250 --seed 11 --out "$tmp/data" >/dev/null 2>&1
expect_exit 0 "migrate syncs the demo sources" "$mdm" migrate
expect_contains "five sources" "synchronized 5 source systems" "$out"

# the load sequence of the demo: one command per source, chunks of 40 rows
# (the pid of the running mdm is kept in $tmp/cur.pid so the kill test can end it)
sequence() {
    for s in crm loyalty commerce erp pos; do
        "$mdm" load --quiet --chunk 40 --threads 1 --source "$s" "$tmp/data/$s.csv" &
        echo $! > "$tmp/cur.pid"
        wait $! || return $?
    done
}

# everything that must be equal between two runs, without ids: per golden record its
# sorted cross-references and golden values; record, history and reject counts; open
# review pairs named by their records
state() {
    sql "SELECT coalesce(string_agg(x, E'\n' ORDER BY x), '') FROM (SELECT (SELECT
           string_agg(sr.source || ':' || sr.source_key, '|' ORDER BY sr.source, sr.source_key)
           FROM membership m JOIN source_record sr ON sr.id = m.record_id
           WHERE m.entity_id = e.id AND m.active) || ' ' || e.golden::text AS x
         FROM entity e WHERE e.status = 'active') t"
    sql "SELECT count(*) || ' records, ' || (SELECT count(*) FROM record_pending) ||
         ' unresolved' FROM source_record"
    sql "SELECT change || ' ' || count(*) FROM source_record_history GROUP BY change ORDER BY change"
    sql "SELECT 'rejects ' || count(*) FROM record_reject"
    sql "SELECT coalesce(string_agg(x, E'\n' ORDER BY x), '') FROM (SELECT kind || ' ' ||
           coalesce((SELECT source || ':' || source_key FROM source_record WHERE id = r.record_id), '') ||
           ' ' || (SELECT string_agg(sr.source || ':' || sr.source_key, '|' ORDER BY sr.source,
           sr.source_key) FROM membership m JOIN source_record sr ON sr.id = m.record_id
           WHERE m.entity_id = r.entity_id AND m.active) AS x
         FROM review_item r WHERE status = 'open') t"
}

wipe() {
    sql "TRUNCATE source_record, source_record_history, record_reject, entity, entity_version,
         membership, link_event, blocking_key, record_pending, golden_value, golden_pin,
         review_item, outbox, consent_event, consent_state CASCADE" >/dev/null
}

# 1. the uninterrupted run
t0=$(date +%s%N)
if sequence >"$tmp/clean.log" 2>&1; then e2e_ok "clean load sequence"; else e2e_fail "clean load sequence" "$(tail -3 "$tmp/clean.log")"; fi
t1=$(date +%s%N)
clean_ms=$(((t1 - t0) / 1000000))
state > "$tmp/clean.state"
records=$(sql "SELECT count(*) FROM source_record")
rows=$(($(cat "$tmp"/data/{crm,loyalty,commerce,erp,pos}.csv | wc -l) - 5))
expect_eq "every row became a record" "$records" "$rows"
expect_eq "all resolved" "$(sql "SELECT count(*) FROM record_pending")" "0"
expect_eq "each record in one golden record" \
    "$(sql "SELECT count(*) FROM source_record r WHERE (SELECT count(*) FROM membership m WHERE m.record_id = r.id AND m.active) <> 1")" "0"
entities=$(sql "SELECT count(*) FROM entity WHERE status = 'active'")
if [ "$entities" -ge 200 ] && [ "$entities" -le 320 ]; then e2e_ok "about one golden record per person ($entities for 250)"; else e2e_fail "golden record count" "$entities for 250 people"; fi

# 2. the same files again change nothing
events=$(sql "SELECT count(*) FROM outbox")
expect_exit 0 "reload" "$mdm" load --chunk 40 --source crm "$tmp/data/crm.csv"
expect_contains "reload is unchanged" "0 new, 0 changed, $(($(wc -l < "$tmp/data/crm.csv") - 1)) unchanged" "$out"
expect_eq "reload emits no event" "$(sql "SELECT count(*) FROM outbox")" "$events"

# 3. kill -9 at several points of the sequence, then run it to the end
wipe
kills=0
points=""
# kill points spread over the length of the clean run (each rerun starts from the top
# and gets further, since what is done is skipped)
for pct in 3 10 25 40 55 70 85; do
    delay=$(awk -v ms="$clean_ms" -v p="$pct" 'BEGIN { printf "%.3f", ms * p / 100000 }')
    ( sequence >/dev/null 2>&1 ) &
    pid=$!
    sleep "$delay"
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null                      # the sequence ...
        kill -9 "$(cat "$tmp/cur.pid")" 2>/dev/null     # ... and the mdm load it runs
        kills=$((kills + 1))
        points+="$(sql "SELECT count(*) || '/' || (count(*) - (SELECT count(*) FROM record_pending)) FROM source_record") "
    fi
    wait "$pid" 2>/dev/null
done
# (records/resolved at each kill: the kills must land at different stages)
stages=$(printf '%s\n' $points | sort -u | wc -l)
if [ "$kills" -ge 2 ] && [ "$stages" -ge 2 ]; then e2e_ok "killed $kills runs mid-way (records/resolved: $points)"; else e2e_fail "kills" "$kills kills at stages: $points"; fi
if sequence >"$tmp/rerun.log" 2>&1; then e2e_ok "rerun to the end"; else e2e_fail "rerun" "$(tail -3 "$tmp/rerun.log")"; fi
state > "$tmp/killed.state"
if cmp -s "$tmp/clean.state" "$tmp/killed.state"; then
    e2e_ok "same final state as the uninterrupted run"
else
    e2e_fail "same final state" "$(diff "$tmp/clean.state" "$tmp/killed.state" | head -8)"
fi

# 4. stale rows, deletes and rejects in one NDJSON file of the web shop
key=$(sed -n 2p "$tmp/data/commerce.csv" | cut -d, -f1)
cat > "$tmp/changes.ndjson" <<NDJSON
{"account_id": "$key", "given_name": "Old", "family_name": "Data", "email_address": "old@data.example", "updated_at": "1999-01-01T00:00:00Z"}
{"account_id": "NEW-1", "given_name": "Nia", "family_name": "Okafor", "email_address": "nia@okafor.example", "birthday": "19920304"}
{"account_id": "NEW-2", "given_name": "Bad", "birthday": "19921304"}
{"account_id": "NEW-3", not json
NDJSON
# the web shop's newer version of the record, stamped 2024: what the file's 1999 row meets
printf '{"account_id": "%s", "given_name": "Nova", "family_name": "Data", "updated_at": "2024-01-01T00:00:00Z"}\n' "$key" > "$tmp/stamp.ndjson"
expect_exit 0 "load the record stamped 2024" "$mdm" load --source commerce "$tmp/stamp.ndjson"
expect_eq "stamped" "$(sql "SELECT source_updated_at = '2024-01-01' FROM source_record WHERE source = 'commerce' AND source_key = '$key'")" "t"
expect_exit 0 "load changes" "$mdm" load --source commerce "$tmp/changes.ndjson"
expect_contains "new, stale and rejects counted" "4 rows, 2 new, 0 changed, 0 unchanged, 1 stale, 0 deleted, 1 rejected" "$out"
expect_eq "stale row kept in history" "$(sql "SELECT count(*) FROM source_record_history h JOIN source_record r ON r.id = h.record_id WHERE r.source_key = '$key' AND h.change = 'stale'")" "1"
expect_eq "stale row not applied" "$(sql "SELECT raw->>'given_name' <> 'Old' FROM source_record WHERE source = 'commerce' AND source_key = '$key'")" "t"
expect_eq "reject names the line" "$(sql "SELECT count(*) FROM record_reject WHERE payload LIKE '%changes.ndjson:4%'")" "1"
expect_eq "an impossible birth date is flagged, not refused" "$(sql "SELECT normalized->'issues'->0->>'pointer' FROM source_record WHERE source_key = 'NEW-2'")" "/birthday"
expect_exit 0 "the same changes again" "$mdm" load --source commerce "$tmp/changes.ndjson"
expect_contains "nothing new the second time" "0 new, 0 changed, 2 unchanged, 1 stale" "$out"
expect_eq "rejects not duplicated" "$(sql "SELECT count(*) FROM record_reject")" "1"
expect_eq "stale not duplicated" "$(sql "SELECT count(*) FROM source_record_history WHERE change = 'stale'")" "1"
printf '{"account_id": "NEW-1", "op": "delete"}\n' > "$tmp/del.ndjson"
expect_exit 0 "delete row" "$mdm" load --source commerce "$tmp/del.ndjson"
expect_contains "delete applied" "1 deleted" "$out"
expect_eq "deleted record left its golden record" "$(sql "SELECT count(*) FROM membership m JOIN source_record r ON r.id = m.record_id WHERE r.source_key = 'NEW-1' AND m.active")" "0"
expect_eq "its golden record is retired" "$(sql "SELECT e.status FROM entity e JOIN membership m ON m.entity_id = e.id JOIN source_record r ON r.id = m.record_id WHERE r.source_key = 'NEW-1'")" "retired"

# 5. bad usage and input
expect_exit 2 "load needs --source" "$mdm" load "$tmp/del.ndjson"
expect_exit 4 "unknown source" "$mdm" load --source fax "$tmp/del.ndjson"
expect_exit 8 "missing file" "$mdm" load --source crm "$tmp/none.csv"
printf 'a,b\n' > "$tmp/x.txt"
expect_exit 2 "unknown extension" "$mdm" load --source crm "$tmp/x.txt"
expect_contains "asks for --format" "--format" "$out"

# 6. export
expect_exit 0 "export ndjson" "$mdm" export golden --format ndjson --output "$tmp/golden.ndjson"
expect_eq "one line per golden record" "$(wc -l < "$tmp/golden.ndjson")" "$(sql "SELECT count(*) FROM entity WHERE status = 'active'")"
# the CSV holds what the NDJSON holds: a key with "|" and ",", a formula-like name and a
# name that starts with the quote the neutralization adds must all come back as they were
cat > "$tmp/odd.ndjson" <<'NDJSON'
{"account_id": "ODD|1,x", "given_name": "=1+2", "family_name": "'+Quill", "email_address": "odd.one@quill.example", "birthday": "19800101"}
NDJSON
expect_exit 0 "load odd values" "$mdm" load --source commerce "$tmp/odd.ndjson"
expect_exit 0 "export ndjson again" "$mdm" export golden --format ndjson --output "$tmp/golden.ndjson"
expect_exit 0 "export csv" "$mdm" export golden --format csv --output "$tmp/golden.csv"
expect_eq "csv header" "$(head -n 1 "$tmp/golden.csv" | tr -d '\r')" \
    "id,version,first_name,middle_name,last_name,full_name,prefix,suffix,birth_date,gender,loyalty_id,customer_number,tax_id,national_id,account_status,segment,emails,phones,addresses,attributes,xrefs,completeness,validity,consistency,freshness,freshness_days"
expect_eq "csv lines end in CRLF" "$(grep -c $'\r$' "$tmp/golden.csv")" "$(($(wc -l < "$tmp/golden.ndjson") + 1))"
# read back as docs/CLI.md says: RFC 4180, strip the neutralizing quote, JSON columns
back=$(python3 - "$tmp/golden.csv" "$tmp/golden.ndjson" <<'PY'
import csv, json, sys
LISTS = ("emails", "phones", "addresses", "attributes")
SCORES = ("completeness", "validity", "consistency", "freshness", "freshness_days")
def unneutral(v):
    return v[1:] if len(v) > 1 and v[0] == "'" and v[1] in "=+-@\t\r'" else v
rows = []
with open(sys.argv[1], newline="") as f:
    for r in csv.DictReader(f):
        g = {}
        for k, v in r.items():
            if k in ("id", "version", "xrefs") + SCORES or v == "":
                continue
            g[k] = json.loads(v) if k in LISTS else unneutral(v)
        rows.append({"id": int(r["id"]), "version": int(r["version"]), "golden": g,
                     "xrefs": json.loads(r["xrefs"]),
                     "quality": {k: (json.loads(r[k]) if r[k] != "" else None) for k in SCORES}})
with open(sys.argv[2]) as f:
    want = [json.loads(l) for l in f]
bad = [w["id"] for w, g in zip(want, rows) if w != g]
print("same" if len(want) == len(rows) and not bad else f"{len(rows)} rows vs {len(want)}; differ: {bad[:5]}")
PY
)
expect_eq "csv read back equals the ndjson, record for record" "$back" "same"
expect_contains "odd key intact in the csv" 'ODD|1,x' "$(cat "$tmp/golden.csv")"
expect_contains "formula neutralized" '"'"'"'=1+2"' "$(cat "$tmp/golden.csv")"
expect_exit 2 "export bad format" "$mdm" export golden --format xml
e2e_end
