/* SPDX-License-Identifier: BSD-3-Clause */
/* The periodic far-field operator (ewald.c) in the operator cache: a file of its own beside
 * the free-space operators, keyed by what it depends on (order, check order, surface ratio,
 * the periodic axes and a digest of its code), so free-space files stay valid and one file
 * serves every compression tolerance. Written atomically like those (temporary file renamed
 * into place); no lock file: two plans starting at once may both compute it (seconds), and
 * the second rename replaces an identical file. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "operators/opcache.h"

#ifndef KIFMM_PERIODIC_CODE /* digest of ewald.c and surface.c, set by src/CMakeLists.txt */
#define KIFMM_PERIODIC_CODE "unknown"
#endif
#define KIFMM_FARCACHE_FORMAT 1
#define DATASET "periodic_far"

typedef struct {
  int order, nc, n;
  char key[256];
} far_key;

static far_key make_key(int order, const int32_t periodic[3]) {
  far_key k;
  const int q = kifmm__check_order(order);
  k.order = order;
  k.n = kifmm__surface_count(order);
  k.nc = kifmm__surface_count(q);
  snprintf(k.key, sizeof(k.key),
           "kernel=laplace;float=float64;operator=periodic_far;order=%d;check_order=%d;"
           "ratio_inner=%.17g;periodic=%d%d%d;format=%d;code=" KIFMM_PERIODIC_CODE,
           order, q, KIFMM_RATIO_INNER(order), periodic[0], periodic[1], periodic[2],
           KIFMM_FARCACHE_FORMAT);
  return k;
}

static int far_path(const kifmm_options *opts, const far_key *k, const int32_t periodic[3],
                    char *path, size_t len) {
  char dir[KIFMM_PATH_MAX + 64];
  CHECK(kifmm__opcache_dir(opts, dir, sizeof(dir)));
  int w = snprintf(path, len, "%s/laplace-float64-p%02d-periodic%d%d%d-%016llx.h5", dir, k->order,
                   periodic[0], periodic[1], periodic[2], (unsigned long long)kifmm__opcache_hash(k->key));
  return w > 0 && (size_t)w < len ? KIFMM_SUCCESS : KIFMM_ERR_IO;
}

/* Stored with its true shape (nc, n) in C order, so h5py shows it as it is; chunks of whole
 * rows up to 1 MB with the Fletcher32 checksum (a flipped byte fails the read). */
static int write_dataset(hid_t f, const far_key *k, const double *rowmajor) {
  hsize_t dims[2] = {(hsize_t)k->nc, (hsize_t)k->n};
  return kifmm__h5_put_dataset(f, DATASET, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, rowmajor);
}

static int write_file(hid_t f, const far_key *k, const double *rowmajor) {
  int32_t fmt = KIFMM_FARCACHE_FORMAT, order = k->order;
  CHECK(kifmm__h5_attr_put_string(f, "key", k->key));
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_version", KIFMM_VERSION_STRING));
  CHECK(kifmm__h5_attr_put(f, "format_version", H5T_NATIVE_INT32, &fmt));
  CHECK(kifmm__h5_attr_put(f, "order", H5T_NATIVE_INT32, &order));
  return write_dataset(f, k, rowmajor);
}

typedef struct {
  const far_key *k;
  const double *rowmajor;
} store_ctx;

static int fill_file(hid_t f, const void *vctx) {
  const store_ctx *c = vctx;
  return write_file(f, c->k, c->rowmajor);
}

static int store(const far_key *k, const char *path, const double *p) {
  const size_t count = (size_t)k->nc * k->n;
  double *rowmajor;
  ALLOC(rowmajor, count);
  for (int j = 0; j < k->n; j++)
    for (int i = 0; i < k->nc; i++)
      rowmajor[(size_t)i * k->n + j] = p[i + (size_t)j * k->nc];
  const store_ctx c = {k, rowmajor};
  int status = kifmm__cache_store(path, count * sizeof(double), fill_file, &c);
  free(rowmajor);
  return status;
}

