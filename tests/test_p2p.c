/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm__p2p on the path KIFMM_SIMD selects against a plain sum: every remainder of the
 * target lanes, coincident points (which contribute nothing), and coordinates scaled to
 * 1e-100 and 1e100 (the AVX2 path builds 1/sqrt from the exponent bits). kifmm__p2p_many
 * against kifmm__p2p per vector: vector counts around the group sizes, source counts around
 * the chunk, both charge layouts, strided results that accumulate, and potential only
 * leaving the gradients alone. Single pairs at distances 2^-150..2^150 against long double:
 * each within a few units in the last place, or within the fast 1/r's bound on the path
 * (kifmm__rsqrt_fast_error: AVX-512 and AVX2 have a fast form; not further from the full one
 * than that). KIFMM_RSQRT_SINGLE (single precision with double sums, AVX-512 and AVX2; the
 * portable path takes full precision for it): each term within SINGLE_PAIR_BOUND of the
 * terms' scale, several vectors bit for bit as one. ctest runs this once per path. */
#include "internal.h"
#include "testutil.h"

/* A pair in single precision: within 1.5e-7 (potential) and 4.2e-7 (gradient) of the long
 * double value at distances 2^-150..2^150 (kifmm-p2p-bench --single 1 --pairs); bounds twice
 * that, the gradient's against its norm. */
#define SINGLE_POT_BOUND 3e-7
#define SINGLE_GRAD_BOUND 1e-6

/* Whether acc runs in single precision on this path. */
static int runs_single(kifmm_rsqrt acc) {
  return acc == KIFMM_RSQRT_SINGLE && kifmm__simd() != KIFMM_SIMD_PORTABLE;
}

/* The kernel exp(-kappa r)/r (kappa = 0: Laplace's 1/r) in long double, and the scale of
 * each target's sums: mag[2i] = sum |q| K, mag[2i+1] = sum |q| |grad K| (sum |q|/r^2 for
 * Laplace). */
static void reference(double kappa, int64_t ns, const double *s, const double *q, int64_t nt,
                      const double *t, double *pot, double *g, double *mag) {
  for (int64_t i = 0; i < nt; i++) {
    long double p = 0, a[3] = {0, 0, 0}, mp = 0, mg = 0;
    for (int64_t j = 0; j < ns; j++) {
      long double d[3] = {t[3 * i] - s[3 * j], t[3 * i + 1] - s[3 * j + 1],
                          t[3 * i + 2] - s[3 * j + 2]};
      long double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      if (r2 == 0)
        continue;
      long double rinv = 1 / sqrtl(r2), kr = kappa / rinv;
      long double k = kappa == 0 ? rinv : expl(-kr) * rinv, dk = k * (1 + kr) * rinv;
      p += q[j] * k;
      mp += fabsl(q[j]) * k;
      mg += fabsl(q[j]) * dk;
      for (int c = 0; c < 3; c++)
        a[c] -= q[j] * dk * rinv * d[c];
    }
    pot[i] = (double)p;
    mag[2 * i] = (double)mp;
    mag[2 * i + 1] = (double)mg;
    for (int c = 0; c < 3; c++)
      g[3 * i + c] = (double)a[c];
  }
}

