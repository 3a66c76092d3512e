# HTTP server, security and operations: routing errors, problem+json, API keys and roles,
# rate limits, /healthz /readyz /metrics /v1/openapi.json, the change feed and its long
# poll, hostile inputs, an unreachable database, and a clean SIGTERM.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<JSON
{"sources": [{"code": "crm", "kind": "crm"}, {"code": "pos", "kind": "pos"}],
 "http": {"auth_cache_seconds": 0, "max_wait_seconds": 5, "max_page_size": 50}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate

# --- command line --------------------------------------------------------------------
expect_exit 0 "serve --routes" "$mdm" serve --routes
routes=$out
expect_contains "routes list the change feed" "/v1/changes" "$routes"
echo '{"http": {"max_body_bytes": 0}}' > "$http_tmp/bad.json"
expect_exit 2 "bad http config is refused" "$mdm" serve --config "$http_tmp/bad.json" --listen 127.0.0.1:0
expect_contains "bad http config names the key" "http.max_body_bytes must be an integer from 1" "$out"
echo '{"http": {"max_bodyy": 1}}' > "$http_tmp/bad2.json"
expect_exit 2 "unknown http key is refused" "$mdm" serve --config "$http_tmp/bad2.json" --listen 127.0.0.1:0
expect_contains "unknown http key named" 'unknown key "http.max_bodyy"' "$out"
expect_exit 2 "bad listen address" "$mdm" serve --listen nonsense
expect_exit 2 "serve rejects arguments" "$mdm" serve extra

expect_exit 2 "apikey without subcommand" "$mdm" apikey
expect_exit 2 "apikey create needs --role" "$mdm" apikey create
expect_exit 2 "apikey unknown role" "$mdm" apikey create --role boss
expect_contains "unknown role named" '"boss"' "$out"
expect_exit 2 "source key needs --source" "$mdm" apikey create --role source
expect_exit 2 "source key for unknown source" "$mdm" apikey create --role source --source nosuch
expect_contains "unknown source named" 'unknown source system "nosuch"' "$out"
expect_exit 2 "--source only for role source" "$mdm" apikey create --role reader --source crm
expect_exit 2 "bad --rate" "$mdm" apikey create --role reader --rate fast
expect_exit 4 "revoke unknown key" "$mdm" apikey revoke 999999

reader=$(new_key reader --name "e2e reader")
steward=$(new_key steward)
compliance=$(new_key compliance)
admin=$(new_key admin)
crm=$(new_key source --source crm)
slow=$(new_key reader --rate 1/s --name slow)
revoked=$(new_key reader --name gone)
if [[ $reader =~ ^mdm_[0-9a-f]{12}_[0-9a-f]{64}$ ]]; then e2e_ok "key format"; else e2e_fail "key format" "$reader"; fi
secret=${reader##*_}
expect_exit 0 "apikey list" "$mdm" apikey list
expect_contains "list shows the name" "e2e reader" "$out"
expect_contains "list shows the prefix" "$(echo "$reader" | cut -d_ -f2)" "$out"
if [[ $out == *"$secret"* ]]; then e2e_fail "list never shows a secret" "$out"; else e2e_ok "list never shows a secret"; fi
expect_eq "the database holds no key text" "$(sql "SELECT count(*) FROM api_key WHERE encode(hash, 'hex') = '$secret' OR prefix = '${reader#mdm_}'")" "0"
expect_exit 0 "apikey list --json" "$mdm" apikey list --json
expect_eq "list --json parses" "$(printf '%s' "$out" | jq -r '[.[] | select(.role == "source")][0].source')" "crm"
expect_exit 0 "revoke by prefix" "$mdm" apikey revoke "$(echo "$revoked" | cut -d_ -f2)"
expect_exit 4 "revoke twice" "$mdm" apikey revoke "$(echo "$revoked" | cut -d_ -f2)"

# --- server ----------------------------------------------------------------------------
http_start --config "$http_tmp/mdm.json" || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
e2e_ok "server starts"

expect_status "healthz" 200 GET /healthz
expect_eq "healthz body" "$(printf '%s' "$body" | jq -r .status)" "ok"
expect_contains "request id header" "X-Request-Id: " "$hdrs"
call GET /healthz -H "X-Request-Id: e2e-abc.123"
expect_contains "request id is echoed" "X-Request-Id: e2e-abc.123" "$hdrs"
call GET /healthz -H "X-Request-Id: bad id!"
if [[ $hdrs == *"bad id"* ]]; then e2e_fail "unsafe request id replaced" "$hdrs"; else e2e_ok "unsafe request id replaced"; fi
expect_status "readyz" 200 GET /readyz
expect_eq "readyz counts migrations" "$(printf "%s" "$body" | jq -r .migrations)" "$(sql "SELECT count(*) FROM schema_migrations")"

expect_problem "unknown path is 404" 404 enotfound GET /v1/nothing
expect_eq "problem has title" "$(printf '%s' "$body" | jq -r .title)" "not found"
expect_eq "problem has type" "$(printf '%s' "$body" | jq -r .type)" "urn:mdm:problem:enotfound"
expect_eq "problem has status" "$(printf '%s' "$body" | jq -r .status)" "404"
expect_problem "wrong method is 405" 405 emethod POST /healthz
expect_contains "405 has Allow" "Allow: GET, HEAD" "$hdrs"
# HEAD on a GET route: the GET's status and headers, no body
call HEAD /healthz -I
expect_eq "HEAD /healthz is 200" "$status" "200"
expect_eq "HEAD has no body (curl -I prints only the headers)" "$(printf '%s' "$body" | grep -c '"status"')" "0"
expect_contains "HEAD says the GET's type" "Content-Type: application/json" "$hdrs"
call HEAD /v1/changes -I -H "Authorization: Bearer $reader"
expect_eq "HEAD on an API route is 200" "$status" "200"
call HEAD /v1/changes -I
expect_eq "HEAD is authenticated like GET" "$status" "401"
expect_problem "DELETE on the feed is 405" 405 emethod DELETE /v1/changes -H "Authorization: Bearer $reader"
expect_problem "trailing slash is 404" 404 enotfound GET /v1/changes/
expect_problem "invalid UTF-8 in the path" 400 einval GET "/v1/%ff%fe"
expect_problem "SQL-shaped path is 404" 404 enotfound GET "/v1/changes'%3B%20DROP%20TABLE%20outbox%3B--"

# OpenAPI: every route of the table is documented
expect_status "openapi" 200 GET /v1/openapi.json
openapi=$body
expect_eq "openapi version" "$(printf '%s' "$openapi" | jq -r .openapi)" "3.1.0"
missing=""
while read -r method path _; do
    m=$(printf '%s' "$method" | tr 'A-Z' 'a-z')
    printf '%s' "$openapi" | jq -e --arg p "$path" --arg m "$m" '.paths[$p][$m].responses' >/dev/null || missing="$missing $method $path"
done <<< "$routes"
expect_eq "openapi documents every route" "$missing" ""
expect_eq "operationIds are unique camelCase method names" \
    "$(printf '%s' "$openapi" | jq -r '[.paths[][] | .operationId] | (length == (unique | length)) and all(test("^[a-z]+[A-Za-z0-9]*$"))')" "true"
expect_eq "the entity read is getEntitiesById" "$(printf '%s' "$openapi" | jq -r '.paths["/v1/entities/{id}"].get.operationId')" "getEntitiesById"
expect_eq "servers names this server" "$(printf '%s' "$openapi" | jq -r '.servers[0].url')" "/"
# every $ref resolves inside the document
expect_eq "every \$ref resolves" "$(printf '%s' "$openapi" | jq -r '. as $d | [.. | objects | .["$ref"]? | strings | ltrimstr("#/") | split("/") as $p | select(($d | getpath($p)) == null)] | unique | join(" ")')" ""

# authentication and roles on the change feed
expect_problem "no key is 401" 401 eauth GET /v1/changes
expect_contains "401 names the scheme" "WWW-Authenticate: Bearer" "$hdrs"
expect_problem "malformed key is 401" 401 eauth GET /v1/changes -H "Authorization: Bearer nope"
expect_problem "basic auth is 401" 401 eauth GET /v1/changes -H "Authorization: Basic dXNlcjpwYXNz"
expect_problem "unknown key is 401" 401 eauth GET /v1/changes -H "Authorization: Bearer mdm_0123456789ab_$(printf '0%.0s' $(seq 64))"
# change the last secret character to a different one (appending a fixed "0" is no change
# when the key already ends in 0)
if [ "${reader: -1}" = 0 ]; then tampered="${reader%?}1"; else tampered="${reader%?}0"; fi
expect_problem "tampered secret is 401" 401 eauth GET /v1/changes -H "Authorization: Bearer $tampered"
expect_problem "revoked key is 401" 401 eauth GET /v1/changes -H "Authorization: Bearer $revoked"
expect_problem "source key may not read the feed" 403 eforbidden GET /v1/changes -H "Authorization: Bearer $crm"
for k in reader steward compliance admin; do
    expect_status "$k reads the feed" 200 GET /v1/changes -H "Authorization: Bearer ${!k}"
done
R=(-H "Authorization: Bearer $reader")

# the change feed
expect_eq "empty feed" "$(printf '%s' "$body" | jq -c .)" '{"events":[],"next":0}'
# events of a golden record: its record created, then updated (the CRM's key writes)
upsert() { # FIRST: the CRM's record A-1 with that first name
    call POST /v1/sources/crm/records -H "Authorization: Bearer $crm" -H 'Content-Type: application/json' \
        -d "{\"source_key\": \"A-1\", \"first_name\": \"$1\", \"last_name\": \"Archer\"}"
}
upsert Ann
eid=$(jq .entity_id <<<"$body")
upsert Anne
expect_status "feed from 0" 200 GET "/v1/changes?after=0" "${R[@]}"
expect_eq "feed has both events" "$(printf '%s' "$body" | jq -r '[.events[].type] | join(",")')" "created,updated"
next=$(printf '%s' "$body" | jq -r .next)
expect_eq "payload is the golden record" "$(printf '%s' "$body" | jq -r '.events[1].payload | [.id, .golden.first_name] | join(" ")')" "$eid Anne"
expect_status "feed limit" 200 GET "/v1/changes?after=0&limit=1" "${R[@]}"
expect_eq "limit 1 gives one" "$(printf '%s' "$body" | jq '.events | length')" "1"
first=$(printf '%s' "$body" | jq -r .next)
expect_status "feed resumes after the cursor" 200 GET "/v1/changes?after=$first" "${R[@]}"
expect_eq "resume gives the second" "$(printf '%s' "$body" | jq -r '.events[0].type')" "updated"
expect_status "feed at the end" 200 GET "/v1/changes?after=$next" "${R[@]}"
expect_eq "nothing after the end" "$(printf '%s' "$body" | jq '.events | length')" "0"
expect_problem "limit=0 is 400" 400 einval GET "/v1/changes?limit=0" "${R[@]}"
expect_eq "400 points at the argument" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/query/limit"
expect_problem "limit above max_page_size" 400 einval GET "/v1/changes?limit=51" "${R[@]}"
expect_problem "after=abc is 400" 400 einval GET "/v1/changes?after=abc" "${R[@]}"
expect_problem "SQL-shaped argument is 400" 400 einval GET "/v1/changes?after=1%3BDROP%20TABLE%20outbox" "${R[@]}"
expect_problem "wait above max is 400" 400 einval GET "/v1/changes?wait=6" "${R[@]}"
expect_problem "invalid UTF-8 argument is 400" 400 einval GET "/v1/changes?after=%ff" "${R[@]}"
expect_eq "outbox survived the hostile inputs" "$(sql "SELECT count(*) FROM outbox")" "2"

# long poll: an event committed while waiting ends the wait early
start=$(date +%s%N)
curl -s "${R[@]}" "$base/v1/changes?after=$next&wait=5" > "$http_tmp/poll.json" &
poll=$!
sleep 0.7
call DELETE /v1/sources/crm/records/A-1 -H "Authorization: Bearer $crm"
wait $poll
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "long poll returns the new event" "$(jq -r '.events[0].type' "$http_tmp/poll.json")" "deleted"
if [ "$ms" -lt 3000 ]; then e2e_ok "long poll wakes early (${ms} ms)"; else e2e_fail "long poll wakes early" "${ms} ms"; fi
next=$(jq -r .next "$http_tmp/poll.json")
start=$(date +%s%N)
expect_status "long poll times out empty" 200 GET "/v1/changes?after=$next&wait=1" "${R[@]}"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "timed-out poll is empty" "$(printf '%s' "$body" | jq '.events | length')" "0"
if [ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ]; then e2e_ok "long poll waits about 1 s (${ms} ms)"; else e2e_fail "long poll waits about 1 s" "${ms} ms"; fi

# rate limit: 1/s, burst 1 (two calls within a second even on a loaded machine)
# (the 429 itself is checked, not a later call: on a loaded machine the bucket may refill)
codes="" limited_code="" limited_type=""
for _ in 1 2 3 4 5 6 7 8; do
    call GET /v1/changes -H "Authorization: Bearer $slow"
    codes="$codes $status"
    if [ "$status" = 429 ]; then
        limited_code=$(printf '%s' "$body" | jq -r '.code' 2>/dev/null)
        limited_type=$(printf '%s\n' "$hdrs" | sed -n 's/^[Cc]ontent-[Tt]ype: //p')
        break
    fi
done
expect_contains "rate limit answers 429" "429" "$codes"
expect_eq "429 is a problem" "$limited_code $limited_type" "erate application/problem+json"
expect_contains "429 has Retry-After" "Retry-After: " "$hdrs"
expect_contains "429 says none remain" "RateLimit-Remaining: 0" "$hdrs"
expect_contains "429 says the limit (rate x burst)" "RateLimit-Limit: 1" "$hdrs"
sleep 1.1
expect_status "bucket refills" 200 GET /v1/changes -H "Authorization: Bearer $slow"
expect_contains "a keyed reply says the limit" "RateLimit-Limit: 1" "$hdrs"
expect_contains "and what remains" "RateLimit-Remaining: " "$hdrs"

# metrics
expect_status "metrics" 200 GET /metrics
expect_contains "metrics count requests by route and status" 'mdm_http_requests_total{method="GET",route="/v1/changes",status="401"}' "$body"
expect_contains "metrics count unmatched paths" 'route="unmatched",status="404"' "$body"
expect_contains "metrics have latency histograms" 'mdm_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"}' "$body"
expect_contains "metrics have the review queue" "mdm_review_queue_depth 0" "$body"
expect_contains "metrics have the outbox head" "mdm_outbox_head_seq " "$body"
expect_contains "metrics have dead deliveries" "mdm_deliveries_dead 0" "$body"
expect_contains "metrics have db connections" "mdm_db_pool_connections " "$body"
expect_contains "metrics say the db is up" "mdm_db_up 1" "$body"

# SIGTERM while a long poll waits: the poll is answered, the server exits 0
curl -s "${R[@]}" "$base/v1/changes?after=$next&wait=5" > "$http_tmp/poll2.json" &
poll=$!
sleep 0.5
start=$(date +%s%N)
http_stop
wait $poll
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "SIGTERM exits 0" "$server_rc" "0"
expect_eq "waiting poll answered at shutdown" "$(jq -c .events "$http_tmp/poll2.json")" "[]"
if [ "$ms" -lt 3000 ]; then e2e_ok "shutdown is prompt (${ms} ms)"; else e2e_fail "shutdown is prompt" "${ms} ms"; fi
logs=$(cat "$server_log")
expect_contains "one access-log line per request" "event=http_request rid=e2e-abc.123 method=GET route=/healthz status=200" "$logs"
if [[ $logs == *"DROP"* || $logs == *"Ann"* ]]; then e2e_fail "no customer data or raw paths at info" "found"; else e2e_ok "no customer data or raw paths at info"; fi

# an unreachable database: the process lives, readiness and data routes answer 503
MDM_DATABASE_URL="postgresql:///x?host=/nonexistent" http_start --config "$http_tmp/mdm.json"
expect_status "healthz without a database" 200 GET /healthz
expect_problem "readyz without a database" 503 eretry GET /readyz
expect_contains "503 has Retry-After" "Retry-After: 1" "$hdrs"
expect_problem "data route without a database" 503 eretry GET /v1/changes "${R[@]}"
expect_status "metrics without a database" 200 GET /metrics
expect_contains "metrics say the db is down" "mdm_db_up 0" "$body"
http_stop
expect_eq "SIGTERM without a database exits 0" "$server_rc" "0"
e2e_end
