/* SPDX-License-Identifier: BSD-3-Clause */
/* Dense linear algebra (src/linalg/): the LAPACK/BLAS calls of the precomputation and our own
 * dense-apply tiles for the evaluation's fixed shapes. */
#ifndef KIFMM_LINALG_H
#define KIFMM_LINALG_H

#include "util/util.h"

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

#endif /* KIFMM_LINALG_H */
