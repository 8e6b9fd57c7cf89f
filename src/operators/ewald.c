/* SPDX-License-Identifier: BSD-3-Clause */
/* The far field of a periodic cell's images as one operator (src/operators/): the potential
 * at the root's downward check points of unit densities at its upward equivalent points,
 * summed over every image of the cell beyond the root's neighbours (|k|_inf >= 2 along the
 * periodic axes), by Ewald sums less the near images. The passes apply it once per
 * evaluation at the root (src/plan/periodic.c); the lists cover the near images.
 *
 * Lattice sums of the kernel 1/r (the 1/(4 pi) comes at the end, as everywhere) in the unit
 * cell (side 1), with G(r) = sum over the images k of 1/|r + k| in each geometry's sense:
 *   3 periodic axes: Ewald with tin-foil boundary and the k = 0 term dropped, a single
 *     charge neutralised by a uniform background (the G of tests/periodic/ewald.h's ewald3d);
 *   2 periodic axes (slab): Ewald with the exact k = 0 term, less a divergent constant that
 *     no neutral system sees (ewald2d's);
 *   1 periodic axis (line): Ewald with the incomplete-Bessel k-space and the Ein k = 0 term,
 *     less a divergent constant likewise (sum1d's).
 * What the operator holds is G_far(r) = G(r) - sum_{|k|_inf <= 1} 1/|r + k|, and in 3D less
 * also the background's quadratic (2 pi / 3) |r|^2 (src/plan/periodic.c adds that part from
 * the charges' exact moments): what is left is harmonic in the root's neighbourhood, so its
 * values at the check surface are those of the multipole's equivalent density to the
 * accuracy of an M2L at transfer vector 2.
 *
 * Real space: erfc(alpha s) / s over the images within EWALD_XI / alpha; for the near images
 * the 1/s subtracted makes it -erf(alpha s) / s, smooth where s -> 0 (check and equivalent
 * points coincide at the cube's corners). Reciprocal space: the modes with a non-zero
 * component along some periodic axis; along a free axis the mode is continuous, and its
 * integral is taken by the trapezoidal rule with spacing 2 pi / Z, which is exactly the
 * periodic sum with period Z along that axis (Poisson summation): a mode of wavenumber h >=
 * 2 pi decays as exp(-h |z|) across it, so Z = extent + 6.5 leaves exp(-2 pi 6.5) ~ 2e-18.
 * The k = 0 modes along the periodic axes (the 2D and 1D "k = 0 terms") are summed directly.
 * The reciprocal part is a product of cosine and sine matrices, cos(k.(y - x)) = cos k.y
 * cos k.x + sin k.y sin k.x: one gemm per block of wave vectors. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "operators/operators.h"

#define EWALD_XI 6.2 /* alpha r_c = k_c / (2 alpha): erfc(6.2) ~ 3e-18, exp(-6.2^2) ~ 2e-17 */
#define EWALD_ALIAS_GAP 6.5 /* period along a free axis = the points' extent + this */
#define EWALD_KBLOCK 384    /* wave vectors per gemm */
static const double PI = 3.14159265358979323846;
static const double SQRT_PI = 1.77245385090551602729;
static const double EULER_GAMMA = 0.57721566490153286061;

static int count_periodic(const int32_t periodic[3]) {
  return (periodic[0] != 0) + (periodic[1] != 0) + (periodic[2] != 0);
}

/* The splitting parameter (unit cell): any value gives the same sums, this one balances the
 * real-space images against the reciprocal wave vectors, whose count grows as alpha^3 (and
 * as the period Z along each free axis). */
double kifmm__ewald_default_alpha(const int32_t periodic[3]) {
  int np = count_periodic(periodic);
  return np == 3 ? 4.5 : (np == 2 ? 3.0 : 2.0);
}

/* erf(x) / x, x >= 0: its series where the division would lose digits. */
static double erf_over_x(double x) {
  if (x < 1e-3) {
    double x2 = x * x;
    return 2.0 / SQRT_PI * (1.0 - x2 / 3.0 + x2 * x2 / 10.0);
  }
  return erf(x) / x;
}

/* E1(x) for x >= 1 by its continued fraction (modified Lentz), a few dozen steps at worst. */
static double expint_e1(double x) {
  const double tiny = 1e-300;
  double b = x + 1.0, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 500; i++) {
    double an = -(double)i * i;
    b += 2.0;
    d = 1.0 / (an * d + b);
    c = b + an / c;
    double del = c * d;
    h *= del;
    if (fabs(del - 1.0) < 1e-16)
      break;
  }
  return h * exp(-x);
}

/* Ein(x) = int_0^x (1 - e^-t) / t dt, x >= 0: the series up to 1 (terms fall fast, no
 * cancellation), E1(x) + ln x + gamma beyond. */
static double ein(double x) {
  if (x <= 1.0) {
    double term = x, s = 0.0;
    for (int k = 1; k < 40 && fabs(term) > 1e-18 * fabs(s); k++) {
      s += term / k;
      term *= -x / (k + 1);
    }
    return s;
  }
  return expint_e1(x) + log(x) + EULER_GAMMA;
}

