# `mdm audit verify|list` on a fresh database: the migration run is audited (once, not
# when nothing was applied), exit codes, the head hash, a forged row and a wrong expected
# head are reported, usage errors exit 2.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
psql_q() { psql -X -q -tA -v ON_ERROR_STOP=1 "$MDM_DATABASE_URL" "$@"; }
zeros=0000000000000000000000000000000000000000000000000000000000000000

# the migration run itself is the first row (the log exists once migration 002 ran; an
# empty log is verified in tests/integration/test_audit.c)
expect_exit 0 "migrate" "$mdm" migrate
expect_exit 0 "verify" "$mdm" audit verify
expect_contains "a one-row log is intact" "audit log intact: 1 rows, head" "$out"
expect_eq "schema.migrate audited" "$(psql_q -c "SELECT actor || ' ' || role || ' ' || target || ' ' || (after->>'applied' = (SELECT count(*)::text FROM schema_migrations)) FROM audit_log")" "cli:${USER:-$(id -un)} admin schema true"
expect_exit 0 "migrate again" "$mdm" migrate
expect_contains "nothing to apply" "up to date" "$out"
expect_eq "a run that applies nothing writes no row" "$(psql_q -c "SELECT count(*) FROM audit_log")" "1"
expect_exit 0 "verify --json" "$mdm" audit verify --json
expect_contains "json says intact" '"intact": true' "$out"
head=$(psql_q -c "SELECT last_hash FROM audit_head")
expect_exit 0 "expected head matches" "$mdm" audit verify --expect-head "$head"
expect_exit 1 "another expected head fails" "$mdm" audit verify --expect-head "$zeros"
expect_contains "names the expected head" "not the expected" "$out"
expect_exit 0 "list the log" "$mdm" audit list
expect_contains "list prints the migration row" '"action":"schema.migrate"' "$out"

expect_exit 2 "no subcommand" "$mdm" audit
expect_exit 2 "unknown subcommand" "$mdm" audit frobnicate
expect_exit 2 "unknown option" "$mdm" audit verify --bogus
expect_exit 2 "bad limit" "$mdm" audit list --limit 0
expect_exit 2 "short expected head" "$mdm" audit verify --expect-head abc

# A row inserted behind the module's back, with a made-up hash, is caught.
psql_q -c "INSERT INTO audit_log (actor, role, action, target, prev_hash, hash)
           VALUES ('eve', 'admin', 'entity.merge', 'entity:1', '$zeros', repeat('b', 64))"
expect_exit 1 "forged row fails verification" "$mdm" audit verify
expect_contains "forged row reported as edited" "was edited" "$out"
expect_contains "head no longer matches" "rows at the end were deleted or the head was altered" "$out"
expect_contains "summary says tampered" "TAMPERED" "$out"
expect_exit 0 "list shows the forged row" "$mdm" audit list --actor eve
expect_contains "list prints json" '"action":"entity.merge"' "$out"
expect_exit 0 "eval --labels on an empty queue" "$mdm" eval --labels
expect_contains "eval --labels counts pairs" "labelled_pairs=0 match=0 no_match=0" "$out"
expect_contains "eval --labels precision undefined" "precision=-" "$out"
expect_exit 0 "eval --labels --json" "$mdm" eval --labels --json
expect_contains "json names thresholds" '"thresholds"' "$out"
expect_exit 2 "eval --labels rejects a clusters file" "$mdm" eval --labels clusters.csv
expect_exit 7 "unreachable database" env MDM_DATABASE_URL="postgresql:///x?host=/nonexistent" "$mdm" audit verify
e2e_end
