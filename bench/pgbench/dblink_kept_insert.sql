-- dblink_exec over a connection kept for the whole pgbench session (it
-- returns after the commit); the first transaction connects (-D connected=0).
\if :connected = 0
SELECT dblink_connect('bench', '@CONN@');
\set connected 1
\endif
SELECT dblink_exec('bench', 'INSERT INTO t VALUES (1)');
