/* SPDX-License-Identifier: BSD-3-Clause */
/* Whole-FMM accuracy against a direct sum: relative l2 error of potential and gradient on
 * >= 1000 sampled targets, for uniform, sphere-surface and strongly clustered points, with
 * separate and identical source/target sets. Usage: test_accuracy ORDER. */
#include "testutil.h"

typedef struct {
  int order;
  double pot, grad;
  int64_t nsrc; /* problem size and leaf size: high orders use fewer, larger leaves, */
  int ncrit;    /* where the FMM is cheaper, so the test stays quick */
} tolerance;

/* p6 and p10 are the figures exafmm-t reaches on this problem; p4 and p8 sit between.
 * p12 and p16: the errors reached with the check surfaces of lattice order p + 2 (p12 up to
 * 8.1e-12 potential, 3.6e-11 gradient; p16 up to 4.9e-14 and 2.5e-13; before them 2.6e-11,
 * 8.9e-11, 1.2e-13, 5.1e-13) with a margin of 2. PVFMM reaches 1.7e-11 at p12 and 7.4e-14
 * at p16 on its uniform 2e4 problem. p18 (cube and sphere up to 2.7e-14 potential, 1.3e-13
 * gradient; FMM3D at eps 1e-12 reaches 2.8e-14 on a cube of 1e6) with a margin of 2. */
static const tolerance tolerances[] = {
    {4, 3e-4, 1.5e-3, 8000, 48},       {6, 3e-6, 1.5e-5, 8000, 48},
    {8, 3e-7, 2e-6, 8000, 48},         {10, 3e-8, 2e-7, 8000, 48},
    {12, 1.7e-11, 7.5e-11, 6000, 300}, {16, 1e-13, 5e-13, 6000, 300},
    {18, 5.5e-14, 2.6e-13, 6000, 300}};

/* The clustered points lie within 1e-9 of each other: rounding their coordinates once, as
 * the tree's scaling to [-1, 1]^3 does, changes the exact sums by 2.3e-11 (potential) and
 * 1.0e-10 (gradient) at 6000 points (measured with kifmm_direct on both), so no order does
 * better there; 2x that floor bounds the high orders on this input. */
static const tolerance cluster_floor = {0, 5e-11, 2e-10, 0, 0};

static void run_case(int order, tu_dist dist, int identical, const tolerance *tol) {
  tolerance t = *tol;
  if (dist == TU_CLUSTER) {
    t.pot = fmax(t.pot, cluster_floor.pot);
    t.grad = fmax(t.grad, cluster_floor.grad);
  }
  tol = &t;
  const int64_t ns = tol->nsrc, nt = identical ? ns : ns * 7 / 8;
  uint64_t seed = 100 + (uint64_t)dist * 7 + (uint64_t)identical;
  double *src = tu_alloc(3 * ns), *trg = identical ? src : tu_alloc(3 * nt), *q = tu_alloc(ns),
         *pot = tu_alloc(nt), *grad = tu_alloc(3 * nt);
  tu_points(dist, ns, &seed, src);
  if (!identical)
    tu_points(dist, nt, &seed, trg);
  for (int64_t i = 0; i < ns; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  kifmm_options o = kifmm_default_options();
  o.order = order;
  o.ncrit = tol->ncrit;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, ns, src, nt, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  double ep, eg;
  tu_errors(ns, src, q, nt, trg, pot, grad, 1200, &ep, &eg);
  printf("  p=%d %-7s %-9s depth=%d leaves=%lld: pot %.2e (tol %.1e) grad %.2e (tol %.1e)\n",
         order, tu_dist_name[dist], identical ? "identical" : "separate", st.depth,
         (long long)st.nleaves, ep, tol->pot, eg, tol->grad);
  EXPECT(ep <= tol->pot, "p=%d %s potential error %.3e > %.1e", order, tu_dist_name[dist], ep,
         tol->pot);
  EXPECT(eg <= tol->grad, "p=%d %s gradient error %.3e > %.1e", order, tu_dist_name[dist], eg,
         tol->grad);
  kifmm_plan_destroy(&plan);
  free(src);
  if (!identical)
    free(trg);
  free(q);
  free(pot);
  free(grad);
}

int main(int argc, char **argv) {
  int order = argc > 1 ? atoi(argv[1]) : 6;
  const tolerance *tol = NULL;
  for (size_t i = 0; i < sizeof(tolerances) / sizeof(tolerances[0]); i++)
    if (tolerances[i].order == order)
      tol = &tolerances[i];
  if (!tol) {
    fprintf(stderr, "no tolerance for order %d\n", order);
    return 2;
  }
  if (!tu_simd_path_available(getenv("KIFMM_SIMD")))
    return 77; /* ctest's SKIP_RETURN_CODE */
  for (int d = TU_CUBE; d <= TU_CLUSTER; d++)
    for (int identical = 0; identical <= 1; identical++)
      run_case(order, (tu_dist)d, identical, tol);
  return tu_finish("test_accuracy");
}
