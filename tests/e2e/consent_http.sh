# Consent and compliance over HTTP: POST /v1/consent-events (source keys bound to their
# system, idempotency, 422 with the allowed values), GET /v1/entities/{id}/consent with
# as_of, the streamed GET /v1/consent/audit (CSV and NDJSON, row counts, ranges, roles),
# GET /v1/subjects/{id}/export and POST /v1/subjects/{id}/erase, and a clean shutdown.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "crm", "kind": "crm"}, {"code": "shop", "kind": "commerce"}]}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
reader=$(new_key reader)
compliance=$(new_key compliance --name dpo)
admin=$(new_key admin)
crm=$(new_key source --source crm)
shop=$(new_key source --source shop)
http_start || { e2e_end; exit 1; }
json=(-H 'Content-Type: application/json')

# the subject: one person in both systems, ingested through the API
person='"first_name": "Ola", "last_name": "Oyelaran-Fitch", "emails": ["ofitch@example.net"], "birth_date": "1971-03-04"'
expect_status "crm record" 201 POST /v1/sources/crm/records -H "Authorization: Bearer $crm" "${json[@]}" -d "{\"source_key\": \"C-1\", $person}"
eid=$(jq .entity_id <<<"$body")
expect_status "shop record" 201 POST /v1/sources/shop/records -H "Authorization: Bearer $shop" "${json[@]}" -d "{\"source_key\": \"W-1\", $person}"
expect_eq "one golden record holds both" "$(jq .entity_id <<<"$body")" "$eid"

grant='{"purpose": "marketing", "channel": "email", "status": "granted", "captured_at": "2026-01-10T09:00:00Z", "lawful_basis": "consent", "evidence": "web form, step 2"}'
expect_status "crm grant stored" 201 POST /v1/consent-events -H "Authorization: Bearer $crm" "${json[@]}" \
    -d "{\"source_key\": \"C-1\", \"consents\": [$grant]}"
expect_eq "grant reached the golden record" "$(jq -c '[.record_id != null, .entity_id, .stored]' <<<"$body")" "[true,$eid,1]"
expect_status "same event again" 200 POST /v1/consent-events -H "Authorization: Bearer $crm" "${json[@]}" \
    -d "{\"source\": \"crm\", \"source_key\": \"C-1\", \"consents\": [$grant]}"
expect_eq "stored once" "$(jq -c '[.stored, .duplicates]' <<<"$body")" "[0,1]"
expect_status "shop withdrawal" 201 POST /v1/consent-events -H "Authorization: Bearer $shop" "${json[@]}" \
    -d '{"source_key": "W-1", "consents": [{"purpose": "marketing", "channel": "email", "status": "withdrawn", "captured_at": "2026-02-01T10:00:00+01:00"}]}'
expect_eq "audit columns of the withdrawal" "$(jq -c '.events[0] | [.state_before, .state_after]' <<<"$body")" '["granted","withdrawn"]'
expect_problem "a source key writes only its own source" 403 eforbidden POST /v1/consent-events \
    -H "Authorization: Bearer $crm" "${json[@]}" -d "{\"source\": \"shop\", \"source_key\": \"W-1\", \"consents\": [$grant]}"
expect_problem "readers cannot post consent" 403 eforbidden POST /v1/consent-events \
    -H "Authorization: Bearer $reader" "${json[@]}" -d "{\"source_key\": \"C-1\", \"consents\": [$grant]}"
expect_problem "unknown purpose" 422 eunprocessable POST /v1/consent-events -H "Authorization: Bearer $crm" "${json[@]}" \
    -d '{"source_key": "C-1", "consents": [{"purpose": "spam", "channel": "email", "status": "granted", "captured_at": "2026-01-01"}]}'
expect_eq "422 names the field" "$(jq -r '.errors[0].pointer' <<<"$body")" "/consents/0/purpose"
expect_contains "422 lists the allowed purposes" "one of: marketing, profiling, third_party" "$body"
expect_problem "admin must name the source" 422 eunprocessable POST /v1/consent-events \
    -H "Authorization: Bearer $admin" "${json[@]}" -d "{\"source_key\": \"C-1\", \"consents\": [$grant]}"
