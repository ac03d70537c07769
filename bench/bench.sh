#!/usr/bin/env bash
# bench/bench.sh: pg_background against dblink and against plain SQL.
#
# One run, one throwaway cluster (.run/bench/cluster, port 55601), stopped
# at exit.  It measures side by side, for pg_background ("ours"), dblink
# and the same SQL run in the session itself ("in-session"):
#
#   (a) the round trip of SELECT 1           pgbench, per-transaction latencies
#   (b) an autonomous INSERT                 pgbench, per-transaction latencies
#   (c) 1,000,000 rows of (int, md5 text)    timed in the server, BENCH_REPS runs
#   (d) 8 parallel jobs of ~0.5 s CPU each   timed in the server, BENCH_REPS runs
#   (e) BENCH_LEAK_COUNT launch+result of SELECT 1 in one session: the
#       session's memory and DSM mappings, sampled 10 times
#
# and prints medians and the ratios ours/dblink and ours/in-session.  The
# variants of a case run interleaved (round-robin), so that a noisy
# neighbour hurts all of them alike.  Everything is also written to
# .run/bench/report.txt; the raw latencies stay in .run/bench/out.
#
#   bash bench/bench.sh                                   # ~14-40 minutes (machine)
#   BENCH_SECONDS=2 BENCH_ROUNDS=1 BENCH_REPS=3 BENCH_LEAK_COUNT=2000 bash bench/bench.sh
#
# Settings (environment):
#   BENCH_SECONDS     pgbench duration of each (a)/(b) variant per round (10)
#   BENCH_ROUNDS      rounds of (a)/(b), variants interleaved (2)
#   BENCH_REPS        timed runs of each (c)/(d) variant, after one
#                     untimed run that also checks the result (7)
#   BENCH_LEAK_COUNT  launches of (e) (100000); sampled every tenth
#   BENCH_JOB_MS      target CPU time of one (d) job, calibrated (500)
#   BENCH_DIR, BENCH_PORT  where the cluster lives (.run/bench, 55601)
#   BENCH_CASES       which parts run (ab pss cd e: all); e.g. BENCH_CASES=cd
#                     for (c) and (d) alone; what did not run shows as nan
#
# The extension must be built and installed (scripts/test.sh or
# scripts/demo.sh do that); so must pgbench and dblink (postgresql-contrib).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

BENCH_DIR=${BENCH_DIR:-$PGBG_ROOT/.run/bench}
BENCH_PORT=${BENCH_PORT:-55601}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-2}
BENCH_REPS=${BENCH_REPS:-7}
BENCH_LEAK_COUNT=${BENCH_LEAK_COUNT:-100000}
BENCH_JOB_MS=${BENCH_JOB_MS:-500}
BENCH_CASES=${BENCH_CASES:-ab pss cd e}
JOB_N=0 JOB_MS=nan JOB_SQL="(not run)"
FANOUT=8
ROWS=1000000

CLUSTER=$BENCH_DIR/cluster
OUT=$BENCH_DIR/out
REPORT=$BENCH_DIR/report.txt
BENCH_SRC=$PGBG_ROOT/bench
CONN="host=$CLUSTER port=$BENCH_PORT dbname=bench user=postgres"

# Settings of the cluster beyond initdb's defaults.  scripts/lib.sh sets
# port, listen_addresses, unix_socket_directories, max_worker_processes = 32,
# fsync = off and log_line_prefix.  pg_background is preloaded (directory
# mode) so that the pool can be measured; the pool is off (pool_size = 0)
# except for the *_pool variants, which run with BENCH_POOL_SIZE.
BENCH_POOL_SIZE=${BENCH_POOL_SIZE:-4}
EXTRA_CONF="shared_preload_libraries = 'pg_background'"

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

psql_bench() {
	psql -X -q -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -d bench -v ON_ERROR_STOP=1 "$@"
}
sql_value() { psql_bench -At -c "$1"; }

# stats: numbers (one per line) on stdin -> "median p10 p90 n"
stats() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan nan nan 0"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			i10 = int(0.1 * (NR - 1)) + 1; i90 = int(0.9 * (NR - 1)) + 1
			printf "%.4f %.4f %.4f %d\n", m, v[i10], v[i90], NR
		}'
}
median_of() { stats <"$1" | cut -d' ' -f1; }

