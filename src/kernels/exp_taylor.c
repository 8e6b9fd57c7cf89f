/* SPDX-License-Identifier: BSD-3-Clause */
/* exp(-x) over a short interval as a polynomial about the midpoint, for the Yukawa sums whose
 * pairs' kappa r all lie in an interval known before the sum (yukawa.c, symmetric.c,
 * single.c): a leaf against its neighbours, or a box against its check or equivalent surface,
 * spans kappa times a few box sides. There a polynomial of degree 8 to 16 costs 9 to 17
 * vector ops a pair, where the full exp costs 26 (range reduction, degree 13, scaling, and
 * the Newton step on r that its whole range needs): Yukawa's double pairs 1.6-1.9x faster
 * (kifmm-p2p-bench); in single precision degree 4 to 8 where the full float exp costs 13.
 * The polynomial is the Taylor polynomial of degree n + 2 with its two highest terms folded
 * into the lower ones by Chebyshev economization (t^k less the monic Chebyshev polynomial
 * of degree k on [-a, a], whose size there is a^k / 2^(k-1)): degree n then serves about
 * twice the half-width the Taylor polynomial of degree n does (n = 8: 0.116 against 0.064),
 * two degrees fewer a pair where an interval is given. */
#include <math.h>

#include "kernels/kernels.h"

/* The degrees tried, lowest first (kernels.h), 0 after: in double each 2 degrees cost about
 * 7 % of a pair. None may pass KIFMM_EXP_TAYLOR_DEG, the size of kifmm_exp_taylor's c. */
#define DEGREE_ENTRY(n) n,
#define DEGREE_FITS(n) _Static_assert((n) <= KIFMM_EXP_TAYLOR_DEG, "degree past c[]");
static const int degrees_double[] = {KIFMM_EXP_TAYLOR_DEGREES(DEGREE_ENTRY) 0};
static const int degrees_single[] = {KIFMM_EXP_TAYLOR_DEGREES_SINGLE(DEGREE_ENTRY) 0};
KIFMM_EXP_TAYLOR_DEGREES(DEGREE_FITS)
KIFMM_EXP_TAYLOR_DEGREES_SINGLE(DEGREE_FITS)
#undef DEGREE_FITS
#undef DEGREE_ENTRY

/* A bound on the relative error of the degree-n polynomial over [x0 - a, x0 + a]: the
 * remainder of Taylor's degree N = n + 2, a^(N+1)/(N+1)!, and the two folded terms, a^N /
 * (N! 2^(N-1)) and a^(N-1) / ((N-1)! 2^(N-2)), each times exp(-(x0 - a)), relative to
 * exp(-(x0 + a)): times e^(2a). The polynomial serves where it is below 2^-54 (double: half
 * an ulp) or 2^-25 (single); measured within 2.8 ulps of exp with its rounding (Horner's). */
static double economized_error(int n, double a) {
  const int N = n + 2;
  double t = 1.0; /* a^k / k! */
  for (int k = 1; k <= N - 1; k++)
    t *= a / k;
  const double folded1 = t / ldexp(1.0, N - 2), folded0 = t * a / N / ldexp(1.0, N - 1);
  const double rest = t * a / N * a / (N + 1);
  return exp(2 * a) * (rest + folded0 + folded1);
}

/* c[0..N] (Taylor's, degree N) less c[k] times the monic Chebyshev polynomial of degree k on
 * [-a, a], for k = N and N - 1: c[N] = c[N - 1] = 0 after. T_k's coefficients by the
 * recurrence T_k = 2 u T_(k-1) - T_(k-2), two rows kept: those of T_N and T_(N-1) at the end. */
static void economize(int N, double a, double *c) {
  double rows[2][KIFMM_EXP_TAYLOR_DEG + 3] = {{1.0}, {0.0, 1.0}}; /* T_(k-1), T_k: k = 1 */
  double *prev = rows[0], *cur = rows[1];
  for (int k = 2; k <= N; k++) { /* T_k into prev's row, then swap: prev T_(k-1), cur T_k */
    for (int j = 0; j <= k; j++)
      prev[j] = (j > 0 ? 2 * cur[j - 1] : 0.0) - prev[j];
    double *t = prev;
    prev = cur;
    cur = t;
  }
  for (int k = N; k >= N - 1; k--) {
    const double *tk = k == N ? cur : prev;
    /* c[k] t^k ~ c[k] (t^k - a^k T_k(t/a) / 2^(k-1)): j-th coefficient c[k] a^(k-j) T_kj / 2^(k-1) */
    const double f = c[k] / ldexp(1.0, k - 1);
    double ak = 1.0; /* a^(k - j), j from k down */
    for (int j = k; j >= 0; j--, ak *= a)
      if (j < k && tk[j] != 0.0)
        c[j] -= f * ak * tk[j];
    c[k] = 0.0;
  }
}

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
  const double eps = single ? 0x1p-25 : 0x1p-54;
  for (const int *n = single ? degrees_single : degrees_double; *n > 0; n++)
    if (economized_error(*n, half) <= eps) {
      tp->deg = *n;
      break;
    }
  if (tp->deg == 0)
    return;
  tp->x0 = lo + half;
  const int N = tp->deg + 2;
  double c[KIFMM_EXP_TAYLOR_DEG + 3], d = exp(-tp->x0);
  for (int k = 0; k <= N; k++) { /* exp(-x0) (-1)^k / k!: the derivatives of exp(-x) */
    c[k] = d;
    d = -d / (k + 1);
  }
  economize(N, half, c);
  for (int k = 0; k <= tp->deg; k++)
    tp->c[k] = c[k];
}
