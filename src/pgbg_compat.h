/*-------------------------------------------------------------------------
 *
 * pgbg_compat.h
 *		The one place where pg_background deals with differences between
 *		PostgreSQL major versions.
 *
 * Every other file calls the names defined here instead of testing
 * PG_VERSION_NUM itself.  Supported: PostgreSQL 13 to 18.  CI compiles
 * against 13 and builds and tests against 15 and 18; the branches for 14,
 * 16 and 17 follow the release notes and headers of those versions.  Needed as they are on every supported version
 * (so no branch here): QueryCompletion and CommandTag (13), PG_FINALLY
 * (13), TimestampDifferenceMilliseconds (14, back-patched into 13's minor
 * releases), BufFileRead returning the bytes read (all; 16 added the
 * ReadExact variants), ResourceOwnerCreate (unchanged by 17's rewrite).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBG_COMPAT_H
#define PGBG_COMPAT_H

#include "postgres.h"

#include "catalog/pg_authid.h"
#include "lib/stringinfo.h"
#include "postmaster/bgworker.h"
#include "tcop/cmdtag.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/syscache.h"

#if PG_VERSION_NUM < 130000
#error "pg_background requires PostgreSQL 13 or later"
#endif

/*
 * PortalRun lost its run_once argument in PostgreSQL 18.
 */
#if PG_VERSION_NUM >= 180000
#define pgbg_PortalRun(portal, count, top, dest, altdest, qc) \
	PortalRun((portal), (count), (top), (dest), (altdest), (qc))
#else
#define pgbg_PortalRun(portal, count, top, dest, altdest, qc) \
	PortalRun((portal), (count), (top), true, (dest), (altdest), (qc))
#endif

/*
 * pg_analyze_and_rewrite became pg_analyze_and_rewrite_fixedparams in 15.
 */
#if PG_VERSION_NUM >= 150000
#define pgbg_analyze_and_rewrite(raw, sql, types, n) \
	pg_analyze_and_rewrite_fixedparams((raw), (sql), (types), (n), NULL)
#else
#define pgbg_analyze_and_rewrite(raw, sql, types, n) \
	pg_analyze_and_rewrite((raw), (sql), (types), (n), NULL)
#endif

/*
 * A read-only StringInfo over memory we do not own (a message that lives in
 * a shm_mq ring).  initReadOnlyStringInfo appeared in 17.
 */
static inline void
pgbg_init_readonly_stringinfo(StringInfo str, char *data, int len)
{
#if PG_VERSION_NUM >= 170000
	initReadOnlyStringInfo(str, data, len);
#else
	str->data = data;
	str->len = len;
	str->maxlen = len;
	str->cursor = 0;
#endif
}

/*
 * The completion tag a client would see for qc ("INSERT 0 1", "VACUUM").
 * Core's BuildQueryCompletionString is exported only from 16 on; this is
 * the same rule, for every version.
 */
static inline void
pgbg_completion_tag(char *buf, size_t size, const QueryCompletion *qc)
{
	const char *name = GetCommandTagName(qc->commandTag);

	if (command_tag_display_rowcount(qc->commandTag))
		snprintf(buf, size,
				 qc->commandTag == CMDTAG_INSERT ? "%s 0 " UINT64_FORMAT : "%s " UINT64_FORMAT,
				 name, qc->nprocessed);
	else
		snprintf(buf, size, "%s", name);
}

/*
 * Multirange types came in 14.  On 13 no type has typtype 'm', so a switch
 * case for TYPTYPE_MULTIRANGE is never taken there; these two let callers
 * name multiranges without a version test.
 */
#if PG_VERSION_NUM < 140000
#define TYPTYPE_MULTIRANGE 'm'
#define get_multirange_range(multirange_typid) ((void) (multirange_typid), InvalidOid)
#endif

/*
 * Index entries for a row inserted without the executor's INSERT
 * (durable.c): ExecInsertIndexTuples took the result relation from the
 * EState before 14, and a flag for summarizing indexes only from 16 on.
 * Returns the list of indexes to recheck (none here: no exclusion
 * constraints, no speculative insertion).
 */
