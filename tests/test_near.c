/* SPDX-License-Identifier: BSD-3-Clause */
/* The near field taken both ways (targets = sources, src/tree/near.c): against the same plan
 * with every pair taken one way (KIFMM_NEAR=one-way) to rounding, on the cube, a clustered
 * cloud (adaptive tree) and a periodic cell, Laplace and Yukawa, with and without gradient,
 * targets passed as the same array or as a copy, with coincident points; bit for bit the same
 * for 1, 2 and 3 threads; the potential against the direct sum. In double precision
 * (KIFMM_PRECISION=double); in single (Laplace's sums of the lowest orders) the near field
 * goes one way, the same bits as KIFMM_NEAR=one-way, within the single-precision error of
 * the double results. Run on the SIMD path named by argv[1] (KIFMM_SIMD set by ctest). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "testutil.h"

typedef struct {
  int32_t kernel;
  double kappa;
  int periodic;
  int order, ncrit, threads;
  int one_way; /* KIFMM_NEAR=one-way for this plan */
  int grad;
  int single; /* KIFMM_PRECISION=single for this plan, else double */
} near_case;

static int simd_has_single(void) {
  const char *e = getenv("KIFMM_SIMD");
  return !(e && strcmp(e, "portable") == 0);
}

static void evaluate(const near_case *c, int64_t n, const double *src, const double *trg,
                     const double *q, double *pot, double *grad) {
  if (c->one_way)
    setenv("KIFMM_NEAR", "one-way", 1);
  setenv("KIFMM_PRECISION", c->single ? "single" : "double", 1);
  kifmm_options o = kifmm_default_options();
  o.kernel = c->kernel;
  o.kernel_param = c->kappa;
  o.order = c->order;
  o.ncrit = c->ncrit;
  o.num_threads = c->threads;
  for (int d = 0; d < 3; d++)
    o.periodic[d] = c->periodic;
  kifmm_plan *plan = NULL;
  memset(pot, 0, (size_t)n * sizeof(double));
  memset(grad, 0, (size_t)(3 * n) * sizeof(double));
  EXPECT_STATUS(kifmm_plan_create(&plan, n, src, n, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, c->grad ? grad : NULL), KIFMM_SUCCESS);
  kifmm_stats st;
  EXPECT_STATUS(kifmm_plan_stats(plan, &st), KIFMM_SUCCESS);
  const int single = c->single && c->kernel == KIFMM_KERNEL_LAPLACE && simd_has_single();
  EXPECT(st.near_precision == (single ? 32 : 64), "near_precision %d, expected %d",
         st.near_precision, single ? 32 : 64);
  EXPECT(st.near_symmetric == (!c->one_way && !single), "near_symmetric %d", st.near_symmetric);
  kifmm_plan_destroy(&plan);
  unsetenv("KIFMM_NEAR");
  unsetenv("KIFMM_PRECISION");
}

static double rel_diff(int64_t n, const double *a, const double *b) {
  double d = 0, s = 0;
  for (int64_t i = 0; i < n; i++) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    s += b[i] * b[i];
  }
  return sqrt(d / s);
}

static int all_finite(int64_t n, const double *a) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(a[i]))
      return 0;
  return 1;
}

/* Case c with 1 and 3 threads gives the bits (pot, grad) of 2 threads; p, g: scratch. */
static void same_bits_for_threads(const char *label, near_case c, int64_t n, const double *x,
                                  const double *q, const double *pot, const double *grad,
                                  double *p, double *g) {
  for (int threads = 1; threads <= 3; threads += 2) {
    c.threads = threads;
    evaluate(&c, n, x, x, q, p, g);
    EXPECT(memcmp(p, pot, (size_t)n * sizeof(double)) == 0 &&
               memcmp(g, grad, (size_t)(3 * n) * sizeof(double)) == 0,
           "%s: %d threads give other bits than 2", label, threads);
  }
}

/* Both ways against one way (rounding apart, and not bit for bit: the other summation ran),
 * and 1, 2, 3 threads bit for bit. */
