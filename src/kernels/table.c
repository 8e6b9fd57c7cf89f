/* SPDX-License-Identifier: BSD-3-Clause */
/* The kernel table: one entry per kernel, naming the functions of its own file (laplace.c,
 * ...). Adding a kernel is a file with its matrix and direct sums plus one row here. */
#include <math.h>

#include "kernels/kernels.h"

static double laplace_factor(double param) {
  (void)param;
  return KIFMM_INV_4PI;
}

/* 1 / (8 pi mu) = (1 / (4 pi)) / (2 mu) */
static double stokes_factor(double mu) { return KIFMM_INV_4PI / (2.0 * mu); }

static void laplace_matrix(double param, int64_t nt, const double *y, int64_t ns,
                           const double *x, double *k, int64_t ldk) {
  (void)param;
  kifmm__kernel_matrix(nt, y, ns, x, k, ldk);
}

static void laplace_p2p(double param, kifmm_rsqrt acc, int nv, int64_t ns, const double *sx,
                        const double *sy, const double *sz, const double *q, int64_t qs,
                        int64_t qv, int64_t nt, const double *tx, const double *ty,
                        const double *tz, double *const *out, int64_t ldo) {
  (void)param;
  kifmm__p2p_many(acc, nv, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz, out[0], out[1],
                  out[1] ? out[2] : NULL, out[1] ? out[3] : NULL, ldo);
}

static void laplace_both(double param, kifmm_rsqrt acc, int64_t na, const double *ax, const double *ay,
                         const double *az, const double *qa, double *const *outa, int64_t nb,
                         const double *bx, const double *by, const double *bz, const double *qb,
                         double *const *outb) {
  (void)param;
  kifmm__p2p_symmetric(0.0, acc, na, ax, ay, az, qa, outa, nb, bx, by, bz, qb, outb);
}

/* Yukawa's sums are full precision whatever acc (as its one-way sums, yukawa.c); kappa == 0
 * is Laplace's, with acc. */
static void yukawa_both(double kappa, kifmm_rsqrt acc, int64_t na, const double *ax,
                        const double *ay, const double *az, const double *qa,
                        double *const *outa, int64_t nb, const double *bx, const double *by,
                        const double *bz, const double *qb, double *const *outb) {
  kifmm__p2p_symmetric(kappa, kappa == 0.0 ? acc : KIFMM_RSQRT_FULL, na, ax, ay, az, qa, outa,
                       nb, bx, by, bz, qb, outb);
}

static const kifmm_kernel table[] = {
    {KIFMM_KERNEL_LAPLACE, "laplace", 1, 1, 1, laplace_factor, laplace_matrix, laplace_p2p,
     laplace_both, 1},
    {KIFMM_KERNEL_YUKAWA, "yukawa", 1, 1, 0, laplace_factor, kifmm__yukawa_matrix,
     kifmm__yukawa_p2p, yukawa_both, 1},
    {KIFMM_KERNEL_STOKES, "stokes", 3, 3, 1, stokes_factor, kifmm__stokes_matrix,
     kifmm__stokes_p2p, NULL, 1},
};

const kifmm_kernel *kifmm__kernel(int32_t id) {
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
    if (table[i].id == id)
      return &table[i];
  return NULL;
}

int kifmm__kernel_check_param(const kifmm_kernel *k, double param) {
  switch (k->id) {
  case KIFMM_KERNEL_YUKAWA:
    return isfinite(param) && param >= 0.0 ? KIFMM_SUCCESS : KIFMM_ERR_INVALID_KERNEL_PARAM;
  case KIFMM_KERNEL_STOKES:
    return isfinite(param) && param > 0.0 ? KIFMM_SUCCESS : KIFMM_ERR_INVALID_KERNEL_PARAM;
  default:
    return KIFMM_SUCCESS; /* Laplace ignores it */
  }
}

int kifmm_kernel_dims(int32_t kernel, int32_t *density_dim, int32_t *value_dim) {
  const kifmm_kernel *k = kifmm__kernel(kernel);
  if (!k)
    return KIFMM_ERR_INVALID_KERNEL;
  if (density_dim)
    *density_dim = k->sdim;
  if (value_dim)
    *value_dim = k->tdim;
  return KIFMM_SUCCESS;
}
