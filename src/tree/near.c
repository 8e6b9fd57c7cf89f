/* SPDX-License-Identifier: BSD-3-Clause */
/* The schedule of the near field (P2P) when leaves' targets are their sources: which U-list
 * pairs are taken once for both ends, and an order of the leaves in colours such that the
 * leaves of one colour can run at the same time. A leaf "owns" its pairs with the leaves of
 * larger box index and writes their targets too; leaves of one colour share no leaf they
 * write. Colours run one after the other, the leaves of a colour in any order: every target's
 * sums arrive in the same order whatever the number of threads, so results do not depend on
 * it. */
#include <stdlib.h>
#include <string.h>

#include "tree/tree.h"

/* A leaf whose targets are its sources, point for point (same count, same coordinates in
 * the same order): the caller passed the same points for both, or this leaf's part of them. */
static int leaf_is_self(const kifmm_tree *t, int64_t b) {
  int64_t sb = t->src_begin[b], n = t->src_end[b] - sb, tb = t->trg_begin[b];
  if (t->nchild[b] != 0 || n == 0 || t->trg_end[b] - tb != n)
    return 0;
  size_t bytes = (size_t)n * sizeof(double);
  return memcmp(t->sx + sb, t->tx + tb, bytes) == 0 &&
         memcmp(t->sy + sb, t->ty + tb, bytes) == 0 && memcmp(t->sz + sb, t->tz + tb, bytes) == 0;
}

/* Roles of the U entries: both leaves self, distinct, and the partner not a periodic image. */
static int64_t set_roles(kifmm_near *nr, const kifmm_tree *t, const kifmm_lists *L,
                         const uint8_t *self) {
  int64_t owned = 0;
  for (int64_t b = 0; b < t->nbox; b++)
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++) {
      int64_t a = L->u_idx[e];
      int both = self[b] && self[a] && a != b && (!L->u_sh || L->u_sh[e] == KIFMM_NO_SHIFT);
      nr->u_role[e] = !both ? KIFMM_NEAR_ONE_WAY : a > b ? KIFMM_NEAR_BOTH : KIFMM_NEAR_PARTNER;
      owned += nr->u_role[e] == KIFMM_NEAR_BOTH;
    }
  return owned;
}

/* Greedy colouring along the leaves: a leaf takes the smallest colour that no leaf coloured
 * before it and writing one of the same leaves has. Leaf b writes b and its owned partners;
 * leaf c is written by c and the owners of c's pairs (its PARTNER entries). */
static int colour_leaves(kifmm_near *nr, const kifmm_tree *t, const kifmm_lists *L,
                         int32_t *colour) {
  int64_t nl = t->nleaf, cap = 64;
  int64_t *seen = malloc((size_t)cap * sizeof(*seen));
  if (!seen)
    return KIFMM_ERR_OUT_OF_MEMORY;
  for (int64_t c = 0; c < cap; c++)
    seen[c] = -1;
  int32_t ncolour = 0;
  for (int64_t j = 0; j < nl; j++) {
    int64_t b = t->leaf_box[j];
    if (t->trg_end[b] == t->trg_begin[b])
      continue;
    /* mark the colours of the earlier writers of b and of each owned partner */
    for (int64_t e = L->u_ptr[b] - 1; e < L->u_ptr[b + 1]; e++) {
      int64_t c = e < L->u_ptr[b] ? b : L->u_idx[e];
      if (e >= L->u_ptr[b] && nr->u_role[e] != KIFMM_NEAR_BOTH)
        continue;
      if (colour[c] >= 0)
        seen[colour[c]] = b;
      for (int64_t f = L->u_ptr[c]; f < L->u_ptr[c + 1]; f++)
        if (nr->u_role[f] == KIFMM_NEAR_PARTNER && colour[L->u_idx[f]] >= 0)
          seen[colour[L->u_idx[f]]] = b;
    }
    int32_t k = 0;
    while (k < cap && seen[k] == b)
      k++;
    if (k == cap) {
      int64_t *grown = realloc(seen, (size_t)(2 * cap) * sizeof(*seen));
      if (!grown) {
        free(seen);
        return KIFMM_ERR_OUT_OF_MEMORY;
      }
      seen = grown;
      for (int64_t c = cap; c < 2 * cap; c++)
        seen[c] = -1;
      cap *= 2;
    }
    colour[b] = k;
    ncolour = k + 1 > ncolour ? k + 1 : ncolour;
  }
  free(seen);
  nr->ncolour = ncolour;
  return KIFMM_SUCCESS;
}

