/* SPDX-License-Identifier: BSD-3-Clause */
/* The vocabulary of the single-precision direct sums (single.c, single_simd.h) on the two
 * SIMD paths, as vec.h is for the double ones: per-path helpers first (guarded), then the F*
 * names mapped to the path KIFMM_VEC names (re-defined at each inclusion). */
#ifndef KIFMM_FVEC_H
#define KIFMM_FVEC_H

#include <immintrin.h>

#include "util/util.h"

#define KIFMM_FVEC_INLINE512 static inline __attribute__((always_inline)) KIFMM_TARGET_AVX512
#define KIFMM_FVEC_INLINE256 static inline __attribute__((always_inline)) KIFMM_TARGET_AVX2

/* exp(-x) in float for 0 <= x <= 80 (Yukawa's single-precision sums take x <= 14): x = n ln2
 * + y with |y| <= ln2/2 (ln2 in two parts, the first with 15 bits so that n ln2_hi is exact
 * for n < 2^8), exp(-y) by Taylor to degree 7 (remainder 0.347^8/8! = 5.3e-9, below a float's
 * rounding), times 2^-n (normal for these n). */
#define KIFMM_FVEC_LN2_HI 0x1.62e4p-1f
#define KIFMM_FVEC_LN2_LO 0x1.7f7d1cp-20f
#define KIFMM_FVEC_LOG2E 0x1.715476p0f
#define KIFMM_FVEC_EXP_POLY(FMA, SET1, w, p)                                                   \
  do {                                                                                         \
    p = FMA(w, SET1(1.0f / 5040), SET1(1.0f / 720));                                           \
    p = FMA(p, w, SET1(1.0f / 120));                                                           \
    p = FMA(p, w, SET1(1.0f / 24));                                                            \
    p = FMA(p, w, SET1(1.0f / 6));                                                             \
    p = FMA(p, w, SET1(0.5f));                                                                 \
    p = FMA(p, w, SET1(1.0f));                                                                 \
    p = FMA(p, w, SET1(1.0f));                                                                 \
  } while (0)

/* ---- AVX-512 ---- */
/* 2/sqrt(r2) on the lanes of far (0 on the others, whose estimate is never taken: r2 == 0
 * gives no inf): rsqrt14 is within 2^-14, one Newton step y (3 - r2 y^2) = (2/r)(1 - 1.5 e^2)
 * leaves 5.6e-9, below a float's rounding. Three ops; the caller halves the sums. */
KIFMM_FVEC_INLINE512 __m512 kifmm__fvec_rsqrt2_512(__m512 r2, __mmask16 far) {
  __m512 y = _mm512_maskz_rsqrt14_ps(far, r2);
  return _mm512_mul_ps(y, _mm512_fnmadd_ps(_mm512_mul_ps(y, y), r2, _mm512_set1_ps(3.0f)));
}
/* exp(-x), 0 <= x <= 80 (above). */
KIFMM_FVEC_INLINE512 __m512 kifmm__fvec_expneg512(__m512 x) {
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(KIFMM_FVEC_LOG2E)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 y = _mm512_fnmadd_ps(n, _mm512_set1_ps(KIFMM_FVEC_LN2_HI), x);
  y = _mm512_fnmadd_ps(n, _mm512_set1_ps(KIFMM_FVEC_LN2_LO), y);
  __m512 w = _mm512_sub_ps(_mm512_setzero_ps(), y), p;
  KIFMM_FVEC_EXP_POLY(_mm512_fmadd_ps, _mm512_set1_ps, w, p);
  return _mm512_scalef_ps(p, _mm512_sub_ps(_mm512_setzero_ps(), n));
}
/* Lanes where r2 >= c2 (and not NaN). */
KIFMM_FVEC_INLINE512 __mmask16 kifmm__fvec_far512(__m512 r2, __m512 c2) {
  return _mm512_cmp_ps_mask(r2, c2, _CMP_GE_OQ);
}
/* d[0..16) += v, in double. */
KIFMM_FVEC_INLINE512 void kifmm__fvec_flush512(double *d, __m512 v) {
  __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  __m512d hi =
      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  _mm512_store_pd(d, _mm512_add_pd(_mm512_load_pd(d), lo));
  _mm512_store_pd(d + 8, _mm512_add_pd(_mm512_load_pd(d + 8), hi));
}

