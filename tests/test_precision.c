/* SPDX-License-Identifier: BSD-3-Clause */
/* Precision that follows the tolerance: plans whose tolerance leaves room for the
 * single-precision near field (Laplace, AVX-512 and AVX2) take it and still meet the
 * tolerance at every target (potential within it, gradient within 10x), on the cube, a
 * sphere, a clustered cloud and a cube far from the origin, with charges of both signs,
 * neutral +-1 and targets that are the sources or not; tighter tolerances keep double.
 * Plans of an order alone take single precision up to p6; KIFMM_PRECISION=double turns it
 * off; kifmm_stats says which ran (and that the near field then goes one way);
 * kifmm_evaluate_many gives each vector what kifmm_evaluate gives it. Yukawa's single-precision
 * sums against its double ones (order 6, kappa 0.5 to 30 over the width, four clouds), and
 * Stokes' (order 6, four clouds); the far field alone in single for all three kernels. Run on
 * the SIMD path named by argv[1] (KIFMM_SIMD set by ctest). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "testutil.h"

static int single_path; /* whether this SIMD path has single-precision sums */

/* What Stokes' single-precision sums may add (relative l2 against double): the plans' budget
 * (KIFMM_SINGLE_ERROR, 2e-7, twice that for the gradient); measured 1.15e-7 to 1.42e-7
 * (gradient 1.34e-7 to 2.39e-7) on AVX-512 and AVX2 */
#define STOKES_SINGLE_VALUE 2e-7
#define STOKES_SINGLE_GRAD 4e-7
/* What Yukawa's single-precision sums may add (relative l2 against double) */
#define YUKAWA_SINGLE_POT 4e-7 /* twice the largest measured, 2.0e-7 */
#define YUKAWA_SINGLE_GRAD 8e-7 /* twice 3.2e-7 */

typedef enum { CH_UNIFORM, CH_NEUTRAL } charge_kind;

static void cloud(int d, int64_t n, uint64_t *seed, double *x) {
  tu_points(d == 3 ? TU_CUBE : (tu_dist)d, n, seed, x);
  if (d == 3) /* width 1e3 at 1e6 from the origin */
    for (int64_t i = 0; i < 3 * n; i++)
      x[i] = 1e6 + 1e3 * x[i];
}

static const char *cloud_name(int d) { return d == 3 ? "offset cube" : tu_dist_name[d]; }

/* A plan of options o on n sources x (targets t, nt of them), evaluated with charges q:
 * the stats' precision and the errors against kifmm_direct at every target. */
static int run_plan(const kifmm_options *o, int64_t n, const double *x, const double *q,
                    int64_t nt, const double *t, double *ep, double *eg) {
  double *pot = tu_alloc(nt), *grad = tu_alloc(3 * nt);
  kifmm_plan *plan = NULL;
  int bits = 0;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, nt, t, o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_stats st;
  EXPECT_STATUS(kifmm_plan_stats(plan, &st), KIFMM_SUCCESS);
  bits = st.near_precision;
  kifmm_plan_destroy(&plan);
  tu_errors(n, x, q, nt, t, pot, grad, nt, ep, eg);
  free(pot);
  free(grad);
  return bits;
}

/* The tolerance contract with the precision the tolerance picks. */
static void contract(int d, charge_kind ch, int same, double tol, int expect_single) {
  const int64_t n = 12000;
  uint64_t seed = 101 + (uint64_t)(7 * d + 3 * ch + same);
  double *x = tu_alloc(3 * n), *q = tu_alloc(n), *t = same ? x : tu_alloc(3 * n);
  cloud(d, n, &seed, x);
  if (!same)
    cloud(d, n, &seed, t);
  for (int64_t i = 0; i < n; i++)
    q[i] = ch == CH_NEUTRAL ? (i % 2 ? 1.0 : -1.0) : tu_uniform(&seed) - 0.5;
  kifmm_options o = kifmm_default_options();
  o.tolerance = tol;
  double ep, eg;
  const int bits = run_plan(&o, n, x, q, n, t, &ep, &eg);
  const int want = expect_single && single_path ? 32 : 64;
  printf("  tolerance %.0e %-11s %-7s %-8s near field %d bits: pot %.2e grad %.2e\n", tol,
         cloud_name(d), ch == CH_NEUTRAL ? "+-1" : "uniform", same ? "same" : "separate", bits,
         ep, eg);
  EXPECT(bits == want, "tolerance %.0e %s: near field in %d bits, expected %d", tol,
         cloud_name(d), bits, want);
  EXPECT(ep <= tol, "tolerance %.0e %s: potential error %.2e", tol, cloud_name(d), ep);
  EXPECT(eg <= 10 * tol, "tolerance %.0e %s: gradient error %.2e", tol, cloud_name(d), eg);
  free(x);
  free(q);
  if (!same)
    free(t);
}

