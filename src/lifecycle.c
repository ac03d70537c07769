/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *		The life of a job of the shared job directory (preload mode): every
 *		change of a job's shared state is one of the transitions below.
 *
 *	  submit ──start now──────────────────► ACTIVE ──attached──► (runs)
 *		 │                                    ▲  │
 *		 └─queue─► QUEUED ──dispatch──────────┘  ├─end─► finished (ACTIVE,
 *				 (enqueue) │  ▲                │        exited; "held"
 *					  │  └──undispatch / requeue─┘        until results taken)
 *					  └──cancel──► CANCELED (finished)
 *	  restart: QUEUED or ACTIVE, not exited ──► LOST (directory.c, at load)
 *
 * A job starts at submit (pgbg_job_submit) when nothing is queued and the
 * limits allow it: its launcher builds its segment and starts (or hands
 * to the pool) its worker.  Otherwise it waits in the queue, holding no
 * segment: its launch stores the job's description (pgbg_job_enqueue, the
 * last step of the launch, before which the dispatcher passes the job
 * over), and the dispatcher (pgbg_job_dispatch) starts queued jobs in FIFO
 * order, a parked pool worker taking one where it can.  The worker of a
 * queued job builds the segment from the description (pgbg_job_spec), and
 * pgbg_job_attached frees the description and pins the segment until the
 * launcher maps it to read the results (pgbg_job_results,
 * pgbg_job_results_taken), or gives them up.  The worker of a job that
 * started at once maps its launcher's segment (pgbg_job_attached takes over
 * the pin of a job handed to the pool).  Either way it publishes its
 * outcome as it goes (pgbg_job_publish), and ends the job when it is done
 * or leaves (pgbg_job_worker_done, or its on_shmem_exit callback).  A job
 * whose worker never reached it ends through pgbg_job_vanished (the
 * dispatcher reaped the worker, or a parked worker left with a job handed
 * over), one whose launch failed through pgbg_job_abandon, and a queued
 * one through pgbg_job_cancel.
 *
 * An attempt of a durable job (durable_run.c) is admitted by its runner
 * (pgbg_job_submit_durable: ACTIVE at once, or refused and not recorded:
 * the job waits in its table, not in the queue), handed to a parked
 * worker of its role if there is one (pgbg_job_hand_attempt_to_pool), and
 * its worker goes through the worker's transitions like any other (no
 * segment, no results: it is submitted); an attempt whose worker was never
 * started is withdrawn (pgbg_job_withdraw).
 *
 * Each transition takes the directory's lock exclusively, checks the state
 * it starts from, changes the entry (the directory keeps its dense copy
 * and lists in step at unlock), and collects what must follow outside the
 * lock: releasing the segment's pin, waking waiters of other sessions, the
 * dispatcher and the launcher.  job_apply does those, in one place.  Every
 * ending goes through job_end, which records the reason (unless the job
 * recorded its own), releases the pin and wakes everybody concerned: no
 * exit path can forget one of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pg_background.h"

/* What a transition leaves to do once the lock is released. */
typedef struct job_effects
{
	bool		unpin;			/* dsm_unpin_segment(seg) */
	dsm_handle	seg;
	dsa_pointer free_spec;		/* a description to free, if valid */
	bool		ended;			/* a job ended: wake waiters */
	PGPROC	   *dispatcher;		/* set its latch, if not NULL */
	PGPROC	   *launcher;		/* set its latch, if not NULL */
	Latch	   *worker;			/* a parked worker handed a job: wake it */
} job_effects;

/* Whether the queue has room for one more job (job_queue_room). */
typedef enum job_queue_limit
{
	JOB_QUEUE_ROOM,
	JOB_QUEUE_FULL,				/* pg_background.max_queued */
	JOB_QUEUE_ROLE_FULL,		/* pg_background.max_queued_per_role */
	JOB_QUEUE_BYTES_FULL		/* pg_background.max_queued_bytes */
} job_queue_limit;

/* The job this process works on, if it is a worker of the directory. */
static int	job_my_slot = -1;
static uint64 job_my_seq = 0;

static void job_apply(job_effects *fx);
static void job_wake_dispatcher(job_effects *fx);
static bool job_may_start(Oid owner, Oid database);
static job_queue_limit job_queue_room(Oid owner, int64 spec_len,
									  int64 *count);
