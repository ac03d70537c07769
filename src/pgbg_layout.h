/*-------------------------------------------------------------------------
 *
 * pgbg_layout.h
 *		Private layout of the dynamic shared memory segment that a launcher
 *		shares with one pg_background worker.
 *
 * This header is the single place that defines the segment's magic number,
 * its table-of-contents keys, the fixed-size header both sides read, and
 * the launch description (pgbg_spec) a segment is built from.  Only
 * segment.c (which builds and maps segments), launch.c (which describes a
 * job) and worker.c (which runs one) include it.
 *
 * A segment holds, under a shm_toc:
 *	 PGBG_KEY_FIXED	 a pgbg_fixed header: who launched the job and how
 *	 PGBG_KEY_SQL	 the SQL string, NUL-terminated
 *	 PGBG_KEY_SETTINGS the settings the launcher's session made itself
 *					 (settings.c)
 *	 PGBG_KEY_QUEUE	 the shm_mq that carries protocol messages from the
 *					 worker to the launcher
 *	 PGBG_KEY_PARAMS parameters for $1..$n (see params.c)
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBG_LAYOUT_H
#define PGBG_LAYOUT_H

#include "pg_background.h"

/*
 * Identifies a pg_background segment.  Bump it whenever anything in this
 * file (or pgbg_status) changes, or the messages the worker sends into the
 * queue (PGBG_MSG_ROWS): a worker from a newly installed library must
 * refuse a segment built by a session still running the old one.
 */
#define PGBG_MAGIC				0x50474707	/* "PGG", layout 7 */

#define PGBG_KEY_FIXED			UINT64CONST(0xB600000000000001)
#define PGBG_KEY_SQL			UINT64CONST(0xB600000000000002)
#define PGBG_KEY_QUEUE			UINT64CONST(0xB600000000000004)
#define PGBG_KEY_PARAMS			UINT64CONST(0xB600000000000005)
#define PGBG_KEY_SETTINGS		UINT64CONST(0xB600000000000006)

/* Number of TOC entries a segment uses (at most). */
#define PGBG_TOC_KEYS			5

/*
 * Fixed header of a segment.  The launcher fills it before it registers the
 * worker; afterwards only the worker writes, and only into status (under
 * status.mutex).
 */
typedef struct pgbg_fixed
{
	pgbg_status status;

	/*
	 * Identity and security context captured at launch.  The worker connects
	 * as authenticated_user_id: the launcher's authenticated user, or, for a
	 * launch under a local user ID change (as_current_user), the current user
	 * (see pgbg_launch).
	 */
	Oid			database_id;
	Oid			authenticated_user_id;
	bool		as_current_user;
	Oid			outer_user_id;	/* role after SET ROLE, see SetCurrentRoleId */
	bool		outer_is_superuser;
	Oid			current_user_id;	/* GetUserIdAndSecContext at launch */
	int			sec_context;
	/* Bookkeeping. */
	int32		launcher_pid;
	int64		cookie;
	bool		submitted;		/* discard rows, detach from the queue */
	int32		queue_size;		/* bytes of the PGBG_KEY_QUEUE chunk */
} pgbg_fixed;

/*
 * A job's launch description: everything its segment holds except the
 * queue, in one flat allocation that can be copied as it is (launch.c
 * builds it; a queued job keeps it in the shared store, specstore.c,
 * until its worker builds the segment from it).  The SQL, the settings and
 * the parameters follow the header in this order, each at a MAXALIGNed
 * offset.
 */
struct pgbg_spec
{
	Size		total_len;		/* of the whole description */
	pgbg_fixed	fixed;			/* fixed.status is only a template */
	Size		sql_len;
	Size		settings_len;
	Size		params_len;
};

/* segment.c */
extern pgbg_spec *pgbg_spec_create(const pgbg_fixed *fixed, const char *sql,
								   const char *settings, Size settings_len,
								   const pgbg_params *params);
extern void pgbg_spec_set_go(pgbg_spec *spec);
extern dsm_segment *pgbg_segment_create(const pgbg_spec *spec,
										pgbg_fixed **fixed, shm_mq **mq);

#endif							/* PGBG_LAYOUT_H */
