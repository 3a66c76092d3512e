#!/usr/bin/env bash
# Runs the test suites and prints, as its last line, the total "N passed, N failed".
#
#   tests/run.sh            unit, SQL, integration, e2e and browser suites
#   tests/run.sh --unit     unit suites only (no database)
#   tests/run.sh --reliability   only the reliability suites (make soak sets MDM_SOAK=1)
#
# Each suite is a program whose last output line is "N passed, N failed"; a suite that
# crashes or exits non-zero without a failure count counts as one failure. Suites that
# need PostgreSQL each get a fresh database (dropped afterwards) on the private cluster
# of scripts/pg.sh, or on the server of MDM_DATABASE_URL when it is set. Logs of every
# suite are kept in build/test-logs/.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-all}
logs=build/test-logs
mkdir -p "$logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export MDM_SQL_DIR=$root/sql
export MDM_BIN=${MDM_BIN:-$root/build/san/mdm}
export MDM_ROOT=$root

passed=0 failed=0

# run_suite NAME COMMAND...: runs one suite, adds its counts to the totals.
run_suite() {
    local name=$1; shift
    local log="$logs/$name.log"
    mkdir -p "$(dirname "$log")"
    "$@" >"$log" 2>&1
    local rc=$?
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    local p=0 f=0
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*, }; f=${f%% failed}
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        printf '%-32s %4d passed, %d FAILED (rc=%d, log %s)\n' "$name" "$p" "$f" "$rc" "$log"
        tail -n 30 "$log" | sed 's/^/    | /'
    else
        printf '%-32s %4d passed\n' "$name" "$p"
    fi
}

if [ "$mode" != --reliability ]; then
    for t in build/san/tests/test_*; do
        [ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
    done
fi

if [ "$mode" != --unit ]; then
    scripts/pg.sh start || { echo "tests: cannot start PostgreSQL"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
    n=0
    # with_db NAME COMMAND...: runs a suite against a fresh database.
    with_db() {
        local name=$1; shift
        n=$((n + 1))
        local dbname="mdm_test_$$_$n"
        scripts/pg.sh createdb "$dbname" >/dev/null
        MDM_DATABASE_URL=$(scripts/pg.sh url-for "$dbname") MDM_TEST_DB=$dbname run_suite "$name" "$@"
        scripts/pg.sh dropdb "$dbname" >/dev/null 2>&1
    }
    if [ "$mode" != --reliability ]; then
        for t in build/san/itests/test_*; do
            [ -x "$t" ] && with_db "integration/$(basename "$t")" "$t"
        done
        for t in tests/sql/*.sql; do
            [ -f "$t" ] && with_db "sql/$(basename "$t" .sql)" tests/sql/run_one.sh "$t"
        done
        for t in tests/e2e/*.sh; do
            [ -f "$t" ] && with_db "e2e/$(basename "$t" .sh)" bash "$t"
        done
        if [ -x tests/browser/run.sh ]; then
            with_db "browser" tests/browser/run.sh
        fi
    fi
    # reliability: fault sweeps (C), restarts, kill -9, several servers, load, restore
    for t in build/san/rtests/test_*; do
        [ -x "$t" ] && with_db "reliability/$(basename "$t")" "$t"
    done
    for t in tests/reliability/*.sh; do
        [ -f "$t" ] && with_db "reliability/$(basename "$t" .sh)" bash "$t"
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
