/*-------------------------------------------------------------------------
 *
 * durable.c
 *		Durable jobs: their table, the only code that changes a row of it,
 *		the shared state that wakes their runners, and their SQL API.
 *
 * A durable job is a row of the extension's table pgbg_durable, inserted
 * in the transaction of whoever enqueued it (pg_background_enqueue).  It
 * runs only if that transaction commits, as the role that enqueued it, in
 * its database, once its run_at has come; a crash or a restart loses it
 * not (see docs/durable.md).  Every change of a row is one of the named
 * transitions below, run through SPI as the table's owner with search_path
 * pinned (durable_enter/durable_leave), except the enqueue, on its callers'
 * hot path, which writes its row directly (durable_insert_row); so no other
 * code, and no role but the extension's owner, writes the table:
 *
 *	  enqueue ──► queued ──claim──► running ──succeed──► succeeded
 *				   ▲  │   ◄─unclaim─┘  │ │
 *				   │  │                │ └──fail (an error; attempts left)──┐
 *				   │  cancel           │    fail (none left) ──► failed     │
 *				   │  ▼                │    fail (canceled)  ──► canceled   │
 *				   │ canceled          │                                    │
 *				   └───────────────────┴── claim of an interrupted job ◄────┘
 *													(run_at: now + delay)
 *
 *	 enqueue	(caller's transaction) a new row, queued.
 *	 claim		(runner) a due row, queued or interrupted (running, but no
 *				live worker of this server has it), becomes running, its
 *				attempt counted (committed before the SQL runs), once the
 *				directory's admission limits let the attempt start.  A job
 *				interrupted PGBG_DURABLE_MAX_INTERRUPTIONS times, or whose
 *				role cannot connect, fails instead.
 *	 unclaim	(runner) no worker could be started for a claimed job: back
 *				to queued, the attempt not counted.
 *	 succeed	(job worker) in the job's last transaction, before it
 *				commits: so the job's effects and its success commit
 *				together, or neither does.
 *	 fail		(job worker) after an error: canceled if a cancel caused
 *				it, failed if no attempt is left, else queued again.
 *	 cancel		(any session of the owner) a queued job is canceled, and
 *				so is an interrupted one (its row locked first, so that no
 *				runner claims it meanwhile); a running one is told to stop
 *				(its worker then fails it as canceled; if the cancel
 *				reaches the worker only while it records the attempt's
 *				failure, the worker cancels the job it queued again:
 *				pgbg_durable_cancel_requeued).
 *	 purge		(runner) finished jobs older than
 *				pg_background.durable_keep_finished are deleted.
 *
 * Shared memory (with shared_preload_libraries) holds the databases that
 * have durable jobs, each with its runner (durable_run.c) and a wake-up
 * counter; the running jobs' slots, each with its worker, so that a runner
 * can tell an interrupted job from a running one, and a cancel can reach
 * it (a runner takes a slot for each attempt; the runner frees it if the
 * worker never started or stopped before it could, the worker when it is
 * done with the attempt or exits: slot done);
 * and a condition variable broadcast whenever a job finishes, on which
 * pg_background_wait_job sleeps.  The databases are also kept in a file
 * (PGBG_DURABLE_FILE), written before a database's first job can commit,
 * and read at server start, so that jobs run again after a restart
 * without anyone connecting to their database.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_compat.h"

PG_FUNCTION_INFO_V1(pg_background_enqueue);
PG_FUNCTION_INFO_V1(pg_background_job);
PG_FUNCTION_INFO_V1(pg_background_wait_job);
PG_FUNCTION_INFO_V1(pg_background_cancel_job);
PG_FUNCTION_INFO_V1(pgbg_durable_inserted);

/* The file that lists the databases with durable jobs, in PGDATA. */
#define PGBG_DURABLE_FILE			"pg_background.durable"
#define PGBG_DURABLE_FILE_TMP		"pg_background.durable.tmp"
#define PGBG_DURABLE_FILE_DAMAGED	"pg_background.durable.damaged"
#define PGBG_DURABLE_MAGIC			0x50474244	/* "PGBD" */
#define PGBG_DURABLE_FORMAT			1

/* The table and its owner's role, in the extension's schema. */
#define PGBG_DURABLE_TABLE			"pgbg_durable"

/* A finished state (no more attempts). */
#define DURABLE_FINISHED_SQL \
	"state IN ('succeeded', 'failed', 'canceled')"

/* A database that has durable jobs. */
typedef struct durable_db
{
	Oid			database;
	PGPROC	   *runner;			/* its runner, once running */
	bool		wake;			/* wants a runner (the dispatcher starts one) */
	uint64		wakeups;		/* commits that enqueued, and other reasons to
								 * look at the table again */
	TimestampTz sleep_until;	/* the runner sleeps until then (0: it is
								 * awake, looking at the table) */
} durable_db;

/* A durable job that a runner handed to a worker. */
typedef struct durable_running
{
	Oid			database;		/* InvalidOid: slot free */
	int64		job;
	uint64		seq;			/* which taking of the slot (never 0) */
	int32		pid;			/* 0 until the worker started */
	bool		cancel;			/* pg_background_cancel_job asked */
} durable_running;

typedef struct durable_shared
{
	LWLock	   *lock;
	ConditionVariable finished; /* broadcast when a job finishes */
	PGPROC	   *dispatcher;
	uint64		slot_seq;		/* the last slot taking's number */
	int			ndbs;
	durable_db	dbs[PGBG_DURABLE_MAX_DATABASES];
	durable_running running[PGBG_DURABLE_MAX_RUNNING];
} durable_shared;

/* Saved identity and settings around a transition (durable_enter). */
typedef struct durable_save
{
	Oid			user;
	int			sec_context;
	int			nestlevel;
} durable_save;

/* pg_background.durable_keep_finished, in seconds. */
int			pgbg_durable_keep_finished = 86400;

/* pg_background.durable_workers: jobs run at once in each database. */
int			pgbg_durable_workers = 4;

static durable_shared *durable = NULL;

/* The table, as durable_find_table last found it. */
static Oid	durable_relid = InvalidOid;
static Oid	durable_relnsp = InvalidOid;
static Oid	durable_relowner = InvalidOid;
static char *durable_relname = NULL;

/*
 * The columns an enqueue fills (the others are left null), their types,
 * whether the enqueue may leave them null, and where the table has them
 * (durable_row_layout); the sequence of id.
 */
typedef enum durable_column
{
	DCOL_ID,
	DCOL_OWNER,
	DCOL_SQL,
	DCOL_PARAM_TYPES,
	DCOL_PARAM_VALUES,
	DCOL_LABEL,
	DCOL_STATE,
	DCOL_RUN_AT,
	DCOL_MAX_ATTEMPTS,
	DCOL_RETRY_DELAY,
	DCOL_TIMEOUT,
	DCOL_ATTEMPTS,
	DCOL_ERRORS,
	DCOL_ENQUEUED_AT,
	DCOL_COUNT
} durable_column;

static const struct
{
	const char *name;
	Oid			type;
	bool		may_be_null;
}			durable_columns[DCOL_COUNT] =
{
	{"id", INT8OID, false},
	{"owner", REGROLEOID, false},
	{"sql", TEXTOID, false},
	{"param_types", REGTYPEARRAYOID, true},
	{"param_values", TEXTARRAYOID, true},
	{"label", TEXTOID, true},
	{"state", TEXTOID, false},
	{"run_at", TIMESTAMPTZOID, false},
	{"max_attempts", INT4OID, false},
	{"retry_delay", INTERVALOID, false},
	{"timeout", INTERVALOID, true},
	{"attempts", INT4OID, false},
	{"errors", INT4OID, false},
	{"enqueued_at", TIMESTAMPTZOID, false},
};

static Oid	durable_row_relid = InvalidOid; /* the table the layout is of */
static bool durable_row_callback = false;	/* durable_row_forget registered */
static int	durable_row_natts;
static AttrNumber durable_row_attnums[DCOL_COUNT];
static Oid	durable_row_seq = InvalidOid;

/* What the transaction in progress must do when it commits. */
static bool durable_xact_wake = false;
static TimestampTz durable_xact_due = DT_NOEND; /* earliest run_at */
static bool durable_xact_broadcast = false;

