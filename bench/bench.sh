#!/usr/bin/env bash
# bench/bench.sh: pg_background against its peers, side by side in one run.
#
# One throwaway cluster (.run/bench/cluster, port 55601; fsync = off,
# shared_preload_libraries = 'pg_background'), started as the cluster owner
# (postgres when run as root, like scripts/test.sh) and stopped at exit.
# The cases are those of the targets of issue #16; each compares equal work:
#
#   select1  launch+result of SELECT 1, 1 client: ours with pool_size 4, 8
#            and 16 against dblink over a kept connection, dblink connecting
#            per call, and plain SELECT 1 (mean latency per repetition)
#   insert   inserts committed per second, 4 and 8 clients: ours with
#            launch+detach against dblink_exec over kept connections; the
#            clock runs from the start of pgbench until the LAST row has
#            landed (a detached job's commit is on the clock); client errors
#   cold     launch+result of SELECT 1 with pool_size 0 against dblink's
#            connect-and-query
#   rows     1M rows of (int, md5 text) through pg_background_result against
#            plain SQL and dblink over a kept connection (timed in the server)
#   cpu      CPU per job of every process of the cluster (and of pgbench),
#            component by component, for ours and dblink
#   pss      the proportional set size of parked pool workers
#   waits    what launchers and workers wait for under the insert load at
#            the largest client count (pg_stat_activity sampled every 10 ms):
#            time spent waiting for a lock of ours shows here
#   leak     BENCH_LEAK_COUNT launch+result in one session: its memory and
#            DSM mappings from the 2048th launch to the last
#
# Every case runs BENCH_REPS repetitions, the variants interleaved
# (round-robin) so that a noisy neighbour hurts all of them alike; the
# report gives medians of the repetitions, ratios of medians (ours/peer),
# the machine (load average at start and end) and PASS/MISS per target.
# The exit status is non-zero only on errors of the run (a statement that
# failed outside the insert load, a wrong result, a detached insert that
# never landed), never on a missed target; client errors under the insert
# load are what its target counts, so they are reported and make it MISS.
#
#   bash bench/bench.sh                  # the full run (~12-15 minutes, 2 cores)
#   BENCH_QUICK=1 bash bench/bench.sh    # smoke test: 1 repetition, short runs
#
# Settings (environment; BENCH_QUICK=1 changes the defaults in brackets):
#   BENCH_REPS        repetitions of every case (5) [1]
#   BENCH_SECONDS     pgbench -T of each select1/insert/cold run (5) [1]
#   BENCH_POOL_SIZE   the pool_size the targets are checked with (4)
#   BENCH_POOLS       pool sizes of select1 and insert (4 8 16) [4]
#   BENCH_CLIENTS     client counts of insert (4 8)
#   BENCH_ROWS        rows of the rows case (1000000) [100000]
#   BENCH_CPU_SECONDS pgbench -T of each cpu run; sampled from its 1st second
#                     to 1 s before its end (5) [3]
#   BENCH_LEAK_COUNT  launches of the leak case (100000) [3000]; the verdict
#                     needs more than 2048
#   BENCH_LEAK_INJECT every Nth launch of the leak case is never read nor
#                     detached (0: none): a deliberate leak, to see the
#                     verdict fail
#   BENCH_CASES       which cases run (select1 insert cold rows cpu waits pss
#                     leak);
#                     "fanout" (8 parallel jobs of ~BENCH_JOB_MS ms) is extra
#   BENCH_DIR, BENCH_PORT  where the cluster lives (.run/bench, 55601)
#   PG_BINDIR, PG_CONFIG   which PostgreSQL (scripts/lib.sh; default the
#                     system's PostgreSQL 15); pgbench and psql are taken
#                     from PG_BINDIR
#
# The extension must be built and installed into that PostgreSQL (scripts/
# test.sh does it); dblink comes with postgresql-contrib.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

BENCH_QUICK=${BENCH_QUICK:-0}
if [ "$BENCH_QUICK" = 1 ]; then
	q_reps=1 q_seconds=1 q_pools=4 q_rows=100000 q_cpu=3 q_leak=3000
else
	q_reps=5 q_seconds=5 q_pools="4 8 16" q_rows=1000000 q_cpu=5 q_leak=100000
fi
BENCH_DIR=${BENCH_DIR:-$PGBG_ROOT/.run/bench}
BENCH_PORT=${BENCH_PORT:-55601}
BENCH_REPS=${BENCH_REPS:-$q_reps}
BENCH_SECONDS=${BENCH_SECONDS:-$q_seconds}
BENCH_POOL_SIZE=${BENCH_POOL_SIZE:-4}
BENCH_POOLS=${BENCH_POOLS:-$q_pools}
BENCH_CLIENTS=${BENCH_CLIENTS:-4 8}
BENCH_ROWS=${BENCH_ROWS:-$q_rows}
BENCH_CPU_SECONDS=${BENCH_CPU_SECONDS:-$q_cpu}
BENCH_LEAK_COUNT=${BENCH_LEAK_COUNT:-$q_leak}
BENCH_LEAK_INJECT=${BENCH_LEAK_INJECT:-0}
BENCH_JOB_MS=${BENCH_JOB_MS:-500}
BENCH_CASES=${BENCH_CASES:-select1 insert cold rows cpu waits pss leak}
BENCH_WARMUP=${BENCH_WARMUP:-20}
BENCH_DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-120}
# The leak verdict's baseline: a session remembers its last 1024 consumed
# jobs, so its memory may grow during the first 1024 launches.
LEAK_BASE=2048
FANOUT=8
JOB_N=0 JOB_MS=nan JOB_SQL="(not run)"

# The pool sizes: BENCH_POOL_SIZE first, always.
POOLS="$BENCH_POOL_SIZE"
for p in $BENCH_POOLS; do
	case " $POOLS " in *" $p "*) ;; *) POOLS="$POOLS $p" ;; esac
done

PGBENCH=$PG_BINDIR/pgbench
PSQL=$PG_BINDIR/psql
CLUSTER=$BENCH_DIR/cluster
OUT=$BENCH_DIR/out
REPORT=$BENCH_DIR/report.txt
BENCH_SRC=$PGBG_ROOT/bench
CONN="host=$CLUSTER port=$BENCH_PORT dbname=bench user=postgres"
EXTRA_CONF="shared_preload_libraries = 'pg_background'
pg_background.pool_size = 0"

