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
#include "miscadmin.h"
#include "utils/guc.h"

#include "curves.h"
#include "evaluate.h"
#include "schedule.h"
#include "model_store.h"
#include "server.h"
#include "settings.h"
#include "training.h"

PG_MODULE_MAGIC;

int			cf_threads = 0;
int			cf_max_memory_mb = 4096;
bool		cf_progress = true;

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

/*
 * Arguments of the embedding networks that AutoRec has no use for: given
 * for it, they are an ERROR rather than silently ignored.
 */
static void
refuse_embedding_args(FunctionCallInfo fcinfo)
{
	static const struct
	{
		int			arg;
		const char *name;
	}			embedding_args[] = {
		{6, "embedding_dim"}, {8, "dropout"}, {15, "cut_frac"}, {16, "ratio"},
		{21, "dot_dim"}, {22, "row_weight_decay"}, {23, "reg_user"}, {24, "reg_item"},
		{25, "row_l2"}, {26, "bias_l2"}, {27, "patience"},
	};

	for (int i = 0; i < lengthof(embedding_args); i++)
		if (!PG_ARGISNULL(embedding_args[i].arg))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s does not apply to architecture 'default'", embedding_args[i].name),
					 errdetail("The default architecture is I-AutoRec: hidden, epochs, batch_size, lr, weight_decay, valid_fraction and seed set it."),
					 errhint("Leave %s out, or pass architecture => 'mf' or 'seed' for an embedding network.",
							 embedding_args[i].name)));
}

