/*-------------------------------------------------------------------------
 *
 * launch.c
 *		Describe a job, admit it, and start its worker (or queue it).
 *
 * pgbg_launch() returns only once the worker has attached to the segment,
 * unless the job is queued (preload mode): then it returns at once, and
 * the job holds no segment until its worker builds one (segment.c).
 * From then on the segment lives as long as either side keeps it mapped, so
 * a launcher that detaches or exits right away can no longer take the job
 * down with it (the original pg_background returned as soon as the worker
 * had a PID, and lost jobs whose launcher left before the worker attached).
 *
 * A launch that raises an error has run nothing: the worker runs the SQL
 * only once the launch has told it to go, as the last thing it does, and a
 * launch that fails first (an error, a timeout, a cancel, or the process
 * exiting) marks the segment abandoned, so the worker stops instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "pg_background.h"
#include "pgbg_compat.h"
#include "pgbg_layout.h"

static BackgroundWorkerHandle *launch_register(dsm_segment *seg, int slot,
											   uint64 seq);
static void launch_no_slot(void);
static void launch_wait_for_connect(pgbg_job *job);
static int32 launch_wait_for_attach(pgbg_fixed *fixed, shm_mq_handle *mqh);
static void launch_abandon(pgbg_fixed *fixed);
static void launch_abandon_callback(dsm_segment *seg, Datum arg);
static void launch_go(dsm_segment *seg, pgbg_fixed *fixed);
static void launch_drop_segment(dsm_segment *seg, pgbg_fixed *fixed);
static void launch_track(int slot, uint64 seq);
static void launch_exit(int code, Datum arg);

/*
 * The directory entry of the launch under way, if any: a process that
 * exits in the middle of a launch (a FATAL error, a termination) abandons
 * it (launch_exit), as an error does in pgbg_launch's PG_CATCH.
 */
static int	launch_inflight_slot = -1;
static uint64 launch_inflight_seq = 0;
static int32 launch_worker_pid(pgbg_fixed *fixed);

/*
 * Launch a worker running sql, with a result queue of queue_size bytes, and
 * register the job in this session.  queue_size must already be validated.
 * A submitted job keeps no results: its worker discards rows and leaves the
 * queue once it has attached, and only its outcome is observable.
 *
 * With the directory, a job that must wait for a worker holds no segment:
 * its description is stored as the launch's last step (pgbg_job_enqueue),
 * the segment is built by its worker, and this session maps it when it
 * reads the results (pgbg_session_map).
 */
