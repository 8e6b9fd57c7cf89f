/* SPDX-License-Identifier: BSD-3-Clause */
/* Downstream use of the installed kifmm_io.h: it compiles on its own with MPI's headers, its
 * functions link against the installed library, and KIFMM_CACHE_* come from kifmm.h. */
#include <stdio.h>

#include <kifmm_io.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int64_t offset = -1, count = -1;
  int st = kifmm_io_slab(10, 3, 1, &offset, &count);
  kifmm_result_meta meta;
  int null_plan = kifmm_io_result_meta(NULL, &meta);
  MPI_Finalize();
  /* 10 items over 3 ranks: 4, 3, 3; rank 1 owns [4, 7) */
  if (st != KIFMM_SUCCESS || offset != 4 || count != 3 || null_plan != KIFMM_ERR_NULL_ARGUMENT ||
      KIFMM_CACHE_HIT != 1) {
    fprintf(stderr, "kifmm_io: slab %d (%lld, %lld), meta(NULL) %d\n", st, (long long)offset,
            (long long)count, null_plan);
    return 1;
  }
  printf("consume_c_io: ok\n");
  return 0;
}
