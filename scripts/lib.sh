# scripts/lib.sh: shared steps of scripts/demo.sh and scripts/test.sh.
#
# Sourced, not run.  Works as root (the cluster then runs as the "postgres"
# user, since PostgreSQL refuses to run as root) and as a normal user with
# sudo (the cluster runs as that user).

PGBG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
export PG_CONFIG

if [ "$(id -u)" -eq 0 ]; then
	PGBG_SUDO=
	PGBG_OWNER=postgres
else
	PGBG_SUDO=sudo
	PGBG_OWNER=$(id -un)
fi

log() { printf '==> %s\n' "$*" >&2; }

# Run a command as the cluster owner.
as_owner() {
	if [ "$(id -un)" = "$PGBG_OWNER" ]; then
		"$@"
	else
		runuser -u "$PGBG_OWNER" -- "$@"
	fi
}

# Install the build and test dependencies that are missing.
install_deps() {
	local server="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib "
	# A PG_CONFIG outside /usr is a source build (scripts/pg18.sh): no server packages.
	case $PG_CONFIG in
	/usr/* | [!/]*) ;;
	*) server= ;;
	esac
	# shellcheck disable=SC2086 # a list of packages
	apt_install_missing ${server}libkrb5-dev libipc-run-perl make gcc
}

# apt_install_missing PKG...: install those of the Debian packages that are
# not installed yet.
apt_install_missing() {
	local missing='' p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		log "installing:$missing"
		$PGBG_SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		# shellcheck disable=SC2086 # a list of packages
		$PGBG_SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	fi
}

# Build and install the extension into the server's directories.
build_install() {
	log "building with $PG_CONFIG ${PG_CFLAGS:+(PG_CFLAGS=$PG_CFLAGS)}"
	make -C "$PGBG_ROOT" -s PG_CONFIG="$PG_CONFIG" ${PG_CFLAGS:+PG_CFLAGS="$PG_CFLAGS"}
	$PGBG_SUDO make -C "$PGBG_ROOT" -s PG_CONFIG="$PG_CONFIG" install
}

# A directory under .run/ owned by the cluster owner.
owned_dir() {
	mkdir -p "$1"
	if [ -z "$PGBG_SUDO" ]; then chown "$PGBG_OWNER" "$1"; fi
	chmod 700 "$1"
}

# start_cluster DIR PORT [extra postgresql.conf lines]: a fresh throwaway
# cluster in DIR/data, socket in DIR, log in DIR/server.log.
start_cluster() {
	local dir=$1 port=$2 extra=${3:-}
	stop_cluster "$dir"
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	owned_dir "$dir"
	as_owner "$PG_BINDIR/initdb" -D "$dir/data" -A trust -U postgres --no-instructions >/dev/null
	cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
max_worker_processes = 32
fsync = off
log_line_prefix = '%m [%p] %b '
$extra
CONF
	as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

stop_cluster() {
	local dir=$1
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
}
