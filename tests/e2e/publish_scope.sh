# Data minimization in publishing (issue 17 item 11; docs/PUBLISHING.md#scope): a
# subscription receives by default only the customers its own system holds (scope
# "source"); scope "all" receives every customer. A POS-only customer never reaches the
# CRM; a customer the CRM holds does, also after a POS record joins it and when it is
# erased.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

# a receiver on loopback that logs "PATH BODY" per request
python3 - "$http_tmp/received.log" > "$http_tmp/recv.port" 2>/dev/null <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[1], "ab") as f:
            f.write(self.path.encode() + b" " + body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
recv_pid=$!
for _ in $(seq 1 50); do [ -s "$http_tmp/recv.port" ] && break; sleep 0.1; done
port=$(cat "$http_tmp/recv.port")
secret=scope-secret-0123456789

cat > "$http_tmp/mdm.json" <<JSON
{"sources": [{"code": "crm", "kind": "crm"}, {"code": "pos", "kind": "pos"}, {"code": "web", "kind": "commerce"}],
 "http": {"auth_cache_seconds": 0},
 "publish": {"workers": 1, "poll_ms": 50, "backoff_base_ms": 50, "backoff_max_ms": 200,
             "allowed_networks": ["127.0.0.1/32"]},
 "subscriptions": [{"source": "crm", "url": "http://127.0.0.1:$port/crm", "secret": "$secret"}]}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
echo "{\"subscriptions\": [{\"source\": \"crm\", \"url\": \"http://x.example/\", \"secret\": \"$secret\", \"scope\": \"everyone\"}]}" > "$http_tmp/bad.json"
expect_exit 2 "mdm config refuses an unknown scope" "$mdm" config --config "$http_tmp/bad.json"
expect_contains "the scope is named" "/subscriptions/0/scope" "$out"
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin)
dpo=$(new_key compliance)
A=(-H "Authorization: Bearer $admin" -H "Content-Type: application/json")

expect_status "list subscriptions" 200 GET /v1/subscriptions -H "Authorization: Bearer $admin"
expect_eq "the configured one has the default scope" "$(jq -r '.subscriptions[0].scope' <<<"$body")" "source"
expect_status "a web subscription for every customer" 201 POST /v1/subscriptions "${A[@]}" \
    -d "{\"source\": \"web\", \"url\": \"http://127.0.0.1:$port/web\", \"secret\": \"$secret\", \"scope\": \"all\"}"
web_sub=$(jq -r .id <<<"$body")
expect_eq "its scope is all" "$(jq -r .scope <<<"$body")" "all"
expect_problem "an unknown scope is refused" 422 eunprocessable PUT "/v1/subscriptions/$web_sub" "${A[@]}" -d '{"scope": "everyone"}'
expect_contains "the field is named" '"/scope"' "$body"
expect_status "scope can change" 200 PUT "/v1/subscriptions/$web_sub" "${A[@]}" -d '{"scope": "source"}'
expect_eq "changed" "$(jq -r .scope <<<"$body")" "source"
expect_status "and back" 200 PUT "/v1/subscriptions/$web_sub" "${A[@]}" -d '{"scope": "all"}'

# a POS-only customer, a CRM customer, and a POS record of the CRM customer
expect_status "POS-only customer" 201 POST /v1/sources/pos/records "${A[@]}" \
    -d '{"source_key": "P-1", "first_name": "Pia", "last_name": "Posonly", "emails": ["pia.posonly@example.com"], "birth_date": "1990-01-02"}'
pia=$(jq -r .entity_id <<<"$body")
expect_status "CRM customer" 201 POST /v1/sources/crm/records "${A[@]}" \
    -d '{"source_key": "C-1", "first_name": "Carl", "last_name": "Crmheld", "emails": ["carl.crmheld@example.com"], "phones": ["+1 212 555 0101"], "birth_date": "1970-05-06"}'
carl=$(jq -r .entity_id <<<"$body")
expect_status "the CRM customer shops at the POS" 201 POST /v1/sources/pos/records "${A[@]}" \
    -d '{"source_key": "P-2", "first_name": "Carl", "last_name": "Crmheld", "emails": ["carl.crmheld@example.com"], "phones": ["+1 212 555 0101"], "birth_date": "1970-05-06", "segment": "vip"}'
expect_eq "the POS record joins the CRM customer" "$(jq -r .entity_id <<<"$body")" "$carl"

settle() { # waits until every event is fanned out and delivered
    for _ in $(seq 1 200); do
        local max cur pending
        max=$(sql "SELECT coalesce(max(seq), 0) FROM outbox")
        cur=$(sql "SELECT last_seq FROM publish_cursor")
        pending=$(sql "SELECT count(*) FROM delivery WHERE state = 'pending'")
        [ "$cur" = "$max" ] && [ "$pending" = 0 ] && return 0
        sleep 0.05
    done
    return 1
}
settle; expect_eq "everything fanned out and delivered" "$?" "0"
log=$http_tmp/received.log
crm_n=$(grep -c '^/crm ' "$log")
expect_eq "the CRM never receives the POS-only customer" "$(grep '^/crm ' "$log" | grep -c -e Posonly -e "\"entity_id\": *$pia[,}]")" "0"
expect_eq "the CRM has no delivery for her at all" "$(sql "SELECT count(*) FROM delivery d JOIN subscription s ON s.id = d.subscription_id WHERE s.source = 'crm' AND d.entity_id = $pia")" "0"
if [ "$crm_n" -ge 1 ]; then e2e_ok "the CRM receives its own customer ($crm_n requests)"; else e2e_fail "the CRM receives its own customer" "none"; fi
expect_eq "including the POS record's change (segment)" "$(grep '^/crm ' "$log" | grep -c '"segment": *"vip"' | awk '{print ($1 >= 1)}')" "1"
expect_eq "web (scope all) receives the POS-only customer" "$(grep '^/web ' "$log" | grep -c Posonly | awk '{print ($1 >= 1)}')" "1"
expect_eq "and the CRM customer" "$(grep '^/web ' "$log" | grep -c Crmheld | awk '{print ($1 >= 1)}')" "1"

expect_status "erase the CRM customer" 200 POST "/v1/subjects/$carl/erase" -H "Authorization: Bearer $dpo" -H "Content-Type: application/json" -d '{"reason": "ticket 9"}'
expect_status "erase the POS-only customer" 200 POST "/v1/subjects/$pia/erase" -H "Authorization: Bearer $dpo" -H "Content-Type: application/json" -d '{"reason": "ticket 10"}'
settle; expect_eq "the erasures are delivered" "$?" "0"
expect_eq "the CRM is told to delete its customer" "$(grep '^/crm ' "$log" | grep -c '"type": *"deleted"')" "1"
expect_eq "the deletion names the CRM's key" "$(grep '^/crm ' "$log" | grep '"type": *"deleted"' | grep -c 'C-1')" "1"
expect_eq "the CRM hears nothing of the other erasure" "$(sql "SELECT count(*) FROM delivery d JOIN subscription s ON s.id = d.subscription_id WHERE s.source = 'crm' AND d.entity_id = $pia")" "0"
http_stop
expect_eq "server exits 0" "$server_rc" "0"
kill "$recv_pid" 2>/dev/null; wait "$recv_pid" 2>/dev/null
e2e_end