static void check(kifmm_rsqrt acc, int64_t ns, int64_t nt, double scale, uint64_t *seed) {
  double *s = tu_alloc(3 * ns + 1), *q = tu_alloc(ns + 1), *t = tu_alloc(3 * nt);
  double *soa = tu_alloc(3 * ns + 3 * nt + 1), *pot = tu_alloc(nt), *g = tu_alloc(3 * nt);
  double *rp = tu_alloc(nt), *rg = tu_alloc(3 * nt), *mag = tu_alloc(2 * nt);
  for (int64_t j = 0; j < 3 * ns; j++)
    s[j] = scale * tu_uniform(seed);
  for (int64_t j = 0; j < ns; j++)
    q[j] = tu_uniform(seed) - 0.5;
  for (int64_t i = 0; i < 3 * nt; i++)
    t[i] = scale * tu_uniform(seed);
  for (int64_t i = 0; i < nt && i < ns; i += 3) /* some targets sit on sources */
    for (int c = 0; c < 3; c++)
      t[3 * i + c] = s[3 * i + c];
  double *sx = soa, *sy = sx + ns, *sz = sy + ns, *tx = sz + ns, *ty = tx + nt, *tz = ty + nt;
  for (int64_t j = 0; j < ns; j++) {
    sx[j] = s[3 * j];
    sy[j] = s[3 * j + 1];
    sz[j] = s[3 * j + 2];
  }
  for (int64_t i = 0; i < nt; i++) {
    tx[i] = t[3 * i];
    ty[i] = t[3 * i + 1];
    tz[i] = t[3 * i + 2];
  }
  reference(0.0, ns, s, q, nt, t, rp, rg, mag);
  kifmm__p2p(acc, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, g, g + nt, g + 2 * nt);
  double e = 0, ne = 0, eg = 0, ng = 0, s2 = scale * scale; /* undo the scaling: no overflow */
  for (int64_t i = 0; i < nt; i++) {
    e += (scale * pot[i] - scale * rp[i]) * (scale * pot[i] - scale * rp[i]);
    ne += scale * rp[i] * scale * rp[i];
    for (int c = 0; c < 3; c++) {
      double d = s2 * g[c * nt + i] - s2 * rg[3 * i + c];
      eg += d * d;
      ng += s2 * rg[3 * i + c] * s2 * rg[3 * i + c];
    }
  }
  double bp = 1e-12, bg = 1e-12; /* charges of both signs cancel: a few ulps of each term */
  const double fe = kifmm__rsqrt_fast_error(); /* the fast form's bound on this path */
  if ((acc == KIFMM_RSQRT_FAST && fe > 0) || runs_single(acc)) {
    /* each term within the fast 1/r's error (3 times for R^3), against the terms' scale */
    ne = ng = 0;
    for (int64_t i = 0; i < nt; i++) {
      ne += scale * mag[2 * i] * scale * mag[2 * i];
      ng += 3 * s2 * mag[2 * i + 1] * s2 * mag[2 * i + 1];
    }
    bp = runs_single(acc) ? SINGLE_POT_BOUND : fe + 1e-15;
    bg = runs_single(acc) ? SINGLE_GRAD_BOUND : 3 * fe + 1e-15;
  }
  double ep = ne > 0 ? sqrt(e / ne) : sqrt(e), egr = ng > 0 ? sqrt(eg / ng) : sqrt(eg);
  EXPECT(ep < bp && egr < bg, "acc %d ns=%lld nt=%lld scale %g: pot %.2e grad %.2e", acc,
         (long long)ns, (long long)nt, scale, ep, egr);
  /* potential only: the same numbers, gradients untouched */
  double *pot2 = tu_alloc(nt);
  kifmm__p2p(acc, ns, sx, sy, sz, q, nt, tx, ty, tz, pot2, NULL, NULL, NULL);
  double d2 = 0;
  for (int64_t i = 0; i < nt; i++)
    d2 += (scale * pot2[i] - scale * pot[i]) * (scale * pot2[i] - scale * pot[i]);
  EXPECT(sqrt(d2) <= (runs_single(acc) ? SINGLE_POT_BOUND : 1e-12) * (sqrt(ne) + 1e-300), "ns=%lld nt=%lld: potential without gradient differs", (long long)ns,
         (long long)nt);
  free(pot2);
  free(s);
  free(q);
  free(t);
  free(soa);
  free(pot);
  free(g);
  free(rp);
  free(rg);
  free(mag);
}

/* One charge at the origin and n targets around it, one pair each: the largest relative error
 * of the potential and of the gradient's components (against the gradient's norm). The
 * reference starts from the same double coordinates, so the bound covers the rounding of r2
 * and of the products as well as 1/sqrt: the AVX-512 path's 1/sqrt from a 14-bit estimate,
 * the AVX2 path's from the exponent bits. */
/* Whether long double carries more bits than double here. Valgrind runs x87 arithmetic at
 * double precision, which leaves the reference below as inexact as the kernel. */
static int long_double_is_extended(void) {
  volatile long double one = 1.0L, tiny = 0x1p-60L;
  return one + tiny != one;
}

