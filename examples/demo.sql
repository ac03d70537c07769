-- examples/demo.sql: a tour of pg_background, run by scripts/demo.sh.
\set ECHO queries
CREATE EXTENSION IF NOT EXISTS pg_background;

-- 1. Launch now, collect typed rows later.
SELECT pg_background_launch('SELECT g, md5(g::text) FROM generate_series(1, 3) g') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (n int, hash text);

-- Statements that return no rows give their command tags.
CREATE TABLE demo_items (id int PRIMARY KEY, note text);
SELECT * FROM pg_background_result(
    pg_background_launch('INSERT INTO demo_items VALUES (1, ''one''); INSERT INTO demo_items VALUES (2, ''two'')')
) AS (result text);
-- VACUUM (alone in its string) runs outside a transaction block, as in psql.
SELECT * FROM pg_background_result(pg_background_launch('VACUUM ANALYZE demo_items')) AS (result text);

-- 2. Fire and forget: detach, the job still runs to completion.
SELECT pg_background_detach(
    pg_background_launch('INSERT INTO demo_items VALUES (3, ''from a detached worker'')'));

-- 3. An autonomous transaction: the audit row survives the caller's rollback.
CREATE TABLE audit_log (event text, at timestamptz DEFAULT now());
BEGIN;
SELECT * FROM pg_background_result(
    pg_background_launch('INSERT INTO audit_log (event) VALUES (''job_started'')')
) AS (result text);
INSERT INTO demo_items VALUES (100, 'rolled back');
ROLLBACK;
SELECT event FROM audit_log;
SELECT count(*) AS rolled_back_rows FROM demo_items WHERE id = 100;

-- 4. Parallel fan-out: four workers, one query each, collected together.
CREATE FUNCTION demo_partition_sum(p int) RETURNS bigint
LANGUAGE sql AS $$ SELECT sum(g) FROM generate_series(p * 1000000 + 1, (p + 1) * 1000000) g $$;
WITH workers AS (
    SELECT p, pg_background_launch(format('SELECT demo_partition_sum(%s)', p)) AS pid
    FROM generate_series(0, 3) AS p
)
SELECT p, (SELECT s FROM pg_background_result(pid) AS (s bigint)) AS partition_sum
FROM workers ORDER BY p;

-- Errors in the worker come back with their SQLSTATE and a context line.
\set ON_ERROR_STOP 0
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1/0')) AS (x int);
\set ON_ERROR_STOP 1

-- The detached insert of step 2 (it finished long ago; we wait to be sure).
DO $$
BEGIN
    FOR i IN 1..1000 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM demo_items WHERE id = 3);
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
SELECT * FROM demo_items ORDER BY id;

-- 5. The shared job directory (this cluster preloads pg_background): a job
-- submitted by a session that then disconnects is seen, waited for and
-- read by a new session of the same role.
SELECT * FROM pg_background_submit_v2(
    'INSERT INTO demo_items VALUES (4, ''from a submitted job'')',
    queue_size => 0, label => 'demo-submit') \gset job_
\c
SELECT pg_background_wait_v2(:job_pid, :job_cookie);
SELECT state, command_tag FROM pg_background_outcome(:job_pid, :job_cookie);
SELECT label, state, command_tag FROM pg_background_jobs WHERE label = 'demo-submit';
SELECT active, queued, max_queued FROM pg_background_admission();
