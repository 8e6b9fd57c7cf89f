/* SPDX-License-Identifier: BSD-3-Clause */
/* Bad input: each case returns its documented status and leaves the outputs untouched. */
#include "testutil.h"

#define SENTINEL 12345.0

static int untouched(int64_t n, const double *v) {
  for (int64_t i = 0; i < n; i++)
    if (v[i] != SENTINEL)
      return 0;
  return 1;
}

static void fill(int64_t n, double *v) {
  for (int64_t i = 0; i < n; i++)
    v[i] = SENTINEL;
}

static void test_plan_create(const double *pts, int64_t n) {
  kifmm_plan *plan = (kifmm_plan *)0x1; /* must stay as it was on failure */
  kifmm_plan *before = plan;
  kifmm_options o = kifmm_default_options();
  EXPECT_STATUS(kifmm_plan_create(NULL, n, pts, n, pts, NULL), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_plan_create(&plan, n, NULL, n, pts, NULL), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, NULL, NULL), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_plan_create(&plan, -1, pts, n, pts, NULL), KIFMM_ERR_INVALID_COUNT);
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, -5, pts, NULL), KIFMM_ERR_INVALID_COUNT);
  int orders[] = {1, KIFMM_MAX_ORDER + 1, 0, -3};
  for (int i = 0; i < 4; i++) {
    o = kifmm_default_options();
    o.order = orders[i];
    EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_ORDER);
  }
  o = kifmm_default_options();
  o.ncrit = -1;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_NCRIT);
  o = kifmm_default_options();
  o.max_level = KIFMM_MAX_LEVEL + 1;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_MAX_LEVEL);
  o.max_level = 0;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_MAX_LEVEL);
  o = kifmm_default_options();
  o.num_threads = -1;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_THREADS);
  double tols[] = {-1e-6, 1.0, NAN};
  for (int i = 0; i < 3; i++) {
    o = kifmm_default_options();
    o.compression_tol = tols[i];
    EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_TOLERANCE);
  }
  double *bad = tu_alloc(3 * n);
  memcpy(bad, pts, sizeof(double) * 3 * n);
  bad[3 * (n / 2) + 1] = NAN;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, bad, n, pts, NULL), KIFMM_ERR_NONFINITE_COORDINATE);
  bad[3 * (n / 2) + 1] = INFINITY;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, bad, NULL), KIFMM_ERR_NONFINITE_COORDINATE);
  bad[3 * (n / 2) + 1] = -INFINITY;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, bad, n, bad, NULL), KIFMM_ERR_NONFINITE_COORDINATE);
  free(bad);
  EXPECT(plan == before, "plan pointer untouched by failed creates");
}

/* The kernel and cell options: each bad value its own status, with a detail. */
static void test_kernel_and_cell(const double *pts, int64_t n) {
  kifmm_plan *plan = NULL;
  kifmm_options o = kifmm_default_options();
  o.kernel = 3;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_KERNEL);
  EXPECT(strstr(kifmm_error_detail(), "kernel 3") != NULL, "detail names the kernel: %s",
         kifmm_error_detail());
  o.kernel = -1;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_KERNEL);
  const double bad_kappa[] = {-1.0, NAN, INFINITY};
  for (int i = 0; i < 3; i++) {
    o = kifmm_default_options();
    o.kernel = KIFMM_KERNEL_YUKAWA;
    o.kernel_param = bad_kappa[i];
    EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_KERNEL_PARAM);
  }
  const double bad_mu[] = {0.0, -2.0, NAN, INFINITY};
  for (int i = 0; i < 4; i++) {
    o = kifmm_default_options();
    o.kernel = KIFMM_KERNEL_STOKES;
    o.kernel_param = bad_mu[i];
    EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_KERNEL_PARAM);
  }
  o = kifmm_default_options();
  o.kernel_param = NAN; /* Laplace ignores it */
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  const int32_t bad_flag[] = {2, -1};
  for (int i = 0; i < 2; i++) {
    o = kifmm_default_options();
    o.periodic[1] = bad_flag[i];
    EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_CELL);
  }
  const double bad_length[] = {0.0, -1.0, NAN, INFINITY};
  for (int i = 0; i < 4; i++) {
    o = kifmm_default_options();
    o.periodic[2] = 1;
    o.cell_length = bad_length[i];
    EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_CELL);
  }
  o = kifmm_default_options();
  o.periodic[0] = 1;
  o.cell_origin[1] = NAN;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_CELL);
  o = kifmm_default_options();
  o.periodic[0] = 1;
  o.cell_aspect[2] = 2.0;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_INVALID_CELL);
  o = kifmm_default_options(); /* a valid periodic cell: this test's points lie in [0, 1) */
  o.periodic[0] = o.periodic[1] = o.periodic[2] = 1;
  o.order = 4;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  o.periodic[0] = o.periodic[1] = 0;
  o.cell_origin[0] = 0.5; /* x is free: points below 0.5 are outside the cell */
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_ERR_OUTSIDE_CELL);
  EXPECT(strstr(kifmm_error_detail(), "along x") != NULL, "detail names the axis: %s",
         kifmm_error_detail());
  o = kifmm_default_options();
  o.cell_length = -1.0; /* ignored in free space */
  o.cell_origin[0] = NAN;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  int32_t sd = -7, vd = -7;
  EXPECT_STATUS(kifmm_kernel_dims(5, &sd, &vd), KIFMM_ERR_INVALID_KERNEL);
  EXPECT(sd == -7 && vd == -7, "dims untouched for an unknown kernel");
  EXPECT_STATUS(kifmm_kernel_dims(KIFMM_KERNEL_STOKES, &sd, &vd), KIFMM_SUCCESS);
  EXPECT(sd == 3 && vd == 3, "Stokes dims");
  EXPECT_STATUS(kifmm_kernel_dims(KIFMM_KERNEL_LAPLACE, &sd, NULL), KIFMM_SUCCESS);
  EXPECT(sd == 1, "Laplace dims");
}

