/* SPDX-License-Identifier: BSD-3-Clause */
/* Precomputed translation operators for a unit box, built from the kernel's matrix (the
 * kernel table, never a kernel by name): check-to-equivalent least-squares pseudo-inverses
 * (nc tdim check values, n sdim equivalent densities), M2M/L2L for the 8 children, and M2L for
 * the 316 transfer vectors compressed twice: shared bases U_g (nce x kl), V_g (ne x kr) for
 * each of 6 direction groups, then a low-rank A_t B_t^T per vector in its group's bases.
 * A homogeneous kernel needs one set for every level (scale invariance); any other one set
 * per level with far field, at its parameter times the level's box side. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "operators/operators.h"

/* Singular values of the check-to-equivalent matrices below this fraction of the largest
 * are dropped. The pseudo-inverse is applied as its two SVD factors (backward stable; see
 * kifmm__pinv), so at high order the cut-off only removes noise: measured, cube 2e4, p12:
 * 7.4e-11 at 1e-11, 3.2e-11 at 1e-13, 2.6e-11 at 1e-15 and at 4 eps, 4.0e-11 keeping
 * all. At low order a cut-off near the truncation error regularizes: test_accuracy p8,
 * cube 5.4e-8 at 1e-9, 5.9e-8 at 1e-13; p10 5.7e-9 at 1e-9, 3.4e-9 at 1e-11 and 1e-13
 * (p4, p6 do not change). Hence 1e-9 up to p8, three digits fewer every two orders, and
 * 1e-15 from p12 on. */
static double pinv_rcond(int order) {
  double r = pow(10.0, 3.0 - 1.5 * order);
  return r > 1e-9 ? 1e-9 : r < 1e-15 ? 1e-15 : r;
}

/* The largest compression tolerance that costs at most about 10-15 % over the error of the
 * uncompressed operators: compression adds about 0.7-1.2 x its tolerance to the potential's
 * relative l2 error (in quadrature), and M2L time goes with k r_t. Measured, cube and sphere
 * 1e5 + 1e5 points, auto ncrit, errors on 1000 targets (k, max r_t; pot error cube / sphere):
 *   p4  e 1.42e-4 / 7.9e-5: 3e-5 k50 r23 +1 %, 9e-5 k44 r19 +13 % / +9 %, 3e-4 +115 %
 *   p5  e 1.14e-5 / 6.1e-6: 4e-6 k82 r33 +3 %, 1.2e-5 k68 r27 +48 %
 *   p6  e 1.45e-6 / 8.0e-7: 3e-7 k127 r47 +1 %, 9e-7 k112 r41 +16 %, 3e-6 k88 r33 +160 %
 *   p7  e 1.78e-7 / 1.2e-7: 5e-8 k180 r62 +2 %, 1.5e-7 k158 r56 +15 % / +10 %
 *   p8  e 2.88e-8 / 1.5e-8: 7e-9 k238 r79 0 %, 2.1e-8 k211 r69 +13 % / +10 %
 *   p9  e 3.66e-9 / 2.4e-9: 1e-9 k304 r96 +1 %, 3e-9 k272 r87 +7 %, 1e-8 +80 %
 *   p10 e 5.04e-10 / 3.5e-10: 1.2e-10 k383 r120 +2 %, 4e-10 k339 r106 +12 % / +6 %
 *   p11 e 8.85e-11 / 5.7e-11: 3e-11 k442 r134 +1 %, 9e-11 k401 r123 +14 %
 *   p12 e 1.59e-11 / 1.04e-11: 3e-12 k546 r163 0 %, 9e-12 k495 r147 +5 %
 *   p13 e 2.83e-12 / 1.59e-12: 3e-13 k656 r193, 5e-12 k536 r156 +18 % / +8 %
 *   p14 e 8.12e-13 / 5.47e-13: 1e-13 k721 r210, 2e-12 k582 r169 +23 % / +10 %
 *   p15 e 1.79e-13 / 1.36e-13: 3e-14 k792 r228, 5e-13 k658 r188 +28 % / +15 %
 *   p16 e 5.70e-14 / 9.43e-14: 1e-14 k874 r244, 2e-13 k706 r201 +30 % / +3 %
 *   p17 (cube 1e5, check surfaces p + 2): 5e-15 k925 9.13e-15, 1e-15 k1025 9.15e-15
 *   p18: 1e-15 k1028 7.2e-15
 *   p2 (8 points) and p3: 3e-3 and 5e-4 change the error by < 5 % (p2 0 %, p3 +4 %).
 * (the former 10^(-p/4-6) gave p6 k146 r59, p10 k450 r156: twice the M2L work for < 1 %).
 * From p13 on the steps measured are coarse, so the tolerance sits well inside them: the
 * accuracy of the high orders is what they are for. Surface ratios and the pseudo-inverse
 * cut-off were checked at p12 and p14 too (cube, sphere 2e4, compression 1e-14): outer 2.98
 * or 2.99 instead of 2.95 gains 4-8 % at p12 but loses 4-20 % at p14; inner 1.0-1.25 and
 * rcond 1e-13 only lose. */
