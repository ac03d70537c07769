/*-------------------------------------------------------------------------
 *
 * control.c
 *		Wait for, receive from and cancel the jobs of this session.
 *
 * A job's state as users see it is derived in session.c, from the outcome
 * its worker publishes and from whether its worker still runs; this file
 * is where the launcher waits for it to change, the one place that sleeps.
 *
 * Waiting never polls: the worker sets our latch when it publishes a final
 * state and whenever it writes into the queue, and the postmaster signals
 * us (bgw_notify_pid) when the worker exits.  While we wait, the queue is
 * drained into the job's spool, so a worker with more output than its
 * queue holds still finishes.
 *
 * Canceling sends SIGINT (the job's current statement fails with 57014 and
 * its transaction rolls back), waits up to a grace period, then asks the
 * postmaster to terminate the worker (SIGTERM).  Never SIGKILL: a killed
 * backend makes the postmaster restart every session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "pg_background.h"

static pid_t control_worker_pid(pgbg_job *job);
static void control_drain_unread(pgbg_job *job);
static void control_signal(pgbg_job *job, int signo);
static bool control_wait_exited(pgbg_job **jobs, int njobs, long timeout_ms);
static long control_remaining(TimestampTz start, long timeout_ms);
static void control_check_deadlock(pgbg_job **jobs, int njobs);
static bool control_blocked_by_us(int32 pid);
static char *control_awaited_lock(int32 pid);

/*
 * The PID of the job's worker while it runs; 0 if it has none (yet).
 */
static pid_t
control_worker_pid(pgbg_job *job)
{
	pid_t		pid;
	pgbg_dir_entry entry;

	if (job->handle != NULL)
		return GetBackgroundWorkerPid(job->handle, &pid) == BGWH_STARTED ? pid : 0;
	if (job->dir_slot >= 0 &&
		pgbg_dir_get(job->dir_slot, job->dir_seq, &entry) &&
		entry.state == PGBG_DIR_ACTIVE && !entry.exited)
		return entry.worker_pid;
	return 0;
}

/*
 * Wait for the next message from the job's worker and point msg at it (see
 * pgbg_wire_next).  Returns false if the worker has detached (exited) and no
 * message is left.  The wait goes through pgbg_control_sleep rather than
 * shm_mq, so that a worker stuck on a lock this session holds is reported
 * instead of waited for.  A worker that vanished without detaching (the
 * queue cannot tell) is noticed through its handle, after one last look at
 * the queue.
 */
bool
pgbg_control_receive(pgbg_job *job, StringInfo msg)
{
	pgbg_wait	wait;
	bool		waiting = false;
	bool		stopped = false;

	for (;;)
	{
		switch (pgbg_wire_next(job, msg))
		{
			case PGBG_WIRE_MESSAGE:
				if (waiting)
					pgbg_control_wait_end();
				return true;
			case PGBG_WIRE_END:
				if (waiting)
					pgbg_control_wait_end();
				return false;
			case PGBG_WIRE_EMPTY:
				break;
		}
		if (stopped)
		{
			if (waiting)
				pgbg_control_wait_end();
			return false;
		}
		stopped = pgbg_session_worker_stopped(job);
		if (stopped)
			continue;
		/* Only now is this a wait (a message at hand costs no clock read). */
		if (!waiting)
		{
			pgbg_control_wait_begin(&wait);
			waiting = true;
		}
		pgbg_control_sleep(&job, 1, &wait, -1);
	}
}

/*
 * Is the job over?  Drains its queue first, so that the answer cannot
 * depend on whether anybody read its output.
 */
bool
pgbg_control_finished(pgbg_job *job)
{
	pgbg_outcome outcome;

	if (pgbg_wire_drain(job) && job->mqh != NULL)
		return true;
	pgbg_session_outcome(job, &outcome);
	if (outcome.state >= PGBG_STATE_DONE)
		return true;
	return pgbg_session_worker_stopped(job);
}

/*
 * Raise 57014 if the job was canceled (its results, if any, are not to be
 * read).
 */
void
pgbg_control_check_canceled(pgbg_job *job)
{
	if (pgbg_session_state(job) == PGBG_VIEW_CANCELED)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("background job with PID %d was canceled", job->pid)));
}

/*
 * Wait until one of the jobs is over, or timeout_ms (-1: no limit) passes.
 * Returns the index of the first finished job, or -1 on timeout.
 */
int
pgbg_control_wait(pgbg_job **jobs, int njobs, long timeout_ms)
{
	pgbg_wait	wait;

	pgbg_control_wait_begin(&wait);
	for (;;)
	{
		long		remaining;
		int			i;

		for (i = 0; i < njobs; i++)
			if (pgbg_control_finished(jobs[i]))
			{
				pgbg_control_wait_end();
				return i;
			}
		remaining = control_remaining(wait.started, timeout_ms);
		if (remaining == 0)
		{
			pgbg_control_wait_end();
			return -1;
		}
		pgbg_control_sleep(jobs, njobs, &wait, remaining);
	}
}

