# Shared helpers for e2e suites (sourced). Each check prints "ok NAME" or "FAIL NAME ..."
# and e2e_end prints the suite summary "N passed, N failed" and sets the exit status.
# Environment from tests/run.sh: MDM_BIN, MDM_DATABASE_URL (a fresh database), MDM_ROOT.
e2e_passed=0
e2e_failed=0

e2e_ok() { e2e_passed=$((e2e_passed + 1)); echo "ok   $1"; }
e2e_fail() { e2e_failed=$((e2e_failed + 1)); echo "FAIL $1: $2"; }

# expect_exit CODE NAME COMMAND...: runs COMMAND; passes when it exits with CODE.
# Its stdout+stderr are left in $out.
expect_exit() {
    local want=$1 name=$2; shift 2
    out=$("$@" 2>&1)
    local rc=$?
    if [ "$rc" -eq "$want" ]; then e2e_ok "$name"; else e2e_fail "$name" "exit $rc, want $want: ${out:0:300}"; fi
}

# expect_contains NAME TEXT HAYSTACK: passes when HAYSTACK contains TEXT.
expect_contains() {
    if [[ $3 == *"$2"* ]]; then e2e_ok "$1"; else e2e_fail "$1" "missing \"$2\" in: ${3:0:300}"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then e2e_ok "$1"; else e2e_fail "$1" "got \"$2\", want \"$3\""; fi
}

e2e_end() {
    echo "$e2e_passed passed, $e2e_failed failed"
    [ "$e2e_failed" -eq 0 ]
}
