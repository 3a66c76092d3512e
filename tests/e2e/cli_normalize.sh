# `mdm normalize`: one normalizer per field, JSON output, errors and exit codes.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN

expect_exit 0 "name" "$mdm" normalize --field name "Dr. Mary-Jane O'Neil Jr."
expect_contains "name prefix" '"prefix": "dr"' "$out"
expect_contains "name first" '"first": "mary jane"' "$out"
expect_contains "name last" '"last": "oneil"' "$out"
expect_contains "name suffix" '"suffix": "jr"' "$out"
expect_exit 0 "name family first" "$mdm" normalize --field name "GARCIA LOPEZ, MARIA"
expect_contains "family name before the comma" '"last": "garcia lopez"' "$out"
expect_exit 0 "nickname canonical" "$mdm" normalize --field=name "Peggy Smith"
expect_contains "peggy is margaret" '"first_canonical": "margaret"' "$out"
expect_contains "blocking classes listed" '"margaret"' "$(printf '%s' "$out" | sed -n '/first_classes/,/]/p')"
expect_exit 0 "transliterated name" "$mdm" normalize --field name "Иванов, Иван"
expect_contains "cyrillic last" '"last": "ivanov"' "$out"
expect_contains "display kept" '"display": "Иванов, Иван"' "$out"

expect_exit 0 "email" "$mdm" normalize --field email " J.Smith+news@GoogleMail.com "
expect_contains "gmail key" '"key": "jsmith@gmail.com"' "$out"
expect_contains "display trimmed" '"display": "J.Smith+news@GoogleMail.com"' "$out"
expect_contains "valid email" '"valid": true' "$out"
expect_exit 0 "bad email is not an error" "$mdm" normalize --field email "no-at-sign"
expect_contains "invalid flagged" '"valid": false' "$out"

expect_exit 0 "phone default US" "$mdm" normalize --field phone "(415) 555-0132 ext. 7"
expect_contains "e164" '"e164": "+14155550132"' "$out"
expect_contains "extension" '"extension": "7"' "$out"
expect_exit 0 "phone with country name" "$mdm" normalize --field phone --country Deutschland "030 1234567"
expect_contains "german e164" '"e164": "+49301234567"' "$out"
expect_exit 0 "phone 00 prefix" "$mdm" normalize --field phone "0049 30 1234567"
expect_contains "00 prefix e164" '"e164": "+49301234567"' "$out"
expect_exit 0 "invalid phone flagged" "$mdm" normalize --field phone "555-0132"
expect_contains "invalid phone" '"valid": false' "$out"
expect_contains "no e164 guessed" '"e164": null' "$out"

expect_exit 0 "address one line" "$mdm" normalize --field address "123 N Main St Apt 4B, Springfield, IL 62704, USA"
expect_contains "street expanded" '"street": "north main street"' "$out"
expect_contains "unit expanded" '"unit": "apartment 4b"' "$out"
expect_contains "region" '"region": "il"' "$out"
expect_contains "zip" '"postal_code": "62704"' "$out"
expect_contains "country code" '"country": "US"' "$out"
expect_exit 0 "german address" "$mdm" normalize --field address --country DE "Hauptstr. 5, 10115 Berlin"
expect_contains "strasse" '"line": "5 hauptstrasse"' "$out"
expect_contains "city after the postcode" '"city": "berlin"' "$out"

expect_exit 0 "unit line first" "$mdm" normalize --field address "Unit 3, 45 George St, Sydney NSW 2000, Australia"
expect_contains "street from the second part" '"line": "45 george street unit 3"' "$out"
expect_contains "city before the region" '"city": "sydney"' "$out"
expect_contains "state" '"region": "nsw"' "$out"
expect_exit 0 "dutch postcode" "$mdm" normalize --field address "Keizersgracht 123, 1015 CJ Amsterdam, Nederland"
expect_contains "dutch layout" '"postal_code": "1015 CJ"' "$out"
expect_exit 0 "po box" "$mdm" normalize --field address "P.O. Box 123, Springfield, IL 62704"
expect_contains "po box street" '"street": "po box 123"' "$out"
expect_exit 0 "chinese name" "$mdm" normalize --field name "王小明"
expect_contains "family name first" '"last": "wang"' "$out"
expect_exit 0 "email display name" "$mdm" normalize --field email 'John Smith <John@Example.org>'
expect_contains "angle address" '"key": "john@example.org"' "$out"

