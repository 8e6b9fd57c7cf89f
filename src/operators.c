/* Precomputed translation operators for a unit box (scale invariance gives every level):
 * check-to-equivalent pseudo-inverses, M2M/L2L for the 8 children, and M2L for the 316
 * transfer vectors compressed twice: shared bases U, V, then a low-rank A_t B_t^T per vector. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Singular values of the check-to-equivalent matrices below this fraction of the largest
 * are dropped: the matrices are exponentially ill-conditioned, and keeping directions down
 * to 1e-15 makes the equivalent densities so large that evaluating them cancels digits
 * (measured, relative potential error: p8 4.8e-6 at 1e-15, 3e-8 at 1e-9; p10 5e-5 at
 * 1e-13, 3e-9 at 1e-9; p4 and p6 do not change). */
#define KIFMM_PINV_RCOND 1e-9

double kifmm__default_tolerance(int order) {
  /* below the M2L truncation error of order p (measured: p6 ~1e-6, p10 ~3e-9 overall),
   * so compression does not show: 3.2e-8 at p6, 3.2e-9 at p10 */
  return pow(10.0, -0.25 * order - 6.0);
}

static void child_center(int octant, double side, double c[3]) {
  c[0] = (octant & 4 ? 0.25 : -0.25) * side;
  c[1] = (octant & 2 ? 0.25 : -0.25) * side;
  c[2] = (octant & 1 ? 0.25 : -0.25) * side;
}

/* Kernel matrix between two surfaces given by (ratio, side, center). */
static void surface_matrix(int p, double r_trg, double s_trg, const double c_trg[3],
                           double r_src, double s_src, const double c_src[3], double *pts,
                           double *k) {
  int n = kifmm__surface_count(p);
  kifmm__surface(p, r_trg, s_trg, c_trg, pts);
  kifmm__surface(p, r_src, s_src, c_src, pts + 3 * n);
  kifmm__kernel_matrix(n, pts, n, pts + 3 * n, k, n);
}

static int compute_pinvs(kifmm_operators *ops, double *pts, double *k) {
  const double o[3] = {0, 0, 0};
  int p = ops->order, n = ops->n;
  surface_matrix(p, KIFMM_RATIO_OUTER(p), 1, o, KIFMM_RATIO_INNER(p), 1, o, pts, k);
  CHECK(kifmm__pinv(n, k, ops->rcond, ops->uc2e));
  surface_matrix(p, KIFMM_RATIO_INNER(p), 1, o, KIFMM_RATIO_OUTER(p), 1, o, pts, k);
  return kifmm__pinv(n, k, ops->rcond, ops->dc2e);
}

/* m2m is n x 8n (child blocks side by side), l2l is 8n x n (child blocks stacked), so one
 * product serves all eight children of many boxes. */
static void compute_m2m_l2l(kifmm_operators *ops, double *pts, double *k) {
  const double o[3] = {0, 0, 0};
  int p = ops->order, n = ops->n;
  size_t nn = (size_t)n * n;
  for (int c = 0; c < 8; c++) {
    double cc[3];
    child_center(c, 1.0, cc);
    /* parent upward check <- child upward equivalent, then the parent's pseudo-inverse */
    surface_matrix(p, KIFMM_RATIO_OUTER(p), 1, o, KIFMM_RATIO_INNER(p), 0.5, cc, pts, k);
    kifmm__gemm('N', 'N', n, n, n, 1.0, ops->uc2e, n, k, n, 0.0, ops->m2m + c * nn, n);
    /* child downward check <- parent downward equivalent; the child's pseudo-inverse is
     * half the unit one (1/r is homogeneous of degree -1) */
    surface_matrix(p, KIFMM_RATIO_INNER(p), 0.5, cc, KIFMM_RATIO_OUTER(p), 1, o, pts, k);
    kifmm__gemm('N', 'N', n, n, n, 0.5, ops->dc2e, n, k, n, 0.0, ops->l2l + (size_t)c * n,
                8 * n);
  }
}

/* K_t: downward check of the unit box at the origin <- upward equivalent of the unit box
 * at offset t. */
static void m2l_matrix(int p, int t, double *pts, double *k) {
  const double o[3] = {0, 0, 0};
  int d[3];
  kifmm__tv_offset(t, d);
  const double c[3] = {d[0], d[1], d[2]};
  surface_matrix(p, KIFMM_RATIO_INNER(p), 1, o, KIFMM_RATIO_INNER(p), 1, c, pts, k);
}

/* Singular values and right singular vectors (vt, n x n) of all K_t stacked on top of each
 * other (transpose = 0) or side by side (transpose = 1), by a running QR of the stack. */
