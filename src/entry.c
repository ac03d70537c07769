/*-------------------------------------------------------------------------
 *
 * entry.c
 *		SQL-callable functions of pg_background.
 *
 * This file validates arguments, applies the rules about who may touch a
 * job, and hands the work to launch.c, session.c and decode.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "pg_background.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pg_background_launch);
PG_FUNCTION_INFO_V1(pg_background_result);
PG_FUNCTION_INFO_V1(pg_background_detach);

static pgbg_job *entry_lookup(int32 pid);
static void entry_check_not_null(FunctionCallInfo fcinfo, int argno,
								 const char *argname);
static void entry_check_queue_size(int32 queue_size);

/*
 * pg_background_launch(sql text, queue_size int4 DEFAULT 65536) RETURNS int4
 *
 * Start a worker running sql and return its PID.
 */
Datum
pg_background_launch(PG_FUNCTION_ARGS)
{
	text	   *sql;
	int32		queue_size;
	pgbg_job   *job;

	entry_check_not_null(fcinfo, 0, "sql");
	entry_check_not_null(fcinfo, 1, "queue_size");
	sql = PG_GETARG_TEXT_PP(0);
	queue_size = PG_GETARG_INT32(1);
	entry_check_queue_size(queue_size);

	job = pgbg_launch(text_to_cstring(sql), queue_size);
	PG_RETURN_INT32(job->pid);
}

/*
 * pg_background_result(pid int4) RETURNS SETOF record
 *
 * Wait for the worker and return its rows (or command tags), typed by the
 * caller's column definition list.  A job's results can be read once.
 */
Datum
pg_background_result(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		pid;
	pgbg_job   *job;
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	MemoryContext oldcontext;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize) ||
		rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_background_result must be called with a column definition list"),
				 errhint("Call it in FROM, for example: SELECT * FROM pg_background_result(pid) AS (result text).")));

	entry_check_not_null(fcinfo, 0, "pid");
	pid = PG_GETARG_INT32(0);
	job = entry_lookup(pid);
	if (job->consumed)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("results for PID %d have already been consumed", pid)));

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	tupstore = tuplestore_begin_heap(rsinfo->allowedModes & SFRM_Materialize_Random,
									 false, work_mem);
	MemoryContextSwitchTo(oldcontext);

	/* Whatever happens from here on, this was the one read. */
	pgbg_session_mark_consumed(job);
	PG_TRY();
	{
		pgbg_decode_result(job, tupstore, tupdesc);
	}
	PG_FINALLY();
	{
		pgbg_session_release(job);
	}
	PG_END_TRY();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

/*
 * pg_background_detach(pid int4) RETURNS void
 *
 * Stop listening to a worker.  The job itself runs to completion and
 * commits; its results are discarded.
 */
Datum
pg_background_detach(PG_FUNCTION_ARGS)
{
	entry_check_not_null(fcinfo, 0, "pid");
	pgbg_session_forget(entry_lookup(PG_GETARG_INT32(0)));
	PG_RETURN_VOID();
}

/*
 * Find a job of this session for the current user: 42704 if the session
 * has no such job, 42501 if the current role may not act for its owner
 * (a job launched before SET ROLE or inside a SECURITY DEFINER function).
 */
static pgbg_job *
entry_lookup(int32 pid)
{
	pgbg_job   *job = pgbg_session_find(pid);

	if (job == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("PID %d is not attached to this session", pid)));
	if (!has_privs_of_role(GetUserId(), job->user_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for background worker with PID %d",
						pid),
				 errdetail("Only roles with the privileges of the role that launched the worker may use it.")));
	return job;
}

/*
 * queue_size must fit a shm_mq and stay below PGBG_MAX_QUEUE_SIZE.
 */
static void
entry_check_queue_size(int32 queue_size)
{
	if (queue_size < 0 || (Size) queue_size < shm_mq_minimum_size ||
		queue_size > PGBG_MAX_QUEUE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue size must be between %zu and %d bytes",
						shm_mq_minimum_size, PGBG_MAX_QUEUE_SIZE),
				 errdetail("The requested queue size was %d bytes.", queue_size)));
}

/*
 * Our functions are not STRICT, so that a NULL argument is an error rather
 * than a silent NULL result (a NULL SQL string must not look like a job).
 */
static void
entry_check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}
