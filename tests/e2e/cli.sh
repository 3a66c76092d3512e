# The mdm command line: help, version, exit codes, configuration errors, migrate.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect_exit 0 "help" "$mdm" --help
expect_contains "help lists migrate" "migrate" "$out"
expect_contains "help lists exit codes" "exit codes" "$out"
expect_exit 2 "no command is a usage error" "$mdm"
expect_exit 2 "unknown command" "$mdm" frobnicate
expect_contains "unknown command named" 'unknown command "frobnicate"' "$out"
expect_exit 0 "version" "$mdm" version
expect_contains "version names libpq" "libpq" "$out"
for cmd in $("$mdm" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} /^$/{if(on)exit}'); do
    expect_exit 0 "$cmd --help" "$mdm" "$cmd" --help
    expect_contains "$cmd --help shows usage" "usage: mdm $cmd" "$out"
done
expect_exit 2 "migrate rejects unknown option" "$mdm" migrate --bogus

echo '{"lissten": "1"}' > "$tmp/bad.json"
expect_exit 2 "unknown config key" "$mdm" config --config "$tmp/bad.json"
expect_contains "unknown key named" 'unknown key "lissten"' "$out"
expect_exit 2 "bad env value" env MDM_THREADS=many "$mdm" config
expect_contains "bad env named" "MDM_THREADS" "$out"
expect_exit 8 "missing config file" "$mdm" config --config "$tmp/none.json"
echo '{"default_country": "DE"}' > "$tmp/ok.json"
expect_exit 0 "config prints effective values" "$mdm" config --config "$tmp/ok.json"
expect_contains "config shows file value" '"default_country": "DE"' "$out"

expect_exit 7 "unreachable database is a clear error" env MDM_DATABASE_URL="postgresql:///x?host=/nonexistent" "$mdm" migrate
expect_contains "unreachable database message" "cannot connect to the database" "$out"
expect_exit 2 "no database configured" env MDM_DATABASE_URL= "$mdm" migrate --config "$tmp/ok.json"

expect_exit 0 "migrate fresh database" "$mdm" migrate
expect_contains "migrate applied 001" "applied 001_schema.sql" "$out"
expect_exit 0 "migrate again is a no-op" "$mdm" migrate
expect_contains "no-op says up to date" "up to date" "$out"
expect_exit 0 "migrate --status" "$mdm" migrate --status
expect_contains "status lists applied" "applied 001_schema.sql" "$out"
mkdir "$tmp/sql" && cp "$MDM_ROOT"/sql/*.sql "$tmp/sql/" && echo "-- edited" >> "$tmp/sql/001_schema.sql"
expect_exit 5 "edited applied migration refused" env MDM_SQL_DIR="$tmp/sql" "$mdm" migrate
expect_contains "refusal names the file" "001_schema.sql has changed" "$out"
e2e_end
