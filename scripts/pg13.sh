#!/usr/bin/env bash
# scripts/pg13.sh: compile the extension against PostgreSQL 13, the oldest
# version it supports (no suites run: CI runs them on 15 and 18).
#
# 1. Builds PostgreSQL 13 from Debian bullseye's source package into
#    PG13_CACHE (default /var/cache/pg_background/pg13, outside the
#    checkout), unless it is already built there (scripts/pgsrc.sh).
# 2. Copies the tree to TEST_DIR/tree (so the checkout's object files are
#    left alone) and runs `make` there against that build, with PG_CFLAGS
#    (CI passes -Werror).
#
# Environment:
#   PG13_CACHE, PG13_SRC, PG13_CONFIGURE, PG13_JOBS, PG13_REBUILD: the
#                   PGNN_ variables of scripts/pgsrc.sh (configure default
#                   --enable-debug --enable-cassert)
#   TEST_DIR        where the copy goes (default .run/pg13)
#   PG_CFLAGS       extra compiler flags for the extension
#
# Run as root or as a user with sudo (for apt-get and the cache directory).
set -euo pipefail
. "$(dirname "$0")/pgsrc.sh"

pgsrc_ensure_built 13 bullseye "--enable-debug --enable-cassert"

TEST_DIR=${TEST_DIR:-$PGBG_ROOT/.run/pg13}
tree=$TEST_DIR/tree
pgsrc_copy_tree "$tree"
log "compiling with $PGSRC_PREFIX/bin/pg_config ${PG_CFLAGS:+(PG_CFLAGS=$PG_CFLAGS)}"
make -C "$tree" -s PG_CONFIG="$PGSRC_PREFIX/bin/pg_config" ${PG_CFLAGS:+PG_CFLAGS="$PG_CFLAGS"}
log "compiled against $("$PGSRC_PREFIX/bin/pg_config" --version)"
