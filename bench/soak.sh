#!/usr/bin/env bash
# bench/soak.sh: the full-count soak.
#
# Runs test/t/040_soak.pl (mixed launches from 4 concurrent sessions, then
# the checks described at the top of that file) with PGBG_SOAK_COUNT
# operations, 10000 by default (CI runs the same test with 1000), and prints
# the wall time.  Exits non-zero if the soak fails.
#
#   bash bench/soak.sh                       # 10000 operations
#   PGBG_SOAK_COUNT=50000 bash bench/soak.sh
#   PGBG_SOAK_SEED=1234 bash bench/soak.sh   # replay a seed the test printed
#
# Like scripts/test.sh (which it calls), it builds and installs the
# extension first unless SKIP_INSTALL=1; TEST_DIR and TEST_PORT choose where
# the copy of the tree and the throwaway cluster live.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

export PGBG_SOAK_COUNT=${PGBG_SOAK_COUNT:-10000}
export TEST_DIR=${TEST_DIR:-$root/.run/soak}
export TEST_PORT=${TEST_PORT:-55437}
# The TAP framework's per-command timeout (default 180 s) bounds each wait
# of the test, such as the one for the last worker to exit.
export PG_TEST_TIMEOUT_DEFAULT=${PG_TEST_TIMEOUT_DEFAULT:-600}
if [ -n "${PGBG_SOAK_SEED:-}" ]; then export PGBG_SOAK_SEED; fi

start=$(date +%s.%N)
status=0
bash "$root/scripts/test.sh" REGRESS= ISOLATION= PROVE_TESTS=test/t/040_soak.pl || status=$?
end=$(date +%s.%N)

log=$TEST_DIR/src/tmp_check/log/regress_log_040_soak
if [ -f "$log" ]; then
	# The test's own figures: seed, operation mix, time of the concurrent
	# phase, SQLSTATEs seen, session memory.
	grep -E '# (soak:|operation mix:|SQLSTATEs reported:|outcome SQLSTATEs of the canceled|pg_background session memory:|segments mapped after)' "$log" |
		sed -e 's/^\[[^]]*\]([^)]*) # /  /' || true
fi
printf 'soak of %s operations: %s, wall time %.1f s (whole test, setup and checks included)\n' \
	"$PGBG_SOAK_COUNT" "$([ "$status" -eq 0 ] && echo passed || echo FAILED)" \
	"$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
exit "$status"
