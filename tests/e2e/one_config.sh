# One configuration (issue 18, deliverable 1): demo/mdm.json is read by mdm link, train,
# explain, load and serve; a source has one schema everywhere (date_order, name_order and
# default_country per source, also for the service); keys of the former link dialect are
# refused with the key that replaced them.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$MDM_DATABASE_URL
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$db" -c "$1"; }

"$mdm" synth --people 300 --seed 5 --out "$tmp/s" >/dev/null 2>&1
inputs=("$tmp/s/crm.csv" "$tmp/s/loyalty.csv" "$tmp/s/commerce.csv" "$tmp/s/erp.csv" "$tmp/s/pos.csv")
records=$(($(cat "${inputs[@]}" | wc -l) - 5))

# ---- the service's configuration file drives the batch commands
expect_exit 0 "mdm link --config demo/mdm.json" "$mdm" link --config "$root/demo/mdm.json" "${inputs[@]}" --out "$tmp/cl.csv" --quiet
expect_eq "every record is in the clusters" "$(($(wc -l <"$tmp/cl.csv") - 1))" "$records"
expect_contains "sources are named by their code" "sources=5" "$out"
expect_exit 0 "mdm train --config demo/mdm.json" "$mdm" train --config "$root/demo/mdm.json" "${inputs[@]}" --out "$tmp/model.json" --quiet
expect_contains "the trained model holds the configuration's sources" '"code": "erp"' "$(cat "$tmp/model.json")"
a=$(sed -n 2p "$tmp/s/crm.csv" | cut -d, -f1)
b=$(sed -n 3p "$tmp/s/crm.csv" | cut -d, -f1)
expect_exit 0 "mdm explain --config demo/mdm.json" "$mdm" explain --config "$root/demo/mdm.json" "${inputs[@]}" --a "crm:$a" --b "crm:$b"
expect_contains "explain scores the pair" '"probability"' "$out"

# ---- keys of the former link dialect, refused by every command, naming the new key
old_link() { # FILE KEY VALUE: demo/synth.json with sources[0] given a former key
    python3 - "$root/demo/synth.json" "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["sources"][0]
if sys.argv[3] == "name":
    s["name"] = s.pop("code")
elif sys.argv[3] == "record_id":
    s["record_id"] = s.pop("key")
else:
    s["columns"] = s.pop("mapping")
json.dump(d, open(sys.argv[2], "w"))
PY
}
for k in name:code record_id:key columns:mapping; do
    old_link "$tmp/old.json" "${k%%:*}"
    expect_exit 2 "mdm link refuses ${k%%:*}" "$mdm" link --config "$tmp/old.json" "${inputs[@]}" --out "$tmp/x.csv"
    expect_contains "mdm link names ${k#*:}" "sources[0].${k%%:*}: renamed to ${k#*:}" "$out"
done
python3 - "$root/demo/mdm.json" "$tmp/old_svc.json" "$root/demo/model.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["sources"][1]["record_id"] = d["sources"][1].pop("key")
d["model"]["path"] = sys.argv[3]
json.dump(d, open(sys.argv[2], "w"))
PY
expect_exit 2 "mdm config refuses record_id" "$mdm" config --config "$tmp/old_svc.json"
expect_contains "mdm config names key" "sources[1].record_id: renamed to key" "$out"
expect_exit 2 "mdm link refuses it in mdm.json too" "$mdm" link --config "$tmp/old_svc.json" "${inputs[@]}" --out "$tmp/x.csv"
expect_contains "mdm link names key" "sources[1].record_id: renamed to key" "$out"
expect_exit 2 "mdm serve refuses it" "$mdm" serve --config "$tmp/old_svc.json" --listen 127.0.0.1:0
expect_contains "mdm serve names key" "sources[1].record_id: renamed to key" "$out"

# ---- date_order and default_country per source, in the service (main refused
# date_order: "unknown key sources[0].date_order")
python3 - "$root/demo/mdm.json" "$tmp/mdm.json" "$root/demo/model.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["model"]["path"] = sys.argv[3]
d["sources"].append({"code": "shop_uk", "kind": "commerce", "default_country": "GB",
                     "key": "id", "mapping": {"first": "first_name", "last": "last_name",
                                              "dob": "birth_date", "tel": "phone"}})
d["sources"].append({"code": "shop_us", "kind": "commerce", "date_order": "dmy",
                     "key": "id", "mapping": {"first": "first_name", "last": "last_name",
                                              "dob": "birth_date", "tel": "phone"}})
d["sources"].append({"code": "shop_mdy", "kind": "commerce", "default_country": "GB",
                     "date_order": "mdy", "key": "id",
                     "mapping": {"first": "first_name", "last": "last_name", "dob": "birth_date"}})
json.dump(d, open(sys.argv[2], "w"))
PY
export MDM_CONFIG=$tmp/mdm.json
expect_exit 0 "mdm config accepts date_order" "$mdm" config
expect_exit 0 "migrate" "$mdm" migrate
printf 'id,first,last,dob,tel\nU1,Ann,Ridley,03/04/1980,020 7946 0018\n' >"$tmp/uk.csv"
printf 'id,first,last,dob,tel\nS1,Bea,Ridley,03/04/1981,(312) 555-0143\n' >"$tmp/us.csv"
printf 'id,first,last,dob\nM1,Cy,Ridley,03/04/1982\n' >"$tmp/mdy.csv"
expect_exit 0 "load shop_uk" "$mdm" load --quiet --source shop_uk "$tmp/uk.csv"
expect_exit 0 "load shop_us" "$mdm" load --quiet --source shop_us "$tmp/us.csv"
expect_exit 0 "load shop_mdy" "$mdm" load --quiet --source shop_mdy "$tmp/mdy.csv"
canon() { sql "SELECT normalized->>'$3' FROM source_record WHERE source = '$1' AND source_key = '$2'"; }
expect_eq "GB source: day first" "$(canon shop_uk U1 birth_date)" "1980-04-03"
expect_eq "GB source: a national phone is British" "$(sql "SELECT normalized->'phones'->0->>'value' FROM source_record WHERE source_key = 'U1'")" "+442079460018"
expect_eq "US source with date_order dmy: day first" "$(canon shop_us S1 birth_date)" "1981-04-03"
expect_eq "GB source with date_order mdy: month first" "$(canon shop_mdy M1 birth_date)" "1982-03-04"

e2e_end
