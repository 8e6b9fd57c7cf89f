/* SPDX-License-Identifier: BSD-3-Clause */
/* Yukawa (screened Coulomb) kernel exp(-kappa r) / r, the 1/(4 pi) applied once to the
 * results; kappa is the kernel's parameter in the caller's (here: scaled) units. Value 1
 * component, gradient d/dy = -(1 + kappa r) exp(-kappa r) (y - x) / r^3. kappa == 0 is the
 * Laplace kernel and runs its code, so the two agree bit for bit there. Terms whose
 * exp(-kappa r) underflows are exactly 0 (never NaN). The direct sums run to full precision
 * except for acc = KIFMM_RSQRT_SINGLE, where they run in single precision with double sums
 * (single.c) on the AVX-512 and AVX2 paths; a faster, less accurate 1/r (KIFMM_RSQRT_FAST)
 * is ignored here, as the exp's cost would hide what it saves. */
#include <math.h>

#include "kernels/kernels.h"

/* K[i + j ldk] = exp(-kappa r) / r, 0 for coincident points. */
void kifmm__yukawa_matrix(double kappa, int64_t nt, const double *y, int64_t ns, const double *x,
                          double *k, int64_t ldk) {
  if (kappa == 0.0) {
    kifmm__kernel_matrix(nt, y, ns, x, k, ldk);
    return;
  }
  for (int64_t j = 0; j < ns; j++)
    for (int64_t i = 0; i < nt; i++) {
      double dx = y[3 * i] - x[3 * j], dy = y[3 * i + 1] - x[3 * j + 1],
             dz = y[3 * i + 2] - x[3 * j + 2];
      double r2 = dx * dx + dy * dy + dz * dz, r = sqrt(r2);
      k[i + j * ldk] = r2 > 0 ? exp(-kappa * r) / r : 0.0;
    }
}

/* ---- SIMD paths: yukawa_simd.h once per instruction set ---- */
#define KIFMM_VEC 512
#include "kernels/yukawa_simd.h"
#undef KIFMM_VEC
#define KIFMM_VEC 256
#include "kernels/yukawa_simd.h"
#undef KIFMM_VEC

/* ---- Portable ---- */
enum { YUK_CHUNK = 64 };

/* The geometry of a chunk of m sources for one target: K = exp(-kappa r)/r and, with
 * gradient, the factor -K (1 + kappa r)/r^2 times each difference, shared by all vectors. */
static void yukawa_geometry(double kappa, int grad, int64_t m, const double *sx,
                            const double *sy, const double *sz, double x, double y, double z,
                            double *k, double *gx, double *gy, double *gz) {
  for (int64_t j = 0; j < m; j++) {
    double dx = x - sx[j], dy = y - sy[j], dz = z - sz[j];
    double r2 = dx * dx + dy * dy + dz * dz;
    if (!(r2 > 0)) {
      k[j] = gx[j] = gy[j] = gz[j] = 0.0;
      continue;
    }
    /* kappa r past 750 gives exp 0 anyway; clamped, K kappa r is 0 too (not 0 * inf) */
    double r = sqrt(r2), rinv = 1.0 / r, kr = fmin(kappa * r, 750.0);
    double kj = exp(-kr) * rinv; /* underflows to 0 cleanly for large kappa r */
    k[j] = kj;
    if (grad) {
      double g = -(kj + kj * kr) * (rinv * rinv);
      gx[j] = g * dx;
      gy[j] = g * dy;
      gz[j] = g * dz;
    }
  }
}

static void yukawa_portable(double kappa, int nv, int64_t ns, const double *sx, const double *sy,
                            const double *sz, const double *q, int64_t qs, int64_t qv, int64_t nt,
                            const double *tx, const double *ty, const double *tz,
                            double *const *out, int64_t ldo) {
  const int grad = out[1] != NULL;
  double k[YUK_CHUNK], gx[YUK_CHUNK], gy[YUK_CHUNK], gz[YUK_CHUNK];
  for (int64_t i = 0; i < nt; i++)
    for (int64_t j0 = 0; j0 < ns; j0 += YUK_CHUNK) {
      int64_t m = ns - j0 < YUK_CHUNK ? ns - j0 : YUK_CHUNK;
      yukawa_geometry(kappa, grad, m, sx + j0, sy + j0, sz + j0, tx[i], ty[i], tz[i], k, gx, gy,
                      gz);
      for (int v = 0; v < nv; v++) {
        const double *c = q + j0 * qs + v * qv;
        double p = 0, ax = 0, ay = 0, az = 0;
        for (int64_t j = 0; j < m; j++) {
          p += c[j * qs] * k[j];
          if (grad) {
            ax += c[j * qs] * gx[j];
            ay += c[j * qs] * gy[j];
            az += c[j * qs] * gz[j];
          }
        }
        int64_t o = i + v * ldo;
        out[0][o] += p;
        if (grad) {
          out[1][o] += ax;
          out[2][o] += ay;
          out[3][o] += az;
        }
      }
    }
}

void kifmm__yukawa_p2p(double kappa, kifmm_rsqrt acc, int nv, int64_t ns, const double *sx,
                       const double *sy, const double *sz, const double *q, int64_t qs,
                       int64_t qv, int64_t nt, const double *tx, const double *ty,
                       const double *tz, double *const *out, int64_t ldo) {
  if (nv <= 0 || ns <= 0 || nt <= 0)
    return;
  if (kappa == 0.0) { /* Laplace itself, bit for bit */
    kifmm__p2p_many(acc, nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out[0], out[1],
                    out[1] ? out[2] : NULL, out[1] ? out[3] : NULL, ldo);
    return;
  }
  if (acc == KIFMM_RSQRT_SINGLE &&
      kifmm__p2p_single(kappa, nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out[0], out[1],
                        out[1] ? out[2] : NULL, out[1] ? out[3] : NULL, ldo))
    return;
  kifmm_exp_taylor tp = {0};
  if (kifmm__simd() != KIFMM_SIMD_PORTABLE)
    kifmm__exp_taylor_for(kappa, 0, nt, (const double *const[]){tx, ty, tz}, ns,
                          (const double *const[]){sx, sy, sz}, &tp);
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    yukawa_p2p_avx512(kappa, &tp, nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out, ldo);
    break;
  case KIFMM_SIMD_AVX2:
    yukawa_p2p_avx2(kappa, &tp, nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out, ldo);
    break;
  default:
    yukawa_portable(kappa, nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out, ldo);
    break;
  }
}
