/* SPDX-License-Identifier: BSD-3-Clause */
/* The only file that calls BLAS and LAPACK (Fortran ABI, hidden string lengths passed):
 * matrix products, SVD, pseudo-inverse, QR, and BLAS thread control. */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "linalg/linalg.h"

typedef size_t flen; /* gfortran's hidden CHARACTER length argument */

extern void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
                   const double *alpha, const double *a, const int *lda, const double *b,
                   const int *ldb, const double *beta, double *c, const int *ldc, flen, flen);
extern void dgesvd_(const char *ju, const char *jvt, const int *m, const int *n, double *a,
                    const int *lda, double *s, double *u, const int *ldu, double *vt,
                    const int *ldvt, double *work, const int *lwork, int *info, flen, flen);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda,
                    double *s, double *u, const int *ldu, double *vt, const int *ldvt,
                    double *work, const int *lwork, int *iwork, int *info, flen);
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
                    double *work, const int *lwork, int *info);

/* OpenBLAS's thread control, when the BLAS in use is OpenBLAS. */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));

static void gemm_impl(char ta, char tb, int m, int n, int k, double alpha, const double *a,
                      int lda, const double *b, int ldb, double beta, double *c, int ldc) {
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0) {
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++)
        c[i + (int64_t)j * ldc] = beta == 0.0 ? 0.0 : beta * c[i + (int64_t)j * ldc];
    return;
  }
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc, 1, 1);
}

/* Divide and conquer (dgesdd) when vectors are wanted: several times faster than the QR
 * iteration of dgesvd at the sizes of the operators. */
static int svd_impl(int m, int n, double *a, double *s, double *u, double *vt) {
  int mn = m < n ? m : n, info = 0, lwork = -1;
  double query, dummy = 0;
  if (u && vt) {
    int *iwork;
    ALLOC(iwork, 8 * (size_t)mn);
    dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &mn, &query, &lwork, iwork, &info, 1);
    double *work = NULL;
    int status = info == 0 ? kifmm__calloc((void **)&work, (size_t)query, sizeof(double))
                           : KIFMM_ERR_LAPACK;
    if (status == KIFMM_SUCCESS) {
      lwork = (int)query;
      dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &mn, work, &lwork, iwork, &info, 1);
      status = info == 0 ? KIFMM_SUCCESS : KIFMM_ERR_LAPACK;
    }
    free(work);
    free(iwork);
    return status;
  }
  char ju = u ? 'S' : 'N', jvt = vt ? 'S' : 'N';
  int ldu = u ? m : 1, ldvt = vt ? mn : 1;
  dgesvd_(&ju, &jvt, &m, &n, a, &m, s, u ? u : &dummy, &ldu, vt ? vt : &dummy, &ldvt, &query,
          &lwork, &info, 1, 1);
  if (info != 0)
    return KIFMM_ERR_LAPACK;
  lwork = (int)query;
  double *work;
  ALLOC(work, lwork);
  dgesvd_(&ju, &jvt, &m, &n, a, &m, s, u ? u : &dummy, &ldu, vt ? vt : &dummy, &ldvt, work,
          &lwork, &info, 1, 1);
  free(work);
  return info == 0 ? KIFMM_SUCCESS : KIFMM_ERR_LAPACK;
}

/* The two factors of the pseudo-inverse of an m x n matrix (m >= n), kept apart:
 * vs = V diag(1/s) (n x n, columns of dropped singular values zero) and ut = U^T (n x m).
 * Applied as vs (ut x) they are backward stable: the rounding of ut x is only amplified
 * along directions that the matrix itself maps back to rounding. Their explicit product is
 * not: its own rounding errors, eps / s_min in size, point in every direction, the large
 * singular directions included. */
static void pinv_from_svd(int m, int n, const double *s, const double *u, const double *vt,
                          double rcond, double *vs, double *ut) {
  for (int i = 0; i < n; i++) {
    double inv = s[i] > rcond * s[0] ? 1.0 / s[i] : 0.0;
    for (int j = 0; j < n; j++)
      vs[j + (int64_t)i * n] = vt[i + (int64_t)j * n] * inv;
    for (int j = 0; j < m; j++)
      ut[i + (int64_t)j * n] = u[j + (int64_t)i * m];
  }
}

static int pinv_impl(int m, int n, const double *a, double rcond, double *vs, double *ut) {
  double *work, *s, *u, *vt;
  size_t mn = (size_t)m * n, nn = (size_t)n * n;
  ALLOC(work, 2 * mn + nn + n);
  u = work + mn;
  vt = u + mn;
  s = vt + nn;
  memcpy(work, a, mn * sizeof(double));
  int status = svd_impl(m, n, work, s, u, vt);
  if (status == KIFMM_SUCCESS)
    pinv_from_svd(m, n, s, u, vt, rcond, vs, ut);
  free(work);
  return status;
}

