/* SPDX-License-Identifier: BSD-3-Clause */
/* A plan's state and the layer every evaluation path stands on (src/plan/): setting up a
 * plan from checked input (setup.c) and the passes over its tree (evaluate.c). The public
 * API (src/api/) and the distributed layer (src/mpi/) call down into it, never it into them. */
#ifndef KIFMM_PLAN_H
#define KIFMM_PLAN_H

#include "operators/operators.h"
#include "plan/costmodel.h"

/* Target boxes one M2L block takes at most (evaluate.c); the memory estimate counts it. */
#define KIFMM_M2L_BLOCK_MAX 512

struct kifmm_plan {
  kifmm_options opts;
  int nthreads;
  kifmm_tree tree;
  kifmm_lists lists;
  kifmm_near near; /* one-process plans: the near field's schedule (tree/near.c) */
  kifmm_operators ops;
  kifmm_stats stats;
  const kifmm_kernel *kernel; /* the options' kernel: the passes know it only through this */
  double kparam;              /* its parameter in root-box units (kifmm__plan_scale_kernel) */
  kifmm_rsqrt near_acc; /* how the sums over sources take a pair (kifmm__plan_choose_precision) */
  /* work arrays reused by every evaluation, sized for nvec_cap charge vectors (grown by
   * kifmm__plan_reserve, never shrunk) and laid out for the nvec of the running evaluation;
   * ne = n sdim equivalent densities a box ([point][component]) */
  int nvec, nvec_cap;
  double *multipole; /* nbox * nvec * ne: [box][vector][ne] */
  double *local;     /* nbox * nvec * ne */
  double *q;         /* sorted densities, [source][vector][sdim] */
  /* sorted target results, each [vector][target]: value component a in res[a], its gradient
   * d/dy_l in res[tdim + 3 a + l] (one allocation, at res[0]) */
  double *res[4 * KIFMM_MAX_KDIM];
  int64_t m2l_entries; /* V-list entries M2L applied by the last evaluation (the tests' check
                          that screened levels do no far-field work) */
  struct kifmm_let *let; /* the distributed part of a plan from kifmm_plan_create_mpi() */
  double *periodic_far;  /* periodic plans: the far-field operator of the images beyond the
                            root's neighbours, nc x n (src/operators/ewald.c), less its mean
                            periodic_far_mean (kifmm__periodic_center); NULL in free space */
  double periodic_far_mean;
  /* periodic plans: each vector's charge, dipole and second moment (5 a vector, scaled
   * coordinates), from the upward pass; a distributed plan sums them over its ranks before
   * the downward pass (kifmm__periodic_moments) */
  double *periodic_moments;
};

/* ---- Setting up (setup.c) ---- */
/* Checked options and points, and a plan with its parameters resolved (nothing built). opts
 * is in this library's layout (the public entry points import the caller's, src/api/abi.c). */
KIFMM_INTERNAL int kifmm__plan_new(int64_t nsrc, const double *src, int64_t ntrg,
                                   const double *trg, const kifmm_options *opts,
                                   kifmm_plan **out);
/* Frees everything a plan holds but its distributed part (p->let, whose owner, src/mpi/,
 * frees it first); NULL is accepted. */
KIFMM_INTERNAL void kifmm__plan_free(kifmm_plan *p);
/* Threads of the next call: options.num_threads, or OpenMP's setting at the time of the call
 * when it is 0 (omp_set_num_threads, OMP_NUM_THREADS). */
KIFMM_INTERNAL int kifmm__plan_threads(const kifmm_options *o);
KIFMM_INTERNAL int kifmm__plan_alloc_work(kifmm_plan *p);
/* Work arrays for at least nvec vectors (kept when large enough; unchanged on failure), and
 * sets p->nvec. */
KIFMM_INTERNAL int kifmm__plan_reserve(kifmm_plan *p, int nvec);
/* The argument checks of an evaluation on this process's arrays, one-process and distributed
 * alike: nvec (< 0 refused, 0 accepted here and left to the caller), pointers, sizes that nvec
 * multiplies (per_vector: the most bytes any count takes a vector; refused when nvec times it
 * overflows) and finite charges in every vector. */
KIFMM_INTERNAL int kifmm__check_evaluation(int nvec, int64_t nsrc, int64_t ntrg,
                                          int64_t per_vector, const double *charges,
                                          const double *pot);
KIFMM_INTERNAL void kifmm__plan_fill_stats(kifmm_plan *p);
/* p->near_acc for the plan's order and kernel (kifmm__near_accuracy), once the order is
 * resolved (kifmm__plan_new). */
