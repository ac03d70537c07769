-- Handles (the v2 API): launch/submit/result/detach/cancel/wait/wait_any,
-- list, the pg_background_jobs view, stats, progress, outcome, labels, and
-- who may use a handle.  PIDs and cookies vary: they go into psql variables
-- (\gset) and only booleans, counts and masked messages are printed.
-- The list is read by handle, or for the jobs launched since this session
-- started (t_start): in directory mode (shared_preload_libraries) it shows
-- every job of the role in the server, and with the pool several jobs share
-- a worker PID.  Where directory mode differs as documented (a detached
-- job), the expected output is handles_1.out.
CREATE EXTENSION IF NOT EXISTS pg_background;
-- A fresh session: the statistics counters start at zero.
\c
SELECT backend_start AS t_start FROM pg_stat_activity WHERE pid = pg_backend_pid() \gset

CREATE TABLE handles_t (i int);
GRANT ALL ON handles_t TO PUBLIC;

-- Run sql; return 'ok', or the SQLSTATE and the message with PIDs and
-- cookies masked.  (query_canceled is not part of OTHERS.)
CREATE FUNCTION handles_try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' ||
		regexp_replace(SQLERRM, '(PID|cookie) -?\d+', '\1 N', 'g');
END $$;

-- Everything an error carries (its context up to the worker's line, the PID
-- masked).
CREATE FUNCTION handles_err(sql text,
	OUT code text, OUT message text, OUT detail text, OUT hint text,
	OUT context text) LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	code := 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE,
		message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
		hint = PG_EXCEPTION_HINT, context = PG_EXCEPTION_CONTEXT;
	-- keep the worker's part; the rest names this function's query
	context := regexp_replace(split_part(context, E'\nSQL statement', 1),
		'PID \d+', 'PID N', 'g');
END $$;

-- Wait (at most 60 s) until the boolean SQL expression cond is true.
CREATE FUNCTION handles_wait(cond text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE
	ok bool;
	deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		EXECUTE 'SELECT ' || cond INTO ok;
		IF ok THEN
			RETURN true;
		END IF;
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'timed out waiting for: %', cond;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END $$;

-- Is the worker with this PID waiting for an advisory lock?
CREATE FUNCTION handles_blocked(wpid int) RETURNS text LANGUAGE sql AS $$
	SELECT format('EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s
		AND wait_event_type = ''Lock'' AND wait_event = ''advisory'')', wpid)
$$;

-- Columns of pg_background_list_v2.
CREATE FUNCTION handles_list_v2() RETURNS TABLE (pid int4, cookie int8,
	launched_at timestamptz, user_id oid, queue_size int4, state text,
	sql_preview text, last_error text, consumed bool)
LANGUAGE sql AS $$
	SELECT * FROM pg_background_list_v2() AS (pid int4, cookie int8,
		launched_at timestamptz, user_id oid, queue_size int4, state text,
		sql_preview text, last_error text, consumed bool)
$$;

SELECT workers_launched, workers_completed, workers_failed, workers_canceled,
	workers_active, avg_execution_ms,
	max_workers = current_setting('pg_background.max_workers')::int AS max_ok
FROM pg_background_stats_v2();

---------------------------------------------------------------------------
-- launch_v2 + result_v2
---------------------------------------------------------------------------
-- job 1
SELECT * FROM pg_background_launch_v2(
	'SELECT 1 AS a, ''one'' AS b UNION ALL SELECT 2, ''two''') \gset j1_
SELECT :j1_pid > 0 AS pid_ok, :j1_cookie <> 0 AS cookie_ok,
	:j1_pid <> pg_backend_pid() AS not_our_pid;
SELECT * FROM pg_background_result_v2(:j1_pid, :j1_cookie) AS (a int, b text)
ORDER BY a;
-- read once; the consumed job is still listed, and its handle still valid
SELECT handles_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int, b text)',
	:j1_pid, :j1_cookie));
SELECT state, consumed, sql_preview, last_error IS NULL AS no_error,
	queue_size, user_id = 'postgres'::regrole AS launcher
FROM handles_list_v2() WHERE pid = :j1_pid AND cookie = :j1_cookie;
SELECT state, command_tag, row_count FROM pg_background_outcome(:j1_pid, :j1_cookie);

