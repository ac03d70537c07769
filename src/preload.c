/*-------------------------------------------------------------------------
 *
 * preload.c
 *		What happens when the library is loaded: every module's settings,
 *		and with shared_preload_libraries, the shared memory of the job
 *		directory, the pool and durable jobs, the dispatcher's
 *		registration, and room for jobs' segments in the main shared
 *		memory.
 *
 * A job's DSM segment, created and destroyed for each job, costs a shared
 * memory file and its mappings (create, fallocate, map, unmap, unlink:
 * some 40 us of a pooled job's CPU), unless core takes it from the part
 * of the main shared memory set aside for segments
 * (min_dynamic_shared_memory, PostgreSQL 14 and later, 0 by default).
 * When preloaded, pg_background.dsm_reserve (16 MB by default) raises that
 * setting to at least its value, unless min_dynamic_shared_memory is set
 * anywhere (the configuration file, the command line, ALTER SYSTEM): a
 * value the administrator chose is left alone.  Segments that do not fit
 * are created as files, as before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "pg_background.h"
#include "pgbg_compat.h"

void		_PG_init(void);

#ifdef PGBG_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* pg_background.dsm_reserve, in MB (see above). */
static int	preload_dsm_reserve = 16;

static void preload_shmem_request(void);
static void preload_shmem_startup(void);

/*
 * Module load: define the settings; when preloaded, ask for shared memory
 * and register the dispatcher.
 */
void
_PG_init(void)
{
	pgbg_entry_define_gucs();
	pgbg_worker_define_gucs();
	pgbg_pool_define_gucs();
	pgbg_dir_define_gucs();
	pgbg_durable_define_gucs();
	/* Like max_jobs, it exists only when preloaded (PGC_POSTMASTER). */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("pg_background.dsm_reserve",
								"Main shared memory set aside for jobs' segments, if min_dynamic_shared_memory is not set.",
								"Raises min_dynamic_shared_memory (PostgreSQL 14 and later) to this value when pg_background is preloaded; 0 leaves it alone.",
								&preload_dsm_reserve, 16, 0, INT_MAX / 2,
								PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	MarkGUCPrefixReserved("pg_background");

	if (!process_shared_preload_libraries_in_progress)
		return;
	pgbg_reserve_main_dsm(preload_dsm_reserve);
#ifdef PGBG_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = preload_shmem_request;
#else
	preload_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = preload_shmem_startup;
	pgbg_dispatcher_register();
}

static void
preload_shmem_request(void)
{
#ifdef PGBG_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	pgbg_dir_shmem_request();
	pgbg_durable_shmem_request();
	RequestAddinShmemSpace(pgbg_pool_shmem_size());
	RequestAddinShmemSpace(pgbg_specstore_shmem_size());
}

/*
 * Create (or attach to) the shared structures.
 */
static void
preload_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pgbg_dir_shmem_init();
	pgbg_pool_shmem_init();
	pgbg_specstore_shmem_init();
	pgbg_durable_shmem_init();
	LWLockRelease(AddinShmemInitLock);
	pgbg_dir_shmem_loaded();
	pgbg_durable_shmem_loaded();
}