static int qr_r_impl(int m, int n, double *a, int lda, double *r) {
  int info = 0, lwork = -1;
  double query;
  double *tau;
  ALLOC(tau, n);
  dgeqrf_(&m, &n, a, &lda, tau, &query, &lwork, &info);
  lwork = (int)query;
  double *work = NULL;
  int status = info == 0 ? kifmm__calloc((void **)&work, (size_t)lwork, sizeof(double))
                         : KIFMM_ERR_LAPACK;
  if (status == KIFMM_SUCCESS) {
    dgeqrf_(&m, &n, a, &lda, tau, work, &lwork, &info);
    status = info == 0 ? KIFMM_SUCCESS : KIFMM_ERR_LAPACK;
  }
  if (status == KIFMM_SUCCESS)
    for (int j = 0; j < n; j++)
      for (int i = 0; i < n; i++)
        r[i + (int64_t)j * n] = i <= j ? a[i + (int64_t)j * lda] : 0.0;
  free(work);
  free(tau);
  return status;
}

/* ---- OpenBLAS's thread count: one process-wide setting, shared by all user threads ----
 * Two kinds of sections use BLAS:
 *   single: our OpenMP regions, which call BLAS from every thread; a threaded BLAS there
 *           would oversubscribe the cores, so the count is 1 while any of them runs (the
 *           first to enter saves the caller's count, the last to leave restores it; a plain
 *           save/set/restore per call breaks when calls interleave: the second saves the
 *           first's 1 and restores it for good);
 *   serial: a LAPACK/BLAS call outside any OpenMP region (the SVDs and QRs of the operator
 *           precomputation), which uses the caller's count, so the cores.
 * They exclude each other, because OpenBLAS's results depend on its thread count in the
 * last bits (measured): a serial call that ran with the count another thread's single
 * section had just set would make operators, and every result, depend on timing. */
static pthread_mutex_t g_blas_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_blas_cond = PTHREAD_COND_INITIALIZER;
static int g_single = 0, g_serial = 0, g_serial_waiting = 0, g_saved = 0;
static _Thread_local int t_depth = 0; /* sections this thread is inside: nested ones just run */

static int have_openblas(void) { return openblas_get_num_threads && openblas_set_num_threads; }

int kifmm__blas_threads_push(void) {
  if (!have_openblas())
    return 0;
  pthread_mutex_lock(&g_blas_lock);
  /* waiting serial sections go first, or a loop of evaluations would starve them */
  while (t_depth == 0 && (g_serial || g_serial_waiting))
    pthread_cond_wait(&g_blas_cond, &g_blas_lock);
  if (g_single++ == 0 && !g_serial) {
    g_saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
  }
  pthread_mutex_unlock(&g_blas_lock);
  t_depth++;
  return 1;
}

/* entered: what the matching push returned (0: not OpenBLAS, nothing to undo) */
void kifmm__blas_threads_pop(int entered) {
  if (!entered)
    return;
  t_depth--;
  pthread_mutex_lock(&g_blas_lock);
  if (--g_single == 0) {
    if (!g_serial && g_saved > 0)
      openblas_set_num_threads(g_saved);
    pthread_cond_broadcast(&g_blas_cond);
  }
  pthread_mutex_unlock(&g_blas_lock);
}

/* Returns 1 when it entered a serial section (then call serial_end). Inside an OpenMP
 * region, or inside a section of this thread, the call runs as it is: the workers of our
 * own regions cannot be told from a caller's parallel region without a lock per BLAS call
 * in the hot loops, so a plan created inside the caller's region gets the current count. */
static int serial_begin(void) {
  if (!have_openblas() || t_depth > 0 || omp_in_parallel())
    return 0;
  pthread_mutex_lock(&g_blas_lock);
  g_serial_waiting++;
  while (g_serial || g_single)
    pthread_cond_wait(&g_blas_cond, &g_blas_lock);
  g_serial_waiting--;
  g_serial = 1; /* no single section runs: the count is the caller's own */
  pthread_mutex_unlock(&g_blas_lock);
  t_depth++;
  return 1;
}

static void serial_end(int entered) {
  if (!entered)
    return;
  t_depth--;
  pthread_mutex_lock(&g_blas_lock);
  g_serial = 0;
  pthread_cond_broadcast(&g_blas_cond);
  pthread_mutex_unlock(&g_blas_lock);
}

void kifmm__gemm(char ta, char tb, int m, int n, int k, double alpha, const double *a, int lda,
                 const double *b, int ldb, double beta, double *c, int ldc) {
  int s = serial_begin();
  gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  serial_end(s);
}

int kifmm__svd(int m, int n, double *a, double *s, double *u, double *vt) {
  int entered = serial_begin(), status = svd_impl(m, n, a, s, u, vt);
  serial_end(entered);
  return status;
}

int kifmm__pinv(int m, int n, const double *a, double rcond, double *vs, double *ut) {
  int entered = serial_begin(), status = pinv_impl(m, n, a, rcond, vs, ut);
  serial_end(entered);
  return status;
}

int kifmm__qr_r(int m, int n, double *a, int lda, double *r) {
  int entered = serial_begin(), status = qr_r_impl(m, n, a, lda, r);
  serial_end(entered);
  return status;
}

static void copy_name(char *dst, size_t len, const char *src) {
  if (len == 0)
    return;
  size_t n = src ? strlen(src) : 0;
  n = n < len - 1 ? n : len - 1;
  if (n > 0)
    memcpy(dst, src, n);
  dst[n] = '\0';
}

void kifmm__blas_describe(char *name, size_t name_len, char *core, size_t core_len) {
  copy_name(name, name_len, openblas_get_config ? openblas_get_config() : "unknown");
  copy_name(core, core_len, openblas_get_corename ? openblas_get_corename() : "");
}
