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

/*
 * Every item's prediction for one user, in passes over the item tables (the
 * MLP part, then the dot branch, then biases and squashing), each item summed
 * exactly as cf_inference_predict sums it.
 */
static float *
all_scores(Served *s, const float *pu, const float *urow)
{
	const CfInference *inf = &s->inf;
	int32		n_items = s->sm.model.cfg.n_items;
	const float *items = s->sm.model.p[CF_ITEM_EMB];
	float	   *scores = palloc(sizeof(float) * n_items);

	CHECK_FOR_INTERRUPTS();
	if (inf->H > 0)
		cf_inference_scores(inf, pu, s->Q, n_items, scores);
	else
		for (int32 i = 0; i < n_items; i++)
			scores[i] = inf->b2;
	if (inf->D > 0)
		cf_inference_dots(urow + inf->E, items + inf->E, inf->W, inf->D, n_items, scores);
	for (int32 i = 0; i < n_items; i++)
		scores[i] = cf_inference_finish(inf, scores[i], urow, items + (size_t) i * inf->W);
	return scores;
}

/* A min-heap of the k best so far: the root is the worst kept. */
static void
sift_down(CfScoredItem *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;
		CfScoredItem t;

		if (l < n && h[l].score < h[m].score)
			m = l;
		if (r < n && h[r].score < h[m].score)
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

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->item_id < y->item_id ? -1 : (x->item_id > y->item_id);
}

static int
recommend_from(Served *s, int64 user_id, int k, bool exclude_rated, CfScoredItem **result)
{
	int32		n_items = s->sm.model.cfg.n_items;
	int32		u = lookup(s->user_map, user_id);
	bool	   *rated = palloc0(n_items);
	CfScoredItem *out;
	int			n = 0;

	k = Min(k, n_items);
	out = palloc(sizeof(CfScoredItem) * k);
	*result = out;

	if (exclude_rated)
		mark_rated(s, user_id, rated);
	if (u < 0)
	{
		/* new user: the most rated items, scored by their mean */
		for (int32 j = 0; j < n_items && n < k; j++)
		{
			int32		i = s->popular[j];

			if (rated[i])
				continue;
			out[n].item_id = s->sm.item_ids[i];
			out[n].score = clip(s, s->sm.item_mean[i]);
			n++;
		}
		pfree(rated);
		return n;
	}
	{
		const float *pu = user_projection(s, u);
		const float *urow = user_row(s, u);
		float	   *scores = all_scores(s, pu, urow);

		for (int32 i = 0; i < n_items; i++)
		{
			double		score = scores[i];

			if (rated[i])
				continue;
			if (n < k)
			{
				out[n].item_id = s->sm.item_ids[i];
				out[n].score = score;
				if (++n == k)
					for (int j = k / 2 - 1; j >= 0; j--)
						sift_down(out, n, j);
			}
			else if (score > out[0].score)
			{
				out[0].item_id = s->sm.item_ids[i];
				out[0].score = score;
				sift_down(out, n, 0);
			}
		}
		pfree(scores);
	}
	qsort(out, n, sizeof(CfScoredItem), cmp_scored_desc);
	for (int j = 0; j < n; j++)
		out[j].score = clip(s, out[j].score);
	pfree(rated);
	return n;
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
