/* SPDX-License-Identifier: BSD-3-Clause */
/* Interaction lists U (P2P), V (M2L), W (M2P) and X (P2L) in CSR form, from the tree.
 * Every (source point, target point) pair is covered exactly once by these four lists.
 * Periodic trees: the same, for every source image within the root's neighbours (shifts of
 * -1, 0, 1 cell along the periodic axes); the images beyond act through the root (the
 * periodic far-field operator). Neighbours across a periodic face are the wrapped boxes,
 * with the shift that takes them to their unwrapped place. */
#include <string.h>

#include "tree/tree.h"

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

static int periodic(const kifmm_tree *t) {
  return t->periodic[0] || t->periodic[1] || t->periodic[2];
}

static int has_src(const kifmm_tree *t, int64_t b) { return t->src_end[b] > t->src_begin[b]; }
static int has_trg(const kifmm_tree *t, int64_t b) { return t->trg_end[b] > t->trg_begin[b]; }
static int is_leaf(const kifmm_tree *t, int64_t b) { return t->nchild[b] == 0; }

/* ---- colleagues: the 27 same-level boxes around each box, found from the parent's ----
 * Slot (dx+1)*9 + (dy+1)*3 + (dz+1) holds the box at offset (dx, dy, dz) or -1: the order
 * of the offsets is lexicographic, the order in which the lists visit them. Building the
 * table level by level costs a few array reads per box instead of a search per neighbour.
 * Beside each box, its image shift (the shift codes of tree.h, the same numbering as the
 * slots): a box inherits its parent's, and the root's colleagues are its own images along
 * the periodic axes, so that wrapping needs no arithmetic below the root. */
#define NCOL 27

typedef struct {
  int64_t *box; /* NCOL a row */
  int8_t *sh;   /* NCOL a row */
} coltab;

static int col_slot(const int d[3]) { return (d[0] + 1) * 9 + (d[1] + 1) * 3 + (d[2] + 1); }
static void col_offset(int slot, int d[3]) {
  d[0] = slot / 9 - 1;
  d[1] = slot / 3 % 3 - 1;
  d[2] = slot % 3 - 1;
}

/* Octant bits of a box within its parent: the last digit of its anchor (x, y, z). */
static void octant(const kifmm_tree *t, int64_t b, int o[3]) {
  unsigned a = (unsigned)(t->anchor[b] & 7);
  o[0] = (int)(a >> 2 & 1);
  o[1] = (int)(a >> 1 & 1);
  o[2] = (int)(a & 1);
}

static void box_coords(const kifmm_tree *t, int64_t b, int64_t c[3]) {
  uint64_t x, y, z;
  kifmm__morton_decode(t->anchor[b], &x, &y, &z);
  c[0] = (int64_t)x;
  c[1] = (int64_t)y;
  c[2] = (int64_t)z;
}

/* Child of box p in octant (x, y, z), or -1 when that child is empty; children are few
 * and sorted by octant. */
static int64_t child_in_octant(const kifmm_tree *t, int64_t p, const int o[3]) {
  unsigned want = (unsigned)(o[0] << 2 | o[1] << 1 | o[2]);
  for (int64_t c = t->first_child[p]; c < t->first_child[p] + t->nchild[p]; c++)
    if ((unsigned)(t->anchor[c] & 7) == want)
      return c;
  return -1;
}

/* Colleagues of box b (not the root) from those of its parent (row parent of col): the
 * neighbour at offset d is a child of the parent's colleague at offset floor((o + d) / 2). */
static void colleagues_of(const kifmm_tree *t, coltab col, int64_t b, int64_t *out,
                          int8_t *out_sh) {
  int o[3];
  octant(t, b, o);
  const int64_t *pcol = col.box + NCOL * t->parent[b];
  const int8_t *psh = col.sh + NCOL * t->parent[b];
  for (int k = 0; k < NCOL; k++) {
    int d[3], pd[3], co[3];
    col_offset(k, d);
    for (int x = 0; x < 3; x++) { /* o + d in -1..2: +2 keeps the division a floor */
      pd[x] = (o[x] + d[x] + 2) / 2 - 1;
      co[x] = (o[x] + d[x] + 2) % 2;
    }
    int64_t pn = pcol[col_slot(pd)];
    out[k] = pn < 0 || is_leaf(t, pn) ? -1 : child_in_octant(t, pn, co);
    out_sh[k] = psh[col_slot(pd)];
  }
}

