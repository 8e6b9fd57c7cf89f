/* SPDX-License-Identifier: BSD-3-Clause */
/* Distributed plans (kifmm_plan_create_mpi) against the one-process plan and a direct sum:
 * every rank generates the same global points, takes its share under several assignments
 * (block, random, all on rank 0, one rank empty), and the errors are summed over the ranks. */
#include <mpi.h>

#include "kifmm_mpi.h"
#include "testutil.h"

enum { NSRC = 3000, NTRG = 2400, NCRIT = 40 };

typedef enum { BLOCK, RANDOM, ALL_ON_ZERO, ONE_EMPTY, SPLIT, NMODES } assign_mode;
static const char *const mode_name[] = {"block", "random", "all-on-0", "one-empty", "split"};

static int rank_, size_;

/* Rank of global point i under a mode; SPLIT puts the sources on rank 0 and the targets on the
 * last rank (salt odd for targets). */
static int owner_of(assign_mode mode, int64_t i, int64_t n, uint64_t salt) {
  if (mode == SPLIT)
    return salt % 2 ? size_ - 1 : 0;
  uint64_t s = salt * 1000003u + (uint64_t)i;
  int r = (int)(tu_uniform(&s) * size_);
  if (mode == BLOCK)
    return (int)(i * size_ / n);
  if (mode == ALL_ON_ZERO)
    return 0;
  if (mode == ONE_EMPTY && size_ > 1)
    return r == size_ - 1 ? 0 : r;
  return r;
}

/* This rank's share of n global points: their global indices, in a shuffled order. */
static int64_t share(assign_mode mode, int64_t n, uint64_t salt, int64_t *idx) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (owner_of(mode, i, n, salt) == rank_)
      idx[m++] = i;
  uint64_t s = salt + 17u * (uint64_t)rank_;
  for (int64_t i = m - 1; i > 0; i--) {
    int64_t j = (int64_t)(tu_uniform(&s) * (double)(i + 1));
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return m;
}

static void pick(int64_t m, const int64_t *idx, const double *all, int width, double *out) {
  for (int64_t i = 0; i < m; i++)
    memcpy(out + width * i, all + width * idx[i], (size_t)width * sizeof(double));
}

typedef struct {
  int order;
  double pot, grad;
} tolerance;
static const tolerance tolerances[] = {{4, 3e-4, 1.5e-3}, {6, 3e-6, 1.5e-5}};

/* The global problem and its reference results, identical on every rank. */
typedef struct {
  int order, identical;
  tu_dist dist;
  int64_t ntrg;
  double *src, *trg, *q, *q2;
  double *ser_pot, *ser_grad, *ser_pot2, *dir_pot, *dir_grad;
  kifmm_options o;
  int64_t ser_nboxes;
} problem;

static void problem_init(problem *P, int order, tu_dist dist, int identical) {
  uint64_t seed = 1234 + (uint64_t)dist;
  P->order = order;
  P->dist = dist;
  P->identical = identical;
  P->ntrg = identical ? NSRC : NTRG;
  P->src = tu_alloc(3 * NSRC);
  tu_points(dist, NSRC, &seed, P->src);
  P->trg = P->src;
  if (!identical) {
    P->trg = tu_alloc(3 * NTRG);
    tu_points(dist, NTRG, &seed, P->trg);
  }
  P->q = tu_alloc(NSRC);
  P->q2 = tu_alloc(NSRC);
  for (int64_t i = 0; i < NSRC; i++) {
    P->q[i] = 2 * tu_uniform(&seed) - 1;
    P->q2[i] = tu_uniform(&seed);
  }
  P->o = kifmm_default_options();
  P->o.order = order;
  P->o.ncrit = NCRIT;
  P->ser_pot = tu_alloc(P->ntrg);
  P->ser_pot2 = tu_alloc(P->ntrg);
  P->ser_grad = tu_alloc(3 * P->ntrg);
  P->dir_pot = tu_alloc(P->ntrg);
  P->dir_grad = tu_alloc(3 * P->ntrg);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, NSRC, P->src, P->ntrg, P->trg, &P->o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, P->q, P->ser_pot, P->ser_grad), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, P->q2, P->ser_pot2, NULL), KIFMM_SUCCESS);
  kifmm_stats st;
  EXPECT_STATUS(kifmm_plan_stats(plan, &st), KIFMM_SUCCESS);
  P->ser_nboxes = st.nboxes;
  kifmm_plan_destroy(&plan);
  EXPECT_STATUS(kifmm_direct(NSRC, P->src, P->q, P->ntrg, P->trg, P->dir_pot, P->dir_grad, 1),
                KIFMM_SUCCESS);
}

