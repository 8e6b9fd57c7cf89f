/* SPDX-License-Identifier: BSD-3-Clause */
/* Work counts of a tree and its lists, the time they predict on this machine kind, the
 * memory a plan and one evaluation take, and the choices made from them: the expansion
 * order for a tolerance and the leaf size (ncrit) for a point distribution. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "plan/wisdom.h"

/* Seconds per unit of work on one core, fitted to the per-phase times of cube (p4, p6, p8,
 * p10, p12) and sphere (p6, p11) runs at 1e6 sources + 1e6 targets on the reference machine
 * kind (2-core AMD EPYC Zen4, Release build, 2 threads, OPENBLAS_NUM_THREADS=1, idle) divided
 * by the counts below: the medians of measured / predicted, refitted after the faster P2P,
 * M2L tiles, M2M/L2L blocking and plan construction (the former constants, 1.6e-9, 3e-11,
 * 1.5e-10, 2e-9, 1.2e-7 and 2.5e-6, predicted the cube p10 evaluation at 6.95 s against
 * 2.68 s measured). Per phase the fits spread over 0.34-0.42 (P2P: small leaves cost more a
 * pair), 0.71-1.05 (M2L), 0.26-0.36 (kernels), 0.14-0.21 (M2M/L2L) of the former values.
 * M2L in direction groups does 0.59x the flops (count_work) at about the same rate: cube 1e6
 * p6 predicted 0.50 s against 0.53 s measured, p12 0.86 s against 0.78 s. */
/* Plans of 1e5 points or more scale the evaluation's constants by this machine's measured
 * rates against those of wisdom.c's reference machine (kifmm__wisdom_scales), whose
 * AVX-512 path these constants predict within 11 % at p10 (cube 1e6 targets = sources,
 * 2.54 s against 2.0-2.8 s; its AVX2 path measured 4.3 s, predicted 5.0-5.2 s scaled by its
 * rates, 2.5 s without). */
static const double sec_per_pair = 5.9e-10;      /* P2P, potential and gradient */
static const double sec_per_m2l_flop = 2.4e-11;  /* M2L tiles (AVX-512), small and many */
static const double sec_per_m2m_flop = 2.6e-11;  /* M2M/L2L: 32 n^2 flops a non-leaf box */
static const double sec_per_kernel = 6.0e-10;    /* P2M/L2P/M2P/P2L: point x surface point */
static const double sec_per_point_tree = 9e-8;   /* sort, refine, balance per point */
static const double sec_per_box_lists = 1.8e-6;  /* colleagues, U, V, W, X per box */

/* Several charge vectors in one evaluation (kifmm_evaluate_many): the cost of a vector
 * relative to a one-vector evaluation is shared + (1 - shared) / nvec, fitted to 8 vectors in
 * one call against 8 calls (cube 1e6 p6, 2 threads, gradient, ncrit 150 and 500). The direct
 * sums share each pair's geometry and the gathering of the near field: P2P 0.17-0.44 a
 * vector (kernel alone, 4000 x 160 points: 0.5); the dense applies gain from wider gemms,
 * more where M2L buckets are small: M2L 0.41 (ncrit 500) to 0.89 (ncrit 150) a vector. */
static const double shared_direct = 0.05, shared_dense = 0.54;

static double per_vector(double shared, int nvec) {
  return nvec > 1 ? shared + (1.0 - shared) / nvec : 1.0;
}

/* The work of one evaluation with gradient, in the units above. */
typedef struct {
  double p2p_pairs; /* near-field (source, target) pairs */
  double kernels;   /* point x surface-point kernel evaluations: P2M, L2P, M2P, P2L */
  double m2l_flops; /* sum over V entries of 2 (kl + kr) r_t, plus compressing and expanding
                       each box with a V list into and out of all 6 groups (12 n (kl + kr)) */
  double m2m_flops; /* M2M and L2L */
} kifmm_work;

/* Worst relative l2 error of the potential at the default compression tolerance of each order
 * (operators.c), check surfaces of lattice order p + 2: cube and sphere inputs of 6e3 and 1e5
 * sources + as many targets (kifmm-bench, automatic leaf size, --check 1000), the cube,
 * sphere and clustered ones of test_tolerance (6e3 + 5e3, automatic leaf size) and all of
 * test_accuracy (ncrit 48 up to p10: its clustered input is the worst at p4-p10, p4 2.0e-4,
 * p6 2.1e-6, p8 3.6e-8, p10 6.4e-10; kifmm-bench's 6e3 cube otherwise, p12 9.2e-12, p14
 * 8.0e-13, p16 5.4e-14, about 2x its 1e5 figures). Odd orders, which test_accuracy lacks,
 * take 1.2x their worst measured, as the even ones needed; p2 is kept from the former
 * measurement. Before the denser check surfaces: p4 3.8e-4, p6 3.2e-6, p8 5e-8, p10 1.1e-9,
 * p12 3e-11, p14 1.5e-12, p16 1e-13. (Clustered inputs sit on their rounding floors from p12
 * on, test_tolerance's 6.9e-12, test_accuracy's 2e-11; kifmm-bench's "tight" one ~1e-6.) */
/* p17 and p18 reach 1.2e-14 and 8.5e-15 on the cube (6e3; 2e5: 1.5e-14 and 1.1e-14; 1e6:
 * 1.0e-14 and 8.7e-15) but not on the sphere, which stays at 8.6e-14 from p16 on (1e5
 * points, p16 8.7e-14 too; 6e3: 1.5e-14). Their worst over all inputs is no better than
 * p16's; for points that fill a volume (volume_error_by_order) it is, 1.2x the cube's
 * worst: so tolerances below p16's 1.2e-13 are met on volumes (p17, p18) and refused on
 * anything thinner, whose error p17 and p18 do not lower. */
