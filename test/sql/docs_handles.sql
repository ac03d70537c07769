CREATE EXTENSION IF NOT EXISTS pg_background;
--
-- docs_handles: runs every example of docs/handles.md, in the order of the
-- document, so that the documentation is tested.
--
-- Lines marked "(test only)" are not in the document.  They make the output
-- deterministic: PIDs and cookies change from run to run, so errors whose
-- message contains one are printed with VERBOSITY sqlstate, then shown again
-- by :mask with the numbers replaced by <n>.  No example waits for a worker
-- with pg_sleep: they use pg_background_wait_v2 / wait_any, or locks held by
-- this session (a job may sleep inside its own SQL).
--
\set mask 'SELECT :''LAST_ERROR_SQLSTATE'' AS sqlstate, regexp_replace(:''LAST_ERROR_MESSAGE'', ''(PID|cookie) -?[0-9]+'', ''\\1 <n>'', ''g'') AS message;'

--
-- A first example
--
SELECT * FROM pg_background_launch_v2(
    'SELECT sum(g) AS total FROM generate_series(1, 1000) g') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state, command_tag FROM pg_background_outcome(:pid, :cookie);
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (total bigint);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- Why handles
--
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
\set VERBOSITY sqlstate
SELECT pg_background_wait_v2(:pid, :cookie + 1);
:mask -- (test only)
\set VERBOSITY default
SELECT pg_background_detach_v2(:pid, :cookie);
\set VERBOSITY sqlstate
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);
:mask -- (test only)
\set VERBOSITY default

-- v1 and v2 share one implementation
SELECT clock_timestamp() AS t0 \gset
SELECT pg_background_launch('SELECT 42') AS v1_pid \gset
SELECT cookie AS v1_cookie FROM pg_background_jobs
WHERE pid = :v1_pid AND launched_at >= :'t0' \gset
SELECT pg_background_wait_v2(:v1_pid, :v1_cookie);
SELECT state, command_tag FROM pg_background_outcome(:v1_pid, :v1_cookie);
SELECT * FROM pg_background_result(:v1_pid) AS (answer int);
SELECT pg_background_detach(:v1_pid);

--
-- Types: pg_background_handle
--
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT h = (:pid, :cookie)::pg_background_handle AS same_handle
FROM pg_background_wait_any(ARRAY[(:pid, :cookie)]::pg_background_handle[]) AS h;
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_launch_v2
--
SELECT * FROM pg_background_launch_v2('SELECT 6 * 7 AS answer',
                                      0, 'answer') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (answer int);
SELECT label, state, queue_size, submitted, consumed
FROM pg_background_jobs WHERE pid = :pid AND cookie = :cookie;
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT * FROM pg_background_launch_v2('SELECT 1', 10);
SELECT * FROM pg_background_launch_v2(NULL);

SELECT * FROM pg_background_launch_v2(
    'SELECT $1::int + $2 AS sum, $3 AS name', 65536, 'params',
    40, 2, $$Robert'); DROP TABLE students; --$$) \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (sum int, name text);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_submit_v2
--
CREATE TABLE docs_events (n int);
SELECT * FROM pg_background_submit_v2(
    'INSERT INTO docs_events SELECT generate_series(1, 3)') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state, command_tag, row_count FROM pg_background_outcome(:pid, :cookie);
SELECT count(*) FROM docs_events;
\set VERBOSITY sqlstate
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (tag text);
:mask -- (test only)
\set VERBOSITY default
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_result_v2
--
SELECT * FROM pg_background_launch_v2(
    'SELECT g, g * g AS square FROM generate_series(1, 3) g') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (g int, square int);
\set VERBOSITY sqlstate
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (g int, square int);
:mask -- (test only)
\set VERBOSITY default
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2('SELECT 1 AS n') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (n text);
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2('SELECT 1 / 0') \gset
\set SHOW_CONTEXT never
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);
\set SHOW_CONTEXT errors
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_detach_v2
--
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(0.5)') \gset
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT workers_active FROM pg_background_stats_v2();
\set VERBOSITY sqlstate
SELECT pg_background_detach_v2(:pid, :cookie);
:mask -- (test only)
\set VERBOSITY default

