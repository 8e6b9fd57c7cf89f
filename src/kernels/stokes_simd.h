/* SPDX-License-Identifier: BSD-3-Clause */
/* The Stokeslet direct sum on one SIMD path, included by stokes.c once per path with
 * KIFMM_VEC set (no include guard: vec.h maps the V* names to that path). Targets go in
 * blocks of VW lanes, sources in chunks whose geometry is computed once into a buffer that
 * stays in L1, then summed vector by vector. With s = r.f and a = s / r^3 the sums are
 *   u_i  += f_i / r + r_i a
 *   T    += a,  Q_il += a h_il (h_il = 3 r_i r_l / r^2, symmetric: 6),
 *   P_il += e_i f_l (e_i = r_i / r^3: 9),
 * and du_i/dy_l = P_il - P_li - Q_il + delta_il T: 25 FMAs a pair and vector, where the
 * gradient's 9 components written out term by term take about 30. */
#include "kernels/vec.h"

#ifndef KIFMM_STK_SIMD_ONCE
#define KIFMM_STK_SIMD_ONCE
/* Geometry arrays of a chunk: r (3), 1/r, 1/r^3, then with gradient e (3) and h (6). 32
 * sources x 14 arrays x 8 lanes x 8 bytes = 28 KiB: stays in L1. */
enum { STK_VCHUNK = 32, STK_NGEO = 14 };
enum { STK_DX, STK_DY, STK_DZ, STK_RINV, STK_R3, STK_EX, STK_EY, STK_EZ, STK_H };
/* Which sums a sweep over the chunk makes: AVX-512 makes all at once (19 accumulators and
 * the density fit in 32 registers); AVX2, with 16 registers, makes two sweeps. */
enum { STK_VALUES = 1, STK_TQ = 2, STK_P = 4 };
/* (i, l) -> the index of h_il among xx, xy, xz, yy, yz, zz */
static const int stk_sym[3][3] = {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}};
#endif

#define STK_AT(geo, a, j) ((geo) + VW * ((a) * STK_VCHUNK + (j)))

static VATTR void VNAME(stk_geometry)(int grad, int64_t m, const double *sx, const double *sy,
                                      const double *sz, VD x, VD y, VD z, double *geo) {
  const VD three = vset1(3.0);
  for (int64_t j = 0; j < m; j++) {
    VD d[3] = {vsub(x, vset1(sx[j])), vsub(y, vset1(sy[j])), vsub(z, vset1(sz[j]))};
    VD r2 = vfma(d[2], d[2], vfma(d[1], d[1], vmul(d[0], d[0])));
    VD rinv = vrsqrt(r2), ri2 = vmul(rinv, rinv), r3 = vmul(ri2, rinv);
    for (int c = 0; c < 3; c++)
      vstore(STK_AT(geo, STK_DX + c, j), d[c]);
    vstore(STK_AT(geo, STK_RINV, j), rinv);
    vstore(STK_AT(geo, STK_R3, j), r3);
    if (!grad)
      continue;
    for (int c = 0; c < 3; c++)
      vstore(STK_AT(geo, STK_EX + c, j), vmul(d[c], r3));
    VD t = vmul(three, ri2);
    for (int c = 0; c < 3; c++) {
      VD tc = vmul(t, d[c]);
      for (int l = c; l < 3; l++)
        vstore(STK_AT(geo, STK_H + stk_sym[c][l], j), vmul(tc, d[l]));
    }
  }
}

/* One vector over a chunk of m sources (f: its density at the chunk's first source), the
 * sums of the sweep's parts added to the outputs at off. */
