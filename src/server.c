#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "idmap.h"
#include "model_store.h"
#include "network.h"
#include "pg_alloc.h"
#include "server.h"

#define CACHE_SLOTS 4

typedef struct Served
{
	MemoryContext cxt;			/* everything below lives here */
	CfStoredModel sm;
	CfInference inf;
	float	   *P;				/* n_users × H, or NULL when too large */
	float	   *Q;				/* n_items × H */
	float	   *pu_tmp;			/* H, for a user without P */
	float	   *emb_tmp;		/* E */
	int8_t	   *codes;			/* dot-only models: int8 item rows for the first pass */
	float	   *code_scale;		/* n_items */
	float	   *code_l1;		/* n_items */
	float	   *item_bias;		/* n_items, contiguous for that pass (zeros without biases) */
	int			code_width;		/* cf_quantized_width(D) */
	cf_idmap_hash *user_map;
	cf_idmap_hash *item_map;
	int32	   *popular;		/* item indices, most rated first */
	SPIPlanPtr	rated_plan;		/* items a user rated in the source, kept */
	uint64		last_used;
	Oid			catalog;		/* cfrec.models when loaded: ids restart with a new one */
	int			pins;			/* calls using it now: eviction must wait */
	bool		evicted;		/* out of the cache, freed when unpinned */
} Served;

static Served *cache[CACHE_SLOTS];
static uint64 use_clock;

/* Name → id, valid for one statement. */
typedef struct Resolution
{
	bool		valid;
	LocalTransactionId lxid;
	TimestampTz stmt_start;
	char	   *name;			/* NULL: the latest model */
	int64		id;
} Resolution;

static Resolution resolved[CACHE_SLOTS];

