/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Main entry point of a pg_background worker process.
 *
 * The worker attaches to the segment its launcher built, redirects its
 * frontend protocol output to the segment's queue before it does anything
 * that can fail (so that even a failure to connect reaches the launcher as
 * an ErrorResponse), connects to the launcher's database as the launcher's
 * authenticated user, restores the launcher's GUC state, role and security
 * context, and runs the SQL string the way the simple-query protocol runs a
 * query string: one implicit transaction for several statements, explicit
 * transaction control allowed, commands that refuse a transaction block
 * allowed when alone, statement_timeout applied to each statement.
 *
 * An error ends the worker: the background worker machinery reports it
 * (through the queue, since output is redirected) and exits, which aborts
 * the transaction.  Output is the protocol stream a client would see:
 * RowDescription, DataRow, CommandComplete, NoticeResponse, ErrorResponse
 * and finally ReadyForQuery; but only the last statement of the string
 * sends its rows, as in upstream pg_background.
 *
 * The same loop runs the attempts of durable jobs (durable_attempt.c): in
 * a worker that a durable job's runner started for one, connected as the
 * job's role, or in a parked worker of that role and database, which the
 * runner hands the attempt to.  Either worker may park after an attempt
 * that succeeded, under the same rules as after a job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/printtup.h"
#include "access/xact.h"
#include "commands/async.h"
#include "commands/discard.h"
#include "libpq/libpq.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "catalog/pg_type.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/memutils.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "pg_background.h"
#include "pgbg_compat.h"
#include "pgbg_layout.h"

static bool worker_xact_started = false;

/*
 * pg_background.test_fault: a point at which every worker fails, for the
 * tests of what each exit path leaves behind (not for production use).
 *	 "after_map"	FATAL once the segment is mapped, before the job's entry
 *					of the directory learns that the worker has it
 * and, outside the workers (pgbg_worker_test_fault):
 *	 "slow_undispatch"	the dispatcher waits 200 ms before it puts back a job
 *					it could not start for want of a worker slot
 *	 "pool_await"	a launch that finds no parked worker waits for any busy
 *					pooled worker of its user, however long its job has
 *					run (up to a minute), instead of a few milliseconds
 *	 "attempt_recording"	a durable job's worker waits, before it commits
 *					the failure of its attempt, until the setting changes
 *					(durable_attempt.c)
 */
static char *worker_test_fault = NULL;

/* Connected as another user than a launcher's: never park (see pool.c). */
static bool worker_may_park = true;

/* Connected to the database (a pooled worker, or a durable job's). */
static bool worker_connected = false;

/* This worker's status in shared memory, and our private copy of it. */
static pgbg_status *worker_status = NULL;

/*
 * For worker_session_clean: the number of GUC variables once connected,
 * before any job's settings; the shared objects loaded when the job's SQL
 * began to run.
 */
static bool worker_fresh_noted = false;
static uint64 worker_jobs_run = 0;	/* jobs this process finished */
static int	worker_fresh_gucs;
static bool worker_objects_noted = false;
static pgbg_objects worker_job_objects;

/* Canceled while it waited for us (queued, or starting). */
static bool worker_canceled = false;
static pgbg_outcome worker_outcome;

/* pg_background.worker_timeout: time limit of each job, in ms (0: none). */
int			pgbg_worker_timeout = 0;

/* Its timeout (registered on first use), and the job's limit. */
static TimeoutId worker_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t worker_timeout_reached = false;
static int	worker_timeout_ms = 0;

static void worker_serve(pgbg_pool_task *task);
static bool worker_run_job(dsm_handle seg_handle);
static bool worker_run_attempt(pgbg_durable_claimed *job);
static void worker_execute_durable(const char *sql, const char *paramspace,
								   pgbg_commit_hook hook, void *arg,
								   char *command_tag, Size taglen);
static void worker_reset_session(void);
static bool worker_attach(dsm_segment *seg, bool built, shm_toc **toc_out);
static void worker_wait_for_go(void);
static void worker_adopt_identity(pgbg_fixed *fixed, const char *settings);
static void worker_execute(const char *sql, const char *paramspace,
						   CommandDest dest);
static void worker_publish(bool wake_launcher);
static void worker_record_error(ErrorData *edata);
static void worker_error_callback(void *arg);
static void worker_note_fresh_session(void);
static void worker_note_job_objects(void);
static bool worker_session_clean(void);
static bool worker_settings_clean(void);
static bool worker_holds_replication_slot(void);
static void worker_reseed_random(void);
static void worker_exit_callback(int code, Datum arg);
static void worker_reject_client_copy(List *parsetree_list);
static void worker_start_xact(void);
static int16 *worker_result_formats(TupleDesc tupdesc, int *nformats);
static bool worker_binary_ok(Oid typid, int depth);
static bool worker_binary_ok_composite(Oid relid, int depth);
static void worker_finish_xact(void);
static void worker_limit_job(bool start);
static void worker_timeout_handler(void);
static void worker_timeout_rethrow(ErrorData *edata);
static void worker_call_commit_hook(QueryCompletion *qc);

/*
 * A durable job's hook (worker_execute_durable), called once in the last
 * transaction of its SQL, before that commits.
 */
static pgbg_commit_hook worker_commit_hook = NULL;
static void *worker_commit_hook_arg = NULL;

/*
 * Define the worker's settings (from _PG_init).
 */
