/* SPDX-License-Identifier: BSD-3-Clause */
/* Periodic Laplace sums (options.periodic) against the reference lattice sums of ewald.h:
 *  - the library's far-field lattice function (src/operators/ewald.c) against the references
 *    less the near images, and its independence of the splitting parameter;
 *  - random neutral systems in 3D, 2D (x, y periodic) and 1D (z periodic) at tolerances
 *    1e-4, 1e-8 and 1e-11: potential and gradient within the tolerance (the library's
 *    results equal the references', constants included);
 *  - the Madelung constants of NaCl and CsCl supercells at tolerance 1e-11;
 *  - invariance under lattice shifts and shifts along periodic axes, wrapping of points
 *    outside the cell, kifmm_evaluate_many, kifmm_plan_estimate;
 *  - refused input: points outside the cell along a free axis, net charge, bad cells.
 * Usage: test_periodic [part] with part one of ewald, random3, random2, random1, madelung,
 * invariance, input (all when absent). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ewald.h"
#include "internal.h"
#include "testutil.h"

static const double PI = 3.14159265358979323846;
static const int32_t MASKS[3][3] = {{1, 1, 1}, {1, 1, 0}, {0, 0, 1}};
static const char *const MASK_NAME[3] = {"3D", "2D (xy)", "1D (z)"};

/* The reference of geometry m (0: 3D, 1: slab, 2: line). */
static int reference(int m, size_t n, const double *q, const double *x, size_t nt, const double *y,
                     double L, const double o[3], double *phi, double *grad) {
  if (m == 0)
    return ewald3d(n, q, x, nt, y, L, o, 0.0, phi, grad);
  if (m == 1)
    return ewald2d(n, q, x, nt, y, L, o, 0.0, phi, grad);
  return sum1d(n, q, x, nt, y, L, o, 0.0, phi, grad);
}

/* n charges in [-1, 1] made neutral, positions uniform in the cell */
static void random_neutral(int64_t n, double L, const double o[3], uint64_t *seed, double *q,
                           double *x) {
  double s = 0;
  for (int64_t j = 0; j < n; j++) {
    q[j] = 2 * tu_uniform(seed) - 1;
    s += q[j];
    for (int d = 0; d < 3; d++)
      x[3 * j + d] = o[d] + L * tu_uniform(seed);
  }
  for (int64_t j = 0; j < n; j++)
    q[j] -= s / (double)n;
}

static kifmm_options periodic_options(int m, double L, const double o[3], double tol) {
  kifmm_options opt = kifmm_default_options();
  for (int d = 0; d < 3; d++) {
    opt.periodic[d] = MASKS[m][d];
    opt.cell_origin[d] = o[d];
  }
  opt.cell_length = L;
  opt.tolerance = tol;
  return opt;
}

/* relative l2 difference of a against b (cnt values) */
static double rel_l2(const double *a, const double *b, int64_t cnt) {
  double e = 0, s = 0;
  for (int64_t i = 0; i < cnt; i++) {
    e += (a[i] - b[i]) * (a[i] - b[i]);
    s += b[i] * b[i];
  }
  return sqrt(e / s);
}

