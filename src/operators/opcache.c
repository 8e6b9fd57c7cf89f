/* SPDX-License-Identifier: BSD-3-Clause */
/* Operator cache: kifmm__operators_obtain() loads the precomputed operators from one HDF5
 * file per key, or computes them (operators.c) and stores them atomically for next time. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/h5util.h"
#include "operators/opcache.h"

#ifndef KIFMM_OPERATORS_CODE /* digest of operators.c & co., set by src/CMakeLists.txt */
#define KIFMM_OPERATORS_CODE "unknown"
#endif
#define FLOAT_NAME "float64"
#define KEY_LEN 512

enum { LOAD_OK, LOAD_MISSING, LOAD_BAD };

/* ---- the key ---- */
/* Everything the operators depend on. A kernel that is not homogeneous adds its parameter in
 * root-box units and the levels that have a set each: its files hold one group of datasets a
 * level. */
typedef struct cache_key {
  const char *kernel;
  int32_t order, check_order, format, revision, per_level, lo, hi;
  double ratio_inner, ratio_outer, tol, param;
} cache_key;

static cache_key make_key(const kifmm_opspec *spec) {
  kifmm_operators o; /* the dimensions kifmm__operators_compute will resolve, known before */
  kifmm__operators_init(&o, spec);
  cache_key k;
  memset(&k, 0, sizeof(k));
  k.kernel = spec->kernel->name;
  k.order = o.order;
  k.check_order = o.check_order;
  k.format = KIFMM_OPCACHE_FORMAT;
  k.revision = KIFMM_OPERATORS_REVISION;
  k.ratio_inner = KIFMM_RATIO_INNER(o.order);
  k.ratio_outer = KIFMM_RATIO_OUTER(o.order);
  k.tol = o.tol;
  k.per_level = o.per_level;
  k.lo = o.per_level ? o.lo : 0;
  k.hi = o.per_level ? o.hi : 0;
  k.param = o.per_level ? o.param : 0.0; /* homogeneous kernels' parameters never enter */
  return k;
}

static void key_string(const cache_key *k, char *buf, size_t len) {
  int w = snprintf(buf, len,
                   "kernel=%s;float=" FLOAT_NAME ";order=%d;check_order=%d;"
                   "ratio_inner=%.17g;ratio_outer=%.17g;tol=%.17g;format=%d;revision=%d;"
                   "code=" KIFMM_OPERATORS_CODE,
                   k->kernel, k->order, k->check_order, k->ratio_inner, k->ratio_outer, k->tol,
                   k->format, k->revision);
  if (k->per_level && w > 0 && (size_t)w < len)
    snprintf(buf + w, len - (size_t)w, ";param=%.17g;levels=%d-%d", k->param, k->lo, k->hi);
}

uint64_t kifmm__opcache_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* ---- the directory ---- */
static int copy_path(char *dst, size_t len, const char *a, const char *b) {
  int w = snprintf(dst, len, "%s%s", a, b);
  return w > 0 && (size_t)w < len ? KIFMM_SUCCESS : KIFMM_ERR_IO;
}

static int cache_dir(const kifmm_options *o, char *dir, size_t len) {
  const char *e;
  if (o->cache_dir[0])
    return copy_path(dir, len, o->cache_dir, "");
  if ((e = getenv("KIFMM_CACHE_DIR")) && *e)
    return copy_path(dir, len, e, "");
  if ((e = getenv("XDG_CACHE_HOME")) && *e)
    return copy_path(dir, len, e, "/kifmm");
  if ((e = getenv("HOME")) && *e)
    return copy_path(dir, len, e, "/.cache/kifmm");
  return KIFMM_ERR_IO;
}

int kifmm__opcache_dir(const kifmm_options *opts, char *dir, size_t len) {
  return cache_dir(opts, dir, len);
}

int kifmm__opcache_path(const kifmm_opspec *spec, const kifmm_options *opts, char *path,
                        size_t len) {
  char dir[KIFMM_PATH_MAX + 64], key[KEY_LEN];
  CHECK(cache_dir(opts, dir, sizeof(dir)));
  cache_key k = make_key(spec);
  key_string(&k, key, sizeof(key));
  int w = snprintf(path, len, "%s/%s-" FLOAT_NAME "-p%02d-tol%.2e-%016llx.h5", dir, k.kernel,
                   k.order, k.tol, (unsigned long long)kifmm__opcache_hash(key));
  return w > 0 && (size_t)w < len ? KIFMM_SUCCESS : KIFMM_ERR_IO;
}

