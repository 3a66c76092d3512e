#!/usr/bin/env bash
# A private PostgreSQL cluster for this checkout: data in var/pg, Unix socket in var/run,
# no TCP listener (so checkouts never collide on ports).
#
#   scripts/pg.sh start|stop|status|psql [ARGS]|url|createdb NAME|dropdb NAME|url-for NAME
#
# As root the server runs as the `postgres` user (PostgreSQL refuses root). When the
# `postgres` user cannot reach ./var (a checkout under /root, say), the cluster lives in
# /tmp/mdm-<hash of the checkout path>/ and var/pg-location says so.
# When MDM_DATABASE_URL is set, start/stop/status do nothing and url prints it: the
# external server is used instead. Environment: MDM_PG_PORT (socket port number, default
# 5432), MDM_PG_DB (database name, default mdm).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd /  # all paths below are absolute; the postgres user may not be able to enter the caller's folder
port=${MDM_PG_PORT:-5432}
db=${MDM_PG_DB:-mdm}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || { echo "pg.sh: PostgreSQL server binaries not found (run scripts/deps.sh)" >&2; exit 1; }

as_pg=()
base="$root/var"
if [ "$(id -u)" -eq 0 ]; then
    as_pg=(runuser -u postgres --)
    mkdir -p "$base"
    if ! runuser -u postgres -- test -x "$base"; then
        base="/tmp/mdm-$(printf '%s' "$root" | cksum | cut -d' ' -f1)"
        mkdir -p "$root/var"
        echo "$base (the postgres user cannot traverse $root)" > "$root/var/pg-location"
    fi
fi
data="$base/pg"
sock="$base/run"
log="$base/pg.log"

url_for() { echo "postgresql:///$1?host=$sock&port=$port&user=mdm"; }

ext_url_for() {
    # Replaces the database name in MDM_DATABASE_URL (URI form, or key=value form).
    local u=$MDM_DATABASE_URL
    if [[ $u == postgres://* || $u == postgresql://* ]]; then
        local scheme=${u%%://*} rest=${u#*://} query=""
        [[ $rest == *\?* ]] && query="?${rest#*\?}" && rest=${rest%%\?*}
        local hostpart=${rest%%/*}
        echo "$scheme://$hostpart/$1$query"
    else
        echo "$u dbname=$1"
    fi
}

psql_admin() {
    if [ -n "${MDM_DATABASE_URL:-}" ]; then
        psql -X -q -v ON_ERROR_STOP=1 "$MDM_DATABASE_URL" "$@"
    else
        psql -X -q -v ON_ERROR_STOP=1 "$(url_for postgres)" "$@"
    fi
}

running() { [ -f "$data/postmaster.pid" ] && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
    [ -n "${MDM_DATABASE_URL:-}" ] && return 0
    mkdir -p "$base" "$sock"
    if [ ${#as_pg[@]} -gt 0 ]; then chown postgres: "$base" "$sock"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
        "${as_pg[@]}" "$pgbin/initdb" -D "$data" -U mdm -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >> "$data/postgresql.conf" <<CONF
# mdm private cluster: socket only; tuning in mdm.conf (rewritten by scripts/pg.sh start)
listen_addresses = ''
unix_socket_directories = '$sock'
port = $port
include_if_exists = 'mdm.conf'
CONF
    fi
    # Tuning for one machine that also runs mdm, written at every start so that clusters
    # made by an older checkout get it too. Bulk resolution writes several GB in one
    # transaction at a million records: checkpoints are spaced by time rather than forced
    # by WAL volume, and full-page images are compressed.
    grep -q "include_if_exists = 'mdm.conf'" "$data/postgresql.conf" ||
        echo "include_if_exists = 'mdm.conf'" >>"$data/postgresql.conf"
    "${as_pg[@]}" tee "$data/mdm.conf" >/dev/null <<CONF
max_connections = 200
shared_buffers = 1GB
work_mem = 32MB
maintenance_work_mem = 256MB
synchronous_commit = off
max_wal_size = 8GB
checkpoint_timeout = 15min
wal_compression = lz4
CONF
    if ! running; then
        "${as_pg[@]}" "$pgbin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "-p $port -k $sock" start >/dev/null
    fi
    if [ "$(psql -X -tA "$(url_for postgres)" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
        psql -X -q "$(url_for postgres)" -c "CREATE DATABASE \"$db\"" >/dev/null
    fi
}

case "${1:-}" in
start) start ;;
stop)
    [ -n "${MDM_DATABASE_URL:-}" ] && exit 0
    if running; then "${as_pg[@]}" "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
status)
    if [ -n "${MDM_DATABASE_URL:-}" ]; then echo "external: MDM_DATABASE_URL"; exit 0; fi
    if running; then echo "running: $data (socket $sock, port $port)"; else echo "stopped: $data"; exit 3; fi
    ;;
url)
    if [ -n "${MDM_DATABASE_URL:-}" ]; then echo "$MDM_DATABASE_URL"; else url_for "$db"; fi
    ;;
url-for)
    if [ -n "${MDM_DATABASE_URL:-}" ]; then ext_url_for "$2"; else url_for "$2"; fi
    ;;
createdb) psql_admin -c "CREATE DATABASE \"$2\"" ;;
dropdb) psql_admin -c "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)" ;;
psql)
    shift
    if [ -n "${MDM_DATABASE_URL:-}" ]; then exec psql "$MDM_DATABASE_URL" "$@"; fi
    exec psql "$(url_for "$db")" "$@"
    ;;
*)
    echo "usage: scripts/pg.sh start|stop|status|psql [ARGS]|url|url-for NAME|createdb NAME|dropdb NAME" >&2
    exit 2
    ;;
esac
