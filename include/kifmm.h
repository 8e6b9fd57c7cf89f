/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm-c: kernel-independent fast multipole method for 3D Laplace problems.
 * Public C API: plan once on a point geometry, evaluate many times with new charges. */
#ifndef KIFMM_H
#define KIFMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset in the inline wrappers below */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define KIFMM_EXPORT
#else
#define KIFMM_EXPORT __attribute__((visibility("default")))
#endif

#define KIFMM_VERSION_MAJOR 0
#define KIFMM_VERSION_MINOR 3
#define KIFMM_VERSION_PATCH 0
#define KIFMM_VERSION_STRING "0.3.0"

/* Limits of the options. */
#define KIFMM_MIN_ORDER 2
#define KIFMM_MAX_ORDER 18
#define KIFMM_MAX_LEVEL 42 /* deepest tree level (42 bits per coordinate in a key) */
#define KIFMM_PATH_MAX 1024

/* Every status code, once: X(name, value, message). Generates the enum below and the
 * table behind kifmm_error_string(); the Fortran module's constants are checked against it. */
#define KIFMM_STATUS_LIST(X)                                                                   \
  X(KIFMM_SUCCESS, 0, "success")                                                               \
  X(KIFMM_ERR_NULL_ARGUMENT, 1, "a required pointer argument is NULL")                         \
  X(KIFMM_ERR_INVALID_COUNT, 2, "a point count is negative")                                   \
  X(KIFMM_ERR_NONFINITE_COORDINATE, 3, "a coordinate is NaN or infinite")                      \
  X(KIFMM_ERR_NONFINITE_CHARGE, 4, "a charge is NaN or infinite")                              \
  X(KIFMM_ERR_INVALID_ORDER, 5, "expansion order outside [2, 18]")                             \
  X(KIFMM_ERR_INVALID_NCRIT, 6, "ncrit (max sources+targets per leaf) must be 0 (auto) or positive") \
  X(KIFMM_ERR_INVALID_MAX_LEVEL, 7, "max_level outside [1, 42]")                               \
  X(KIFMM_ERR_INVALID_THREADS, 8, "num_threads must be 0 (OpenMP's, per call) or positive")    \
  X(KIFMM_ERR_INVALID_TOLERANCE, 9,                                                            \
    "compression_tol must be 0 or in (0, 1); tolerance 0 or in [floor, 0.1], the floor "      \
    "2.6e-14 for points that fill a volume, 6e-13 otherwise (see kifmm.h)")                    \
  X(KIFMM_ERR_OUT_OF_MEMORY, 10, "out of memory")                                              \
  X(KIFMM_ERR_LAPACK, 11, "a LAPACK routine failed (info != 0)")                               \
  X(KIFMM_ERR_IO, 12, "file input/output failed")                                              \
  X(KIFMM_ERR_CACHE, 13, "reserved (unused): cache problems mean recomputing, not an error")  \
  X(KIFMM_ERR_MPI, 14, "an MPI call failed")                                                   \
  X(KIFMM_ERR_HDF5, 15, "an HDF5 call failed")                                                 \
  X(KIFMM_ERR_TOO_MANY_POINTS, 16, "point count exceeds the supported range")                  \
  X(KIFMM_ERR_INTERNAL, 17, "reserved (unused)")                                              \
  X(KIFMM_ERR_FILE_NOT_FOUND, 18, "file does not exist or cannot be opened")                   \
  X(KIFMM_ERR_FILE_NOT_HDF5, 19, "file is not an HDF5 file")                                   \
  X(KIFMM_ERR_FILE_MISSING_DATASET, 20, "a required dataset is missing from the file")         \
  X(KIFMM_ERR_FILE_SHAPE, 21, "a dataset has the wrong rank or shape")                         \
  X(KIFMM_ERR_FILE_TYPE, 22, "a dataset has the wrong element type (float64 expected)")        \
  X(KIFMM_ERR_FILE_NONFINITE, 23, "a dataset holds NaN or infinite values")                    \
  X(KIFMM_ERR_MPI_UNSUPPORTED, 24, "reserved (unused)")                                           \
  X(KIFMM_ERR_STRUCT_SIZE, 25,                                                                 \
    "struct_size of kifmm_options/kifmm_stats is not a layout this library knows")            \
  X(KIFMM_ERR_NOT_REPRESENTABLE, 26,                                                           \
    "a result overflows double precision (point cloud too small for these charges)")          \
  X(KIFMM_ERR_INVALID_NVEC, 27, "the number of charge vectors (nvec) is out of range")          \
  X(KIFMM_ERR_INVALID_KERNEL, 28, "unknown kernel (KIFMM_KERNEL_LAPLACE, _YUKAWA or _STOKES)")  \
  X(KIFMM_ERR_INVALID_KERNEL_PARAM, 29,                                                        \
    "kernel_param out of range: Yukawa kappa finite and >= 0, Stokes viscosity finite and > 0") \
  X(KIFMM_ERR_INVALID_CELL, 30,                                                                \
    "periodic flags must be 0 or 1; with any periodic direction cell_origin must be finite, "  \
    "cell_length finite and > 0 and cell_aspect {1, 1, 1}")                                   \
  X(KIFMM_ERR_OUTSIDE_CELL, 31,                                                                \
    "a point lies outside the cell along a direction that is not periodic "                    \
    "(kifmm_error_detail() names it)")                                                         \
  X(KIFMM_ERR_NOT_NEUTRAL, 32,                                                                 \
    "the charges of a Laplace sum over periodic images must add to zero "                      \
    "(|sum q| <= 1e-10 sum |q|)")                                                               \
  X(KIFMM_ERR_UNSUPPORTED, 33,                                                                 \
    "this combination of options is not supported yet (kifmm_error_detail() says which)")

