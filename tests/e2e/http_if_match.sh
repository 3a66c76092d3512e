# Optimistic concurrency on entities over HTTP: every route that writes a golden record
# (merge, split, unmerge, pin, unpin, subject erase) takes the entity's ETag in If-Match
# (or "version" in the body); a current one writes (and answers the new ETag), a stale one
# is 409 problem+json with code "estale" and changes nothing. Also: "*", weak ETags,
# malformed If-Match (400), a body version disagreeing with If-Match, the OpenAPI document.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}], "http": {"auth_cache_seconds": 0}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
steward=$(new_key steward --name stella)
compliance=$(new_key compliance --name dpo)
admin=$(new_key admin)
auth() { printf 'Authorization: Bearer %s' "${!1}"; }
J=(-H "Content-Type: application/json")
ingest() {
    call POST /v1/sources/web/records -H "$(auth admin)" "${J[@]}" \
        -d "{\"source_key\": \"$1\", \"first_name\": \"$2\", \"last_name\": \"$3\", \"emails\": [\"$4\"], \"birth_date\": \"$5\"}"
    printf '%s' "$body" | jq -r .entity_id
}
etag() { printf '%s\n' "$hdrs" | sed -n 's/^[Ee][Tt]ag: //p'; }
# state ID: version, status and golden record of an entity, straight from the database
state() { sql "SELECT version || ' ' || status || ' ' || golden::text FROM entity WHERE id = $1"; }
audits() { sql "SELECT count(*) FROM audit_log WHERE action LIKE 'entity.%' OR action = 'subject.erase'"; }

e1=$(ingest M1 Mara Quist mara@quist.example 1970-01-01)
e2=$(ingest M2 Nils Rondo nils@rondo.example 1971-02-02)
e3=$(ingest M3 Oda Stern oda@stern.example 1972-03-03)
r3=$(sql "SELECT id FROM source_record WHERE source_key = 'M3'")

# --- pin / unpin -----------------------------------------------------------------------
expect_status "GET answers the ETag" 200 GET "/v1/entities/$e1" -H "$(auth steward)"
t1=$(etag); v1=$(printf '%s' "$body" | jq .version)
expect_eq "the ETag is the quoted version" "$t1" "\"$v1\""
before=$(state "$e1"); a0=$(audits)
expect_problem "pin with a stale If-Match" 409 estale PUT "/v1/entities/$e1/pins/first_name" \
    -H "$(auth steward)" -H "If-Match: \"$((v1 + 3))\"" "${J[@]}" -d '{"value": "Marah"}'
expect_contains "the problem names both versions" "is at version $v1, not $((v1 + 3))" "$body"
expect_eq "a stale pin changes nothing" "$(state "$e1")" "$before"
expect_eq "a stale pin writes no audit row" "$(audits)" "$a0"
expect_eq "no pin stored" "$(sql "SELECT count(*) FROM golden_pin WHERE entity_id = $e1")" "0"
expect_status "pin with the current If-Match" 200 PUT "/v1/entities/$e1/pins/first_name" \
    -H "$(auth steward)" -H "If-Match: $t1" "${J[@]}" -d '{"value": "Marah"}'
expect_eq "pinned" "$(printf '%s' "$body" | jq -r .golden.first_name)" "Marah"
t2=$(etag)
expect_eq "the reply carries the new ETag" "$t2" "\"$(sql "SELECT version FROM entity WHERE id = $e1")\""
expect_status "GET agrees" 200 GET "/v1/entities/$e1" -H "$(auth steward)"
expect_eq "GET ETag after the pin" "$(etag)" "$t2"
# conditional GET: the current tag is 304 without a body, the old one is the full entity
expect_status "If-None-Match with the current ETag is 304" 304 GET "/v1/entities/$e1" -H "$(auth steward)" -H "If-None-Match: $t2"
expect_eq "304 has no body" "${#body}" "0"
expect_eq "304 names the tag" "$(etag)" "$t2"
expect_status "a weak tag in a list matches too" 304 GET "/v1/entities/$e1" -H "$(auth steward)" -H "If-None-Match: \"999\", W/$t2"
expect_status "If-None-Match with the old ETag is 200" 200 GET "/v1/entities/$e1" -H "$(auth steward)" -H "If-None-Match: $t1"
expect_eq "with the entity" "$(printf '%s' "$body" | jq .version)" "${t2//\"/}"
before=$(state "$e1")
expect_problem "unpin with the old ETag" 409 estale DELETE "/v1/entities/$e1/pins/first_name" \
    -H "$(auth steward)" -H "If-Match: $t1"
expect_eq "a stale unpin changes nothing" "$(state "$e1")" "$before"
expect_problem "body version and If-Match disagree" 409 estale PUT "/v1/entities/$e1/pins/last_name" \
    -H "$(auth steward)" -H "If-Match: $t2" "${J[@]}" -d "{\"value\": \"Q\", \"version\": $v1}"
expect_eq "disagreeing versions change nothing" "$(state "$e1")" "$before"
expect_problem "malformed If-Match" 400 einval DELETE "/v1/entities/$e1/pins/first_name" \
    -H "$(auth steward)" -H 'If-Match: yesterday'
expect_contains "the problem names the header" '"/headers/If-Match"' "$body"
expect_status "unpin with a weak form of the current ETag" 200 DELETE "/v1/entities/$e1/pins/first_name" \
    -H "$(auth steward)" -H "If-Match: W/$t2"
expect_eq "unpinned" "$(printf '%s' "$body" | jq -r .golden.first_name)" "Mara"
expect_status "If-Match: * writes whatever the version" 200 PUT "/v1/entities/$e1/pins/first_name" \
    -H "$(auth steward)" -H 'If-Match: *' "${J[@]}" -d '{"value": "Mari"}'