/* Rows of the table: the boxes above the deepest level (at least the root). The deepest
 * boxes, often most of them, are leaves whose colleagues only their own U list reads: it
 * makes them from the parent's row, which keeps the table a fraction of the lists' size. */
static int64_t colleague_rows(const kifmm_tree *t) {
  return t->level_ptr[t->depth] > 1 ? t->level_ptr[t->depth] : 1;
}

/* The colleagues of the boxes above the deepest level, one level after the other (a level
 * reads the one above). */
/* The root's row: itself, and in a periodic tree its images one cell away along the periodic
 * axes (slot k is the image shifted by the slot's offset, so its shift code is k). */
static void root_colleagues(const kifmm_tree *t, coltab col) {
  for (int k = 0; k < NCOL; k++) {
    int d[3], image = 1;
    col_offset(k, d);
    for (int x = 0; x < 3; x++)
      image &= d[x] == 0 || t->periodic[x];
    col.box[k] = image ? 0 : -1;
    col.sh[k] = (int8_t)k;
  }
}

static int colleague_table(const kifmm_tree *t, int nthreads, coltab *out) {
  int64_t nrow = colleague_rows(t);
  ALLOC(out->box, NCOL * nrow);
  ALLOC(out->sh, NCOL * nrow);
  coltab col = *out;
  root_colleagues(t, col);
  for (int l = 1; l < t->depth; l++) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t b = t->level_ptr[l]; b < t->level_ptr[l + 1]; b++)
      colleagues_of(t, col, b, col.box + NCOL * b, col.sh + NCOL * b);
  }
  return KIFMM_SUCCESS;
}

/* Growable per-thread list of box indices and their image shifts. */
typedef struct {
  int64_t *v;
  int8_t *s;
  int64_t n, cap;
  int failed;
} boxvec;

static void push(boxvec *a, int64_t x, int8_t shift) {
  if (a->n == a->cap) {
    int64_t cap = a->cap ? 2 * a->cap : 64;
    int64_t *nv = realloc(a->v, (size_t)cap * sizeof(*nv));
    if (nv)
      a->v = nv;
    int8_t *ns = nv ? realloc(a->s, (size_t)cap) : NULL;
    if (!ns) {
      a->failed = 1;
      return;
    }
    a->s = ns;
    a->cap = cap;
  }
  a->s[a->n] = shift;
  a->v[a->n++] = x;
}

static int contains(const boxvec *a, int64_t from, int64_t x, int8_t shift) {
  for (int64_t i = from; i < a->n; i++)
    if (a->v[i] == x && a->s[i] == shift)
      return 1;
  return 0;
}

/* Below box i (coordinates ic, a neighbour of leaf b): adjacent leaves go to U, non-adjacent
 * boxes whose parent is adjacent go to W, adjacent non-leaves are opened further. */
static void descend_near(const kifmm_tree *t, int64_t i, int8_t sh, const int64_t ic[3],
                         const int64_t bc[3], int lb, boxvec *u, boxvec *w) {
  int lc = t->level[i] + 1;
  for (int64_t c = t->first_child[i]; c < t->first_child[i] + t->nchild[i]; c++) {
    int o[3];
    int64_t cc[3];
    octant(t, c, o);
    for (int x = 0; x < 3; x++)
      cc[x] = 2 * ic[x] + o[x];
    if (!kifmm__cells_touch(cc, lc, bc, lb))
      push(w, c, sh);
    else if (is_leaf(t, c))
      push(u, c, sh);
    else
      descend_near(t, c, sh, cc, bc, lb, u, w);
  }
}

/* floor(v / 2^k): the cell of a coarser level holding cell v, also for v = -1 (a neighbour
 * across the lower face of a periodic tree). */
static int64_t floor_shift(int64_t v, int k) { return v >= 0 ? v >> k : -((-v - 1) >> k) - 1; }

