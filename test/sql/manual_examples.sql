-- manual_examples: every SQL example of the reference manual, run as written
-- wherever that is possible, with the output the manual shows (PIDs are
-- captured with \gset and never printed).
--
-- Deviations from "as written", all forced by the test conventions:
--  * my_table has 100000 rows (not 1000000) to keep the suite fast;
--  * the manual's roles (background_user, pg_bg_executor, alice, bob) get a
--    regress_ prefix, and "mydb" is the current database;
--  * PID 12345 is replaced by the PID of a real worker;
--  * PL/pgSQL-only statements (PERFORM) run inside a DO block;
--  * monitoring queries that return PIDs or timestamps are wrapped in an
--    outer SELECT that keeps the stable columns.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;
-- Nothing here may wait forever: CREATE INDEX CONCURRENTLY waits for every
-- older transaction of the database, even another suite's leftover job.
-- (Workers inherit this setting.)
SET statement_timeout = '90s';

-- Wait (with a deadline) until a boolean SQL expression is true.  When
-- called outside a transaction block it commits between polls, so that it
-- holds no snapshot a CREATE INDEX CONCURRENTLY could be waiting for.
CREATE PROCEDURE pg_temp.wait_until(cond text, in_xact boolean DEFAULT false)
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
        IF NOT in_xact THEN
            COMMIT;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;

-- Objects the examples need.
CREATE TABLE my_table AS
    SELECT g AS id, 'row ' || g AS "column", 'name ' || g AS name
    FROM generate_series(1, 100000) g;
CREATE TABLE users (id serial PRIMARY KEY, email text);
INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 1000) g;
CREATE TABLE audit_log (event text, timestamp timestamptz);
CREATE TABLE large_table AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 10000) g;
CREATE TABLE huge_table AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 50000) g;
CREATE TABLE partitions_done (partition_id int);
CREATE FUNCTION process_partition(p int) RETURNS boolean
LANGUAGE sql AS $$
    INSERT INTO partitions_done VALUES (p) RETURNING p % 3 = 0
$$;
CREATE FUNCTION expensive_query() RETURNS text
LANGUAGE sql AS $$ SELECT 'expensive result ' || count(*) FROM large_table $$;

--
-- Installation: Verify Installation
--
SELECT extname, extversion = default_version AS is_default_version FROM (
SELECT extname, extversion FROM pg_extension WHERE extname = 'pg_background'
) s JOIN pg_available_extensions a ON a.name = s.extname;

--
-- Quick Start: Basic Example.  VACUUM VERBOSE sends INFO messages (whatever
-- client_min_messages says); their text has timings, so show only their
-- severity and SQLSTATE: they do reach the caller, before the result.
--
\set VERBOSITY sqlstate
SELECT pg_background_launch('VACUUM VERBOSE my_table') AS pid \gset
SELECT * FROM pg_background_result(:pid) AS (result TEXT);
\set VERBOSITY default

--
-- Quick Start: Wait for Result
--
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT count(*) FROM my_table')
) AS (count BIGINT);

--
-- Quick Start: Detached Background Execution.  As written, "column" is a
-- reserved word and the index definition is a syntax error; show that error
-- by reading the worker's result instead of detaching ...
--
\set VERBOSITY terse
SELECT * FROM pg_background_result(
    pg_background_launch('CREATE INDEX CONCURRENTLY idx_my_table ON my_table(column)')
) AS (result TEXT);
\set VERBOSITY default
-- ... then run the DO block with the column name quoted.  Its NOTICE names
-- the PID, so it is hidden; the index must appear and become valid.
SET client_min_messages = warning;
DO $$
DECLARE
    worker_pid INTEGER;
BEGIN
    worker_pid := pg_background_launch('CREATE INDEX CONCURRENTLY idx_my_table ON my_table("column")');
    PERFORM pg_background_detach(worker_pid);
    RAISE NOTICE 'Background index creation started with PID %', worker_pid;
END $$;
RESET client_min_messages;
CALL pg_temp.wait_until($$EXISTS (SELECT 1 FROM pg_index
    WHERE indexrelid = to_regclass('idx_my_table') AND indisvalid AND indisready)$$);
SELECT indexrelid::regclass, indrelid::regclass, indisvalid
FROM pg_index WHERE indexrelid = 'idx_my_table'::regclass;

--
-- API Reference: pg_background_launch with a 128 kB queue
--
SELECT pg_background_launch('ANALYZE my_table', 131072) AS pid \gset
SELECT :pid > 0 AS launched;
SELECT * FROM pg_background_result(:pid) AS (result TEXT);

--
-- API Reference: pg_background_result, rows and command tags
--
SELECT pg_background_launch('SELECT id, name FROM my_table WHERE id <= 3 ORDER BY id') AS pid \gset
-- Query with result rows
SELECT * FROM pg_background_result(:pid) AS (id INT, name TEXT);
SELECT pg_background_launch('UPDATE my_table SET name = ''first'' WHERE id = 1') AS pid \gset
-- Command with no result rows (returns tag)
SELECT * FROM pg_background_result(:pid) AS (result TEXT);

