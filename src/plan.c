/* SPDX-License-Identifier: BSD-3-Clause */
/* The public plan API: validates input, builds tree, lists and operators once, and runs
 * evaluations that move charges into Morton order and results back to the caller's order. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "abi.h"
#include "internal.h"
#include "opcache.h"

#define KIFMM_MAX_POINTS ((int64_t)1 << 40)

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
  return KIFMM_SUCCESS;
}

/* The automatic choices: the order from the tolerance, the leaf size from the distribution
 * (ncrit = 0). Stats report what was chosen. */
static int resolve_parameters(kifmm_options *o, int64_t nsrc, const double *src, int64_t ntrg,
                              const double *trg) {
  double dim = 3.0;
  if (o->tolerance > 0.0 || o->ncrit == 0)
    CHECK(kifmm__distribution_dimension(nsrc, src, ntrg, trg, &dim));
  if (o->tolerance > 0.0) { /* -1 below the smallest tolerance of this distribution */
    double far = 0.0;
    CHECK(kifmm__far_target_fraction(nsrc, src, ntrg, trg, &far));
    o->order = kifmm__order_for_tolerance(o->tolerance, dim, far, &o->compression_tol);
  }
  if (o->order < KIFMM_MIN_ORDER)
    return KIFMM_ERR_INVALID_TOLERANCE;
  if (o->ncrit == 0)
    CHECK(kifmm__choose_ncrit(o, dim, &o->ncrit));
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
static int resolve_threads(const kifmm_options *o) {
  return o->num_threads > 0 ? o->num_threads : omp_get_max_threads();
}

int64_t kifmm__plan_work_bytes(const kifmm_plan *p, int nvec) {
  return (2 * p->tree.nbox * p->ops.n + p->tree.nsrc + 4 * p->tree.ntrg) * 8 * (int64_t)nvec;
}

/* All new arrays first, so that a failure leaves the plan as it was. */
int kifmm__plan_reserve(kifmm_plan *p, int nvec) {
  if (nvec <= p->nvec_cap) {
    p->nvec = nvec;
    return KIFMM_SUCCESS;
  }
  /* every size below is a count times nvec: refuse what would overflow, never allocatable */
  if (nvec > INT64_MAX / (kifmm__plan_work_bytes(p, 1) + 8))
    return KIFMM_ERR_OUT_OF_MEMORY;
  int64_t nb = p->tree.nbox, n = p->ops.n, nt = p->tree.ntrg;
  double *mult = NULL, *loc = NULL, *q = NULL, *pot = NULL, *g = NULL;
  int ok = kifmm__calloc((void **)&mult, (size_t)(nb * n * nvec), sizeof(double)) == 0 &&
           kifmm__calloc((void **)&loc, (size_t)(nb * n * nvec), sizeof(double)) == 0 &&
           kifmm__calloc((void **)&q, (size_t)(p->tree.nsrc * nvec), sizeof(double)) == 0 &&
           kifmm__calloc((void **)&pot, (size_t)(nt * nvec), sizeof(double)) == 0 &&
           kifmm__calloc((void **)&g, (size_t)(3 * nt * nvec), sizeof(double)) == 0;
  if (!ok) {
    free(mult);
    free(loc);
    free(q);
    free(pot);
    free(g);
    return KIFMM_ERR_OUT_OF_MEMORY;
  }
  p->stats.bytes += kifmm__plan_work_bytes(p, nvec) - kifmm__plan_work_bytes(p, p->nvec_cap);
  free(p->multipole);
  free(p->local);
  free(p->q);
  free(p->pot);
  free(p->gx);
  p->multipole = mult;
  p->local = loc;
  p->q = q;
  p->pot = pot;
  p->gx = g;
  p->gy = g + nt * nvec;
  p->gz = p->gy + nt * nvec;
  p->nvec = p->nvec_cap = nvec;
  return KIFMM_SUCCESS;
}

/* One vector's arrays at plan creation; evaluations of more vectors grow them. */
int kifmm__plan_alloc_work(kifmm_plan *p) { return kifmm__plan_reserve(p, 1); }

void kifmm__plan_fill_stats(kifmm_plan *p) {
  kifmm_stats *s = &p->stats;
  s->nsrc = p->tree.nsrc;
  s->ntrg = p->tree.ntrg;
  s->nboxes = p->tree.nbox;
  s->nleaves = p->tree.nleaf;
  s->depth = p->tree.depth;
  s->order = p->ops.order;
  s->nsurf = p->ops.n;
  s->m2l_rank = p->ops.kl > p->ops.kr ? p->ops.kl : p->ops.kr;
  s->m2l_max_rank = 0;
  for (int t = 0; t < KIFMM_NTV; t++)
    s->m2l_max_rank = p->ops.r[t] > s->m2l_max_rank ? p->ops.r[t] : s->m2l_max_rank;
  s->compression_tol = p->ops.tol;
  s->ncrit = p->opts.ncrit;
  s->tolerance = p->opts.tolerance;
  s->nranks = 1;
  s->rank = 0;
  s->nsrc_global = p->tree.nsrc;
  s->ntrg_global = p->tree.ntrg;
  kifmm__tree_leaf_load(&p->tree, p->opts.ncrit, &s->max_leaf_points, &s->overfull_leaves);
  kifmm__blas_describe(s->blas, sizeof(s->blas), s->blas_core, sizeof(s->blas_core));
  snprintf(s->simd, sizeof(s->simd), "%s", kifmm__simd_name(kifmm__simd()));
  int64_t work = kifmm__plan_work_bytes(p, p->nvec_cap > 1 ? p->nvec_cap : 1);
  s->bytes = (int64_t)sizeof(*p) + kifmm__tree_bytes(&p->tree) +
             kifmm__lists_bytes(&p->lists, &p->tree) + kifmm__operators_bytes(&p->ops) + work;
}


static int build_steps(kifmm_plan *p, int64_t nsrc, const double *src, int64_t ntrg,
                       const double *trg, int dry_run) {
  double t0 = kifmm__wtime();
  kifmm__progress("tree", 0.0);
  CHECK(kifmm__tree_build(&p->tree, nsrc, src, ntrg, trg, p->opts.ncrit, p->opts.max_level,
                          p->nthreads));
  kifmm__progress("tree", 1.0);
  double t1 = kifmm__wtime();
  kifmm__progress("lists", 0.0);
  CHECK(kifmm__lists_build(&p->lists, &p->tree, p->nthreads));
  kifmm__progress("lists", 1.0);
  double t2 = kifmm__wtime();
  kifmm__progress("operators", 0.0);
  CHECK(kifmm__operators_obtain(&p->ops, &p->opts, p->nthreads, &p->stats.cache_result));
  kifmm__progress("operators", 1.0);
  double t3 = kifmm__wtime();
  if (!dry_run)
    CHECK(kifmm__plan_alloc_work(p));
  p->stats.t_tree = t1 - t0;
  p->stats.t_lists = t2 - t1;
  p->stats.t_operators = t3 - t2;
  kifmm__plan_fill_stats(p);
  if (p->opts.verbose)
    fprintf(stderr,
            "kifmm: plan nsrc=%lld ntrg=%lld boxes=%lld leaves=%lld depth=%d order=%d k=%d "
            "tree=%.3fs lists=%.3fs operators=%.3fs\n"
            "kifmm: simd=%s blas=\"%s\" blas_core=%s\n",
            (long long)nsrc, (long long)ntrg, (long long)p->tree.nbox, (long long)p->tree.nleaf,
            p->tree.depth, p->ops.order, p->stats.m2l_rank, p->stats.t_tree, p->stats.t_lists,
            p->stats.t_operators, p->stats.simd, p->stats.blas, p->stats.blas_core);
  return KIFMM_SUCCESS;
}

/* Tree, lists and operators; the work arrays of evaluation too unless this is a dry run.
 * Progress reaches the options' callback meanwhile. */
static int build_plan(kifmm_plan *p, int64_t nsrc, const double *src, int64_t ntrg,
                      const double *trg, int dry_run) {
  kifmm__progress_scope(&p->opts);
  int status = build_steps(p, nsrc, src, ntrg, trg, dry_run);
  kifmm__progress_scope(NULL);
  return status;
}

int kifmm_plan_create(kifmm_plan **plan, int64_t nsrc, const double *src, int64_t ntrg,
                      const double *trg, const kifmm_options *opts) {
  if (!plan)
    return KIFMM_ERR_NULL_ARGUMENT;
  kifmm_plan *p = NULL;
  CHECK(kifmm__plan_new(nsrc, src, ntrg, trg, opts, &p));
  /* no BLAS thread limit here: the serial SVDs and QRs of the operator precomputation may
   * use a threaded BLAS; operators.c limits it around its own OpenMP region */
  int status = build_plan(p, nsrc, src, ntrg, trg, 0);
  if (status != KIFMM_SUCCESS) {
    kifmm_plan_destroy(&p);
    return status;
  }
  *plan = p;
  return KIFMM_SUCCESS;
}

/* Checked options and points, and a plan with its parameters resolved (nothing built yet). */
int kifmm__plan_new(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                    const kifmm_options *opts, kifmm_plan **out) {
  kifmm_options o; /* the caller's layout may be older than ours: abi.c reads it */
  CHECK(kifmm__options_import(&o, opts));
  CHECK(validate_options(&o));
  CHECK(validate_points(nsrc, src, ntrg, trg));
  kifmm_plan *p = calloc(1, sizeof(*p));
  if (!p)
    return KIFMM_ERR_OUT_OF_MEMORY;
  p->opts = o;
  p->nthreads = resolve_threads(&o);
  int status = resolve_parameters(&p->opts, nsrc, src, ntrg, trg);
  if (status != KIFMM_SUCCESS)
    kifmm_plan_destroy(&p);
  *out = p;
  return status;
}

int kifmm_plan_estimate_sized(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                              const kifmm_options *opts, kifmm_estimate *est,
                              size_t struct_size) {
  if (!est)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (struct_size != sizeof(kifmm_estimate))
    return KIFMM_ERR_STRUCT_SIZE;
  kifmm_plan *p = NULL;
  CHECK(kifmm__plan_new(nsrc, src, ntrg, trg, opts, &p));
  int status = build_plan(p, nsrc, src, ntrg, trg, 1);
  if (status == KIFMM_SUCCESS)
    kifmm__estimate(p, est);
  kifmm_plan_destroy(&p);
  return status;
}

static void print_timings(const kifmm_stats *s) {
  fprintf(stderr,
          "kifmm: evaluate p2m=%.3f m2m=%.3f m2l=%.3f l2l=%.3f p2l=%.3f m2p=%.3f l2p=%.3f "
          "p2p=%.3f total=%.3fs\n",
          s->t_p2m, s->t_m2m, s->t_m2l, s->t_l2l, s->t_p2l, s->t_m2p, s->t_l2p, s->t_p2p,
          s->t_evaluate);
}

/* Sorted results back to the caller's target order and units: 1/(4 pi) from the kernel,
 * 1/half per length from the scaled coordinates (u = (x - center) / half), so the potential
 * scales by 1/half and the gradient by 1/half^2. Divisions, not a precomputed reciprocal,
 * so that a huge half gives gradually smaller results instead of a denormal factor. */
static double to_potential(double v, double h) { return KIFMM_INV_4PI * v / h; }
static double to_gradient(double v, double h) { return KIFMM_INV_4PI * v / h / h; }

/* Checked before anything is written, so that outputs stay untouched on failure. */
static int results_representable(const kifmm_plan *p, int want_grad) {
  const kifmm_tree *t = &p->tree;
  const double h = t->half;
  const int64_t m = t->ntrg * p->nvec; /* [vector][target] in all four arrays */
  int64_t bad = 0;
#pragma omp parallel for num_threads(p->nthreads) schedule(static) reduction(+ : bad)
  for (int64_t i = 0; i < m; i++) {
    bad += !isfinite(to_potential(p->pot[i], h));
    if (want_grad)
      bad += !isfinite(to_gradient(p->gx[i], h)) + !isfinite(to_gradient(p->gy[i], h)) +
             !isfinite(to_gradient(p->gz[i], h));
  }
  return bad == 0;
}

static void unpermute_results(const kifmm_plan *p, double *pot, double *grad) {
  const kifmm_tree *t = &p->tree;
  const double h = t->half;
  const int64_t nt = t->ntrg;
  for (int v = 0; v < p->nvec; v++) {
    double *pv = pot + v * nt, *gv = grad ? grad + 3 * v * nt : NULL;
    const int64_t o = v * nt;
#pragma omp parallel for num_threads(p->nthreads) schedule(static)
    for (int64_t i = 0; i < nt; i++) {
      int64_t j = t->trg_perm[i];
      pv[j] = to_potential(p->pot[o + i], h);
      if (gv) {
        gv[3 * j] = to_gradient(p->gx[o + i], h);
        gv[3 * j + 1] = to_gradient(p->gy[o + i], h);
        gv[3 * j + 2] = to_gradient(p->gz[o + i], h);
      }
    }
  }
}

/* Caller's charge vectors (vector v at charges + v * nsrc) to Morton order, [source][vector]. */
static void permute_charges(kifmm_plan *p, const double *charges) {
  const kifmm_tree *t = &p->tree;
  const int nv = p->nvec;
#pragma omp parallel for num_threads(p->nthreads) schedule(static)
  for (int64_t i = 0; i < t->nsrc; i++)
    for (int v = 0; v < nv; v++)
      p->q[i * nv + v] = charges[v * t->nsrc + t->src_perm[i]];
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

int kifmm_evaluate_many(kifmm_plan *plan, int nvec, const double *charges, double *pot,
                        double *grad) {
  if (!plan)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (plan->let) /* collective: every rank learns of any rank's bad nvec there */
    return kifmm__let_evaluate(plan, nvec, charges, pot, grad);
  CHECK(kifmm__check_evaluation(nvec, plan->tree.nsrc, plan->tree.ntrg,
                                 kifmm__plan_work_bytes(plan, 1) + 8, charges, pot));
  if (nvec == 0)
    return KIFMM_SUCCESS;
  double t0 = kifmm__wtime();
  plan->nthreads = resolve_threads(&plan->opts);
  CHECK(kifmm__plan_reserve(plan, nvec));
  permute_charges(plan, charges);
  int blas = kifmm__blas_threads_push();
  kifmm__progress_scope(&plan->opts);
  int status = kifmm__evaluate_sorted(plan, grad != NULL);
  kifmm__progress_scope(NULL);
  kifmm__blas_threads_pop(blas);
  if (status != KIFMM_SUCCESS)
    return status;
  if (!results_representable(plan, grad != NULL))
    return KIFMM_ERR_NOT_REPRESENTABLE;
  unpermute_results(plan, pot, grad);
  plan->stats.t_evaluate = kifmm__wtime() - t0;
  plan->stats.nevaluations++;
  plan->stats.nvec = nvec;
  if (plan->opts.verbose)
    print_timings(&plan->stats);
  return KIFMM_SUCCESS;
}

int kifmm_evaluate(kifmm_plan *plan, const double *charges, double *pot, double *grad) {
  return kifmm_evaluate_many(plan, 1, charges, pot, grad);
}

int kifmm_plan_destroy(kifmm_plan **plan) {
  if (!plan || !*plan)
    return KIFMM_SUCCESS;
  kifmm_plan *p = *plan;
  kifmm__let_free(p->let);
  kifmm__tree_free(&p->tree);
  kifmm__lists_free(&p->lists);
  kifmm__operators_free(&p->ops);
  free(p->multipole);
  free(p->local);
  free(p->q);
  free(p->pot);
  free(p->gx);
  free(p);
  *plan = NULL;
  return KIFMM_SUCCESS;
}

int kifmm_plan_stats_sized(const kifmm_plan *plan, kifmm_stats *stats, size_t struct_size) {
  if (!plan || !stats)
    return KIFMM_ERR_NULL_ARGUMENT;
  return kifmm__stats_export(stats, &plan->stats, struct_size);
}
