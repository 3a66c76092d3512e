# Data-quality scores beyond the entity reply (issue 21, deliverable 3; docs/QUALITY.md), on
# the pipeline's data (mdm synth -> mdm load -> mdm resolve: 500 people, a bulk resolution):
#   - the golden export (NDJSON "quality", CSV columns) and the change events (created by
#     the bulk resolution, updated/created by a record sent over HTTP, merged by a
#     steward) carry the scores the entity reply gives, for every golden record exported
#     and every event checked; push messages carry them as "quality";
#   - /metrics has per-source histograms of the record scores whose counts and sums agree
#     with the per-source report, computed in the background: a scrape serves the last
#     snapshot with its age and does not rescan; with a short interval the snapshot
#     follows new records;
#   - search (structured and free text) and the review queue filter on the scores: each
#     filtered list is exactly the unfiltered list's items that score within the bounds;
#     bad bounds are problem+json naming the parameter; search items carry the scores.
# Entity and record replies are fetched in batches (one curl for many URLs, one jq pass)
# and compared in one python pass each.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp
secret=e2e-quality-secret-0123456789

receiver_start "$secret" --log "$tmp/received.ndjson" && e2e_ok "receiver starts" || e2e_fail "receiver starts" "no port"
trap 'receiver_stop; http_cleanup' EXIT

e2e_pipeline "$tmp" 500 21
jq --arg u "http://127.0.0.1:$port/all" --arg s "$secret" '
    .http = {"auth_cache_seconds": 0, "quality_metrics_seconds": 3600}
  | .publish = {"enabled": false, "allowed_networks": ["127.0.0.1/32"]}
  | .subscriptions = [{"source": "commerce", "url": $u, "secret": $s, "scope": "all"}]' \
    "$tmp/mdm.json" >"$tmp/q.json"
jq '.publish.enabled = true' "$tmp/q.json" >"$tmp/p.json"
export MDM_CONFIG=$tmp/q.json
e2e_bulk "$tmp/data"
expect_eq "the bulk resolution created golden records" \
    "$(sql "SELECT count(*) > 300 FROM entity WHERE status = 'active'")" "t"

http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
reader=$(new_key reader)
batch=$(new_key reader --rate 100000/s --name batch) # the batches: hundreds of requests at once
steward=$(new_key steward)
crm=$(new_key source --source crm)
J=(-H "Content-Type: application/json")
A() { printf 'Authorization: Bearer %s' "${!1}"; }

