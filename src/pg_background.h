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
 *	 launch.c	Describes a job (SQL, GUC state, identity), admits it, and
 *				either builds its DSM segment, registers the worker and waits
 *				until the worker has attached to the queue (so a job can
 *				never be lost because its launcher went away early), or
 *				queues its description.  Returns a registered job.
 *	 params.c	Parameters bound to $1..$n: collected from VARIADIC "any"
 *				arguments, serialized into the segment, restored by the
 *				worker as a ParamListInfo (never spliced into the SQL).
 *	 settings.c	The settings the launcher's session made (SET, connection
 *				options), carried to a worker that starts afresh: the only
 *				ones it does not have already.
 *	 worker.c	The worker process: attaches, redirects its protocol output
 *				to the queue before anything can fail, connects as the
 *				launcher, restores its GUC state and security context, and
 *				runs the SQL string with simple-query semantics.
 *	 send.c		The worker's end of the queue: protocol messages into the
 *				shm_mq, rows published in batches rather than one by one.
 *	 wire.c		The launcher's end of the queue: receives one protocol
 *				message at a time (first from the job's spool, then from the
 *				queue), drains the queue into the spool while somebody waits
 *				without reading, and turns ErrorResponse/NoticeResponse
 *				messages into errors and notices of the calling session.
 *	 control.c	Job state as the user sees it (running, stopped, canceled,
 *				error), waiting for one of several jobs on the latch (every
 *				wait of the launcher goes through pgbg_control_sleep, which
 *				detects a worker blocked by a lock this session holds and
 *				raises 40P01), and canceling with a grace period (SIGINT,
 *				then SIGTERM; never SIGKILL).
 *	 decode.c	Turns a job's message stream into the rows (or command
 *				tags) of pg_background_result, checked against the caller's
 *				column definition list.
 *	 preload.c	_PG_init: every module's settings; with
 *				shared_preload_libraries, the shared memory of the directory
 *				and the pool, and the dispatcher's registration.
 *	 directory.c With shared_preload_libraries: the storage of the shared
 *				job directory (every job of the cluster, its owner, state
 *				and outcome, kept after its launcher left and across
 *				restarts): the table, its lock, the lists of free, queued,
 *				active and finished entries kept in step at unlock, the
 *				file, and the lookups, which apply the visibility rule (only
 *				members of the owner role see a job).  It changes nothing
 *				on its own.
 *	 lifecycle.c The only module that changes a directory job's state: the
 *				named transitions (submit, requeue, enqueue, hand to pool,
 *				abandon, cancel, dispatch, undispatch, vanished, submit
 *				and withdraw of a durable attempt, attached, publish,
 *				results taken, worker done), each doing its own
 *				bookkeeping (pins, the stored description, the wake-ups),
 *				and admission control (limits, the queue and each role's
 *				share of it).
 *	 segment.c	A job's launch description (pgbg_spec) and the segment built
 *				from it, by the launcher of a job that starts at once or by
 *				the worker of a queued one; the launcher's late mapping of
 *				the latter.
 *	 specstore.c The shared area where queued jobs' descriptions wait, so
 *				that a queued job holds no DSM segment.
 *	 dispatcher.c The background worker that starts queued jobs when the
 *				limits and a free worker slot allow, and the runners of
 *				durable jobs.
 *	 durable.c	Durable jobs: the only code that changes a row of their
 *				table (named transitions, run as the table's owner), their
 *				shared state (databases and their runners, the file that
 *				lists them, running jobs' slots, the condition variable
 *				waiters sleep on), the wake-up at commit, the SQL API.
 *	 durable_run.c The processes that run durable jobs: a runner per
 *				database (claims due jobs that the admission limits let
 *				start, each attempt an entry of the directory; hands each
 *				to a parked worker of the job's role, or starts a worker).
 *	 durable_attempt.c One attempt, in the worker's loop (worker.c runs
 *				its SQL as the job's role): checks it is still the
 *				worker's, records the success before the last commit (the
 *				commit hook) or the error after a rollback, and gives the
 *				attempt's slot up when done or when the process exits.
 *	 pool.c		The warm pool's slots: workers that finished a job park,
 *				connected, and take the next job of the same database and
 *				user.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_BACKGROUND_H
#define PG_BACKGROUND_H

#include "funcapi.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "nodes/params.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/lwlock.h"
#include "storage/shm_mq.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/dest.h"
#include "utils/dsa.h"
#include "utils/portal.h"
#include "utils/timestamp.h"

struct BufFile;

/* A job's launch description (segment.c, pgbg_layout.h). */
typedef struct pgbg_spec pgbg_spec;

/* Default and bounds for queue_size, in bytes. */
#define PGBG_DEFAULT_QUEUE_SIZE		65536
#define PGBG_MAX_QUEUE_SIZE			(1024 * 1024 * 1024)	/* 1 GB */
#define PGBG_DEFAULT_MAX_QUEUE_SIZE	(16 * 1024 * 1024)	/* 16 MB */

/* bgw_type of our workers, as shown in pg_stat_activity.backend_type. */
#define PGBG_WORKER_TYPE			"pg_background"

/* Default grace period of pg_background_cancel_v2, in milliseconds. */
#define PGBG_DEFAULT_GRACE_MS		1000

/* Sizes of the text fields of an outcome (longer values are clipped). */
#define PGBG_TAG_LEN				64
#define PGBG_MESSAGE_LEN			512
#define PGBG_DETAIL_LEN				512
#define PGBG_HINT_LEN				256
#define PGBG_CONTEXT_LEN			1024
#define PGBG_PROGRESS_LEN			256

/* How much of the SQL string the job list shows. */
#define PGBG_PREVIEW_CHARS			120
#define PGBG_PREVIEW_BYTES			(PGBG_PREVIEW_CHARS * 4 + 1)

/* How much of a label the shared job directory keeps. */
#define PGBG_LABEL_LEN				64

/* Life cycle of a job, as its worker reports it. */
typedef enum pgbg_state
{
	PGBG_STATE_STARTING = 0,	/* attached, not yet connected */
	PGBG_STATE_RUNNING,			/* connected, running the SQL */
	PGBG_STATE_DONE,			/* finished, committed */
	PGBG_STATE_ERROR			/* finished with an error */
} pgbg_state;

/*
 * What a worker reports about its job, written by the worker into shared
 * memory (under pgbg_status.mutex) and copied by the launcher.
 */
typedef struct pgbg_outcome
{
	pgbg_state	state;
	TimestampTz started_at;		/* 0 until connected */
	TimestampTz finished_at;	/* 0 until finished */
	uint64		row_count;		/* rows of the last statement */
	int32		progress_pct;	/* -1 until pg_background_progress */
	char		command_tag[PGBG_TAG_LEN];	/* of the last statement */
	char		sqlstate[6];	/* "" unless state is ERROR */
	char		message[PGBG_MESSAGE_LEN];
	char		detail[PGBG_DETAIL_LEN];
	char		hint[PGBG_HINT_LEN];
	char		context[PGBG_CONTEXT_LEN];
	char		progress_msg[PGBG_PROGRESS_LEN];
} pgbg_outcome;

/*
 * The shared part of a job's status: the worker writes, anyone attached may
 * read.  The worker sets the launcher's latch after every change of state.
 */
typedef struct pgbg_status
{
	slock_t		mutex;
	PGPROC	   *launcher;		/* whose latch to set */
	int32		worker_pid;		/* written once the worker attached */
	PGPROC	   *worker;			/* likewise */
	bool		go;				/* the launch returned: run the job */
	bool		abandoned;		/* the launch failed: run nothing */
	pgbg_outcome outcome;
} pgbg_status;

/* What the job list shows for a job (see pgbg_session_state). */
typedef enum pgbg_view_state
{
	PGBG_VIEW_RUNNING,
	PGBG_VIEW_STOPPED,
	PGBG_VIEW_CANCELED,
	PGBG_VIEW_ERROR,
	PGBG_VIEW_QUEUED,			/* waiting for a worker (directory only) */
	PGBG_VIEW_LOST				/* lost on server restart (directory only) */
} pgbg_view_state;

/* Where a job of the shared directory is in its life. */
typedef enum pgbg_dir_state
{
	PGBG_DIR_FREE = 0,			/* entry unused */
	PGBG_DIR_QUEUED,			/* waiting for a worker */
	PGBG_DIR_ACTIVE,			/* worker admitted; see exited and outcome */
	PGBG_DIR_CANCELED,			/* canceled while queued */
	PGBG_DIR_LOST				/* not finished when the server restarted */
} pgbg_dir_state;

/*
 * An entry of the shared job directory (directory.c).  Workers write their
 * outcome here as they write it into their segment.
 */
typedef struct pgbg_dir_entry
{
	pgbg_dir_state state;
	uint64		seq;			/* unique per job, increasing */
	int32		handle_pid;		/* the handle's PID (negative while queued) */
	int64		cookie;
	int32		worker_pid;		/* 0 until the worker mapped its segment */
	bool		exited;			/* the worker process is gone (or never ran) */
	bool		seg_pinned;		/* seg is pinned for a worker to map */
	bool		canceled;		/* a cancel was asked for */
	bool		results_held;	/* seg, built by the worker of a queued job,
								 * is pinned until its launcher maps it */
	bool		reader_gone;	/* the launcher of a queued job will not read
								 * its results (detached, or exited) */
	dsm_handle	seg;
	dsa_pointer spec;			/* a queued job's description (specstore.c),
								 * until its worker built the segment */
	int64		spec_len;
	Oid			owner;			/* current user at launch */
	Oid			session_user;	/* the launcher's authenticated user, or
								 * InvalidOid if no parked worker may take the
								 * job */
	Oid			database;
	int32		launcher_pid;
	int32		queue_size;
	bool		submitted;
	TimestampTz launched_at;
	char		label[PGBG_LABEL_LEN];
	char		sql_preview[PGBG_PREVIEW_BYTES];
	pgbg_outcome outcome;
} pgbg_dir_entry;

/*
 * A job launched by this session.  Lives in the session context until the
 * job is detached, or (once its result is consumed and its worker is done)
 * until session.c replaces it by a compact record; lookups of such a job
 * return a transient copy (remembered).
 */
typedef struct pgbg_job
{
	int32		pid;			/* hash key: worker PID */
	int64		cookie;			/* random per launch */
	Oid			user_id;		/* current user at launch */
	int32		queue_size;
	TimestampTz launched_at;
	char	   *label;			/* NULL if none */
	char	   *sql_preview;
	bool		submitted;		/* submit_v2: no results are kept */
	dsm_segment *seg;			/* NULL once detached */
	shm_mq_handle *mqh;			/* NULL once released or submitted */
	pgbg_status *status;		/* in seg; NULL once detached */
	BackgroundWorkerHandle *handle;
	pgbg_outcome final;			/* copy of the outcome, once detached */
	bool		consumed;		/* result has been read (or started) */
	bool		released;		/* queue and spool dropped */
	bool		canceled;		/* a cancel stopped it */
	bool		end_seen;		/* ReadyForQuery or detach seen on queue */
	bool		counted;		/* included in the session's statistics */
	struct BufFile *spool;		/* messages drained while waiting */
	bool		spool_reading;	/* spool rewound, being replayed */
	const char *batch_next;		/* next row of the batch being read */
	int			batch_left;		/* bytes of the batch left; 0 if none */
	dlist_node	consumed_node;	/* position among consumed jobs */
	dlist_node	unsettled_node; /* released, segment still mapped */
	dlist_node	queue_node;		/* among jobs whose queue we hold */
	int			dir_slot;		/* entry in the shared directory, or -1 */
	uint64		dir_seq;
	bool		unmapped;		/* queued at launch, its segment (built by its
								 * worker) not mapped: the outcome is in the
								 * directory */
	bool		awaiting;		/* unmapped, and we will map it to read the
								 * results (see pgbg_session_map) */
	bool		remote;			/* another session's job, seen through the
								 * directory: no segment, no queue */
	bool		remembered;		/* a transient copy of a consumed job that
								 * session.c keeps in a compact record */
	uint64		consumed_no;	/* order of consumption, once consumed */
} pgbg_job;

/*
 * A wait in progress (control.c): when it began, and when we last looked
 * for a deadlock between this session and the workers it waits for.
 */
typedef struct pgbg_wait
{
	TimestampTz started;
	TimestampTz checked;
} pgbg_wait;

/* Parameters for $1..$n of a job's SQL (params.c); values NULL for NULL. */
typedef struct pgbg_params
{
	int			nparams;
	Oid		   *types;
	char	  **values;			/* text representations */
} pgbg_params;

/* Session statistics (pg_background_stats_v2). */
typedef struct pgbg_stats
{
	int64		launched;
	int64		completed;
	int64		failed;
	int64		canceled;
	double		total_exec_ms;	/* over completed jobs */
} pgbg_stats;

/* session.c */
extern MemoryContext pgbg_session_context(void);
extern pgbg_job *pgbg_session_add(int32 pid);
extern pgbg_job *pgbg_session_find(int32 pid);
extern bool pgbg_session_has(int32 pid, int64 cookie);
extern void pgbg_session_mark_consumed(pgbg_job *job);
extern void pgbg_session_release(pgbg_job *job, bool force);
extern void pgbg_session_settle(pgbg_job *job);
extern void pgbg_session_settle_all(void);
extern void pgbg_session_hold_queue(pgbg_job *job, shm_mq_handle *mqh);
extern bool pgbg_session_map(pgbg_job *job, bool giving_up);
extern void pgbg_session_foreach_queue(void (*fn) (pgbg_job *job));
extern void pgbg_session_discard_spool(pgbg_job *job);
extern void pgbg_session_outcome(pgbg_job *job, pgbg_outcome *outcome);
extern bool pgbg_session_worker_stopped(pgbg_job *job);
extern pgbg_view_state pgbg_session_state(pgbg_job *job);
extern const char *pgbg_session_state_name(pgbg_view_state state);
extern void pgbg_session_observe(pgbg_job *job);
extern void pgbg_session_forget(pgbg_job *job);
extern List *pgbg_session_jobs(bool with_remembered);
extern bool pgbg_session_used(void);
extern bool pgbg_session_holds_job(int32 pid);
extern int	pgbg_session_attached(void);
extern pgbg_stats *pgbg_session_stats(void);

/* entry.c */
extern void pgbg_entry_define_gucs(void);

/* launch.c */
extern pgbg_job *pgbg_launch(const char *sql, int32 queue_size,
							 bool submitted, const char *label,
							 const pgbg_params *params);
extern void pgbg_launch_fill_worker(BackgroundWorker *worker, dsm_handle seg,
									int slot, uint64 seq, pid_t notify_pid);

/* segment.c (more in pgbg_layout.h) */
extern Size pgbg_spec_size(const pgbg_spec *spec);
extern bool pgbg_segment_map_reader(dsm_handle handle, dsm_segment **seg,
									pgbg_status **status,
									shm_mq_handle **mqh);

/* specstore.c: with shared_preload_libraries */
extern Size pgbg_specstore_shmem_size(void);
extern void pgbg_specstore_shmem_init(void);
extern dsa_pointer pgbg_specstore_put(const void *data, Size len);
extern const void *pgbg_specstore_get(dsa_pointer p);
extern void pgbg_specstore_free(dsa_pointer p);

/* params.c */
extern pgbg_params *pgbg_params_collect(FunctionCallInfo fcinfo, int first_arg);
extern Size pgbg_params_size(const pgbg_params *p);
extern void pgbg_params_serialize(const pgbg_params *p, char *dest);
extern ParamListInfo pgbg_params_restore(const char *src, Oid **types,
										 int *nparams);

/* entropy.c: strong random bytes, fetched in blocks; job cookies */
extern bool pgbg_random_bytes(void *buf, size_t len);
extern int64 pgbg_random_cookie(void);

/* settings.c */
extern char *pgbg_settings_serialize(Size *len, bool skip_identity);
extern bool pgbg_settings_none(const char *src);
extern void pgbg_settings_restore(const char *src);
extern void pgbg_settings_note_fresh(void);
extern const char *pgbg_settings_changed(void);

/* worker.c */
extern int	pgbg_worker_timeout;
extern void pgbg_worker_define_gucs(void);
extern bool pgbg_worker_test_fault(const char *name);
extern PGDLLEXPORT void pg_background_worker_main(Datum main_arg);
extern void pgbg_worker_report_progress(int32 pct, const char *msg);
extern PGDLLEXPORT void pg_background_durable_worker_main(Datum main_arg);

/* A durable job's commit hook (worker.c, durable_attempt.c). */
typedef void (*pgbg_commit_hook) (void *arg, const char *command_tag);

/*
 * send.c -> wire.c: a message of this type carries several DataRow
 * messages, each as (int32 length in host byte order, message type, body),
 * the length counting the type and the body.
 */
#define PGBG_MSG_ROWS				'b'

/* send.c */
extern void pgbg_send_batch_rows(dsm_segment *seg, shm_mq_handle *mqh,
								 int32 queue_size);
extern DestReceiver *pgbg_send_receiver(Portal portal);

/* wire.c */
typedef enum pgbg_wire_result
{
	PGBG_WIRE_MESSAGE,			/* msg points at the next message */
	PGBG_WIRE_EMPTY,			/* nothing yet */
	PGBG_WIRE_END				/* the worker detached, nothing is left */
} pgbg_wire_result;
extern pgbg_wire_result pgbg_wire_next(pgbg_job *job, StringInfo msg);
extern bool pgbg_wire_drain(pgbg_job *job);
extern void pgbg_wire_report(StringInfo msg, char msgtype, int32 pid);

/* control.c */
extern bool pgbg_control_receive(pgbg_job *job, StringInfo msg);
extern bool pgbg_control_finished(pgbg_job *job);
extern void pgbg_control_check_canceled(pgbg_job *job);
extern int	pgbg_control_wait(pgbg_job **jobs, int njobs, long timeout_ms);
extern void pgbg_control_cancel(pgbg_job **jobs, int njobs, int grace_ms);
extern void pgbg_control_drain_all(void);
extern void pgbg_control_wait_begin(pgbg_wait *wait);
extern void pgbg_control_wait_end(void);
extern void pgbg_control_sleep(pgbg_job **jobs, int njobs, pgbg_wait *wait,
							   long timeout_ms);

/* preload.c: _PG_init (settings, shared memory, the dispatcher) */

/* directory.c: storage of the shared job directory (see its header) */
extern int	pgbg_max_jobs;
extern int	pgbg_max_queued;
extern int	pgbg_max_queued_per_role;
extern int	pgbg_max_queued_bytes;
extern int	pgbg_max_total_workers;
extern int	pgbg_max_workers_per_database;
extern int	pgbg_max_workers_per_role;
extern int	pgbg_finished_ttl;
extern int	pgbg_max_finished;
extern void pgbg_dir_define_gucs(void);
extern void pgbg_dir_shmem_request(void);
extern void pgbg_dir_shmem_init(void);
extern void pgbg_dir_shmem_loaded(void);
extern bool pgbg_dir_enabled(void);
extern void pgbg_dir_require(const char *what);
extern void pgbg_dir_proto(pgbg_dir_entry *e, int64 cookie, Oid owner,
						   bool submitted, int32 queue_size,
						   const char *label, const char *sql);
extern void pgbg_dir_lock(LWLockMode mode);
extern void pgbg_dir_unlock(void);
extern pgbg_dir_entry *pgbg_dir_modify(int slot, uint64 seq);
extern pgbg_dir_entry *pgbg_dir_allocate(int *slot);
extern bool pgbg_dir_peek(int slot, uint64 seq, pgbg_dir_entry *copy);
extern void pgbg_dir_count_active(Oid owner, Oid database, int *total,
								  int *in_db, int *of_role);
extern void pgbg_dir_count_queued(Oid owner, int *total, int *of_role,
								  int64 *bytes);
extern int	pgbg_dir_next_queued(int slot);
extern bool pgbg_dir_queued_job(int slot, Oid *owner, Oid *database,
								uint64 *seq);
extern void pgbg_dir_set_dispatcher(PGPROC *proc);
extern PGPROC *pgbg_dir_dispatcher(void);
extern void pgbg_dir_broadcast(void);
extern void pgbg_dir_publish(int slot, uint64 seq, const pgbg_outcome *outcome);
extern void pgbg_outcome_copy_clipped(char *dst, const char *src, size_t size);
extern int	pgbg_dir_find(int32 pid, int64 cookie, pgbg_dir_entry *copy);
extern bool pgbg_dir_get(int slot, uint64 seq, pgbg_dir_entry *copy);
extern bool pgbg_dir_finished(int slot, uint64 seq);
extern int	pgbg_dir_snapshot(pgbg_dir_entry **entries, int **slots);
extern void pgbg_dir_counts(int *active, int *queued, int *used, int *size);
extern void pgbg_dir_prepare_wait(void);
extern void pgbg_dir_keep_waiting(void);
extern void pgbg_dir_end_wait(void);

/*
 * An attempt of a durable job that a runner claimed, for the worker that
 * runs it (durable.c, durable_run.c; carried by the pool, pool.c).
 */
typedef struct pgbg_durable_claimed
{
	int			slot;			/* its slot among the running jobs */
	uint64		slot_seq;		/* which taking of that slot */
	int64		job;
	Oid			owner;
	int32		attempt;
	int			dir_slot;		/* its entry of the job directory */
	uint64		dir_seq;
} pgbg_durable_claimed;

/* pool.c */
#define PGBG_POOL_MAX				64

/*
 * What a parked worker is handed: a job of the directory (its segment, or
 * DSM_HANDLE_INVALID, and its entry) or an attempt of a durable job.
 */
typedef struct pgbg_pool_task
{
	bool		durable;
	dsm_handle	seg;
	int			dir_slot;
	uint64		dir_seq;
	pgbg_durable_claimed attempt;	/* if durable */
} pgbg_pool_task;

extern int	pgbg_pool_size;
extern int	pgbg_pool_idle_timeout;
extern void pgbg_pool_define_gucs(void);
extern Size pgbg_pool_shmem_size(void);
extern void pgbg_pool_shmem_init(void);
extern bool pgbg_pool_reserve(Oid database, Oid session_user);
extern bool pgbg_pool_park(pgbg_pool_task *task);
extern bool pgbg_pool_leave(pgbg_pool_task *task);
extern bool pgbg_pool_has_idle(Oid database, Oid session_user);
extern int32 pgbg_pool_claim(Oid database, Oid session_user, dsm_handle seg,
							 int dir_slot, uint64 dir_seq, int32 launcher,
							 bool (*skip) (int32 pid), Latch **wake);
extern int32 pgbg_pool_claim_attempt(Oid database,
									 const pgbg_durable_claimed *attempt,
									 Latch **wake);
extern uint64 pgbg_pool_parks(void);
extern bool pgbg_pool_await(Oid database, Oid session_user, uint64 parks,
							TimestampTz *since, bool unbounded);
extern pid_t pgbg_pool_evict(void);
extern int	pgbg_pool_idle_count(void);

/*
 * lifecycle.c: the transitions of a job of the directory (see its header
 * for the state diagram).
 */

/* What a worker that mapped its job's segment is to do. */
typedef enum pgbg_attach_result
{
	PGBG_ATTACH_RUN,
	PGBG_ATTACH_CANCELED,		/* canceled before it started */
	PGBG_ATTACH_GONE			/* over already: run nothing, say nothing */
} pgbg_attach_result;

/* Whether the results of a queued job can be mapped (pgbg_job_results). */
typedef enum pgbg_results
{
	PGBG_RESULTS_WAIT,			/* not yet: its worker has not built them */
	PGBG_RESULTS_READY,			/* map the segment, then pgbg_job_results_taken */
	PGBG_RESULTS_NONE			/* there will be none to map */
} pgbg_results;

/* How a job that its launch abandoned is recorded. */
#define PGBG_MSG_ABANDONED \
	"the job did not run: its launch failed before the worker started it"

extern bool pgbg_job_submit(const pgbg_dir_entry *proto, int *slot,
							uint64 *seq, int32 *handle_pid);
extern void pgbg_job_requeue(int slot, uint64 seq, int32 *handle_pid);
extern void pgbg_job_enqueue(int slot, uint64 seq, const pgbg_spec *spec);
extern pgbg_results pgbg_job_results(int slot, uint64 seq, bool giving_up,
									 dsm_handle *seg);
extern void pgbg_job_results_taken(int slot, uint64 seq);
extern int32 pgbg_job_hand_to_pool(int slot, uint64 seq, dsm_segment *seg,
								   bool (*skip) (int32 pid));
extern void pgbg_job_abandon(int slot, uint64 seq);
extern bool pgbg_job_cancel(int slot, uint64 seq);
extern bool pgbg_job_signal(int slot, uint64 seq, int signo);
extern bool pgbg_job_dispatch(pgbg_dir_entry *job, int *slot);
extern void pgbg_job_undispatch(int slot, uint64 seq);
extern void pgbg_job_vanished(int slot, uint64 seq);
extern bool pgbg_job_submit_durable(const pgbg_dir_entry *proto, int *slot,
									uint64 *seq);
extern int32 pgbg_job_hand_attempt_to_pool(const pgbg_durable_claimed *attempt);
extern void pgbg_job_withdraw(int slot, uint64 seq);
extern void pgbg_job_worker_begin(int slot, uint64 seq);
extern const pgbg_spec *pgbg_job_spec(void);
extern pgbg_attach_result pgbg_job_attached(PGPROC *launcher,
											dsm_segment *built, bool *unread);
extern void pgbg_job_publish(const pgbg_outcome *outcome);
extern void pgbg_job_worker_done(void);
extern bool pgbg_job_pool_reserve(void);

/* dispatcher.c */
extern void pgbg_dispatcher_register(void);
extern PGDLLEXPORT void pg_background_dispatcher_main(Datum main_arg);

/*
 * durable.c: durable jobs, their table's transitions, their shared state
 * and SQL API (see its header); durable_run.c: the processes that run them.
 */
#define PGBG_DURABLE_MAX_DATABASES	64	/* with durable jobs, per server */
#define PGBG_DURABLE_MAX_RUNNING	64	/* running at once, per server */
#define PGBG_DURABLE_MAX_ATTEMPTS	1000
#define PGBG_DURABLE_MAX_DELAY_DAYS 1	/* bound of a retry delay */
#define PGBG_DURABLE_MAX_INTERRUPTIONS 10


/*
 * Admission of a claimed job's attempt (durable_run.c): true if its worker
 * may start now (filling claimed->dir_slot and dir_seq), false if it must
 * wait.
 */
typedef bool (*pgbg_durable_admit) (pgbg_durable_claimed *claimed,
									const char *label, const char *sql);

extern int	pgbg_durable_keep_finished;
extern int	pgbg_durable_workers;
extern void pgbg_durable_define_gucs(void);
extern void pgbg_durable_shmem_request(void);
extern void pgbg_durable_shmem_init(void);
extern void pgbg_durable_shmem_loaded(void);
extern void pgbg_durable_forget_database(Oid database);
extern void pgbg_durable_set_dispatcher(PGPROC *proc);
extern int	pgbg_durable_wanted(Oid *dbs, int max);
extern bool pgbg_durable_any_listed(bool wanting);
extern void pgbg_durable_want_runner(Oid database);
extern bool pgbg_durable_runner_begin(Oid database, uint64 *wakeups);
extern uint64 pgbg_durable_wakeups(Oid database, bool awake);
extern bool pgbg_durable_runner_sleeps(Oid database, uint64 seen,
									   TimestampTz until);
extern bool pgbg_durable_runner_end(Oid database, uint64 seen, bool failed);
extern bool pgbg_durable_slot_take(pgbg_durable_claimed *c);
extern void pgbg_durable_slot_release(const pgbg_durable_claimed *c);
extern void pgbg_durable_slot_done(const pgbg_durable_claimed *c);
extern bool pgbg_durable_slot_finish(const pgbg_durable_claimed *c);
extern bool pgbg_durable_slot_holds(const pgbg_durable_claimed *c);
extern bool pgbg_durable_slot_attach(const pgbg_durable_claimed *c,
									 bool *cancel);
extern bool pgbg_durable_slot_canceled(const pgbg_durable_claimed *c);
extern int64 *pgbg_durable_slot_jobs(Oid database, int *n, bool clean);
extern void pgbg_durable_broadcast(void);
extern void pgbg_durable_purge(void);
extern int	pgbg_durable_claim(int64 *busy, int nbusy, int max,
							   pgbg_durable_admit admit, bool *waiting,
							   pgbg_durable_claimed *claimed);
extern void pgbg_durable_unclaim(int64 job, int32 attempt);
extern void pgbg_durable_next(int64 *busy, int nbusy, int64 *left,
							  long *due_ms, long *purge_ms);
extern bool pgbg_durable_installed(void);
extern bool pgbg_durable_load(int64 job, int32 attempt, char **sql,
							  char **paramspace, int *timeout_ms);
extern bool pgbg_durable_succeed(int64 job, int32 attempt,
								 const char *command_tag, bool strict);
extern void pgbg_durable_fail(int64 job, int32 attempt, ErrorData *edata,
							  bool canceled);
extern void pgbg_durable_cancel_requeued(int64 job);

/* durable_run.c */
extern long pgbg_durable_start_runners(void);
extern PGDLLEXPORT void pg_background_durable_runner_main(Datum main_arg);

/* durable_attempt.c */
extern void pgbg_attempt_begin(const pgbg_durable_claimed *job);
extern bool pgbg_attempt_load(char **sql, char **paramspace);
extern void pgbg_attempt_arm(void);
extern void pgbg_attempt_disarm(void);
extern void pgbg_attempt_commit(void *arg, const char *command_tag);
extern void pgbg_attempt_succeeded(const char *command_tag);
extern void pgbg_attempt_failed(void);

/* decode.c */
extern void pgbg_decode_result(pgbg_job *job, Tuplestorestate *tupstore,
							   TupleDesc tupdesc);

#endif							/* PG_BACKGROUND_H */
