#!/bin/sh
# SPDX-License-Identifier: MIT
# Build (and optionally run) the libFuzzer drivers of chatai.fcgi with clang.
#   tests/fuzz/build-fcgi-fuzz.sh [BUILD_DIR] [--run SECONDS]
# BUILD_DIR: a configured build tree (for autoconfig.h), default ./build. The drivers land
# in BUILD_DIR/tests/fuzz/. With --run, each runs SECONDS on its seed corpus (a copy in
# BUILD_DIR, the committed seeds stay as they are) and the script fails on any crash.
set -eu
# shellcheck source=tests/fuzz/fuzz-lib.sh
. "$(dirname "$0")/fuzz-lib.sh"
fuzz_args "$@"
cflags="$fuzz_cflags -I$build -I$src/common -I$src/fcgi -I$src/ai $(pkg-config --cflags libpq libcjson libcurl)"
libs="$(pkg-config --libs libpq libcjson libcrypto libxcrypt hiredis libcurl) -lfcgi -pthread -lm"
# The library sources are compiled once, then linked into each driver.
# fcgi/inlineai.c runs the AI worker's job code (ai/, as ai/libchataiai.a in the build)
sources=""
for f in "$src"/common/*.c "$src"/fcgi/*.c "$src"/ai/*.c; do
  case $f in */fcgi/main.c | */ai/main.c) continue ;; esac
  sources="$sources $f"
done
# shellcheck disable=SC2086
fuzz_objs fcgi $sources
for d in body query route; do
  # shellcheck disable=SC2086
  fuzz_link "fcgi_$d" $objs
done
if [ "$run" -gt 0 ]; then
  for d in body query route; do
    fuzz_run "fcgi_$d" fcgi.dict 70000 "$run" || exit 1
  done
fi
