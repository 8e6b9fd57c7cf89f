/* SPDX-License-Identifier: BSD-3-Clause */
/* The Yukawa and Stokes entries of the kernel table on the path KIFMM_SIMD selects (ctest
 * runs this once per path): their direct sums (nv = 1, 3, 6 density vectors, with and without
 * gradient, source counts across the SIMD chunks, target counts across the lanes) and their
 * matrices against a long double reference written here, on points with coincident targets
 * (which get nothing from their source), pairs 1e-9 apart and far pairs, kappa in {0, 1e-3,
 * 1, 30, 1000}. Each result must be within 1e-14 of the sum of its terms' magnitudes; for
 * Yukawa each term's magnitude is weighted by 1 + kappa r, the condition number of
 * exp(-kappa r) in r: the difference y - x is rounded before any kernel code sees it, and
 * that rounding alone moves exp(-kappa r) by kappa r ulps. Also: kappa = 0 is the Laplace
 * sum bit for bit (and kappa = 1e-300 within 1e-15), exp underflow gives exactly 0 (kappa r
 * up to inf), results accumulate and strided gaps stay untouched, the Stokes gradient is
 * trace-free, and both gradients match central differences of the values. */
#include "internal.h"
#include "testutil.h"

enum { YUK, STK };
/* Terms in double's subnormal range are compared at its absolute resolution. */
#define TINY 1e-320
typedef struct {
  int kind;
  double param;
  const char *name;
  int sdim, tdim;
  kifmm_p2p_fn p2p;
} kcase;

static kcase yukawa(double kappa) {
  return (kcase){YUK, kappa, "yukawa", 1, 1, kifmm__yukawa_p2p};
}
static kcase stokes(void) { return (kcase){STK, 1.0, "stokes", 3, 3, kifmm__stokes_p2p}; }

/* Adds the pair's terms for density f (sdim components) to val[tdim], grad[3 tdim] and their
 * magnitudes to mv, mg (upper bounds of sum |term|, condition-weighted for Yukawa). */
static void ref_pair(const kcase *k, const double *t, const double *s, const double *f,
                     long double *val, long double *grad, long double *mv, long double *mg) {
  long double d[3] = {(long double)t[0] - s[0], (long double)t[1] - s[1],
                      (long double)t[2] - s[2]};
  long double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  if (r2 == 0)
    return;
  long double r = sqrtl(r2);
  if (k->kind == YUK) {
    long double kr = k->param * r, kv = f[0] * expl(-kr) / r, g = -kv * (1 + kr) / r2;
    val[0] += kv;
    mv[0] += fabsl(kv) * (1 + kr);
    for (int l = 0; l < 3; l++) {
      grad[l] += g * d[l];
      mg[l] += fabsl(g) * r * (1 + kr);
    }
    return;
  }
  long double s_ = d[0] * f[0] + d[1] * f[1] + d[2] * f[2], r3 = r2 * r;
  long double fn = fabsl(f[0]) + fabsl(f[1]) + fabsl(f[2]);
  for (int i = 0; i < 3; i++) {
    val[i] += f[i] / r + d[i] * s_ / r3;
    mv[i] += 2 * fn / r;
    for (int l = 0; l < 3; l++) {
      grad[3 * i + l] += (d[i] * f[l] - f[i] * d[l]) / r3 + (i == l ? s_ / r3 : 0) -
                         3 * d[i] * d[l] * s_ / (r3 * r2);
      mg[3 * i + l] += 6 * fn / r2;
    }
  }
}

/* Sources in the unit cube; targets by turns on a source, 1e-9 from one, 30 away, inside. */
static void make_points(int64_t ns, int64_t nt, uint64_t *seed, double *s, double *t) {
  for (int64_t j = 0; j < 3 * ns; j++)
    s[j] = tu_uniform(seed);
  for (int64_t i = 0; i < nt; i++) {
    const double *src = s + 3 * (i % ns);
    for (int c = 0; c < 3; c++) {
      double u = tu_uniform(seed);
      switch (i % 5) {
      case 0: t[3 * i + c] = src[c]; break;
      case 1: t[3 * i + c] = src[c] + 1e-9 * (u - 0.5); break;
      case 2: t[3 * i + c] = u + (c == 0 ? 30.0 : 0.0); break;
      default: t[3 * i + c] = u; break;
      }
    }
  }
}

