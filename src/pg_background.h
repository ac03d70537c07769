/*-------------------------------------------------------------------------
 *
 * pg_background.h
 *		Contracts between the modules of pg_background.
 *
 * Modules and what each promises:
 *
 *	 entry.c	SQL-callable functions.  Validates arguments, applies the
 *				privilege rules, and delegates to the modules below.
 *	 session.c	The registry of jobs launched by this session (keyed by
 *				worker PID).  Owns the long-lived memory context that holds
 *				every job, its DSM mapping and its queue handle.  Lookups
 *				raise the user-facing errors (42704, 42501).
 *	 launch.c	Builds a job's DSM segment (SQL, GUC state, identity, queue),
 *				registers the worker and waits until the worker has attached
 *				to the queue, so a job can never be lost because its launcher
 *				went away early.  Returns a registered job.
 *	 worker.c	The worker process: attaches, redirects its protocol output
 *				to the queue before anything can fail, connects as the
 *				launcher, restores its GUC state and security context, and
 *				runs the SQL string with simple-query semantics.
 *	 wire.c		The launcher's end of the queue: receives one protocol
 *				message at a time and turns ErrorResponse/NoticeResponse
 *				messages into errors and notices of the calling session.
 *	 decode.c	Turns a job's message stream into the rows (or command
 *				tags) of pg_background_result, checked against the caller's
 *				column definition list.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_BACKGROUND_H
#define PG_BACKGROUND_H

#include "funcapi.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/shm_mq.h"

/* Default and bounds for queue_size, in bytes. */
#define PGBG_DEFAULT_QUEUE_SIZE		65536
#define PGBG_MAX_QUEUE_SIZE			(1024 * 1024 * 1024)	/* 1 GB */

/* bgw_type of our workers, as shown in pg_stat_activity.backend_type. */
#define PGBG_WORKER_TYPE			"pg_background"

/*
 * A job launched by this session.  Lives in the session context until the
 * job is detached, or (once its result is consumed) until it is evicted from
 * the list of remembered consumed jobs.
 */
typedef struct pgbg_job
{
	int32		pid;			/* hash key: worker PID */
	int64		cookie;			/* random per launch */
	Oid			user_id;		/* current user at launch */
	dsm_segment *seg;			/* NULL once detached */
	shm_mq_handle *mqh;			/* NULL once detached */
	BackgroundWorkerHandle *handle;
	bool		consumed;		/* result has been read (or started) */
	dlist_node	consumed_node;	/* position among consumed jobs */
} pgbg_job;

/* session.c */
extern MemoryContext pgbg_session_context(void);
extern pgbg_job *pgbg_session_add(int32 pid, int64 cookie, Oid user_id,
								  dsm_segment *seg, shm_mq_handle *mqh,
								  BackgroundWorkerHandle *handle);
extern pgbg_job *pgbg_session_find(int32 pid);
extern void pgbg_session_mark_consumed(pgbg_job *job);
extern void pgbg_session_release(pgbg_job *job);
extern void pgbg_session_forget(pgbg_job *job);

/* launch.c */
extern pgbg_job *pgbg_launch(const char *sql, int32 queue_size);

/* worker.c */
extern PGDLLEXPORT void pg_background_worker_main(Datum main_arg);

/* wire.c */
extern bool pgbg_wire_receive(pgbg_job *job, StringInfo msg);
extern void pgbg_wire_report(StringInfo msg, char msgtype, int32 pid);

/* decode.c */
extern void pgbg_decode_result(pgbg_job *job, Tuplestorestate *tupstore,
							   TupleDesc tupdesc);

#endif							/* PG_BACKGROUND_H */