#define KIFMM_STATUS_ENUM_ENTRY(name, value, message) name = value,
typedef enum kifmm_status { KIFMM_STATUS_LIST(KIFMM_STATUS_ENUM_ENTRY) } kifmm_status;
#undef KIFMM_STATUS_ENUM_ENTRY

/* ABI of the two structs below. Each starts with struct_size, the size of the struct as the
 * caller's compiler laid it out, and new fields are only ever appended. The library accepts
 * exactly the sizes of the layouts it has released: an older (smaller) layout is read as a
 * prefix, with defaults for the fields it lacks; a zero, unknown or larger size (a header
 * newer than the library) gives KIFMM_ERR_STRUCT_SIZE. kifmm_default_options() and
 * kifmm_plan_stats() are inline so that they record the caller's sizeof, which source
 * written against 0.1 therefore does without change. Binaries compiled against 0.1 (no
 * struct_size) keep working: see "ABI and versioning" in docs/api.md. */

/* Kernels (options.kernel). With r = y - x the vector from a source x to a target y:
 *
 *   kernel                  density per source    value per target        gradient per target
 *   KIFMM_KERNEL_LAPLACE    1 (charge q)          1: sum q / (4 pi |r|)   3: d/dy_l
 *   KIFMM_KERNEL_YUKAWA     1 (charge q)          1: sum q exp(-kappa |r|) / (4 pi |r|)      3
 *   KIFMM_KERNEL_STOKES     3 (force f_k)         3: velocity u_i = sum (delta_ik / |r| +
 *                                                    r_i r_k / |r|^3) f_k / (8 pi mu)       9
 *
 * Densities are interleaved per source (Stokes: charges[3j + k], a Fortran (3, N) array),
 * values per target (pot[3t + i]) and gradients per target, value component major:
 * grad[G t + 3 i + l] = d value_i / d y_l with G = 3 * value dimension. kernel_param is kappa
 * (Yukawa; 0 gives Laplace) or the viscosity mu (Stokes). kifmm_kernel_dims() gives the
 * dimensions, so that bindings never hard-code this table. */
#define KIFMM_KERNEL_LAPLACE 0
#define KIFMM_KERNEL_YUKAWA 1
#define KIFMM_KERNEL_STOKES 2

/* Options. Obtain defaults with kifmm_default_options() and change what you need; do not
 * build one field by field (a struct_size of 0 is refused).
 * Same fields in the same order as the Fortran type kifmm_options (bind(C)). */
/* Progress callback: called by the thread that called the library, at the start
 * (fraction 0) and end (fraction 1) of every phase, and in between with the fraction done
 * for long phases (operator precomputation). Phases of kifmm_plan_create: "tree", "lists",
 * "operators"; of kifmm_evaluate: "p2m", "m2m", "downward" (M2L, L2L, P2L level by level),
 * "l2p", "m2p", "p2p". `phase` is a static string; `data` is options.progress_data. It must
 * not call back into the library with the same plan. */