die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

psql_bench() {
	"$PSQL" -X -q -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -d bench -v ON_ERROR_STOP=1 "$@"
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

# med NAME: the median of the repetitions of variant NAME (nan: not run)
med() {
	if [ -s "$OUT/res/$1.txt" ]; then
		stats <"$OUT/res/$1.txt" | cut -d' ' -f1
	else
		echo nan
	fi
}

# ratio a b -> a/b with two decimals ("n/a" if either did not run: nan)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# runs case: does BENCH_CASES name it?
runs() { case " $BENCH_CASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# An error of the run: recorded, reported, and the exit status becomes 1.
ERRORS=0
record_error() {
	ERRORS=$((ERRORS + 1))
	printf '%s\n' "$*" >>"$OUT/errors.txt"
	log "ERROR: $*"
}

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

[ -x "$PGBENCH" ] || die "pgbench not found in $PG_BINDIR"
[ -f "$("$PG_CONFIG" --sharedir)/extension/dblink.control" ] || die "dblink not installed (postgresql-contrib)"
[ -f "$("$PG_CONFIG" --sharedir)/extension/pg_background.control" ] || die "pg_background not installed into $PG_CONFIG (make install)"

setup() {
	log "starting a throwaway cluster in $CLUSTER (port $BENCH_PORT)"
	mkdir -p "$BENCH_DIR"
	start_cluster "$CLUSTER" "$BENCH_PORT" "$EXTRA_CONF"
	trap 'stop_cluster "$CLUSTER"' EXIT
	rm -rf "$OUT"
	mkdir -p "$OUT/log" "$OUT/res" "$OUT/pgbench" "$OUT/scripts" "$OUT/cpu"
	: >"$OUT/errors.txt"
	: >"$OUT/client_errors.txt"
	"$PSQL" -X -q -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -d postgres -c 'CREATE DATABASE bench'
	psql_bench -f "$BENCH_SRC/sql/setup.sql"
	local f
	for f in "$BENCH_SRC"/pgbench/*.sql; do
		sed "s|@CONN@|$CONN|g" "$f" >"$OUT/scripts/$(basename "$f")"
	done
}

LOAD_START=
machine_info() {
	local model
	model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "== machine and run"
	printf '  date: %s   host: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(hostname)"
	printf '  nproc: %s   cpu: %s%s\n' "$(nproc)" "${model:-unknown}" \
		"$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*/ (virtual machine, hypervisor: /p' | sed 's/$/)/')"
	printf '  memory: %s MB   kernel: %s\n' \
		"$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)" "$(uname -r)"
	printf '  load average at start: %s\n' "$LOAD_START"
	printf '  server: %s\n' "$(sql_value 'SELECT version()')"
	printf '  pg_background %s (git %s), dblink %s; PG_BINDIR=%s\n' \
		"$(sql_value "SELECT extversion FROM pg_extension WHERE extname = 'pg_background'")" \
		"$(git -C "$PGBG_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$PGBG_ROOT" diff --quiet HEAD -- src sql 2>/dev/null || echo ', src or sql modified')" \
		"$(sql_value "SELECT extversion FROM pg_extension WHERE extname = 'dblink'")" "$PG_BINDIR"
	echo "  settings changed from initdb's defaults: fsync = off, max_worker_processes = 32,"
	echo "    listen_addresses = '' (Unix socket only), shared_preload_libraries = 'pg_background',"
	echo "    pg_background.pool_size switched per variant (ALTER SYSTEM + reload)"
	printf '  other settings: %s\n' "$(sql_value "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name)
		FROM unnest(ARRAY['shared_buffers', 'work_mem', 'synchronous_commit', 'max_connections', 'dynamic_shared_memory_type', 'pg_background.max_workers', 'pg_background.max_total_workers', 'pg_background.max_queued', 'pg_background.max_queued_per_role']) name")"
	printf '  run: BENCH_QUICK=%s BENCH_REPS=%s BENCH_SECONDS=%s BENCH_POOL_SIZE=%s BENCH_POOLS="%s" BENCH_CLIENTS="%s"\n' \
		"$BENCH_QUICK" "$BENCH_REPS" "$BENCH_SECONDS" "$BENCH_POOL_SIZE" "$POOLS" "$BENCH_CLIENTS"
	printf '       BENCH_ROWS=%s BENCH_CPU_SECONDS=%s BENCH_LEAK_COUNT=%s BENCH_LEAK_INJECT=%s BENCH_CASES="%s"\n' \
		"$BENCH_ROWS" "$BENCH_CPU_SECONDS" "$BENCH_LEAK_COUNT" "$BENCH_LEAK_INJECT" "$BENCH_CASES"
	echo "  clients: pgbench -n -M prepared and psql over the Unix socket, on the same machine"
	echo
}

# ---------------------------------------------------------------------------
# Helpers of the pgbench cases
# ---------------------------------------------------------------------------

# Wait until no pg_background job is queued or running.
wait_idle() {
	local _
	for _ in $(seq 1 600); do
		[ "$(sql_value "SELECT active + queued FROM pg_background_admission()")" = 0 ] && return 0
		sleep 0.1
	done
	die "pg_background jobs still running after 60 s"
}

# set_pool N: pg_background.pool_size = N for the sessions started from now.
CUR_POOL=
set_pool() {
	local _
	[ "$CUR_POOL" = "$1" ] && return 0
	sql_value "ALTER SYSTEM SET pg_background.pool_size = $1" >/dev/null
	sql_value "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 1 100); do
		if [ "$(sql_value 'SHOW pg_background.pool_size')" = "$1" ]; then
			CUR_POOL=$1
			return 0
		fi
		sleep 0.05
	done
	die "pg_background.pool_size did not become $1"
}

# The pgbench script and pool size of a variant (its name says both):
# *_poolN -> pool_size N, *_pool0 or no suffix -> 0.
variant_pool() {
	case $1 in
	*_pool[0-9]*) echo "${1##*_pool}" ;;
	*) echo 0 ;;
	esac
}
variant_script() {
	case $1 in
	select1_ours_* | cold_ours*) echo ours_select1 ;;
	select1_dblink_kept) echo dblink_kept_select1 ;;
	select1_dblink_new | cold_dblink_new) echo dblink_new_select1 ;;
	select1_plain) echo plain_select1 ;;
	insert_ours_*) echo ours_insert_detach ;;
	insert_dblink_kept) echo dblink_kept_insert ;;
	*) die "no script for variant $1" ;;
	esac
}

