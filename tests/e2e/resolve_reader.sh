# Differential test of the canonical-text reader (issue 20): `mdm load` + `mdm resolve`
# read every pending record's stored canonical JSON for its features. The direct reader
# (matching/canon_text.c) and the document path (json_loads + mdm_canon_to_record, taken
# with MDM_REFERENCE_KERNELS=1) must give the same golden records, cross-references,
# review items and consent states, and `mdm resolve --all --dry-run` (the re-resolution
# reader) must find nothing to change under either. Generated data at a high error rate
# (non-ASCII names, invalid e-mails and phones), plus NDJSON records with consents.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-$PWD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$MDM_DATABASE_URL
sql() { PGOPTIONS="-c client_min_messages=warning" psql -qAt "$db" -c "$1"; }

sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" >"$tmp/mdm.json"
export MDM_CONFIG=$tmp/mdm.json MDM_LOG_LEVEL=warn
"$mdm" synth --people 600 --seed 9 --error-rate 3 --out "$tmp/s" >/dev/null 2>&1 || e2e_fail "synth" "failed"
grep -qP '[^\x00-\x7F]' "$tmp/s/crm.csv" && e2e_ok "input holds non-ASCII names" ||
    e2e_fail "input holds non-ASCII names" "none found"
# records with consents (the reader tells resolution which records carry consent events)
cat >"$tmp/consents.ndjson" <<'EOF'
{"source_key": "N-1", "first_name": "Zoë", "last_name": "Ångström", "emails": ["zoe.a@example.com"], "consents": [{"purpose": "marketing", "channel": "email", "status": "granted", "captured_at": "2026-01-02T10:00:00Z"}]}
{"source_key": "N-2", "first_name": "Zoe", "last_name": "Angstrom", "emails": ["zoe.a@example.com"], "consents": []}
{"source_key": "N-3", "first_name": "Jo\"hn", "last_name": "O'Brien \\ Jr", "phones": ["+1 415 555 0100"], "addresses": [{"line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "country": "US"}, {"line1": "2 Side St", "country": "US"}], "consents": [{"purpose": "marketing", "channel": "sms", "status": "withdrawn", "captured_at": "2026-02-01"}]}
EOF

state() {
    sql "SELECT coalesce(string_agg(x, E'\n' ORDER BY x), '') FROM (SELECT (SELECT
           string_agg(sr.source || ':' || sr.source_key, '|' ORDER BY sr.source, sr.source_key)
           FROM membership m JOIN source_record sr ON sr.id = m.record_id
           WHERE m.entity_id = e.id AND m.active) || ' ' || e.golden::text AS x
         FROM entity e WHERE e.status = 'active') t"
    sql "SELECT coalesce(string_agg(x, E'\n' ORDER BY x), '') FROM (SELECT kind || ' ' ||
           coalesce((SELECT source || ':' || source_key FROM source_record WHERE id = r.record_id), '') ||
           ' ' || (SELECT string_agg(sr.source || ':' || sr.source_key, '|' ORDER BY sr.source,
           sr.source_key) FROM membership m JOIN source_record sr ON sr.id = m.record_id
           WHERE m.entity_id = r.entity_id AND m.active) || ' ' || round(r.score::numeric, 6) AS x
         FROM review_item r WHERE status = 'open') t"
    sql "SELECT 'consent events ' || count(*) FROM consent_event"
    sql "SELECT count(*) || ' records, ' || (SELECT count(*) FROM record_pending) || ' unresolved'
         FROM source_record"
}

run() { # MODE: load everything, resolve in bulk, then a dry re-resolution
    local env=()
    [ "$1" = ref ] && env=(MDM_REFERENCE_KERNELS=1)
    sql "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null
    env "${env[@]}" "$mdm" migrate >/dev/null || { e2e_fail "$1: migrate" "failed"; return; }
    for s in crm loyalty commerce erp pos; do
        env "${env[@]}" "$mdm" load --quiet --no-resolve --source "$s" "$tmp/s/$s.csv" >/dev/null ||
            e2e_fail "$1: load $s" "failed"
    done
    env "${env[@]}" "$mdm" load --quiet --no-resolve --format ndjson --source crm \
        "$tmp/consents.ndjson" >/dev/null || e2e_fail "$1: load ndjson" "failed"
    env "${env[@]}" "$mdm" resolve --quiet --threads 2 >/dev/null || e2e_fail "$1: resolve" "failed"
    state >"$tmp/$1.state"
    env "${env[@]}" "$mdm" resolve --all --dry-run --threads 2 >"$tmp/$1.dry" 2>&1 ||
        e2e_fail "$1: resolve --all --dry-run" "$(tail -2 "$tmp/$1.dry")"
}
run ref
run fast
n=$(grep -c . "$tmp/fast.state")
[ "$n" -gt 500 ] && e2e_ok "golden records and review items ($n lines)" || e2e_fail "state" "$n lines"
grep -q "^consent events [1-9]" "$tmp/fast.state" && e2e_ok "consent events ingested" ||
    e2e_fail "consent events ingested" "$(grep consent "$tmp/fast.state")"
if cmp -s "$tmp/ref.state" "$tmp/fast.state"; then
    e2e_ok "same golden records, cross-references, review items and consents"
else
    e2e_fail "same state" "$(diff "$tmp/ref.state" "$tmp/fast.state" | head -6)"
fi
if cmp -s "$tmp/ref.dry" "$tmp/fast.dry"; then
    e2e_ok "re-resolution reads the same: $(tail -1 "$tmp/fast.dry" | cut -c1-120)"
else
    e2e_fail "re-resolution reads the same" "$(diff "$tmp/ref.dry" "$tmp/fast.dry" | head -6)"
fi
e2e_end