/* SoA copies of interleaved points. */
static double *soa(int64_t n, const double *p) {
  double *o = tu_alloc(3 * n + 1);
  for (int64_t i = 0; i < n; i++)
    for (int c = 0; c < 3; c++)
      o[c * n + i] = p[3 * i + c];
  return o;
}

/* Output pointers of nv vectors with stride ldo in one buffer: component a at a * nv * ldo. */
static void out_ptrs(const kcase *k, int grad, int nv, int64_t ldo, double *buf, double **out) {
  for (int a = 0; a < 4 * k->tdim; a++)
    out[a] = a < k->tdim || grad ? buf + (int64_t)a * nv * ldo : NULL;
}

static double worst_seen[2][2]; /* [kind][value, gradient]: largest error / magnitude */
static double worst_taylor[2][2]; /* check_taylor's: [single][value, gradient] */
static double worst_single[2];  /* Stokes in single precision: [value, gradient] */

/* Stokes' sums in single precision (kernels.h): each result within 6.1e-8 (value) and 5.6e-8
 * (gradient) of its terms' magnitudes as measured here on both paths; bounds about 3x that
 * (a float's rounding is 6e-8: a scale off by 1e-5 fails). */
#define SINGLE_VALUE_BOUND 2e-7
#define SINGLE_GRAD_BOUND 2e-7

/* Whether acc runs in single precision on this path (the portable path takes full). */
static int runs_single(kifmm_rsqrt acc) {
  return acc == KIFMM_RSQRT_SINGLE && kifmm__simd() != KIFMM_SIMD_PORTABLE;
}

/* In single precision a vector's results have the same bits alone as beside others
 * (kernels.h): each of the nv vectors of got (out, fresh) summed again alone. */
static void check_alone(const kcase *k, kifmm_rsqrt acc, int nv, int64_t ns, const double *ss,
                        const double *q, int64_t qs, int64_t qv, int64_t nt, const double *ts,
                        double *const *got, int64_t ldo, int grad) {
  const int nc = 4 * k->tdim;
  double *buf = tu_alloc(nc * nt), *one[12];
  int same = 1;
  for (int v = 0; v < nv; v++) {
    memset(buf, 0, sizeof(double) * nc * nt);
    out_ptrs(k, grad, 1, nt, buf, one);
    k->p2p(k->param, acc, 1, ns, ss, ss + ns, ss + 2 * ns, q + v * qv, qs, qv, nt, ts, ts + nt,
           ts + 2 * nt, one, nt);
    for (int a = 0; a < (grad ? 4 : 1) * k->tdim; a++)
      for (int64_t i = 0; i < nt; i++)
        same &= one[a][i] == got[a][i + v * ldo];
  }
  EXPECT(same, "%s single nv=%d ns=%lld nt=%lld grad %d: a vector's results differ alone",
         k->name, nv, (long long)ns, (long long)nt, grad);
  free(buf);
}

