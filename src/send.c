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
 * below, identical except that messages are left for the queue to publish
 * in batches (it does so when a quarter of the ring is pending, or when it
 * would otherwise wait for room), until one that ends the job
 * (ErrorResponse, ReadyForQuery) or a notice, which a launcher reading the
 * result shows at once, publishes everything pending with it.  A launcher
 * returns a job's result only once the job has ended, so holding back row
 * descriptions and command tags costs nothing, and it saves the launcher a
 * wake-up for each of them.
 *
 * Rows themselves are built by pgbg_send_receiver, a DestReceiver that
 * does what printtup does, with short cuts for the commonest types in
 * binary form: text, varchar and bytea go as their bytes, int2/int4/int8
 * as integers, without a send function call and its temporary buffer.
 * It adds each DataRow to a batch of rows, which goes into the queue as
 * one PGBG_MSG_ROWS message once it holds half the queue's size (within
 * SEND_BATCH_MIN and SEND_BATCH_MAX), or before any other message (so the
 * order is kept): one queue operation per batch instead of one per row.
 * The batch size matters because the queue wakes the launcher each time it
 * publishes (every quarter of its ring, or with every message larger than
 * that), and a launcher that decodes faster than the worker produces is
 * asleep each time: a signal per wake-up.  Half the ring halves those
 * signals compared to a quarter, and still leaves room for the worker to
 * write the next batch while the launcher decodes the last one.
 *
 * A full batch is handed to the queue without waiting.  If the queue has
 * no room for all of it (the launcher is still decoding, or is slow to
 * wake up: on a virtual machine a sleeping launcher can take a millisecond
 * to run again), the queue keeps what it took, the rest stays "in flight"
 * here, and the worker goes on producing rows into the next batch; it
 * tries the batch in flight again as the next one grows, and waits for
 * the launcher only once the next batch holds SEND_AHEAD batches' worth.
 * With the default 64 kB queue, a 1M-row result used to wait about a
 * hundred times for the launcher (bench/README.md, docs/performance.md).
 * The batch in flight always goes before anything else (the queue's
 * handle remembers how much of it was taken, and must get the same bytes
 * again), so the order of messages is kept.
 *
 * A row joins the batch only complete, so a message sent while a row is
 * being built (a notice from an output function) or an error half-way
 * through never splits a row.  A row whose columns all go as bytes or
 * integers calls no function that could send or fail once its values are
 * detoasted, so it is written straight into the batch, sized beforehand;
 * other rows are built in a buffer of their own and then appended.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/printtup.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/libpq.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pg_background.h"
#include "pgbg_compat.h"

/* Bounds of a batch of rows, which is otherwise half the queue's size. */
#define SEND_BATCH_MIN		1024
#define SEND_BATCH_MAX		65536

/*
 * How many batches' worth of rows the worker may produce while the queue
 * has no room for the batch in flight, before it waits.
 */
#define SEND_AHEAD			4

/* Rows are sent once a batch holds this many bytes. */
static int	send_batch_bytes = 8192;

/* The next batch's length at which to try the batch in flight again. */
static int	send_next_try = 8192;

static shm_mq_handle *send_mqh = NULL;
static bool send_busy = false;

/*
 * The batch of rows not sent yet: (int32 length, 'D', body) per complete
 * row, in TopMemoryContext; data is NULL until the first row.
 */
static StringInfoData send_batch;

/*
 * A full batch of which the queue has taken only a part, or none (len 0:
 * no batch in flight); its buffer is the batch's previous one.
 */
static StringInfoData send_inflight;

static void send_comm_reset(void);
static int	send_flush(void);
static int	send_flush_if_writable(void);
static bool send_is_send_pending(void);
static int	send_putmessage(char msgtype, const char *s, size_t len);
static void send_putmessage_noblock(char msgtype, const char *s, size_t len);
static void send_cleanup(dsm_segment *seg, Datum arg);
static int	send_message(char msgtype, const char *s, size_t len, bool flush);
static int	send_batched_rows(void);
static void send_rows_ahead(void);
static bool send_inflight_try(void);
static void send_buffer_done(StringInfo buf);