expect_problem "unknown body field" 422 eunprocessable POST /v1/consent-events \
    -H "Authorization: Bearer $admin" "${json[@]}" -d "{\"source\": \"crm\", \"source_key\": \"C-1\", \"consent\": []}"
expect_contains "the unknown field is named with the known ones" \
    'unknown key \"consent\" (known: source, source_key, consents)' "$body"

state() { jq -r --arg p "$1" --arg c "$2" '.consents[] | select(.purpose == $p and .channel == $c and .contact_point == null) | .status' <<<"$body"; }
expect_status "consent state" 200 GET "/v1/entities/$eid/consent" -H "Authorization: Bearer $reader"
expect_eq "later withdrawal wins" "$(state marketing email)" withdrawn
expect_eq "other channels untouched" "$(state marketing sms)" none
expect_status "consent as of January" 200 GET "/v1/entities/$eid/consent?as_of=2026-01-20" -H "Authorization: Bearer $reader"
expect_eq "granted as of January" "$(state marketing email)" granted
expect_problem "bad as_of" 400 einval GET "/v1/entities/$eid/consent?as_of=yesterday" -H "Authorization: Bearer $reader"
expect_eq "bad as_of named" "$(jq -r '.errors[0].pointer' <<<"$body")" "/query/as_of"
expect_problem "unknown entity" 404 enotfound GET "/v1/entities/99999/consent" -H "Authorization: Bearer $reader"

# audit export: 2,000 more events through the API in two batches of 1,000, a third of
# them with evidence that needs quoting; the range export asks for the second batch by
# the time it was received
batch() { # FIRST: events FIRST..FIRST+999, captured one per 25 minutes of 2025
    jq -nc --argjson f "$1" '{source_key: "C-1", consents: [range($f; $f + 1000) | {purpose: "profiling",
        channel: "sms", status: (if . % 2 == 0 then "granted" else "withdrawn" end),
        captured_at: ((1735689600 + . * 1500) | todate),
        evidence: (if . % 3 == 0 then "a,\"b\"\nc" else "form \(.)" end)}]}' >"$http_tmp/batch.json"
    call POST /v1/consent-events -H "Authorization: Bearer $crm" "${json[@]}" --data-binary "@$http_tmp/batch.json"
}
batch 1
expect_eq "first batch stored" "$status $(jq .stored <<<"$body")" "201 1000"
t1=$(sql "SELECT clock_timestamp()")
batch 1001
expect_eq "second batch stored" "$status $(jq .stored <<<"$body")" "201 1000"
t2=$(sql "SELECT clock_timestamp()")
total=$(sql "SELECT count(*) FROM consent_event")
expect_eq "every event stored once" "$total" 2002
curl -s -D "$http_tmp/ah" -o "$http_tmp/audit.csv" -H "Authorization: Bearer $compliance" "$base/v1/consent/audit"
ahdrs=$(tr -d '\r' < "$http_tmp/ah")
expect_contains "audit answers 200" "HTTP/1.1 200" "$ahdrs"
expect_contains "audit is CSV" "Content-Type: text/csv" "$ahdrs"
expect_contains "audit is streamed (chunked)" "Transfer-Encoding: chunked" "$ahdrs"
sql "CREATE TABLE audit_back (event_id bigint, golden_id bigint, source text, source_key text, purpose text, channel text, contact_point text, status text, captured_at timestamptz, expires_at timestamptz, received_at timestamptz, lawful_basis text, evidence text, state_before text, state_after text, captured_by text, captured_role text)" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$MDM_DATABASE_URL" -c "\\copy audit_back FROM '$http_tmp/audit.csv' WITH (FORMAT csv, HEADER true)" >/dev/null
expect_eq "CSV parses back with every event" "$(sql "SELECT count(*) FROM audit_back")" "$total"
expect_eq "CSV quoting round-trips" "$(sql "SELECT count(*) FROM audit_back WHERE evidence = E'a,\"b\"\nc'")" 666
expect_eq "CSV rows are the stored events" "$(sql "SELECT count(*) FROM audit_back b JOIN consent_event e ON e.id = b.event_id AND e.received_at = b.received_at AND e.captured_at = b.captured_at")" "$total"
from=$(jq -rn --arg t "$t1" '$t | @uri')
to=$(jq -rn --arg t "$t2" '$t | @uri')
call GET "/v1/consent/audit?from=$from&to=$to&format=ndjson" -H "Authorization: Bearer $compliance"
want=1000
expect_eq "NDJSON range row count" "$(printf '%s\n' "$body" | grep -c '^{')" "$want"
expect_eq "NDJSON lines parse" "$(printf '%s\n' "$body" | jq -s 'length')" "$want"
expect_eq "NDJSON range holds the second batch" "$(printf '%s\n' "$body" | jq -rs 'map(.evidence) | [.[0], .[-1]] | join(" ")')" "form 1001 form 2000"
expect_contains "NDJSON content type" "Content-Type: application/x-ndjson" "$hdrs"
expect_problem "bad format" 400 einval GET "/v1/consent/audit?format=xml" -H "Authorization: Bearer $compliance"
expect_problem "bad from" 400 einval GET "/v1/consent/audit?from=soon" -H "Authorization: Bearer $compliance"
expect_eq "bad from named" "$(jq -r '.errors[0].pointer' <<<"$body")" "/query/from"
expect_problem "readers cannot export the audit" 403 eforbidden GET /v1/consent/audit -H "Authorization: Bearer $reader"

