/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm-c under MPI: one plan spread over a communicator, each rank passing its own points
 * and receiving the results of its own targets. Kept apart from kifmm.h, which never needs mpi.h. */
#ifndef KIFMM_MPI_H
#define KIFMM_MPI_H

#include <mpi.h>

#include "kifmm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create a distributed plan. Collective over comm; MPI must be initialised.
 * [out] plan        receives the new plan on every rank (unchanged on failure).
 * [in]  comm        duplicated: the plan communicates on its own copy, so the caller's traffic
 *                   on comm never mixes with it; comm itself is not retained.
 * [in]  nsrc_local  this rank's sources (>= 0; any rank may have none).
 * [in]  src_local   3*nsrc_local interleaved coordinates, in any order; copied.
 * [in]  ntrg_local, trg_local  this rank's targets, the same way; may be src_local.
 * [in]  opts        borrowed (deep-copied); NULL means kifmm_default_options(). Every rank
 *                   passes the same options. ncrit = 0 is chosen from each rank's own points
 *                   and the largest choice is used, so pass a positive ncrit when results
 *                   must match a one-process plan.
 * The octree is the one kifmm_plan_create() builds for the union of all ranks' points, so
 * results equal the one-process results up to rounding, whatever the distribution of points
 * over the ranks. Every rank returns the same status (the largest code found on any rank),
 * e.g. KIFMM_ERR_NONFINITE_COORDINATE everywhere when one rank passes a NaN. comm ==
 * MPI_COMM_NULL or MPI not initialised gives KIFMM_ERR_MPI on the calling rank only.
 *
 * On such a plan kifmm_evaluate(plan, charges, pot, grad) is collective over comm: each rank
 * passes the nsrc_local charges of its own sources in its input order and receives pot (and
 * grad, where not NULL) for its own targets in its input order; every rank returns the same
 * status, and outputs stay untouched on failure (a rank calling with plan == NULL cannot know
 * the communicator: it gets KIFMM_ERR_NULL_ARGUMENT alone and the others wait for it).
 * Repeated evaluations reuse the partition, the local tree and the communication pattern;
 * only charges, multipoles and results travel. kifmm_plan_stats() describes the rank's
 * local (locally essential) tree: its own points plus ghosts, and the boxes it touches.
 * kifmm_plan_destroy() is collective over comm too (it frees the plan's communicator). */
KIFMM_EXPORT int kifmm_plan_create_mpi(kifmm_plan **plan, MPI_Comm comm, int64_t nsrc_local,
                                       const double *src_local, int64_t ntrg_local,
                                       const double *trg_local, const kifmm_options *opts);

/* kifmm_plan_create_mpi() for language bindings that hold a Fortran communicator handle (the
 * Fortran modules kifmm and kifmm_mpi call it); converted with MPI_Comm_f2c(). */
KIFMM_EXPORT int kifmm_plan_create_mpi_f(kifmm_plan **plan, MPI_Fint comm, int64_t nsrc_local,
                                         const double *src_local, int64_t ntrg_local,
                                         const double *trg_local, const kifmm_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* KIFMM_MPI_H */
