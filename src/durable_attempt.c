/*-------------------------------------------------------------------------
 *
 * durable_attempt.c
 *		One attempt of a durable job, in the worker that runs it: a worker
 *		the runner started for it, or one taken from the warm pool.
 *
 * The worker's loop (worker.c) runs an attempt in these steps, around the
 * job's SQL, which it runs itself (pgbg_worker_execute):
 *
 *	 begin		before anything can fail: the attempt is this process's, so
 *				that its slot among the running jobs is given up however
 *				the process ends (an interrupted attempt: the runner claims
 *				the job again);
 *	 load		the attempt is still this worker's (its slot, its entry of
 *				the job directory, its row: running this attempt): its SQL,
 *				parameters and timeout (an error here, such as a cancel,
 *				fails the attempt as one of its SQL would);
 *	 arm		a cancel that came first fails the attempt; its timeout
 *				starts;
 *	 commit		(the commit hook, in the SQL's last transaction before it
 *				commits) the success is recorded: the effects and the
 *				success commit together;
 *	 succeeded	after the SQL ended its own transactions: the success is
 *				recorded now if the hook could not (at least once, then);
 *	 failed		(in the caller's PG_CATCH) roll back, record the error
 *				(retried, failed, or canceled: durable.c decides).
 *
 * Each ending publishes the outcome in the attempt's entry of the job
 * directory and gives the slot up (pgbg_durable_slot_finish), which wakes
 * the runner: a pooled worker does not stop after its attempt, so the
 * postmaster would not.  From the recording of the outcome until the slot
 * is given up, a cancel does not interrupt the worker (it would end the
 * process, and the job would run again as interrupted): one that comes
 * then is too late for the outcome, and cancels the job if the outcome
 * queued it again for another attempt.  None of this depends on the process being fresh:
 * a pooled worker's session has been reset, and proven to be as a fresh
 * one's, before it parked (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "pg_background.h"

/* The attempt this process runs, if any. */
static bool attempt_active = false;
static pgbg_durable_claimed attempt_job;

/* What load found, for the later steps. */
static MemoryContext attempt_context = NULL;
static bool attempt_cancel = false;
static int	attempt_timeout_ms = 0;
static pgbg_outcome attempt_outcome;

/* The attempt's timeout. */
static TimeoutId attempt_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t attempt_timeout_reached = false;

static void attempt_end(bool recorded);
static void attempt_test_pause(void);
static void attempt_exit(int code, Datum arg);
static void attempt_publish(pgbg_state state, ErrorData *edata);
static void attempt_timeout_handler(void);

/*
 * begin: this process is about to run the attempt.  Called before
 * anything can fail.
 */
void
pgbg_attempt_begin(const pgbg_durable_claimed *job)
{
	static bool registered = false;

	attempt_job = *job;
	attempt_active = true;
	if (!registered)
	{
		on_shmem_exit(attempt_exit, (Datum) 0);
		registered = true;
	}
}

/*
 * The attempt is over for this process: its slot is free (the runner is
 * woken), and what load kept goes.  recorded: the attempt's outcome is
 * committed, and cancel interrupts are held since before it was recorded
 * (a cancel must not end the process while the outcome is being recorded,
 * or the job would run again as interrupted); a cancel that reached the
 * slot since, too late for the outcome, cancels the job if the outcome
 * queued it again, before the slot is free (pgbg_durable_slot_finish).
 * A pending cancel, this attempt's, is then cleared, and cancel interrupts
 * resumed.
 */
static void
attempt_end(bool recorded)
{
	if (attempt_active && recorded)
	{
		if (!pgbg_durable_slot_finish(&attempt_job))
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgbg_durable_cancel_requeued(attempt_job.job);
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
	}
	if (attempt_active)
		pgbg_durable_slot_done(&attempt_job);
	attempt_active = false;
	if (attempt_context != NULL)
		MemoryContextDelete(attempt_context);
	attempt_context = NULL;
	if (recorded)
	{
		QueryCancelPending = false;
		RESUME_CANCEL_INTERRUPTS();
	}
}

