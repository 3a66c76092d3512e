# Stewardship over HTTP: the review queue the real pipeline leaves (list, item, claim,
# decisions, bulk), merge / split / unmerge, pins, assertions, explain, the audit log with
# chain verification, role checks, problem+json errors, the steward UI files, and `mdm
# audit verify` failing after a row is tampered with in SQL.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

# The review queue is the one the real pipeline leaves (mdm synth -> mdm load -> mdm
# resolve of the five demo sources); the entity actions work on golden records of a
# canonical "web" source, ingested through the API.
e2e_config "$http_tmp" "" '.http = {"auth_cache_seconds": 0} | .sources += [{"code": "web", "kind": "commerce"}]'
export MDM_UI_DIR=$MDM_ROOT/api/ui
expect_exit 0 "migrate" "$mdm" migrate
expect_exit 0 "synth" "$mdm" synth --people 150 --seed 3 --out "$http_tmp/data"
e2e_bulk "$http_tmp/data"
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
steward=$(new_key steward --name stella)
other=$(new_key steward --name otto)
reader=$(new_key reader)
compliance=$(new_key compliance)
auth() { printf 'Authorization: Bearer %s' "${!1}"; }
J=(-H "Content-Type: application/json")

# fixtures through the API (an admin key may write any source): ingest KEY FIRST LAST EMAIL BORN
admin=$(new_key admin)
ingest() {
    call POST /v1/sources/web/records -H "$(auth admin)" "${J[@]}" \
        -d "{\"source_key\": \"$1\", \"first_name\": \"$2\", \"last_name\": \"$3\", \"emails\": [\"$4\"], \"birth_date\": \"$5\"}"
    printf '%s' "$body" | jq -r .entity_id
}
e1=$(ingest W1 Ann Archer ann@archer.example 1980-01-01)
e2=$(ingest W2 Bea Boyle bea@boyle.example 1981-02-02)
e3=$(ingest W3 Cy Cole cy@cole.example 1982-03-03)
e4=$(ingest W4 Dan Dunn dan@dunn.example 1983-04-04)
rid() { sql "SELECT id FROM source_record WHERE source = 'web' AND source_key = '$1'"; }
r2=$(rid W2); r4=$(rid W4)
expect_eq "four golden records of their own" "$(printf '%s\n' "$e1" "$e2" "$e3" "$e4" | grep -c '^[0-9][0-9]*$' | tr -d ' ')/$(printf '%s\n' "$e1" "$e2" "$e3" "$e4" | sort -u | wc -l | tr -d ' ')" "4/4"
entity_of() { sql "SELECT entity_id FROM membership WHERE record_id = $1 AND active"; }
undecided() { sql "SELECT count(*) FROM review_item WHERE status IN ('open', 'claimed', 'deferred')"; }
open_items() { # the queue as the API lists it (ids, kinds, versions ...), in $body
    call GET "/v1/review?limit=500" -H "$(auth steward)"
}

# --- queue ---------------------------------------------------------------------------
n_open=$(undecided)
if [ "$n_open" -lt 3 ]; then
    e2e_fail "the pipeline leaves review items" "$n_open undecided, the suite needs 3"
    e2e_end
    exit 1
fi
expect_status "no key" 401 GET /v1/review
expect_status "a reader may not see the queue" 403 GET /v1/review -H "$(auth reader)"
expect_status "steward lists the queue" 200 GET "/v1/review?limit=500" -H "$(auth steward)"
queue=$body
expect_eq "every undecided item is listed" "$(jq '.items | length' <<<"$queue")" "$n_open"
expect_eq "the counts agree" "$(jq '.counts.by_status | .open + .claimed + .deferred' <<<"$queue")" "$n_open"
expect_eq "most uncertain first (priority never rises)" \
    "$(jq '[.items[].priority] | . == (sort | reverse)' <<<"$queue")" "true"
