/*
 * pg_background--2.1.sql: the catalog of pg_background 2.1.
 *
 * This one script is both the install script of 2.1 and, copied by the
 * Makefile as pg_background--<old>--2.1.sql, the update script from every
 * earlier version: ours (1.4, 1.6, 1.7, 1.8) and upstream pg_background's
 * (1.0 to 1.10, 2.0), whose 1.4, 1.6, 1.7 and 1.8 are other catalogs under
 * the same version names.  It therefore never assumes what is there: it
 * inspects the extension's member objects and converges them on the
 * objects below, which makes the result the same from any start.
 *
 *   1. views, and composite types whose columns differ from ours, that
 *      are members of the extension are dropped (with the member functions
 *      that use such a type);
 *   2. our types are created where missing;
 *   3. each of our functions is created with CREATE OR REPLACE, which keeps
 *      an existing function's OID, owner and grants; where PostgreSQL
 *      cannot replace it in place (other result type, parameter names or
 *      fewer defaults) it is dropped and created again, and the grants it
 *      had are given again;
 *   4. our view is created (or replaced);
 *   5. member functions and composite types that are not ours are dropped;
 *   6. nothing is executable by PUBLIC, comments of members are removed,
 *      and the role pgbackground_role (created if missing, NOLOGIN) may
 *      execute the API.
 *
 * Dropping never cascades: an object of the user's that depends on one
 * that must go stops the update with PostgreSQL's dependency error.
 *
 * The extension is relocatable: nothing here names its schema.  The
 * script runs with search_path set to the extension's schema, so CREATE
 * puts objects there and unqualified names find them; functions that pin
 * their search_path look the schema up in pg_extension when they run.
 */

-- complain if script is sourced in psql, rather than via CREATE/ALTER EXTENSION
\echo Use "CREATE EXTENSION pg_background" to load this file. \quit

--
-- 1. Member views, and member composite types whose columns are not ours.
--
DO $pgbg$
DECLARE
    ext pg_catalog.oid;
    dropping pg_catalog.text;
    t record;
    fn pg_catalog.text;
BEGIN
    SELECT e.oid INTO ext FROM pg_catalog.pg_extension e
     WHERE e.extname = 'pg_background';

    SELECT pg_catalog.string_agg(c.oid::pg_catalog.regclass::pg_catalog.text, ', ')
      INTO dropping
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_class c ON c.oid = d.objid
     WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = ext AND d.deptype = 'e'
       AND c.relkind = 'v'
       AND c.relname NOT IN ('pg_background_jobs', 'pg_background_durable_jobs');
    IF dropping IS NOT NULL THEN
        EXECUTE 'DROP VIEW ' || dropping;
    END IF;

    FOR t IN
        SELECT ty.oid, ty.typarray, ty.typname,
               (SELECT pg_catalog.string_agg(a.attname || ' ' ||
                        pg_catalog.format_type(a.atttypid, a.atttypmod), ', '
                        ORDER BY a.attnum)
                  FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = ty.typrelid AND a.attnum > 0
                   AND NOT a.attisdropped) AS columns,
               want.columns AS wanted
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_type ty ON ty.oid = d.objid
          JOIN pg_catalog.pg_class c ON c.oid = ty.typrelid AND c.relkind = 'c'
          JOIN (VALUES
                ('pg_background_handle', 'pid integer, cookie bigint'),
                ('pg_background_stats',
                 'workers_launched bigint, workers_completed bigint, '
                 'workers_failed bigint, workers_canceled bigint, '
                 'workers_active integer, avg_execution_ms double precision, '
                 'max_workers integer'),
                ('pg_background_progress', 'progress_pct integer, progress_msg text'),
                ('pg_background_job_outcome',
                 'state text, command_tag text, row_count bigint, '
                 'started_at timestamp with time zone, '
                 'finished_at timestamp with time zone, sqlstate text, '
                 'message text, detail text, hint text, context text'),
                ('pg_background_durable_job',
                 'id bigint, label text, state text, attempts integer, '
                 'max_attempts integer, enqueued_at timestamp with time zone, '
                 'run_at timestamp with time zone, '
                 'started_at timestamp with time zone, '
                 'finished_at timestamp with time zone, sqlstate text, '
                 'message text, detail text, command_tag text, owner regrole'))
               AS want(typname, columns) ON want.typname = ty.typname
         WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid = ext AND d.deptype = 'e'
    LOOP
        CONTINUE WHEN t.columns = t.wanted;
        -- Member functions that take or return the type (or its array) go
        -- first; step 3 creates ours again with the new type.
        FOR fn IN
            SELECT DISTINCT p.oid::pg_catalog.regprocedure::pg_catalog.text
              FROM pg_catalog.pg_depend dt
              JOIN pg_catalog.pg_proc p ON p.oid = dt.objid
              JOIN pg_catalog.pg_depend de ON de.objid = p.oid
                   AND de.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                   AND de.refobjid = ext AND de.deptype = 'e'
             WHERE dt.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
               AND dt.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass
               AND dt.refobjid IN (t.oid, t.typarray)
        LOOP
            EXECUTE 'DROP FUNCTION ' || fn;
        END LOOP;
        EXECUTE 'DROP TYPE ' || t.oid::pg_catalog.regtype::pg_catalog.text;
    END LOOP;