static void check_p2p(const kcase *k, kifmm_rsqrt acc, int nv, int64_t ns, int64_t nt, int grad,
                      uint64_t *seed) {
  const int single = runs_single(acc);
  const double bound_v = single ? SINGLE_VALUE_BOUND : 1e-14;
  const double bound_g = single ? SINGLE_GRAD_BOUND : 1e-14;
  const int sd = k->sdim, td = k->tdim, nc = 4 * td;
  const int64_t ldo = nt + 2, qs = (int64_t)sd * nv, qv = sd;
  double *s = tu_alloc(3 * ns), *t = tu_alloc(3 * nt), *q = tu_alloc(qs * ns);
  make_points(ns, nt, seed, s, t);
  for (int64_t i = 0; i < qs * ns; i++)
    q[i] = tu_uniform(seed) - 0.5;
  double *ss = soa(ns, s), *ts = soa(nt, t), *buf = tu_alloc(nc * nv * ldo), *out[12];
  double *mag = tu_alloc(nc * nv * ldo);
  for (int64_t i = 0; i < nc * nv * ldo; i++)
    buf[i] = (i % ldo) < nt ? 0.0 : 7.0; /* the gaps must stay 7 */
  out_ptrs(k, grad, nv, ldo, buf, out);
  k->p2p(k->param, acc, nv, ns, ss, ss + ns, ss + 2 * ns, q, qs, qv, nt, ts, ts + nt,
         ts + 2 * nt, out, ldo);
  if (single && nv > 1)
    check_alone(k, acc, nv, ns, ss, q, qs, qv, nt, ts, out, ldo, grad);
  int bad = 0;
  for (int v = 0; v < nv; v++)
    for (int64_t i = 0; i < nt; i++) {
      long double val[3] = {0}, gr[9] = {0}, mv[3] = {0}, mg[9] = {0};
      for (int64_t j = 0; j < ns; j++)
        ref_pair(k, t + 3 * i, s + 3 * j, q + j * qs + v * qv, val, gr, mv, mg);
      for (int a = 0; a < (grad ? 4 : 1) * td; a++) {
        long double ref = a < td ? val[a] : gr[a - td], m = a < td ? mv[a] : mg[a - td];
        double got = out[a][i + v * ldo], e = fabs(got - (double)ref);
        mag[a * nv * ldo + i + v * ldo] = (double)m;
        if (!(e <= (a < td ? bound_v : bound_g) * (double)m + TINY)) /* also catches NaN */
          bad++;
        double *worst = single ? &worst_single[a >= td] : &worst_seen[k->kind][a >= td];
        if (m > 0)
          *worst = fmax(*worst, e / (double)m);
      }
      if (k->kind == STK && grad) { /* trace-free gradient */
        double div = out[3][i + v * ldo] + out[7][i + v * ldo] + out[11][i + v * ldo];
        EXPECT(fabs(div) <= (single ? SINGLE_GRAD_BOUND : 1e-13) * (double)mg[0],
               "stokes acc %d divergence %.3e (scale %.3e)", acc, div, (double)mg[0]);
      }
    }
  EXPECT(!bad, "%s %g acc %d nv=%d ns=%lld nt=%lld grad %d: %d results off", k->name, k->param,
         acc, nv, (long long)ns, (long long)nt, grad, bad);
  /* a second call adds the same again (up to the order of the chunks' additions): results
   * accumulate, gaps untouched */
  double *copy = tu_alloc(nc * nv * ldo);
  memcpy(copy, buf, sizeof(double) * nc * nv * ldo);
  k->p2p(k->param, acc, nv, ns, ss, ss + ns, ss + 2 * ns, q, qs, qv, nt, ts, ts + nt,
         ts + 2 * nt, out, ldo);
  int same = 1;
  for (int64_t i = 0; i < nc * nv * ldo; i++)
    same &= (i % ldo) < nt ? fabs(buf[i] - 2 * copy[i]) <= 1e-15 * mag[i] + TINY : buf[i] == 7.0;
  EXPECT(same, "%s nv=%d grad %d: second call did not add the same, or wrote a gap", k->name, nv,
         grad);
  free(s), free(t), free(q), free(ss), free(ts), free(buf), free(copy), free(mag);
}

/* The matrix against the reference, element by element. */
static void check_matrix(const kcase *k, uint64_t *seed) {
  const int64_t ns = 6, nt = 11, sd = k->sdim, td = k->tdim, ldk = td * nt + 3;
  double s[3 * 6], t[3 * 11], *km = tu_alloc(ldk * sd * ns);
  make_points(ns, nt, seed, s, t);
  if (k->kind == YUK)
    kifmm__yukawa_matrix(k->param, nt, t, ns, s, km, ldk);
  else
    kifmm__stokes_matrix(k->param, nt, t, ns, s, km, ldk);
  int bad = 0;
  for (int64_t j = 0; j < ns; j++)
    for (int b = 0; b < sd; b++) {
      double f[3] = {0, 0, 0};
      f[b] = 1;
      for (int64_t i = 0; i < nt; i++) {
        long double val[3] = {0}, gr[9] = {0}, mv[3] = {0}, mg[9] = {0};
        ref_pair(k, t + 3 * i, s + 3 * j, f, val, gr, mv, mg);
        for (int a = 0; a < td; a++)
          if (!(fabs(km[(td * i + a) + (sd * j + b) * ldk] - (double)val[a]) <=
                1e-15 * (double)mv[a] + TINY))
            bad++;
      }
    }
  EXPECT(!bad, "%s %g matrix: %d elements off", k->name, k->param, bad);
  free(km);
}