static const PQcommMethods send_methods = {
	.comm_reset = send_comm_reset,
	.flush = send_flush,
	.flush_if_writable = send_flush_if_writable,
	.is_send_pending = send_is_send_pending,
	.putmessage = send_putmessage,
	.putmessage_noblock = send_putmessage_noblock
};

/*
 * Send protocol output into mqh, a queue of queue_size bytes, batching
 * DataRow messages.  Call after pq_redirect_to_shm_mq(seg, mqh).
 */
void
pgbg_send_batch_rows(dsm_segment *seg, shm_mq_handle *mqh, int32 queue_size)
{
	send_batch_bytes = Min(Max(queue_size / 2, SEND_BATCH_MIN), SEND_BATCH_MAX);
	send_next_try = send_batch_bytes;
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
	/* A pooled worker parks next: do not keep the batches' memory. */
	if (send_batch.data != NULL)
	{
		pfree(send_batch.data);
		send_batch.data = NULL;
	}
	if (send_inflight.data != NULL)
	{
		pfree(send_inflight.data);
		send_inflight.data = NULL;
	}
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
 * Send one message, after the rows batched so far.  An interrupt that
 * arrives while we wait for room, and that sends a message itself, detaches
 * the queue rather than interleave two messages (as core's pqmq does).
 */
static int
send_putmessage(char msgtype, const char *s, size_t len)
{
	/*
	 * ErrorResponse and ReadyForQuery end a job: publish everything; a notice
	 * is shown at once by a launcher reading the job's result.
	 */
	bool		flush = (msgtype == 'E' || msgtype == 'Z' || msgtype == 'N');
	int			result;

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
	result = send_batched_rows();
	if (result == 0)
		result = send_message(msgtype, s, len, flush);
	send_busy = false;
	return result;
}

/*
 * Send the batch in flight, if any, then the complete rows of the batch as
 * one message, and empty both, waiting for room as long as need be.
 */
static int
send_batched_rows(void)
{
	int			result = 0;

	if (send_inflight.data != NULL && send_inflight.len > 0)
	{
		/* The queue's handle goes on from what it took already. */
		result = send_message(PGBG_MSG_ROWS, send_inflight.data,
							  send_inflight.len, false);
		send_buffer_done(&send_inflight);
	}
	if (send_batch.data != NULL)
	{
		if (send_batch.len > 0 && result == 0)
			result = send_message(PGBG_MSG_ROWS, send_batch.data,
								  send_batch.len, false);
		send_buffer_done(&send_batch);
	}
	send_next_try = send_batch_bytes;
	return result;
}

/*
 * Empty a batch buffer after its rows went (or were dropped): do not keep
 * the room a huge row needed.
 */
static void
send_buffer_done(StringInfo buf)
{
	if (buf->maxlen > 4 * SEND_BATCH_MAX)
	{
		pfree(buf->data);
		buf->data = NULL;
		buf->len = 0;
		buf->maxlen = 0;
	}
	else
		resetStringInfo(buf);
}

/*
 * Offer the batch in flight to the queue without waiting; true once the
 * queue has all of it (or the launcher is gone: the rows have nobody to go
 * to), false if there is still no room for the rest.
 */
static bool
send_inflight_try(void)
{
	shm_mq_iovec iov[2];
	char		msgtype = PGBG_MSG_ROWS;

	if (send_inflight.data == NULL || send_inflight.len == 0)
		return true;
	iov[0].data = &msgtype;
	iov[0].len = 1;
	iov[1].data = send_inflight.data;
	iov[1].len = send_inflight.len;
	if (pgbg_shm_mq_sendv(send_mqh, iov, 2, true, false) == SHM_MQ_WOULD_BLOCK)
		return false;
	send_buffer_done(&send_inflight);
	return true;
}

/*
 * The batch is full (send_row): put it in flight, without waiting, unless
 * the previous one is still in flight.  That one is offered to the queue
 * again each time the batch has grown by a quarter batch more, and waited
 * for once the batch holds SEND_AHEAD batches' worth (see the header).
 */
static void
send_rows_ahead(void)
{
	StringInfoData swap;

	if (!send_inflight_try())
	{
		if (send_batch.len < SEND_AHEAD * send_batch_bytes)
		{
			send_next_try = send_batch.len + Max(send_batch_bytes / 4, 1);
			return;
		}
		if (send_message(PGBG_MSG_ROWS, send_inflight.data,
						 send_inflight.len, false) != 0)
		{
			/* The launcher is gone: drop the rows. */
			send_buffer_done(&send_inflight);
			send_buffer_done(&send_batch);
			send_next_try = send_batch_bytes;
			return;
		}
		send_buffer_done(&send_inflight);
	}

	/* The batch goes in flight; the empty buffer becomes the batch. */
	swap = send_inflight;
	send_inflight = send_batch;
	send_batch = swap;			/* send_row allocates it if need be */
	send_next_try = send_batch_bytes;
	(void) send_inflight_try();
}

/*
 * Put one message into the queue, waiting for room if need be; publish it
 * (and what is pending) if flush is set, else leave that to the queue.
 */
static int
send_message(char msgtype, const char *s, size_t len, bool flush)
{
	shm_mq_iovec iov[2];
	shm_mq_result result;

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
	return result == SHM_MQ_SUCCESS ? 0 : EOF;
}

static void
send_putmessage_noblock(char msgtype, const char *s, size_t len)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("non-blocking sends are not supported by pg_background workers")));
}

