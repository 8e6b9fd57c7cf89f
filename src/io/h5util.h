/* SPDX-License-Identifier: BSD-3-Clause */
/* Small HDF5 helpers shared by the operator cache and the particle/result I/O: silencing
 * HDF5's error printing, scalar attributes, and temporary files for atomic replacement. */
#ifndef KIFMM_H5UTIL_H
#define KIFMM_H5UTIL_H

#include <hdf5.h>
#include <mpi.h>

#include "util/util.h"

/* Every HDF5 call of the library runs between kifmm__h5_quiet_begin() and _end().
 * Debian's parallel HDF5 is built without its thread-safety option, so two threads inside
 * HDF5 at once corrupt its internal state: begin takes one process-wide lock, end releases
 * it. HDF5 also prints its error stack to stderr by default, and the switch is process-wide
 * in such a build; library code must not print, so begin silences it and end restores the
 * caller's handler, both under the lock so concurrent calls cannot save each other's
 * silenced state as "the caller's". Not re-entrant: never nest two begins. */
typedef struct kifmm__h5_quiet {
  H5E_auto2_t func;
  void *data;
} kifmm__h5_quiet;
KIFMM_INTERNAL void kifmm__h5_quiet_begin(kifmm__h5_quiet *q);
KIFMM_INTERNAL void kifmm__h5_quiet_end(const kifmm__h5_quiet *q);

/* A file-access property list (for H5Fopen/H5Fcreate) with HDF5's own file locking off:
 * on shared filesystems without flock (NFS without lockd, some Lustre mounts) HDF5 >= 1.10.7
 * refuses to open files at all. Nothing of ours relies on it: cache files and output files
 * are written under a fresh name and renamed into place. mpio != MPI_COMM_NULL selects the
 * MPI-IO driver on that communicator. Returns -1 on failure; close with H5Pclose. */
KIFMM_INTERNAL hid_t kifmm__h5_fapl(MPI_Comm mpio);

/* Scalar attributes: write with the given native type (H5T_NATIVE_INT32, ...), read converting
 * to it. Return KIFMM_SUCCESS or KIFMM_ERR_HDF5 (read: also a missing or non-scalar attribute). */
KIFMM_INTERNAL int kifmm__h5_attr_put(hid_t obj, const char *name, hid_t type, const void *value);
KIFMM_INTERNAL int kifmm__h5_attr_put_string(hid_t obj, const char *name, const char *value);
KIFMM_INTERNAL int kifmm__h5_attr_get(hid_t obj, const char *name, hid_t type, void *value);
KIFMM_INTERNAL int kifmm__h5_attr_get_string(hid_t obj, const char *name, char *buf, size_t len);

/* A new dataset `name` of rank 1 or 2 (dims, file type ftype) written from data (memory type
 * mtype), in chunks of whole rows up to 1 MB with the Fletcher32 checksum, so that a flipped
 * byte fails the read. Returns KIFMM_SUCCESS or KIFMM_ERR_HDF5. */
KIFMM_INTERNAL int kifmm__h5_put_dataset(hid_t f, const char *name, hid_t ftype, hid_t mtype,
                                         int rank, const hsize_t *dims, const void *data);

/* Create a new empty file "<final>.tmp.<pid>.<n>.<c>" in the directory of `final` (O_EXCL,
 * so concurrent writers never share one); its name goes to tmp. KIFMM_ERR_IO on failure. */
KIFMM_INTERNAL int kifmm__tmp_create(const char *final, char *tmp, size_t len);
/* fsync a closed file (so a rename after it never exposes unwritten blocks) and rename it
 * over `final`. KIFMM_ERR_IO on failure (tmp is then left for the caller to unlink). */
KIFMM_INTERNAL int kifmm__tmp_commit(const char *tmp, const char *final);

/* Fill a new HDF5 file with fill(f, ctx) and write it to `path` atomically, without HDF5 ever
 * touching the disk: the file is built in memory (HDF5's core driver) and only its finished
 * image is written, by us, to a temporary file that is renamed into place. The reason is a
 * bug of HDF5 1.10: when a flush fails (disk full, file-size limit), H5Fclose fails and leaves
 * the file half-closed in HDF5's tables; any later HDF5 call may then crash, and a new file
 * that reuses its inode number reads the old file's data. Here a full disk is only a failed
 * write(2): nothing is left behind and the caller gets KIFMM_ERR_IO. The image needs its size
 * in memory once more while it is written. Call between kifmm__h5_quiet_begin and _end.
 * Returns KIFMM_SUCCESS, KIFMM_ERR_IO (disk), KIFMM_ERR_HDF5, KIFMM_ERR_OUT_OF_MEMORY or the status
 * of fill. */
typedef int (*kifmm__h5_fill_fn)(hid_t f, const void *ctx);
KIFMM_INTERNAL int kifmm__h5_store(const char *path, kifmm__h5_fill_fn fill, const void *ctx);

/* The directory part of path into dir: "." for a bare name, "/" for a file in the root.
 * KIFMM_ERR_IO when dir is too short. */
KIFMM_INTERNAL int kifmm__path_dir(const char *path, char *dir, size_t len);

/* 1 when the file system holding `path` (a file to be created) has `bytes` free, plus, with
 * keep_reserve, a reserve of min(1 GiB, 2% of its size): the cache must never fill a disk that
 * other programs need, while a file the user asks for may use it all. 0 also when `bytes`
 * exceed the process's file-size limit (RLIMIT_FSIZE); 1 when the room cannot be told. */
KIFMM_INTERNAL int kifmm__disk_room(const char *path, uint64_t bytes, int keep_reserve);

#endif /* KIFMM_H5UTIL_H */
