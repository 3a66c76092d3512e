# Record counters that tell the truth across processes (issue 22 item 2): two `mdm serve`
# processes on one database, records through both (single upserts and deletes through
# one, an NDJSON batch through the other) plus `mdm load` runs, and /metrics on either
# process shows the same mdm_records_total for every path (http, batch, load, resolve)
# and the numbers each path was given; the review backlog by age and the age of the
# oldest open item agree with the queue; promtool finds nothing wrong on either process.
# Data: mdm synth -> mdm load -> mdm resolve.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
tmp=$http_tmp

e2e_pipeline "$tmp" 80 9
expect_exit 0 "load crm (and resolve)" "$mdm" load --source crm "$tmp/data/crm.csv"
load1=$out
admin=$(new_key admin --name counters)
A=(-H "Authorization: Bearer $admin")

http_start || { e2e_end; exit 1; }
base_a=$base pid_a=$server_pid
http_start || { e2e_end; exit 1; }
base_b=$base pid_b=$server_pid
stop_a() { kill -TERM "$pid_a" 2>/dev/null; wait "$pid_a"; rc_a=$?; }
metrics() { curl -s "$1/metrics"; }
total() { metrics "$1" | awk -v m="mdm_records_total{via=\"$2\",result=\"$3\"}" '$1 == m {print $2}'; }
series() { metrics "$1" | grep '^mdm_records_total{' | sort; }

# the web shop's customers as JSON objects in its own layout
python3 - "$tmp/data/commerce.csv" "$tmp/web.ndjson" <<'PY'
import csv, json, sys
with open(sys.argv[1], newline='') as f, open(sys.argv[2], 'w') as out:
    for row in csv.DictReader(f):
        out.write(json.dumps(row) + '\n')
PY
head -n 3 "$tmp/web.ndjson" > "$tmp/single.ndjson"
sed -n '4,8p' "$tmp/web.ndjson" > "$tmp/batch.ndjson"
echo '{"given_name": "No", "family_name": "Key"}' >> "$tmp/batch.ndjson"

# process A: three single upserts, one of them sent twice (unchanged), then a delete
base=$base_a
n=0
while IFS= read -r line; do
    call POST /v1/sources/commerce/records "${A[@]}" -H 'Content-Type: application/json' -d "$line"
    [ "$status" = 201 ] && n=$((n + 1))
done < "$tmp/single.ndjson"
expect_eq "three new records through process A" "$n" "3"
call POST /v1/sources/commerce/records "${A[@]}" -H 'Content-Type: application/json' -d "$(head -n 1 "$tmp/single.ndjson")"
expect_eq "the first again: unchanged" "$(jq -r .decision <<<"$body")" "unchanged"
key=$(jq -r '.account_id' <<<"$(sed -n 3p "$tmp/single.ndjson")")
expect_status "a delete through process A" 200 DELETE "/v1/sources/commerce/records/$key" "${A[@]}"
# process B: a batch of six lines, one refused (no key)
base=$base_b
expect_status "a batch through process B" 200 POST /v1/sources/commerce/records:batch "${A[@]}" \
    -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/batch.ndjson"
batch_ok=$(printf '%s\n' "$body" | jq -s '[.[] | select(.status == 200 or .status == 201)] | length')
expect_eq "five of six lines stored" "$batch_ok" "5"
# and two commands while both serve: a load without resolution, then the resolution
expect_exit 0 "load loyalty while both serve" "$mdm" load --no-resolve --source loyalty "$tmp/data/loyalty.csv"
load2=$out
expect_exit 0 "resolve" "$mdm" resolve

expect_eq "process A and process B show the same totals" "$(series "$base_a")" "$(series "$base_b")"
for b in "$base_a" "$base_b"; do
    expect_eq "http: 5 received (4 upserts, 1 delete) on $b" "$(total "$b" http received)" "5"
    expect_eq "http: 1 unchanged, 1 deleted on $b" "$(total "$b" http unchanged) $(total "$b" http deleted)" "1 1"
    expect_eq "http: 3 resolved on $b" \
        "$(($(total "$b" http created) + $(total "$b" http linked) + $(total "$b" http merged) + $(total "$b" http review)))" "3"
    expect_eq "batch: 6 received, 1 rejected on $b" "$(total "$b" batch received) $(total "$b" batch rejected)" "6 1"
done
crm_rows=$(sed -n 's/^loaded [^:]*: \([0-9]*\) rows, \([0-9]*\) new.*/\1 \2/p' <<<"$load1")
loy_rows=$(sed -n 's/^loaded [^:]*: \([0-9]*\) rows, \([0-9]*\) new.*/\1 \2/p' <<<"$load2")
read -r crm_n crm_new <<<"$crm_rows"
read -r loy_n loy_new <<<"$loy_rows"
expect_eq "load: every row of both files received" "$(total "$base_a" load received)" "$((crm_n + loy_n))"
expect_eq "load: the new records wait for resolution" "$(total "$base_b" load pending)" "$((crm_new + loy_new))"
# each waiting record resolved once: created, linked, merged, updated or sent to review (the
# set-based path, when it runs, counts review items on top of the records it created)
review=$(total "$base_b" resolve review)
resolved=$(( $(total "$base_b" resolve created) + $(total "$base_b" resolve linked) + $(total "$base_b" resolve merged) + $(total "$base_b" resolve updated) + review ))
expect_eq "resolve: every waiting record resolved once" \
    "$([ "$resolved" -ge "$((crm_new + loy_new))" ] && [ "$resolved" -le "$((crm_new + loy_new + review))" ] && echo yes)" "yes"

# the review backlog by age and its oldest item, as the queue holds them
open=$(sql "SELECT count(*) FROM review_item WHERE status IN ('open', 'claimed', 'deferred')")
gauge() { metrics "$1" | awk -v m="$2" '$1 == m {print $2}'; }
expect_eq "the backlog by age adds up to the queue depth" \
    "$(metrics "$base_a" | awk '/^mdm_review_backlog\{/ {s += $2} END {print s + 0}')" "$open"
expect_eq "all of it under a day old" "$(gauge "$base_b" 'mdm_review_backlog{age="under_1d"}')" "$open"
oldest=$(gauge "$base_a" mdm_review_oldest_open_age_seconds)
want=$(sql "SELECT coalesce(floor(extract(epoch FROM now() - min(created_at))), 0) FROM review_item WHERE status IN ('open', 'claimed', 'deferred')")
expect_eq "the age of the oldest open item" "$([ "${oldest%.*}" -ge "$((want - 5))" ] && [ "${oldest%.*}" -le "$((want + 5))" ] && echo yes)" "yes"

command -v promtool >/dev/null || e2e_fail "promtool is installed" "scripts/deps.sh installs prometheus"
expect_eq "promtool check metrics on process A" "$(metrics "$base_a" | promtool check metrics 2>&1)" ""
expect_eq "promtool check metrics on process B" "$(metrics "$base_b" | promtool check metrics 2>&1)" ""

stop_a
http_stop
expect_eq "both processes exit cleanly" "$rc_a $server_rc" "0 0"
e2e_end