void
pgbg_worker_define_gucs(void)
{
	DefineCustomIntVariable("pg_background.worker_timeout",
							"Time limit of each job, from the start of its SQL (0: no limit).",
							"A job that reaches it fails with SQLSTATE 57014.",
							&pgbg_worker_timeout, 0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_background.test_fault",
							   "Makes every pg_background worker fail at the named point (for tests).",
							   NULL, &worker_test_fault, "",
							   PGC_SIGHUP, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
}

/*
 * Is pg_background.test_fault set to this fault point (see above)?
 */
bool
pgbg_worker_test_fault(const char *name)
{
	return worker_test_fault != NULL && strcmp(worker_test_fault, name) == 0;
}

/*
 * Worker entry point; main_arg is the handle of the job's DSM segment
 * (DSM_HANDLE_INVALID for a queued job: the worker builds the segment).
 * With the warm pool, the worker may then park and run further jobs of the
 * same database and user (see pool.c).
 */
void
pg_background_worker_main(Datum main_arg)
{
	pgbg_pool_task task;

	/*
	 * Terminate gracefully, at the next interrupt check, like a backend.  A
	 * reload is noted, and applied while parked in the pool (a job runs with
	 * its launcher's settings).
	 */
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pg_background");

	/* However we exit, observers learn how the job ended. */
	before_shmem_exit(worker_exit_callback, (Datum) 0);

	/* Our entry in the shared directory, closed however we exit. */
	memset(&task, 0, sizeof(task));
	task.seg = DatumGetUInt32(main_arg);
	memcpy(&task.dir_slot, MyBgworkerEntry->bgw_extra, sizeof(task.dir_slot));
	memcpy(&task.dir_seq, MyBgworkerEntry->bgw_extra + sizeof(task.dir_slot),
		   sizeof(task.dir_seq));
	worker_serve(&task);
}

/*
 * Entry point of the worker that a durable job's runner started for an
 * attempt (durable_run.c): main_arg is the database, and bgw_extra the
 * claimed attempt.  It connects as the job's role (a real session of that
 * role, as a job launched in a SECURITY DEFINER function is: nothing in
 * the job can get back to a superuser), runs the attempt, and may then
 * park like any worker.
 */
void
pg_background_durable_worker_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	pgbg_pool_task task;

	memset(&task, 0, sizeof(task));
	task.durable = true;
	memcpy(&task.attempt, MyBgworkerEntry->bgw_extra, sizeof(task.attempt));
	task.dir_slot = task.attempt.dir_slot;
	task.dir_seq = task.attempt.dir_seq;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pg_background durable job");
	whereToSendOutput = DestNone;
	before_shmem_exit(worker_exit_callback, (Datum) 0);

	/* Its entry of the job directory and its slot end however it ends. */
	pgbg_job_worker_begin(task.dir_slot, task.dir_seq);
	pgbg_attempt_begin(&task.attempt);

	/* A session of the job's role. */
	BackgroundWorkerInitializeConnectionByOid(database, task.attempt.owner,
											  PGBG_BGW_BYPASS_ROLELOGIN);
	worker_connected = true;
	worker_note_fresh_session();
	worker_serve(&task);
}

/*
 * Run task, then, while the pool takes this worker, the tasks handed to it
 * in the pool: jobs of the directory and attempts of durable jobs.
 */
static void
worker_serve(pgbg_pool_task *task)
{
	for (;;)
	{
		bool		ok;

		pgbg_job_worker_begin(task->dir_slot, task->dir_seq);
		if (task->durable)
		{
			pgbg_attempt_begin(&task->attempt);
			ok = worker_run_attempt(&task->attempt);
		}
		else
			ok = worker_run_job(task->seg);
		if (!ok)
			break;

		/*
		 * Stay for another job if the pool has room.  Otherwise exit: the
		 * job's entry is closed once this process has left (and with it
		 * pg_stat_activity), so the limits hold as that view shows them.  A
		 * worker whose SQL launched jobs itself exits too: its session holds
		 * those jobs (their segments, their results, its statistics), which
		 * the next job must not see.
		 */
		if (!worker_may_park || pgbg_session_used() ||
			!worker_session_clean() || !pgbg_job_pool_reserve())
			break;
		pgbg_job_worker_done();

		/*
		 * A cancel of the job that is over is pending by now, if any was sent
		 * (the directory signals only while the entry is open, a durable
		 * job's cancel only while the worker holds its slot): it must not
		 * interrupt the reset or the next job.  A termination sent for that
		 * job ends the process here, before it can take another one.
		 */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		worker_reset_session();
		if (!worker_settings_clean() || !pgbg_pool_park(task))
			break;
	}
}

/*
 * Run the job of one segment to its end.  Returns true if it succeeded
 * (an error is re-thrown, and ends the process).  Returns false if the
 * segment is gone.  A queued job comes without a segment (seg_handle
 * DSM_HANDLE_INVALID): build it from the job's description.
 */
