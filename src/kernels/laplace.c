/* SPDX-License-Identifier: BSD-3-Clause */
/* Laplace kernel 1/|y - x| (the 1/(4 pi) is applied once to the results): dense kernel
 * matrices for operator precomputation and the vectorized direct sum used by P2P/P2M/L2P/M2P. */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/rsqrt.h"

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

/* ---- AVX-512 ---- */
/* What the sums of q R and q R^3 d are scaled by to give those of q/r and q d/r^3. */
#define HALF512 _mm512_set1_pd(0.5)
#define EIGHTH512 _mm512_set1_pd(0.125)

/* p += s * v on the lanes. */
INLINE512 void add512(double *p, __mmask8 lanes, __m512d v, __m512d s) {
  _mm512_mask_storeu_pd(p, lanes, _mm512_fmadd_pd(v, s, _mm512_maskz_loadu_pd(lanes, p)));
}

/* With gradient, sources go in chunks whose R = 2/r for the 8 targets is computed first
 * into a buffer that stays in L1, then summed: the long chain from coordinates to R no longer
 * sits between the loads and the sums in one loop iteration, which left the out-of-order
 * window short of independent work (8% slower on Zen 4, with the differences recomputed in
 * the second pass as adds that run beside the multipliers). The potential alone keeps one
 * pass: its second pass would be one FMA a source, bound by the latency of the sum. More
 * targets per source (16, 24) share the broadcasts but measured no faster: the loop is bound
 * by its multiplies and FMAs (16 per 8 pairs with gradient, 11 without). On Intel, where
 * adds share the two vector ports with the FMAs, the recomputed differences make 24 vector
 * ops per 8 pairs (one pass: 21, the former kernel: 22), against a one-pass loop that keeps
 * about 120 ops waiting; not measured there (kifmm-p2p-bench). Storing the differences in
 * pass one instead measured as slow as one pass on Zen 4 (bound by the stores). */
enum { P2P_CHUNK = 64 };

/* r2 for the chunk first, then R in place: two short chains instead of one long one (3% on
 * Zen 4; the store and reload cost no vector op). */
INLINE512 void chunk_twice_rsqrt(const int fast, int64_t m, const double *sx, const double *sy,
                                 const double *sz, __m512d x, __m512d y, __m512d z, double *rr) {
  for (int64_t j = 0; j < m; j++) {
    __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j]));
    __m512d dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j]));
    __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j]));
    _mm512_store_pd(rr + 8 * j,
                    _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx))));
  }
  for (int64_t j = 0; j < m; j++)
    _mm512_store_pd(rr + 8 * j, twice_rsqrt(_mm512_load_pd(rr + 8 * j), fast));
}

INLINE512 __m512d pot_block(const int fast, int64_t ns, const double *sx, const double *sy,
                            const double *sz, const double *q, __m512d x, __m512d y, __m512d z) {
  __m512d p = _mm512_setzero_pd();
  for (int64_t j = 0; j < ns; j++) {
    __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j]));
    __m512d dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j]));
    __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j]));
    __m512d r2 = _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx)));
    p = _mm512_fmadd_pd(_mm512_set1_pd(q[j]), twice_rsqrt(r2, fast), p);
  }
  return p;
}

