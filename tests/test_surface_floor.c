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
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt), *q = tu_alloc(ns);
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

  tu_check_tolerance("ellipsoid", ns, src, q, nt, trg, 6e-13);
  free(src);
  free(trg);
  free(q);
  return tu_finish("test_surface_floor");
}