static const double error_by_order[KIFMM_MAX_ORDER + 1] = {
    [2] = 1.2e-1, [3] = 2.2e-3,   [4] = 2.2e-4, [5] = 2.2e-5,   [6] = 2.2e-6,
    [7] = 2.5e-7, [8] = 3.8e-8,   [9] = 4.8e-9, [10] = 6.5e-10, [11] = 9e-11,
    [12] = 1e-11, [13] = 2.4e-12, [14] = 9e-13, [15] = 2.2e-13, [16] = 6e-14,
    [17] = 8.7e-14, [18] = 8.7e-14};
enum { VOLUME_FROM_ORDER = 17 };
static const double volume_error_by_order[] = {1.8e-14, 1.3e-14}; /* p17, p18 */

/* Points on a surface have a rounding floor above the table's p15-p18 entries: two samples
 * of one surface put some targets within 1e-5-1e-4 of a source, those targets' potentials
 * dominate the l2 norm, and the scaled coordinates of the tree (u = (x - c) / h, rounded to
 * a unit in the last place) change such a pair's 1/r by about 1e-16 / r relative, where the
 * direct sum takes the caller's coordinates as they are. An ellipsoid of semi-axes 1, 0.5,
 * 0.25 (5e4 sources + 5e4 targets, every target checked) gives 2.7e-13 at p14, p16 and any
 * compression or leaf size, the gradient 1.7e-12 from p12 on (6e3 + 5e3: 2.2e-14; the floor
 * grows with the number of points on a surface, about as the closest pairs' 1/r). This is the
 * floor at up to about 1e5 points. */
static const double surface_floor = 3e-13;

/* Stokes (the velocity's relative l2 error, worst of test_kernel_fmm's cube, sphere and
 * cluster clouds of 6e3 points at leaf size 80 and of 3e3 points at the automatic one,
 * default compression, times 1.2): it converges more slowly than Laplace (p4 3.5e-4, p6
 * 3.7e-6, p7 8.7e-7, p8 2.6e-7 (3e3 points at leaf size 50: 4.15e-7), p10 7.2e-9, p12 2.4e-10
 * on the cube, the worst cloud; 1e5 cube p6 3.7e-6; p6 with compression 1e-12 3.2e-6, with
 * pseudo-inverse cut-offs 1e-12 and 1e-15 3.7e-6: neither limits it). p2, p3 and p5 are Laplace's times the measured ratio of their
 * neighbours (2, 2, 1.7), p9 and p11 the geometric means of their neighbours times 1.5 (1e-7, 2.3e-9); orders without a
 * measurement are 1 (never chosen), so tolerances below what the measured orders reach are
 * refused (their operators are also 8x Laplace's in memory and 30-100x in time: p10 cube
 * precomputation 367 s on a loaded 2-core machine, cache file 0.8 GB; p12 1394 s, 1.7 GB). */
static const double stokes_error_by_order[KIFMM_MAX_ORDER + 1] = {
    [2] = 2.4e-1, [3] = 4.4e-3, [4] = 4.2e-4, [5] = 4.3e-5, [6] = 4.4e-6,  [7] = 1.05e-6,
    [8] = 5.0e-7, [9] = 1.0e-7, [10] = 8.7e-9, [11] = 2.3e-9, [12] = 2.8e-10, [13] = 1.0,
    [14] = 1.0,   [15] = 1.0,   [16] = 1.0,   [17] = 1.0,   [18] = 1.0};

/* Yukawa's errors follow Laplace's, up to 1.7 times them: kappa 10 over the width, p6, cube
 * 1e5 2.9e-6 against Laplace's 1.7e-6 (3e3: 1.35e-6 against 9.1e-7); test_kernel_fmm's
 * tolerance runs (kappa 10, 3e3 points, 1e-4 .. 1e-10 at p5, p7, p9, p12) 1.7e-5, 3.0e-7,
 * 5.7e-9, 1.45e-11 on the worst cloud, the cube; kappa 1e-3 .. 100 at p7 1.9e-7 .. 2e-9. */
static const double yukawa_over_laplace = 1.7;

/* How much larger a kernel's error is than Laplace's at order p (1 for Laplace). */
static double kernel_over_laplace(int p, int kernel) {
  if (kernel == KIFMM_KERNEL_STOKES)
    return stokes_error_by_order[p] / error_by_order[p];
  if (kernel == KIFMM_KERNEL_YUKAWA)
    return yukawa_over_laplace;
  return 1.0;
}

/* A distribution of dimension 2.9 or more fills a volume (the estimate gives 3 for uniform
 * cubes, 2 for spheres). Stokes has its own table. */
static double worst_error(int p, double dim, int kernel) {
  if (kernel == KIFMM_KERNEL_STOKES)
    return stokes_error_by_order[p];
  if (kernel == KIFMM_KERNEL_YUKAWA)
    return yukawa_over_laplace * error_by_order[p];
  if (dim >= 2.9 && p >= VOLUME_FROM_ORDER)
    return volume_error_by_order[p - VOLUME_FROM_ORDER];
  if (dim < 2.9)
    return fmax(error_by_order[p], surface_floor);
  return error_by_order[p];
}

