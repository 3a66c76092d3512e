# Source-asserted household roles (issue 21; docs/HOUSEHOLDS.md "Roles a source asserts"),
# on the real pipeline (mdm synth -> mdm load -> mdm resolve) with the CRM's column
# "relationship" mapped to attributes.household_role:
#   - a member whose record asserts head becomes the head (over the oldest member), one
#     asserting spouse (case and blanks aside) is the spouse, the household's version
#     grows and its household.changed event carries the roles;
#   - an unknown value is no role (the member keeps "member");
#   - a later record asserting child takes the head role away again: the oldest member
#     is head, the asserter a child;
#   - households.role_attribute that is not an attribute name is a clear error.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp

e2e_config "$tmp" "" '.http = {"auth_cache_seconds": 0}
  | (.sources[] | select(.code == "crm") | .mapping.relationship) = "attributes.household_role"'
expect_exit 0 "migrate" "$mdm" migrate
"$mdm" synth --people 500 --seed 21 --out "$tmp/s" >/dev/null 2>&1 || e2e_fail "synth" "failed"
e2e_bulk "$tmp/s"

# a household with two members besides its head that the CRM holds
role_of() { sql "SELECT role FROM household_member WHERE entity_id = $1"; }
crm_key() { sql "SELECT min(r.source_key) FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = $1 AND m.active AND r.source = 'crm'"; }
read -r H Y Z < <(sql "SELECT hm.household_id, max(hm.entity_id), min(hm.entity_id) FROM household_member hm
    WHERE hm.role = 'member' AND EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id
                  WHERE m.entity_id = hm.entity_id AND m.active AND r.source = 'crm')
    GROUP BY hm.household_id HAVING count(*) >= 2 ORDER BY hm.household_id LIMIT 1" | tr '|' ' ')
head0=$(sql "SELECT entity_id FROM household_member WHERE household_id = ${H:-0} AND role = 'head'")
# a member of another household for the unknown value
W=$(sql "SELECT min(hm.entity_id) FROM household_member hm WHERE hm.household_id <> ${H:-0} AND hm.role = 'member'
    AND EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id
                WHERE m.entity_id = hm.entity_id AND m.active AND r.source = 'crm')")
[ -n "$H" ] && [ -n "$head0" ] && [ -n "$W" ] && e2e_ok "household $H: head $head0, members $Y and $Z; $W elsewhere" ||
    e2e_fail "the cases" "H=$H Y=$Y Z=$Z head=$head0 W=$W"

# send_roles FILE KEY=VALUE...: the CRM's rows of those customers again, with relationship
send_roles() {
    local out=$1
    shift
    python3 - "$tmp/s/crm.csv" "$out" "$@" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
want = dict(a.split('=', 1) for a in sys.argv[3:])
w = csv.DictWriter(open(sys.argv[2], 'w', newline=''), fieldnames=list(rows[0].keys()) + ['relationship'])
w.writeheader()
for r in rows:
    if r['customer_id'] in want:
        w.writerow(dict(r, relationship=want[r['customer_id']]))
PY
}
kY=$(crm_key "$Y")
kZ=$(crm_key "$Z")
kW=$(crm_key "$W")
send_roles "$tmp/roles.csv" "$kY=head" "$kZ= Spouse " "$kW=boss"
expect_eq "three CRM rows with a relationship" "$(($(wc -l <"$tmp/roles.csv") - 1))" "3"
v0=$(sql "SELECT version FROM household WHERE id = $H")
seq0=$(sql "SELECT max(seq) FROM outbox")
expect_exit 0 "mdm load of the rows" "$mdm" load --quiet --source crm "$tmp/roles.csv"
expect_eq "the golden records hold the asserted values (as sent, trimmed)" \
    "$(sql "SELECT string_agg(golden->'attributes'->>'household_role', '|' ORDER BY id) FROM entity WHERE id IN ($Y, $Z)")" \
    "$(if [ "$Y" -lt "$Z" ]; then echo 'head|Spouse'; else echo 'Spouse|head'; fi)"
expect_eq "the member asserting head is the head" "$(role_of "$Y")" "head"
expect_eq "the member asserting spouse is the spouse" "$(role_of "$Z")" "spouse"
expect_eq "the former head is a member" "$(role_of "$head0")" "member"
expect_eq "one head in the household" "$(sql "SELECT count(*) FROM household_member WHERE household_id = $H AND role = 'head'")" "1"
expect_eq "an unknown value is no role" "$(role_of "$W")" "member"
expect_eq "the household's version grew" "$(sql "SELECT version > $v0 FROM household WHERE id = $H")" "t"

http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
reader=$(new_key reader)
expect_status "the household" 200 GET "/v1/households/$H" -H "Authorization: Bearer $reader"
expect_eq "the reply: the asserting head first, the spouse by role" \
    "$(jq -c "[.members[0].entity_id, .members[0].role, (.members[] | select(.entity_id == $Z) | .role)]" <<<"$body")" \
    "[$Y,\"head\",\"spouse\"]"
call GET "/v1/changes?after=$seq0&limit=1000" -H "Authorization: Bearer $reader"
expect_eq "its household.changed event carries the roles" \
    "$(jq -c "[.events[] | select(.type == \"household.changed\" and .household_id == $H)] | last | .payload.members
               | map(select(.entity_id == $Y or .entity_id == $Z or .entity_id == $head0) | [.entity_id, .role]) | sort" <<<"$body")" \
    "$(jq -nc --argjson y "$Y" --argjson z "$Z" --argjson h "$head0" '[[$y, "head"], [$z, "spouse"], [$h, "member"]] | sort')"
http_stop
expect_eq "server exits cleanly" "$server_rc" "0"

# a later record takes the head role back: the oldest member is head again
send_roles "$tmp/roles2.csv" "$kY=child"
expect_exit 0 "mdm load of a later row (child)" "$mdm" load --quiet --source crm "$tmp/roles2.csv"
expect_eq "the asserter is a child now" "$(role_of "$Y")" "child"
expect_eq "the former head is head again" "$(role_of "$head0")" "head"
expect_eq "the spouse stays" "$(role_of "$Z")" "spouse"
expect_exit 0 "mdm resolve again changes nothing" "$mdm" resolve --quiet
expect_eq "same roles" "$(role_of "$Y"),$(role_of "$Z"),$(role_of "$head0")" "child,spouse,head"

# bad configuration
jq '.households = {"role_attribute": "Household Role"}' "$MDM_CONFIG" >"$tmp/bad.json"
expect_exit 2 "a role_attribute that is no attribute name" "$mdm" resolve --config "$tmp/bad.json"
expect_contains "the error names it" "households.role_attribute" "$out"
e2e_end
