# Service core at scale: `mdm load` (COPY, set-based) of a synthetic population of the
# five demo systems, `mdm resolve` of everything loaded, then incremental mdm_ingest
# latency with 2 writers against that population (build/rel/bench_ingest), and a
# within_target line per target of the service core: a million records loaded and
# resolved in 300 s; incremental p50 <= 5 ms, p99 <= 20 ms, >= 1,000 records/s.
#   MDM_BENCH_CORE_PEOPLE   people to generate (default 385000: 1,011,387 records, about
#                           5 minutes in all; 10000 gives about 26,000 records)
#   MDM_BENCH_INGEST        records per writer of the incremental phase (default 1000)
#   MDM_BENCH_THREADS       resolve threads (default 2)
#   MDM_BENCH_KEEP          1: keep the database (its URL is printed last)
# Runs in a fresh database of the private cluster (or of MDM_DATABASE_URL's server).
set -euo pipefail
cd "${MDM_ROOT:-$(dirname "$0")/../..}"
mdm=${MDM_BIN:-build/rel/mdm}
people=${MDM_BENCH_CORE_PEOPLE:-385000}
scripts/pg.sh start >/dev/null
db=mdm_bench_core_$$
scripts/pg.sh createdb "$db" >/dev/null
# the database is dropped where it was created (the script points MDM_DATABASE_URL at it)
admin_url=${MDM_DATABASE_URL:-}
# (MDM_BENCH_KEEP=1 keeps it, to rerun build/rel/bench_ingest against it)
if [ "${MDM_BENCH_KEEP:-0}" = 1 ]; then
    trap 'rm -rf "$tmp"; echo "kept_database=$MDM_DATABASE_URL"' EXIT
else
    trap 'MDM_DATABASE_URL=$admin_url scripts/pg.sh dropdb "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
fi
export MDM_DATABASE_URL=$(scripts/pg.sh url-for "$db")
export MDM_SQL_DIR=$PWD/sql MDM_CONFIG=$PWD/demo/mdm.json MDM_LOG_LEVEL=warn
tmp=$(mktemp -d)
"$mdm" migrate >/dev/null
"$mdm" synth --people "$people" --seed 5 --out "$tmp" >/dev/null
records=$(($(cat "$tmp"/{crm,loyalty,commerce,erp,pos}.csv | wc -l) - 5))
t0=$(date +%s.%N)
for s in crm loyalty commerce erp pos; do
    "$mdm" load --quiet --no-resolve --source "$s" "$tmp/$s.csv" >/dev/null
done
t1=$(date +%s.%N)
"$mdm" resolve --quiet --threads "${MDM_BENCH_THREADS:-2}" >/dev/null
t2=$(date +%s.%N)
awk -v r="$records" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    printf "load_records=%d\nload_seconds=%.1f\nload_records_per_s=%.0f\n", r, b - a, r / (b - a)
    printf "resolve_seconds=%.1f\nresolve_records_per_s=%.0f\n", c - b, r / (c - b)
    printf "load_resolve_seconds=%.1f\n", c - a }'
psql -qAt "$MDM_DATABASE_URL" -c "SELECT 'golden_records=' || count(*) FROM entity WHERE status = 'active'" \
    -c "SELECT 'review_items=' || count(*) FROM review_item WHERE status = 'open'"
inc=$(build/rel/bench_ingest "${MDM_BENCH_INGEST:-1000}" 2)
printf '%s\n' "$inc"
# the targets (the load+resolve one is for a million records)
printf 'load_resolve_seconds=%s\n%s\n' "$(awk -v a="$t0" -v c="$t2" 'BEGIN { printf "%.1f", c - a }')" "$inc" |
    awk -F= -v records="$records" '{ v[$1] = $2 } END {
        if (records >= 1000000)
            printf "load_resolve_within_target=%s (<= 300 s)\n", (v["load_resolve_seconds"] <= 300 ? "yes" : "no")
        printf "ingest_p50_within_target=%s (<= 5 ms)\n", (v["p50_ms"] <= 5 ? "yes" : "no")
        printf "ingest_p99_within_target=%s (<= 20 ms)\n", (v["p99_ms"] <= 20 ? "yes" : "no")
        printf "ingest_rate_within_target=%s (>= 1000 records/s)\n", (v["records_per_s"] >= 1000 ? "yes" : "no") }'
