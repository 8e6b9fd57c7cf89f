/* SPDX-License-Identifier: BSD-3-Clause */
/* Downstream C program: plan, evaluate and check against the direct sum through the
 * installed kifmm package only (built via find_package(kifmm) and via pkg-config). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <kifmm.h>

enum { N = 2000 };

int main(void) {
  static double x[3 * N], q[N], pot[N], ref[N];
  unsigned s = 12345u;
  for (int i = 0; i < 3 * N; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (double)(s >> 8) / (double)(1u << 24);
  }
  for (int i = 0; i < N; i++)
    q[i] = (i % 2) ? 1.0 : -1.0;
  if (strcmp(kifmm_version(), KIFMM_VERSION_STRING) != 0) {
    fprintf(stderr, "header %s but library %s\n", KIFMM_VERSION_STRING, kifmm_version());
    return 1;
  }
  kifmm_options o = kifmm_default_options();
  o.order = 4;
  o.use_cache = 0;
  kifmm_plan *plan = NULL;
  int st = kifmm_plan_create(&plan, N, x, N, x, &o);
  if (st == KIFMM_SUCCESS)
    st = kifmm_evaluate(plan, q, pot, NULL);
  kifmm_plan_destroy(&plan);
  if (st == KIFMM_SUCCESS)
    st = kifmm_direct(N, x, q, N, x, ref, NULL, 0);
  if (st != KIFMM_SUCCESS || plan != NULL) {
    fprintf(stderr, "kifmm: %s\n", kifmm_error_string(st));
    return 1;
  }
  double num = 0, den = 0;
  for (int i = 0; i < N; i++) {
    num += (pot[i] - ref[i]) * (pot[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  printf("kifmm %s: p = 4 relative error %.2e\n", kifmm_version(), sqrt(num / den));
  return sqrt(num / den) <= 5e-4 ? 0 : 1;
}