/* Real space: sum over the images R (integer along the periodic axes, 0 along the others) of
 * erfc(alpha s) / s for the far ones within the cut-off and -erf(alpha s) / s for the near
 * ones (|R|_inf <= 1, whose 1/s the lists sum), s = |r + R|. */
static double real_space(const double r[3], const int32_t periodic[3], double alpha) {
  const double rc = EWALD_XI / alpha;
  int lo[3], hi[3];
  for (int d = 0; d < 3; d++) {
    lo[d] = hi[d] = 0;
    if (periodic[d]) {
      lo[d] = (int)floor(-r[d] - rc);
      hi[d] = (int)ceil(-r[d] + rc);
      lo[d] = lo[d] < -1 ? lo[d] : -1;
      hi[d] = hi[d] > 1 ? hi[d] : 1;
    }
  }
  double sum = 0.0;
  for (int a = lo[0]; a <= hi[0]; a++)
    for (int b = lo[1]; b <= hi[1]; b++)
      for (int c = lo[2]; c <= hi[2]; c++) {
        const double v[3] = {r[0] + a, r[1] + b, r[2] + c};
        double s = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        int near = abs(a) <= 1 && abs(b) <= 1 && abs(c) <= 1;
        if (near)
          sum -= alpha * erf_over_x(alpha * s);
        else if (s < rc)
          sum += erfc(alpha * s) / s;
      }
  return sum;
}

/* The terms of the k = 0 modes along the periodic axes, and in 3D the background's quadratic
 * taken out (see the file comment). */