static void job_queue_full(job_queue_limit limit, int64 count, Oid owner);
static int32 job_pseudo_pid(uint64 seq);
static void job_pin(pgbg_dir_entry *e, dsm_segment *seg);
static void job_release_pin(pgbg_dir_entry *e, job_effects *fx);
static void job_end(pgbg_dir_entry *e, const char *sqlstate,
					const char *message, job_effects *fx);
static void job_worker_exit(int code, Datum arg);
static void job_pool_exit(int code, Datum arg);

/*
 * A job that is started (ACTIVE) but that no worker has reached yet: its
 * worker has not taken it, and has not exited either.  Such a job can still
 * be given back, withdrawn or handed to another worker.
 */
static inline bool
job_unreached(const pgbg_dir_entry *e)
{
	return e != NULL && e->state == PGBG_DIR_ACTIVE && !e->exited &&
		e->worker_pid == 0;
}

/*
 * Do what a transition left to do, after the lock is released.
 */
static void
job_apply(job_effects *fx)
{
	if (fx->unpin)
		dsm_unpin_segment(fx->seg);
	if (DsaPointerIsValid(fx->free_spec))
		pgbg_specstore_free(fx->free_spec);
	if (fx->ended)
		pgbg_dir_broadcast();
	if (fx->dispatcher != NULL)
		SetLatch(&fx->dispatcher->procLatch);
	if (fx->launcher != NULL)
		SetLatch(&fx->launcher->procLatch);
	if (fx->worker != NULL)
		SetLatch(fx->worker);
}

/*
 * Wake the dispatcher after this transition, if any job is queued (counted
 * before this transition's changes: the caller that queues a job sets
 * fx->dispatcher itself).  Caller holds the lock.
 */
static void
job_wake_dispatcher(job_effects *fx)
{
	int			nqueued;
	int			of_role;

	pgbg_dir_count_queued(InvalidOid, &nqueued, &of_role, NULL);
	if (nqueued > 0)
		fx->dispatcher = pgbg_dir_dispatcher();
}

/*
 * Would a worker for owner in database stay within the limits?  Counts the
 * workers admitted and not yet gone.  Caller holds the lock.
 */
static bool
job_may_start(Oid owner, Oid database)
{
	int			total;
	int			in_db;
	int			of_role;

	if (pgbg_max_total_workers < 0 && pgbg_max_workers_per_database < 0 &&
		pgbg_max_workers_per_role < 0)
		return true;
	pgbg_dir_count_active(owner, database, &total, &in_db, &of_role);
	if (pgbg_max_total_workers >= 0 && total >= pgbg_max_total_workers)
		return false;
	if (pgbg_max_workers_per_database >= 0 &&
		in_db >= pgbg_max_workers_per_database)
		return false;
	if (pgbg_max_workers_per_role >= 0 && of_role >= pgbg_max_workers_per_role)
		return false;
	return true;
}

/*
 * May one more job of owner, with a description of spec_len bytes, wait in
 * the queue (the server's limit, the role's share of it, and the bytes
 * queued jobs' descriptions take)?  If not, returns which limit is reached
 * and fills *count with what it counted, for job_queue_full.  Caller holds
 * the lock.
 */
static job_queue_limit
job_queue_room(Oid owner, int64 spec_len, int64 *count)
{
	int			nqueued;
	int			of_role;
	int64		bytes;

	pgbg_dir_count_queued(pgbg_max_queued_per_role >= 0 ? owner : InvalidOid,
						  &nqueued, &of_role, &bytes);
	*count = nqueued;
	if (nqueued >= pgbg_max_queued)
		return JOB_QUEUE_FULL;
	*count = of_role;
	if (pgbg_max_queued_per_role >= 0 && of_role >= pgbg_max_queued_per_role)
		return JOB_QUEUE_ROLE_FULL;
	*count = bytes;
	if (bytes + spec_len > (int64) pgbg_max_queued_bytes * 1024)
		return JOB_QUEUE_BYTES_FULL;
	return JOB_QUEUE_ROOM;
}

/*
 * Raise 53000 for a launch that found the queue full (job_queue_room).
 */
