-- dblink connecting per call: a new connection (and backend) per SELECT 1.
SELECT * FROM dblink('@CONN@', 'SELECT 1') AS t(x int);
