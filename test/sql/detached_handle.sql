-- detached_handle: what a handle of a job this session has detached still
-- reaches, in both modes (docs/handles.md, "Why handles", and
-- docs/directory.md, "Who sees a job").  Reading its results or detaching
-- it again is 42704 "not attached to this session" in both modes (not 55000
-- "belongs to another session": this session launched it).  Waiting for it
-- and reading its outcome are 42704 without shared_preload_libraries; in
-- directory mode (expected output detached_handle_1.out) they reach it, as
-- from any session of its role.  Each result prints the mode.
CREATE EXTENSION IF NOT EXISTS pg_background;

-- Run sql; return 'ok', or the SQLSTATE and the message with PIDs and
-- cookies masked.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' ||
		regexp_replace(SQLERRM, '(PID|cookie) -?\d+', '\1 N', 'g');
END $$;

SELECT current_setting('shared_preload_libraries') LIKE '%pg_background%'
    AS directory_mode;

-- A finished job, read and detached (v2).
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pg_temp.try(format('SELECT pg_background_detach_v2(%s, %s)', :pid, :cookie)) AS detach_again;
SELECT pg_temp.try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (x int)', :pid, :cookie)) AS result;
SELECT pg_temp.try(format('SELECT pg_background_wait_v2(%s, %s)', :pid, :cookie)) AS wait;
SELECT pg_temp.try(format('SELECT pg_background_outcome(%s, %s)', :pid, :cookie)) AS outcome;

-- A finished job detached unread.
SELECT * FROM pg_background_launch_v2('SELECT 2') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pg_temp.try(format('SELECT pg_background_detach_v2(%s, %s)', :pid, :cookie)) AS detach_again;
SELECT pg_temp.try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (x int)', :pid, :cookie)) AS result;
SELECT pg_temp.try(format('SELECT pg_background_wait_v2_timeout(%s, %s, 0)', :pid, :cookie)) AS wait_timeout;

-- A submitted job, detached once it is over.
SELECT * FROM pg_background_submit_v2('SELECT 3') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pg_temp.try(format('SELECT pg_background_detach_v2(%s, %s)', :pid, :cookie)) AS detach_again;
SELECT pg_temp.try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (x int)', :pid, :cookie)) AS result;

-- A v1 job, detached: the v1 functions are session-local in both modes.
SELECT pg_background_launch('SELECT 4') AS v1_pid \gset
SELECT pg_background_detach(:v1_pid);
SELECT pg_temp.try(format('SELECT pg_background_detach(%s)', :v1_pid)) AS v1_detach_again;
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (x int)', :v1_pid)) AS v1_result;

-- The extension goes, so that the next suite starts as this one did.
DROP EXTENSION pg_background;
