#!/bin/sh
# SPDX-License-Identifier: MIT
# Build (and optionally run) the libFuzzer driver of the AI worker's LLM codecs with clang.
#   tests/fuzz/build-ai-fuzz.sh [BUILD_DIR] [--run SECONDS]
# BUILD_DIR: a configured build tree (for autoconfig.h), default ./build. The driver lands
# in BUILD_DIR/tests/fuzz/. With --run, it runs SECONDS on its seed corpus (a copy in
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
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$build -I$src/common -I$src/ai $(pkg-config --cflags libpq libcjson libcurl)"
libs="$(pkg-config --libs libpq libcjson libcrypto libxcrypt hiredis libcurl) -pthread -lm"
# The library sources are compiled once, then linked into the driver.
objdir=$out/ai-objs
mkdir -p "$objdir"
objs=""
for f in "$src"/common/*.c "$src"/ai/llm.c; do
  o=$objdir/$(basename "$(dirname "$f")")-$(basename "$f" .c).o
  # shellcheck disable=SC2086
  clang $cflags -c -o "$o" "$f"
  objs="$objs $o"
done
echo "building fuzz_llm"
# shellcheck disable=SC2086
clang $cflags -o "$out/fuzz_llm" "$src/tests/fuzz/fuzz_llm.c" $objs $libs
if [ "$run" -gt 0 ]; then
  corpus=$out/corpus_llm
  mkdir -p "$corpus"
  cp "$src"/tests/fuzz/corpus/llm/* "$corpus"/ 2>/dev/null || true
  echo "running fuzz_llm for ${run}s"
  "$out/fuzz_llm" -max_total_time="$run" -max_len=70000 -dict="$src/tests/fuzz/llm.dict" \
    -artifact_prefix="$out/crash-llm-" "$corpus" >"$out/fuzz_llm.log" 2>&1 ||
    { tail -50 "$out/fuzz_llm.log"; exit 1; }
  grep -E "^#[0-9]+.*(DONE|pulse)" "$out/fuzz_llm.log" | tail -1
fi
