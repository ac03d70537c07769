/*-------------------------------------------------------------------------
 *
 * directory.c
 *		The shared job directory and admission control (preload mode).
 *
 * With shared_preload_libraries = 'pg_background', every job is recorded
 * in a fixed-size table in shared memory (pg_background.max_jobs entries):
 * handle, owner, database, label, state, timestamps, progress, command tag,
 * row count and error.  This file is the table's storage: its memory, its
 * lock, the file that keeps it across restarts, and the lookups that apply
 * the visibility rule (only members of the owner role see a job).  What
 * may happen to an entry, and when, is lifecycle.c's business: every
 * change goes through one of its transitions.
 *
 * Changes happen under the exclusive lock, on entries handed out by
 * pgbg_dir_modify or pgbg_dir_allocate.  pgbg_dir_unlock then brings, for
 * exactly those entries, two derived structures up to date: a dense copy
 * of the fields the scans read (dir_hot, 64 bytes per entry), and four
 * lists that partition the entries by state (free, queued in FIFO order,
 * active, finished in the order they ended).  Admission walks the active
 * list, the dispatcher the queue, allocation the free and finished lists:
 * nothing on a launch scans the whole table.  A worker publishes its
 * outcome (statement ends, progress) under the lock in shared mode and one
 * of DIR_NPARTITIONS partition locks exclusively.
 *
 * The postmaster writes the directory to a file when it shuts down or
 * reinitializes after a crash and reads it back on startup; jobs that were
 * queued or running then are recorded as lost on restart.
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

/* Partition locks for the outcomes workers publish. */
#define DIR_NPARTITIONS		16

/* At most this many entries are changed under one lock (else: sync all). */
#define DIR_MAX_MODIFIED	8

/* The lists an entry is on, by state (see dir_list_of). */
typedef enum dir_list_id
{
	DIR_LIST_FREE = 0,
	DIR_LIST_QUEUED,			/* in order of seq */
	DIR_LIST_ACTIVE,			/* worker admitted, not gone */
	DIR_LIST_FINISHED,			/* in the order they ended */
	DIR_LIST_HELD,				/* ended, results held for the launcher */
	DIR_NLISTS
} dir_list_id;

typedef struct dir_list
{
	int32		head;			/* slot, or -1 */
	int32		tail;
	int32		count;
} dir_list;

/*
 * What the scans read, copied from each entry into a dense array, and the
 * entry's links in its list.  Written only by dir_sync.
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
	int64		spec_len;		/* bytes of a queued job's description */
	int32		list;			/* dir_list_id */
	int32		prev;			/* neighbours in the list, or -1 */
	int32		next;
}			dir_hot;

/* The shared table. */
typedef struct dir_shared
{
	LWLock	   *lock;
	LWLockPadded *partitions;	/* DIR_NPARTITIONS */
	ConditionVariable cv;		/* broadcast whenever a job ends */
	uint64		next_seq;
	PGPROC	   *dispatcher;		/* whose latch to set; NULL if none */
	dir_list	lists[DIR_NLISTS];
	int			nentries;
	dir_hot    *hot;			/* nentries, after the entries */
	pgbg_dir_entry entries[FLEXIBLE_ARRAY_MEMBER];
} dir_shared;

/* GUCs. */
int			pgbg_max_jobs = 1024;
int			pgbg_max_queued = 1000;
int			pgbg_max_queued_per_role = 250;
int			pgbg_max_queued_bytes = 256 * 1024; /* kB */
int			pgbg_max_total_workers = -1;
int			pgbg_max_workers_per_database = -1;
int			pgbg_max_workers_per_role = -1;
int			pgbg_finished_ttl = 3600;
int			pgbg_max_finished = 512;

static dir_shared *dir = NULL;

/* Entries handed out for change under the current lock (dir_note_modified). */
static int	dir_modified[DIR_MAX_MODIFIED];
static int	dir_nmodified = 0;

static Size dir_size(void);
static void dir_save(int code, Datum arg);
static void dir_load(void);
static int	dir_newest_first(const void *a, const void *b);
static dir_list_id dir_list_of(pgbg_dir_state state, bool exited,
							   bool held);