static void check_pairs(kifmm_rsqrt acc, int64_t n, uint64_t *seed) {
  double *t = tu_alloc(3 * n), *out = tu_alloc(4 * n), src[4] = {0, 0, 0, 0};
  src[3] = tu_uniform(seed) < 0.5 ? -1.5 : 0.75;
  for (int64_t i = 0; i < n; i++) {
    double d[3], s2;
    do {
      s2 = 0;
      for (int c = 0; c < 3; c++) {
        d[c] = 2 * tu_uniform(seed) - 1;
        s2 += d[c] * d[c];
      }
    } while (s2 > 1 || s2 < 1e-4);
    double r = ldexp(1 + tu_uniform(seed), (int)(300 * tu_uniform(seed)) - 150) / sqrt(s2);
    for (int c = 0; c < 3; c++)
      t[c * n + i] = r * d[c];
  }
  kifmm__p2p(acc, 1, src, src + 1, src + 2, src + 3, n, t, t + n, t + 2 * n, out, out + n,
             out + 2 * n, out + 3 * n);
  double ep = 0, eg = 0;
  for (int64_t i = 0; i < n; i++) {
    long double x[3] = {t[i], t[n + i], t[2 * n + i]}, q = src[3];
    long double r2 = x[0] * x[0] + x[1] * x[1] + x[2] * x[2], rinv = 1 / sqrtl(r2);
    long double pot = q * rinv, gnorm = fabsl(q) * rinv * rinv;
    ep = fmax(ep, (double)fabsl((out[i] - pot) / pot));
    for (int c = 0; c < 3; c++)
      eg = fmax(eg, (double)fabsl((out[(c + 1) * n + i] + q * x[c] * rinv * rinv * rinv) / gnorm));
  }
  /* with a double-precision reference, its own rounding (a few ulp) comes on top */
  const double slack = long_double_is_extended() ? 1.0 : 4.0;
  /* the fast 1/r (AVX-512, AVX2): the gradient takes R^3, so three times its error */
  const double fe = acc == KIFMM_RSQRT_FAST ? kifmm__rsqrt_fast_error() : 0.0;
  double bp = fe > 0 ? fe + 5e-16 : 5e-16 * slack;
  double bg = fe > 0 ? 3 * fe + 1.5e-15 : 1.5e-15 * slack;
  if (runs_single(acc)) {
    bp = SINGLE_POT_BOUND;
    bg = SINGLE_GRAD_BOUND;
  }
  EXPECT(ep < bp && eg < bg, "single pairs, acc %d: potential %.2e, gradient %.2e", acc, ep, eg);
  printf("single pairs, acc %d: largest relative error potential %.2e, gradient %.2e\n", acc, ep,
         eg);
  free(t);
  free(out);
}

/* Largest difference of a and b against the largest of the results' scale m: the terms of a
 * sum, not its cancelled total, set the size of its rounding. */
static double max_diff(int64_t n, const double *a, const double *b, const double *m) {
  double d = 0, s = 0;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs(a[i] - b[i]));
    s = fmax(s, fabs(m[i]));
  }
  return s > 0 ? d / s : d;
}

/* The scale of the results (which start from 1): 1 + sum |q|/r for the potential, 1 + sum
 * |q|/r^2 for a gradient component. */
static void magnitudes(int64_t ns, const double *sx, const double *sy, const double *sz,
                       const double *q, int64_t nt, const double *t, double *mag) {
  for (int64_t i = 0; i < nt; i++) {
    double p = 1, g = 1;
    for (int64_t j = 0; j < ns; j++) {
      double dx = t[i] - sx[j], dy = t[nt + i] - sy[j], dz = t[2 * nt + i] - sz[j];
      double r2 = dx * dx + dy * dy + dz * dz;
      if (r2 > 0) {
        p += fabs(q[j]) / sqrt(r2);
        g += fabs(q[j]) / r2;
      }
    }
    mag[i] = p;
    mag[nt + i] = g;
  }
}

/* nv vectors, charges [source][vector] (interleaved) or [vector][source]; results of vector v
 * at v * ldo (ldo > nt), starting from 1 so that accumulation is checked too. */