/* The dataset into p (column-major) when the file's key, shape, checksum and values are
 * right; anything else is a miss. */
static int read_file(hid_t f, const far_key *k, double *rowmajor, double *p) {
  char key[256];
  if (kifmm__h5_attr_get_string(f, "key", key, sizeof(key)) || strcmp(key, k->key) ||
      H5Lexists(f, DATASET, H5P_DEFAULT) <= 0)
    return 0;
  hid_t d = H5Dopen2(f, DATASET, H5P_DEFAULT);
  hid_t t = d >= 0 ? H5Dget_type(d) : -1, s = d >= 0 ? H5Dget_space(d) : -1;
  hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : -1;
  hsize_t dims[2] = {0, 0};
  int ok = t >= 0 && s >= 0 && dcpl >= 0 && H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 8 &&
           H5Sget_simple_extent_ndims(s) == 2 && H5Sget_simple_extent_dims(s, dims, NULL) == 2 &&
           dims[0] == (hsize_t)k->nc && dims[1] == (hsize_t)k->n &&
           H5Pget_nfilters(dcpl) > 0 && /* the checksum (the only filter we write) */
           H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, rowmajor) >= 0 &&
           kifmm__all_finite((int64_t)k->nc * k->n, rowmajor);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (t >= 0)
    H5Tclose(t);
  if (s >= 0)
    H5Sclose(s);
  if (d >= 0)
    H5Dclose(d);
  for (int j = 0; ok && j < k->n; j++)
    for (int i = 0; i < k->nc; i++)
      p[i + (size_t)j * k->nc] = rowmajor[(size_t)i * k->n + j];
  return ok;
}

/* 1 when a valid file was loaded into p. */
static int load(const far_key *k, const char *path, double *p) {
  if (access(path, F_OK) != 0)
    return 0;
  double *rowmajor = NULL;
  if (kifmm__calloc((void **)&rowmajor, (size_t)k->nc * k->n, sizeof(double)) != KIFMM_SUCCESS)
    return 0;
  kifmm__h5_quiet quiet;
  kifmm__h5_quiet_begin(&quiet);
  hid_t fapl = kifmm__h5_fapl(MPI_COMM_NULL);
  hid_t f = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
  int ok = f >= 0 && read_file(f, k, rowmajor, p);
  if (f >= 0 && H5Fclose(f) < 0)
    ok = 0;
  if (fapl >= 0)
    H5Pclose(fapl);
  kifmm__h5_quiet_end(&quiet);
  free(rowmajor);
  if (ok)
    kifmm__cache_touch(path);
  return ok;
}

int kifmm__periodic_far_obtain(const kifmm_options *opts, int nthreads, double **out,
                               int *cache_result) {
  const far_key k = make_key(opts->order, opts->periodic);
  double *p;
  ALLOC(p, (size_t)k.nc * k.n);
  char path[KIFMM_PATH_MAX + 128];
  int have_path =
      opts->use_cache && far_path(opts, &k, opts->periodic, path, sizeof(path)) == KIFMM_SUCCESS;
  int existed = have_path && access(path, F_OK) == 0;
  if (have_path && load(&k, path, p)) {
    *cache_result = KIFMM_CACHE_HIT;
    *out = p;
    return KIFMM_SUCCESS;
  }
  int status = kifmm__periodic_far_compute(opts->order, opts->periodic, nthreads, p);
  if (status != KIFMM_SUCCESS) {
    free(p);
    return status;
  }
  if (!opts->use_cache)
    *cache_result = KIFMM_CACHE_NOT_USED;
  else if (have_path && store(&k, path, p) == KIFMM_SUCCESS)
    *cache_result = existed ? KIFMM_CACHE_REBUILT : KIFMM_CACHE_STORED;
  else
    *cache_result = KIFMM_CACHE_NOT_STORED;
  *out = p;
  return KIFMM_SUCCESS;
}
