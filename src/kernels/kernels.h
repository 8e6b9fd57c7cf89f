/* SPDX-License-Identifier: BSD-3-Clause */
/* The arithmetic the passes run (src/kernels/): the kernel's matrix and its direct sums on each
 * SIMD path. */
#ifndef KIFMM_KERNELS_H
#define KIFMM_KERNELS_H

#include "util/util.h"

/* ---- Kernel (kernel_laplace.c): 1/r without the 1/(4 pi), applied once at the end ---- */
/* How closely the direct sums take 1/r: to double precision (each pair within a few ulp), or
 * a little less closely for fewer vector ops a pair, where the expansion order's own error is
 * far above that (kifmm__rsqrt_for_order): within 1.5e-13 on the AVX-512 path (one multiplier
 * op less), within 1e-15 on the AVX2 path (a shorter last correction, one op less: 6.6e-16
 * truncation at the estimate's worst 3.42 % plus the rounding; pairs measured within 7.5e-16,
 * gradient 2.1e-15, test_p2p). The portable path always gives full precision. */
/* KIFMM_RSQRT_SINGLE: the kernels' sums in single precision with double sums, each pair
 * within about 2e-7 of its double value (single.c), on the AVX-512 and AVX2 paths; on the
 * portable path, which has no single form, it is KIFMM_RSQRT_FAST. */
typedef enum { KIFMM_RSQRT_FULL = 0, KIFMM_RSQRT_FAST = 1, KIFMM_RSQRT_SINGLE = 2 } kifmm_rsqrt;
/* The largest relative error of one pair's 1/r in KIFMM_RSQRT_FAST (laplace.c), per path. */
#define KIFMM_RSQRT_FAST_ERROR 1.5e-13
#define KIFMM_RSQRT_FAST_ERROR_AVX2 1e-15
/* That bound on the SIMD path in use (kifmm__simd()); 0 where the path has no fast form. */
KIFMM_INTERNAL double kifmm__rsqrt_fast_error(void);

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
/* The relative l2 error the single-precision sums add to an FMM's potential at most: 1.9e-7
 * measured on cube, sphere, clustered and offset clouds with uniform, +-1 and positive
 * charges, targets the sources or not (gradient 4e-7; docs/performance.md); Stokes' velocity
 * 1.4e-7 (gradient 2.4e-7, test_precision), and how far
 * below an order's own error it must stay for a plan of an order alone to take them
 * (kifmm__near_accuracy). */
#define KIFMM_SINGLE_ERROR 2e-7
#define KIFMM_SINGLE_MARGIN 5.0
/* kifmm__p2p_many in single precision (KIFMM_RSQRT_SINGLE), of the Yukawa kernel
 * exp(-kappa r)/r where kappa > 0 (kifmm__yukawa_p2p's units and layout); 0 where the SIMD
 * path in use has no single form (then nothing was added), 1 otherwise. A vector's results
 * have the same bits whatever the other vectors beside it. */
KIFMM_INTERNAL int kifmm__p2p_single(double kappa, int nv, int64_t ns, const double *sx,
                                     const double *sy, const double *sz, const double *q,
                                     int64_t qs, int64_t qv, int64_t nt, const double *tx,
                                     const double *ty, const double *tz, double *pot,
                                     double *gx, double *gy, double *gz, int64_t ldo);
/* The Stokeslet's sums (kifmm__stokes_p2p's units and layout) in single precision with double
 * sums (KIFMM_RSQRT_SINGLE): 0 where the SIMD path in use has no single form (nothing added),
 * 1 otherwise. As kifmm__p2p_single, a vector's results do not depend on the others. */
KIFMM_INTERNAL int kifmm__stokes_p2p_single(int nv, int64_t ns, const double *sx,
                                            const double *sy, const double *sz, const double *q,
                                            int64_t qs, int64_t qv, int64_t nt, const double *tx,
                                            const double *ty, const double *tz,
                                            double *const *out, int64_t ldo);
/* Kernel matrix K[i + j*ldk] = 1/|y_i - x_j| for points in interleaved xyz (column-major). */
KIFMM_INTERNAL void kifmm__kernel_matrix(int64_t nt, const double *y, int64_t ns, const double *x,
                                         double *k, int64_t ldk);

