/* SPDX-License-Identifier: BSD-3-Clause */
/* A plan from checked input, before anything is built: options and points validated, the
 * automatic choices made, and the work arrays every evaluation path shares (src/plan/). */
#include <math.h>
#include <omp.h>
#include <stdio.h>

#include "plan/plan.h"
#include "plan/wisdom.h"

#define KIFMM_MAX_POINTS ((int64_t)1 << 40)

static int validate_kernel(const kifmm_options *o) {
  const kifmm_kernel *k = kifmm__kernel(o->kernel);
  if (!k)
    return kifmm__fail(KIFMM_ERR_INVALID_KERNEL, "kernel %d is not KIFMM_KERNEL_*", (int)o->kernel);
  if (kifmm__kernel_check_param(k, o->kernel_param) != KIFMM_SUCCESS)
    return kifmm__fail(KIFMM_ERR_INVALID_KERNEL_PARAM, "kernel_param %g is out of range for %s",
                       o->kernel_param, k->name);
  if (!k->matrix || !k->p2p)
    return kifmm__fail(KIFMM_ERR_UNSUPPORTED, "the %s kernel is not implemented yet", k->name);
  /* the operators turn 3-component densities and values as vectors (operators.h) */
  if ((k->sdim != 1 && k->sdim != 3) || (k->tdim != 1 && k->tdim != 3))
    return kifmm__fail(KIFMM_ERR_UNSUPPORTED, "the %s kernel's dimensions are not 1 or 3",
                       k->name);
  return KIFMM_SUCCESS;
}

static int any_periodic(const kifmm_options *o) {
  return o->periodic[0] || o->periodic[1] || o->periodic[2];
}

/* The cell is read only where a direction is periodic; the flags always. */
static int validate_cell(const kifmm_options *o) {
  for (int d = 0; d < 3; d++)
    if (o->periodic[d] != 0 && o->periodic[d] != 1)
      return kifmm__fail(KIFMM_ERR_INVALID_CELL, "periodic[%d] is %d, not 0 or 1", d,
                         (int)o->periodic[d]);
  if (!any_periodic(o))
    return KIFMM_SUCCESS;
  if (!kifmm__all_finite(3, o->cell_origin))
    return kifmm__fail(KIFMM_ERR_INVALID_CELL, "cell_origin is not finite");
  if (!(isfinite(o->cell_length) && o->cell_length > 0.0))
    return kifmm__fail(KIFMM_ERR_INVALID_CELL, "cell_length %g is not finite and > 0",
                       o->cell_length);
  for (int d = 0; d < 3; d++)
    if (o->cell_aspect[d] != 1.0)
      return kifmm__fail(KIFMM_ERR_INVALID_CELL,
                         "cell_aspect[%d] is %g: only cubic cells ({1, 1, 1}) so far", d,
                         o->cell_aspect[d]);
  if (o->kernel != KIFMM_KERNEL_LAPLACE) /* the far-field operator is Laplace's Ewald sum */
    return kifmm__fail(KIFMM_ERR_UNSUPPORTED,
                       "periodic cells are implemented for the Laplace kernel only");
  return KIFMM_SUCCESS;
}

static int validate_options(const kifmm_options *o) {
  if (o->order < KIFMM_MIN_ORDER || o->order > KIFMM_MAX_ORDER)
    return KIFMM_ERR_INVALID_ORDER;
  if (o->ncrit < 0)
    return KIFMM_ERR_INVALID_NCRIT;
  if (o->max_level < 1 || o->max_level > KIFMM_MAX_LEVEL)
    return KIFMM_ERR_INVALID_MAX_LEVEL;
  if (o->num_threads < 0)
    return KIFMM_ERR_INVALID_THREADS;
  if (!(o->compression_tol == 0.0 || (o->compression_tol > 0.0 && o->compression_tol < 1.0)))
    return KIFMM_ERR_INVALID_TOLERANCE;
  if (!(o->tolerance == 0.0 || (o->tolerance >= kifmm__tolerance_floor() && o->tolerance <= 0.1)))
    return KIFMM_ERR_INVALID_TOLERANCE;
  if (o->nvec < 1)
    return KIFMM_ERR_INVALID_NVEC;
  CHECK(validate_kernel(o));
  return validate_cell(o);
}

