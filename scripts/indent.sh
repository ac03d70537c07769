#!/usr/bin/env bash
# scripts/indent.sh: run pgindent over src/ with our typedefs.list.
#
# Uses PostgreSQL 18's pgindent and pg_bsd_indent from the tree that
# scripts/pg18.sh builds (PG18_CACHE, default /var/cache/pg_background/pg18):
# run scripts/pg18.sh once first.  Rewrites the files in place; review with
# git diff.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PG18_CACHE=${PG18_CACHE:-/var/cache/pg_background/pg18}
src=$(ls -d "$PG18_CACHE"/src/postgresql-18.* 2>/dev/null | head -n1)
[ -n "$src" ] || { log "no PostgreSQL 18 source in $PG18_CACHE/src: run scripts/pg18.sh first"; exit 1; }
make -s -C "$PG18_CACHE/build/src/tools/pg_bsd_indent" >/dev/null
typedefs=$(mktemp)
trap 'rm -f "$typedefs"' EXIT
sort -u "$src/src/tools/pgindent/typedefs.list" "$PGBG_ROOT/typedefs.list" >"$typedefs"
PATH="$PG18_CACHE/build/src/tools/pg_bsd_indent:$PATH" \
	perl "$src/src/tools/pgindent/pgindent" --typedefs="$typedefs" \
	"$PGBG_ROOT"/src/*.c "$PGBG_ROOT"/src/*.h
log "pgindent done; see git diff"
