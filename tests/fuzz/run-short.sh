#!/bin/sh
# SPDX-License-Identifier: MIT
# Short fuzz runs for CI (total well under 2 minutes): builds every libFuzzer driver of
# tests/fuzz with clang (-fsanitize=fuzzer,address,undefined) and runs each for
# FUZZ_SECONDS (default 12) on a copy of its seed corpus. Fails on any crash, leak or
# sanitizer report; the reproducer is left as BUILD/tests/fuzz/crash-*.
#   CHATAI_BUILD_DIR=build tests/fuzz/run-short.sh
# The notifier's drivers (fuzz_http, fuzz_ws) are built here; the other parts' drivers
# are built by their own tests/fuzz/build-*.sh scripts, which this script runs with
# --run. A longer run is described in docs/streams.md.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${CHATAI_BUILD_DIR:-$src/build}" && pwd)
secs=${FUZZ_SECONDS:-12}
[ -f "$build/autoconfig.h" ] || { echo "no autoconfig.h in $build: run configure there first" >&2; exit 1; }
command -v clang >/dev/null || { echo "clang not found: apt-get install clang" >&2; exit 1; }
out=$build/tests/fuzz
mkdir -p "$out"

cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$build -I$src/common -I$src/notifier"
libs="$(pkg-config --libs libcrypto) -lwslay -lhttp_parser"
common="$src/common/util.c $src/common/url.c"
for d in http ws; do
  echo "building fuzz_$d"
  # shellcheck disable=SC2086
  clang $cflags -o "$out/fuzz_$d" "$src/tests/fuzz/fuzz_$d.c" "$src/notifier/http.c" "$src/notifier/ws.c" \
    "$src/notifier/sse.c" $common $libs
done

status=0
for d in http ws; do
  corpus=$out/corpus_$d
  mkdir -p "$corpus"
  cp "$src"/tests/fuzz/corpus/$d/* "$corpus"/ 2>/dev/null || true
  echo "running fuzz_$d for ${secs}s"
  if "$out/fuzz_$d" -max_total_time="$secs" -max_len=140000 -dict="$src/tests/fuzz/$d.dict" \
      -artifact_prefix="$out/crash-$d-" "$corpus" >"$out/fuzz_$d.log" 2>&1; then
    grep -E "^#[0-9]+.*(DONE|pulse)" "$out/fuzz_$d.log" | tail -1
  else
    tail -40 "$out/fuzz_$d.log"
    status=1
  fi
done

# The other parts' drivers.
for script in "$src"/tests/fuzz/build-*.sh; do
  [ -f "$script" ] || continue
  echo "== $(basename "$script") --run $secs"
  sh "$script" "$build" --run "$secs" || status=1
done

if [ "$status" -eq 0 ]; then
  echo "fuzz: no crash"
else
  echo "fuzz: FAILED" >&2
fi
exit $status
