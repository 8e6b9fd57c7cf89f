/* SPDX-License-Identifier: BSD-3-Clause */
/* Pruning a tree to the boxes one MPI rank touches (let.c): the global box structure is
 * replicated on every rank, but its expansions and passes only need the locally essential part. */
#include <string.h>

#include "mpi/prune.h"

/* keep[b] for the kept boxes and all their ancestors; children follow parents in box order. */
static int64_t close_upward(const kifmm_tree *t, int8_t *keep, int64_t *old2new) {
  for (int64_t b = t->nbox - 1; b >= 1; b--)
    if (keep[b])
      keep[t->parent[b]] = 1;
  keep[0] = 1;
  int64_t n = 0;
  for (int64_t b = 0; b < t->nbox; b++)
    old2new[b] = keep[b] ? n++ : -1;
  return n;
}

/* Compacts one per-box array of elem-byte elements in place (new index <= old index). */
static void compact(void *array, size_t elem, const kifmm_tree *t, const int64_t *old2new) {
  char *a = array;
  for (int64_t b = 0; b < t->nbox; b++)
    if (old2new[b] >= 0)
      memmove(a + (size_t)old2new[b] * elem, a + (size_t)b * elem, elem);
}

/* One CSR list renumbered: box b's entries become new box old2new[b]'s, entries renumbered;
 * the per-entry transfer vectors (tv) and image shift codes (sh, periodic lists) move with
 * their entries (either may be NULL). */
static void remap_list(int64_t nbox_old, const int64_t *old2new, int64_t *ptr, int64_t *idx,
                       int16_t *tv, int8_t *sh) {
  int64_t m = 0;
  for (int64_t b = 0; b < nbox_old; b++) {
    int64_t lo = ptr[b], hi = ptr[b + 1];
    if (old2new[b] < 0)
      continue;
    ptr[old2new[b]] = m;
    for (int64_t e = lo; e < hi; e++, m++) {
      idx[m] = old2new[idx[e]];
      if (tv)
        tv[m] = tv[e];
      if (sh)
        sh[m] = sh[e];
    }
  }
  int64_t n = 0;
  for (int64_t b = 0; b < nbox_old; b++)
    n += old2new[b] >= 0;
  ptr[n] = m;
}

int kifmm__tree_prune(kifmm_tree *t, kifmm_lists *L, int8_t *keep, int64_t *old2new) {
  int64_t nbox = close_upward(t, keep, old2new);
  compact(t->anchor, sizeof(*t->anchor), t, old2new);
  compact(t->level, sizeof(*t->level), t, old2new);
  compact(t->src_begin, sizeof(int64_t), t, old2new);
  compact(t->src_end, sizeof(int64_t), t, old2new);
  compact(t->trg_begin, sizeof(int64_t), t, old2new);
  compact(t->trg_end, sizeof(int64_t), t, old2new);
  remap_list(t->nbox, old2new, L->u_ptr, L->u_idx, NULL, L->u_sh);
  remap_list(t->nbox, old2new, L->v_ptr, L->v_idx, L->v_tv, NULL);
  remap_list(t->nbox, old2new, L->w_ptr, L->w_idx, NULL, L->w_sh);
  remap_list(t->nbox, old2new, L->x_ptr, L->x_idx, NULL, L->x_sh);
  t->nbox = nbox;
  /* ancestors are kept, so the linkage and leaves follow from the kept boxes alone; pruned
   * boxes hold no points, so the leaves' CSR bookends stay contiguous */
  kifmm__tree_link_boxes(t);
  return kifmm__tree_index_leaves(t);
}
