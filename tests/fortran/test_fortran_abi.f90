! SPDX-License-Identifier: BSD-3-Clause
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
  call status_code("KIFMM_ERR_STRUCT_SIZE", KIFMM_ERR_STRUCT_SIZE)
  call status_code("KIFMM_ERR_NOT_REPRESENTABLE", KIFMM_ERR_NOT_REPRESENTABLE)
  call status_code("KIFMM_ERR_INVALID_NVEC", KIFMM_ERR_INVALID_NVEC)
  call status_code("KIFMM_ERR_INVALID_KERNEL", KIFMM_ERR_INVALID_KERNEL)
  call status_code("KIFMM_ERR_INVALID_KERNEL_PARAM", KIFMM_ERR_INVALID_KERNEL_PARAM)
  call status_code("KIFMM_ERR_INVALID_CELL", KIFMM_ERR_INVALID_CELL)
  call status_code("KIFMM_ERR_OUTSIDE_CELL", KIFMM_ERR_OUTSIDE_CELL)
  call status_code("KIFMM_ERR_NOT_NEUTRAL", KIFMM_ERR_NOT_NEUTRAL)
  call status_code("KIFMM_ERR_UNSUPPORTED", KIFMM_ERR_UNSUPPORTED)
  ! A code added to the C list must get a line above (the module has it already).
  call check(nchecked == abi_status_count(), "every C status code is checked here")
  call check(KIFMM_NUM_STATUS == abi_status_count(), "KIFMM_NUM_STATUS = size of the C list")
  call check(kifmm_error_string(KIFMM_NUM_STATUS) == "unknown status code", &
             "the code after the last is unknown")

  ! kifmm_options: size, then each field's offset in declaration order.
  call layout(abi_options_layout(0_c_int), int(c_sizeof(o), c_long), "sizeof(kifmm_options)")
  call olayout(1, c_loc(o%struct_size), "struct_size")
  call olayout(2, c_loc(o%order), "order")
  call olayout(3, c_loc(o%ncrit), "ncrit")
  call olayout(4, c_loc(o%max_level), "max_level")
  call olayout(5, c_loc(o%num_threads), "num_threads")
  call olayout(6, c_loc(o%verbose), "verbose")
  call olayout(7, c_loc(o%use_cache), "use_cache")
  call olayout(8, c_loc(o%compression_tol), "compression_tol")
  call olayout(9, c_loc(o%cache_dir), "cache_dir")
  call olayout(10, c_loc(o%tolerance), "tolerance")
  call olayout(11, c_loc(o%progress), "progress")
  call olayout(12, c_loc(o%progress_data), "progress_data")
  call olayout(13, c_loc(o%nvec), "nvec")
  call olayout(14, c_loc(o%kernel), "kernel")
  call olayout(15, c_loc(o%periodic), "periodic")
  call olayout(16, c_loc(o%kernel_param), "kernel_param")
  call olayout(17, c_loc(o%cell_origin), "cell_origin")
  call olayout(18, c_loc(o%cell_length), "cell_length")
  call olayout(19, c_loc(o%cell_aspect), "cell_aspect")
  call check(abi_options_layout(20_c_int) == -1, "kifmm_options has 19 fields")
  call check(size(o%cache_dir) == KIFMM_PATH_MAX, "cache_dir holds KIFMM_PATH_MAX chars")

  ! kifmm_stats likewise.
  call layout(abi_stats_layout(0_c_int), int(c_sizeof(st), c_long), "sizeof(kifmm_stats)")
  call slayout(1, c_loc(st%struct_size), "struct_size")
  call slayout(2, c_loc(st%nsrc), "nsrc")
  call slayout(3, c_loc(st%ntrg), "ntrg")
  call slayout(4, c_loc(st%nboxes), "nboxes")
  call slayout(5, c_loc(st%nleaves), "nleaves")
  call slayout(6, c_loc(st%depth), "depth")
  call slayout(7, c_loc(st%order), "order")
  call slayout(8, c_loc(st%nsurf), "nsurf")
  call slayout(9, c_loc(st%m2l_rank), "m2l_rank")
  call slayout(10, c_loc(st%m2l_max_rank), "m2l_max_rank")
  call slayout(11, c_loc(st%cache_result), "cache_result")
  call slayout(12, c_loc(st%bytes), "bytes")
  call slayout(13, c_loc(st%compression_tol), "compression_tol")
  call slayout(14, c_loc(st%t_tree), "t_tree")
  call slayout(15, c_loc(st%t_lists), "t_lists")
  call slayout(16, c_loc(st%t_operators), "t_operators")
  call slayout(17, c_loc(st%t_p2m), "t_p2m")
  call slayout(18, c_loc(st%t_m2m), "t_m2m")
  call slayout(19, c_loc(st%t_m2l), "t_m2l")
  call slayout(20, c_loc(st%t_l2l), "t_l2l")
  call slayout(21, c_loc(st%t_p2l), "t_p2l")
  call slayout(22, c_loc(st%t_m2p), "t_m2p")
  call slayout(23, c_loc(st%t_l2p), "t_l2p")
  call slayout(24, c_loc(st%t_p2p), "t_p2p")
  call slayout(25, c_loc(st%t_evaluate), "t_evaluate")
  call slayout(26, c_loc(st%nevaluations), "nevaluations")
  call slayout(27, c_loc(st%max_leaf_points), "max_leaf_points")
  call slayout(28, c_loc(st%overfull_leaves), "overfull_leaves")
  call slayout(29, c_loc(st%ncrit), "ncrit")
  call slayout(30, c_loc(st%tolerance), "tolerance")
  call slayout(31, c_loc(st%blas), "blas")
  call slayout(32, c_loc(st%blas_core), "blas_core")
  call slayout(33, c_loc(st%simd), "simd")
  call slayout(34, c_loc(st%nvec), "nvec")
  call slayout(35, c_loc(st%nranks), "nranks")
  call slayout(36, c_loc(st%rank), "rank")
  call slayout(37, c_loc(st%nsrc_global), "nsrc_global")
  call slayout(38, c_loc(st%ntrg_global), "ntrg_global")
  call slayout(39, c_loc(st%bytes_sent), "bytes_sent")
  call slayout(40, c_loc(st%bytes_received), "bytes_received")
  call slayout(41, c_loc(st%t_partition), "t_partition")
  call slayout(42, c_loc(st%t_comm_wait), "t_comm_wait")
  call slayout(43, c_loc(st%kernel), "kernel")
  call slayout(44, c_loc(st%periodic), "periodic")
  call slayout(45, c_loc(st%kernel_param), "kernel_param")
  call check(abi_stats_layout(46_c_int) == -1, "kifmm_stats has 45 fields")

  ! Defaults as documented in kifmm.h, read through the by-value struct return.
  o = kifmm_default_options()
  call check(o%struct_size == c_sizeof(o), "default struct_size = c_sizeof(kifmm_options)")
  call check(o%order == 6, "default order 6")
  call check(o%ncrit == 0, "default ncrit 0 (chosen by the plan)")
  call check(o%max_level == KIFMM_MAX_LEVEL, "default max_level")
  call check(o%num_threads == 0, "default num_threads 0")
  call check(o%nvec == 1, "default nvec 1")
  call check(o%kernel == KIFMM_KERNEL_LAPLACE, "default kernel Laplace")
  call check(all(o%periodic == 0), "default free space")
  call check(o%cell_length >= 1 .and. o%cell_length <= 1, "default cell_length 1")
  call check(all(o%cell_aspect >= 1 .and. o%cell_aspect <= 1), "default cell_aspect 1")
  call check(all(o%cell_origin >= 0 .and. o%cell_origin <= 0), "default cell_origin 0")
  block
    integer(c_int32_t) :: sd, vd
    integer :: s
    call kifmm_kernel_dims(KIFMM_KERNEL_STOKES, sd, vd, s)
    call check(s == KIFMM_SUCCESS .and. sd == 3 .and. vd == 3, "Stokes: 3 densities, 3 values")
    call kifmm_kernel_dims(KIFMM_KERNEL_YUKAWA, sd, vd, s)
    call check(s == KIFMM_SUCCESS .and. sd == 1 .and. vd == 1, "Yukawa: 1 density, 1 value")
    call kifmm_kernel_dims(7_c_int32_t, sd, vd, s)
    call check(s == KIFMM_ERR_INVALID_KERNEL, "unknown kernel refused")
  end block
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

  integer(c_intptr_t) function offset(base, p)
    type(c_ptr), intent(in) :: base, p
    offset = transfer(p, 0_c_intptr_t) - transfer(base, 0_c_intptr_t)
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

  subroutine olayout(i, p, what)
    integer, intent(in) :: i
    type(c_ptr), intent(in) :: p
    character(len=*), intent(in) :: what
    call layout(abi_options_layout(int(i, c_int)), int(offset(c_loc(o), p), c_long), &
                "options%"//what//" offset")
  end subroutine olayout

  subroutine slayout(i, p, what)
    integer, intent(in) :: i
    type(c_ptr), intent(in) :: p
    character(len=*), intent(in) :: what
    call layout(abi_stats_layout(int(i, c_int)), int(offset(c_loc(st), p), c_long), &
                "stats%"//what//" offset")
  end subroutine slayout

end program test_fortran_abi
