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

# e2e_config DIR [MODEL] [JQ]: writes DIR/mdm.json, the demo configuration (demo/mdm.json)
# with its model path pointing at MODEL (default, or when empty: the shipped
# demo/model.json) and changed by the jq filter JQ when given (e.g. '.http =
# {"auth_cache_seconds": 0}'), and exports MDM_CONFIG naming it.
e2e_config() {
    local root=${MDM_ROOT:-$PWD}
    sed "s#\"model.json\"#\"${2:-$root/demo/model.json}\"#" "$root/demo/mdm.json" |
        jq "${3:-.}" >"$1/mdm.json"
    export MDM_CONFIG=$1/mdm.json
}

# e2e_pipeline DIR PEOPLE SEED [SOURCE...]: data from the real pipeline under the demo
# configuration (e2e_config DIR): mdm migrate, mdm synth of PEOPLE people (seed SEED) into
# DIR/data, then, when sources are named, mdm load --quiet of each one's file and
# mdm resolve. Each step is a check.
e2e_pipeline() {
    local dir=$1 people=$2 seed=$3 s
    shift 3
    e2e_config "$dir"
    expect_exit 0 "migrate" "$MDM_BIN" migrate
    expect_exit 0 "synth" "$MDM_BIN" synth --people "$people" --seed "$seed" --out "$dir/data"
    [ $# -gt 0 ] || return 0
    for s in "$@"; do
        expect_exit 0 "load $s" "$MDM_BIN" load --quiet --source "$s" "$dir/data/$s.csv"
    done
    expect_exit 0 "resolve" "$MDM_BIN" resolve
}

# e2e_bulk DATA [SOURCE...]: the bulk path over files of mdm synth: mdm load --no-resolve of
# each source's DATA/SOURCE.csv (default: the five demo sources), then mdm resolve
# --threads 2 of the backlog ($out holds its report). Each step is a check.
e2e_bulk() {
    local data=$1 s
    shift
    [ $# -gt 0 ] || set -- crm loyalty commerce erp pos
    for s in "$@"; do
        expect_exit 0 "load $s" "$MDM_BIN" load --quiet --no-resolve --source "$s" "$data/$s.csv"
    done
    expect_exit 0 "resolve" "$MDM_BIN" resolve --quiet --threads 2
}

e2e_end() {
    echo "$e2e_passed passed, $e2e_failed failed"
    [ "$e2e_failed" -eq 0 ]
}