static int stacked_svd(int p, int transpose, double *s, double *vt) {
  enum { GROUP = 16 };
  int n = kifmm__surface_count(p);
  int64_t rows = (int64_t)n * (GROUP + 1);
  double *stack = NULL, *r = NULL, *k = NULL, *pts = NULL;
  int status = kifmm__calloc((void **)&stack, (size_t)(rows * n), sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&r, (size_t)n * n, sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&k, (size_t)n * n, sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&pts, (size_t)6 * n, sizeof(double));
  for (int t0 = 0; status == KIFMM_SUCCESS && t0 < KIFMM_NTV; t0 += GROUP) {
    int g = KIFMM_NTV - t0 < GROUP ? KIFMM_NTV - t0 : GROUP;
    int64_t m = (int64_t)n * (g + 1);
    memset(stack, 0, (size_t)(m * n) * sizeof(double));
    for (int j = 0; j < n; j++) /* R so far in the first n rows */
      for (int i = 0; i <= j; i++)
        stack[i + j * m] = r[i + (int64_t)j * n];
    for (int q = 0; q < g; q++) {
      m2l_matrix(p, t0 + q, pts, k);
      int64_t off = (int64_t)n * (q + 1);
      for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++)
          stack[off + i + j * m] = transpose ? k[j + (int64_t)i * n] : k[i + (int64_t)j * n];
    }
    status = kifmm__qr_r((int)m, n, stack, r);
  }
  if (status == KIFMM_SUCCESS)
    status = kifmm__svd(n, n, r, s, NULL, vt);
  free(stack);
  free(r);
  free(k);
  free(pts);
  return status;
}

static int count_above(const double *s, int n, double tol) {
  int k = 0;
  while (k < n && s[k] > tol * s[0])
    k++;
  return k < 1 ? 1 : k;
}

/* C_t = U^T K_t V, truncated to A_t B_t^T; A_t holds the singular values. */
static int compress_one(const kifmm_operators *ops, const double *u, const double *v, int t,
                        double *work, double **ab_out, int *r_out) {
  int n = ops->n, k = ops->k;
  double *pts = work, *kt = pts + 6 * n, *tmp = kt + (size_t)n * n, *c = tmp + (size_t)n * k,
         *s = c + (size_t)k * k, *pu = s + k, *pvt = pu + (size_t)k * k;
  m2l_matrix(ops->order, t, pts, kt);
  kifmm__gemm('N', 'N', n, k, n, 1.0, kt, n, v, n, 0.0, tmp, n);
  kifmm__gemm('T', 'N', k, k, n, 1.0, u, n, tmp, n, 0.0, c, k);
  CHECK(kifmm__svd(k, k, c, s, pu, pvt));
  int r = count_above(s, k, ops->tol);
  double *ab;
  ALLOC(ab, (size_t)2 * k * r);
  for (int j = 0; j < r; j++)
    for (int i = 0; i < k; i++) {
      ab[i + (int64_t)j * k] = pu[i + (int64_t)j * k] * s[j];
      ab[(int64_t)k * r + i + (int64_t)j * k] = pvt[j + (int64_t)i * k];
    }
  *ab_out = ab;
  *r_out = r;
  return KIFMM_SUCCESS;
}

static int compress_all(kifmm_operators *ops, const double *u, const double *v, int nthreads) {
  int n = ops->n, k = ops->k, status = KIFMM_SUCCESS;
  double *parts[KIFMM_NTV] = {0};
  size_t wlen = (size_t)6 * n + (size_t)n * n + (size_t)n * k + 3 * (size_t)k * k + k;
  int done = 0;
  int blas = kifmm__blas_threads_push(); /* BLAS from every thread: one BLAS thread each */
#pragma omp parallel num_threads(nthreads)
  {
    double *work = NULL;
    int mine = kifmm__calloc((void **)&work, wlen, sizeof(double));
#pragma omp for schedule(dynamic, 1)
    for (int t = 0; t < KIFMM_NTV; t++) {
      if (mine == KIFMM_SUCCESS)
        mine = compress_one(ops, u, v, t, work, &parts[t], &ops->r[t]);
      int finished;
#pragma omp atomic capture
      finished = ++done;
      /* reaches the caller from its own thread only, at most every 2 % */
      kifmm__progress("operators", 0.7 + 0.3 * finished / KIFMM_NTV);
    }
    free(work);
#pragma omp critical
    if (mine != KIFMM_SUCCESS)
      status = mine;
  }
  kifmm__blas_threads_pop(blas);
  int64_t len = 0;
  for (int t = 0; t < KIFMM_NTV; t++) {
    ops->ab_off[t] = len;
    len += 2 * (int64_t)k * ops->r[t];
  }
  ops->ab_len = len;
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&ops->ab, (size_t)len, sizeof(double));
  for (int t = 0; t < KIFMM_NTV; t++) {
    if (status == KIFMM_SUCCESS)
      memcpy(ops->ab + ops->ab_off[t], parts[t], (size_t)2 * k * ops->r[t] * sizeof(double));
    free(parts[t]);
  }
  return status;
}