static bool
same_name(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int64
resolve(const char *name)
{
	LocalTransactionId lxid = MyProc->lxid;
	TimestampTz ts = GetCurrentStatementStartTimestamp();
	int			victim = 0;
	int64		id;

	for (int i = 0; i < CACHE_SLOTS; i++)
	{
		Resolution *r = &resolved[i];

		if (r->valid && r->lxid == lxid && r->stmt_start == ts && same_name(r->name, name))
			return r->id;
		if (!r->valid || r->lxid != lxid || r->stmt_start != ts)
			victim = i;
	}
	id = cf_store_model_id(name);
	if (resolved[victim].name)
		pfree(resolved[victim].name);
	resolved[victim].valid = true;
	resolved[victim].lxid = lxid;
	resolved[victim].stmt_start = ts;
	resolved[victim].name = name ? MemoryContextStrdup(TopMemoryContext, name) : NULL;
	resolved[victim].id = id;
	return id;
}

static int32 *popular_counts;

static int
cmp_popular(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	if (popular_counts[x] != popular_counts[y])
		return popular_counts[x] > popular_counts[y] ? -1 : 1;
	return x < y ? -1 : (x > y);
}

static cf_idmap_hash *
build_map(MemoryContext cxt, const int64 *ids, int32 n)
{
	cf_idmap_hash *map = cf_idmap_create(cxt, n, NULL);

	for (int32 i = 0; i < n; i++)
	{
		bool		found;

		cf_idmap_insert(map, ids[i], &found)->index = i;
	}
	return map;
}

static Served *
load(int64 id)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "cfrec model",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	Served	   *s;
	CfAllocator a = cf_context_allocator(cxt);
	const CfNetConfig *cfg;
	int32		E,
				H;

	PG_TRY();
	{
		s = MemoryContextAllocZero(cxt, sizeof(Served));
		s->cxt = cxt;
		cf_store_load(id, &s->sm, cxt);
		cfg = &s->sm.model.cfg;
		cf_inference_alloc(&s->inf, cfg, &a);
		cf_inference_fold(&s->inf, &s->sm.model);
		E = s->inf.E;
		H = s->inf.H;
		{
			int32		n_max = Max(cfg->n_users, cfg->n_items);
			float	   *tmp = cf_alloc_floats(&a, (size_t) Min(n_max, 4096) * E);

			s->Q = cf_alloc_floats(&a, (size_t) cfg->n_items * H);
			for (int32 from = 0; from < cfg->n_items; from += 4096)
				cf_inference_project(&s->inf, s->sm.model.p[CF_ITEM_EMB] + (size_t) from * s->inf.W,
									 Min(4096, cfg->n_items - from), 1, tmp,
									 s->Q + (size_t) from * H);
			if ((Size) cfg->n_users * H * sizeof(float) <= CF_USER_PROJECTION_BYTES)
			{
				s->P = cf_alloc_floats(&a, (size_t) cfg->n_users * H);
				for (int32 from = 0; from < cfg->n_users; from += 4096)
					cf_inference_project(&s->inf, s->sm.model.p[CF_USER_EMB] + (size_t) from * s->inf.W,
										 Min(4096, cfg->n_users - from), 0, tmp,
										 s->P + (size_t) from * H);
			}
			pfree(tmp);
		}
		if (H == 0 && s->inf.D > 0)
		{
			s->code_width = cf_quantized_width(s->inf.D);
			s->codes = MemoryContextAllocHuge(cxt, (Size) cfg->n_items * s->code_width);
			s->code_scale = cf_alloc_floats(&a, cfg->n_items);
			s->code_l1 = cf_alloc_floats(&a, cfg->n_items);
			s->item_bias = cf_alloc_floats(&a, cfg->n_items);
			cf_quantize_rows(s->sm.model.p[CF_ITEM_EMB] + E, s->inf.W, s->inf.D, cfg->n_items,
							 s->codes, s->code_scale, s->code_l1);
			for (int32 i = 0; i < cfg->n_items; i++)
				s->item_bias[i] = s->inf.biases
					? s->sm.model.p[CF_ITEM_EMB][(size_t) i * s->inf.W + s->inf.W - 1] : 0.0f;
		}
		s->pu_tmp = cf_alloc_floats(&a, H);
		s->emb_tmp = cf_alloc_floats(&a, E);
		s->user_map = build_map(cxt, s->sm.user_ids, cfg->n_users);
		s->item_map = build_map(cxt, s->sm.item_ids, cfg->n_items);
		old = MemoryContextSwitchTo(cxt);
		s->popular = palloc_extended(sizeof(int32) * cfg->n_items, MCXT_ALLOC_HUGE);
		MemoryContextSwitchTo(old);
		for (int32 i = 0; i < cfg->n_items; i++)
			s->popular[i] = i;
		popular_counts = s->sm.item_count;
		qsort(s->popular, cfg->n_items, sizeof(int32), cmp_popular);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return s;
}

static void
release(Served *s)
{
	if (s->rated_plan)
		SPI_freeplan(s->rated_plan);
	MemoryContextDelete(s->cxt);
}

/* Out of the cache; a model in use (pinned) is freed by its last user. */
static void
evict(int slot)
{
	Served	   *s = cache[slot];

	cache[slot] = NULL;
	if (s->pins > 0)
		s->evicted = true;
	else
		release(s);
}

static Oid
catalog_oid(void)
{
	Oid			nsp = get_namespace_oid("cfrec", true);

	return OidIsValid(nsp) ? get_relname_relid("models", nsp) : InvalidOid;
}

/* The model the name means now, loaded. */
static Served *
served(const char *name)
{
	int64		id = resolve(name);
	int			slot = -1;
	Served	   *s;
	Oid			catalog = catalog_oid();

	/* models of a dropped and re-created catalog are gone, whatever their ids */
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache[i] && cache[i]->catalog != catalog)
			evict(i);
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache[i] && cache[i]->sm.id == id)
		{
			cache[i]->last_used = ++use_clock;
			return cache[i];
		}
	s = load(id);
	s->catalog = catalog;
	/* a newer model of a name replaces the older one */
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache[i] && strcmp(cache[i]->sm.name, s->sm.name) == 0)
			evict(i);
	for (int i = 0; i < CACHE_SLOTS && slot < 0; i++)
		if (!cache[i])
			slot = i;
	if (slot < 0)
	{
		slot = 0;
		for (int i = 1; i < CACHE_SLOTS; i++)
			if (cache[i]->last_used < cache[slot]->last_used)
				slot = i;
		evict(slot);
	}
	cache[slot] = s;
	s->last_used = ++use_clock;
	return s;
}

static int32
lookup(cf_idmap_hash *map, int64 id)
{
	CfIdEntry  *e = cf_idmap_lookup(map, id);

	return e ? e->index : -1;
}

static const float *
user_row(const Served *s, int32 u)
{
	return s->sm.model.p[CF_USER_EMB] + (size_t) u * s->inf.W;
}

static const float *
item_row(const Served *s, int32 i)
{
	return s->sm.model.p[CF_ITEM_EMB] + (size_t) i * s->inf.W;
}

static double
clip(const Served *s, double x)
{
	return x < s->sm.rating_min ? s->sm.rating_min : (x > s->sm.rating_max ? s->sm.rating_max : x);
}

/* The user half of the first layer for dense user index u. */
static const float *
user_projection(Served *s, int32 u)
{
	int32		H = s->inf.H;

	if (s->P)
		return s->P + (size_t) u * H;
	cf_inference_project(&s->inf, user_row(s, u), 1, 0, s->emb_tmp, s->pu_tmp);
	return s->pu_tmp;
}

static double
score_of(Served *s, const float *pu, int32 u, int32 i)
{
	return cf_inference_predict(&s->inf, pu, s->Q + (size_t) i * s->inf.H, user_row(s, u),
								item_row(s, i));
}

