# The record-by-record fallback of incremental resolution (mdm/resolve.c: a neighbourhood
# holding a record a steward has judged is not reclustered) asks no steward about a pair the
# rules tell apart, as the one clustering does: twins (same birth date, phone and address,
# different first names) score in the review band or above, and the fallback must skip such
# a candidate instead of opening a review item about it. Data from the real pipeline: a
# synth population with a pair of twins and a second record of the first twin (mdm load +
# mdm resolve, bulk), a steward split of that second record (its never_link assertions make
# the first twin's golden record one a steward has judged), then the second twin loaded
# record by record.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp

e2e_config "$tmp"
expect_exit 0 "migrate" "$mdm" migrate
expect_exit 0 "synth" "$mdm" synth --people 300 --seed 11 --out "$tmp/data"
# crm: customer_id,first_name,middle_name,last_name,email,phone,street,city,state,zip,birth_date,gender
cat >>"$tmp/data/crm.csv" <<CSV
Q0000001,Brianna,,Zorkowitz,bri.zork@example.com,(619) 555-0101,12 Quill Lane,San Diego,CA,92105,1990-04-04,F
CSV
# loyalty: member_no,full_name,email,mobile,dob,postcode,loyalty_id
cat >>"$tmp/data/loyalty.csv" <<CSV
Q9000001,Brianna Zorkowitz,bri.zork@example.com,+1 619 555 0101,04/04/1990,92105,
CSV
for s in crm loyalty commerce erp pos; do
    expect_exit 0 "load $s" "$mdm" load --quiet --no-resolve --source "$s" "$tmp/data/$s.csv"
done
expect_exit 0 "bulk resolve" "$mdm" resolve --quiet --threads 2
entity() {
    sql "SELECT m.entity_id FROM membership m JOIN source_record r ON r.id = m.record_id
         WHERE m.active AND r.source = '$1' AND r.source_key = '$2'"
}
record() { sql "SELECT id FROM source_record WHERE source = '$1' AND source_key = '$2'"; }
ea=$(entity crm Q0000001)
expect_eq "the first twin's two records are one golden record" "$(entity loyalty Q9000001)" "$ea"

# a steward splits the loyalty record off (it writes never_link assertions): the first
# twin's golden record now holds a record a steward has judged
steward=$(new_key steward --name fallback-desk)
http_start || { e2e_end; exit 1; }
S=(-H "Authorization: Bearer $steward" -H 'Content-Type: application/json')
call GET "/v1/entities/$ea" -H "Authorization: Bearer $steward"
v=$(jq -r '.version' <<<"$body")
expect_status "split the loyalty record off" 200 POST "/v1/entities/$ea/split" "${S[@]}" \
    -d "{\"records\": [$(record loyalty Q9000001)], \"version\": $v, \"reason\": \"test\"}"
http_stop
expect_eq "the split wrote never_link assertions" "$(sql "SELECT count(*) > 0 FROM steward_assertion
    WHERE kind = 'never_link' AND $(record crm Q0000001) IN (record_a, record_b)")" "t"

# the second twin, record by record: its candidates are the first twin's records, which a
# steward has judged, so it is decided by the fallback
head -1 "$tmp/data/crm.csv" >"$tmp/late.csv"
cat >>"$tmp/late.csv" <<CSV
Q0000002,Kayla,,Zorkowitz,kaylaz90@example.com,(619) 555-0101,12 Quill Lane,San Diego,CA,92105,1990-04-04,F
CSV
expect_exit 0 "incremental load of the second twin" "$mdm" load --quiet --source crm "$tmp/late.csv"
eb=$(entity crm Q0000002)
[ -n "$eb" ] && [ "$eb" != "$ea" ] && [ "$eb" != "$(entity loyalty Q9000001)" ] &&
    e2e_ok "the second twin is a golden record of its own" ||
    e2e_fail "the second twin is a golden record of its own" "entity $eb (first twin $ea)"
expect_eq "no review item about the twins (the fallback skips a guarded candidate)" \
    "$(sql "SELECT count(*) FROM review_item WHERE record_id = $(record crm Q0000002)
            OR other_entity_id = $eb OR entity_id = $eb")" "0"
e2e_end