-- job 2: named arguments, a label, a small queue
SELECT * FROM pg_background_launch_v2(sql => 'SELECT 42 AS answer',
	queue_size => 1024, label => 'regress_named') \gset j2_
SELECT label, queue_size, submitted, consumed, sql_preview
FROM pg_background_jobs WHERE pid = :j2_pid AND cookie = :j2_cookie;
SELECT * FROM pg_background_result_v2(:j2_pid, :j2_cookie) AS (answer int);

-- job 3: the v1 function reads a job launched with launch_v2
SELECT * FROM pg_background_launch_v2('SELECT 7 AS seven') \gset j3_
SELECT * FROM pg_background_result(:j3_pid) AS (seven int);
SELECT handles_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (x int)',
	:j3_pid, :j3_cookie));

---------------------------------------------------------------------------
-- submit_v2, wait_v2, outcome
---------------------------------------------------------------------------
-- job 4
SELECT * FROM pg_background_submit_v2(
	'INSERT INTO handles_t SELECT g FROM generate_series(1, 3) g') \gset j4_
SELECT pg_background_wait_v2(:j4_pid, :j4_cookie);
SELECT state, command_tag, row_count, started_at IS NOT NULL AS started,
	finished_at >= started_at AS finished, sqlstate, message, detail, hint,
	context
FROM pg_background_outcome(:j4_pid, :j4_cookie);
SELECT count(*) AS committed FROM handles_t;
SELECT handles_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (x text)',
	:j4_pid, :j4_cookie));
SELECT pg_background_wait_v2_timeout(:j4_pid, :j4_cookie, 0) AS over;
SELECT submitted, consumed, state, command_tag, row_count
FROM pg_background_jobs WHERE pid = :j4_pid AND cookie = :j4_cookie;

-- job 5: rows of a submitted job are discarded, its outcome is kept
SELECT * FROM pg_background_submit_v2('SELECT g FROM generate_series(1, 5) g',
	queue_size => 0, label => 'regress_submitted') \gset j5_
SELECT pg_background_wait_v2(:j5_pid, :j5_cookie);
SELECT state, command_tag, row_count FROM pg_background_outcome(:j5_pid, :j5_cookie);
SELECT * FROM pg_background_get_progress_v2(:j5_pid, :j5_cookie);

---------------------------------------------------------------------------
-- A job that fails
---------------------------------------------------------------------------
-- job 6
SELECT * FROM pg_background_launch_v2($job$DO $do$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'XY123', MESSAGE = 'job failed on purpose',
		DETAIL = 'some detail', HINT = 'some hint';
END $do$$job$) \gset j6_
SELECT pg_background_wait_v2(:j6_pid, :j6_cookie);
SELECT state, command_tag, row_count, started_at IS NOT NULL AS started,
	finished_at >= started_at AS finished, sqlstate, message, detail, hint,
	context
FROM pg_background_outcome(:j6_pid, :j6_cookie);
SELECT state, sqlstate, last_error, error_detail, error_hint
FROM pg_background_jobs WHERE pid = :j6_pid AND cookie = :j6_cookie;
-- reading it re-raises the worker's error
SELECT * FROM handles_err(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (x text)',
	:j6_pid, :j6_cookie));
SELECT state, consumed, last_error FROM handles_list_v2() WHERE pid = :j6_pid AND cookie = :j6_cookie;

---------------------------------------------------------------------------
-- Waiting on a job whose output is far bigger than its queue
---------------------------------------------------------------------------
-- job 7
SELECT * FROM pg_background_launch_v2(
	'SELECT g, md5(g::text) AS m FROM generate_series(1, 100000) g', 1024) \gset j7_
SELECT pg_background_wait_v2(:j7_pid, :j7_cookie);
SELECT state, command_tag, row_count FROM pg_background_outcome(:j7_pid, :j7_cookie);
SELECT count(*), sum(g),
	md5(string_agg(m, ',' ORDER BY g)) =
	(SELECT md5(string_agg(md5(g::text), ',' ORDER BY g))
	 FROM generate_series(1, 100000) g) AS checksum_ok
FROM pg_background_result_v2(:j7_pid, :j7_cookie) AS (g int, m text);

