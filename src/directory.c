/*-------------------------------------------------------------------------
 *
 * directory.c
 *		The shared job directory and admission control (preload mode).
 *
 * With shared_preload_libraries = 'pg_background', every job is recorded
 * in a fixed-size table in shared memory (pg_background.max_jobs entries):
 * handle, owner, database, label, state, timestamps, progress, command tag,
 * row count and error.  Workers write their outcome here as well as into
 * their segment, so a detached job's ending is known after its launcher
 * left, and any session of the owner role can see, wait for, cancel and
 * read the outcome of a job by its handle.
 *
 * Admission: a launch starts its worker at once only if nothing is queued
 * and the limits (pg_background.max_workers, ..._per_database,
 * ..._per_role) allow it, and the server has a free worker slot.
 * Otherwise the job is queued (state QUEUED, its segment pinned so that it
 * outlives its launcher) and the dispatcher (dispatcher.c) starts it later,
 * in FIFO order.  A queued job's handle carries a negative number in place
 * of the PID, since it has no worker yet; the handle stays valid for the
 * whole life of the job.
 *
 * A worker counts against the limits from admission until its process has
 * left (on_shmem_exit, after its pg_stat_activity entry is gone), so the
 * limits hold as pg_stat_activity shows them.
 *
 * Finished entries are kept for pg_background.finished_ttl, and at most
 * pg_background.max_finished of them; the oldest go first when space is
 * needed.  The postmaster writes the directory to a file when it shuts
 * down or reinitializes after a crash and reads it back on startup; jobs
 * that were queued or running then are recorded as lost on restart.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "lib/binaryheap.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_compat.h"

/* Where the postmaster keeps the directory across restarts. */
#define DIR_FILE			"pg_background.jobs"
#define DIR_FILE_TMP		"pg_background.jobs.tmp"
#define DIR_FILE_MAGIC		0x50474244	/* "PGBD" */

/*
 * What the scans of the table read (admission, allocation, the dispatcher,
 * lookups by handle), copied from each entry into a dense array: a launch
 * scans 48 bytes per entry instead of touching a cache line (and, in a new
 * session, a page) of every ~3.3 kB entry.  dir_sync() copies an entry's
 * fields here; it is called, under the exclusive lock, wherever one of them
 * changes, and assertion-enabled builds check the copy in every scan.
 */
typedef struct dir_hot
{
	int32		state;			/* pgbg_dir_state */
	bool		exited;
	Oid			owner;
	Oid			database;
	int32		handle_pid;
	uint64		seq;
	int64		cookie;
	TimestampTz finished_at;	/* outcome.finished_at */
}			dir_hot;

/* The shared table. */
typedef struct dir_shared
{
	LWLock	   *lock;
	ConditionVariable cv;		/* broadcast whenever a job ends */
	uint64		next_seq;
	PGPROC	   *dispatcher;		/* whose latch to set; NULL if none */
	bool		maybe_queued;	/* false: no entry is QUEUED */
	int			nentries;
	dir_hot    *hot;			/* nentries, after the entries */
	pgbg_dir_entry entries[FLEXIBLE_ARRAY_MEMBER];
} dir_shared;

/* GUCs. */
int			pgbg_max_jobs = 1024;
int			pgbg_max_queued = 1000;
int			pgbg_max_workers = -1;
int			pgbg_max_workers_per_database = -1;
int			pgbg_max_workers_per_role = -1;
int			pgbg_finished_ttl = 3600;
int			pgbg_max_finished = 512;

static dir_shared *dir = NULL;
#ifdef PGBG_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* The entry this process works for, if it is a worker of the directory. */
static int	dir_my_slot = -1;
static uint64 dir_my_seq = 0;
static PGPROC *dir_my_launcher = NULL;

static Size dir_size(void);
static void dir_shmem_request(void);
static void dir_shmem_startup(void);
static void dir_save(int code, Datum arg);
static void dir_load(void);
static int	dir_newest_first(const void *a, const void *b);
static pgbg_dir_entry *dir_entry(int slot, uint64 seq);
static bool dir_finished(pgbg_dir_state state, bool exited);
static bool dir_entry_finished(pgbg_dir_entry *e);
static bool dir_hot_finished(const dir_hot * h);
static void dir_sync(pgbg_dir_entry *e);
static void dir_check_hot(void);
static int	dir_allocate(void);
static bool dir_may_start(Oid owner, Oid database);
static int32 dir_pseudo_pid(uint64 seq);
static void dir_wake_dispatcher(void);
static int	dir_count_queued(void);
static void dir_queue_full(int nqueued);
static void dir_pin(pgbg_dir_entry *e, dsm_segment *seg);
static bool dir_take_pin(pgbg_dir_entry *e, dsm_handle *seg);
static void dir_record_end(pgbg_dir_entry *e, const char *sqlstate,
						   const char *message);
static bool dir_visible(const pgbg_dir_entry *e);

/*
 * Define the GUCs, and with shared_preload_libraries, ask for shared memory
 * and register the dispatcher.  Called from _PG_init.
 */
