/*
 * sgemm.c — this machine's single-precision GEMM rate at the shapes of the
 * seed's network (batch B, 2E = 200 inputs, H = 500 hidden), forward and both
 * backward products, as bench/speed reports it.
 *   usage: sgemm THREADS [B]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	int			threads = argc > 1 ? atoi(argv[1]) : 1;
	int			B = argc > 2 ? atoi(argv[2]) : 1024,
				F = 200,
				H = 500;
	float	   *x = calloc((size_t) B * F, 4),
			   *W = calloc((size_t) H * F, 4),
			   *h = calloc((size_t) B * H, 4),
			   *dW = calloc((size_t) H * F, 4),
			   *dx = calloc((size_t) B * F, 4);
	double		t,
				flops;
	int			reps = 0;

	openblas_set_num_threads(threads);
	for (long i = 0; i < (long) B * F; i++)
		x[i] = (i % 7) * 0.1f;
	for (long i = 0; i < (long) H * F; i++)
		W[i] = (i % 5) * 0.1f;
	t = now();
	while (now() - t < 3.0)
	{
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, F, 1, x, F, W, F, 0, h, H);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, F, B, 1, h, H, x, F, 0, dW, F);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, F, H, 1, h, H, W, F, 0, dx, F);
		reps++;
	}
	t = now() - t;
	flops = 3.0 * 2.0 * B * F * H * reps;
	printf("%.1f\n", flops / t / 1e9);
	return 0;
}