/* mkdir -p: create every missing component (mode 0777 less the umask). */
static int make_dirs(const char *dir) {
  char buf[KIFMM_PATH_MAX + 64];
  CHECK(copy_path(buf, sizeof(buf), dir, ""));
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return KIFMM_ERR_IO;
      *p = c;
      if (c == '\0')
        break;
    }
  }
  struct stat st;
  return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? KIFMM_SUCCESS : KIFMM_ERR_IO;
}

/* ---- datasets: matrices are column-major in memory, stored with their true shape
 * (rows, cols) in C order, so h5py and h5dump show them as they are ---- */
typedef struct matrix_desc {
  const char *name;
  double **data;
  int64_t rows, cols;
} matrix_desc;

static int matrices(const kifmm_operators *ops, kifmm_opset *set, matrix_desc m[6]) {
  int64_t n = ops->ne, nc = ops->nce, kl = KIFMM_M2L_GROUPS * (int64_t)set->kl,
          kr = KIFMM_M2L_GROUPS * (int64_t)set->kr;
  matrix_desc all[6] = {{"uc2e", &set->uc2e, n, n + nc}, {"dc2e", &set->dc2e, n, n + nc},
                        {"m2m", &set->m2m, n, 8 * n},    {"l2l", &set->l2l, 8 * n, n},
                        {"m2l_vt", &set->vt, kr, n},     {"m2l_d", &set->d, n, kl}};
  memcpy(m, all, sizeof(all));
  return 6;
}

/* Elements of the largest matrix: the buffer that transposes any of them. */
static int64_t largest(const matrix_desc *m, int nm) {
  int64_t most = 0;
  for (int i = 0; i < nm; i++)
    most = m[i].rows * m[i].cols > most ? m[i].rows * m[i].cols : most;
  return most;
}

static void transpose(int64_t rows, int64_t cols, const double *in, double *out) {
  for (int64_t j = 0; j < cols; j++)
    for (int64_t i = 0; i < rows; i++)
      out[i * cols + j] = in[i + j * rows];
}

/* Row-major on disk to column-major in memory, by 64 x 64 tiles (read in place a column at a
 * time it missed the cache on every element) and on the plan's threads. */
static void untranspose(int64_t rows, int64_t cols, const double *in, double *out, int nthreads) {
  enum { TILE = 64 };
#pragma omp parallel for num_threads(nthreads) schedule(static) collapse(2)
  for (int64_t i0 = 0; i0 < rows; i0 += TILE)
    for (int64_t j0 = 0; j0 < cols; j0 += TILE)
      for (int64_t j = j0; j < j0 + TILE && j < cols; j++)
        for (int64_t i = i0; i < i0 + TILE && i < rows; i++)
          out[i + j * rows] = in[i * cols + j];
}

