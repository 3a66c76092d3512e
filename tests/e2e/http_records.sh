# Records, golden records, search, history and match over HTTP: every route's success
# path, role checks for every route, 400/403/404/413/415/422, NDJSON batches where a bad
# line does not fail the others, and hostile inputs (SQL-shaped values stored verbatim,
# invalid UTF-8 refused).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [
  {"code": "crm", "kind": "crm", "key": "Id", "updated_at": "Modified",
   "mapping": {"First": "first_name", "Last": "last_name", "Mail": "email", "Tel": "phone:mobile",
               "Born": "birth_date", "Card": "loyalty_id"}},
  {"code": "web", "kind": "commerce"}, {"code": "pos", "kind": "pos"}],
 "http": {"auth_cache_seconds": 0, "max_body_bytes": 4096, "max_batch_lines": 6}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
e2e_ok "server starts (sources synced)"
expect_eq "sources registered at start" "$(sql "SELECT string_agg(code, ',' ORDER BY code) FROM source_system")" "crm,pos,web"
crm=$(new_key source --source crm --name crm-sync)
web=$(new_key source --source web)
reader=$(new_key reader)
steward=$(new_key steward)
compliance=$(new_key compliance)
admin=$(new_key admin)
auth() { printf 'Authorization: Bearer %s' "${!1}"; }
J=(-H "Content-Type: application/json")

c1='{"Id": "C1", "First": "Robert", "Last": "Smith", "Mail": "Bob.Smith@Example.com", "Tel": "(415) 555-0132", "Born": "03/04/1980", "Card": "L123"}'
w9='{"source_key": "W9", "first_name": "Robert", "last_name": "Smith", "emails": ["bob.smith@example.com"], "birth_date": "1980-03-04"}'

# --- upsert ---------------------------------------------------------------------------
expect_status "source key upserts its own record" 201 POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d "$c1"
expect_eq "decision created" "$(printf '%s' "$body" | jq -r .decision)" "created"
eid=$(printf '%s' "$body" | jq -r .entity_id)
expect_contains "Location of the golden record" "Location: /v1/entities/$eid" "$hdrs"
expect_status "same record again" 200 POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d "$c1"
expect_eq "decision unchanged" "$(printf '%s' "$body" | jq -r .decision)" "unchanged"
expect_status "canonical record of another source links" 201 POST /v1/sources/web/records -H "$(auth web)" "${J[@]}" -d "$w9"
expect_eq "decision linked" "$(printf '%s' "$body" | jq -r .decision)" "linked"
expect_eq "linked to the same golden record" "$(printf '%s' "$body" | jq -r .entity_id)" "$eid"
expect_status "admin upserts for any source" 201 POST /v1/sources/web/records -H "$(auth admin)" "${J[@]}" \
    -d '{"source_key": "W10", "first_name": "Zoe", "last_name": "Quinn", "emails": ["zoe@example.org"]}'
zid=$(printf '%s' "$body" | jq -r .entity_id)
expect_problem "source key may not write another source" 403 eforbidden POST /v1/sources/web/records -H "$(auth crm)" "${J[@]}" -d "$w9"
for k in reader steward compliance; do
    expect_problem "$k may not upsert" 403 eforbidden POST /v1/sources/crm/records -H "$(auth $k)" "${J[@]}" -d "$c1"
