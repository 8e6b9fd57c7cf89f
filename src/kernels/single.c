/* SPDX-License-Identifier: BSD-3-Clause */
/* Laplace's and Yukawa's direct sums in single precision with double sums
 * (KIFMM_RSQRT_SINGLE), for the orders whose own error is far above a float's: twice the lanes
 * of the double loops (and for Yukawa a float exp in place of a double one).
 * What keeps each pair within a float's rounding of its double value:
 * - coordinates are taken relative to the call's first target and scaled by a power of two
 *   to at most 1 (the unit), each as two floats, its rounding and what that leaves out: the
 *   difference of two points, (high - high) + (low - low), is then within a float's rounding
 *   of itself however close the points. With one float a coordinate, the differences of
 *   near pairs carried 2^-24 of the unit, about three leaves: the gradient of a cube's
 *   points, dominated by their nearest neighbours, was 1e-5 off the double one.
 * - charges are scaled to at most 1 likewise; both scales are undone exactly.
 * - pairs closer than SINGLE_NEAR of the unit (so close that q R^3 could overflow, or at
 *   distance 0) go the double way (single_near_pairs), after coincident points (equal
 *   coordinates: they add nothing) are dropped in the loop (single_apart): where targets are
 *   the sources every target meets itself, and a call for each cost 0.1 s in 1e6.
 * - float sums run over at most SINGLE_CHUNK terms before they are added to double sums.
 * - Yukawa: kappa in the unit at most SINGLE_KAPPA_UNIT, else the call goes the double way. */
#include <math.h>

#include "kernels/kernels.h"

/* Pairs closer than 2^-20 of the unit go the double way: R = 2/r stays below 2^21, so that q R^3
 * (q <= 1) stays far from a float's overflow. */
#define SINGLE_NEAR 0x1p-20f

/* Yukawa in single precision only where kappa times the unit's length (1/s, at least the
 * call's largest coordinate difference) is at most this, so that kappa r <= 4 * 2 sqrt 3 =
 * 13.9 for every pair: an exp's relative error is kappa r times that of r (a float's
 * rounding or two), and larger kappa r would also take exp below a float's range. Stronger
 * screening over a call goes the double way. */
#define SINGLE_KAPPA_UNIT 4.0

/* Vectors of charges one pass over the pairs' geometry serves (SINGLE_VGROUP at most). */
enum { SINGLE_BLOCK = 512, SINGLE_CHUNK = 64, SINGLE_VGROUP = 8 };

/* The helpers below are inlined into the loops of each SIMD path (single_simd.h), whose
 * target attribute then vectorizes them at that path's width: compiled for the baseline
 * instruction set, scanning and converting a call's points cost as much as its pairs at
 * leaves of 60 points. */
#define SINGLE_INLINE static inline __attribute__((always_inline))

/* One call's points and results, in the caller's units, for nv vectors (SINGLE_VGROUP at
 * most, SINGLE_VGROUP / 3 for Stokes): density component b of vector v at source j
 * q[j qs + v qv + b], b < sdim; value component a of vector v at target i out[a][i + v ldo],
 * then the gradients (Laplace, Yukawa: out[1..3] = d/dx, d/dy, d/dz; Stokes: du_a/dy_l at
 * out[3 + 3 a + l]), out[sdim] NULL for the values alone. */
typedef struct {
  double kappa; /* Yukawa's screening in the caller's units; 0: Laplace (or Stokes) */
  int sdim;     /* 1: Laplace, Yukawa; 3: Stokes (3 densities, 3 values) */
  int64_t ns, nt;
  int nv;
  int64_t qs, qv, ldo;
  const double *sx, *sy, *sz, *q, *tx, *ty, *tz;
  double *out[4 * KIFMM_MAX_KDIM];
  kifmm_exp_taylor tp; /* Yukawa's exp as a polynomial where tp.deg > 0 (exp_taylor.c) */
} single_io;

/* The unit of the float coordinates: origin o, scale s (a power of two, 1/s at least the
 * largest coordinate difference from o), charge scale w (a power of two). Powers of two
 * scale a float sum exactly, so the unit does not change a result's bits: a vector's results
 * are the same alone or beside others. */
typedef struct {
  double o[3], s, w;
} single_unit;

/* The scales of the unit for the largest coordinate difference ext and charge qmax; 0 where
 * there is nothing to add (no charge, or every point on one). */
SINGLE_INLINE int unit_scales(double ext, double qmax, single_unit *u) {
  if (!(ext > 0.0) || !(qmax > 0.0))
    return 0;
  int e;
  frexp(ext, &e); /* ext < 2^e */
  u->s = ldexp(1.0, -e);
  frexp(qmax, &e);
  u->w = ldexp(1.0, -e);
  return 1;
}

/* The largest |x[i s] - o|, i < n, at least m (strided densities of several vectors; the
 * contiguous scans are fmaxabs, single_simd.h). */
