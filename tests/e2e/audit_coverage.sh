# Audit coverage: every kind of write by a person or a system leaves an audit row with
# the right actor, role, action and target and without personal data — source systems
# from the configuration (only when it changed them), API keys
# (`mdm apikey`), a bulk load and a resolve run (`mdm load`, `mdm resolve`: one summary
# row each), an NDJSON record batch (one row; single-record writes get none, their
# history names the key), subscriptions, consent events posted on their own,
# erasure over HTTP and from the CLI — and `mdm audit verify` passes after all of them
# and fails once one of the new rows is edited in SQL.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" > "$http_tmp/mdm.json"
export MDM_CONFIG=$http_tmp/mdm.json
me="cli:${USER:-$(id -un)}"
# the audit row of ACTION on TARGET as "actor|role"
who_did() { sql "SELECT string_agg(actor || '|' || role, ',' ORDER BY id) FROM audit_log WHERE action = '$1' AND target = '$2'"; }

expect_exit 0 "migrate" "$mdm" migrate
"$mdm" synth --people 40 --seed 7 --out "$http_tmp/data" >/dev/null 2>&1

# --- configuration: source systems as the configuration file defines them ---------------
expect_eq "source.create audited per configured source" "$(who_did source.create source_system:crm)" "config|system"
expect_eq "five sources created" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'source.create'")" "5"
expect_exit 0 "migrate again, same configuration" "$mdm" migrate
expect_eq "an unchanged configuration writes no row" "$(sql "SELECT count(*) FROM audit_log WHERE action LIKE 'source.%'")" "5"
jq '(.sources[] | select(.code == "crm") | .trust["*"]) = 65' "$http_tmp/mdm.json" > "$http_tmp/mdm2.json" && mv "$http_tmp/mdm2.json" "$http_tmp/mdm.json"
expect_exit 0 "migrate with crm trust changed" "$mdm" migrate
expect_eq "source.update audited with the new trust" "$(sql "SELECT actor || ' ' || (after->'trust'->>'*') FROM audit_log WHERE action = 'source.update' AND target = 'source_system:crm'")" "config 65"

