# Rejects (issue 18, deliverable 4): an invalid optional value no longer refuses its record
# (left out of matching, flagged in the record's and the golden record's data quality);
# only records without a key or with nothing to match on are refused; rejects are listed
# and filtered over the CLI and HTTP, and retried after a configuration fix with their
# original source time. Data: mdm synth -> mdm load, NDJSON through mdm load and HTTP.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$http_tmp
db=$MDM_DATABASE_URL
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$db" -c "$1"; }

sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" > "$tmp/mdm.json"
# the same configuration with a mapping mistake: the web shop's e-mail column is not mapped
jq '(.sources[] | select(.code == "commerce") | .mapping) |= del(.email_address)' \
    "$tmp/mdm.json" > "$tmp/broken.json"
export MDM_CONFIG=$tmp/mdm.json
"$mdm" synth --people 60 --seed 5 --out "$tmp/data" >/dev/null 2>&1
"$mdm" migrate >/dev/null 2>&1
expect_exit 0 "load the loyalty programme" "$mdm" load --quiet --source loyalty "$tmp/data/loyalty.csv"

# a loyalty member with an e-mail address, sent again by the web shop with a birth date in 2030
row=$(awk -F, 'NR > 1 && $3 ~ /@/ && $2 ~ / / { print; exit }' "$tmp/data/loyalty.csv")
member=$(cut -d, -f1 <<<"$row"); full=$(cut -d, -f2 <<<"$row"); email=$(cut -d, -f3 <<<"$row")
first=${full%% *}; last=${full##* }
cat > "$tmp/web.ndjson" <<NDJSON
{"account_id": "W-1", "given_name": "$first", "family_name": "$last", "email_address": "$email", "birthday": "2030-01-01", "updated_at": "2026-03-01T10:00:00Z"}
{"given_name": "No", "family_name": "Key", "email_address": "nokey@example.com"}
{"account_id": "W-3", "ship_city": "Nowhere"}
NDJSON
expect_exit 0 "load the web shop's changes" "$mdm" load --source commerce "$tmp/web.ndjson"
expect_contains "only the record without a key and the one with nothing to match on are refused" \
    "3 rows, 1 new, 0 changed, 0 unchanged, 0 stale, 0 deleted, 2 rejected" "$out"
expect_eq "the birth date in 2030 is left out of the record" \
    "$(sql "SELECT coalesce(normalized->>'birth_date', 'none') || ' ' || coalesce(normalized->'keys'->>'dob', 'none') FROM source_record WHERE source = 'commerce' AND source_key = 'W-1'")" "none none"
expect_eq "and kept as a flagged issue with the value sent" \
    "$(sql "SELECT i->>'field' || ' ' || (i->>'value') || ' ' || (i->>'dropped') FROM source_record, jsonb_array_elements(normalized->'issues') i WHERE source_key = 'W-1'")" \
    "birth_date 2030-01-01 true"
expect_eq "its e-mail still matches: the web record joins the loyalty member's golden record" \
    "$(sql "SELECT count(DISTINCT m.entity_id) FROM membership m JOIN source_record sr ON sr.id = m.record_id WHERE m.active AND ((sr.source = 'commerce' AND sr.source_key = 'W-1') OR (sr.source = 'loyalty' AND sr.source_key = '$member'))")" "1"

http_start
reader=$(new_key reader)
steward=$(new_key steward)
call GET /v1/sources/commerce/records/W-1 -H "Authorization: Bearer $steward"
expect_eq "the record's data quality names the dropped birth date" \
    "$(jq -r '.data_quality.issues[] | .field + " " + .reason' <<<"$body")" "birth_date is outside 1900-01-01..today"
eid=$(jq -r '.entity_id' <<<"$body")
call GET "/v1/entities/$eid" -H "Authorization: Bearer $reader"
expect_eq "the golden record's data quality lists it with its record" \
    "$(jq -r '.data_quality.issues[] | .source + ":" + .source_key + " " + .field + " " + .value' <<<"$body")" \
    "commerce:W-1 birth_date 2030-01-01"
expect_eq "the golden record has no birth date from 2030" "$(jq -r '.golden.birth_date // "none"' <<<"$body" | grep -c 2030)" "0"

# over HTTP too: an unknown country leaves the address out, the record is kept
call POST /v1/sources/pos/records -H "Authorization: Bearer $(new_key source --source pos)" \
    -H 'Content-Type: application/json' \
    -d '{"source_key": "P-X", "first_name": "Ada", "last_name": "Quill", "addresses": [{"line1": "1 Main St", "postal_code": "12345", "country": "Atlantis"}]}'
expect_eq "HTTP: a record with an unknown country is kept" "$status" "201"
expect_eq "HTTP: the address is flagged and left out" \
    "$(sql "SELECT (normalized->'addresses') IS NULL, normalized->'issues'->0->>'field', normalized->'issues'->0->'address'->>'line1' FROM source_record WHERE source_key = 'P-X'")" \
    "t|address.country|1 Main St"

# listing and filters
expect_exit 0 "mdm rejects list" "$mdm" rejects list --source commerce
expect_eq "two open rejects of the web shop" "$(grep -c '"status":"open"' <<<"$out")" "2"
expect_exit 0 "mdm rejects list --field source_key" "$mdm" rejects list --field source_key
expect_eq "the one without a key, with its file line" \
    "$(jq -r '.reasons[0].field + " " + (.line | tostring) + " " + .payload.email_address' <<<"$out")" "source_key 2 nokey@example.com"
call GET "/v1/rejects?source=commerce&field=record" -H "Authorization: Bearer $steward"
expect_eq "GET /v1/rejects filters by field" "$(jq -r '[.rejects[].payload.account_id] | join(",")' <<<"$body")" "W-3"
expect_status "GET /v1/rejects is not for readers" 403 GET /v1/rejects -H "Authorization: Bearer $reader"
expect_status "GET /v1/rejects refuses a bad status" 400 GET "/v1/rejects?status=gone" -H "Authorization: Bearer $steward"
call GET "/v1/rejects?limit=1" -H "Authorization: Bearer $steward"
next=$(jq -r '.next' <<<"$body")
call GET "/v1/rejects?limit=1&after=$next" -H "Authorization: Bearer $steward"
expect_eq "GET /v1/rejects pages with after" "$(jq -r '.rejects | length' <<<"$body")" "1"

# a configuration mistake refuses records; once fixed, retry takes them in with their time
{
    printf '{"account_id": "W-4", "email_address": "%s", "updated_at": "2025-05-05T00:00:00Z"}\n' "$email"
    printf '{"account_id": "W-5", "email_address": "w5@example.com"}\n'
} > "$tmp/late.ndjson"
expect_exit 0 "load under the broken mapping" "$mdm" load --config "$tmp/broken.json" --source commerce "$tmp/late.ndjson"
expect_contains "both refused: nothing to match on" "2 rejected" "$out"
first5=$(sql "SELECT first_received_at FROM record_reject WHERE source_key = 'W-5'")
sleep 1.1
expect_exit 0 "mdm rejects retry after the fix" "$mdm" rejects retry --source commerce
expect_eq "retry takes the two fixed records, the two bad ones stay refused" "$out" '{"tried":4,"accepted":2,"refused":2,"skipped":0}'
expect_eq "the retried record keeps its own source time" \
    "$(sql "SELECT source_updated_at = '2025-05-05T00:00:00Z' FROM source_record WHERE source_key = 'W-4'")" "t"
expect_eq "a retried record without one keeps the time it was first refused" \
    "$(sql "SELECT source_updated_at = '$first5'::timestamptz FROM source_record WHERE source_key = 'W-5'")" "t"
expect_eq "retried records are resolved into golden records" \
    "$(sql "SELECT count(*) FROM membership m JOIN source_record sr ON sr.id = m.record_id WHERE m.active AND sr.source_key IN ('W-4', 'W-5')")" "2"
call GET "/v1/rejects?status=retried" -H "Authorization: Bearer $steward"
expect_eq "retried rejects name their records" \
    "$(jq -r '[.rejects[] | select(.record_id != null) | .payload.account_id] | join(",")' <<<"$body")" "W-4,W-5"
expect_exit 0 "open rejects after the retry" "$mdm" rejects list
expect_eq "the refused ones count their retry" "$(jq -s -r 'map(.retries) | join(",")' <<<"$out")" "1,1"
expect_eq "one audit row for the retry" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'rejects.retry'")" "1"
expect_exit 2 "rejects needs a subcommand" "$mdm" rejects
expect_exit 2 "a bad time is refused" "$mdm" rejects list --from yesterday

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
e2e_end
