#!/usr/bin/env bash
# The free-text search statement (stmt_find of CHECKOUT/mdm/query.c, its text as the C
# compiler assembles it) timed in psql under the generic plan a long-lived server
# connection settles on: a new session per run, `SET plan_cache_mode =
# force_generic_plan`, jit off (as mdm_query_find sets it), `PREPARE`, `EXPLAIN ANALYZE
# EXECUTE`. The parameters are built from each query as mdm_query_find builds them (name
# tokens, their nickname classes from `mdm normalize`, initials), page of 50.
#
#   tests/bench/search_plan.sh CHECKOUT URL [RUNS] [QUERY...]
#
# Prints one line per query and run: the query, the golden records it finds (total), the
# execution time, and the load average beside it. Reads only.
set -euo pipefail
checkout=$1 url=$2 runs=${3:-2}
shift $(($# >= 3 ? 3 : $#))
bin=${MDM_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/rel/mdm}
[ $# -gt 0 ] || set -- "Steven Selberg" "Selberg, Steven" "S Selberg" "Mary"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
    echo '#include <stdio.h>'
    echo 'typedef struct { const char *name, *sql; int nparams; } mdm_db_stmt;'
    sed -n '/^#define ENTITY_OF/,/^#undef ENTITY_OF/p' "$checkout/mdm/query.c"
    echo 'int main(void) { fputs(stmt_find.sql, stdout); return 0; }'
} > "$tmp/stmt.c"
cc -o "$tmp/stmt" "$tmp/stmt.c"
"$tmp/stmt" > "$tmp/find.sql"

# text[] literal of words
arr() { local IFS=,; echo "{$*}"; }

for q in "$@"; do
    toks=() canons=() inits=()
    for t in $(printf '%s' "$q" | tr ',' ' '); do
        key=$("$bin" normalize --field text "$t" | sed -n 's/^  "key": "\(.*\)",\{0,1\}$/\1/p')
        if [ ${#key} -eq 1 ]; then
            inits+=("$key")
            continue
        fi
        toks+=("$key")
        canons+=("$("$bin" normalize --field name "$key" |
            sed -n 's/^  "first_canonical": "\(.*\)",\{0,1\}$/\1/p')")
    done
    n=${#toks[@]}
    need=$((n >= 3 ? n - 1 : n))
    params="'$(arr "${toks[@]}")', '$(arr "${canons[@]}")', '$(arr "${inits[@]+"${inits[@]}"}")', '{}', $need, 0, 51"
    for r in $(seq "$runs"); do
        out=$(psql "$url" -X -q -At <<SQL
SET plan_cache_mode = force_generic_plan;
SET jit = off;
PREPARE f AS $(cat "$tmp/find.sql");
EXPLAIN (ANALYZE, TIMING OFF) EXECUTE f($params);
SQL
        ) 2>&1 || true
        ms=$(printf '%s\n' "$out" | sed -n 's/^Execution Time: \(.*\) ms$/\1/p')
        if [ "$r" = 1 ]; then
            total=$(psql "$url" -X -q -At -F $'\t' -c "SET jit = off" \
                -c "PREPARE f AS $(cat "$tmp/find.sql")" -c "EXECUTE f($params)" |
                awk -F'\t' 'NR == 1 { print $NF }')
        fi
        printf '%-20s total=%s params=%s exec_ms=%s load="%s"\n' "\"$q\"" "${total:-0}" \
            "$params" "${ms:-?}" \
            "$(uptime | sed 's/.*load average: //')"
        [ -n "$ms" ] || printf '%s\n' "$out" | tail -5 >&2
    done
done