# ratio a b -> a/b with two decimals ("n/a" if either did not run: nan)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# runs part: does BENCH_CASES name part?
runs() { case " $BENCH_CASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

command -v pgbench >/dev/null || die "pgbench not found (postgresql-client)"
[ -f "$("$PG_CONFIG" --sharedir)/extension/dblink.control" ] || die "dblink not installed (postgresql-contrib)"
[ -f "$("$PG_CONFIG" --sharedir)/extension/pg_background.control" ] || die "pg_background not installed (make install)"

setup() {
	log "starting a throwaway cluster in $CLUSTER (port $BENCH_PORT)"
	mkdir -p "$BENCH_DIR"
	start_cluster "$CLUSTER" "$BENCH_PORT" "$EXTRA_CONF"
	trap 'stop_cluster "$CLUSTER"' EXIT
	rm -rf "$OUT"
	mkdir -p "$OUT/log" "$OUT/lat" "$OUT/pgbench" "$OUT/scripts"
	psql -X -q -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -d postgres -c 'CREATE DATABASE bench'
	psql_bench -f "$BENCH_SRC/sql/setup.sql"
	local f
	for f in "$BENCH_SRC"/pgbench/*.sql; do
		sed "s|@CONN@|$CONN|g" "$f" >"$OUT/scripts/$(basename "$f")"
	done
}

machine_info() {
	local model
	model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
	echo "== machine"
	printf '  nproc: %s   cpu: %s%s\n' "$(nproc)" "${model:-unknown}" \
		"$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*/ (virtual machine, hypervisor: /p' | sed 's/$/)/')"
	printf '  memory: %s MB   kernel: %s   load average at start: %s\n' \
		"$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)" "$(uname -r)" \
		"$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '  server: %s\n' "$(sql_value 'SELECT version()')"
	printf '  pg_background %s (git %s), dblink %s\n' \
		"$(sql_value "SELECT extversion FROM pg_extension WHERE extname = 'pg_background'")" \
		"$(git -C "$PGBG_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$PGBG_ROOT" diff --quiet HEAD -- src sql 2>/dev/null || echo ', src modified')" \
		"$(sql_value "SELECT extversion FROM pg_extension WHERE extname = 'dblink'")"
	echo "  settings changed from initdb's defaults: fsync = off, max_worker_processes = 32,"
	echo "    listen_addresses = '' (Unix socket only)${EXTRA_CONF:+, $EXTRA_CONF}"
	printf '  other settings that matter here: %s\n' "$(sql_value "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name)
		FROM unnest(ARRAY['shared_buffers', 'work_mem', 'synchronous_commit', 'dynamic_shared_memory_type', 'jit', 'max_parallel_workers_per_gather']) name")"
	printf '  run: BENCH_SECONDS=%s BENCH_ROUNDS=%s BENCH_REPS=%s BENCH_LEAK_COUNT=%s BENCH_JOB_MS=%s\n' \
		"$BENCH_SECONDS" "$BENCH_ROUNDS" "$BENCH_REPS" "$BENCH_LEAK_COUNT" "$BENCH_JOB_MS"
	echo "  clients: pgbench -c 1 -j 1 and psql over the Unix socket, on the same machine"
	echo
}

# ---------------------------------------------------------------------------
# (a), (b): pgbench, one client, per-transaction latencies from --log
# ---------------------------------------------------------------------------

# Wait until no pg_background job is queued or running (detached inserts
# are still committing when pgbench returns; parked pool workers are idle).
wait_workers_gone() {
	local _
	for _ in $(seq 1 600); do
		[ "$(sql_value "SELECT active + queued FROM pg_background_admission()")" = 0 ] && return 0
		sleep 0.1
	done
	die "pg_background jobs still running after 60 s"
}

# set_pool N: pg_background.pool_size = N for the sessions started from now.
set_pool() {
	local _
	sql_value "ALTER SYSTEM SET pg_background.pool_size = $1" >/dev/null
	sql_value "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 1 100); do
		[ "$(sql_value 'SHOW pg_background.pool_size')" = "$1" ] && return 0
		sleep 0.05
	done
	die "pg_background.pool_size did not become $1"
}

