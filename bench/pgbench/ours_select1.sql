-- ours: launch+result of SELECT 1 (the pool, if any, serves it).
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1')) AS (x int);
