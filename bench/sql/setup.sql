-- bench/sql/setup.sql: objects of the benchmark database (run by bench.sh).
--
-- The timing helpers run a statement with EXECUTE and measure it with
-- clock_timestamp(), inside the server, so that every variant of a case is
-- timed the same way (no client round trip, no result transfer to psql).

CREATE EXTENSION pg_background;
CREATE EXTENSION dblink;

-- The target of the autonomous inserts; each row carries the time of its
-- INSERT (its transaction commits right after).
CREATE TABLE t (x int, at timestamptz DEFAULT clock_timestamp());

-- The insert case: wait until t holds n rows (or timeout_s seconds have
-- passed); return the rows and the time the last of them was inserted
-- (epoch seconds).  Each statement of this volatile function sees the rows
-- committed before it.
CREATE FUNCTION bench_wait_rows(n bigint, timeout_s float8,
								OUT nrows bigint, OUT last_at numeric)
LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + timeout_s * interval '1 second';
BEGIN
	LOOP
		SELECT count(*), extract(epoch FROM max(at)) INTO nrows, last_at FROM t;
		EXIT WHEN nrows >= n OR clock_timestamp() > deadline;
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;

-- The leak case: one row per sample of the leak test.
CREATE TABLE leak_samples (
	n				bigint,			-- launches done so far
	pid				int,			-- the launcher backend
	ctx_bytes		bigint,			-- sum(total_bytes) of all its memory contexts
	pgbg_ctx_bytes	bigint,			-- of "pg_background session" and its children
	rss_kb			bigint,			-- /proc/self/smaps_rollup
	pss_kb			bigint,
	pss_anon_kb		bigint,
	dsm_segments	int,			-- /dev/shm/PostgreSQL.* lines in /proc/self/maps
	taken_at		timestamptz DEFAULT clock_timestamp()
);

-- Run sql once; return its duration in milliseconds.
CREATE FUNCTION bench_time(sql text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	EXECUTE sql;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

-- The rows case: run sql in the session and return its rows through a set-returning
-- function, as pg_background_result and dblink return theirs: every
-- function in FROM hands its rows over in a tuplestore, which is written
-- once and read once more.  What the session itself takes for the rows of
-- sql when they come from a function, without any other process.
CREATE FUNCTION bench_srf(sql text) RETURNS SETOF record
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE sql;
END
$$;

-- Run sql n times, one after the other.
CREATE FUNCTION bench_repeat(sql text, n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		EXECUTE sql;
	END LOOP;
END
$$;

-- The fanout case, through dblink: send sql on the n named connections bench_c1..bench_cn
-- (opened beforehand by the caller), then collect the n results (one
-- bigint each) and the empty result that ends each query; return the sum.
CREATE FUNCTION bench_dblink_fanout(sql text, n int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	total bigint := 0;
	r bigint;
BEGIN
	FOR i IN 1..n LOOP
		PERFORM dblink_send_query('bench_c' || i, sql);
	END LOOP;
	FOR i IN 1..n LOOP
		SELECT x INTO r FROM dblink_get_result('bench_c' || i) AS g(x bigint);
		total := total + r;
		PERFORM * FROM dblink_get_result('bench_c' || i) AS g(x bigint);
	END LOOP;
	RETURN total;
END
$$;

-- The leak case: record the calling backend's memory and DSM mappings after n launches.
CREATE FUNCTION bench_leak_sample(n bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	rollup text := pg_read_file('/proc/self/smaps_rollup');
	maps text := pg_read_file('/proc/self/maps');
BEGIN
	INSERT INTO leak_samples (n, pid, ctx_bytes, pgbg_ctx_bytes, rss_kb, pss_kb,
							  pss_anon_kb, dsm_segments)
	SELECT n, pg_backend_pid(),
		   (SELECT sum(total_bytes) FROM pg_backend_memory_contexts),
		   (SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
			 WHERE name = 'pg_background session' OR parent = 'pg_background session'),
		   substring(rollup FROM '\nRss:\s+(\d+) kB')::bigint,
		   substring(rollup FROM '\nPss:\s+(\d+) kB')::bigint,
		   substring(rollup FROM '\nPss_Anon:\s+(\d+) kB')::bigint,
		   (SELECT count(*) FROM regexp_split_to_table(maps, '\n') AS l
			 WHERE l LIKE '%/dev/shm/PostgreSQL.%');
END
$$;