---------------------------------------------------------------------------
-- A v1 PID is a handle whose cookie the session keeps
---------------------------------------------------------------------------
-- job 8 (the list's only job with its PID launched since t8)
SELECT clock_timestamp() AS t8 \gset
SELECT pg_background_launch('SELECT 42 AS v1') AS j8_pid \gset
SELECT count(*) AS listed FROM handles_list_v2()
WHERE pid = :j8_pid AND launched_at >= :'t8';
SELECT cookie AS j8_cookie FROM handles_list_v2()
WHERE pid = :j8_pid AND launched_at >= :'t8' \gset
SELECT :j8_cookie <> 0 AS cookie_ok;
SELECT * FROM pg_background_result_v2(:j8_pid, :j8_cookie) AS (v1 int);
SELECT handles_try(format('SELECT * FROM pg_background_result(%s) AS (v1 int)', :j8_pid));

---------------------------------------------------------------------------
-- Progress
---------------------------------------------------------------------------
-- job 9: the last published progress wins
SELECT * FROM pg_background_submit_v2($$SELECT pg_background_progress(10, 'ten');
	SELECT pg_background_progress(40, 'forty')$$) \gset j9_
SELECT pg_background_wait_v2(:j9_pid, :j9_cookie);
SELECT * FROM pg_background_get_progress_v2(:j9_pid, :j9_cookie);
SELECT progress_pct, progress_msg FROM pg_background_jobs WHERE pid = :j9_pid AND cookie = :j9_cookie;
-- job 10: progress without a message
SELECT * FROM pg_background_submit_v2('SELECT pg_background_progress(7)') \gset j10_
SELECT pg_background_wait_v2(:j10_pid, :j10_cookie);
SELECT * FROM pg_background_get_progress_v2(:j10_pid, :j10_cookie);
-- job 11: progress outside 0..100 fails inside the worker too
SELECT * FROM pg_background_submit_v2('SELECT pg_background_progress(101)') \gset j11_
SELECT pg_background_wait_v2(:j11_pid, :j11_cookie);
SELECT state, sqlstate, message FROM pg_background_outcome(:j11_pid, :j11_cookie);
SELECT * FROM pg_background_get_progress_v2(:j11_pid, :j11_cookie);
-- outside a worker
SELECT handles_try('SELECT pg_background_progress(50)');
SELECT handles_try($$SELECT pg_background_progress(50, 'msg')$$);
SELECT handles_try('SELECT pg_background_progress(-1)');
SELECT handles_try('SELECT pg_background_progress(101)');
SELECT handles_try('SELECT pg_background_progress(NULL)');

---------------------------------------------------------------------------
-- Jobs blocked on an advisory lock this session holds: wait with a
-- timeout, wait_any, cancel, detach
---------------------------------------------------------------------------
SELECT pg_advisory_lock(73001);
-- job 12
SELECT * FROM pg_background_launch_v2(
	'INSERT INTO handles_t VALUES (100); SELECT pg_advisory_xact_lock(73001)') \gset j12_
SELECT handles_wait(handles_blocked(:j12_pid));
SELECT pg_background_wait_v2_timeout(:j12_pid, :j12_cookie, 10) AS over;
SELECT pg_background_wait_any(ARRAY[(:j12_pid, :j12_cookie)]::pg_background_handle[], 0) IS NULL
	AS timed_out;
SELECT pg_background_wait_any(ARRAY[(:j12_pid, :j12_cookie)]::pg_background_handle[], 10) IS NULL
	AS timed_out;
-- the first handle (in array order) of a job that is over
SELECT pg_background_wait_any(ARRAY[(:j12_pid, :j12_cookie), (:j4_pid, :j4_cookie),
	(:j5_pid, :j5_cookie)]::pg_background_handle[]) = (:j4_pid, :j4_cookie)::pg_background_handle
	AS first_over;
SELECT pg_background_wait_any(ARRAY[(:j5_pid, :j5_cookie), (:j4_pid, :j4_cookie)]::pg_background_handle[],
	timeout_ms => 1000) = (:j5_pid, :j5_cookie)::pg_background_handle AS first_over;
SELECT state, command_tag, started_at IS NOT NULL AS started, finished_at,
	sqlstate FROM pg_background_outcome(:j12_pid, :j12_cookie);
SELECT * FROM pg_background_get_progress_v2(:j12_pid, :j12_cookie);
SELECT state, consumed FROM pg_background_jobs WHERE pid = :j12_pid AND cookie = :j12_cookie;
SELECT workers_launched, workers_active FROM pg_background_stats_v2();
-- cancel (default grace period): the job's transaction rolls back
SELECT pg_background_cancel_v2(:j12_pid, :j12_cookie);
SELECT state, sqlstate, message FROM pg_background_outcome(:j12_pid, :j12_cookie);
SELECT state FROM pg_background_jobs WHERE pid = :j12_pid AND cookie = :j12_cookie;
SELECT count(*) AS inserted_100 FROM handles_t WHERE i = 100;
SELECT handles_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (x text)',
	:j12_pid, :j12_cookie));
