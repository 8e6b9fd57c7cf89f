/* SPDX-License-Identifier: BSD-3-Clause */
/* The bottom layer: status propagation, allocation, clocks, finiteness checks, the
 * run-time choice of SIMD path and progress reports, shared by every other folder. Nothing here is part of the public API. */
#ifndef KIFMM_UTIL_H
#define KIFMM_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "kifmm.h"

#define KIFMM_INTERNAL __attribute__((visibility("hidden")))
#define KIFMM_INV_4PI 0.079577471545947667884 /* 1 / (4 pi) */

/* Return the status of a call up the stack when it is not success. */
#define CHECK(call)                        \
  do {                                     \
    int check_status_ = (call);            \
    if (check_status_ != KIFMM_SUCCESS)    \
      return check_status_;                \
  } while (0)

/* Allocate n elements of *ptr's type, zeroed; returns KIFMM_ERR_OUT_OF_MEMORY on failure. */
#define ALLOC(ptr, n) CHECK(kifmm__calloc((void **)&(ptr), (size_t)(n), sizeof(*(ptr))))

/* Returns status after recording a printf-style detail for kifmm_error_detail(). */
KIFMM_INTERNAL int kifmm__fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

KIFMM_INTERNAL int kifmm__calloc(void **ptr, size_t n, size_t size);
/* Uninitialized, for large arrays filled right away (operators read from the cache): backed
 * by huge pages where the system offers them on request. Freed with free(). */
KIFMM_INTERNAL int kifmm__alloc_large(void **ptr, size_t n, size_t size);
KIFMM_INTERNAL double kifmm__wtime(void);
/* 1 when none of the n values is NaN or infinite. */
KIFMM_INTERNAL int kifmm__all_finite(int64_t n, const double *v);

/* ---- Instruction set of the hot loops (simd.c), chosen once per process ---- */
typedef enum { KIFMM_SIMD_PORTABLE, KIFMM_SIMD_AVX2, KIFMM_SIMD_AVX512 } kifmm_simd;
/* Best path the CPU supports, lowered by KIFMM_SIMD=avx2|portable; thread-safe. */
KIFMM_INTERNAL kifmm_simd kifmm__simd(void);
KIFMM_INTERNAL const char *kifmm__simd_name(kifmm_simd s);
#define KIFMM_TARGET_AVX512 __attribute__((target("avx512f")))
#define KIFMM_TARGET_AVX2 __attribute__((target("avx2,fma")))

/* ---- Progress reports (progress.c) ----
 * kifmm__progress_scope(opts) at the start of a public call, (NULL) before it returns; in
 * between kifmm__progress(phase, fraction) reaches opts->progress from the calling thread. */
KIFMM_INTERNAL void kifmm__progress_scope(const kifmm_options *opts);
KIFMM_INTERNAL void kifmm__progress(const char *phase, double fraction);

#endif /* KIFMM_UTIL_H */