static void
job_queue_full(job_queue_limit limit, int64 count, Oid owner)
{
	const char *role;

	if (limit == JOB_QUEUE_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("too many pg_background jobs are queued"),
				 errdetail("%d jobs are waiting for a worker, the maximum set by pg_background.max_queued.",
						   (int) count),
				 errhint("Wait for queued jobs to start, or raise pg_background.max_queued, pg_background.max_total_workers or max_worker_processes.")));
	if (limit == JOB_QUEUE_BYTES_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("queued pg_background jobs reserve too much shared memory"),
				 errdetail("The jobs waiting for a worker take " INT64_FORMAT " bytes (their SQL, settings and parameters); one more would exceed pg_background.max_queued_bytes (%d kB).",
						   count, pgbg_max_queued_bytes),
				 errhint("Wait for queued jobs to start, or raise pg_background.max_queued_bytes.")));
	role = GetUserNameFromId(owner, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("too many pg_background jobs of role \"%s\" are queued",
					role ? role : "?"),
			 errdetail("%d jobs of this role are waiting for a worker, the maximum set by pg_background.max_queued_per_role.",
					   (int) count),
			 errhint("Wait for the role's queued jobs to start, or raise pg_background.max_queued_per_role.")));
}

/*
 * The number a queued job's handle carries instead of a PID: negative, so
 * that it can never be a process.
 */
static int32
job_pseudo_pid(uint64 seq)
{
	return -(int32) (seq % (uint64) PG_INT32_MAX) - 1;
}

/*
 * Keep a job's segment alive without its launcher, until a worker maps it
 * or the job ends.  Caller holds the lock.
 */
static void
job_pin(pgbg_dir_entry *e, dsm_segment *seg)
{
	Assert(!e->seg_pinned);
	dsm_pin_segment(seg);
	e->seg = dsm_segment_handle(seg);
	e->seg_pinned = true;
}

/*
 * Let go of the job's pin (once the lock is released), if it has one.
 */
static void
job_release_pin(pgbg_dir_entry *e, job_effects *fx)
{
	if (!e->seg_pinned)
		return;
	fx->unpin = true;
	fx->seg = e->seg;
	e->seg_pinned = false;
}

/*
 * The job is over, and no worker of it runs any more: record why, unless
 * the job recorded how it ended itself, release its pin, and wake waiters
 * and (since a worker's place may be free now) the dispatcher.
 */
static void
job_end(pgbg_dir_entry *e, const char *sqlstate, const char *message,
		job_effects *fx)
{
	e->exited = true;
	if (e->outcome.state < PGBG_STATE_DONE)
	{
		e->outcome.state = PGBG_STATE_ERROR;
		e->outcome.finished_at = GetCurrentTimestamp();
		strlcpy(e->outcome.sqlstate, sqlstate, sizeof(e->outcome.sqlstate));
		strlcpy(e->outcome.message, message, sizeof(e->outcome.message));
	}
	job_release_pin(e, fx);
	if (DsaPointerIsValid(e->spec))
	{
		fx->free_spec = e->spec;
		e->spec = InvalidDsaPointer;
		e->spec_len = 0;
	}
	fx->ended = true;
	job_wake_dispatcher(fx);
}

/* ---------------------------------------------------------------------
 * Transitions of a launcher
 * ---------------------------------------------------------------------
 */

/*
 * submit: record a new job and decide whether it may start now.  Returns
 * true if the caller should start its worker (the entry counts against the
 * limits from now on), false if the job is queued: *handle_pid is then its
 * pseudo-PID, and the job waits for its description (pgbg_job_enqueue)
 * before it can be dispatched.  proto->spec_len is the size of that
 * description.  Raises 53000 if the queue (or the role's share of it) or
 * the directory is full.
 */