# run_pgbench NAME ROUND: one pgbench run of bench/pgbench/NAME.sql
run_pgbench() {
	local name=$1 round=$2 prefix=$OUT/log/$1.r$2 out=$OUT/pgbench/$1.r$2.txt
	local rows_before=0 rows_after n script=${1%_pool}
	case $name in b_ours_detach*) rows_before=$(sql_value 'SELECT count(*) FROM t') ;; esac
	case $name in *_pool) set_pool "$BENCH_POOL_SIZE" ;; *) set_pool 0 ;; esac
	log "pgbench $name (round $round, ${BENCH_SECONDS}s)"
	if ! pgbench -n -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -c 1 -j 1 -T "$BENCH_SECONDS" \
		-D connected=0 --log --log-prefix="$prefix" -f "$OUT/scripts/$script.sql" bench >"$out" 2>&1 ||
		grep -qiE 'aborted|error' "$out"; then
		cat "$out" >&2
		die "pgbench $name failed"
	fi
	# Latency (column 3, microseconds) of every transaction but the first
	# of the session (it connects dblink, warms the caches).
	awk 'FNR > 1 { printf "%.4f\n", $3 / 1000 }' "$prefix".[0-9]* >>"$OUT/lat/$name.txt"
	n=$(cat "$prefix".[0-9]* | wc -l)
	if [ "${name%_pool}" = b_ours_detach ]; then
		wait_workers_gone
		rows_after=$(sql_value 'SELECT count(*) FROM t')
		echo "$n $((rows_after - rows_before))" >>"$OUT/detach_check.txt"
	fi
	# Keep the table small, outside the timed runs.
	case $name in b_*) sql_value 'TRUNCATE t' >/dev/null ;; esac
}

bench_ab() {
	local round name
	local names="a_ours a_ours_pool a_dblink_new a_dblink_persistent a_insession b_ours_detach b_ours_detach_pool b_ours_result b_ours_result_pool b_dblink_new b_dblink_persistent b_insession"
	for round in $(seq 1 "$BENCH_ROUNDS"); do
		for name in $names; do
			run_pgbench "$name" "$round"
		done
	done
	set_pool 0
}

# The proportional set size of parked pool workers (ps title "idle in
# pool": their session state was reset and free memory returned), after two
# pgbench clients ran SELECT 1 and INSERT jobs through the pool for a few
# seconds (thousands of jobs per worker).
bench_pool_pss() {
	local pid pss pids='' pm _
	pm=$(head -n1 "$CLUSTER/data/postmaster.pid")
	set_pool "$BENCH_POOL_SIZE"
	log "pgbench through the pool, then the PSS of the parked workers"
	pgbench -n -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -c 2 -j 2 -T 3 \
		-f "$OUT/scripts/a_ours.sql" -f "$OUT/scripts/b_ours_result.sql" bench >"$OUT/pgbench/pss.txt" 2>&1 ||
		die "pgbench through the pool failed: $(cat "$OUT/pgbench/pss.txt")"
	sql_value 'TRUNCATE t' >/dev/null
	for _ in $(seq 1 200); do
		pids=$(pgrep -P "$pm" -f -- "idle in pool" || true)
		[ "$(echo "$pids" | grep -c .)" -ge 2 ] && break
		sleep 0.05
	done
	: >"$OUT/pool_pss.txt"
	for pid in $pids; do
		pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
		echo "$pid ${pss:-unreadable}" >>"$OUT/pool_pss.txt"
	done
	set_pool 0
}

# ---------------------------------------------------------------------------
# (c), (d): one psql session, each statement timed in the server by
# bench_time(), variants interleaved; run 0 is untimed and checks the result
# ---------------------------------------------------------------------------

calibrate() {
	local n0=5000000 med
	log "calibrating the (d) job to ${BENCH_JOB_MS} ms"
	# Warm up, then three timed runs of n0.
	sql_value "SELECT count(*) FROM (SELECT generate_series(1, $n0)) s" >/dev/null
	med=$(for _ in 1 2 3; do sql_value "SELECT bench_time('SELECT count(*) FROM (SELECT generate_series(1, $n0)) s')"; done | stats | cut -d' ' -f1)
	JOB_N=$(awk -v n="$n0" -v m="$med" -v t="$BENCH_JOB_MS" 'BEGIN { printf "%d", int(n * t / m / 100000 + 0.5) * 100000 }')
	[ "$JOB_N" -ge 100000 ] || JOB_N=100000
	JOB_SQL="SELECT count(*) FROM (SELECT generate_series(1, $JOB_N)) s"
	JOB_MS=$(for _ in 1 2 3; do sql_value "SELECT bench_time('$JOB_SQL')"; done | stats | cut -d' ' -f1)
}