SELECT pg_background_wait_v2_timeout(:j12_pid, :j12_cookie, 0) AS over;

-- job 13: cancel with an explicit grace period
SELECT * FROM pg_background_launch_v2(
	'INSERT INTO handles_t VALUES (101); SELECT pg_advisory_xact_lock(73001)') \gset j13_
SELECT handles_wait(handles_blocked(:j13_pid));
SELECT pg_background_cancel_v2_grace(:j13_pid, :j13_cookie, 60000);
SELECT state, sqlstate, message FROM pg_background_outcome(:j13_pid, :j13_cookie);
SELECT count(*) AS inserted_101 FROM handles_t WHERE i = 101;

-- canceling a finished job does nothing
SELECT pg_background_cancel_v2(:j4_pid, :j4_cookie);
SELECT pg_background_cancel_v2_grace(:j6_pid, :j6_cookie, 0);
SELECT pg_background_cancel_v2_grace(:j1_pid, :j1_cookie, 10);
SELECT (pid, cookie) = (:j4_pid, :j4_cookie) AS j4,
	(pid, cookie) = (:j6_pid, :j6_cookie) AS j6, state
FROM pg_background_jobs
WHERE (pid, cookie) IN ((:j1_pid, :j1_cookie), (:j4_pid, :j4_cookie), (:j6_pid, :j6_cookie))
ORDER BY 1, 2;

-- job 14: detach a running job; it runs on and commits, the handle is gone.
-- In directory mode (handles_1.out) the directory keeps the job: the list
-- shows it and its outcome can be read (docs/directory.md, "Who sees a job").
SELECT current_setting('shared_preload_libraries') LIKE '%pg_background%'
	AS directory_mode;
SELECT * FROM pg_background_launch_v2(
	'SELECT pg_advisory_xact_lock(73001); INSERT INTO handles_t VALUES (200)') \gset j14_
SELECT handles_wait(handles_blocked(:j14_pid));
SELECT pg_background_detach_v2(:j14_pid, :j14_cookie);
SELECT count(*) AS listed FROM pg_background_jobs
WHERE pid = :j14_pid AND cookie = :j14_cookie;
SELECT handles_try(format('SELECT pg_background_outcome(%s, %s)', :j14_pid, :j14_cookie));
SELECT pg_advisory_unlock(73001);
SELECT handles_wait('(SELECT count(*) = 1 FROM handles_t WHERE i = 200)');

---------------------------------------------------------------------------
-- Labels
---------------------------------------------------------------------------
SELECT pg_advisory_lock(73002);
-- jobs 15, 16, 17 (label regress_batch), 18 (label regress_keep)
SELECT * FROM pg_background_launch_v2('SELECT 15 FROM pg_advisory_xact_lock(73002)',
	queue_size => 0, label => 'regress_batch') \gset j15_
SELECT * FROM pg_background_launch_v2('SELECT 16 FROM pg_advisory_xact_lock(73002)',
	queue_size => 0, label => 'regress_batch') \gset j16_
SELECT * FROM pg_background_submit_v2('SELECT 17 FROM pg_advisory_xact_lock(73002)',
	queue_size => 0, label => 'regress_batch') \gset j17_
SELECT * FROM pg_background_launch_v2('SELECT 18 FROM pg_advisory_xact_lock(73002)',
	queue_size => 0, label => 'regress_keep') \gset j18_
