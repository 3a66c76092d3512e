# The server outlives its database: a throwaway PostgreSQL cluster of this suite's own
# (its own data folder and socket, so the shared test cluster is never touched) is
# stopped and started again while `mdm serve` runs. While it is down /healthz stays 200,
# /readyz and data routes answer 503 problem+json with Retry-After; once it is back the
# worker threads reconnect and the same requests succeed.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ]; then e2e_fail "PostgreSQL binaries" "not found"; e2e_end; exit 1; fi
as_pg=()
cluster=$http_tmp/cluster
mkdir -p "$cluster/run"
if [ "$(id -u)" -eq 0 ]; then
    as_pg=(runuser -u postgres --)
    chmod 755 "$http_tmp"
    chown -R postgres: "$cluster"
fi
pgctl() { "${as_pg[@]}" "$pgbin/pg_ctl" -D "$cluster/pg" -l "$cluster/pg.log" -w "$@" >/dev/null; }
"${as_pg[@]}" "$pgbin/initdb" -D "$cluster/pg" -U mdm -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$cluster/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$cluster/run'
fsync = off
CONF
stop_cluster() { pgctl stop -m immediate 2>/dev/null; }
trap 'stop_cluster; http_cleanup' EXIT
expect_exit 0 "throwaway cluster starts" pgctl start
export MDM_DATABASE_URL="postgresql:///mdm?host=$cluster/run&user=mdm"
"${as_pg[@]}" "$pgbin/createdb" -h "$cluster/run" -U mdm mdm
expect_exit 0 "migrate" "$mdm" migrate
reader=$(new_key reader)
R=(-H "Authorization: Bearer $reader")
echo '{"http": {"auth_cache_seconds": 60}}' > "$http_tmp/mdm.json"
http_start --config "$http_tmp/mdm.json"
expect_status "ready with the database up" 200 GET /readyz
expect_status "feed with the database up" 200 GET /v1/changes "${R[@]}"

expect_exit 0 "database stops" pgctl stop -m fast
expect_status "healthz while the database is down" 200 GET /healthz
expect_problem "readyz while the database is down" 503 eretry GET /readyz
expect_problem "feed while the database is down" 503 eretry GET /v1/changes "${R[@]}"
expect_contains "503 says retry" "Retry-After: 1" "$hdrs"

expect_exit 0 "database starts again" pgctl start
ok=""
for _ in $(seq 1 40); do
    call GET /readyz
    [ "$status" = 200 ] && { ok=1; break; }
    sleep 0.25
done
expect_eq "readyz recovers" "${ok:-no}" "1"
# every worker thread reconnects (each may first see its dead connection)
codes=""
for _ in $(seq 1 12); do
    call GET /v1/changes "${R[@]}"
    [ "$status" = 200 ] || { sleep 1.1; call GET /v1/changes "${R[@]}"; }
    codes="$codes$status "
done
expect_eq "feed recovers on every thread" "$codes" "$(printf '200 %.0s' $(seq 1 12))"
expect_status "metrics after the restart" 200 GET /metrics
expect_contains "reconnections are counted" "mdm_db_connects_total" "$body"
http_stop
expect_eq "SIGTERM exits 0 after the restart" "$server_rc" "0"
e2e_end
