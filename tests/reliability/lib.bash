# Helpers for the reliability suites (sourced after tests/e2e/lib.bash and http_lib.bash;
# not a suite itself).
#
#   rel_soak                 true under `make soak` (MDM_SOAK set and not 0)
#   rel_person N             canonical JSON of person N (name, email, phone, birth date);
#                            the same N from any source is the same person
#   rel_writer ID SRC KEY N0 N1 URLFILE   upserts persons N0..N1 (source SRC, source key
#                            KEY-N) against the base URL read from URLFILE before every
#                            request (so a restarted server is followed); appends
#                            "CODE KEY-N" lines to $http_tmp/w.ID; a connection failure
#                            (000) is retried until the server is back (max 60 s)
#   rel_cluster_init / rel_cluster_start / rel_cluster_stop [MODE]   a throwaway
#                            PostgreSQL cluster of the suite's own under $http_tmp/cluster
#                            (never the shared test cluster); sets MDM_DATABASE_URL
#   rel_rss PID              resident set size of PID in kB
rel_root=${MDM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

rel_soak() { [ -n "${MDM_SOAK:-}" ] && [ "${MDM_SOAK}" != 0 ]; }

# 40 first names x 60 last names: realistic blocks (names without digits), distinct
# people up to 2400 (beyond, names repeat with other e-mails, phones and birth dates).
# tests/reliability/load.lua has the same lists.
rel_firsts=(James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William
    Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel
    Nancy Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily
    Andrew Donna Joshua Michelle)
rel_lasts=(Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
    Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White
    Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres
    Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts
    Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes)
rel_person() {
    local n=$1
    printf '{"first_name": "%s", "last_name": "%s", "emails": ["p%s@rel.example.com"], "phones": ["+1 212 %03d %04d"], "birth_date": "19%02d-%02d-%02d"}' \
        "${rel_firsts[n % 40]}" "${rel_lasts[(n / 40) % 60]}" "$n" $((200 + n % 700)) $((n % 10000)) \
        $((40 + n % 60)) $((1 + n % 12)) $((1 + n % 28))
}

# rel_check_people PEOPLE: records are keyed PREFIX-N (N = the person); passes when there
# are PEOPLE active entities and every person's records share one of them.
rel_check_people() {
    expect_eq "entity count equals the people" \
        "$(sql "SELECT count(*) FROM entity WHERE status = 'active'")" "$1"
    expect_eq "no person with two golden records" \
        "$(sql "SELECT count(*) FROM (SELECT substring(r.source_key FROM '[0-9]+$') FROM source_record r JOIN membership m ON m.record_id = r.id AND m.active GROUP BY 1 HAVING count(DISTINCT m.entity_id) > 1) d")" "0"
    expect_eq "no golden record holding two people" \
        "$(sql "SELECT count(*) FROM (SELECT m.entity_id FROM source_record r JOIN membership m ON m.record_id = r.id AND m.active GROUP BY 1 HAVING count(DISTINCT substring(r.source_key FROM '[0-9]+$')) > 1) d")" "0"
}

rel_writer() {
    local id=$1 src=$2 key=$3 n0=$4 n1=$5 urlfile=$6 n code url body tries
    : > "$http_tmp/w.$id"
    for ((n = n0; n <= n1; n++)); do
        body=$(rel_person "$n")
        body="{\"source_key\": \"$key-$n\", ${body#\{}"
        tries=0
        while :; do
            url=$(cat "$urlfile")
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
                -H "Authorization: Bearer $(cat "$http_tmp/key.$src")" \
                -H "Content-Type: application/json" "$url/v1/sources/$src/records" -d "$body")
            [ "$code" != 000 ] && break
            tries=$((tries + 1))
            [ $tries -gt 600 ] && break
            sleep 0.1
        done
        echo "$code $key-$n" >> "$http_tmp/w.$id"
    done
}

rel_pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
rel_as_pg=()

rel_pgctl() {
    "${rel_as_pg[@]}" "$rel_pgbin/pg_ctl" -D "$http_tmp/cluster/pg" -l "$http_tmp/cluster/pg.log" -w "$@" >/dev/null
}

rel_cluster_init() {
    local c=$http_tmp/cluster
    mkdir -p "$c/run"
    if [ "$(id -u)" -eq 0 ]; then
        rel_as_pg=(runuser -u postgres --)
        chmod 755 "$http_tmp"
        chown -R postgres: "$c"
    fi
    "${rel_as_pg[@]}" "$rel_pgbin/initdb" -D "$c/pg" -U mdm -A trust -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
    cat >> "$c/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$c/run'
max_connections = 100
CONF
    rel_pgctl start || return 1
    "${rel_as_pg[@]}" "$rel_pgbin/createdb" -h "$c/run" -U mdm mdm || return 1
    export MDM_DATABASE_URL="postgresql:///mdm?host=$c/run&user=mdm"
    trap 'rel_pgctl stop -m immediate 2>/dev/null; http_cleanup' EXIT
}
rel_cluster_start() { rel_pgctl start; }
rel_cluster_stop() { rel_pgctl stop -m "${1:-fast}"; }

rel_rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
