-- upstream_compat: behaviour that code written for upstream pg_background
-- relies on: the result of a multi-statement string is the last statement's
-- (its rows, or else the command tags of all statements), queue_size 0
-- means pg_background.default_queue_size, and pg_background.worker_timeout
-- limits a job's run time.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;

-- try(q): run q; return 'ok: <n> row(s)' or the error's SQLSTATE, message,
-- detail and hint, with PIDs masked as <pid>.
CREATE FUNCTION pg_temp.try(q text) RETURNS text
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
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                            hint = PG_EXCEPTION_HINT;
    msg := SQLSTATE || ': ' || msg
        || CASE WHEN detail <> '' THEN ' DETAIL: ' || detail ELSE '' END
        || CASE WHEN hint <> '' THEN ' HINT: ' || hint ELSE '' END;
    RETURN regexp_replace(msg, 'PID \d+', 'PID <pid>', 'g');
END
$$;

CREATE TABLE upc_t (a int);
INSERT INTO upc_t SELECT generate_series(1, 42);
CREATE SEQUENCE upc_seq;
CREATE DOMAIN upc_posint AS int CHECK (VALUE > 0);

--
-- (a) A multi-statement string returns what its last statement returns.
--
-- Rows of the last statement only.
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; SELECT 2')) AS (x int);
-- Upstream's quick start: a void column first, then the count.
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT pg_sleep(0); SELECT count(*) FROM upc_t')) AS (count bigint);
-- The last statement returns no rows: the tags of all statements.
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; CREATE TEMP TABLE t(a int)')) AS (x text);
-- ... which need a single string column.
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; CREATE TEMP TABLE t(a int)')) AS (x int)$q$);

-- Earlier result sets are neither checked nor converted: other column
-- counts, other types, values the column list's domain rejects.
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1, 2, 3; SELECT ''a''::text; VALUES (10), (20)')) AS (x int);
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT -1; SELECT 5')) AS (x upc_posint);
-- The last statement's zero rows are its result, not the tags.
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; SELECT 2 WHERE false')) AS (x int);
-- Earlier statements run to completion all the same.
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT nextval(''upc_seq'') FROM generate_series(1, 3);
     INSERT INTO upc_t VALUES (0);
     SELECT currval(''upc_seq''), count(*) FROM upc_t')) AS (s bigint, n bigint);
-- A utility statement that returns rows is the last statement's result.
SELECT * FROM pg_background_result(pg_background_launch(
    'SET work_mem = ''8MB''; SHOW work_mem')) AS (w text);
-- The manual's timeout pattern: a SET, then the query.
SELECT * FROM pg_background_result(pg_background_launch(
    'SET statement_timeout = ''5s''; SELECT ''done''::text')) AS (result text);
-- Transaction control statements are statements like the others.
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; SELECT 1; COMMIT')) AS (x text);
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO upc_t VALUES (-1); COMMIT; SELECT count(*) FROM upc_t')) AS (n bigint);
-- The v2 API follows the same rule.
SELECT h.pid, h.cookie FROM pg_background_launch_v2('SELECT 1; SELECT 2; SELECT 3') h \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);

-- The last statement's result set is still checked (42804).
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; SELECT 3, 4')) AS (x int)$q$);
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; SELECT 3::bigint')) AS (x int)$q$);
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; SELECT 3, 4')) AS (a int, b int);
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; SELECT -5')) AS (x upc_posint)$q$);

-- An error in a later statement is the result, and undoes the earlier ones.
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; SELECT 1/0')) AS (x int)$q$);
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'CREATE TABLE upc_gone (a int); INSERT INTO upc_gone VALUES (1); SELECT 1/0')) AS (x int)$q$);
SELECT to_regclass('upc_gone') IS NULL AS rolled_back;

-- An empty string: no statement, no tag, no row; the column list must
-- still be a single string column.
SELECT * FROM pg_background_result(pg_background_launch('')) AS (x text);
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch('')) AS (x int)$q$);

