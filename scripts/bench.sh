#!/usr/bin/env bash
# Benchmarks, run by `make bench` (speed) and `make bench-quality` (match quality).
#
#   scripts/bench.sh               every speed benchmark
#   scripts/bench.sh NAME...       only these (normalize, compare, ...)
#   scripts/bench.sh --quality     the precision/recall benchmarks (`make bench-quality`)
#
# Speed: every build/rel/bench_NAME program (one per tests/bench/bench_NAME.c; `make bench`
# builds them first), then every tests/bench/bench_NAME.sh script (load tests and other
# benchmarks that need a running server or data files). Quality: every
# tests/bench/quality_NAME.sh script (precision, recall and F1 on FEBRL and generated
# data). Programs print key=value result lines. Each benchmark runs on its own; a failing
# one is reported and the others still run; the exit status is non-zero when any failed.
# Output is also kept in build/bench-logs/<speed|quality>.txt.
#
# HTTP: tests/bench/bench_http.sh drives a running `mdm serve` with wrk (GET
# /v1/entities/{id}, POST upserts, POST /v1/match); wrk is a bench-only dependency that
# `scripts/deps.sh --bench` installs (done below when it is missing). Its knobs:
# MDM_BENCH_HTTP_ENTITIES (default 1000000), MDM_BENCH_HTTP_SECONDS, MDM_BENCH_HTTP_THREADS.
#
# Environment: MDM_BENCH_SECONDS sets the time per measured case where a program takes
# one (its first argument). Passed on to scripts: MDM_ROOT (the checkout), MDM_BIN
# (build/rel/mdm), MDM_FEBRL_DIR (default ../shared/data/febrl).
# Programs listed in db_benches get a fresh database (private cluster, or the server of
# MDM_DATABASE_URL) in MDM_DATABASE_URL, dropped afterwards. MDM_BENCH_CONSENT_EVENTS
# sizes the consent audit export (default 1000000; generating 5000000 takes minutes).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=speed
want=()
for a in "$@"; do
    case $a in
        --quality) mode=quality ;;
        *) want+=("$a") ;;
    esac
done
export MDM_ROOT=$PWD
export MDM_BIN=${MDM_BIN:-$PWD/build/rel/mdm}
export MDM_FEBRL_DIR=${MDM_FEBRL_DIR:-$PWD/../shared/data/febrl}
if [ "$mode" = speed ] && ! command -v wrk >/dev/null; then
    scripts/deps.sh --bench || echo "bench: cannot install wrk; the HTTP benchmark will fail" >&2
fi
logdir=build/bench-logs
mkdir -p "$logdir"
log=$logdir/$mode.txt

run=()
if [ "$mode" = speed ]; then
    for b in build/rel/bench_*; do
        [ -x "$b" ] && [ -f "$b" ] && run+=("$b")
    done
    for s in tests/bench/bench_*.sh; do
        [ -f "$s" ] && run+=("$s")
    done
else
    for s in tests/bench/quality_*.sh; do
        [ -f "$s" ] && run+=("$s")
    done
fi

echo "# mdm $mode benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
    "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')," \
    "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" | tee "$log"

db_benches=" consent_audit publish "

# with_fresh_db COMMAND...: runs COMMAND with MDM_DATABASE_URL naming a new database.
with_fresh_db() {
    scripts/pg.sh start >/dev/null || return 1
    local db=mdm_bench_$$ rc
    scripts/pg.sh createdb "$db" >/dev/null || return 1
    MDM_DATABASE_URL=$(scripts/pg.sh url-for "$db") MDM_SQL_DIR=$PWD/sql "$@"
    rc=$?
    scripts/pg.sh dropdb "$db" >/dev/null 2>&1
    return $rc
}

failed=0 ran=0
for b in "${run[@]}"; do
    name=${b##*/}
    name=${name%.sh}
    name=${name#bench_}
    name=${name#quality_}
    if [ ${#want[@]} -gt 0 ] && [[ " ${want[*]} " != *" $name "* ]]; then
        continue
    fi
    ran=$((ran + 1))
    echo "## $name" | tee -a "$log"
    args=()
    case $b in
        *.sh) ;;
        */bench_normalize) args=("${MDM_BENCH_SECONDS:-0.5}") ;;
        */bench_consent_audit) args=("${MDM_BENCH_CONSENT_EVENTS:-1000000}") ;;
        *) [ -n "${MDM_BENCH_SECONDS:-}" ] && args=("$MDM_BENCH_SECONDS") ;;
    esac
    if [[ $b == *.sh ]]; then
        bash "$b" 2>&1 | tee -a "$log"
    elif [[ $db_benches == *" $name "* ]]; then
        with_fresh_db "$b" "${args[@]}" 2>&1 | tee -a "$log"
    else
        "$b" "${args[@]}" 2>&1 | tee -a "$log"
    fi
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "bench: $name failed (exit $rc)" | tee -a "$log" >&2
        failed=$((failed + 1))
    fi
done
if [ "$ran" -eq 0 ]; then
    echo "bench: no $mode benchmarks${want[*]:+ named ${want[*]}}" | tee -a "$log"
fi
echo "bench: $ran run, $failed failed; log in $log"
[ "$failed" -eq 0 ]
