/* SPDX-License-Identifier: BSD-3-Clause */
/* Progress callback: every phase of plan creation and evaluation is announced at its start
 * and end, in order, from the calling thread only; long phases report the fraction done. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

typedef struct {
  char phase[256][16];
  double fraction[256];
  int n, other_thread, overflow;
  pthread_t caller;
} record;

static void on_progress(const char *phase, double fraction, void *data) {
  record *r = data;
  if (!pthread_equal(pthread_self(), r->caller))
    r->other_thread++;
  if (r->n == 256) {
    r->overflow++;
    return;
  }
  snprintf(r->phase[r->n], sizeof(r->phase[0]), "%s", phase);
  r->fraction[r->n++] = fraction;
}

/* The phases appear in this order, each starting at 0, ending at 1, never going back. */
static void check_sequence(const record *r, const char *const *phases, int nphases,
                           const char *what) {
  int i = 0, ok = r->overflow == 0 && r->other_thread == 0;
  for (int p = 0; p < nphases && ok; p++) {
    ok &= i < r->n && strcmp(r->phase[i], phases[p]) == 0 && r->fraction[i] == 0.0;
    double last = 0.0;
    for (i++; ok && i < r->n && strcmp(r->phase[i], phases[p]) == 0; i++) {
      ok &= r->fraction[i] >= last && r->fraction[i] <= 1.0 && last < 1.0; /* one end only */
      last = r->fraction[i];
    }
    ok &= last == 1.0;
  }
  ok &= i == r->n;
  if (!ok)
    for (int k = 0; k < r->n; k++)
      printf("  %s %.3f\n", r->phase[k], r->fraction[k]);
  EXPECT(ok, "%s: %d reports in order from the caller's thread (other threads %d)", what, r->n,
         r->other_thread);
}

static int count_between(const record *r, const char *phase) {
  int c = 0;
  for (int i = 0; i < r->n; i++)
    c += strcmp(r->phase[i], phase) == 0 && r->fraction[i] > 0.0 && r->fraction[i] < 1.0;
  return c;
}

int main(void) {
  const int64_t n = 20000;
  uint64_t seed = 3;
  double *x = tu_alloc(3 * n), *q = tu_alloc(n), *pot = tu_alloc(n), *grad = tu_alloc(3 * n);
  tu_points(TU_CUBE, n, &seed, x);
  for (int64_t i = 0; i < n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  char dir[] = "/tmp/kifmm-progress-XXXXXX";
  EXPECT(mkdtemp(dir) != NULL, "temporary cache directory");
  record r = {.caller = pthread_self()};
  kifmm_options o = kifmm_default_options();
  o.order = 4;
  o.num_threads = 2;
  o.progress = on_progress;
  o.progress_data = &r;
  EXPECT_STATUS(kifmm_options_set_cache_dir(&o, dir), KIFMM_SUCCESS);
  kifmm_plan *plan = NULL;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &o), KIFMM_SUCCESS);
  const char *create[] = {"tree", "lists", "operators"};
  check_sequence(&r, create, 3, "create, cold cache");
  EXPECT(count_between(&r, "operators") >= 10, "precomputation reports its progress (%d)",
         count_between(&r, "operators"));
  r.n = 0;
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  const char *evaluate[] = {"p2m", "m2m", "downward", "l2p", "m2p", "p2p"};
  check_sequence(&r, evaluate, 6, "evaluate");
  kifmm_plan_destroy(&plan);
  o.progress = NULL; /* silence is the default */
  r.n = 0;
  EXPECT_STATUS(kifmm_plan_create(&plan, n, x, n, x, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_evaluate(plan, q, pot, grad), KIFMM_SUCCESS);
  EXPECT(r.n == 0, "no reports without a callback (%d)", r.n);
  kifmm_plan_destroy(&plan);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  EXPECT(system(cmd) == 0, "clean up");
  free(x);
  free(q);
  free(pot);
  free(grad);
  return tu_finish("test_progress");
}