/* Yukawa at kappa = 0 is the Laplace sum bit for bit, at kappa = 1e-300 within 1e-15. */
static void check_laplace_limit(int nv, int grad, uint64_t *seed) {
  const int64_t ns = 70, nt = 13, ldo = nt;
  double s[3 * 70], t[3 * 13], q[3 * 70];
  make_points(ns, nt, seed, s, t);
  for (int64_t i = 0; i < nv * ns; i++)
    q[i] = tu_uniform(seed) - 0.5;
  double *ss = soa(ns, s), *ts = soa(nt, t);
  double *lap = tu_alloc(4 * nv * ldo), *yuk = tu_alloc(4 * nv * ldo), *out[4], *lout[4];
  kcase k = yukawa(0.0);
  out_ptrs(&k, grad, nv, ldo, yuk, out);
  out_ptrs(&k, grad, nv, ldo, lap, lout);
  kifmm__p2p_many(KIFMM_RSQRT_FULL, nv, ns, ss, ss + ns, ss + 2 * ns, q, nv, 1, nt, ts, ts + nt,
                  ts + 2 * nt, lout[0], lout[1], lout[2], lout[3], ldo);
  kifmm__yukawa_p2p(0.0, KIFMM_RSQRT_FULL, nv, ns, ss, ss + ns, ss + 2 * ns, q, nv, 1, nt, ts,
                    ts + nt, ts + 2 * nt, out, ldo);
  EXPECT(memcmp(lap, yuk, sizeof(double) * 4 * nv * ldo) == 0, "kappa 0 nv=%d grad %d: not Laplace",
         nv, grad);
  memset(yuk, 0, sizeof(double) * 4 * nv * ldo);
  kifmm__yukawa_p2p(1e-300, KIFMM_RSQRT_FULL, nv, ns, ss, ss + ns, ss + 2 * ns, q, nv, 1, nt, ts,
                    ts + nt, ts + 2 * nt, out, ldo);
  int bad = 0;
  for (int v = 0; v < nv; v++)
    for (int64_t i = 0; i < nt; i++) {
      long double val[3] = {0}, gr[9] = {0}, mv[3] = {0}, mg[9] = {0};
      for (int64_t j = 0; j < ns; j++)
        ref_pair(&k, t + 3 * i, s + 3 * j, q + j * nv + v, val, gr, mv, mg);
      for (int a = 0; a < (grad ? 4 : 1); a++) {
        double m = (double)(a ? mg[a - 1] : mv[0]);
        int64_t o = i + v * ldo;
        if (!(fabs(out[a][o] - lout[a][o]) <= 1e-15 * m))
          bad++;
      }
    }
  EXPECT(!bad, "kappa 1e-300 nv=%d grad %d: %d results differ from Laplace", nv, grad, bad);
  double km[13 * 70], lm[13 * 70];
  kifmm__yukawa_matrix(0.0, nt, t, ns, s, km, nt);
  kifmm__kernel_matrix(nt, t, ns, s, lm, nt);
  EXPECT(memcmp(km, lm, sizeof(km)) == 0, "kappa 0 matrix is not Laplace's");
  free(ss), free(ts), free(lap), free(yuk);
}

/* Yukawa's exp(-kappa r) as a Taylor polynomial where a sum's kappa r lie in a short interval
 * (exp_taylor.c): each degree at the edges of its interval, from distance 0 (a leaf and its
 * neighbours) and away from it (a box and a surface), the one-way and the symmetric sums
 * and the single-precision ones, every pair against long double: in double within 8 ulps
 * (value) and 16 ulps of the gradient's norm (measured 5.7 and 9.2; the full exp's 9.3 and
 * 10.7), in single within 6e-7 and 8e-7 relative (measured 3.2e-7 and 5.3e-7 with the
 * polynomials, 4.6e-7 and 4.4e-7 with the full float exp: a pair's float rounding, which the
 * sums over many pairs average down to KIFMM_SINGLE_ERROR). Past the last interval and past
 * kappa r = KIFMM_EXP_TAYLOR_MAX no polynomial is taken. */
