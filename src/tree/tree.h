/* SPDX-License-Identifier: BSD-3-Clause */
/* Morton keys, the linear octree and the U/V/W/X interaction lists (src/tree/): flat arrays
 * with index bookends, knowing nothing of kernels or operators. */
#ifndef KIFMM_TREE_H
#define KIFMM_TREE_H

#include "util/util.h"

/* ---- Morton keys (morton.c) ----
 * A box is (level, anchor): anchor = interleaved integer coordinates at that level,
 * x in bit 2, y in bit 1, z in bit 0 of each octal digit. */
#define KIFMM_KEY_BITS KIFMM_MAX_LEVEL /* bits per coordinate of a point key */

/* 3 * 42 = 126 bits: two machine words, compared and shifted as one integer. */
__extension__ typedef unsigned __int128 kifmm_key;

KIFMM_INTERNAL kifmm_key kifmm__morton_encode(uint64_t ix, uint64_t iy, uint64_t iz);
KIFMM_INTERNAL void kifmm__morton_decode(kifmm_key code, uint64_t *ix, uint64_t *iy, uint64_t *iz);
/* Neighbour of anchor `code` at `level` shifted by (dx, dy, dz); returns 0 when outside. */
KIFMM_INTERNAL int kifmm__morton_neighbor(kifmm_key code, int level, int dx, int dy, int dz,
                                          kifmm_key *out);
/* The level-1 coarser cells [lo, hi] (per coordinate) that touch box (anchor, level): the
 * cells 2:1 balance checks. */
KIFMM_INTERNAL void kifmm__coarser_cells_touching(kifmm_key anchor, int level, int64_t lo[3],
                                                 int64_t hi[3]);
/* Two boxes (possibly at different levels) touch or overlap. */
KIFMM_INTERNAL int kifmm__boxes_adjacent(kifmm_key a, int la, kifmm_key b, int lb);
/* The same for boxes given by their integer coordinates at their levels. */
KIFMM_INTERNAL int kifmm__cells_touch(const int64_t a[3], int la, const int64_t b[3], int lb);
/* Sort 64-bit keys ascending and apply the same permutation to idx (LSD radix sort, stable,
 * the same result at any thread count). key_tmp and idx_tmp: room for n of each that the sort
 * may overwrite, or NULL to allocate it. */
KIFMM_INTERNAL int kifmm__radix_sort(uint64_t *keys, int64_t *idx, int64_t n, int key_bits,
                                     uint64_t *key_tmp, int64_t *idx_tmp, int nthreads);
/* Orders the runs of equal 48-bit prefixes (after kifmm__radix_sort on them) by full keys. */
KIFMM_INTERNAL int kifmm__sort_prefix_runs(const uint64_t *prefix, int64_t *idx, int64_t n,
                                           kifmm_key (*full_key)(int64_t idx, const void *ctx),
                                           const void *ctx);
#define KIFMM_PREFIX_BITS 48 /* the top 16 levels of a key */
/* Sort full keys ascending, stable, and apply the same permutation to idx. */
KIFMM_INTERNAL int kifmm__sort_keys(kifmm_key *keys, int64_t *idx, int64_t n);

/* ---- Octree (tree.c) ---- */
typedef struct kifmm_tree {
  int64_t nsrc, ntrg;
  /* Points are stored in coordinates u = (x - center) / half, so the root cube is always
   * [-1, 1]^3: accuracy does not depend on where the cloud sits or how large it is, and box
   * centres are exact binary fractions at every level. */
  double center[3]; /* centre of the bounding box of the caller's points */
  double half;      /* half the largest extent of that box (> 0) */
  double origin[3]; /* lower corner of the root cube in scaled coordinates: -1 */
  double side;      /* side of the root cube in scaled coordinates: 2 */
  /* Periodic plans (kifmm__tree_build_cell): the root is the cell itself (center = origin +
   * L/2, half = L/2) and periodic[d] = 1 along the directions whose images are summed; the
   * lists then see wrapped neighbours (lists.c). All 0 in free space. */
  int32_t periodic[3];
  int32_t depth;    /* deepest level */
  int64_t nbox, nleaf;
  int64_t level_ptr[KIFMM_MAX_LEVEL + 2]; /* boxes of level l: [level_ptr[l], level_ptr[l+1]) */
  /* boxes, sorted by level then anchor */
  kifmm_key *anchor;
  int8_t *level;
  int64_t *parent;      /* -1 for the root */
  int64_t *first_child; /* -1 for a leaf; children are contiguous */
  int8_t *nchild;
  int64_t *leaf_index;  /* position in the leaf arrays, -1 for a non-leaf */
  int64_t *src_begin, *src_end; /* points of the box's subtree in Morton-sorted order */
  int64_t *trg_begin, *trg_end;
  /* leaves in Morton order with CSR bookends into the sorted points */
  int64_t *leaf_box;
  int64_t *leaf_src_ptr; /* nleaf+1 */
  int64_t *leaf_trg_ptr; /* nleaf+1 */
  /* Morton-sorted points, structure of arrays, and the maps back to caller order */
  double *sx, *sy, *sz, *tx, *ty, *tz;
  int64_t *src_perm, *trg_perm; /* sorted position -> caller index */
} kifmm_tree;

