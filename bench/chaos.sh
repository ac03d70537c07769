#!/usr/bin/env bash
# bench/chaos.sh: the large chaos run.
#
# Runs test/t/065_chaos.pl (a random mix of launches, nested launches,
# cancels, launcher timeouts, worker terminations, pool evictions and a
# restart, on a node with the shared job directory and the warm pool; then
# exact checks of every job's recorded state against its effect) with
# PGBG_CHAOS_JOBS jobs, 20000 by default (CI runs the same test with 2000),
# and prints the seed, the figures the test reports and the wall time.
# Exits non-zero if the test fails.
#
#   bash bench/chaos.sh                        # 20000 jobs, a new seed
#   PGBG_CHAOS_SEED=1234 bash bench/chaos.sh   # replay a seed the test printed
#   PGBG_CHAOS_JOBS=50000 bash bench/chaos.sh
#
# Like scripts/test.sh (which it calls), it builds and installs the
# extension first unless SKIP_INSTALL=1; TEST_DIR and TEST_PORT choose where
# the copy of the tree and the throwaway cluster live.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

export PGBG_CHAOS_JOBS=${PGBG_CHAOS_JOBS:-20000}
export TEST_DIR=${TEST_DIR:-$root/.run/chaos}
export TEST_PORT=${TEST_PORT:-55438}
# The TAP framework's per-command timeout (default 180 s) bounds each wait
# of the test, such as the one for the directory to settle.
export PG_TEST_TIMEOUT_DEFAULT=${PG_TEST_TIMEOUT_DEFAULT:-600}
if [ -n "${PGBG_CHAOS_SEED:-}" ]; then export PGBG_CHAOS_SEED; fi

start=$(date +%s.%N)
status=0
bash "$root/scripts/test.sh" REGRESS= ISOLATION= PROVE_TESTS=test/t/065_chaos.pl || status=$?
end=$(date +%s.%N)

log=$TEST_DIR/src/tmp_check/log/regress_log_065_chaos
if [ -f "$log" ]; then
	# The test's own figures: seed, phases, operation mix, client errors,
	# recorded states, and what failed.
	grep -E '# (chaos:|phase [12]|operation mix:|client errors:|recorded states:|job [0-9]+ |before the restart:|unexpected)' "$log" |
		sed -e 's/^\[[^]]*\]([^)]*) # /  /' || true
fi
printf 'chaos run of %s jobs: %s, wall time %.1f s (whole test, setup and checks included)\n' \
	"$PGBG_CHAOS_JOBS" "$([ "$status" -eq 0 ] && echo passed || echo FAILED)" \
	"$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
exit "$status"
