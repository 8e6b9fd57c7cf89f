/* SPDX-License-Identifier: BSD-3-Clause */
/* Direct O(N M) summation in the caller's order: the reference the tests and the
 * benchmark check the FMM against. */
#include <math.h>
#include <omp.h>

#include "internal.h"

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
  const double scale = KIFMM_INV_4PI;
  int nt = num_threads > 0 ? num_threads : omp_get_max_threads();
  /* targets in SoA blocks so the vectorized sum fills its lanes */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t j0 = 0; j0 < ntrg; j0 += 64) {
    int m = (int)(ntrg - j0 < 64 ? ntrg - j0 : 64);
    double t[3][64], p[64] = {0}, g[3][64] = {{0}};
    for (int j = 0; j < m; j++)
      for (int d = 0; d < 3; d++)
        t[d][j] = trg[3 * (j0 + j) + d];
    kifmm__p2p(KIFMM_RSQRT_FULL, nsrc, s, s + nsrc, s + 2 * nsrc, s + 3 * nsrc, m, t[0], t[1], t[2],
               p, grad ? g[0] : NULL, g[1], g[2]);
    for (int j = 0; j < m; j++) {
      pot[j0 + j] = scale * p[j];
      if (grad)
        for (int d = 0; d < 3; d++)
          grad[3 * (j0 + j) + d] = scale * g[d][j];
    }
  }
  free(s);
  return KIFMM_SUCCESS;
}
