/*
 * synthetic.c — cf_synthetic_ratings: ratings drawn from a planted model, for
 * tests and benchmarks at any size.
 *
 * rating = clamp(round(3.6 + b_user + b_item + p_user · q_item + noise·N(0,1)), 1, 5)
 * with rank-r factors ~ N(0, 1/r) per entry (so p·q ~ N(0, 1)), user biases
 * ~ N(0, 0.3²) and item biases ~ N(0, 0.5²).  Items are drawn with Zipf
 * popularity (exponent 1: a few items get most ratings, as on Netflix), users
 * with a milder skew (exponent 0.5); which ids are popular is shuffled.  Each
 * (user, item) pair appears at most once, as in a ratings table with a key, so
 * a split of it never holds one rating on both sides.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "rng.h"

/* The pairs drawn so far, as user · n_items + item. */
typedef struct PairEntry
{
	uint64		key;
	char		status;
} PairEntry;

#define SH_PREFIX pairset
#define SH_ELEMENT_TYPE PairEntry
#define SH_KEY_TYPE uint64
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((uint32) (((k) * UINT64CONST(0x9e3779b97f4a7c15)) >> 32))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Cumulative Zipf weights over a shuffled order: cdf[j] for the j-th most popular. */
typedef struct Popularity
{
	int32		n;
	double	   *cdf;
	int32	   *id_of;			/* rank → 0-based id */
} Popularity;

static void
popularity_init(Popularity *p, int32 n, double exponent, CfRng *rng)
{
	double		sum = 0.0;

	p->n = n;
	p->cdf = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * n);
	p->id_of = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * n);
	for (int32 j = 0; j < n; j++)
	{
		sum += 1.0 / pow(j + 1.0, exponent);
		p->cdf[j] = sum;
		p->id_of[j] = j;
	}
	for (int32 j = 0; j < n; j++)
		p->cdf[j] /= sum;
	for (int32 j = n - 1; j > 0; j--)
	{
		int32		k = (int32) cf_rng_below(rng, (uint64) j + 1);
		int32		t = p->id_of[j];

		p->id_of[j] = p->id_of[k];
		p->id_of[k] = t;
	}
}

static int32
popularity_draw(const Popularity *p, CfRng *rng)
{
	double		u = cf_rng_uniform(rng);
	int32		lo = 0,
				hi = p->n - 1;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (p->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p->id_of[lo];
}

static float *
normal_table(int64 n, double sd, CfRng *rng)
{
	float	   *x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * n);

	for (int64 i = 0; i < n; i++)
		x[i] = (float) (sd * cf_rng_normal(rng));
	return x;
}

static void
check_arg(bool ok, const char *msg, int64 value)
{
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(msg, (long long) value)));
}

PG_FUNCTION_INFO_V1(cf_synthetic_ratings);
Datum
cf_synthetic_ratings(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		n_users = PG_GETARG_INT32(0);
	int32		n_items = PG_GETARG_INT32(1);
	int64		n_ratings = PG_GETARG_INT64(2);
	int32		rank = PG_GETARG_INT32(3);
	double		noise = PG_GETARG_FLOAT8(4);
	uint64		seed = (uint64) PG_GETARG_INT64(5);
	CfRng		rng;
	Popularity	users,
				items;
	float	   *P,
			   *Q,
			   *bu,
			   *bi;
	pairset_hash *seen;

	check_arg(n_users >= 1 && n_users <= 100000000, "n_users must be between 1 and 100000000, not %lld", n_users);
	check_arg(n_items >= 1 && n_items <= 100000000, "n_items must be between 1 and 100000000, not %lld", n_items);
	check_arg(n_ratings >= 0 && n_ratings <= INT64CONST(10000000000), "n_ratings must be between 0 and 10000000000, not %lld", n_ratings);
	check_arg(rank >= 1 && rank <= 1000, "rank must be between 1 and 1000, not %lld", rank);
	if (!(noise >= 0.0) || !isfinite(noise))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("noise must be a finite standard deviation ≥ 0, not %g", noise)));
	/* drawing without repeats slows down as the matrix fills: keep it sparse */
	if ((double) n_ratings > 0.9 * (double) n_users * (double) n_items)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_ratings must be at most 90%% of n_users × n_items (%.0f)",
						0.9 * (double) n_users * (double) n_items),
				 errdetail("Each (user, item) pair is rated at most once.")));
	if (((int64) n_users + n_items) * rank > INT64CONST(250000000))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("(n_users + n_items) × rank must be at most 250000000"),
				 errhint("Use a smaller rank for this many users and items.")));

	InitMaterializedSRF(fcinfo, 0);
	cf_rng_seed(&rng, seed, 10);
	popularity_init(&users, n_users, 0.5, &rng);
	popularity_init(&items, n_items, 1.0, &rng);
	P = normal_table((int64) n_users * rank, 1.0 / sqrt(rank), &rng);
	Q = normal_table((int64) n_items * rank, 1.0 / sqrt(rank), &rng);
	bu = normal_table(n_users, 0.3, &rng);
	bi = normal_table(n_items, 0.5, &rng);
	seen = pairset_create(CurrentMemoryContext, (uint32) Min(n_ratings + 1, PG_UINT32_MAX / 2), NULL);

	for (int64 r = 0; r < n_ratings; r++)
	{
		int32		u,
					i;
		bool		found;
		const float *pu;
		const float *qi;
		double		y;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		do
		{
			u = popularity_draw(&users, &rng);
			i = popularity_draw(&items, &rng);
			pairset_insert(seen, (uint64) u * n_items + i, &found);
		} while (found);
		pu = P + (int64) u * rank;
		qi = Q + (int64) i * rank;
		y = 3.6 + bu[u] + bi[i] + noise * cf_rng_normal(&rng);
		for (int k = 0; k < rank; k++)
			y += pu[k] * qi[k];
		y = rint(y);
		y = y < 1.0 ? 1.0 : (y > 5.0 ? 5.0 : y);
		values[0] = Int64GetDatum((int64) u + 1);
		values[1] = Int64GetDatum((int64) i + 1);
		values[2] = Float4GetDatum((float4) y);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if ((r & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_NULL();
}
