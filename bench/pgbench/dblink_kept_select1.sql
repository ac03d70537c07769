-- dblink over a connection kept for the whole pgbench session: the first
-- transaction of the session connects (run with -D connected=0).
\if :connected = 0
SELECT dblink_connect('bench', '@CONN@');
\set connected 1
\endif
SELECT * FROM dblink('bench', 'SELECT 1') AS t(x int);