bool
pgbg_job_submit(const pgbg_dir_entry *proto, int *slot, uint64 *seq,
				int32 *handle_pid)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;
	int			nqueued;
	int			of_role;
	bool		start;
	job_queue_limit limit = JOB_QUEUE_ROOM;
	int64		count;

	pgbg_dir_lock(LW_EXCLUSIVE);
	pgbg_dir_count_queued(InvalidOid, &nqueued, &of_role, NULL);
	start = (nqueued == 0 && job_may_start(proto->owner, proto->database));
	if (!start)
		limit = job_queue_room(proto->owner, proto->spec_len, &count);
	if (limit != JOB_QUEUE_ROOM)
	{
		pgbg_dir_unlock();
		job_queue_full(limit, count, proto->owner);
	}
	e = pgbg_dir_allocate(slot);
	if (e == NULL)
	{
		pgbg_dir_unlock();
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("the pg_background job directory is full"),
				 errdetail("All %d entries hold jobs that are queued or running.",
						   pgbg_max_jobs),
				 errhint("Raise pg_background.max_jobs (requires a restart) or wait for jobs to finish.")));
	}
	*seq = e->seq;
	*e = *proto;
	e->seq = *seq;
	e->state = start ? PGBG_DIR_ACTIVE : PGBG_DIR_QUEUED;
	e->handle_pid = *handle_pid = start ? 0 : job_pseudo_pid(e->seq);
	pgbg_dir_unlock();
	job_apply(&fx);
	return start;
}

/*
 * requeue: a job admitted to start could not register its worker (no free
 * worker slot): queue it instead, as submit would have (its launcher then
 * drops the segment it built and stores the description).  If the queue is
 * full, forget the job and raise 53000 (nothing ran).
 */
void
pgbg_job_requeue(int slot, uint64 seq, int32 *handle_pid)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;
	job_queue_limit limit;
	int64		count;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (e == NULL || e->state != PGBG_DIR_ACTIVE || e->exited)
	{
		pgbg_dir_unlock();
		elog(ERROR, "pg_background job %d:" UINT64_FORMAT " cannot be queued", slot, seq);
	}
	limit = job_queue_room(e->owner, e->spec_len, &count);
	if (limit != JOB_QUEUE_ROOM)
	{
		/* Forget the job: the launch fails, so nobody holds its handle. */
		Oid			owner = e->owner;

		e->state = PGBG_DIR_FREE;
		pgbg_dir_unlock();
		job_queue_full(limit, count, owner);
	}
	e->state = PGBG_DIR_QUEUED;
	e->handle_pid = *handle_pid = job_pseudo_pid(seq);
	/* Its worker builds a segment; not the one a pool attempt recorded. */
	e->seg = DSM_HANDLE_INVALID;
	pgbg_dir_unlock();
	job_apply(&fx);
}

/*
 * enqueue: the launch of a queued job has done everything else that could
 * fail: store the job's description, which lets the dispatcher start it
 * (and wake the dispatcher).  A job canceled meanwhile keeps none.  Raises
 * an error, the job left without description (the launch then abandons
 * it), if the store cannot hold it.
 */
void
pgbg_job_enqueue(int slot, uint64 seq, const pgbg_spec *spec)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;
	dsa_pointer p;

	p = pgbg_specstore_put(spec, pgbg_spec_size(spec));
	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (e != NULL && e->state == PGBG_DIR_QUEUED &&
		!DsaPointerIsValid(e->spec))
	{
		e->spec = p;
		fx.dispatcher = pgbg_dir_dispatcher();
	}
	else
		fx.free_spec = p;
	pgbg_dir_unlock();
	job_apply(&fx);
}

/*
 * May the launcher of a queued job map its results now?  READY: *seg is
 * the segment its worker built, held for us (map it, then
 * pgbg_job_results_taken).  WAIT: its worker has not built it yet.  NONE:
 * there is nothing to map (the job ended without running, or the entry is
 * gone).  With giving_up, the launcher will not wait for the results: a
 * worker that has not built its segment yet keeps no results (READY still
 * comes back if they are held already: the caller maps the segment to
 * leave its queue, and lets go of it).
 */
pgbg_results
pgbg_job_results(int slot, uint64 seq, bool giving_up, dsm_handle *seg)
{
	pgbg_dir_entry *e;
	pgbg_dir_entry copy;
	pgbg_results result;

	if (giving_up)
	{
		pgbg_dir_lock(LW_EXCLUSIVE);
		e = pgbg_dir_modify(slot, seq);
		if (e == NULL)
			result = PGBG_RESULTS_NONE;
		else if (e->results_held)
		{
			*seg = e->seg;
			result = PGBG_RESULTS_READY;
		}
		else
		{
			e->reader_gone = true;
			result = PGBG_RESULTS_NONE;
		}
		pgbg_dir_unlock();
		return result;
	}

	pgbg_dir_lock(LW_SHARED);
	if (!pgbg_dir_peek(slot, seq, &copy))
		result = PGBG_RESULTS_NONE;
	else if (copy.results_held)
	{
		*seg = copy.seg;
		result = PGBG_RESULTS_READY;
	}
	else if (copy.state == PGBG_DIR_QUEUED ||
			 (copy.state == PGBG_DIR_ACTIVE && !copy.exited))
		result = PGBG_RESULTS_WAIT;
	else
		result = PGBG_RESULTS_NONE;
	pgbg_dir_unlock();
	return result;
}

