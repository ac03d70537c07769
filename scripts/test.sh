#!/usr/bin/env bash
# scripts/test.sh: set up, then run every suite (pg_regress, isolation, TAP).
#
# Installs dependencies, builds and installs the extension, copies the tree
# to .run/test/src (the suites write their output next to the tests, and
# they run as the cluster owner), starts a throwaway cluster for pg_regress
# and isolation, and runs `make installcheck`, whose TAP tests start their
# own nodes.  Then runs pg_regress and isolation again against a second
# throwaway cluster with shared_preload_libraries = 'pg_background' and
# pg_background.pool_size = 4 (directory mode with the warm pool; output in
# output_preload/ and output_iso_preload/; the Makefile's PRELOAD_SKIP names
# the suites left out, and why).  Exits non-zero if anything
# fails, after printing the diffs.
#
# Arguments are passed to every `make installcheck` run, to run a subset
# while developing, e.g.:  bash scripts/test.sh REGRESS=basic ISOLATION= TAP_TESTS=
# (REGRESS= ISOLATION= leaves nothing for the preload pass, which is then
# skipped.)  SKIP_INSTALL=1 skips the dependency, build and install steps;
# SKIP_PRELOAD=1 skips the preload pass; TEST_DIR and TEST_PORT choose where
# the copy and clusters live (the preload cluster takes TEST_PORT once the
# first one has stopped).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TEST_DIR=${TEST_DIR:-$PGBG_ROOT/.run/test}
TEST_PORT=${TEST_PORT:-55433}

if [ -z "${SKIP_INSTALL:-}" ]; then
	install_deps
	build_install
fi

log "copying the tree to $TEST_DIR/src"
rm -rf "$TEST_DIR/src"
mkdir -p "$TEST_DIR"
if [ -z "$PGBG_SUDO" ]; then chown "$PGBG_OWNER" "$TEST_DIR"; fi
owned_dir "$TEST_DIR/src"
tar -C "$PGBG_ROOT" --exclude=./.run --exclude=./.git --exclude='*.o' --exclude='*.so' \
	--exclude=./results --exclude=./output_iso --exclude=./tmp_check \
	--exclude=./output_preload --exclude=./output_iso_preload -cf - . | tar -C "$TEST_DIR/src" -xf -
if [ -z "$PGBG_SUDO" ]; then chown -R "$PGBG_OWNER" "$TEST_DIR/src"; fi

log "starting a throwaway cluster in $TEST_DIR/cluster (port $TEST_PORT)"
start_cluster "$TEST_DIR/cluster" "$TEST_PORT"
trap 'stop_cluster "$TEST_DIR/cluster"' EXIT

status=0
as_owner env PGHOST="$TEST_DIR/cluster" PGPORT="$TEST_PORT" PGUSER=postgres \
	make -C "$TEST_DIR/src" -s PG_CONFIG="$PG_CONFIG" installcheck ${PROVE_FLAGS:+PROVE_FLAGS="$PROVE_FLAGS"} "$@" || status=$?
stop_cluster "$TEST_DIR/cluster"

# The preload pass: the SQL suites again, in directory mode with the pool on
# (but those of the Makefile's PRELOAD_SKIP), unless the arguments left no
# suite for it.
preload_regress=$(make -s -C "$TEST_DIR/src" PG_CONFIG="$PG_CONFIG" "$@" print-preload-regress)
preload_isolation=$(make -s -C "$TEST_DIR/src" PG_CONFIG="$PG_CONFIG" "$@" print-preload-isolation)
if [ -z "${SKIP_PRELOAD:-}" ] && [ -n "$preload_regress$preload_isolation" ]; then
	preload_port=$TEST_PORT
	log "starting a preloaded cluster (pool_size = 4) in $TEST_DIR/cluster-preload (port $preload_port)"
	start_cluster "$TEST_DIR/cluster-preload" "$preload_port" "shared_preload_libraries = 'pg_background'
pg_background.pool_size = 4"
	trap 'stop_cluster "$TEST_DIR/cluster"; stop_cluster "$TEST_DIR/cluster-preload"' EXIT
	# pg_regress and isolation in two runs, so that a failure of the first
	# does not hide the second.
	if [ -n "$preload_regress" ]; then
		log "pg_regress against the preloaded cluster: $preload_regress"
		as_owner env PGHOST="$TEST_DIR/cluster-preload" PGPORT="$preload_port" PGUSER=postgres \
			make -C "$TEST_DIR/src" -s PG_CONFIG="$PG_CONFIG" installcheck "$@" TAP_TESTS= ISOLATION= \
			REGRESS="$preload_regress" REGRESS_OPTS="--inputdir=test --outputdir=output_preload" || status=$?
	fi
	if [ -n "$preload_isolation" ]; then
		log "isolation against the preloaded cluster: $preload_isolation"
		as_owner env PGHOST="$TEST_DIR/cluster-preload" PGPORT="$preload_port" PGUSER=postgres \
			make -C "$TEST_DIR/src" -s PG_CONFIG="$PG_CONFIG" installcheck "$@" TAP_TESTS= REGRESS= \
			ISOLATION="$preload_isolation" ISOLATION_OPTS="--inputdir=test --outputdir=output_iso_preload" || status=$?
	fi
	stop_cluster "$TEST_DIR/cluster-preload"
fi

if [ "$status" -ne 0 ]; then
	for f in "$TEST_DIR/src/regression.diffs" "$TEST_DIR/src/output_iso/regression.diffs" \
		"$TEST_DIR/src/output_preload/regression.diffs" "$TEST_DIR/src/output_iso_preload/regression.diffs"; do
		[ -s "$f" ] && { log "$f"; cat "$f"; }
	done
	for f in "$TEST_DIR"/src/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && grep -q "not ok" "$f" && { log "$f"; tail -n 60 "$f"; }
	done
	log "FAILED (exit $status)"
	exit "$status"
fi
log "all suites passed"
