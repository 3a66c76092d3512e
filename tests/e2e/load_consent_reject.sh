# A consent the vocabulary refuses inside loaded records (issue 22, bug): `mdm load` refuses
# that record (record_reject, listed by `mdm rejects list`, the field and the allowed
# channels named) and everything else loads and resolves; before, the load stored it and
# the whole `mdm resolve` failed on it. The load, resolution and retry read the consent
# vocabulary of the configuration, as `mdm serve` does: a configured channel is accepted,
# and a refused record is taken in by `mdm rejects retry` once the vocabulary has its
# channel. Data: mdm synth -> mdm load -> mdm resolve, web-shop records in NDJSON.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$MDM_DATABASE_URL" -c "$1"; }
sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" |
    jq '.consent = {"channels": ["email", "sms", "phone", "post", "app_push", "all"]}' > "$tmp/mdm.json"
jq '.consent.channels += ["carrier_pigeon"]' "$tmp/mdm.json" > "$tmp/pigeon.json"
export MDM_CONFIG=$tmp/mdm.json

expect_exit 0 "migrate" "$mdm" migrate
expect_exit 0 "synth" "$mdm" synth --people 60 --seed 13 --out "$tmp/data"
expect_exit 0 "load crm without resolving" "$mdm" load --quiet --no-resolve --source crm "$tmp/data/crm.csv"
crm=$(($(wc -l < "$tmp/data/crm.csv") - 1))
c() { printf '{"purpose": "marketing", "channel": "%s", "status": "granted", "captured_at": "2026-02-0%sT10:00:00Z"}' "$1" "$2"; }
cat > "$tmp/web.ndjson" <<NDJSON
{"account_id": "W-1", "given_name": "Ilse", "family_name": "Brandvold", "email_address": "ilse.brandvold@example.net", "consents": [$(c email 1)]}
{"account_id": "W-2", "given_name": "Teodor", "family_name": "Quaresma", "email_address": "tq@example.net", "consents": [$(c email 2), $(c carrier_pigeon 3)]}
{"account_id": "W-3", "given_name": "Marit", "family_name": "Olawale", "email_address": "marit.o@example.net"}
{"account_id": "W-4", "given_name": "Rune", "family_name": "Esterhazy", "email_address": "rune.e@example.net", "consents": [$(c app_push 4)]}
NDJSON
expect_exit 0 "load the web shop without resolving" "$mdm" load --no-resolve --source commerce "$tmp/web.ndjson"
expect_contains "the record with an unknown channel is refused by the load" \
    "4 rows, 3 new, 0 changed, 0 unchanged, 0 stale, 0 deleted, 1 rejected" "$out"
expect_exit 0 "mdm resolve succeeds" "$mdm" resolve
expect_eq "everything else resolved: nothing waits" "$(sql "SELECT count(*) FROM record_pending")" "0"
expect_eq "every loaded record is in a golden record" \
    "$(sql "SELECT count(*) FROM source_record r JOIN membership m ON m.record_id = r.id AND m.active")" "$((crm + 3))"
expect_eq "the other records' consents are stored, the configured channel too" \
    "$(sql "SELECT string_agg(source_key || ':' || channel, ' ' ORDER BY source_key) FROM consent_event")" "W-1:email W-4:app_push"

expect_exit 0 "mdm rejects list" "$mdm" rejects list --source commerce
expect_eq "the refused record is listed, open" "$(jq -r '.payload.account_id + " " + .status' <<<"$out")" "W-2 open"
expect_eq "its reason names the field" "$(jq -r '.reasons[0].pointer + " " + .reasons[0].field' <<<"$out")" "/consents/1/channel consents"
expect_contains "and the channels allowed" \
    'consents[1].channel must be one of: email, sms, phone, post, app_push, all (not \"carrier_pigeon\")' "$out"
expect_eq "nothing of it was stored" "$(sql "SELECT count(*) FROM source_record WHERE source_key = 'W-2'")" "0"

# once the vocabulary has the channel, the retry takes the record in, consents and all
expect_exit 0 "mdm rejects retry with the channel configured" "$mdm" rejects retry --config "$tmp/pigeon.json" --source commerce
expect_eq "the retry accepts it" "$(jq -c '[.tried, .accepted]' <<<"$out")" "[1,1]"
expect_eq "its consents are stored" \
    "$(sql "SELECT string_agg(channel, ' ' ORDER BY channel) FROM consent_event WHERE source_key = 'W-2'")" "carrier_pigeon email"
expect_eq "and it is in a golden record" \
    "$(sql "SELECT count(*) FROM source_record r JOIN membership m ON m.record_id = r.id AND m.active WHERE r.source_key = 'W-2'")" "1"
e2e_end
