/* SPDX-License-Identifier: BSD-3-Clause */
/* The Laplace direct sums' 1/sqrt on the two SIMD paths, shared by the one-way sums
 * (laplace.c) and the sums taken both ways (symmetric.c), so that a pair's 1/r is the same
 * function of r2 in both and their results differ by the order of the additions only. */
#ifndef KIFMM_RSQRT_H
#define KIFMM_RSQRT_H

#include <immintrin.h>

#include "util/util.h"

#define INLINE512 static inline __attribute__((always_inline)) KIFMM_TARGET_AVX512
#define INLINE256 static inline __attribute__((always_inline)) KIFMM_TARGET_AVX2

/* 2/sqrt(r2) to full double precision, and -0 where r2 == 0: callers halve the sums of
 * q * R at the end and take an eighth of those of q * R^3 * d, exactly (powers of two).
 * Why twice: rsqrt14 gives y0 = 1/sqrt(r2) to 2^-14 and +inf at r2 == 0, and adding one to
 * the exponent field as a 64-bit integer turns y0 into y = 2 y0 and +inf into -0. That
 * integer add runs beside the multipliers, where a compare into a mask would take a
 * multiplier slot on Zen 4 (which the loop is bound by); on Intel both are one vector op.
 * No 0 * inf arises either, so no invalid-operation flag. Then one correction of degree 3
 * instead of two Newton steps: with e = 1 - r2 y0^2 (|e| < 1.23e-4),
 * 1/sqrt(r2) = y0 (1 + e/2 + 3e^2/8 + 5e^3/16) up to 35e^4/128 < 6.3e-17; in E = 4e that is
 * R = y + y E (1/8 + 3E/128 + 5E^2/1024). Measured on 2e7 random r2 in 2^-600..2^600
 * against long double: relative error of R/2 at most 1.3e-16 with Zen 4's estimate and
 * 2.3e-16 with estimates perturbed to the 2^-14 bound (two Newton steps: 2.7e-16, 3.2e-16);
 * whole pairs: kifmm-p2p-bench --pairs and test_p2p. r2 must be a normal double: distinct
 * points are at least 2^-202 apart in the plans' coordinates and kifmm_direct's (KIFMM_SNAP,
 * tree.h), r2 >= 2^-404, and R^3 <= 2^609. */

/* KIFMM_RSQRT_FAST stops at degree 2, economized over |E| <= A: 5E^3/1024 is replaced by its
 * best linear fit 5/1024 * 3/4 * A^2 E, which leaves at most 5/4096 A^3 = 1.45e-13 (against
 * 5.7e-13 for the plain truncation). A = 4.9e-4 sits just inside the bound 4 * 1.23e-4 on |E|
 * above: largest error of a pair 1.44e-13, against 1.46e-13 at the bound itself (Zen 4,
 * kifmm-p2p-bench --fast 1 --pairs). It saves one FMA a pair:
 * 15 multiplier ops per 8 pairs with gradient instead of 16, 1.05x on Zen 4. */
INLINE512 __m512d twice_rsqrt(__m512d r2, const int fast) {
  const __m512i exponent_one = _mm512_set1_epi64(INT64_C(1) << 52);
  __m512d y = _mm512_castsi512_pd(
      _mm512_add_epi64(_mm512_castpd_si512(_mm512_rsqrt14_pd(r2)), exponent_one));
  __m512d e4 = _mm512_fnmadd_pd(_mm512_mul_pd(y, y), r2, _mm512_set1_pd(4.0));
  __m512d c;
  if (fast) {
    const double a2 = 4.9e-4 * 4.9e-4;
    c = _mm512_fmadd_pd(e4, _mm512_set1_pd(3.0 / 128), _mm512_set1_pd(1.0 / 8 + 15.0 / 4096 * a2));
  } else {
    c = _mm512_fmadd_pd(e4, _mm512_set1_pd(5.0 / 1024), _mm512_set1_pd(3.0 / 128));
    c = _mm512_fmadd_pd(c, e4, _mm512_set1_pd(1.0 / 8));
  }
  return _mm512_fmadd_pd(_mm512_mul_pd(y, e4), c, y);
}

/* ---- AVX2 + FMA ---- */
/* 1/sqrt(r2) without a hardware estimate for doubles: halving the exponent by integer
 * arithmetic gives y0 within 3.42% of it for a normal r2 (the classic magic constant). */
INLINE256 __m256d rsqrt_magic_avx2(__m256d r2) {
  const __m256i magic = _mm256_set1_epi64x(0x5fe6eb50c7b537a9);
  return _mm256_castsi256_pd(
      _mm256_sub_epi64(magic, _mm256_srli_epi64(_mm256_castpd_si256(r2), 1)));
}

/* Corrections of an estimate y by the series 1/sqrt(r2) = y / sqrt(1 - e) =
 * y (1 + e/2 + 3e^2/8 + 5e^3/16 + 35e^4/128 + ...), e = 1 - r2 y^2 (rounded to 2^-53
 * absolute, which adds 2^-54 relative): step4 keeps the terms to e^3 and leaves 0.273 e^4
 * relative, 6 vector ops; step3 those to e^2 and leaves 0.3125 e^3, 5 ops. The last FMA
 * adds the small correction y e c to y, so the result is rounded once, at the end. */
INLINE256 __m256d rsqrt_step4_avx2(__m256d r2, __m256d y) {
  __m256d e = _mm256_fnmadd_pd(r2, _mm256_mul_pd(y, y), _mm256_set1_pd(1.0));
  __m256d c = _mm256_fmadd_pd(e, _mm256_set1_pd(5.0 / 16), _mm256_set1_pd(3.0 / 8));
  c = _mm256_fmadd_pd(c, e, _mm256_set1_pd(0.5));
  return _mm256_fmadd_pd(_mm256_mul_pd(y, e), c, y);
}
INLINE256 __m256d rsqrt_step3_avx2(__m256d r2, __m256d y) {
  __m256d e = _mm256_fnmadd_pd(r2, _mm256_mul_pd(y, y), _mm256_set1_pd(1.0));
  __m256d c = _mm256_fmadd_pd(e, _mm256_set1_pd(3.0 / 8), _mm256_set1_pd(0.5));
  return _mm256_fmadd_pd(_mm256_mul_pd(y, e), c, y);
}

/* e is about twice y's relative error: up to 7.0e-2 for the estimate. The full form: step4
 * twice (y within 6.4e-6, then 5e-21: below rounding), 14 vector ops where four Newton steps
 * (3e-2, 2e-3, 5e-6, 3e-11, 1e-21) took 15. KIFMM_RSQRT_FAST: step4 then step3 (6.4e-6, then
 * at most 6.6e-16 before rounding; pairs measured within 7.5e-16, test_p2p), 13 ops, where
 * three Newton steps (the former fast form, 12 ops) left 4e-11: so plans of every order take
 * it (kifmm__rsqrt_for_order), p10-p18 included, which took the full form. Lanes with
 * r2 == 0 give 0. The estimate needs a normal r2, which the snap of coordinates near 0
 * ensures (KIFMM_SNAP, tree.h: r2 >= 2^-404 where not 0). */
INLINE256 __m256d rsqrt_avx2(__m256d r2, const int fast) {
  __m256d y = rsqrt_step4_avx2(r2, rsqrt_magic_avx2(r2));
  y = fast ? rsqrt_step3_avx2(r2, y) : rsqrt_step4_avx2(r2, y);
  return _mm256_and_pd(y, _mm256_cmp_pd(r2, _mm256_setzero_pd(), _CMP_GT_OQ));
}

#endif /* KIFMM_RSQRT_H */
