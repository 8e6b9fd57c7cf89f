/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 helpers for opcache.c and io.c: quiet error stacks, scalar attributes, temporary
 * files renamed into place so no reader ever sees a half-written file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "io/h5util.h"

static pthread_mutex_t g_h5_lock = PTHREAD_MUTEX_INITIALIZER;

void kifmm__h5_quiet_begin(kifmm__h5_quiet *q) {
  pthread_mutex_lock(&g_h5_lock);
  q->func = NULL;
  q->data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void kifmm__h5_quiet_end(const kifmm__h5_quiet *q) {
  H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
  pthread_mutex_unlock(&g_h5_lock);
}

hid_t kifmm__h5_fapl(MPI_Comm mpio) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0)
    return -1;
  int ok = mpio == MPI_COMM_NULL || H5Pset_fapl_mpio(fapl, mpio, MPI_INFO_NULL) >= 0;
#if H5_VERSION_GE(1, 10, 7)
  ok = ok && H5Pset_file_locking(fapl, 0, 1) >= 0;
#endif
  /* Older HDF5 has no per-file switch, only the environment variable
   * HDF5_USE_FILE_LOCKING=FALSE, read when a file is opened; setting it here would change
   * process-wide state behind the caller's back, so it is left to the user (docs/api.md). */
  if (!ok) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

static int attr_put_typed(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v) {
  if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0)
    return KIFMM_ERR_HDF5;
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = space < 0 ? -1 : H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t w = a < 0 ? -1 : H5Awrite(a, mtype, v);
  if (a >= 0)
    H5Aclose(a);
  if (space >= 0)
    H5Sclose(space);
  return w < 0 ? KIFMM_ERR_HDF5 : KIFMM_SUCCESS;
}

int kifmm__h5_attr_put(hid_t obj, const char *name, hid_t type, const void *value) {
  /* files always hold little-endian standard types, whatever the machine */
  hid_t ftype = H5Tget_class(type) == H5T_FLOAT ? H5T_IEEE_F64LE
                : H5Tget_size(type) == 8       ? H5T_STD_I64LE
                                               : H5T_STD_I32LE;
  return attr_put_typed(obj, name, ftype, type, value);
}

int kifmm__h5_attr_put_string(hid_t obj, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0)
    return KIFMM_ERR_HDF5;
  int status = KIFMM_ERR_HDF5;
  if (H5Tset_size(t, strlen(value) + 1) >= 0 && H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0)
    status = attr_put_typed(obj, name, t, t, value);
  H5Tclose(t);
  return status;
}

static hid_t open_scalar_attr(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0)
    return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0)
    return -1;
  hid_t space = H5Aget_space(a);
  int ok = space >= 0 && H5Sget_simple_extent_type(space) == H5S_SCALAR;
  if (space >= 0)
    H5Sclose(space);
  if (!ok) {
    H5Aclose(a);
    return -1;
  }
  return a;
}

int kifmm__h5_attr_get(hid_t obj, const char *name, hid_t type, void *value) {
  hid_t a = open_scalar_attr(obj, name);
  if (a < 0)
    return KIFMM_ERR_HDF5;
  hid_t ft = H5Aget_type(a);
  /* numbers only: refuse strings and the like rather than let HDF5 try a conversion */
  int ok = ft >= 0 && (H5Tget_class(ft) == H5T_INTEGER || H5Tget_class(ft) == H5T_FLOAT);
  if (ft >= 0)
    H5Tclose(ft);
  ok = ok && H5Aread(a, type, value) >= 0;
  H5Aclose(a);
  return ok ? KIFMM_SUCCESS : KIFMM_ERR_HDF5;
}

int kifmm__h5_attr_get_string(hid_t obj, const char *name, char *buf, size_t len) {
  hid_t a = open_scalar_attr(obj, name);
  if (a < 0)
    return KIFMM_ERR_HDF5;
  hid_t ft = H5Aget_type(a);
  int ok = ft >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) == 0 &&
           H5Tget_size(ft) < len;
  if (ok) {
    memset(buf, 0, len);
    ok = H5Aread(a, ft, buf) >= 0;
  }
  if (ft >= 0)
    H5Tclose(ft);
  H5Aclose(a);
  return ok ? KIFMM_SUCCESS : KIFMM_ERR_HDF5;
}

