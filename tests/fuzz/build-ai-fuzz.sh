#!/bin/sh
# SPDX-License-Identifier: MIT
# Build (and optionally run) the libFuzzer driver of the AI worker's LLM codecs with clang.
#   tests/fuzz/build-ai-fuzz.sh [BUILD_DIR] [--run SECONDS]
# BUILD_DIR: a configured build tree (for autoconfig.h), default ./build. The driver lands
# in BUILD_DIR/tests/fuzz/. With --run, it runs SECONDS on its seed corpus (a copy in
# BUILD_DIR, the committed seeds stay as they are) and the script fails on any crash.
set -eu
# shellcheck source=tests/fuzz/fuzz-lib.sh
. "$(dirname "$0")/fuzz-lib.sh"
fuzz_args "$@"
cflags="$fuzz_cflags -I$build -I$src/common -I$src/ai $(pkg-config --cflags libpq libcjson libcurl)"
libs="$(pkg-config --libs libpq libcjson libcrypto libxcrypt hiredis libcurl) -pthread -lm"
# The library sources are compiled once, then linked into the driver.
fuzz_objs ai "$src"/common/*.c "$src"/ai/llm.c
# shellcheck disable=SC2086
fuzz_link llm $objs
if [ "$run" -gt 0 ]; then
  fuzz_run llm llm.dict 70000 "$run" || exit 1
fi