# pgbench_run OUT CLIENTS SCRIPT ARGS...: one pgbench run; its summary and
# messages go to OUT.txt.  Prints the transactions processed; a run with an
# error (exit status, aborted client, failed transaction) is recorded.
pgbench_run() {
	local out=$1 clients=$2 script=$3 st=0 n failed
	shift 3
	"$PGBENCH" -n -M prepared -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -c "$clients" -j "$clients" \
		-D connected=0 "$@" -f "$OUT/scripts/$script.sql" bench >"$out.txt" 2>&1 || st=$?
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out.txt")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out.txt")
	if [ "$st" != 0 ] || grep -q 'aborted in command' "$out.txt" || [ "${failed:-0}" != 0 ]; then
		if [ -n "${LOAD_RUN:-}" ] && [ -n "$n" ]; then
			# Under the insert load, client errors are what its target
			# counts: reported, not an error of the bench.
			printf '%s: %s\n' "$(basename "$out")" "$(grep -m1 -E 'ERROR|FATAL|aborted' "$out.txt" | sed 's/^pgbench: error: //')" \
				>>"$OUT/client_errors.txt"
		else
			record_error "pgbench $(basename "$out") (exit $st): $(grep -m1 -E 'ERROR|FATAL|aborted' "$out.txt" || echo 'no message')"
		fi
	fi
	echo "${n:-0}"
}

# client_errors OUT: the aborted clients and failed transactions of a run.
client_errors() {
	local a f
	a=$(grep -c 'aborted in command' "$1.txt" || true)
	f=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$1.txt")
	echo $((a + ${f:-0}))
}

# ---------------------------------------------------------------------------
# select1 and cold: one client, latency of launch+result (or of the peer)
# ---------------------------------------------------------------------------

# latency_run VARIANT REP: a warm-up, then pgbench -T; appends the mean
# latency in ms of every transaction but the first of the client (it
# connects dblink) to res/VARIANT.txt, and the median to res/VARIANT.p50.txt.
latency_run() {
	local v=$1 rep=$2 script prefix=$OUT/log/$1.r$2 n
	script=$(variant_script "$v")
	set_pool "$(variant_pool "$v")"
	log "$v (repetition $rep, ${BENCH_SECONDS}s)"
	pgbench_run "$OUT/pgbench/$v.r$rep.warmup" 1 "$script" -t "$BENCH_WARMUP" >/dev/null
	n=$(pgbench_run "$OUT/pgbench/$v.r$rep" 1 "$script" -T "$BENCH_SECONDS" --log --log-prefix="$prefix")
	[ "$n" -gt 1 ] || return 0
	awk '!seen[$1]++ { next } { s += $3; k++ } END { if (k) printf "%.4f\n", s / k / 1000 }' \
		"$prefix".* >>"$OUT/res/$v.txt"
	awk '!seen[$1]++ { next } { printf "%.4f\n", $3 / 1000 }' "$prefix".* | stats | cut -d' ' -f1 >>"$OUT/res/$v.p50.txt"
}

SELECT1_VARIANTS=
bench_select1() {
	local rep v p
	SELECT1_VARIANTS=
	for p in $POOLS; do SELECT1_VARIANTS="$SELECT1_VARIANTS select1_ours_pool$p"; done
	SELECT1_VARIANTS="$SELECT1_VARIANTS select1_dblink_kept select1_dblink_new select1_plain"
	for rep in $(seq 1 "$BENCH_REPS"); do
		for v in $SELECT1_VARIANTS; do latency_run "$v" "$rep"; done
	done
}

bench_cold() {
	local rep v
	for rep in $(seq 1 "$BENCH_REPS"); do
		for v in cold_ours_pool0 cold_dblink_new; do latency_run "$v" "$rep"; done
	done
}

# ---------------------------------------------------------------------------
# insert: inserts committed per second, the clock stopped by the last commit
# ---------------------------------------------------------------------------

# insert_run VARIANT CLIENTS REP: TRUNCATE t, then pgbench -T from t0; wait
# (deadline BENCH_DRAIN_TIMEOUT) until t holds one row per transaction
# processed; the rate is rows / (time the last row was inserted - t0).  The
# rows carry clock_timestamp() of their INSERT, which commits right after.
insert_run() {
	local v=$1 c=$2 rep=$3 script out=$OUT/pgbench/$1.c$2.r$3 n t0 res rows last errs
	script=$(variant_script "$v")
	set_pool "$(variant_pool "$v")"
	# Warm-up (the pool fills, the dblink connections open), outside the clock.
	pgbench_run "$out.warmup" "$c" "$script" -t "$BENCH_WARMUP" >/dev/null
	wait_idle
	sql_value 'TRUNCATE t' >/dev/null
	log "$v, $c clients (repetition $rep, ${BENCH_SECONDS}s)"
	t0=$(date +%s.%N)
	n=$(LOAD_RUN=1 pgbench_run "$out" "$c" "$script" -T "$BENCH_SECONDS")
	res=$(sql_value "SELECT * FROM bench_wait_rows($n, $BENCH_DRAIN_TIMEOUT)")
	read -r rows last <<<"$(echo "$res" | tr '|' ' ')"
	errs=$(client_errors "$out")
	if [ "$rows" != "$n" ]; then
		record_error "$v, $c clients, repetition $rep: $n transactions, $rows rows after ${BENCH_DRAIN_TIMEOUT} s"
	fi
	awk -v n="$rows" -v t0="$t0" -v t1="$last" 'BEGIN { if (n > 0 && t1 > t0) printf "%.1f\n", n / (t1 - t0) }' \
		>>"$OUT/res/$v.c$c.txt"
	# What the client saw: transactions per second of the run alone.
	awk -v n="$n" -v s="$BENCH_SECONDS" 'BEGIN { printf "%.1f\n", n / s }' >>"$OUT/res/$v.c$c.client.txt"
	echo "$errs" >>"$OUT/res/$v.c$c.errors.txt"
	awk -v t0="$t0" -v t1="$last" 'BEGIN { printf "%.3f\n", t1 - t0 }' >>"$OUT/res/$v.c$c.wall.txt"
	wait_idle
	sql_value 'TRUNCATE t' >/dev/null
}

