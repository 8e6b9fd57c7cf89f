/* SPDX-License-Identifier: BSD-3-Clause */
/* Particles in, results out: HDF5 files read and written through the MPI-IO driver, each
 * rank owning a contiguous slab of rows (collective hyperslabs), replaced atomically. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "plan/plan.h" /* kifmm_io_result_meta reads the plan it describes */
#include "kifmm_io.h"

static _Thread_local char g_message[768];

const char *kifmm_io_error_message(void) { return g_message; }

static int fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_message, sizeof(g_message), fmt, ap);
  va_end(ap);
  return status;
}

/* Every rank must return the same status from a collective call: take the worst. The
 * message of a rank that saw nothing wrong says where to look. */
static int agree(int status, MPI_Comm comm) {
  int worst = status;
  if (MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
    return fail(KIFMM_ERR_MPI, "MPI_Allreduce failed");
  if (worst != KIFMM_SUCCESS && status == KIFMM_SUCCESS)
    fail(worst, "%s (reported by another rank)", kifmm_error_string(worst));
  return worst;
}

int kifmm_io_slab(int64_t n, int size, int rank, int64_t *offset, int64_t *count) {
  if (!offset || !count)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (n < 0 || size < 1 || rank < 0 || rank >= size)
    return KIFMM_ERR_INVALID_COUNT;
  int64_t base = n / size, extra = n % size;
  *count = base + (rank < extra);
  *offset = rank * base + (rank < extra ? rank : extra);
  return KIFMM_SUCCESS;
}

/* ---- files ---- */
static int check_mpi(MPI_Comm comm, int *rank, int *size) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin)
    return fail(KIFMM_ERR_MPI, "MPI is not initialised (call MPI_Init before kifmm_io_*)");
  if (comm == MPI_COMM_NULL || MPI_Comm_rank(comm, rank) != MPI_SUCCESS ||
      MPI_Comm_size(comm, size) != MPI_SUCCESS)
    return fail(KIFMM_ERR_MPI, "invalid communicator");
  return KIFMM_SUCCESS;
}

static int open_read(MPI_Comm comm, const char *path, hid_t *file) {
  *file = -1;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, R_OK) != 0)
    return fail(KIFMM_ERR_FILE_NOT_FOUND, "%s: no such readable file", path);
  hid_t fapl = kifmm__h5_fapl(comm);
  if (fapl < 0)
    return fail(KIFMM_ERR_HDF5, "%s: cannot set up the MPI-IO driver", path);
  *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (*file < 0)
    return fail(KIFMM_ERR_FILE_NOT_HDF5, "%s: not an HDF5 file (or damaged)", path);
  return KIFMM_SUCCESS;
}

static void close_file(hid_t *file) {
  if (*file >= 0)
    H5Fclose(*file);
  *file = -1;
}

/* ---- validation of one dataset: exists, float64, (n) or (n, 3) ---- */
static int check_dataset(hid_t f, const char *path, const char *name, int cols, int64_t *rows) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
    return fail(KIFMM_ERR_FILE_MISSING_DATASET, "%s: no dataset %s", path, name);
  H5O_info_t info;
  if (H5Oget_info_by_name(f, name, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)
    return fail(KIFMM_ERR_FILE_MISSING_DATASET, "%s: %s is not a dataset", path, name);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0)
    return fail(KIFMM_ERR_HDF5, "%s: cannot open %s", path, name);
  hid_t t = H5Dget_type(d), s = H5Dget_space(d);
  int status = KIFMM_SUCCESS, want = cols > 1 ? 2 : 1, nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
  hsize_t dims[H5S_MAX_RANK] = {0};
  if (t < 0 || s < 0) {
    status = fail(KIFMM_ERR_HDF5, "%s: cannot inspect %s", path, name);
  } else if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != 8) {
    status = fail(KIFMM_ERR_FILE_TYPE, "%s: %s holds %s of %zu bytes, float64 expected", path,
                  name, H5Tget_class(t) == H5T_FLOAT ? "floats" : "non-floats", H5Tget_size(t));
  } else if (nd != want) {
    status = fail(KIFMM_ERR_FILE_SHAPE, "%s: %s has rank %d, %s expected", path, name, nd,
                  want == 2 ? "2 (N, 3)" : "1 (N)");
  } else {
    H5Sget_simple_extent_dims(s, dims, NULL);
    if (want == 2 && dims[1] != (hsize_t)cols)
      status = fail(KIFMM_ERR_FILE_SHAPE, "%s: %s has shape (%llu, %llu), (N, %d) expected",
                    path, name, (unsigned long long)dims[0], (unsigned long long)dims[1], cols);
    *rows = (int64_t)dims[0];
  }
  if (t >= 0)
    H5Tclose(t);
  if (s >= 0)
    H5Sclose(s);
  H5Dclose(d);
  return status;
}

