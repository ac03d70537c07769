/*-------------------------------------------------------------------------
 *
 * params.c
 *		Parameters bound to $1..$n of a job's SQL: collected from the
 *		launching call's VARIADIC "any" arguments, carried in the job's
 *		segment, and restored by the worker as a ParamListInfo.
 *
 * Values are never spliced into the SQL text.  Each parameter travels as
 * its type OID and its text representation (produced by the type's output
 * function in the launcher, read back by its input function in the worker,
 * which starts with the launcher's GUC state, so both agree); the worker
 * parses the SQL with those types, exactly as a prepared statement would.
 *
 * Serialized form: int32 count, then per parameter Oid type, int32 length
 * (-1 for NULL) and that many bytes of text, NUL included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/params.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "pg_background.h"

/*
 * Collect the parameters passed from argument first_arg on (VARIADIC
 * "any", possibly called with VARIADIC ARRAY[...]).  Untyped literals are
 * taken as text.
 */
pgbg_params *
pgbg_params_collect(FunctionCallInfo fcinfo, int first_arg)
{
	pgbg_params *p = palloc0(sizeof(pgbg_params));
	int			nargs = PG_NARGS();
	int			i;

	if (nargs <= first_arg)
		return p;

	if (get_fn_expr_variadic(fcinfo->flinfo))
	{
		/* VARIADIC ARRAY[...]: one array holds every parameter. */
		ArrayType  *arr;
		Oid			elemtype;
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *elems;
		bool	   *nulls;
		Oid			outfunc;
		bool		isvarlena;

		if (PG_ARGISNULL(first_arg))
			return p;
		arr = PG_GETARG_ARRAYTYPE_P(first_arg);
		elemtype = ARR_ELEMTYPE(arr);
		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
						  &elems, &nulls, &p->nparams);
		p->types = palloc(sizeof(Oid) * Max(p->nparams, 1));
		p->values = palloc(sizeof(char *) * Max(p->nparams, 1));
		getTypeOutputInfo(elemtype, &outfunc, &isvarlena);
		for (i = 0; i < p->nparams; i++)
		{
			p->types[i] = elemtype;
			p->values[i] = nulls[i] ? NULL : OidOutputFunctionCall(outfunc, elems[i]);
		}
		return p;
	}

	p->nparams = nargs - first_arg;
	p->types = palloc(sizeof(Oid) * p->nparams);
	p->values = palloc(sizeof(char *) * p->nparams);
	for (i = 0; i < p->nparams; i++)
	{
		int			argno = first_arg + i;
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, argno);

		if (!OidIsValid(type))
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the type of parameter $%d", i + 1)));
		if (type == UNKNOWNOID)
		{
			/* An untyped literal arrives as a cstring: bind it as text. */
			p->types[i] = TEXTOID;
			p->values[i] = PG_ARGISNULL(argno) ? NULL :
				pstrdup(DatumGetCString(PG_GETARG_DATUM(argno)));
			continue;
		}
		p->types[i] = type;
		if (PG_ARGISNULL(argno))
			p->values[i] = NULL;
		else
		{
			Oid			outfunc;
			bool		isvarlena;

			getTypeOutputInfo(type, &outfunc, &isvarlena);
			p->values[i] = OidOutputFunctionCall(outfunc, PG_GETARG_DATUM(argno));
		}
	}
	return p;
}

/*
 * Bytes needed to serialize p.
 */
Size
pgbg_params_size(const pgbg_params *p)
{
	Size		size = sizeof(int32);
	int			i;

	for (i = 0; i < p->nparams; i++)
	{
		size = add_size(size, sizeof(Oid) + sizeof(int32));
		if (p->values[i] != NULL)
			size = add_size(size, strlen(p->values[i]) + 1);
	}
	return size;
}

/*
 * Serialize p into dest (pgbg_params_size bytes).
 */
void
pgbg_params_serialize(const pgbg_params *p, char *dest)
{
	int32		n = p->nparams;
	int			i;

	memcpy(dest, &n, sizeof(int32));
	dest += sizeof(int32);
	for (i = 0; i < p->nparams; i++)
	{
		int32		len = p->values[i] ? (int32) strlen(p->values[i]) + 1 : -1;

		memcpy(dest, &p->types[i], sizeof(Oid));
		dest += sizeof(Oid);
		memcpy(dest, &len, sizeof(int32));
		dest += sizeof(int32);
		if (len > 0)
		{
			memcpy(dest, p->values[i], len);
			dest += len;
		}
	}
}

/*
 * In the worker, inside a transaction: rebuild the parameters serialized
 * at src.  Sets *types and *nparams for parse analysis and returns the
 * values (NULL if there are none), allocated in the current context.
 */
ParamListInfo
pgbg_params_restore(const char *src, Oid **types, int *nparams)
{
	int32		n;
	ParamListInfo params;
	int			i;

	memcpy(&n, src, sizeof(int32));
	src += sizeof(int32);
	*nparams = n;
	*types = NULL;
	if (n == 0)
		return NULL;

	*types = palloc(sizeof(Oid) * n);
	params = makeParamList(n);
	for (i = 0; i < n; i++)
	{
		ParamExternData *prm = &params->params[i];
		int32		len;
		Oid			infunc;
		Oid			ioparam;

		memcpy(&(*types)[i], src, sizeof(Oid));
		src += sizeof(Oid);
		memcpy(&len, src, sizeof(int32));
		src += sizeof(int32);

		if (!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum((*types)[i])))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("type of parameter $%d (OID %u) does not exist in the background worker",
							i + 1, (*types)[i]),
					 errhint("A type created in the launching session's transaction is not visible to the worker until that transaction commits.")));
		getTypeInputInfo((*types)[i], &infunc, &ioparam);
		prm->ptype = (*types)[i];
		prm->pflags = PARAM_FLAG_CONST;
		prm->isnull = (len < 0);
		prm->value = OidInputFunctionCall(infunc, len < 0 ? NULL : (char *) src,
										  ioparam, -1);
		if (len > 0)
			src += len;
	}
	return params;
}
