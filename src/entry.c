/*-------------------------------------------------------------------------
 *
 * entry.c
 *		SQL-callable functions of pg_background.
 *
 * This file validates arguments, applies the rules about who may touch a
 * job, and hands the work to launch.c, session.c, control.c and decode.c.
 * The v1 API (PIDs) and the v2 API (handles: PID plus cookie) share every
 * code path: a v1 PID is a handle whose cookie the session keeps.
 *
 * None of the functions is STRICT: a NULL argument is an error (22004)
 * rather than a silent NULL result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "pg_background.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pg_background_launch);
PG_FUNCTION_INFO_V1(pg_background_result);
PG_FUNCTION_INFO_V1(pg_background_detach);
PG_FUNCTION_INFO_V1(pg_background_launch_v2);
PG_FUNCTION_INFO_V1(pg_background_submit_v2);
PG_FUNCTION_INFO_V1(pg_background_result_v2);
PG_FUNCTION_INFO_V1(pg_background_detach_v2);
PG_FUNCTION_INFO_V1(pg_background_cancel_v2);
PG_FUNCTION_INFO_V1(pg_background_cancel_v2_grace);
PG_FUNCTION_INFO_V1(pg_background_cancel_label);
PG_FUNCTION_INFO_V1(pg_background_wait_v2);
PG_FUNCTION_INFO_V1(pg_background_wait_v2_timeout);
PG_FUNCTION_INFO_V1(pg_background_wait_any);
PG_FUNCTION_INFO_V1(pg_background_list_v2);
PG_FUNCTION_INFO_V1(pg_background_list);
PG_FUNCTION_INFO_V1(pg_background_stats_v2);
PG_FUNCTION_INFO_V1(pg_background_progress);
PG_FUNCTION_INFO_V1(pg_background_get_progress_v2);
PG_FUNCTION_INFO_V1(pg_background_outcome);
PG_FUNCTION_INFO_V1(pg_background_admission);

/* pg_background.default_queue_size: the queue size queue_size 0 stands for. */
static int	entry_default_queue_size = PGBG_DEFAULT_QUEUE_SIZE;
static int	entry_max_queue_size = PGBG_DEFAULT_MAX_QUEUE_SIZE;

/*
 * pg_background.max_workers: how many jobs one session may hold at once (as
 * in upstream pg_background; see entry_check_max_workers).  Not to be
 * confused with the server-wide pg_background.max_total_workers.
 */
#define ENTRY_DEFAULT_MAX_WORKERS	16
#define ENTRY_MAX_MAX_WORKERS		1000
static int	entry_max_workers = ENTRY_DEFAULT_MAX_WORKERS;

/* Columns of pg_background_list_v2 (the upstream-compatible subset). */
#define LIST_V2_NATTS	9
static const Oid list_v2_types[LIST_V2_NATTS] = {
	INT4OID, INT8OID, TIMESTAMPTZOID, OIDOID, INT4OID, TEXTOID, TEXTOID,
	TEXTOID, BOOLOID
};

/* Columns of pg_background_list (the view pg_background_jobs). */
#define LIST_NATTS		20
static const Oid list_types[LIST_NATTS] = {
	INT4OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, OIDOID, INT4OID, BOOLOID, BOOLOID, INT4OID, TEXTOID,
	TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID
};

static void entry_check_not_null(FunctionCallInfo fcinfo, int argno,
								 const char *argname);
static int32 entry_queue_size(int32 queue_size);
static void entry_check_max_workers(void);
static int	entry_check_ms(FunctionCallInfo fcinfo, int argno,
						   const char *argname, bool minus_one_ok);
static pgbg_job *entry_lookup(int32 pid);
static pgbg_job *entry_lookup_handle(FunctionCallInfo fcinfo, bool remote_ok);
static pgbg_job *entry_find_handle(int32 pid, int64 cookie, bool remote_ok);
static pgbg_job *entry_remote_job(const pgbg_dir_entry *entry, int slot);
static bool entry_launched_here(const pgbg_dir_entry *entry);
static bool entry_may_use(pgbg_job *job);
static pgbg_job *entry_launch(FunctionCallInfo fcinfo, bool submitted,
							  int first_param);
