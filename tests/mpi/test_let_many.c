/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm_evaluate_many on distributed plans: each rank passes its own nsrc_local x nvec charges;
 * every vector equals its own kifmm_evaluate on the same plan (to 1e-13 of the largest value),
 * with and without gradient (and with gradient on some ranks only), repeatable bitwise; the
 * argument errors (nvec < 0, a NaN in the last vector of one rank, ranks disagreeing on nvec)
 * are collective and leave every rank's outputs untouched; nvec = 0 does nothing. */
#include <mpi.h>

#include "kifmm_mpi.h"
#include "testutil.h"

enum { NSRC = 3000, NTRG = 2400, VMAX = 5 };
static const int nvecs[] = {1, 2, 3, 5};
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

/* This rank's block of n points (uneven: rank r takes a share growing with r). */
static void block(int64_t n, int64_t *lo, int64_t *cnt) {
  int64_t w = (int64_t)size_ * (size_ + 1) / 2;
  int64_t a = n * ((int64_t)rank_ * (rank_ + 1) / 2) / w;
  int64_t b = n * ((int64_t)(rank_ + 1) * (rank_ + 2) / 2) / w;
  *lo = a;
  *cnt = b - a;
}

typedef struct {
  int64_t ns, nt;
  double *src, *trg, *q, *pot1, *grad1;
} local_problem;

static void compare(kifmm_plan *plan, const local_problem *L, int nv, int grad_here,
                    const char *what) {
  double *pot = tu_alloc(nv * L->nt), *grad = grad_here ? tu_alloc(3 * nv * L->nt) : NULL;
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, L->q, pot, grad), KIFMM_SUCCESS);
  for (int v = 0; v < nv; v++) {
    double ep = rel_diff(L->nt, pot + v * L->nt, L->pot1 + v * L->nt);
    double eg = grad ? rel_diff(3 * L->nt, grad + 3 * v * L->nt, L->grad1 + 3 * v * L->nt) : 0;
    if (!grad) /* keep the collective calls matched across ranks */
      rel_diff(0, NULL, NULL);
    EXPECT(ep <= 1e-13 && eg <= 1e-13, "%s nvec %d vector %d: pot %.2e grad %.2e", what, nv, v,
           ep, eg);
  }
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  EXPECT(st.nvec == nv, "stats.nvec %d, expected %d", st.nvec, nv);
  free(pot);
  free(grad);
}

static void repeatable(kifmm_plan *plan, const local_problem *L) {
  const int nv = 3;
  double *p1 = tu_alloc(nv * L->nt), *p2 = tu_alloc(nv * L->nt);
  double *g1 = tu_alloc(3 * nv * L->nt), *g2 = tu_alloc(3 * nv * L->nt);
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, L->q, p1, g1), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, L->q, p2, g2), KIFMM_SUCCESS);
  EXPECT(memcmp(p1, p2, sizeof(double) * nv * L->nt) == 0 &&
             memcmp(g1, g2, sizeof(double) * 3 * nv * L->nt) == 0,
         "not bitwise repeatable");
  free(p1);
  free(p2);
  free(g1);
  free(g2);
}

static int untouched(int64_t n, const double *v) {
  for (int64_t i = 0; i < n; i++)
    if (v[i] != -7.0)
      return 0;
  return 1;
}

/* Collective refusals: every rank gets the status, nobody's outputs change. */
static void errors(kifmm_plan *plan, local_problem *L) {
  const int nv = 3;
  double *pot = tu_alloc(nv * L->nt), *grad = tu_alloc(3 * nv * L->nt);
  for (int64_t i = 0; i < nv * L->nt; i++)
    pot[i] = -7.0;
  for (int64_t i = 0; i < 3 * nv * L->nt; i++)
    grad[i] = -7.0;
  EXPECT_STATUS(kifmm_evaluate_many(plan, 0, NULL, NULL, NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate_many(plan, rank_ == 0 ? -1 : nv, L->q, pot, grad),
                KIFMM_ERR_INVALID_NVEC);
  if (size_ > 1)
    EXPECT_STATUS(kifmm_evaluate_many(plan, rank_ == size_ - 1 ? 2 : nv, L->q, pot, grad),
                  KIFMM_ERR_INVALID_NVEC);
  double saved = 0;
  int64_t bad = (nv - 1) * L->ns + L->ns / 2; /* the last vector, on the last rank */
  if (rank_ == size_ - 1 && L->ns > 0) {
    saved = L->q[bad];
    L->q[bad] = NAN;
  }
  EXPECT_STATUS(kifmm_evaluate_many(plan, nv, L->q, pot, grad), KIFMM_ERR_NONFINITE_CHARGE);
  if (rank_ == size_ - 1 && L->ns > 0)
    L->q[bad] = saved;
  EXPECT(untouched(nv * L->nt, pot) && untouched(3 * nv * L->nt, grad),
         "outputs written on failure");
  free(pot);
  free(grad);
}

static void run_case(int order, tu_dist dist) {
  uint64_t seed = 77 + (uint64_t)order + 3u * dist;
  double *all_s = tu_alloc(3 * NSRC), *all_t = tu_alloc(3 * NTRG), *all_q = tu_alloc(VMAX * NSRC);
  tu_points(dist, NSRC, &seed, all_s);
  tu_points(dist, NTRG, &seed, all_t);
  for (int64_t i = 0; i < VMAX * NSRC; i++)
    all_q[i] = 2 * tu_uniform(&seed) - 1;
  int64_t slo, tlo;
  local_problem L;
  block(NSRC, &slo, &L.ns);
  block(NTRG, &tlo, &L.nt);
  L.src = all_s + 3 * slo;
  L.trg = all_t + 3 * tlo;
  L.q = tu_alloc(VMAX * L.ns);
  for (int v = 0; v < VMAX; v++)
    memcpy(L.q + v * L.ns, all_q + v * NSRC + slo, sizeof(double) * (size_t)L.ns);
  L.pot1 = tu_alloc(VMAX * L.nt);
  L.grad1 = tu_alloc(3 * VMAX * L.nt);
  kifmm_options o = kifmm_default_options();
  o.order = order;
  o.ncrit = 40;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, L.ns, L.src, L.nt, L.trg, &o),
                KIFMM_SUCCESS);
  for (int v = 0; plan && v < VMAX; v++)
    EXPECT_STATUS(kifmm_evaluate(plan, L.q + v * L.ns, L.pot1 + v * L.nt,
                                 L.grad1 + 3 * v * L.nt),
                  KIFMM_SUCCESS);
  char what[64];
  snprintf(what, sizeof what, "p%d %s", order, tu_dist_name[dist]);
  for (size_t i = 0; plan && i < sizeof(nvecs) / sizeof(nvecs[0]); i++) {
    compare(plan, &L, nvecs[i], 1, what);
    compare(plan, &L, nvecs[i], 0, what);
    compare(plan, &L, nvecs[i], rank_ % 2 == 0, what); /* gradient on some ranks only */
  }
  if (plan) {
    repeatable(plan, &L);
    errors(plan, &L);
  }
  kifmm_plan_destroy(&plan);
  if (rank_ == 0)
    printf("%s: evaluate_many matches single evaluations at %d ranks\n", what, size_);
  free(all_s);
  free(all_t);
  free(all_q);
  free(L.q);
  free(L.pot1);
  free(L.grad1);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  run_case(4, TU_CUBE);
  run_case(6, TU_CLUSTER);
  int fail = tu_finish("test_let_many"), any;
  MPI_Allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