END
$pgbg$;

--
-- 2. Types.
--
DO $pgbg$
DECLARE
    ty record;
BEGIN
    FOR ty IN
        SELECT * FROM (VALUES
            ('pg_background_handle',
             'pid pg_catalog.int4, cookie pg_catalog.int8'),
            ('pg_background_stats',
             'workers_launched pg_catalog.int8, workers_completed pg_catalog.int8, '
             'workers_failed pg_catalog.int8, workers_canceled pg_catalog.int8, '
             'workers_active pg_catalog.int4, avg_execution_ms pg_catalog.float8, '
             'max_workers pg_catalog.int4'),
            ('pg_background_progress',
             'progress_pct pg_catalog.int4, progress_msg pg_catalog.text'),
            ('pg_background_job_outcome',
             'state pg_catalog.text, command_tag pg_catalog.text, '
             'row_count pg_catalog.int8, started_at pg_catalog.timestamptz, '
             'finished_at pg_catalog.timestamptz, sqlstate pg_catalog.text, '
             'message pg_catalog.text, detail pg_catalog.text, '
             'hint pg_catalog.text, context pg_catalog.text'),
            ('pg_background_durable_job',
             'id pg_catalog.int8, label pg_catalog.text, state pg_catalog.text, '
             'attempts pg_catalog.int4, max_attempts pg_catalog.int4, '
             'enqueued_at pg_catalog.timestamptz, run_at pg_catalog.timestamptz, '
             'started_at pg_catalog.timestamptz, finished_at pg_catalog.timestamptz, '
             'sqlstate pg_catalog.text, message pg_catalog.text, '
             'detail pg_catalog.text, command_tag pg_catalog.text, '
             'owner pg_catalog.regrole'))
            AS want(typname, columns)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                        WHERE t.typname = ty.typname
                          AND t.typnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n
                                                 WHERE n.nspname = pg_catalog.current_schema()))
        THEN
            EXECUTE pg_catalog.format('CREATE TYPE %I AS (%s)', ty.typname, ty.columns);
        END IF;
    END LOOP;
END
$pgbg$;

--
-- 2b. The table of durable jobs (docs/durable.md).  Only the extension's
-- functions, running as its owner, read or write it; pg_dump dumps its
-- rows (pg_extension_config_dump), so a restore keeps pending jobs.
--
CREATE TABLE IF NOT EXISTS pgbg_durable (
    id bigserial PRIMARY KEY,
    owner pg_catalog.regrole NOT NULL,
    sql pg_catalog.text NOT NULL,
    param_types pg_catalog.regtype[],
    param_values pg_catalog.text[],
    label pg_catalog.text,
    state pg_catalog.text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    run_at pg_catalog.timestamptz NOT NULL,
    max_attempts pg_catalog.int4 NOT NULL CHECK (max_attempts >= 1),
    retry_delay pg_catalog.interval NOT NULL,
    timeout pg_catalog.interval,
    attempts pg_catalog.int4 NOT NULL DEFAULT 0,
    errors pg_catalog.int4 NOT NULL DEFAULT 0,
    enqueued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at pg_catalog.timestamptz,
    finished_at pg_catalog.timestamptz,
    sqlstate pg_catalog.text,
    message pg_catalog.text,
    detail pg_catalog.text,
    command_tag pg_catalog.text
);
CREATE INDEX IF NOT EXISTS pgbg_durable_due ON pgbg_durable (run_at, id)
    WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS pgbg_durable_finished ON pgbg_durable (finished_at)
    WHERE state IN ('succeeded', 'failed', 'canceled');
