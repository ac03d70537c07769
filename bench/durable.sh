#!/usr/bin/env bash
# bench/durable.sh: the costs of durable jobs (docs/durable.md).
#
# One throwaway cluster (.run/bench/durable, port 55603; fsync off, as in
# bench.sh), pg_background preloaded, stopped at exit.  Three measures:
#
#   (1) enqueue cost: pgbench -c 1 for DURABLE_SECONDS each, interleaved
#       DURABLE_ROUNDS times: SELECT pg_background_enqueue(...) of a job due
#       in a day (so that none runs meanwhile; each commit still wakes the
#       runner) against a plain INSERT of the same text into a table with a
#       bigserial key.  Median latency of each, and the ratio (target
#       <= 1.5).
#   (2) commit-to-start latency: DURABLE_LATENCY_JOBS jobs, one at a time;
#       the enqueuing transaction records clock_timestamp() in its last
#       statement, the job records clock_timestamp() in its first; median
#       and p99 of the difference (it includes the commit itself).  Once
#       with the pool off, once with pool_size 4.
#   (3) throughput at 4 clients: pgbench -c 4 enqueues DURABLE_JOBS jobs
#       that insert a row; jobs per second = jobs / (last job's end - first
#       enqueue), from the server's clock.  The same with
#       pg_background_submit_v2 + detach_v2, the pool off (as in bench.sh's
#       plain variants) and pg_background.max_total_workers =
#       DURABLE_WORKERS, so that both run as many jobs at once (the queue
#       limits are raised to hold every job).  Ratio durable / submit_v2
#       (target >= 0.5).
#
#   bash bench/durable.sh                         # ~2 minutes
#   DURABLE_SECONDS=3 DURABLE_ROUNDS=1 bash bench/durable.sh
#
# Settings (environment): DURABLE_SECONDS (10), DURABLE_ROUNDS (2),
# DURABLE_LATENCY_JOBS (200), DURABLE_JOBS (2000), DURABLE_WORKERS
# (pg_background.durable_workers and max_total_workers, 4), BENCH_DIR
# (.run/bench), BENCH_PORT (55603).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

BENCH_DIR=${BENCH_DIR:-$PGBG_ROOT/.run/bench}
BENCH_PORT=${BENCH_PORT:-55603}
DURABLE_SECONDS=${DURABLE_SECONDS:-10}
DURABLE_ROUNDS=${DURABLE_ROUNDS:-2}
DURABLE_LATENCY_JOBS=${DURABLE_LATENCY_JOBS:-200}
DURABLE_WORKERS=${DURABLE_WORKERS:-4}
DURABLE_JOBS=${DURABLE_JOBS:-2000}
CLUSTER=$BENCH_DIR/durable
OUT=$CLUSTER/out

start_cluster "$CLUSTER" "$BENCH_PORT" "shared_preload_libraries = 'pg_background'
pg_background.durable_workers = $DURABLE_WORKERS
pg_background.max_total_workers = $DURABLE_WORKERS
pg_background.pool_size = 0
pg_background.max_jobs = $((DURABLE_JOBS + 1000))
pg_background.max_queued = $((DURABLE_JOBS + 100))
pg_background.max_queued_per_role = -1"
trap 'stop_cluster "$CLUSTER"' EXIT
as_owner mkdir -p "$OUT"

psql_q() { as_owner "$PG_BINDIR/psql" -X -q -A -t -h "$CLUSTER" -p "$BENCH_PORT" -U postgres -d bench "$@"; }
as_owner "$PG_BINDIR/createdb" -h "$CLUSTER" -p "$BENCH_PORT" -U postgres bench
psql_q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_background;
CREATE TABLE plain (id bigserial PRIMARY KEY, sql text NOT NULL);
CREATE TABLE done_d (at timestamptz DEFAULT clock_timestamp());
CREATE TABLE done_s (at timestamptz DEFAULT clock_timestamp());
CREATE TABLE lat (k int, committed timestamptz, started timestamptz);
SQL

# pgbench -c $1 of script $2 for DURABLE_SECONDS (or $4 transactions per
# client); per-transaction latencies (ms) appended to $3.
run_pgbench() {
	local clients=$1 script=$2 lat=$3 count=${4:-} prefix length
	prefix=$OUT/log.$(basename "$script" .sql)
	length="-T $DURABLE_SECONDS"
	[ -n "$count" ] && length="-t $count"
	# shellcheck disable=SC2086
	as_owner "$PG_BINDIR/pgbench" -n -h "$CLUSTER" -p "$BENCH_PORT" -U postgres \
		-c "$clients" -j "$clients" $length -f "$script" \
		--log --log-prefix="$prefix" bench >/dev/null
	# pgbench log: client, transaction, latency (us), ...
	cat "$prefix".* | awk '{ printf "%.3f\n", $3 / 1000 }' >>"$lat"
	rm -f "$prefix".*
}

# Median and p99 of the numbers in file $1.
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan nan"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		p = v[int(NR * 0.99 + 0.999)]; if (p == "") p = v[NR];
		printf "%.3f %.3f\n", m, p }'
}

