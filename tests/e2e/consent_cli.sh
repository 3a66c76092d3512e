# mdm export consent and mdm subject: the streamed audit export (row counts, RFC 4180 CSV
# read back by PostgreSQL's own CSV parser, NDJSON, ranges by the time events were received)
# of events sent through the API, bad input, subject export and erasure.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp
psql_q() { psql -X -q -tA -v ON_ERROR_STOP=1 "$MDM_DATABASE_URL" "$@"; }

# mdm config checks the consent vocabulary through the same function as serve and the
# consent commands: a bad name, an unknown key, a default for an unknown purpose
echo '{"consent": {"purposes": ["marketing", "Profiling!"]}}' > "$tmp/badp.json"
expect_exit 2 "config: bad purpose name" "$mdm" config --config "$tmp/badp.json"
expect_contains "config: bad purpose named" "consent.purposes[1]" "$out"
expect_contains "config: bad purpose pointer" "/consent/purposes/1" "$out"
echo '{"consent": {"channels": ["email", "sms", "email"]}}' > "$tmp/badc.json"
expect_exit 2 "config: repeated channel" "$mdm" config --config "$tmp/badc.json"
expect_contains "config: repeated channel named" 'consent.channels[2] must be a name not listed before ("email" is listed twice)' "$out"
echo '{"consent": {"chanels": ["email"]}}' > "$tmp/badk.json"
expect_exit 2 "config: unknown consent key" "$mdm" config --config "$tmp/badk.json"
expect_contains "config: unknown consent key named" "consent.chanels" "$out"
echo '{"consent": {"purposes": ["marketing"], "defaults": {"profiling": "granted"}}}' > "$tmp/badd.json"
expect_exit 2 "config: default for an unknown purpose" "$mdm" config --config "$tmp/badd.json"
expect_contains "config: default named" "/consent/defaults/profiling" "$out"
echo '{"consent": {"purposes": ["marketing", "loyalty_news"], "channels": ["email", "app_push"]}}' > "$tmp/okc.json"
expect_exit 0 "config: good consent section" "$mdm" config --config "$tmp/okc.json"
expect_contains "config: good consent section printed" "app_push" "$out"

# the subject: a record loaded by mdm load, 2,000 consent events sent over the API in two
# batches of 1,000 (captured every 4 hours of 2025, a quarter with evidence that needs
# quoting); the range exports ask for the second batch by the time it was received
echo '{"sources": [{"code": "crm", "kind": "crm"}, {"code": "shop", "kind": "commerce"}]}' > "$tmp/load.json"
export MDM_CONFIG=$tmp/load.json
expect_exit 0 "migrate" "$mdm" migrate
printf '%s\n' '{"source_key": "K-1", "first_name": "Vera", "last_name": "Vandersloot"}' > "$tmp/k1.ndjson"
expect_exit 0 "load the subject's record" "$mdm" load --source crm --quiet "$tmp/k1.ndjson"
http_start || { e2e_end; exit 1; }
crm=$(new_key source --source crm)
now_utc() { psql_q -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"; }
batch() { # FIRST: events FIRST..FIRST+999
    jq -nc --argjson f "$1" '{source_key: "K-1", consents: [range($f; $f + 1000) | {purpose: "marketing",
        channel: "email", status: (if . % 2 == 0 then "granted" else "withdrawn" end),
        captured_at: ((1735689600 + . * 14400) | todate),
        evidence: (if . % 4 == 0 then "form \"A\", page \(.)\r\nsigned" else "web" end)}]}' >"$tmp/batch.json"
    call POST /v1/consent-events -H "Authorization: Bearer $crm" -H 'Content-Type: application/json' --data-binary "@$tmp/batch.json"
}
batch 1
expect_eq "first batch stored" "$status $(jq .stored <<<"$body")" "201 1000"
t1=$(now_utc)
batch 1001
expect_eq "second batch stored" "$status $(jq .stored <<<"$body")" "201 1000"
t2=$(now_utc)
http_stop

expect_exit 0 "export all as CSV" "$mdm" export consent --output "$tmp/all.csv"
rows=$(psql_q -c "CREATE TEMP TABLE back (event_id bigint, golden_id bigint, source text, source_key text, purpose text, channel text, contact_point text, status text, captured_at timestamptz, expires_at timestamptz, received_at timestamptz, lawful_basis text, evidence text, state_before text, state_after text, captured_by text, captured_role text)" \
    -c "\\copy back FROM '$tmp/all.csv' WITH (FORMAT csv, HEADER true)" \
    -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE evidence LIKE E'form \"A\", page %\\r\\nsigned') || ' ' || count(DISTINCT golden_id) FROM back")
expect_eq "CSV parses back: all rows, quoted evidence intact, golden id" "$rows" "2000 500 1"
expect_eq "CSV header" "$(head -n 1 "$tmp/all.csv" | tr -d '\r')" \
    "event_id,golden_id,source,source_key,purpose,channel,contact_point,status,captured_at,expires_at,received_at,lawful_basis,evidence,state_before,state_after,captured_by,captured_role"