--
-- API Reference: pg_background_detach (PERFORM needs PL/pgSQL).  VACUUM FULL
-- rewrites the table: wait until its file node changes.
--
SELECT pg_relation_filenode('my_table') AS filenode_before \gset
DO $$
BEGIN
    -- Detach immediately after launch
    PERFORM pg_background_detach(pg_background_launch('VACUUM FULL my_table'));
END $$;
CALL pg_temp.wait_until(format('pg_relation_filenode(%L) <> %s', 'my_table', :filenode_before));
SELECT count(*) FROM my_table;

--
-- API Reference: grant_pg_background_privileges / revoke_pg_background_privileges
--
CREATE ROLE regress_background_user;
SELECT grant_pg_background_privileges('regress_background_user', TRUE);
SELECT revoke_pg_background_privileges('regress_background_user', TRUE);
DROP ROLE regress_background_user;

--
-- Usage Examples: Long-Running Maintenance.  To see the worker in
-- pg_stat_activity, keep it waiting for a lock this session holds.
--
BEGIN;
LOCK TABLE large_table IN SHARE UPDATE EXCLUSIVE MODE;
-- Launch VACUUM in background.  (The manual says VACUUM VERBOSE ANALYZE;
-- how many INFO messages that sends depends on the server version, e.g.
-- 18's ANALYZE VERBOSE adds one, so the test leaves VERBOSE out.)
SELECT pg_background_launch('VACUUM ANALYZE large_table') AS pid \gset
CALL pg_temp.wait_until(format($$EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE pid = %s AND wait_event_type = 'Lock')$$, :pid), true);
-- Check progress in pg_stat_activity
SELECT state, query, state_change IS NOT NULL AS has_state_change FROM (
SELECT pid, state, query, state_change 
FROM pg_stat_activity 
WHERE query LIKE '%VACUUM%'
) s WHERE pid = :pid;
-- Troubleshooting: "PID %d is not attached": verify worker is yours
SELECT state, query FROM (
SELECT pid, state, query FROM pg_stat_activity WHERE pid = :pid
) s;
-- Troubleshooting: monitor active workers
SELECT application_name, state, query, duration IS NOT NULL AS has_duration FROM (
SELECT 
    pid, 
    application_name,
    state,
    query,
    backend_start,
    state_change,
    now() - state_change AS duration
FROM pg_stat_activity
WHERE application_name LIKE '%pg_background%'
   OR query LIKE '%pg_background%'
) s WHERE pid = :pid;
-- Troubleshooting: "could not register background process": check current
-- usage.  Note that pg_background workers are not counted by this query:
-- their backend_type is 'pg_background', not 'background worker'.
SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'background worker';
SELECT count(*) AS pg_background_workers
FROM pg_stat_activity WHERE backend_type = 'pg_background' AND pid = :pid;
COMMIT;
-- Retrieve results when complete (VACUUM and ANALYZE send INFO messages)
\set VERBOSITY sqlstate
SELECT * FROM pg_background_result(:pid) AS (result TEXT);
\set VERBOSITY default

--
-- Usage Examples: Autonomous Transactions.  The caller rolls back; the
-- detached worker's audit row is committed anyway.
--
BEGIN;
DO $$
DECLARE
    log_worker INTEGER;
BEGIN
    log_worker := pg_background_launch(
        'INSERT INTO audit_log (event, timestamp) VALUES (''job_started'', now())'
    );
    PERFORM pg_background_detach(log_worker);
    
    -- Main work here (may rollback)
    -- Audit log entry is independent
END $$;
INSERT INTO users (email) VALUES ('rolled-back@example.com');
ROLLBACK;
CALL pg_temp.wait_until('EXISTS (SELECT 1 FROM audit_log)');
SELECT event, timestamp IS NOT NULL AS has_timestamp FROM audit_log;
SELECT count(*) FROM users WHERE email = 'rolled-back@example.com';

--
-- Usage Examples: Parallel Data Processing
--
WITH workers AS (
    SELECT 
        partition_id,
        pg_background_launch(
            format('SELECT process_partition(%L)', partition_id)
        ) AS pid
    FROM generate_series(1, 10) AS partition_id
)
SELECT 
    partition_id,
    (SELECT result FROM pg_background_result(pid) AS (result BOOLEAN))
FROM workers;
SELECT count(*), count(DISTINCT partition_id), min(partition_id), max(partition_id)
FROM partitions_done;

--
-- Usage Examples: Timeout Pattern (a query that finishes in time)
--
SELECT * FROM pg_background_result(
    pg_background_launch(
        'SET statement_timeout = ''5s''; SELECT expensive_query()'
    )
) AS (result TEXT);

--
-- Usage Examples: Async Index Creation.  An open transaction that wrote to
-- users keeps the build in its first phase, so that the progress query
-- shows a stable row; then the index is waited for.
--
BEGIN;
INSERT INTO users (email) VALUES ('writer@example.com');
-- Create index without blocking
SELECT pg_background_detach(
    pg_background_launch(
        'CREATE INDEX CONCURRENTLY idx_users_email ON users(email)'
    )
);
CALL pg_temp.wait_until($$EXISTS (SELECT 1 FROM pg_stat_progress_create_index
    WHERE relid = 'users'::regclass AND phase = 'waiting for writers before build')$$, true);
