# Security and privacy regressions (issue 17; docs/SECURITY.md): field length limits on
# every entry path, one validation for HTTP and mdm load (NUL bytes, invalid UTF-8),
# batch lines held to the body limit, database text kept out of problem details, and
# `mdm config` / `mdm link` refusing what `mdm serve` and the engine refuse.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [
  {"code": "crm", "kind": "crm", "key": "Id",
   "mapping": {"First": "first_name", "Last": "last_name", "Mail": "email", "Tel": "phone"}},
  {"code": "web", "kind": "commerce"}],
 "http": {"auth_cache_seconds": 0, "max_body_bytes": 65536}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
web=$(new_key source --source web)
compliance=$(new_key compliance)
J=(-H "Content-Type: application/json" -H "Authorization: Bearer $web")
digits() { head -c "$1" /dev/zero | tr '\0' 7; }

# --- field length limits over HTTP ---------------------------------------------------
long_phone=$(digits 30000)
printf '{"source_key": "P1", "last_name": "Webb", "phones": ["%s"]}' "$long_phone" > "$http_tmp/p1.json"
start=$(date +%s%N)
expect_status "30,000-digit phone refused" 422 POST /v1/sources/web/records "${J[@]}" --data-binary @"$http_tmp/p1.json"
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "the refusal points at the phone" "$(printf '%s' "$body" | jq -r '.errors[0].pointer')" "/phones/0"
if [ "$ms" -lt 2000 ]; then e2e_ok "refused quickly (${ms} ms)"; else e2e_fail "refused quickly" "${ms} ms"; fi
name=$(head -c 300 /dev/zero | tr '\0' a)
expect_status "300-byte last name refused" 422 POST /v1/sources/web/records "${J[@]}" \
    -d "{\"source_key\": \"N1\", \"last_name\": \"$name\"}"
expect_contains "the refusal points at last_name" '"pointer":"/last_name"' "$body"
expect_contains "the reason gives the limit" "longer than 256 bytes" "$body"
attr=$(head -c 2000 /dev/zero | tr '\0' b)
expect_status "2,000-byte attribute refused" 422 POST /v1/sources/web/records "${J[@]}" \
    -d "{\"source_key\": \"A1\", \"last_name\": \"Webb\", \"attributes\": {\"note\": \"$attr\"}}"
expect_contains "the refusal points at the attribute" '"pointer":"/attributes/note"' "$body"
email="$(head -c 250 /dev/zero | tr '\0' c)@example.com"
expect_status "262-byte e-mail refused" 422 POST /v1/sources/web/records "${J[@]}" \
    -d "{\"source_key\": \"E1\", \"last_name\": \"Webb\", \"emails\": [\"$email\"]}"
expect_contains "the refusal points at the e-mail" '"pointer":"/emails/0"' "$body"
expect_status "values within the limits are accepted" 201 POST /v1/sources/web/records "${J[@]}" \
    -d '{"source_key": "OK1", "last_name": "Webb", "phones": ["+1 415 555 0132"]}'
expect_status "healthz still answers" 200 GET /healthz
# the match endpoint takes the same path
reader=$(new_key reader)
call POST /v1/match -H "Content-Type: application/json" -H "Authorization: Bearer $reader" \
    -d "{\"source_key\": \"M\", \"last_name\": \"$name\"}"
expect_eq "match refuses a 300-byte name" "$status" "422"

# --- NDJSON batch: a line is held to the body limit ------------------------------------
{ printf '{"source_key": "B1", "last_name": "Webb"}\n'
  printf '{"source_key": "B2", "last_name": "Webb", "attributes": {"x": "%s"}}\n' "$(digits 70000)"
  printf '{"source_key": "B3", "last_name": "Webb"}\n'; } > "$http_tmp/batch.ndjson"
call POST /v1/sources/web/records:batch -H "Content-Type: application/x-ndjson" \
    -H "Authorization: Bearer $web" --data-binary @"$http_tmp/batch.ndjson"
expect_eq "batch line over max_body_bytes: 413 for that line" "$(printf '%s\n' "$body" | jq -s -r '.[1].status')" "413"
expect_eq "the other lines are stored" "$(printf '%s\n' "$body" | jq -s -r '[.[0].status, .[2].status] | join(",")')" "201,201"

