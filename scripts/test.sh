#!/usr/bin/env bash
# scripts/test.sh: set up, then run every suite (pg_regress, isolation, TAP).
#
# Installs dependencies, builds and installs the extension, copies the tree
# to .run/test/src (the suites write their output next to the tests, and
# they run as the cluster owner), starts a throwaway cluster for pg_regress
# and isolation, and runs `make installcheck`, whose TAP tests start their
# own nodes.  Exits non-zero if anything fails, after printing the diffs.
#
# Arguments are passed to `make installcheck`, to run a subset while
# developing, e.g.:  bash scripts/test.sh REGRESS=basic ISOLATION= TAP_TESTS=
# SKIP_INSTALL=1 skips the dependency, build and install steps; TEST_DIR and
# TEST_PORT choose where the copy and cluster live.
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
	--exclude=./results --exclude=./output_iso --exclude=./tmp_check -cf - . | tar -C "$TEST_DIR/src" -xf -
if [ -z "$PGBG_SUDO" ]; then chown -R "$PGBG_OWNER" "$TEST_DIR/src"; fi

log "starting a throwaway cluster in $TEST_DIR/cluster (port $TEST_PORT)"
start_cluster "$TEST_DIR/cluster" "$TEST_PORT"
trap 'stop_cluster "$TEST_DIR/cluster"' EXIT

status=0
as_owner env PGHOST="$TEST_DIR/cluster" PGPORT="$TEST_PORT" PGUSER=postgres \
	make -C "$TEST_DIR/src" -s PG_CONFIG="$PG_CONFIG" installcheck ${PROVE_FLAGS:+PROVE_FLAGS="$PROVE_FLAGS"} "$@" || status=$?

if [ "$status" -ne 0 ]; then
	for f in "$TEST_DIR/src/regression.diffs" "$TEST_DIR/src/output_iso/regression.diffs"; do
		[ -s "$f" ] && { log "$f"; cat "$f"; }
	done
	for f in "$TEST_DIR"/src/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && grep -q "not ok" "$f" && { log "$f"; tail -n 60 "$f"; }
	done
	log "FAILED (exit $status)"
	exit "$status"
fi
log "all suites passed"