static bool
worker_run_job(dsm_handle seg_handle)
{
	dsm_segment *seg;
	bool		built = (seg_handle == DSM_HANDLE_INVALID);
	shm_toc    *toc;
	pgbg_fixed *fixed;
	char	   *sql;
	char	   *settings;
	char	   *paramspace;
	CommandDest dest;
	ErrorContextCallback errcallback;

	if (built)
	{
		const pgbg_spec *spec = pgbg_job_spec();
		pgbg_fixed *unused_fixed;
		shm_mq	   *unused_mq;

		if (spec == NULL)
		{
			/* The job ended before we got to it (canceled, abandoned). */
			ereport(DEBUG1,
					(errmsg_internal("pg_background worker found its queued job over")));
			return false;
		}
		seg = pgbg_segment_create(spec, &unused_fixed, &unused_mq);
	}
	else
		seg = dsm_attach(seg_handle);
	if (seg == NULL)
	{
		/* Our launcher is gone (it never returned a PID to anyone). */
		ereport(LOG,
				(errmsg("pg_background worker could not map its shared memory segment"),
				 errdetail("The launching session exited before the worker started.")));
		return false;
	}

	/* A FATAL error from here on is the job's (worker_error_callback). */
	errcallback.callback = worker_error_callback;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (!worker_attach(seg, built, &toc))
	{
		/* The job is over already (its launch was abandoned): run nothing. */
		error_context_stack = errcallback.previous;
		worker_status = NULL;
		dsm_detach(seg);
		return false;
	}

	fixed = shm_toc_lookup(toc, PGBG_KEY_FIXED, false);
	sql = shm_toc_lookup(toc, PGBG_KEY_SQL, false);
	settings = shm_toc_lookup(toc, PGBG_KEY_SETTINGS, false);
	paramspace = shm_toc_lookup(toc, PGBG_KEY_PARAMS, false);
	dest = fixed->submitted ? DestNone : DestRemote;

	PG_TRY();
	{
		if (worker_canceled)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("canceling job before it started")));
		worker_adopt_identity(fixed, settings);

		/*
		 * Only the launcher of a job that started on a new worker it
		 * registered waits for this (launch_wait_for_connect): a wake-up
		 * costs more than the rest of a short job's hand-off.
		 */
		worker_outcome.state = PGBG_STATE_RUNNING;
		worker_outcome.started_at = GetCurrentTimestamp();
		worker_publish(worker_jobs_run == 0 && !built);
		worker_wait_for_go();

		worker_note_job_objects();
		worker_limit_job(true);
		worker_execute(sql, paramspace, dest);
		worker_limit_job(false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* Record the error for observers, then let bgworker.c report it. */
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		worker_timeout_rethrow(edata);
		worker_record_error(edata);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/*
	 * A launcher reading our queue is woken by the ReadyForQuery that
	 * follows; only one waiting for a job without output needs a wake-up.
	 */
	worker_outcome.state = PGBG_STATE_DONE;
	worker_outcome.finished_at = GetCurrentTimestamp();
	worker_publish(dest == DestNone);

	/* Tell the launcher we are done, and leave the segment and its queue. */
	ReadyForQuery(dest);
	worker_jobs_run++;
	pgstat_report_activity(STATE_IDLE, NULL);
	worker_status = NULL;
	dsm_detach(seg);
	error_context_stack = errcallback.previous;
	return true;
}

/*
 * Run an attempt of a durable job (pgbg_attempt_begin named it), in this
 * worker connected to its database as its role: see durable_attempt.c.
 * Returns true if the attempt succeeded (the worker may then take another
 * job), false if it failed or was not to be run.  A worker from the pool
 * comes with its session reset and proven as a fresh one's (it parked):
 * the attempt cannot tell it from a worker started for it.
 */