static const double compression_by_order[KIFMM_MAX_ORDER + 1] = {
    [2] = 3e-3,   [3] = 5e-4,   [4] = 6e-5,   [5] = 6e-6,   [6] = 7e-7,
    [7] = 1e-7,   [8] = 1.5e-8, [9] = 3e-9,   [10] = 3e-10, [11] = 5e-11,
    [12] = 5e-12, [13] = 2e-12, [14] = 3e-13, [15] = 1e-13, [16] = 2e-14,
    [17] = 5e-15, [18] = 2e-15};

double kifmm__default_tolerance(int order) {
  if (order < KIFMM_MIN_ORDER)
    order = KIFMM_MIN_ORDER;
  if (order > KIFMM_MAX_ORDER)
    order = KIFMM_MAX_ORDER;
  return compression_by_order[order];
}

static void child_center(int octant, double side, double c[3]) {
  c[0] = (octant & 4 ? 0.25 : -0.25) * side;
  c[1] = (octant & 2 ? 0.25 : -0.25) * side;
  c[2] = (octant & 1 ? 0.25 : -0.25) * side;
}

/* The check surfaces are denser than the equivalent surface (the lattice of order p + 2),
 * and the check-to-equivalent operators fit the equivalent density to them by least
 * squares: a denser check surface pins the density down between the equivalent points.
 * Measured (cube / sphere 2e4 points, potential error, default compression), lattice
 * p (as before), p + 1, p + 2, p + 4:
 *   p4  cube 1.08e-4, 8.2e-5, 7.6e-5        p6  cube 1.20e-6, 8.9e-7, 7.4e-7, 7.5e-7
 *   p8  cube 2.06e-8, 1.51e-8, 1.29e-8      p10 cube 4.52e-10, 2.86e-10, 2.27e-10, 2.08e-10
 *   p12 cube 1.14e-11, 5.6e-12, 3.6e-12, 2.7e-12 (sphere 7.5e-12, 3.6e-12, 2.5e-12, 1.7e-12)
 *   p14 cube 5.9e-13, 3.5e-13, 2.5e-13, 2.0e-13 (sphere 5.0e-13, 2.8e-13, 1.9e-13, 1.5e-13)
 *   p16 cube 3.9e-14, 2.5e-14, 2.1e-14
 * Every translation gains about equally (p12 cube with the denser surface only in P2M,
 * M2M, L2L and P2L: 8.7e-12; only in M2L: 8.3e-12). p + 2 takes most of the gain; beyond
 * it the check points grow as fast again for a quarter less error. */
int kifmm__check_order(int order) {
  int q = order + 2;
  return q > KIFMM_MAX_CHECK_ORDER ? KIFMM_MAX_CHECK_ORDER : q;
}

/* The kernel's matrix from ns equivalent points x (columns j sdim + b) to nt check points y,
 * its rows reordered component-major (a nt + i): the layout in which the direct sums write
 * check values, one array per component. nt tdim x ns sdim, leading dimension nt tdim. */
static void kernel_matrix(const kifmm_operators *ops, double param, int nt, const double *y,
                          int ns, const double *x, double *k) {
  const int td = ops->tdim;
  const int64_t ld = (int64_t)nt * td;
  ops->kernel->matrix(param, nt, y, ns, x, k, ld);
  if (td == 1)
    return;
  double col[KIFMM_MAX_KDIM * KIFMM_MAX_SURFACE];
  for (int64_t j = 0; j < (int64_t)ns * ops->sdim; j++) {
    double *c = k + j * ld;
    memcpy(col, c, (size_t)ld * sizeof(double));
    for (int i = 0; i < nt; i++)
      for (int a = 0; a < td; a++)
        c[(int64_t)a * nt + i] = col[(int64_t)i * td + a];
  }
}

/* Kernel matrix from an equivalent surface (order p) to a check surface (lattice order q),
 * each given by (ratio, side, center): nce x ne. */
static void surface_matrix(const kifmm_operators *ops, double param, double r_trg, double s_trg,
                           const double c_trg[3], double r_src, double s_src,
                           const double c_src[3], double *pts, double *k) {
  int p = ops->order, q = ops->check_order, n = ops->n, nc = ops->nc;
  kifmm__surface(q, r_trg, s_trg, c_trg, pts);
  kifmm__surface(p, r_src, s_src, c_src, pts + 3 * nc);
  kernel_matrix(ops, param, nc, pts, n, pts + 3 * nc, k);
}

/* The downward check-to-equivalent pseudo-inverse of the unit box at param. */
static int downward_pinv(const kifmm_operators *ops, double param, double *pts, double *k,
                         double *c2e) {
  const double o[3] = {0, 0, 0};
  const int p = ops->order;
  surface_matrix(ops, param, KIFMM_RATIO_INNER(p), 1, o, KIFMM_RATIO_OUTER(p), 1, o, pts, k);
  return kifmm__pinv(ops->nce, ops->ne, k, ops->rcond, c2e, c2e + (size_t)ops->ne * ops->ne);
}

static int compute_pinvs(const kifmm_operators *ops, kifmm_opset *set, double *pts, double *k) {
  const double o[3] = {0, 0, 0};
  const int p = ops->order, ne = ops->ne;
  surface_matrix(ops, set->param, KIFMM_RATIO_OUTER(p), 1, o, KIFMM_RATIO_INNER(p), 1, o, pts, k);
  CHECK(kifmm__pinv(ops->nce, ne, k, ops->rcond, set->uc2e, set->uc2e + (size_t)ne * ne));
  return downward_pinv(ops, set->param, pts, k, set->dc2e);
}

