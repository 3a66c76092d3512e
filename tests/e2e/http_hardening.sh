# Hardening of mdm serve: HTTPS with a self-signed certificate made here by openssl,
# refused TLS configurations, API keys never in the logs (even at debug), the header
# size limit, the slow-client guard (a client sending one byte per second is cut off
# after http.request_timeout although it never trips the inactivity timeout), the
# per-address connection limit, and the library versions of `mdm version`.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
expect_exit 0 "migrate" "$mdm" migrate

# --- mdm version ---------------------------------------------------------------------
expect_exit 0 "mdm version" "$mdm" version
for lib in libpq icu pcre2 jansson "libmicrohttpd" "libcurl/" "OpenSSL" libphonenumber; do
    expect_contains "mdm version names $lib" "$lib" "$out"
done
expect_contains "mdm version says whether TLS is built in" "(TLS yes)" "$out"

# --- HTTPS -----------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$http_tmp/key.pem" -out "$http_tmp/cert.pem" \
    >/dev/null 2>&1
cat > "$http_tmp/tls.json" <<JSON
{"http": {"tls_cert": "$http_tmp/cert.pem", "tls_key": "$http_tmp/key.pem"}}
JSON
"$mdm" serve --config "$http_tmp/tls.json" --listen 127.0.0.1:0 > "$http_tmp/tls.out" 2> "$http_tmp/tls.log" &
tls_pid=$!
port=""
for _ in $(seq 1 200); do
    port=$(sed -n 's|.*listening on https://[^:]*:\([0-9]*\)/.*|\1|p' "$http_tmp/tls.out")
    [ -n "$port" ] && break
    sleep 0.05
done
expect_eq "serve announces https" "${port:+yes}" "yes"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$http_tmp/cert.pem" "https://127.0.0.1:$port/healthz")
expect_eq "healthz over HTTPS, certificate verified" "$code" "200"
reader=$(new_key reader)
code=$(curl -s -o "$http_tmp/feed.json" -w '%{http_code}' --cacert "$http_tmp/cert.pem" \
    -H "Authorization: Bearer $reader" "https://127.0.0.1:$port/v1/changes")
expect_eq "API call over HTTPS" "$code" "200"
expect_eq "feed body over HTTPS" "$(jq -r '.next' "$http_tmp/feed.json")" "0"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/healthz")
expect_eq "plain HTTP to the HTTPS port gets no HTTP answer" "$code" "000"
kill -TERM "$tls_pid"; wait "$tls_pid"; rc=$?
expect_eq "HTTPS server exits 0 (no leak)" "$rc" "0"

echo '{"http": {"tls_cert": "/nonexistent/cert.pem", "tls_key": "/nonexistent/key.pem"}}' > "$http_tmp/bad1.json"
expect_exit 2 "missing certificate file: exit 2" "$mdm" serve --config "$http_tmp/bad1.json" --listen 127.0.0.1:0
expect_contains "missing certificate file named" "/nonexistent/cert.pem" "$out"
echo "{\"http\": {\"tls_cert\": \"$http_tmp/cert.pem\"}}" > "$http_tmp/bad2.json"
expect_exit 2 "certificate without key: exit 2" "$mdm" serve --config "$http_tmp/bad2.json" --listen 127.0.0.1:0
expect_contains "certificate without key names /http/tls_key" "/http/tls_key" "$out"
echo "{\"http\": {\"tls_cert\": \"$http_tmp/key.pem\", \"tls_key\": \"$http_tmp/cert.pem\"}}" > "$http_tmp/bad3.json"
expect_exit 8 "key and certificate swapped: refused" "$mdm" serve --config "$http_tmp/bad3.json" --listen 127.0.0.1:0

# --- keys never logged, limits, slow clients ------------------------------------------
cat > "$http_tmp/mdm.json" <<'JSON'
{"log_level": "debug", "http": {"request_timeout": 2, "connection_timeout": 30,
 "max_header_bytes": 16384}}
