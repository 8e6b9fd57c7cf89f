/* SPDX-License-Identifier: BSD-3-Clause */
/* The symmetric direct sum between two sets of points on one SIMD path, included by
 * symmetric.c once per path with KIFMM_VEC set (no include guard: vec.h maps the V* names to
 * that path). Points of A go in blocks of VW lanes; B's in chunks of SYM_CHUNK whose sums (8
 * lanes each, reduced once at the end of the chunk) stay in L1. Each pair's geometry is
 * computed once and serves both ends: K(r) = K(-r), the gradient's factor is odd. */
#include "kernels/rsqrt.h"
#include "kernels/vec.h"
#include "kernels/yukawa_pair.h"

/* Laplace's 1/r is the one-way sums' own (rsqrt.h), fast or full as they take it */
#undef SYM_LAPLACE_RINV
#if KIFMM_VEC == 512
#define SYM_LAPLACE_RINV(r2, fast) vmul(vset1(0.5), twice_rsqrt(r2, fast))
#else
#define SYM_LAPLACE_RINV(r2, fast) rsqrt_avx2(r2, fast)
#endif

#ifndef KIFMM_SYM_SIMD_ONCE
#define KIFMM_SYM_SIMD_ONCE
/* 64 points x 4 sums x 8 lanes x 8 bytes = 16 KiB */
enum { SYM_CHUNK = 64 };
#endif

/* K = exp(-kappa r)/r (kappa == 0: 1/r, a constant once inlined, with Laplace's 1/r, fast
 * where asked) and the gradient's factor with its sign turned, h = K (1 + kappa r) / r^2, so
 * that d/dy K(y - x) = -h (y - x); 0 where r2 == 0. Yukawa's is the one-way sums' pair
 * (yukawa_pair.h), its exp tp's polynomial of degree deg where deg > 0 (a constant too). */
VINLINE void VNAME(sym_geometry)(const int screened, const int fast, const int deg, VD kap,
                                 VD nx0, const kifmm_exp_taylor *tp, VD r2, VD *k, VD *h) {
  if (!screened) {
    VD rinv = SYM_LAPLACE_RINV(r2, fast);
    *k = rinv;
    *h = vmul(rinv, vmul(rinv, rinv));
    return;
  }
  VNAME(yukawa_pair)(deg, 1, kap, nx0, tp->c, r2, k, h);
}

/* One chunk of m points of B against all of A. acc holds B's sums [4][SYM_CHUNK][VW]. */
VINLINE void VNAME(sym_chunk)(const int screened, const int fast, const int deg, const int grad,
                              double kappa, const kifmm_exp_taylor *tp, int64_t na,
                              const double *ax, const double *ay, const double *az,
                              const double *qa, double *const *outa, int64_t m,
                              const double *bx, const double *by, const double *bz,
                              const double *qb, double *acc) {
  const VD kap = vset1(kappa), nx0 = vset1(-tp->x0);
  double *ap = acc, *agx = acc + SYM_CHUNK * VW, *agy = agx + SYM_CHUNK * VW,
         *agz = agy + SYM_CHUNK * VW;
  for (int64_t i = 0; i < na; i += VW) {
    const VMASK lanes = vlanes(na - i < VW ? na - i : VW);
    VD x = vload_lanes(ax + i, lanes), y = vload_lanes(ay + i, lanes),
       z = vload_lanes(az + i, lanes), qi = vload_lanes(qa + i, lanes);
    VD p = vzero(), gx = vzero(), gy = vzero(), gz = vzero();
    for (int64_t j = 0; j < m; j++) {
      VD dx = vsub(x, vset1(bx[j])), dy = vsub(y, vset1(by[j])), dz = vsub(z, vset1(bz[j]));
      VD r2 = vfma(dz, dz, vfma(dy, dy, vmul(dx, dx)));
      VD k, h;
      VNAME(sym_geometry)(screened, fast, deg, kap, nx0, tp, r2, &k, &h);
      VD qj = vset1(qb[j]);
      p = vfma(qj, k, p);
      vstore(ap + VW * j, vfma(qi, k, vload(ap + VW * j)));
      if (grad) {
        /* A's gradient is -q_j h d, B's q_i h d with d = a - b */
        VD hj = vmul(qj, h), hi = vmul(qi, h);
        gx = vfnma(hj, dx, gx);
        gy = vfnma(hj, dy, gy);
        gz = vfnma(hj, dz, gz);
        vstore(agx + VW * j, vfma(hi, dx, vload(agx + VW * j)));
        vstore(agy + VW * j, vfma(hi, dy, vload(agy + VW * j)));
        vstore(agz + VW * j, vfma(hi, dz, vload(agz + VW * j)));
      }
    }
    vacc_lanes(outa[0] + i, lanes, p);
    if (grad) {
      vacc_lanes(outa[1] + i, lanes, gx);
      vacc_lanes(outa[2] + i, lanes, gy);
      vacc_lanes(outa[3] + i, lanes, gz);
    }
  }
}

static VATTR void VNAME(p2p_symmetric)(double kappa, const kifmm_exp_taylor *tp, int fast,
                                       int64_t na, const double *ax,
                                       const double *ay, const double *az, const double *qa,
                                       double *const *outa, int64_t nb, const double *bx,
                                       const double *by, const double *bz, const double *qb,
                                       double *const *outb) {
  const int grad = outa[1] != NULL, sums = grad ? 4 : 1;
  double acc[4 * SYM_CHUNK * VW] __attribute__((aligned(64)));
  for (int64_t j0 = 0; j0 < nb; j0 += SYM_CHUNK) {
    const int64_t m = nb - j0 < SYM_CHUNK ? nb - j0 : SYM_CHUNK;
    for (int64_t e = 0; e < sums * SYM_CHUNK * VW; e++)
      acc[e] = 0.0;
#define KIFMM_SYM_CALL(S, F, D, G)                                                             \
  VNAME(sym_chunk)(S, F, D, G, kappa, tp, na, ax, ay, az, qa, outa, m, bx + j0, by + j0,       \
                   bz + j0, qb + j0, acc)
#define KIFMM_SYM_SCREENED(D)                                                                  \
  case D:                                                                                      \
    if (grad)                                                                                  \
      KIFMM_SYM_CALL(1, 0, D, 1);                                                              \
    else                                                                                       \
      KIFMM_SYM_CALL(1, 0, D, 0);                                                              \
    break;
    if (kappa != 0.0) {
      switch (tp->deg) {
        KIFMM_EXP_TAYLOR_DEGREES(KIFMM_SYM_SCREENED)
      default:
        KIFMM_SYM_SCREENED(0)
      }
    } else if (fast) {
      if (grad)
        KIFMM_SYM_CALL(0, 1, 0, 1);
      else
        KIFMM_SYM_CALL(0, 1, 0, 0);
    } else if (grad) {
      KIFMM_SYM_CALL(0, 0, 0, 1);
    } else {
      KIFMM_SYM_CALL(0, 0, 0, 0);
    }
#undef KIFMM_SYM_SCREENED
#undef KIFMM_SYM_CALL
    for (int s = 0; s < sums; s++)
      for (int64_t j = 0; j < m; j++)
        outb[s][j0 + j] += vhsum(vload(acc + VW * (s * SYM_CHUNK + j)));
  }
}