KIFMM_INTERNAL void kifmm__plan_choose_precision(kifmm_plan *p);
/* Once the tree's scaling is known (p->tree.half): the kernel's parameter in root-box units
 * (p->kparam) and what its operators are computed for, for a tree of this depth (the deepest
 * over all ranks for a distributed plan). */
KIFMM_INTERNAL void kifmm__plan_scale_kernel(kifmm_plan *p, int depth, kifmm_opspec *spec);

/* ---- The passes (evaluate.c) ---- */
KIFMM_INTERNAL int kifmm__evaluate_sorted(kifmm_plan *plan, int want_grad);
/* The two stages of kifmm__evaluate_sorted(): P2M and M2M; then L2L, M2L, P2L and the leaf
 * pass, which read plan->q again, so that charges and multipoles may be completed between
 * the two (the distributed plan, src/mpi/let.c). */
KIFMM_INTERNAL int kifmm__evaluate_upward(kifmm_plan *plan);
KIFMM_INTERNAL int kifmm__evaluate_downward(kifmm_plan *plan, int want_grad);
/* kifmm__evaluate_downward() in two parts, near field first, so that the multipoles may be
 * completed while the near field runs (let.c): kifmm__evaluate_near() clears the results
 * and adds P2P, which reads plan->q only; kifmm__evaluate_far() then adds M2L, L2L, P2L, L2P
 * and M2P. The sums are those of kifmm__evaluate_downward() up to rounding (another order). */
KIFMM_INTERNAL int kifmm__evaluate_near(kifmm_plan *plan, int want_grad);
KIFMM_INTERNAL int kifmm__evaluate_far(kifmm_plan *plan, int want_grad);

/* ---- Periodic cells (periodic.c) ---- */
/* |sum q| above this fraction of sum |q| is not neutral (KIFMM_ERR_NOT_NEUTRAL). */
#define KIFMM_NEUTRAL_TOL 1e-10
KIFMM_INTERNAL int kifmm__periodic_any(const kifmm_options *o);
/* KIFMM_ERR_OUTSIDE_CELL (with the point and axis in kifmm_error_detail()) for a point outside
 * [origin, origin + L] along an axis that is not periodic, or too far to wrap along one that
 * is; success for free-space options. */
KIFMM_INTERNAL int kifmm__periodic_check_points(const kifmm_options *o, int64_t nsrc,
                                               const double *src, int64_t ntrg,
                                               const double *trg);
/* KIFMM_ERR_NOT_NEUTRAL when a charge vector (caller's order, nsrc each) of a periodic plan is
 * not neutral within KIFMM_NEUTRAL_TOL. */
KIFMM_INTERNAL int kifmm__periodic_check_neutral(const kifmm_plan *plan, int nvec,
                                                const double *charges);
/* The two halves of that check, so that a distributed plan can add the sums over its ranks:
 * sums[2 v] = sum q, sums[2 v + 1] = sum |q| of vector v (n charges each, caller's order), and
 * the verdict on such sums (KIFMM_ERR_NOT_NEUTRAL with the vector in the detail). */
KIFMM_INTERNAL void kifmm__periodic_charge_sums(int nthreads, int64_t n, int nvec,
                                               const double *charges, double *sums);
KIFMM_INTERNAL int kifmm__periodic_neutral_verdict(int nvec, const double *sums);
/* At the end of the upward pass: plan->periodic_moments from the tree's sources and their
 * densities in plan->q (nothing in free space). A distributed plan's ghost densities are
 * still zero then, so these are the rank's own sources' moments. */
KIFMM_INTERNAL int kifmm__periodic_moments(kifmm_plan *plan);
/* Splits the plan's far-field operator into its mean, applied to the exact charge sum, and
 * the rest, applied to the root's multipole (see periodic.c). */
KIFMM_INTERNAL void kifmm__periodic_center(kifmm_plan *plan);
/* The downward pass's start at level 0: root local += the far field of the images beyond the
 * root's neighbours, from the root's multipole (nothing in free space). */
KIFMM_INTERNAL int kifmm__periodic_root(kifmm_plan *plan);
/* After the leaf pass, 3D: adds the uniform background's part of the far field to the sorted
 * results (nothing otherwise). */
KIFMM_INTERNAL int kifmm__periodic_background(kifmm_plan *plan, int want_grad);

#endif /* KIFMM_PLAN_H */