/* rows [off, off + cnt) x cols of dataset name, collectively */
static int slab_io(hid_t f, const char *name, int cols, int64_t off, int64_t cnt, void *buf,
                   int writing) {
  static double dummy;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t mdim = cnt > 0 ? (hsize_t)(cnt * cols) : 1;
  hid_t ms = H5Screate_simple(1, &mdim, NULL), dxpl = H5Pcreate(H5P_DATASET_XFER);
  int ok = d >= 0 && fs >= 0 && ms >= 0 && dxpl >= 0 &&
           H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) >= 0;
  if (ok && cnt > 0) {
    hsize_t start[2] = {(hsize_t)off, 0}, count[2] = {(hsize_t)cnt, (hsize_t)cols};
    ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0;
  } else if (ok) { /* this rank owns nothing but still joins the collective call */
    ok = H5Sselect_none(fs) >= 0 && H5Sselect_none(ms) >= 0;
    buf = &dummy;
  }
  if (ok)
    ok = (writing ? H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, dxpl, buf)
                  : H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, dxpl, buf)) >= 0;
  if (dxpl >= 0)
    H5Pclose(dxpl);
  if (ms >= 0)
    H5Sclose(ms);
  if (fs >= 0)
    H5Sclose(fs);
  if (d >= 0)
    H5Dclose(d);
  return ok ? KIFMM_SUCCESS : KIFMM_ERR_HDF5;
}

/* First non-finite row over all ranks (-1: none), so every rank can name it. */
static int check_finite(MPI_Comm comm, const char *path, const char *name, int cols, int64_t off,
                        int64_t cnt, const double *v) {
  int64_t bad = INT64_MAX, first = INT64_MAX;
  for (int64_t i = 0; i < cnt * cols && bad == INT64_MAX; i++)
    if (!isfinite(v[i]))
      bad = off + i / cols;
  if (MPI_Allreduce(&bad, &first, 1, MPI_INT64_T, MPI_MIN, comm) != MPI_SUCCESS)
    return fail(KIFMM_ERR_MPI, "MPI_Allreduce failed");
  if (first != INT64_MAX)
    return fail(KIFMM_ERR_FILE_NONFINITE, "%s: %s row %lld is NaN or infinite", path, name,
                (long long)first);
  return KIFMM_SUCCESS;
}

/* ---- particles ---- */
static int particles_sizes(hid_t f, const char *path, int64_t *nsrc, int64_t *ntrg, int *has_trg) {
  int64_t nq = 0;
  CHECK(check_dataset(f, path, "/sources", 3, nsrc));
  CHECK(check_dataset(f, path, "/charges", 1, &nq));
  if (nq != *nsrc)
    return fail(KIFMM_ERR_FILE_SHAPE, "%s: /charges has %lld entries, /sources %lld rows", path,
                (long long)nq, (long long)*nsrc);
  *has_trg = H5Lexists(f, "/targets", H5P_DEFAULT) > 0;
  *ntrg = *nsrc;
  if (*has_trg)
    CHECK(check_dataset(f, path, "/targets", 3, ntrg));
  return KIFMM_SUCCESS;
}