static int write_attrs(hid_t f, const cache_key *k, const kifmm_operators *ops) {
  char key[KEY_LEN];
  key_string(k, key, sizeof(key));
  int32_t n = ops->n, nc = ops->nc, groups = KIFMM_M2L_GROUPS, sdim = ops->sdim, tdim = ops->tdim;
  CHECK(kifmm__h5_attr_put_string(f, "kernel", k->kernel));
  CHECK(kifmm__h5_attr_put_string(f, "float_type", FLOAT_NAME));
  CHECK(kifmm__h5_attr_put(f, "order", H5T_NATIVE_INT32, &k->order));
  CHECK(kifmm__h5_attr_put(f, "check_order", H5T_NATIVE_INT32, &k->check_order));
  CHECK(kifmm__h5_attr_put(f, "ratio_inner", H5T_NATIVE_DOUBLE, &k->ratio_inner));
  CHECK(kifmm__h5_attr_put(f, "ratio_outer", H5T_NATIVE_DOUBLE, &k->ratio_outer));
  CHECK(kifmm__h5_attr_put(f, "compression_tol", H5T_NATIVE_DOUBLE, &k->tol));
  CHECK(kifmm__h5_attr_put(f, "format_version", H5T_NATIVE_INT32, &k->format));
  CHECK(kifmm__h5_attr_put(f, "operators_revision", H5T_NATIVE_INT32, &k->revision));
  CHECK(kifmm__h5_attr_put_string(f, "key", key));
  CHECK(kifmm__h5_attr_put_string(f, "operators_code", KIFMM_OPERATORS_CODE));
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_version", KIFMM_VERSION_STRING));
  CHECK(kifmm__h5_attr_put(f, "nsurf", H5T_NATIVE_INT32, &n));
  CHECK(kifmm__h5_attr_put(f, "nsurf_check", H5T_NATIVE_INT32, &nc));
  CHECK(kifmm__h5_attr_put(f, "density_dim", H5T_NATIVE_INT32, &sdim));
  CHECK(kifmm__h5_attr_put(f, "value_dim", H5T_NATIVE_INT32, &tdim));
  CHECK(kifmm__h5_attr_put(f, "m2l_groups", H5T_NATIVE_INT32, &groups));
  CHECK(kifmm__h5_attr_put(f, "rcond", H5T_NATIVE_DOUBLE, &ops->rcond));
  CHECK(kifmm__h5_attr_put(f, "per_level", H5T_NATIVE_INT32, &k->per_level));
  if (k->per_level) {
    CHECK(kifmm__h5_attr_put(f, "kernel_param", H5T_NATIVE_DOUBLE, &k->param));
    CHECK(kifmm__h5_attr_put(f, "level_lo", H5T_NATIVE_INT32, &k->lo));
    CHECK(kifmm__h5_attr_put(f, "level_hi", H5T_NATIVE_INT32, &k->hi));
  }
  return KIFMM_SUCCESS;
}

/* One set's datasets and ranks at loc: the file's root for a homogeneous kernel, the group
 * "level_NN" of its level otherwise. */
static int write_set(hid_t loc, const kifmm_operators *ops, kifmm_opset *set) {
  CHECK(kifmm__h5_attr_put(loc, "m2l_rank_check", H5T_NATIVE_INT32, &set->kl));
  CHECK(kifmm__h5_attr_put(loc, "m2l_rank_equiv", H5T_NATIVE_INT32, &set->kr));
  CHECK(kifmm__h5_attr_put(loc, "set_param", H5T_NATIVE_DOUBLE, &set->param));
  matrix_desc m[6];
  int nm = matrices(ops, set, m);
  double *buf;
  ALLOC(buf, largest(m, nm));
  int status = KIFMM_SUCCESS;
  for (int i = 0; i < nm && status == KIFMM_SUCCESS; i++) {
    hsize_t dims[2] = {(hsize_t)m[i].rows, (hsize_t)m[i].cols};
    transpose(m[i].rows, m[i].cols, *m[i].data, buf);
    status = kifmm__h5_put_dataset(loc, m[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, buf);
  }
  free(buf);
  hsize_t ntv = KIFMM_NTV, len = (hsize_t)set->ab_len;
  if (status == KIFMM_SUCCESS)
    status = kifmm__h5_put_dataset(loc, "m2l_rank_t", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &ntv, set->r);
  if (status == KIFMM_SUCCESS)
    status = kifmm__h5_put_dataset(loc, "m2l_ab_offset", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &ntv,
                         set->ab_off);
  if (status == KIFMM_SUCCESS)
    status = kifmm__h5_put_dataset(loc, "m2l_ab", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &len, set->ab);
  return status;
}

static void level_group_name(const kifmm_operators *ops, int i, char *name, size_t len) {
  snprintf(name, len, "level_%02d", ops->lo + i);
}

static int write_file(hid_t f, const cache_key *k, kifmm_operators *ops) {
  CHECK(write_attrs(f, k, ops));
  int status = KIFMM_SUCCESS;
  for (int i = 0; i < ops->nsets && status == KIFMM_SUCCESS; i++) {
    if (!ops->per_level) {
      status = write_set(f, ops, &ops->set[i]);
      continue;
    }
    char name[32];
    level_group_name(ops, i, name, sizeof(name));
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    status = g >= 0 ? write_set(g, ops, &ops->set[i]) : KIFMM_ERR_HDF5;
    if (g >= 0 && H5Gclose(g) < 0)
      status = KIFMM_ERR_HDF5;
  }
  return status;
}

typedef struct {
  const cache_key *k;
  kifmm_operators *ops;
} store_ctx;

static int fill_file(hid_t f, const void *vctx) {
  const store_ctx *c = vctx;
  return write_file(f, c->k, c->ops);
}

static int store(kifmm_operators *ops, const cache_key *k, const char *path) {
  const store_ctx c = {k, ops};
  return kifmm__cache_store(path, (uint64_t)kifmm__operators_bytes(ops), fill_file, &c);
}

/* The directory of a cache file path, created when missing. */
static int make_parent(const char *path) {
  char dir[KIFMM_PATH_MAX + 128];
  CHECK(kifmm__path_dir(path, dir, sizeof(dir)));
  return make_dirs(dir);
}

/* ---- loading: anything unexpected makes the file "bad" ---- */
static int has_fletcher32(hid_t d) {
  hid_t dcpl = H5Dget_create_plist(d);
  int found = 0, nf = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
  for (int i = 0; i < nf; i++) {
    unsigned flags;
    size_t nelem = 0;
    if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelem, NULL, 0, NULL, NULL) ==
        H5Z_FILTER_FLETCHER32)
      found = 1;
  }
  if (dcpl >= 0)
    H5Pclose(dcpl);
  return found;
}