/* ---- the far-field lattice function against the references ---- */
static void test_ewald(void) {
  enum { N = 24, M = 6 };
  uint64_t seed = 11;
  const double o[3] = {-0.5, -0.5, -0.5};
  for (int m = 0; m < 3; m++) {
    double x[3 * N], q[N], y[3 * M], ref[M], k1[M * N], k2[M * N];
    random_neutral(N, 1.0, o, &seed, q, x);
    for (int i = 0; i < 3 * M; i++)
      y[i] = tu_uniform(&seed) - 0.5;
    EXPECT(reference(m, N, q, x, M, y, 1.0, o, ref, NULL) == 0, "reference failed");
    const double alpha = kifmm__ewald_default_alpha(MASKS[m]);
    EXPECT_STATUS(kifmm__ewald_far_matrix(M, y, N, x, MASKS[m], 0.0, 2, k1, M), KIFMM_SUCCESS);
    EXPECT_STATUS(kifmm__ewald_far_matrix(M, y, N, x, MASKS[m], 1.6 * alpha, 2, k2, M),
                  KIFMM_SUCCESS);
    double err = 0, scale = 0, dalpha = 0;
    for (int i = 0; i < M; i++) {
      double mine = 0, near = 0;
      for (int j = 0; j < N; j++) {
        const double r[3] = {y[3 * i] - x[3 * j], y[3 * i + 1] - x[3 * j + 1],
                             y[3 * i + 2] - x[3 * j + 2]};
        double r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        mine += q[j] * (k1[i + M * j] + (m == 0 ? 2 * PI / 3 * r2 : 0.0));
        dalpha = fmax(dalpha, fabs(k1[i + M * j] - k2[i + M * j]));
        for (int a = -1; a <= 1; a++) /* the near images, which the lists sum */
          for (int b = -1; b <= 1; b++)
            for (int c = -1; c <= 1; c++) {
              const int s[3] = {a, b, c};
              int ok = 1;
              for (int d = 0; d < 3; d++)
                ok &= MASKS[m][d] || s[d] == 0;
              if (ok)
                near += q[j] / sqrt((r[0] + a) * (r[0] + a) + (r[1] + b) * (r[1] + b) +
                                    (r[2] + c) * (r[2] + c));
            }
      }
      err = fmax(err, fabs(mine - (4 * PI * ref[i] - near)));
      scale = fmax(scale, fabs(4 * PI * ref[i]));
    }
    printf("  far-field lattice function %s: |vs reference| %.2e of %.2e, alpha x1.6 %.2e\n",
           MASK_NAME[m], err, scale, dalpha);
    EXPECT(err < 1e-13 * fmax(scale, 1.0), "%s: far field vs reference %.3e", MASK_NAME[m], err);
    EXPECT(dalpha < 1e-12, "%s: depends on alpha by %.3e", MASK_NAME[m], dalpha);
  }
}

/* ---- random neutral systems ---- */
typedef struct {
  double pot, grad;
  int order;
} errors;

/* Sources n in the cell, targets: every other source and as many other points (so targets
 * and sources differ); errors at every 10th target against the reference. */
static errors random_case(int m, int64_t n, double tol, uint64_t seed) {
  const double L = 1.7, o[3] = {-0.3, 0.8, -2.1};
  double *x = tu_alloc(3 * n), *q = tu_alloc(n);
  random_neutral(n, L, o, &seed, q, x);
  int64_t nt = n;
  double *y = tu_alloc(3 * nt), *pot = tu_alloc(nt), *grad = tu_alloc(3 * nt);
  for (int64_t i = 0; i < nt; i++)
    for (int d = 0; d < 3; d++)
      y[3 * i + d] = i % 2 ? x[3 * i + d] : o[d] + L * tu_uniform(&seed);
  kifmm_options opt = periodic_options(m, L, o, tol);
  kifmm_plan *plan = NULL;
  errors e = {INFINITY, INFINITY, 0};
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, nt, y, &opt), KIFMM_SUCCESS);
  if (plan)
    EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_stats st;
  if (plan && kifmm_plan_stats(plan, &st) == KIFMM_SUCCESS)
    e.order = st.order;
  kifmm_plan_destroy(&plan);
  int64_t mt = nt / 10;
  double *ys = tu_alloc(3 * mt), *ps = tu_alloc(mt), *gs = tu_alloc(3 * mt);
  double *ref = tu_alloc(mt), *gref = tu_alloc(3 * mt);
  for (int64_t i = 0; i < mt; i++) {
    memcpy(ys + 3 * i, y + 30 * i, 3 * sizeof(double));
    memcpy(gs + 3 * i, grad + 30 * i, 3 * sizeof(double));
    ps[i] = pot[10 * i];
  }
  EXPECT(reference(m, (size_t)n, q, x, (size_t)mt, ys, L, o, ref, gref) == 0, "reference");
  e.pot = rel_l2(ps, ref, mt);
  e.grad = rel_l2(gs, gref, 3 * mt);
  free(x), free(q), free(y), free(pot), free(grad), free(ys), free(ps), free(gs), free(ref),
      free(gref);
  return e;
}

