#!/bin/sh
# SPDX-License-Identifier: MIT
# Build (and optionally run) the libFuzzer drivers of chatai.fcgi with clang.
#   tests/fuzz/build-fcgi-fuzz.sh [BUILD_DIR] [--run SECONDS]
# BUILD_DIR: a configured build tree (for autoconfig.h), default ./build. The drivers land
# in BUILD_DIR/tests/fuzz/. With --run, each runs SECONDS on its seed corpus (a copy in
# BUILD_DIR, the committed seeds stay as they are) and the script fails on any crash.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
run=0
if [ "${2:-}" = "--run" ]; then run=${3:-30}; fi
build=$(cd "$build" && pwd)
[ -f "$build/autoconfig.h" ] || { echo "no autoconfig.h in $build: run configure there first" >&2; exit 1; }
command -v clang >/dev/null || { echo "clang not found: apt-get install clang" >&2; exit 1; }
out=$build/tests/fuzz
mkdir -p "$out"
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$build -I$src/common -I$src/fcgi -I$src/ai $(pkg-config --cflags libpq libcjson libcurl)"
libs="$(pkg-config --libs libpq libcjson libcrypto libxcrypt hiredis libcurl) -lfcgi -pthread -lm"
# The library sources are compiled once, then linked into each driver.
objdir=$out/fcgi-objs
mkdir -p "$objdir"
objs=""
# fcgi/inlineai.c runs the AI worker's job code (ai/, as ai/libchataiai.a in the build)
for f in "$src"/common/*.c "$src"/fcgi/*.c "$src"/ai/*.c; do
  case $f in */fcgi/main.c | */ai/main.c) continue ;; esac
  o=$objdir/$(basename "$(dirname "$f")")-$(basename "$f" .c).o
  # shellcheck disable=SC2086
  clang $cflags -c -o "$o" "$f"
  objs="$objs $o"
done
for d in body query route; do
  echo "building fuzz_fcgi_$d"
  # shellcheck disable=SC2086
  clang $cflags -o "$out/fuzz_fcgi_$d" "$src/tests/fuzz/fuzz_fcgi_$d.c" $objs $libs
done
if [ "$run" -gt 0 ]; then
  for d in body query route; do
    corpus=$out/corpus_fcgi_$d
    mkdir -p "$corpus"
    cp "$src"/tests/fuzz/corpus/fcgi_$d/* "$corpus"/ 2>/dev/null || true
    echo "running fuzz_fcgi_$d for ${run}s"
    "$out/fuzz_fcgi_$d" -max_total_time="$run" -max_len=70000 -dict="$src/tests/fuzz/fcgi.dict" \
      -artifact_prefix="$out/crash-fcgi-$d-" "$corpus" >"$out/fuzz_fcgi_$d.log" 2>&1 ||
      { tail -50 "$out/fuzz_fcgi_$d.log"; exit 1; }
    grep -E "^#[0-9]+.*(DONE|pulse)" "$out/fuzz_fcgi_$d.log" | tail -1
  done
fi
