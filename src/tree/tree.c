/* SPDX-License-Identifier: BSD-3-Clause */
/* Adaptive linear octree: points sorted once along the Morton curve, boxes refined while
 * they hold more than ncrit points, 2:1 balanced, then laid out as flat level-sorted arrays. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "tree/tree.h"

/* ---- boxes under construction: growable arrays plus a hash from (level, anchor) ---- */
typedef struct {
  kifmm_key anchor;
  int32_t level;
  int32_t split; /* 1 once its children exist */
  int64_t sb, se, tb, te; /* ranges in the sorted source / target keys */
} build_box;

/* Sorted points of one set as the refinement reads them: the 48-bit prefixes of their keys,
 * and the scaled coordinates that give the full key where prefixes tie (below level 16). Full
 * keys are rarely needed, so none are stored: half the memory, and no key to compute. */
typedef struct {
  const uint64_t *prefix;
  const double *x, *y, *z;
} sorted_set;

typedef struct {
  build_box *box;
  int64_t n, cap;
  int64_t *slot; /* hash table of box indices, -1 empty */
  int64_t nslot; /* power of two */
  sorted_set src, trg;
} builder;

static uint64_t hash_key(kifmm_key anchor, int level) {
  return ((uint64_t)anchor ^ (uint64_t)(anchor >> 64) * 0x9e3779b97f4a7c15ull) << 6 |
         (uint64_t)level;
}

static uint64_t hash_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

static int64_t builder_find(const builder *b, kifmm_key anchor, int level) {
  uint64_t key = hash_key(anchor, level), mask = (uint64_t)b->nslot - 1;
  for (uint64_t s = hash_mix(key) & mask;; s = (s + 1) & mask) {
    int64_t i = b->slot[s];
    if (i < 0)
      return -1;
    if (b->box[i].anchor == anchor && b->box[i].level == level)
      return i;
  }
}

static void hash_insert(builder *b, int64_t i) {
  uint64_t mask = (uint64_t)b->nslot - 1;
  uint64_t s = hash_mix(hash_key(b->box[i].anchor, b->box[i].level)) & mask;
  while (b->slot[s] >= 0)
    s = (s + 1) & mask;
  b->slot[s] = i;
}

static int builder_grow(builder *b) {
  if (b->n + 8 > b->cap) {
    int64_t cap = b->cap * 2;
    build_box *nb = realloc(b->box, (size_t)cap * sizeof(*nb));
    if (!nb)
      return KIFMM_ERR_OUT_OF_MEMORY;
    b->box = nb;
    b->cap = cap;
  }
  if (2 * (b->n + 8) > b->nslot) {
    free(b->slot);
    b->nslot *= 4;
    b->slot = malloc((size_t)b->nslot * sizeof(*b->slot));
    if (!b->slot)
      return KIFMM_ERR_OUT_OF_MEMORY;
    memset(b->slot, 0xff, (size_t)b->nslot * sizeof(*b->slot));
    for (int64_t i = 0; i < b->n; i++)
      hash_insert(b, i);
  }
  return KIFMM_SUCCESS;
}

/* 1 when the key of sorted point i is below value, the key of a box's first cell (its bits
 * below the box's level are 0). */
static int key_below(const sorted_set *set, int64_t i, kifmm_key value) {
  const int drop = 3 * KIFMM_KEY_BITS - KIFMM_PREFIX_BITS;
  uint64_t top = (uint64_t)(value >> drop);
  if (set->prefix[i] != top)
    return set->prefix[i] < top;
  if ((value & (((kifmm_key)1 << drop) - 1)) == 0) /* a box of level <= 16: key >= value */
    return 0;
  double u[3] = {set->x[i], set->y[i], set->z[i]};
  return kifmm__point_key(u) < value;
}

