#!/usr/bin/env bash
# Steward UI time to usable on the demo data of `make run` (demo/load.sh: 2,000 synthetic
# people over the five demo systems plus the omnichannel scenario, resolved), in a fresh
# database of the private cluster (dropped afterwards), served by build/rel/mdm and driven
# by chromium (tests/browser/bench/ui_timings.mjs). Prints key=value lines: per screen the
# best and median of 5 of navigation start -> screen drawn with its data, `j` key press ->
# next item drawn and the requests per press, the data's size and the load average.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mdm=${MDM_BIN:-$root/build/rel/mdm}
[ -x /usr/bin/chromium ] || { echo "bench_ui: /usr/bin/chromium is missing (scripts/deps.sh)"; exit 1; }
if [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || exit 1
fi
scripts/pg.sh start >/dev/null || exit 1
db=mdm_bench_ui_$$
admin_url=${MDM_DATABASE_URL:-}
scripts/pg.sh createdb "$db" >/dev/null || exit 1
export MDM_DATABASE_URL
MDM_DATABASE_URL=$(scripts/pg.sh url-for "$db")
export MDM_SQL_DIR=$root/sql MDM_CONFIG=$root/demo/mdm.json
tmp=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
    # through the server's own URL (or the private cluster): connected to the database
    # itself, DROP DATABASE fails
    MDM_DATABASE_URL=$admin_url scripts/pg.sh dropdb "$db" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
"$mdm" migrate >/dev/null || exit 1
demo/load.sh "$mdm" >/dev/null || { echo "bench_ui: demo/load.sh failed"; exit 1; }
psql -X -q -At -v ON_ERROR_STOP=1 "$MDM_DATABASE_URL" -c "SELECT 'demo_source_records=' || count(*) FROM source_record" \
    -c "SELECT 'demo_golden_records=' || count(*) FROM entity WHERE status = 'active'" \
    -c "SELECT 'demo_open_review_items=' || count(*) FROM review_item WHERE status IN ('open', 'claimed')"
key=$("$mdm" apikey create --role steward --name bench-ui 2>/dev/null | tail -n 1)
MDM_UI_DIR=$root/api/ui "$mdm" serve --listen 127.0.0.1:0 >"$tmp/serve.out" 2>"$tmp/serve.log" &
server=$!
port=""
for _ in $(seq 1 200); do
    port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$tmp/serve.out" | head -n 1)
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.05
done
[ -n "$port" ] || { cat "$tmp/serve.log"; echo "bench_ui: mdm serve did not start"; exit 1; }
MDM_BASE="http://127.0.0.1:$port" MDM_KEY=$key MDM_SHOTS=$tmp MDM_BIN=$mdm \
    timeout 300 node tests/browser/bench/ui_timings.mjs
