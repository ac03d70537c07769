/*-------------------------------------------------------------------------
 *
 * pool.c
 *		The warm worker pool (preload mode, pg_background.pool_size > 0).
 *
 * A worker that has finished its job without error resets its session
 * (as DISCARD ALL does: temporary tables, prepared statements, advisory
 * locks, LISTEN, settings, role) and parks here, connected, for up to
 * pg_background.pool_idle_timeout.  A launch whose database and session
 * user match hands its segment to a parked worker instead of starting a
 * process: no fork, no connection, no cache warm-up.  So does the runner
 * of durable jobs with an attempt of a job of the worker's user (a worker
 * that ran an attempt parks as any other).  Each job still runs
 * in fresh transactions with the launcher's GUC state, role and security
 * context, restored from the segment as for a new worker.
 *
 * The pool never keeps a worker slot that a queued job needs: when the
 * dispatcher cannot register a worker, it asks a parked worker to leave.
 *
 * State lives in a small array in shared memory under a spinlock; a slot
 * goes FREE -> RESERVED (a worker will park, once its session is reset)
 * -> IDLE (parked) -> ASSIGNED (a launcher hands it a job) -> BUSY (the
 * worker runs the job, and keeps its place) -> RESERVED again, or to FREE
 * when the worker leaves; IDLE -> EXIT (asked to leave) -> FREE.
 *
 * A parked worker sleeps on its slot's latch, not on its process latch:
 * whoever hands it a job, or asks it to leave, sets the slot's latch.  Its
 * process latch is also set by others for reasons that are over by then
 * (a launcher that leaves the queue of the job the worker has finished
 * sets it, as shm_mq_detach does for the other side): set while the worker
 * sleeps on another latch, it costs no signal and no wake-up (PostgreSQL 14
 * and later signal a latch's owner only while it waits on that latch).
 * While parked, MyLatch points at the slot's latch, so that the signal
 * handlers (termination, reload) wake the worker there.
 *
 * A launch that finds no parked worker while one of its database and
 * session user is about to park (resetting its session, or running a job
 * that began less than POOL_AWAIT_MS ago) waits for it, for at most
 * POOL_AWAIT_MS, instead of starting a process: under a stream of short
 * jobs the pool's workers take them in turn, and launches wait for them as
 * callers of a kept connection do, instead of forking a worker per job (a
 * fork costs more than many short jobs).  Long jobs do not hold launches
 * up: their workers do not count as about to park.  Waiting launches are
 * listed (waiters); a worker that parks wakes one of its database and
 * session user.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/ps_status.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_compat.h"

typedef enum pool_state
{
	POOL_FREE = 0,
	POOL_RESERVED,				/* resetting its session, not yet idle */
	POOL_IDLE,
	POOL_ASSIGNED,
	POOL_BUSY,					/* running the job it was handed */
	POOL_EXIT
} pool_state;

typedef struct pool_slot
{
	pool_state	state;
	int32		pid;
	Oid			database;
	Oid			session_user;
	/* The job (or durable attempt) handed over (ASSIGNED). */
	pgbg_pool_task task;
	TimestampTz busy_since;		/* when it took its job (BUSY) */
	Latch		latch;			/* owned by the slot's worker; it parks on it */
} pool_slot;

/* A launch waiting for a worker to park (pgbg_pool_await). */
typedef struct pool_waiter
{
	PGPROC	   *proc;			/* NULL: unused */
	Oid			database;
	Oid			session_user;
	bool		woken;			/* a parking worker set its latch */
} pool_waiter;

#define POOL_WAITERS		64

typedef struct pool_shared
{
	slock_t		mutex;
	uint64		parks;			/* how many times a worker went IDLE */
	pool_slot	slots[PGBG_POOL_MAX];
	pool_waiter waiters[POOL_WAITERS];
} pool_shared;

/*
 * How long a launch waits for a worker about to park, and how long a job
 * may have run for its worker to count as about to park.
 */
#define POOL_AWAIT_MS		5
#define POOL_AWAIT_TEST_MS	60000

/* GUCs. */
int			pgbg_pool_size = 0;
int			pgbg_pool_idle_timeout = 60;

static pool_shared *pool = NULL;
static int	pool_my_slot = -1;
static bool pool_on_slot_latch = false; /* MyLatch is our slot's latch */

static bool pool_over_size(void);
static int	pool_used_locked(void);
static bool pool_has_room(int used, Oid database, Oid session_user);
static void pool_leave_if_idle(void);
static int	pool_waiters_to_wake(Oid database, Oid session_user, bool all,
								 PGPROC **procs);
