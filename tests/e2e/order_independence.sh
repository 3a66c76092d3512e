# One answer whatever the path and the order (issue 15, deliverable 7): a synth
# population loaded once in bulk (mdm load --no-resolve + mdm resolve) and three times
# record by record in random orders (tests/bench/quality_order.sh: the sources in
# another order, the rows of each shuffled); every run puts every record in exactly one
# golden record, and no record may end in another cluster than in the bulk run (the one
# clustering of mdm/recluster.h; before it 9-10% of the records did).
. "$(dirname "$0")/lib.bash"
root=${MDM_ROOT:-$PWD}
out=$(MDM_ORDER_PEOPLE=${MDM_ORDER_PEOPLE:-400} MDM_ORDER_MAX_SHARE=0 bash "$root/tests/bench/quality_order.sh" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
expect_eq "four runs" "$(echo "$out" | grep -c '^order people=')" "4"
expect_eq "every record in one golden record in every run" \
    "$(echo "$out" | grep '^order people=' | sed 's/.* records=\([0-9]*\) .*/\1/' | sort -u | wc -l)" "1"
expect_eq "no record outside a golden record" "$(echo "$out" | grep -c '^order: bulk:')" "0"
for k in 1 2 3; do
    line=$(echo "$out" | grep "run=incremental$k ")
    differ=$(echo "$line" | sed -n 's/.* differ=\([0-9]*\) .*/\1/p')
    expect_eq "order $k: records in another cluster than in the bulk run" "${differ:-none}" "0"
    bulk=$(echo "$out" | grep 'run=bulk ' | grep -o 'precision=[0-9.]* recall=[0-9.]*')
    expect_eq "order $k: the same precision and recall as the bulk run" \
        "$(echo "$line" | grep -o 'precision=[0-9.]* recall=[0-9.]*')" "$bulk"
done
expect_eq "exit status" "$rc" "0"
e2e_end
