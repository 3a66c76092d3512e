# Webhook deliveries verified by a third-party library, as an integrator would: a node
# receiver (tests/webhooks/receiver.mjs) checks every delivery with the npm
# standardwebhooks reference implementation (webhook-id, webhook-timestamp,
# webhook-signature over id.timestamp.body). Then the subscription's secret is rotated:
# for the rotation window every delivery carries two signatures, so the receiver accepts
# it with the old secret and with the new one; a wrong secret verifies nothing.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
here=$MDM_ROOT/tests/webhooks
if [ ! -f "$here/node_modules/standardwebhooks/package.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
        { e2e_fail "npm ci in tests/webhooks" "npm could not install standardwebhooks"; e2e_end; exit 1; }
fi
old_secret=rotating-secret-old-0123456789
new_secret=whsec_$(printf 'a brand new key of 32 bytes!!!!!' | base64 -w0)
wrong_secret=not-the-secret-0123456789

log=$http_tmp/received.ndjson
: > "$log"
node "$here/receiver.mjs" "$log" "$old_secret" "$new_secret" "$wrong_secret" >"$http_tmp/receiver.out" 2>&1 &
receiver_pid=$!
port=$(ready_port "$http_tmp/receiver.out")
[ -n "$port" ] && e2e_ok "node receiver starts" || e2e_fail "node receiver starts" "$(cat "$http_tmp/receiver.out")"
trap 'kill -TERM "$receiver_pid" 2>/dev/null; wait "$receiver_pid" 2>/dev/null; http_cleanup' EXIT

cat > "$http_tmp/mdm.json" <<JSON
{"sources": [{"code": "crm", "kind": "crm"}, {"code": "web", "kind": "commerce"}],
 "publish": {"workers": 1, "poll_ms": 50, "backoff_base_ms": 50, "backoff_max_ms": 200,
             "allowed_networks": ["127.0.0.1/32"]}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin)
A=(-H "Authorization: Bearer $admin" -H "Content-Type: application/json")
expect_status "subscribe crm" 201 POST /v1/subscriptions "${A[@]}" \
    -d "{\"source\": \"crm\", \"url\": \"http://127.0.0.1:$port/hook\", \"secret\": \"$old_secret\", \"scope\": \"all\"}"
sub=$(jq -r .id <<<"$body")

# waits until the receiver has logged N requests
received() {
    for _ in $(seq 1 200); do
        [ "$(wc -l < "$log")" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
expect_status "a record" 201 POST /v1/sources/web/records "${A[@]}" \
    -d '{"source_key": "W1", "first_name": "Ada", "last_name": "Byron", "emails": ["ada@example.com"]}'
received 1 && e2e_ok "delivered" || e2e_fail "delivered" "nothing arrived"
first=$(head -n 1 "$log")
expect_eq "standardwebhooks verifies it with the secret" "$(jq -c .verified <<<"$first")" "[true,false,false]"
expect_eq "webhook-id is the event id" "$(jq -r '.id | test("^[0-9a-zA-Z_-]+$")' <<<"$first")" "true"
expect_eq "one signature before a rotation" "$(jq .signatures <<<"$first")" "1"

expect_status "rotate the secret" 200 PUT "/v1/subscriptions/$sub" "${A[@]}" -d "{\"secret\": \"$new_secret\"}"
expect_status "another record" 201 POST /v1/sources/web/records "${A[@]}" \
    -d '{"source_key": "W2", "first_name": "Charles", "last_name": "Babbage", "emails": ["cb@example.com"]}'
received 2 && e2e_ok "delivered after the rotation" || e2e_fail "delivered after the rotation" "nothing arrived"
second=$(sed -n 2p "$log")
expect_eq "two signatures in the rotation window" "$(jq .signatures <<<"$second")" "2"
expect_eq "the old and the new secret both verify it, a wrong one does not" "$(jq -c .verified <<<"$second")" "[true,true,false]"
expect_eq "every delivery acknowledged" \
    "$(sql "SELECT count(*) FILTER (WHERE state = 'acknowledged') || '/' || count(*) FROM delivery")" "2/2"
expect_eq "the old secret is not shown" "$(curl -s "${A[@]}" "$base/v1/subscriptions/$sub" | grep -c "$old_secret")" "0"
http_stop
e2e_end