/* ---- The kernel table (table.c) ----
 * A kernel is one entry; the passes, the operators and the cache reach it only through this
 * struct, never by name. All sums run in the plan's scaled coordinates (u = (x - c) / h) and
 * without the kernel's constant factor, which the results take at the end with the unit
 * conversion: every kernel here is of degree -1 in r once its parameter is scaled with the
 * coordinates (Yukawa: kappa h), so values scale by factor / h and gradients by factor / h^2. */

/* Direct sums of nv density vectors at once, the geometry of each pair computed once for all.
 * Density component b (< sdim) of vector v at source j: q[j * qs + v * qv + b]. Value
 * component a (< tdim) of vector v at target i: out[a][i + v * ldo] += sum_j K_ab q_jvb;
 * gradient: out[tdim + 3 a + l][i + v * ldo] += d/dy_l of it, when out[tdim] != NULL (then
 * all 3 tdim gradient pointers are set). Pairs at distance 0 contribute nothing. param is
 * the kernel's parameter in scaled units; acc only matters where the kernel has a fast form. */
typedef void (*kifmm_p2p_fn)(double param, kifmm_rsqrt acc, int nv, int64_t ns, const double *sx,
                             const double *sy, const double *sz, const double *q, int64_t qs,
                             int64_t qv, int64_t nt, const double *tx, const double *ty,
                             const double *tz, double *const *out, int64_t ldo);
/* Dense kernel matrix for the precomputation: K[(i tdim + a) + (j sdim + b) ldk] = K_ab(y_i -
 * x_j) for nt targets y and ns sources x (interleaved xyz), column-major, nt tdim rows. */
typedef void (*kifmm_matrix_fn)(double param, int64_t nt, const double *y, int64_t ns,
                                const double *x, double *k, int64_t ldk);

/* Most components of a density or a value (Stokes: 3). Components of dimension 3 are vectors
 * that turn with the coordinates (the operators use the cube's symmetries on them); 1 is a
 * scalar. Those are the only dimensions the passes accept. */
#define KIFMM_MAX_KDIM 3

/* Yukawa exp(-kappa r) / r (yukawa.c; param = kappa, 0 is Laplace): value 1, gradient 3. */
KIFMM_INTERNAL void kifmm__yukawa_matrix(double kappa, int64_t nt, const double *y, int64_t ns,
                                         const double *x, double *k, int64_t ldk);
KIFMM_INTERNAL void kifmm__yukawa_p2p(double kappa, kifmm_rsqrt acc, int nv, int64_t ns,
                                      const double *sx, const double *sy, const double *sz,
                                      const double *q, int64_t qs, int64_t qv, int64_t nt,
                                      const double *tx, const double *ty, const double *tz,
                                      double *const *out, int64_t ldo);
/* exp(-x) for the pairs of one Yukawa sum as a polynomial of degree deg in x - x0
 * (exp_taylor.c: Taylor's, economized), sum_k c[k] (x - x0)^k within half an ulp (truncation)
 * of exp(-x), of a double or of a float for single precision, wherever the sum's kappa r can
 * be; deg == 0 where no polynomial of degree up to KIFMM_EXP_TAYLOR_DEG serves (the sums
 * then take the full exp). */
#define KIFMM_EXP_TAYLOR_DEG 16
#define KIFMM_EXP_TAYLOR_MAX 1.5 /* the largest kappa r the polynomials serve */
/* The degrees exp_taylor.c chooses from, lowest first, as X(n) each: the SIMD loops keep one
 * copy for each, so the list is stated here once (double sums; single-precision sums). */
#define KIFMM_EXP_TAYLOR_DEGREES(X) X(8) X(10) X(12) X(14) X(16)
#define KIFMM_EXP_TAYLOR_DEGREES_SINGLE(X) X(4) X(6) X(8)
typedef struct {
  int deg;
  double x0, c[KIFMM_EXP_TAYLOR_DEG + 1];
} kifmm_exp_taylor;
/* e = sum_k c[k] t^k (t = x - x0) by Horner's rule on a SIMD path's FMA and broadcast; deg is
 * a constant at each use, so the loop unrolls. */
