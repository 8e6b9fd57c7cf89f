/* SPDX-License-Identifier: BSD-3-Clause */
/* Thread safety: several user threads create, evaluate and destroy plans at once, on a cold
 * and then a warm operator cache; results are bitwise those of a serial run, each cache
 * file is computed once, and the caller's process-wide settings (OpenBLAS thread count,
 * HDF5 error handler) are as before. Also: num_threads = 0 follows OpenMP at each call. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <hdf5.h>
#include <omp.h>
#include <pthread.h>

#include "kifmm_io.h"
#include "testutil.h"

/* OpenBLAS's thread control, when the BLAS in use is OpenBLAS */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));

enum { NTHREADS = 3, NPLANS = 5, NCONF = 3, NPTS = 2000 };

/* Two orders, so two cache files are raced for; one configuration potential-only. */
static const struct conf {
  int order, ncrit, grad;
} g_conf[NCONF] = {{4, 60, 1}, {5, 100, 1}, {4, 200, 0}};

static double g_src[3 * NPTS], g_q[NPTS];
static double g_ref_pot[NCONF][NPTS], g_ref_grad[NCONF][3 * NPTS];
static char g_cache[256];
/* KIFMM_TEST_OMP_THREADS=1 under ThreadSanitizer: libgomp is not instrumented, so its
 * barriers are invisible to TSan and teams of 2+ give false reports (make check-tsan). */
static int g_omp_threads = 2;

typedef struct worker {
  int id, failures;
  int stored[NCONF], hits[NCONF], other;
} worker;

static int run_conf(int c, int use_cache, double *pot, double *grad, int *cache_result) {
  kifmm_options o = kifmm_default_options();
  o.order = g_conf[c].order;
  o.ncrit = g_conf[c].ncrit;
  o.num_threads = g_omp_threads; /* an OpenMP team inside each user thread */
  o.use_cache = use_cache;
  snprintf(o.cache_dir, sizeof(o.cache_dir), "%s", g_cache);
  kifmm_plan *plan = NULL;
  int s = kifmm_plan_create(&plan, NPTS, g_src, NPTS, g_src, &o);
  if (s == KIFMM_SUCCESS)
    s = kifmm_evaluate(plan, g_q, pot, g_conf[c].grad ? grad : NULL);
  kifmm_stats st;
  if (s == KIFMM_SUCCESS && (s = kifmm_plan_stats(plan, &st)) == KIFMM_SUCCESS)
    *cache_result = st.cache_result;
  kifmm_plan_destroy(&plan);
  return s;
}

static void *work(void *arg) {
  worker *w = arg;
  double *pot = tu_alloc(NPTS), *grad = tu_alloc(3 * NPTS);
  for (int i = 0; i < NPLANS; i++) {
    int c = (w->id + i) % NCONF, result = -1;
    int s = run_conf(c, 1, pot, grad, &result);
    int same = memcmp(pot, g_ref_pot[c], sizeof(g_ref_pot[c])) == 0 &&
               (!g_conf[c].grad || memcmp(grad, g_ref_grad[c], sizeof(g_ref_grad[c])) == 0);
    if (s != KIFMM_SUCCESS || !same) {
      fprintf(stderr, "thread %d plan %d conf %d: status %d, bitwise equal %d\n", w->id, i, c,
              s, same);
      w->failures++;
    }
    if (result == KIFMM_CACHE_STORED)
      w->stored[c]++;
    else if (result == KIFMM_CACHE_HIT)
      w->hits[c]++;
    else
      w->other++;
  }
  free(pot);
  free(grad);
  return NULL;
}

/* All threads at once; totals of the cache results per configuration. */
static void run_threads(const char *what, int stored[NCONF], int hits[NCONF]) {
  pthread_t th[NTHREADS];
  worker w[NTHREADS];
  memset(w, 0, sizeof(w));
  memset(stored, 0, NCONF * sizeof(int));
  memset(hits, 0, NCONF * sizeof(int));
  for (int t = 0; t < NTHREADS; t++) {
    w[t].id = t;
    EXPECT(pthread_create(&th[t], NULL, work, &w[t]) == 0, "pthread_create");
  }
  for (int t = 0; t < NTHREADS; t++) {
    pthread_join(th[t], NULL);
    EXPECT(w[t].failures == 0, "%s: thread %d: %d plans failed or differ from the serial run",
           what, t, w[t].failures);
    EXPECT(w[t].other == 0, "%s: thread %d: %d cache results neither stored nor hit", what, t,
           w[t].other);
    for (int c = 0; c < NCONF; c++) {
      stored[c] += w[t].stored[c];
      hits[c] += w[t].hits[c];
    }
  }
}