static int get_dataset(hid_t f, const char *name, H5T_class_t cls, size_t size, hid_t mtype,
                       int rank, const hsize_t *dims, void *data) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
    return LOAD_BAD;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0)
    return LOAD_BAD;
  hid_t t = H5Dget_type(d), s = H5Dget_space(d);
  hsize_t got[2] = {0, 0}, total = 1;
  int ok = t >= 0 && s >= 0 && H5Tget_class(t) == cls && H5Tget_size(t) == size &&
           H5Sget_simple_extent_ndims(s) == rank && H5Sget_simple_extent_dims(s, got, NULL) == rank;
  for (int i = 0; ok && i < rank; i++) {
    ok = got[i] == dims[i];
    total *= dims[i];
  }
  if (ok && total > 0)
    ok = has_fletcher32(d) && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
  if (t >= 0)
    H5Tclose(t);
  if (s >= 0)
    H5Sclose(s);
  H5Dclose(d);
  return ok ? LOAD_OK : LOAD_BAD;
}

/* The file's global attributes against the key; ops (from kifmm__operators_init) gets the
 * file's pseudo-inverse cut-off. */
static int attrs_match(hid_t f, const cache_key *k, kifmm_operators *ops) {
  char key[KEY_LEN], text[KEY_LEN], want[KEY_LEN];
  key_string(k, want, sizeof(want));
  int32_t order, check_order, format, revision, n, nc, groups, sdim, tdim, per_level;
  int32_t lo = 0, hi = 0;
  double ri, ro, tol, param = 0.0;
  if (kifmm__h5_attr_get(f, "format_version", H5T_NATIVE_INT32, &format) ||
      format != k->format)
    return 0; /* checked first: a future format may lay out everything else differently */
  if (kifmm__h5_attr_get(f, "operators_revision", H5T_NATIVE_INT32, &revision) ||
      kifmm__h5_attr_get(f, "order", H5T_NATIVE_INT32, &order) ||
      kifmm__h5_attr_get(f, "check_order", H5T_NATIVE_INT32, &check_order) ||
      kifmm__h5_attr_get(f, "ratio_inner", H5T_NATIVE_DOUBLE, &ri) ||
      kifmm__h5_attr_get(f, "ratio_outer", H5T_NATIVE_DOUBLE, &ro) ||
      kifmm__h5_attr_get(f, "compression_tol", H5T_NATIVE_DOUBLE, &tol) ||
      kifmm__h5_attr_get(f, "nsurf", H5T_NATIVE_INT32, &n) ||
      kifmm__h5_attr_get(f, "nsurf_check", H5T_NATIVE_INT32, &nc) ||
      kifmm__h5_attr_get(f, "density_dim", H5T_NATIVE_INT32, &sdim) ||
      kifmm__h5_attr_get(f, "value_dim", H5T_NATIVE_INT32, &tdim) ||
      kifmm__h5_attr_get(f, "m2l_groups", H5T_NATIVE_INT32, &groups) ||
      kifmm__h5_attr_get(f, "per_level", H5T_NATIVE_INT32, &per_level) ||
      kifmm__h5_attr_get(f, "rcond", H5T_NATIVE_DOUBLE, &ops->rcond) ||
      kifmm__h5_attr_get_string(f, "key", key, sizeof(key)) ||
      kifmm__h5_attr_get_string(f, "kernel", text, sizeof(text)) || strcmp(text, k->kernel) ||
      kifmm__h5_attr_get_string(f, "float_type", text, sizeof(text)) || strcmp(text, FLOAT_NAME))
    return 0;
  if (per_level && (kifmm__h5_attr_get(f, "kernel_param", H5T_NATIVE_DOUBLE, &param) ||
                    kifmm__h5_attr_get(f, "level_lo", H5T_NATIVE_INT32, &lo) ||
                    kifmm__h5_attr_get(f, "level_hi", H5T_NATIVE_INT32, &hi)))
    return 0;
  return revision == k->revision && order == k->order && check_order == k->check_order &&
         ri == k->ratio_inner && ro == k->ratio_outer && tol == k->tol && !strcmp(key, want) &&
         n == ops->n && nc == ops->nc && sdim == ops->sdim && tdim == ops->tdim &&
         groups == KIFMM_M2L_GROUPS && per_level == k->per_level && param == k->param &&
         lo == k->lo && hi == k->hi && ops->rcond >= 0;
}