pgbg_job *
pgbg_launch(const char *sql, int32 queue_size, bool submitted,
			const char *label, const pgbg_params *params)
{
	Size		settings_len;
	char	   *settings;
	pgbg_fixed	proto_fixed;
	pgbg_spec  *spec;
	dsm_segment *volatile seg = NULL;
	pgbg_fixed *volatile fixed = NULL;
	shm_mq	   *mq = NULL;
	bool		may_pool;
	Oid			current_user_id;
	int			sec_context;
	bool		as_current_user;
	shm_mq_handle *volatile mqh = NULL;
	BackgroundWorkerHandle *volatile handle = NULL;
	MemoryContext oldcontext;
	int32		pid = 0;
	int			slot = -1;
	uint64		seq = 0;
	volatile bool queued = false;
	volatile bool pooled = false;
	pgbg_job   *volatile job = NULL;

	/*
	 * A job would outlive the security-restricted operation (an index
	 * expression, REFRESH MATERIALIZED VIEW, maintenance commands) that its
	 * launch ran in, and escape its restrictions: refuse, as core refuses
	 * what would survive such an operation.
	 */
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot start a background job within a security-restricted operation")));

	/* Let go of the segments of earlier jobs that are done. */
	pgbg_session_settle_all();

	/*
	 * Inside a SECURITY DEFINER function (or another local change of the
	 * current user), the job is a session of the current user: the worker
	 * connects as that role instead of as our authenticated user.  It then
	 * needs no security context flags, which could not survive the
	 * transactions a job may start (a procedure's COMMIT, VACUUM, CREATE
	 * INDEX CONCURRENTLY), and nothing in it can get back to our session user
	 * with RESET ROLE or SET SESSION AUTHORIZATION.  Our own identity
	 * settings ("role", "session_authorization") stay behind, and no parked
	 * worker (connected as our user) takes the job.  See pgbg_can_connect_as
	 * for versions before 17.
	 */
	GetUserIdAndSecContext(&current_user_id, &sec_context);
	as_current_user = (sec_context & SECURITY_LOCAL_USERID_CHANGE) != 0 &&
		pgbg_can_connect_as(current_user_id);

	/* Who is launching, and as what. */
	memset(&proto_fixed, 0, sizeof(pgbg_fixed));
	proto_fixed.status.launcher = MyProc;
	proto_fixed.status.outcome.state = PGBG_STATE_STARTING;
	proto_fixed.status.outcome.progress_pct = -1;
	proto_fixed.database_id = MyDatabaseId;
	proto_fixed.as_current_user = as_current_user;
	proto_fixed.current_user_id = current_user_id;
	if (as_current_user)
	{
		proto_fixed.authenticated_user_id = current_user_id;
		proto_fixed.outer_user_id = current_user_id;
		proto_fixed.sec_context = 0;
	}
	else
	{
		proto_fixed.authenticated_user_id = GetAuthenticatedUserId();
		proto_fixed.outer_user_id = GetOuterUserId();
		proto_fixed.sec_context = sec_context;
	}
	proto_fixed.outer_is_superuser = superuser_arg(proto_fixed.outer_user_id);
	proto_fixed.launcher_pid = MyProcPid;
	proto_fixed.cookie = pgbg_random_cookie();
	proto_fixed.submitted = submitted;
	proto_fixed.queue_size = queue_size;

	/*
	 * Describe the job.  A worker, fresh or pooled, needs only the settings
	 * this session made (settings.c).  Only with the directory (preloaded)
	 * is there a pool.
	 */
	settings = pgbg_settings_serialize(&settings_len, as_current_user);
	may_pool = pgbg_dir_enabled() && !as_current_user;
	spec = pgbg_spec_create(&proto_fixed, sql, settings, settings_len,
							params);
	pfree(settings);

	/*
	 * With the shared directory, admission control decides whether the job
	 * starts now or waits in the queue (its handle then carrying a
	 * pseudo-PID).
	 */
	if (pgbg_dir_enabled())
	{
		pgbg_dir_entry proto;

		pgbg_dir_proto(&proto, proto_fixed.cookie, current_user_id,
					   submitted, queue_size, label, sql);
		proto.spec_len = (int64) pgbg_spec_size(spec);
		if (as_current_user)
			proto.session_user = InvalidOid;
		queued = !pgbg_job_submit(&proto, &slot, &seq, &pid);
		launch_track(slot, seq);
	}

	PG_TRY();
	{
		if (!queued)
		{
			/*
			 * Build the segment.  Until dsm_pin_mapping below, it belongs to
			 * the current resource owner, so an error in between unmaps
			 * (and, with no worker attached, destroys) it.  Until the job is
			 * told to go (launch_go), a failure of this launch must stop it:
			 * if our mapping goes away first (an error unwinds the resource
			 * owner, or the process exits), the worker finds the launch
			 * abandoned and runs nothing.
			 */
			pgbg_fixed *f;

			seg = pgbg_segment_create(spec, &f, &mq);
			fixed = f;
			shm_mq_set_receiver(mq, MyProc);
			on_dsm_detach(seg, launch_abandon_callback, PointerGetDatum(f));
		}

		/* Everything that outlives this call goes to the session context. */
		oldcontext = MemoryContextSwitchTo(pgbg_session_context());
		if (!queued && slot >= 0 && may_pool)
		{
			/*
			 * A parked worker of ours takes the job (see pool.c); its PID
			 * becomes the job's, so not one that still names a job of this
			 * session that is not consumed.  If none is parked but one is
			 * about to, wait for it a moment rather than start a process.
			 */
			Oid			user = proto_fixed.authenticated_user_id;
			TimestampTz since = 0;

			for (;;)
			{
				uint64		parks = pgbg_pool_parks();

				if (pgbg_pool_has_idle(MyDatabaseId, user))
				{
					pid = pgbg_job_hand_to_pool(slot, seq, seg,
												pgbg_session_holds_job);
					pooled = (pid != 0);
				}
				if (pooled ||
					!pgbg_pool_await(MyDatabaseId, user, parks, &since,
									 pgbg_worker_test_fault("pool_await")))
					break;
			}
		}
		if (!queued && !pooled)
		{
			handle = launch_register(seg, slot, seq);
			if (handle == NULL)
			{
				/* No worker slot: the job waits in the queue instead. */
				if (slot < 0)
					launch_no_slot();
				pgbg_job_requeue(slot, seq, &pid);
				queued = true;
				launch_drop_segment(seg, fixed);
				seg = NULL;
				fixed = NULL;
			}
		}
		if (!queued)
			mqh = shm_mq_attach(mq, seg, handle);
		MemoryContextSwitchTo(oldcontext);

		if (!queued)
		{
			if (!pooled)
				pid = launch_wait_for_attach(fixed, mqh);
			/* The mapping now lives until the job is released. */
			dsm_pin_mapping(seg);
		}

		job = pgbg_session_add(pid);
		oldcontext = MemoryContextSwitchTo(pgbg_session_context());
		job->cookie = proto_fixed.cookie;
		job->user_id = proto_fixed.current_user_id;
		job->queue_size = queue_size;
		job->launched_at = GetCurrentTimestamp();
		job->label = label != NULL ? pstrdup(label) : NULL;
		job->sql_preview = pnstrdup(sql, pg_mbcharcliplen(sql, strlen(sql),
														  PGBG_PREVIEW_CHARS));
		job->submitted = submitted;
		job->seg = seg;
		job->status = queued ? NULL : &fixed->status;
		job->handle = handle;
		job->dir_slot = slot;
		job->dir_seq = seq;
		if (queued)
		{
			/* Its segment comes with its worker (pgbg_session_map). */
			job->unmapped = true;
			job->awaiting = !submitted;
			if (job->awaiting)
				pgbg_session_hold_queue(job, NULL);
		}
		else if (submitted)
			shm_mq_detach(mqh); /* nothing will come: the worker left */
		else
			pgbg_session_hold_queue(job, mqh);
		mqh = NULL;
		MemoryContextSwitchTo(oldcontext);

		/*
		 * Wait until the worker has connected (or ended): only then is its
		 * PID that of a backend, which pg_terminate_backend,
		 * pg_cancel_backend and pg_stat_activity know.  A queued job has no
		 * worker yet, and a pooled one is connected already.
		 */
		if (!queued && !pooled)
			launch_wait_for_connect(job);

		/*
		 * An interrupt that is pending (a timeout that expired meanwhile)
		 * fails the launch now, while it can still stop the job, rather than
		 * the statement just after the launch returned.
		 */
		CHECK_FOR_INTERRUPTS();

		/* A queued job may be dispatched once its description is stored. */
		if (queued)
		{
			pgbg_spec_set_go(spec);
			pgbg_job_enqueue(slot, seq, spec);
		}
	}
	PG_CATCH();
	{
		/*
		 * The launch fails: whatever worker there is must run nothing.  It
		 * waits for the word to go, which it now never gets; it may also be
		 * terminated (it is harmless either way).  A queued job leaves the
		 * queue before its description was stored.
		 */
		if (fixed != NULL)
			launch_abandon(fixed);
		if (slot >= 0)
		{
			pgbg_job_abandon(slot, seq);
			launch_inflight_slot = -1;
		}
		if (handle != NULL)
			TerminateBackgroundWorker(handle);
		if (job != NULL)
			pgbg_session_forget(job);
		else if (mqh != NULL)
			shm_mq_detach(mqh);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* Nothing can fail after this: the job may run. */
	launch_inflight_slot = -1;
	if (seg != NULL)
		launch_go(seg, fixed);
	pfree(spec);

	/*
	 * A submitted job keeps no results: release it now, like a job whose
	 * results were read, so that its segment goes once its worker is done
	 * (pgbg_session_settle_all) and a flood of submissions cannot hold the
	 * server's segments.  Not before launch_go, which still needs the
	 * segment.
	 */
	if (submitted)
		pgbg_session_release(job, false);
	return job;
}

/*
 * Note the directory entry of the launch that begins, for launch_exit.
 */
static void
launch_track(int slot, uint64 seq)
{
	static bool registered = false;

	if (!registered)
	{
		before_shmem_exit(launch_exit, (Datum) 0);
		registered = true;
	}
	launch_inflight_seq = seq;
	launch_inflight_slot = slot;
}

/*
 * before_shmem_exit: a launch under way when the process exits fails, so
 * its job must not run (a queued one would otherwise wait for a
 * description that never comes).
 */
static void
launch_exit(int code, Datum arg)
{
	if (launch_inflight_slot < 0)
		return;
	/* An error that skipped an unlock must not hang us here. */
	LWLockReleaseAll();
	pgbg_job_abandon(launch_inflight_slot, launch_inflight_seq);
	launch_inflight_slot = -1;
}

/*
 * A job that was to start at once is queued instead (no worker slot was
 * free): let go of the segment built for it, which no worker has seen
 * (the queued job's worker builds its own).
 */
static void
launch_drop_segment(dsm_segment *seg, pgbg_fixed *fixed)
{
	cancel_on_dsm_detach(seg, launch_abandon_callback, PointerGetDatum(fixed));
	dsm_detach(seg);
}

/*
 * The launch is abandoned (see pgbg_launch): tell the worker, if it has
 * not been told to go.
 */
static void
launch_abandon(pgbg_fixed *fixed)
{
	PGPROC	   *worker;

	SpinLockAcquire(&fixed->status.mutex);
	if (!fixed->status.go)
		fixed->status.abandoned = true;
	worker = fixed->status.worker;
	SpinLockRelease(&fixed->status.mutex);
	if (worker != NULL)
		SetLatch(&worker->procLatch);
}

/*
 * on_dsm_detach callback of a segment whose launch has not finished.
 */
static void
launch_abandon_callback(dsm_segment *seg, Datum arg)
{
	launch_abandon((pgbg_fixed *) DatumGetPointer(arg));
}

/*
 * The launch has succeeded: let the worker run the job (it may be waiting
 * for this already, or read it when it gets there).
 */
static void
launch_go(dsm_segment *seg, pgbg_fixed *fixed)
{
	PGPROC	   *worker;

	cancel_on_dsm_detach(seg, launch_abandon_callback, PointerGetDatum(fixed));
	SpinLockAcquire(&fixed->status.mutex);
	fixed->status.go = true;
	worker = fixed->status.worker;
	SpinLockRelease(&fixed->status.mutex);
	if (worker != NULL)
		SetLatch(&worker->procLatch);
}

/*
 * Wait until the job's worker has connected to the database (its state is
 * no longer STARTING; it wakes us then) or has ended.
 */
static void
launch_wait_for_connect(pgbg_job *job)
{
	pgbg_wait	wait;
	pgbg_outcome outcome;

	pgbg_control_wait_begin(&wait);
	for (;;)
	{
		pgbg_session_outcome(job, &outcome);
		if (outcome.state != PGBG_STATE_STARTING || pgbg_control_finished(job))
			break;
		pgbg_control_sleep(&job, 1, &wait, -1);
	}
	pgbg_control_wait_end();
}

/*
 * Describe the dynamic background worker that runs the job in seg: its
 * directory entry (slot -1 without the directory) goes to bgw_extra, so
 * that the worker can close the entry even if it cannot map the segment.
 */
void
pgbg_launch_fill_worker(BackgroundWorker *worker, dsm_handle seg, int slot,
						uint64 seq, pid_t notify_pid)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_ConsistentState;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "pg_background");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "pg_background_worker_main");
	snprintf(worker->bgw_type, BGW_MAXLEN, PGBG_WORKER_TYPE);
	snprintf(worker->bgw_name, BGW_MAXLEN,
			 "pg_background worker for PID %d", MyProcPid);
	worker->bgw_main_arg = UInt32GetDatum(seg);
	worker->bgw_notify_pid = notify_pid;
	memcpy(worker->bgw_extra, &slot, sizeof(slot));
	memcpy(worker->bgw_extra + sizeof(slot), &seq, sizeof(seq));
}