-- job 19: regress_batch too, but over before the cancel
SELECT * FROM pg_background_submit_v2('SELECT 19', queue_size => 0, label => 'regress_batch') \gset j19_
SELECT pg_background_wait_v2(:j19_pid, :j19_cookie);
SELECT handles_wait(handles_blocked(:j15_pid)), handles_wait(handles_blocked(:j16_pid)),
	handles_wait(handles_blocked(:j17_pid)), handles_wait(handles_blocked(:j18_pid));
SELECT label, state, submitted, sql_preview FROM pg_background_jobs
WHERE label IS NOT NULL AND launched_at >= :'t_start' ORDER BY label, sql_preview;
SELECT pg_background_cancel_label('regress_batch') AS canceled;
SELECT pg_background_cancel_label('regress_batch', 0) AS canceled;
SELECT pg_background_cancel_label('regress_nobody') AS canceled;
SELECT label, state, sqlstate FROM pg_background_jobs
WHERE label IS NOT NULL AND launched_at >= :'t_start' ORDER BY label, sql_preview;
SELECT pg_advisory_unlock(73002);
SELECT pg_background_wait_v2(:j18_pid, :j18_cookie);
SELECT * FROM pg_background_result_v2(:j18_pid, :j18_cookie) AS (x int);

---------------------------------------------------------------------------
-- Statistics of this session after jobs 1 to 19: 19 launched; completed:
-- 1-5, 7-10, 18, 19 (11); failed: 6, 11 (2); canceled: 12, 13, 15-17 (5);
-- 14 was detached while running, so it is not counted.  The list shows the
-- jobs 1 to 19 but 14 (in directory mode, 14 too: stopped).
---------------------------------------------------------------------------
SELECT workers_launched, workers_completed, workers_failed, workers_canceled,
	workers_active, avg_execution_ms IS NOT NULL AS has_avg,
	avg_execution_ms >= 0 AS avg_ok,
	max_workers = current_setting('pg_background.max_workers')::int AS max_ok
FROM pg_background_stats_v2();
SELECT state, count(*) FROM handles_list_v2() WHERE launched_at >= :'t_start'
GROUP BY state ORDER BY state;

