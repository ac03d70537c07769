-- results_session_settings: values must not depend on the launcher's
-- client_encoding, nor on DateStyle, IntervalStyle or extra_float_digits
-- changed by the worker's SQL or by the launcher before it reads.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;
SELECT getdatabaseencoding() = 'UTF8' AS utf8_database;

--
-- The launcher's client_encoding differs from the database encoding: the
-- values must still arrive intact (only hex of their UTF-8 bytes is shown,
-- so that this file stays ASCII).  e-acute is c3a9 in UTF-8.
--
SET client_encoding = 'LATIN1';
SELECT encode(convert_to(t, 'UTF8'), 'hex') AS text_hex
FROM pg_background_result(pg_background_launch($$SELECT U&'\00E9'::text$$)) AS (t text);
SELECT encode(convert_to(v, 'UTF8'), 'hex') AS varchar_hex
FROM pg_background_result(pg_background_launch($$SELECT U&'\00E9'::varchar$$)) AS (v varchar);
SELECT encode(convert_to(n::text, 'UTF8'), 'hex') AS name_hex
FROM pg_background_result(pg_background_launch($$SELECT U&'\00E9'::name$$)) AS (n name);
SELECT encode(convert_to(a[1], 'UTF8'), 'hex') AS array_element_hex
FROM pg_background_result(pg_background_launch($$SELECT ARRAY[U&'\00E9']$$)) AS (a text[]);
SELECT encode(convert_to(j ->> 'k', 'UTF8'), 'hex') AS jsonb_value_hex
FROM pg_background_result(pg_background_launch($$SELECT jsonb_build_object('k', U&'\00E9')$$)) AS (j jsonb);
SELECT encode(convert_to(j ->> 'k', 'UTF8'), 'hex') AS json_value_hex
FROM pg_background_result(pg_background_launch($$SELECT json_build_object('k', U&'\00E9')$$)) AS (j json);
SELECT encode(convert_to(c::text, 'UTF8'), 'hex') AS char_hex
FROM pg_background_result(pg_background_launch($$SELECT U&'\00E9'::char(1)$$)) AS (c char(1));
RESET client_encoding;

--
-- The worker's SQL changes DateStyle, IntervalStyle or extra_float_digits
-- before it returns a composite or a range: the values must be the same.
--
CREATE TYPE regress_rss AS (d date, i interval, f float8);
SELECT r = ROW('2024-01-12', '1 day', 0.5)::regress_rss AS same
FROM pg_background_result(pg_background_launch(
    $$SET DateStyle = 'SQL, DMY'; SELECT ROW('2024-01-12', '1 day', 0.5)::regress_rss$$
)) AS (r regress_rss);
SELECT r = ROW('2024-01-13', '1 day', 0.5)::regress_rss AS same
FROM pg_background_result(pg_background_launch(
    $$SET DateStyle = 'SQL, DMY'; SELECT ROW('2024-01-13', '1 day', 0.5)::regress_rss$$
)) AS (r regress_rss);
SELECT r = daterange('2024-01-12', '2024-02-01') AS same
FROM pg_background_result(pg_background_launch(
    $$SET DateStyle = 'SQL, DMY'; SELECT daterange('2024-01-12', '2024-02-01')$$
)) AS (r daterange);
SELECT r = ROW('2024-01-12', '-1 day -02:03:04', 0.5)::regress_rss AS same
FROM pg_background_result(pg_background_launch(
    $$SET IntervalStyle = 'sql_standard'; SELECT ROW('2024-01-12', '-1 day -02:03:04', 0.5)::regress_rss$$
)) AS (r regress_rss);
SELECT (r).f = 0.1::float8 + 0.2::float8 AS same
FROM pg_background_result(pg_background_launch(
    $$SET extra_float_digits = -15; SELECT ROW('2024-01-12', '1 day', 0.1::float8 + 0.2::float8)::regress_rss$$
)) AS (r regress_rss);

--
-- The launcher changes DateStyle between launch and read.
--
SELECT pg_background_launch($$SELECT ROW('2024-01-12', '1 day', 0.5)::regress_rss$$) AS pid \gset
SET DateStyle = 'Postgres, DMY';
SELECT r = ROW('2024-01-12', '1 day', 0.5)::regress_rss AS same
FROM pg_background_result(:pid) AS (r regress_rss);
RESET DateStyle;

DROP TYPE regress_rss;
-- The extension too, so that the next suite starts without it.
DROP EXTENSION pg_background;
