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
    expect_contains "mdm link names ${k#*:}" "sources[0].${k%%:*} must be renamed to ${k#*:}" "$out"
done
python3 - "$root/demo/mdm.json" "$tmp/old_svc.json" "$root/demo/model.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["sources"][1]["record_id"] = d["sources"][1].pop("key")
d["model"]["path"] = sys.argv[3]
json.dump(d, open(sys.argv[2], "w"))
PY
expect_exit 2 "mdm config refuses record_id" "$mdm" config --config "$tmp/old_svc.json"
expect_contains "mdm config names key" "sources[1].record_id must be renamed to key" "$out"
expect_exit 2 "mdm link refuses it in mdm.json too" "$mdm" link --config "$tmp/old_svc.json" "${inputs[@]}" --out "$tmp/x.csv"
expect_contains "mdm link names key" "sources[1].record_id must be renamed to key" "$out"
expect_exit 2 "mdm serve refuses it" "$mdm" serve --config "$tmp/old_svc.json" --listen 127.0.0.1:0
expect_contains "mdm serve names key" "sources[1].record_id must be renamed to key" "$out"

# ---- differential: the same rows through mdm link and through mdm load + mdm resolve
# give the same canonical records and the same clusters (one canonicalization, one
# engine). The synth rows plus the cases where the two builders of main drifted: a
# one-word full name, an ambiguous date of a month-first source, a family-first ERP name
# with particles, an e-mail without its dot, a birth date in the future, an unknown
# gender and country, and a record with nothing to match on (refused by both).
"$mdm" synth --people 600 --seed 9 --out "$tmp/d" >/dev/null 2>&1
printf '%s\n' 'M9000001,Sarah ,sashson31@icloud.com,+1 312 440 0364,10/07/1949,60619,L195911326' \
    'M9000002,"KOWALSKI, Anna",anna.k@example.org,,03/04/1980,10001,' \
    'M9000003,,,,,,' >>"$tmp/d/loyalty.csv"
printf '%s\n' 'A9000001,sarah,ashson,sashson31@icloudcom,(312) 747-1929,27 Madison Boulevard,Apt. 30,Chicago,IL,60619,USA,' \
    'A9000002,anna,kowalski,anna.k@example.org,,1 Main St,,New York,NY,10001,Atlantis,2031-01-01' >>"$tmp/d/commerce.csv"
printf '%s\n' 'E9000001,VAN DER BERG ANNA,1 Main Street,New York,NY,10001,212-555-0100,' >>"$tmp/d/erp.csv"
printf '%s\n' 'C9000001,Anna,,Kowalski,anna.k@example.org,,,,,,1980-03-04,unknown' >>"$tmp/d/crm.csv"
dinputs=("$tmp/d/crm.csv" "$tmp/d/loyalty.csv" "$tmp/d/commerce.csv" "$tmp/d/erp.csv" "$tmp/d/pos.csv")
python3 - "$root/demo/mdm.json" "$tmp/demo.json" "$root/demo/model.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["model"]["path"] = sys.argv[3]
json.dump(d, open(sys.argv[2], "w"))
PY
export MDM_CONFIG=$tmp/demo.json
expect_exit 0 "link the rows" "$mdm" link --config "$tmp/demo.json" "${dinputs[@]}" --out "$tmp/d_cl.csv" --canonical "$tmp/d_canon.ndjson" --quiet
expect_contains "the record without anything to match on is refused" "1 records refused by the canonicalization" "$out"
expect_exit 0 "migrate" "$mdm" migrate
for s in crm loyalty commerce erp pos; do
    "$mdm" load --quiet --no-resolve --source "$s" "$tmp/d/$s.csv" >/dev/null || e2e_fail "load $s" "failed"
done
expect_exit 0 "bulk resolve the same rows" "$mdm" resolve --quiet --threads 2
sql "SELECT normalized FROM source_record" >"$tmp/d_svc_canon.ndjson"
sql "SELECT r.source || ',' || r.source_key || ',' || m.entity_id FROM source_record r
     JOIN membership m ON m.record_id = r.id AND m.active" >"$tmp/d_svc_cl.csv"
sql "SELECT source || ',' || source_key FROM record_reject" >"$tmp/d_rejects.csv"
python3 - "$tmp" <<'PY' >"$tmp/d_report.txt"
import csv, json, sys
t = sys.argv[1]
link = {}
for line in open(t + "/d_canon.ndjson"):
    r = json.loads(line)
    link[(r["source"], r["source_key"])] = r
svc = {}
for line in open(t + "/d_svc_canon.ndjson"):
    r = json.loads(line)
    svc[(r["source"], r["source_key"])] = r
refused = {k for k, r in link.items() if "rejected" in r}
rejects = {tuple(l.strip().split(",", 1)) for l in open(t + "/d_rejects.csv") if l.strip()}
print("records", len(link), len(svc))
print("refused_same", refused == rejects, sorted(refused))
print("canonical_same", {k: r for k, r in link.items() if k not in refused} == svc)
for k in sorted(svc):
    if link.get(k) != svc[k]:
        print("canonical_diff", k, json.dumps(link.get(k), sort_keys=True), json.dumps(svc[k], sort_keys=True))
        break
def parts(rows):
    g = {}
    for s, k, c in rows:
        g.setdefault(c, set()).add((s, k))
    return {frozenset(v) for v in g.values()}
a = parts((r["source"], r["record_id"], r["cluster_id"]) for r in csv.DictReader(open(t + "/d_cl.csv"))
          if (r["source"], r["record_id"]) not in refused)
b = parts(tuple(l.strip().split(",")) for l in open(t + "/d_svc_cl.csv") if l.strip())
print("clusters", len(a), len(b), "same", a == b)
for x in list(a - b)[:3]:
    print("link_only", sorted(x))
for x in list(b - a)[:3]:
    print("service_only", sorted(x))
# the drift cases: what both paths made of them
one = link[("loyalty", "M9000001")]
print("one_word", one.get("first_name"), one.get("last_name"), one["keys"].get("first"), one["keys"].get("last"))
print("mdy", link[("loyalty", "M9000002")].get("birth_date"))
print("erp", link[("erp", "E9000001")].get("last_name"), "|", link[("erp", "E9000001")].get("first_name"))
print("email_valid", link[("commerce", "A9000001")]["emails"][0].get("valid"))
print("future_dob", link[("commerce", "A9000002")].get("birth_date"), len(link[("commerce", "A9000002")].get("addresses", [])))
PY
report=$(cat "$tmp/d_report.txt")
records=$(($(cat "${dinputs[@]}" | wc -l) - 5))
expect_contains "every row in both paths" "records $records $((records - 1))" "$report"
expect_contains "the same record refused by both" "refused_same True [('loyalty', 'M9000003')]" "$report"
expect_contains "identical canonical records" "canonical_same True" "$report"
expect_contains "identical clusters" "same True" "$report"
expect_contains "a one-word full name is a first name, in the parts as in the keys" "one_word Sarah None sarah None" "$report"
expect_contains "a month-first source's ambiguous date" "mdy 1980-03-04" "$report"
expect_contains "family-first ERP name with particles" "erp VAN DER BERG | ANNA" "$report"
expect_contains "an e-mail without its dot is kept, not matched" "email_valid False" "$report"
expect_contains "a future birth date and an unknown country are left out" "future_dob None 0" "$report"
grep -E "^(canonical_diff|link_only|service_only|one_word|erp)" "$tmp/d_report.txt" | head -8

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
