/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm_evaluate_many: every vector equals its own kifmm_evaluate (to 1e-13 of the largest
 * value) for several vector counts (odd ones leave remainders in the kernels' vector groups),
 * with and without gradient, on cube and clustered inputs, separate and identical points, at
 * order 4 (and two cases at order 8); repeatable bitwise; the argument errors leave the
 * outputs untouched; one case against the direct sum. Run on the SIMD path named by argv[1] (KIFMM_SIMD set by
 * ctest); 77 when this CPU does not run it. */
#include "testutil.h"

enum { NSRC = 3000, NTRG = 2500, VMAX = 8 };
static const int nvecs[] = {1, 2, 3, 5, 8};

/* max |a - b| / max |b| over n values */
static double rel_diff(int64_t n, const double *a, const double *b) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs(a[i] - b[i]));
    m = fmax(m, fabs(b[i]));
  }
  return m > 0 ? d / m : d;
}

typedef struct {
  int64_t nsrc, ntrg;
  double *src, *trg, *q;
  double *pot1, *grad1; /* each vector alone: VMAX x ntrg and VMAX x 3 ntrg */
} problem;

static void compare_many(kifmm_plan *plan, const problem *pb, int nv, int with_grad,
                         const char *what) {
  double *pot = tu_alloc(nv * pb->ntrg), *grad = with_grad ? tu_alloc(3 * nv * pb->ntrg) : NULL;
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, pb->q, pot, grad), KIFMM_SUCCESS);
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  EXPECT(st.nvec == nv, "%s: stats.nvec %d, expected %d", what, st.nvec, nv);
  for (int v = 0; v < nv; v++) {
    double ep = rel_diff(pb->ntrg, pot + v * pb->ntrg, pb->pot1 + v * pb->ntrg);
    EXPECT(ep <= 1e-13, "%s nvec %d grad %d vector %d: pot differs by %.2e", what, nv,
           with_grad, v, ep);
    if (with_grad) {
      double eg = rel_diff(3 * pb->ntrg, grad + 3 * v * pb->ntrg, pb->grad1 + 3 * v * pb->ntrg);
      EXPECT(eg <= 1e-13, "%s nvec %d vector %d: grad differs by %.2e", what, nv, v, eg);
    }
  }
  free(pot);
  free(grad);
}

/* The same call twice gives the same bits. */
static void check_repeatable(kifmm_plan *plan, const problem *pb) {
  const int nv = 5;
  double *p1 = tu_alloc(nv * pb->ntrg), *p2 = tu_alloc(nv * pb->ntrg);
  double *g1 = tu_alloc(3 * nv * pb->ntrg), *g2 = tu_alloc(3 * nv * pb->ntrg);
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, pb->q, p1, g1), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, 2, pb->q, p2, g2), KIFMM_SUCCESS); /* other layout */
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, pb->q, p2, g2), KIFMM_SUCCESS);
  EXPECT(memcmp(p1, p2, sizeof(double) * nv * pb->ntrg) == 0, "pot not bitwise repeatable");
  EXPECT(memcmp(g1, g2, sizeof(double) * 3 * nv * pb->ntrg) == 0, "grad not bitwise repeatable");
  free(p1);
  free(p2);
  free(g1);
  free(g2);
}

