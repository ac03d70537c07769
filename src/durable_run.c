/*-------------------------------------------------------------------------
 *
 * durable_run.c
 *		The processes that run durable jobs: one runner per database, and
 *		a worker per attempt.
 *
 * The dispatcher (dispatcher.c) calls pgbg_durable_start_runners on every
 * turn of its loop: each database that wants a runner (listed in the file
 * at server start, or woken by the commit of a transaction that enqueued,
 * see durable.c) gets one, a dynamic background worker connected to it as
 * the bootstrap superuser.  The runner claims the due jobs (at most
 * pg_background.durable_workers at once) whose attempt the directory's
 * admission limits let start (each gets an entry of the job directory,
 * lifecycle.c's submit of a durable attempt), hands each to a worker of the
 * job's role parked in the warm pool, or else starts a worker for it
 * (pg_background_durable_worker_main, worker.c), and sleeps on its latch
 * until a commit wakes it, a worker is done with its attempt (the worker
 * gives the attempt's slot up and wakes it; a worker that stops before it
 * could, the postmaster notifies), the next job is due, or a finished job
 * is to be purged.  It leaves once its database has no durable job left at
 * all.  At most pg_background.durable_workers attempts hold a slot at
 * once.
 *
 * The attempt itself (durable_attempt.c) runs in the worker's loop
 * (worker.c), as the job's role: its success is recorded before its SQL's
 * last commit, its error after a rollback.  A worker that dies (a crash, a
 * restart, a termination) leaves the job running with no slot: the runner
 * claims it again as interrupted.  The attempt's entry of the directory
 * goes through the worker's transitions, and ends when the worker is done
 * with it (it parks) or exits, so the attempt counts against the limits
 * until then.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pg_background.h"
#include "pgbg_compat.h"

/* How soon a runner, or a database's runner start, is tried again. */
#define DURABLE_RUNNER_RETRY_MS		1000

/* How soon a runner tries again when no worker slot was free. */
#define DURABLE_WORKER_RETRY_MS		100

/*
 * How soon a runner looks again at a due job whose attempt the admission
 * limits refused, at the latest: the end of any job of the directory wakes
 * it sooner (it waits on the directory's condition variable then), and so
 * does a reload that may have raised a limit.
 */
#define DURABLE_ADMISSION_RETRY_MS	1000

/* A runner the dispatcher started. */
typedef struct durable_runner
{
	Oid			database;
	BackgroundWorkerHandle *handle;
} durable_runner;

/* A worker a runner started. */
typedef struct durable_started
{
	BackgroundWorkerHandle *handle;
	pgbg_durable_claimed job;
} durable_started;

/* The dispatcher's runners. */
static List *durable_runners = NIL;

/* The runner's workers, and its database's wake-up counter when it looked. */
static List *runner_workers = NIL;
static uint64 runner_seen = 0;

/*
 * The attempts admitted in this turn whose worker is not registered yet
 * (their entries of the job directory are withdrawn if the turn fails, or
 * the runner leaves, before it is).
 */
static pgbg_durable_claimed runner_admitted[PGBG_DURABLE_MAX_RUNNING];
static int	runner_nadmitted = 0;

static void durable_fill_worker(BackgroundWorker *worker, const char *function,
								const char *type, Oid database);
static void durable_runner_exit(int code, Datum arg);
static long runner_turn(Oid database, bool *leave);
static void runner_reap(Oid database);
static bool runner_any_stopped(void);
static bool runner_start_worker(pgbg_durable_claimed *job);
static bool runner_admit(pgbg_durable_claimed *job, const char *label,
						 const char *sql);
static void runner_withdraw(pgbg_durable_claimed *job);
static void runner_withdraw_all(void);
static void runner_passed_on(pgbg_durable_claimed *job);

/*
 * Describe a dynamic background worker of ours, connected to database,
 * that notifies this process when it stops.
 */
static void
durable_fill_worker(BackgroundWorker *worker, const char *function,
					const char *type, Oid database)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_ConsistentState;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "pg_background");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
	worker->bgw_main_arg = ObjectIdGetDatum(database);
	worker->bgw_notify_pid = MyProcPid;
}

/*
 * In the dispatcher: start a runner for every database that wants one and
 * has none.  Returns how soon to call again (ms), or -1: when woken.
 */