--
-- (b) pg_background.default_queue_size: queue_size 0 means the setting.
--
SHOW pg_background.default_queue_size;
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1', 0)) AS (x int);
SET pg_background.default_queue_size = '128kB';
-- (The list may show earlier jobs with the same PID: in directory mode it
-- shows every job of the role, and a pooled worker runs many; only this
-- session's job was launched since t0.)
SELECT clock_timestamp() AS t0 \gset
SELECT pg_background_launch('SELECT 1', 0) AS pid \gset
SELECT queue_size FROM pg_background_jobs WHERE pid = :pid AND launched_at >= :'t0';
SELECT * FROM pg_background_result(:pid) AS (x int);
-- An explicit size still wins.
SELECT clock_timestamp() AS t0 \gset
SELECT pg_background_launch('SELECT 1', 4096) AS pid \gset
SELECT queue_size FROM pg_background_jobs WHERE pid = :pid AND launched_at >= :'t0';
SELECT * FROM pg_background_result(:pid) AS (x int);
-- The smallest queue carries any result.
SET pg_background.default_queue_size = 64;
SELECT h.pid, h.cookie FROM pg_background_launch_v2(
    'SELECT count(*) FROM generate_series(1, 1000)', 0) h \gset
SELECT queue_size FROM pg_background_list_v2()
    AS (pid int, cookie bigint, launched_at timestamptz, user_id oid,
        queue_size int, state text, sql_preview text, last_error text,
        consumed bool)
    WHERE pid = :pid AND cookie = :cookie;
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (n bigint);
RESET pg_background.default_queue_size;
-- Out of range (its bounds are those of queue_size; the bounds in the
-- message are cut off, as PostgreSQL 18 prints them with units).
SELECT regexp_replace(pg_temp.try('SET pg_background.default_queue_size = 63'), ' \(.*\)$', '') AS try;
SELECT pg_temp.try('SET pg_background.default_queue_size = ''2GB''');
SELECT regexp_replace(pg_temp.try('SET pg_background.default_queue_size = -1'), ' \(.*\)$', '') AS try;
-- Negative sizes are still refused.
SELECT pg_temp.try('SELECT pg_background_launch(''SELECT 1'', -1)');

--
-- (b) pg_background.worker_timeout: a time limit for each job.
--
SHOW pg_background.worker_timeout;
SET pg_background.worker_timeout = '1min';
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1')) AS (x int);
SET pg_background.worker_timeout = '200ms';
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT pg_sleep(60)')) AS (x text)$q$);
-- The limit is for the whole job, not for each statement.
SET pg_background.worker_timeout = '500ms';
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT pg_sleep(0.2); SELECT pg_sleep(0.2); SELECT pg_sleep(0.2);
     SELECT pg_sleep(0.2); SELECT pg_sleep(0.2); SELECT 1')) AS (x int)$q$);
-- A job without a reader: the outcome says why it ended.
SET pg_background.worker_timeout = '200ms';
SELECT h.pid, h.cookie FROM pg_background_submit_v2('SELECT pg_sleep(60)') h \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state, sqlstate, last_error, error_detail FROM pg_background_jobs
    WHERE pid = :pid AND cookie = :cookie;
-- Inside a job, SET cannot lengthen the limit it started with.
SELECT pg_temp.try($q$SELECT * FROM pg_background_result(pg_background_launch(
    'SET pg_background.worker_timeout = 0; SELECT pg_sleep(60)')) AS (x text)$q$);
RESET pg_background.worker_timeout;
SELECT regexp_replace(pg_temp.try('SET pg_background.worker_timeout = -1'), ' \(.*\)$', '') AS try;

-- Set in a session before the library is loaded: kept when it loads.
\c
SET pg_background.worker_timeout = '200ms';
SET pg_background.default_queue_size = '1MB';
-- (The new session has launched no job; in directory mode the list shows
-- the earlier sessions' jobs too, all launched before this one started.)
SELECT count(*) FROM pg_background_list_v2()
    AS (pid int, cookie bigint, launched_at timestamptz, user_id oid,
        queue_size int, state text, sql_preview text, last_error text,
        consumed bool)
    WHERE launched_at >= (SELECT backend_start FROM pg_stat_activity
                          WHERE pid = pg_backend_pid());
SHOW pg_background.worker_timeout;
SHOW pg_background.default_queue_size;

--
-- Upstream's signatures (users GRANT EXECUTE by them) and role.
--
SELECT p::regprocedure AS signature, pg_get_function_arguments(p::regprocedure) AS arguments,
       proisstrict
FROM unnest(ARRAY['pg_background_launch(text, integer)',
                  'pg_background_launch_v2(text, integer)',
                  'pg_background_submit_v2(text, integer)',
                  'pg_background_launch_v2(text, integer, text)',
                  'pg_background_submit_v2(text, integer, text)']) p
JOIN pg_proc ON pg_proc.oid = p::regprocedure;
-- One, two and three arguments each find one function.
SELECT h.pid AS pid1, h.cookie AS cookie1 FROM pg_background_launch_v2('SELECT 1') h \gset
SELECT h.pid AS pid2, h.cookie AS cookie2 FROM pg_background_launch_v2('SELECT 2', 0) h \gset
SELECT h.pid AS pid3, h.cookie AS cookie3 FROM pg_background_launch_v2('SELECT 3', 0, 'upc') h \gset
SELECT h.pid AS pid4, h.cookie AS cookie4
  FROM pg_background_launch_v2(sql => 'SELECT 4', queue_size => 0, label => 'upc') h \gset
-- (queue_size 0 is pg_background.default_queue_size, set to 1MB above)
SELECT label, queue_size FROM pg_background_jobs
 WHERE (pid, cookie) IN ((:pid1, :cookie1), (:pid2, :cookie2), (:pid3, :cookie3), (:pid4, :cookie4))
 ORDER BY sql_preview;
SELECT * FROM pg_background_result_v2(:pid1, :cookie1) AS (x int);
SELECT * FROM pg_background_result_v2(:pid2, :cookie2) AS (x int);
SELECT * FROM pg_background_result_v2(:pid3, :cookie3) AS (x int);
SELECT * FROM pg_background_result_v2(:pid4, :cookie4) AS (x int);
-- A label without a queue size matches no overload.
\set VERBOSITY terse
SELECT pg_background_launch_v2('SELECT 1', label => 'upc');
\set VERBOSITY default
-- The executor role: NOLOGIN, may run the API, not the helpers.
SELECT rolcanlogin, rolinherit FROM pg_roles WHERE rolname = 'pgbackground_role';
SELECT f, has_function_privilege('pgbackground_role', f, 'EXECUTE')
FROM unnest(ARRAY['pg_background_launch(text, integer)',
                  'pg_background_launch_v2(text, integer)',
                  'pg_background_result_v2(integer, bigint)',
                  'grant_pg_background_privileges(text, boolean)',
                  'revoke_pg_background_privileges(text, boolean)',
                  'pg_background_drop_executor_role()']) f;
SELECT has_table_privilege('pgbackground_role', 'pg_background_jobs', 'SELECT');

DROP TABLE upc_t;
DROP SEQUENCE upc_seq;
DROP DOMAIN upc_posint;