/* First index in [lo, hi) whose key is >= value. */
static int64_t lower_bound(const sorted_set *set, int64_t lo, int64_t hi, kifmm_key value) {
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (key_below(set, mid, value))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int64_t append_box(builder *b, kifmm_key anchor, int level, int64_t sb, int64_t se,
                          int64_t tb, int64_t te) {
  int64_t i = b->n++;
  b->box[i] = (build_box){anchor, level, 0, sb, se, tb, te};
  hash_insert(b, i);
  return i;
}

/* Where the points of box p's children end: ends[o] = (source end, target end) of octant o,
 * found by binary search in the parent's sorted ranges. */
static void child_ends(const builder *b, const build_box *p, int64_t ends[8][2]) {
  int shift = 3 * (KIFMM_KEY_BITS - (p->level + 1));
  int64_t sb = p->sb, tb = p->tb;
  for (unsigned o = 0; o < 7; o++) {
    kifmm_key next = ((p->anchor << 3 | o) + 1) << shift;
    sb = ends[o][0] = lower_bound(&b->src, sb, p->se, next);
    tb = ends[o][1] = lower_bound(&b->trg, tb, p->te, next);
  }
  ends[7][0] = p->se;
  ends[7][1] = p->te;
}

/* Create the non-empty children of box i, whose point ranges end at ends. */
static int add_children(builder *b, int64_t i, const int64_t ends[8][2]) {
  CHECK(builder_grow(b));
  build_box p = b->box[i];
  b->box[i].split = 1;
  int64_t sb = p.sb, tb = p.tb;
  for (unsigned o = 0; o < 8; o++) {
    int64_t se = ends[o][0], te = ends[o][1];
    if (se > sb || te > tb)
      append_box(b, p.anchor << 3 | o, p.level + 1, sb, se, tb, te);
    sb = se;
    tb = te;
  }
  return KIFMM_SUCCESS;
}

static int split_box(builder *b, int64_t i) {
  int64_t ends[8][2];
  child_ends(b, &b->box[i], ends);
  return add_children(b, i, ends);
}

/* Breadth first, a level at a time: the binary searches of a level's splits run in parallel
 * (they only read), then the children are appended in box order, as one box after the other
 * would append them. */
static int refine(builder *b, int ncrit, int max_level, int nthreads) {
  int64_t *split = NULL, cap = 0;
  int64_t (*ends)[8][2] = NULL;
  int status = KIFMM_SUCCESS;
  for (int64_t lo = 0, hi = b->n; lo < hi && status == KIFMM_SUCCESS; lo = hi, hi = b->n) {
    if (hi - lo > cap) {
      free(split);
      free(ends);
      cap = 2 * (hi - lo);
      split = malloc((size_t)cap * sizeof(*split));
      ends = malloc((size_t)cap * sizeof(*ends));
      if (!split || !ends) {
        status = KIFMM_ERR_OUT_OF_MEMORY;
        break;
      }
    }
    int64_t nsplit = 0;
    for (int64_t i = lo; i < hi; i++) {
      const build_box *x = &b->box[i];
      int64_t count = (x->se - x->sb) + (x->te - x->tb);
      if (count > ncrit && x->level < max_level)
        split[nsplit++] = i;
    }
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 16) if (nsplit > 64)
    for (int64_t j = 0; j < nsplit; j++)
      child_ends(b, &b->box[split[j]], ends[j]);
    for (int64_t j = 0; j < nsplit && status == KIFMM_SUCCESS; j++)
      status = add_children(b, split[j], (const int64_t(*)[2])ends[j]);
  }
  free(split);
  free(ends);
  return status;
}

/* Deepest existing box containing the level-`level` region `anchor`. */
static int64_t deepest_cover(const builder *b, kifmm_key anchor, int level) {
  for (int m = level; m >= 0; m--) {
    int64_t i = builder_find(b, anchor >> 3 * (level - m), m);
    if (i >= 0)
      return i;
  }
  return -1;
}

/* 2:1 balance: no leaf may touch a box two or more levels finer. Checking each box at
 * level l against the level l-1 regions it touches is enough, finest level first, since
 * splits only create boxes at coarser levels than the one being checked. */
