# Push delivery through `mdm serve`: configured and API subscriptions, records posted over
# HTTP reach each subscribed system (signed, in order, with that system's own keys and
# its field mapping), /v1/subscriptions CRUD with validation and roles, /v1/deliveries
# listing and replay, publishing metrics, and a clean SIGTERM with workers running.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
secret=e2e-receiver-secret-0123456789

# the receiver: a separate libmicrohttpd process verifying signatures
receiver_start "$secret" --log "$http_tmp/received.ndjson" && e2e_ok "receiver starts" || e2e_fail "receiver starts" "no port"
trap 'receiver_stop; http_cleanup' EXIT

cat > "$http_tmp/mdm.json" <<JSON
{"sources": [
  {"code": "crm", "kind": "crm", "key": "Id", "updated_at": "Modified",
   "mapping": {"First": "first_name", "Last": "last_name", "Mail": "email", "Born": "birth_date"}},
  {"code": "web", "kind": "commerce"}],
 "http": {"auth_cache_seconds": 0},
 "publish": {"workers": 2, "poll_ms": 50, "backoff_base_ms": 50, "backoff_max_ms": 500,
             "allowed_networks": ["127.0.0.1/32"]},
 "subscriptions": [
  {"source": "crm", "url": "http://127.0.0.1:$port/crm", "secret_env": "E2E_CRM_SECRET",
   "scope": "all", "mapping": {"Id": "\$source_key", "Surname": "last_name", "Golden": "\$entity_id"}}]}
JSON
export MDM_CONFIG=$http_tmp/mdm.json E2E_CRM_SECRET=$secret
expect_exit 0 "migrate" "$mdm" migrate

# configuration errors name the field
echo '{"subscriptions": [{"source": "crm", "url": "ftp://x", "secret": "0123456789abcdef"}]}' > "$http_tmp/bad.json"
expect_exit 2 "bad subscription url refused" "$mdm" serve --config "$http_tmp/bad.json" --listen 127.0.0.1:0
expect_contains "bad url named" "/subscriptions/0/url" "$out"
expect_exit 2 "publish --config with a bad subscription" "$mdm" publish --once --config "$http_tmp/bad.json"
expect_exit 2 "mdm config validates subscriptions" "$mdm" config --config "$http_tmp/bad.json"
expect_contains "mdm config names the field" "(at /subscriptions/0/url)" "$out"
echo '{"subscriptions": [{"source": "crm", "url": "https://x.example/h", "secret": "plain-secret-0123456789"}]}' > "$http_tmp/plain.json"
expect_exit 0 "mdm config with a subscription" "$mdm" config --config "$http_tmp/plain.json"
if [[ $out == *plain-secret* ]]; then e2e_fail "mdm config masks subscription secrets" "$out"; else e2e_ok "mdm config masks subscription secrets"; fi
echo '{"publish": {"workers": 0}}' > "$http_tmp/bad2.json"
expect_exit 2 "bad publish.workers refused" "$mdm" serve --config "$http_tmp/bad2.json" --listen 127.0.0.1:0
expect_contains "publish.workers named" "publish.workers must be an integer from 1 to 64" "$out"

http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
e2e_ok "server starts with delivery workers"
admin=$(new_key admin)
reader=$(new_key reader)
crm=$(new_key source --source crm)
web=$(new_key source --source web)
auth() { printf 'Authorization: Bearer %s' "${!1}"; }
J=(-H "Content-Type: application/json")

