/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal data structures shared by the modules of kifmm-c: tree, lists, operators, plan.
 * Everything is flat arrays with index bookends; nothing here is part of the public API. */
#ifndef KIFMM_INTERNAL_H
#define KIFMM_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>

#include "kifmm.h"

#define KIFMM_INTERNAL __attribute__((visibility("hidden")))
#define KIFMM_INV_4PI 0.079577471545947667884 /* 1 / (4 pi) */

/* Return the status of a call up the stack when it is not success. */
#define CHECK(call)                        \
  do {                                     \
    int check_status_ = (call);            \
    if (check_status_ != KIFMM_SUCCESS)    \
      return check_status_;                \
  } while (0)

/* Allocate n elements of *ptr's type, zeroed; returns KIFMM_ERR_OUT_OF_MEMORY on failure. */
#define ALLOC(ptr, n) CHECK(kifmm__calloc((void **)&(ptr), (size_t)(n), sizeof(*(ptr))))

KIFMM_INTERNAL int kifmm__calloc(void **ptr, size_t n, size_t size);
/* Uninitialized, for large arrays filled right away (operators read from the cache): backed
 * by huge pages where the system offers them on request. Freed with free(). */
KIFMM_INTERNAL int kifmm__alloc_large(void **ptr, size_t n, size_t size);
KIFMM_INTERNAL double kifmm__wtime(void);
/* 1 when none of the n values is NaN or infinite. */
KIFMM_INTERNAL int kifmm__all_finite(int64_t n, const double *v);

/* ---- Instruction set of the hot loops (simd.c), chosen once per process ---- */
typedef enum { KIFMM_SIMD_PORTABLE, KIFMM_SIMD_AVX2, KIFMM_SIMD_AVX512 } kifmm_simd;
/* Best path the CPU supports, lowered by KIFMM_SIMD=avx2|portable; thread-safe. */
KIFMM_INTERNAL kifmm_simd kifmm__simd(void);
KIFMM_INTERNAL const char *kifmm__simd_name(kifmm_simd s);
#define KIFMM_TARGET_AVX512 __attribute__((target("avx512f")))
#define KIFMM_TARGET_AVX2 __attribute__((target("avx2,fma")))

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
/* Scaled coordinate in [-1, 1] and the finest-level key of a scaled point. */
KIFMM_INTERNAL double kifmm__scaled(double x, double center, double half);
KIFMM_INTERNAL kifmm_key kifmm__point_key(const double u[3]);
KIFMM_INTERNAL int kifmm__tree_build(kifmm_tree *t, int64_t nsrc, const double *src, int64_t ntrg,
                                     const double *trg, int ncrit, int max_level, int nthreads);
KIFMM_INTERNAL void kifmm__tree_free(kifmm_tree *t);
/* From boxes sorted by level, then along the curve (nbox, anchor, level set): depth,
 * level_ptr, parent, first_child and nchild. */
KIFMM_INTERNAL void kifmm__tree_link_boxes(kifmm_tree *t);
/* Leaves (boxes without children) along the curve: nleaf, leaf_box, leaf_index and the CSR
 * bookends from the boxes' point ranges (arrays allocated for every leaf). */
KIFMM_INTERNAL int kifmm__tree_index_leaves(kifmm_tree *t);
/* Keeps the boxes with keep[b] set and their ancestors (keep is completed in place), renumbers
 * the lists (whose entries must all be kept) and sets old2new[b] (-1 for a dropped box). Dropped
 * boxes must hold no points (prune.c). */
struct kifmm_lists;
KIFMM_INTERNAL int kifmm__tree_prune(kifmm_tree *t, struct kifmm_lists *L, int8_t *keep,
                                     int64_t *old2new);
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
} kifmm_lists;

#define KIFMM_NTV 316
/* Target boxes one M2L block takes at most (evaluate.c); the memory estimate counts it. */
#define KIFMM_M2L_BLOCK_MAX 512
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

