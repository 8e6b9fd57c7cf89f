/* The only file that calls BLAS and LAPACK (Fortran ABI, hidden string lengths passed):
 * matrix products, SVD, pseudo-inverse, QR, and BLAS thread control. */
#include <string.h>

#include "internal.h"

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

void kifmm__gemm(char ta, char tb, int m, int n, int k, double alpha, const double *a, int lda,
                 const double *b, int ldb, double beta, double *c, int ldc) {
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
int kifmm__svd(int m, int n, double *a, double *s, double *u, double *vt) {
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

static int pinv_from_svd(int m, const double *s, const double *u, const double *vt, double rcond,
                         double *pinv) {
  /* pinv = V diag(1/s) U^T, keeping singular values above rcond * s_max */
  double *vs;
  ALLOC(vs, (size_t)m * m);
  int kept = 0;
  for (int i = 0; i < m && s[i] > rcond * s[0]; i++, kept++)
    for (int j = 0; j < m; j++)
      vs[j + (int64_t)i * m] = vt[i + (int64_t)j * m] / s[i];
  kifmm__gemm('N', 'T', m, m, kept, 1.0, vs, m, u, m, 0.0, pinv, m);
  free(vs);
  return KIFMM_SUCCESS;
}

int kifmm__pinv(int m, const double *a, double rcond, double *pinv) {
  double *work, *s, *u, *vt;
  size_t mm = (size_t)m * m;
  ALLOC(work, 3 * mm + m);
  u = work + mm;
  vt = u + mm;
  s = vt + mm;
  memcpy(work, a, mm * sizeof(double));
  int status = kifmm__svd(m, m, work, s, u, vt);
  if (status == KIFMM_SUCCESS)
    status = pinv_from_svd(m, s, u, vt, rcond, pinv);
  free(work);
  return status;
}

int kifmm__qr_r(int m, int n, double *a, double *r) {
  int info = 0, lwork = -1;
  double query;
  double *tau;
  ALLOC(tau, n);
  dgeqrf_(&m, &n, a, &m, tau, &query, &lwork, &info);
  lwork = (int)query;
  double *work = NULL;
  int status = info == 0 ? kifmm__calloc((void **)&work, (size_t)lwork, sizeof(double))
                         : KIFMM_ERR_LAPACK;
  if (status == KIFMM_SUCCESS) {
    dgeqrf_(&m, &n, a, &m, tau, work, &lwork, &info);
    status = info == 0 ? KIFMM_SUCCESS : KIFMM_ERR_LAPACK;
  }
  if (status == KIFMM_SUCCESS)
    for (int j = 0; j < n; j++)
      for (int i = 0; i < n; i++)
        r[i + (int64_t)j * n] = i <= j ? a[i + (int64_t)j * m] : 0.0;
  free(work);
  free(tau);
  return status;
}

int kifmm__blas_threads_push(void) {
  if (!openblas_get_num_threads || !openblas_set_num_threads)
    return 0;
  int saved = openblas_get_num_threads();
  openblas_set_num_threads(1);
  return saved;
}

void kifmm__blas_threads_pop(int saved) {
  if (saved > 0 && openblas_set_num_threads)
    openblas_set_num_threads(saved);
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
