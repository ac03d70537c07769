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

#include "storage/buffile.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "pg_background.h"

/* How many consumed jobs a session remembers. */
#define PGBG_MAX_CONSUMED		1024

static MemoryContext session_context = NULL;
static HTAB *session_jobs = NULL;
static dlist_head consumed_jobs = DLIST_STATIC_INIT(consumed_jobs);
static int	consumed_count = 0;
static dlist_head unsettled_jobs = DLIST_STATIC_INIT(unsettled_jobs);
static dlist_head queue_jobs = DLIST_STATIC_INIT(queue_jobs);
static pgbg_stats session_stats;

static void session_detach_segment(pgbg_job *job);

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
 * Release what a job holds: close its spool and drop our end of its queue
 * (the worker keeps its own mapping, so this never stops the job).  The
 * segment itself, where the worker publishes its outcome, stays mapped
 * while the worker still runs, unless force is set; pgbg_session_settle
 * detaches it once the worker is done.  The worker handle is kept: it is
 * small, and it still tells whether the worker runs.
 */
void
pgbg_session_release(pgbg_job *job, bool force)
{
	pgbg_wire_discard_spool(job);
	if (job->mqh != NULL)
	{
		/* Frees the handle and its receive buffer, which dsm_detach won't. */
		shm_mq_detach(job->mqh);
		job->mqh = NULL;
		dlist_delete(&job->queue_node);
	}
	if (!job->released && job->seg != NULL)
		dlist_push_tail(&unsettled_jobs, &job->unsettled_node);
	job->released = true;
	if (force)
		session_detach_segment(job);
	else
		pgbg_session_settle(job);
}

/*
 * Settle every released job whose segment is still mapped.  Called before
 * each launch, so that the segments a session keeps never outnumber its
 * running workers (segments are a server-wide, limited resource).
 */
void
pgbg_session_settle_all(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &unsettled_jobs)
		pgbg_session_settle(dlist_container(pgbg_job, unsettled_node, iter.cur));
}

/*
 * Give the job its end of the queue, and remember that we hold it.
 */
void
pgbg_session_hold_queue(pgbg_job *job, shm_mq_handle *mqh)
{
	job->mqh = mqh;
	dlist_push_tail(&queue_jobs, &job->queue_node);
}

/*
 * Drain the queues of the session's jobs that nobody is reading (reading
 * marks a job consumed) into their spools, without waiting.  Called by
 * every wait: one of our workers blocked on a full queue may hold a lock
 * that the awaited worker needs.
 */
void
pgbg_session_drain_all(void)
{
	dlist_iter	iter;

	dlist_foreach(iter, &queue_jobs)
	{
		pgbg_job   *job = dlist_container(pgbg_job, queue_node, iter.cur);

		if (!job->consumed)
			(void) pgbg_wire_drain(job);
	}
}

/*
 * For a released job whose worker is done: keep a copy of its outcome and
 * detach its segment.
 */
void
pgbg_session_settle(pgbg_job *job)
{
	pgbg_outcome outcome;

	if (!job->released || job->seg == NULL)
		return;
	pgbg_control_outcome(job, &outcome);
	if (outcome.state >= PGBG_STATE_DONE || pgbg_control_worker_stopped(job))
		session_detach_segment(job);
}

/*
 * Copy the outcome out of the job's segment and detach it.
 */
static void
session_detach_segment(pgbg_job *job)
{
	if (job->status != NULL)
	{
		pgbg_control_outcome(job, &job->final);
		job->status = NULL;
	}
	if (job->seg != NULL)
	{
		dsm_segment *seg = job->seg;

		job->seg = NULL;
		if (job->released)
			dlist_delete(&job->unsettled_node);
		dsm_detach(seg);
	}
}

/*
 * Remove a job from the table, releasing what it holds.  A finished job is
 * counted in the statistics first.
 */
static void
session_remove(pgbg_job *job)
{
	int32		pid = job->pid;

	pgbg_control_observe(job);
	pgbg_session_release(job, true);
	if (job->handle != NULL)
		pfree(job->handle);
	if (job->label != NULL)
		pfree(job->label);
	if (job->sql_preview != NULL)
		pfree(job->sql_preview);
	if (job->consumed)
	{
		dlist_delete(&job->consumed_node);
		consumed_count--;
	}
	hash_search(session_jobs, &pid, HASH_REMOVE, NULL);
}

/*
 * Make an empty entry for a freshly launched job; the caller fills it.  If
 * the table still remembers an earlier job whose worker had the same PID
 * (the operating system reused it), the earlier one is forgotten: its
 * worker has necessarily exited.
 */
pgbg_job *
pgbg_session_add(int32 pid)
{
	pgbg_job   *job;
	bool		found;

	(void) pgbg_session_context();
	job = hash_search(session_jobs, &pid, HASH_FIND, NULL);
	if (job != NULL)
	{
		if (!job->consumed && !job->submitted)
			ereport(NOTICE,
					(errmsg("unread results of an earlier worker with PID %d were discarded",
							pid),
					 errdetail("The operating system reused the PID for a new worker.")));
		session_remove(job);
	}

	job = hash_search(session_jobs, &pid, HASH_ENTER, &found);
	Assert(!found);
	memset(job, 0, sizeof(pgbg_job));
	job->pid = pid;
	job->dir_slot = -1;
	session_stats.launched++;
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

/*
 * All jobs the session knows, in no particular order (a list allocated in
 * the current memory context).
 */
List *
pgbg_session_jobs(void)
{
	List	   *result = NIL;
	HASH_SEQ_STATUS seq;
	pgbg_job   *job;

	if (session_jobs == NULL)
		return NIL;
	hash_seq_init(&seq, session_jobs);
	while ((job = hash_seq_search(&seq)) != NULL)
		result = lappend(result, job);
	return result;
}

/*
 * Has this session launched (or looked up) any job?  A pooled worker whose
 * job did cannot be reused (see worker.c).
 */
bool
pgbg_session_used(void)
{
	return session_context != NULL;
}

/*
 * The session's statistics counters.
 */
pgbg_stats *
pgbg_session_stats(void)
{
	return &session_stats;
}
