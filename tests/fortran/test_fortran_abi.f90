! The Fortran module against the C header, as each compiler sees it: every status constant's
! value, the size and field offsets of kifmm_options and kifmm_stats, and the defaults.
program test_fortran_abi
  use, intrinsic :: iso_c_binding
  use kifmm
  use kifmm_test_util
  implicit none

  interface
    function abi_options_layout(i) bind(C, name="abi_options_layout") result(v)
      import :: c_int, c_long
      integer(c_int), value :: i
      integer(c_long) :: v
    end function abi_options_layout
    function abi_stats_layout(i) bind(C, name="abi_stats_layout") result(v)
      import :: c_int, c_long
      integer(c_int), value :: i
      integer(c_long) :: v
    end function abi_stats_layout
    function abi_status_value(name) bind(C, name="abi_status_value") result(v)
      import :: c_char, c_int
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int) :: v
    end function abi_status_value
    function abi_status_count() bind(C, name="abi_status_count") result(v)
      import :: c_int
      integer(c_int) :: v
    end function abi_status_count
  end interface

  type(kifmm_options), target :: o
  type(kifmm_stats), target :: st
  integer :: nchecked

  nchecked = 0
  call status_code("KIFMM_SUCCESS", KIFMM_SUCCESS)
  call status_code("KIFMM_ERR_NULL_ARGUMENT", KIFMM_ERR_NULL_ARGUMENT)
  call status_code("KIFMM_ERR_INVALID_COUNT", KIFMM_ERR_INVALID_COUNT)
  call status_code("KIFMM_ERR_NONFINITE_COORDINATE", KIFMM_ERR_NONFINITE_COORDINATE)
  call status_code("KIFMM_ERR_NONFINITE_CHARGE", KIFMM_ERR_NONFINITE_CHARGE)
  call status_code("KIFMM_ERR_INVALID_ORDER", KIFMM_ERR_INVALID_ORDER)
  call status_code("KIFMM_ERR_INVALID_NCRIT", KIFMM_ERR_INVALID_NCRIT)
  call status_code("KIFMM_ERR_INVALID_MAX_LEVEL", KIFMM_ERR_INVALID_MAX_LEVEL)
  call status_code("KIFMM_ERR_INVALID_THREADS", KIFMM_ERR_INVALID_THREADS)
  call status_code("KIFMM_ERR_INVALID_TOLERANCE", KIFMM_ERR_INVALID_TOLERANCE)
  call status_code("KIFMM_ERR_OUT_OF_MEMORY", KIFMM_ERR_OUT_OF_MEMORY)
  call status_code("KIFMM_ERR_LAPACK", KIFMM_ERR_LAPACK)
  call status_code("KIFMM_ERR_IO", KIFMM_ERR_IO)
  call status_code("KIFMM_ERR_CACHE", KIFMM_ERR_CACHE)
  call status_code("KIFMM_ERR_MPI", KIFMM_ERR_MPI)
  call status_code("KIFMM_ERR_HDF5", KIFMM_ERR_HDF5)
  call status_code("KIFMM_ERR_TOO_MANY_POINTS", KIFMM_ERR_TOO_MANY_POINTS)
  call status_code("KIFMM_ERR_INTERNAL", KIFMM_ERR_INTERNAL)
  call status_code("KIFMM_ERR_FILE_NOT_FOUND", KIFMM_ERR_FILE_NOT_FOUND)
  call status_code("KIFMM_ERR_FILE_NOT_HDF5", KIFMM_ERR_FILE_NOT_HDF5)
  call status_code("KIFMM_ERR_FILE_MISSING_DATASET", KIFMM_ERR_FILE_MISSING_DATASET)
  call status_code("KIFMM_ERR_FILE_SHAPE", KIFMM_ERR_FILE_SHAPE)
  call status_code("KIFMM_ERR_FILE_TYPE", KIFMM_ERR_FILE_TYPE)
  call status_code("KIFMM_ERR_FILE_NONFINITE", KIFMM_ERR_FILE_NONFINITE)
  call status_code("KIFMM_ERR_MPI_UNSUPPORTED", KIFMM_ERR_MPI_UNSUPPORTED)
  ! A code added to the C list must get a line above (the module has it already).
  call check(nchecked == abi_status_count(), "every C status code is checked here")
  call check(KIFMM_NUM_STATUS == abi_status_count(), "KIFMM_NUM_STATUS = size of the C list")
  call check(kifmm_error_string(KIFMM_NUM_STATUS) == "unknown status code", &
             "the code after the last is unknown")

  ! kifmm_options: size, then each field's offset in declaration order.
  call layout(abi_options_layout(0_c_int), int(c_sizeof(o), c_long), "sizeof(kifmm_options)")
  call layout(abi_options_layout(1_c_int), int(offset(c_loc(o%order)), c_long), "options%order")
  call layout(abi_options_layout(2_c_int), int(offset(c_loc(o%ncrit)), c_long), "options%ncrit")
  call layout(abi_options_layout(3_c_int), int(offset(c_loc(o%max_level)), c_long), "options%max_level")
  call layout(abi_options_layout(4_c_int), int(offset(c_loc(o%num_threads)), c_long), "options%num_threads")
  call layout(abi_options_layout(5_c_int), int(offset(c_loc(o%verbose)), c_long), "options%verbose")
  call layout(abi_options_layout(6_c_int), int(offset(c_loc(o%use_cache)), c_long), "options%use_cache")
  call layout(abi_options_layout(7_c_int), int(offset(c_loc(o%compression_tol)), c_long), &
              "options%compression_tol")
  call layout(abi_options_layout(8_c_int), int(offset(c_loc(o%cache_dir)), c_long), "options%cache_dir")
  call check(abi_options_layout(9_c_int) == -1, "kifmm_options has 8 fields")
  call check(size(o%cache_dir) == KIFMM_PATH_MAX, "cache_dir holds KIFMM_PATH_MAX chars")

  ! kifmm_stats likewise.
  call layout(abi_stats_layout(0_c_int), int(c_sizeof(st), c_long), "sizeof(kifmm_stats)")
  call slayout(1, c_loc(st%nsrc), "nsrc")
  call slayout(2, c_loc(st%ntrg), "ntrg")
  call slayout(3, c_loc(st%nboxes), "nboxes")
  call slayout(4, c_loc(st%nleaves), "nleaves")
  call slayout(5, c_loc(st%depth), "depth")
  call slayout(6, c_loc(st%order), "order")
  call slayout(7, c_loc(st%nsurf), "nsurf")
  call slayout(8, c_loc(st%m2l_rank), "m2l_rank")
  call slayout(9, c_loc(st%m2l_max_rank), "m2l_max_rank")
  call slayout(10, c_loc(st%cache_result), "cache_result")
  call slayout(11, c_loc(st%bytes), "bytes")
  call slayout(12, c_loc(st%compression_tol), "compression_tol")
  call slayout(13, c_loc(st%t_tree), "t_tree")
  call slayout(14, c_loc(st%t_lists), "t_lists")
  call slayout(15, c_loc(st%t_operators), "t_operators")
  call slayout(16, c_loc(st%t_p2m), "t_p2m")
  call slayout(17, c_loc(st%t_m2m), "t_m2m")
  call slayout(18, c_loc(st%t_m2l), "t_m2l")
  call slayout(19, c_loc(st%t_l2l), "t_l2l")
  call slayout(20, c_loc(st%t_p2l), "t_p2l")
  call slayout(21, c_loc(st%t_m2p), "t_m2p")
  call slayout(22, c_loc(st%t_l2p), "t_l2p")
  call slayout(23, c_loc(st%t_p2p), "t_p2p")
  call slayout(24, c_loc(st%t_evaluate), "t_evaluate")
  call slayout(25, c_loc(st%nevaluations), "nevaluations")
  call slayout(26, c_loc(st%blas), "blas")
  call slayout(27, c_loc(st%blas_core), "blas_core")
  call slayout(28, c_loc(st%simd), "simd")
  call check(abi_stats_layout(29_c_int) == -1, "kifmm_stats has 28 fields")

  ! Defaults as documented in kifmm.h, read through the by-value struct return.
  o = kifmm_default_options()
  call check(o%order == 6, "default order 6")
  call check(o%ncrit == 150, "default ncrit 150")
  call check(o%max_level == 16, "default max_level 16")
  call check(o%num_threads == 0, "default num_threads 0")
  call check(o%verbose == 0, "default verbose 0")
  call check(o%use_cache == 1, "default use_cache 1")
  ! (<= and >= rather than ==: -Wcompare-reals)
  call check(o%compression_tol <= 0 .and. o%compression_tol >= 0, "default compression_tol 0")
  call check(kifmm_options_get_cache_dir(o) == "", "default cache_dir empty")

  ! Version: the module's constants, the library's string.
  block
    character(len=32) :: expected
    write (expected, '(i0, ".", i0, ".", i0)') KIFMM_VERSION_MAJOR, KIFMM_VERSION_MINOR, &
      KIFMM_VERSION_PATCH
    call check(kifmm_version() == trim(expected), "kifmm_version() matches the module")
  end block

  call report("test_fortran_abi")