static void check_taylor(uint64_t *seed) {
  enum { NT = 515 };
  /* {(hi - lo) / 2 of kappa r, offset of the targets' cube, degree in double, in single} */
  const struct {
    double half, off;
    int deg[2];
  } cs[] = {{0.001, 0, {8, 4}},   {0.116, 0, {8, 4}},   {0.117, 0, {10, 4}},
            {0.133, 0, {10, 4}},  {0.135, 0, {10, 6}},  {0.28, 0, {10, 6}},
            {0.281, 0, {12, 6}},  {0.44, 0, {12, 6}},   {0.443, 0, {12, 8}},
            {0.489, 0, {12, 8}},  {0.491, 0, {14, 8}},  {0.727, 0, {14, 8}},
            {0.74, 0, {16, 8}},   {0.3, 1, {12, 6}},    {0.45, 2.5, {12, 8}},
            {0.05, 40, {0, 0}}};
  static double t[3 * NT], out[8 * NT];
  const double src[3] = {0.3, -0.2, 0.1}, one = 1.0;
  const double *sp[3] = {src, src + 1, src + 2};
  const double ulp = 0x1p-53;
  for (size_t c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
    /* targets in the cube [off - 1, off + 1] x [-1, 1]^2 about the source, its corners in */
    const double off = cs[c].off;
    for (int64_t i = 0; i < NT; i++)
      for (int d = 0; d < 3; d++) {
        double u = i < 2 ? (double)(1 - 2 * i) : 2 * tu_uniform(seed) - 1;
        t[d * NT + i] = src[d] + u + (d == 0 ? off : 0.0);
      }
    const double gap = off > 1 ? off - 1 : 0.0, far = sqrt((off + 1) * (off + 1) + 2.0);
    const double kappa = 2 * cs[c].half / (far - gap);
    for (int single = 0; single < 2; single++) {
      kifmm_exp_taylor tp;
      kifmm__exp_taylor_for(kappa, single, NT, (const double *const[]){t, t + NT, t + 2 * NT},
                            1, sp, &tp);
      EXPECT(tp.deg == cs[c].deg[single], "kappa r in [%g, %g], %s: degree %d, expected %d",
             kappa * gap, kappa * far, single ? "single" : "double", tp.deg,
             cs[c].deg[single]);
    }
    for (int way = 0; way < 3; way++) { /* one way, symmetric, one way in single */
      double *o[4] = {out, out + NT, out + 2 * NT, out + 3 * NT};
      double *ob[4] = {out + 4 * NT, out + 4 * NT + 1, out + 4 * NT + 2, out + 4 * NT + 3};
      memset(out, 0, sizeof(out));
      if (way != 1)
        kifmm__yukawa_p2p(kappa, way ? KIFMM_RSQRT_SINGLE : KIFMM_RSQRT_FULL, 1, 1, sp[0],
                          sp[1], sp[2], &one, 1, 1, NT, t, t + NT, t + 2 * NT, o, NT);
      else {
        double *qa = out + 5 * NT;
        for (int64_t i = 0; i < NT; i++)
          qa[i] = 1.0;
        kifmm__p2p_symmetric(kappa, KIFMM_RSQRT_FULL, NT, t, t + NT, t + 2 * NT, qa, o, 1, sp[0],
                             sp[1], sp[2], &one, ob);
      }
      double ev = 0, eg = 0;
      for (int64_t i = 0; i < NT; i++) {
        long double d[3], r2 = 0;
        for (int l = 0; l < 3; l++) {
          d[l] = t[l * NT + i] - src[l]; /* rounded as the sums round it */
          r2 += d[l] * d[l];
        }
        long double r = sqrtl(r2), kv = expl(-kappa * r) / r, g = -kv * (1 + kappa * r) / r2;
        ev = fmax(ev, (double)fabsl((o[0][i] - kv) / kv));
        for (int l = 0; l < 3; l++)
          eg = fmax(eg, (double)fabsl((o[1 + l][i] - g * d[l]) / (fabsl(g) * r)));
      }
      const int single = way == 2 && runs_single(KIFMM_RSQRT_SINGLE);
      const double bv = single ? 6e-7 : 8 * ulp, bg = single ? 8e-7 : 16 * ulp;
      EXPECT(ev <= bv && eg <= bg,
             "%s, kappa r in [%g, %g]: pairs %.2e off (value), %.2e (gradient)",
             way == 0 ? "one way" : way == 1 ? "symmetric" : "single", kappa * gap, kappa * far,
             ev, eg);
      double *w = worst_taylor[single];
      w[0] = fmax(w[0], ev), w[1] = fmax(w[1], eg);
    }
  }
}

