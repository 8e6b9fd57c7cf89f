! SPDX-License-Identifier: BSD-3-Clause
! Fortran use of the 0.2 options and the dry run: a progress callback set with c_funloc,
! a plan driven by tolerance, and kifmm_plan_estimate describing the plan that is built.
module progress_recorder
  use, intrinsic :: iso_c_binding, only: c_char, c_double, c_ptr, c_f_pointer, c_int
  implicit none
  integer, save :: calls = 0, starts = 0, ends = 0
  logical, save :: saw_p2p = .false., data_ok = .true.
  integer(c_int), target, save :: token = 42
contains
  subroutine on_progress(phase, fraction, data) bind(C)
    type(c_ptr), value :: phase, data
    real(c_double), value :: fraction
    character(kind=c_char), pointer :: name(:)
    integer(c_int), pointer :: t
    calls = calls + 1
    if (fraction == 0.0_c_double) starts = starts + 1
    if (fraction == 1.0_c_double) ends = ends + 1
    call c_f_pointer(phase, name, [3])
    if (name(1) == 'p' .and. name(2) == '2' .and. name(3) == 'p') saw_p2p = .true.
    call c_f_pointer(data, t)
    data_ok = data_ok .and. t == 42
  end subroutine on_progress
end module progress_recorder

program test_fortran_progress
  use, intrinsic :: iso_c_binding, only: c_double, c_funloc, c_loc
  use kifmm
  use kifmm_test_util
  use progress_recorder
  implicit none
  integer, parameter :: n = 3000
  real(c_double), allocatable :: x(:, :), q(:), pot(:), grad(:, :), pot_ref(:), grad_ref(:, :)
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan
  type(kifmm_stats) :: st
  type(kifmm_estimate) :: est
  integer :: s
  real(c_double) :: err

  allocate (x(3, n), q(n), pot(n), grad(3, n), pot_ref(n), grad_ref(3, n))
  call random_points(x, 0.0_c_double, 1.0_c_double)
  call random_charges(q)
  opts = kifmm_default_options()
  opts%tolerance = 1.0e-5_c_double
  opts%progress = c_funloc(on_progress)
  opts%progress_data = c_loc(token)

  call kifmm_plan_estimate(est, x, opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, 'estimate')
  call kifmm_plan_create(plan, x, opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, 'plan with tolerance and progress')
  call kifmm_evaluate(plan, q, pot, grad, status=s)
  call check_status(s, KIFMM_SUCCESS, 'evaluate')
  call check(calls > 0 .and. starts == ends .and. saw_p2p, 'progress reported every phase')
  call check(data_ok, 'progress_data reaches the callback')
  call kifmm_plan_stats(plan, st, status=s)
  call check(st%order == est%order .and. st%ncrit == est%ncrit .and. st%nboxes == est%nboxes, &
             'the estimate describes the plan')
  call check(st%tolerance == 1.0e-5_c_double .and. est%bytes_plan == st%bytes, &
             'stats report the tolerance; bytes as estimated')
  call kifmm_direct(x, q, pot_ref, grad_ref, status=s)
  err = sqrt(sum((pot - pot_ref)**2) / sum(pot_ref**2))
  call check(err <= 1.0e-5_c_double, 'error within the tolerance asked')
  call kifmm_plan_destroy(plan)
  call report("test_fortran_progress")
end program test_fortran_progress