static void pool_wake(int n, PGPROC **procs);
static int32 pool_claim(Oid database, Oid session_user,
						const pgbg_pool_task *task, int32 launcher,
						bool (*skip) (int32 pid), Latch **wake);
static void pool_free_my_slot(pool_slot *s);
static void pool_use_slot_latch(bool on);
static void pool_exit_latch(int code, Datum arg);

/*
 * Are more workers parked than pg_background.pool_size allows now?
 */
static bool
pool_over_size(void)
{
	int			used;

	SpinLockAcquire(&pool->mutex);
	used = pool_used_locked();
	SpinLockRelease(&pool->mutex);
	return used > pgbg_pool_size;
}

/*
 * How many places are taken.  Caller holds the spinlock.
 */
static int
pool_used_locked(void)
{
	int			used = 0;
	int			i;

	for (i = 0; i < PGBG_POOL_MAX; i++)
		if (pool->slots[i].state != POOL_FREE)
			used++;
	return used;
}

/*
 * The pool was made smaller: mark this worker's slot to be left (unless a
 * job was handed over) if the places not being left yet are still more
 * than pool_size.  Decided under the spinlock, one parked worker after the
 * other, so that as many leave as the new size asks, not every one that
 * saw the pool over its size.
 */
static void
pool_leave_if_idle(void)
{
	int			staying = 0;
	int			i;

	SpinLockAcquire(&pool->mutex);
	for (i = 0; i < PGBG_POOL_MAX; i++)
		if (pool->slots[i].state != POOL_FREE &&
			pool->slots[i].state != POOL_EXIT)
			staying++;
	if (staying > pgbg_pool_size &&
		pool->slots[pool_my_slot].state == POOL_IDLE)
		pool->slots[pool_my_slot].state = POOL_EXIT;
	SpinLockRelease(&pool->mutex);
}

/*
 * May one more worker of database and session_user park, used places
 * being taken?  Up to pg_background.pool_size; beyond it (up to
 * PGBG_POOL_MAX) while launches wait for a worker like it: the pool grows
 * while there is a backlog, and shrinks back once workers over the size
 * stay idle for POOL_SURPLUS_IDLE_MS.  Caller holds the spinlock.
 */
static bool
pool_has_room(int used, Oid database, Oid session_user)
{
	int			i;

	if (pgbg_pool_size <= 0 || used >= PGBG_POOL_MAX)
		return false;
	if (used < pgbg_pool_size)
		return true;
	for (i = 0; i < POOL_WAITERS; i++)
		if (pool->waiters[i].proc != NULL &&
			pool->waiters[i].database == database &&
			pool->waiters[i].session_user == session_user)
			return true;
	return false;
}

/*
 * Pick the launches waiting for a worker of database and session_user to
 * wake: one not woken yet (a worker parked), or all of them
 * (one that was about to park leaves: they need not wait for it).  Fills
 * procs; the caller, holding the spinlock, sets their latches once it has
 * released it (pool_wake).
 */
static int
pool_waiters_to_wake(Oid database, Oid session_user, bool all,
					 PGPROC **procs)
{
	int			n = 0;
	int			i;

	for (i = 0; i < POOL_WAITERS; i++)
	{
		pool_waiter *w = &pool->waiters[i];

		if (w->proc == NULL || w->database != database ||
			w->session_user != session_user || (w->woken && !all))
			continue;
		w->woken = true;
		procs[n++] = w->proc;
		if (!all)
			break;
	}
	return n;
}

/*
 * Set the latches that pool_waiters_to_wake chose.
 */
static void
pool_wake(int n, PGPROC **procs)
{
	int			i;

	for (i = 0; i < n; i++)
		SetLatch(&procs[i]->procLatch);
}

/*
 * Define the pool's settings (from _PG_init).
 */