# i1: the first record item; i2: a record item that shares no record or golden record with it
i1=$(jq '[.items[] | select(.kind == "record_entity")][0].id' <<<"$queue")
item() { jq -r --argjson id "$1" ".items[] | select(.id == \$id) | .$2" <<<"$queue"; }
rec1=$(item "$i1" record_id); ent1=$(item "$i1" entity_id); own1=$(entity_of "$rec1")
i2=""
for id in $(jq '.items[] | select(.kind == "record_entity") | .id' <<<"$queue"); do
    r=$(item "$id" record_id); e=$(item "$id" entity_id); o=$(entity_of "$r")
    if [ "$id" != "$i1" ] && [ "$r" != "$rec1" ] && ! grep -qxF -e "$e" -e "$o" <<<"$ent1
$own1"; then
        i2=$id rec2=$r ent2=$e own2=$o
        break
    fi
done
expect_eq "two independent record items" "$([ -n "$i2" ] && echo yes)" "yes"
expect_status "paging" 200 GET "/v1/review?limit=1" -H "$(auth steward)"
expect_eq "first page holds the first item" "$(jq '.items[0].id' <<<"$body")" "$(jq '.items[0].id' <<<"$queue")"
cursor=$(printf '%s' "$body" | jq -r .next)
expect_status "second page" 200 GET "/v1/review?limit=1&cursor=$cursor" -H "$(auth steward)"
expect_eq "second page holds the second item" "$(jq '.items[0].id' <<<"$body")" "$(jq '.items[1].id' <<<"$queue")"
expect_problem "bad sort" 400 einval GET "/v1/review?sort=name" -H "$(auth steward)"
expect_contains "bad sort names the argument" '"/query/sort"' "$body"
expect_problem "bad probability" 400 einval GET "/v1/review?min_probability=2" -H "$(auth steward)"
expect_status "one item with both sides" 200 GET "/v1/review/$i1" -H "$(auth steward)"
expect_eq "side a is the record" "$(jq -r '.a.type + ":" + (.a.record_id | tostring)' <<<"$body")" "record:$rec1"
expect_eq "side b is the golden record" "$(jq -r '.b.entity_id' <<<"$body")" "$ent1"
expect_eq "the list labels side a with the record's name" \
    "$(jq -r '.a.fields | .full_name // ([.first_name, .last_name] | map(select(. != null and . != "")) | join(" "))' <<<"$body")" \
    "$(item "$i1" a_label)"
expect_eq "the list labels side b with the golden record's name" \
    "$(jq -r '.b.fields | .full_name // ([.first_name, .last_name] | map(select(. != null and . != "")) | join(" "))' <<<"$body")" \
    "$(item "$i1" b_label)"
v1=$(item "$i1" version)
expect_contains "ETag is the version" "ETag: \"$v1\"" "$hdrs"
expect_problem "unknown item" 404 enotfound GET /v1/review/999999 -H "$(auth steward)"

# --- claim and decide ----------------------------------------------------------------
expect_problem "claim needs a version" 422 eunprocessable POST "/v1/review/$i1/claim" -H "$(auth steward)" "${J[@]}" -d '{}'
expect_problem "claim at a stale version" 409 econflict POST "/v1/review/$i1/claim" -H "$(auth steward)" "${J[@]}" -d "{\"version\": $((v1 + 6))}"
expect_status "claim" 200 POST "/v1/review/$i1/claim" -H "$(auth steward)" "${J[@]}" -d "{\"version\": $v1}"
expect_eq "claimed by the key's name" "$(printf '%s' "$body" | jq -r .assignee)" "api:stella"
v1=$((v1 + 1))
expect_problem "another steward cannot decide it" 409 econflict POST "/v1/review/$i1/decision" -H "$(auth other)" "${J[@]}" -d "{\"version\": $v1, \"decision\": \"match\"}"
expect_problem "unknown decision" 422 eunprocessable POST "/v1/review/$i1/decision" -H "$(auth steward)" "${J[@]}" -d "{\"version\": $v1, \"decision\": \"perhaps\"}"
expect_problem "body must be JSON" 400 einval POST "/v1/review/$i1/decision" -H "$(auth steward)" "${J[@]}" -d 'match'
expect_status "accept: match" 200 POST "/v1/review/$i1/decision" -H "$(auth steward)" "${J[@]}" -d "{\"version\": $v1, \"decision\": \"match\", \"reason\": \"same card\"}"
joined=$(printf '%s' "$body" | jq .entity_id)
expect_eq "the record is now in the joined golden record" "$(entity_of "$rec1")" "$joined"
expect_status "the item's golden record answers as the joined one" 200 GET "/v1/entities/$ent1" -H "$(auth reader)"
expect_eq "joined golden record" "$(printf '%s' "$body" | jq .id)" "$joined"
expect_problem "deciding again" 409 econflict POST "/v1/review/$i1/decision" -H "$(auth steward)" "${J[@]}" -d "{\"version\": $((v1 + 1)), \"decision\": \"no_match\"}"
expect_status "reject via If-Match" 200 POST "/v1/review/$i2/decision" -H "$(auth steward)" -H "If-Match: \"$(item "$i2" version)\"" "${J[@]}" -d '{"decision": "no_match"}'
asserted=$(printf '%s' "$body" | jq .assertions)
expect_eq "never_link stored for the record" \
    "$(sql "SELECT count(*) > 0 AND count(*) = $asserted FROM steward_assertion WHERE kind = 'never_link' AND $rec2 IN (record_a, record_b)")" "t"