static Datum entry_handle_datum(FunctionCallInfo fcinfo, pgbg_job *job);
static Datum entry_result(FunctionCallInfo fcinfo, pgbg_job *job);
static void entry_wait(pgbg_job *job);
static Tuplestorestate *entry_materialize(FunctionCallInfo fcinfo,
										  TupleDesc *tupdesc, int natts,
										  const Oid *types);
static void entry_job_row(pgbg_job *job, Datum *values, bool *nulls);
static void entry_list_row(Tuplestorestate *tupstore, TupleDesc tupdesc,
						   int natts, const int *pick, pgbg_job *job);
static Datum entry_text_or_null(const char *str, bool *isnull);
static Datum entry_list(FunctionCallInfo fcinfo, int natts, const Oid *types,
						const int *pick);

/* ---------------------------------------------------------------------
 * v1 API
 * ---------------------------------------------------------------------
 */

/*
 * The settings of this file (from _PG_init, preload.c).
 */
void
pgbg_entry_define_gucs(void)
{
	DefineCustomIntVariable("pg_background.default_queue_size",
							"Queue size of a job launched with queue_size 0.",
							NULL, &entry_default_queue_size,
							PGBG_DEFAULT_QUEUE_SIZE, (int) shm_mq_minimum_size,
							PGBG_MAX_QUEUE_SIZE,
							PGC_USERSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_queue_size",
							"Largest queue a job may have (each job's queue is shared memory).",
							"Only superusers can change it.",
							&entry_max_queue_size,
							PGBG_DEFAULT_MAX_QUEUE_SIZE, (int) shm_mq_minimum_size,
							PGBG_MAX_QUEUE_SIZE,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_workers",
							"Maximum number of jobs one session holds at once.",
							"A job counts from its launch until its results are read or it is detached; pg_background.max_total_workers limits the whole server.",
							&entry_max_workers,
							ENTRY_DEFAULT_MAX_WORKERS, 1, ENTRY_MAX_MAX_WORKERS,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/*
 * pg_background_launch(sql text, queue_size int4 DEFAULT 0) RETURNS int4
 * pg_background_launch(sql text, queue_size int4, VARIADIC params "any")
 *
 * Start a worker running sql (with params bound to $1..$n) and return its
 * PID.
 */
Datum
pg_background_launch(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(entry_launch(fcinfo, false, 2)->pid);
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
	entry_check_not_null(fcinfo, 0, "pid");
	return entry_result(fcinfo, entry_lookup(PG_GETARG_INT32(0)));
}

/*
 * pg_background_detach(pid int4) RETURNS void
 *
 * Stop listening to a worker.  The job itself runs to completion and
 * commits; its results are discarded and the session forgets it.
 */
Datum
pg_background_detach(PG_FUNCTION_ARGS)
{
	entry_check_not_null(fcinfo, 0, "pid");
	pgbg_session_forget(entry_lookup(PG_GETARG_INT32(0)));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * v2 API: handles
 * ---------------------------------------------------------------------
 */

/*
 * pg_background_launch_v2(sql text, queue_size int4 DEFAULT 0)
 * pg_background_launch_v2(sql text, queue_size int4, label text)
 *		RETURNS pg_background_handle
 */
Datum
pg_background_launch_v2(PG_FUNCTION_ARGS)
{
	return entry_handle_datum(fcinfo, entry_launch(fcinfo, false, 3));
}

/*
 * pg_background_submit_v2(sql text, queue_size int4 DEFAULT 0)
 * pg_background_submit_v2(sql text, queue_size int4, label text)
 *		RETURNS pg_background_handle
 *
 * Fire and forget, but stay observable: the job's rows are discarded, its
 * state, outcome and progress can be waited for, listed and canceled.
 */
Datum
pg_background_submit_v2(PG_FUNCTION_ARGS)
{
	return entry_handle_datum(fcinfo, entry_launch(fcinfo, true, 3));
}

/*
 * pg_background_result_v2(pid int4, cookie int8) RETURNS SETOF record
 */
Datum
pg_background_result_v2(PG_FUNCTION_ARGS)
{
	return entry_result(fcinfo, entry_lookup_handle(fcinfo, false));
}

/*
 * pg_background_detach_v2(pid int4, cookie int8) RETURNS void
 */
Datum
pg_background_detach_v2(PG_FUNCTION_ARGS)
{
	pgbg_session_forget(entry_lookup_handle(fcinfo, false));
	PG_RETURN_VOID();
}

/*
 * pg_background_cancel_v2(pid int4, cookie int8) RETURNS void
 *
 * Cancel with the default grace period (PGBG_DEFAULT_GRACE_MS).
 */
Datum
pg_background_cancel_v2(PG_FUNCTION_ARGS)
{
	pgbg_job   *job = entry_lookup_handle(fcinfo, true);

	pgbg_control_cancel(&job, 1, PGBG_DEFAULT_GRACE_MS);
	PG_RETURN_VOID();
}

/*
 * pg_background_cancel_v2_grace(pid int4, cookie int8, grace_ms int4)
 *		RETURNS void
 *
 * Cancel the running statement; terminate the worker if it is still
 * running after grace_ms.  Returns once the worker has exited.
 */
Datum
pg_background_cancel_v2_grace(PG_FUNCTION_ARGS)
{
	pgbg_job   *job = entry_lookup_handle(fcinfo, true);
	int			grace_ms = entry_check_ms(fcinfo, 2, "grace_ms", false);

	pgbg_control_cancel(&job, 1, grace_ms);
	PG_RETURN_VOID();
}

/*
 * pg_background_cancel_label(label text, grace_ms int4 DEFAULT 1000)
 *		RETURNS int4
 *
 * Cancel every running job of this session that carries the label and
 * that the current role may use; returns how many were canceled.
 */
Datum
pg_background_cancel_label(PG_FUNCTION_ARGS)
{
	char	   *label;
	int			grace_ms;
	List	   *jobs;
	ListCell   *lc;
	pgbg_job  **targets;
	int			ntargets = 0;
	int			ncanceled = 0;
	int			i;

	entry_check_not_null(fcinfo, 0, "label");
	label = text_to_cstring(PG_GETARG_TEXT_PP(0));
	grace_ms = entry_check_ms(fcinfo, 1, "grace_ms", false);

	jobs = pgbg_session_jobs(false);	/* remembered ones are over */
	targets = palloc(sizeof(pgbg_job *) * Max(list_length(jobs), 1));
	foreach(lc, jobs)
	{
		pgbg_job   *job = lfirst(lc);

		if (job->label != NULL && strcmp(job->label, label) == 0 &&
			entry_may_use(job) && !pgbg_control_finished(job))
			targets[ntargets++] = job;
	}

	pgbg_control_cancel(targets, ntargets, grace_ms);
	for (i = 0; i < ntargets; i++)
		if (targets[i]->canceled)
			ncanceled++;
	PG_RETURN_INT32(ncanceled);
}

/*
 * pg_background_wait_v2(pid int4, cookie int8) RETURNS void
 *
 * Return as soon as the job is over.  The results stay readable.
 */
Datum
pg_background_wait_v2(PG_FUNCTION_ARGS)
{
	entry_wait(entry_lookup_handle(fcinfo, true));
	PG_RETURN_VOID();
}

/*
 * pg_background_wait_v2_timeout(pid int4, cookie int8, timeout_ms int4)
 *		RETURNS bool
 *
 * Like pg_background_wait_v2, but give up after timeout_ms; returns whether
 * the job is over.
 */
Datum
pg_background_wait_v2_timeout(PG_FUNCTION_ARGS)
{
	pgbg_job   *job = entry_lookup_handle(fcinfo, true);
	int			timeout_ms = entry_check_ms(fcinfo, 2, "timeout_ms", false);

	PG_RETURN_BOOL(pgbg_control_wait(&job, 1, timeout_ms) == 0);
}

/*
 * pg_background_wait_any(handles pg_background_handle[],
 *						  timeout_ms int4 DEFAULT -1) RETURNS pg_background_handle
 *
 * The first of the handles whose job is over, or NULL after timeout_ms
 * (-1: wait as long as it takes).  Handles of finished jobs count at once,
 * in array order.
 */
Datum
pg_background_wait_any(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	pgbg_job  **jobs;
	int			timeout_ms;
	int			i;
	int			first;

	entry_check_not_null(fcinfo, 0, "handles");
	timeout_ms = entry_check_ms(fcinfo, 1, "timeout_ms", true);
	arr = PG_GETARG_ARRAYTYPE_P(0);
	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign,
					  &elems, &elem_nulls, &nelems);
	if (nelems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("handles must contain at least one handle")));

	jobs = palloc(sizeof(pgbg_job *) * nelems);
	for (i = 0; i < nelems; i++)
	{
		HeapTupleHeader handle;
		bool		pid_null;
		bool		cookie_null;
		Datum		pid;
		Datum		cookie;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("handles must not contain NULL")));
		handle = DatumGetHeapTupleHeader(elems[i]);
		pid = GetAttributeByNum(handle, 1, &pid_null);
		cookie = GetAttributeByNum(handle, 2, &cookie_null);
		if (pid_null || cookie_null)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("handles must not contain NULL pid or cookie")));
		jobs[i] = entry_find_handle(DatumGetInt32(pid), DatumGetInt64(cookie),
									true);
	}

	first = pgbg_control_wait(jobs, nelems, timeout_ms);
	if (first < 0)
		PG_RETURN_NULL();
	return entry_handle_datum(fcinfo, jobs[first]);
}

