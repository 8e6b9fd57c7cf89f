/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm__p2p on the path KIFMM_SIMD selects against a plain sum: every remainder of the
 * target lanes, coincident points (which contribute nothing), and coordinates scaled to
 * 1e-100 and 1e100 (the AVX2 path builds 1/sqrt from the exponent bits). ctest runs this
 * once per path. */
#include "internal.h"
#include "testutil.h"

static void reference(int64_t ns, const double *s, const double *q, int64_t nt, const double *t,
                      double *pot, double *g) {
  for (int64_t i = 0; i < nt; i++) {
    long double p = 0, a[3] = {0, 0, 0};
    for (int64_t j = 0; j < ns; j++) {
      long double d[3] = {t[3 * i] - s[3 * j], t[3 * i + 1] - s[3 * j + 1],
                          t[3 * i + 2] - s[3 * j + 2]};
      long double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      if (r2 == 0)
        continue;
      long double rinv = 1 / sqrtl(r2);
      p += q[j] * rinv;
      for (int c = 0; c < 3; c++)
        a[c] -= q[j] * rinv * rinv * rinv * d[c];
    }
    pot[i] = (double)p;
    for (int c = 0; c < 3; c++)
      g[3 * i + c] = (double)a[c];
  }
}

static void check(int64_t ns, int64_t nt, double scale, uint64_t *seed) {
  double *s = tu_alloc(3 * ns + 1), *q = tu_alloc(ns + 1), *t = tu_alloc(3 * nt);
  double *soa = tu_alloc(3 * ns + 3 * nt + 1), *pot = tu_alloc(nt), *g = tu_alloc(3 * nt);
  double *rp = tu_alloc(nt), *rg = tu_alloc(3 * nt);
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
  reference(ns, s, q, nt, t, rp, rg);
  kifmm__p2p(ns, sx, sy, sz, q, nt, tx, ty, tz, pot, g, g + nt, g + 2 * nt);
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
  double ep = ne > 0 ? sqrt(e / ne) : sqrt(e), egr = ng > 0 ? sqrt(eg / ng) : sqrt(eg);
  /* charges of both signs cancel: a few ulps of each term, not of the sum */
  EXPECT(ep < 1e-12 && egr < 1e-12, "ns=%lld nt=%lld scale %g: pot %.2e grad %.2e",
         (long long)ns, (long long)nt, scale, ep, egr);
  /* potential only: the same numbers, gradients untouched */
  double *pot2 = tu_alloc(nt);
  kifmm__p2p(ns, sx, sy, sz, q, nt, tx, ty, tz, pot2, NULL, NULL, NULL);
  double d2 = 0;
  for (int64_t i = 0; i < nt; i++)
    d2 += (scale * pot2[i] - scale * pot[i]) * (scale * pot2[i] - scale * pot[i]);
  EXPECT(sqrt(d2) <= 1e-12 * (sqrt(ne) + 1e-300), "ns=%lld nt=%lld: potential without gradient differs", (long long)ns,
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
}

int main(int argc, char **argv) {
  const char *path = kifmm__simd_name(kifmm__simd());
  printf("test_p2p: %s path\n", path);
  if (argc > 1 && strcmp(argv[1], path) != 0)
    return 77; /* this CPU lacks the path asked for: ctest's SKIP_RETURN_CODE */
  uint64_t seed = 11;
  const int64_t ns[] = {0, 1, 5, 33, 150};
  const double scales[] = {1.0, 1e-100, 1e100};
  for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
    for (int64_t nt = 1; nt <= 17; nt++)
      for (size_t c = 0; c < sizeof(scales) / sizeof(scales[0]); c++)
        check(ns[a], nt, scales[c], &seed);
  return tu_finish("test_p2p");
}