# --- subscriptions ---------------------------------------------------------------------
expect_status "list subscriptions" 200 GET /v1/subscriptions -H "$(auth admin)"
expect_eq "the configured one is synced" "$(printf '%s' "$body" | jq -r '.subscriptions[0] | [.source, .origin, .active, .secret_set] | join(",")')" "crm,config,true,true"
if [[ $body == *"$secret"* ]]; then e2e_fail "secrets never returned" "$body"; else e2e_ok "secrets never returned"; fi
expect_problem "reader may not list subscriptions" 403 eforbidden GET /v1/subscriptions -H "$(auth reader)"
expect_problem "no key" 401 eauth GET /v1/deliveries
expect_problem "bad url" 422 eunprocessable POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d '{"source": "web", "url": "gopher://x", "secret": "0123456789abcdef"}'
expect_eq "bad url pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/url"
expect_problem "short secret" 422 eunprocessable POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d '{"source": "web", "url": "http://127.0.0.1:1/x", "secret": "short"}'
expect_eq "short secret pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/secret"
expect_contains "one message form" "secret must be a string of at least 16 characters" "$body"
expect_problem "unknown member" 422 eunprocessable POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d '{"source": "web", "url": "http://127.0.0.1:1/x", "secret": "0123456789abcdef", "mapping": {"Id": "$golden"}}'
expect_eq "a mapping member is named by its pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/mapping/Id"
expect_problem "secret_env is for the configuration" 422 eunprocessable POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d '{"source": "web", "url": "http://127.0.0.1:1/x", "secret_env": "HOME"}'
expect_contains "unknown key named with the known ones" 'unknown key \"secret_env\" (known: source, url, secret,' "$body"
expect_problem "a body that is no object" 422 eunprocessable POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" -d '[1]'
expect_problem "an event type out of the list" 422 eunprocessable POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d '{"source": "web", "url": "http://127.0.0.1:1/x", "secret": "0123456789abcdef", "event_types": ["created", "renamed"]}'
expect_eq "the item is named by its pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/event_types/1"
expect_problem "unknown source" 409 econflict POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d '{"source": "erp", "url": "http://127.0.0.1:1/x", "secret": "0123456789abcdef"}'
expect_status "create a web subscription" 201 POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d "{\"source\": \"web\", \"url\": \"http://127.0.0.1:$port/web\", \"secret\": \"$secret\", \"scope\": \"all\", \"event_types\": [\"created\", \"updated\"], \"mapping\": {\"Keys\": \"\$source_keys\", \"Name.Last\": \"last_name\"}}"
web_sub=$(printf '%s' "$body" | jq -r .id)
expect_contains "Location of the subscription" "Location: /v1/subscriptions/$web_sub" "$hdrs"
expect_problem "duplicate source and url" 409 econflict POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d "{\"source\": \"web\", \"url\": \"http://127.0.0.1:$port/web\", \"secret\": \"$secret\"}"
expect_status "get it" 200 GET "/v1/subscriptions/$web_sub" -H "$(auth admin)"
expect_eq "event types kept" "$(printf '%s' "$body" | jq -c .event_types)" '["created","updated"]'
expect_problem "unknown subscription" 404 enotfound GET /v1/subscriptions/999999 -H "$(auth admin)"
expect_problem "source cannot change" 422 eunprocessable PUT "/v1/subscriptions/$web_sub" -H "$(auth admin)" "${J[@]}" -d '{"source": "crm"}'
expect_status "update max_attempts" 200 PUT "/v1/subscriptions/$web_sub" -H "$(auth admin)" "${J[@]}" -d '{"max_attempts": 5}'
expect_eq "max_attempts changed" "$(printf '%s' "$body" | jq -r .max_attempts)" "5"

# --- records flow out to both systems ----------------------------------------------------
c1='{"Id": "C1", "First": "Robert", "Last": "Smith", "Mail": "Bob.Smith@Example.com", "Born": "03/04/1980"}'
w9='{"source_key": "W9", "first_name": "Robert", "last_name": "Smith", "emails": ["bob.smith@example.com"], "birth_date": "1980-03-04"}'
# the caller's W3C trace continues through the change to the webhook it causes
caller_trace=4bf92f3577b34da6a3ce929d0e0e4736
caller_span=00f067aa0ba902b7
expect_status "crm record" 201 POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" \
    -H "traceparent: 00-$caller_trace-$caller_span-01" -d "$c1"
