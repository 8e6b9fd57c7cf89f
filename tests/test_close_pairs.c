/* SPDX-License-Identifier: BSD-3-Clause */
/* Nearly coincident points, for each kernel on the SIMD path asked for (argv[1]): a pair 1e-40
 * apart near the cloud's centre, whose sums (1/r^3 ~ 1e120, Stokes' 1/r^5 ~ 1e200) stay finite
 * and must equal the pair's own terms, which dominate everything else at its two points; and
 * a pair 1e-110 apart there, whose 1/r^3 overflowed before the plans snapped scaled
 * coordinates within 2^-150 of the centre to 0 (KIFMM_ERR_NOT_REPRESENTABLE then, and NaN from
 * kifmm_direct): now it counts as coincident and the results are finite and of the cloud's
 * size. Targets are the sources (the near field taken both ways) or a separate array (one
 * way), at tolerance 1e-8 (double sums) and by order 6 (single-precision sums where the path
 * has them). */
#include "testutil.h"

enum { NP = 1200 };
static const double NEAR = 1e-40, SNAPPED = 1e-110, PI = 3.14159265358979323846;

/* the cloud: NP - 4 uniform points in [-1, 1]^3 with two of its corners at -1 and +1 (so the
 * bounding box's centre is 0 exactly), then the pair NEAR apart at the centre and the pair
 * SNAPPED apart on the centre's plane x = 0 */
static void make_cloud(double *x) {
  uint64_t seed = 11;
  for (int i = 0; i < 3 * (NP - 4); i++)
    x[i] = 2 * tu_uniform(&seed) - 1;
  for (int d = 0; d < 3; d++) {
    x[d] = -1.0;
    x[3 + d] = 1.0;
  }
  const double pair[4][3] = {
      {NEAR, 0, 0}, {2 * NEAR, NEAR, 0}, {SNAPPED, 0.5, 0.25}, {2 * SNAPPED, 0.5, 0.25}};
  memcpy(x + 3 * (NP - 4), pair, sizeof(pair));
}

/* Laplace and Yukawa (exp(-kappa r) = 1 at r = 1e-40): q / (4 pi r), -q d / (4 pi r^3) with
 * d = y - x; Stokes: u_i = (f_i / r + d_i (d . f) / r^3) / (8 pi mu) and its gradient. The
 * pair's term at y from a partner at x with density q. */
static void pair_term(int kernel, const double *y, const double *x, const double *q,
                      double *val, double *grad) {
  double d[3] = {y[0] - x[0], y[1] - x[1], y[2] - x[2]};
  double r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]), R = 1 / r;
  if (kernel != KIFMM_KERNEL_STOKES) {
    const double f = q[0] / (4 * PI);
    val[0] = f * R;
    for (int l = 0; l < 3; l++)
      grad[l] = -f * R * R * (d[l] * R);
    return;
  }
  const double c = 1 / (8 * PI); /* mu = 1 */
  double df = (d[0] * q[0] + d[1] * q[1] + d[2] * q[2]) * R;
  for (int i = 0; i < 3; i++) {
    double ui = d[i] * R;
    val[i] = c * R * (q[i] + ui * df);
    for (int l = 0; l < 3; l++) { /* d/dy_l of f_i / r + u_i (u . f) / r, u = d / r */
      double ul = d[l] * R;
      grad[3 * i + l] = c * R * R *
                        (-q[i] * ul + ((i == l) - ui * ul) * df + ui * (q[l] - ul * df) -
                         ui * df * ul);
    }
  }
}

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