expect_exit 0 "postal code" "$mdm" normalize --field postal_code --country GB sw1a1aa
expect_contains "uk layout" '"postal_code": "SW1A 1AA"' "$out"
expect_exit 0 "bad postal code is flagged" "$mdm" normalize --field postal_code --country US 1234
expect_contains "invalid zip" '"valid": false' "$out"

expect_exit 0 "date" "$mdm" normalize --field date "3 Feb 1981"
expect_contains "iso date" '"iso": "1981-02-03"' "$out"
expect_exit 0 "ambiguous date" "$mdm" normalize --field date "03/02/1981"
expect_contains "both readings" '"alternative": "1981-03-02"' "$out"
expect_contains "ambiguous flag" '"ambiguous": true' "$out"
expect_exit 0 "month first" "$mdm" normalize --field date --month-first "03/02/1981"
expect_contains "US reading first" '"iso": "1981-03-02"' "$out"
expect_contains "day-first reading as the alternative" '"alternative": "1981-02-03"' "$out"
expect_exit 0 "two-digit year pivot" "$mdm" normalize --field date --pivot 2099 "25/12/99"
expect_contains "pivot applied" '"iso": "2099-12-25"' "$out"
expect_exit 2 "impossible date" "$mdm" normalize --field date "1981-02-29"
expect_contains "impossible date named" "impossible date" "$out"

expect_exit 0 "country" "$mdm" normalize --field country "Österreich"
expect_contains "country code AT" '"country": "AT"' "$out"
expect_exit 0 "text" "$mdm" normalize --field text "王小明"
expect_contains "pinyin key" '"key": "wang xiao ming"' "$out"

out=$(printf 'bob smith\nPeggy Jones\r\n' | "$mdm" normalize --field name 2>&1)
expect_contains "stdin line 1" '{"field":"name","input":"bob smith"' "$out"
expect_contains "stdin nickname" '"first_canonical":"robert"' "$out"
expect_contains "stdin line 2, CR stripped" '"input":"Peggy Jones","display"' "$out"
expect_eq "one line per value" "$(printf '%s\n' "$out" | wc -l)" "2"
expect_exit 2 "stdin bad date stops" sh -c "printf '1981-02-03\n1981-02-31\n' | '$mdm' normalize --field date"
expect_contains "good line printed first" '"iso":"1981-02-03"' "$out"
expect_contains "bad line named" "stdin line 2: impossible date" "$out"
expect_exit 2 "stdin invalid UTF-8" sh -c "printf 'ok\n\\377\n' | '$mdm' normalize --field text"
expect_contains "utf-8 line named" "stdin line 2: not valid UTF-8" "$out"
expect_exit 0 "stdin empty input" sh -c "'$mdm' normalize --field email </dev/null"
expect_eq "no input, no output" "$out" ""

expect_exit 2 "no field" "$mdm" normalize "x"
expect_contains "field required" "--field is required" "$out"
expect_exit 2 "unknown field" "$mdm" normalize --field shoe_size 42
expect_contains "unknown field named" 'unknown field "shoe_size"' "$out"
expect_exit 2 "empty value" "$mdm" normalize --field name "   "
expect_contains "empty named" "VALUE is empty" "$out"
expect_exit 2 "invalid UTF-8" "$mdm" normalize --field name $'M\xfcller'
expect_contains "utf-8 named" "not valid UTF-8" "$out"
expect_exit 2 "unknown country" "$mdm" normalize --field phone --country Narnia "030 1234567"
expect_contains "country named" 'unknown country "Narnia"' "$out"
expect_exit 2 "two values" "$mdm" normalize --field name a b
expect_exit 2 "unknown option" "$mdm" normalize --field name --frobnicate a
expect_exit 0 "help" "$mdm" normalize --help
expect_contains "help lists fields" "postal_code" "$out"

e2e_end
