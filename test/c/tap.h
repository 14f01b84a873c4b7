/*
 * tap.h — a tiny header-only TAP producer for the standalone C tests of the
 * math core, and a calloc-backed CfAllocator that remembers its blocks so a
 * test can free them all at the end (valgrind-clean).
 *
 *   plan(N);                      prints "1..N" (optional: done_testing prints
 *                                 the plan at the end when none was given)
 *   ok(cond, "fmt", ...);         "ok n - desc" / "not ok n - desc"
 *   is_close(a, b, tol, "fmt");   |a − b| ≤ tol, reports both on failure
 *   is_close_rel(a, b, rtol, atol, "fmt");
 *                                 |a − b| ≤ atol + rtol · max(|a|, |b|)
 *   is_int(a, b, "fmt");          integer equality, reports both on failure
 *   diag("fmt", ...);             "# ..." comment line
 *   return done_testing();        0 when every test passed and the plan held
 *
 * Every function is static: each test binary includes this once.
 */
#ifndef CFREC_TEST_TAP_H
#define CFREC_TEST_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"

static int	tap_planned = -1;
static int	tap_run = 0;
static int	tap_failed = 0;

static __attribute__((unused)) void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static void
diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void
diag(const char *fmt, ...)
{
	va_list		ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static bool
tap_vreport(bool pass, const char *fmt, va_list ap)
{
	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	return pass;
}

static bool
ok(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static bool
ok(bool pass, const char *fmt, ...)
{
	va_list		ap;
	bool		r;

	va_start(ap, fmt);
	r = tap_vreport(pass, fmt, ap);
	va_end(ap);
	return r;
}

/* NaN never passes: a test must not be fooled by a NaN comparing false. */
static bool
is_close(double got, double want, double tol, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), unused));
static bool
is_close(double got, double want, double tol, const char *fmt, ...)
{
	va_list		ap;
	bool		pass = isfinite(got) && isfinite(want) && fabs(got - want) <= tol;

	va_start(ap, fmt);
	tap_vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("    got %.10g, want %.10g (|diff| %.3g > tol %.3g)",
			 got, want, fabs(got - want), tol);
	return pass;
}

static bool
is_close_rel(double got, double want, double rtol, double atol, const char *fmt, ...)
	__attribute__((format(printf, 5, 6), unused));
static bool
is_close_rel(double got, double want, double rtol, double atol, const char *fmt, ...)
{
	va_list		ap;
	double		scale = fmax(fabs(got), fabs(want));
	double		tol = atol + rtol * scale;
	bool		pass = isfinite(got) && isfinite(want) && fabs(got - want) <= tol;

	va_start(ap, fmt);
	tap_vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("    got %.10g, want %.10g (|diff| %.3g > tol %.3g)",
			 got, want, fabs(got - want), tol);
	return pass;
}

static bool
is_int(long long got, long long want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), unused));
static bool
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list		ap;
	bool		pass = got == want;

	va_start(ap, fmt);
	tap_vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("    got %lld, want %lld", got, want);
	return pass;
}

/* Exit status for main: non-zero when a test failed or the plan was missed. */
static __attribute__((unused)) int
done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	if (tap_failed)
		diag("failed %d of %d tests", tap_failed, tap_run);
	fflush(stdout);
	return (tap_failed == 0 && (tap_planned < 0 || tap_planned == tap_run)) ? 0 : 1;
}

/* ---- a calloc-backed CfAllocator that frees everything at once ---- */

typedef struct TapArena
{
	void	  **blocks;
	size_t		n;
	size_t		cap;
	size_t		bytes;			/* total requested */
} TapArena;

static __attribute__((unused)) void *
tap_arena_alloc0(void *ctx, size_t bytes)
{
	TapArena   *ar = ctx;
	void	   *p;

	if (ar->n == ar->cap)
	{
		size_t		cap = ar->cap ? 2 * ar->cap : 64;
		void	  **nb = realloc(ar->blocks, cap * sizeof(void *));

		if (!nb)
		{
			fprintf(stderr, "tap arena: out of memory\n");
			abort();
		}
		ar->blocks = nb;
		ar->cap = cap;
	}
	/* calloc(0) may return NULL; the contract says never NULL. */
	p = calloc(1, bytes ? bytes : 1);
	if (!p)
	{
		fprintf(stderr, "tap arena: out of memory (%zu bytes)\n", bytes);
		abort();
	}
	ar->blocks[ar->n++] = p;
	ar->bytes += bytes;
	return p;
}

static __attribute__((unused)) CfAllocator
tap_arena_allocator(TapArena *ar)
{
	CfAllocator a;

	ar->blocks = NULL;
	ar->n = ar->cap = ar->bytes = 0;
	a.alloc0 = tap_arena_alloc0;
	a.ctx = ar;
	return a;
}

static __attribute__((unused)) void
tap_arena_free_all(TapArena *ar)
{
	for (size_t i = 0; i < ar->n; i++)
		free(ar->blocks[i]);
	free(ar->blocks);
	ar->blocks = NULL;
	ar->n = ar->cap = ar->bytes = 0;
}

#endif