static int balance(builder *b, int depth) {
  for (int l = depth; l >= 2; l--) {
    for (int64_t i = 0; i < b->n; i++) {
      if (b->box[i].level != l)
        continue;
      int64_t lo[3], hi[3];
      kifmm__coarser_cells_touching(b->box[i].anchor, l, lo, hi);
      for (int64_t x = lo[0]; x <= hi[0]; x++)
        for (int64_t y = lo[1]; y <= hi[1]; y++)
          for (int64_t z = lo[2]; z <= hi[2]; z++) {
            kifmm_key region = kifmm__morton_encode((uint64_t)x, (uint64_t)y, (uint64_t)z);
            for (;;) {
              int64_t a = deepest_cover(b, region, l - 1);
              if (a < 0 || b->box[a].level >= l - 1 || b->box[a].split)
                break;
              CHECK(split_box(b, a));
            }
          }
    }
  }
  return KIFMM_SUCCESS;
}

/* ---- points ---- */
void kifmm__bounds_extend(int64_t n, const double *xyz, double lo[3], double hi[3]) {
  for (int64_t i = 0; i < n; i++) /* finite inputs: plain compares, not libm's fmin */
    for (int d = 0; d < 3; d++) {
      double v = xyz[3 * i + d];
      lo[d] = v < lo[d] ? v : lo[d];
      hi[d] = v > hi[d] ? v : hi[d];
    }
}

/* Centre and half-extent from the corners, computed in halves so that coordinates near the
 * largest doubles cannot overflow. */
void kifmm__bounds_finish(const double lo_in[3], const double hi_in[3], int64_t npoint,
                          double center[3], double *half) {
  double lo[3], hi[3];
  /* The rounded centre may sit off the true midpoint by half an ulp of the coordinates,
   * which is a large fraction of the extent when the cloud is far from the origin: measure
   * the half-width from the rounded centre, never assume it. */
  double w = 0.0;
  for (int d = 0; d < 3; d++) {
    lo[d] = npoint == 0 ? 0.0 : lo_in[d];
    hi[d] = npoint == 0 ? 0.0 : hi_in[d];
    center[d] = 0.5 * lo[d] + 0.5 * hi[d];
    w = fmax(w, fmax(0.5 * hi[d] - 0.5 * center[d], 0.5 * center[d] - 0.5 * lo[d]));
  }
  /* a few ulps of margin so that rounding in the scaling never leaves [-1, 1] */
  *half = fmin(2.0 * w * (1.0 + 0x1p-49), DBL_MAX);
  if (!(*half > 0.0)) /* one point, repeated or not: any scale will do */
    *half = 1.0;
}

void kifmm__bounding_box(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                         double center[3], double *half) {
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  kifmm__bounds_extend(nsrc, src, lo, hi);
  kifmm__bounds_extend(ntrg, trg, lo, hi);
  kifmm__bounds_finish(lo, hi, nsrc + ntrg, center, half);
}

/* kifmm__bounds_extend() by blocks of points in parallel: minima and maxima are exact, so
 * the corners are those of one pass. */
static void bounds_parallel(int64_t n, const double *xyz, double lo[3], double hi[3],
                            int nthreads) {
#pragma omp parallel num_threads(nthreads) if (n > 65536)
  {
    int64_t nt = omp_get_num_threads(), me = omp_get_thread_num();
    double l[3] = {INFINITY, INFINITY, INFINITY}, h[3] = {-INFINITY, -INFINITY, -INFINITY};
    kifmm__bounds_extend(n * (me + 1) / nt - n * me / nt, xyz + 3 * (n * me / nt), l, h);
#pragma omp critical(kifmm_bounds)
    for (int d = 0; d < 3; d++) {
      lo[d] = l[d] < lo[d] ? l[d] : lo[d];
      hi[d] = h[d] > hi[d] ? h[d] : hi[d];
    }
  }
}

/* (x - center) / half, clamped so that rounding never leaves the root cube [-1, 1], and 0
 * within KIFMM_SNAP of the centre (tree.h: distinct points then stay 2^-202 apart). */
double kifmm__scaled(double x, double center, double half) {
  double u = 2.0 * ((0.5 * x - 0.5 * center) / half);
  if (fabs(u) < KIFMM_SNAP)
    return 0.0;
  return u < -1.0 ? -1.0 : (u > 1.0 ? 1.0 : u); /* inputs are finite: no NaN to order */
}