void
pgbg_dir_init(void)
{
	DefineCustomIntVariable("pg_background.max_queued",
							"Number of jobs that may wait for a worker; launches beyond it fail.",
							NULL, &pgbg_max_queued, 1000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_workers",
							"Maximum number of pg_background workers running at once (-1: no limit).",
							NULL, &pgbg_max_workers, -1, -1, 262143,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_workers_per_database",
							"Maximum number of pg_background workers running at once in one database (-1: no limit).",
							NULL, &pgbg_max_workers_per_database, -1, -1, 262143,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_workers_per_role",
							"Maximum number of pg_background workers running at once for one role (-1: no limit).",
							NULL, &pgbg_max_workers_per_role, -1, -1, 262143,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.finished_ttl",
							"How long the directory keeps a finished job.",
							NULL, &pgbg_finished_ttl, 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.pool_size",
							"Number of idle workers kept connected for reuse (0: no pool).",
							"Only with shared_preload_libraries.",
							&pgbg_pool_size, 0, 0, PGBG_POOL_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.pool_idle_timeout",
							"How long an idle pooled worker waits for a job before it exits.",
							NULL, &pgbg_pool_idle_timeout, 60, 1, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_finished",
							"How many finished jobs the directory keeps at most.",
							NULL, &pgbg_max_finished, 512, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	/* The rest exists only when preloaded (PGC_POSTMASTER needs that). */
	if (!process_shared_preload_libraries_in_progress)
	{
		MarkGUCPrefixReserved("pg_background");
		return;
	}
	DefineCustomIntVariable("pg_background.max_jobs",
							"Number of jobs the shared job directory can hold.",
							"Finished jobs are kept while there is room.",
							&pgbg_max_jobs, 1024, 16, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("pg_background");
#ifdef PGBG_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = dir_shmem_request;
#else
	dir_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = dir_shmem_startup;
	pgbg_dispatcher_register();
}

/*
 * Is the directory available (the library was preloaded)?
 */
bool
pgbg_dir_enabled(void)
{
	return dir != NULL;
}

/*
 * Raise 55000 unless the directory is available; what names the feature.
 */
void
pgbg_dir_require(const char *what)
{
	if (dir == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires the shared job directory", what),
				 errhint("Add pg_background to shared_preload_libraries and restart the server.")));
}

/* Offset of the dense array of hot fields from the start of the table. */
static Size
dir_hot_offset(void)
{
	return MAXALIGN(add_size(offsetof(dir_shared, entries),
							 mul_size(sizeof(pgbg_dir_entry), pgbg_max_jobs)));
}

static Size
dir_size(void)
{
	return add_size(dir_hot_offset(),
					mul_size(sizeof(dir_hot), pgbg_max_jobs));
}

static void
dir_shmem_request(void)
{
#ifdef PGBG_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(dir_size());
	RequestAddinShmemSpace(pgbg_pool_shmem_size());
	RequestNamedLWLockTranche("pg_background", 1);
}

/*
 * Create (or attach to) the table.  The postmaster also loads the file left
 * by the previous server run and arranges to write it at shutdown.
 */
static void
dir_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dir = ShmemInitStruct("pg_background directory", dir_size(), &found);
	if (!found)
	{
		memset(dir, 0, dir_size());
		dir->lock = &(GetNamedLWLockTranche("pg_background"))->lock;
		ConditionVariableInit(&dir->cv);
		dir->next_seq = 1;
		dir->nentries = pgbg_max_jobs;
		dir->hot = (dir_hot *) ((char *) dir + dir_hot_offset());
	}
	pgbg_pool_shmem_init();
	LWLockRelease(AddinShmemInitLock);

	if (!IsUnderPostmaster)
	{
		dir_load();
		on_shmem_exit(dir_save, (Datum) 0);
	}
}

/* Where dir_load moves a file it cannot trust. */
#define DIR_FILE_DAMAGED	"pg_background.jobs.damaged"

/* The file's header: magic, entry size, next sequence number, count. */
#define DIR_HEADER_SIZE		(2 * sizeof(uint32) + sizeof(uint64) + sizeof(int32))

/* Does the fixed-size string field end within its array? */
#define DIR_TERMINATED(field)	(memchr((field), '\0', sizeof(field)) != NULL)

/*
 * Could this entry have been written by dir_save?  Its states exist, its
 * numbers are in range and every string ends within its field.  dir_load
 * takes a file whose entries all pass, or none of it.
 */
static bool
dir_entry_valid(const pgbg_dir_entry *e)
{
	int32		state = (int32) e->state;
	int32		outcome_state = (int32) e->outcome.state;

	return state > (int32) PGBG_DIR_FREE && state <= (int32) PGBG_DIR_LOST &&
		outcome_state >= (int32) PGBG_STATE_STARTING &&
		outcome_state <= (int32) PGBG_STATE_ERROR &&
		e->queue_size >= 0 && e->queue_size <= PGBG_MAX_QUEUE_SIZE &&
		e->outcome.progress_pct >= -1 && e->outcome.progress_pct <= 100 &&
		DIR_TERMINATED(e->label) &&
		DIR_TERMINATED(e->sql_preview) &&
		DIR_TERMINATED(e->outcome.command_tag) &&
		DIR_TERMINATED(e->outcome.sqlstate) &&
		DIR_TERMINATED(e->outcome.message) &&
		DIR_TERMINATED(e->outcome.detail) &&
		DIR_TERMINATED(e->outcome.hint) &&
		DIR_TERMINATED(e->outcome.context) &&
		DIR_TERMINATED(e->outcome.progress_msg);
}

/*
 * For dir_save: copy entry e, its strings terminated (after a crash, an
 * entry may be half-written), and say whether to write the copy: an entry
 * in use that dir_load will accept.
 */
static bool
dir_save_copy(const pgbg_dir_entry *e, pgbg_dir_entry *copy)
{
	if (e->state == PGBG_DIR_FREE)
		return false;
	*copy = *e;
	copy->label[sizeof(copy->label) - 1] = '\0';
	copy->sql_preview[sizeof(copy->sql_preview) - 1] = '\0';
	copy->outcome.command_tag[sizeof(copy->outcome.command_tag) - 1] = '\0';
	copy->outcome.sqlstate[sizeof(copy->outcome.sqlstate) - 1] = '\0';
	copy->outcome.message[sizeof(copy->outcome.message) - 1] = '\0';
	copy->outcome.detail[sizeof(copy->outcome.detail) - 1] = '\0';
	copy->outcome.hint[sizeof(copy->outcome.hint) - 1] = '\0';
	copy->outcome.context[sizeof(copy->outcome.context) - 1] = '\0';
	copy->outcome.progress_msg[sizeof(copy->outcome.progress_msg) - 1] = '\0';
	return dir_entry_valid(copy);
}