/* Bounding box in two steps so that ranks can combine their corners (partition.c):
 * extend lo/hi (start at +inf/-inf) by n points, then centre and half-width of the root
 * cube for npoint points in all; the serial tree uses the same two calls. */
KIFMM_INTERNAL void kifmm__bounds_extend(int64_t n, const double *xyz, double lo[3], double hi[3]);
KIFMM_INTERNAL void kifmm__bounds_finish(const double lo[3], const double hi[3], int64_t npoint,
                                         double center[3], double *half);
/* Scaled coordinates within KIFMM_SNAP = 2^-150 of the centre are taken as 0. Otherwise two
 * distinct scaled points, whose coordinates are then 0 or at least 2^-150 in size, would be
 * as close as the smallest doubles near 0 (two points 1e-110 apart there): the sums' 1/r^3 and
 * Stokes' 1/r^5 overflow and their 1/sqrt estimates need a normal r^2. With the snap, two
 * coordinates differ by 0 or by at least an ulp of 2^-150, 2^-202: 1/r^5 < 2^1015 (the
 * AVX-512 sums' 2/r included), r^2 normal. Moving a coordinate by under 7e-46 of the half-width
 * changes no result but those of pairs that close, which become coincident (distance 0,
 * contributing nothing) instead of overflowing. */
#define KIFMM_SNAP 0x1p-150
/* Scaled coordinate in [-1, 1] and the finest-level key of a scaled point. */
KIFMM_INTERNAL double kifmm__scaled(double x, double center, double half);
KIFMM_INTERNAL kifmm_key kifmm__point_key(const double u[3]);
/* The top KIFMM_PREFIX_BITS of kifmm__point_key(u), in one word: what the sorts sort on. */
KIFMM_INTERNAL uint64_t kifmm__point_prefix(const double u[3]);
KIFMM_INTERNAL int kifmm__tree_build(kifmm_tree *t, int64_t nsrc, const double *src, int64_t ntrg,
                                     const double *trg, int ncrit, int max_level, int nthreads);
/* The tree of a periodic cell [origin, origin + length]^3: the root is the cell whatever the
 * points' extent, and coordinates along the directions with periodic[d] = 1 are first wrapped
 * into [origin, origin + length) (points may lie anywhere there); along the others they must
 * already lie in the cell (the plan checks it; rounding is clamped). */
KIFMM_INTERNAL int kifmm__tree_build_cell(kifmm_tree *t, int64_t nsrc, const double *src,
                                          int64_t ntrg, const double *trg, int ncrit,
                                          int max_level, int nthreads, const double origin[3],
                                          double length, const int32_t periodic[3]);
/* x wrapped into [0, length) as an offset from origin: x - origin less a whole number of
 * periods (fmod is exact), the upper face going to 0. */
KIFMM_INTERNAL double kifmm__wrap_offset(double x, double origin, double length);
/* Scaled coordinate of x in a cell along one axis, as kifmm__tree_build_cell() computes it
 * (wrapped when periodic != 0, clamped to [-1, 1]): the distributed partition scales by it. */
KIFMM_INTERNAL double kifmm__cell_scaled(double x, double origin, double length, int periodic);
KIFMM_INTERNAL void kifmm__tree_free(kifmm_tree *t);
/* From boxes sorted by level, then along the curve (nbox, anchor, level set): depth,
 * level_ptr, parent, first_child and nchild. */
KIFMM_INTERNAL void kifmm__tree_link_boxes(kifmm_tree *t);
/* Leaves (boxes without children) along the curve: nleaf, leaf_box, leaf_index and the CSR
 * bookends from the boxes' point ranges (arrays allocated for every leaf). */
KIFMM_INTERNAL int kifmm__tree_index_leaves(kifmm_tree *t);
/* Centre and largest half-width of the points' bounding box (the scaling of the tree). */
KIFMM_INTERNAL void kifmm__bounding_box(int64_t nsrc, const double *src, int64_t ntrg,
                                        const double *trg, double center[3], double *half);

