# A steward moves a person into a household and splits one (issue 21; docs/HOUSEHOLDS.md
# "Steward moves and splits"), on the real pipeline (mdm synth -> mdm load -> mdm resolve):
#   - POST /v1/households/{id}/members: the golden record joins the household and leaves
#     its own; household.changed events for both; an audit row household.move with the
#     steward's name, role and reason;
#   - POST /v1/households/{id}/split: the members named leave together for a new household
#     (household.created), the others stay (household.changed); audited per member;
#   - problem+json for bad input: unknown household (404), unknown golden record (422),
#     not a member (422), nobody left (422), already a member (409), a stale version
#     (409 estale), no reason (400), a reader (403);
#   - kept through later resolution: the CRM sends new versions of the moved person's and
#     a leaver's records (mdm load resolves them and refreshes the households): both stay
#     where the steward put them, and a second mdm resolve changes nothing;
#   - erasure of the moved person deletes the placement and takes them out.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp

e2e_config "$tmp" "" '.http = {"auth_cache_seconds": 0}'
expect_exit 0 "migrate" "$mdm" migrate
"$mdm" synth --people 500 --seed 21 --out "$tmp/s" >/dev/null 2>&1 || e2e_fail "synth" "failed"
e2e_bulk "$tmp/s"

# a household of three or more whose members the CRM holds (the split), and a CRM
# customer of another household at another address (the move)
read -r H lv1 lv2 < <(sql "SELECT hm.household_id, min(hm.entity_id), max(hm.entity_id) FROM household_member hm
    WHERE EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id
                  WHERE m.entity_id = hm.entity_id AND m.active AND r.source = 'crm')
    GROUP BY hm.household_id HAVING count(*) >= 2
       AND (SELECT count(*) FROM household_member o WHERE o.household_id = hm.household_id) >= 3
    ORDER BY hm.household_id LIMIT 1" | tr '|' ' ')
read -r X X_from < <(sql "SELECT hm.entity_id, hm.household_id FROM household_member hm
    JOIN household h ON h.id = hm.household_id
    WHERE h.addr_hash <> (SELECT addr_hash FROM household WHERE id = ${H:-0})
      AND (SELECT count(*) FROM household_member o WHERE o.household_id = hm.household_id) >= 2
      AND EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id
                  WHERE m.entity_id = hm.entity_id AND m.active AND r.source = 'crm')
    ORDER BY hm.entity_id LIMIT 1" | tr '|' ' ')
[ -n "$H" ] && [ -n "$X" ] && e2e_ok "a household of 3+ ($H: leavers $lv1 $lv2) and a person elsewhere ($X of $X_from)" ||
    e2e_fail "the cases" "H=$H X=$X"

http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
steward=$(new_key steward --name stella)
reader=$(new_key reader)
dpo=$(new_key compliance --name dpo)
S=(-H "Authorization: Bearer $steward" -H "Content-Type: application/json")
seq0=$(sql "SELECT coalesce(max(seq), 0) FROM outbox")

expect_status "the household" 200 GET "/v1/households/$H" -H "Authorization: Bearer $reader"
v=$(jq -r .version <<<"$body")
n_before=$(jq '.members | length' <<<"$body")

# ---- bad input
expect_problem "unknown household" 404 enotfound POST /v1/households/999999999/members "${S[@]}" -d "{\"entity_id\": $X, \"reason\": \"moved in\"}"
expect_problem "unknown golden record" 422 eunprocessable POST "/v1/households/$H/members" "${S[@]}" -d '{"entity_id": 999999999, "reason": "moved in"}'
expect_eq "the field is named" "$(jq -r '.errors[0].pointer' <<<"$body")" "/entity_id"
expect_problem "no reason" 422 eunprocessable POST "/v1/households/$H/members" "${S[@]}" -d "{\"entity_id\": $X}"
expect_problem "a stale version" 409 estale POST "/v1/households/$H/members" "${S[@]}" -d "{\"entity_id\": $X, \"reason\": \"moved in\", \"version\": $((v + 7))}"
expect_problem "a reader may not move people" 403 eforbidden POST "/v1/households/$H/members" \
    -H "Authorization: Bearer $reader" -H "Content-Type: application/json" -d "{\"entity_id\": $X, \"reason\": \"moved in\"}"
expect_problem "a member already" 409 econflict POST "/v1/households/$H/members" "${S[@]}" -d "{\"entity_id\": $lv1, \"reason\": \"moved in\"}"
expect_eq "nothing changed meanwhile" "$(sql "SELECT count(*) FROM outbox WHERE seq > $seq0 AND type LIKE 'household.%'")" "0"

