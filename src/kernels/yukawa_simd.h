/* SPDX-License-Identifier: BSD-3-Clause */
/* The Yukawa direct sum on one SIMD path, included by yukawa.c once per path with KIFMM_VEC
 * set (no include guard: vec.h maps the V* names to that path). Targets go in blocks of VW
 * lanes, sources in chunks whose geometry (K = exp(-kappa r)/r, and with gradient the factor
 * h = K (1 + kappa r) / r^2 of -h d) is computed once into a buffer that stays in L1, then
 * summed for each group of density vectors, the differences d recomputed there (3 adds,
 * beside the multipliers the loop is bound by): against storing h d, 3 multiplies and 2 stores
 * fewer a pair, 1.14x (AVX-512) and 1.16x (AVX2) for one vector, the same multiplies for 3. */
#include "kernels/vec.h"
#include "kernels/yukawa_pair.h"

#ifndef KIFMM_YUK_SIMD_ONCE
#define KIFMM_YUK_SIMD_ONCE
/* 64 sources x 2 arrays x 8 lanes x 8 bytes = 8 KiB: stays in L1. */
enum { YUK_VCHUNK = 64, YUK_GROUP = 4 };
#endif

/* Geometry of m sources against the VW targets (x, y, z), see above, the exp as tp's
 * polynomial of degree deg where deg > 0, a constant once inlined (yukawa_pair.h). */
VINLINE void VNAME(yuk_geometry)(const int deg, int grad, double kappa,
                                 const kifmm_exp_taylor *tp, int64_t m, const double *sx,
                                 const double *sy, const double *sz, VD x, VD y, VD z,
                                 double *geo) {
  const VD kap = vset1(kappa), nx0 = vset1(-tp->x0);
#pragma GCC unroll 2 /* two pairs' chains interleaved: 1.12x (AVX-512), 1.19x (AVX2) */
  for (int64_t j = 0; j < m; j++) {
    VD dx = vsub(x, vset1(sx[j])), dy = vsub(y, vset1(sy[j])), dz = vsub(z, vset1(sz[j]));
    VD k, h;
    VNAME(yukawa_pair)(deg, grad, kap, nx0, tp->c, vfma(dz, dz, vfma(dy, dy, vmul(dx, dx))), &k,
                       &h);
    vstore(geo + VW * j, k);
    if (grad)
      vstore(geo + VW * (YUK_VCHUNK + j), h);
  }
}

/* A chunk's geometry by tp's polynomial where it has one, else by the full exp: one copy of
 * the loop for each degree (KIFMM_EXP_TAYLOR_DEGREES). */
static VATTR void VNAME(yuk_chunk_geometry)(int grad, double kappa, const kifmm_exp_taylor *tp,
                                            int64_t m, const double *sx, const double *sy,
                                            const double *sz, VD x, VD y, VD z, double *geo) {
  switch (tp->deg) {
#define KIFMM_YUK_DEGREE(D)                                                                    \
  case D:                                                                                      \
    VNAME(yuk_geometry)(D, grad, kappa, tp, m, sx, sy, sz, x, y, z, geo);                      \
    return;
    KIFMM_EXP_TAYLOR_DEGREES(KIFMM_YUK_DEGREE)
#undef KIFMM_YUK_DEGREE
  default:
    VNAME(yuk_geometry)(0, grad, kappa, tp, m, sx, sy, sz, x, y, z, geo);
  }
}

/* G vectors (a compile-time constant once inlined, so the sums are registers) over one chunk
 * of m sources; q points at the chunk's first source and the group's first vector. */
