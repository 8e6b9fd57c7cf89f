/* SPDX-License-Identifier: BSD-3-Clause */
/* Particle and result files under MPI (run at 1 and 2 ranks): slabs written by one
 * partition and read back by another are bitwise identical; bad files give their own
 * status on every rank; failed writes leave no output and no temporaries behind. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kifmm_io.h"

static int failures = 0, rank = 0, size = 1;
#define EXPECT(cond, ...)                                                        \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "[rank %d] FAIL %s:%d: %s: ", rank, __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                              \
      fprintf(stderr, "\n");                                                     \
      failures++;                                                                \
    }                                                                            \
  } while (0)

/* Value of row i, column c of dataset `which`, computable by any rank: full 53-bit mantissas,
 * so any mix-up of rows or bytes shows. */
static double value(int which, int64_t i, int c) {
  uint64_t z = (uint64_t)(which * 1000003 + i * 4 + c) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return ((double)(z >> 11) * 0x1.0p-53 - 0.5) * (1 + which);
}

static double *fill(int which, int64_t off, int64_t cnt, int cols) {
  double *v = malloc(sizeof(double) * (size_t)(cnt * cols + 1));
  for (int64_t i = 0; i < cnt; i++)
    for (int c = 0; c < cols; c++)
      v[i * cols + c] = value(which, off + i, c);
  return v;
}

static int matches(int which, int64_t off, int64_t cnt, int cols, const double *v) {
  for (int64_t i = 0; i < cnt; i++)
    for (int c = 0; c < cols; c++) {
      double want = value(which, off + i, c);
      if (memcmp(&want, &v[i * cols + c], sizeof(double)) != 0)
        return 0;
    }
  return 1;
}

static char dir[256];

static int count_temporaries(void) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += strstr(e->d_name, ".tmp.") != NULL;
  if (d)
    closedir(d);
  return n;
}

enum { NSRC = 1001, NTRG = 537 };

static void round_trip_particles(const char *path, int with_targets) {
  int64_t so, sn, to, tn, ntrg = with_targets ? NTRG : NSRC;
  kifmm_io_slab(NSRC, size, rank, &so, &sn);
  kifmm_io_slab(ntrg, size, rank, &to, &tn);
  double *src = fill(0, so, sn, 3), *q = fill(1, so, sn, 1), *trg = fill(2, to, tn, 3);
  int s = kifmm_io_write_particles(MPI_COMM_WORLD, path, NSRC, so, sn, src, q,
                                   with_targets ? NTRG : -1, to, tn, trg);
  EXPECT(s == KIFMM_SUCCESS, "write: %s", kifmm_io_error_message());
  free(src), free(q), free(trg);
  int64_t ns = 0, nt = 0;
  int has = -1;
  s = kifmm_io_particles_info(MPI_COMM_WORLD, path, &ns, &nt, &has);
  EXPECT(s == KIFMM_SUCCESS && ns == NSRC && nt == ntrg && has == with_targets,
         "info: %d %lld %lld %d", s, (long long)ns, (long long)nt, has);
  /* read with another partition: ranks in reverse order */
  kifmm_io_slab(NSRC, size, size - 1 - rank, &so, &sn);
  kifmm_io_slab(ntrg, size, size - 1 - rank, &to, &tn);
  src = malloc(sizeof(double) * (size_t)(3 * sn + 1));
  q = malloc(sizeof(double) * (size_t)(sn + 1));
  trg = malloc(sizeof(double) * (size_t)(3 * tn + 1));
  s = kifmm_io_read_particles(MPI_COMM_WORLD, path, so, sn, src, q, to, tn, trg);
  EXPECT(s == KIFMM_SUCCESS, "read: %s", kifmm_io_error_message());
  EXPECT(matches(0, so, sn, 3, src), "sources differ");
  EXPECT(matches(1, so, sn, 1, q), "charges differ");
  EXPECT(matches(with_targets ? 2 : 0, to, tn, 3, trg), "targets differ");
  free(src), free(q), free(trg);
}