static bool
worker_run_attempt(pgbg_durable_claimed *job)
{
	char	   *sql;
	char	   *paramspace;
	char		tag[PGBG_TAG_LEN];

	Assert(worker_connected && MyDatabaseId != InvalidOid &&
		   GetAuthenticatedUserId() == job->owner);
	whereToSendOutput = DestNone;
	pgstat_report_appname(PGBG_WORKER_TYPE);
	if (!pgbg_attempt_load(&sql, &paramspace))
		return false;

	worker_note_job_objects();
	PG_TRY();
	{
		pgbg_attempt_arm();
		worker_execute_durable(sql, paramspace, pgbg_attempt_commit, NULL,
							   tag, sizeof(tag));
		pgbg_attempt_disarm();
	}
	PG_CATCH();
	{
		pgbg_attempt_failed();
		return false;
	}
	PG_END_TRY();
	pgbg_attempt_succeeded(tag);
	worker_jobs_run++;
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

/*
 * Wait until the launch that started this job has returned (it tells us to
 * go as the last thing it does), or raise an error if it failed instead:
 * a launch that reports an error must have run nothing.
 */
static void
worker_wait_for_go(void)
{
	for (;;)
	{
		bool		go;
		bool		abandoned;

		SpinLockAcquire(&worker_status->mutex);
		go = worker_status->go;
		abandoned = worker_status->abandoned;
		SpinLockRelease(&worker_status->mutex);
		if (abandoned)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg(PGBG_MSG_ABANDONED)));
		if (go)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Between two jobs of a pooled worker: forget everything the last job left
 * in the session, as DISCARD ALL does (temporary tables, prepared
 * statements, advisory locks, LISTEN, settings, SET ROLE and SET SESSION
 * AUTHORIZATION, cached plans and sequence values), and its security
 * context; give random() a fresh seed; and report the job's statistics.
 * (What this cannot reset keeps the worker from parking at all: see
 * worker_session_clean.)
 */
static void
worker_reset_session(void)
{
	DiscardStmt stmt;

	SetUserIdAndSecContext(GetSessionUserId(), 0);
	memset(&stmt, 0, sizeof(stmt));
	stmt.type = T_DiscardStmt;
	stmt.target = DISCARD_ALL;
	StartTransactionCommand();
	/* Dropping temporary tables deletes catalog rows: it needs a snapshot. */
	PushActiveSnapshot(GetTransactionSnapshot());
	DiscardCommand(&stmt, true);
	PopActiveSnapshot();
	CommitTransactionCommand();
	worker_canceled = false;
	worker_reseed_random();

	/*
	 * A backend reports its statistics when it goes idle, a fresh worker when
	 * it exits: a parked one would keep the counts of all its jobs (rows
	 * inserted, scans, transactions) to itself until it leaves.  Report them
	 * now, waiting for the locks if need be, as an exiting process does.
	 */
	pgstat_report_stat(true);

	/* Free memory is trimmed once the worker has been parked a while. */
}

/*
 * Note how many GUC variables the session has right after connecting,
 * before the first job's settings are applied (see worker_session_clean).
 */
static void
worker_note_fresh_session(void)
{
	worker_fresh_gucs = pgbg_guc_count();
	pgbg_settings_note_fresh();
	worker_fresh_noted = true;
}

/*
 * Note the shared objects loaded when the job's SQL starts (see
 * worker_session_clean).  Restoring the launcher's settings may have
 * loaded some already: a client_encoding other than the database's loads
 * core's conversion functions (stateless, and a fresh worker of that
 * launcher loads them too); those are not the job's.
 */
static void
worker_note_job_objects(void)
{
	worker_objects_noted = pgbg_loaded_objects(&worker_job_objects);
}

/*
 * May the worker park after its job?  A pooled worker must be
 * indistinguishable from a fresh one to the job it runs next.
 * worker_reset_session undoes most of what a job can leave in its session;
 * a worker whose job left something it cannot undo exits instead:
 *
 * - A library loaded by the job's SQL (LOAD, or the first call of a
 *	 function of a library: dblink, a procedural language, PL/pgSQL too).
 *	 A library may keep state of its own that no reset reaches, such as
 *	 dblink's open connections, made as the job's user and usable by the
 *	 next job whatever its role, or a language's global variables.  We
 *	 cannot ask a library what it keeps, so any new shared object counts.
 *	 Libraries loaded before the worker started (shared_preload_libraries)
 *	 do not.
 * - A GUC variable created during the job: a placeholder (SET x.y, or one
 *	 that the launcher's settings brought) survives RESET ALL with an empty
 *	 value where a fresh worker has none (current_setting('x.y', true) is
 *	 NULL there), and core has no way to remove one.
 * - Temporary tables used: the local buffer pool is then sized for good, so
 *	 temp_buffers can no longer change (a job's SET would fail, and so
 *	 would restoring a launcher's value).
 * - A replication origin set up for the session, or a replication slot
 *	 held (a temporary slot lives as long as the session that made it).
 *
 * Where the platform gives no list of loaded objects, the worker cannot
 * tell, and never parks.
 */
static bool
worker_session_clean(void)
{
	pgbg_objects objects;
	const char *why = NULL;

	if (!worker_fresh_noted || !worker_objects_noted ||
		!pgbg_loaded_objects(&objects))
		why = "its loaded libraries cannot be checked";
	else if (objects.count != worker_job_objects.count ||
			 objects.addr_sum != worker_job_objects.addr_sum)
		why = "a library was loaded";
	else if (pgbg_guc_count() != worker_fresh_gucs)
		why = "a configuration parameter was created";
	else if (NLocBuffer != 0)
		why = "temporary tables were used";
	else if (replorigin_session_origin != InvalidRepOriginId)
		why = "a replication origin is set up for the session";
	else if (worker_holds_replication_slot())
		why = "it holds a replication slot";

	if (why == NULL)
		return true;
	ereport(DEBUG1,
			(errmsg_internal("pg_background worker exits instead of parking: %s",
							 why)));
	return false;
}

/*
 * After the reset between two jobs (worker_reset_session): is every
 * setting as it was when this worker connected (settings.c)?  The next
 * job gets only its launcher's own settings, as a fresh worker would; a
 * setting that DISCARD ALL did not bring back (a RESET-proof one, or a
 * default the job changed) would leak into it, so the worker exits
 * instead of parking.
 */
static bool
worker_settings_clean(void)
{
	const char *changed = pgbg_settings_changed();

	if (changed == NULL)
		return true;
	ereport(DEBUG1,
			(errmsg_internal("pg_background worker exits instead of parking: configuration parameter \"%s\" is not as in a new session",
							 changed)));
	return false;
}

/*
 * Does this process hold a replication slot (acquired, or a temporary one
 * it created)?
 */
static bool
worker_holds_replication_slot(void)
{
	bool		held = false;
	int			i;

	if (MyReplicationSlot != NULL)
		return true;
	if (max_replication_slots <= 0 || ReplicationSlotCtl == NULL)
		return false;
	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (i = 0; i < max_replication_slots && !held; i++)
	{
		ReplicationSlot *slot = &ReplicationSlotCtl->replication_slots[i];

		if (!slot->in_use)
			continue;
		SpinLockAcquire(&slot->mutex);
		held = (slot->active_pid == MyProcPid);
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);
	return held;
}

/*
 * Give random() a new, unpredictable seed, so that a job's setseed() (or
 * SET seed) does not decide the numbers the next job draws.  A fresh
 * process seeds it from pg_strong_random on first use; setseed() takes a
 * value in [-1, 1], into which 53 strong random bits go.  If no strong
 * random source answers, fall back on the time and PID, as core does.
 */
static void
worker_reseed_random(void)
{
	uint64		bits;
	float8		seed;

	if (!pgbg_random_bytes(&bits, sizeof(bits)))
		bits = (uint64) GetCurrentTimestamp() ^ ((uint64) MyProcPid << 32);
	seed = (float8) (bits >> 11) / (float8) (UINT64CONST(1) << 53) * 2.0 - 1.0;
	(void) DirectFunctionCall1(setseed, Float8GetDatum(seed));
}

/*
 * Attach to the queue as its sender and route protocol output into it (a
 * submitted job, or one whose launcher will not read it, leaves the queue
 * at once and sends nothing).  Records our PID first: the launcher reads it
 * once it sees us attached.  built: we built the segment (a queued job),
 * which the directory then holds for the launcher.
 */
static bool
worker_attach(dsm_segment *seg, bool built, shm_toc **toc_out)
{
	shm_toc    *toc;
	pgbg_fixed *fixed;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	pgbg_attach_result attach;
	bool		unread = false;

	if (worker_test_fault != NULL && strcmp(worker_test_fault, "after_map") == 0)
		ereport(FATAL,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("pg_background.test_fault: worker stops after mapping its segment")));
	toc = shm_toc_attach(PGBG_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bad magic number in pg_background shared memory segment")));

	fixed = shm_toc_lookup(toc, PGBG_KEY_FIXED, false);
	worker_status = &fixed->status;
	SpinLockAcquire(&worker_status->mutex);
	worker_status->worker_pid = MyProcPid;
	worker_status->worker = MyProc;
	worker_outcome = worker_status->outcome;
	SpinLockRelease(&worker_status->mutex);

	/* The sender is in place before a launcher can map a built segment. */
	mq = shm_toc_lookup(toc, PGBG_KEY_QUEUE, false);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	attach = pgbg_job_attached(worker_status->launcher, built ? seg : NULL,
							   &unread);
	if (attach == PGBG_ATTACH_GONE)
	{
		shm_mq_detach(mqh);
		return false;
	}
	worker_canceled = (attach == PGBG_ATTACH_CANCELED);

	/* Nobody will read our output: behave as for a submitted job. */
	if (unread)
		fixed->submitted = true;
	if (fixed->submitted)
	{
		shm_mq_detach(mqh);
		whereToSendOutput = DestNone;
	}
	else
	{
		pq_redirect_to_shm_mq(seg, mqh);
		pgbg_send_batch_rows(seg, mqh, fixed->queue_size);
	}

	*toc_out = toc;
	return true;
}

/*
 * Copy our outcome to shared memory; optionally wake the launcher, which
 * may be waiting for this job.
 */
static void
worker_publish(bool wake_launcher)
{
	PGPROC	   *launcher;

	if (worker_status == NULL)
		return;
	SpinLockAcquire(&worker_status->mutex);
	worker_status->outcome = worker_outcome;
	launcher = worker_status->launcher;
	SpinLockRelease(&worker_status->mutex);
	pgbg_job_publish(&worker_outcome);
	if (wake_launcher && launcher != NULL)
		SetLatch(&launcher->procLatch);
}

/*
 * Record the first error that ends the job.
 */
static void
worker_record_error(ErrorData *edata)
{
	if (worker_outcome.state >= PGBG_STATE_DONE)
		return;
	worker_outcome.state = PGBG_STATE_ERROR;
	worker_outcome.finished_at = GetCurrentTimestamp();
	strlcpy(worker_outcome.sqlstate, unpack_sql_state(edata->sqlerrcode),
			sizeof(worker_outcome.sqlstate));
	pgbg_outcome_copy_clipped(worker_outcome.message, edata->message,
						sizeof(worker_outcome.message));
	pgbg_outcome_copy_clipped(worker_outcome.detail, edata->detail,
						sizeof(worker_outcome.detail));
	pgbg_outcome_copy_clipped(worker_outcome.hint, edata->hint,
						sizeof(worker_outcome.hint));
	pgbg_outcome_copy_clipped(worker_outcome.context, edata->context,
						sizeof(worker_outcome.context));
	worker_publish(true);
}

/*
 * A FATAL error (termination, a failed connection, a timeout) ends the
 * process without passing through worker_run_job's PG_CATCH.  This error
 * context callback, at the bottom of the stack while a job runs, sees every
 * report that is made at all (and a FATAL always is), before it is emitted,
 * whatever the logging settings: emit_log_hook would not do, as core calls
 * it only for messages that go to the server log (with log_min_messages =
 * panic, never for a FATAL).  It adds no context line.
 */
static void
worker_error_callback(void *arg)
{
	int			category = ERRCODE_TO_CATEGORY(geterrcode());
	MemoryContext oldcontext;
	ErrorData  *edata;

	/*
	 * Notices, warnings and log lines cost no copy: a FATAL always has an
	 * error's class (errstart gives it XX000 unless told otherwise).
	 */
	if (category == ERRCODE_SUCCESSFUL_COMPLETION ||
		category == ERRCODE_WARNING ||
		worker_outcome.state >= PGBG_STATE_DONE)
		return;

	/* Only a copy tells the level; we are in ErrorContext, not to be used. */
	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	MemoryContextSwitchTo(oldcontext);
	if (edata->elevel >= FATAL)
		worker_record_error(edata);
	FreeErrorData(edata);
}

/*
 * Last resort: a worker that exits without having finished (or recorded an
 * error) says so.
 */
static void
worker_exit_callback(int code, Datum arg)
{
	if (worker_outcome.state < PGBG_STATE_DONE)
	{
		worker_outcome.state = PGBG_STATE_ERROR;
		worker_outcome.finished_at = GetCurrentTimestamp();
		strlcpy(worker_outcome.sqlstate, "08006", sizeof(worker_outcome.sqlstate));
		strlcpy(worker_outcome.message,
				"background worker exited before finishing its job",
				sizeof(worker_outcome.message));
		worker_publish(true);
	}
	worker_status = NULL;
}

/*
 * pg_background_progress, inside a worker: publish a percentage and an
 * optional message for the launcher to read.
 */
void
pgbg_worker_report_progress(int32 pct, const char *msg)
{
	if (worker_status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_background_progress can only be called by SQL running in a pg_background worker")));
	worker_outcome.progress_pct = pct;
	pgbg_outcome_copy_clipped(worker_outcome.progress_msg, msg,
						sizeof(worker_outcome.progress_msg));
	worker_publish(false);
}

/*
 * Become the launcher: same database, authenticated user, GUC state, role
 * and current user.  A job launched inside a SECURITY DEFINER function is a
 * session of the function's owner instead (as_current_user, see
 * pgbg_launch): the worker connects as the owner (a role without LOGIN
 * too), with no security context flags.
 *
 * GUC values are restored with the context and role that set them in the
 * launcher, so nothing the launcher could not set itself can be set here.
 * A worker that just connected has all but the settings the launcher's
 * session made itself, which is all it is given (settings.c); so has a
 * pooled one, which parks only once every setting is back to what it was
 * when it connected (worker_session_clean).
 */
static void
worker_adopt_identity(pgbg_fixed *fixed, const char *settings)
{
	/* A pooled worker is connected already, as the same user (pool.c). */
	if (!worker_connected)
	{
		BackgroundWorkerInitializeConnectionByOid(fixed->database_id,
												  fixed->authenticated_user_id,
												  fixed->as_current_user ?
												  PGBG_BGW_BYPASS_ROLELOGIN : 0);
		worker_connected = true;
		worker_may_park = !fixed->as_current_user;
		worker_note_fresh_session();
	}
	else if (fixed->as_current_user)
		elog(ERROR, "pooled pg_background worker got a job to run as another user");
	else if (fixed->database_id != MyDatabaseId ||
			 fixed->authenticated_user_id != GetAuthenticatedUserId())
		elog(ERROR, "pooled pg_background worker got a job of another database or user");

	/* Check hooks may read the catalogs; none to run, no transaction. */
	if (!pgbg_settings_none(settings))
	{
		StartTransactionCommand();
		pgbg_settings_restore(settings);
		CommitTransactionCommand();
	}

	/*
	 * Rows go to the launcher, not to a client: always send them in the
	 * database encoding, whatever client_encoding the launcher had.
	 */
	SetClientEncoding(GetDatabaseEncoding());

	/* Make the worker easy to find (the manual's monitoring queries). */
	SetConfigOption("application_name", PGBG_WORKER_TYPE,
					PGC_USERSET, PGC_S_SESSION);

	/* SET ROLE of the launcher, then its current user (security definer). */
	if (fixed->outer_user_id != GetSessionUserId())
		SetCurrentRoleId(fixed->outer_user_id, fixed->outer_is_superuser);
	SetUserIdAndSecContext(fixed->current_user_id, fixed->sec_context);
}

/*
 * Run a query string with the semantics of the simple-query protocol
 * (modelled on exec_simple_query in postgres.c).
 */
static void
worker_execute(const char *sql, const char *paramspace, CommandDest dest)
{
	MemoryContext job_context;
	MemoryContext oldcontext;
	List	   *parsetree_list;
	ListCell   *lc;
	bool		use_implicit_block;
	ParamListInfo params;
	Oid		   *param_types;
	int			nparams;

	job_context = AllocSetContextCreate(TopMemoryContext,
										"pg_background job",
										ALLOCSET_DEFAULT_SIZES);

	debug_query_string = sql;
	pgstat_report_activity(STATE_RUNNING, sql);

	SetCurrentStatementStartTimestamp();
	worker_start_xact();

	oldcontext = MemoryContextSwitchTo(job_context);
	parsetree_list = pg_parse_query(sql);
	params = pgbg_params_restore(paramspace, &param_types, &nparams);
	MemoryContextSwitchTo(oldcontext);

	/* Refuse the whole string before anything in it has run. */
	worker_reject_client_copy(parsetree_list);

	use_implicit_block = (list_length(parsetree_list) > 1);

	foreach(lc, parsetree_list)
	{
		RawStmt    *parsetree = lfirst_node(RawStmt, lc);
		bool		snapshot_set = false;
		CommandTag	commandTag;
		QueryCompletion qc;
		List	   *querytree_list;
		List	   *plantree_list;
		Portal		portal;
		DestReceiver *receiver;
		int16	   *formats;
		int			nformats;

		commandTag = CreateCommandTag(parsetree->stmt);
		set_ps_display(GetCommandTagName(commandTag));
		BeginCommand(commandTag, dest);

		worker_start_xact();
		if (use_implicit_block)
			BeginImplicitTransactionBlock();

		CHECK_FOR_INTERRUPTS();

		if (analyze_requires_snapshot(parsetree))
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			snapshot_set = true;
		}

		oldcontext = MemoryContextSwitchTo(job_context);
		querytree_list = pgbg_analyze_and_rewrite(parsetree, sql,
												  param_types, nparams);
		plantree_list = pg_plan_queries(querytree_list, sql,
										CURSOR_OPT_PARALLEL_OK, NULL);
		if (snapshot_set)
			PopActiveSnapshot();

		CHECK_FOR_INTERRUPTS();

		portal = CreatePortal("", true, true);
		portal->visible = false;
		PortalDefineQuery(portal, NULL, sql, commandTag, plantree_list, NULL);
		PortalStart(portal, params, 0, InvalidSnapshot);
		formats = worker_result_formats(portal->tupDesc, &nformats);
		PortalSetResultFormat(portal, nformats, formats);

		/*
		 * Only the last statement's rows are sent, as upstream pg_background
		 * always did: the rows of earlier statements are discarded (their
		 * command tags are still sent).
		 */
		if (dest == DestRemote && lnext(parsetree_list, lc) == NULL)
			receiver = pgbg_send_receiver(portal);
		else
			receiver = CreateDestReceiver(DestNone);
		MemoryContextSwitchTo(oldcontext);

		(void) pgbg_PortalRun(portal, FETCH_ALL, true, receiver, receiver, &qc);

		receiver->rDestroy(receiver);
		PortalDrop(portal, false);

		if (lnext(parsetree_list, lc) == NULL)
		{
			if (use_implicit_block)
				EndImplicitTransactionBlock();
			worker_call_commit_hook(&qc);
			worker_finish_xact();

			/*
			 * The SQL is done (committed): the time limit ends here, before
			 * the last CommandComplete, which waits in a full queue until the
			 * launcher reads.
			 */
			worker_limit_job(false);
		}
		else if (IsA(parsetree->stmt, TransactionStmt))
			worker_finish_xact();
		else
		{
			CommandCounterIncrement();
			disable_timeout(STATEMENT_TIMEOUT, false);
		}

		EndCommand(&qc, dest, false);

		/* What the list and the outcome show: the last statement's. */
		pgbg_completion_tag(worker_outcome.command_tag,
							sizeof(worker_outcome.command_tag), &qc);
		worker_outcome.row_count = qc.nprocessed;
		worker_publish(false);

		/* SET client_encoding must not change what the launcher decodes. */
		if (pg_get_client_encoding() != GetDatabaseEncoding())
			SetClientEncoding(GetDatabaseEncoding());
	}

	/* An empty string still needs its transaction closed. */
	if (parsetree_list == NIL)
		worker_call_commit_hook(NULL);
	worker_finish_xact();

	/*
	 * A BEGIN without COMMIT would be rolled back silently when we exit; say
	 * so instead, as an error the launcher sees.
	 */
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("background worker SQL left a transaction block open"),
				 errdetail("The open transaction was rolled back."),
				 errhint("End the SQL string with COMMIT or ROLLBACK.")));

	debug_query_string = NULL;
	MemoryContextDelete(job_context);
}