/* Ranks and offsets must describe blocks inside ab, or evaluation would read out of bounds. */
static int ranks_valid(const kifmm_operators *ops, const kifmm_opset *set) {
  int64_t need = 0;
  if (set->kl < 1 || set->kl > ops->ne || set->kr < 1 || set->kr > ops->ne)
    return 0;
  for (int t = 0; t < KIFMM_NTV; t++) {
    if (set->r[t] < 0 || set->r[t] > set->kl || set->r[t] > set->kr || set->ab_off[t] < 0)
      return 0;
    int64_t end = set->ab_off[t] + ((int64_t)set->kl + set->kr) * set->r[t];
    need = end > need ? end : need;
  }
  return need <= set->ab_len;
}

static int read_set(hid_t loc, const kifmm_operators *ops, kifmm_opset *set, int nthreads) {
  if (kifmm__h5_attr_get(loc, "m2l_rank_check", H5T_NATIVE_INT32, &set->kl) ||
      kifmm__h5_attr_get(loc, "m2l_rank_equiv", H5T_NATIVE_INT32, &set->kr) ||
      kifmm__h5_attr_get(loc, "set_param", H5T_NATIVE_DOUBLE, &set->param))
    return LOAD_BAD;
  hsize_t ntv = KIFMM_NTV;
  if (get_dataset(loc, "m2l_rank_t", H5T_INTEGER, 4, H5T_NATIVE_INT32, 1, &ntv, set->r) ||
      get_dataset(loc, "m2l_ab_offset", H5T_INTEGER, 8, H5T_NATIVE_INT64, 1, &ntv, set->ab_off))
    return LOAD_BAD;
  hid_t d = H5Lexists(loc, "m2l_ab", H5P_DEFAULT) > 0 ? H5Dopen2(loc, "m2l_ab", H5P_DEFAULT) : -1;
  hid_t s = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t len = 0;
  int ok = s >= 0 && H5Sget_simple_extent_ndims(s) == 1 &&
           H5Sget_simple_extent_dims(s, &len, NULL) == 1;
  if (s >= 0)
    H5Sclose(s);
  if (d >= 0)
    H5Dclose(d);
  set->ab_len = (int64_t)len;
  if (!ok || !ranks_valid(ops, set))
    return LOAD_BAD;
  if (kifmm__alloc_large((void **)&set->ab, len, sizeof(double)) ||
      get_dataset(loc, "m2l_ab", H5T_FLOAT, 8, H5T_NATIVE_DOUBLE, 1, &len, set->ab) ||
      !kifmm__all_finite(set->ab_len, set->ab))
    return LOAD_BAD;
  matrix_desc m[6];
  int nm = matrices(ops, set, m);
  double *buf = NULL;
  if (kifmm__alloc_large((void **)&buf, (size_t)largest(m, nm), sizeof(double)))
    return LOAD_BAD;
  int status = LOAD_OK;
  for (int i = 0; i < nm && status == LOAD_OK; i++) {
    hsize_t dims[2] = {(hsize_t)m[i].rows, (hsize_t)m[i].cols};
    int64_t size = m[i].rows * m[i].cols;
    if (kifmm__alloc_large((void **)m[i].data, (size_t)size, sizeof(double)) ||
        get_dataset(loc, m[i].name, H5T_FLOAT, 8, H5T_NATIVE_DOUBLE, 2, dims, buf) ||
        !kifmm__all_finite(size, buf))
      status = LOAD_BAD;
    else
      untranspose(m[i].rows, m[i].cols, buf, *m[i].data, nthreads);
  }
  free(buf);
  return status;
}

