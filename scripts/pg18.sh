#!/usr/bin/env bash
# scripts/pg18.sh: run every suite against PostgreSQL 18 built from source.
#
# 1. Builds PostgreSQL 18 from Debian's sid source package into PG18_CACHE
#    (default /var/cache/pg_background/pg18, outside the checkout), unless
#    it is already built there: configure --enable-tap-tests, make, make
#    install, plus what PGXS needs for installcheck (pg_isolation_regress
#    and the TAP perl modules).  Build logs go to PG18_CACHE/logs.  The
#    steps are scripts/pgsrc.sh's, shared with scripts/pg13.sh.
# 2. Copies the tree to TEST_DIR/tree (so the checkout's object files are
#    left alone) and runs that copy's scripts/test.sh with PG_CONFIG and
#    PG_BINDIR pointing at the build: build, install, pg_regress, isolation
#    and TAP, as for 15.  PG_CFLAGS passes through (CI adds -Werror).
#
# Arguments go to `make installcheck`, as for scripts/test.sh.
#
# Environment:
#   PG18_CACHE      where the build lives (default /var/cache/pg_background/pg18)
#   PG18_SRC        an unpacked, unpatched postgresql-18 source tree to use;
#                   default: one already in PG18_CACHE/src, else one in a
#                   pg18src/ directory beside the checkout, else fetched with
#                   `apt-get source --download-only postgresql-18` from sid
#   PG18_CONFIGURE  configure options (default --enable-tap-tests
#                   --enable-debug --enable-cassert); a change rebuilds
#   PG18_JOBS       make -j (default 3)
#   PG18_REBUILD=1  rebuild even if the cache holds a build
#   PG18_BUILD_ONLY=1  stop after step 1
#   TEST_DIR, TEST_PORT, SKIP_INSTALL, PROVE_FLAGS: as for scripts/test.sh
#                   (default TEST_DIR .run/pg18, TEST_PORT 55418)
#
# Run as root (the cluster and the tests then run as "postgres"), or as a
# user with sudo.  scripts/pgsrc.sh says why the build is of the orig
# tarball and not of Debian's patched tree.
set -euo pipefail
# pgsrc.sh brings lib.sh's log and PGBG_SUDO (and PG_CONFIG, 15's: the
# suites below get 18's explicitly).
. "$(dirname "$0")/pgsrc.sh"

pgsrc_ensure_built 18 sid "--enable-tap-tests --enable-debug --enable-cassert" \
	"libicu-dev libipc-run-perl" "src/test/isolation src/test/perl contrib/dblink"
PREFIX=$PGSRC_PREFIX

if [ -z "$PGBG_SUDO" ]; then
	# As root, lib.sh runs the cluster as "postgres" (postgresql-common
	# makes it when PostgreSQL 15 is installed; make it if it is not).
	if ! id postgres >/dev/null 2>&1; then
		log "adding the postgres user"
		useradd --system --user-group --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
	fi
	if ! runuser -u postgres -- test -x "$PREFIX/bin/postgres"; then
		log "the postgres user cannot run $PREFIX/bin/postgres: make the directories above $PGSRC_CACHE world-searchable"
		exit 1
	fi
fi
[ -n "${PG18_BUILD_ONLY:-}" ] && exit 0

TEST_DIR=${TEST_DIR:-$PGBG_ROOT/.run/pg18}
TEST_PORT=${TEST_PORT:-55418}
tree=$TEST_DIR/tree
pgsrc_copy_tree "$tree"

export PG_MAJOR=18 PG_CONFIG=$PREFIX/bin/pg_config PG_BINDIR=$PREFIX/bin TEST_DIR TEST_PORT
exec bash "$tree/scripts/test.sh" "$@"