uint64_t kifmm__point_prefix(const double u[3]) {
  const double scale = ldexp(1.0, KIFMM_PREFIX_BITS / 3 - 1);
  const double top = ldexp(1.0, KIFMM_PREFIX_BITS / 3) - 1.0;
  uint64_t c[3];
  for (int d = 0; d < 3; d++) { /* the same cell as the full key's top bits: scale is 2^k */
    double v = (u[d] + 1.0) * scale;
    c[d] = (uint64_t)(v < top ? v : top);
  }
  return (uint64_t)kifmm__morton_encode(c[0], c[1], c[2]);
}

kifmm_key kifmm__point_key(const double u[3]) {
  const double scale = ldexp(1.0, KIFMM_KEY_BITS - 1); /* root side 2 -> 2^KEY_BITS cells */
  const double top = ldexp(1.0, KIFMM_KEY_BITS) - 1.0;
  uint64_t c[3];
  for (int d = 0; d < 3; d++) { /* u + 1 >= 0: truncation is floor */
    double v = (u[d] + 1.0) * scale;
    c[d] = (uint64_t)(v < top ? v : top);
  }
  return kifmm__morton_encode(c[0], c[1], c[2]);
}

/* How caller coordinates become scaled ones: by the bounding box (free space), or by a
 * periodic cell (cell = 1: origin, length, and the directions that wrap). */
typedef struct {
  const double *xyz, *center;
  double half;
  int cell;
  const double *origin;
  double length;
  const int32_t *periodic;
} scaling;

double kifmm__wrap_offset(double x, double origin, double length) {
  double v = fmod(x - origin, length);
  if (v < 0.0)
    v += length;
  return v < length ? v : 0.0; /* v + length may round up to length: that is the face 0 */
}

/* Scaled coordinate in a cell: u = 2 (x - origin) / L - 1, from the wrapped offset along a
 * periodic direction, so that a point and its images get the same u up to rounding. Being
 * 2 (v / L) - 1, u is a multiple of 2^-53: no snapping to the centre needed (tree.h). */
double kifmm__cell_scaled(double x, double origin, double length, int periodic) {
  double v = periodic ? kifmm__wrap_offset(x, origin, length) : x - origin;
  double u = 2.0 * (v / length) - 1.0;
  return u < -1.0 ? -1.0 : (u > 1.0 ? 1.0 : u);
}

static double cell_scaled(const scaling *sc, double x, int d) {
  return kifmm__cell_scaled(x, sc->origin[d], sc->length, sc->periodic[d]);
}

static void scaled_point(const scaling *sc, int64_t i, double u[3]) {
  for (int d = 0; d < 3; d++)
    u[d] = sc->cell ? cell_scaled(sc, sc->xyz[3 * i + d], d)
                    : kifmm__scaled(sc->xyz[3 * i + d], sc->center[d], sc->half);
}

static kifmm_key full_key_of(int64_t i, const void *ctx) {
  double u[3];
  scaled_point(ctx, i, u);
  return kifmm__point_key(u);
}

/* Sorted key prefixes, permutation and SoA coordinates of one point set. The sort runs on
 * the keys' 48-bit prefixes, as cheap as 16-level keys; only runs of equal prefixes need full
 * keys. The radix sort's scratch is the x and y arrays, which the gather fills only after it:
 * fresh memory costs a page fault per page, so the fewer new pages the faster. */
static int sort_points(int64_t n, const double *xyz, scaling sc, int nthreads,
                       uint64_t **prefix_out, int64_t **perm_out, double **x, double **y,
                       double **z) {
  sc.xyz = xyz;
  int64_t *perm;
  uint64_t *prefix;
  ALLOC(perm, n);
  *perm_out = perm;
  ALLOC(prefix, n);
  *prefix_out = prefix;
  ALLOC(*x, n);
  ALLOC(*y, n);
  ALLOC(*z, n);
  double *xs = *x, *ys = *y, *zs = *z;
#pragma omp parallel for num_threads(nthreads) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    double u[3];
    scaled_point(&sc, i, u);
    prefix[i] = kifmm__point_prefix(u);
    perm[i] = i;
  }
  _Static_assert(sizeof(double) == sizeof(uint64_t) && sizeof(double) == sizeof(int64_t),
                 "coordinate arrays hold the sort's scratch");
  CHECK(kifmm__radix_sort(prefix, perm, n, KIFMM_PREFIX_BITS, (uint64_t *)(void *)xs,
                          (int64_t *)(void *)ys, nthreads));
  CHECK(kifmm__sort_prefix_runs(prefix, perm, n, full_key_of, &sc));
  /* the gather misses the cache at every point: prefetching a few points ahead keeps the
   * misses in flight while each point is scaled */
  enum { AHEAD = 16 };
