/* SPDX-License-Identifier: BSD-3-Clause */
/* Distributed periodic plans (options.periodic) against the one-process plan, in 3D, 2D (xy)
 * and 1D (z): every rank holds a block of the sources and targets, given in the cell or moved
 * by whole periods along the periodic axes (each rank its own images), and the potentials and
 * gradients, for one vector and for two in one kifmm_evaluate_many, equal the one-process
 * plan's of the wrapped points to 1e-12 (relative l2). Then refusals that every rank reports
 * alike with outputs untouched: a net charge over all ranks (KIFMM_ERR_NOT_NEUTRAL, even when
 * one rank's own charges add to zero), and a point outside the cell along a free axis on one
 * rank (KIFMM_ERR_OUTSIDE_CELL, no plan on any rank). */
#include <mpi.h>

#include "kifmm_mpi.h"
#include "testutil.h"

enum { NSRC = 1500, NTRG = 1000, NV = 2 };
static const int32_t MASKS[3][3] = {{1, 1, 1}, {1, 1, 0}, {0, 0, 1}};
static const char *const MASK_NAME[3] = {"3D", "2D (xy)", "1D (z)"};
static const double ORIGIN[3] = {-0.3, 0.2, 1.5}, LENGTH = 2.5;
static int rank_, size_;

/* Relative l2 difference of a against b over all ranks' blocks. */
static double rel_l2(int64_t n, const double *a, const double *b) {
  double mine[2] = {0, 0}, all[2];
  for (int64_t i = 0; i < n; i++) {
    mine[0] += (a[i] - b[i]) * (a[i] - b[i]);
    mine[1] += b[i] * b[i];
  }
  MPI_Allreduce(mine, all, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return all[1] > 0 ? sqrt(all[0] / all[1]) : sqrt(all[0]);
}

/* This rank's block of n items (uneven: rank r takes a share growing with r). */
static void block(int64_t n, int64_t *lo, int64_t *cnt) {
  int64_t w = (int64_t)size_ * (size_ + 1) / 2;
  int64_t a = n * ((int64_t)rank_ * (rank_ + 1) / 2) / w;
  int64_t b = n * ((int64_t)(rank_ + 1) * (rank_ + 2) / 2) / w;
  *lo = a;
  *cnt = b - a;
}

static kifmm_options periodic_options(int m, int order) {
  kifmm_options o = kifmm_default_options();
  for (int d = 0; d < 3; d++) {
    o.periodic[d] = MASKS[m][d];
    o.cell_origin[d] = ORIGIN[d];
  }
  o.cell_length = LENGTH;
  o.order = order; /* not from a tolerance: that choice sees each rank's points only */
  o.ncrit = 30;
  return o;
}

/* n points uniform in the cell, clustered towards one corner so that the tree is adaptive. */
static void cell_points(int64_t n, uint64_t *seed, double *x) {
  for (int64_t j = 0; j < n; j++)
    for (int d = 0; d < 3; d++) {
      double u = tu_uniform(seed);
      x[3 * j + d] = ORIGIN[d] + LENGTH * (j % 3 == 0 ? u * u * u : u);
    }
}

/* NV charge vectors in [-1, 1], each made neutral. */
static void neutral_charges(int64_t n, uint64_t *seed, double *q) {
  for (int v = 0; v < NV; v++) {
    double s = 0;
    for (int64_t j = 0; j < n; j++)
      s += q[v * n + j] = 2 * tu_uniform(seed) - 1;
    for (int64_t j = 0; j < n; j++)
      q[v * n + j] -= s / (double)n;
  }
}

/* Rank r's copy of its block moved by whole periods along the periodic axes: a different
 * image on every rank (rank 0 keeps the cell), several periods for some points. */
static void move_images(int m, int64_t n, const double *x, double *out) {
  for (int64_t j = 0; j < n; j++)
    for (int d = 0; d < 3; d++) {
      int k = MASKS[m][d] ? (int)((rank_ * (d + 1) + j % 3 * (rank_ > 0)) % 5) - 2 : 0;
      if (rank_ == 0)
        k = 0;
      out[3 * j + d] = x[3 * j + d] + k * LENGTH;
    }
}

/* One geometry: one process against size_ ranks, one vector and NV vectors. */
static void run_case(int m, int order) {
  uint64_t seed = 17 + (uint64_t)m;
  double *src = tu_alloc(3 * NSRC), *trg = tu_alloc(3 * NTRG), *q = tu_alloc(NV * NSRC);
  cell_points(NSRC, &seed, src);
  cell_points(NTRG, &seed, trg);
  neutral_charges(NSRC, &seed, q);
  kifmm_options o = periodic_options(m, order);
  double *pot1 = tu_alloc(NV * NTRG), *grad1 = tu_alloc(3 * NV * NTRG);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, NSRC, src, NTRG, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, NV, q, pot1, grad1), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  int64_t slo, ns, tlo, nt;
  block(NSRC, &slo, &ns);
  block(NTRG, &tlo, &nt);
  double *sl = tu_alloc(3 * ns), *tl = tu_alloc(3 * nt), *ql = tu_alloc(NV * ns);
  double *pot = tu_alloc(NV * nt), *grad = tu_alloc(3 * NV * nt), *want = tu_alloc(NV * nt),
         *wantg = tu_alloc(3 * NV * nt);
  move_images(m, ns, src + 3 * slo, sl);
  move_images(m, nt, trg + 3 * tlo, tl);
  for (int v = 0; v < NV; v++) {
    memcpy(ql + v * ns, q + v * NSRC + slo, sizeof(double) * (size_t)ns);
    memcpy(want + v * nt, pot1 + v * NTRG + tlo, sizeof(double) * (size_t)nt);
    memcpy(wantg + 3 * v * nt, grad1 + 3 * (v * NTRG + tlo), sizeof(double) * (size_t)(3 * nt));
  }
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, ns, sl, nt, tl, &o), KIFMM_SUCCESS);
  double e1p = 1, e1g = 1, emp = 1, emg = 1;
  if (plan) {
    EXPECT_STATUS(kifmm_evaluate(plan, ql, pot, grad), KIFMM_SUCCESS);
    e1p = rel_l2(nt, pot, want);
    e1g = rel_l2(3 * nt, grad, wantg);
    EXPECT_STATUS(kifmm_evaluate_many(plan, NV, ql, pot, grad), KIFMM_SUCCESS);
    emp = rel_l2(NV * nt, pot, want);
    emg = rel_l2(3 * NV * nt, grad, wantg);
  }
  kifmm_plan_destroy(&plan);
  if (rank_ == 0)
    printf("%s p%d at %d ranks vs one process (relative l2): one vector %.2e / %.2e, %d "
           "vectors %.2e / %.2e\n",
           MASK_NAME[m], order, size_, e1p, e1g, NV, emp, emg);
  EXPECT(e1p <= 1e-12 && e1g <= 1e-12 && emp <= 1e-12 && emg <= 1e-12,
         "%s: distributed differs from one process: %.2e %.2e %.2e %.2e", MASK_NAME[m], e1p,
         e1g, emp, emg);
  free(src), free(trg), free(q), free(pot1), free(grad1), free(sl), free(tl), free(ql);
  free(pot), free(grad), free(want), free(wantg);
}

