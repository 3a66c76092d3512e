# Erasure leaves no personal value anywhere in the database (issue 17 item 2;
# docs/SECURITY.md#erasure): a subject gets records from two sources over HTTP, an update
# (old values in the history), consent with a contact point, a manual merge and an
# assertion whose reasons name the person, and a pinned name; after the erasure a full
# pg_dump holds none of the values the subject ever had, the audit chain still verifies,
# and the audit log shows "[erased]" where the values were. A personal value of another
# subject edited in SQL is reported by `mdm audit verify`.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "crm", "kind": "crm"}, {"code": "web", "kind": "commerce"}],
 "http": {"auth_cache_seconds": 0}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin)
steward=$(new_key steward --name stella)
dpo=$(new_key compliance --name dpo)
crm=$(new_key source --source crm)
web=$(new_key source --source web)
J=(-H "Content-Type: application/json")
A() { printf 'Authorization: Bearer %s' "${!1}"; }
upsert() { # upsert KEYVAR SOURCE JSON: sets body; prints nothing
    expect_status "upsert $2 $(jq -r .source_key <<<"$3")" 201 POST "/v1/sources/$2/records" -H "$(A "$1")" "${J[@]}" -d "$3"
}

# every value below belongs to the subject and to nobody else
upsert web web '{"source_key": "W-1", "first_name": "Hooky", "last_name": "Webbzarn",
  "emails": ["hooky.webbzarn@example.com"], "phones": ["+1 415 555 0199"], "birth_date": "1979-11-23",
  "addresses": [{"line1": "17 Quillfeather Lane", "city": "Marrowvale", "postal_code": "94999", "country": "US"}],
  "loyalty_id": "LOYQX-88231"}'
e1=$(jq -r .entity_id <<<"$body")
call POST /v1/sources/web/records -H "$(A web)" "${J[@]}" -d '{"source_key": "W-1", "first_name": "Hooky", "last_name": "Webbzarn",
  "emails": ["hooky.w.new@example.com"], "phones": ["+1 415 555 0199"], "birth_date": "1979-11-23",
  "addresses": [{"line1": "17 Quillfeather Lane", "city": "Marrowvale", "postal_code": "94999", "country": "US"}],
  "loyalty_id": "LOYQX-88231"}'
if [ "$status" = 200 ] || [ "$status" = 201 ]; then e2e_ok "the web record is updated"; else e2e_fail "the web record is updated" "status $status: ${body:0:200}"; fi
upsert crm crm '{"source_key": "C-1", "first_name": "Hookerson", "last_name": "Quorrigan",
  "emails": ["hq.quorrigan@example.org"], "phones": ["+1 212 555 0143"], "tax_id": "TXQ-4471-889"}'
e2=$(jq -r .entity_id <<<"$body")
# another person, who stays
upsert web web '{"source_key": "W-2", "first_name": "Zelda", "last_name": "Otherly", "emails": ["zelda@otherly.example"]}'
e3=$(jq -r .entity_id <<<"$body")
expect_eq "three golden records" "$(sql "SELECT count(DISTINCT id) FROM entity WHERE id IN ($e1, $e2, $e3)")" "3"
expect_status "consent with a contact point" 201 POST /v1/consent-events -H "$(A crm)" "${J[@]}" \
    -d '{"source_key": "C-1", "consents": [{"purpose": "marketing", "channel": "email", "status": "granted", "captured_at": "2026-01-10T09:00:00Z", "contact_point": "hq.quorrigan@example.org", "evidence": "call with Hookerson Quorrigan"}]}'

# stewardship: reasons and a pin that name the person
expect_status "manual merge with a reason naming the person" 200 POST "/v1/entities/$e2/merge" -H "$(A steward)" "${J[@]}" \
    -d "{\"other\": $e1, \"reason\": \"same person Hooky Webbzarn hooky.webbzarn@example.com\"}"
subject=$(jq -r .survivor <<<"$body")
expect_status "pin a name" 200 PUT "/v1/entities/$subject/pins/first_name" -H "$(A steward)" "${J[@]}" \
    -d '{"value": "Hookster", "reason": "prefers Hookster, said on the phone"}'
r1=$(sql "SELECT id FROM source_record WHERE source = 'web' AND source_key = 'W-1'")
r3=$(sql "SELECT id FROM source_record WHERE source = 'web' AND source_key = 'W-2'")
expect_status "an assertion with a reason naming both" 200 POST /v1/assertions -H "$(A steward)" "${J[@]}" \
    -d "{\"kind\": \"never_link\", \"record_a\": $r1, \"record_b\": $r3, \"reason\": \"Webbzarn is not Zelda\"}"
expect_status "the other person's pin" 200 PUT "/v1/entities/$e3/pins/last_name" -H "$(A steward)" "${J[@]}" \
    -d '{"value": "Otherly-Smythe", "reason": "married"}'

# the audit log shows the values while they exist, but the chain holds none of them
expect_status "audit of the pin" 200 GET "/v1/audit?action=entity.pin&target=entity:$subject" -H "$(A admin)"
expect_eq "the pinned value is shown" "$(jq -r '.items | .[0].after.pin' <<<"$body")" "Hookster"
expect_eq "its reason is shown" "$(jq -r '.items | .[0].reason' <<<"$body")" "prefers Hookster, said on the phone"
expect_eq "the chain holds no personal value" \
    "$(sql "SELECT count(*) FROM audit_log WHERE concat_ws(' ', target, reason, before, after) ~* '(hook|webbzarn|quorrigan|zelda)'")" "0"

