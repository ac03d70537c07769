-- Upgrade paths: install the catalog objects of 1.4, update to 1.6 (the
-- reference manual's version), then to the current version, and check that
-- each works on the way.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_background CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_background VERSION '1.4';
SELECT extversion FROM pg_extension WHERE extname = 'pg_background';
SELECT * FROM pg_background_result(pg_background_launch('SELECT 14')) AS (x int);
SELECT pg_background_launch(NULL) IS NULL AS strict_in_1_4;
ALTER EXTENSION pg_background UPDATE TO '1.6';
SELECT extversion FROM pg_extension WHERE extname = 'pg_background';
SELECT count(*) AS v2_functions FROM pg_proc WHERE proname LIKE 'pg_background%v2%';
SELECT * FROM pg_background_result(pg_background_launch('SELECT 16')) AS (x int);
SELECT pg_background_launch(NULL);
SELECT has_function_privilege('public', 'pg_background_launch(text, int4)', 'EXECUTE') AS public_may_launch;

ALTER EXTENSION pg_background UPDATE TO '1.7';
SELECT extversion FROM pg_extension WHERE extname = 'pg_background';
SELECT * FROM pg_background_result(pg_background_launch('SELECT 17')) AS (x int);
SELECT * FROM pg_background_launch_v2('SELECT 18') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);

ALTER EXTENSION pg_background UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_background';
-- Without shared_preload_libraries there is no directory to ask.  (With it,
-- expected output upgrade_1.out, the updated extension reads the directory:
-- docs/directory.md.)
SELECT current_setting('shared_preload_libraries') LIKE '%pg_background%' AS directory_mode;
SELECT max_queued FROM pg_background_admission();
SELECT * FROM pg_background_result(pg_background_launch('SELECT 18')) AS (x int);

-- The objects of an update equal those of a fresh install.
CREATE TEMP TABLE updated AS
SELECT pg_describe_object(classid, objid, 0) AS obj
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_background');
DROP EXTENSION pg_background;
CREATE EXTENSION pg_background;
SELECT obj AS only_after_update FROM updated
EXCEPT
SELECT pg_describe_object(classid, objid, 0)
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_background');
SELECT pg_describe_object(classid, objid, 0) AS only_after_install
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_background')
EXCEPT
SELECT obj FROM updated;
-- Array types and the row types of views are members of their extension
-- only from PostgreSQL 17 on: count what the scripts create themselves.
SELECT count(*) AS extension_objects
FROM pg_depend d
LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_background')
  AND NOT coalesce(t.typcategory = 'A' OR c.relkind <> 'c', false);
-- Every suite leaves the database without the extension.
DROP EXTENSION pg_background;
