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
# shellcheck source=tests/fuzz/fuzz-lib.sh
. "$(dirname "$0")/fuzz-lib.sh"
fuzz_setup "${CHATAI_BUILD_DIR:-$src/build}"
secs=${FUZZ_SECONDS:-12}

cflags="$fuzz_cflags -I$build -I$src/common -I$src/notifier"
libs="$(pkg-config --libs libcrypto) -lwslay -lhttp_parser"
for d in http ws; do
  fuzz_link "$d" "$src/notifier/http.c" "$src/notifier/ws.c" "$src/notifier/sse.c" "$src/common/util.c" \
    "$src/common/url.c"
done

status=0
for d in http ws; do
  fuzz_run "$d" "$d.dict" 140000 "$secs" || status=1
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
