#!/usr/bin/env bash
# libFuzzer harnesses, run by `make fuzz`.
#
#   scripts/fuzz.sh [TARGET...]     (fuzz_NAME or NAME; default: every tests/fuzz/fuzz_*.c)
#
# Builds the library sources (everything but api/main.c; C with clang, matching/*.cc with
# clang++) once with -fsanitize=fuzzer-no-link,address,undefined into build/fuzz/, links
# each tests/fuzz/fuzz_NAME.c with -fsanitize=fuzzer, and runs it for FUZZ_SECONDS
# (default 20) seconds. Seeds come from tests/fuzz/corpus/fuzz_NAME/ when present (read
# only); what the fuzzer finds goes to build/fuzz/corpus/fuzz_NAME/, crash reproducers to
# build/fuzz/artifacts/. tests/fuzz/fuzz_NAME.dict is used as a dictionary when present,
# and tests/fuzz/fuzz_NAME.options holds extra libFuzzer flags, one per line (-max_len=N).
# Exit status is non-zero when a target fails to build or finds a crash, leak or
# undefined behaviour; rerun one input with build/fuzz/fuzz_NAME FILE.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}
jobs=${FUZZ_BUILD_JOBS:-2}
CC=${FUZZ_CC:-clang}
CXX=${FUZZ_CXX:-clang++}
command -v "$CC" >/dev/null && command -v "$CXX" >/dev/null || {
    echo "fuzz: needs clang and clang++ (apt-get install clang)" >&2
    exit 1
}

out=build/fuzz
mkdir -p "$out/obj" "$out/corpus" "$out/artifacts"
pkgs=$(sed -n 's/^PKGS *?= *//p' Makefile)
pkgcflags=$(pkg-config --cflags $pkgs 2>/dev/null)
pkglibs=$(pkg-config --libs $pkgs 2>/dev/null)
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cppflags="-I. -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $pkgcflags"
cflags="-std=c11 -O1 -g $san -fsanitize=fuzzer-no-link"
cxxflags="-std=c++17 -O1 -g $san -fsanitize=fuzzer-no-link"

# compile SRC: builds the object of SRC if it is missing or older than the source
# (header changes are caught by the .d files clang writes).
compile() {
    local src=$1 obj=$out/obj/${1%.*}.o
    mkdir -p "$(dirname "$obj")"
    if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && ! deps_newer "$obj"; then return 0; fi
    case $src in
    *.cc) $CXX $cxxflags $cppflags -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj" ;;
    *) $CC $cflags $cppflags -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj" ;;
    esac
}
# deps_newer OBJ: true when a header OBJ depends on changed after it was built.
deps_newer() {
    local d=${1%.o}.d f
    [ -f "$d" ] || return 0
    for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$d" | tr ' ' '\n' | grep -v ':$' | sort -u); do
        [ -f "$f" ] && [ "$f" -nt "$1" ] && return 0
    done
    return 1
}
export -f compile deps_newer
export out CC CXX cflags cxxflags cppflags

libsrc=$(ls common/*.c matching/*.c mdm/*.c stewardship/*.c api/*.c matching/*.cc 2>/dev/null |
    grep -v '^api/main\.c$')
if ! printf '%s\n' $libsrc | xargs -P "$jobs" -I{} bash -c 'compile "$@"' _ {}; then
    echo "fuzz: library build failed" >&2
    exit 1
fi
libobjs=$(for s in $libsrc; do echo "$out/obj/${s%.*}.o"; done)
rm -f "$out/libmdm.a" && ar rcs "$out/libmdm.a" $libobjs || exit 1

if [ $# -gt 0 ]; then
    targets=()
    for t in "$@"; do
        t=$(basename "$t" .c)
        [[ $t == fuzz_* ]] || t=fuzz_$t
        targets+=("tests/fuzz/$t.c")
    done
else
    targets=(tests/fuzz/fuzz_*.c)
fi

failed=0 ran=0
for src in "${targets[@]}"; do
    [ -f "$src" ] || { echo "fuzz: no such target $src" >&2; failed=$((failed + 1)); continue; }
    name=$(basename "$src" .c)
    bin=$out/$name
    if ! compile "$src" ||
        ! $CXX -fsanitize=fuzzer $san "$out/obj/${src%.c}.o" "$out/libmdm.a" \
            $pkglibs -lphonenumber -lpthread -lm -o "$bin"; then
        echo "fuzz: $name: build failed" >&2
        failed=$((failed + 1))
        continue
    fi
    seeds=()
    [ -d "tests/fuzz/corpus/$name" ] && seeds+=("tests/fuzz/corpus/$name")
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict+=("-dict=tests/fuzz/$name.dict")
    if [ -f "tests/fuzz/$name.options" ]; then
        while read -r opt; do
            [[ $opt == -* ]] && dict+=("$opt")
        done <"tests/fuzz/$name.options"
    fi
    mkdir -p "$out/corpus/$name"
    echo "fuzz: $name for ${secs}s"
    ran=$((ran + 1))
    if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$bin" -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$out/artifacts/$name-" "$out/corpus/$name" "${seeds[@]}" \
        >"$out/$name.log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$out/$name.log" |
            sed "s/^/fuzz: $name /"
    else
        echo "fuzz: $name FAILED, log $out/$name.log; reproducers in $out/artifacts/" >&2
        grep -m1 -E 'ERROR|runtime error|Sanitizer|deadly signal' "$out/$name.log" >&2
        failed=$((failed + 1))
    fi
done
echo "fuzz: $ran run, $failed failed"
[ "$failed" -eq 0 ]
