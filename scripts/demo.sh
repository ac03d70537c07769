#!/usr/bin/env bash
# scripts/demo.sh: set up and run the demo on a throwaway cluster.
#
#   bash scripts/demo.sh        install dependencies, build, install, start a
#                               cluster in .run/demo, run examples/demo.sql
#   bash scripts/demo.sh stop   stop that cluster
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEMO_DIR=$PGBG_ROOT/.run/demo
DEMO_PORT=${DEMO_PORT:-55432}

if [ "${1:-}" = stop ]; then
	stop_cluster "$DEMO_DIR"
	log "demo cluster stopped"
	exit 0
fi

install_deps
build_install
log "starting a throwaway cluster in $DEMO_DIR (port $DEMO_PORT)"
start_cluster "$DEMO_DIR" "$DEMO_PORT" "shared_preload_libraries = 'pg_background'"
as_owner "$PG_BINDIR/createdb" -h "$DEMO_DIR" -p "$DEMO_PORT" -U postgres demo
as_owner "$PG_BINDIR/psql" -h "$DEMO_DIR" -p "$DEMO_PORT" -U postgres -d demo \
	-X -v ON_ERROR_STOP=1 -f "$PGBG_ROOT/examples/demo.sql"

cat <<MSG

The demo cluster is still running.
  connect: psql -h $DEMO_DIR -p $DEMO_PORT -U postgres demo
  stop:    bash scripts/demo.sh stop
MSG
