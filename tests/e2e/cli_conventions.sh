# CLI conventions (issue 23, item 7): "-" for stdin/stdout, --version on every command,
# configuration paths relative to the configuration file, no log lines in human output,
# the generated bash completion and man page.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MDM_SQL_DIR MDM_LOG_LEVEL

# --version on every command, before any other argument is read
for cmd in $("$mdm" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} /^$/{if(on)exit}'); do
    expect_exit 0 "$cmd --version" "$mdm" "$cmd" --version
    expect_contains "$cmd --version prints the version" "mdm 0." "$out"
done
expect_exit 0 "apikey revoke --version is not a key prefix" "$mdm" apikey revoke --version
expect_contains "apikey revoke --version prints the version" "mdm 0." "$out"
expect_exit 0 "an argument after -- is not an option" "$mdm" phonetic --algorithm soundex -- --version
expect_eq "--version after -- is a value" "$out" "V625"

# configuration paths resolve against the configuration file's folder: a copy of the demo
# configuration (model.path "model.json") with sql_dir "migrations", used from elsewhere
mkdir -p "$tmp/etc" "$tmp/elsewhere"
cp "$root/demo/model.json" "$tmp/etc/model.json"
ln -s "$root/sql" "$tmp/etc/migrations"
jq '. + {sql_dir: "migrations"}' "$root/demo/mdm.json" > "$tmp/etc/mdm.json"
cd "$tmp/elsewhere" || exit 1
expect_exit 0 "config from another folder" "$mdm" config --config ../etc/mdm.json
expect_contains "model.path resolves against the file" "\"path\": \"../etc/model.json\"" "$out"
expect_contains "sql_dir resolves against the file" "\"sql_dir\": \"../etc/migrations\"" "$out"
expect_exit 0 "migrate finds sql_dir of the file" "$mdm" migrate --config ../etc/mdm.json
expect_contains "migrate applied the migrations" "applied 001_schema.sql" "$out"
expect_exit 0 "environment paths resolve against the current folder" \
    env MDM_SQL_DIR=../etc/migrations "$mdm" config --config "$tmp/etc/mdm.json"
expect_contains "MDM_SQL_DIR kept as given" "\"sql_dir\": \"../etc/migrations\"" "$out"
export MDM_CONFIG=$tmp/etc/mdm.json

# log lines never interleave with human output: commands log at warn unless a level is set
"$mdm" synth --people 60 --seed 3 --out "$tmp/s" >/dev/null 2>&1
"$mdm" load --source crm "$tmp/s/crm.csv" >"$tmp/load.out" 2>"$tmp/load.err"
expect_eq "load exit status" "$?" "0"
if grep -q 'level=info' "$tmp/load.out" "$tmp/load.err"; then
    e2e_fail "no info log lines by default" "$(grep -h level=info "$tmp/load.out" "$tmp/load.err" | head -2)"
else e2e_ok "no info log lines by default"; fi
MDM_LOG_LEVEL=info "$mdm" migrate >"$tmp/m.out" 2>"$tmp/m.err"
if grep -q '^ts=' "$tmp/m.out"; then e2e_fail "log lines never on stdout" "$(head -2 "$tmp/m.out")"; else e2e_ok "log lines never on stdout"; fi

# "-" is standard input for load and standard output for --output
expect_exit 0 "load reads - (standard input)" sh -c "'$mdm' load --source loyalty --format csv - < '$tmp/s/loyalty.csv'"
expect_contains "load from stdin counted the rows" "loaded -: $(($(wc -l < "$tmp/s/loyalty.csv") - 1)) rows" "$out"
"$mdm" export golden --format ndjson --output - >"$tmp/golden.ndjson" 2>/dev/null
expect_eq "export golden --output - writes stdout" "$(wc -l < "$tmp/golden.ndjson")" "$("$mdm" export golden --format ndjson 2>/dev/null | wc -l)"
[ -e ./- ] && e2e_fail "no file named -" "created" || e2e_ok "no file named -"
"$mdm" export consent --output - >"$tmp/consent.csv" 2>/dev/null
expect_contains "export consent --output - writes stdout" "event_id," "$(head -1 "$tmp/consent.csv")"
expect_exit 2 "load reads stdin once" "$mdm" load --source crm --format csv - -

# link: "-" as the input and as --out gives the same clusters as files
jq '{sources: [.sources[0] + {match: "*"}], training: (.training + {u_samples: 20000})} + (. | del(.sources, .training))' \
    "$root/demo/synth.json" > "$tmp/one.json"
"$mdm" link --config "$tmp/one.json" "$tmp/s/crm.csv" --out "$tmp/cl.csv" --threads 1 2>/dev/null
cat "$tmp/s/crm.csv" | "$mdm" link --config "$tmp/one.json" - --out - --threads 1 >"$tmp/cl-std.csv" 2>/dev/null
expect_eq "link - --out - equals the file run" "$(md5sum < "$tmp/cl-std.csv")" "$(md5sum < "$tmp/cl.csv")"
expect_exit 2 "link: --out and --pairs cannot both be -" "$mdm" link --config "$tmp/one.json" x.csv --out - --pairs -

# bash completion and man page, generated from --help
comp=$root/build/rel/mdm.bash-completion
complete_words() { # complete_words WORD... -> the candidates for the last word
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mdm; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@"
}
expect_contains "completion of commands" "deliveries" "$(complete_words mdm del)"
expect_contains "completion of subcommands" "revoke" "$(complete_words mdm apikey re)"
expect_contains "completion of options" "--no-resolve" "$(complete_words mdm load --no)"
man=$root/build/rel/mdm.1
page=$(MANWIDTH=100 man -l "$man" 2>&1)
expect_contains "man page NAME" "mdm - customer master-data management" "$page"
for cmd in load export serve subscriptions; do
    expect_contains "man page documents mdm $cmd" "usage: mdm $cmd" "$page"
done
warn=$(man --warnings -l "$man" 2>&1 >/dev/null)
expect_eq "man page renders without warnings" "$warn" ""
e2e_end