/* The largest |x[i] - o|, i < n, at least m: four vectors of maxima, so that the scan runs
 * at the loads' rate, not the latency of one chain of maxima (a scalar scan of a call's
 * points took a fifth of its time at leaves of 60 points). */
KIFMM_FVEC_INLINE512 double kifmm__fvec_maxabs512(const double *x, int64_t n, double o,
                                                   double m) {
  const __m512d ov = _mm512_set1_pd(o);
  __m512d a[4] = {_mm512_set1_pd(m), _mm512_set1_pd(m), _mm512_set1_pd(m), _mm512_set1_pd(m)};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; k++)
      a[k] = _mm512_max_pd(a[k], _mm512_abs_pd(_mm512_sub_pd(_mm512_loadu_pd(x + i + 8 * k), ov)));
  for (; i < n; i += 8) {
    const __mmask8 l = (__mmask8)(n - i >= 8 ? 0xff : (1u << (n - i)) - 1u);
    a[0] = _mm512_mask_max_pd(a[0], l, a[0],
                              _mm512_abs_pd(_mm512_sub_pd(_mm512_maskz_loadu_pd(l, x + i), ov)));
  }
  return _mm512_reduce_max_pd(_mm512_max_pd(_mm512_max_pd(a[0], a[1]), _mm512_max_pd(a[2], a[3])));
}

/* ---- AVX2 + FMA ---- */
KIFMM_FVEC_INLINE256 double kifmm__fvec_maxabs256(const double *x, int64_t n, double o,
                                                   double m) {
  const __m256d ov = _mm256_set1_pd(o), sign = _mm256_set1_pd(-0.0);
  __m256d a[4] = {_mm256_set1_pd(m), _mm256_set1_pd(m), _mm256_set1_pd(m), _mm256_set1_pd(m)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 4; k++)
      a[k] = _mm256_max_pd(a[k], _mm256_andnot_pd(sign, _mm256_sub_pd(_mm256_loadu_pd(x + i + 4 * k), ov)));
  __m256d v = _mm256_max_pd(_mm256_max_pd(a[0], a[1]), _mm256_max_pd(a[2], a[3]));
  __m128d h = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  m = _mm_cvtsd_f64(_mm_max_sd(h, _mm_unpackhi_pd(h, h)));
  for (; i < n; i++) {
    const double d = x[i] > o ? x[i] - o : o - x[i];
    m = d > m ? d : m;
  }
  return m;
}

/* 2/sqrt(r2) on the lanes of far (all bits set), 0 on the others: rsqrt_ps is only within
 * 1.5 2^-12, so one Newton step would leave 2e-7 (always low); the degree-2 correction
 * y (2 + e (1 + 3e/4)), e = 1 - r2 y^2, leaves 5/8 e^3 = 3e-11. Five ops. */
KIFMM_FVEC_INLINE256 __m256 kifmm__fvec_rsqrt2_256(__m256 r2, __m256 far) {
  __m256 y = _mm256_and_ps(_mm256_rsqrt_ps(r2), far);
  __m256 e = _mm256_fnmadd_ps(_mm256_mul_ps(y, y), r2, _mm256_set1_ps(1.0f));
  __m256 c = _mm256_fmadd_ps(e, _mm256_set1_ps(0.75f), _mm256_set1_ps(1.0f));
  return _mm256_mul_ps(y, _mm256_fmadd_ps(e, c, _mm256_set1_ps(2.0f)));
}
/* exp(-x), 0 <= x <= 80: 2^-n built as a float's exponent field (n <= 116, so 2^-n is
 * normal). */
