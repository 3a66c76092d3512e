# `mdm blocking`: the blocking analysis before scoring. Its counts are checked another way:
# the cumulative total against the candidate pairs `mdm link` compares, each rule's pairs
# against a link run with that rule alone, and block sizes and pair counts (windowed
# included) against the input file counted with awk. No database is used.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-.}
febrl=${MDM_FEBRL_DIR:-$root/../shared/data/febrl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect_exit 0 "blocking --help" "$mdm" blocking --help
expect_contains "blocking help names --top" "--top" "$out"
expect_exit 2 "blocking scores nothing: --out refused" "$mdm" blocking --config "$root/demo/febrl.json" x.csv --out c.csv
expect_exit 2 "blocking needs an input" "$mdm" blocking --config "$root/demo/febrl.json"
expect_exit 8 "blocking: missing input" "$mdm" blocking --config "$root/demo/febrl.json" "$tmp/nope.csv"

# a quick configuration: fewer u samples and EM iterations (the candidate set does not
# depend on training)
quick() { # quick CONFIG [JQ-FILTER] > quick.json
    jq ".training.u_samples = 20000 | .training.em_iterations = 20 | ${2:-.}" "$1"
}
link_pairs() { # link_pairs CONFIG INPUT... -> candidate_pairs of the link summary
    local cfg=$1; shift
    "$mdm" link --config "$cfg" "$@" --out "$tmp/cl.csv" --quiet --threads 2 2>&1 |
        sed -n 's/.*candidate_pairs=\([0-9]*\).*/\1/p'
}
# check_sum NAME JSON LINK_PAIRS: the new pairs add up to the candidate set, the cumulative
# column ends there, and it is what mdm link compares
check_sum() {
    local name=$1 doc=$2 want=$3
    expect_eq "$name: candidate pairs = link's candidate_pairs" "$(jq .candidate_pairs <<<"$doc")" "$want"
    expect_eq "$name: new pairs add up" "$(jq '[.rules[].new_pairs] | add' <<<"$doc")" "$want"
    expect_eq "$name: cumulative ends at the total" "$(jq '.rules[-1].cumulative_pairs' <<<"$doc")" "$want"
    [ "$want" -gt 0 ] 2>/dev/null && e2e_ok "$name: pairs found ($want)" || e2e_fail "$name: pairs found" "$want"
}

# FEBRL deduplication: every rule alone against a link run with that rule only
quick "$root/demo/febrl.json" >"$tmp/febrl.json"
expect_exit 0 "blocking FEBRL dataset2" "$mdm" blocking --config "$tmp/febrl.json" "$febrl/dataset2.csv" --json --threads 2 --sample 500
doc=$out
check_sum "FEBRL dataset2" "$doc" "$(link_pairs "$tmp/febrl.json" "$febrl/dataset2.csv")"
nrules=$(jq '.rules | length' <<<"$doc")
for ((r = 0; r < nrules; r++)); do
    rule=$(jq -r ".rules[$r].rule" <<<"$doc")
    quick "$root/demo/febrl.json" ".blocking.rules = [\"$rule\"]" >"$tmp/one.json"
    expect_eq "FEBRL dataset2: pairs of $rule = link with that rule alone" \
        "$(jq ".rules[$r].pairs" <<<"$doc")" "$(link_pairs "$tmp/one.json" "$febrl/dataset2.csv")"
done
expect_eq "FEBRL dataset2: the first rule's pairs are all new" "$(jq '.rules[0].new_pairs == .rules[0].pairs' <<<"$doc")" true
expect_eq "FEBRL dataset2: estimate from a sample" "$(jq '.estimate.sample_pairs' <<<"$doc")" 500
expect_eq "FEBRL dataset2: a cost per pair" "$(jq '.estimate.ns_per_pair > 0 and .estimate.compare_seconds > 0' <<<"$doc")" true

# FEBRL linkage of two deduplicated files (pairs inside one file are not allowed)
expect_exit 0 "blocking FEBRL 4a x 4b" "$mdm" blocking --config "$tmp/febrl.json" "$febrl/dataset4a.csv" "$febrl/dataset4b.csv" --json --sample 0
check_sum "FEBRL 4a x 4b" "$out" "$(link_pairs "$tmp/febrl.json" "$febrl/dataset4a.csv" "$febrl/dataset4b.csv")"

# generated data: five sources, several e-mails and phones per record
"$mdm" synth --people 400 --seed 11 --out "$tmp/s" >/dev/null 2>&1
inputs=("$tmp/s/crm.csv" "$tmp/s/loyalty.csv" "$tmp/s/commerce.csv" "$tmp/s/erp.csv" "$tmp/s/pos.csv")
quick "$root/demo/synth.json" >"$tmp/synth.json"
expect_exit 0 "blocking synth" "$mdm" blocking --config "$tmp/synth.json" "${inputs[@]}" --json --sample 100
check_sum "synth 400 people" "$out" "$(link_pairs "$tmp/synth.json" "${inputs[@]}")"
expect_eq "synth: records" "$(jq .records <<<"$out")" "$(($(cat "${inputs[@]}" | wc -l) - 5))"

# block sizes and pairs counted another way: one rule on the state of FEBRL dataset1,
# the blocks are the states (awk), pairs s(s-1)/2 per block; then windowed blocks
# (max_block_size 50, window 30: 30s - 465 pairs in a block of s > 50 records)
sizes=$(awk -F', ' 'NR > 1 && $9 != "" { c[$9]++ } END { for (k in c) print c[k] }' "$febrl/dataset1.csv" | sort -rn)
want_pairs=$(awk '{ p += $1 * ($1 - 1) / 2 } END { print p }' <<<"$sizes")
want_blocks=$(awk '$1 >= 2' <<<"$sizes" | wc -l)
want_win=$(awk '{ p += $1 > 50 ? 30 * $1 - 465 : $1 * ($1 - 1) / 2 } END { print p }' <<<"$sizes")
want_over=$(awk '$1 > 50' <<<"$sizes" | wc -l)
quick "$root/demo/febrl.json" '.blocking = {rules: ["region"], max_block_size: 100000}' >"$tmp/region.json"
expect_exit 0 "blocking on the state" "$mdm" blocking --config "$tmp/region.json" "$febrl/dataset1.csv" --json --top 3 --sample 0
expect_eq "state: pairs = sum of s(s-1)/2" "$(jq '.rules[0].pairs' <<<"$out")" "$want_pairs"
expect_eq "state: blocks" "$(jq '.rules[0].blocks' <<<"$out")" "$want_blocks"
expect_eq "state: largest block" "$(jq '.largest_blocks[0].size' <<<"$out")" "$(head -1 <<<"$sizes")"
expect_eq "state: its key" "$(jq -r '.largest_blocks[0].key' <<<"$out")" "nsw"
expect_eq "state: three largest listed" "$(jq '[.largest_blocks[].size] | map(tostring) | join(" ")' -r <<<"$out")" "$(head -3 <<<"$sizes" | tr '\n' ' ' | sed 's/ $//')"
quick "$root/demo/febrl.json" '.blocking = {rules: ["region"], max_block_size: 50}' >"$tmp/region50.json"
expect_exit 0 "blocking on the state, windowed" "$mdm" blocking --config "$tmp/region50.json" "$febrl/dataset1.csv" --json --sample 0
expect_eq "state windowed: pairs" "$(jq '.rules[0].pairs' <<<"$out")" "$want_win"
expect_eq "state windowed: oversized blocks" "$(jq '.rules[0].oversized_blocks' <<<"$out")" "$want_over"
expect_eq "state windowed: marked windowed" "$(jq '.largest_blocks[0].windowed' <<<"$out")" true
expect_eq "state windowed: = link" "$(jq .candidate_pairs <<<"$out")" "$(link_pairs "$tmp/region50.json" "$febrl/dataset1.csv")"

# the table
expect_exit 0 "blocking table" "$mdm" blocking --config "$tmp/febrl.json" "$febrl/dataset1.csv" --sample 100
expect_contains "table: rule header" "new pairs" "$out"
expect_contains "table: candidate pairs line" "(the pairs mdm link compares)" "$out"
expect_contains "table: estimate" "estimate: compare+score" "$out"
e2e_end