# ---- the move
expect_status "move $X into $H" 200 POST "/v1/households/$H/members" "${S[@]}" \
    -d "{\"entity_id\": $X, \"reason\": \"moved in with her partner (call 4471)\", \"version\": $v}"
expect_eq "X is a member" "$(jq "[.household.members[].entity_id] | index($X) != null" <<<"$body")" "true"
expect_eq "one more member" "$(jq '.household.members | length' <<<"$body")" "$((n_before + 1))"
expect_eq "from its household" "$(jq .from_household <<<"$body")" "$X_from"
expect_eq "the version grew" "$(jq '.household.version' <<<"$body")" "$((v + 1))"
expect_status "X's household" 200 GET "/v1/entities/$X/household" -H "Authorization: Bearer $reader"
expect_eq "is $H" "$(jq .id <<<"$body")" "$H"
expect_status "X's old household" 200 GET "/v1/households/$X_from" -H "Authorization: Bearer $reader"
expect_eq "no longer lists X" "$(jq "[.members[].entity_id] | index($X)" <<<"$body")" "null"
expect_eq "events: $H changed (X joined), $X_from changed (X left)" \
    "$(sql "SELECT string_agg(type || ':' || household_id || ':' || (payload->'joined')::text || (payload->'left')::text, ' ' ORDER BY household_id)
            FROM outbox WHERE seq > $seq0 AND type LIKE 'household.%'" | tr -d ' ')" \
    "$(printf '%s\n' "household.changed:$H:[$X][]" "household.changed:$X_from:[][$X]" | sort -t: -k2n | tr -d '\n')"
expect_status "the audit row" 200 GET "/v1/audit?action=household.move" -H "Authorization: Bearer $dpo"
expect_eq "names the steward, role, target and reason" \
    "$(jq -r '.items[0] | [.actor, .role, .target, .reason, .before.household_id, .after.household_id] | join("|")' <<<"$body")" \
    "api:stella|steward|entity:$X|moved in with her partner (call 4471)|$X_from|$H"

# ---- the split
seq1=$(sql "SELECT max(seq) FROM outbox")
expect_status "the household now" 200 GET "/v1/households/$H" -H "Authorization: Bearer $reader"
v=$(jq -r .version <<<"$body")
all=$(jq -c '[.members[].entity_id]' <<<"$body")
expect_problem "a non-member cannot leave" 422 eunprocessable POST "/v1/households/$H/split" "${S[@]}" -d "{\"members\": [$lv1, $X_from], \"reason\": \"r\"}"
expect_problem "somebody must stay" 422 eunprocessable POST "/v1/households/$H/split" "${S[@]}" -d "{\"members\": $all, \"reason\": \"r\"}"
expect_problem "members must be ids" 422 eunprocessable POST "/v1/households/$H/split" "${S[@]}" -d '{"members": ["x"], "reason": "r"}'
expect_eq "the field is named" "$(jq -r '.errors[0].pointer' <<<"$body")" "/members/0"
expect_problem "a stale version" 409 estale POST "/v1/households/$H/split" "${S[@]}" -d "{\"members\": [$lv1], \"reason\": \"r\", \"version\": $((v - 1))}"
expect_status "split $lv1 and $lv2 off" 200 POST "/v1/households/$H/split" "${S[@]}" \
    -d "{\"members\": [$lv2, $lv1, $lv1], \"reason\": \"two flats now\", \"version\": $v}"
H2=$(jq .split_off.id <<<"$body")
expect_eq "the new household holds exactly the leavers" "$(jq -c '[.split_off.members[].entity_id] | sort' <<<"$body")" "[$lv1,$lv2]"
expect_eq "the household keeps the others" "$(jq -c '[.household.members[].entity_id] | sort' <<<"$body")" \
    "$(jq -c "map(select(. != $lv1 and . != $lv2)) | sort" <<<"$all")"
expect_eq "one head each" "$(jq '[.household.members[], .split_off.members[] | select(.role == "head")] | length' <<<"$body")" "2"
expect_eq "the new household's address is the household's" "$(sql "SELECT count(DISTINCT addr_hash) FROM household WHERE id IN ($H, $H2)")" "1"
expect_eq "events: $H changed ($lv1 $lv2 left), $H2 created" \
    "$(sql "SELECT string_agg(type || ':' || household_id || ':' || (payload->'left')::text, ' ' ORDER BY seq)
            FROM outbox WHERE seq > $seq1 AND type LIKE 'household.%'" | tr -d ' ')" \
    "household.changed:$H:[$lv1,$lv2]household.created:$H2:[]"
