/*
 * idmap.h — external id (int8) → dense index hash table, PostgreSQL's
 * simplehash instantiated once for the dataset and the server.
 */
#ifndef CFREC_IDMAP_H
#define CFREC_IDMAP_H

#include "postgres.h"

/* A 64-bit finalizer (splitmix64's): ids are often dense, so mix well. */
static inline uint32
cf_idmap_hash_id(int64 id)
{
	uint64		z = (uint64) id;

	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return (uint32) (z ^ (z >> 31));
}

typedef struct CfIdEntry
{
	int64		id;
	int32		index;
	char		status;
} CfIdEntry;

#define SH_PREFIX cf_idmap
#define SH_ELEMENT_TYPE CfIdEntry
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) cf_idmap_hash_id(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#endif
