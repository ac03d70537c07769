/* pg_background--1.7--1.8.sql: admission control (shared job directory) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_background UPDATE TO '1.8'" to load this file. \quit

-- The state of admission control; needs shared_preload_libraries.
CREATE FUNCTION pg_background_admission(
    OUT active pg_catalog.int4,
    OUT queued pg_catalog.int4,
    OUT max_queued pg_catalog.int4,
    OUT max_workers pg_catalog.int4,
    OUT max_workers_per_database pg_catalog.int4,
    OUT max_workers_per_role pg_catalog.int4,
    OUT directory_used pg_catalog.int4,
    OUT directory_size pg_catalog.int4,
    OUT pool_idle pg_catalog.int4)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_background_admission'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION pg_background_admission() FROM PUBLIC;
