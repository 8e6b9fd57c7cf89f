/* SPDX-License-Identifier: BSD-3-Clause */
/* Reproducibility: 1 and 2 threads agree to 1e-12 relative, repeated evaluations on one
 * plan agree bitwise, and evaluating other charges in between changes nothing. */
#include "testutil.h"

static double max_rel_diff(int64_t n, const double *a, const double *b) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs(a[i] - b[i]));
    m = fmax(m, fabs(b[i]));
  }
  return d / m;
}

static void evaluate_with(int threads, int64_t ns, const double *src, int64_t nt,
                          const double *trg, const double *q, double *pot, double *grad) {
  kifmm_options o = kifmm_default_options();
  o.num_threads = threads;
  o.ncrit = 40;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, ns, src, nt, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
}

int main(void) {
  const int64_t ns = 12000, nt = 9000;
  uint64_t seed = 77;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt), *q = tu_alloc(ns), *q2 = tu_alloc(ns);
  double *p1 = tu_alloc(nt), *g1 = tu_alloc(3 * nt), *p2 = tu_alloc(nt), *g2 = tu_alloc(3 * nt);
  tu_points(TU_CLUSTER, ns, &seed, src);
  tu_points(TU_CLUSTER, nt, &seed, trg);
  for (int64_t i = 0; i < ns; i++) {
    q[i] = tu_uniform(&seed) - 0.5;
    q2[i] = tu_uniform(&seed);
  }
  evaluate_with(1, ns, src, nt, trg, q, p1, g1);
  evaluate_with(2, ns, src, nt, trg, q, p2, g2);
  double dp = max_rel_diff(nt, p1, p2), dg = max_rel_diff(3 * nt, g1, g2);
  printf("  1 vs 2 threads: pot %.2e grad %.2e\n", dp, dg);
  EXPECT(dp <= 1e-12 && dg <= 1e-12, "1 and 2 threads differ: pot %.3e grad %.3e", dp, dg);

  kifmm_plan *plan = NULL;
  kifmm_options o = kifmm_default_options();
  o.ncrit = 40;
  o.num_threads = 2;
  EXPECT_STATUS(kifmm_plan_create(&plan, ns, src, nt, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, p1, g1), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q2, p2, NULL), KIFMM_SUCCESS);
  EXPECT(max_rel_diff(nt, p1, p2) > 1e-3, "other charges give other potentials");
  EXPECT_STATUS(kifmm_evaluate(plan, q, p2, g2), KIFMM_SUCCESS);
  EXPECT(memcmp(p1, p2, sizeof(double) * nt) == 0 && memcmp(g1, g2, sizeof(double) * 3 * nt) == 0,
         "repeated evaluation is bitwise identical");
  kifmm_stats st;
  EXPECT_STATUS(kifmm_plan_stats(plan, &st), KIFMM_SUCCESS);
  EXPECT(st.nevaluations == 3, "three evaluations counted, got %lld", (long long)st.nevaluations);
  EXPECT(st.nsrc == ns && st.ntrg == nt && st.nboxes > 1 && st.nleaves > 1 && st.depth > 1,
         "geometry statistics");
  EXPECT(st.bytes > 0 && st.t_evaluate > 0 && st.t_p2p > 0 && st.t_m2l > 0, "timings and bytes");
  kifmm_plan_destroy(&plan);
  free(src);
  free(trg);
  free(q);
  free(q2);
  free(p1);
  free(g1);
  free(p2);
  free(g2);
  return tu_finish("test_threads");
}