/* Targets away from every source (kifmm__far_target_fraction), e.g. on a sphere of radius
 * 1.2, 3 or 12 around a unit cube of sources (6e3 sources, 5e3 targets, automatic leaf size,
 * default compression): the worst relative error of the potential and of the gradient over
 * the three, and over 6e4 sources + 2e4 targets from p12 on. At p15-p18 the small input is
 * all direct (one level): 3x the larger one's, as the small one gave 2.6-3.5x more at
 * p12-p14; p18 takes p17's. The gradient's is 20-180 times the potential's (7-17 at p2-p4), and the
 * potential's itself is up to 3x the tables' above from p8 on (the error of coarse boxes'
 * expansions is not diluted by any near field). Before these were taken into account,
 * tolerance 1e-6 on the sphere of radius 3 gave p7 and a gradient error of 1.7e-5. */
typedef struct {
  double pot, grad;
} far_error;
static const far_error far_error_by_order[KIFMM_MAX_ORDER + 1] = {
    [2] = {2.8e-2, 3.2e-1},   [3] = {2.8e-3, 4.7e-2},   [4] = {2.4e-4, 3.9e-3},
    [5] = {2.9e-5, 8.5e-4},   [6] = {3.6e-6, 1.2e-4},   [7] = {4.3e-7, 1.6e-5},
    [8] = {6.7e-8, 2.8e-6},   [9] = {1.2e-8, 3.8e-7},   [10] = {1.1e-9, 6.3e-8},
    [11] = {1.8e-10, 1.2e-8}, [12] = {1.6e-11, 1.4e-9}, [13] = {6.1e-12, 4.5e-10},
    [14] = {2.7e-12, 3.8e-10}, [15] = {4e-13, 5e-11},   [16] = {2.2e-13, 1.4e-11},
    [17] = {2e-13, 2.7e-12},   [18] = {2e-13, 2.7e-12}};
/* More far targets than this fraction take the table above. A few far targets' gradient
 * errors weigh little against the rest (1 %: at most 0.1 x their own error, 2-18 x the
 * tolerance, in the norm); the near field dominates the rest's gradients. */
static const double far_fraction_max = 0.01;
/* The gradient's error is promised within this factor of the tolerance (kifmm.h). */
static const double gradient_factor = 10.0;

/* Compression adds about 0.7-1.2 times its tolerance to the potential's error, in quadrature
 * with the truncation (operators.c); 1.5 bounds it. */
static const double compression_error_per_tol = 1.5;

/* The margin between a measured worst error and the tolerance it is chosen for. */
static const double error_margin = 2.0;

/* Loosest compression tolerance of order p whose predicted error stays within the error
 * budget, never tighter than the default; rounded down to 1, 2 or 5 times a power of ten so
 * that nearby tolerances share one cached operator set. */
static double compression_for(double e, int p, double budget) {
  double c = kifmm__default_tolerance(p);
  if (budget <= e)
    return c;
  double loose = sqrt(budget * budget - e * e) / compression_error_per_tol;
  double decade = pow(10.0, floor(log10(loose))), mant = loose / decade;
  loose = decade * (mant >= 5 ? 5 : mant >= 2 ? 2 : 1);
  return loose > c ? loose : c;
}

/* Every cost of an evaluation grows with the order, so the fastest choice that meets the
 * tolerance is the smallest order that does, at the loosest compression its error allows. */
int kifmm__order_for_tolerance(double tolerance, double dim, double far_fraction, int kernel,
                               int min_order, double *compression_tol) {
  for (int p = min_order > KIFMM_MIN_ORDER ? min_order : KIFMM_MIN_ORDER; p <= KIFMM_MAX_ORDER;
       p++) {
    double e = worst_error(p, dim, kernel), budget = tolerance;
    if (far_fraction > far_fraction_max) {
      /* the potential's error that keeps the gradient's within the factor; compression
       * error is amplified less than truncation's (p6: about 20x against 47x). The far
       * targets' table is Laplace's: other kernels take it times their own ratio to
       * Laplace's table at this order. */
      const far_error *f = &far_error_by_order[p];
      const double k = kernel_over_laplace(p, kernel);
      e = fmax(e, k * f->pot);
      budget = fmin(budget, gradient_factor * tolerance * e / (k * f->grad));
    }
    if (error_margin * e <= budget) {
      if (*compression_tol == 0.0)
        *compression_tol = compression_for(e, p, budget / error_margin);
      return p;
    }
  }
  return -1;
}

double kifmm__tolerance_floor(void) {
  double best = worst_error(KIFMM_MIN_ORDER, 3.0, KIFMM_KERNEL_LAPLACE);
  for (int p = KIFMM_MIN_ORDER + 1; p <= KIFMM_MAX_ORDER; p++)
    best = fmin(best, worst_error(p, 3.0, KIFMM_KERNEL_LAPLACE));
  return error_margin * best;
}

kifmm_rsqrt kifmm__rsqrt_for_order(int order) {
  if (order < KIFMM_MIN_ORDER || order > KIFMM_MAX_ORDER)
    return KIFMM_RSQRT_FULL;
  const double fast = kifmm__rsqrt_fast_error(); /* 0: the path has no fast form */
  return fast > 0 && error_by_order[order] >= 30 * fast ? KIFMM_RSQRT_FAST : KIFMM_RSQRT_FULL;
}

