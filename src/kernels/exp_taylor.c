/* SPDX-License-Identifier: BSD-3-Clause */
/* exp(-x) over a short interval as its Taylor polynomial about the midpoint, for the Yukawa
 * sums whose pairs' kappa r all lie in an interval known before the sum (yukawa.c,
 * symmetric.c): a leaf against its neighbours, or a box against its check or equivalent
 * surface, spans kappa times a few box sides. There a polynomial of degree 8 to 16 costs 9 to
 * 17 vector ops a pair, where the full exp costs 26 (range reduction, degree 13, scaling, and
 * the Newton step on r that its whole range needs): Yukawa's double pairs 1.4-1.7x faster
 * (kifmm-p2p-bench); in single precision (single.c) degree 4 to 8 where the full float exp
 * costs 13. */
#include <math.h>

#include "kernels/kernels.h"

/* Each degree n with the largest half-width a of the interval it serves: the remainder
 * a^(n+1)/(n+1)! exp(-(x0 - a)), relative to exp(-(x0 + a)), i.e. times e^(2a), below 2^-54
 * in double (half an ulp), 2^-25 in single (a solved for it, then rounded down). The lowest
 * degree that serves the interval runs: in double each 2 degrees cost about 7 % of a pair. */
typedef struct {
  int deg;
  double radius;
} taylor_step;
static const taylor_step steps_double[] = {
    {8, 0.0638}, {10, 0.158}, {12, 0.303}, {14, 0.495}, {16, 0.728}, {0, 0}};
static const taylor_step steps_single[] = {{4, 0.0788}, {6, 0.263}, {8, 0.536}, {0, 0}};

/* Lowest and highest of n values. */
static void span(const double *v, int64_t n, double *lo, double *hi) {
  double a = v[0], b = v[0];
  for (int64_t i = 1; i < n; i++) {
    a = v[i] < a ? v[i] : a;
    b = v[i] > b ? v[i] : b;
  }
  *lo = a, *hi = b;
}

void kifmm__exp_taylor_for(double kappa, int single, int64_t na, const double *const *a,
                           int64_t nb, const double *const *b, kifmm_exp_taylor *tp) {
  tp->deg = 0;
  if (na <= 0 || nb <= 0)
    return;
  /* The pairs' distances lie between the boxes' gap and their farthest corners. */
  double near2 = 0, far2 = 0;
  for (int d = 0; d < 3; d++) {
    double alo, ahi, blo, bhi;
    span(a[d], na, &alo, &ahi);
    span(b[d], nb, &blo, &bhi);
    double far = fmax(ahi - blo, bhi - alo), gap = fmax(0.0, fmax(blo - ahi, alo - bhi));
    far2 += far * far;
    near2 += gap * gap;
  }
  /* kappa r is computed as kappa (r2 / r) without the full exp's Newton step on r, so an ulp
   * or so of r becomes kappa r ulps of the exp: the polynomials serve kappa r <= 1.5 only,
   * where a pair measured within 5.7 ulps of exp(-kappa r)/r (the full exp's within 9.3,
   * at kappa r up to 6; test_kernels). Non-finite bounds fail the tests. */
  double lo = kappa * sqrt(near2), hi = kappa * sqrt(far2), half = 0.5 * (hi - lo);
  if (!(hi <= KIFMM_EXP_TAYLOR_MAX))
    return;
  for (const taylor_step *s = single ? steps_single : steps_double; s->deg > 0; s++)
    if (half <= s->radius) {
      tp->deg = s->deg;
      break;
    }
  if (tp->deg == 0)
    return;
  tp->x0 = lo + half;
  double c = exp(-tp->x0);
  for (int k = 0; k <= tp->deg; k++) { /* exp(-x0) (-1)^k / k!: the derivatives of exp(-x) */
    tp->c[k] = c;
    c = -c / (k + 1);
  }
}
