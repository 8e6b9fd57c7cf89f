/* SPDX-License-Identifier: BSD-3-Clause */
/* Operator cache: precomputed operators are loaded from, or computed and stored in, one
 * HDF5 file per key (kernel, order, surface ratios, tolerance, float type, format). */
#ifndef KIFMM_OPCACHE_H
#define KIFMM_OPCACHE_H

#include <mpi.h>

#include "io/h5util.h"
#include "operators/operators.h"

/* Bump KIFMM_OPCACHE_FORMAT when the file layout changes (4: the kernel in the key and its
 * dimensions in the file; per-level groups for kernels that are not homogeneous). The key also holds a digest of
 * the sources that compute the operators (KIFMM_OPERATORS_CODE, from src/CMakeLists.txt), so
 * files written by other code are never used; KIFMM_OPERATORS_REVISION is the manual
 * override for a change the digest cannot see (a BLAS/LAPACK behaviour, a build flag). */
#define KIFMM_OPCACHE_FORMAT 4
#define KIFMM_OPERATORS_REVISION 2

/* Fill *ops for spec (opts gives the cache: use_cache, cache_dir): load from the cache when a valid
 * file exists, else compute with kifmm__operators_compute() and store it (atomically).
 * When another thread or process is computing the same file (its "<file>.lock" exists),
 * wait for it and load. Cache problems are never errors: they mean recomputing.
 * *cache_result gets one of the KIFMM_CACHE_* values. Returns a status only for failures
 * of the computation itself. Thread-safe. */
KIFMM_INTERNAL int kifmm__operators_obtain(kifmm_operators *ops, const kifmm_opspec *spec,
                                           const kifmm_options *opts, int nthreads,
                                           int *cache_result);

/* As kifmm__operators_obtain, collective over comm: rank 0 loads or computes for its spec,
 * every rank receives identical operators and cache result. Needs MPI initialised. */
KIFMM_INTERNAL int kifmm__operators_obtain_comm(kifmm_operators *ops, const kifmm_opspec *spec,
                                                const kifmm_options *opts, int nthreads,
                                                MPI_Comm comm, int *cache_result);

/* The cache file path for spec (directory resolved from opts and the environment).
 * Returns KIFMM_ERR_IO when no directory can be determined or the path is too long. */
KIFMM_INTERNAL int kifmm__opcache_path(const kifmm_opspec *spec, const kifmm_options *opts,
                                       char *path, size_t len);

/* The cache directory for opts (options, then the environment; see kifmm_options). */
/* The 64-bit FNV-1a hash of a key string, in cache file names. */
KIFMM_INTERNAL uint64_t kifmm__opcache_hash(const char *s);
KIFMM_INTERNAL int kifmm__opcache_dir(const kifmm_options *opts, char *dir, size_t len);

/* The periodic far-field operator for opts->order and opts->periodic (farcache.c): loaded
 * from its own cache file, or computed (kifmm__periodic_far_compute) and stored. *p gets a
 * new nc x n array (the caller frees it), *cache_result a KIFMM_CACHE_* value. */
KIFMM_INTERNAL int kifmm__periodic_far_obtain(const kifmm_options *opts, int nthreads, double **p,
                                             int *cache_result);

/* The cache's size limit (cachesize.c): KIFMM_CACHE_MAX_BYTES, a byte count with an optional
 * K, M, G or T (powers of 1024) or "unlimited"; unset or not a size: 8 GiB. */
KIFMM_INTERNAL uint64_t kifmm__cache_max_bytes(void);
/* Before storing `bytes` at path: remove the least recently used cache files of its
 * directory until the new file fits under the limit. 1 when it fits (store it), 0 when not
 * (larger than the limit, or files that could not be removed). */
KIFMM_INTERNAL int kifmm__cache_make_room(const char *path, uint64_t bytes);
/* Store one cache file at path, about data_bytes of data written by fill: room is made under
 * the limit first, a file that would eat into the disk's reserve (kifmm__disk_room) is not
 * written, and the file is built in memory and renamed into place (kifmm__h5_store), so a
 * crash, a concurrent writer or a full disk leaves at most a stray temporary. Takes the HDF5
 * lock itself. KIFMM_ERR_IO when the file does not fit or cannot be written. */
KIFMM_INTERNAL int kifmm__cache_store(const char *path, uint64_t data_bytes,
                                      kifmm__h5_fill_fn fill, const void *ctx);
/* Mark a cache file just used (a hit): its modification time becomes now. */
KIFMM_INTERNAL void kifmm__cache_touch(const char *path);

#endif /* KIFMM_OPCACHE_H */
