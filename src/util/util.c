/* SPDX-License-Identifier: BSD-3-Clause */
/* Small helpers every module uses: checked allocation and the wall clock. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util/util.h"

int kifmm__calloc(void **ptr, size_t n, size_t size) {
  *ptr = NULL;
  if (n == 0)
    n = 1; /* a valid, freeable pointer even for empty arrays */
  if (size != 0 && n > SIZE_MAX / size)
    return KIFMM_ERR_OUT_OF_MEMORY;
  *ptr = calloc(n, size);
  return *ptr ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
}

/* Transparent huge pages in "madvise" mode (Debian's default) serve only regions that ask:
 * a 285 MB operator set then takes 2 MB faults instead of 4 KB ones, which were a third of
 * loading it from the cache. */
int kifmm__alloc_large(void **ptr, size_t n, size_t size) {
  const size_t huge = (size_t)2 << 20;
  *ptr = NULL;
  if (size != 0 && n > SIZE_MAX / size)
    return KIFMM_ERR_OUT_OF_MEMORY;
  size_t bytes = n * size;
  if (bytes < 2 * huge)
    return kifmm__calloc(ptr, n, size);
  bytes = (bytes + huge - 1) / huge * huge; /* aligned_alloc wants a multiple */
  *ptr = aligned_alloc(huge, bytes);
  if (!*ptr)
    return KIFMM_ERR_OUT_OF_MEMORY;
#ifdef MADV_HUGEPAGE
  madvise(*ptr, bytes, MADV_HUGEPAGE); /* advice only: its failure changes nothing */
#endif
  return KIFMM_SUCCESS;
}

double kifmm__wtime(void) { return omp_get_wtime(); }

int kifmm__all_finite(int64_t n, const double *v) {
  int ok = 1;
  for (int64_t i = 0; i < n; i++)
    ok &= isfinite(v[i]) != 0;
  return ok;
}
