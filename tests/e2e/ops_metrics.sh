# The operations gauges of /metrics (docs/OPERATIONS.md, "Metrics and alerts"): when each
# source last sent a record, and when the consent audit was last exported completely;
# each complete export (CLI or HTTP) is itself an audit row "consent.export", a failed
# one is not, and the audit chain stays intact.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}, {"code": "pos", "kind": "pos"}],
 "http": {"auth_cache_seconds": 60}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin)
A=(-H "Authorization: Bearer $admin")
gauge() { call GET /metrics; printf '%s\n' "$body" | awk -v m="$1" '$1 == m {print $2}'; }
# promtool (Debian's prometheus package, scripts/deps.sh) lints the exposition and the
# shipped alert rules; every counter is there from the start, with HELP and TYPE
promcheck() { call GET /metrics; printf '%s\n' "$body" | promtool check metrics 2>&1; }
command -v promtool >/dev/null || e2e_fail "promtool is installed" "scripts/deps.sh installs prometheus"
expect_eq "promtool check metrics on a fresh server" "$(promcheck)" ""
call GET /metrics
for c in mdm_ingest_results_total mdm_consent_events_total mdm_subject_erasures_total; do
    expect_contains "$c has HELP before its first event" "# HELP $c " "$body"
done
expect_eq "ingest counter at 0 before the first record" "$(gauge 'mdm_ingest_results_total{result="created"}')" "0"
expect_exit 0 "promtool check rules on the shipped alert rules" promtool check rules "$MDM_ROOT/dist/prometheus/mdm-alerts.yml"
expect_eq "no export yet: 0" "$(gauge mdm_consent_export_last_timestamp_seconds)" "0"
expect_eq "web never sent: 0" "$(gauge 'mdm_source_last_received_timestamp_seconds{source="web"}')" "0"
call POST /v1/sources/web/records "${A[@]}" -H "Content-Type: application/json" \
    -d '{"source_key": "W1", "first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@example.com"], "consents": [{"purpose": "marketing", "channel": "email", "status": "granted", "captured_at": "2026-01-02T10:00:00Z"}]}'
expect_eq "record stored" "$status" "201"
now=$(date +%s)
web=$(gauge 'mdm_source_last_received_timestamp_seconds{source="web"}')
if [ "${web%.*}" -ge $((now - 120)) ] && [ "${web%.*}" -le $((now + 5)) ]; then e2e_ok "web's last record is now ($web)"; else e2e_fail "web's last record is now" "$web vs $now"; fi
expect_eq "the record is counted" "$(gauge 'mdm_ingest_results_total{result="created"}')" "1"
expect_eq "promtool check metrics after the first events" "$(promcheck)" ""
expect_eq "pos still never sent" "$(gauge 'mdm_source_last_received_timestamp_seconds{source="pos"}')" "0"

expect_exit 2 "a bad export range fails" "$mdm" export consent --from yesterday-ish --output "$http_tmp/bad.csv"
expect_eq "a failed export is not recorded" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'consent.export'")" "0"
expect_exit 0 "CLI export" "$mdm" export consent --output "$http_tmp/consent.csv"
expect_eq "the CLI export is an audit row" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'consent.export' AND actor LIKE 'cli:%' AND role = 'compliance' AND (after->>'rows')::int = 1")" "1"
t=$(gauge mdm_consent_export_last_timestamp_seconds)
if [ "${t%.*}" -ge $((now - 120)) ]; then e2e_ok "gauge shows the CLI export ($t)"; else e2e_fail "gauge shows the CLI export" "$t"; fi
code=$(curl -s -o "$http_tmp/audit.csv" -w '%{http_code}' "${A[@]}" "$base/v1/consent/audit?format=csv")
expect_eq "HTTP export" "$code" "200"
for _ in $(seq 1 50); do
    [ "$(sql "SELECT count(*) FROM audit_log WHERE action = 'consent.export'")" = 2 ] && break
    sleep 0.1
done
expect_eq "the complete HTTP export is an audit row too" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'consent.export' AND actor LIKE 'api:%'")" "1"
expect_exit 0 "audit chain intact" "$mdm" audit verify
http_stop
expect_eq "server exits 0" "$server_rc" "0"
e2e_end