/*
 * Postmaster, at shutdown or before reinitializing after a crash: write
 * every entry in use to the file.  No process runs any more, so no lock is
 * needed; after a crash an entry may be half-written: its strings are
 * terminated, and an entry in an impossible state is left out (see
 * dir_save_copy), so that dir_load accepts the file.
 */
static void
dir_save(int code, Datum arg)
{
	FILE	   *file;
	uint32		header[2] = {DIR_FILE_MAGIC, (uint32) sizeof(pgbg_dir_entry)};
	int32		count = 0;
	pgbg_dir_entry copy;
	int			i;

	if (dir == NULL)
		return;
	file = AllocateFile(DIR_FILE_TMP, PG_BINARY_W);
	if (file == NULL)
		goto error;
	for (i = 0; i < dir->nentries; i++)
		if (dir_save_copy(&dir->entries[i], &copy))
			count++;
	if (fwrite(header, sizeof(header), 1, file) != 1 ||
		fwrite(&dir->next_seq, sizeof(dir->next_seq), 1, file) != 1 ||
		fwrite(&count, sizeof(count), 1, file) != 1)
		goto error;
	for (i = 0; i < dir->nentries; i++)
		if (dir_save_copy(&dir->entries[i], &copy) &&
			fwrite(&copy, sizeof(pgbg_dir_entry), 1, file) != 1)
			goto error;
	if (FreeFile(file) != 0)
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(DIR_FILE_TMP, DIR_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write pg_background job directory file \"%s\": %m",
					DIR_FILE_TMP)));
	if (file)
		FreeFile(file);
	unlink(DIR_FILE_TMP);
}

/*
 * binaryheap comparator over slots of dir->entries, for dir_load: on top,
 * the entry that a directory too small for the file drops first (the last
 * in dir_newest_first's order).
 */
static int
dir_load_compare(Datum a, Datum b, void *arg)
{
	return dir_newest_first(&dir->entries[DatumGetInt32(a)],
							&dir->entries[DatumGetInt32(b)]);
}

/*
 * dir_load found the file damaged (what says how, in a full sentence):
 * forget what was loaded from it (the first nloaded entries), move the
 * file aside for whoever wants to look at it, and start empty.
 */
static void
dir_load_reject(FILE *file, const char *what, int nloaded)
{
	bool		moved;

	memset(dir->entries, 0, sizeof(pgbg_dir_entry) * nloaded);
	dir->next_seq = 1;
	FreeFile(file);
	moved = (durable_rename(DIR_FILE, DIR_FILE_DAMAGED, LOG) == 0);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("pg_background job directory file \"%s\" is damaged",
					DIR_FILE),
			 errdetail_internal("%s %s", what,
								moved ?
								psprintf("The file was renamed to \"%s\"; the job directory starts empty.",
										 DIR_FILE_DAMAGED) :
								psprintf("The file could not be renamed to \"%s\"; the job directory starts empty.",
										 DIR_FILE_DAMAGED))));
}

/*
 * Postmaster, at startup: read the file the previous run left.  Jobs that
 * had not finished are recorded as lost on restart: queued jobs never ran,
 * and a running job's transaction did not survive the restart (a job
 * stopped by a clean shutdown recorded its own error before exiting).
 *
 * Nothing in the file is trusted: a header whose count does not match the
 * file's size, a file of another format, an entry that dir_save cannot have
 * written, or a short read make the whole file damaged (dir_load_reject):
 * the server starts with an empty directory.  Entries are read one at a
 * time into the table itself; if the directory has shrunk, a heap of the
 * slots keeps the unfinished and the newest jobs (dir_newest_first), so no
 * more than the directory's size is ever allocated.
 */
