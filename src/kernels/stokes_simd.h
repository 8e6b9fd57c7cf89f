/* SPDX-License-Identifier: BSD-3-Clause */
/* The Stokeslet direct sum on one SIMD path, included by stokes.c once per path with
 * KIFMM_VEC set (no include guard: vec.h maps the V* names to that path). Targets go in
 * blocks of VW lanes. With a = (r.f) / r^3 and e_i = r_i / r^3 the sums are
 *   u_i  += f_i / r + r_i a,
 *   Q_il += a h_il (h_il = 3 r_i r_l / r^2, symmetric: 6),
 *   A_il += e_i f_l - e_l f_i (antisymmetric: 3),
 * and du_i/dy_l = A_il - Q_il + delta_il T with T = sum a = trace(Q) / 3 (h's trace is 3),
 * which keeps the gradient's trace at 0 up to T's rounding. Sources go in chunks whose
 * geometry is computed once into a buffer that stays in L1 (stk_geometry), then summed
 * vector by vector (stk_sweep). The 9 products e_i f_l summed apart, T summed and h stored
 * (14 arrays) took 1.1x (AVX2) to 1.45x (AVX-512) as long (kifmm-p2p-bench --kernel stokes,
 * AMD EPYC Zen4); summing the terms straight from the coordinates for one vector measured
 * no faster on AVX-512 and 0.9x as fast on AVX2. */
#include "kernels/vec.h"

#ifndef KIFMM_STK_SIMD_ONCE
#define KIFMM_STK_SIMD_ONCE
/* Geometry arrays of a chunk: r (3), 1/r, 1/r^3, then with gradient 3/r^2 and e (3). 32
 * sources x 9 arrays x 8 lanes x 8 bytes = 18 KiB: stays in L1. */
enum { STK_VCHUNK = 32, STK_NGEO = 9 };
enum { STK_DX, STK_DY, STK_DZ, STK_RINV, STK_R3, STK_H3, STK_EX, STK_EY, STK_EZ };
/* Which sums a sweep over the chunk makes: AVX-512 makes all at once (12 accumulators, the
 * density and the geometry fit in 32 registers); AVX2, with 16 registers, makes two sweeps. */
enum { STK_VALUES = 1, STK_Q = 2, STK_A = 4 };
/* (i, l) -> the index of h_il among xx, xy, xz, yy, yz, zz */
static const int stk_sym[3][3] = {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}};
#endif

#define STK_AT(geo, a, j) ((geo) + VW * ((a) * STK_VCHUNK + (j)))

/* A pair's terms of Q (a h_il = b r_i r_l with b = 3 a / r^2) and of A (il = 01, 02, 12). */
VINLINE void VNAME(stk_q)(VD b, const VD *d, VD *qq) {
  for (int c = 0; c < 3; c++) {
    const VD bc = vmul(b, d[c]);
    for (int l = c; l < 3; l++)
      qq[stk_sym[c][l]] = vfma(bc, d[l], qq[stk_sym[c][l]]);
  }
}
VINLINE void VNAME(stk_a)(VD ex, VD ey, VD ez, const VD *fv, VD *an) {
  an[0] = vfnma(ey, fv[0], vfma(ex, fv[1], an[0]));
  an[1] = vfnma(ez, fv[0], vfma(ex, fv[2], an[1]));
  an[2] = vfnma(ez, fv[1], vfma(ey, fv[2], an[2]));
}

/* The sums of the parts added to the outputs at off. */
VINLINE void VNAME(stk_out)(const int parts, const VD *u, const VD *qq, const VD *an,
                            VMASK lanes, double *const *out, int64_t off) {
  if (parts & STK_VALUES)
    for (int c = 0; c < 3; c++)
      vacc_lanes(out[c] + off, lanes, u[c]);
  if (parts & STK_Q) {
    const VD t = vmul(vset1(1.0 / 3.0), vadd(qq[0], vadd(qq[3], qq[5])));
    for (int c = 0; c < 3; c++)
      for (int l = 0; l < 3; l++)
        vacc_lanes(out[3 + 3 * c + l] + off, lanes,
                   c == l ? vsub(t, qq[stk_sym[c][l]]) : vsub(vzero(), qq[stk_sym[c][l]]));
  }
  if (parts & STK_A)
    for (int c = 0; c < 3; c++) {
      const int i = c >> 1, l = 1 + ((c + 1) >> 1);
      vacc_lanes(out[3 + 3 * i + l] + off, lanes, an[c]);
      vacc_lanes(out[3 + 3 * l + i] + off, lanes, vsub(vzero(), an[c]));
    }
}

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
    vstore(STK_AT(geo, STK_H3, j), vmul(three, ri2));
    for (int c = 0; c < 3; c++)
      vstore(STK_AT(geo, STK_EX + c, j), vmul(d[c], r3));
  }
}

/* One vector over a chunk of m sources (f: its density at the chunk's first source), the
 * sums of the sweep's parts added to the outputs at off. */
VINLINE void VNAME(stk_sweep)(const int parts, int64_t m, const double *geo, const double *f,
                              int64_t qs, VMASK lanes, double *const *out, int64_t off) {
  VD u[3], qq[6], an[3];
  for (int c = 0; c < 3; c++)
    u[c] = an[c] = vzero();
  for (int c = 0; c < 6; c++)
    qq[c] = vzero();
  for (int64_t j = 0; j < m; j++) {
    const double *fj = f + j * qs;
    const VD fv[3] = {vset1(fj[0]), vset1(fj[1]), vset1(fj[2])};
    if (parts & (STK_VALUES | STK_Q)) {
      const VD d[3] = {vload(STK_AT(geo, STK_DX, j)), vload(STK_AT(geo, STK_DY, j)),
                       vload(STK_AT(geo, STK_DZ, j))};
      const VD a = vmul(vfma(d[2], fv[2], vfma(d[1], fv[1], vmul(d[0], fv[0]))),
                        vload(STK_AT(geo, STK_R3, j)));
      if (parts & STK_VALUES) {
        const VD rinv = vload(STK_AT(geo, STK_RINV, j));
        for (int c = 0; c < 3; c++)
          u[c] = vfma(d[c], a, vfma(fv[c], rinv, u[c]));
      }
      if (parts & STK_Q)
        VNAME(stk_q)(vmul(vload(STK_AT(geo, STK_H3, j)), a), d, qq);
    }
    if (parts & STK_A)
      VNAME(stk_a)(vload(STK_AT(geo, STK_EX, j)), vload(STK_AT(geo, STK_EY, j)),
                   vload(STK_AT(geo, STK_EZ, j)), fv, an);
  }
  VNAME(stk_out)(parts, u, qq, an, lanes, out, off);
}

/* All of a chunk's sums for one vector in one sweep where the registers allow (AVX-512). */
VINLINE void VNAME(stk_vector)(int grad, int64_t m, const double *geo, const double *f,
                               int64_t qs, VMASK lanes, double *const *out, int64_t off) {
  if (!grad)
    VNAME(stk_sweep)(STK_VALUES, m, geo, f, qs, lanes, out, off);
  else if (VW == 8)
    VNAME(stk_sweep)(STK_VALUES | STK_Q | STK_A, m, geo, f, qs, lanes, out, off);
  else {
    VNAME(stk_sweep)(STK_VALUES | STK_Q, m, geo, f, qs, lanes, out, off);
    VNAME(stk_sweep)(STK_A, m, geo, f, qs, lanes, out, off);
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