REVOKE ALL ON pgbg_durable FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pgbg_durable', '');
SELECT pg_catalog.pg_extension_config_dump('pgbg_durable_id_seq', '');

--
-- 3. Functions, 4. the view, 5. what is not ours.
--
-- Each function is a (signature, definition) pair, created in this order
-- with CREATE OR REPLACE FUNCTION <definition>; the signature is what a
-- drop-and-create and the sweep name it by.
--
DO $pgbg$
DECLARE
    ext pg_catalog.oid;
    f record;
    g record;
    grants pg_catalog.text[];
    ours pg_catalog.oid[] := '{}';
    dropping pg_catalog.text;
BEGIN
    SELECT e.oid INTO ext FROM pg_catalog.pg_extension e
     WHERE e.extname = 'pg_background';

    FOR f IN SELECT * FROM (VALUES
-- The PID API (1.4).
('pg_background_launch(pg_catalog.text, pg_catalog.int4)', $d$
pg_background_launch(sql pg_catalog.text, queue_size pg_catalog.int4 DEFAULT 0)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'pg_background_launch' LANGUAGE C VOLATILE$d$),
('pg_background_result(pg_catalog.int4)', $d$
pg_background_result(pid pg_catalog.int4)
RETURNS SETOF pg_catalog.record
AS 'MODULE_PATHNAME', 'pg_background_result' LANGUAGE C VOLATILE$d$),
('pg_background_detach(pg_catalog.int4)', $d$
pg_background_detach(pid pg_catalog.int4)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_detach' LANGUAGE C VOLATILE$d$),
-- Parameter binding: values for $1..$n travel as typed parameters.
-- (VARIADIC "any" needs at least one value, so these never capture a call
-- of the overloads without parameters.)
('pg_background_launch(pg_catalog.text, pg_catalog.int4, "any")', $d$
pg_background_launch(sql pg_catalog.text, queue_size pg_catalog.int4,
                     VARIADIC params "any")
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'pg_background_launch' LANGUAGE C VOLATILE$d$),
-- The handle API.  (text, int4) is upstream's signature; the label has an
-- overload of its own, without defaults, so that no call matches two.
('pg_background_launch_v2(pg_catalog.text, pg_catalog.int4)', $d$
pg_background_launch_v2(sql pg_catalog.text, queue_size pg_catalog.int4 DEFAULT 0)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_launch_v2' LANGUAGE C VOLATILE$d$),
('pg_background_launch_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text)', $d$
pg_background_launch_v2(sql pg_catalog.text, queue_size pg_catalog.int4,
                        label pg_catalog.text)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_launch_v2' LANGUAGE C VOLATILE$d$),
('pg_background_launch_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text, "any")', $d$
pg_background_launch_v2(sql pg_catalog.text, queue_size pg_catalog.int4,
                        label pg_catalog.text, VARIADIC params "any")
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_launch_v2' LANGUAGE C VOLATILE$d$),
('pg_background_submit_v2(pg_catalog.text, pg_catalog.int4)', $d$
pg_background_submit_v2(sql pg_catalog.text, queue_size pg_catalog.int4 DEFAULT 0)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_submit_v2' LANGUAGE C VOLATILE$d$),
('pg_background_submit_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text)', $d$
pg_background_submit_v2(sql pg_catalog.text, queue_size pg_catalog.int4,
                        label pg_catalog.text)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_submit_v2' LANGUAGE C VOLATILE$d$),
('pg_background_submit_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text, "any")', $d$
pg_background_submit_v2(sql pg_catalog.text, queue_size pg_catalog.int4,
                        label pg_catalog.text, VARIADIC params "any")
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_submit_v2' LANGUAGE C VOLATILE$d$),
('pg_background_result_v2(pg_catalog.int4, pg_catalog.int8)', $d$
pg_background_result_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS SETOF pg_catalog.record
AS 'MODULE_PATHNAME', 'pg_background_result_v2' LANGUAGE C VOLATILE$d$),
('pg_background_detach_v2(pg_catalog.int4, pg_catalog.int8)', $d$
pg_background_detach_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_detach_v2' LANGUAGE C VOLATILE$d$),
('pg_background_cancel_v2(pg_catalog.int4, pg_catalog.int8)', $d$
pg_background_cancel_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_cancel_v2' LANGUAGE C VOLATILE$d$),
('pg_background_cancel_v2_grace(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4)', $d$
pg_background_cancel_v2_grace(pid pg_catalog.int4, cookie pg_catalog.int8,
                              grace_ms pg_catalog.int4)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_cancel_v2_grace' LANGUAGE C VOLATILE$d$),
('pg_background_cancel_label(pg_catalog.text, pg_catalog.int4)', $d$
pg_background_cancel_label(label pg_catalog.text, grace_ms pg_catalog.int4 DEFAULT 1000)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'pg_background_cancel_label' LANGUAGE C VOLATILE$d$),
('pg_background_wait_v2(pg_catalog.int4, pg_catalog.int8)', $d$
pg_background_wait_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_wait_v2' LANGUAGE C VOLATILE$d$),
('pg_background_wait_v2_timeout(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4)', $d$
pg_background_wait_v2_timeout(pid pg_catalog.int4, cookie pg_catalog.int8,
                              timeout_ms pg_catalog.int4)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'pg_background_wait_v2_timeout' LANGUAGE C VOLATILE$d$),
('pg_background_wait_any(pg_background_handle[], pg_catalog.int4)', $d$
pg_background_wait_any(handles pg_background_handle[],
                       timeout_ms pg_catalog.int4 DEFAULT -1)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_wait_any' LANGUAGE C VOLATILE$d$),
('pg_background_list_v2()', $d$
pg_background_list_v2()
RETURNS SETOF pg_catalog.record
AS 'MODULE_PATHNAME', 'pg_background_list_v2' LANGUAGE C VOLATILE$d$),
('pg_background_list()', $d$
pg_background_list(
    OUT pid pg_catalog.int4,
    OUT cookie pg_catalog.int8,
    OUT label pg_catalog.text,
    OUT state pg_catalog.text,
    OUT launched_at pg_catalog.timestamptz,
    OUT started_at pg_catalog.timestamptz,
    OUT finished_at pg_catalog.timestamptz,
    OUT user_id pg_catalog.oid,
    OUT queue_size pg_catalog.int4,
    OUT submitted pg_catalog.bool,
    OUT consumed pg_catalog.bool,
    OUT progress_pct pg_catalog.int4,
    OUT progress_msg pg_catalog.text,
    OUT command_tag pg_catalog.text,
    OUT row_count pg_catalog.int8,
    OUT sqlstate pg_catalog.text,
    OUT last_error pg_catalog.text,
    OUT error_detail pg_catalog.text,
    OUT error_hint pg_catalog.text,
    OUT sql_preview pg_catalog.text)
RETURNS SETOF pg_catalog.record
AS 'MODULE_PATHNAME', 'pg_background_list' LANGUAGE C VOLATILE$d$),
('pg_background_stats_v2()', $d$
pg_background_stats_v2()
RETURNS pg_background_stats
AS 'MODULE_PATHNAME', 'pg_background_stats_v2' LANGUAGE C VOLATILE$d$),
('pg_background_progress(pg_catalog.int4, pg_catalog.text)', $d$
pg_background_progress(pct pg_catalog.int4, msg pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_progress' LANGUAGE C VOLATILE$d$),
('pg_background_get_progress_v2(pg_catalog.int4, pg_catalog.int8)', $d$
pg_background_get_progress_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_background_progress
AS 'MODULE_PATHNAME', 'pg_background_get_progress_v2' LANGUAGE C VOLATILE$d$),
('pg_background_outcome(pg_catalog.int4, pg_catalog.int8)', $d$
pg_background_outcome(pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_background_job_outcome
AS 'MODULE_PATHNAME', 'pg_background_outcome' LANGUAGE C VOLATILE$d$),
-- The state of admission control; needs shared_preload_libraries.
('pg_background_admission()', $d$
pg_background_admission(
    OUT active pg_catalog.int4,
    OUT queued pg_catalog.int4,
    OUT max_queued pg_catalog.int4,
    OUT max_workers pg_catalog.int4,
    OUT max_workers_per_database pg_catalog.int4,
    OUT max_workers_per_role pg_catalog.int4,
    OUT directory_used pg_catalog.int4,
    OUT directory_size pg_catalog.int4,
    OUT pool_idle pg_catalog.int4)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_background_admission' LANGUAGE C VOLATILE$d$),
-- Durable jobs (docs/durable.md); need shared_preload_libraries.  The
-- parameters have an overload of their own, without defaults.
('pg_background_enqueue(pg_catalog.text, pg_catalog.timestamptz, pg_catalog.int4, pg_catalog.interval, pg_catalog.interval, pg_catalog.text)', $d$
pg_background_enqueue(sql pg_catalog.text,
                      run_at pg_catalog.timestamptz DEFAULT NULL,
                      max_attempts pg_catalog.int4 DEFAULT 1,
                      retry_delay pg_catalog.interval DEFAULT '1 s',
                      timeout pg_catalog.interval DEFAULT NULL,
                      label pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'pg_background_enqueue' LANGUAGE C VOLATILE$d$),
('pg_background_enqueue(pg_catalog.text, pg_catalog.timestamptz, pg_catalog.int4, pg_catalog.interval, pg_catalog.interval, pg_catalog.text, "any")', $d$
pg_background_enqueue(sql pg_catalog.text, run_at pg_catalog.timestamptz,
                      max_attempts pg_catalog.int4,
                      retry_delay pg_catalog.interval,
                      timeout pg_catalog.interval, label pg_catalog.text,
                      VARIADIC params "any")
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'pg_background_enqueue' LANGUAGE C VOLATILE$d$),
-- The trigger that lists the database and wakes its runner at commit, for
-- rows not written by pg_background_enqueue (a restore's COPY).
('pgbg_durable_inserted()', $d$
pgbg_durable_inserted()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pgbg_durable_inserted' LANGUAGE C VOLATILE$d$),
('pg_background_job(pg_catalog.int8)', $d$
pg_background_job(id pg_catalog.int8)
RETURNS pg_background_durable_job
AS 'MODULE_PATHNAME', 'pg_background_job' LANGUAGE C VOLATILE$d$),
('pg_background_wait_job(pg_catalog.int8, pg_catalog.int4)', $d$
pg_background_wait_job(id pg_catalog.int8, timeout_ms pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'pg_background_wait_job' LANGUAGE C VOLATILE$d$),
('pg_background_cancel_job(pg_catalog.int8)', $d$
pg_background_cancel_job(id pg_catalog.int8)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'pg_background_cancel_job' LANGUAGE C VOLATILE$d$),
/*
 * pgbg_change_privileges: grant (revoke) EXECUTE on every function of the
 * extension except the privilege helpers, pg_background_drop_executor_role
 * and the trigger function pgbg_durable_inserted, and SELECT on its views, to (from) an
 * existing role.  The role name is quoted; an unknown role is a notice and
 * false, any other failure a warning and false.
 */
('pgbg_change_privileges(pg_catalog.bool, pg_catalog.text, pg_catalog.bool)', $d$
pgbg_change_privileges(grant_them pg_catalog.bool, user_name pg_catalog.text,
                       print_commands pg_catalog.bool)
RETURNS pg_catalog.bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    obj record;
    cmd pg_catalog.text;
BEGIN
    IF user_name IS NULL OR NOT EXISTS
        (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = user_name)
    THEN
        RAISE NOTICE 'role "%" does not exist', user_name;
        RETURN false;
    END IF;

    FOR obj IN
        SELECT 'FUNCTION' AS kind, 'EXECUTE' AS priv,
               p.oid::pg_catalog.regprocedure::pg_catalog.text AS name
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          JOIN pg_catalog.pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e'
           AND e.extname = 'pg_background'
           AND p.proname NOT IN ('grant_pg_background_privileges',
                                 'revoke_pg_background_privileges',
                                 'pgbg_change_privileges',
                                 'pg_background_drop_executor_role',
                                 'pgbg_durable_inserted')
        UNION ALL
        SELECT 'TABLE', 'SELECT', c.oid::pg_catalog.regclass::pg_catalog.text
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          JOIN pg_catalog.pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e'
           AND e.extname = 'pg_background'
           AND c.relkind = 'v'
         ORDER BY 1, 3
    LOOP
        IF grant_them THEN
            cmd := pg_catalog.format('GRANT %s ON %s %s TO %I',
                                     obj.priv, obj.kind, obj.name, user_name);
        ELSE
            cmd := pg_catalog.format('REVOKE %s ON %s %s FROM %I',
                                     obj.priv, obj.kind, obj.name, user_name);
        END IF;
        IF print_commands THEN
            RAISE INFO '%', cmd;
        END IF;
        EXECUTE cmd;
    END LOOP;
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'could not change pg_background privileges of role %: %',
        pg_catalog.quote_ident(user_name), SQLERRM;
    RETURN false;
END
$fn$$d$),
/*
 * grant_pg_background_privileges / revoke_pg_background_privileges: run
 * pgbg_change_privileges as the extension owner, wherever the extension's
 * schema is now.
 */
('grant_pg_background_privileges(pg_catalog.text, pg_catalog.bool)', $d$
grant_pg_background_privileges(user_name pg_catalog.text,
                               print_commands pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.bool
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    done pg_catalog.bool;
BEGIN
    EXECUTE pg_catalog.format('SELECT %I.pgbg_change_privileges(true, $1, $2)',
                              (SELECT n.nspname
                                 FROM pg_catalog.pg_extension e
                                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                                WHERE e.extname = 'pg_background'))
       INTO done USING user_name, print_commands;
    RETURN done;
END
$fn$$d$),
('revoke_pg_background_privileges(pg_catalog.text, pg_catalog.bool)', $d$
revoke_pg_background_privileges(user_name pg_catalog.text,
                                print_commands pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.bool
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    done pg_catalog.bool;
BEGIN
    EXECUTE pg_catalog.format('SELECT %I.pgbg_change_privileges(false, $1, $2)',
                              (SELECT n.nspname
                                 FROM pg_catalog.pg_extension e
                                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                                WHERE e.extname = 'pg_background'))
       INTO done USING user_name, print_commands;
    RETURN done;
END
$fn$$d$),
/*
 * pg_background_drop_executor_role: revoke pgbackground_role's privileges
 * in this database, then drop the role (nothing if it does not exist).
 * The role is the cluster's: while it holds privileges in another
 * database, DROP ROLE fails (2BP01) and nothing changes.
 */
('pg_background_drop_executor_role()', $d$
pg_background_drop_executor_role()
RETURNS pg_catalog.void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    done pg_catalog.bool;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                    WHERE rolname = 'pgbackground_role') THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format('SELECT %I.pgbg_change_privileges(false, $1, false)',
                              (SELECT n.nspname
                                 FROM pg_catalog.pg_extension e
                                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                                WHERE e.extname = 'pg_background'))
       INTO done USING 'pgbackground_role';
    IF NOT done THEN
        RAISE EXCEPTION 'could not revoke the privileges of role pgbackground_role';
    END IF;
    -- From PostgreSQL 17 on, the initial privileges of the extension's
    -- objects (pg_init_privs: the install script granted the role EXECUTE)
    -- depend on the role too.  When nothing else of this database does (the
    -- role owns nothing here and holds no other privilege), DROP OWNED
    -- removes just those.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend d
                WHERE d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
                  AND d.refobjid = 'pgbackground_role'::pg_catalog.regrole
                  AND d.dbid = (SELECT oid FROM pg_catalog.pg_database
                                 WHERE datname = pg_catalog.current_database())
                  AND d.deptype = 'i')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend d
                        WHERE d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
                          AND d.refobjid = 'pgbackground_role'::pg_catalog.regrole
                          AND d.dbid = (SELECT oid FROM pg_catalog.pg_database
                                         WHERE datname = pg_catalog.current_database())
                          AND d.deptype <> 'i')
    THEN
        DROP OWNED BY pgbackground_role;
    END IF;
    DROP ROLE pgbackground_role;
END
$fn$$d$)
    ) AS want(signature, definition)
    LOOP
        BEGIN
            EXECUTE 'CREATE OR REPLACE FUNCTION ' || f.definition;
        EXCEPTION WHEN invalid_function_definition THEN
            -- Another result type, other parameter names or fewer
            -- defaults: drop it, create it, and give its grants again.
            SELECT pg_catalog.array_agg(pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s',
                       f.signature,
                       CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                            ELSE pg_catalog.quote_ident(r.rolname) END,
                       CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
              INTO grants
              FROM pg_catalog.pg_proc p,
                   pg_catalog.aclexplode(p.proacl) a
              LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
             WHERE p.oid = pg_catalog.to_regprocedure(f.signature)
               AND a.grantee <> p.proowner;
            EXECUTE 'DROP FUNCTION ' || f.signature;
            EXECUTE 'CREATE FUNCTION ' || f.definition;
            FOR g IN SELECT pg_catalog.unnest(grants) AS cmd LOOP
                EXECUTE g.cmd;
            END LOOP;
        END;
        ours := ours || pg_catalog.to_regprocedure(f.signature)::pg_catalog.oid;
    END LOOP;

    -- 4. The views.  Durable jobs: those of roles the current user is a
    -- member of (all of them for a superuser).
    CREATE OR REPLACE VIEW pg_background_jobs AS
        SELECT * FROM pg_background_list();
    CREATE OR REPLACE VIEW pg_background_durable_jobs WITH (security_barrier) AS
        SELECT d.id, d.owner, d.label, d.state, d.attempts, d.max_attempts,
               d.run_at, d.retry_delay, d.timeout, d.enqueued_at,
               d.started_at, d.finished_at, d.sqlstate, d.message, d.detail,
               d.command_tag, d.sql
          FROM pgbg_durable d
         WHERE pg_catalog.pg_has_role(d.owner::pg_catalog.oid, 'MEMBER');

    -- The table's trigger (its function exists now).
    DROP TRIGGER IF EXISTS pgbg_durable_inserted ON pgbg_durable;
    CREATE TRIGGER pgbg_durable_inserted AFTER INSERT ON pgbg_durable
        FOR EACH STATEMENT EXECUTE FUNCTION pgbg_durable_inserted();

    -- 5. Member functions and composite types that are not ours.
    SELECT pg_catalog.string_agg(d.objid::pg_catalog.regprocedure::pg_catalog.text, ', ')
      INTO dropping
      FROM pg_catalog.pg_depend d
     WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = ext AND d.deptype = 'e'
       AND d.objid <> ALL (ours);
    IF dropping IS NOT NULL THEN
        EXECUTE 'DROP FUNCTION ' || dropping;
    END IF;

    SELECT pg_catalog.string_agg(t.oid::pg_catalog.regtype::pg_catalog.text, ', ')
      INTO dropping
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_type t ON t.oid = d.objid
      JOIN pg_catalog.pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
     WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
       AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = ext AND d.deptype = 'e'
       AND t.typname NOT IN ('pg_background_handle', 'pg_background_stats',
                             'pg_background_progress', 'pg_background_job_outcome',
                             'pg_background_durable_job');
    IF dropping IS NOT NULL THEN
        EXECUTE 'DROP TYPE ' || dropping;
    END IF;
END
$pgbg$;

--
-- 6. Privileges and comments.
--
-- The role is the cluster's, not the database's: an install in another
-- database (ours or upstream's) may have created it already, and then it
-- is used as it is.
DO $pgbg$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                    WHERE rolname = 'pgbackground_role') THEN
        CREATE ROLE pgbackground_role NOLOGIN INHERIT;
    END IF;
END
$pgbg$;

DO $pgbg$
DECLARE
    ext pg_catalog.oid;
    obj record;
BEGIN
    SELECT e.oid INTO ext FROM pg_catalog.pg_extension e
     WHERE e.extname = 'pg_background';

    FOR obj IN
        SELECT 'FUNCTION' AS kind, d.objid::pg_catalog.regprocedure::pg_catalog.text AS name,
               p.proname AS simple
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid = ext AND d.deptype = 'e'
        UNION ALL
        SELECT 'TABLE', d.objid::pg_catalog.regclass::pg_catalog.text, NULL
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind = 'v'
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid = ext AND d.deptype = 'e'
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM PUBLIC, pgbackground_role',
                                  obj.kind, obj.name);
        EXECUTE pg_catalog.format('COMMENT ON %s %s IS NULL',
                                  CASE obj.kind WHEN 'TABLE' THEN 'VIEW' ELSE obj.kind END,
                                  obj.name);
    END LOOP;

    -- Types keep their default privileges (USAGE for PUBLIC), whatever an
    -- earlier version granted or revoked.
    FOR obj IN
        SELECT d.objid::pg_catalog.regtype::pg_catalog.text AS name
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_type t ON t.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid = ext AND d.deptype = 'e'
           AND t.typcategory <> 'A'
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON TYPE %s FROM pgbackground_role', obj.name);
        EXECUTE pg_catalog.format('GRANT USAGE ON TYPE %s TO PUBLIC', obj.name);
        EXECUTE pg_catalog.format('COMMENT ON TYPE %s IS NULL', obj.name);
    END LOOP;

    IF NOT pgbg_change_privileges(true, 'pgbackground_role', false) THEN
        RAISE EXCEPTION 'could not grant the privileges of role pgbackground_role';
    END IF;
END
$pgbg$;