# scores_of ID: the entity reply's scores (compact JSON)
scores_of() {
    call GET "/v1/entities/$1" -H "$(A reader)"
    jq -c .data_quality.scores <<<"$body"
}
# fetch_json KEYVAR FILTER PATH...: the jq FILTER of each reply to GET PATH..., one
# compact JSON line each, in order (one curl for all of them, one jq pass)
fetch_json() {
    local key=$1 filter=$2 p
    shift 2
    [ $# -gt 0 ] || return 0
    for p in "$@"; do printf 'url = "%s%s"\n' "$base" "$p"; done |
        curl -s -H "$(A "$key")" -w '\n' -K - | jq -c "$filter"
}
# scores_many ID...: "ID SCORES" per golden record, the entity replies' scores
scores_many() {
    [ $# -gt 0 ] || return 0
    paste -d' ' <(printf '%s\n' "$@") \
        <(fetch_json batch .data_quality.scores $(printf '/v1/entities/%s ' "$@"))
}
# cmp_scores.py FILE: each line "LABEL<tab>GOT<tab>WANT" (JSON); equal completeness,
# validity and consistency, freshness within 0.001 (computed at another instant),
# freshness_days within a day. Prints the labels that differ.
cat >"$tmp/cmp_scores.py" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    label, got, want = line.rstrip('\n').split('\t')
    a, b = json.loads(got), json.loads(want)
    ok = isinstance(a, dict) and isinstance(b, dict)
    ok = ok and all(a.get(k) == b.get(k) for k in ('completeness', 'validity', 'consistency'))
    ok = ok and a.get('completeness') is not None
    ok = ok and abs(a['freshness'] - b['freshness']) <= 0.0011
    ok = ok and abs(a['freshness_days'] - b['freshness_days']) <= 1
    if not ok:
        print(label)
PY
cmp_scores() { printf 'x\t%s\t%s\n' "$1" "$2" >"$tmp/one.txt" && [ -z "$(python3 "$tmp/cmp_scores.py" "$tmp/one.txt")" ]; }
same_scores() { cmp_scores "$2" "$3" && e2e_ok "$1" || e2e_fail "$1" "got $2, want $3"; }

# ---- Prometheus histograms per source, computed in the background: first, while the
# data are those of the bulk resolution (the snapshot is computed as the server starts)
# metric NAME: the value of an unlabelled series in $body
metric() { sed -n "s/^$1 //p" <<<"$body"; }
# wait_snapshot N: scrapes until this process has computed at least N snapshots (120 s)
wait_snapshot() {
    local _
    for _ in $(seq 1 240); do
        call GET /metrics
        [ "$(metric mdm_record_quality_snapshots_total)" -ge "$1" ] 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}
wait_snapshot 1 && e2e_ok "the first snapshot is computed" || e2e_fail "the first snapshot is computed" "none in 120 s"
printf '%s\n' "$body" >"$tmp/m1.txt"
expect_eq "one histogram per source and score" \
    "$(grep -c '^mdm_record_quality_count{' "$tmp/m1.txt")" "15"
expect_eq "the snapshot's age is a gauge, under the interval" \
    "$(python3 -c "import sys; a = float(sys.argv[1]); print(0 <= a < 3600)" "$(metric mdm_record_quality_age_seconds)")" "True"
expect_exit 0 "mdm quality report" "$mdm" quality report --format ndjson
printf '%s\n' "$out" >"$tmp/report.ndjson"
cat >"$tmp/hist_vs_report.py" <<'PY'
import json, re, sys
m = {}
for l in open(sys.argv[1]):
    x = re.match(r'mdm_record_quality_(bucket|sum|count)\{source="(\w+)",score="(\w+)"(?:,le="([^"]+)")?\} (\S+)', l)
    if x:
        m[(x[1], x[2], x[3], x[4])] = float(x[5])
for r in map(json.loads, open(sys.argv[2])):
    s = r['source']
    for score in ('completeness', 'validity', 'freshness'):
        n = m[('count', s, score, None)]
        assert n == r['records'], (s, score, n, r['records'])
        assert m[('bucket', s, score, '+Inf')] == n and m[('bucket', s, score, '1')] == n
        b = [m[('bucket', s, score, le)] for le in ('0.1', '0.25', '0.5', '0.75', '0.9', '1')]
        assert b == sorted(b), b
        assert abs(m[('sum', s, score, None)] / n - r[score]) < 0.0006, (s, score)
PY
python3 "$tmp/hist_vs_report.py" "$tmp/m1.txt" "$tmp/report.ndjson" &&
    e2e_ok "histogram counts and sums agree with the report" || e2e_fail "histogram counts and sums agree with the report" "see above"
ts1=$(sed -n 's/^mdm_record_quality_computed_timestamp_seconds //p' "$tmp/m1.txt")
expect_status "another CRM record" 201 POST /v1/sources/crm/records -H "$(A crm)" "${J[@]}" -d \
    '{"customer_id": "QE-2", "first_name": "Perpetua", "last_name": "Oyelaran", "birth_date": "1990-10-10"}'
call GET /metrics
expect_eq "a later scrape serves the snapshot (no scan: same computation, one snapshot)" \
    "$(metric mdm_record_quality_computed_timestamp_seconds),$(metric mdm_record_quality_snapshots_total),$(grep -c 'mdm_record_quality_count{source="crm"' <<<"$body")" "$ts1,1,3"
expect_eq "the snapshot: the new record is not counted yet" \
    "$(grep 'mdm_record_quality_count{source="crm",score="validity"}' <<<"$body")" \
    "$(grep 'mdm_record_quality_count{source="crm",score="validity"}' "$tmp/m1.txt")"
expect_eq "scans are the background thread's: one logged" \
    "$(grep -c 'event=quality_histograms ' "$server_log")" "1"

# ---- the golden export: every golden record, NDJSON and CSV, against the entity reply
expect_exit 0 "export golden (ndjson)" "$mdm" export golden --format ndjson --output "$tmp/golden.ndjson"
expect_eq "every exported line has scores" \
    "$(jq -s '[.[] | select(.quality | type == "object" and has("completeness") and has("consistency"))] | length' "$tmp/golden.ndjson")" \
    "$(wc -l <"$tmp/golden.ndjson" | tr -d ' ')"
expect_eq "the scores print as PostgreSQL wrote them (three decimals)" \
    "$(grep -c '"completeness":0\.[0-9]\{4,\}' "$tmp/golden.ndjson")" "0"
jq -r .id "$tmp/golden.ndjson" >"$tmp/golden.ids"
scores_many $(cat "$tmp/golden.ids") >"$tmp/golden.want"
python3 - "$tmp/golden.ndjson" "$tmp/golden.want" <<'PY' >"$tmp/golden.cmp"
import json, sys
want = {}
for l in open(sys.argv[2]):
    i, s = l.split(' ', 1)
    want[int(i)] = json.loads(s)
bad = []
for l in open(sys.argv[1]):
    j = json.loads(l)
    w = want.get(j['id'])
    if not w or any(j['quality'][k] != w[k] for k in ('completeness', 'validity', 'consistency', 'freshness_days')):
        bad.append(j['id'])
print(len(want), bad[:5])
PY
expect_eq "export scores = entity reply (every golden record exported)" \
    "$(cat "$tmp/golden.cmp")" "$(wc -l <"$tmp/golden.ids" | tr -d ' ') []"
expect_exit 0 "export golden (csv)" "$mdm" export golden --format csv --output "$tmp/golden.csv"
expect_eq "csv ends with the score columns" \
    "$(head -1 "$tmp/golden.csv" | tr -d '\r' | awk -F, '{print $(NF-4)","$(NF-3)","$(NF-2)","$(NF-1)","$NF}')" \
    "completeness,validity,consistency,freshness,freshness_days"
python3 - "$tmp/golden.csv" "$tmp/golden.ndjson" <<'PY' && e2e_ok "csv scores = ndjson scores" || e2e_fail "csv scores = ndjson scores" "differ"
import csv, json, sys
rows = {int(r['id']): r for r in csv.DictReader(open(sys.argv[1], newline=''))}
for line in open(sys.argv[2]):
    j = json.loads(line)
    r = rows[j['id']]
    for k in ('completeness', 'validity', 'consistency'):
        if abs(float(r[k]) - j['quality'][k]) > 1e-9:
            sys.exit(1)
    if int(r['freshness_days']) != j['quality']['freshness_days']:
        sys.exit(1)
PY

# ---- the change events
sql "SELECT count(*) FILTER (WHERE payload ? 'quality'), count(*) FROM outbox WHERE type = 'created'" >"$tmp/c.txt"
expect_eq "every created event of the bulk resolution carries scores" \
    "$(cut -d'|' -f1 "$tmp/c.txt")" "$(cut -d'|' -f2 "$tmp/c.txt")"
sql "SELECT entity_id, payload->'quality' FROM outbox o WHERE type = 'created' AND NOT EXISTS (
       SELECT 1 FROM outbox n WHERE n.entity_id = o.entity_id AND n.seq > o.seq)
     ORDER BY seq LIMIT 25" | tr '|' '\t' >"$tmp/created.txt"
scores_many $(cut -f1 "$tmp/created.txt") | cut -d' ' -f2 | paste "$tmp/created.txt" - >"$tmp/created.cmp"
expect_eq "created events (bulk) = entity reply, 25 golden records" \
    "$(python3 "$tmp/cmp_scores.py" "$tmp/created.cmp" | wc -l | tr -d ' '),$(wc -l <"$tmp/created.cmp" | tr -d ' ')" "0,25"

# the change feed serves them
call GET "/v1/changes?after=0&limit=5" -H "$(A reader)"
expect_eq "the change feed's events carry the scores" \
    "$(jq '[.events[] | select(.type == "created") | .payload.quality.completeness | type] | unique' <<<"$body" | jq -c .)" '["number"]'

# an incremental event: a record sent over HTTP (created or updated)
expect_status "a CRM record sent" 201 POST /v1/sources/crm/records -H "$(A crm)" "${J[@]}" -d \
    '{"customer_id": "QE-1", "first_name": "Oriel", "last_name": "Vantongeren", "email": "oriel-at-example.org",
      "phone": "(217) 555-0143", "birth_date": "1971-03-09", "updated_at": "2021-06-01T00:00:00Z"}'