/* ---------------------------------------------------------------------
 * The DestReceiver for rows
 * ---------------------------------------------------------------------
 */

/* How a column's values are written. */
typedef enum send_kind
{
	SEND_RAW,					/* binary text/varchar/bytea: the bytes */
	SEND_INT2,
	SEND_INT4,
	SEND_INT8,
	SEND_FUNCTION,				/* binary: the type's send function */
	SEND_OUTPUT					/* text: the type's output function */
}			send_kind;

typedef struct send_column
{
	send_kind	kind;
	FmgrInfo	finfo;
}			send_column;

typedef struct send_receiver
{
	DestReceiver pub;
	Portal		portal;
	StringInfoData buf;
	MemoryContext rowcontext;
	TupleDesc	attrinfo;		/* what columns was set up for */
	int			natts;
	send_column *columns;
	bool		direct;			/* every column is SEND_RAW or SEND_INTn */
	struct varlena **raw;		/* per column, a SEND_RAW value detoasted */
}			send_receiver;

static void send_startup(DestReceiver *self, int operation,
						 TupleDesc typeinfo);
static bool send_row(TupleTableSlot *slot, DestReceiver *self);
static void send_shutdown(DestReceiver *self);
static void send_destroy(DestReceiver *self);
static void send_prepare(send_receiver * r, TupleDesc typeinfo);
static void send_row_direct(send_receiver * r, TupleTableSlot *slot);
static void send_row_built(send_receiver * r, TupleTableSlot *slot);

/*
 * A receiver that sends the portal's rows (in the formats set on the
 * portal) as RowDescription and DataRow messages.
 */
DestReceiver *
pgbg_send_receiver(Portal portal)
{
	send_receiver *r = palloc0(sizeof(send_receiver));

	r->pub.receiveSlot = send_row;
	r->pub.rStartup = send_startup;
	r->pub.rShutdown = send_shutdown;
	r->pub.rDestroy = send_destroy;
	r->pub.mydest = DestRemote;
	r->portal = portal;
	return &r->pub;
}

static void
send_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	send_receiver *r = (send_receiver *) self;

	initStringInfo(&r->buf);
	r->rowcontext = AllocSetContextCreate(CurrentMemoryContext,
										  "pg_background row",
										  ALLOCSET_DEFAULT_SIZES);
	SendRowDescriptionMessage(&r->buf, typeinfo,
							  FetchPortalTargetList(r->portal),
							  r->portal->formats);
}

/*
 * Set up how each column is written.
 */