/* Periodic sums measure larger errors than free space at the same order and points: the
 * coarsest interactions dominate an expansion's error (a box's field, and its M2L error, grow
 * as the square root of its charges), and a periodic tree has coarser ones, M2L at level 1
 * (the root's images' children, 8 times the points of level 2's boxes: sqrt(8) = 2.8) and the
 * far images at level 0. Free space's interior boxes are not better off than its boundary
 * ones (same error), so this is not the missing boundary. Measured (uniform neutral cubes,
 * 2e4 points, relative l2 of the potential against the Ewald references, free space against
 * the direct sum): 3D p6 5.8e-6 / 1.75e-6, p7 6.4e-7 / 1.7e-7, p9 1.06e-8 / 3.4e-9, p10
 * 1.8e-9 / 6.3e-10; slab and line 1.5-1.8 times. Against the cost model's worst errors
 * (error_by_order) that is 2.2-2.8 times in 3D. So the order is chosen for a third of the
 * tolerance; the smallest tolerance accepted is 3 times the free-space floor. */
#define KIFMM_PERIODIC_ERROR_FACTOR 3.0
static double error_factor(const kifmm_options *o) {
  return kifmm__periodic_any(o) ? KIFMM_PERIODIC_ERROR_FACTOR : 1.0;
}

/* The automatic choices: the order from the tolerance, the leaf size from the distribution
 * (ncrit = 0). Stats report what was chosen. */
static int resolve_parameters(kifmm_options *o, int64_t nsrc, const double *src, int64_t ntrg,
                              const double *trg) {
  kifmm_distribution d = {.dim = 3.0};
  if (o->tolerance > 0.0 || o->ncrit == 0)
    CHECK(kifmm__distribution(nsrc, src, ntrg, trg, &d));
  if (o->tolerance > 0.0) { /* -1 below the smallest tolerance of this distribution */
    double far = 0.0;
    CHECK(kifmm__far_target_fraction(nsrc, src, ntrg, trg, &far));
    const double tol = o->tolerance / error_factor(o), compression = o->compression_tol;
    o->order = kifmm__order_for_tolerance(tol, d.dim, far, o->kernel, 0, &o->compression_tol);
    int next = kifmm__order_for_near_precision(o->order, o->tolerance, kifmm__kernel(o->kernel));
    if (next != o->order) { /* its own compression for the error budget */
      o->compression_tol = compression;
      o->order = kifmm__order_for_tolerance(tol, d.dim, far, o->kernel, next, &o->compression_tol);
    }
  }
  if (o->order < KIFMM_MIN_ORDER)
    return KIFMM_ERR_INVALID_TOLERANCE;
  if (o->ncrit == 0)
    CHECK(kifmm__choose_ncrit(o, &d, kifmm__wisdom_leaf_factor(o, nsrc + ntrg), &o->ncrit));
  return KIFMM_SUCCESS;
}

static int validate_points(int64_t nsrc, const double *src, int64_t ntrg, const double *trg) {
  if (nsrc < 0 || ntrg < 0)
    return KIFMM_ERR_INVALID_COUNT;
  if (nsrc > KIFMM_MAX_POINTS || ntrg > KIFMM_MAX_POINTS)
    return KIFMM_ERR_TOO_MANY_POINTS;
  if ((nsrc > 0 && !src) || (ntrg > 0 && !trg))
    return KIFMM_ERR_NULL_ARGUMENT;
  if (!kifmm__all_finite(3 * nsrc, src) || !kifmm__all_finite(3 * ntrg, trg))
    return KIFMM_ERR_NONFINITE_COORDINATE;
  return KIFMM_SUCCESS;
}

/* num_threads = 0 follows OpenMP's setting at the time of each call (omp_set_num_threads,
 * OMP_NUM_THREADS), so it is resolved again by every kifmm_evaluate(). */
int kifmm__plan_threads(const kifmm_options *o) {
  return o->num_threads > 0 ? o->num_threads : omp_get_max_threads();
}