eid=$(printf '%s' "$body" | jq -r .entity_id)
expect_status "web record" 201 POST /v1/sources/web/records -H "$(auth web)" "${J[@]}" -d "$w9"
expect_eq "same person" "$(printf '%s' "$body" | jq -r .entity_id)" "$eid"
events=$(sql "SELECT count(*) FROM outbox WHERE entity_id = $eid")
for _ in $(seq 1 200); do
    done_n=$(sql "SELECT count(*) FROM delivery WHERE state IN ('acknowledged', 'skipped')")
    [ "$done_n" -ge $((events * 2)) ] && break
    sleep 0.05
done
expect_eq "every event reached a final state for both systems" "$done_n" "$((events * 2))"
want=$(sql "SELECT count(*) FROM delivery WHERE state = 'acknowledged'")
skipped=$(sql "SELECT count(*) FROM delivery WHERE state = 'skipped'")
expect_eq "skipped ones are updates with nothing left to send, or nothing new" \
    "$(sql "SELECT count(*) FROM delivery d JOIN outbox o USING (seq) WHERE d.state = 'skipped' AND (o.type <> 'updated' OR d.attempts <> 0 OR (d.last_response NOT LIKE 'nothing to send%' AND d.last_response NOT LIKE 'unchanged for this system%'))")" "0"
expect_eq "the web record joining changes nothing the crm maps: not sent to it" \
    "$(sql "SELECT d.state FROM delivery d JOIN subscription s ON s.id = d.subscription_id JOIN outbox o USING (seq) WHERE s.source = 'crm' AND o.entity_id = $eid AND o.type = 'updated' ORDER BY o.seq LIMIT 1")" "skipped"
got=$(grep -c '"status":200' "$http_tmp/received.ndjson" 2>/dev/null || true)
expect_eq "the receiver got every acknowledged one" "$got" "$want"
log=$http_tmp/received.ndjson
expect_eq "all signatures verified" "$(jq -s '[.[] | select(.sig_ok != true)] | length' "$log")" "0"
expect_eq "crm got its own key" "$(jq -rs '[.[] | select(.body.source == "crm")][-1].body.source_keys | join(",")' "$log")" "C1"
expect_eq "crm mapping: Id is its key" "$(jq -rs '[.[] | select(.body.source == "crm")][0].body.record.Id' "$log")" "C1"
expect_eq "crm mapping: Golden is the entity" "$(jq -rs '[.[] | select(.body.source == "crm")][0].body.record.Golden' "$log")" "$eid"
expect_eq "crm holds its own last name: withheld" "$(jq -rs '[.[] | select(.body.source == "crm")][0].body.withheld | index("last_name") != null' "$log")" "true"
# (the delivery is built when it is sent: if W9 had already joined by then, web holds the
# last name itself and it is withheld instead)
expect_eq "web learns the last name (nested mapping) or holds it" "$(jq -rs '[.[] | select(.body.source == "web" and .body.type == "created")][0].body | if .record.Name.Last == "Smith" or (.withheld | index("last_name") != null) then "ok" else "\(.record.Name.Last) \(.withheld)" end' "$log")" "ok"
expect_eq "per system, seqs arrive in order" \
    "$(jq -s '[group_by(.body.source)[] | map(.seq) | . == sort] | all' "$log")" "true"

# --- trace context ---------------------------------------------------------------------
crm_tp=$(jq -rs '[.[] | select(.body.source == "crm" and .body.type == "created")][0].traceparent' "$log")
expect_eq "the webhook continues the caller's trace, sampled flag kept" \
    "$(printf '%s' "$crm_tp" | sed -E 's/^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/\1 \2/')" "$caller_trace 01"
expect_eq "in a span of its own" "$([[ $crm_tp == *"-$caller_span-"* ]] && echo reused || echo own)" "own"
server_span=$(grep -o "route=/v1/sources/{source}/records status=201 .* trace_id=$caller_trace span_id=[0-9a-f]*" "$server_log" | head -1 | sed 's/.*span_id=//')
expect_eq "the access line names the trace and the server's span" "${#server_span}" "16"
expect_eq "the stored event's parent is the server's span" \
    "$(sql "SELECT traceparent FROM outbox WHERE entity_id = $eid ORDER BY seq LIMIT 1")" "00-$caller_trace-$server_span-01"