/*
 * pg_background_list_v2() RETURNS SETOF record
 *
 * (pid int4, cookie int8, launched_at timestamptz, user_id oid,
 *	queue_size int4, state text, sql_preview text, last_error text,
 *	consumed bool): the columns of upstream's function, in its order.
 */
Datum
pg_background_list_v2(PG_FUNCTION_ARGS)
{
	static const int pick[LIST_V2_NATTS] = {0, 1, 4, 7, 8, 3, 19, 16, 10};

	return entry_list(fcinfo, LIST_V2_NATTS, list_v2_types, pick);
}

/*
 * pg_background_list() RETURNS SETOF record with OUT parameters: every job
 * of this session the current role may use, with all we know about it.
 * The view pg_background_jobs selects from it.
 */
Datum
pg_background_list(PG_FUNCTION_ARGS)
{
	return entry_list(fcinfo, LIST_NATTS, list_types, NULL);
}

/*
 * Return one row per job the current role may use: the columns of
 * entry_job_row, or the subset pick[] names.
 */
static Datum
entry_list(FunctionCallInfo fcinfo, int natts, const Oid *types,
		   const int *pick)
{
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore = entry_materialize(fcinfo, &tupdesc, natts,
												  types);
	List	   *jobs = pgbg_session_jobs(true);
	ListCell   *lc;

	pgbg_dir_entry *dir;
	int		   *slots;
	int			ndir;
	int			d;

	foreach(lc, jobs)
	{
		pgbg_job   *job = lfirst(lc);

		if (entry_may_use(job))
			entry_list_row(tupstore, tupdesc, natts, pick, job);
	}

	/* With the directory: every other job the current role may see. */
	ndir = pgbg_dir_snapshot(&dir, &slots);
	for (d = 0; d < ndir; d++)
	{
		if (pgbg_session_has(dir[d].handle_pid, dir[d].cookie))
			continue;			/* listed above */
		entry_list_row(tupstore, tupdesc, natts, pick,
					   entry_remote_job(&dir[d], slots[d]));
	}
	return (Datum) 0;
}

