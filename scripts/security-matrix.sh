#!/usr/bin/env bash
# Prints the route-by-role matrix of docs/SECURITY.md (a Markdown table) from the route
# table itself (`mdm serve --routes`), so the document cannot drift from the code:
# tests/e2e/security_http.sh compares the table between the "routes:begin" and
# "routes:end" markers of docs/SECURITY.md with this output.
#
#   scripts/security-matrix.sh [MDM]      (default: build/rel/mdm)
set -euo pipefail
mdm=${1:-build/rel/mdm}
echo "| method | route | public | source | reader | steward | compliance | admin |"
echo "|---|---|---|---|---|---|---|---|"
"$mdm" serve --routes | while read -r method route roles; do
    row="| $method | \`$route\` |"
    for r in public source reader steward compliance admin; do
        case ",$roles," in
        *",public,"*) cell=yes ;;
        *",$r(own),"*) cell=own ;;
        *",$r,"*) cell=yes ;;
        *) cell="" ;;
        esac
        [ "$r" = public ] && [ "$roles" != public ] && cell=""
        row="$row $cell |"
    done
    echo "$row"
done