#define KIFMM_EXP_TAYLOR_EVAL(FMA, SET1, deg, t, c, e)                                         \
  do {                                                                                         \
    e = SET1((c)[deg]);                                                                        \
    _Pragma("GCC unroll 16") for (int k_ = (deg) - 1; k_ >= 0; k_--) e = FMA(e, t, SET1((c)[k_])); \
  } while (0)
/* That for the pairs between na points a (a[0..2]: x, y, z) and nb points b, from their
 * bounding boxes; single: for the single-precision sums. */
KIFMM_INTERNAL void kifmm__exp_taylor_for(double kappa, int single, int64_t na,
                                          const double *const *a, int64_t nb,
                                          const double *const *b, kifmm_exp_taylor *tp);
/* Stokeslet delta_ik / r + r_i r_k / r^3 (stokes.c; param = mu, only in the factor): 3
 * densities, 3 values, gradient du_i/dy_l at out[3 + 3 i + l]. */
KIFMM_INTERNAL void kifmm__stokes_matrix(double mu, int64_t nt, const double *y, int64_t ns,
                                         const double *x, double *k, int64_t ldk);
KIFMM_INTERNAL void kifmm__stokes_p2p(double mu, kifmm_rsqrt acc, int nv, int64_t ns,
                                      const double *sx, const double *sy, const double *sz,
                                      const double *q, int64_t qs, int64_t qv, int64_t nt,
                                      const double *tx, const double *ty, const double *tz,
                                      double *const *out, int64_t ldo);

/* The near field between two point sets that are each other's sources and targets, each
 * pair's geometry once for both ends (Newton's third law), one density vector, to full double
 * precision (Laplace: as its one-way sums for acc): outa[0][i] += sum_j qb_j K(a_i - b_j) and outb[0][j] += sum_i qa_i K(b_j - a_i);
 * gradients d/dy at out[1..3] when outa[1] != NULL (then outb[1..3] are set too). Pairs at
 * distance 0 contribute nothing. A kernel's entry has one where its value is even in the
 * difference and its gradient odd, of one density component. */
typedef void (*kifmm_p2p_both_fn)(double param, kifmm_rsqrt acc, int64_t na, const double *ax, const double *ay,
                                  const double *az, const double *qa, double *const *outa,
                                  int64_t nb, const double *bx, const double *by,
                                  const double *bz, const double *qb, double *const *outb);
/* That for the scalar kernels Laplace (kappa == 0) and Yukawa exp(-kappa r)/r (symmetric.c). */
KIFMM_INTERNAL void kifmm__p2p_symmetric(double kappa, kifmm_rsqrt acc, int64_t na, const double *ax,
                                         const double *ay, const double *az, const double *qa,
                                         double *const *outa, int64_t nb, const double *bx,
                                         const double *by, const double *bz, const double *qb,
                                         double *const *outb);

typedef struct kifmm_kernel {
  int32_t id;          /* KIFMM_KERNEL_* */
  const char *name;    /* in the operator cache key */
  int sdim, tdim;      /* density components per source, value components per target */
  int homogeneous;     /* 1: K(a r) = K(r) / a, one operator set serves every level; 0: the
                          operators depend on param times the box side (one set a level) */
  /* the constant factor of the kernel for the caller's parameter: 1/(4 pi), 1/(8 pi mu) */
  double (*factor)(double param);
  kifmm_matrix_fn matrix; /* NULL: not implemented yet (plans refuse the kernel) */
  kifmm_p2p_fn p2p;
  kifmm_p2p_both_fn p2p_both; /* NULL: the near field is taken one way only */
  int single; /* 1: p2p sums in single precision for KIFMM_RSQRT_SINGLE on the AVX-512 and
                 AVX2 paths (single.c: Laplace, Yukawa, Stokes); a plan then takes its near
                 field one way */
} kifmm_kernel;

/* The entry of kernel id, NULL for an unknown id. */
KIFMM_INTERNAL const kifmm_kernel *kifmm__kernel(int32_t id);
/* KIFMM_SUCCESS when param is valid for the kernel (checked after the id), else
 * KIFMM_ERR_INVALID_KERNEL_PARAM. */
KIFMM_INTERNAL int kifmm__kernel_check_param(const kifmm_kernel *k, double param);

#endif /* KIFMM_KERNELS_H */
