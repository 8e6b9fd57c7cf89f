! SPDX-License-Identifier: BSD-3-Clause
! kifmm-c Fortran interface: module kifmm, a thin ISO_C_BINDING layer over include/kifmm.h.
! Private bind(C) interfaces to the C entry points; public wrappers with optional arguments.
!
! Conventions of every public wrapper:
!  * Coordinates are real(c_double) :: x(3, n) (column j is point j), the memory layout the C
!    API takes. Gradients are grad(3, ntrg). Non-contiguous actual arguments are accepted
!    (the compiler passes a contiguous copy).
!  * status is an optional intent(out) integer set to KIFMM_SUCCESS or one of the KIFMM_ERR_*
!    codes. No wrapper ever stops the program: when status is absent the call just returns,
!    and kifmm_last_status() gives the code of the most recent wrapper call. The last status
!    is one variable per program (not per thread): pass status explicitly in threaded code.
!  * Array extents are checked against the plan; a mismatch gives KIFMM_ERR_INVALID_COUNT
!    and leaves every output untouched, like any other failure.
!  * No wrapper keeps a pointer to a caller's array after it returns.
module kifmm
  use, intrinsic :: iso_c_binding, only: c_char, c_double, c_int, c_int32_t, c_int64_t, &
                                         c_null_char, c_null_ptr, c_ptr, c_size_t, &
                                         c_funptr, c_null_funptr, &
                                         c_associated, c_f_pointer, c_loc, c_sizeof
  implicit none
  private

  include "kifmm_constants.inc"

  !> Options of a plan: the C struct kifmm_options, field for field. Obtain defaults with
  !> kifmm_default_options() and change what you need; cache_dir is a NUL-terminated C
  !> string, set it with kifmm_options_set_cache_dir(). struct_size is c_sizeof of this
  !> type, set by kifmm_default_options(): the C library reads the options by it, and
  !> refuses options with struct_size 0 (not from kifmm_default_options()) with
  !> KIFMM_ERR_STRUCT_SIZE. Fields are only ever appended, here and in C alike.
  type, bind(C), public :: kifmm_options
    integer(c_int32_t) :: struct_size  !< c_sizeof(kifmm_options); leave it as set
    integer(c_int32_t) :: order        !< expansion order p in [2, 18]; default 6
    integer(c_int32_t) :: ncrit        !< split a box holding more sources+targets than this; default 0 (automatic)
    integer(c_int32_t) :: max_level    !< deepest octree level, in [1, 42]; default 42
    integer(c_int32_t) :: num_threads  !< OpenMP threads; 0 = omp_get_max_threads() per call; default 0
    integer(c_int32_t) :: verbose      !< 1 = per-phase timings to stderr; default 0
    integer(c_int32_t) :: use_cache    !< 1 = load/store operators in the cache; default 1
    real(c_double) :: compression_tol  !< M2L truncation; 0 = chosen from order; default 0
    character(kind=c_char) :: cache_dir(KIFMM_PATH_MAX) !< "" = from the environment
    real(c_double) :: tolerance        !< relative error wanted (chooses order, ncrit); 0 = off
    type(c_funptr) :: progress = c_null_funptr !< c_funloc of a bind(C) subroutine
                                       !< (phase: c_ptr to a C string, fraction: real(c_double),
                                       !< value; data: type(c_ptr), value); c_null_funptr = none
    type(c_ptr) :: progress_data = c_null_ptr !< passed to progress unchanged
    integer(c_int32_t) :: nvec         !< charge vectors per evaluation the plan is tuned for; default 1
    integer(c_int32_t) :: kernel       !< KIFMM_KERNEL_LAPLACE (default), _YUKAWA or _STOKES
    integer(c_int32_t) :: periodic(3)  !< 1 = periodic along x, y, z; default 0 (free space)
    real(c_double) :: kernel_param     !< Yukawa kappa >= 0, Stokes viscosity > 0; default 0
    real(c_double) :: cell_origin(3)   !< lower corner of the cell; default 0
    real(c_double) :: cell_length      !< side of the cubic cell, > 0 if periodic; default 1
    real(c_double) :: cell_aspect(3)   !< sides over cell_length: (1, 1, 1) only so far
  end type kifmm_options

  !> Statistics of a plan: the C struct kifmm_stats, field for field (times in seconds).
  type, bind(C), public :: kifmm_stats
    integer(c_int32_t) :: struct_size       !< bytes filled by kifmm_plan_stats: c_sizeof
    integer(c_int64_t) :: nsrc, ntrg        !< point counts
    integer(c_int64_t) :: nboxes, nleaves   !< boxes of the octree, of which leaves
    integer(c_int32_t) :: depth             !< deepest level present (root = 0)
    integer(c_int32_t) :: order             !< expansion order p
    integer(c_int32_t) :: nsurf             !< points per surface, 6(p-1)^2+2
    integer(c_int32_t) :: m2l_rank          !< rank of the shared M2L bases of each direction group
    integer(c_int32_t) :: m2l_max_rank      !< largest per-transfer-vector rank
    integer(c_int32_t) :: cache_result      !< 0 unused, 1 hit, 2 stored, 3 rebuilt
    integer(c_int64_t) :: bytes             !< bytes held by the plan
    real(c_double) :: compression_tol       !< the M2L truncation in force
    real(c_double) :: t_tree, t_lists, t_operators            !< plan creation
    real(c_double) :: t_p2m, t_m2m, t_m2l, t_l2l, t_p2l, t_m2p, t_l2p, t_p2p !< last evaluation
    real(c_double) :: t_evaluate            !< whole last evaluation
    integer(c_int64_t) :: nevaluations      !< completed evaluations
    integer(c_int64_t) :: max_leaf_points   !< most sources+targets held by one leaf
    integer(c_int64_t) :: overfull_leaves   !< leaves above ncrit (exact duplicates at max_level)
    integer(c_int32_t) :: ncrit             !< leaf size in force (chosen when options%ncrit = 0)
    real(c_double) :: tolerance             !< options%tolerance (order chosen from it when > 0)
    character(kind=c_char) :: blas(64)      !< BLAS library in use, NUL-terminated
    character(kind=c_char) :: blas_core(32) !< kernel set the BLAS chose, NUL-terminated
    character(kind=c_char) :: simd(16)      !< avx512, avx2 or portable, NUL-terminated
    integer(c_int32_t) :: nvec              !< charge vectors of the last evaluation
    integer(c_int32_t) :: nranks            !< ranks of a distributed plan; 1 otherwise
    integer(c_int32_t) :: rank              !< this process's rank in it; 0 otherwise
    integer(c_int64_t) :: nsrc_global, ntrg_global !< counts over all ranks
    integer(c_int64_t) :: bytes_sent, bytes_received !< MPI bytes of the last evaluation
    real(c_double) :: t_partition           !< distributed: parallel sort and ownership (in t_tree)
    real(c_double) :: t_comm_wait           !< last evaluation: time waiting for messages
    integer(c_int32_t) :: kernel            !< options%kernel
    integer(c_int32_t) :: periodic(3)       !< options%periodic
    real(c_double) :: kernel_param          !< options%kernel_param
    integer(c_int32_t) :: near_precision    !< last evaluation: 32 single, 64 double near field
    integer(c_int32_t) :: near_symmetric    !< last evaluation: 1 near field both ways, 0 one way
  end type kifmm_stats

  !> A plan: octree, interaction lists and operators for one geometry. Create it with
  !> kifmm_plan_create(), evaluate any number of times, free it with kifmm_plan_destroy().
  !> The handle is not reference counted: do not destroy a copy of a plan and keep using
  !> the original. There is no finalizer; an undestroyed plan leaks.
  !> Dry-run estimate: the C struct kifmm_estimate, field for field (see kifmm.h).
  type, bind(C), public :: kifmm_estimate
    integer(c_int32_t) :: struct_size        !< c_sizeof, set by kifmm_plan_estimate
    integer(c_int32_t) :: order, ncrit       !< the parameters the plan would use
    integer(c_int32_t) :: depth
    integer(c_int64_t) :: nboxes, nleaves
    integer(c_int64_t) :: bytes_plan         !< held by the plan once created
    integer(c_int64_t) :: bytes_peak         !< peak added during creation + one evaluation
    real(c_double) :: t_tree, t_lists        !< predicted plan creation, operators aside
    real(c_double) :: t_operators            !< measured: obtaining the operators
    real(c_double) :: t_p2p, t_m2l, t_kernels, t_m2m !< predicted evaluation phases
    real(c_double) :: t_evaluate             !< predicted evaluation with gradient
    real(c_double) :: p2p_pairs, m2l_flops   !< work of the two largest phases
  end type kifmm_estimate

  type, public :: kifmm_plan
    private
    type(c_ptr) :: handle = c_null_ptr
    integer(c_int64_t) :: nsrc = 0, ntrg = 0
    integer(c_int32_t) :: density_dim = 1, value_dim = 1 !< of the plan's kernel (kifmm_kernel_dims)
  end type kifmm_plan

  public :: kifmm_default_options, kifmm_options_set_cache_dir, kifmm_options_get_cache_dir
  public :: kifmm_plan_create, kifmm_evaluate, kifmm_plan_destroy, kifmm_plan_stats
  public :: kifmm_plan_create_mpi

  !> Distributed plan over an MPI communicator given as an integer handle (mpi, mpif.h);
  !> module kifmm_mpi adds the form taking type(MPI_Comm) (mpi_f08).
  interface kifmm_plan_create_mpi
    module procedure plan_create_mpi_int
  end interface kifmm_plan_create_mpi

  !> Scalar kernels (Laplace, Yukawa): one charge vector, charges(nsrc), or several at once,
  !> charges(nsrc, nvec) (kifmm_evaluate_many). Kernels with d density and v value components
  !> per point (Stokes: d = v = 3): charges(d, nsrc), pot(v, ntrg), grad(3, v, ntrg), or several
  !> vectors with one more dimension, charges(d, nsrc, nvec). The rank-2 form is read by the
  !> plan's kernel: (nsrc, nvec) for a scalar kernel, (d, nsrc) otherwise.
  interface kifmm_evaluate
    module procedure evaluate_one, evaluate_many, evaluate_dims_many
  end interface kifmm_evaluate
  public :: kifmm_plan_associated, kifmm_direct, kifmm_plan_estimate
  public :: kifmm_error_string, kifmm_version, kifmm_last_status
  public :: kifmm_error_detail, kifmm_kernel_dims

  !> Status of the most recent wrapper call (see kifmm_last_status()).
  integer, save :: last_status = KIFMM_SUCCESS

  interface
    function c_default_options_sized(opts, struct_size) &
        bind(C, name="kifmm_default_options_sized") result(s)
      import :: c_int, c_size_t, kifmm_options
      type(kifmm_options), intent(inout) :: opts
      integer(c_size_t), value :: struct_size
      integer(c_int) :: s
    end function c_default_options_sized

    function c_options_set_cache_dir(opts, dir) &
        bind(C, name="kifmm_options_set_cache_dir") result(s)
      import :: c_char, c_int, kifmm_options
      type(kifmm_options), intent(inout) :: opts
      character(kind=c_char), intent(in) :: dir(*)
      integer(c_int) :: s
    end function c_options_set_cache_dir

    function c_plan_create(plan, nsrc, src, ntrg, trg, opts) &
        bind(C, name="kifmm_plan_create") result(s)
      import :: c_int, c_int64_t, c_ptr
      type(c_ptr), intent(out) :: plan
      integer(c_int64_t), value :: nsrc, ntrg
      type(c_ptr), value :: src, trg, opts
      integer(c_int) :: s
    end function c_plan_create

    function c_plan_create_mpi_f(plan, comm, nsrc, src, ntrg, trg, opts) &
        bind(C, name="kifmm_plan_create_mpi_f") result(s)
      import :: c_int, c_int64_t, c_ptr
      type(c_ptr), intent(out) :: plan
      integer(c_int), value :: comm
      integer(c_int64_t), value :: nsrc, ntrg
      type(c_ptr), value :: src, trg, opts
      integer(c_int) :: s
    end function c_plan_create_mpi_f

    function c_plan_estimate_sized(nsrc, src, ntrg, trg, opts, est, struct_size) &
        bind(C, name="kifmm_plan_estimate_sized") result(s)
      import :: c_int, c_int64_t, c_ptr, c_size_t, kifmm_estimate
      integer(c_int64_t), value :: nsrc, ntrg
      type(c_ptr), value :: src, trg, opts
      type(kifmm_estimate), intent(out) :: est
      integer(c_size_t), value :: struct_size
      integer(c_int) :: s
    end function c_plan_estimate_sized

    function c_evaluate(plan, charges, pot, grad) bind(C, name="kifmm_evaluate") result(s)
      import :: c_int, c_ptr
      type(c_ptr), value :: plan, charges, pot, grad
      integer(c_int) :: s
    end function c_evaluate

    function c_evaluate_many(plan, nvec, charges, pot, grad) &
        bind(C, name="kifmm_evaluate_many") result(s)
      import :: c_int, c_ptr
      type(c_ptr), value :: plan, charges, pot, grad
      integer(c_int), value :: nvec
      integer(c_int) :: s
    end function c_evaluate_many

    function c_plan_destroy(plan) bind(C, name="kifmm_plan_destroy") result(s)
      import :: c_int, c_ptr
      type(c_ptr), intent(inout) :: plan
      integer(c_int) :: s
    end function c_plan_destroy

    function c_plan_stats_sized(plan, stats, struct_size) &
        bind(C, name="kifmm_plan_stats_sized") result(s)
      import :: c_int, c_ptr, c_size_t, kifmm_stats
      type(c_ptr), value :: plan
      type(kifmm_stats), intent(out) :: stats
      integer(c_size_t), value :: struct_size
      integer(c_int) :: s
    end function c_plan_stats_sized

    function c_direct(nsrc, src, charges, ntrg, trg, pot, grad, num_threads) &
        bind(C, name="kifmm_direct") result(s)
      import :: c_int, c_int64_t, c_ptr
      integer(c_int64_t), value :: nsrc, ntrg
      type(c_ptr), value :: src, charges, trg, pot, grad
      integer(c_int), value :: num_threads
      integer(c_int) :: s
    end function c_direct

    function c_error_string(status) bind(C, name="kifmm_error_string") result(msg)
      import :: c_int, c_ptr
      integer(c_int), value :: status
      type(c_ptr) :: msg
    end function c_error_string

    function c_error_detail() bind(C, name="kifmm_error_detail") result(msg)
      import :: c_ptr
      type(c_ptr) :: msg
    end function c_error_detail

    function c_kernel_dims(kernel, density_dim, value_dim) &
        bind(C, name="kifmm_kernel_dims") result(s)
      import :: c_int, c_int32_t
      integer(c_int32_t), value :: kernel
      integer(c_int32_t), intent(out) :: density_dim, value_dim
      integer(c_int) :: s
    end function c_kernel_dims

    function c_version() bind(C, name="kifmm_version") result(v)
      import :: c_ptr
      type(c_ptr) :: v
    end function c_version

    function c_strlen(s) bind(C, name="strlen") result(n)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function c_strlen
  end interface