#if PG_VERSION_NUM >= 160000
#define pgbg_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#elif PG_VERSION_NUM >= 140000
#define pgbg_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#else
#define pgbg_insert_index_tuples(rri, slot, estate) \
	((estate)->es_result_relation_info = (rri), \
	 ExecInsertIndexTuples((slot), (estate), false, NULL, NIL))
#endif

/*
 * Shared memory requests: from 15 on, in shmem_request_hook; before, in
 * _PG_init itself.  PGBG_SHMEM_REQUEST_HOOK tells preload.c which.
 * MarkGUCPrefixReserved was EmitWarningsOnPlaceholders before 15.
 */
#if PG_VERSION_NUM >= 150000
#define PGBG_SHMEM_REQUEST_HOOK 1
#else
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * The GUC table (settings.c): get_guc_variables counts the variables itself
 * from 16 on.  The role that set a value (srole) and set_config_option_ext,
 * which takes it, came in 15; before, values carry no role.
 */
#if PG_VERSION_NUM >= 160000
#define pgbg_guc_variables(nvars) get_guc_variables(nvars)
#else
#define pgbg_guc_variables(nvars) \
	(*(nvars) = GetNumConfigOptions(), get_guc_variables())
#endif
#if PG_VERSION_NUM >= 150000
#define PGBG_GUC_SROLE(gconf) ((gconf)->srole)
#define PGBG_GUC_RESET_SROLE(gconf) ((gconf)->reset_srole)
#define pgbg_set_config_option(name, value, context, source, srole) \
	((void) set_config_option_ext(name, value, context, source, srole, \
								  GUC_ACTION_SET, true, ERROR, true))
#else
#define PGBG_GUC_SROLE(gconf) InvalidOid
#define PGBG_GUC_RESET_SROLE(gconf) InvalidOid
#define pgbg_set_config_option(name, value, context, source, srole) \
	((void) set_config_option(name, value, context, source, \
							  GUC_ACTION_SET, true, ERROR, true))
#endif

/*
 * shm_mq_sendv's force_flush argument (15+): without it, every send is
 * published at once.  The wait event of a sender waiting for room was
 * renamed in 17.
 */
#if PG_VERSION_NUM >= 150000
#define pgbg_shm_mq_sendv(mqh, iov, n, nowait, flush) \
	shm_mq_sendv(mqh, iov, n, nowait, flush)
#else
#define pgbg_shm_mq_sendv(mqh, iov, n, nowait, flush) \
	shm_mq_sendv(mqh, iov, n, nowait)
#endif
#if PG_VERSION_NUM >= 170000
#define PGBG_WAIT_EVENT_MQ_PUT WAIT_EVENT_MESSAGE_QUEUE_PUT_MESSAGE
#else
#define PGBG_WAIT_EVENT_MQ_PUT WAIT_EVENT_MQ_PUT_MESSAGE
#endif

/*
 * Can a background worker connect as roleid?  17 added
 * BGWORKER_BYPASS_ROLELOGINCHECK, with which any role can be a worker's
 * user; before it, InitializeSessionUserId refuses a role without LOGIN.
 * PGBG_BGW_BYPASS_ROLELOGIN is the flag to pass when connecting as a role
 * that was not authenticated.
 */
#if PG_VERSION_NUM >= 170000
#define PGBG_BGW_BYPASS_ROLELOGIN BGWORKER_BYPASS_ROLELOGINCHECK
#else
#define PGBG_BGW_BYPASS_ROLELOGIN 0
#endif

static inline bool
pgbg_can_connect_as(Oid roleid)
{
#if PG_VERSION_NUM >= 170000
	return true;
#else
	HeapTuple	tup;
	bool		canlogin = false;

	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	if (HeapTupleIsValid(tup))
	{
		canlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
		ReleaseSysCache(tup);
	}
	return canlogin;
#endif
}

