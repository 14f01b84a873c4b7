#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "curves.h"
#include "model_store.h"
#include "schedule.h"
#include "svg.h"

static void
spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static double
float8_or_nan(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

static char *
model_name(int64 id)
{
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(id);

	if (SPI_execute_with_args("SELECT name FROM cfrec.models WHERE id OPERATOR(pg_catalog.=) $1",
							  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "model %lld vanished", (long long) id);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

void
cf_sweep_of_model(const char *model, CfSweep *out)
{
	int64		id = cf_store_model_id(model);
	MemoryContext caller = CurrentMemoryContext;
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(id);

	spi_connect();
	if (SPI_execute_with_args("SELECT lr, loss, smoothed_loss, suggested FROM cfrec.lr_sweeps"
							  " WHERE model_id OPERATOR(pg_catalog.=) $1 ORDER BY step",
							  1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sweep of model %lld", (long long) id);
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);
		int32		n = (int32) SPI_processed;

		out->n = n;
		out->lr = palloc(sizeof(double) * Max(n, 1));
		out->loss = palloc(sizeof(double) * Max(n, 1));
		out->smoothed = palloc(sizeof(double) * Max(n, 1));
		out->suggested = -1;
		for (int32 i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			out->lr[i] = float8_or_nan(tup, desc, 1);
			out->loss[i] = float8_or_nan(tup, desc, 2);
			out->smoothed[i] = float8_or_nan(tup, desc, 3);
			if (DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)))
				out->suggested = i;
		}
		MemoryContextSwitchTo(spi);
	}
	{
		char	   *name = model_name(id);

		out->model_name = MemoryContextStrdup(caller, name);
	}
	SPI_finish();
	if (out->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("model \"%s\" was trained without a range test", out->model_name),
				 errdetail("It was given lr, so no sweep was run."),
				 errhint("Run one on its relation: SELECT * FROM cf_find_lr('relation').")));
}

void
cf_sweep_of_points(const CfSweepPoint *points, int32 n, int32 suggested, CfSweep *out)
{
	out->n = n;
	out->lr = palloc(sizeof(double) * Max(n, 1));
	out->loss = palloc(sizeof(double) * Max(n, 1));
	out->smoothed = palloc(sizeof(double) * Max(n, 1));
	for (int32 i = 0; i < n; i++)
	{
		out->lr[i] = points[i].lr;
		out->loss[i] = isfinite(points[i].loss) ? points[i].loss : NAN;
		out->smoothed[i] = isfinite(points[i].smoothed_loss) ? points[i].smoothed_loss : NAN;
	}
	out->suggested = suggested;
	out->model_name = NULL;
}

static void
sink_to_stringinfo(void *ctx, const char *s, size_t len)
{
	appendBinaryStringInfo((StringInfo) ctx, s, (int) len);
}

text *
cf_plot_lr_svg(const char *model)
{
	CfSweep		sweep;
	StringInfoData buf;
	CfSvgSink	sink = {sink_to_stringinfo, &buf};
	double	   *schedule = NULL;
	long		total = 0;
	char	   *title;

	cf_sweep_of_model(model, &sweep);
	spi_connect();
	{
		Oid			type = TEXTOID;
		Datum		arg = CStringGetTextDatum(sweep.model_name);

		/* the schedule the training ran: its steps, peak, cut_frac and ratio */
		if (SPI_execute_with_args("SELECT m.lr, (m.hyperparameters OPERATOR(pg_catalog.->>) 'cut_frac')::pg_catalog.float8,"
								  " (m.hyperparameters OPERATOR(pg_catalog.->>) 'ratio')::pg_catalog.float8,"
								  " (SELECT pg_catalog.max(l.steps)::pg_catalog.float8 FROM cfrec.training_log l"
								  "   WHERE l.model_id OPERATOR(pg_catalog.=) m.id)"
								  " FROM cfrec.models m WHERE m.name OPERATOR(pg_catalog.=) $1"
								  " ORDER BY m.id DESC LIMIT 1",
								  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the schedule of model \"%s\"", sweep.model_name);
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			double		eta = float8_or_nan(tup, desc, 1),
						cut_frac = float8_or_nan(tup, desc, 2),
						ratio = float8_or_nan(tup, desc, 3),
						steps = float8_or_nan(tup, desc, 4);

			SPI_finish();
			if (isfinite(steps) && steps >= 1 && isfinite(eta))
			{
				total = (long) steps;
				schedule = palloc(sizeof(double) * total);
				for (long t = 0; t < total; t++)
					schedule[t] = cf_stlr(t, total, eta, cut_frac, ratio);
			}
		}
	}
	initStringInfo(&buf);
	title = psprintf("learning-rate range test of %s", sweep.model_name);
	cf_svg_lr_plot(&sink, title, sweep.lr, sweep.loss, sweep.smoothed, sweep.n, sweep.suggested,
				   schedule, total);
	return cstring_to_text_with_len(buf.data, buf.len);
}

text *
cf_plot_training_svg(const char *model)
{
	int64		id = cf_store_model_id(model);
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(id);
	StringInfoData buf;
	CfSvgSink	sink = {sink_to_stringinfo, &buf};
	MemoryContext caller = CurrentMemoryContext;
	int		   *epochs;
	double	   *train,
			   *valid,
			   *lr;
	int			n;
	char	   *title;

	spi_connect();
	if (SPI_execute_with_args("SELECT epoch, train_rmse, valid_rmse, lr FROM cfrec.training_log"
							  " WHERE model_id OPERATOR(pg_catalog.=) $1 ORDER BY epoch",
							  1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the training log of model %lld", (long long) id);
	n = (int) SPI_processed;
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		epochs = palloc(sizeof(int) * Max(n, 1));
		train = palloc(sizeof(double) * Max(n, 1));
		valid = palloc(sizeof(double) * Max(n, 1));
		lr = palloc(sizeof(double) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			epochs[i] = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
			train[i] = float8_or_nan(tup, desc, 2);
			valid[i] = float8_or_nan(tup, desc, 3);
			lr[i] = float8_or_nan(tup, desc, 4);
		}
		title = psprintf("training curves of %s", model_name(id));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	initStringInfo(&buf);
	cf_svg_training_plot(&sink, title, epochs, train, valid, lr, n);
	return cstring_to_text_with_len(buf.data, buf.len);
}
