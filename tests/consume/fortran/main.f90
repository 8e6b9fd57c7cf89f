! SPDX-License-Identifier: BSD-3-Clause
! Downstream Fortran program: use kifmm from the installed package, plan, evaluate with
! gradients and check against the direct sum.
program consume_fortran
  use, intrinsic :: iso_c_binding, only: c_double
  use kifmm
  implicit none
  integer, parameter :: n = 2000
  real(c_double) :: x(3, n), q(n), pot(n), grad(3, n), pot_ref(n), grad_ref(3, n), e_pot, e_grad
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan
  integer :: status

  call random_number(x)
  call random_number(q)
  opts = kifmm_default_options()
  opts%order = 4
  opts%use_cache = 0
  call kifmm_plan_create(plan, x, opts=opts, status=status)
  if (status == KIFMM_SUCCESS) call kifmm_evaluate(plan, q, pot, grad, status)
  call kifmm_plan_destroy(plan)
  if (status == KIFMM_SUCCESS) call kifmm_direct(x, q, pot_ref, grad_ref, status=status)
  if (status /= KIFMM_SUCCESS) error stop kifmm_error_string(status)
  e_pot = sqrt(sum((pot - pot_ref)**2) / sum(pot_ref**2))
  e_grad = sqrt(sum((grad - grad_ref)**2) / sum(grad_ref**2))
  print '(a, a, a, es9.2, a, es9.2)', 'kifmm ', kifmm_version(), ': p = 4 errors ', e_pot, ', ', e_grad
  if (e_pot > 5.0e-4_c_double .or. e_grad > 2.0e-3_c_double) error stop 'not accurate'
end program consume_fortran
