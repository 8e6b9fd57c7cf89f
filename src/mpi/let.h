/* SPDX-License-Identifier: BSD-3-Clause */
/* The distributed part of a plan (src/mpi/let.c): what the public API calls for a plan made
 * by kifmm_plan_create_mpi(). */
#ifndef KIFMM_LET_H
#define KIFMM_LET_H

#include <mpi.h>

#include "plan/plan.h"

/* A distributed plan over comm (collective): the one-process tree of every rank's points,
 * this rank's share of it and its locally essential tree. opts is in this library's layout
 * and the same on every rank; MPI is initialised and comm valid (src/api/plan_mpi.c). */
KIFMM_INTERNAL int kifmm__let_plan_create(kifmm_plan **plan, MPI_Comm comm, int64_t nsrc_local,
                                          const double *src_local, int64_t ntrg_local,
                                          const double *trg_local, const kifmm_options *opts);
/* kifmm_evaluate_many() of a distributed plan (collective over the plan's communicator). */
KIFMM_INTERNAL int kifmm__let_evaluate(kifmm_plan *plan, int nvec, const double *charges,
                                       double *pot, double *grad);
/* Frees the distributed part; NULL is accepted. */
KIFMM_INTERNAL void kifmm__let_free(struct kifmm_let *let);

#endif /* KIFMM_LET_H */
