/* SPDX-License-Identifier: BSD-3-Clause */
/* A full disk while the operator cache, the periodic far operator or a result file is being
 * written. A file-size limit (setrlimit RLIMIT_FSIZE, with SIGXFSZ ignored) makes write(2)
 * fail with EFBIG exactly where a full disk fails it with ENOSPC, without a small file system.
 * Expected: plans still succeed with results bitwise equal to uncached plans and report
 * KIFMM_CACHE_NOT_STORED; a result file gets KIFMM_ERR_IO; nothing is left in the directory;
 * HDF5 still works afterwards (a cached plan loads); and the process exits cleanly (HDF5
 * 1.10 crashed at exit on the half-closed file a failed flush leaves behind). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <mpi.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../testutil.h"
#include "io/h5util.h"
#include "kifmm_io.h"

#define N 3000
#define LIMIT ((rlim_t)64 << 10) /* 64 KiB: far below any cache file */

static double src[3 * N], q[N];
static struct rlimit saved;

static void limit_file_size(void) {
  signal(SIGXFSZ, SIG_IGN);
  getrlimit(RLIMIT_FSIZE, &saved);
  struct rlimit rl = saved;
  rl.rlim_cur = LIMIT;
  EXPECT(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
}

static void unlimit_file_size(void) { EXPECT(setrlimit(RLIMIT_FSIZE, &saved) == 0, "setrlimit"); }

static int entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  if (d)
    closedir(d);
  return n;
}

typedef struct {
  double pot[N], grad[3 * N];
  int status, cache_result;
} run_out;

static void run(const char *dir, int periodic, run_out *r) {
  kifmm_options o = kifmm_default_options();
  o.order = 6;
  o.use_cache = dir != NULL;
  if (dir)
    snprintf(o.cache_dir, sizeof(o.cache_dir), "%s", dir);
  if (periodic)
    o.periodic[0] = o.periodic[1] = o.periodic[2] = 1;
  kifmm_plan *plan = NULL;
  r->status = kifmm_plan_create(&plan, N, src, N, src, &o);
  if (r->status == KIFMM_SUCCESS)
    r->status = kifmm_evaluate(plan, q, r->pot, r->grad);
  kifmm_stats st;
  memset(&st, 0, sizeof(st));
  if (plan)
    kifmm_plan_stats(plan, &st);
  r->cache_result = st.cache_result;
  kifmm_plan_destroy(&plan);
}

static int same(const run_out *a, const run_out *b) {
  return !memcmp(a->pot, b->pot, sizeof(a->pot)) && !memcmp(a->grad, b->grad, sizeof(a->grad));
}

/* One dataset of 2^17 doubles (1 MB): larger than the limit. */
static int fill_big(hid_t f, const void *ctx) {
  (void)ctx;
  static double v[1 << 17];
  for (int i = 0; i < (1 << 17); i++)
    v[i] = i;
  hsize_t dims[2] = {1 << 10, 1 << 7};
  return kifmm__h5_put_dataset(f, "v", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, v);
}

static int reads_back(const char *path) {
  static double v[1 << 17];
  kifmm__h5_quiet quiet;
  kifmm__h5_quiet_begin(&quiet);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = f >= 0 ? H5Dopen2(f, "v", H5P_DEFAULT) : -1;
  int ok = d >= 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
  for (int i = 0; ok && i < (1 << 17); i++)
    ok = v[i] == i;
  if (d >= 0)
    H5Dclose(d);
  if (f >= 0)
    H5Fclose(f);
  kifmm__h5_quiet_end(&quiet);
  return ok;
}

static int store(const char *path) {
  kifmm__h5_quiet quiet;
  kifmm__h5_quiet_begin(&quiet);
  int status = kifmm__h5_store(path, fill_big, NULL);
  kifmm__h5_quiet_end(&quiet);
  return status;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  uint64_t seed = 11;
  tu_points(TU_CUBE, N, &seed, src);
  for (int i = 0; i < N; i++)
    q[i] = i % 2 ? -1.0 : 1.0; /* neutral, for the periodic plans */
  char ok_dir[] = "/tmp/kifmm-diskok-XXXXXX", full_dir[] = "/tmp/kifmm-diskfull-XXXXXX";
  EXPECT(mkdtemp(ok_dir) && mkdtemp(full_dir), "temporary directories");
  static run_out ref, ref_per, cached, r;

  run(NULL, 0, &ref);
  run(NULL, 1, &ref_per);
  run(ok_dir, 0, &cached);
  EXPECT(ref.status == KIFMM_SUCCESS && ref_per.status == KIFMM_SUCCESS &&
             cached.cache_result == KIFMM_CACHE_STORED && same(&cached, &ref),
         "reference plans: %d %d, cache %d", ref.status, ref_per.status, cached.cache_result);

  limit_file_size();
  run(full_dir, 0, &r);
  printf("free space, full disk: status %d cache %d\n", r.status, r.cache_result);
  EXPECT(r.status == KIFMM_SUCCESS && r.cache_result == KIFMM_CACHE_NOT_STORED && same(&r, &ref),
         "free space on a full disk: status %d, cache %d", r.status, r.cache_result);
  run(full_dir, 1, &r);
  printf("periodic, full disk: status %d cache %d\n", r.status, r.cache_result);
  EXPECT(r.status == KIFMM_SUCCESS && r.cache_result == KIFMM_CACHE_NOT_STORED &&
             same(&r, &ref_per),
         "periodic on a full disk: status %d, cache %d", r.status, r.cache_result);
  char path[512];
  snprintf(path, sizeof(path), "%s/big.h5", full_dir);
  int s = store(path); /* past the room check: the write itself fails */
  EXPECT(s == KIFMM_ERR_IO, "in-memory file onto a full disk: %d", s);
  snprintf(path, sizeof(path), "%s/results.h5", full_dir);
  s = kifmm_io_write_results(MPI_COMM_SELF, path, N, 0, N, ref.pot, ref.grad, NULL);
  printf("result file, full disk: status %d (%s)\n", s, kifmm_io_error_message());
  EXPECT(s == KIFMM_ERR_IO, "result file onto a full disk: %d", s);
  EXPECT(entries(full_dir) == 0, "%d files left in the directory", entries(full_dir));
  run(ok_dir, 0, &r); /* HDF5 is still sound: the stored operators load */
  EXPECT(r.status == KIFMM_SUCCESS && r.cache_result == KIFMM_CACHE_HIT && same(&r, &ref),
         "cache hit after the failures: status %d, cache %d", r.status, r.cache_result);
  unlimit_file_size();

  snprintf(path, sizeof(path), "%s/big.h5", full_dir);
  EXPECT(store(path) == KIFMM_SUCCESS && reads_back(path), "in-memory file, room enough");
  run(full_dir, 1, &r);
  EXPECT(r.status == KIFMM_SUCCESS && r.cache_result == KIFMM_CACHE_STORED && same(&r, &ref_per),
         "periodic with room: status %d, cache %d", r.status, r.cache_result);

  char cmd[256];
  snprintf(cmd, sizeof(cmd), "rm -rf %s %s", ok_dir, full_dir);
  EXPECT(system(cmd) == 0, "cleaning up");
  MPI_Finalize();
  return tu_finish("test_disk_full");
}