KIFMM_FVEC_INLINE256 __m256 kifmm__fvec_expneg256(__m256 x) {
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(KIFMM_FVEC_LOG2E)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 y = _mm256_fnmadd_ps(n, _mm256_set1_ps(KIFMM_FVEC_LN2_HI), x);
  y = _mm256_fnmadd_ps(n, _mm256_set1_ps(KIFMM_FVEC_LN2_LO), y);
  __m256 w = _mm256_sub_ps(_mm256_setzero_ps(), y), p;
  KIFMM_FVEC_EXP_POLY(_mm256_fmadd_ps, _mm256_set1_ps, w, p);
  __m256i e = _mm256_sub_epi32(_mm256_set1_epi32(127), _mm256_cvtps_epi32(n));
  e = _mm256_slli_epi32(e, 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
KIFMM_FVEC_INLINE256 __m256 kifmm__fvec_far256(__m256 r2, __m256 c2) {
  return _mm256_cmp_ps(r2, c2, _CMP_GE_OQ);
}
KIFMM_FVEC_INLINE256 void kifmm__fvec_flush256(double *d, __m256 v) {
  __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  _mm256_store_pd(d, _mm256_add_pd(_mm256_load_pd(d), lo));
  _mm256_store_pd(d + 4, _mm256_add_pd(_mm256_load_pd(d + 4), hi));
}

#endif /* KIFMM_FVEC_H */

/* ---- The F* names for the path KIFMM_VEC ---- */
#undef FW
#undef FV
#undef FFAR
#undef FATTR
#undef FINLINE
#undef FNAME
#undef fset1
#undef fzero
#undef fadd
#undef fsub
#undef fmul
#undef ffma
#undef ffnma
#undef fload
#undef fstore
#undef ffar
#undef fnear_bits
#undef frsqrt2
#undef fflush
#undef fmaxabs
#undef fexpneg
#undef fexp_taylor

#if KIFMM_VEC == 512
#define FW 16 /* lanes */
#define FV __m512
#define FFAR __mmask16
#define FATTR KIFMM_TARGET_AVX512
#define FINLINE KIFMM_FVEC_INLINE512
#define FNAME(f) f##_avx512
#define fset1 _mm512_set1_ps
#define fzero _mm512_setzero_ps
#define fadd _mm512_add_ps
#define fsub _mm512_sub_ps
#define fmul _mm512_mul_ps
#define ffma _mm512_fmadd_ps   /* a b + c */
#define ffnma _mm512_fnmadd_ps /* c - a b */
#define fload _mm512_load_ps
#define fstore _mm512_store_ps
#define ffar kifmm__fvec_far512
#define fnear_bits(far) ((unsigned)(__mmask16)~(far)) /* lanes that are not far, as bits */
#define frsqrt2 kifmm__fvec_rsqrt2_512
#define fflush kifmm__fvec_flush512
#define fmaxabs kifmm__fvec_maxabs512
#define fexpneg kifmm__fvec_expneg512
#elif KIFMM_VEC == 256
#define FW 8
#define FV __m256
#define FFAR __m256
#define FATTR KIFMM_TARGET_AVX2
#define FINLINE KIFMM_FVEC_INLINE256
#define FNAME(f) f##_avx2
#define fset1 _mm256_set1_ps
#define fzero _mm256_setzero_ps
#define fadd _mm256_add_ps
#define fsub _mm256_sub_ps
#define fmul _mm256_mul_ps
#define ffma _mm256_fmadd_ps
#define ffnma _mm256_fnmadd_ps
#define fload _mm256_load_ps
#define fstore _mm256_store_ps
#define ffar kifmm__fvec_far256
#define fnear_bits(far) ((unsigned)~_mm256_movemask_ps(far) & 0xffu)
#define frsqrt2 kifmm__fvec_rsqrt2_256
#define fflush kifmm__fvec_flush256
#define fmaxabs kifmm__fvec_maxabs256
#define fexpneg kifmm__fvec_expneg256
#endif
/* exp(-x) from a kifmm_exp_taylor polynomial in floats (KIFMM_EXP_TAYLOR_EVAL, kernels.h) */
#define fexp_taylor(deg, t, c, e) KIFMM_EXP_TAYLOR_EVAL(ffma, fset1, deg, t, c, e)