static void problem_free(problem *P) {
  if (P->trg != P->src)
    free(P->trg);
  void *v[] = {P->src, P->q, P->q2, P->ser_pot, P->ser_pot2, P->ser_grad, P->dir_pot, P->dir_grad};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
    free(v[i]);
}

/* Sums of squared differences and of squared references, over all ranks: relative l2. */
static double rel_l2(int64_t m, const int64_t *idx, const double *got, const double *ref,
                     int width) {
  double s[2] = {0, 0}, all[2];
  for (int64_t i = 0; i < m; i++)
    for (int c = 0; c < width; c++) {
      double r = ref[width * idx[i] + c], d = got[width * i + c] - r;
      s[0] += d * d;
      s[1] += r * r;
    }
  MPI_Allreduce(s, all, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return sqrt(all[0] / all[1]);
}

static void run_case(const problem *P, assign_mode mode, const tolerance *tol) {
  uint64_t salt = 100 + 2 * (uint64_t)mode;
  int64_t *si = calloc(NSRC + 1, sizeof(int64_t)), *ti = calloc(NSRC + 1, sizeof(int64_t));
  int64_t ns = share(mode, NSRC, salt, si);
  int64_t nt = ns;
  double *src = tu_alloc(3 * ns), *q = tu_alloc(ns), *q2 = tu_alloc(ns), *trg = src;
  pick(ns, si, P->src, 3, src);
  pick(ns, si, P->q, 1, q);
  pick(ns, si, P->q2, 1, q2);
  if (P->identical) {
    memcpy(ti, si, (size_t)ns * sizeof(int64_t));
  } else {
    nt = share(mode, P->ntrg, salt + 1, ti);
    trg = tu_alloc(3 * nt);
    pick(nt, ti, P->trg, 3, trg);
  }
  double *pot = tu_alloc(nt), *grad = tu_alloc(3 * nt), *pot_b = tu_alloc(nt),
         *grad_b = tu_alloc(3 * nt), *pot2 = tu_alloc(nt);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, ns, src, nt, trg, &P->o),
                KIFMM_SUCCESS);
  if (plan) {
    EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
    EXPECT_STATUS(kifmm_evaluate(plan, q2, pot2, NULL), KIFMM_SUCCESS);
    EXPECT_STATUS(kifmm_evaluate(plan, q, pot_b, grad_b), KIFMM_SUCCESS);
    kifmm_stats st;
    EXPECT_STATUS(kifmm_plan_stats(plan, &st), KIFMM_SUCCESS);
    EXPECT(st.nevaluations == 3, "nevaluations %lld", (long long)st.nevaluations);
    /* the communicator's figures: global counts, and every byte sent is received once */
    int64_t io[2] = {st.bytes_sent, st.bytes_received}, sum[2] = {0, 0};
    MPI_Allreduce(io, sum, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    EXPECT(st.nranks == size_ && st.rank == rank_, "nranks %d rank %d", st.nranks, st.rank);
    EXPECT(st.nsrc_global == NSRC && st.ntrg_global == P->ntrg, "global counts %lld %lld",
           (long long)st.nsrc_global, (long long)st.ntrg_global);
    EXPECT(sum[0] == sum[1], "%s: %lld bytes sent, %lld received", mode_name[mode],
           (long long)sum[0], (long long)sum[1]);
    EXPECT(size_ == 1 ? sum[0] == 0 : sum[0] > 0, "%s: %lld bytes moved at %d ranks",
           mode_name[mode], (long long)sum[0], size_);
    EXPECT(st.t_partition > 0 && st.t_partition <= st.t_tree, "t_partition %g, t_tree %g",
           st.t_partition, st.t_tree);
    EXPECT(st.t_comm_wait >= 0 && st.t_comm_wait <= st.t_evaluate, "t_comm_wait %g of %g",
           st.t_comm_wait, st.t_evaluate);
    /* a locally essential tree, not a replicated one: some sources and boxes stay away */
    EXPECT(size_ == 1 || (st.nsrc < NSRC && st.nboxes < P->ser_nboxes),
           "%s: local tree of %lld sources, %lld boxes (serial %lld)", mode_name[mode],
           (long long)st.nsrc, (long long)st.nboxes, (long long)P->ser_nboxes);
  }
  EXPECT_STATUS(kifmm_plan_destroy(&plan), KIFMM_SUCCESS);
  EXPECT(plan == NULL, "plan not reset");
  double sp = rel_l2(nt, ti, pot, P->ser_pot, 1), sg = rel_l2(nt, ti, grad, P->ser_grad, 3);
  double sp2 = rel_l2(nt, ti, pot2, P->ser_pot2, 1);
  double dp = rel_l2(nt, ti, pot, P->dir_pot, 1), dg = rel_l2(nt, ti, grad, P->dir_grad, 3);
  int same = memcmp(pot, pot_b, (size_t)nt * sizeof(double)) == 0 &&
             memcmp(grad, grad_b, 3 * (size_t)nt * sizeof(double)) == 0, all_same;
  MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rank_ == 0)
    printf("  np=%d p=%d %-7s %-9s %-9s vs 1-rank %.1e %.1e %.1e  vs direct %.2e %.2e\n",
           size_, P->order, tu_dist_name[P->dist], P->identical ? "identical" : "separate",
           mode_name[mode], sp, sg, sp2, dp, dg);
  EXPECT(sp <= 1e-12 && sg <= 1e-12 && sp2 <= 1e-12, "%s: differs from the 1-rank result",
         mode_name[mode]);
  EXPECT(dp <= tol->pot && dg <= tol->grad, "%s: error against the direct sum", mode_name[mode]);
  EXPECT(all_same, "%s: repeated evaluation not bitwise equal", mode_name[mode]);
  void *v[] = {si, ti, src, q, q2, pot, grad, pot_b, grad_b, pot2};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
    free(v[i]);
  if (trg != src)
    free(trg);
}

