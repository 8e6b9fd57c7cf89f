/* Small HDF5 helpers shared by the operator cache and the particle/result I/O: silencing
 * HDF5's error printing, scalar attributes, and temporary files for atomic replacement. */
#ifndef KIFMM_H5UTIL_H
#define KIFMM_H5UTIL_H

#include <hdf5.h>

#include "internal.h"

/* HDF5 prints its error stack to stderr by default; library code must not print, so every
 * entry point switches it off for the duration of the call and restores it. */
typedef struct kifmm__h5_quiet {
  H5E_auto2_t func;
  void *data;
} kifmm__h5_quiet;
KIFMM_INTERNAL void kifmm__h5_quiet_begin(kifmm__h5_quiet *q);
KIFMM_INTERNAL void kifmm__h5_quiet_end(const kifmm__h5_quiet *q);

/* Scalar attributes: write with the given native type (H5T_NATIVE_INT32, ...), read converting
 * to it. Return KIFMM_SUCCESS or KIFMM_ERR_HDF5 (read: also a missing or non-scalar attribute). */
KIFMM_INTERNAL int kifmm__h5_attr_put(hid_t obj, const char *name, hid_t type, const void *value);
KIFMM_INTERNAL int kifmm__h5_attr_put_string(hid_t obj, const char *name, const char *value);
KIFMM_INTERNAL int kifmm__h5_attr_get(hid_t obj, const char *name, hid_t type, void *value);
KIFMM_INTERNAL int kifmm__h5_attr_get_string(hid_t obj, const char *name, char *buf, size_t len);

/* Create a new empty file "<final>.tmp.<pid>.<n>.<c>" in the directory of `final` (O_EXCL,
 * so concurrent writers never share one); its name goes to tmp. KIFMM_ERR_IO on failure. */
KIFMM_INTERNAL int kifmm__tmp_create(const char *final, char *tmp, size_t len);
/* fsync a closed file (so a rename after it never exposes unwritten blocks) and rename it
 * over `final`. KIFMM_ERR_IO on failure (tmp is then left for the caller to unlink). */
KIFMM_INTERNAL int kifmm__tmp_commit(const char *tmp, const char *final);

#endif /* KIFMM_H5UTIL_H */