/* The box covering the neighbour cell bc + d of box b (level l) at the deepest coarser level
 * where one exists: the ancestors' colleagues, walking up. Returns it when it is a leaf, with
 * its image shift in *sh. */
static int64_t coarser_leaf(const kifmm_tree *t, coltab col, int64_t b, int l,
                            const int64_t bc[3], const int d[3], int8_t *sh) {
  int64_t a = b;
  for (int m = l - 1; m >= 0; m--) {
    a = t->parent[a];
    int e[3];
    for (int x = 0; x < 3; x++)
      e[x] = (int)(floor_shift(bc[x] + d[x], l - m) - floor_shift(bc[x], l - m));
    int64_t i = col.box[NCOL * a + col_slot(e)];
    *sh = col.sh[NCOL * a + col_slot(e)];
    if (i >= 0)
      return is_leaf(t, i) ? i : -1;
  }
  return -1;
}

/* Raw U and W of leaf b, before filtering by sources and targets. */
static void near_field(const kifmm_tree *t, coltab col, int64_t b, boxvec *u, boxvec *w) {
  u->n = w->n = 0;
  int l = t->level[b];
  int64_t bc[3], side = (int64_t)1 << l, own[NCOL];
  int8_t own_sh[NCOL];
  const int64_t *mine = col.box + NCOL * b;
  const int8_t *mine_sh = col.sh + NCOL * b;
  if (b >= colleague_rows(t)) {
    colleagues_of(t, col, b, own, own_sh);
    mine = own;
    mine_sh = own_sh;
  }
  box_coords(t, b, bc);
  for (int k = 0; k < NCOL; k++) {
    int d[3];
    col_offset(k, d);
    int64_t i = mine[k];
    if (i >= 0) {
      if (is_leaf(t, i)) {
        push(u, i, mine_sh[k]);
      } else {
        int64_t ic[3] = {bc[0] + d[0], bc[1] + d[1], bc[2] + d[2]};
        descend_near(t, i, mine_sh[k], ic, bc, l, u, w);
      }
      continue;
    }
    int inside = 1; /* no box at this level: outside the root (never along a periodic axis,
                       where the cell repeats), or a coarser leaf may cover the region */
    for (int x = 0; x < 3; x++)
      inside &= t->periodic[x] || (bc[x] + d[x] >= 0 && bc[x] + d[x] < side);
    if (!inside)
      continue;
    int8_t sh = KIFMM_NO_SHIFT;
    int64_t a = coarser_leaf(t, col, b, l, bc, d, &sh);
    if (a >= 0 && !contains(u, 0, a, sh))
      push(u, a, sh);
  }
}

/* Transfer vector of a V candidate from the octants alone: child o of the parent's colleague
 * at slot k sits at 2 d + o - ob from box b (octant ob). Index 0..315, or -1 when adjacent. */
typedef int16_t tv_table[8][NCOL][8];

static void fill_tv_table(tv_table tab) {
  for (int ob = 0; ob < 8; ob++)
    for (int k = 0; k < NCOL; k++)
      for (int o = 0; o < 8; o++) {
        int d[3], off[3];
        col_offset(k, d);
        for (int x = 0; x < 3; x++)
          off[x] = 2 * d[x] + (o >> (2 - x) & 1) - (ob >> (2 - x) & 1);
        tab[ob][k][o] = (int16_t)kifmm__tv_index(off[0], off[1], off[2]);
      }
}

/* V of box b: children of the parent's colleagues with sources, not adjacent to b, written
 * with the index of their transfer vector at idx/tv when those are not NULL; returns the
 * count. From level 1 on: in a periodic tree the root's images have children that are not
 * adjacent to level-1 boxes (in free space level 1 finds none). */
