/*-------------------------------------------------------------------------
 *
 * settings.c
 *		The launcher's settings, carried to its worker.
 *
 * A job runs with the settings of the session that launched it.  Core's
 * SerializeGUCState/RestoreGUCState (made for parallel workers) would do,
 * but they carry every setting that is not at its built-in default, and the
 * worker first resets them all and then sets each again: lc_messages,
 * lc_monetary, lc_numeric and lc_time (setlocale), TimeZone and
 * log_timezone, DateStyle, default_text_search_config (a catalog lookup in
 * a process whose caches are cold), all from postgresql.conf.  That took
 * ~170 us of the ~2 ms a launch costs.
 *
 * A worker has most of those already: it starts from the same
 * configuration file and command line as every backend, and connecting
 * (InitPostgres) applied the settings of its database and role (ALTER
 * DATABASE/ROLE ... SET), the launcher's authenticated user being the
 * worker's.  (A job launched inside a SECURITY DEFINER function connects as
 * the function's owner instead, and gets that role's settings.)  So only
 * what the session itself set needs to travel: settings
 * whose source is the client (connection options), SET (also SET LOCAL and
 * a function's SET clause: the value in effect at launch), or an override.
 * As in core, settings fixed at server start (PGC_POSTMASTER, PGC_INTERNAL)
 * never do.  Each is restored with the context, source and (15 and later)
 * role that set it, as RestoreGUCState does (SET ROLE thus travels as the
 * "role" setting, and worker.c also sets the role itself).  A pooled worker
 * (pool.c) starts each
 * job from its session's reset state (DISCARD ALL), which is the same.
 *
 * Serialized form: int32 count, then per setting int32 source, int32
 * context, Oid role, and the name and the value as NUL-terminated strings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/guc_tables.h"

#include "pg_background.h"
#include "pgbg_compat.h"

static bool settings_travel(struct config_generic *gconf);

/*
 * Must the worker be given this setting?
 */
static bool
settings_travel(struct config_generic *gconf)
{
	if (gconf->context == PGC_POSTMASTER || gconf->context == PGC_INTERNAL)
		return false;
	/* Anything else the worker has already (see above). */
	return gconf->source >= PGC_S_CLIENT;
}

/*
 * Serialize the settings the worker must be given into a palloc'd buffer;
 * *len is set to its length.  With skip_identity, "role" and
 * "session_authorization" stay behind: the worker then connects as another
 * user than ours, whose identity they do not describe (see pgbg_launch).
 */
char *
pgbg_settings_serialize(Size *len, bool skip_identity)
{
	StringInfoData buf;
	struct config_generic **vars;
	int			nvars;
	int32		count = 0;
	char		realbuf[64];
	int			i;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (char *) &count, sizeof(count));
	vars = pgbg_guc_variables(&nvars);
	for (i = 0; i < nvars; i++)
	{
		struct config_generic *gconf = vars[i];
		int32		source = (int32) gconf->source;
		int32		context = (int32) gconf->scontext;
		Oid			role = PGBG_GUC_SROLE(gconf);
		const char *value;

		if (!settings_travel(gconf))
			continue;
		if (skip_identity && (strcmp(gconf->name, "role") == 0 ||
							  strcmp(gconf->name, "session_authorization") == 0))
			continue;
		if (gconf->vartype == PGC_REAL)
		{
			/* GetConfigOption's %g would keep only 6 significant digits. */
			snprintf(realbuf, sizeof(realbuf), "%.17g",
					 *((struct config_real *) gconf)->variable);
			value = realbuf;
		}
		else
			value = GetConfigOption(gconf->name, false, false);
		appendBinaryStringInfo(&buf, (char *) &source, sizeof(source));
		appendBinaryStringInfo(&buf, (char *) &context, sizeof(context));
		appendBinaryStringInfo(&buf, (char *) &role, sizeof(role));
		appendBinaryStringInfo(&buf, gconf->name, strlen(gconf->name) + 1);
		appendBinaryStringInfo(&buf, value ? value : "", (value ? strlen(value) : 0) + 1);
		count++;
	}
	memcpy(buf.data, &count, sizeof(count));
	*len = buf.len;
	return buf.data;
}

/*
 * In the worker, inside a transaction: apply the settings serialized by
 * pgbg_settings_serialize.
 */
void
pgbg_settings_restore(const char *src)
{
	int32		count;
	int			i;

	memcpy(&count, src, sizeof(count));
	src += sizeof(count);
	for (i = 0; i < count; i++)
	{
		int32		source;
		int32		context;
		Oid			role;
		const char *name;
		const char *value;

		memcpy(&source, src, sizeof(source));
		src += sizeof(source);
		memcpy(&context, src, sizeof(context));
		src += sizeof(context);
		memcpy(&role, src, sizeof(role));
		src += sizeof(role);
		name = src;
		src += strlen(name) + 1;
		value = src;
		src += strlen(value) + 1;
		pgbg_set_config_option(name, value, (GucContext) context,
							   (GucSource) source, role);
	}
}
