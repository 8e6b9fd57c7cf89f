/* SPDX-License-Identifier: BSD-3-Clause */
/* Peak memory of a distributed plan per rank against the one-process plan (issue 8: a rank's
 * peak falls with the number of ranks). One run of this program measures one configuration:
 *
 *   test_memory N ORDER                      prints "peak_mb X", the largest per-rank peak
 *   test_memory N ORDER REF_MB MAX_RATIO     also fails unless that peak <= MAX_RATIO * REF_MB
 *
 * memory_ratio.cmake runs it at 1 rank (kifmm_plan_create, the one-process library) for REF_MB,
 * then at 4 ranks (kifmm_plan_create_mpi). Peak of a rank = the largest resident set during
 * plan creation and one evaluation with gradients (VmHWM) minus the resident set just before
 * (VmRSS), taken after MPI_Init, after generating the rank's block of the N uniform sources,
 * N targets and charges, and after touching the output arrays, with the high-water mark reset
 * there (/proc/self/clear_refs). So the baseline holds the MPI and BLAS libraries and the
 * caller's own arrays, which a rank holds 1/R of anyway, and the peak is what the library
 * adds. Linux only: elsewhere the program skips (exit 77). */
#include <mpi.h>
#include <stdio.h>

#include "kifmm_mpi.h"
#include "testutil.h"

/* VmRSS or VmHWM of this process in MB; -1 when /proc is not there. */
static double status_mb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  double kb = -1;
  size_t len = strlen(field);
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, field, len) == 0 && line[len] == ':')
      kb = atof(line + len + 1);
  fclose(f);
  return kb < 0 ? -1 : kb / 1024.0;
}

/* Resets VmHWM to the current resident set (Linux 4.0 and later); 0 on failure. */
static int reset_peak(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f)
    return 0;
  int ok = fputs("5", f) >= 0;
  return fclose(f) == 0 && ok;
}

/* Values [off, off + cnt) of a splitmix64 stream, the same for any number of ranks. */
static void block_values(uint64_t seed, int64_t off, int64_t cnt, double *v) {
  for (int64_t j = 0; j < cnt; j++) {
    uint64_t s = seed + (uint64_t)(off + j) * 0x9e3779b97f4a7c15ull;
    v[j] = tu_uniform(&s);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 3 && argc != 5) {
    if (rank == 0)
      fprintf(stderr, "usage: test_memory N ORDER [REF_MB MAX_RATIO]\n");
    MPI_Finalize();
    return 2;
  }
  const int64_t n = (int64_t)atof(argv[1]);
  const int64_t off = n * rank / size, cnt = n * (rank + 1) / size - off;
  double *src = tu_alloc(3 * cnt), *trg = tu_alloc(3 * cnt), *q = tu_alloc(cnt);
  double *pot = tu_alloc(cnt), *grad = tu_alloc(3 * cnt);
  block_values(1, 3 * off, 3 * cnt, src);
  block_values(2, 3 * off, 3 * cnt, trg);
  block_values(3, off, cnt, q);
  memset(pot, 0, (size_t)cnt * sizeof(double));
  memset(grad, 0, 3 * (size_t)cnt * sizeof(double));
  int ok = status_mb("VmRSS") >= 0 && reset_peak(), all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_ok) {
    if (rank == 0)
      printf("test_memory: no /proc/self/status or clear_refs: skipped\n");
    MPI_Finalize();
    return 77;
  }
  const double base = status_mb("VmRSS");
  kifmm_options o = kifmm_default_options();
  o.order = atoi(argv[2]);
  o.ncrit = 100;     /* the same leaves at 1 and 4 ranks, whatever each rank's sample says */
  o.use_cache = 0;   /* both runs compute the operators: no dependence on the cache's state */
  kifmm_plan *plan = NULL;
  if (size == 1)
    EXPECT_STATUS(kifmm_plan_create(&plan, cnt, src, cnt, trg, &o), KIFMM_SUCCESS);
  else
    EXPECT_STATUS(kifmm_plan_create_mpi(&plan, MPI_COMM_WORLD, cnt, src, cnt, trg, &o),
                  KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  double peak = status_mb("VmHWM") - base, max_peak = 0, sum = 0;
  MPI_Reduce(&peak, &max_peak, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  MPI_Reduce(&peak, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    printf("ranks %d n %lld order %d: largest per-rank peak %.1f MB (mean %.1f)\n", size,
           (long long)n, o.order, max_peak, sum / size);
    printf("peak_mb %.3f\n", max_peak);
    if (argc == 5) {
      double ref = atof(argv[3]), ratio = atof(argv[4]);
      printf("ratio to the 1-rank peak %.1f MB: %.3f (at most %.3f)\n", ref, max_peak / ref,
             ratio);
      EXPECT(max_peak <= ratio * ref, "per-rank peak %.1f MB over %.0f %% of %.1f MB",
             max_peak, 100 * ratio, ref);
    }
  }
  kifmm_plan_destroy(&plan);
  free(src), free(trg), free(q), free(pot), free(grad);
  int fail = tu_finish("test_memory"), any;
  MPI_Allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