typedef void (*kifmm_progress_fn)(const char *phase, double fraction, void *data);

typedef struct kifmm_options {
  int32_t struct_size;     /* set by kifmm_default_options() to sizeof(kifmm_options); leave it */
  int32_t order;           /* expansion order p in [2, 18]; default 6. Surface points 6(p-1)^2+2 */
  int32_t ncrit;           /* a box is split while it holds more than ncrit sources+targets;
                              0 = chosen from the order and the point distribution by a cost
                              model on a subsample (reported in the stats); default 0 */
  int32_t max_level;       /* deepest level of the octree, in [1, 42]; default 42 */
  int32_t num_threads;     /* OpenMP threads; 0 = omp_get_max_threads() at each call; default 0 */
  int32_t verbose;         /* 1 = print per-phase timings to stderr; default 0 (silent) */
  int32_t use_cache;       /* 1 = load/store precomputed operators in the cache directory; default 1 */
  double compression_tol;  /* relative SVD truncation of M2L; 0 = chosen from order (and from
                              tolerance when that is set); default 0 */
  char cache_dir[KIFMM_PATH_MAX]; /* operator cache directory; "" = $KIFMM_CACHE_DIR, else
                                     $XDG_CACHE_HOME/kifmm, else $HOME/.cache/kifmm.
                                     kifmm_options_set_cache_dir() checks the length */
  /* since 0.2 */
  double tolerance;        /* relative l2 error of the potential wanted, in [6e-13, 0.1], and
                              down to 2.6e-14 for points that fill a volume (orders 17, 18;
                              other distributions get KIFMM_ERR_INVALID_TOLERANCE there; on a
                              surface the rounding floor grows with the point count: 6e-13
                              holds up to about 1e5 points): the plan then chooses the order
                              (reported in the stats; the gradient's error is within 10x, also
                              for targets away from every source, which take a higher order);
                              0 = use order; default 0.
                              Each kernel has its own measured errors by order: Yukawa
                              reaches Laplace's range, Stokes down to about 6e-10 (tighter
                              ones give KIFMM_ERR_INVALID_TOLERANCE; docs/api.md).
                              Periodic plans choose for a third of it (their errors measure up
                              to 3x free space's), so their floors are 3x higher.
                              Points given to fewer digits than asked (e.g. a cluster 1e-3
                              wide far from the origin) limit any method: see docs/api.md */
  kifmm_progress_fn progress; /* NULL = no progress reports; default NULL */
  void *progress_data;     /* handed to progress unchanged; default NULL */
  /* since 0.3 */
  int32_t nvec;            /* charge vectors per evaluation the plan is tuned for, >= 1: the
                              automatic leaf size and kifmm_plan_estimate() count them;
                              kifmm_evaluate_many() accepts any number; default 1 */
  /* since 0.4: the kernel and the periodic cell */
  int32_t kernel;          /* KIFMM_KERNEL_LAPLACE (default), KIFMM_KERNEL_YUKAWA or
                              KIFMM_KERNEL_STOKES: see the table below */
  int32_t periodic[3];     /* 1 = the sum runs over the images of the cell along x, y, z;
                              0 = free; default {0, 0, 0} (free space). Laplace only;
                              distributed plans too (docs/mpi.md).
                              Conventions (docs/api.md, "Periodic cells"):
                              - the sum is over all images of every source, 1/(4 pi r) each;
                              - the charges must be neutral: |sum q| > 1e-10 sum |q| gives
                                KIFMM_ERR_NOT_NEUTRAL at kifmm_evaluate (per vector for
                                kifmm_evaluate_many; nothing written); a smaller residual is
                                neutralised by a uniform background (3D) or summed as below;
                              - 3 axes: Ewald, tin-foil boundary, k = 0 term dropped: the
                                potential averages to zero over the cell;
                              - 2 axes (slab): the limit over expanding squares of images,
                                no constant added or dropped: phi -> +-M_z / (2 L^2) far
                                above/below the slab (M_z = sum q z, 1/(4 pi) included);
                              - 1 axis (line): the limit over expanding segments, phi -> 0
                                far from the line;
                              the potentials equal those of tests/periodic/ewald.h (ewald3d,
                              ewald2d, sum1d) to the expansion's accuracy, constants
                              included; gradients are unique.
                              Points: anywhere along a periodic axis (wrapped into
                              [origin, origin + L); results do not depend on which image is
                              given), in [origin, origin + L] along a free axis, else
                              KIFMM_ERR_OUTSIDE_CELL naming the point and the axis. */
  double kernel_param;     /* Yukawa: screening kappa >= 0 (0 is Laplace); Stokes: viscosity
                              mu > 0; Laplace: ignored; default 0 */
  double cell_origin[3];   /* lower corner of the cell; default {0, 0, 0} */
  double cell_length;      /* side L of the cell [origin, origin + L)^3; default 1. Read only
                              where a direction is periodic; with one, the cell is the root of
                              the octree whatever the points' extent */
  double cell_aspect[3];   /* sides of the cell over cell_length: {1, 1, 1} (a cube; the default)
                              is the only value supported so far, kept for rectangular cells */
  /* New fields go here, at the end, and into the Fortran type in the same place. */
} kifmm_options;

