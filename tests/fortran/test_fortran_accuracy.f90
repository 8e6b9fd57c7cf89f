! SPDX-License-Identifier: BSD-3-Clause
! Fortran twin of the accuracy suite: FMM potentials and gradients through module kifmm
! against kifmm_direct(), per order, for targets = sources and for separate targets, and
! repeated evaluation of one plan with new charges.
program test_fortran_accuracy
  use, intrinsic :: iso_c_binding, only: c_double
  use kifmm
  use kifmm_test_util
  implicit none

  ! Tolerances per order: relative l2 error of potential and of gradient.
  call accuracy(4, 5.0e-4_c_double, 2.0e-3_c_double)
  call accuracy(6, 3.0e-6_c_double, 1.5e-5_c_double)
  call report("test_fortran_accuracy")

contains

  subroutine accuracy(order, tol_pot, tol_grad)
    integer, intent(in) :: order
    real(c_double), intent(in) :: tol_pot, tol_grad
    integer, parameter :: nsrc = 4000, ntrg = 1500, nsteps = 2
    real(c_double), allocatable :: src(:, :), trg(:, :), q(:), pot(:), grad(:, :), &
                                   pot_ref(:), grad_ref(:, :)
    type(kifmm_options) :: opts
    type(kifmm_plan) :: plan
    type(kifmm_stats) :: st
    integer :: s, step
    character(len=64) :: tag

    write (tag, '(a, i0)') 'p=', order
    allocate (src(3, nsrc), trg(3, ntrg), q(nsrc))
    call random_points(src, -1.0_c_double, 2.0_c_double)
    ! Separate targets in the same cube as the sources.
    call random_points(trg, -1.0_c_double, 2.0_c_double)

    opts = kifmm_default_options()
    opts%order = order
    opts%use_cache = 0

    ! Targets = sources (trg absent): self-interaction excluded on both sides.
    call kifmm_plan_create(plan, src, opts=opts, status=s)
    call check_status(s, KIFMM_SUCCESS, trim(tag)//' plan on sources')
    call check(kifmm_plan_associated(plan), trim(tag)//' plan created')
    allocate (pot(nsrc), grad(3, nsrc), pot_ref(nsrc), grad_ref(3, nsrc))
    do step = 1, nsteps
      call random_charges(q)
      call kifmm_evaluate(plan, q, pot, grad, status=s)
      call check_status(s, KIFMM_SUCCESS, trim(tag)//' evaluate on sources')
      call kifmm_direct(src, q, pot_ref, grad_ref, status=s)
      call check_status(s, KIFMM_SUCCESS, trim(tag)//' direct on sources')
      call compare(trim(tag)//' sources', pot, pot_ref, grad, grad_ref, tol_pot, tol_grad)
    end do
    ! Potential only (grad absent) must give the same potentials.
    call kifmm_evaluate(plan, q, pot_ref, status=s)
    call check_status(s, KIFMM_SUCCESS, trim(tag)//' evaluate without gradient')
    call check(maxval(abs(pot_ref - pot)) <= 1.0e-12_c_double * maxval(abs(pot)), &
               trim(tag)//' potential independent of whether the gradient is asked for')
    call kifmm_plan_stats(plan, st, status=s)
    call check_status(s, KIFMM_SUCCESS, trim(tag)//' stats')
    call check(st%nsrc == nsrc .and. st%ntrg == nsrc, trim(tag)//' stats point counts')
    call check(st%order == order, trim(tag)//' stats order')
    call check(st%nevaluations == nsteps + 1, trim(tag)//' stats counts evaluations')
    call kifmm_plan_destroy(plan)
    deallocate (pot, grad, pot_ref, grad_ref)

    ! Separate targets.
    call kifmm_plan_create(plan, src, trg, opts, status=s)
    call check_status(s, KIFMM_SUCCESS, trim(tag)//' plan with targets')
    allocate (pot(ntrg), grad(3, ntrg), pot_ref(ntrg), grad_ref(3, ntrg))
    call random_charges(q)
    call kifmm_evaluate(plan, q, pot, grad, status=s)
    call check_status(s, KIFMM_SUCCESS, trim(tag)//' evaluate at targets')
    call kifmm_direct(src, q, pot_ref, grad_ref, trg=trg, status=s)
    call check_status(s, KIFMM_SUCCESS, trim(tag)//' direct at targets')
    call compare(trim(tag)//' targets', pot, pot_ref, grad, grad_ref, tol_pot, tol_grad)

    ! Non-contiguous actual arguments: every other charge slot of a wider array.
    block
      real(c_double), allocatable :: wide(:, :)
      allocate (wide(2, nsrc))
      wide(1, :) = q
      wide(2, :) = huge(1.0_c_double)
      pot = 0
      call kifmm_evaluate(plan, wide(1, :), pot, status=s)
      call check_status(s, KIFMM_SUCCESS, trim(tag)//' evaluate with strided charges')
      call check(rel_l2(pot, pot_ref) <= tol_pot, trim(tag)//' strided charges accurate')
    end block
    call kifmm_plan_destroy(plan)
    call check(.not. kifmm_plan_associated(plan), trim(tag)//' destroy clears the plan')
  end subroutine accuracy

  subroutine compare(what, pot, pot_ref, grad, grad_ref, tol_pot, tol_grad)
    character(len=*), intent(in) :: what
    real(c_double), intent(in) :: pot(:), pot_ref(:), grad(:, :), grad_ref(:, :)
    real(c_double), intent(in) :: tol_pot, tol_grad
    real(c_double) :: e_pot, e_grad
    e_pot = rel_l2(pot, pot_ref)
    e_grad = rel_l2(reshape(grad, [size(grad)]), reshape(grad_ref, [size(grad_ref)]))
    write (*, '(a, a, es10.3, a, es10.3)') what, ': potential error ', e_pot, &
      ', gradient error ', e_grad
    call check(e_pot <= tol_pot, what//' potential within tolerance')
    call check(e_grad <= tol_grad, what//' gradient within tolerance')
  end subroutine compare

end program test_fortran_accuracy