static void check(int kernel, double tolerance, int separate) {
  const char *name = kernel == KIFMM_KERNEL_LAPLACE  ? "laplace"
                     : kernel == KIFMM_KERNEL_YUKAWA ? "yukawa"
                                                     : "stokes";
  int32_t sd, td;
  kifmm_kernel_dims(kernel, &sd, &td);
  const int nt = separate ? NP + 1 : NP;
  double *x = tu_alloc(3 * NP), *y = tu_alloc(3 * nt), *q = tu_alloc(sd * NP);
  double *val = tu_alloc(td * nt), *grad = tu_alloc(3 * td * nt);
  make_cloud(x);
  memcpy(y, x, 3 * NP * sizeof(double));
  if (separate) /* one target more: not the sources, so the near field goes one way */
    y[3 * NP] = y[3 * NP + 1] = y[3 * NP + 2] = 0.5;
  uint64_t seed = 3;
  for (int i = 0; i < sd * NP; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  kifmm_options o = kifmm_default_options();
  o.kernel = kernel;
  o.kernel_param = kernel == KIFMM_KERNEL_LAPLACE ? 0.0 : 1.0;
  o.tolerance = tolerance;
  o.num_threads = 2;
  kifmm_plan *p = NULL;
  EXPECT_STATUS(kifmm_plan_create(&p, NP, x, nt, separate ? y : x, &o), KIFMM_SUCCESS);
  int status = p ? kifmm_evaluate(p, q, val, grad) : -1;
  EXPECT(status == KIFMM_SUCCESS, "%s tol %g separate %d: evaluate gave %d (%s)", name,
         tolerance, separate, status, kifmm_error_string(status));
  kifmm_plan_destroy(&p);
  if (status != KIFMM_SUCCESS)
    goto out;
  /* the NEAR pair: each point's values are its partner's term to rounding (the rest of the
   * cloud adds O(1) to values of 1e40 and gradients of 1e80) */
  double worst = 0;
  for (int a = 0; a < 2; a++) {
    int i = NP - 4 + a, j = NP - 3 - a;
    double v[3], g[9];
    pair_term(kernel, x + 3 * i, x + 3 * j, q + sd * j, v, g);
    for (int k = 0; k < td; k++)
      worst = fmax(worst, rel(val[td * i + k], v[k]));
    double gmax = 0;
    for (int k = 0; k < 3 * td; k++)
      gmax = fmax(gmax, fabs(g[k]));
    for (int k = 0; k < 3 * td; k++) /* components that are not zero to rounding */
      if (fabs(g[k]) > 1e-3 * gmax)
        worst = fmax(worst, rel(grad[3 * td * i + k], g[k]));
  }
  /* the AVX-512 path's fast 1/sqrt (taken where the order's error is far larger) is within
   * 1.5e-13 a pair, 4.5e-13 for a gradient's 1/r^3; the other paths' within 1e-15 */
  EXPECT(worst < 1e-12, "%s tol %g separate %d: a pair 1e-40 apart is %.2e off its own terms",
         name, tolerance, separate, worst);
  /* the SNAPPED pair and every other point: finite, of the cloud's size (unit-size densities,
   * 1200 points: values under 1e4, gradients under 1e8 away from the NEAR pair) */
  int bad = 0;
  for (int i = 0; i < nt; i++) {
    if (i == NP - 4 || i == NP - 3)
      continue;
    for (int k = 0; k < td; k++)
      bad += !(fabs(val[td * i + k]) < 1e4);
    for (int k = 0; k < 3 * td; k++)
      bad += !(fabs(grad[3 * td * i + k]) < 1e8);
  }
  EXPECT(bad == 0, "%s tol %g separate %d: %d values not finite or too large", name, tolerance,
         separate, bad);
out:
  free(x);
  free(y);
  free(q);
  free(val);
  free(grad);
}

/* kifmm_direct on the same cloud: the NEAR pair exact, the SNAPPED pair coincident, all
 * finite; a cloud of width 1e-250 gives KIFMM_ERR_NOT_REPRESENTABLE, not an inf. */
static void check_direct(void) {
  double *x = tu_alloc(3 * NP), *q = tu_alloc(NP), *pot = tu_alloc(NP), *grad = tu_alloc(3 * NP);
  make_cloud(x);
  for (int i = 0; i < NP; i++)
    q[i] = 1.0;
  EXPECT_STATUS(kifmm_direct(NP, x, q, NP, x, pot, grad, 2), KIFMM_SUCCESS);
  double v[3], g[9];
  pair_term(KIFMM_KERNEL_LAPLACE, x + 3 * (NP - 4), x + 3 * (NP - 3), q, v, g);
  EXPECT(rel(pot[NP - 4], v[0]) < 1e-14 && rel(grad[3 * (NP - 4)], g[0]) < 1e-14,
         "direct: the pair 1e-40 apart is off (%.3e %.3e against %.3e %.3e)", pot[NP - 4],
         grad[3 * (NP - 4)], v[0], g[0]);
  int bad = 0;
  for (int i = NP - 2; i < NP; i++)
    bad += !(fabs(pot[i]) < 1e4) + !(fabs(grad[3 * i]) < 1e8);
  EXPECT(bad == 0, "direct: the pair 1e-110 apart is not coincident (%g %g)", pot[NP - 2],
         grad[3 * (NP - 2)]);
  for (int i = 0; i < 3 * NP; i++)
    x[i] *= 1e-250;
  EXPECT_STATUS(kifmm_direct(NP, x, q, NP, x, pot, grad, 2), KIFMM_ERR_NOT_REPRESENTABLE);
  free(x);
  free(q);
  free(pot);
  free(grad);
}

int main(int argc, char **argv) {
  if (argc > 1 && !tu_simd_path_available(argv[1]))
    return 77;
  const int kernels[3] = {KIFMM_KERNEL_LAPLACE, KIFMM_KERNEL_YUKAWA, KIFMM_KERNEL_STOKES};
  for (int k = 0; k < 3; k++)
    for (int separate = 0; separate < 2; separate++) {
      check(kernels[k], 1e-8, separate);
      check(kernels[k], 0.0, separate); /* order 6 */
    }
  check_direct();
  return tu_finish("test_close_pairs");
}
