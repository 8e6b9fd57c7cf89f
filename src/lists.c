/* SPDX-License-Identifier: BSD-3-Clause */
/* Interaction lists U (P2P), V (M2L), W (M2P) and X (P2L) in CSR form, from the tree.
 * Every (source point, target point) pair is covered exactly once by these four lists. */
#include <string.h>

#include "internal.h"

static int clamp_count(int v) { return v + 1 < 0 ? 0 : (v + 1 > 3 ? 3 : v + 1); }

int kifmm__tv_index(int dx, int dy, int dz) {
  int m = dx < 0 ? -dx : dx;
  m = (dy < 0 ? -dy : dy) > m ? (dy < 0 ? -dy : dy) : m;
  m = (dz < 0 ? -dz : dz) > m ? (dz < 0 ? -dz : dz) : m;
  if (m < 2 || m > 3)
    return -1;
  int raw = (dx + 3) * 49 + (dy + 3) * 7 + (dz + 3);
  /* subtract the near offsets ([-1,1]^3) that come before it in lexicographic order */
  int near_x = dx >= -1 && dx <= 1, near_y = dy >= -1 && dy <= 1;
  int before = 9 * clamp_count(dx) + near_x * (3 * clamp_count(dy) + near_y * clamp_count(dz));
  return raw - before;
}

void kifmm__tv_offset(int index, int d[3]) {
  for (int x = -3; x <= 3; x++)
    for (int y = -3; y <= 3; y++)
      for (int z = -3; z <= 3; z++)
        if (kifmm__tv_index(x, y, z) == index) {
          d[0] = x;
          d[1] = y;
          d[2] = z;
          return;
        }
}

static int has_src(const kifmm_tree *t, int64_t b) { return t->src_end[b] > t->src_begin[b]; }
static int has_trg(const kifmm_tree *t, int64_t b) { return t->trg_end[b] > t->trg_begin[b]; }
static int is_leaf(const kifmm_tree *t, int64_t b) { return t->nchild[b] == 0; }

/* Growable per-thread list of box indices. */
typedef struct {
  int64_t *v;
  int64_t n, cap;
  int failed;
} boxvec;

static void push(boxvec *a, int64_t x) {
  if (a->n == a->cap) {
    int64_t cap = a->cap ? 2 * a->cap : 64;
    int64_t *nv = realloc(a->v, (size_t)cap * sizeof(*nv));
    if (!nv) {
      a->failed = 1;
      return;
    }
    a->v = nv;
    a->cap = cap;
  }
  a->v[a->n++] = x;
}

static int contains(const boxvec *a, int64_t from, int64_t x) {
  for (int64_t i = from; i < a->n; i++)
    if (a->v[i] == x)
      return 1;
  return 0;
}

/* Below box i (a neighbour of leaf b): adjacent leaves go to U, non-adjacent boxes whose
 * parent is adjacent go to W, adjacent non-leaves are opened further. */
static void descend_near(const kifmm_tree *t, int64_t i, int64_t b, boxvec *u, boxvec *w) {
  for (int64_t c = t->first_child[i]; c < t->first_child[i] + t->nchild[i]; c++) {
    if (!kifmm__boxes_adjacent(t->anchor[c], t->level[c], t->anchor[b], t->level[b]))
      push(w, c);
    else if (is_leaf(t, c))
      push(u, c);
    else
      descend_near(t, c, b, u, w);
  }
}

/* Raw U and W of leaf b, before filtering by sources and targets. */
static void near_field(const kifmm_tree *t, int64_t b, boxvec *u, boxvec *w) {
  u->n = w->n = 0;
  int l = t->level[b];
  for (int dx = -1; dx <= 1; dx++)
    for (int dy = -1; dy <= 1; dy++)
      for (int dz = -1; dz <= 1; dz++) {
        kifmm_key nb;
        if (!kifmm__morton_neighbor(t->anchor[b], l, dx, dy, dz, &nb))
          continue;
        int64_t i = kifmm__tree_find(t, l, nb);
        if (i >= 0) {
          if (is_leaf(t, i))
            push(u, i);
          else
            descend_near(t, i, b, u, w);
          continue;
        }
        /* no box at this level: a coarser leaf may cover the region */
        for (int m = l - 1; m >= 0; m--) {
          int64_t a = kifmm__tree_find(t, m, nb >> 3 * (l - m));
          if (a < 0)
            continue;
          if (is_leaf(t, a) && !contains(u, 0, a))
            push(u, a);
          break;
        }
      }
}