---------------------------------------------------------------------------
-- Bad arguments
---------------------------------------------------------------------------
CREATE TABLE handles_ref AS SELECT :j4_pid AS pid, :j4_cookie::int8 AS cookie;
SELECT call, handles_try(call) FROM (VALUES
	('SELECT pg_background_launch_v2(NULL)'),
	('SELECT pg_background_launch_v2(''SELECT 1'', NULL)'),
	('SELECT pg_background_launch_v2(''SELECT 1'', 10)'),
	('SELECT pg_background_launch_v2(''SELECT 1'', -1, ''x'')'),
	('SELECT pg_background_submit_v2(NULL)'),
	('SELECT pg_background_submit_v2(''SELECT 1'', NULL, ''x'')'),
	('SELECT pg_background_submit_v2(''SELECT 1'', 63)'),
	('SELECT * FROM pg_background_result_v2(NULL, 1) AS (x int)'),
	('SELECT * FROM pg_background_result_v2((SELECT pid FROM handles_ref), NULL) AS (x int)'),
	('SELECT * FROM pg_background_result_v2((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref)) AS (x int)'),
	('SELECT * FROM pg_background_result_v2(pg_backend_pid(), 1) AS (x int)'),
	('SELECT pg_background_detach_v2(NULL, 1)'),
	('SELECT pg_background_detach_v2((SELECT pid FROM handles_ref), NULL)'),
	('SELECT pg_background_detach_v2((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref))'),
	('SELECT pg_background_detach_v2(pg_backend_pid(), 1)'),
	('SELECT pg_background_cancel_v2(NULL, 1)'),
	('SELECT pg_background_cancel_v2((SELECT pid FROM handles_ref), NULL)'),
	('SELECT pg_background_cancel_v2((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref))'),
	('SELECT pg_background_cancel_v2(pg_backend_pid(), 1)'),
	('SELECT pg_background_cancel_v2_grace(NULL, 1, 0)'),
	('SELECT pg_background_cancel_v2_grace((SELECT pid FROM handles_ref), NULL, 0)'),
	('SELECT pg_background_cancel_v2_grace((SELECT pid FROM handles_ref), (SELECT cookie FROM handles_ref), NULL)'),
	('SELECT pg_background_cancel_v2_grace((SELECT pid FROM handles_ref), (SELECT cookie FROM handles_ref), -1)'),
	('SELECT pg_background_cancel_v2_grace((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref), 0)'),
	('SELECT pg_background_cancel_v2_grace(pg_backend_pid(), 1, 0)'),
	('SELECT pg_background_cancel_label(NULL)'),
	('SELECT pg_background_cancel_label(''x'', NULL)'),
	('SELECT pg_background_cancel_label(''x'', -1)'),
	('SELECT pg_background_wait_v2(NULL, 1)'),
	('SELECT pg_background_wait_v2((SELECT pid FROM handles_ref), NULL)'),
	('SELECT pg_background_wait_v2((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref))'),
	('SELECT pg_background_wait_v2(pg_backend_pid(), 1)'),
	('SELECT pg_background_wait_v2_timeout(NULL, 1, 0)'),
	('SELECT pg_background_wait_v2_timeout((SELECT pid FROM handles_ref), NULL, 0)'),
	('SELECT pg_background_wait_v2_timeout((SELECT pid FROM handles_ref), (SELECT cookie FROM handles_ref), NULL)'),
	('SELECT pg_background_wait_v2_timeout((SELECT pid FROM handles_ref), (SELECT cookie FROM handles_ref), -1)'),
	('SELECT pg_background_wait_v2_timeout((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref), 0)'),
	('SELECT pg_background_wait_v2_timeout(pg_backend_pid(), 1, 0)'),
	('SELECT pg_background_wait_any(NULL)'),
	('SELECT pg_background_wait_any(''{}'')'),
	('SELECT pg_background_wait_any(ARRAY[NULL]::pg_background_handle[])'),
	('SELECT pg_background_wait_any(ARRAY[(SELECT (pid, cookie)::pg_background_handle FROM handles_ref), NULL])'),
	('SELECT pg_background_wait_any(ARRAY[(NULL, 1)]::pg_background_handle[])'),
	('SELECT pg_background_wait_any(ARRAY[(1, NULL)]::pg_background_handle[])'),
	('SELECT pg_background_wait_any(ARRAY[(SELECT (pid, cookie)::pg_background_handle FROM handles_ref)], -2)'),
	('SELECT pg_background_wait_any(ARRAY[(SELECT (pid, cookie)::pg_background_handle FROM handles_ref)], NULL)'),
	('SELECT pg_background_wait_any(ARRAY[(SELECT (pid, cookie # 1)::pg_background_handle FROM handles_ref)])'),
	('SELECT pg_background_wait_any(ARRAY[(SELECT (pid, cookie)::pg_background_handle FROM handles_ref), (pg_backend_pid(), 1)::pg_background_handle])'),
	('SELECT pg_background_wait_any(ARRAY[(SELECT (pid, cookie)::pg_background_handle FROM handles_ref)], -1)'),
	('SELECT * FROM pg_background_list_v2() AS (pid int4, cookie int8)'),
	('SELECT * FROM pg_background_list_v2() AS (pid int4, cookie int4, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)'),
	('SELECT * FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool, extra int)'),
	('SELECT * FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)'),
	('SELECT pg_background_get_progress_v2(NULL, 1)'),
	('SELECT pg_background_get_progress_v2((SELECT pid FROM handles_ref), NULL)'),
	('SELECT pg_background_get_progress_v2((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref))'),
	('SELECT pg_background_get_progress_v2(pg_backend_pid(), 1)'),
	('SELECT pg_background_outcome(NULL, 1)'),
	('SELECT pg_background_outcome((SELECT pid FROM handles_ref), NULL)'),
	('SELECT pg_background_outcome((SELECT pid FROM handles_ref), (SELECT cookie # 1 FROM handles_ref))'),
	('SELECT pg_background_outcome(pg_backend_pid(), 1)')
) AS v(call);
-- none of the failed launches above started a job
SELECT workers_launched FROM pg_background_stats_v2();
-- the message names the PID and the cookie given
SELECT code, message = format('background job with PID %s and cookie 12345 is not attached to this session',
	pg_backend_pid()) AS message_ok
