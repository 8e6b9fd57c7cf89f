/* SPDX-License-Identifier: BSD-3-Clause */
/* One vocabulary for the direct sums of the kernels after Laplace (yukawa.c, stokes.c) on the
 * two SIMD paths: their loop bodies (yukawa_simd.h, stokes_simd.h) are written once with the
 * V* names below and included once per path, with KIFMM_VEC set to 512 or 256 before each
 * inclusion. The first part (guarded) holds the per-path helpers, the second (unguarded)
 * maps the V* names to the path KIFMM_VEC names. Both paths take 1/sqrt and exp to full
 * double precision: no fast forms (the kernels' acc argument is ignored). */
#ifndef KIFMM_VEC_H
#define KIFMM_VEC_H

#include <immintrin.h>

#include "kernels/kernels.h"
#include "kernels/rsqrt.h"
#include "util/util.h"

#define KIFMM_VEC_INLINE512 static inline __attribute__((always_inline)) KIFMM_TARGET_AVX512
#define KIFMM_VEC_INLINE256 static inline __attribute__((always_inline)) KIFMM_TARGET_AVX2

/* Callers clamp exp(-x)'s argument with x = vmin(x, EXP_CLAMP), which also turns a NaN x
 * (inf * 0 where r2 overflows) into the clamp: beyond it the result is below half the
 * smallest subnormal, so exactly 0, and 2^-n is at most 2^-1082 there, still two normal
 * factors on AVX2. The clamped x also keeps 0 * inf out of what callers make of it. */
#define KIFMM_VEC_EXP_CLAMP 750.0
/* ln 2 in two parts: n ln2_hi + n ln2_lo with the FMA reduction keeps |y| <= ln2/2 within
 * 2^-55 absolute for n <= 1082. */
#define KIFMM_VEC_LN2_HI 0x1.62e42fefa39efp-1
#define KIFMM_VEC_LN2_LO 0x1.abc9e3b39803fp-56
#define KIFMM_VEC_LOG2E 0x1.71547652b82fep0

/* exp(w) for |w| <= ln2/2 (+ 2^-55): Taylor to degree 13, whose remainder there is
 * 0.347^14/14! = 4e-18 relative (degree 12 would leave 1.7e-16, more than an ulp). The last
 * two steps are Horner's, 1 + w (1 + w P), so the result is within about an ulp whatever P's
 * few ulps; P (degree 11) goes in Estrin's way, P = b0 + w^4 (b1 + w^4 b2), a chain of 5
 * instead of Horner's 11, for 2 more ops: the loops are long chains already and the
 * out-of-order window holds few iterations. The coefficients 1/k! are folded by the compiler. */
#define KIFMM_VEC_EXP_POLY(FMA, MUL, SET1, w, p)                                               \
  do {                                                                                         \
    __typeof__(w) w2_ = MUL(w, w), w4_ = MUL(w2_, w2_);                                       \
    __typeof__(w) a0_ = FMA(w, SET1(1.0 / 6), SET1(1.0 / 2));                                  \
    __typeof__(w) a1_ = FMA(w, SET1(1.0 / 120), SET1(1.0 / 24));                               \
    __typeof__(w) a2_ = FMA(w, SET1(1.0 / 5040), SET1(1.0 / 720));                             \
    __typeof__(w) a3_ = FMA(w, SET1(1.0 / 362880), SET1(1.0 / 40320));                         \
    __typeof__(w) a4_ = FMA(w, SET1(1.0 / 39916800), SET1(1.0 / 3628800));                     \
    __typeof__(w) a5_ = FMA(w, SET1(1.0 / 6227020800.0), SET1(1.0 / 479001600));               \
    __typeof__(w) b0_ = FMA(a1_, w2_, a0_), b1_ = FMA(a3_, w2_, a2_), b2_ = FMA(a5_, w2_, a4_); \
    p = FMA(FMA(b2_, w4_, b1_), w4_, b0_);                                                     \
    p = FMA(p, w, SET1(1.0));                                                                  \
    p = FMA(p, w, SET1(1.0));                                                                  \
  } while (0)