web_tp=$(jq -rs '[.[] | select(.body.type == "updated")][0].traceparent' "$log")
expect_eq "a request without traceparent starts a trace: valid and not the caller's" \
    "$(printf '%s' "$web_tp" | grep -cE '^00-[0-9a-f]{32}-[0-9a-f]{16}-00$')$([[ $web_tp == *$caller_trace* ]] && echo same)" "1"

# --- deliveries --------------------------------------------------------------------------
expect_status "list acknowledged" 200 GET "/v1/deliveries?state=acknowledged&limit=50" -H "$(auth admin)"
expect_eq "acknowledged count" "$(printf '%s' "$body" | jq '.deliveries | length')" "$want"
expect_eq "response recorded" "$(printf '%s' "$body" | jq -r '.deliveries[0] | "\(.last_status) \(.last_response)"')" '200 {"ok":true}'
expect_eq "the only page: next is null" "$(printf '%s' "$body" | jq -c .next)" "null"
expect_status "a page of one" 200 GET "/v1/deliveries?state=acknowledged&limit=1" -H "$(auth admin)"
next=$(printf '%s' "$body" | jq -r .next)
expect_eq "next is the last id of the page" "$next" "$(printf '%s' "$body" | jq '.deliveries[0].id')"
expect_status "cursor paging" 200 GET "/v1/deliveries?state=acknowledged&after=$next&limit=50" -H "$(auth admin)"
expect_eq "the rest after the cursor" "$(printf '%s' "$body" | jq '.deliveries | length')" "$((want - 1))"
expect_eq "the rest is the last page" "$(printf '%s' "$body" | jq -c .next)" "null"
expect_problem "bad state" 400 einval GET "/v1/deliveries?state=lost" -H "$(auth admin)"
expect_eq "bad state pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/query/state"
expect_problem "bad limit" 400 einval GET "/v1/deliveries?limit=0" -H "$(auth admin)"
expect_problem "replay needs a mode" 422 eunprocessable POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d '{}'
expect_problem "replay unknown field" 422 eunprocessable POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d '{"all": true}'
expect_eq "replay unknown field pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/all"
expect_contains "replay unknown field known" 'unknown key \"all\" (known: dead, subscription_id, from_seq)' "$body"
expect_problem "replay from_seq below 0" 422 eunprocessable POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d '{"subscription_id": 1, "from_seq": -1}'
expect_eq "replay from_seq pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/from_seq"
expect_problem "replay from_seq needs a subscription" 422 eunprocessable POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d '{"from_seq": 3}'
expect_eq "replay subscription pointer" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/subscription_id"
expect_problem "replay unknown subscription" 404 enotfound POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d '{"subscription_id": 999999, "from_seq": 0}'
expect_status "replay dead (none)" 200 POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d '{"dead": true}'
expect_eq "nothing dead" "$(printf '%s' "$body" | jq -r .replayed)" "0"
expect_status "replay web from seq 0" 200 POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d "{\"subscription_id\": $web_sub, \"from_seq\": 0}"
replayed=$(printf '%s' "$body" | jq -r .replayed)
expect_eq "web events requeued" "$replayed" "$events"
for _ in $(seq 1 200); do
    [ "$(sql "SELECT count(*) FROM delivery WHERE state = 'pending'")" = 0 ] && break
    sleep 0.05
done
web_acked=$(sql "SELECT count(*) FROM delivery d JOIN subscription s ON s.id = d.subscription_id WHERE s.source = 'web' AND d.state = 'acknowledged'")
got=$(grep -c '"status":200' "$log" || true)
expect_eq "replayed events delivered again" "$got" "$((want + web_acked))"
expect_eq "web now gets its own key (xrefs at send time)" "$(jq -rs '[.[] | select(.body.source == "web")][-1].body.record.Keys | join(",")' "$log")" "W9"
expect_eq "same idempotency key the second time" \
    "$(jq -s '[.[] | select(.body.source == "web" and .body.type == "created")] | (length == 2 and .[0].key == .[1].key)' "$log")" "true"