static void round_trip_results(const char *path) {
  int64_t off, cnt;
  kifmm_io_slab(NTRG, size, rank, &off, &cnt);
  double *pot = fill(3, off, cnt, 1), *grad = fill(4, off, cnt, 3);
  kifmm_result_meta meta;
  memset(&meta, 0, sizeof(meta));
  meta.order = 5;
  meta.ncrit = 77;
  meta.nranks = size;
  meta.t_m2l = 1.25;
  meta.check_count = 10;
  meta.err_potential = 3e-7;
  meta.err_gradient = 4e-6;
  int s = kifmm_io_write_results(MPI_COMM_WORLD, path, NTRG, off, cnt, pot, grad, &meta);
  EXPECT(s == KIFMM_SUCCESS, "write results: %s", kifmm_io_error_message());
  free(pot), free(grad);
  /* read back in a single slab on the last rank, nothing on the others */
  int64_t n = -1;
  int last = rank == size - 1;
  pot = malloc(sizeof(double) * NTRG);
  grad = malloc(sizeof(double) * 3 * NTRG);
  s = kifmm_io_read_results(MPI_COMM_WORLD, path, 0, last ? NTRG : 0, &n, pot, grad);
  EXPECT(s == KIFMM_SUCCESS && n == NTRG, "read results: %d %s", s, kifmm_io_error_message());
  if (last) {
    EXPECT(matches(3, 0, NTRG, 1, pot), "potential differs");
    EXPECT(matches(4, 0, NTRG, 3, grad), "gradient differs");
  }
  free(pot), free(grad);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) { /* attributes, through plain serial HDF5 */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int order = 0, ncrit = 0;
    double t = 0, e = 0;
    H5Aread(H5Aopen(f, "order", H5P_DEFAULT), H5T_NATIVE_INT, &order);
    H5Aread(H5Aopen(f, "ncrit", H5P_DEFAULT), H5T_NATIVE_INT, &ncrit);
    H5Aread(H5Aopen(f, "t_m2l", H5P_DEFAULT), H5T_NATIVE_DOUBLE, &t);
    H5Aread(H5Aopen(f, "err_gradient", H5P_DEFAULT), H5T_NATIVE_DOUBLE, &e);
    EXPECT(order == 5 && ncrit == 77 && t == 1.25 && e == 4e-6, "attributes %d %d %g %g", order,
           ncrit, t, e);
    H5Fclose(f); /* (attribute handles are closed with the library at exit) */
  }
}

/* ---- bad files, made by rank 0 with serial HDF5 ---- */
static void put(hid_t f, const char *name, hid_t type, int rank_, hsize_t d0, hsize_t d1,
                const void *data, hid_t mtype) {
  hsize_t dims[2] = {d0, d1};
  hid_t s = H5Screate_simple(rank_, dims, NULL);
  hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(d);
  H5Sclose(s);
}

