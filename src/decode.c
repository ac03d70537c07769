/*-------------------------------------------------------------------------
 *
 * decode.c
 *		Turn a worker's protocol stream into the rows of pg_background_result.
 *
 * The result of a string is what its last statement returns, as in
 * upstream pg_background: the worker sends the rows of the last statement
 * only (see worker_execute), and a CommandComplete ('C') for every
 * statement.
 *
 * Rows arrive as RowDescription ('T') followed by DataRow ('D') messages.
 * The RowDescription is checked against the caller's column definition
 * list (same number of columns, same types; a domain in the list matches
 * its base type, and its constraints are applied on input), then each
 * DataRow is converted with the declared types' input (or receive)
 * functions and stored in the caller's tuplestore as it arrives, so the
 * worker keeps producing while we decode and the queue never has to hold a
 * whole result.
 *
 * When the last statement returns no result set, the command tags of all
 * statements ('C' messages, such as "INSERT 0 1" or "VACUUM") are the
 * result, one row each, and the column definition list must then be a
 * single string column (also for an empty string, which has no tag).
 *
 * Each message is decoded in a memory context that is reset before the next
 * one; only the tuplestore and the list of tags outlive a message.
 *
 * The worker sends everything in the database encoding, and receive
 * functions such as textrecv convert from the session's client_encoding.
 * So, while decoding, this session's client encoding is switched to the
 * database encoding; it is switched back around every notice relayed to
 * the client, and at the end, error or not.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pg_background.h"
#include "pgbg_compat.h"

typedef struct decode_state
{
	int32		pid;
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	FmgrInfo   *text_in;		/* per column, declared type's input */
	Oid		   *text_ioparam;
	FmgrInfo   *binary_in;		/* per column, set up on first use */
	Oid		   *binary_ioparam;
	bool	   *binary_ready;
	int16	   *formats;		/* formats of the current result set */
	Datum	   *values;
	bool	   *nulls;
	bool		in_result_set;	/* a RowDescription is in effect */
	bool		any_result_set; /* the last statement returned a result set */
	List	   *tags;			/* command tags, while no result set seen */
	StringInfoData scratch;		/* a text value, NUL-terminated */
	MemoryContext fn_context;	/* for FmgrInfo caches: outlives messages */
} decode_state;

static int	decode_saved_encoding = -1;

static void decode_use_db_encoding(bool on);
static void decode_messages(pgbg_job *job, decode_state *state,
							MemoryContext msg_context);
static void decode_row_description(decode_state *state, StringInfo msg);
static void decode_data_row(decode_state *state, StringInfo msg);
static void decode_finish_tags(decode_state *state);
static bool decode_is_string_type(Oid typid);
static bool decode_raw_text(Form_pg_attribute attr);

/*
 * Read the job's messages until its ReadyForQuery, storing the rows into
 * tupstore (shaped by tupdesc).  Errors and notices from the worker are
 * re-raised in order; a worker gone without ReadyForQuery is 08006.
 */
void
pgbg_decode_result(pgbg_job *job, Tuplestorestate *tupstore, TupleDesc tupdesc)
{
	decode_state state;
	MemoryContext msg_context;
	int			natts = tupdesc->natts;
	int			i;

	memset(&state, 0, sizeof(state));
	state.pid = job->pid;
	state.tupdesc = tupdesc;
	state.tupstore = tupstore;
	state.text_in = palloc0(sizeof(FmgrInfo) * Max(natts, 1));
	state.text_ioparam = palloc0(sizeof(Oid) * Max(natts, 1));
	state.binary_in = palloc0(sizeof(FmgrInfo) * Max(natts, 1));
	state.binary_ioparam = palloc0(sizeof(Oid) * Max(natts, 1));
	state.binary_ready = palloc0(sizeof(bool) * Max(natts, 1));
	state.formats = palloc0(sizeof(int16) * Max(natts, 1));
	state.values = palloc0(sizeof(Datum) * Max(natts, 1));
	state.nulls = palloc0(sizeof(bool) * Max(natts, 1));
	initStringInfo(&state.scratch);
	state.fn_context = CurrentMemoryContext;

	for (i = 0; i < natts; i++)
	{
		Oid			infunc;

		getTypeInputInfo(TupleDescAttr(tupdesc, i)->atttypid,
						 &infunc, &state.text_ioparam[i]);
		fmgr_info(infunc, &state.text_in[i]);
	}

	msg_context = AllocSetContextCreate(CurrentMemoryContext,
										"pg_background message",
										ALLOCSET_DEFAULT_SIZES);

	decode_use_db_encoding(true);
	PG_TRY();
	{
		decode_messages(job, &state, msg_context);
	}
	PG_FINALLY();
	{
		decode_use_db_encoding(false);
	}
	PG_END_TRY();

	MemoryContextDelete(msg_context);
	decode_finish_tags(&state);
}