/*
 * Add the row of one job to a list (see entry_list).
 */
static void
entry_list_row(Tuplestorestate *tupstore, TupleDesc tupdesc, int natts,
			   const int *pick, pgbg_job *job)
{
	Datum		all[LIST_NATTS];
	bool		all_nulls[LIST_NATTS];
	Datum		values[LIST_NATTS];
	bool		nulls[LIST_NATTS];
	int			i;

	entry_job_row(job, all, all_nulls);
	for (i = 0; i < natts; i++)
	{
		values[i] = all[pick ? pick[i] : i];
		nulls[i] = all_nulls[pick ? pick[i] : i];
	}
	tuplestore_putvalues(tupstore, tupdesc, values, nulls);
}

/*
 * pg_background_stats_v2() RETURNS pg_background_stats
 *
 * Counters of this session: launched, completed, failed, canceled, active
 * (running now), the average execution time of completed jobs, and
 * pg_background.max_workers (as in upstream pg_background).
 */
Datum
pg_background_stats_v2(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	pgbg_stats *stats = pgbg_session_stats();

	/* Remembered (consumed) jobs are over and counted already. */
	List	   *jobs = pgbg_session_jobs(false);
	ListCell   *lc;
	int32		active = 0;
	Datum		values[7];
	bool		nulls[7] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	foreach(lc, jobs)
	{
		pgbg_job   *job = lfirst(lc);

		pgbg_session_observe(job);
		if (pgbg_session_state(job) == PGBG_VIEW_RUNNING)
			active++;
	}

	values[0] = Int64GetDatum(stats->launched);
	values[1] = Int64GetDatum(stats->completed);
	values[2] = Int64GetDatum(stats->failed);
	values[3] = Int64GetDatum(stats->canceled);
	values[4] = Int32GetDatum(active);
	if (stats->completed > 0)
		values[5] = Float8GetDatum(stats->total_exec_ms / stats->completed);
	else
		nulls[5] = true;
	values[6] = Int32GetDatum(entry_max_workers);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * pg_background_progress(pct int4, msg text DEFAULT NULL) RETURNS void
 *
 * Called by the SQL a worker runs, to publish how far it got.
 */
Datum
pg_background_progress(PG_FUNCTION_ARGS)
{
	int32		pct;

	entry_check_not_null(fcinfo, 0, "pct");
	pct = PG_GETARG_INT32(0);
	if (pct < 0 || pct > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("progress must be between 0 and 100, not %d", pct)));
	pgbg_worker_report_progress(pct,
								PG_ARGISNULL(1) ? NULL :
								text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/*
 * pg_background_get_progress_v2(pid int4, cookie int8)
 *		RETURNS pg_background_progress
 *
 * The last progress the job published; NULLs if it never did.
 */
Datum
pg_background_get_progress_v2(PG_FUNCTION_ARGS)
{
	pgbg_job   *job = entry_lookup_handle(fcinfo, true);
	pgbg_outcome outcome;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	pgbg_session_outcome(job, &outcome);
	if (outcome.progress_pct < 0)
		nulls[0] = nulls[1] = true;
	else
	{
		values[0] = Int32GetDatum(outcome.progress_pct);
		values[1] = entry_text_or_null(outcome.progress_msg, &nulls[1]);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * pg_background_outcome(pid int4, cookie int8)
 *		RETURNS pg_background_job_outcome
 *
 * How the job is doing or how it ended, without consuming its rows:
 * (state, command_tag, row_count, started_at, finished_at, sqlstate,
 *	message, detail, hint, context).
 */
Datum
pg_background_outcome(PG_FUNCTION_ARGS)
{
	pgbg_job   *job = entry_lookup_handle(fcinfo, true);
	pgbg_outcome outcome;
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	(void) pgbg_control_finished(job);	/* drains the queue if need be */
	pgbg_session_outcome(job, &outcome);

	values[0] = CStringGetTextDatum(pgbg_session_state_name(pgbg_session_state(job)));
	values[1] = entry_text_or_null(outcome.command_tag, &nulls[1]);
	values[2] = Int64GetDatum((int64) outcome.row_count);
	nulls[2] = (outcome.command_tag[0] == '\0');
	values[3] = TimestampTzGetDatum(outcome.started_at);
	nulls[3] = (outcome.started_at == 0);
	values[4] = TimestampTzGetDatum(outcome.finished_at);
	nulls[4] = (outcome.finished_at == 0);
	values[5] = entry_text_or_null(outcome.sqlstate, &nulls[5]);
	values[6] = entry_text_or_null(outcome.message, &nulls[6]);
	values[7] = entry_text_or_null(outcome.detail, &nulls[7]);
	values[8] = entry_text_or_null(outcome.hint, &nulls[8]);
	values[9] = entry_text_or_null(outcome.context, &nulls[9]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * pg_background_admission() RETURNS record
 *
 * (active, queued, max_queued, max_workers, max_workers_per_database,
 *	max_workers_per_role, directory_used, directory_size, pool_idle): the state of
 * admission control.  Needs the shared directory.  The column max_workers
 * shows the server-wide pg_background.max_total_workers (the setting's name
 * before it was renamed), not the per-session pg_background.max_workers.
 */
Datum
pg_background_admission(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {false};
	int			active;
	int			queued;
	int			used;
	int			size;

	pgbg_dir_require("pg_background_admission");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	pgbg_dir_counts(&active, &queued, &used, &size);
	values[0] = Int32GetDatum(active);
	values[1] = Int32GetDatum(queued);
	values[2] = Int32GetDatum(pgbg_max_queued);
	values[3] = Int32GetDatum(pgbg_max_total_workers);
	values[4] = Int32GetDatum(pgbg_max_workers_per_database);
	values[5] = Int32GetDatum(pgbg_max_workers_per_role);
	values[6] = Int32GetDatum(used);
	values[7] = Int32GetDatum(size);
	values[8] = Int32GetDatum(pgbg_pool_idle_count());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/* ---------------------------------------------------------------------
 * Shared helpers
 * ---------------------------------------------------------------------
 */

/*
 * Launch from (sql, queue_size[, label][, VARIADIC params]) arguments;
 * parameters for $1..$n start at argument first_param.
 */
static pgbg_job *
entry_launch(FunctionCallInfo fcinfo, bool submitted, int first_param)
{
	char	   *label = NULL;
	int32		queue_size;

	entry_check_not_null(fcinfo, 0, "sql");
	entry_check_not_null(fcinfo, 1, "queue_size");
	queue_size = entry_queue_size(PG_GETARG_INT32(1));
	if (first_param > 2 && PG_NARGS() > 2 && !PG_ARGISNULL(2))
		label = text_to_cstring(PG_GETARG_TEXT_PP(2));
	entry_check_max_workers();

	return pgbg_launch(text_to_cstring(PG_GETARG_TEXT_PP(0)), queue_size,
					   submitted, label,
					   pgbg_params_collect(fcinfo, first_param));
}

/*
 * The pg_background_handle (pid, cookie) of a job.
 */
static Datum
entry_handle_datum(FunctionCallInfo fcinfo, pgbg_job *job)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int32GetDatum(job->pid);
	values[1] = Int64GetDatum(job->cookie);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * Read a job's results into the caller's tuplestore (materialize mode).
 */
static Datum
entry_result(FunctionCallInfo fcinfo, pgbg_job *job)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	MemoryContext oldcontext;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize) ||
		rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_background results must be read with a column definition list"),
				 errhint("Call it in FROM, for example: SELECT * FROM pg_background_result(pid) AS (result text).")));
	if (job->consumed)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("results for PID %d have already been consumed", job->pid)));
	if (job->submitted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("results of submitted job with PID %d are not kept", job->pid),
				 errhint("Use pg_background_launch_v2 to read results; pg_background_outcome shows how a submitted job ended.")));
	pgbg_control_check_canceled(job);

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
		pgbg_session_release(job, false);
	}
	PG_END_TRY();

	/* The job, if its worker is done, leaves for a compact record. */
	pgbg_session_settle_all();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

