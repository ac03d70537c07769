-- ours: an autonomous insert, waiting for its commit (the pss case).
SELECT * FROM pg_background_result(pg_background_launch('INSERT INTO t VALUES (1)')) AS (tag text);
