#!/usr/bin/env bash
# HTTP load test with wrk (scripts/deps.sh --bench): GET /v1/entities/{id} over a large
# store, POST record upserts, POST /v1/match. Prints key=value lines.
#
# The store: MDM_BENCH_HTTP_ENTITIES golden records (default 1000000), each with one
# source record, membership and four lineage rows, generated set-based in SQL into the
# database mdm_bench_http_<N> of the private cluster (kept, so later runs reuse it; it
# takes minutes to build). Generated rows bypass resolution, so they have no blocking
# keys: the upsert phase creates real records through the full pipeline first, and the
# match phase queries people drawn from the same name lists, so matches score real
# candidates. MDM_BENCH_HTTP_SECONDS per phase (default 15), MDM_BENCH_HTTP_THREADS
# server threads (default: cores), MDM_BENCH_HTTP_PHASES which phases run (default
# "get upsert match"; "get" alone while tuning reads, leaving the kept store as it is).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mdm=${MDM_BIN:-$root/build/rel/mdm}
n=${MDM_BENCH_HTTP_ENTITIES:-1000000}
secs=${MDM_BENCH_HTTP_SECONDS:-15}
command -v wrk >/dev/null || { echo "bench_http: wrk is missing (scripts/deps.sh --bench)"; exit 1; }
tmp=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server"; rm -rf "$tmp"' EXIT

scripts/pg.sh start >/dev/null || exit 1
dbname=mdm_bench_http_$n
url=$(scripts/pg.sh url-for "$dbname")
export MDM_SQL_DIR=$root/sql
cat > "$tmp/mdm.json" <<'JSON'
{"sources": [{"code": "bulk", "kind": "other"}, {"code": "web", "kind": "commerce"}],
 "log_level": "warn", "http": {"auth_cache_seconds": 60}}
JSON
export MDM_CONFIG=$tmp/mdm.json
have=$(psql -X -At "$url" -c "SELECT count(*) FROM entity WHERE id <= $n" 2>/dev/null || echo 0)
if [ "$have" != "$n" ]; then
    echo "bench_http: building $n golden records in $dbname (once)" >&2
    scripts/pg.sh dropdb "$dbname" >/dev/null 2>&1
    scripts/pg.sh createdb "$dbname" >/dev/null || exit 1
    MDM_DATABASE_URL=$url "$mdm" migrate >/dev/null 2>&1 || { echo "bench_http: migrate failed"; exit 1; }
    start=$(date +%s)
    psql -X -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<SQL || exit 1
SET synchronous_commit = off;
INSERT INTO source_system (code, name, kind) VALUES ('bulk', 'bench bulk', 'other')
    ON CONFLICT (code) DO NOTHING;
CREATE TEMP TABLE p AS
SELECT g AS id, 'First' || (g % 997) AS first, 'Last' || (g % 49999) AS last,
       make_date(1940 + g % 60, 1 + g % 12, 1 + g % 28)::text AS born,
       'p' || g || '@example.com' AS email
FROM generate_series(1, $n) g;
INSERT INTO source_record (id, source, source_key, raw, normalized, content_hash)
SELECT id, 'bulk', 'k' || id,
       jsonb_build_object('source_key', 'k' || id, 'first_name', first, 'last_name', last,
                          'birth_date', born, 'emails', jsonb_build_array(email)),
       jsonb_build_object('source', 'bulk', 'source_key', 'k' || id, 'first_name', first,
                          'last_name', last, 'birth_date', born,
                          'emails', jsonb_build_array(jsonb_build_object('value', email))),
       md5(id::text)
FROM p;
INSERT INTO entity (id, version, golden)
SELECT id, 1, jsonb_build_object('first_name', first, 'last_name', last, 'birth_date', born,
                                 'emails', jsonb_build_array(jsonb_build_object('value', email)))
FROM p;
INSERT INTO membership (record_id, entity_id) SELECT id, id FROM p;
INSERT INTO golden_value (entity_id, attr, value, source_record_id, rule)
SELECT id, a.attr, a.value, id, 'source_trust'
FROM p, LATERAL (VALUES ('first_name', to_jsonb(first)), ('last_name', to_jsonb(last)),
                        ('birth_date', to_jsonb(born)),
                        ('emails', jsonb_build_array(jsonb_build_object('value', email)))) a(attr, value);
SELECT setval('entity_id_seq', $n), setval('source_record_id_seq', $n);
ANALYZE;
SQL
    echo "bench_http: built in $(( $(date +%s) - start )) s" >&2
fi
export MDM_DATABASE_URL=$url
"$mdm" migrate >/dev/null 2>&1 || { echo "bench_http: migrate failed"; exit 1; }  # a kept store may predate new migrations
echo "entities=$(psql -X -At "$url" -c "SELECT count(*) FROM entity")"

