SELECT pg_background_detach(pg_background_launch('INSERT INTO t VALUES (1)'));
