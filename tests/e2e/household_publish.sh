# Household events to push subscriptions (issue 21; docs/PUBLISHING.md#household-events):
# on the real pipeline (mdm synth -> mdm load -> mdm resolve, then five CRM records that
# move through mdm load), household.created/changed/retired reach the subscriptions that list
# them in event_types, through mdm publish and the test receiver (which checks every
# signature on its own):
#   - scope "all": every household event of the outbox exactly once, acknowledged;
#   - scope "source" (the CRM): exactly the events naming a golden record the CRM holds,
#     each member, joiner and leaver with the CRM's own keys for it, members and roles as
#     in the outbox event;
#   - a subscription with the default event_types gets none;
#   - per household, in version order: against a receiver that fails everything, one
#     round tries only the head of each household's chain; then, although the receiver
#     fails the first two arrivals of every message, acknowledged in version order;
#   - an unknown household event type is refused with the field named.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/http_lib.bash"
mdm=$MDM_BIN
root=${MDM_ROOT:-.}
tmp=$http_tmp
secret=e2e-household-secret-0123456789

# first a receiver that answers 500 to everything
receiver_start "$secret" --always 500 --log "$tmp/failing.ndjson" && e2e_ok "receiver starts" || e2e_fail "receiver starts" "no port"
trap 'receiver_stop; http_cleanup' EXIT

hh='["household.created", "household.changed", "household.retired"]'
sed "s#\"model.json\"#\"$root/demo/model.json\"#" "$root/demo/mdm.json" |
    jq --arg u "http://127.0.0.1:$port" --arg s "$secret" --argjson hh "$hh" '
      .publish = {"workers": 2, "poll_ms": 20, "batch": 1000, "backoff_base_ms": 20,
                  "backoff_max_ms": 100, "max_attempts": 10, "allowed_networks": ["127.0.0.1/32"]}
    | .subscriptions = [
        {"source": "crm", "url": ($u + "/crm"), "secret": $s, "event_types": $hh},
        {"source": "commerce", "url": ($u + "/all"), "secret": $s, "scope": "all",
         "event_types": (["created", "updated", "merged", "split", "deleted"] + $hh)},
        {"source": "pos", "url": ($u + "/pos"), "secret": $s, "scope": "all"}]' >"$tmp/mdm.json"
export MDM_CONFIG=$tmp/mdm.json
# while the receiver fails: one attempt, then a retry only after ten minutes
jq '.publish.backoff_base_ms = 600000 | .publish.backoff_max_ms = 600000' "$tmp/mdm.json" >"$tmp/slow.json"
jq '.subscriptions[0].event_types = ["household.moved"]' "$tmp/mdm.json" >"$tmp/bad.json"
expect_exit 2 "an unknown household event type is refused" "$mdm" config --config "$tmp/bad.json"
expect_contains "the field is named" "/subscriptions/0/event_types/0" "$out"
expect_exit 0 "mdm config accepts household event types" "$mdm" config
expect_exit 0 "migrate" "$mdm" migrate

"$mdm" synth --people 500 --seed 21 --out "$tmp/s" >/dev/null 2>&1 || e2e_fail "synth" "failed"
e2e_bulk "$tmp/s"
expect_contains "resolve reports the households" "households: " "$out"

# five household members whose golden address comes from their CRM record move (each
# from another household): their CRM rows get new streets, loaded and resolved by mdm
# load, before anything is published, so each old household has a created and a changed
# event pending together
sql "SELECT DISTINCT ON (hm.household_id) hm.entity_id, r.source_key, hm.household_id
     FROM household_member hm
     JOIN golden_value g ON g.entity_id = hm.entity_id AND g.attr = 'addresses'
     JOIN source_record r ON r.id = g.source_record_id AND r.source = 'crm'
     WHERE (SELECT count(*) FROM household_member o WHERE o.household_id = hm.household_id) >= 2
     ORDER BY hm.household_id, hm.entity_id LIMIT 5" >"$tmp/movers.txt"
expect_eq "five CRM-addressed members of five households" "$(wc -l <"$tmp/movers.txt")" "5"
python3 - "$tmp/s/crm.csv" "$tmp/movers.txt" "$tmp/move.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
movers = [l.split('|')[1] for l in open(sys.argv[2]).read().split()]
w = csv.DictWriter(open(sys.argv[3], 'w', newline=''), fieldnames=list(rows[0].keys()))
w.writeheader()
for i, key in enumerate(movers):
    row = next(r for r in rows if r['customer_id'] == key)
    row.update(street='%d Quenby Moorings Rd' % (4417 + 2 * i), zip='99501', city='Anchorage',
               state='AK')
    w.writerow(row)
PY
expect_exit 0 "the moves through mdm load" "$mdm" load --quiet --source crm "$tmp/move.csv"
moved=0
while IFS='|' read -r e _ h; do
    [ "$(sql "SELECT household_id FROM household_member WHERE entity_id = $e")" != "$h" ] && moved=$((moved + 1))
