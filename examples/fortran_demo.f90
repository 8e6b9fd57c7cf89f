! SPDX-License-Identifier: BSD-3-Clause
! A time-stepping loop as a simulation code writes it: the particles keep their positions,
! their charges change every step. Build the plan once, evaluate each step, check one step
! against the direct sum, destroy. The program owns MPI (use mpi_f08); kifmm does not
! initialize MPI. Exit status 0 when accurate.
program fortran_demo
  use, intrinsic :: iso_c_binding, only: c_double
  use, intrinsic :: iso_fortran_env, only: error_unit
  use mpi_f08
  use kifmm
  implicit none

  integer, parameter :: n = 10000, nsteps = 5, check_step = 3
  real(c_double), parameter :: dt = 0.01_c_double
  real(c_double), allocatable :: x(:, :), q(:), pot(:), grad(:, :), pot_ref(:), grad_ref(:, :)
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan
  real(c_double) :: e_pot, e_grad, energy
  integer :: rank, status, step, provided, nseed
  integer, allocatable :: seed(:)
  logical :: ok

  call MPI_Init_thread(MPI_THREAD_FUNNELED, provided)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  ok = .true.

  allocate (x(3, n), q(n), pot(n), grad(3, n))
  call random_seed(size=nseed)     ! a fixed seed: the same system, and the same check, each run
  allocate (seed(nseed))
  seed = 20261124
  call random_seed(put=seed)
  call random_number(x)            ! positions in the unit cube, fixed during the run
  call random_number(q)
  q = q - 0.5_c_double

  opts = kifmm_default_options()
  opts%order = 6
  call kifmm_plan_create(plan, x, opts=opts, status=status)   ! targets = sources
  if (status /= KIFMM_SUCCESS) call fail("kifmm_plan_create", status)

  do step = 1, nsteps
    call kifmm_evaluate(plan, q, pot, grad, status)
    if (status /= KIFMM_SUCCESS) call fail("kifmm_evaluate", status)
    energy = 0.5_c_double * sum(q * pot)
    if (rank == 0) write (*, '(a, i0, a, es14.6)') 'step ', step, ': energy ', energy

    if (step == check_step) then
      allocate (pot_ref(n), grad_ref(3, n))
      call kifmm_direct(x, q, pot_ref, grad_ref, status=status)
      if (status /= KIFMM_SUCCESS) call fail("kifmm_direct", status)
      e_pot = sqrt(sum((pot - pot_ref)**2) / sum(pot_ref**2))
      e_grad = sqrt(sum((grad - grad_ref)**2) / sum(grad_ref**2))
      if (rank == 0) write (*, '(a, es9.2, a, es9.2)') &
        '  check against direct sum: potential error ', e_pot, ', gradient error ', e_grad
      ok = e_pot < 3.0e-6_c_double .and. e_grad < 1.5e-5_c_double
      deallocate (pot_ref, grad_ref)
    end if

    q = q - dt * q * pot / maxval(abs(pot))     ! new charges for the next step
  end do

  call kifmm_plan_destroy(plan)
  if (rank == 0) write (*, '(a, a)') 'kifmm ', kifmm_version()
  call MPI_Finalize()
  if (.not. ok) error stop "fortran_demo: FMM result not accurate"

contains

  subroutine fail(what, code)
    character(len=*), intent(in) :: what
    integer, intent(in) :: code
    write (error_unit, '(a, a, a)') what, ': ', kifmm_error_string(code)
    call MPI_Abort(MPI_COMM_WORLD, 1)
  end subroutine fail

end program fortran_demo
