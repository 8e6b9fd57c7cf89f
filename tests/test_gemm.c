/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm__mm and kifmm__mm_cols (the evaluation's own gemm tiles) against a plain triple
 * loop, on every edge of the tiling: row counts around the vector and tile widths, column
 * counts around the panel width, k = 0, beta = 0 over NaN, leading dimensions above m, and
 * shapes that take the cache-blocked path across its block edges. The
 * path is the one KIFMM_SIMD selects; ctest runs this once per path. */
#include "internal.h"
#include "testutil.h"

static double max_rel_diff(int m, int n, const double *c, int ldc, const double *ref) {
  double worst = 0;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double d = fabs(c[i + (size_t)j * ldc] - ref[i + (size_t)j * m]);
      double s = fabs(ref[i + (size_t)j * m]) + 1.0;
      if (!(d / s <= worst)) /* NaN counts as infinitely wrong */
        worst = d != d ? INFINITY : d / s;
    }
  return worst;
}

static void reference(int m, int n, int k, double alpha, const double *a, int lda,
                      const double *b, int ldb, double beta, const double *c0, int ldc,
                      double *ref) {
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double s = 0;
      for (int p = 0; p < k; p++)
        s += a[i + (size_t)p * lda] * b[p + (size_t)j * ldb];
      ref[i + (size_t)j * m] = alpha * s + (beta == 0.0 ? 0.0 : beta * c0[i + (size_t)j * ldc]);
    }
}

static void check_shape(int m, int n, int k, double alpha, double beta, uint64_t *seed) {
  int lda = m + 3, ldb = k + 2, ldc = m + 5;
  double *a = tu_alloc((int64_t)lda * (k > 0 ? k : 1)), *b = tu_alloc((int64_t)ldb * n),
         *c = tu_alloc((int64_t)ldc * n), *c0 = tu_alloc((int64_t)ldc * n),
         *ref = tu_alloc((int64_t)m * n);
  for (int64_t i = 0; i < (int64_t)lda * k; i++)
    a[i] = tu_uniform(seed) - 0.5;
  for (int64_t i = 0; i < (int64_t)ldb * n; i++)
    b[i] = tu_uniform(seed) - 0.5;
  for (int64_t i = 0; i < (int64_t)ldc * n; i++)
    c0[i] = beta == 0.0 ? NAN : tu_uniform(seed) - 0.5; /* beta 0: C must not be read */
  reference(m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc, ref);

  memcpy(c, c0, sizeof(double) * (size_t)ldc * n);
  kifmm__mm(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  double err = max_rel_diff(m, n, c, ldc, ref);
  EXPECT(err < 1e-13, "mm m=%d n=%d k=%d beta=%g: error %.2e", m, n, k, beta, err);
  int untouched = 1; /* rows m..ldc-1 of each column are padding */
  for (int j = 0; j < n; j++)
    for (int i = m; i < ldc; i++)
      untouched &= memcmp(&c[i + (size_t)j * ldc], &c0[i + (size_t)j * ldc], sizeof(double)) == 0;
  EXPECT(untouched, "mm m=%d n=%d k=%d wrote outside C", m, n, k);

  /* the same through column pointers, columns in reverse order */
  const double **bc = malloc(sizeof(*bc) * (size_t)n);
  double **cc = malloc(sizeof(*cc) * (size_t)n);
  memcpy(c, c0, sizeof(double) * (size_t)ldc * n);
  for (int j = 0; j < n; j++) {
    bc[j] = b + (size_t)(n - 1 - j) * ldb;
    cc[j] = c + (size_t)(n - 1 - j) * ldc;
  }
  kifmm__mm_cols(m, n, k, alpha, a, lda, bc, beta, cc);
  err = max_rel_diff(m, n, c, ldc, ref);
  EXPECT(err < 1e-13, "mm_cols m=%d n=%d k=%d beta=%g: error %.2e", m, n, k, beta, err);
  free(bc);
  free(cc);
  free(a);
  free(b);
  free(c);
  free(c0);
  free(ref);
}

int main(int argc, char **argv) {
  const char *path = kifmm__simd_name(kifmm__simd());
  printf("test_gemm: %s path\n", path);
  if (argc > 1 && strcmp(argv[1], path) != 0)
    return 77; /* this CPU lacks the path asked for: ctest's SKIP_RETURN_CODE */
  uint64_t seed = 7;
  const int ms[] = {1, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 23, 24, 25, 31, 48, 49, 152};
  const int ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 17, 33};
  const int ks[] = {0, 1, 2, 31, 148};
  for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
    for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++)
      for (size_t l = 0; l < sizeof(ks) / sizeof(ks[0]); l++) {
        check_shape(ms[i], ns[j], ks[l], 1.0, 0.0, &seed);
        check_shape(ms[i], ns[j], ks[l], -0.75, 1.0, &seed);
        check_shape(ms[i], ns[j], ks[l], 2.0, 0.5, &seed);
      }
  /* shapes large enough for the cache-blocked path (A above 512 KB, gemm.c): k and m across
   * block edges, more columns than one column group */
  const int big[][3] = {{130, 9, 530}, {300, 17, 300}, {1, 33, 70000}, {250, 40, 257},
                        {121, 260, 600}, {24, 12, 3000}};
  for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
    check_shape(big[i][0], big[i][1], big[i][2], 1.0, 0.0, &seed);
    check_shape(big[i][0], big[i][1], big[i][2], -0.75, 1.0, &seed);
  }
  return tu_finish("test_gemm");
}
