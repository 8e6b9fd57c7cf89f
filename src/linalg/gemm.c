/* SPDX-License-Identifier: BSD-3-Clause */
/* The dense applies of an evaluation (P2M, M2M, L2L, M2L, P2L) on our own register-tiled
 * kernels, so their speed does not depend on whether the BLAS recognises the CPU. */
#include <immintrin.h>
#include <string.h>

#include "linalg/linalg.h"

/* Cache blocks of the large products (gemm_tile.h): KC x MC of A is 240 KB, in every L2
 * we run on; NCOL columns share each block. An A larger than the smallest L2 we run on (Zen
 * 3's 512 KB) is blocked: unblocked, every panel of NR_MAX columns re-reads all of it from L3,
 * and the M2M and L2L operators (296 x 2368 at p8, 5.6 MB) ran at a third of the tiles' rate.
 * Measured on the Xeon of family 6 model 167, cube 1e6 + 1e6, 2 threads, 2 rounds, against
 * blocking only above 8 MB (a core's share of L3, which an older measurement had found best):
 * p8 M2M + L2L 0.39-0.41 -> 0.19 s on AVX2 (0.22 -> 0.14 on AVX-512), tolerance 2e-11 (p12)
 * P2M 0.79-0.82 -> 0.59 s and evaluation 5.53-5.69 -> 5.30-5.31 s on AVX2 (3.29-3.33 ->
 * 3.06-3.13 on AVX-512), p6 and p10 level or slightly faster. */
enum { KIFMM_GEMM_KC = 256, KIFMM_GEMM_MC = 120, KIFMM_GEMM_NCOL = 256 };

static int gemm_blocks(int m, int n, int k) {
  return n > 8 && (size_t)m * k * sizeof(double) > (size_t)512 << 10;
}

/* NULL when the memory is not there (kifmm__calloc leaves the pointer NULL then). */
static double *gemm_pack_new(void) {
  double *pack;
  kifmm__calloc((void **)&pack, (size_t)KIFMM_GEMM_KC * KIFMM_GEMM_MC, sizeof(double));
  return pack;
}

/* ---- AVX-512: 24 x 8 tiles (24 accumulators of 32 zmm) ---- */
#define V __m512d
#define W 8
#define MASK __mmask8
#define LOAD(p) _mm512_loadu_pd(p)
#define LOADM(p, m) _mm512_maskz_loadu_pd(m, p)
#define STOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define BCAST(p) _mm512_set1_pd(*(p))
#define FMADD(a, b, c) _mm512_fmadd_pd(a, b, c)
#define MUL(a, b) _mm512_mul_pd(a, b)
#define ZERO() _mm512_setzero_pd()
#define SET1(x) _mm512_set1_pd(x)
#define MASK_FIRST(n) ((__mmask8)((1u << (n)) - 1))
#define MASK_ALL ((__mmask8)0xff)
#define MV_MAX 3
#define NR_MAX 8
#define NR_LIST(X) X(8) X(4) X(2) X(1)
#define TARGET KIFMM_TARGET_AVX512
#define NAME(x) x##_avx512
#include "gemm_tile.h"
#undef V
#undef W
#undef MASK
#undef LOAD
#undef LOADM
#undef STOREM
#undef BCAST
#undef FMADD
#undef MUL
#undef ZERO
#undef SET1
#undef MASK_FIRST
#undef MASK_ALL
#undef MV_MAX
#undef NR_MAX
#undef NR_LIST
#undef TARGET
#undef NAME

/* ---- AVX2 + FMA: 8 x 6 tiles (12 accumulators of 16 ymm; 12 x 4 runs out of registers
 * for the A vectors and reloads them) ---- */
static inline KIFMM_TARGET_AVX2 __m256i mask_first_avx2(int n) {
  const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lane);
}

#define V __m256d
#define W 4
#define MASK __m256i
#define LOAD(p) _mm256_loadu_pd(p)
#define LOADM(p, m) _mm256_maskload_pd(p, m)
#define STOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define BCAST(p) _mm256_broadcast_sd(p)
#define FMADD(a, b, c) _mm256_fmadd_pd(a, b, c)
#define MUL(a, b) _mm256_mul_pd(a, b)
#define ZERO() _mm256_setzero_pd()
#define SET1(x) _mm256_set1_pd(x)
#define MASK_FIRST(n) mask_first_avx2(n)
#define MASK_ALL _mm256_set1_epi64x(-1)
#define MV_MAX 2
#define NR_MAX 6
#define NR_LIST(X) X(6) X(3) X(1)
#define TARGET KIFMM_TARGET_AVX2
#define NAME(x) x##_avx2
#include "gemm_tile.h"

/* Without wide FMA no hand kernel beats the BLAS's generic one: copy the columns into dense
 * blocks for it (and fall back to one product per column if that memory is not there). */
static void mm_cols_blas(int m, int n, int k, double alpha, const double *a, int lda,
                         const double *const *bc, double beta, double *const *cc) {
  double *b = NULL, *c = NULL;
  if (kifmm__calloc((void **)&b, (size_t)k * n, sizeof(double)) != KIFMM_SUCCESS ||
      kifmm__calloc((void **)&c, (size_t)m * n, sizeof(double)) != KIFMM_SUCCESS) {
    free(b);
    for (int j = 0; j < n; j++)
      kifmm__gemm('N', 'N', m, 1, k, alpha, a, lda, bc[j], k, beta, cc[j], m);
    return;
  }
  for (int j = 0; j < n; j++)
    memcpy(b + (size_t)j * k, bc[j], (size_t)k * sizeof(double));
  kifmm__gemm('N', 'N', m, n, k, alpha, a, lda, b, k, 0.0, c, m);
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++)
      cc[j][i] = c[i + (size_t)j * m] + (beta == 0.0 ? 0.0 : beta * cc[j][i]);
  free(b);
  free(c);
}

void kifmm__mm_cols(int m, int n, int k, double alpha, const double *a, int lda,
                    const double *const *bc, double beta, double *const *cc) {
  if (m <= 0 || n <= 0)
    return;
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    mm_cols_avx512(m, n, k, alpha, a, lda, bc, beta, cc);
    break;
  case KIFMM_SIMD_AVX2:
    mm_cols_avx2(m, n, k, alpha, a, lda, bc, beta, cc);
    break;
  default:
    mm_cols_blas(m, n, k, alpha, a, lda, bc, beta, cc);
    break;
  }
}

void kifmm__mm(int m, int n, int k, double alpha, const double *a, int lda, const double *b,
               int ldb, double beta, double *c, int ldc) {
  if (m <= 0 || n <= 0)
    return;
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    mm_avx512(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    break;
  case KIFMM_SIMD_AVX2:
    mm_avx2(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    break;
  default:
    kifmm__gemm('N', 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    break;
  }
}