/*
 * Call the commit hook, if any, once: in the SQL's last transaction, which
 * is about to commit, unless the SQL's own transaction control ended it
 * (a last COMMIT or ROLLBACK: the hook is then not called, and the caller
 * of worker_execute_durable finishes after the commit).  qc is the last
 * statement's completion (NULL for an empty string).
 */
static void
worker_call_commit_hook(QueryCompletion *qc)
{
	pgbg_commit_hook hook = worker_commit_hook;
	char		tag[PGBG_TAG_LEN] = "";

	worker_commit_hook = NULL;
	if (hook == NULL || !worker_xact_started || IsTransactionBlock() ||
		IsAbortedTransactionBlockState())
		return;
	if (qc != NULL)
		pgbg_completion_tag(tag, sizeof(tag), qc);
	hook(worker_commit_hook_arg, tag);
}

/*
 * Run the SQL of a durable job's attempt as a job's SQL runs, its output
 * discarded: hook is called in its last transaction before that commits
 * (see worker_call_commit_hook).  The last statement's command tag goes to
 * command_tag.  An error is raised as it comes.  No
 * pg_background.worker_timeout applies (the job has its own timeout).
 */
static void
worker_execute_durable(const char *sql, const char *paramspace,
					   pgbg_commit_hook hook, void *arg,
					   char *command_tag, Size taglen)
{
	worker_timeout_ms = 0;
	memset(&worker_outcome, 0, sizeof(worker_outcome));
	worker_outcome.state = PGBG_STATE_RUNNING;
	worker_commit_hook = hook;
	worker_commit_hook_arg = arg;
	worker_execute(sql, paramspace, DestNone);
	worker_commit_hook = NULL;
	strlcpy(command_tag, worker_outcome.command_tag, taglen);
}

