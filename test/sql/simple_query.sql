-- simple_query: the SQL string runs like a simple-query protocol message
-- (psql -c): one implicit transaction, explicit transaction control,
-- commands that refuse transaction blocks when alone, per-statement
-- statement_timeout, no COPY to or from the client.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;
-- Nothing here may wait forever: CREATE INDEX CONCURRENTLY waits for every
-- older transaction of the database, even another suite's leftover job.
-- (Workers inherit this setting.)
SET statement_timeout = '90s';
\set SHOW_CONTEXT never

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

-- sqlstate_of(q): the SQLSTATE q fails with, or 'ok'.  (OTHERS does not
-- match query_canceled, 57014.)
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN query_canceled OR OTHERS THEN
    RETURN SQLSTATE;
END
$$;

CREATE TABLE sq (a int);

--
-- Several statements are one transaction: an error in the second rolls
-- back the first; a syntax error anywhere means nothing runs.
--
SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO sq VALUES (1); INSERT INTO sq VALUES (1/0)')) AS (r text);
SELECT count(*) FROM sq;
\set VERBOSITY terse
SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO sq VALUES (1); SELEC 1')) AS (r text);
\set VERBOSITY default
SELECT count(*) FROM sq;

--
-- Transaction control inside the string works as in psql -c.
--
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO sq VALUES (2); COMMIT; INSERT INTO sq VALUES (3)')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO sq VALUES (4); ROLLBACK; INSERT INTO sq VALUES (5)')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO sq VALUES (6); SAVEPOINT s; INSERT INTO sq VALUES (7); ROLLBACK TO s; COMMIT')) AS (r text);
-- COMMIT ends the implicit transaction (with psql's warning); what
-- follows is a new one, rolled back by the error.
SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO sq VALUES (8); COMMIT; INSERT INTO sq VALUES (9); SELECT 1/0')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO sq VALUES (10); SAVEPOINT s')) AS (r text);
SELECT a FROM sq ORDER BY a;

--
-- A string that leaves a transaction block open fails (2D000), and what it
-- did in that block is rolled back.
--
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO sq VALUES (11)')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO sq VALUES (12); COMMIT; BEGIN; INSERT INTO sq VALUES (13)')) AS (r text);
SELECT pg_background_launch('BEGIN; INSERT INTO sq VALUES (14)') AS pid \gset
SET regress.pid = :pid;
DO $$
BEGIN
    PERFORM * FROM pg_background_result(current_setting('regress.pid')::int) AS (r text);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'sqlstate %', SQLSTATE;
