/* SPDX-License-Identifier: BSD-3-Clause */
/* FROZEN: include/kifmm.h with the first struct_size layouts of kifmm_options/kifmm_stats.
 * Do not edit: tests/abi compiles a program against it to prove that binaries built
 * with this layout keep working when the structs grow. */
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
#define KIFMM_VERSION_MINOR 1
#define KIFMM_VERSION_PATCH 0
#define KIFMM_VERSION_STRING "0.1.0"

/* Limits of the options. */
#define KIFMM_MIN_ORDER 2
#define KIFMM_MAX_ORDER 16
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
  X(KIFMM_ERR_INVALID_ORDER, 5, "expansion order outside [2, 16]")                             \
  X(KIFMM_ERR_INVALID_NCRIT, 6, "ncrit (max points per leaf) must be at least 1")              \
  X(KIFMM_ERR_INVALID_MAX_LEVEL, 7, "max_level outside [1, 42]")                               \
  X(KIFMM_ERR_INVALID_THREADS, 8, "num_threads must be 0 (OpenMP default) or positive")        \
  X(KIFMM_ERR_INVALID_TOLERANCE, 9, "compression tolerance must be 0 (automatic) or in (0, 1)") \
  X(KIFMM_ERR_OUT_OF_MEMORY, 10, "out of memory")                                              \
  X(KIFMM_ERR_LAPACK, 11, "a LAPACK routine failed (info != 0)")                               \
  X(KIFMM_ERR_IO, 12, "file input/output failed")                                              \
  X(KIFMM_ERR_CACHE, 13, "operator cache file does not match the requested operators")        \
  X(KIFMM_ERR_MPI, 14, "an MPI call failed")                                                   \
  X(KIFMM_ERR_HDF5, 15, "an HDF5 call failed")                                                 \
  X(KIFMM_ERR_TOO_MANY_POINTS, 16, "point count exceeds the supported range")                  \
  X(KIFMM_ERR_INTERNAL, 17, "internal error (please report)")                                \
  X(KIFMM_ERR_FILE_NOT_FOUND, 18, "file does not exist or cannot be opened")                   \
  X(KIFMM_ERR_FILE_NOT_HDF5, 19, "file is not an HDF5 file")                                   \
  X(KIFMM_ERR_FILE_MISSING_DATASET, 20, "a required dataset is missing from the file")         \
  X(KIFMM_ERR_FILE_SHAPE, 21, "a dataset has the wrong rank or shape")                         \
  X(KIFMM_ERR_FILE_TYPE, 22, "a dataset has the wrong element type (float64 expected)")        \
  X(KIFMM_ERR_FILE_NONFINITE, 23, "a dataset holds NaN or infinite values")                    \
  X(KIFMM_ERR_MPI_UNSUPPORTED, 24, "more than one MPI rank is not supported here yet")     \
  X(KIFMM_ERR_STRUCT_SIZE, 25,                                                                 \
    "struct_size of kifmm_options/kifmm_stats is not a layout this library knows")

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
 * struct_size) keep working: see "ABI and versioning" in README.md. */

/* Options. Obtain defaults with kifmm_default_options() and change what you need; do not
 * build one field by field (a struct_size of 0 is refused).
 * Same fields in the same order as the Fortran type kifmm_options (bind(C)). */
typedef struct kifmm_options {
  int32_t struct_size;     /* set by kifmm_default_options() to sizeof(kifmm_options); leave it */
  int32_t order;           /* expansion order p in [2, 16]; default 6. Surface points 6(p-1)^2+2 */
  int32_t ncrit;           /* a box is split while it holds more than ncrit sources+targets; default 150 */
  int32_t max_level;       /* deepest level of the octree, in [1, 42]; default 42 */
  int32_t num_threads;     /* OpenMP threads; 0 = OpenMP default (OMP_NUM_THREADS); default 0 */
  int32_t verbose;         /* 1 = print per-phase timings to stderr; default 0 (silent) */
  int32_t use_cache;       /* 1 = load/store precomputed operators in the cache directory; default 1 */
  double compression_tol;  /* relative SVD truncation of M2L; 0 = chosen from order; default 0 */
  char cache_dir[KIFMM_PATH_MAX]; /* operator cache directory; "" = $KIFMM_CACHE_DIR, else
                                     $XDG_CACHE_HOME/kifmm, else $HOME/.cache/kifmm.
                                     kifmm_options_set_cache_dir() checks the length */
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
  int32_t m2l_rank;        /* rank k of the shared M2L bases */
  int32_t m2l_max_rank;    /* largest per-transfer-vector rank r */
  int32_t cache_result;    /* KIFMM_CACHE_*: 0 not used, 1 hit, 2 computed and stored, 3 rebuilt
                              (bad file replaced), 4 computed, directory not writable */
  int64_t bytes;           /* bytes held by the plan */
  double compression_tol;  /* the M2L truncation in force */
  double t_tree, t_lists, t_operators;                     /* plan creation */
  double t_p2m, t_m2m, t_m2l, t_l2l, t_p2l, t_m2p, t_l2p, t_p2p; /* last evaluation */
  double t_evaluate;                                       /* whole last evaluation */
  int64_t nevaluations;    /* completed kifmm_evaluate() calls */
  /* New fields go here, at the end, and into the Fortran type in the same place. */
} kifmm_stats;

typedef struct kifmm_plan kifmm_plan; /* opaque */

/* Fill *opts with the defaults below and set opts->struct_size = struct_size, the size of
 * kifmm_options as the caller compiled it. For bindings that cannot call the inline
 * kifmm_default_options() (the Fortran module passes c_sizeof of its type).
 * [out] opts  caller's struct; untouched on failure.
 * Returns KIFMM_ERR_NULL_ARGUMENT, or KIFMM_ERR_STRUCT_SIZE when struct_size is not the size
 * of a layout this library knows. */
KIFMM_EXPORT int kifmm_default_options_sized(kifmm_options *opts, size_t struct_size);

/* Defaults: order 6, ncrit 150, max_level 42, num_threads 0, verbose 0, use_cache 1,
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

/* Evaluate phi(y) = sum_i q_i / (4 pi |y - x_i|) and its gradient at every target.
 * [in]  charges nsrc charges in the caller's source order; borrowed.
 * [out] pot     ntrg potentials in the caller's target order.
 * [out] grad    3*ntrg gradients (interleaved), or NULL for potential only.
 * Pairs at distance 0 contribute nothing. Outputs are untouched when a status other than
 * KIFMM_SUCCESS is returned. Callable any number of times; not concurrently on one plan. */
KIFMM_EXPORT int kifmm_evaluate(kifmm_plan *plan, const double *charges, double *pot,
                                double *grad);

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

/* Static message for a status code; unknown codes give "unknown status code". */
KIFMM_EXPORT const char *kifmm_error_string(int status);

/* Library version, e.g. "0.1.0". */
KIFMM_EXPORT const char *kifmm_version(void);

/* Direct O(nsrc*ntrg) evaluation of the same sums, in the caller's order, for checking
 * results: pot[ntrg] and grad[3*ntrg] (grad may be NULL). num_threads as in the options. */
KIFMM_EXPORT int kifmm_direct(int64_t nsrc, const double *src, const double *charges,
                              int64_t ntrg, const double *trg, double *pot, double *grad,
                              int num_threads);

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_H */
