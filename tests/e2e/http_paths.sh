# Path parameters are unescaped segment by segment (the server routes on the raw request
# target): a source key holding "/", "%" and a space is created, read and deleted by path;
# an escaped slash never splits a segment; %00 and invalid UTF-8 in the path are 400;
# request ids and the access log still work for such requests.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}, {"code": "crm", "kind": "crm"}],
 "http": {"auth_cache_seconds": 0}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
export MDM_LOG_LEVEL=info
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
web=$(new_key source --source web)
crm=$(new_key source --source crm)
reader=$(new_key reader)
auth() { printf 'Authorization: Bearer %s' "${!1}"; }
J=(-H "Content-Type: application/json")

key='a/b%c d'
enc='a%2Fb%25c%20d'
expect_status "a record keyed a/b%c d is created" 201 POST /v1/sources/web/records -H "$(auth web)" "${J[@]}" \
    -d "{\"source_key\": \"$key\", \"first_name\": \"Petra\", \"last_name\": \"Slash\", \"emails\": [\"petra@slash.example\"]}"
expect_eq "stored under the exact key" "$(sql "SELECT count(*) FROM source_record WHERE source = 'web' AND source_key = 'a/b%c d'")" "1"
expect_status "read by path" 200 GET "/v1/sources/web/records/$enc" -H "$(auth web)" -H "X-Request-Id: slash-read-1"
expect_eq "the record read is that key" "$(printf '%s' "$body" | jq -r .source_key)" "$key"
expect_contains "request id echoed" "X-Request-Id: slash-read-1" "$hdrs"
expect_status "lower-case escapes too" 200 GET "/v1/sources/web/records/a%2fb%25c%20d" -H "$(auth web)"
expect_problem "the unescaped slash is another path" 404 enotfound GET "/v1/sources/web/records/a/b%25c%20d" -H "$(auth web)"
expect_problem "a key that only looks alike is not found" 404 enotfound GET "/v1/sources/web/records/a%2Fb%2525c%20d" -H "$(auth web)"
expect_problem "an escaped slash does not split a segment" 404 enotfound GET "/v1/sources/web%2Frecords/x" -H "$(auth web)"
expect_problem "nor the source: web/x is another source" 403 eforbidden GET "/v1/sources/web%2Fx/records/k" -H "$(auth web)"
expect_problem "%00 in the path" 400 einval GET "/v1/sources/web/records/a%00b" -H "$(auth web)"
expect_problem "invalid UTF-8 in the path" 400 einval GET "/v1/sources/web/records/%C3%28" -H "$(auth web)"
expect_status "an escaped UTF-8 key" 404 GET "/v1/sources/web/records/%C3%A9t%C3%A9" -H "$(auth web)"
expect_contains "named decoded in the problem" "été" "$body"
eid=$(sql "SELECT entity_id FROM membership m JOIN source_record r ON r.id = m.record_id WHERE r.source_key = 'a/b%c d'")
expect_status "query arguments still decode" 200 GET "/v1/entities?email=petra%40slash.example" -H "$(auth reader)"
expect_eq "found by e-mail" "$(printf '%s' "$body" | jq '.items | length')" "1"
expect_status "entity ids may be escaped" 200 GET "/v1/entities/$(printf '%%%02X' "'${eid:0:1}")${eid:1}" -H "$(auth reader)"
expect_eq "the escaped id names the entity" "$(printf '%s' "$body" | jq .id)" "$eid"
expect_problem "another source's key may not touch it" 403 eforbidden DELETE "/v1/sources/web/records/$enc" -H "$(auth crm)"
expect_status "deleted by path" 200 DELETE "/v1/sources/web/records/$enc" -H "$(auth web)" -H "X-Request-Id: slash-delete-1"
expect_eq "decision deleted" "$(printf '%s' "$body" | jq -r .decision)" "deleted"
expect_eq "the record is deleted" "$(sql "SELECT deleted FROM source_record WHERE source = 'web' AND source_key = 'a/b%c d'")" "t"
expect_status "still readable, as deleted" 200 GET "/v1/sources/web/records/$enc" -H "$(auth web)"
expect_eq "marked deleted" "$(printf '%s' "$body" | jq -r .deleted)" "true"

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
logs=$(cat "$server_log")
expect_contains "access line of the read, route pattern only" \
    "rid=slash-read-1 method=GET route=/v1/sources/{source}/records/{key} status=200" "$logs"
expect_contains "access line of the delete" \
    "rid=slash-delete-1 method=DELETE route=/v1/sources/{source}/records/{key} status=200" "$logs"
case $logs in *"a%2Fb"*|*"a/b%c"*) e2e_fail "the key is not logged at info" "${logs:0:300}" ;; *) e2e_ok "the key is not logged at info" ;; esac
e2e_end