/* Orders alone: single precision up to p6; KIFMM_PRECISION=double keeps double there. */
static void by_order(void) {
  const int64_t n = 6000;
  uint64_t seed = 5;
  double *x = tu_alloc(3 * n), *q = tu_alloc(n);
  tu_points(TU_CUBE, n, &seed, x);
  for (int64_t i = 0; i < n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  const int orders[] = {4, 6, 7, 10};
  for (size_t k = 0; k < sizeof(orders) / sizeof(orders[0]); k++) {
    kifmm_options o = kifmm_default_options();
    o.order = orders[k];
    double ep, eg;
    int bits = run_plan(&o, n, x, q, n, x, &ep, &eg);
    const int want = orders[k] <= 6 && single_path ? 32 : 64;
    printf("  order %d alone: near field %d bits, pot %.2e grad %.2e\n", orders[k], bits, ep, eg);
    EXPECT(bits == want, "order %d: near field in %d bits, expected %d", orders[k], bits, want);
  }
  setenv("KIFMM_PRECISION", "double", 1);
  kifmm_options o = kifmm_default_options();
  o.order = 6;
  double ep, eg;
  EXPECT(run_plan(&o, n, x, q, n, x, &ep, &eg) == 64, "KIFMM_PRECISION=double at p6");
  unsetenv("KIFMM_PRECISION");
  free(x);
  free(q);
}

/* kifmm_evaluate_many's vector j against kifmm_evaluate on it, single-precision plans with
 * targets the sources (both ways) and separate (one way). */
static void many_against_one(int same) {
  const int64_t n = 6000;
  const int nv = 3;
  uint64_t seed = 9;
  double *x = tu_alloc(3 * n), *t = same ? x : tu_alloc(3 * n), *q = tu_alloc(nv * n);
  tu_points(TU_CLUSTER, n, &seed, x);
  if (!same)
    tu_points(TU_CLUSTER, n, &seed, t);
  for (int64_t i = 0; i < nv * n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  kifmm_options o = kifmm_default_options();
  o.tolerance = 1e-5;
  kifmm_plan *plan = NULL;
  double *pm = tu_alloc(nv * n), *gm = tu_alloc(3 * nv * n), *p1 = tu_alloc(n),
         *g1 = tu_alloc(3 * n);
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, t, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, q, pm, gm), KIFMM_SUCCESS);
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  EXPECT(st.near_precision == (single_path ? 32 : 64), "many: near field in %d bits",
         st.near_precision);
  /* single precision takes the near field one way (as distributed plans do) */
  EXPECT(st.near_symmetric == (same && !single_path), "many: near_symmetric %d",
         st.near_symmetric);
  double worst = 0;
  for (int v = 0; v < nv; v++) {
    EXPECT_STATUS(kifmm_evaluate(plan, q + v * n, p1, g1), KIFMM_SUCCESS);
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
      d += (pm[v * n + i] - p1[i]) * (pm[v * n + i] - p1[i]);
      s += p1[i] * p1[i];
      for (int c = 0; c < 3; c++) {
        const double e = gm[3 * v * n + 3 * i + c] - g1[3 * i + c];
        d += e * e;
        s += g1[3 * i + c] * g1[3 * i + c];
      }
    }
    worst = fmax(worst, sqrt(d / s));
  }
  printf("  evaluate_many against evaluate, targets %s: %.1e\n", same ? "same" : "separate",
         worst);
  EXPECT(worst <= 1e-13, "evaluate_many's vectors differ from evaluate by %.1e", worst);
  kifmm_plan_destroy(&plan);
  free(x);
  if (!same)
    free(t);
  free(q);
  free(pm);
  free(gm);
  free(p1);
  free(g1);
}

/* Yukawa (order 6, single precision where the path has it) against the same plan in double
 * (KIFMM_PRECISION=double): what the float sums add, weak to strong screening over the
 * cloud (kappa 30 over a cube of width 1: leaves whose calls are screened too strongly for
 * the float exp go the double way), targets the sources or not. */