/* Bad input on one rank only: the same status everywhere, nothing left hanging, and the plan
 * still evaluates correctly after a refused evaluation. */
static void bad_input(void) {
  const int last = size_ - 1;
  enum { N = 200 };
  uint64_t seed = 7 + (uint64_t)rank_;
  double src[3 * N], q[N], pot[N], pot2[N];
  tu_points(TU_CUBE, N, &seed, src);
  for (int i = 0; i < N; i++)
    q[i] = tu_uniform(&seed);
  kifmm_options o = kifmm_default_options();
  o.order = 4;
  o.ncrit = 30;
  kifmm_plan *plan = NULL;
  double saved = src[5];
  if (rank_ == last)
    src[5] = NAN;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, N, src, N, src, &o),
                KIFMM_ERR_NONFINITE_COORDINATE);
  EXPECT(plan == NULL, "plan set on failure");
  src[5] = saved;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, rank_ == 0 ? -1 : N, src, N, src,
                                      &o),
                KIFMM_ERR_INVALID_COUNT);
  EXPECT_STATUS(kifmm_plan_create_mpi(rank_ == last ? NULL : &plan, MPI_COMM_WORLD, N, src, N,
                                      src, &o),
                KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, N, src, N, src, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, NULL), KIFMM_SUCCESS);
  for (int i = 0; i < N; i++)
    pot2[i] = -1;
  double qs = q[3];
  if (rank_ == last)
    q[3] = INFINITY;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot2, NULL), KIFMM_ERR_NONFINITE_CHARGE);
  q[3] = qs;
  EXPECT_STATUS(kifmm_evaluate(plan, q, rank_ == 0 ? NULL : pot2, NULL), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT(pot2[0] == -1 && pot2[N - 1] == -1, "outputs written on failure");
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot2, NULL), KIFMM_SUCCESS);
  EXPECT(memcmp(pot, pot2, sizeof(pot)) == 0, "evaluation after a refused one differs");
  EXPECT_STATUS(kifmm_plan_destroy(&plan), KIFMM_SUCCESS);
}