/* All new arrays first, so that a failure leaves the plan as it was. */
int kifmm__plan_reserve(kifmm_plan *p, int nvec) {
  if (nvec <= p->nvec_cap) {
    p->nvec = nvec;
    return KIFMM_SUCCESS;
  }
  /* every size below is a count times nvec: refuse what would overflow, never allocatable */
  if (nvec > INT64_MAX / (kifmm__work_bytes(p, 1) + 8))
    return KIFMM_ERR_OUT_OF_MEMORY;
  const int td = p->ops.tdim;
  int64_t nb = p->tree.nbox, ne = p->ops.ne, nt = p->tree.ntrg;
  double *mult = NULL, *loc = NULL, *q = NULL, *res = NULL, *mom = NULL;
  int ok = kifmm__calloc((void **)&mom, 5 * (size_t)nvec, sizeof(double)) == 0 &&
           kifmm__calloc((void **)&mult, (size_t)(nb * ne * nvec), sizeof(double)) == 0 &&
           kifmm__calloc((void **)&loc, (size_t)(nb * ne * nvec), sizeof(double)) == 0 &&
           kifmm__calloc((void **)&q, (size_t)(p->tree.nsrc * p->ops.sdim * nvec),
                         sizeof(double)) == 0 &&
           kifmm__calloc((void **)&res, (size_t)(4 * td * nt * nvec), sizeof(double)) == 0;
  if (!ok) {
    free(mom);
    free(mult);
    free(loc);
    free(q);
    free(res);
    return KIFMM_ERR_OUT_OF_MEMORY;
  }
  p->stats.bytes += kifmm__work_bytes(p, nvec) - kifmm__work_bytes(p, p->nvec_cap);
  free(p->multipole);
  free(p->local);
  free(p->q);
  free(p->res[0]);
  free(p->periodic_moments);
  p->periodic_moments = mom;
  p->multipole = mult;
  p->local = loc;
  p->q = q;
  memset(p->res, 0, sizeof(p->res));
  for (int k = 0; k < 4 * td; k++)
    p->res[k] = res + k * nt * nvec;
  p->nvec = p->nvec_cap = nvec;
  return KIFMM_SUCCESS;
}

/* One vector's arrays at plan creation; evaluations of more vectors grow them. */
int kifmm__plan_alloc_work(kifmm_plan *p) { return kifmm__plan_reserve(p, 1); }

void kifmm__plan_choose_precision(kifmm_plan *p) {
  p->near_acc = kifmm__near_accuracy(p->opts.order, p->opts.tolerance, p->kernel);
}

void kifmm__plan_fill_stats(kifmm_plan *p) {
  kifmm_stats *s = &p->stats;
  s->nsrc = p->tree.nsrc;
  s->ntrg = p->tree.ntrg;
  s->nboxes = p->tree.nbox;
  s->nleaves = p->tree.nleaf;
  s->depth = p->tree.depth;
  s->order = p->ops.order;
  s->nsurf = p->ops.n;
  s->m2l_rank = s->m2l_max_rank = 0;
  for (int i = 0; i < p->ops.nsets; i++) { /* the largest over the levels' sets */
    const kifmm_opset *set = &p->ops.set[i];
    s->m2l_rank = set->kl > s->m2l_rank ? set->kl : s->m2l_rank;
    s->m2l_rank = set->kr > s->m2l_rank ? set->kr : s->m2l_rank;
    for (int t = 0; t < KIFMM_NTV; t++)
      s->m2l_max_rank = set->r[t] > s->m2l_max_rank ? set->r[t] : s->m2l_max_rank;
  }
  s->compression_tol = p->ops.tol;
  s->ncrit = p->opts.ncrit;
  s->tolerance = p->opts.tolerance;
  s->kernel = p->opts.kernel;
  s->kernel_param = p->opts.kernel_param;
  for (int d = 0; d < 3; d++)
    s->periodic[d] = p->opts.periodic[d];
  s->nranks = 1;
  s->rank = 0;
  s->nsrc_global = p->tree.nsrc;
  s->ntrg_global = p->tree.ntrg;
  kifmm__tree_leaf_load(&p->tree, p->opts.ncrit, &s->max_leaf_points, &s->overfull_leaves);
  kifmm__blas_describe(s->blas, sizeof(s->blas), s->blas_core, sizeof(s->blas_core));
  snprintf(s->simd, sizeof(s->simd), "%s", kifmm__simd_name(kifmm__simd()));
  int64_t work = kifmm__work_bytes(p, p->nvec_cap > 1 ? p->nvec_cap : 1);
  int64_t far = p->periodic_far ? (int64_t)p->ops.nc * p->ops.n * (int64_t)sizeof(double) : 0;
  s->bytes = (int64_t)sizeof(*p) + kifmm__tree_bytes(&p->tree) +
             kifmm__lists_bytes(&p->lists, &p->tree) +
             kifmm__near_bytes(&p->near, &p->lists, &p->tree) +
             kifmm__operators_bytes(&p->ops) + work + far;
}