static int64_t far_field(const kifmm_tree *t, const int64_t *col, const tv_table tab, int64_t b,
                         int64_t *idx, int16_t *tv) {
  if (t->level[b] < 1)
    return 0;
  int64_t p = t->parent[b], n = 0;
  unsigned ob = (unsigned)(t->anchor[b] & 7);
  for (int k = 0; k < NCOL; k++) {
    int64_t pn = col[NCOL * p + k];
    if (pn < 0 || is_leaf(t, pn))
      continue;
    for (int64_t c = t->first_child[pn]; c < t->first_child[pn] + t->nchild[pn]; c++) {
      int tvi = tab[ob][k][t->anchor[c] & 7];
      if (tvi < 0 || !has_src(t, c))
        continue;
      if (idx) {
        idx[n] = c;
        tv[n] = (int16_t)tvi;
      }
      n++;
    }
  }
  return n;
}

static int alloc_ptr(int64_t **ptr, const int64_t *count, int64_t n, int64_t **idx) {
  ALLOC(*ptr, n + 1);
  for (int64_t i = 0; i < n; i++)
    (*ptr)[i + 1] = (*ptr)[i] + count[i];
  ALLOC(*idx, (*ptr)[n]);
  return KIFMM_SUCCESS;
}

/* One of the two passes over the boxes: counts per box, then the lists filled at offsets
 * from those counts. Raw W (entries with targets, of boxes with sources) makes X. */
typedef struct {
  const kifmm_tree *t;
  coltab col;
  const int16_t (*tv)[NCOL][8]; /* tv_table */
  kifmm_lists *L;
  int64_t *cnt_u, *cnt_v, *cnt_w, *cnt_rw;
  int64_t *raw_w_ptr, *raw_w_idx;
  int8_t *raw_w_sh;
  int fill;
} pass;

/* Per-thread lists of one box's candidates. */
typedef struct {
  boxvec u, w;
} scratch;

/* Which lists a box gets, given the filters on sources and targets. */
static void count_or_fill(const pass *ps, int64_t b, scratch *s) {
  const kifmm_tree *t = ps->t;
  kifmm_lists *L = ps->L;
  int64_t nu = 0, nv = 0, nw = 0;
  if (is_leaf(t, b))
    near_field(t, ps->col, b, &s->u, &s->w);
  else
    s->u.n = s->w.n = 0;
  if (has_trg(t, b))
    nv = far_field(t, ps->col.box, ps->tv, b, ps->fill ? L->v_idx + L->v_ptr[b] : NULL,
                   ps->fill ? L->v_tv + L->v_ptr[b] : NULL);
  for (int64_t i = 0; i < s->u.n; i++)
    if (has_trg(t, b) && has_src(t, s->u.v[i])) {
      if (ps->fill)
        L->u_idx[L->u_ptr[b] + nu] = s->u.v[i];
      if (ps->fill && L->u_sh)
        L->u_sh[L->u_ptr[b] + nu] = s->u.s[i];
      nu++;
    }
  for (int64_t i = 0; i < s->w.n; i++)
    if (has_trg(t, b) && has_src(t, s->w.v[i])) {
      if (ps->fill)
        L->w_idx[L->w_ptr[b] + nw] = s->w.v[i];
      if (ps->fill && L->w_sh)
        L->w_sh[L->w_ptr[b] + nw] = s->w.s[i];
      nw++;
    }
  int64_t k = 0;
  if (has_src(t, b))
    for (int64_t i = 0; i < s->w.n; i++)
      if (has_trg(t, s->w.v[i])) {
        if (ps->fill) {
          ps->raw_w_idx[ps->raw_w_ptr[b] + k] = s->w.v[i];
          ps->raw_w_sh[ps->raw_w_ptr[b] + k] = s->w.s[i];
        }
        k++;
      }
  if (!ps->fill) {
    ps->cnt_u[b] = nu;
    ps->cnt_v[b] = nv;
    ps->cnt_w[b] = nw;
    ps->cnt_rw[b] = k;
  }
}