double
cf_serve_predict(const char *model, int64 user_id, int64 item_id, bool *fallback)
{
	Served	   *s = served(model);
	int32		u = lookup(s->user_map, user_id);
	int32		i = lookup(s->item_map, item_id);

	*fallback = u < 0 || i < 0;
	if (u >= 0 && i >= 0)
		return clip(s, score_of(s, user_projection(s, u), u, i));
	if (u >= 0)
		return clip(s, s->sm.user_mean[u]);
	if (i >= 0)
		return clip(s, s->sm.item_mean[i]);
	return clip(s, s->sm.rating_mean);
}

/*
 * Says where an error while reading the user's rated items comes from: the
 * source may have changed since training (a column dropped or retyped).
 */
static void
rated_items_context(void *arg)
{
	const Served *s = arg;

	errcontext("reading the items rated in %s to exclude them (model \"%s\" was trained on its columns %s and %s: retrain it, or pass exclude_rated => false)",
			   s->sm.source, s->sm.name, quote_identifier(s->sm.user_col),
			   quote_identifier(s->sm.item_col));
}

/* Marks the items user_id has rated in the model's source relation, as it is now. */
static void
mark_rated(Served *s, int64 user_id, bool *rated)
{
	Datum		arg = Int64GetDatum(user_id);
	ErrorContextCallback context = {error_context_stack, rated_items_context, s};

	error_context_stack = &context;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!s->rated_plan)
	{
		Oid			type = INT8OID;
		char	   *sql = psprintf("SELECT %s::pg_catalog.int8 FROM %s WHERE %s OPERATOR(pg_catalog.=) $1",
								   quote_identifier(s->sm.item_col), s->sm.source,
								   quote_identifier(s->sm.user_col));
		SPIPlanPtr	plan = SPI_prepare(sql, 1, &type);

		if (!plan)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		s->rated_plan = plan;
	}
	if (SPI_execute_plan(s->rated_plan, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the items user " INT64_FORMAT " rated", user_id);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
		int32		i = isnull ? -1 : lookup(s->item_map, DatumGetInt64(d));

		if (i >= 0)
			rated[i] = true;
	}
	SPI_finish();
	error_context_stack = context.previous;
}

/* Ranking order: higher score first, then the smaller item id. */
static inline bool
ranks_below(const CfScoredItem *a, const CfScoredItem *b)
{
	return a->score < b->score || (a->score == b->score && a->item_id > b->item_id);
}

