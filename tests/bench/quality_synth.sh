#!/usr/bin/env bash
# Match quality on generated retail data (`mdm synth`: five sources, households sharing
# addresses and phones, typos, nicknames, married names, moves, placeholder values,
# several records per person), unsupervised. MDM_BENCH_SYNTH_PEOPLE (default 20000) and
# MDM_BENCH_SYNTH_ERRORS (error-rate multiplier, default 1 and 2) size the runs. Prints
# pairwise precision, recall, F1 and the largest cluster per run; no floor (a report).
set -uo pipefail
root=${MDM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MDM_BIN:-$root/build/rel/mdm}
people=${MDM_BENCH_SYNTH_PEOPLE:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
table="| people | error rate | records | precision | recall | F1 | largest cluster |
|---:|---:|---:|---:|---:|---:|---:|"
for er in ${MDM_BENCH_SYNTH_ERRORS:-1 2}; do
    d=$tmp/er$er
    "$bin" synth --people "$people" --seed 7 --error-rate "$er" --out "$d" 2>/dev/null || exit 1
    "$bin" link --config "$root/demo/synth.json" "$d"/crm.csv "$d"/loyalty.csv "$d"/commerce.csv \
        "$d"/erp.csv "$d"/pos.csv --out "$d/clusters.csv" --quiet 2>"$d/link.err" || {
        cat "$d/link.err"
        exit 1
    }
    out=$("$bin" eval "$d/clusters.csv" --truth "$d/truth.csv" --truth-column person_id --all-pairs)
    echo "synth people=$people error_rate=$er $out"
    get() { echo "$out" | sed "s/.*$1=\([0-9.]*\).*/\1/"; }
    table="$table
| $people | $er | $(get records) | $(get precision) | $(get recall) | $(get f1) | $(get largest_cluster) |"
done
echo
echo "$table"