INLINE512 void p2p_block(const int fast, int64_t ns, const double *sx, const double *sy,
                         const double *sz, const double *q, __mmask8 lanes, const double *tx,
                         const double *ty, const double *tz, double *pot, double *gx, double *gy,
                         double *gz) {
  __m512d x = _mm512_maskz_loadu_pd(lanes, tx), y = _mm512_maskz_loadu_pd(lanes, ty),
          z = _mm512_maskz_loadu_pd(lanes, tz);
  if (!gx) {
    add512(pot, lanes, pot_block(fast, ns, sx, sy, sz, q, x, y, z), HALF512);
    return;
  }
  const __m512d zero = _mm512_setzero_pd();
  double rr[8 * P2P_CHUNK] __attribute__((aligned(64)));
  __m512d p = zero, ax = zero, ay = zero, az = zero;
  for (int64_t j0 = 0; j0 < ns; j0 += P2P_CHUNK) {
    const int64_t m = ns - j0 < P2P_CHUNK ? ns - j0 : P2P_CHUNK;
    chunk_twice_rsqrt(fast, m, sx + j0, sy + j0, sz + j0, x, y, z, rr);
    for (int64_t j = 0; j < m; j++) {
      __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j0 + j]));
      __m512d dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j0 + j]));
      __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j0 + j]));
      __m512d r = _mm512_load_pd(rr + 8 * j);
      __m512d qr = _mm512_mul_pd(_mm512_set1_pd(q[j0 + j]), r);
      p = _mm512_add_pd(p, qr); /* an add, not an FMA: it runs beside the multipliers */
      __m512d qr3 = _mm512_mul_pd(qr, _mm512_mul_pd(r, r));
      ax = _mm512_fnmadd_pd(qr3, dx, ax);
      ay = _mm512_fnmadd_pd(qr3, dy, ay);
      az = _mm512_fnmadd_pd(qr3, dz, az);
    }
  }
  add512(pot, lanes, p, HALF512);
  add512(gx, lanes, ax, EIGHTH512);
  add512(gy, lanes, ay, EIGHTH512);
  add512(gz, lanes, az, EIGHTH512);
}

INLINE512 void p2p_avx512(const int fast, int64_t ns, const double *sx, const double *sy,
                          const double *sz, const double *q, int64_t nt, const double *tx,
                          const double *ty, const double *tz, double *pot, double *gx, double *gy,
                          double *gz) {
  for (int64_t i = 0; i < nt; i += 8) {
    int64_t m = nt - i < 8 ? nt - i : 8;
    __mmask8 lanes = (__mmask8)((1u << m) - 1);
    p2p_block(fast, ns, sx, sy, sz, q, lanes, tx + i, ty + i, tz + i, pot + i, gx ? gx + i : NULL,
              gx ? gy + i : NULL, gx ? gz + i : NULL);
  }
}

/* One copy of the loops per accuracy, so that the choice costs nothing inside them. */
static KIFMM_TARGET_AVX512 void p2p_avx512_acc(kifmm_rsqrt acc, int64_t ns, const double *sx,
                                               const double *sy, const double *sz, const double *q,
                                               int64_t nt, const double *tx, const double *ty,
                                               const double *tz, double *pot, double *gx,
                                               double *gy, double *gz) {
  if (acc != KIFMM_RSQRT_FULL)
    p2p_avx512(1, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
  else
    p2p_avx512(0, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
}

/* ---- AVX2 + FMA ---- */
static inline KIFMM_TARGET_AVX2 void add_masked(double *p, __m256i lanes, __m256d v) {
  _mm256_maskstore_pd(p, lanes, _mm256_add_pd(_mm256_maskload_pd(p, lanes), v));
}

/* 1/r for 4 targets and a chunk of sources into rr, the first of two passes as on AVX-512,
 * r2 first and then 1/r in place: the chain of four Newton steps made the one-pass loop wait
 * on latency. */
INLINE256 void chunk_rsqrt_avx2(const int fast, int64_t m, const double *sx, const double *sy,
                                const double *sz, __m256d x, __m256d y, __m256d z, double *rr) {
  for (int64_t j = 0; j < m; j++) {
    __m256d dx = _mm256_sub_pd(x, _mm256_broadcast_sd(sx + j));
    __m256d dy = _mm256_sub_pd(y, _mm256_broadcast_sd(sy + j));
    __m256d dz = _mm256_sub_pd(z, _mm256_broadcast_sd(sz + j));
    _mm256_store_pd(rr + 4 * j,
                    _mm256_fmadd_pd(dz, dz, _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dx, dx))));
  }
  for (int64_t j = 0; j < m; j++)
    _mm256_store_pd(rr + 4 * j, rsqrt_avx2(_mm256_load_pd(rr + 4 * j), fast));
}