static void durable_xact_callback(XactEvent event, void *arg);
static void durable_register_callback(void);
static void durable_note_broadcast(void);
static durable_db *durable_find_db(Oid database);
static durable_running *durable_slot(const pgbg_durable_claimed *c);
static void durable_note_database(Oid database);
static void durable_write_file(void);
static void durable_write_file_after_commit(void);
static void durable_load_file(void);
static void durable_reject_file(FILE *file, const char *what);
static void durable_wake_database(Oid database, TimestampTz due);
static void durable_release_and_wake(PGPROC *proc);
static void durable_find_table(void);
static const char *durable_table(void);
static void durable_enter(durable_save *save);
static void durable_enter_as_owner(durable_save *save);
static void durable_leave(durable_save *save);
static void durable_spi(const char *sql, int nargs, Oid *types, Datum *values,
						const char *nulls, int expected);
static void durable_check_visible(int64 id, Oid caller);
static char *durable_lookup_state(int64 id, Oid caller, bool latest,
								  bool *mine);
static int64 durable_arg_id(FunctionCallInfo fcinfo);
static Datum durable_id_array(int64 *ids, int n);
static bool durable_claim_one(int64 job, Oid owner, bool too_often);
static int32 durable_claim_attempt(int64 job);
static bool durable_stop_attempt(int64 id);
static bool durable_slot_free(const pgbg_durable_claimed *c,
							  bool unless_canceled);
static void durable_row_layout(Relation rel);
static void durable_row_forget(Datum arg, Oid relid);
static int64 durable_insert_row(Datum *values, bool *nulls);
static void durable_note_insert(TimestampTz due);

/*
 * Define the settings of durable jobs (from _PG_init).
 */
void
pgbg_durable_define_gucs(void)
{
	DefineCustomIntVariable("pg_background.durable_keep_finished",
							"How long finished durable jobs are kept before the server removes them.",
							NULL,
							&pgbg_durable_keep_finished, 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.durable_workers",
							"How many durable jobs of one database run at once.",
							NULL,
							&pgbg_durable_workers, 4, 1, PGBG_DURABLE_MAX_RUNNING,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/*
 * Shared memory of durable jobs: its size and lock (while preloading).
 */
void
pgbg_durable_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(durable_shared)));
	RequestNamedLWLockTranche("pg_background durable", 1);
}

/*
 * Create (or attach to) the shared state; caller holds AddinShmemInitLock.
 */
void
pgbg_durable_shmem_init(void)
{
	bool		found;

	durable = ShmemInitStruct("pg_background durable", sizeof(durable_shared),
							  &found);
	if (!found)
	{
		memset(durable, 0, sizeof(durable_shared));
		durable->lock = &(GetNamedLWLockTranche("pg_background durable"))->lock;
		ConditionVariableInit(&durable->finished);
	}
}

/*
 * In the postmaster, after pgbg_durable_shmem_init: read the databases of
 * the file.  Every one of them wants a runner once the dispatcher starts.
 */
void
pgbg_durable_shmem_loaded(void)
{
	if (!IsUnderPostmaster)
		durable_load_file();
}

/*
 * The file's layout: uint32 magic, uint32 format, int32 count, then count
 * database OIDs.  Nothing in it is trusted: a file of another size or
 * format, a count out of range, an invalid or repeated OID make it damaged
 * (durable_reject_file).  A database that no longer exists is dropped by
 * the dispatcher, which looks it up before starting its runner.
 */
static void
durable_load_file(void)
{
	FILE	   *file;
	struct stat st;
	uint32		header[2];
	int32		count;
	int			i;

	file = AllocateFile(PGBG_DURABLE_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read pg_background durable job file \"%s\": %m",
							PGBG_DURABLE_FILE)));
		return;
	}
	if (fstat(fileno(file), &st) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not stat pg_background durable job file \"%s\": %m",
						PGBG_DURABLE_FILE)));
		FreeFile(file);
		return;
	}
	if (fread(header, sizeof(header), 1, file) != 1 ||
		fread(&count, sizeof(count), 1, file) != 1)
	{
		durable_reject_file(file, "Its header could not be read.");
		return;
	}
	if (header[0] != PGBG_DURABLE_MAGIC || header[1] != PGBG_DURABLE_FORMAT)
	{
		durable_reject_file(file, "It does not start with the magic number and format of a durable job file.");
		return;
	}
	if (count < 0 || count > PGBG_DURABLE_MAX_DATABASES ||
		(off_t) st.st_size != (off_t) (sizeof(header) + sizeof(count) +
									   count * sizeof(Oid)))
	{
		durable_reject_file(file, psprintf("It announces %d databases, which its size (%lld bytes) does not match.",
										   count, (long long) st.st_size));
		return;
	}
	for (i = 0; i < count; i++)
	{
		Oid			database;
		int			j;

		if (fread(&database, sizeof(database), 1, file) != 1)
		{
			durable_reject_file(file, "It could not be read to its end.");
			return;
		}
		for (j = 0; j < i; j++)
		{
			if (durable->dbs[j].database == database)
				break;
		}
		if (database == InvalidOid || j < i)
		{
			durable_reject_file(file, "It names an invalid or repeated database.");
			return;
		}
		durable->dbs[i].database = database;
		durable->dbs[i].wake = true;
	}
	durable->ndbs = count;
	FreeFile(file);
}

/*
 * The file cannot be trusted (what says why, in a full sentence): keep it
 * aside for whoever wants to look at it, and start with no databases.
 */
static void
durable_reject_file(FILE *file, const char *what)
{
	FreeFile(file);
	memset(durable->dbs, 0, sizeof(durable->dbs));
	durable->ndbs = 0;
	(void) durable_rename(PGBG_DURABLE_FILE, PGBG_DURABLE_FILE_DAMAGED, LOG);
	ereport(LOG,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("pg_background durable job file \"%s\" is damaged", PGBG_DURABLE_FILE),
			 errdetail_internal("%s", what),
			 errhint("It was renamed to \"%s\".  Durable jobs of a database run again once a job is enqueued there.",
					 PGBG_DURABLE_FILE_DAMAGED)));
}

/*
 * Write the list of databases (caller holds the lock exclusively), durably:
 * to a temporary file, synced, renamed.  An error if it cannot be written.
 */
static void
durable_write_file(void)
{
	FILE	   *file;
	uint32		header[2] = {PGBG_DURABLE_MAGIC, PGBG_DURABLE_FORMAT};
	int32		count = durable->ndbs;
	int			i;
	bool		ok;

	file = AllocateFile(PGBG_DURABLE_FILE_TMP, PG_BINARY_W);
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write pg_background durable job file \"%s\": %m",
						PGBG_DURABLE_FILE_TMP)));
	ok = fwrite(header, sizeof(header), 1, file) == 1 &&
		fwrite(&count, sizeof(count), 1, file) == 1;
	for (i = 0; ok && i < count; i++)
		ok = fwrite(&durable->dbs[i].database, sizeof(Oid), 1, file) == 1;
	if (FreeFile(file) != 0)
		ok = false;
	if (!ok)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write pg_background durable job file \"%s\": %m",
						PGBG_DURABLE_FILE_TMP)));
	(void) durable_rename(PGBG_DURABLE_FILE_TMP, PGBG_DURABLE_FILE, ERROR);
}

/*
 * durable_write_file once the transaction has committed, when an error
 * can no longer be raised: a failure is reported to the log.
 */
