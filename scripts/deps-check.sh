#!/usr/bin/env bash
# The file-level call graph of mdm, from the symbols each object defines and uses (nm), and
# two rules over it (docs/ARCHITECTURE.md, Layers):
#   1. dependencies point down: api -> stewardship -> mdm -> matching -> common; a file
#      never uses a symbol defined in a layer above its own;
#   2. no cycles between the files of the folders named by --acyclic (default: every layer
#      but api/, whose route and command tables point at the handlers that call back into
#      http.c and cli.c).
# Fails (exit 1) naming the offending edges with the symbols behind them.
#
#   scripts/deps-check.sh [--graph] [--acyclic "DIR ..."] [OBJDIR]
#
# OBJDIR is an object tree of the Makefile (default build/rel/obj); --graph prints the
# edges ("from to symbol", one per line) instead of checking.
set -euo pipefail
cd "$(dirname "$0")/.."

graph=0
acyclic="common matching mdm stewardship"
while [ $# -gt 0 ]; do
    case $1 in
    --graph) graph=1; shift ;;
    --acyclic) acyclic=$2; shift 2 ;;
    *) break ;;
    esac
done
obj=${1:-build/rel/obj}
layers="common matching mdm stewardship api"

# The objects of today's sources only (an object tree may hold objects of removed files).
files=()
for l in $layers; do
    for c in "$l"/*.c "$l"/*.cc; do
        [ -e "$c" ] || continue
        o="$obj/${c%.*}.o"
        [ -e "$o" ] || { echo "deps-check: $o is missing (build first)" >&2; exit 2; }
        files+=("$o")
    done
done

# "D file symbol" for each global definition, "U file symbol" for each use.
syms=$(for o in "${files[@]}"; do
    f=${o#"$obj"/}; f=${f%.o}
    nm -P --defined-only "$o" | awk -v f="$f" '$2 ~ /^[TDBRVWGS]$/ {print "D", f, $1}'
    nm -P --undefined-only "$o" | awk -v f="$f" '{print "U", f, $1}'
done)

# "from to symbol": from uses symbol, defined in to.
edges=$(awk '$1 == "D" { def[$3] = $2; next }
             { use[++n] = $2 " " $3 }
             END { for (i = 1; i <= n; i++) { split(use[i], u, " ");
                       if ((u[2] in def) && def[u[2]] != u[1]) print u[1], def[u[2]], u[2] } }' \
    <<<"$syms" | sort -u)

if [ $graph = 1 ]; then
    printf '%s\n' "$edges"
    exit 0
fi

fail=0

# 1. Layering: the rank of a file's folder never rises along an edge.
up=$(awk -v layers="$layers" 'BEGIN { n = split(layers, l, " "); for (i = 1; i <= n; i++) rank[l[i]] = i }
     { split($1, a, "/"); split($2, b, "/"); if (rank[b[1]] > rank[a[1]]) print "  " $1 " -> " $2 " (" $3 ")" }' \
    <<<"$edges")
if [ -n "$up" ]; then
    echo "deps-check: dependencies that point up a layer:"
    printf '%s\n' "$up"
    fail=1
fi

# 2. Cycles: an edge lies on a cycle when its target reaches its source (depth-first search
# over the edges between files of the --acyclic folders); those edges are shown.
left=$(awk -v dirs="$acyclic" 'BEGIN { n = split(dirs, d, " "); for (i = 1; i <= n; i++) keep[d[i]] = 1 }
     { split($1, a, "/"); split($2, b, "/"); if ((a[1] in keep) && (b[1] in keep)) print }' \
    <<<"$edges" |
    awk '{ from[NR] = $1; to[NR] = $2; sym[NR] = $3; n = NR
           if (!(($1, $2) in adj)) { adj[$1, $2] = 1; succ[$1] = succ[$1] " " $2 }
           node[$1] = 1; node[$2] = 1 }
         END {
             # reach[s, t]: t is reachable from s (depth-first from every file)
             for (s in node) {
                 top = 0; stack[++top] = s
                 while (top > 0) {
                     v = stack[top--]
                     k = split(succ[v], w, " ")
                     for (i = 1; i <= k; i++)
                         if (!((s, w[i]) in reach)) { reach[s, w[i]] = 1; stack[++top] = w[i] }
                 }
             }
             for (e = 1; e <= n; e++)
                 if ((to[e], from[e]) in reach) print "  " from[e] " -> " to[e] " (" sym[e] ")"
         }' | sort)
if [ -n "$left" ]; then
    echo "deps-check: files that depend on each other in a circle (break each cycle along a seam):"
    printf '%s\n' "$left"
    fail=1
fi

exit $fail
