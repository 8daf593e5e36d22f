# SPDX-License-Identifier: MIT
# scripts/lib.sh: what scripts/test and scripts/demo share (sourced, not run).
#
# chatai_install_missing   apt-get installs the Debian packages that are missing (root)
# chatai_autoreconf        autoreconf -fi when configure is missing or older than its inputs
# chatai_configure DIR ... configure in DIR (out of tree) when not configured yet
# chatai_make DIR TARGETS  make -j$(nproc) in DIR

CHATAI_REPO=${CHATAI_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CHATAI_JOBS=${CHATAI_JOBS:-$(nproc 2>/dev/null || echo 2)}

# Build dependencies (configure.ac names each one when it is missing).
CHATAI_PKGS_BUILD="build-essential autoconf automake pkg-config make
  libpq-dev libcjson-dev libssl-dev libcrypt-dev libhiredis-dev libwslay-dev
  libcurl4-openssl-dev libfcgi-dev libev-dev libhttp-parser-dev"
# Running: database, web servers, optional Redis.
CHATAI_PKGS_RUN="postgresql lighttpd apache2 libapache2-mod-fcgid redis-server"
# Tests: unit (check), sanitizers and fuzzing (clang), integration and browser (python3,
# chromium), memory checks (valgrind), benchmarks (wrk), the man pages (groff, man-db) and
# the log rotation (logrotate) of the install test, the shared host under suexec
# (apache2-suexec-pristine), the test that clones the checkout (git) and the real SMTP
# server of the mail tests (python3-aiosmtpd).
CHATAI_PKGS_TEST="check clang libclang-rt-14-dev valgrind wrk chromium chromium-driver
  python3-pytest python3-requests python3-websockets python3-psycopg2 python3-wsproto
  python3-selenium groff man-db logrotate apache2-suexec-pristine git python3-aiosmtpd"

chatai_say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
chatai_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# 0 when every named Debian package is installed.
chatai_missing_packages() {
	local p missing=""
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing="$missing $p"
		fi
	done
	echo "$missing"
}

# Install what is missing (one apt-get update, only when needed), keeping the daemons the
# packages bring from starting on their default ports (we run private instances).
chatai_install_missing() {
	local want="$*" missing
	# Node.js runs the JavaScript unit tests; any node on PATH will do.
	if ! command -v node >/dev/null 2>&1; then
		want="$want nodejs"
	fi
	# npm fetches the `ws` package the guide-snippet test runs the guide's code with.
	if ! command -v npm >/dev/null 2>&1; then
		want="$want npm"
	fi
	missing=$(chatai_missing_packages $want)
	if [ -z "$missing" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		chatai_die "missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)"
	fi
	chatai_say "installing:$missing"
	local policy=/usr/sbin/policy-rc.d made_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	local rc=0
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
	if [ "$made_policy" = 1 ]; then
		rm -f "$policy"
	fi
	[ "$rc" -eq 0 ] || chatai_die "apt-get install failed ($rc) for:$missing"
}

chatai_autoreconf() {
	cd "$CHATAI_REPO" || exit 1
	local newer=""
	if [ -x configure ] && [ -f Makefile.in ]; then
		newer=$(find configure.ac Makefile.am deploy.mk ./*/local.mk -newer configure 2>/dev/null | head -1)
		newer="$newer$(find configure.ac Makefile.am deploy.mk ./*/local.mk -newer Makefile.in 2>/dev/null | head -1)"
		[ -z "$newer" ] && return 0
	fi
	chatai_say "autoreconf -fi"
	autoreconf -fi >/dev/null
}

# chatai_configure DIR [configure options]: configure out of tree unless DIR already
# holds a configuration made with the same options.
chatai_configure() {
	local dir=$1
	shift
	mkdir -p "$dir"
	local opts="$*"
	if [ -f "$dir/Makefile" ] && [ -f "$dir/.chatai-configure-opts" ] &&
		[ "$(cat "$dir/.chatai-configure-opts")" = "$opts" ] &&
		[ "$dir/config.status" -nt "$CHATAI_REPO/configure" ]; then
		return 0
	fi
	chatai_say "configure $opts (in $dir)"
	(cd "$dir" && "$CHATAI_REPO/configure" -q "$@") || return 1
	echo "$opts" >"$dir/.chatai-configure-opts"
}

chatai_make() {
	local dir=$1
	shift
	make -C "$dir" -s -j"$CHATAI_JOBS" "$@"
}
