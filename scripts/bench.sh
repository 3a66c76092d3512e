#!/usr/bin/env bash
# Runs the benchmark programs build/rel/bench_* (`make bench` builds them first) and
# prints their key=value result lines. One `case` per benchmark gives its arguments;
# a benchmark without a case runs with none.
#
#   scripts/bench.sh               every benchmark
#   scripts/bench.sh NAME...       only these (normalize, compare, ...)
#   scripts/bench.sh --quality     the precision/recall benchmarks (`make bench-quality`)
#
# MDM_BENCH_SECONDS sets the time per measured field where a benchmark takes one.
set -uo pipefail
cd "$(dirname "$0")/.."

quality=0
want=()
for a in "$@"; do
    case $a in
        --quality) quality=1 ;;
        *) want+=("$a") ;;
    esac
done

status=0
for b in build/rel/bench_*; do
    [ -x "$b" ] || continue
    name=${b##*/bench_}
    if [ ${#want[@]} -gt 0 ] && [[ " ${want[*]} " != *" $name "* ]]; then
        continue
    fi
    case $name in
        normalize)
            [ "$quality" = 1 ] && continue
            "$b" "${MDM_BENCH_SECONDS:-0.5}" || status=1
            ;;
        *)
            [ "$quality" = 1 ] && continue
            "$b" || status=1
            ;;
    esac
done
exit $status
