# `mdm synth`, `mdm link`, `mdm train`, `mdm explain`, `mdm eval`: outputs, exit codes and
# error messages (no database is used).
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect_exit 0 "link --help" "$mdm" link --help
expect_contains "link help names --pairs" "--pairs" "$out"
expect_exit 0 "synth" "$mdm" synth --people 300 --seed 4 --out "$tmp/s"
expect_contains "synth summary" "people=300" "$out"
for f in crm loyalty commerce erp pos truth; do
    [ -s "$tmp/s/$f.csv" ] && e2e_ok "synth wrote $f.csv" || e2e_fail "synth wrote $f.csv" "missing"
done
first=$(sed -n 2p "$tmp/s/crm.csv")
"$mdm" synth --people 300 --seed 4 --out "$tmp/s2" 2>/dev/null
expect_eq "synth is deterministic" "$(sed -n 2p "$tmp/s2/crm.csv")" "$first"
expect_exit 2 "synth without --out" "$mdm" synth --people 10

inputs=("$tmp/s/crm.csv" "$tmp/s/loyalty.csv" "$tmp/s/commerce.csv" "$tmp/s/erp.csv" "$tmp/s/pos.csv")
cat >"$tmp/small.json" <<JSON
$(python3 -c "import json,sys; d=json.load(open('$root/demo/synth.json')); d['training']['u_samples']=20000; print(json.dumps(d))" 2>/dev/null || cat "$root/demo/synth.json")
JSON
expect_exit 0 "train" "$mdm" train --config "$tmp/small.json" "${inputs[@]}" --out "$tmp/model.json" --threads 2
expect_contains "train summary" "em_iterations=" "$out"
expect_contains "model holds trained parameters" '"trained"' "$(cat "$tmp/model.json")"
expect_exit 0 "link with the trained model" "$mdm" link --model "$tmp/model.json" "${inputs[@]}" --out "$tmp/cl.csv" --pairs "$tmp/pairs.csv"
expect_contains "link summary" "clusters=" "$out"
records=$(($(cat "${inputs[@]}" | wc -l) - 5))
expect_eq "every record once in clusters.csv" "$(($(wc -l <"$tmp/cl.csv") - 1))" "$records"
expect_eq "clusters.csv header" "$(head -1 "$tmp/cl.csv")" "source,record_id,cluster_id"
expect_eq "pairs.csv header" "$(head -1 "$tmp/pairs.csv")" "source_a,record_id_a,source_b,record_id_b,match_weight,probability,guard"
expect_exit 0 "eval against truth" "$mdm" eval "$tmp/cl.csv" --truth "$tmp/s/truth.csv" --truth-column person_id --all-pairs --json
f1=$(echo "$out" | sed 's/.*"f1":\([0-9.]*\).*/\1/')
# floor for the harder generator of issue 15 (namesakes, family-first ERP names, twins)
awk -v f="$f1" 'BEGIN { exit !(f >= 0.80) }' && e2e_ok "synth F1 >= 0.80 ($f1)" || e2e_fail "synth F1" "$f1"
# --misses: every true pair left apart, with its cause, adds up to the recall of eval
expect_exit 0 "link --misses" "$mdm" link --model "$tmp/model.json" "${inputs[@]}" --out "$tmp/cl.csv" --misses "$tmp/misses.csv" --truth "$tmp/s/truth.csv" --truth-column person_id --quiet
expect_contains "misses summary" "misses: true_pairs=" "$out"
expect_eq "misses.csv header" "$(head -1 "$tmp/misses.csv")" "class,source_a,record_id_a,source_b,record_id_b,probability,match_weight,levels"
missed=$(echo "$out" | sed -n 's/.*misses: true_pairs=[0-9]* missed=\([0-9]*\).*/\1/p')
expect_eq "one line per missed pair" "$(tail -n +2 "$tmp/misses.csv" | grep -cv '^wrong_')" "$missed"
recall=$(echo "$out" | sed -n 's/.*misses: .* recall=\([0-9.]*\).*/\1/p')
"$mdm" eval "$tmp/cl.csv" --truth "$tmp/s/truth.csv" --truth-column person_id --all-pairs --json >"$tmp/ev.json"
expect_eq "the same recall as eval" "$recall" "$(sed 's/.*"recall":\([0-9.]*\).*/\1/' "$tmp/ev.json" | awk '{ printf "%.4f", $1 }')"
expect_eq "known classes only" "$(tail -n +2 "$tmp/misses.csv" | cut -d, -f1 | grep -cvE '^(not_allowed|never_compared|block_windowed|vetoed|below_review|review_band|refused_[a-z_]+|wrong_link|wrong_cluster)$')" "0"
# wrong merges: one line per pair placed together that the truth keeps apart (eval's
# false positives), each pair in one cluster and of two people
wrong=$(echo "$out" | sed -n 's/.*misses: wrong_pairs=\([0-9]*\) .*/\1/p')
tp=$(sed 's/.*"tp":\([0-9]*\).*/\1/' "$tmp/ev.json")
predicted=$(sed 's/.*"predicted_pairs":\([0-9]*\).*/\1/' "$tmp/ev.json")
expect_eq "wrong pairs are eval's false positives" "$wrong" "$((predicted - tp))"
expect_eq "one line per wrong pair" "$(grep -c '^wrong_' "$tmp/misses.csv")" "$wrong"
expect_eq "wrong pairs: one cluster, two people" "$(awk -F, 'FILENAME ~ /truth/ { p[$1 "," $2] = $3; next }
    FILENAME ~ /cl.csv/ { c[$1 "," $2] = $3; next }
    /^wrong_/ { a = $2 "," $3; b = $4 "," $5; if (c[a] != c[b] || p[a] == p[b]) bad++ }
    END { print bad + 0 }' "$tmp/s/truth.csv" "$tmp/cl.csv" "$tmp/misses.csv")" "0"
