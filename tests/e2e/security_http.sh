# HTTP hygiene of issue 17 (docs/SECURITY.md): spreadsheet formulas neutralized in the
# consent audit CSV (HTTP and mdm export consent), security headers on /ui/, two
# different Content-Length headers refused, JSON declared in another charset than UTF-8
# refused, no request path (record keys, e-mail addresses) in the log at info, and a
# per-address connection limit by default so that one client holding 1,100 idle
# connections leaves /healthz answering.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN

cat > "$http_tmp/mdm.json" <<'JSON'
{"sources": [{"code": "crm", "kind": "crm"}], "log_level": "info"}
JSON
export MDM_CONFIG=$http_tmp/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }
crm=$(new_key source --source crm)
compliance=$(new_key compliance)
J=(-H "Content-Type: application/json" -H "Authorization: Bearer $crm")

# --- formula injection in the consent audit CSV ----------------------------------------
expect_status "record with an e-mail key" 201 POST /v1/sources/crm/records "${J[@]}" \
    -d '{"source_key": "jane.doe@example.com", "first_name": "Jane", "last_name": "Doe"}'
i=0
for ev in '=HYPERLINK(\"http://evil.example\",\"x\")' '+1+cmd|calc' '-2+3' '@SUM(A1:A9)' '\t=1+2' 'plain text'; do
    i=$((i + 1))
    expect_status "consent event $i stored" 201 POST /v1/consent-events "${J[@]}" \
        -d "{\"source_key\": \"jane.doe@example.com\", \"consents\": [{\"purpose\": \"marketing\", \"channel\": \"email\", \"status\": \"granted\", \"captured_at\": \"2026-01-0${i}T09:00:00Z\", \"lawful_basis\": \"consent\", \"evidence\": \"$ev\"}]}"
done
curl -s -o "$http_tmp/audit.csv" -H "Authorization: Bearer $compliance" "$base/v1/consent/audit"
expect_exit 0 "mdm export consent" "$mdm" export consent --output "$http_tmp/export.csv"
for f in audit.csv export.csv; do
    # the evidence column of every data row, parsed as a spreadsheet would read it:
    # how many start a formula, how many are quoted text
    counts=$(python3 - "$http_tmp/$f" <<'PY'
import csv, sys
cells = [r["evidence"] for r in csv.DictReader(open(sys.argv[1], newline=""))]
print(sum(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells),
      sum(c[:1] == "'" for c in cells))
PY
)
    expect_eq "$f: no cell starts a formula, the five formula cells are text" "$counts" "0 5"
    expect_contains "$f: =HYPERLINK kept as text" "\"'=HYPERLINK(" "$(cat "$http_tmp/$f")"
    expect_contains "$f: +cmd kept as text" "\"'+1+cmd|calc\"" "$(cat "$http_tmp/$f")"
    expect_contains "$f: @SUM kept as text" "\"'@SUM(A1:A9)\"" "$(cat "$http_tmp/$f")"
    expect_contains "$f: a tab before = kept, behind the quote" "\"'"$'\t'"=1+2\"" "$(cat "$http_tmp/$f")"
    expect_contains "$f: plain text unchanged" ",plain text," "$(cat "$http_tmp/$f")"
done

# --- /ui/ security headers -------------------------------------------------------------
for path in /ui/ /ui/app.js /ui/nosuch.js; do
    call GET "$path"
    for h in "Content-Security-Policy: default-src 'self'" "X-Frame-Options: DENY" \
        "X-Content-Type-Options: nosniff" "Referrer-Policy: no-referrer"; do
        expect_contains "$path sends ${h%%:*}" "$h" "$hdrs"
    done
done

# --- request framing and charset ---------------------------------------------------------
raw() { # raw HTTP request on one connection: prints the status line
    python3 - "${base##*:}" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(data.split(b"\r\n")[0].decode() or "no answer")
PY
}
body='{"source_key": "CL1", "last_name": "Webb"}'
res=$(raw "POST /v1/sources/crm/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $crm\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\nContent-Length: 5\r\n\r\n$body")
expect_contains "two different Content-Length headers: 400" " 400 " "$res"
expect_eq "the record was not stored" "$(sql "SELECT count(*) FROM source_record WHERE source_key = 'CL1'")" "0"
res=$(raw "POST /v1/sources/crm/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $crm\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\n\r\n$body")
expect_contains "one Content-Length: 201" " 201 " "$res"
expect_problem "charset=latin1 JSON refused" 415 emedia POST /v1/sources/crm/records \
    -H "Content-Type: application/json; charset=latin1" -H "Authorization: Bearer $crm" -d '{"source_key": "CS1"}'
expect_problem "charset=\"iso-8859-1\" refused" 415 emedia POST /v1/sources/crm/records \
    -H 'Content-Type: application/json; charset="iso-8859-1"' -H "Authorization: Bearer $crm" -d '{"source_key": "CS1"}'
expect_status "charset=UTF-8 accepted" 201 POST /v1/sources/crm/records \
    -H "Content-Type: application/json; charset=UTF-8" -H "Authorization: Bearer $crm" \
    -d '{"source_key": "CS2", "last_name": "Webb"}'