int kifmm_io_particles_info(MPI_Comm comm, const char *path, int64_t *nsrc, int64_t *ntrg,
                            int *has_targets) {
  int rank, size, has = 0;
  int64_t ns = 0, nt = 0;
  if (!path || !nsrc || !ntrg || !has_targets)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_particles_info: NULL argument");
  CHECK(check_mpi(comm, &rank, &size));
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  hid_t f;
  int status = open_read(comm, path, &f);
  if (status == KIFMM_SUCCESS)
    status = particles_sizes(f, path, &ns, &nt, &has);
  close_file(&f);
  kifmm__h5_quiet_end(&q);
  status = agree(status, comm);
  if (status == KIFMM_SUCCESS) {
    *nsrc = ns;
    *ntrg = nt;
    *has_targets = has;
    g_message[0] = '\0';
  }
  return status;
}

static int slab_ok(int64_t n, int64_t off, int64_t cnt, const void *buf) {
  if (off < 0 || cnt < 0 || off > n || cnt > n - off)
    return KIFMM_ERR_INVALID_COUNT;
  return cnt > 0 && !buf ? KIFMM_ERR_NULL_ARGUMENT : KIFMM_SUCCESS;
}

static int read_particles(MPI_Comm comm, hid_t f, const char *path, int64_t so, int64_t sn,
                          double *src, double *q, int64_t to, int64_t tn, double *trg) {
  int64_t nsrc, ntrg;
  int has;
  int status = particles_sizes(f, path, &nsrc, &ntrg, &has);
  if (status == KIFMM_SUCCESS && (slab_ok(nsrc, so, sn, src) || slab_ok(nsrc, so, sn, q) ||
                                  slab_ok(ntrg, to, tn, trg)))
    status = fail(KIFMM_ERR_INVALID_COUNT, "%s: slab outside the file's %lld sources / %lld targets",
                  path, (long long)nsrc, (long long)ntrg);
  CHECK(agree(status, comm)); /* the reads below are collective */
  const char *tname = has ? "/targets" : "/sources";
  status = slab_io(f, "/sources", 3, so, sn, src, 0);
  if (status == KIFMM_SUCCESS)
    status = slab_io(f, "/charges", 1, so, sn, q, 0);
  if (status == KIFMM_SUCCESS)
    status = slab_io(f, tname, 3, to, tn, trg, 0);
  if (status != KIFMM_SUCCESS)
    fail(status, "%s: reading failed (damaged file?)", path);
  CHECK(agree(status, comm));
  CHECK(check_finite(comm, path, "/sources", 3, so, sn, src));
  CHECK(check_finite(comm, path, "/charges", 1, so, sn, q));
  return check_finite(comm, path, tname, 3, to, tn, trg);
}

int kifmm_io_read_particles(MPI_Comm comm, const char *path, int64_t src_offset,
                            int64_t nsrc_local, double *src, double *charges, int64_t trg_offset,
                            int64_t ntrg_local, double *trg) {
  int rank, size;
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_read_particles: NULL path");
  CHECK(check_mpi(comm, &rank, &size));
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  hid_t f;
  int status = agree(open_read(comm, path, &f), comm);
  if (status == KIFMM_SUCCESS)
    status = read_particles(comm, f, path, src_offset, nsrc_local, src, charges, trg_offset,
                            ntrg_local, trg);
  close_file(&f);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}

/* ---- writing: temporary file, collective create and slab writes, rename ---- */
typedef int (*fill_fn)(hid_t f, const void *ctx);