# --- metrics, deactivation, shutdown -----------------------------------------------------
expect_status "metrics" 200 GET /metrics
expect_contains "publish counters" "mdm_publish_acknowledged_total $got" "$body"
expect_contains "per-subscription lag" "mdm_publish_lag_seconds{subscription=\"$web_sub\",source=\"web\"}" "$body"

# --- no deliveries that change nothing: two mappings of one system ----------------------
expect_status "a second crm subscription sends the e-mails only" 201 POST /v1/subscriptions -H "$(auth admin)" "${J[@]}" \
    -d "{\"source\": \"crm\", \"url\": \"http://127.0.0.1:$port/crm-mail\", \"secret\": \"$secret\", \"scope\": \"all\", \"mapping\": {\"Mails\": \"emails\"}}"
mail_sub=$(printf '%s' "$body" | jq -r .id)
crm_sub=$(sql "SELECT id FROM subscription WHERE source = 'crm' AND url LIKE '%/crm'")
settle() {
    for _ in $(seq 1 200); do
        [ "$(sql "SELECT count(*) FROM delivery WHERE state = 'pending'") $(sql "SELECT (SELECT coalesce(max(seq), 0) FROM outbox) - last_seq FROM publish_cursor")" = "0 0" ] && break
        sleep 0.05
    done
}
state_of() { # subscription, outbox seq -> "state: response"
    sql "SELECT state || coalesce(': ' || last_response, '') FROM delivery WHERE subscription_id = $1 AND seq = $2"
}
before=$(sql "SELECT coalesce(max(seq), 0) FROM outbox WHERE entity_id = $eid")
expect_status "crm changes the e-mail only" 200 POST /v1/sources/crm/records -H "$(auth crm)" "${J[@]}" \
    -d '{"Id": "C1", "First": "Robert", "Last": "Smith", "Mail": "robert.smith@work.example", "Born": "03/04/1980"}'
settle
seq_mail=$(sql "SELECT max(seq) FROM outbox WHERE entity_id = $eid AND type = 'updated'")
expect_eq "an updated event" "$([ "$seq_mail" -gt "$before" ] && echo yes)" "yes"
expect_eq "the e-mail mapping gets it" "$(state_of "$mail_sub" "$seq_mail" | cut -d: -f1)" "acknowledged"
expect_contains "with the new address" "robert.smith@work.example" "$(jq -sc "[.[] | select(.seq == $seq_mail) | .body.record.Mails]" "$log")"
expect_eq "the surname mapping is not sent what it has" "$(state_of "$crm_sub" "$seq_mail")" \
    "skipped: unchanged for this system: what its mapping sends is what it was last sent"
expect_eq "nor is the web shop" "$(state_of "$web_sub" "$seq_mail" | cut -d: -f1)" "skipped"
expect_eq "the receiver saw that event once" "$(jq -s "[.[] | select(.seq == $seq_mail)] | length" "$log")" "1"
expect_status "replay crm from that event" 200 POST /v1/deliveries/replay -H "$(auth admin)" "${J[@]}" -d "{\"subscription_id\": $crm_sub, \"from_seq\": $seq_mail}"
settle
expect_eq "a replay sends even what is unchanged" "$(state_of "$crm_sub" "$seq_mail" | cut -d: -f1)" "acknowledged"

expect_status "deactivate web" 204 DELETE "/v1/subscriptions/$web_sub" -H "$(auth admin)"
expect_eq "inactive" "$(sql "SELECT active FROM subscription WHERE id = $web_sub")" "f"
http_stop
expect_eq "SIGTERM with workers exits 0" "$server_rc" "0"
receiver_stop
expect_eq "no concurrent duplicate at the receiver" "$(sed -n '$p' "$http_tmp/receiver.out" | jq -r .concurrent_duplicates)" "0"
e2e_end