static void far_field(const kifmm_tree *t, int64_t b, boxvec *v) {
  v->n = 0;
  int l = t->level[b];
  if (l < 2)
    return;
  int64_t p = t->parent[b];
  for (int dx = -1; dx <= 1; dx++)
    for (int dy = -1; dy <= 1; dy++)
      for (int dz = -1; dz <= 1; dz++) {
        kifmm_key nb;
        if (!kifmm__morton_neighbor(t->anchor[p], l - 1, dx, dy, dz, &nb))
          continue;
        int64_t pn = kifmm__tree_find(t, l - 1, nb);
        if (pn < 0 || is_leaf(t, pn))
          continue;
        for (int64_t c = t->first_child[pn]; c < t->first_child[pn] + t->nchild[pn]; c++)
          if (has_src(t, c) && !kifmm__boxes_adjacent(t->anchor[c], l, t->anchor[b], l))
            push(v, c);
      }
}

static int tv_of(const kifmm_tree *t, int64_t trg, int64_t src) {
  uint64_t a[3], b[3];
  kifmm__morton_decode(t->anchor[trg], &a[0], &a[1], &a[2]);
  kifmm__morton_decode(t->anchor[src], &b[0], &b[1], &b[2]);
  return kifmm__tv_index((int)((int64_t)b[0] - (int64_t)a[0]), (int)((int64_t)b[1] - (int64_t)a[1]),
                         (int)((int64_t)b[2] - (int64_t)a[2]));
}

static int alloc_ptr(int64_t **ptr, const int64_t *count, int64_t n, int64_t **idx) {
  ALLOC(*ptr, n + 1);
  for (int64_t i = 0; i < n; i++)
    (*ptr)[i + 1] = (*ptr)[i] + count[i];
  ALLOC(*idx, (*ptr)[n]);
  return KIFMM_SUCCESS;
}

/* Which lists a box gets, given the filters on sources and targets. */
static void count_or_fill(const kifmm_tree *t, kifmm_lists *L, int64_t b, boxvec *u, boxvec *w,
                          boxvec *v, int64_t *cnt_u, int64_t *cnt_v, int64_t *cnt_w,
                          int64_t *cnt_rw, int64_t *raw_w_ptr, int64_t *raw_w_idx, int fill) {
  int64_t nu = 0, nv = 0, nw = 0;
  if (is_leaf(t, b))
    near_field(t, b, u, w);
  else
    u->n = w->n = 0;
  if (has_trg(t, b))
    far_field(t, b, v);
  else
    v->n = 0;
  for (int64_t i = 0; i < u->n; i++)
    if (has_trg(t, b) && has_src(t, u->v[i])) {
      if (fill)
        L->u_idx[L->u_ptr[b] + nu] = u->v[i];
      nu++;
    }
  for (int64_t i = 0; i < w->n; i++)
    if (has_trg(t, b) && has_src(t, w->v[i])) {
      if (fill)
        L->w_idx[L->w_ptr[b] + nw] = w->v[i];
      nw++;
    }
  for (int64_t i = 0; i < v->n; i++) {
    if (fill) {
      L->v_idx[L->v_ptr[b] + nv] = v->v[i];
      L->v_tv[L->v_ptr[b] + nv] = (int16_t)tv_of(t, b, v->v[i]);
    }
    nv++;
  }
  if (fill) {
    /* raw W with targets, for the transpose that makes X (sources of b needed) */
    int64_t k = 0;
    if (has_src(t, b))
      for (int64_t i = 0; i < w->n; i++)
        if (has_trg(t, w->v[i]))
          raw_w_idx[raw_w_ptr[b] + k++] = w->v[i];
  } else {
    cnt_u[b] = nu;
    cnt_v[b] = nv;
    cnt_w[b] = nw;
    int64_t k = 0;
    if (has_src(t, b))
      for (int64_t i = 0; i < w->n; i++)
        k += has_trg(t, w->v[i]);
    cnt_rw[b] = k;
  }
}