kifmm_rsqrt kifmm__near_accuracy(int order, double tolerance, const kifmm_kernel *k) {
  const char *e = getenv("KIFMM_PRECISION");
  const int never = e && strcmp(e, "double") == 0, always = e && strcmp(e, "single") == 0;
  const int known = order >= KIFMM_MIN_ORDER && order <= KIFMM_MAX_ORDER;
  const int kernel = k ? k->id : KIFMM_KERNEL_LAPLACE;
  const double ep = known ? error_by_order[order] * kernel_over_laplace(order, kernel) : 0.0;
  const int fits = known && (tolerance > 0
                                 ? error_margin * (ep + KIFMM_SINGLE_ERROR) <= tolerance
                                 : ep >= KIFMM_SINGLE_MARGIN * KIFMM_SINGLE_ERROR);
  if (k && k->single && kifmm__simd() != KIFMM_SIMD_PORTABLE && !never && (always || fits))
    return KIFMM_RSQRT_SINGLE;
  return kifmm__rsqrt_for_order(order);
}

/* The highest order the step of kifmm__order_for_near_precision starts from: p7 -> p8 paid,
 * p8 -> p9 (Yukawa at 5e-7) was level within the noise (5.62-7.25 s against 5.77-6.31 s):
 * the next order's P2M and L2P, an exponential per point and surface point, grow as much as
 * the near field saves. A vector kernel's pairs (Stokes: 3 densities, 12 outputs) are dearer
 * still against its far field, so its step from p8 pays: Stokes at 1e-6 (cube 1e6 + 1e6,
 * 2 threads, AMD EPYC Zen4) p9 in single 8.0 s (AVX-512) and 9.9 s (AVX2) against p8 in double
 * 10.5 and 14.3 s (errors 1.1e-7 / 2.6e-7 against 2.8e-7 / 4.1e-7). */
static int single_step_max_order(const kifmm_kernel *k) { return k->sdim * k->tdim > 1 ? 8 : 7; }

int kifmm__order_for_near_precision(int order, double tolerance, const kifmm_kernel *k) {
  if (!k || order < KIFMM_MIN_ORDER || order > single_step_max_order(k) ||
      kifmm__kernel_pair_cost(k) < 2.0 ||
      kifmm__near_accuracy(order, tolerance, k) == KIFMM_RSQRT_SINGLE)
    return order;
  return kifmm__near_accuracy(order + 1, tolerance, k) == KIFMM_RSQRT_SINGLE ? order + 1 : order;
}

static int64_t nsrc_of(const kifmm_tree *t, int64_t b) { return t->src_end[b] - t->src_begin[b]; }
static int64_t ntrg_of(const kifmm_tree *t, int64_t b) { return t->trg_end[b] - t->trg_begin[b]; }

/* Work of the far field a box takes part in, where its level has operators (a level
 * without them does none: kifmm__opset). Kernel evaluations count point pairs; flops count
 * the dense applies of ne = n sdim densities and the M2L ranks of the level's set. */
static void count_work(const kifmm_tree *t, const kifmm_lists *L, const kifmm_operators *ops,
                       kifmm_work *w) {
  const double n = ops->n, nc = ops->nc, ne = ops->ne;
  const double groups = KIFMM_M2L_GROUPS;
  memset(w, 0, sizeof(*w));
  for (int64_t b = 0; b < t->nbox; b++) {
    const kifmm_opset *set = kifmm__opset(ops, t->level[b]);
    double nt = (double)ntrg_of(t, b);
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
      w->p2p_pairs += nt * (double)nsrc_of(t, L->u_idx[e]);
    for (int64_t e = L->w_ptr[b]; e < L->w_ptr[b + 1]; e++) /* M2P or its direct fallback */
      if (kifmm__opset(ops, t->level[L->w_idx[e]]))
        w->kernels += nt * fmin(n, (double)nsrc_of(t, L->w_idx[e]));
    if (!set)
      continue;
    const double kl = set->kl, kr = set->kr;
    for (int64_t e = L->x_ptr[b]; e < L->x_ptr[b + 1]; e++) /* P2L or its direct fallback */
      w->kernels += (nt <= n ? nt : nc) * (double)nsrc_of(t, L->x_idx[e]);
    for (int64_t e = L->v_ptr[b]; e < L->v_ptr[b + 1]; e++)
      w->m2l_flops += 2.0 * (kl + kr) * set->r[L->v_tv[e]];
    if (L->v_ptr[b + 1] > L->v_ptr[b])
      w->m2l_flops += 2.0 * ne * groups * (kl + kr);
    if (t->nchild[b] == 0) /* P2M (to the check surface) and L2P */
      w->kernels += nc * (double)nsrc_of(t, b) + n * nt;
    else /* ne x 8ne up and 8ne x ne down, 2 flops each */
      w->m2m_flops += 32.0 * ne * ne;
  }
}

/* A point pair of a kernel relative to one of Laplace's (potential and gradient, full 1/r),
 * from what its direct sums do, never from its name: an exponential a pair where the kernel
 * is not homogeneous (Yukawa), a 3 x 3 tensor with its 27 derivatives a vector density
 * (Stokes). Measured with kifmm-p2p-bench (AVX-512, 244 x 6600, one thread, minimum of 200):
 * Laplace 1.20 ms, Yukawa 3.39 ms (2.8x), Stokes 2.77 ms (2.3x; a pair does 3 densities'
 * work). With Yukawa's exp as a Taylor polynomial where kappa r stays short (exp_taylor.c):
 * 2.3x Laplace's there (kappa 1 on a unit cube; AVX2 2.5x), 3.7x with the full exp (kappa
 * 30; AVX2 4.2x; AMD EPYC Zen4); 2.8 stays between the two. */
double kifmm__kernel_pair_cost(const kifmm_kernel *k) {
  double c = k->homogeneous ? 1.0 : 2.8;
  return k->sdim * k->tdim > 1 ? 2.3 * c : c;
}

