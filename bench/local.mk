# SPDX-License-Identifier: MIT
# bench/: benchmarks that print figures, never part of pass/fail. Their C programs are
# EXTRA_PROGRAMS: a plain `make` does not build them, `make bench` does (or name one,
# e.g. `make bench/notifier/loadgen`). The Python drivers find them in the build tree.
EXTRA_PROGRAMS += bench/notifier/loadgen bench/notifier/wslay_ctx_size
# The streams' load generator (docs/streams.md, "Benchmarks").
bench_notifier_loadgen_SOURCES = bench/notifier/loadgen.c
bench_notifier_loadgen_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(SSL_CFLAGS)
bench_notifier_loadgen_LDADD = $(EV_LIBS) $(PQ_LIBS) $(SSL_LIBS) $(PTHREAD_LIBS) -lm
# The memory of one wslay context (docs/streams.md).
bench_notifier_wslay_ctx_size_SOURCES = bench/notifier/wslay_ctx_size.c
bench_notifier_wslay_ctx_size_LDADD = $(WSLAY_LIBS)

bench: bench/notifier/loadgen$(EXEEXT) bench/notifier/wslay_ctx_size$(EXEEXT)
.PHONY: bench
CLEANFILES += bench/notifier/loadgen$(EXEEXT) bench/notifier/wslay_ctx_size$(EXEEXT)

# The drivers. bench/rest/*.c are compiled by compare.py into a temporary folder.
EXTRA_DIST += bench/notifier/run.py bench/notifier/rps.sh \
	bench/rest/bench_rest.py bench/rest/compare.py bench/rest/pollers.c bench/rest/longpolls.c \
	bench/rest/get_messages.lua bench/rest/login.lua bench/rest/posts.lua \
	bench/scaleout/bench.py bench/ai/bench_ai.py
