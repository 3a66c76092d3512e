# SIGTERM during load loses no acknowledged write: clients upsert records as fast as they
# can; the server is stopped in the middle; every record a client got a 2xx for must be in
# the database, and the server exits 0.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}], "http": {"auth_cache_seconds": 60}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
key=$(new_key source --source web --rate 100000/s)

client() {
    local c=$1 i=0 code
    : > "$http_tmp/acked.$c"
    while [ $i -lt 2000 ]; do
        i=$((i + 1))
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
            -H "Content-Type: application/json" "$base/v1/sources/web/records" \
            -d "{\"source_key\": \"k$c-$i\", \"first_name\": \"Load$c\", \"last_name\": \"Test$i\", \"emails\": [\"k$c.$i@example.com\"]}")
        case $code in
            2*) echo "k$c-$i" >> "$http_tmp/acked.$c" ;;
            000) break ;;  # connection refused: the server is gone
        esac
    done
}
pids=()
for c in 1 2 3 4; do client $c & pids+=($!); done
# stop once a few writes are acknowledged (not after a fixed time: on a loaded machine two
# seconds may see only a handful), so the stop lands in the middle of the load
for _ in $(seq 1 600); do
    [ "$(cat "$http_tmp"/acked.* 2>/dev/null | wc -l)" -gt 20 ] && break
    sleep 0.1
done
http_stop
wait "${pids[@]}"
expect_eq "SIGTERM under load exits 0" "$server_rc" "0"
cat "$http_tmp"/acked.* | sort > "$http_tmp/acked"
acked=$(wc -l < "$http_tmp/acked")
if [ "$acked" -gt 20 ]; then e2e_ok "writes were acknowledged before the stop ($acked)"; else e2e_fail "writes were acknowledged before the stop" "$acked"; fi
sql "SELECT source_key FROM source_record WHERE source = 'web'" | sort > "$http_tmp/stored"
lost=$(comm -23 "$http_tmp/acked" "$http_tmp/stored" | wc -l)
expect_eq "no acknowledged write is lost" "$lost" "0"
if grep -q "event=http_stopped" "$server_log"; then e2e_ok "server logged a clean stop"; else e2e_fail "server logged a clean stop" "$(tail -3 "$server_log")"; fi
e2e_end