long
pgbg_durable_start_runners(void)
{
	Oid			dbs[PGBG_DURABLE_MAX_DATABASES];
	int			n;
	int			i;
	long		timeout = -1;
	ListCell   *lc;

	/* Forget the runners that have stopped. */
	foreach(lc, durable_runners)
	{
		durable_runner *r = lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(r->handle, &pid) != BGWH_STOPPED)
			continue;
		pfree(r->handle);
		pfree(r);
		durable_runners = foreach_delete_current(durable_runners, lc);
	}

	/* Nothing runs until the standby is promoted: look again then. */
	if (RecoveryInProgress())
		return pgbg_durable_any_listed(false) ? DURABLE_RUNNER_RETRY_MS : -1;

	n = pgbg_durable_wanted(dbs, PGBG_DURABLE_MAX_DATABASES);
	for (i = 0; i < n; i++)
	{
		BackgroundWorker worker;
		BackgroundWorkerHandle *handle;
		durable_runner *r = NULL;
		bool		exists;
		bool		allowed = false;

		foreach(lc, durable_runners)
		{
			durable_runner *other = lfirst(lc);

			if (other->database == dbs[i])
				r = other;
		}
		if (r != NULL)
		{
			/*
			 * Starting (it looks at the table once it has begun), or
			 * stopping: it gave the database up, and asked for a new runner,
			 * before the postmaster has reaped it.  The wish stays, for our
			 * next turn: the postmaster wakes us when it has stopped.
			 */
			pgbg_durable_want_runner(dbs[i]);
			timeout = DURABLE_RUNNER_RETRY_MS;
			continue;
		}

		/* A database that was dropped, or takes no connection, is forgotten. */
		StartTransactionCommand();
		{
			HeapTuple	tup = SearchSysCache1(DATABASEOID,
											  ObjectIdGetDatum(dbs[i]));

			exists = HeapTupleIsValid(tup);
			if (exists)
			{
				allowed = ((Form_pg_database) GETSTRUCT(tup))->datallowconn;
				ReleaseSysCache(tup);
			}
		}
		CommitTransactionCommand();
		if (!exists || !allowed)
		{
			pgbg_durable_forget_database(dbs[i]);
			continue;
		}

		durable_fill_worker(&worker, "pg_background_durable_runner_main",
							"pg_background durable runner", dbs[i]);
		snprintf(worker.bgw_name, BGW_MAXLEN,
				 "pg_background durable runner for database %u", dbs[i]);
		if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		{
			/* No slot: ask again soon. */
			pgbg_durable_want_runner(dbs[i]);
			timeout = DURABLE_RUNNER_RETRY_MS;
			continue;
		}
		r = palloc(sizeof(durable_runner));
		r->database = dbs[i];
		r->handle = handle;
		durable_runners = lappend(durable_runners, r);
	}

	/* A wish that came meanwhile (see pgbg_durable_any_listed). */
	if (timeout < 0 && pgbg_durable_any_listed(true))
		timeout = 0;
	return timeout;
}

/*
 * Entry point of a runner; main_arg is its database's OID.
 */
