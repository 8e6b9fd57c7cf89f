/* SPDX-License-Identifier: BSD-3-Clause */
/* The single-precision Laplace sums on one SIMD path, included by single.c once per path with
 * KIFMM_VEC set (no include guard: fvec.h maps the F* names to that path). Targets go in
 * blocks of FW lanes, the sources of a block in chunks of SINGLE_CHUNK whose float sums are
 * then added to double ones (d), so that no float sum runs over more than SINGLE_CHUNK terms. */
#include "kernels/fvec.h"

/* The largest coordinate difference of n points from o, at least m. */
FINLINE double FNAME(extent)(const double *x, const double *y, const double *z, int64_t n,
                             const double *o, double m) {
  return fmaxabs(z, n, o[2], fmaxabs(y, n, o[1], fmaxabs(x, n, o[0], m)));
}

/* The unit of a one-way call (origin at its first target); 0 where it has nothing to add. */
FINLINE int FNAME(single_unit_of)(const single_io *io, single_unit *u) {
  u->o[0] = io->tx[0];
  u->o[1] = io->ty[0];
  u->o[2] = io->tz[0];
  double ext = FNAME(extent)(io->sx, io->sy, io->sz, io->ns, u->o, 0.0), qmax = 0.0;
  ext = FNAME(extent)(io->tx, io->ty, io->tz, io->nt, u->o, ext);
  for (int v = 0; v < io->nv; v++)
    for (int b = 0; b < io->sdim; b++)
      qmax = io->qs == 1 ? fmaxabs(io->q + v * io->qv, io->ns, 0.0, qmax)
                         : max_abs(io->q + v * io->qv + b, io->ns, io->qs, 0.0, qmax);
  return unit_scales(ext, qmax, u);
}


/* The first pass over sources j .. e of fs (x, y, z as high and low floats, then q, each
 * SINGLE_BLOCK apart) for a block of targets t (x, y, z high, then low; lanes: the valid
 * ones as bits): K into rr and, with gradient, the differences into rr + SINGLE_CHUNK FW (x),
 * 2 SINGLE_CHUNK FW (y), 3 SINGLE_CHUNK FW (z), FW apart a source; K = R = 2/r for Laplace
 * (yuk = 0), K = E R with E = exp(-kappa r) for Yukawa (kap: kappa in the unit), which also
 * stores G = E (1 + kappa r) R^3 at rr + 4 SINGLE_CHUNK FW (Laplace's pass 2 makes R^3 from
 * R). kappa r is at most 4 times the unit's 2 sqrt 3 (p2p_single), so the float exp loses
 * no more than that many of its roundings to the float r. A difference is (high - high) +
 * (low - low): within a float's rounding of itself, however close the pair. Pairs closer than c2 (squared: at
 * distance 0, or so close that R^3 could overflow) get 0 and go the double way at once
 * (single_near_pairs; source j0 + j of the call). Two passes, as in the double loops
 * (laplace.c): with the sums in the same loop the chain from coordinates to sums is longer
 * than the out-of-order window covers. */
