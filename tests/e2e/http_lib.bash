# Helpers for the HTTP e2e suites (sourced after lib.bash; not a suite itself).
#   http_start [ARGS...]   starts `$MDM_BIN serve --listen 127.0.0.1:0 ARGS` and waits for
#                          /healthz; sets base (http://127.0.0.1:PORT), server_pid,
#                          server_log
#   http_stop              SIGTERM, wait; sets server_rc (0 expected: no leaks, clean exit)
#   call METHOD PATH [CURL ARGS...]  sets status, body and hdrs (response headers)
#   expect_status NAME WANT METHOD PATH [CURL ARGS...]
#   expect_problem NAME WANT CODE METHOD PATH [CURL ARGS...]: status and problem+json code
#   new_key ROLE [ARGS...] prints a fresh API key
#   receiver_start SECRET [ARGS...] / receiver_stop / ready_port FILE: the test receiver
http_tmp=$(mktemp -d)
trap 'http_cleanup' EXIT

http_cleanup() {
    if [ -n "${server_pid:-}" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$http_tmp"
}

http_start() {
    local out="$http_tmp/serve.$RANDOM.out"
    server_log="$http_tmp/serve.$RANDOM.log"
    "$MDM_BIN" serve --listen 127.0.0.1:0 "$@" >"$out" 2>"$server_log" &
    server_pid=$!
    local port=""
    for _ in $(seq 1 200); do
        port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$out" | head -n 1)
        if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then
            break
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    base="http://127.0.0.1:$port"
    [ -n "$port" ] || { echo "http_start: server did not start:"; cat "$out" "$server_log"; return 1; }
}

# receiver_start SECRET ARGS...: starts the signature-checking test receiver
# (tests/receiver) with ARGS (--log FILE, --fail-first N, --port P, ...), its report in
# $http_tmp/receiver.out; sets receiver_pid and port. Fails when it has not said "ready"
# within 5 s. receiver_stop stops it (nothing when none runs).
receiver_start() {
    local secret=$1
    shift
    "${MDM_ROOT:-.}/build/san/mdm-test-receiver" --secret "$secret" "$@" >"$http_tmp/receiver.out" &
    receiver_pid=$!
    port=$(ready_port "$http_tmp/receiver.out")
    [ -n "$port" ]
}

# ready_port FILE: the port a test receiver announced in FILE ("ready PORT"), waiting up
# to 5 s; empty when it did not.
ready_port() {
    local p=""
    for _ in $(seq 1 100); do
        p=$(sed -n 's/^ready //p' "$1")
        [ -n "$p" ] && break
        sleep 0.05
    done
    echo "$p"
}

receiver_stop() {
    [ -n "${receiver_pid:-}" ] && kill -TERM "$receiver_pid" 2>/dev/null && wait "$receiver_pid" 2>/dev/null
    receiver_pid=""
}

http_stop() {
    kill -TERM "$server_pid"
    wait "$server_pid"
    server_rc=$?
    server_pid=""
}

call() {
    local method=$1 path=$2; shift 2
    local hf="$http_tmp/h.$RANDOM"
    body=$(curl -s -D "$hf" -X "$method" "$base$path" "$@")
    status=$(head -n 1 "$hf" | awk '{print $2}')
    hdrs=$(tr -d '\r' < "$hf")
    rm -f "$hf"
}

expect_status() {
    local name=$1 want=$2; shift 2
    call "$@"
    if [ "$status" = "$want" ]; then e2e_ok "$name"; else e2e_fail "$name" "status $status, want $want: ${body:0:300}"; fi
}

expect_problem() {
    local name=$1 want=$2 code=$3; shift 3
    call "$@"
    local got_code ctype
    got_code=$(printf '%s' "$body" | jq -r '.code' 2>/dev/null)
    ctype=$(printf '%s\n' "$hdrs" | sed -n 's/^[Cc]ontent-[Tt]ype: //p')
    if [ "$status" = "$want" ] && [ "$got_code" = "$code" ] && [ "$ctype" = "application/problem+json" ]; then
        e2e_ok "$name"
    else
        e2e_fail "$name" "status $status code $got_code type $ctype, want $want $code problem+json: ${body:0:300}"
    fi
}

new_key() {
    "$MDM_BIN" apikey create --role "$@" 2>/dev/null
}

# sql TEXT: runs SQL against the suite's database, prints unaligned tuples.
sql() {
    psql -X -q -At -v ON_ERROR_STOP=1 "$MDM_DATABASE_URL" -c "$1"
}