static void
durable_write_file_after_commit(void)
{
	MemoryContext oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		durable_write_file();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

/*
 * The entry of a database, or NULL.  Caller holds the lock.
 */
static durable_db *
durable_find_db(Oid database)
{
	int			i;

	for (i = 0; i < durable->ndbs; i++)
	{
		if (durable->dbs[i].database == database)
			return &durable->dbs[i];
	}
	return NULL;
}

/*
 * Make sure the database is listed, in shared memory and in the file,
 * before a job of it can commit.
 */
static void
durable_note_database(Oid database)
{
	LWLockAcquire(durable->lock, LW_SHARED);
	if (durable_find_db(database) != NULL)
	{
		LWLockRelease(durable->lock);
		return;
	}
	LWLockRelease(durable->lock);

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	if (durable_find_db(database) == NULL)
	{
		if (durable->ndbs >= PGBG_DURABLE_MAX_DATABASES)
		{
			LWLockRelease(durable->lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many databases with durable jobs"),
					 errdetail("At most %d databases of a server can have durable jobs.",
							   PGBG_DURABLE_MAX_DATABASES)));
		}
		memset(&durable->dbs[durable->ndbs], 0, sizeof(durable_db));
		durable->dbs[durable->ndbs].database = database;
		durable->ndbs++;
		PG_TRY();
		{
			durable_write_file();
		}
		PG_CATCH();
		{
			durable->ndbs--;
			LWLockRelease(durable->lock);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	LWLockRelease(durable->lock);
}

/*
 * Forget a database (it was dropped, or has no extension any more).  It is
 * listed again by its next enqueue.
 */
void
pgbg_durable_forget_database(Oid database)
{
	int			i;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	for (i = 0; i < durable->ndbs; i++)
	{
		if (durable->dbs[i].database != database)
			continue;
		durable->dbs[i] = durable->dbs[durable->ndbs - 1];
		durable->ndbs--;
		PG_TRY();
		{
			durable_write_file();
		}
		PG_CATCH();
		{
			LWLockRelease(durable->lock);
			PG_RE_THROW();
		}
		PG_END_TRY();
		break;
	}
	LWLockRelease(durable->lock);
}

/*
 * Something for the database's runner to look at (a commit that enqueued
 * jobs, the earliest due at due): wake its runner, unless it sleeps until
 * later than due anyway, or ask the dispatcher to start one.  A database
 * missing from the list (a runner forgot it meanwhile) is listed again.
 */
static void
durable_wake_database(Oid database, TimestampTz due)
{
	durable_db *db;
	PGPROC	   *wake = NULL;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	db = durable_find_db(database);
	if (db == NULL && durable->ndbs < PGBG_DURABLE_MAX_DATABASES)
	{
		db = &durable->dbs[durable->ndbs++];
		memset(db, 0, sizeof(durable_db));
		db->database = database;
		/* After the commit: the job runs, but a restart may forget it. */
		durable_write_file_after_commit();
	}
	if (db != NULL)
	{
		db->wakeups++;
		if (db->runner != NULL)
		{
			/* A runner asleep until after the job is due needs no wake-up. */
			if (db->sleep_until == 0 || due < db->sleep_until)
				wake = db->runner;
		}
		else
		{
			db->wake = true;
			wake = durable->dispatcher;
		}
	}
	durable_release_and_wake(wake);
}

/*
 * Release durable->lock, then set the latch of proc (if not NULL): the
 * process to wake that the caller noted under the lock (a database's
 * runner, or the dispatcher).  Its latch is set only once the lock is
 * free, so that it does not wake up just to wait for the lock.
 */
static void
durable_release_and_wake(PGPROC *proc)
{
	LWLockRelease(durable->lock);
	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/*
 * The dispatcher starts (or stops, with proc NULL): every listed database
 * wants a runner, to run again what a restart interrupted.
 */
void
pgbg_durable_set_dispatcher(PGPROC *proc)
{
	int			i;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	durable->dispatcher = proc;
	if (proc != NULL)
	{
		for (i = 0; i < durable->ndbs; i++)
			durable->dbs[i].wake = true;
	}
	LWLockRelease(durable->lock);
}

/*
 * For the dispatcher: the databases that want a runner and have none, at
 * most max of them, into dbs.  Their wish is taken (cleared).
 */
int
pgbg_durable_wanted(Oid *dbs, int max)
{
	int			n = 0;
	int			i;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	for (i = 0; i < durable->ndbs && n < max; i++)
	{
		if (!durable->dbs[i].wake || durable->dbs[i].runner != NULL)
			continue;
		durable->dbs[i].wake = false;
		dbs[n++] = durable->dbs[i].database;
	}
	LWLockRelease(durable->lock);
	return n;
}

/*
 * Is any database listed (wanting = false), or does any want a runner and
 * have none (wanting = true)?  The dispatcher asks: while it waits for the
 * end of recovery, and after a turn (a wish that came while a wait of its
 * own reset its latch must not wait for the next wake-up).
 */
bool
pgbg_durable_any_listed(bool wanting)
{
	bool		any = false;
	int			i;

	LWLockAcquire(durable->lock, LW_SHARED);
	for (i = 0; i < durable->ndbs && !any; i++)
		any = !wanting || (durable->dbs[i].wake && durable->dbs[i].runner == NULL);
	LWLockRelease(durable->lock);
	return any;
}

/*
 * Ask for a runner of this database again (its start failed, or it ended
 * with work left).
 */
void
pgbg_durable_want_runner(Oid database)
{
	durable_db *db;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	db = durable_find_db(database);
	if (db != NULL)
		db->wake = true;
	LWLockRelease(durable->lock);
}

/*
 * A runner starts: becomes its database's, unless another is alive
 * already.  *wakeups is the counter it starts from.
 */
bool
pgbg_durable_runner_begin(Oid database, uint64 *wakeups)
{
	durable_db *db;
	bool		ok = false;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	db = durable_find_db(database);
	if (db != NULL && (db->runner == NULL || db->runner == MyProc))
	{
		db->runner = MyProc;
		db->wake = false;
		*wakeups = db->wakeups;
		ok = true;
	}
	LWLockRelease(durable->lock);
	return ok;
}

/*
 * The wake-up counter of a database.  A runner notes it before it looks at
 * the table (awake: commits wake it up from now on, whatever is due).
 */
uint64
pgbg_durable_wakeups(Oid database, bool awake)
{
	durable_db *db;
	uint64		n = 0;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	db = durable_find_db(database);
	if (db != NULL)
	{
		n = db->wakeups;
		if (awake)
			db->sleep_until = 0;
	}
	LWLockRelease(durable->lock);
	return n;
}

/*
 * The runner is about to sleep until then (DT_NOEND: until woken), unless
 * a wake-up came since it looked (seen): then false, and it looks again.
 */
bool
pgbg_durable_runner_sleeps(Oid database, uint64 seen, TimestampTz until)
{
	durable_db *db;
	bool		sleep = true;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	db = durable_find_db(database);
	if (db != NULL)
	{
		if (db->wakeups != seen)
			sleep = false;
		else
			db->sleep_until = until;
	}
	LWLockRelease(durable->lock);
	return sleep;
}

/*
 * A runner that found nothing left to do may leave, unless a wake-up came
 * after it looked (seen): then it must look again.  With failed set, it
 * leaves in any case (an error), and its database asks for a new runner.
 */
bool
pgbg_durable_runner_end(Oid database, uint64 seen, bool failed)
{
	durable_db *db;
	bool		leave = true;
	PGPROC	   *dispatcher = NULL;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	db = durable_find_db(database);
	if (db != NULL && db->runner == MyProc)
	{
		if (!failed && db->wakeups != seen)
			leave = false;
		else
		{
			db->runner = NULL;
			if (failed)
			{
				db->wake = true;
				dispatcher = durable->dispatcher;
			}
		}
	}
	durable_release_and_wake(dispatcher);
	return leave;
}

/*
 * A runner takes a slot for a job it is about to claim (c->job): fills
 * c->slot and c->slot_seq, which name this taking of the slot (a slot
 * freed and taken again for the same job is another one); false if none
 * is free.
 */
bool
pgbg_durable_slot_take(pgbg_durable_claimed *c)
{
	int			i;
	bool		taken = false;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGBG_DURABLE_MAX_RUNNING; i++)
	{
		durable_running *r = &durable->running[i];

		if (r->database == InvalidOid)
		{
			r->database = MyDatabaseId;
			r->job = c->job;
			r->seq = ++durable->slot_seq;
			r->pid = 0;
			r->cancel = false;
			c->slot = i;
			c->slot_seq = r->seq;
			taken = true;
			break;
		}
	}
	LWLockRelease(durable->lock);
	return taken;
}

/*
 * The slot of the claimed attempt, if it still holds it; else NULL.
 * Caller holds the lock.
 */
static durable_running *
durable_slot(const pgbg_durable_claimed *c)
{
	durable_running *r;

	if (c->slot < 0 || c->slot >= PGBG_DURABLE_MAX_RUNNING)
		return NULL;
	r = &durable->running[c->slot];
	return (r->database != InvalidOid && r->seq == c->slot_seq &&
			r->job == c->job) ? r : NULL;
}

/*
 * The runner frees the attempt's slot if it still holds it (its worker
 * never started, or stopped).
 */
void
pgbg_durable_slot_release(const pgbg_durable_claimed *c)
{
	durable_running *r;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	r = durable_slot(c);
	if (r != NULL)
		memset(r, 0, sizeof(durable_running));
	LWLockRelease(durable->lock);
}

/*
 * Transition "slot done" (job worker): the worker is done with the
 * attempt, because it ended (its outcome is recorded) or because the
 * process is leaving (an interrupted attempt: the runner claims the job
 * again).  Frees the slot if it still holds the attempt, and wakes the
 * database's runner: a worker taken from the pool does not stop after its
 * attempt, so the postmaster would not tell the runner that a place among
 * pg_background.durable_workers is free again.
 */
void
pgbg_durable_slot_done(const pgbg_durable_claimed *c)
{
	(void) durable_slot_free(c, false);
}

/*
 * The same once the attempt's outcome is recorded, unless a cancel reached
 * the slot meanwhile: then false, and the slot still holds the job (so no
 * runner claims it), for its worker to cancel it if the outcome queued it
 * again (pgbg_durable_cancel_requeued), then give the slot up.  Whether
 * the slot is freed and whether a cancel came are decided under the lock
 * that pg_background_cancel_job takes to find the slot: a cancel either
 * reaches the worker here or finds no slot (and the job as recorded).
 */
bool
pgbg_durable_slot_finish(const pgbg_durable_claimed *c)
{
	return durable_slot_free(c, true);
}

/*
 * Free the slot if it holds the attempt (and, if unless_canceled, no
 * cancel came for it: else false), and wake the database's runner.
 */
static bool
durable_slot_free(const pgbg_durable_claimed *c, bool unless_canceled)
{
	durable_running *r;
	durable_db *db;
	PGPROC	   *runner = NULL;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	r = durable_slot(c);
	if (r != NULL && unless_canceled && r->cancel)
	{
		LWLockRelease(durable->lock);
		return false;
	}
	if (r != NULL)
	{
		db = durable_find_db(r->database);
		memset(r, 0, sizeof(durable_running));
		if (db != NULL)
		{
			db->wakeups++;
			runner = db->runner;
		}
	}
	durable_release_and_wake(runner);
	return true;
}

/*
 * Does the slot still hold the attempt (its worker has not said it is done
 * with it)?
 */
bool
pgbg_durable_slot_holds(const pgbg_durable_claimed *c)
{
	bool		holds;

	LWLockAcquire(durable->lock, LW_SHARED);
	holds = (durable_slot(c) != NULL);
	LWLockRelease(durable->lock);
	return holds;
}

/*
 * The worker of the attempt starts: records its PID.  Returns false if
 * the slot no longer holds the attempt; *cancel tells whether a cancel
 * came.
 */
bool
pgbg_durable_slot_attach(const pgbg_durable_claimed *c, bool *cancel)
{
	durable_running *r;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	r = durable_slot(c);
	if (r != NULL)
	{
		r->pid = MyProcPid;
		*cancel = r->cancel;
	}
	LWLockRelease(durable->lock);
	return r != NULL;
}

/*
 * Was the attempt asked to stop?
 */
bool
pgbg_durable_slot_canceled(const pgbg_durable_claimed *c)
{
	durable_running *r;
	bool		cancel = false;

	LWLockAcquire(durable->lock, LW_SHARED);
	r = durable_slot(c);
	if (r != NULL)
		cancel = r->cancel;
	LWLockRelease(durable->lock);
	return cancel;
}

/*
 * The jobs of a database that have a slot (a worker, alive or about to
 * be): palloc'd array, its length in *n.  A runner whose previous
 * incarnation died frees the slots whose worker is gone first.
 */
int64 *
pgbg_durable_slot_jobs(Oid database, int *n, bool clean)
{
	int64	   *jobs = palloc(sizeof(int64) * PGBG_DURABLE_MAX_RUNNING);
	int			i;

	*n = 0;
	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGBG_DURABLE_MAX_RUNNING; i++)
	{
		durable_running *r = &durable->running[i];

		if (r->database != database)
			continue;
		if (clean && (r->pid == 0 || kill(r->pid, 0) != 0))
		{
			memset(r, 0, sizeof(durable_running));
			continue;
		}
		jobs[(*n)++] = r->job;
	}
	LWLockRelease(durable->lock);
	return jobs;
}

/*
 * A job finished (or changed so that waiters should look again).
 */
void
pgbg_durable_broadcast(void)
{
	ConditionVariableBroadcast(&durable->finished);
}

/*
 * Find the table (in the extension's schema) and remember its OID, schema,
 * owner and qualified name for the rest of the session: later calls only
 * check, in the syscache, that the OID still names it there.  An error if
 * the extension or its table is missing.
 */
static void
durable_find_table(void)
{
	HeapTuple	tup;
	Oid			ext;
	Oid			nsp;
	Oid			relid;
	MemoryContext oldcontext;

	if (OidIsValid(durable_relid))
	{
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(durable_relid));
		if (HeapTupleIsValid(tup))
		{
			Form_pg_class rel = (Form_pg_class) GETSTRUCT(tup);
			bool		same = rel->relnamespace == durable_relnsp &&
				strcmp(NameStr(rel->relname), PGBG_DURABLE_TABLE) == 0;

			if (same)
				durable_relowner = rel->relowner;
			ReleaseSysCache(tup);
			if (same)
				return;
		}
		durable_relid = InvalidOid;
	}

	ext = get_extension_oid("pg_background", true);
	if (!OidIsValid(ext))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"pg_background\" is not installed in this database")));
	nsp = pgbg_extension_schema(ext);
	relid = get_relname_relid(PGBG_DURABLE_TABLE, nsp);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of durable jobs does not exist"),
				 errhint("Update the extension: ALTER EXTENSION pg_background UPDATE.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	durable_relowner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	if (durable_relname != NULL)
		pfree(durable_relname);
	durable_relname = psprintf("%s.%s", quote_identifier(get_namespace_name(nsp)),
							   PGBG_DURABLE_TABLE);
	MemoryContextSwitchTo(oldcontext);
	durable_relnsp = nsp;
	durable_relid = relid;
}

