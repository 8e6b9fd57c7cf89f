/* SPDX-License-Identifier: BSD-3-Clause */
/* Distributed plans for every kernel of the table (Laplace, Yukawa, Stokes): each rank holds
 * a block of the sources and targets, with sdim densities a source and tdim values (3 tdim
 * gradients) a target; the results, for one vector and for two in one kifmm_evaluate_many,
 * equal those of a one-process plan of all the points with the same leaf size to 1e-12 of
 * the largest value. */
#include <mpi.h>

#include "kifmm_mpi.h"
#include "testutil.h"

enum { NSRC = 3000, NTRG = 2000, NV = 2 };
static int rank_, size_;

static double rel_diff(int64_t n, const double *a, const double *b) {
  double d = 0, m = 0, all[2];
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs(a[i] - b[i]));
    m = fmax(m, fabs(b[i]));
  }
  double mine[2] = {d, m};
  MPI_Allreduce(mine, all, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return all[1] > 0 ? all[0] / all[1] : all[0];
}

/* This rank's block of n items (uneven: rank r takes a share growing with r). */
static void block(int64_t n, int64_t *lo, int64_t *cnt) {
  int64_t w = (int64_t)size_ * (size_ + 1) / 2;
  int64_t a = n * ((int64_t)rank_ * (rank_ + 1) / 2) / w;
  int64_t b = n * ((int64_t)(rank_ + 1) * (rank_ + 2) / 2) / w;
  *lo = a;
  *cnt = b - a;
}

static void run_case(int kernel, double param, tu_dist dist, int order) {
  int32_t sd, td;
  kifmm_kernel_dims(kernel, &sd, &td);
  uint64_t seed = 91 + (uint64_t)kernel + 5u * dist;
  double *src = tu_alloc(3 * NSRC), *trg = tu_alloc(3 * NTRG), *q = tu_alloc(NV * sd * NSRC);
  tu_points(dist, NSRC, &seed, src);
  tu_points(dist, NTRG, &seed, trg);
  for (int64_t i = 0; i < NV * sd * NSRC; i++)
    q[i] = 2 * tu_uniform(&seed) - 1;
  kifmm_options o = kifmm_default_options();
  o.order = order;
  o.ncrit = 40;
  o.kernel = kernel;
  o.kernel_param = param;
  /* one process, all points */
  double *pot1 = tu_alloc(NV * td * NTRG), *grad1 = tu_alloc(3 * NV * td * NTRG);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, NSRC, src, NTRG, trg, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, NV, q, pot1, grad1), KIFMM_SUCCESS);
  kifmm_plan_destroy(&plan);
  /* this rank's blocks: vector v's densities of sources [slo, slo + ns) */
  int64_t slo, ns, tlo, nt;
  block(NSRC, &slo, &ns);
  block(NTRG, &tlo, &nt);
  double *ql = tu_alloc(NV * sd * ns), *pot = tu_alloc(NV * td * nt),
         *grad = tu_alloc(3 * NV * td * nt), *want = tu_alloc(NV * td * nt),
         *wantg = tu_alloc(3 * NV * td * nt);
  for (int v = 0; v < NV; v++) {
    memcpy(ql + v * sd * ns, q + v * sd * NSRC + sd * slo, sizeof(double) * (size_t)(sd * ns));
    memcpy(want + v * td * nt, pot1 + v * td * NTRG + td * tlo,
           sizeof(double) * (size_t)(td * nt));
    memcpy(wantg + 3 * v * td * nt, grad1 + 3 * v * td * NTRG + 3 * td * tlo,
           sizeof(double) * (size_t)(3 * td * nt));
  }
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, ns, src + 3 * slo, nt,
                                      trg + 3 * tlo, &o),
                KIFMM_SUCCESS);
  double e1p = 1, e1g = 1, emp = 1, emg = 1;
  if (plan) {
    EXPECT_STATUS(kifmm_evaluate(plan, ql, pot, grad), KIFMM_SUCCESS);
    e1p = rel_diff(td * nt, pot, want);
    e1g = rel_diff(3 * td * nt, grad, wantg);
    EXPECT_STATUS(kifmm_evaluate_many(plan, NV, ql, pot, grad), KIFMM_SUCCESS);
    emp = rel_diff(NV * td * nt, pot, want);
    emg = rel_diff(3 * NV * td * nt, grad, wantg);
  }
  kifmm_plan_destroy(&plan);
  if (rank_ == 0)
    printf("kernel %d param %g %s p%d at %d ranks: one vector %.2e / %.2e, %d vectors %.2e / "
           "%.2e\n",
           kernel, param, tu_dist_name[dist], order, size_, e1p, e1g, NV, emp, emg);
  EXPECT(e1p <= 1e-12 && e1g <= 1e-12 && emp <= 1e-12 && emg <= 1e-12,
         "kernel %d %s: distributed differs from one process: %.2e %.2e %.2e %.2e", kernel,
         tu_dist_name[dist], e1p, e1g, emp, emg);
  free(src), free(trg), free(q), free(pot1), free(grad1);
  free(ql), free(pot), free(grad), free(want), free(wantg);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  run_case(KIFMM_KERNEL_LAPLACE, 0.0, TU_CLUSTER, 5);
  run_case(KIFMM_KERNEL_YUKAWA, 8.0, TU_CUBE, 5);
  run_case(KIFMM_KERNEL_YUKAWA, 3.0, TU_CLUSTER, 4);
  run_case(KIFMM_KERNEL_STOKES, 0.5, TU_CUBE, 4);
  run_case(KIFMM_KERNEL_STOKES, 2.0, TU_CLUSTER, 4);
  int fail = tu_finish("test_let_kernels"), any;
  MPI_Allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
