-- smoke: the extension installs and answers one launch.
CREATE EXTENSION pg_background;
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1 AS one')) AS (one int);
-- Every suite leaves the database without the extension.
DROP EXTENSION pg_background;