static void
send_prepare(send_receiver * r, TupleDesc typeinfo)
{
	int			i;

	if (r->columns != NULL)
		pfree(r->columns);
	if (r->raw != NULL)
		pfree(r->raw);
	r->attrinfo = typeinfo;
	r->natts = typeinfo->natts;
	r->columns = palloc0(sizeof(send_column) * Max(r->natts, 1));
	r->raw = palloc0(sizeof(struct varlena *) * Max(r->natts, 1));
	r->direct = true;
	for (i = 0; i < r->natts; i++)
	{
		Oid			typid = TupleDescAttr(typeinfo, i)->atttypid;
		int16		format = r->portal->formats ? r->portal->formats[i] : 0;
		send_column *c = &r->columns[i];
		Oid			func;
		bool		isvarlena;

		if (format == 0)
		{
			getTypeOutputInfo(typid, &func, &isvarlena);
			c->kind = SEND_OUTPUT;
			fmgr_info(func, &c->finfo);
			r->direct = false;
			continue;
		}
		switch (typid)
		{
			case TEXTOID:
			case VARCHAROID:
			case BYTEAOID:
				c->kind = SEND_RAW;
				break;
			case INT2OID:
				c->kind = SEND_INT2;
				break;
			case INT4OID:
				c->kind = SEND_INT4;
				break;
			case INT8OID:
				c->kind = SEND_INT8;
				break;
			default:
				getTypeBinaryOutputInfo(typid, &func, &isvarlena);
				c->kind = SEND_FUNCTION;
				fmgr_info(func, &c->finfo);
				r->direct = false;
				break;
		}
	}
}

/*
 * Add one row, as a DataRow message, to the batch; send the batch once it
 * is full.
 */
static bool
send_row(TupleTableSlot *slot, DestReceiver *self)
{
	send_receiver *r = (send_receiver *) self;
	TupleDesc	typeinfo = slot->tts_tupleDescriptor;

	if (r->attrinfo != typeinfo || r->natts != typeinfo->natts)
		send_prepare(r, typeinfo);
	slot_getallattrs(slot);
	if (send_batch.data == NULL)
	{
		MemoryContext oldcontext = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&send_batch);
		MemoryContextSwitchTo(oldcontext);
	}

	if (r->direct)
		send_row_direct(r, slot);
	else
		send_row_built(r, slot);

	if (send_batch.len >= send_next_try)
	{
		if (send_mqh == NULL || send_busy)
			resetStringInfo(&send_batch);	/* nobody to send to */
		else
		{
			send_busy = true;
			send_rows_ahead();
			send_busy = false;
		}
	}
	return true;
}

/*
 * Bytes that a SEND_RAW or SEND_INTn value takes after its length word;
 * raw is the detoasted value of a SEND_RAW column.
 */
static inline int32
send_fast_len(send_kind kind, struct varlena *raw)
{
	switch (kind)
	{
		case SEND_RAW:
			return VARSIZE_ANY_EXHDR(raw);
		case SEND_INT2:
			return sizeof(int16);
		case SEND_INT4:
			return sizeof(int32);
		case SEND_INT8:
			return sizeof(int64);
		default:
			Assert(false);
			return 0;
	}
}

/*
 * Write a SEND_RAW or SEND_INTn value, with its length word, into buf,
 * which has room for it (sizeof(int32) + send_fast_len bytes).
 */
static inline void
send_fast_write(StringInfo buf, send_kind kind, Datum value,
				struct varlena *raw)
{
	int32		len = send_fast_len(kind, raw);

	pq_writeint32(buf, len);
	switch (kind)
	{
		case SEND_RAW:
			memcpy(buf->data + buf->len, VARDATA_ANY(raw), len);
			buf->len += len;
			break;
		case SEND_INT2:
			pq_writeint16(buf, DatumGetInt16(value));
			break;
		case SEND_INT4:
			pq_writeint32(buf, DatumGetInt32(value));
			break;
		case SEND_INT8:
			pq_writeint64(buf, DatumGetInt64(value));
			break;
		default:
			Assert(false);
			break;
	}
}

/*
 * Append (length, 'D', body) of a row of bytes and integers to the batch:
 * detoast and size everything first, so that nothing can fail once the
 * row is being written, then write it in place.
 */