/* Statistics of a plan: geometry, one-off set-up times and the timings of the last
 * kifmm_evaluate(). Times are wall-clock seconds. */
typedef struct kifmm_stats {
  int32_t struct_size;     /* set by kifmm_plan_stats(): the bytes of this struct it filled */
  int64_t nsrc, ntrg;      /* point counts */
  int64_t nboxes, nleaves; /* boxes of the octree, of which leaves */
  int32_t depth;           /* deepest level present (root = 0) */
  int32_t order;           /* expansion order p */
  int32_t nsurf;           /* points per surface, 6(p-1)^2+2 */
  int32_t m2l_rank;        /* rank of the shared M2L bases of each direction group */
  int32_t m2l_max_rank;    /* largest per-transfer-vector rank r */
  int32_t cache_result;    /* KIFMM_CACHE_*: 0 not used, 1 hit, 2 computed and stored, 3 rebuilt
                              (bad file replaced), 4 computed, directory not writable */
  int64_t bytes;           /* bytes held by the plan */
  double compression_tol;  /* the M2L truncation in force */
  double t_tree, t_lists, t_operators;                     /* plan creation */
  double t_p2m, t_m2m, t_m2l, t_l2l, t_p2l, t_m2p, t_l2p, t_p2p; /* last evaluation */
  double t_evaluate;                                       /* whole last evaluation */
  int64_t nevaluations;    /* completed kifmm_evaluate() calls */
  /* since 0.2 */
  int64_t max_leaf_points; /* most sources+targets held by one leaf */
  int64_t overfull_leaves; /* leaves above ncrit: only at max_level, i.e. exact duplicates */
  int32_t ncrit;           /* the leaf size in force (chosen when options.ncrit was 0) */
  double tolerance;        /* options.tolerance; order was chosen from it when > 0 */
  char blas[64];           /* BLAS library in use (openblas_get_config()), "unknown" if not OpenBLAS */
  char blas_core[32];      /* kernel set the BLAS chose for this CPU, e.g. "SkylakeX"; "" if unknown */
  char simd[16];           /* instruction set of kifmm's own loops: "avx512", "avx2" or "portable" */
  /* since 0.3 */
  int32_t nvec;            /* charge vectors of the last evaluation */
  int32_t nranks;          /* ranks of a distributed plan's communicator; 1 otherwise */
  int32_t rank;            /* this process's rank in it; 0 otherwise */
  int64_t nsrc_global;     /* sources over all ranks (= nsrc for a one-process plan) */
  int64_t ntrg_global;     /* targets over all ranks (= ntrg for a one-process plan) */
  int64_t bytes_sent;      /* MPI message bytes this rank sent in the last evaluation */
  int64_t bytes_received;  /* MPI message bytes this rank received in the last evaluation */
  double t_partition;      /* distributed plans: parallel sort and leaf ownership (in t_tree) */
  double t_comm_wait;      /* last evaluation: time this rank waited for messages */
  /* since 0.4 */
  int32_t kernel;          /* options.kernel */
  int32_t periodic[3];     /* options.periodic */
  double kernel_param;     /* options.kernel_param */
  int32_t near_precision;  /* last evaluation: 32 where the near field's pairs ran in single
                              precision with double sums (the lowest orders, see docs/api.md,
                              "Precision"), 64 where in double */
  int32_t near_symmetric;  /* last evaluation: 1 where near-field pairs of leaves were taken
                              both ways (targets are the sources), 0 one way */
  /* New fields go here, at the end, and into the Fortran type in the same place. */
} kifmm_stats;