e1=$(jq -r .entity_id <<<"$body")
got=$(sql "SELECT payload->'quality' FROM outbox WHERE entity_id = $e1 ORDER BY seq DESC LIMIT 1")
same_scores "its event carries the entity reply's scores" "$got" "$(scores_of "$e1")"
expect_eq "hand-checked: five of six attributes (no address), one of five values flagged" \
    "$(jq -c '[.completeness, .validity]' <<<"$got")" "[0.833,0.8]"

# a steward merge: the merged event's scores are those of the merged golden record
read -r a b < <(sql "SELECT e1.id, e2.id FROM entity e1 JOIN entity e2 ON e2.id > e1.id
                     WHERE e1.status = 'active' AND e2.status = 'active'
                       AND e1.golden->>'last_name' <> e2.golden->>'last_name'
                     ORDER BY e1.id LIMIT 1" | tr '|' ' ')
expect_status "a steward merges two golden records" 200 POST "/v1/entities/$a/merge" -H "$(A steward)" "${J[@]}" \
    -d "{\"other\": $b, \"reason\": \"quality e2e\"}"
got=$(sql "SELECT payload->'quality' FROM outbox WHERE entity_id = $a AND type = 'merged' ORDER BY seq DESC LIMIT 1")
want=$(scores_of "$a")
same_scores "the merged event carries the merged record's scores" "$got" "$want"
expect_eq "two last names now: consistency below 1" "$(jq '.consistency < 1' <<<"$want")" "true"
expect_eq "a deleted event carries none" \
    "$(sql "SELECT count(*) FROM outbox WHERE type = 'deleted' AND payload ? 'quality'")" "0"

# push deliveries: the message carries the event's scores as "quality"
expect_exit 0 "mdm publish" "$mdm" publish --drain --timeout 300 --config "$tmp/p.json"
python3 - "$tmp/received.ndjson" "$MDM_DATABASE_URL" "$a" <<'PY' >"$tmp/push.txt"
import json, subprocess, sys
msgs = [json.loads(l)['body'] for l in open(sys.argv[1]) if json.loads(l)['status'] == 200]
# every event's payload, in one statement
payload = {}
for l in subprocess.check_output(['psql', '-XAtq', sys.argv[2], '-c',
        'SELECT json_build_object(\'seq\', seq, \'payload\', payload) FROM outbox']).splitlines():
    j = json.loads(l)
    payload[j['seq']] = j['payload']
bad = [m['seq'] for m in msgs if m['type'] in ('created', 'updated', 'merged', 'split')
       and m.get('quality') != payload[m['seq']].get('quality')]
merged = [m for m in msgs if m['type'] == 'merged' and m['entity_id'] == int(sys.argv[3])]
print(len(msgs) > 300, bad[:5], len(merged) == 1 and 'quality' not in merged[0].get('details', {}),
      all(isinstance(m['quality']['completeness'], float) or m['quality']['completeness'] in (0, 1)
          for m in msgs if 'quality' in m))
PY
expect_eq "every pushed message carries its event's scores" "$(cat "$tmp/push.txt")" "True [] True True"

# ---- filters: structured search
name=$(sql "SELECT golden->>'last_name' FROM entity WHERE status = 'active' AND golden->>'last_name' ~ '^[A-Za-z]+$'
            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
call GET "/v1/entities?name=$name&limit=200" -H "$(A reader)"
all=$(jq -c '[.items[].id]' <<<"$body")
expect_eq "several golden records named $name" "$(jq 'length > 1' <<<"$all")" "true"
: >"$tmp/scores.txt"
jq -r '.items[] | "\(.id)\t\(.quality | tojson)"' <<<"$body" >"$tmp/items_q.txt"
scores_many $(jq '.[]' <<<"$all") >"$tmp/scores.txt"
cut -d' ' -f2- "$tmp/scores.txt" | paste "$tmp/items_q.txt" - >"$tmp/items_q.cmp"
expect_eq "each search item carries its golden record's scores (the entity reply's)" \
    "$(python3 "$tmp/cmp_scores.py" "$tmp/items_q.cmp" | wc -l | tr -d ' '),$(($(wc -l <"$tmp/items_q.cmp") > 1))" "0,1"
# check_filter NAME QUERY EXPR IDS: IDS (a JSON array) are exactly the golden records of
# scores.txt whose scores satisfy the python expression EXPR over s
check_filter() {
    local want
    want=$(python3 -c "
import json,sys
out=[]
for l in open('$tmp/scores.txt'):
    i,s=l.split(' ',1); s=json.loads(s)
    if $3: out.append(int(i))
print(json.dumps(sorted(out), separators=(',', ':')))")
    expect_eq "$1" "$(jq -c 'sort' <<<"$4")" "$want"
}
call GET "/v1/entities?name=$name&limit=200&max_completeness=0.7" -H "$(A reader)"
check_filter "search ?name&max_completeness=0.7" "" "s['completeness'] <= 0.7" "$(jq -c '[.items[].id]' <<<"$body")"
expect_eq "the filter narrows the search" "$(jq --argjson all "$all" '(.items | length) > 0 and (.items | length) < ($all | length)' <<<"$body")" "true"
call GET "/v1/entities?name=$name&limit=200&min_completeness=0.8&min_consistency=1" -H "$(A reader)"
check_filter "search ?name&min_completeness=0.8&min_consistency=1" "" \
    "s['completeness'] >= 0.8 and s['consistency'] >= 1" "$(jq -c '[.items[].id]' <<<"$body")"
call GET "/v1/entities?q=$name&limit=200" -H "$(A reader)"
qall=$(jq -c '[.items[].id]' <<<"$body")
jq -r '.items[] | "\(.id)\t\(.quality | tojson)"' <<<"$body" >"$tmp/items_q.txt"
scores_many $(jq '.[]' <<<"$qall") >"$tmp/scores.txt"
cut -d' ' -f2- "$tmp/scores.txt" | paste "$tmp/items_q.txt" - >"$tmp/items_q.cmp"
expect_eq "each free-text search item carries its golden record's scores" \
    "$(python3 "$tmp/cmp_scores.py" "$tmp/items_q.cmp" | wc -l | tr -d ' '),$(($(wc -l <"$tmp/items_q.cmp") > 1))" "0,1"
call GET "/v1/entities?q=$name&limit=200&max_validity=0.99" -H "$(A reader)"
check_filter "free-text search ?q&max_validity=0.99" "" "s['validity'] <= 0.99" "$(jq -c '[.items[].id]' <<<"$body")"
expect_eq "its total counts the filtered matches" "$(jq '.total == (.items | length)' <<<"$body")" "true"
call GET "/v1/entities?q=$name&limit=200&min_validity=1&max_freshness=1" -H "$(A reader)"
check_filter "free-text search ?q&min_validity=1&max_freshness=1" "" "s['validity'] >= 1 and s['freshness'] <= 1" \
    "$(jq -c '[.items[].id]' <<<"$body")"
expect_problem "a bound above 1" 400 einval GET "/v1/entities?name=$name&min_completeness=2" -H "$(A reader)"
expect_eq "the problem names the parameter" "$(jq -r '.errors[0].pointer' <<<"$body")" "/query/min_completeness"
expect_problem "a bound that is not a number" 400 einval GET "/v1/entities?q=$name&max_validity=high" -H "$(A reader)"
expect_problem "min above max" 400 einval GET "/v1/entities?name=$name&min_freshness=0.9&max_freshness=0.5" -H "$(A reader)"
expect_problem "a quality bound alone is no search" 400 einval GET "/v1/entities?max_completeness=0.5" -H "$(A reader)"

# ---- filters: the review queue
call GET "/v1/review?limit=500" -H "$(A steward)"
jq -c '.items[] | [.id, .record_id, .entity_id, .other_entity_id]' <<<"$body" >"$tmp/items.txt"
expect_eq "review items to filter" "$(($(wc -l <"$tmp/items.txt") > 3))" "1"
# each item's sides' completeness: its record's and its golden records' (one statement for
# the records' source keys, one batch of record replies, one of entity replies)
jq -r '.[1] | select(. != null)' "$tmp/items.txt" | sort -un | paste -sd, >"$tmp/rids.txt"
if [ -s "$tmp/rids.txt" ] && [ -n "$(cat "$tmp/rids.txt")" ]; then
    sql "SELECT id, '/v1/sources/' || source || '/records/' || source_key FROM source_record
         WHERE id = ANY('{$(cat "$tmp/rids.txt")}'::bigint[]) ORDER BY id" | tr '|' ' ' >"$tmp/rpaths.txt"
else
    : >"$tmp/rpaths.txt"
fi
paste -d' ' <(cut -d' ' -f1 "$tmp/rpaths.txt") \
    <(fetch_json batch .data_quality.scores.completeness $(cut -d' ' -f2 "$tmp/rpaths.txt")) >"$tmp/rscores.txt"
scores_many $(jq '.[2], .[3] | select(. != null)' "$tmp/items.txt" | sort -un) >"$tmp/escores.txt"
python3 - "$tmp/items.txt" "$tmp/rscores.txt" "$tmp/escores.txt" <<'PY' >"$tmp/sides.txt"
import json, sys
rec = {int(l.split()[0]): l.split()[1] for l in open(sys.argv[2])}
ent = {int(l.split(' ', 1)[0]): json.loads(l.split(' ', 1)[1]) for l in open(sys.argv[3])}
for l in open(sys.argv[1]):
    it = json.loads(l)
    c = [rec.get(it[1], 'null')] if it[1] is not None else []
    c += [json.dumps((ent.get(e) or {}).get('completeness')) for e in it[2:] if e is not None]
    print(' '.join([str(it[0])] + c))
PY
call GET "/v1/review?limit=500&max_completeness=0.6" -H "$(A steward)"
got=$(jq -c '[.items[].id] | sort' <<<"$body")
want=$(python3 -c "
import json
out=[int(l.split()[0]) for l in open('$tmp/sides.txt') if any(x!='null' and float(x)<=0.6 for x in l.split()[1:])]
print(json.dumps(sorted(out), separators=(',', ':')))")
expect_eq "review ?max_completeness=0.6: the items with a side scoring within" "$got" "$want"
expect_eq "the filter narrows the queue" "$(jq --argjson n "$(wc -l <"$tmp/items.txt")" '(.items | length) > 0 and (.items | length) < $n' <<<"$body")" "true"
expect_eq "the counts follow the filter" "$(jq '.counts.total == (.items | length)' <<<"$body")" "true"
expect_problem "review: a bad bound" 400 einval GET "/v1/review?min_validity=-1" -H "$(A steward)"
expect_eq "review: the problem points at the query parameter" "$(jq -r '.errors[0].pointer' <<<"$body")" "/query/min_validity"

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"

# ---- the snapshot follows the data: a server computing it every second
jq '.http.quality_metrics_seconds = 1' "$tmp/q.json" >"$tmp/q1.json"
export MDM_CONFIG=$tmp/q1.json
http_start || { e2e_fail "server starts (1 s snapshots)" "see above"; e2e_end; exit 1; }
wait_snapshot 1 && e2e_ok "a snapshot at start" || e2e_fail "a snapshot at start" "none in 120 s"
crm_validity() { sed -n 's/^mdm_record_quality_count{source="crm",score="validity"} //p' <<<"$body"; }
n0=$(crm_validity)
s0=$(metric mdm_record_quality_snapshots_total)
expect_eq "it counts the CRM record sent to the previous server" \
    "$n0" "$(sql "SELECT count(*) FROM source_record WHERE source = 'crm' AND NOT deleted AND NOT erased")"
expect_status "a CRM record with an invalid phone" 201 POST /v1/sources/crm/records -H "$(A crm)" "${J[@]}" -d \
    '{"customer_id": "QE-3", "first_name": "Isolde", "last_name": "Marchetti", "phone": "12",
      "birth_date": "1984-02-29", "updated_at": "2022-01-01T00:00:00Z"}'
n1=""
for _ in $(seq 1 240); do
    call GET /metrics
    n1=$(crm_validity)
    [ "$n1" = "$((n0 + 1))" ] && break
    sleep 0.5
done
expect_eq "a later snapshot counts the new record" "$n1" "$((n0 + 1))"
expect_eq "computed again in the background (more snapshots, age at most a few intervals)" \
    "$(python3 -c "import sys; print(int(sys.argv[1]) > int(sys.argv[2]) and float(sys.argv[3]) < 30)" \
        "$(metric mdm_record_quality_snapshots_total)" "$s0" "$(metric mdm_record_quality_age_seconds)")" "True"
printf '%s\n' "$body" >"$tmp/m2.txt"
expect_exit 0 "mdm quality report (after)" "$mdm" quality report --format ndjson
printf '%s\n' "$out" >"$tmp/report2.ndjson"
python3 "$tmp/hist_vs_report.py" "$tmp/m2.txt" "$tmp/report2.ndjson" &&
    e2e_ok "the new snapshot agrees with the report" || e2e_fail "the new snapshot agrees with the report" "see above"
expect_eq "its invalid phone shows in CRM's validity histogram" \
    "$(python3 - "$tmp/m1.txt" "$tmp/m2.txt" <<'PY'
import re, sys
def b(f):
    pat = r'mdm_record_quality_bucket\{source="crm",score="validity",le="([^"]+)"\} (\S+)'
    return {m[1]: float(m[2]) for m in (re.match(pat, l) for l in open(f)) if m}
a, c = b(sys.argv[1]), b(sys.argv[2])
print(c['0.9'] - a['0.9'] >= 1)
PY
)" "True"
http_stop
expect_eq "server exits cleanly (1 s snapshots)" "$server_rc" "0"
e2e_end
