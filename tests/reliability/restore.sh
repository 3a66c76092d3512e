# Restore drill (docs/OPERATIONS.md, "Backup and restore"): a populated database (bulk
# load, HTTP upserts with consent, a merge, API keys, audit rows) is dumped with
# `pg_dump -Fc`, restored with `pg_restore` into a new database, and then
#   - every table holds the same rows (md5 of every row of every table),
#   - the audit hash chain verifies with the head hash of the original,
#   - `mdm serve` on the restored database answers golden records, search and the
#     change feed exactly as the original did, with the API keys of the original,
#   - new writes continue (sequences were restored: no id collides).
. "$(dirname "$0")/../e2e/lib.bash"
. "$(dirname "$0")/../e2e/http_lib.bash"
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
rows=1000
rel_soak && rows=50000
cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}, {"code": "pos", "kind": "pos"}],
 "http": {"auth_cache_seconds": 60}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
for ((n = 1; n <= rows; n++)); do
    p=$(rel_person $((n % (rows / 2) + 1)))
    echo "{\"source_key\": \"L$n\", ${p#\{}"
done > "$http_tmp/load.ndjson"
expect_exit 0 "bulk load $rows records" "$rel_root/build/rel/mdm" load --source web --quiet "$http_tmp/load.ndjson"
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin --rate 100000/s)
A=(-H "Authorization: Bearer $admin")
for n in 1 2 3; do
    p=$(rel_person "$n")
    call POST /v1/sources/pos/records "${A[@]}" -H "Content-Type: application/json" \
        -d "{\"source_key\": \"S$n\", \"consents\": [{\"purpose\": \"marketing\", \"channel\": \"email\", \"status\": \"granted\", \"captured_at\": \"2026-05-0${n}T10:00:00Z\"}], ${p#\{}"
done
expect_eq "upserts with consent (new records)" "$status" "201"
http_stop
entities=$(sql "SELECT count(*) FROM entity WHERE status = 'active'")
expect_eq "entities of the original" "$entities" "$((rows / 2))"
snap_sql="SELECT string_agg(t.table_name || '=' || (xpath('/row/h/text()', query_to_xml(format('SELECT count(*) || '':'' || md5(coalesce(string_agg(x::text, ''|'' ORDER BY x::text), '''')) AS h FROM %I x', t.table_name), false, true, '')))[1]::text, ' ' ORDER BY t.table_name) FROM information_schema.tables t WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
orig_snap=$(sql "$snap_sql")
head=$("$mdm" audit verify --json | jq -r '.head // .head_hash // empty')
orig_entity=$(sql "SELECT id FROM entity WHERE status = 'active' ORDER BY id LIMIT 1")

# the drill
restored=${MDM_TEST_DB:-mdm_restore}_restored
"$rel_root/scripts/pg.sh" dropdb "$restored" >/dev/null 2>&1
# dropped through the original database: the drill points MDM_DATABASE_URL at the restored
# one below, and a database cannot drop itself
admin_url=$MDM_DATABASE_URL
trap 'MDM_DATABASE_URL=$admin_url "$rel_root/scripts/pg.sh" dropdb "$restored" >/dev/null 2>&1; http_cleanup' EXIT
t0=$(date +%s.%N)
expect_exit 0 "pg_dump -Fc" pg_dump -Fc -f "$http_tmp/mdm.dump" "$MDM_DATABASE_URL"
expect_exit 0 "createdb for the restore" "$rel_root/scripts/pg.sh" createdb "$restored"
restored_url=$("$rel_root/scripts/pg.sh" url-for "$restored")
expect_exit 0 "pg_restore" pg_restore --no-owner --exit-on-error -d "$restored_url" "$http_tmp/mdm.dump"
t1=$(date +%s.%N)
echo "restore drill: $rows records, dump $(du -k "$http_tmp/mdm.dump" | cut -f1) kB, dump+restore $(echo "$t1 - $t0" | bc) s"
orig_url=$MDM_DATABASE_URL
export MDM_DATABASE_URL=$restored_url
expect_eq "every table restored row for row" "$(sql "$snap_sql")" "$orig_snap"
expect_exit 0 "migrate on the restored database is a no-op" "$mdm" migrate
expect_eq "migrations unchanged" "$(sql "$snap_sql")" "$orig_snap"
if [ -n "$head" ]; then
    expect_exit 0 "audit chain verifies against the original head" "$mdm" audit verify --expect-head "$head"
else
    expect_exit 0 "audit chain verifies" "$mdm" audit verify
fi
http_start || { e2e_fail "server starts on the restore" "see above"; e2e_end; exit 1; }
expect_status "ready on the restored database" 200 GET /readyz
call GET "/v1/entities/$orig_entity" "${A[@]}"
restored_golden=$(printf '%s' "$body" | jq -cS '.golden')
expect_eq "golden record served from the restore (original API key)" "$status" "200"
orig_golden=$(MDM_DATABASE_URL=$orig_url sql "SELECT golden FROM entity WHERE id = $orig_entity" | jq -cS .)
expect_eq "same golden record as the original" "$restored_golden" "$orig_golden"
call GET "/v1/entities?email=p2%40rel.example.com" "${A[@]}"
expect_eq "search on the restore" "$(printf '%s' "$body" | jq '.items // .entities | length')" "1"
call GET "/v1/changes?after=0&limit=1000" "${A[@]}"
expect_eq "change feed on the restore" "$(printf '%s' "$body" | jq '.events | length')" \
    "$(MDM_DATABASE_URL=$orig_url sql "SELECT least(count(*), 1000) FROM outbox")"
p=$(rel_person 999999)
call POST /v1/sources/web/records "${A[@]}" -H "Content-Type: application/json" \
    -d "{\"source_key\": \"after-restore\", ${p#\{}"
expect_eq "new writes after the restore (sequences restored)" "$status" "201"
http_stop
expect_eq "server on the restore exits 0" "$server_rc" "0"
e2e_end
