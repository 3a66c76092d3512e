# Server-side request forgery through subscriptions (issue 17 item 5; docs/SECURITY.md):
# URLs with user:password@ or control characters are refused; deliveries to loopback,
# private, link-local and metadata addresses are refused after DNS resolution unless
# publish.allowed_networks admits them; only a short, sanitized excerpt of a receiver's
# answer is kept.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

# an "internal service" on loopback that answers every POST with a long secret page
hits=$http_tmp/internal.hits
python3 - "$hits" > "$http_tmp/internal.port" 2>/dev/null <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"INTERNAL-SECRET \x1b[31m\x07" + b"x" * 5000
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(sys.argv[1], "a") as f:
            f.write("hit\n")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
internal_pid=$!
for _ in $(seq 1 50); do [ -s "$http_tmp/internal.port" ] && break; sleep 0.1; done
iport=$(cat "$http_tmp/internal.port")

start_server() { # start_server ALLOWED_NETWORKS_JSON
    cat > "$http_tmp/mdm.json" <<JSON
{"sources": [{"code": "crm", "kind": "crm"}, {"code": "web", "kind": "commerce"}],
 "http": {"auth_cache_seconds": 0},
 "publish": {"workers": 1, "poll_ms": 50, "backoff_base_ms": 50, "backoff_max_ms": 100,
             "max_attempts": 2, "allowed_networks": $1}}
JSON
    MDM_CONFIG=$http_tmp/mdm.json http_start
}
expect_exit 0 "migrate" "$mdm" migrate
start_server '[]' || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin)
web=$(new_key source --source web)
A=(-H "Authorization: Bearer $admin" -H "Content-Type: application/json")

# --- URL validation --------------------------------------------------------------------
expect_problem "userinfo in the url refused" 422 eunprocessable POST /v1/subscriptions "${A[@]}" \
    -d '{"source": "crm", "url": "https://user:hunter2@crm.example/hook", "secret": "0123456789abcdef"}'
expect_contains "the reason names user:password@" "user:password@" "$body"
expect_problem "CR/LF in the url refused" 422 eunprocessable POST /v1/subscriptions "${A[@]}" \
    -d '{"source": "crm", "url": "https://crm.example/hook\r\nX-Injected: 1", "secret": "0123456789abcdef"}'
expect_problem "a space in the url refused" 422 eunprocessable POST /v1/subscriptions "${A[@]}" \
    -d '{"source": "crm", "url": "https://crm.example/a b", "secret": "0123456789abcdef"}'
echo '{"subscriptions": [{"source": "crm", "url": "http://u:p@crm.example/", "secret": "0123456789abcdef"}]}' > "$http_tmp/bad.json"
expect_exit 2 "mdm config refuses userinfo" "$mdm" config --config "$http_tmp/bad.json"
echo '{"publish": {"allowed_networks": ["10.0.0.0/33"]}}' > "$http_tmp/bad.json"
expect_exit 2 "mdm config refuses a bad network" "$mdm" config --config "$http_tmp/bad.json"
expect_contains "the bad network is named" "/publish/allowed_networks/0" "$out"

# --- deliveries to internal addresses are refused ---------------------------------------
refused_subs=""
for url in "http://127.0.0.1:$iport/hook" "http://localhost:$iport/hook" "http://169.254.169.254/latest/meta-data/" \
    "http://10.1.2.3/hook" "http://[::1]:$iport/hook" "http://[::ffff:127.0.0.1]:$iport/hook"; do
    expect_status "subscription $url created" 201 POST /v1/subscriptions "${A[@]}" \
        -d "{\"source\": \"crm\", \"url\": \"$url\", \"secret\": \"0123456789abcdef\", \"scope\": \"all\"}"
    refused_subs+=" $(jq .id <<<"$body")"
done
expect_status "a record to publish" 201 POST /v1/sources/web/records -H "Authorization: Bearer $web" \
    -H "Content-Type: application/json" -d '{"source_key": "W1", "first_name": "Ann", "last_name": "Lee", "emails": ["ann@example.com"]}'
for _ in $(seq 1 100); do
    n=$(sql "SELECT count(*) FROM delivery WHERE state = 'dead'")
    [ "$n" = 6 ] && break
    sleep 0.1
done
expect_eq "all six deliveries end dead" "$n" "6"
expect_eq "the internal service was never reached" "$(cat "$hits" 2>/dev/null | wc -l)" "0"
call GET "/v1/deliveries?state=dead" -H "Authorization: Bearer $admin"
reasons=$(jq -r '.deliveries[].last_response' <<<"$body" | sort | uniq | tr '\n' '|')
expect_contains "loopback named" "127.0.0.1 is loopback" "$reasons"
expect_contains "localhost refused after resolution" "refused: localhost resolves to" "$reasons"
expect_contains "metadata address named" "169.254.169.254 is the metadata service" "$reasons"
expect_contains "private address named" "10.1.2.3 is private" "$reasons"
expect_contains "IPv6 loopback named" "::1 is loopback" "$reasons"
expect_contains "IPv4-mapped loopback refused" "::ffff:127.0.0.1 is loopback" "$reasons"
http_stop

# --- allowed networks: delivered, and only an excerpt of the answer is kept --------------
start_server '["127.0.0.1/32"]' || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
for id in $refused_subs; do
    expect_status "the refused subscription $id is retired" 204 DELETE "/v1/subscriptions/$id" -H "Authorization: Bearer $admin"
done
expect_status "subscription to the allowed internal service" 201 POST /v1/subscriptions "${A[@]}" \
    -d "{\"source\": \"crm\", \"url\": \"http://127.0.0.1:$iport/allowed\", \"secret\": \"0123456789abcdef\", \"scope\": \"all\"}"
sub=$(jq -r '.id' <<<"$body")
expect_status "another record" 201 POST /v1/sources/web/records -H "Authorization: Bearer $web" \
    -H "Content-Type: application/json" -d '{"source_key": "W2", "first_name": "Bo", "last_name": "Ray", "emails": ["bo@example.com"]}'
for _ in $(seq 1 100); do
    [ "$(sql "SELECT count(*) FROM delivery WHERE subscription_id = $sub AND attempts > 0")" -ge 1 ] && break
    sleep 0.1
done
expect_eq "the allowed address is reached" "$([ -s "$hits" ] && echo yes)" "yes"
resp=$(sql "SELECT last_response FROM delivery WHERE subscription_id = $sub AND attempts > 0 LIMIT 1")
if [ "${#resp}" -le 200 ]; then e2e_ok "a short excerpt of the answer is kept (${#resp} bytes)"; else e2e_fail "a short excerpt of the answer is kept" "${#resp} bytes"; fi
if printf '%s' "$resp" | grep -q $'[\x01-\x1f]'; then e2e_fail "no control characters in the excerpt" "$resp"; else e2e_ok "no control characters in the excerpt"; fi
http_stop
expect_eq "server exits 0" "$server_rc" "0"
kill "$internal_pid" 2>/dev/null; wait "$internal_pid" 2>/dev/null
e2e_end
