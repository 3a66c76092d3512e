# Physical backup drill (docs/OPERATIONS.md, "Backup and restore"): a throwaway cluster of
# the suite's own (rel_cluster_init: the shared test cluster holds other suites' and the
# benchmarks' databases, which a cluster-wide copy would drag along) is populated (bulk
# load, HTTP upserts with consent, API keys, audit rows),
# copied with `pg_basebackup -X stream` while `mdm serve` keeps writing, and a second
# cluster is started from the copy on its own socket directory. Then
#   - the writes made during the backup are in the copy as a gapless prefix (the
#     writer is sequential: a point-in-time copy, nothing half-done);
#   - everything written before the backup is identical (source records, golden
#     records with their version, lineage: md5 over the rows), the entity count is the
#     truth, the copy's audit chain verifies and its head is a row of the original's;
#   - `mdm serve` on the copy answers a golden record with the original's API key and
#     takes new writes (sequences are physical: no id collides).
. "$(dirname "$0")/../e2e/lib.bash"
. "$(dirname "$0")/../e2e/http_lib.bash"
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
rows=1000
rel_soak && rows=50000
rel_cluster_init || { e2e_fail "throwaway cluster starts" "initdb/pg_ctl failed"; e2e_end; exit 1; }
orig_url=$MDM_DATABASE_URL
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

