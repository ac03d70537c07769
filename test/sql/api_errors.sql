-- api_errors: bad inputs and misuse of the v1 API.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;

-- try(q, pid): run q; return 'ok: <n> row(s)' or the error's SQLSTATE,
-- message, detail and hint, with the given PID masked as <pid>.
CREATE FUNCTION pg_temp.try(q text, pid int DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    msg text;
    detail text;
    hint text;
BEGIN
    EXECUTE q;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN 'ok: ' || n || ' row(s)';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                            hint = PG_EXCEPTION_HINT;
    msg := SQLSTATE || ': ' || msg
        || CASE WHEN detail <> '' THEN ' DETAIL: ' || detail ELSE '' END
        || CASE WHEN hint <> '' THEN ' HINT: ' || hint ELSE '' END;
    IF pid IS NOT NULL THEN
        msg := replace(msg, pid::text, '<pid>');
    END IF;
    RETURN msg;
END
$$;

-- wait_until(cond): poll a boolean SQL expression, with a deadline.
CREATE PROCEDURE pg_temp.wait_until(cond text)
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60 seconds';
    ok boolean;
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        EXECUTE 'SELECT ' || cond INTO ok;
        EXIT WHEN ok;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'timed out waiting for: %', cond;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;

--
-- Unknown PIDs (first, while this session has no job at all).
--
SELECT pg_temp.try('SELECT * FROM pg_background_result(0) AS (r text)');
SELECT pg_temp.try('SELECT * FROM pg_background_result(-1) AS (r text)');
SELECT pg_temp.try('SELECT * FROM pg_background_result(12345) AS (r text)');
SELECT pg_temp.try('SELECT * FROM pg_background_result(2147483647) AS (r text)');
SELECT pg_temp.try('SELECT pg_background_detach(0)');
SELECT pg_temp.try('SELECT pg_background_detach(-1)');
SELECT pg_temp.try('SELECT pg_background_detach(12345)');
SELECT pg_temp.try('SELECT pg_background_detach(2147483647)');
-- The same error in psql's format.
SELECT * FROM pg_background_result(12345) AS (r text);
SELECT pg_background_detach(12345);

--
-- NULL for each argument of each function.
--
SELECT pg_temp.try('SELECT pg_background_launch(NULL)');
SELECT pg_temp.try('SELECT pg_background_launch(NULL, 65536)');
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', NULL)');
SELECT pg_temp.try('SELECT pg_background_launch(NULL, NULL)');
SELECT pg_temp.try('SELECT * FROM pg_background_result(NULL) AS (r text)');
SELECT pg_temp.try('SELECT pg_background_detach(NULL)');
SELECT pg_background_launch(NULL);
SELECT pg_background_launch('SELECT 1', NULL);
SELECT * FROM pg_background_result(NULL) AS (r text);
SELECT pg_background_detach(NULL);
-- The privilege helpers answer false (with a notice) for a NULL role, and
-- treat a NULL print_commands as false.
SELECT grant_pg_background_privileges(NULL);
SELECT grant_pg_background_privileges(NULL, true);
SELECT revoke_pg_background_privileges(NULL);
SELECT revoke_pg_background_privileges(NULL, true);
CREATE ROLE regress_api_role;
SELECT grant_pg_background_privileges('regress_api_role', NULL);
SELECT has_function_privilege('regress_api_role', 'pg_background_launch(text, integer)', 'EXECUTE');
SELECT revoke_pg_background_privileges('regress_api_role', NULL);
SELECT has_function_privilege('regress_api_role', 'pg_background_launch(text, integer)', 'EXECUTE');
DROP ROLE regress_api_role;

--
-- queue_size bounds: 64 .. 1073741824 (0: pg_background.default_queue_size).
--
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', 63)');
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', 0)');
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', -1)');
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', 1073741825)');
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', 2147483647)');
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', -2147483648)');
SELECT pg_background_launch('SELECT 1', 63);
-- Exactly the minimum works (and streams a result bigger than the queue).
SELECT length(big), big = repeat('x', 1000) AS same, n FROM pg_background_result(
    pg_background_launch('SELECT repeat(''x'', 1000) AS big, 42 AS n', 64)
) AS (big text, n int);
-- A large allowed size (16 MB) works.
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT 42 AS n', 16 * 1024 * 1024)
) AS (n int);
-- The default is 65536: both spellings work.
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1 AS n')) AS (n int);
SELECT * FROM pg_background_result(pg_background_launch(sql => 'SELECT 2 AS n', queue_size => 65536)) AS (n int);

--
-- Results can be read once.
--
SELECT pg_background_launch('SELECT 1 AS n') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (n int);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (n int)', :pid), :pid);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (n int)', :pid), :pid);
-- detach after result: no error, the PID is forgotten.
SELECT pg_temp.try(format('SELECT pg_background_detach(%s)', :pid), :pid);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (n int)', :pid), :pid);
SELECT pg_temp.try(format('SELECT pg_background_detach(%s)', :pid), :pid);