/* The potential alone in one pass: a second pass would be bound by the latency of the sum. */
INLINE256 __m256d pot_block_avx2(const int fast, int64_t ns, const double *sx, const double *sy,
                                 const double *sz, const double *q, __m256d x, __m256d y,
                                 __m256d z) {
  __m256d p = _mm256_setzero_pd();
  for (int64_t j = 0; j < ns; j++) {
    __m256d dx = _mm256_sub_pd(x, _mm256_broadcast_sd(sx + j));
    __m256d dy = _mm256_sub_pd(y, _mm256_broadcast_sd(sy + j));
    __m256d dz = _mm256_sub_pd(z, _mm256_broadcast_sd(sz + j));
    __m256d r2 = _mm256_fmadd_pd(dz, dz, _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dx, dx)));
    p = _mm256_add_pd(p, _mm256_mul_pd(_mm256_broadcast_sd(q + j), rsqrt_avx2(r2, fast)));
  }
  return p;
}

/* With gradient, two passes per chunk of sources (1.25x on Zen 4). */
INLINE256 void p2p_block_avx2(const int fast, int64_t ns, const double *sx, const double *sy,
                              const double *sz, const double *q, __m256i lanes, const double *tx,
                              const double *ty, const double *tz, double *pot, double *gx,
                              double *gy, double *gz) {
  __m256d x = _mm256_maskload_pd(tx, lanes), y = _mm256_maskload_pd(ty, lanes),
          z = _mm256_maskload_pd(tz, lanes);
  if (!gx) {
    add_masked(pot, lanes, pot_block_avx2(fast, ns, sx, sy, sz, q, x, y, z));
    return;
  }
  const __m256d zero = _mm256_setzero_pd();
  double rr[4 * P2P_CHUNK] __attribute__((aligned(32)));
  __m256d p = zero, ax = zero, ay = zero, az = zero;
  for (int64_t j0 = 0; j0 < ns; j0 += P2P_CHUNK) {
    const int64_t m = ns - j0 < P2P_CHUNK ? ns - j0 : P2P_CHUNK;
    chunk_rsqrt_avx2(fast, m, sx + j0, sy + j0, sz + j0, x, y, z, rr);
    for (int64_t j = 0; j < m; j++) {
      __m256d dx = _mm256_sub_pd(x, _mm256_broadcast_sd(sx + j0 + j));
      __m256d dy = _mm256_sub_pd(y, _mm256_broadcast_sd(sy + j0 + j));
      __m256d dz = _mm256_sub_pd(z, _mm256_broadcast_sd(sz + j0 + j));
      __m256d rinv = _mm256_load_pd(rr + 4 * j);
      __m256d qr = _mm256_mul_pd(_mm256_broadcast_sd(q + j0 + j), rinv);
      p = _mm256_add_pd(p, qr);
      __m256d qr3 = _mm256_mul_pd(qr, _mm256_mul_pd(rinv, rinv));
      ax = _mm256_fnmadd_pd(qr3, dx, ax);
      ay = _mm256_fnmadd_pd(qr3, dy, ay);
      az = _mm256_fnmadd_pd(qr3, dz, az);
    }
  }
  add_masked(pot, lanes, p);
  add_masked(gx, lanes, ax);
  add_masked(gy, lanes, ay);
  add_masked(gz, lanes, az);
}

INLINE256 void p2p_avx2(const int fast, int64_t ns, const double *sx, const double *sy,
                        const double *sz, const double *q, int64_t nt, const double *tx,
                        const double *ty, const double *tz, double *pot, double *gx, double *gy,
                        double *gz) {
  const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
  for (int64_t i = 0; i < nt; i += 4) {
    __m256i lanes = _mm256_cmpgt_epi64(_mm256_set1_epi64x(nt - i), lane);
    p2p_block_avx2(fast, ns, sx, sy, sz, q, lanes, tx + i, ty + i, tz + i, pot + i,
                   gx ? gx + i : NULL, gx ? gy + i : NULL, gx ? gz + i : NULL);
  }
}

