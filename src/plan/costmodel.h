/* SPDX-License-Identifier: BSD-3-Clause */
/* The choices a plan makes before it builds anything (order, compression, leaf size, 1/r
 * precision) and the work, time and memory a built plan predicts (src/plan/costmodel.c). */
#ifndef KIFMM_COSTMODEL_H
#define KIFMM_COSTMODEL_H

#include "kernels/kernels.h"
#include "tree/tree.h"

struct kifmm_plan;

/* ---- Cost model (costmodel.c) ---- */
/* What the automatic choices know of the points, measured on a sample: the dimension of the
 * distribution (3 for points that fill a volume, and for no points; 2 a surface; 1 a curve)
 * and the mean number of points (sources and targets) in an occupied box of each level. */
#define KIFMM_OCCUPANCY_LEVELS 24
typedef struct kifmm_distribution {
  double dim;
  double occupancy[KIFMM_OCCUPANCY_LEVELS];
} kifmm_distribution;
KIFMM_INTERNAL int kifmm__distribution(int64_t nsrc, const double *src, int64_t ntrg,
                                       const double *trg, kifmm_distribution *d);
/* Smallest order from min_order on whose measured worst error (of kernel's own table:
 * KIFMM_KERNEL_*) on distributions of that dimension, with a
 * margin of 2, is within tolerance; -1 when no order reaches it. When *compression_tol is 0 it
 * is set to the loosest M2L compression that keeps the predicted error within the tolerance
 * (at least the order's default). kifmm__tolerance_floor() is the smallest tolerance
 * accepted at all (a volume's, Laplace's); thinner distributions reach down to 6e-13 (their
 * rounding floor, costmodel.c), other kernels where their tables do (a tolerance no order meets
 * gives -1). far_fraction (kifmm__far_target_fraction) above 1 % takes the errors measured on
 * targets away from every source, the gradient's within 10x of the tolerance included. */
KIFMM_INTERNAL int kifmm__order_for_tolerance(double tolerance, double dim, double far_fraction,
                                              int kernel, int min_order,
                                              double *compression_tol);
/* Fraction of the targets (a sample of them) with no source in the neighbourhood of their box
 * at the finest level the sources' sample resolves: the targets that get only far field. */
KIFMM_INTERNAL int kifmm__far_target_fraction(int64_t nsrc, const double *src, int64_t ntrg,
                                              const double *trg, double *fraction);
KIFMM_INTERNAL double kifmm__tolerance_floor(void);
/* KIFMM_RSQRT_FAST where the order's worst measured error is at least 30 times the fast 1/r's
 * on the SIMD path in use (AVX-512: up to p12; AVX2: every order), so the direct sums' part of
 * the error stays a few percent of it. */
KIFMM_INTERNAL kifmm_rsqrt kifmm__rsqrt_for_order(int order);
/* How the near field of a plan of this order and kernel takes a pair: KIFMM_RSQRT_SINGLE
 * where the kernel and the SIMD path have single-precision sums and their error
 * (KIFMM_SINGLE_ERROR) fits:
 * with a tolerance, the order's worst measured error for the kernel (Yukawa's 1.7 times
 * Laplace's) plus theirs, with the margin the order was chosen with, is within it (Laplace
 * at 1e-6: p7 and single precision; Yukawa from 1.3e-6); with an order alone, the
 * order's error is at least KIFMM_SINGLE_MARGIN times theirs (p6 and below). Else
 * kifmm__rsqrt_for_order.
 * KIFMM_PRECISION=double in the environment never takes single precision, =single always
 * where the kernel has it (for tests and comparisons). */
KIFMM_INTERNAL kifmm_rsqrt kifmm__near_accuracy(int order, double tolerance,
                                              const kifmm_kernel *k);
/* The order a plan of the tolerance takes, given the smallest that meets it (order): one more
 * where that one sums its near field in double, the next would sum it in single precision
 * (kifmm__near_accuracy) and the kernel's pairs are dear (an exponential a pair,
 * kifmm__kernel_pair_cost >= 2), so that the cheaper near field pays for the next order's
 * far field. Measured (cube 1e6 + 1e6, kappa 1, one thread, 2 rounds): Yukawa at 1e-6, p8
 * in single 5.73-5.85 s against p7 in double 6.14-9.42 s (errors 7.3e-8 / 2.9e-7 against
 * 1.6e-7 / 1.3e-6); Laplace's cheap pairs do not pay for it: at 7e-7, p8 in single
 * 3.83-3.85 s against p7 in double 2.77-3.05 s, so it stays. Stokes steps from p8 too
 * (costmodel.c: single_step_max_order). */
KIFMM_INTERNAL int kifmm__order_for_near_precision(int order, double tolerance,
                                                   const kifmm_kernel *k);
/* Leaf size for the order and the distribution (volume or surface), from the best sizes of
 * measured sweeps times machine (this machine's factor, kifmm__wisdom_leaf_factor; 1 is the
 * table's machine), kept clear of the sizes that would split only some of a volume's boxes
 * of one level. */
KIFMM_INTERNAL int kifmm__choose_ncrit(const kifmm_options *o, const kifmm_distribution *d,
                                       double machine, int *ncrit);
/* Cost of a point pair of kernel k in the direct sums relative to one of Laplace's. */
KIFMM_INTERNAL double kifmm__kernel_pair_cost(const kifmm_kernel *k);
/* Bytes of a plan's work arrays for nvec vectors (expansions, sorted charges and results). */
KIFMM_INTERNAL int64_t kifmm__work_bytes(const struct kifmm_plan *p, int nvec);
/* Fills est from a plan built without work arrays. */
KIFMM_INTERNAL void kifmm__estimate(const struct kifmm_plan *plan, kifmm_estimate *est);

#endif /* KIFMM_COSTMODEL_H */