bench_cd() {
	local rows_sql="SELECT g, md5(g::text) FROM generate_series(1,$ROWS) g"
	local -a names queries
	names=(c_ours_64k c_ours_1m c_ours_16m c_dblink c_insession c_insession_fn d_ours d_dblink d_insession)
	queries=(
		"SELECT count(*), sum(length(m)) FROM pg_background_result(pg_background_launch('$rows_sql', 65536)) AS (g int, m text)"
		"SELECT count(*), sum(length(m)) FROM pg_background_result(pg_background_launch('$rows_sql', 1048576)) AS (g int, m text)"
		"SELECT count(*), sum(length(m)) FROM pg_background_result(pg_background_launch('$rows_sql', 16777216)) AS (g int, m text)"
		"SELECT count(*), sum(length(m)) FROM dblink('$CONN', '$rows_sql') AS t(g int, m text)"
		"SELECT count(*), sum(length(m)) FROM ($rows_sql) AS s(g, m)"
		"SELECT count(*), sum(length(m)) FROM bench_srf('$rows_sql') AS f(g int, m text)"
		"SELECT sum(n) FROM unnest(ARRAY(SELECT pg_background_launch('$JOB_SQL') FROM generate_series(1, $FANOUT))) AS p, LATERAL pg_background_result(p) AS r(n bigint)"
		"SELECT bench_dblink_fanout('$JOB_SQL', $FANOUT)"
		"SELECT sum(n) FROM generate_series(1, $FANOUT) AS i, LATERAL (SELECT count(*) AS n FROM (SELECT generate_series(1, $JOB_N + 0 * i)) s) AS j"
	)
	local script=$OUT/cd.sql rep k
	{
		echo "\\pset format unaligned"
		echo "\\pset tuples_only on"
		echo "\\pset fieldsep '|'"
		echo "\\o /dev/null"
		echo "SELECT dblink_connect('bench_c' || i, '$CONN') FROM generate_series(1, $FANOUT) i;"
		echo "\\o"
		for rep in $(seq 0 "$BENCH_REPS"); do
			for k in "${!names[@]}"; do
				if [ "$rep" = 0 ]; then
					echo "SELECT 'R', '${names[$k]}', row(q.*)::text FROM (${queries[$k]}) AS q;"
				else
					echo "SELECT 'M', '${names[$k]}', $rep, bench_time(\$q\$${queries[$k]}\$q\$);"
				fi
			done
		done
	} >"$script"
	log "(c) and (d): $((BENCH_REPS + 1)) runs of ${#names[@]} variants, interleaved"
	psql_bench -f "$script" >"$OUT/cd.out"
	for k in "${!names[@]}"; do
		awk -F'|' -v n="${names[$k]}" '$1 == "M" && $2 == n { print $4 }' "$OUT/cd.out" >"$OUT/lat/${names[$k]}.txt"
	done
	# Every variant must have produced the same result.
	local want_c="($ROWS,$((ROWS * 32)))" want_d="($((FANOUT * JOB_N)))" bad=
	while IFS='|' read -r tag name result; do
		[ "$tag" = R ] || continue
		case $name in
		c_*) [ "$result" = "$want_c" ] || bad="$bad $name=$result" ;;
		d_*) [ "$result" = "$want_d" ] || bad="$bad $name=$result" ;;
		esac
	done <"$OUT/cd.out"
	[ -z "$bad" ] || die "wrong results:$bad (expected c $want_c, d $want_d)"
}

# ---------------------------------------------------------------------------
# (e): memory and DSM mappings of one session over many launches
# ---------------------------------------------------------------------------

