/* SPDX-License-Identifier: BSD-3-Clause */
/* The arithmetic the passes run (src/kernels/): the kernel's matrix and its direct sums on each
 * SIMD path. */
#ifndef KIFMM_KERNELS_H
#define KIFMM_KERNELS_H

#include "util/util.h"

/* ---- Kernel (kernel_laplace.c): 1/r without the 1/(4 pi), applied once at the end ---- */
/* How closely the direct sums take 1/r: to double precision (each pair within a few ulp), or
 * within 1.5e-13 relative for one multiplier op a pair less, where the expansion order's own
 * error is far above that (kifmm__rsqrt_for_order). Only the AVX-512 path has the fast form;
 * the others always give full precision. */
typedef enum { KIFMM_RSQRT_FULL = 0, KIFMM_RSQRT_FAST = 1 } kifmm_rsqrt;
/* The largest relative error of one pair's 1/r in KIFMM_RSQRT_FAST (kernel_laplace.c). */
#define KIFMM_RSQRT_FAST_ERROR 1.5e-13

/* pot[j] += sum_i q_i / |y_j - x_i|, grad[3j..] += sum_i q_i d/dy (1/|y-x|) (grad may be NULL).
 * Sources in SoA (x,y,z), targets in SoA. Pairs at distance 0 are skipped. */
KIFMM_INTERNAL void kifmm__p2p(kifmm_rsqrt acc, int64_t ns, const double *sx, const double *sy,
                               const double *sz, const double *q, int64_t nt, const double *tx,
                               const double *ty, const double *tz, double *pot, double *gx,
                               double *gy, double *gz);
/* The same for nv charge vectors at once, the geometry of each pair computed once for all:
 * charge of vector v at source j is q[j*qs + v*qv]; results of vector v at target i go to
 * pot[i + v*ldo] (gx, gy, gz likewise, all NULL for potential only). nv == 1 with qs == 1 is
 * kifmm__p2p itself. */
KIFMM_INTERNAL void kifmm__p2p_many(kifmm_rsqrt acc, int nv, int64_t ns, const double *sx,
                                    const double *sy, const double *sz, const double *q, int64_t qs,
                                    int64_t qv, int64_t nt, const double *tx, const double *ty,
                                    const double *tz, double *pot, double *gx, double *gy,
                                    double *gz, int64_t ldo);
/* Kernel matrix K[i + j*ldk] = 1/|y_i - x_j| for points in interleaved xyz (column-major). */
KIFMM_INTERNAL void kifmm__kernel_matrix(int64_t nt, const double *y, int64_t ns, const double *x,
                                         double *k, int64_t ldk);

#endif /* KIFMM_KERNELS_H */