/* A min-heap of the k best so far: the root ranks lowest. */
static void
sift_down(CfScoredItem *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;
		CfScoredItem t;

		if (l < n && ranks_below(&h[l], &h[m]))
			m = l;
		if (r < n && ranks_below(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int
cmp_scored_desc(const void *a, const void *b)
{
	const CfScoredItem *x = a,
			   *y = b;

	return ranks_below(x, y) ? 1 : (ranks_below(y, x) ? -1 : 0);
}

typedef struct TopK
{
	CfScoredItem *h;
	int			n,
				k;
} TopK;

static void
top_k_offer(TopK *t, int64 item_id, double score)
{
	CfScoredItem c = {item_id, score};

	if (t->n < t->k)
	{
		t->h[t->n++] = c;
		if (t->n == t->k)
			for (int j = t->k / 2 - 1; j >= 0; j--)
				sift_down(t->h, t->n, j);
	}
	else if (ranks_below(&t->h[0], &c))
	{
		t->h[0] = c;
		sift_down(t->h, t->n, 0);
	}
}

/*
 * Every item's prediction for one user, in passes over the item tables (the
 * MLP part, then the dot branch, then biases and squashing), each item summed
 * exactly as cf_inference_predict sums it.
 */
static void
top_k_full(Served *s, int32 u, const bool *rated, TopK *t)
{
	const CfInference *inf = &s->inf;
	int32		n_items = s->sm.model.cfg.n_items;
	const float *items = s->sm.model.p[CF_ITEM_EMB];
	const float *urow = user_row(s, u);
	float	   *scores = palloc(sizeof(float) * n_items);

	if (inf->H > 0)
		cf_inference_scores(inf, user_projection(s, u), s->Q, n_items, scores);
	else
		for (int32 i = 0; i < n_items; i++)
			scores[i] = inf->b2;
	if (inf->D > 0)
		cf_inference_dots(urow + inf->E, items + inf->E, inf->W, inf->D, n_items, scores);
	for (int32 i = 0; i < n_items; i++)
		if (!rated[i])
			top_k_offer(t, s->sm.item_ids[i],
						cf_inference_finish(inf, scores[i], urow, items + (size_t) i * inf->W));
	pfree(scores);
}

/*
 * Dot-product models (no MLP branch): a first pass over the int8 codes of the
 * item rows (a quarter of the memory traffic of the floats) bounds every
 * item's score; only the items whose upper bound reaches the k-th best lower
 * bound are scored exactly, as cf_predict scores them.  The result is the
 * exact top k of top_k_full: scores and order alike.
 */
static void
top_k_pruned(Served *s, int32 u, const bool *rated, TopK *t)
{
	const CfInference *inf = &s->inf;
	int32		n_items = s->sm.model.cfg.n_items;
	const float *urow = user_row(s, u);
	float		user_bias = inf->biases ? urow[inf->W - 1] : 0.0f;
	int8_t	   *ucodes = palloc(s->code_width);
	float		u_scale;
	float	   *high = palloc(sizeof(float) * n_items);
	TopK		lows = {palloc(sizeof(CfScoredItem) * t->k), 0, t->k};	/* the k best lower bounds */
	float		u_l1 = 0.0f,
				threshold = -INFINITY;

	for (int d = 0; d < inf->D; d++)
		u_l1 += fabsf(urow[inf->E + d]);
	u_l1 *= 1.0f + 1e-5f;		/* the float sum of |u| rounds too */
	cf_quantize_rows(urow + inf->E, 0, inf->D, 1, ucodes, &u_scale, NULL);
	cf_quantized_dots(ucodes, u_scale, s->codes, s->code_scale, s->code_width, n_items, high);
	for (int32 i = 0; i < n_items; i++)
	{
		float		approx = high[i],
					bound,
					low;

		if (rated[i])
			continue;
		/* the coding bound, and slack for the float sums around it */
		bound = CF_QUANTIZED_BOUND * s->code_scale[i] * (u_l1 + u_scale * s->code_l1[i])
			+ 1e-5f * (1.0f + fabsf(approx));
		high[i] = cf_inference_finish_biased(inf, inf->b2 + (approx + bound), user_bias,
											 s->item_bias[i]);
		if (lows.n == lows.k && high[i] <= lows.h[0].score)
			continue;			/* its low is no better: the heap keeps its lows */
		low = cf_inference_finish_biased(inf, inf->b2 + (approx - bound), user_bias,
										 s->item_bias[i]);
		/* one id for all: the heap keeps the k largest values, ties aside */
		top_k_offer(&lows, 0, low);
	}
	if (lows.n == lows.k)
	{
		float		kth = (float) lows.h[0].score;

		threshold = kth - 1e-6f * (1.0f + fabsf(kth));
	}
	for (int32 i = 0; i < n_items; i++)
		if (!rated[i] && high[i] >= threshold)
			top_k_offer(t, s->sm.item_ids[i],
						cf_inference_predict(inf, NULL, NULL, urow, item_row(s, i)));
	pfree(ucodes);
	pfree(high);
	pfree(lows.h);
}

static int
recommend_from(Served *s, int64 user_id, int k, bool exclude_rated, CfScoredItem **result)
{
	int32		n_items = s->sm.model.cfg.n_items;
	int32		u = lookup(s->user_map, user_id);
	bool	   *rated = palloc0(n_items);
	TopK		t;

	k = Min(k, n_items);
	t.h = palloc(sizeof(CfScoredItem) * Max(k, 1));
	t.n = 0;
	t.k = k;
	*result = t.h;

	if (exclude_rated)
		mark_rated(s, user_id, rated);
	CHECK_FOR_INTERRUPTS();
	if (u < 0)
	{
		/* new user: the most rated items, scored by their mean */
		for (int32 j = 0; j < n_items && t.n < k; j++)
		{
			int32		i = s->popular[j];

			if (rated[i])
				continue;
			t.h[t.n].item_id = s->sm.item_ids[i];
			t.h[t.n].score = clip(s, s->sm.item_mean[i]);
			t.n++;
		}
		pfree(rated);
		return t.n;
	}
	if (k > 0)
	{
		if (s->codes)
			top_k_pruned(s, u, rated, &t);
		else
			top_k_full(s, u, rated, &t);
	}
	qsort(t.h, t.n, sizeof(CfScoredItem), cmp_scored_desc);
	for (int j = 0; j < t.n; j++)
		t.h[j].score = clip(s, t.h[j].score);
	pfree(rated);
	return t.n;
}

/*
 * The model stays pinned while in use: reading the rated items runs the
 * source's SQL, which may serve (and so load and evict) other models.
 */
int
cf_serve_recommend(const char *model, int64 user_id, int k, bool exclude_rated,
				   CfScoredItem **result)
{
	Served	   *s = served(model);
	int			n = 0;

	s->pins++;
	PG_TRY();
	{
		n = recommend_from(s, user_id, k, exclude_rated, result);
	}
	PG_FINALLY();
	{
		if (--s->pins == 0 && s->evicted)
			release(s);
	}
	PG_END_TRY();
	return n;
}