/*
 * Wait until the workers of all the jobs have exited, or timeout_ms (-1:
 * no limit) passes.  Returns whether they all have.  No deadlock check:
 * this only serves cancel, which ends in SIGTERM anyway.
 */
static bool
control_wait_exited(pgbg_job **jobs, int njobs, long timeout_ms)
{
	pgbg_wait	wait;

	pgbg_control_wait_begin(&wait);
	for (;;)
	{
		bool		all = true;
		long		remaining;
		int			i;

		for (i = 0; i < njobs; i++)
			if (!pgbg_session_worker_stopped(jobs[i]))
				all = false;
		remaining = control_remaining(wait.started, timeout_ms);
		if (all || remaining == 0)
		{
			pgbg_control_wait_end();
			return all;
		}
		pgbg_control_sleep(NULL, 0, &wait, remaining);
	}
}

/*
 * Cancel the jobs that are still running: SIGINT now, SIGTERM (through the
 * postmaster) for those whose worker has not exited after grace_ms, then
 * wait until every canceled worker has exited, so that its locks are free
 * when we return.  Query cancel interrupts the waits, never the signals.
 */
void
pgbg_control_cancel(pgbg_job **jobs, int njobs, int grace_ms)
{
	pgbg_job  **canceled = palloc(sizeof(pgbg_job *) * Max(njobs, 1));
	int			ncanceled = 0;
	int			i;

	for (i = 0; i < njobs; i++)
	{
		if (pgbg_control_finished(jobs[i]))
			continue;
		jobs[i]->canceled = true;
		canceled[ncanceled++] = jobs[i];

		/* A job that has not started yet never will. */
		if (jobs[i]->dir_slot >= 0 &&
			!pgbg_job_cancel(jobs[i]->dir_slot, jobs[i]->dir_seq))
			continue;
		control_signal(jobs[i], SIGINT);
	}

	if (!control_wait_exited(canceled, ncanceled, grace_ms))
	{
		for (i = 0; i < ncanceled; i++)
		{
			if (!pgbg_session_worker_stopped(canceled[i]))
				control_signal(canceled[i], SIGTERM);
		}
		(void) control_wait_exited(canceled, ncanceled, -1);
	}
	pfree(canceled);
}

/*
 * Send signo (SIGINT or SIGTERM) to the job's worker, if it still runs the
 * job.  With the directory, through it (pgbg_job_signal): a worker
 * that finished the job may be running another one from the pool by now,
 * which a signal by PID would hit.  Without it, there is no pool, and the
 * PID is the worker's for as long as its handle says it runs.
 */
static void
control_signal(pgbg_job *job, int signo)
{
	pid_t		pid;

	if (job->dir_slot >= 0)
		(void) pgbg_job_signal(job->dir_slot, job->dir_seq, signo);
	else if (job->handle != NULL && signo == SIGTERM)
		TerminateBackgroundWorker(job->handle);
	else if (job->handle != NULL &&
			 GetBackgroundWorkerPid(job->handle, &pid) == BGWH_STARTED)
		(void) kill(pid, signo);
}

/*
 * Milliseconds left of timeout_ms since start; -1 for no limit.
 */
static long
control_remaining(TimestampTz start, long timeout_ms)
{
	int64		elapsed_us;
	int64		left_us;

	if (timeout_ms < 0)
		return -1;

	/*
	 * In microseconds: a wait must never end before timeout_ms, so what is
	 * left is rounded up (TimestampDifferenceMilliseconds rounds the elapsed
	 * time up, which would end it up to a millisecond early).
	 */
	elapsed_us = GetCurrentTimestamp() - start;
	left_us = (int64) timeout_ms * 1000 - elapsed_us;
	if (left_us <= 0)
		return 0;
	return (long) ((left_us + 999) / 1000);
}

/*
 * Start a wait.
 */
void
pgbg_control_wait_begin(pgbg_wait *wait)
{
	wait->started = wait->checked = GetCurrentTimestamp();
	pgbg_dir_prepare_wait();
}

/*
 * End a wait (whatever ended it): leave the directory's list of waiters,
 * so that jobs ending later do not wake this process for nothing (a
 * wake-up costs the ending worker a signal and us a turn).
 */
void
pgbg_control_wait_end(void)
{
	pgbg_dir_end_wait();
}

/*
 * Drain the queues of the session's jobs that nobody is reading (reading
 * marks a job consumed) into their spools, without waiting.  Called by
 * every wait: one of our workers blocked on a full queue may hold a lock
 * that the awaited worker needs.
 */
void
pgbg_control_drain_all(void)
{
	pgbg_session_foreach_queue(control_drain_unread);
}

/*
 * Drain a job's queue if nobody is reading it (see pgbg_control_drain_all).
 */
static void
control_drain_unread(pgbg_job *job)
{
	if (!job->consumed)
		(void) pgbg_wire_drain(job);
}

