/* SPDX-License-Identifier: BSD-3-Clause */
/* The public plan API: validates input, builds tree, lists and operators once, and runs
 * evaluations that move charges into Morton order and results back to the caller's order. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/abi.h"
#include "mpi/let.h"
#include "operators/opcache.h"

/* The octree: rooted at the points' bounding cube, or at the periodic cell. */
static int build_tree(kifmm_plan *p, int64_t nsrc, const double *src, int64_t ntrg,
                      const double *trg) {
  const kifmm_options *o = &p->opts;
  if (!kifmm__periodic_any(o))
    return kifmm__tree_build(&p->tree, nsrc, src, ntrg, trg, o->ncrit, o->max_level,
                             p->nthreads);
  return kifmm__tree_build_cell(&p->tree, nsrc, src, ntrg, trg, o->ncrit, o->max_level,
                                p->nthreads, o->cell_origin, o->cell_length, o->periodic);
}

/* The operators, and a periodic plan's far-field operator; the cache result reported is the
 * far-field operator's when it was not a hit (it was computed then). */
static int obtain_operators(kifmm_plan *p) {
  kifmm_opspec spec;
  kifmm__plan_scale_kernel(p, p->tree.depth, &spec);
  CHECK(kifmm__operators_obtain(&p->ops, &spec, &p->opts, p->nthreads, &p->stats.cache_result));
  if (!kifmm__periodic_any(&p->opts))
    return KIFMM_SUCCESS;
  int far_result = KIFMM_CACHE_NOT_USED;
  CHECK(kifmm__periodic_far_obtain(&p->opts, p->nthreads, &p->periodic_far, &far_result));
  kifmm__periodic_center(p);
  if (far_result != KIFMM_CACHE_HIT)
    p->stats.cache_result = far_result;
  return KIFMM_SUCCESS;
}

/* KIFMM_NEAR=one-way takes every near-field pair one way, as where targets are not the
 * sources: the comparison for tests and benchmarks of the symmetric near field. */
static int near_one_way(void) {
  const char *e = getenv("KIFMM_NEAR");
  return e && strcmp(e, "one-way") == 0;
}