expect_exit 2 "--misses without truth" "$mdm" link --model "$tmp/model.json" "${inputs[@]}" --out "$tmp/cl.csv" --misses "$tmp/m.csv"
pair=$(sed -n 2p "$tmp/pairs.csv")
IFS=, read -r sa ia sb ib _ <<<"$pair"
expect_exit 0 "explain a pair" "$mdm" explain --model "$tmp/model.json" "${inputs[@]}" --a "$sa:$ia" --b "$sb:$ib"
expect_contains "explain lists comparisons" '"comparison": "first_name"' "$out"
expect_contains "explain gives the total" '"match_weight"' "$out"
expect_exit 4 "explain an unknown record" "$mdm" explain --model "$tmp/model.json" "${inputs[@]}" --a crm:nope --b crm:nope2

# bad input: exit 2 naming the file, line or key; 8 for a missing file
expect_exit 8 "missing input file" "$mdm" link --config "$root/demo/synth.json" "$tmp/none.csv" --out "$tmp/x.csv"
expect_contains "missing file named" "none.csv" "$out"
printf 'customer_id,first_name\nC1,Ann\n' >"$tmp/crm.csv"
# a mapped column the file lacks reads as empty (as mdm load reads it); the key column
# must be there
expect_exit 0 "configured column absent reads as empty" "$mdm" link --config "$root/demo/synth.json" "$tmp/crm.csv" --out "$tmp/x.csv"
expect_eq "the row is linked" "$(sed -n 2p "$tmp/x.csv")" "crm,C1,1"
printf 'id,first_name\nC1,Ann\n' >"$tmp/crm.csv"
expect_exit 2 "key column absent" "$mdm" link --config "$root/demo/synth.json" "$tmp/crm.csv" --out "$tmp/x.csv"
expect_contains "absent key column named" 'crm.csv: no key column "customer_id"' "$out"
head -3 "$tmp/s/crm.csv" >"$tmp/crm.csv"
printf 'C9,"open,,,,,,,,,,\n' >>"$tmp/crm.csv"
expect_exit 2 "malformed CSV row" "$mdm" link --config "$root/demo/synth.json" "$tmp/crm.csv" --out "$tmp/x.csv"
expect_contains "bad row named by line" "crm.csv:4" "$out"
printf '{"sources": [ }' >"$tmp/bad.json"
expect_exit 2 "invalid JSON config" "$mdm" link --config "$tmp/bad.json" "$tmp/crm.csv" --out "$tmp/x.csv"
expect_contains "JSON error located" "bad.json:1:" "$out"
printf '{"sources":[{"key":"id","mapping":{}}],"comparisons":[{"field":"first_name","type":"name"}],"blocking":{"rules":["first_name"]},"thresholds":{"link":0.9,"colour":1}}' >"$tmp/key.json"
expect_exit 2 "unknown config key" "$mdm" link --config "$tmp/key.json" "$tmp/crm.csv" --out "$tmp/x.csv"
expect_contains "unknown key named" 'unknown key "thresholds.colour"' "$out"
expect_exit 2 "eval without truth" "$mdm" eval "$tmp/cl.csv"

if [ -f "$root/../shared/data/febrl/dataset4a.csv" ]; then
    d=$root/../shared/data/febrl
    expect_exit 0 "febrl 4a x 4b linkage" "$mdm" link --config "$root/demo/febrl.json" "$d/dataset4a.csv" "$d/dataset4b.csv" --out "$tmp/f4.csv"
    expect_exit 0 "febrl eval" "$mdm" eval "$tmp/f4.csv" --febrl-ids --json
    f1=$(echo "$out" | sed 's/.*"f1":\([0-9.]*\).*/\1/')
    awk -v f="$f1" 'BEGIN { exit !(f >= 0.995) }' && e2e_ok "febrl 4a x 4b F1 >= 0.995 ($f1)" || e2e_fail "febrl 4 F1" "$f1"
    expect_contains "linkage counts cross-source pairs" '"pairs":"cross-source"' "$out"
else
    echo "SKIP febrl linkage: no data"
fi
e2e_end