expect_eq "CSV lines end in CRLF" "$(head -n 1 "$tmp/all.csv" | od -An -c | tr -d ' \n' | tail -c 4)" '\r\n'

expect_exit 0 "export a range as NDJSON" "$mdm" export consent --from "$t1" --to "$t2" --format ndjson --output "$tmp/range.ndjson"
expect_eq "NDJSON row count equals the events received in range" "$(wc -l < "$tmp/range.ndjson")" 1000
first=$(head -n 1 "$tmp/range.ndjson")
expect_contains "NDJSON names the source key" '"source_key":"K-1"' "$first"
expect_eq "NDJSON rows received in range" "$(jq -rs --arg a "$t1" --arg b "$t2" '[.[] | select(.received_at < $a or .received_at >= $b)] | length' "$tmp/range.ndjson")" 0
expect_eq "NDJSON range is the second batch" "$(jq -rs '[.[0].captured_at, .[-1].captured_at] | join(" ")' "$tmp/range.ndjson")" \
    "$(jq -rn '[1001, 2000] | map((1735689600 + . * 14400) | strftime("%Y-%m-%dT%H:%M:%S.000000Z")) | join(" ")')"
expect_exit 0 "export to stdout" "$mdm" export consent --from "$t1" --to "$t2" --format ndjson
expect_eq "stdout export has the range's rows" "$(printf '%s\n' "$out" | grep -c '"event_id"')" 1000

expect_exit 2 "bad format" "$mdm" export consent --format xml
expect_contains "bad format named" "--format must be csv or ndjson" "$out"
expect_exit 2 "bad --from" "$mdm" export consent --from yesterday
expect_contains "bad --from named" "--from must be an ISO 8601 time" "$out"
expect_exit 2 "unknown export" "$mdm" export golden-chickens
expect_exit 8 "unwritable output" "$mdm" export consent --output /nonexistent/dir/x.csv

id=$(psql_q -c "SELECT id FROM entity")
expect_exit 0 "subject export" "$mdm" subject export "$id"
expect_contains "subject export holds the record" '"Vandersloot"' "$out"
expect_exit 4 "subject export of an unknown id" "$mdm" subject export 999999
expect_exit 2 "subject export of a bad id" "$mdm" subject export abc
expect_exit 2 "erase needs a requester" "$mdm" subject erase "$id"
expect_exit 0 "erase" "$mdm" subject erase "$id" --requester dpo --reason "ticket 9"
expect_contains "erase answers the tombstone" '"tombstone_id"' "$out"
expect_exit 0 "subject export after erasure" "$mdm" subject export "$id"
expect_contains "only the tombstone" '"status": "erased"' "$out"
case $out in *Vandersloot*) e2e_fail "no personal data after erasure" "$out" ;; *) e2e_ok "no personal data after erasure" ;; esac
expect_eq "no table row holds the name" \
    "$(psql_q -c "SELECT count(*) FROM source_record x WHERE x::text LIKE '%Vandersloot%'") $(psql_q -c "SELECT count(*) FROM entity x WHERE x::text LIKE '%Vandersloot%'")" "0 0"
expect_exit 0 "the audit keeps every event after erasure" "$mdm" export consent --format ndjson --output "$tmp/after.ndjson"
expect_eq "audit row count unchanged" "$(wc -l < "$tmp/after.ndjson")" 2000

# a stale copy of the erased subject comes back in a bulk file: flagged, not loaded
printf '%s\n' '{"source_key": "K-1", "first_name": "Vera", "last_name": "Vandersloot"}' \
    '{"source_key": "K-2", "first_name": "Wim", "last_name": "Wouters"}' > "$tmp/stale.ndjson"
expect_exit 0 "mdm load of a file holding the erased key" "$mdm" load --config "$tmp/load.json" --source crm --no-resolve --quiet "$tmp/stale.ndjson"
expect_contains "one new, one flagged" "2 rows, 1 new, 0 changed, 0 unchanged, 0 stale, 0 deleted, 0 rejected, 1 flagged" "$out"
expect_eq "flagged in record_reject, payload withheld" \
    "$(psql_q -c "SELECT count(*) FROM record_reject WHERE source = 'crm' AND source_key = 'K-1' AND reasons @> '[{\"reason\": \"erased_subject\"}]' AND payload LIKE '(withheld%stale.ndjson:1'")" 1
expect_eq "the name is nowhere again" "$(psql_q -c "SELECT (SELECT count(*) FROM source_record x WHERE x::text LIKE '%Vandersloot%') + (SELECT count(*) FROM record_reject x WHERE x::text LIKE '%Vandersloot%')")" 0
expect_eq "the erased record stays erased" "$(psql_q -c "SELECT erased AND deleted FROM source_record WHERE source = 'crm' AND source_key = 'K-1'")" t
expect_eq "the load's audit row counts it" "$(psql_q -c "SELECT after->'stats'->>'erased_keys' FROM audit_log WHERE action = 'records.load' ORDER BY id DESC LIMIT 1")" 1
e2e_end