static void
dir_load(void)
{
	FILE	   *file;
	struct stat st;
	uint32		header[2];
	uint64		next_seq;
	int32		count;
	pgbg_dir_entry entry;
	binaryheap *kept;
	int			n = 0;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	file = AllocateFile(DIR_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read pg_background job directory file \"%s\": %m",
							DIR_FILE)));
		return;
	}
	if (fstat(fileno(file), &st) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not stat pg_background job directory file \"%s\": %m",
						DIR_FILE)));
		FreeFile(file);
		return;
	}

	if ((uint64) st.st_size < DIR_HEADER_SIZE)
	{
		dir_load_reject(file,
						psprintf("The file holds %lld bytes, less than the header of a job directory file.",
								 (long long) st.st_size),
						0);
		return;
	}
	if (fread(header, sizeof(header), 1, file) != 1 ||
		fread(&next_seq, sizeof(next_seq), 1, file) != 1 ||
		fread(&count, sizeof(count), 1, file) != 1)
	{
		dir_load_reject(file, "The header of the file could not be read.", 0);
		return;
	}
	if (header[0] != DIR_FILE_MAGIC)
	{
		dir_load_reject(file,
						"The file does not start with the magic number of a job directory file.",
						0);
		return;
	}
	if (header[1] != (uint32) sizeof(pgbg_dir_entry))
	{
		dir_load_reject(file,
						psprintf("Its entries are of %u bytes; this version of pg_background writes entries of %zu bytes.",
								 header[1], sizeof(pgbg_dir_entry)),
						0);
		return;
	}
	if (count < 0 ||
		(uint64) st.st_size != DIR_HEADER_SIZE + (uint64) count * sizeof(pgbg_dir_entry))
	{
		dir_load_reject(file,
						psprintf("The header announces %d entries of %zu bytes, but the file holds %lld bytes.",
								 count, sizeof(pgbg_dir_entry),
								 (long long) st.st_size),
						0);
		return;
	}

	kept = binaryheap_allocate(Max(Min(count, dir->nentries), 1),
							   dir_load_compare, NULL);
	for (i = 0; i < count; i++)
	{
		int			slot;

		if (fread(&entry, sizeof(pgbg_dir_entry), 1, file) != 1)
		{
			binaryheap_free(kept);
			dir_load_reject(file,
							psprintf("Entry %d of %d could not be read.", i + 1, count),
							n);
			return;
		}
		if (!dir_entry_valid(&entry))
		{
			binaryheap_free(kept);
			dir_load_reject(file,
							psprintf("Entry %d of %d is not a valid job entry.", i + 1, count),
							n);
			return;
		}
		if (n < dir->nentries)
		{
			slot = n++;
			dir->entries[slot] = entry;
			binaryheap_add(kept, Int32GetDatum(slot));
		}
		else if (dir_newest_first(&entry,
								  &dir->entries[DatumGetInt32(binaryheap_first(kept))]) < 0)
		{
			/* Better than the worst kept: it takes the worst one's slot. */
			slot = DatumGetInt32(binaryheap_first(kept));
			dir->entries[slot] = entry;
			binaryheap_replace_first(kept, Int32GetDatum(slot));
		}
	}
	binaryheap_free(kept);
	if (fgetc(file) != EOF)
	{
		dir_load_reject(file, "The file holds more data than its header announces.", n);
		return;
	}

	dir->next_seq = Max(next_seq, 1);
	for (i = 0; i < n; i++)
	{
		pgbg_dir_entry *e = &dir->entries[i];

		/*
		 * A job that had recorded its ending (its worker was still leaving)
		 * keeps it.  Otherwise it is lost: queued if it never reached a
		 * worker (also a job the dispatcher took off the queue as the server
		 * was going down), running if it had.
		 */
		if (!dir_entry_finished(e) && e->outcome.state < PGBG_STATE_DONE)
		{
			bool		never_ran = (e->state == PGBG_DIR_QUEUED ||
									 (e->worker_pid == 0 &&
									  e->outcome.state == PGBG_STATE_STARTING));

			e->state = PGBG_DIR_LOST;
			e->outcome.state = PGBG_STATE_ERROR;
			e->outcome.finished_at = now;
			strlcpy(e->outcome.message,
					never_ran ?
					"the server restarted while the job was queued" :
					"the server restarted while the job was running",
					sizeof(e->outcome.message));
		}
		e->exited = true;
		e->seg_pinned = false;	/* segments do not survive a restart */
		e->worker_pid = 0;
		if (e->seq >= dir->next_seq)
			dir->next_seq = e->seq + 1;
	}
	for (i = 0; i < dir->nentries; i++)
		dir_sync(&dir->entries[i]);
	FreeFile(file);
	unlink(DIR_FILE);
}

/*
 * Comparator (as for qsort, of two entries): unfinished jobs first, then by
 * sequence number, newest first (what a shrunken directory keeps).
 */
static int
dir_newest_first(const void *a, const void *b)
{
	const pgbg_dir_entry *ea = a;
	const pgbg_dir_entry *eb = b;
	bool		fa = dir_entry_finished((pgbg_dir_entry *) ea);
	bool		fb = dir_entry_finished((pgbg_dir_entry *) eb);

	if (fa != fb)
		return fa ? 1 : -1;
	if (ea->seq != eb->seq)
		return ea->seq > eb->seq ? -1 : 1;
	return 0;
}

/*
 * Copy the fields the scans read from entry e to its place in dir->hot.
 * Caller holds the lock exclusively and has just changed e.
 */
static void
dir_sync(pgbg_dir_entry *e)
{
	dir_hot    *h = &dir->hot[e - dir->entries];

	h->state = e->state;
	h->exited = e->exited;
	h->owner = e->owner;
	h->database = e->database;
	h->handle_pid = e->handle_pid;
	h->seq = e->seq;
	h->cookie = e->cookie;
	h->finished_at = e->outcome.finished_at;
}

/*
 * Assertion-enabled builds: check that dir->hot matches the entries (a
 * change without dir_sync would make admission count wrong).  Caller holds
 * the lock.
 */
static void
dir_check_hot(void)
{
#ifdef USE_ASSERT_CHECKING
	int			i;

	for (i = 0; i < dir->nentries; i++)
	{
		pgbg_dir_entry *e = &dir->entries[i];
		dir_hot    *h = &dir->hot[i];

		Assert(h->state == (int32) e->state);
		if (e->state == PGBG_DIR_FREE)
			continue;
		Assert(h->exited == e->exited);
		Assert(h->owner == e->owner);
		Assert(h->database == e->database);
		Assert(h->handle_pid == e->handle_pid);
		Assert(h->seq == e->seq);
		Assert(h->cookie == e->cookie);
		Assert(h->finished_at == e->outcome.finished_at);
	}
#endif
}

/*
 * The entry in slot if it still holds job seq, else NULL.  Caller holds the
 * lock.
 */
static pgbg_dir_entry *
dir_entry(int slot, uint64 seq)
{
	pgbg_dir_entry *e;

	if (dir == NULL || slot < 0 || slot >= dir->nentries)
		return NULL;
	e = &dir->entries[slot];
	if (e->state == PGBG_DIR_FREE || e->seq != seq)
		return NULL;
	return e;
}

/*
 * Is a job in this state over, and its worker (if it had one) gone?
 */
static bool
dir_finished(pgbg_dir_state state, bool exited)
{
	switch (state)
	{
		case PGBG_DIR_FREE:
		case PGBG_DIR_CANCELED:
		case PGBG_DIR_LOST:
			return true;
		case PGBG_DIR_QUEUED:
			return false;
		case PGBG_DIR_ACTIVE:
			return exited;
	}
	return true;
}

static bool
dir_entry_finished(pgbg_dir_entry *e)
{
	return dir_finished(e->state, e->exited);
}

static bool
dir_hot_finished(const dir_hot * h)
{
	return dir_finished((pgbg_dir_state) h->state, h->exited);
}

/*
 * Find a free slot, evicting finished entries that are past their time or
 * beyond the count to keep, and if need be the oldest finished one.  Caller
 * holds the lock exclusively.  Returns -1 if every entry holds a job that
 * is not over.
 */
