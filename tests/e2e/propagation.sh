# Propagation status (GET /v1/entities/{id}/propagation) and the SLA metrics, with a
# receiver that fails, then recovers: while it fails the entity's delivery is pending with
# its attempts and age; once it recovers the system is current at the entity's version; a
# subscription's max_delay_seconds makes the slow delivery one SLA breach, counted once.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
secret=e2e-propagation-secret-0123456789
receiver_start "$secret" --fail-first 4 --log "$http_tmp/received.ndjson" && e2e_ok "receiver starts" ||
    e2e_fail "receiver starts" "no port"
trap 'receiver_stop; http_cleanup' EXIT

# four failed attempts wait at least 0.15 + 0.3 + 0.6 + 1.2 s: longer than the 1 s SLA
cat > "$http_tmp/mdm.json" <<JSON
{"sources": [{"code": "crm", "kind": "crm"}, {"code": "web", "kind": "commerce"}],
 "publish": {"workers": 1, "poll_ms": 50, "backoff_base_ms": 300, "backoff_max_ms": 2400,
             "allowed_networks": ["127.0.0.1/32"]},
 "subscriptions": [{"source": "crm", "url": "http://127.0.0.1:$port/crm", "secret": "$secret",
                    "scope": "all", "max_delay_seconds": 1}]}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
echo '{"subscriptions": [{"source": "crm", "url": "http://x.example/h", "secret": "0123456789abcdef", "max_delay_seconds": 0}]}' > "$http_tmp/bad.json"
expect_exit 2 "a zero SLA is refused" "$mdm" config --config "$http_tmp/bad.json"
expect_contains "the field is named" "max_delay_seconds must be an integer from 1 to 2592000" "$out"
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin)
reader=$(new_key reader)
A=(-H "Authorization: Bearer $admin" -H "Content-Type: application/json")
R=(-H "Authorization: Bearer $reader")

expect_status "a record" 201 POST /v1/sources/web/records "${A[@]}" \
    -d '{"source_key": "W1", "first_name": "Grace", "last_name": "Hopper", "emails": ["grace@example.com"]}'
eid=$(jq -r .entity_id <<<"$body")
# while the receiver fails: pending, with attempts and the receiver's answer
state=""
for _ in $(seq 1 100); do
    call GET "/v1/entities/$eid/propagation" "${R[@]}"
    state=$(jq -r '.systems[0].state' <<<"$body")
    [ "$(jq -r '.systems[0].open[0].attempts // 0' <<<"$body")" -ge 1 ] && break
    sleep 0.05
done
expect_eq "failing receiver: pending" "$state" "pending"
expect_eq "the open delivery says the receiver's answer" "$(jq -r '.systems[0].open[0].last_status' <<<"$body")" "500"
expect_eq "nothing acknowledged yet" "$(jq -r '.systems[0].acknowledged_version' <<<"$body")" "null"
expect_eq "the subscription's SLA is shown" "$(jq -r '.systems[0].max_delay_seconds' <<<"$body")" "1"
# recovered: current, at the entity's version
for _ in $(seq 1 200); do
    call GET "/v1/entities/$eid/propagation" "${R[@]}"
    [ "$(jq -r '.systems[0].state' <<<"$body")" = current ] && break
    sleep 0.05
done
expect_eq "recovered receiver: current" "$(jq -r '.systems[0].state' <<<"$body")" "current"
expect_eq "at the entity's version" "$(jq -r '.systems[0].acknowledged_version' <<<"$body")" "$(jq -r '.version' <<<"$body")"
expect_eq "nothing open" "$(jq -r '.systems[0].open | length' <<<"$body")" "0"
metric() { call GET /metrics; printf '%s\n' "$body" | awk -v m="$1" '$1 == m {print $2}'; }
series='{subscription="1",source="crm"}'
expect_eq "the slow delivery is one SLA breach" "$(metric "mdm_propagation_sla_breaches_total$series")" "1"
expect_eq "counted once" "$(metric "mdm_propagation_sla_breaches_total$series")" "1"
expect_eq "nothing over the SLA now" "$(metric "mdm_propagation_over_sla$series")" "0"
call GET /metrics
expect_eq "promtool accepts the series" "$(printf '%s\n' "$body" | promtool check metrics 2>&1)" ""
expect_problem "unknown entity" 404 enotfound GET /v1/entities/999999/propagation "${R[@]}"
expect_problem "a source key may not read it" 403 eforbidden GET "/v1/entities/$eid/propagation" \
    -H "Authorization: Bearer $(new_key source --source web)"
# the SLA is part of the subscription, settable over the API (null clears it)
expect_status "subscription shows its SLA" 200 GET /v1/subscriptions/1 "${A[@]}"
expect_eq "max_delay_seconds" "$(jq -r .max_delay_seconds <<<"$body")" "1"
expect_status "api subscription with an SLA" 201 POST /v1/subscriptions "${A[@]}" \
    -d "{\"source\": \"web\", \"url\": \"http://127.0.0.1:$port/web\", \"secret\": \"$secret\", \"max_delay_seconds\": 300}"
sub=$(jq -r .id <<<"$body")
expect_eq "set on create" "$(jq -r .max_delay_seconds <<<"$body")" "300"
expect_status "cleared by null" 200 PUT "/v1/subscriptions/$sub" "${A[@]}" -d '{"max_delay_seconds": null}'
expect_eq "cleared" "$(jq -r .max_delay_seconds <<<"$body")" "null"
expect_problem "a negative SLA names the field" 422 eunprocessable PUT "/v1/subscriptions/$sub" "${A[@]}" -d '{"max_delay_seconds": -5}'
http_stop
e2e_end