/* ---- Kernel (kernel_laplace.c): 1/r without the 1/(4 pi), applied once at the end ---- */
/* How closely the direct sums take 1/r: to double precision (each pair within a few ulp), or
 * within 1.5e-13 relative for one multiplier op a pair less, where the expansion order's own
 * error is far above that (kifmm__rsqrt_for_order). Only the AVX-512 path has the fast form;
 * the others always give full precision. */
typedef enum { KIFMM_RSQRT_FULL = 0, KIFMM_RSQRT_FAST = 1 } kifmm_rsqrt;
/* The largest relative error of one pair's 1/r in KIFMM_RSQRT_FAST (kernel_laplace.c). */
#define KIFMM_RSQRT_FAST_ERROR 1.5e-13

/* pot[j] += sum_i q_i / |y_j - x_i|, grad[3j..] += sum_i q_i d/dy (1/|y-x|) (grad may be NULL).
 * Sources in SoA (x,y,z), targets in SoA. Pairs at distance 0 are skipped. */
KIFMM_INTERNAL void kifmm__p2p(kifmm_rsqrt acc, int64_t ns, const double *sx, const double *sy,
                               const double *sz, const double *q, int64_t nt, const double *tx,
                               const double *ty, const double *tz, double *pot, double *gx,
                               double *gy, double *gz);
/* The same for nv charge vectors at once, the geometry of each pair computed once for all:
 * charge of vector v at source j is q[j*qs + v*qv]; results of vector v at target i go to
 * pot[i + v*ldo] (gx, gy, gz likewise, all NULL for potential only). nv == 1 with qs == 1 is
 * kifmm__p2p itself. */
KIFMM_INTERNAL void kifmm__p2p_many(kifmm_rsqrt acc, int nv, int64_t ns, const double *sx,
                                    const double *sy, const double *sz, const double *q, int64_t qs,
                                    int64_t qv, int64_t nt, const double *tx, const double *ty,
                                    const double *tz, double *pot, double *gx, double *gy,
                                    double *gz, int64_t ldo);
/* Kernel matrix K[i + j*ldk] = 1/|y_i - x_j| for points in interleaved xyz (column-major). */
KIFMM_INTERNAL void kifmm__kernel_matrix(int64_t nt, const double *y, int64_t ns, const double *x,
                                         double *k, int64_t ldk);

/* ---- Surfaces (surface.c) ---- */
#define KIFMM_MAX_CHECK_ORDER 20 /* lattice of the densest check surface (order 18 + 2) */
#define KIFMM_MAX_SURFACE 2168   /* surface points at that lattice order */
KIFMM_INTERNAL int kifmm__surface_count(int order);
/* Lattice coordinates (0..order-1 each, interleaved) of the surface points, in their order. */
KIFMM_INTERNAL void kifmm__surface_lattice(int order, int *ijk);
/* The symmetry of the cube that takes transfer vector t to one of 16 representatives t0
 * (offsets 0 <= d0 <= d1 <= d2) also permutes the surface points, so the M2L matrices obey
 * K_t[i][j] = K_t0[sigma[i]][sigma[j]]. Returns t0 and fills sigma (surface count). */
KIFMM_INTERNAL int kifmm__tv_symmetry(int order, int t, int *sigma);
/* n points (interleaved xyz) on the cube of side `ratio * side` centred at c. */
KIFMM_INTERNAL void kifmm__surface(int order, double ratio, double side, const double c[3],
                                   double *xyz);

/* Equivalent/check surface sizes relative to the box (inner 1.05 and outer 2.95 at p >= 7).
 * Low orders gain from surfaces pushed closer to the box and to the near-field boundary
 * (measured at p4 and p6: about 7 % lower error on cube, sphere and clustered inputs); high
 * orders lose from it (p8, p10: 5-20 % higher), so the change stops at p6. */