#pragma omp parallel for num_threads(nthreads) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    if (i + AHEAD < n)
      __builtin_prefetch(xyz + 3 * perm[i + AHEAD]);
    double u[3];
    scaled_point(&sc, perm[i], u);
    xs[i] = u[0];
    ys[i] = u[1];
    zs[i] = u[2];
  }
  return KIFMM_SUCCESS;
}

/* ---- final layout ---- */
/* Position of a box's first finest-level cell: orders the boxes of one level, and disjoint
 * boxes of any levels, along the Z curve. */
static kifmm_key curve_position(kifmm_key anchor, int level) {
  return anchor << 3 * (KIFMM_KEY_BITS - level);
}

/* Box indices sorted by level, then along the curve within each level. */
static int boxes_in_level_order(const builder *b, int64_t **order_out) {
  int64_t n = b->n, start[KIFMM_MAX_LEVEL + 2] = {0};
  int64_t *order;
  kifmm_key *key;
  ALLOC(order, n);
  *order_out = order;
  ALLOC(key, n);
  for (int64_t i = 0; i < n; i++)
    start[b->box[i].level + 1]++;
  for (int l = 0; l <= KIFMM_MAX_LEVEL; l++)
    start[l + 1] += start[l];
  int64_t fill[KIFMM_MAX_LEVEL + 1];
  memcpy(fill, start, sizeof(fill));
  for (int64_t i = 0; i < n; i++) {
    int64_t j = fill[b->box[i].level]++;
    order[j] = i;
    key[j] = curve_position(b->box[i].anchor, b->box[i].level);
  }
  int status = KIFMM_SUCCESS;
  for (int l = 0; l <= KIFMM_MAX_LEVEL && status == KIFMM_SUCCESS; l++)
    status = kifmm__sort_keys(key + start[l], order + start[l], start[l + 1] - start[l]);
  free(key);
  return status;
}

static int layout_boxes(kifmm_tree *t, const builder *b) {
  int64_t n = b->n;
  int64_t *order = NULL;
  int status = boxes_in_level_order(b, &order);
  if (status != KIFMM_SUCCESS) {
    free(order);
    return status;
  }
  t->nbox = n;
  int ok = kifmm__calloc((void **)&t->anchor, (size_t)n, sizeof(*t->anchor)) == 0 &&
           kifmm__calloc((void **)&t->level, (size_t)n, sizeof(*t->level)) == 0 &&
           kifmm__calloc((void **)&t->parent, (size_t)n, sizeof(*t->parent)) == 0 &&
           kifmm__calloc((void **)&t->first_child, (size_t)n, sizeof(*t->first_child)) == 0 &&
           kifmm__calloc((void **)&t->nchild, (size_t)n, sizeof(*t->nchild)) == 0 &&
           kifmm__calloc((void **)&t->leaf_index, (size_t)n, sizeof(*t->leaf_index)) == 0 &&
           kifmm__calloc((void **)&t->src_begin, (size_t)n, sizeof(int64_t)) == 0 &&
           kifmm__calloc((void **)&t->src_end, (size_t)n, sizeof(int64_t)) == 0 &&
           kifmm__calloc((void **)&t->trg_begin, (size_t)n, sizeof(int64_t)) == 0 &&
           kifmm__calloc((void **)&t->trg_end, (size_t)n, sizeof(int64_t)) == 0;
  if (!ok) {
    free(order);
    return KIFMM_ERR_OUT_OF_MEMORY;
  }
  for (int64_t i = 0; i < n; i++) {
    const build_box *x = &b->box[order[i]];
    t->anchor[i] = x->anchor;
    t->level[i] = (int8_t)x->level;
    t->src_begin[i] = x->sb;
    t->src_end[i] = x->se;
    t->trg_begin[i] = x->tb;
    t->trg_end[i] = x->te;
    t->first_child[i] = -1;
  }
  free(order);
  kifmm__tree_link_boxes(t);
  return KIFMM_SUCCESS;
}