/*
 * Choose the format of each result column: binary where the type and every
 * type it is made of have send and receive functions (base types, enums,
 * and arrays, composites, ranges and multiranges of those), text otherwise.
 * Binary values are exact (floats) and independent of DateStyle,
 * IntervalStyle and friends, which the SQL may have changed in the worker,
 * and they are cheaper to convert than text.  (The launcher decodes them in
 * the database encoding; see decode.c.)
 */
static int16 *
worker_result_formats(TupleDesc tupdesc, int *nformats)
{
	int16	   *formats;
	int			i;

	if (tupdesc == NULL || tupdesc->natts == 0)
	{
		formats = palloc0(sizeof(int16));
		*nformats = 1;
		return formats;
	}
	formats = palloc(sizeof(int16) * tupdesc->natts);
	for (i = 0; i < tupdesc->natts; i++)
		formats[i] = worker_binary_ok(TupleDescAttr(tupdesc, i)->atttypid, 0) ? 1 : 0;
	*nformats = tupdesc->natts;
	return formats;
}

/*
 * Can values of this type travel in binary (see worker_result_formats)?
 * depth bounds the recursion through nested types.
 */
static bool
worker_binary_ok(Oid typid, int depth)
{
	HeapTuple	tup;
	Form_pg_type typ;
	bool		ok;

	if (depth > 8)
		return false;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(getBaseType(typid)));
	if (!HeapTupleIsValid(tup))
		return false;
	typ = (Form_pg_type) GETSTRUCT(tup);
	ok = OidIsValid(typ->typsend) && OidIsValid(typ->typreceive);
	if (ok)
	{
		switch (typ->typtype)
		{
			case TYPTYPE_BASE:
				/* A varlena array: its elements must qualify too. */
				if (typ->typlen == -1 && OidIsValid(typ->typelem))
					ok = worker_binary_ok(typ->typelem, depth + 1);
				break;
			case TYPTYPE_ENUM:
				break;
			case TYPTYPE_COMPOSITE:
				ok = worker_binary_ok_composite(typ->typrelid, depth + 1);
				break;
			case TYPTYPE_RANGE:
				ok = worker_binary_ok(get_range_subtype(typ->oid), depth + 1);
				break;
			case TYPTYPE_MULTIRANGE:
				ok = worker_binary_ok(get_multirange_range(typ->oid), depth + 1);
				break;
			default:
				ok = false;		/* pseudo-types, anonymous records */
				break;
		}
	}
	ReleaseSysCache(tup);
	return ok;
}