static int read_file(hid_t f, const cache_key *k, kifmm_operators *ops, int nthreads) {
  if (!attrs_match(f, k, ops))
    return LOAD_BAD;
  if (ops->nsets > 0 && kifmm__alloc_large((void **)&ops->set, (size_t)ops->nsets,
                                           sizeof(*ops->set)))
    return LOAD_BAD;
  if (ops->nsets > 0)
    memset(ops->set, 0, (size_t)ops->nsets * sizeof(*ops->set));
  int status = LOAD_OK;
  for (int i = 0; i < ops->nsets && status == LOAD_OK; i++) {
    if (!ops->per_level) {
      status = read_set(f, ops, &ops->set[i], nthreads);
      continue;
    }
    char name[32];
    level_group_name(ops, i, name, sizeof(name));
    hid_t g = H5Lexists(f, name, H5P_DEFAULT) > 0 ? H5Gopen2(f, name, H5P_DEFAULT) : -1;
    status = g >= 0 ? read_set(g, ops, &ops->set[i], nthreads) : LOAD_BAD;
    if (g >= 0)
      H5Gclose(g);
  }
  return status;
}

static int load(kifmm_operators *ops, const kifmm_opspec *spec, const cache_key *k,
                const char *path, int nthreads) {
  kifmm__operators_init(ops, spec);
  if (access(path, F_OK) != 0)
    return LOAD_MISSING;
  kifmm__h5_quiet quiet;
  kifmm__h5_quiet_begin(&quiet);
  hid_t fapl = kifmm__h5_fapl(MPI_COMM_NULL);
  hid_t f = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
  int result = f >= 0 ? read_file(f, k, ops, nthreads) : LOAD_BAD;
  if (f >= 0 && H5Fclose(f) < 0)
    result = LOAD_BAD;
  if (fapl >= 0)
    H5Pclose(fapl);
  kifmm__h5_quiet_end(&quiet);
  if (result != LOAD_OK)
    kifmm__operators_free(ops);
  else
    kifmm__cache_touch(path);
  return result;
}

/* ---- cold starts: one process (or thread) computes, the others wait and load ----
 * The computer holds "<cache file>.lock", created with O_EXCL: that works on NFS and
 * parallel filesystems where flock does not. The lock only saves work; correctness never
 * depends on it (files appear by rename), so when it cannot be created, or its holder
 * seems gone, we compute ourselves and the worst case is the same file written twice. */
#define KIFMM_LOCK_STALE_S 900 /* far longer than the slowest precomputation (p = 16) */
#define KIFMM_LOCK_EMPTY_S 30  /* a holder writes its line right after creating the file */

enum { LOCK_HELD, LOCK_BUSY, LOCK_UNAVAILABLE };

static int lock_try(const char *lock) {
  int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0)
    return errno == EEXIST ? LOCK_BUSY : LOCK_UNAVAILABLE;
  char host[256] = "", line[320];
  gethostname(host, sizeof(host) - 1);
  int len = snprintf(line, sizeof(line), "%s %ld\n", host, (long)getpid());
  int ok = len > 0 && write(fd, line, (size_t)len) == len;
  close(fd);
  if (ok)
    return LOCK_HELD;
  unlink(lock);
  return LOCK_UNAVAILABLE;
}

