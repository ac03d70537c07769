-- session_max_workers: pg_background.max_workers, as in upstream
-- pg_background, bounds the jobs one session holds at once: a job counts
-- from its launch until its results are read (or a read of them failed) or
-- it is detached, whether it still runs or not; a submitted job counts until
-- it is detached.  Unlike upstream, a job this session canceled no longer
-- counts.  A launch beyond the limit fails with 53400 and starts nothing.
-- The server-wide limit is pg_background.max_total_workers (its old name
-- was max_workers).
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;

-- try(q): run q; return 'ok' or the error's SQLSTATE, message, detail and
-- hint, with PIDs masked as <pid>.
CREATE FUNCTION pg_temp.try(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    detail text;
    hint text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS OR query_canceled THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                            hint = PG_EXCEPTION_HINT;
    msg := SQLSTATE || ': ' || msg
        || CASE WHEN detail <> '' THEN ' DETAIL: ' || detail ELSE '' END
        || CASE WHEN hint <> '' THEN ' HINT: ' || hint ELSE '' END;
    RETURN regexp_replace(msg, 'PID \d+', 'PID <pid>', 'g');
END
$$;

-- smw_jobs: the handles of the jobs this test launched and has neither
-- read nor detached; the test deletes a job's row when it reads or
-- detaches the job.  The list alone cannot tell which of its jobs this
-- session holds in directory mode (shared_preload_libraries), where it
-- shows every job of the role in the server: those of earlier sessions, and
-- those this session detached, or read and then forgot because the pool
-- gave their worker's PID to a later job of the session (such a job is
-- listed as not consumed).
CREATE TEMP TABLE smw_jobs (pid int4, cookie int8);

-- hold(pid): record the job this session has just launched with v1 (which
-- returns the worker's PID alone; the list has the cookie: of the jobs with
-- this PID, the one launched last), and return the PID.
CREATE FUNCTION pg_temp.hold(p int4) RETURNS int4
LANGUAGE sql AS $$
    INSERT INTO smw_jobs
    SELECT pid, cookie FROM pg_background_list() WHERE pid = p
    ORDER BY launched_at DESC LIMIT 1
    RETURNING pid
$$;

-- held(): the jobs of this session that count: of those smw_jobs names,
-- the ones the list shows neither consumed nor canceled.
CREATE FUNCTION pg_temp.held() RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM pg_background_list() JOIN smw_jobs USING (pid, cookie)
    WHERE NOT consumed AND state <> 'canceled'
$$;

-- launched(): this session's launch counter.
CREATE FUNCTION pg_temp.launched() RETURNS bigint
LANGUAGE sql AS $$
    SELECT workers_launched FROM pg_background_stats_v2()
$$;

CREATE TABLE smw_t (what text);

--
-- (a) The two settings: per session (user-settable, 1..1000, default 16)
-- and server-wide (reload only, -1 = no limit).
--
SELECT name, setting, context, min_val, max_val, boot_val
FROM pg_settings
WHERE name IN ('pg_background.max_workers', 'pg_background.max_total_workers')
ORDER BY name;
-- stats_v2 shows the session's limit, as upstream's does.
SELECT max_workers FROM pg_background_stats_v2();
SET pg_background.max_workers = 5;
SELECT max_workers FROM pg_background_stats_v2();

--
-- (b) Wrong values are refused (22023), and the setting stays.
--
SELECT pg_temp.try('SET pg_background.max_workers = 0');
SELECT pg_temp.try('SET pg_background.max_workers = -1');
SELECT pg_temp.try('SET pg_background.max_workers = 1001');
SELECT pg_temp.try('SET pg_background.max_workers = 2147483648');
SELECT pg_temp.try('SET pg_background.max_workers = ''two''');
SHOW pg_background.max_workers;
SET pg_background.max_workers = 1000;
SHOW pg_background.max_workers;
RESET pg_background.max_workers;
SHOW pg_background.max_workers;
-- The server-wide limit cannot be changed in a session.
SELECT pg_temp.try('SET pg_background.max_total_workers = 1');

--
-- (c) At the limit, every way to launch fails with 53400 and starts
-- nothing; finished jobs whose results are unread still count.
--
SET pg_background.max_workers = 2;
SELECT clock_timestamp() AS t_c \gset
SELECT pg_temp.hold(pg_background_launch('SELECT 1')) AS j1 \gset
SELECT (h).pid AS j2_pid, (h).cookie AS j2_cookie
FROM (SELECT pg_background_launch_v2('SELECT 2') AS h) s \gset
INSERT INTO smw_jobs VALUES (:j2_pid, :j2_cookie);
SELECT pg_background_wait_v2(:j1, cookie) FROM smw_jobs WHERE pid = :j1;
SELECT pg_background_wait_v2(:j2_pid, :j2_cookie);
SELECT pg_temp.held() AS held, pg_temp.launched() AS launched_before \gset
SELECT :held AS held;
SELECT pg_temp.try($$SELECT pg_background_launch('INSERT INTO smw_t VALUES (''v1'')')$$);
SELECT pg_temp.try($$SELECT pg_background_launch_v2('INSERT INTO smw_t VALUES (''v2'')')$$);
SELECT pg_temp.try($$SELECT pg_background_submit_v2('INSERT INTO smw_t VALUES (''submit'')')$$);
SELECT pg_temp.try($$SELECT pg_background_launch('INSERT INTO smw_t VALUES ($1)', 0, 'params'::text)$$);
-- Nothing was registered or counted for the refused launches (the list
-- shows the jobs launched since t_c: j1 and j2).
SELECT pg_temp.launched() - :launched_before AS launched_since, pg_temp.held() AS held,
       (SELECT count(*) FROM pg_background_list() WHERE launched_at >= :'t_c') AS listed;