JSON
http_start --config "$http_tmp/mdm.json" || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
admin=$(new_key admin)
secret=${admin##*_}
bogus="mdm_${admin:4:12}_$(printf '%064d' 7)"
expect_status "valid key" 200 GET /v1/changes -H "Authorization: Bearer $admin"
expect_status "key with a wrong secret" 401 GET /v1/changes -H "Authorization: Bearer $bogus"
expect_status "garbage key" 401 GET /v1/changes -H "Authorization: Bearer not-a-key-$secret"
expect_status "key in the query string is not accepted" 401 GET "/v1/changes?api_key=$admin"

# header size: 16 KiB of headers
big=$(head -c 20000 /dev/zero | tr '\0' a)
call GET /healthz -H "X-Big: $big"
case $status in 413 | 431) e2e_ok "oversized headers refused ($status)" ;; *) e2e_fail "oversized headers refused" "status $status" ;; esac
expect_status "normal request after the oversized one" 200 GET /healthz

# slow client: one byte per second
slow() {
    trap '' PIPE
    local req=$'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: abcdefghijklmnopqrstuvwxyz\r\n\r\n' i
    exec 3<>"/dev/tcp/127.0.0.1/${base##*:}" || return 1
    for ((i = 0; i < ${#req}; i++)); do
        printf '%s' "${req:i:1}" >&3 2>/dev/null || { echo "cut after $i bytes"; return 0; }
        sleep 1
    done
    echo "never cut"
}
t0=$(date +%s)
res=$(slow)
t1=$(date +%s)
expect_contains "one-byte-per-second client is cut off" "cut after" "$res"
if [ $((t1 - t0)) -le 10 ]; then e2e_ok "cut within the request timeout ($((t1 - t0)) s)"; else e2e_fail "cut within the request timeout" "$((t1 - t0)) s"; fi
expect_status "server still serves after the slow client" 200 GET /healthz
call GET /metrics
cut=$(printf '%s\n' "$body" | sed -n 's/^mdm_http_slow_clients_cut_total //p')
if [ "${cut:-0}" -ge 1 ]; then e2e_ok "slow client counted in /metrics ($cut)"; else e2e_fail "slow client counted in /metrics" "${cut:-missing}"; fi

# keep-alive requests that arrive promptly are not cut, even past request_timeout
codes=$(curl -s -w '%{http_code} ' -o /dev/null "$base/healthz" -o /dev/null "$base/healthz" \
    -o /dev/null "$base/healthz")
expect_eq "prompt requests are served" "$codes" "200 200 200 "

http_stop
expect_eq "server exits 0" "$server_rc" "0"
for k in "$admin" "$secret" "$bogus" "${bogus##*_}"; do
    if grep -qF -- "$k" "$server_log"; then e2e_fail "no API key in the debug log" "found ${k:0:16}..."; else e2e_ok "no API key in the debug log"; fi
done
expect_contains "the log names the key prefix only" "key=${admin:4:12}" "$(cat "$server_log")"

# per-address connection limit, on a server whose request timeout cannot close the idle
# connections first: 4 idle connections are the most one address may hold
echo '{"http": {"max_connections_per_ip": 4, "request_timeout": 120}}' > "$http_tmp/perip.json"
http_start --config "$http_tmp/perip.json" || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
# Four idle connections. A connect returns once the kernel queued it, so on a loaded
# machine a probe can reach the server before one of the four, which the server then
# refuses as the fifth (it closes it): each try first replaces the idle connections the
# server closed (a read on one ends at once instead of timing out), then probes.
idle=()
for try in 1 2 3 4 5; do
    live=()
    for fd in "${idle[@]}"; do
        if read -r -t 0.2 -u "$fd" _; [ $? -gt 128 ]; then live+=("$fd"); else exec {fd}>&-; fi
    done
    idle=("${live[@]}")
    while [ ${#idle[@]} -lt 4 ]; do exec {fd}<>"/dev/tcp/127.0.0.1/${base##*:}"; idle+=("$fd"); done
    sleep 1
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$base/healthz")
    [ "$code" = 000 ] && break
done
expect_eq "fifth connection from one address refused" "$code" "000"
for fd in "${idle[@]}"; do exec {fd}>&-; done
sleep 0.3
expect_status "served again once the connections closed" 200 GET /healthz
http_stop
expect_eq "second server exits 0" "$server_rc" "0"
e2e_end
