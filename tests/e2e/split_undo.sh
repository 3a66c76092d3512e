# A split can be undone like a merge (issue 22 item 5): POST /v1/entities/{id}/unsplit on
# data the real pipeline made (mdm synth -> mdm load -> mdm resolve). A record split off a
# golden record into a new one, then undone: the golden record (values, lineage with its
# times, pins) and the memberships are as before, the new golden record is retired into
# it, the split's never_link assertions are gone, the history marks the split undone, the
# undo is audited and cannot run twice. The same for a split into an existing golden
# record (both golden records as before), and a stale version changes nothing.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp

e2e_pipeline "$tmp" 80 3 crm loyalty commerce erp pos
steward=$(new_key steward --name split-desk)
admin=$(new_key admin --name auditor)
http_start || { e2e_end; exit 1; }
S=(-H "Authorization: Bearer $steward" -H 'Content-Type: application/json')

# everything that makes a golden record: its golden JSON, its members, every golden_value
# row with its lineage and time, its pins, its status
state() {
    call GET "/v1/entities/$1?records=true" -H "Authorization: Bearer $steward"
    jq -c '[.golden, ([.records[].record_id] | sort)]' <<<"$body"
    sql "SELECT coalesce(json_agg(json_build_array(attr, value, source_record_id, rule, chosen_at) ORDER BY attr), '[]') FROM golden_value WHERE entity_id = $1"
    sql "SELECT coalesce(json_agg(json_build_array(attr, value) ORDER BY attr), '[]') || ' ' || (SELECT status FROM entity WHERE id = $1) FROM golden_pin WHERE entity_id = $1"
}
version() { call GET "/v1/entities/$1" -H "Authorization: Bearer $steward"; jq -r '.version' <<<"$body"; }

e=$(sql "SELECT entity_id FROM membership WHERE active GROUP BY entity_id HAVING count(*) >= 3 ORDER BY entity_id LIMIT 1")
expect_eq "the pipeline made a golden record of three records or more" "$([ -n "$e" ] && echo yes)" "yes"
rec=$(sql "SELECT max(record_id) FROM membership WHERE active AND entity_id = $e")
nrest=$(sql "SELECT count(*) - 1 FROM membership WHERE active AND entity_id = $e")
# a steward pin belongs to the golden record as it was
v=$(version "$e")
expect_status "pin a value first" 200 PUT "/v1/entities/$e/pins/segment" "${S[@]}" -d "{\"value\": \"vip\", \"version\": $v}"
before=$(state "$e")
v=$(version "$e")

# ---- split into a new golden record, then undo -------------------------------------------
expect_status "split one record off" 200 POST "/v1/entities/$e/split" "${S[@]}" \
    -d "{\"records\": [$rec], \"version\": $v, \"reason\": \"looks like a relative\"}"
split=$(jq -r '.split_id' <<<"$body")
new=$(sql "SELECT entity_id FROM membership WHERE active AND record_id = $rec")
expect_eq "the split names its id and the record has a golden record of its own" \
    "$([[ $split =~ ^[0-9]+$ ]] && [ "$new" != "$e" ] && echo yes)" "yes"