static void check_many(kifmm_rsqrt acc, int nv, int64_t ns, int64_t nt, int interleaved, int grad,
                       uint64_t *seed) {
  const int64_t ldo = nt + 3;
  double *sx = tu_alloc(3 * ns + 1), *sy = sx + ns, *sz = sy + ns, *t = tu_alloc(3 * nt);
  double *q = tu_alloc(nv * ns + 1), *qv = tu_alloc(ns + 1);
  double *out = tu_alloc(4 * nv * ldo), *ref = tu_alloc(4 * nt), *mag = tu_alloc(2 * nt);
  for (int64_t j = 0; j < 3 * ns; j++)
    sx[j] = tu_uniform(seed);
  for (int64_t i = 0; i < 3 * nt; i++)
    t[i] = tu_uniform(seed);
  for (int64_t i = 0; i < nt && i < ns; i += 4) /* coincident pairs */
    t[i] = sx[i], t[nt + i] = sy[i], t[2 * nt + i] = sz[i];
  for (int64_t i = 0; i < nv * ns; i++)
    q[i] = tu_uniform(seed) - 0.5;
  for (int64_t i = 0; i < 4 * nv * ldo; i++)
    out[i] = 1.0;
  int64_t qs = interleaved ? nv : 1, qstep = interleaved ? 1 : ns;
  double *g = out + nv * ldo;
  kifmm__p2p_many(acc, nv, ns, sx, sy, sz, q, qs, qstep, nt, t, t + nt, t + 2 * nt, out,
                  grad ? g : NULL, grad ? g + nv * ldo : NULL, grad ? g + 2 * nv * ldo : NULL, ldo);
  for (int v = 0; v < nv; v++) {
    for (int64_t j = 0; j < ns; j++)
      qv[j] = q[j * qs + v * qstep];
    for (int64_t i = 0; i < 4 * nt; i++)
      ref[i] = 1.0;
    kifmm__p2p(acc, ns, sx, sy, sz, qv, nt, t, t + nt, t + 2 * nt, ref, ref + nt, ref + 2 * nt,
               ref + 3 * nt);
    magnitudes(ns, sx, sy, sz, qv, nt, t, mag);
    double e = max_diff(nt, out + v * ldo, ref, mag);
    for (int c = 0; grad && c < 3; c++)
      e = fmax(e, max_diff(nt, g + c * nv * ldo + v * ldo, ref + (c + 1) * nt, mag + nt));
    /* single precision: the same sums whatever the vectors beside (kernels.h) */
    EXPECT(runs_single(acc) ? e == 0 : e <= 1e-13, "many acc %d nv=%d ns=%lld nt=%lld interleaved %d grad %d vector %d: %.2e",
           acc, nv, (long long)ns, (long long)nt, interleaved, grad, v, e);
  }
  int untouched = 1;
  for (int64_t i = 0; !grad && i < 3 * nv * ldo; i++)
    untouched &= g[i] == 1.0;
  for (int v = 0; v < nv; v++) /* the gaps between strided results */
    for (int64_t i = nt; i < ldo; i++)
      untouched &= out[v * ldo + i] == 1.0;
  EXPECT(untouched, "many nv=%d grad %d wrote outside its results", nv, grad);
  free(sx);
  free(t);
  free(q);
  free(qv);
  free(out);
  free(ref);
  free(mag);
}

/* Yukawa's sums with acc (kifmm__yukawa_p2p, two vectors, gradient) against long double, on
 * a cloud of scale `scale` holding a coincident pair and, at scale 1, a pair 2.2e-9 apart (the
 * single sums take those in double): each target's value within SINGLE_POT_BOUND, its gradient
 * within SINGLE_GRAD_BOUND of the terms' scale (sum of |q| K and of |q| |grad K|) in single
 * precision, 1e-14 in double. kappa is given over the cloud's width; past SINGLE_KAPPA_UNIT
 * over a call's extent the single sums go the double way; below kappa r = 1.5 the sums take
 * exp as a Taylor polynomial (exp_taylor.c; kappa 0.01 .. 0.6 over the width: every degree
 * of the single sums and four of the double ones). */
