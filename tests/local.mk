# SPDX-License-Identifier: MIT
# tests/: unit tests of common/ and ctl/ (Check), the Valgrind run of every unit test,
# and what the other test suites need in the tarball.

if HAVE_CHECK
check_PROGRAMS += tests/unit/test_common tests/unit/test_kbfile
TESTS += tests/unit/test_common tests/unit/test_kbfile
tests_unit_test_common_SOURCES = tests/unit/test_common.c
tests_unit_test_common_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_common_LDADD = $(CHATAI_COMMON_LIBS) $(CHECK_LIBS)
tests_unit_test_kbfile_SOURCES = tests/unit/test_kbfile.c ctl/kbfile.c ctl/kbfile.h
tests_unit_test_kbfile_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/ctl $(CHATAI_COMMON_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_kbfile_LDADD = $(CHATAI_COMMON_LIBS) $(CHECK_LIBS)
endif

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

EXTRA_DIST += tests/unit/check_run.h tests/integration tests/browser tests/js tests/fuzz