/* Values of kifmm_stats.cache_result. */
#define KIFMM_CACHE_NOT_USED 0   /* use_cache == 0 */
#define KIFMM_CACHE_HIT 1        /* a valid cache file was loaded (also after waiting for another
                                    thread or process that was computing it) */
#define KIFMM_CACHE_STORED 2     /* no file: operators computed and stored */
#define KIFMM_CACHE_REBUILT 3    /* bad file (truncated, corrupt, mismatched): recomputed and rewritten */
#define KIFMM_CACHE_NOT_STORED 4 /* computed, kept in memory: directory not writable, disk full, or
                                    over KIFMM_CACHE_MAX_BYTES */

/* Thread safety. Any number of plans may be created, evaluated and destroyed from different
 * threads at the same time; one plan is used by one thread at a time. The library serialises
 * its own HDF5 calls behind one lock (HDF5 as usually built is not thread-safe): do not call
 * HDF5 from other threads while a kifmm call runs. OpenBLAS's thread count, a process-wide
 * setting, is 1 while our OpenMP regions run and the caller's again when the last one ends;
 * do not change it while kifmm calls run. Plans with the same operators started at once,
 * in threads or processes sharing the cache directory, compute them once: the others wait
 * for the file (KIFMM_CACHE_HIT). */
typedef struct kifmm_plan kifmm_plan; /* opaque */

/* Fill *opts with the defaults below and set opts->struct_size = struct_size, the size of
 * kifmm_options as the caller compiled it. For bindings that cannot call the inline
 * kifmm_default_options() (the Fortran module passes c_sizeof of its type).
 * [out] opts  caller's struct; untouched on failure.
 * Returns KIFMM_ERR_NULL_ARGUMENT, or KIFMM_ERR_STRUCT_SIZE when struct_size is not the size
 * of a layout this library knows. */
KIFMM_EXPORT int kifmm_default_options_sized(kifmm_options *opts, size_t struct_size);

/* Defaults: order 6, ncrit 0 (chosen), max_level 42, num_threads 0, verbose 0, use_cache 1,
 * compression_tol 0 (automatic), cache_dir "" (environment), struct_size = sizeof.
 * Inline so the caller's sizeof is recorded. If the library is older than this header, the
 * result is all zero and kifmm_plan_create() refuses it with KIFMM_ERR_STRUCT_SIZE. */
#ifndef KIFMM_ABI_V0_1_DEFINITIONS /* defined only where the library defines the 0.1 symbols */
static inline kifmm_options kifmm_default_options(void) {
  kifmm_options o;
  memset(&o, 0, sizeof o);
  (void)kifmm_default_options_sized(&o, sizeof o);
  return o;
}
#endif

/* Copy the NUL-terminated path dir into opts->cache_dir ("" = from the environment).
 * [in,out] opts  from kifmm_default_options(); [in] dir  borrowed for the call.
 * Returns KIFMM_ERR_NULL_ARGUMENT, KIFMM_ERR_STRUCT_SIZE (opts->struct_size unknown), or
 * KIFMM_ERR_IO when dir has KIFMM_PATH_MAX or more characters; opts is then unchanged. */
KIFMM_EXPORT int kifmm_options_set_cache_dir(kifmm_options *opts, const char *dir);

/* Build the octree, interaction lists and operators for nsrc sources and ntrg targets.
 * [out] plan   receives the new plan (unchanged on failure).
 * [in]  src    3*nsrc coordinates, interleaved x0 y0 z0 x1 ... (Fortran src(3,nsrc)); copied.
 * [in]  trg    3*ntrg coordinates, same layout; may be the same array as src; copied.
 * [in]  opts   borrowed for the call (deep-copied); NULL means kifmm_default_options().
 *              Read according to opts->struct_size (see the ABI note above the structs).
 * nsrc or ntrg may be 0 (then src/trg may be NULL). Returns KIFMM_SUCCESS or a status. */
KIFMM_EXPORT int kifmm_plan_create(kifmm_plan **plan, int64_t nsrc, const double *src,
                                   int64_t ntrg, const double *trg, const kifmm_options *opts);