#define KIFMM_RATIO_INNER(order) ((order) <= 6 ? 1.02 : 1.05)
#define KIFMM_RATIO_OUTER(order) ((order) <= 6 ? 2.98 : 2.95)

/* ---- Dense linear algebra (linalg.c): the only file calling BLAS/LAPACK ---- */
/* C = alpha op(A) op(B) + beta C, column-major, ta/tb 'N' or 'T'. */
KIFMM_INTERNAL void kifmm__gemm(char ta, char tb, int m, int n, int k, double alpha,
                                const double *a, int lda, const double *b, int ldb, double beta,
                                double *c, int ldc);
/* Pseudo-inverse of the m x n matrix a (m >= n, column-major) by the SVD, dropping singular
 * values below rcond * s_max, as two factors: pinv = vs ut, vs = V diag(1/s) (n x n),
 * ut = U^T (n x m). */
KIFMM_INTERNAL int kifmm__pinv(int m, int n, const double *a, double rcond, double *vs,
                               double *ut);
/* Thin SVD of an m x n matrix a (destroyed): s[min], u (m x min) and vt (min x n); u/vt may be NULL. */
KIFMM_INTERNAL int kifmm__svd(int m, int n, double *a, double *s, double *u, double *vt);
/* R factor (n x n, upper, column-major) of a tall m x n matrix (m >= n, leading dimension
 * lda), a destroyed. */
KIFMM_INTERNAL int kifmm__qr_r(int m, int n, double *a, int lda, double *r);
/* Save and force single-threaded BLAS while our own OpenMP regions call it. */
KIFMM_INTERNAL int kifmm__blas_threads_push(void);
KIFMM_INTERNAL void kifmm__blas_threads_pop(int saved);

/* ---- Dense applies of the evaluation (gemm.c) ----
 * C = alpha A B + beta C, column-major, no transposes (C is not read when beta == 0): our
 * own kernels on the fixed FMM shapes, so speed does not depend on the BLAS's CPU table. */
KIFMM_INTERNAL void kifmm__mm(int m, int n, int k, double alpha, const double *a, int lda,
                              const double *b, int ldb, double beta, double *c, int ldc);
/* The same with the n columns of B (k long) and of C (m long) given by pointers. */
KIFMM_INTERNAL void kifmm__mm_cols(int m, int n, int k, double alpha, const double *a, int lda,
                                   const double *const *bc, double beta, double *const *cc);
/* The BLAS library ("unknown" when not OpenBLAS) and the kernel set it chose ("" if unknown). */
KIFMM_INTERNAL void kifmm__blas_describe(char *name, size_t name_len, char *core,
                                         size_t core_len);

/* ---- Operators (operators.c) ---- */
typedef struct kifmm_operators {
  int32_t order, n;     /* n = equivalent surface points */
  int32_t check_order, nc; /* lattice order and points of the check surfaces (nc >= n) */
  double tol;           /* M2L compression tolerance */
  double rcond;         /* pseudo-inverse cut-off */
  /* check-to-equivalent least-squares pseudo-inverses of the unit box as two factors
   * [V S^-1 | U^T], n x n and n x nc, applied one after the other (kifmm__c2e_apply) */
  double *uc2e;         /* n x (n + nc): upward check potentials -> upward equivalent */
  double *dc2e;         /* n x (n + nc): downward check -> downward equivalent */
  double *m2m;          /* n x 8n: [M2M_0 ... M2M_7], block o for the child in octant o */
  double *l2l;          /* 8n x n: [L2L_0; ...; L2L_7] */
  /* M2L: the transfer vectors fall in KIFMM_M2L_GROUPS direction groups g
   * (kifmm__tv_group), each with its own shared bases U_g (nc x kl) and V_g (n x kr), all of
   * one rank (the groups are images of one another under the cube's symmetries):
   * K_t ~ U_g C_t V_g^T with C_t ~ A_t B_t^T. A multipole M is compressed once for every
   * group, Mc = [V_0 ... V_5]^T M, and a local gathers every group's part, L += D Lc with
   * D = DC2E [U_0 ... U_5]; t reads and writes the rows of its own group. */
  int32_t kl, kr;
  double *vt;            /* (6 kr) x n */
  double *d;             /* n x (6 kl) */
  int32_t r[KIFMM_NTV];  /* rank of each transfer vector */
  int64_t ab_off[KIFMM_NTV]; /* offset of A_t (kl x r_t) then B_t^T (r_t x kr) in ab */
  double *ab;
  int64_t ab_len;
} kifmm_operators;

