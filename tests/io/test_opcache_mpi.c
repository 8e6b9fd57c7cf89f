/* SPDX-License-Identifier: BSD-3-Clause */
/* Operator cache under MPI (2 ranks): rank 0 loads or computes, every rank receives
 * operators bitwise identical to a local computation, with the same cache result. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>

#include "operators/opcache.h"

static int failures = 0, rank = 0;
#define EXPECT(cond, ...)                                                        \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "[rank %d] FAIL %s:%d: %s: ", rank, __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                              \
      fprintf(stderr, "\n");                                                     \
      failures++;                                                                \
    }                                                                            \
  } while (0)

static int same_set(const kifmm_operators *o, const kifmm_opset *a, const kifmm_opset *b) {
  int64_t nn = (int64_t)o->n * o->n, nc = (int64_t)o->n * o->nc;
  int64_t nkl = (int64_t)o->n * KIFMM_M2L_GROUPS * a->kl,
          nkr = (int64_t)o->n * KIFMM_M2L_GROUPS * a->kr;
  size_t d = sizeof(double);
  return a->kl == b->kl && a->kr == b->kr && a->param == b->param &&
         a->ab_len == b->ab_len && !memcmp(a->r, b->r, sizeof(a->r)) &&
         !memcmp(a->ab_off, b->ab_off, sizeof(a->ab_off)) &&
         !memcmp(a->uc2e, b->uc2e, (nn + nc) * d) && !memcmp(a->dc2e, b->dc2e, (nn + nc) * d) &&
         !memcmp(a->m2m, b->m2m, 8 * nn * d) && !memcmp(a->l2l, b->l2l, 8 * nn * d) &&
         !memcmp(a->vt, b->vt, nkr * d) && !memcmp(a->d, b->d, nkl * d) &&
         !memcmp(a->ab, b->ab, a->ab_len * d);
}

/* Scalar kernels only (n and nc are the dimensions of every matrix). */
static int same(const kifmm_operators *a, const kifmm_operators *b) {
  int ok = a->order == b->order && a->n == b->n && a->tol == b->tol &&
           a->check_order == b->check_order && a->nc == b->nc && a->rcond == b->rcond &&
           a->nsets == b->nsets && a->lo == b->lo && a->hi == b->hi;
  for (int i = 0; ok && i < a->nsets; i++)
    ok = same_set(a, &a->set[i], &b->set[i]);
  return ok;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char dir[256] = "/tmp/kifmm-opcache-mpi-XXXXXX";
  if (rank == 0 && !mkdtemp(dir))
    dir[0] = '\0';
  MPI_Bcast(dir, sizeof(dir), MPI_CHAR, 0, MPI_COMM_WORLD);
  kifmm_options o = kifmm_default_options();
  o.order = 4;
  snprintf(o.cache_dir, sizeof(o.cache_dir), "%s", dir);
  kifmm_operators local, got;
  const kifmm_opspec spec = {kifmm__kernel(KIFMM_KERNEL_LAPLACE), 0.0, o.order, 0.0, 0, 0};
  EXPECT(kifmm__operators_compute(&local, &spec, 1) == KIFMM_SUCCESS, "compute");
  const int want[2] = {KIFMM_CACHE_STORED, KIFMM_CACHE_HIT};
  for (int round = 0; round < 2; round++) {
    int result = -1;
    int s = kifmm__operators_obtain_comm(&got, &spec, &o, 1, MPI_COMM_WORLD, &result);
    EXPECT(s == KIFMM_SUCCESS && result == want[round], "round %d: status %d result %d", round, s,
           result);
    EXPECT(s == KIFMM_SUCCESS && same(&local, &got), "round %d: operators differ", round);
    if (s == KIFMM_SUCCESS)
      kifmm__operators_free(&got);
  }
  kifmm__operators_free(&local);
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  MPI_Finalize();
  return total ? 1 : 0;
}
