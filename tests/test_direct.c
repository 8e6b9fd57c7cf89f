/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm_direct, the reference every accuracy figure is taken against, against long double:
 * 2e5 sources with charges of both signs (one long sum held its rounding at about
 * eps sqrt(N), 1.6e-14 here and 3.6e-14 at 1e6), a source count off the chunk size, targets
 * filling one block and part of another, some on sources (which contribute nothing). The
 * potential alone must agree with the potential with gradient (their sums round differently). */
#include "testutil.h"

enum { NS = 200003, NT = 77 };

/* potential and gradient of target i in long double (with the 1/(4 pi)) */
static void reference(const double *src, const double *q, const double *y, double out[4]) {
  long double p = 0, g[3] = {0, 0, 0};
  for (int64_t j = 0; j < NS; j++) {
    long double d[3] = {(long double)y[0] - src[3 * j], (long double)y[1] - src[3 * j + 1],
                        (long double)y[2] - src[3 * j + 2]};
    long double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    if (r2 == 0)
      continue;
    long double rinv = 1 / sqrtl(r2);
    p += q[j] * rinv;
    for (int c = 0; c < 3; c++)
      g[c] -= q[j] * rinv * rinv * rinv * d[c];
  }
  const long double s = 1 / (4 * 3.141592653589793238462643383279502884L);
  out[0] = (double)(s * p);
  for (int c = 0; c < 3; c++)
    out[1 + c] = (double)(s * g[c]);
}

int main(void) {
  uint64_t seed = 5;
  double *src = tu_alloc(3 * NS), *q = tu_alloc(NS), *trg = tu_alloc(3 * NT);
  double *pot = tu_alloc(NT), *grad = tu_alloc(3 * NT), *pot2 = tu_alloc(NT);
  tu_points(TU_CUBE, NS, &seed, src);
  tu_points(TU_CUBE, NT, &seed, trg);
  for (int64_t j = 0; j < NS; j++)
    q[j] = tu_uniform(&seed) - 0.5;
  for (int i = 0; i < NT; i += 10) /* some targets on sources */
    memcpy(trg + 3 * i, src + 3 * (i * 997), 3 * sizeof(double));
  EXPECT_STATUS(kifmm_direct(NS, src, q, NT, trg, pot, grad, 2), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_direct(NS, src, q, NT, trg, pot2, NULL, 2), KIFMM_SUCCESS);
  double ep = 0, np = 0, eg = 0, ng = 0, d2 = 0;
  for (int i = 0; i < NT; i++) {
    double r[4];
    reference(src, q, trg + 3 * i, r);
    ep += (pot[i] - r[0]) * (pot[i] - r[0]);
    np += r[0] * r[0];
    for (int c = 0; c < 3; c++) {
      eg += (grad[3 * i + c] - r[1 + c]) * (grad[3 * i + c] - r[1 + c]);
      ng += r[1 + c] * r[1 + c];
    }
    d2 += (pot2[i] - pot[i]) * (pot2[i] - pot[i]);
  }
  ep = sqrt(ep / np);
  eg = sqrt(eg / ng);
  printf("direct sum of %d sources: relative l2 error potential %.2e, gradient %.2e\n", NS, ep,
         eg);
  /* where long double is no wider than double (valgrind) the reference rounds as much */
  volatile long double one = 1.0L, tiny = 0x1p-60L;
  const double bound = one + tiny != one ? 3e-15 : 3e-14; /* one long sum: 1.0e-14 */
  EXPECT(ep < bound && eg < bound, "potential %.2e, gradient %.2e (bound %.0e)", ep, eg, bound);
  EXPECT(sqrt(d2 / np) < 1e-15, "the potential without gradient differs by %.2e",
         sqrt(d2 / np));
  free(src);
  free(q);
  free(trg);
  free(pot);
  free(grad);
  free(pot2);
  return tu_finish("test_direct");
}
