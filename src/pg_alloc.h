/*
 * pg_alloc.h — the math core's allocator, backed by a memory context, so an
 * ERROR or the end of a call frees what the math allocated.
 */
#ifndef CFREC_PG_ALLOC_H
#define CFREC_PG_ALLOC_H

#include "postgres.h"

#include "utils/memutils.h"

#include "alloc.h"

static inline void *
cf_palloc0(void *ctx, size_t bytes)
{
	return MemoryContextAllocExtended((MemoryContext) ctx, bytes,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static inline CfAllocator
cf_context_allocator(MemoryContext ctx)
{
	CfAllocator a = {cf_palloc0, ctx};

	return a;
}

#endif