void kifmm__c2e_apply(int n, int nc, const double *c2e, int m, double alpha,
                      const double *check, double beta, double *equiv, double *tmp) {
  /* the evaluation's products: kifmm-c's own tiles, whatever kernel the BLAS picked */
  kifmm__mm(n, m, nc, 1.0, c2e + (size_t)n * n, n, check, nc, 0.0, tmp, n);
  kifmm__mm(n, m, n, alpha, c2e, n, tmp, n, beta, equiv, n);
}

/* m2m is ne x 8ne (child blocks side by side), l2l is 8ne x ne (child blocks stacked), so one
 * product serves all eight children of many boxes. Each block is (V S^-1) (U^T K): the
 * rows of U^T K decay as fast as S does (the child's field is smoother than the parent's),
 * so the product has no large entries and forming it explicitly loses nothing. child_dc2e is
 * the unit box's downward pseudo-inverse at half the set's parameter: the child's is half of
 * it (the kernels are of degree -1 once the parameter scales with the box). */
static void compute_m2m_l2l(const kifmm_operators *ops, kifmm_opset *set,
                            const double *child_dc2e, double *pts, double *k, double *tmp) {
  const double o[3] = {0, 0, 0};
  const int p = ops->order, n = ops->ne, nc = ops->nce;
  size_t nn = (size_t)n * n;
  for (int c = 0; c < 8; c++) {
    double cc[3];
    child_center(c, 1.0, cc);
    /* parent upward check <- child upward equivalent, then the parent's pseudo-inverse */
    surface_matrix(ops, set->param, KIFMM_RATIO_OUTER(p), 1, o, KIFMM_RATIO_INNER(p), 0.5, cc,
                   pts, k);
    kifmm__gemm('N', 'N', n, n, nc, 1.0, set->uc2e + nn, n, k, nc, 0.0, tmp, n);
    kifmm__gemm('N', 'N', n, n, n, 1.0, set->uc2e, n, tmp, n, 0.0, set->m2m + c * nn, n);
    /* child downward check <- parent downward equivalent, then the child's pseudo-inverse */
    surface_matrix(ops, set->param, KIFMM_RATIO_INNER(p), 0.5, cc, KIFMM_RATIO_OUTER(p), 1, o,
                   pts, k);
    kifmm__gemm('N', 'N', n, n, nc, 1.0, child_dc2e + nn, n, k, nc, 0.0, tmp, n);
    kifmm__gemm('N', 'N', n, n, n, 0.5, child_dc2e, n, tmp, n, 0.0, set->l2l + (size_t)c * n,
                8 * n);
  }
}

static int count_above(const double *s, int n, double tol) {
  int k = 0;
  while (k < n && s[k] > tol * s[0])
    k++;
  return k < 1 ? 1 : k;
}

int kifmm__tv_in_cone(int g, const int d[3]) {
  int a = g / 2, s = g % 2 ? -1 : 1, m = 0;
  for (int i = 0; i < 3; i++)
    m = abs(d[i]) > m ? abs(d[i]) : m;
  return s * d[a] == m;
}

int kifmm__tv_group(int index) {
  int d[3] = {0, 0, 0};
  kifmm__tv_offset(index, d);
  int g = 0;
  while (g + 1 < KIFMM_M2L_GROUPS && !kifmm__tv_in_cone(g, d))
    g++;
  return g;
}

/* Progress of the "operators" phase: a set's own fractions land in [base, base + span]. */
typedef struct {
  double base, span;
} prog_window;

static void report(const prog_window *w, double f) {
  kifmm__progress("operators", w->base + w->span * f);
}

/* K_t (nce x ne): downward check of the unit box at the origin <- upward equivalent of the
 * unit box at offset t. */
static void m2l_matrix(const kifmm_operators *ops, double param, int t, double *pts,
                       double *k) {
  const double o[3] = {0, 0, 0};
  const int p = ops->order;
  int d[3];
  kifmm__tv_offset(t, d);
  const double c[3] = {d[0], d[1], d[2]};
  surface_matrix(ops, param, KIFMM_RATIO_INNER(p), 1, o, KIFMM_RATIO_INNER(p), 1, c, pts, k);
}

/* sigma[i]: the lattice point e of the surface of this order that point i (lattice indices
 * c) goes to under a symmetry of the cube: e[m] = c[from[m]], mirrored (p - 1 - c) where
 * flip[m]. Surfaces on the lattice are exactly symmetric, so e is always a surface point. */
static void lattice_permutation(int order, const int from[3], const int flip[3], int *sigma) {
  enum { Q = KIFMM_MAX_CHECK_ORDER }; /* any lattice: equivalent or check surface */
  int ijk[3 * KIFMM_MAX_SURFACE], lut[Q * Q * Q];
  const int p = order, n = kifmm__surface_count(order);
  kifmm__surface_lattice(order, ijk);
  for (int i = 0; i < n; i++)
    lut[(ijk[3 * i] * p + ijk[3 * i + 1]) * p + ijk[3 * i + 2]] = i;
  for (int i = 0; i < n; i++) {
    int e[3];
    for (int m = 0; m < 3; m++) {
      int c = ijk[3 * i + from[m]];
      e[m] = flip[m] ? p - 1 - c : c;
    }
    sigma[i] = lut[(e[0] * p + e[1]) * p + e[2]];
  }
}