void
pgbg_pool_define_gucs(void)
{
	DefineCustomIntVariable("pg_background.pool_size",
							"Number of idle workers kept connected for reuse (0: no pool).",
							"Only with shared_preload_libraries.",
							&pgbg_pool_size, 0, 0, PGBG_POOL_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.pool_idle_timeout",
							"How long an idle pooled worker waits for a job before it exits.",
							NULL, &pgbg_pool_idle_timeout, 60, 1, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

Size
pgbg_pool_shmem_size(void)
{
	return sizeof(pool_shared);
}

/*
 * Create or attach to the pool's shared state (from the shmem startup hook,
 * under AddinShmemInitLock).
 */
void
pgbg_pool_shmem_init(void)
{
	bool		found;

	pool = ShmemInitStruct("pg_background pool", sizeof(pool_shared), &found);
	if (!found)
	{
		int			i;

		memset(pool, 0, sizeof(pool_shared));
		SpinLockInit(&pool->mutex);
		for (i = 0; i < PGBG_POOL_MAX; i++)
			InitSharedLatch(&pool->slots[i].latch);
	}
}

/*
 * Reserve a place in the pool for this worker, connected to database as
 * session_user; false if the pool is off or full (the worker then exits).
 * The worker resets its session, then calls pgbg_pool_park.  Whoever
 * reserves calls pgbg_pool_leave when the process exits (lifecycle.c).
 */
bool
pgbg_pool_reserve(Oid database, Oid session_user)
{
	int			used;
	int			i;
	PGPROC	   *procs[POOL_WAITERS];
	int			nwake = 0;
	bool		newly = false;

	if (pool == NULL)
		return false;

	SpinLockAcquire(&pool->mutex);
	used = pool_used_locked();
	if (pool_my_slot >= 0)
	{
		/*
		 * A pooled worker that ran a job keeps its place (one beyond
		 * pool_size leaves once it stays idle), unless the pool was turned
		 * off meanwhile (then launches waiting for it start workers).
		 */
		pool_slot  *s = &pool->slots[pool_my_slot];

		Assert(s->state == POOL_BUSY);
		if (pgbg_pool_size > 0)
			s->state = POOL_RESERVED;
		else
		{
			pool_free_my_slot(s);
			pool_my_slot = -1;
			nwake = pool_waiters_to_wake(database, session_user, true, procs);
		}
	}
	else if (pool_has_room(used, database, session_user))
	{
		for (i = 0; i < PGBG_POOL_MAX; i++)
			if (pool->slots[i].state == POOL_FREE)
				break;
		pool->slots[i].state = POOL_RESERVED;
		pool->slots[i].pid = MyProcPid;
		pool->slots[i].database = database;
		pool->slots[i].session_user = session_user;
		pool_my_slot = i;
		newly = true;
	}
	SpinLockRelease(&pool->mutex);
	/* Nobody sets the latch of a reserved slot: it is ours from now on. */
	if (newly)
	{
		static bool exit_registered = false;

		OwnLatch(&pool->slots[pool_my_slot].latch);
		if (!exit_registered)
			before_shmem_exit(pool_exit_latch, (Datum) 0);
		exit_registered = true;
	}
	pool_wake(nwake, procs);
	return pool_my_slot >= 0;
}

/*
 * Make MyLatch our slot's latch (on), or our process latch again (off).
 * Switching back sets the process latch, as core's SwitchToSharedLatch
 * does: a signal handler that ran meanwhile set the other one, and the
 * next wait must not sleep through it; switching to the slot's latch sets
 * that one if the process latch is set or an interrupt is pending.
 * Switched back first thing when the process exits (pool_exit_latch).
 */
static void
pool_use_slot_latch(bool on)
{
	if (on && !pool_on_slot_latch)
	{
		MyLatch = &pool->slots[pool_my_slot].latch;
		/* An interrupt that set the process latch must not wait. */
		if (MyProc->procLatch.is_set || InterruptPending)
			SetLatch(MyLatch);
	}
	else if (!on && pool_on_slot_latch)
	{
		MyLatch = &MyProc->procLatch;
		SetLatch(MyLatch);
	}
	pool_on_slot_latch = on;
}

/*
 * before_shmem_exit: a worker that exits while parked takes its process
 * latch back before anything else runs at exit, where core's waits (a
 * condition variable's sleep) expect to be woken through it.
 */
static void
pool_exit_latch(int code, Datum arg)
{
	pool_use_slot_latch(false);
}

/*
 * This worker gives up its place: the slot is free, and its latch has no
 * owner, for the next worker that takes the slot.  Caller holds the
 * spinlock (disowning a latch is a plain store).
 */
static void
pool_free_my_slot(pool_slot *s)
{
	s->state = POOL_FREE;
	if (s->latch.owner_pid == MyProcPid)
		DisownLatch(&s->latch);
}

/* How long a parked worker waits before it trims its free memory. */
#define POOL_TRIM_AFTER_MS		100

/* How long a worker beyond pool_size stays parked. */
#define POOL_SURPLUS_IDLE_MS	1000

/*
 * Park this worker (it has reserved its place) until a launcher hands it a
 * job, or a durable job's runner an attempt (returns true with *task) or
 * it should leave: the idle timeout passed, or the dispatcher needs its
 * slot (returns false).
 */
bool
pgbg_pool_park(pgbg_pool_task *task)
{
	TimestampTz parked_at = GetCurrentTimestamp();
	bool		got = false;
	bool		trimmed = false;

	PGPROC	   *procs[POOL_WAITERS];
	int			nwake;
	pool_slot  *me;

	Assert(pool_my_slot >= 0);
	me = &pool->slots[pool_my_slot];
	/* From now on, who wants us sets the slot's latch (see above). */
	pool_use_slot_latch(true);
	SpinLockAcquire(&pool->mutex);
	me->state = POOL_IDLE;
	pool->parks++;
	/* A launch waiting for a worker like us claims us. */
	nwake = pool_waiters_to_wake(me->database, me->session_user, false, procs);
	SpinLockRelease(&pool->mutex);
	pool_wake(nwake, procs);

	/* Tell parked workers apart from finished ones in ps and top. */
	pgstat_report_activity(STATE_IDLE, NULL);
	set_ps_display("idle in pool");
	for (;;)
	{
		pool_slot  *s = me;
		long		left;
		long		limit;
		bool		surplus;
		bool		leave = false;
		TimestampTz now = GetCurrentTimestamp();

		/*
		 * A reload applies to parked workers too: the pool may have shrunk
		 * (or been turned off), and the idle timeout changed.
		 */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* What a new session would start with now (settings.c). */
			pgbg_settings_note_fresh();
			if (pool_over_size())
				pool_leave_if_idle();
		}

		nwake = 0;
		SpinLockAcquire(&pool->mutex);
		if (s->state == POOL_ASSIGNED)
		{
			/* Take the job; the place stays ours while it runs. */
			*task = s->task;
			s->state = POOL_BUSY;
			s->busy_since = now;
			got = true;
		}
		else if (s->state == POOL_EXIT)
		{
			pool_free_my_slot(s);
			nwake = pool_waiters_to_wake(s->database, s->session_user, true,
										 procs);
			leave = true;
		}
		SpinLockRelease(&pool->mutex);
		pool_wake(nwake, procs);
		if (got || leave)
			break;

		/* A worker beyond pool_size (the pool grew) leaves sooner. */
		surplus = pool_over_size();
		limit = (long) pgbg_pool_idle_timeout * 1000;
		if (surplus && limit > POOL_SURPLUS_IDLE_MS)
			limit = POOL_SURPLUS_IDLE_MS;
		left = limit - TimestampDifferenceMilliseconds(parked_at, now);
		if (left <= 0)
		{
			/*
			 * Leave, unless a job was handed over meanwhile (or, for a
			 * surplus worker, others left first).
			 */
			SpinLockAcquire(&pool->mutex);
			if ((s->state == POOL_IDLE || s->state == POOL_EXIT) &&
				(!surplus || limit == (long) pgbg_pool_idle_timeout * 1000 ||
				 pool_used_locked() > pgbg_pool_size))
			{
				pool_free_my_slot(s);
				leave = true;
			}
			SpinLockRelease(&pool->mutex);
			if (leave)
				break;
			continue;
		}

		/*
		 * An idle worker should cost little memory: give malloc's free memory
		 * back to the system once it has been parked for a moment, not after
		 * every job (the next job would fault those pages in again).
		 */
		if (!trimmed && left > POOL_TRIM_AFTER_MS)
			left = POOL_TRIM_AFTER_MS;
		if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					  left, PG_WAIT_EXTENSION) & WL_TIMEOUT)
		{
			if (!trimmed)
				pgbg_release_free_memory();
			trimmed = true;
		}
		ResetLatch(MyLatch);
		/* A cancel meant for the previous job must not stop this worker. */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
	}
	pool_use_slot_latch(false);
	if (!got)
		pool_my_slot = -1;
	return got;
}

