/* SPDX-License-Identifier: BSD-3-Clause */
/* Surfaces, the dense linear algebra behind the operators, and the precomputed operators of
 * one order (src/operators/): what P2M..L2P apply. */
#ifndef KIFMM_OPERATORS_H
#define KIFMM_OPERATORS_H

#include "kernels/kernels.h"
#include "linalg/linalg.h"
#include "tree/tree.h"

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
/* The same symmetry as a signed permutation of a surface's unknowns (point i, component c of
 * dim 1 or 3; index c npts + i when comp_major, else i dim + c): components of dimension 3 are
 * vectors, turned with the points (K(G r) = G K(r) G^T for the orthogonal G), so that
 * K_t[x][y] = sgn[x] sgn[y] K_t0[idx[x]][idx[y]]. Returns t0. */
KIFMM_INTERNAL int kifmm__tv_symmetry_signed(int order, int dim, int comp_major, int t, int *idx,
                                             double *sgn);
/* n points (interleaved xyz) on the cube of side `ratio * side` centred at c. */
KIFMM_INTERNAL void kifmm__surface(int order, double ratio, double side, const double c[3],
                                   double *xyz);

/* Equivalent/check surface sizes relative to the box (inner 1.05 and outer 2.95 at p >= 7).
 * Low orders gain from surfaces pushed closer to the box and to the near-field boundary
 * (measured at p4 and p6: about 7 % lower error on cube, sphere and clustered inputs); high
 * orders lose from it (p8, p10: 5-20 % higher), so the change stops at p6. */
#define KIFMM_RATIO_INNER(order) ((order) <= 6 ? 1.02 : 1.05)
#define KIFMM_RATIO_OUTER(order) ((order) <= 6 ? 2.98 : 2.95)

/* ---- Operators (operators.c) ---- */
/* What an operator set is computed for: the kernel, its parameter in root-box units (the
 * scaled coordinates u = (x - c) / h: Yukawa kappa h; homogeneous kernels' parameters never
 * enter the sums), the order, the M2L compression (0: the order's default) and, for kernels
 * that are not homogeneous, the levels [lo, hi] that have far field (one set each; lo > hi:
 * none). */
typedef struct kifmm_opspec {
  const kifmm_kernel *kernel;
  double param;
  int32_t order;
  double tol;
  int32_t lo, hi;
} kifmm_opspec;

/* The operators of the unit box at one value of the kernel's parameter (the root-box one
 * times the side of the level it serves; homogeneous kernels: any, one set serves all).
 * Expansions are ne = n sdim equivalent densities ([point][component]); check values are
 * nce = nc tdim ([component][point], the layout the direct sums write). */
typedef struct kifmm_opset {
  double param;
  /* check-to-equivalent least-squares pseudo-inverses of the unit box as two factors
   * [V S^-1 | U^T], ne x ne and ne x nce, applied one after the other (kifmm__c2e_apply) */
  double *uc2e;         /* ne x (ne + nce): upward check values -> upward equivalent */
  double *dc2e;         /* ne x (ne + nce): downward check -> downward equivalent */
  double *m2m;          /* ne x 8ne: [M2M_0 ... M2M_7], block o for the child in octant o */
  double *l2l;          /* 8ne x ne: [L2L_0; ...; L2L_7] */
  /* M2L: the transfer vectors fall in KIFMM_M2L_GROUPS direction groups g
   * (kifmm__tv_group), each with its own shared bases U_g (nce x kl) and V_g (ne x kr), all
   * of one rank (the groups are images of one another under the cube's symmetries):
   * K_t ~ U_g C_t V_g^T with C_t ~ A_t B_t^T. A multipole M is compressed once for every
   * group, Mc = [V_0 ... V_5]^T M, and a local gathers every group's part, L += D Lc with
   * D = DC2E [U_0 ... U_5]; t reads and writes the rows of its own group. */
  int32_t kl, kr;
  double *vt;            /* (6 kr) x ne */
  double *d;             /* ne x (6 kl) */
  int32_t r[KIFMM_NTV];  /* rank of each transfer vector */
  int64_t ab_off[KIFMM_NTV]; /* offset of A_t (kl x r_t) then B_t^T (r_t x kr) in ab */
  double *ab;
  int64_t ab_len;
} kifmm_opset;

typedef struct kifmm_operators {
  int32_t order, n;        /* n = equivalent surface points */
  int32_t check_order, nc; /* lattice order and points of the check surfaces (nc >= n) */
  int32_t sdim, tdim;      /* the kernel's density and value components */
  int32_t ne, nce;         /* n sdim equivalent densities, nc tdim check values */
  double tol;              /* M2L compression tolerance */
  double rcond;            /* pseudo-inverse cut-off */
  const kifmm_kernel *kernel;
  double param;            /* the kernel's parameter in root-box units */
  int32_t per_level;       /* 0: set[0] serves every level; 1: set[l - lo] serves level l */
  int32_t lo, hi;          /* per_level: the levels with far field (lo > hi: none) */
  int32_t nsets;
  kifmm_opset *set;
} kifmm_operators;

/* The set that serves level l, NULL where the level has no far field (a screened level of a
 * kernel that is not homogeneous). */
KIFMM_INTERNAL const kifmm_opset *kifmm__opset(const kifmm_operators *ops, int level);
/* The dimensions and parameters of spec in ops (nothing allocated): what loading a cache file
 * checks against and what computing fills in. */
KIFMM_INTERNAL void kifmm__operators_init(kifmm_operators *ops, const kifmm_opspec *spec);
KIFMM_INTERNAL int kifmm__operators_compute(kifmm_operators *ops, const kifmm_opspec *spec,
                                            int nthreads);
KIFMM_INTERNAL void kifmm__operators_free(kifmm_operators *ops);
KIFMM_INTERNAL int64_t kifmm__operators_bytes(const kifmm_operators *ops);
KIFMM_INTERNAL double kifmm__default_tolerance(int order);
/* Lattice order of the check surfaces for an equivalent surface of this order. */
KIFMM_INTERNAL int kifmm__check_order(int order);
/* equiv = alpha c2e check + beta equiv for m columns through the two factors of c2e
 * (a set's uc2e or dc2e, n = ne, nc = nce): check is nc x m, equiv n x m; tmp holds n x m. */
KIFMM_INTERNAL void kifmm__c2e_apply(int n, int nc, const double *c2e, int m, double alpha,
                                     const double *check, double beta, double *equiv,
                                     double *tmp);

#endif /* KIFMM_OPERATORS_H */