/*
 * The qualified, quoted name of the table (found by durable_enter).
 */
static const char *
durable_table(void)
{
	Assert(durable_relname != NULL);
	return durable_relname;
}

/*
 * Become the table's owner, with search_path pinned to pg_catalog, and
 * connect to SPI: the transitions run like this, whatever role and
 * settings the session has.  Undone by durable_leave (or by the abort of
 * the transaction).
 */
static void
durable_enter(durable_save *save)
{
	durable_enter_as_owner(save);
	save->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * durable_enter without pinning search_path, for a statement prepared
 * under durable_enter (the plan cache re-plans it with the search_path it
 * was prepared with).
 */
static void
durable_enter_as_owner(durable_save *save)
{
	durable_find_table();
	GetUserIdAndSecContext(&save->user, &save->sec_context);
	SetUserIdAndSecContext(durable_relowner,
						   save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	save->nestlevel = 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * Undo durable_enter.
 */
static void
durable_leave(durable_save *save)
{
	SPI_finish();
	if (save->nestlevel > 0)
		AtEOXact_GUC(true, save->nestlevel);
	SetUserIdAndSecContext(save->user, save->sec_context);
}

/*
 * Run one statement of a transition (the table's name substituted for
 * each %s, at most three);
 * expected: the number of rows it must process, or -1 for any.
 */
static void
durable_spi(const char *sql, int nargs, Oid *types, Datum *values,
			const char *nulls, int expected)
{
	const char *table = durable_table();
	char	   *query = psprintf(sql, table, table, table);
	int			rc;

	rc = SPI_execute_with_args(query, nargs, types, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "pg_background durable job statement failed: %s",
			 SPI_result_code_string(rc));
	if (expected >= 0 && SPI_processed != (uint64) expected)
		elog(ERROR, "pg_background durable job statement changed %llu rows, not %d",
			 (unsigned long long) SPI_processed, expected);
}

/*
 * Every commit of a transaction that enqueued wakes its database's runner;
 * of one that canceled, the waiters.
 */
static void
durable_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (durable_xact_wake)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that enqueued a durable job")));
			break;
		case XACT_EVENT_COMMIT:
			if (durable_xact_wake && durable != NULL)
				durable_wake_database(MyDatabaseId, durable_xact_due);
			if (durable_xact_broadcast && durable != NULL)
				pgbg_durable_broadcast();
			durable_xact_wake = false;
			durable_xact_broadcast = false;
			durable_xact_due = DT_NOEND;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			durable_xact_wake = false;
			durable_xact_broadcast = false;
			durable_xact_due = DT_NOEND;
			break;
		default:
			break;
	}
}

/*
 * Register durable_xact_callback, once per process.
 */
static void
durable_register_callback(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(durable_xact_callback, NULL);
		registered = true;
	}
}

/*
 * Waiters are to look again once the transaction in progress commits.
 */
static void
durable_note_broadcast(void)
{
	durable_register_callback();
	durable_xact_broadcast = true;
}

/*
 * The interval argument argno in milliseconds, checked to lie within
 * [min_ms, max_ms]: an interval with months or days counts 30 days a month
 * and 24 hours a day, as interval comparison does.
 */