-- Monitor progress
SELECT 
    phase, 
    blocks_done, 
    blocks_total,
    round(100.0 * blocks_done / NULLIF(blocks_total, 0), 2) AS pct_done
FROM pg_stat_progress_create_index
WHERE command = 'CREATE INDEX CONCURRENTLY';
COMMIT;
CALL pg_temp.wait_until($$EXISTS (SELECT 1 FROM pg_index
    WHERE indexrelid = to_regclass('idx_users_email') AND indisvalid AND indisready)$$);
SELECT indexrelid::regclass, indisvalid FROM pg_index
WHERE indexrelid = 'idx_users_email'::regclass;

--
-- Security & Permissions: Recommended Setup
--
SELECT current_database() AS mydb \gset
-- Create dedicated role for background processing
CREATE ROLE regress_pg_bg_executor;

-- Grant necessary database privileges
GRANT CONNECT ON DATABASE :"mydb" TO regress_pg_bg_executor;
GRANT USAGE ON SCHEMA public TO regress_pg_bg_executor;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO regress_pg_bg_executor;

-- Grant pg_background privileges
SELECT grant_pg_background_privileges('regress_pg_bg_executor', FALSE);

-- Assign role to users
CREATE ROLE regress_alice;
CREATE ROLE regress_bob;
GRANT regress_pg_bg_executor TO regress_alice, regress_bob;
-- A member can now run background SQL as itself.
SET ROLE regress_alice;
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT current_user::text, count(*) FROM users')
) AS (who text, n bigint);
RESET ROLE;

--
-- Performance Considerations: a 1 MB queue for a large result set
--
SELECT pg_background_launch(
    'SELECT * FROM huge_table',
    1048576  -- 1 MB queue
) AS pid \gset
SELECT count(*), sum(id), md5(string_agg(payload, ',' ORDER BY id)) =
       (SELECT md5(string_agg(payload, ',' ORDER BY id)) FROM huge_table) AS same_payload
FROM pg_background_result(:pid) AS (id int, payload text);

--
-- Troubleshooting: "results for PID %d have already been consumed": store
-- results in a temporary table if needed multiple times
--
SELECT pg_background_launch('SELECT id, name FROM my_table WHERE id BETWEEN 2 AND 4 ORDER BY id') AS pid \gset
CREATE TEMP TABLE worker_results AS
SELECT * FROM pg_background_result(:pid) AS (id INT, value TEXT);
SELECT * FROM worker_results ORDER BY id;
SELECT * FROM worker_results ORDER BY id;

--
-- Troubleshooting: "remote query result rowtype does not match"
--
SELECT pg_background_launch('SELECT count(*) FROM my_table') AS pid \gset
-- Wrong:
SELECT * FROM pg_background_result(:pid) AS (count TEXT);
SELECT pg_background_launch('SELECT count(*) FROM my_table') AS pid \gset
-- Right (if query returns BIGINT):
SELECT * FROM pg_background_result(:pid) AS (count BIGINT);

--
-- Troubleshooting: Enable Verbose Logging (SET command), Check DSM Usage
--
SET log_min_messages = DEBUG1;
SET log_error_verbosity = VERBOSE;
RESET log_min_messages;
RESET log_error_verbosity;
-- The manual's query, as it is.  No shared memory allocation of PostgreSQL
-- or of pg_background has "dsm" in its name (dynamic shared memory segments
-- are not listed in pg_shmem_allocations), so it finds nothing.
SELECT * FROM pg_shmem_allocations 
WHERE name LIKE '%dsm%';

--
-- Notices, warnings and INFO messages from the worker reach the caller in
-- the order the worker raised them, before the rows.
--
SELECT * FROM pg_background_result(pg_background_launch($$
    DO $do$ BEGIN
        RAISE NOTICE 'first: notice';
        RAISE WARNING 'second: warning';
        RAISE INFO 'third: info';
        RAISE NOTICE 'fourth: notice';
    END $do$;
    SELECT 'rows come last'
$$)) AS (result text);

-- Clean up.
DROP OWNED BY regress_pg_bg_executor;
DROP ROLE regress_alice, regress_bob, regress_pg_bg_executor;
DROP TABLE worker_results, my_table, users, audit_log, large_table, huge_table, partitions_done;
DROP FUNCTION process_partition(int), expensive_query();
DROP PROCEDURE pg_temp.wait_until(text, boolean);

--
-- Compatibility: Upgrade Path.  The default version is newer, so the
-- manual's target version 1.6 is installed first; then the extension is
-- updated to the default version.
--
DROP EXTENSION pg_background;
CREATE EXTENSION pg_background VERSION '1.6';
ALTER EXTENSION pg_background UPDATE TO '1.6';
SELECT extversion FROM pg_extension WHERE extname = 'pg_background';
ALTER EXTENSION pg_background UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions
                     WHERE name = 'pg_background') AS at_default_version
FROM pg_extension WHERE extname = 'pg_background';
-- The extension too, so that the next suite starts without it.
DROP EXTENSION pg_background;