static void test_evaluate(const double *pts, int64_t n) {
  kifmm_options o = kifmm_default_options();
  o.order = 4;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, n, pts, &o), KIFMM_SUCCESS);
  double *q = tu_alloc(n), *pot = tu_alloc(n), *grad = tu_alloc(3 * n);
  for (int64_t i = 0; i < n; i++)
    q[i] = 1.0;
  fill(n, pot);
  fill(3 * n, grad);
  EXPECT_STATUS(kifmm_evaluate(NULL, q, pot, grad), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_evaluate(plan, NULL, pot, grad), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_evaluate(plan, q, NULL, grad), KIFMM_ERR_NULL_ARGUMENT);
  q[n - 1] = NAN;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_ERR_NONFINITE_CHARGE);
  q[n - 1] = INFINITY;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_ERR_NONFINITE_CHARGE);
  EXPECT(untouched(n, pot) && untouched(3 * n, grad), "outputs untouched on failure");
  q[n - 1] = 1.0;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, NULL), KIFMM_SUCCESS);
  EXPECT(untouched(3 * n, grad), "grad == NULL path writes no gradient");
  EXPECT(!untouched(n, pot), "potential written on success");
  EXPECT_STATUS(kifmm_plan_destroy(&plan), KIFMM_SUCCESS);
  EXPECT(plan == NULL, "destroy sets the handle to NULL");
  EXPECT_STATUS(kifmm_plan_destroy(&plan), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_plan_destroy(NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_plan_stats(NULL, NULL), KIFMM_ERR_NULL_ARGUMENT);
  free(q);
  free(pot);
  free(grad);
}

/* n = 0 on either side is valid; the other side's outputs are defined. */
static void test_empty(const double *pts, int64_t n) {
  kifmm_plan *plan = NULL;
  double *pot = tu_alloc(n), *grad = tu_alloc(3 * n), *q = tu_alloc(n);
  fill(n, pot);
  EXPECT_STATUS(kifmm_plan_create(&plan, 0, NULL, n, pts, NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, NULL, pot, grad), KIFMM_SUCCESS);
  int zero = 1;
  for (int64_t i = 0; i < n; i++)
    zero &= pot[i] == 0.0 && grad[3 * i] == 0.0;
  EXPECT(zero, "no sources: zero potential and gradient");
  kifmm_plan_destroy(&plan);
  EXPECT_STATUS(kifmm_plan_create(&plan, n, pts, 0, NULL, NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, NULL, NULL), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  EXPECT_STATUS(kifmm_plan_create(&plan, 0, NULL, 0, NULL, NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, NULL, NULL, NULL), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  free(pot);
  free(grad);
  free(q);
}

/* All points identical: every pair is at distance 0 and contributes nothing. */
static void test_identical_points(void) {
  enum { N = 400 };
  double *p = tu_alloc(3 * N), *q = tu_alloc(N), *pot = tu_alloc(N), *grad = tu_alloc(3 * N);
  for (int i = 0; i < N; i++) {
    p[3 * i] = 1.5;
    p[3 * i + 1] = -2.0;
    p[3 * i + 2] = 0.25;
    q[i] = 1.0 + i;
  }
  kifmm_options o = kifmm_default_options();
  o.ncrit = 16;
  o.order = 4;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, N, p, N, p, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  int zero = 1;
  for (int i = 0; i < N; i++)
    zero &= pot[i] == 0.0 && grad[3 * i] == 0.0 && grad[3 * i + 1] == 0.0 && grad[3 * i + 2] == 0.0;
  EXPECT(zero, "identical points: all contributions vanish");
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  EXPECT(st.depth == KIFMM_MAX_LEVEL, "refinement stops at max_level, depth %d", st.depth);
  EXPECT(st.overfull_leaves == 1 && st.max_leaf_points == 2 * N,
         "stats report the one leaf of duplicates above ncrit (%lld leaves, largest %lld)",
         (long long)st.overfull_leaves, (long long)st.max_leaf_points);
  kifmm_plan_destroy(&plan);
  free(p);
  free(q);
  free(pot);
  free(grad);
}

static void test_messages(void) {
  EXPECT(strcmp(kifmm_error_string(KIFMM_SUCCESS), "success") == 0, "success message");
  EXPECT(strcmp(kifmm_error_string(-42), "unknown status code") == 0, "unknown code");
#define CHECK_MESSAGE(name, value, message) \
  EXPECT(strcmp(kifmm_error_string(value), message) == 0, "message of %s", #name);
  KIFMM_STATUS_LIST(CHECK_MESSAGE)
#undef CHECK_MESSAGE
  EXPECT(strcmp(kifmm_version(), KIFMM_VERSION_STRING) == 0, "version string");
}

int main(void) {
  enum { N = 3000 };
  uint64_t seed = 9;
  double *pts = tu_alloc(3 * N);
  tu_points(TU_CUBE, N, &seed, pts);
  test_plan_create(pts, N);
  test_kernel_and_cell(pts, N);
  test_evaluate(pts, N);
  test_empty(pts, N);
  test_identical_points();
  test_messages();
  free(pts);
  return tu_finish("test_badinput");
}
