! SPDX-License-Identifier: BSD-3-Clause
! Shared helpers of the Fortran test suites: assertions that count failures, reproducible
! point sets and relative l2 errors against kifmm_direct().
module kifmm_test_util
  use, intrinsic :: iso_c_binding, only: c_double, c_int64_t
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  private
  public :: check, check_status, failures, random_points, random_charges, rel_l2, report, &
            rock_salt

  integer, save :: failures = 0
  integer(c_int64_t), save :: lcg_state = 20240611_c_int64_t !< Park-Miller state

contains

  subroutine check(ok, what)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what
    if (.not. ok) then
      failures = failures + 1
      write (error_unit, '(a, a)') 'FAILED: ', what
    end if
  end subroutine check

  subroutine check_status(got, expected, what)
    integer, intent(in) :: got, expected
    character(len=*), intent(in) :: what
    if (got /= expected) then
      failures = failures + 1
      write (error_unit, '(a, a, a, i0, a, i0)') 'FAILED: ', what, ': status ', got, &
        ', expected ', expected
    end if
  end subroutine check_status

  ! Uniform deviate in (0, 1) from the Park-Miller generator (no integer overflow in
  ! 64 bits), so runs are identical on every compiler.
  real(c_double) function uniform()
    lcg_state = mod(lcg_state * 48271_c_int64_t, 2147483647_c_int64_t)
    uniform = real(lcg_state, c_double) / 2147483647.0_c_double
  end function uniform

  ! n points uniform in the box [lo, lo + side)^3, as x(3, n).
  subroutine random_points(x, lo, side)
    real(c_double), intent(out) :: x(:, :)
    real(c_double), intent(in) :: lo, side
    integer :: i, j
    do j = 1, size(x, 2)
      do i = 1, 3
        x(i, j) = lo + side * uniform()
      end do
    end do
  end subroutine random_points

  ! Charges in [-1, 1).
  subroutine random_charges(q)
    real(c_double), intent(out) :: q(:)
    integer :: j
    do j = 1, size(q)
      q(j) = 2.0_c_double * uniform() - 1.0_c_double
    end do
  end subroutine random_charges

  ! Relative l2 error ||a - ref|| / ||ref|| over every entry.
  real(c_double) function rel_l2(a, ref)
    real(c_double), intent(in) :: a(:), ref(:)
    rel_l2 = sqrt(sum((a - ref)**2) / sum(ref**2))
  end function rel_l2

  ! Rock salt (NaCl) supercell of k^3 conventional cells of side 1, moved by offset along
  ! every axis: x(3, 8 k^3), charges +1 (Na, the fcc sites) and -1 (Cl, the fcc sites moved
  ! by half a side). The nearest-neighbour distance is 1/2; the cell is [0, k)^3.
  subroutine rock_salt(k, offset, x, q)
    integer, intent(in) :: k
    real(c_double), intent(in) :: offset
    real(c_double), intent(out) :: x(:, :), q(:)
    real(c_double), parameter :: base(3, 8) = reshape([ &
      0.0_c_double, 0.0_c_double, 0.0_c_double, 0.0_c_double, 0.5_c_double, 0.5_c_double, &
      0.5_c_double, 0.0_c_double, 0.5_c_double, 0.5_c_double, 0.5_c_double, 0.0_c_double, &
      0.5_c_double, 0.0_c_double, 0.0_c_double, 0.0_c_double, 0.5_c_double, 0.0_c_double, &
      0.0_c_double, 0.0_c_double, 0.5_c_double, 0.5_c_double, 0.5_c_double, 0.5_c_double], &
      [3, 8])
    integer :: a, b, c, s, n
    n = 0
    do a = 0, k - 1
      do b = 0, k - 1
        do c = 0, k - 1
          do s = 1, 8
            n = n + 1
            x(:, n) = base(:, s) + real([a, b, c], c_double) + offset
            q(n) = merge(1.0_c_double, -1.0_c_double, s <= 4)
          end do
        end do
      end do
    end do
  end subroutine rock_salt

  ! Print a summary and give the exit code for ctest (non-zero on any failure).
  subroutine report(suite)
    character(len=*), intent(in) :: suite
    if (failures == 0) then
      write (error_unit, '(a, a)') suite, ': all checks passed'
    else
      write (error_unit, '(a, a, i0, a)') suite, ': ', failures, ' check(s) FAILED'
      error stop 1
    end if
  end subroutine report

end module kifmm_test_util
