-- The leak case: launch+result of SELECT 1, one per transaction, in one
-- session (run with -D n=0 -D base=B -D every=E -D inject=I).  The session
-- samples its memory and DSM mappings before the first launch, after 1024
-- and B launches, and every E launches after B.  With I > 0, every Ith
-- transaction also launches a job it never reads nor detaches: a deliberate
-- leak, to check that the verdict can fail.
\if :n = 0
\if :inject > 0
SET pg_background.max_workers = 1000;
\endif
SELECT bench_leak_sample(0);
\endif
\set n :n + 1
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1')) AS (x int);
\if :inject > 0
\if :n % :inject = 0
SELECT pg_background_launch('SELECT 1');
\endif
\endif
\if :n = 1024 or :n = :base or (:n > :base and (:n - :base) % :every = 0)
SELECT bench_leak_sample(:n);
\endif
