# Capacity figures of docs/OPERATIONS.md (run by `make bench`, or alone with
# `scripts/bench.sh capacity`): a synthetic population of the five retail systems
# (`mdm synth`, demo/mdm.json layouts) is bulk-loaded (COPY, no resolution), then
# resolved, into a fresh database; prints load and resolve rates in records per second,
# and the storage per record and per million records (database size minus the empty
# migrated schema), with the largest tables.
#   MDM_CAPACITY_PEOPLE (default 10000; about 1.9 records per person), MDM_THREADS (2)
set -uo pipefail
root=${MDM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
mdm=${MDM_BIN:-$root/build/rel/mdm}
people=${MDM_CAPACITY_PEOPLE:-10000}
threads=${MDM_THREADS:-2}
cd "$root" || exit 1
scripts/pg.sh start >/dev/null || exit 1
db=mdm_capacity_$$
scripts/pg.sh createdb "$db" >/dev/null || exit 1
# the database is dropped where it was created (the script points MDM_DATABASE_URL at it)
admin_url=${MDM_DATABASE_URL:-}
trap 'MDM_DATABASE_URL=$admin_url scripts/pg.sh dropdb "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
tmp=$(mktemp -d)
export MDM_DATABASE_URL=$(scripts/pg.sh url-for "$db") MDM_CONFIG=$root/demo/mdm.json MDM_SQL_DIR=$root/sql
q() { psql -X -q -At "$MDM_DATABASE_URL" -c "$1"; }
"$mdm" migrate >/dev/null 2>&1 || { echo "capacity: migrate failed" >&2; exit 1; }
q "VACUUM ANALYZE" >/dev/null
empty=$(q "SELECT pg_database_size(current_database())")
"$mdm" synth --people "$people" --seed 11 --out "$tmp" >/dev/null || exit 1
t0=$(date +%s.%N)
for s in crm loyalty commerce erp pos; do
    "$mdm" load --quiet --no-resolve --source "$s" "$tmp/$s.csv" || exit 1
done
t1=$(date +%s.%N)
"$mdm" resolve --quiet --threads "$threads" || exit 1
t2=$(date +%s.%N)
q "VACUUM ANALYZE" >/dev/null
records=$(q "SELECT count(*) FROM source_record")
entities=$(q "SELECT count(*) FROM entity WHERE status = 'active'")
size=$(q "SELECT pg_database_size(current_database())")
per=$(((size - empty) / records))
echo "capacity_people=$people records=$records entities=$entities load_threads=1 resolve_threads=$threads"
echo "capacity_load_records_per_s=$(echo "scale=0; $records / ($t1 - $t0)" | bc)"
echo "capacity_resolve_records_per_s=$(echo "scale=0; $records / ($t2 - $t1)" | bc)"
echo "capacity_bytes_per_record=$per"
echo "capacity_gb_per_million_records=$(echo "scale=2; $per * 1000000 / 1073741824" | bc)"
q "SELECT 'capacity_table ' || relname || ' ' || pg_size_pretty(pg_total_relation_size(c.oid))
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 8"