static int64
durable_interval_ms(FunctionCallInfo fcinfo, int argno, const char *argname,
					int64 min_ms, int64 max_ms)
{
	Interval   *iv = PG_GETARG_INTERVAL_P(argno);
	double		ms;

	ms = ((double) iv->month * DAYS_PER_MONTH + iv->day) * (double) (USECS_PER_DAY / 1000) +
		(double) iv->time / 1000.0;
	if (ms < (double) min_ms || ms > (double) max_ms)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must be between %lld and %lld milliseconds",
						argname, (long long) min_ms, (long long) max_ms)));
	return (int64) ms;
}

/*
 * pg_background_enqueue(sql text, run_at timestamptz, max_attempts int4,
 *						 retry_delay interval, timeout interval, label text
 *						 [, VARIADIC params "any"]) RETURNS int8
 *
 * Record a durable job in the caller's transaction; it runs once that
 * transaction has committed, as the current user, not before run_at.
 */
Datum
pg_background_enqueue(PG_FUNCTION_ARGS)
{
	pgbg_params *params;
	Datum		values[DCOL_COUNT];
	bool		nulls[DCOL_COUNT];
	int64		id;
	TimestampTz due;

	pgbg_dir_require("pg_background_enqueue");
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot enqueue a durable job during recovery"),
				 errdetail("Durable jobs are recorded in a table, which a hot standby cannot write.")));
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot enqueue a durable job within a security-restricted operation")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"sql\" must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"max_attempts\" must not be null")));
	if (PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > PGBG_DURABLE_MAX_ATTEMPTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"max_attempts\" must be between 1 and %d",
						PGBG_DURABLE_MAX_ATTEMPTS)));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"retry_delay\" must not be null")));
	(void) durable_interval_ms(fcinfo, 3, "retry_delay", 0,
							   (int64) PGBG_DURABLE_MAX_DELAY_DAYS * (USECS_PER_DAY / 1000));
	if (!PG_ARGISNULL(4))
		(void) durable_interval_ms(fcinfo, 4, "timeout", 1, PG_INT32_MAX);
	if (!PG_ARGISNULL(1) && TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(1)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"run_at\" must be a finite timestamp")));

	/* Parameters for $1..$n, as their types and text representations. */
	params = pgbg_params_collect(fcinfo, 6);

	memset(nulls, true, sizeof(nulls));
	values[DCOL_OWNER] = ObjectIdGetDatum(GetUserId());
	values[DCOL_SQL] = PG_GETARG_DATUM(0);
	if (params->nparams > 0)
	{
		Datum	   *param_types = palloc(sizeof(Datum) * params->nparams);
		Datum	   *param_values = palloc(sizeof(Datum) * params->nparams);
		bool	   *param_nulls = palloc(sizeof(bool) * params->nparams);
		int			dims[1] = {params->nparams};
		int			lbs[1] = {1};
		int			i;

		for (i = 0; i < params->nparams; i++)
		{
			param_types[i] = ObjectIdGetDatum(params->types[i]);
			param_nulls[i] = (params->values[i] == NULL);
			param_values[i] = param_nulls[i] ? (Datum) 0 :
				CStringGetTextDatum(params->values[i]);
		}
		values[DCOL_PARAM_TYPES] =
			PointerGetDatum(construct_array(param_types, params->nparams,
											REGTYPEOID, sizeof(Oid), true,
											TYPALIGN_INT));
		values[DCOL_PARAM_VALUES] =
			PointerGetDatum(construct_md_array(param_values, param_nulls,
											   1, dims, lbs, TEXTOID,
											   -1, false, TYPALIGN_INT));
		nulls[DCOL_PARAM_TYPES] = nulls[DCOL_PARAM_VALUES] = false;
	}
	if (!PG_ARGISNULL(5))
	{
		values[DCOL_LABEL] = PG_GETARG_DATUM(5);
		nulls[DCOL_LABEL] = false;
	}
	due = PG_ARGISNULL(1) ? GetCurrentTransactionStartTimestamp() :
		PG_GETARG_TIMESTAMPTZ(1);
	values[DCOL_RUN_AT] = TimestampTzGetDatum(due);
	values[DCOL_MAX_ATTEMPTS] = PG_GETARG_DATUM(2);
	values[DCOL_RETRY_DELAY] = PG_GETARG_DATUM(3);
	if (!PG_ARGISNULL(4))
	{
		values[DCOL_TIMEOUT] = PG_GETARG_DATUM(4);
		nulls[DCOL_TIMEOUT] = false;
	}
	values[DCOL_STATE] = CStringGetTextDatum("queued");
	values[DCOL_ATTEMPTS] = Int32GetDatum(0);
	values[DCOL_ERRORS] = Int32GetDatum(0);
	values[DCOL_ENQUEUED_AT] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	nulls[DCOL_OWNER] = nulls[DCOL_SQL] = nulls[DCOL_RUN_AT] = false;
	nulls[DCOL_MAX_ATTEMPTS] = nulls[DCOL_RETRY_DELAY] = false;
	nulls[DCOL_STATE] = nulls[DCOL_ATTEMPTS] = nulls[DCOL_ERRORS] = false;
	nulls[DCOL_ENQUEUED_AT] = false;

	id = durable_insert_row(values, nulls);

	/*
	 * The database is listed, its runner woken at commit (see below), unless
	 * it sleeps until after this job is due anyway.
	 */
	durable_note_insert(due);
	PG_RETURN_INT64(id);
}

/*
 * Find the columns of durable_columns in the table, each of its type, and
 * the sequence of id; an error if the table has not the layout of this
 * library's version, or has a column that must not be null where the
 * enqueue may leave it null (another column, or one of durable_columns
 * that may be null).  Remembered for the relation until a change of its
 * definition (durable_row_forget: an ALTER TABLE, in this session or
 * another) makes it look again.
 */
static void
durable_row_layout(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	attnums[DCOL_COUNT];
	List	   *seqs;
	int			i;
	int			c;

	if (durable_row_relid == RelationGetRelid(rel))
		return;
	if (!durable_row_callback)
	{
		CacheRegisterRelcacheCallback(durable_row_forget, (Datum) 0);
		durable_row_callback = true;
	}

	durable_row_relid = InvalidOid;
	memset(attnums, 0, sizeof(attnums));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		for (c = 0; c < DCOL_COUNT; c++)
		{
			if (strcmp(NameStr(att->attname), durable_columns[c].name) == 0)
				break;
		}
		if (c < DCOL_COUNT && att->atttypid == durable_columns[c].type &&
			!(att->attnotnull && durable_columns[c].may_be_null))
			attnums[c] = att->attnum;
		else if (c < DCOL_COUNT || att->attnotnull)
			break;
	}
	for (c = 0; c < DCOL_COUNT && i == desc->natts; c++)
	{
		if (attnums[c] == 0)
			break;
	}
	seqs = getOwnedSequences(RelationGetRelid(rel));
	if (i < desc->natts || c < DCOL_COUNT || list_length(seqs) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the table of durable jobs has an unexpected layout"),
				 errhint("Update the extension: ALTER EXTENSION pg_background UPDATE.")));
	durable_row_seq = linitial_oid(seqs);
	list_free(seqs);
	memcpy(durable_row_attnums, attnums, sizeof(attnums));
	durable_row_natts = desc->natts;
	durable_row_relid = RelationGetRelid(rel);
}

/*
 * Relcache invalidation callback: the table's definition may have changed
 * (or, for InvalidOid, any relation's), so durable_row_layout looks again.
 */
static void
durable_row_forget(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == durable_row_relid)
		durable_row_relid = InvalidOid;
}

/*
 * The enqueue transition: insert a queued job's row (values and nulls
 * indexed by durable_column; id is taken from the table's sequence here)
 * and return its id.  Written directly, as the executor's INSERT would
 * (toasted as needed, every index kept, unique and exclusion constraints
 * checked, the row visible to the transaction's next command), without
 * planning a statement for it: the enqueue is on its callers' hot path.
 * Triggers do not fire for it (durable_note_insert does the work of the
 * table's statement trigger), nor are CHECK constraints checked (the
 * table's own hold for the values pg_background_enqueue checked).  No
 * privilege check: the caller may run pg_background_enqueue, and writes as
 * the table's owner.
 */