bench_leak() {
	local every=$((BENCH_LEAK_COUNT / 10)) out=$OUT/pgbench/e_leak.txt
	[ "$every" -ge 1 ] || every=1
	log "(e) $BENCH_LEAK_COUNT launch+result of SELECT 1 in one session (sample every $every)"
	sql_value 'TRUNCATE leak_samples' >/dev/null
	if ! pgbench -n -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -c 1 -j 1 -t "$BENCH_LEAK_COUNT" \
		-D n=0 -D every="$every" -f "$OUT/scripts/e_leak.sql" bench >"$out" 2>&1 ||
		grep -qiE 'aborted|error' "$out"; then
		cat "$out" >&2
		die "pgbench e_leak failed"
	fi
}

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

# Every variant: its name (the file of its latencies in $OUT/lat) and what it
# runs.
VARIANTS="a_ours               pg_background_result(pg_background_launch('SELECT 1'))
a_ours_pool          the same, with the warm pool (pg_background.pool_size = BENCH_POOL_SIZE)
a_dblink_new         dblink(connstr, 'SELECT 1'): a new connection per call
a_dblink_persistent  dblink('bench', 'SELECT 1') on a connection opened once
a_insession          SELECT 1
b_ours_detach        pg_background_detach(pg_background_launch('INSERT ...'))
b_ours_detach_pool   the same, with the warm pool
b_ours_result        pg_background_result(pg_background_launch('INSERT ...')): waits for the commit
b_ours_result_pool   the same, with the warm pool
b_dblink_new         dblink_exec(connstr, 'INSERT ...'): a new connection per call
b_dblink_persistent  dblink_exec('bench', 'INSERT ...') on a connection opened once
b_insession          INSERT INTO t VALUES (1)
c_ours_64k           1M rows through pg_background, queue_size 64 kB (the default)
c_ours_1m            1M rows through pg_background, queue_size 1 MB
c_ours_16m           1M rows through pg_background, queue_size 16 MB
c_dblink             1M rows through dblink (new connection)
c_insession          the same query in the session
c_insession_fn       the same query in the session, its rows through a set-returning function
d_ours               8 jobs: 8 x pg_background_launch, then 8 x pg_background_result
d_dblink             8 jobs: dblink_send_query on 8 open connections, then dblink_get_result
d_insession          the 8 jobs one after the other in the session"

report_raw() {
	local name
	echo "== every variant: latency in ms (median, 10th and 90th percentile, samples)"
	printf '  %-22s %10s %10s %10s %8s   %s\n' variant median p10 p90 n what
	while read -r name what; do
		[ -s "$OUT/lat/$name.txt" ] || continue
		read -r m p10 p90 n < <(stats <"$OUT/lat/$name.txt")
		printf '  %-22s %10.3f %10.3f %10.3f %8d   %s\n' "$name" "$m" "$p10" "$p90" "$n" "$what"
	done <<<"$VARIANTS"
	echo
	if [ "$BENCH_ROUNDS" -gt 1 ] && runs ab; then
		echo "== (a)/(b) median of each round, ms (spread between rounds = noise)"
		while read -r name _; do
			case $name in a_* | b_*) ;; *) continue ;; esac
			printf '  %-22s' "$name"
			for r in $(seq 1 "$BENCH_ROUNDS"); do
				printf ' %9.3f' "$(cat "$OUT/log/$name.r$r".[0-9]* | awk 'FNR > 1 { printf "%.4f\n", $3 / 1000 }' | stats | cut -d' ' -f1)"
			done
			echo
		done <<<"$VARIANTS"
		echo
	fi
}