--
-- pg_background_wait_v2
--
SELECT * FROM pg_background_launch_v2('SELECT 42 AS answer FROM pg_sleep(0.2)') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state FROM pg_background_outcome(:pid, :cookie);
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (answer int);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_wait_v2_timeout
--
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT pg_background_wait_v2_timeout(:pid, :cookie, 100);
SELECT pg_background_wait_v2_timeout(:pid, :cookie, -1);
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT pg_background_wait_v2_timeout(:pid, :cookie, 0);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_wait_any
--
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)', 0, 'slow') \gset slow_
SELECT * FROM pg_background_launch_v2('SELECT 1', 0, 'fast') \gset fast_
SELECT (h).pid = :fast_pid AND (h).cookie = :fast_cookie AS fast_job_first
FROM (SELECT pg_background_wait_any(
          ARRAY[(:slow_pid, :slow_cookie),
                (:fast_pid, :fast_cookie)]::pg_background_handle[]) AS h) s;
SELECT pg_background_wait_any(
           ARRAY[(:slow_pid, :slow_cookie)]::pg_background_handle[], 100)
       IS NULL AS timed_out;
SELECT pg_background_cancel_label('slow');
SELECT pg_background_detach_v2(:slow_pid, :slow_cookie),
       pg_background_detach_v2(:fast_pid, :fast_cookie);
SELECT pg_background_wait_any('{}');
SELECT pg_background_wait_any(ARRAY[NULL]::pg_background_handle[]);
SELECT pg_background_wait_any(ARRAY[(1, 2)]::pg_background_handle[], -2);

--
-- pg_background_cancel_v2
--
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT state, sqlstate FROM pg_background_outcome(:pid, :cookie);
\set VERBOSITY sqlstate
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x text);
:mask -- (test only)
\set VERBOSITY default
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_cancel_v2_grace
--
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT pg_background_cancel_v2_grace(:pid, :cookie, -1);
SELECT pg_background_cancel_v2_grace(:pid, :cookie, 5000);
SELECT state, sqlstate FROM pg_background_outcome(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_cancel_label
--
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)', 0, 'batch') \gset b1_
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)', 0, 'batch') \gset b2_
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)', 0, 'other') \gset o_
SELECT pg_background_cancel_label('batch');
SELECT label, state FROM pg_background_jobs
WHERE (pid, cookie) IN ((:b1_pid, :b1_cookie), (:b2_pid, :b2_cookie),
                        (:o_pid, :o_cookie))
ORDER BY label;
SELECT pg_background_cancel_label('batch');
SELECT pg_background_cancel_label('other', 0);
SELECT count(pg_background_detach_v2(pid, cookie)) AS detached
FROM pg_background_jobs
WHERE (pid, cookie) IN ((:b1_pid, :b1_cookie), (:b2_pid, :b2_cookie),
                        (:o_pid, :o_cookie));

--
-- pg_background_outcome
--
SELECT * FROM pg_background_launch_v2($job$
    DO $d$
    BEGIN
        RAISE EXCEPTION 'order % not found', 42
            USING DETAIL = 'No row in orders.', HINT = 'Check the id.';
    END $d$ $job$) \gset
SELECT pg_background_wait_v2(:pid, :cookie);
\x on
SELECT state, command_tag, row_count, started_at IS NOT NULL AS started,
       finished_at >= started_at AS finished, sqlstate, message, detail, hint,
       context
FROM pg_background_outcome(:pid, :cookie);
\x off
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_list_v2
--
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state, sql_preview, last_error, consumed
FROM pg_background_list_v2()
     AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
         queue_size int4, state text, sql_preview text, last_error text,
         consumed bool)
WHERE pid = :pid AND cookie = :cookie;
SELECT * FROM pg_background_list_v2() AS (pid int4, cookie int4);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- pg_background_list() and the view pg_background_jobs
--
SELECT * FROM pg_background_launch_v2(
    'SELECT pg_background_progress(100, ''all done'')', 0, 'nightly') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
\x on
SELECT label, state, submitted, consumed, progress_pct, progress_msg,
       command_tag, row_count, sqlstate, last_error, sql_preview,
       user_id = current_user::regrole AS launched_by_me
FROM pg_background_jobs WHERE pid = :pid AND cookie = :cookie;
\x off
SELECT count(*) FROM pg_background_list() WHERE pid = :pid AND cookie = :cookie;
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- States
--
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)', 0, 'st-running') \gset r_
SELECT * FROM pg_background_launch_v2('SELECT 1', 0, 'st-stopped') \gset s_
SELECT * FROM pg_background_launch_v2('SELECT 1 / 0', 0, 'st-error') \gset e_
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)', 0, 'st-canceled') \gset c_
SELECT pg_background_wait_v2(:s_pid, :s_cookie),
       pg_background_wait_v2(:e_pid, :e_cookie),
       pg_background_cancel_v2(:c_pid, :c_cookie);