FROM handles_err(format('SELECT pg_background_outcome(%s, 12345)', pg_backend_pid()));
SELECT code, message FROM handles_err('SELECT pg_background_outcome(0, -9223372036854775808)');

---------------------------------------------------------------------------
-- Privileges: grant_pg_background_privileges covers the v2 functions and
-- the view; a role may only use handles launched by roles whose privileges
-- it has.
---------------------------------------------------------------------------
CREATE ROLE regress_handles_user;
CREATE ROLE regress_handles_other;
CREATE ROLE regress_handles_nogrant;
SELECT grant_pg_background_privileges('regress_handles_user');
SELECT grant_pg_background_privileges('regress_handles_other');
-- every v2 function (all overloads) and the view
SELECT obj, bool_and(granted) AS granted, bool_or(ungranted) AS ungranted
FROM (
	SELECT p.proname::text AS obj,
		has_function_privilege('regress_handles_user', p.oid, 'EXECUTE') AS granted,
		has_function_privilege('regress_handles_nogrant', p.oid, 'EXECUTE') AS ungranted
	FROM pg_proc p
	WHERE p.proname IN ('pg_background_launch_v2', 'pg_background_submit_v2',
		'pg_background_result_v2', 'pg_background_detach_v2',
		'pg_background_cancel_v2', 'pg_background_cancel_v2_grace',
		'pg_background_cancel_label', 'pg_background_wait_v2',
		'pg_background_wait_v2_timeout', 'pg_background_wait_any',
		'pg_background_list_v2', 'pg_background_list',
		'pg_background_stats_v2', 'pg_background_progress',
		'pg_background_get_progress_v2', 'pg_background_outcome')
	UNION ALL
	SELECT 'pg_background_jobs (view)',
		has_table_privilege('regress_handles_user', 'pg_background_jobs', 'SELECT'),
		has_table_privilege('regress_handles_nogrant', 'pg_background_jobs', 'SELECT')
) o GROUP BY obj ORDER BY obj;
-- and every other function of the extension but the privilege helpers,
-- pg_background_drop_executor_role and the trigger function
SELECT count(*) AS not_granted
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_background')
  AND p.proname NOT IN ('grant_pg_background_privileges',
	'revoke_pg_background_privileges', 'pgbg_change_privileges',
	'pg_background_drop_executor_role', 'pgbg_durable_inserted')
  AND NOT has_function_privilege('regress_handles_user', p.oid, 'EXECUTE');

SELECT pg_advisory_lock(73003);
SET ROLE regress_handles_user;
-- u1: blocked; u2: submitted, publishes progress; u3: canceled by its role
SELECT * FROM pg_background_launch_v2($$SELECT 'ready' AS r FROM pg_background_progress(1, 'ready');
	SELECT 'locked' FROM pg_advisory_xact_lock(73003); SELECT 'u1 done'$$,
	queue_size => 0, label => 'regress_user_job') \gset u1_
SELECT * FROM pg_background_submit_v2($$SELECT pg_background_progress(99, 'u2')$$) \gset u2_
SELECT * FROM pg_background_launch_v2('SELECT pg_advisory_xact_lock(73003)') \gset u3_
SELECT pg_background_wait_v2(:u2_pid, :u2_cookie);
SELECT * FROM pg_background_get_progress_v2(:u2_pid, :u2_cookie);
SELECT state FROM pg_background_outcome(:u2_pid, :u2_cookie);
SELECT handles_wait(format('(pg_background_get_progress_v2(%s, %s)).progress_pct = 1',
	:u1_pid, :u1_cookie));
SELECT pg_background_wait_v2_timeout(:u1_pid, :u1_cookie, 0) AS over;
SELECT pg_background_wait_any(ARRAY[(:u1_pid, :u1_cookie), (:u2_pid, :u2_cookie)]::pg_background_handle[])
	= (:u2_pid, :u2_cookie)::pg_background_handle AS first_over;
