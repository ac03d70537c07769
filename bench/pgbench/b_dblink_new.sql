SELECT dblink_exec('@CONN@', 'INSERT INTO t VALUES (1)');
