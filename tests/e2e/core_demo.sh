# The omnichannel scenario of the issue, end to end through the CLI: one customer in the
# CRM, loyalty, web shop, POS and ERP (each in its own layout, demo/omnichannel/) ends as
# one golden record with five cross-references, the values chosen by the demo's
# survivorship rules, lineage naming the source record of each value, and the consent
# state of the web shop's preference update.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$MDM_DATABASE_URL" -c "$1"; }

sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" > "$tmp/mdm.json"
export MDM_CONFIG=$tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
for s in crm loyalty erp pos; do
    expect_exit 0 "load $s" "$mdm" load --quiet --source "$s" "$root/demo/omnichannel/$s.csv"
done
expect_exit 0 "load web shop (NDJSON with consents)" "$mdm" load --quiet --source commerce \
    "$root/demo/omnichannel/commerce.ndjson"
expect_exit 0 "export" "$mdm" export golden --format ndjson --output "$tmp/golden.ndjson"
expect_eq "one golden record" "$(wc -l < "$tmp/golden.ndjson")" "1"
g() { python3 -c "import json,sys; d=json.loads(open('$tmp/golden.ndjson').readline()); print($1)"; }
expect_eq "five cross-references" "$(g "' '.join(sorted(x['source'] for x in d['xrefs']))")" \
    "commerce crm erp loyalty pos"
expect_eq "CRM's first name beats loyalty's nickname" "$(g "d['golden']['first_name']")" "Robert"
expect_eq "full name derived" "$(g "d['golden']['full_name']")" "Robert James Whitaker"
expect_eq "web shop's new address (trusted for addresses)" \
    "$(g "d['golden']['addresses'][0]['line1'] + ', ' + d['golden']['addresses'][0]['city']")" \
    "48 Lakeview Drive, Madison"
expect_eq "both e-mails (union)" "$(g "len(d['golden']['emails'])")" "2"
expect_eq "one mobile (union of the same number)" "$(g "[p['value'] for p in d['golden']['phones']]")" "['+12175550143']"
expect_eq "loyalty card" "$(g "d['golden']['loyalty_id']")" "L-778812"
expect_eq "tax id from the ERP" "$(g "d['golden']['tax_id']")" "412-55-0199"
expect_eq "birth date agreed by three systems" "$(g "d['golden']['birth_date']")" "1979-08-14"
id=$(g "d['id']")
expect_eq "lineage: first name from the CRM record" \
    "$(sql "SELECT gv.rule || ' ' || sr.source || ':' || sr.source_key FROM golden_value gv JOIN source_record sr ON sr.id = gv.source_record_id WHERE gv.entity_id = $id AND gv.attr = 'first_name'")" \
    "source_trust crm:CRM-900001"
expect_eq "lineage: address from the web shop" \
    "$(sql "SELECT sr.source FROM golden_value gv JOIN source_record sr ON sr.id = gv.source_record_id WHERE gv.entity_id = $id AND gv.attr = 'addresses'")" \
    "commerce"
expect_eq "lineage: e-mails list their records" \
    "$(sql "SELECT rule || ' ' || jsonb_array_length(sources) FROM golden_value WHERE entity_id = $id AND attr = 'emails'")" \
    "union 2"
expect_eq "consent: e-mail marketing granted, sms withdrawn" \
    "$(sql "SELECT state->>'marketing/email' || ' ' || (state->>'marketing/sms') FROM consent_state WHERE entity_id = $id")" \
    "granted withdrawn"
expect_eq "every link decision recorded" \
    "$(sql "SELECT count(*) FROM link_event WHERE entity_id = $id AND action IN ('create', 'link', 'merge')")" "5"
expect_eq "one outbox event per golden version" \
    "$(sql "SELECT count(*) = max(entity_version) FROM outbox WHERE entity_id = $id AND type <> 'consent_changed'")" "t"
e2e_end
