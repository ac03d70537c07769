/*-------------------------------------------------------------------------
 *
 * wire.c
 *		The launcher's end of the queue between a launcher and its worker.
 *
 * The worker writes the frontend/backend protocol into a shm_mq (see
 * pqmq.c and send.c), rows in batches (PGBG_MSG_ROWS).  pgbg_wire_receive()
 * hands out one message at a time, first from the job's spool, then from
 * the queue, taking batches apart.  pgbg_wire_drain() moves what
 * the queue holds into the spool (a temporary file that survives the
 * transaction) without blocking, so that a job somebody waits for without
 * reading its results never blocks on a full queue.  And
 * pgbg_wire_report() turns an ErrorResponse or NoticeResponse into an
 * error or notice of the calling session, as parallel.c does for parallel
 * workers: same SQLSTATE, message, detail, hint and context, a context line
 * naming the worker, and FATAL (or worse) capped at ERROR so that a dying
 * worker cannot take its launcher down.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "storage/buffile.h"
#include "utils/memutils.h"

#include "pg_background.h"
#include "pgbg_compat.h"

/* Buffer for messages replayed from a spool, in the session context. */
static StringInfo spool_buffer = NULL;

static bool wire_read_spool(pgbg_job *job, StringInfo msg);
static bool wire_next_row(pgbg_job *job, StringInfo msg);

/*
 * Point msg at the next message from the job's worker, without waiting:
 * PGBG_WIRE_MESSAGE, or PGBG_WIRE_EMPTY if none has arrived yet, or
 * PGBG_WIRE_END if the worker has detached and no message is left.  The
 * message stays valid until the next call.  Waiting is the caller's
 * (pgbg_control_receive).
 */
pgbg_wire_result
pgbg_wire_next(pgbg_job *job, StringInfo msg)
{
	shm_mq_result res;
	Size		nbytes;
	void	   *data;

	if (job->batch_left > 0)
		return wire_next_row(job, msg) ? PGBG_WIRE_MESSAGE : PGBG_WIRE_END;
	if (job->spool != NULL && wire_read_spool(job, msg))
		return wire_next_row(job, msg) ? PGBG_WIRE_MESSAGE : PGBG_WIRE_END;
	if (job->awaiting && !pgbg_session_map(job, false))
		return job->awaiting ? PGBG_WIRE_EMPTY : PGBG_WIRE_END;
	if (job->mqh == NULL)
		return PGBG_WIRE_END;

	res = shm_mq_receive(job->mqh, &nbytes, &data, true);
	if (res == SHM_MQ_WOULD_BLOCK)
		return PGBG_WIRE_EMPTY;
	if (res != SHM_MQ_SUCCESS)
		return PGBG_WIRE_END;
	if (nbytes < 1 || nbytes > (Size) MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("invalid message of %zu bytes from background worker with PID %d",
						nbytes, job->pid)));
	pgbg_init_readonly_stringinfo(msg, data, (int) nbytes);
	return wire_next_row(job, msg) ? PGBG_WIRE_MESSAGE : PGBG_WIRE_END;
}

/*
 * msg is a batch of rows: point msg at its first row, and remember where
 * the next one is (the batch stays valid until the next message is read,
 * which only happens once all its rows are handed out).  If instead
 * job->batch_left says a batch is under way, point msg at its next row.
 * Any other message is left as it is.
 */
static bool
wire_next_row(pgbg_job *job, StringInfo msg)
{
	int32		len;

	if (job->batch_left == 0)
	{
		if (msg->len < 1 || msg->data[0] != PGBG_MSG_ROWS)
			return true;
		job->batch_next = msg->data + 1;
		job->batch_left = msg->len - 1;
	}
	if (job->batch_left < (int) sizeof(len) + 1)
		len = -1;
	else
		memcpy(&len, job->batch_next, sizeof(len));
	if (len < 1 || len > job->batch_left - (int) sizeof(len))
	{
		job->batch_left = 0;
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("invalid batch of rows from background worker with PID %d",
						job->pid)));
	}
	pgbg_init_readonly_stringinfo(msg, (char *) job->batch_next + sizeof(len), len);
	job->batch_next += sizeof(len) + len;
	job->batch_left -= sizeof(len) + len;
	return true;
}