/* exp(-kappa r) underflow: exactly 0, never NaN, up to kappa r = inf. */
static void check_underflow(uint64_t *seed) {
  const double kappas[] = {1e6, 1e300, INFINITY};
  const int64_t ns = 20, nt = 9;
  double s[3 * 20], t[3 * 9], q[20], buf[4 * 9], *out[4];
  for (int64_t i = 0; i < 3 * ns; i++)
    s[i] = tu_uniform(seed);
  for (int64_t i = 0; i < 3 * nt; i++)
    t[i] = 2 + tu_uniform(seed);
  for (int64_t j = 0; j < ns; j++)
    q[j] = 1.0;
  double *ss = soa(ns, s), *ts = soa(nt, t);
  for (size_t a = 0; a < sizeof(kappas) / sizeof(kappas[0]); a++) {
    kcase k = yukawa(kappas[a]);
    memset(buf, 0, sizeof(buf));
    out_ptrs(&k, 1, 1, nt, buf, out);
    kifmm__yukawa_p2p(kappas[a], KIFMM_RSQRT_FULL, 1, ns, ss, ss + ns, ss + 2 * ns, q, 1, 1, nt,
                      ts, ts + nt, ts + 2 * nt, out, nt);
    int zero = 1;
    for (int i = 0; i < 4 * nt; i++)
      zero &= buf[i] == 0.0;
    EXPECT(zero, "kappa %g: underflowed terms are not exactly 0", kappas[a]);
  }
  free(ss), free(ts);
}

/* The gradient against central differences of the values, targets 1..2 away from sources. */
static void check_fd(const kcase *k, uint64_t *seed) {
  const int64_t ns = 40, nt = 6, td = k->tdim, sd = k->sdim;
  const double h = 1e-5;
  double s[3 * 40], t[3 * 6], q[3 * 40], g[12 * 6], *out[12];
  for (int64_t i = 0; i < 3 * ns; i++)
    s[i] = tu_uniform(seed);
  for (int64_t i = 0; i < 3 * nt; i++)
    t[i] = (i % 3 == 0 ? 2.0 : 0.0) + tu_uniform(seed);
  for (int64_t i = 0; i < sd * ns; i++)
    q[i] = tu_uniform(seed) - 0.5;
  double *ss = soa(ns, s), *ts = soa(nt, t);
  memset(g, 0, sizeof(g));
  out_ptrs(k, 1, 1, nt, g, out);
  k->p2p(k->param, KIFMM_RSQRT_FULL, 1, ns, ss, ss + ns, ss + 2 * ns, q, sd, sd, nt, ts, ts + nt,
         ts + 2 * nt, out, nt);
  double gmax = 0, emax = 0;
  for (int64_t i = 0; i < td * 3 * nt; i++)
    gmax = fmax(gmax, fabs(g[td * nt + i]));
  for (int l = 0; l < 3; l++) {
    double vp[3 * 6] = {0}, vm[3 * 6] = {0}, *op[12], *om[12];
    out_ptrs(k, 0, 1, nt, vp, op);
    out_ptrs(k, 0, 1, nt, vm, om);
    for (int64_t i = 0; i < nt; i++)
      ts[l * nt + i] += h;
    k->p2p(k->param, KIFMM_RSQRT_FULL, 1, ns, ss, ss + ns, ss + 2 * ns, q, sd, sd, nt, ts,
           ts + nt, ts + 2 * nt, op, nt);
    for (int64_t i = 0; i < nt; i++)
      ts[l * nt + i] -= 2 * h;
    k->p2p(k->param, KIFMM_RSQRT_FULL, 1, ns, ss, ss + ns, ss + 2 * ns, q, sd, sd, nt, ts,
           ts + nt, ts + 2 * nt, om, nt);
    for (int64_t i = 0; i < nt; i++)
      ts[l * nt + i] = t[3 * i + l];
    for (int a = 0; a < td; a++)
      for (int64_t i = 0; i < nt; i++) {
        double fd = (vp[a * nt + i] - vm[a * nt + i]) / (2 * h);
        emax = fmax(emax, fabs(fd - out[td + 3 * a + l][i]));
      }
  }
  EXPECT(emax <= 1e-7 * gmax, "%s %g: gradient vs central differences %.2e (scale %.2e)", k->name,
         k->param, emax, gmax);
  free(ss), free(ts);
}