done
expect_problem "upsert without a key" 401 eauth POST /v1/sources/crm/records "${J[@]}" -d "$c1"
expect_problem "unknown source" 404 enotfound POST /v1/sources/nosuch/records -H "$(auth admin)" "${J[@]}" -d "$c1"
expect_problem "wrong content type" 415 emedia POST /v1/sources/crm/records -H "$(auth crm)" -H "Content-Type: text/plain" -d "$c1"
expect_problem "no content type" 415 emedia POST /v1/sources/crm/records -H "$(auth crm)" --data-binary "$c1" -H "Content-Type:"
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
expect_problem "body over the limit" 413 etoobig POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d "{\"Id\": \"C9\", \"First\": \"$big\"}"
printf '{"Id": "C9", "First": "%s"}' "$big" > "$http_tmp/big.json"
expect_problem "chunked body over the limit" 413 etoobig POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -H "Transfer-Encoding: chunked" --data-binary @"$http_tmp/big.json"
expect_problem "malformed JSON" 400 einval POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d '{"Id": "C9", '
expect_contains "malformed JSON says where" "line 1, column" "$(printf '%s' "$body" | jq -r .detail)"
expect_problem "empty body" 400 einval POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" --data-binary ''
expect_problem "duplicate keys" 400 einval POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d '{"Id": "C9", "Id": "C8"}'
printf '{"Id": "C9", "First": "\xff\xfe"}' > "$http_tmp/bad-utf8.json"
expect_problem "invalid UTF-8 in the body" 400 einval POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" --data-binary @"$http_tmp/bad-utf8.json"
expect_problem "NUL escape in the body" 400 einval POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d '{"Id": "C9", "First": "a\u0000b"}'
expect_problem "array body" 422 eunprocessable POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d '[1, 2]'
expect_problem "missing source key" 422 eunprocessable POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d '{"First": "Ann"}'
expect_eq "422 points at the missing key" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/source_key"
expect_problem "invalid fields" 422 eunprocessable POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" -d '{"Id": "C2", "First": "X", "Born": "notadate", "Card": {"a": 1}}'
# (the impossible birth date alone would not refuse the record: it is left out and flagged)
expect_eq "one pointer per field, in the source layout" "$(printf '%s' "$body" | jq -r '[.errors[].pointer] | sort | join(",")')" "/Card"
expect_eq "rejects are kept" "$(sql "SELECT count(*) FROM record_reject")" "2"
inj="Robert'); DROP TABLE entity; --"
expect_status "SQL-shaped value is stored" 201 POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" \
    -d "$(jq -cn --arg f "$inj" '{Id: "C3\u0027 OR 1=1 --", First: $f, Last: "Tables", Mail: "bobby@example.net"}')"
expect_status "read it back by its key" 200 GET "/v1/sources/crm/records/C3'%20OR%201=1%20--" -H "$(auth crm)"
expect_eq "SQL-shaped value verbatim" "$(printf '%s' "$body" | jq -r .raw.First)" "$inj"
expect_eq "entity table intact" "$(sql "SELECT count(*) > 0 FROM entity")" "t"
expect_status "non-Latin names round-trip" 201 POST /v1/sources/web/records -H "$(auth web)" "${J[@]}" \
    -d '{"source_key": "W-ИВ", "first_name": "Иван", "last_name": "Иванов", "emails": ["ivan@example.ru"]}'
expect_status "read a non-ASCII key" 200 GET "/v1/sources/web/records/W-%D0%98%D0%92" -H "$(auth web)"
expect_eq "Cyrillic verbatim" "$(printf '%s' "$body" | jq -r .raw.last_name)" "Иванов"
expect_problem "invalid UTF-8 in a key" 400 einval GET "/v1/sources/crm/records/%ff" -H "$(auth crm)"

# --- read and delete records -------------------------------------------------------------
for k in crm reader steward compliance admin; do
    expect_status "$k reads crm/C1" 200 GET /v1/sources/crm/records/C1 -H "$(auth $k)"
done
expect_eq "record carries its entity" "$(printf '%s' "$body" | jq -r .entity.id)" "$eid"
expect_eq "record raw layout" "$(printf '%s' "$body" | jq -r .raw.Mail)" "Bob.Smith@Example.com"
expect_problem "another source's key may not read it" 403 eforbidden GET /v1/sources/crm/records/C1 -H "$(auth web)"
expect_problem "unknown record" 404 enotfound GET /v1/sources/crm/records/nope -H "$(auth crm)"
expect_problem "record read without a key" 401 eauth GET /v1/sources/crm/records/C1
for k in reader steward compliance; do
    expect_problem "$k may not delete" 403 eforbidden DELETE /v1/sources/web/records/W10 -H "$(auth $k)"
done
expect_problem "crm key may not delete web's" 403 eforbidden DELETE /v1/sources/web/records/W10 -H "$(auth crm)"
expect_status "source deletes its record" 200 DELETE /v1/sources/web/records/W10 -H "$(auth web)"
expect_eq "decision deleted" "$(printf '%s' "$body" | jq -r .decision)" "deleted"
expect_status "the retired record is still readable" 200 GET /v1/sources/web/records/W10 -H "$(auth web)"
expect_eq "marked deleted" "$(printf '%s' "$body" | jq -r .deleted)" "true"
expect_problem "delete an unknown record" 404 enotfound DELETE /v1/sources/web/records/nope -H "$(auth admin)"

# --- golden records ------------------------------------------------------------------
for k in reader steward compliance admin; do
    expect_status "$k reads the golden record" 200 GET "/v1/entities/$eid" -H "$(auth $k)"
