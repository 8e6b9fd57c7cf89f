! SPDX-License-Identifier: BSD-3-Clause
! kifmm_evaluate with charges(nsrc, nvec) (kifmm_evaluate_many) through module kifmm: each
! column equals the rank-1 kifmm_evaluate of that column, with and without gradient; extents
! that disagree give KIFMM_ERR_INVALID_COUNT with outputs untouched; nvec = 0 succeeds; a NaN
! in the last column gives KIFMM_ERR_NONFINITE_CHARGE; options%nvec = 0 is refused.
program test_fortran_many
  use, intrinsic :: iso_c_binding, only: c_double
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan
  use kifmm
  use kifmm_test_util
  implicit none

  integer, parameter :: nsrc = 2000, ntrg = 1500, nvec = 3
  real(c_double), allocatable :: src(:, :), trg(:, :), q(:, :), pot(:, :), grad(:, :, :), &
                                 pot1(:, :), grad1(:, :, :), pot0(:, :)
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan
  type(kifmm_stats) :: st
  integer :: s, j

  allocate (src(3, nsrc), trg(3, ntrg), q(nsrc, nvec), pot(ntrg, nvec), grad(3, ntrg, nvec), &
            pot1(ntrg, nvec), grad1(3, ntrg, nvec), pot0(ntrg, 0))
  call random_points(src, -1.0_c_double, 2.0_c_double)
  call random_points(trg, -1.0_c_double, 2.0_c_double)
  do j = 1, nvec
    call random_charges(q(:, j))
  end do
  opts = kifmm_default_options()
  opts%order = 6
  opts%use_cache = 0
  opts%nvec = 0
  call kifmm_plan_create(plan, src, trg, opts=opts, status=s)
  call check_status(s, KIFMM_ERR_INVALID_NVEC, 'options%nvec = 0 refused')
  opts%nvec = nvec
  call kifmm_plan_create(plan, src, trg, opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, 'plan for 3 vectors')

  do j = 1, nvec
    call kifmm_evaluate(plan, q(:, j), pot1(:, j), grad1(:, :, j), status=s)
    call check_status(s, KIFMM_SUCCESS, 'single evaluation')
  end do
  call kifmm_evaluate(plan, q, pot, grad, status=s)
  call check_status(s, KIFMM_SUCCESS, 'evaluate with charges(nsrc, nvec)')
  call check(maxval(abs(pot - pot1)) <= 1.0e-13_c_double * maxval(abs(pot1)), &
             'potentials of every column as single evaluations')
  call check(maxval(abs(grad - grad1)) <= 1.0e-13_c_double * maxval(abs(grad1)), &
             'gradients of every column as single evaluations')
  call kifmm_plan_stats(plan, st, status=s)
  call check(st%nvec == nvec, 'stats%nvec')
  pot = 0
  call kifmm_evaluate(plan, q, pot, status=s)
  call check_status(s, KIFMM_SUCCESS, 'potential only')
  call check(maxval(abs(pot - pot1)) <= 1.0e-13_c_double * maxval(abs(pot1)), &
             'potential only, every column')

  ! Refusals leave the outputs untouched.
  pot = -7
  grad = -7
  call kifmm_evaluate(plan, q(:, 1:2), pot, grad, status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, 'fewer charge columns than pot columns')
  call kifmm_evaluate(plan, q, pot, grad(:, :, 1:2), status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, 'fewer grad columns')
  call kifmm_evaluate(plan, q(1:nsrc - 1, :), pot(1:ntrg - 1, :), status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, 'extents other than the plan''s')
  q(nsrc / 2, nvec) = ieee_value(1.0_c_double, ieee_quiet_nan)
  call kifmm_evaluate(plan, q, pot, grad, status=s)
  call check_status(s, KIFMM_ERR_NONFINITE_CHARGE, 'NaN in the last column')
  call check(maxval(abs(pot + 7)) < 1.0e-300_c_double .and. &
             maxval(abs(grad + 7)) < 1.0e-300_c_double, 'outputs untouched on failure')
  call kifmm_evaluate(plan, q(:, 1:0), pot0, status=s)
  call check_status(s, KIFMM_SUCCESS, 'nvec = 0')
  call kifmm_plan_destroy(plan)
  call report('test_fortran_many')
end program test_fortran_many
