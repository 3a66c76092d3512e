# Data-quality scores (issue 21, deliverable 3; docs/QUALITY.md) on hand-checked records
# sent over HTTP beside a synth population (mdm synth -> mdm load -> mdm resolve):
#   Q-1 (crm): every attribute present, but an e-mail and a phone that are not usable
#       and a change time in 2020: completeness 1, validity 1 - 2/6, freshness 0;
#   Q-2 (commerce): the same person, clean, recent, another birth date; merged with Q-1
#       by a steward, the golden record scores validity 1 - 2/12 and consistency 2/3
#       (the birth dates disagree), and one of the two records disagrees with it;
# and the per-source report (mdm quality report, CSV and NDJSON, and GET /v1/quality).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp

e2e_config "$tmp" "" '.http = {"auth_cache_seconds": 0}'
expect_exit 0 "migrate" "$mdm" migrate
"$mdm" synth --people 300 --seed 3 --out "$tmp/s" >/dev/null 2>&1 || e2e_fail "synth" "failed"
e2e_bulk "$tmp/s"

http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
reader=$(new_key reader)
steward=$(new_key steward)
crm=$(new_key source --source crm)
commerce=$(new_key source --source commerce)
J=(-H "Content-Type: application/json")
A() { printf 'Authorization: Bearer %s' "${!1}"; }
close_to() { # NAME GOT WANT
    python3 -c "import sys; sys.exit(0 if abs(float('$2') - $3) < 0.0015 else 1)" 2>/dev/null &&
        e2e_ok "$1" || e2e_fail "$1" "got $2, want $3"
}

expect_status "Q-1 with unusable contacts, changed in 2020" 201 POST /v1/sources/crm/records -H "$(A crm)" "${J[@]}" -d \
    '{"customer_id": "Q-1", "first_name": "Hanne", "last_name": "Quistgaardt", "email": "hanne.quistgaardt-at-example.org",
      "phone": "12", "street": "5 Elmwood Street", "city": "Springfield", "state": "IL", "zip": "62701",
      "birth_date": "1980-01-01", "updated_at": "2020-01-01T00:00:00Z"}'
e1=$(jq -r .entity_id <<<"$body")
expect_status "Q-2, clean and recent" 201 POST /v1/sources/commerce/records -H "$(A commerce)" "${J[@]}" -d \
    '{"account_id": "Q-2", "given_name": "Hanne", "family_name": "Quistgaardt", "email_address": "hanne.q@example.org",
      "phone_number": "(217) 555-0188", "ship_line1": "5 Elmwood Street", "ship_city": "Springfield", "ship_region": "IL",
      "ship_postal": "62701", "ship_country": "US", "birthday": "19800102"}'
e2=$(jq -r .entity_id <<<"$body")

call GET /v1/sources/crm/records/Q-1 -H "$(A reader)"
q=$(jq -c .data_quality.scores <<<"$body")
close_to "Q-1 completeness (all six present)" "$(jq .completeness <<<"$q")" 1
close_to "Q-1 validity (two of six values flagged)" "$(jq .validity <<<"$q")" 0.667
close_to "Q-1 freshness (older than three years)" "$(jq .freshness <<<"$q")" 0
[ "$(jq .freshness_days <<<"$q")" -gt 1095 ] && e2e_ok "Q-1 freshness_days" || e2e_fail "Q-1 freshness_days" "$q"
call GET /v1/sources/commerce/records/Q-2 -H "$(A reader)"
close_to "Q-2 validity" "$(jq .data_quality.scores.validity <<<"$body")" 1
close_to "Q-2 freshness" "$(jq .data_quality.scores.freshness <<<"$body")" 1

if [ "$e1" != "$e2" ]; then
    expect_status "a steward merges the two" 200 POST "/v1/entities/$e1/merge" -H "$(A steward)" "${J[@]}" \
        -d "{\"other\": $e2, \"reason\": \"same person\"}"
fi
live=$((e1 < e2 ? e1 : e2))
call GET "/v1/entities/$live" -H "$(A reader)"
g=$(jq -c .data_quality.scores <<<"$body")
close_to "golden completeness" "$(jq .completeness <<<"$g")" 1
close_to "golden validity (two of twelve member values flagged)" "$(jq .validity <<<"$g")" 0.833
close_to "golden consistency (birth dates disagree: 2 of 3)" "$(jq .consistency <<<"$g")" 0.667
close_to "golden freshness (the newest member is recent)" "$(jq .freshness <<<"$g")" 1
expect_eq "per member scores, one disagreeing with the golden record" \
    "$(jq -c '[.data_quality.records[] | .agrees_with_golden] | sort' <<<"$body")" "[false,true]"
expect_eq "the issues are still listed" "$(jq '[.data_quality.issues[] | select(.source_key == "Q-1")] | length' <<<"$body")" "2"

# ---- the per-source report
expect_exit 0 "mdm quality report (csv)" "$mdm" quality report
expect_eq "csv header" "$(head -1 <<<"$out")" \
    "source,records,completeness,validity,freshness,invalid_emails,invalid_phones,dropped_values,stale_records,disagreeing_records"
expect_eq "one row per source" "$(tail -n +2 <<<"$out" | cut -d, -f1 | tr '\n' ' ')" "commerce crm erp loyalty pos "
expect_exit 0 "mdm quality report (ndjson)" "$mdm" quality report --format ndjson
crm_row=$(grep '"source":"crm"' <<<"$out")
[ "$(jq .invalid_emails <<<"$crm_row")" -ge 1 ] && [ "$(jq .invalid_phones <<<"$crm_row")" -ge 1 ] &&
    e2e_ok "the CRM's unusable e-mail and phone are counted" || e2e_fail "crm invalid counts" "$crm_row"
[ "$(jq .stale_records <<<"$crm_row")" -ge 1 ] && e2e_ok "the CRM's stale record is counted" || e2e_fail "stale" "$crm_row"
[ "$(jq -s 'map(.disagreeing_records) | add' <<<"$out")" -ge 1 ] && e2e_ok "disagreeing records are counted" ||
    e2e_fail "disagreeing" "$out"
expect_eq "records counted per source as loaded" "$(jq -s 'map(.records) | add' <<<"$out")" \
    "$(sql "SELECT count(*) FROM source_record WHERE NOT deleted AND NOT erased")"
expect_status "GET /v1/quality" 200 GET /v1/quality -H "$(A reader)"
expect_eq "the HTTP report is the CLI's" "$(jq -c '.sources' <<<"$body")" "$(jq -sc '.' <<<"$out")"
expect_exit 2 "an unknown format" "$mdm" quality report --format xml

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
e2e_end