# subject access shows the personal values the audit log keeps about the subject
expect_status "subject export" 200 GET "/v1/subjects/$subject/export" -H "$(A dpo)"
expect_eq "the export holds the pinned value and both reasons from the audit log" \
    "$(jq -r '[.audit_values[].value] | map(select(test("Hookster|same person Hooky|prefers Hookster"))) | length' <<<"$body")" "3"
n=$(jq '.audit_values | length' <<<"$body")
expect_eq "each names its audit row" "$(jq '[.audit_values[] | select(.audit_id > 0 and (.action | length) > 0)] | length' <<<"$body")" "$n"
expect_eq "not the other person's" "$(jq -r '[.audit_values[].value | select(test("Otherly|married"))] | length' <<<"$body")" "0"

values=("Hooky" "Webbzarn" "hooky.webbzarn@example.com" "hooky.w.new@example.com" "4155550199"
        "1979-11-23" "Quillfeather" "Marrowvale" "LOYQX-88231" "Hookerson" "Quorrigan"
        "hq.quorrigan@example.org" "2125550143" "TXQ-4471-889" "Hookster" "prefers Hookster"
        "same person Hooky")
dump() { pg_dump --no-owner --no-privileges "$MDM_DATABASE_URL" > "$1" 2>"$http_tmp/dump.err"; }
dump "$http_tmp/before.sql" || e2e_fail "pg_dump before" "$(cat "$http_tmp/dump.err")"
missing=""
for v in "${values[@]}"; do grep -qiF -- "$v" "$http_tmp/before.sql" || missing="$missing $v"; done
expect_eq "every value is in the dump before the erasure (the search can find them)" "$missing" ""
grep -qiF "Zelda" "$http_tmp/before.sql" && grep -qiF "Otherly-Smythe" "$http_tmp/before.sql"
expect_eq "the other person is in the dump" "$?" "0"

expect_problem "an erasure body with an unknown key is refused" 422 eunprocessable \
    POST "/v1/subjects/$subject/erase" -H "$(A dpo)" "${J[@]}" -d '{"reasn": "ticket 4711"}'
expect_contains "the unknown key is named" 'unknown key \"reasn\" (known: reason)' "$body"
expect_status "erase the subject" 200 POST "/v1/subjects/$subject/erase" -H "$(A dpo)" "${J[@]}" -d '{"reason": "ticket 4711"}'
dump "$http_tmp/after.sql" || e2e_fail "pg_dump after" "$(cat "$http_tmp/dump.err")"
left=""
for v in "${values[@]}"; do
    if grep -qiF -- "$v" "$http_tmp/after.sql"; then
        left="$left [$v in: $(grep -iF -- "$v" "$http_tmp/after.sql" | head -n 2 | cut -c1-160 | tr '\n' ' ')]"
    fi
done
expect_eq "no value of the subject is left anywhere in a full dump" "$left" ""
expect_contains "the other person stays" "Zelda" "$(cat "$http_tmp/after.sql")"
expect_contains "the other person's pin stays" "Otherly-Smythe" "$(cat "$http_tmp/after.sql")"

expect_exit 0 "the audit chain still verifies" "$mdm" audit verify
# a stale copy of an erased key: refused, kept as a reject the reply names
expect_problem "a stale copy of an erased key is refused" 422 eunprocessable POST /v1/sources/web/records -H "$(A web)" "${J[@]}" \
    -d '{"source_key": "W-1", "first_name": "Hooky", "last_name": "Webbzarn"}'
expect_contains "the reply names the stored reject" \
    "kept as reject $(sql "SELECT max(id) FROM record_reject WHERE source = 'web' AND source_key = 'W-1' AND reasons @> '[{\"reason\": \"erased_subject\"}]'")" "$body"
expect_status "audit of the merge after the erasure" 200 GET "/v1/audit?action=entity.merge" -H "$(A admin)"
expect_eq "the merge reason reads [erased]" "$(jq -r '.items | .[0].reason' <<<"$body")" "[erased]"
expect_status "audit of the pin after the erasure" 200 GET "/v1/audit?action=entity.pin&target=entity:$subject" -H "$(A admin)"
expect_eq "the pinned value reads [erased]" "$(jq -r '.items | .[0].after.pin' <<<"$body")" "[erased]"
expect_status "audit of the other pin" 200 GET "/v1/audit?action=entity.pin&target=entity:$e3" -H "$(A admin)"
expect_eq "the other person's pin is still shown" "$(jq -r '.items | .[0].after.pin' <<<"$body")" "Otherly-Smythe"

# the erasable values are still tamper-evident: their salted hash is in the chain
sql "UPDATE audit_personal SET value = '\"Otherly-Jones\"' WHERE value = '\"Otherly-Smythe\"'" >/dev/null
expect_exit 1 "an edited personal value is detected" "$mdm" audit verify
expect_contains "the problem names the personal value" "personal value" "$out"
http_stop
expect_eq "server exits 0" "$server_rc" "0"
e2e_end