/* One copy of the loops per accuracy, the Newton steps a constant in each. */
static KIFMM_TARGET_AVX2 void p2p_avx2_acc(kifmm_rsqrt acc, int64_t ns, const double *sx,
                                           const double *sy, const double *sz, const double *q,
                                           int64_t nt, const double *tx, const double *ty,
                                           const double *tz, double *pot, double *gx,
                                           double *gy, double *gz) {
  if (acc != KIFMM_RSQRT_FULL)
    p2p_avx2(1, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
  else
    p2p_avx2(0, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
}

/* ---- Portable ---- */
/* The compiler vectorizes the inner loop over sources for the baseline instruction set. */
static void p2p_portable(int64_t ns, const double *sx, const double *sy, const double *sz,
                         const double *q, int64_t nt, const double *tx, const double *ty,
                         const double *tz, double *pot, double *gx, double *gy, double *gz) {
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

void kifmm__p2p(kifmm_rsqrt acc, int64_t ns, const double *sx, const double *sy, const double *sz,
                const double *q, int64_t nt, const double *tx, const double *ty, const double *tz,
                double *pot, double *gx, double *gy, double *gz) {
  if (acc == KIFMM_RSQRT_SINGLE &&
      kifmm__p2p_single(0.0, 1, ns, sx, sy, sz, q, 1, 0, nt, tx, ty, tz, pot, gx, gy, gz, nt))
    return;
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    p2p_avx512_acc(acc, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
    break;
  case KIFMM_SIMD_AVX2:
    p2p_avx2_acc(acc, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
    break;
  default:
    p2p_portable(ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
    break;
  }
}

/* ---- Several charge vectors: the geometry of a pair once for all of them ----
 * Targets go in blocks of one register width; sources in chunks of MANY_CHUNK whose 1/r (and
 * dx/r^3, dy/r^3, dz/r^3 with gradient) are kept in a small buffer that stays in L1, then each
 * group of vectors sums over the chunk with its accumulators in registers. A group holds as
 * many vectors as leave registers for the buffer's operands: with gradient 4 accumulators a
 * vector, so 4 vectors on AVX-512 (32 registers) and 3 on AVX2 (16); without, 8. */
enum { MANY_CHUNK = 64, MANY_GROUP_MAX = 8 };

static int many_group(int grad, kifmm_simd s) {
  if (!grad)
    return 8;
  return s == KIFMM_SIMD_AVX512 ? 4 : 3;
}

/* Expands fn for a group size known at compile time (1..8), so its accumulator arrays are
 * registers; grad is passed through as a constant too. */
#define MANY_DISPATCH(g, grad, fn, ...)            \
  do {                                             \
    switch (g) {                                   \
    case 1: fn(1, grad, __VA_ARGS__); break;       \
    case 2: fn(2, grad, __VA_ARGS__); break;       \
    case 3: fn(3, grad, __VA_ARGS__); break;       \
    case 4: fn(4, grad, __VA_ARGS__); break;       \
    case 5: fn(5, grad, __VA_ARGS__); break;       \
    case 6: fn(6, grad, __VA_ARGS__); break;       \
    case 7: fn(7, grad, __VA_ARGS__); break;       \
    default: fn(8, grad, __VA_ARGS__); break;      \
    }                                              \
  } while (0)

/* Where a kernel call of several vectors reads and writes. */
typedef struct {
  int nv;
  const double *q;
  int64_t qs, qv; /* charge of vector v, source j: q[j * qs + v * qv] */
  double *pot, *gx, *gy, *gz;
  int64_t ldo; /* result of vector v, target i: pot[i + v * ldo] */
} many_io;

/* The buffer holds R = 2/r and R^3 d (8/r^3 d): many_group512 scales the sums. */
INLINE512 void many_geometry512(const int fast, int grad, int64_t m, const double *sx,
                                const double *sy, const double *sz, __m512d x, __m512d y, __m512d z,
                                double *geo) {
  for (int64_t j = 0; j < m; j++) {
    __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j]));
    __m512d dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j]));
    __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j]));
    __m512d r2 = _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx)));
    __m512d rinv = twice_rsqrt(r2, fast);
    _mm512_store_pd(geo + 8 * j, rinv);
    if (grad) {
      __m512d r3 = _mm512_mul_pd(rinv, _mm512_mul_pd(rinv, rinv));
      _mm512_store_pd(geo + 8 * (MANY_CHUNK + j), _mm512_mul_pd(dx, r3));
      _mm512_store_pd(geo + 8 * (2 * MANY_CHUNK + j), _mm512_mul_pd(dy, r3));
      _mm512_store_pd(geo + 8 * (3 * MANY_CHUNK + j), _mm512_mul_pd(dz, r3));
    }
  }
}