/*
 * Wait, without limit, until the job is over.
 */
static void
entry_wait(pgbg_job *job)
{
	(void) pgbg_control_wait(&job, 1, -1);
}

/*
 * Set up materialize mode for a function returning natts columns of the
 * given types (an OUT-parameter row type, or a column definition list,
 * which must then declare exactly those types).
 */
static Tuplestorestate *
entry_materialize(FunctionCallInfo fcinfo, TupleDesc *tupdesc, int natts,
				  const Oid *types)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *tupstore;
	MemoryContext oldcontext;
	TupleDesc	desc;
	int			i;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
	{
		if (rsinfo->expectedDesc == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a column definition list is required for this function")));
		desc = rsinfo->expectedDesc;
	}
	desc = CreateTupleDescCopy(desc);
	if (desc->natts != natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list must have %d columns, not %d",
						natts, desc->natts)));
	for (i = 0; i < natts; i++)
		if (TupleDescAttr(desc, i)->atttypid != types[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the column definition list must be of type %s, not %s",
							i + 1, format_type_be(types[i]),
							format_type_be(TupleDescAttr(desc, i)->atttypid))));
	tupstore = tuplestore_begin_heap(rsinfo->allowedModes & SFRM_Materialize_Random,
									 false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(oldcontext);
	*tupdesc = desc;
	return tupstore;
}

