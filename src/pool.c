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
 * process: no fork, no connection, no cache warm-up.  Each job still runs
 * in fresh transactions with the launcher's GUC state, role and security
 * context, restored from the segment as for a new worker.
 *
 * The pool never keeps a worker slot that a queued job needs: when the
 * dispatcher cannot register a worker, it asks a parked worker to leave.
 *
 * State lives in a small array in shared memory under a spinlock; a slot
 * goes FREE -> RESERVED (a worker will park, once its session is reset)
 * -> IDLE (parked) -> ASSIGNED (a launcher hands it a job) -> FREE (the
 * worker took the job), or IDLE -> EXIT (asked to leave) -> FREE.
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
	POOL_EXIT
} pool_state;

typedef struct pool_slot
{
	pool_state	state;
	PGPROC	   *proc;
	int32		pid;
	Oid			database;
	Oid			session_user;
	/* The job handed over (ASSIGNED). */
	dsm_handle	seg;
	int			dir_slot;
	uint64		dir_seq;
} pool_slot;

typedef struct pool_shared
{
	slock_t		mutex;
	pool_slot	slots[PGBG_POOL_MAX];
} pool_shared;

/* GUCs. */
int			pgbg_pool_size = 0;
int			pgbg_pool_idle_timeout = 60;

static pool_shared *pool = NULL;
static int	pool_my_slot = -1;

static bool pool_over_size(void);
static void pool_leave_if_idle(void);

/*
 * Are more workers parked than pg_background.pool_size allows now?
 */
static bool
pool_over_size(void)
{
	int			used = 0;
	int			i;

	SpinLockAcquire(&pool->mutex);
	for (i = 0; i < PGBG_POOL_MAX; i++)
		if (pool->slots[i].state != POOL_FREE)
			used++;
	SpinLockRelease(&pool->mutex);
	return used > pgbg_pool_size;
}

/*
 * Mark this worker's slot to be left (unless a job was handed over).
 */
static void
pool_leave_if_idle(void)
{
	SpinLockAcquire(&pool->mutex);
	if (pool->slots[pool_my_slot].state == POOL_IDLE)
		pool->slots[pool_my_slot].state = POOL_EXIT;
	SpinLockRelease(&pool->mutex);
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
		memset(pool, 0, sizeof(pool_shared));
		SpinLockInit(&pool->mutex);
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
	int			used = 0;
	int			i;

	if (pool == NULL || pgbg_pool_size <= 0)
		return false;

	SpinLockAcquire(&pool->mutex);
	for (i = 0; i < PGBG_POOL_MAX; i++)
		if (pool->slots[i].state != POOL_FREE)
			used++;
	if (used < Min(pgbg_pool_size, PGBG_POOL_MAX))
	{
		for (i = 0; i < PGBG_POOL_MAX; i++)
			if (pool->slots[i].state == POOL_FREE)
				break;
		pool->slots[i].state = POOL_RESERVED;
		pool->slots[i].proc = MyProc;
		pool->slots[i].pid = MyProcPid;
		pool->slots[i].database = database;
		pool->slots[i].session_user = session_user;
		pool_my_slot = i;
	}
	SpinLockRelease(&pool->mutex);
	return pool_my_slot >= 0;
}

/* How long a parked worker waits before it trims its free memory. */
#define POOL_TRIM_AFTER_MS		100

/*
 * Park this worker (it has reserved its place) until a launcher hands it a
 * job (returns true with the job's segment and directory entry) or it
 * should leave: the idle timeout passed, or the dispatcher needs its slot
 * (returns false).
 */
bool
pgbg_pool_park(dsm_handle *seg, int *dir_slot, uint64 *dir_seq)
{
	TimestampTz parked_at = GetCurrentTimestamp();
	bool		got = false;
	bool		trimmed = false;

	Assert(pool_my_slot >= 0);
	SpinLockAcquire(&pool->mutex);
	pool->slots[pool_my_slot].state = POOL_IDLE;
	SpinLockRelease(&pool->mutex);

	/* Tell parked workers apart from finished ones in ps and top. */
	pgstat_report_activity(STATE_IDLE, NULL);
	set_ps_display("idle in pool");
	for (;;)
	{
		pool_slot  *s = &pool->slots[pool_my_slot];
		long		left;
		bool		leave = false;

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

		SpinLockAcquire(&pool->mutex);
		if (s->state == POOL_ASSIGNED)
		{
			*seg = s->seg;
			*dir_slot = s->dir_slot;
			*dir_seq = s->dir_seq;
			got = true;
		}
		if (got || s->state == POOL_EXIT)
		{
			s->state = POOL_FREE;
			leave = true;
		}
		SpinLockRelease(&pool->mutex);
		if (leave)
			break;

		left = (long) pgbg_pool_idle_timeout * 1000 -
			TimestampDifferenceMilliseconds(parked_at, GetCurrentTimestamp());
		if (left <= 0)
		{
			/* Leave, unless a job was handed over meanwhile. */
			SpinLockAcquire(&pool->mutex);
			if (s->state == POOL_IDLE || s->state == POOL_EXIT)
			{
				s->state = POOL_FREE;
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
	pool_my_slot = -1;
	return got;
}

/*
 * A pooled worker is leaving: free its place.  Returns true, with the job's
 * directory entry, if a job was handed over that it never took (the caller
 * records that the job ended).
 */
bool
pgbg_pool_leave(int *dir_slot, uint64 *dir_seq)
{
	pool_slot  *s;
	bool		orphan = false;

	if (pool_my_slot < 0)
		return false;
	s = &pool->slots[pool_my_slot];
	SpinLockAcquire(&pool->mutex);
	if (s->state == POOL_ASSIGNED)
	{
		orphan = true;
		*dir_slot = s->dir_slot;
		*dir_seq = s->dir_seq;
	}
	s->state = POOL_FREE;
	SpinLockRelease(&pool->mutex);
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
 */
int32
pgbg_pool_claim(Oid database, Oid session_user, dsm_handle seg,
				int dir_slot, uint64 dir_seq, int32 launcher,
				bool (*skip) (int32 pid))
{
	bool		skipped[PGBG_POOL_MAX] = {0};
	int			i;

	if (pool == NULL)
		return 0;
	for (;;)
	{
		int			candidate = -1;
		int32		pid = 0;
		PGPROC	   *proc = NULL;

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
			s->seg = seg;
			s->dir_slot = dir_slot;
			s->dir_seq = dir_seq;
			proc = s->proc;
		}
		SpinLockRelease(&pool->mutex);
		if (proc != NULL)
		{
			SetLatch(&proc->procLatch);
			return pid;
		}
	}
}

/*
 * Ask one parked worker to leave, to free its worker slot for a queued job.
 * Returns its PID, or 0 if none was parked.
 */
pid_t
pgbg_pool_evict(void)
{
	PGPROC	   *proc = NULL;
	int			i;

	if (pool == NULL)
		return 0;
	SpinLockAcquire(&pool->mutex);
	for (i = 0; i < PGBG_POOL_MAX && proc == NULL; i++)
	{
		pool_slot  *s = &pool->slots[i];

		if (s->state == POOL_IDLE)
		{
			s->state = POOL_EXIT;
			proc = s->proc;
		}
	}
	SpinLockRelease(&pool->mutex);
	if (proc == NULL)
		return 0;
	SetLatch(&proc->procLatch);
	return proc->pid;
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