done
expect_eq "golden value" "$(printf '%s' "$body" | jq -r .golden.first_name)" "Robert"
expect_eq "members (xref)" "$(printf '%s' "$body" | jq -r '[.members[].source] | sort | join(",")')" "crm,web"
expect_eq "lineage names the winning record" "$(printf '%s' "$body" | jq -r '.lineage.loyalty_id.source_key')" "C1"
expect_eq "consent summary" "$(printf '%s' "$body" | jq -r '.consent | has("consents")')" "true"
ver=$(printf '%s' "$body" | jq -r .version)
expect_contains "version as ETag" "ETag: \"$ver\"" "$hdrs"
expect_problem "source key may not read golden records" 403 eforbidden GET "/v1/entities/$eid" -H "$(auth crm)"
expect_problem "golden record without a key" 401 eauth GET "/v1/entities/$eid"
expect_problem "unknown entity" 404 enotfound GET /v1/entities/999999 -H "$(auth reader)"
expect_problem "non-numeric entity id" 404 enotfound GET "/v1/entities/1%20OR%201=1" -H "$(auth reader)"
expect_status "deleted record's entity is retired" 200 GET "/v1/entities/$zid" -H "$(auth reader)"
expect_eq "retired status" "$(printf '%s' "$body" | jq -r .status)" "retired"

# search
for k in reader steward compliance admin; do
    expect_status "$k searches by e-mail" 200 GET "/v1/entities?email=BOB.SMITH%40example.com" -H "$(auth $k)"
done
expect_eq "found by normalized e-mail" "$(printf '%s' "$body" | jq -r '[.items[].id] | join(",")')" "$eid"
expect_status "search by phone" 200 GET "/v1/entities?phone=%2B1%20415%20555%200132" -H "$(auth reader)"
expect_eq "found by phone" "$(printf '%s' "$body" | jq -r '.items[0].id')" "$eid"
expect_status "search by loyalty id" 200 GET "/v1/entities?loyalty_id=L123" -H "$(auth reader)"
expect_eq "found by loyalty id" "$(printf '%s' "$body" | jq -r '.items[0].id')" "$eid"
expect_status "search by name and birth date" 200 GET "/v1/entities?name=smith&birth_date=1980-03-04" -H "$(auth reader)"
expect_eq "found by name and birth date" "$(printf '%s' "$body" | jq -r '.items[0].id')" "$eid"
expect_status "search without a hit" 200 GET "/v1/entities?email=nobody%40example.com" -H "$(auth reader)"
expect_eq "empty page" "$(printf '%s' "$body" | jq -c .)" '{"items":[],"next":null}'
expect_status "SQL-shaped search value" 200 GET "/v1/entities?name=x%27%20OR%20%271%27%3D%271" -H "$(auth reader)"
expect_eq "SQL-shaped search finds nothing" "$(printf '%s' "$body" | jq '.items | length')" "0"
expect_problem "search without criteria" 400 einval GET /v1/entities -H "$(auth reader)"
expect_problem "search with a bad limit" 400 einval GET "/v1/entities?email=a%40b.c&limit=0" -H "$(auth reader)"
expect_problem "search with invalid UTF-8" 400 einval GET "/v1/entities?name=%c3%28" -H "$(auth reader)"
expect_problem "source key may not search" 403 eforbidden GET "/v1/entities?email=a%40b.c" -H "$(auth crm)"
# paging: two Lees
for k in L1 L2 L3; do
    call POST /v1/sources/web/records -H "$(auth web)" "${J[@]}" -d "{\"source_key\": \"$k\", \"first_name\": \"Person$k\", \"last_name\": \"Lee\", \"birth_date\": \"1970-0${k#L}-0${k#L}\"}"
done
expect_status "first page" 200 GET "/v1/entities?name=lee&limit=2" -H "$(auth reader)"
p1=$(printf '%s' "$body" | jq -r '[.items[].id] | join(",")')
cursor=$(printf '%s' "$body" | jq -r .next)
expect_eq "page of two" "$(printf '%s' "$body" | jq '.items | length')" "2"
expect_status "next page" 200 GET "/v1/entities?name=lee&limit=2&after=$cursor" -H "$(auth reader)"
expect_eq "last page has the third" "$(printf '%s' "$body" | jq '.items | length')" "1"
p2=$(printf '%s' "$body" | jq -r '.items[0].id')
if [[ ",$p1," == *",$p2,"* ]]; then e2e_fail "pages do not overlap" "$p1 / $p2"; else e2e_ok "pages do not overlap"; fi