int kifmm__tmp_create(const char *final, char *tmp, size_t len) {
  /* O_EXCL on a fresh name rather than mkstemp: the file gets the mode the umask allows,
   * like any output file, instead of mkstemp's 0600 */
  static unsigned counter = 0;
  for (int attempt = 0; attempt < 64; attempt++) {
    unsigned salt = (unsigned)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    int w = snprintf(tmp, len, "%s.tmp.%ld.%u.%ld", final, (long)getpid(), salt,
                     (long)(clock() & 0xffff));
    if (w < 0 || (size_t)w >= len)
      return KIFMM_ERR_IO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd >= 0) {
      close(fd);
      return KIFMM_SUCCESS;
    }
    if (errno != EEXIST)
      return KIFMM_ERR_IO;
  }
  return KIFMM_ERR_IO;
}

int kifmm__tmp_commit(const char *tmp, const char *final) {
  int fd = open(tmp, O_RDONLY);
  if (fd < 0)
    return KIFMM_ERR_IO;
  int synced = fsync(fd) == 0;
  close(fd);
  if (!synced || rename(tmp, final) != 0)
    return KIFMM_ERR_IO;
  return KIFMM_SUCCESS;
}

/* Chunks of at most 1 MB (whole rows) with the Fletcher32 checksum, so any flipped byte in
 * the data fails the read. Small chunks let HDF5 reuse one buffer for the chunks it checks
 * and copies, where one chunk per dataset made it fault in a fresh one as large as the
 * dataset (up to ~120 MB at p = 16) for every read. */
int kifmm__h5_put_dataset(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                          const hsize_t *dims, const void *data) {
  const hsize_t chunk_elems = (hsize_t)1 << 17;
  hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  int ok = space >= 0 && dcpl >= 0;
  hsize_t total = 1, row = rank > 1 ? dims[1] : 1; /* elements a chunk row holds */
  for (int i = 0; i < rank; i++)
    total *= dims[i];
  hsize_t rows = row >= chunk_elems ? 1 : chunk_elems / row;
  hsize_t chunk[2] = {rows < dims[0] ? rows : dims[0], row};
  if (ok && total > 0)
    ok = H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0;
  hid_t d = ok ? H5Dcreate2(f, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
  ok = d >= 0 && (total == 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  if (d >= 0)
    H5Dclose(d);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (space >= 0)
    H5Sclose(space);
  return ok ? KIFMM_SUCCESS : KIFMM_ERR_HDF5;
}

/* ---- files built in memory, written by us ----
 * The core driver allocates and grows its buffer through these callbacks; at close it hands
 * the buffer to image_free, which keeps it instead of freeing it, so the finished image is
 * taken over without a copy. */
typedef struct {
  void *kept;
} image_owner;

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)op, (void)udata;
  return malloc(size);
}

static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata) {
  (void)op, (void)udata;
  return memcpy(dest, src, size);
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)op, (void)udata;
  return realloc(ptr, size);
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
  image_owner *owner = udata;
  if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && !owner->kept)
    owner->kept = ptr;
  else
    free(ptr);
  return 0;
}

static void *owner_copy(void *udata) { return udata; }
static herr_t owner_free(void *udata) {
  (void)udata;
  return 0;
}

