/* SPDX-License-Identifier: BSD-3-Clause */
/* LD_PRELOAD shim for io_opcache_nolock: flock() fails with ENOLCK, as on an NFS mount
 * without a lock daemon, so HDF5 (>= 1.10.7, locking on by default) cannot open files. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <sys/file.h>

int flock(int fd, int operation) {
  (void)fd;
  (void)operation;
  errno = ENOLCK;
  return -1;
}
