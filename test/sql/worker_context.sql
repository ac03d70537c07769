-- worker_context: the worker runs with the launcher's settings, database,
-- identity and security context, and is visible in pg_stat_activity.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;
SELECT current_user AS orig_user \gset

-- try(q, pid): run q; return 'ok: <n> row(s)' or SQLSTATE and message,
-- with the given PID masked.
CREATE FUNCTION pg_temp.try(q text, pid int DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    msg text;
BEGIN
    EXECUTE q;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN 'ok: ' || n || ' row(s)';
EXCEPTION WHEN OTHERS THEN
    msg := SQLSTATE || ': ' || SQLERRM;
    IF pid IS NOT NULL THEN
        msg := replace(msg, pid::text, '<pid>');
    END IF;
    RETURN msg;
END
$$;

-- wait_until(cond): poll a boolean SQL expression with a deadline,
-- committing between polls (so as to hold no snapshot).
CREATE PROCEDURE pg_temp.wait_until(cond text)
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60 seconds';
    ok boolean;
BEGIN
    LOOP
        EXECUTE 'SELECT ' || cond INTO ok;
        EXIT WHEN ok;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'timed out waiting for: %', cond;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;

--
-- GUC state: the worker sees the launcher's settings (SET and SET LOCAL).
--
CREATE SCHEMA regress_ctx_schema;
CREATE TABLE regress_ctx_schema.ctx_t (a int);
SET search_path = regress_ctx_schema, public;
SET DateStyle = 'ISO, DMY';
SET TimeZone = 'America/Sao_Paulo';
SET regress.x = 'custom value';
SET work_mem = '12345kB';
SET statement_timeout = '123s';
SET lock_timeout = '45s';
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT current_setting('search_path'), current_setting('DateStyle'), current_setting('TimeZone'),
           current_setting('regress.x'), current_setting('work_mem'), current_setting('statement_timeout'),
           current_setting('lock_timeout'), '2024-01-02 03:04:05+00'::timestamptz::text,
           to_regclass('ctx_t')::text
$$)) AS (search_path text, datestyle text, timezone text, regress_x text, work_mem text,
         statement_timeout text, lock_timeout text, ts text, ctx_t text);
RESET search_path;
RESET DateStyle;
RESET TimeZone;
RESET regress.x;
RESET work_mem;
RESET statement_timeout;
RESET lock_timeout;
BEGIN;
SET LOCAL work_mem = '7MB';
SELECT pg_background_launch($$SELECT current_setting('work_mem')$$) AS pid \gset
COMMIT;
SELECT * FROM pg_background_result(:pid) AS (work_mem text);
-- A setting the worker's SQL changes does not leak back to us.
SET work_mem = '5MB';
SELECT * FROM pg_background_result(pg_background_launch(
    $$SET work_mem = '3MB'; SELECT current_setting('work_mem')$$)) AS (work_mem text);
SHOW work_mem;
RESET work_mem;

--
-- Identity: application_name, database, users.
--
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT current_setting('application_name'), current_database()::text,
           current_user::text, session_user::text
$$)) AS (application_name text, db text, cur text, sess text)
\gset w_
SELECT :'w_application_name' AS application_name,
       :'w_db' = current_database() AS same_database,
       :'w_cur' = current_user AS same_current_user,
       :'w_sess' = session_user AS same_session_user;

--
-- Roles used below.
--
CREATE ROLE regress_ctx_x;
CREATE ROLE regress_ctx_other;
CREATE ROLE regress_ctx_member IN ROLE regress_ctx_x;
-- (regress_ctx_owner can log in so that this output is the same before
-- PostgreSQL 17, where a worker cannot connect as a role without LOGIN.)
CREATE ROLE regress_ctx_owner LOGIN;
CREATE ROLE regress_ctx_nologin;
CREATE ROLE regress_ctx_caller;
CREATE ROLE regress_ctx_login LOGIN;
SELECT grant_pg_background_privileges(r)
FROM unnest(ARRAY['regress_ctx_x', 'regress_ctx_other', 'regress_ctx_member',
                  'regress_ctx_owner', 'regress_ctx_caller', 'regress_ctx_login',
                  'regress_ctx_nologin']) AS r;

--
-- SET ROLE: the worker runs as the role set, on top of the same session user.
--
SET ROLE regress_ctx_x;
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT current_user::text, session_user::text = current_setting('session_authorization'),
           current_setting('role'), current_setting('is_superuser')
