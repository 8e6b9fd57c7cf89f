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
 *   particle file: /sources (N, 3), /charges (N), optional /targets (M, 3)
 *                  (absent: the targets are the sources, M = N)
 *   result file:   /potential (M), /gradient (M, 3), attributes on "/" (kifmm_result_meta) */

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
  double err_potential, err_gradient; /* relative l2 errors on the checked targets */
} kifmm_result_meta;

/* Fill a kifmm_result_meta from a plan (counts, options, tree, cache result, timings of the
 * last evaluation); check_count is set to 0, nranks to 1. [out] meta. */
KIFMM_EXPORT int kifmm_io_result_meta(const kifmm_plan *plan, kifmm_result_meta *meta);

/* Write a result file atomically (as kifmm_io_write_particles): /potential (ntrg) and
 * /gradient (ntrg, 3) from this rank's slab rows [offset, offset + ntrg_local).
 * [in] pot   ntrg_local potentials; borrowed
 * [in] grad  3*ntrg_local gradients (interleaved) or NULL for no /gradient; borrowed
 * [in] meta  attributes to record, or NULL for none (the kifmm version is always written)
 * Collective over comm. */
KIFMM_EXPORT int kifmm_io_write_results(MPI_Comm comm, const char *path, int64_t ntrg,
                                        int64_t offset, int64_t ntrg_local, const double *pot,
                                        const double *grad, const kifmm_result_meta *meta);

/* Read this rank's slab of a result file. [out] ntrg (global /potential length; may be NULL),
 * pot (ntrg_local), grad (3*ntrg_local or NULL to skip). With ntrg_local == 0 only the size
 * is read. Collective over comm. */
KIFMM_EXPORT int kifmm_io_read_results(MPI_Comm comm, const char *path, int64_t offset,
                                       int64_t ntrg_local, int64_t *ntrg, double *pot,
                                       double *grad);

/* One line describing the last failed kifmm_io_* call of this thread ("" after success). */
KIFMM_EXPORT const char *kifmm_io_error_message(void);

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_IO_H */