expect_eq "the golden record changed" "$([ "$(state "$e")" != "$before" ] && echo changed)" "changed"
call GET "/v1/assertions?record_id=$rec" -H "Authorization: Bearer $steward"
expect_eq "the split wrote never_link to every remaining record" "$(jq '[.items[] | select(.kind == "never_link")] | length' <<<"$body")" "$nrest"
call GET "/v1/entities/$e/history" -H "Authorization: Bearer $steward"
expect_eq "the history offers the split for undo" "$(jq -c "[.events[] | select(.action == \"split\") | [.split_id, .undone_at]][0]" <<<"$body")" "[$split,null]"

expect_problem "an undo at the pre-split version is refused" 409 estale POST "/v1/entities/$e/unsplit" "${S[@]}" \
    -d "{\"split_id\": $split, \"version\": $v}"
v2=$(version "$e")
expect_status "undo the split" 200 POST "/v1/entities/$e/unsplit" "${S[@]}" \
    -d "{\"split_id\": $split, \"version\": $v2, \"reason\": \"same person after all\"}"
expect_eq "the reply" "$(jq -c '[.entity_id, .other_id, .moved_back, .other_retired]' <<<"$body")" "[$e,$new,[$rec],true]"
expect_eq "the ETag is the new version" "$(sed -n 's/^ETag: "\(.*\)"$/\1/p' <<<"$hdrs")" "$(jq -r '.version' <<<"$body")"
after=$(state "$e")
expect_eq "golden record, members, values with their lineage and times, pins: as before" "$after" "$before"
expect_eq "the record is back" "$(sql "SELECT entity_id FROM membership WHERE active AND record_id = $rec")" "$e"
call GET "/v1/entities/$new" -H "Authorization: Bearer $steward"
expect_eq "the split-off golden record is retired into it" "$(jq -c '[.id, .requested_id]' <<<"$body")" "[$e,$new]"
call GET "/v1/assertions?record_id=$rec" -H "Authorization: Bearer $steward"
expect_eq "the split's never_link assertions are gone" "$(jq '[.items[] | select(.kind == "never_link")] | length' <<<"$body")" "0"
expect_eq "the pairs are labelled match again" \
    "$(sql "SELECT DISTINCT ON (record_a, record_b) label || ' ' || origin FROM steward_label WHERE $rec IN (record_a, record_b) ORDER BY record_a, record_b, id DESC" | sort -u)" "match unsplit"
call GET "/v1/entities/$e/history" -H "Authorization: Bearer $steward"
expect_eq "the history says the split was undone" "$(jq -r "[.events[] | select(.split_id == $split)][0].undone_at != null" <<<"$body")" "true"
call GET "/v1/audit?action=entity.unsplit" -H "Authorization: Bearer $admin"
expect_eq "the undo is audited" "$(jq -c '[.items[0].target, .items[0].actor, .items[0].after.moved_back]' <<<"$body")" "[\"entity:$e\",\"api:split-desk\",[$rec]]"
expect_problem "an undone split cannot be undone again" 409 econflict POST "/v1/entities/$e/unsplit" "${S[@]}" \
    -d "{\"split_id\": $split}"
expect_problem "a reader cannot undo" 403 eforbidden POST "/v1/entities/$e/unsplit" \
    -H "Authorization: Bearer $(new_key reader)" -H 'Content-Type: application/json' -d '{}'

# ---- split into an existing golden record, then undo (the latest split of the record) -----
f=$(sql "SELECT entity_id FROM membership WHERE active AND entity_id <> $e GROUP BY entity_id HAVING count(*) >= 2 ORDER BY entity_id LIMIT 1")
g=$(sql "SELECT entity_id FROM membership WHERE active AND entity_id NOT IN ($e, $f) GROUP BY entity_id ORDER BY entity_id LIMIT 1")
rf=$(sql "SELECT min(record_id) FROM membership WHERE active AND entity_id = $f")
before_f=$(state "$f"); before_g=$(state "$g")
expect_status "split a record into another golden record" 200 POST "/v1/entities/$f/split" "${S[@]}" \
    -d "{\"records\": [$rf], \"into\": $g}"
expect_eq "it moved there" "$(sql "SELECT entity_id FROM membership WHERE active AND record_id = $rf")" "$g"
expect_status "undo the latest split of that golden record" 200 POST "/v1/entities/$g/unsplit" "${S[@]}" -d '{}'
expect_eq "the reply (nothing retired)" "$(jq -c '[.entity_id, .other_id, .moved_back, .other_retired]' <<<"$body")" "[$f,$g,[$rf],false]"
expect_eq "the split golden record is as before" "$(state "$f")" "$before_f"
expect_eq "the receiving golden record is as before" "$(state "$g")" "$before_g"

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
expect_exit 0 "the audit chain verifies" "$mdm" audit verify
e2e_end
