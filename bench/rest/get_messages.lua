-- SPDX-License-Identifier: MIT
-- wrk script: an operator reads a dialog's history ($BENCH_TOKEN, path on the command line).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