# history
for k in reader steward compliance admin; do
    expect_status "$k reads history" 200 GET "/v1/entities/$eid/history" -H "$(auth $k)"
done
expect_eq "history has every version" "$(printf '%s' "$body" | jq '.versions | length')" "$ver"
expect_contains "history has link events" '"action":"link"' "$body"
expect_problem "source key may not read history" 403 eforbidden GET "/v1/entities/$eid/history" -H "$(auth crm)"
expect_problem "history of an unknown entity" 404 enotfound GET /v1/entities/999999/history -H "$(auth reader)"

# match (no write)
records_before=$(sql "SELECT count(*) FROM source_record")
events_before=$(sql "SELECT count(*) FROM outbox")
q='{"first_name": "Bob", "last_name": "Smith", "birth_date": "1980-03-04", "emails": ["bob.smith@example.com"]}'
for k in reader steward compliance admin; do
    expect_status "$k matches" 200 POST /v1/match -H "$(auth $k)" "${J[@]}" -d "$q"
done
expect_eq "best candidate" "$(printf '%s' "$body" | jq -r '.candidates[0].entity_id')" "$eid"
expect_eq "probability is high" "$(printf '%s' "$body" | jq -r '.candidates[0].probability > 0.9')" "true"
expect_eq "explanation per field" "$(printf '%s' "$body" | jq -r '[.candidates[0].explanation[].field] | index("last_name") != null')" "true"
expect_status "match in a source layout" 200 POST "/v1/match?source=crm&limit=1" -H "$(auth reader)" "${J[@]}" -d '{"First": "Robert", "Last": "Smith", "Born": "03/04/1980"}'
expect_eq "source layout finds it" "$(printf '%s' "$body" | jq -r '.candidates[0].entity_id')" "$eid"
expect_eq "match wrote nothing" "$(sql "SELECT count(*) FROM source_record"),$(sql "SELECT count(*) FROM outbox")" "$records_before,$events_before"
expect_problem "match with an invalid field" 422 eunprocessable POST /v1/match -H "$(auth reader)" "${J[@]}" -d '{"first_name": "Ann", "birth_date": {"year": 1980}}'
expect_eq "match 422 points at the field" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/birth_date"
expect_problem "match with nothing to match on" 422 eunprocessable POST /v1/match -H "$(auth reader)" "${J[@]}" -d '{}'
expect_problem "match with malformed JSON" 400 einval POST /v1/match -H "$(auth reader)" "${J[@]}" -d '{"a":'
expect_problem "match with a wrong content type" 415 emedia POST /v1/match -H "$(auth reader)" -H "Content-Type: application/xml" -d '<a/>'
expect_problem "source key may not match" 403 eforbidden POST /v1/match -H "$(auth crm)" "${J[@]}" -d "$q"
expect_problem "GET on match is 405" 405 emethod GET /v1/match -H "$(auth reader)"

# a merged-away id answers with its survivor
pos=$(new_key source --source pos)
call POST /v1/sources/web/records -H "$(auth web)" "${J[@]}" -d '{"source_key": "MA", "first_name": "Maria", "last_name": "Garcia", "birth_date": "1985-06-15", "emails": ["maria.garcia@example.com"]}'
m1=$(printf '%s' "$body" | jq -r .entity_id)
call POST /v1/sources/pos/records -H "$(auth pos)" "${J[@]}" -d '{"source_key": "MB", "first_name": "Maria", "last_name": "Garcia", "birth_date": "1985-06-15", "phones": ["+1 415 555 0199"], "loyalty_id": "LOY77"}'
m2=$(printf '%s' "$body" | jq -r .entity_id)
expect_status "a bridging record merges" 201 POST /v1/sources/web/records -H "$(auth web)" "${J[@]}" -d '{"source_key": "MC", "first_name": "Maria", "last_name": "Garcia", "birth_date": "1985-06-15", "emails": ["maria.garcia@example.com"], "phones": ["+1 415 555 0199"], "loyalty_id": "LOY77"}'
expect_eq "decision merged" "$(printf '%s' "$body" | jq -r .decision)" "merged"
if [ "$m1" -lt "$m2" ]; then old=$m2 live=$m1; else old=$m1 live=$m2; fi
expect_status "retired id answers" 200 GET "/v1/entities/$old" -H "$(auth reader)"
expect_eq "with its survivor" "$(printf '%s' "$body" | jq -r '.id, .requested_id, .status' | tr '\n' ' ')" "$live $old active "
expect_contains "Content-Location names the survivor" "Content-Location: /v1/entities/$live" "$hdrs"
expect_eq "survivor holds all three records" "$(printf '%s' "$body" | jq '.members | length')" "3"
expect_status "history of the survivor shows the merge" 200 GET "/v1/entities/$live/history" -H "$(auth reader)"
expect_contains "merge event" '"action":"merge"' "$body"
expect_status "change feed has the merge" 200 GET "/v1/changes?after=0&limit=1000" -H "$(auth reader)"
expect_eq "merged event in the feed" "$(printf '%s' "$body" | jq -r '[.events[] | select(.type == "merged")] | length > 0')" "true"

