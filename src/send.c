/*-------------------------------------------------------------------------
 *
 * send.c
 *		The worker's end of the queue: protocol messages into the shm_mq.
 *
 * The worker first redirects its protocol output with core's
 * pq_redirect_to_shm_mq, before it connects, so that even an error raised
 * while connecting reaches the launcher.  Core's redirection makes every
 * message visible to the receiver at once (and wakes it): one update of
 * the queue's counters and one latch per row.  For a result of a million
 * rows, that is a million wakeups of a launcher that then has one row to
 * read.  Once connected, pgbg_send_batch_rows switches to the methods
 * below, identical except that DataRow messages are left for the queue to
 * publish in batches (it does so when a quarter of the ring is pending, or
 * when it would otherwise wait for room); every other message (row
 * description, command complete, errors, notices, ReadyForQuery) publishes
 * what is pending with it, so nothing is held back at the end of a
 * statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/libpq.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/dest.h"

#include "pg_background.h"
#include "pgbg_compat.h"

static shm_mq_handle *send_mqh = NULL;
static bool send_busy = false;

static void send_comm_reset(void);
static int	send_flush(void);
static int	send_flush_if_writable(void);
static bool send_is_send_pending(void);
static int	send_putmessage(char msgtype, const char *s, size_t len);
static void send_putmessage_noblock(char msgtype, const char *s, size_t len);
static void send_cleanup(dsm_segment *seg, Datum arg);

static const PQcommMethods send_methods = {
	.comm_reset = send_comm_reset,
	.flush = send_flush,
	.flush_if_writable = send_flush_if_writable,
	.is_send_pending = send_is_send_pending,
	.putmessage = send_putmessage,
	.putmessage_noblock = send_putmessage_noblock
};

/*
 * Send protocol output into mqh, batching DataRow messages.  Call after
 * pq_redirect_to_shm_mq(seg, mqh).
 */
void
pgbg_send_batch_rows(dsm_segment *seg, shm_mq_handle *mqh)
{
	send_mqh = mqh;
	PqCommMethods = &send_methods;
	on_dsm_detach(seg, send_cleanup, (Datum) 0);
}

/*
 * The segment is going away: stop sending.
 */
static void
send_cleanup(dsm_segment *seg, Datum arg)
{
	send_mqh = NULL;
	whereToSendOutput = DestNone;
}

static void
send_comm_reset(void)
{
}

static int
send_flush(void)
{
	return 0;
}

static int
send_flush_if_writable(void)
{
	return 0;
}

static bool
send_is_send_pending(void)
{
	return false;
}

/*
 * Send one message, waiting for room if need be (as core's pqmq does: an
 * interrupt that arrives while we wait, and that sends a message itself,
 * detaches the queue rather than interleave two messages).
 */
static int
send_putmessage(char msgtype, const char *s, size_t len)
{
	shm_mq_iovec iov[2];
	shm_mq_result result;
	bool		flush = (msgtype != 'D');	/* DataRow */

	if (send_busy)
	{
		if (send_mqh != NULL)
			shm_mq_detach(send_mqh);
		send_mqh = NULL;
		return EOF;
	}
	if (send_mqh == NULL)
		return 0;

	send_busy = true;
	iov[0].data = &msgtype;
	iov[0].len = 1;
	iov[1].data = s;
	iov[1].len = len;
	for (;;)
	{
		result = pgbg_shm_mq_sendv(send_mqh, iov, 2, true, flush);
		if (result != SHM_MQ_WOULD_BLOCK)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, 0,
						 PGBG_WAIT_EVENT_MQ_PUT);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	send_busy = false;

	return result == SHM_MQ_SUCCESS ? 0 : EOF;
}

static void
send_putmessage_noblock(char msgtype, const char *s, size_t len)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("non-blocking sends are not supported by pg_background workers")));
}
