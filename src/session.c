/*-------------------------------------------------------------------------
 *
 * session.c
 *		The registry of jobs launched by this session.
 *
 * Jobs are kept in a hash table keyed by worker PID, allocated in one
 * long-lived memory context ("pg_background session").  A job stays here
 * while its results may still be read.  Once they have been read the job is
 * remembered as consumed, so that a second read says so instead of claiming
 * the PID is unknown; only the most recent PGBG_MAX_CONSUMED consumed jobs
 * are remembered, which keeps a session that launches millions of jobs at a
 * constant size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "pg_background.h"

/* How many consumed jobs a session remembers. */
#define PGBG_MAX_CONSUMED		1024

static MemoryContext session_context = NULL;
static HTAB *session_jobs = NULL;
static dlist_head consumed_jobs = DLIST_STATIC_INIT(consumed_jobs);
static int	consumed_count = 0;

/*
 * Return the session's long-lived memory context, creating it (and the job
 * table) on first use.
 */
MemoryContext
pgbg_session_context(void)
{
	if (session_context == NULL)
	{
		HASHCTL		ctl;

		session_context = AllocSetContextCreate(TopMemoryContext,
												"pg_background session",
												ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(pgbg_job);
		ctl.hcxt = session_context;
		session_jobs = hash_create("pg_background jobs", 16, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return session_context;
}

/*
 * Detach a job's shared memory, if still attached.  The worker keeps its own
 * mapping, so this never stops the job; it only drops our end of the queue.
 */
void
pgbg_session_release(pgbg_job *job)
{
	if (job->seg != NULL)
	{
		dsm_segment *seg = job->seg;

		job->seg = NULL;
		job->mqh = NULL;
		dsm_detach(seg);
	}
	if (job->handle != NULL)
	{
		pfree(job->handle);
		job->handle = NULL;
	}
}

/*
 * Remove a job from the table, releasing what it holds.
 */
static void
session_remove(pgbg_job *job)
{
	int32		pid = job->pid;

	pgbg_session_release(job);
	if (job->consumed)
	{
		dlist_delete(&job->consumed_node);
		consumed_count--;
	}
	hash_search(session_jobs, &pid, HASH_REMOVE, NULL);
}

/*
 * Record a freshly launched job.  If the table still remembers an earlier
 * job whose worker had the same PID (the operating system reused it), the
 * earlier one is forgotten: its worker has necessarily exited.
 */
pgbg_job *
pgbg_session_add(int32 pid, int64 cookie, Oid user_id, dsm_segment *seg,
				 shm_mq_handle *mqh, BackgroundWorkerHandle *handle)
{
	pgbg_job   *job;
	bool		found;

	(void) pgbg_session_context();
	job = hash_search(session_jobs, &pid, HASH_FIND, NULL);
	if (job != NULL)
	{
		if (!job->consumed)
			ereport(NOTICE,
					(errmsg("unread results of an earlier worker with PID %d were discarded",
							pid),
					 errdetail("The operating system reused the PID for a new worker.")));
		session_remove(job);
	}

	job = hash_search(session_jobs, &pid, HASH_ENTER, &found);
	Assert(!found);
	job->cookie = cookie;
	job->user_id = user_id;
	job->seg = seg;
	job->mqh = mqh;
	job->handle = handle;
	job->consumed = false;
	return job;
}

/*
 * Find a job of this session by worker PID; NULL if there is none.
 */
pgbg_job *
pgbg_session_find(int32 pid)
{
	if (session_jobs == NULL)
		return NULL;
	return hash_search(session_jobs, &pid, HASH_FIND, NULL);
}

/*
 * Mark a job's results as consumed.  Called as soon as a read starts, so
 * that a read interrupted by an error still counts as the one read; the
 * reader releases the shared memory with pgbg_session_release when done.
 */
void
pgbg_session_mark_consumed(pgbg_job *job)
{
	if (!job->consumed)
	{
		job->consumed = true;
		dlist_push_tail(&consumed_jobs, &job->consumed_node);
		consumed_count++;
		while (consumed_count > PGBG_MAX_CONSUMED)
		{
			pgbg_job   *oldest = dlist_head_element(pgbg_job, consumed_node,
													&consumed_jobs);

			session_remove(oldest);
		}
	}
}

/*
 * Forget a job (detach): release its shared memory and remove it.
 */
void
pgbg_session_forget(pgbg_job *job)
{
	session_remove(job);
}