/* M2L and the other dense applies of a kernel relative to Laplace's at the same tree and
 * order: ne = n sdim columns and ranks that grow with the components. Measured, cube 1e5, p6,
 * 2 threads: Stokes' M2L 4-5.6x Laplace's (1.29-1.47 s against 0.23-0.37 s). */
static double kernel_dense_cost(const kifmm_kernel *k) { return k->sdim * k->tdim > 1 ? 5.0 : 1.0; }

/* ---- leaf size from the order and the dimension of the distribution ----
 * The best leaf size balances the near field (grows with ncrit) against M2L (grows with
 * the number of boxes, and with the order). Where points fill a volume a leaf's neighbours
 * hold 26 times its points; on a surface about 8 times, so surfaces want much larger leaves.
 * Best ncrit measured by sweeps (1e6 sources + 1e6 targets, p6 and p10, 2 threads, 0.2):
 * cube p6 flat over 75-300, p10 best at 600; sphere p6 best at 300-430, p10 at 430-865; the
 * other orders interpolated. Volume (cube) and surface (sphere) values are interpolated in
 * log ncrit between dimension 2 and 3. Checked again with the cheaper M2L of the 0.3
 * compression defaults (same sizes, 2 runs each, a loaded machine): the automatic size was
 * the fastest or built the same tree as the fastest in all four cases (cube p6: 150 builds
 * the tree of 110-300, 61 points a leaf, 6.0 s, 75 a deeper one, 6.8 s; cube p10: 600 that of
 * 600-1200, 488 a leaf, 300-450 are 2-3x slower; sphere p6 371: 2.21 s against 2.33-3.11; sphere p10 692:
 * 5.79 s against 6.58-8.31). Cube p7 and p8 (rows of their own since 2026-12-08), 1e6, measured again
 * 2026-12-07 on an idle machine, 2 runs interleaved, both SIMD paths: since the M2L speed-ups
 * 61 points a leaf (ncrit 150) beat 488 (ncrit 600) on both: p7 AVX-512 1.50 s against
 * 2.10, AVX2 2.6-3.9 against 4.7; p8 AVX-512 2.13-2.33 against 2.27-2.73, AVX2 3.72-3.82
 * against 4.58-4.60 (M2L 1.1-2.0 s, P2P 1.8-4.0 s at 488); p9 (p10's row, 600) the other way
 * on AVX-512 (2.32-2.38 against 2.86-3.08) and even on AVX2 (4.96-5.16 against 4.87-5.03).
 * (An earlier, loaded measurement had 488 ahead at p8, with M2L 5.4-5.8 s at 61 a leaf.)
 * Sphere p7, p8 at 200 and 550: within 10 % either way, so the surface column stays.
 * That holds for Laplace only (column laplace): the other kernels' factors (kernel_factor
 * below) were fitted against 600, and from 150 they build trees measured slower, cube 1e6
 * at tolerance 1e-6: Stokes p8 16.9 s at ncrit 221 against 9.1 s at 885 (its M2L is 5x
 * Laplace's), Yukawa p7 4.38 s at 90 against 3.74 at 359 (its near field then in double); so
 * they keep the volume column, except where the near field runs in single precision
 * (kifmm__choose_ncrit). */
/* Laplace at p8 (column laplace, not p7's row) sits where the machines measured tie: a cube
 * of 1e6 + 1e6 has 61 or 488 points a leaf, and which is faster turned with the wisdom
 * factor (the dense applies' cost against a pair's, kifmm__wisdom_leaf_factor): 61 by
 * 5-12 % at factor 1.0 (Intel Xeon, AVX-512) and by 20 % at 0.98 (its AVX2 path), 61 by 4 % at
 * 1.06 (AMD EPYC Zen4, AVX2: 3.17-3.23 s against 3.29-3.35), 488 by 20 % at 1.20 (Zen4,
 * AVX-512: 2.14 s against 2.51-2.61). 350 turns to 488 from a factor of 1.08 (the level's
 * lower edge, 379 points, clear_of_levels), the tie interpolated between the last two. A
 * kernel whose near field runs in single precision (Yukawa at p8) keeps 150 (column
 * single): its P2M and L2P are dear and 61 won by 1.27-1.5x on the Xeon. */
/* A vector kernel (Stokes) whose near field runs in single precision at p6 (column vector,
 * times its kernel factor 1.47): its pairs cost a third of its double ones, and the larger
 * leaves won on both paths of an AMD EPYC Zen4, tolerance 1e-5: cube 1e6 488 points a leaf
 * 3.94 s against 5.63 s at 61 (AVX-512), 5.16 against 6.55 (AVX2); 1e5 390 a leaf 0.65-0.89 s
 * against 1.14-1.54 (AVX-512), 1.04-1.06 against 1.56-1.87 (AVX2). 270 reaches the larger
 * leaves from a machine factor of 0.96. At p5 (a row of its own) the two were level on AVX-512
 * (3.58 against 3.43 s) and 61 won on AVX2 (3.88 against 4.77): it keeps the volume column. */
typedef struct {
  int order;
  double volume, surface;
  double laplace; /* Laplace's volume value where it differs (0: the same) */
  double single;  /* that of a scalar kernel whose near field runs in single precision (0: laplace) */
  double vector;  /* that of a vector kernel whose near field runs in single precision (0: volume) */
} ncrit_row;