/* A lock whose holder is a dead process on this host, or which is very old. */
static int lock_stale(const char *lock) {
  struct stat st;
  if (stat(lock, &st) != 0)
    return 0; /* gone: not stale, simply free */
  time_t age = time(NULL) - st.st_mtime;
  if (age > KIFMM_LOCK_STALE_S)
    return 1;
  char host[256] = "", owner[256] = "";
  long pid = 0;
  FILE *f = fopen(lock, "r");
  int n = f ? fscanf(f, "%255s %ld", owner, &pid) : 0;
  if (f)
    fclose(f);
  gethostname(host, sizeof(host) - 1);
  if (n != 2) /* no line yet: a holder between open and write, or one that died there */
    return age > KIFMM_LOCK_EMPTY_S;
  return pid > 0 && strcmp(owner, host) == 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait until the file loads or the lock is free; LOAD_OK or the last load's result. */
static int wait_for_holder(kifmm_operators *ops, const kifmm_opspec *spec, const cache_key *k,
                           const char *path, const char *lock, int nthreads) {
  long ms = 5;
  for (;;) {
    pause_ms(ms);
    ms = ms < 200 ? 2 * ms : 200;
    int found = load(ops, spec, k, path, nthreads);
    if (found == LOAD_OK)
      return LOAD_OK;
    if (access(lock, F_OK) != 0)
      return found;
    if (lock_stale(lock)) {
      unlink(lock); /* a racing waiter may remove a fresh lock: at worst, work twice */
      return found;
    }
  }
}

static int compute_and_store(kifmm_operators *ops, const kifmm_opspec *spec, int nthreads,
                             const cache_key *k, const char *path, int found, int *cache_result) {
  CHECK(kifmm__operators_compute(ops, spec, nthreads));
  *cache_result = store(ops, k, path) == KIFMM_SUCCESS
                      ? (found == LOAD_BAD ? KIFMM_CACHE_REBUILT : KIFMM_CACHE_STORED)
                      : KIFMM_CACHE_NOT_STORED;
  return KIFMM_SUCCESS;
}

static int obtain_cached(kifmm_operators *ops, const kifmm_opspec *spec, int nthreads,
                         const char *path, int *cache_result) {
  char lock[KIFMM_PATH_MAX + 160];
  cache_key k = make_key(spec);
  int found = load(ops, spec, &k, path, nthreads);
  if (found == LOAD_OK) {
    *cache_result = KIFMM_CACHE_HIT;
    return KIFMM_SUCCESS;
  }
  int have = make_parent(path) == KIFMM_SUCCESS &&
             copy_path(lock, sizeof(lock), path, ".lock") == KIFMM_SUCCESS;
  for (int state = have ? lock_try(lock) : LOCK_UNAVAILABLE;; state = lock_try(lock)) {
    if (state == LOCK_UNAVAILABLE)
      return compute_and_store(ops, spec, nthreads, &k, path, found, cache_result);
    if (state == LOCK_HELD) {
      /* the previous holder may have just stored it */
      int again = load(ops, spec, &k, path, nthreads);
      int status = KIFMM_SUCCESS;
      if (again == LOAD_OK)
        *cache_result = KIFMM_CACHE_HIT;
      else
        status = compute_and_store(ops, spec, nthreads, &k, path, again, cache_result);
      unlink(lock);
      return status;
    }
    found = wait_for_holder(ops, spec, &k, path, lock, nthreads);
    if (found == LOAD_OK) {
      *cache_result = KIFMM_CACHE_HIT;
      return KIFMM_SUCCESS;
    }
  }
}

int kifmm__operators_obtain(kifmm_operators *ops, const kifmm_opspec *spec,
                            const kifmm_options *opts, int nthreads, int *cache_result) {
  *cache_result = KIFMM_CACHE_NOT_USED;
  if (!opts->use_cache)
    return kifmm__operators_compute(ops, spec, nthreads);
  char path[KIFMM_PATH_MAX + 128];
  if (kifmm__opcache_path(spec, opts, path, sizeof(path)) != KIFMM_SUCCESS) {
    CHECK(kifmm__operators_compute(ops, spec, nthreads));
    *cache_result = KIFMM_CACHE_NOT_STORED;
    return KIFMM_SUCCESS;
  }
  return obtain_cached(ops, spec, nthreads, path, cache_result);
}

/* ---- one rank obtains, the others receive ---- */
static int bcast(void *buf, int64_t count, MPI_Datatype type, MPI_Comm comm) {
  enum { STEP = 1 << 28 }; /* MPI counts are int */
  char *p = buf;
  int size;
  MPI_Type_size(type, &size);
  for (int64_t done = 0; done < count; done += STEP) {
    int m = (int)(count - done < STEP ? count - done : STEP);
    if (MPI_Bcast(p + done * size, m, type, 0, comm) != MPI_SUCCESS)
      return KIFMM_ERR_MPI;
  }
  return KIFMM_SUCCESS;
}

static int alloc_like(const kifmm_operators *ops, kifmm_opset *set) {
  ALLOC(set->ab, set->ab_len);
  matrix_desc m[6];
  int nm = matrices(ops, set, m);
  for (int i = 0; i < nm; i++)
    ALLOC(*m[i].data, m[i].rows * m[i].cols);
  return KIFMM_SUCCESS;
}

/* All ranks agree on the worst status, so no rank waits in a broadcast another skipped. */
static int agree(int status, MPI_Comm comm) {
  int worst = status;
  if (MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  return worst;
}

static int bcast_set(const kifmm_operators *ops, kifmm_opset *set, int root, MPI_Comm comm) {
  int32_t ints[2] = {set->kl, set->kr};
  CHECK(bcast(ints, 2, MPI_INT32_T, comm));
  CHECK(bcast(&set->param, 1, MPI_DOUBLE, comm));
  CHECK(bcast(&set->ab_len, 1, MPI_INT64_T, comm));
  CHECK(bcast(set->r, KIFMM_NTV, MPI_INT32_T, comm));
  CHECK(bcast(set->ab_off, KIFMM_NTV, MPI_INT64_T, comm));
  set->kl = ints[0];
  set->kr = ints[1];
  CHECK(agree(root ? KIFMM_SUCCESS : alloc_like(ops, set), comm));
  CHECK(bcast(set->ab, set->ab_len, MPI_DOUBLE, comm));
  matrix_desc m[6];
  int nm = matrices(ops, set, m);
  for (int i = 0; i < nm; i++)
    CHECK(bcast(*m[i].data, m[i].rows * m[i].cols, MPI_DOUBLE, comm));
  return KIFMM_SUCCESS;
}

/* Every rank takes rank 0's spec (what it obtained), so the dimensions agree whatever each
 * rank's own tree said; then the sets follow one by one. */
static int bcast_operators(kifmm_operators *ops, const kifmm_opspec *spec, int root,
                           MPI_Comm comm) {
  double reals[3] = {spec->param, spec->tol, ops->rcond};
  int32_t ints[3] = {spec->order, spec->lo, spec->hi};
  CHECK(bcast(reals, 3, MPI_DOUBLE, comm));
  CHECK(bcast(ints, 3, MPI_INT32_T, comm));
  if (!root) {
    kifmm_opspec s = *spec;
    s.param = reals[0];
    s.tol = reals[1];
    s.order = ints[0];
    s.lo = ints[1];
    s.hi = ints[2];
    kifmm__operators_init(ops, &s);
    ops->rcond = reals[2];
  }
  CHECK(agree(root || ops->nsets == 0 ? KIFMM_SUCCESS
                                      : kifmm__calloc((void **)&ops->set, (size_t)ops->nsets,
                                                      sizeof(*ops->set)),
              comm));
  for (int i = 0; i < ops->nsets; i++)
    CHECK(bcast_set(ops, &ops->set[i], root, comm));
  return KIFMM_SUCCESS;
}

int kifmm__operators_obtain_comm(kifmm_operators *ops, const kifmm_opspec *spec,
                                 const kifmm_options *opts, int nthreads, MPI_Comm comm,
                                 int *cache_result) {
  int rank, size;
  if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  if (size == 1)
    return kifmm__operators_obtain(ops, spec, opts, nthreads, cache_result);
  int state[2] = {KIFMM_SUCCESS, KIFMM_CACHE_NOT_USED};
  memset(ops, 0, sizeof(*ops));
  if (rank == 0)
    state[0] = kifmm__operators_obtain(ops, spec, opts, nthreads, &state[1]);
  CHECK(bcast(state, 2, MPI_INT, comm));
  *cache_result = state[1];
  if (state[0] != KIFMM_SUCCESS)
    return state[0];
  int status = bcast_operators(ops, spec, rank == 0, comm);
  if (status != KIFMM_SUCCESS)
    kifmm__operators_free(ops);
  return status;
}
