-- results: values of many types come back from the worker exactly; rows
-- versus command tags; results much larger than the queue.
-- (quietly: the extension may exist already, depending on the suites run before)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_background;
RESET client_min_messages;
\pset null '(null)'

CREATE TYPE regress_color AS ENUM ('red', 'green', 'blue');
CREATE TYPE regress_pair AS (a int, b text);
CREATE TYPE regress_nested AS (p regress_pair, tags text[], c regress_color);
CREATE TYPE regress_floatrange AS RANGE (subtype = float8);
CREATE DOMAIN regress_posint AS int CHECK (VALUE > 0);

--
-- NULLs, and NULL versus the empty string.
--
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT NULL::int AS i, NULL::text AS t, '''' AS e, NULL::jsonb AS j,
            NULL::regress_pair AS p, NULL::int[] AS a, NULL::bytea AS b'
)) AS (i int, t text, e text, j jsonb, p regress_pair, a int[], b bytea);
SELECT t IS NULL AS t_is_null, e = '' AS e_is_empty
FROM pg_background_result(pg_background_launch('SELECT NULL::text, ''''::text')) AS (t text, e text);

--
-- Numbers.
--
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 2147483647::int4 AS i4max, (-2147483648)::int4 AS i4min,
            9223372036854775807::int8 AS i8max, (-32768)::int2 AS i2min,
            12345678.91::numeric(10,2) AS n102,
            123456789012345678901234567890.123456789::numeric AS nbig,
            ''NaN''::numeric AS nnan, (-0.0)::numeric AS nneg0'
)) AS (i4max int4, i4min int4, i8max int8, i2min int2, n102 numeric(10,2),
       nbig numeric, nnan numeric, nneg0 numeric);
-- Floats are exact (compare with the same computation done here).
SELECT f = 0.1::float8 + 0.2::float8 AS sum_exact, f::text,
       big = 1.7976931348623157e308 AS max_exact, tiny = 5e-324::float8 AS denormal_exact,
       inf, ninf, nan, r = 0.1::float4 AS float4_exact
FROM pg_background_result(pg_background_launch(
    'SELECT 0.1::float8 + 0.2::float8, 1.7976931348623157e308::float8, 5e-324::float8,
            ''Infinity''::float8, ''-Infinity''::float8, ''NaN''::float8, 0.1::float4'
)) AS (f float8, big float8, tiny float8, inf float8, ninf float8, nan float8, r float4);
-- numeric(10,2) in the column definition list applies its typmod.
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1.235::numeric')) AS (n numeric(10,2));

--
-- Text: unicode, quotes, backslashes, newlines, tabs.  The worker reads
-- the values from a table; each must equal the original.
--
CREATE TABLE rt_text (id int, t text);
INSERT INTO rt_text VALUES
    (1, 'plain'),
    (2, 'héllo wörld ✓ 日本語 😀'),
    (3, 'it''s "quoted"'),
    (4, E'back\\slash \\\\ and \\x41'),
    (5, E'line1\nline2\r\nline3\ttabbed'),
    (6, ''),
    (7, NULL),
    (8, repeat('ü', 10000)),
    (9, E'{"not": "json"} (1,2) {a,b} NULL');
SELECT l.id, r.t IS NOT DISTINCT FROM l.t AS same, length(r.t) AS len
FROM rt_text l
LEFT JOIN pg_background_result(pg_background_launch('SELECT id, t FROM rt_text ORDER BY id'))
    AS r(id int, t text) USING (id)
ORDER BY l.id;
SELECT * FROM pg_background_result(pg_background_launch('SELECT id, t FROM rt_text WHERE id <= 5 ORDER BY id'))
    AS (id int, t text);
DROP TABLE rt_text;

--
-- bytea: every byte value.
--
SELECT b = (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i), 'hex')
            FROM generate_series(0, 255) i) AS same, length(b)
