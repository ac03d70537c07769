#!/usr/bin/env bash
# bench/where.sh: where the time of pg_background goes (the evidence of
# "Where the time goes" in docs/performance.md).
#
# On its own throwaway cluster (.run/bench/where, port 55602), stopped at
# exit:
#   1. the phases of launch+result of SELECT 1, from the timestamps the
#      session keeps (pg_background_jobs), medians of WHERE_N launches;
#   2. 1M rows of (int, md5 text): the worker without output (submit_v2),
#      with output but no decoding (launch_v2 + wait_v2, which spools),
#      decoding alone (result_v2 from the spool), and launch + result;
#      queue_size 64 kB and 16 MB, WHERE_REPS runs each;
#   3. with perf (as root): the kill() (SetLatch -> SIGURG) and epoll_wait
#      calls of the launcher and of the worker while 1M rows go through;
#   4. WHERE_N launch+result of SELECT 1 per run, with and without
#      shared_preload_libraries = 'pg_background' (loaded by the postmaster,
#      the library is inherited by each worker instead of being dlopen'ed),
#      WHERE_PAIRS alternating restarts.
#
#   bash bench/where.sh                   # ~3 minutes
#   WHERE_N=200 WHERE_REPS=1 WHERE_PAIRS=1 bash bench/where.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

WHERE_DIR=${WHERE_DIR:-$PGBG_ROOT/.run/bench/where}
WHERE_PORT=${WHERE_PORT:-55602}
WHERE_N=${WHERE_N:-500}
WHERE_REPS=${WHERE_REPS:-3}
WHERE_PAIRS=${WHERE_PAIRS:-3}
CLUSTER=$WHERE_DIR/cluster
ROWS_SQL="SELECT g, md5(g::text) FROM generate_series(1,1000000) g"

psql_w() { "$PG_BINDIR/psql" -X -q -h "$CLUSTER" -p "$WHERE_PORT" -U postgres -d bench -v ON_ERROR_STOP=1 "$@"; }

restart() {
	sed -i '/^shared_preload_libraries/d' "$CLUSTER/data/postgresql.conf"
	if [ "$1" = yes ]; then
		echo "shared_preload_libraries = 'pg_background'" >>"$CLUSTER/data/postgresql.conf"
	fi
	as_owner "$PG_BINDIR/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -m fast -w restart >/dev/null
}

log "starting a throwaway cluster in $CLUSTER (port $WHERE_PORT)"
mkdir -p "$WHERE_DIR"
start_cluster "$CLUSTER" "$WHERE_PORT" ""
trap 'stop_cluster "$CLUSTER"' EXIT
"$PG_BINDIR/psql" -X -q -h "$CLUSTER" -p "$WHERE_PORT" -U postgres -d postgres -c 'CREATE DATABASE bench'
psql_w -f "$PGBG_ROOT/bench/sql/setup.sql"
psql_w -f "$PGBG_ROOT/bench/sql/where.sql"

printf '== machine: %s cores, %s; load average %s\n\n' "$(nproc)" \
	"$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)" "$(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. launch+result of SELECT 1: phases, medians of $WHERE_N launches (ms)"
psql_w -c "SELECT 1 FROM where_phases('SELECT 1', 20)" >/dev/null # warm-up
psql_w -c "SELECT * FROM where_phases('SELECT 1', $WHERE_N)"

echo "== 2. 1M rows of (int, md5 text), ms, $WHERE_REPS runs"
for q in 65536 16777216; do
	echo "-- queue_size $q"
	psql_w -At -F '|' -c "SELECT step, ms FROM where_rows('$ROWS_SQL', $q)" >/dev/null # warm-up
	for _ in $(seq 1 "$WHERE_REPS"); do
		psql_w -At -F '|' -c "SELECT step, ms FROM where_rows('$ROWS_SQL', $q)"
	done | awk -F'|' '{ v[$1] = v[$1] sprintf(" %8.1f", $2); if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
		END { for (i = 1; i <= n; i++) printf "  %-46s%s\n", order[i], v[order[i]] }'
done
echo

echo "== 3. signals while 1M rows go through launch + result"
if command -v perf >/dev/null && [ "$(id -u)" -eq 0 ]; then
	pm=$(head -n1 "$CLUSTER/data/postmaster.pid")
	for q in 65536 16777216; do
		data=$WHERE_DIR/perf.$q.data
		out=$WHERE_DIR/perf.$q.out
		perf record -q -o "$data" -a -c 1 -e syscalls:sys_enter_kill -e syscalls:sys_enter_epoll_wait \
			-e sched:sched_process_fork -- "$PG_BINDIR/psql" -X -At -h "$CLUSTER" -p "$WHERE_PORT" -U postgres -d bench \
			-c 'SELECT pg_backend_pid()' -c '\timing on' \
			-c "SELECT count(*) FROM pg_background_result(pg_background_launch('$ROWS_SQL', $q)) AS (g int, m text)" >"$out" 2>&1
		launcher=$(head -n1 "$out")
		perf script -i "$data" -F pid,event,trace 2>/dev/null |
			awk -v L="$launcher" -v PM="$pm" -v q="$q" -v t="$(grep -o 'Time: [0-9.]* ms' "$out")" '
				/sched_process_fork/ { if ($0 ~ ("pid=" PM " ")) { match($0, /child_pid=[0-9]+/); w[substr($0, RSTART + 10, RLENGTH - 10)] = 1 } next }
				{ ev = ($2 ~ /kill/) ? "kill" : "epoll_wait"
				  if ($1 == L) n["launcher " ev]++; else if ($1 in w) n["worker " ev]++ }
				END { printf "  queue_size %-9s (%s): worker kill() %d, worker epoll_wait %d; launcher epoll_wait %d, launcher kill() %d\n",
					q, t, n["worker kill"], n["worker epoll_wait"], n["launcher epoll_wait"], n["launcher kill"] }'
		rm -f "$data"
	done
else
	echo "  skipped (needs perf, run as root)"
fi
echo

echo "== 4. $WHERE_N x launch+result of SELECT 1 in a loop, ms per launch, with and without shared_preload_libraries"
loop="SELECT round((bench_time(\$q\$DO \$d\$ DECLARE x int; BEGIN FOR i IN 1..$WHERE_N LOOP SELECT r.x INTO x FROM pg_background_result(pg_background_launch('SELECT 1')) AS r(x int); END LOOP; END \$d\$ \$q\$) / $WHERE_N)::numeric, 3)"
for _ in $(seq 1 "$WHERE_PAIRS"); do
	for pre in no yes; do
		restart "$pre"
		psql_w -At -c "$loop" >/dev/null # warm-up
		printf '  preload=%-3s %s %s %s\n' "$pre" "$(psql_w -At -c "$loop")" "$(psql_w -At -c "$loop")" "$(psql_w -At -c "$loop")"
	done
done
restart no
printf '\nload average at end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
