/* SPDX-License-Identifier: BSD-3-Clause */
/* Direct sums between two sets of points that are each other's targets and sources (a near
 * field where targets are the sources): one evaluation of a pair's geometry serves both of
 * its ends, Newton's third law. For the scalar kernels of degree -1 whose value is even in
 * the difference and whose gradient is odd: Laplace (kappa == 0) and Yukawa. Laplace's 1/r is
 * that of its one-way sums (rsqrt.h: fast where acc asks, the portable path's 1/sqrt), so the
 * two differ in the order of their additions only; Yukawa's is full, as in yukawa.c. */
#include <math.h>

#include "kernels/kernels.h"

#define KIFMM_VEC 512
#include "kernels/symmetric_simd.h"
#undef KIFMM_VEC
#define KIFMM_VEC 256
#include "kernels/symmetric_simd.h"
#undef KIFMM_VEC

/* K = exp(-kappa r)/r and g = -K (1 + kappa r)/r^2 as on the SIMD paths; 0 at r2 == 0. */
static void pair_geometry(double kappa, double r2, double *k, double *g) {
  if (!(r2 > 0)) {
    *k = *g = 0.0;
    return;
  }
  double r = sqrt(r2), rinv = 1.0 / r;
  if (kappa == 0.0) {
    *k = rinv;
    *g = -rinv * rinv * rinv;
    return;
  }
  double kr = fmin(kappa * r, 750.0);
  *k = exp(-kr) * rinv;
  *g = -(*k + *k * kr) * (rinv * rinv);
}

static void symmetric_portable(double kappa, int64_t na, const double *ax, const double *ay,
                               const double *az, const double *qa, double *const *outa,
                               int64_t nb, const double *bx, const double *by,
                               const double *bz, const double *qb, double *const *outb) {
  const int grad = outa[1] != NULL;
  for (int64_t i = 0; i < na; i++) {
    double p = 0, gx = 0, gy = 0, gz = 0;
    for (int64_t j = 0; j < nb; j++) {
      double dx = ax[i] - bx[j], dy = ay[i] - by[j], dz = az[i] - bz[j], k, g;
      pair_geometry(kappa, dx * dx + dy * dy + dz * dz, &k, &g);
      p += qb[j] * k;
      outb[0][j] += qa[i] * k;
      if (grad) {
        double gj = qb[j] * g, gi = qa[i] * g;
        gx += gj * dx;
        gy += gj * dy;
        gz += gj * dz;
        outb[1][j] -= gi * dx;
        outb[2][j] -= gi * dy;
        outb[3][j] -= gi * dz;
      }
    }
    outa[0][i] += p;
    if (grad) {
      outa[1][i] += gx;
      outa[2][i] += gy;
      outa[3][i] += gz;
    }
  }
}

void kifmm__p2p_symmetric(double kappa, kifmm_rsqrt acc, int64_t na, const double *ax, const double *ay,
                          const double *az, const double *qa, double *const *outa, int64_t nb,
                          const double *bx, const double *by, const double *bz,
                          const double *qb, double *const *outb) {
  if (na <= 0 || nb <= 0)
    return;
  const int fast = acc != KIFMM_RSQRT_FULL;
  kifmm_exp_taylor tp = {0};
  if (kappa != 0.0 && kifmm__simd() != KIFMM_SIMD_PORTABLE)
    kifmm__exp_taylor_for(kappa, 0, na, (const double *const[]){ax, ay, az}, nb,
                          (const double *const[]){bx, by, bz}, &tp);
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    p2p_symmetric_avx512(kappa, &tp, fast, na, ax, ay, az, qa, outa, nb, bx, by, bz, qb, outb);
    break;
  case KIFMM_SIMD_AVX2:
    p2p_symmetric_avx2(kappa, &tp, fast, na, ax, ay, az, qa, outa, nb, bx, by, bz, qb, outb);
    break;
  default:
    symmetric_portable(kappa, na, ax, ay, az, qa, outa, nb, bx, by, bz, qb, outb);
    break;
  }
}