enum { BAD_N = 50 };
static void make_bad(const char *path, int kind) {
  static double xyz[3 * BAD_N], q[BAD_N];
  static int iq[3 * BAD_N];
  for (int i = 0; i < 3 * BAD_N; i++)
    xyz[i] = value(0, i, 0), iq[i] = i;
  for (int i = 0; i < BAD_N; i++)
    q[i] = value(1, i, 0);
  if (kind == 0) { /* not HDF5 */
    FILE *g = fopen(path, "w");
    fputs("x y z q\n0 0 0 1\n", g);
    fclose(g);
    return;
  }
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t f64 = H5T_IEEE_F64LE, m64 = H5T_NATIVE_DOUBLE;
  switch (kind) {
  case 1: /* no /charges */
    put(f, "/sources", f64, 2, BAD_N, 3, xyz, m64);
    break;
  case 2: /* /charges of rank 2 */
    put(f, "/sources", f64, 2, BAD_N, 3, xyz, m64);
    put(f, "/charges", f64, 2, BAD_N, 1, q, m64);
    break;
  case 3: /* /sources (N, 2) */
    put(f, "/sources", f64, 2, BAD_N, 2, xyz, m64);
    put(f, "/charges", f64, 1, BAD_N, 0, q, m64);
    break;
  case 4: /* /charges shorter than /sources */
    put(f, "/sources", f64, 2, BAD_N, 3, xyz, m64);
    put(f, "/charges", f64, 1, BAD_N - 1, 0, q, m64);
    break;
  case 5: /* /sources int32 */
    put(f, "/sources", H5T_STD_I32LE, 2, BAD_N, 3, iq, H5T_NATIVE_INT);
    put(f, "/charges", f64, 1, BAD_N, 0, q, m64);
    break;
  case 6: /* /charges float32 */
    put(f, "/sources", f64, 2, BAD_N, 3, xyz, m64);
    put(f, "/charges", H5T_IEEE_F32LE, 1, BAD_N, 0, q, m64);
    break;
  case 7: /* NaN in /charges row 37 */
    q[37] = NAN;
    put(f, "/sources", f64, 2, BAD_N, 3, xyz, m64);
    put(f, "/charges", f64, 1, BAD_N, 0, q, m64);
    q[37] = 1;
    break;
  case 8: /* /sources is a group */
    H5Gclose(H5Gcreate2(f, "/sources", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    put(f, "/charges", f64, 1, BAD_N, 0, q, m64);
    break;
  case 9: /* infinity in /targets row 49 */
    put(f, "/sources", f64, 2, BAD_N, 3, xyz, m64);
    put(f, "/charges", f64, 1, BAD_N, 0, q, m64);
    xyz[3 * 49 + 2] = INFINITY;
    put(f, "/targets", f64, 2, BAD_N, 3, xyz, m64);
    break;
  }
  H5Fclose(f);
}

static void bad_files(void) {
  const struct {
    int status;
    const char *needle; /* must appear in the message */
  } want[] = {{KIFMM_ERR_FILE_NOT_HDF5, "not an HDF5"},
              {KIFMM_ERR_FILE_MISSING_DATASET, "/charges"},
              {KIFMM_ERR_FILE_SHAPE, "rank 2"},
              {KIFMM_ERR_FILE_SHAPE, "(50, 2)"},
              {KIFMM_ERR_FILE_SHAPE, "49 entries"},
              {KIFMM_ERR_FILE_TYPE, "/sources"},
              {KIFMM_ERR_FILE_TYPE, "4 bytes"},
              {KIFMM_ERR_FILE_NONFINITE, "row 37"},
              {KIFMM_ERR_FILE_MISSING_DATASET, "not a dataset"},
              {KIFMM_ERR_FILE_NONFINITE, "/targets row 49"}};
  char path[512];
  for (int kind = 0; kind < 10; kind++) {
    snprintf(path, sizeof(path), "%s/bad%d.h5", dir, kind);
    if (rank == 0)
      make_bad(path, kind);
    MPI_Barrier(MPI_COMM_WORLD);
    int64_t ns = 0, nt = 0, so, sn, to, tn;
    int has, s = kifmm_io_particles_info(MPI_COMM_WORLD, path, &ns, &nt, &has);
    if (s == KIFMM_SUCCESS) { /* only the values are wrong: reading finds it */
      kifmm_io_slab(ns, size, rank, &so, &sn);
      kifmm_io_slab(nt, size, rank, &to, &tn);
      double *src = malloc(sizeof(double) * (size_t)(3 * sn + 1)),
             *q = malloc(sizeof(double) * (size_t)(sn + 1)),
             *trg = malloc(sizeof(double) * (size_t)(3 * tn + 1));
      s = kifmm_io_read_particles(MPI_COMM_WORLD, path, so, sn, src, q, to, tn, trg);
      free(src), free(q), free(trg);
    }
    const char *msg = kifmm_io_error_message();
    EXPECT(s == want[kind].status, "bad file %d: status %d (%s), want %d", kind, s, msg,
           want[kind].status);
    EXPECT(strstr(msg, want[kind].needle) && strstr(msg, path), "bad file %d: message '%s'",
           kind, msg);
  }
  snprintf(path, sizeof(path), "%s/does-not-exist.h5", dir);
  int64_t ns, nt;
  int has;
  int s = kifmm_io_particles_info(MPI_COMM_WORLD, path, &ns, &nt, &has);
  EXPECT(s == KIFMM_ERR_FILE_NOT_FOUND, "missing file: %d", s);
  s = kifmm_io_read_results(MPI_COMM_WORLD, path, 0, 0, NULL, NULL, NULL);
  EXPECT(s == KIFMM_ERR_FILE_NOT_FOUND, "missing result file: %d", s);
  snprintf(path, sizeof(path), "%s/bad1.h5", dir); /* a particle file is not a result file */
  s = kifmm_io_read_results(MPI_COMM_WORLD, path, 0, 0, NULL, NULL, NULL);
  EXPECT(s == KIFMM_ERR_FILE_MISSING_DATASET, "particles as results: %d", s);
}

/* A failing write leaves the previous file as it was and no temporaries. */
static void failed_writes(const char *results) {
  int64_t off, cnt;
  kifmm_io_slab(NTRG, size, rank, &off, &cnt);
  double *pot = fill(9, off, cnt, 1);
  /* slabs that do not cover the declared size */
  int s = kifmm_io_write_results(MPI_COMM_WORLD, results, NTRG + 1, off, cnt, pot, NULL, NULL);
  EXPECT(s == KIFMM_ERR_INVALID_COUNT, "uncovered slabs: %d", s);
  /* a directory in the way of the final rename */
  char path[512];
  snprintf(path, sizeof(path), "%s/subdir", dir);
  s = kifmm_io_write_results(MPI_COMM_WORLD, path, NTRG, off, cnt, pot, NULL, NULL);
  EXPECT(s == KIFMM_ERR_IO, "rename over a directory: %d (%s)", s, kifmm_io_error_message());
  /* a directory that does not exist */
  snprintf(path, sizeof(path), "%s/no/such/dir/out.h5", dir);
  s = kifmm_io_write_results(MPI_COMM_WORLD, path, NTRG, off, cnt, pot, NULL, NULL);
  EXPECT(s == KIFMM_ERR_IO && access(path, F_OK) != 0, "missing directory: %d", s);
  free(pot);
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT(count_temporaries() == 0, "temporaries left behind");
  /* the earlier results are intact */
  pot = malloc(sizeof(double) * (size_t)(cnt + 1));
  double *grad = malloc(sizeof(double) * (size_t)(3 * cnt + 1));
  s = kifmm_io_read_results(MPI_COMM_WORLD, results, off, cnt, NULL, pot, grad);
  EXPECT(s == KIFMM_SUCCESS && matches(3, off, cnt, 1, pot) && matches(4, off, cnt, 3, grad),
         "previous results damaged");
  free(pot), free(grad);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == 0) {
    snprintf(dir, sizeof(dir), "/tmp/kifmm-io-XXXXXX");
    if (!mkdtemp(dir))
      dir[0] = '\0';
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/subdir", dir);
    mkdir(sub, 0755);
  }
  MPI_Bcast(dir, sizeof(dir), MPI_CHAR, 0, MPI_COMM_WORLD);
  char path[512], results[512];
  snprintf(path, sizeof(path), "%s/particles.h5", dir);
  snprintf(results, sizeof(results), "%s/results.h5", dir);
  round_trip_particles(path, 1);
  round_trip_particles(path, 0); /* replaces the file: no /targets any more */
  round_trip_results(results);
  bad_files();
  failed_writes(results);
  int64_t o, c;
  EXPECT(kifmm_io_slab(10, 3, 2, &o, &c) == KIFMM_SUCCESS && o == 7 && c == 3, "slab %lld %lld",
         (long long)o, (long long)c);
  EXPECT(kifmm_io_slab(10, 3, 3, &o, &c) == KIFMM_ERR_INVALID_COUNT, "slab rank out of range");
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0)
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  MPI_Finalize();
  if (rank == 0 && total)
    fprintf(stderr, "%d failure(s)\n", total);
  return total ? 1 : 0;
}
