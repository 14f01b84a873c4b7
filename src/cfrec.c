/*
 * cfrec.c — the SQL API: settings and thin fmgr wrappers that check their
 * arguments and call into training, serving and the model store.
 */
#include "postgres.h"

#include <cblas.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "model_store.h"
#include "server.h"
#include "training.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("cfrec.threads",
							"BLAS threads a training uses.",
							"0 means one per core: training is the only heavy work of "
							"its backend and the products scale with cores; serving "
							"always uses one.",
							&cf_threads, 0, 0, 1024, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cfrec.max_memory",
							"Memory a training may use; a larger one stops before allocating.",
							NULL,
							&cf_max_memory_mb, 4096, 1, INT_MAX / 2, PGC_SUSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("cfrec.progress",
							 "Report training progress (per epoch and long phases) as NOTICEs.",
							 NULL,
							 &cf_progress, true, PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("cfrec");
	openblas_set_num_threads(1);
}

static char *
text_arg_or_null(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* A non-NULL argument: NULL for a setting with a default means the caller erred. */
static void
require_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 errhint("Leave the argument out to use its default.")));
}

static void
dropout_arg(FunctionCallInfo fcinfo, int n, CfNetConfig *net)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(n);
	Datum	   *elems;
	bool	   *nulls;
	int			count;

	deconstruct_array(a, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &count);
	if (count != 2 || nulls[0] || nulls[1])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dropout must hold two rates: before the first and before the last linear layer"),
				 errhint("For example dropout => ARRAY[0.1, 0.2].")));
	net->dropout_in = (float) DatumGetFloat8(elems[0]);
	net->dropout_hidden = (float) DatumGetFloat8(elems[1]);
}

PG_FUNCTION_INFO_V1(cf_train);
Datum
cf_train(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {
		"relation", "name", "user_col", "item_col", "rating_col", "time_col",
		"embedding_dim", "hidden", "dropout", "epochs", "batch_size", "lr", "weight_decay",
		"valid_fraction", "seed", "cut_frac", "ratio", "start_lr", "end_lr", "num_it"
	};
	CfTrainRequest req;

	/* text arguments 1–5 may be NULL (detect / default); every other must not */
	require_arg(fcinfo, 0, names[0]);
	for (int i = 6; i < PG_NARGS(); i++)
		if (i != 11)			/* lr NULL: run the range test */
			require_arg(fcinfo, i, names[i]);

	memset(&req, 0, sizeof(req));
	req.relation = text_arg_or_null(fcinfo, 0);
	req.name = text_arg_or_null(fcinfo, 1);
	req.user_col = text_arg_or_null(fcinfo, 2);
	req.item_col = text_arg_or_null(fcinfo, 3);
	req.rating_col = text_arg_or_null(fcinfo, 4);
	req.time_col = text_arg_or_null(fcinfo, 5);
	cf_train_config_default(&req.cfg, 0, 0);
	req.cfg.net.emb_dim = PG_GETARG_INT32(6);
	req.cfg.net.hidden = PG_GETARG_INT32(7);
	dropout_arg(fcinfo, 8, &req.cfg.net);
	req.cfg.epochs = PG_GETARG_INT32(9);
	req.cfg.batch_size = PG_GETARG_INT32(10);
	req.cfg.lr = PG_ARGISNULL(11) ? 0.0 : PG_GETARG_FLOAT8(11);
	if (!PG_ARGISNULL(11) && !(req.cfg.lr > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lr must be positive, not %g", req.cfg.lr),
				 errhint("Leave lr out to let the range test choose it.")));
	req.cfg.weight_decay = PG_GETARG_FLOAT8(12);
	req.valid_fraction = PG_GETARG_FLOAT8(13);
	req.cfg.seed = (uint64) PG_GETARG_INT64(14);
	req.cfg.cut_frac = PG_GETARG_FLOAT8(15);
	req.cfg.ratio = PG_GETARG_FLOAT8(16);
	req.cfg.start_lr = PG_GETARG_FLOAT8(17);
	req.cfg.end_lr = PG_GETARG_FLOAT8(18);
	req.cfg.num_it = PG_GETARG_INT32(19);
	if (req.name && req.name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty"),
				 errhint("Leave name out to name the model after the relation.")));

	PG_RETURN_INT64(cf_run_training(&req));
}

PG_FUNCTION_INFO_V1(cf_predict);
Datum
cf_predict(PG_FUNCTION_ARGS)
{
	bool		fallback;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(cf_serve_predict(text_arg_or_null(fcinfo, 2), PG_GETARG_INT64(0),
									  PG_GETARG_INT64(1), &fallback));
}

PG_FUNCTION_INFO_V1(cf_recommend);
Datum
cf_recommend(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CfScoredItem *items;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	if (PG_GETARG_INT32(1) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, not %d", PG_GETARG_INT32(1)),
				 errhint("k is how many items to recommend, for example 10.")));
	n = cf_serve_recommend(text_arg_or_null(fcinfo, 2), PG_GETARG_INT64(0), PG_GETARG_INT32(1),
						   PG_GETARG_BOOL(3), &items);
	for (int i = 0; i < n; i++)
	{
		Datum		values[2] = {Int64GetDatum(items[i].item_id), Float8GetDatum(items[i].score)};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(cf_model_id);
Datum
cf_model_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(cf_store_model_id(text_arg_or_null(fcinfo, 0)));
}