SINGLE_INLINE double max_abs(const double *x, int64_t n, int64_t s, double o, double m) {
  for (int64_t i = 0; i < n; i++) {
    const double d = fabs(x[i * s] - o);
    m = d > m ? d : m;
  }
  return m;
}

/* A coordinate in the unit as a float and the float of what that leaves out. */
SINGLE_INLINE void split(double v, float *hi, float *lo) {
  *hi = (float)v;
  *lo = (float)(v - (double)*hi);
}

/* Sources j0 .. j0 + m in the unit, into fs: x, y, z high, then x, y, z low, then the
 * density components of each vector, each SINGLE_BLOCK apart. */
SINGLE_INLINE void single_sources(const single_io *io, const single_unit *u, int64_t j0, int64_t m,
                           float *fs) {
  const double *c[3] = {io->sx + j0, io->sy + j0, io->sz + j0};
  for (int a = 0; a < 3; a++)
    for (int64_t j = 0; j < m; j++)
      split((c[a][j] - u->o[a]) * u->s, fs + a * SINGLE_BLOCK + j,
            fs + (3 + a) * SINGLE_BLOCK + j);
  for (int v = 0; v < io->nv; v++)
    for (int b = 0; b < io->sdim; b++)
      for (int64_t j = 0; j < m; j++)
        fs[(6 + v * io->sdim + b) * SINGLE_BLOCK + j] =
            (float)(io->q[(j0 + j) * io->qs + v * io->qv + b] * u->w);
}

/* Targets i .. i + nl in the unit, into t: x, y, z high, then low, w apart (lanes past nl at
 * the origin). */
SINGLE_INLINE void single_targets(const single_io *io, const single_unit *u, int64_t i, int nl, int w,
                           float *t) {
  const double *c[3] = {io->tx + i, io->ty + i, io->tz + i};
  for (int a = 0; a < 3; a++)
    for (int l = 0; l < w; l++)
      split(l < nl ? (c[a][l] - u->o[a]) * u->s : 0.0, t + a * w + l, t + (3 + a) * w + l);
}

/* The block's sums d added to the results: per vector 4 sdim x w doubles, the sdim values
 * then the 3 sdim gradients (single_io's order), in the unit, scaled by fp and fg to the
 * caller's (single_scales). */
SINGLE_INLINE void single_results(const single_io *io, int64_t i, int nl, int w, double fp,
                                  double fg, const double *d) {
  const int nout = io->out[io->sdim] ? 4 * io->sdim : io->sdim;
  for (int v = 0; v < io->nv; v++, d += 4 * io->sdim * w) {
    const int64_t o = i + v * io->ldo;
    for (int a = 0; a < nout; a++)
      for (int l = 0; l < nl; l++)
        io->out[a][o + l] += (a < io->sdim ? fp : fg) * d[a * w + l];
  }
}

/* The factors from the unit's sums to the caller's: lengths scale by s and densities by w,
 * so values by s / w and gradients by s^2 / w; Laplace's and Yukawa's loops sum R = 2/r
 * and R^3 d (half and an eighth), Stokes' 1/r and 1/r^3. */
SINGLE_INLINE void single_scales(const single_io *io, const single_unit *u, double *fp,
                                 double *fg) {
  const double h = io->sdim == 3 ? 1.0 : 0.5;
  *fp = h * u->s / u->w;
  *fg = h * h * h * u->s * u->s / u->w;
}

/* The bits l of near whose target i + l is not source j itself (equal coordinates). */
SINGLE_INLINE unsigned single_apart(const single_io *io, int64_t i, int64_t j, unsigned near) {
  for (unsigned b = near; b; b &= b - 1u) {
    const int64_t t = i + __builtin_ctz(b);
    if (io->tx[t] == io->sx[j] && io->ty[t] == io->sy[j] && io->tz[t] == io->sz[j])
      near &= ~(b & -b);
  }
  return near;
}

/* Source j against the targets i + l for the bits l of near, in double from the caller's
 * coordinates, every vector (pairs at distance 0 add nothing): q K and q K' d / r with K =
 * 1/r, or exp(-kappa r)/r and K' = -(1 + kappa r) K / r for Yukawa. */
static __attribute__((noinline, cold)) void single_near_pairs(const single_io *io, int64_t i,
                                                              int64_t j, unsigned near) {
  for (; near; near &= near - 1u) {
    const int64_t t = i + __builtin_ctz(near);
    const double dx = io->tx[t] - io->sx[j], dy = io->ty[t] - io->sy[j],
                 dz = io->tz[t] - io->sz[j], r2 = dx * dx + dy * dy + dz * dz;
    if (!(r2 > 0.0))
      continue;
    const double r = sqrt(r2), rinv = 1.0 / r, kr = fmin(io->kappa * r, 750.0);
    const double e = io->kappa > 0.0 ? exp(-kr) : 1.0;
    for (int v = 0; v < io->nv; v++) {
      const int64_t o = t + v * io->ldo;
      const double qr = io->q[j * io->qs + v * io->qv] * e * rinv;
      io->out[0][o] += qr;
      if (io->out[1]) {
        const double qr3 = qr * (1.0 + kr) * rinv * rinv;
        io->out[1][o] -= qr3 * dx;
        io->out[2][o] -= qr3 * dy;
        io->out[3][o] -= qr3 * dz;
      }
    }
  }
}

