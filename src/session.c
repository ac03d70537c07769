/*-------------------------------------------------------------------------
 *
 * session.c
 *		The registry of jobs launched by this session.
 *
 * Jobs are kept in a hash table keyed by worker PID, allocated in one
 * long-lived memory context ("pg_background session").  A job stays here
 * while its results may still be read.  Once they have been read the job is
 * remembered as consumed, so that a second read says so instead of claiming
 * the PID is unknown, and so that it is still listed with its outcome; only
 * the most recent PGBG_MAX_CONSUMED consumed jobs are remembered, which
 * keeps a session that launches millions of jobs at a constant size.
 *
 * A consumed job whose segment is detached (its worker is done) leaves the
 * table at the next safe point (pgbg_session_settle_all) for a compact
 * record in an array ordered by consumption (session_consumed: some 90
 * bytes, and its texts packed in one allocation, instead of a pgbg_job of
 * some 3 kB with its outcome's fixed-size text fields).  Lookups turn a
 * record back into a transient pgbg_job in the caller's memory context.
 *
 * This file also says what state a job is in (pgbg_session_state): derived,
 * never stored twice, from the outcome its worker publishes in shared
 * memory (or the copy taken when the segment was detached), from whether a
 * cancel stopped it, from the postmaster's knowledge of whether its worker
 * still runs, and in directory mode from its entry.  The session's
 * statistics count each job once it is over (pgbg_session_observe).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/buffile.h"
#include "storage/ipc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "pg_background.h"

/* How many consumed jobs a session remembers. */
#define PGBG_MAX_CONSUMED		1024

/*
 * A consumed job whose segment is detached: what its handle still answers
 * (the list's columns, the outcome, and "already consumed").  Its worker is
 * done, so none of this changes any more.
 */
typedef struct session_consumed
{
	int64		cookie;
	uint64		consumed_no;	/* order of consumption */
	TimestampTz launched_at;
	TimestampTz started_at;
	TimestampTz finished_at;
	uint64		row_count;
	uint64		dir_seq;
	char	   *texts;			/* see session_pack */
	Oid			user_id;
	int32		queue_size;
	int32		dir_slot;
	int32		progress_pct;
	uint8		state;			/* outcome state (pgbg_state) */
	bool		has_label;
	bool		submitted;
	bool		canceled;
} session_consumed;

static MemoryContext session_context = NULL;
static HTAB *session_jobs = NULL;

/* Consumed jobs still in the table, in consumption order. */
static dlist_head consumed_jobs = DLIST_STATIC_INIT(consumed_jobs);
static int	consumed_count = 0;
static uint64 consumed_next_no = 1;

/*
 * Compact records of the other consumed jobs: a circular array in
 * consumption order (oldest at remembered_head), and their PIDs in a
 * parallel array for lookups.
 */
static session_consumed *remembered = NULL;
static int32 *remembered_pids = NULL;
static int	remembered_size = 0;
static int	remembered_head = 0;
static int	remembered_count = 0;
static dlist_head unsettled_jobs = DLIST_STATIC_INIT(unsettled_jobs);
static dlist_head queue_jobs = DLIST_STATIC_INIT(queue_jobs);
static pgbg_stats session_stats;

static void session_detach_segment(pgbg_job *job);
static void session_exit(int code, Datum arg);
static void session_remove(pgbg_job *job);
static int	session_remembered_index(int32 pid);
static pgbg_job *session_recall(int i);
static void session_remember(pgbg_job *job);
static void session_forget_remembered(int i);
static void session_evict_oldest(void);

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
	pgbg_session_discard_spool(job);
	if (job->awaiting)
		(void) pgbg_session_map(job, true);
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

	/*
	 * Consumed jobs whose read is over and whose segment is detached leave
	 * the table for a compact record.  Nothing holds a pointer to a job here
	 * (a launch begins, or a read has ended).
	 */
	dlist_foreach_modify(iter, &consumed_jobs)
	{
		pgbg_job   *job = dlist_container(pgbg_job, consumed_node, iter.cur);

		if (job->released && job->seg == NULL)
			session_remember(job);
	}
}

