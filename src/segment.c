/*-------------------------------------------------------------------------
 *
 * segment.c
 *		A job's launch description, and the DSM segment built from it.
 *
 * launch.c describes a job once, as a pgbg_spec (pgbg_layout.h): who
 * launched it and as what, the SQL, the settings and the parameters, in
 * one flat allocation.  A job that
 * starts at once gets its segment (the description plus its result queue)
 * from its launcher.  A queued job holds no segment: its description waits
 * in the shared store (specstore.c), the worker that takes it builds the
 * segment (pgbg_segment_create, as the launcher would), and the launcher
 * maps that segment when it wants the job's results
 * (pgbg_segment_map_reader).  So the number of segments follows the
 * workers that run, never the length of the queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/shm_toc.h"

#include "pg_background.h"
#include "pgbg_layout.h"

/* The parts of a description, after its header. */
#define SPEC_HEADER_SIZE	MAXALIGN(sizeof(pgbg_spec))

static char *spec_part(const pgbg_spec *spec, int part);
static void segment_put(shm_toc *toc, uint64 key, const char *src, Size len);

/*
 * Describe a job: fixed (its status a template, copied into the segment),
 * the SQL, the serialized settings and the parameters.  Allocated in the
 * current memory context.
 */
pgbg_spec *
pgbg_spec_create(const pgbg_fixed *fixed, const char *sql,
				 const char *settings, Size settings_len,
				 const pgbg_params *params)
{
	Size		sql_len = strlen(sql) + 1;
	Size		params_len = pgbg_params_size(params);
	Size		total;
	pgbg_spec  *spec;

	total = add_size(SPEC_HEADER_SIZE, MAXALIGN(sql_len));
	total = add_size(total, MAXALIGN(settings_len));
	total = add_size(total, MAXALIGN(params_len));
	if (total > MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("background job is too large")));
	spec = palloc_extended(total, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	spec->total_len = total;
	spec->fixed = *fixed;
	spec->sql_len = sql_len;
	spec->settings_len = settings_len;
	spec->params_len = params_len;
	memcpy(spec_part(spec, 0), sql, sql_len);
	memcpy(spec_part(spec, 1), settings, settings_len);
	pgbg_params_serialize(params, spec_part(spec, 2));
	return spec;
}

/*
 * The bytes of a description: its length.
 */
Size
pgbg_spec_size(const pgbg_spec *spec)
{
	return spec->total_len;
}

/*
 * Mark a description as that of a launch that has returned: a segment
 * built from it lets its worker run the job at once.
 */
void
pgbg_spec_set_go(pgbg_spec *spec)
{
	spec->fixed.status.go = true;
	spec->fixed.status.abandoned = false;
}

/*
 * Where part n of a description starts: 0 SQL, 1 settings, 2 parameters.
 */
static char *
spec_part(const pgbg_spec *spec, int part)
{
	Size		offset = SPEC_HEADER_SIZE;

	if (part > 0)
		offset += MAXALIGN(spec->sql_len);
	if (part > 1)
		offset += MAXALIGN(spec->settings_len);
	return (char *) spec + offset;
}

/*
 * Build a job's segment from its description, with a result queue of
 * fixed.queue_size bytes; *fixed_out and *mq_out point into it.  The
 * segment belongs to the current resource owner until the caller pins its
 * mapping.  Nobody is the queue's sender or receiver yet.
 */
dsm_segment *
pgbg_segment_create(const pgbg_spec *spec, pgbg_fixed **fixed_out,
					shm_mq **mq_out)
{
	Size		queue_size = (Size) spec->fixed.queue_size;
	Size		segsize;
	shm_toc_estimator e;
	dsm_segment *seg;
	shm_toc    *toc;
	pgbg_fixed *fixed;
	shm_mq	   *mq;

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(pgbg_fixed));
	shm_toc_estimate_chunk(&e, spec->sql_len);
	shm_toc_estimate_chunk(&e, spec->settings_len);
	shm_toc_estimate_chunk(&e, spec->params_len);
	shm_toc_estimate_chunk(&e, queue_size);
	shm_toc_estimate_keys(&e, PGBG_TOC_KEYS);
	segsize = shm_toc_estimate(&e);

	seg = dsm_create(segsize, 0);
	toc = shm_toc_create(PGBG_MAGIC, dsm_segment_address(seg), segsize);

	fixed = shm_toc_allocate(toc, sizeof(pgbg_fixed));
	*fixed = spec->fixed;
	SpinLockInit(&fixed->status.mutex);
	shm_toc_insert(toc, PGBG_KEY_FIXED, fixed);

	segment_put(toc, PGBG_KEY_SQL, spec_part(spec, 0), spec->sql_len);
	segment_put(toc, PGBG_KEY_SETTINGS, spec_part(spec, 1),
				spec->settings_len);
	segment_put(toc, PGBG_KEY_PARAMS, spec_part(spec, 2), spec->params_len);

	mq = shm_mq_create(shm_toc_allocate(toc, queue_size), queue_size);
	shm_toc_insert(toc, PGBG_KEY_QUEUE, mq);

	*fixed_out = fixed;
	*mq_out = mq;
	return seg;
}

/*
 * Copy len bytes from src into a new chunk of the segment under key.
 */
static void
segment_put(shm_toc *toc, uint64 key, const char *src, Size len)
{
	char	   *space = shm_toc_allocate(toc, len);

	memcpy(space, src, len);
	shm_toc_insert(toc, key, space);
}

/*
 * The launcher of a queued job maps the segment its worker built, to read
 * the job's results: it becomes the queue's receiver.  The mapping and the
 * queue handle (allocated in the current memory context) live until the
 * session releases the job.  Returns false if the segment cannot be mapped
 * (it is gone, or not one of ours).
 */
bool
pgbg_segment_map_reader(dsm_handle handle, dsm_segment **seg_out,
						pgbg_status **status_out, shm_mq_handle **mqh_out)
{
	dsm_segment *seg;
	shm_toc    *toc;
	pgbg_fixed *fixed;
	shm_mq	   *mq;

	seg = dsm_attach(handle);
	if (seg == NULL)
		return false;
	toc = shm_toc_attach(PGBG_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
	{
		dsm_detach(seg);
		return false;
	}
	fixed = shm_toc_lookup(toc, PGBG_KEY_FIXED, false);
	mq = shm_toc_lookup(toc, PGBG_KEY_QUEUE, false);
	shm_mq_set_receiver(mq, MyProc);
	*mqh_out = shm_mq_attach(mq, seg, NULL);
	dsm_pin_mapping(seg);
	*seg_out = seg;
	*status_out = &fixed->status;
	return true;
}
