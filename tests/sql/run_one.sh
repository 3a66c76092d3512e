#!/usr/bin/env bash
# SQL regression: migrates the fresh database of MDM_DATABASE_URL, runs FILE.sql through
# psql and diffs the output with tests/sql/expected/FILE.out. Prints "1 passed, 0 failed"
# or the diff and "0 passed, 1 failed". MDM_SQL_ACCEPT=1 rewrites the expected output.
set -uo pipefail
file=$1
name=$(basename "$file" .sql)
expected="$(dirname "$file")/expected/$name.out"
"${MDM_BIN:?}" migrate >/dev/null 2>&1 || { echo "migrate failed"; echo "0 passed, 1 failed"; exit 1; }
out=$(psql -X -q -a -v VERBOSITY=terse "$MDM_DATABASE_URL" -f "$file" 2>&1 | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.+]+/TIMESTAMP/g')
if [ "${MDM_SQL_ACCEPT:-}" = 1 ]; then printf '%s\n' "$out" > "$expected"; fi
if diff -u "$expected" <(printf '%s\n' "$out"); then
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
    exit 1
fi