# (1) enqueue against a plain INSERT.
as_owner tee "$OUT/enqueue.sql" >/dev/null <<'SQL'
SELECT pg_background_enqueue('INSERT INTO done_d DEFAULT VALUES', now() + interval '1 day');
SQL
as_owner tee "$OUT/insert.sql" >/dev/null <<'SQL'
INSERT INTO plain (sql) VALUES ('INSERT INTO done_d DEFAULT VALUES');
SQL
rm -f "$OUT/lat_enqueue.txt" "$OUT/lat_insert.txt"
for ((r = 1; r <= DURABLE_ROUNDS; r++)); do
	log "(1) round $r: enqueue, then INSERT"
	run_pgbench 1 "$OUT/enqueue.sql" "$OUT/lat_enqueue.txt"
	run_pgbench 1 "$OUT/insert.sql" "$OUT/lat_insert.txt"
done
read -r enq_med enq_p99 < <(stats "$OUT/lat_enqueue.txt")
read -r ins_med ins_p99 < <(stats "$OUT/lat_insert.txt")
psql_q -c "TRUNCATE pgbg_durable" >/dev/null

# (2) commit-to-start latency, one job at a time: with the pool off (each
# job starts a worker process), then with pool_size 4 (the runner hands
# each attempt to a parked worker).
latency_run() {
	local out=$1 k
	psql_q -c "TRUNCATE lat" >/dev/null
	for ((k = 1; k <= DURABLE_LATENCY_JOBS; k++)); do
		psql_q -v ON_ERROR_STOP=1 >/dev/null <<SQL
BEGIN;
SELECT pg_background_enqueue('UPDATE lat SET started = clock_timestamp() WHERE k = $k') AS id \gset
INSERT INTO lat VALUES ($k, clock_timestamp(), NULL);
COMMIT;
SELECT pg_background_wait_job(:id);
SQL
	done
	psql_q -c "SELECT extract(epoch FROM started - committed) * 1000 FROM lat" >"$out"
	psql_q -c "TRUNCATE pgbg_durable" >/dev/null
}
log "(2) $DURABLE_LATENCY_JOBS jobs, one at a time, pool off"
latency_run "$OUT/lat_start.txt"
read -r start_med start_p99 < <(stats "$OUT/lat_start.txt")
log "(2) $DURABLE_LATENCY_JOBS jobs, one at a time, pool_size 4"
psql_q -c "ALTER SYSTEM SET pg_background.pool_size = 4" -c "SELECT pg_reload_conf()" >/dev/null
latency_run "$OUT/lat_start_pool.txt"
read -r pool_med pool_p99 < <(stats "$OUT/lat_start_pool.txt")
psql_q -c "ALTER SYSTEM RESET pg_background.pool_size" -c "SELECT pg_reload_conf()" >/dev/null

# (3) throughput at 4 clients.
as_owner tee "$OUT/durable4.sql" >/dev/null <<'SQL'
SELECT pg_background_enqueue('INSERT INTO done_d DEFAULT VALUES');
SQL
as_owner tee "$OUT/submit4.sql" >/dev/null <<'SQL'
SELECT pg_background_detach_v2(h.pid, h.cookie)
  FROM pg_background_submit_v2('INSERT INTO done_s DEFAULT VALUES') h;
SQL
log "(3) durable jobs at 4 clients"
t0=$(psql_q -c "SELECT extract(epoch FROM clock_timestamp())")
run_pgbench 4 "$OUT/durable4.sql" "$OUT/lat_durable4.txt" $((DURABLE_JOBS / 4))
until [ "$(psql_q -c "SELECT count(*) FROM pgbg_durable WHERE state IN ('queued', 'running')")" = 0 ]; do
	sleep 0.2
done
durable_rate=$(psql_q -c "SELECT round(count(*) / extract(epoch FROM max(at) - to_timestamp($t0))::numeric, 1) FROM done_d")
durable_failed=$(psql_q -c "SELECT count(*) FROM pgbg_durable WHERE state <> 'succeeded'")
log "(3) submit_v2 at 4 clients"
t0=$(psql_q -c "SELECT extract(epoch FROM clock_timestamp())")
run_pgbench 4 "$OUT/submit4.sql" "$OUT/lat_submit4.txt" $((DURABLE_JOBS / 4))
until [ "$(psql_q -c "SELECT count(*) FROM done_s")" = $((DURABLE_JOBS / 4 * 4)) ]; do
	sleep 0.2
done
submit_rate=$(psql_q -c "SELECT round(count(*) / extract(epoch FROM max(at) - to_timestamp($t0))::numeric, 1) FROM done_s")

report=$BENCH_DIR/durable-report.txt
{
	echo "durable jobs: $(nproc) cores, PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}'), fsync off, durable_workers $DURABLE_WORKERS"
	echo "(1) enqueue (job due in a day)   median ${enq_med} ms  p99 ${enq_p99} ms"
	echo "    plain INSERT (bigserial)     median ${ins_med} ms  p99 ${ins_p99} ms"
	echo "    ratio enqueue / INSERT       $(awk -v a="$enq_med" -v b="$ins_med" 'BEGIN { printf "%.2f", a / b }') (target <= 1.5)"
	echo "(2) commit to start, pool off    median ${start_med} ms  p99 ${start_p99} ms ($DURABLE_LATENCY_JOBS jobs)"
	echo "    commit to start, pool_size 4 median ${pool_med} ms  p99 ${pool_p99} ms"
	echo "(3) durable jobs/s at 4 clients  ${durable_rate} ($((DURABLE_JOBS / 4 * 4)) jobs; not succeeded: ${durable_failed})"
	echo "    submit_v2 jobs/s at 4 clients ${submit_rate}"
	echo "    ratio durable / submit_v2    $(awk -v a="$durable_rate" -v b="$submit_rate" 'BEGIN { printf "%.2f", a / b }') (target >= 0.5)"
} | tee "$report"
