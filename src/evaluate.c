#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "dataset.h"
#include "evaluate.h"
#include "model_store.h"
#include "server.h"

typedef struct TestRow
{
	int64		user;
	int64		item;
	double		rating;
} TestRow;

static int
cmp_by_user(const void *a, const void *b)
{
	const TestRow *x = a,
			   *y = b;

	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	return x->item < y->item ? -1 : (x->item > y->item);
}

/* The test relation's rows with no NULL, through the same column detection as training. */
static TestRow *
read_test_rows(const CfSource *src, int64 *n_out)
{
	MemoryContext caller = CurrentMemoryContext;
	StringInfoData q;
	Portal		portal;
	SPIPlanPtr	plan;
	int64		n = 0,
				cap = 1024;
	TestRow    *rows = MemoryContextAllocHuge(caller, sizeof(TestRow) * cap);

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s::pg_catalog.int8, %s::pg_catalog.int8, %s::pg_catalog.float8 FROM %s",
					 quote_identifier(src->user_col), quote_identifier(src->item_col),
					 quote_identifier(src->rating_col), src->qualified);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(q.data, 0, NULL);
	if (!plan)
		elog(ERROR, "could not prepare \"%s\"", q.data);
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		n1,
						n2,
						n3;
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Datum		u = SPI_getbinval(tup, desc, 1, &n1);
			Datum		i = SPI_getbinval(tup, desc, 2, &n2);
			Datum		y = SPI_getbinval(tup, desc, 3, &n3);

			if (n1 || n2 || n3 || !isfinite(DatumGetFloat8(y)))
				continue;
			if (n == cap)
			{
				cap *= 2;
				rows = repalloc_huge(rows, sizeof(TestRow) * cap);
			}
			rows[n].user = DatumGetInt64(u);
			rows[n].item = DatumGetInt64(i);
			rows[n].rating = DatumGetFloat8(y);
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
	*n_out = n;
	return rows;
}

static double
model_rating_range(const char *model, double *rmax)
{
	int64		id = cf_store_model_id(model);
	double		rmin;
	char	   *sql = psprintf("SELECT rating_min, rating_max FROM cfrec.models WHERE id OPERATOR(pg_catalog.=) %lld",
							   (long long) id);
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read model %lld", (long long) id);
	rmin = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*rmax = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	return rmin;
}

void
cf_evaluate_model(CfEvaluation *ev, const char *test_relation, const char *model, int k,
				  double relevant_at, const char *user_col, const char *item_col,
				  const char *rating_col)
{
	CfSource	src;
	TestRow    *rows;
	int64		n;
	double		sq = 0.0,
				abs_sum = 0.0;
	double		sum_p = 0.0,
				sum_r = 0.0,
				sum_ndcg = 0.0,
				sum_hit = 0.0;
	double		rmin,
				rmax;

	memset(ev, 0, sizeof(*ev));
	cf_source_resolve(&src, test_relation, user_col, item_col, rating_col, NULL);
	rmin = model_rating_range(model, &rmax);
	ev->relevant_at = isnan(relevant_at) ? rmin + 0.75 * (rmax - rmin) : relevant_at;
	rows = read_test_rows(&src, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("relation \"%s\" has no ratings to evaluate on", src.display)));
	qsort(rows, n, sizeof(TestRow), cmp_by_user);

	for (int64 r = 0; r < n; r++)
	{
		bool		fallback;
		double		p = cf_serve_predict(model, rows[r].user, rows[r].item, &fallback);
		double		d = p - rows[r].rating;

		sq += d * d;
		abs_sum += fabs(d);
		ev->n_fallback += fallback;
		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	ev->n_ratings = n;
	ev->rmse = sqrt(sq / n);
	ev->mae = abs_sum / n;

	/* ranking: per test user, top k against the items rated ≥ relevant_at */
	for (int64 start = 0; start < n;)
	{
		int64		end = start;
		int64		relevant = 0;

		while (end < n && rows[end].user == rows[start].user)
			relevant += rows[end++].rating >= ev->relevant_at;
		if (relevant > 0)
		{
			CfScoredItem *top;
			int			got = cf_serve_recommend(model, rows[start].user, k, true, &top);
			int64		hits = 0;
			double		dcg = 0.0,
						idcg = 0.0;

			for (int j = 0; j < got; j++)
			{
				/* rows of the user are sorted by item: binary search */
				int64		lo = start,
							hi = end - 1;

				while (lo <= hi)
				{
					int64		mid = lo + (hi - lo) / 2;

					if (rows[mid].item == top[j].item_id)
					{
						if (rows[mid].rating >= ev->relevant_at)
						{
							hits++;
							dcg += 1.0 / log2(j + 2.0);
						}
						break;
					}
					if (rows[mid].item < top[j].item_id)
						lo = mid + 1;
					else
						hi = mid - 1;
				}
			}
			for (int64 j = 0; j < Min(relevant, (int64) k); j++)
				idcg += 1.0 / log2(j + 2.0);
			sum_p += (double) hits / k;
			sum_r += (double) hits / relevant;
			sum_ndcg += dcg / idcg;
			sum_hit += hits > 0;
			ev->n_ranked_users++;
			pfree(top);
		}
		start = end;
		CHECK_FOR_INTERRUPTS();
	}
	if (ev->n_ranked_users > 0)
	{
		ev->precision_at_k = sum_p / ev->n_ranked_users;
		ev->recall_at_k = sum_r / ev->n_ranked_users;
		ev->ndcg_at_k = sum_ndcg / ev->n_ranked_users;
		ev->hit_rate_at_k = sum_hit / ev->n_ranked_users;
	}
	else
		ev->precision_at_k = ev->recall_at_k = ev->ndcg_at_k = ev->hit_rate_at_k = NAN;
}