static void compare_ways(const char *label, near_case c, int64_t n, const double *x,
                         const double *q) {
  double *p1 = tu_alloc(n), *g1 = tu_alloc(3 * n), *p2 = tu_alloc(n), *g2 = tu_alloc(3 * n);
  c.one_way = 1;
  c.threads = 2;
  evaluate(&c, n, x, x, q, p1, g1);
  c.one_way = 0;
  evaluate(&c, n, x, x, q, p2, g2);
  double dp = rel_diff(n, p2, p1), dg = c.grad ? rel_diff(3 * n, g2, g1) : 0;
  printf("  %-28s both ways against one way: pot %.1e grad %.1e\n", label, dp, dg);
  EXPECT(all_finite(n, p2) && all_finite(3 * n, g2), "%s: results finite", label);
  /* the same 1/r of r2 both ways (Laplace's fast one included): the order of additions only */
  EXPECT(dp <= 1e-14 && dg <= 1e-14, "%s: both ways differ from one way by %.1e / %.1e", label,
         dp, dg);
  EXPECT(memcmp(p1, p2, (size_t)n * sizeof(double)) != 0,
         "%s: the near field was not taken both ways (results identical to one way)", label);
  same_bits_for_threads(label, c, n, x, q, p2, g2, p1, g1);
  free(p1);
  free(g1);
  free(p2);
  free(g2);
}

/* Single precision against double both ways, within the single-precision sums' measured
 * error (2e-7 potential, 4e-7 gradient; KIFMM_SINGLE_ERROR) times 2.5, and bit for bit
 * KIFMM_NEAR=one-way's (single precision goes one way); 1 and 3 threads bit for bit. */
static void compare_single(const char *label, near_case c, int64_t n, const double *x,
                           const double *q) {
  double *pd = tu_alloc(n), *gd = tu_alloc(3 * n), *ps = tu_alloc(n), *gs = tu_alloc(3 * n);
  double *po = tu_alloc(n), *go = tu_alloc(3 * n);
  c.threads = 2;
  evaluate(&c, n, x, x, q, pd, gd);
  c.single = 1;
  evaluate(&c, n, x, x, q, ps, gs);
  c.one_way = 1;
  evaluate(&c, n, x, x, q, po, go);
  c.one_way = 0;
  const double dp = rel_diff(n, ps, pd), dg = c.grad ? rel_diff(3 * n, gs, gd) : 0;
  printf("  %-28s single precision against double both ways: pot %.1e grad %.1e\n", label, dp,
         dg);
  EXPECT(all_finite(n, ps) && all_finite(3 * n, gs), "%s: single results finite", label);
  EXPECT(dp <= 5e-7 && dg <= 1e-6, "%s: single precision %.1e / %.1e off the double", label, dp,
         dg);
  if (simd_has_single()) /* the portable path has none: double both ways */
    EXPECT(memcmp(po, ps, (size_t)n * sizeof(double)) == 0 &&
               memcmp(go, gs, (size_t)(3 * n) * sizeof(double)) == 0,
           "%s: single precision other than one way's", label);
  if (simd_has_single())
    EXPECT(dp > 0, "%s: single precision gave the double bits", label);
  same_bits_for_threads(label, c, n, x, q, ps, gs, po, go);
  free(pd);
  free(gd);
  free(ps);
  free(gs);
  free(po);
  free(go);
}

static double *charges(int64_t n, uint64_t *seed, int neutral) {
  double *q = tu_alloc(n), sum = 0;
  for (int64_t i = 0; i < n; i++)
    sum += q[i] = tu_uniform(seed) - 0.5;
  if (neutral)
    for (int64_t i = 0; i < n; i++)
      q[i] -= sum / (double)n;
  return q;
}

