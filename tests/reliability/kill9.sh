# kill -9 of `mdm serve` under load, then a restart: three writers send the same people
# from three sources while a change-feed consumer follows /v1/changes; the server is
# killed with SIGKILL in the middle and started again (writers and consumer follow it).
# Afterwards every acknowledged write is stored, the feed delivered every outbox event
# exactly once and in order (nothing skipped across the crash), the entity count equals
# the number of people, and no person has two golden records.
. "$(dirname "$0")/../e2e/lib.bash"
. "$(dirname "$0")/../e2e/http_lib.bash"
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
people=90
rel_soak && people=1500
cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}, {"code": "pos", "kind": "pos"},
             {"code": "app", "kind": "commerce"}],
 "http": {"auth_cache_seconds": 60}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin --rate 1000000/s)
for s in web pos app; do echo "$admin" > "$http_tmp/key.$s"; done
echo "$base" > "$http_tmp/url"

consumer() {
    local cursor=0 page target
    : > "$http_tmp/seen"
    while :; do
        if [ -f "$http_tmp/target" ]; then
            target=$(cat "$http_tmp/target")
            [ "$cursor" -ge "$target" ] && break
        fi
        page=$(curl -s --max-time 10 -H "Authorization: Bearer $admin" \
            "$(cat "$http_tmp/url")/v1/changes?after=$cursor&limit=200&wait=1") || { sleep 0.1; continue; }
        printf '%s' "$page" | jq -e '.next' >/dev/null 2>&1 || { sleep 0.1; continue; }
        printf '%s' "$page" | jq -r '.events[].seq' >> "$http_tmp/seen"
        cursor=$(printf '%s' "$page" | jq -r '.next')
    done
}
consumer & cpid=$!
pids=()
rel_writer 1 web W 1 $people "$http_tmp/url" & pids+=($!)
rel_writer 2 pos P 1 $people "$http_tmp/url" & pids+=($!)
rel_writer 3 app A 1 $people "$http_tmp/url" & pids+=($!)

# wait until a fair share is acknowledged, then SIGKILL
for _ in $(seq 1 300); do
    [ "$(cat "$http_tmp"/w.* 2>/dev/null | wc -l)" -ge $((people / 2)) ] && break
    sleep 0.1
done
before=$(cat "$http_tmp"/w.* | wc -l)
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=""
sleep 0.5
http_start || { e2e_fail "server restarts" "see above"; e2e_end; exit 1; }
echo "$base" > "$http_tmp/url"
wait "${pids[@]}"
sql "SELECT coalesce(max(seq), 0) FROM outbox" > "$http_tmp/target.tmp"
mv "$http_tmp/target.tmp" "$http_tmp/target"
wait "$cpid"

if [ "$before" -gt 10 ] && [ "$before" -lt $((3 * people)) ]; then
    e2e_ok "killed mid-load ($before of $((3 * people)) writes answered)"
else
    e2e_fail "killed mid-load" "$before of $((3 * people)) answered before the kill"
fi
cat "$http_tmp"/w.* > "$http_tmp/all"
bad=$(awk '$1 !~ /^2/' "$http_tmp/all" | sort | uniq -c | head -5)
expect_eq "every write answered 2xx (after retrying refused connections)" "$bad" ""
awk '$1 ~ /^2/ {print $2}' "$http_tmp/all" | sort > "$http_tmp/acked"
sql "SELECT source_key FROM source_record" | sort > "$http_tmp/stored"
expect_eq "no acknowledged write lost" "$(comm -23 "$http_tmp/acked" "$http_tmp/stored" | wc -l)" "0"
expect_eq "every record stored" "$(wc -l < "$http_tmp/stored")" "$((3 * people))"
sql "SELECT seq FROM outbox ORDER BY seq" > "$http_tmp/outbox"
expect_eq "feed delivered every event (none skipped)" \
    "$(sort -n "$http_tmp/seen" | uniq | comm -13 - "$http_tmp/outbox" | wc -l)" "0"
expect_eq "feed delivered no event twice" "$(sort -n "$http_tmp/seen" | uniq -d | wc -l)" "0"
expect_eq "feed in seq order" "$(sort -n -c "$http_tmp/seen" 2>&1)" ""
rel_check_people "$people"
expect_eq "every record linked once" \
    "$(sql "SELECT count(*) FROM source_record r WHERE (SELECT count(*) FROM membership m WHERE m.record_id = r.id AND m.active) <> 1")" "0"
http_stop
expect_eq "restarted server exits 0 (no leak)" "$server_rc" "0"
e2e_end
