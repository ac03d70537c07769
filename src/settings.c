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
 * never do.  Each is restored with the context and (15 and later) role
 * that set it (SET ROLE thus travels as the "role" setting, and worker.c
 * also sets the role itself), and with the source SET gives (session):
 * a connection option of the launcher (source client) would otherwise
 * become the worker's default too, which RESET ALL cannot undo.  So in a
 * job, such a setting shows source "session", and RESET returns it to the
 * value a new session of the job's role and database starts with.
 *
 * A pooled worker (pool.c) must start each job as a fresh one would: it
 * notes the state of every variable when it connects
 * (pgbg_settings_note_fresh), and after a job and DISCARD ALL
 * (worker.c) it parks only if every variable is back to that state
 * (pgbg_settings_changed returns NULL); otherwise it exits.  Then the same
 * settings serve both, and no job needs the launcher's whole GUC state.
 *
 * Serialized form: int32 count, then per setting int32 source, int32
 * context, Oid role, and the name and the value as NUL-terminated strings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/memutils.h"

#include "pg_background.h"
#include "pgbg_compat.h"

/* A variable's state as a fresh session has it (pgbg_settings_note_fresh). */
typedef union settings_value
{
	bool		b;
	int			i;
	double		r;
	char	   *s;
} settings_value;

typedef struct settings_fresh
{
	struct config_generic *gconf;
	GucSource	source;
	GucSource	reset_source;
	GucContext	scontext;
	GucContext	reset_scontext;
	Oid			srole;
	Oid			reset_srole;
	settings_value value;
	settings_value reset_value;
	bool		compared;		/* a job can leave it changed */
} settings_fresh;

static settings_fresh *fresh_vars = NULL;
static int	fresh_nvars = 0;

static bool settings_travel(struct config_generic *gconf);
static void settings_values(struct config_generic *gconf,
							settings_value *value, settings_value *reset);
static bool settings_same_value(int vartype, settings_value a,
								settings_value b);
static bool settings_per_transaction(struct config_generic *gconf);
static bool settings_fixed_in_session(struct config_generic *gconf);

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
 * *len is set to its length.  application_name never goes (the worker
 * sets its own).  With skip_identity, "role" and
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
		/* The worker sets its own (worker.c), whatever the launcher's. */
		if (strcmp(gconf->name, "application_name") == 0)
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
 * Are there no settings in src (serialized by pgbg_settings_serialize)?
 * Then the worker needs no transaction to restore them.
 */
bool
pgbg_settings_none(const char *src)
{
	int32		count;

	memcpy(&count, src, sizeof(count));
	return count == 0;
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
		/* A connection option of the launcher is a SET here (see above). */
		if ((GucSource) source == PGC_S_CLIENT)
			source = (int32) PGC_S_SESSION;
		pgbg_set_config_option(name, value, (GucContext) context,
							   (GucSource) source, role);
	}
}

/*
 * A variable's current and reset values.
 */
static void
settings_values(struct config_generic *gconf, settings_value *value,
				settings_value *reset)
{
	switch (gconf->vartype)
	{
		case PGC_BOOL:
			value->b = *((struct config_bool *) gconf)->variable;
			reset->b = ((struct config_bool *) gconf)->reset_val;
			break;
		case PGC_INT:
			value->i = *((struct config_int *) gconf)->variable;
			reset->i = ((struct config_int *) gconf)->reset_val;
			break;
		case PGC_REAL:
			value->r = *((struct config_real *) gconf)->variable;
			reset->r = ((struct config_real *) gconf)->reset_val;
			break;
		case PGC_STRING:
			value->s = *((struct config_string *) gconf)->variable;
			reset->s = ((struct config_string *) gconf)->reset_val;
			break;
		case PGC_ENUM:
			value->i = *((struct config_enum *) gconf)->variable;
			reset->i = ((struct config_enum *) gconf)->reset_val;
			break;
	}
}

/*
 * Does the variable describe the current transaction only?  Every
 * transaction starts by setting transaction_isolation,
 * transaction_read_only (in recovery: on) and transaction_deferrable from
 * their defaults (StartTransaction), so what a job left in them reaches
 * no later transaction; between transactions they hold whatever the last
 * one had.
 */
static bool
settings_per_transaction(struct config_generic *gconf)
{
	return strncmp(gconf->name, "transaction_", 12) == 0 &&
		(gconf->flags & GUC_NO_RESET_ALL) != 0;
}

/*
 * Can nothing a job does change this variable?  Those fixed at server start
 * (postmaster) cannot be set in a session at all, and those of the
 * configuration file (sighup) change only when a reload is processed,
 * which a worker does only while parked, noting its fresh state again then
 * (pool.c).  A job can neither SET them nor load code that assigns them
 * without the worker noticing (worker_session_clean exits after a library
 * was loaded).  Those fixed at connection start (backend, superuser-
 * backend) are not among them: a launcher's connection option for one
 * travels to its job (settings_travel), and RESET ALL leaves it.
 */