/* An in-memory file filled by fill; its image (size bytes) goes to *image (free() it). */
static int build_image(kifmm__h5_fill_fn fill, const void *ctx, void **image, size_t *size) {
  enum { GROW = 16 << 20 }; /* the core driver's increment: few reallocs for large files */
  image_owner owner = {NULL};
  H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy, image_realloc, image_free,
                                    owner_copy,   owner_free,   &owner};
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  int ok = fapl >= 0 && H5Pset_fapl_core(fapl, GROW, 0) >= 0 &&
           H5Pset_file_image_callbacks(fapl, &cb) >= 0;
  /* the name only identifies the file inside HDF5; nothing is created on disk */
  hid_t f = ok ? H5Fcreate("kifmm-image.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
  int status = f >= 0 ? fill(f, ctx) : KIFMM_ERR_HDF5;
  ssize_t len = -1;
  if (status == KIFMM_SUCCESS && H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0)
    len = H5Fget_file_image(f, NULL, 0); /* the size of the image, copying nothing */
  if (status == KIFMM_SUCCESS && len <= 0)
    status = KIFMM_ERR_HDF5;
  if (f >= 0 && H5Fclose(f) < 0 && status == KIFMM_SUCCESS)
    status = KIFMM_ERR_HDF5;
  if (fapl >= 0)
    H5Pclose(fapl);
  if (status == KIFMM_SUCCESS && !owner.kept)
    status = KIFMM_ERR_HDF5;
  if (status != KIFMM_SUCCESS) {
    free(owner.kept);
    return status;
  }
  *image = owner.kept;
  *size = (size_t)len;
  return KIFMM_SUCCESS;
}

static int write_all(const char *path, const void *data, size_t size) {
  int fd = open(path, O_WRONLY | O_TRUNC);
  if (fd < 0)
    return KIFMM_ERR_IO;
  const char *p = data;
  int ok = 1;
  while (ok && size > 0) {
    ssize_t w = write(fd, p, size > ((size_t)1 << 30) ? (size_t)1 << 30 : size);
    if (w < 0 && errno == EINTR)
      continue;
    ok = w > 0;
    if (ok)
      p += w, size -= (size_t)w;
  }
  return close(fd) == 0 && ok ? KIFMM_SUCCESS : KIFMM_ERR_IO;
}

int kifmm__h5_store(const char *path, kifmm__h5_fill_fn fill, const void *ctx) {
  void *image = NULL;
  size_t size = 0;
  int status = build_image(fill, ctx, &image, &size);
  if (status != KIFMM_SUCCESS)
    return status;
  char tmp[KIFMM_PATH_MAX + 160];
  status = kifmm__tmp_create(path, tmp, sizeof(tmp));
  if (status == KIFMM_SUCCESS) {
    status = write_all(tmp, image, size);
    if (status == KIFMM_SUCCESS)
      status = kifmm__tmp_commit(tmp, path);
    if (status != KIFMM_SUCCESS)
      unlink(tmp);
  }
  free(image);
  return status;
}

int kifmm__path_dir(const char *path, char *dir, size_t len) {
  const char *slash = strrchr(path, '/');
  int w = !slash ? snprintf(dir, len, ".")
          : slash == path ? snprintf(dir, len, "/")
                          : snprintf(dir, len, "%.*s", (int)(slash - path), path);
  return w > 0 && (size_t)w < len ? KIFMM_SUCCESS : KIFMM_ERR_IO;
}

int kifmm__disk_room(const char *path, uint64_t bytes, int keep_reserve) {
  struct rlimit rl; /* a file-size limit (ulimit -f) fails a write just like a full disk */
  if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && bytes > rl.rlim_cur)
    return 0;
  char dir[KIFMM_PATH_MAX + 160];
  if (kifmm__path_dir(path, dir, sizeof(dir)) != KIFMM_SUCCESS)
    return 1;
  struct statvfs sv;
  if (statvfs(dir, &sv) != 0 || sv.f_frsize == 0)
    return 1;
  const uint64_t unit = sv.f_frsize, total = (uint64_t)sv.f_blocks * unit;
  const uint64_t avail = (uint64_t)sv.f_bavail * unit;
  uint64_t reserve = keep_reserve ? total / 50 : 0;
  if (reserve > ((uint64_t)1 << 30))
    reserve = (uint64_t)1 << 30;
  return avail >= bytes && avail - bytes >= reserve;
}