/* Checked options and points, and a plan with its parameters resolved (nothing built yet). */
int kifmm__plan_new(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                    const kifmm_options *opts, kifmm_plan **out) {
  kifmm_options o = *opts;
  CHECK(validate_options(&o));
  CHECK(validate_points(nsrc, src, ntrg, trg));
  CHECK(kifmm__periodic_check_points(&o, nsrc, src, ntrg, trg));
  kifmm_plan *p = calloc(1, sizeof(*p));
  if (!p)
    return KIFMM_ERR_OUT_OF_MEMORY;
  p->opts = o;
  p->kernel = kifmm__kernel(o.kernel);
  p->kparam = o.kernel_param;
  p->nthreads = kifmm__plan_threads(&o);
  int status = resolve_parameters(&p->opts, nsrc, src, ntrg, trg);
  if (status != KIFMM_SUCCESS) {
    kifmm__plan_free(p);
    p = NULL;
  }
  *out = p;
  return status;
}

int kifmm__check_evaluation(int nvec, int64_t nsrc, int64_t ntrg, int64_t per_vector,
                            const double *charges, const double *pot) {
  if (nvec < 0)
    return KIFMM_ERR_INVALID_NVEC;
  if (nvec == 0)
    return KIFMM_SUCCESS;
  if ((nsrc > 0 && !charges) || (ntrg > 0 && !pot))
    return KIFMM_ERR_NULL_ARGUMENT;
  if (nvec > INT64_MAX / per_vector)
    return KIFMM_ERR_OUT_OF_MEMORY;
  if (!kifmm__all_finite(nsrc * nvec, charges))
    return KIFMM_ERR_NONFINITE_CHARGE;
  return KIFMM_SUCCESS;
}

void kifmm__plan_free(kifmm_plan *p) {
  if (!p)
    return;
  kifmm__tree_free(&p->tree);
  kifmm__lists_free(&p->lists);
  kifmm__near_free(&p->near);
  kifmm__operators_free(&p->ops);
  free(p->periodic_far);
  free(p->multipole);
  free(p->local);
  free(p->q);
  free(p->res[0]);
  free(p->periodic_moments);
  free(p);
}

/* Far field at level l reaches from a box's targets to sources at least one box side s_l =
 * 2^(1 - l) away (V, W and X lists alike). A kernel that is not homogeneous has its parameter
 * as an inverse length (Yukawa: exp(-kappa r) / r), so that far field is smaller than the
 * sums near the targets by about exp(-kappa (s_l - r)), r the distance of the nearest
 * sources, at most about half the deepest level's side where leaves hold several points.
 * Levels where that falls below a tenth of the M2L compression get no far field at all:
 * their error would be below the compression's own. The coarse levels go first (s_l
 * shrinks with l), so the levels with far field are [lo, depth]. */
static int first_far_level(double kparam, double tol, int depth) {
  const double near = 0.5 * ldexp(1.0, 1 - depth), floor_ = 0.1 * tol;
  int lo = 2;
  while (lo <= depth && exp(-kparam * (ldexp(1.0, 1 - lo) - near)) < floor_)
    lo++;
  return lo;
}

/* Homogeneous kernels' parameters never enter the sums (the contract of kernels.h): they
 * keep the caller's value. Any other is an inverse length, times h in root-box units. */
void kifmm__plan_scale_kernel(kifmm_plan *p, int depth, kifmm_opspec *spec) {
  const kifmm_kernel *k = p->kernel;
  p->kparam = k->homogeneous ? p->opts.kernel_param : p->opts.kernel_param * p->tree.half;
  memset(spec, 0, sizeof(*spec));
  spec->kernel = k;
  spec->param = p->kparam;
  spec->order = p->opts.order;
  spec->tol = p->opts.compression_tol;
  const double tol = spec->tol > 0 ? spec->tol : kifmm__default_tolerance(spec->order);
  spec->lo = k->homogeneous ? 0 : first_far_level(p->kparam, tol, depth);
  spec->hi = k->homogeneous ? 0 : depth;
}