/* The same map on a surface's unknowns (point i, component c of dim 1 or 3). The map is the
 * orthogonal H with (H v)[m] = +-v[from[m]] (minus where flip[m]), point i going to sigma[i];
 * a kernel turns with it, K(H r) = H K(r) H^T, so a vector component c of point i goes to
 * component m (from[m] = c) of point sigma[i], negated where flip[m]. Scalars only move. */
static void signed_permutation(int order, int dim, int comp_major, const int from[3],
                               const int flip[3], int *idx, double *sgn) {
  int sigma[KIFMM_MAX_SURFACE], to[3];
  const int n = kifmm__surface_count(order);
  lattice_permutation(order, from, flip, sigma);
  for (int m = 0; m < 3; m++)
    to[from[m]] = m;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < dim; c++) {
      const int m = dim == 1 ? 0 : to[c];
      const int x = comp_major ? c * n + i : i * dim + c;
      idx[x] = comp_major ? m * n + sigma[i] : sigma[i] * dim + m;
      sgn[x] = dim > 1 && flip[m] ? -1.0 : 1.0;
    }
}

/* Offset d = g(d0), d0 = sorted |d|: g permutes the axes (d[axis[m]] = +-d0[m]) and flips
 * the negative ones; g^-1 is the map of lattice_permutation with from = axis. Returns t0. */
static int tv_symmetry_map(int t, int axis[3], int flip[3]) {
  int d[3];
  kifmm__tv_offset(t, d);
  for (int a = 0; a < 3; a++)
    axis[a] = a;
  for (int a = 0; a < 3; a++) /* insertion sort of the axes by |d| */
    for (int b = a; b > 0 && abs(d[axis[b]]) < abs(d[axis[b - 1]]); b--) {
      int tmp = axis[b];
      axis[b] = axis[b - 1];
      axis[b - 1] = tmp;
    }
  for (int m = 0; m < 3; m++)
    flip[m] = d[axis[m]] < 0;
  return kifmm__tv_index(abs(d[axis[0]]), abs(d[axis[1]]), abs(d[axis[2]]));
}

/* sigma[i] is the surface point g^-1(x_i). */
int kifmm__tv_symmetry(int order, int t, int *sigma) {
  int axis[3], flip[3];
  const int t0 = tv_symmetry_map(t, axis, flip);
  lattice_permutation(order, axis, flip, sigma);
  return t0;
}

int kifmm__tv_symmetry_signed(int order, int dim, int comp_major, int t, int *idx,
                              double *sgn) {
  int axis[3], flip[3];
  const int t0 = tv_symmetry_map(t, axis, flip);
  signed_permutation(order, dim, comp_major, axis, flip, idx, sgn);
  return t0;
}

/* A representative K_t0 ~ (A S) B^T truncated at the compression tolerance: every other
 * K_t of its class is a signed permutation of it, so 16 SVDs give all 316 low-rank forms. */
typedef struct {
  int r;          /* rank at the tolerance relative to its own largest singular value */
  int rs;         /* rank at the tolerance relative to the largest of all: rows it adds to
                     the stacks that give the shared bases, truncated at that level too */
  double *as, *b; /* nce x r and ne x r */
  double *s;      /* r */
} m2l_rep;

typedef struct {
  m2l_rep rep[KIFMM_NTV]; /* filled at the representatives' indices only */
  int *t0;                /* representative of each transfer vector */
  int *sigma;             /* KIFMM_NTV x ne equivalent unknowns' permutations */
  int *sigma_c;           /* KIFMM_NTV x nce check values' permutations */
  double *sgn, *sgn_c;    /* their signs (all 1 for scalar kernels) */
} m2l_sym;

static int rep_svd(const kifmm_operators *ops, double param, int t, double *work, m2l_rep *rep) {
  int n = ops->ne, nc = ops->nce;
  size_t nn = (size_t)n * n, ncn = (size_t)nc * n;
  double *k = work, *u = k + ncn, *vt = u + ncn, *s = vt + nn, *pts = s + n;
  m2l_matrix(ops, param, t, pts, k);
  CHECK(kifmm__svd(nc, n, k, s, u, vt));
  int r = rep->r = count_above(s, n, ops->tol);
  ALLOC(rep->as, (size_t)(nc + n) * r + r);
  rep->b = rep->as + (size_t)nc * r;
  rep->s = rep->b + (size_t)n * r;
  for (int j = 0; j < r; j++) {
    rep->s[j] = s[j];
    for (int i = 0; i < nc; i++)
      rep->as[i + (int64_t)j * nc] = u[i + (int64_t)j * nc] * s[j];
    for (int i = 0; i < n; i++)
      rep->b[i + (int64_t)j * n] = vt[j + (int64_t)i * n];
  }
  return KIFMM_SUCCESS;
}

