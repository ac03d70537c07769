#!/usr/bin/env bash
# scripts/deb.sh: build the Debian package the way Debian builds extensions
# (dpkg-buildpackage with pg_buildext, from debian/), in a copy of the tree
# under .run/deb, and install it.  Prints the path of the package.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$PGBG_ROOT/.run/deb
apt_install_missing debhelper postgresql-server-dev-all dpkg-dev fakeroot

rm -rf "$OUT"
mkdir -p "$OUT/src"
tar -C "$PGBG_ROOT" --exclude=./.run --exclude=./.git -cf - . | tar -C "$OUT/src" -xf -
log "building the package in $OUT/src"
(cd "$OUT/src" && make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null && dpkg-buildpackage -us -uc -b >"$OUT/build.log" 2>&1) ||
	{ tail -n 40 "$OUT/build.log"; exit 1; }
deb=$(ls "$OUT"/postgresql-"$PG_MAJOR"-pg-background_*.deb)
log "installing $deb"
$PGBG_SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades --reinstall "$deb" >/dev/null
dpkg-query -W "postgresql-$PG_MAJOR-pg-background"