/* G vectors from v0 over one chunk of m sources (q already offset to the chunk). */
INLINE512 void many_group512(const int G, const int grad, int64_t m, const double *geo,
                             const double *q, int64_t qs, int64_t qv, __mmask8 lanes,
                             const many_io *io, int64_t off) {
  __m512d p[MANY_GROUP_MAX], ax[MANY_GROUP_MAX], ay[MANY_GROUP_MAX], az[MANY_GROUP_MAX];
  for (int g = 0; g < G; g++)
    p[g] = ax[g] = ay[g] = az[g] = _mm512_setzero_pd();
  for (int64_t j = 0; j < m; j++) {
    __m512d r = _mm512_load_pd(geo + 8 * j);
    for (int g = 0; g < G; g++) {
      __m512d c = _mm512_set1_pd(q[j * qs + g * qv]);
      p[g] = _mm512_fmadd_pd(c, r, p[g]);
      if (grad) {
        ax[g] = _mm512_fnmadd_pd(c, _mm512_load_pd(geo + 8 * (MANY_CHUNK + j)), ax[g]);
        ay[g] = _mm512_fnmadd_pd(c, _mm512_load_pd(geo + 8 * (2 * MANY_CHUNK + j)), ay[g]);
        az[g] = _mm512_fnmadd_pd(c, _mm512_load_pd(geo + 8 * (3 * MANY_CHUNK + j)), az[g]);
      }
    }
  }
  for (int g = 0; g < G; g++) {
    int64_t o = off + g * io->ldo;
    add512(io->pot + o, lanes, p[g], HALF512); /* the sums are of R = 2/r */
    if (grad) {
      add512(io->gx + o, lanes, ax[g], EIGHTH512);
      add512(io->gy + o, lanes, ay[g], EIGHTH512);
      add512(io->gz + o, lanes, az[g], EIGHTH512);
    }
  }
}

/* All nv <= group vectors at once with the geometry in registers: no buffer round trip, which
 * is what a few vectors gain most from. */
INLINE512 void few512(const int G, const int grad, const int fast, int64_t ns, const double *sx,
                      const double *sy, const double *sz, __m512d x, __m512d y, __m512d z,
                      __mmask8 lanes, const many_io *io, int64_t off) {
  const __m512d zero = _mm512_setzero_pd();
  __m512d p[MANY_GROUP_MAX], ax[MANY_GROUP_MAX], ay[MANY_GROUP_MAX], az[MANY_GROUP_MAX];
  for (int g = 0; g < G; g++)
    p[g] = ax[g] = ay[g] = az[g] = zero;
  for (int64_t j = 0; j < ns; j++) {
    __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j]));
    __m512d dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j]));
    __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j]));
    __m512d r2 = _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx)));
    __m512d rinv = twice_rsqrt(r2, fast);
    __m512d r3 = _mm512_mul_pd(rinv, _mm512_mul_pd(rinv, rinv));
    __m512d rx = _mm512_mul_pd(dx, r3), ry = _mm512_mul_pd(dy, r3), rz = _mm512_mul_pd(dz, r3);
    const double *qj = io->q + j * io->qs;
    for (int g = 0; g < G; g++) {
      __m512d c = _mm512_set1_pd(qj[g * io->qv]);
      p[g] = _mm512_fmadd_pd(c, rinv, p[g]);
      if (grad) {
        ax[g] = _mm512_fnmadd_pd(c, rx, ax[g]);
        ay[g] = _mm512_fnmadd_pd(c, ry, ay[g]);
        az[g] = _mm512_fnmadd_pd(c, rz, az[g]);
      }
    }
  }
  for (int g = 0; g < G; g++) {
    int64_t o = off + g * io->ldo;
    add512(io->pot + o, lanes, p[g], HALF512); /* the sums are of R = 2/r */
    if (grad) {
      add512(io->gx + o, lanes, ax[g], EIGHTH512);
      add512(io->gy + o, lanes, ay[g], EIGHTH512);
      add512(io->gz + o, lanes, az[g], EIGHTH512);
    }
  }
}

