/* SPDX-License-Identifier: BSD-3-Clause */
/* kifmm-c file input/output: particles and results in HDF5, read and written through the
 * MPI-IO driver with each rank owning a contiguous slab, and the operator cache results. */
#ifndef KIFMM_IO_H
#define KIFMM_IO_H

#include <mpi.h>

#include "kifmm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File layout (docs/cli-and-files.md, "File layouts"). Coordinates are float64 datasets of
 * shape (N, 3) in C order (h5py shape (N, 3); Fortran reads them as (3, N), the layout of
 * kifmm_plan_create).
 *   particle file: /sources (N, 3), /charges (N) or (Stokes) /forces (N, 3), optional
 *                  /targets (M, 3) (absent: the targets are the sources, M = N); optional
 *                  attributes periodic int32[3], cell_origin float64[3], cell_length float64
 *                  (absent: free space) and kernel (a string, a hint)
 *   result file:   /potential (M), /gradient (M, 3) or (Stokes) /velocity (M, 3),
 *                  /velocity_gradient (M, 3, 3) with [t][i][l] = d u_i / d y_l; attributes on
 *                  "/" (kifmm_result_meta). Files without the 0.4 attributes are Laplace in
 *                  free space. */

/* Every function below is collective over comm: all ranks call it with the same path and
 * global sizes, each passes its own slab [offset, offset + count). MPI must be initialised
 * (MPI_Init) before the first call. Every rank returns the same status. On failure,
 * kifmm_io_error_message() gives a one-line description naming the file and dataset. */

/* The slab of a block partition of n items over `size` ranks that rank `rank` owns: the
 * first n % size ranks get one item more. [out] offset, count. */
KIFMM_EXPORT int kifmm_io_slab(int64_t n, int size, int rank, int64_t *offset, int64_t *count);

/* Sizes of a particle file, checked: /sources (N, 3) and /charges (N) float64, /targets
 * (M, 3) float64 if present. [out] nsrc = N, ntrg = M (= N without /targets),
 * has_targets = 1 when /targets exists. Collective over comm. */
KIFMM_EXPORT int kifmm_io_particles_info(MPI_Comm comm, const char *path, int64_t *nsrc,
                                         int64_t *ntrg, int *has_targets);

/* Read this rank's slabs of a particle file, validated (shapes, float64, finite values).
 * [in]  src_offset, nsrc_local   slab of the sources: rows [src_offset, src_offset+nsrc_local)
 * [out] src      3*nsrc_local coordinates, interleaved (caller-allocated)
 * [out] charges  nsrc_local charges (caller-allocated)
 * [in]  trg_offset, ntrg_local   slab of the targets (of /sources when the file has no /targets)
 * [out] trg      3*ntrg_local coordinates (caller-allocated; may be NULL when ntrg_local == 0)
 * Collective over comm. Outputs are unspecified on failure. */
KIFMM_EXPORT int kifmm_io_read_particles(MPI_Comm comm, const char *path, int64_t src_offset,
                                         int64_t nsrc_local, double *src, double *charges,
                                         int64_t trg_offset, int64_t ntrg_local, double *trg);

/* Write a particle file (created or replaced atomically: written to a temporary file in the
 * same directory, renamed at the end; on failure the previous file, if any, is untouched).
 * [in] nsrc, ntrg   global counts; ntrg < 0 means no /targets (targets = sources)
 * [in] src, charges this rank's slab rows [src_offset, src_offset+nsrc_local); borrowed
 * [in] trg          this rank's target slab (ignored when ntrg < 0); borrowed
 * Collective over comm. */
KIFMM_EXPORT int kifmm_io_write_particles(MPI_Comm comm, const char *path, int64_t nsrc,
                                          int64_t src_offset, int64_t nsrc_local,
                                          const double *src, const double *charges, int64_t ntrg,
                                          int64_t trg_offset, int64_t ntrg_local,
                                          const double *trg);

/* ---- since 0.4: kernels and periodic cells ----
 * What a particle file holds (kifmm_io_particles_describe) or is to hold
 * (kifmm_io_write_particles_desc). Start from kifmm_io_particles_desc_default(); fields are only
 * ever appended (struct_size tells the library the caller's layout). */