void
pg_background_durable_runner_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	MemoryContext loop_context;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);

	if (!pgbg_durable_runner_begin(database, &runner_seen))
		proc_exit(0);
	before_shmem_exit(durable_runner_exit, ObjectIdGetDatum(database));
	pgstat_report_appname("pg_background durable runner");

	loop_context = AllocSetContextCreate(TopMemoryContext,
										 "pg_background durable runner",
										 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		volatile long timeout;
		volatile bool failed = true;
		bool		leave = false;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loop_context);
		MemoryContextSwitchTo(loop_context);
		PG_TRY();
		{
			timeout = runner_turn(database, &leave);
			failed = false;
		}
		PG_CATCH();
		{
			/* Report it, and try again a little later. */
			HOLD_INTERRUPTS();
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			runner_withdraw_all();
			RESUME_INTERRUPTS();
			timeout = DURABLE_RUNNER_RETRY_MS;
			failed = true;
		}
		PG_END_TRY();
		if (leave)
			break;

		/*
		 * A wait inside the turn (a lock, a buffer) may have reset our latch
		 * after a worker's end or a commit set it: look again at once if
		 * either happened since the turn began.
		 */
		if (!failed && runner_any_stopped())
			continue;
		if (!pgbg_durable_runner_sleeps(database, runner_seen,
										timeout < 0 ? DT_NOEND :
										TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																	timeout)) &&
			!failed)
			continue;
		if (timeout >= 0)
			events |= WL_TIMEOUT;
		(void) WaitLatch(MyLatch, events, timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/*
 * A runner leaves: its database no longer names it; after an error it
 * asks for another.
 */
static void
durable_runner_exit(int code, Datum arg)
{
	/* An error that skipped an unlock must not hang us here. */
	LWLockReleaseAll();
	runner_withdraw_all();
	(void) pgbg_durable_runner_end(DatumGetObjectId(arg), runner_seen,
								   code != 0);
}

/*
 * One turn of a runner, in one transaction: purge (when due), claim what
 * is due, and see when to look again; then start the claimed jobs'
 * workers.  Returns how long to sleep (ms, -1: until woken); sets *leave
 * when the database has nothing left and the runner may go.
 */
static long
runner_turn(Oid database, bool *leave)
{
	int64	   *busy;
	int			nbusy;
	int			room;
	pgbg_durable_claimed claimed[PGBG_DURABLE_MAX_RUNNING];
	int			nclaimed = 0;
	long		timeout = -1;
	long		due_ms = -1;
	long		purge_ms = -1;
	int64		left = 0;
	bool		installed;
	bool		retry = false;
	bool		waiting = false;
	int			i;
	static bool first = true;
	static TimestampTz purge_at = 0;	/* 0: at the first turn */

	runner_reap(database);
	runner_seen = pgbg_durable_wakeups(database, true);

	/*
	 * If the limits refuse an attempt, the end of a job elsewhere may make
	 * room: be on the directory's list of waiters before looking, so that
	 * such an end wakes us (pgbg_dir_broadcast); leave it below if nothing
	 * was refused.
	 */
	pgbg_dir_prepare_wait();
	busy = pgbg_durable_slot_jobs(database, &nbusy, first);
	first = false;
	/* Each attempt holds a slot until its worker is done with it. */
	room = Min(pgbg_durable_workers, PGBG_DURABLE_MAX_RUNNING) - nbusy;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = pgbg_durable_installed();
	if (installed)
	{
		if (GetCurrentTimestamp() >= purge_at)
			pgbg_durable_purge();
		if (room > 0)
			nclaimed = pgbg_durable_claim(busy, nbusy, room, runner_admit,
										  &waiting, claimed);
		if (nclaimed > 0)
			busy = pgbg_durable_slot_jobs(database, &nbusy, false);
		pgbg_durable_next(busy, nbusy, &left, &due_ms, &purge_ms);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	if (!installed)
	{
		/* No extension here (any more): forget the database. */
		pgbg_dir_end_wait();
		pgbg_durable_forget_database(database);
		*leave = pgbg_durable_runner_end(database, runner_seen, false);
		return -1;
	}
	purge_at = purge_ms < 0 ? PG_INT64_MAX :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), purge_ms);

	for (i = 0; i < nclaimed; i++)
	{
		/* A worker of the job's role parked in the pool takes it first. */
		if (pgbg_job_hand_attempt_to_pool(&claimed[i]) != 0)
		{
			runner_passed_on(&claimed[i]);
			continue;
		}
		if (!runner_start_worker(&claimed[i]))
		{
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgbg_durable_unclaim(claimed[i].job, claimed[i].attempt);
			PopActiveSnapshot();
			CommitTransactionCommand();
			pgbg_durable_slot_release(&claimed[i]);
			runner_withdraw(&claimed[i]);
			retry = true;
		}
	}
	runner_withdraw_all();		/* none is left: claim admitted no more */
	if (!waiting)
		pgbg_dir_end_wait();

	/*
	 * When to look again: when the next job is due (if a worker may take it;
	 * else when a worker ends, which wakes us), or is to be purged.
	 */
	if (waiting && due_ms == 0)
		due_ms = DURABLE_ADMISSION_RETRY_MS;
	if (due_ms >= 0 && nbusy < pgbg_durable_workers)
		timeout = due_ms;
	if (purge_ms >= 0 && (timeout < 0 || purge_ms < timeout))
		timeout = purge_ms;
	if (retry && (timeout < 0 || timeout > DURABLE_WORKER_RETRY_MS))
		timeout = DURABLE_WORKER_RETRY_MS;
	if (left == 0 && runner_workers == NIL)
		*leave = pgbg_durable_runner_end(database, runner_seen, false);
	return timeout;
}

/*
 * Forget the workers that have stopped, freeing their slots, and those
 * that are done with their attempt (they gave its slot up themselves, and
 * may be parked in the pool now).
 */