FINLINE void FNAME(single_geometry)(const int grad, const int yuk, const int deg, const FV *t,
                                    unsigned lanes, FV c2, FV kap, const float *fc, int64_t j,
                                    int64_t e, const float *fs,
                                    int64_t j0, const single_io *io, int64_t i, float *rr) {
  const float *xh = fs, *yh = xh + SINGLE_BLOCK, *zh = yh + SINGLE_BLOCK,
              *xl = zh + SINGLE_BLOCK, *yl = xl + SINGLE_BLOCK, *zl = yl + SINGLE_BLOCK;
  for (float *r = rr; j < e; j++, r += FW) {
    FV dx = fadd(fsub(t[0], fset1(xh[j])), fsub(t[3], fset1(xl[j])));
    FV dy = fadd(fsub(t[1], fset1(yh[j])), fsub(t[4], fset1(yl[j])));
    FV dz = fadd(fsub(t[2], fset1(zh[j])), fsub(t[5], fset1(zl[j])));
    FV r2 = ffma(dz, dz, ffma(dy, dy, fmul(dx, dx)));
    FFAR far = ffar(r2, c2);
    FV big_r = frsqrt2(r2, far);
    if (yuk) { /* kappa r = (kappa / 2) r2 R; G = E (1 + kappa r) R^3 = K R (R + 2 kappa) */
      const FV r2r = fmul(r2, big_r), half_kap = fmul(kap, fset1(0.5f));
      FV ex, k;
      if (deg > 0)
        fexp_taylor(deg, ffma(half_kap, r2r, fset1(-fc[KIFMM_EXP_TAYLOR_DEG + 1])), fc, ex);
      else
        ex = fexpneg(fmul(half_kap, r2r));
      k = fmul(ex, big_r);
      fstore(r, k);
      if (grad)
        fstore(r + 4 * SINGLE_CHUNK * FW, fmul(fmul(k, big_r), fadd(big_r, fadd(kap, kap))));
    } else {
      fstore(r, big_r);
    }
    if (grad) {
      fstore(r + SINGLE_CHUNK * FW, dx);
      fstore(r + 2 * SINGLE_CHUNK * FW, dy);
      fstore(r + 3 * SINGLE_CHUNK * FW, dz);
    }
    unsigned near = fnear_bits(far) & lanes;
    if (__builtin_expect(near != 0, 0) && (near = single_apart(io, i, j0 + j, near)))
      single_near_pairs(io, i, j0 + j, near);
  }
}

/* A block of targets against the m sources of fs, the first of which is source j0 of the
 * call, into d: per vector 4 x FW doubles, the sums of q R and of q R^3 d with R = 2/r. The
 * geometry once (single_geometry), then the sums of each vector from it, each the same
 * operations in the same order whatever the number of vectors. */
FINLINE void FNAME(single_block)(const int grad, const int yuk, const int deg, const FV *t,
                                 unsigned lanes, FV c2, FV kap, const float *fc, int64_t m,
                                 const float *fs, int64_t j0,
                                 const single_io *io, int64_t i, double *d) {
  float rr[5 * SINGLE_CHUNK * FW] __attribute__((aligned(64)));
  const float *rx = rr + SINGLE_CHUNK * FW, *ry = rx + SINGLE_CHUNK * FW,
              *rz = ry + SINGLE_CHUNK * FW, *rg = rz + SINGLE_CHUNK * FW;
  for (int64_t c0 = 0; c0 < m; c0 += SINGLE_CHUNK) {
    const int64_t e = m - c0 < SINGLE_CHUNK ? m : c0 + SINGLE_CHUNK;
    FNAME(single_geometry)(grad, yuk, deg, t, lanes, c2, kap, fc, c0, e, fs, j0, io, i, rr);
    for (int v = 0; v < io->nv; v++) {
      const float *fq = fs + (6 + v) * SINGLE_BLOCK;
      FV p = fzero(), ax = fzero(), ay = fzero(), az = fzero();
      for (int64_t j = c0; j < e; j++) {
        const int64_t k = FW * (j - c0);
        FV r = fload(rr + k);
        FV qr = fmul(fset1(fq[j]), r);
        p = fadd(p, qr);
        if (grad) {
          FV qr3 = yuk ? fmul(fset1(fq[j]), fload(rg + k)) : fmul(qr, fmul(r, r));
          ax = ffnma(qr3, fload(rx + k), ax);
          ay = ffnma(qr3, fload(ry + k), ay);
          az = ffnma(qr3, fload(rz + k), az);
        }
      }
      double *dv = d + 4 * FW * v;
      fflush(dv, p);
      if (grad) {
        fflush(dv + FW, ax);
        fflush(dv + 2 * FW, ay);
        fflush(dv + 3 * FW, az);
      }
    }
  }
}