INSERT_VARIANTS=
bench_insert() {
	local rep c v p
	INSERT_VARIANTS=
	for p in $POOLS; do INSERT_VARIANTS="$INSERT_VARIANTS insert_ours_pool$p"; done
	INSERT_VARIANTS="$INSERT_VARIANTS insert_dblink_kept"
	for rep in $(seq 1 "$BENCH_REPS"); do
		for c in $BENCH_CLIENTS; do
			for v in $INSERT_VARIANTS; do insert_run "$v" "$c" "$rep"; done
		done
	done
}

# ---------------------------------------------------------------------------
# rows (and fanout): one psql session, each statement timed in the server by
# bench_time(), variants interleaved; run 0 is untimed and checks the result
# ---------------------------------------------------------------------------

calibrate() {
	local n0=5000000 med
	log "calibrating the fanout job to ${BENCH_JOB_MS} ms"
	sql_value "SELECT count(*) FROM (SELECT generate_series(1, $n0)) s" >/dev/null
	med=$(for _ in 1 2 3; do sql_value "SELECT bench_time('SELECT count(*) FROM (SELECT generate_series(1, $n0)) s')"; done | stats | cut -d' ' -f1)
	JOB_N=$(awk -v n="$n0" -v m="$med" -v t="$BENCH_JOB_MS" 'BEGIN { printf "%d", int(n * t / m / 100000 + 0.5) * 100000 }')
	[ "$JOB_N" -ge 100000 ] || JOB_N=100000
	JOB_SQL="SELECT count(*) FROM (SELECT generate_series(1, $JOB_N)) s"
	JOB_MS=$(for _ in 1 2 3; do sql_value "SELECT bench_time('$JOB_SQL')"; done | stats | cut -d' ' -f1)
}

bench_rows() {
	local rows_sql="SELECT g, md5(g::text) FROM generate_series(1,$BENCH_ROWS) g"
	local -a names queries
	names=() queries=()
	if runs rows; then
		names+=(rows_ours_pool"$BENCH_POOL_SIZE" rows_plain rows_dblink_kept rows_plain_fn)
		queries+=(
			"SELECT count(*), sum(length(m)) FROM pg_background_result(pg_background_launch('$rows_sql')) AS (g int, m text)"
			"SELECT count(*), sum(length(m)) FROM ($rows_sql) AS s(g, m)"
			"SELECT count(*), sum(length(m)) FROM dblink('bench_k', '$rows_sql') AS t(g int, m text)"
			"SELECT count(*), sum(length(m)) FROM bench_srf('$rows_sql') AS f(g int, m text)"
		)
	fi
	if runs fanout; then
		names+=(fanout_ours_pool"$BENCH_POOL_SIZE" fanout_dblink_kept fanout_plain)
		queries+=(
			"SELECT sum(n) FROM unnest(ARRAY(SELECT pg_background_launch('$JOB_SQL') FROM generate_series(1, $FANOUT))) AS p, LATERAL pg_background_result(p) AS r(n bigint)"
			"SELECT bench_dblink_fanout('$JOB_SQL', $FANOUT)"
			"SELECT sum(n) FROM generate_series(1, $FANOUT) AS i, LATERAL (SELECT count(*) AS n FROM (SELECT generate_series(1, $JOB_N + 0 * i)) s) AS j"
		)
	fi
	set_pool "$BENCH_POOL_SIZE"
	local script=$OUT/rows.sql rep k
	{
		echo "\\pset format unaligned"
		echo "\\pset tuples_only on"
		echo "\\pset fieldsep '|'"
		echo "\\o /dev/null"
		echo "SELECT dblink_connect('bench_k', '$CONN');"
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
	log "rows/fanout: $((BENCH_REPS + 1)) runs of ${#names[@]} variants, interleaved"
	psql_bench -f "$script" >"$OUT/rows.out" || die "the rows session failed"
	for k in "${!names[@]}"; do
		awk -F'|' -v n="${names[$k]}" '$1 == "M" && $2 == n { print $4 }' "$OUT/rows.out" >"$OUT/res/${names[$k]}.txt"
	done
	local want_r="($BENCH_ROWS,$((BENCH_ROWS * 32)))" want_f="($((FANOUT * JOB_N)))" bad=
	while IFS='|' read -r tag name result; do
		[ "$tag" = R ] || continue
		case $name in
		rows_*) [ "$result" = "$want_r" ] || bad="$bad $name=$result" ;;
		fanout_*) [ "$result" = "$want_f" ] || bad="$bad $name=$result" ;;
		esac
	done <"$OUT/rows.out"
	[ -z "$bad" ] || record_error "wrong results:$bad (expected rows $want_r, fanout $want_f)"
}

# ---------------------------------------------------------------------------
# cpu: CPU time of every process of the cluster per job
# ---------------------------------------------------------------------------

