/* pg_background--1.6--1.7.sql: handles (the v2 API of upstream 1.8-2.0) and more */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_background UPDATE TO '1.7'" to load this file. \quit

CREATE TYPE pg_background_handle AS (
    pid pg_catalog.int4,
    cookie pg_catalog.int8
);

CREATE TYPE pg_background_stats AS (
    workers_launched pg_catalog.int8,
    workers_completed pg_catalog.int8,
    workers_failed pg_catalog.int8,
    workers_canceled pg_catalog.int8,
    workers_active pg_catalog.int4,
    avg_execution_ms pg_catalog.float8,
    max_workers pg_catalog.int4
);

CREATE TYPE pg_background_progress AS (
    progress_pct pg_catalog.int4,
    progress_msg pg_catalog.text
);

CREATE TYPE pg_background_job_outcome AS (
    state pg_catalog.text,
    command_tag pg_catalog.text,
    row_count pg_catalog.int8,
    started_at pg_catalog.timestamptz,
    finished_at pg_catalog.timestamptz,
    sqlstate pg_catalog.text,
    message pg_catalog.text,
    detail pg_catalog.text,
    hint pg_catalog.text,
    context pg_catalog.text
);

CREATE FUNCTION pg_background_launch_v2(
    sql pg_catalog.text,
    queue_size pg_catalog.int4 DEFAULT 65536,
    label pg_catalog.text DEFAULT NULL)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_launch_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_submit_v2(
    sql pg_catalog.text,
    queue_size pg_catalog.int4 DEFAULT 65536,
    label pg_catalog.text DEFAULT NULL)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_submit_v2'
LANGUAGE C VOLATILE;

-- Parameter binding: values for $1..$n travel as typed parameters, never
-- spliced into the SQL text.  (VARIADIC "any" needs at least one value, so
-- these never capture a call of the functions above.)
CREATE FUNCTION pg_background_launch(
    sql pg_catalog.text,
    queue_size pg_catalog.int4,
    VARIADIC params "any")
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'pg_background_launch'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_launch_v2(
    sql pg_catalog.text,
    queue_size pg_catalog.int4,
    label pg_catalog.text,
    VARIADIC params "any")
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_launch_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_submit_v2(
    sql pg_catalog.text,
    queue_size pg_catalog.int4,
    label pg_catalog.text,
    VARIADIC params "any")
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_submit_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_result_v2(
    pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS SETOF pg_catalog.record
AS 'MODULE_PATHNAME', 'pg_background_result_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_detach_v2(
    pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_detach_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_cancel_v2(
    pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_cancel_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_cancel_v2_grace(
    pid pg_catalog.int4, cookie pg_catalog.int8, grace_ms pg_catalog.int4)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_cancel_v2_grace'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_cancel_label(
    label pg_catalog.text, grace_ms pg_catalog.int4 DEFAULT 1000)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'pg_background_cancel_label'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_wait_v2(
    pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_wait_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_wait_v2_timeout(
    pid pg_catalog.int4, cookie pg_catalog.int8, timeout_ms pg_catalog.int4)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'pg_background_wait_v2_timeout'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_wait_any(
    handles pg_background_handle[],
    timeout_ms pg_catalog.int4 DEFAULT -1)
RETURNS pg_background_handle
AS 'MODULE_PATHNAME', 'pg_background_wait_any'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_list_v2()
RETURNS SETOF pg_catalog.record
AS 'MODULE_PATHNAME', 'pg_background_list_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_list(
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
AS 'MODULE_PATHNAME', 'pg_background_list'
LANGUAGE C VOLATILE;

CREATE VIEW pg_background_jobs AS
    SELECT * FROM pg_background_list();

CREATE FUNCTION pg_background_stats_v2()
RETURNS pg_background_stats
AS 'MODULE_PATHNAME', 'pg_background_stats_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_progress(
    pct pg_catalog.int4, msg pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_progress'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_get_progress_v2(
    pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_background_progress
AS 'MODULE_PATHNAME', 'pg_background_get_progress_v2'
LANGUAGE C VOLATILE;

CREATE FUNCTION pg_background_outcome(
    pid pg_catalog.int4, cookie pg_catalog.int8)
RETURNS pg_background_job_outcome
AS 'MODULE_PATHNAME', 'pg_background_outcome'
LANGUAGE C VOLATILE;

-- The privilege helpers now also cover the extension's views.
CREATE OR REPLACE FUNCTION pgbg_change_privileges(
    grant_them pg_catalog.bool,
    user_name pg_catalog.text,
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
                                 'pgbg_change_privileges')
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
$fn$;

REVOKE ALL ON FUNCTION pg_background_launch_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_submit_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_launch(pg_catalog.text, pg_catalog.int4, "any") FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_launch_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text, "any") FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_submit_v2(pg_catalog.text, pg_catalog.int4, pg_catalog.text, "any") FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_result_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_detach_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_cancel_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_cancel_v2_grace(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_cancel_label(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_wait_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_wait_v2_timeout(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_wait_any(pg_background_handle[], pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_list_v2() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_list() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_stats_v2() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_progress(pg_catalog.int4, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_get_progress_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_outcome(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON pg_background_jobs FROM PUBLIC;