/*
 * Replay the next spooled message; at the end of the spool, close it and
 * return false.
 */
static bool
wire_read_spool(pgbg_job *job, StringInfo msg)
{
	int32		len;
	size_t		got;

	if (!job->spool_reading)
	{
		if (BufFileSeek(job->spool, 0, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rewind the spool of background worker with PID %d",
							job->pid)));
		job->spool_reading = true;
	}

	got = BufFileRead(job->spool, &len, sizeof(len));
	if (got == 0)
	{
		pgbg_session_discard_spool(job);
		return false;
	}
	if (spool_buffer == NULL)
	{
		MemoryContext oldcontext = MemoryContextSwitchTo(pgbg_session_context());

		spool_buffer = makeStringInfo();
		MemoryContextSwitchTo(oldcontext);
	}
	resetStringInfo(spool_buffer);
	if (got == sizeof(len) && len > 0)
	{
		enlargeStringInfo(spool_buffer, len);
		got = BufFileRead(job->spool, spool_buffer->data, len);
	}
	if (len <= 0 || got != (size_t) len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read the spool of background worker with PID %d",
						job->pid)));
	pgbg_init_readonly_stringinfo(msg, spool_buffer->data, len);
	return true;
}

/*
 * Move every message the queue holds now into the job's spool, without
 * waiting.  Returns true once the job's stream has ended (ReadyForQuery
 * seen, or the worker left the queue), or if it has no queue (and, queued,
 * will get none).
 */
bool
pgbg_wire_drain(pgbg_job *job)
{
	/*
	 * A batch of rows being handed out points into the queue's last message:
	 * receiving would invalidate it.  Whoever reads the batch reads on.
	 */
	if (job->batch_left > 0)
		return job->end_seen || job->mqh == NULL;

	/* A queued job's queue comes with the segment its worker builds. */
	if (job->awaiting && !pgbg_session_map(job, false))
		return !job->awaiting;

	while (job->mqh != NULL && !job->end_seen)
	{
		shm_mq_result res;
		Size		nbytes;
		void	   *data;
		int32		len;

		res = shm_mq_receive(job->mqh, &nbytes, &data, true);
		if (res == SHM_MQ_WOULD_BLOCK)
			break;
		if (res == SHM_MQ_DETACHED)
		{
			job->end_seen = true;
			break;
		}
		if (nbytes < 1 || nbytes > (Size) MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("invalid message of %zu bytes from background worker with PID %d",
							nbytes, job->pid)));
		if (job->spool == NULL)
		{
			MemoryContext oldcontext = MemoryContextSwitchTo(pgbg_session_context());

			job->spool = BufFileCreateTemp(true);
			MemoryContextSwitchTo(oldcontext);
		}
		len = (int32) nbytes;
		BufFileWrite(job->spool, &len, sizeof(len));
		BufFileWrite(job->spool, data, nbytes);
		if (((char *) data)[0] == 'Z')
			job->end_seen = true;
	}
	return job->end_seen || job->mqh == NULL;
}

/*
 * Re-raise an ErrorResponse ('E') or NoticeResponse ('N') from the worker
 * with the given PID; msg's cursor is just past the message type.  Returns
 * only for notices (and errors the client and log both filter out, which an
 * ERROR never is).
 */
void
pgbg_wire_report(StringInfo msg, char msgtype, int32 pid)
{
	ErrorData	edata;
	char	   *line;

	memset(&edata, 0, sizeof(edata));
	pq_parse_errornotice(msg, &edata);

	/* A worker's FATAL or PANIC is the launcher's ERROR. */
	if (msgtype == 'E' || edata.elevel > ERROR)
		edata.elevel = ERROR;

	/*
	 * A position in the worker's SQL means nothing against the caller's query
	 * text, where a client would display it.
	 */
	edata.cursorpos = 0;

	line = psprintf("background worker, PID %d", pid);
	if (edata.context != NULL)
		edata.context = psprintf("%s\n%s", edata.context, line);
	else
		edata.context = line;

	ThrowErrorData(&edata);
}
