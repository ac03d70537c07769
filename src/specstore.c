/*-------------------------------------------------------------------------
 *
 * specstore.c
 *		The shared store of queued jobs' launch descriptions.
 *
 * A queued job holds no DSM segment (see segment.c): its description waits
 * here, in one dynamic shared memory area of the server (a DSA, its first
 * 8 MB in the main shared memory, growing by a few segments if a long
 * queue of large jobs needs more; grown segments stay), so
 * that a long queue costs bytes, not one of the server's limited segment
 * slots per job.  Admission (lifecycle.c) bounds the bytes queued jobs keep
 * here by pg_background.max_queued_bytes, in all and, through
 * pg_background.max_queued_per_role, per role.  The entry of a job owns its
 * description: lifecycle.c frees it when the worker has built the job's
 * segment from it, or when the job ends without having run.
 *
 * Only with shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

#include "pg_background.h"

/*
 * Bytes of the area kept in the main shared memory, its first part: room
 * for a full queue (pg_background.max_queued, 1000 by default) of short
 * jobs (about 6 kB each, most of it the launcher's GUC state) before the
 * area grows by DSM segments.
 */
#define SPECSTORE_IN_PLACE		(8 * 1024 * 1024)

typedef struct specstore_shared
{
	int			tranche;		/* of the area's lock */
	char		area[FLEXIBLE_ARRAY_MEMBER];	/* the area, in place */
} specstore_shared;

static specstore_shared *specstore = NULL;
static dsa_area *specstore_area = NULL;

static dsa_area *specstore_attach(void);

/*
 * Main shared memory the store needs.
 */
Size
pgbg_specstore_shmem_size(void)
{
	return add_size(offsetof(specstore_shared, area), SPECSTORE_IN_PLACE);
}

/*
 * Create the store (the postmaster, under AddinShmemInitLock) or find it.
 */
void
pgbg_specstore_shmem_init(void)
{
	bool		found;

	specstore = ShmemInitStruct("pg_background specs",
								pgbg_specstore_shmem_size(), &found);
	if (!found)
	{
		dsa_area   *area;

		specstore->tranche = LWLockNewTrancheId();
		area = dsa_create_in_place(specstore->area, SPECSTORE_IN_PLACE,
								   specstore->tranche, NULL);
		/* It lives as long as the server, whoever is attached. */
		dsa_pin(area);
		dsa_detach(area);
	}
}

/*
 * This process's mapping of the store, made on first use and kept for the
 * life of the process.
 */
static dsa_area *
specstore_attach(void)
{
	MemoryContext oldcontext;

	if (specstore_area != NULL)
		return specstore_area;
	if (specstore == NULL)
		elog(ERROR, "pg_background's job store is not in shared memory");
	LWLockRegisterTranche(specstore->tranche, "pg_background_specs");
	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	specstore_area = dsa_attach_in_place(specstore->area, NULL);
	MemoryContextSwitchTo(oldcontext);
	dsa_pin_mapping(specstore_area);
	on_shmem_exit(dsa_on_shmem_exit_release_in_place,
				  PointerGetDatum(specstore->area));
	return specstore_area;
}

/*
 * Copy len bytes into the store.  Raises 53200 if the server's shared
 * memory cannot hold them.
 */
dsa_pointer
pgbg_specstore_put(const void *data, Size len)
{
	dsa_area   *area = specstore_attach();
	dsa_pointer p;

	p = dsa_allocate_extended(area, len, DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(p))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of shared memory for queued pg_background jobs"),
				 errdetail("A job of %zu bytes could not be queued.", len),
				 errhint("Wait for queued jobs to start, or free shared memory (/dev/shm).")));
	memcpy(dsa_get_address(area, p), data, len);
	return p;
}

/*
 * Where a stored description is, in this process.
 */
const void *
pgbg_specstore_get(dsa_pointer p)
{
	return dsa_get_address(specstore_attach(), p);
}

/*
 * Free a stored description.
 */
void
pgbg_specstore_free(dsa_pointer p)
{
	if (DsaPointerIsValid(p))
		dsa_free(specstore_attach(), p);
}