/* The leaves with targets grouped by colour, each colour's in box order. */
static int group_by_colour(kifmm_near *nr, const kifmm_tree *t, const int32_t *colour) {
  ALLOC(nr->colour_ptr, (size_t)nr->ncolour + 1);
  int64_t count = 0;
  for (int64_t j = 0; j < t->nleaf; j++)
    count += colour[t->leaf_box[j]] >= 0;
  ALLOC(nr->colour_box, count > 0 ? count : 1);
  memset(nr->colour_ptr, 0, ((size_t)nr->ncolour + 1) * sizeof(int64_t));
  for (int64_t j = 0; j < t->nleaf; j++)
    if (colour[t->leaf_box[j]] >= 0)
      nr->colour_ptr[colour[t->leaf_box[j]] + 1]++;
  for (int32_t c = 0; c < nr->ncolour; c++)
    nr->colour_ptr[c + 1] += nr->colour_ptr[c];
  int64_t *next;
  ALLOC(next, (size_t)nr->ncolour + 1);
  memcpy(next, nr->colour_ptr, ((size_t)nr->ncolour + 1) * sizeof(int64_t));
  for (int64_t b = 0; b < t->nbox; b++) /* box order */
    if (t->nchild[b] == 0 && colour[b] >= 0)
      nr->colour_box[next[colour[b]]++] = b;
  free(next);
  return KIFMM_SUCCESS;
}

int kifmm__near_build(kifmm_near *nr, const kifmm_tree *t, const kifmm_lists *L) {
  memset(nr, 0, sizeof(*nr));
  int64_t nu = L->u_ptr[t->nbox];
  uint8_t *self = NULL;
  int32_t *colour = NULL;
  int status = KIFMM_ERR_OUT_OF_MEMORY;
  if (kifmm__calloc((void **)&self, (size_t)t->nbox, 1) ||
      kifmm__calloc((void **)&colour, (size_t)t->nbox, sizeof(*colour)) ||
      kifmm__calloc((void **)&nr->u_role, (size_t)(nu > 0 ? nu : 1), 1))
    goto done;
  for (int64_t j = 0; j < t->nleaf; j++)
    self[t->leaf_box[j]] = (uint8_t)leaf_is_self(t, t->leaf_box[j]);
  if (set_roles(nr, t, L, self) == 0) { /* nothing to take both ways: no schedule */
    status = KIFMM_SUCCESS;
    goto done;
  }
  for (int64_t b = 0; b < t->nbox; b++)
    colour[b] = -1;
  if ((status = colour_leaves(nr, t, L, colour)) == KIFMM_SUCCESS)
    status = group_by_colour(nr, t, colour);
done:
  free(self);
  free(colour);
  if (status != KIFMM_SUCCESS || nr->ncolour == 0)
    kifmm__near_free(nr);
  return status;
}

void kifmm__near_free(kifmm_near *nr) {
  free(nr->u_role);
  free(nr->colour_ptr);
  free(nr->colour_box);
  memset(nr, 0, sizeof(*nr));
}

int64_t kifmm__near_bytes(const kifmm_near *nr, const kifmm_lists *L, const kifmm_tree *t) {
  if (!nr->u_role)
    return 0;
  return L->u_ptr[t->nbox] + (int64_t)(nr->ncolour + 1) * 8 +
         8 * (nr->colour_ptr ? nr->colour_ptr[nr->ncolour] : 0);
}
