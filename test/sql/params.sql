-- params: values bound to $1..$n travel as typed parameters, never as SQL.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;

-- The example of docs/reference.md ("Parameters").
CREATE TABLE customers (id int, name text);
SELECT * FROM pg_background_result(
    pg_background_launch('INSERT INTO customers VALUES ($1, $2) RETURNING *',
                         65536, 42, $$'); DROP TABLE customers; --$$)
) AS (id int, name text);
SELECT count(*) AS customers_still_there FROM customers;

-- Types are kept: the worker sees an integer, a date, a numeric, an array.
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT pg_typeof($1)::text, pg_typeof($2)::text, pg_typeof($3)::text, pg_typeof($4)::text, $1 + 1',
                         65536, 41, date '2024-02-29', 1.5::numeric(4,2), ARRAY[1,2])
) AS (t1 text, t2 text, t3 text, t4 text, next int);

-- Untyped literals bind as text; NULL stays NULL; VARIADIC ARRAY works.
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT $1, pg_typeof($1)::text', 65536, 'plain')) AS (v text, t text);
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT $1::int IS NULL', 65536, NULL::int)) AS (is_null bool);
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT $1 || $2', 65536, VARIADIC ARRAY['a', 'b'])) AS (v text);

-- Every statement of the string may use them.
SELECT * FROM pg_background_result(
    pg_background_launch('INSERT INTO customers VALUES ($1, $2); INSERT INTO customers VALUES ($1 + 1, upper($2))',
                         65536, 7, 'x')) AS (tag text);
SELECT * FROM customers ORDER BY id;

-- The v2 forms take the label before the values.
SELECT * FROM pg_background_launch_v2('SELECT $1 * 2', 65536, 'doubling', 21) \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (v int);
SELECT * FROM pg_background_submit_v2('DELETE FROM customers WHERE id = $1', 65536, NULL, 8) \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state, command_tag FROM pg_background_outcome(:pid, :cookie);

-- A $n without a value fails in the worker; so does a type it cannot see.
\set VERBOSITY sqlstate
SELECT * FROM pg_background_result(pg_background_launch('SELECT $2', 65536, 1)) AS (v int);
BEGIN;
CREATE TYPE invisible AS ENUM ('a');
SELECT * FROM pg_background_result(
    pg_background_launch('SELECT $1::text', 65536, 'a'::invisible)) AS (v text);
ROLLBACK;
\set VERBOSITY default

DROP TABLE customers;
-- Every suite leaves the database without the extension.
DROP EXTENSION pg_background;
