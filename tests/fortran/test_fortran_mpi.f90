! SPDX-License-Identifier: BSD-3-Clause
! The Fortran module inside an MPI program that owns MPI (use mpi_f08), as our users run it
! under mpiexec: each rank plans and evaluates its own points and checks them against a
! direct sum; the ranks agree on the verdict.
program test_fortran_mpi
  use, intrinsic :: iso_c_binding, only: c_double
  use mpi_f08
  use kifmm
  use kifmm_test_util
  implicit none

  integer, parameter :: n = 3000
  real(c_double), allocatable :: x(:, :), q(:), pot(:), grad(:, :), pot_ref(:), grad_ref(:, :)
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan
  integer :: rank, nranks, s, total_failures, provided

  call MPI_Init_thread(MPI_THREAD_FUNNELED, provided)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks)

  allocate (x(3, n), q(n), pot(n), grad(3, n), pot_ref(n), grad_ref(3, n))
  call random_points(x, real(rank, c_double), 1.0_c_double)
  call random_charges(q)
  opts = kifmm_default_options()
  opts%order = 6
  opts%use_cache = 0

  call kifmm_plan_create(plan, x, opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, "plan under MPI")
  call kifmm_evaluate(plan, q, pot, grad, status=s)
  call check_status(s, KIFMM_SUCCESS, "evaluate under MPI")
  call kifmm_direct(x, q, pot_ref, grad_ref, status=s)
  call check_status(s, KIFMM_SUCCESS, "direct under MPI")
  call check(rel_l2(pot, pot_ref) <= 3.0e-6_c_double, "p=6 potential under MPI")
  call check(rel_l2(reshape(grad, [3 * n]), reshape(grad_ref, [3 * n])) <= 1.5e-5_c_double, &
             "p=6 gradient under MPI")
  call kifmm_plan_destroy(plan)

  call MPI_Allreduce(failures, total_failures, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD)
  call check(total_failures == failures .or. failures > 0, "no failures on other ranks")
  if (rank == 0) write (*, '(a, i0, a)') 'test_fortran_mpi: ', nranks, ' rank(s)'
  call MPI_Finalize()
  call report("test_fortran_mpi")
end program test_fortran_mpi
