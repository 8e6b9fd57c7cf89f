/* SPDX-License-Identifier: BSD-3-Clause */
/* Direct O(N M) summation in the caller's order: the reference the tests and the
 * benchmark check the FMM against. */
#include <math.h>
#include <omp.h>

#include "kernels/kernels.h"
#include "tree/tree.h"

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

/* The sums run in coordinates scaled by a power of two 2^-e near the points' half-width h
 * (exact: the same bits, so the same results where nothing overflowed), so that a cloud of
 * width 1e-200 has no r^2 that underflows to a silent 0; the results are scaled back by
 * 2^-e and 2^-2e at the end. Coordinates within 2^-150 h of 0 are taken as 0, as the plans'
 * scaled coordinates are near their centre (KIFMM_SNAP, tree.h): two distinct points then
 * differ by 0 or at least 2^-202 h in each coordinate, so that no pair's 1/r^3 overflows
 * where its result would not. Only pairs closer than that move: they coincide. */
typedef struct {
  double tiny; /* KIFMM_SNAP h */
  int e;       /* h in [2^e, 2^(e+1)) */
} direct_units;

static direct_units units_of(int64_t nsrc, const double *src, int64_t ntrg, const double *trg) {
  double center[3], half;
  kifmm__bounding_box(nsrc, src, ntrg, trg, center, &half);
  direct_units u = {.tiny = half * KIFMM_SNAP, .e = half > 0 ? ilogb(half) : 0};
  return u;
}

static double unit_coordinate(double x, direct_units u) {
  return fabs(x) < u.tiny ? 0.0 : ldexp(x, -u.e);
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
  const direct_units u = units_of(nsrc, src, ntrg, trg);
  double *s;
  ALLOC(s, 4 * nsrc);
  for (int64_t i = 0; i < nsrc; i++) {
    for (int d = 0; d < 3; d++)
      s[d * nsrc + i] = unit_coordinate(src[3 * i + d], u);
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
        t[d][j] = unit_coordinate(trg[3 * (j0 + j) + d], u);
    direct_block(nsrc, s, m, t, grad != NULL, KIFMM_INV_4PI, out);
    for (int j = 0; j < m; j++) {
      pot[j0 + j] = ldexp(out[0][j], -u.e);
      if (grad)
        for (int d = 0; d < 3; d++)
          grad[3 * (j0 + j) + d] = ldexp(out[1 + d][j], -2 * u.e);
    }
  }
  free(s);
  /* as plans do: a result beyond double's range is a status, not a silent inf or NaN */
  if (!kifmm__all_finite(ntrg, pot) || (grad && !kifmm__all_finite(3 * ntrg, grad)))
    return KIFMM_ERR_NOT_REPRESENTABLE;
  return KIFMM_SUCCESS;
}