/*
 * Register the dynamic background worker that will run the job in seg.
 * Returns NULL if no worker slot is free.
 */
static BackgroundWorkerHandle *
launch_register(dsm_segment *seg, int slot, uint64 seq)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	pgbg_launch_fill_worker(&worker, dsm_segment_handle(seg), slot, seq,
							MyProcPid);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

/*
 * No worker slot is free (and the job cannot be queued).
 */
static void
launch_no_slot(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("could not register background process"),
			 errdetail("All background worker slots are in use.  With pg_background in shared_preload_libraries, launches wait in a queue instead."),
			 errhint("You may need to increase max_worker_processes (currently %d).",
					 max_worker_processes)));
}

/*
 * Wait until the worker has attached to the queue, and return its PID.
 * If waiting fails (the worker could not start, or we were interrupted),
 * pgbg_launch abandons the launch: the worker, if it ever gets going,
 * runs nothing.
 */
static int32
launch_wait_for_attach(pgbg_fixed *fixed, shm_mq_handle *mqh)
{
	int32		pid;

	/*
	 * A fast job can attach, fail and detach before we look, which shm_mq
	 * reports as "detached"; the PID the worker wrote before attaching tells
	 * that case from a worker that never attached.
	 */
	if (shm_mq_wait_for_attach(mqh) != SHM_MQ_SUCCESS &&
		launch_worker_pid(fixed) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start background process"),
				 errdetail("The background worker exited before it attached to its queue."),
				 errhint("More details may be available in the server log.")));
	pid = launch_worker_pid(fixed);
	Assert(pid != 0);
	return pid;
}

/*
 * The PID the worker recorded in the segment, or 0 if it has not attached.
 */
static int32
launch_worker_pid(pgbg_fixed *fixed)
{
	int32		pid;

	SpinLockAcquire(&fixed->status.mutex);
	pid = fixed->status.worker_pid;
	SpinLockRelease(&fixed->status.mutex);
	return pid;
}