static int64
durable_insert_row(Datum *values, bool *nulls)
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	List	   *recheck;
	Oid			save_user;
	int			save_sec_context;
	int64		id;
	int			c;

	PreventCommandIfReadOnly("pg_background_enqueue()");
	PreventCommandIfParallelMode("pg_background_enqueue()");
	durable_find_table();
	rel = table_open(durable_relid, RowExclusiveLock);
	durable_row_layout(rel);

	id = nextval_internal(durable_row_seq, false);
	values[DCOL_ID] = Int64GetDatum(id);
	nulls[DCOL_ID] = false;

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);

	/*
	 * A deferrable unique or exclusion constraint is checked later by a
	 * trigger that only the executor's INSERT queues: refused, rather than
	 * left unchecked.
	 */
	for (c = 0; c < rri->ri_NumIndices; c++)
	{
		Relation	index = rri->ri_IndexRelationDescs[c];

		if (!index->rd_index->indimmediate)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the table of durable jobs has a deferrable constraint"),
					 errdetail("An enqueue writes its row directly and cannot defer the check of index \"%s\".",
							   RelationGetRelationName(index))));
	}
	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel),
								  table_slot_callbacks(rel));
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * durable_row_natts);
	for (c = 0; c < DCOL_COUNT; c++)
	{
		slot->tts_values[durable_row_attnums[c] - 1] = values[c];
		slot->tts_isnull[durable_row_attnums[c] - 1] = nulls[c];
	}
	ExecStoreVirtualTuple(slot);

	/*
	 * As the table's owner, as the transitions run through SPI are: the
	 * expressions and predicates of its indexes run as that role.
	 */
	GetUserIdAndSecContext(&save_user, &save_sec_context);
	SetUserIdAndSecContext(durable_relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	recheck = pgbg_insert_index_tuples(rri, slot, estate);
	list_free(recheck);
	SetUserIdAndSecContext(save_user, save_sec_context);

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	/* As after an INSERT run through SPI: the next command sees the row. */
	CommandCounterIncrement();
	return id;
}

/*
 * Rows of durable jobs were inserted in this transaction, the earliest due
 * at due: list the database (in shared memory and in the file) before they
 * can commit, and wake its runner when they have.  Without
 * shared_preload_libraries (a restore into such a server) nothing to do.
 */
static void
durable_note_insert(TimestampTz due)
{
	if (durable == NULL)
		return;
	durable_note_database(MyDatabaseId);
	durable_register_callback();
	durable_xact_wake = true;
	if (due < durable_xact_due)
		durable_xact_due = due;
}

/*
 * pgbg_durable_inserted(): trigger, after each statement that inserts into
 * the table other than an enqueue's (pg_restore's COPY of a dump's jobs,
 * a superuser's INSERT): those rows are due whenever, so the runner is
 * woken at commit.
 */
Datum
pgbg_durable_inserted(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pgbg_durable_inserted must be called as a trigger")));
	durable_note_insert(DT_NOBEGIN);
	return PointerGetDatum(NULL);
}

/*
 * The id argument (argument 0), not null.
 */
static int64
durable_arg_id(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"id\" must not be null")));
	return PG_GETARG_INT64(0);
}

/*
 * The state of a job that the caller (a member of its owner's role) may
 * see, as of the transaction's snapshot, or of the latest one; NULL if
 * there is no such job.  *mine (if not NULL) tells whether the transaction
 * in progress wrote the row last (enqueued or changed it).  Caller is inside
 * durable_enter.
 */
static char *
durable_lookup_state(int64 id, Oid caller, bool latest, bool *mine)
{
	char	   *query;
	SPIPlanPtr	plan;
	Oid			types[2] = {INT8OID, OIDOID};
	Datum		values[2] = {Int64GetDatum(id), ObjectIdGetDatum(caller)};
	int			rc;

	query = psprintf("SELECT state, xmin FROM %s WHERE id = $1 "
					 "AND pg_has_role($2, owner::oid, 'MEMBER')",
					 durable_table());
	plan = SPI_prepare(query, 2, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (latest)
		rc = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
								  InvalidSnapshot, true, false, 1);
	else
		rc = SPI_execute_plan(plan, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pg_background durable job lookup failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return NULL;
	if (mine != NULL)
	{
		bool		isnull;
		Datum		xmin = SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 2, &isnull);

		*mine = !isnull &&
			TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin));
	}
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * 42704 unless the caller may see the job.  Caller is inside durable_enter.
 */
static void
durable_check_visible(int64 id, Oid caller)
{
	if (durable_lookup_state(id, caller, false, NULL) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("durable job %lld does not exist", (long long) id)));
}

/*
 * pg_background_job(id int8) RETURNS pg_background_durable_job
 */
Datum
pg_background_job(PG_FUNCTION_ARGS)
{
	int64		id = durable_arg_id(fcinfo);
	Oid			caller = GetUserId();
	durable_save save;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	Datum		values[14];
	bool		nulls[14];
	Oid			types[2] = {INT8OID, OIDOID};
	Datum		args[2] = {Int64GetDatum(id), ObjectIdGetDatum(caller)};
	Datum		result;
	int			i;

	pgbg_dir_require("pg_background_job");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (tupdesc->natts != 14)
		elog(ERROR, "pg_background_job: unexpected result type");

	durable_enter(&save);
	durable_spi("SELECT id, label, state, attempts, max_attempts, "
				"enqueued_at, run_at, started_at, finished_at, sqlstate, "
				"message, detail, command_tag, owner::oid FROM %s "
				"WHERE id = $1 AND pg_has_role($2, owner::oid, 'MEMBER')",
				2, types, args, NULL, -1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("durable job %lld does not exist", (long long) id)));
	for (i = 0; i < 14; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  i + 1, &nulls[i]);
	tuple = heap_form_tuple(tupdesc, values, nulls);
	result = PointerGetDatum(SPI_returntuple(tuple, tupdesc));
	durable_leave(&save);
	PG_RETURN_DATUM(result);
}

/*
 * pg_background_wait_job(id int8, timeout_ms int4 DEFAULT NULL) RETURNS bool
 *
 * Wait until the job has finished (true), or the timeout has passed
 * (false; NULL waits as long as it takes).  Sleeps on the condition
 * variable that every finishing job broadcasts, and looks at the job with
 * the latest snapshot, so that a REPEATABLE READ transaction sees it end.
 */
Datum
pg_background_wait_job(PG_FUNCTION_ARGS)
{
	int64		id = durable_arg_id(fcinfo);
	Oid			caller = GetUserId();
	long		timeout_ms = -1;
	TimestampTz deadline = 0;
	bool		done = false;

	pgbg_dir_require("pg_background_wait_job");
	if (!PG_ARGISNULL(1))
	{
		if (PG_GETARG_INT32(1) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"timeout_ms\" must not be negative")));
		timeout_ms = PG_GETARG_INT32(1);
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	}

	ConditionVariablePrepareToSleep(&durable->finished);
	for (;;)
	{
		durable_save save;
		char	   *state;
		bool		mine;
		long		remaining = -1;

		durable_enter(&save);
		state = durable_lookup_state(id, caller, true, &mine);
		if (state == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("durable job %lld does not exist", (long long) id)));
		done = (strcmp(state, "succeeded") == 0 ||
				strcmp(state, "failed") == 0 ||
				strcmp(state, "canceled") == 0);
		if (!done && mine)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("durable job %lld cannot run before the transaction in progress commits",
							(long long) id),
					 errdetail("This transaction enqueued the job (or changed it), so waiting for it here would never end."),
					 errhint("Commit first, then wait.")));
		durable_leave(&save);
		if (done)
			break;
		if (timeout_ms >= 0)
		{
			TimestampTz now = GetCurrentTimestamp();

			if (now >= deadline)
				break;
			/* Rounded up: never wake before the deadline. */
			remaining = (long) ((deadline - now + 999) / 1000);
		}
		if (remaining < 0)
			ConditionVariableSleep(&durable->finished, PG_WAIT_EXTENSION);
		else
			(void) ConditionVariableTimedSleep(&durable->finished, remaining,
											   PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	PG_RETURN_BOOL(done);
}

/*
 * pg_background_cancel_job(id int8) RETURNS bool
 *
 * A queued job, or an interrupted one (running, no worker has it), is
 * canceled (when this transaction commits); a running one is told to stop,
 * and its worker records it as canceled.  False if the job had finished
 * already.
 */