INLINE512 void many_avx512(const int fast, int64_t ns, const double *sx, const double *sy,
                           const double *sz, int64_t nt, const double *tx, const double *ty,
                           const double *tz, const many_io *io) {
  const int grad = io->gx != NULL, gmax = many_group(grad, KIFMM_SIMD_AVX512);
  double geo[4 * MANY_CHUNK * 8] __attribute__((aligned(64)));
  for (int64_t i = 0; i < nt; i += 8) {
    int64_t w = nt - i < 8 ? nt - i : 8;
    __mmask8 lanes = (__mmask8)((1u << w) - 1);
    __m512d x = _mm512_maskz_loadu_pd(lanes, tx + i), y = _mm512_maskz_loadu_pd(lanes, ty + i),
            z = _mm512_maskz_loadu_pd(lanes, tz + i);
    if (io->nv <= gmax) { /* one group: the geometry never leaves the registers */
      if (grad)
        MANY_DISPATCH(io->nv, 1, few512, fast, ns, sx, sy, sz, x, y, z, lanes, io, i);
      else
        MANY_DISPATCH(io->nv, 0, few512, fast, ns, sx, sy, sz, x, y, z, lanes, io, i);
      continue;
    }
    for (int64_t j0 = 0; j0 < ns; j0 += MANY_CHUNK) {
      int64_t m = ns - j0 < MANY_CHUNK ? ns - j0 : MANY_CHUNK;
      many_geometry512(fast, grad, m, sx + j0, sy + j0, sz + j0, x, y, z, geo);
      for (int v0 = 0; v0 < io->nv; v0 += gmax) {
        int g = io->nv - v0 < gmax ? io->nv - v0 : gmax;
        const double *q = io->q + j0 * io->qs + v0 * io->qv;
        int64_t off = i + v0 * io->ldo;
        if (grad)
          MANY_DISPATCH(g, 1, many_group512, m, geo, q, io->qs, io->qv, lanes, io, off);
        else
          MANY_DISPATCH(g, 0, many_group512, m, geo, q, io->qs, io->qv, lanes, io, off);
      }
    }
  }
}

static KIFMM_TARGET_AVX512 void many_avx512_acc(kifmm_rsqrt acc, int64_t ns, const double *sx,
                                                const double *sy, const double *sz, int64_t nt,
                                                const double *tx, const double *ty,
                                                const double *tz, const many_io *io) {
  if (acc != KIFMM_RSQRT_FULL)
    many_avx512(1, ns, sx, sy, sz, nt, tx, ty, tz, io);
  else
    many_avx512(0, ns, sx, sy, sz, nt, tx, ty, tz, io);
}

INLINE256 void many_geometry256(const int fast, int grad, int64_t m, const double *sx,
                                const double *sy, const double *sz, __m256d x, __m256d y,
                                __m256d z, double *geo) {
  for (int64_t j = 0; j < m; j++) {
    __m256d dx = _mm256_sub_pd(x, _mm256_broadcast_sd(sx + j));
    __m256d dy = _mm256_sub_pd(y, _mm256_broadcast_sd(sy + j));
    __m256d dz = _mm256_sub_pd(z, _mm256_broadcast_sd(sz + j));
    __m256d r2 = _mm256_fmadd_pd(dz, dz, _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dx, dx)));
    __m256d rinv = rsqrt_avx2(r2, fast);
    _mm256_store_pd(geo + 4 * j, rinv);
    if (grad) {
      __m256d r3 = _mm256_mul_pd(rinv, _mm256_mul_pd(rinv, rinv));
      _mm256_store_pd(geo + 4 * (MANY_CHUNK + j), _mm256_mul_pd(dx, r3));
      _mm256_store_pd(geo + 4 * (2 * MANY_CHUNK + j), _mm256_mul_pd(dy, r3));
      _mm256_store_pd(geo + 4 * (3 * MANY_CHUNK + j), _mm256_mul_pd(dz, r3));
    }
  }
}