threads=${MDM_BENCH_HTTP_THREADS:-0}
MDM_THREADS=$threads "$mdm" serve --listen 127.0.0.1:0 > "$tmp/serve.out" 2> "$tmp/serve.log" &
server=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$tmp/serve.out")
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
done
[ -n "$port" ] || { echo "bench_http: server did not start"; cat "$tmp/serve.log"; exit 1; }
base=http://127.0.0.1:$port
export MDM_BENCH_READER=$("$mdm" apikey create --role reader --rate 1000000/s --name bench 2>/dev/null)
export MDM_BENCH_WRITER=$("$mdm" apikey create --role source --source web --rate 1000000/s --name bench 2>/dev/null)
export MDM_BENCH_N=$n

cat > "$tmp/get.lua" <<'LUA'
local key, n = os.getenv("MDM_BENCH_READER"), tonumber(os.getenv("MDM_BENCH_N"))
local hdr = {["Authorization"] = "Bearer " .. key}
function setup(thread) thread:set("seed", math.random(1, 1000000)) end
function init() math.randomseed(seed or os.time()) end
function request() return wrk.format("GET", "/v1/entities/" .. math.random(1, n), hdr) end
LUA
cat > "$tmp/names.lua" <<'LUA'
firsts = {"Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas",
          "Karin", "Lukas", "Mia", "Noah", "Olga", "Paul", "Rosa", "Sven", "Tina", "Umar"}
lasts = {}
for i = 1, 400 do lasts[i] = "Family" .. i end
function person()
    local f, l = firsts[math.random(#firsts)], lasts[math.random(#lasts)]
    local y, m, d = 1950 + math.random(0, 49), math.random(1, 12), math.random(1, 28)
    return f, l, string.format("%04d-%02d-%02d", y, m, d)
end
LUA
cat > "$tmp/upsert.lua" <<'LUA'
dofile(os.getenv("MDM_BENCH_TMP") .. "/names.lua")
local key = os.getenv("MDM_BENCH_WRITER")
local hdr = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
local counter = 0
function setup(thread) thread:set("seed", math.random(1, 1000000)) end
function init() math.randomseed(seed or os.time()) end
function request()
    counter = counter + 1
    local f, l, b = person()
    local k = string.format("w%d-%d-%d", seed or 0, counter, math.random(1, 1e9))
    local body = string.format('{"source_key": "%s", "first_name": "%s", "last_name": "%s", ' ..
        '"birth_date": "%s", "emails": ["%s.%s.%d@example.com"]}', k, f, l, b, f, l, counter)
    return wrk.format("POST", "/v1/sources/web/records", hdr, body)
end
LUA
cat > "$tmp/match.lua" <<'LUA'
dofile(os.getenv("MDM_BENCH_TMP") .. "/names.lua")
local key = os.getenv("MDM_BENCH_READER")
local hdr = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
function setup(thread) thread:set("seed", math.random(1, 1000000)) end
function init() math.randomseed(seed or os.time()) end
function request()
    local f, l, b = person()
    local body = string.format('{"first_name": "%s", "last_name": "%s", "birth_date": "%s"}', f, l, b)
    return wrk.format("POST", "/v1/match", hdr, body)
end
LUA
export MDM_BENCH_TMP=$tmp

# run NAME CONNECTIONS SCRIPT: wrk for $secs seconds; prints NAME_rps, _p50_ms, _p99_ms, _errors
run() {
    local name=$1 conns=$2 script=$3
    wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$script" "$base" > "$tmp/$name.out" 2>&1
    awk -v n="$name" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec:/ { printf "%s_rps=%.0f\n", n, $2 }
        /^ +50%/ { printf "%s_p50_ms=%.2f\n", n, ms($2) }
        /^ +99%/ { printf "%s_p99_ms=%.2f\n", n, ms($2) }
        /Non-2xx/ { errs = $NF }
        /Socket errors/ { serr = $0 }
        END { printf "%s_non2xx=%d\n", n, errs + 0; if (serr) printf "%s_socket_errors=\"%s\"\n", n, serr }
    ' "$tmp/$name.out"
}
echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
curl -s -H "Authorization: Bearer $MDM_BENCH_READER" "$base/v1/entities/1" >/dev/null
phases=" ${MDM_BENCH_HTTP_PHASES:-get upsert match} "
[[ $phases == *" get "* ]] && run get_entity 32 "$tmp/get.lua"
if [[ $phases == *" upsert "* ]]; then
    run upsert 16 "$tmp/upsert.lua"
    echo "upsert_created=$(psql -X -At "$url" -c "SELECT count(*) FROM source_record WHERE source = 'web'")"
fi
[[ $phases == *" match "* ]] && run match 8 "$tmp/match.lua"
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"
echo "server_threads=$( [ "$threads" = 0 ] && echo "default" || echo "$threads" ) cores=$(nproc)"
