# PostgreSQL stopped and started again while `mdm serve` takes writes, on a throwaway
# cluster this suite starts itself (its own data folder and socket; the shared test
# cluster is never touched). Every write is answered either 2xx (acknowledged) or 503
# problem+json (not done, retry later); afterwards every acknowledged write is stored,
# the 503-answered ones go through when sent again, and the same server process (no
# restart) serves and exits 0.
. "$(dirname "$0")/../e2e/lib.bash"
. "$(dirname "$0")/../e2e/http_lib.bash"
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
per=100
down=2
rel_soak && per=1500 && down=8
[ -n "$rel_pgbin" ] || { e2e_fail "PostgreSQL binaries" "not found"; e2e_end; exit 1; }
# not through expect_exit: rel_cluster_init exports the URL and sets the EXIT trap
if rel_cluster_init >"$http_tmp/init.log" 2>&1; then e2e_ok "throwaway cluster starts"; else
    e2e_fail "throwaway cluster starts" "$(tail -5 "$http_tmp/init.log")"; e2e_end; exit 1; fi
cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}], "http": {"auth_cache_seconds": 600}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
first_pid=$server_pid
admin=$(new_key admin --rate 1000000/s)
echo "$admin" > "$http_tmp/key.web"
echo "$base" > "$http_tmp/url"
call GET /v1/changes -H "Authorization: Bearer $admin"  # the key is now cached
pids=()
for w in 1 2 3; do rel_writer $w web "K$w" 1 $per "$http_tmp/url" & pids+=($!); done
for _ in $(seq 1 300); do
    [ "$(cat "$http_tmp"/w.* 2>/dev/null | wc -l)" -ge $((per / 2)) ] && break
    sleep 0.1
done
expect_exit 0 "database stops under load" rel_cluster_stop fast
sleep "$down"
expect_status "healthz while the database is down" 200 GET /healthz
expect_exit 0 "database starts again" rel_cluster_start
wait "${pids[@]}"

cat "$http_tmp"/w.* > "$http_tmp/all"
expect_eq "every write answered" "$(wc -l < "$http_tmp/all")" "$((3 * per))"
bad_answers=$(awk '$1 !~ /^(200|201|503)$/' "$http_tmp/all" | head -3)
expect_eq "answers are 2xx or 503 only" "$bad_answers" ""
# the server's own account of an unexpected answer (its error lines name the cause)
[ -z "$bad_answers" ] || grep -E 'event=(http_db_error|http_error|db_error)' "$server_log" | head -20
n503=$(awk '$1 == 503' "$http_tmp/all" | wc -l)
if [ "$n503" -gt 0 ]; then e2e_ok "writes during the outage answered 503 ($n503)"; else e2e_fail "writes during the outage answered 503" "none: the outage was missed"; fi
awk '$1 ~ /^2/ {print $2}' "$http_tmp/all" | sort > "$http_tmp/acked"
sql "SELECT source_key FROM source_record" | sort > "$http_tmp/stored"
expect_eq "no acknowledged write lost" "$(comm -23 "$http_tmp/acked" "$http_tmp/stored" | wc -l)" "0"
awk '$1 == 503 {print $2}' "$http_tmp/all" | sort > "$http_tmp/refused"
echo "pgrestart: $(wc -l < "$http_tmp/acked") acknowledged, $n503 answered 503, of which $(comm -12 "$http_tmp/refused" "$http_tmp/stored" | wc -l) had committed anyway (commit acknowledgement lost with the connection)"
# the refused writes go through once the database is back (after the threads reconnect)
retry_bad=0
while read -r k; do
    n=${k#*-}
    p=$(rel_person "$n")
    for _ in 1 2 3 4 5; do
        call POST /v1/sources/web/records -H "Authorization: Bearer $admin" \
            -H "Content-Type: application/json" -d "{\"source_key\": \"$k\", ${p#\{}"
        [ "$status" = 503 ] || break
        sleep 1.1
    done
    [[ $status == 2* ]] || retry_bad=$((retry_bad + 1))
done < "$http_tmp/refused"
expect_eq "503-answered writes succeed when sent again" "$retry_bad" "0"
expect_eq "every record stored in the end" "$(sql "SELECT count(*) FROM source_record")" "$((3 * per))"
rel_check_people "$per"
expect_status "ready after the restart" 200 GET /readyz
expect_eq "same server process throughout" "$server_pid" "$first_pid"
http_stop
expect_eq "server exits 0" "$server_rc" "0"
e2e_end