SELECT label, state, sqlstate FROM pg_background_jobs
WHERE (pid, cookie) IN ((:r_pid, :r_cookie), (:s_pid, :s_cookie),
                        (:e_pid, :e_cookie), (:c_pid, :c_cookie))
ORDER BY label;
SELECT pg_background_cancel_label('st-running');
SELECT count(pg_background_detach_v2(pid, cookie)) AS detached
FROM pg_background_jobs
WHERE (pid, cookie) IN ((:r_pid, :r_cookie), (:s_pid, :s_cookie),
                        (:e_pid, :e_cookie), (:c_pid, :c_cookie));

--
-- Waiting without polling
--
SELECT * FROM pg_background_launch_v2(
    'SELECT g, repeat(''x'', 100) AS pad FROM generate_series(1, 20000) g',
    queue_size => 1024) \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state, command_tag FROM pg_background_outcome(:pid, :cookie);
SELECT count(*), sum(g) FROM pg_background_result_v2(:pid, :cookie)
                             AS (g int, pad text);
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SET statement_timeout = '200ms';
SELECT pg_background_wait_v2(:pid, :cookie);
RESET statement_timeout;
SELECT state FROM pg_background_outcome(:pid, :cookie);
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);

DO $$
DECLARE
    pending pg_background_handle[];
    h pg_background_handle;
    part bigint;
    total bigint := 0;
BEGIN
    FOR i IN 1..4 LOOP
        pending := pending || pg_background_launch_v2(
            format('SELECT sum(g) FROM generate_series(%s, %s) g',
                   (i - 1) * 1000 + 1, i * 1000));
    END LOOP;
    WHILE cardinality(pending) > 0 LOOP
        h := pg_background_wait_any(pending);
        SELECT s INTO part
        FROM pg_background_result_v2(h.pid, h.cookie) AS (s bigint);
        total := total + part;
        PERFORM pg_background_detach_v2(h.pid, h.cookie);
        pending := array_remove(pending, h);
    END LOOP;
    RAISE NOTICE 'total = %', total;
END
$$;

SELECT pg_advisory_lock(4244);
SELECT * FROM pg_background_launch_v2(
    'SELECT pg_advisory_xact_lock_shared(4244)') \gset