/*
 * The message loop of pgbg_decode_result: until ReadyForQuery.
 */
static void
decode_messages(pgbg_job *job, decode_state *state, MemoryContext msg_context)
{
	MemoryContext oldcontext;
	bool		done = false;

	while (!done)
	{
		StringInfoData msg;
		char		msgtype;

		if (!pgbg_control_receive(job, &msg))
		{
			/* Canceled (maybe by another session) before it could answer? */
			pgbg_control_check_canceled(job);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("lost connection to worker process with PID %d",
							job->pid),
					 errdetail("The worker exited before it finished sending its results."),
					 errhint("More details may be available in the server log.")));
		}

		MemoryContextReset(msg_context);
		oldcontext = MemoryContextSwitchTo(msg_context);

		msgtype = pq_getmsgbyte(&msg);
		switch (msgtype)
		{
			case 'E':
			case 'N':
				decode_use_db_encoding(false);
				pgbg_wire_report(&msg, msgtype, job->pid);
				decode_use_db_encoding(true);
				break;
			case 'T':
				decode_row_description(state, &msg);
				break;
			case 'D':
				decode_data_row(state, &msg);
				break;
			case 'C':
				{
					const char *tag = pq_getmsgstring(&msg);

					if (!state->any_result_set)
					{
						MemoryContextSwitchTo(oldcontext);
						state->tags = lappend(state->tags, pstrdup(tag));
						MemoryContextSwitchTo(msg_context);
					}
					state->in_result_set = false;
					break;
				}
			case 'Z':
				done = true;
				break;
			case 'I':			/* EmptyQueryResponse */
			case 'A':			/* NotificationResponse: the worker LISTENs */
			case 'S':			/* ParameterStatus */
				break;
			case 'G':
			case 'H':
			case 'W':
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("COPY to or from the client is not supported in pg_background")));
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("unexpected message type 0x%02X from background worker with PID %d",
								(unsigned char) msgtype, job->pid)));
		}
		MemoryContextSwitchTo(oldcontext);
	}
}

/*
 * Switch this session's client encoding to the database encoding (on), or
 * back to what it was (off).  Both are no-ops when nothing needs to change.
 */
static void
decode_use_db_encoding(bool on)
{
	if (on)
	{
		int			current = pg_get_client_encoding();

		if (decode_saved_encoding < 0 && current != GetDatabaseEncoding())
		{
			decode_saved_encoding = current;
			(void) SetClientEncoding(GetDatabaseEncoding());
		}
	}
	else if (decode_saved_encoding >= 0)
	{
		int			saved = decode_saved_encoding;

		decode_saved_encoding = -1;
		if (SetClientEncoding(saved) < 0)
			ereport(WARNING,
					(errmsg("could not restore client encoding \"%s\"",
							pg_encoding_to_char(saved))));
	}
}

/*
 * Check a RowDescription against the column definition list and remember
 * the per-column formats of the result set it starts.
 */
static void
decode_row_description(decode_state *state, StringInfo msg)
{
	TupleDesc	tupdesc = state->tupdesc;
	int			natts = pq_getmsgint(msg, 2);
	int			i;

	if (natts != tupdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query result rowtype does not match the specified FROM clause rowtype"),
				 errdetail("The background worker's query returns %d column(s), but the column definition list has %d.",
						   natts, tupdesc->natts)));

	for (i = 0; i < natts; i++)
	{
		const char *name = pq_getmsgstring(msg);
		Oid			typid;
		Oid			declared = TupleDescAttr(tupdesc, i)->atttypid;

		(void) pq_getmsgint(msg, 4);	/* table OID */
		(void) pq_getmsgint(msg, 2);	/* column number */
		typid = pq_getmsgint(msg, 4);
		(void) pq_getmsgint(msg, 2);	/* type length */
		(void) pq_getmsgint(msg, 4);	/* type modifier */
		state->formats[i] = pq_getmsgint(msg, 2);

		/*
		 * A void column (SELECT pg_sleep(1)) reads as an empty string, since
		 * no column definition list can declare void.
		 */
		if (typid == VOIDOID && decode_is_string_type(declared))
			state->formats[i] = 0;
		else if (typid != declared && typid != getBaseType(declared))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("remote query result rowtype does not match the specified FROM clause rowtype"),
					 errdetail("Column %d (\"%s\") of the background worker's result has type %s, but the column definition list declares %s.",
							   i + 1, name, format_type_be(typid),
							   format_type_be(declared))));

		if (state->formats[i] == 1 && !state->binary_ready[i])
		{
			Oid			recvfunc;

			getTypeBinaryInputInfo(declared, &recvfunc,
								   &state->binary_ioparam[i]);
			/* Not in the message context: domain_recv caches in fn_mcxt. */
			fmgr_info_cxt(recvfunc, &state->binary_in[i], state->fn_context);
			state->binary_ready[i] = true;
		}
	}
	pq_getmsgend(msg);

	state->in_result_set = true;
	state->any_result_set = true;
}