static int run_pass(const pass *ps, int nthreads) {
  int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
  {
    scratch s = {0};
#pragma omp for schedule(dynamic, 256)
    for (int64_t b = 0; b < ps->t->nbox; b++)
      count_or_fill(ps, b, &s);
    failed = s.u.failed | s.w.failed;
    free(s.u.v);
    free(s.w.v);
    free(s.u.s);
    free(s.w.s);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* X is the transpose of W: a leaf a with sources is in X(c) when c is in W(a); when that is
 * c's image shifted by s, a acts on c from its image shifted by -s. */
static int transpose_w(const kifmm_tree *t, kifmm_lists *L, const int64_t *rwp,
                       const int64_t *rwi, const int8_t *rws) {
  int64_t n = t->nbox, *cnt;
  ALLOC(cnt, n);
  for (int64_t i = 0; i < rwp[n]; i++)
    cnt[rwi[i]]++;
  int status = alloc_ptr(&L->x_ptr, cnt, n, &L->x_idx);
  if (status == KIFMM_SUCCESS && periodic(t))
    status = kifmm__calloc((void **)&L->x_sh, (size_t)L->x_ptr[n] + 1, 1);
  if (status == KIFMM_SUCCESS) {
    memset(cnt, 0, (size_t)n * sizeof(*cnt));
    for (int64_t a = 0; a < n; a++)
      for (int64_t i = rwp[a]; i < rwp[a + 1]; i++) {
        int64_t c = rwi[i], e = L->x_ptr[c] + cnt[c]++;
        L->x_idx[e] = a;
        if (L->x_sh)
          L->x_sh[e] = (int8_t)(2 * KIFMM_NO_SHIFT - rws[i]);
      }
  }
  free(cnt);
  return status;
}

static int build(kifmm_lists *L, const kifmm_tree *t, pass *ps, int nthreads) {
  int64_t n = t->nbox;
  CHECK(run_pass(ps, nthreads));
  CHECK(alloc_ptr(&L->u_ptr, ps->cnt_u, n, &L->u_idx));
  CHECK(alloc_ptr(&L->v_ptr, ps->cnt_v, n, &L->v_idx));
  ALLOC(L->v_tv, L->v_ptr[n]);
  CHECK(alloc_ptr(&L->w_ptr, ps->cnt_w, n, &L->w_idx));
  CHECK(alloc_ptr(&ps->raw_w_ptr, ps->cnt_rw, n, &ps->raw_w_idx));
  ALLOC(ps->raw_w_sh, ps->raw_w_ptr[n] + 1);
  if (periodic(t)) {
    ALLOC(L->u_sh, L->u_ptr[n] + 1);
    ALLOC(L->w_sh, L->w_ptr[n] + 1);
  }
  ps->fill = 1;
  CHECK(run_pass(ps, nthreads));
  return transpose_w(t, L, ps->raw_w_ptr, ps->raw_w_idx, ps->raw_w_sh);
}

int kifmm__lists_build(kifmm_lists *L, const kifmm_tree *t, int nthreads) {
  memset(L, 0, sizeof(*L));
  tv_table tv;
  fill_tv_table(tv);
  pass ps = {.t = t, .tv = (const int16_t(*)[NCOL][8])tv, .L = L};
  coltab col = {0};
  int64_t *cnt = NULL;
  int status = colleague_table(t, nthreads, &col);
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&cnt, (size_t)t->nbox * 4, sizeof(*cnt));
  if (status == KIFMM_SUCCESS) {
    ps.col = col;
    ps.cnt_u = cnt;
    ps.cnt_v = cnt + t->nbox;
    ps.cnt_w = cnt + 2 * t->nbox;
    ps.cnt_rw = cnt + 3 * t->nbox;
    status = build(L, t, &ps, nthreads);
  }
  free(col.box);
  free(col.sh);
  free(cnt);
  free(ps.raw_w_ptr);
  free(ps.raw_w_idx);
  free(ps.raw_w_sh);
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
  free(L->u_sh);
  free(L->w_sh);
  free(L->x_sh);
  memset(L, 0, sizeof(*L));
}

int64_t kifmm__lists_bytes(const kifmm_lists *L, const kifmm_tree *t) {
  if (!L->u_ptr)
    return 0;
  int64_t n = t->nbox, shifts = L->u_sh ? L->u_ptr[n] + L->w_ptr[n] + L->x_ptr[n] : 0;
  return 4 * (n + 1) * 8 + (L->u_ptr[n] + L->w_ptr[n] + L->x_ptr[n]) * 8 + L->v_ptr[n] * 10 +
         shifts;
}
