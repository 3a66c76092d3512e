# The documentation tells the truth about the binary: the README stays short and names
# every command of `mdm --help`; every route of `mdm serve --routes` is documented in
# docs/; every relative link in README.md and docs/*.md points at a file that exists.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-.}

lines=$(wc -l <"$root/README.md")
if [ "$lines" -le 250 ]; then e2e_ok "README has at most 250 lines"; else e2e_fail "README length" "$lines lines"; fi

commands=$("$mdm" --help 2>&1 | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || e2e_fail "mdm --help lists commands" "none found"
for c in $commands; do
    expect_contains "README names mdm $c" "mdm $c" "$(cat "$root/README.md")"
done

docs=$(cat "$root"/docs/*.md)
while read -r method path _; do
    [ -n "$path" ] || continue
    case $path in /ui/*) continue ;; esac
    # documented as "METHOD /path" or in a list of methods ("GET/PUT/DELETE /path")
    if grep -qE "(^|[^A-Za-z])([A-Z]+/)*$method(/[A-Z]+)* \`?${path//\{/\\\{}" <<<"$docs" ||
        grep -qF "$method $path" <<<"$docs"; then
        e2e_ok "docs describe $method $path"
    else
        e2e_fail "docs describe $method $path" "not found in docs/*.md"
    fi
done < <("$mdm" serve --routes 2>&1)

for f in "$root/README.md" "$root"/docs/*.md; do
    dir=$(dirname "$f")
    for link in $(grep -oE '\]\([^)#:]+(#[^)]*)?\)' "$f" | sed -E 's/^\]\(//; s/\)$//; s/#.*//'); do
        if [ -e "$dir/$link" ]; then
            e2e_ok "link $(basename "$f") -> $link"
        else
            e2e_fail "link $(basename "$f") -> $link" "no such file"
        fi
    done
done

e2e_end