/*
 * Sleep on our latch for at most timeout_ms (-1: until set), on behalf of
 * a wait for the given jobs.
 *
 * Before sleeping, drain the queues of all the session's jobs into their
 * spools: one of our workers stuck on a full queue may hold a lock that
 * the awaited worker needs.
 *
 * Once the wait has lasted deadlock_timeout, and every deadlock_timeout
 * after that, check (unless no jobs are given) whether the wait can still
 * end: if every awaited job's
 * worker is blocked, directly or through other sessions, by a lock this
 * session holds, it cannot (the server's deadlock detector does not see
 * that cycle, because we wait on a latch, not on a lock), so raise 40P01.
 * Ending our transaction releases our locks and lets the workers finish.
 */
void
pgbg_control_sleep(pgbg_job **jobs, int njobs, pgbg_wait *wait,
				   long timeout_ms)
{
	int			events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;
	TimestampTz now = GetCurrentTimestamp();
	long		until_check;

	pgbg_control_drain_all();

	if (njobs > 0 &&
		TimestampDifferenceExceeds(wait->checked, now, DeadlockTimeout) &&
		TimestampDifferenceExceeds(wait->started, now, DeadlockTimeout))
	{
		control_check_deadlock(jobs, njobs);
		wait->checked = GetCurrentTimestamp();
	}

	until_check = DeadlockTimeout -
		TimestampDifferenceMilliseconds(wait->checked, now);
	if (until_check < 1)
		until_check = 1;
	if (timeout_ms < 0 || timeout_ms > until_check)
		timeout_ms = until_check;

	(void) WaitLatch(MyLatch, events, timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();

	/*
	 * Jobs of the directory that this session did not start (another
	 * session's, or queued ones the dispatcher started) wake us through the
	 * directory's condition variable; stay on its list before the caller
	 * looks again, so that no wakeup is lost (pgbg_dir_keep_waiting).
	 */
	pgbg_dir_keep_waiting();
}

/*
 * Raise 40P01 if the worker of every job that is not over waits, directly
 * or through a chain of other sessions, for a lock this session holds.
 */
static void
control_check_deadlock(pgbg_job **jobs, int njobs)
{
	pid_t		first = 0;
	int			i;

	for (i = 0; i < njobs; i++)
	{
		pid_t		pid = control_worker_pid(jobs[i]);

		if (pid == 0)
		{
			if (!pgbg_session_worker_stopped(jobs[i]))
				return;			/* queued or starting: it can still run */
			continue;
		}
		if (!control_blocked_by_us(pid))
			return;				/* this one can still finish */
		if (first == 0)
			first = pid;
	}
	if (first == 0)
		return;

	ereport(ERROR,
			(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
			 errmsg("deadlock detected between this session and background worker with PID %d",
					(int) first),
			 errdetail("The background worker waits for %s, which this session holds (directly or through other sessions), while this session waits for the worker.",
					   control_awaited_lock(first)),
			 errhint("End the transaction that holds the lock (or release the advisory lock) before waiting for the worker; the worker goes on once the lock is free.")));
}

/*
 * Is pid blocked, directly or through other blocked sessions, by us?  A
 * breadth-first walk of pg_blocking_pids, visiting each process once.
 */
static bool
control_blocked_by_us(int32 pid)
{
	List	   *queue = list_make1_int(pid);
	List	   *seen = list_make1_int(pid);
	bool		found = false;

	while (queue != NIL && !found)
	{
		int32		current = linitial_int(queue);
		ArrayType  *blockers;
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		int			i;

		CHECK_FOR_INTERRUPTS();
		queue = list_delete_first(queue);
		blockers = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids,
														  Int32GetDatum(current)));
		deconstruct_array(blockers, INT4OID, sizeof(int32), true, TYPALIGN_INT,
						  &elems, &nulls, &nelems);
		for (i = 0; i < nelems && !found; i++)
		{
			int32		blocker = DatumGetInt32(elems[i]);

			if (blocker == MyProcPid)
				found = true;
			else if (!list_member_int(seen, blocker))
			{
				seen = lappend_int(seen, blocker);
				queue = lappend_int(queue, blocker);
			}
		}
	}
	list_free(queue);
	list_free(seen);
	return found;
}

/*
 * A description of the lock pid waits for ("ShareLock on transaction 750").
 */
static char *
control_awaited_lock(int32 pid)
{
	LockData   *data = GetLockStatusData();
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < data->nelements; i++)
	{
		LockInstanceData *lock = &data->locks[i];

		if (lock->pid != pid || lock->waitLockMode == NoLock)
			continue;
		appendStringInfo(&buf, "%s on ",
						 GetLockmodeName(lock->locktag.locktag_lockmethodid,
										 lock->waitLockMode));
		DescribeLockTag(&buf, &lock->locktag);
		return buf.data;
	}
	appendStringInfoString(&buf, "a lock");
	return buf.data;
}