/*
 * A pooled worker is leaving: free its place.  Returns true, with *task,
 * if a job (or durable attempt) was handed over that it never took (the
 * caller records that it ended).
 */
bool
pgbg_pool_leave(pgbg_pool_task *task)
{
	pool_slot  *s;
	bool		orphan = false;
	PGPROC	   *procs[POOL_WAITERS];
	int			nwake;

	/* pool_exit_latch gave the process latch back already. */
	Assert(!pool_on_slot_latch);
	if (pool_my_slot < 0)
		return false;
	s = &pool->slots[pool_my_slot];
	SpinLockAcquire(&pool->mutex);
	if (s->state == POOL_ASSIGNED)
	{
		orphan = true;
		*task = s->task;
	}
	pool_free_my_slot(s);
	/* Launches waiting for us start workers instead. */
	nwake = pool_waiters_to_wake(s->database, s->session_user, true, procs);
	SpinLockRelease(&pool->mutex);
	pool_wake(nwake, procs);
	pool_my_slot = -1;
	return orphan;
}

/*
 * Is a worker of database and session_user parked?  A hint only (no lock):
 * pgbg_pool_claim decides.
 */
bool
pgbg_pool_has_idle(Oid database, Oid session_user)
{
	int			i;

	if (pool == NULL || pgbg_pool_size <= 0)
		return false;
	for (i = 0; i < PGBG_POOL_MAX; i++)
	{
		pool_slot  *s = &pool->slots[i];

		if (s->state == POOL_IDLE && s->database == database &&
			s->session_user == session_user)
			return true;
	}
	return false;
}