static const ncrit_row best_ncrit[] = {
    {2, 48, 128, 0, 0, 0},        {4, 96, 256, 0, 0, 0},        {5, 150, 400, 0, 0, 0},
    {6, 150, 400, 0, 0, 270},     {7, 600, 550, 150, 150, 0},   {8, 600, 550, 350, 150, 0},
    {10, 600, 700, 0, 0, 0},      {12, 800, 1000, 0, 0, 0},     {14, 1000, 1300, 0, 0, 0},
    {16, 1200, 1600, 0, 0, 0},    {18, 1200, 1600, 0, 0, 0}};

enum { DIM_SAMPLE = 65536 };

static int compare_keys(const void *a, const void *b) {
  kifmm_key x = *(const kifmm_key *)a, y = *(const kifmm_key *)b;
  return (x > y) - (x < y);
}

/* Growth of the number of occupied boxes per level, log2, where boxes still hold many
 * points of a subsample: 3 for a volume, 2 for a surface, 1 for a curve. The mean number of
 * points (sources and targets, as the tree counts them) in an occupied box of each level goes
 * to d->occupancy: measured where the sample resolves the level, then extrapolated with that
 * growth. */
int kifmm__distribution(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                        kifmm_distribution *d) {
  const int nlev = KIFMM_OCCUPANCY_LEVELS;
  int64_t total = nsrc + ntrg;
  d->dim = 3.0;
  for (int l = 0; l < nlev; l++) /* a volume's, until measured */
    d->occupancy[l] = (double)total / exp2(3.0 * l);
  if (total == 0)
    return KIFMM_SUCCESS;
  int64_t stride = (total + DIM_SAMPLE - 1) / DIM_SAMPLE;
  int64_t m = (total + stride - 1) / stride;
  kifmm_key *key;
  ALLOC(key, m);
  double center[3], half;
  kifmm__bounding_box(nsrc, src, ntrg, trg, center, &half);
  for (int64_t i = 0, j = 0; i < total && j < m; i += stride, j++) {
    const double *x = i < nsrc ? src + 3 * i : trg + 3 * (i - nsrc);
    double u[3];
    for (int c = 0; c < 3; c++)
      u[c] = kifmm__scaled(x[c], center[c], half);
    key[j] = kifmm__point_key(u);
  }
  qsort(key, (size_t)m, sizeof(*key), compare_keys);
  double prev = 1, growth = 3.0;
  int resolved = 0; /* the deepest level the sample resolves */
  for (int l = 1; l <= 12 && l < nlev; l++) {
    int shift = 3 * (KIFMM_KEY_BITS - l);
    double cells = 1;
    for (int64_t j = 1; j < m; j++)
      cells += (key[j] >> shift) != (key[j - 1] >> shift);
    if ((double)m / cells < 32) /* boxes too sparse in the sample to tell */
      break;
    if (l >= 2)
      growth = log2(cells / prev);
    prev = cells;
    resolved = l;
    d->occupancy[l] = (double)total / cells;
  }
  free(key);
  d->dim = fmin(fmax(growth, 1.0), 3.0);
  for (int l = resolved + 1; l < nlev; l++)
    d->occupancy[l] = d->occupancy[l - 1] / exp2(d->dim);
  return KIFMM_SUCCESS;
}

/* Targets away from every source get their whole field from expansions of boxes about their
 * own size, whose error varies on the scale of those boxes, while the field itself varies on
 * the scale of the distance to the sources: the gradient's relative error is then 20-110
 * times the potential's (far_error_by_order), not the 10 times of targets among sources.
 * Measured on a sample: the finest level whose occupied boxes hold 8 sampled sources or more
 * on average (so that a target among sources nearly always has one in its 27 boxes), and the
 * fraction of sampled targets with no sampled source in their box or its 26 neighbours. */
enum { FAR_TARGET_SAMPLE = 4096 };

