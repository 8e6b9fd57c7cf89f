/* SPDX-License-Identifier: BSD-3-Clause */
/* The tolerance contract on targets away from every source: sources in a unit cube, targets
 * on a sphere of radius 3 around it. Their whole field comes from expansions, whose error
 * varies on the scale of the boxes while the field varies on the scale of the distance to the
 * sources, so the gradient's relative error is 20-180 times the potential's; the order chosen
 * from the tolerance must still hold the potential within it and the gradient within 10x
 * (against kifmm_direct at every target). Targets among the sources keep the cheaper order. */
#include "testutil.h"

static void run_case(double tol) {
  const int64_t ns = 6000, nt = 5000;
  uint64_t seed = 11;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt), *q = tu_alloc(ns);
  tu_points(TU_CUBE, ns, &seed, src);
  tu_points(TU_SPHERE, nt, &seed, trg);
  for (int64_t i = 0; i < 3 * nt; i++) /* radius 3 around the cube's centre */
    trg[i] = 0.5 + 3.0 * trg[i];
  for (int64_t i = 0; i < ns; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  tu_check_tolerance("sphere of radius 3", ns, src, q, nt, trg, tol);
  free(src);
  free(trg);
  free(q);
}

/* Targets among the sources (a cube each) keep the order of the potential's table: 1e-5
 * takes p6, as in test_tolerance. */
static void test_near_order(void) {
  const int64_t n = 4000;
  uint64_t seed = 5;
  double *src = tu_alloc(3 * n), *trg = tu_alloc(3 * n);
  tu_points(TU_CUBE, n, &seed, src);
  tu_points(TU_CUBE, n, &seed, trg);
  kifmm_options o = kifmm_default_options();
  o.tolerance = 1e-5;
  kifmm_estimate est;
  EXPECT_STATUS(kifmm_plan_estimate(n, src, n, trg, &o, &est), KIFMM_SUCCESS);
  EXPECT(est.order == 6, "targets among sources at 1e-5: order %d, not 6", est.order);
  free(src);
  free(trg);
}

int main(void) {
  const double tols[] = {1e-4, 1e-6, 1e-8};
  for (int i = 0; i < 3; i++)
    run_case(tols[i]);
  test_near_order();
  return tu_finish("test_far_targets");
}