/*
 * Hand the job (segment seg, directory entry dir_slot/dir_seq) to a parked
 * worker of database and session_user, other than the process launcher
 * (a worker that launched the job must not receive it: it still has the
 * segment mapped) and other than those for which skip (if not NULL) says
 * so; skip is called without the spinlock held.  Returns the worker's PID,
 * or 0 if there is none.  The segment must be pinned: the launcher may
 * leave before the worker maps it.
 *
 * The worker is not woken here: *wake is set to its slot's latch, which
 * the caller sets once it has released its locks (callers hold the
 * directory's lock, and a wake-up is a system call that may switch to the
 * worker at once).  A worker woken late, or for another reason first,
 * still finds the job in its slot.
 */
int32
pgbg_pool_claim(Oid database, Oid session_user, dsm_handle seg,
				int dir_slot, uint64 dir_seq, int32 launcher,
				bool (*skip) (int32 pid), Latch **wake)
{
	pgbg_pool_task task;

	memset(&task, 0, sizeof(task));
	task.seg = seg;
	task.dir_slot = dir_slot;
	task.dir_seq = dir_seq;
	return pool_claim(database, session_user, &task, launcher, skip, wake);
}

/*
 * Hand an attempt of a durable job (admitted: its entry of the directory
 * is attempt->dir_slot/dir_seq) to a parked worker of database connected
 * as the job's role.  Returns the worker's PID, or 0 if there is none;
 * *wake as for pgbg_pool_claim.
 */
int32
pgbg_pool_claim_attempt(Oid database, const pgbg_durable_claimed *attempt,
						Latch **wake)
{
	pgbg_pool_task task;

	memset(&task, 0, sizeof(task));
	task.durable = true;
	task.seg = DSM_HANDLE_INVALID;
	task.dir_slot = attempt->dir_slot;
	task.dir_seq = attempt->dir_seq;
	task.attempt = *attempt;
	return pool_claim(database, attempt->owner, &task, 0, NULL, wake);
}

/*
 * Hand task to a parked worker of database and session_user (see
 * pgbg_pool_claim: the caller wakes *wake).
 */
static int32
pool_claim(Oid database, Oid session_user, const pgbg_pool_task *task,
		   int32 launcher, bool (*skip) (int32 pid), Latch **wake)
{
	bool		skipped[PGBG_POOL_MAX] = {0};
	int			i;

	*wake = NULL;
	if (pool == NULL)
		return 0;
	for (;;)
	{
		int			candidate = -1;
		int32		pid = 0;
		Latch	   *latch = NULL;

		SpinLockAcquire(&pool->mutex);
		for (i = 0; i < PGBG_POOL_MAX && candidate < 0; i++)
		{
			pool_slot  *s = &pool->slots[i];

			if (!skipped[i] && s->state == POOL_IDLE &&
				s->database == database && s->session_user == session_user &&
				s->pid != launcher)
			{
				candidate = i;
				pid = s->pid;
			}
		}
		SpinLockRelease(&pool->mutex);
		if (candidate < 0)
			return 0;
		skipped[candidate] = true;
		if (skip != NULL && skip(pid))
			continue;

		/* Claim it, unless another launcher was quicker. */
		SpinLockAcquire(&pool->mutex);
		if (pool->slots[candidate].state == POOL_IDLE &&
			pool->slots[candidate].pid == pid)
		{
			pool_slot  *s = &pool->slots[candidate];

			s->state = POOL_ASSIGNED;
			s->task = *task;
			latch = &s->latch;
		}
		SpinLockRelease(&pool->mutex);
		if (latch != NULL)
		{
			*wake = latch;
			return pid;
		}
	}
}