/* ---- AVX-512 ---- */
/* 1/sqrt(r2) to within about an ulp, 0 where r2 == 0: the 14-bit estimate (masked to 0 at
 * r2 == 0, where it would be +inf and give 0 * inf below) and one correction of degree 3:
 * with e = 1 - r2 y0^2 (|e| < 2^-13), 1/sqrt(r2) = y0 (1 + e/2 + 3e^2/8 + 5e^3/16) up to
 * 35e^4/128 < 2e-17. r2 must be a normal double, as KIFMM_SNAP (tree.h) ensures. */
KIFMM_VEC_INLINE512 __m512d kifmm__vec_rsqrt512(__m512d r2) {
  __mmask8 pos = _mm512_cmp_pd_mask(r2, _mm512_setzero_pd(), _CMP_GT_OQ);
  __m512d y = _mm512_maskz_rsqrt14_pd(pos, r2);
  __m512d e = _mm512_fnmadd_pd(_mm512_mul_pd(y, y), r2, _mm512_set1_pd(1.0));
  __m512d c = _mm512_fmadd_pd(e, _mm512_set1_pd(5.0 / 16), _mm512_set1_pd(3.0 / 8));
  c = _mm512_fmadd_pd(c, e, _mm512_set1_pd(0.5));
  return _mm512_fmadd_pd(_mm512_mul_pd(y, e), c, y);
}

/* exp(-x) for 0 <= x <= EXP_CLAMP: x = n ln2 + y, exp(-x) = 2^-n exp(-y); scalef applies 2^-n with one
 * rounding, subnormal results included. */
KIFMM_VEC_INLINE512 __m512d kifmm__vec_expneg512(__m512d x) {
  __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(KIFMM_VEC_LOG2E)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d y = _mm512_fnmadd_pd(n, _mm512_set1_pd(KIFMM_VEC_LN2_HI), x);
  y = _mm512_fnmadd_pd(n, _mm512_set1_pd(KIFMM_VEC_LN2_LO), y);
  __m512d w = _mm512_sub_pd(_mm512_setzero_pd(), y), p;
  KIFMM_VEC_EXP_POLY(_mm512_fmadd_pd, _mm512_mul_pd, _mm512_set1_pd, w, p);
  return _mm512_scalef_pd(p, _mm512_sub_pd(_mm512_setzero_pd(), n));
}

/* ---- AVX2 + FMA ---- */
/* 1/sqrt(r2) to double precision as the Laplace sums take it (rsqrt.h): 0 where r2 == 0. */
KIFMM_VEC_INLINE256 __m256d kifmm__vec_rsqrt256(__m256d r2) { return rsqrt_avx2(r2, 0); }

/* exp(-x) for 0 <= x <= EXP_CLAMP as on AVX-512; n is rounded by adding 1.5 2^52 (its integer is then the
 * low bits), and 2^-n is applied as two normal factors 2^-(n/2) 2^-(n - n/2), so results
 * in the subnormal range are rounded once, in the last multiply, as with scalef. */
KIFMM_VEC_INLINE256 __m256d kifmm__vec_expneg256(__m256d x) {
  const __m256d shift = _mm256_set1_pd(0x1.8p52);
  __m256d t = _mm256_fmadd_pd(x, _mm256_set1_pd(KIFMM_VEC_LOG2E), shift);
  __m256d n = _mm256_sub_pd(t, shift);
  __m256d y = _mm256_fnmadd_pd(n, _mm256_set1_pd(KIFMM_VEC_LN2_HI), x);
  y = _mm256_fnmadd_pd(n, _mm256_set1_pd(KIFMM_VEC_LN2_LO), y);
  __m256d w = _mm256_sub_pd(_mm256_setzero_pd(), y), p;
  KIFMM_VEC_EXP_POLY(_mm256_fmadd_pd, _mm256_mul_pd, _mm256_set1_pd, w, p);
  __m256i ni = _mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_castpd_si256(shift));
  const __m256i bias = _mm256_set1_epi64x(1023);
  /* Where every lane's result is far from the subnormal range (x <= 690, n <= 996), one
   * normal factor 2^-n does it with the same bits: the near field's pairs nearly always. */
  if (_mm256_movemask_pd(_mm256_cmp_pd(x, _mm256_set1_pd(690.0), _CMP_GT_OQ)) == 0)
    return _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_sub_epi64(bias, ni), 52)));
  __m256i n1 = _mm256_srli_epi64(ni, 1), n2 = _mm256_sub_epi64(ni, n1);
  __m256d s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_sub_epi64(bias, n1), 52));
  __m256d s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_sub_epi64(bias, n2), 52));
  return _mm256_mul_pd(_mm256_mul_pd(p, s1), s2);
}

