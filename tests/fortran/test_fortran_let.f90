! SPDX-License-Identifier: BSD-3-Clause
! Distributed plans from Fortran (modules kifmm and kifmm_mpi): every rank generates the same
! points, passes its block, and the results are checked against a direct sum and the
! one-process plan, errors summed over the ranks; bad input on one rank fails everywhere.
program test_fortran_let
  use, intrinsic :: iso_c_binding, only: c_double, c_int64_t
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan
  use mpi_f08
  use kifmm
  use kifmm_mpi
  use kifmm_test_util
  implicit none

  integer, parameter :: n = 3000
  real(c_double), allocatable :: x(:, :), q(:), pot(:), grad(:, :), pot2(:), grad2(:, :), &
                                 pot_ref(:), grad_ref(:, :), pot_one(:), grad_one(:, :)
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan, plan2, one
  integer :: rank, nranks, s, lo, hi, total_failures, provided
  real(c_double) :: e(4), e_all(4), saved

  call MPI_Init_thread(MPI_THREAD_FUNNELED, provided)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks)
  allocate (x(3, n), q(n), pot_ref(n), grad_ref(3, n), pot_one(n), grad_one(3, n))
  call random_points(x, 0.0_c_double, 1.0_c_double) ! the same sequence on every rank
  call random_charges(q)
  lo = int(int(n, c_int64_t) * rank / nranks) + 1
  hi = int(int(n, c_int64_t) * (rank + 1) / nranks)
  allocate (pot(hi - lo + 1), grad(3, hi - lo + 1), pot2(hi - lo + 1), grad2(3, hi - lo + 1))
  opts = kifmm_default_options()
  opts%order = 6
  opts%ncrit = 40

  call kifmm_plan_create_mpi(plan, MPI_COMM_WORLD, x(:, lo:hi), opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, 'plan over type(MPI_Comm)')
  call kifmm_evaluate(plan, q(lo:hi), pot, grad, status=s)
  call check_status(s, KIFMM_SUCCESS, 'distributed evaluate')
  call kifmm_plan_create_mpi(plan2, MPI_COMM_WORLD%MPI_VAL, x(:, lo:hi), x(:, lo:hi), opts, s)
  call check_status(s, KIFMM_SUCCESS, 'plan over an integer communicator')
  call kifmm_evaluate(plan2, q(lo:hi), pot2, grad2, status=s)
  call check_status(s, KIFMM_SUCCESS, 'evaluate, integer communicator')
  call check(maxval(abs(pot2 - pot)) <= 0.0_c_double .and. &
             maxval(abs(grad2 - grad)) <= 0.0_c_double, &
             'both communicator forms give the same results')

  call kifmm_direct(x, q, pot_ref, grad_ref, status=s)
  call kifmm_plan_create(one, x, opts=opts, status=s)
  call kifmm_evaluate(one, q, pot_one, grad_one, status=s)
  e(1) = sum((pot - pot_ref(lo:hi))**2)
  e(2) = sum(pot_ref(lo:hi)**2)
  e(3) = sum((grad - grad_ref(:, lo:hi))**2) / sum(grad_ref**2)
  e(4) = sum((pot - pot_one(lo:hi))**2) / sum(pot_one**2)
  call MPI_Allreduce(e, e_all, 4, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD)
  if (rank == 0) write (*, '(a, i0, a, 3es10.2)') 'np=', nranks, ' pot, grad, vs one rank:', &
    sqrt(e_all(1) / e_all(2)), sqrt(e_all(3)), sqrt(e_all(4))
  call check(sqrt(e_all(1) / e_all(2)) <= 3.0e-6_c_double, 'p=6 potential against direct')
  call check(sqrt(e_all(3)) <= 1.5e-5_c_double, 'p=6 gradient against direct')
  call check(sqrt(e_all(4)) <= 1.0e-12_c_double, 'equal to the one-process plan')
  call kifmm_plan_destroy(plan)
  call kifmm_plan_destroy(plan2)
  call kifmm_plan_destroy(one)

  saved = x(2, lo)
  if (rank == nranks - 1) x(2, lo) = ieee_value(saved, ieee_quiet_nan)
  call kifmm_plan_create_mpi(plan, MPI_COMM_WORLD, x(:, lo:hi), opts=opts, status=s)
  call check_status(s, KIFMM_ERR_NONFINITE_COORDINATE, 'NaN on one rank refused everywhere')
  call check(.not. kifmm_plan_associated(plan), 'no plan after a refusal')
  x(2, lo) = saved

  call MPI_Allreduce(failures, total_failures, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD)
  call check(total_failures == failures .or. failures > 0, 'no failures on other ranks')
  call MPI_Finalize()
  call report('test_fortran_let')
end program test_fortran_let