typedef struct kifmm_particles_desc {
  int32_t struct_size;   /* sizeof(kifmm_particles_desc) as the caller compiled it */
  int32_t density_dim;   /* 1: /charges (N); 3: /forces (N, 3) (Stokes) */
  int64_t nsrc;          /* N */
  int64_t ntrg;          /* M (= N without /targets) */
  int32_t has_targets;   /* 1: /targets exists (write: is written) */
  int32_t has_cell;      /* 1: the file records a cell (attributes periodic, cell_origin,
                            cell_length); 0: free space, the fields below are the defaults */
  int32_t periodic[3];   /* 0 or 1 per direction */
  int32_t kernel;        /* the file's `kernel` attribute (KIFMM_KERNEL_*), -1 when absent; a
                            hint for tools only, the density dataset is what counts */
  double cell_origin[3]; /* lower corner of the cubic cell [origin, origin + L)^3 */
  double cell_length;    /* L > 0 */
  /* New fields go here, at the end. */
} kifmm_particles_desc;

/* Sizes, density, targets and cell of a particle file, checked like
 * kifmm_io_particles_info (plus the cell attributes: periodic 0/1, cell_origin finite,
 * cell_length finite and > 0, else KIFMM_ERR_INVALID_CELL). struct_size: sizeof the caller's
 * kifmm_particles_desc (the inline passes it). [out] desc untouched on failure. Collective. */
KIFMM_EXPORT int kifmm_io_particles_describe_sized(MPI_Comm comm, const char *path,
                                                   kifmm_particles_desc *desc,
                                                   size_t struct_size);
static inline int kifmm_io_particles_describe(MPI_Comm comm, const char *path,
                                              kifmm_particles_desc *desc) {
  return kifmm_io_particles_describe_sized(comm, path, desc, sizeof *desc);
}

/* Defaults for writing: density_dim 1, no targets, no cell (has_cell 0, cell_length 1),
 * kernel -1 (no attribute). */
static inline kifmm_particles_desc kifmm_io_particles_desc_default(void) {
  kifmm_particles_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = (int32_t)sizeof d;
  d.density_dim = 1;
  d.kernel = -1;
  d.cell_length = 1.0;
  return d;
}

/* kifmm_io_read_particles for any density: density_dim 1 reads /charges into
 * density[nsrc_local], 3 reads /forces into density[3*nsrc_local] (interleaved per source, the
 * layout of kifmm_evaluate). A file holding the other dataset gives
 * KIFMM_ERR_FILE_MISSING_DATASET with a message naming what it holds; another density_dim
 * gives KIFMM_ERR_INVALID_COUNT. Collective. */
KIFMM_EXPORT int kifmm_io_read_particles_density(MPI_Comm comm, const char *path,
                                                 int32_t density_dim, int64_t src_offset,
                                                 int64_t nsrc_local, double *src,
                                                 double *density, int64_t trg_offset,
                                                 int64_t ntrg_local, double *trg);

/* kifmm_io_write_particles for any density and with a cell: desc gives nsrc, ntrg (read when
 * has_targets), density_dim (1: /charges, 3: /forces from density[3*nsrc_local]), the cell
 * (written as attributes when has_cell; checked as by describe) and kernel (written as the
 * `kernel` attribute when >= 0). Atomic and collective like kifmm_io_write_particles. */
KIFMM_EXPORT int kifmm_io_write_particles_desc(MPI_Comm comm, const char *path,
                                               const kifmm_particles_desc *desc,
                                               int64_t src_offset, int64_t nsrc_local,
                                               const double *src, const double *density,
                                               int64_t trg_offset, int64_t ntrg_local,
                                               const double *trg);

/* What a result file records besides the values: stored as attributes on "/". */
typedef struct kifmm_result_meta {
  int64_t nsrc, ntrg;      /* point counts */
  int32_t order, ncrit;    /* options of the run */
  int32_t num_threads;     /* OpenMP threads of the last evaluation (resolved, never 0) */
  int32_t nranks;          /* MPI ranks of the run */
  int64_t nboxes, nleaves; /* tree */
  int32_t depth;
  int32_t cache_result;    /* KIFMM_CACHE_* */
  /* seconds: plan creation, then the phases of one evaluation */
  double t_tree, t_lists, t_operators;
  double t_upward;   /* P2M + M2M */
  double t_m2l;      /* M2L (V list) + P2L (X list) */
  double t_downward; /* L2L + L2P */
  double t_near;     /* P2P (U list) + M2P (W list) */
  double t_evaluate; /* the whole evaluation */
  int64_t check_count; /* targets checked against kifmm_direct; 0 = not checked */
  double err_potential, err_gradient; /* relative l2 errors on the checked targets (Stokes:
                                          of the velocity and the velocity gradient) */
  /* since 0.4. Binaries built against 0.3 pass the struct without these fields: the
   * exported 0.3 kifmm_io_result_meta/kifmm_io_write_results read and write only the 0.3
   * prefix (a result of Laplace in free space); the inline wrappers below pass sizeof. */
  int32_t kernel;          /* KIFMM_KERNEL_* of the run: Stokes writes /velocity */
  int32_t periodic[3];     /* options.periodic */
  double kernel_param;     /* kappa (Yukawa), viscosity (Stokes), 0 (Laplace) */
  double cell_origin[3];   /* the cell, recorded when a direction is periodic */
  double cell_length;
  /* New fields go here, at the end (and their layout size into io.c's list). */
} kifmm_result_meta;