static void
runner_reap(Oid database)
{
	ListCell   *lc;

	foreach(lc, runner_workers)
	{
		durable_started *s = lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
		{
			if (pgbg_durable_slot_holds(&s->job))
				continue;
		}
		else
		{
			/* Its entry ends, if the worker never reached it. */
			pgbg_job_vanished(s->job.dir_slot, s->job.dir_seq);
			pgbg_durable_slot_release(&s->job);
		}
		pfree(s->handle);
		pfree(s);
		runner_workers = foreach_delete_current(runner_workers, lc);
	}
}

/*
 * Has one of the runner's workers stopped (not yet reaped)?
 */
static bool
runner_any_stopped(void)
{
	ListCell   *lc;

	foreach(lc, runner_workers)
	{
		durable_started *s = lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(s->handle, &pid) == BGWH_STOPPED)
			return true;
	}
	return false;
}

/*
 * Start the worker of a claimed job; false if no worker slot is free.
 */
static bool
runner_start_worker(pgbg_durable_claimed *job)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	durable_started *s;
	MemoryContext oldcontext;

	durable_fill_worker(&worker, "pg_background_durable_worker_main",
						PGBG_WORKER_TYPE, MyDatabaseId);
	snprintf(worker.bgw_name, BGW_MAXLEN,
			 "pg_background worker for durable job %lld",
			 (long long) job->job);
	StaticAssertStmt(sizeof(pgbg_durable_claimed) <= BGW_EXTRALEN,
					 "a claimed job must fit in bgw_extra");
	memcpy(worker.bgw_extra, job, sizeof(pgbg_durable_claimed));

	/* The handle outlives this turn of the loop (its context is reset). */
	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		MemoryContextSwitchTo(oldcontext);

		/*
		 * The pool must not keep a worker slot that a job waiting for one
		 * needs (as the dispatcher does for queued jobs): ask a parked
		 * worker to leave; the retry finds its slot free.
		 */
		(void) pgbg_pool_evict();
		return false;
	}
	s = palloc(sizeof(durable_started));
	s->handle = handle;
	s->job = *job;
	runner_workers = lappend(runner_workers, s);
	MemoryContextSwitchTo(oldcontext);

	/* The entry is the worker's now (or, if it never starts, runner_reap's). */
	runner_passed_on(job);
	return true;
}

/*
 * Admission of an attempt (pgbg_durable_claim's callback, in the runner's
 * transaction): submit it to the job directory as a job of its role in
 * this database, with the durable job's label and the start of its SQL;
 * true if the limits let its worker start now.
 */
static bool
runner_admit(pgbg_durable_claimed *job, const char *label, const char *sql)
{
	pgbg_dir_entry proto;

	Assert(runner_nadmitted < PGBG_DURABLE_MAX_RUNNING);
	pgbg_dir_proto(&proto, pgbg_random_cookie(), job->owner, true, 0, label,
				   sql != NULL ? sql : "");
	/* The worker connects as the job's role (see docs/durable.md). */
	proto.session_user = job->owner;
	if (!pgbg_job_submit_durable(&proto, &job->dir_slot, &job->dir_seq))
		return false;
	runner_admitted[runner_nadmitted++] = *job;
	return true;
}

/*
 * An admitted attempt was passed on to a worker (one the runner started,
 * or one parked in the pool): its entry, and its slot, are the worker's
 * now, not to be withdrawn by runner_withdraw_all.
 */
static void
runner_passed_on(pgbg_durable_claimed *job)
{
	int			i;

	for (i = 0; i < runner_nadmitted; i++)
		if (runner_admitted[i].dir_slot == job->dir_slot &&
			runner_admitted[i].dir_seq == job->dir_seq)
			runner_admitted[i].dir_slot = -1;
}

/*
 * The worker of an admitted attempt will not start: its entry goes.
 */
static void
runner_withdraw(pgbg_durable_claimed *job)
{
	/* No longer the runner's to withdraw at its end, once withdrawn here. */
	runner_passed_on(job);
	pgbg_job_withdraw(job->dir_slot, job->dir_seq);
}

/*
 * Withdraw every admitted attempt whose worker was not registered (after
 * an error of the turn, or as the runner leaves), and forget them all.
 */
static void
runner_withdraw_all(void)
{
	int			i;

	for (i = 0; i < runner_nadmitted; i++)
		if (runner_admitted[i].dir_slot >= 0)
			pgbg_job_withdraw(runner_admitted[i].dir_slot,
							  runner_admitted[i].dir_seq);
	runner_nadmitted = 0;
}
