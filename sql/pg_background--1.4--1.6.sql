/* pg_background--1.4--1.6.sql: privileges revoked from PUBLIC, grant/revoke helpers */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_background UPDATE TO '1.6'" to load this file. \quit

-- A NULL argument is an error (22004), not a silent NULL result.
ALTER FUNCTION pg_background_launch(pg_catalog.text, pg_catalog.int4) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_result(pg_catalog.int4) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_detach(pg_catalog.int4) CALLED ON NULL INPUT;

/*
 * grant_pg_background_privileges / revoke_pg_background_privileges
 *
 * Grant (revoke) EXECUTE on every function of the extension except these
 * two helpers to (from) an existing role.  They run as the extension owner
 * with a pinned search_path, and find the extension's schema when they run
 * (the extension is relocatable); the role name is quoted, an unknown role
 * is a notice and false, and any other failure is a warning and false.
 */
CREATE OR REPLACE FUNCTION pgbg_change_privileges(
    grant_them pg_catalog.bool,
    user_name pg_catalog.text,
    print_commands pg_catalog.bool)
RETURNS pg_catalog.bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    fn pg_catalog.text;
    cmd pg_catalog.text;
BEGIN
    IF user_name IS NULL OR NOT EXISTS
        (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = user_name)
    THEN
        RAISE NOTICE 'role "%" does not exist', user_name;
        RETURN false;
    END IF;

    FOR fn IN
        SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text
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
         ORDER BY 1
    LOOP
        IF grant_them THEN
            cmd := pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I',
                                     fn, user_name);
        ELSE
            cmd := pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %I',
                                     fn, user_name);
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

CREATE OR REPLACE FUNCTION grant_pg_background_privileges(
    user_name pg_catalog.text,
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
$fn$;

CREATE OR REPLACE FUNCTION revoke_pg_background_privileges(
    user_name pg_catalog.text,
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
$fn$;

REVOKE ALL ON FUNCTION pg_background_launch(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_result(pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_detach(pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbg_change_privileges(pg_catalog.bool, pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION grant_pg_background_privileges(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_pg_background_privileges(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
