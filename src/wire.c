/*-------------------------------------------------------------------------
 *
 * wire.c
 *		The launcher's end of the queue between a launcher and its worker.
 *
 * The worker writes the frontend/backend protocol into a shm_mq (see
 * pqmq.c).  pgbg_wire_receive() hands out one message at a time, and
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

#include "pg_background.h"
#include "pgbg_compat.h"

/*
 * Wait for the next message from the job's worker and point msg at it.
 * The message stays valid until the next call.  Returns false if the worker
 * has detached (exited) and no message is left.
 */
bool
pgbg_wire_receive(pgbg_job *job, StringInfo msg)
{
	shm_mq_result res;
	Size		nbytes;
	void	   *data;

	res = shm_mq_receive(job->mqh, &nbytes, &data, false);
	if (res != SHM_MQ_SUCCESS)
		return false;
	if (nbytes < 1 || nbytes > (Size) MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("invalid message of %zu bytes from background worker with PID %d",
						nbytes, job->pid)));
	pgbg_init_readonly_stringinfo(msg, data, (int) nbytes);
	return true;
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

	line = psprintf("background worker, PID %d", pid);
	if (edata.context != NULL)
		edata.context = psprintf("%s\n%s", edata.context, line);
	else
		edata.context = line;

	ThrowErrorData(&edata);
}