KIFMM_INTERNAL void kifmm__box_center(const kifmm_tree *t, int64_t box, double c[3]);
KIFMM_INTERNAL double kifmm__box_side(const kifmm_tree *t, int level);
KIFMM_INTERNAL int64_t kifmm__tree_find(const kifmm_tree *t, int level, kifmm_key anchor);
/* Largest sources+targets count of a leaf, and leaves over ncrit (only at max_level). */
KIFMM_INTERNAL void kifmm__tree_leaf_load(const kifmm_tree *t, int ncrit, int64_t *max_count,
                                          int64_t *over);
KIFMM_INTERNAL int64_t kifmm__tree_bytes(const kifmm_tree *t);

/* ---- Interaction lists (lists.c) ----
 * CSR per box: list of box b is idx[ptr[b] .. ptr[b+1]). Boxes without targets in their
 * subtree have empty lists; listed boxes all hold sources. v_tv holds the transfer-vector
 * index (0..315) of each V entry. */
typedef struct kifmm_lists {
  int64_t *u_ptr, *u_idx;
  int64_t *v_ptr, *v_idx;
  int16_t *v_tv;
  int64_t *w_ptr, *w_idx;
  int64_t *x_ptr, *x_idx;
  /* Periodic trees only (NULL in free space): the image of each U, W and X entry, a shift
   * code (kifmm__shift_code): the entry's sources act from their box moved by that many cell
   * sides (t->side) along each axis. A box may appear twice in one list with two shifts. V
   * needs none: its transfer vector is the unwrapped offset. */
  int8_t *u_sh, *w_sh, *x_sh;
} kifmm_lists;

/* Image shifts s in {-1, 0, 1}^3 as one code 9 (s_x + 1) + 3 (s_y + 1) + (s_z + 1);
 * KIFMM_NO_SHIFT is s = 0, and 26 - code the opposite shift. */
#define KIFMM_NO_SHIFT 13
static inline void kifmm__shift_vector(int code, int s[3]) {
  s[0] = code / 9 - 1;
  s[1] = code / 3 % 3 - 1;
  s[2] = code % 3 - 1;
}

/* ---- The near field's schedule where targets are sources (near.c) ----
 * Role of each U entry (b, a): taken one way (a's sources to b's targets), both ways by b
 * (the pair's owner, the leaf of smaller box index), or not by b (a owns it). Both ways only
 * where the two leaves' targets are their sources point for point and a is not a periodic
 * image. colour_box lists the leaves with targets by colour (colour_ptr, ncolour + 1): the
 * leaves of one colour write disjoint targets, their own and their owned partners'. No
 * arrays (ncolour 0) where no pair is taken both ways. */
enum { KIFMM_NEAR_ONE_WAY = 0, KIFMM_NEAR_BOTH = 1, KIFMM_NEAR_PARTNER = 2 };
typedef struct kifmm_near {
  int8_t *u_role;
  int32_t ncolour;
  int64_t *colour_ptr, *colour_box;
} kifmm_near;
KIFMM_INTERNAL int kifmm__near_build(kifmm_near *nr, const kifmm_tree *t, const kifmm_lists *L);
KIFMM_INTERNAL void kifmm__near_free(kifmm_near *nr);
KIFMM_INTERNAL int64_t kifmm__near_bytes(const kifmm_near *nr, const kifmm_lists *L,
                                         const kifmm_tree *t);

#define KIFMM_NTV 316
/* Target boxes one M2L block takes at most (evaluate.c); the memory estimate counts it. */
KIFMM_INTERNAL int kifmm__lists_build(kifmm_lists *l, const kifmm_tree *t, int nthreads);
KIFMM_INTERNAL void kifmm__lists_free(kifmm_lists *l);
KIFMM_INTERNAL int64_t kifmm__lists_bytes(const kifmm_lists *l, const kifmm_tree *t);
/* Index 0..315 of the transfer vector (dx,dy,dz), |d|_inf in {2,3}; -1 otherwise. */
KIFMM_INTERNAL int kifmm__tv_index(int dx, int dy, int dz);
KIFMM_INTERNAL void kifmm__tv_offset(int index, int d[3]);
/* The 6 M2L direction groups: group 2a + s holds the transfer vectors whose largest
 * component (in absolute value) lies on axis a, positive for s = 0, negative for s = 1; a
 * vector with several largest components goes to the first such group. */
enum { KIFMM_M2L_GROUPS = 6 };
KIFMM_INTERNAL int kifmm__tv_group(int index);
/* Whether offset d lies in group g's closed cone: its component on g's axis, with g's sign,
 * is its largest in absolute value (ties belong to several cones). */
KIFMM_INTERNAL int kifmm__tv_in_cone(int g, const int d[3]);

#endif /* KIFMM_TREE_H */