static void run_case(int order, tu_dist dist, int identical) {
  uint64_t seed = 1234 + 17 * order + 5 * dist + identical;
  const int64_t scale = order > 4 ? 2 : 1; /* order 8 costs far more a box */
  problem pb = {NSRC / scale, (identical ? NSRC : NTRG) / scale, NULL, NULL, NULL, NULL, NULL};
  pb.src = tu_alloc(3 * pb.nsrc);
  tu_points(dist, pb.nsrc, &seed, pb.src);
  if (identical) {
    pb.trg = pb.src;
  } else {
    pb.trg = tu_alloc(3 * pb.ntrg);
    tu_points(dist, pb.ntrg, &seed, pb.trg);
  }
  pb.q = tu_alloc(VMAX * pb.nsrc);
  for (int64_t i = 0; i < VMAX * pb.nsrc; i++)
    pb.q[i] = 2 * tu_uniform(&seed) - 1;
  pb.pot1 = tu_alloc(VMAX * pb.ntrg);
  pb.grad1 = tu_alloc(3 * VMAX * pb.ntrg);
  kifmm_options o = kifmm_default_options();
  o.order = order;
  o.ncrit = 40;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, pb.nsrc, pb.src, pb.ntrg, pb.trg, &o), KIFMM_SUCCESS);
  if (!plan)
    return;
  for (int v = 0; v < VMAX; v++)
    EXPECT_STATUS(kifmm_evaluate(plan, pb.q + v * pb.nsrc, pb.pot1 + v * pb.ntrg,
                                 pb.grad1 + 3 * v * pb.ntrg),
                  KIFMM_SUCCESS);
  char what[64];
  snprintf(what, sizeof what, "p%d %s%s", order, tu_dist_name[dist],
           identical ? " identical" : "");
  for (size_t i = 0; i < sizeof(nvecs) / sizeof(nvecs[0]); i++) {
    compare_many(plan, &pb, nvecs[i], 1, what);
    compare_many(plan, &pb, nvecs[i], 0, what);
  }
  check_repeatable(plan, &pb);
  printf("%s: nvec 1-8 match single evaluations\n", what);
  kifmm_plan_destroy(&plan);
  free(pb.src);
  if (!identical)
    free(pb.trg);
  free(pb.q);
  free(pb.pot1);
  free(pb.grad1);
}

/* Argument errors: outputs keep their sentinel. */
static int untouched(int64_t n, const double *v) {
  for (int64_t i = 0; i < n; i++)
    if (v[i] != -7.0)
      return 0;
  return 1;
}

static void check_errors(void) {
  uint64_t seed = 99;
  const int64_t n = 500, nv = 3;
  double *x = tu_alloc(3 * n), *q = tu_alloc(nv * n), *pot = tu_alloc(nv * n),
         *grad = tu_alloc(3 * nv * n);
  tu_points(TU_CUBE, n, &seed, x);
  for (int64_t i = 0; i < nv * n; i++)
    q[i] = tu_uniform(&seed);
  for (int64_t i = 0; i < nv * n; i++)
    pot[i] = -7.0;
  for (int64_t i = 0; i < 3 * nv * n; i++)
    grad[i] = -7.0;
  kifmm_options o = kifmm_default_options();
  o.order = 4;
  o.nvec = 0;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &o), KIFMM_ERR_INVALID_NVEC);
  EXPECT(plan == NULL, "plan set on failure");
  o.nvec = -3;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &o), KIFMM_ERR_INVALID_NVEC);
  o.nvec = 1;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(NULL, 1, q, pot, grad), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_evaluate_many(plan, 0, q, pot, grad), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, 0, NULL, NULL, NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, -1, q, pot, grad), KIFMM_ERR_INVALID_NVEC);
  EXPECT_STATUS(kifmm_evaluate_many(plan, (int)nv, NULL, pot, grad), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_evaluate_many(plan, (int)nv, q, NULL, grad), KIFMM_ERR_NULL_ARGUMENT);
  q[(nv - 1) * n + n / 2] = NAN; /* the last vector only */
  EXPECT_STATUS(kifmm_evaluate_many(plan, (int)nv, q, pot, grad), KIFMM_ERR_NONFINITE_CHARGE);
  q[(nv - 1) * n + n / 2] = INFINITY;
  EXPECT_STATUS(kifmm_evaluate_many(plan, (int)nv, q, pot, NULL), KIFMM_ERR_NONFINITE_CHARGE);
  EXPECT(untouched(nv * n, pot) && untouched(3 * nv * n, grad), "outputs written on failure");
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  EXPECT(st.nevaluations == 0, "%lld evaluations counted after failures",
         (long long)st.nevaluations);
  kifmm_plan_destroy(&plan);
  free(x);
  free(q);
  free(pot);
  free(grad);
}

