# shellcheck shell=bash
# scripts/pgsrc.sh: build one PostgreSQL major version from Debian's source
# package into a cache outside the checkout, and copy the tree to build
# against it; the shared steps of scripts/pg13.sh and scripts/pg18.sh.
#
# Sourced, not run; sources scripts/lib.sh (log, apt_install_missing,
# PGBG_ROOT, PGBG_SUDO).  The caller runs
#   pgsrc_ensure_built MAJOR SUITE CONFIGURE [DEPS [INSTALL_DIRS]]
# which builds PostgreSQL MAJOR from Debian SUITE's source package with
# CONFIGURE (unless PGNN_CONFIGURE is set), after installing the Debian
# packages DEPS beyond the usual ones, and installs the build
# subdirectories INSTALL_DIRS too (src/test/isolation for
# pg_isolation_regress, say), unless the cache already holds that build.
# It sets PGSRC_CACHE and PGSRC_PREFIX, where the server is.  Then
# pgsrc_copy_tree DIR copies the checkout to build in.
#
# The user's environment, NN being MAJOR:
#   PGNN_CACHE      where the build lives (default /var/cache/pg_background/pgNN;
#                   logs in its logs/)
#   PGNN_SRC        an unpacked, unpatched postgresql-NN source tree to use;
#                   default: one already in PGNN_CACHE/src, else one in a
#                   pgNNsrc/ directory beside the checkout, else fetched with
#                   `apt-get source --download-only postgresql-NN` from
#                   SUITE (adding a deb-src entry for it if need be)
#   PGNN_CONFIGURE  configure options; a change rebuilds
#   PGNN_JOBS       make -j (default 3)
#   PGNN_REBUILD=1  rebuild even if the cache holds a build
#
# Why the orig tarball and not the patched tree: Debian's
# 50-per-version-dirs.patch hard-codes pkglibdir to
# /usr/lib/postgresql/NN/lib whenever libdir does not contain "postgres",
# so a build with Debian's patches would install its libraries outside the
# cache.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The build and the tree copies are read by other users (the cluster owner).
umask 022

# pgsrc_run LOGNAME CMD...: run CMD with its output in PGSRC_LOGDIR/LOGNAME.log,
# and show the end of that log if it fails.
pgsrc_run() {
	local name=$1
	shift
	if ! "$@" >"$PGSRC_LOGDIR/$name.log" 2>&1; then
		log "failed: $* (end of $PGSRC_LOGDIR/$name.log follows)"
		tail -n 40 "$PGSRC_LOGDIR/$name.log" >&2
		exit 1
	fi
}

# pgsrc_fetch: download PGSRC_SUITE's postgresql-NN source package into
# PGSRC_CACHE/src and unpack its orig tarball there, adding a deb-src entry
# for that suite first if apt has none.
pgsrc_fetch() {
	local dir=$PGSRC_CACHE/src list=/etc/apt/sources.list.d/pgbg-$PGSRC_SUITE-src.sources
	local pkg=postgresql-$PGSRC_MAJOR orig='' f
	# shellcheck disable=SC2016 # $(RELEASE) is apt's, not the shell's
	if ! apt-get indextargets --format '$(RELEASE)' 'Created-By: Sources' 2>/dev/null | grep -qx "$PGSRC_SUITE"; then
		log "adding a deb-src entry for $PGSRC_SUITE: $list"
		$PGBG_SUDO tee "$list" >/dev/null <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $PGSRC_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
	fi
	log "apt-get update"
	$PGBG_SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	rm -rf "$dir"
	mkdir -p "$dir"
	log "apt-get source --download-only $pkg (into $dir)"
	(cd "$dir" && apt-get source --download-only -qq "$pkg") >&2
	for f in "$dir/${pkg}_"*.orig.tar.*; do
		[ -f "$f" ] && orig=$f
	done
	if [ -z "$orig" ]; then
		log "apt-get source left no orig tarball in $dir"
		exit 1
	fi
	log "unpacking $(basename "$orig")"
	tar -C "$dir" -xf "$orig"
}

# pgsrc_find_source: set SRC to the source tree to build, fetching one if
# need be.
pgsrc_find_source() {
	local d pkg=postgresql-$PGSRC_MAJOR
	SRC=$PGSRC_SRC
	[ -n "$SRC" ] && return
	for d in "$PGSRC_CACHE/src/$pkg"* "$PGBG_ROOT/../pg${PGSRC_MAJOR}src/$pkg"*; do
		if [ -x "$d/configure" ]; then
			SRC=$(cd "$d" && pwd)
			return
		fi
	done
	pgsrc_fetch
	for d in "$PGSRC_CACHE/src/$pkg"*; do
		if [ -x "$d/configure" ]; then
			SRC=$d
			return
		fi
	done
	log "no $pkg source tree in $PGSRC_CACHE/src after fetching"
	exit 1
}