static int sym_maps(const kifmm_operators *ops, m2l_sym *sym) {
  const int n = ops->ne, nc = ops->nce;
  ALLOC(sym->t0, KIFMM_NTV);
  ALLOC(sym->sigma, (size_t)KIFMM_NTV * (n + nc));
  ALLOC(sym->sgn, (size_t)KIFMM_NTV * (n + nc));
  sym->sigma_c = sym->sigma + (size_t)KIFMM_NTV * n;
  sym->sgn_c = sym->sgn + (size_t)KIFMM_NTV * n;
  for (int t = 0; t < KIFMM_NTV; t++) {
    sym->t0[t] = kifmm__tv_symmetry_signed(ops->order, ops->sdim, 0, t, sym->sigma + (size_t)t * n,
                                           sym->sgn + (size_t)t * n);
    kifmm__tv_symmetry_signed(ops->check_order, ops->tdim, 1, t, sym->sigma_c + (size_t)t * nc,
                              sym->sgn_c + (size_t)t * nc);
  }
  return KIFMM_SUCCESS;
}

static int sym_build(const kifmm_operators *ops, double param, int nthreads,
                     const prog_window *pw, m2l_sym *sym) {
  int n = ops->ne, nc = ops->nce, status = KIFMM_SUCCESS;
  CHECK(sym_maps(ops, sym));
  size_t wlen = (size_t)2 * nc * n + (size_t)n * n + (size_t)n + 3 * (size_t)(ops->n + ops->nc);
  int nrep = 0, reps[KIFMM_NTV];
  for (int t = 0; t < KIFMM_NTV; t++)
    if (sym->t0[t] == t)
      reps[nrep++] = t;
  enum { STEPS = 4 }; /* progress reports, whatever the scheduling */
  int blas = kifmm__blas_threads_push(); /* BLAS from every thread: one BLAS thread each */
#pragma omp parallel num_threads(nthreads)
  {
    double *work = NULL;
    int mine = kifmm__calloc((void **)&work, wlen, sizeof(double));
    for (int step = 0; step < STEPS; step++) {
#pragma omp for schedule(dynamic, 1)
      for (int i = step * nrep / STEPS; i < (step + 1) * nrep / STEPS; i++)
        if (mine == KIFMM_SUCCESS)
          mine = rep_svd(ops, param, reps[i], work, &sym->rep[reps[i]]);
      /* shares of the p16 time: pseudo-inverses and M2M/L2L 15 %, these SVDs 40 %, the
       * stacked QRs 30 %, the per-vector products 15 %. Thread 0 is the caller's. */
#pragma omp master
      report(pw, 0.15 + 0.4 * (step + 1) / STEPS);
    }
    free(work);
#pragma omp critical
    if (mine != KIFMM_SUCCESS)
      status = mine;
  }
  kifmm__blas_threads_pop(blas);
  double smax = 0;
  for (int t = 0; status == KIFMM_SUCCESS && t < KIFMM_NTV; t++)
    if (sym->t0[t] == t && sym->rep[t].s[0] > smax)
      smax = sym->rep[t].s[0];
  for (int t = 0; status == KIFMM_SUCCESS && t < KIFMM_NTV; t++) {
    m2l_rep *rep = &sym->rep[t];
    if (sym->t0[t] == t)
      while (rep->rs < rep->r && rep->s[rep->rs] > 0.1 * ops->tol * smax)
        rep->rs++;
  }
  return status;
}

static void sym_free(m2l_sym *sym) {
  for (int t = 0; t < KIFMM_NTV; t++)
    free(sym->rep[t].as);
  free(sym->t0);
  free(sym->sigma);
  free(sym->sgn);
}

/* Rows of K_t^T (left = 1, m = nce) or K_t (left = 0, m = ne) up to an orthogonal
 * transformation, which leaves the R of a QR alone: S A^T P^T or S B^T P^T, rs x m at the
 * top of a (lda), P the signed permutation of t. */
static void stack_block(const m2l_sym *sym, int n, int t, int left, double *a, int64_t lda) {
  const m2l_rep *rep = &sym->rep[sym->t0[t]];
  const int *sigma = (left ? sym->sigma_c : sym->sigma) + (size_t)t * n;
  const double *sgn = (left ? sym->sgn_c : sym->sgn) + (size_t)t * n;
  for (int i = 0; i < n; i++)
    for (int q = 0; q < rep->rs; q++)
      a[q + i * lda] = sgn[i] * (left ? rep->as[sigma[i] + (int64_t)q * n]
                                      : rep->b[sigma[i] + (int64_t)q * n] * rep->s[q]);
}

/* Singular values and right singular vectors (vt, n x n) of the K_t of group 0's closed cone
 * stacked on top of each other (left = 0, n the equivalent unknowns) or side by side (left =
 * 1, n the check values), by a running QR of the stack of their low-rank factors: a fraction
 * of the rows of the K_t themselves. The other groups' bases are its images (group_bases). */
