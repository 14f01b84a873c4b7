#include "rng.h"

#include <math.h>

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
cf_rng_seed(CfRng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t	x = seed ^ (stream * 0xd1b54a32d192ed03ULL);

	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
cf_rng_next(CfRng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
cf_rng_uniform(CfRng *rng)
{
	return (cf_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t
cf_rng_below(CfRng *rng, uint64_t n)
{
	/* Lemire's multiply-and-reject. */
	unsigned __int128 m = (unsigned __int128) cf_rng_next(rng) * n;
	uint64_t	low = (uint64_t) m;

	if (low < n)
	{
		uint64_t	threshold = -n % n;

		while (low < threshold)
		{
			m = (unsigned __int128) cf_rng_next(rng) * n;
			low = (uint64_t) m;
		}
	}
	return (uint64_t) (m >> 64);
}

double
cf_rng_normal(CfRng *rng)
{
	double		u1 = 1.0 - cf_rng_uniform(rng);	/* (0, 1]: log is finite */
	double		u2 = cf_rng_uniform(rng);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
