#!/usr/bin/env bash
# Loads the demo into the database of MDM_DATABASE_URL (scripts/run.sh calls it):
# a synthetic population of the five retail systems (`mdm synth`, each system in its own
# layout, written once to var/demo/), then the omnichannel scenario of
# demo/omnichannel/, then resolution. Running it again changes nothing (loads are
# idempotent by content).
#   demo/load.sh [MDM_BIN]        MDM_DEMO_PEOPLE (default 2000) sizes the population
set -euo pipefail
cd "$(dirname "$0")/.."
mdm=${1:-build/rel/mdm}
export MDM_CONFIG=${MDM_CONFIG:-$PWD/demo/mdm.json}
people=${MDM_DEMO_PEOPLE:-2000}
out=var/demo/synth-$people
if [ ! -f "$out/pos.csv" ]; then
    mkdir -p "$out"
    "$mdm" synth --people "$people" --seed 7 --out "$out" >/dev/null
fi
for s in crm loyalty commerce erp pos; do
    "$mdm" load --quiet --no-resolve --source "$s" "$out/$s.csv"
done
for s in crm loyalty erp pos; do
    "$mdm" load --quiet --no-resolve --source "$s" "demo/omnichannel/$s.csv"
done
"$mdm" load --quiet --no-resolve --source commerce demo/omnichannel/commerce.ndjson
"$mdm" resolve --quiet --threads "${MDM_THREADS:-2}"
