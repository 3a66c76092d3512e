# Name search reads the entity-level name index (entity_name, migration 046), so the
# index must follow every path that changes which names a golden record holds. On data
# the real pipeline made (mdm synth -> mdm load -> mdm resolve, bulk path), then through
# a record update and a source delete (incremental path), a merge and its undo, a split
# and its undo, a pin and an unpin of a last name, and a subject erasure: after each,
# GET /v1/entities?q= for the names involved finds exactly the golden records that hold
# the name in one of their active source records (read from the source records
# themselves, as search read them before the index), and the index holds exactly the
# name keys of every active golden record's active members (also after `mdm resolve
# --all`, which splits and merges).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp
e2e_config "$tmp"

expect_exit 0 "migrate" "$mdm" migrate
expect_exit 0 "synth" "$mdm" synth --people 500 --seed 11 --out "$tmp/data"
for s in crm loyalty commerce erp pos; do
    expect_exit 0 "load $s" "$mdm" load --quiet --no-resolve --source "$s" "$tmp/data/$s.csv"
done
expect_exit 0 "resolve" "$mdm" resolve
expect_contains "the backlog took the bulk path" "resolve: bulk" "$out"

# the index against the source records: name keys missing from it, rows it should not hold
# (golden records with a pinned name hold those keys too, checked on their own below)
index_diff() {
    sql "WITH want AS (SELECT DISTINCT m.entity_id, k.kind, k.key COLLATE \"C\" AS key
           FROM membership m JOIN entity e ON e.id = m.entity_id AND e.status = 'active'
           JOIN source_record s ON s.id = m.record_id
           CROSS JOIN LATERAL mdm_name_keys(s.normalized->'keys') k WHERE m.active),
         have AS (SELECT entity_id, kind, key FROM entity_name n WHERE NOT EXISTS (
           SELECT 1 FROM golden_pin p WHERE p.entity_id = n.entity_id
             AND p.attr IN ('first_name', 'middle_name', 'last_name')))
         SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM have) a) || ' missing, '
             || (SELECT count(*) FROM (SELECT * FROM have EXCEPT SELECT * FROM want) b) || ' extra'"
}
expect_eq "after the bulk resolution the index holds every member's name keys" "$(index_diff)" "0 missing, 0 extra"
expect_eq "every active golden record with a name has rows" \
    "$(sql "SELECT count(*) FROM entity e WHERE e.status = 'active' AND NOT EXISTS (SELECT 1 FROM entity_name n WHERE n.entity_id = e.id)
            AND EXISTS (SELECT 1 FROM membership m JOIN source_record s ON s.id = m.record_id WHERE m.entity_id = e.id AND m.active AND s.normalized->'keys' ? 'last')")" "0"

steward=$(new_key steward --name names-desk)
dpo=$(new_key compliance --name dpo)
http_start || { e2e_end; exit 1; }
S=(-H "Authorization: Bearer $steward" -H 'Content-Type: application/json')

# found Q: ids of the golden records GET /v1/entities?q=Q finds, ascending
found() {
    call GET "/v1/entities?q=$(jq -rn --arg q "$1" '$q | @uri')&limit=1000" -H "Authorization: Bearer $steward"
    jq -r '[.items[].id] | sort | map(tostring) | join(" ")' <<<"$body"
}
# holders KEY: the active golden records a one-word query KEY (three letters or more, no
# nickname class of its own) finds, from their active source records: a last or first
# name starting with it, a middle name or nickname class equal to it
holders() {
    sql "SELECT coalesce(string_agg(id::text, ' ' ORDER BY id), '') FROM (SELECT DISTINCT m.entity_id AS id
           FROM membership m JOIN entity e ON e.id = m.entity_id AND e.status = 'active'
           JOIN source_record s ON s.id = m.record_id, LATERAL (SELECT s.normalized->'keys' AS k) x
           WHERE m.active AND (left(k->>'last', length('$1')) = '$1' OR left(k->>'first', length('$1')) = '$1'
             OR k->>'middle' = '$1' OR k->>'first_canon' = '$1')) h"
}
# check STEP KEY...: each name finds exactly its holders, and the index is exact
check() {
    local step=$1; shift
    for k in "$@"; do
        expect_eq "$step: \"$k\" finds the golden records holding it" "$(found "$k")" "$(holders "$k")"
    done
    expect_eq "$step: the index holds exactly the members' name keys" "$(index_diff)" "0 missing, 0 extra"
}
# top Q: the first golden record of Q's page
top() {
    call GET "/v1/entities?q=$(jq -rn --arg q "$1" '$q | @uri')&limit=5" -H "Authorization: Bearer $steward"
    jq -r '.items[0].id // ""' <<<"$body"
}
version() { call GET "/v1/entities/$1" -H "Authorization: Bearer $steward"; jq -r '.version' <<<"$body"; }
has() { [[ " $1 " == *" $2 "* ]] && echo yes || echo no; }
# a last name held by exactly one golden record, not by the ones listed, a surname of its own
rare_last() {
    sql "SELECT k FROM (SELECT s.normalized->'keys'->>'last' AS k, min(m.entity_id) AS e, count(DISTINCT m.entity_id) AS n
           FROM membership m JOIN source_record s ON s.id = m.record_id WHERE m.active GROUP BY 1) x
         WHERE n = 1 AND length(k) >= 5 AND k !~ ' ' AND e NOT IN (${1:-0})
           AND NOT EXISTS (SELECT 1 FROM source_record s WHERE s.normalized->'keys'->>'first' LIKE left(x.k, 3) || '%'
              OR s.normalized->'keys'->>'middle' = x.k OR s.normalized->'keys'->>'first_canon' = x.k
              OR (s.normalized->'keys'->>'last' <> x.k AND s.normalized->'keys'->>'last' LIKE x.k || '%'))
         ORDER BY md5(k) LIMIT 1"
}
owner_of() { sql "SELECT DISTINCT m.entity_id FROM membership m JOIN source_record s ON s.id = m.record_id WHERE m.active AND s.normalized->'keys'->>'last' = '$1'"; }

