/*
 * test_optimizer.c — Adam against torch.optim.Adam's formula written out in
 * double here: L2 weight decay added to the gradient, bias corrections from
 * the global step, eps outside the square root.  Dense spans, sparse (lazy)
 * rows, the whole-model step and the reset.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "network.h"
#include "optimizer.h"
#include "rng.h"
#include "tap.h"

static TapArena arena;
static CfAllocator A;

/*
 * The optimizer keeps its betas in float: the reference uses the same
 * values (0.999f is 0.99900001287), or v would differ by 1.3e-5 relative
 * from (1 − β2) alone.
 */
static const double B1 = (double) 0.9f,
			B2 = (double) 0.999f,
			EPS = (double) 1e-8f;

/* torch.optim.Adam, one parameter, step t (1-based) */
static void
ref_adam(double *p, double *m, double *v, double g, double lr, double wd, long t)
{
	double		mhat,
				vhat;

	g += wd * *p;
	*m = B1 * *m + (1 - B1) * g;
	*v = B2 * *v + (1 - B2) * g * g;
	mhat = *m / (1 - pow(B1, (double) t));
	vhat = *v / (1 - pow(B2, (double) t));
	*p -= lr * mhat / (sqrt(vhat) + EPS);
}

typedef struct Ref
{
	size_t		n;
	double	   *p, *m, *v;
} Ref;

static Ref
ref_from(const float *p, size_t n)
{
	Ref			r = {n, calloc(n, sizeof(double)), calloc(n, sizeof(double)), calloc(n, sizeof(double))};

	for (size_t i = 0; i < n; i++)
		r.p[i] = p[i];
	return r;
}

static void
ref_free(Ref *r)
{
	free(r->p);
	free(r->m);
	free(r->v);
}

/*
 * Largest |float − double| over params, and over m and v relative to the
 * largest reference moment (entries near zero would inflate a per-entry ratio).
 */
static void
compare(const Ref *r, const float *p, const float *m, const float *v,
		double *err_p, double *err_mv)
{
	double		sm = 0,
				sv = 0,
				em = 0,
				ev = 0;

	*err_p = 0;
	for (size_t i = 0; i < r->n; i++)
	{
		sm = fmax(sm, fabs(r->m[i]));
		sv = fmax(sv, fabs(r->v[i]));
	}
	for (size_t i = 0; i < r->n; i++)
	{
		*err_p = fmax(*err_p, fabs(p[i] - r->p[i]));
		em = fmax(em, fabs(m[i] - r->m[i]));
		ev = fmax(ev, fabs(v[i] - r->v[i]));
	}
	*err_mv = fmax(sm > 0 ? em / sm : INFINITY, sv > 0 ? ev / sv : INFINITY);
}

static bool
all_zero(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (x[i] != 0.0f)
			return false;
	return true;
}

/* rows: [MLP 3 | dot 2 | bias] rows of width 6; otherwise the seed's rows of width 3 */
static void
make_model(CfModel *m, bool rows)
{
	CfNetConfig cfg;

	cf_net_config_default(&cfg, 5, 4);
	cfg.emb_dim = 3;
	cfg.hidden = 4;
	if (rows)
	{
		cfg.dot_dim = 2;
		cfg.biases = true;
	}
	cf_model_alloc(m, &cfg, &A);
	cf_model_init(m, 3, NAN);
}

static void
test_defaults(void)
{
	CfModel		m;
	CfAdam		opt;

	make_model(&m, false);
	cf_adam_alloc(&opt, &m, 0.25f, 0.125f, &A);
	ok(opt.beta1 == 0.9f && opt.beta2 == 0.999f && opt.eps == 1e-8f && opt.weight_decay == 0.25f &&
	   opt.row_weight_decay == 0.125f,
	   "adam: torch defaults beta (0.9, 0.999), eps 1e-8, the given dense and row weight decays");
	ok(opt.t == 0 && opt.n == m.num_params && all_zero(opt.m, opt.n) && all_zero(opt.v, opt.n),
	   "adam: a fresh optimizer has t = 0, one zero m and v per parameter (n %zu)", opt.n);
}

