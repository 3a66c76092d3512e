# Consent evidence names the actor (issue 22 item 3): every consent event stores who
# captured it (captured_by, captured_role) and both exports show it. Data from the real
# pipeline: mdm synth -> mdm load -> mdm resolve, then web-shop records carrying consents
# through `mdm load` (the command's user), through HTTP with a source key (the key's name
# and role), and events posted on their own by a source key and by an admin key.
# Checked in the consent audit export (mdm export consent, GET /v1/consent/audit, CSV and
# NDJSON) and the subject export (mdm subject export, GET /v1/subjects/{id}/export).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp
me=$(id -un)
export USER=$me

e2e_pipeline "$tmp" 60 7 crm loyalty erp

# a loyalty member, sent by the web shop with a marketing grant (the load) ...
row=$(awk -F, 'NR > 1 && $3 ~ /@/ && $2 ~ / / { print; exit }' "$tmp/data/loyalty.csv")
full=$(cut -d, -f2 <<<"$row"); email=$(cut -d, -f3 <<<"$row")
first=${full%% *}; last=${full##* }
cat > "$tmp/web.ndjson" <<NDJSON
{"account_id": "W-1", "given_name": "$first", "family_name": "$last", "email_address": "$email", "updated_at": "2026-03-01T10:00:00Z", "consents": [{"purpose": "marketing", "channel": "email", "status": "granted", "captured_at": "2026-03-01T10:00:00Z", "evidence": "checkout page"}]}
NDJSON
expect_exit 0 "load web-shop records carrying consents" "$mdm" load --quiet --source commerce "$tmp/web.ndjson"
eid=$(sql "SELECT m.entity_id FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.active AND r.source = 'commerce' AND r.source_key = 'W-1'")
expect_eq "the loaded record joined a golden record" "$([ -n "$eid" ] && echo yes)" "yes"

shop=$(new_key source --source commerce --name shop-sync)
admin=$(new_key admin --name ops-desk)
dpo=$(new_key compliance --name dpo)
http_start || { e2e_end; exit 1; }
json=(-H 'Content-Type: application/json')

# ... then over HTTP by the shop's key: an update of the record withdrawing sms, and a
# phone denial posted on its own; last, an admin records a postal grant
expect_status "record with a consent over HTTP" 200 POST /v1/sources/commerce/records \
    -H "Authorization: Bearer $shop" "${json[@]}" -d "{\"account_id\": \"W-1\", \"given_name\": \"$first\", \"family_name\": \"$last\", \"email_address\": \"$email\", \"updated_at\": \"2026-03-02T10:00:00Z\", \"consents\": [{\"purpose\": \"marketing\", \"channel\": \"email\", \"status\": \"granted\", \"captured_at\": \"2026-03-01T10:00:00Z\", \"evidence\": \"checkout page\"}, {\"purpose\": \"marketing\", \"channel\": \"sms\", \"status\": \"withdrawn\", \"captured_at\": \"2026-03-02T10:00:00Z\"}]}"
expect_status "event posted by the shop's key" 201 POST /v1/consent-events -H "Authorization: Bearer $shop" "${json[@]}" \
    -d '{"source_key": "W-1", "consents": [{"purpose": "marketing", "channel": "phone", "status": "denied", "captured_at": "2026-03-03T10:00:00Z"}]}'
expect_status "event posted by an admin key" 201 POST /v1/consent-events -H "Authorization: Bearer $admin" "${json[@]}" \
    -d '{"source": "commerce", "source_key": "W-1", "consents": [{"purpose": "marketing", "channel": "post", "status": "granted", "captured_at": "2026-03-04T10:00:00Z"}]}'

want='[["email","granted","cli:'$me'","admin"],["phone","denied","api:shop-sync","source"],["post","granted","api:ops-desk","admin"],["sms","withdrawn","api:shop-sync","source"]]'
pick='[.[] | [.channel, .status, .captured_by, .captured_role]] | sort'

call GET "/v1/consent/audit?format=ndjson" -H "Authorization: Bearer $dpo"
expect_eq "HTTP audit export (NDJSON): who captured each event" "$(jq -sc "$pick" <<<"$body")" "$want"
call GET "/v1/consent/audit" -H "Authorization: Bearer $dpo"
expect_eq "HTTP audit export (CSV): header ends with the actor" \
    "$(head -n 1 <<<"$body" | tr -d '\r' | awk -F, '{print $(NF-1) "," $NF}')" "captured_by,captured_role"
expect_contains "HTTP audit export (CSV): a row names the shop's key" ',api:shop-sync,source' "$body"

expect_exit 0 "mdm export consent" "$mdm" export consent --format ndjson --output "$tmp/audit.ndjson"
expect_eq "CLI audit export: who captured each event" "$(jq -sc "$pick" "$tmp/audit.ndjson")" "$want"

call GET "/v1/subjects/$eid/export" -H "Authorization: Bearer $dpo"
expect_eq "HTTP subject export: who captured each event" "$(jq -c ".consent.events | $pick" <<<"$body")" "$want"
expect_exit 0 "mdm subject export" "$mdm" subject export "$eid"
expect_eq "CLI subject export: who captured each event" "$(jq -c ".consent.events | $pick" <<<"$out")" "$want"

# the record's history names the sender of each version with its role
expect_eq "history: the load and the shop's key" \
    "$(sql "SELECT string_agg(h.change || ' ' || h.actor || ' ' || h.actor_role, '; ' ORDER BY h.id) FROM source_record_history h JOIN source_record r ON r.id = h.record_id WHERE r.source = 'commerce' AND r.source_key = 'W-1'")" \
    "insert cli:$me admin; update api:shop-sync source"

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
e2e_end