/*
 * Do all live columns of the composite type with relation relid qualify?
 */
static bool
worker_binary_ok_composite(Oid relid, int depth)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(get_rel_type_id(relid), -1);
	bool		ok = true;
	int			i;

	for (i = 0; ok && i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!attr->attisdropped)
			ok = worker_binary_ok(attr->atttypid, depth);
	}
	ReleaseTupleDesc(desc);
	return ok;
}

/*
 * COPY to or from the client has no client to talk to here.
 */
static void
worker_reject_client_copy(List *parsetree_list)
{
	ListCell   *lc;

	foreach(lc, parsetree_list)
	{
		RawStmt    *parsetree = lfirst_node(RawStmt, lc);

		if (IsA(parsetree->stmt, CopyStmt) &&
			((CopyStmt *) parsetree->stmt)->filename == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("COPY to or from the client is not supported in pg_background"),
					 errdetail("A background worker has no client connection to copy to or from."),
					 errhint("Use COPY with a server file or PROGRAM, or run a SELECT and read its rows with pg_background_result.")));
	}
}

/*
 * Start a transaction command if none is open, and arm statement_timeout
 * for the statement about to run.
 */
static void
worker_start_xact(void)
{
	if (!worker_xact_started)
	{
		Oid			userid;
		int			sec_context;

		/*
		 * A transaction must start with no security context flags set (xact.c
		 * asserts it, and restores what it finds there on abort): clear the
		 * launcher's flags while starting it, then put them back.  Flags
		 * reach a worker only before PostgreSQL 17, from a SECURITY DEFINER
		 * function whose owner cannot log in (see pgbg_launch); transactions
		 * the job's statements start themselves then still find them, which
		 * only an assertion-enabled build objects to.
		 */
		GetUserIdAndSecContext(&userid, &sec_context);
		SetUserIdAndSecContext(userid, 0);
		StartTransactionCommand();
		SetUserIdAndSecContext(userid, sec_context);
		worker_xact_started = true;
	}

	if (StatementTimeout > 0)
	{
		if (!get_timeout_active(STATEMENT_TIMEOUT))
			enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
	}
	else if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, false);
}