# the drill: the backup is taken while a writer keeps upserting
backup=$http_tmp/backup
copy_run=$http_tmp/copy-run
mkdir -p "$backup" "$copy_run"
[ ${#rel_as_pg[@]} -gt 0 ] && chown postgres: "$backup" "$copy_run"
( for n in $(seq 1 40); do
      p=$(rel_person $((rows + n)))
      curl -s -o /dev/null -H "Authorization: Bearer $admin" -H "Content-Type: application/json" \
          "$base/v1/sources/web/records" -d "{\"source_key\": \"during-$n\", ${p#\{}"
  done ) &
writer=$!
t0=$(date +%s.%N)
expect_exit 0 "pg_basebackup -X stream (under writes)" "${rel_as_pg[@]}" "$rel_pgbin/pg_basebackup" \
    -h "$http_tmp/cluster/run" -U mdm -D "$backup/pg" -X stream -c fast
t1=$(date +%s.%N)
wait "$writer"
http_stop
expect_eq "server exits 0" "$server_rc" "0"
echo "basebackup drill: $rows records, backup $(du -sk "$backup/pg" | cut -f1) kB in $(echo "$t1 - $t0" | bc) s"
expect_eq "the backup carries its label (not a plain copy)" "$(test -f "$backup/pg/backup_label" && echo yes)" "yes"

# start the copy on its own socket directory; its postgresql.conf still names the
# original's, so the command line overrides it
copy_pgctl() {
    "${rel_as_pg[@]}" "$rel_pgbin/pg_ctl" -D "$backup/pg" -l "$backup/pg.log" -w -t 60 \
        -o "-k $copy_run -c listen_addresses=''" "$@" >/dev/null
}
t0=$(date +%s.%N)
expect_exit 0 "cluster started from the backup" copy_pgctl start
t1=$(date +%s.%N)
trap 'copy_pgctl stop -m immediate 2>/dev/null; rel_pgctl stop -m immediate 2>/dev/null; http_cleanup' EXIT
echo "basebackup drill: the copy started (recovery to end of backup) in $(echo "$t1 - $t0" | bc) s"
copy_url="postgresql:///mdm?host=$copy_run&user=mdm"
expect_eq "the copy is a primary, not in recovery" "$(psql -X -At "$copy_url" -c "SELECT pg_is_in_recovery()")" "f"

# At rest now: the original has every write; the copy has those up to the end of the
# backup, and nothing half-done.
in_copy() { psql -X -At "$copy_url" -c "$1"; }
during_sql="SELECT count(*), coalesce(max(substring(source_key FROM 8)::int), 0) FROM source_record WHERE source_key LIKE 'during-%'"
during_orig=$(sql "$during_sql") during_copy=$(in_copy "$during_sql")
echo "basebackup drill: writes during the backup: original ${during_orig%|*}, copy ${during_copy%|*}"
expect_eq "every write of the writer reached the original" "$during_orig" "40|40"
expect_eq "the copy holds a gapless prefix of the writes made during the backup" \
    "${during_copy%|*}" "${during_copy#*|}"
before_backup="r.source_key NOT LIKE 'during-%'"
records_sql="SELECT count(*) || ':' || md5(string_agg(r.id || r.source || r.source_key || r.raw::text || r.content_hash, '|' ORDER BY r.id)) FROM source_record r WHERE $before_backup"
expect_eq "source records loaded before the backup, identical" "$(in_copy "$records_sql")" "$(sql "$records_sql")"
golden_sql="SELECT count(*) || ':' || md5(string_agg(e.id || ':' || e.status || ':' || e.version || ':' || e.golden::text, '|' ORDER BY e.id)) FROM entity e WHERE NOT EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = e.id AND NOT ($before_backup))"
expect_eq "golden records of the people loaded before the backup, identical" "$(in_copy "$golden_sql")" "$(sql "$golden_sql")"
no_during="NOT EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = e.id AND m.active AND NOT ($before_backup))"
with_during="SELECT count(DISTINCT m.entity_id) FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.active AND NOT ($before_backup)"
expect_eq "entity count of the copy: the original's before the backup plus the copied writes" \
    "$(in_copy "SELECT count(*) FROM entity e WHERE status = 'active'")" \
    "$(( $(sql "SELECT count(*) FROM entity e WHERE status = 'active' AND $no_during") + $(in_copy "$with_during") ))"
lineage_sql="SELECT count(*) || ':' || md5(string_agg(g.entity_id || g.attr || g.value::text || coalesce(g.source_record_id, 0), '|' ORDER BY g.entity_id, g.attr)) FROM golden_value g JOIN entity e ON e.id = g.entity_id WHERE NOT EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = e.id AND NOT ($before_backup))"
expect_eq "lineage of those golden records, identical" "$(in_copy "$lineage_sql")" "$(sql "$lineage_sql")"
head_copy=$(MDM_DATABASE_URL=$copy_url "$mdm" audit verify --json | jq -r '.head')
if [ "$(in_copy "SELECT count(*) FROM audit_log")" = 0 ]; then
    e2e_ok "no audit row before the backup ended (nothing to match)"
else
    expect_eq "the copy's audit head is a row of the original's chain" \
        "$(sql "SELECT count(*) FROM audit_log WHERE hash = '$head_copy'")" "1"
fi
export MDM_DATABASE_URL=$copy_url
expect_exit 0 "audit chain verifies on the copy" "$mdm" audit verify
expect_exit 0 "migrate on the copy is a no-op" "$mdm" migrate
entity=$(sql "SELECT id FROM entity WHERE status = 'active' ORDER BY id LIMIT 1")
http_start || { e2e_fail "server starts on the copy" "see above"; e2e_end; exit 1; }
expect_status "ready on the copy" 200 GET /readyz
call GET "/v1/entities/$entity" "${A[@]}"
expect_eq "golden record served from the copy (original API key)" "$status" "200"
expect_eq "same golden record as the original" "$(printf '%s' "$body" | jq -cS '.golden')" \
    "$(MDM_DATABASE_URL=$orig_url sql "SELECT golden FROM entity WHERE id = $entity" | jq -cS .)"
p=$(rel_person 999999)
call POST /v1/sources/web/records "${A[@]}" -H "Content-Type: application/json" \
    -d "{\"source_key\": \"after-backup\", ${p#\{}"
expect_eq "new writes on the copy (sequences copied)" "$status" "201"
http_stop
expect_eq "server on the copy exits 0" "$server_rc" "0"
expect_exit 0 "audit chain still verifies after new writes" "$mdm" audit verify
copy_pgctl stop -m fast
e2e_end