static inline __attribute__((always_inline)) KIFMM_TARGET_AVX2 void many_group256(
    const int G, const int grad, int64_t m, const double *geo, const double *q, int64_t qs,
    int64_t qv, __m256i lanes, const many_io *io, int64_t off) {
  __m256d p[MANY_GROUP_MAX], ax[MANY_GROUP_MAX], ay[MANY_GROUP_MAX], az[MANY_GROUP_MAX];
  for (int g = 0; g < G; g++)
    p[g] = ax[g] = ay[g] = az[g] = _mm256_setzero_pd();
  for (int64_t j = 0; j < m; j++) {
    __m256d r = _mm256_load_pd(geo + 4 * j);
    for (int g = 0; g < G; g++) {
      __m256d c = _mm256_broadcast_sd(q + j * qs + g * qv);
      p[g] = _mm256_fmadd_pd(c, r, p[g]);
      if (grad) {
        ax[g] = _mm256_fnmadd_pd(c, _mm256_load_pd(geo + 4 * (MANY_CHUNK + j)), ax[g]);
        ay[g] = _mm256_fnmadd_pd(c, _mm256_load_pd(geo + 4 * (2 * MANY_CHUNK + j)), ay[g]);
        az[g] = _mm256_fnmadd_pd(c, _mm256_load_pd(geo + 4 * (3 * MANY_CHUNK + j)), az[g]);
      }
    }
  }
  for (int g = 0; g < G; g++) {
    int64_t o = off + g * io->ldo;
    add_masked(io->pot + o, lanes, p[g]);
    if (grad) {
      add_masked(io->gx + o, lanes, ax[g]);
      add_masked(io->gy + o, lanes, ay[g]);
      add_masked(io->gz + o, lanes, az[g]);
    }
  }
}

INLINE256 void many_avx2(const int fast, int64_t ns, const double *sx, const double *sy,
                         const double *sz, int64_t nt, const double *tx, const double *ty,
                         const double *tz, const many_io *io) {
  const int grad = io->gx != NULL, gmax = many_group(grad, KIFMM_SIMD_AVX2);
  const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
  double geo[4 * MANY_CHUNK * 4] __attribute__((aligned(32)));
  for (int64_t i = 0; i < nt; i += 4) {
    __m256i lanes = _mm256_cmpgt_epi64(_mm256_set1_epi64x(nt - i), lane);
    __m256d x = _mm256_maskload_pd(tx + i, lanes), y = _mm256_maskload_pd(ty + i, lanes),
            z = _mm256_maskload_pd(tz + i, lanes);
    for (int64_t j0 = 0; j0 < ns; j0 += MANY_CHUNK) {
      int64_t m = ns - j0 < MANY_CHUNK ? ns - j0 : MANY_CHUNK;
      many_geometry256(fast, grad, m, sx + j0, sy + j0, sz + j0, x, y, z, geo);
      for (int v0 = 0; v0 < io->nv; v0 += gmax) {
        int g = io->nv - v0 < gmax ? io->nv - v0 : gmax;
        const double *q = io->q + j0 * io->qs + v0 * io->qv;
        int64_t off = i + v0 * io->ldo;
        if (grad)
          MANY_DISPATCH(g, 1, many_group256, m, geo, q, io->qs, io->qv, lanes, io, off);
        else
          MANY_DISPATCH(g, 0, many_group256, m, geo, q, io->qs, io->qv, lanes, io, off);
      }
    }
  }
}