/*
 * Fill the LIST_NATTS columns of pg_background_list for a job:
 * pid, cookie, label, state, launched_at, started_at, finished_at, user_id,
 * queue_size, submitted, consumed, progress_pct, progress_msg, command_tag,
 * row_count, sqlstate, last_error, detail, hint, sql_preview.
 */
static void
entry_job_row(pgbg_job *job, Datum *values, bool *nulls)
{
	pgbg_outcome outcome;

	(void) pgbg_control_finished(job);	/* drains the queue if need be */
	pgbg_session_outcome(job, &outcome);
	memset(nulls, 0, sizeof(bool) * LIST_NATTS);

	values[0] = Int32GetDatum(job->pid);
	values[1] = Int64GetDatum(job->cookie);
	values[2] = entry_text_or_null(job->label, &nulls[2]);
	values[3] = CStringGetTextDatum(pgbg_session_state_name(pgbg_session_state(job)));
	values[4] = TimestampTzGetDatum(job->launched_at);
	values[5] = TimestampTzGetDatum(outcome.started_at);
	nulls[5] = (outcome.started_at == 0);
	values[6] = TimestampTzGetDatum(outcome.finished_at);
	nulls[6] = (outcome.finished_at == 0);
	values[7] = ObjectIdGetDatum(job->user_id);
	values[8] = Int32GetDatum(job->queue_size);
	values[9] = BoolGetDatum(job->submitted);
	values[10] = BoolGetDatum(job->consumed);
	values[11] = Int32GetDatum(outcome.progress_pct);
	nulls[11] = (outcome.progress_pct < 0);
	values[12] = entry_text_or_null(outcome.progress_msg, &nulls[12]);
	values[13] = entry_text_or_null(outcome.command_tag, &nulls[13]);
	values[14] = Int64GetDatum((int64) outcome.row_count);
	nulls[14] = nulls[13];
	values[15] = entry_text_or_null(outcome.sqlstate, &nulls[15]);
	values[16] = entry_text_or_null(outcome.message, &nulls[16]);
	values[17] = entry_text_or_null(outcome.detail, &nulls[17]);
	values[18] = entry_text_or_null(outcome.hint, &nulls[18]);
	values[19] = entry_text_or_null(job->sql_preview, &nulls[19]);
}