/*
 * Room for DSM segments in the main shared memory (preload.c): the setting
 * min_dynamic_shared_memory came in 14.  Raised to mb megabytes, at a
 * source below any the administrator can use, so that a value set in the
 * configuration or on the command line wins.  Before 14, nothing.
 */
#if PG_VERSION_NUM >= 140000
#include "storage/dsm_impl.h"

static inline void
pgbg_reserve_main_dsm(int mb)
{
	char		value[32];

	if (mb <= 0 || min_dynamic_shared_memory >= mb)
		return;
	snprintf(value, sizeof(value), "%d", mb);
	SetConfigOption("min_dynamic_shared_memory", value, PGC_POSTMASTER,
					PGC_S_DYNAMIC_DEFAULT);
}
#else
#define pgbg_reserve_main_dsm(mb) ((void) (mb))
#endif

/*
 * How many GUC variables this process knows (built-in, defined by loaded
 * libraries, and placeholders).  From 16 on only get_guc_variables counts
 * them, into an array it allocates.
 */
#if PG_VERSION_NUM >= 160000
#include "utils/guc_tables.h"

static inline int
pgbg_guc_count(void)
{
	int			n;

	pfree(get_guc_variables(&n));
	return n;
}
#else
#include "utils/guc.h"
#define pgbg_guc_count() GetNumConfigOptions()
#endif

/*
 * A fingerprint of the shared objects loaded into this process: how many
 * there are (the executable, its libraries, and every library loaded since
 * and what it pulled in) and the sum of their load addresses.  Loading one
 * more (LOAD, or the first call of a function of a library) changes it;
 * PostgreSQL never unloads a library.  pgbg_loaded_objects returns false
 * where the platform gives no list (a pooled worker then never parks, see
 * worker.c).  This is an operating system difference, not a version one.
 */
typedef struct pgbg_objects
{
	int			count;
	uintptr_t	addr_sum;
} pgbg_objects;

#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
	defined(__OpenBSD__) || defined(__DragonFly__) || defined(__sun)
#include <link.h>

static inline int
pgbg_objects_add(struct dl_phdr_info *info, size_t size, void *arg)
{
	pgbg_objects *objects = (pgbg_objects *) arg;

	objects->count++;
	objects->addr_sum += (uintptr_t) info->dlpi_addr;
	return 0;
}

static inline bool
pgbg_loaded_objects(pgbg_objects *objects)
{
	objects->count = 0;
	objects->addr_sum = 0;
	(void) dl_iterate_phdr(pgbg_objects_add, objects);
	return true;
}
#elif defined(__APPLE__)
#include <mach-o/dyld.h>

static inline bool
pgbg_loaded_objects(pgbg_objects *objects)
{
	uint32_t	n = _dyld_image_count();
	uint32_t	i;

	objects->count = (int) n;
	objects->addr_sum = 0;
	for (i = 0; i < n; i++)
		objects->addr_sum += (uintptr_t) _dyld_get_image_header(i);
	return true;
}
#else
static inline bool
pgbg_loaded_objects(pgbg_objects *objects)
{
	objects->count = 0;
	objects->addr_sum = 0;
	return false;
}
#endif

/*
 * Give memory that malloc keeps after free back to the operating system
 * (glibc only; elsewhere a no-op).  A pooled worker does this before it
 * parks, to stay small while idle.
 */
#ifdef __GLIBC__
#include <malloc.h>
#define pgbg_release_free_memory() ((void) malloc_trim(0))
#else
#define pgbg_release_free_memory() ((void) 0)
#endif

/*
 * The schema of an extension: get_extension_schema is exported from 16 on;
 * before, read its pg_extension row.
 */
#if PG_VERSION_NUM >= 160000
#include "commands/extension.h"
#define pgbg_extension_schema(ext) get_extension_schema(ext)
#else
#include "access/genam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

static inline Oid
pgbg_extension_schema(Oid ext)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}
#endif

#endif							/* PGBG_COMPAT_H */