static void
send_row_direct(send_receiver * r, TupleTableSlot *slot)
{
	MemoryContext oldcontext = MemoryContextSwitchTo(r->rowcontext);
	Size		size = sizeof(int32) + 1 + sizeof(int16);
	int32		rowlen;
	int			i;

	for (i = 0; i < r->natts; i++)
	{
		size += sizeof(int32);
		if (slot->tts_isnull[i])
			continue;
		if (r->columns[i].kind == SEND_RAW)
			r->raw[i] = pg_detoast_datum_packed((struct varlena *)
												DatumGetPointer(slot->tts_values[i]));
		size += send_fast_len(r->columns[i].kind, r->raw[i]);
	}

	/* Rows too big for one message fail where printtup's would. */
	if (size >= MaxAllocSize)
	{
		MemoryContextSwitchTo(oldcontext);
		send_row_built(r, slot);
		return;
	}

	enlargeStringInfo(&send_batch, (int) size);
	rowlen = (int32) (size - sizeof(int32));
	/* The batch's own length words are in host order (wire.c). */
	memcpy(send_batch.data + send_batch.len, &rowlen, sizeof(rowlen));
	send_batch.len += sizeof(rowlen);
	send_batch.data[send_batch.len++] = 'D';
	pq_writeint16(&send_batch, r->natts);
	for (i = 0; i < r->natts; i++)
	{
		if (slot->tts_isnull[i])
			pq_writeint32(&send_batch, -1);
		else
			send_fast_write(&send_batch, r->columns[i].kind,
							slot->tts_values[i], r->raw[i]);
	}
	send_batch.data[send_batch.len] = '\0';
	MemoryContextSwitchTo(oldcontext);
	MemoryContextReset(r->rowcontext);
}

/*
 * Build a row in the receiver's own buffer, calling the columns' send or
 * output functions, then append (length, 'D', body) to the batch.
 */
static void
send_row_built(send_receiver * r, TupleTableSlot *slot)
{
	StringInfo	buf = &r->buf;
	MemoryContext oldcontext;
	int32		rowlen;
	int			i;

	oldcontext = MemoryContextSwitchTo(r->rowcontext);

	/*
	 * Build the row on its own: an output function may send a message (a
	 * notice) meanwhile, which sends the batch first.  Only a complete row
	 * joins the batch.
	 */
	pq_beginmessage_reuse(buf, 'D');
	pq_sendint16(buf, r->natts);
	for (i = 0; i < r->natts; i++)
	{
		Datum		value = slot->tts_values[i];
		send_column *c = &r->columns[i];

		if (slot->tts_isnull[i])
		{
			pq_sendint32(buf, -1);
			continue;
		}
		switch (c->kind)
		{
			case SEND_RAW:
			case SEND_INT2:
			case SEND_INT4:
			case SEND_INT8:
				{
					struct varlena *raw = NULL;

					if (c->kind == SEND_RAW)
						raw = pg_detoast_datum_packed((struct varlena *)
													  DatumGetPointer(value));
					enlargeStringInfo(buf, sizeof(int32) +
									  send_fast_len(c->kind, raw));
					send_fast_write(buf, c->kind, value, raw);
					break;
				}
			case SEND_FUNCTION:
				{
					bytea	   *bytes = SendFunctionCall(&c->finfo, value);

					pq_sendint32(buf, VARSIZE(bytes) - VARHDRSZ);
					pq_sendbytes(buf, VARDATA(bytes), VARSIZE(bytes) - VARHDRSZ);
					break;
				}
			case SEND_OUTPUT:
				{
					/*
					 * The worker's client_encoding is the database encoding
					 * (worker.c), so no conversion applies.
					 */
					char	   *str = OutputFunctionCall(&c->finfo, value);
					int			len = strlen(str);

					pq_sendint32(buf, len);
					pq_sendbytes(buf, str, len);
					break;
				}
		}
	}
	MemoryContextSwitchTo(oldcontext);
	MemoryContextReset(r->rowcontext);

	rowlen = buf->len + 1;
	appendBinaryStringInfo(&send_batch, (char *) &rowlen, sizeof(rowlen));
	appendStringInfoCharMacro(&send_batch, 'D');
	appendBinaryStringInfo(&send_batch, buf->data, buf->len);
}

static void
send_shutdown(DestReceiver *self)
{
	send_receiver *r = (send_receiver *) self;

	if (r->columns != NULL)
		pfree(r->columns);
	r->columns = NULL;
	if (r->raw != NULL)
		pfree(r->raw);
	r->raw = NULL;
	r->attrinfo = NULL;
	r->natts = 0;
	if (r->buf.data != NULL)
		pfree(r->buf.data);
	r->buf.data = NULL;
	if (r->rowcontext != NULL)
		MemoryContextDelete(r->rowcontext);
	r->rowcontext = NULL;
}

static void
send_destroy(DestReceiver *self)
{
	pfree(self);
}