/*
 * Is the binary form of this column's type just the bytes of the value
 * (text, bytea, and varchar without a length limit to apply)?
 */
static bool
decode_raw_text(Form_pg_attribute attr)
{
	return attr->atttypid == TEXTOID || attr->atttypid == BYTEAOID ||
		(attr->atttypid == VARCHAROID && attr->atttypmod < 0);
}

/*
 * Convert a DataRow into a tuple of the caller's row type and store it.
 */
static void
decode_data_row(decode_state *state, StringInfo msg)
{
	TupleDesc	tupdesc = state->tupdesc;
	int			natts;
	int			i;

	if (!state->in_result_set)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("background worker with PID %d sent a data row without a row description",
						state->pid)));

	natts = pq_getmsgint(msg, 2);
	if (natts != tupdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("background worker with PID %d sent a row of %d columns, expected %d",
						state->pid, natts, tupdesc->natts)));

	for (i = 0; i < natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		int32		len = pq_getmsgint(msg, 4);
		const char *bytes = NULL;

		if (len < -1 || len > msg->len - msg->cursor)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("invalid value length %d from background worker with PID %d",
							len, state->pid)));
		if (len >= 0)
			bytes = pq_getmsgbytes(msg, len);
		state->nulls[i] = (len == -1);

		if (state->formats[i] == 1 && bytes != NULL && decode_raw_text(attr))
		{
			/*
			 * The binary form of text, varchar and bytea is the value's
			 * bytes. They come from our own worker, in the database encoding
			 * (see pgbg_decode_result), so textrecv's validation would only
			 * repeat the worker's.
			 */
			state->values[i] = PointerGetDatum(cstring_to_text_with_len(bytes,
																		len));
		}
		else if (state->formats[i] == 1)
		{
			StringInfoData value;
			StringInfo	valuep = NULL;

			if (bytes != NULL)
			{
				/* Receive functions may rely on a terminating NUL. */
				resetStringInfo(&state->scratch);
				appendBinaryStringInfo(&state->scratch, bytes, len);
				pgbg_init_readonly_stringinfo(&value, state->scratch.data, len);
				valuep = &value;
			}
			state->values[i] = ReceiveFunctionCall(&state->binary_in[i],
												   valuep,
												   state->binary_ioparam[i],
												   attr->atttypmod);
		}
		else
		{
			char	   *str = NULL;

			if (bytes != NULL)
			{
				resetStringInfo(&state->scratch);
				appendBinaryStringInfo(&state->scratch, bytes, len);
				str = state->scratch.data;
			}
			state->values[i] = InputFunctionCall(&state->text_in[i], str,
												 state->text_ioparam[i],
												 attr->atttypmod);
		}
	}
	pq_getmsgend(msg);

	tuplestore_putvalues(state->tupstore, tupdesc, state->values, state->nulls);
}

/*
 * A string whose last statement returned no result set returns its command
 * tags (none for an empty string), which requires a single string column.
 */
static void
decode_finish_tags(decode_state *state)
{
	TupleDesc	tupdesc = state->tupdesc;
	ListCell   *lc;

	if (state->any_result_set)
		return;

	if (tupdesc->natts != 1 ||
		!decode_is_string_type(TupleDescAttr(tupdesc, 0)->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query did not return a result set, but result rowtype is not a single text column"),
				 state->tags == NIL ?
				 errdetail("The background worker's SQL string has no statement.") :
				 errdetail("The background worker's SQL returned only command tags."),
				 errhint("Use a column definition list such as AS (result text).")));

	foreach(lc, state->tags)
	{
		Datum		value;
		bool		isnull = false;

		value = InputFunctionCall(&state->text_in[0], lfirst(lc),
								  state->text_ioparam[0],
								  TupleDescAttr(tupdesc, 0)->atttypmod);
		tuplestore_putvalues(state->tupstore, tupdesc, &value, &isnull);
	}
}

/*
 * Is typid (or its base type) a string type: text, varchar, bpchar, name?
 */
static bool
decode_is_string_type(Oid typid)
{
	char		category;
	bool		preferred;

	get_type_category_preferred(getBaseType(typid), &category, &preferred);
	return category == TYPCATEGORY_STRING;
}