/*
 * A text datum, or NULL for a NULL or empty string.
 */
static Datum
entry_text_or_null(const char *str, bool *isnull)
{
	*isnull = (str == NULL || str[0] == '\0');
	return *isnull ? (Datum) 0 : CStringGetTextDatum(str);
}

/*
 * May the current role use this job?  Roles with the privileges of the
 * role that launched it may (a job launched before SET ROLE, or inside a
 * SECURITY DEFINER function, belongs to that role).
 */
static bool
entry_may_use(pgbg_job *job)
{
	return has_privs_of_role(GetUserId(), job->user_id);
}

/*
 * Find a job of this session for the current user: 42704 if the session
 * has no such job, 42501 if the current role may not use it.
 */
static pgbg_job *
entry_lookup(int32 pid)
{
	pgbg_job   *job = pgbg_session_find(pid);

	if (job == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("PID %d is not attached to this session", pid)));
	if (!entry_may_use(job))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for background worker with PID %d",
						pid),
				 errdetail("Only roles with the privileges of the role that launched the worker may use it.")));
	return job;
}

/*
 * Find the job named by the (pid int4, cookie int8) arguments 0 and 1 (see
 * entry_find_handle).
 */
static pgbg_job *
entry_lookup_handle(FunctionCallInfo fcinfo, bool remote_ok)
{
	entry_check_not_null(fcinfo, 0, "pid");
	entry_check_not_null(fcinfo, 1, "cookie");
	return entry_find_handle(PG_GETARG_INT32(0), PG_GETARG_INT64(1),
							 remote_ok);
}

/*
 * Find a job by handle.  A cookie that does not match is the same error as
 * an unknown PID: the handle names no job of this session.  With the shared
 * directory, a handle of another session's job that the current role may
 * see names that job if remote_ok (waiting, canceling, reading the
 * outcome), and is 55000 otherwise (only the launching session can read
 * results or detach); a job the role may not see does not exist for it.
 * A job this session launched and then detached (or forgot) stays in the
 * directory: waiting, canceling and reading the outcome still reach it,
 * as from any other session of the role, but reading results or detaching
 * again is 42704, as without the directory.
 */
static pgbg_job *
entry_find_handle(int32 pid, int64 cookie, bool remote_ok)
{
	pgbg_job   *job = pgbg_session_find(pid);
	pgbg_dir_entry entry;
	int			slot;

	if (job != NULL && job->cookie == cookie)
		return entry_lookup(pid);

	slot = pgbg_dir_find(pid, cookie, &entry);
	if (slot >= 0 && !remote_ok && !entry_launched_here(&entry))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("background job with PID %d and cookie " INT64_FORMAT " belongs to another session",
						pid, cookie),
				 errdetail("Only the session that launched a job can read its results or detach from it."),
				 errhint("Use pg_background_wait_v2, pg_background_outcome or pg_background_cancel_v2 from other sessions.")));
	if (slot < 0 || !remote_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("background job with PID %d and cookie " INT64_FORMAT " is not attached to this session",
						pid, cookie)));
	return entry_remote_job(&entry, slot);
}

