# Models in the store (issue 18, deliverables 2 and 3): mdm train --from-store trains a
# new version on the records already loaded (no export); mdm model list, show, activate
# (re-scores the open review items) and diff; mdm eval --labels measures the active
# model on the steward's decided review items; mdm resolve --all [--dry-run] re-evaluates
# every golden record under it (stable ids, steward decisions kept, ordinary events). Data: mdm synth -> mdm load -> resolve;
# review items decided over HTTP as the synth truth says.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$http_tmp
db=$MDM_DATABASE_URL
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$db" -c "$1"; }

sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" > "$tmp/mdm.json"
export MDM_CONFIG=$tmp/mdm.json
"$mdm" synth --people 200 --seed 9 --error-rate 2 --out "$tmp/data" >/dev/null 2>&1
"$mdm" migrate >/dev/null 2>&1
for s in crm loyalty commerce erp pos; do
    "$mdm" load --quiet --source "$s" "$tmp/data/$s.csv" >/dev/null 2>&1 || e2e_fail "load $s" "exit $?"
done
records=$(sql "SELECT count(*) FROM source_record WHERE NOT deleted")

expect_exit 0 "no model stored yet" "$mdm" model list
expect_eq "model list is empty" "$out" ""
expect_exit 0 "mdm train --from-store" "$mdm" train --from-store --note "first from the store"
v1=$(jq -r .version <<<"$out")
expect_eq "a first version" "$v1" "1"
expect_eq "trained on every loaded record" "$(jq -r .records <<<"$out")" "$records"
expect_eq "stored, inactive, with what it was trained on" \
    "$(sql "SELECT active, note, trained_on->>'from', (trained_on->>'records')::int, model->'trained'->>'prior' IS NOT NULL FROM match_model WHERE version = 1")" \
    "f|first from the store|store|$records|t"
if [ "$(sql "SELECT model->'trained'->'prior' <> '$(jq -c .trained.prior "$root/demo/model.json")'::jsonb FROM match_model WHERE version = 1")" = t ]; then
    e2e_ok "its parameters are its own (not the configured model's)"
else e2e_fail "trained parameters" "same prior as demo/model.json"; fi
expect_exit 0 "mdm model show" "$mdm" model show 1
expect_eq "show has the document" "$(jq -r '.model.comparisons | length > 3' <<<"$out")" "true"

# activation re-scores the open review items under the new model
open=$(sql "SELECT count(*) FROM review_item WHERE status IN ('open', 'claimed', 'deferred')")
[ "$open" -ge 5 ] && e2e_ok "the load queued review items ($open)" || e2e_fail "review items" "$open"
sql "SELECT id, probability FROM review_item WHERE status = 'open' ORDER BY id" > "$tmp/before"
t0=$(sql "SELECT now()")
expect_exit 0 "mdm model activate 1" "$mdm" model activate 1
expect_contains "servers are told to restart" "restart running servers" "$out"
line=$(grep '^{' <<<"$out")
expect_eq "every open item marked" "$(jq -r .review_items <<<"$line")" "$open"
rescored=$(jq -r .rescored <<<"$line")
expect_eq "and re-scored" "$(sql "SELECT count(*) FROM review_item WHERE status IN ('open', 'claimed', 'deferred') AND scored_at < '$t0'")" "0"
sql "SELECT id, probability FROM review_item WHERE status = 'open' ORDER BY id" > "$tmp/after"
changed=$(diff "$tmp/before" "$tmp/after" | grep -c '^>')
[ "$changed" -ge 1 ] && e2e_ok "probabilities under the new model ($changed of $open changed)" || e2e_fail "re-scored probabilities" "none changed"
expect_eq "one active version" "$(sql "SELECT string_agg(version::text, ',') FROM match_model WHERE active")" "1"
expect_eq "activation audited" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'model.activate' AND target = 'match_model:1'")" "1"
expect_eq "each re-score audited" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'review.rescore'")" "$rescored"
expect_exit 0 "list after activation" "$mdm" model list
expect_eq "list says which is active" "$(jq -r '"\(.version) \(.active) \(.activated_by != null)"' <<<"$out")" "1 true true"