/* p[lane] += v[lane] on the first lanes only: the last block of targets is partial. */
KIFMM_VEC_INLINE512 void kifmm__vec_acc512(double *p, __mmask8 lanes, __m512d v) {
  _mm512_mask_storeu_pd(p, lanes, _mm512_add_pd(_mm512_maskz_loadu_pd(lanes, p), v));
}
KIFMM_VEC_INLINE256 void kifmm__vec_acc256(double *p, __m256i lanes, __m256d v) {
  _mm256_maskstore_pd(p, lanes, _mm256_add_pd(_mm256_maskload_pd(p, lanes), v));
}
/* The sum of the lanes, in one fixed order. */
KIFMM_VEC_INLINE512 double kifmm__vec_hsum512(__m512d v) { return _mm512_reduce_add_pd(v); }
KIFMM_VEC_INLINE256 double kifmm__vec_hsum256(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
KIFMM_VEC_INLINE256 __m256i kifmm__vec_lanes256(int64_t n) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_set_epi64x(3, 2, 1, 0));
}

#endif /* KIFMM_VEC_H */

/* ---- The V* names for the path KIFMM_VEC (re-defined at each inclusion) ---- */
#undef VW
#undef VD
#undef VMASK
#undef VATTR
#undef VINLINE
#undef VNAME
#undef vset1
#undef vzero
#undef vadd
#undef vsub
#undef vmul
#undef vmin
#undef vfma
#undef vfnma
#undef vload
#undef vstore
#undef vrsqrt
#undef vexpneg
#undef vexp_taylor
#undef vlanes
#undef vload_lanes
#undef vacc_lanes
#undef vhsum

#if KIFMM_VEC == 512
#define VW 8 /* lanes */
#define VD __m512d
#define VMASK __mmask8
#define VATTR KIFMM_TARGET_AVX512
#define VINLINE KIFMM_VEC_INLINE512
#define VNAME(f) f##_avx512
#define vset1 _mm512_set1_pd
#define vzero _mm512_setzero_pd
#define vadd _mm512_add_pd
#define vsub _mm512_sub_pd
#define vmul _mm512_mul_pd
#define vmin _mm512_min_pd /* the second operand where the first is NaN */
#define vfma _mm512_fmadd_pd   /* a b + c */
#define vfnma _mm512_fnmadd_pd /* c - a b */
#define vload _mm512_load_pd
#define vstore _mm512_store_pd
#define vrsqrt kifmm__vec_rsqrt512
#define vexpneg kifmm__vec_expneg512
#define vlanes(n) ((__mmask8)((1u << (n)) - 1))
#define vload_lanes(p, m) _mm512_maskz_loadu_pd(m, p)
#define vacc_lanes kifmm__vec_acc512
#define vhsum kifmm__vec_hsum512
#elif KIFMM_VEC == 256
#define VW 4
#define VD __m256d
#define VMASK __m256i
#define VATTR KIFMM_TARGET_AVX2
#define VINLINE KIFMM_VEC_INLINE256
#define VNAME(f) f##_avx2
#define vset1 _mm256_set1_pd
#define vzero _mm256_setzero_pd
#define vadd _mm256_add_pd
#define vsub _mm256_sub_pd
#define vmul _mm256_mul_pd
#define vmin _mm256_min_pd
#define vfma _mm256_fmadd_pd
#define vfnma _mm256_fnmadd_pd
#define vload _mm256_load_pd
#define vstore _mm256_store_pd
#define vrsqrt kifmm__vec_rsqrt256
#define vexpneg kifmm__vec_expneg256
#define vlanes(n) kifmm__vec_lanes256(n)
#define vload_lanes(p, m) _mm256_maskload_pd(p, m)
#define vacc_lanes kifmm__vec_acc256
#define vhsum kifmm__vec_hsum256
#endif
/* exp(-x) from kifmm_exp_taylor's polynomial (KIFMM_EXP_TAYLOR_EVAL, kernels.h) */
#define vexp_taylor(deg, t, c, e) KIFMM_EXP_TAYLOR_EVAL(vfma, vset1, deg, t, c, e)