open_items
expect_eq "the decided items left the queue" "$(jq --argjson a "$i1" --argjson b "$i2" '[.items[] | select(.id == $a or .id == $b)] | length' <<<"$body")" "0"
expect_status "decided items on request" 200 GET "/v1/review?status=decided" -H "$(auth steward)"
expect_eq "two decided" "$(printf '%s' "$body" | jq -c '[.items[].id] | sort')" "$(jq -nc --argjson a "$i1" --argjson b "$i2" '[$a, $b] | sort')"
open_items
i3=$(jq '.items[0].id' <<<"$body")
v3=$(jq '.items[0].version' <<<"$body")
expect_status "bulk with one bad item" 207 POST /v1/review/decisions -H "$(auth steward)" "${J[@]}" \
    -d "{\"decisions\": [{\"id\": $i3, \"version\": $v3, \"decision\": \"defer\"}, {\"id\": 999999, \"version\": 1, \"decision\": \"defer\"}]}"
expect_eq "first deferred" "$(printf '%s' "$body" | jq -r '.results[0].status')" "deferred"
expect_eq "second not found" "$(printf '%s' "$body" | jq -r '.results[1].error.status')" "404"
expect_problem "a bulk item without its version" 422 eunprocessable POST /v1/review/decisions -H "$(auth steward)" "${J[@]}" \
    -d "{\"decisions\": [{\"id\": $i3, \"version\": $((v3 + 1)), \"decision\": \"defer\"}, {\"id\": $i3, \"decision\": \"defer\"}]}"
expect_eq "the missing member is named by its pointer" "$(jq -r '.errors[0].pointer' <<<"$body")" "/decisions/1/version"

# --- entities ------------------------------------------------------------------------
expect_status "steward merge" 200 POST "/v1/entities/$e1/merge" -H "$(auth steward)" "${J[@]}" -d "{\"other\": $e2, \"reason\": \"same card\"}"
expect_eq "the older golden record survives" "$(printf '%s' "$body" | jq .survivor)" "$e1"
expect_eq "Bea's record now in it" "$(entity_of "$r2")" "$e1"
expect_status "the retired golden record answers with its survivor" 200 GET "/v1/entities/$e2" -H "$(auth reader)"
expect_eq "survivor's record" "$(printf '%s' "$body" | jq .id)" "$e1"
v1=$(sql "SELECT version FROM entity WHERE id = $e1")
expect_problem "split at a stale version" 409 estale POST "/v1/entities/$e1/split" -H "$(auth steward)" "${J[@]}" -d "{\"records\": [$r2], \"version\": 999}"
expect_problem "split with a record id that is not one" 422 eunprocessable POST "/v1/entities/$e1/split" -H "$(auth steward)" "${J[@]}" -d '{"records": [7, "x"]}'
expect_eq "the item is named by its pointer" "$(jq -r '.errors[0].pointer' <<<"$body")" "/records/1"
expect_problem "split of a stranger" 422 eunprocessable POST "/v1/entities/$e1/split" -H "$(auth steward)" "${J[@]}" -d "{\"records\": [$r4]}"
expect_status "split Bea off again" 200 POST "/v1/entities/$e1/split" -H "$(auth steward)" "${J[@]}" -d "{\"records\": [$r2], \"version\": $v1, \"reason\": \"twins\"}"
bea=$(printf '%s' "$body" | jq .moved_to)
expect_eq "Bea has her own entity" "$(sql "SELECT entity_id FROM membership WHERE record_id = $r2 AND active")" "$bea"
expect_problem "merge is forbidden after the split" 409 econflict POST "/v1/entities/$e1/merge" -H "$(auth steward)" "${J[@]}" -d "{\"other\": $bea}"
expect_problem "the rejected pair cannot be merged by hand either" 409 econflict POST "/v1/entities/$(entity_of "$rec2")/merge" -H "$(auth steward)" "${J[@]}" -d "{\"other\": $ent2}"
# the split's never_link can be listed and removed (audited); then the pair may merge
expect_status "assertions of Bea's record" 200 GET "/v1/assertions?record_id=$r2" -H "$(auth steward)"
nl=$(jq -r '[.items[] | select(.kind == "never_link") | .id] | join(" ")' <<<"$body")
expect_eq "the split wrote a never_link" "$([ -n "$nl" ] && echo yes)" "yes"
expect_problem "a reader may not list them" 403 eforbidden GET /v1/assertions -H "$(auth reader)"
a0=$(sql "SELECT count(*) FROM audit_log WHERE action = 'assertion.remove'")
for a in $nl; do
    expect_status "remove never_link $a" 200 DELETE "/v1/assertions/$a?reason=split%20by%20mistake" -H "$(auth steward)"