static KIFMM_TARGET_AVX2 void many_avx2_acc(kifmm_rsqrt acc, int64_t ns, const double *sx,
                                            const double *sy, const double *sz, int64_t nt,
                                            const double *tx, const double *ty, const double *tz,
                                            const many_io *io) {
  if (acc != KIFMM_RSQRT_FULL)
    many_avx2(1, ns, sx, sy, sz, nt, tx, ty, tz, io);
  else
    many_avx2(0, ns, sx, sy, sz, nt, tx, ty, tz, io);
}

/* One target at a time: the chunk's geometry, then each vector's sums over it, both loops
 * vectorized by the compiler over the sources. */
static void many_portable(int64_t ns, const double *sx, const double *sy, const double *sz,
                          int64_t nt, const double *tx, const double *ty, const double *tz,
                          const many_io *io) {
  const int grad = io->gx != NULL;
  double r[MANY_CHUNK], rx[MANY_CHUNK], ry[MANY_CHUNK], rz[MANY_CHUNK];
  for (int64_t i = 0; i < nt; i++) {
    const double x = tx[i], y = ty[i], z = tz[i];
    for (int64_t j0 = 0; j0 < ns; j0 += MANY_CHUNK) {
      int64_t m = ns - j0 < MANY_CHUNK ? ns - j0 : MANY_CHUNK;
#pragma omp simd
      for (int64_t j = 0; j < m; j++) {
        double dx = x - sx[j0 + j], dy = y - sy[j0 + j], dz = z - sz[j0 + j];
        double r2 = dx * dx + dy * dy + dz * dz;
        double rinv = r2 > 0 ? 1.0 / sqrt(r2) : 0.0, r3 = rinv * rinv * rinv;
        r[j] = rinv;
        rx[j] = dx * r3;
        ry[j] = dy * r3;
        rz[j] = dz * r3;
      }
      for (int v = 0; v < io->nv; v++) {
        const double *q = io->q + j0 * io->qs + v * io->qv;
        const int64_t qs = io->qs;
        double p = 0, ax = 0, ay = 0, az = 0;
#pragma omp simd reduction(+ : p, ax, ay, az)
        for (int64_t j = 0; j < m; j++) {
          p += q[j * qs] * r[j];
          ax -= q[j * qs] * rx[j];
          ay -= q[j * qs] * ry[j];
          az -= q[j * qs] * rz[j];
        }
        int64_t o = i + v * io->ldo;
        io->pot[o] += p;
        if (grad) {
          io->gx[o] += ax;
          io->gy[o] += ay;
          io->gz[o] += az;
        }
      }
    }
  }
}

void kifmm__p2p_many(kifmm_rsqrt acc, int nv, int64_t ns, const double *sx, const double *sy,
                     const double *sz, const double *q, int64_t qs, int64_t qv, int64_t nt,
                     const double *tx, const double *ty, const double *tz, double *pot, double *gx,
                     double *gy, double *gz, int64_t ldo) {
  if (nv <= 0 || ns <= 0 || nt <= 0)
    return;
  if (acc == KIFMM_RSQRT_SINGLE && kifmm__p2p_single(0.0, nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty,
                                                     tz, pot, gx, gy, gz, ldo))
    return;
  if (nv == 1 && qs == 1) { /* the single-vector kernel, as fast as before */
    kifmm__p2p(acc, ns, sx, sy, sz, q, nt, tx, ty, tz, pot, gx, gy, gz);
    return;
  }
  const many_io io = {nv, q, qs, qv, pot, gx, gy, gz, ldo};
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    many_avx512_acc(acc, ns, sx, sy, sz, nt, tx, ty, tz, &io);
    break;
  case KIFMM_SIMD_AVX2:
    many_avx2_acc(acc, ns, sx, sy, sz, nt, tx, ty, tz, &io);
    break;
  default:
    many_portable(ns, sx, sy, sz, nt, tx, ty, tz, &io);
    break;
  }
}

double kifmm__rsqrt_fast_error(void) {
  switch (kifmm__simd()) {
  case KIFMM_SIMD_AVX512:
    return KIFMM_RSQRT_FAST_ERROR;
  case KIFMM_SIMD_AVX2:
    return KIFMM_RSQRT_FAST_ERROR_AVX2;
  default:
    return 0.0;
  }
}
