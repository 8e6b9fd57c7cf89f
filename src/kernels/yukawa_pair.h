/* SPDX-License-Identifier: BSD-3-Clause */
/* One Yukawa pair on one SIMD path, shared by the one-way sums (yukawa_simd.h) and the sums
 * taken both ways (symmetric_simd.h), so that a pair's K and gradient factor are the same
 * function of r2 in both; included after vec.h once per path (no include guard, as the loops
 * that include it). */

/* K = exp(-kappa r)/r from r2 and, with grad, the gradient's factor h = K (1 + kappa r) / r^2
 * (d/dy K(y - x) = -h (y - x)); 0 where r2 == 0 (1/r is 0 there, so K = e * 0). deg > 0 (a
 * constant once inlined): exp as the polynomial c in kappa r - x0 (nx0 = -x0; exp_taylor.c),
 * which serves kappa r <= 1.5 only, so r = r2 / r without the Newton step below, and kappa
 * is finite, so h = (K / r)(kappa + 1/r) needs no kappa r. deg == 0: the full exp. */
VINLINE void VNAME(yukawa_pair)(const int deg, const int grad, VD kap, VD nx0, const double *c,
                                VD r2, VD *k, VD *h) {
  VD rinv = vrsqrt(r2);
  if (deg > 0) {
    VD e;
    vexp_taylor(deg, vfma(kap, vmul(r2, rinv), nx0), c, e); /* kappa r - x0, one rounding */
    *k = vmul(e, rinv);
    if (grad)
      *h = vmul(vmul(*k, rinv), vadd(kap, rinv));
    return;
  }
  VD r = vmul(r2, rinv);
  /* One Newton step on r itself, r += (r2 - r^2) / (2 r), the residual exact by FMA: r2 / r
   * is an ulp or so off, which exp(-kappa r) turns into up to 1.5 kappa r ulps (measured:
   * 512 ulps at kappa r = 700 on AVX-512, 1024 on AVX2). With it, 3 ops, a pair is within 3
   * ulps of exp(-kappa r)/r at the double r2 for all kappa r, as with a correct sqrt. */
  r = vfma(vmul(vfnma(r, r, r2), rinv), vset1(0.5), r);
  VD kr = vmin(vmul(kap, r), vset1(KIFMM_VEC_EXP_CLAMP));
  *k = vmul(vexpneg(kr), rinv);
  if (grad) /* K + K kappa r rounded once (kappa r clamped: no 0 * inf where kappa is) */
    *h = vmul(vfma(*k, kr, *k), vmul(rinv, rinv));
}