PG_FUNCTION_INFO_V1(cf_train);
Datum
cf_train(PG_FUNCTION_ARGS)
{
	CfTrainRequest req;

	require_arg(fcinfo, 0, "relation");
	memset(&req, 0, sizeof(req));
	/* every argument left NULL takes the architecture's value */
	cf_architecture_defaults(&req, PG_ARGISNULL(20) ? "default" : text_arg_or_null(fcinfo, 20));
	if (cf_is_autorec(req.architecture))
		refuse_embedding_args(fcinfo);
	req.relation = text_arg_or_null(fcinfo, 0);
	req.name = text_arg_or_null(fcinfo, 1);
	req.user_col = text_arg_or_null(fcinfo, 2);
	req.item_col = text_arg_or_null(fcinfo, 3);
	req.rating_col = text_arg_or_null(fcinfo, 4);
	req.time_col = text_arg_or_null(fcinfo, 5);
	if (!PG_ARGISNULL(6))
		req.cfg.net.emb_dim = PG_GETARG_INT32(6);
	if (!PG_ARGISNULL(7))
	{
		req.cfg.net.hidden = PG_GETARG_INT32(7);
		/* hidden => 0: no MLP branch, where the architecture has another one */
		if (!cf_is_autorec(req.architecture))
			req.cfg.net.mlp = req.cfg.net.hidden > 0 || !(req.cfg.net.dot_dim > 0 || req.cfg.net.biases);
	}
	if (!PG_ARGISNULL(8))
		dropout_arg(fcinfo, 8, &req.cfg.net);
	if (!PG_ARGISNULL(9))
	{
		req.cfg.epochs = PG_GETARG_INT32(9);
		req.epochs_from_data = false;
	}
	if (!PG_ARGISNULL(10))
		req.cfg.batch_size = PG_GETARG_INT32(10);
	if (!PG_ARGISNULL(11))
	{
		req.cfg.lr = PG_GETARG_FLOAT8(11);
		req.cfg.range_test = false;
		if (!(req.cfg.lr > 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lr must be positive, not %g", req.cfg.lr),
					 errhint("Leave lr out for the architecture's rate (architecture 'seed' runs the range test).")));
	}
	if (!PG_ARGISNULL(12))
		req.cfg.weight_decay = PG_GETARG_FLOAT8(12);
	if (!PG_ARGISNULL(13))
		req.valid_fraction = PG_GETARG_FLOAT8(13);
	if (!PG_ARGISNULL(14))
		req.cfg.seed = (uint64) PG_GETARG_INT64(14);
	if (!PG_ARGISNULL(15))
		req.cfg.cut_frac = PG_GETARG_FLOAT8(15);
	if (!PG_ARGISNULL(16))
		req.cfg.ratio = PG_GETARG_FLOAT8(16);
	if (!PG_ARGISNULL(17))
		req.cfg.start_lr = PG_GETARG_FLOAT8(17);
	if (!PG_ARGISNULL(18))
		req.cfg.end_lr = PG_GETARG_FLOAT8(18);
	if (!PG_ARGISNULL(19))
		req.cfg.num_it = PG_GETARG_INT32(19);
	if (!PG_ARGISNULL(21))
		req.cfg.net.dot_dim = PG_GETARG_INT32(21);
	if (!PG_ARGISNULL(22))
		req.cfg.row_weight_decay = PG_GETARG_FLOAT8(22);
	if (!PG_ARGISNULL(23))
		req.reg_user = PG_GETARG_FLOAT8(23);
	if (!PG_ARGISNULL(24))
		req.reg_item = PG_GETARG_FLOAT8(24);
	if (!PG_ARGISNULL(25))
		req.cfg.net.row_l2 = (float) PG_GETARG_FLOAT8(25);
	if (!PG_ARGISNULL(26))
		req.cfg.net.bias_l2 = (float) PG_GETARG_FLOAT8(26);
	if (!PG_ARGISNULL(27))
		req.cfg.patience = PG_GETARG_INT32(27);
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

/* ---- range tests, schedule, curves ---- */

/*
 * The sweep cf_find_lr and cf_lr_suggestions work on: a fresh one on the
 * relation (argument 0) when given, else the one stored with the model.
 */
static void
sweep_from_args(FunctionCallInfo fcinfo, CfSweep *sweep)
{
	CfTrainRequest req;
	CfSweepPoint *points;
	int32		suggested;
	int32		n;

	if (PG_ARGISNULL(0))
	{
		cf_sweep_of_model(text_arg_or_null(fcinfo, 1), sweep);
		return;
	}
	for (int i = 2; i < PG_NARGS(); i++)
		if (i < 6 || i > 8)		/* the column names may be detected */
			require_arg(fcinfo, i, "every range-test argument but the column names");
	memset(&req, 0, sizeof(req));
	cf_architecture_defaults(&req, "seed");
	req.relation = text_arg_or_null(fcinfo, 0);
	req.cfg.start_lr = PG_GETARG_FLOAT8(2);
	req.cfg.end_lr = PG_GETARG_FLOAT8(3);
	req.cfg.num_it = PG_GETARG_INT32(4);
	req.cfg.stop_div = PG_GETARG_BOOL(5);
	req.user_col = text_arg_or_null(fcinfo, 6);
	req.item_col = text_arg_or_null(fcinfo, 7);
	req.rating_col = text_arg_or_null(fcinfo, 8);
	req.cfg.net.emb_dim = PG_GETARG_INT32(9);
	req.cfg.net.hidden = PG_GETARG_INT32(10);
	dropout_arg(fcinfo, 11, &req.cfg.net);
	req.cfg.batch_size = PG_GETARG_INT32(12);
	req.cfg.weight_decay = PG_GETARG_FLOAT8(13);
	req.cfg.seed = (uint64) PG_GETARG_INT64(14);
	req.valid_fraction = 0.0;	/* the sweep sees every rating */
	n = cf_run_sweep(&req, &points, &suggested);
	cf_sweep_of_points(points, n, suggested, sweep);
}

static Datum
float8_datum_or_null(double x, bool *isnull)
{
	*isnull = !isfinite(x);
	return Float8GetDatum(*isnull ? 0.0 : x);
}

PG_FUNCTION_INFO_V1(cf_find_lr);
Datum
cf_find_lr(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CfSweep		sweep;

	InitMaterializedSRF(fcinfo, 0);
	sweep_from_args(fcinfo, &sweep);
	for (int32 i = 0; i < sweep.n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = Float8GetDatum(sweep.lr[i]);
		values[2] = float8_datum_or_null(sweep.loss[i], &nulls[2]);
		values[3] = float8_datum_or_null(sweep.smoothed[i], &nulls[3]);
		values[4] = BoolGetDatum(i == sweep.suggested);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(cf_lr_suggestions);
Datum
cf_lr_suggestions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CfSweep		sweep;

	InitMaterializedSRF(fcinfo, 0);
	sweep_from_args(fcinfo, &sweep);
	for (int rule = 0; rule < CF_NUM_LR_RULES; rule++)
	{
		int			idx = cf_lr_suggest(rule, sweep.lr, sweep.smoothed, sweep.n);
		Datum		values[4];
		bool		nulls[4] = {false, idx < 0, idx < 0, false};

		values[0] = CStringGetTextDatum(cf_lr_rule_names[rule]);
		values[1] = Float8GetDatum(idx < 0 ? 0.0 : cf_lr_suggest_rate(rule, sweep.lr, sweep.smoothed, sweep.n));
		values[2] = Int32GetDatum(idx + 1);
		values[3] = BoolGetDatum(rule == CF_LR_VALLEY);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/* Longer schedules than this are better sampled than listed. */
#define MAX_SCHEDULE_STEPS 100000000

PG_FUNCTION_INFO_V1(cf_lr_schedule);
Datum
cf_lr_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		total = PG_GETARG_INT32(0);
	double		eta = PG_GETARG_FLOAT8(1),
				cut_frac = PG_GETARG_FLOAT8(2),
				ratio = PG_GETARG_FLOAT8(3);

	if (total < 1 || total > MAX_SCHEDULE_STEPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("total_steps must be between 1 and %d, not %d", MAX_SCHEDULE_STEPS, total)));
	if (!(eta > 0.0) || !isfinite(eta))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("eta_max must be a positive rate, not %g", eta)));
	if (!(cut_frac > 0.0 && cut_frac < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cut_frac must be in (0, 1), not %g", cut_frac)));
	if (!(ratio >= 1.0) || !isfinite(ratio))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ratio must be at least 1, not %g", ratio)));
	InitMaterializedSRF(fcinfo, 0);
	for (int32 t = 0; t < total; t++)
	{
		Datum		values[2] = {Int32GetDatum(t + 1), Float8GetDatum(cf_stlr(t, total, eta, cut_frac, ratio))};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if ((t & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(cf_plot_lr);
Datum
cf_plot_lr(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cf_plot_lr_svg(text_arg_or_null(fcinfo, 0)));
}

PG_FUNCTION_INFO_V1(cf_plot_training);
Datum
cf_plot_training(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cf_plot_training_svg(text_arg_or_null(fcinfo, 0)));
}

/* ---- evaluation ---- */

PG_FUNCTION_INFO_V1(cf_evaluate);
Datum
cf_evaluate(PG_FUNCTION_ARGS)
{
	CfEvaluation ev;
	TupleDesc	desc;
	Datum		values[10];
	bool		nulls[10] = {false};
	int			k;

	require_arg(fcinfo, 0, "test_relation");
	require_arg(fcinfo, 2, "k");
	k = PG_GETARG_INT32(2);
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, not %d", k)));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cf_evaluate must return a row");
	cf_evaluate_model(&ev, text_arg_or_null(fcinfo, 0), text_arg_or_null(fcinfo, 1), k,
					  PG_ARGISNULL(3) ? NAN : PG_GETARG_FLOAT8(3), text_arg_or_null(fcinfo, 4),
					  text_arg_or_null(fcinfo, 5), text_arg_or_null(fcinfo, 6));
	values[0] = Float8GetDatum(ev.rmse);
	values[1] = Float8GetDatum(ev.mae);
	values[2] = Int64GetDatum(ev.n_ratings);
	values[3] = Int64GetDatum(ev.n_fallback);
	values[4] = float8_datum_or_null(ev.precision_at_k, &nulls[4]);
	values[5] = float8_datum_or_null(ev.recall_at_k, &nulls[5]);
	values[6] = float8_datum_or_null(ev.ndcg_at_k, &nulls[6]);
	values[7] = float8_datum_or_null(ev.hit_rate_at_k, &nulls[7]);
	values[8] = Int64GetDatum(ev.n_ranked_users);
	values[9] = Float8GetDatum(ev.relevant_at);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