static double zero_modes(const double r[3], const int32_t periodic[3], double alpha) {
  int np = count_periodic(periodic);
  if (np == 3)
    return -PI / (alpha * alpha) - 2.0 * PI / 3.0 * (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  if (np == 2) { /* the free axis z: the smeared sheet less its divergent constant */
    double z = !periodic[0] ? r[0] : (!periodic[1] ? r[1] : r[2]), az = alpha * z;
    return -2.0 * PI * (z * erf(az) + exp(-az * az) / (alpha * SQRT_PI));
  }
  /* one periodic axis: the smeared line less its divergent constant, which would depend on
   * alpha (-Ein(alpha^2 rho^2) ~ -ln(alpha^2 rho^2) - gamma far out): ln(alpha^2) makes the
   * sum -2 ln(rho) - gamma + o(1) far from the line, whatever alpha */
  double rho2 = 0.0;
  for (int d = 0; d < 3; d++)
    rho2 += periodic[d] ? 0.0 : r[d] * r[d];
  return -ein(alpha * alpha * rho2) + 2.0 * log(alpha);
}

/* The wave vectors: k_d = 2 pi m_d / L_d (L_d = 1 along a periodic axis, the aliasing period
 * along a free one) with some periodic m_d != 0, |k| < k_c, one of each +-k pair; w[] gets
 * 2 (4 pi / V) exp(-k^2 / (4 alpha^2)) / k^2 (2 for the pair, V the product of the L_d).
 * Returns the count, or only counts when k is NULL. */
static int64_t wave_vectors(const int32_t periodic[3], const double period[3], double alpha,
                            double *k, double *w) {
  const double kc = 2.0 * alpha * EWALD_XI, vol = period[0] * period[1] * period[2];
  int mmax[3];
  for (int d = 0; d < 3; d++)
    mmax[d] = (int)floor(kc * period[d] / (2.0 * PI));
  int64_t nk = 0;
  for (int a = 0; a <= mmax[0]; a++)
    for (int b = -mmax[1]; b <= mmax[1]; b++)
      for (int c = -mmax[2]; c <= mmax[2]; c++) {
        if (a == 0 && (b < 0 || (b == 0 && c <= 0)))
          continue; /* the other half, and k = 0 */
        const int m[3] = {a, b, c};
        int along = 0;
        for (int d = 0; d < 3; d++)
          along |= periodic[d] && m[d] != 0;
        double kv[3], k2 = 0.0;
        for (int d = 0; d < 3; d++) {
          kv[d] = 2.0 * PI * m[d] / period[d];
          k2 += kv[d] * kv[d];
        }
        if (!along || k2 >= kc * kc)
          continue;
        if (k) {
          memcpy(k + 3 * nk, kv, sizeof(kv));
          w[nk] = 2.0 * 4.0 * PI / vol * exp(-k2 / (4.0 * alpha * alpha)) / k2;
        }
        nk++;
      }
  return nk;
}

/* cos and sin of k.p for a block of nb wave vectors: out[i + j ld] = s_j cos(k_j.p_i),
 * out[i + (nb + j) ld] = s_j sin(k_j.p_i), s the scale (the weights, or 1). */
static void phases(int64_t np, const double *p, int nb, const double *k, const double *scale,
                   double *out, int64_t ld) {
#pragma omp for schedule(static)
  for (int64_t i = 0; i < np; i++)
    for (int j = 0; j < nb; j++) {
      const double *kj = k + 3 * j;
      double a = kj[0] * p[3 * i] + kj[1] * p[3 * i + 1] + kj[2] * p[3 * i + 2];
      double s = scale ? scale[j] : 1.0;
      out[i + j * ld] = s * cos(a);
      out[i + (nb + j) * ld] = s * sin(a);
    }
}

/* The period along each free axis: the extent of y - x there plus the aliasing gap. */
static void alias_periods(int64_t nt, const double *y, int64_t ns, const double *x,
                          const int32_t periodic[3], double period[3]) {
  for (int d = 0; d < 3; d++) {
    double ylo = INFINITY, yhi = -INFINITY, xlo = INFINITY, xhi = -INFINITY;
    for (int64_t i = 0; i < nt; i++) {
      ylo = fmin(ylo, y[3 * i + d]);
      yhi = fmax(yhi, y[3 * i + d]);
    }
    for (int64_t j = 0; j < ns; j++) {
      xlo = fmin(xlo, x[3 * j + d]);
      xhi = fmax(xhi, x[3 * j + d]);
    }
    period[d] = periodic[d] ? 1.0 : fmax(yhi - xlo, xhi - ylo) + EWALD_ALIAS_GAP;
  }
}

/* k += the reciprocal part, block after block of wave vectors; each thread adds the products
 * of its own columns. */
static int reciprocal(int64_t nt, const double *y, int64_t ns, const double *x,
                      const int32_t periodic[3], double alpha, int nthreads, double *k,
                      int64_t ldk) {
  double period[3];
  alias_periods(nt, y, ns, x, periodic, period);
  int64_t nk = wave_vectors(periodic, period, alpha, NULL, NULL);
  double *kv = NULL, *w = NULL, *cy = NULL, *cx = NULL;
  int status = kifmm__calloc((void **)&kv, (size_t)(3 * nk + 3), sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&w, (size_t)(nk + 1), sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&cy, (size_t)(2 * EWALD_KBLOCK * nt), sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&cx, (size_t)(2 * EWALD_KBLOCK * ns), sizeof(double));
  if (status == KIFMM_SUCCESS) {
    wave_vectors(periodic, period, alpha, kv, w);
    int blas = kifmm__blas_threads_push(); /* BLAS from every thread: one BLAS thread each */
#pragma omp parallel num_threads(nthreads)
    {
      int nth = omp_get_num_threads(), me = omp_get_thread_num();
      int64_t j0 = ns * me / nth, j1 = ns * (me + 1) / nth;
      for (int64_t k0 = 0; k0 < nk; k0 += EWALD_KBLOCK) {
        int nb = (int)(nk - k0 < EWALD_KBLOCK ? nk - k0 : EWALD_KBLOCK);
        phases(nt, y, nb, kv + 3 * k0, w + k0, cy, nt);
        phases(ns, x, nb, kv + 3 * k0, NULL, cx, ns);
        if (j1 > j0)
          kifmm__gemm('N', 'T', (int)nt, (int)(j1 - j0), 2 * nb, 1.0, cy, (int)nt, cx + j0, (int)ns,
                      1.0, k + j0 * ldk, (int)ldk);
#pragma omp barrier
      }
    }
    kifmm__blas_threads_pop(blas);
  }
  free(kv);
  free(w);
  free(cy);
  free(cx);
  return status;
}

int kifmm__ewald_far_matrix(int64_t nt, const double *y, int64_t ns, const double *x,
                            const int32_t periodic[3], double alpha, int nthreads, double *k,
                            int64_t ldk) {
  if (!(alpha > 0.0))
    alpha = kifmm__ewald_default_alpha(periodic);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
  for (int64_t j = 0; j < ns; j++)
    for (int64_t i = 0; i < nt; i++) {
      const double r[3] = {y[3 * i] - x[3 * j], y[3 * i + 1] - x[3 * j + 1],
                           y[3 * i + 2] - x[3 * j + 2]};
      k[i + j * ldk] = real_space(r, periodic, alpha) + zero_modes(r, periodic, alpha);
    }
  return reciprocal(nt, y, ns, x, periodic, alpha, nthreads, k, ldk);
}

int kifmm__periodic_far_compute(int order, const int32_t periodic[3], int nthreads, double *p) {
  const double o[3] = {0, 0, 0};
  const int q = kifmm__check_order(order);
  const int n = kifmm__surface_count(order), nc = kifmm__surface_count(q);
  double *pts;
  ALLOC(pts, 3 * (n + nc));
  kifmm__surface(q, KIFMM_RATIO_INNER(order), 1.0, o, pts);              /* downward check */
  kifmm__surface(order, KIFMM_RATIO_INNER(order), 1.0, o, pts + 3 * nc); /* upward equivalent */
  int status = kifmm__ewald_far_matrix(nc, pts, n, pts + 3 * nc, periodic, 0.0, nthreads, p, nc);
  free(pts);
  return status;
}
