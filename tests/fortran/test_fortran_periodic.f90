! SPDX-License-Identifier: BSD-3-Clause
! Periodic cells through module kifmm (twin of the Madelung part of tests/periodic): a rock
! salt supercell with options%periodic = 1 along every axis, every ion's potential against
! the Madelung constant, phi_i 4 pi d_nn = -q_i M (d_nn the nearest-neighbour distance), at
! tolerance 1e-11; the same crystal with the cell moved and the ions given outside it
! (wrapped); a net charge refused with KIFMM_ERR_NOT_NEUTRAL and the outputs untouched.
program test_fortran_periodic
  use, intrinsic :: iso_c_binding, only: c_double
  use kifmm
  use kifmm_test_util
  implicit none

  integer, parameter :: k = 3, n = 8 * k**3
  real(c_double), parameter :: madelung = 1.747564594633182_c_double, d_nn = 0.5_c_double
  real(c_double), parameter :: pi = 3.14159265358979323846_c_double
  real(c_double) :: x(3, n), q(n), pot(n), grad(3, n), err
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan
  integer :: s

  call rock_salt(k, 0.1234_c_double, x, q)
  opts = kifmm_default_options()
  opts%periodic = 1
  opts%cell_origin = 0.0_c_double
  opts%cell_length = real(k, c_double)
  opts%tolerance = 1.0e-11_c_double
  call kifmm_plan_create(plan, x, opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, 'periodic plan')
  call kifmm_evaluate(plan, q, pot, grad, status=s)
  call check_status(s, KIFMM_SUCCESS, 'periodic evaluate')
  err = maxval(abs(4.0_c_double * pi * d_nn * pot + q * madelung)) / madelung
  write (*, '(a, i0, a, f18.15, a, es9.2)') 'NaCl, ', n, ' ions: Madelung ', &
    -4.0_c_double * pi * d_nn * pot(1) / q(1), ', max relative error ', err
  call check(err <= 1.0e-10_c_double, 'every ion''s potential gives the Madelung constant')
  call check(maxval(abs(grad)) * 4.0_c_double * pi * d_nn**2 / madelung <= 1.0e-9_c_double, &
             'no field at the ions (symmetry)')

  ! net charge: refused, outputs untouched, the plan still usable
  q(1) = q(1) + 0.5_c_double
  pot = -7.0_c_double
  call kifmm_evaluate(plan, q, pot, status=s)
  call check_status(s, KIFMM_ERR_NOT_NEUTRAL, 'net charge refused')
  call check(maxval(abs(pot + 7.0_c_double)) <= 0.0_c_double, 'outputs untouched on a refusal')
  q(1) = q(1) - 0.5_c_double
  call kifmm_evaluate(plan, q, pot, status=s)
  call check_status(s, KIFMM_SUCCESS, 'neutral again')
  call kifmm_plan_destroy(plan)

  ! the cell moved by whole periods and a few ions given two periods away: wrapped
  opts%cell_origin = [-3.0_c_double, 6.0_c_double, 0.0_c_double]
  x(1, 1:n:7) = x(1, 1:n:7) + 2.0_c_double * opts%cell_length
  x(3, 2:n:5) = x(3, 2:n:5) - opts%cell_length
  call kifmm_plan_create(plan, x, opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, 'periodic plan, ions outside the cell')
  call kifmm_evaluate(plan, q, pot, status=s)
  call check_status(s, KIFMM_SUCCESS, 'periodic evaluate, ions outside the cell')
  err = maxval(abs(4.0_c_double * pi * d_nn * pot + q * madelung)) / madelung
  call check(err <= 1.0e-10_c_double, 'wrapped ions give the Madelung constant')
  call kifmm_plan_destroy(plan)
  call report('test_fortran_periodic')
end program test_fortran_periodic