# --- no request path in the log at info ----------------------------------------------
expect_status "read by an e-mail key" 200 GET "/v1/sources/crm/records/jane.doe@example.com" \
    -H "Authorization: Bearer $crm"
# clients that hang up while a large reply is written make libmicrohttpd warn, quoting
# the path
for _ in 1 2 3 4 5; do
    python3 - "${base##*:}" "$crm" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /v1/sources/crm/records/jane.doe@example.com?x=%s HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Bearer %s\r\n\r\n" % ("y" * 100, sys.argv[2])).encode())
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
done
sleep 0.5
expect_status "server still answers" 200 GET /healthz

# --- no query parameter reaches the database unchecked ------------------------------------
# every query parameter of every GET route in the OpenAPI document, with values of the
# wrong type: a 4xx naming the parameter, never a 5xx, never the database's text
admin=$(new_key admin)
curl -s "$base/v1/openapi.json" > "$http_tmp/openapi.json"
jq -r '.paths | to_entries[] | .key as $p | .value.get.parameters // [] |
    map(select(.in == "query") | .name) | select(length > 0) | "\($p) \(join(" "))"' \
    "$http_tmp/openapi.json" > "$http_tmp/params.txt"
nparams=0 bad=""
while read -r path names; do
    p=$(sed 's/{source}/crm/; s/{[a-z_]*}/1/g' <<<"$path")
    for n in $names; do
        nparams=$((nparams + 1))
        for v in garbage -1 99999999999999999999 2026-13-45 %27%22; do
            call GET "$p?$n=$v" -H "Authorization: Bearer $admin"
            if [ "${status:-0}" -ge 500 ] || jq -r '.detail // empty' <<<"$body" 2>/dev/null |
                grep -qiE 'syntax for type|invalid input syntax|relation "|column "|out of range for type|violates|database refused'; then
                bad="$bad $p?$n=$v:$status"
            fi
        done
    done
done < "$http_tmp/params.txt"
if [ "$nparams" -ge 20 ]; then e2e_ok "query parameters probed ($nparams)"; else e2e_fail "query parameters probed" "$nparams"; fi
expect_eq "no query parameter reaches the database unchecked" "$bad" ""

# --- long values: 1 MB over HTTP, 10 MB through mdm load ----------------------------------
head -c 1000000 /dev/zero | tr '\0' a > "$http_tmp/mb"
printf '{"source_key": "MB1", "last_name": "%s"}' "$(cat "$http_tmp/mb")" > "$http_tmp/mb.json"
call POST /v1/sources/crm/records "${J[@]}" --data-binary @"$http_tmp/mb.json"
case $status in 413 | 422) e2e_ok "a 1 MB name over HTTP is refused ($status)" ;; *) e2e_fail "a 1 MB name over HTTP is refused" "status $status" ;; esac
{ printf 'source_key,first_name,last_name\nTM1,Ann,'; head -c 10000000 /dev/zero | tr '\0' b; printf '\nTM2,Bo,Lee\n'; } > "$http_tmp/ten.csv"
expect_exit 0 "mdm load of a CSV with a 10 MB name" "$mdm" load --source crm "$http_tmp/ten.csv"
expect_contains "the 10 MB row is rejected" "1 rejected" "$out"
expect_eq "no stored record holds it" "$(sql "SELECT count(*) FROM source_record WHERE length(raw::text) > 100000")" "0"
expect_eq "no outbox event larger than 64 KB" "$(sql "SELECT count(*) FROM outbox WHERE length(payload::text) > 65536")" "0"

# --- connection exhaustion ---------------------------------------------------------------
# one client (127.0.0.2) holds 1,100 idle connections; /healthz from 127.0.0.1 answers
python3 - "${base##*:}" > "$http_tmp/hold.out" 2>&1 <<'PY' &
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
held = []
for _ in range(1100):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
    held.append(s)
print("holding", len(held), flush=True)
time.sleep(20)
PY
holder=$!
for _ in $(seq 1 100); do grep -q holding "$http_tmp/hold.out" && break; sleep 0.1; done
expect_contains "the client holds 1,100 connections" "holding 1100" "$(cat "$http_tmp/hold.out")"
sleep 1
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/healthz")
expect_eq "/healthz answers while one client holds 1,100 connections" "$code" "200"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

http_stop
expect_eq "server exits 0" "$server_rc" "0"
# the route-by-role matrix of docs/SECURITY.md is the route table's
want=$("$MDM_ROOT/scripts/security-matrix.sh" "$mdm")
got=$(sed -n '/<!-- routes:begin -->/,/<!-- routes:end -->/p' "$MDM_ROOT/docs/SECURITY.md" | sed '1d;$d')
expect_eq "docs/SECURITY.md route-by-role matrix matches mdm serve --routes" "$got" "$want"
if grep -q "jane.doe@example.com" "$server_log"; then
    e2e_fail "no record key in the log at info" "$(grep -m 2 "jane.doe@example.com" "$server_log")"
else
    e2e_ok "no record key in the log at info"
fi
e2e_end