static int
dir_allocate(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			free_slot = -1;
	int			nfinished = 0;
	int			i;

	dir_check_hot();
	for (i = 0; i < dir->nentries; i++)
	{
		dir_hot    *h = &dir->hot[i];

		if (h->state != PGBG_DIR_FREE && dir_hot_finished(h) &&
			TimestampDifferenceExceeds(h->finished_at, now,
									   pgbg_finished_ttl * 1000))
		{
			dir->entries[i].state = PGBG_DIR_FREE;
			dir_sync(&dir->entries[i]);
		}
		if (h->state == PGBG_DIR_FREE)
		{
			if (free_slot < 0)
				free_slot = i;
		}
		else if (dir_hot_finished(h))
			nfinished++;
	}

	/* Too many finished, or no room: evict the oldest finished entries. */
	while (nfinished > 0 && (free_slot < 0 || nfinished >= pgbg_max_finished))
	{
		int			oldest = -1;

		for (i = 0; i < dir->nentries; i++)
		{
			dir_hot    *h = &dir->hot[i];

			if (h->state != PGBG_DIR_FREE && dir_hot_finished(h) &&
				(oldest < 0 || h->seq < dir->hot[oldest].seq))
				oldest = i;
		}
		dir->entries[oldest].state = PGBG_DIR_FREE;
		dir_sync(&dir->entries[oldest]);
		nfinished--;
		if (free_slot < 0 || oldest < free_slot)
			free_slot = oldest;
	}
	return free_slot;
}

/*
 * Would a worker for owner in database stay within the limits?  Counts
 * the workers admitted and not yet gone.  Caller holds the lock.
 */
static bool
dir_may_start(Oid owner, Oid database)
{
	int			total = 0;
	int			in_db = 0;
	int			of_role = 0;
	int			i;

	/* Without limits, there is nothing to count. */
	if (pgbg_max_workers < 0 && pgbg_max_workers_per_database < 0 &&
		pgbg_max_workers_per_role < 0)
		return true;

	dir_check_hot();
	for (i = 0; i < dir->nentries; i++)
	{
		dir_hot    *h = &dir->hot[i];

		if (h->state != PGBG_DIR_ACTIVE || h->exited)
			continue;
		total++;
		if (h->database == database)
			in_db++;
		if (h->owner == owner)
			of_role++;
	}
	if (pgbg_max_workers >= 0 && total >= pgbg_max_workers)
		return false;
	if (pgbg_max_workers_per_database >= 0 &&
		in_db >= pgbg_max_workers_per_database)
		return false;
	if (pgbg_max_workers_per_role >= 0 && of_role >= pgbg_max_workers_per_role)
		return false;
	return true;
}

/*
 * The number a queued job's handle carries instead of a PID: negative, so
 * that it can never be a process.
 */
static int32
dir_pseudo_pid(uint64 seq)
{
	return -(int32) (seq % (uint64) PG_INT32_MAX) - 1;
}

/*
 * Record a new job and decide whether it may start now.  Returns true if
 * the caller should start its worker (the entry counts against the limits
 * from now on), false if the job is queued: *handle_pid is then its
 * pseudo-PID, and seg is pinned so that it outlives the launcher until the
 * worker maps it.  Raises 53000 if the queue or the directory is full.
 */
bool
pgbg_dir_admit(const pgbg_dir_entry *proto, dsm_segment *seg, int *slot,
			   uint64 *seq, int32 *handle_pid)
{
	pgbg_dir_entry *e;
	int			nqueued;
	bool		start;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	nqueued = dir_count_queued();
	start = (nqueued == 0 && dir_may_start(proto->owner, proto->database));
	if (!start && nqueued >= pgbg_max_queued)
	{
		LWLockRelease(dir->lock);
		dir_queue_full(nqueued);
	}
	*slot = dir_allocate();
	if (*slot < 0)
	{
		LWLockRelease(dir->lock);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("the pg_background job directory is full"),
				 errdetail("All %d entries hold jobs that are queued or running.",
						   dir->nentries),
				 errhint("Raise pg_background.max_jobs (requires a restart) or wait for jobs to finish.")));
	}
	e = &dir->entries[*slot];
	*e = *proto;
	e->seq = *seq = dir->next_seq++;
	e->state = start ? PGBG_DIR_ACTIVE : PGBG_DIR_QUEUED;
	e->handle_pid = start ? 0 : dir_pseudo_pid(e->seq);
	*handle_pid = e->handle_pid;
	dir_sync(e);
	if (!start)
	{
		dir_pin(e, seg);
		dir->maybe_queued = true;
	}
	LWLockRelease(dir->lock);

	if (!start)
		dir_wake_dispatcher();
	return start;
}

/*
 * Keep a queued job's segment alive without its launcher.  Caller holds the
 * lock; whoever clears seg_pinned unpins.
 */
static void
dir_pin(pgbg_dir_entry *e, dsm_segment *seg)
{
	dsm_pin_segment(seg);
	e->seg = dsm_segment_handle(seg);
	e->seg_pinned = true;
}

/*
 * Take over the pin of a queued job's segment, if it still has one: returns
 * whether the caller must dsm_unpin_segment(*seg) (after releasing the
 * lock).  Caller holds the lock.
 */
static bool
dir_take_pin(pgbg_dir_entry *e, dsm_handle *seg)
{
	if (!e->seg_pinned)
		return false;
	*seg = e->seg;
	e->seg_pinned = false;
	return true;
}

/*
 * Record that a job ended with an error it could not report itself, unless
 * it already recorded how it ended.  Caller holds the lock, and calls
 * dir_sync(e) afterwards (every caller also changes the entry's state).
 */
static void
dir_record_end(pgbg_dir_entry *e, const char *sqlstate, const char *message)
{
	if (e->outcome.state >= PGBG_STATE_DONE)
		return;
	e->outcome.state = PGBG_STATE_ERROR;
	e->outcome.finished_at = GetCurrentTimestamp();
	strlcpy(e->outcome.sqlstate, sqlstate, sizeof(e->outcome.sqlstate));
	strlcpy(e->outcome.message, message, sizeof(e->outcome.message));
}

