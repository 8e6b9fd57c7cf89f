/* SPDX-License-Identifier: BSD-3-Clause */
/* C side of test_fortran_abi: the C compiler's view of the option and statistics structs
 * and of the status list, for comparison with the Fortran module's bind(C) types. */
#include <stddef.h>
#include <string.h>

#include "kifmm.h"

/* i = 0: sizeof(kifmm_options); i = 1..19: offset of the i-th field in declaration order. */
long abi_options_layout(int i) {
  static const size_t v[] = {
      sizeof(kifmm_options),
      offsetof(kifmm_options, struct_size),
      offsetof(kifmm_options, order),
      offsetof(kifmm_options, ncrit),
      offsetof(kifmm_options, max_level),
      offsetof(kifmm_options, num_threads),
      offsetof(kifmm_options, verbose),
      offsetof(kifmm_options, use_cache),
      offsetof(kifmm_options, compression_tol),
      offsetof(kifmm_options, cache_dir),
      offsetof(kifmm_options, tolerance),
      offsetof(kifmm_options, progress),
      offsetof(kifmm_options, progress_data),
      offsetof(kifmm_options, nvec),
      offsetof(kifmm_options, kernel),
      offsetof(kifmm_options, periodic),
      offsetof(kifmm_options, kernel_param),
      offsetof(kifmm_options, cell_origin),
      offsetof(kifmm_options, cell_length),
      offsetof(kifmm_options, cell_aspect)};
  return (i >= 0 && i < (int)(sizeof v / sizeof v[0])) ? (long)v[i] : -1;
}

/* i = 0: sizeof(kifmm_stats); i = 1..45: offset of the i-th field in declaration order. */
long abi_stats_layout(int i) {
  static const size_t v[] = {
      sizeof(kifmm_stats),                  offsetof(kifmm_stats, struct_size),
      offsetof(kifmm_stats, nsrc),          offsetof(kifmm_stats, ntrg),
      offsetof(kifmm_stats, nboxes),        offsetof(kifmm_stats, nleaves),
      offsetof(kifmm_stats, depth),         offsetof(kifmm_stats, order),
      offsetof(kifmm_stats, nsurf),         offsetof(kifmm_stats, m2l_rank),
      offsetof(kifmm_stats, m2l_max_rank),  offsetof(kifmm_stats, cache_result),
      offsetof(kifmm_stats, bytes),         offsetof(kifmm_stats, compression_tol),
      offsetof(kifmm_stats, t_tree),        offsetof(kifmm_stats, t_lists),
      offsetof(kifmm_stats, t_operators),   offsetof(kifmm_stats, t_p2m),
      offsetof(kifmm_stats, t_m2m),         offsetof(kifmm_stats, t_m2l),
      offsetof(kifmm_stats, t_l2l),         offsetof(kifmm_stats, t_p2l),
      offsetof(kifmm_stats, t_m2p),         offsetof(kifmm_stats, t_l2p),
      offsetof(kifmm_stats, t_p2p),         offsetof(kifmm_stats, t_evaluate),
      offsetof(kifmm_stats, nevaluations),  offsetof(kifmm_stats, max_leaf_points),
      offsetof(kifmm_stats, overfull_leaves), offsetof(kifmm_stats, ncrit),
      offsetof(kifmm_stats, tolerance),     offsetof(kifmm_stats, blas),
      offsetof(kifmm_stats, blas_core),     offsetof(kifmm_stats, simd),
      offsetof(kifmm_stats, nvec),          offsetof(kifmm_stats, nranks),
      offsetof(kifmm_stats, rank),          offsetof(kifmm_stats, nsrc_global),
      offsetof(kifmm_stats, ntrg_global),   offsetof(kifmm_stats, bytes_sent),
      offsetof(kifmm_stats, bytes_received), offsetof(kifmm_stats, t_partition),
      offsetof(kifmm_stats, t_comm_wait),   offsetof(kifmm_stats, kernel),
      offsetof(kifmm_stats, periodic),      offsetof(kifmm_stats, kernel_param)};
  return (i >= 0 && i < (int)(sizeof v / sizeof v[0])) ? (long)v[i] : -1;
}

/* Value of the status code called name (NUL-terminated), or -1 when C has no such code. */
int abi_status_value(const char *name) {
#define KIFMM_MATCH_STATUS(n, value, message) \
  if (strcmp(name, #n) == 0)                  \
    return value;
  KIFMM_STATUS_LIST(KIFMM_MATCH_STATUS)
#undef KIFMM_MATCH_STATUS
  return -1;
}

/* Number of entries in KIFMM_STATUS_LIST. */
int abi_status_count(void) {
#define KIFMM_COUNT_STATUS(n, value, message) +1
  return 0 KIFMM_STATUS_LIST(KIFMM_COUNT_STATUS);
#undef KIFMM_COUNT_STATUS
}