expect_eq "audited per member that left" \
    "$(sql "SELECT string_agg(target || ':' || role || ':' || (after->>'household_id'), ' ' ORDER BY target) FROM audit_log WHERE action = 'household.split'")" \
    "$(printf 'entity:%s:steward:%s\n' "$lv1" "$H2" "$lv2" "$H2" | sort | paste -sd' ')"

members_of() { sql "SELECT string_agg(entity_id::text, ',' ORDER BY entity_id) FROM household_member WHERE household_id = $1"; }
after_split="$H=$(members_of "$H") $H2=$(members_of "$H2")"

# ---- kept through later resolution: the CRM sends new versions of X's and a leaver's
# records (a new column value), loaded and resolved by mdm load
read -r kx < <(sql "SELECT min(r.source_key) FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = $X AND m.active AND r.source = 'crm'")
read -r kl < <(sql "SELECT min(r.source_key) FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = $lv1 AND m.active AND r.source = 'crm'")
python3 - "$tmp/s/crm.csv" "$tmp/again.csv" "$kx" "$kl" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
w = csv.DictWriter(open(sys.argv[2], 'w', newline=''), fieldnames=list(rows[0].keys()) + ['segment'])
w.writeheader()
for r in rows:
    if r['customer_id'] in sys.argv[3:]:
        w.writerow(dict(r, segment='gold'))
PY
expect_eq "two CRM rows sent again" "$(($(wc -l <"$tmp/again.csv") - 1))" "2"
seq2=$(sql "SELECT max(seq) FROM outbox")
expect_exit 0 "mdm load of the new versions" "$mdm" load --quiet --source crm "$tmp/again.csv"
expect_eq "both golden records changed" "$(sql "SELECT count(DISTINCT entity_id) FROM outbox WHERE seq > $seq2 AND type = 'updated' AND entity_id IN ($X, $lv1)")" "2"
expect_eq "and the households followed those events" "$(sql "SELECT last_seq >= (SELECT max(seq) FROM outbox WHERE type = 'updated') FROM household_cursor")" "t"
expect_eq "X stays in $H" "$(sql "SELECT household_id FROM household_member WHERE entity_id = $X")" "$H"
expect_eq "the leaver stays in $H2" "$(sql "SELECT household_id FROM household_member WHERE entity_id = $lv1")" "$H2"
expect_eq "both households hold whom the steward left in them" "$H=$(members_of "$H") $H2=$(members_of "$H2")" "$after_split"
expect_eq "no household event since" "$(sql "SELECT count(*) FROM outbox WHERE seq > $seq2 AND type LIKE 'household.%'")" "0"
expect_exit 0 "mdm resolve again" "$mdm" resolve --quiet
expect_eq "still: X in $H, the leavers in $H2" \
    "$(sql "SELECT string_agg(entity_id || ':' || household_id, ' ' ORDER BY entity_id) FROM household_member WHERE entity_id IN ($X, $lv1, $lv2)")" \
    "$(printf '%s\n' "$X:$H" "$lv1:$H2" "$lv2:$H2" | sort -t: -k1n | paste -sd' ')"
expect_eq "and the same members" "$H=$(members_of "$H") $H2=$(members_of "$H2")" "$after_split"
expect_eq "every member in an active household, every active household with a member" \
    "$(sql "SELECT (SELECT count(*) FROM household_member hm JOIN household h ON h.id = hm.household_id WHERE h.status <> 'active')
             + (SELECT count(*) FROM household h WHERE h.status = 'active' AND NOT EXISTS (SELECT 1 FROM household_member hm WHERE hm.household_id = h.id))")" "0"

# ---- erasure takes the placement away
expect_status "erase X" 200 POST "/v1/subjects/$X/erase" -H "Authorization: Bearer $dpo" -H "Content-Type: application/json" -d '{"reason": "ticket 77"}'
expect_eq "no placement left" "$(sql "SELECT count(*) FROM household_assertion WHERE entity_id = $X")" "0"
expect_status "the household after the erasure" 200 GET "/v1/households/$H" -H "Authorization: Bearer $reader"
expect_eq "X is gone from it" "$(jq "[.members[].entity_id] | index($X)" <<<"$body")" "null"
http_stop
expect_eq "server exits 0" "$server_rc" "0"
e2e_end
