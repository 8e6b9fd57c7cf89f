/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared helpers of the C test suites: assertions that count failures, a seeded RNG,
 * point distributions and relative l2 errors against a direct sum. */
#ifndef KIFMM_TESTUTIL_H
#define KIFMM_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kifmm.h"

static int tu_failures = 0, tu_checks = 0;

#define EXPECT(cond, ...)                                              \
  do {                                                                 \
    tu_checks++;                                                       \
    if (!(cond)) {                                                     \
      tu_failures++;                                                   \
      fprintf(stderr, "%s:%d: expectation failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                    \
      fprintf(stderr, "\n");                                           \
    }                                                                  \
  } while (0)

#define EXPECT_STATUS(call, expected)                                               \
  do {                                                                              \
    int got_ = (call);                                                              \
    EXPECT(got_ == (expected), "%s returned %d (%s), expected %d", #call, got_,    \
           kifmm_error_string(got_), (int)(expected));                              \
  } while (0)

static inline int tu_finish(const char *name) {
  printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
  return tu_failures ? 1 : 0;
}

/* Whether the library runs the SIMD path named by want (KIFMM_SIMD, set by the test's
 * environment): it falls back when the CPU lacks it, and a suite for that path then skips.
 * NULL: no path asked, always true; a failing plan also gives true, so that the suite's own
 * cases report the failure. */
static inline int tu_simd_path_available(const char *want) {
  if (!want)
    return 1;
  const double xyz[3] = {0.5, 0.5, 0.5};
  kifmm_options o = kifmm_default_options();
  o.use_cache = 0;
  o.order = 2;
  kifmm_plan *plan = NULL;
  kifmm_stats st;
  memset(&st, 0, sizeof(st));
  int ok = kifmm_plan_create(&plan, 1, xyz, 1, xyz, &o) == KIFMM_SUCCESS &&
           kifmm_plan_stats(plan, &st) == KIFMM_SUCCESS;
  kifmm_plan_destroy(&plan);
  if (!ok)
    return 1;
  printf("KIFMM_SIMD=%s: running %s\n", want, st.simd);
  return strcmp(want, st.simd) == 0;
}

static inline double tu_wtime(void) { /* wall clock, C11 */
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline double tu_uniform(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

typedef enum { TU_CUBE, TU_SPHERE, TU_CLUSTER } tu_dist;
static const char *const tu_dist_name[] __attribute__((unused)) = {"cube", "sphere", "cluster"};

/* n points in interleaved xyz. CLUSTER is strongly non-uniform: a tight Gaussian-like
 * blob, a thin sheet and a sparse uniform background, so the tree has deep and shallow
 * leaves side by side (W and X lists). */
static inline void tu_points(tu_dist dist, int64_t n, uint64_t *seed, double *xyz) {
  for (int64_t i = 0; i < n; i++) {
    double *p = xyz + 3 * i;
    if (dist == TU_SPHERE) {
      double z = 2 * tu_uniform(seed) - 1, phi = 6.283185307179586 * tu_uniform(seed);
      double r = sqrt(1 - z * z);
      p[0] = r * cos(phi);
      p[1] = r * sin(phi);
      p[2] = z;
    } else if (dist == TU_CLUSTER && i % 3 == 0) {
      for (int d = 0; d < 3; d++) {
        double u = tu_uniform(seed) + tu_uniform(seed) + tu_uniform(seed) - 1.5;
        p[d] = 0.3 + 0.002 * u * u * u;
      }
    } else if (dist == TU_CLUSTER && i % 3 == 1) {
      p[0] = tu_uniform(seed);
      p[1] = tu_uniform(seed);
      p[2] = 0.7 + 1e-4 * tu_uniform(seed);
    } else {
      for (int d = 0; d < 3; d++)
        p[d] = tu_uniform(seed);
    }
  }
}

static inline double *tu_alloc(int64_t n) {
  double *v = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  if (!v) {
    fprintf(stderr, "test: out of memory\n");
    exit(2);
  }
  return v;
}

/* Relative l2 errors of pot/grad at `m` evenly spaced targets against kifmm_direct. */
static inline void tu_errors(int64_t nsrc, const double *src, const double *q, int64_t ntrg,
                      const double *trg, const double *pot, const double *grad, int64_t m,
                      double *err_pot, double *err_grad) {
  if (m > ntrg)
    m = ntrg;
  int64_t stride = ntrg / m;
  double *t = tu_alloc(3 * m), *p = tu_alloc(m), *g = tu_alloc(3 * m);
  for (int64_t i = 0; i < m; i++)
    memcpy(t + 3 * i, trg + 3 * i * stride, 3 * sizeof(double));
  int s = kifmm_direct(nsrc, src, q, m, t, p, g, 0);
  if (s != KIFMM_SUCCESS) {
    fprintf(stderr, "kifmm_direct failed: %s\n", kifmm_error_string(s));
    exit(2);
  }
  double ep = 0, np = 0, eg = 0, ng = 0;
  for (int64_t i = 0; i < m; i++) {
    int64_t j = i * stride;
    ep += (pot[j] - p[i]) * (pot[j] - p[i]);
    np += p[i] * p[i];
    for (int d = 0; d < 3; d++) {
      double e = grad ? grad[3 * j + d] - g[3 * i + d] : 0;
      eg += e * e;
      ng += g[3 * i + d] * g[3 * i + d];
    }
  }
  *err_pot = sqrt(ep / np);
  *err_grad = sqrt(eg / ng);
  free(t);
  free(p);
  free(g);
}

/* The tolerance contract at every target: a plan with options.tolerance = tol alone, its
 * potential within tol and gradient within 10 tol of kifmm_direct's (every target, as a few
 * can dominate). Prints a line with the order, leaf size and compression chosen. */
static inline void tu_check_tolerance(const char *label, int64_t ns, const double *src,
                                      const double *q, int64_t nt, const double *trg,
                                      double tol) {
  double *pot = tu_alloc(nt), *grad = tu_alloc(3 * nt);
  kifmm_options o = kifmm_default_options();
  o.tolerance = tol;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, ns, src, nt, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  double ep, eg;
  tu_errors(ns, src, q, nt, trg, pot, grad, nt, &ep, &eg);
  printf("  tolerance %.0e %s: order %d ncrit %d compression %.0e, pot %.2e grad %.2e\n", tol,
         label, st.order, st.ncrit, st.compression_tol, ep, eg);
  EXPECT(ep <= tol, "%s: potential error %.2e above the tolerance %.0e", label, ep, tol);
  EXPECT(eg <= 10 * tol, "%s: gradient error %.2e above 10x the tolerance %.0e", label, eg, tol);
  kifmm_plan_destroy(&plan);
  free(pot);
  free(grad);
}

#endif