int main(int argc, char **argv) {
  const char *path = kifmm__simd_name(kifmm__simd());
  printf("test_kernels: %s path\n", path);
  if (argc > 1 && strcmp(argv[1], path) != 0)
    return 77; /* this CPU lacks the path asked for: ctest's SKIP_RETURN_CODE */
  uint64_t seed = 21;
  const kcase ks[] = {yukawa(0.0), yukawa(1e-3), yukawa(1.0), yukawa(30.0), yukawa(1000.0),
                      stokes()};
  const int nvs[] = {1, 3, 6};
  const int64_t sizes[][2] = {{1, 1}, {5, 9}, {33, 17}, {70, 13}, {131, 11}};
  for (size_t a = 0; a < sizeof(ks) / sizeof(ks[0]); a++) {
    for (size_t b = 0; b < sizeof(nvs) / sizeof(nvs[0]); b++)
      for (size_t c = 0; c < sizeof(sizes) / sizeof(sizes[0]); c++)
        for (int grad = 0; grad < 2; grad++)
          check_p2p(&ks[a], KIFMM_RSQRT_FULL, nvs[b], sizes[c][0], sizes[c][1], grad, &seed);
    check_matrix(&ks[a], &seed);
  }
  /* Stokes in single precision, with sources past a block of the single sums (512) */
  const int64_t single_sizes[][2] = {{1, 1}, {5, 9}, {33, 17}, {70, 13}, {131, 41}, {600, 37}};
  for (size_t b = 0; b < sizeof(nvs) / sizeof(nvs[0]); b++)
    for (size_t c = 0; c < sizeof(single_sizes) / sizeof(single_sizes[0]); c++)
      for (int grad = 0; grad < 2; grad++)
        check_p2p(&ks[5], KIFMM_RSQRT_SINGLE, nvs[b], single_sizes[c][0], single_sizes[c][1],
                  grad, &seed);
  for (int nv = 1; nv <= 3; nv += 2)
    for (int grad = 0; grad < 2; grad++)
      check_laplace_limit(nv, grad, &seed);
  check_underflow(&seed);
  check_taylor(&seed);
  check_fd(&ks[2], &seed);
  check_fd(&ks[3], &seed);
  check_fd(&ks[5], &seed);
  printf("largest error / sum of |terms|: yukawa value %.2e gradient %.2e, stokes value %.2e "
         "gradient %.2e\n",
         worst_seen[YUK][0], worst_seen[YUK][1], worst_seen[STK][0], worst_seen[STK][1]);
  printf("yukawa's pairs near exp's Taylor intervals: double value %.1f ulps, gradient %.1f; "
         "single %.2e, %.2e\n",
         worst_taylor[0][0] / 0x1p-53, worst_taylor[0][1] / 0x1p-53, worst_taylor[1][0],
         worst_taylor[1][1]);
  printf("stokes in single precision (%s): value %.2e gradient %.2e\n",
         runs_single(KIFMM_RSQRT_SINGLE) ? "ran" : "full on this path", worst_single[0],
         worst_single[1]);
  return tu_finish("test_kernels");
}