# cpu_sample FILE: one line per child of the postmaster ("pid ns title"),
# the postmaster itself ("pm ns"), its reaped children ("reaped ticks": the
# cutime + cstime of /proc/PID/stat, clock ticks) and pgbench ("client
# ticks": utime + stime of all its threads); the first line is the time
# (epoch seconds).
cpu_sample() {
	local file=$1 pm=$2 client=$3
	perl -e '
		use Time::HiRes qw(time);
		my ($pm, $client) = @ARGV;
		sub slurp { open(my $f, "<", $_[0]) or return ""; local $/; my $s = <$f>; return defined $s ? $s : "" }
		# Fields of /proc/PID/stat after "(comm)": state ppid ... utime
		# (12th) stime cutime cstime.
		sub statf { my $s = slurp("/proc/$_[0]/stat"); $s =~ s/^.*\) //s; return split(/ /, $s) }
		printf "%.6f\n", time;
		opendir(my $d, "/proc") or die;
		for my $pid (grep { /^\d+$/ } readdir($d)) {
			my @f = statf($pid);
			next unless @f && $f[1] == $pm;
			my ($ns) = split(/ /, slurp("/proc/$pid/schedstat"));
			(my $title = slurp("/proc/$pid/cmdline")) =~ s/\0/ /g;
			$title =~ s/ +$//;
			print "$pid ", ($ns // 0), " $title\n";
		}
		my ($pmns) = split(/ /, slurp("/proc/$pm/schedstat"));
		print "pm $pmns\n";
		my @p = statf($pm);
		print "reaped ", $p[13] + $p[14], "\n";
		my @c = statf($client);
		print "client ", (@c ? $c[11] + $c[12] : 0), "\n";
	' "$pm" "$client" >"$file"
}

# cpu_run NAME CLIENTS POOL SCRIPT: pgbench -T BENCH_CPU_SECONDS, sampled
# after 1 s and 1 s before the end; writes cpu/NAME.txt: "component
# microseconds-per-job" lines, and the jobs of the window.
cpu_run() {
	local name=$1 c=$2 pool=$3 script=$4 pm pid prefix=$OUT/log/cpu_$1 a b jobs ta tb
	local hold=$((BENCH_CPU_SECONDS - 2))
	[ "$hold" -ge 1 ] || hold=1
	set_pool "$pool"
	pgbench_run "$OUT/pgbench/cpu_$name.warmup" "$c" "$script" -t "$BENCH_WARMUP" >/dev/null
	wait_idle
	pm=$(head -n1 "$CLUSTER/data/postmaster.pid")
	log "cpu: $name ($c clients, ${BENCH_CPU_SECONDS}s)"
	"$PGBENCH" -n -M prepared -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -c "$c" -j "$c" -D connected=0 \
		-T "$BENCH_CPU_SECONDS" --log --log-prefix="$prefix" -f "$OUT/scripts/$script.sql" bench \
		>"$OUT/pgbench/cpu_$name.txt" 2>&1 &
	pid=$!
	sleep 1
	a=$OUT/cpu/$name.a b=$OUT/cpu/$name.b
	cpu_sample "$a" "$pm" "$pid"
	sleep "$hold"
	cpu_sample "$b" "$pm" "$pid"
	# A window not inside the run makes the figures wrong, not the bench.
	kill -0 "$pid" 2>/dev/null || echo "pgbench ended before the second sample" >"$OUT/cpu/$name.invalid"
	# Which client backends are pgbench's (the others are dblink's peers).
	sql_value "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name = 'pgbench'" \
		>"$OUT/cpu/$name.pgbench_pids"
	# Client errors (the insert load) are reported with those of the
	# insert case; they end the run early, which the check above shows.
	wait "$pid" || printf 'cpu_%s: %s\n' "$name" "$(grep -m1 -E 'ERROR|aborted' "$OUT/pgbench/cpu_$name.txt" | sed 's/^pgbench: error: //')" \
		>>"$OUT/client_errors.txt"
	ta=$(head -n1 "$a")
	tb=$(head -n1 "$b")
	# Jobs: transactions that ended in the window (log: time_epoch time_us).
	jobs=$(cat "$prefix".* | awk -v a="$ta" -v b="$tb" '{ t = $5 + $6 / 1e6; if (t > a && t <= b) n++ } END { print n + 0 }')
	wait_idle
	sql_value 'TRUNCATE t' >/dev/null
	awk -v jobs="$jobs" -v hz="$(getconf CLK_TCK)" '
		FILENAME == ARGV[1] { if (NF == 1) pg[$1] = 1; next }
		FNR == 1 { next }
		FILENAME == ARGV[2] { a[$1] = $2; next }
		{
			if ($1 == "pm") { c = "postmaster"; d = $2 - a[$1] }
			else if ($1 == "reaped") { c = "exited children (reaped by the postmaster)"; d = ($2 - a[$1]) * 1e9 / hz }
			else if ($1 == "client") { c = "pgbench (the client program, all threads)"; d = ($2 - a[$1]) * 1e9 / hz }
			else {
				d = $2 - (($1 in a) ? a[$1] : 0)
				if ($0 ~ /pg_background dispatcher/) c = "pg_background dispatcher"
				else if ($0 ~ /pg_background worker/) c = "pg_background workers"
				else if ($1 in pg) c = "client backends of pgbench (ours: the launcher)"
				else if ($0 ~ /postgres: postgres bench/) c = "other client backends (dblink peer)"
				else c = "other server processes"
			}
			sum[c] += d
			if (c != "pgbench (the client program, all threads)") server += d
		}
		END {
			printf "jobs %d\n", jobs
			for (c in sum) printf "%s\t%.1f\n", c, (jobs ? sum[c] / jobs / 1000 : 0)
			printf "server total\t%.1f\n", (jobs ? server / jobs / 1000 : 0)
		}' "$OUT/cpu/$name.pgbench_pids" "$a" "$b" >"$OUT/cpu/$name.txt"
}

bench_cpu() {
	local p=$BENCH_POOL_SIZE
	cpu_run "select1_ours_pool$p" 1 "$p" ours_select1
	cpu_run select1_dblink_kept 1 "$p" dblink_kept_select1
	cpu_run cold_ours_pool0 1 0 ours_select1
	cpu_run cold_dblink_new 1 0 dblink_new_select1
	cpu_run "insert4_ours_pool$p" 4 "$p" ours_insert_detach
	cpu_run insert4_dblink_kept 4 "$p" dblink_kept_insert
}

# ---------------------------------------------------------------------------
# waits: what the processes of the insert load wait for
# ---------------------------------------------------------------------------

# One pgbench run of launch+detach inserts (the largest client count of
# BENCH_CLIENTS, pool_size BENCH_POOL_SIZE) while one session samples the
# wait events of pgbench's backends (the launchers) and of the workers
# every 10 ms, 300 times.  The samples go to waits.txt: count|kind|event.
bench_waits() {
	local c pid
	c=$(echo "$BENCH_CLIENTS" | tr ' ' '\n' | sort -n | tail -n1)
	set_pool "$BENCH_POOL_SIZE"
	pgbench_run "$OUT/pgbench/waits.warmup" "$c" ours_insert_detach -t "$BENCH_WARMUP" >/dev/null
	wait_idle
	log "waits: launch+detach inserts, $c clients, pool_size $BENCH_POOL_SIZE, sampled for 3 s"
	LOAD_RUN=1 pgbench_run "$OUT/pgbench/waits" "$c" ours_insert_detach -T 5 >/dev/null &
	pid=$!
	sleep 1
	psql_bench -At -F '|' -f - >"$OUT/waits.txt" <<SQL
CREATE TEMP TABLE waits (kind text, event text);
DO \$\$
BEGIN
	FOR i IN 1..300 LOOP
		INSERT INTO waits
		SELECT CASE WHEN backend_type = 'client backend' THEN 'launcher' ELSE 'worker' END,
			   coalesce(wait_event_type || ':' || wait_event, 'on CPU')
		  FROM pg_stat_activity
		 WHERE pid <> pg_backend_pid()
		   AND (application_name = 'pgbench' OR backend_type = 'pg_background');
		PERFORM pg_sleep(0.01);
	END LOOP;
END
\$\$;
SELECT count(*), kind, event FROM waits GROUP BY kind, event ORDER BY kind, count(*) DESC;
SQL
	wait "$pid" || true
	printf '%s\n' "$c" >"$OUT/waits.clients"
	wait_idle
	sql_value 'TRUNCATE t' >/dev/null
}

# ---------------------------------------------------------------------------
# pss: the proportional set size of parked pool workers
# ---------------------------------------------------------------------------

bench_pool_pss() {
	local pid pss pids='' pm _
	pm=$(head -n1 "$CLUSTER/data/postmaster.pid")
	set_pool "$BENCH_POOL_SIZE"
	log "pgbench through the pool, then the PSS of the parked workers"
	pgbench_run "$OUT/pgbench/pss" 2 ours_select1 -T 3 -f "$OUT/scripts/ours_insert_result.sql" >/dev/null
	wait_idle
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
}

# ---------------------------------------------------------------------------
# leak: memory and DSM mappings of one session over many launches
# ---------------------------------------------------------------------------

bench_leak() {
	local every=$(((BENCH_LEAK_COUNT - LEAK_BASE) / 8))
	[ "$every" -ge 1 ] || every=1
	set_pool "$BENCH_POOL_SIZE"
	log "leak: $BENCH_LEAK_COUNT launch+result of SELECT 1 in one session (inject: $BENCH_LEAK_INJECT)"
	sql_value 'TRUNCATE leak_samples' >/dev/null
	pgbench_run "$OUT/pgbench/leak" 1 leak -t "$BENCH_LEAK_COUNT" -D n=0 -D base="$LEAK_BASE" \
		-D every="$every" -D inject="$BENCH_LEAK_INJECT" >/dev/null
}

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

# fmt VALUE: a median with three significant decimals, or "-" (not run)
fmt() { awk -v v="$1" -v d="${2:-3}" 'BEGIN { if (v == "nan" || v == "") print "-"; else printf "%." d "f", v }'; }

# line LABEL VALUE...: a row of the summary
line() {
	local label=$1
	shift
	printf '    %-58s' "$label"
	printf ' %9s' "$@"
	echo
}

report_summary() {
	local p k=$BENCH_POOL_SIZE c
	echo "== summary: medians of $BENCH_REPS repetitions; every ratio is ours/peer of medians"
	echo
	if runs select1; then
		echo "  launch+result of SELECT 1, 1 client, mean latency per repetition (ms; lower is better)"
		line variant ms "/dbl.kept" "/dbl.new"
		for p in $POOLS; do
			line "ours: launch+result, pool_size $p" "$(fmt "$(med select1_ours_pool"$p")")" \
				"$(ratio "$(med select1_ours_pool"$p")" "$(med select1_dblink_kept)")" \
				"$(ratio "$(med select1_ours_pool"$p")" "$(med select1_dblink_new)")"
		done
		line "dblink('bench', 'SELECT 1'), connection kept" "$(fmt "$(med select1_dblink_kept)")"
		line "dblink(connstr, 'SELECT 1'), connect per call" "$(fmt "$(med select1_dblink_new)")"
		line "plain SELECT 1 in the session" "$(fmt "$(med select1_plain)")"
		echo
	fi
	if runs insert; then
		echo "  inserts committed per second, from the start of pgbench until the last row landed (higher is better)"
		printf '    %-50s' variant
		for c in $BENCH_CLIENTS; do printf ' %9s %7s %6s' "${c} cl/s" "/dblink" errors; done
		printf ' %s\n' "change ${BENCH_CLIENTS// /->} clients"
		for v in $INSERT_VARIANTS; do
			case $v in
			insert_ours_pool*) printf '    %-50s' "ours: launch+detach, pool_size ${v##*_pool}" ;;
			*) printf '    %-50s' "dblink_exec('bench', ...), connections kept" ;;
			esac
			local first='' last=''
			for c in $BENCH_CLIENTS; do
				printf ' %9s %7s %6s' "$(fmt "$(med "$v.c$c")" 0)" "$(ratio "$(med "$v.c$c")" "$(med "insert_dblink_kept.c$c")")" \
					"$(awk '{ s += $1 } END { print s + 0 }' "$OUT/res/$v.c$c.errors.txt" 2>/dev/null || echo -)"
				[ -n "$first" ] || first=$(med "$v.c$c")
				last=$(med "$v.c$c")
			done
			printf ' %s\n' "$(ratio "$last" "$first")x"
		done
		echo "    (client-side rate, transactions/s while pgbench ran, for comparison:"
		for v in $INSERT_VARIANTS; do
			printf '      %-28s' "$v"
			for c in $BENCH_CLIENTS; do printf ' %s clients: %s' "$c" "$(fmt "$(med "$v.c$c.client")" 0)"; done
			echo
		done
		echo "    errors: aborted clients + failed transactions, summed over the repetitions)"
		echo
	fi
	if runs cold; then
		echo "  cold launch+result of SELECT 1 (pool_size 0), 1 client, mean latency (ms)"
		line variant ms "/dbl.new"
		line "ours: launch+result, pool_size 0" "$(fmt "$(med cold_ours_pool0)")" \
			"$(ratio "$(med cold_ours_pool0)" "$(med cold_dblink_new)")"
		line "dblink(connstr, 'SELECT 1'), connect per call" "$(fmt "$(med cold_dblink_new)")"
		echo
	fi
	if runs rows; then
		echo "  $BENCH_ROWS rows of (int, md5 text), count(*) and sum(length(m)) over them, timed in the server (ms)"
		line variant ms "/plain" "/dbl.kept"
		line "ours: pg_background_result, default queue, pool_size $k" "$(fmt "$(med rows_ours_pool"$k")" 1)" \
			"$(ratio "$(med rows_ours_pool"$k")" "$(med rows_plain)")" "$(ratio "$(med rows_ours_pool"$k")" "$(med rows_dblink_kept)")"
		line "plain SQL in the session" "$(fmt "$(med rows_plain)" 1)"
		line "dblink('bench', ...), connection kept" "$(fmt "$(med rows_dblink_kept)" 1)"
		line "plain SQL, rows through a plpgsql function (RETURN QUERY)" "$(fmt "$(med rows_plain_fn)" 1)"
		echo
	fi
	if runs fanout; then
		echo "  $FANOUT parallel jobs of ${JOB_MS} ms ($JOB_SQL), timed in the server (ms)"
		line "ours: 8 launches then 8 results, pool_size $k" "$(fmt "$(med fanout_ours_pool"$k")" 1)"
		line "dblink_send_query on 8 kept connections" "$(fmt "$(med fanout_dblink_kept)" 1)"
		line "the 8 jobs one after the other in the session" "$(fmt "$(med fanout_plain)" 1)"
		echo
	fi
}

