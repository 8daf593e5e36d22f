# SPDX-License-Identifier: MIT
# tests/: what runs every suite's programs, not the tests themselves. The rule that builds
# a unit test lives in the local.mk of the part it tests (tests/unit/test_fcgi in
# fcgi/local.mk, test_common in common/local.mk, ...); this file holds the Valgrind run of
# every unit test, `make fuzz`, and what the other suites need in the tarball.

# `make check-programs check-TESTS`: the unit tests without building the programs (what
# scripts/test does in the sanitizer build, where only the tests run).
check-programs: $(check_PROGRAMS)
.PHONY: check-programs

# `make valgrind-check`: every compiled unit test under memcheck; any error or definite
# leak fails (scripts/test runs it on the plain build; ASan builds cannot run under it).
VALGRIND = valgrind
VALGRIND_FLAGS = -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--track-origins=yes --trace-children=no
valgrind-check: $(check_PROGRAMS)
	@fail=0; for t in $(TESTS); do \
	  case " $(check_PROGRAMS) " in *" $$t "*) ;; *) continue ;; esac; \
	  if CK_DEFAULT_TIMEOUT=120 $(VALGRIND) $(VALGRIND_FLAGS) ./$$t >$$t.valgrind.log 2>&1; then \
	    echo "PASS: $$t (valgrind)"; \
	  else \
	    echo "FAIL: $$t (valgrind), log $$t.valgrind.log:"; cat $$t.valgrind.log; fail=1; \
	  fi; \
	done; exit $$fail
.PHONY: valgrind-check
CLEANFILES += tests/unit/*.valgrind.log

# `make fuzz`: build every libFuzzer driver of tests/fuzz with clang and run each briefly
# (FUZZ_SECONDS, default 12); what scripts/test's fuzz suite runs. Never part of `make`.
fuzz:
	CHATAI_BUILD_DIR=$(abs_top_builddir) $(SHELL) $(srcdir)/tests/fuzz/run-short.sh
.PHONY: fuzz

EXTRA_DIST += tests/unit/check_run.h tests/integration tests/browser tests/js tests/fuzz
