-- ours: an autonomous insert, launched and detached (the client does not
-- wait for the commit; bench.sh waits for the row before stopping the clock).
SELECT pg_background_detach(pg_background_launch('INSERT INTO t VALUES (1)'));
