/* SPDX-License-Identifier: BSD-3-Clause */
/* Pruning a tree to the boxes one MPI rank touches (let.c): the global box structure is
 * replicated on every rank, but its expansions and passes only need the locally essential part. */
#include <string.h>

#include "internal.h"

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

static void relink(kifmm_tree *t) {
  memset(t->level_ptr, 0, sizeof(t->level_ptr));
  for (int64_t i = 0; i < t->nbox; i++) {
    t->level_ptr[t->level[i] + 1]++;
    t->first_child[i] = -1;
    t->nchild[i] = 0;
  }
  for (int l = 0; l <= KIFMM_MAX_LEVEL; l++)
    t->level_ptr[l + 1] += t->level_ptr[l];
  t->depth = t->level[t->nbox - 1];
  for (int64_t i = 1; i < t->nbox; i++) {
    int64_t p = t->parent[i];
    if (t->first_child[p] < 0)
      t->first_child[p] = i;
    t->nchild[p]++;
  }
}

/* Leaves of the pruned tree (kept boxes without kept children) along the curve; pruned boxes
 * hold no points, so the CSR bookends stay contiguous. */
static int relayout_leaves(kifmm_tree *t) {
  int64_t nleaf = 0;
  for (int64_t i = 0; i < t->nbox; i++)
    nleaf += t->nchild[i] == 0;
  kifmm_key *pos;
  ALLOC(pos, nleaf + 1);
  for (int64_t i = 0, j = 0; i < t->nbox; i++) {
    t->leaf_index[i] = -1;
    if (t->nchild[i] == 0) {
      pos[j] = t->anchor[i] << 3 * (KIFMM_KEY_BITS - t->level[i]);
      t->leaf_box[j++] = i;
    }
  }
  int status = kifmm__sort_keys(pos, t->leaf_box, nleaf);
  free(pos);
  CHECK(status);
  t->nleaf = nleaf;
  for (int64_t j = 0; j < nleaf; j++) {
    int64_t b = t->leaf_box[j];
    t->leaf_index[b] = j;
    t->leaf_src_ptr[j] = t->src_begin[b];
    t->leaf_trg_ptr[j] = t->trg_begin[b];
  }
  t->leaf_src_ptr[nleaf] = t->nsrc;
  t->leaf_trg_ptr[nleaf] = t->ntrg;
  return KIFMM_SUCCESS;
}

/* One CSR list renumbered: box b's entries become new box old2new[b]'s, entries renumbered. */
static void remap_list(int64_t nbox_old, const int64_t *old2new, int64_t *ptr, int64_t *idx,
                       int16_t *tv) {
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
  for (int64_t b = 0; b < t->nbox; b++) /* parents come first: mapped before being moved */
    if (old2new[b] >= 0)
      t->parent[old2new[b]] = b == 0 ? -1 : old2new[t->parent[b]];
  remap_list(t->nbox, old2new, L->u_ptr, L->u_idx, NULL);
  remap_list(t->nbox, old2new, L->v_ptr, L->v_idx, L->v_tv);
  remap_list(t->nbox, old2new, L->w_ptr, L->w_idx, NULL);
  remap_list(t->nbox, old2new, L->x_ptr, L->x_idx, NULL);
  t->nbox = nbox;
  relink(t);
  return relayout_leaves(t);
}
