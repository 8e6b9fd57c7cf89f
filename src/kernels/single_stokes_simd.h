/* SPDX-License-Identifier: BSD-3-Clause */
/* The Stokeslet's single-precision sums on one SIMD path, included by single.c once per path
 * with KIFMM_VEC set, before single_simd.h, whose driver (p2p_single) calls stokes_block with
 * the sources, targets and unit it makes for every kernel (no include guard: fvec.h maps the
 * F* names to that path). The sums are those of the double loops (stokes_simd.h) in floats
 * of twice the lanes: with a = (r.f) / r^3 and e_i = r_i / r^3,
 *   u_i += f_i / r + r_i a,   Q_il += a h_il (h_il = 3 r_i r_l / r^2, symmetric: 6),
 *   A_il += e_i f_l - e_l f_i (antisymmetric: 3),
 *   du_i/dy_l = A_il - Q_il + delta_il T with T = sum a = trace(Q) / 3,
 * each sum over at most SSTK_CHUNK pairs in floats before it is added to a double sum. The
 * gradient's trace, 3T - trace(Q), is then 0 up to the rounding of T. The vectors share a
 * chunk's geometry, stored once (stokes_geometry, stokes_sweep): summing the terms straight
 * from the coordinates for one vector measured no faster (0.95 against 0.98 Gpairs/s on
 * AVX-512, 0.68 against 0.74 on AVX2, AMD EPYC Zen4). */
#include "kernels/fvec.h"

#ifndef KIFMM_SINGLE_STOKES_ONCE
#define KIFMM_SINGLE_STOKES_ONCE
/* Float sums run over SSTK_CHUNK pairs: at 32, test_precision's clouds (order 6, random
 * forces) took up to 1.8e-7 off the double velocity, near the plans' budget for single sums
 * (KIFMM_SINGLE_ERROR, 2e-7); at 16 up to 1.4e-7 (8: 1.15e-7), for 6-7 % of the pair rate.
 * Geometry arrays of a chunk: r (3), 1/r, 1/r^3, then with gradient 3/r^2 and e (3): 16
 * sources x 9 arrays x 16 lanes x 4 bytes = 9 KiB, in L1. */
enum { SSTK_CHUNK = 16, SSTK_NGEO = 9 };
enum { SSTK_DX, SSTK_DY, SSTK_DZ, SSTK_RINV, SSTK_R3, SSTK_H3, SSTK_EX, SSTK_EY, SSTK_EZ };
/* Which sums a sweep over the chunk makes: AVX-512 makes all at once (12 accumulators, the
 * density and the geometry in 32 registers); AVX2, with 16 registers, makes two sweeps. */
enum { SSTK_VALUES = 1, SSTK_Q = 2, SSTK_A = 4 };
/* (i, l) -> the index of h_il among xx, xy, xz, yy, yz, zz */
static const int sstk_sym[3][3] = {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}};
#endif

#define SSTK_AT(geo, a, k) ((geo) + FW * ((a) * SSTK_CHUNK + (k)))

/* The geometry of sources j .. e of fs (single_geometry's layout and near-pair rule) against
 * a block of targets t, into geo from its row 0. Lanes not far (closer than c2, or padding at
 * a source) get 1/r = 0, so every term of theirs is 0; the near ones go the double way at once
 * (single_stokes_near_pairs). */
