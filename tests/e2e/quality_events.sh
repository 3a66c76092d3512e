# Data-quality scores beyond the entity reply (issue 21, deliverable 3; docs/QUALITY.md), on
# the pipeline's data (mdm synth -> mdm load -> mdm resolve: 500 people, a bulk resolution):
#   - the golden export (NDJSON "quality", CSV columns) and the change events (created by
#     the bulk resolution, updated/created by a record sent over HTTP, merged by a
#     steward) carry the scores the entity reply gives, for every golden record exported
#     and every event checked; push messages carry them as "quality";
#   - /metrics has per-source histograms of the record scores whose counts and sums agree
#     with the per-source report, cached: a second scrape does not recompute them;
#   - search (structured and free text) and the review queue filter on the scores: each
#     filtered list is exactly the unfiltered list's items that score within the bounds;
#     bad bounds are problem+json naming the parameter.
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
steward=$(new_key steward)
crm=$(new_key source --source crm)
J=(-H "Content-Type: application/json")
A() { printf 'Authorization: Bearer %s' "${!1}"; }

# scores_of ID: the entity reply's scores (compact JSON)
scores_of() {
    call GET "/v1/entities/$1" -H "$(A reader)"
    jq -c .data_quality.scores <<<"$body"
}
# cmp_scores GOT WANT: equal completeness, validity and consistency, freshness within
# 0.001 (computed at another instant), freshness_days within a day
cmp_scores() {
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ok = all(a.get(k) == b.get(k) for k in ('completeness', 'validity', 'consistency'))
ok = ok and a.get('completeness') is not None
ok = ok and abs(a['freshness'] - b['freshness']) <= 0.0011
ok = ok and abs(a['freshness_days'] - b['freshness_days']) <= 1
sys.exit(0 if ok else 1)
PY
}
same_scores() { cmp_scores "$2" "$3" && e2e_ok "$1" || e2e_fail "$1" "got $2, want $3"; }

# ---- the golden export: every golden record, NDJSON and CSV, against the entity reply
expect_exit 0 "export golden (ndjson)" "$mdm" export golden --format ndjson --output "$tmp/golden.ndjson"
expect_eq "every exported line has scores" \
    "$(jq -s '[.[] | select(.quality | type == "object" and has("completeness") and has("consistency"))] | length' "$tmp/golden.ndjson")" \
    "$(wc -l <"$tmp/golden.ndjson" | tr -d ' ')"
expect_eq "the scores print as PostgreSQL wrote them (three decimals)" \
    "$(grep -c '"completeness":0\.[0-9]\{4,\}' "$tmp/golden.ndjson")" "0"
mismatch=0
checked=0
while read -r line; do
    id=$(jq .id <<<"$line")
    want=$(scores_of "$id")
    got=$(jq -c .quality <<<"$line")
    python3 -c "
import json,sys
a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2])
sys.exit(0 if all(a[k]==b[k] for k in ('completeness','validity','consistency','freshness_days')) else 1)" "$got" "$want" || mismatch=$((mismatch + 1))
    checked=$((checked + 1))
done < <(awk 'NR % 8 == 1' "$tmp/golden.ndjson")
expect_eq "export scores = entity reply ($checked golden records)" "$mismatch" "0"
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
mismatch=0
checked=0
for id in $(sql "SELECT entity_id FROM outbox o WHERE type = 'created' AND NOT EXISTS (
                   SELECT 1 FROM outbox n WHERE n.entity_id = o.entity_id AND n.seq > o.seq)
                 ORDER BY seq LIMIT 25"); do
    got=$(sql "SELECT payload->'quality' FROM outbox WHERE entity_id = $id AND type = 'created'")
    cmp_scores "$got" "$(scores_of "$id")" || mismatch=$((mismatch + 1))
    checked=$((checked + 1))
done
expect_eq "created events (bulk) = entity reply, 25 golden records" "$mismatch,$checked" "0,25"

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
def payload(seq):
    return json.loads(subprocess.check_output(['psql', '-XAtq', sys.argv[2], '-c',
        'SELECT payload FROM outbox WHERE seq = %d' % seq]))