void kifmm__tree_link_boxes(kifmm_tree *t) {
  const int64_t n = t->nbox;
  t->depth = t->level[n - 1];
  memset(t->level_ptr, 0, sizeof(t->level_ptr));
  for (int64_t i = 0; i < n; i++) {
    t->level_ptr[t->level[i] + 1]++;
    t->first_child[i] = -1;
    t->nchild[i] = 0;
  }
  for (int l = 0; l <= KIFMM_MAX_LEVEL; l++)
    t->level_ptr[l + 1] += t->level_ptr[l];
  t->parent[0] = -1;
  for (int64_t i = 1; i < n; i++) {
    int64_t p = kifmm__tree_find(t, t->level[i] - 1, t->anchor[i] >> 3);
    t->parent[i] = p;
    if (t->first_child[p] < 0)
      t->first_child[p] = i;
    t->nchild[p]++;
  }
}

static int64_t count_leaves(const kifmm_tree *t) {
  int64_t nleaf = 0;
  for (int64_t i = 0; i < t->nbox; i++)
    nleaf += t->nchild[i] == 0;
  return nleaf;
}

static int layout_leaves(kifmm_tree *t) {
  int64_t nleaf = count_leaves(t);
  ALLOC(t->leaf_box, nleaf);
  ALLOC(t->leaf_src_ptr, nleaf + 1);
  ALLOC(t->leaf_trg_ptr, nleaf + 1);
  return kifmm__tree_index_leaves(t);
}