$$)) AS (cur text, session_user_ok bool, role text, is_superuser text);
SELECT session_user = :'orig_user' AS launcher_session_user_unchanged;
-- A superuser-only setting cannot be set through the worker, just as it
-- cannot be set here.
SELECT pg_temp.try($$SELECT * FROM pg_background_result(pg_background_launch('SET log_statement = ''all''')) AS (r text)$$);
SELECT pg_temp.try($$SET log_statement = 'all'$$);
-- SET ROLE is checked against the session user (a superuser here), in the
-- worker as it is here.
SELECT pg_temp.try($$SELECT * FROM pg_background_result(pg_background_launch('SET ROLE regress_ctx_other')) AS (r text)$$);
SELECT pg_temp.try($$SET ROLE regress_ctx_other$$);
RESET ROLE;
-- As superuser both work.
SELECT * FROM pg_background_result(pg_background_launch($$SET log_statement = 'all'; SET ROLE regress_ctx_other; SELECT current_user::text$$)) AS (r text);
-- A superuser-only setting made by the superuser launcher is restored in
-- the worker even after SET ROLE to a plain role.
SET log_statement = 'mod';
SET ROLE regress_ctx_x;
SELECT * FROM pg_background_result(pg_background_launch($$SELECT current_setting('log_statement')$$)) AS (log_statement text);
RESET ROLE;
RESET log_statement;

--
-- SET SESSION AUTHORIZATION: the worker has the same session user.
--
SET SESSION AUTHORIZATION regress_ctx_x;
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT current_user::text, session_user::text, current_setting('is_superuser')
$$)) AS (cur text, sess text, is_superuser text);
SELECT pg_temp.try($$SELECT * FROM pg_background_result(pg_background_launch('SET log_statement = ''all''')) AS (r text)$$);
SELECT pg_temp.try($$SELECT * FROM pg_background_result(pg_background_launch('RESET ROLE; SET log_statement = ''all''')) AS (r text)$$);
SELECT pg_temp.try($$SELECT * FROM pg_background_result(pg_background_launch('SET ROLE regress_ctx_other')) AS (r text)$$);
SELECT pg_temp.try($$SET ROLE regress_ctx_other$$);
RESET SESSION AUTHORIZATION;

--
-- Who may read a job: the launching role and roles with its privileges.
--
-- Launched by the superuser, read after SET ROLE to an unrelated role: 42501,
-- and the failed attempt does not consume the result.
SELECT pg_background_launch('SELECT 1') AS pid \gset
SET ROLE regress_ctx_other;
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r int)', :pid), :pid);
SELECT pg_temp.try(format('SELECT pg_background_detach(%s)', :pid), :pid);
RESET ROLE;
SELECT * FROM pg_background_result(:pid) AS (r int);
-- Launched by regress_ctx_x: readable by a member of it, not by another role.
SET ROLE regress_ctx_x;
SELECT pg_background_launch('SELECT current_user::text') AS pid \gset
SET ROLE regress_ctx_other;
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r text)', :pid), :pid);
SET ROLE regress_ctx_member;
SELECT * FROM pg_background_result(:pid) AS (r text);
RESET ROLE;
-- Launched by regress_ctx_x, read by the superuser.
SET ROLE regress_ctx_x;
SELECT pg_background_launch('SELECT current_user::text') AS pid \gset
RESET ROLE;
SELECT * FROM pg_background_result(:pid) AS (r text);