/*
 * Give the job its end of the queue, and remember that we hold it.  A
 * queued job whose results we will read has no queue yet (mqh NULL, job
 * awaiting): it is held all the same, and mapped when it can be
 * (pgbg_session_map).
 */
void
pgbg_session_hold_queue(pgbg_job *job, shm_mq_handle *mqh)
{
	static bool exit_registered = false;

	job->mqh = mqh;
	dlist_push_tail(&queue_jobs, &job->queue_node);
	if (job->awaiting && !exit_registered)
	{
		before_shmem_exit(session_exit, (Datum) 0);
		exit_registered = true;
	}
}

/*
 * Map the segment that the worker of a queued job built, so that its
 * results can be read (see pgbg_job_results): returns true once the job
 * has its queue.  Returns false while its worker has not built it yet, or
 * if there will be none (the job ended without running): the job is then
 * no longer awaiting, and its outcome stays the directory's.  giving_up:
 * we will not read the results (the job is released, or the session
 * exits); a segment held for us already is mapped all the same, for the
 * caller to leave its queue.
 */
bool
pgbg_session_map(pgbg_job *job, bool giving_up)
{
	dsm_handle	handle = DSM_HANDLE_INVALID;
	MemoryContext oldcontext;

	if (!job->awaiting)
		return job->mqh != NULL;
	switch (pgbg_job_results(job->dir_slot, job->dir_seq, giving_up, &handle))
	{
		case PGBG_RESULTS_WAIT:
			return false;
		case PGBG_RESULTS_READY:
			oldcontext = MemoryContextSwitchTo(pgbg_session_context());
			if (pgbg_segment_map_reader(handle, &job->seg, &job->status,
										&job->mqh))
				job->unmapped = false;
			MemoryContextSwitchTo(oldcontext);
			pgbg_job_results_taken(job->dir_slot, job->dir_seq);
			break;
		case PGBG_RESULTS_NONE:
			break;
	}
	job->awaiting = false;
	if (job->mqh == NULL)
	{
		/* Nothing to read, ever: ReadyForQuery will not come. */
		job->end_seen = true;
		dlist_delete(&job->queue_node);
	}
	return job->mqh != NULL;
}

/*
 * before_shmem_exit: the queued jobs of this session whose results nobody
 * will read now must not keep their segments (held for us) or block their
 * workers on a full queue.
 */
static void
session_exit(int code, Datum arg)
{
	dlist_mutable_iter iter;

	/* An error that skipped an unlock must not hang us here. */
	LWLockReleaseAll();
	dlist_foreach_modify(iter, &queue_jobs)
	{
		pgbg_job   *job = dlist_container(pgbg_job, queue_node, iter.cur);

		if (job->awaiting && pgbg_session_map(job, true))
		{
			shm_mq_detach(job->mqh);
			job->mqh = NULL;
			dlist_delete(&job->queue_node);
		}
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
	pgbg_session_outcome(job, &outcome);
	if (outcome.state >= PGBG_STATE_DONE || pgbg_session_worker_stopped(job))
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
		pgbg_session_outcome(job, &job->final);
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

	if (job->remembered)
	{
		int			i = session_remembered_index(pid);

		if (i >= 0 && remembered[i].cookie == job->cookie)
			session_forget_remembered(i);
		return;
	}
	pgbg_session_observe(job);
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
	int			i;

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
	else if ((i = session_remembered_index(pid)) >= 0)
		session_forget_remembered(i);

	job = hash_search(session_jobs, &pid, HASH_ENTER, &found);
	Assert(!found);
	memset(job, 0, sizeof(pgbg_job));
	job->pid = pid;
	job->dir_slot = -1;
	session_stats.launched++;
	return job;
}

/*
 * Find a job of this session by worker PID; NULL if there is none.  A
 * consumed job that the session remembers in a compact record comes back as
 * a transient copy in the current memory context (pgbg_job.remembered).
 */
pgbg_job *
pgbg_session_find(int32 pid)
{
	pgbg_job   *job;
	int			i;

	if (session_jobs == NULL)
		return NULL;
	job = hash_search(session_jobs, &pid, HASH_FIND, NULL);
	if (job == NULL && (i = session_remembered_index(pid)) >= 0)
		job = session_recall(i);
	return job;
}

/*
 * Does the session know the job with this handle (pgbg_session_find would
 * find it, with this cookie)?  Makes no copy.
 */
bool
pgbg_session_has(int32 pid, int64 cookie)
{
	pgbg_job   *job;
	int			i;

	if (session_jobs == NULL)
		return false;
	job = hash_search(session_jobs, &pid, HASH_FIND, NULL);
	if (job != NULL)
		return job->cookie == cookie;
	i = session_remembered_index(pid);
	return i >= 0 && remembered[i].cookie == cookie;
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
		job->consumed_no = consumed_next_no++;
		dlist_push_tail(&consumed_jobs, &job->consumed_node);
		consumed_count++;
		while (consumed_count + remembered_count > PGBG_MAX_CONSUMED)
			session_evict_oldest();
	}
}