# steward decisions: the first open record-to-golden items decided as the truth says
psql -q "$db" -c "CREATE TABLE test_truth (source text, record_id text, person_id text)" \
    -c "\\copy test_truth FROM '$tmp/data/truth.csv' CSV HEADER" >/dev/null
http_start
steward=$(new_key steward)
decided=0
while IFS='|' read -r id version same; do
    [ -n "$id" ] || continue
    d=no_match; [ "$same" = t ] && d=match
    call POST "/v1/review/$id/decision" -H "Authorization: Bearer $steward" -H 'Content-Type: application/json' \
        -d "{\"version\": $version, \"decision\": \"$d\"}"
    [ "$status" = 200 ] && decided=$((decided + 1))
done < <(sql "SELECT r.id, r.version, EXISTS (SELECT 1 FROM source_record a JOIN test_truth ta ON ta.source = a.source AND ta.record_id = a.source_key
                 JOIN membership m ON m.entity_id = r.entity_id AND m.active JOIN source_record b ON b.id = m.record_id
                 JOIN test_truth tb ON tb.source = b.source AND tb.record_id = b.source_key
                 WHERE a.id = r.record_id AND ta.person_id = tb.person_id)
              FROM review_item r WHERE r.status = 'open' AND r.kind = 'record_entity' ORDER BY r.id LIMIT 10")
http_stop
[ "$decided" -ge 5 ] && e2e_ok "decided $decided review items" || e2e_fail "decisions" "$decided"
matches=$(sql "SELECT count(*) FROM review_item WHERE status = 'decided' AND decision = 'match'")

expect_exit 0 "mdm eval --labels" "$mdm" eval --labels --json
m=$(jq -c .model <<<"$out")
expect_eq "the active model is measured" "$(jq -r .model_version <<<"$m")" "1"
expect_eq "on every decided item" "$(jq -r '"\(.items) \(.match)"' <<<"$m")" "$decided $matches"
# each item's probability under the active model is its best labelled pair's, as the queue
# scored it at re-scoring: the counts must agree with the stored probabilities
for at in at_link at_review; do
    t=$(jq -r ".$at.threshold" <<<"$m")
    want=$(sql "SELECT count(*) FILTER (WHERE probability >= $t AND decision = 'match') || ' ' ||
                       count(*) FILTER (WHERE probability >= $t AND decision = 'no_match') || ' ' ||
                       count(*) FILTER (WHERE probability < $t AND decision = 'match')
                FROM review_item WHERE status = 'decided'")
    expect_eq "$at: true and false positives, misses" "$(jq -r ".$at | \"\(.tp) \(.fp) \(.fn)\"" <<<"$m")" "$want"
done
expect_eq "recall and precision at the review threshold" \
    "$(jq -r '.at_review | (.tp / (.tp + .fn) == .recall) and (.tp / (.tp + .fp) == .precision)' <<<"$m")" "true"
expect_exit 0 "eval --labels as text" "$mdm" eval --labels
expect_contains "text names the model" "model_version=1 at_link=" "$out"

# a second version after more records came in, compared with the first
"$mdm" synth --people 120 --seed 10 --error-rate 2 --out "$tmp/more" >/dev/null 2>&1
sed 's/^C0/X0/' "$tmp/more/crm.csv" > "$tmp/more/crm2.csv"
"$mdm" load --quiet --source crm "$tmp/more/crm2.csv" >/dev/null 2>&1
expect_exit 0 "train a second version" "$mdm" train --from-store --note second
expect_eq "version 2, the first still active" "$(jq -r .version <<<"$out") $(sql "SELECT version FROM match_model WHERE active")" "2 1"
expect_eq "trained from the active version" "$(sql "SELECT trained_on->>'base_version' FROM match_model WHERE version = 2")" "1"
expect_exit 0 "mdm model diff 1 2" "$mdm" model diff 1 2
expect_eq "every comparison compared" "$(jq -r '.comparisons | length' <<<"$out")" \
    "$(sql "SELECT jsonb_array_length(model->'comparisons') FROM match_model WHERE version = 1")"