# ---- merge and unmerge ------------------------------------------------------------------
la=$(rare_last); a=$(owner_of "$la")
lb=$(rare_last "$a"); b=$(owner_of "$lb")
expect_eq "two golden records with surnames of their own" "$([ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] && echo yes)" "yes"
expect_eq "before the merge \"$lb\" finds its golden record alone" "$(found "$lb")" "$b"
expect_status "merge" 200 POST "/v1/entities/$a/merge" "${S[@]}" -d "{\"other\": $b, \"reason\": \"test\"}"
keep=$((a < b ? a : b)); gone=$((a < b ? b : a))
expect_eq "after the merge both names find the survivor alone" "$(found "$la") $(found "$lb")" "$keep $keep"
check "merge" "$la" "$lb"
expect_status "unmerge" 200 POST "/v1/entities/$gone/unmerge" "${S[@]}" -d '{"reason": "two people"}'
expect_eq "after the unmerge each name finds its own golden record again" "$(found "$la") $(found "$lb")" "$a $b"
check "unmerge" "$la" "$lb"

# ---- split and its undo -----------------------------------------------------------------
# a golden record of two records or more, one of them under a surname the others lack
row=$(sql "SELECT m.entity_id || ' ' || m.record_id || ' ' || (s.normalized->'keys'->>'last')
             FROM membership m JOIN source_record s ON s.id = m.record_id
             WHERE m.active AND s.normalized->'keys'->>'last' !~ ' ' AND length(s.normalized->'keys'->>'last') >= 3
               AND NOT EXISTS (SELECT 1 FROM membership o JOIN source_record t ON t.id = o.record_id
                 WHERE o.entity_id = m.entity_id AND o.active AND o.record_id <> m.record_id
                   AND t.normalized->'keys'->>'last' = s.normalized->'keys'->>'last')
               AND (SELECT count(*) FROM membership o WHERE o.entity_id = m.entity_id AND o.active) >= 2
             ORDER BY m.record_id LIMIT 1")
read -r e rec lsplit <<<"$row"
if [ -z "$e" ]; then # no such record: any record of a golden record of two or more
    row=$(sql "SELECT m.entity_id || ' ' || m.record_id || ' ' || (s.normalized->'keys'->>'last')
                 FROM membership m JOIN source_record s ON s.id = m.record_id
                 WHERE m.active AND s.normalized->'keys'->>'last' !~ ' '
                   AND (SELECT count(*) FROM membership o WHERE o.entity_id = m.entity_id AND o.active) >= 2
                 ORDER BY m.record_id LIMIT 1")
    read -r e rec lsplit <<<"$row"
fi
lother=$(sql "SELECT s.normalized->'keys'->>'last' FROM membership m JOIN source_record s ON s.id = m.record_id
                WHERE m.entity_id = $e AND m.active AND m.record_id <> $rec AND s.normalized->'keys' ? 'last' LIMIT 1")
expect_eq "the pipeline made a golden record of two records or more" "$([ -n "$e" ] && [ -n "$lother" ] && echo yes)" "yes"
expect_eq "before the split \"$lsplit\" finds the golden record" "$(has "$(found "$lsplit")" "$e")" "yes"
v=$(version "$e")
expect_status "split one record off" 200 POST "/v1/entities/$e/split" "${S[@]}" \
    -d "{\"records\": [$rec], \"version\": $v, \"reason\": \"a relative\"}"
split=$(jq -r '.split_id' <<<"$body")
new=$(sql "SELECT entity_id FROM membership WHERE active AND record_id = $rec")
expect_eq "after the split the name of the record finds its new golden record" "$(has "$(found "$lsplit")" "$new")" "yes"
check "split" "$lsplit" "$lother"
v=$(version "$e")
expect_status "undo the split" 200 POST "/v1/entities/$e/unsplit" "${S[@]}" \
    -d "{\"split_id\": $split, \"version\": $v}"
expect_eq "after the undo the name finds the golden record again, not the retired one" \
    "$(has "$(found "$lsplit")" "$e") $(has "$(found "$lsplit")" "$new")" "yes no"
check "unsplit" "$lsplit" "$lother"

# ---- a pinned last name -----------------------------------------------------------------
lp=$(rare_last "$a, $b, $e"); p=$(owner_of "$lp")
v=$(version "$p")
expect_status "pin a last name no source holds" 200 PUT "/v1/entities/$p/pins/last_name" "${S[@]}" \
    -d "{\"value\": \"Quíllfeather\", \"version\": $v}"
expect_eq "the pinned name finds the golden record (accent and case as ingest folds them)" "$(found "QUILLFEATHER")" "$p"
expect_eq "so does the start of it" "$(found "Quillf")" "$p"
pfirst=$(sql "SELECT s.normalized->'keys'->>'first' FROM membership m JOIN source_record s ON s.id = m.record_id
                WHERE m.entity_id = $p AND m.active AND s.normalized->'keys' ? 'first' LIMIT 1")
expect_eq "\"Last, First\" with the pinned name ranks it first" "$(top "Quillfeather, $pfirst")" "$p"
expect_eq "the source name still finds it" "$(found "$lp")" "$p"
expect_status "unpin" 200 DELETE "/v1/entities/$p/pins/last_name" -H "Authorization: Bearer $steward"
expect_eq "after the unpin the pinned name finds nothing" "$(found "Quillfeather")" ""
check "unpin" "$lp"

# ---- incremental path: a record's name changes, a source deletes a record ----------------
row=$(sql "SELECT m.entity_id || ' ' || s.source_key || ' ' || (s.normalized->'keys'->>'last')
             FROM membership m JOIN source_record s ON s.id = m.record_id
             WHERE m.active AND s.source = 'crm' AND s.normalized->'keys'->>'last' !~ ' '
               AND length(s.normalized->'keys'->>'last') >= 3 AND m.entity_id NOT IN ($a, $b, $e, $p)
             ORDER BY md5(s.source_key) LIMIT 1")
read -r u crm_key lu <<<"$row"
awk -F, -v k="$crm_key" 'NR == 1 || $1 == k { if (NR > 1) $4 = "Zwanenburgh"; print }' OFS=, \
    "$tmp/data/crm.csv" > "$tmp/renamed.csv"
expect_eq "a crm record to rename" "$(wc -l < "$tmp/renamed.csv")" "2"
expect_exit 0 "load the renamed record" "$mdm" load --quiet --source crm "$tmp/renamed.csv"
expect_eq "the new name finds the golden record" "$(found "Zwanenburgh")" \
    "$(sql "SELECT entity_id FROM membership m JOIN source_record s ON s.id = m.record_id WHERE m.active AND s.source = 'crm' AND s.source_key = '$crm_key'")"
check "rename" "$lu" "zwanenburgh"
lonely=$(sql "SELECT s.source || ' ' || s.source_key || ' ' || m.entity_id || ' ' || (s.normalized->'keys'->>'last')
                FROM membership m JOIN source_record s ON s.id = m.record_id
                WHERE m.active AND s.normalized->'keys'->>'last' !~ ' ' AND length(s.normalized->'keys'->>'last') >= 3
                  AND (SELECT count(*) FROM membership o WHERE o.entity_id = m.entity_id AND o.active) = 1
                  AND m.entity_id NOT IN ($a, $b, $e, $p, $u) ORDER BY m.record_id LIMIT 1")
read -r dsrc dkey dent dlast <<<"$lonely"
expect_status "the source deletes the only record of a golden record" 200 DELETE "/v1/sources/$dsrc/records/$dkey" \
    -H "Authorization: Bearer $(new_key source --source "$dsrc")"
expect_eq "its name no longer finds the retired golden record" "$(has "$(found "$dlast")" "$dent")" "no"
check "source delete" "$dlast"

# ---- erasure ----------------------------------------------------------------------------
le=$(rare_last "$a, $b, $e, $p, $u, $dent"); x=$(owner_of "$le")
expect_eq "before the erasure its name finds it" "$(found "$le")" "$x"
expect_status "erase the subject" 200 POST "/v1/subjects/$x/erase" -H "Authorization: Bearer $dpo" \
    -H 'Content-Type: application/json' -d '{"reason": "request"}'
expect_eq "after the erasure its name finds nothing" "$(found "$le")" ""
expect_eq "and the index holds nothing of it" "$(sql "SELECT count(*) FROM entity_name WHERE entity_id = $x")" "0"
check "erasure" "$le"

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"

# ---- re-resolution (mdm resolve --all: splits and merges under the model) ---------------
expect_exit 0 "re-resolve everything" "$mdm" resolve --all
expect_eq "after re-resolution the index holds exactly the members' name keys" "$(index_diff)" "0 missing, 0 extra"
e2e_end