int kifmm__tree_index_leaves(kifmm_tree *t) {
  int64_t nleaf = count_leaves(t);
  t->nleaf = nleaf;
  kifmm_key *pos;
  ALLOC(pos, nleaf + 1);
  for (int64_t i = 0, j = 0; i < t->nbox; i++) {
    t->leaf_index[i] = -1;
    if (t->nchild[i] == 0) {
      pos[j] = curve_position(t->anchor[i], t->level[i]);
      t->leaf_box[j++] = i;
    }
  }
  /* leaves are disjoint, so their first finest-level cell orders them along the curve */
  int status = kifmm__sort_keys(pos, t->leaf_box, nleaf);
  free(pos);
  CHECK(status);
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

static int build_boxes(kifmm_tree *t, builder *b, int ncrit, int max_level, int nthreads) {
  b->cap = 1024;
  b->nslot = 4096;
  b->box = malloc((size_t)b->cap * sizeof(*b->box));
  b->slot = malloc((size_t)b->nslot * sizeof(*b->slot));
  if (!b->box || !b->slot)
    return KIFMM_ERR_OUT_OF_MEMORY;
  memset(b->slot, 0xff, (size_t)b->nslot * sizeof(*b->slot));
  append_box(b, 0, 0, 0, t->nsrc, 0, t->ntrg);
  CHECK(refine(b, ncrit, max_level, nthreads));
  int depth = b->box[b->n - 1].level;
  CHECK(balance(b, depth));
  CHECK(layout_boxes(t, b));
  return layout_leaves(t);
}

/* Sorted points and boxes once t's scaling (center, half) is set. */
static int build_scaled(kifmm_tree *t, int64_t nsrc, const double *src, int64_t ntrg,
                        const double *trg, int ncrit, int max_level, int nthreads,
                        scaling sc) {
  t->nsrc = nsrc;
  t->ntrg = ntrg;
  t->origin[0] = t->origin[1] = t->origin[2] = -1.0;
  t->side = 2.0;
  uint64_t *sprefix = NULL, *tprefix = NULL;
  builder b = {0};
  int status = sort_points(nsrc, src, sc, nthreads, &sprefix, &t->src_perm, &t->sx, &t->sy,
                           &t->sz);
  if (status == KIFMM_SUCCESS)
    status = sort_points(ntrg, trg, sc, nthreads, &tprefix, &t->trg_perm, &t->tx, &t->ty,
                         &t->tz);
  if (status == KIFMM_SUCCESS) {
    b.src = (sorted_set){sprefix, t->sx, t->sy, t->sz};
    b.trg = (sorted_set){tprefix, t->tx, t->ty, t->tz};
    status = build_boxes(t, &b, ncrit, max_level, nthreads);
  }
  free(b.box);
  free(b.slot);
  free(sprefix);
  free(tprefix);
  return status;
}

int kifmm__tree_build(kifmm_tree *t, int64_t nsrc, const double *src, int64_t ntrg,
                      const double *trg, int ncrit, int max_level, int nthreads) {
  memset(t, 0, sizeof(*t));
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  bounds_parallel(nsrc, src, lo, hi, nthreads);
  bounds_parallel(ntrg, trg, lo, hi, nthreads);
  kifmm__bounds_finish(lo, hi, nsrc + ntrg, t->center, &t->half);
  const scaling sc = {.center = t->center, .half = t->half};
  return build_scaled(t, nsrc, src, ntrg, trg, ncrit, max_level, nthreads, sc);
}

int kifmm__tree_build_cell(kifmm_tree *t, int64_t nsrc, const double *src, int64_t ntrg,
                           const double *trg, int ncrit, int max_level, int nthreads,
                           const double origin[3], double length, const int32_t periodic[3]) {
  memset(t, 0, sizeof(*t));
  for (int d = 0; d < 3; d++) {
    t->center[d] = origin[d] + 0.5 * length;
    t->periodic[d] = periodic[d];
  }
  t->half = 0.5 * length;
  const scaling sc = {.center = t->center, .half = t->half, .cell = 1, .origin = origin,
                      .length = length, .periodic = periodic};
  return build_scaled(t, nsrc, src, ntrg, trg, ncrit, max_level, nthreads, sc);
}

void kifmm__tree_free(kifmm_tree *t) {
  void *arrays[] = {t->anchor,      t->level,        t->parent,       t->first_child,
                    t->nchild,      t->leaf_index,   t->src_begin,    t->src_end,
                    t->trg_begin,   t->trg_end,      t->leaf_box,     t->leaf_src_ptr,
                    t->leaf_trg_ptr, t->sx,          t->sy,           t->sz,
                    t->tx,          t->ty,           t->tz,           t->src_perm,
                    t->trg_perm};
  for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
    free(arrays[i]);
  memset(t, 0, sizeof(*t));
}

int64_t kifmm__tree_find(const kifmm_tree *t, int level, kifmm_key anchor) {
  if (level < 0 || level > t->depth)
    return -1;
  int64_t lo = t->level_ptr[level], hi = t->level_ptr[level + 1];
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (t->anchor[mid] < anchor)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < t->level_ptr[level + 1] && t->anchor[lo] == anchor ? lo : -1;
}

double kifmm__box_side(const kifmm_tree *t, int level) { return ldexp(t->side, -level); }

void kifmm__box_center(const kifmm_tree *t, int64_t box, double c[3]) {
  uint64_t a[3];
  kifmm__morton_decode(t->anchor[box], &a[0], &a[1], &a[2]);
  double h = kifmm__box_side(t, t->level[box]);
  for (int d = 0; d < 3; d++)
    c[d] = t->origin[d] + ((double)a[d] + 0.5) * h;
}

int64_t kifmm__tree_bytes(const kifmm_tree *t) {
  int64_t per_box = 16 + 1 + 8 + 8 + 1 + 8 + 4 * 8;
  int64_t per_leaf = 3 * 8;
  int64_t per_point = 3 * 8 + 8;
  return t->nbox * per_box + t->nleaf * per_leaf + (t->nsrc + t->ntrg) * per_point;
}

void kifmm__tree_leaf_load(const kifmm_tree *t, int ncrit, int64_t *max_count, int64_t *over) {
  *max_count = *over = 0;
  for (int64_t j = 0; j < t->nleaf; j++) {
    int64_t count = t->leaf_src_ptr[j + 1] - t->leaf_src_ptr[j] + t->leaf_trg_ptr[j + 1] -
                    t->leaf_trg_ptr[j];
    *max_count = count > *max_count ? count : *max_count;
    *over += count > ncrit;
  }
}