VINLINE void VNAME(stk_sweep)(const int parts, int64_t m, const double *geo, const double *f,
                              int64_t qs, VMASK lanes, double *const *out, int64_t off) {
  VD u[3], t = vzero(), qq[6], p[9];
  for (int c = 0; c < 3; c++)
    u[c] = vzero();
  for (int c = 0; c < 6; c++)
    qq[c] = vzero();
  for (int c = 0; c < 9; c++)
    p[c] = vzero();
  for (int64_t j = 0; j < m; j++) {
    const double *fj = f + j * qs;
    VD fv[3] = {vset1(fj[0]), vset1(fj[1]), vset1(fj[2])};
    if (parts & (STK_VALUES | STK_TQ)) {
      VD d[3] = {vload(STK_AT(geo, STK_DX, j)), vload(STK_AT(geo, STK_DY, j)),
                 vload(STK_AT(geo, STK_DZ, j))};
      VD s = vfma(d[2], fv[2], vfma(d[1], fv[1], vmul(d[0], fv[0])));
      VD a = vmul(s, vload(STK_AT(geo, STK_R3, j)));
      VD rinv = vload(STK_AT(geo, STK_RINV, j));
      for (int c = 0; c < 3; c++)
        u[c] = vfma(d[c], a, vfma(fv[c], rinv, u[c]));
      if (parts & STK_TQ) {
        t = vadd(t, a);
        for (int c = 0; c < 6; c++)
          qq[c] = vfma(a, vload(STK_AT(geo, STK_H + c, j)), qq[c]);
      }
    }
    if (parts & STK_P)
      for (int c = 0; c < 3; c++) {
        VD e = vload(STK_AT(geo, STK_EX + c, j));
        for (int l = 0; l < 3; l++)
          p[3 * c + l] = vfma(e, fv[l], p[3 * c + l]);
      }
  }
  if (parts & STK_VALUES)
    for (int c = 0; c < 3; c++)
      vacc_lanes(out[c] + off, lanes, u[c]);
  for (int c = 0; c < 3; c++)
    for (int l = 0; l < 3; l++) {
      VD g = vzero();
      if (parts & STK_TQ)
        g = vsub(c == l ? t : g, qq[stk_sym[c][l]]);
      if (parts & STK_P)
        g = vadd(g, vsub(p[3 * c + l], p[3 * l + c]));
      if (parts & (STK_TQ | STK_P))
        vacc_lanes(out[3 + 3 * c + l] + off, lanes, g);
    }
}

/* All of a chunk's sums for one vector in one sweep where the registers allow (AVX-512). */
VINLINE void VNAME(stk_vector)(int grad, int64_t m, const double *geo, const double *f,
                               int64_t qs, VMASK lanes, double *const *out, int64_t off) {
  if (!grad)
    VNAME(stk_sweep)(STK_VALUES, m, geo, f, qs, lanes, out, off);
  else if (VW == 8)
    VNAME(stk_sweep)(STK_VALUES | STK_TQ | STK_P, m, geo, f, qs, lanes, out, off);
  else {
    VNAME(stk_sweep)(STK_VALUES | STK_TQ, m, geo, f, qs, lanes, out, off);
    VNAME(stk_sweep)(STK_P, m, geo, f, qs, lanes, out, off);
  }
}

static VATTR void VNAME(stokes_p2p)(int nv, int64_t ns, const double *sx, const double *sy,
                                    const double *sz, const double *q, int64_t qs, int64_t qv,
                                    int64_t nt, const double *tx, const double *ty,
                                    const double *tz, double *const *out, int64_t ldo) {
  const int grad = out[3] != NULL;
  double geo[STK_NGEO * STK_VCHUNK * VW] __attribute__((aligned(64)));
  for (int64_t i = 0; i < nt; i += VW) {
    const VMASK lanes = vlanes(nt - i < VW ? nt - i : VW);
    VD x = vload_lanes(tx + i, lanes), y = vload_lanes(ty + i, lanes),
       z = vload_lanes(tz + i, lanes);
    for (int64_t j0 = 0; j0 < ns; j0 += STK_VCHUNK) {
      const int64_t m = ns - j0 < STK_VCHUNK ? ns - j0 : STK_VCHUNK;
      VNAME(stk_geometry)(grad, m, sx + j0, sy + j0, sz + j0, x, y, z, geo);
      for (int v = 0; v < nv; v++)
        VNAME(stk_vector)(grad, m, geo, q + j0 * qs + v * qv, qs, lanes, out, i + v * ldo);
    }
  }
}

#undef STK_AT