/*
 * How many jobs wait in the queue.  Caller holds the lock.
 */
static int
dir_count_queued(void)
{
	int			nqueued = 0;
	int			i;

	for (i = 0; dir->maybe_queued && i < dir->nentries; i++)
		if (dir->hot[i].state == PGBG_DIR_QUEUED)
			nqueued++;
	return nqueued;
}

/*
 * Raise the error for a launch that finds the queue full.
 */
static void
dir_queue_full(int nqueued)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("too many pg_background jobs are queued"),
			 errdetail("%d jobs are waiting for a worker, the maximum set by pg_background.max_queued.",
					   nqueued),
			 errhint("Wait for queued jobs to start, or raise pg_background.max_queued, pg_background.max_workers or max_worker_processes.")));
}

/*
 * A launch that was admitted could not register its worker (no free slot):
 * queue it instead.  If the queue is full, forget the job and raise 53000.
 */
void
pgbg_dir_requeue(int slot, uint64 seq, dsm_segment *seg, int32 *handle_pid)
{
	pgbg_dir_entry *e;
	int			nqueued;
	bool		queued = false;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	nqueued = dir_count_queued();
	e = dir_entry(slot, seq);
	if (e != NULL)
	{
		if (nqueued < pgbg_max_queued)
		{
			e->state = PGBG_DIR_QUEUED;
			e->handle_pid = *handle_pid = dir_pseudo_pid(seq);
			dir_pin(e, seg);
			dir->maybe_queued = true;
			queued = true;
		}
		else
			e->state = PGBG_DIR_FREE;
		dir_sync(e);
	}
	LWLockRelease(dir->lock);
	if (!queued)
		dir_queue_full(nqueued);
	dir_wake_dispatcher();
}

/*
 * Prepare an admitted job for a pooled worker: pin its segment (the
 * launcher may leave before the worker maps it) and give its handle a
 * pseudo-PID (a pooled worker's PID serves job after job).  Returns the
 * pseudo-PID.
 */
int32
pgbg_dir_prepare_pooled(int slot, uint64 seq, dsm_segment *seg)
{
	pgbg_dir_entry *e;
	int32		pid = 0;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(slot, seq);
	if (e != NULL)
	{
		dir_pin(e, seg);
		e->handle_pid = pid = dir_pseudo_pid(seq);
		dir_sync(e);
	}
	LWLockRelease(dir->lock);
	return pid;
}

/*
 * No pooled worker took the job after all: undo pgbg_dir_prepare_pooled.
 */
void
pgbg_dir_unprepare_pooled(int slot, uint64 seq)
{
	pgbg_dir_entry *e;
	dsm_handle	seg = 0;
	bool		unpin = false;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(slot, seq);
	if (e != NULL)
	{
		unpin = dir_take_pin(e, &seg);
		e->handle_pid = 0;
		dir_sync(e);
	}
	LWLockRelease(dir->lock);
	if (unpin)
		dsm_unpin_segment(seg);
}

/*
 * A launch failed before its worker attached: forget the job (the launch
 * raised an error, so nobody holds its handle).
 */
void
pgbg_dir_abandon(int slot, uint64 seq)
{
	pgbg_dir_entry *e;

	if (dir == NULL)
		return;
	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(slot, seq);
	if (e != NULL)
	{
		e->state = PGBG_DIR_FREE;
		dir_sync(e);
	}
	LWLockRelease(dir->lock);
	dir_wake_dispatcher();
}

/*
 * The dispatcher: pick the oldest queued job that the limits let start,
 * mark it active and return it (a copy), or return false.
 */
bool
pgbg_dir_next_queued(pgbg_dir_entry *job, int *slot)
{
	int			best = -1;
	bool		any = false;
	int			i;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	dir_check_hot();
	for (i = 0; dir->maybe_queued && i < dir->nentries; i++)
	{
		dir_hot    *h = &dir->hot[i];

		if (h->state != PGBG_DIR_QUEUED)
			continue;
		any = true;
		if (best >= 0 && h->seq > dir->hot[best].seq)
			continue;
		if (!dir_may_start(h->owner, h->database))
			continue;
		best = i;
	}
	dir->maybe_queued = any;
	if (best >= 0)
	{
		dir->entries[best].state = PGBG_DIR_ACTIVE;
		dir_sync(&dir->entries[best]);
		*job = dir->entries[best];
		*slot = best;
	}
	LWLockRelease(dir->lock);
	return best >= 0;
}

/*
 * The dispatcher could not register a worker for a job it took from the
 * queue: put it back at its place (it keeps its sequence number).
 */
void
pgbg_dir_unstart(int slot, uint64 seq)
{
	pgbg_dir_entry *e;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(slot, seq);
	if (e != NULL && e->state == PGBG_DIR_ACTIVE && e->worker_pid == 0)
	{
		e->state = PGBG_DIR_QUEUED;
		dir->maybe_queued = true;
		dir_sync(e);
	}
	LWLockRelease(dir->lock);
}

/*
 * A worker the dispatcher started is gone.  If it never reached its job
 * (it could not start, or failed before attaching), record that, and let
 * go of the segment that was pinned for it.
 */
void
pgbg_dir_worker_vanished(int slot, uint64 seq)
{
	pgbg_dir_entry *e;
	dsm_handle	seg = 0;
	bool		unpin = false;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(slot, seq);
	if (e != NULL && e->state == PGBG_DIR_ACTIVE && !e->exited)
	{
		e->exited = true;
		dir_record_end(e, "53000",
					   "background worker exited before it started its job");
		dir_sync(e);
		unpin = dir_take_pin(e, &seg);
	}
	LWLockRelease(dir->lock);
	if (unpin)
		dsm_unpin_segment(seg);
	ConditionVariableBroadcast(&dir->cv);
}

/*
 * The dispatcher announces itself (or, with NULL, its exit).
 */
