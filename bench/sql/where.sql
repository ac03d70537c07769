-- bench/sql/where.sql: the breakdowns of bench/where.sh (after setup.sql).

-- Phases of one launch+result of sql, from the session's own timestamps:
-- the launch returns once the worker has attached (launched_at), the worker
-- records started_at once connected with the launcher's GUCs and role, and
-- finished_at after its last statement.  Medians over n launches, in ms.
CREATE FUNCTION where_phases(sql text, n int)
RETURNS TABLE (phase text, median_ms numeric)
LANGUAGE plpgsql AS $$
DECLARE
	h pg_background_handle;
	t0 timestamptz;
	t1 timestamptz;
	x int;
	j record;
BEGIN
	CREATE TEMP TABLE IF NOT EXISTS where_ph (t0 timestamptz, launched timestamptz,
		started timestamptz, finished timestamptz, t1 timestamptz);
	TRUNCATE where_ph;
	FOR i IN 1..n LOOP
		t0 := clock_timestamp();
		h := pg_background_launch_v2(sql);
		SELECT r.x INTO x FROM pg_background_result_v2(h.pid, h.cookie) AS r(x int);
		t1 := clock_timestamp();
		SELECT * INTO j FROM pg_background_jobs WHERE pid = h.pid AND cookie = h.cookie;
		INSERT INTO where_ph VALUES (t0, j.launched_at, j.started_at, j.finished_at, t1);
	END LOOP;
	RETURN QUERY
	SELECT p.phase, round((percentile_cont(0.5) WITHIN GROUP (ORDER BY p.s) * 1000)::numeric, 3)
	FROM where_ph AS w,
		 LATERAL (VALUES
			(1, 'launch: DSM, register, fork, until the worker attached', extract(epoch FROM w.launched - w.t0)),
			(2, 'worker: InitPostgres, GUC state, role', extract(epoch FROM w.started - w.launched)),
			(3, 'worker: the SQL', extract(epoch FROM w.finished - w.started)),
			(4, 'launcher: until the result is returned', extract(epoch FROM w.t1 - w.finished)),
			(5, 'total', extract(epoch FROM w.t1 - w.t0))) AS p(k, phase, s)
	GROUP BY p.k, p.phase ORDER BY p.k;
END
$$;

-- Where the time of a big result goes (rows of (int, text)):
--   1 submit_v2: the worker runs sql with DestNone (no output at all);
--   2 launch_v2 + wait_v2: the worker sends everything, the launcher
--     only moves the messages into its spool file (no decoding);
--     then result_v2 decodes from the spool, the worker being gone;
--   3 launch + result, as (c) does.
-- Worker times are its started_at -> finished_at.
CREATE FUNCTION where_rows(sql text, queue_size int)
RETURNS TABLE (step text, ms numeric)
LANGUAGE plpgsql AS $$
DECLARE
	h pg_background_handle;
	t0 timestamptz;
	t1 timestamptz;
	t2 timestamptz;
	o pg_background_job_outcome;
	c bigint;
BEGIN
	t0 := clock_timestamp();
	h := pg_background_submit_v2(sql, queue_size);
	PERFORM pg_background_wait_v2(h.pid, h.cookie);
	t1 := clock_timestamp();
	o := pg_background_outcome(h.pid, h.cookie);
	PERFORM pg_background_detach_v2(h.pid, h.cookie);
	step := '1 submit (no output): total'; ms := round((extract(epoch FROM t1 - t0) * 1000)::numeric, 1); RETURN NEXT;
	step := '1 submit (no output): worker ran'; ms := round((extract(epoch FROM o.finished_at - o.started_at) * 1000)::numeric, 1); RETURN NEXT;

	t0 := clock_timestamp();
	h := pg_background_launch_v2(sql, queue_size);
	PERFORM pg_background_wait_v2(h.pid, h.cookie);
	t1 := clock_timestamp();
	o := pg_background_outcome(h.pid, h.cookie);
	SELECT count(*) INTO c FROM pg_background_result_v2(h.pid, h.cookie) AS (g int, m text);
	t2 := clock_timestamp();
	step := '2 launch + wait (spooled, not decoded): total'; ms := round((extract(epoch FROM t1 - t0) * 1000)::numeric, 1); RETURN NEXT;
	step := '2 launch + wait: worker ran'; ms := round((extract(epoch FROM o.finished_at - o.started_at) * 1000)::numeric, 1); RETURN NEXT;
	step := '2 then result from the spool (decode only)'; ms := round((extract(epoch FROM t2 - t1) * 1000)::numeric, 1); RETURN NEXT;

	t0 := clock_timestamp();
	h := pg_background_launch_v2(sql, queue_size);
	SELECT count(*) INTO c FROM pg_background_result_v2(h.pid, h.cookie) AS (g int, m text);
	t1 := clock_timestamp();
	o := pg_background_outcome(h.pid, h.cookie);
	step := '3 launch + result: total'; ms := round((extract(epoch FROM t1 - t0) * 1000)::numeric, 1); RETURN NEXT;
	step := '3 launch + result: worker ran'; ms := round((extract(epoch FROM o.finished_at - o.started_at) * 1000)::numeric, 1); RETURN NEXT;
END
$$;
