/*-------------------------------------------------------------------------
 *
 * dispatcher.c
 *		The background worker that starts queued jobs (preload mode).
 *
 * Registered at server start when pg_background is in
 * shared_preload_libraries.  It sleeps on its latch; launchers that queue
 * a job, and workers that leave, set it.  It then starts the oldest queued
 * jobs the limits allow, as long as the server has free worker slots.  The
 * workers it starts notify it when they stop (bgw_notify_pid), which both
 * frees a slot and lets it notice workers that failed before reaching
 * their job.  A slot held by a worker that has left but that the
 * postmaster has not reaped yet cannot be reused: while jobs are queued
 * and registration fails, it retries every PGBG_DISPATCH_RETRY_MS.  It
 * also starts the runners of durable jobs (pgbg_durable_start_runners).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "pg_background.h"

/* How long to wait before trying again when no worker slot is free. */
#define PGBG_DISPATCH_RETRY_MS		20

/* A worker this dispatcher started, until it stops. */
typedef struct dispatched
{
	BackgroundWorkerHandle *handle;
	int			slot;
	uint64		seq;
} dispatched;

static List *dispatcher_started = NIL;

/* The parked worker last asked to leave (0: none), until it is gone. */
static pid_t dispatcher_evicted = 0;

static bool dispatcher_start_queued(void);
static void dispatcher_reap(void);
static void dispatcher_exit(int code, Datum arg);

/*
 * Register the dispatcher (from _PG_init, while preloading).
 */
void
pgbg_dispatcher_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_background");
	snprintf(worker.bgw_function_name, BGW_MAXLEN,
			 "pg_background_dispatcher_main");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_background dispatcher");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_background dispatcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * Main loop of the dispatcher.
 */
void
pg_background_dispatcher_main(Datum main_arg)
{
	MemoryContext loop_context;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* No database: this only makes us visible in pg_stat_activity. */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	loop_context = AllocSetContextCreate(TopMemoryContext,
										 "pg_background dispatcher",
										 ALLOCSET_DEFAULT_SIZES);
	pgbg_dir_set_dispatcher(MyProc);
	pgbg_durable_set_dispatcher(MyProc);
	on_shmem_exit(dispatcher_exit, (Datum) 0);

	while (!ShutdownRequestPending)
	{
		long		timeout = -1;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextSwitchTo(loop_context);
		dispatcher_reap();
		if (!dispatcher_start_queued())
			timeout = PGBG_DISPATCH_RETRY_MS;

		/* Runners of durable jobs (durable_run.c). */
		if (!ShutdownRequestPending)
		{
			long		durable_timeout = pgbg_durable_start_runners();

			if (durable_timeout >= 0 &&
				(timeout < 0 || durable_timeout < timeout))
				timeout = durable_timeout;
		}
		if (timeout >= 0)
			events |= WL_TIMEOUT;

		(void) WaitLatch(MyLatch, events, timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/*
	 * Exit code 1: the postmaster restarts us (bgw_restart_time), unless the
	 * server is shutting down.  With 0 it would forget us, and queued jobs
	 * would wait forever after a stray SIGTERM.
	 */
	proc_exit(1);
}

/*
 * Start every queued job the limits allow.  Returns false if a job had to
 * go back to the queue for want of a worker slot.
 */
static bool
dispatcher_start_queued(void)
{
	pgbg_dir_entry job;
	int			slot;

	/*
	 * Nothing starts once the server is going down.  A job that a parked
	 * worker can take goes to it inside pgbg_job_dispatch.
	 */
	while (!ShutdownRequestPending && pgbg_job_dispatch(&job, &slot))
	{
		BackgroundWorker worker;
		BackgroundWorkerHandle *handle;
		dispatched *d;

		pgbg_launch_fill_worker(&worker, job.seg, slot, job.seq, MyProcPid);
		snprintf(worker.bgw_name, BGW_MAXLEN,
				 "pg_background worker for PID %d (queued)", job.launcher_pid);
		if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		{
			/*
			 * Parked workers must not keep a queued job waiting: ask one to
			 * leave, unless one asked earlier has not been reaped by the
			 * postmaster yet (its slot is about to be free; asking another
			 * would empty the pool for one job).
			 */
			if (dispatcher_evicted == 0 || kill(dispatcher_evicted, 0) != 0)
				dispatcher_evicted = pgbg_pool_evict();
			if (pgbg_worker_test_fault("slow_undispatch"))
				pg_usleep(200 * 1000L);
			pgbg_job_undispatch(slot, job.seq);
			return false;
		}
		d = palloc(sizeof(dispatched));
		d->handle = handle;
		d->slot = slot;
		d->seq = job.seq;
		dispatcher_started = lappend(dispatcher_started, d);
	}
	return true;
}

/*
 * Forget the workers that have stopped; close the entries of those that
 * never reached their job.
 */
static void
dispatcher_reap(void)
{
	ListCell   *lc;

	foreach(lc, dispatcher_started)
	{
		dispatched *d = lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(d->handle, &pid) != BGWH_STOPPED)
			continue;
		pgbg_job_vanished(d->slot, d->seq);
		pfree(d->handle);
		pfree(d);
		dispatcher_started = foreach_delete_current(dispatcher_started, lc);
	}
}

/*
 * Nobody should set our latch once we are gone.
 */
static void
dispatcher_exit(int code, Datum arg)
{
	pgbg_dir_set_dispatcher(NULL);
	pgbg_durable_set_dispatcher(NULL);
}
