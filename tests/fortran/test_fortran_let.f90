! SPDX-License-Identifier: BSD-3-Clause
! Distributed plans from Fortran (modules kifmm and kifmm_mpi): every rank generates the same
! points, passes its block, and the results are checked against a direct sum and the
! one-process plan, errors summed over the ranks; bad input on one rank fails everywhere; a
! periodic rock salt crystal split between the ranks.
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

  call periodic_blocks(rank, nranks)

  call MPI_Allreduce(failures, total_failures, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD)
  call check(total_failures == failures .or. failures > 0, 'no failures on other ranks')
  call MPI_Finalize()
  call report('test_fortran_let')
contains

  ! A periodic rock salt supercell split between the ranks, each rank's ions moved by whole
  ! periods by its own amount: every ion's potential gives the Madelung constant (to the
  ! accuracy of order 8) and equals the one-process plan's; a net charge on one rank only is
  ! refused on every rank.
  subroutine periodic_blocks(rank, nranks)
    integer, intent(in) :: rank, nranks
    integer, parameter :: k = 2, m = 8 * k**3
    real(c_double), parameter :: madelung = 1.747564594633182_c_double
    real(c_double), parameter :: pi = 3.14159265358979323846_c_double
    real(c_double) :: xs(3, m), qs(m), pot_one(m), e(3), e_all(3)
    real(c_double), allocatable :: xl(:, :), potl(:)
    type(kifmm_options) :: popts
    type(kifmm_plan) :: pplan, pone
    integer :: lo, hi, s

    call rock_salt(k, 0.1234_c_double, xs, qs)
    popts = kifmm_default_options()
    popts%order = 8
    popts%ncrit = 16
    popts%periodic = 1
    popts%cell_length = real(k, c_double)
    call kifmm_plan_create(pone, xs, opts=popts, status=s)
    call kifmm_evaluate(pone, qs, pot_one, status=s)
    call check_status(s, KIFMM_SUCCESS, 'periodic one-process plan')
    call kifmm_plan_destroy(pone)
    lo = int(int(m, c_int64_t) * rank / nranks) + 1
    hi = int(int(m, c_int64_t) * (rank + 1) / nranks)
    allocate (xl(3, hi - lo + 1), potl(hi - lo + 1))
    xl = xs(:, lo:hi) + real(rank - 1, c_double) * popts%cell_length
    call kifmm_plan_create_mpi(pplan, MPI_COMM_WORLD, xl, opts=popts, status=s)
    call check_status(s, KIFMM_SUCCESS, 'distributed periodic plan')
    call kifmm_evaluate(pplan, qs(lo:hi), potl, status=s)
    call check_status(s, KIFMM_SUCCESS, 'distributed periodic evaluate')
    e(1) = sum((4.0_c_double * pi * 0.5_c_double * potl + qs(lo:hi) * madelung)**2)
    e(2) = sum((potl - pot_one(lo:hi))**2)
    e(3) = sum(pot_one(lo:hi)**2)
    call MPI_Allreduce(e, e_all, 3, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD)
    e_all(1) = sqrt(e_all(1) / m) / madelung
    e_all(2) = sqrt(e_all(2) / e_all(3))
    if (rank == 0) write (*, '(a, i0, a, 2es10.2)') 'np=', nranks, &
      ' periodic NaCl: Madelung error, vs one process:', e_all(1), e_all(2)
    call check(e_all(1) <= 1.0e-6_c_double, 'distributed periodic Madelung constant')
    call check(e_all(2) <= 1.0e-12_c_double, 'distributed periodic equals one process')
    potl = -7.0_c_double
    if (rank == nranks - 1) qs(hi) = qs(hi) + 1.0_c_double
    call kifmm_evaluate(pplan, qs(lo:hi), potl, status=s)
    call check_status(s, KIFMM_ERR_NOT_NEUTRAL, 'net charge on one rank refused everywhere')
    call check(maxval(abs(potl + 7.0_c_double)) <= 0.0_c_double, 'outputs untouched')
    call kifmm_plan_destroy(pplan)
  end subroutine periodic_blocks

end program test_fortran_let
