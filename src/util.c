/* Small helpers every module uses: checked allocation and the wall clock. */
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