/*
 * results taken: the launcher has mapped the segment that the worker of
 * its queued job built (pgbg_job_results): its own mapping keeps the
 * segment from now on, so the pin goes.
 */
void
pgbg_job_results_taken(int slot, uint64 seq)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (e != NULL && e->results_held)
	{
		e->results_held = false;
		fx.unpin = true;
		fx.seg = e->seg;
	}
	pgbg_dir_unlock();
	job_apply(&fx);
}

/*
 * hand to pool: give a job admitted to start to a parked worker of its
 * database and session user, other than those skip rejects (see
 * pgbg_pool_claim).  Returns the worker's PID, which becomes the handle's,
 * or 0 if no parked worker took the job.
 */
int32
pgbg_job_hand_to_pool(int slot, uint64 seq, dsm_segment *seg,
					  bool (*skip) (int32 pid))
{
	job_effects fx = {0};
	pgbg_dir_entry *e;
	int32		pid = 0;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (e != NULL && e->state == PGBG_DIR_ACTIVE && !e->exited &&
		OidIsValid(e->session_user))
	{
		/* Pinned first: the launcher may leave before the worker maps it. */
		job_pin(e, seg);
		pid = pgbg_pool_claim(e->database, e->session_user, e->seg, slot,
							  seq, e->launcher_pid, skip, &fx.worker);
		if (pid != 0)
			e->handle_pid = pid;
		else
			job_release_pin(e, &fx);
	}
	pgbg_dir_unlock();
	job_apply(&fx);
	return pid;
}

/*
 * abandon: a launch failed before it returned (nobody holds the handle).
 * If no worker has mapped the segment yet, the job ends here, recorded as
 * not run, and a worker that comes later finds it over and does nothing;
 * a worker that has mapped it sees the launch abandoned in the segment,
 * runs nothing, and ends the job itself.
 */
void
pgbg_job_abandon(int slot, uint64 seq)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;

	if (!pgbg_dir_enabled())
		return;
	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (e != NULL && !e->exited)
	{
		e->canceled = true;
		if (e->worker_pid == 0)
		{
			if (e->state == PGBG_DIR_QUEUED)
				e->state = PGBG_DIR_CANCELED;
			job_end(e, "57014", PGBG_MSG_ABANDONED, &fx);
		}
	}
	pgbg_dir_unlock();
	job_apply(&fx);
}

/*
 * cancel: a queued job leaves the queue (state canceled); a job whose
 * worker has not mapped its segment yet will not run (see
 * pgbg_job_attached).  Returns true if the job has a running worker,
 * which the caller then signals with pgbg_job_signal.
 */
bool
pgbg_job_cancel(int slot, uint64 seq)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;
	bool		running = false;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (e != NULL)
	{
		e->canceled = true;
		if (e->state == PGBG_DIR_QUEUED)
		{
			e->state = PGBG_DIR_CANCELED;
			job_end(e, "57014", "canceling job while it was queued", &fx);
		}
		else if (e->state == PGBG_DIR_ACTIVE && !e->exited)
			running = (e->worker_pid != 0);
	}
	pgbg_dir_unlock();
	job_apply(&fx);
	return running;
}

/*
 * Send signo to the worker running the job, if it still runs it.  The
 * signal is sent under the directory's lock, which a worker takes to end
 * the job: so a worker that finished the job and went on to another one
 * from the pool is never signaled in the middle of that other job, and a
 * signal that arrives as the job ends is pending before the entry closes
 * (the worker clears a stray cancel then).  Returns whether a signal was
 * sent.
 */