static double rel_l2(int64_t n, const double *a, const double *b) {
  double d = 0, s = 0;
  for (int64_t i = 0; i < n; i++) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    s += b[i] * b[i];
  }
  return sqrt(d / s);
}

/* The plan of o evaluated twice, in the precision o's order and tolerance pick (k = 0) and
 * with KIFMM_PRECISION=double (k = 1): results p[k], g[k] (allocated here, the kernel's
 * value dimension times n and 3 times that) and the precision kifmm_stats reports. */
static void single_and_double(const kifmm_options *o, int64_t n, const double *x,
                              const double *t, const double *q, double *p[2], double *g[2],
                              int bits[2]) {
  int32_t vd = 1;
  EXPECT_STATUS(kifmm_kernel_dims(o->kernel, NULL, &vd), KIFMM_SUCCESS);
  for (int k = 0; k < 2; k++) {
    if (k)
      setenv("KIFMM_PRECISION", "double", 1);
    p[k] = tu_alloc(vd * n);
    g[k] = tu_alloc(3 * vd * n);
    kifmm_plan *plan = NULL;
    EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, t, o), KIFMM_SUCCESS);
    EXPECT_STATUS(kifmm_evaluate(plan, q, p[k], g[k]), KIFMM_SUCCESS);
    kifmm_stats st;
    kifmm_plan_stats(plan, &st);
    bits[k] = st.near_precision;
    kifmm_plan_destroy(&plan);
  }
  unsetenv("KIFMM_PRECISION");
}

/* A kernel's single-precision sums against its double ones at order 6 (plans of an order
 * alone take single precision there), n points of cloud d with random densities in
 * [-0.5, 0.5): the relative l2 differences of the values and gradients within bv and bg. */