/*
 * How many times a worker has parked, for pgbg_pool_await: a launch notes
 * it before it looks for a parked worker.
 */
uint64
pgbg_pool_parks(void)
{
	uint64		parks;

	if (pool == NULL)
		return 0;
	SpinLockAcquire(&pool->mutex);
	parks = pool->parks;
	SpinLockRelease(&pool->mutex);
	return parks;
}

/*
 * A launch found no parked worker of database and session_user that would
 * take its job (parks: pgbg_pool_parks before it looked).  If one of them
 * is about to park, wait for a worker to park, at most POOL_AWAIT_MS from
 * *since (set on the first call), and return true: the launch looks again.
 * Return false if waiting is pointless (none is about to park, the time is
 * up, too many launches wait): the launch starts a worker.  unbounded
 * (a test's fault point): every worker of database and session_user counts
 * as about to park, and the wait lasts up to POOL_AWAIT_TEST_MS.
 */
bool
pgbg_pool_await(Oid database, Oid session_user, uint64 parks,
				TimestampTz *since, bool unbounded)
{
	TimestampTz now = GetCurrentTimestamp();
	long		left;
	bool		soon = false;
	bool		parked;
	int			i;
	int			me = -1;

	if (pool == NULL || pgbg_pool_size <= 0)
		return false;
	if (*since == 0)
		*since = now;
	left = (unbounded ? POOL_AWAIT_TEST_MS : POOL_AWAIT_MS) -
		TimestampDifferenceMilliseconds(*since, now);
	if (left <= 0)
		return false;

	SpinLockAcquire(&pool->mutex);
	parked = (pool->parks != parks);
	for (i = 0; i < PGBG_POOL_MAX && !parked && !soon; i++)
	{
		pool_slot  *s = &pool->slots[i];

		if (s->database != database || s->session_user != session_user)
			continue;
		if (s->state == POOL_RESERVED || s->state == POOL_ASSIGNED)
			soon = true;
		else if (s->state == POOL_BUSY &&
				 (unbounded ||
				  !TimestampDifferenceExceeds(s->busy_since, now,
											  POOL_AWAIT_MS)))
			soon = true;
	}
	if (!parked && soon)
	{
		for (i = 0; i < POOL_WAITERS && me < 0; i++)
			if (pool->waiters[i].proc == NULL)
				me = i;
		if (me >= 0)
		{
			pool->waiters[me].proc = MyProc;
			pool->waiters[me].database = database;
			pool->waiters[me].session_user = session_user;
			pool->waiters[me].woken = false;
		}
	}
	SpinLockRelease(&pool->mutex);
	if (parked)
		return true;
	if (me < 0)
		return false;

	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 left, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	SpinLockAcquire(&pool->mutex);
	pool->waiters[me].proc = NULL;
	SpinLockRelease(&pool->mutex);
	CHECK_FOR_INTERRUPTS();
	return true;
}

/*
 * Ask one parked worker to leave, to free its worker slot for a queued job.
 * Returns its PID, or 0 if none was parked.
 */
pid_t
pgbg_pool_evict(void)
{
	Latch	   *latch = NULL;
	pid_t		pid = 0;
	int			i;

	if (pool == NULL)
		return 0;
	SpinLockAcquire(&pool->mutex);
	for (i = 0; i < PGBG_POOL_MAX && latch == NULL; i++)
	{
		pool_slot  *s = &pool->slots[i];

		if (s->state == POOL_IDLE)
		{
			s->state = POOL_EXIT;
			latch = &s->latch;
			pid = s->pid;
		}
	}
	SpinLockRelease(&pool->mutex);
	if (latch == NULL)
		return 0;
	SetLatch(latch);
	return pid;
}

/*
 * How many workers are parked now (for pg_background_admission).
 */
int
pgbg_pool_idle_count(void)
{
	int			n = 0;
	int			i;

	if (pool == NULL)
		return 0;
	SpinLockAcquire(&pool->mutex);
	for (i = 0; i < PGBG_POOL_MAX; i++)
		if (pool->slots[i].state == POOL_IDLE)
			n++;
	SpinLockRelease(&pool->mutex);
	return n;
}