static void test_random(int m) {
  const double tols[3] = {1e-4, 1e-8, 1e-11};
  for (int k = 0; k < 3; k++) {
    errors e = random_case(m, 2000, tols[k], 100 + 10 * (uint64_t)m + (uint64_t)k);
    printf("  %-8s tolerance %.0e: order %2d, potential %.2e, gradient %.2e\n", MASK_NAME[m],
           tols[k], e.order, e.pot, e.grad);
    EXPECT(e.pot <= tols[k], "%s tolerance %.0e: potential error %.3e", MASK_NAME[m], tols[k],
           e.pot);
    EXPECT(e.grad <= tols[k], "%s tolerance %.0e: gradient error %.3e", MASK_NAME[m], tols[k],
           e.grad);
  }
}

/* ---- Madelung constants: every ion's potential is -q M / (4 pi d) ---- */
static void madelung_check(const char *name, int64_t n, const double *x, const double *q, double L,
                           const double o[3], double M, double dnn, double gtol) {
  kifmm_options opt = periodic_options(0, L, o, 1e-11);
  kifmm_plan *plan = NULL;
  double *pot = tu_alloc(n), *grad = tu_alloc(3 * n);
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &opt), KIFMM_SUCCESS);
  if (plan)
    EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  double e = 0, eg = 0;
  for (int64_t i = 0; i < n; i++) {
    e = fmax(e, fabs(4 * PI * dnn * pot[i] + q[i] * M) / M);
    for (int d = 0; d < 3; d++)
      eg = fmax(eg, fabs(4 * PI * dnn * dnn * grad[3 * i + d]) / M);
  }
  printf("  %s Madelung %.15f, %lld ions: max relative error %.2e, max |grad| %.2e\n", name, M,
         (long long)n, e, eg);
  EXPECT(e < 1e-10, "%s Madelung error %.3e", name, e);
  EXPECT(eg < gtol, "%s gradient %.3e", name, eg);
  free(pot);
  free(grad);
}

static void test_madelung(void) {
  enum { K = 4 }; /* K^3 conventional cells */
  const double base[8][3] = {{0, 0, 0},  {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                             {.5, 0, 0}, {0, .5, 0},  {0, 0, .5},  {.5, .5, .5}};
  static double x[8 * K * K * K * 3], q[8 * K * K * K];
  /* NaCl translated off the boxes' faces, then on them: every ion on the faces and corners of
   * the tree's boxes, the expansions' worst places (there the gradient's error measured
   * 9.9e-11 against 5.6e-12 off them; the potential's 1.4e-11 against 1.7e-12) */
  const double offset[2] = {0.1234, 0.0};
  const char *const names[2] = {"NaCl", "NaCl on the boxes' faces"};
  for (int k = 0; k < 2; k++) {
    int64_t n = 0;
    for (int a = 0; a < K; a++)
      for (int b = 0; b < K; b++)
        for (int c = 0; c < K; c++)
          for (int s = 0; s < 8; s++) {
            x[3 * n] = base[s][0] + a + offset[k], x[3 * n + 1] = base[s][1] + b + offset[k],
                  x[3 * n + 2] = base[s][2] + c + offset[k];
            q[n++] = s < 4 ? 1 : -1;
          }
    const double o0[3] = {0, 0, 0};
    madelung_check(names[k], n, x, q, K, o0, 1.747564594633182, 0.5, k ? 2e-10 : 1e-10);
  }
  /* CsCl: corners and centres, translated off the lattice, the cell moved: points wrap */
  const double t[3] = {0.31, -0.17, 0.05}, o1[3] = {-1.3, 0.4, 7.0};
  int64_t n = 0;
  for (int a = 0; a < K; a++)
    for (int b = 0; b < K; b++)
      for (int c = 0; c < K; c++)
        for (int s = 0; s < 2; s++) {
          x[3 * n] = a + 0.5 * s + t[0], x[3 * n + 1] = b + 0.5 * s + t[1],
                x[3 * n + 2] = c + 0.5 * s + t[2];
          q[n++] = s ? -1 : 1;
        }
  madelung_check("CsCl", n, x, q, K, o1, 1.762674773070988, sqrt(3.0) / 2, 1e-10);
}

/* ---- invariance and wrapping ---- */
static void evaluate_case(int m, int64_t n, const double *x, const double *q, double L,
                          const double o[3], double tol, double *pot, double *grad) {
  kifmm_options opt = periodic_options(m, L, o, tol);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &opt), KIFMM_SUCCESS);
  if (plan)
    EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
}