--
-- (d) Reading a job's results frees its place.
--
SELECT * FROM pg_background_result(:j1) AS (x int);
DELETE FROM smw_jobs WHERE pid = :j1;
SELECT pg_temp.held() AS held;
SELECT pg_temp.hold(pg_background_launch('INSERT INTO smw_t VALUES (''after read'')')) AS j3 \gset
SELECT pg_temp.try($$SELECT pg_background_launch('SELECT 3')$$);

--
-- (e) Detaching a job frees its place (v1 and v2).
--
SELECT pg_background_detach_v2(:j2_pid, :j2_cookie);
DELETE FROM smw_jobs WHERE pid = :j2_pid;
SELECT pg_temp.held() AS held;
SELECT pg_temp.hold(pg_background_launch('SELECT pg_sleep(60)')) AS j4 \gset
SELECT pg_temp.try($$SELECT pg_background_launch('SELECT 4')$$);
SELECT * FROM pg_background_result(:j3) AS (tag text);
DELETE FROM smw_jobs WHERE pid = :j3;
SELECT * FROM smw_t ORDER BY what;

--
-- (f) A job this session canceled no longer counts (its results can never
-- be read: 57014 each time); the place is free at once.
--
SELECT pg_temp.hold(pg_background_launch('SELECT 5')) AS j5 \gset
SELECT pg_temp.try($$SELECT pg_background_launch('SELECT 6')$$);
SELECT pg_background_cancel_v2_grace(:j4, cookie, 5000)
FROM smw_jobs WHERE pid = :j4;
SELECT pg_temp.held() AS held;
SELECT pg_temp.hold(pg_background_launch('SELECT 6')) AS j6a \gset
SELECT pg_temp.try($$SELECT pg_background_launch('SELECT 7')$$);
SELECT pg_temp.try('SELECT * FROM pg_background_result(' || :j4 || ') AS (x text)');
SELECT pg_temp.try('SELECT * FROM pg_background_result(' || :j4 || ') AS (x text)');
SELECT pg_background_detach(:j4);
DELETE FROM smw_jobs WHERE pid = :j4;
SELECT * FROM pg_background_result(:j6a) AS (x int);
DELETE FROM smw_jobs WHERE pid = :j6a;

--
-- (g) A read that fails (the job's own error) frees the place as well.
--
SELECT pg_temp.hold(pg_background_launch('SELECT 1/0')) AS j6 \gset
SELECT pg_temp.try('SELECT * FROM pg_background_result(' || :j6 || ') AS (x int)');
DELETE FROM smw_jobs WHERE pid = :j6;
SELECT pg_temp.held() AS held;
SELECT * FROM pg_background_result(:j5) AS (x int);
DELETE FROM smw_jobs WHERE pid = :j5;

--
-- (h) A submitted job counts until it is detached, even once it is over.
--
SET pg_background.max_workers = 1;
SELECT (h).pid AS s_pid, (h).cookie AS s_cookie
FROM (SELECT pg_background_submit_v2('SELECT 7') AS h) s \gset
INSERT INTO smw_jobs VALUES (:s_pid, :s_cookie);
SELECT pg_background_wait_v2(:s_pid, :s_cookie);
SELECT pg_temp.held() AS held;
SELECT pg_temp.try($$SELECT pg_background_submit_v2('SELECT 8')$$);
SELECT pg_background_detach_v2(:s_pid, :s_cookie);
DELETE FROM smw_jobs WHERE pid = :s_pid;
SELECT pg_temp.held() AS held;

--
-- (i) Lowering the limit below what the session holds refuses new launches
-- and leaves the held jobs alone; raising it lets launches through.
--
SET pg_background.max_workers = 3;
SELECT pg_temp.hold(pg_background_launch('SELECT 10')) AS k1 \gset
SELECT pg_temp.hold(pg_background_launch('SELECT 11')) AS k2 \gset
SELECT pg_temp.hold(pg_background_launch('SELECT 12')) AS k3 \gset
SET pg_background.max_workers = 1;
SELECT pg_temp.try($$SELECT pg_background_launch('SELECT 13')$$);
SELECT * FROM pg_background_result(:k1) AS (x int);
DELETE FROM smw_jobs WHERE pid = :k1;
SELECT * FROM pg_background_result(:k2) AS (x int);
DELETE FROM smw_jobs WHERE pid = :k2;
-- Still one held, with a limit of one.
SELECT pg_temp.held() AS held;
SELECT pg_temp.try($$SELECT pg_background_launch('SELECT 14')$$);
SET pg_background.max_workers = 2;
SELECT * FROM pg_background_result(pg_background_launch('SELECT 15')) AS (x int);
SELECT * FROM pg_background_result(:k3) AS (x int);
DELETE FROM smw_jobs WHERE pid = :k3;

--
-- (j) SET LOCAL applies to the transaction only.
--
BEGIN;
SET LOCAL pg_background.max_workers = 1;
SELECT pg_temp.hold(pg_background_launch('SELECT 20')) AS m1 \gset
SELECT pg_temp.try($$SELECT pg_background_launch('SELECT 21')$$);
COMMIT;
SHOW pg_background.max_workers;
SELECT * FROM pg_background_result(pg_background_launch('SELECT 22')) AS (x int);
SELECT * FROM pg_background_result(:m1) AS (x int);
DELETE FROM smw_jobs WHERE pid = :m1;

RESET pg_background.max_workers;
SELECT pg_temp.held() AS held;
DROP TABLE smw_t;