static int stacked_svd(const m2l_sym *sym, int n, int left, double *s, double *vt) {
  int64_t cap = (int64_t)n * 17, rows = 0;
  double *stack = NULL, *r = NULL;
  int status = kifmm__calloc((void **)&stack, (size_t)(cap * n), sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&r, (size_t)n * n, sizeof(double));
  for (int t = 0; status == KIFMM_SUCCESS && t <= KIFMM_NTV; t++) {
    int d[3] = {0, 0, 0};
    if (t < KIFMM_NTV)
      kifmm__tv_offset(t, d);
    if (t < KIFMM_NTV && !kifmm__tv_in_cone(0, d))
      continue;
    int rb = t < KIFMM_NTV ? sym->rep[sym->t0[t]].rs : 0;
    if (rows > 0 && (t == KIFMM_NTV || rows + rb > cap)) {
      status = kifmm__qr_r((int)rows, n, stack, (int)cap, r);
      for (int j = 0; j < n; j++) /* R so far in the first n rows, the rest cleared */
        for (int64_t i = 0; i < cap; i++)
          stack[i + j * cap] = i <= j ? r[i + (int64_t)j * n] : 0.0;
      rows = n;
    }
    if (t < KIFMM_NTV)
      stack_block(sym, n, t, left, stack + rows, cap);
    rows += rb;
  }
  if (status == KIFMM_SUCCESS)
    status = kifmm__svd(n, n, r, s, NULL, vt);
  free(stack);
  free(r);
  return status;
}

/* C_t = U_g^T K_t V_g ~ (U_g^T P A S)(V_g^T P B)^T: A_t = U_g^T P (A S), B_t = V_g^T P B, in
 * the bases of t's group g (u: all groups' U_g side by side, v: all V_g), P the signed
 * permutation of t. B_t is kept turned over (B_t^T = B^T P^T V_g, r x kr), the shape M2L's
 * product takes, so that evaluations need no transposed copy. */
static int compress_one(const kifmm_operators *ops, const kifmm_opset *set, const m2l_sym *sym,
                        const double *u, const double *v, int t, double *work, double **ab_out,
                        int *r_out) {
  const int kl = set->kl, kr = set->kr, g = kifmm__tv_group(t);
  const m2l_rep *rep = &sym->rep[sym->t0[t]];
  /* C_t is kl x kr: more columns would only repeat directions (and the cache's validation
   * rejects r_t above either) */
  int r = rep->r < kl ? rep->r : kl;
  r = r < kr ? r : kr;
  double *ab;
  ALLOC(ab, (size_t)(kl + kr) * r);
  for (int side = 0; side < 2; side++) { /* side 0: check values (U, A), 1: equivalent */
    int n = side ? ops->ne : ops->nce, k = side ? kr : kl;
    const double *f = side ? rep->b : rep->as;
    const double *basis = side ? v + (size_t)g * n * kr : u + (size_t)g * n * kl;
    const int *sigma = (side ? sym->sigma : sym->sigma_c) + (size_t)t * n;
    const double *sgn = (side ? sym->sgn : sym->sgn_c) + (size_t)t * n;
    for (int q = 0; q < r; q++)
      for (int i = 0; i < n; i++)
        work[i + (int64_t)q * n] = sgn[i] * f[sigma[i] + (int64_t)q * n];
    if (side)
      kifmm__gemm('T', 'N', r, k, n, 1.0, work, n, basis, n, 0.0, ab + (size_t)kl * r, r);
    else
      kifmm__gemm('T', 'N', k, r, n, 1.0, basis, n, work, n, 0.0, ab, k);
  }
  *ab_out = ab;
  *r_out = r;
  return KIFMM_SUCCESS;
}

static int compress_all(const kifmm_operators *ops, kifmm_opset *set, const m2l_sym *sym,
                        const double *u, const double *v, int nthreads, const prog_window *pw) {
  enum { STEPS = 5 }; /* progress reports, whatever the scheduling */
  int status = KIFMM_SUCCESS;
  const int64_t kk = (int64_t)set->kl + set->kr;
  double *parts[KIFMM_NTV] = {0};
  int blas = kifmm__blas_threads_push(); /* BLAS from every thread: one BLAS thread each */
#pragma omp parallel num_threads(nthreads)
  {
    double *work = NULL;
    int mine = kifmm__calloc((void **)&work, (size_t)ops->nce * ops->ne, sizeof(double));
    for (int step = 0; step < STEPS; step++) {
#pragma omp for schedule(dynamic, 1)
      for (int t = step * KIFMM_NTV / STEPS; t < (step + 1) * KIFMM_NTV / STEPS; t++)
        if (mine == KIFMM_SUCCESS)
          mine = compress_one(ops, set, sym, u, v, t, work, &parts[t], &set->r[t]);
      /* thread 0 is the caller's thread; the last step's end is the phase's, the plan's */
#pragma omp master
      if (step + 1 < STEPS)
        report(pw, 0.85 + 0.15 * (step + 1) / STEPS);
    }
    free(work);
#pragma omp critical
    if (mine != KIFMM_SUCCESS)
      status = mine;
  }
  kifmm__blas_threads_pop(blas);
  int64_t len = 0;
  for (int t = 0; t < KIFMM_NTV; t++) {
    set->ab_off[t] = len;
    len += kk * set->r[t];
  }
  set->ab_len = len;
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&set->ab, (size_t)len, sizeof(double));
  for (int t = 0; t < KIFMM_NTV; t++) {
    if (status == KIFMM_SUCCESS)
      memcpy(set->ab + set->ab_off[t], parts[t], (size_t)(kk * set->r[t]) * sizeof(double));
    free(parts[t]);
  }
  return status;
}

