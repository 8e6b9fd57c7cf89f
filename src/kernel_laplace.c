/* Laplace kernel 1/|y - x| (the 1/(4 pi) is applied once to the results): dense kernel
 * matrices for operator precomputation and the vectorized direct sum used by P2P/P2M/L2P/M2P. */
#include <math.h>

#include "internal.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

void kifmm__kernel_matrix(int64_t nt, const double *y, int64_t ns, const double *x, double *k,
                          int64_t ldk) {
  for (int64_t j = 0; j < ns; j++)
    for (int64_t i = 0; i < nt; i++) {
      double dx = y[3 * i] - x[3 * j], dy = y[3 * i + 1] - x[3 * j + 1],
             dz = y[3 * i + 2] - x[3 * j + 2];
      double r2 = dx * dx + dy * dy + dz * dz;
      k[i + j * ldk] = r2 > 0 ? 1.0 / sqrt(r2) : 0.0;
    }
}

#if defined(__AVX512F__)
/* 1/sqrt(r2) to full double precision: 14-bit estimate and two Newton steps; 0 where r2 == 0. */
static inline __m512d rsqrt_full(__m512d r2, __mmask8 nonzero) {
  const __m512d half = _mm512_set1_pd(0.5), three_halves = _mm512_set1_pd(1.5);
  __m512d y = _mm512_maskz_rsqrt14_pd(nonzero, r2);
  __m512d hr2 = _mm512_mul_pd(half, r2);
  y = _mm512_mul_pd(y, _mm512_fnmadd_pd(hr2, _mm512_mul_pd(y, y), three_halves));
  y = _mm512_mul_pd(y, _mm512_fnmadd_pd(hr2, _mm512_mul_pd(y, y), three_halves));
  return y;
}

static void p2p_block(int64_t ns, const double *sx, const double *sy, const double *sz,
                      const double *q, __mmask8 lanes, const double *tx, const double *ty,
                      const double *tz, double *pot, double *gx, double *gy, double *gz) {
  const __m512d zero = _mm512_setzero_pd();
  __m512d x = _mm512_maskz_loadu_pd(lanes, tx), y = _mm512_maskz_loadu_pd(lanes, ty),
          z = _mm512_maskz_loadu_pd(lanes, tz);
  __m512d p = zero, ax = zero, ay = zero, az = zero;
  if (gx) {
    for (int64_t j = 0; j < ns; j++) {
      __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j]));
      __m512d dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j]));
      __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j]));
      __m512d r2 = _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx)));
      __m512d rinv = rsqrt_full(r2, _mm512_cmp_pd_mask(r2, zero, _CMP_GT_OQ));
      __m512d qr = _mm512_mul_pd(_mm512_set1_pd(q[j]), rinv);
      p = _mm512_add_pd(p, qr);
      __m512d qr3 = _mm512_mul_pd(qr, _mm512_mul_pd(rinv, rinv));
      ax = _mm512_fnmadd_pd(qr3, dx, ax);
      ay = _mm512_fnmadd_pd(qr3, dy, ay);
      az = _mm512_fnmadd_pd(qr3, dz, az);
    }
    _mm512_mask_storeu_pd(gx, lanes, _mm512_add_pd(_mm512_maskz_loadu_pd(lanes, gx), ax));
    _mm512_mask_storeu_pd(gy, lanes, _mm512_add_pd(_mm512_maskz_loadu_pd(lanes, gy), ay));
    _mm512_mask_storeu_pd(gz, lanes, _mm512_add_pd(_mm512_maskz_loadu_pd(lanes, gz), az));
  } else {
    for (int64_t j = 0; j < ns; j++) {
      __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j]));
      __m512d dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j]));
      __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j]));
      __m512d r2 = _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx)));
      __m512d rinv = rsqrt_full(r2, _mm512_cmp_pd_mask(r2, zero, _CMP_GT_OQ));
      p = _mm512_fmadd_pd(_mm512_set1_pd(q[j]), rinv, p);
    }
  }
  _mm512_mask_storeu_pd(pot, lanes, _mm512_add_pd(_mm512_maskz_loadu_pd(lanes, pot), p));
}

void kifmm__p2p(int64_t ns, const double *sx, const double *sy, const double *sz, const double *q,
                int64_t nt, const double *tx, const double *ty, const double *tz, double *pot,
                double *gx, double *gy, double *gz) {
  for (int64_t i = 0; i < nt; i += 8) {
    int64_t m = nt - i < 8 ? nt - i : 8;
    __mmask8 lanes = (__mmask8)((1u << m) - 1);
    p2p_block(ns, sx, sy, sz, q, lanes, tx + i, ty + i, tz + i, pot + i, gx ? gx + i : NULL,
              gx ? gy + i : NULL, gx ? gz + i : NULL);
  }
}
#else
/* Portable path: the compiler vectorizes the inner loop over sources. */
void kifmm__p2p(int64_t ns, const double *sx, const double *sy, const double *sz, const double *q,
                int64_t nt, const double *tx, const double *ty, const double *tz, double *pot,
                double *gx, double *gy, double *gz) {
  for (int64_t i = 0; i < nt; i++) {
    double p = 0, ax = 0, ay = 0, az = 0;
    const double x = tx[i], y = ty[i], z = tz[i];
#pragma omp simd reduction(+ : p, ax, ay, az)
    for (int64_t j = 0; j < ns; j++) {
      double dx = x - sx[j], dy = y - sy[j], dz = z - sz[j];
      double r2 = dx * dx + dy * dy + dz * dz;
      double rinv = r2 > 0 ? 1.0 / sqrt(r2) : 0.0;
      double qr = q[j] * rinv;
      double qr3 = qr * rinv * rinv;
      p += qr;
      ax -= qr3 * dx;
      ay -= qr3 * dy;
      az -= qr3 * dz;
    }
    pot[i] += p;
    if (gx) {
      gx[i] += ax;
      gy[i] += ay;
      gz[i] += az;
    }
  }
}
#endif
