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

#define KIFMM_IO_ABI_V0_3_DEFINITIONS /* this file defines the exported 0.3 forms */
#include "io/h5util.h"
#include "plan/plan.h" /* kifmm_io_result_meta reads the plan it describes */
#include "kifmm_io.h"
#include "kernels/kernels.h" /* kernel names */

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

/* Shapes of the datasets: cols 1 is (N), 3 is (N, 3), 9 is (N, 3, 3). */
static int shape_rank(int cols) { return cols == 1 ? 1 : cols == 9 ? 3 : 2; }
static const char *shape_name(int cols) {
  return cols == 1 ? "1 (N)" : cols == 9 ? "3 (N, 3, 3)" : "2 (N, 3)";
}

/* ---- validation of one dataset: exists, float64, (n), (n, 3) or (n, 3, 3) ---- */
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
  int status = KIFMM_SUCCESS, want = shape_rank(cols), nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
  hsize_t dims[H5S_MAX_RANK] = {0};
  if (t < 0 || s < 0) {
    status = fail(KIFMM_ERR_HDF5, "%s: cannot inspect %s", path, name);
  } else if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != 8) {
    status = fail(KIFMM_ERR_FILE_TYPE, "%s: %s holds %s of %zu bytes, float64 expected", path,
                  name, H5Tget_class(t) == H5T_FLOAT ? "floats" : "non-floats", H5Tget_size(t));
  } else if (nd != want) {
    status = fail(KIFMM_ERR_FILE_SHAPE, "%s: %s has rank %d, %s expected", path, name, nd,
                  shape_name(cols));
  } else {
    H5Sget_simple_extent_dims(s, dims, NULL);
    if (want == 2 && dims[1] != (hsize_t)cols)
      status = fail(KIFMM_ERR_FILE_SHAPE, "%s: %s has shape (%llu, %llu), (N, %d) expected",
                    path, name, (unsigned long long)dims[0], (unsigned long long)dims[1], cols);
    if (want == 3 && (dims[1] != 3 || dims[2] != 3))
      status = fail(KIFMM_ERR_FILE_SHAPE, "%s: %s has shape (%llu, %llu, %llu), (N, 3, 3) expected",
                    path, name, (unsigned long long)dims[0], (unsigned long long)dims[1],
                    (unsigned long long)dims[2]);
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
    hsize_t start[3] = {(hsize_t)off, 0, 0};
    hsize_t count[3] = {(hsize_t)cnt, (hsize_t)(cols == 9 ? 3 : cols), 3};
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
static int has_link(hid_t f, const char *name) { return H5Lexists(f, name, H5P_DEFAULT) > 0; }

/* The density dataset of a particle file: /charges (dim 1) or /forces (dim 3). */
static const char *density_name(int dim) { return dim == 3 ? "/forces" : "/charges"; }

/* Sizes of a particle file whose density is the dataset of density_dim; a file holding the
 * other one is named in the message. */
static int particles_sizes_dim(hid_t f, const char *path, int dim, int64_t *nsrc,
                               int64_t *ntrg, int *has_trg) {
  int64_t nq = 0;
  const char *dname = density_name(dim);
  CHECK(check_dataset(f, path, "/sources", 3, nsrc));
  if (!has_link(f, dname) && has_link(f, density_name(dim == 3 ? 1 : 3)))
    return fail(KIFMM_ERR_FILE_MISSING_DATASET,
                dim == 3 ? "%s: no dataset /forces: the file holds /charges, the charges of a "
                           "Laplace or Yukawa problem, not Stokes forces"
                         : "%s: no dataset /charges: the file holds /forces, the forces of a "
                           "Stokes problem",
                path);
  CHECK(check_dataset(f, path, dname, dim, &nq));
  if (nq != *nsrc)
    return fail(KIFMM_ERR_FILE_SHAPE, "%s: %s has %lld %s, /sources %lld rows", path, dname,
                (long long)nq, dim == 3 ? "rows" : "entries", (long long)*nsrc);
  *has_trg = has_link(f, "/targets");
  *ntrg = *nsrc;
  if (*has_trg)
    CHECK(check_dataset(f, path, "/targets", 3, ntrg));
  return KIFMM_SUCCESS;
}

static int particles_sizes(hid_t f, const char *path, int64_t *nsrc, int64_t *ntrg, int *has_trg) {
  return particles_sizes_dim(f, path, 1, nsrc, ntrg, has_trg);
}

/* ---- attributes of the kernel and the cell ---- */
/* An attribute of n numbers (a scalar is n = 1), converted to mtype. */
static int attr_get_n(hid_t f, const char *name, hid_t mtype, hssize_t n, void *v) {
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  if (a < 0)
    return KIFMM_ERR_HDF5;
  hid_t sp = H5Aget_space(a), t = H5Aget_type(a);
  int ok = sp >= 0 && t >= 0 && H5Sget_simple_extent_npoints(sp) == n &&
           (H5Tget_class(t) == H5T_INTEGER || H5Tget_class(t) == H5T_FLOAT) &&
           H5Aread(a, mtype, v) >= 0;
  if (t >= 0)
    H5Tclose(t);
  if (sp >= 0)
    H5Sclose(sp);
  H5Aclose(a);
  return ok ? KIFMM_SUCCESS : KIFMM_ERR_HDF5;
}

static int attr_put_n(hid_t f, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                      const void *v) {
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t a = sp >= 0 ? H5Acreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
  int ok = a >= 0 && H5Awrite(a, mtype, v) >= 0;
  if (a >= 0)
    H5Aclose(a);
  if (sp >= 0)
    H5Sclose(sp);
  return ok ? KIFMM_SUCCESS : KIFMM_ERR_HDF5;
}

static int cell_valid(const int32_t periodic[3], const double origin[3], double length) {
  for (int d = 0; d < 3; d++)
    if ((periodic[d] != 0 && periodic[d] != 1) || !isfinite(origin[d]))
      return 0;
  return isfinite(length) && length > 0;
}

/* The cell attributes: all three or none (free space). */
static int read_cell(hid_t f, const char *path, int32_t *has, int32_t periodic[3],
                     double origin[3], double *length) {
  static const char *const names[3] = {"periodic", "cell_origin", "cell_length"};
  int present = 0;
  for (int i = 0; i < 3; i++)
    present += H5Aexists(f, names[i]) > 0;
  *has = 0;
  periodic[0] = periodic[1] = periodic[2] = 0;
  origin[0] = origin[1] = origin[2] = 0;
  *length = 1;
  if (present == 0)
    return KIFMM_SUCCESS;
  if (present != 3)
    return fail(KIFMM_ERR_INVALID_CELL,
                "%s: the cell needs all three attributes periodic, cell_origin, cell_length",
                path);
  if (attr_get_n(f, "periodic", H5T_NATIVE_INT32, 3, periodic) != KIFMM_SUCCESS ||
      attr_get_n(f, "cell_origin", H5T_NATIVE_DOUBLE, 3, origin) != KIFMM_SUCCESS ||
      attr_get_n(f, "cell_length", H5T_NATIVE_DOUBLE, 1, length) != KIFMM_SUCCESS)
    return fail(KIFMM_ERR_INVALID_CELL,
                "%s: cell attributes must be periodic int[3], cell_origin float64[3], "
                "cell_length float64", path);
  if (!cell_valid(periodic, origin, *length))
    return fail(KIFMM_ERR_INVALID_CELL,
                "%s: bad cell (periodic must be 0 or 1, cell_origin finite, cell_length "
                "finite and > 0)", path);
  *has = 1;
  return KIFMM_SUCCESS;
}

static int write_cell(hid_t f, const int32_t periodic[3], const double origin[3],
                      double length) {
  CHECK(attr_put_n(f, "periodic", H5T_STD_I32LE, H5T_NATIVE_INT32, 3, periodic));
  CHECK(attr_put_n(f, "cell_origin", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, origin));
  return kifmm__h5_attr_put(f, "cell_length", H5T_NATIVE_DOUBLE, &length);
}

/* The kernel of a `kernel` attribute's name, -1 when absent or unknown. */
static int32_t read_kernel_name(hid_t f) {
  char name[32];
  if (H5Aexists(f, "kernel") <= 0 ||
      kifmm__h5_attr_get_string(f, "kernel", name, sizeof(name)) != KIFMM_SUCCESS)
    return -1;
  for (int32_t id = 0; id < 8; id++) {
    const kifmm_kernel *k = kifmm__kernel(id);
    if (k && !strcmp(k->name, name))
      return id;
  }
  return -1;
}

static const char *kernel_name(int32_t id) {
  const kifmm_kernel *k = kifmm__kernel(id);
  return k ? k->name : "unknown";
}

/* Layouts of kifmm_particles_desc the library knows: the one released so far. */
static int desc_size_ok(size_t size) { return size == sizeof(kifmm_particles_desc); }

static int describe(hid_t f, const char *path, kifmm_particles_desc *d) {
  int dim = has_link(f, "/charges") || !has_link(f, "/forces") ? 1 : 3, has = 0;
  CHECK(particles_sizes_dim(f, path, dim, &d->nsrc, &d->ntrg, &has));
  d->density_dim = dim;
  d->has_targets = has;
  d->kernel = read_kernel_name(f);
  return read_cell(f, path, &d->has_cell, d->periodic, d->cell_origin, &d->cell_length);
}

int kifmm_io_particles_describe_sized(MPI_Comm comm, const char *path,
                                      kifmm_particles_desc *desc, size_t struct_size) {
  int rank, size;
  if (!path || !desc)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_particles_describe: NULL argument");
  if (!desc_size_ok(struct_size))
    return fail(KIFMM_ERR_STRUCT_SIZE, "kifmm_io_particles_describe: unknown struct_size %zu",
                struct_size);
  CHECK(check_mpi(comm, &rank, &size));
  kifmm_particles_desc d = kifmm_io_particles_desc_default();
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  hid_t f;
  int status = open_read(comm, path, &f);
  if (status == KIFMM_SUCCESS)
    status = describe(f, path, &d);
  close_file(&f);
  kifmm__h5_quiet_end(&q);
  status = agree(status, comm);
  if (status == KIFMM_SUCCESS) {
    d.struct_size = (int32_t)struct_size;
    memcpy(desc, &d, struct_size);
    g_message[0] = '\0';
  }
  return status;
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

static int read_particles(MPI_Comm comm, hid_t f, const char *path, int dim, int64_t so,
                          int64_t sn, double *src, double *q, int64_t to, int64_t tn,
                          double *trg) {
  int64_t nsrc, ntrg;
  int has;
  const char *dname = density_name(dim);
  int status = particles_sizes_dim(f, path, dim, &nsrc, &ntrg, &has);
  if (status == KIFMM_SUCCESS && (slab_ok(nsrc, so, sn, src) || slab_ok(nsrc, so, sn, q) ||
                                  slab_ok(ntrg, to, tn, trg)))
    status = fail(KIFMM_ERR_INVALID_COUNT, "%s: slab outside the file's %lld sources / %lld targets",
                  path, (long long)nsrc, (long long)ntrg);
  CHECK(agree(status, comm)); /* the reads below are collective */
  const char *tname = has ? "/targets" : "/sources";
  status = slab_io(f, "/sources", 3, so, sn, src, 0);
  if (status == KIFMM_SUCCESS)
    status = slab_io(f, dname, dim, so, sn, q, 0);
  if (status == KIFMM_SUCCESS)
    status = slab_io(f, tname, 3, to, tn, trg, 0);
  if (status != KIFMM_SUCCESS)
    fail(status, "%s: reading failed (damaged file?)", path);
  CHECK(agree(status, comm));
  CHECK(check_finite(comm, path, "/sources", 3, so, sn, src));
  CHECK(check_finite(comm, path, dname, dim, so, sn, q));
  return check_finite(comm, path, tname, 3, to, tn, trg);
}

static int read_particles_file(MPI_Comm comm, const char *path, int dim, int64_t src_offset,
                               int64_t nsrc_local, double *src, double *density,
                               int64_t trg_offset, int64_t ntrg_local, double *trg) {
  int rank, size;
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_read_particles: NULL path");
  if (dim != 1 && dim != 3)
    return fail(KIFMM_ERR_INVALID_COUNT, "%s: density_dim %d (1 or 3 expected)", path, dim);
  CHECK(check_mpi(comm, &rank, &size));
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  hid_t f;
  int status = agree(open_read(comm, path, &f), comm);
  if (status == KIFMM_SUCCESS)
    status = read_particles(comm, f, path, dim, src_offset, nsrc_local, src, density,
                            trg_offset, ntrg_local, trg);
  close_file(&f);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}

int kifmm_io_read_particles(MPI_Comm comm, const char *path, int64_t src_offset,
                            int64_t nsrc_local, double *src, double *charges, int64_t trg_offset,
                            int64_t ntrg_local, double *trg) {
  return read_particles_file(comm, path, 1, src_offset, nsrc_local, src, charges, trg_offset,
                             ntrg_local, trg);
}

int kifmm_io_read_particles_density(MPI_Comm comm, const char *path, int32_t density_dim,
                                    int64_t src_offset, int64_t nsrc_local, double *src,
                                    double *density, int64_t trg_offset, int64_t ntrg_local,
                                    double *trg) {
  return read_particles_file(comm, path, density_dim, src_offset, nsrc_local, src, density,
                             trg_offset, ntrg_local, trg);
}

/* ---- writing: temporary file, collective create and slab writes, rename ---- */
typedef int (*fill_fn)(hid_t f, const void *ctx);

static int create_dataset(hid_t f, const char *name, int64_t rows, int cols) {
  hsize_t dims[3] = {(hsize_t)rows, (hsize_t)(cols == 9 ? 3 : cols), 3};
  hid_t s = H5Screate_simple(shape_rank(cols), dims, NULL);
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

/* Rank 0 makes the temporary name, everyone writes it, rank 0 renames or removes it.
 * HDF5 1.10 cannot recover from a failed flush (a half-closed file stays in its tables and
 * may crash a later call, see h5util.h), so rank 0 first checks that the data (`bytes`) and
 * a margin for HDF5's own records fit on the disk; only a disk that fills up meanwhile,
 * from another program, gets past that check. */
static int write_atomic(MPI_Comm comm, int rank, const char *path, uint64_t bytes, fill_fn fill,
                        const void *ctx) {
  char tmp[KIFMM_PATH_MAX + 160] = {0};
  int status = KIFMM_SUCCESS;
  if (rank == 0 && !kifmm__disk_room(path, bytes + ((uint64_t)1 << 20), 0))
    status = fail(KIFMM_ERR_IO, "%s: not enough free space on its disk for %llu bytes", path,
                  (unsigned long long)bytes);
  if (rank == 0 && status == KIFMM_SUCCESS &&
      kifmm__tmp_create(path, tmp, sizeof(tmp)) != KIFMM_SUCCESS)
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
  kifmm_particles_desc d;
  int64_t so, sn, to, tn;
  const double *src, *q, *trg;
} particles_ctx;

static int fill_particles(hid_t f, const void *vctx) {
  const particles_ctx *c = vctx;
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_version", KIFMM_VERSION_STRING));
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_file", "particles"));
  if (c->d.kernel >= 0)
    CHECK(kifmm__h5_attr_put_string(f, "kernel", kernel_name(c->d.kernel)));
  if (c->d.has_cell)
    CHECK(write_cell(f, c->d.periodic, c->d.cell_origin, c->d.cell_length));
  CHECK(write_array(f, "/sources", c->d.nsrc, 3, c->so, c->sn, c->src));
  CHECK(write_array(f, density_name(c->d.density_dim), c->d.nsrc, c->d.density_dim, c->so,
                    c->sn, c->q));
  if (c->d.has_targets)
    CHECK(write_array(f, "/targets", c->d.ntrg, 3, c->to, c->tn, c->trg));
  return KIFMM_SUCCESS;
}

static int write_particles(MPI_Comm comm, const char *path, const kifmm_particles_desc *d,
                           int64_t src_offset, int64_t nsrc_local, const double *src,
                           const double *charges, int64_t trg_offset, int64_t ntrg_local,
                           const double *trg) {
  int rank, size;
  CHECK(check_mpi(comm, &rank, &size));
  if (d->nsrc < 0)
    return fail(KIFMM_ERR_INVALID_COUNT, "%s: negative source count", path);
  if (d->density_dim != 1 && d->density_dim != 3)
    return fail(KIFMM_ERR_INVALID_COUNT, "%s: density_dim %d (1 or 3 expected)", path,
                (int)d->density_dim);
  if (d->has_cell && !cell_valid(d->periodic, d->cell_origin, d->cell_length))
    return fail(KIFMM_ERR_INVALID_CELL,
                "%s: bad cell (periodic must be 0 or 1, cell_origin finite, cell_length "
                "finite and > 0)", path);
  particles_ctx c = {*d, src_offset, nsrc_local, trg_offset, ntrg_local, src, charges, trg};
  if (!d->has_targets)
    c.to = c.tn = 0, c.d.ntrg = -1;
  CHECK(check_slabs(comm, path, "source", d->nsrc, src_offset, nsrc_local, src, charges));
  CHECK(check_slabs(comm, path, "target", c.d.ntrg, c.to, c.tn, trg, trg));
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  const uint64_t values = (uint64_t)d->nsrc * (uint64_t)(3 + d->density_dim) +
                         (d->has_targets ? (uint64_t)c.d.ntrg * 3 : 0);
  int status = write_atomic(comm, rank, path, values * sizeof(double), fill_particles, &c);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}

int kifmm_io_write_particles(MPI_Comm comm, const char *path, int64_t nsrc, int64_t src_offset,
                             int64_t nsrc_local, const double *src, const double *charges,
                             int64_t ntrg, int64_t trg_offset, int64_t ntrg_local,
                             const double *trg) {
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_write_particles: NULL path");
  kifmm_particles_desc d = kifmm_io_particles_desc_default();
  d.nsrc = nsrc;
  d.ntrg = ntrg;
  d.has_targets = ntrg >= 0;
  return write_particles(comm, path, &d, src_offset, nsrc_local, src, charges, trg_offset,
                         ntrg_local, trg);
}

int kifmm_io_write_particles_desc(MPI_Comm comm, const char *path,
                                  const kifmm_particles_desc *desc, int64_t src_offset,
                                  int64_t nsrc_local, const double *src, const double *density,
                                  int64_t trg_offset, int64_t ntrg_local, const double *trg) {
  if (!path || !desc)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_write_particles_desc: NULL argument");
  if (desc->struct_size <= 0 || !desc_size_ok((size_t)desc->struct_size))
    return fail(KIFMM_ERR_STRUCT_SIZE,
                "%s: desc->struct_size %d is not a known layout (use "
                "kifmm_io_particles_desc_default())", path, (int)desc->struct_size);
  kifmm_particles_desc d = kifmm_io_particles_desc_default();
  memcpy(&d, desc, (size_t)desc->struct_size);
  return write_particles(comm, path, &d, src_offset, nsrc_local, src, density, trg_offset,
                         ntrg_local, trg);
}

/* ---- results ---- */
/* sizeof of kifmm_result_meta whose last member was `last` (trailing padding included): the
 * layouts of the releases. */
#define META_LAYOUT(last)                                                                 \
  ((offsetof(kifmm_result_meta, last) + sizeof(((kifmm_result_meta *)0)->last) +          \
    _Alignof(kifmm_result_meta) - 1) /                                                    \
   _Alignof(kifmm_result_meta) * _Alignof(kifmm_result_meta))
#define META_V0_3 META_LAYOUT(err_gradient)
_Static_assert(sizeof(kifmm_result_meta) == META_LAYOUT(cell_length),
               "kifmm_result_meta grew: add its new layout to meta_size_ok");

static int meta_size_ok(size_t size) {
  return size == META_V0_3 || size == sizeof(kifmm_result_meta);
}

static int result_meta(const kifmm_plan *plan, kifmm_result_meta *out, size_t size) {
  if (!plan || !out)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (!meta_size_ok(size))
    return KIFMM_ERR_STRUCT_SIZE;
  const kifmm_stats *s = &plan->stats;
  kifmm_result_meta m;
  memset(&m, 0, sizeof(m));
  m.nsrc = s->nsrc;
  m.ntrg = s->ntrg;
  m.order = plan->opts.order;
  m.ncrit = plan->opts.ncrit;
  m.num_threads = plan->nthreads;
  m.nranks = 1;
  m.nboxes = s->nboxes;
  m.nleaves = s->nleaves;
  m.depth = s->depth;
  m.cache_result = s->cache_result;
  m.t_tree = s->t_tree;
  m.t_lists = s->t_lists;
  m.t_operators = s->t_operators;
  m.t_upward = s->t_p2m + s->t_m2m;
  m.t_m2l = s->t_m2l + s->t_p2l;
  m.t_downward = s->t_l2l + s->t_l2p;
  m.t_near = s->t_p2p + s->t_m2p;
  m.t_evaluate = s->t_evaluate;
  m.check_count = 0;
  m.err_potential = m.err_gradient = NAN;
  m.kernel = plan->opts.kernel;
  m.kernel_param = plan->opts.kernel == KIFMM_KERNEL_LAPLACE ? 0.0 : plan->opts.kernel_param;
  for (int d = 0; d < 3; d++) {
    m.periodic[d] = plan->opts.periodic[d];
    m.cell_origin[d] = plan->opts.cell_origin[d];
  }
  m.cell_length = plan->opts.cell_length;
  memcpy(out, &m, size);
  return KIFMM_SUCCESS;
}

int kifmm_io_result_meta_sized(const kifmm_plan *plan, kifmm_result_meta *meta,
                               size_t struct_size) {
  return result_meta(plan, meta, struct_size);
}

/* The 0.3 symbol, for binaries built against 0.3: fills the 0.3 layout. */
KIFMM_EXPORT int kifmm_io_result_meta(const kifmm_plan *plan, kifmm_result_meta *meta);
int kifmm_io_result_meta(const kifmm_plan *plan, kifmm_result_meta *meta) {
  return result_meta(plan, meta, META_V0_3);
}

typedef struct results_ctx {
  int64_t ntrg, off, cnt;
  int vdim; /* values per target */
  const double *pot, *grad;
  const kifmm_result_meta *meta; /* complete (a 0.3 caller's copied into defaults), or NULL */
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

static int any_periodic(const int32_t p[3]) { return p[0] || p[1] || p[2]; }

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
  /* since 0.4: the kernel always, the cell when a direction is periodic */
  CHECK(kifmm__h5_attr_put_string(f, "kernel", kernel_name(m->kernel)));
  CHECK(put_f64(f, "kernel_param", m->kernel_param));
  if (any_periodic(m->periodic))
    CHECK(write_cell(f, m->periodic, m->cell_origin, m->cell_length));
  return KIFMM_SUCCESS;
}

/* Dataset names of the values and their gradients for a value dimension. */
static const char *value_name(int vdim) { return vdim == 3 ? "/velocity" : "/potential"; }
static const char *gradient_name(int vdim) {
  return vdim == 3 ? "/velocity_gradient" : "/gradient";
}

static int fill_results(hid_t f, const void *vctx) {
  const results_ctx *c = vctx;
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_version", KIFMM_VERSION_STRING));
  CHECK(kifmm__h5_attr_put_string(f, "kifmm_file", "results"));
  if (c->meta)
    CHECK(fill_meta(f, c->meta));
  CHECK(write_array(f, value_name(c->vdim), c->ntrg, c->vdim, c->off, c->cnt, c->pot));
  if (c->grad)
    CHECK(write_array(f, gradient_name(c->vdim), c->ntrg, 3 * c->vdim, c->off, c->cnt,
                      c->grad));
  return KIFMM_SUCCESS;
}

static int write_results(MPI_Comm comm, const char *path, int64_t ntrg, int64_t offset,
                         int64_t ntrg_local, const double *pot, const double *grad,
                         const kifmm_result_meta *meta, size_t meta_size) {
  int rank, size;
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_write_results: NULL path");
  if (meta && !meta_size_ok(meta_size))
    return fail(KIFMM_ERR_STRUCT_SIZE, "%s: meta_size %zu is not a kifmm_result_meta layout",
                path, meta_size);
  CHECK(check_mpi(comm, &rank, &size));
  if (ntrg < 0)
    return fail(KIFMM_ERR_INVALID_COUNT, "%s: negative target count", path);
  /* a 0.3 meta is read as a prefix: Laplace in free space after it */
  kifmm_result_meta m;
  memset(&m, 0, sizeof(m));
  m.kernel = KIFMM_KERNEL_LAPLACE;
  m.cell_length = 1.0;
  if (meta)
    memcpy(&m, meta, meta_size);
  int32_t vdim = 1;
  if (kifmm_kernel_dims(m.kernel, NULL, &vdim) != KIFMM_SUCCESS)
    return fail(KIFMM_ERR_INVALID_KERNEL, "%s: meta->kernel %d is not a kernel", path,
                (int)m.kernel);
  if (any_periodic(m.periodic) && !cell_valid(m.periodic, m.cell_origin, m.cell_length))
    return fail(KIFMM_ERR_INVALID_CELL, "%s: meta holds a bad cell", path);
  /* all ranks must agree on whether the gradient exists */
  int want_grad = grad != NULL || ntrg_local == 0, all_grad = 0, any_grad = 0;
  int has = grad != NULL;
  MPI_Allreduce(&want_grad, &all_grad, 1, MPI_INT, MPI_MIN, comm);
  MPI_Allreduce(&has, &any_grad, 1, MPI_INT, MPI_MAX, comm);
  CHECK(check_slabs(comm, path, "target", ntrg, offset, ntrg_local, pot, pot));
  if (any_grad && !all_grad)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "%s: grad is NULL on some ranks only", path);
  static const double none = 0;
  results_ctx c = {ntrg, offset, ntrg_local, vdim, pot,
                   any_grad ? (grad ? grad : &none) : NULL, meta ? &m : NULL};
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  const uint64_t values = (uint64_t)(ntrg > 0 ? ntrg : 0) * (uint64_t)vdim * (any_grad ? 4 : 1);
  int status = write_atomic(comm, rank, path, values * sizeof(double), fill_results, &c);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}

int kifmm_io_write_results_sized(MPI_Comm comm, const char *path, int64_t ntrg, int64_t offset,
                                 int64_t ntrg_local, const double *pot, const double *grad,
                                 const kifmm_result_meta *meta, size_t meta_size) {
  return write_results(comm, path, ntrg, offset, ntrg_local, pot, grad, meta, meta_size);
}

/* The 0.3 symbol, for binaries built against 0.3: a 0.3 meta, Laplace. */
KIFMM_EXPORT int kifmm_io_write_results(MPI_Comm comm, const char *path, int64_t ntrg,
                                        int64_t offset, int64_t ntrg_local, const double *pot,
                                        const double *grad, const kifmm_result_meta *meta);
int kifmm_io_write_results(MPI_Comm comm, const char *path, int64_t ntrg, int64_t offset,
                           int64_t ntrg_local, const double *pot, const double *grad,
                           const kifmm_result_meta *meta) {
  return write_results(comm, path, ntrg, offset, ntrg_local, pot, grad, meta, META_V0_3);
}

/* want_vdim 0: whichever the file holds; 1: /potential only (the 0.3 reader). */
static int read_results(MPI_Comm comm, hid_t f, const char *path, int want_vdim, int64_t off,
                        int64_t cnt, int64_t *ntrg, int32_t *value_dim, double *pot,
                        double *grad) {
  int64_t n = 0, ng = 0;
  int vdim = 1;
  if (want_vdim == 0 && !has_link(f, "/potential") && has_link(f, "/velocity"))
    vdim = 3;
  int status = KIFMM_SUCCESS;
  if (want_vdim == 1 && !has_link(f, "/potential") && has_link(f, "/velocity"))
    status = fail(KIFMM_ERR_FILE_MISSING_DATASET,
                  "%s: no dataset /potential: the file holds /velocity, the result of a Stokes "
                  "run (read it with kifmm_io_read_results_dim)", path);
  if (status == KIFMM_SUCCESS)
    status = check_dataset(f, path, value_name(vdim), vdim, &n);
  if (status == KIFMM_SUCCESS && grad) {
    status = check_dataset(f, path, gradient_name(vdim), 3 * vdim, &ng);
    if (status == KIFMM_SUCCESS && ng != n)
      status = fail(KIFMM_ERR_FILE_SHAPE, "%s: %s has %lld rows, %s %lld", path,
                    gradient_name(vdim), (long long)ng, value_name(vdim), (long long)n);
  }
  if (status == KIFMM_SUCCESS && (slab_ok(n, off, cnt, pot) || (grad && slab_ok(n, off, cnt, grad))))
    status = fail(KIFMM_ERR_INVALID_COUNT, "%s: slab outside the file's %lld targets", path,
                  (long long)n);
  CHECK(agree(status, comm));
  if (ntrg)
    *ntrg = n;
  if (value_dim)
    *value_dim = vdim;
  status = slab_io(f, value_name(vdim), vdim, off, cnt, pot, 0);
  if (status == KIFMM_SUCCESS && grad)
    status = slab_io(f, gradient_name(vdim), 3 * vdim, off, cnt, grad, 0);
  if (status != KIFMM_SUCCESS)
    fail(status, "%s: reading failed (damaged file?)", path);
  return agree(status, comm);
}

static int read_results_file(MPI_Comm comm, const char *path, int want_vdim, int64_t offset,
                             int64_t ntrg_local, int64_t *ntrg, int32_t *value_dim, double *pot,
                             double *grad) {
  int rank, size;
  if (!path)
    return fail(KIFMM_ERR_NULL_ARGUMENT, "kifmm_io_read_results: NULL path");
  CHECK(check_mpi(comm, &rank, &size));
  kifmm__h5_quiet q;
  kifmm__h5_quiet_begin(&q);
  hid_t f;
  int status = agree(open_read(comm, path, &f), comm);
  if (status == KIFMM_SUCCESS)
    status = read_results(comm, f, path, want_vdim, offset, ntrg_local, ntrg, value_dim, pot,
                          grad);
  close_file(&f);
  kifmm__h5_quiet_end(&q);
  if (status == KIFMM_SUCCESS)
    g_message[0] = '\0';
  return status;
}

int kifmm_io_read_results(MPI_Comm comm, const char *path, int64_t offset, int64_t ntrg_local,
                          int64_t *ntrg, double *pot, double *grad) {
  return read_results_file(comm, path, 1, offset, ntrg_local, ntrg, NULL, pot, grad);
}

int kifmm_io_read_results_dim(MPI_Comm comm, const char *path, int64_t offset,
                              int64_t ntrg_local, int64_t *ntrg, int32_t *value_dim, double *pot,
                              double *grad) {
  return read_results_file(comm, path, 0, offset, ntrg_local, ntrg, value_dim, pot, grad);
}