# pgsrc_build: configure, make and install PostgreSQL from SRC into
# PGSRC_PREFIX (a VPATH build in PGSRC_CACHE/build).
pgsrc_build() {
	local build=$PGSRC_CACHE/build start=$SECONDS d SRC
	if [ -z "$PGBG_SUDO" ]; then
		mkdir -p "$PGSRC_CACHE"
	elif ! mkdir -p "$PGSRC_CACHE" 2>/dev/null || [ ! -w "$PGSRC_CACHE" ]; then
		$PGBG_SUDO mkdir -p "$PGSRC_CACHE"
		$PGBG_SUDO chown "$(id -un)" "$PGSRC_CACHE"
	fi
	mkdir -p "$PGSRC_LOGDIR"
	# shellcheck disable=SC2086 # PGSRC_DEPS is a list of packages
	apt_install_missing gcc make perl bison flex pkg-config libreadline-dev zlib1g-dev $PGSRC_DEPS
	pgsrc_find_source
	if [ ! -x "$SRC/configure" ]; then
		log "$SRC is not a PostgreSQL source tree"
		exit 1
	fi
	if grep -q '^override pkglibdir := /usr/lib/postgresql' "$SRC/src/Makefile.global.in"; then
		log "$SRC has Debian's patches applied (pkglibdir would be /usr/lib/postgresql/$PGSRC_MAJOR/lib): use the orig tarball"
		exit 1
	fi
	if [ -f "$SRC/config.status" ]; then
		log "$SRC is configured in place; a VPATH build needs a clean tree (make distclean there)"
		exit 1
	fi
	log "building PostgreSQL from $SRC into $PGSRC_PREFIX (logs in $PGSRC_LOGDIR)"
	rm -rf "$build" "$PGSRC_PREFIX"
	mkdir -p "$build"
	# shellcheck disable=SC2086 # PGSRC_CONFIGURE is a list of options
	(cd "$build" && pgsrc_run configure "$SRC/configure" --prefix="$PGSRC_PREFIX" $PGSRC_CONFIGURE)
	pgsrc_run make make -C "$build" -j"$PGSRC_JOBS"
	pgsrc_run install make -C "$build" install
	printf '%s\n' "$PGSRC_CONFIGURE" >"$PGSRC_STAMP"
	pgsrc_install_dirs
	log "built $("$PGSRC_PREFIX/bin/pg_config" --version) in $((SECONDS - start)) s"
}

# pgsrc_ensure_built MAJOR SUITE CONFIGURE [DEPS [INSTALL_DIRS]]: set the
# PGSRC_ variables from these and the user's PGNN_ ones, and build unless
# PGSRC_CACHE holds a build made with the same configure options.
pgsrc_ensure_built() {
	PGSRC_MAJOR=$1 PGSRC_SUITE=$2 PGSRC_DEPS=${4:-} PGSRC_INSTALL_DIRS=${5:-}
	PGSRC_CACHE=$(pgsrc_env CACHE "/var/cache/pg_background/pg$1")
	PGSRC_CONFIGURE=$(pgsrc_env CONFIGURE "$3")
	PGSRC_JOBS=$(pgsrc_env JOBS 3)
	PGSRC_SRC=$(pgsrc_env SRC '')
	PGSRC_PREFIX=$PGSRC_CACHE/install
	PGSRC_STAMP=$PGSRC_PREFIX/.pgbg-built
	PGSRC_LOGDIR=$PGSRC_CACHE/logs
	if [ -n "$(pgsrc_env REBUILD '')" ] || [ ! -x "$PGSRC_PREFIX/bin/pg_config" ] || [ ! -f "$PGSRC_STAMP" ] ||
		[ "$(cat "$PGSRC_STAMP")" != "$PGSRC_CONFIGURE" ]; then
		pgsrc_build
	else
		log "using $("$PGSRC_PREFIX/bin/pg_config" --version) from $PGSRC_PREFIX"
		pgsrc_install_dirs
	fi
}

# pgsrc_install_dirs: build and install each of PGSRC_INSTALL_DIRS (in the
# cached build tree) that the cached installation does not have yet, so that
# adding one does not rebuild everything.
pgsrc_install_dirs() {
	local d mark
	for d in $PGSRC_INSTALL_DIRS; do
		mark=$PGSRC_PREFIX/.pgbg-installed-${d//\//-}
		[ -f "$mark" ] && continue
		# PostgreSQL's own code is built without the extension's PG_CFLAGS
		# (CI's -Werror -Wextra would fail on core headers).
		pgsrc_run "install-${d//\//-}" make -C "$PGSRC_CACHE/build/$d" -j"$PGSRC_JOBS" PG_CFLAGS= install
		touch "$mark"
	done
	# The cluster and the tests may run as another user: let it read everything.
	chmod -R a+rX "$PGSRC_CACHE"
}

# pgsrc_env NAME DEFAULT: the value of PGNN_NAME, or DEFAULT.
pgsrc_env() {
	local name=PG${PGSRC_MAJOR}_$1
	printf '%s' "${!name:-$2}"
}

# pgsrc_copy_tree DIR: a fresh copy of the checkout in DIR, without build
# products or test output, so that the checkout's object files are left
# alone.
pgsrc_copy_tree() {
	local tree=$1
	log "copying the tree to $tree"
	rm -rf "$tree"
	mkdir -p "$tree"
	tar -C "$PGBG_ROOT" --exclude=./.run --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude=./output_iso --exclude=./tmp_check -cf - . | tar -C "$tree" -xf -
}