VINLINE void VNAME(yuk_group)(const int G, const int grad, int64_t m, const double *geo,
                              const double *sx, const double *sy, const double *sz, VD x,
                              VD y, VD z, const double *q, int64_t qs, int64_t qv,
                              VMASK lanes, double *const *out, int64_t off, int64_t ldo) {
  VD p[YUK_GROUP], ax[YUK_GROUP], ay[YUK_GROUP], az[YUK_GROUP];
  for (int g = 0; g < G; g++)
    p[g] = ax[g] = ay[g] = az[g] = vzero();
  for (int64_t j = 0; j < m; j++) {
    VD k = vload(geo + VW * j), h = vzero(), dx = h, dy = h, dz = h;
    if (grad) {
      h = vload(geo + VW * (YUK_VCHUNK + j));
      dx = vsub(x, vset1(sx[j])), dy = vsub(y, vset1(sy[j])), dz = vsub(z, vset1(sz[j]));
    }
    for (int g = 0; g < G; g++) {
      VD c = vset1(q[j * qs + g * qv]);
      p[g] = vfma(c, k, p[g]);
      if (grad) {
        VD ch = vmul(c, h);
        ax[g] = vfnma(ch, dx, ax[g]);
        ay[g] = vfnma(ch, dy, ay[g]);
        az[g] = vfnma(ch, dz, az[g]);
      }
    }
  }
  for (int g = 0; g < G; g++) {
    int64_t o = off + g * ldo;
    vacc_lanes(out[0] + o, lanes, p[g]);
    if (grad) {
      vacc_lanes(out[1] + o, lanes, ax[g]);
      vacc_lanes(out[2] + o, lanes, ay[g]);
      vacc_lanes(out[3] + o, lanes, az[g]);
    }
  }
}

/* The group size and the gradient flag as constants, one copy of the loop each. */
VINLINE void VNAME(yuk_groups)(int grad, int nv, int64_t m, const double *geo,
                               const double *sx, const double *sy, const double *sz, VD x,
                               VD y, VD z, const double *q, int64_t qs, int64_t qv,
                               VMASK lanes, double *const *out, int64_t off, int64_t ldo) {
  for (int v0 = 0; v0 < nv; v0 += YUK_GROUP) {
    const int g = nv - v0 < YUK_GROUP ? nv - v0 : YUK_GROUP;
    const double *qg = q + v0 * qv;
    const int64_t o = off + v0 * ldo;
#define KIFMM_YUK_CASE(G)                                                                      \
  case G:                                                                                      \
    if (grad)                                                                                  \
      VNAME(yuk_group)(G, 1, m, geo, sx, sy, sz, x, y, z, qg, qs, qv, lanes, out, o, ldo);      \
    else                                                                                       \
      VNAME(yuk_group)(G, 0, m, geo, sx, sy, sz, x, y, z, qg, qs, qv, lanes, out, o, ldo);      \
    break;
    switch (g) {
      KIFMM_YUK_CASE(1)
      KIFMM_YUK_CASE(2)
      KIFMM_YUK_CASE(3)
    default:
      KIFMM_YUK_CASE(4)
    }
#undef KIFMM_YUK_CASE
  }
}

static VATTR void VNAME(yukawa_p2p)(double kappa, const kifmm_exp_taylor *tp, int nv, int64_t ns, const double *sx,
                                    const double *sy, const double *sz, const double *q,
                                    int64_t qs, int64_t qv, int64_t nt, const double *tx,
                                    const double *ty, const double *tz, double *const *out,
                                    int64_t ldo) {
  const int grad = out[1] != NULL;
  double geo[2 * YUK_VCHUNK * VW] __attribute__((aligned(64)));
  for (int64_t i = 0; i < nt; i += VW) {
    const VMASK lanes = vlanes(nt - i < VW ? nt - i : VW);
    VD x = vload_lanes(tx + i, lanes), y = vload_lanes(ty + i, lanes),
       z = vload_lanes(tz + i, lanes);
    for (int64_t j0 = 0; j0 < ns; j0 += YUK_VCHUNK) {
      const int64_t m = ns - j0 < YUK_VCHUNK ? ns - j0 : YUK_VCHUNK;
      VNAME(yuk_chunk_geometry)(grad, kappa, tp, m, sx + j0, sy + j0, sz + j0, x, y, z, geo);
      VNAME(yuk_groups)(grad, nv, m, geo, sx + j0, sy + j0, sz + j0, x, y, z, q + j0 * qs, qs,
                        qv, lanes, out, i, ldo);
    }
  }
}