void
pgbg_dir_set_dispatcher(PGPROC *proc)
{
	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	dir->dispatcher = proc;
	LWLockRelease(dir->lock);
}

static void
dir_wake_dispatcher(void)
{
	PGPROC	   *proc;

	LWLockAcquire(dir->lock, LW_SHARED);
	proc = dir->dispatcher;
	LWLockRelease(dir->lock);
	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/* ---------------------------------------------------------------------
 * The worker's side
 * ---------------------------------------------------------------------
 */

/*
 * This worker runs job seq of slot (from bgw_extra): note it, so that the
 * entry is closed however the process ends.  Called before anything can
 * fail.
 */
void
pgbg_dir_worker_begin(int slot, uint64 seq)
{
	static bool registered = false;

	if (dir == NULL || slot < 0)
		return;
	dir_my_slot = slot;
	dir_my_seq = seq;
	dir_my_launcher = NULL;
	if (!registered)
	{
		on_shmem_exit(pgbg_dir_worker_exit, (Datum) 0);
		registered = true;
	}
}

/*
 * The worker has mapped its segment: record its PID (which becomes the
 * handle's PID for a job that started at once) and take over the segment
 * from the pin that kept a queued job alive.  Returns whether the job was
 * canceled meanwhile (the worker then stops).  The launcher's latch is set
 * once the worker has left (the postmaster tells only the process that
 * registered a worker, which for a queued job is the dispatcher).
 */
bool
pgbg_dir_worker_attached(PGPROC *launcher)
{
	pgbg_dir_entry *e;
	dsm_handle	seg = 0;
	bool		unpin = false;
	bool		canceled = false;

	if (dir_my_slot < 0)
		return false;
	dir_my_launcher = launcher;
	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(dir_my_slot, dir_my_seq);
	if (e != NULL)
	{
		e->worker_pid = MyProcPid;
		if (e->handle_pid == 0)
			e->handle_pid = MyProcPid;
		dir_sync(e);
		canceled = e->canceled;
		unpin = dir_take_pin(e, &seg);
	}
	LWLockRelease(dir->lock);
	if (unpin)
		dsm_unpin_segment(seg);
	return canceled;
}

/*
 * Copy the worker's outcome into its entry; wake waiters of other sessions
 * when the job has ended.
 */
void
pgbg_dir_worker_publish(const pgbg_outcome *outcome)
{
	pgbg_dir_entry *e;

	if (dir_my_slot < 0)
		return;
	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(dir_my_slot, dir_my_seq);
	if (e != NULL)
	{
		e->outcome = *outcome;
		dir_sync(e);
	}
	LWLockRelease(dir->lock);
	if (outcome->state >= PGBG_STATE_DONE)
		ConditionVariableBroadcast(&dir->cv);
}

/*
 * Send signo to the worker running the job, if it still runs it.  The
 * signal is sent under the directory's lock, which a worker takes to close
 * the entry when the job is over: so a worker that finished the job and
 * went on to another one from the pool is never signaled in the middle of
 * that other job, and a signal that arrives as the job ends is pending
 * before the entry closes (pool.c clears a stray cancel then).  Returns
 * whether a signal was sent.
 */
bool
pgbg_dir_signal_worker(int slot, uint64 seq, int signo)
{
	pgbg_dir_entry *e;
	bool		sent = false;

	if (dir == NULL)
		return false;
	LWLockAcquire(dir->lock, LW_SHARED);
	e = dir_entry(slot, seq);
	if (e != NULL && e->state == PGBG_DIR_ACTIVE && !e->exited &&
		e->worker_pid > 0)
		sent = (kill(e->worker_pid, signo) == 0);
	LWLockRelease(dir->lock);
	return sent;
}

/*
 * A pooled worker is done with its job (and stays): close the entry as if
 * the worker had exited.
 */
void
pgbg_dir_worker_done(void)
{
	pgbg_dir_worker_exit(0, (Datum) 0);
}

/*
 * on_shmem_exit of a worker: the process is leaving (its pg_stat_activity
 * entry is already gone), so it no longer counts against the limits; a
 * queued job may take its place.  Records an error if the job never ended
 * (for instance, its segment could not be mapped).
 */
void
pgbg_dir_worker_exit(int code, Datum arg)
{
	pgbg_dir_entry *e;
	PGPROC	   *dispatcher = NULL;

	if (dir_my_slot < 0)
		return;
	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(dir_my_slot, dir_my_seq);
	if (e != NULL)
	{
		e->exited = true;
		dir_record_end(e, "08006",
					   "background worker exited before finishing its job");
		dir_sync(e);
	}
	/* Our place may let a queued job start (if there is one). */
	if (dir->maybe_queued)
		dispatcher = dir->dispatcher;
	LWLockRelease(dir->lock);
	dir_my_slot = -1;
	ConditionVariableBroadcast(&dir->cv);
	if (dispatcher != NULL)
		SetLatch(&dispatcher->procLatch);
	if (dir_my_launcher != NULL)
		SetLatch(&dir_my_launcher->procLatch);
}

/* ---------------------------------------------------------------------
 * Lookups for launchers and other sessions
 * ---------------------------------------------------------------------
 */

/*
 * May the current role see this entry?  Members of the owner role (which
 * includes superusers) may; for anybody else the job does not exist.
 */
static bool
dir_visible(const pgbg_dir_entry *e)
{
	return has_privs_of_role(GetUserId(), e->owner);
}

/*
 * Find the job with this handle that the current role may see; copies it
 * and returns its slot, or -1.
 */
int
pgbg_dir_find(int32 pid, int64 cookie, pgbg_dir_entry *copy)
{
	int			slot = -1;
	int			i;

	if (dir == NULL)
		return -1;
	LWLockAcquire(dir->lock, LW_SHARED);
	dir_check_hot();
	for (i = 0; i < dir->nentries; i++)
	{
		dir_hot    *h = &dir->hot[i];

		if (h->state != PGBG_DIR_FREE && h->handle_pid == pid &&
			h->cookie == cookie)
		{
			*copy = dir->entries[i];
			slot = i;
			break;
		}
	}
	LWLockRelease(dir->lock);
	if (slot >= 0 && !dir_visible(copy))
		slot = -1;
	return slot;
}

/*
 * Copy the entry of job seq in slot; false if it is no longer there.
 */
bool
pgbg_dir_get(int slot, uint64 seq, pgbg_dir_entry *copy)
{
	pgbg_dir_entry *e;

	if (dir == NULL)
		return false;
	LWLockAcquire(dir->lock, LW_SHARED);
	e = dir_entry(slot, seq);
	if (e != NULL)
		*copy = *e;
	LWLockRelease(dir->lock);
	return e != NULL;
}

/*
 * Is the job over for good (ended and its worker gone, or removed from the
 * queue, or lost)?  A job no longer in the directory is.
 */
bool
pgbg_dir_finished(int slot, uint64 seq)
{
	pgbg_dir_entry copy;

	if (!pgbg_dir_get(slot, seq, &copy))
		return true;
	return dir_entry_finished(&copy);
}

/*
 * Record that the job is canceled.  A queued job leaves the queue (state
 * canceled); a job whose worker has not mapped its segment yet will stop
 * there (see pgbg_dir_worker_attached).  Returns true if the job has a
 * running worker, which the caller must then signal.
 */
bool
pgbg_dir_cancel(int slot, uint64 seq)
{
	pgbg_dir_entry *e;
	dsm_handle	seg = 0;
	bool		unpin = false;
	bool		dequeued = false;
	bool		running = false;

	LWLockAcquire(dir->lock, LW_EXCLUSIVE);
	e = dir_entry(slot, seq);
	if (e != NULL)
	{
		e->canceled = true;
		if (e->state == PGBG_DIR_QUEUED)
		{
			e->state = PGBG_DIR_CANCELED;
			e->exited = true;
			dir_record_end(e, "57014", "canceling job while it was queued");
			dir_sync(e);
			unpin = dir_take_pin(e, &seg);
			dequeued = true;
		}
		else if (e->state == PGBG_DIR_ACTIVE && !e->exited)
			running = (e->worker_pid != 0);
	}
	LWLockRelease(dir->lock);
	if (unpin)
		dsm_unpin_segment(seg);
	if (dequeued)
		ConditionVariableBroadcast(&dir->cv);
	return running;
}

/*
 * Copies of every entry the current role may see, and their slots; returns
 * how many.  Only the entries in use are copied (counted first, under the
 * same lock): a large directory is mostly free entries.
 */
int
pgbg_dir_snapshot(pgbg_dir_entry **entries, int **slots)
{
	pgbg_dir_entry *all;
	int		   *where;
	int			used = 0;
	int			n = 0;
	int			kept = 0;
	int			i;

	*entries = NULL;
	*slots = NULL;
	if (dir == NULL)
		return 0;
	LWLockAcquire(dir->lock, LW_SHARED);
	dir_check_hot();
	for (i = 0; i < dir->nentries; i++)
		if (dir->hot[i].state != PGBG_DIR_FREE)
			used++;
	all = palloc_extended(mul_size(sizeof(pgbg_dir_entry), Max(used, 1)),
						  MCXT_ALLOC_HUGE);
	where = palloc(sizeof(int) * Max(used, 1));
	for (i = 0; i < dir->nentries && n < used; i++)
		if (dir->hot[i].state != PGBG_DIR_FREE)
		{
			where[n] = i;
			all[n++] = dir->entries[i];
		}
	LWLockRelease(dir->lock);
	for (i = 0; i < n; i++)
		if (dir_visible(&all[i]))
		{
			where[kept] = where[i];
			all[kept++] = all[i];
		}
	*entries = all;
	*slots = where;
	return kept;
}

/*
 * Counts for pg_background_admission: workers admitted and not gone, jobs
 * queued, entries in use.
 */
void
pgbg_dir_counts(int *active, int *queued, int *used, int *size)
{
	int			i;

	*active = *queued = *used = 0;
	LWLockAcquire(dir->lock, LW_SHARED);
	dir_check_hot();
	for (i = 0; i < dir->nentries; i++)
	{
		dir_hot    *h = &dir->hot[i];

		if (h->state == PGBG_DIR_FREE)
			continue;
		(*used)++;
		if (h->state == PGBG_DIR_QUEUED)
			(*queued)++;
		else if (h->state == PGBG_DIR_ACTIVE && !h->exited)
			(*active)++;
	}
	*size = dir->nentries;
	LWLockRelease(dir->lock);
}

/*
 * Be woken when any job of the directory ends (see control.c): the next
 * WaitLatch returns when one does.
 */
void
pgbg_dir_prepare_wait(void)
{
	if (dir != NULL)
		ConditionVariablePrepareToSleep(&dir->cv);
}

/*
 * The part of a new entry that a launcher knows; the rest is filled by
 * pgbg_dir_admit.
 */
void
pgbg_dir_proto(pgbg_dir_entry *e, int64 cookie, Oid owner, bool submitted,
			   int32 queue_size, const char *label, const char *sql)
{
	memset(e, 0, sizeof(pgbg_dir_entry));
	e->cookie = cookie;
	e->owner = owner;
	e->session_user = GetAuthenticatedUserId();
	e->database = MyDatabaseId;
	e->launcher_pid = MyProcPid;
	e->submitted = submitted;
	e->queue_size = queue_size;
	e->launched_at = GetCurrentTimestamp();
	if (label != NULL)
		strlcpy(e->label, label,
				pg_mbcliplen(label, strlen(label), sizeof(e->label) - 1) + 1);
	strlcpy(e->sql_preview, sql,
			pg_mbcharcliplen(sql, strlen(sql), PGBG_PREVIEW_CHARS) + 1);
	e->outcome.state = PGBG_STATE_STARTING;
	e->outcome.progress_pct = -1;
}