bool
pgbg_job_signal(int slot, uint64 seq, int signo)
{
	pgbg_dir_entry copy;
	bool		sent = false;

	if (!pgbg_dir_enabled())
		return false;
	pgbg_dir_lock(LW_SHARED);
	if (pgbg_dir_peek(slot, seq, &copy) && copy.state == PGBG_DIR_ACTIVE &&
		!copy.exited && copy.worker_pid > 0)
		sent = (kill(copy.worker_pid, signo) == 0);
	pgbg_dir_unlock();
	return sent;
}

/* ---------------------------------------------------------------------
 * Transitions of the dispatcher
 * ---------------------------------------------------------------------
 */

/*
 * dispatch: take the oldest queued job that the limits let start off the
 * queue.  A parked worker of its database and session user gets it at
 * once (then the next one is looked at); otherwise it is returned (a copy,
 * and its slot) for the caller to start a worker, or to put back with
 * pgbg_job_undispatch.  Returns false when no queued job may start.
 */
bool
pgbg_job_dispatch(pgbg_dir_entry *job, int *slot)
{
	for (;;)
	{
		job_effects fx = {0};
		pgbg_dir_entry *e = NULL;
		int			i;
		bool		pooled = false;

		pgbg_dir_lock(LW_EXCLUSIVE);
		for (i = pgbg_dir_next_queued(-1); i >= 0; i = pgbg_dir_next_queued(i))
		{
			Oid			owner;
			Oid			database;
			uint64		seq;

			if (pgbg_dir_queued_job(i, &owner, &database, &seq) &&
				job_may_start(owner, database))
			{
				e = pgbg_dir_modify(i, seq);
				break;
			}
		}
		if (e != NULL)
		{
			e->state = PGBG_DIR_ACTIVE;
			pooled = OidIsValid(e->session_user) &&
				pgbg_pool_claim(e->database, e->session_user, e->seg, i,
								e->seq, e->launcher_pid, NULL,
								&fx.worker) != 0;
			*job = *e;
			*slot = i;
		}
		pgbg_dir_unlock();
		job_apply(&fx);
		if (e == NULL)
			return false;
		if (!pooled)
			return true;
	}
}

/*
 * undispatch: the dispatcher could not register a worker for a job it
 * took from the queue: put it back at its place (it keeps its sequence
 * number).  A job canceled meanwhile (pgbg_job_cancel found it out of the
 * queue, with no worker to signal) ends here instead, as a cancel of a
 * queued job does: back in the queue it would wait for a worker slot, and
 * so would the canceling session.
 */
void
pgbg_job_undispatch(int slot, uint64 seq)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (job_unreached(e))
	{
		if (e->canceled)
		{
			e->state = PGBG_DIR_CANCELED;
			job_end(e, "57014", "canceling job while it was queued", &fx);
		}
		else
			e->state = PGBG_DIR_QUEUED;
	}
	pgbg_dir_unlock();
	job_apply(&fx);
}

/*
 * vanished: a worker that was to run the job is gone.  If it never reached
 * the job (it could not start, failed before mapping the segment, or was a
 * parked worker that left with the job handed over), the job ends here.
 */
void
pgbg_job_vanished(int slot, uint64 seq)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (e != NULL && e->state == PGBG_DIR_ACTIVE && !e->exited)
		job_end(e, "53000",
				"background worker exited before it started its job", &fx);
	pgbg_dir_unlock();
	job_apply(&fx);
}

/* ---------------------------------------------------------------------
 * Transitions of a runner of durable jobs (durable_run.c)
 * ---------------------------------------------------------------------
 */

/*
 * submit (a durable attempt): a runner is about to start a worker for an
 * attempt of a durable job (proto: its owner, database, label).  Admitted
 * if the limits allow one more worker and no queued job that they allow
 * waits (the dispatcher starts that one first): the entry is recorded,
 * ACTIVE, and counts against the limits from now on, until its worker has
 * gone (the worker's transitions end it) or it is withdrawn.  Refused
 * otherwise, or when the directory is full: nothing is recorded, the
 * attempt stays due, and the runner asks again later.  Returns whether it
 * was admitted (*slot and *seq name the entry then).
 */
