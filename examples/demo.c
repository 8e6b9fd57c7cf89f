/* SPDX-License-Identifier: BSD-3-Clause */
/* The C example of docs/api.md as a whole program: plan once on a point cloud, evaluate
 * potentials and gradients, check a sample of targets against the direct sum. Exit status 0
 * when accurate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kifmm.h"

#define CHECK(call)                                                               \
  do {                                                                            \
    int s_ = (call);                                                              \
    if (s_ != KIFMM_SUCCESS) {                                                    \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,             \
              kifmm_error_string(s_));                                            \
      return 1;                                                                   \
    }                                                                             \
  } while (0)

static double rel_l2(int64_t n, const double *a, const double *ref) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return sqrt(num / den);
}

static int run(int64_t n, double *x, double *q, double *pot, double *grad) {
  srand(42);
  for (int64_t i = 0; i < 3 * n; i++)
    x[i] = (double)rand() / RAND_MAX; /* sources = targets, uniform in the unit cube */
  for (int64_t i = 0; i < n; i++)
    q[i] = 2.0 * rand() / RAND_MAX - 1.0;

  kifmm_options opts = kifmm_default_options();
  opts.order = 6; /* ~1e-6 relative error in the potential */
  opts.use_cache = 0; /* keep the demo free of files; real runs keep the default cache */

  kifmm_plan *plan = NULL;
  CHECK(kifmm_plan_create(&plan, n, x, n, x, &opts));
  CHECK(kifmm_evaluate(plan, q, pot, grad)); /* repeat with new charges as often as needed */
  kifmm_stats st;
  CHECK(kifmm_plan_stats(plan, &st));
  CHECK(kifmm_plan_destroy(&plan)); /* plan is NULL again */

  /* Check the first m targets against the direct sum over all sources. */
  enum { m = 200 };
  double pot_ref[m], grad_ref[3 * m];
  CHECK(kifmm_direct(n, x, q, m, x, pot_ref, grad_ref, 0));
  double e_pot = rel_l2(m, pot, pot_ref), e_grad = rel_l2(3 * m, grad, grad_ref);
  printf("kifmm %s: n = %lld, p = %d, %lld boxes, depth %d, evaluate %.3f s\n",
         kifmm_version(), (long long)n, (int)st.order, (long long)st.nboxes, (int)st.depth,
         st.t_evaluate);
  printf("relative l2 error on %d targets: potential %.2e, gradient %.2e\n", m, e_pot, e_grad);
  return !(e_pot < 3e-6 && e_grad < 1.5e-5);
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 20000;
  if (n < 200) {
    fprintf(stderr, "usage: demo [n >= 200]\n");
    return 2;
  }
  double *x = malloc(3 * n * sizeof *x), *q = malloc(n * sizeof *q);
  double *pot = malloc(n * sizeof *pot), *grad = malloc(3 * n * sizeof *grad);
  int status = (x && q && pot && grad) ? run(n, x, q, pot, grad) : 1;
  free(x);
  free(q);
  free(pot);
  free(grad);
  return status;
}