--
-- detach, then result; detach twice.
--
CREATE TABLE api_detached (note text);
SELECT pg_background_launch('INSERT INTO api_detached VALUES (''detached'')') AS pid \gset
SELECT pg_temp.try(format('SELECT pg_background_detach(%s)', :pid), :pid);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r text)', :pid), :pid);
SELECT pg_temp.try(format('SELECT pg_background_detach(%s)', :pid), :pid);
-- The detached job still commits.
CALL pg_temp.wait_until('EXISTS (SELECT 1 FROM api_detached)');
SELECT * FROM api_detached;
-- Detach while the job is still running (blocked on a lock we hold): the
-- result is gone at once, and the job completes and commits once released.
SELECT pg_advisory_lock(71001);
SELECT pg_background_launch('SELECT pg_advisory_xact_lock(71001); INSERT INTO api_detached VALUES (''after unlock'')') AS pid \gset
CALL pg_temp.wait_until(format('EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)', :pid));
SELECT pg_background_detach(:pid);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r text)', :pid), :pid);
SELECT pg_advisory_unlock(71001);
CALL pg_temp.wait_until($$EXISTS (SELECT 1 FROM api_detached WHERE note = 'after unlock')$$);
SELECT * FROM api_detached ORDER BY note;
DROP TABLE api_detached;

--
-- A column definition list is required.
--
SELECT pg_background_launch('SELECT 7 AS n') AS pid \gset
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s)', :pid), :pid);
SELECT pg_temp.try(format('SELECT pg_background_result(%s)', :pid), :pid);
SELECT pg_temp.try(format('SELECT count(*) FROM pg_background_result(%s)', :pid), :pid);
-- None of these consumed the result.
SELECT * FROM pg_background_result(:pid) AS (n int);

--
-- Column count and types must match (42804, with a detail); a failed read
-- is still the one read.
--
SELECT pg_background_launch('SELECT 1 AS a, 2 AS b') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (a int);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (a int)', :pid), :pid);
SELECT pg_background_launch('SELECT 1 AS a') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (a int, b int);
SELECT pg_background_launch('SELECT 1 AS a') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (a text);
SELECT pg_background_launch('SELECT 1 AS a') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (a bigint);
SELECT pg_background_launch('SELECT ''x''::varchar AS v, 1.5::float8 AS f') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (v text, f float8);
SELECT pg_background_launch('SELECT ''x''::varchar AS v, 1.5::float8 AS f') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (v varchar, f float4);
SELECT pg_background_launch('SELECT ''x''::varchar AS v, 1.5::float8 AS f') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (v varchar, f float8);

--
-- Command tags need a single string column (42804); text, varchar, name
-- and char(n) are string columns.
--
SELECT pg_background_launch('SET work_mem = ''1MB''') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (r int);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r text)', :pid), :pid);
SELECT pg_background_launch('SET work_mem = ''1MB''') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (r text, s text);
SELECT pg_background_launch('SET work_mem = ''1MB''') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (r bytea);
SELECT * FROM pg_background_result(pg_background_launch('SET work_mem = ''1MB''')) AS (r varchar);
SELECT * FROM pg_background_result(pg_background_launch('SET work_mem = ''1MB''')) AS (r name);
SELECT r, length(r) FROM pg_background_result(pg_background_launch('SET work_mem = ''1MB''')) AS (r char(5));

--
-- Empty strings: no statement, no row; but, as with tags, the column list
-- must be a single string column.
--
SELECT * FROM pg_background_result(pg_background_launch('')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(';')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('  -- just a comment')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('')) AS (a int, b int);

--
-- A 1 MB SQL string.
--
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT length(s), md5(s) FROM (SELECT ''' || repeat('0123456789', 100000) || '''::text AS s) t'
)) AS (len int, hash text);
SELECT md5(repeat('0123456789', 100000));

--
-- Worker errors come back with their SQLSTATE, message, detail, hint and
-- context, plus a context line naming the worker; the read counts.
--
\set SHOW_CONTEXT never
SELECT pg_background_launch('SELECT 1/0') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (r int);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r int)', :pid), :pid);
SELECT pg_background_launch($$DO $do$ BEGIN
    RAISE EXCEPTION 'custom failure' USING ERRCODE = '22P99', DETAIL = 'the detail', HINT = 'the hint';
END $do$ $$) AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (r text);
\set SHOW_CONTEXT errors
SELECT pg_background_launch($$DO $do$ BEGIN
    RAISE EXCEPTION 'custom failure' USING ERRCODE = '22P99', DETAIL = 'the detail', HINT = 'the hint';
END $do$ $$) AS pid \gset
SET regress.pid = :pid;
DO $$
DECLARE
    ctx text;
BEGIN
    PERFORM * FROM pg_background_result(current_setting('regress.pid')::int) AS (r text);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
    RAISE NOTICE 'sqlstate %: %', SQLSTATE, SQLERRM;
    RAISE NOTICE 'context: %',
        replace(ctx, current_setting('regress.pid'), '<pid>');
END
$$;
RESET regress.pid;