static void kernel_single(int32_t kernel, double param, const char *label, int d, int same,
                          int64_t n, uint64_t seed, double bv, double bg) {
  int32_t sd = 1, vd = 1;
  EXPECT_STATUS(kifmm_kernel_dims(kernel, &sd, &vd), KIFMM_SUCCESS);
  double *x = tu_alloc(3 * n), *t = same ? x : tu_alloc(3 * n), *q = tu_alloc(sd * n);
  cloud(d, n, &seed, x);
  if (!same)
    cloud(d, n, &seed, t);
  for (int64_t i = 0; i < sd * n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  double *p[2], *g[2];
  int bits[2];
  kifmm_options o = kifmm_default_options();
  o.kernel = kernel;
  o.kernel_param = param;
  o.order = 6;
  single_and_double(&o, n, x, t, q, p, g, bits);
  const double ep = rel_l2(vd * n, p[0], p[1]), eg = rel_l2(3 * vd * n, g[0], g[1]);
  printf("  %s %-11s %-8s single against double: value %.2e gradient %.2e (%d bits)\n", label,
         cloud_name(d), same ? "same" : "separate", ep, eg, bits[0]);
  EXPECT(bits[0] == (single_path ? 32 : 64) && bits[1] == 64, "%s: %d and %d bits", label,
         bits[0], bits[1]);
  EXPECT(ep <= bv && eg <= bg, "%s %s: single adds %.2e (value), %.2e (gradient)", label,
         cloud_name(d), ep, eg);
  free(x);
  if (!same)
    free(t);
  free(q);
  for (int k = 0; k < 2; k++)
    free(p[k]), free(g[k]);
}

/* Yukawa with kappa over the cloud's width (the offset cube is 1e3 wide). */
static void yukawa_single(int d, double kappa, int same) {
  char label[48];
  snprintf(label, sizeof label, "yukawa kappa %-4g", kappa);
  kernel_single(KIFMM_KERNEL_YUKAWA, d == 3 ? kappa / 1e3 : kappa, label, d, same, 8000,
                77 + (uint64_t)d, YUKAWA_SINGLE_POT, YUKAWA_SINGLE_GRAD);
}

/* Stokes (viscosity 1, random forces): velocity and its gradient. */
static void stokes_single(int d, int same) {
  kernel_single(KIFMM_KERNEL_STOKES, 1.0, "stokes", d, same, 6000, 91 + (uint64_t)d,
                STOKES_SINGLE_VALUE, STOKES_SINGLE_GRAD);
}

/* Sources onto check surfaces (P2M, P2L) follow the near field's precision: sources in one
 * corner of the cloud's cube, targets in the opposite one, so that every interaction goes
 * through the far field; the single-precision plan differs from the double one (a plan whose
 * check surfaces took double sums would agree with it to rounding) by no more than the
 * plans' budget for the single sums (KIFMM_SINGLE_ERROR, 2e-7, and 4e-7 for the gradient;
 * measured here: 1.0e-7 to 1.9e-7 and 1.1e-7 to 3.5e-7, AVX-512 and AVX2, Laplace and Yukawa,
 * with the trees of two leaf-size rules). */
#define FAR_SINGLE_POT 2e-7
#define FAR_SINGLE_GRAD 4e-7

static void far_field_single(int32_t kernel) {
  const int64_t n = 20000;
  const int vd = kernel == KIFMM_KERNEL_STOKES ? 3 : 1;
  uint64_t seed = 31;
  double *x = tu_alloc(3 * n), *t = tu_alloc(3 * n), *q = tu_alloc(vd * n);
  tu_points(TU_CUBE, n, &seed, x);
  tu_points(TU_CUBE, n, &seed, t);
  for (int64_t i = 0; i < 3 * n; i++) {
    x[i] = 0.25 * x[i];
    t[i] = 0.75 + 0.25 * t[i];
  }
  for (int64_t i = 0; i < vd * n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  double *p[2], *g[2];
  int bits[2];
  kifmm_options o = kifmm_default_options();
  o.kernel = kernel;
  o.kernel_param = kernel == KIFMM_KERNEL_LAPLACE ? 0.0 : kernel == KIFMM_KERNEL_YUKAWA ? 2.0 : 1.0;
  o.tolerance = kernel == KIFMM_KERNEL_STOKES ? 1e-5 : 1e-6; /* Stokes: p6 (1e-6 takes p9) */
  kifmm_estimate est;
  EXPECT_STATUS(kifmm_plan_estimate(n, x, n, t, &o, &est), KIFMM_SUCCESS);
  EXPECT(est.p2p_pairs == 0, "far field only: %.0f near pairs", est.p2p_pairs);
  single_and_double(&o, n, x, t, q, p, g, bits);
  const double ep = rel_l2(vd * n, p[0], p[1]), eg = rel_l2(3 * vd * n, g[0], g[1]);
  printf("  far field only, %s: single against double: pot %.2e grad %.2e (%d bits)\n",
         kernel == KIFMM_KERNEL_YUKAWA ? "yukawa" : kernel == KIFMM_KERNEL_STOKES ? "stokes" : "laplace",
         ep, eg, bits[0]);
  EXPECT(bits[0] == (single_path ? 32 : 64) && bits[1] == 64, "far field: %d and %d bits",
         bits[0], bits[1]);
  if (single_path)
    EXPECT(ep > 1e-12, "far field: the check surfaces took double sums (%.1e)", ep);
  EXPECT(ep <= FAR_SINGLE_POT && eg <= FAR_SINGLE_GRAD,
         "far field: single adds %.2e (potential), %.2e (gradient)", ep, eg);
  free(x);
  free(t);
  free(q);
  for (int k = 0; k < 2; k++)
    free(p[k]), free(g[k]);
}

int main(int argc, char **argv) {
  if (argc > 1 && !tu_simd_path_available(argv[1]))
    return 77; /* ctest's SKIP_RETURN_CODE */
  const char *e = getenv("KIFMM_SIMD");
  single_path = !(e && strcmp(e, "portable") == 0);
  for (int d = 0; d < 4; d++)
    for (int ch = 0; ch < 2; ch++)
      for (int same = 0; same < 2; same++) {
        contract(d, (charge_kind)ch, same, 1e-4, 1);
        contract(d, (charge_kind)ch, same, 1e-6, 1);
      }
  contract(0, CH_NEUTRAL, 1, 1e-7, 0);
  contract(2, CH_UNIFORM, 0, 1e-7, 0);
  by_order();
  many_against_one(1);
  many_against_one(0);
  const double kappas[] = {0.5, 3.0, 10.0, 30.0};
  for (int d = 0; d < 4; d++)
    for (int k = 0; k < 4; k++)
      yukawa_single(d, kappas[k], (d + k) % 2);
  for (int d = 0; d < 4; d++)
    stokes_single(d, d % 2);
  far_field_single(KIFMM_KERNEL_LAPLACE);
  far_field_single(KIFMM_KERNEL_YUKAWA);
  far_field_single(KIFMM_KERNEL_STOKES);
  return tu_finish("test_precision");
}