SELECT label, state, user_id = 'regress_handles_user'::regrole AS owner
FROM pg_background_jobs
WHERE (pid, cookie) IN ((:u1_pid, :u1_cookie), (:u2_pid, :u2_cookie), (:u3_pid, :u3_cookie))
ORDER BY pid = :u3_pid, label;
SELECT count(*) FROM handles_list_v2()
WHERE (pid, cookie) IN ((:u1_pid, :u1_cookie), (:u2_pid, :u2_cookie), (:u3_pid, :u3_cookie));
SELECT workers_launched, workers_active FROM pg_background_stats_v2();
SELECT pg_background_cancel_v2(:u3_pid, :u3_cookie);
SELECT state FROM pg_background_outcome(:u3_pid, :u3_cookie);

-- an unrelated role of the same session may not use them, and sees none
SET ROLE regress_handles_other;
SELECT call, handles_try(format(call, :u1_pid, :u1_cookie)) FROM (VALUES
	('SELECT * FROM pg_background_result_v2(%s, %s) AS (r text)'),
	('SELECT pg_background_wait_v2(%s, %s)'),
	('SELECT pg_background_wait_v2_timeout(%s, %s, 0)'),
	('SELECT pg_background_wait_any(ARRAY[(%s, %s)]::pg_background_handle[], 0)'),
	('SELECT pg_background_cancel_v2(%s, %s)'),
	('SELECT pg_background_cancel_v2_grace(%s, %s, 0)'),
	('SELECT pg_background_detach_v2(%s, %s)'),
	('SELECT pg_background_get_progress_v2(%s, %s)'),
	('SELECT pg_background_outcome(%s, %s)'),
	('SELECT * FROM pg_background_result(%s) AS (r text)'),
	('SELECT pg_background_detach(%s)')
) AS v(call);
SELECT count(*) AS visible FROM pg_background_jobs
WHERE (pid, cookie) IN ((:u1_pid, :u1_cookie), (:u2_pid, :u2_cookie), (:u3_pid, :u3_cookie));
SELECT count(*) AS visible FROM handles_list_v2()
WHERE (pid, cookie) IN ((:u1_pid, :u1_cookie), (:u2_pid, :u2_cookie), (:u3_pid, :u3_cookie));
SELECT pg_background_cancel_label('regress_user_job') AS canceled;

-- a role without the grant may use nothing
SET ROLE regress_handles_nogrant;
SELECT call, handles_try(call) FROM (VALUES
	('SELECT pg_background_launch_v2(''SELECT 1'')'),
	('SELECT pg_background_submit_v2(''SELECT 1'')'),
	('SELECT pg_background_stats_v2()'),
	('SELECT * FROM pg_background_jobs'),
	('SELECT * FROM handles_list_v2()'),
	('SELECT pg_background_cancel_label(''regress_user_job'')'),
	('SELECT pg_background_wait_any(''{}'')')
) AS v(call);
SELECT handles_try(format('SELECT pg_background_outcome(%s, %s)', :u1_pid, :u1_cookie));

-- the owner still has its job, untouched
SET ROLE regress_handles_user;
SELECT state FROM pg_background_outcome(:u1_pid, :u1_cookie);
SELECT pg_advisory_unlock(73003);
SELECT pg_background_wait_v2(:u1_pid, :u1_cookie);
SELECT * FROM pg_background_result_v2(:u1_pid, :u1_cookie) AS (r text);
SELECT pg_background_detach_v2(:u2_pid, :u2_cookie);
SELECT pg_background_cancel_label('regress_user_job') AS canceled;
RESET ROLE;
-- the superuser may use them too
SELECT state FROM pg_background_outcome(:u3_pid, :u3_cookie);
SELECT workers_launched, workers_completed, workers_failed, workers_canceled,
	workers_active FROM pg_background_stats_v2();

-- cleanup
SELECT revoke_pg_background_privileges('regress_handles_user');
SELECT revoke_pg_background_privileges('regress_handles_other');
DROP ROLE regress_handles_user;
DROP ROLE regress_handles_other;
DROP ROLE regress_handles_nogrant;
DROP TABLE handles_ref;
DROP TABLE handles_t;
DROP FUNCTION handles_try(text);
DROP FUNCTION handles_err(text);
DROP FUNCTION handles_wait(text);
DROP FUNCTION handles_blocked(int);
DROP FUNCTION handles_list_v2();
-- Every suite leaves the database without the extension.
DROP EXTENSION pg_background;