/* idx/sgn: where the symmetry that takes group 0's cone onto group g's takes unknown x
 * (axis 0 to g's axis a, negated for the negative groups; axes 1 and 2 to a + 1, a + 2). */
static void group_permutation(int order, int dim, int comp_major, int g, int *idx,
                              double *sgn) {
  const int a = g / 2;
  int from[3], flip[3] = {0, 0, 0};
  for (int m = 0; m < 3; m++)
    from[(a + m) % 3] = m;
  flip[a] = g % 2;
  signed_permutation(order, dim, comp_major, from, flip, idx, sgn);
}

/* Every group's basis from group 0's (the first k right singular vectors in vt, m unknowns
 * of a surface of this order, dim components): basis g (m x k) is basis 0 with its rows
 * moved (and turned, for vector components) by group_permutation, because the cube's
 * symmetries map group 0's cone, and its K_t, onto each other group's. */
static int group_bases(int order, int dim, int comp_major, int m, int k, const double *vt,
                       double *out) {
  int *idx;
  double *sgn;
  ALLOC(idx, m);
  int status = kifmm__calloc((void **)&sgn, (size_t)m, sizeof(double));
  for (int g = 0; status == KIFMM_SUCCESS && g < KIFMM_M2L_GROUPS; g++) {
    group_permutation(order, dim, comp_major, g, idx, sgn);
    double *b = out + (size_t)g * m * k;
    for (int j = 0; j < k; j++)
      for (int i = 0; i < m; i++)
        b[idx[i] + (int64_t)j * m] = sgn[i] * vt[j + (int64_t)i * m];
  }
  free(idx);
  free(sgn);
  return status;
}

/* Group 0's shared bases, truncated at the tolerance, give every group's (u: nce x 6 kl,
 * v: ne x 6 kr); then D, V^T and the per-vector factors. */
static int compute_bases(const kifmm_operators *ops, kifmm_opset *set, const m2l_sym *sym,
                         int nthreads, const prog_window *pw, double *ul, double *vr) {
  const int n = ops->ne, nc = ops->nce, G = KIFMM_M2L_GROUPS;
  double *sl, *u = NULL, *v = NULL;
  ALLOC(sl, nc + n);
  double *sr = sl + nc;
  /* left basis: rows of the K_t side by side = columns of K_t^T stacked */
  int status = stacked_svd(sym, nc, 1, sl, ul);
  report(pw, 0.7);
  if (status == KIFMM_SUCCESS)
    status = stacked_svd(sym, n, 0, sr, vr);
  report(pw, 0.85);
  if (status == KIFMM_SUCCESS) {
    int kl = count_above(sl, nc, ops->tol);
    set->kl = kl < n ? kl : n; /* K_t has rank ne at most */
    set->kr = count_above(sr, n, ops->tol);
    const int KL = G * set->kl, KR = G * set->kr;
    status = kifmm__calloc((void **)&u, (size_t)nc * KL + (size_t)n * KR, sizeof(double));
    if (status == KIFMM_SUCCESS) {
      v = u + (size_t)nc * KL;
      status = group_bases(ops->check_order, ops->tdim, 1, nc, set->kl, ul, u);
    }
    if (status == KIFMM_SUCCESS)
      status = group_bases(ops->order, ops->sdim, 0, n, set->kr, vr, v);
    if (status == KIFMM_SUCCESS)
      status = kifmm__calloc((void **)&set->vt, (size_t)KR * n, sizeof(double));
    if (status == KIFMM_SUCCESS)
      status = kifmm__calloc((void **)&set->d, (size_t)n * KL, sizeof(double));
    if (status == KIFMM_SUCCESS) {
      for (int j = 0; j < n; j++)
        for (int i = 0; i < KR; i++)
          set->vt[i + (int64_t)j * KR] = v[j + (int64_t)i * n];
      /* ul (nce x nce) is free again and holds the ne x KL scratch of the product */
      kifmm__c2e_apply(n, nc, set->dc2e, KL, 1.0, u, 0.0, set->d, ul);
      status = compress_all(ops, set, sym, u, v, nthreads, pw);
    }
  }
  free(u);
  free(sl);
  return status;
}

static int compute_m2l(const kifmm_operators *ops, kifmm_opset *set, int nthreads,
                       const prog_window *pw) {
  size_t n = (size_t)ops->ne, nc = (size_t)ops->nce;
  m2l_sym sym;
  memset(&sym, 0, sizeof(sym));
  double *ul = NULL;
  int status = sym_build(ops, set->param, nthreads, pw, &sym);
  /* ul: nce x nce, later the ne x (6 kl) scratch of D (kl <= ne); vr: ne x ne */
  const size_t groups_nn = (size_t)KIFMM_M2L_GROUPS * n * n;
  size_t ul_len = nc * nc > groups_nn ? nc * nc : groups_nn;
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&ul, ul_len + n * n, sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = compute_bases(ops, set, &sym, nthreads, pw, ul, ul + ul_len);
  free(ul);
  sym_free(&sym);
  return status;
}