static int run_pass(const kifmm_tree *t, kifmm_lists *L, int64_t *cu, int64_t *cv, int64_t *cw,
                    int64_t *crw, int64_t *rwp, int64_t *rwi, int fill, int nthreads) {
  int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
  {
    boxvec u = {0}, w = {0}, v = {0};
#pragma omp for schedule(dynamic, 256)
    for (int64_t b = 0; b < t->nbox; b++)
      count_or_fill(t, L, b, &u, &w, &v, cu, cv, cw, crw, rwp, rwi, fill);
    failed = u.failed | w.failed | v.failed;
    free(u.v);
    free(w.v);
    free(v.v);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* X is the transpose of W: a leaf a with sources is in X(c) when c is in W(a). */
static int transpose_w(const kifmm_tree *t, kifmm_lists *L, const int64_t *rwp,
                       const int64_t *rwi) {
  int64_t n = t->nbox, *cnt;
  ALLOC(cnt, n);
  for (int64_t i = 0; i < rwp[n]; i++)
    cnt[rwi[i]]++;
  int status = alloc_ptr(&L->x_ptr, cnt, n, &L->x_idx);
  if (status == KIFMM_SUCCESS) {
    memset(cnt, 0, (size_t)n * sizeof(*cnt));
    for (int64_t a = 0; a < n; a++)
      for (int64_t i = rwp[a]; i < rwp[a + 1]; i++) {
        int64_t c = rwi[i];
        L->x_idx[L->x_ptr[c] + cnt[c]++] = a;
      }
  }
  free(cnt);
  return status;
}

static int build(kifmm_lists *L, const kifmm_tree *t, int64_t *cu, int64_t *cv, int64_t *cw,
                 int64_t *crw, int nthreads) {
  int64_t n = t->nbox, *rwp = NULL, *rwi = NULL;
  CHECK(run_pass(t, L, cu, cv, cw, crw, NULL, NULL, 0, nthreads));
  CHECK(alloc_ptr(&L->u_ptr, cu, n, &L->u_idx));
  CHECK(alloc_ptr(&L->v_ptr, cv, n, &L->v_idx));
  ALLOC(L->v_tv, L->v_ptr[n]);
  CHECK(alloc_ptr(&L->w_ptr, cw, n, &L->w_idx));
  int status = alloc_ptr(&rwp, crw, n, &rwi);
  if (status == KIFMM_SUCCESS)
    status = run_pass(t, L, cu, cv, cw, crw, rwp, rwi, 1, nthreads);
  if (status == KIFMM_SUCCESS)
    status = transpose_w(t, L, rwp, rwi);
  free(rwp);
  free(rwi);
  return status;
}

int kifmm__lists_build(kifmm_lists *L, const kifmm_tree *t, int nthreads) {
  memset(L, 0, sizeof(*L));
  int64_t *cu = NULL, *cv = NULL, *cw = NULL, *crw = NULL;
  int status = kifmm__calloc((void **)&cu, (size_t)t->nbox * 4, sizeof(*cu));
  if (status == KIFMM_SUCCESS) {
    cv = cu + t->nbox;
    cw = cv + t->nbox;
    crw = cw + t->nbox;
    status = build(L, t, cu, cv, cw, crw, nthreads);
  }
  free(cu);
  if (status != KIFMM_SUCCESS)
    kifmm__lists_free(L);
  return status;
}

void kifmm__lists_free(kifmm_lists *L) {
  free(L->u_ptr);
  free(L->u_idx);
  free(L->v_ptr);
  free(L->v_idx);
  free(L->v_tv);
  free(L->w_ptr);
  free(L->w_idx);
  free(L->x_ptr);
  free(L->x_idx);
  memset(L, 0, sizeof(*L));
}

int64_t kifmm__lists_bytes(const kifmm_lists *L, const kifmm_tree *t) {
  if (!L->u_ptr)
    return 0;
  int64_t n = t->nbox;
  return 4 * (n + 1) * 8 + (L->u_ptr[n] + L->w_ptr[n] + L->x_ptr[n]) * 8 + L->v_ptr[n] * 10;
}
