# Bounded load on loopback with wrk against the release build of `mdm serve`: a retail
# mix (tests/reliability/load.lua: reads by id, searches, upserts, matches) in two equal
# phases after a warm-up. Passes when no request failed (no socket error, no status
# >= 400) and the server's resident memory is flat: the second phase may not grow it by
# more than 10% (+4 MiB slack) over the first. Prints throughput, p50/p90/p99 and
# memory. `make test`: 2 x 8 s; `make soak` (MDM_SOAK=1): 2 x 60 s on more data.
# MDM_LOAD_SECONDS overrides the phase length.
. "$(dirname "$0")/../e2e/lib.bash"
. "$(dirname "$0")/../e2e/http_lib.bash"
. "$(dirname "$0")/lib.bash"
mdm=$rel_root/build/rel/mdm
people=1000 secs=8 conns=8
rel_soak && people=20000 secs=60 conns=16
secs=${MDM_LOAD_SECONDS:-$secs}
command -v wrk >/dev/null || { e2e_fail "wrk" "not installed (scripts/deps.sh)"; e2e_end; exit 1; }
cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}], "threads": 2,
 "http": {"auth_cache_seconds": 60, "max_connections_per_ip": 0}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
for ((n = 1; n <= people; n++)); do
    p=$(rel_person "$n")
    echo "{\"source_key\": \"L$n\", ${p#\{}"
done > "$http_tmp/people.ndjson"
t0=$(date +%s.%N)
expect_exit 0 "preload $people people" "$mdm" load --source web --quiet "$http_tmp/people.ndjson"
t1=$(date +%s.%N)
echo "load: bulk load of $people records $(echo "scale=1; $people / ($t1 - $t0)" | bc) records/s"
{ echo "return {"; sql "SELECT id FROM entity WHERE status = 'active'" | sed 's/$/,/'; echo "}"; } > "$http_tmp/ids.lua"
MDM_BIN=$mdm http_start --config "$http_tmp/mdm.json" || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
export MDM_KEY=$(new_key admin --rate 1000000/s) MDM_IDS=$http_tmp/ids.lua MDM_PEOPLE=$people
lua=$(dirname "$0")/load.lua
run_phase() { # NAME SECONDS
    MDM_SEED=$RANDOM wrk -t2 -c"$conns" -d"$2s" --timeout 10s -s "$lua" "$base" > "$http_tmp/wrk.$1" 2>&1
    grep '^LOAD' "$http_tmp/wrk.$1" | sed "s/^LOAD/load: $1/"
}
run_phase warmup 2 >/dev/null
rss0=$(rel_rss "$server_pid")
run_phase phase1 "$secs"
rss1=$(rel_rss "$server_pid")
run_phase phase2 "$secs"
rss2=$(rel_rss "$server_pid")
echo "load: rss after warm-up ${rss0} kB, after phase 1 ${rss1} kB, after phase 2 ${rss2} kB"
for ph in phase1 phase2; do
    line=$(grep '^LOAD' "$http_tmp/wrk.$ph")
    errs=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$line")
    reqs=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
    expect_eq "$ph: no failed request" "${errs:-missing}" "0"
    if [ "${reqs:-0}" -gt 100 ]; then e2e_ok "$ph: load was applied ($reqs requests)"; else e2e_fail "$ph: load was applied" "${reqs:-0} requests: $(tail -5 "$http_tmp/wrk.$ph")"; fi
done
limit=$((rss1 + rss1 / 10 + 4096))
if [ "$rss2" -le "$limit" ]; then e2e_ok "memory flat (${rss1} -> ${rss2} kB)"; else e2e_fail "memory flat" "${rss1} -> ${rss2} kB (limit $limit)"; fi
call GET /metrics
missing=""
for m in $(grep -o 'mdm_[a-z_]*' "$rel_root/docs/grafana-mdm.json" | sort -u); do
    # a series, or a declared family without series yet (per-subscription SLA metrics)
    grep -qE "^($m[{ ]|# TYPE $m )" <<<"$body" || missing="$missing $m"
done
expect_eq "every metric of docs/grafana-mdm.json is served" "$missing" ""
expect_contains "metrics count the upserts" 'mdm_http_requests_total{method="POST",route="/v1/sources/{source}/records",status="20' "$body"
http_stop
expect_eq "server exits 0" "$server_rc" "0"
echo "load: database $(sql "SELECT pg_size_pretty(pg_database_size(current_database()))") for $(sql "SELECT count(*) FROM source_record") records"
e2e_end