static int build_steps(kifmm_plan *p, int64_t nsrc, const double *src, int64_t ntrg,
                       const double *trg, int dry_run) {
  double t0 = kifmm__wtime();
  kifmm__progress("tree", 0.0);
  CHECK(build_tree(p, nsrc, src, ntrg, trg));
  kifmm__progress("tree", 1.0);
  double t1 = kifmm__wtime();
  kifmm__progress("lists", 0.0);
  CHECK(kifmm__lists_build(&p->lists, &p->tree, p->nthreads));
  /* Single precision takes the near field one way, as distributed plans do: a sum both ways
   * rounds its floats in another order, and one-process and distributed results would then
   * differ by 1e-7 instead of rounding (both ways measured no faster in single at the leaf
   * sizes these plans take: cube 1e6 at p7, 0.24-0.38 s one way, 0.31-0.34 s both ways). */
  kifmm__plan_choose_precision(p);
  if (!near_one_way() && p->near_acc != KIFMM_RSQRT_SINGLE)
    CHECK(kifmm__near_build(&p->near, &p->tree, &p->lists));
  kifmm__progress("lists", 1.0);
  double t2 = kifmm__wtime();
  kifmm__progress("operators", 0.0);
  CHECK(obtain_operators(p));
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
  kifmm_options o; /* the caller's layout may be older than ours: abi.c reads it */
  CHECK(kifmm__options_import(&o, opts));
  kifmm_plan *p = NULL;
  CHECK(kifmm__plan_new(nsrc, src, ntrg, trg, &o, &p));
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

int kifmm_plan_estimate_sized(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                              const kifmm_options *opts, kifmm_estimate *est,
                              size_t struct_size) {
  if (!est)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (struct_size != sizeof(kifmm_estimate))
    return KIFMM_ERR_STRUCT_SIZE;
  kifmm_options o;
  CHECK(kifmm__options_import(&o, opts));
  kifmm_plan *p = NULL;
  CHECK(kifmm__plan_new(nsrc, src, ntrg, trg, &o, &p));
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

/* Sorted results back to the caller's target order and units: the kernel's constant factor
 * (Laplace 1/(4 pi)), and 1/half per length from the scaled coordinates (u = (x - center) /
 * half): every kernel is of degree -1 once its parameter is scaled too (kernels.h), so values
 * scale by 1/half and gradients by 1/half^2. Divisions, not a precomputed reciprocal, so that
 * a huge half gives gradually smaller results instead of a denormal factor. */
static double to_value(double v, double f, double h) { return f * v / h; }
static double to_gradient(double v, double f, double h) { return f * v / h / h; }

static double plan_factor(const kifmm_plan *p) { return p->kernel->factor(p->opts.kernel_param); }

/* Checked before anything is written, so that outputs stay untouched on failure. */
static int results_representable(const kifmm_plan *p, int want_grad) {
  const double h = p->tree.half, f = plan_factor(p);
  const int td = p->ops.tdim, arrays = (want_grad ? 4 : 1) * td;
  const int64_t m = p->tree.ntrg * p->nvec; /* [vector][target] in every array */
  int64_t bad = 0;
  for (int k = 0; k < arrays; k++) {
    const double *r = p->res[k];
#pragma omp parallel for num_threads(p->nthreads) schedule(static) reduction(+ : bad)
    for (int64_t i = 0; i < m; i++)
      bad += !isfinite(k < td ? to_value(r[i], f, h) : to_gradient(r[i], f, h));
  }
  return bad == 0;
}

/* Vector v's values at pot + v tdim ntrg, interleaved per target (pot[tdim t + a]); its
 * gradients at grad + 3 v tdim ntrg, grad[3 tdim t + 3 a + l] = d value_a / d y_l. */
static void unpermute_results(const kifmm_plan *p, double *pot, double *grad) {
  const kifmm_tree *t = &p->tree;
  const double h = t->half, f = plan_factor(p);
  const int td = p->ops.tdim;
  const int64_t nt = t->ntrg;
  for (int v = 0; v < p->nvec; v++) {
    double *pv = pot + v * td * nt, *gv = grad ? grad + 3 * v * td * nt : NULL;
    const int64_t o = v * nt;
#pragma omp parallel for num_threads(p->nthreads) schedule(static)
    for (int64_t i = 0; i < nt; i++) {
      int64_t j = t->trg_perm[i];
      for (int a = 0; a < td; a++)
        pv[td * j + a] = to_value(p->res[a][o + i], f, h);
      for (int k = 0; gv && k < 3 * td; k++)
        gv[3 * td * j + k] = to_gradient(p->res[td + k][o + i], f, h);
    }
  }
}

/* Caller's density vectors (vector v at charges + v sdim nsrc, interleaved per source) to
 * Morton order, [source][vector][component]. */
static void permute_charges(kifmm_plan *p, const double *charges) {
  const kifmm_tree *t = &p->tree;
  const int nv = p->nvec, sd = p->ops.sdim;
#pragma omp parallel for num_threads(p->nthreads) schedule(static)
  for (int64_t i = 0; i < t->nsrc; i++)
    for (int v = 0; v < nv; v++)
      for (int b = 0; b < sd; b++)
        p->q[(i * nv + v) * sd + b] = charges[v * sd * t->nsrc + sd * t->src_perm[i] + b];
}

int kifmm_evaluate_many(kifmm_plan *plan, int nvec, const double *charges, double *pot,
                        double *grad) {
  if (!plan)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (plan->let) /* collective: every rank learns of any rank's bad nvec there */
    return kifmm__let_evaluate(plan, nvec, charges, pot, grad);
  CHECK(kifmm__check_evaluation(nvec, plan->tree.nsrc * plan->ops.sdim, plan->tree.ntrg,
                                 kifmm__work_bytes(plan, 1) + 8, charges, pot));
  if (nvec == 0)
    return KIFMM_SUCCESS;
  double t0 = kifmm__wtime();
  plan->nthreads = kifmm__plan_threads(&plan->opts);
  CHECK(kifmm__periodic_check_neutral(plan, nvec, charges));
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
  kifmm__plan_free(p);
  *plan = NULL;
  return KIFMM_SUCCESS;
}

int kifmm_plan_stats_sized(const kifmm_plan *plan, kifmm_stats *stats, size_t struct_size) {
  if (!plan || !stats)
    return KIFMM_ERR_NULL_ARGUMENT;
  return kifmm__stats_export(stats, &plan->stats, struct_size);
}