static void
test_dense(double wd, double grad_scale, const char *label)
{
	CfModel		m;
	CfAdam		opt;
	CfRng		rng;
	size_t		off,
				n;
	float	   *p,
			   *g;
	Ref			r;
	double		lr = 1e-2,
				err_p,
				err_mv,
				moved = 0;
	float	   *p0;

	make_model(&m, false);
	/* a different row decay: the dense update must use weight_decay */
	cf_adam_alloc(&opt, &m, (float) wd, 0.7f, &A);
	off = m.dense_offset;
	n = m.num_params - off;
	p = m.params + off;
	g = cf_alloc_floats(&A, n);
	p0 = cf_alloc_floats(&A, m.num_params);
	cf_rng_seed(&rng, 17, 0);
	for (size_t i = 0; i < n; i++)
		p[i] = (float) cf_rng_normal(&rng);
	memcpy(p0, m.params, m.num_params * sizeof(float));
	r = ref_from(p, n);

	for (int step = 1; step <= 10; step++)
	{
		for (size_t i = 0; i < n; i++)
			g[i] = (float) (grad_scale * cf_rng_normal(&rng));
		opt.t++;
		cf_adam_dense(&opt, p, g, off, n, (float) lr);
		for (size_t i = 0; i < n; i++)
			ref_adam(&r.p[i], &r.m[i], &r.v[i], g[i], lr, (float) wd, step);
		if (step == 1 || step == 10)
		{
			compare(&r, p, opt.m + off, opt.v + off, &err_p, &err_mv);
			moved = 0;
			for (size_t i = 0; i < n; i++)
				moved = fmax(moved, fabs(r.p[i] - p0[off + i]));
			ok(err_p < 1e-6 && err_mv < 1e-6 && moved > 0.5 * lr,
			   "adam dense (%s): after %d step%s params, m, v match torch's formula "
			   "(param err %.2g, moment rel err %.2g, params moved %.3g)",
			   label, step, step > 1 ? "s" : "", err_p, err_mv, moved);
		}
	}
	ok(memcmp(m.params, p0, off * sizeof(float)) == 0 && all_zero(opt.m, off) && all_zero(opt.v, off),
	   "adam dense (%s): the embeddings before the span and their moments are untouched", label);
	ref_free(&r);
}

/* One dense update of a span in the middle: offset addresses m and v. */
static void
test_dense_offset(void)
{
	CfModel		m;
	CfAdam		opt;
	size_t		off,
				n;
	float	   *g,
			   *before;
	Ref			r;
	double		err_p,
				err_mv;
	bool		others = true;

	make_model(&m, false);
	cf_adam_alloc(&opt, &m, 0.0f, 0.0f, &A);
	off = m.p[CF_W1] - m.params;
	n = m.sizes[CF_W1];
	g = cf_alloc_floats(&A, n);
	before = cf_alloc_floats(&A, m.num_params);
	for (size_t i = 0; i < n; i++)
		g[i] = (float) (i % 2 ? 0.5 : -2.0) * (float) (i + 1);
	memcpy(before, m.params, m.num_params * sizeof(float));
	r = ref_from(m.p[CF_W1], n);
	opt.t = 3;					/* a later step: bias corrections of t = 3 */
	cf_adam_dense(&opt, m.p[CF_W1], g, off, n, 1e-3f);
	for (size_t i = 0; i < n; i++)
		ref_adam(&r.p[i], &r.m[i], &r.v[i], g[i], 1e-3, 0.0, 3);
	compare(&r, m.p[CF_W1], opt.m + off, opt.v + off, &err_p, &err_mv);
	ok(err_p < 1e-7 && err_mv < 1e-6,
	   "adam dense: fc1.weight alone at t = 3 (param err %.2g, moment rel err %.2g)",
	   err_p, err_mv);
	/* at t = 3 from zero moments: m̂ = g·0.1/(1−0.9³), v̂ = g²·0.001/(1−0.999³) */
	{
		double		mh = (1 - B1) / (1 - pow(B1, 3)),
					vh = sqrt((1 - B2) / (1 - pow(B2, 3)));

		is_close_rel(before[off] - m.p[CF_W1][0], 1e-3 * mh / vh * (g[0] > 0 ? 1 : -1), 1e-5, 1e-10,
					 "adam dense: the first-step size at t = 3 is lr·m̂/sqrt(v̂) (%.6g·lr)", mh / vh);
	}
	for (size_t i = 0; i < m.num_params; i++)
		if ((i < off || i >= off + n) && (before[i] != m.params[i] || opt.m[i] != 0 || opt.v[i] != 0))
			others = false;
	ok(others, "adam dense: parameters and moments outside [offset, offset + n) are untouched");
	ref_free(&r);
}

