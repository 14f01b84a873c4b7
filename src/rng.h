/*
 * rng.h — a small, seedable pseudo-random generator (xoshiro256**).
 *
 * Owns every random draw of training, so that the same seed gives the same
 * model on every machine: no libc rand(), no global state.
 */
#ifndef CFREC_RNG_H
#define CFREC_RNG_H

#include <stdint.h>

typedef struct CfRng
{
	uint64_t	s[4];
} CfRng;

/* Seeds the generator; `stream` separates independent sequences of one seed. */
void		cf_rng_seed(CfRng *rng, uint64_t seed, uint64_t stream);
uint64_t	cf_rng_next(CfRng *rng);
/* Uniform in [0, 1). */
double		cf_rng_uniform(CfRng *rng);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t	cf_rng_below(CfRng *rng, uint64_t n);
/* Standard normal (Box-Muller). */
double		cf_rng_normal(CfRng *rng);

#endif
