#!/usr/bin/env bash
# scripts/pg18.sh: run every suite against PostgreSQL 18 built from source.
#
# 1. Builds PostgreSQL 18 from Debian's sid source package into PG18_CACHE
#    (default /var/cache/pg_background/pg18, outside the checkout), unless
#    it is already built there: configure --enable-tap-tests, make, make
#    install, plus what PGXS needs for installcheck (pg_isolation_regress
#    and the TAP perl modules).  Build logs go to PG18_CACHE/logs.
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
# user with sudo.  Why the orig tarball and not the patched tree: Debian's
# 50-per-version-dirs.patch hard-codes pkglibdir to /usr/lib/postgresql/18/lib
# whenever libdir does not contain "postgres", so a build with Debian's
# patches would install its libraries outside the cache.
set -euo pipefail
umask 022

PGBG_ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG18_CACHE=${PG18_CACHE:-/var/cache/pg_background/pg18}
PG18_CONFIGURE=${PG18_CONFIGURE:---enable-tap-tests --enable-debug --enable-cassert}
PG18_JOBS=${PG18_JOBS:-3}
PREFIX=$PG18_CACHE/install
STAMP=$PREFIX/.pgbg-built
LOGDIR=$PG18_CACHE/logs

# log, apt_install_missing and PGBG_SUDO (PG_CONFIG there is 15's; the
# suites below get 18's explicitly).
. "$PGBG_ROOT/scripts/lib.sh"
SUDO=$PGBG_SUDO

# run LOGNAME CMD...: run CMD with its output in LOGDIR/LOGNAME.log, and
# show the end of that log if it fails.
run() {
	local name=$1
	shift
	if ! "$@" >"$LOGDIR/$name.log" 2>&1; then
		log "failed: $* (end of $LOGDIR/$name.log follows)"
		tail -n 40 "$LOGDIR/$name.log" >&2
		exit 1
	fi
}

build_deps() {
	apt_install_missing gcc make perl bison flex pkg-config libreadline-dev \
		zlib1g-dev libicu-dev libipc-run-perl
}

# fetch_source: download Debian sid's postgresql-18 source package into
# PG18_CACHE/src and unpack its orig tarball there.
fetch_source() {
	local dir=$PG18_CACHE/src list=/etc/apt/sources.list.d/pgbg-sid-src.sources
	# shellcheck disable=SC2016 # $(RELEASE) is apt's, not the shell's
	if ! apt-get indextargets --format '$(RELEASE)' 'Created-By: Sources' 2>/dev/null | grep -qx 'sid\|unstable'; then
		log "adding a deb-src entry for sid: $list"
		$SUDO tee "$list" >/dev/null <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
	fi
	log "apt-get update"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	rm -rf "$dir"
	mkdir -p "$dir"
	log "apt-get source --download-only postgresql-18 (into $dir)"
	(cd "$dir" && apt-get source --download-only -qq postgresql-18) >&2
	local orig='' f
	for f in "$dir"/postgresql-18_*.orig.tar.*; do
		[ -f "$f" ] && orig=$f
	done
	if [ -z "$orig" ]; then
		log "apt-get source left no orig tarball in $dir"
		exit 1
	fi
	log "unpacking $(basename "$orig")"
	tar -C "$dir" -xf "$orig"
}

# find_source: set SRC to the source tree to build, fetching one if need be.
find_source() {
	local d
	SRC=${PG18_SRC:-}
	[ -n "$SRC" ] && return
	for d in "$PG18_CACHE"/src/postgresql-18* "$PGBG_ROOT"/../pg18src/postgresql-18*; do
		if [ -x "$d/configure" ]; then
			SRC=$(cd "$d" && pwd)
			return
		fi
	done
	fetch_source
	for d in "$PG18_CACHE"/src/postgresql-18*; do
		if [ -x "$d/configure" ]; then
			SRC=$d
			return
		fi
	done
	log "no postgresql-18 source tree in $PG18_CACHE/src after fetching"
	exit 1
}

build_pg18() {
	local build=$PG18_CACHE/build start=$SECONDS
	if [ -z "$SUDO" ]; then
		mkdir -p "$PG18_CACHE"
	elif ! mkdir -p "$PG18_CACHE" 2>/dev/null || [ ! -w "$PG18_CACHE" ]; then
		$SUDO mkdir -p "$PG18_CACHE"
		$SUDO chown "$(id -un)" "$PG18_CACHE"
	fi
	mkdir -p "$LOGDIR"
	build_deps
	find_source
	if [ ! -x "$SRC/configure" ]; then
		log "$SRC is not a PostgreSQL source tree"
		exit 1
	fi
	if grep -q '^override pkglibdir := /usr/lib/postgresql' "$SRC/src/Makefile.global.in"; then
		log "$SRC has Debian's patches applied (pkglibdir would be /usr/lib/postgresql/18/lib): use the orig tarball"
		exit 1
	fi
	if [ -f "$SRC/config.status" ]; then
		log "$SRC is configured in place; a VPATH build needs a clean tree (make distclean there)"
		exit 1
	fi
	log "building PostgreSQL from $SRC into $PREFIX (logs in $LOGDIR)"
	rm -rf "$build" "$PREFIX"
	mkdir -p "$build"
	# shellcheck disable=SC2086 # PG18_CONFIGURE is a list of options
	(cd "$build" && run configure "$SRC/configure" --prefix="$PREFIX" $PG18_CONFIGURE)
	run make make -C "$build" -j"$PG18_JOBS"
	run install make -C "$build" install
	run install-isolation make -C "$build/src/test/isolation" -j"$PG18_JOBS" install
	run install-perl make -C "$build/src/test/perl" install
	printf '%s\n' "$PG18_CONFIGURE" >"$STAMP"
	# The cluster and the tests run as another user: let it read everything.
	chmod -R a+rX "$PG18_CACHE"
	log "built $("$PREFIX/bin/pg_config" --version) in $((SECONDS - start)) s"
}

if [ -n "${PG18_REBUILD:-}" ] || [ ! -x "$PREFIX/bin/pg_config" ] || [ ! -f "$STAMP" ] ||
	[ "$(cat "$STAMP")" != "$PG18_CONFIGURE" ]; then
	build_pg18
else
	log "using $("$PREFIX/bin/pg_config" --version) from $PREFIX"
fi
if [ -z "$SUDO" ]; then
	# As root, lib.sh runs the cluster as "postgres" (postgresql-common
	# makes it when PostgreSQL 15 is installed; make it if it is not).
	if ! id postgres >/dev/null 2>&1; then
		log "adding the postgres user"
		useradd --system --user-group --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
	fi
	if ! runuser -u postgres -- test -x "$PREFIX/bin/postgres"; then
		log "the postgres user cannot run $PREFIX/bin/postgres: make the directories above $PG18_CACHE world-searchable"
		exit 1
	fi
fi
[ -n "${PG18_BUILD_ONLY:-}" ] && exit 0

TEST_DIR=${TEST_DIR:-$PGBG_ROOT/.run/pg18}
TEST_PORT=${TEST_PORT:-55418}
tree=$TEST_DIR/tree
log "copying the tree to $tree"
rm -rf "$tree"
mkdir -p "$tree"
tar -C "$PGBG_ROOT" --exclude=./.run --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./results --exclude=./output_iso --exclude=./tmp_check -cf - . | tar -C "$tree" -xf -

export PG_MAJOR=18 PG_CONFIG=$PREFIX/bin/pg_config PG_BINDIR=$PREFIX/bin TEST_DIR TEST_PORT
exec bash "$tree/scripts/test.sh" "$@"