# verdict LABEL VALUE OP LIMIT [extra condition: 1 = holds]
verdict() {
	local label=$1 value=$2 op=$3 limit=$4 extra=${5:-1} note=${6:-}
	printf '  %-70s %6s %s %-5s %s%s\n' "$label" "$value" "$op" "$limit" \
		"$(awk -v v="$value" -v l="$limit" -v op="$op" -v x="$extra" 'BEGIN {
			if (v == "n/a") print "NOT RUN"
			else if (x != 1) print "MISS"
			else if (op == "<=") print (v <= l) ? "PASS" : "MISS"
			else print (v >= l) ? "PASS" : "MISS" }')" "${note:+  ($note)}"
}

report_targets() {
	local k=$BENCH_POOL_SIZE c errs first='' r all_errs=0
	echo "== targets of issue #16 (ours with pool_size $k; ratios of medians)"
	verdict "pooled SELECT 1 launch+result / dblink, connection kept" \
		"$(ratio "$(med select1_ours_pool"$k")" "$(med select1_dblink_kept)")" "<=" 1.25 1 "aim 1.0"
	for c in $BENCH_CLIENTS; do
		errs=$(awk '{ s += $1 } END { print s + 0 }' "$OUT/res/insert_ours_pool$k.c$c.errors.txt" 2>/dev/null || echo 0)
		verdict "inserts committed/s, launch+detach / dblink_exec kept, $c clients, no error" \
			"$(ratio "$(med "insert_ours_pool$k.c$c")" "$(med "insert_dblink_kept.c$c")")" ">=" 0.5 \
			"$([ "$errs" = 0 ] && echo 1 || echo 0)" "client errors: $errs; aim 1.0"
		all_errs=$((all_errs + errs))
		if [ -z "$first" ]; then
			first=$c
		else
			r=$(ratio "$(med "insert_ours_pool$k.c$c")" "$(med "insert_ours_pool$k.c$first")")
			# Clients that abort stop early, which can raise the rate of the
			# others: with client errors, no verdict of "no drop" holds.
			verdict "inserts committed/s, ours at $c clients / at $first clients (no drop, no error)" "$r" ">=" 1.00 \
				"$([ "$all_errs" = 0 ] && echo 1 || echo 0)"
		fi
	done
	verdict "cold launch+result (pool_size 0) / dblink connect-and-query" \
		"$(ratio "$(med cold_ours_pool0)" "$(med cold_dblink_new)")" "<=" 1.0
	verdict "$BENCH_ROWS rows through pg_background_result / plain SQL" \
		"$(ratio "$(med rows_ours_pool"$k")" "$(med rows_plain)")" "<=" 1.15
	if [ -s "$OUT/pool_pss.txt" ]; then
		verdict "idle pooled worker, largest PSS in MB (issue #12)" \
			"$(awk '{ if ($2 > m) m = $2 } END { printf "%.2f", m / 1024 }' "$OUT/pool_pss.txt")" "<=" 5 1 \
			"pid and PSS kB: $(tr '\n' ';' <"$OUT/pool_pss.txt" | sed 's/;$//')"
	fi
	echo
}