/*
 * Forget the consumed job consumed longest ago, in the table or remembered.
 */
static void
session_evict_oldest(void)
{
	pgbg_job   *oldest = NULL;

	if (!dlist_is_empty(&consumed_jobs))
		oldest = dlist_head_element(pgbg_job, consumed_node, &consumed_jobs);
	if (remembered_count > 0 &&
		(oldest == NULL ||
		 remembered[remembered_head].consumed_no < oldest->consumed_no))
		session_forget_remembered(remembered_head);
	else
		session_remove(oldest);
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
 * the current memory context).  With_remembered: also the consumed jobs
 * remembered in compact records, as transient copies (they are over, and
 * counted in the statistics).
 */
List *
pgbg_session_jobs(bool with_remembered)
{
	List	   *result = NIL;
	HASH_SEQ_STATUS seq;
	pgbg_job   *job;
	int			k;

	if (session_jobs == NULL)
		return NIL;
	hash_seq_init(&seq, session_jobs);
	while ((job = hash_seq_search(&seq)) != NULL)
		result = lappend(result, job);
	for (k = 0; with_remembered && k < remembered_count; k++)
		result = lappend(result,
						 session_recall((remembered_head + k) % remembered_size));
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
 * Does the session hold a job under this PID that it may still name by it:
 * one not consumed (unread, or submitted and not detached)?  A parked worker
 * with that PID must not take the session's next job (see pgbg_launch): the
 * PID would then name two jobs, and the registry, keyed by PID, would have
 * to forget the earlier one.  (A consumed job is forgotten then, as when
 * the operating system reuses a PID.)
 */
bool
pgbg_session_holds_job(int32 pid)
{
	pgbg_job   *job;

	if (session_jobs == NULL)
		return false;
	job = hash_search(session_jobs, &pid, HASH_FIND, NULL);
	return job != NULL && !job->consumed;
}

/*
 * How many jobs the session holds that are neither consumed, nor detached,
 * nor canceled by this session: those whose results are still to be read
 * (running, queued or finished), and submitted jobs not detached.
 * pg_background.max_workers bounds this number (see entry.c).  A canceled
 * job is left out: its results can never be read (57014 each time), so
 * only a detach would otherwise free its place.
 */
int
pgbg_session_attached(void)
{
	HASH_SEQ_STATUS seq;
	pgbg_job   *job;
	int			n = 0;

	if (session_jobs == NULL)
		return 0;
	hash_seq_init(&seq, session_jobs);
	while ((job = hash_seq_search(&seq)) != NULL)
		if (!job->consumed && !job->canceled)
			n++;
	return n;
}

/*
 * The session's statistics counters.
 */
pgbg_stats *
pgbg_session_stats(void)
{
	return &session_stats;
}

/* ---------------------------------------------------------------------
 * Consumed jobs remembered in compact records
 * ---------------------------------------------------------------------
 */

/*
 * Where the record of the job with this PID is in the array, or -1.
 */
static int
session_remembered_index(int32 pid)
{
	int			k;

	for (k = remembered_count - 1; k >= 0; k--)
	{
		int			i = (remembered_head + k) % remembered_size;

		if (remembered_pids[i] == pid)
			return i;
	}
	return -1;
}

/*
 * The texts of a consumed job, one after the other, each with its
 * terminating NUL, in one allocation of the session context: label (""
 * for none), SQL preview, command tag, SQLSTATE, message, detail, hint,
 * context, progress message.
 */
static char *
session_pack(const pgbg_job *job)
{
	const char *texts[9];
	Size		len = 0;
	char	   *packed;
	char	   *p;
	int			t;

	texts[0] = job->label ? job->label : "";
	texts[1] = job->sql_preview ? job->sql_preview : "";
	texts[2] = job->final.command_tag;
	texts[3] = job->final.sqlstate;
	texts[4] = job->final.message;
	texts[5] = job->final.detail;
	texts[6] = job->final.hint;
	texts[7] = job->final.context;
	texts[8] = job->final.progress_msg;
	for (t = 0; t < (int) lengthof(texts); t++)
		len += strlen(texts[t]) + 1;
	packed = p = MemoryContextAlloc(session_context, len);
	for (t = 0; t < (int) lengthof(texts); t++)
	{
		Size		n = strlen(texts[t]) + 1;

		memcpy(p, texts[t], n);
		p += n;
	}
	return packed;
}

/*
 * Copy the next text packed at *p into a fixed-size field, and step over it.
 */
static void
session_unpack(const char **p, char *field, Size size)
{
	strlcpy(field, *p, size);
	*p += strlen(*p) + 1;
}

/*
 * A consumed job whose read is over and whose segment is detached: replace
 * it in the table by a compact record, in consumption order.  Its worker is
 * done or has published its final outcome (see pgbg_session_settle), so
 * the record never changes; the job is counted in the statistics first.
 */
static void
session_remember(pgbg_job *job)
{
	session_consumed *r;
	char	   *texts;
	int			i;

	Assert(job->consumed && job->released && job->seg == NULL);
	pgbg_session_observe(job);
	texts = session_pack(job);

	/* Grow the array if it is full (it never holds more than the limit). */
	if (remembered_count == remembered_size)
	{
		int			size = Min(Max(remembered_size * 2, 16), PGBG_MAX_CONSUMED);
		session_consumed *records;
		int32	   *pids;
		int			k;

		Assert(size > remembered_size);
		records = MemoryContextAlloc(session_context,
									 sizeof(session_consumed) * size);
		pids = MemoryContextAlloc(session_context, sizeof(int32) * size);
		for (k = 0; k < remembered_count; k++)
		{
			records[k] = remembered[(remembered_head + k) % remembered_size];
			pids[k] = remembered_pids[(remembered_head + k) % remembered_size];
		}
		if (remembered != NULL)
		{
			pfree(remembered);
			pfree(remembered_pids);
		}
		remembered = records;
		remembered_pids = pids;
		remembered_size = size;
		remembered_head = 0;
	}

	i = (remembered_head + remembered_count) % remembered_size;
	remembered_count++;
	r = &remembered[i];
	r->cookie = job->cookie;
	r->consumed_no = job->consumed_no;
	r->launched_at = job->launched_at;
	r->started_at = job->final.started_at;
	r->finished_at = job->final.finished_at;
	r->row_count = job->final.row_count;
	r->dir_seq = job->dir_seq;
	r->texts = texts;
	r->user_id = job->user_id;
	r->queue_size = job->queue_size;
	r->dir_slot = job->dir_slot;
	r->progress_pct = job->final.progress_pct;
	r->state = (uint8) job->final.state;
	r->has_label = (job->label != NULL);
	r->submitted = job->submitted;
	r->canceled = job->canceled;
	remembered_pids[i] = job->pid;

	/*
	 * A job consumed earlier than others may be remembered after them (its
	 * worker took longer): move it back to its place.
	 */
	while (i != remembered_head)
	{
		int			prev = (i + remembered_size - 1) % remembered_size;
		session_consumed tmp = remembered[prev];
		int32		tmp_pid = remembered_pids[prev];

		if (tmp.consumed_no < remembered[i].consumed_no)
			break;
		remembered[prev] = remembered[i];
		remembered_pids[prev] = remembered_pids[i];
		remembered[i] = tmp;
		remembered_pids[i] = tmp_pid;
		i = prev;
	}

	/* Out of the table (it is counted: session_remove observes no more). */
	session_remove(job);
}

/*
 * The job of the record at index i, as a transient pgbg_job in the current
 * memory context: consumed, released, its outcome final.
 */
static pgbg_job *
session_recall(int i)
{
	const session_consumed *r = &remembered[i];
	pgbg_job   *job = palloc0(sizeof(pgbg_job));
	const char *p = r->texts;

	job->pid = remembered_pids[i];
	job->cookie = r->cookie;
	job->user_id = r->user_id;
	job->queue_size = r->queue_size;
	job->launched_at = r->launched_at;
	job->label = r->has_label ? pstrdup(p) : NULL;
	p += strlen(p) + 1;
	job->sql_preview = pstrdup(p);
	p += strlen(p) + 1;
	job->submitted = r->submitted;
	job->final.state = (pgbg_state) r->state;
	job->final.started_at = r->started_at;
	job->final.finished_at = r->finished_at;
	job->final.row_count = r->row_count;
	job->final.progress_pct = r->progress_pct;
	session_unpack(&p, job->final.command_tag, sizeof(job->final.command_tag));
	session_unpack(&p, job->final.sqlstate, sizeof(job->final.sqlstate));
	session_unpack(&p, job->final.message, sizeof(job->final.message));
	session_unpack(&p, job->final.detail, sizeof(job->final.detail));
	session_unpack(&p, job->final.hint, sizeof(job->final.hint));
	session_unpack(&p, job->final.context, sizeof(job->final.context));
	session_unpack(&p, job->final.progress_msg, sizeof(job->final.progress_msg));
	job->consumed = true;
	job->consumed_no = r->consumed_no;
	job->released = true;
	job->canceled = r->canceled;
	job->end_seen = true;
	job->counted = true;
	job->dir_slot = r->dir_slot;
	job->dir_seq = r->dir_seq;
	job->remembered = true;
	return job;
}

/*
 * Forget the record at index i: the oldest goes by moving the head, any
 * other by moving the later ones up.
 */
static void
session_forget_remembered(int i)
{
	int			k = (i + remembered_size - remembered_head) % remembered_size;

	pfree(remembered[i].texts);
	if (k == 0)
		remembered_head = (remembered_head + 1) % remembered_size;
	else
	{
		for (; k < remembered_count - 1; k++)
		{
			int			to = (remembered_head + k) % remembered_size;
			int			from = (to + 1) % remembered_size;

			remembered[to] = remembered[from];
			remembered_pids[to] = remembered_pids[from];
		}
	}
	remembered_count--;
}

/*
 * Copy the job's latest outcome.
 */
void
pgbg_session_outcome(pgbg_job *job, pgbg_outcome *outcome)
{
	pgbg_dir_entry entry;

	if (job->remote)
	{
		/* Another session's job: the directory has all there is. */
		if (pgbg_dir_get(job->dir_slot, job->dir_seq, &entry))
			job->final = entry.outcome;
		*outcome = job->final;
	}
	else if (job->status == NULL && job->unmapped && job->dir_slot >= 0)
	{
		/* Queued at launch, segment not mapped: the directory knows. */
		if (pgbg_dir_get(job->dir_slot, job->dir_seq, &entry))
			job->final = entry.outcome;
		*outcome = job->final;
	}
	else if (job->status != NULL)
	{
		SpinLockAcquire(&job->status->mutex);
		*outcome = job->status->outcome;
		SpinLockRelease(&job->status->mutex);

		/*
		 * A job that ended without a word from a worker (canceled while
		 * queued, its worker gone before it started) has its ending in the
		 * directory only: show what other sessions see.
		 */
		if (outcome->state < PGBG_STATE_DONE && job->dir_slot >= 0 &&
			pgbg_dir_get(job->dir_slot, job->dir_seq, &entry) &&
			entry.exited && entry.outcome.state >= PGBG_STATE_DONE)
			*outcome = entry.outcome;
	}
	else
		*outcome = job->final;
}

/*
 * Has the job's worker exited (as far as the postmaster knows)?
 */
bool
pgbg_session_worker_stopped(pgbg_job *job)
{
	pid_t		pid;
	BgwHandleStatus status;

	if (job->handle == NULL)
	{
		/* Queued, or started by the dispatcher, or another session's. */
		if (job->dir_slot >= 0)
			return pgbg_dir_finished(job->dir_slot, job->dir_seq);
		return true;
	}
	status = GetBackgroundWorkerPid(job->handle, &pid);
	return status != BGWH_STARTED && status != BGWH_NOT_YET_STARTED;
}

/*
 * The state shown to users: running, stopped (finished), canceled, error.
 */
pgbg_view_state
pgbg_session_state(pgbg_job *job)
{
	pgbg_outcome outcome;
	pgbg_dir_entry entry;

	/* What only the directory knows: queued, canceled there, lost. */
	if (job->dir_slot >= 0 &&
		pgbg_dir_get(job->dir_slot, job->dir_seq, &entry))
	{
		if (entry.state == PGBG_DIR_QUEUED)
			return PGBG_VIEW_QUEUED;
		if (entry.state == PGBG_DIR_LOST)
			return PGBG_VIEW_LOST;
		if (entry.canceled)
			job->canceled = true;
	}

	pgbg_session_settle(job);
	pgbg_session_outcome(job, &outcome);
	if (outcome.state == PGBG_STATE_DONE)
		return PGBG_VIEW_STOPPED;
	if (outcome.state == PGBG_STATE_ERROR)
		return job->canceled ? PGBG_VIEW_CANCELED : PGBG_VIEW_ERROR;
	if (!pgbg_session_worker_stopped(job))
		return PGBG_VIEW_RUNNING;
	if (job->canceled)
		return PGBG_VIEW_CANCELED;
	/* Gone without a word (its exit callback never ran). */
	return PGBG_VIEW_ERROR;
}

/*
 * Name of a state, as pg_background_list_v2 shows it.
 */
const char *
pgbg_session_state_name(pgbg_view_state state)
{
	switch (state)
	{
		case PGBG_VIEW_RUNNING:
			return "running";
		case PGBG_VIEW_STOPPED:
			return "stopped";
		case PGBG_VIEW_CANCELED:
			return "canceled";
		case PGBG_VIEW_ERROR:
			return "error";
		case PGBG_VIEW_QUEUED:
			return "queued";
		case PGBG_VIEW_LOST:
			return "lost_on_restart";
	}
	return "unknown";
}

/*
 * Count a finished job in the session's statistics, once.
 */
void
pgbg_session_observe(pgbg_job *job)
{
	pgbg_stats *stats = pgbg_session_stats();
	pgbg_outcome outcome;

	if (job->counted)
		return;
	switch (pgbg_session_state(job))
	{
		case PGBG_VIEW_RUNNING:
		case PGBG_VIEW_QUEUED:
			return;
		case PGBG_VIEW_STOPPED:
			stats->completed++;
			pgbg_session_outcome(job, &outcome);
			if (outcome.started_at != 0 && outcome.finished_at >= outcome.started_at)
				stats->total_exec_ms +=
					(double) (outcome.finished_at - outcome.started_at) / 1000.0;
			break;
		case PGBG_VIEW_CANCELED:
			stats->canceled++;
			break;
		case PGBG_VIEW_ERROR:
		case PGBG_VIEW_LOST:
			stats->failed++;
			break;
	}
	job->counted = true;
}

/*
 * Drop whatever the job's spool still holds.
 */
void
pgbg_session_discard_spool(pgbg_job *job)
{
	if (job->spool != NULL)
	{
		BufFileClose(job->spool);
		job->spool = NULL;
	}
	job->spool_reading = false;
	job->batch_left = 0;
}

/*
 * Call fn for every job whose queue the session holds.
 */
void
pgbg_session_foreach_queue(void (*fn) (pgbg_job *job))
{
	dlist_mutable_iter iter;

	/* fn may map a job's segment, or find it has none, and drop it. */
	dlist_foreach_modify(iter, &queue_jobs)
		fn(dlist_container(pgbg_job, queue_node, iter.cur));
}
