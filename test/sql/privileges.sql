-- privileges: nothing is executable by PUBLIC; grant/revoke helpers.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;

CREATE VIEW pg_temp.ext_functions AS
    SELECT p.oid, p.oid::regprocedure::text AS signature, p.proname
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_background'
    JOIN pg_proc p ON p.oid = d.objid
    WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e';

--
-- After CREATE EXTENSION, a fresh role can execute none of the functions
-- (and PUBLIC has no entry in any ACL).
--
CREATE ROLE regress_priv_fresh;
SELECT signature, has_function_privilege('regress_priv_fresh', oid, 'EXECUTE') AS can_execute
FROM pg_temp.ext_functions ORDER BY signature;
SELECT count(*) AS public_acl_entries
FROM pg_temp.ext_functions f JOIN pg_proc p ON p.oid = f.oid, aclexplode(p.proacl) a
WHERE a.grantee = 0;
SELECT c.oid::regclass AS relation, has_table_privilege('regress_priv_fresh', c.oid, 'SELECT') AS can_select
FROM pg_depend d
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_background'
JOIN pg_class c ON c.oid = d.objid
WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
ORDER BY 1;
SET ROLE regress_priv_fresh;
SELECT pg_background_launch('SELECT 1');
SELECT * FROM pg_background_result(1) AS (r int);
SELECT pg_background_detach(1);
SELECT grant_pg_background_privileges('regress_priv_fresh');
RESET ROLE;

--
-- The helpers run as the extension owner with a pinned search_path.
--
SELECT proname, prosecdef, proconfig
FROM pg_proc
WHERE proname IN ('grant_pg_background_privileges', 'revoke_pg_background_privileges',
                  'pgbg_change_privileges')
ORDER BY proname;

--
-- grant: prints each GRANT as INFO when asked, returns true; the role can
-- then use launch/result/detach, but not the helpers.
--
CREATE ROLE regress_bg;
SELECT grant_pg_background_privileges('regress_bg', true);
SELECT proname, has_function_privilege('regress_bg', oid, 'EXECUTE') AS can_execute
FROM pg_temp.ext_functions
WHERE proname IN ('pg_background_launch', 'pg_background_result', 'pg_background_detach',
                  'grant_pg_background_privileges', 'revoke_pg_background_privileges',
                  'pgbg_change_privileges')
GROUP BY proname, 2 ORDER BY proname;
SET ROLE regress_bg;
SELECT * FROM pg_background_result(pg_background_launch('SELECT current_user::text')) AS (r text);
SELECT pg_background_launch('SELECT 1') AS pid \gset
SELECT pg_background_detach(:pid);
SELECT grant_pg_background_privileges('regress_priv_fresh');
SELECT revoke_pg_background_privileges('regress_bg');
SELECT pgbg_change_privileges(true, 'regress_priv_fresh', false);
RESET ROLE;
-- Granting twice is harmless; without print_commands nothing is printed.
SELECT grant_pg_background_privileges('regress_bg');

--
-- revoke undoes it.
--
SELECT revoke_pg_background_privileges('regress_bg', true);
SELECT count(*) FILTER (WHERE has_function_privilege('regress_bg', oid, 'EXECUTE')) AS executable
FROM pg_temp.ext_functions;
SET ROLE regress_bg;
SELECT pg_background_launch('SELECT 1');
RESET ROLE;
-- Revoking again is harmless too.
SELECT revoke_pg_background_privileges('regress_bg');

--
-- Unknown roles: false, with a notice.  Role names are case sensitive.
--
SELECT grant_pg_background_privileges('regress_no_such_role', true);
SELECT revoke_pg_background_privileges('regress_no_such_role', true);
SELECT grant_pg_background_privileges('REGRESS_BG');
SELECT grant_pg_background_privileges('');

--
-- Role names that need quoting are quoted (no SQL injection).
--
CREATE ROLE "Regress Odd";
SELECT grant_pg_background_privileges('Regress Odd', true);
SELECT has_function_privilege('Regress Odd', 'pg_background_launch(text, integer)', 'EXECUTE');
SELECT revoke_pg_background_privileges('Regress Odd', true);
SELECT has_function_privilege('Regress Odd', 'pg_background_launch(text, integer)', 'EXECUTE');
CREATE ROLE "regress_evil"" TO PUBLIC; --";
SELECT grant_pg_background_privileges('regress_evil" TO PUBLIC; --');
SELECT has_function_privilege('regress_evil" TO PUBLIC; --', 'pg_background_launch(text, integer)', 'EXECUTE'),
       has_function_privilege('regress_priv_fresh', 'pg_background_launch(text, integer)', 'EXECUTE');
SELECT revoke_pg_background_privileges('regress_evil" TO PUBLIC; --');

--
-- Any other failure: false, with a warning.
--
BEGIN READ ONLY;
SELECT grant_pg_background_privileges('regress_bg');
ROLLBACK;
SELECT has_function_privilege('regress_bg', 'pg_background_launch(text, integer)', 'EXECUTE');

-- Clean up.
DROP ROLE regress_priv_fresh, regress_bg, "Regress Odd", "regress_evil"" TO PUBLIC; --";
DROP VIEW pg_temp.ext_functions;
-- The extension too, so that the next suite starts without it.
DROP EXTENSION pg_background;
