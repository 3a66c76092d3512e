# `mdm compare` and `mdm phonetic`: operands, stdin modes, errors and exit codes.
. "$(dirname "$0")/lib.bash"
mdm=$MDM_BIN

expect_exit 0 "compare two operands" "$mdm" compare --comparator jaro_winkler MARTHA MARHTA
expect_eq "jaro_winkler MARTHA MARHTA" "$out" "0.961111"
expect_exit 0 "compare --comparator=NAME" "$mdm" compare --comparator=levenshtein kitten sitting
expect_eq "levenshtein similarity" "$out" "0.571429"
expect_exit 0 "compare code points" "$mdm" compare --comparator osa "Müller" "Mülelr"
expect_eq "osa transposition on code points" "$out" "0.833333"
expect_exit 0 "compare empty operands" "$mdm" compare --comparator jaro "" ""
expect_eq "two empty strings are identical" "$out" "1.000000"
expect_exit 0 "compare an operand starting with -" "$mdm" compare --comparator token_set -- "-a b" "b -a"
expect_eq "token_set after --" "$out" "1.000000"
out=$(printf 'DWAYNE\tDUANE\nDIXON\tDICKSONX\r\nMaria Garcia Lopez\tGarcia Lopez Maria\n' |
    "$mdm" compare --comparator jaro_winkler 2>&1)
expect_eq "compare stdin mode" "$out" $'DWAYNE\tDUANE\t0.840000\nDIXON\tDICKSONX\t0.813333\nMaria Garcia Lopez\tGarcia Lopez Maria\t0.796296'
out=$(printf 'Maria Garcia Lopez\tGarcia Lopez Maria\n' | "$mdm" compare --comparator token_set 2>&1)
expect_eq "token_set ignores word order" "$out" $'Maria Garcia Lopez\tGarcia Lopez Maria\t1.000000'
for c in jaro jaro_winkler levenshtein damerau_levenshtein osa jaccard token_set; do
    expect_exit 0 "comparator $c known" "$mdm" compare --comparator "$c" abc abd
done

expect_exit 2 "compare without --comparator" "$mdm" compare a b
expect_contains "missing option named" "--comparator is required" "$out"
expect_exit 2 "unknown comparator" "$mdm" compare --comparator soundex a b
expect_contains "unknown comparator lists names" "one of: jaro, jaro_winkler" "$out"
expect_exit 2 "one operand" "$mdm" compare --comparator jaro a
expect_exit 2 "three operands" "$mdm" compare --comparator jaro a b c
expect_exit 2 "invalid UTF-8 operand" "$mdm" compare --comparator jaro abc $'x\xC3'
expect_contains "invalid operand named" "operand B: invalid UTF-8 at byte 2" "$out"
expect_exit 2 "stdin line without tab" sh -c "printf 'a\tb\nab\n' | '$mdm' compare --comparator jaro"
expect_contains "bad line named" "stdin line 2: expected two fields" "$out"
expect_contains "good lines before it printed" $'a\tb\t0.000000' "$out"
expect_exit 2 "stdin line with two tabs" sh -c "printf 'a\tb\tc\n' | '$mdm' compare --comparator jaro"
expect_exit 2 "stdin invalid UTF-8" sh -c "printf 'a\t\\377\n' | '$mdm' compare --comparator jaro"
expect_contains "stdin invalid UTF-8 named" "stdin line 1: invalid UTF-8" "$out"
expect_exit 0 "compare empty stdin" sh -c "'$mdm' compare --comparator jaro </dev/null"
expect_eq "no input, no output" "$out" ""

expect_exit 0 "soundex operands" "$mdm" phonetic --algorithm soundex Robert Rupert Tymczak Pfister Ashcraft
expect_eq "soundex keys" "$out" $'R163\nR163\nT522\nP236\nA261'
expect_exit 0 "nysiis" "$mdm" phonetic --algorithm nysiis Mclaughlin
expect_eq "nysiis key" "$out" "MCLAGLAN"
expect_exit 0 "metaphone" "$mdm" phonetic --algorithm metaphone Knight Thumb
expect_eq "metaphone keys" "$out" $'NT\n0M'
expect_exit 0 "double metaphone" "$mdm" phonetic --algorithm double_metaphone Schmidt Smith
expect_eq "double metaphone primary and alternate" "$out" $'XMT\tSMT\nSM0\tXMT'
out=$(printf 'Robert\nO'"'"'Brien\r\n' | "$mdm" phonetic --algorithm soundex 2>&1)
expect_eq "phonetic stdin mode" "$out" $'Robert\tR163\nO\'Brien\tO165'
out=$(printf 'Schmidt\n' | "$mdm" phonetic --algorithm double_metaphone 2>&1)
expect_eq "double metaphone stdin mode" "$out" $'Schmidt\tXMT\tSMT'
expect_exit 0 "phonetic keys the ASCII comparison form" "$mdm" phonetic --algorithm soundex "Müller" "Иванов" "Ólafsdóttir"
expect_eq "transliterated keys" "$out" $'M460\nI151\nO412'
expect_exit 0 "double metaphone of a transliterated name" "$mdm" phonetic --algorithm double_metaphone "Łukasz"
expect_eq "Łukasz keys like Lukasz" "$out" $'LKS\tLKX'
expect_exit 0 "no letters gives an empty key" "$mdm" phonetic --algorithm soundex 1234
expect_eq "empty key" "$out" ""

expect_exit 2 "phonetic without --algorithm" "$mdm" phonetic Robert
expect_exit 2 "unknown algorithm" "$mdm" phonetic --algorithm caverphone Robert
expect_contains "unknown algorithm lists names" "soundex, nysiis, metaphone, double_metaphone" "$out"
expect_exit 2 "empty value" "$mdm" phonetic --algorithm soundex Robert ""
expect_contains "empty value named" "value 2: empty value" "$out"
expect_exit 2 "invalid UTF-8 value" "$mdm" phonetic --algorithm nysiis $'\xE2\x82'
expect_exit 2 "empty stdin line" sh -c "printf 'Robert\n\n' | '$mdm' phonetic --algorithm soundex"
expect_contains "empty line named" "stdin line 2: empty value" "$out"
e2e_end