/* A tolerance below what a sphere reaches (1.2e-13) is served only where the points fill a
 * volume: one rank holding a sphere's points refuses, and every rank returns its status with
 * no plan, before any operator is computed. */
static void tolerance_by_distribution(void) {
  enum { N = 20000 }; /* enough points for the dimension estimate to see a surface */
  uint64_t seed = 11 + (uint64_t)rank_;
  double *src = tu_alloc(3 * N);
  tu_points(rank_ == size_ - 1 ? TU_SPHERE : TU_CUBE, N, &seed, src);
  kifmm_options o = kifmm_default_options();
  o.tolerance = 5e-14;
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, N, src, N, src, &o),
                KIFMM_ERR_INVALID_TOLERANCE);
  EXPECT(plan == NULL, "plan set on failure");
  free(src);
}

/* No points anywhere, and the automatic leaf size (chosen per rank, largest used). */
static void corner_cases(void) {
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, 0, NULL, 0, NULL, NULL),
                KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, NULL, NULL, NULL), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_plan_destroy(&plan), KIFMM_SUCCESS);
  enum { N = 1500 };
  uint64_t seed = 31;
  double *all = tu_alloc(3 * N), *q = tu_alloc(N), *ref = tu_alloc(N), *pot = tu_alloc(N);
  tu_points(TU_CLUSTER, N, &seed, all);
  for (int i = 0; i < N; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  EXPECT_STATUS(kifmm_direct(N, all, q, N, all, ref, NULL, 1), KIFMM_SUCCESS);
  int64_t lo = (int64_t)N * rank_ / size_, hi = (int64_t)N * (rank_ + 1) / size_;
  kifmm_options o = kifmm_default_options();
  o.order = 6;
  EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, hi - lo, all + 3 * lo, hi - lo,
                                      all + 3 * lo, &o),
                KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q + lo, pot, NULL), KIFMM_SUCCESS);
  int64_t *idx = calloc(N, sizeof(int64_t));
  for (int64_t i = lo; i < hi; i++)
    idx[i - lo] = i;
  double e = rel_l2(hi - lo, idx, pot, ref, 1);
  if (rank_ == 0)
    printf("  np=%d automatic ncrit: error %.2e\n", size_, e);
  EXPECT(e <= 3e-6, "automatic ncrit: error %.3e", e);
  EXPECT_STATUS(kifmm_plan_destroy(&plan), KIFMM_SUCCESS);
  free(idx);
  free(all);
  free(q);
  free(ref);
  free(pot);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  for (size_t t = 0; t < sizeof(tolerances) / sizeof(tolerances[0]); t++)
    for (int d = 0; d < 2; d++)
      for (int identical = 0; identical <= 1; identical++) {
        problem P;
        problem_init(&P, tolerances[t].order, d == 0 ? TU_CUBE : TU_CLUSTER, identical);
        for (int m = 0; m < NMODES; m++)
          if (m != SPLIT || !identical)
            run_case(&P, (assign_mode)m, &tolerances[t]);
        problem_free(&P);
      }
  corner_cases();
  bad_input();
  tolerance_by_distribution();
  int fail = tu_finish("test_let"), any;
  MPI_Allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