static int create_dataset(hid_t f, const char *name, int64_t rows, int cols) {
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
  hid_t s = H5Screate_simple(cols > 1 ? 2 : 1, dims, NULL);
  hid_t d = s >= 0 ? H5Dcreate2(f, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                   : -1;
  if (d >= 0)
    H5Dclose(d);
  if (s >= 0)
    H5Sclose(s);
  return d >= 0 ? KIFMM_SUCCESS : KIFMM_ERR_HDF5;
}

static int write_array(hid_t f, const char *name, int64_t rows, int cols, int64_t off, int64_t cnt,
                       const double *v) {
  CHECK(create_dataset(f, name, rows, cols));
  return slab_io(f, name, cols, off, cnt, (void *)v, 1);
}

/* Rank 0 makes the temporary name, everyone writes it, rank 0 renames or removes it. */
static int write_atomic(MPI_Comm comm, int rank, const char *path, fill_fn fill, const void *ctx) {
  char tmp[KIFMM_PATH_MAX + 160] = {0};
  int status = KIFMM_SUCCESS;
  if (rank == 0 && kifmm__tmp_create(path, tmp, sizeof(tmp)) != KIFMM_SUCCESS)
    status = fail(KIFMM_ERR_IO, "%s: cannot create a file in its directory", path);
  CHECK(agree(status, comm));
  if (MPI_Bcast(tmp, (int)sizeof(tmp), MPI_CHAR, 0, comm) != MPI_SUCCESS)
    return fail(KIFMM_ERR_MPI, "MPI_Bcast failed");
  hid_t fapl = kifmm__h5_fapl(comm);
  hid_t f = fapl >= 0 ? H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
  if (fapl >= 0)
    H5Pclose(fapl);
  status = f >= 0 ? fill(f, ctx) : KIFMM_ERR_HDF5;
  if (f >= 0 && H5Fclose(f) < 0 && status == KIFMM_SUCCESS)
    status = KIFMM_ERR_HDF5;
  if (status != KIFMM_SUCCESS)
    fail(status, "%s: writing failed", path);
  status = agree(status, comm);
  if (rank == 0) {
    if (status == KIFMM_SUCCESS && kifmm__tmp_commit(tmp, path) != KIFMM_SUCCESS)
      status = fail(KIFMM_ERR_IO, "%s: cannot move the finished file into place", path);
    if (status != KIFMM_SUCCESS)
      unlink(tmp);
  }
  return agree(status, comm);
}

/* Each rank's slab must be inside [0, n) and the slabs together must cover n rows. */
static int check_slabs(MPI_Comm comm, const char *path, const char *what, int64_t n, int64_t off,
                       int64_t cnt, const void *a, const void *b) {
  int status = slab_ok(n < 0 ? 0 : n, off, cnt, a);
  if (status == KIFMM_SUCCESS)
    status = slab_ok(n < 0 ? 0 : n, off, cnt, b);
  int64_t total = 0;
  if (MPI_Allreduce(&cnt, &total, 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
    return fail(KIFMM_ERR_MPI, "MPI_Allreduce failed");
  if (status == KIFMM_SUCCESS && total != (n < 0 ? 0 : n))
    status = KIFMM_ERR_INVALID_COUNT;
  if (status != KIFMM_SUCCESS)
    fail(status, "%s: %s slabs do not cover [0, %lld) (%s)", path, what, (long long)n,
         kifmm_error_string(status));
  return agree(status, comm);
}

typedef struct particles_ctx {
  int64_t nsrc, so, sn, ntrg, to, tn;
  const double *src, *q, *trg;
} particles_ctx;

static int fill_particles(hid_t f, const void *vctx) {
  const particles_ctx *c = vctx;
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_version", KIFMM_VERSION_STRING));
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_file", "particles"));
  CHECK(write_array(f, "/sources", c->nsrc, 3, c->so, c->sn, c->src));
  CHECK(write_array(f, "/charges", c->nsrc, 1, c->so, c->sn, c->q));
  if (c->ntrg >= 0)
    CHECK(write_array(f, "/targets", c->ntrg, 3, c->to, c->tn, c->trg));
  return KIFMM_SUCCESS;
}

int kifmm_io_write_particles(MPI_Comm comm, const char *path, int64_t nsrc, int64_t src_offset,
                             int64_t nsrc_local, const double *src, const double *charges,
                             int64_t ntrg, int64_t trg_offset, int64_t ntrg_local,
                             const double *trg) {
  int rank, size;
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_write_particles: NULL path");
  CHECK(check_mpi(comm, &rank, &size));
  if (nsrc < 0)
    return fail(KIFMM_ERR_INVALID_COUNT, "%s: negative source count", path);
  particles_ctx c = {nsrc, src_offset, nsrc_local, ntrg, trg_offset, ntrg_local,
                     src, charges, trg};
  if (ntrg < 0)
    c.to = c.tn = 0;
  CHECK(check_slabs(comm, path, "source", nsrc, src_offset, nsrc_local, src, charges));
  CHECK(check_slabs(comm, path, "target", ntrg, c.to, c.tn, trg, trg));
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  int status = write_atomic(comm, rank, path, fill_particles, &c);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}

/* ---- results ---- */
int kifmm_io_result_meta(const kifmm_plan *plan, kifmm_result_meta *m) {
  if (!plan || !m)
    return KIFMM_ERR_NULL_ARGUMENT;
  const kifmm_stats *s = &plan->stats;
  memset(m, 0, sizeof(*m));
  m->nsrc = s->nsrc;
  m->ntrg = s->ntrg;
  m->order = plan->opts.order;
  m->ncrit = plan->opts.ncrit;
  m->num_threads = plan->nthreads;
  m->nranks = 1;
  m->nboxes = s->nboxes;
  m->nleaves = s->nleaves;
  m->depth = s->depth;
  m->cache_result = s->cache_result;
  m->t_tree = s->t_tree;
  m->t_lists = s->t_lists;
  m->t_operators = s->t_operators;
  m->t_upward = s->t_p2m + s->t_m2m;
  m->t_m2l = s->t_m2l + s->t_p2l;
  m->t_downward = s->t_l2l + s->t_l2p;
  m->t_near = s->t_p2p + s->t_m2p;
  m->t_evaluate = s->t_evaluate;
  m->check_count = 0;
  m->err_potential = m->err_gradient = NAN;
  return KIFMM_SUCCESS;
}

typedef struct results_ctx {
  int64_t ntrg, off, cnt;
  const double *pot, *grad;
  const kifmm_result_meta *meta;
} results_ctx;

static int put_i64(hid_t f, const char *name, int64_t v) {
  return kifmm__h5_attr_put(f, name, H5T_NATIVE_INT64, &v);
}
static int put_i32(hid_t f, const char *name, int32_t v) {
  return kifmm__h5_attr_put(f, name, H5T_NATIVE_INT32, &v);
}
static int put_f64(hid_t f, const char *name, double v) {
  return kifmm__h5_attr_put(f, name, H5T_NATIVE_DOUBLE, &v);
}

static int fill_meta(hid_t f, const kifmm_result_meta *m) {
  CHECK(put_i64(f, "nsrc", m->nsrc));
  CHECK(put_i64(f, "ntrg", m->ntrg));
  CHECK(put_i32(f, "order", m->order));
  CHECK(put_i32(f, "ncrit", m->ncrit));
  CHECK(put_i32(f, "num_threads", m->num_threads));
  CHECK(put_i32(f, "nranks", m->nranks));
  CHECK(put_i64(f, "nboxes", m->nboxes));
  CHECK(put_i64(f, "nleaves", m->nleaves));
  CHECK(put_i32(f, "depth", m->depth));
  CHECK(put_i32(f, "cache_result", m->cache_result));
  const struct { const char *name; double v; } t[] = {
      {"t_tree", m->t_tree},         {"t_lists", m->t_lists}, {"t_operators", m->t_operators},
      {"t_upward", m->t_upward},     {"t_m2l", m->t_m2l},     {"t_downward", m->t_downward},
      {"t_near", m->t_near},         {"t_evaluate", m->t_evaluate}};
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    CHECK(put_f64(f, t[i].name, t[i].v));
  CHECK(put_i64(f, "check_count", m->check_count));
  if (m->check_count > 0) {
    CHECK(put_f64(f, "err_potential", m->err_potential));
    CHECK(put_f64(f, "err_gradient", m->err_gradient));
  }
  return KIFMM_SUCCESS;
}

static int fill_results(hid_t f, const void *vctx) {
  const results_ctx *c = vctx;
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_version", KIFMM_VERSION_STRING));
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_file", "results"));
  if (c->meta)
    CHECK(fill_meta(f, c->meta));
  CHECK(write_array(f, "/potential", c->ntrg, 1, c->off, c->cnt, c->pot));
  if (c->grad)
    CHECK(write_array(f, "/gradient", c->ntrg, 3, c->off, c->cnt, c->grad));
  return KIFMM_SUCCESS;
}

int kifmm_io_write_results(MPI_Comm comm, const char *path, int64_t ntrg, int64_t offset,
                           int64_t ntrg_local, const double *pot, const double *grad,
                           const kifmm_result_meta *meta) {
  int rank, size;
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_write_results: NULL path");
  CHECK(check_mpi(comm, &rank, &size));
  if (ntrg < 0)
    return fail(KIFMM_ERR_INVALID_COUNT, "%s: negative target count", path);
  /* all ranks must agree on whether /gradient exists */
  int want_grad = grad != NULL || ntrg_local == 0, all_grad = 0, any_grad = 0;
  int has = grad != NULL;
  MPI_Allreduce(&want_grad, &all_grad, 1, MPI_INT, MPI_MIN, comm);
  MPI_Allreduce(&has, &any_grad, 1, MPI_INT, MPI_MAX, comm);
  CHECK(check_slabs(comm, path, "target", ntrg, offset, ntrg_local, pot, pot));
  if (any_grad && !all_grad)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "%s: grad is NULL on some ranks only", path);
  static const double none = 0;
  results_ctx c = {ntrg, offset, ntrg_local, pot, any_grad ? (grad ? grad : &none) : NULL, meta};
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  int status = write_atomic(comm, rank, path, fill_results, &c);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}

static int read_results(MPI_Comm comm, hid_t f, const char *path, int64_t off, int64_t cnt,
                        int64_t *ntrg, double *pot, double *grad) {
  int64_t n = 0, ng = 0;
  int status = check_dataset(f, path, "/potential", 1, &n);
  if (status == KIFMM_SUCCESS && grad) {
    status = check_dataset(f, path, "/gradient", 3, &ng);
    if (status == KIFMM_SUCCESS && ng != n)
      status = fail(KIFMM_ERR_FILE_SHAPE, "%s: /gradient has %lld rows, /potential %lld", path,
                    (long long)ng, (long long)n);
  }
  if (status == KIFMM_SUCCESS && (slab_ok(n, off, cnt, pot) || (grad && slab_ok(n, off, cnt, grad))))
    status = fail(KIFMM_ERR_INVALID_COUNT, "%s: slab outside the file's %lld targets", path,
                  (long long)n);
  CHECK(agree(status, comm));
  if (ntrg)
    *ntrg = n;
  status = slab_io(f, "/potential", 1, off, cnt, pot, 0);
  if (status == KIFMM_SUCCESS && grad)
    status = slab_io(f, "/gradient", 3, off, cnt, grad, 0);
  if (status != KIFMM_SUCCESS)
    fail(status, "%s: reading failed (damaged file?)", path);
  return agree(status, comm);
}

int kifmm_io_read_results(MPI_Comm comm, const char *path, int64_t offset, int64_t ntrg_local,
                          int64_t *ntrg, double *pot, double *grad) {
  int rank, size;
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_read_results: NULL path");
  CHECK(check_mpi(comm, &rank, &size));
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  hid_t f;
  int status = agree(open_read(comm, path, &f), comm);
  if (status == KIFMM_SUCCESS)
    status = read_results(comm, f, path, offset, ntrg_local, ntrg, pot, grad);
  close_file(&f);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}