# report_waits: the share of the samples of each kind of process (launchers,
# workers) per wait event, largest first; "on CPU" is no wait event.
report_waits() {
	[ -s "$OUT/waits.txt" ] || return 0
	echo "== what launchers and workers wait for: launch+detach inserts, $(cat "$OUT/waits.clients") clients,"
	echo "   pool_size $BENCH_POOL_SIZE, pg_stat_activity sampled 300 times (share of each kind's samples;"
	echo "   Client:ClientRead is a launcher waiting for pgbench, Extension:Extension mostly a parked worker)"
	awk -F'|' '{ n[$2] += $1; row[NR] = $0 }
		END { for (i = 1; i <= NR; i++) { split(row[i], f, "|");
			printf "  %-9s %-40s %6d  %5.1f%%\n", f[2], f[3], f[1], 100 * f[1] / n[f[2]] } }' "$OUT/waits.txt"
	echo
}

report_cpu() {
	local names='' n comp
	for n in "select1_ours_pool$BENCH_POOL_SIZE" select1_dblink_kept cold_ours_pool0 cold_dblink_new \
		"insert4_ours_pool$BENCH_POOL_SIZE" insert4_dblink_kept; do
		[ -s "$OUT/cpu/$n.txt" ] && names="$names $n"
	done
	[ -n "$names" ] || return 0
	echo "== CPU per job, microseconds, by process (one pgbench run of ${BENCH_CPU_SECONDS}s each, sampled from"
	echo "   its 1st second to 1 s before its end: /proc/PID/schedstat of every child of the postmaster, the"
	echo "   postmaster's own, and its cutime+cstime for the children that exited in between)"
	printf '  %-48s' component
	for n in $names; do printf ' %20s' "$n"; done
	echo
	while IFS= read -r comp; do
		printf '  %-48s' "$comp"
		for n in $names; do
			printf ' %20s' "$(awk -F'\t' -v c="$comp" '$1 == c { v = $2 } END { print (v == "") ? "0.0" : v }' "$OUT/cpu/$n.txt")"
		done
		echo
	done <<'EOF'
client backends of pgbench (ours: the launcher)
pg_background workers
pg_background dispatcher
other client backends (dblink peer)
postmaster
exited children (reaped by the postmaster)
other server processes
server total
pgbench (the client program, all threads)
EOF
	printf '  %-48s' "jobs in the window"
	for n in $names; do printf ' %20s' "$(sed -n 's/^jobs //p' "$OUT/cpu/$n.txt")"; done
	echo
	for n in $names; do
		[ ! -f "$OUT/cpu/$n.invalid" ] ||
			echo "  $n: INVALID, pgbench ended before the second sample (raise BENCH_CPU_SECONDS)"
	done
	echo
}