/* Evaluate the options' kernel (Laplace: phi(y) = sum_i q_i / (4 pi |y - x_i|)) and its
 * gradient at every target, in the layouts of the kernel table above (sdim, tdim from
 * kifmm_kernel_dims(); 1 and 1 for Laplace and Yukawa, 3 and 3 for Stokes).
 * [in]  charges sdim*nsrc densities in the caller's source order, interleaved; borrowed.
 * [out] pot     tdim*ntrg values in the caller's target order, interleaved.
 * [out] grad    3*tdim*ntrg gradients (grad[3 tdim t + 3 i + l]), or NULL for values only.
 * Pairs at distance 0 contribute nothing, also pairs under 2^-202 of the cloud's half-width
 * apart (the plan's scaled coordinates within 2^-150 of its centre are 0, so that no sum
 * overflows; docs/api.md). Outputs are untouched when a status other than
 * KIFMM_SUCCESS is returned. Callable any number of times; not concurrently on one plan. */
KIFMM_EXPORT int kifmm_evaluate(kifmm_plan *plan, const double *charges, double *pot,
                                double *grad);

/* kifmm_evaluate() for nvec charge vectors at once, all through the same passes: each pair's
 * geometry is computed once for all vectors and every dense apply has nvec times the columns,
 * so one call is cheaper than nvec calls. Vector j's results equal those of kifmm_evaluate()
 * on its charges to rounding.
 * [in]  nvec    number of vectors; 0 returns KIFMM_SUCCESS and touches nothing, below 0 gives
 *               KIFMM_ERR_INVALID_NVEC. Any nvec works whatever options.nvec (a tuning hint);
 *               the plan's work arrays grow to the largest nvec evaluated and stay that size.
 * [in]  charges sdim*nsrc x nvec: vector j at charges + j*sdim*nsrc (Fortran
 *               charges(sdim*nsrc, nvec)).
 * [out] pot     tdim*ntrg x nvec: vector j at pot + j*tdim*ntrg.
 * [out] grad    3*tdim*ntrg x nvec: vector j at grad + 3*j*tdim*ntrg, interleaved per target
 *               like kifmm_evaluate(); or NULL for values only.
 * Outputs are untouched when a status other than KIFMM_SUCCESS is returned (a non-finite
 * charge in any vector gives KIFMM_ERR_NONFINITE_CHARGE). On a plan from
 * kifmm_plan_create_mpi() it is collective: every rank passes the same nvec and its own
 * nsrc_local x nvec charges. stats.nvec reports the nvec of the last evaluation. */
KIFMM_EXPORT int kifmm_evaluate_many(kifmm_plan *plan, int nvec, const double *charges,
                                     double *pot, double *grad);

/* [in,out] plan: frees *plan and sets it to NULL. plan == NULL or *plan == NULL is fine. */
KIFMM_EXPORT int kifmm_plan_destroy(kifmm_plan **plan);

/* Copy the first struct_size bytes of the plan's statistics into *stats, struct_size being
 * the size of kifmm_stats as the caller compiled it, and set stats->struct_size to it. For
 * bindings that cannot call the inline kifmm_plan_stats().
 * [out] stats  caller's struct; untouched on failure.
 * Returns KIFMM_ERR_NULL_ARGUMENT, or KIFMM_ERR_STRUCT_SIZE when struct_size is not the size
 * of a layout this library knows. */
KIFMM_EXPORT int kifmm_plan_stats_sized(const kifmm_plan *plan, kifmm_stats *stats,
                                        size_t struct_size);

/* [out] stats: a copy of the plan's statistics. Nothing needs setting beforehand: the inline
 * passes the caller's sizeof(kifmm_stats) along. */
#ifndef KIFMM_ABI_V0_1_DEFINITIONS
static inline int kifmm_plan_stats(const kifmm_plan *plan, kifmm_stats *stats) {
  return kifmm_plan_stats_sized(plan, stats, sizeof *stats);
}
#endif

/* What a plan will cost, known before any evaluation (a dry run): kifmm_plan_estimate() builds
 * the tree and lists and obtains the operators as kifmm_plan_create() would (from the cache,
 * or computing and storing them, which later plans then reuse), then predicts the memory and
 * the time of creation and of one evaluation from a per-phase cost model calibrated on the
 * reference machine kind (2 cores of AMD EPYC Zen4; other CPUs scale roughly with their
 * speed). Times are wall-clock seconds at the options' thread count. */
