#!/bin/sh
# SPDX-License-Identifier: MIT
# Run bench/notifier/run.py in a private network namespace (root) whose loopback steers
# receive processing to CPU 1 (RPS), the notifier pinned to CPU 0 and the loadgen to
# CPU 1: on plain loopback the clients' TCP receive path runs inside the notifier's
# send(), which a NIC would not do. The host's own loopback is not touched.
#
#   CHATAI_BUILD_DIR=/tmp/build-rel bench/notifier/rps.sh ws-10k
#
# Needs two CPUs or more. The clients' side then shares CPU 1 with the loadgen, so its
# latency figures are the loadgen's; read the notifier's own histogram and CPU.
set -eu
if [ "${CHATAI_RPS_INNER:-}" != 1 ]; then
	CHATAI_RPS_INNER=1 exec unshare --net --mount --propagation private "$0" "$@"
fi
mount -t sysfs none /sys
ip link set lo up
echo "${CHATAI_RPS_MASK:-2}" > /sys/class/net/lo/queues/rx-0/rps_cpus
CHATAI_BENCH_PIN="${CHATAI_BENCH_PIN:-0:1}" exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