report_table() {
	local m name
	declare -A med
	# What did not run (BENCH_CASES) is nan.
	while read -r name _; do
		med[$name]=nan
	done <<<"$VARIANTS"
	for f in "$OUT"/lat/*.txt; do
		[ -s "$f" ] || continue
		m=$(median_of "$f")
		med[$(basename "$f" .txt)]=$m
	done
	echo "== comparison: medians in ms, ratios of medians"
	printf '  %-46s %10s %10s %11s %12s %16s\n' case ours dblink in-session ours/dblink ours/in-session
	row() { # label ours dblink insession
		[ "${med[$2]}" != nan ] || return 0
		printf '  %-46s %10.3f %10.3f %11.3f %12s %16s\n' "$1" "${med[$2]}" "${med[$3]}" "${med[$4]}" \
			"$(ratio "${med[$2]}" "${med[$3]}")" "$(ratio "${med[$2]}" "${med[$4]}")"
	}
	row "(a) SELECT 1, dblink: new connection" a_ours a_dblink_new a_insession
	row "(a) SELECT 1 with pool, dblink: new conn" a_ours_pool a_dblink_new a_insession
	row "(a) SELECT 1 with pool, dblink: persistent" a_ours_pool a_dblink_persistent a_insession
	row "(a) SELECT 1, dblink: persistent connection" a_ours a_dblink_persistent a_insession
	row "(b) insert, detach; dblink_exec: new conn" b_ours_detach b_dblink_new b_insession
	row "(b) insert, detach; dblink_exec: persistent" b_ours_detach b_dblink_persistent b_insession
	row "(b) insert, detach, pool; dblink_exec: new" b_ours_detach_pool b_dblink_new b_insession
	row "(b) insert, result, pool; dblink_exec: new" b_ours_result_pool b_dblink_new b_insession
	row "(b) insert, result; dblink_exec: new conn" b_ours_result b_dblink_new b_insession
	row "(b) insert, result; dblink_exec: persistent" b_ours_result b_dblink_persistent b_insession
	row "(c) 1M rows, queue 64 kB" c_ours_64k c_dblink c_insession
	row "(c) 1M rows, queue 1 MB" c_ours_1m c_dblink c_insession
	row "(c) 1M rows, queue 16 MB" c_ours_16m c_dblink c_insession
	row "(c) in-session through a function" c_insession_fn c_dblink c_insession
	row "(d) 8 x ${JOB_MS%.*} ms jobs (dblink: 8 open conns)" d_ours d_dblink d_insession
	echo
	echo "  (d) one job: $JOB_SQL, ${JOB_MS} ms in-session (median of 3); $(nproc) cores, so 8 jobs"
	echo "      in parallel take at best 1/$(nproc) of the sequential time."
	echo "  (c) \"in-session through a function\" is the session running the query itself and"
	echo "      returning the rows from a plpgsql function (RETURN QUERY): what any row source"
	echo "      in FROM costs without another process; its ours/dblink column is that over dblink."
	if [ -s "$OUT/detach_check.txt" ]; then
		awk '{ t += $1; r += $2 } END { printf "  (b) detached inserts: %d launched, %d rows committed%s\n", t, r, (t == r) ? "" : "  <-- MISMATCH" }' "$OUT/detach_check.txt"
	fi
	echo
	echo "== targets (from the issue)"
	target() { # label value op limit
		printf '  %-58s %6s  %-2s %-5s %s\n' "$1" "$2" "$3" "$4" \
			"$(awk -v v="$2" -v l="$4" 'BEGIN { print (v == "n/a") ? "not run" : (v <= l) ? "met" : "NOT met" }')"
	}
	target "(a) SELECT 1 round trip, ours/dblink (new connection)" "$(ratio "${med[a_ours]}" "${med[a_dblink_new]}")" "<=" 1.0
	target "(a) SELECT 1 round trip with the pool, ours/dblink (new conn)" "$(ratio "${med[a_ours_pool]}" "${med[a_dblink_new]}")" "<=" 0.25
	target "(b) autonomous insert with the pool, ours/dblink_exec (new)" "$(ratio "${med[b_ours_detach_pool]}" "${med[b_dblink_new]}")" "<=" 0.25
	target "(b) autonomous insert (detach), ours/dblink_exec (new conn)" "$(ratio "${med[b_ours_detach]}" "${med[b_dblink_new]}")" "<=" 1.0
	target "(b) autonomous insert (result), ours/dblink_exec (new conn)" "$(ratio "${med[b_ours_result]}" "${med[b_dblink_new]}")" "<=" 1.0
	if [ -s "$OUT/pool_pss.txt" ]; then
		target "idle pooled worker, largest PSS in MB" \
			"$(awk '{ if ($2 > m) m = $2 } END { printf "%.2f", m / 1024 }' "$OUT/pool_pss.txt")" "<=" 5
		printf '    (pid, PSS in kB: %s)\n' "$(tr '\n' ';' <"$OUT/pool_pss.txt")"
	fi
	target "(c) 1M rows (64 kB queue), ours/dblink" "$(ratio "${med[c_ours_64k]}" "${med[c_dblink]}")" "<=" 0.8
	target "(c) 1M rows (64 kB queue), ours/in-session" "$(ratio "${med[c_ours_64k]}" "${med[c_insession]}")" "<=" 1.3
	target "(c) 1M rows (16 MB queue), ours/dblink" "$(ratio "${med[c_ours_16m]}" "${med[c_dblink]}")" "<=" 0.8
	target "(c) 1M rows (16 MB queue), ours/in-session" "$(ratio "${med[c_ours_16m]}" "${med[c_insession]}")" "<=" 1.3
	printf '  %-58s %6s  (the session itself, rows through a function)\n' \
		"(c) 1M rows, in-session through a function/dblink" "$(ratio "${med[c_insession_fn]}" "${med[c_dblink]}")"
	printf '  %-58s %6s\n' "(c) 1M rows (64 kB queue), ours/in-session through a function" \
		"$(ratio "${med[c_ours_64k]}" "${med[c_insession_fn]}")"
	echo
}

report_leak() {
	local out=$OUT/pgbench/e_leak.txt
	echo "== (e) $BENCH_LEAK_COUNT x launch+result of SELECT 1 in one session (pgbench -t, one client)"
	printf '  %s; %s\n' "$(grep -E '^latency average' "$out")" "$(grep -E '^tps' "$out" | sed 's/ (.*//')"
	psql_bench -c "SELECT n AS launches, pid, ctx_bytes AS \"memory contexts (bytes)\",
		pgbg_ctx_bytes AS \"pg_background session ctx\", rss_kb AS \"RSS kB\", pss_kb AS \"PSS kB\",
		pss_anon_kb AS \"PSS anon kB\", dsm_segments AS \"DSM mapped\",
		to_char(taken_at, 'HH24:MI:SS') AS at
		FROM leak_samples ORDER BY n" | sed 's/^/  /'
	# Flat: from the first sample after warm-up to the last.  A session
	# remembers its last 1024 consumed jobs, so its memory grows during the
	# first 1024 launches; the baseline is the first sample at or after 2048
	# launches (with the default count: 10,000).
	local base
	base=$(sql_value "SELECT coalesce(min(n) FILTER (WHERE n >= 2048), max(n)) FROM leak_samples")
	psql_bench -At -F' ' -c "SELECT
		(SELECT count(DISTINCT pid) FROM leak_samples),
		l.ctx_bytes - f.ctx_bytes, l.pgbg_ctx_bytes - f.pgbg_ctx_bytes,
		l.rss_kb - f.rss_kb, l.pss_anon_kb - f.pss_anon_kb,
		(SELECT max(dsm_segments) - min(dsm_segments) FROM leak_samples WHERE n >= $base)
		FROM leak_samples f, leak_samples l
		WHERE f.n = $base AND l.n = (SELECT max(n) FROM leak_samples)" |
		while read -r npid dctx dpgbg drss danon ddsm; do
			printf '  from %d to %d launches: memory contexts %+d bytes (pg_background session %+d), RSS %+d kB, PSS anon %+d kB, DSM mapped varies by %d\n' \
				"$base" "$BENCH_LEAK_COUNT" "$dctx" "$dpgbg" "$drss" "$danon" "$ddsm"
			if [ "$npid" = 1 ] && [ "$dctx" -le 0 ] && [ "$danon" -le 1024 ] && [ "$ddsm" = 0 ]; then
				echo "  flat: yes (one backend; contexts did not grow; PSS anon grew <= 1 MB; DSM count constant)"
			else
				echo "  flat: NO (one backend: $([ "$npid" = 1 ] && echo yes || echo no))"
			fi
		done
	echo
}

main() {
	setup
	machine_info
	! runs ab || bench_ab
	! runs pss || bench_pool_pss
	if runs cd; then
		calibrate
		bench_cd
	fi
	! runs e || bench_leak
	report_raw
	report_table
	! runs e || report_leak
	printf 'load average at end: %s (other work on the machine shows here)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
	log "report written to $REPORT; raw data in $OUT"
}

mkdir -p "$BENCH_DIR"
main "$@" | tee "$REPORT"
exit "${PIPESTATUS[0]}"
