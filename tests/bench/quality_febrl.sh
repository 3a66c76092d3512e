#!/usr/bin/env bash
# Match quality on FEBRL (../shared/data/febrl), unsupervised: `mdm link` trains its own
# model by EM on each run (no labels), `mdm eval --febrl-ids` scores the clusters against
# the entity numbers inside the record ids. Prints one key=value line per set and a
# Markdown table (the one in README.md); fails when a set is under its F1 floor
# (dataset4a x dataset4b >= 0.995, dataset1/2/3 >= 0.99).
set -uo pipefail
root=${MDM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MDM_BIN:-$root/build/rel/mdm}
data=${MDM_FEBRL_DIR:-$root/../shared/data/febrl}
cfg=$root/demo/febrl.json
if [ ! -f "$data/dataset1.csv" ]; then
    echo "quality_febrl: SKIP, no FEBRL data in $data"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
table="| set | task | records | precision | recall | F1 | floor | seconds |
|---|---|---:|---:|---:|---:|---:|---:|"
run() { # name floor task inputs...
    local name=$1 floor=$2 task=$3
    shift 3
    local t0 t1 out
    t0=$(date +%s.%N)
    if ! "$bin" link --config "$cfg" "$@" --out "$tmp/$name.csv" --quiet 2>"$tmp/$name.err"; then
        cat "$tmp/$name.err"
        echo "quality_febrl: $name: mdm link failed"
        fail=1
        return
    fi
    t1=$(date +%s.%N)
    out=$("$bin" eval "$tmp/$name.csv" --febrl-ids --json) || { fail=1; return; }
    local p r f n
    p=$(echo "$out" | sed 's/.*"precision":\([0-9.]*\).*/\1/')
    r=$(echo "$out" | sed 's/.*"recall":\([0-9.]*\).*/\1/')
    f=$(echo "$out" | sed 's/.*"f1":\([0-9.]*\).*/\1/')
    n=$(echo "$out" | sed 's/.*"records":\([0-9]*\).*/\1/')
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    echo "set=$name task=$task records=$n precision=$p recall=$r f1=$f floor=$floor seconds=$secs"
    table="$table
| $name | $task | $n | $(printf %.4f "$p") | $(printf %.4f "$r") | $(printf %.4f "$f") | $floor | $secs |"
    if awk -v f="$f" -v m="$floor" 'BEGIN { exit !(f < m) }'; then
        echo "quality_febrl: $name F1 $f is under the floor $floor"
        fail=1
    fi
}
run dataset1 0.99 dedup "$data/dataset1.csv"
run dataset2 0.99 dedup "$data/dataset2.csv"
run dataset3 0.99 dedup "$data/dataset3.csv"
run dataset4a_x_4b 0.995 linkage "$data/dataset4a.csv" "$data/dataset4b.csv"
echo
echo "$table"
exit $fail
