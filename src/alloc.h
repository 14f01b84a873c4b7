/*
 * alloc.h — how the math core gets memory without knowing PostgreSQL.
 *
 * The server passes an allocator backed by a memory context (so an ERROR
 * frees everything); standalone tests pass one backed by calloc.
 */
#ifndef CFREC_ALLOC_H
#define CFREC_ALLOC_H

#include <stddef.h>

typedef struct CfAllocator
{
	/* Returns zeroed memory; never returns NULL (it reports and unwinds). */
	void	   *(*alloc0) (void *ctx, size_t bytes);
	void	   *ctx;
} CfAllocator;

static inline float *
cf_alloc_floats(const CfAllocator *a, size_t n)
{
	return (float *) a->alloc0(a->ctx, n * sizeof(float));
}

#endif