--
-- SECURITY DEFINER: inside a function owned by regress_ctx_owner and called
-- by regress_ctx_caller, the job is a session of the owner: it connects as
-- the owner, so nothing in it can get back to our session user.
--
CREATE FUNCTION regress_ctx_definer(q text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r text;
BEGIN
    SELECT t INTO r FROM pg_background_result(pg_background_launch(q)) AS (t text);
    RETURN r;
END
$$;
CREATE FUNCTION regress_ctx_definer_launch(q text) RETURNS int
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    SELECT pg_background_launch(q)
$$;
CREATE FUNCTION regress_ctx_definer_set_role() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    SET ROLE regress_ctx_x;
    RETURN current_user;
END
$$;
ALTER FUNCTION regress_ctx_definer(text) OWNER TO regress_ctx_owner;
ALTER FUNCTION regress_ctx_definer_launch(text) OWNER TO regress_ctx_owner;
ALTER FUNCTION regress_ctx_definer_set_role() OWNER TO regress_ctx_owner;
SET ROLE regress_ctx_caller;
SELECT regress_ctx_definer('SELECT current_user::text') AS worker_current_user;
SELECT regress_ctx_definer('SELECT session_user::text') AS worker_session_user;
-- SET ROLE to a role the owner is not a member of fails; RESET ROLE and
-- RESET SESSION AUTHORIZATION stay with the owner; SET SESSION
-- AUTHORIZATION back to our session user fails.
SELECT pg_temp.try($$SELECT regress_ctx_definer('SET ROLE regress_ctx_x')$$);
SELECT regress_ctx_definer('RESET ROLE; RESET SESSION AUTHORIZATION; SELECT current_user || '' '' || session_user') AS after_reset;
SELECT left(pg_temp.try(format('SELECT regress_ctx_definer(%L)',
                               format('SET SESSION AUTHORIZATION %I', :'orig_user'))), 5) AS set_session_authorization;
SELECT left(pg_temp.try(format('SELECT regress_ctx_definer(%L)',
                               format('SET ROLE %I', :'orig_user'))), 5) AS set_role_launcher;
SELECT pg_temp.try($$SELECT regress_ctx_definer_set_role()$$);
-- A job launched inside the function belongs to its owner.
SELECT regress_ctx_definer_launch('SELECT current_user::text') AS pid \gset
SELECT pg_temp.try(format('SELECT * FROM pg_background_result(%s) AS (r text)', :pid), :pid);
RESET ROLE;
SELECT * FROM pg_background_result(:pid) AS (r text);

--
-- Such a job may start transactions of its own: a procedure's COMMIT, DO
-- with COMMIT, VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY.  After a COMMIT
-- it is still the owner's session: SET ROLE and SET SESSION AUTHORIZATION
-- to our session user, and set_config('role'), fail with 42501; RESET ROLE
-- stays with the owner.
--
CREATE SCHEMA regress_ctx_owned AUTHORIZATION regress_ctx_owner;
SET ROLE regress_ctx_owner;
CREATE TABLE regress_ctx_owned.t (a int);
INSERT INTO regress_ctx_owned.t SELECT generate_series(1, 100);
CREATE PROCEDURE regress_ctx_owned.p() LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress_ctx_owned.t VALUES (1);
    COMMIT;
    INSERT INTO regress_ctx_owned.t VALUES (2);
END
$$;
-- After a COMMIT, run cmd (with %I replaced by target) and tell who we are.
CREATE PROCEDURE regress_ctx_owned.after_commit(cmd text, target text, INOUT who text)
LANGUAGE plpgsql AS $$
BEGIN
    COMMIT;
    EXECUTE format(cmd, target);
    who := current_user || ' ' || session_user;
END
$$;
SET ROLE regress_ctx_caller;
SELECT regress_ctx_definer('CALL regress_ctx_owned.p()') AS call_with_commit;
SELECT regress_ctx_definer($q$DO $d$BEGIN INSERT INTO regress_ctx_owned.t VALUES (3); COMMIT; END$d$$q$) AS do_with_commit;
SELECT regress_ctx_definer('VACUUM regress_ctx_owned.t') AS vacuum;
SELECT regress_ctx_definer('ANALYZE regress_ctx_owned.t') AS analyze;
SELECT regress_ctx_definer('VACUUM (ANALYZE) regress_ctx_owned.t') AS vacuum_analyze;
SELECT regress_ctx_definer('SELECT count(*)::text FROM regress_ctx_owned.t') AS row_count;
SELECT regress_ctx_definer($$CALL regress_ctx_owned.after_commit('RESET ROLE', NULL, NULL)$$) AS after_commit_reset_role;
SELECT left(pg_temp.try(format('SELECT regress_ctx_definer(%L)',
    format('CALL regress_ctx_owned.after_commit(%L, %L, NULL)', 'SET ROLE %I', :'orig_user'))), 5) AS after_commit_set_role;
SELECT left(pg_temp.try(format('SELECT regress_ctx_definer(%L)',
    format('CALL regress_ctx_owned.after_commit(%L, %L, NULL)', 'SET SESSION AUTHORIZATION %I', :'orig_user'))), 5) AS after_commit_set_session_authorization;
SELECT left(pg_temp.try(format('SELECT regress_ctx_definer(%L)',
    format('CALL regress_ctx_owned.after_commit(%L, %L, NULL)', 'SELECT set_config(''role'', %L, false)', :'orig_user'))), 5) AS after_commit_set_config_role;
-- CREATE INDEX CONCURRENTLY waits for our snapshots too: wait for the index
-- (committing between polls), then read the result (as superuser).
SET statement_timeout = '90s';
SELECT regress_ctx_definer_launch('CREATE INDEX CONCURRENTLY t_a_idx ON regress_ctx_owned.t (a)') AS pid \gset
RESET ROLE;
CALL pg_temp.wait_until($$EXISTS (SELECT 1 FROM pg_index
    WHERE indexrelid = to_regclass('regress_ctx_owned.t_a_idx') AND indisvalid AND indisready)$$);
SELECT * FROM pg_background_result(:pid) AS (r text);
RESET statement_timeout;
-- The owner need not be able to log in.
CREATE FUNCTION regress_ctx_nologin_definer(q text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r text;
BEGIN
    SELECT t INTO r FROM pg_background_result(pg_background_launch(q)) AS (t text);
    RETURN r;
END
$$;
ALTER FUNCTION regress_ctx_nologin_definer(text) OWNER TO regress_ctx_nologin;
SET ROLE regress_ctx_caller;
SELECT regress_ctx_nologin_definer('SELECT current_user::text') AS nologin_current_user;
SELECT regress_ctx_nologin_definer($q$DO $d$BEGIN COMMIT; END$d$$q$) AS nologin_do_with_commit;
RESET ROLE;

--
-- No launch from within a security-restricted operation (an index
-- expression, REFRESH MATERIALIZED VIEW, maintenance commands): the job
-- would escape its restrictions (42501).
--
SET ROLE regress_ctx_owner;
CREATE FUNCTION regress_ctx_owned.launching(a int) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM public.pg_background_detach(public.pg_background_launch('SELECT 1'));
    RETURN a;
END
$$;
CREATE TABLE regress_ctx_owned.s (a int);
INSERT INTO regress_ctx_owned.s VALUES (1);
CREATE MATERIALIZED VIEW regress_ctx_owned.mv AS
    SELECT regress_ctx_owned.launching(1) AS a WITH NO DATA;
RESET ROLE;
SELECT pg_temp.try('CREATE INDEX ON regress_ctx_owned.s (regress_ctx_owned.launching(a))');
SELECT pg_temp.try('REFRESH MATERIALIZED VIEW regress_ctx_owned.mv');
-- Outside of one, the same function launches.
SELECT regress_ctx_owned.launching(1);

--
-- pg_stat_activity shows a running worker: it waits for a lock we hold.
--
SELECT pg_advisory_lock(72001);
SELECT pg_background_launch('SELECT 42 AS answer FROM pg_advisory_lock(72001)') AS pid \gset
SET regress.pid = :pid;
DO $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
                          WHERE pid = current_setting('regress.pid')::int AND wait_event = 'advisory');
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'the worker did not show up waiting in pg_stat_activity';
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;
RESET regress.pid;
SELECT backend_type, query, application_name, state, wait_event_type, wait_event,
       datname = current_database() AS same_db, usename = current_user AS same_user,
       backend_xid IS NULL AS no_xid
FROM pg_stat_activity WHERE pid = :pid;
SELECT pg_advisory_unlock(72001);
SELECT * FROM pg_background_result(:pid) AS (answer int);

--
-- A non-superuser session (granted the functions) launches and reads its
-- own job; superuser-only settings are refused.
--
\c - regress_ctx_login
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT current_user::text, session_user::text, current_setting(''is_superuser'')'
)) AS (cur text, sess text, is_superuser text);
\set VERBOSITY terse
SELECT * FROM pg_background_result(pg_background_launch('SET log_statement = ''all''')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('RESET ROLE; SET log_statement = ''all''')) AS (r text);
\set VERBOSITY default
\c - :orig_user

-- Clean up.
DROP FUNCTION regress_ctx_definer(text), regress_ctx_definer_launch(text), regress_ctx_definer_set_role(),
    regress_ctx_nologin_definer(text);
DROP SCHEMA regress_ctx_owned CASCADE;
DROP SCHEMA regress_ctx_schema CASCADE;
SELECT revoke_pg_background_privileges(r)
FROM unnest(ARRAY['regress_ctx_x', 'regress_ctx_other', 'regress_ctx_member',
                  'regress_ctx_owner', 'regress_ctx_caller', 'regress_ctx_login',
                  'regress_ctx_nologin']) AS r;
DROP ROLE regress_ctx_member, regress_ctx_x, regress_ctx_other, regress_ctx_owner,
          regress_ctx_caller, regress_ctx_login, regress_ctx_nologin;
-- The extension too, so that the next suite starts without it.
DROP EXTENSION pg_background;
