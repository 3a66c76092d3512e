#!/usr/bin/env bash
# Steward UI browser tests: playwright-core and ajv (from npm, pinned in package-lock.json)
# driving Debian's chromium against a real `mdm serve` on a fresh database (MDM_DATABASE_URL,
# set by tests/run.sh). The data is made by the real pipeline, never written by hand:
# `mdm synth` (a few hundred people over the five demo systems), `mdm load`, `mdm resolve`
# with the demo configuration; the tests add what they need over HTTP. Creates a steward
# API key, runs every tests/browser/*.mjs and prints "N passed, N failed" last.
# Screenshots (every screen at 1280x800 and 390 px wide) land in build/browser/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mdm=${MDM_BIN:-$root/build/san/mdm}
out=$root/build/browser
mkdir -p "$out"
rm -f "$out"/FAIL-*.png # a failure's picture belongs to its run

die() { echo "browser: $*"; echo "0 passed, 1 failed"; exit 1; }
[ -n "${MDM_DATABASE_URL:-}" ] || die "MDM_DATABASE_URL is not set (run through tests/run.sh)"
command -v node >/dev/null || die "node is missing (scripts/deps.sh installs nodejs)"
command -v npm >/dev/null || die "npm is missing (scripts/deps.sh installs npm)"
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing (scripts/deps.sh installs chromium)"
if [ ! -f "$here/node_modules/playwright-core/package.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
fi

export MDM_CONFIG=$root/demo/mdm.json
tmp=$(mktemp -d)
"$mdm" migrate >/dev/null || die "migrate failed"
"$mdm" synth --people "${MDM_BROWSER_PEOPLE:-500}" --seed 11 --out "$tmp/synth" >/dev/null || die "synth failed"
# a father and son the rules hold apart (Sr and Jr), then, resolved on its own, a record
# that cannot tell them apart (no suffix, no birth date): the pipeline holds it and its
# review items say why (guard "bridge"); the columns are the demo CRM's and POS's
cat >>"$tmp/synth/crm.csv" <<CSV
H0000003,Thaddeus,,Crumwell Sr,tcrumwell@example.com,(619) 555-0202,40 Larch Court,San Diego,CA,92106,1955-03-14,M
H0000004,Thaddeus,,Crumwell Jr,tcrumwell@example.com,(619) 555-0202,40 Larch Court,San Diego,CA,92106,1985-07-22,M
CSV
for s in crm loyalty commerce erp pos; do
    "$mdm" load --quiet --no-resolve --source "$s" "$tmp/synth/$s.csv" >/dev/null || die "load of $s failed"
done
"$mdm" resolve --quiet --threads 2 >/dev/null 2>&1 || die "resolve failed"
{ head -n 1 "$tmp/synth/pos.csv"; echo "P9000008,Thaddeus,Crumwell,6195550202,92106,"; } >"$tmp/late_pos.csv"
"$mdm" load --quiet --source pos "$tmp/late_pos.csv" >/dev/null 2>&1 || die "load of the late pos record failed"
key=$("$mdm" apikey create --role steward --name ui-tester 2>/dev/null | tail -n 1)
[ -n "$key" ] || die "cannot create an API key"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
MDM_UI_DIR=$root/api/ui "$mdm" serve --listen 127.0.0.1:0 >"$tmp/serve.out" 2>"$out/serve.log" &
server_pid=$!
port=""
for _ in $(seq 1 200); do
    port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$tmp/serve.out" 2>/dev/null | head -n 1)
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$port" ] || { cat "$tmp/serve.out" "$out/serve.log"; die "mdm serve did not start"; }

passed=0 failed=0
for t in "$here"/*.mjs; do
    [ -f "$t" ] || continue
    [ "$(basename "$t")" = lib.mjs ] && continue
    name=$(basename "$t" .mjs)
    MDM_BASE="http://127.0.0.1:$port" MDM_KEY=$key MDM_SHOTS=$out MDM_BIN=$mdm \
        timeout 360 node "$t" >"$tmp/$name.log" 2>&1
    rc=$?
    cat "$tmp/$name.log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/$name.log" | tail -n 1)
    p=0 f=0
    if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*, }; f=${f%% failed}; fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
