# SPDX-License-Identifier: MIT
# shellcheck shell=sh disable=SC2034,SC2154
# tests/fuzz/fuzz-lib.sh: what the fuzz scripts share (sourced by them, not run; its name
# keeps it out of run-short.sh's build-*.sh loop). A driver NAME is tests/fuzz/fuzz_NAME.c,
# built as BUILD/tests/fuzz/fuzz_NAME, seeded from tests/fuzz/corpus/NAME.
#   fuzz_setup BUILD_DIR     sets src, build (absolute) and out (BUILD/tests/fuzz, created);
#                            exits without a configured build tree or without clang
#   fuzz_args [BUILD_DIR] [--run SECONDS]
#                            a build-*.sh script's arguments: fuzz_setup BUILD_DIR (default
#                            ./build), run set to SECONDS with --run (default 30), else 0
#   fuzz_objs NAME FILE...   compiles each FILE with $cflags into out/NAME-objs; sets objs
#   fuzz_link NAME FILE...   links driver NAME with FILE... and $libs
#   fuzz_run NAME DICT MAX_LEN SECONDS
#                            runs driver NAME for SECONDS on a copy of its seeds (the
#                            committed ones stay as they are), the reproducer of a crash left
#                            as out/crash-NAME-*; prints its last status line, or the end of
#                            its log and returns 1 on any crash, leak or sanitizer report
src=$(cd "$(dirname "$0")/../.." && pwd)
# The sanitizers every driver is built with; each script adds its include folders.
fuzz_cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

fuzz_setup() {
  build=$(cd "$1" && pwd)
  [ -f "$build/autoconfig.h" ] || { echo "no autoconfig.h in $build: run configure there first" >&2; exit 1; }
  command -v clang >/dev/null || { echo "clang not found: apt-get install clang" >&2; exit 1; }
  out=$build/tests/fuzz
  mkdir -p "$out"
}

fuzz_args() {
  fuzz_setup "${1:-$src/build}"
  run=0
  if [ "${2:-}" = "--run" ]; then run=${3:-30}; fi
}

fuzz_objs() {
  objdir=$out/$1-objs
  shift
  mkdir -p "$objdir"
  objs=""
  for f in "$@"; do
    o=$objdir/$(basename "$(dirname "$f")")-$(basename "$f" .c).o
    # shellcheck disable=SC2086
    clang $cflags -c -o "$o" "$f" || return 1
    objs="$objs $o"
  done
}

fuzz_link() {
  name=$1
  shift
  echo "building fuzz_$name"
  # shellcheck disable=SC2086
  clang $cflags -o "$out/fuzz_$name" "$src/tests/fuzz/fuzz_$name.c" "$@" $libs
}

fuzz_run() {
  corpus=$out/corpus_$1
  mkdir -p "$corpus"
  cp "$src/tests/fuzz/corpus/$1"/* "$corpus"/ 2>/dev/null || true
  echo "running fuzz_$1 for ${4}s"
  if "$out/fuzz_$1" -max_total_time="$4" -max_len="$3" -dict="$src/tests/fuzz/$2" \
      -artifact_prefix="$out/crash-$1-" "$corpus" >"$out/fuzz_$1.log" 2>&1; then
    grep -E "^#[0-9]+.*(DONE|pulse)" "$out/fuzz_$1.log" | tail -1
  else
    tail -50 "$out/fuzz_$1.log"
    return 1
  fi
}