# subject access and erasure
expect_status "subject export" 200 GET "/v1/subjects/$eid/export" -H "Authorization: Bearer $compliance"
expect_eq "export holds both records" "$(jq '.records | length' <<<"$body")" 2
expect_eq "export holds the consent state" "$(jq -r '.consent.state.consents[] | select(.purpose == "marketing" and .channel == "email") | .status' <<<"$body")" withdrawn
expect_problem "readers cannot export a subject" 403 eforbidden GET "/v1/subjects/$eid/export" -H "Authorization: Bearer $reader"
expect_problem "unknown subject" 404 enotfound GET "/v1/subjects/424242/export" -H "Authorization: Bearer $compliance"
expect_status "erase" 200 POST "/v1/subjects/$eid/erase" -H "Authorization: Bearer $compliance" "${json[@]}" -d '{"reason": "ticket 77"}'
expect_eq "erase names both records" "$(jq -c '[.records[].source_key]' <<<"$body")" '["C-1","W-1"]'
expect_status "erase again is a no-op" 200 POST "/v1/subjects/$eid/erase" -H "Authorization: Bearer $compliance" "${json[@]}" -d '{}'
expect_eq "already erased" "$(jq '.already_erased' <<<"$body")" true
expect_status "export after erasure" 200 GET "/v1/subjects/$eid/export" -H "Authorization: Bearer $compliance"
expect_eq "only the tombstone" "$(jq -c 'keys' <<<"$body")" '["entity_id","generated_at","status","subject_id","tombstone"]'
expect_contains "tombstone names the requesting key" '"requester":"key:' "$body"
expect_eq "no personal data left" "$(sql "SELECT count(*) FROM source_record x WHERE x::text ILIKE '%ofitch%' OR x::text ILIKE '%Oyelaran%'")" 0
expect_eq "deleted event emitted" "$(sql "SELECT count(*) FROM outbox WHERE type = 'deleted' AND entity_id = $eid")" 1
expect_problem "consent for an erased key is refused" 409 econflict POST /v1/consent-events -H "Authorization: Bearer $crm" "${json[@]}" \
    -d "{\"source_key\": \"C-1\", \"consents\": [$grant]}"
expect_problem "consent state of an erased subject" 404 enotfound GET "/v1/entities/$eid/consent" -H "Authorization: Bearer $reader"

call GET /v1/openapi.json
expect_eq "OpenAPI documents the audit export" "$(jq -r '.paths["/v1/consent/audit"].get.summary' <<<"$body")" "Consent audit export (streamed)"
http_stop
expect_eq "clean shutdown (no leaks)" "$server_rc" 0
if grep -q "ERROR: AddressSanitizer\|LeakSanitizer" "$server_log"; then e2e_fail "sanitizers quiet" "$(grep -m3 Sanitizer "$server_log")"; else e2e_ok "sanitizers quiet"; fi
e2e_end
