-- (e) launch+result of SELECT 1, one per transaction, in one session; a
-- sample of the session's memory and DSM mappings before the first launch
-- and after every :every launches (run with -D n=0 -D every=N).
\if :n = 0
SELECT bench_leak_sample(0);
\endif
\set n :n + 1
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1')) AS (x int);
\if :n % :every = 0
SELECT bench_leak_sample(:n);
\endif