# --- merge / unmerge / split -----------------------------------------------------------
call GET "/v1/entities/$e1" -H "$(auth steward)"; t1=$(etag)
before1=$(state "$e1"); before2=$(state "$e2"); a0=$(audits)
expect_problem "merge with a stale If-Match" 409 estale POST "/v1/entities/$e1/merge" \
    -H "$(auth steward)" -H 'If-Match: "1"' "${J[@]}" -d "{\"other\": $e2}"
expect_eq "a stale merge changes neither side" "$(state "$e1") | $(state "$e2")" "$before1 | $before2"
expect_eq "a stale merge writes no audit row" "$(audits)" "$a0"
expect_status "merge with the current If-Match" 200 POST "/v1/entities/$e1/merge" \
    -H "$(auth steward)" -H "If-Match: $t1" "${J[@]}" -d "{\"other\": $e2}"
expect_eq "merged" "$(sql "SELECT status FROM entity WHERE id = $e2")" "retired"
tm=$(etag)
expect_eq "merge answers the survivor's ETag" "$tm" "\"$(printf '%s' "$body" | jq .version)\""
before1=$(state "$e1")
expect_problem "unmerge with the pre-merge ETag" 409 estale POST "/v1/entities/$e1/unmerge" \
    -H "$(auth steward)" -H "If-Match: $t1" "${J[@]}" -d '{}'
expect_eq "a stale unmerge changes nothing" "$(state "$e1") $(sql "SELECT status FROM entity WHERE id = $e2")" "$before1 retired"
expect_status "unmerge by the retired id with the survivor's ETag" 200 POST "/v1/entities/$e2/unmerge" \
    -H "$(auth steward)" -H "If-Match: $tm" "${J[@]}" -d '{}'
expect_eq "unmerged" "$(sql "SELECT status FROM entity WHERE id = $e2")" "active"
expect_eq "unmerge answers the survivor's new ETag" "$(etag)" "\"$(sql "SELECT version FROM entity WHERE id = $e1")\""
e4=$(ingest M4 Pia Ulm pia@ulm.example 1974-04-04)
r4=$(sql "SELECT id FROM source_record WHERE source_key = 'M4'")
call GET "/v1/entities/$e1" -H "$(auth steward)"; t1=$(etag)
expect_status "merge by the body's version" 200 POST "/v1/entities/$e1/merge" \
    -H "$(auth steward)" "${J[@]}" -d "{\"other\": $e4, \"version\": ${t1//\"/}}"
tm=$(etag); before1=$(state "$e1")
expect_problem "split with a stale If-Match" 409 estale POST "/v1/entities/$e1/split" \
    -H "$(auth steward)" -H "If-Match: $t1" "${J[@]}" -d "{\"records\": [$r4]}"
expect_eq "a stale split changes nothing" "$(state "$e1") $(sql "SELECT entity_id FROM membership WHERE record_id = $r4 AND active")" "$before1 $e1"
expect_status "split with the current If-Match" 200 POST "/v1/entities/$e1/split" \
    -H "$(auth steward)" -H "If-Match: $tm" "${J[@]}" -d "{\"records\": [$r4]}"
expect_eq "split off" "$(sql "SELECT entity_id FROM membership WHERE record_id = $r4 AND active")" "$(printf '%s' "$body" | jq .moved_to)"
expect_eq "split answers the entity's new ETag" "$(etag)" "\"$(sql "SELECT version FROM entity WHERE id = $e1")\""

# --- subject erasure -------------------------------------------------------------------
call GET "/v1/entities/$e3" -H "$(auth compliance)"; t3=$(etag)
before=$(state "$e3")
expect_problem "erase with a stale If-Match" 409 estale POST "/v1/subjects/$e3/erase" \
    -H "$(auth compliance)" -H "If-Match: \"$(( ${t3//\"/} + 1 ))\"" "${J[@]}" -d '{"reason": "ticket 12"}'
expect_eq "a stale erase changes nothing" "$(state "$e3")" "$before"
expect_eq "the person is still there" "$(sql "SELECT count(*) FROM source_record WHERE id = $r3 AND raw::text LIKE '%Stern%'")" "1"
expect_eq "no tombstone" "$(sql "SELECT count(*) FROM erasure_tombstone")" "0"
expect_status "erase with the current If-Match" 200 POST "/v1/subjects/$e3/erase" \
    -H "$(auth compliance)" -H "If-Match: $t3" "${J[@]}" -d '{"reason": "ticket 12"}'
expect_eq "erased" "$(sql "SELECT status FROM entity WHERE id = $e3")" "erased"
expect_eq "no personal data left" "$(sql "SELECT count(*) FROM source_record WHERE raw::text LIKE '%Stern%'")" "0"

# --- the OpenAPI document --------------------------------------------------------------
expect_status "openapi" 200 GET /v1/openapi.json
for op in "/v1/entities/{id}/merge post" "/v1/entities/{id}/split post" "/v1/entities/{id}/unmerge post" \
    "/v1/entities/{id}/pins/{attr} put" "/v1/entities/{id}/pins/{attr} delete" "/v1/subjects/{id}/erase post"; do
    set -- $op
    expect_eq "openapi: $2 $1 takes If-Match and answers 409" \
        "$(printf '%s' "$body" | jq -r --arg p "$1" --arg m "$2" '[(.paths[$p][$m].parameters[] | select(."$ref" == "#/components/parameters/IfMatch")), .paths[$p][$m].responses["409"]] | length')" "2"
done
expect_eq "openapi: If-Match is a header parameter" "$(printf '%s' "$body" | jq -r '.components.parameters.IfMatch | .in + ":" + .name')" "header:If-Match"

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
e2e_end