/*
 * pg_background.test_fault = 'attempt_recording': the worker waits, in the
 * transaction that records its attempt's failure, before it commits, until
 * the setting changes (for the tests of a cancel that comes then).
 */
static void
attempt_test_pause(void)
{
	const char *fault;

	/* Read as the setting (worker.c owns it: no call into worker.c). */
	for (;;)
	{
		/* A reload may have come during another wait of the attempt. */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		fault = GetConfigOption("pg_background.test_fault", true, false);
		if (fault == NULL || strcmp(fault, "attempt_recording") != 0)
			break;
		/* A reload sets the latch (SignalHandlerForConfigReload). */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * on_shmem_exit: a process leaving during its attempt gives up the slot
 * (its transaction is rolled back by then), and the job's runner claims
 * the job again as interrupted.
 */
static void
attempt_exit(int code, Datum arg)
{
	if (attempt_active)
		pgbg_durable_slot_done(&attempt_job);
	attempt_active = false;
}

/*
 * load: check that the attempt is still this worker's (its slot, its entry
 * of the job directory, which learns the worker's PID, and its row) and
 * read its SQL and parameters (valid until the attempt ends).  Returns
 * false if the attempt is not to be run (it is then over for this worker).
 */
bool
pgbg_attempt_load(char **sql, char **paramspace)
{
	pgbg_attach_result attach;
	bool		unread = false;
	volatile bool ours = false;
	MemoryContext oldcontext = CurrentMemoryContext;

	Assert(attempt_active);
	if (!pgbg_durable_slot_attach(&attempt_job, &attempt_cancel))
	{
		attempt_end(false);
		return false;
	}
	attach = pgbg_job_attached(NULL, NULL, &unread);
	if (attach == PGBG_ATTACH_GONE)
	{
		attempt_end(false);
		return false;
	}
	if (attach == PGBG_ATTACH_CANCELED)
		attempt_cancel = true;

	attempt_context = AllocSetContextCreate(TopMemoryContext,
											"pg_background durable job",
											ALLOCSET_DEFAULT_SIZES);
	attempt_timeout_ms = 0;

	/*
	 * The worker has the attempt (its PID is in the slot): a cancel of the
	 * job may come while it loads, as may any error (a lock wait of the
	 * load, cut short).  Such an error is the attempt's, recorded as one of
	 * its SQL's would be: the process must not end over it, or the job
	 * would be run again as interrupted, the cancel lost.
	 */
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		MemoryContextSwitchTo(attempt_context);
		ours = pgbg_durable_load(attempt_job.job, attempt_job.attempt, sql,
								 paramspace, &attempt_timeout_ms);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		attempt_publish(PGBG_STATE_RUNNING, NULL);
		pgbg_attempt_failed();
		return false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	if (!ours)
	{
		attempt_end(false);
		return false;
	}
	attempt_publish(PGBG_STATE_RUNNING, NULL);
	attempt_timeout_reached = false;
	return true;
}

/*
 * arm: right before the SQL runs (inside the caller's PG_TRY).  A cancel
 * of the job, or of the attempt's entry, that came first fails the
 * attempt; its timeout starts.
 */
void
pgbg_attempt_arm(void)
{
	if (attempt_cancel)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling durable job before it started")));
	if (attempt_timeout_ms > 0)
	{
		if (attempt_timeout_id == MAX_TIMEOUTS)
			attempt_timeout_id = RegisterTimeout(USER_TIMEOUT,
												 attempt_timeout_handler);
		enable_timeout_after(attempt_timeout_id, attempt_timeout_ms);
	}
}

/*
 * The SQL has returned: its timeout ends.
 */
void
pgbg_attempt_disarm(void)
{
	if (attempt_timeout_ms > 0)
		disable_timeout(attempt_timeout_id, false);
}

/*
 * commit: the commit hook of the attempt (see pgbg_worker_execute): its
 * success commits with its effects.
 */
void
pgbg_attempt_commit(void *arg, const char *command_tag)
{
	/* The statement's snapshot is gone with its portal. */
	PushActiveSnapshot(GetTransactionSnapshot());
	(void) pgbg_durable_succeed(attempt_job.job, attempt_job.attempt,
								command_tag, true);
	PopActiveSnapshot();
}

/*
 * succeeded: the SQL ran to its end.  If its own COMMIT or ROLLBACK ended
 * its last transaction before the hook could run, the success is recorded
 * now (at least once, then); otherwise this finds it recorded already.
 */
void
pgbg_attempt_succeeded(const char *command_tag)
{
	/* The SQL has ended: a cancel comes too late (see attempt_end). */
	HOLD_CANCEL_INTERRUPTS();
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	(void) pgbg_durable_succeed(attempt_job.job, attempt_job.attempt,
								command_tag, false);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgbg_durable_broadcast();
	strlcpy(attempt_outcome.command_tag, command_tag,
			sizeof(attempt_outcome.command_tag));
	attempt_publish(PGBG_STATE_DONE, NULL);
	attempt_end(true);
}

/*
 * failed: in the caller's PG_CATCH, after an error of the attempt: report
 * it, roll back, and record it in a transaction of its own (a cancel makes
 * the job canceled; the timeout's cancel says so).
 */
void
pgbg_attempt_failed(void)
{
	ErrorData  *edata;
	bool		canceled;
	MemoryContext oldcontext = CurrentMemoryContext;

	HOLD_INTERRUPTS();
	pgbg_attempt_disarm();
	MemoryContextSwitchTo(attempt_context);
	edata = CopyErrorData();
	canceled = edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
		(attempt_cancel || pgbg_durable_slot_canceled(&attempt_job));
	if (attempt_timeout_reached && !canceled &&
		edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		edata->message = psprintf("canceling durable job due to its timeout");
		edata->detail = psprintf("The attempt ran longer than the job's timeout (%d ms).",
								 attempt_timeout_ms);
	}
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	QueryCancelPending = false;
	/* A later cancel must not end the process while this is recorded. */
	HOLD_CANCEL_INTERRUPTS();
	RESUME_INTERRUPTS();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgbg_durable_fail(attempt_job.job, attempt_job.attempt, edata, canceled);
	attempt_test_pause();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgbg_durable_broadcast();
	attempt_publish(PGBG_STATE_ERROR, edata);
	MemoryContextSwitchTo(oldcontext);
	attempt_end(true);
}

/*
 * Publish the attempt's outcome in its entry of the job directory: it
 * starts (RUNNING: the outcome is initialized), succeeded (DONE), or
 * failed (ERROR, with edata's SQLSTATE, message and detail).
 */
static void
attempt_publish(pgbg_state state, ErrorData *edata)
{
	pgbg_outcome *outcome = &attempt_outcome;

	if (state == PGBG_STATE_RUNNING)
	{
		memset(outcome, 0, sizeof(pgbg_outcome));
		outcome->progress_pct = -1;
		outcome->started_at = GetCurrentTimestamp();
	}
	else
		outcome->finished_at = GetCurrentTimestamp();
	outcome->state = state;
	if (edata != NULL)
	{
		strlcpy(outcome->sqlstate, unpack_sql_state(edata->sqlerrcode),
				sizeof(outcome->sqlstate));
		pgbg_outcome_copy_clipped(outcome->message, edata->message,
							 sizeof(outcome->message));
		pgbg_outcome_copy_clipped(outcome->detail, edata->detail,
							 sizeof(outcome->detail));
	}
	pgbg_job_publish(outcome);
}

/*
 * The attempt reached its timeout (in the SIGALRM handler): cancel it as a
 * query cancel would.
 */
static void
attempt_timeout_handler(void)
{
	attempt_timeout_reached = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}