Datum
pg_background_cancel_job(PG_FUNCTION_ARGS)
{
	int64		id = durable_arg_id(fcinfo);
	Oid			caller = GetUserId();
	durable_save save;
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	char	   *state;
	bool		canceled = false;

	pgbg_dir_require("pg_background_cancel_job");
	durable_enter(&save);
	durable_check_visible(id, caller);
	durable_spi("UPDATE %s SET state = 'canceled', finished_at = now(), "
				"sqlstate = '57014', message = 'canceled before it started' "
				"WHERE id = $1 AND state = 'queued'",
				1, types, args, NULL, -1);
	if (SPI_processed > 0)
	{
		canceled = true;
		durable_note_broadcast();
	}
	else
	{
		state = durable_lookup_state(id, caller, true, NULL);
		if (state != NULL && strcmp(state, "running") == 0)
		{
			canceled = durable_stop_attempt(id);
			if (!canceled)
			{
				/*
				 * Interrupted: running, but no worker has it (it stopped
				 * without finishing, and the runner has not claimed the job
				 * again).  With its row locked, no runner can claim it
				 * (they skip locked rows) and take a slot for it: it is
				 * canceled as a queued job is.  Unless, once the lock is
				 * ours, the job has finished, or a runner that had locked
				 * it first has given it a worker (told to stop), or its
				 * attempt ended meanwhile with an error to be retried (it
				 * is queued: canceled).
				 */
				durable_spi("SELECT state FROM %s WHERE id = $1 FOR UPDATE",
							1, types, args, NULL, -1);
				state = SPI_processed == 1 ?
					SPI_getvalue(SPI_tuptable->vals[0],
								 SPI_tuptable->tupdesc, 1) : "gone";
				if ((strcmp(state, "running") == 0 &&
					 !(canceled = durable_stop_attempt(id))) ||
					strcmp(state, "queued") == 0)
				{
					durable_spi("UPDATE %s SET state = 'canceled', "
								"finished_at = now(), sqlstate = '57014', "
								"message = CASE state WHEN 'queued' "
								"THEN 'canceled before it started' "
								"ELSE 'canceled while interrupted' END "
								"WHERE id = $1", 1, types, args, NULL, 1);
					canceled = true;
					durable_note_broadcast();
				}
			}
		}
	}
	durable_leave(&save);
	PG_RETURN_BOOL(canceled);
}

/*
 * Tell the worker that holds a slot for job id of this database (if any)
 * to stop its attempt: true if a slot holds it.
 */
static bool
durable_stop_attempt(int64 id)
{
	bool		found = false;
	int			i;

	LWLockAcquire(durable->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGBG_DURABLE_MAX_RUNNING; i++)
	{
		durable_running *r = &durable->running[i];

		if (r->database == MyDatabaseId && r->job == id)
		{
			r->cancel = true;
			found = true;

			/*
			 * Under the lock, which the worker takes to give the slot up
			 * (pgbg_durable_slot_done): a worker that went on to another job
			 * from the pool is never signaled for this one.
			 */
			if (r->pid != 0)
				(void) kill(r->pid, SIGINT);
		}
	}
	LWLockRelease(durable->lock);
	return found;
}

/*
 * Transition "purge" (runner): delete the finished jobs kept long enough.
 */
void
pgbg_durable_purge(void)
{
	durable_save save;
	Oid			types[1] = {FLOAT8OID};
	Datum		args[1] = {Float8GetDatum((double) pgbg_durable_keep_finished)};

	durable_enter(&save);
	durable_spi("DELETE FROM %s WHERE " DURABLE_FINISHED_SQL
				" AND finished_at <= now() - make_interval(secs => $1)",
				1, types, args, NULL, -1);
	durable_leave(&save);
}

/*
 * A bigint[] of n job ids.
 */
static Datum
durable_id_array(int64 *ids, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		datums[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(datums, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Can the job be claimed?  A job interrupted too often (too_often), or
 * whose role was dropped or cannot be a worker's user, fails here instead.
 * Inside durable_enter.
 */
static bool
durable_claim_one(int64 job, Oid owner, bool too_often)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job)};

	if (too_often)
		durable_spi("UPDATE %s SET state = 'failed', finished_at = now(), "
					"sqlstate = '08006', message = 'the job was interrupted too often', "
					"detail = 'Its worker stopped ' || (attempts - errors) || "
					"' times without finishing (a server restart, a crash, a termination).' "
					"WHERE id = $1", 1, types, args, NULL, 1);
	else if (SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)) &&
			 pgbg_can_connect_as(owner))
		return true;
	else
		durable_spi("UPDATE %s SET state = 'failed', finished_at = now(), "
					"sqlstate = '28000', "
					"message = 'the role of the durable job cannot connect', "
					"detail = 'Its role was dropped, or cannot log in (before PostgreSQL 17).' "
					"WHERE id = $1", 1, types, args, NULL, 1);
	durable_note_broadcast();
	return false;
}

/*
 * Mark a claimed job running, with one more attempt; returns the attempt's
 * number.  Inside durable_enter.
 */
static int32
durable_claim_attempt(int64 job)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job)};
	bool		isnull;

	durable_spi("UPDATE %s SET state = 'running', attempts = attempts + 1, "
				"started_at = now(), finished_at = NULL WHERE id = $1 "
				"RETURNING attempts", 1, types, args, NULL, 1);
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Transition "claim" (runner, in its transaction): up to max due jobs that
 * are queued, or interrupted (running without a slot: not in busy), become
 * running with one more attempt, each in a slot taken for it, once admit
 * let its attempt start (the directory's admission limits).  A job that
 * admit refuses stays as it is (*waiting is set then), and the next due
 * one is looked at.  An interrupted job that has been interrupted too
 * often fails instead, and so does a job whose owner can no longer
 * connect.  Returns the number claimed, filling claimed[].
 */
int
pgbg_durable_claim(int64 *busy, int nbusy, int max, pgbg_durable_admit admit,
				   bool *waiting, pgbg_durable_claimed *claimed)
{
	durable_save save;
	Oid			types[2] = {INT8ARRAYOID, INT4OID};
	Datum		args[2];
	volatile int n = 0;
	int			ncand;
	int64	   *ids;
	Oid		   *owners;
	bool	   *too_often;
	char	  **labels;
	char	  **sqls;
	int			i;

	*waiting = false;
	args[0] = durable_id_array(busy, nbusy);
	/* Beyond max: the first ones may have to wait for admission. */
	args[1] = Int32GetDatum(max + PGBG_DURABLE_MAX_RUNNING);

	durable_enter(&save);

	/*
	 * The lock the UPDATEs below take, taken first: a REINDEX TABLE that
	 * got in between the SELECT ... FOR UPDATE (whose index it then waits
	 * for) and the UPDATE would deadlock with this transaction.
	 */
	LockRelationOid(durable_relid, RowExclusiveLock);
	durable_spi("SELECT id, owner::oid, state = 'running' AND attempts - errors >= "
				CppAsString2(PGBG_DURABLE_MAX_INTERRUPTIONS)
				", label, left(sql, " CppAsString2(PGBG_PREVIEW_CHARS) ")"
				" FROM %s WHERE state IN ('queued', 'running') "
				"AND run_at <= now() AND id <> ALL ($1) "
				"ORDER BY run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
				2, types, args, NULL, -1);
	ncand = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(ncand, 1));
	owners = palloc(sizeof(Oid) * Max(ncand, 1));
	too_often = palloc(sizeof(bool) * Max(ncand, 1));
	labels = palloc(sizeof(char *) * Max(ncand, 1));
	sqls = palloc(sizeof(char *) * Max(ncand, 1));
	for (i = 0; i < ncand; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1, &isnull));
		owners[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 2,
												   &isnull));
		too_often[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 3,
												  &isnull));
		labels[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
		sqls[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5);
	}

	PG_TRY();
	{
		for (i = 0; i < ncand && n < max; i++)
		{
			if (!durable_claim_one(ids[i], owners[i], too_often[i]))
				continue;
			claimed[n].job = ids[i];
			if (!pgbg_durable_slot_take(&claimed[n]))
				break;
			claimed[n].owner = owners[i];
			claimed[n].attempt = 0;
			claimed[n].dir_slot = -1;
			claimed[n].dir_seq = 0;
			if (!admit(&claimed[n], labels[i], sqls[i]))
			{
				/* It waits, queued (or interrupted), for a place. */
				pgbg_durable_slot_release(&claimed[n]);
				*waiting = true;
				continue;
			}
			n++;
			claimed[n - 1].attempt = durable_claim_attempt(ids[i]);
		}
	}
	PG_CATCH();
	{
		/* The claims roll back: so do their slots. */
		for (i = 0; i < n; i++)
			pgbg_durable_slot_release(&claimed[i]);
		PG_RE_THROW();
	}
	PG_END_TRY();
	durable_leave(&save);
	return n;
}

/*
 * Transition "unclaim" (runner, in a transaction of its own): no worker
 * could start for a claimed job; back to queued, the attempt not counted.
 */