/* Fill the first struct_size bytes of a kifmm_result_meta from a plan (counts, options, kernel,
 * cell, tree, cache result, timings of the last evaluation); check_count is set to 0, nranks
 * to 1. struct_size must be the size of a released layout (0.3 or 0.4), else
 * KIFMM_ERR_STRUCT_SIZE. [out] meta. */
KIFMM_EXPORT int kifmm_io_result_meta_sized(const kifmm_plan *plan, kifmm_result_meta *meta,
                                            size_t struct_size);

/* Write a result file atomically (as kifmm_io_write_particles) from this rank's slab rows
 * [offset, offset + ntrg_local); V is the value dimension of meta->kernel (1 without meta or
 * with a 0.3 meta_size): /potential (ntrg) and /gradient (ntrg, 3) for V = 1, /velocity
 * (ntrg, 3) and /velocity_gradient (ntrg, 3, 3) for Stokes.
 * [in] pot   V*ntrg_local values (interleaved per target); borrowed
 * [in] grad  3*V*ntrg_local gradients (kifmm_evaluate's layout) or NULL for none; borrowed
 * [in] meta  attributes to record, or NULL for none (the kifmm version is always written);
 *            meta_size its size (a released layout, else KIFMM_ERR_STRUCT_SIZE)
 * Collective over comm. */
KIFMM_EXPORT int kifmm_io_write_results_sized(MPI_Comm comm, const char *path, int64_t ntrg,
                                              int64_t offset, int64_t ntrg_local,
                                              const double *pot, const double *grad,
                                              const kifmm_result_meta *meta, size_t meta_size);

/* The library defines the exported 0.3 forms of these two (0.3 layout) where it defines
 * KIFMM_IO_ABI_V0_3_DEFINITIONS; callers get the inline forms, which pass sizeof. */
#ifndef KIFMM_IO_ABI_V0_3_DEFINITIONS
/* kifmm_io_result_meta_sized with sizeof(kifmm_result_meta). */
static inline int kifmm_io_result_meta(const kifmm_plan *plan, kifmm_result_meta *meta) {
  return kifmm_io_result_meta_sized(plan, meta, sizeof *meta);
}
/* kifmm_io_write_results_sized with sizeof(kifmm_result_meta). */
static inline int kifmm_io_write_results(MPI_Comm comm, const char *path, int64_t ntrg,
                                         int64_t offset, int64_t ntrg_local, const double *pot,
                                         const double *grad, const kifmm_result_meta *meta) {
  return kifmm_io_write_results_sized(comm, path, ntrg, offset, ntrg_local, pot, grad, meta,
                                      sizeof *meta);
}
#endif

/* Read this rank's slab of a result file. [out] ntrg (global /potential length; may be NULL),
 * pot (ntrg_local), grad (3*ntrg_local or NULL to skip). With ntrg_local == 0 only the size
 * is read. Collective over comm. */
KIFMM_EXPORT int kifmm_io_read_results(MPI_Comm comm, const char *path, int64_t offset,
                                       int64_t ntrg_local, int64_t *ntrg, double *pot,
                                       double *grad);

/* kifmm_io_read_results for any kernel: reads /potential and /gradient (value_dim 1) or
 * /velocity and /velocity_gradient (value_dim 3), whichever the file holds. [out] ntrg (may
 * be NULL), value_dim (may be NULL), pot (value_dim*ntrg_local), grad (3*value_dim*ntrg_local,
 * or NULL to skip). With ntrg_local == 0 only the sizes are read. Collective over comm. */
KIFMM_EXPORT int kifmm_io_read_results_dim(MPI_Comm comm, const char *path, int64_t offset,
                                           int64_t ntrg_local, int64_t *ntrg, int32_t *value_dim,
                                           double *pot, double *grad);

/* One line describing the last failed kifmm_io_* call of this thread ("" after success). */
KIFMM_EXPORT const char *kifmm_io_error_message(void);

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_IO_H */