contains

  subroutine status_code(name, value)
    character(len=*), intent(in) :: name
    integer(c_int), intent(in) :: value
    nchecked = nchecked + 1
    call check(abi_status_value(name//c_null_char) == value, "value of "//name)
    call check(kifmm_error_string(value) /= "unknown status code", "message of "//name)
  end subroutine status_code

  integer(c_intptr_t) function offset(p)
    type(c_ptr), intent(in) :: p
    offset = transfer(p, 0_c_intptr_t) - transfer(c_loc(o), 0_c_intptr_t)
    if (.not. c_associated(p)) offset = -1
  end function offset

  subroutine layout(c_value, f_value, what)
    integer(c_long), intent(in) :: c_value, f_value
    character(len=*), intent(in) :: what
    if (c_value /= f_value) then
      write (*, '(a, a, i0, a, i0)') what, ': C ', c_value, ', Fortran ', f_value
      call check(.false., what)
    end if
  end subroutine layout

  subroutine slayout(i, p, what)
    integer, intent(in) :: i
    type(c_ptr), intent(in) :: p
    character(len=*), intent(in) :: what
    integer(c_long) :: c_value, f_value
    c_value = abi_stats_layout(int(i, c_int))
    f_value = int(transfer(p, 0_c_intptr_t) - transfer(c_loc(st), 0_c_intptr_t), c_long)
    call check(c_value == f_value, "stats%"//what//" offset")
  end subroutine slayout

end program test_fortran_abi