static herr_t my_h5_handler(hid_t stack, void *data) {
  (void)stack, (void)data;
  return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void concurrent_plans(void) {
  static int marker;
  H5Eset_auto2(H5E_DEFAULT, my_h5_handler, &marker);
  if (openblas_set_num_threads)
    openblas_set_num_threads(2); /* the caller's choice, to be left alone */
  for (int c = 0; c < NCONF; c++) { /* the serial reference, no cache */
    int result;
    EXPECT_STATUS(run_conf(c, 0, g_ref_pot[c], g_ref_grad[c], &result), KIFMM_SUCCESS);
  }
  int stored[NCONF], hits[NCONF];
  run_threads("cold", stored, hits);
  /* orders 4 and 5: one file each, computed by exactly one plan while the others wait */
  EXPECT(stored[0] + stored[2] == 1 && stored[1] == 1,
         "cold: each cache file computed once (order 4: %d, order 5: %d)", stored[0] + stored[2],
         stored[1]);
  run_threads("warm", stored, hits);
  for (int c = 0; c < NCONF; c++)
    EXPECT(stored[c] == 0 && hits[c] > 0, "warm: conf %d stored %d hits %d", c, stored[c],
           hits[c]);
  if (openblas_get_num_threads)
    EXPECT(openblas_get_num_threads() == 2, "OpenBLAS threads %d after the run, caller set 2",
           openblas_get_num_threads());
  else
    printf("  BLAS is not OpenBLAS: thread count not checked\n");
  H5E_auto2_t func = NULL;
  void *data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  EXPECT(func == my_h5_handler && data == &marker, "the caller's HDF5 error handler is restored");
}

/* num_threads = 0: the OpenMP setting at evaluation time, not the one at creation. */
static void threads_follow_openmp(void) {
  kifmm_options o = kifmm_default_options();
  o.order = 4;
  o.use_cache = 0;
  double *pot = tu_alloc(NPTS);
  kifmm_plan *plan = NULL;
  kifmm_result_meta m;
  omp_set_num_threads(1);
  EXPECT_STATUS(kifmm_plan_create(&plan, NPTS, g_src, NPTS, g_src, &o), KIFMM_SUCCESS);
  for (int want = 3; want >= 1; want -= 2) {
    omp_set_num_threads(want);
    EXPECT_STATUS(kifmm_evaluate(plan, g_q, pot, NULL), KIFMM_SUCCESS);
    EXPECT_STATUS(kifmm_io_result_meta(plan, &m), KIFMM_SUCCESS);
    EXPECT(m.num_threads == want, "num_threads 0 used %d threads, OpenMP says %d",
           m.num_threads, want);
  }
  kifmm_plan_destroy(&plan);
  free(pot);
}

int main(void) {
  const char *e = getenv("KIFMM_TEST_OMP_THREADS");
  if (e && atoi(e) > 0)
    g_omp_threads = atoi(e);
  uint64_t seed = 2024;
  tu_points(TU_CLUSTER, NPTS, &seed, g_src);
  for (int i = 0; i < NPTS; i++)
    g_q[i] = tu_uniform(&seed) - 0.5;
  snprintf(g_cache, sizeof(g_cache), "/tmp/kifmm-concurrency-XXXXXX");
  if (!mkdtemp(g_cache))
    return 1;
  concurrent_plans();
  if (g_omp_threads > 1) /* needs teams of 2+, which TSan cannot follow */
    threads_follow_openmp();
  else
    printf("  OpenMP teams of 1: num_threads = 0 check skipped\n");
  nftw(g_cache, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return tu_finish("test_concurrency");
}