/*
 * Disarm statement_timeout and commit the open transaction command.
 */
static void
worker_finish_xact(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (worker_xact_started)
	{
		CommitTransactionCommand();
		worker_xact_started = false;
	}
}

/*
 * pg_background.worker_timeout: arm the job's time limit before its SQL
 * runs (start), disarm it once the SQL is done: once its last statement
 * has committed (worker_execute), and again once worker_execute returns.
 * The limit in effect is the launcher's setting, restored by then; SET in
 * the job's SQL cannot change it.  A limit reached just after the SQL was
 * done does not fail the job.
 */
static void
worker_limit_job(bool start)
{
	if (start)
	{
		worker_timeout_reached = false;
		worker_timeout_ms = pgbg_worker_timeout;
		if (worker_timeout_ms <= 0)
			return;
		if (worker_timeout_id == MAX_TIMEOUTS)
			worker_timeout_id = RegisterTimeout(USER_TIMEOUT,
												worker_timeout_handler);
		enable_timeout_after(worker_timeout_id, worker_timeout_ms);
	}
	else if (worker_timeout_ms > 0)
	{
		disable_timeout(worker_timeout_id, false);
		if (worker_timeout_reached)
		{
			QueryCancelPending = false;
			worker_timeout_reached = false;
		}
	}
}

/*
 * The job reached its time limit (in the SIGALRM handler): cancel it as a
 * query cancel would, at the next interrupt check.
 */
static void
worker_timeout_handler(void)
{
	worker_timeout_reached = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * The cancel of worker_timeout_handler surfaces as "canceling statement due
 * to user request": record and re-throw it as the worker timeout it is.
 * Returns if edata is another error.
 */
static void
worker_timeout_rethrow(ErrorData *edata)
{
	if (!worker_timeout_reached || edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
		return;

	edata->message = psprintf("canceling job due to worker timeout");
	edata->message_id = edata->message;
	edata->detail = psprintf("The job reached pg_background.worker_timeout (%d ms) before it finished.",
							 worker_timeout_ms);
	edata->detail_log = NULL;
	edata->hint = NULL;
	FlushErrorState();
	worker_record_error(edata);
	ReThrowError(edata);
}
