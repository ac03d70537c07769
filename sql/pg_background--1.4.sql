/* pg_background--1.4.sql: the catalog objects of pg_background 1.4 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pg_background" to load this file. \quit

CREATE FUNCTION pg_background_launch(
    sql pg_catalog.text,
    queue_size pg_catalog.int4 DEFAULT 65536)
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'pg_background_launch'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION pg_background_result(pid pg_catalog.int4)
RETURNS SETOF pg_catalog.record
AS 'MODULE_PATHNAME', 'pg_background_result'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION pg_background_detach(pid pg_catalog.int4)
RETURNS pg_catalog.void
AS 'MODULE_PATHNAME', 'pg_background_detach'
LANGUAGE C VOLATILE STRICT;