done
expect_eq "each removal audited" \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'assertion.remove'")" "$((a0 + $(wc -w <<<"$nl")))"
expect_status "the audit view shows the removal and its reason" 200 GET "/v1/audit?action=assertion.remove" -H "$(auth admin)"
expect_eq "reason shown" "$(jq -r '.items[0].reason' <<<"$body")" "split by mistake"
expect_problem "removing one twice" 404 enotfound DELETE "/v1/assertions/${nl%% *}" -H "$(auth steward)"
expect_status "without the assertion the split pair merges" 200 POST "/v1/entities/$e1/merge" -H "$(auth steward)" "${J[@]}" -d "{\"other\": $bea, \"reason\": \"one person after all\"}"
expect_status "and unmerges (a never_link again)" 200 POST "/v1/entities/$e1/unmerge" -H "$(auth steward)" "${J[@]}" -d '{"reason": "back as it was"}'
expect_problem "merge is forbidden again" 409 econflict POST "/v1/entities/$e1/merge" -H "$(auth steward)" "${J[@]}" -d "{\"other\": $bea}"
e5=$(ingest W5 Eve Eton eve@eton.example 1984-05-05)
expect_status "manual merge" 200 POST "/v1/entities/$e5/merge" -H "$(auth steward)" "${J[@]}" -d "{\"other\": $e4, \"reason\": \"same person\"}"
expect_eq "older survives" "$(printf '%s' "$body" | jq .survivor)" "$e4"
expect_eq "the other is retired" "$(sql "SELECT status FROM entity WHERE id = $e5")" "retired"
expect_status "unmerge" 200 POST "/v1/entities/$e4/unmerge" -H "$(auth steward)" "${J[@]}" -d '{"reason": "oops"}'
expect_eq "restored" "$(printf '%s' "$body" | jq .restored)" "$e5"
expect_eq "entity back" "$(sql "SELECT status FROM entity WHERE id = $e5")" "active"
expect_eq "its golden record back" "$(sql "SELECT golden->>'first_name' FROM entity WHERE id = $e5")" "Eve"
expect_problem "unmerge twice" 409 econflict POST "/v1/entities/$e4/unmerge" -H "$(auth steward)" "${J[@]}" -d '{}'
expect_status "pin" 200 PUT "/v1/entities/$e3/pins/first_name" -H "$(auth steward)" "${J[@]}" -d '{"value": "Cyrus"}'
expect_eq "golden shows the pin" "$(printf '%s' "$body" | jq -r .golden.first_name)" "Cyrus"
expect_problem "unknown attribute" 422 eunprocessable PUT "/v1/entities/$e3/pins/shoe_size" -H "$(auth steward)" "${J[@]}" -d '{"value": 44}'
expect_status "unpin" 200 DELETE "/v1/entities/$e3/pins/first_name" -H "$(auth steward)"
expect_eq "rule again" "$(printf '%s' "$body" | jq -r .golden.first_name)" "Cy"
expect_status "assertion" 200 POST /v1/assertions -H "$(auth steward)" "${J[@]}" -d "{\"kind\": \"always_link\", \"record_a\": $r4, \"record_b\": $r2}"
expect_status "a reader may not merge" 403 POST "/v1/entities/$e3/merge" -H "$(auth reader)" "${J[@]}" -d "{\"other\": $e4}"