static void dir_list_remove(int i);
static void dir_list_insert(int i, dir_list_id id);
static void dir_sync(pgbg_dir_entry *e);
static void dir_sync_modified(void);
static void dir_check_hot(void);
static pgbg_dir_entry *dir_note_modified(int i);
static pgbg_dir_entry *dir_entry(int slot, uint64 seq);
static bool dir_finished(pgbg_dir_state state, bool exited);
static bool dir_entry_finished(pgbg_dir_entry *e);
static void dir_copy(int i, pgbg_dir_entry *copy);
static bool dir_visible(const pgbg_dir_entry *e);

#define dir_partition(i)	(&dir->partitions[(i) % DIR_NPARTITIONS].lock)

/*
 * Define the directory's settings (from _PG_init).  max_jobs exists only
 * when preloaded (PGC_POSTMASTER needs that).
 */
void
pgbg_dir_define_gucs(void)
{
	DefineCustomIntVariable("pg_background.max_queued",
							"Number of jobs that may wait for a worker; launches beyond it fail.",
							NULL, &pgbg_max_queued, 1000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_queued_per_role",
							"Number of jobs of one role that may wait for a worker (-1: no limit but max_queued).",
							NULL, &pgbg_max_queued_per_role, 250, -1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_queued_bytes",
							"Total size of the queues that queued jobs reserve.",
							"A queued job keeps its shared memory segment until it starts.",
							&pgbg_max_queued_bytes, 256 * 1024, 64, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_background.max_total_workers",
							"Maximum number of pg_background workers running at once in the whole server (-1: no limit).",
							"Not to be confused with pg_background.max_workers, the limit of one session.",
							&pgbg_max_total_workers, -1, -1, 262143,
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
	DefineCustomIntVariable("pg_background.max_finished",
							"How many finished jobs the directory keeps at most.",
							NULL, &pgbg_max_finished, 512, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("pg_background.max_jobs",
								"Number of jobs the shared job directory can hold.",
								"Finished jobs are kept while there is room.",
								&pgbg_max_jobs, 1024, 16, 1000000,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
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

/*
 * Ask for the table's shared memory and locks (preload.c).
 */
void
pgbg_dir_shmem_request(void)
{
	RequestAddinShmemSpace(dir_size());
	/* Two tranches: waits for either show apart in pg_stat_activity. */
	RequestNamedLWLockTranche("pg_background", 1);
	RequestNamedLWLockTranche("pg_background outcomes", DIR_NPARTITIONS);
}

/*
 * Create (or attach to) the table.  Caller holds AddinShmemInitLock.
 */
void
pgbg_dir_shmem_init(void)
{
	bool		found;

	dir = ShmemInitStruct("pg_background directory", dir_size(), &found);
	if (!found)
	{
		int			i;

		memset(dir, 0, dir_size());
		dir->lock = &(GetNamedLWLockTranche("pg_background"))->lock;
		dir->partitions = GetNamedLWLockTranche("pg_background outcomes");
		ConditionVariableInit(&dir->cv);
		dir->next_seq = 1;
		dir->nentries = pgbg_max_jobs;
		dir->hot = (dir_hot *) ((char *) dir + dir_hot_offset());

		/* Every entry is free, on the free list in slot order. */
		for (i = 0; i < DIR_NLISTS; i++)
			dir->lists[i].head = dir->lists[i].tail = -1;
		for (i = 0; i < dir->nentries; i++)
		{
			dir->hot[i].list = DIR_LIST_FREE;
			dir->hot[i].prev = i - 1;
			dir->hot[i].next = i + 1 < dir->nentries ? i + 1 : -1;
		}
		dir->lists[DIR_LIST_FREE].head = 0;
		dir->lists[DIR_LIST_FREE].tail = dir->nentries - 1;
		dir->lists[DIR_LIST_FREE].count = dir->nentries;
	}
}

/*
 * After pgbg_dir_shmem_init, in the postmaster: load the file left by the
 * previous server run and arrange to write it at shutdown.
 */
void
pgbg_dir_shmem_loaded(void)
{
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
		/* Segments and stored descriptions do not survive a restart. */
		e->seg_pinned = false;
		e->results_held = false;
		e->reader_gone = false;
		e->spec = InvalidDsaPointer;
		e->spec_len = 0;
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
 * Which of the directory's lists an entry with this state belongs to.
 */
static dir_list_id
dir_list_of(pgbg_dir_state state, bool exited, bool held)
{
	switch (state)
	{
		case PGBG_DIR_FREE:
			return DIR_LIST_FREE;
		case PGBG_DIR_QUEUED:
			return DIR_LIST_QUEUED;
		case PGBG_DIR_ACTIVE:
			if (!exited)
				return DIR_LIST_ACTIVE;
			return held ? DIR_LIST_HELD : DIR_LIST_FINISHED;
		case PGBG_DIR_CANCELED:
		case PGBG_DIR_LOST:
			return DIR_LIST_FINISHED;
	}
	return DIR_LIST_FINISHED;
}

/*
 * Take entry i out of its list.  Caller holds the lock exclusively.
 */
static void
dir_list_remove(int i)
{
	dir_hot    *h = &dir->hot[i];
	dir_list   *l = &dir->lists[h->list];

	if (h->prev >= 0)
		dir->hot[h->prev].next = h->next;
	else
		l->head = h->next;
	if (h->next >= 0)
		dir->hot[h->next].prev = h->prev;
	else
		l->tail = h->prev;
	l->count--;
	h->prev = h->next = -1;
}

/*
 * Put entry i into list id: the queue stays in the order of sequence
 * numbers (a job the dispatcher could not start goes back to its place),
 * the other lists in the order entries joined them.  Caller holds the
 * lock exclusively.
 */
static void
dir_list_insert(int i, dir_list_id id)
{
	dir_hot    *h = &dir->hot[i];
	dir_list   *l = &dir->lists[id];
	int			after = l->tail;

	if (id == DIR_LIST_QUEUED)
		while (after >= 0 && dir->hot[after].seq > h->seq)
			after = dir->hot[after].prev;
	h->list = id;
	h->prev = after;
	h->next = after >= 0 ? dir->hot[after].next : l->head;
	if (h->next >= 0)
		dir->hot[h->next].prev = i;
	else
		l->tail = i;
	if (after >= 0)
		dir->hot[after].next = i;
	else
		l->head = i;
	l->count++;
}

/*
 * Copy the fields the scans read from entry e to its place in dir->hot,
 * and move it to the list its state calls for.  Only pgbg_dir_unlock (for
 * the entries handed out by pgbg_dir_modify) and dir_load call this, so a
 * change of an entry cannot leave the copy or the lists behind.
 */
static void
dir_sync(pgbg_dir_entry *e)
{
	int			i = e - dir->entries;
	dir_hot    *h = &dir->hot[i];
	dir_list_id list = dir_list_of(e->state, e->exited, e->results_held);

	h->state = e->state;
	h->exited = e->exited;
	h->owner = e->owner;
	h->database = e->database;
	h->handle_pid = e->handle_pid;
	h->seq = e->seq;
	h->cookie = e->cookie;
	h->finished_at = e->outcome.finished_at;
	h->spec_len = e->spec_len;
	if (list != h->list)
	{
		dir_list_remove(i);
		dir_list_insert(i, list);
	}
}

/*
 * Assertion-enabled builds: check that dir->hot and the lists match the
 * entries.  Caller holds the lock (exclusively, or shared by processes
 * that only read).
 */
static void
dir_check_hot(void)
{
#ifdef USE_ASSERT_CHECKING
	int			counts[DIR_NLISTS] = {0};
	int			i;

	for (i = 0; i < dir->nentries; i++)
	{
		pgbg_dir_entry *e = &dir->entries[i];
		dir_hot    *h = &dir->hot[i];

		Assert(h->state == (int32) e->state);
		Assert(h->list == dir_list_of(e->state, e->exited, e->results_held));
		counts[h->list]++;
		if (e->state == PGBG_DIR_FREE)
			continue;
		Assert(h->exited == e->exited);
		Assert(h->owner == e->owner);
		Assert(h->database == e->database);
		Assert(h->handle_pid == e->handle_pid);
		Assert(h->seq == e->seq);
		Assert(h->cookie == e->cookie);
	}
	for (i = 0; i < DIR_NLISTS; i++)
		Assert(counts[i] == dir->lists[i].count);
#endif
}

/*
 * Take the directory's lock.  Whoever changes entries takes it
 * exclusively, through pgbg_dir_modify and pgbg_dir_allocate.
 */
void
pgbg_dir_lock(LWLockMode mode)
{
	/*
	 * Entries noted under a lock that an error released without
	 * pgbg_dir_unlock (no transition raises one while it holds the lock) are
	 * synced as soon as the lock is held again.
	 */
	LWLockAcquire(dir->lock, mode);
	if (dir_nmodified > 0)
	{
		if (mode == LW_EXCLUSIVE)
			dir_sync_modified();
		dir_nmodified = 0;
	}
}

/*
 * Bring the dense copy and the lists up to date for every entry handed out
 * for change since pgbg_dir_lock.  Run at unlock, and before anything
 * reads the lists, so that a transition's own changes count (the entries
 * stay noted: changes made after this are synced at unlock).
 */
static void
dir_sync_modified(void)
{
	int			i;

	if (dir_nmodified > DIR_MAX_MODIFIED)
	{
		for (i = 0; i < dir->nentries; i++)
			dir_sync(&dir->entries[i]);
	}
	else
	{
		for (i = 0; i < dir_nmodified; i++)
			dir_sync(&dir->entries[dir_modified[i]]);
	}
}

/*
 * Release the lock, after syncing the entries that changed under it.
 */
void
pgbg_dir_unlock(void)
{
	dir_sync_modified();
	dir_nmodified = 0;
	dir_check_hot();
	LWLockRelease(dir->lock);
}

/*
 * Note that entry i is about to change (synced at pgbg_dir_unlock).
 */
static pgbg_dir_entry *
dir_note_modified(int i)
{
	Assert(LWLockHeldByMeInMode(dir->lock, LW_EXCLUSIVE));
	if (dir_nmodified < DIR_MAX_MODIFIED)
		dir_modified[dir_nmodified] = i;
	dir_nmodified++;
	return &dir->entries[i];
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
 * The entry of job seq in slot, to be changed: NULL if the job is no longer
 * there.  Caller holds the lock exclusively; the entry's dense copy and its
 * place in the lists follow at pgbg_dir_unlock.
 */
pgbg_dir_entry *
pgbg_dir_modify(int slot, uint64 seq)
{
	if (dir_entry(slot, seq) == NULL)
		return NULL;
	return dir_note_modified(slot);
}

/*
 * Is a job in this state over, and its worker (if it had one) gone?
 */
static bool
dir_finished(pgbg_dir_state state, bool exited)
{
	return dir_list_of(state, exited, false) != DIR_LIST_ACTIVE &&
		dir_list_of(state, exited, false) != DIR_LIST_QUEUED;
}

static bool
dir_entry_finished(pgbg_dir_entry *e)
{
	return dir_finished(e->state, e->exited);
}

/*
 * Make room for a new job and return its entry (zeroed, with a new
 * sequence number), or NULL if every entry holds a job that is not over.
 * Finished entries past pg_background.finished_ttl, or beyond
 * pg_background.max_finished, are dropped first, oldest first, and if
 * there is no free entry, the oldest finished one.  Caller holds the lock
 * exclusively; the caller fills the entry before pgbg_dir_unlock.
 */
pgbg_dir_entry *
pgbg_dir_allocate(int *slot)
{
	TimestampTz now = GetCurrentTimestamp();
	dir_list   *finished = &dir->lists[DIR_LIST_FINISHED];
	pgbg_dir_entry *e;
	int			i;

	dir_sync_modified();
	while (finished->count > 0)
	{
		i = finished->head;

		/*
		 * Compared in microseconds (int64): the TTL in milliseconds would
		 * overflow an int.
		 */
		if (finished->count < pgbg_max_finished &&
			dir->lists[DIR_LIST_FREE].count > 0 &&
			now - dir->hot[i].finished_at <
			(int64) pgbg_finished_ttl * USECS_PER_SEC)
			break;
		/* Straight to the free list: the loop reads the lists. */
		dir->entries[i].state = PGBG_DIR_FREE;
		dir_sync(&dir->entries[i]);
	}
	i = dir->lists[DIR_LIST_FREE].head;
	if (i < 0)
		return NULL;
	e = dir_note_modified(i);
	memset(e, 0, sizeof(pgbg_dir_entry));
	e->seq = dir->next_seq++;
	*slot = i;
	return e;
}

/*
 * How many workers are admitted and not gone: in all, in database, and of
 * owner.  Walks the workers only.  Caller holds the lock.
 */
void
pgbg_dir_count_active(Oid owner, Oid database, int *total, int *in_db,
					  int *of_role)
{
	int			i;

	dir_sync_modified();
	*total = dir->lists[DIR_LIST_ACTIVE].count;
	*in_db = *of_role = 0;
	for (i = dir->lists[DIR_LIST_ACTIVE].head; i >= 0; i = dir->hot[i].next)
	{
		if (dir->hot[i].database == database)
			(*in_db)++;
		if (dir->hot[i].owner == owner)
			(*of_role)++;
	}
}

/*
 * How many jobs are queued: in all, and of owner; and the bytes of their
 * queues (NULL if not wanted).  Caller holds the lock.
 */
void
pgbg_dir_count_queued(Oid owner, int *total, int *of_role, int64 *bytes)
{
	int			i;

	dir_sync_modified();
	*total = dir->lists[DIR_LIST_QUEUED].count;
	*of_role = 0;
	if (bytes != NULL)
		*bytes = 0;
	if (owner == InvalidOid && bytes == NULL)
		return;
	for (i = dir->lists[DIR_LIST_QUEUED].head; i >= 0; i = dir->hot[i].next)
	{
		if (dir->hot[i].owner == owner)
			(*of_role)++;
		if (bytes != NULL)
			*bytes += dir->hot[i].spec_len;
	}
}

/*
 * The queued job after the one in slot (or the first, for slot -1), in
 * FIFO order; -1 at the end.  Caller holds the lock.
 */
int
pgbg_dir_next_queued(int slot)
{
	dir_sync_modified();
	if (slot < 0)
		return dir->lists[DIR_LIST_QUEUED].head;
	return dir->hot[slot].next;
}

/*
 * The owner, database and sequence number of the job in slot (a queued
 * one, found with pgbg_dir_next_queued), and whether it may be dispatched
 * (its launch has stored its description).  Caller holds the lock.
 */
bool
pgbg_dir_queued_job(int slot, Oid *owner, Oid *database, uint64 *seq)
{
	*owner = dir->hot[slot].owner;
	*database = dir->hot[slot].database;
	*seq = dir->hot[slot].seq;
	return DsaPointerIsValid(dir->entries[slot].spec);
}

/*
 * Copy the entry of job seq in slot; false if it is no longer there.
 * Caller holds the lock.
 */
bool
pgbg_dir_peek(int slot, uint64 seq, pgbg_dir_entry *copy)
{
	if (dir_entry(slot, seq) == NULL)
		return false;
	dir_copy(slot, copy);
	return true;
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

/*
 * The dispatcher's PGPROC, or NULL.  Caller holds the lock.
 */
PGPROC *
pgbg_dir_dispatcher(void)
{
	return dir->dispatcher;
}

/*
 * Broadcast that a job ended (waiters in pgbg_dir_prepare_wait wake up).
 */
void
pgbg_dir_broadcast(void)
{
	ConditionVariableBroadcast(&dir->cv);
}

/*
 * Copy src (NULL for empty) into dst, a text field of size bytes of an
 * outcome, clipped at a character boundary of the database encoding.
 */
void
pgbg_outcome_copy_clipped(char *dst, const char *src, size_t size)
{
	int			len;

	if (src == NULL)
		src = "";
	len = strlen(src);
	if (len >= (int) size)
		len = pg_mbcliplen(src, len, (int) size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * Publish a worker's outcome into the entry of job seq in slot.  Takes the
 * lock shared and the entry's partition lock exclusively: statement ends
 * and progress reports of different jobs do not wait for each other, and
 * readers that copy an entry take its partition lock shared.  The
 * outcome is not a field the scans read.
 */
void
pgbg_dir_publish(int slot, uint64 seq, const pgbg_outcome *outcome)
{
	pgbg_dir_entry *e;
	LWLock	   *part;

	LWLockAcquire(dir->lock, LW_SHARED);
	e = dir_entry(slot, seq);
	if (e != NULL)
	{
		part = dir_partition(slot);
		LWLockAcquire(part, LW_EXCLUSIVE);
		e->outcome = *outcome;
		LWLockRelease(part);
	}
	LWLockRelease(dir->lock);
}

/*
 * Copy entry i into copy.  Caller holds the lock: shared (then the
 * partition lock keeps a concurrent publish out) or exclusively.
 */
static void
dir_copy(int i, pgbg_dir_entry *copy)
{
	LWLock	   *part = dir_partition(i);
	bool		shared = !LWLockHeldByMeInMode(dir->lock, LW_EXCLUSIVE);

	if (shared)
		LWLockAcquire(part, LW_SHARED);
	*copy = dir->entries[i];
	if (shared)
		LWLockRelease(part);
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
 * and returns its slot, or -1.  Walks the entries in use only.  A handle
 * with PID 0 (what the list shows while a job's launch waits for its
 * worker) matches on the cookie alone, so that it still names the job once
 * the worker's PID is known.
 */
int
pgbg_dir_find(int32 pid, int64 cookie, pgbg_dir_entry *copy)
{
	int			slot = -1;
	int			l;
	int			i;

	if (dir == NULL)
		return -1;
	LWLockAcquire(dir->lock, LW_SHARED);
	for (l = DIR_LIST_QUEUED; l < DIR_NLISTS && slot < 0; l++)
		for (i = dir->lists[l].head; i >= 0; i = dir->hot[i].next)
			if ((dir->hot[i].handle_pid == pid || pid == 0) &&
				dir->hot[i].cookie == cookie)
			{
				dir_copy(i, copy);
				slot = i;
				break;
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
	bool		found;

	if (dir == NULL)
		return false;
	LWLockAcquire(dir->lock, LW_SHARED);
	found = pgbg_dir_peek(slot, seq, copy);
	LWLockRelease(dir->lock);
	return found;
}

/*
 * Is the job over for good (ended and its worker gone, or removed from the
 * queue, or lost)?  A job no longer in the directory is.
 */
bool
pgbg_dir_finished(int slot, uint64 seq)
{
	bool		finished = true;

	if (dir == NULL)
		return true;
	LWLockAcquire(dir->lock, LW_SHARED);
	if (dir_entry(slot, seq) != NULL)
		finished = dir_finished((pgbg_dir_state) dir->hot[slot].state,
								dir->hot[slot].exited);
	LWLockRelease(dir->lock);
	return finished;
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
	used = dir->nentries - dir->lists[DIR_LIST_FREE].count;
	all = palloc_extended(mul_size(sizeof(pgbg_dir_entry), Max(used, 1)),
						  MCXT_ALLOC_HUGE);
	where = palloc(sizeof(int) * Max(used, 1));
	for (i = 0; i < dir->nentries && n < used; i++)
		if (dir->hot[i].state != PGBG_DIR_FREE)
		{
			where[n] = i;
			dir_copy(i, &all[n++]);
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
	LWLockAcquire(dir->lock, LW_SHARED);
	*active = dir->lists[DIR_LIST_ACTIVE].count;
	*queued = dir->lists[DIR_LIST_QUEUED].count;
	*size = dir->nentries;
	*used = dir->nentries - dir->lists[DIR_LIST_FREE].count;
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
 * Between two turns of a wait that pgbg_dir_prepare_wait began (its latch
 * just reset): be on the list again if a broadcast took us off it.  Not
 * pgbg_dir_prepare_wait again: preparing cancels the sleep first, and
 * canceling a sleep that a broadcast ended passes a wakeup on to another
 * waiter (ConditionVariableSignal), which does the same at its next turn;
 * with a few sessions waiting, one job's end then kept them waking each
 * other without end.  A sleep of no time does what a sleeping waiter does:
 * it puts us back on the list if we were taken off, and nothing else
 * (it resets the latch again, which the caller looks past: it checks what
 * it waits for next).  If no wait is prepared, it prepares one.
 */
void
pgbg_dir_keep_waiting(void)
{
	if (dir != NULL)
		(void) ConditionVariableTimedSleep(&dir->cv, 0, PG_WAIT_EXTENSION);
}

/*
 * The wait that pgbg_dir_prepare_wait began is over.
 */
void
pgbg_dir_end_wait(void)
{
	if (dir != NULL)
		ConditionVariableCancelSleep();
}

/*
 * The part of a new entry that a launcher knows; the rest is filled by
 * pgbg_job_submit (lifecycle.c).
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
