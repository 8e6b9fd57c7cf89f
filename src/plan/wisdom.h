/* SPDX-License-Identifier: BSD-3-Clause */
/* The machine's own rates for the leaf-size choice and the dry run's times
 * (src/plan/wisdom.c), measured once and kept beside the operator cache, as FFTW keeps its
 * wisdom. */
#ifndef KIFMM_WISDOM_H
#define KIFMM_WISDOM_H

#include "util/util.h"

/* What the leaf size depends on, measured on one core on the SIMD path in use: the direct
 * sums' time a pair (Laplace, potential and gradient, full precision) and the rate of the
 * evaluation's dense applies at an M2L shape. */
typedef struct kifmm_wisdom {
  double pair_ns;     /* nanoseconds a pair */
  double gemm_gflops; /* GFlop/s of kifmm__mm at 128 x 512 x 128 */
} kifmm_wisdom;

/* Plans with at least this many points (sources + targets) take the machine's factor; smaller
 * ones, whose time is no matter and whose trees tests compare, take the table's size alone. */
#define KIFMM_WISDOM_MIN_POINTS 100000

/* The factor the table's leaf size takes on this machine (1 where none applies: ncrit given,
 * fewer than KIFMM_WISDOM_MIN_POINTS points, KIFMM_WISDOM=0): sqrt of how much dearer M2L's
 * flops are against a pair than on the machine the table was measured on (near ~ ncrit,
 * far ~ 1 / ncrit), within [1/2, 2]. Rates come from memory (one measurement a process and
 * cache directory), else from <cache_dir>/wisdom.txt under this CPU's, SIMD path's and
 * library version's key, else from measuring (about 20 ms), then saved there where the
 * cache is in use. Thread-safe. */
KIFMM_INTERNAL double kifmm__wisdom_leaf_factor(const kifmm_options *o, int64_t npoints);
/* Where the machine's figures apply (as for the factor, ncrit aside): 1, with how many times
 * the table machine's time a pair (*pair) and a dense flop (*flop) take here, by which the
 * dry run's predicted times scale; else 0 and both 1. */
KIFMM_INTERNAL int kifmm__wisdom_scales(const kifmm_options *o, int64_t npoints, double *pair,
                                        double *flop);
/* The rates behind that factor for these options (measured or read as above). */
KIFMM_INTERNAL kifmm_wisdom kifmm__wisdom(const kifmm_options *o);
/* The rates of the machine the leaf-size table was measured on (factor 1). */
KIFMM_INTERNAL kifmm_wisdom kifmm__wisdom_reference(void);
/* The factor of given rates (the clamp included). */
KIFMM_INTERNAL double kifmm__wisdom_factor(kifmm_wisdom w);

#endif /* KIFMM_WISDOM_H */