static void check_yukawa(kifmm_rsqrt acc, double kappa_w, int64_t ns, int64_t nt, double scale,
                         uint64_t *seed) {
  const double kappa = kappa_w / scale;
  double *s = tu_alloc(3 * ns), *t = tu_alloc(3 * nt), *q = tu_alloc(2 * ns);
  for (int64_t j = 0; j < 3 * ns; j++)
    s[j] = scale * tu_uniform(seed);
  for (int64_t i = 0; i < 3 * nt; i++)
    t[i] = scale * tu_uniform(seed);
  for (int c = 0; c < 3; c++) {
    t[c] = s[c]; /* target 0 on source 0 */
    if (scale == 1.0) /* target 1 next to source 1 (at 1e-100 the double gradient's 1/r^3
                         would overflow) */
      t[3 + c] = s[3 + c] + 1e-9 * scale * c;
  }
  for (int64_t j = 0; j < 2 * ns; j++)
    q[j] = tu_uniform(seed) - 0.5;
  double *soa = tu_alloc(3 * ns + 3 * nt), *out = tu_alloc(8 * nt), *rp = tu_alloc(nt),
         *rg = tu_alloc(3 * nt), *mag = tu_alloc(2 * nt);
  for (int64_t j = 0; j < ns; j++)
    for (int c = 0; c < 3; c++)
      soa[c * ns + j] = s[3 * j + c];
  double *tsoa = soa + 3 * ns;
  for (int64_t i = 0; i < nt; i++)
    for (int c = 0; c < 3; c++)
      tsoa[c * nt + i] = t[3 * i + c];
  double *o[4] = {out, out + 2 * nt, out + 4 * nt, out + 6 * nt};
  kifmm__yukawa_p2p(kappa, acc, 2, ns, soa, soa + ns, soa + 2 * ns, q, 1, ns, nt, tsoa,
                    tsoa + nt, tsoa + 2 * nt, o, nt);
  double worst[2] = {0, 0};
  for (int v = 0; v < 2; v++) {
    reference(kappa, ns, s, q + v * ns, nt, t, rp, rg, mag);
    for (int k = 0; k < 4; k++) /* the potential, then each gradient component */
      for (int64_t i = 0; i < nt; i++) {
        const double m = mag[2 * i + (k > 0)], r = k ? rg[3 * i + k - 1] : rp[i];
        const double got = o[k][v * nt + i];
        if (m > 0) /* a target with no source apart from it has 0 exactly: checked below */
          worst[k > 0] = fmax(worst[k > 0], fabs(got - r) / m);
        else
          EXPECT(got == 0.0, "yukawa: %.3e where nothing adds", got);
      }
  }
  const int single = runs_single(acc);
  const double bp = single ? SINGLE_POT_BOUND : 1e-14, bg = single ? SINGLE_GRAD_BOUND : 1e-14;
  printf("yukawa acc %d kappa %g over the width, scale %g, %lld x %lld: pot %.2e grad %.2e\n",
         acc, kappa_w, scale, (long long)ns, (long long)nt, worst[0], worst[1]);
  EXPECT(worst[0] <= bp && worst[1] <= bg, "yukawa acc %d kappa %g scale %g: %.2e %.2e", acc,
         kappa_w, scale, worst[0], worst[1]);
  free(s), free(t), free(q), free(soa), free(out), free(rp), free(rg), free(mag);
}

int main(int argc, char **argv) {
  const char *path = kifmm__simd_name(kifmm__simd());
  printf("test_p2p: %s path\n", path);
  if (argc > 1 && strcmp(argv[1], path) != 0)
    return 77; /* this CPU lacks the path asked for: ctest's SKIP_RETURN_CODE */
  for (int acc = KIFMM_RSQRT_FULL; acc <= KIFMM_RSQRT_SINGLE; acc++) {
    uint64_t seed = 11;
    const int64_t ns[] = {0, 1, 5, 33, 150};
    const double scales[] = {1.0, 1e-100, 1e100};
    for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
      for (int64_t nt = 1; nt <= 17; nt++)
        for (size_t c = 0; c < sizeof(scales) / sizeof(scales[0]); c++)
          check(acc, ns[a], nt, scales[c], &seed);
    const int nvs[] = {1, 2, 3, 4, 5, 8, 9};
    const int64_t nsm[] = {1, 63, 64, 65, 150}, ntm[] = {1, 3, 8, 13};
    for (size_t a = 0; a < sizeof(nvs) / sizeof(nvs[0]); a++)
      for (size_t b = 0; b < sizeof(nsm) / sizeof(nsm[0]); b++)
        for (size_t c = 0; c < sizeof(ntm) / sizeof(ntm[0]); c++)
          for (int layout = 0; layout < 4; layout++)
            check_many(acc, nvs[a], nsm[b], ntm[c], layout & 1, layout >> 1, &seed);
    /* their own stream, leaving the draws of the cases above as they were */
    uint64_t seed2 = 12;
    check_pairs(acc, 20000, &seed2);
    const int64_t chunk_edges[] = {64, 129}; /* the sources in chunks of 64 on the SIMD paths */
    for (size_t a = 0; a < sizeof(chunk_edges) / sizeof(chunk_edges[0]); a++)
      for (int64_t nt = 1; nt <= 17; nt += 4)
        for (size_t c = 0; c < sizeof(scales) / sizeof(scales[0]); c++)
          check(acc, chunk_edges[a], nt, scales[c], &seed2);
    const double kappas[] = {0.01, 0.1, 0.3, 0.6, 1.0, 4.0, 20.0}; /* 0.01 .. 0.6: exp_taylor.c */
    for (size_t k = 0; k < sizeof(kappas) / sizeof(kappas[0]); k++)
      for (size_t c = 0; c < sizeof(scales) / sizeof(scales[0]); c++)
        check_yukawa((kifmm_rsqrt)acc, kappas[k], 300, 37, scales[c], &seed2);
  }
  return tu_finish("test_p2p");
}