expect_eq "weights differ and the largest change is named" "$(jq -r '(.largest.delta | fabs > 0) and (.largest.comparison | length > 0)' <<<"$out")" "true"
expect_eq "priors of both" "$(jq -r '.prior | length' <<<"$out")" "2"
# re-resolution of every golden record under the active model
sql "CREATE TABLE test_snap AS SELECT record_id, entity_id FROM membership WHERE active" >/dev/null
counts() { sql "SELECT (SELECT count(*) FROM outbox) || ' ' || (SELECT count(*) FROM link_event) || ' ' || (SELECT sum(version) FROM entity)"; }
before=$(counts)
expect_exit 0 "mdm resolve --all --dry-run" "$mdm" resolve --all --dry-run
plan=$(grep '^{' <<<"$out")
expect_eq "the dry run writes nothing" "$(counts) $(sql "SELECT count(*) FROM test_snap s JOIN membership m ON m.record_id = s.record_id AND m.active AND m.entity_id = s.entity_id")"     "$before $(sql "SELECT count(*) FROM test_snap")"
moves=$(jq -r '.splits + .merges' <<<"$plan")
[ "$moves" -ge 1 ] && e2e_ok "the new model changes golden records ($(jq -c 'del(.changes)' <<<"$plan"))" || e2e_fail "re-resolution plan" "$plan"
expect_eq "steward decisions are held" "$(jq -r '.held > 0' <<<"$plan")" "true"
expect_exit 0 "mdm resolve --all" "$mdm" resolve --all
done_=$(grep '^{' <<<"$out")
expect_eq "it does what the dry run said" "$(jq -c '[.splits, .merges, .records_moved, .kept_apart]' <<<"$done_")" "$(jq -c '[.splits, .merges, .records_moved, .kept_apart]' <<<"$plan")"
expect_eq "records moved, as reported"     "$(sql "SELECT count(*) FROM test_snap s JOIN membership m ON m.record_id = s.record_id AND m.active WHERE m.entity_id <> s.entity_id")"     "$(jq -r .records_moved <<<"$plan")"
# a merge retires at most one of the golden records from before (none when the part
# merged away was split off in this run), so at most `merges` of them retire
kept=$(sql "SELECT count(DISTINCT s.entity_id) FROM test_snap s JOIN entity e ON e.id = s.entity_id WHERE e.status = 'active'")
least=$(( $(jq -r .entities <<<"$plan") - $(jq -r .merges <<<"$plan") ))
[ "$kept" -ge "$least" ] && e2e_ok "golden ids are stable: only merged-away ids retire ($kept kept, at least $least)" ||
    e2e_fail "golden ids are stable: only merged-away ids retire" "$kept kept, want at least $least"
expect_eq "changes published as ordinary events"     "$(sql "SELECT count(*) FILTER (WHERE type = 'merged') || ' ' || count(*) FILTER (WHERE type = 'split') FROM outbox WHERE seq > ${before%% *}")"     "$(jq -r '"\(.merges) \(2 * .splits)"' <<<"$plan")"
expect_eq "steward decisions kept: every match together, every no_match apart"     "$(sql "SELECT count(*) FILTER (WHERE (l.label = 'match') <> (ma.entity_id = mb.entity_id)) FROM
             (SELECT DISTINCT ON (record_a, record_b) * FROM steward_label ORDER BY record_a, record_b, id DESC) l
             JOIN membership ma ON ma.record_id = l.record_a AND ma.active JOIN membership mb ON mb.record_id = l.record_b AND mb.active")" "0"
expect_eq "one audit row" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'records.reresolve'")" "1"
expect_exit 0 "a second dry run" "$mdm" resolve --all --dry-run
expect_eq "finds nothing more to change" "$(grep '^{' <<<"$out" | jq -c '[.splits, .merges]')" "[0,0]"
expect_exit 2 "--dry-run goes with --all" "$mdm" resolve --dry-run
expect_exit 4 "an unknown version" "$mdm" model activate 99
expect_exit 2 "activate needs a version" "$mdm" model activate
expect_exit 2 "a version is a number" "$mdm" model show one
e2e_end
