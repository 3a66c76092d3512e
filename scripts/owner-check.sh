#!/usr/bin/env bash
# One owner per table (docs/ARCHITECTURE.md, "Table owners"): every INSERT, UPDATE, DELETE,
# COPY or TRUNCATE on a table appears in the SQL text of its owner's file, or of a file the
# map lists beside the owner as a writer still to route. The map is read from the table
# between the markers "<!-- owners -->" and "<!-- /owners -->" of docs/ARCHITECTURE.md:
#   | `table` | `owner.c` | `other.c`, `other2.c` (why) |
# Fails (exit 1) naming each write outside the map, and each table written that the map
# does not name.
set -euo pipefail
cd "$(dirname "$0")/.."

map=$(sed -n '/<!-- owners -->/,/<!-- \/owners -->/p' docs/ARCHITECTURE.md |
    awk -F'|' 'NF >= 4 && $2 ~ /`/ {
        n = split($2, t, "`"); files = $3 " " $4
        w = ""; while (match(files, /`[a-z_\/]+\.c`/)) { w = w " " substr(files, RSTART + 1, RLENGTH - 2); files = substr(files, RSTART + RLENGTH) }
        for (i = 2; i <= n; i += 2) print t[i] w }')
[ -n "$map" ] || { echo "owner-check: no table map in docs/ARCHITECTURE.md" >&2; exit 2; }

# "file table" for each write in a string literal of the C sources below api/.
# (api/ writes nothing: scripts/sql-check.sh; its help texts would only add noise here.)
writes=$(for f in common/*.c matching/*.c mdm/*.c stewardship/*.c; do
    { grep -oE '"[^"]*"' "$f" || true; } |
        { grep -oE '\b(INSERT INTO|UPDATE|DELETE FROM|COPY|TRUNCATE( TABLE)?) +[a-z_]+' || true; } |
        awk -v f="$f" '{ print f, $NF }'
done | sort -u)

bad=$(awk 'NR == FNR { t = $1; $1 = ""; allowed[t] = $0 " "; next }
           { if (!($2 in allowed)) print "  " $1 " writes " $2 ", a table the map does not name"
             else if (index(allowed[$2], " " $1 " ") == 0) print "  " $1 " writes " $2 " (owner and writers:" allowed[$2] ")" }' \
    <(printf '%s\n' "$map") <(printf '%s\n' "$writes"))
if [ -n "$bad" ]; then
    echo "owner-check: writes outside the owner of the table (route them through the owner's functions):"
    printf '%s\n' "$bad"
    exit 1
fi
