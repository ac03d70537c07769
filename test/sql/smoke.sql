CREATE EXTENSION IF NOT EXISTS pg_background;
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1 AS one')) AS (one int);