FINLINE void FNAME(stokes_geometry)(const int grad, const FV *t, unsigned lanes, FV c2,
                                    int64_t j, int64_t e, const float *fs, int64_t j0,
                                    const single_io *io, int64_t i, float *geo) {
  const float *xh = fs, *yh = xh + SINGLE_BLOCK, *zh = yh + SINGLE_BLOCK,
              *xl = zh + SINGLE_BLOCK, *yl = xl + SINGLE_BLOCK, *zl = yl + SINGLE_BLOCK;
  const FV half = fset1(0.5f), three = fset1(3.0f);
  for (int64_t k = 0; j < e; j++, k++) {
    const FV d[3] = {fadd(fsub(t[0], fset1(xh[j])), fsub(t[3], fset1(xl[j]))),
                     fadd(fsub(t[1], fset1(yh[j])), fsub(t[4], fset1(yl[j]))),
                     fadd(fsub(t[2], fset1(zh[j])), fsub(t[5], fset1(zl[j])))};
    const FV r2 = ffma(d[2], d[2], ffma(d[1], d[1], fmul(d[0], d[0])));
    const FFAR far = ffar(r2, c2);
    const FV rinv = fmul(frsqrt2(r2, far), half), ri2 = fmul(rinv, rinv), r3 = fmul(ri2, rinv);
    for (int c = 0; c < 3; c++)
      fstore(SSTK_AT(geo, SSTK_DX + c, k), d[c]);
    fstore(SSTK_AT(geo, SSTK_RINV, k), rinv);
    fstore(SSTK_AT(geo, SSTK_R3, k), r3);
    if (grad) {
      fstore(SSTK_AT(geo, SSTK_H3, k), fmul(three, ri2));
      for (int c = 0; c < 3; c++)
        fstore(SSTK_AT(geo, SSTK_EX + c, k), fmul(d[c], r3));
    }
    unsigned near = fnear_bits(far) & lanes;
    if (__builtin_expect(near != 0, 0) && (near = single_apart(io, i, j0 + j, near)))
      single_stokes_near_pairs(io, i, j0 + j, near);
  }
}

/* The sweep's float sums of the parts added to a vector's d (12 x FW doubles: values, then
 * du_i/dy_l at 3 + 3 i + l). */
FINLINE void FNAME(stokes_flush)(const int parts, const FV *u, const FV *qq, const FV *an,
                                 double *d) {
  if (parts & SSTK_VALUES)
    for (int c = 0; c < 3; c++)
      fflush(d + c * FW, u[c]);
  if (parts & SSTK_Q) { /* T = sum a = trace(Q) / 3 (h's trace is 3): du_ii/dy_i = T - Q_ii */
    const FV t = fmul(fset1(1.0f / 3.0f), fadd(qq[0], fadd(qq[3], qq[5])));
    for (int c = 0; c < 3; c++)
      for (int l = 0; l < 3; l++)
        fflush(d + (3 + 3 * c + l) * FW, c == l ? fsub(t, qq[sstk_sym[c][l]])
                                                : fsub(fzero(), qq[sstk_sym[c][l]]));
  }
  if (parts & SSTK_A)
    for (int c = 0; c < 3; c++) {
      const int i = c >> 1, l = 1 + ((c + 1) >> 1);
      fflush(d + (3 + 3 * i + l) * FW, an[c]);
      fflush(d + (3 + 3 * l + i) * FW, fsub(fzero(), an[c]));
    }
}

/* A pair's terms of Q (a h_il = b r_i r_l with b = 3 a / r^2) and of A (e_i f_l - e_l f_i for
 * il = 01, 02, 12). */
FINLINE void FNAME(stokes_q)(FV b, const FV *dd, FV *qq) {
  for (int c = 0; c < 3; c++) {
    const FV bc = fmul(b, dd[c]);
    for (int l = c; l < 3; l++)
      qq[sstk_sym[c][l]] = ffma(bc, dd[l], qq[sstk_sym[c][l]]);
  }
}
FINLINE void FNAME(stokes_a)(FV ex, FV ey, FV ez, const FV *fv, FV *an) {
  an[0] = ffnma(ey, fv[0], ffma(ex, fv[1], an[0]));
  an[1] = ffnma(ez, fv[0], ffma(ex, fv[2], an[1]));
  an[2] = ffnma(ez, fv[1], ffma(ey, fv[2], an[2]));
}

/* One vector's sums of the sweep's parts over the chunk's m sources (f: its three density
 * rows at the chunk's first source), added to its d (12 x FW doubles: values, then du_i/dy_l
 * at 3 + 3 i + l). */
