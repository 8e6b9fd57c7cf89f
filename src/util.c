/* SPDX-License-Identifier: BSD-3-Clause */
/* Small helpers every module uses: checked allocation and the wall clock. */
#include <math.h>
#include <omp.h>

#include "internal.h"

int kifmm__calloc(void **ptr, size_t n, size_t size) {
  *ptr = NULL;
  if (n == 0)
    n = 1; /* a valid, freeable pointer even for empty arrays */
  if (size != 0 && n > SIZE_MAX / size)
    return KIFMM_ERR_OUT_OF_MEMORY;
  *ptr = calloc(n, size);
  return *ptr ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
}

double kifmm__wtime(void) { return omp_get_wtime(); }

int kifmm__all_finite(int64_t n, const double *v) {
  int ok = 1;
  for (int64_t i = 0; i < n; i++)
    ok &= isfinite(v[i]) != 0;
  return ok;
}
