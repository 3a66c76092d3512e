#!/usr/bin/env bash
# The main job behind `make run`: a private PostgreSQL under ./var (unless
# MDM_DATABASE_URL is set), migrations, the demo data of several source systems,
# resolution, then `mdm serve` (API and steward UI) in the foreground.
#   scripts/run.sh [--migrate-only]
set -euo pipefail
cd "$(dirname "$0")/.."
mdm=${MDM_BIN:-build/rel/mdm}
# the demo configuration (sources of the five demo systems, trained model) unless the
# caller names one or keeps an mdm.json in the checkout
if [ -z "${MDM_CONFIG:-}" ] && [ ! -f mdm.json ] && [ -f demo/mdm.json ]; then
    export MDM_CONFIG=$PWD/demo/mdm.json
fi

if [ -z "${MDM_DATABASE_URL:-}" ]; then
    scripts/pg.sh start
    echo "run: private PostgreSQL $(scripts/pg.sh status)"
    MDM_DATABASE_URL=$(scripts/pg.sh url)
    export MDM_DATABASE_URL
fi
"$mdm" migrate
[ "${1:-}" = --migrate-only ] && exit 0

has() { "$mdm" "$1" --help >/dev/null 2>&1; }

if has load && [ -x demo/load.sh ]; then
    demo/load.sh "$mdm"
fi
# demo_key ROLE: a demo API key of that role, kept in var/demo/ROLE.key (mode 600) and
# made again when the database no longer knows it (a new private cluster).
demo_key() {
    local file=var/demo/$1.key key prefix
    if [ -s "$file" ]; then
        key=$(cat "$file")
        prefix=${key#mdm_}; prefix=${prefix%%_*}
        # still known and not revoked (columns: id prefix role source rate created revoked)
        "$mdm" apikey list 2>/dev/null | awk -v p="$prefix" '$2 == p && $7 == "-" { ok = 1 } END { exit !ok }' &&
            { echo "$key"; return; }
    fi
    mkdir -p var/demo
    key=$("$mdm" apikey create --role "$1" --name "demo $1")
    (umask 077 && echo "$key" >"$file")
    echo "$key"
}
if has serve; then
    steward=$(demo_key steward)
    admin=$(demo_key admin)
    listen=${MDM_LISTEN:-127.0.0.1:8080}
    echo "run: steward UI http://$listen/ui/ (sign in with the steward key below)"
    echo "run: steward key $steward (var/demo/steward.key)"
    echo "run: admin key   $admin (var/demo/admin.key)"
    exec "$mdm" serve
fi
echo "run: database migrated; the HTTP server is not built yet (see README, Status)"