static void
set_sparse(CfSparseGrad *g, const int32_t *rows, int n_used, const float *grad)
{
	g->n_used = n_used;
	memcpy(g->rows, rows, n_used * sizeof(int32_t));
	memcpy(g->grad, grad, (size_t) n_used * g->dim * sizeof(float));
}

static void
test_sparse(void)
{
	CfModel		m;
	CfAdam		opt;
	CfSparseGrad g;
	const int	E = 3;
	const int	n_items = 4;
	size_t		off;
	float	   *tab,
			   *after1,
			   *m_after1,
			   *v_after1,
			   *before;
	double		rp[4][3],
				rm[4][3] = {{0}},
				rv[4][3] = {{0}};
	double		lr = 5e-3,
				wd = 0.05;
	const int32_t rows1[] = {3, 1};
	const float grad1[] = {0.4f, -1.2f, 0.05f, -0.3f, 2.0f, 0.7f};
	const int32_t rows2[] = {0, 3};
	const float grad2[] = {1.5f, -0.2f, 0.9f, 0.1f, 0.6f, -0.8f};
	double		worst = 0;
	bool		untouched;

	make_model(&m, false);
	/* rows decay by row_weight_decay; the dense decay (0.3) must not be used */
	cf_adam_alloc(&opt, &m, 0.3f, (float) wd, &A);
	off = m.sizes[CF_USER_EMB];
	tab = m.p[CF_ITEM_EMB];
	for (int i = 0; i < n_items * E; i++)
		tab[i] = 0.1f * (float) (i - 5);
	for (int r = 0; r < n_items; r++)
		for (int e = 0; e < E; e++)
			rp[r][e] = tab[r * E + e];
	before = cf_alloc_floats(&A, m.num_params);
	memcpy(before, m.params, m.num_params * sizeof(float));

	g.n_rows = n_items;
	g.dim = E;
	g.rows = A.alloc0(A.ctx, 4 * sizeof(int32_t));
	g.grad = cf_alloc_floats(&A, 4 * E);
	g.slot = A.alloc0(A.ctx, n_items * sizeof(int32_t));
	g.stamp = A.alloc0(A.ctx, n_items * sizeof(uint32_t));
	g.batch = 1;

	/* step 1: rows 3 and 1 */
	set_sparse(&g, rows1, 2, grad1);
	opt.t = 1;
	cf_adam_sparse(&opt, tab, &g, off, (float) lr);
	for (int s = 0; s < 2; s++)
		for (int e = 0; e < E; e++)
			ref_adam(&rp[rows1[s]][e], &rm[rows1[s]][e], &rv[rows1[s]][e], grad1[s * E + e], lr, (float) wd, 1);
	for (int r = 0; r < n_items; r++)
		for (int e = 0; e < E; e++)
			worst = fmax(worst, fabs(tab[r * E + e] - rp[r][e]));
	ok(worst < 1e-7 && fabs(tab[3 * E] - before[off + 3 * E]) > 0.5 * lr,
	   "adam sparse: step 1 on rows {3, 1} matches torch's formula (err %.2g)", worst);
	untouched = true;
	for (int e = 0; e < E; e++)
		untouched = untouched && tab[0 * E + e] == before[off + 0 * E + e] &&
			tab[2 * E + e] == before[off + 2 * E + e] &&
			opt.m[off + 0 * E + e] == 0 && opt.v[off + 0 * E + e] == 0 &&
			opt.m[off + 2 * E + e] == 0 && opt.v[off + 2 * E + e] == 0;
	ok(untouched, "adam sparse: rows 0 and 2, not in the batch, keep params and zero moments "
	   "(no weight decay either)");
	ok(memcmp(m.params, before, off * sizeof(float)) == 0 && all_zero(opt.m, off) && all_zero(opt.v, off) &&
	   memcmp(m.params + off + n_items * E, before + off + n_items * E,
			  (m.num_params - off - n_items * E) * sizeof(float)) == 0,
	   "adam sparse: other tables and the dense tail are untouched");

	after1 = cf_alloc_floats(&A, n_items * E);
	m_after1 = cf_alloc_floats(&A, n_items * E);
	v_after1 = cf_alloc_floats(&A, n_items * E);
	memcpy(after1, tab, n_items * E * sizeof(float));
	memcpy(m_after1, opt.m + off, n_items * E * sizeof(float));
	memcpy(v_after1, opt.v + off, n_items * E * sizeof(float));

	/* step 2: rows 0 and 3; row 1 must stay exactly as step 1 left it */
	set_sparse(&g, rows2, 2, grad2);
	opt.t = 2;
	cf_adam_sparse(&opt, tab, &g, off, (float) lr);
	for (int s = 0; s < 2; s++)
		for (int e = 0; e < E; e++)
			ref_adam(&rp[rows2[s]][e], &rm[rows2[s]][e], &rv[rows2[s]][e], grad2[s * E + e], lr, (float) wd, 2);
	worst = 0;
	for (int r = 0; r < n_items; r++)
		for (int e = 0; e < E; e++)
		{
			worst = fmax(worst, fabs(tab[r * E + e] - rp[r][e]));
			worst = fmax(worst, fabs(opt.m[off + r * E + e] - rm[r][e]) / (fabs(rm[r][e]) + 1e-12) * 1e-6);
			worst = fmax(worst, fabs(opt.v[off + r * E + e] - rv[r][e]) / (fabs(rv[r][e]) + 1e-20) * 1e-6);
		}
	ok(worst < 1e-7, "adam sparse: step 2 on rows {0, 3} matches lazy Adam with the global t = 2 "
	   "(err %.2g)", worst);
	untouched = true;
	for (int e = 0; e < E; e++)
		untouched = untouched && tab[1 * E + e] == after1[1 * E + e] &&
			opt.m[off + 1 * E + e] == m_after1[1 * E + e] &&
			opt.v[off + 1 * E + e] == v_after1[1 * E + e] &&
			tab[2 * E + e] == before[off + 2 * E + e] &&
			opt.m[off + 2 * E + e] == 0 && opt.v[off + 2 * E + e] == 0;
	ok(untouched, "adam sparse: row 1, touched at step 1 only, keeps its params, m and v exactly");

	/* row 0 first seen at t = 2: m = 0.1 g, corrected by 1 − 0.9² */
	{
		double		gg = grad2[0] + (float) wd * before[off];
		double		mh = (1 - B1) * gg / (1 - B1 * B1),
					vh = sqrt((1 - B2) * gg * gg / (1 - B2 * B2));

		is_close_rel(before[off] - tab[0], lr * mh / (vh + EPS), 1e-5, 1e-10,
					 "adam sparse: a row first touched at t = 2 uses t = 2's bias corrections");
	}

	/* reset */
	cf_adam_reset(&opt);
	ok(opt.t == 0 && all_zero(opt.m, opt.n) && all_zero(opt.v, opt.n),
	   "cf_adam_reset: t = 0 and every moment zero");
}