contains

  !> Default options: order 6, ncrit 0 (chosen by the plan), max_level 42, num_threads 0, verbose 0,
  !> use_cache 1, compression_tol 0 (automatic), cache_dir "" (from the environment),
  !> struct_size c_sizeof(opts). Should the linked C library be older than this module
  !> (it does not know the size), struct_size is 0 and kifmm_plan_create refuses the options.
  function kifmm_default_options() result(opts)
    type(kifmm_options) :: opts
    integer(c_int) :: s
    opts%struct_size = 0
    s = c_default_options_sized(opts, c_sizeof(opts))
  end function kifmm_default_options

  !> Set opts%cache_dir to dir (trailing blanks dropped). A directory name of
  !> KIFMM_PATH_MAX characters or more gives KIFMM_ERR_IO, options not from
  !> kifmm_default_options() KIFMM_ERR_STRUCT_SIZE; opts is then unchanged.
  subroutine kifmm_options_set_cache_dir(opts, dir, status)
    type(kifmm_options), intent(inout) :: opts
    character(len=*), intent(in) :: dir
    integer, intent(out), optional :: status
    call finish(c_options_set_cache_dir(opts, trim(dir)//c_null_char), status)
  end subroutine kifmm_options_set_cache_dir

  !> opts%cache_dir as a Fortran string (the characters before the first NUL).
  function kifmm_options_get_cache_dir(opts) result(dir)
    type(kifmm_options), intent(in) :: opts
    character(len=:), allocatable :: dir
    integer :: i, n
    n = KIFMM_PATH_MAX
    do i = 1, KIFMM_PATH_MAX
      if (opts%cache_dir(i) == c_null_char) then
        n = i - 1
        exit
      end if
    end do
    allocate (character(len=n) :: dir)
    do i = 1, n
      dir(i:i) = opts%cache_dir(i)
    end do
  end function kifmm_options_get_cache_dir

  !> Build the octree, lists and operators for sources src(3, nsrc) and targets
  !> trg(3, ntrg); without trg the targets are the sources. Coordinates are copied.
  !> opts (default: kifmm_default_options()) is read during the call only.
  !> On success a plan already held in plan is destroyed and replaced; on failure plan
  !> is unchanged. A first extent other than 3 gives KIFMM_ERR_INVALID_COUNT.
  subroutine kifmm_plan_create(plan, src, trg, opts, status)
    type(kifmm_plan), intent(inout) :: plan
    real(c_double), intent(in), contiguous, target :: src(:, :)
    real(c_double), intent(in), contiguous, target, optional :: trg(:, :)
    type(kifmm_options), intent(in), target, optional :: opts
    integer, intent(out), optional :: status
    type(c_ptr) :: handle, psrc, ptrg, popts
    integer(c_int64_t) :: nsrc, ntrg
    integer :: s

    call point_arrays(src, trg, nsrc, psrc, ntrg, ptrg)
    if (nsrc < 0 .or. ntrg < 0) then
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    popts = c_null_ptr
    if (present(opts)) popts = c_loc(opts)

    handle = c_null_ptr
    s = c_plan_create(handle, nsrc, psrc, ntrg, ptrg, popts)
    if (s == KIFMM_SUCCESS) call adopt(plan, handle, nsrc, ntrg)
    call finish(s, status)
  end subroutine kifmm_plan_create

  !> C pointers and counts of the point arrays src(3, nsrc) and trg(3, ntrg) (the sources
  !> when trg is absent); a count is -1 when its array's first extent is not 3.
  subroutine point_arrays(src, trg, nsrc, psrc, ntrg, ptrg)
    real(c_double), intent(in), contiguous, target :: src(:, :)
    real(c_double), intent(in), contiguous, target, optional :: trg(:, :)
    integer(c_int64_t), intent(out) :: nsrc, ntrg
    type(c_ptr), intent(out) :: psrc, ptrg
    nsrc = size(src, 2, kind=c_int64_t)
    if (size(src, 1) /= 3) nsrc = -1
    psrc = array2_ptr(src)
    if (present(trg)) then
      ntrg = size(trg, 2, kind=c_int64_t)
      if (size(trg, 1) /= 3) ntrg = -1
      ptrg = array2_ptr(trg)
    else
      ntrg = nsrc
      ptrg = psrc
    end if
  end subroutine point_arrays

  !> A newly created plan replaces the one plan held, if any.
  subroutine adopt(plan, handle, nsrc, ntrg)
    type(kifmm_plan), intent(inout) :: plan
    type(c_ptr), intent(in) :: handle
    integer(c_int64_t), intent(in) :: nsrc, ntrg
    integer :: ignored
    type(kifmm_stats) :: st
    integer(c_int32_t) :: d, v
    if (c_associated(plan%handle)) ignored = c_plan_destroy(plan%handle)
    plan%handle = handle
    plan%nsrc = nsrc
    plan%ntrg = ntrg
    ! the kernel's dimensions, from the plan itself (its options were validated)
    plan%density_dim = 1
    plan%value_dim = 1
    if (c_plan_stats_sized(handle, st, c_sizeof(st)) == KIFMM_SUCCESS) then
      if (c_kernel_dims(st%kernel, d, v) == KIFMM_SUCCESS) then
        plan%density_dim = d
        plan%value_dim = v
      end if
    end if
  end subroutine adopt

  !> Collective over comm (an integer MPI handle): each rank passes its own sources src(3, n)
  !> and targets trg(3, m) (without trg, its sources), in any order, possibly none. The plan's
  !> kifmm_evaluate is collective too: each rank passes its own charges and receives its own
  !> targets' results, in its own order. Every rank gets the same status. See kifmm_mpi.h.
  subroutine plan_create_mpi_int(plan, comm, src, trg, opts, status)
    type(kifmm_plan), intent(inout) :: plan
    integer, intent(in) :: comm
    real(c_double), intent(in), contiguous, target :: src(:, :)
    real(c_double), intent(in), contiguous, target, optional :: trg(:, :)
    type(kifmm_options), intent(in), target, optional :: opts
    integer, intent(out), optional :: status
    type(c_ptr) :: handle, psrc, ptrg, popts
    integer(c_int64_t) :: nsrc, ntrg
    integer :: s

    ! bad extents go to C as negative counts: every rank refuses them together there
    call point_arrays(src, trg, nsrc, psrc, ntrg, ptrg)
    popts = c_null_ptr
    if (present(opts)) popts = c_loc(opts)
    handle = c_null_ptr
    s = c_plan_create_mpi_f(handle, int(comm, c_int), nsrc, psrc, ntrg, ptrg, popts)
    if (s == KIFMM_SUCCESS) call adopt(plan, handle, nsrc, ntrg)
    call finish(s, status)
  end subroutine plan_create_mpi_int

  !> Potentials pot(ntrg) and, if present, gradients grad(3, ntrg) at the plan's targets
  !> for charges(nsrc) at its sources, all in the caller's order. Pairs at distance 0
  !> contribute nothing. Outputs are untouched unless status is KIFMM_SUCCESS. An
  !> uncreated or destroyed plan gives KIFMM_ERR_NULL_ARGUMENT.
  subroutine evaluate_one(plan, charges, pot, grad, status)
    type(kifmm_plan), intent(in) :: plan
    real(c_double), intent(in), contiguous, target :: charges(:)
    real(c_double), intent(inout), contiguous, target :: pot(:)
    real(c_double), intent(inout), contiguous, target, optional :: grad(:, :)
    integer, intent(out), optional :: status
    type(c_ptr) :: pgrad

    if (.not. c_associated(plan%handle)) then
      call finish(KIFMM_ERR_NULL_ARGUMENT, status)
      return
    end if
    if (plan%density_dim /= 1 .or. plan%value_dim /= 1) then ! Stokes: charges(3, nsrc)
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    pgrad = c_null_ptr
    if (present(grad)) then
      if (size(grad, 1) /= 3 .or. size(grad, 2, kind=c_int64_t) /= plan%ntrg) then
        call finish(KIFMM_ERR_INVALID_COUNT, status)
        return
      end if
      pgrad = array2_ptr(grad)
    end if
    if (size(charges, kind=c_int64_t) /= plan%nsrc .or. &
        size(pot, kind=c_int64_t) /= plan%ntrg) then
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    call finish(c_evaluate(plan%handle, array1_ptr(charges), array1_ptr(pot), pgrad), status)
  end subroutine evaluate_one

  !> Scalar kernels: nvec = size(charges, 2) charge vectors through one evaluation:
  !> charges(nsrc, nvec), pot(ntrg, nvec) and, if present, grad(3, ntrg, nvec); column j of
  !> each is vector j, with the results kifmm_evaluate would give for charges(:, j). nvec = 0
  !> does nothing and succeeds.
  !> Kernels with d, v > 1 components (Stokes): one density vector, charges(d, nsrc) (forces),
  !> pot(v, ntrg) (velocities) and grad(3, v, ntrg), grad(l, i, t) = d pot(i, t) / d y_l.
  !> Extents that disagree with the plan, its kernel or each other give
  !> KIFMM_ERR_INVALID_COUNT; outputs are untouched unless status is KIFMM_SUCCESS.
  subroutine evaluate_many(plan, charges, pot, grad, status)
    type(kifmm_plan), intent(in) :: plan
    real(c_double), intent(in), contiguous, target :: charges(:, :)
    real(c_double), intent(inout), contiguous, target :: pot(:, :)
    real(c_double), intent(inout), contiguous, target, optional :: grad(:, :, :)
    integer, intent(out), optional :: status
    type(c_ptr) :: pgrad
    integer(c_int64_t) :: nvec

    if (.not. c_associated(plan%handle)) then
      call finish(KIFMM_ERR_NULL_ARGUMENT, status)
      return
    end if
    if (plan%density_dim /= 1 .or. plan%value_dim /= 1) then
      call evaluate_dims_one(plan, charges, pot, grad, status)
      return
    end if
    nvec = size(charges, 2, kind=c_int64_t)
    pgrad = c_null_ptr
    if (present(grad)) then
      if (size(grad, 1) /= 3 .or. size(grad, 2, kind=c_int64_t) /= plan%ntrg .or. &
          size(grad, 3, kind=c_int64_t) /= nvec) then
        call finish(KIFMM_ERR_INVALID_COUNT, status)
        return
      end if
      if (size(grad) > 0) pgrad = c_loc(grad)
    end if
    if (size(charges, 1, kind=c_int64_t) /= plan%nsrc .or. &
        size(pot, 1, kind=c_int64_t) /= plan%ntrg .or. size(pot, 2, kind=c_int64_t) /= nvec &
        .or. nvec > huge(0_c_int)) then
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    call finish(c_evaluate_many(plan%handle, int(nvec, c_int), array2_ptr(charges), &
                                array2_ptr(pot), pgrad), status)
  end subroutine evaluate_many

  ! One density vector of a kernel with components: charges(d, nsrc), pot(v, ntrg),
  ! grad(3, v, ntrg), in kifmm_evaluate's interleaved layout.
  subroutine evaluate_dims_one(plan, charges, pot, grad, status)
    type(kifmm_plan), intent(in) :: plan
    real(c_double), intent(in), contiguous, target :: charges(:, :)
    real(c_double), intent(inout), contiguous, target :: pot(:, :)
    real(c_double), intent(inout), contiguous, target, optional :: grad(:, :, :)
    integer, intent(out), optional :: status
    type(c_ptr) :: pgrad

    pgrad = c_null_ptr
    if (present(grad)) then
      if (size(grad, 1) /= 3 .or. size(grad, 2) /= plan%value_dim .or. &
          size(grad, 3, kind=c_int64_t) /= plan%ntrg) then
        call finish(KIFMM_ERR_INVALID_COUNT, status)
        return
      end if
      if (size(grad) > 0) pgrad = c_loc(grad)
    end if
    if (size(charges, 1) /= plan%density_dim .or. size(charges, 2, kind=c_int64_t) /= plan%nsrc &
        .or. size(pot, 1) /= plan%value_dim .or. size(pot, 2, kind=c_int64_t) /= plan%ntrg) then
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    call finish(c_evaluate(plan%handle, array2_ptr(charges), array2_ptr(pot), pgrad), status)
  end subroutine evaluate_dims_one

  !> nvec = size(charges, 3) density vectors of any kernel through one evaluation, with the
  !> kernel's components first: charges(d, nsrc, nvec), pot(v, ntrg, nvec) and, if present,
  !> grad(3, v, ntrg, nvec), grad(l, i, t, j) = d pot(i, t, j) / d y_l (d = v = 3 for Stokes,
  !> 1 for Laplace and Yukawa). nvec = 0 does nothing and succeeds. Extents that disagree with
  !> the plan's counts, its kernel's dimensions (kifmm_kernel_dims) or each other give
  !> KIFMM_ERR_INVALID_COUNT; outputs are untouched unless status is KIFMM_SUCCESS.
  subroutine evaluate_dims_many(plan, charges, pot, grad, status)
    type(kifmm_plan), intent(in) :: plan
    real(c_double), intent(in), contiguous, target :: charges(:, :, :)
    real(c_double), intent(inout), contiguous, target :: pot(:, :, :)
    real(c_double), intent(inout), contiguous, target, optional :: grad(:, :, :, :)
    integer, intent(out), optional :: status
    type(c_ptr) :: pgrad, pq, ppot
    integer(c_int64_t) :: nvec

    if (.not. c_associated(plan%handle)) then
      call finish(KIFMM_ERR_NULL_ARGUMENT, status)
      return
    end if
    nvec = size(charges, 3, kind=c_int64_t)
    pgrad = c_null_ptr
    if (present(grad)) then
      if (size(grad, 1) /= 3 .or. size(grad, 2) /= plan%value_dim .or. &
          size(grad, 3, kind=c_int64_t) /= plan%ntrg .or. size(grad, 4, kind=c_int64_t) /= nvec) then
        call finish(KIFMM_ERR_INVALID_COUNT, status)
        return
      end if
      if (size(grad) > 0) pgrad = c_loc(grad)
    end if
    if (size(charges, 1) /= plan%density_dim .or. size(charges, 2, kind=c_int64_t) /= plan%nsrc &
        .or. size(pot, 1) /= plan%value_dim .or. size(pot, 2, kind=c_int64_t) /= plan%ntrg &
        .or. size(pot, 3, kind=c_int64_t) /= nvec .or. nvec > huge(0_c_int)) then
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    pq = c_null_ptr
    ppot = c_null_ptr
    if (size(charges) > 0) pq = c_loc(charges)
    if (size(pot) > 0) ppot = c_loc(pot)
    call finish(c_evaluate_many(plan%handle, int(nvec, c_int), pq, ppot, pgrad), status)
  end subroutine evaluate_dims_many

  !> Free the plan's memory; afterwards kifmm_plan_associated(plan) is .false.
  !> Destroying an uncreated or already destroyed plan does nothing.
  subroutine kifmm_plan_destroy(plan, status)
    type(kifmm_plan), intent(inout) :: plan
    integer, intent(out), optional :: status
    call finish(c_plan_destroy(plan%handle), status)
    plan%handle = c_null_ptr
    plan%nsrc = 0
    plan%ntrg = 0
    plan%density_dim = 1
    plan%value_dim = 1
  end subroutine kifmm_plan_destroy

  !> Copy of the plan's statistics: geometry, set-up times, timings of the last evaluation.
  subroutine kifmm_plan_stats(plan, stats, status)
    type(kifmm_plan), intent(in) :: plan
    type(kifmm_stats), intent(out) :: stats
    integer, intent(out), optional :: status
    call finish(c_plan_stats_sized(plan%handle, stats, c_sizeof(stats)), status)
  end subroutine kifmm_plan_stats

  !> Dry run of kifmm_plan_create + one kifmm_evaluate with the same arguments: predicted
  !> memory and time, nothing kept (see kifmm_plan_estimate in kifmm.h).
  subroutine kifmm_plan_estimate(est, src, trg, opts, status)
    type(kifmm_estimate), intent(out) :: est
    real(c_double), intent(in), contiguous, target :: src(:, :)
    real(c_double), intent(in), contiguous, target, optional :: trg(:, :)
    type(kifmm_options), intent(in), target, optional :: opts
    integer, intent(out), optional :: status
    type(c_ptr) :: psrc, ptrg, popts
    integer(c_int64_t) :: nsrc, ntrg

    call point_arrays(src, trg, nsrc, psrc, ntrg, ptrg)
    if (nsrc < 0 .or. ntrg < 0) then
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    popts = c_null_ptr
    if (present(opts)) popts = c_loc(opts)
    call finish(c_plan_estimate_sized(nsrc, psrc, ntrg, ptrg, popts, est, c_sizeof(est)), status)
  end subroutine kifmm_plan_estimate

  !> .true. when plan holds a created, not yet destroyed plan.
  logical function kifmm_plan_associated(plan)
    type(kifmm_plan), intent(in) :: plan
    kifmm_plan_associated = c_associated(plan%handle)
  end function kifmm_plan_associated

  !> Direct O(nsrc*ntrg) sums, for checking: pot(ntrg) and optional grad(3, ntrg) at
  !> targets trg(3, ntrg) (default: the sources) for charges(nsrc) at src(3, nsrc).
  !> num_threads as in the options (default 0). Extent mismatches: KIFMM_ERR_INVALID_COUNT.
  subroutine kifmm_direct(src, charges, pot, grad, trg, num_threads, status)
    real(c_double), intent(in), contiguous, target :: src(:, :)
    real(c_double), intent(in), contiguous, target :: charges(:)
    real(c_double), intent(inout), contiguous, target :: pot(:)
    real(c_double), intent(inout), contiguous, target, optional :: grad(:, :)
    real(c_double), intent(in), contiguous, target, optional :: trg(:, :)
    integer, intent(in), optional :: num_threads
    integer, intent(out), optional :: status
    type(c_ptr) :: ptrg, pgrad
    integer(c_int64_t) :: nsrc, ntrg
    integer(c_int) :: nt
    logical :: bad

    nsrc = size(src, 2, kind=c_int64_t)
    bad = size(src, 1) /= 3 .or. size(charges, kind=c_int64_t) /= nsrc
    if (present(trg)) then
      ntrg = size(trg, 2, kind=c_int64_t)
      bad = bad .or. size(trg, 1) /= 3
      ptrg = array2_ptr(trg)
    else
      ntrg = nsrc
      ptrg = array2_ptr(src)
    end if
    bad = bad .or. size(pot, kind=c_int64_t) /= ntrg
    pgrad = c_null_ptr
    if (present(grad)) then
      bad = bad .or. size(grad, 1) /= 3 .or. size(grad, 2, kind=c_int64_t) /= ntrg
      pgrad = array2_ptr(grad)
    end if
    if (bad) then
      call finish(KIFMM_ERR_INVALID_COUNT, status)
      return
    end if
    nt = 0
    if (present(num_threads)) nt = int(num_threads, c_int)
    call finish(c_direct(nsrc, array2_ptr(src), array1_ptr(charges), ntrg, ptrg, &
                         array1_ptr(pot), pgrad, nt), status)
  end subroutine kifmm_direct

  !> Message for a status code, e.g. kifmm_error_string(KIFMM_ERR_INVALID_ORDER).
  function kifmm_error_string(status) result(msg)
    integer, intent(in) :: status
    character(len=:), allocatable :: msg
    msg = c_string(c_error_string(int(status, c_int)))
  end function kifmm_error_string

  !> What the last failed call on this thread found, e.g. which point lies outside the cell;
  !> "" when there is none (kifmm_error_detail()).
  function kifmm_error_detail() result(msg)
    character(len=:), allocatable :: msg
    msg = c_string(c_error_detail())
  end function kifmm_error_detail

  !> Dimensions of a kernel: density components per source (charges(density_dim, nsrc)) and
  !> value components per target (pot(value_dim, ntrg), grad(3, value_dim, ntrg)).
  subroutine kifmm_kernel_dims(kernel, density_dim, value_dim, status)
    integer(c_int32_t), intent(in) :: kernel
    integer(c_int32_t), intent(out) :: density_dim, value_dim
    integer, intent(out), optional :: status
    density_dim = 0
    value_dim = 0
    call finish(c_kernel_dims(kernel, density_dim, value_dim), status)
  end subroutine kifmm_kernel_dims

  !> Version of the linked library, e.g. "0.3.0".
  function kifmm_version() result(version)
    character(len=:), allocatable :: version
    version = c_string(c_version())
  end function kifmm_version

  !> Status of the most recent call of a wrapper of this module (KIFMM_SUCCESS before any).
  integer function kifmm_last_status()
    kifmm_last_status = last_status
  end function kifmm_last_status

  ! ---- private helpers ----

  ! Record s as the last status and hand it to the caller's optional status argument.
  subroutine finish(s, status)
    integer(c_int), intent(in) :: s
    integer, intent(out), optional :: status
    last_status = s
    if (present(status)) status = s
  end subroutine finish

  ! C address of an array, or NULL when it is empty (c_loc of a zero-sized array is not
  ! allowed; the C API accepts NULL for a count of 0).
  function array1_ptr(a) result(p)
    real(c_double), intent(in), contiguous, target :: a(:)
    type(c_ptr) :: p
    p = c_null_ptr
    if (size(a) > 0) p = c_loc(a)
  end function array1_ptr

  function array2_ptr(a) result(p)
    real(c_double), intent(in), contiguous, target :: a(:, :)
    type(c_ptr) :: p
    p = c_null_ptr
    if (size(a) > 0) p = c_loc(a)
  end function array2_ptr

  ! Copy of a NUL-terminated C string (static storage in the library).
  function c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (.not. c_associated(p)) then
      s = ""
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate (character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function c_string

end module kifmm