FROM pg_background_result(pg_background_launch(
    'SELECT decode(string_agg(lpad(to_hex(i), 2, ''0''), '''' ORDER BY i), ''hex'') FROM generate_series(0, 255) i'
)) AS (b bytea);
SELECT * FROM pg_background_result(pg_background_launch($$SELECT '\x00ff0a5c27'::bytea$$)) AS (b bytea);

--
-- Arrays: 1-D, 2-D, NULL elements, odd text elements, lower bounds, empty.
--
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT '{1,2,3}'::int[] AS a1,
           '{{1,2},{3,4}}'::int[] AS a2,
           '{1,NULL,3}'::int[] AS anull,
           ARRAY['a,b', 'c"d', NULL, 'NULL', 'e\f', '{}', ' '] AS atext,
           '[0:2]={7,8,9}'::int[] AS abounds,
           '{}'::int[] AS aempty,
           '{{{1}},{{2}}}'::bigint[] AS a3
$$)) AS (a1 int[], a2 int[], anull int[], atext text[], abounds int[], aempty int[], a3 bigint[]);
SELECT array_lower(abounds, 1), array_upper(abounds, 1), array_ndims(a2), atext[4] = 'NULL' AS null_string,
       atext[3] IS NULL AS null_element, cardinality(aempty)
FROM pg_background_result(pg_background_launch($$
    SELECT '[0:2]={7,8,9}'::int[], '{{1,2},{3,4}}'::int[], ARRAY['a,b', 'c"d', NULL, 'NULL'], '{}'::int[]
$$)) AS (abounds int[], a2 int[], atext text[], aempty int[]);

--
-- json and jsonb (json keeps its text as is).
--
SELECT j, jb, j::text = '{"b":1,  "a":[1, 2.50, null], "a":"dup"}' AS json_text_kept,
       jb = '{"a": [1, 2.5, null, "x"], "b": {"c": true}, "u": "ü\"\\"}'::jsonb AS jsonb_same
FROM pg_background_result(pg_background_launch($$
    SELECT '{"b":1,  "a":[1, 2.50, null], "a":"dup"}'::json,
           '{"a": [1, 2.5, null, "x"], "b": {"c": true}, "u": "ü\"\\"}'::jsonb
$$)) AS (j json, jb jsonb);

--
-- Named composite types (also nested, with NULL fields, and in arrays).
--
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT ROW(1, 'x,y "z" (w)')::regress_pair AS p,
           ROW(NULL, NULL)::regress_pair AS pnull,
           ROW(ROW(2, 'two'), ARRAY['t1', NULL], 'blue')::regress_nested AS n,
           ARRAY[ROW(3, 'three'), ROW(4, NULL)]::regress_pair[] AS pa
$$)) AS (p regress_pair, pnull regress_pair, n regress_nested, pa regress_pair[]);
SELECT (p).a, (p).b, (n).p.b, (n).tags[2] IS NULL AS tag_null, (n).c
FROM pg_background_result(pg_background_launch($$
    SELECT ROW(1, 'x,y "z" (w)')::regress_pair, ROW(ROW(2, 'two'), ARRAY['t1', NULL], 'blue')::regress_nested
$$)) AS (p regress_pair, n regress_nested);

--
-- Domains: a domain in the list matches its base type and its CHECK is
-- applied; a domain-typed result is read as its base type.
--
SELECT * FROM pg_background_result(pg_background_launch('SELECT 5 AS v')) AS (v regress_posint);
SELECT * FROM pg_background_result(pg_background_launch('SELECT 0 AS v')) AS (v regress_posint);
SELECT * FROM pg_background_result(pg_background_launch('SELECT 6::regress_posint AS v')) AS (v int);
SELECT * FROM pg_background_result(pg_background_launch('SELECT 7::regress_posint AS v')) AS (v regress_posint);
SELECT * FROM pg_background_result(pg_background_launch('SELECT 8::bigint AS v')) AS (v regress_posint);
-- An array of a domain is its own type (not an array of the base type).
SELECT * FROM pg_background_result(pg_background_launch('SELECT ''{1,2}''::regress_posint[] AS v')) AS (v regress_posint[]);
SELECT * FROM pg_background_result(pg_background_launch('SELECT ''{1,2}''::int[] AS v')) AS (v regress_posint[]);
-- Many rows of a domain: the receive function's cache must outlive each
-- message (it once lived in the per-message context: a crash).
SELECT count(*), min(v), max(v) FROM pg_background_result(pg_background_launch(
    'SELECT g FROM generate_series(1, 20000) g')) AS (v regress_posint);

--
-- Enums, ranges (built-in and user-defined).
--
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT 'green'::regress_color AS c, '{red,blue}'::regress_color[] AS ca,
           '[1,10)'::int4range AS ir, '(1.5,2.25]'::numrange AS nr, 'empty'::int8range AS er,
           '[1.5,2.5]'::regress_floatrange AS fr, '[2024-01-01,)'::daterange AS dr
$$)) AS (c regress_color, ca regress_color[], ir int4range, nr numrange, er int8range,
         fr regress_floatrange, dr daterange);
SELECT c > 'red'::regress_color AS ordered_enum, upper(fr) = 2.5::float8 AS fr_upper
FROM pg_background_result(pg_background_launch(
    'SELECT ''green''::regress_color, ''[1.5,2.5]''::regress_floatrange'
)) AS (c regress_color, fr regress_floatrange);

--
-- Date and time, with the launcher's TimeZone (and DateStyle) in effect.
--
SET TimeZone = 'Asia/Kathmandu';
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT '2024-03-10 12:00:00+00'::timestamptz AS tstz,
           ('2024-03-10 12:00:00+00'::timestamptz)::text AS tstz_text,
           current_setting('TimeZone') AS tz,
           '2024-02-29 23:59:59.999999'::timestamp AS ts,
           '2024-02-29'::date AS d, '13:14:15.5'::time AS t, '13:14:15+02'::timetz AS ttz,
           '1 year 2 mons -3 days 04:05:06.789'::interval AS i,
           'infinity'::timestamptz AS tinf
$$)) AS (tstz timestamptz, tstz_text text, tz text, ts timestamp, d date, t time,
         ttz timetz, i interval, tinf timestamptz);
SELECT tstz = '2024-03-10 12:00:00+00'::timestamptz AS same_instant,
       tstz_text = ('2024-03-10 12:00:00+00'::timestamptz)::text AS same_text_here
FROM pg_background_result(pg_background_launch(
    'SELECT ''2024-03-10 12:00:00+00''::timestamptz, (''2024-03-10 12:00:00+00''::timestamptz)::text'
)) AS (tstz timestamptz, tstz_text text);
RESET TimeZone;

--
-- A few more built-in types.
--
SELECT * FROM pg_background_result(pg_background_launch($$
    SELECT true AS b, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '192.168.1.0/24'::cidr AS c,
           '10.1.2.3/8'::inet AS i, '(1.5,-2)'::point AS p, 'a fat cat'::tsvector AS v,
           'pg_class'::regclass AS r, 'abc'::char(5) AS ch, 'xyz'::varchar(10) AS vc, 'nm'::name AS n,
           B'10110'::bit(5) AS bits
$$)) AS (b bool, u uuid, c cidr, i inet, p point, v tsvector, r regclass, ch char(5), vc varchar(10),
         n name, bits bit(5));

--
-- Several statements: the result is the last statement's, as in upstream
-- pg_background: its rows (only its result set must match the list), or,
-- if it returns no result set, one tag per statement (see upstream_compat).
--
SELECT * FROM pg_background_result(pg_background_launch(
    'CREATE TEMP TABLE x (a int); INSERT INTO x VALUES (1), (2); SELECT a FROM x ORDER BY a'
)) AS (a int);
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1 AS a; SELECT 2; CREATE TEMP TABLE y (); SELECT 3'
)) AS (a int);
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1 AS a; SELECT ''two''::text'
)) AS (a int);
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1 WHERE false; CREATE TEMP TABLE z (a int)'
)) AS (a int);
SELECT * FROM pg_background_result(pg_background_launch(
    'CREATE TEMP TABLE w (a int); INSERT INTO w VALUES (1), (2) RETURNING a * 10'
)) AS (a int);
CREATE TABLE rt_tags (a int);
SELECT * FROM ROWS FROM (pg_background_result(pg_background_launch(
    'DROP TABLE rt_tags; CREATE TABLE rt_tags (a int); INSERT INTO rt_tags VALUES (1), (2);
     UPDATE rt_tags SET a = 3 WHERE a = 1; DELETE FROM rt_tags WHERE a = 2; SET work_mem = ''2MB'';
     DO $$BEGIN END$$; SELECT 1 INTO TEMP TABLE v; TRUNCATE rt_tags'
)) AS (tag text)) WITH ORDINALITY AS t(tag, n);
SELECT count(*) FROM rt_tags;
DROP TABLE rt_tags;
-- A SELECT that returns no row returns no row (not a tag).
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1 AS a WHERE false')) AS (a int);
SELECT * FROM pg_background_result(pg_background_launch('SELECT ''SELECT 0''::text AS a WHERE false')) AS (a text);

--
-- Results much larger than the queue stream through it, in order.  (An
-- 8-byte ring is slow, so the 64-byte queue carries fewer rows.)
--
SELECT md5(string_agg(md5(i::text), ',' ORDER BY i)) AS expected_200000,
       (SELECT md5(string_agg(md5(i::text), ',' ORDER BY i)) FROM generate_series(1, 5000) i) AS expected_5000
FROM generate_series(1, 200000) i \gset
SELECT count(*), sum(i), bool_and(i = ord) AS in_order,
       md5(string_agg(t, ',' ORDER BY ord)) = :'expected_200000' AS same_data
FROM ROWS FROM (pg_background_result(pg_background_launch(
    'SELECT i, md5(i::text) FROM generate_series(1, 200000) i', 65536)) AS (i int, t text))
    WITH ORDINALITY AS r(i, t, ord);
SELECT count(*), sum(i), bool_and(i = ord) AS in_order,
       md5(string_agg(t, ',' ORDER BY ord)) = :'expected_200000' AS same_data
FROM ROWS FROM (pg_background_result(pg_background_launch(
    'SELECT i, md5(i::text) FROM generate_series(1, 200000) i', 1024)) AS (i int, t text))
    WITH ORDINALITY AS r(i, t, ord);
SELECT count(*), sum(i), bool_and(i = ord) AS in_order,
       md5(string_agg(t, ',' ORDER BY ord)) = :'expected_5000' AS same_data
FROM ROWS FROM (pg_background_result(pg_background_launch(
    'SELECT i, md5(i::text) FROM generate_series(1, 5000) i', 64)) AS (i int, t text))
    WITH ORDINALITY AS r(i, t, ord);
-- One value much larger than the queue.
SELECT length(t), t = repeat('abcdefghij', 20000) AS same
FROM pg_background_result(pg_background_launch('SELECT repeat(''abcdefghij'', 20000)', 64)) AS (t text);

--
-- Rows travel in batches of half the queue (send.c): rows much larger than a batch
-- among small ones keep their order, notices between rows arrive in their
-- place, and an error after several batches is the launcher's error.
--
SELECT count(*), sum(i), bool_and(i = ord) AS in_order,
       sum(length(t)) AS total_length,
       bool_and(t = CASE WHEN i % 500 = 0 THEN repeat('y', 100000) ELSE 'x' END) AS same_data
FROM ROWS FROM (pg_background_result(pg_background_launch(
    'SELECT i, CASE WHEN i % 500 = 0 THEN repeat(''y'', 100000) ELSE ''x'' END
     FROM generate_series(1, 3000) i')) AS (i int, t text))
    WITH ORDINALITY AS r(i, t, ord);
SELECT count(*), sum(g), bool_and(g = ord) AS in_order
FROM ROWS FROM (pg_background_result(pg_background_launch(
    'CREATE FUNCTION pg_temp.regress_note(g int) RETURNS int LANGUAGE plpgsql AS $$
     BEGIN
         IF g % 1000 = 1 AND g > 1 THEN RAISE NOTICE ''after % rows'', g - 1; END IF;
         RETURN g;
     END$$;
     SELECT pg_temp.regress_note(g) FROM generate_series(1, 3000) g')) AS (g int))
    WITH ORDINALITY AS r(g, ord);
-- Rows of integers, text, varchar and bytea only are written straight into
-- the batch (send.c): NULL in every position, every width, values stored
-- compressed and out of line (TOAST), across many batches and queue sizes.
CREATE TABLE regress_toasted (id int, c text, e text);
ALTER TABLE regress_toasted ALTER COLUMN e SET STORAGE EXTERNAL;
INSERT INTO regress_toasted
SELECT i, repeat(md5(i::text), 1000), string_agg(md5((i * 1000 + j)::text), '')
FROM generate_series(1, 20) i, generate_series(1, 200) j GROUP BY i;
-- c is compressed; e (6400 bytes, beyond the 2 kB threshold) is out of line.
SELECT pg_column_size(c) < length(c) AS c_compressed, length(e) AS e_length
FROM regress_toasted WHERE id = 1;
SELECT q, count(*),
       bool_and(i2 IS NOT DISTINCT FROM CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 30000)::int2 END) AS i2_ok,
       bool_and(i4 IS NOT DISTINCT FROM CASE WHEN g % 5 = 1 THEN NULL ELSE -g END) AS i4_ok,
       bool_and(i8 IS NOT DISTINCT FROM CASE WHEN g % 3 = 2 THEN NULL ELSE g::int8 << 33 END) AS i8_ok,
       bool_and(t IS NOT DISTINCT FROM CASE WHEN g % 11 = 3 THEN NULL ELSE repeat('t', g % 50) END) AS t_ok,
       bool_and(v IS NOT DISTINCT FROM CASE WHEN g % 13 = 4 THEN NULL ELSE md5(g::text)::varchar END) AS v_ok,
       bool_and(b IS NOT DISTINCT FROM CASE WHEN g % 2 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END) AS b_ok
FROM unnest(ARRAY[64, 1024, 65536, 16777216]) AS q,
     LATERAL pg_background_result(pg_background_launch(
    $$SELECT g,
             CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 30000)::int2 END,
             CASE WHEN g % 5 = 1 THEN NULL ELSE -g END,
             CASE WHEN g % 3 = 2 THEN NULL ELSE g::int8 << 33 END,
             CASE WHEN g % 11 = 3 THEN NULL ELSE repeat('t', g % 50) END,
             CASE WHEN g % 13 = 4 THEN NULL ELSE md5(g::text)::varchar END,
             CASE WHEN g % 2 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END
      FROM generate_series(1, 20000) g$$, q))
    AS r(g int, i2 int2, i4 int4, i8 int8, t text, v varchar, b bytea)
GROUP BY q ORDER BY q;
SELECT q, count(*), bool_and(r.c = t.c AND r.e = t.e) AS same_data, sum(length(r.e)) AS e_length
FROM unnest(ARRAY[64, 65536]) AS q,
     LATERAL pg_background_result(pg_background_launch(
         'SELECT id, c, e FROM regress_toasted', q)) AS r(id int, c text, e text)
     JOIN regress_toasted t USING (id)
GROUP BY q ORDER BY q;
DROP TABLE regress_toasted;
\set SHOW_CONTEXT never
SELECT count(*)
FROM pg_background_result(pg_background_launch(
    'SELECT CASE WHEN i < 20000 THEN i ELSE 1 / (i - 20000) END
     FROM generate_series(1, 30000) i')) AS (i int);
\set SHOW_CONTEXT errors

DROP DOMAIN regress_posint;
DROP TYPE regress_floatrange, regress_nested, regress_pair, regress_color;
-- The extension too, so that the next suite starts without it.
DROP EXTENSION pg_background;