--
-- A worker terminated by the administrator: its FATAL is our ERROR.
--
SELECT pg_advisory_lock(71002);
SELECT pg_background_launch('SELECT 1 AS n FROM pg_advisory_lock(71002)') AS pid \gset
CALL pg_temp.wait_until(format('EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)', :pid));
SELECT pg_terminate_backend(:pid);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (n int)', :pid), :pid);
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (n int)', :pid), :pid);
SELECT pg_advisory_unlock(71002);

--
-- Another session's worker is not ours: a worker launches a job and hands
-- us its PID.  (First this session forgets every job it remembers, read
-- or not: with the warm pool of directory mode, the worker's job may run
-- on a pooled worker that ran a job of this session before, under the same
-- PID, and the session would then find its own job.)
--
DO $$
DECLARE
    p int;
BEGIN
    FOR p IN SELECT DISTINCT pid FROM pg_background_list() LOOP
        BEGIN
            PERFORM pg_background_detach(p);
        EXCEPTION WHEN undefined_object THEN
            NULL;               -- not a job of this session (directory mode)
        END;
    END LOOP;
END
$$;
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT pg_background_launch(''SELECT 1'')'
)) AS (inner_pid int) \gset
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r int)', :inner_pid), :inner_pid);
SELECT pg_temp.try(format('SELECT pg_background_detach(%s)', :inner_pid), :inner_pid);
-- ... and a worker cannot read ours.
SELECT pg_background_launch('SELECT 1') AS pid \gset
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(pg_background_launch(%L)) AS (r int)',
                          format('SELECT * FROM pg_background_result(%s) AS (r int)', :pid)), :pid);
SELECT * FROM pg_background_result(:pid) AS (r int);

--
-- No free worker slot: 53000 with a hint (the number in it is masked).  In
-- directory mode (expected output api_errors_1.out) the jobs are queued
-- instead (docs/directory.md, "Admission control"): no launch fails, and
-- every job runs once the lock is released.
-- Jobs wait for a lock we hold, so that they occupy their slots.  The
-- session's own limit (pg_background.max_workers, 16 by default) would stop
-- the launches first: raise it above max_worker_processes.
--
SELECT current_setting('shared_preload_libraries') LIKE '%pg_background%'
    AS directory_mode;
SET pg_background.max_workers = 1000;
SELECT pg_advisory_lock(71003);
CREATE TEMP TABLE api_jobs (pid int);
DO $$
DECLARE
    pids int[] := '{}';
    failed boolean := false;
    hint text;
BEGIN
    FOR i IN 1..200 LOOP
        BEGIN
            pids := pids || pg_background_launch('SELECT 1 AS n FROM pg_advisory_lock_shared(71003)');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
            RAISE NOTICE 'sqlstate %: % (hint: %)', SQLSTATE, SQLERRM,
                regexp_replace(hint, '[0-9]+', 'N');
            failed := true;
            EXIT;
        END;
    END LOOP;
    INSERT INTO api_jobs SELECT unnest(pids);
    RAISE NOTICE 'ran out of worker slots: %, after at least one launch: %',
        failed, cardinality(pids) > 0;
END
$$;
SELECT pg_advisory_unlock(71003);
-- Every job that did start completes normally.
SELECT count(*) = sum(n) AS all_returned_one, count(*) = (SELECT count(*) FROM api_jobs) AS all_read
FROM api_jobs j, LATERAL pg_background_result(j.pid) AS (n int);
DROP TABLE api_jobs;
RESET pg_background.max_workers;

--
-- pg_background.max_queue_size (default 16 MB, superusers only) caps every
-- queue, pg_background.default_queue_size too: 54000 beyond it (queue_size
-- 0, also the SQL default, means the setting).
--
SHOW pg_background.max_queue_size;
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', 16 * 1024 * 1024 + 1)');
SET pg_background.default_queue_size = '32MB';
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', 0)');
SELECT pg_temp.try('SELECT pg_background_launch_v2(''SELECT 1'')');
RESET pg_background.default_queue_size;
SET pg_background.max_queue_size = '32MB';
-- The jobs of the slot test above have ended, but the postmaster frees a
-- worker's slot only once it has reaped the process: without the directory
-- a launch in between fails with 53000.  Retry until a slot is free (60 s
-- at most).
CREATE FUNCTION pg_temp.launch_when_slot_free(sql text, queue_size int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
    LOOP
        BEGIN
            RETURN pg_background_launch(sql, queue_size);
        EXCEPTION WHEN insufficient_resources THEN
            IF clock_timestamp() > deadline THEN
                RAISE;
            END IF;
        END;
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;
SELECT * FROM pg_background_result(
    pg_temp.launch_when_slot_free('SELECT 7 AS n', 32 * 1024 * 1024)
) AS (n int);
RESET pg_background.max_queue_size;
CREATE ROLE regress_cap_role;
SET ROLE regress_cap_role;
SELECT pg_temp.try('SET pg_background.max_queue_size = ''1GB''');
RESET ROLE;
DROP ROLE regress_cap_role;

-- Clean up.
DROP FUNCTION pg_temp.try(text, int);
DROP PROCEDURE pg_temp.wait_until(text);
-- The extension too, so that the next suite starts without it.
DROP EXTENSION pg_background;
