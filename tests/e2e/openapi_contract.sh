# The API contract, checked as an integrator would (issue 23): on data the real pipeline
# made (mdm synth -> mdm load -> mdm resolve), tests/contract/contract.mjs calls every
# route of `mdm serve` and checks each reply (status, Content-Type, body) and each request
# body it sends against /v1/openapi.json with ajv; redocly's recommended rules find
# nothing in the document (tests/contract/lint.mjs); then openapi-typescript generates a
# typed client from the document and tsc --strict compiles tests/contract/sample.ts
# against it (openapi-fetch), so a schema that loses its members fails here.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
here=$MDM_ROOT/tests/contract
if [ ! -f "$here/node_modules/openapi-typescript/package.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
        { e2e_fail "npm ci in tests/contract" "npm could not install the contract tools"; e2e_end; exit 1; }
fi
export MDM_CONFIG=$MDM_ROOT/demo/mdm.json
expect_exit 0 "migrate" "$mdm" migrate
expect_exit 0 "synth" "$mdm" synth --people 150 --seed 11 --out "$http_tmp/synth"
for s in crm loyalty commerce erp pos; do
    expect_exit 0 "load $s" "$mdm" load --source "$s" "$http_tmp/synth/$s.csv"
done
expect_exit 0 "resolve" "$mdm" resolve
key=$(new_key admin --name contract)
http_start || { e2e_fail "server starts" "see above"; e2e_end; exit 1; }

node "$here/contract.mjs" "$base" "$key" crm loyalty "$http_tmp/openapi.json" >"$http_tmp/contract.out" 2>&1
rc=$?
sed '$d' "$http_tmp/contract.out"
line=$(tail -n 1 "$http_tmp/contract.out")
if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    e2e_passed=$((e2e_passed + BASH_REMATCH[1]))
    e2e_failed=$((e2e_failed + BASH_REMATCH[2]))
    [ "$rc" -eq 0 ] || [ "${BASH_REMATCH[2]}" -gt 0 ] || e2e_fail "contract.mjs exit" "rc $rc"
else
    e2e_fail "contract.mjs" "no summary line (rc $rc): $line"
fi

expect_exit 0 "redocly lint (recommended rules) finds nothing" node "$here/lint.mjs" "$http_tmp/openapi.json"

# the typed client: generated from the served document, the sample must compile
mkdir -p "$here/build"
expect_exit 0 "openapi-typescript generates the client types" \
    node "$here/node_modules/openapi-typescript/bin/cli.js" "$http_tmp/openapi.json" -o "$here/build/mdm-api.d.ts"
expect_exit 0 "the typed sample program compiles (tsc --strict)" \
    node "$here/node_modules/typescript/bin/tsc" -p "$here/tsconfig.json"
expect_contains "golden.first_name is typed" "first_name?: string" "$(cat "$here/build/mdm-api.d.ts" 2>/dev/null)"

http_stop
expect_eq "server exits cleanly" "$server_rc" "0"
e2e_end