static void test_invariance(void) {
  enum { N = 1500 };
  const double L = 2.0, o[3] = {0.5, -1.0, 3.0}, tol = 1e-8;
  for (int m = 0; m < 3; m++) {
    uint64_t seed = 300 + (uint64_t)m;
    double *x = tu_alloc(3 * N), *q = tu_alloc(N), *xs = tu_alloc(3 * N);
    double *p0 = tu_alloc(N), *g0 = tu_alloc(3 * N), *p1 = tu_alloc(N), *g1 = tu_alloc(3 * N);
    random_neutral(N, L, o, &seed, q, x);
    evaluate_case(m, N, x, q, L, o, tol, p0, g0);
    /* every point moved by its own lattice vector (up to 3 cells each way): rounding only */
    for (int64_t i = 0; i < N; i++)
      for (int d = 0; d < 3; d++)
        xs[3 * i + d] = x[3 * i + d] + (MASKS[m][d] ? L * (double)((i * 7 + d) % 7 - 3) : 0.0);
    evaluate_case(m, N, xs, q, L, o, tol, p1, g1);
    double ep = rel_l2(p1, p0, N), eg = rel_l2(g1, g0, 3 * N);
    printf("  %-8s lattice vectors (points outside the cell, wrapped): potential %.1e, "
           "gradient %.1e\n",
           MASK_NAME[m], ep, eg);
    EXPECT(ep < 1e-13 && eg < 1e-13, "%s lattice shift changed results: %.3e %.3e", MASK_NAME[m],
           ep, eg);
    /* all points and the cell moved together: the same scaled coordinates, rounding only */
    double os[3];
    for (int d = 0; d < 3; d++)
      os[d] = o[d] + 0.37 * L;
    for (int64_t i = 0; i < 3 * N; i++)
      xs[i] = x[i] + 0.37 * L;
    evaluate_case(m, N, xs, q, L, os, tol, p1, g1);
    ep = rel_l2(p1, p0, N), eg = rel_l2(g1, g0, 3 * N);
    printf("  %-8s points and cell moved together: potential %.1e, gradient %.1e\n", MASK_NAME[m],
           ep, eg);
    EXPECT(ep < 1e-13 && eg < 1e-13, "%s translation changed results: %.3e %.3e", MASK_NAME[m], ep,
           eg);
    /* points moved along the periodic axes, the cell not (points wrap, the tree differs):
     * the same sums, to the tolerance */
    for (int64_t i = 0; i < N; i++)
      for (int d = 0; d < 3; d++)
        xs[3 * i + d] = x[3 * i + d] + (MASKS[m][d] ? 0.37 * L : 0.0);
    evaluate_case(m, N, xs, q, L, o, tol, p1, g1);
    ep = rel_l2(p1, p0, N), eg = rel_l2(g1, g0, 3 * N);
    printf("  %-8s points moved 0.37 L along the periodic axes: potential %.1e, gradient "
           "%.1e\n",
           MASK_NAME[m], ep, eg);
    EXPECT(ep < tol && eg < tol, "%s periodic shift changed results: %.3e %.3e", MASK_NAME[m], ep,
           eg);
    free(x), free(q), free(xs), free(p0), free(g0), free(p1), free(g1);
  }
}

