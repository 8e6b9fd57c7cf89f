/* SPDX-License-Identifier: BSD-3-Clause */
/* Dry run: kifmm_plan_estimate() reports the plan kifmm_plan_create() builds (same choices,
 * same counts, same bytes held) and a memory peak within 15 % of the one measured in this
 * process; predicted times are printed, not asserted (machines differ). Also the leaf-size
 * table's columns (src/plan/costmodel.c), with the table alone (KIFMM_WISDOM=0): Laplace at
 * p8 takes larger leaves than at p7, and Stokes at p6 larger ones with its near field in
 * single precision than in double (on the paths that have it). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "testutil.h"

/* A field of /proc/self/status, in kB. */
static long status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, n))
      v = atol(line + n);
  if (f)
    fclose(f);
  return v;
}

static void run(tu_dist dist, int64_t n, int order) {
  uint64_t seed = 17;
  double *src = tu_alloc(3 * n), *trg = tu_alloc(3 * n), *q = tu_alloc(n), *pot = tu_alloc(n),
         *grad = tu_alloc(3 * n);
  tu_points(dist, n, &seed, src);
  tu_points(dist, n, &seed, trg);
  for (int64_t i = 0; i < n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  memset(pot, 0, (size_t)n * sizeof(double)); /* outputs resident before the baseline */
  memset(grad, 0, (size_t)n * 3 * sizeof(double));
  kifmm_options o = kifmm_default_options();
  o.order = order;
  o.num_threads = 2;
  FILE *clear = fopen("/proc/self/clear_refs", "w"); /* restart VmHWM from VmRSS */
  if (clear) {
    fputs("5", clear);
    fclose(clear);
  }
  long rss0 = status_kb("VmRSS:");
  kifmm_plan *plan = NULL;
  double t0 = tu_wtime();
  EXPECT_STATUS(kifmm_plan_create(&plan, n, src, n, trg, &o), KIFMM_SUCCESS);
  double t1 = tu_wtime();
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  double t2 = tu_wtime();
  double measured = (status_kb("VmHWM:") - rss0) * 1024.0;
  kifmm_stats st;
  kifmm_plan_stats(plan, &st);
  kifmm_estimate e;
  EXPECT_STATUS(kifmm_plan_estimate(n, src, n, trg, &o, &e), KIFMM_SUCCESS);
  printf("  %s n=%lld p%d ncrit %d: peak %.0f MB measured, %.0f MB estimated (%+.0f %%); "
         "create %.2f s (predicted %.2f), evaluate %.2f s (predicted %.2f)\n",
         tu_dist_name[dist], (long long)n, order, e.ncrit, measured / 1e6, e.bytes_peak / 1e6,
         100.0 * (e.bytes_peak - measured) / measured, t1 - t0,
         e.t_tree + e.t_lists + e.t_operators, t2 - t1, e.t_evaluate);
  EXPECT(e.order == st.order && e.ncrit == st.ncrit && e.depth == st.depth &&
             e.nboxes == st.nboxes && e.nleaves == st.nleaves,
         "the estimate describes the plan that is built");
  EXPECT(e.bytes_plan == st.bytes, "bytes held: %lld estimated, %lld", (long long)e.bytes_plan,
         (long long)st.bytes);
  EXPECT(fabs(e.bytes_peak - measured) <= 0.15 * measured,
         "%s peak %.0f MB within 15 %% of the measured %.0f MB", tu_dist_name[dist],
         e.bytes_peak / 1e6, measured / 1e6);
  EXPECT(e.t_evaluate > 0 && e.p2p_pairs > 0 && e.m2l_flops > 0, "work and time predicted");
  kifmm_plan_destroy(&plan);
  free(src);
  free(trg);
  free(q);
  free(pot);
  free(grad);
}

/* The automatic leaf size of a dry run of n cube sources and targets with these options. */
static int auto_ncrit(const double *src, const double *trg, int64_t n, kifmm_options o) {
  kifmm_estimate e;
  EXPECT_STATUS(kifmm_plan_estimate(n, src, n, trg, &o, &e), KIFMM_SUCCESS);
  return e.ncrit;
}

static void leaf_columns(void) {
  const int64_t n = 20000;
  uint64_t seed = 23;
  double *src = tu_alloc(3 * n), *trg = tu_alloc(3 * n);
  tu_points(TU_CUBE, n, &seed, src);
  tu_points(TU_CUBE, n, &seed, trg);
  setenv("KIFMM_WISDOM", "0", 1);
  kifmm_options o = kifmm_default_options();
  o.order = 7;
  const int l7 = auto_ncrit(src, trg, n, o);
  o.order = 8;
  const int l8 = auto_ncrit(src, trg, n, o);
  printf("leaf size, table alone: Laplace p7 %d, p8 %d\n", l7, l8);
  EXPECT(l8 >= 2 * l7, "Laplace p8 ncrit %d, p7 %d: p8's entry is 350, p7's 150", l8, l7);
  o.order = 6;
  o.kernel = KIFMM_KERNEL_STOKES;
  o.kernel_param = 1.0;
  const int single = auto_ncrit(src, trg, n, o);
  setenv("KIFMM_PRECISION", "double", 1);
  const int dbl = auto_ncrit(src, trg, n, o);
  unsetenv("KIFMM_PRECISION");
  const char *e = getenv("KIFMM_SIMD");
  const int has_single = !(e && strcmp(e, "portable") == 0) &&
                         (tu_simd_path_available("avx2") || tu_simd_path_available("avx512"));
  printf("leaf size, table alone: Stokes p6 %d (%s), %d in double\n", single,
         has_single ? "single" : "double: no single path", dbl);
  if (has_single)
    EXPECT(single >= 1.5 * dbl, "Stokes p6 ncrit %d in single, %d in double", single, dbl);
  else
    EXPECT(single == dbl, "Stokes p6 ncrit %d, %d in double, on a path without single", single,
           dbl);
  unsetenv("KIFMM_WISDOM");
  free(src);
  free(trg);
}

int main(int argc, char **argv) {
  tu_dist dist = argc > 1 && !strcmp(argv[1], "sphere") ? TU_SPHERE : TU_CUBE;
  run(dist, argc > 2 ? atoll(argv[2]) : 400000, 6);
  if (dist == TU_CUBE)
    leaf_columns();
  kifmm_estimate e;
  EXPECT_STATUS(kifmm_plan_estimate(0, NULL, 0, NULL, NULL, NULL), KIFMM_ERR_NULL_ARGUMENT);
  EXPECT_STATUS(kifmm_plan_estimate_sized(0, NULL, 0, NULL, NULL, &e, 8), KIFMM_ERR_STRUCT_SIZE);
  EXPECT_STATUS(kifmm_plan_estimate(-1, NULL, 0, NULL, NULL, &e), KIFMM_ERR_INVALID_COUNT);
  return tu_finish("test_estimate");
}