FINLINE void FNAME(stokes_sweep)(const int parts, int64_t m, const float *geo, const float *f0,
                                 const float *f1, const float *f2, double *d) {
  FV u[3], qq[6], an[3];
  for (int c = 0; c < 3; c++)
    u[c] = an[c] = fzero();
  for (int c = 0; c < 6; c++)
    qq[c] = fzero();
  for (int64_t k = 0; k < m; k++) {
    const FV fv[3] = {fset1(f0[k]), fset1(f1[k]), fset1(f2[k])};
    if (parts & (SSTK_VALUES | SSTK_Q)) {
      const FV dd[3] = {fload(SSTK_AT(geo, SSTK_DX, k)), fload(SSTK_AT(geo, SSTK_DY, k)),
                        fload(SSTK_AT(geo, SSTK_DZ, k))};
      const FV a = fmul(ffma(dd[2], fv[2], ffma(dd[1], fv[1], fmul(dd[0], fv[0]))),
                        fload(SSTK_AT(geo, SSTK_R3, k)));
      if (parts & SSTK_VALUES) {
        const FV rinv = fload(SSTK_AT(geo, SSTK_RINV, k));
        for (int c = 0; c < 3; c++)
          u[c] = ffma(dd[c], a, ffma(fv[c], rinv, u[c]));
      }
      if (parts & SSTK_Q)
        FNAME(stokes_q)(fmul(fload(SSTK_AT(geo, SSTK_H3, k)), a), dd, qq);
    }
    if (parts & SSTK_A)
      FNAME(stokes_a)(fload(SSTK_AT(geo, SSTK_EX, k)), fload(SSTK_AT(geo, SSTK_EY, k)),
                      fload(SSTK_AT(geo, SSTK_EZ, k)), fv, an);
  }
  FNAME(stokes_flush)(parts, u, qq, an, d);
}

/* A block of targets against the m sources of fs (the first is source j0 of the call), into
 * d: per vector 12 x FW doubles. The geometry of a chunk once, then each vector's sums from
 * it, the same operations in the same order whatever the number of vectors. */
FINLINE void FNAME(stokes_block)(const int grad, const FV *t, unsigned lanes, FV c2, int64_t m,
                                 const float *fs, int64_t j0, const single_io *io, int64_t i,
                                 double *d) {
  float geo[SSTK_NGEO * SSTK_CHUNK * FW] __attribute__((aligned(64)));
  for (int64_t c0 = 0; c0 < m; c0 += SSTK_CHUNK) {
    const int64_t e = m - c0 < SSTK_CHUNK ? m : c0 + SSTK_CHUNK;
    FNAME(stokes_geometry)(grad, t, lanes, c2, c0, e, fs, j0, io, i, geo);
    for (int v = 0; v < io->nv; v++) {
      const float *f = fs + (6 + 3 * v) * SINGLE_BLOCK + c0;
      double *dv = d + 12 * FW * v;
      if (!grad)
        FNAME(stokes_sweep)(SSTK_VALUES, e - c0, geo, f, f + SINGLE_BLOCK,
                            f + 2 * SINGLE_BLOCK, dv);
      else if (FW == 16)
        FNAME(stokes_sweep)(SSTK_VALUES | SSTK_Q | SSTK_A, e - c0, geo, f, f + SINGLE_BLOCK,
                            f + 2 * SINGLE_BLOCK, dv);
      else {
        FNAME(stokes_sweep)(SSTK_VALUES | SSTK_Q, e - c0, geo, f, f + SINGLE_BLOCK,
                            f + 2 * SINGLE_BLOCK, dv);
        FNAME(stokes_sweep)(SSTK_A, e - c0, geo, f, f + SINGLE_BLOCK, f + 2 * SINGLE_BLOCK, dv);
      }
    }
  }
}

#undef SSTK_AT