END
$$;
RESET regress.pid;
SELECT a FROM sq WHERE a BETWEEN 11 AND 99 ORDER BY a;
SELECT pg_temp.sqlstate_of($$SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO sq VALUES (15)')) AS (r text)$$);

--
-- VACUUM and CREATE INDEX CONCURRENTLY work alone, and not combined with
-- other statements (25001).
--
SELECT * FROM pg_background_result(pg_background_launch('VACUUM sq')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('VACUUM (ANALYZE) sq')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('VACUUM sq; SELECT 1')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1; VACUUM sq')) AS (r int);
SELECT * FROM pg_background_result(pg_background_launch(
    'CREATE INDEX CONCURRENTLY sq_a_idx ON sq (a); SELECT 1')) AS (r int);
SELECT to_regclass('sq_a_idx') IS NULL AS no_index;
SELECT pg_temp.sqlstate_of($$SELECT * FROM pg_background_result(pg_background_launch(
    'VACUUM sq; SELECT 1')) AS (r int)$$);
-- CREATE INDEX CONCURRENTLY waits for every snapshot older than its own,
-- including ours while we wait for its result in the same statement: wait
-- for the index (committing between polls), then read the result.
SELECT pg_background_launch('CREATE INDEX CONCURRENTLY sq_a_idx ON sq (a)') AS pid \gset
CALL pg_temp.wait_until($$EXISTS (SELECT 1 FROM pg_index
    WHERE indexrelid = to_regclass('sq_a_idx') AND indisvalid AND indisready)$$);
SELECT * FROM pg_background_result(:pid) AS (r text);

--
-- statement_timeout: set in the string (the manual's timeout pattern) ...
--
SELECT * FROM pg_background_result(pg_background_launch(
    'SET statement_timeout = ''100ms''; SELECT 1 AS n FROM pg_sleep(10)')) AS (n int);
SELECT pg_temp.sqlstate_of($$SELECT * FROM pg_background_result(pg_background_launch(
    'SET statement_timeout = ''100ms''; SELECT 1 AS n FROM pg_sleep(10)')) AS (n int)$$);
-- A void column, as in 'SELECT pg_sleep(10)', reads as a string column
-- (no column definition list can declare void).
SELECT * FROM pg_background_result(pg_background_launch(
    'SET statement_timeout = ''100ms''; SELECT pg_sleep(10)')) AS (r text);
SELECT r = '' AS empty_string FROM pg_background_result(pg_background_launch('SELECT pg_sleep(0)')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('SELECT pg_sleep(0)')) AS (r int);
-- ... or inherited from the launcher.  The setting comes from a function's
-- SET clause, so that it does not apply to our own statement; the job waits
-- for a lock we hold until its timeout cancels it.
CREATE FUNCTION pg_temp.launch_with_timeout(q text) RETURNS int
LANGUAGE sql SET statement_timeout = '200ms' AS $$ SELECT pg_background_launch(q) $$;
SELECT pg_advisory_lock(73001);
SELECT pg_temp.launch_with_timeout('SELECT current_setting(''statement_timeout'') FROM pg_advisory_lock(73001)') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (r text);
SELECT pg_advisory_unlock(73001);
SELECT * FROM pg_background_result(pg_temp.launch_with_timeout(
    'SELECT current_setting(''statement_timeout'')')) AS (r text);

--
-- COPY to or from the client is refused before anything in the string
-- runs; COPY with a server program works.
--
SELECT * FROM pg_background_result(pg_background_launch('COPY sq TO STDOUT')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('COPY sq FROM STDIN')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch('copy (select 1) to stdout with (format csv)')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO sq VALUES (100); COPY sq TO STDOUT')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO sq VALUES (101); COMMIT; COPY sq FROM STDIN')) AS (r text);
SELECT pg_temp.sqlstate_of($$SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO sq VALUES (103); COPY sq TO STDOUT')) AS (r text)$$);
SELECT count(*) FROM sq WHERE a >= 100;
SELECT * FROM pg_background_result(pg_background_launch(
    'COPY (SELECT g FROM generate_series(1, 3) g) TO PROGRAM ''cat > /dev/null''')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'COPY sq FROM PROGRAM ''echo 102''')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'COPY sq TO ''/dev/null''')) AS (r text);
SELECT count(*) FROM sq WHERE a = 102;

--
-- Utility statements that return rows return rows.
--
SELECT * FROM pg_background_result(pg_background_launch('SHOW DateStyle')) AS (datestyle text);
SELECT * FROM pg_background_result(pg_background_launch('EXPLAIN (COSTS OFF) SELECT 1')) AS (plan text);
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1;;; SELECT 2')) AS (n int);

--
-- An autonomous transaction: the worker commits on its own, whatever our
-- transaction does, and does not see our uncommitted rows.
--
BEGIN;
INSERT INTO sq VALUES (200);
SELECT * FROM pg_background_result(pg_background_launch('INSERT INTO sq VALUES (201)')) AS (r text);
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT count(*) FILTER (WHERE a = 200), count(*) FILTER (WHERE a = 201) FROM sq')) AS (mine bigint, its bigint);
ROLLBACK;
SELECT a FROM sq WHERE a >= 200 ORDER BY a;

DROP TABLE sq;
DROP FUNCTION pg_temp.launch_with_timeout(text), pg_temp.sqlstate_of(text);
DROP PROCEDURE pg_temp.wait_until(text);
-- The extension too, so that the next suite starts without it.
DROP EXTENSION pg_background;
