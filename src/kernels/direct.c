/* SPDX-License-Identifier: BSD-3-Clause */
/* Direct O(N M) summation in the caller's order: the reference the tests and the
 * benchmark check the FMM against. */
#include <math.h>
#include <omp.h>

#include "kernels/kernels.h"

/* The sums run over the sources in chunks, and the chunks' partial sums are added with their
 * rounding errors carried along (Neumaier's compensated sum). One accumulator over all
 * sources loses about eps sqrt(N) of a sum whose terms have both signs: 1e6 random charges,
 * 3.6e-14 relative l2 against long double, as much as the error of the p16 FMM it checks;
 * in chunks of 1024 the error is that of one chunk. */
enum { DIRECT_CHUNK = 1024, DIRECT_TARGETS = 64 };

typedef struct {
  double sum, carry;
} csum;

static void csum_add(csum *c, double x) {
  double t = c->sum + x;
  c->carry += fabs(c->sum) >= fabs(x) ? (c->sum - t) + x : (x - t) + c->sum;
  c->sum = t;
}

/* Potentials (and gradients: grad != NULL) of m <= DIRECT_TARGETS targets t (SoA) from the
 * sources s (SoA with the charges after z), times scale, into out (4 rows of m). */
static void direct_block(int64_t nsrc, const double *s, int m, double t[3][DIRECT_TARGETS],
                         int grad, double scale, double out[4][DIRECT_TARGETS]) {
  csum acc[4][DIRECT_TARGETS] = {{{0, 0}}};
  const double *sx = s, *sy = s + nsrc, *sz = s + 2 * nsrc, *q = s + 3 * nsrc;
  for (int64_t c0 = 0; c0 < nsrc; c0 += DIRECT_CHUNK) {
    int64_t n = nsrc - c0 < DIRECT_CHUNK ? nsrc - c0 : DIRECT_CHUNK;
    double part[4][DIRECT_TARGETS] = {{0}};
    kifmm__p2p(KIFMM_RSQRT_FULL, n, sx + c0, sy + c0, sz + c0, q + c0, m, t[0], t[1], t[2],
               part[0], grad ? part[1] : NULL, part[2], part[3]);
    for (int r = 0; r < (grad ? 4 : 1); r++)
      for (int j = 0; j < m; j++)
        csum_add(&acc[r][j], part[r][j]);
  }
  for (int r = 0; r < (grad ? 4 : 1); r++)
    for (int j = 0; j < m; j++)
      out[r][j] = scale * (acc[r][j].sum + acc[r][j].carry);
}

int kifmm_direct(int64_t nsrc, const double *src, const double *charges, int64_t ntrg,
                 const double *trg, double *pot, double *grad, int num_threads) {
  if (nsrc < 0 || ntrg < 0)
    return KIFMM_ERR_INVALID_COUNT;
  if ((nsrc > 0 && (!src || !charges)) || (ntrg > 0 && (!trg || !pot)))
    return KIFMM_ERR_NULL_ARGUMENT;
  if (num_threads < 0)
    return KIFMM_ERR_INVALID_THREADS;
  if (!kifmm__all_finite(3 * nsrc, src) || !kifmm__all_finite(3 * ntrg, trg))
    return KIFMM_ERR_NONFINITE_COORDINATE;
  if (!kifmm__all_finite(nsrc, charges))
    return KIFMM_ERR_NONFINITE_CHARGE;
  double *s;
  ALLOC(s, 4 * nsrc);
  for (int64_t i = 0; i < nsrc; i++) {
    s[i] = src[3 * i];
    s[nsrc + i] = src[3 * i + 1];
    s[2 * nsrc + i] = src[3 * i + 2];
    s[3 * nsrc + i] = charges[i];
  }
  int nt = num_threads > 0 ? num_threads : omp_get_max_threads();
  /* targets in SoA blocks so the vectorized sum fills its lanes */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t j0 = 0; j0 < ntrg; j0 += DIRECT_TARGETS) {
    int m = (int)(ntrg - j0 < DIRECT_TARGETS ? ntrg - j0 : DIRECT_TARGETS);
    double t[3][DIRECT_TARGETS], out[4][DIRECT_TARGETS];
    for (int j = 0; j < m; j++)
      for (int d = 0; d < 3; d++)
        t[d][j] = trg[3 * (j0 + j) + d];
    direct_block(nsrc, s, m, t, grad != NULL, KIFMM_INV_4PI, out);
    for (int j = 0; j < m; j++) {
      pot[j0 + j] = out[0][j];
      if (grad)
        for (int d = 0; d < 3; d++)
          grad[3 * (j0 + j) + d] = out[1 + d][j];
    }
  }
  free(s);
  return KIFMM_SUCCESS;
}
