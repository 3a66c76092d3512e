# Differential test of the comparison kernels (issue 20): `mdm link` with the fast paths
# (bit-parallel Jaro-Winkler and Levenshtein of matching/strsim.c, the hashed nickname
# lookup, the Jaro-Winkler bound that skips the similarity where it cannot reach a
# threshold, records filled without the canonical document: mdm_canon_row_features) and
# with the reference code (MDM_REFERENCE_KERNELS=1: compare.c's textbook loops, the
# binary search, every similarity computed, mdm_canonicalize's document) must give
# byte-identical pairs (weights, probabilities, guards), clusters and trained models, on
# FEBRL and on generated data. No database.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-.}
febrl=${MDM_FEBRL_DIR:-$root/../shared/data/febrl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME CONFIG INPUT...: link both ways, compare the outputs
run() {
    local name=$1 cfg=$2; shift 2
    for mode in fast ref; do
        local env=()
        [ "$mode" = ref ] && env=(MDM_REFERENCE_KERNELS=1)
        env "${env[@]}" "$mdm" link --config "$cfg" "$@" --out "$tmp/$mode.clusters.csv" \
            --pairs "$tmp/$mode.pairs.csv" --save-model "$tmp/$mode.model.json" --threads 2 --quiet \
            2>"$tmp/$mode.err" || { e2e_fail "$name: link ($mode)" "$(tail -2 "$tmp/$mode.err")"; return; }
    done
    local pairs
    pairs=$(($(wc -l <"$tmp/fast.pairs.csv") - 1))
    [ "$pairs" -gt 0 ] && e2e_ok "$name: pairs scored ($pairs)" || e2e_fail "$name: pairs scored" "none"
    for f in pairs clusters model; do
        local ext=csv
        [ $f = model ] && ext=json
        if cmp -s "$tmp/fast.$f.$ext" "$tmp/ref.$f.$ext"; then
            e2e_ok "$name: $f identical"
        else
            e2e_fail "$name: $f identical" "$(diff "$tmp/fast.$f.$ext" "$tmp/ref.$f.$ext" | head -4)"
        fi
    done
}

q=".training.u_samples = 100000"
jq "$q" "$root/demo/febrl.json" >"$tmp/febrl.json"
run "FEBRL dataset3" "$tmp/febrl.json" "$febrl/dataset3.csv"
cp "$tmp/fast.model.json" "$tmp/febrl3.model.json"
run "FEBRL 4a x 4b" "$tmp/febrl.json" "$febrl/dataset4a.csv" "$febrl/dataset4b.csv"
# a trained model: comparing and scoring in one pass that stops when a pair's weight
# cannot reach review (the reference compares every pair in full)
run "FEBRL dataset3, trained model" "$tmp/febrl.json" --model "$tmp/febrl3.model.json" \
    "$febrl/dataset3.csv"
# more candidates than EM reads (MDM_LINK_EM_SAMPLE): EM on an even sample, then the
# one-pass comparison with the trained model
MDM_LINK_EM_SAMPLE=2000 run "FEBRL dataset3, EM on a sample" "$tmp/febrl.json" \
    "$febrl/dataset3.csv"
# EM on training rules of its own (training.blocking) with 4-byte pattern codes: the
# training histogram reads the candidates' codes at their width
jq "$q"' | .training.blocking = ["first_name:phonetic+last_name:phonetic", "birth_date"]' \
    "$root/demo/febrl.json" >"$tmp/febrl_tr.json"
run "FEBRL dataset3, training rules" "$tmp/febrl_tr.json" "$febrl/dataset3.csv"

# generated data, at a high error rate: typos, nicknames, swapped names, non-ASCII
# letters (the kernels refuse them: the reference path runs inside the fast run too)
"$mdm" synth --people 1500 --seed 5 --error-rate 3 --out "$tmp/s" >/dev/null 2>&1
jq "$q" "$root/demo/synth.json" >"$tmp/synth.json"
run "synth 1500 people, error rate 3" "$tmp/synth.json" "$tmp"/s/{crm,loyalty,commerce,erp,pos}.csv
cp "$tmp/fast.model.json" "$tmp/synth.model.json"
run "synth 1500 people, trained model" "$tmp/synth.json" --model "$tmp/synth.model.json" \
    "$tmp"/s/{crm,loyalty,commerce,erp,pos}.csv
grep -qP '[^\x00-\x7F]' "$tmp"/s/crm.csv && e2e_ok "synth input holds non-ASCII names" ||
    e2e_fail "synth input holds non-ASCII names" "none found"
e2e_end