# --- mdm load: the same validation as HTTP ---------------------------------------------
printf 'Id,First,Last,Mail\nL1,Ann,Lee,ann@example.com\nL2,Bo\0b,Stone,bob@example.com\nL3,Cy,\xff\xfeWard,cy@example.com\nL4,Di,%s,di@example.com\n' \
    "$name" > "$http_tmp/load.csv"
expect_exit 0 "load a CSV with bad rows" "$mdm" load --source crm "$http_tmp/load.csv"
expect_contains "three rows rejected" "3 rejected" "$out"
expect_eq "only the good row is stored" "$(sql "SELECT string_agg(source_key, ',' ORDER BY source_key) FROM source_record WHERE source_key LIKE 'L%'")" "L1"
expect_eq "no truncated value stored" "$(sql "SELECT count(*) FROM source_record WHERE normalized->>'first_name' = 'Bo'")" "0"
rejects=$(sql "SELECT string_agg(reasons::text, ' ') FROM record_reject")
expect_contains "NUL byte named in the reject" "NUL byte" "$rejects"
expect_contains "invalid UTF-8 named in the reject" "not valid UTF-8" "$rejects"
expect_contains "long name named in the reject" "longer than 256 bytes" "$rejects"
printf '{"source_key": "J1", "last_name": "%s"}\n' "$name" > "$http_tmp/load.ndjson"
expect_exit 0 "load NDJSON with a long name" "$mdm" load --source web "$http_tmp/load.ndjson"
expect_contains "NDJSON long name rejected" "1 rejected" "$out"

# configured limits
cat > "$http_tmp/small.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}], "limits": {"last_name": 8}}
JSON
printf '{"source_key": "S1", "last_name": "Abcdefghij"}\n' > "$http_tmp/s.ndjson"
MDM_CONFIG=$http_tmp/small.json expect_exit 0 "load with limits.last_name 8" "$mdm" load --source web "$http_tmp/s.ndjson"
expect_contains "a 10-byte name is over the configured limit" "1 rejected" "$out"

# --- database text never in a reply ----------------------------------------------------
expect_problem "audit from=garbage is a 400 before any query" 400 einval GET "/v1/audit?from=garbage" \
    -H "Authorization: Bearer $compliance"
case $body in *"invalid input syntax"* | *timestamp*) e2e_fail "no PostgreSQL text in the reply" "$body" ;; *) e2e_ok "no PostgreSQL text in the reply" ;; esac
expect_contains "the parameter is named" "/query/from" "$body"

# --- one validation: mdm config refuses what serve refuses ------------------------------
for bad in '"max_body_bytes": -1' '"max_connections": 0' '"connection_timeout": -5' '"request_timeout": 0'; do
    echo "{\"http\": {$bad}}" > "$http_tmp/bad.json"
    expect_exit 2 "mdm config refuses $bad" "$mdm" config --config "$http_tmp/bad.json"
    expect_exit 2 "mdm serve refuses $bad" "$mdm" serve --config "$http_tmp/bad.json" --listen 127.0.0.1:0
done
echo '{"limits": {"phone": 0}}' > "$http_tmp/bad.json"
expect_exit 2 "mdm config refuses limits.phone 0" "$mdm" config --config "$http_tmp/bad.json"
echo '{"limits": {"fax": 10}}' > "$http_tmp/bad.json"
expect_exit 2 "mdm config refuses an unknown limit" "$mdm" config --config "$http_tmp/bad.json"

# mdm link refuses comparison thresholds outside 0 <= far <= close <= 1
"$mdm" synth --people 20 --seed 3 --out "$http_tmp/syn" >/dev/null 2>&1
python3 - "$MDM_ROOT/demo/synth.json" "$http_tmp/link.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["comparisons"][0]["thresholds"] = [2, -1]
json.dump(d, open(sys.argv[2], "w"))
PY
expect_exit 2 "mdm link refuses thresholds [2, -1]" "$mdm" link --config "$http_tmp/link.json" \
    "$http_tmp/syn/crm.csv" --out "$http_tmp/cl.csv"
expect_contains "the thresholds are named" "thresholds" "$out"

http_stop
expect_eq "server exits 0" "$server_rc" "0"
e2e_end