# --- explain -------------------------------------------------------------------------
expect_status "explain two records" 200 GET "/v1/explain?a=web:W1&b=web:W2" -H "$(auth steward)"
expect_eq "explanation per field" "$(printf '%s' "$body" | jq '.explanation | length > 0')" "true"
expect_eq "probability is a number" "$(printf '%s' "$body" | jq '.probability | type')" '"number"'
expect_problem "explain needs SOURCE:KEY" 400 einval GET "/v1/explain?a=W1&b=web:W2" -H "$(auth steward)"
expect_problem "explain of an unknown record" 404 enotfound GET "/v1/explain?a=web:nope&b=web:W2" -H "$(auth steward)"

# --- audit ---------------------------------------------------------------------------
expect_status "a steward may not read the audit log" 403 GET /v1/audit -H "$(auth steward)"
expect_status "compliance reads it, verified" 200 GET "/v1/audit?verify=true&limit=5" -H "$(auth compliance)"
expect_eq "chain intact" "$(printf '%s' "$body" | jq .chain.intact)" "true"
expect_eq "newest first, five rows" "$(printf '%s' "$body" | jq '.items | length')" "5"
expect_status "filter by action prefix" 200 GET "/v1/audit?action=review." -H "$(auth compliance)"
expect_eq "the steward's claims and decisions" "$(printf '%s' "$body" | jq -r '[.items[] | select(.actor == "api:stella") | .action] | unique | join(",")')" "review.claim,review.decide"
expect_eq "each decision names its actor" "$(printf '%s' "$body" | jq -r '[.items[] | select(.action == "review.decide") | .actor] | unique | join(",")')" "api:stella"
expect_exit 0 "mdm audit verify: intact" "$mdm" audit verify
sql "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; UPDATE audit_log SET reason = 'nothing to see' WHERE action = 'review.decide'; ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
expect_exit 1 "mdm audit verify fails after tampering" "$mdm" audit verify
expect_contains "names the edited row" "was edited" "$out"
expect_status "the API reports it too" 200 GET "/v1/audit?verify=true" -H "$(auth compliance)"
expect_eq "chain broken" "$(printf '%s' "$body" | jq .chain.intact)" "false"

# --- UI files ------------------------------------------------------------------------
expect_status "/ui redirects" 302 GET /ui
expect_status "/ui/ is the app" 200 GET /ui/
expect_contains "html" "<title>mdm steward</title>" "$body"
expect_contains "CSP" "Content-Security-Policy: default-src 'self'" "$hdrs"
expect_status "modules" 200 GET /ui/app.js
expect_contains "javascript type" "Content-Type: text/javascript" "$hdrs"
# revalidation: the ETag is the content's hash; sent back, it answers 304 without a body
etag=$(printf '%s\n' "$hdrs" | sed -n 's/^[Ee][Tt]ag: //p')
expect_eq "app.js has a strong content ETag" "$(printf '%s' "$etag" | grep -cE '^"[0-9a-f]{32}"$')" "1"
expect_status "unchanged app.js is 304" 304 GET /ui/app.js -H "If-None-Match: $etag"
expect_eq "304 has no body" "${#body}" "0"
expect_status "weak form and lists match too" 304 GET /ui/app.js -H "If-None-Match: \"x\", W/$etag"
expect_status "another file's tag is no match" 200 GET /ui/queue.js -H "If-None-Match: $etag"
expect_status "no traversal" 404 GET "/ui/..%2fMakefile"
expect_status "no dot files" 404 GET /ui/.gitignore
expect_status "unknown file" 404 GET /ui/nope.js
http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
e2e_end
