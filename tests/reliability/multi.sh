# Three `mdm serve` processes on one database, as behind a load balancer. Writers send
# overlapping records: every person arrives from three sources, each through a
# different server, and a fourth writer re-sends one source's records through yet
# another server at the same time (same source key, concurrently). Three `mdm publish`
# processes push the changes to a webhook receiver meanwhile. Afterwards:
#   - the entity count equals the number of people, with no duplicate golden record,
#   - every record is linked exactly once,
#   - every outbox event was fanned out once per subscription and delivered, and the
#     receiver never saw the same delivery twice at the same time (nor twice at all).
. "$(dirname "$0")/../e2e/lib.bash"
. "$(dirname "$0")/../e2e/http_lib.bash"
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
people=60
rel_soak && people=1000
receiver=$rel_root/build/san/mdm-test-receiver
secret=multi-process-secret-0123456789
cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "web", "kind": "commerce"}, {"code": "pos", "kind": "pos"},
             {"code": "app", "kind": "commerce"}],
 "publish": {"poll_ms": 50, "backoff_base_ms": 100, "allowed_networks": ["127.0.0.1/32"]},
 "http": {"auth_cache_seconds": 60}}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
admin=$(new_key admin --rate 1000000/s)
for s in web pos app; do echo "$admin" > "$http_tmp/key.$s"; done

have_receiver=""
if [ -x "$receiver" ]; then
    "$receiver" --secret "$secret" --log "$http_tmp/received.ndjson" > "$http_tmp/receiver.out" 2>&1 &
    rpid=$!
    for _ in $(seq 1 100); do grep -q '^ready' "$http_tmp/receiver.out" && break; sleep 0.05; done
    rport=$(sed -n 's/^ready //p' "$http_tmp/receiver.out")
    if [ -n "$rport" ]; then
        have_receiver=1
        expect_exit 0 "subscription to the receiver" "$mdm" subscriptions add \
            "{\"source\": \"pos\", \"url\": \"http://127.0.0.1:$rport/hook\", \"secret\": \"$secret\", \"scope\": \"all\"}"
    fi
fi

spids=()
for i in 1 2 3; do
    http_start || { e2e_fail "server $i starts" "see above"; e2e_end; exit 1; }
    echo "$base" > "$http_tmp/url.$i"
    spids+=("$server_pid")
done
ppids=()
if [ -n "$have_receiver" ]; then
    for i in 1 2 3; do "$mdm" publish --workers 2 > "$http_tmp/publish.$i.log" 2>&1 & ppids+=($!); done
fi

wpids=()
rel_writer 1 web W 1 $people "$http_tmp/url.1" & wpids+=($!)
rel_writer 2 pos P 1 $people "$http_tmp/url.2" & wpids+=($!)
rel_writer 3 app A 1 $people "$http_tmp/url.3" & wpids+=($!)
rel_writer 4 web W 1 $people "$http_tmp/url.2" & wpids+=($!)
wait "${wpids[@]}"

cat "$http_tmp"/w.* > "$http_tmp/all"
expect_eq "every write answered 2xx" "$(awk '$1 !~ /^2/' "$http_tmp/all" | head -3)" ""
expect_eq "records stored (the re-sent ones once)" "$(sql "SELECT count(*) FROM source_record")" "$((3 * people))"
rel_check_people "$people"
expect_eq "every record linked exactly once" \
    "$(sql "SELECT count(*) FROM source_record r WHERE (SELECT count(*) FROM membership m WHERE m.record_id = r.id AND m.active) <> 1")" "0"
expect_eq "each person's three records in one entity" \
    "$(sql "SELECT count(*) FROM (SELECT e.id FROM entity e JOIN membership m ON m.entity_id = e.id AND m.active WHERE e.status = 'active' GROUP BY e.id HAVING count(*) <> 3) d")" "0"

if [ -n "$have_receiver" ]; then
    expect_exit 0 "deliveries drain" "$mdm" publish --drain --timeout 120
    for p in "${ppids[@]}"; do kill -TERM "$p"; done
    prc=0
    for p in "${ppids[@]}"; do wait "$p" || prc=$?; done
    expect_eq "publish workers exit 0" "$prc" "0"
    kill -TERM "$rpid"; wait "$rpid"
    summary=$(grep '^{' "$http_tmp/receiver.out" | tail -n 1)
    echo "receiver: $summary"
    events=$(sql "SELECT count(*) FROM outbox")
    expect_eq "one delivery row per event" "$(sql "SELECT count(*) FROM delivery")" "$events"
    # skipped: nothing left to send to that system (every value came from its own record)
    expect_eq "every delivery acknowledged or skipped" \
        "$(sql "SELECT count(*) FROM delivery WHERE state IN ('acknowledged', 'skipped')")" "$events"
    acked=$(sql "SELECT count(*) FROM delivery WHERE state = 'acknowledged'")
    expect_eq "no delivery sent twice at the same time" "$(printf '%s' "$summary" | jq '.concurrent_duplicates')" "0"
    expect_eq "no delivery sent twice" "$(printf '%s' "$summary" | jq '.duplicates')" "0"
    expect_eq "receiver got every acknowledged delivery" "$(printf '%s' "$summary" | jq '.unique')" "$acked"
    if [ "$acked" -gt 0 ]; then e2e_ok "deliveries were sent ($acked)"; else e2e_fail "deliveries were sent" "0"; fi
else
    e2e_fail "webhook receiver" "$receiver missing (make build/san/mdm-test-receiver)"
fi
rc_all=0
for p in "${spids[@]}"; do
    kill -TERM "$p"; wait "$p" || rc_all=$?
done
server_pid=""
expect_eq "three servers exit 0" "$rc_all" "0"
e2e_end
