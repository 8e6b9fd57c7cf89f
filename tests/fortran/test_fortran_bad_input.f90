! SPDX-License-Identifier: BSD-3-Clause
! Fortran twin of the bad-input suite: each invalid argument gives its exact status, the
! outputs and the plan are left untouched, and without a status argument the call returns
! (never stops) and kifmm_last_status() tells what happened.
program test_fortran_bad_input
  use, intrinsic :: iso_c_binding, only: c_double, c_int32_t, c_sizeof
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan, ieee_positive_inf
  use kifmm
  use kifmm_test_util
  implicit none

  integer, parameter :: n = 300
  real(c_double) :: src(3, n), trg(3, 50), q(n), pot(n), grad(3, n), nan, inf
  real(c_double), allocatable :: bad(:, :)
  type(kifmm_options) :: opts
  type(kifmm_plan) :: plan, fresh
  integer :: s, i

  nan = ieee_value(nan, ieee_quiet_nan)
  inf = ieee_value(inf, ieee_positive_inf)
  call random_points(src, 0.0_c_double, 1.0_c_double)
  call random_points(trg, 0.0_c_double, 1.0_c_double)
  call random_charges(q)

  ! Each invalid option: its own code, plan not created.
  call bad_option(order=KIFMM_MIN_ORDER - 1, expected=KIFMM_ERR_INVALID_ORDER, what="order too low")
  call bad_option(order=KIFMM_MAX_ORDER + 1, expected=KIFMM_ERR_INVALID_ORDER, what="order too high")
  call bad_option(ncrit=-1, expected=KIFMM_ERR_INVALID_NCRIT, what="ncrit -1")
  call bad_option(max_level=0, expected=KIFMM_ERR_INVALID_MAX_LEVEL, what="max_level 0")
  call bad_option(max_level=KIFMM_MAX_LEVEL + 1, expected=KIFMM_ERR_INVALID_MAX_LEVEL, &
                  what="max_level too high")
  call bad_option(num_threads=-1, expected=KIFMM_ERR_INVALID_THREADS, what="num_threads -1")
  call bad_option(tol=1.0_c_double, expected=KIFMM_ERR_INVALID_TOLERANCE, what="tolerance 1")
  call bad_option(tol=-1.0e-8_c_double, expected=KIFMM_ERR_INVALID_TOLERANCE, &
                  what="negative tolerance")
  call bad_option(tol=nan, expected=KIFMM_ERR_INVALID_TOLERANCE, what="NaN tolerance")

  ! Non-finite coordinates, in sources and in targets.
  opts = small_options()
  bad = src
  bad(2, 17) = nan
  call kifmm_plan_create(plan, bad, opts=opts, status=s)
  call check_status(s, KIFMM_ERR_NONFINITE_COORDINATE, "NaN source coordinate")
  bad(2, 17) = inf
  call kifmm_plan_create(plan, bad, opts=opts, status=s)
  call check_status(s, KIFMM_ERR_NONFINITE_COORDINATE, "infinite source coordinate")
  bad = trg
  bad(3, 50) = -inf
  call kifmm_plan_create(plan, src, bad, opts, status=s)
  call check_status(s, KIFMM_ERR_NONFINITE_COORDINATE, "infinite target coordinate")
  call check(.not. kifmm_plan_associated(plan), "failed creation leaves no plan")

  ! Wrong shapes: the first extent must be 3.
  deallocate (bad)
  allocate (bad(2, n))
  bad = 0
  call kifmm_plan_create(plan, bad, opts=opts, status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, "src(2, n)")
  call kifmm_plan_create(plan, src, bad, opts, status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, "trg(2, n)")

  ! Evaluation on a plan never created.
  pot = 7
  call kifmm_evaluate(fresh, q, pot, status=s)
  call check_status(s, KIFMM_ERR_NULL_ARGUMENT, "evaluate an uncreated plan")

  ! A good plan, then bad evaluation arguments: outputs stay untouched.
  call kifmm_plan_create(plan, src, opts=opts, status=s)
  call check_status(s, KIFMM_SUCCESS, "good plan")
  pot = 7
  grad = 7
  call kifmm_evaluate(plan, q(1:n - 1), pot, grad, status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, "too few charges")
  call kifmm_evaluate(plan, q, pot(1:n - 1), status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, "too few potentials")
  call kifmm_evaluate(plan, q, pot, grad(:, 1:n - 1), status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, "too few gradients")
  call kifmm_evaluate(plan, q, pot, grad(1:2, :), status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, "gradient first extent 2")
  q(42) = nan
  call kifmm_evaluate(plan, q, pot, grad, status=s)
  call check_status(s, KIFMM_ERR_NONFINITE_CHARGE, "NaN charge")
  q(42) = inf
  call kifmm_evaluate(plan, q, pot, grad, status=s)
  call check_status(s, KIFMM_ERR_NONFINITE_CHARGE, "infinite charge")
  call check(maxval(abs(pot - 7)) <= 0 .and. maxval(abs(grad - 7)) <= 0, "outputs untouched by failed evaluations")
  q(42) = 0.5_c_double

  ! Failed re-planning keeps the old plan usable.
  call kifmm_plan_create(plan, src, opts=options_with_order(99), status=s)
  call check_status(s, KIFMM_ERR_INVALID_ORDER, "re-plan with a bad order")
  call kifmm_evaluate(plan, q, pot, status=s)
  call check_status(s, KIFMM_SUCCESS, "old plan still evaluates")

  ! Options not from kifmm_default_options() (struct_size 0), or of a size the library does
  ! not know (a module newer than the library): their own code, and the plan is kept.
  block
    type(kifmm_options) :: raw
    type(kifmm_stats) :: st
    raw = small_options()
    raw%struct_size = 0
    call kifmm_plan_create(plan, src, opts=raw, status=s)
    call check_status(s, KIFMM_ERR_STRUCT_SIZE, "options with struct_size 0")
    raw%struct_size = int(c_sizeof(raw) + 8, c_int32_t)
    call kifmm_plan_create(plan, src, opts=raw, status=s)
    call check_status(s, KIFMM_ERR_STRUCT_SIZE, "options larger than the library's")
    call kifmm_options_set_cache_dir(raw, "/tmp", status=s)
    call check_status(s, KIFMM_ERR_STRUCT_SIZE, "set_cache_dir on options of unknown size")
    call check(kifmm_options_get_cache_dir(raw) == "", "cache_dir of refused options kept")
    call check(kifmm_plan_associated(plan), "refused options keep the old plan")
    call kifmm_plan_stats(plan, st, status=s)
    call check_status(s, KIFMM_SUCCESS, "stats of the kept plan")
    call check(st%struct_size == c_sizeof(st), "stats struct_size = c_sizeof(kifmm_stats)")
    call check(st%order == 4, "stats of the kept plan: order 4")
  end block

  ! Without status: the call returns and the last status records the failure.
  call kifmm_evaluate(plan, q(1:10), pot)
  call check_status(kifmm_last_status(), KIFMM_ERR_INVALID_COUNT, "last status, no status arg")
  call kifmm_evaluate(plan, q, pot)
  call check_status(kifmm_last_status(), KIFMM_SUCCESS, "last status after success")
  call kifmm_plan_create(fresh, src, opts=options_with_order(1))
  call check_status(kifmm_last_status(), KIFMM_ERR_INVALID_ORDER, "last status of create")

  ! Destroy twice, then use: harmless, then the exact code.
  call kifmm_plan_destroy(plan, status=s)
  call check_status(s, KIFMM_SUCCESS, "destroy")
  call kifmm_plan_destroy(plan, status=s)
  call check_status(s, KIFMM_SUCCESS, "destroy again")
  call kifmm_evaluate(plan, q, pot, status=s)
  call check_status(s, KIFMM_ERR_NULL_ARGUMENT, "evaluate a destroyed plan")

  ! kifmm_direct checks extents and values too.
  call kifmm_direct(src, q(1:n - 1), pot, status=s)
  call check_status(s, KIFMM_ERR_INVALID_COUNT, "direct: too few charges")
  call kifmm_direct(src, q, pot, num_threads=-2, status=s)
  call check_status(s, KIFMM_ERR_INVALID_THREADS, "direct: negative threads")

  ! Cache directory: round trip, and a name too long for the C field.
  call kifmm_options_set_cache_dir(opts, "/tmp/kifmm cache/", status=s)
  call check_status(s, KIFMM_SUCCESS, "set cache_dir")
  call check(kifmm_options_get_cache_dir(opts) == "/tmp/kifmm cache/", "cache_dir round trip")
  call kifmm_options_set_cache_dir(opts, repeat("x", KIFMM_PATH_MAX), status=s)
  call check_status(s, KIFMM_ERR_IO, "cache_dir too long")
  call check(kifmm_options_get_cache_dir(opts) == "/tmp/kifmm cache/", "cache_dir kept")

  ! Every code has its own message; unknown codes say so.
  do i = 0, KIFMM_NUM_STATUS - 1
    call check(len(kifmm_error_string(i)) > 0, "message of a status code")
    call check(kifmm_error_string(i) /= "unknown status code", "known status code")
  end do
  call check(kifmm_error_string(-1) == "unknown status code", "unknown code -1")
  call check(kifmm_error_string(KIFMM_ERR_INVALID_ORDER) == "expansion order outside [2, 18]", &
             "message of KIFMM_ERR_INVALID_ORDER")

  call report("test_fortran_bad_input")

contains

  type(kifmm_options) function small_options()
    small_options = kifmm_default_options()
    small_options%order = 4
    small_options%ncrit = 32
    small_options%use_cache = 0
  end function small_options

  type(kifmm_options) function options_with_order(order)
    integer, intent(in) :: order
    options_with_order = small_options()
    options_with_order%order = order
  end function options_with_order

  subroutine bad_option(expected, what, order, ncrit, max_level, num_threads, tol)
    integer, intent(in) :: expected
    character(len=*), intent(in) :: what
    integer, intent(in), optional :: order, ncrit, max_level, num_threads
    real(c_double), intent(in), optional :: tol
    type(kifmm_options) :: o
    type(kifmm_plan) :: p
    integer :: st
    o = small_options()
    if (present(order)) o%order = order
    if (present(ncrit)) o%ncrit = ncrit
    if (present(max_level)) o%max_level = max_level
    if (present(num_threads)) o%num_threads = num_threads
    if (present(tol)) o%compression_tol = tol
    call kifmm_plan_create(p, src, opts=o, status=st)
    call check_status(st, expected, what)
    call check(.not. kifmm_plan_associated(p), what//": no plan")
  end subroutine bad_option

end program test_fortran_bad_input