static int compute_m2l(kifmm_operators *ops, int nthreads) {
  int n = ops->n;
  double *sl = NULL, *sr = NULL, *ul = NULL, *vr = NULL, *u = NULL, *v = NULL;
  ALLOC(sl, 2 * n);
  sr = sl + n;
  int status = kifmm__calloc((void **)&ul, (size_t)4 * n * n, sizeof(double));
  if (status == KIFMM_SUCCESS) {
    vr = ul + (size_t)n * n;
    u = vr + (size_t)n * n;
    v = u + (size_t)n * n;
    /* left basis: rows of all K_t side by side = columns of K_t^T stacked */
    status = stacked_svd(ops->order, 1, sl, ul);
  }
  kifmm__progress("operators", 0.4);
  if (status == KIFMM_SUCCESS)
    status = stacked_svd(ops->order, 0, sr, vr);
  kifmm__progress("operators", 0.7);
  if (status == KIFMM_SUCCESS) {
    int kl = count_above(sl, n, ops->tol), kr = count_above(sr, n, ops->tol);
    int k = ops->k = kl > kr ? kl : kr;
    for (int j = 0; j < k; j++) /* bases are the first k right singular vectors */
      for (int i = 0; i < n; i++) {
        u[i + (int64_t)j * n] = ul[j + (int64_t)i * n];
        v[i + (int64_t)j * n] = vr[j + (int64_t)i * n];
      }
    status = kifmm__calloc((void **)&ops->vt, (size_t)k * n, sizeof(double));
    if (status == KIFMM_SUCCESS)
      status = kifmm__calloc((void **)&ops->d, (size_t)n * k, sizeof(double));
    if (status == KIFMM_SUCCESS) {
      for (int j = 0; j < n; j++)
        for (int i = 0; i < k; i++)
          ops->vt[i + (int64_t)j * k] = v[j + (int64_t)i * n];
      kifmm__gemm('N', 'N', n, k, n, 1.0, ops->dc2e, n, u, n, 0.0, ops->d, n);
      status = compress_all(ops, u, v, nthreads);
    }
  }
  free(sl);
  free(ul);
  return status;
}

static int compute(kifmm_operators *ops, int nthreads) {
  int n = ops->n;
  size_t nn = (size_t)n * n;
  ALLOC(ops->uc2e, nn);
  ALLOC(ops->dc2e, nn);
  ALLOC(ops->m2m, 8 * nn);
  ALLOC(ops->l2l, 8 * nn);
  double *pts, *k;
  ALLOC(pts, 6 * n);
  int status = kifmm__calloc((void **)&k, nn, sizeof(double));
  if (status == KIFMM_SUCCESS)
    status = compute_pinvs(ops, pts, k);
  if (status == KIFMM_SUCCESS)
    compute_m2m_l2l(ops, pts, k);
  kifmm__progress("operators", 0.1);
  free(pts);
  free(k);
  if (status == KIFMM_SUCCESS)
    status = compute_m2l(ops, nthreads);
  return status;
}

int kifmm__operators_compute(kifmm_operators *ops, int order, double tol, int nthreads) {
  memset(ops, 0, sizeof(*ops));
  ops->order = order;
  ops->n = kifmm__surface_count(order);
  ops->tol = tol > 0 ? tol : kifmm__default_tolerance(order);
  ops->rcond = KIFMM_PINV_RCOND;
  int status = compute(ops, nthreads);
  if (status != KIFMM_SUCCESS)
    kifmm__operators_free(ops);
  return status;
}

void kifmm__operators_free(kifmm_operators *ops) {
  free(ops->uc2e);
  free(ops->dc2e);
  free(ops->m2m);
  free(ops->l2l);
  free(ops->vt);
  free(ops->d);
  free(ops->ab);
  memset(ops, 0, sizeof(*ops));
}

int64_t kifmm__operators_bytes(const kifmm_operators *ops) {
  int64_t n = ops->n;
  return (int64_t)sizeof(double) * (18 * n * n + 2 * n * ops->k + ops->ab_len);
}