/* Stokes' single_near_pairs: the Stokeslet of source j at the targets i + l for the bits l of
 * near, in double from the caller's coordinates (stokes.c's formulas). */
static __attribute__((noinline, cold)) void single_stokes_near_pairs(const single_io *io,
                                                                     int64_t i, int64_t j,
                                                                     unsigned near) {
  for (; near; near &= near - 1u) {
    const int64_t t = i + __builtin_ctz(near);
    const double d[3] = {io->tx[t] - io->sx[j], io->ty[t] - io->sy[j], io->tz[t] - io->sz[j]};
    const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    if (!(r2 > 0.0))
      continue;
    const double rinv = 1.0 / sqrt(r2), r3 = rinv * rinv * rinv;
    for (int v = 0; v < io->nv; v++) {
      const double *f = io->q + j * io->qs + v * io->qv;
      const double a = (d[0] * f[0] + d[1] * f[1] + d[2] * f[2]) * r3, b = 3.0 * a * rinv * rinv;
      const int64_t o = t + v * io->ldo;
      for (int c = 0; c < 3; c++)
        io->out[c][o] += f[c] * rinv + d[c] * a;
      for (int c = 0; io->out[3] && c < 3; c++)
        for (int l = 0; l < 3; l++)
          io->out[3 + 3 * c + l][o] +=
              (d[c] * f[l] - f[c] * d[l]) * r3 + (c == l ? a : 0.0) - b * d[c] * d[l];
    }
  }
}

#define KIFMM_VEC 512
#include "kernels/single_stokes_simd.h"
#include "kernels/single_simd.h"
#undef KIFMM_VEC
#define KIFMM_VEC 256
#include "kernels/single_stokes_simd.h"
#include "kernels/single_simd.h"
#undef KIFMM_VEC

/* The call's vectors in groups of at most SINGLE_VGROUP densities on the path in use; 0 where
 * the path has no single form or the first group declined (nothing added then). */
static int single_groups(single_io io, int nv) {
  const kifmm_simd simd = kifmm__simd();
  if (simd != KIFMM_SIMD_AVX512 && simd != KIFMM_SIMD_AVX2)
    return 0;
  const int group = SINGLE_VGROUP / io.sdim;
  double *const *out = io.out;
  for (int v0 = 0; v0 < nv && io.ns > 0 && io.nt > 0; v0 += group) {
    single_io g = io;
    g.nv = nv - v0 < group ? nv - v0 : group;
    g.q = io.q + v0 * io.qv;
    for (int a = 0; a < 4 * KIFMM_MAX_KDIM; a++)
      g.out[a] = out[a] ? out[a] + v0 * io.ldo : NULL;
    /* every group has the same unit: only the first can decline, before anything is added */
    if (!(simd == KIFMM_SIMD_AVX512 ? p2p_single_avx512(&g) : p2p_single_avx2(&g)))
      return 0;
  }
  return 1;
}

int kifmm__p2p_single(double kappa, int nv, int64_t ns, const double *sx, const double *sy,
                      const double *sz, const double *q, int64_t qs, int64_t qv, int64_t nt,
                      const double *tx, const double *ty, const double *tz, double *pot,
                      double *gx, double *gy, double *gz, int64_t ldo) {
  single_io io = {kappa, 1, ns, nt, 0, qs, qv, ldo, sx, sy, sz, q, tx, ty, tz,
                  {pot, gx, gx ? gy : NULL, gx ? gz : NULL}, {0}};
  if (kappa > 0.0)
    kifmm__exp_taylor_for(kappa, 1, nt, (const double *const[]){tx, ty, tz}, ns,
                          (const double *const[]){sx, sy, sz}, &io.tp);
  return single_groups(io, nv);
}

int kifmm__stokes_p2p_single(int nv, int64_t ns, const double *sx, const double *sy,
                             const double *sz, const double *q, int64_t qs, int64_t qv,
                             int64_t nt, const double *tx, const double *ty, const double *tz,
                             double *const *out, int64_t ldo) {
  single_io io = {0.0, 3, ns, nt, 0, qs, qv, ldo, sx, sy, sz, q, tx, ty, tz, {NULL}, {0}};
  for (int a = 0; a < (out[3] ? 12 : 3); a++)
    io.out[a] = out[a];
  return single_groups(io, nv);
}
