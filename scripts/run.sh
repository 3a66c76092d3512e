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
if has serve; then
    exec "$mdm" serve
fi
echo "run: database migrated; the HTTP server is not built yet (see README, Status)"