/* One set. next_dc2e: the next level's downward pseudo-inverse (a per-level set's child box
 * at the same parameter, hence the unit box at half of it), NULL where there is none; a
 * homogeneous kernel's child is the set's own unit box. */
static int compute_set(const kifmm_operators *ops, kifmm_opset *set, const double *next_dc2e,
                       int nthreads, const prog_window *pw) {
  size_t n = (size_t)ops->ne, nc = (size_t)ops->nce, nn = n * n;
  ALLOC(set->uc2e, nn + n * nc);
  ALLOC(set->dc2e, nn + n * nc);
  ALLOC(set->m2m, 8 * nn);
  ALLOC(set->l2l, 8 * nn);
  double *pts, *k, *child = NULL;
  ALLOC(pts, 3 * (size_t)(ops->n + ops->nc));
  int status = kifmm__calloc((void **)&k, nc * n + nn, sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = compute_pinvs(ops, set, pts, k);
  const double *child_dc2e = ops->per_level ? next_dc2e : set->dc2e;
  if (status == KIFMM_SUCCESS && !child_dc2e) {
    status = kifmm__calloc((void **)&child, nn + n * nc, sizeof(double));
    if (status == KIFMM_SUCCESS)
      status = downward_pinv(ops, 0.5 * set->param, pts, k, child);
    child_dc2e = child;
  }
  report(pw, 0.05);
  if (status == KIFMM_SUCCESS)
    compute_m2m_l2l(ops, set, child_dc2e, pts, k, k + nc * n);
  report(pw, 0.15);
  free(child);
  free(pts);
  free(k);
  if (status == KIFMM_SUCCESS)
    status = compute_m2l(ops, set, nthreads, pw);
  return status;
}

/* Per-level sets from the deepest up, so that each level's L2L takes the pseudo-inverse of
 * the level below it instead of computing it again. */
static int compute(kifmm_operators *ops, int nthreads) {
  if (ops->nsets > 0)
    ALLOC(ops->set, ops->nsets);
  int status = KIFMM_SUCCESS;
  for (int i = ops->nsets - 1; status == KIFMM_SUCCESS && i >= 0; i--) {
    kifmm_opset *set = &ops->set[i];
    const prog_window pw = {(double)(ops->nsets - 1 - i) / ops->nsets, 1.0 / ops->nsets};
    /* level lo + i has boxes of side 2^(1 - level) in root-box units */
    set->param = ops->per_level ? ops->param * ldexp(2.0, -(ops->lo + i)) : ops->param;
    const double *next = i + 1 < ops->nsets ? ops->set[i + 1].dc2e : NULL;
    status = compute_set(ops, set, next, nthreads, &pw);
  }
  return status;
}

void kifmm__operators_init(kifmm_operators *ops, const kifmm_opspec *spec) {
  memset(ops, 0, sizeof(*ops));
  ops->kernel = spec->kernel;
  ops->order = spec->order;
  ops->n = kifmm__surface_count(spec->order);
  ops->check_order = kifmm__check_order(spec->order);
  ops->nc = kifmm__surface_count(ops->check_order);
  ops->sdim = spec->kernel->sdim;
  ops->tdim = spec->kernel->tdim;
  ops->ne = ops->n * ops->sdim;
  ops->nce = ops->nc * ops->tdim;
  ops->tol = spec->tol > 0 ? spec->tol : kifmm__default_tolerance(spec->order);
  ops->rcond = pinv_rcond(spec->order);
  ops->param = spec->param;
  ops->per_level = !spec->kernel->homogeneous;
  ops->lo = ops->per_level ? spec->lo : 0;
  ops->hi = ops->per_level ? spec->hi : KIFMM_MAX_LEVEL;
  ops->nsets = !ops->per_level ? 1 : ops->hi >= ops->lo ? ops->hi - ops->lo + 1 : 0;
}

int kifmm__operators_compute(kifmm_operators *ops, const kifmm_opspec *spec, int nthreads) {
  kifmm__operators_init(ops, spec);
  int status = compute(ops, nthreads);
  if (status != KIFMM_SUCCESS)
    kifmm__operators_free(ops);
  return status;
}

const kifmm_opset *kifmm__opset(const kifmm_operators *ops, int level) {
  if (!ops->per_level)
    return ops->nsets > 0 ? &ops->set[0] : NULL;
  return level >= ops->lo && level <= ops->hi ? &ops->set[level - ops->lo] : NULL;
}

void kifmm__operators_free(kifmm_operators *ops) {
  for (int i = 0; ops->set && i < ops->nsets; i++) {
    kifmm_opset *set = &ops->set[i];
    free(set->uc2e);
    free(set->dc2e);
    free(set->m2m);
    free(set->l2l);
    free(set->vt);
    free(set->d);
    free(set->ab);
  }
  free(ops->set);
  memset(ops, 0, sizeof(*ops));
}

int64_t kifmm__operators_bytes(const kifmm_operators *ops) {
  int64_t n = ops->ne, nc = ops->nce, total = 0;
  for (int i = 0; ops->set && i < ops->nsets; i++) {
    const kifmm_opset *set = &ops->set[i];
    total += (int64_t)sizeof(double) *
             (18 * n * n + 2 * n * nc + KIFMM_M2L_GROUPS * n * (set->kl + set->kr) + set->ab_len);
  }
  return total;
}