static bool
settings_fixed_in_session(struct config_generic *gconf)
{
	return gconf->context == PGC_POSTMASTER ||
		gconf->context == PGC_SIGHUP;
}

/*
 * Are two values of a variable of this type the same?
 */
static bool
settings_same_value(int vartype, settings_value a, settings_value b)
{
	switch (vartype)
	{
		case PGC_BOOL:
			return a.b == b.b;
		case PGC_INT:
		case PGC_ENUM:
			return a.i == b.i;
		case PGC_REAL:
			return a.r == b.r;
		case PGC_STRING:
			if (a.s == NULL || b.s == NULL)
				return a.s == b.s;
			return strcmp(a.s, b.s) == 0;
	}
	return false;
}

/*
 * In a worker that has just connected, before any job's settings: note the
 * state of every variable (value, reset value, and where each came from),
 * for pgbg_settings_changed.  Strings are copied.  A parked worker notes it
 * again after applying a reload of the configuration, which a new session
 * would read as well.
 */
void
pgbg_settings_note_fresh(void)
{
	struct config_generic **vars;
	int			nvars;
	int			i;

	/* Again after a reload (pool.c): forget the earlier state. */
	for (i = 0; i < fresh_nvars; i++)
	{
		if (fresh_vars[i].gconf->vartype != PGC_STRING)
			continue;
		if (fresh_vars[i].value.s != NULL)
			pfree(fresh_vars[i].value.s);
		if (fresh_vars[i].reset_value.s != NULL)
			pfree(fresh_vars[i].reset_value.s);
	}
	if (fresh_vars != NULL)
		pfree(fresh_vars);

	vars = pgbg_guc_variables(&nvars);
	fresh_vars = MemoryContextAllocZero(TopMemoryContext,
										sizeof(settings_fresh) * Max(nvars, 1));
	for (i = 0; i < nvars; i++)
	{
		struct config_generic *gconf = vars[i];
		settings_fresh *f = &fresh_vars[i];

		f->gconf = gconf;
		f->source = gconf->source;
		f->reset_source = gconf->reset_source;
		f->scontext = gconf->scontext;
		f->reset_scontext = gconf->reset_scontext;
		f->srole = PGBG_GUC_SROLE(gconf);
		f->reset_srole = PGBG_GUC_RESET_SROLE(gconf);
		f->compared = !settings_per_transaction(gconf) &&
			!settings_fixed_in_session(gconf);
		settings_values(gconf, &f->value, &f->reset_value);
		if (gconf->vartype == PGC_STRING)
		{
			if (f->value.s != NULL)
				f->value.s = MemoryContextStrdup(TopMemoryContext, f->value.s);
			if (f->reset_value.s != NULL)
				f->reset_value.s = MemoryContextStrdup(TopMemoryContext,
													   f->reset_value.s);
		}
	}
	fresh_nvars = nvars;
#if PG_VERSION_NUM >= 160000
	pfree(vars);
#endif
}

/*
 * Is every variable as pgbg_settings_note_fresh found it (after a job and
 * DISCARD ALL)?  Returns NULL if so, otherwise the name of one that is not
 * (or a description, if variables were added).
 */
const char *
pgbg_settings_changed(void)
{
	struct config_generic **vars;
	int			nvars;
	int			i;
	const char *changed = NULL;

	if (fresh_vars == NULL)
		return "(no fresh state noted)";
	vars = pgbg_guc_variables(&nvars);
	if (nvars != fresh_nvars)
		changed = "(a variable was added)";
	for (i = 0; i < nvars && changed == NULL; i++)
	{
		struct config_generic *gconf = vars[i];
		settings_fresh *f = &fresh_vars[i];
		settings_value value;
		settings_value reset;

		/* Only those a job can leave changed (three in five). */
		if (gconf == f->gconf && !f->compared)
			continue;
		settings_values(gconf, &value, &reset);
		if (gconf != f->gconf ||
			gconf->source != f->source ||
			gconf->reset_source != f->reset_source ||
			gconf->scontext != f->scontext ||
			gconf->reset_scontext != f->reset_scontext ||
			PGBG_GUC_SROLE(gconf) != f->srole ||
			PGBG_GUC_RESET_SROLE(gconf) != f->reset_srole ||
			!settings_same_value(gconf->vartype, value, f->value) ||
			!settings_same_value(gconf->vartype, reset, f->reset_value))
			changed = gconf->name;
	}
#if PG_VERSION_NUM >= 160000
	pfree(vars);
#endif
	return changed;
}