/* 0 where Yukawa's screening over the call's extent is too strong for the float exp
 * (nothing added: the caller goes the double way), 1 otherwise. Stokes (sdim 3) takes its
 * own block loops (single_stokes_simd.h) on the same sources, targets and unit. */
static FATTR int FNAME(p2p_single)(const single_io *io) {
  single_unit unit, *u = &unit;
  if (!FNAME(single_unit_of)(io, u))
    return 1; /* nothing to add */
  if (io->kappa / u->s > SINGLE_KAPPA_UNIT)
    return 0;
  const int grad = io->out[io->sdim] != NULL, stokes = io->sdim == 3;
  double fp, fg;
  single_scales(io, u, &fp, &fg);
  const FV c2 = fset1(SINGLE_NEAR * SINGLE_NEAR);
  const FV kap = fset1((float)(io->kappa / u->s)); /* the unit's lengths are s times the caller's */
  float fc[KIFMM_EXP_TAYLOR_DEG + 2]; /* the polynomial's coefficients, then x0 */
  for (int k = 0; k <= io->tp.deg; k++)
    fc[k] = (float)io->tp.c[k];
  fc[KIFMM_EXP_TAYLOR_DEG + 1] = (float)io->tp.x0;
  float fs[(6 + SINGLE_VGROUP) * SINGLE_BLOCK] __attribute__((aligned(64)));
  float tf[6 * FW] __attribute__((aligned(64)));
  double d[SINGLE_VGROUP * 4 * FW] __attribute__((aligned(64)));
  for (int64_t j0 = 0; j0 < io->ns; j0 += SINGLE_BLOCK) {
    const int64_t m = io->ns - j0 < SINGLE_BLOCK ? io->ns - j0 : SINGLE_BLOCK;
    single_sources(io, u, j0, m, fs);
    for (int64_t i = 0; i < io->nt; i += FW) {
      const int nl = io->nt - i < FW ? (int)(io->nt - i) : FW;
      single_targets(io, u, i, nl, FW, tf);
      const FV t[6] = {fload(tf), fload(tf + FW), fload(tf + 2 * FW),
                       fload(tf + 3 * FW), fload(tf + 4 * FW), fload(tf + 5 * FW)};
      for (int k = 0; k < io->nv * 4 * io->sdim * FW; k++) /* 4 sdim doubles a vector, FW apart */
        d[k] = 0.0;
      const unsigned lanes = (1u << nl) - 1u;
      /* one copy of the loops for each kernel and gradient flag, both constants there */
      if (stokes && grad)
        FNAME(stokes_block)(1, t, lanes, c2, m, fs, j0, io, i, d);
      else if (stokes)
        FNAME(stokes_block)(0, t, lanes, c2, m, fs, j0, io, i, d);
      else if (io->kappa > 0.0) {
#define KIFMM_SINGLE_YUK(D)                                                                    \
  case D:                                                                                      \
    if (grad)                                                                                  \
      FNAME(single_block)(1, 1, D, t, lanes, c2, kap, fc, m, fs, j0, io, i, d);                \
    else                                                                                       \
      FNAME(single_block)(0, 1, D, t, lanes, c2, kap, fc, m, fs, j0, io, i, d);                \
    break;
        switch (io->tp.deg) {
          KIFMM_EXP_TAYLOR_DEGREES_SINGLE(KIFMM_SINGLE_YUK)
        default:
          KIFMM_SINGLE_YUK(0)
        }
#undef KIFMM_SINGLE_YUK
      } else if (grad)
        FNAME(single_block)(1, 0, 0, t, lanes, c2, kap, fc, m, fs, j0, io, i, d);
      else
        FNAME(single_block)(0, 0, 0, t, lanes, c2, kap, fc, m, fs, j0, io, i, d);
      single_results(io, i, nl, FW, fp, fg, d);
    }
  }
  return 1;
}