static void free_space_cases(void) {
  const int64_t n = 8000;
  uint64_t seed = 41;
  double *x = tu_alloc(3 * n), *q = charges(n, &seed, 0);
  tu_points(TU_CUBE, n, &seed, x);
  near_case lap = {.kernel = KIFMM_KERNEL_LAPLACE, .order = 6, .ncrit = 64, .grad = 1};
  compare_ways("laplace cube", lap, n, x, q);
  near_case yuk = lap;
  yuk.kernel = KIFMM_KERNEL_YUKAWA;
  yuk.kappa = 4.0;
  compare_ways("yukawa cube kappa 4", yuk, n, x, q);
  near_case pot_only = lap;
  pot_only.grad = 0;
  compare_ways("laplace cube, potential only", pot_only, n, x, q);
  near_case big = lap;
  big.ncrit = 400; /* leaves of more than a chunk (64 points) */
  compare_ways("laplace cube, large leaves", big, n, x, q);
  compare_single("laplace cube", lap, n, x, q);
  compare_single("laplace cube, potential only", pot_only, n, x, q);
  compare_single("laplace cube, large leaves", big, n, x, q);

  /* the potential against the direct sum; targets as a copy give the same bits */
  double *pot = tu_alloc(n), *grad = tu_alloc(3 * n), *p2 = tu_alloc(n), *g2 = tu_alloc(3 * n);
  double *copy = tu_alloc(3 * n);
  memcpy(copy, x, (size_t)(3 * n) * sizeof(double));
  lap.threads = 2;
  evaluate(&lap, n, x, x, q, pot, grad);
  evaluate(&lap, n, x, copy, q, p2, g2);
  EXPECT(memcmp(pot, p2, (size_t)n * sizeof(double)) == 0 &&
             memcmp(grad, g2, (size_t)(3 * n) * sizeof(double)) == 0,
         "targets as a copy of the sources give other bits than the same array");
  double ep, eg;
  tu_errors(n, x, q, n, x, pot, grad, 500, &ep, &eg);
  printf("  laplace cube p6 against the direct sum: pot %.2e grad %.2e\n", ep, eg);
  EXPECT(ep <= 1e-5 && eg <= 1e-4, "laplace cube p6: errors %.2e / %.2e", ep, eg);
  free(pot);
  free(grad);
  free(p2);
  free(g2);
  free(copy);
  free(x);
  free(q);
}

/* An adaptive tree (W and X lists, leaves of many sizes side by side) and coincident points
 * (pairs at distance 0 inside a leaf). */
static void cluster_cases(void) {
  const int64_t n = 9000;
  uint64_t seed = 43;
  double *x = tu_alloc(3 * n), *q = charges(n, &seed, 0);
  tu_points(TU_CLUSTER, n, &seed, x);
  for (int64_t i = 0; i < 60; i++) /* 60 points land on others */
    memcpy(x + 3 * (n - 1 - i), x + 3 * (i * 7), 3 * sizeof(double));
  near_case lap = {.kernel = KIFMM_KERNEL_LAPLACE, .order = 6, .ncrit = 32, .grad = 1};
  compare_ways("laplace cluster + duplicates", lap, n, x, q);
  compare_single("laplace cluster + duplicates", lap, n, x, q);
  near_case yuk = lap;
  yuk.kernel = KIFMM_KERNEL_YUKAWA;
  yuk.kappa = 30.0;
  compare_ways("yukawa cluster kappa 30", yuk, n, x, q);
  free(x);
  free(q);
}

/* A periodic cell: pairs with an image of a leaf stay one way, the others go both ways. */
static void periodic_case(void) {
  const int64_t n = 6000;
  uint64_t seed = 47;
  double *x = tu_alloc(3 * n), *q = charges(n, &seed, 1);
  tu_points(TU_CUBE, n, &seed, x);
  near_case lap = {.kernel = KIFMM_KERNEL_LAPLACE, .periodic = 1, .order = 6, .ncrit = 64,
                   .grad = 1};
  compare_ways("laplace periodic cell", lap, n, x, q);
  compare_single("laplace periodic cell", lap, n, x, q);
  free(x);
  free(q);
}

int main(int argc, char **argv) {
  if (argc > 1 && !tu_simd_path_available(argv[1]))
    return 77; /* ctest's SKIP_RETURN_CODE */
  free_space_cases();
  cluster_cases();
  periodic_case();
  return tu_finish("test_near");
}