/* Alternating +-1 charges: each rank's own add to zero. */
static void alternating(int n, double *q) {
  for (int j = 0; j < n; j++)
    q[j] = j % 2 ? 1.0 : -1.0;
}

static int all_equal(int n, const double *a, double v) {
  int same = 1;
  for (int j = 0; j < n; j++)
    same &= a[j] == v;
  return same;
}

/* A net charge over all ranks (on one rank only, in one vector only): refused on every rank
 * with the outputs untouched, and the plan still evaluates as before. */
static void not_neutral(int n, const double *x) {
  double q[2 * 200], pot[2 * 200], saved[200];
  kifmm_options o = periodic_options(0, 4);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, n, x, n, x, &o), KIFMM_SUCCESS);
  if (!plan)
    return;
  alternating(n, q);
  EXPECT_STATUS(kifmm_evaluate(plan, q, saved, NULL), KIFMM_SUCCESS);
  for (int j = 0; j < 2 * n; j++)
    pot[j] = -7;
  if (rank_ == size_ - 1)
    q[0] += 0.5;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, NULL), KIFMM_ERR_NOT_NEUTRAL);
  EXPECT(all_equal(n, pot, -7), "outputs written on a refused (not neutral) evaluation");
  alternating(n, q);
  alternating(n, q + n);
  if (rank_ == 0)
    q[n + 3] = 2.0; /* the second vector only */
  EXPECT_STATUS(kifmm_evaluate_many(plan, 2, q, pot, NULL), KIFMM_ERR_NOT_NEUTRAL);
  EXPECT(all_equal(2 * n, pot, -7), "outputs written on a refused kifmm_evaluate_many");
  alternating(n, q);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, NULL), KIFMM_SUCCESS);
  EXPECT(memcmp(pot, saved, sizeof(double) * (size_t)n) == 0,
         "evaluation after a refused one differs");
  kifmm_plan_destroy(&plan);
}

/* One rank's point outside the cell along a free axis (z in 2D): no plan on any rank. The
 * same point is wrapped where z is periodic (3D). */
static void outside_cell(int n, double *x) {
  if (rank_ == size_ - 1)
    x[3 * 7 + 2] = ORIGIN[2] + 1.01 * LENGTH;
  kifmm_options o2 = periodic_options(1, 4), o3 = periodic_options(0, 4);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, n, x, n, x, &o2),
                KIFMM_ERR_OUTSIDE_CELL);
  EXPECT(plan == NULL, "a plan despite a point outside the cell");
  kifmm_plan_destroy(&plan);
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, n, x, n, x, &o3), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
}

static void refusals(void) {
  enum { N = 200 };
  uint64_t seed = 5 + (uint64_t)rank_;
  double x[3 * N];
  cell_points(N, &seed, x);
  not_neutral(N, x);
  outside_cell(N, x);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  for (int m = 0; m < 3; m++)
    run_case(m, 6);
  refusals();
  int fail = tu_finish("test_let_periodic"), any;
  MPI_Allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
