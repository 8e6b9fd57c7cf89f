/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm-p2p-bench: the near-field direct sum alone, one leaf's worth as evaluate.c calls it
 * (default 244 targets against 6600 gathered U-list sources, with gradient), on one thread
 * and the SIMD path KIFMM_SIMD selects. Prints one JSON line: min/median/max seconds of
 * --reps calls and pairs per second at the minimum. --pairs also measures the largest
 * relative error per pair: one unit charge against targets at distances 2^-150..2^150 in
 * random directions, potential and gradient against long double. --fast 1 takes the 1/r
 * the plans of low orders use (KIFMM_RSQRT_FAST: up to p12 on AVX-512, p9 on AVX2); --single 1
 * the single-precision sums (KIFMM_RSQRT_SINGLE, the lowest orders). --kernel yukawa|stokes times that
 * entry of the kernel table instead (--param: kappa, default 1; mu for Stokes), one density
 * vector; pairs per second count source-target pairs whatever the kernel's components. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) * 0x1.0p-53;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Largest relative error of single pairs, potential and gradient (each component against
 * the gradient's norm), over n targets around one unit charge at the origin. */
static void pair_errors(kifmm_rsqrt acc, int64_t n, double *ep, double *eg) {
  double *buf = malloc(sizeof(double) * (size_t)(7 * n + 4));
  double *t = buf, *pot = t + 3 * n, *g = pot + n, src[4] = {0, 0, 0, 1};
  for (int64_t i = 0; i < n; i++) {
    double d[3], s = 0;
    do { /* a uniform direction */
      s = 0;
      for (int c = 0; c < 3; c++) {
        d[c] = 2 * uniform() - 1;
        s += d[c] * d[c];
      }
    } while (s > 1 || s < 1e-4);
    double r = ldexp(1 + uniform(), (int)(uniform() * 300) - 150) / sqrt(s);
    for (int c = 0; c < 3; c++)
      t[c * n + i] = r * d[c];
  }
  memset(pot, 0, sizeof(double) * (size_t)(4 * n));
  kifmm__p2p(acc, 1, src, src + 1, src + 2, src + 3, n, t, t + n, t + 2 * n, pot, g, g + n,
             g + 2 * n);
  *ep = *eg = 0;
  for (int64_t i = 0; i < n; i++) {
    long double x = t[i], y = t[n + i], z = t[2 * n + i];
    long double r2 = x * x + y * y + z * z, rinv = 1 / sqrtl(r2), r3 = rinv * rinv * rinv;
    long double ref[3] = {-x * r3, -y * r3, -z * r3}, gn = r3 * sqrtl(r2);
    *ep = fmax(*ep, (double)fabsl((pot[i] - rinv) / rinv));
    for (int c = 0; c < 3; c++)
      *eg = fmax(*eg, (double)fabsl((g[c * n + i] - ref[c]) / gn));
  }
  free(buf);
}

int main(int argc, char **argv) {
  int64_t nt = 244, ns = 6600, pairs = 0;
  int reps = 200, grad = 1;
  kifmm_rsqrt acc = KIFMM_RSQRT_FULL;
  int32_t kernel = KIFMM_KERNEL_LAPLACE;
  double param = 1.0;
  for (int a = 1; a + 1 < argc; a += 2) {
    if (strcmp(argv[a], "--nt") == 0)
      nt = atoll(argv[a + 1]);
    else if (strcmp(argv[a], "--ns") == 0)
      ns = atoll(argv[a + 1]);
    else if (strcmp(argv[a], "--reps") == 0)
      reps = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--grad") == 0)
      grad = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--fast") == 0)
      acc = atoi(argv[a + 1]) ? KIFMM_RSQRT_FAST : KIFMM_RSQRT_FULL;
    else if (strcmp(argv[a], "--single") == 0)
      acc = atoi(argv[a + 1]) ? KIFMM_RSQRT_SINGLE : acc;
    else if (strcmp(argv[a], "--kernel") == 0)
      kernel = strcmp(argv[a + 1], "yukawa") == 0   ? KIFMM_KERNEL_YUKAWA
               : strcmp(argv[a + 1], "stokes") == 0 ? KIFMM_KERNEL_STOKES
               : strcmp(argv[a + 1], "laplace") == 0 ? KIFMM_KERNEL_LAPLACE
                                                     : -1;
    else if (strcmp(argv[a], "--param") == 0)
      param = atof(argv[a + 1]);
    else if (strcmp(argv[a], "--pairs") == 0)
      pairs = atoll(argv[a + 1]);
    else {
      fprintf(stderr,
              "usage: %s [--nt 244] [--ns 6600] [--reps 200] [--grad 1] [--fast 0|1] [--single 0|1]\n"
              "       [--pairs N]"
              "       [--kernel laplace|yukawa|stokes] [--param 1]\n",
              argv[0]);
      return 2;
    }
  }
  if (nt < 1 || ns < 1 || reps < 1) {
    fprintf(stderr, "kifmm-p2p-bench: --nt, --ns and --reps must be positive\n");
    return 2;
  }
  const kifmm_kernel *k = kifmm__kernel(kernel);
  if (!k || !k->p2p) {
    fprintf(stderr, "kifmm-p2p-bench: --kernel is laplace, yukawa or stokes\n");
    return 2;
  }
  const int sd = k->sdim, td = k->tdim;
  /* a leaf's targets in a box of side 1/16 and its U-list's sources in the 3^3 boxes around */
  double *buf = malloc(sizeof(double) * (size_t)((3 + sd) * ns + (3 + 4 * td) * nt));
  double *t = malloc(sizeof(double) * (size_t)reps);
  double *sx = buf, *sy = sx + ns, *sz = sy + ns, *q = sz + ns, *tx = q + sd * ns, *ty = tx + nt,
         *tz = ty + nt, *out = tz + nt, *outs[12];
  for (int a = 0; a < 4 * td; a++)
    outs[a] = a < td || grad ? out + a * nt : NULL;
  for (int64_t j = 0; j < 3 * ns; j++)
    sx[j] = (3 * uniform() - 1) / 16;
  for (int64_t j = 0; j < sd * ns; j++)
    q[j] = uniform() - 0.5;
  for (int64_t i = 0; i < 3 * nt; i++)
    tx[i] = uniform() / 16;
  for (int r = 0; r < reps; r++) {
    memset(out, 0, sizeof(double) * (size_t)(4 * td * nt));
    double t0 = now();
    k->p2p(param, acc, 1, ns, sx, sy, sz, q, sd, sd, nt, tx, ty, tz, outs, nt);
    t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  printf("{\"kernel\": \"%s\", \"param\": %g, \"simd\": \"%s\", \"nt\": %lld, \"ns\": %lld, \"grad\": %d, \"fast\": %d, \"single\": %d, \"reps\": %d, "
         "\"min_s\": %.6e, \"median_s\": %.6e, \"max_s\": %.6e, \"gpairs_per_s\": %.4f",
         k->name, param, kifmm__simd_name(kifmm__simd()), (long long)nt, (long long)ns, grad,
         acc == KIFMM_RSQRT_FAST, acc == KIFMM_RSQRT_SINGLE, reps, t[0], t[reps / 2], t[reps - 1],
         (double)nt * (double)ns / t[0] * 1e-9);
  if (pairs > 0) {
    double ep, eg;
    pair_errors(acc, pairs, &ep, &eg);
    printf(", \"pairs\": %lld, \"pair_err_pot\": %.3e, \"pair_err_grad\": %.3e",
           (long long)pairs, ep, eg);
  }
  printf("}\n");
  free(buf);
  free(t);
  return 0;
}
