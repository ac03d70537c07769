SELECT * FROM dblink('@CONN@', 'SELECT 1') AS t(x int);
