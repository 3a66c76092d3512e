#!/usr/bin/env bash
# Batch linkage at a million records (issue 20): `mdm link --config demo/febrl.json` on
# FEBRL-layout records written by tests/bench/febrl_gen.py (MDM_BENCH_FEBRL_ORIGINALS
# people, default 600000, and MDM_BENCH_FEBRL_DUPLICATES modified copies, default 400000;
# seed 20), all cores (MDM_THREADS to change). Prints wall and CPU seconds per phase, peak
# RSS, candidate pairs, nanoseconds per compared pair (compare+score CPU / pairs), F1 from
# the FEBRL ids and the load average before and after, then one within_target line per
# target: <= 30 s wall, <= 1 GiB, F1 >= 0.999. MDM_BENCH_FEBRL_FILE reuses a generated file.
set -uo pipefail
root=${MDM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${MDM_BIN:-$root/build/rel/mdm}
febrl=${MDM_FEBRL_DIR:-$root/../shared/data/febrl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
orig=${MDM_BENCH_FEBRL_ORIGINALS:-600000}
dups=${MDM_BENCH_FEBRL_DUPLICATES:-400000}
data=${MDM_BENCH_FEBRL_FILE:-}
if [ -z "$data" ]; then
    data=$tmp/febrl.csv
    python3 "$root/tests/bench/febrl_gen.py" "$orig" "$dups" 20 "$data" "$febrl" || exit 1
fi
load_before=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$bin" link --config "$root/demo/febrl.json" "$data" \
    --out "$tmp/clusters.csv" --quiet 2>"$tmp/link.err" || { cat "$tmp/link.err"; exit 1; }
load_after=$(cut -d' ' -f1 /proc/loadavg)
read -r wall user sys rss <"$tmp/time"
summary=$(grep '^link: records=' "$tmp/link.err")
echo "$summary"
f1=$("$bin" eval "$tmp/clusters.csv" --febrl-ids 2>&1 | sed -n 's/.*f1=\([0-9.]*\).*/\1/p')
pairs=$(sed -n 's/.*candidate_pairs=\([0-9]*\).*/\1/p' <<<"$summary")
cmp_cpu=$(sed -n 's/.*cpu_seconds=.*compare+score \([0-9.]*\),.*/\1/p' <<<"$summary")
records=$(($(wc -l <"$data") - 1))
awk -v r="$records" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" -v p="$pairs" -v c="$cmp_cpu" \
    -v f="$f1" -v lb="$load_before" -v la="$load_after" 'BEGIN {
    printf "link_febrl records=%d wall_s=%.1f cpu_s=%.1f rss_mb=%d candidate_pairs=%d ns_per_pair=%.0f f1=%s load=%s-%s\n",
        r, w, u + s, m / 1024, p, (p > 0 ? c * 1e9 / p : 0), f, lb, la
    printf "link_wall_within_target=%s (<= 30 s)\n", (w <= 30 ? "yes" : "no")
    printf "link_rss_within_target=%s (<= 1 GiB)\n", (m <= 1048576 ? "yes" : "no")
    printf "link_f1_within_target=%s (>= 0.999)\n", (f >= 0.999 ? "yes" : "no") }'