# --- NDJSON batch ------------------------------------------------------------------------
printf '%s\n' '{"Id": "B1", "First": "Ann", "Last": "Berg", "Mail": "ann.berg@example.com"}' '{bad' \
    '{"First": "NoKey"}' '' '[1]' '{"Id": "B2", "First": "Carl", "Last": "Dahl", "Mail": "carl@example.com"}' > "$http_tmp/batch.ndjson"
N=(-H "Content-Type: application/x-ndjson")
expect_status "batch" 200 POST /v1/sources/crm/records:batch -H "$(auth crm)" "${N[@]}" --data-binary @"$http_tmp/batch.ndjson"
expect_eq "one result line per input line" "$(printf '%s\n' "$body" | wc -l)" "6"
expect_eq "statuses per line" "$(printf '%s\n' "$body" | jq -r .status | tr '\n' ' ')" "201 400 422 400 422 201 "
expect_eq "lines numbered" "$(printf '%s\n' "$body" | jq -r .line | tr '\n' ' ')" "1 2 3 4 5 6 "
expect_eq "good lines stored" "$(sql "SELECT count(*) FROM source_record WHERE source_key IN ('B1', 'B2')")" "2"
expect_contains "rejected line points at the field" '"pointer":"/source_key"' "$body"
expect_status "batch without a final newline" 200 POST /v1/sources/crm/records:batch -H "$(auth crm)" "${N[@]}" --data-binary '{"Id": "B3", "First": "Dora", "Last": "Ek", "Mail": "dora@example.com"}'
expect_eq "single line batch" "$(printf '%s\n' "$body" | jq -r .decision)" "created"
expect_problem "batch as JSON is 415" 415 emedia POST /v1/sources/crm/records:batch -H "$(auth crm)" "${J[@]}" --data-binary @"$http_tmp/batch.ndjson"
seq 1 7 | sed 's/.*/{"Id": "T&"}/' > "$http_tmp/long.ndjson"
expect_problem "batch over max_batch_lines" 413 etoobig POST /v1/sources/crm/records:batch -H "$(auth crm)" "${N[@]}" --data-binary @"$http_tmp/long.ndjson"
expect_eq "an oversized batch writes nothing" "$(sql "SELECT count(*) FROM source_record WHERE source_key LIKE 'T%'")" "0"
expect_problem "empty batch" 400 einval POST /v1/sources/crm/records:batch -H "$(auth crm)" "${N[@]}" --data-binary ''
expect_problem "batch for another source" 403 eforbidden POST /v1/sources/web/records:batch -H "$(auth crm)" "${N[@]}" --data-binary @"$http_tmp/batch.ndjson"
for k in reader steward compliance; do
    expect_problem "$k may not batch" 403 eforbidden POST /v1/sources/crm/records:batch -H "$(auth $k)" "${N[@]}" --data-binary @"$http_tmp/batch.ndjson"
done

expect_status "metrics" 200 GET /metrics
expect_contains "ingest results are counted" 'mdm_ingest_results_total{result="created"}' "$body"
expect_contains "rejects are counted" 'mdm_ingest_results_total{result="rejected"}' "$body"
expect_contains "upserts by route and status" 'route="/v1/sources/{source}/records",status="201"' "$body"
http_stop
expect_eq "SIGTERM exits 0" "$server_rc" "0"
if grep -q "Bob.Smith\|Robert" "$server_log"; then e2e_fail "no customer data in the info log" "$(grep -m1 'Robert\|Bob' "$server_log")"; else e2e_ok "no customer data in the info log"; fi
e2e_end
