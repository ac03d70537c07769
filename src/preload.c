/*-------------------------------------------------------------------------
 *
 * preload.c
 *		What happens when the library is loaded: every module's settings,
 *		and with shared_preload_libraries, the shared memory of the job
 *		directory, the pool and durable jobs, and the dispatcher's
 *		registration.
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
	MarkGUCPrefixReserved("pg_background");

	if (!process_shared_preload_libraries_in_progress)
		return;
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