/*
 * Did this session launch the job of this directory entry?  Its launcher
 * PID is ours, and it was launched after this process started (a process
 * that had our PID before us was another session).  Such a job that the
 * session no longer holds was detached or forgotten by it: for results
 * and detach it is "not attached to this session" (42704), as without the
 * directory, not another session's job (55000).
 */
static bool
entry_launched_here(const pgbg_dir_entry *entry)
{
	return entry->launcher_pid == MyProcPid &&
		entry->launched_at >= MyStartTimestamp;
}

/*
 * A job of the shared directory that this session did not launch (or no
 * longer remembers), as a transient pgbg_job in the current memory
 * context: no segment, no queue; control.c reads the directory for it.
 */
static pgbg_job *
entry_remote_job(const pgbg_dir_entry *entry, int slot)
{
	pgbg_job   *job = palloc0(sizeof(pgbg_job));

	job->pid = entry->handle_pid;
	job->cookie = entry->cookie;
	job->user_id = entry->owner;
	job->queue_size = entry->queue_size;
	job->launched_at = entry->launched_at;
	job->label = entry->label[0] != '\0' ? pstrdup(entry->label) : NULL;
	job->sql_preview = pstrdup(entry->sql_preview);
	job->submitted = entry->submitted;
	job->final = entry->outcome;
	job->canceled = entry->canceled;
	job->released = true;
	job->dir_slot = slot;
	job->dir_seq = entry->seq;
	job->remote = true;
	return job;
}

/*
 * The queue size of a launch: queue_size 0 means
 * pg_background.default_queue_size (as in upstream pg_background);
 * otherwise it must fit a shm_mq and stay below PGBG_MAX_QUEUE_SIZE (22023).
 * Either way it may not exceed pg_background.max_queue_size (54000): a
 * queue is shared memory, which a superuser bounds.
 */
static int32
entry_queue_size(int32 queue_size)
{
	if (queue_size == 0)
		queue_size = entry_default_queue_size;
	else if (queue_size < 0 || (Size) queue_size < shm_mq_minimum_size ||
			 queue_size > PGBG_MAX_QUEUE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue size must be between %zu and %d bytes",
						shm_mq_minimum_size, PGBG_MAX_QUEUE_SIZE),
				 errdetail("The requested queue size was %d bytes.", queue_size)));
	if (queue_size > entry_max_queue_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("queue size %d exceeds pg_background.max_queue_size (%d bytes)",
						queue_size, entry_max_queue_size),
				 errhint("Use a smaller queue_size (rows larger than the queue still go through), or ask a superuser to raise pg_background.max_queue_size.")));
	return queue_size;
}

/*
 * Refuse a launch (53400, before anything is started) when the session
 * holds pg_background.max_workers jobs already.  As in upstream
 * pg_background, a job counts from its launch until its results are read
 * (or a read of them failed) or it is detached, whether it still runs or
 * not; a submitted job counts until it is detached.  Unlike upstream, a job
 * this session canceled no longer counts (see pgbg_session_attached).
 */
static void
entry_check_max_workers(void)
{
	int			held = pgbg_session_attached();

	if (held >= entry_max_workers)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many background workers"),
				 errdetail_plural("This session holds %d job whose results are neither read nor detached, and pg_background.max_workers is %d.",
								  "This session holds %d jobs whose results are neither read nor detached, and pg_background.max_workers is %d.",
								  held, held, entry_max_workers),
				 errhint("Read the results of earlier jobs or detach them (a finished job counts until then), or raise pg_background.max_workers.")));
}

/*
 * A duration argument in milliseconds: not NULL, not negative (but -1 when
 * minus_one_ok, meaning "no limit").
 */
static int
entry_check_ms(FunctionCallInfo fcinfo, int argno, const char *argname,
			   bool minus_one_ok)
{
	int32		ms;

	entry_check_not_null(fcinfo, argno, argname);
	ms = PG_GETARG_INT32(argno);
	if (ms < 0 && !(minus_one_ok && ms == -1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be negative%s", argname,
						minus_one_ok ? " (except -1, for no limit)" : "")));
	return ms;
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