bad = [m['seq'] for m in msgs if m['type'] in ('created', 'updated', 'merged', 'split')
       and m.get('quality') != payload(m['seq']).get('quality')]
merged = [m for m in msgs if m['type'] == 'merged' and m['entity_id'] == int(sys.argv[3])]
print(len(msgs) > 300, bad[:5], len(merged) == 1 and 'quality' not in merged[0].get('details', {}),
      all(isinstance(m['quality']['completeness'], float) or m['quality']['completeness'] in (0, 1)
          for m in msgs if 'quality' in m))
PY
expect_eq "every pushed message carries its event's scores" "$(cat "$tmp/push.txt")" "True [] True True"

# ---- Prometheus histograms per source
call GET /metrics
printf '%s\n' "$body" >"$tmp/m1.txt"
expect_eq "one histogram per source and score" \
    "$(grep -c '^mdm_record_quality_count{' "$tmp/m1.txt")" "15"
expect_exit 0 "mdm quality report" "$mdm" quality report --format ndjson
printf '%s\n' "$out" >"$tmp/report.ndjson"
python3 - "$tmp/m1.txt" "$tmp/report.ndjson" <<'PY' && e2e_ok "histogram counts and sums agree with the report" || e2e_fail "histogram counts and sums agree with the report" "see above"
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
ts1=$(sed -n 's/^mdm_record_quality_computed_timestamp_seconds //p' "$tmp/m1.txt")
expect_status "another CRM record" 201 POST /v1/sources/crm/records -H "$(A crm)" "${J[@]}" -d \
    '{"customer_id": "QE-2", "first_name": "Perpetua", "last_name": "Oyelaran", "birth_date": "1990-10-10"}'
call GET /metrics
expect_eq "a second scrape serves the cached histograms (not recomputed)" \
    "$(sed -n 's/^mdm_record_quality_computed_timestamp_seconds //p' <<<"$body"),$(grep -c 'mdm_record_quality_count{source="crm"' <<<"$body")" "$ts1,3"
expect_eq "cached: the new record is not counted yet" \
    "$(grep 'mdm_record_quality_count{source="crm",score="validity"}' <<<"$body")" \
    "$(grep 'mdm_record_quality_count{source="crm",score="validity"}' "$tmp/m1.txt")"

# ---- filters: structured search
name=$(sql "SELECT golden->>'last_name' FROM entity WHERE status = 'active' AND golden->>'last_name' ~ '^[A-Za-z]+$'
            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
call GET "/v1/entities?name=$name&limit=200" -H "$(A reader)"
all=$(jq -c '[.items[].id]' <<<"$body")
expect_eq "several golden records named $name" "$(jq 'length > 1' <<<"$all")" "true"
: >"$tmp/scores.txt"
for id in $(jq '.[]' <<<"$all"); do echo "$id $(scores_of "$id")" >>"$tmp/scores.txt"; done
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
: >"$tmp/scores.txt"
for id in $(jq '.[]' <<<"$qall"); do echo "$id $(scores_of "$id")" >>"$tmp/scores.txt"; done
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
# each item's sides' completeness: its record's and its golden records'
: >"$tmp/sides.txt"
while read -r it; do
    c=""
    rid=$(jq '.[1]' <<<"$it")
    if [ "$rid" != null ]; then
        read -r src key < <(sql "SELECT source, source_key FROM source_record WHERE id = $rid" | tr '|' ' ')
        call GET "/v1/sources/$src/records/$key" -H "$(A reader)"
        c="$c $(jq .data_quality.scores.completeness <<<"$body")"
    fi
    for e in $(jq '.[2], .[3] | select(. != null)' <<<"$it"); do
        c="$c $(scores_of "$e" | jq .completeness)"
    done
    echo "$(jq '.[0]' <<<"$it")$c" >>"$tmp/sides.txt"
done <"$tmp/items.txt"
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
e2e_end