static int find_key(const kifmm_key *k, int64_t n, kifmm_key v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (k[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && k[lo] == v;
}

int kifmm__far_target_fraction(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                               double *fraction) {
  *fraction = 0.0;
  if (nsrc == 0 || ntrg == 0)
    return KIFMM_SUCCESS;
  double center[3], half;
  kifmm__bounding_box(nsrc, src, ntrg, trg, center, &half);
  int64_t sstride = (nsrc + DIM_SAMPLE - 1) / DIM_SAMPLE, ms = (nsrc + sstride - 1) / sstride;
  int64_t tstride = (ntrg + FAR_TARGET_SAMPLE - 1) / FAR_TARGET_SAMPLE;
  int64_t mt = (ntrg + tstride - 1) / tstride;
  kifmm_key *key;
  ALLOC(key, ms + mt);
  kifmm_key *tkey = key + ms;
  for (int64_t j = 0; j < ms + mt; j++) {
    const double *x = j < ms ? src + 3 * j * sstride : trg + 3 * (j - ms) * tstride;
    double u[3];
    for (int d = 0; d < 3; d++)
      u[d] = kifmm__scaled(x[d], center[d], half);
    key[j] = kifmm__point_key(u);
  }
  qsort(key, (size_t)ms, sizeof(*key), compare_keys);
  int level = 1;
  for (int l = 2; l <= 12; l++) {
    int shift = 3 * (KIFMM_KEY_BITS - l);
    double cells = 1;
    for (int64_t j = 1; j < ms; j++)
      cells += (key[j] >> shift) != (key[j - 1] >> shift);
    if ((double)ms / cells < 8)
      break;
    level = l;
  }
  const int shift = 3 * (KIFMM_KEY_BITS - level);
  int64_t ncell = 0; /* the occupied source boxes at that level, in place, sorted */
  for (int64_t j = 0; j < ms; j++)
    if (ncell == 0 || key[ncell - 1] != key[j] >> shift)
      key[ncell++] = key[j] >> shift;
  int64_t far = 0;
  for (int64_t j = 0; j < mt; j++) {
    kifmm_key cell = tkey[j] >> shift, nb;
    int near = 0;
    for (int d = 0; d < 27 && !near; d++)
      near = kifmm__morton_neighbor(cell, level, d / 9 - 1, d / 3 % 3 - 1, d % 3 - 1, &nb) &&
             find_key(key, ncell, nb);
    far += !near;
  }
  free(key);
  *fraction = (double)far / (double)mt;
  return KIFMM_SUCCESS;
}

/* A volume's boxes of one level hold about the same number of points m (Poisson, with a
 * standard deviation sd of up to sqrt(2 m): where targets are the sources a point counts
 * twice), so a leaf size near m splits some of them and not others: a tree half a level
 * deeper, whose W and X lists (M2P, P2L) cost more than either uniform tree does. Such a size
 * moves above the band (m - 3.5 sd .. m + 4.5 sd, at least 1.3 m: a volume's density need not
 * be even), so that none of the level's boxes split; a size clear of every band stays. Yukawa
 * at kappa 5 and 1e-10 (p12), cube 1e6 + 1e6 (488 points a depth-4 box), AVX-512, 2 threads,
 * 2 runs interleaved: the table's 800 times the kernel's 0.6, 478, built a tree of 22961
 * leaves at depths 4 and 5, 10.3-10.6 s (M2P + P2L 2.1-2.2 s) with a plan of 1154 MB; moved to
 * 634, the uniform depth-4 tree, 9.3-10.3 s and 714 MB (the finer uniform tree, ncrit 150:
 * 9.24 s and 1309 MB, one level of operators more). Laplace p10 at 300-450 was 2-3x slower
 * than at 600. Surfaces and curves have boxes of every count: no band to avoid. */
static double clear_of_levels(double c, const kifmm_distribution *d) {
  if (d->dim < 2.5)
    return c;
  for (int l = 1; l < KIFMM_OCCUPANCY_LEVELS; l++) {
    const double m = d->occupancy[l], sd = sqrt(2.0 * m);
    const double lo = m - 3.5 * sd, hi = m + fmax(0.3 * m, 4.5 * sd);
    if (m >= 24 && c > lo && c < hi)
      return hi;
  }
  return c;
}

/* The volume value of row r for kernel k (NULL: unknown) and the options: Laplace's column;
 * that of a scalar kernel whose near field runs in single precision, as cheap a pair as
 * Laplace's in double or cheaper (column single where set, else Laplace's): Yukawa at p8,
 * tolerance 1e-6 (cube 1e6 + 1e6, 3 interleaved rounds): 61 points a leaf 2.13-2.24 s
 * against 488 a leaf 2.70-2.88 on AVX-512 (the volume column gave 488), 3.10-3.22 against
 * 4.71-4.84 on AVX2; that of a vector kernel in single precision (column vector: Stokes, whose
 * M2L of 3 x 3 blocks outweighs even its single pairs at p8: cube 1e6 in single, 61 points a
 * leaf 21.3 s (M2L 14.6) against 488 a leaf 7.2 s on AVX-512, Zen4); the volume column
 * otherwise or where the column has no entry (0). */
static double volume_column(const ncrit_row *r, const kifmm_kernel *k, const kifmm_options *o) {
  if (!k)
    return r->volume;
  const int in_single =
      kifmm__near_accuracy(o->order, o->tolerance, k) == KIFMM_RSQRT_SINGLE;
  double v = 0.0;
  if (k->id == KIFMM_KERNEL_LAPLACE)
    v = r->laplace;
  else if (in_single && k->sdim * k->tdim == 1)
    v = r->single > 0 ? r->single : r->laplace;
  else if (in_single)
    v = r->vector;
  return v > 0 ? v : r->volume;
}

int kifmm__choose_ncrit(const kifmm_options *o, const kifmm_distribution *d, double machine,
                        int *ncrit) {
  const double dim = d->dim;
  const int nrow = (int)(sizeof(best_ncrit) / sizeof(best_ncrit[0]));
  ncrit_row r = best_ncrit[nrow - 1];
  for (int i = 0; i < nrow; i++)
    if (best_ncrit[i].order >= o->order) {
      r = best_ncrit[i];
      break;
    }
  double w = fmin(fmax(dim - 2.0, 0.0), 1.0); /* 1 = volume, 0 = surface or thinner */
  const kifmm_kernel *k = kifmm__kernel(o->kernel);
  r.volume = volume_column(&r, k, o);
  /* With several vectors a pair's cost a vector falls faster than M2L's, so leaves grow. A
   * smooth near ~ ncrit, far ~ 1/ncrit balance would give the square root of the cost ratio,
   * but a uniform tree's levels are discrete (1e6 cube: 61 or 488 points a leaf) and M2L
   * falls by far more than the box count when a level goes: 8 vectors in one call took 32 s
   * at ncrit 150 and 282, 7.9 s at 500 and 7.2 s at 1000. The ratio itself, capped at 6
   * (1.47 at 2 vectors, 3.5 at 8, 5.2 at 16), reaches that measured optimum. */
  double nvec_factor =
      fmin(per_vector(shared_dense, o->nvec) / per_vector(shared_direct, o->nvec), 6.0);
  /* A kernel's dense applies grow (kernel_dense_cost) and so do its pairs
   * (kifmm__kernel_pair_cost): the square root of the ratio of the two, the balance of
   * near ~ ncrit and far ~ 1 / ncrit, moves the leaf size (Yukawa 0.6x, Stokes 1.5x). */
  double kernel_factor = k ? sqrt(kernel_dense_cost(k) / kifmm__kernel_pair_cost(k)) : 1.0;
  double c = machine * nvec_factor * kernel_factor *
             exp(w * log(r.volume) + (1 - w) * log(r.surface));
  *ncrit = (int)fmax(1.0, floor(clear_of_levels(c, d)));
  return KIFMM_SUCCESS;
}

/* ---- dry run ---- */
/* Memory the BLAS, OpenMP and HDF5 runtimes add to a process on their first use (thread
 * stacks, OpenBLAS's buffers), fitted to the peak RSS growth of 4e5 + 4e5 point runs (cube
 * and sphere, p6, 2 threads): the estimate is within 15 % from about 1e5 points up; below,
 * the runtimes' own few tens of MB dominate and are underestimated. */
static const double runtime_bytes = 12e6;

/* Work arrays of one evaluation beyond the plan: the compressed multipoles of the busiest
 * level (one group's at a time), and per thread the pass scratch
 * (evaluate.c: 9 n x 64 blocks; M2L blocks of kl + kr rows by 512 nvec columns with their
 * pair lists) and the gathered U-list sources of the largest near field. */
static double evaluation_bytes(const kifmm_plan *p, int nvec) {
  const kifmm_tree *t = &p->tree;
  const kifmm_lists *L = &p->lists;
  double widest = 0, gather = 0;
  for (int l = 0; l <= t->depth; l++)
    widest = fmax(widest, (double)(t->level_ptr[l + 1] - t->level_ptr[l]));
  for (int64_t b = 0; b < t->nbox; b++) {
    double ns = 0;
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
      ns += (double)nsrc_of(t, L->u_idx[e]);
    gather = fmax(gather, ns);
  }
  double n = p->ops.ne, kl = 0, kr = 0, nv = nvec;
  for (int i = 0; i < p->ops.nsets; i++) {
    kl = fmax(kl, p->ops.set[i].kl);
    kr = fmax(kr, p->ops.set[i].kr);
  }
  const double blk = KIFMM_M2L_BLOCK_MAX;
  double scratch = fmax(9 * n * 64, (kl + kr + 4) * blk * nv) * 8 + 2 * blk * KIFMM_NTV * 4 +
                   (3 + nv * p->ops.sdim) * gather * 8;
  return 8 * kr * widest * nv + p->nthreads * scratch;
}

/* Transient of plan creation: the tree's arrays and the sorted key prefixes of both point
 * sets (8 bytes a point), held while the boxes are made; the radix sort's scratch is the
 * coordinate arrays the tree keeps. */
static double creation_bytes(const kifmm_plan *p) {
  return 8.0 * (double)(p->tree.nsrc + p->tree.ntrg) + (double)kifmm__tree_bytes(&p->tree);
}

void kifmm__estimate(const kifmm_plan *p, kifmm_estimate *est) {
  kifmm_estimate e;
  memset(&e, 0, sizeof(e));
  e.struct_size = (int32_t)sizeof(e);
  e.order = p->ops.order;
  e.ncrit = p->opts.ncrit;
  e.depth = p->tree.depth;
  e.nboxes = p->tree.nbox;
  e.nleaves = p->tree.nleaf;
  /* the plan's work arrays grow to options.nvec vectors at the first such evaluation */
  const int nv = p->opts.nvec;
  e.bytes_plan = p->stats.bytes + kifmm__work_bytes(p, nv) - kifmm__work_bytes(p, 1);
  double during_eval = (double)e.bytes_plan + evaluation_bytes(p, nv);
  e.bytes_peak = (int64_t)(fmax(during_eval, creation_bytes(p)) + runtime_bytes);

  kifmm_work w;
  count_work(&p->tree, &p->lists, &p->ops, &w);
  const double per = 1.0 / p->nthreads; /* cores share every phase evenly */
  e.t_tree = sec_per_point_tree * (double)(p->tree.nsrc + p->tree.ntrg) * per;
  e.t_lists = sec_per_box_lists * (double)p->tree.nbox * per;
  e.t_operators = p->stats.t_operators;
  const double direct = nv * per_vector(shared_direct, nv), dense = nv * per_vector(shared_dense, nv);
  /* this machine's rates against the reference's, where plans take them (wisdom.c) */
  double here_pair, here_flop;
  kifmm__wisdom_scales(&p->opts, p->tree.nsrc + p->tree.ntrg, &here_pair, &here_flop);
  const double pair = kifmm__kernel_pair_cost(p->kernel) * here_pair;
  e.t_p2p = sec_per_pair * pair * w.p2p_pairs * per * direct;
  e.t_m2l = sec_per_m2l_flop * here_flop * w.m2l_flops * per * dense;
  e.t_kernels = sec_per_kernel * pair * w.kernels * per * direct;
  e.t_m2m = sec_per_m2m_flop * here_flop * w.m2m_flops * per * dense;
  e.t_evaluate = e.t_p2p + e.t_m2l + e.t_kernels + e.t_m2m;
  e.p2p_pairs = w.p2p_pairs;
  e.m2l_flops = w.m2l_flops;
  *est = e;
}

int64_t kifmm__work_bytes(const kifmm_plan *p, int nvec) {
  return (2 * p->tree.nbox * p->ops.ne + p->tree.nsrc * p->ops.sdim +
          4 * p->ops.tdim * p->tree.ntrg) *
         8 * (int64_t)nvec;
}