KIFMM_INTERNAL int kifmm__operators_compute(kifmm_operators *ops, int order, double tol, int nthreads);
KIFMM_INTERNAL void kifmm__operators_free(kifmm_operators *ops);
KIFMM_INTERNAL int64_t kifmm__operators_bytes(const kifmm_operators *ops);
KIFMM_INTERNAL double kifmm__default_tolerance(int order);
/* Lattice order of the check surfaces for an equivalent surface of this order. */
KIFMM_INTERNAL int kifmm__check_order(int order);
/* equiv = alpha c2e check + beta equiv for m columns through the two factors of c2e
 * (ops->uc2e or ops->dc2e): check is nc x m, equiv n x m; tmp holds n x m. */
KIFMM_INTERNAL void kifmm__c2e_apply(int n, int nc, const double *c2e, int m, double alpha,
                                     const double *check, double beta, double *equiv,
                                     double *tmp);

/* ---- Cost model (costmodel.c) ---- */
/* Dimension of the distribution, measured on a sample: 3 for points that fill a volume
 * (and for no points), 2 for a surface, 1 for a curve. */
KIFMM_INTERNAL int kifmm__distribution_dimension(int64_t nsrc, const double *src, int64_t ntrg,
                                                 const double *trg, double *dim);
/* Smallest order whose measured worst error on distributions of that dimension, with a
 * margin of 2, is within tolerance; -1 when no order reaches it. When *compression_tol is 0 it
 * is set to the loosest M2L compression that keeps the predicted error within the tolerance
 * (at least the order's default). kifmm__tolerance_floor() is the smallest tolerance
 * accepted at all (a volume's); thinner distributions reach down to 6e-13 (their rounding
 * floor, costmodel.c). */
/* far_fraction (kifmm__far_target_fraction) above 1 % takes the errors measured on targets away
 * from every source, the gradient's within 10x of the tolerance included. */
KIFMM_INTERNAL int kifmm__order_for_tolerance(double tolerance, double dim, double far_fraction,
                                              double *compression_tol);
/* Fraction of the targets (a sample of them) with no source in the neighbourhood of their box
 * at the finest level the sources' sample resolves: the targets that get only far field. */
KIFMM_INTERNAL int kifmm__far_target_fraction(int64_t nsrc, const double *src, int64_t ntrg,
                                              const double *trg, double *fraction);
KIFMM_INTERNAL double kifmm__tolerance_floor(void);
/* KIFMM_RSQRT_FAST where the order's worst measured error is at least 30 times the fast 1/r's
 * (up to p12), so the direct sums' part of the error stays a few percent of it. */
KIFMM_INTERNAL kifmm_rsqrt kifmm__rsqrt_for_order(int order);
/* Leaf size for the order and the dimension of the distribution (volume or surface), from
 * the best sizes of measured sweeps. */
KIFMM_INTERNAL int kifmm__choose_ncrit(const kifmm_options *o, double dim, int *ncrit);

/* ---- Progress reports (progress.c) ----
 * kifmm__progress_scope(opts) at the start of a public call, (NULL) before it returns; in
 * between kifmm__progress(phase, fraction) reaches opts->progress from the calling thread. */
KIFMM_INTERNAL void kifmm__progress_scope(const kifmm_options *opts);
KIFMM_INTERNAL void kifmm__progress(const char *phase, double fraction);

