! SPDX-License-Identifier: BSD-3-Clause
! kifmm-c Fortran interface under mpi_f08: module kifmm_mpi extends kifmm_plan_create_mpi of
! module kifmm (integer communicator) with the form taking type(MPI_Comm). Use both modules.
module kifmm_mpi
  use, intrinsic :: iso_c_binding, only: c_double
  use mpi_f08, only: MPI_Comm
  use kifmm
  implicit none
  private
  public :: kifmm_plan_create_mpi

  interface kifmm_plan_create_mpi
    module procedure plan_create_mpi_f08
  end interface kifmm_plan_create_mpi

contains

  !> Collective over comm; see kifmm_plan_create_mpi in module kifmm.
  subroutine plan_create_mpi_f08(plan, comm, src, trg, opts, status)
    type(kifmm_plan), intent(inout) :: plan
    type(MPI_Comm), intent(in) :: comm
    real(c_double), intent(in), contiguous, target :: src(:, :)
    real(c_double), intent(in), contiguous, target, optional :: trg(:, :)
    type(kifmm_options), intent(in), target, optional :: opts
    integer, intent(out), optional :: status

    call kifmm_plan_create_mpi(plan, comm%MPI_VAL, src, trg, opts, status)
  end subroutine plan_create_mpi_f08
end module kifmm_mpi
