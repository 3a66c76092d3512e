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

# Suites run MDM_TEST_JOBS at a time (default: the number of cores). Each writes its counts
# to a result file; the totals are summed at the end. Suites that stop or restart the shared
# cluster, or measure timing, run alone afterwards (the reliability group).
jobs=${MDM_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
seq_no=0

# run_suite NAME COMMAND...: runs one suite, writes "passed failed" to its result file.
run_suite() {
    local name=$1; shift
    local log="$logs/$name.log"
    mkdir -p "$(dirname "$log")"
    local t0=$SECONDS
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
    echo "$p $f" >"$results/$(printf '%05d' "$MDM_SUITE_NO")"
    local took=$((SECONDS - t0))
    if [ "$f" -ne 0 ]; then
        { printf '%-32s %4d passed, %d FAILED (rc=%d, %ds, log %s)\n' "$name" "$p" "$f" "$rc" "$took" "$log"
          tail -n 30 "$log" | sed "s/^/    | /"; }
    else
        printf '%-32s %4d passed  (%ds)\n' "$name" "$p" "$took"
    fi
}

# spawn RUNNER NAME COMMAND...: RUNNER (run_suite or with_db) in the background once fewer
# than $jobs suites are running.
spawn() {
    seq_no=$((seq_no + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    MDM_SUITE_NO=$seq_no "$@" &
}

# with_db NAME COMMAND...: runs a suite against a fresh database (dropped afterwards).
with_db() {
    local name=$1; shift
    local dbname="mdm_test_$$_$MDM_SUITE_NO"
    scripts/pg.sh createdb "$dbname" >/dev/null
    MDM_DATABASE_URL=$(scripts/pg.sh url-for "$dbname") MDM_TEST_DB=$dbname run_suite "$name" "$@"
    scripts/pg.sh dropdb "$dbname" >/dev/null 2>&1
}

if [ "$mode" != --reliability ]; then
    for t in build/san/tests/test_*; do
        [ -x "$t" ] && spawn run_suite "unit/$(basename "$t")" "$t"
    done
fi

if [ "$mode" != --unit ]; then
    if ! scripts/pg.sh start; then
        wait
        echo "tests: cannot start PostgreSQL"
        echo "0 passed, 1 failed"; exit 1
    fi
    if [ "$mode" != --reliability ]; then
        # the longest suites first, so the pool ends evenly
        [ -x tests/browser/run.sh ] && spawn with_db "browser" tests/browser/run.sh
        for t in build/san/itests/test_*; do
            [ -x "$t" ] && spawn with_db "integration/$(basename "$t")" "$t"
        done
        for t in tests/sql/*.sql; do
            [ -f "$t" ] && spawn with_db "sql/$(basename "$t" .sql)" tests/sql/run_one.sh "$t"
        done
        for t in tests/e2e/*.sh; do
            [ -f "$t" ] && spawn with_db "e2e/$(basename "$t" .sh)" bash "$t"
        done
    fi
    wait
    # reliability: fault sweeps (C), restarts, kill -9, several servers, load, restore;
    # one at a time, since they restart the cluster or measure
    for t in build/san/rtests/test_*; do
        [ -x "$t" ] && { seq_no=$((seq_no + 1)); MDM_SUITE_NO=$seq_no with_db "reliability/$(basename "$t")" "$t"; }
    done
    for t in tests/reliability/*.sh; do
        [ -f "$t" ] && { seq_no=$((seq_no + 1)); MDM_SUITE_NO=$seq_no with_db "reliability/$(basename "$t" .sh)" bash "$t"; }
    done
fi
wait

passed=0 failed=0
for r in "$results"/*; do
    [ -f "$r" ] || continue
    read -r p f <"$r"
    passed=$((passed + p)); failed=$((failed + f))
done
expected=$seq_no
got=$(find "$results" -type f | wc -l)
if [ "$got" -ne "$expected" ]; then
    echo "tests: $((expected - got)) suite(s) left no result"
    failed=$((failed + expected - got))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