typedef struct kifmm_estimate {
  int32_t struct_size;     /* set by kifmm_plan_estimate() */
  int32_t order, ncrit;    /* the parameters the plan would use (chosen when automatic) */
  int32_t depth;
  int64_t nboxes, nleaves;
  int64_t bytes_plan;      /* held by the plan once created (kifmm_stats.bytes), its work
                              arrays grown for options.nvec vectors */
  int64_t bytes_peak;      /* peak the library adds to the process during kifmm_plan_create
                              and one kifmm_evaluate, including the BLAS/OpenMP runtime */
  double t_tree, t_lists;  /* predicted plan creation, operators aside */
  double t_operators;      /* measured: obtaining the operators just now (cache or compute) */
  double t_p2p, t_m2l, t_kernels, t_m2m; /* predicted evaluation phases: near field, M2L,
                              point-surface kernels (P2M, L2P, M2P, P2L), M2M + L2L */
  double t_evaluate;       /* predicted kifmm_evaluate() with gradient (of options.nvec
                              vectors in one kifmm_evaluate_many() when above 1) */
  double p2p_pairs, m2l_flops; /* the work behind the two largest phases */
  /* New fields go here, at the end. */
} kifmm_estimate;

/* Dry run of kifmm_plan_create() + one kifmm_evaluate(): same arguments and checks as
 * kifmm_plan_create() (same statuses), nothing kept. struct_size is sizeof(kifmm_estimate) as
 * the caller compiled it (the inline kifmm_plan_estimate() passes it). [out] est untouched on
 * failure. */
KIFMM_EXPORT int kifmm_plan_estimate_sized(int64_t nsrc, const double *src, int64_t ntrg,
                                           const double *trg, const kifmm_options *opts,
                                           kifmm_estimate *est, size_t struct_size);
#ifndef KIFMM_ABI_V0_1_DEFINITIONS
static inline int kifmm_plan_estimate(int64_t nsrc, const double *src, int64_t ntrg,
                                      const double *trg, const kifmm_options *opts,
                                      kifmm_estimate *est) {
  return kifmm_plan_estimate_sized(nsrc, src, ntrg, trg, opts, est, sizeof *est);
}
#endif

/* Static message for a status code; unknown codes give "unknown status code". */
KIFMM_EXPORT const char *kifmm_error_string(int status);

/* What the last call on this thread that failed with a status adding detail found, e.g.
 * "source 17 lies outside the cell along z (not periodic)"; "" when there is none. The text
 * belongs to the library and is overwritten by the next such failure on the thread. */
KIFMM_EXPORT const char *kifmm_error_detail(void);

/* Dimensions of a kernel (the table above): [out] density_dim (components per source of
 * charges), value_dim (components per target of pot; grad has 3 * value_dim). Either pointer
 * may be NULL. Returns KIFMM_ERR_INVALID_KERNEL, writing nothing, for an unknown kernel. */
KIFMM_EXPORT int kifmm_kernel_dims(int32_t kernel, int32_t *density_dim, int32_t *value_dim);

/* Library version, e.g. "0.1.0". */
KIFMM_EXPORT const char *kifmm_version(void);

/* Direct O(nsrc*ntrg) evaluation of the same sums, in the caller's order, for checking
 * results: pot[ntrg] and grad[3*ntrg] (grad may be NULL). num_threads as in the options.
 * The sources are summed in chunks whose partial sums are added with compensation, so the
 * rounding error stays near 1e-15 relative whatever nsrc (a plain sum of 1e6 charges of both
 * signs loses about 3.6e-14, as much as a p16 FMM's error). Coordinates within 2^-150 of
 * the points' half-width of 0 count as 0 (as plans snap theirs near the cloud's centre), so
 * distinct points are never so close that a sum overflows where its result would not; a
 * result beyond double's range gives KIFMM_ERR_NOT_REPRESENTABLE (the outputs then hold it). */
KIFMM_EXPORT int kifmm_direct(int64_t nsrc, const double *src, const double *charges,
                              int64_t ntrg, const double *trg, double *pot, double *grad,
                              int num_threads);

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_H */
