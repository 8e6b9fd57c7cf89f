/* SPDX-License-Identifier: BSD-3-Clause */
/* The tolerance contract at the rounding floor of points on a surface: an ellipsoid of
 * semi-axes 1, 0.5, 0.25 (5e4 sources + 5e4 targets, each set sampled on its own, so that
 * some targets lie within 1e-4 of a source). Its error stays near 2.7e-13 at p14-p16 (the
 * scaled coordinates' rounding, amplified by the closest pairs' 1/r), so a tolerance below
 * 6e-13 is refused on it, and the smallest accepted one is met at every target (potential
 * within it, gradient within 10x, against kifmm_direct). */
#include "testutil.h"

static void ellipsoid(int64_t n, uint64_t *seed, double *xyz) {
  tu_points(TU_SPHERE, n, seed, xyz);
  for (int64_t i = 0; i < n; i++) {
    xyz[3 * i + 1] *= 0.5;
    xyz[3 * i + 2] *= 0.25;
  }
}

int main(void) {
  const int64_t ns = 50000, nt = 50000;
  uint64_t seed = 21;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt), *q = tu_alloc(ns),
         *pot = tu_alloc(nt), *grad = tu_alloc(3 * nt);
  ellipsoid(ns, &seed, src);
  ellipsoid(nt, &seed, trg);
  for (int64_t i = 0; i < ns; i++)
    q[i] = tu_uniform(&seed) - 0.5;

  const double refused[] = {1.2e-13, 2e-13, 5e-13};
  for (int i = 0; i < 3; i++) {
    kifmm_options o = kifmm_default_options();
    o.tolerance = refused[i];
    kifmm_plan *plan = NULL;
    EXPECT_STATUS(kifmm_plan_create(&plan, ns, src, nt, trg, &o), KIFMM_ERR_INVALID_TOLERANCE);
    EXPECT(plan == NULL, "no plan for tolerance %.1e on the ellipsoid", refused[i]);
  }

  const double tol = 6e-13;
  kifmm_options o = kifmm_default_options();
  o.tolerance = tol;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, ns, src, nt, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  double ep, eg;
  tu_errors(ns, src, q, nt, trg, pot, grad, nt, &ep, &eg); /* every target: a few dominate */
  printf("  tolerance %.0e ellipsoid: order %d ncrit %d, pot %.2e grad %.2e\n", tol, st.order,
         st.ncrit, ep, eg);
  EXPECT(ep <= tol, "potential error %.2e above the tolerance %.0e", ep, tol);
  EXPECT(eg <= 10 * tol, "gradient error %.2e above 10x the tolerance %.0e", eg, tol);
  kifmm_plan_destroy(&plan);
  free(src);
  free(trg);
  free(q);
  free(pot);
  free(grad);
  return tu_finish("test_surface_floor");
}