void
pgbg_durable_unclaim(int64 job, int32 attempt)
{
	durable_save save;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(job), Int32GetDatum(attempt)};

	durable_enter(&save);
	durable_spi("UPDATE %s SET state = 'queued', attempts = attempts - 1 "
				"WHERE id = $1 AND state = 'running' AND attempts = $2",
				2, types, args, NULL, -1);
	durable_leave(&save);
}

/*
 * For the runner's sleep: whether any job is left (queued, running or
 * finished: *left 1, else 0), in how many milliseconds the next one is due (*due_ms), and
 * the next finished one is to be purged (*purge_ms); -1: none.  busy: the
 * jobs that have a worker.
 */
void
pgbg_durable_next(int64 *busy, int nbusy, int64 *left, long *due_ms,
				  long *purge_ms)
{
	durable_save save;
	Oid			types[2] = {INT8ARRAYOID, FLOAT8OID};
	Datum		args[2];
	bool		isnull;
	int			i;

	args[0] = durable_id_array(busy, nbusy);
	args[1] = Float8GetDatum((double) pgbg_durable_keep_finished);

	durable_enter(&save);
	durable_spi("SELECT (SELECT count(*) FROM (SELECT FROM %s LIMIT 1) one), "
				"ceil(extract(epoch FROM (SELECT min(run_at) FROM %s "
				"  WHERE state IN ('queued', 'running') AND id <> ALL ($1))"
				" - clock_timestamp()) * 1000)::float8, "
				"ceil(extract(epoch FROM (SELECT min(finished_at) FROM %s "
				"  WHERE " DURABLE_FINISHED_SQL ")"
				" + make_interval(secs => $2) - clock_timestamp()) * 1000)::float8",
				2, types, args, NULL, 1);
	*left = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	for (i = 0; i < 2; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, i + 2, &isnull);
		long		ms = -1;

		if (!isnull)
		{
			double		v = DatumGetFloat8(d);

			/* At most an hour: a clock that jumps is noticed then. */
			ms = v <= 0 ? 0 : (v > 3600 * 1000.0 ? 3600 * 1000L : (long) v);
		}
		if (i == 0)
			*due_ms = ms;
		else
			*purge_ms = ms;
	}
	durable_leave(&save);
}

/*
 * Is the extension (with its table) installed in this database?  For the
 * runner, in a transaction.
 */
bool
pgbg_durable_installed(void)
{
	Oid			ext = get_extension_oid("pg_background", true);

	return OidIsValid(ext) &&
		OidIsValid(get_relname_relid(PGBG_DURABLE_TABLE, pgbg_extension_schema(ext)));
}

/*
 * Transition "load" (job worker, in a transaction): the job's SQL,
 * parameters (serialized as for a launch) and timeout in ms (0: none), if
 * it is still running its attempt; else false (it is not ours any more).
 */
bool
pgbg_durable_load(int64 job, int32 attempt, char **sql, char **paramspace,
				  int *timeout_ms)
{
	durable_save save;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(job), Int32GetDatum(attempt)};
	bool		isnull;
	Datum		d;
	pgbg_params params;
	MemoryContext outer = CurrentMemoryContext;

	durable_enter(&save);
	durable_spi("SELECT sql, param_types::oid[], param_values, "
				"ceil(extract(epoch FROM timeout) * 1000)::int4 FROM %s "
				"WHERE id = $1 AND state = 'running' AND attempts = $2",
				2, types, args, NULL, -1);
	if (SPI_processed != 1)
	{
		durable_leave(&save);
		return false;
	}
	*sql = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	*timeout_ms = isnull ? 0 : DatumGetInt32(d);

	memset(&params, 0, sizeof(params));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
	{
		Datum	   *tdatums;
		Datum	   *vdatums;
		bool	   *vnulls;
		int			ntypes;
		int			nvalues;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(d), OIDOID, sizeof(Oid), true,
						  TYPALIGN_INT, &tdatums, NULL, &ntypes);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		if (isnull)
			elog(ERROR, "durable job %lld has parameter types but no values",
				 (long long) job);
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
						  TYPALIGN_INT, &vdatums, &vnulls, &nvalues);
		if (nvalues != ntypes)
			elog(ERROR, "durable job %lld has %d parameter types but %d values",
				 (long long) job, ntypes, nvalues);
		params.nparams = ntypes;
		params.types = palloc(sizeof(Oid) * Max(ntypes, 1));
		params.values = palloc(sizeof(char *) * Max(ntypes, 1));
		for (i = 0; i < ntypes; i++)
		{
			params.types[i] = DatumGetObjectId(tdatums[i]);
			params.values[i] = vnulls[i] ? NULL : TextDatumGetCString(vdatums[i]);
		}
	}
	*paramspace = MemoryContextAlloc(outer, pgbg_params_size(&params));
	pgbg_params_serialize(&params, *paramspace);
	durable_leave(&save);
	return true;
}

/*
 * Transition "succeed" (job worker): in the job's last transaction, before
 * it commits, or (strict false) in a transaction after the job's SQL ended
 * its own.  With strict, an attempt that is no longer ours raises an error,
 * which rolls the job's effects back.
 */
bool
pgbg_durable_succeed(int64 job, int32 attempt, const char *command_tag,
					 bool strict)
{
	durable_save save;
	Oid			types[3] = {INT8OID, INT4OID, TEXTOID};
	Datum		args[3] = {Int64GetDatum(job), Int32GetDatum(attempt),
	CStringGetTextDatum(command_tag)};
	bool		done;

	durable_enter(&save);
	durable_spi("UPDATE %s SET state = 'succeeded', finished_at = now(), "
				"command_tag = nullif($3, ''), sqlstate = NULL, message = NULL, "
				"detail = NULL WHERE id = $1 AND state = 'running' AND attempts = $2",
				3, types, args, NULL, -1);
	done = (SPI_processed == 1);
	durable_leave(&save);
	if (strict && !done)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("durable job %lld is no longer running attempt %d",
						(long long) job, attempt),
				 errdetail("Its effects are rolled back.")));
	return done;
}

/*
 * Transition "fail" (job worker, in a transaction after the error): the
 * attempt ended with edata.  Canceled if a cancel caused it; failed if no
 * attempt is left; else queued again, due after retry_delay doubled for
 * each earlier error (retry_delay, 2 x, 4 x, ...), at most
 * PGBG_DURABLE_MAX_DELAY_DAYS days.
 */
void
pgbg_durable_fail(int64 job, int32 attempt, ErrorData *edata, bool canceled)
{
	durable_save save;
	Oid			types[6] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	args[0] = Int64GetDatum(job);
	args[1] = Int32GetDatum(attempt);
	args[2] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	args[3] = CStringGetTextDatum(edata->message ? edata->message : "");
	if (edata->detail)
		args[4] = CStringGetTextDatum(edata->detail);
	else
	{
		args[4] = (Datum) 0;
		nulls[4] = 'n';
	}
	args[5] = BoolGetDatum(canceled);

	durable_enter(&save);
	durable_spi("UPDATE %s SET errors = errors + 1, sqlstate = $3, "
				"message = $4, detail = $5, "
				"state = CASE WHEN $6 THEN 'canceled' "
				"  WHEN errors + 1 >= max_attempts THEN 'failed' "
				"  ELSE 'queued' END, "
				"finished_at = CASE WHEN $6 OR errors + 1 >= max_attempts "
				"  THEN now() END, "
				"run_at = CASE WHEN $6 OR errors + 1 >= max_attempts THEN run_at "
				"  ELSE now() + least(retry_delay * power(2, least(errors, 30)), "
				"    interval '" CppAsString2(PGBG_DURABLE_MAX_DELAY_DAYS) " days') END "
				"WHERE id = $1 AND state = 'running' AND attempts = $2",
				6, types, args, nulls, -1);
	durable_leave(&save);
}

/*
 * Transition "cancel" of a job that its failed attempt queued again, the
 * cancel having reached the attempt's slot only after that outcome was
 * decided (job worker, in a transaction of its own, while the slot still
 * holds the job: see pgbg_durable_slot_finish).  A job that is not queued
 * (finished) is left as it is.
 */
void
pgbg_durable_cancel_requeued(int64 job)
{
	durable_save save;
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job)};

	durable_enter(&save);
	durable_spi("UPDATE %s SET state = 'canceled', finished_at = now(), "
				"sqlstate = '57014', message = 'canceled before its next attempt', "
				"detail = NULL WHERE id = $1 AND state = 'queued'",
				1, types, args, NULL, -1);
	durable_leave(&save);
	durable_note_broadcast();
}