done <"$tmp/movers.txt"
expect_eq "each mover is in another household now" "$moved" "5"

# one round against the failing receiver: only the head of each household's chain is
# tried, the later events of a household wait (attempts 0)
expect_exit 0 "publish once to the failing receiver" "$mdm" publish --once --config "$tmp/slow.json"
sql "SELECT s.source, d.household_id, d.seq, d.attempts FROM delivery d
     JOIN subscription s ON s.id = d.subscription_id WHERE d.household_id IS NOT NULL
     ORDER BY 1, 2, 3" >"$tmp/chains.txt"
read -r heads_tried later_waiting later_tried < <(awk -F'|' '
    {k = $1 "|" $2; if (k != prev) {head = 1; prev = k} else head = 0}
    head && $4 == 1 {h++} !head && $4 == 0 {w++} !head && $4 != 0 {t++}
    END {print h + 0, w + 0, t + 0}' "$tmp/chains.txt")
heads=$(cut -d'|' -f1,2 "$tmp/chains.txt" | sort -u | wc -l)
expect_eq "every household chain's head tried once" "$heads_tried" "$heads"
[ "$later_waiting" -ge 10 ] && e2e_ok "later events of a household wait ($later_waiting)" ||
    e2e_fail "later events of a household wait" "$later_waiting"
expect_eq "none of them tried before its predecessor" "$later_tried" "0"
receiver_stop
# the receiver on the same port, failing the first two arrivals of every message; every
# delivery requeued by a replay (an operator's action)
receiver_start "$secret" --port "$port" --fail-first 2 --log "$tmp/received.ndjson" || e2e_fail "receiver restarts" "no port"
for sub in $(sql "SELECT id FROM subscription ORDER BY id"); do
    "$mdm" deliveries replay --subscription "$sub" --from-seq 1 >/dev/null 2>&1 || e2e_fail "replay $sub" "failed"
done
expect_exit 0 "publish" "$mdm" publish --drain --timeout 300

expect_eq "nothing pending, dead or rejected" \
    "$(sql "SELECT count(*) FROM delivery WHERE state <> 'acknowledged' AND state <> 'skipped'")" "0"
# the outbox events and what each system holds, for the checks
sql "SELECT seq, type, household_id, entity_version, payload::text FROM outbox
     WHERE type LIKE 'household.%' ORDER BY seq" >"$tmp/events.txt"
sql "SELECT DISTINCT m.entity_id, r.source, r.source_key FROM membership m
     JOIN source_record r ON r.id = m.record_id WHERE m.active" >"$tmp/keys.txt"
sql "SELECT entity_id, household_id FROM household_member" >"$tmp/now.txt"
python3 - "$tmp/received.ndjson" "$tmp/events.txt" "$tmp/keys.txt" "$tmp/movers.txt" "$tmp/now.txt" >"$tmp/check.txt" <<'PY'
import collections, json, sys
recv, events, keys, movers, now = sys.argv[1:]
movers = [l.split('|') for l in open(movers).read().split()]
now = dict(map(int, l.split('|')) for l in open(now).read().split())
ev = {}
for line in open(events):
    seq, typ, h, ver, payload = line.rstrip('\n').split('|', 4)
    ev[int(seq)] = (typ, int(h), int(ver), json.loads(payload))
held = collections.defaultdict(lambda: collections.defaultdict(set))
for line in open(keys):
    e, s, k = line.rstrip('\n').split('|')
    held[s][int(e)].add(k)
lines = [json.loads(l) for l in open(recv)]
out = {}
out['all_signed'] = all(l['sig_ok'] for l in lines)
acked = collections.defaultdict(list)  # path -> [body] in acknowledgement order
attempts = collections.Counter()
for l in lines:
    b = l['body']
    # the receiver logs no path: tell the systems apart by the "source" of the message
    src = b.get('source')
    if l['status'] == 200:
        acked[src].append(b)
    elif b.get('type', '').startswith('household.'):
        attempts[l['key']] += 1
def hh_msgs(src):
    return [b for b in acked[src] if b['type'].startswith('household.')]
for src in ('commerce', 'crm', 'pos'):
    m = hh_msgs(src)
    out[src + '_household_messages'] = len(m)
    out[src + '_distinct'] = len({b['event_id'] for b in m})
out['outbox_household_events'] = len(ev)
# the CRM (scope source): exactly the events that name a golden record the CRM holds
def names(p):
    return {x['entity_id'] for x in p['members']} | set(p['left'])
crm_expected = {s for s, (t, h, v, p) in ev.items() if any(e in held['crm'] for e in names(p))}
out['crm_expected'] = len(crm_expected)
out['crm_exact'] = {b['seq'] for b in hh_msgs('crm')} == crm_expected
out['all_exact'] = {b['seq'] for b in hh_msgs('commerce')} == set(ev)
# each message says what its outbox event says, with the receiver's own keys
bad = []
for src in ('crm', 'commerce'):
    for b in hh_msgs(src):
        t, h, v, p = ev[b['seq']]
        if (b['type'], b['household_id'], b['household_version']) != (t, h, v):
            bad.append(('envelope', src, b['seq']))
        if [(x['entity_id'], x['role']) for x in b['members']] != [(x['entity_id'], x['role']) for x in p['members']]:
            bad.append(('members', src, b['seq']))
        if [x['entity_id'] for x in b['left']] != p['left'] or [x['entity_id'] for x in b['joined']] != p['joined']:
            bad.append(('joined/left', src, b['seq']))
        for x in b['members'] + b['joined'] + b['left']:
            if set(x['source_keys']) != held[src].get(x['entity_id'], set()):
                bad.append(('keys', src, b['seq'], x['entity_id']))
out['messages_match_outbox'] = len(bad) == 0
out['first_mismatch'] = bad[:3]
out['crm_members_with_keys'] = sum(1 for b in hh_msgs('crm') for x in b['members'] if x['source_keys'])
# per household, acknowledged in version order, every message retried twice first
order_ok = True
for src in ('crm', 'commerce'):
    last = {}
    for b in hh_msgs(src):
        h = b['household_id']
        if last.get(h, 0) >= b['household_version']:
            order_ok = False
        last[h] = b['household_version']
out['per_household_order'] = order_ok
# the receiver fails the first two arrivals of each key (the event id, shared by the
# systems it is sent to): two failed arrivals per household event, all retried
out['retried'] = set(attempts.values()) == {2} and set(attempts) == {b['event_id'] for b in hh_msgs('commerce')}
out['multi_version_households'] = sum(1 for h in {v[1] for v in ev.values()} if sum(1 for x in ev.values() if x[1] == h) > 1)
# the moves: each old household tells the CRM its member left, with the CRM's key; the
# new household names the mover
out['movers_left'] = sum(1 for e, k, h in movers if [k in x['source_keys'] for b in hh_msgs('crm')
    if b['household_id'] == int(h) for x in b['left'] if x['entity_id'] == int(e)] == [True])
out['movers_joined'] = sum(1 for e, k, h in movers if any(b['household_id'] == now[int(e)]
    and any(x['entity_id'] == int(e) and k in x['source_keys'] for x in b['members'])
    for b in hh_msgs('crm')))
print(json.dumps(out))
PY
chk() { jq -r "$1" "$tmp/check.txt"; }
echo "check: $(cat "$tmp/check.txt")"
expect_eq "every message signed (the receiver's own check)" "$(chk .all_signed)" "true"
n=$(chk .outbox_household_events)
[ "$n" -gt 50 ] && e2e_ok "household events in the outbox ($n)" || e2e_fail "household events in the outbox" "$n"
expect_eq "scope all: every household event, once" "$(chk .commerce_household_messages)" "$n"
expect_eq "scope all: the outbox's seqs exactly" "$(chk .all_exact)" "true"
c=$(chk .crm_household_messages)
[ "$c" -gt 0 ] && [ "$c" -lt "$n" ] && e2e_ok "scope source: some household events, not all ($c of $n)" ||
    e2e_fail "scope source: some household events, not all" "$c of $n"
expect_eq "scope source: exactly those naming a CRM customer" "$(chk .crm_exact)" "true"
expect_eq "scope source: each once" "$(chk .crm_distinct)" "$c"
expect_eq "default event_types: no household event" "$(chk .pos_household_messages)" "0"
expect_eq "messages say what the outbox says, with the receiver's own keys" "$(chk .messages_match_outbox)" "true"
[ "$(chk .crm_members_with_keys)" -gt 0 ] && e2e_ok "CRM members carry CRM keys" || e2e_fail "CRM members carry CRM keys" "none"
expect_eq "every household event failed twice at first, then acknowledged" "$(chk .retried)" "true"
expect_eq "per household, in version order" "$(chk .per_household_order)" "true"
[ "$(chk .multi_version_households)" -ge 5 ] && e2e_ok "households with several versions ($(chk .multi_version_households))" ||
    e2e_fail "households with several versions" "none"
expect_eq "each old household tells the CRM its member left, with the CRM key" "$(chk .movers_left)" "5"
expect_eq "each new household names its mover, with the CRM key" "$(chk .movers_joined)" "5"
expect_eq "deliveries name the household, not an entity" \
    "$(sql "SELECT count(*) FROM delivery d JOIN outbox o ON o.seq = d.seq WHERE o.type LIKE 'household.%'
            AND (d.household_id IS DISTINCT FROM o.household_id OR d.entity_id IS NOT NULL)")" "0"
e2e_end