/* ---- input the library refuses, and the other entry points ---- */
static void test_input(void) {
  enum { N = 400 };
  const double L = 1.0, o[3] = {0, 0, 0};
  uint64_t seed = 5;
  double x[3 * N], q[2 * N], pot[2 * N], grad[6 * N];
  random_neutral(N, L, o, &seed, q, x);
  random_neutral(N, L, o, &seed, q + N, x); /* a second neutral vector; positions again */
  random_neutral(N, L, o, &seed, q, x);
  kifmm_plan *plan = NULL;
  /* outside the cell along a free axis: refused, naming the point and the axis */
  kifmm_options opt = periodic_options(1, L, o, 0.0);
  opt.order = 6;
  double keep = x[3 * 17 + 2];
  x[3 * 17 + 2] = 1.25;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &opt), KIFMM_ERR_OUTSIDE_CELL);
  EXPECT(plan == NULL, "no plan");
  EXPECT(strstr(kifmm_error_detail(), "source 17") && strstr(kifmm_error_detail(), "along z"),
         "detail names the point and axis: %s", kifmm_error_detail());
  x[3 * 17 + 2] = keep;
  double y[3] = {0.5, -0.01, 0.5};
  opt = periodic_options(2, L, o, 0.0);
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, 1, y, &opt), KIFMM_ERR_OUTSIDE_CELL);
  EXPECT(strstr(kifmm_error_detail(), "target 0") && strstr(kifmm_error_detail(), "along y"),
         "detail names the target and axis: %s", kifmm_error_detail());
  y[1] = 1.0; /* the upper face of a free axis is in the cell */
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, 1, y, &opt), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  /* bad cells: no plan */
  const double bad_length[] = {0.0, -1.0, NAN, INFINITY};
  for (int i = 0; i < 4; i++) {
    opt = periodic_options(0, L, o, 0.0);
    opt.cell_length = bad_length[i];
    EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &opt), KIFMM_ERR_INVALID_CELL);
    EXPECT(plan == NULL, "no plan for a bad cell");
  }
  opt = periodic_options(0, L, o, 0.0);
  opt.periodic[1] = 2;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &opt), KIFMM_ERR_INVALID_CELL);
  opt = periodic_options(0, L, o, 0.0);
  opt.cell_origin[2] = NAN;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &opt), KIFMM_ERR_INVALID_CELL);
  EXPECT(plan == NULL, "no plan for a bad cell");
  /* net charge: refused at evaluation, outputs untouched */
  opt = periodic_options(0, L, o, 0.0);
  opt.order = 6;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &opt), KIFMM_SUCCESS);
  if (!plan)
    return;
  for (int i = 0; i < 2 * N; i++)
    pot[i] = -7.0;
  q[3] += 1e-6;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_ERR_NOT_NEUTRAL);
  EXPECT(strstr(kifmm_error_detail(), "charge vector 0") != NULL, "detail: %s",
         kifmm_error_detail());
  q[3] -= 1e-6;
  q[N + 5] += 1e-6; /* the second vector of two */
  EXPECT_STATUS(kifmm_evaluate_many(plan, 2, q, pot, grad), KIFMM_ERR_NOT_NEUTRAL);
  int untouched = 1;
  for (int i = 0; i < 2 * N; i++)
    untouched &= pot[i] == -7.0;
  EXPECT(untouched, "outputs untouched by a refused evaluation");
  q[N + 5] -= 1e-6;
  /* a residual below 1e-10 sum |q| is accepted */
  q[3] += 1e-12;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  q[3] -= 1e-12;
  /* two vectors at once equal two evaluations */
  double p1[N], g1[3 * N];
  EXPECT_STATUS(kifmm_evaluate_many(plan, 2, q, pot, grad), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q + N, p1, g1), KIFMM_SUCCESS);
  double e = rel_l2(pot + N, p1, N), eg = rel_l2(grad + 3 * N, g1, 3 * N);
  EXPECT(e < 1e-13 && eg < 1e-13, "evaluate_many vector 1 vs evaluate: %.3e %.3e", e, eg);
  kifmm_plan_destroy(&plan);
  /* the dry run accepts periodic options and sees the wrapped neighbours' work */
  kifmm_estimate est;
  opt = periodic_options(0, L, o, 1e-6);
  EXPECT_STATUS(kifmm_plan_estimate(N, x, N, x, &opt, &est), KIFMM_SUCCESS);
  EXPECT(est.order >= 6 && est.t_evaluate > 0 && est.p2p_pairs > 0, "estimate: order %d",
         est.order);
  /* a tolerance below three times the free-space floor is out of reach */
  opt = periodic_options(0, L, o, 3e-14);
  EXPECT_STATUS(kifmm_plan_create(&plan, N, x, N, x, &opt), KIFMM_ERR_INVALID_TOLERANCE);
}

int main(int argc, char **argv) {
  const char *part = argc > 1 ? argv[1] : "";
  int all = !*part;
  if (all || !strcmp(part, "ewald"))
    test_ewald();
  for (int m = 0; m < 3; m++) {
    char name[16];
    snprintf(name, sizeof(name), "random%d", 3 - m);
    if (all || !strcmp(part, name))
      test_random(m);
  }
  if (all || !strcmp(part, "madelung"))
    test_madelung();
  if (all || !strcmp(part, "invariance"))
    test_invariance();
  if (all || !strcmp(part, "input"))
    test_input();
  return tu_finish("test_periodic");
}