/* The whole-model step: t advances, then every part moves by the formula. */
static void
test_step(void)
{
	CfModel		m;
	CfAdam		opt;
	CfWorkspace ws;
	CfRng		rng;
	const int	B = 4;
	const int32_t users[] = {1, 4, 1, 2};
	const int32_t items[] = {0, 3, 2, 3};
	const float ratings[] = {4.0f, 2.0f, 5.0f, 1.0f};
	float	   *before;
	double		lr = 1e-2,
				wd = 1e-3,
				row_wd = 0.02,
				worst = 0;
	bool		untouched = true;
	int			W;

	make_model(&m, true);
	W = cf_row_width(&m.cfg);
	cf_rng_seed(&rng, 8, 8);
	for (size_t i = 0; i < m.dense_offset; i++)
		m.params[i] = (float) cf_rng_normal(&rng);
	cf_adam_alloc(&opt, &m, (float) wd, (float) row_wd, &A);
	cf_workspace_alloc(&ws, &m, B, 1, &A);
	before = cf_alloc_floats(&A, m.num_params);

	for (int step = 1; step <= 2; step++)
	{
		float	   *mb = cf_alloc_floats(&A, m.num_params),
				   *vb = cf_alloc_floats(&A, m.num_params);

		memcpy(before, m.params, m.num_params * sizeof(float));
		memcpy(mb, opt.m, m.num_params * sizeof(float));
		memcpy(vb, opt.v, m.num_params * sizeof(float));
		cf_net_forward_backward(&m, &ws, users, items, ratings, B);
		cf_adam_step(&opt, &m, &ws, (float) lr);
		ok(opt.t == step, "cf_adam_step advances t to %d (t = %lld)", step, (long long) opt.t);
		worst = 0;
		untouched = true;
		for (size_t i = 0; i < m.num_params; i++)
		{
			double		p = before[i],
						mm = mb[i],
						vv = vb[i];
			double		g;
			bool		has = true;

			if (i < m.sizes[CF_USER_EMB])
			{
				int			row = (int) (i / W);

				has = ws.user_grad.stamp[row] == ws.user_grad.batch;
				g = has ? ws.user_grad.grad[ws.user_grad.slot[row] * W + i % W] : 0;
			}
			else if (i < m.dense_offset)
			{
				int			row = (int) ((i - m.sizes[CF_USER_EMB]) / W);

				has = ws.item_grad.stamp[row] == ws.item_grad.batch;
				g = has ? ws.item_grad.grad[ws.item_grad.slot[row] * W + (i - m.sizes[CF_USER_EMB]) % W] : 0;
			}
			else
				g = ws.dense_grads[i - m.dense_offset];
			if (!has)
			{
				if (m.params[i] != before[i] || opt.m[i] != mb[i] || opt.v[i] != vb[i])
					untouched = false;
				continue;
			}
			ref_adam(&p, &mm, &vv, g, lr, i < m.dense_offset ? (float) row_wd : (float) wd, step);
			worst = fmax(worst, fabs(p - m.params[i]));
		}
		ok(worst < 1e-6, "cf_adam_step %d: the batch's rows [MLP | dot | bias] (row decay) and the "
		   "dense tail (dense decay) match the formula (err %.2g)", step, worst);
		ok(untouched, "cf_adam_step %d: users 0, 3 and item 1, not in the batch, are untouched", step);
	}

	/* after a reset, a step equals the first step of a fresh optimizer */
	{
		CfAdam		fresh;
		float	   *p_reset = cf_alloc_floats(&A, m.num_params);

		cf_adam_alloc(&fresh, &m, (float) wd, (float) row_wd, &A);
		memcpy(before, m.params, m.num_params * sizeof(float));
		cf_adam_reset(&opt);
		cf_net_forward_backward(&m, &ws, users, items, ratings, B);
		cf_adam_step(&opt, &m, &ws, (float) lr);
		memcpy(p_reset, m.params, m.num_params * sizeof(float));
		memcpy(m.params, before, m.num_params * sizeof(float));
		cf_adam_step(&fresh, &m, &ws, (float) lr);
		ok(memcmp(p_reset, m.params, m.num_params * sizeof(float)) == 0 &&
		   memcmp(opt.m, fresh.m, opt.n * sizeof(float)) == 0 &&
		   memcmp(opt.v, fresh.v, opt.n * sizeof(float)) == 0 && opt.t == 1 && fresh.t == 1,
		   "cf_adam_reset: the next step is bit-identical to a fresh optimizer's first step");
	}
}

int
main(void)
{
	A = tap_arena_allocator(&arena);

	test_defaults();
	test_dense(0.1, 1.0, "wd 0.1");
	test_dense(0.0, 1e-8, "gradients ~ eps: eps outside the sqrt");
	test_dense_offset();
	test_sparse();
	test_step();

	tap_arena_free_all(&arena);
	return done_testing();
}