bool
pgbg_job_submit_durable(const pgbg_dir_entry *proto, int *slot, uint64 *seq)
{
	pgbg_dir_entry *e = NULL;
	bool		admit;
	int			i;

	pgbg_dir_lock(LW_EXCLUSIVE);
	admit = job_may_start(proto->owner, proto->database);
	for (i = pgbg_dir_next_queued(-1); admit && i >= 0;
		 i = pgbg_dir_next_queued(i))
	{
		Oid			owner;
		Oid			database;
		uint64		queued_seq;

		if (pgbg_dir_queued_job(i, &owner, &database, &queued_seq) &&
			job_may_start(owner, database))
			admit = false;
	}
	if (admit)
		e = pgbg_dir_allocate(slot);
	if (e != NULL)
	{
		*seq = e->seq;
		*e = *proto;
		e->seq = *seq;
		e->state = PGBG_DIR_ACTIVE;
		e->handle_pid = 0;		/* the worker's PID, once it attached */
	}
	pgbg_dir_unlock();
	return e != NULL;
}

/*
 * hand to pool (a durable attempt): give an admitted attempt whose worker
 * has not started to a worker parked in the pool, connected to the
 * attempt's database as its role.  Returns the worker's PID, which the
 * entry shows from now on, or 0 if none was parked (the runner starts a
 * worker).
 */
int32
pgbg_job_hand_attempt_to_pool(const pgbg_durable_claimed *attempt)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;
	int32		pid = 0;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(attempt->dir_slot, attempt->dir_seq);
	if (job_unreached(e) && e->session_user == attempt->owner)
	{
		pid = pgbg_pool_claim_attempt(e->database, attempt, &fx.worker);
		if (pid != 0)
			e->handle_pid = pid;
	}
	pgbg_dir_unlock();
	job_apply(&fx);
	return pid;
}

/*
 * withdraw: the worker of an admitted durable attempt was never started
 * (no worker slot was free, or the runner's transaction failed, or the
 * runner is leaving): the entry goes, as if the attempt had never been
 * admitted, and its place under the limits is free again.  An entry that
 * a worker reached is left to that worker.
 */
void
pgbg_job_withdraw(int slot, uint64 seq)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;

	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(slot, seq);
	if (job_unreached(e))
	{
		e->state = PGBG_DIR_FREE;
		job_wake_dispatcher(&fx);
	}
	pgbg_dir_unlock();
	job_apply(&fx);
}

/* ---------------------------------------------------------------------
 * Transitions of a worker
 * ---------------------------------------------------------------------
 */

/*
 * This worker is about to run job seq of slot (from bgw_extra, or handed
 * over in the pool): note it, so that the job ends however the process
 * ends.  Called before anything can fail.
 */
void
pgbg_job_worker_begin(int slot, uint64 seq)
{
	static bool registered = false;

	if (!pgbg_dir_enabled() || slot < 0)
		return;
	job_my_slot = slot;
	job_my_seq = seq;
	if (!registered)
	{
		on_shmem_exit(job_worker_exit, (Datum) 0);
		registered = true;
	}
}

/*
 * The description of this worker's job, which it builds the job's segment
 * from (a queued job); NULL if the job has none (it is over already).
 * Stays valid until pgbg_job_attached.
 */
const pgbg_spec *
pgbg_job_spec(void)
{
	pgbg_dir_entry copy;
	dsa_pointer p = InvalidDsaPointer;

	if (job_my_slot < 0)
		return NULL;
	pgbg_dir_lock(LW_SHARED);
	if (pgbg_dir_peek(job_my_slot, job_my_seq, &copy) &&
		copy.state == PGBG_DIR_ACTIVE && !copy.exited)
		p = copy.spec;
	pgbg_dir_unlock();
	return DsaPointerIsValid(p) ? pgbg_specstore_get(p) : NULL;
}

/*
 * attached: the worker has mapped the job's segment (or built it, built
 * not NULL, for a queued job): record its PID (which becomes the handle's
 * PID for a job that started at once) and take over the segment from the
 * pin.  A segment built here replaces the job's description, and is
 * pinned for the launcher to map (pgbg_job_results) unless the launcher
 * wants no results (*unread is then set: the worker sends nothing).
 * Returns what the worker is to do: run the job, or stop because it was
 * canceled meanwhile, or because it is over already (abandoned by its
 * launch).  The launcher's latch is set when its results can be mapped.
 * That the job ended, its launcher learns as every waiter does, from the
 * directory's condition variable (pgbg_dir_prepare_wait): the postmaster
 * tells only the process that registered a worker, which for a queued job
 * is the dispatcher, and for a pooled one nobody.
 */