/* Accuracy against the direct sum, each vector, on a plan tuned for 8 vectors (its own leaf
 * size); the plan's memory grows with the vectors evaluated. */
static void check_direct(void) {
  uint64_t seed = 7;
  const int64_t ns = 4000, nt = 3000;
  const int nv = 3;
  double *s = tu_alloc(3 * ns), *t = tu_alloc(3 * nt), *q = tu_alloc(nv * ns);
  double *pot = tu_alloc(nv * nt), *grad = tu_alloc(3 * nv * nt);
  tu_points(TU_CUBE, ns, &seed, s);
  tu_points(TU_CUBE, nt, &seed, t);
  for (int64_t i = 0; i < nv * ns; i++)
    q[i] = 2 * tu_uniform(&seed) - 1;
  kifmm_options o = kifmm_default_options();
  o.order = 6;
  o.nvec = 8;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, ns, s, nt, t, &o), KIFMM_SUCCESS);
  kifmm_stats before, after;
  kifmm_plan_stats(plan, &before);
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, q, pot, grad), KIFMM_SUCCESS);
  kifmm_plan_stats(plan, &after);
  EXPECT(after.bytes > before.bytes, "stats.bytes %lld did not grow from %lld for %d vectors",
         (long long)after.bytes, (long long)before.bytes, nv);
  for (int v = 0; v < nv; v++) {
    double ep, eg;
    tu_errors(ns, s, q + v * ns, nt, t, pot + v * nt, grad + 3 * v * nt, 400, &ep, &eg);
    EXPECT(ep < 2e-5 && eg < 2e-4, "vector %d: error pot %.2e grad %.2e", v, ep, eg);
    printf("direct sum, vector %d: pot %.2e grad %.2e\n", v, ep, eg);
  }
  kifmm_plan_destroy(&plan);
  free(s);
  free(t);
  free(q);
  free(pot);
  free(grad);
}

/* options.nvec tunes the plan: a larger automatic leaf, and the estimate counts the vectors. */
static void check_tuning(void) {
  uint64_t seed = 11;
  const int64_t n = 20000;
  double *x = tu_alloc(3 * n);
  tu_points(TU_CUBE, n, &seed, x);
  kifmm_options o = kifmm_default_options();
  kifmm_estimate one, eight;
  EXPECT_STATUS(kifmm_plan_estimate(n, x, n, x, &o, &one), KIFMM_SUCCESS);
  o.nvec = 8;
  EXPECT_STATUS(kifmm_plan_estimate(n, x, n, x, &o, &eight), KIFMM_SUCCESS);
  EXPECT(eight.ncrit > one.ncrit, "ncrit %d for 8 vectors, %d for 1", eight.ncrit, one.ncrit);
  EXPECT(eight.bytes_plan > one.bytes_plan && eight.bytes_peak > one.bytes_peak,
         "memory estimate does not grow with nvec");
  EXPECT(eight.t_evaluate > one.t_evaluate && eight.t_evaluate < 8 * one.t_evaluate,
         "time estimate %.3g for 8 vectors, %.3g for 1", eight.t_evaluate, one.t_evaluate);
  printf("ncrit %d (1 vector) %d (8 vectors)\n", one.ncrit, eight.ncrit);
  free(x);
}

int main(int argc, char **argv) {
  if (argc > 1 && !tu_simd_path_available(argv[1]))
    return 77; /* ctest's SKIP_RETURN_CODE */
  check_errors();
  for (int d = TU_CUBE; d <= TU_CLUSTER; d += TU_CLUSTER - TU_CUBE)
    for (int identical = 0; identical <= 1; identical++)
      run_case(4, (tu_dist)d, identical);
  run_case(8, TU_CUBE, 0);
  run_case(8, TU_CLUSTER, 1);
  check_direct();
  check_tuning();
  return tu_finish("test_many");
}