report_raw() {
	local f
	echo "== every repetition (res/*.txt: ms for latencies, rows/s for inserts)"
	for f in "$OUT"/res/*.txt; do
		[ -s "$f" ] || continue
		printf '  %-40s %s\n' "$(basename "$f" .txt)" "$(tr '\n' ' ' <"$f")"
	done
	echo
}

report_leak() {
	local inject_note=''
	[ "$BENCH_LEAK_INJECT" = 0 ] || inject_note=" (INJECTED LEAK: every ${BENCH_LEAK_INJECT}th launch is never read nor detached)"
	echo "== leak: $BENCH_LEAK_COUNT launch+result of SELECT 1 in one session, pool_size $BENCH_POOL_SIZE$inject_note"
	printf '  %s; %s\n' "$(grep -E '^latency average' "$OUT/pgbench/leak.txt" || echo 'no latency')" \
		"$(grep -E '^tps' "$OUT/pgbench/leak.txt" | sed 's/ (.*//' || true)"
	psql_bench -c "SELECT n AS launches, pid, ctx_bytes AS \"memory contexts (bytes)\",
		pgbg_ctx_bytes AS \"pg_background session ctx\", rss_kb AS \"RSS kB\", pss_kb AS \"PSS kB\",
		pss_anon_kb AS \"PSS anon kB\", dsm_segments AS \"DSM mapped\",
		to_char(taken_at, 'HH24:MI:SS') AS at
		FROM leak_samples ORDER BY n" | sed 's/^/  /'
	# The verdict compares the sample at LEAK_BASE launches with the last
	# one; without both (and launches in between) there is none.
	local last
	last=$(sql_value "SELECT coalesce(max(n), 0) FROM leak_samples")
	if [ "$(sql_value "SELECT count(*) FROM leak_samples WHERE n = $LEAK_BASE")" != 1 ] || [ "$last" -le "$LEAK_BASE" ]; then
		echo "  verdict: not enough samples (the baseline is the sample at $LEAK_BASE launches; BENCH_LEAK_COUNT=$BENCH_LEAK_COUNT must exceed it)"
		echo
		return 0
	fi
	psql_bench -At -F' ' -c "SELECT
		(SELECT count(DISTINCT pid) FROM leak_samples),
		l.ctx_bytes - f.ctx_bytes, l.pgbg_ctx_bytes - f.pgbg_ctx_bytes,
		l.rss_kb - f.rss_kb, l.pss_anon_kb - f.pss_anon_kb,
		(SELECT max(dsm_segments) - min(dsm_segments) FROM leak_samples WHERE n >= $LEAK_BASE)
		FROM leak_samples f, leak_samples l
		WHERE f.n = $LEAK_BASE AND l.n = $last" |
		while read -r npid dctx dpgbg drss danon ddsm; do
			printf '  from %d to %d launches: memory contexts %+d bytes (pg_background session %+d), RSS %+d kB, PSS anon %+d kB, DSM mapped varies by %d\n' \
				"$LEAK_BASE" "$last" "$dctx" "$dpgbg" "$drss" "$danon" "$ddsm"
			if [ "$npid" = 1 ] && [ "$dctx" -le 0 ] && [ "$danon" -le 1024 ] && [ "$ddsm" = 0 ]; then
				echo "  verdict: PASS, flat (one backend; contexts did not grow; PSS anon grew <= 1 MB; DSM mappings constant)"
			else
				echo "  verdict: FAIL, not flat (one backend: $([ "$npid" = 1 ] && echo yes || echo no); contexts must not grow, PSS anon <= +1 MB, DSM mappings constant)"
			fi
		done
	echo
}

main() {
	setup
	machine_info
	! runs select1 || bench_select1
	! runs insert || bench_insert
	! runs cold || bench_cold
	! runs fanout || calibrate
	if runs rows || runs fanout; then bench_rows; fi
	! runs cpu || bench_cpu
	! runs waits || bench_waits
	! runs pss || bench_pool_pss
	! runs leak || bench_leak
	report_summary
	report_targets
	report_cpu
	! runs waits || report_waits
	! runs leak || report_leak
	report_raw
	printf 'load average at start: %s   at end: %s   (the machine is shared; other work shows here)\n' \
		"$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
	if [ -s "$OUT/client_errors.txt" ]; then
		echo "client errors under the insert load ($(wc -l <"$OUT/client_errors.txt") runs with errors, cpu runs included; the first of each run):"
		sed 's/^/  /' "$OUT/client_errors.txt"
	fi
	if [ -s "$OUT/errors.txt" ]; then
		echo "ERRORS ($(wc -l <"$OUT/errors.txt")):"
		sed 's/^/  /' "$OUT/errors.txt"
	else
		echo "errors: none"
	fi
	log "report written to $REPORT; raw data in $OUT"
	[ ! -s "$OUT/errors.txt" ]
}

mkdir -p "$BENCH_DIR"
main "$@" | tee "$REPORT"
exit "${PIPESTATUS[0]}"
