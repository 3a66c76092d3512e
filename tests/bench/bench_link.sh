#!/usr/bin/env bash
# Speed and memory of `mdm synth` and `mdm link` on generated data: for each size in
# MDM_BENCH_LINK_PEOPLE (default "40000 400000", about 100k and 1M records) it writes the
# five source files, links them with all cores (MDM_THREADS to change) and prints wall
# seconds, CPU seconds, peak RSS and records per second, plus the linker's own summary.
set -uo pipefail
root=${MDM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MDM_BIN:-$root/build/rel/mdm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for people in ${MDM_BENCH_LINK_PEOPLE:-40000 400000}; do
    d=$tmp/p$people
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/synth.time" "$bin" synth --people "$people" --seed 11 --out "$d" 2>"$tmp/synth.err" || { cat "$tmp/synth.err"; exit 1; }
    read -r sw su ss srss <"$tmp/synth.time"
    recs=$(($(cat "$d"/crm.csv "$d"/loyalty.csv "$d"/commerce.csv "$d"/erp.csv "$d"/pos.csv | wc -l) - 5))
    echo "synth people=$people records=$recs wall_s=$sw rss_mb=$((srss / 1024))"
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/link.time" "$bin" link --config "$root/demo/synth.json" \
        "$d"/crm.csv "$d"/loyalty.csv "$d"/commerce.csv "$d"/erp.csv "$d"/pos.csv \
        --out "$d/clusters.csv" --quiet 2>"$tmp/link.err" || { cat "$tmp/link.err"; exit 1; }
    read -r w u s rss <"$tmp/link.time"
    echo "link records=$recs wall_s=$w cpu_s=$(awk -v a="$u" -v b="$s" 'BEGIN{print a+b}') rss_mb=$((rss / 1024)) records_per_s=$(awk -v n="$recs" -v t="$w" 'BEGIN{printf "%.0f", n/t}') load=$(cut -d' ' -f1 /proc/loadavg)"
    tail -n 1 "$tmp/link.err"
    rm -rf "$d"
done