# --- API keys -----------------------------------------------------------------------
admin=$(new_key admin --name ops)
admin_id=$(sql "SELECT id FROM api_key WHERE name = 'ops'")
expect_eq "apikey create audited" "$(who_did apikey.create "api_key:$admin_id")" "$me|admin"
expect_eq "its row names role and prefix" "$(sql "SELECT after->>'role' || ' ' || (after->>'prefix' = (SELECT prefix FROM api_key WHERE id = $admin_id)) FROM audit_log WHERE target = 'api_key:$admin_id'")" "admin true"
secret=${admin##*_}
expect_eq "the secret is not in the audit log" "$(sql "SELECT count(*) FROM audit_log WHERE after::text LIKE '%$secret%'")" "0"
spare=$(new_key reader --name spare)
spare_id=$(sql "SELECT id FROM api_key WHERE name = 'spare'")
expect_exit 0 "revoke a key" "$mdm" apikey revoke "$spare_id"
expect_eq "apikey revoke audited" "$(who_did apikey.revoke "api_key:$spare_id")" "$me|admin"
expect_exit 4 "revoking it again fails" "$mdm" apikey revoke "$spare_id"
expect_eq "a failed revoke writes no row" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'apikey.revoke'")" "1"
crm=$(new_key source --source crm --name crm-feed)
dpo=$(new_key compliance --name dpo)

# --- bulk load and resolve ------------------------------------------------------------
expect_exit 0 "load crm" "$mdm" load --quiet --no-resolve --source crm "$http_tmp/data/crm.csv"
rows=$(sql "SELECT count(*) FROM source_record WHERE source = 'crm'")
expect_eq "records.load audited" "$(who_did records.load source:crm)" "$me|admin"
expect_eq "load row: file, hash, rows, complete" \
    "$(sql "SELECT concat_ws(' ', after->>'file', after->>'file_sha256', after->'stats'->>'inserted', after->>'complete') FROM audit_log WHERE action = 'records.load'")" \
    "crm.csv $(sha256sum "$http_tmp/data/crm.csv" | cut -d' ' -f1) $rows true"
expect_exit 0 "resolve" "$mdm" resolve --quiet
resolved=$(sed -n 's/^resolved \([0-9]*\) records$/\1/p' <<<"$out")
expect_eq "records.resolve audited" "$(who_did records.resolve records:pending)" "$me|admin"
expect_eq "resolve row: count and its link events" \
    "$(sql "SELECT (after->>'resolved') || ' ' || (SELECT count(*) FROM link_event WHERE id BETWEEN (a.after->'link_event_ids'->>0)::bigint AND (a.after->'link_event_ids'->>1)::bigint) FROM audit_log a WHERE action = 'records.resolve'")" \
    "$resolved $rows"
expect_exit 8 "a load of a missing file" "$mdm" load --quiet --no-resolve --source crm "$http_tmp/none.csv"
expect_eq "the failed load is audited as incomplete" "$(sql "SELECT (after->>'complete') || ' ' || (after->>'failed_with') FROM audit_log WHERE action = 'records.load' ORDER BY id DESC LIMIT 1")" "false eio"

http_start || { e2e_end; exit 1; }
J=(-H 'Content-Type: application/json')

# --- an NDJSON batch: one row for the whole request ---------------------------------------
printf '%s\n' '{"customer_id": "B-1", "first_name": "Quentin", "last_name": "Abernathy-Lyle", "email": "quentin.al@example.org"}' \
    '{"customer_id": "B-2", "first_name": "Rosalind", "last_name": "Oduya", "email": "r.oduya@example.org"}' \
    '{not json' > "$http_tmp/batch.ndjson"
call POST /v1/sources/crm/records:batch -H "Authorization: Bearer $crm" -H 'Content-Type: application/x-ndjson' --data-binary @"$http_tmp/batch.ndjson"
expect_eq "batch answered" "$status" 200
expect_eq "records.batch audited once" "$(who_did records.batch source:crm)" "api:crm-feed|source"
expect_eq "batch row: lines, failed, decisions, hash of the results" \
    "$(sql "SELECT concat_ws(' ', after->>'lines', after->>'failed', after->'decisions'->>'created', after->>'results_sha256') FROM audit_log WHERE action = 'records.batch'")" \
    "3 1 2 $(printf '%s\n' "$body" | sha256sum | cut -d' ' -f1)"

# --- single-record writes: no chain append each, the record's history names the key -------
expect_status "single upsert" 201 POST /v1/sources/crm/records -H "Authorization: Bearer $crm" "${J[@]}" \
    -d '{"customer_id": "S-1", "first_name": "Ilse", "last_name": "Brandvold", "email": "ilse.b@example.org"}'
expect_status "single update" 200 POST /v1/sources/crm/records -H "Authorization: Bearer $crm" "${J[@]}" \
    -d '{"customer_id": "S-1", "first_name": "Ilse", "last_name": "Brandvold", "email": "ilse.brandvold@example.org"}'
expect_status "single delete" 200 DELETE /v1/sources/crm/records/S-1 -H "Authorization: Bearer $crm"
expect_eq "each version of the record names the key that sent it" \
    "$(sql "SELECT string_agg(h.change || ':' || h.actor, ',' ORDER BY h.id) FROM source_record_history h JOIN source_record r ON r.id = h.record_id WHERE r.source_key = 'S-1'")" \
    "insert:api:crm-feed,update:api:crm-feed,delete:api:crm-feed"
expect_eq "single writes append nothing to the chain" "$(sql "SELECT count(*) FROM audit_log WHERE action LIKE 'records.%' AND actor = 'api:crm-feed'")" "1"

# --- subscriptions ---------------------------------------------------------------------
expect_status "create a subscription" 201 POST /v1/subscriptions -H "Authorization: Bearer $admin" "${J[@]}" \
    -d '{"source": "crm", "url": "http://127.0.0.1:1/hook", "secret": "s3cret-0123456789abcdef"}'
sub=$(jq -r .id <<<"$body")
expect_status "update it" 200 PUT "/v1/subscriptions/$sub" -H "Authorization: Bearer $admin" "${J[@]}" -d '{"max_attempts": 3}'
expect_status "delete it" 204 DELETE "/v1/subscriptions/$sub" -H "Authorization: Bearer $admin"
expect_problem "delete an unknown one" 404 enotfound DELETE /v1/subscriptions/99999 -H "Authorization: Bearer $admin"
expect_eq "subscription.create audited" "$(who_did subscription.create "subscription:$sub")" "api:ops|admin"
expect_eq "subscription.update audited with before and after" \
    "$(sql "SELECT concat_ws(' ', actor, before->>'max_attempts', after->>'max_attempts') FROM audit_log WHERE action = 'subscription.update'")" "api:ops 8 3"
expect_eq "subscription.delete audited" "$(sql "SELECT concat_ws(' ', actor, before->>'active', after->>'active') FROM audit_log WHERE action = 'subscription.delete' AND target = 'subscription:$sub'")" "api:ops true false"
expect_eq "no subscription secret in the audit log" "$(sql "SELECT count(*) FROM audit_log WHERE concat(before, after) LIKE '%s3cret%'")" "0"

# --- consent events on their own -------------------------------------------------------
# a record with an e-mail and a last name, so the leak check below looks for both
key1=$(sql "SELECT source_key FROM source_record WHERE source = 'crm' AND coalesce(raw->>'email', '') <> '' AND coalesce(raw->>'last_name', '') <> '' ORDER BY id LIMIT 1")
rec1=$(sql "SELECT id FROM source_record WHERE source = 'crm' AND source_key = '$key1'")
ev='{"purpose": "marketing", "channel": "email", "status": "granted", "captured_at": "2026-01-10T09:00:00Z", "contact_point": "only.in.consent@example.org", "evidence": "signed form 77"}'
expect_status "consent event stored" 201 POST /v1/consent-events -H "Authorization: Bearer $crm" "${J[@]}" -d "{\"source_key\": \"$key1\", \"consents\": [$ev]}"
expect_eq "consent.record audited" "$(who_did consent.record "source_record:$rec1")" "api:crm-feed|source"
expect_eq "its row lists the stored event" "$(sql "SELECT after->'event_ids'->>0 = (SELECT max(id)::text FROM consent_event) FROM audit_log WHERE action = 'consent.record'")" "t"
expect_status "the same event again" 200 POST /v1/consent-events -H "Authorization: Bearer $crm" "${J[@]}" -d "{\"source_key\": \"$key1\", \"consents\": [$ev]}"
expect_eq "a duplicate writes nothing, so no row" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'consent.record'")" "1"

# --- erasure, over HTTP and from the CLI ---------------------------------------------------
e1=$(sql "SELECT entity_id FROM membership WHERE record_id = $rec1 AND active")
mail1=$(sql "SELECT raw->>'email' FROM source_record WHERE id = $rec1")
last1=$(sql "SELECT raw->>'last_name' FROM source_record WHERE id = $rec1")
expect_status "erase over HTTP" 200 POST "/v1/subjects/$e1/erase" -H "Authorization: Bearer $dpo" "${J[@]}" -d "{\"reason\": \"request from $mail1\"}"
expect_eq "subject.erase audited" "$(who_did subject.erase "entity:$e1")" "api:dpo|compliance"
expect_eq "erase row: status and tombstone" "$(sql "SELECT concat_ws(' ', before->>'status', after->>'status', after->>'tombstone_id' = (SELECT max(id)::text FROM erasure_tombstone)) FROM audit_log WHERE action = 'subject.erase'")" "active erased t"
expect_status "erasing again" 200 POST "/v1/subjects/$e1/erase" -H "Authorization: Bearer $dpo" "${J[@]}" -d '{}'
expect_eq "a repeated erasure changes nothing, so no row" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'subject.erase'")" "1"
http_stop
expect_eq "server stopped cleanly" "$server_rc" "0"
e2=$(sql "SELECT entity_id FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.active AND r.source_key = 'B-2'")
expect_exit 0 "erase from the CLI" "$mdm" subject erase "$e2" --requester "Rosalind Oduya (by phone)" --reason "call 2026-03-01"
expect_eq "CLI erasure audited" "$(who_did subject.erase "entity:$e2")" "$me|compliance"

# --- nothing personal in the log; the chain holds; tampering is caught --------------------
leaks=$(sql "SELECT count(*) FROM audit_log WHERE concat_ws(' ', target, reason, before, after) ~* ('(' || '$mail1' || '|' || '$last1' || '|oduya|quentin|brandvold|only\.in\.consent|signed form|by phone)')")
expect_eq "no e-mail, name, contact point, evidence or requester in any audit row" "$leaks" "0"
expect_eq "every kind of write is in the log" \
    "$(sql "SELECT string_agg(DISTINCT action, ',' ORDER BY action) FROM audit_log")" \
    "apikey.create,apikey.revoke,consent.record,records.batch,records.load,records.resolve,schema.migrate,source.create,source.update,subject.erase,subscription.create,subscription.delete,subscription.update"
n=$(sql "SELECT count(*) FROM audit_log")
expect_exit 0 "audit verify passes" "$mdm" audit verify
expect_contains "every row checked" "audit log intact: $n rows" "$out"
sql "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; UPDATE audit_log SET after = jsonb_set(after, '{lines}', '1') WHERE action = 'records.batch'; ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
expect_exit 1 "audit verify fails after an edit" "$mdm" audit verify
batch_row=$(sql "SELECT id FROM audit_log WHERE action = 'records.batch'")
expect_contains "names the edited row" "row $batch_row was edited" "$out"
e2e_end
