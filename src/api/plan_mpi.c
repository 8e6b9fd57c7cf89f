/* SPDX-License-Identifier: BSD-3-Clause */
/* The public entry points of distributed plans (kifmm_mpi.h): checks that every rank agrees
 * on, then the locally essential tree of src/mpi/let.c. */
#include "api/abi.h"
#include "kifmm_mpi.h"
#include "mpi/let.h"
#include "mpi/partition.h"

int kifmm_plan_create_mpi(kifmm_plan **plan, MPI_Comm comm, int64_t nsrc_local,
                          const double *src_local, int64_t ntrg_local, const double *trg_local,
                          const kifmm_options *opts) {
  int init = 0, fin = 0;
  if (MPI_Initialized(&init) != MPI_SUCCESS || !init || MPI_Finalized(&fin) != MPI_SUCCESS ||
      fin || comm == MPI_COMM_NULL)
    return KIFMM_ERR_MPI;
  CHECK(kifmm__mpi_agree(comm, plan ? KIFMM_SUCCESS : KIFMM_ERR_NULL_ARGUMENT));
  kifmm_options o; /* the caller's layout may be older than ours: abi.c reads it */
  CHECK(kifmm__mpi_agree(comm, kifmm__options_import(&o, opts)));
  return kifmm__let_plan_create(plan, comm, nsrc_local, src_local, ntrg_local, trg_local, &o);
}

int kifmm_plan_create_mpi_f(kifmm_plan **plan, MPI_Fint comm, int64_t nsrc_local,
                            const double *src_local, int64_t ntrg_local,
                            const double *trg_local, const kifmm_options *opts) {
  return kifmm_plan_create_mpi(plan, MPI_Comm_f2c(comm), nsrc_local, src_local, ntrg_local,
                               trg_local, opts);
}