pgbg_attach_result
pgbg_job_attached(PGPROC *launcher, dsm_segment *built, bool *unread)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;
	pgbg_attach_result result = PGBG_ATTACH_RUN;

	if (job_my_slot < 0)
		return PGBG_ATTACH_RUN;
	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(job_my_slot, job_my_seq);
	if (e == NULL || e->exited)
		result = PGBG_ATTACH_GONE;
	else
	{
		e->worker_pid = MyProcPid;
		if (e->handle_pid == 0)
			e->handle_pid = MyProcPid;
		if (e->canceled)
			result = PGBG_ATTACH_CANCELED;
		job_release_pin(e, &fx);
		if (built != NULL)
		{
			e->seg = dsm_segment_handle(built);
			fx.free_spec = e->spec;
			e->spec = InvalidDsaPointer;
			e->spec_len = 0;
			if (e->submitted || e->reader_gone)
				*unread = true;
			else
			{
				dsm_pin_segment(built);
				e->results_held = true;
				fx.launcher = launcher;
			}
		}
	}
	pgbg_dir_unlock();
	job_apply(&fx);
	if (result == PGBG_ATTACH_GONE)
		job_my_slot = -1;		/* nothing of ours to end */
	return result;
}

/*
 * publish: copy the worker's outcome into its entry (statement ends,
 * progress, the final state); waiters of other sessions are woken when the
 * job ends (pgbg_job_worker_done or the process's exit).
 */
void
pgbg_job_publish(const pgbg_outcome *outcome)
{
	if (job_my_slot < 0)
		return;
	pgbg_dir_publish(job_my_slot, job_my_seq, outcome);
}

/*
 * end (by the worker): the worker is done with its job, because it stays
 * in the pool for another one, or because the process is leaving (then
 * its pg_stat_activity entry is already gone, so the limits hold as that
 * view shows them).  Records an error if the job never ended (for
 * instance, its segment could not be mapped).
 */
void
pgbg_job_worker_done(void)
{
	job_effects fx = {0};
	pgbg_dir_entry *e;

	if (job_my_slot < 0)
		return;
	pgbg_dir_lock(LW_EXCLUSIVE);
	e = pgbg_dir_modify(job_my_slot, job_my_seq);
	if (e != NULL && !e->exited)
		job_end(e, "08006", "background worker exited before finishing its job",
				&fx);
	pgbg_dir_unlock();
	job_my_slot = -1;

	/*
	 * Whoever waits for the job sleeps on the directory's condition
	 * variable, which this wakes; the launcher is not woken by name (it may
	 * have detached the job long ago, and a wake-up costs it a turn).
	 */
	fx.ended = true;
	job_apply(&fx);
}

/*
 * on_shmem_exit of a worker: end its job (see pgbg_job_worker_done).
 */
static void
job_worker_exit(int code, Datum arg)
{
	/* An error that skipped a transition's unlock must not hang us here. */
	LWLockReleaseAll();
	pgbg_job_worker_done();
}

/*
 * A worker that is done and may be reused reserves a place in the pool
 * (pool.c); false if the pool is off or full.  A job handed to it that it
 * never takes ends when the process leaves.
 */
bool
pgbg_job_pool_reserve(void)
{
	static bool registered = false;

	if (!pgbg_pool_reserve(MyDatabaseId, GetAuthenticatedUserId()))
		return false;
	if (!registered)
	{
		on_shmem_exit(job_pool_exit, (Datum) 0);
		registered = true;
	}
	return true;
}

/*
 * on_shmem_exit of a pooled worker: leave the pool; a job that was handed
 * over and never taken ends (vanished).  So does the entry of a durable
 * attempt handed over, whose slot is given up as by a worker that stops
 * during its attempt: the job's runner claims the job again.
 */
static void
job_pool_exit(int code, Datum arg)
{
	pgbg_pool_task task;

	LWLockReleaseAll();			/* as in job_worker_exit */
	if (pgbg_pool_leave(&task))
	{
		pgbg_job_vanished(task.dir_slot, task.dir_seq);
		if (task.durable)
			pgbg_durable_slot_done(&task.attempt);
	}
}
