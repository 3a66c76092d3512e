# mdm export consent and mdm subject: the streamed audit export (row counts, RFC 4180 CSV
# read back by PostgreSQL's own CSV parser, NDJSON), bad input, subject export and erasure.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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

expect_exit 0 "migrate" "$mdm" migrate
psql_q <<'SQL'
INSERT INTO source_system (code, name, kind) VALUES ('crm', 'CRM', 'crm'), ('shop', 'Shop', 'commerce');
INSERT INTO entity (golden) VALUES ('{"last_name": "Vandersloot"}');
INSERT INTO source_record (source, source_key, raw, normalized, content_hash)
    VALUES ('crm', 'K-1', '{"last_name": "Vandersloot"}', '{}', 'h');
INSERT INTO membership (record_id, entity_id) SELECT r.id, e.id FROM source_record r, entity e;
-- 2,000 events over 2025, a quarter of them with evidence that needs quoting
INSERT INTO consent_event (source, source_key, purpose, channel, status, captured_at, received_at,
                           evidence, event_hash, state_before, state_after)
SELECT 'crm', 'K-1', 'marketing', 'email', (ARRAY['granted', 'withdrawn'])[1 + g % 2],
       t, t, CASE WHEN g % 4 = 0 THEN E'form "A", page ' || g || E'\r\nsigned' ELSE 'web' END,
       'e2e-' || g, 'none', 'granted'
FROM generate_series(1, 2000) g, LATERAL (SELECT timestamptz '2025-01-01' + g * interval '4 hours') x(t);
SQL

expect_exit 0 "export all as CSV" "$mdm" export consent --output "$tmp/all.csv"
rows=$(psql_q -c "CREATE TEMP TABLE back (event_id bigint, golden_id bigint, source text, source_key text, purpose text, channel text, contact_point text, status text, captured_at timestamptz, expires_at timestamptz, received_at timestamptz, lawful_basis text, evidence text, state_before text, state_after text, captured_by text, captured_role text)" \
    -c "\\copy back FROM '$tmp/all.csv' WITH (FORMAT csv, HEADER true)" \
    -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE evidence LIKE E'form \"A\", page %\\r\\nsigned') || ' ' || count(DISTINCT golden_id) FROM back")
expect_eq "CSV parses back: all rows, quoted evidence intact, golden id" "$rows" "2000 500 1"
expect_eq "CSV header" "$(head -n 1 "$tmp/all.csv" | tr -d '\r')" \
    "event_id,golden_id,source,source_key,purpose,channel,contact_point,status,captured_at,expires_at,received_at,lawful_basis,evidence,state_before,state_after,captured_by,captured_role"
expect_eq "CSV lines end in CRLF" "$(head -n 1 "$tmp/all.csv" | od -An -c | tr -d ' \n' | tail -c 4)" '\r\n'

want=$(psql_q -c "SELECT count(*) FROM consent_event WHERE received_at >= '2025-03-01' AND received_at < '2025-04-01T12:00:00+02:00'")
expect_exit 0 "export a range as NDJSON" "$mdm" export consent --from 2025-03-01 --to 2025-04-01T12:00:00+02:00 --format ndjson --output "$tmp/range.ndjson"
expect_eq "NDJSON row count equals the events in range" "$(wc -l < "$tmp/range.ndjson")" "$want"
first=$(head -n 1 "$tmp/range.ndjson")
expect_contains "NDJSON names the source key" '"source_key":"K-1"' "$first"
expect_contains "NDJSON received_at in range" '"received_at":"2025-03-01T00:00:00.000000Z"' "$first"
expect_exit 0 "export to stdout" "$mdm" export consent --from 2025-03-01 --to 2025-03-02 --format ndjson
expect_eq "stdout export has the day's rows" "$(printf '%s\n' "$out" | grep -c '"event_id"')" 6

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
echo '{"sources": [{"code": "crm", "kind": "crm"}, {"code": "shop", "kind": "commerce"}]}' > "$tmp/load.json"
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
