# Training apart from prediction (issue 15): with "training": {"blocking": [...]}, EM
# estimates m on the candidate pairs of those rules only, so blocking rules added for
# recall leave the trained model as it was (`mdm train` on a synth population: the same m,
# u and prior as a configuration without the extra rules) while `mdm link` compares more
# pairs; the rules are kept in the trained model and a malformed list is refused.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$mdm" synth --people 1500 --seed 7 --error-rate 2 --out "$tmp/s" >/dev/null 2>&1 || e2e_fail "synth" "failed"
inputs=("$tmp/s/crm.csv" "$tmp/s/loyalty.csv" "$tmp/s/commerce.csv" "$tmp/s/erp.csv" "$tmp/s/pos.csv")
# base: the blocking rules of demo/synth.json that training uses; more: the same plus two
# recall rules, training on the base rules
jq '.blocking.rules = .training.blocking' "$root/demo/synth.json" >"$tmp/base.json"
jq '.blocking.rules = .training.blocking + ["house_number+postal_code", "birth_date"]' \
    "$root/demo/synth.json" >"$tmp/more.json"
expect_exit 0 "train with the base rules" "$mdm" train --config "$tmp/base.json" "${inputs[@]}" --out "$tmp/base.model.json"
expect_exit 0 "train with recall rules added" "$mdm" train --config "$tmp/more.json" "${inputs[@]}" --out "$tmp/more.model.json"
params() { jq -c '[.comparisons[] | [.m, .u]], .trained.prior' "$1"; }
expect_eq "recall rules leave m, u and the prior as they were" "$(params "$tmp/more.model.json")" "$(params "$tmp/base.model.json")"
expect_eq "the trained model keeps its training rules" \
    "$(jq -c '.training.blocking' "$tmp/more.model.json")" "$(jq -c '.training.blocking' "$tmp/more.json")"
pairs() {
    "$mdm" link --model "$1" "${inputs[@]}" --out "$tmp/cl.csv" --quiet 2>&1 |
        sed -n 's/.* candidate_pairs=\([0-9]*\).*/\1/p'
}
b=$(pairs "$tmp/base.model.json") m=$(pairs "$tmp/more.model.json")
[ -n "$b" ] && [ -n "$m" ] && [ "$m" -gt "$b" ] && e2e_ok "the recall rules compare more pairs ($b -> $m)" ||
    e2e_fail "the recall rules compare more pairs" "$b -> $m"
jq '.training.blocking = "email"' "$root/demo/synth.json" >"$tmp/bad.json"
expect_exit 2 "training.blocking must be a list of rules" "$mdm" train --config "$tmp/bad.json" "${inputs[@]}" --out "$tmp/x.json"
expect_contains "the error names training.blocking" "training.blocking" "$out"
jq '.training.blocking = ["email:nosuchfn"]' "$root/demo/synth.json" >"$tmp/bad2.json"
expect_exit 2 "a bad training rule is refused" "$mdm" train --config "$tmp/bad2.json" "${inputs[@]}" --out "$tmp/x.json"
expect_contains "the error names the rule" "training.blocking[0]" "$out"
e2e_end