SET deadlock_timeout = '100ms';
\set VERBOSITY sqlstate
SELECT pg_background_wait_v2(:pid, :cookie);
:mask -- (test only)
\set VERBOSITY default
RESET deadlock_timeout;
SELECT pg_advisory_unlock(4244);
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state FROM pg_background_outcome(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- Progress reporting
--
CREATE FUNCTION wait_for_progress(pid int4, cookie int8, pct int4,
                                  timeout_ms int4 DEFAULT 10000)
RETURNS bool
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout_ms * interval '1 ms';
BEGIN
    LOOP
        IF (pg_background_get_progress_v2(pid, cookie)).progress_pct >= pct THEN
            RETURN true;
        END IF;
        -- Sleeps at most 10 ms, and returns true at once if the job is over.
        IF pg_background_wait_v2_timeout(pid, cookie, 10) THEN
            RETURN coalesce(
                (pg_background_get_progress_v2(pid, cookie)).progress_pct >= pct,
                false);
        END IF;
        IF clock_timestamp() >= deadline THEN
            RETURN false;
        END IF;
    END LOOP;
END
$$;

SELECT pg_advisory_lock(4243);
SELECT * FROM pg_background_launch_v2($job$
    SELECT pg_background_progress(50, 'halfway');
    SELECT pg_advisory_xact_lock_shared(4243);
    SELECT pg_background_progress(100, 'done')$job$) \gset
SELECT wait_for_progress(:pid, :cookie, 50);
SELECT * FROM pg_background_get_progress_v2(:pid, :cookie);
SELECT pg_advisory_unlock(4243);
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_get_progress_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_get_progress_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT pg_background_progress(50, 'from a normal session');
SELECT pg_background_progress(150);

--
-- Canceling
--
TRUNCATE docs_events;
SELECT * FROM pg_background_launch_v2($job$
    INSERT INTO docs_events VALUES (1);
    COMMIT;
    INSERT INTO docs_events VALUES (2);
    SELECT pg_background_progress(50, 'second transaction open');
    SELECT pg_sleep(60)$job$) \gset
SELECT wait_for_progress(:pid, :cookie, 50);
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT state, sqlstate FROM pg_background_outcome(:pid, :cookie);
SELECT array_agg(n) FROM docs_events;
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2($job$
    DO $d$
    BEGIN
        LOOP
            BEGIN
                PERFORM pg_background_progress(10, 'ignoring cancels');
                PERFORM pg_sleep(60);
            EXCEPTION WHEN query_canceled THEN
                NULL;   -- swallow the cancel and go on
            END;
        END LOOP;
    END $d$ $job$) \gset
SELECT wait_for_progress(:pid, :cookie, 10);
SELECT pg_background_cancel_v2_grace(:pid, :cookie, 200);
SELECT state, sqlstate, message FROM pg_background_outcome(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2($job$
    DO $d$
    BEGIN
        PERFORM pg_background_progress(10, 'sleeping');
        PERFORM pg_sleep(60);
    EXCEPTION WHEN query_canceled THEN
        RAISE NOTICE 'cleaned up after cancel';
    END $d$ $job$) \gset
SELECT wait_for_progress(:pid, :cookie, 10);
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT state, command_tag FROM pg_background_outcome(:pid, :cookie);
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (tag text);
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT state FROM pg_background_outcome(:pid, :cookie);
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);
SELECT pg_background_detach_v2(:pid, :cookie);

SELECT * FROM pg_background_launch_v2($job$
    SELECT pg_background_progress(1, 'started');
    SELECT pg_sleep(60)$job$) \gset
SELECT wait_for_progress(:pid, :cookie, 1);
SELECT pg_terminate_backend(:pid);
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state, sqlstate, message FROM pg_background_outcome(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);

--
-- Statistics
--
\c
SELECT pg_advisory_lock(4242);
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset ok_
SELECT * FROM pg_background_launch_v2('SELECT 1 / 0') \gset bad_
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset stop_
SELECT * FROM pg_background_launch_v2(
    'SELECT pg_advisory_xact_lock_shared(4242)') \gset busy_
SELECT * FROM pg_background_launch_v2(
    'SELECT pg_advisory_xact_lock_shared(4242)') \gset gone_
SELECT pg_background_detach_v2(:gone_pid, :gone_cookie);
SELECT pg_background_wait_v2(:ok_pid, :ok_cookie),
       pg_background_wait_v2(:bad_pid, :bad_cookie),
       pg_background_cancel_v2(:stop_pid, :stop_cookie);
SELECT workers_launched, workers_completed, workers_failed, workers_canceled,
       workers_active, avg_execution_ms >= 0 AS has_avg,
       max_workers = current_setting('pg_background.max_workers')::int AS max_ok
FROM pg_background_stats_v2();
SELECT pg_advisory_unlock(4242);
SELECT pg_background_wait_v2(:busy_pid, :busy_cookie);
SELECT workers_launched, workers_completed, workers_active
FROM pg_background_stats_v2();

--
-- The (f()).* pitfall
--
\c
SELECT (pg_background_launch_v2('SELECT 1')).* \gset
SELECT workers_launched FROM pg_background_stats_v2();
SELECT count(*) AS matching FROM pg_background_jobs
WHERE pid = :pid AND cookie = :cookie;

SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT (h).pid AS pid2, (h).cookie AS cookie2
FROM (SELECT pg_background_launch_v2('SELECT 1') AS h) s \gset
SELECT workers_launched FROM pg_background_stats_v2();
SELECT count(*) AS matching FROM pg_background_jobs
WHERE (pid, cookie) IN ((:pid, :cookie), (:pid2, :cookie2));
\c

--
-- Privileges
--
CREATE ROLE regress_docs_user;
SET ROLE regress_docs_user;
SELECT * FROM pg_background_jobs;
RESET ROLE;
SELECT grant_pg_background_privileges('regress_docs_user', true);
SET ROLE regress_docs_user;
SELECT * FROM pg_background_launch_v2('SELECT current_user::text') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (who text);
SELECT pg_background_detach_v2(:pid, :cookie);
RESET ROLE;

SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SET ROLE regress_docs_user;
SELECT count(*) FROM pg_background_jobs WHERE pid = :pid AND cookie = :cookie;
\set VERBOSITY sqlstate
SELECT state FROM pg_background_outcome(:pid, :cookie);
:mask -- (test only)
\set VERBOSITY default
RESET ROLE;
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT revoke_pg_background_privileges('regress_docs_user');
DROP ROLE regress_docs_user;

--
-- Clean up (test only)
--
DROP FUNCTION wait_for_progress(int4, int8, int4, int4);
DROP TABLE docs_events;
-- The extension too, so that the next suite starts as this one did.
DROP EXTENSION pg_background;
