/* SPDX-License-Identifier: BSD-3-Clause */
/* Stokeslet without its 1/(8 pi mu) (applied once to the results):
 *   u_i(y) = sum_j (delta_ik / r + r_i r_k / r^3) f_jk,  r = y - x_j,
 * 3 density and 3 value components; gradient du_i/dy_l at out[3 + 3 i + l]:
 *   (r_i f_l - f_i r_l) / r^3 + delta_il (r.f) / r^3 - 3 r_i r_l (r.f) / r^5,
 * whose trace is 0 (the flow is divergence-free). The parameter (mu) only enters the factor.
 * The direct sums run to full precision, except for acc = KIFMM_RSQRT_SINGLE, where they run
 * in single precision with double sums on the AVX-512 and AVX2 paths (single.c); there is
 * no fast form. */
#include <math.h>

#include "kernels/kernels.h"

/* K[(3i + a) + (3j + b) ldk] = delta_ab / r + r_a r_b / r^3, 0 for coincident points. */
void kifmm__stokes_matrix(double mu, int64_t nt, const double *y, int64_t ns, const double *x,
                          double *k, int64_t ldk) {
  (void)mu;
  for (int64_t j = 0; j < ns; j++)
    for (int64_t i = 0; i < nt; i++) {
      double d[3] = {y[3 * i] - x[3 * j], y[3 * i + 1] - x[3 * j + 1],
                     y[3 * i + 2] - x[3 * j + 2]};
      double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      double rinv = r2 > 0 ? 1.0 / sqrt(r2) : 0.0, r3 = rinv * rinv * rinv;
      for (int b = 0; b < 3; b++)
        for (int a = 0; a < 3; a++)
          k[(3 * i + a) + (3 * j + b) * ldk] = (a == b ? rinv : 0.0) + d[a] * d[b] * r3;
    }
}

/* ---- SIMD paths: stokes_simd.h once per instruction set ---- */
#define KIFMM_VEC 512
#include "kernels/stokes_simd.h"
#undef KIFMM_VEC
#define KIFMM_VEC 256
#include "kernels/stokes_simd.h"
#undef KIFMM_VEC

/* ---- Portable ---- */
enum { STK_CHUNK = 64 };

/* Per chunk of sources for one target: the differences, 1/r and 1/r^3 (0 at r == 0), shared
 * by all density vectors. */
typedef struct {
  double dx[STK_CHUNK], dy[STK_CHUNK], dz[STK_CHUNK], rinv[STK_CHUNK], r3[STK_CHUNK];
} stk_geo;

static void stokes_geometry(int64_t m, const double *sx, const double *sy, const double *sz,
                            double x, double y, double z, stk_geo *g) {
  for (int64_t j = 0; j < m; j++) {
    double dx = x - sx[j], dy = y - sy[j], dz = z - sz[j];
    double r2 = dx * dx + dy * dy + dz * dz, rinv = r2 > 0 ? 1.0 / sqrt(r2) : 0.0;
    g->dx[j] = dx;
    g->dy[j] = dy;
    g->dz[j] = dz;
    g->rinv[j] = rinv;
    g->r3[j] = rinv * rinv * rinv;
  }
}

/* One vector's sums over a chunk: u[3] and, with gradient, g[9] (du_i/dy_l at 3i + l). */
static void stokes_sums(int grad, int64_t m, const stk_geo *geo, const double *f, int64_t qs,
                        double *u, double *g) {
  for (int64_t j = 0; j < m; j++) {
    const double *fj = f + j * qs;
    const double d[3] = {geo->dx[j], geo->dy[j], geo->dz[j]}, rinv = geo->rinv[j];
    const double r3 = geo->r3[j];
    const double a = (d[0] * fj[0] + d[1] * fj[1] + d[2] * fj[2]) * r3; /* (r.f) / r^3 */
    for (int c = 0; c < 3; c++)
      u[c] += fj[c] * rinv + d[c] * a;
    if (!grad)
      continue;
    const double b = 3 * a * rinv * rinv; /* 3 (r.f) / r^5 */
    for (int c = 0; c < 3; c++)
      for (int l = 0; l < 3; l++)
        g[3 * c + l] += (d[c] * fj[l] - fj[c] * d[l]) * r3 + (c == l ? a : 0.0) - b * d[c] * d[l];
  }
}

static void stokes_portable(int nv, int64_t ns, const double *sx, const double *sy,
                            const double *sz, const double *q, int64_t qs, int64_t qv, int64_t nt,
                            const double *tx, const double *ty, const double *tz,
                            double *const *out, int64_t ldo) {
  const int grad = out[3] != NULL;
  stk_geo geo;
  for (int64_t i = 0; i < nt; i++)
    for (int64_t j0 = 0; j0 < ns; j0 += STK_CHUNK) {
      int64_t m = ns - j0 < STK_CHUNK ? ns - j0 : STK_CHUNK;
      stokes_geometry(m, sx + j0, sy + j0, sz + j0, tx[i], ty[i], tz[i], &geo);
      for (int v = 0; v < nv; v++) {
        double u[3] = {0, 0, 0}, g[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
        stokes_sums(grad, m, &geo, q + j0 * qs + v * qv, qs, u, g);
        const int64_t o = i + v * ldo;
        for (int c = 0; c < 3; c++)
          out[c][o] += u[c];
        for (int c = 0; grad && c < 9; c++)
          out[3 + c][o] += g[c];
      }
    }
}

void kifmm__stokes_p2p(double mu, kifmm_rsqrt acc, int nv, int64_t ns, const double *sx,
                       const double *sy, const double *sz, const double *q, int64_t qs,
                       int64_t qv, int64_t nt, const double *tx, const double *ty,
                       const double *tz, double *const *out, int64_t ldo) {
  (void)mu;
  if (nv <= 0 || ns <= 0 || nt <= 0)
    return;
  if (acc == KIFMM_RSQRT_SINGLE &&
      kifmm__stokes_p2p_single(nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out, ldo))
    return;
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    stokes_p2p_avx512(nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out, ldo);
    break;
  case KIFMM_SIMD_AVX2:
    stokes_p2p_avx2(nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out, ldo);
    break;
  default:
    stokes_portable(nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out, ldo);
    break;
  }
}
