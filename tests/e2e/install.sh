# make install (issue 23, items 7 and 8): the installed tree holds the binary, the
# migrations, the UI, the man page, the bash completion and the systemd units; the
# installed mdm migrates a database from any folder; the units pass
# `systemd-analyze verify` (which also checks that ExecStart is executable and that the
# man page named by Documentation= is installed).
. "$(dirname "$0")/lib.bash"
root=${MDM_ROOT:-$PWD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MDM_SQL_DIR MDM_UI_DIR MDM_CONFIG
mk() { make --no-print-directory -s -C "$root" "$@"; }

# 1. a staged install (DESTDIR), run from another folder
expect_exit 0 "make install DESTDIR" mk install DESTDIR="$tmp/dest" PREFIX=/usr/local
p=$tmp/dest/usr/local
for f in bin/mdm share/mdm/sql/001_schema.sql share/mdm/ui/index.html share/man/man1/mdm.1 \
    share/bash-completion/completions/mdm lib/systemd/system/mdm.service \
    lib/systemd/system/mdm-publish.service; do
    [ -s "$p/$f" ] && e2e_ok "installed $f" || e2e_fail "installed $f" "missing"
done
expect_contains "unit runs the installed binary" "ExecStart=/usr/local/bin/mdm serve" "$(cat "$p/lib/systemd/system/mdm.service")"
expect_contains "publish unit runs mdm publish" "ExecStart=/usr/local/bin/mdm publish" "$(cat "$p/lib/systemd/system/mdm-publish.service")"
mkdir -p "$tmp/work"
cd "$tmp/work" || exit 1
expect_exit 0 "installed mdm migrates from another folder" "$p/bin/mdm" migrate
expect_contains "installed migrations applied" "applied 001_schema.sql" "$out"
expect_exit 0 "installed mdm: config names the installed folders" "$p/bin/mdm" config
expect_contains "sql_dir is the installed one" "/usr/local/bin/../share/mdm/sql\"" "$out"
expect_contains "ui_dir is the installed one" "/usr/local/bin/../share/mdm/ui\"" "$out"

# 2. an install in place (PREFIX): its units verified by systemd-analyze
expect_exit 0 "make install PREFIX" mk install PREFIX="$tmp/prefix" SYSCONFDIR="$tmp/etc"
units=$tmp/prefix/lib/systemd/system
for u in mdm.service mdm-publish.service; do
    expect_exit 0 "systemd-analyze verify $u" env MANPATH="$tmp/prefix/share/man" \
        systemd-analyze verify "$units/$u"
done
# the check can fail: a unit whose binary is missing is refused
rm "$tmp/prefix/bin/mdm"
out=$(MANPATH="$tmp/prefix/share/man" systemd-analyze verify "$units/mdm.service" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && e2e_ok "verify refuses a unit without its binary" || e2e_fail "verify refuses a unit without its binary" "rc 0: $out"
expect_exit 0 "make uninstall" mk uninstall PREFIX="$tmp/prefix"
left=$(find "$tmp/prefix" -type f)
expect_eq "uninstall removes every file" "$left" ""
e2e_end