/* ---- Plan (plan.c) and evaluation (evaluate.c) ---- */
struct kifmm_plan {
  kifmm_options opts;
  int nthreads;
  kifmm_tree tree;
  kifmm_lists lists;
  kifmm_operators ops;
  kifmm_stats stats;
  /* work arrays reused by every evaluation, sized for nvec_cap charge vectors (grown by
   * kifmm__plan_reserve, never shrunk) and laid out for the nvec of the running evaluation */
  int nvec, nvec_cap;
  double *multipole; /* nbox * nvec * n: [box][vector][n] */
  double *local;     /* nbox * nvec * n */
  double *q;         /* sorted charges, [source][vector] */
  double *pot, *gx, *gy, *gz; /* sorted target results, each [vector][target] */
  struct kifmm_let *let; /* the distributed part of a plan from kifmm_plan_create_mpi() */
};

/* Checked options and points, and a plan with its parameters resolved (nothing built). */
KIFMM_INTERNAL int kifmm__plan_new(int64_t nsrc, const double *src, int64_t ntrg,
                                   const double *trg, const kifmm_options *opts,
                                   kifmm_plan **out);
KIFMM_INTERNAL int kifmm__plan_alloc_work(kifmm_plan *p);
/* Work arrays for at least nvec vectors (kept when large enough; unchanged on failure), and
 * sets p->nvec. */
KIFMM_INTERNAL int kifmm__plan_reserve(kifmm_plan *p, int nvec);
/* Bytes of the work arrays for nvec vectors. */
KIFMM_INTERNAL int64_t kifmm__plan_work_bytes(const kifmm_plan *p, int nvec);
/* The argument checks of an evaluation on this process's arrays, one-process and distributed
 * alike: nvec (< 0 refused, 0 accepted here and left to the caller), pointers, sizes that nvec
 * multiplies (per_vector: the most bytes any count takes a vector; refused when nvec times it
 * overflows) and finite charges in every vector. */
KIFMM_INTERNAL int kifmm__check_evaluation(int nvec, int64_t nsrc, int64_t ntrg,
                                          int64_t per_vector, const double *charges,
                                          const double *pot);
KIFMM_INTERNAL void kifmm__plan_fill_stats(kifmm_plan *p);
/* let.c: kifmm_evaluate() and kifmm_plan_destroy() of a distributed plan (collective). */
KIFMM_INTERNAL int kifmm__let_evaluate(kifmm_plan *plan, int nvec, const double *charges,
                                       double *pot, double *grad);
KIFMM_INTERNAL void kifmm__let_free(struct kifmm_let *let);

KIFMM_INTERNAL int kifmm__evaluate_sorted(kifmm_plan *plan, int want_grad);
/* The two stages of kifmm__evaluate_sorted(): P2M and M2M; then L2L, M2L, P2L and the leaf
 * pass, which read plan->q again, so that charges and multipoles may be completed between
 * the two (the distributed plan, let.c). */
KIFMM_INTERNAL int kifmm__evaluate_upward(kifmm_plan *plan);
KIFMM_INTERNAL int kifmm__evaluate_downward(kifmm_plan *plan, int want_grad);
/* kifmm__evaluate_downward() in two parts, near field first, so that the multipoles may be
 * completed while the near field runs (let.c): kifmm__evaluate_near() clears the results
 * and adds P2P, which reads plan->q only; kifmm__evaluate_far() then adds M2L, L2L, P2L, L2P
 * and M2P. The sums are those of kifmm__evaluate_downward() up to rounding (another order). */
KIFMM_INTERNAL int kifmm__evaluate_near(kifmm_plan *plan, int want_grad);
KIFMM_INTERNAL int kifmm__evaluate_far(kifmm_plan *plan, int want_grad);
/* Fills est from a plan built without work arrays (costmodel.c). */
KIFMM_INTERNAL void kifmm__estimate(const kifmm_plan *plan, kifmm_estimate *est);

#endif /* KIFMM_INTERNAL_H */
